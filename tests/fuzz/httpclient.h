/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httpclient.h: the client side of the harnesses that drive aigw's HTTP
 * server for real (http_fuzzer.c, admin_fuzzer.c): one connection fed the
 * input's bytes, the server's event loop running between the pieces. The
 * connection is a bufferevent pair (http_server_adopt): the server's code
 * is the same as on a socket from its bufferevent up, without a syscall
 * per piece.
 */
#ifndef AIGW_FUZZ_HTTPCLIENT_H
#define AIGW_FUZZ_HTTPCLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct http_server;

/*
 * Open a connection to srv from peer, send p in pieces of piece bytes,
 * end it (as a shutdown of the client's side) and read into out until the
 * server closes; free the client's end and run the loop until srv has no
 * connection left. Oracles: the server closes after the client's end, and
 * no connection outlives its client.
 */
struct sockaddr;
void httpclient_session(struct event_base *base, struct http_server *srv,
                        const struct sockaddr *peer, const uint8_t *p, size_t n, size_t piece,
                        struct evbuffer *out);

/* Oracle: out is HTTP responses, complete (not for answers to HEAD, which have no body). */
void httpclient_check_responses(struct evbuffer *out);

#endif
