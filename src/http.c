/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c: the worker's HTTP/1.1 server.
 *
 * Why not evhttp: evhttp answers oversized bodies, bad requests and timeouts
 * itself with HTML pages and no request id, and stops reading a connection
 * while a request is served, so a client that hangs up during a slow upstream
 * goes unnoticed. Here every reply is ours, and a client's EOF cancels its
 * upstream at once. Parsing is Node's http-parser (Debian libhttp-parser).
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "aigw/conf.h"
#include "evio.h"
#include "log.h"
#include "aigw/util.h"
#include "http.h"
#include "metrics.h"
#include "tls.h"
#include "aigw/utf8.h"

#define MAX_HEADERS 100
#define READ_SIZE 16384 /* the most one read takes, like a bufferevent's */
#define LINGER_MS 2000

enum conn_state {
    CONN_READING, /* idle or receiving a request */
    CONN_BUSY,    /* the handler has the request */
    CONN_CLOSING, /* flushing the last reply, then close */
    CONN_LINGER,  /* reply flushed after an error: discard input briefly, then close */
};

struct http_hdr {
    uint32_t name, namelen, value, valuelen; /* offsets into hbuf */
};

struct http_req {
    struct http_conn *conn;
    int method;
    uint32_t url, urllen; /* in hbuf */
    char *hbuf;
    size_t hlen, hcap;
    struct http_hdr hdrs[MAX_HEADERS];
    int nhdrs;
    int ndone; /* headers whose value is complete and NUL-terminated in hbuf */
    int in_value;
    struct evbuffer *body;
    size_t body_dropped; /* bytes of the body freed by http_req_drop_body */
    char id[130];
    char *path;
    char *query; /* after "?", before "#"; NULL when there is none */
    struct evbuffer *out_hdrs;
    int status;
    int started, streaming, chunked, ended, released;
    int64_t start_us;
    int64_t start_real_ms; /* wall clock, for the access line's time */
    uint64_t bytes_sent;   /* response bytes handed to the connection, headers included */
    void (*on_abort)(void *);
    void (*on_drain)(void *);
    void *cbarg;
    http_error_fn error_fn; /* NULL: OpenAI's error shape */
    const char *error;      /* the code of the server's first error answer (static), or NULL */
    void *udata;            /* the server's user's, udata_size bytes (zeroed), or NULL */
    char peer[64];
};

struct http_conn {
    TAILQ_ENTRY(http_conn) entry;
    struct http_server *srv;
    struct bufferevent *bev;
    /*
     * Plain HTTP: we read and write the bufferevent's buffers (evio.c). rev
     * reads, added once for the connection's life; fev, activated when a
     * reply has bytes to send, writes them once the callback that added them
     * returns. The bufferevent's write is enabled only for what the kernel
     * did not take. Both NULL: HTTPS, the bufferevent does it all.
     */
    struct event *rev, *fev;
    int rstopped; /* rev deleted: pipelined input at its limit while a request is served */
    http_parser parser;
    struct event *timer;
    char peer[64];
    enum conn_state state;
    struct http_req *req;
    int closed;    /* socket gone while the handler still holds the request */
    int keepalive; /* of the current request */
    int promised;  /* its response said Connection: keep-alive */
    int in_input;  /* inside conn_input: don't recurse */
    int shut;      /* LINGER: our side is shut down (or a pair flushed with BEV_FINISHED) */
    struct tls_server *tls; /* HTTPS: its listener's; NULL: plain */
    int handshaking;        /* HTTPS: the TLS handshake is not done yet */
};

struct http_server {
    struct event_base *base;
    const struct conf *conf;
    http_handler handler;
    void *arg;
    struct evconnlistener *listeners[CONF_MAX_LISTEN];
    /* by listener; NULL: plain HTTP. Held until the server is freed (a drain keeps them). */
    struct tls_server *tls[CONF_MAX_LISTEN];
    int nlisteners;
    TAILQ_HEAD(, http_conn) conns;
    int nconns;
    int draining;
    uint64_t idprefix, idcounter;
    _Atomic uint64_t *nrequests; /* requests ended; NULL: not counted */
    _Atomic int64_t *ninflight;  /* requests the handler holds; NULL: not counted */
    http_end_hook end_hook;      /* called when each request ends; NULL: none */
    void *end_arg;
    size_t udata_size;            /* each request's user data */
    http_error_route error_route; /* the error shape of a path; NULL: OpenAI's */
    http_precheck precheck;       /* a body's request checked from its headers; NULL: none */
    int paused;                   /* accepting paused: PAUSE_* bits */
    struct event *resume;         /* retries accepting after running out of descriptors */
    int64_t warned_ms;            /* the last pause warning (one a minute at most) */
    uint64_t unwarned;            /* pauses since then, not logged */
};

/* Why accepting is paused. */
#define PAUSE_CONNS 1 /* limits.max_connections open */
#define PAUSE_FDS 2   /* out of file descriptors (EMFILE, ENFILE) or socket memory */
#define RESUME_MS 100

static http_parser_settings parser_settings;

/* How long a draining server keeps an idle keep-alive connection open. */
#define DRAIN_IDLE_GRACE_MS 1000

/* (Re)arm the connection's one timer: header, body, keep-alive or linger. */
static void
conn_arm_timer(struct http_conn *c, int64_t ms)
{
    struct timeval tv = tv_ms(ms);
    evtimer_add(c->timer, &tv);
}
static void conn_input(struct http_conn *c);
static void conn_flush_later(struct http_conn *c);
static void conn_read_resume(struct http_conn *c);
static void conn_drop_socket(struct http_conn *c);
static void conn_free(struct http_conn *c);
static void conn_refuse(struct http_conn *c, const struct http_refusal *f);
static void server_resume(struct http_server *s, int why);
static void conn_send_error_close(struct http_conn *c, int status, const char *type,
                                  const char *code, const char *msg);

static const char *
status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 412:
        return "Precondition Failed";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- requests ---- */

static struct http_req *
req_new(struct http_conn *c)
{
    struct http_req *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->conn = c;
    r->body = evbuffer_new();
    r->out_hdrs = evbuffer_new();
    r->hcap = 1024;
    r->hbuf = malloc(r->hcap);
    if (c->srv->udata_size > 0)
        r->udata = calloc(1, c->srv->udata_size);
    if (r->body == NULL || r->out_hdrs == NULL || r->hbuf == NULL ||
        (c->srv->udata_size > 0 && r->udata == NULL)) {
        if (r->body)
            evbuffer_free(r->body);
        if (r->out_hdrs)
            evbuffer_free(r->out_hdrs);
        free(r->hbuf);
        free(r->udata);
        free(r);
        return NULL;
    }
    r->start_us = now_mono_us();
    r->start_real_ms = now_real_ms();
    memcpy(r->peer, c->peer, sizeof(r->peer)); /* both NUL-terminated, of one size */
    return r;
}

static void
req_free(struct http_req *r)
{
    if (r == NULL)
        return;
    evbuffer_free(r->body);
    evbuffer_free(r->out_hdrs);
    free(r->hbuf);
    free(r->path);
    free(r->query);
    free(r->udata);
    free(r);
}

/* Append header bytes; -1 past limits.max_header_size. */
static int
req_hadd(struct http_req *r, const char *p, size_t n)
{
    if (r->hlen + n + 1 > r->conn->srv->conf->max_header_size)
        return -1;
    if (r->hlen + n + 1 > r->hcap) {
        size_t cap = r->hcap;
        while (cap < r->hlen + n + 1)
            cap *= 2;
        char *nb = realloc(r->hbuf, cap);
        if (nb == NULL)
            return -1;
        r->hbuf = nb;
        r->hcap = cap;
    }
    memcpy(r->hbuf + r->hlen, p, n);
    r->hlen += n;
    return 0;
}

int
http_req_method(const struct http_req *r)
{
    return r->method;
}

const char *
http_req_path(const struct http_req *r)
{
    return r->path ? r->path : "/";
}

/* The query string as the client sent it: whoever reads it parses it (query.c). */
const char *
http_req_query(const struct http_req *r)
{
    return r->query ? r->query : "";
}

/*
 * A header's value, or NULL. Only headers the parser has delimited are seen:
 * the one being received has no NUL yet, and hbuf past it holds whatever the
 * allocator left there (an earlier request's keys), so an error answered
 * mid-header must not read it.
 */
const char *
http_req_header(const struct http_req *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->ndone; i++)
        if (r->hdrs[i].namelen == n && strncasecmp(r->hbuf + r->hdrs[i].name, name, n) == 0)
            return r->hdrs[i].valuelen > 0 ? r->hbuf + r->hdrs[i].value : "";
    return NULL;
}

struct evbuffer *
http_req_body(struct http_req *r)
{
    return r->body;
}

void
http_req_drop_body(struct http_req *r)
{
    size_t len = evbuffer_get_length(r->body);
    r->body_dropped += len;
    evbuffer_drain(r->body, len);
}

const char *
http_req_id(const struct http_req *r)
{
    return r->id;
}

const char *
http_req_peer(const struct http_req *r)
{
    return r->peer;
}

int64_t
http_req_start_us(const struct http_req *r)
{
    return r->start_us;
}

void *
http_req_udata(struct http_req *r)
{
    return r->udata;
}

/* A finished request, protocol errors included: count it, and tell the server's user. */
static void
req_end(struct http_req *r, int client_gone)
{
    struct http_server *s = r->conn->srv;
    int status = client_gone && !r->ended ? 499 : r->status;
    if (s->nrequests != NULL)
        atomic_fetch_add_explicit(s->nrequests, 1, memory_order_relaxed);
    if (s->end_hook == NULL)
        return;
    struct http_end e = {
        .status = status,
        .error = r->error        ? r->error
                 : status == 499 ? "client_closed"
                                 : NULL,
        .path = r->path,
        .stream = r->streaming,
        .start_real_ms = r->start_real_ms,
        .end_us = now_mono_us(),
        .bytes_received = evbuffer_get_length(r->body) + r->body_dropped,
        .bytes_sent = r->bytes_sent,
    };
    s->end_hook(r, &e, s->end_arg);
}

void
http_req_set_callbacks(struct http_req *r, void (*on_abort)(void *), void (*on_drain)(void *),
                       void *arg)
{
    r->on_abort = on_abort;
    r->on_drain = on_drain;
    r->cbarg = arg;
}

/* ---- parser callbacks ---- */

static int
on_message_begin(http_parser *p)
{
    struct http_conn *c = p->data;
    if (c->req == NULL && (c->req = req_new(c)) == NULL)
        return -1;
    conn_arm_timer(c, c->srv->conf->client_header_timeout_ms);
    return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req *r = c->req;
    if (r->urllen == 0)
        r->url = (uint32_t)r->hlen;
    if (req_hadd(r, at, len) < 0) {
        conn_send_error_close(c, 431, "invalid_request_error", "request_header_too_large",
                              "Request line and headers exceed limits.max_header_size");
        return -1;
    }
    r->urllen += (uint32_t)len;
    return 0;
}

/* Header names and values arrive in pieces; each is contiguous in hbuf. */
static int
on_header_part(http_parser *p, const char *at, size_t len, int is_value)
{
    struct http_conn *c = p->data;
    struct http_req *r = c->req;
    int start_new = is_value ? !r->in_value : (r->in_value || r->nhdrs == 0);
    if (start_new && !is_value) {
        if (r->nhdrs == MAX_HEADERS) {
            conn_send_error_close(c, 431, "invalid_request_error", "too_many_headers",
                                  "Too many request headers");
            return -1;
        }
        if (req_hadd(r, "", 1) < 0) /* NUL after the previous value or the URL */
            goto toolarge;
        r->ndone = r->nhdrs; /* the previous header is whole */
        r->hdrs[r->nhdrs].name = (uint32_t)r->hlen;
        r->hdrs[r->nhdrs].namelen = 0;
        r->nhdrs++;
    } else if (start_new && is_value) {
        if (req_hadd(r, "", 1) < 0)
            goto toolarge;
        r->hdrs[r->nhdrs - 1].value = (uint32_t)r->hlen;
        r->hdrs[r->nhdrs - 1].valuelen = 0;
    }
    r->in_value = is_value;
    if (req_hadd(r, at, len) < 0)
        goto toolarge;
    if (is_value)
        r->hdrs[r->nhdrs - 1].valuelen += (uint32_t)len;
    else
        r->hdrs[r->nhdrs - 1].namelen += (uint32_t)len;
    return 0;
toolarge:
    conn_send_error_close(c, 431, "invalid_request_error", "request_header_too_large",
                          "Request headers exceed limits.max_header_size");
    return -1;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    return on_header_part(p, at, len, 0);
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    return on_header_part(p, at, len, 1);
}

/* Use the client's request id when it is sane, else make one. */
static void
req_set_id(struct http_req *r)
{
    const char *cid = http_req_header(r, "x-request-id");
    size_t n = cid ? strlen(cid) : 0;
    int ok = n > 0 && n < sizeof(r->id);
    for (size_t i = 0; ok && i < n; i++)
        if (cid[i] <= ' ' || cid[i] > '~' || cid[i] == '"' || cid[i] == '\\')
            ok = 0;
    if (ok) {
        memcpy(r->id, cid, n + 1);
        return;
    }
    struct http_server *s = r->conn->srv;
    /* "%016llx%016llx" of the prefix and the counter, without printf */
    uint64_t v[2] = {s->idprefix, ++s->idcounter};
    for (int i = 0; i < 32; i++)
        r->id[i] = "0123456789abcdef"[(v[i / 16] >> (60 - 4 * (i % 16))) & 15];
    r->id[32] = '\0';
}

static int
on_headers_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    struct http_req *r = c->req;
    const struct conf *cf = c->srv->conf;

    if (req_hadd(r, "", 1) < 0) {
        conn_send_error_close(c, 431, "invalid_request_error", "request_header_too_large",
                              "Request headers exceed limits.max_header_size");
        return -1;
    }
    r->ndone = r->nhdrs;
    /* The URL is NUL-terminated by the first header's NUL; without headers, add one. */
    r->path = strndup(r->hbuf + r->url, r->urllen);
    if (r->path != NULL) {
        size_t n = strcspn(r->path, "?#");
        if (r->path[n] == '?')
            r->query = strndup(r->path + n + 1, strcspn(r->path + n + 1, "#"));
        r->path[n] = '\0';
    }
    if (r->path != NULL && c->srv->error_route != NULL)
        r->error_fn = c->srv->error_route(r->path);
    switch (p->method) {
    case HTTP_GET:
        r->method = HTTP_M_GET;
        break;
    case HTTP_POST:
        r->method = HTTP_M_POST;
        break;
    case HTTP_HEAD:
        r->method = HTTP_M_HEAD;
        break;
    case HTTP_PUT:
        r->method = HTTP_M_PUT;
        break;
    case HTTP_DELETE:
        r->method = HTTP_M_DELETE;
        break;
    default:
        r->method = HTTP_M_OTHER;
        break;
    }
    c->keepalive = http_should_keep_alive(p) && !c->srv->draining;
    req_set_id(r);

    if ((p->flags & F_CONTENTLENGTH) && p->content_length > cf->max_body_size) {
        conn_send_error_close(c, 413, "invalid_request_error", "request_too_large",
                              "Request body exceeds limits.max_body_size");
        return -1;
    }
    /*
     * A body is read only for a request its headers let in: an unknown
     * route or key costs its sender no more than the header buffer, and
     * no 100 Continue invites the body.
     */
    if (c->srv->precheck != NULL &&
        ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length > 0))) {
        struct http_refusal f = {0};
        if (c->srv->precheck(r, c->srv->arg, &f) != 0) {
            conn_refuse(c, &f);
            return -1;
        }
    }
    const char *expect = http_req_header(r, "expect");
    if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && p->http_minor >= 1) {
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        conn_flush_later(c);
    }
    conn_arm_timer(c, cf->client_body_timeout_ms);
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *c = p->data;
    struct http_req *r = c->req;
    if (evbuffer_get_length(r->body) + len > c->srv->conf->max_body_size) {
        conn_send_error_close(c, 413, "invalid_request_error", "request_too_large",
                              "Request body exceeds limits.max_body_size");
        return -1;
    }
    evbuffer_add(r->body, at, len);
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct http_conn *c = p->data;
    evtimer_del(c->timer);
    c->state = CONN_BUSY;
    http_parser_pause(p, 1); /* pipelined requests wait for this one's reply */
    return 0;
}

/* ---- connections ---- */

/* The reply is written: keep the connection for the next request or close it. */
static void
conn_request_done(struct http_conn *c)
{
    req_free(c->req);
    c->req = NULL;
    if (c->srv->draining && c->promised) {
        /*
         * Draining, but this response promised keep-alive (it began before the
         * drain): the client may send again at once. Wait a moment for that
         * request and answer it with Connection: close, rather than close
         * under it.
         */
        c->promised = 0;
        c->state = CONN_READING;
        conn_read_resume(c);
        http_parser_pause(&c->parser, 0);
        conn_arm_timer(c, c->srv->conf->keepalive_timeout_ms < DRAIN_IDLE_GRACE_MS
                              ? c->srv->conf->keepalive_timeout_ms
                              : DRAIN_IDLE_GRACE_MS);
        if (!c->in_input && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            conn_input(c);
        return;
    }
    if (!c->keepalive || c->srv->draining) {
        c->state = CONN_CLOSING;
        /* inside conn_input (a handler that replied at once), conn_input frees it */
        if (!c->in_input && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_free(c);
        return;
    }
    c->state = CONN_READING;
    conn_read_resume(c);
    http_parser_pause(&c->parser, 0);
    conn_arm_timer(c, c->srv->conf->keepalive_timeout_ms);
    if (!c->in_input && evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
        conn_input(c);
}

/* A request whose handler is done: free it, and the connection if it is gone. */
static void
req_finish(struct http_req *r)
{
    struct http_conn *c = r->conn;
    if (c->srv->ninflight != NULL)
        atomic_fetch_sub_explicit(c->srv->ninflight, 1, memory_order_relaxed);
    req_end(r, c->closed);
    if (c->closed) {
        c->req = NULL;
        req_free(r);
        conn_free(c);
        return;
    }
    conn_request_done(c);
}

/* n in decimal (base 10) or hex (16), without printf: a response's lengths. */
static void
add_uint(struct evbuffer *out, unsigned long long n, unsigned base)
{
    char buf[24], *p = buf + sizeof(buf);
    do {
        *--p = "0123456789abcdef"[n % base];
        n /= base;
    } while (n > 0);
    evbuffer_add(out, p, (size_t)(buf + sizeof(buf) - p));
}

/* "name: value\r\n" */
static void
add_header(struct evbuffer *out, const char *name, const char *value)
{
    evbuffer_add(out, name, strlen(name));
    evbuffer_add(out, ": ", 2);
    evbuffer_add(out, value, strlen(value));
    evbuffer_add(out, "\r\n", 2);
}

/* Write status line and headers; body framing by content length or chunked. */
static void
resp_head(struct http_req *r, int status, const char *ctype, long long clen)
{
    struct http_conn *c = r->conn;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    int http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;

    size_t before = evbuffer_get_length(out);
    r->status = status;
    r->started = 1;
    const char *text = status_text(status);
    evbuffer_add(out, http10 ? "HTTP/1.0 " : "HTTP/1.1 ", 9);
    add_uint(out, (unsigned)status, 10);
    evbuffer_add(out, " ", 1);
    evbuffer_add(out, text, strlen(text));
    evbuffer_add(out, "\r\nServer: aigw\r\n", 16);
    add_header(out, "x-request-id", r->id);
    add_header(out, "Content-Type", ctype);
    evbuffer_add_buffer(out, r->out_hdrs);
    if (clen >= 0) {
        evbuffer_add(out, "Content-Length: ", 16);
        add_uint(out, (unsigned long long)clen, 10);
        evbuffer_add(out, "\r\n", 2);
    } else if (!http10) {
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
        r->chunked = 1;
    } else {
        c->keepalive = 0; /* HTTP/1.0 stream: the close ends the body */
    }
    c->promised = c->keepalive;
    if (!c->keepalive)
        evbuffer_add(out, "Connection: close\r\n", 19);
    else if (http10)
        evbuffer_add(out, "Connection: keep-alive\r\n", 24);
    evbuffer_add(out, "\r\n", 2);
    r->bytes_sent += evbuffer_get_length(out) - before;
}

void
http_resp_header(struct http_req *r, const char *name, const char *value)
{
    add_header(r->out_hdrs, name, value);
}

void
http_reply(struct http_req *r, int status, const char *ctype, const void *body, size_t len)
{
    r->ended = 1;
    if (r->conn->closed) {
        req_finish(r);
        return;
    }
    if (status == 401)
        http_resp_header(r, "WWW-Authenticate", "Bearer");
    resp_head(r, status, ctype, (long long)len);
    if (len > 0)
        bufferevent_write(r->conn->bev, body, len);
    r->bytes_sent += len;
    conn_flush_later(r->conn);
    req_finish(r);
}

/* The OpenAI error object as JSON text (caller frees with json_object_put on obj). */
static struct json_object *
error_json(const char *type, const char *code, const char *param, const char *msg)
{
    struct json_object *err = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(err, "message", json_object_new_string(msg));
    json_object_object_add(err, "type", json_object_new_string(type));
    json_object_object_add(err, "param", param ? json_object_new_string(param) : NULL);
    json_object_object_add(err, "code", code ? json_object_new_string(code) : NULL);
    json_object_object_add(o, "error", err);
    return o;
}

void
http_reply_error(struct http_req *r, int status, const char *type, const char *code,
                 const char *param, const char *fmt, ...)
{
    char raw[1024], msg[3 * sizeof(raw)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* It may quote a client's bytes (a model name, a field), or be cut inside a character. */
    utf8_clean(raw, strlen(raw), msg, sizeof(msg));
    struct json_object *o = r->error_fn ? r->error_fn(status, type, code, param, msg)
                                        : error_json(type, code, param, msg);
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (r->error == NULL)
        r->error = code;
    http_reply(r, status, "application/json", s, strlen(s));
    json_object_put(o);
}

void
http_server_set_error_route(struct http_server *s, http_error_route fn)
{
    s->error_route = fn;
}

void
http_req_set_error_fn(struct http_req *r, http_error_fn fn)
{
    r->error_fn = fn;
}

void
http_stream_begin(struct http_req *r, int status, const char *ctype)
{
    r->streaming = 1;
    if (r->conn->closed)
        return;
    resp_head(r, status, ctype, -1);
    conn_flush_later(r->conn);
}

void
http_stream_write(struct http_req *r, const void *data, size_t len)
{
    if (r->conn->closed || len == 0)
        return;
    struct evbuffer *out = bufferevent_get_output(r->conn->bev);
    size_t before = evbuffer_get_length(out);
    if (r->chunked) {
        add_uint(out, len, 16);
        evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_add(out, data, len);
    if (r->chunked)
        evbuffer_add(out, "\r\n", 2);
    r->bytes_sent += evbuffer_get_length(out) - before;
    conn_flush_later(r->conn);
}

size_t
http_stream_pending(const struct http_req *r)
{
    if (r->conn->closed)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(r->conn->bev));
}

void
http_stream_end(struct http_req *r)
{
    r->ended = 1;
    if (!r->conn->closed && r->chunked) {
        bufferevent_write(r->conn->bev, "0\r\n\r\n", 5);
        r->bytes_sent += 5;
    }
    if (!r->conn->closed)
        conn_flush_later(r->conn);
    req_finish(r);
}

int
http_resp_started(const struct http_req *r)
{
    return r->started;
}

int
http_resp_status(const struct http_req *r)
{
    return r->status;
}

void
http_req_release(struct http_req *r)
{
    r->released = 1;
    if (!r->conn->closed) {
        /* The handler gave up without a reply: the connection can't be reused. */
        r->conn->keepalive = 0;
    }
    req_finish(r);
}

/*
 * A request refused while it is read (a protocol error, or its headers'
 * precheck): answer with a JSON error, then close after a short linger so
 * the client reads the reply rather than a reset.
 */
static void
conn_refuse(struct http_conn *c, const struct http_refusal *f)
{
    struct http_req *r = c->req;
    if (r == NULL && (r = c->req = req_new(c)) == NULL) {
        conn_free(c);
        return;
    }
    if (r->id[0] == '\0')
        req_set_id(r);
    c->keepalive = 0;
    if (f->allow != NULL)
        http_resp_header(r, "Allow", f->allow);
    if (f->status == 401)
        http_resp_header(r, "WWW-Authenticate", "Bearer");
    char msg[3 * sizeof(f->msg)];
    utf8_clean(f->msg, strlen(f->msg), msg, sizeof(msg)); /* it may quote a client's path */
    struct json_object *o = r->error_fn ? r->error_fn(f->status, f->type, f->code, NULL, msg)
                                        : error_json(f->type, f->code, NULL, msg);
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    resp_head(r, f->status, "application/json", (long long)strlen(s));
    bufferevent_write(c->bev, s, strlen(s));
    r->bytes_sent += strlen(s);
    conn_flush_later(c);
    json_object_put(o);
    if (r->error == NULL)
        r->error = f->code;
    r->ended = 1;
    req_end(r, 0);
    req_free(r);
    c->req = NULL;
    c->state = CONN_LINGER;
    evtimer_del(c->timer);
}

/* A protocol error while reading: conn_refuse with these. */
static void
conn_send_error_close(struct http_conn *c, int status, const char *type, const char *code,
                      const char *msg)
{
    struct http_refusal f = {.status = status, .type = type, .code = code};
    snprintf(f.msg, sizeof(f.msg), "%s", msg);
    conn_refuse(c, &f);
}

int
http_refuse(struct http_refusal *f, int status, const char *type, const char *code, const char *fmt,
            ...)
{
    va_list ap;
    f->status = status;
    f->type = type;
    f->code = code;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
    va_end(ap);
    return 1;
}

void
http_reply_refusal(struct http_req *r, const struct http_refusal *f)
{
    if (f->allow != NULL)
        http_resp_header(r, "Allow", f->allow);
    http_reply_error(r, f->status, f->type, f->code, NULL, "%s", f->msg);
}

/* Feed buffered input to the parser while a request is being read. */
static void
conn_input(struct http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_input = 1;
    while (c->state == CONN_READING && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = http_parser_execute(&c->parser, &parser_settings, v.iov_base, v.iov_len);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        if (c->state == CONN_LINGER) /* a callback already replied */
            break;
        evbuffer_drain(in, n);
        if (err == HPE_PAUSED && c->state == CONN_BUSY) {
            if (c->srv->ninflight != NULL)
                atomic_fetch_add_explicit(c->srv->ninflight, 1, memory_order_relaxed);
            c->srv->handler(c->req, c->srv->arg); /* may reply at once and loop on */
            continue;
        }
        if (err != HPE_OK) {
            char msg[200];
            snprintf(msg, sizeof(msg), "Malformed HTTP request: %s", http_errno_description(err));
            conn_send_error_close(c, 400, "invalid_request_error", "bad_request", msg);
            break;
        }
    }
    c->in_input = 0;
    if (c->state == CONN_LINGER)
        evbuffer_drain(in, evbuffer_get_length(in));
    /* a reply already gone out whole (a bufferevent pair writes through at once) */
    if (c->state == CONN_CLOSING && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_free(c);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (c->state == CONN_LINGER || c->state == CONN_CLOSING) {
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->state == CONN_READING)
        conn_input(c);
    /* CONN_BUSY: pipelined bytes wait in the buffer (bounded by the read watermark). */
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct http_conn *c = arg;
    size_t left = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->fev != NULL && left == 0)
        bufferevent_disable(bev, EV_WRITE); /* its event is already deleted: no syscall */
    if (c->state == CONN_CLOSING && left == 0) {
        conn_free(c);
    } else if (c->state == CONN_LINGER && left == 0 && !c->shut) {
        c->shut = 1; /* once: a pair's flush calls this again */
        if (bufferevent_getfd(bev) >= 0)
            shutdown(bufferevent_getfd(bev), SHUT_WR);
        else /* not a socket (http_server_adopt): its peer gets the end as EOF */
            bufferevent_flush(bev, EV_WRITE, BEV_FINISHED);
        conn_arm_timer(c, LINGER_MS);
    } else if (c->state == CONN_BUSY && c->req != NULL && c->req->on_drain != NULL) {
        c->req->on_drain(c->req->cbarg);
    }
}

/*
 * Why a TLS handshake failed, for aigw_tls_handshakes_total{result}: a
 * fixed word, never OpenSSL's text (a metric label's values must be few).
 */
static const char *
http_tls_failure(struct bufferevent *bev, short what)
{
    unsigned long err = bufferevent_get_openssl_error(bev);
    if (!(what & BEV_EVENT_ERROR) || err == 0)
        return "closed"; /* EOF or a timeout during the handshake */
    switch (ERR_GET_REASON(err)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
        return "protocol";
    case SSL_R_NO_SHARED_CIPHER:
        return "cipher";
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return "client_certificate";
    case SSL_R_HTTP_REQUEST:
        return "plain_http";
    default:
        return "other";
    }
}

/* Client gone (EOF, error, send timeout): tell the handler so it cancels upstream work. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct http_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) { /* HTTPS: the handshake is done */
        c->handshaking = 0;
        metrics_tls_handshake(tls_server_name(c->tls), NULL);
        return;
    }
    if (c->handshaking) {
        c->handshaking = 0;
        metrics_tls_handshake(tls_server_name(c->tls), http_tls_failure(bev, what));
        ERR_clear_error();
    }
    if (c->state == CONN_BUSY && c->req != NULL) {
        struct http_req *r = c->req;
        c->closed = 1;
        conn_drop_socket(c);
        evtimer_del(c->timer);
        if (r->on_abort != NULL)
            r->on_abort(r->cbarg); /* the handler ends the request, now or later */
        return;
    }
    conn_free(c);
}

/*
 * Plain HTTP: the socket is readable. One read of at most READ_SIZE, not
 * the bufferevent's (it asks the kernel how much there is first).
 */
static void
conn_recv_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    /* While a request is served, pipelined input may pile up only this far. */
    if (c->state == CONN_BUSY && evbuffer_get_length(in) >= c->srv->conf->max_header_size + 65536) {
        event_del(c->rev);
        c->rstopped = 1;
        return;
    }
    ssize_t got = evio_read(in, fd, READ_SIZE);
    if (got > 0)
        conn_read_cb(c->bev, c);
    else if (got == 0 || (errno != EAGAIN && errno != EINTR))
        conn_event_cb(c->bev, BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

/* Plain HTTP: the request is done; read again if its input had filled up. */
static void
conn_read_resume(struct http_conn *c)
{
    if (c->rstopped) {
        c->rstopped = 0;
        event_add(c->rev, NULL);
    }
}

/*
 * Plain HTTP: send what the callbacks of this turn of the loop added to
 * the output, in one write; the rest, if any, by the bufferevent's write.
 */
static void
conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return;                                 /* nothing, or the write event is already at it */
    evio_write(out, bufferevent_getfd(c->bev)); /* an error shows again in the write event */
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(c->bev, EV_WRITE);
    else
        conn_write_cb(c->bev, c); /* all sent: close, linger, or tell the handler */
}

/* Output was added: send it once the current callback returns (HTTPS: the bufferevent does). */
static void
conn_flush_later(struct http_conn *c)
{
    if (c->fev != NULL)
        event_active(c->fev, EV_WRITE, 0);
}

/* The socket is gone or to be closed: free its events, then the bufferevent (which closes it). */
static void
conn_drop_socket(struct http_conn *c)
{
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->fev != NULL)
        event_free(c->fev);
    c->rev = c->fev = NULL;
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = NULL;
}

/* Header, body, keep-alive and linger timers. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;
    if (c->state == CONN_READING && c->req != NULL && c->req->hlen > 0) {
        conn_send_error_close(c, 408, "invalid_request_error", "request_timeout",
                              "Timed out reading the request");
        return;
    }
    if (c->state == CONN_READING || c->state == CONN_LINGER)
        conn_free(c);
}

static void
conn_free(struct http_conn *c)
{
    struct http_server *s = c->srv;
    if (c->handshaking) { /* the header timer, or a drain, ended a handshake never finished */
        c->handshaking = 0;
        metrics_tls_handshake(tls_server_name(c->tls), "closed");
    }
    if (c->state == CONN_BUSY && c->req != NULL && !c->closed) {
        /* The handler still owns the request: finish once it lets go. */
        c->closed = 1;
        conn_drop_socket(c);
        if (c->req->on_abort != NULL)
            c->req->on_abort(c->req->cbarg);
        return;
    }
    if (c->req != NULL && (c->state != CONN_BUSY || c->req->ended || c->req->released))
        req_free(c->req);
    conn_drop_socket(c);
    event_free(c->timer);
    TAILQ_REMOVE(&s->conns, c, entry);
    s->nconns--;
    tls_server_free(c->tls);
    free(c);
    if (s->nconns < s->conf->max_connections)
        server_resume(s, PAUSE_CONNS);
    server_resume(s, PAUSE_FDS); /* a descriptor was just freed */
}

/* ---- accepting, paused at limits.max_connections or out of descriptors ---- */

static void
server_listeners_enable(struct http_server *s, int on)
{
    for (int i = 0; i < s->nlisteners; i++) {
        if (on)
            evconnlistener_enable(s->listeners[i]);
        else
            evconnlistener_disable(s->listeners[i]);
    }
}

/*
 * Stop accepting for why (PAUSE_*). Connections wait in the kernel's
 * listen queue meanwhile, instead of a loop that accepts and fails. One
 * warning a minute at most; every pause is counted in the metrics.
 */
static void
server_pause(struct http_server *s, int why, int err)
{
    int was = s->paused;
    s->paused |= why;
    if (was == 0)
        server_listeners_enable(s, 0);
    if (why == PAUSE_FDS) {
        struct timeval tv = tv_ms(RESUME_MS);
        evtimer_add(s->resume, &tv);
    }
    if (was & why)
        return;
    metrics_accept_paused(why == PAUSE_FDS ? MX_PAUSE_DESCRIPTORS : MX_PAUSE_CONNECTIONS);
    int64_t now = now_mono_us() / 1000;
    if (s->warned_ms != 0 && now - s->warned_ms < 60000) {
        s->unwarned++;
        return;
    }
    if (why == PAUSE_CONNS)
        log_warnx("accepting paused: %d connections open (limits.max_connections); "
                  "%llu more pauses since the last warning",
                  s->nconns, (unsigned long long)s->unwarned);
    else
        log_warnx("accepting paused: accept failed: %s; retrying every %d ms; "
                  "%llu more pauses since the last warning",
                  strerror(err), RESUME_MS, (unsigned long long)s->unwarned);
    s->warned_ms = now;
    s->unwarned = 0;
}

/* Accept again, unless something else still holds it. */
static void
server_resume(struct http_server *s, int why)
{
    if ((s->paused & why) == 0)
        return;
    s->paused &= ~why;
    if (s->paused == 0 && !s->draining)
        server_listeners_enable(s, 1);
}

/* Out of descriptors a while ago: try accepting again. */
static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_resume(arg, PAUSE_FDS);
}

/*
 * accept() failed with what libevent does not retry itself: EMFILE,
 * ENFILE, ENOBUFS ... Its listener would call again at once, as the
 * queued connection is still readable: a busy loop. Pause instead.
 */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    server_pause(arg, PAUSE_FDS, EVUTIL_SOCKET_ERROR());
}

/*
 * Serve the connection from peer sa: the socket fd that listener l accepted,
 * or (fd -1, l NULL) the bufferevent bev, plain HTTP. Either is owned now.
 */
static void
conn_open(struct http_server *s, struct evconnlistener *l, evutil_socket_t fd,
          struct bufferevent *bev, const struct sockaddr *sa)
{
    struct http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        if (bev != NULL)
            bufferevent_free(bev);
        else
            close(fd);
        return;
    }
    c->srv = s;
    for (int i = 0; l != NULL && i < s->nlisteners; i++)
        if (s->listeners[i] == l && (c->tls = s->tls[i]) != NULL)
            tls_server_ref(c->tls); /* a reload may replace the listener's meanwhile */
    if (c->tls != NULL) {
        /* the bufferevent owns ssl, and closes fd, once it exists */
        SSL *ssl = tls_server_ssl(c->tls);
        c->bev = ssl ? bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (c->bev == NULL)
            SSL_free(ssl);
        else /* clients that close without close_notify are many, and harmless to HTTP/1.1 */
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        c->handshaking = 1;
    } else if (bev != NULL) {
        c->bev = bev; /* adopted (a pair): the bufferevent reads and writes, as for HTTPS */
    } else if ((c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE)) != NULL) {
        c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_recv_cb, c);
        c->fev = event_new(s->base, -1, 0, conn_flush_cb, c);
    }
    c->timer = evtimer_new(s->base, conn_timer_cb, c);
    if (c->bev == NULL || c->timer == NULL ||
        (c->tls == NULL && bev == NULL && (c->rev == NULL || c->fev == NULL))) {
        if (c->bev == NULL)
            close(fd);
        conn_drop_socket(c);
        if (c->timer)
            event_free(c->timer);
        tls_server_free(c->tls);
        free(c);
        return;
    }
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
                  sizeof(c->peer));
    else
        snprintf(c->peer, sizeof(c->peer), "unix");
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->state = CONN_READING;
    TAILQ_INSERT_TAIL(&s->conns, c, entry);
    if (++s->nconns >= s->conf->max_connections)
        server_pause(s, PAUSE_CONNS, 0);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_setwatermark(c->bev, EV_WRITE, HTTP_OUT_LOW, 0);
    /* While a request is served, pipelined input may pile up only this far. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, s->conf->max_header_size + 65536);
    struct timeval send_tv = tv_ms(s->conf->send_timeout_ms);
    bufferevent_set_timeouts(c->bev, NULL, &send_tv);
    if (c->rev != NULL) {
        bufferevent_disable(c->bev, EV_WRITE); /* enabled by conn_flush_cb when needed */
        event_add(c->rev, NULL);
    } else {
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    }
    conn_arm_timer(c, s->conf->client_header_timeout_ms);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)salen;
    conn_open(arg, l, fd, NULL, sa);
}

void
http_server_adopt(struct http_server *s, struct bufferevent *bev, const struct sockaddr *peer)
{
    conn_open(s, NULL, -1, bev, peer);
}

struct http_server *
http_server_new(struct event_base *base, const struct conf *c, http_handler handler, void *arg)
{
    struct http_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base = base;
    s->conf = c;
    s->handler = handler;
    s->arg = arg;
    TAILQ_INIT(&s->conns);
    if ((s->resume = evtimer_new(base, server_resume_cb, s)) == NULL) {
        free(s);
        return NULL;
    }
    if (RAND_bytes((unsigned char *)&s->idprefix, sizeof(s->idprefix)) != 1)
        s->idprefix = (uint64_t)getpid() << 32 ^ (uint64_t)now_real_ms();
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
    return s;
}

/* The expiry of each certificate of an HTTPS listener, into the metrics. */
static void
http_tls_expiry(const struct tls_server *tls)
{
    const char *file;
    int64_t not_after;
    for (int i = 0; tls != NULL && tls_server_cert(tls, i, &file, &not_after) == 0; i++)
        metrics_tls_expiry(tls_server_name(tls), file, not_after);
}

int
http_server_listen_fd(struct http_server *s, int fd)
{
    return http_server_listen_fd_tls(s, fd, NULL);
}

int
http_server_listen_fd_tls(struct http_server *s, int fd, struct tls_server *tls)
{
    if (s->nlisteners == CONF_MAX_LISTEN)
        return -1;
    evutil_make_socket_nonblocking(fd);
    struct evconnlistener *l = evconnlistener_new(
        s->base, accept_cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (l == NULL)
        return -1;
    evconnlistener_set_error_cb(l, accept_error_cb);
    if (s->paused)
        evconnlistener_disable(l);
    s->tls[s->nlisteners] = tls; /* ours from now on */
    s->listeners[s->nlisteners++] = l;
    http_tls_expiry(tls);
    return 0;
}

int
http_server_set_tls(struct http_server *s, int i, struct tls_server *tls)
{
    if (i < 0 || i >= s->nlisteners || s->tls[i] == NULL || tls == NULL)
        return -1;
    struct tls_server *old = s->tls[i];
    s->tls[i] = tls;
    http_tls_expiry(tls);
    tls_server_free(old); /* its connections hold it until they close */
    return 0;
}

void
http_server_drain(struct http_server *s)
{
    struct http_conn *c, *next;
    s->draining = 1;
    for (int i = 0; i < s->nlisteners; i++)
        evconnlistener_free(s->listeners[i]);
    s->nlisteners = 0;
    /*
     * An idle keep-alive connection closed now could cross a request its
     * client is sending at that moment, which then fails (a POST is not
     * retried). Give it a short grace instead: a client under load sends
     * within it and gets its answer with Connection: close; one that stays
     * idle is closed when the grace ends.
     */
    for (c = TAILQ_FIRST(&s->conns); c != NULL; c = next) {
        next = TAILQ_NEXT(c, entry);
        c->keepalive = 0;
        if (c->state == CONN_READING && (c->req == NULL || c->req->hlen == 0))
            conn_arm_timer(c, s->conf->keepalive_timeout_ms < DRAIN_IDLE_GRACE_MS
                                  ? s->conf->keepalive_timeout_ms
                                  : DRAIN_IDLE_GRACE_MS);
    }
}

int
http_server_nconns(const struct http_server *s)
{
    return s->nconns;
}

void
http_server_free(struct http_server *s)
{
    struct http_conn *c;
    for (int i = 0; i < s->nlisteners; i++)
        evconnlistener_free(s->listeners[i]);
    s->nlisteners = 0;
    s->draining = 1;
    while ((c = TAILQ_FIRST(&s->conns)) != NULL) {
        if (c->state == CONN_BUSY && c->req != NULL) {
            c->req->on_abort = NULL;
            c->state = CONN_CLOSING; /* force */
        }
        conn_free(c);
    }
    event_free(s->resume);
    for (int i = 0; i < CONF_MAX_LISTEN; i++)
        tls_server_free(s->tls[i]);
    free(s);
}

void
http_server_set_precheck(struct http_server *s, http_precheck fn)
{
    s->precheck = fn;
}

void
http_server_set_counters(struct http_server *s, _Atomic uint64_t *requests,
                         _Atomic int64_t *in_flight)
{
    s->nrequests = requests;
    s->ninflight = in_flight;
}

void
http_server_set_end_hook(struct http_server *s, http_end_hook fn, size_t udata_size, void *arg)
{
    s->end_hook = fn;
    s->end_arg = arg;
    s->udata_size = udata_size;
}
