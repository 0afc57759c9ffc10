/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upstream.c: libcurl multi-socket glue for the worker's event loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to call it
 * back (timer callback); we never call libcurl from inside those callbacks,
 * only from libevent's. Finished transfers are collected after every
 * curl_multi_socket_action.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "aigw/util.h"
#include "upstream.h"

#define EASY_POOL_MAX 256

struct upstream {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    int running;
    CURL *pool[EASY_POOL_MAX];
    int npool;
    int in_action; /* inside curl_multi_socket_action */
};

struct usock {
    struct upstream *u;
    curl_socket_t fd;
    struct event *ev;
};

/* Hand every finished transfer to its owner. */
static void
check_done(struct upstream *u)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct upstream_xfer *x = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(u->multi, m->easy_handle);
        if (x != NULL) {
            x->running = 0;
            x->done(x, rc);
        }
    }
}

static void
socket_action(struct upstream *u, curl_socket_t fd, int flags)
{
    u->in_action = 1;
    curl_multi_socket_action(u->multi, fd, flags, &u->running);
    u->in_action = 0;
    check_done(u);
}

static void
event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct upstream *u = arg;
    int flags = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    socket_action(u, fd, flags);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arm our timer here. */
static int
curl_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct upstream *u = arg;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = tv_ms(timeout_ms);
    evtimer_add(u->timer, &tv);
    return 0;
}

/* CURLMOPT_SOCKETFUNCTION: watch the socket for what curl asks. */
static int
curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct upstream *u = arg;
    struct usock *s = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            event_free(s->ev);
            free(s);
            curl_multi_assign(u->multi, fd, NULL);
        }
        return 0;
    }
    short kind =
        (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST;
    if (s == NULL) {
        if ((s = calloc(1, sizeof(*s))) == NULL ||
            (s->ev = event_new(u->base, fd, kind, event_cb, u)) == NULL) {
            free(s);
            return -1;
        }
        s->u = u;
        s->fd = fd;
        curl_multi_assign(u->multi, fd, s);
    } else {
        /* Same struct event, new interest: with the base's changelist this is one epoll_ctl. */
        event_del(s->ev);
        event_assign(s->ev, u->base, fd, kind, event_cb, u);
    }
    event_add(s->ev, NULL);
    return 0;
}

struct upstream *
upstream_new(struct event_base *base)
{
    struct upstream *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->base = base;
    u->multi = curl_multi_init();
    u->timer = evtimer_new(base, timer_cb, u);
    if (u->multi == NULL || u->timer == NULL) {
        upstream_free(u);
        return NULL;
    }
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    /* Idle upstream connections kept for reuse. */
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 1024L);
    return u;
}

void
upstream_free(struct upstream *u)
{
    if (u == NULL)
        return;
    for (int i = 0; i < u->npool; i++)
        curl_easy_cleanup(u->pool[i]);
    if (u->multi != NULL)
        curl_multi_cleanup(u->multi);
    if (u->timer != NULL)
        event_free(u->timer);
    free(u);
}

CURL *
upstream_easy_get(struct upstream *u)
{
    if (u->npool > 0)
        return u->pool[--u->npool];
    return curl_easy_init();
}

void
upstream_easy_put(struct upstream *u, CURL *easy)
{
    if (easy == NULL)
        return;
    if (u->npool == EASY_POOL_MAX) {
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_reset(easy);
    u->pool[u->npool++] = easy;
}

int
upstream_start(struct upstream *u, struct upstream_xfer *x)
{
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    CURLMcode rc = curl_multi_add_handle(u->multi, x->easy);
    if (rc != CURLM_OK) {
        log_warnx("curl_multi_add_handle: %s", curl_multi_strerror(rc));
        return -1;
    }
    x->running = 1;
    return 0;
}

void
upstream_cancel(struct upstream *u, struct upstream_xfer *x)
{
    if (!x->running)
        return;
    x->running = 0;
    curl_multi_remove_handle(u->multi, x->easy);
}

void
upstream_resume(struct upstream *u, struct upstream_xfer *x)
{
    if (x->running)
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
}

int
upstream_running(const struct upstream *u)
{
    return u->running;
}
