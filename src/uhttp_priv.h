/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_priv.h: what uhttp.c (requests, connections), uhttp_pool.c (the
 * keep-alive pools) and uhttp_dns.c (name resolution) share.
 */
#ifndef AIGW_UHTTP_PRIV_H
#define AIGW_UHTTP_PRIV_H

#include <limits.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/util.h>
#include <openssl/ssl.h>

#include "uhttp.h"

#define UHTTP_MAX_ADDRS 8
#define UHTTP_IDLE_MAX 256     /* idle connections kept per pool */
#define UHTTP_IDLE_MS 60000    /* an idle connection older than this is closed */
#define UHTTP_DNS_TTL_MS 30000 /* a resolved name is used this long */

struct bufferevent;
struct evdns_base;
struct evdns_getaddrinfo_request;

/* The upstreams of one (scheme, host, port): addresses, idle connections, TLS session. */
struct uhttp_pool {
    struct uhttp *u;
    struct uhttp_pool *next;
    int tls;
    int port;
    int numeric;       /* host is an IP address: addr never expires */
    char host[256];    /* without brackets */
    char hosthdr[300]; /* the Host header's value */
    size_t hosthdrlen;
    struct sockaddr_storage addr[UHTTP_MAX_ADDRS];
    socklen_t addrlen[UHTTP_MAX_ADDRS];
    int naddr;
    int64_t addr_until; /* when the resolved addresses expire (monotonic ms) */
    TAILQ_HEAD(uhttp_conn_head, uhttp_conn) idle; /* most recently used first */
    int nidle;
    SSL_SESSION *sess; /* resumed by the next TLS connection */
};

/* One connection to an upstream. */
struct uhttp_conn {
    struct uhttp_pool *pool;
    struct bufferevent *bev; /* once connected */
    evutil_socket_t fd;
    struct event *cev;     /* while connecting */
    struct event *rev;     /* plain TCP: our reads (TLS: the bufferevent's) */
    struct uhttp_req *req; /* NULL while idle */
    TAILQ_ENTRY(uhttp_conn) link;
    int nreq;      /* requests it carried before the current one */
    int handshake; /* TLS handshake under way */
    int64_t idle_since;
};

/* A name resolution in flight: it outlives a cancelled request. */
struct uhttp_dnsq {
    struct uhttp_req *req; /* NULL once the request no longer waits */
    struct evdns_getaddrinfo_request *q;
};

struct uhttp_req {
    struct uhttp *u;
    struct uhttp_pool *pool;
    struct uhttp_conn *conn;
    struct uhttp_dnsq *dnsq;
    struct event *timer; /* connect, then total; also reports errors found in uhttp_start */
    struct uhttp_call c;
    const char *path; /* into c.url */
    const struct uhttp_resp_cb *cb;
    void (*done)(void *arg, enum uhttp_error e);
    void *arg;
    struct uhttp_resp resp;
    int64_t connect_until, total_until;
    int ai;      /* the address being tried */
    int retried; /* already sent again on a fresh connection */
    int paused;
    enum uhttp_error fail; /* reported by the timer */
    int opening;           /* the timer opens a connection (never inside uhttp_start) */
    struct uhttp_req *next_free;
};

struct uhttp {
    struct event_base *base;
    struct evdns_base *dns; /* made at the first name to resolve */
    SSL_CTX *ctx;           /* made at the first TLS connection */
    int ctx_failed;
    char ca_file[PATH_MAX];
    struct uhttp_pool *pools;
    struct event *sweep;
    struct uhttp_req *free_reqs;
    int nfree;
    struct uhttp_dnsq *dns_calling; /* inside evdns_getaddrinfo for it */
    int dns_sync;                   /* ... which answered at once */
};

/* uhttp_pool.c */
struct uhttp_pool *uhttp_pool_get(struct uhttp *u, int tls, const char *host, size_t hostlen,
                                  int port);
/* The most recently used live idle connection (detached from the pool), or NULL. */
struct uhttp_conn *uhttp_pool_take(struct uhttp_pool *p);
/* Keep c for the next request (or close it when the pool is full). */
void uhttp_pool_put(struct uhttp_pool *p, struct uhttp_conn *c);
/* Close idle connections older than UHTTP_IDLE_MS, in every pool. */
void uhttp_pool_sweep(struct uhttp *u);
void uhttp_pools_free(struct uhttp *u);

/* An idle connection that ended or got stray bytes: out of its pool, closed. */
void uhttp_pool_drop(struct uhttp_conn *c);

/* uhttp.c */
void uhttp_conn_close(struct uhttp_conn *c);
/* Read c (the response, or watch it idle), or stop reading it. */
void uhttp_conn_reading(struct uhttp_conn *c, int on);
/* The request's addresses are known: connect to them. */
void uhttp_req_connect(struct uhttp_req *r);
/* End the request with e (done is called). */
void uhttp_req_end(struct uhttp_req *r, enum uhttp_error e);

/* uhttp_dns.c */
/* Resolve r's pool's host, then uhttp_req_connect (or end r with UHTTP_ERESOLVE). */
void uhttp_dns_resolve(struct uhttp_req *r);
/* r no longer waits for its name. */
void uhttp_dns_cancel(struct uhttp_req *r);

#endif
