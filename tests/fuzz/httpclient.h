/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httpclient.h: the client side of the harnesses that drive aigw's HTTP
 * server for real (http_fuzzer.c, admin_fuzzer.c): one connection fed the
 * input's bytes, the server's event loop running between the pieces.
 */
#ifndef AIGW_FUZZ_HTTPCLIENT_H
#define AIGW_FUZZ_HTTPCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http_server;

/*
 * Send p in pieces of piece bytes on the connected socket fd, shut it down
 * and read into out until the server closes; close fd and run the loop
 * until srv has no connection left. Oracles: the server closes after the
 * client's end, and no connection outlives its client.
 */
void httpclient_session(struct event_base *base, struct http_server *srv, int fd, const uint8_t *p,
                        size_t n, size_t piece, struct evbuffer *out);

/* Oracle: out is HTTP responses, complete (not for answers to HEAD, which have no body). */
void httpclient_check_responses(struct evbuffer *out);

#endif
