/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_dns.c: host names of upstreams, resolved without blocking the
 * worker's loop (evdns, reading /etc/resolv.conf and /etc/hosts once), the
 * addresses kept in the pool for UHTTP_DNS_TTL_MS. IP addresses never get
 * here (uhttp_pool.c). Each request whose pool has no fresh addresses asks
 * for itself; a cancelled request's question is cancelled with it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "log.h"
#include "aigw/util.h"
#include "uhttp_priv.h"

/* The answer: keep its addresses (IPv4 first, as they came otherwise) and connect. */
static void
dns_cb(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct uhttp_dnsq *dq = arg;
    struct uhttp_req *r = dq->req;
    /* an answer from inside evdns_getaddrinfo: uhttp_dns_resolve frees dq */
    int sync = r != NULL && r->u->dns_calling == dq;
    if (sync)
        r->u->dns_sync = 1;
    if (r == NULL) { /* the request was cancelled or ended */
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        free(dq);
        return;
    }
    r->dnsq = NULL;
    if (!sync)
        free(dq);
    struct uhttp_pool *p = r->pool;
    if (err != 0 || ai == NULL) {
        log_debug("upstream %s: cannot resolve: %s", p->host, evutil_gai_strerror(err));
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        uhttp_req_end(r, UHTTP_ERESOLVE);
        return;
    }
    p->naddr = 0;
    for (int fam = 0; fam < 2; fam++)
        for (struct evutil_addrinfo *a = ai; a != NULL && p->naddr < UHTTP_MAX_ADDRS;
             a = a->ai_next) {
            if ((fam == 0) != (a->ai_family == AF_INET) || a->ai_addrlen > sizeof(p->addr[0]))
                continue;
            memcpy(&p->addr[p->naddr], a->ai_addr, a->ai_addrlen);
            p->addrlen[p->naddr++] = (socklen_t)a->ai_addrlen;
        }
    evutil_freeaddrinfo(ai);
    if (p->naddr == 0) {
        uhttp_req_end(r, UHTTP_ERESOLVE);
        return;
    }
    p->addr_until = now_mono_ms() + UHTTP_DNS_TTL_MS;
    uhttp_req_connect(r);
}

void
uhttp_dns_resolve(struct uhttp_req *r)
{
    struct uhttp *u = r->u;
    struct uhttp_pool *p = r->pool;
    struct evutil_addrinfo hints;
    char port[8];
    struct uhttp_dnsq *dq;
    if (u->dns == NULL &&
        (u->dns = evdns_base_new(u->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                              EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
        log_warnx("upstream client: cannot set up name resolution");
        uhttp_req_end(r, UHTTP_ERESOLVE);
        return;
    }
    if ((dq = calloc(1, sizeof(*dq))) == NULL) {
        uhttp_req_end(r, UHTTP_ENOMEM);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%d", p->port);
    dq->req = r;
    r->dnsq = dq;
    /* the answer may come at once (from /etc/hosts): r may be gone when this returns */
    u->dns_calling = dq;
    u->dns_sync = 0;
    struct evdns_getaddrinfo_request *q =
        evdns_getaddrinfo(u->dns, p->host, port, &hints, dns_cb, dq);
    u->dns_calling = NULL;
    if (u->dns_sync)
        free(dq);
    else
        dq->q = q;
}

void
uhttp_dns_cancel(struct uhttp_req *r)
{
    struct uhttp_dnsq *dq = r->dnsq;
    if (dq == NULL)
        return;
    r->dnsq = NULL;
    dq->req = NULL; /* dns_cb frees it, now or later */
    if (dq->q != NULL)
        evdns_getaddrinfo_cancel(dq->q);
}
