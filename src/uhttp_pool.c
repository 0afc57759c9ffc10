/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_pool.c: the keep-alive pools of the upstream client, one per
 * (scheme, host, port) per worker.
 *
 * An idle connection keeps reading: whatever arrives on it (the upstream
 * closing it, or bytes no request asked for) closes it at once, so that a
 * request is not sent on a connection known to be dead and no liveness
 * check is needed before reuse. One the upstream closes while our request
 * is already on its way is handled by uhttp.c (sent again once, on a fresh
 * connection). Idle connections older than UHTTP_IDLE_MS are closed, both
 * by a sweep and when a request would take them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "aigw/util.h"
#include "uhttp_priv.h"
#include "uhttp_url.h"

/* Fill p's address when its host is an IP address. */
static void
pool_numeric(struct uhttp_pool *p)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&p->addr[0];
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&p->addr[0];
    memset(&p->addr[0], 0, sizeof(p->addr[0]));
    if (evutil_inet_pton(AF_INET, p->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p->port);
        p->addrlen[0] = sizeof(*s4);
    } else if (evutil_inet_pton(AF_INET6, p->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p->port);
        p->addrlen[0] = sizeof(*s6);
    } else {
        return;
    }
    p->numeric = 1;
    p->naddr = 1;
    p->addr_until = INT64_MAX;
}

struct uhttp_pool *
uhttp_pool_get(struct uhttp *u, int tls, const char *host, size_t hostlen, int port)
{
    struct uhttp_pool *p;
    for (p = u->pools; p != NULL; p = p->next)
        if (p->port == port && p->tls == tls && strncmp(p->host, host, hostlen) == 0 &&
            p->host[hostlen] == '\0')
            return p;
    if (hostlen >= sizeof(p->host) || (p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->u = u;
    p->tls = tls;
    p->port = port;
    memcpy(p->host, host, hostlen);
    p->host[hostlen] = '\0';
    /* host fits p->host; with [] and ":65535" it fits hosthdr (uhttp_priv.h) */
    uhttp_host_header(tls, p->host, hostlen, port, p->hosthdr, sizeof(p->hosthdr));
    p->hosthdrlen = strlen(p->hosthdr);
    TAILQ_INIT(&p->idle);
    pool_numeric(p);
    p->next = u->pools;
    u->pools = p;
    return p;
}

void
uhttp_pool_drop(struct uhttp_conn *c)
{
    TAILQ_REMOVE(&c->pool->idle, c, link);
    c->pool->nidle--;
    uhttp_conn_close(c);
}

/* Anything on an idle connection (EOF, an error, stray bytes) ends it. */
static void
idle_read_cb(struct bufferevent *bev, void *arg)
{
    uhttp_pool_drop(arg);
}

static void
idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    idle_read_cb(bev, arg);
}

struct uhttp_conn *
uhttp_pool_take(struct uhttp_pool *p)
{
    struct uhttp_conn *c;
    int64_t now = now_mono_ms();
    while ((c = TAILQ_FIRST(&p->idle)) != NULL) {
        TAILQ_REMOVE(&p->idle, c, link);
        p->nidle--;
        if (now - c->idle_since < UHTTP_IDLE_MS)
            return c;
        uhttp_conn_close(c);
    }
    return NULL;
}

void
uhttp_pool_put(struct uhttp_pool *p, struct uhttp_conn *c)
{
    c->req = NULL;
    c->nreq++;
    if (p->nidle >= UHTTP_IDLE_MAX) {
        uhttp_conn_close(c);
        return;
    }
    c->idle_since = now_mono_ms();
    bufferevent_setcb(c->bev, idle_read_cb, NULL, idle_event_cb, c);
    /* reading stays on (it was on for the response): no epoll change between requests */
    uhttp_conn_reading(c, 1);
    TAILQ_INSERT_HEAD(&p->idle, c, link);
    p->nidle++;
}

void
uhttp_pool_sweep(struct uhttp *u)
{
    int64_t now = now_mono_ms();
    for (struct uhttp_pool *p = u->pools; p != NULL; p = p->next) {
        struct uhttp_conn *c;
        /* the oldest are at the tail */
        while ((c = TAILQ_LAST(&p->idle, uhttp_conn_head)) != NULL &&
               now - c->idle_since >= UHTTP_IDLE_MS) {
            TAILQ_REMOVE(&p->idle, c, link);
            p->nidle--;
            uhttp_conn_close(c);
        }
    }
}

void
uhttp_pools_free(struct uhttp *u)
{
    struct uhttp_pool *p, *next;
    for (p = u->pools; p != NULL; p = next) {
        struct uhttp_conn *c;
        next = p->next;
        while ((c = TAILQ_FIRST(&p->idle)) != NULL) {
            TAILQ_REMOVE(&p->idle, c, link);
            uhttp_conn_close(c);
        }
        if (p->sess != NULL)
            SSL_SESSION_free(p->sess);
        free(p);
    }
    u->pools = NULL;
}
