/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AIGW_EVIO_H
#define AIGW_EVIO_H

#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/util.h>

/*
 * Reads and writes of a plain socket bufferevent's buffers by their owner,
 * not by the bufferevent (evio.c).
 */
ssize_t evio_read(struct evbuffer *in, evutil_socket_t fd, size_t most);
int evio_write(struct evbuffer *out, evutil_socket_t fd);

#endif
