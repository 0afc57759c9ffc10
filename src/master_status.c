/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_status.c: what the master tells about itself and its workers, for
 * GET /admin/v1/status and `aigwctl status` (one function, so both say the
 * same).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/resource.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "breaker.h"
#include "etcdsync.h"
#include "master_priv.h"

static void master_status_traffic(struct master *m, struct json_object *o);

/* Unix ms as RFC 3339 (UTC, ms). */
static struct json_object *
time_json(int64_t ms)
{
    char buf[40];
    if (ms <= 0)
        return NULL;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
    return json_object_new_string(buf);
}

static const char *
worker_state(const struct wslot *w, const struct shm_worker *sw)
{
    if (w->pid == 0)
        return "restarting";
    if (w->draining)
        return "draining";
    switch (sw ? atomic_load(&((struct shm_worker *)sw)->state) : SHM_W_STARTING) {
    case SHM_W_RUNNING:
        return "running";
    case SHM_W_DRAINING:
        return "draining";
    default:
        return "starting";
    }
}

static struct json_object *
workers_json(struct master *m)
{
    struct json_object *ws = json_object_new_array();
    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        struct wslot *w = &m->workers[i];
        if (!w->used)
            continue;
        struct shm_worker *sw = shm_worker(m->shm, i);
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "slot", json_object_new_int(i));
        json_object_object_add(o, "pid", json_object_new_int((int)w->pid));
        json_object_object_add(o, "state", json_object_new_string(worker_state(w, sw)));
        json_object_object_add(o, "generation", json_object_new_int64((int64_t)w->gen));
        json_object_object_add(o, "requests",
                               json_object_new_int64(sw ? (int64_t)atomic_load(&sw->requests) : 0));
        json_object_object_add(o, "in_flight",
                               json_object_new_int64(sw ? atomic_load(&sw->in_flight) : 0));
        json_object_object_add(o, "started_at",
                               time_json(sw && w->pid ? atomic_load(&sw->started_ms) : 0));
        /* a worker that keeps failing to start: how often, why, and the next try */
        json_object_object_add(o, "failed_starts", json_object_new_int(w->fails));
        json_object_object_add(o, "last_failure",
                               w->fails > 0 ? json_object_new_string(w->why) : NULL);
        int64_t left = w->pid == 0 && w->retry_at_ms > 0 ? w->retry_at_ms - now_mono_ms() : -1;
        json_object_object_add(o, "restart_in_ms", left >= 0 ? json_object_new_int64(left) : NULL);
        json_object_array_add(ws, o);
    }
    return ws;
}

void
master_status(struct master *m, struct json_object *o)
{
    struct store_meta meta;
    memset(&meta, 0, sizeof(meta));
    if (store_read_begin(m->store) == 0) {
        store_meta_get(m->store, &meta);
        store_read_end(m->store);
    }
    json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "master_pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(o, "started_at", time_json(m->started_real_ms));
    json_object_object_add(o, "uptime_seconds",
                           json_object_new_int64((now_real_ms() - m->started_real_ms) / 1000));
    json_object_object_add(
        o, "mode", json_object_new_string(m->conf->etcd_nendpoints ? "etcd" : "standalone"));
    struct json_object *c = json_object_new_object();
    json_object_object_add(c, "version", json_object_new_int64((int64_t)meta.version));
    json_object_object_add(c, "source", json_object_new_string(meta.source));
    json_object_object_add(c, "updated_at", time_json(meta.updated_ms));
    json_object_object_add(c, "file", json_object_new_string(m->conf->path));
    json_object_object_add(o, "config", c);
    json_object_object_add(o, "generation",
                           json_object_new_int64((int64_t)(m->cur ? m->cur->id : 0)));
    json_object_object_add(o, "workers", workers_json(m));
    json_object_object_add(o, "worker_restarts",
                           json_object_new_int64((int64_t)m->worker_restarts));
    if (m->last_reload_ms > 0) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "at", time_json(m->last_reload_ms));
        json_object_object_add(r, "ok", json_object_new_boolean(m->last_reload_ok));
        if (!m->last_reload_ok)
            json_object_object_add(r, "error", json_object_new_string(m->last_reload_error));
        json_object_object_add(o, "last_reload", r);
    } else {
        json_object_object_add(o, "last_reload", NULL);
    }
    json_object_object_add(o, "reloading", json_object_new_boolean(m->next != NULL));
    if (m->etcd != NULL)
        etcdsync_status(m->etcd, o);
    master_status_traffic(m, o);
}

/* GET /admin/v1/status. */
void
master_admin_status(struct json_object *o, void *arg)
{
    master_status(arg, o);
}

/* One model's breakers for the status page: only targets that have an entry. */
static int
status_breakers(const struct model_view *v, void *arg)
{
    struct master *m = ((void **)arg)[0];
    struct json_object *list = ((void **)arg)[1];
    int64_t now = now_mono_ms();
    if (v->breaker_failures <= 0)
        return 0;
    for (int i = 0; i < v->ntargets; i++) {
        struct breaker_info bi;
        breaker_peek(shm_find(m->shm, SHM_KIND_BREAKER, v->id, v->t[i].name), now, &bi);
        struct json_object *b = json_object_new_object();
        json_object_object_add(b, "model", json_object_new_string(v->name));
        json_object_object_add(b, "model_id", json_object_new_string(v->id));
        json_object_object_add(b, "target", json_object_new_string(v->t[i].name));
        json_object_object_add(b, "state", json_object_new_string(breaker_state_name(bi.state)));
        json_object_object_add(b, "failures", json_object_new_int64(bi.failures));
        json_object_object_add(b, "trips", json_object_new_int64(bi.trips));
        json_object_object_add(b, "retry_in_ms", json_object_new_int64(bi.retry_in_ms));
        json_object_array_add(list, b);
    }
    return 0;
}

/* Breakers, the rate limiter and the shared-memory table, for GET /admin/v1/status. */
static void
master_status_traffic(struct master *m, struct json_object *o)
{
    struct json_object *list = json_object_new_array(), *rl = json_object_new_object();
    void *arg[2] = {m, list};
    if (store_read_begin(m->store) == 0) {
        store_models_foreach(m->store, status_breakers, arg);
        store_read_end(m->store);
    }
    json_object_object_add(o, "breakers", list);
    json_object_object_add(
        rl, "backend",
        json_object_new_string(m->conf->rl_backend == RL_BACKEND_REDIS ? "redis" : "local"));
    json_object_object_add(rl, "denied",
                           json_object_new_int64((int64_t)shm_stat(m->shm, SHM_STAT_RL_DENIED)));
    json_object_object_add(rl, "backend_errors",
                           json_object_new_int64((int64_t)shm_stat(m->shm, SHM_STAT_RL_ERRORS)));
    json_object_object_add(o, "ratelimit", rl);
    struct json_object *sh = json_object_new_object();
    json_object_object_add(sh, "slots", json_object_new_int64(shm_nslots(m->shm)));
    json_object_object_add(sh, "used", json_object_new_int64(shm_used(m->shm)));
    json_object_object_add(sh, "full_events",
                           json_object_new_int64((int64_t)shm_stat(m->shm, SHM_STAT_TABLE_FULL)));
    json_object_object_add(o, "shared_memory", sh);
}
