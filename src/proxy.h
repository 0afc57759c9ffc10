/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy.h: the worker's request pipeline: authenticate the key, parse the
 * request, resolve the model and check the key may use it, translate for the
 * provider, send upstream, relay (stream) the answer back and account usage.
 */
#ifndef AIGW_PROXY_H
#define AIGW_PROXY_H

#include "http.h"

struct event_base;
struct conf;
struct store;
struct uhttp;
struct shm;
struct http_req;
struct proxy;

struct proxy *proxy_new(struct event_base *base, const struct conf *c, struct store *s,
                        struct uhttp *u, struct shm *shm);
/* The http_handler for the client listeners. */
void proxy_handle(struct http_req *r, void *arg);
/* Its http_precheck: a body is read only for a known route, method and a valid key. */
struct http_refusal;
int proxy_precheck(struct http_req *r, void *arg, struct http_refusal *f);
/* The bytes the two share in each request's area (access_attach's extra). */
size_t proxy_memo_size(void);
/* The http_error_route: Anthropic's error shape on its Messages API routes. */
http_error_fn proxy_error_route(const char *path);
/* Requests with an upstream transfer in progress. */
int proxy_inflight(const struct proxy *px);
/* Abort every request still in flight (worker exit after the drain timeout). */
void proxy_abort_all(struct proxy *px);
void proxy_free(struct proxy *px);

#endif
