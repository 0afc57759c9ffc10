/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp.h: the worker's HTTP/1.1 client for upstreams, on libevent
 * bufferevents (plain TCP, or OpenSSL with certificate and host name
 * verification), with a keep-alive pool per (scheme, host, port).
 *
 * One struct uhttp per worker. A request is started with uhttp_start and
 * ends with exactly one call of its done callback, never from inside
 * uhttp_start, unless it is cancelled first (then there is no call).
 */
#ifndef AIGW_UHTTP_H
#define AIGW_UHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "uhttp_resp.h"

struct event_base;
struct uhttp;
struct uhttp_req;

enum uhttp_error {
    UHTTP_OK,
    UHTTP_EURL,     /* a URL this client cannot send to */
    UHTTP_ERESOLVE, /* the host name did not resolve */
    UHTTP_ECONNECT, /* refused, unreachable */
    UHTTP_ETLS,     /* the TLS handshake or the certificate's verification failed */
    UHTTP_ETIMEOUT, /* connect (with the TLS handshake) or total timeout */
    UHTTP_ESEND,    /* the request could not be written */
    UHTTP_EEMPTY,   /* the connection closed before any byte of a response */
    UHTTP_ERECV,    /* it closed or broke before the response's end */
    UHTTP_EBAD,     /* the response is not well-framed HTTP/1.1 */
    UHTTP_EHEADERS, /* its header section is over UHTTP_MAX_HEADER */
    UHTTP_ESTOP,    /* a callback stopped it */
    UHTTP_ENOMEM,
};

/* What to send. The strings are the caller's until done (or cancel). */
struct uhttp_call {
    const char *url;     /* http://host[:port]/path?query, https://..., [v6] hosts too */
    const char *headers; /* "Name: value\r\n" lines, besides Host and Content-Length */
    size_t hlen;
    const char *body; /* POSTed as it is, by reference */
    size_t blen;
    int64_t connect_ms; /* TCP connect and TLS handshake */
    int64_t total_ms;   /* the whole exchange */
};

/* A client on base; ca_file "" or NULL: the system's trusted CAs. */
struct uhttp *uhttp_new(struct event_base *base, const char *ca_file);
/* Close every connection; requests still running are dropped without done. */
void uhttp_free(struct uhttp *u);
/* Free the request structures kept for reuse (the worker, once its load fell). */
void uhttp_trim(struct uhttp *u);
/* Send c; the response goes to cb with arg, the end to done. NULL: out of memory. */
struct uhttp_req *uhttp_start(struct uhttp *u, const struct uhttp_call *c,
                              const struct uhttp_resp_cb *cb,
                              void (*done)(void *arg, enum uhttp_error e), void *arg);
/* Stop r without calling done: a connection in the middle of an exchange is closed. */
void uhttp_cancel(struct uhttp_req *r);
/* Go on after the body callback returned UHTTP_PAUSE. */
void uhttp_resume(struct uhttp_req *r);
/* A short English description of e. */
const char *uhttp_strerror(enum uhttp_error e);

#endif
