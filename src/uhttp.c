/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp.c: the worker's HTTP/1.1 client for upstreams (see uhttp.h), as
 * nginx, HAProxy and Envoy have their own: a request on a kept-alive
 * connection costs one write and one read, nothing else (no liveness poll:
 * idle connections are watched, uhttp_pool.c).
 *
 * A request: take an idle connection of its pool and send at once; or (on
 * the next loop turn, so done is never called from uhttp_start) resolve
 * the name (uhttp_dns.c), connect, shake hands for TLS, send. The response
 * goes through uhttp_resp.c to the caller's callbacks. At its end a
 * connection that may carry another request goes back to the pool; one in
 * the middle of an exchange (cancelled, failed, paused for ever) is closed.
 *
 * Replay: a request sent on a reused connection that ends before any byte
 * of a response (the upstream closed its side of an idle connection just as
 * we wrote) is sent once more, on a fresh connection. Nothing of it was
 * answered, and an upstream that closes a kept-alive connection does so
 * between requests (RFC 9112, 9.3.1); libcurl, which aigw used before, does
 * the same, for a POST too.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "evio.h"
#include "log.h"
#include "aigw/util.h"
#include "uhttp_priv.h"
#include "uhttp_url.h"

#define FREE_REQS_MAX 256
#define SWEEP_MS 10000

static int conn_ex_index = -1;

static void req_send(struct uhttp_req *r);
static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_recv_cb(evutil_socket_t fd, short what, void *arg);

const char *
uhttp_strerror(enum uhttp_error e)
{
    static const char *const msg[] = {
        [UHTTP_OK] = "no error",
        [UHTTP_EURL] = "the upstream URL is not one this client can send to",
        [UHTTP_ERESOLVE] = "could not resolve the upstream's host name",
        [UHTTP_ECONNECT] = "could not connect to the upstream",
        [UHTTP_ETLS] = "TLS with the upstream failed",
        [UHTTP_ETIMEOUT] = "timed out",
        [UHTTP_ESEND] = "could not send the request to the upstream",
        [UHTTP_EEMPTY] = "the upstream closed the connection without a response",
        [UHTTP_ERECV] = "the upstream connection broke before the end of the response",
        [UHTTP_EBAD] = "the upstream's response is not valid HTTP/1.1",
        [UHTTP_EHEADERS] = "the upstream's response headers are too large",
        [UHTTP_ESTOP] = "stopped",
        [UHTTP_ENOMEM] = "out of memory",
    };
    return (unsigned)e < sizeof(msg) / sizeof(msg[0]) && msg[e] ? msg[e] : "unknown error";
}

/* ---- TLS ---- */

/* A new session ticket from an upstream: the pool's next connection resumes it. */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct uhttp_conn *c = SSL_get_ex_data(ssl, conn_ex_index);
    if (c == NULL)
        return 0;
    if (c->pool->sess != NULL)
        SSL_SESSION_free(c->pool->sess);
    c->pool->sess = sess;
    return 1; /* we keep the reference */
}

/* The worker's client context: verify peers against the system's CAs or upstream.ca_file. */
static SSL_CTX *
tls_ctx(struct uhttp *u)
{
    if (u->ctx != NULL || u->ctx_failed)
        return u->ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (u->ca_file[0] != '\0' ? SSL_CTX_load_verify_locations(ctx, u->ca_file, NULL) != 1
                              : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        log_warnx("upstream TLS: cannot load the trusted CAs%s%s: %s",
                  u->ca_file[0] ? " from " : "", u->ca_file,
                  ERR_reason_error_string(ERR_peek_last_error()));
        goto fail;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    if (conn_ex_index < 0)
        conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    u->ctx = ctx;
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    u->ctx_failed = 1;
    return NULL;
}

/* An SSL for c: SNI and the name (or IP address) the certificate must carry. */
static SSL *
tls_new(struct uhttp_conn *c)
{
    struct uhttp_pool *p = c->pool;
    SSL_CTX *ctx = tls_ctx(p->u);
    SSL *ssl = ctx ? SSL_new(ctx) : NULL;
    static const unsigned char alpn[] = "\x08http/1.1";
    if (ssl == NULL)
        return NULL;
    int ok = p->numeric
                 ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host) == 1
                 : SSL_set_tlsext_host_name(ssl, p->host) == 1 && SSL_set1_host(ssl, p->host) == 1;
    if (!ok || SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_ex_data(ssl, conn_ex_index, c);
    if (p->sess != NULL)
        SSL_set_session(ssl, p->sess);
    return ssl;
}

/* ---- connections ---- */

void
uhttp_conn_close(struct uhttp_conn *c)
{
    if (c->rev != NULL)
        event_free(c->rev); /* before the socket closes */
    if (c->bev != NULL) {
        struct bufferevent *under = bufferevent_get_underlying(c->bev);
        SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
        if (ssl != NULL) {
            SSL_set_ex_data(ssl, conn_ex_index, NULL);
            /*
             * Freed without a shutdown, OpenSSL takes the session for a bad
             * one and marks it not resumable: the pool's next connection would
             * do a full handshake. Close quietly as nginx does (no alert
             * written: the socket closes now anyway).
             */
            if (!c->handshake)
                SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        }
        bufferevent_free(c->bev); /* closes the socket (and frees the SSL) */
        if (under != NULL)
            bufferevent_free(under);
    } else if (c->fd >= 0) {
        evutil_closesocket(c->fd);
    }
    if (c->cev != NULL)
        event_free(c->cev);
    free(c);
}

void
uhttp_conn_reading(struct uhttp_conn *c, int on)
{
    if (c->rev == NULL) /* TLS: the bufferevent reads */
        (on ? bufferevent_enable : bufferevent_disable)(c->bev, EV_READ);
    else if (on)
        event_add(c->rev, NULL);
    else
        event_del(c->rev);
}

/* r is done with its connection: keep it for the next request, or close it. */
static void
conn_release(struct uhttp_req *r, int reusable)
{
    struct uhttp_conn *c = r->conn;
    if (c == NULL)
        return;
    r->conn = NULL;
    if (reusable && c->bev != NULL && !c->handshake &&
        evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        uhttp_pool_put(c->pool, c);
    else
        uhttp_conn_close(c);
}

/* The connection (and its handshake) is up: send. */
static void
conn_ready(struct uhttp_conn *c)
{
    struct uhttp_req *r = c->req;
    struct timeval tv;
    c->handshake = 0;
    /* from here on only the total timeout runs */
    int64_t left = r->total_until - now_mono_ms();
    tv = tv_ms(left > 0 ? left : 0);
    evtimer_add(r->timer, &tv);
    req_send(r);
}

/* TLS handshake events. */
static void
handshake_cb(struct bufferevent *bev, short what, void *arg)
{
    struct uhttp_conn *c = arg;
    struct uhttp_req *r = c->req;
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        log_debug("upstream %s:%d: %s, session %s", c->pool->host, c->pool->port,
                  SSL_get_version(ssl), SSL_session_reused(ssl) ? "resumed" : "new");
        bufferevent_setcb(bev, conn_read_cb, NULL, conn_event_cb, c);
        conn_ready(c);
        return;
    }
    unsigned long err = bufferevent_get_openssl_error(bev);
    log_debug("upstream %s:%d: TLS handshake failed: %s", c->pool->host, c->pool->port,
              err ? ERR_reason_error_string(err) : "connection closed");
    while (bufferevent_get_openssl_error(bev) != 0)
        ;
    uhttp_req_end(r, UHTTP_ETLS);
}

/* The TCP connection is up: plain, send; TLS, start the handshake. */
static int
conn_connected(struct uhttp_conn *c)
{
    struct uhttp *u = c->pool->u;
    event_free(c->cev);
    c->cev = NULL;
    if (!c->pool->tls) {
        if ((c->bev = bufferevent_socket_new(u->base, c->fd, BEV_OPT_CLOSE_ON_FREE)) == NULL)
            return -1;
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        /*
         * We read, not the bufferevent: its reads ask the kernel how much
         * there is first (ioctl FIONREAD), a syscall per response. It
         * writes what our own write left, and keeps the input buffer.
         */
        if ((c->rev = event_new(u->base, c->fd, EV_READ | EV_PERSIST, conn_recv_cb, c)) == NULL)
            return -1;
        c->fd = -1;
        bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
        uhttp_conn_reading(c, 1);
        conn_ready(c);
        return 0;
    }
    SSL *ssl = tls_new(c);
    if (ssl == NULL) {
        uhttp_req_end(c->req, UHTTP_ETLS);
        return 0;
    }
    c->bev = bufferevent_openssl_socket_new(u->base, c->fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        return -1;
    }
    c->fd = -1;
    c->handshake = 1;
    /* many servers close without close_notify; framing tells a cut response anyway */
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, NULL, NULL, handshake_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    return 0;
}

/* The connect finished, one way or the other. */
static void
connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uhttp_conn *c = arg;
    struct uhttp_req *r = c->req;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        log_debug("upstream %s:%d: connect: %s", c->pool->host, c->pool->port, strerror(err));
        r->conn = NULL;
        uhttp_conn_close(c);
        r->ai++;
        uhttp_req_connect(r); /* the next address, if any */
        return;
    }
    if (conn_connected(c) < 0)
        uhttp_req_end(r, UHTTP_ENOMEM);
}

void
uhttp_req_connect(struct uhttp_req *r)
{
    struct uhttp_pool *p = r->pool;
    struct uhttp *u = r->u;
    struct uhttp_conn *c;
    int one = 1;
    while (r->ai < p->naddr) {
        const struct sockaddr *sa = (const struct sockaddr *)&p->addr[r->ai];
        evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            log_warn("upstream %s:%d: socket", p->host, p->port);
            uhttp_req_end(r, UHTTP_ECONNECT);
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (connect(fd, sa, p->addrlen[r->ai]) < 0 && errno != EINPROGRESS) {
            log_debug("upstream %s:%d: connect: %s", p->host, p->port, strerror(errno));
            evutil_closesocket(fd);
            r->ai++;
            continue;
        }
        if ((c = calloc(1, sizeof(*c))) == NULL) {
            evutil_closesocket(fd);
            uhttp_req_end(r, UHTTP_ENOMEM);
            return;
        }
        c->pool = p;
        c->fd = fd;
        c->req = r;
        r->conn = c;
        if ((c->cev = event_new(u->base, fd, EV_WRITE, connect_cb, c)) == NULL ||
            event_add(c->cev, NULL) < 0) {
            uhttp_req_end(r, UHTTP_ENOMEM);
            return;
        }
        return;
    }
    uhttp_req_end(r, UHTTP_ECONNECT);
}

/* ---- the exchange ---- */

/* Append n in decimal. */
static void
add_uint(struct evbuffer *b, size_t n)
{
    char buf[24];
    int i = sizeof(buf);
    do {
        buf[--i] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    evbuffer_add(b, buf + i, sizeof(buf) - i);
}

/* Write the request on r's connection: head pieces and the body by reference. */
static void
req_send(struct uhttp_req *r)
{
    struct uhttp_conn *c = r->conn;
    struct uhttp_pool *p = r->pool;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    /*
     * Plain TCP: write at once, from here, rather than have the bufferevent
     * wait for the socket to be writable (an epoll_ctl on, a wakeup, an
     * epoll_ctl off: per request). Its write event is only for what the
     * socket did not take, and for the error a failed write leaves.
     */
    if (!p->tls)
        bufferevent_disable(c->bev, EV_WRITE);
    evbuffer_add(out, "POST ", 5);
    evbuffer_add(out, r->path, strlen(r->path));
    evbuffer_add(out, " HTTP/1.1\r\nHost: ", 17);
    evbuffer_add(out, p->hosthdr, p->hosthdrlen);
    evbuffer_add(out, "\r\n", 2);
    if (r->c.hlen > 0)
        evbuffer_add(out, r->c.headers, r->c.hlen);
    evbuffer_add(out, "Content-Length: ", 16);
    add_uint(out, r->c.blen);
    evbuffer_add(out, "\r\n\r\n", 4);
    if (r->c.blen > 0)
        evbuffer_add_reference(out, r->c.body, r->c.blen, NULL, NULL);
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    if (!p->tls) {
        evio_write(out, bufferevent_getfd(c->bev)); /* an error shows again in the writecb */
    }
    if (evbuffer_get_length(out) > 0)
        bufferevent_enable(c->bev, EV_WRITE);
    uhttp_conn_reading(c, 1);
}

/* r's connection failed before any response byte: a reused one gets one fresh try. */
static int
req_replay(struct uhttp_req *r)
{
    struct uhttp_conn *c = r->conn;
    if (c == NULL || c->nreq == 0 || r->retried || r->resp.nbytes > 0)
        return -1;
    log_debug("upstream %s:%d: kept-alive connection closed under the request; sending again",
              r->pool->host, r->pool->port);
    r->retried = 1;
    r->conn = NULL;
    uhttp_conn_close(c);
    r->ai = 0;
    int64_t now = now_mono_ms();
    r->connect_until = now + r->c.connect_ms;
    int64_t until = r->connect_until < r->total_until ? r->connect_until : r->total_until;
    struct timeval tv = tv_ms(until > now ? until - now : 0);
    evtimer_add(r->timer, &tv);
    uhttp_req_connect(r);
    return 0;
}

/* Parse what was read; 1 when the request ended (r is gone) or paused, else 0. */
static int
conn_input(struct uhttp_conn *c)
{
    struct uhttp_req *r = c->req;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec v[8];
    enum uhttp_resp_rc rc = UR_MORE;
    while (rc == UR_MORE && evbuffer_get_length(in) > 0) {
        int n = evbuffer_peek(in, -1, NULL, v, 8);
        size_t used = 0, all = 0;
        for (int i = 0; i < n && i < 8 && rc == UR_MORE; i++) {
            rc = uhttp_resp_feed(&r->resp, v[i].iov_base, v[i].iov_len, &used);
            all += used;
        }
        evbuffer_drain(in, all);
    }
    switch (rc) {
    case UR_MORE:
        return 0;
    case UR_PAUSED:
        r->paused = 1;
        uhttp_conn_reading(c, 0);
        return 1;
    case UR_DONE:
        uhttp_req_end(r, UHTTP_OK);
        return 1;
    case UR_STOP:
        uhttp_req_end(r, UHTTP_ESTOP);
        return 1;
    case UR_TOO_BIG:
        uhttp_req_end(r, UHTTP_EHEADERS);
        return 1;
    default:
        uhttp_req_end(r, UHTTP_EBAD);
        return 1;
    }
}

/* A plain connection is readable: read what is there, without asking how much first. */
static void
conn_recv_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uhttp_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    ssize_t got = evio_read(in, fd, 16384);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (c->req == NULL) { /* idle: the upstream closed it, or sent what no one asked for */
        uhttp_pool_drop(c);
        return;
    }
    if (got > 0)
        conn_input(c);
    else
        conn_event_cb(c->bev, BEV_EVENT_READING | (got == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

/* Response bytes. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    conn_input(arg);
}

/* The connection ended or broke. */
static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct uhttp_conn *c = arg;
    struct uhttp_req *r = c->req;
    /* what came before the end first */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 && conn_input(c))
        return;
    if (req_replay(r) == 0)
        return;
    if (what & BEV_EVENT_EOF) {
        switch (uhttp_resp_eof(&r->resp)) {
        case UR_DONE:
            r->resp.keep_alive = 0;
            uhttp_req_end(r, UHTTP_OK);
            return;
        case UR_STOP:
            uhttp_req_end(r, UHTTP_ESTOP);
            return;
        case UR_TRUNC:
            uhttp_req_end(r, r->resp.nbytes == 0 ? UHTTP_EEMPTY : UHTTP_ERECV);
            return;
        default:
            uhttp_req_end(r, UHTTP_EBAD);
            return;
        }
    }
    if (r->resp.nbytes == 0 && (what & BEV_EVENT_WRITING))
        uhttp_req_end(r, UHTTP_ESEND);
    else
        uhttp_req_end(r, UHTTP_ERECV);
}

/* Connect, then total timeout; or the start of a request without an idle connection. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uhttp_req *r = arg;
    if (r->fail != UHTTP_OK) {
        uhttp_req_end(r, r->fail);
        return;
    }
    if (r->opening) {
        struct timeval tv;
        int64_t now = now_mono_ms();
        int64_t until = r->connect_until < r->total_until ? r->connect_until : r->total_until;
        r->opening = 0;
        tv = tv_ms(until > now ? until - now : 0);
        evtimer_add(r->timer, &tv);
        if (now < r->pool->addr_until)
            uhttp_req_connect(r);
        else
            uhttp_dns_resolve(r);
        return;
    }
    uhttp_req_end(r, UHTTP_ETIMEOUT);
}

/* Forget r, keeping it for the next request. */
static void
req_free(struct uhttp_req *r)
{
    struct uhttp *u = r->u;
    evtimer_del(r->timer);
    uhttp_resp_free(&r->resp);
    if (u->nfree >= FREE_REQS_MAX) {
        event_free(r->timer);
        free(r);
        return;
    }
    r->next_free = u->free_reqs;
    u->free_reqs = r;
    u->nfree++;
}

void
uhttp_req_end(struct uhttp_req *r, enum uhttp_error e)
{
    uhttp_dns_cancel(r);
    conn_release(r, e == UHTTP_OK && r->resp.keep_alive);
    evtimer_del(r->timer);
    r->done(r->arg, e);
    req_free(r);
}

struct uhttp_req *
uhttp_start(struct uhttp *u, const struct uhttp_call *c, const struct uhttp_resp_cb *cb,
            void (*done)(void *arg, enum uhttp_error e), void *arg)
{
    struct uhttp_req *r = u->free_reqs;
    if (r != NULL) {
        u->free_reqs = r->next_free;
        u->nfree--;
        struct event *timer = r->timer;
        memset(r, 0, sizeof(*r));
        r->timer = timer;
    } else {
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return NULL;
        if ((r->timer = evtimer_new(u->base, timer_cb, r)) == NULL) {
            free(r);
            return NULL;
        }
    }
    r->u = u;
    r->c = *c;
    r->cb = cb;
    r->done = done;
    r->arg = arg;
    uhttp_resp_init(&r->resp, cb, arg);
    int64_t now = now_mono_ms();
    r->connect_until = now + c->connect_ms;
    r->total_until = now + c->total_ms;
    struct uhttp_url url;
    if (uhttp_url_split(c->url, &url) < 0 ||
        (r->pool = uhttp_pool_get(u, url.tls, url.host, url.hostlen, url.port)) == NULL) {
        r->fail = UHTTP_EURL;
        event_active(r->timer, EV_TIMEOUT, 1);
        return r;
    }
    r->path = url.path;
    if ((r->conn = uhttp_pool_take(r->pool)) != NULL) {
        struct timeval tv = tv_ms(c->total_ms);
        r->conn->req = r;
        evtimer_add(r->timer, &tv);
        req_send(r);
        return r;
    }
    r->opening = 1;
    event_active(r->timer, EV_TIMEOUT, 1);
    return r;
}

void
uhttp_cancel(struct uhttp_req *r)
{
    uhttp_dns_cancel(r);
    conn_release(r, 0);
    req_free(r);
}

void
uhttp_resume(struct uhttp_req *r)
{
    if (!r->paused || r->conn == NULL)
        return;
    r->paused = 0;
    uhttp_resp_resume(&r->resp);
    uhttp_conn_reading(r->conn, 1);
    /* what is already read goes on the next loop turn, not inside the caller */
    if (evbuffer_get_length(bufferevent_get_input(r->conn->bev)) > 0)
        bufferevent_trigger(r->conn->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    uhttp_pool_sweep(arg);
}

struct uhttp *
uhttp_new(struct event_base *base, const char *ca_file)
{
    struct uhttp *u = calloc(1, sizeof(*u));
    struct timeval tv = tv_ms(SWEEP_MS);
    if (u == NULL)
        return NULL;
    u->base = base;
    snprintf(u->ca_file, sizeof(u->ca_file), "%s", ca_file ? ca_file : "");
    if ((u->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, u)) == NULL ||
        event_add(u->sweep, &tv) < 0) {
        uhttp_free(u);
        return NULL;
    }
    return u;
}

void
uhttp_trim(struct uhttp *u)
{
    struct uhttp_req *r;
    while ((r = u->free_reqs) != NULL) {
        u->free_reqs = r->next_free;
        event_free(r->timer);
        free(r);
    }
    u->nfree = 0;
}

void
uhttp_free(struct uhttp *u)
{
    if (u == NULL)
        return;
    uhttp_pools_free(u);
    uhttp_trim(u);
    if (u->sweep != NULL)
        event_free(u->sweep);
    if (u->dns != NULL)
        evdns_base_free(u->dns, 1);
    SSL_CTX_free(u->ctx);
    free(u);
}
