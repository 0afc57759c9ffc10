/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h: an HTTP/1.1 server on libevent bufferevents, for the workers'
 * client listeners, the Admin API and /metrics.
 *
 * aigw answers every request itself, protocol errors included (413, 431, 400,
 * 408), in OpenAI's JSON error shape and with an x-request-id. A request is
 * handed to the handler once its body is complete; the handler ends it with
 * exactly one of http_reply*, http_stream_end or http_req_release. What is
 * logged or counted when a request ends is the server's user's business:
 * its request-end hook.
 */
#ifndef AIGW_HTTP_H
#define AIGW_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct conf;
struct http_server;
struct http_req;
struct json_object;

enum aigw_http_method { HTTP_M_OTHER = 0, HTTP_M_GET, HTTP_M_POST, HTTP_M_HEAD, HTTP_M_PUT, HTTP_M_DELETE };

typedef void (*http_handler)(struct http_req *r, void *arg);

/* Why a request is refused: an error answer, and for 405 its Allow header. */
struct http_refusal {
    int status;
    const char *type, *code; /* static strings */
    const char *allow;       /* static, or NULL */
    char msg[320];
};
/*
 * A check of a request from its headers alone, made before its body is
 * read: 0 lets the body in, else the request is answered with *f at once,
 * the body is never buffered and the connection closes. Its cost is what
 * bounds an unauthenticated client's.
 */
typedef int (*http_precheck)(struct http_req *r, void *arg, struct http_refusal *f);

struct http_server *http_server_new(struct event_base *base, const struct conf *c,
                                    http_handler handler, void *arg);
/* Accept on an already bound and listening socket (inherited from the master). */
int http_server_listen_fd(struct http_server *s, int fd);
/*
 * Serve one connection whose bytes come and go through bev (which the
 * server then owns; peer: its client's address, as accept gives it), in
 * plain HTTP, as a listener serves each socket it accepts. For tests and
 * fuzzers: one end of bufferevent_pair_new() with BEV_OPT_DEFER_CALLBACKS
 * (a socket's callbacks also run from the loop), no socket at all; where
 * the server would shut down its side of a socket, it flushes bev with
 * BEV_FINISHED, and the other end gets EOF.
 */
struct sockaddr;
struct bufferevent;
void http_server_adopt(struct http_server *s, struct bufferevent *bev, const struct sockaddr *peer);
/*
 * The same for HTTPS: connections on fd speak TLS with tls, which the
 * server owns on success (on failure, the caller still does).
 */
struct tls_server;
int http_server_listen_fd_tls(struct http_server *s, int fd, struct tls_server *tls);
/*
 * Listener i (in the order they were added) is HTTPS with tls from now on,
 * for new connections (a reload's new certificates); open ones keep theirs.
 * The server owns tls on success; -1 when listener i is not HTTPS.
 */
int http_server_set_tls(struct http_server *s, int i, struct tls_server *tls);
/* Drain: stop accepting, close idle connections, and close each busy one when its request ends. */
void http_server_drain(struct http_server *s);
/*
 * Count the requests that end (all, errors included) into *requests and the
 * requests a handler holds into *in_flight (shared memory: aigwctl status,
 * aigw_active_requests); NULL: not counted.
 */
void http_server_set_counters(struct http_server *s, _Atomic uint64_t *requests,
                              _Atomic int64_t *in_flight);

/* How a request ended, for the request-end hook. */
struct http_end {
    int status;            /* the response's status; 499: the client left before it ended */
    const char *error;     /* the code of the server's error answer, "client_closed", or NULL */
    const char *path;      /* as http_req_path, but NULL when the request line could not be read */
    int stream;            /* the answer was streamed */
    int64_t start_real_ms; /* wall clock when it began */
    int64_t end_us;        /* monotonic, now (http_req_start_us is when it began) */
    uint64_t bytes_received, bytes_sent; /* body; response, headers included */
};
typedef void (*http_end_hook)(struct http_req *r, const struct http_end *e, void *arg);
/*
 * Call fn once for each request when it ends: answered, refused while it was
 * read (before any handler saw it), or abandoned by the client. Each request
 * carries udata_size bytes (zeroed when it begins, http_req_udata) that the
 * precheck, the handler and fn share: what the server cannot know itself.
 * No hook (the default): nothing is called and there are no user data.
 */
void http_server_set_end_hook(struct http_server *s, http_end_hook fn, size_t udata_size, void *arg);
/* Check each request that has a body with fn before the body is read. */
void http_server_set_precheck(struct http_server *s, http_precheck fn);
/* Connections open (busy or not). */
int http_server_nconns(const struct http_server *s);
void http_server_free(struct http_server *s);

/* The request. */
int http_req_method(const struct http_req *r);
const char *http_req_path(const struct http_req *r); /* without the query string */
/* The raw query string (after "?", before "#"), not decoded; "" when there is none. */
const char *http_req_query(const struct http_req *r);
const char *http_req_header(const struct http_req *r, const char *name);
struct evbuffer *http_req_body(struct http_req *r);
/*
 * Free the body's bytes once nothing will read them again (a stream whose
 * answer began): the access log still counts them in bytes_received.
 */
void http_req_drop_body(struct http_req *r);
const char *http_req_id(const struct http_req *r);
const char *http_req_peer(const struct http_req *r);
int64_t http_req_start_us(const struct http_req *r);

/* The request's user data (http_server_set_end_hook); NULL when the server has none. */
void *http_req_udata(struct http_req *r);

/* Calls on client disconnect (abort) and when buffered output has drained (drain). */
void http_req_set_callbacks(struct http_req *r, void (*on_abort)(void *), void (*on_drain)(void *),
                            void *arg);

/* Add a response header before the reply starts. */
void http_resp_header(struct http_req *r, const char *name, const char *value);
void http_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len);
/* {"error":{"message","type","param","code"}}; param and code may be NULL. */
/*
 * Another dialect's error body for this request (the Anthropic Messages
 * API's); a new object. The default is OpenAI's shape.
 */
typedef struct json_object *(*http_error_fn)(int status, const char *type, const char *code,
                                             const char *param, const char *msg);
void http_req_set_error_fn(struct http_req *r, http_error_fn fn);
/*
 * The error shape by path, asked once a request's path is known, so that
 * the server's own errors (413, 408, 400 ...) are in the route's dialect
 * too; NULL from it: OpenAI's.
 */
typedef http_error_fn (*http_error_route)(const char *path);
void http_server_set_error_route(struct http_server *s, http_error_route fn);
void http_reply_error(struct http_req *r, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Answer with a refusal (its Allow header included). */
void http_reply_refusal(struct http_req *r, const struct http_refusal *f);
/* Fill f; always 1 (a refusal), for `return http_refuse(...)`. */
int http_refuse(struct http_refusal *f, int status, const char *type, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A chunked (or, for HTTP/1.0, close-delimited) streamed reply. */
void http_stream_begin(struct http_req *r, int status, const char *ctype);
void http_stream_write(struct http_req *r, const void *data, size_t len);
/* Bytes written but not yet taken by the client. */
size_t http_stream_pending(const struct http_req *r);
void http_stream_end(struct http_req *r);
/* Whether the status line has been sent (a retry is no longer possible). */
int http_resp_started(const struct http_req *r);
/* The status of the response (0 until it started). */
int http_resp_status(const struct http_req *r);
/* After an abort: the handler is done with the request. */
void http_req_release(struct http_req *r);

/* Output buffered beyond this pauses the upstream (backpressure). */
#define HTTP_OUT_HIGH (256 * 1024)
#define HTTP_OUT_LOW (64 * 1024)

#endif
