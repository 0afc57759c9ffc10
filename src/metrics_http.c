/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_http.c: GET /metrics on the master's event loop (the http.c
 * server, on metrics.listen), in Prometheus text format 0.0.4.
 *
 * A scrape asks no worker anything: what workers count is already summed in
 * shared memory (metrics.c), and the rest is the master's own knowledge:
 * the configuration version and time (LMDB meta), the breakers of the
 * configured targets (shared memory, as GET /admin/v1/status reads them),
 * requests in flight (the workers' entries), etcd's state.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "aigw/conf.h"
#include "log.h"
#include "aigw/resource.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "breaker.h"
#include "etcdsync.h"
#include "http.h"
#include "metrics.h"
#include "metrics_http.h"

#define METRICS_CTYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct http_server *http;
    const struct conf *conf;
    struct shm *shm;
    struct store *store;
    struct etcdsync *etcd; /* NULL in standalone mode */
};

/* One model's breakers: 1 while open or half open (probing), else 0. */
static int
breaker_lines(const struct model_view *v, void *arg)
{
    struct metrics_http *mh = ((void **)arg)[0];
    struct evbuffer *out = ((void **)arg)[1];
    int64_t now = now_mono_ms();
    if (v->breaker_failures <= 0)
        return 0;
    for (int i = 0; i < v->ntargets; i++) {
        struct breaker_info bi;
        breaker_peek(shm_find(mh->shm, SHM_KIND_BREAKER, v->id, v->t[i].name), now, &bi);
        evbuffer_add(out, "aigw_breaker_open{model=\"", 25);
        metrics_label_value(out, v->name);
        evbuffer_add(out, "\",target=\"", 10);
        metrics_label_value(out, v->t[i].name);
        evbuffer_add_printf(out, "\"} %d\n", bi.state != BREAKER_CLOSED);
    }
    return 0;
}

/* Requests in flight: the sum over the workers' entries. */
static int64_t
active_requests(struct shm *shm)
{
    int64_t n = 0;
    for (int i = 0; i < shm_worker_cap(shm); i++) {
        struct shm_worker *w = shm_worker(shm, i);
        if (atomic_load_explicit(&w->pid, memory_order_relaxed) == 0)
            continue;
        n += atomic_load_explicit(&w->in_flight, memory_order_relaxed);
    }
    return n < 0 ? 0 : n;
}

/* The master's own families: configuration, breakers, workers, build. */
static void
render_node(struct metrics_http *mh, struct evbuffer *out)
{
    struct store_meta meta = {0};
    void *arg[2] = {mh, out};
    metrics_family(out, "aigw_breaker_open", "gauge",
                   "1 while the circuit breaker of a model's target is open or half open.");
    if (store_read_begin(mh->store) == 0) {
        store_meta_get(mh->store, &meta);
        store_models_foreach(mh->store, breaker_lines, arg);
        store_read_end(mh->store);
    }
    metrics_family(out, "aigw_active_requests", "gauge",
                   "Client requests in flight on every worker of this node.");
    metrics_sample(out, "aigw_active_requests", NULL, NULL, (double)active_requests(mh->shm));
    metrics_family(out, "aigw_config_version", "gauge",
                   "Version of the configuration table (bumped by every change).");
    metrics_sample(out, "aigw_config_version", NULL, NULL, (double)meta.version);
    metrics_family(out, "aigw_config_last_change_timestamp_seconds", "gauge",
                   "Unix time of the last configuration change: when aigw_config_version was "
                   "committed.");
    metrics_sample(out, "aigw_config_last_change_timestamp_seconds", NULL, NULL,
                   (double)meta.updated_ms / 1000.0);
    if (mh->etcd != NULL) {
        metrics_family(out, "aigw_etcd_connected", "gauge",
                       "1 when the last exchange with etcd succeeded (etcd mode only).");
        metrics_sample(out, "aigw_etcd_connected", NULL, NULL, etcdsync_connected(mh->etcd));
        metrics_family(out, "aigw_etcd_identity_mismatch", "gauge",
                       "1 while etcd is not the cluster or revision the table came from and "
                       "its state is not applied (aigwctl etcd accept).");
        metrics_sample(out, "aigw_etcd_identity_mismatch", NULL, NULL,
                       etcdsync_identity_mismatch(mh->etcd));
    }
    metrics_family(out, "aigw_build_info", "gauge", "aigw's version; the value is always 1.");
    metrics_sample(out, "aigw_build_info", "version", PACKAGE_VERSION, 1);
}

/* GET /metrics; 404 elsewhere, 405 for other methods. */
/* Nothing here takes a body: refused before it is read. */
static int
metrics_precheck(struct http_req *r, void *arg, struct http_refusal *f)
{
    (void)r;
    (void)arg;
    f->allow = "GET";
    return http_refuse(f, 405, "invalid_request_error", "method_not_allowed",
                       "The metrics listener takes no request body: use GET");
}

static void
metrics_handle(struct http_req *r, void *arg)
{
    struct metrics_http *mh = arg;
    if (strcmp(http_req_path(r), "/metrics") != 0) {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown URL: %s (try /metrics)", http_req_path(r));
        return;
    }
    if (http_req_method(r) != HTTP_M_GET) {
        http_resp_header(r, "Allow", "GET");
        http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "Method not allowed for /metrics: use GET");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        return;
    }
    metrics_render(mh->shm, out);
    render_node(mh, out);
    metrics_proc_render(mh->shm, out);
    size_t len = evbuffer_get_length(out);
    http_reply(r, 200, METRICS_CTYPE, evbuffer_pullup(out, -1), len);
    evbuffer_free(out);
}

struct metrics_http *
metrics_http_start(struct event_base *base, const struct conf *c, struct shm *shm,
                   struct store *store, struct etcdsync *etcd, const int *fds, int nfds)
{
    struct metrics_http *mh = calloc(1, sizeof(*mh));
    if (mh == NULL)
        return NULL;
    mh->conf = c;
    mh->shm = shm;
    mh->store = store;
    mh->etcd = etcd;
    if ((mh->http = http_server_new(base, c, metrics_handle, mh)) == NULL) {
        free(mh);
        return NULL;
    }
    /* no request-end hook: a scrape every few seconds is worth neither an access line nor a count
     */
    http_server_set_precheck(mh->http, metrics_precheck);
    for (int i = 0; i < nfds; i++)
        if (http_server_listen_fd(mh->http, fds[i]) < 0) {
            log_warn("metrics: cannot accept on fd %d", fds[i]);
            metrics_http_free(mh);
            return NULL;
        }
    return mh;
}

void
metrics_http_drain(struct metrics_http *mh)
{
    if (mh != NULL)
        http_server_drain(mh->http);
}

void
metrics_http_free(struct metrics_http *mh)
{
    if (mh == NULL)
        return;
    http_server_free(mh->http);
    free(mh);
}

struct http_server *
metrics_http_server(struct metrics_http *mh)
{
    return mh->http;
}
