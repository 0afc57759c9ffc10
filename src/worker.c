/* SPDX-License-Identifier: Apache-2.0 */
/*
 * worker.c: a worker process. Started by fork+exec from the master, so it
 * owns a fresh LMDB environment and event base (neither may cross fork()).
 * It serves client connections until SIGTERM, then drains.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "access.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "http.h"
#include "memtrim.h"
#include "evwarm.h"
#include "metrics.h"
#include "proxy.h"
#include "uhttp.h"
#include "worker.h"
#include "conftls.h"
#include "tls.h"
#include "tls_ticket.h"

struct worker {
    int slot;
    struct conf conf;
    struct event_base *base;
    struct store *store;
    struct shm *shm;
    struct shm_worker *stats; /* this worker's entry in shared memory */
    struct uhttp *up; /* the upstream client (keep-alive pools) */
    struct proxy *px;
    struct http_server *http;
    struct event *sig_term, *sig_int, *sig_quit, *sig_hup, *sig_usr1, *drain_tick, *table_tick;
    int draining;
    int table_short; /* data.mdb was cut short: stopped, exit status 1 */
    int64_t drain_deadline_ms;
    struct memtrim trim; /* heap given back after a fall in load */
};

/* Read the configuration tree the master wrote into conf_fd. */
static struct json_object *
read_conf_fd(int fd)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ssize_t n;
    /* pread: every worker shares this open file, and so its offset. */
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        n = pread(fd, buf + len, cap - len - 1, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    struct json_object *o = NULL;
    if (buf != NULL) {
        buf[len] = '\0';
        o = json_tokener_parse(buf);
        explicit_bzero(buf, len); /* may hold secrets */
    }
    free(buf);
    return o;
}

/* Check every 50 ms whether the drain is over. */
static void
drain_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval tv = tv_ms(50);
    int64_t now = now_mono_ms();
    if (http_server_nconns(w->http) == 0 && proxy_inflight(w->px) == 0) {
        event_base_loopbreak(w->base);
        return;
    }
    if (now >= w->drain_deadline_ms) {
        log_warnx("drain timeout: ending %d requests still in flight", proxy_inflight(w->px));
        proxy_abort_all(w->px);
        event_base_loopbreak(w->base);
        return;
    }
    evtimer_add(w->drain_tick, &tv);
}

/* SIGTERM/SIGINT: stop accepting, let in-flight requests finish (timeouts.drain). */
static void
sig_drain_cb(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    if (w->draining)
        return;
    w->draining = 1;
    if (w->stats != NULL)
        atomic_store(&w->stats->state, SHM_W_DRAINING);
    w->drain_deadline_ms = now_mono_ms() + w->conf.drain_timeout_ms;
    log_debug("draining: %d connections, %d upstream requests", http_server_nconns(w->http),
              proxy_inflight(w->px));
    http_server_drain(w->http);
    drain_tick_cb(-1, 0, w);
}

/* SIGQUIT: stop now. */
static void
sig_quit_cb(evutil_socket_t sig, short what, void *arg)
{
    struct worker *w = arg;
    proxy_abort_all(w->px);
    event_base_loopbreak(w->base);
}

/*
 * The table's version, in this worker's entry (aigw_worker_config_version):
 * each request's lookup stores the version it read; this keeps an idle
 * worker's entry at most a tick behind the table, for one short read.
 */
static void
note_config_version(struct worker *w)
{
    struct store_meta meta;
    if (w->stats == NULL || store_read_begin(w->store) < 0)
        return;
    store_meta_get(w->store, &meta);
    store_read_end(w->store);
    atomic_store_explicit(&w->stats->config_version, meta.version, memory_order_relaxed);
}

/*
 * Every second: is data.mdb still as long as its header says? A file cut
 * short while we run has lost its records, and reading one would be SIGBUS:
 * stop at once, saying why (the master stops aigw too). A removed or
 * replaced file is the master's to report: its mapped pages stay valid.
 * Then note the configuration version (note_config_version), and give
 * freed heap back if the connection count fell a lot (memtrim.h).
 */
static void
table_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct timeval tv = tv_ms(1000);
    if (store_check(w->store) != STORE_FILE_SHORT) {
        note_config_version(w);
        if (memtrim_due(&w->trim, http_server_nconns(w->http) + proxy_inflight(w->px))) {
            uhttp_trim(w->up); /* the requests it keeps for reuse, made under the load */
            memtrim_release(&w->trim);
        }
        evtimer_add(w->table_tick, &tv);
        return;
    }
    log_warnx("LMDB: %s: this worker stops now", store_problem(w->store));
    w->table_short = 1;
    sig_quit_cb(-1, 0, w);
}

/* SIGUSR1 (from the master): reopen the log files after rotation. */
static void
sig_reopen_cb(evutil_socket_t sig, short what, void *arg)
{
    if (log_reopen() < 0)
        log_warn("reopening the logs");
}

static void
sig_ignore_cb(evutil_socket_t sig, short what, void *arg)
{
}

/*
 * Logs where aigw.yaml says, metrics into the shared memory. The master
 * starts workers with SIGUSR1 blocked, so one sent before its handler is in
 * place waits instead of killing the worker: unblock it now.
 */
static void
worker_obs_start(struct worker *w, int foreground)
{
    sigset_t usr1;
    if (log_open(w->conf.error_log, w->conf.access_log, foreground) < 0)
        log_warnx("logging where it went so far");
    metrics_attach(w->shm);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &usr1, NULL);
}

/*
 * Accept on fd, the i-th listener of the configuration; an HTTPS one gets
 * its SSL_CTX built here, in this process, from the tree (tls.c).
 */
static int
worker_listen(struct http_server *http, struct json_object *tree, const struct conf_listen *l,
              int i, int fd)
{
    char err[PATH_MAX + 256];
    struct tls_server *tls = NULL;
    if (l->tls) {
        if ((tls = tls_server_new(conftls_node(tree, "listen", i), l->text, err, sizeof(err))) ==
            NULL) {
            log_warnx("listen %s: %s", l->text, err);
            return -1;
        }
    }
    if (http_server_listen_fd_tls(http, fd, tls) < 0) {
        tls_server_free(tls);
        log_warn("listen %s: cannot accept on fd %d", l->text, fd);
        return -1;
    }
    return 0;
}

/* A listener's sockets: one, or more after a reload to fewer workers (master_sock.c). */
#define WORKER_MAX_SOCKETS (CONF_MAX_LISTEN * 256)

/* Parse "slot:generation:conf_fd:shm_fd:fd,fd" */
/*
 * A group per listener, in the configuration's order, each one fd or
 * several ("3+4", master_sock.c): fds gets them all, grp[i] how many
 * listener i has, *ngrp the listeners.
 */
static int
parse_spec(const char *spec, int *slot, uint64_t *gen, int *conf_fd, int *shm_fd, int *fds,
           int *grp, int *ngrp)
{
    char *end;
    int nfds = 0;
    *slot = (int)strtol(spec, &end, 10);
    if (*end != ':')
        return -1;
    *gen = strtoull(end + 1, &end, 10);
    if (*end != ':')
        return -1;
    *conf_fd = (int)strtol(end + 1, &end, 10);
    if (*end != ':')
        return -1;
    *shm_fd = (int)strtol(end + 1, &end, 10);
    if (*end != ':')
        return -1;
    *ngrp = 0;
    for (const char *p = end + 1; *p;) {
        if (*ngrp == CONF_MAX_LISTEN)
            return -1;
        grp[(*ngrp)++] = 0;
        do {
            if (nfds == WORKER_MAX_SOCKETS)
                return -1;
            fds[nfds++] = (int)strtol(p, &end, 10);
            grp[*ngrp - 1]++;
            p = end + (*end == '+');
        } while (*end == '+');
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return -1;
        p = end;
    }
    return *ngrp > 0 ? 0 : -1;
}

static void
worker_free(struct worker *w)
{
    if (w->px)
        proxy_free(w->px);
    if (w->http)
        http_server_free(w->http);
    if (w->up)
        uhttp_free(w->up);
    struct event *evs[] = {w->sig_term, w->sig_int, w->sig_quit, w->sig_hup, w->sig_usr1,
                           w->drain_tick, w->table_tick};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (w->base)
        event_base_free(w->base);
    store_close(w->store);
    metrics_detach();
    shm_free(w->shm);
}

int
worker_main(const char *spec, const char *conf_path, int foreground)
{
    struct worker w;
    struct aigw_errors e;
    static int fds[WORKER_MAX_SOCKETS];
    int conf_fd, shm_fd, grp[CONF_MAX_LISTEN], ngrp;
    char ident[32];

    memset(&w, 0, sizeof(w));
    /* If the master dies, so do we: workers must never outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        return 1;
    uint64_t gen;
    if (parse_spec(spec, &w.slot, &gen, &conf_fd, &shm_fd, fds, grp, &ngrp) < 0)
        fatalx("bad worker spec \"%s\"", spec);
    snprintf(ident, sizeof(ident), "worker %d", w.slot);
    log_init(foreground, LOG_LVL_INFO, ident);
    signal(SIGPIPE, SIG_IGN);

    struct json_object *tree = read_conf_fd(conf_fd);
    close(conf_fd);
    errors_init(&e, conf_path);
    snprintf(w.conf.path, sizeof(w.conf.path), "%s", conf_path);
    if (tree == NULL || conf_from_json(&w.conf, tree, &e) < 0) {
        errors_print(&e, stderr);
        fatalx("cannot read the configuration from the master");
    }
    log_set_level(w.conf.log_level);
    if ((w.shm = shm_attach(shm_fd, w.slot)) == NULL)
        fatalx("cannot map the shared memory");
    close(shm_fd); /* the mapping stays */
    metrics_attach(w.shm); /* before the listeners: an HTTPS one records its certificates' expiry */
    tls_ticket_init(w.shm); /* the master's session ticket keys */

    w.store = store_open(w.conf.data_dir, w.conf.lmdb_map_size, (unsigned)w.conf.lmdb_max_readers,
                         STORE_RDONLY, &e);
    if (w.store == NULL) {
        char *msg = errors_join(&e);
        fatalx("%s", msg ? msg : "cannot open the configuration store");
    }
    errors_free(&e);

    /* The changelist folds a del+add of one fd in one loop turn into one epoll_ctl. */
    struct event_config *cfg = event_config_new();
    if (cfg != NULL)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w.base = cfg ? event_base_new_with_config(cfg) : NULL;
    if (cfg != NULL)
        event_config_free(cfg);
    if (w.base == NULL || (w.up = uhttp_new(w.base, w.conf.upstream_ca_file)) == NULL ||
        (w.px = proxy_new(w.base, &w.conf, w.store, w.up, w.shm)) == NULL ||
        (w.http = http_server_new(w.base, &w.conf, proxy_handle, w.px)) == NULL)
        fatalx("out of memory setting up the worker");
    /* libevent's entry of every descriptor a full worker uses, made now, side by side */
    log_debug("%d descriptor numbers made ready",
              evwarm(w.base, 2 * w.conf.max_connections + 64));
    /* the access line and the request metrics; the proxy's memo of the precheck */
    access_attach(w.http, ACCESS_CLIENT, proxy_memo_size());
    http_server_set_precheck(w.http, proxy_precheck);
    if (ngrp != w.conf.nlisten)
        fatalx("%d listeners from the master for %d in the configuration", ngrp, w.conf.nlisten);
    /* group i is listen[i]: the master opens (or keeps) them in the configuration's order */
    int nfds = 0;
    for (int i = 0; i < ngrp; i++)
        for (int j = 0; j < grp[i]; j++)
            if (worker_listen(w.http, tree, &w.conf.listen[i], i, fds[nfds++]) < 0)
                fatalx("cannot serve %s", w.conf.listen[i].text);
    json_object_put(tree);
    /* Tell the master (and aigwctl status) we serve: a reload waits for this. */
    if ((w.stats = shm_worker(w.shm, w.slot)) == NULL)
        fatalx("worker slot %d is beyond the shared memory's capacity", w.slot);
    http_server_set_counters(w.http, &w.stats->requests, &w.stats->in_flight);
    http_server_set_error_route(w.http, proxy_error_route);
    atomic_store(&w.stats->pid, (int32_t)getpid());
    atomic_store(&w.stats->generation, gen);
    atomic_store(&w.stats->started_ms, now_real_ms());
    note_config_version(&w);
    atomic_store(&w.stats->state, SHM_W_RUNNING);

    w.sig_term = evsignal_new(w.base, SIGTERM, sig_drain_cb, &w);
    w.sig_int = evsignal_new(w.base, SIGINT, sig_drain_cb, &w);
    w.sig_quit = evsignal_new(w.base, SIGQUIT, sig_quit_cb, &w);
    w.sig_hup = evsignal_new(w.base, SIGHUP, sig_ignore_cb, &w);
    w.sig_usr1 = evsignal_new(w.base, SIGUSR1, sig_reopen_cb, &w);
    w.drain_tick = evtimer_new(w.base, drain_tick_cb, &w);
    w.table_tick = evtimer_new(w.base, table_tick_cb, &w);
    struct timeval table_tv = tv_ms(1000);
    if (w.table_tick == NULL || evtimer_add(w.table_tick, &table_tv) < 0)
        fatalx("out of memory setting up the worker");
    evsignal_add(w.sig_usr1, NULL);
    evsignal_add(w.sig_term, NULL);
    evsignal_add(w.sig_int, NULL);
    evsignal_add(w.sig_quit, NULL);
    evsignal_add(w.sig_hup, NULL);
    worker_obs_start(&w, foreground);

    log_debug("serving on %d listeners", nfds);
    event_base_dispatch(w.base);
    int rv = w.table_short;
    worker_free(&w);
    return rv;
}
