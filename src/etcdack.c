/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdack.c: read-your-writes for the Admin API in etcd mode, master.
 *
 * etcd acknowledges a write before this node's watch brings it back into
 * the LMDB table, so an answer sent at once could be followed by a read
 * (a GET, or a request to the model just created) that does not see it
 * yet. A successful write's answer waits here until the sync has applied
 * the write's revision (the watch's next batch, within milliseconds), or
 * for wait_ms at most (the watch broken: etcd has the write, the answer
 * says so). A failed write is answered at once. Writes are answered in
 * the order etcd acknowledged them, which is the order of their
 * revisions, so one timer (the oldest waiter's) is enough.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "log.h"
#include "aigw/util.h"
#include "etcdack.h"

struct ack_wait {
    TAILQ_ENTRY(ack_wait) entry;
    struct etcdack *a;
    admin_done_cb done;         /* a put, delete or apply ... */
    admin_rollback_cb rollback; /* ... or a rollback */
    void *arg;
    int err, changes;
    int64_t revision;
    int64_t deadline_ms;
    char *msg;
};

struct etcdack {
    struct event_base *base;
    const int64_t *applied;
    int wait_ms;
    struct event *timer;
    TAILQ_HEAD(, ack_wait) waits; /* revisions in order */
};

static void
ack_answer(struct ack_wait *w)
{
    TAILQ_REMOVE(&w->a->waits, w, entry);
    if (w->rollback != NULL)
        w->rollback(w->arg, w->err, w->revision, w->changes, w->msg);
    else
        w->done(w->arg, w->err, w->revision);
    free(w->msg);
    free(w);
}

/* The oldest waiter's deadline, or no timer. */
static void
ack_arm(struct etcdack *a)
{
    struct ack_wait *w = TAILQ_FIRST(&a->waits);
    if (w == NULL) {
        evtimer_del(a->timer);
        return;
    }
    int64_t left = w->deadline_ms - now_mono_ms();
    struct timeval tv = tv_ms(left > 0 ? left : 0);
    evtimer_add(a->timer, &tv);
}

static void
ack_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct etcdack *a = arg;
    struct ack_wait *w;
    int64_t now = now_mono_ms();
    while ((w = TAILQ_FIRST(&a->waits)) != NULL && w->deadline_ms <= now) {
        log_warnx("etcd: revision %lld is not in this node's table after %d ms (the watch "
                  "is behind); answering the Admin API write etcd acknowledged",
                  (long long)w->revision, a->wait_ms);
        ack_answer(w);
    }
    ack_arm(a);
}

struct etcdack *
etcdack_new(struct event_base *base, const int64_t *applied, int wait_ms)
{
    struct etcdack *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->base = base;
    a->applied = applied;
    a->wait_ms = wait_ms;
    TAILQ_INIT(&a->waits);
    if ((a->timer = evtimer_new(base, ack_timeout, a)) == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

void
etcdack_free(struct etcdack *a)
{
    struct ack_wait *w;
    if (a == NULL)
        return;
    while ((w = TAILQ_FIRST(&a->waits)) != NULL)
        ack_answer(w);
    event_free(a->timer);
    free(a);
}

void
etcdack_applied(struct etcdack *a)
{
    struct ack_wait *w;
    if (a == NULL || TAILQ_EMPTY(&a->waits))
        return;
    while ((w = TAILQ_FIRST(&a->waits)) != NULL && w->revision <= *a->applied)
        ack_answer(w);
    ack_arm(a);
}

static struct ack_wait *
ack_new(struct etcdack *a, void *arg)
{
    struct ack_wait *w = calloc(1, sizeof(*w));
    if (w != NULL) {
        w->a = a;
        w->arg = arg;
    }
    return w;
}

void *
etcdack_wrap(struct etcdack *a, admin_done_cb done, void *arg)
{
    struct ack_wait *w = a != NULL ? ack_new(a, arg) : NULL;
    if (w != NULL)
        w->done = done;
    return w;
}

void *
etcdack_wrap_rollback(struct etcdack *a, admin_rollback_cb done, void *arg)
{
    struct ack_wait *w = a != NULL ? ack_new(a, arg) : NULL;
    if (w != NULL)
        w->rollback = done;
    return w;
}

/* The write's outcome: held while it is a success the table does not hold yet. */
static void
ack_outcome(struct ack_wait *w)
{
    struct etcdack *a = w->a;
    TAILQ_INSERT_TAIL(&a->waits, w, entry);
    if (w->err != ADMIN_OK || w->revision <= *a->applied) {
        ack_answer(w);
        return;
    }
    w->deadline_ms = now_mono_ms() + a->wait_ms;
    if (TAILQ_FIRST(&a->waits) == w)
        ack_arm(a);
}

void
etcdack_done(void *arg, int err, int64_t revision)
{
    struct ack_wait *w = arg;
    w->err = err;
    w->revision = revision;
    ack_outcome(w);
}

void
etcdack_rollback_done(void *arg, int err, int64_t revision, int changes, const char *msg)
{
    struct ack_wait *w = arg;
    w->err = err;
    w->revision = revision;
    w->changes = changes;
    w->msg = msg != NULL ? strdup(msg) : NULL;
    ack_outcome(w);
}
