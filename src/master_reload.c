/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_reload.c: reload, as nginx does it (master). SIGHUP and `aigwctl
 * reload` re-read aigw.yaml and the resources file. A file that doesn't
 * check changes nothing. Otherwise the resources go into LMDB in one
 * transaction, and if aigw.yaml changed, a new generation of workers starts
 * with it; once every one of them serves, the old ones are told to drain
 * (in-flight requests and streams finish) and the reload is answered. If a
 * new worker fails to start, the new generation is stopped and the old one
 * goes on as if nothing happened.
 *
 * Keys the master itself can't change while it runs (where the LMDB file
 * and shared memory live, the Admin API and metrics listeners, etcd, the
 * control socket, the PID file, the error log) keep their running values,
 * for the master and the new workers alike, with a warning naming each and
 * the list in the reload's answer; they apply at the next start or upgrade.
 * Every warning the master logs while a reload runs is in its answer too
 * ("warnings"), so that aigwctl reload shows what the error log says.
 */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "aigw/yamljson.h"
#include "control.h"
#include "master_priv.h"
#include "metrics.h"
#include "jwks.h"
#include "aigw/resfile.h"

struct conf *
master_read_conf(const char *path, struct json_object **tree, struct aigw_errors *e)
{
    struct conf *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    snprintf(c->path, sizeof(c->path), "%s", path);
    *tree = yaml_load_file(path, YAML_SUBST_ENV, e);
    int ok = *tree != NULL && conf_from_json(c, *tree, e) == 0 && e->n == 0;
    if (ok && conf_check_admin(c, e) < 0)
        ok = 0;
    if (!ok) {
        json_object_put(*tree);
        *tree = NULL;
        free(c);
        return NULL;
    }
    return c;
}

/* All messages of e in one string (for the control reply and status). */
static void
join_errors(const struct aigw_errors *e, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < e->n && o + 1 < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "; " : "", e->msgs[i]);
}

/*
 * A key that needs a restart changed: the running value stays, for the
 * master and for the workers alike (the tree they are handed gets it back),
 * or the workers would read one LMDB file while the master writes another.
 * The reload says so: a warning, and the key in the answer's restart_only.
 */
static void
keep_key(struct json_object *ntree, struct json_object *otree, struct json_object *kept,
         const char *key)
{
    log_warnx("reload: %s changed; ignored until aigw restarts: the master and the workers "
              "keep the running value",
              key);
    if (conf_tree_copy_key(ntree, otree, key) < 0)
        log_warnx("reload: cannot keep the running value of %s for the new workers", key);
    json_object_array_add(kept, json_object_new_string(key));
}

#define KEEP(field, key)                                                                           \
    do {                                                                                           \
        if (memcmp(&nc->field, &oc->field, sizeof(nc->field)) != 0) {                              \
            keep_key(ntree, otree, kept, key);                                                     \
            memcpy(&nc->field, &oc->field, sizeof(nc->field));                                     \
        }                                                                                          \
    } while (0)

/* A list and its count are one key: compare the count first, then the items. */
#define KEEP_LIST(field, nfield, key)                                                              \
    do {                                                                                           \
        if (nc->nfield != oc->nfield || memcmp(nc->field, oc->field, sizeof(nc->field)) != 0) {    \
            keep_key(ntree, otree, kept, key);                                                     \
            memcpy(nc->field, oc->field, sizeof(nc->field));                                       \
            nc->nfield = oc->nfield;                                                               \
        }                                                                                          \
    } while (0)

/*
 * Keys that need a restart keep their running values, in nc and in ntree
 * (otree: the running generation's); kept gets the name of each that changed.
 */
static void
keep_restart_only(struct conf *nc, const struct conf *oc, struct json_object *ntree,
                  struct json_object *otree, struct json_object *kept)
{
    KEEP(data_dir, "data_dir");
    KEEP(lmdb_map_size, "lmdb.map_size");
    KEEP(lmdb_max_readers, "lmdb.max_readers");
    KEEP(shm_slots, "shm_slots");
    KEEP_LIST(admin_listen, admin_nlisten, "admin.listen");
    KEEP_LIST(metrics_listen, metrics_nlisten, "metrics.listen");
    KEEP_LIST(etcd_endpoints, etcd_nendpoints, "etcd.endpoints");
    KEEP(etcd_prefix, "etcd.prefix");
    KEEP(etcd_user, "etcd.user");
    KEEP(etcd_password, "etcd.password");
    KEEP(etcd_ca_file, "etcd.tls.ca_file");
    KEEP(etcd_cert_file, "etcd.tls.cert_file");
    KEEP(etcd_key_file, "etcd.tls.key_file");
    KEEP(etcd_connect_timeout_ms, "etcd.connect_timeout");
    KEEP(etcd_request_timeout_ms, "etcd.request_timeout");
    KEEP(control_socket, "control.socket");
    KEEP(pid_file, "pid_file");
    KEEP(error_log, "error_log");
}

/* A reload says every warning it logs in its answer as well: at most this many. */
#define RELOAD_MAX_WARNINGS 32

/* log_set_hook's hook while a reload runs: keep its warnings for the answer. */
static void
reload_warning(int level, const char *msg, void *arg)
{
    struct master *m = arg;
    if (level == LOG_LVL_WARN && m->reload_warnings != NULL &&
        json_object_array_length(m->reload_warnings) < RELOAD_MAX_WARNINGS)
        json_object_array_add(m->reload_warnings, json_object_new_string(msg));
}

/* End the reload: record and answer. */
static void
reload_done(struct master *m, int ok, const char *error)
{
    log_set_hook(NULL, NULL);
    m->last_reload_ms = now_real_ms();
    m->last_reload_ok = ok;
    metrics_reload(m->shm, ok, m->last_reload_ms);
    snprintf(m->last_reload_error, sizeof(m->last_reload_error), "%s", ok ? "" : error);
    if (ok)
        log_info("reload: done, generation %llu", (unsigned long long)m->cur->id);
    else
        log_warnx("reload failed: %s; the running configuration is unchanged", error);
    if (m->reload_tick != NULL)
        evtimer_del(m->reload_tick);
    if (m->reload_req != NULL) {
        struct json_object *r = NULL;
        if (ok) {
            r = json_object_new_object();
            json_object_object_add(r, "generation", json_object_new_int64((int64_t)m->cur->id));
            json_object_object_add(r, "workers", json_object_new_int(m->cur->nworkers));
            /* only when there are: the answer of an ordinary reload is as it was */
            if (m->reload_kept != NULL && json_object_array_length(m->reload_kept) > 0)
                json_object_object_add(r, "restart_only", json_object_get(m->reload_kept));
            if (m->reload_warnings != NULL && json_object_array_length(m->reload_warnings) > 0)
                json_object_object_add(r, "warnings", json_object_get(m->reload_warnings));
        }
        control_reply(m->reload_req, ok, r, CONTROL_E_CONFIG, error);
        m->reload_req = NULL;
    }
    json_object_put(m->reload_kept);
    m->reload_kept = NULL;
    json_object_put(m->reload_warnings);
    m->reload_warnings = NULL;
}

/* Stop the starting generation: its workers die, its listeners close. */
static void
abort_next(struct master *m)
{
    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        struct wslot *w = &m->workers[i];
        if (w->used && w->gen == m->next->id) {
            w->draining = 1; /* reaped, not restarted */
            if (w->pid > 0)
                kill(w->pid, SIGKILL);
            else
                w->used = 0;
        }
    }
    gen_free(m->next);
    m->next = NULL;
    master_sock_steer(m);
}

/* Every new worker serves: the old ones drain, the new generation is the one. */
static void
switch_over(struct master *m)
{
    struct gen *old = m->cur;
    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        struct wslot *w = &m->workers[i];
        if (!w->used || w->gen != old->id)
            continue;
        w->draining = 1;
        evtimer_del(w->respawn);
        if (w->pid > 0)
            kill(w->pid, SIGTERM);
        else
            w->used = 0;
    }
    m->cur = m->next;
    m->next = NULL;
    /* the master's own services see the new values from now on */
    memcpy(m->conf, m->cur->conf, sizeof(*m->conf));
    log_set_level(m->conf->log_level);
    store_history_bounds(m->store, (uint64_t)m->conf->history_max_versions,
                         m->conf->history_max_size);
    master_tls_reload(m); /* the certificates of its own HTTPS listeners */
    gen_free(old); /* our copies only: the draining workers keep theirs */
    master_sock_steer(m);
    reload_done(m, 1, NULL);
}

/* Every 50 ms while a reload waits for its new workers. */
static void
reload_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    int ready = 1;
    if (m->next == NULL)
        return;
    for (int i = 0; i < SHM_WORKER_CAP && ready; i++) {
        struct wslot *w = &m->workers[i];
        struct shm_worker *sw = shm_worker(m->shm, i);
        if (w->used && w->gen == m->next->id)
            ready = w->pid > 0 && atomic_load(&sw->state) == SHM_W_RUNNING &&
                    atomic_load(&sw->pid) == w->pid;
    }
    if (ready) {
        switch_over(m);
        return;
    }
    if (now_mono_ms() >= m->reload_deadline_ms) {
        abort_next(m);
        reload_done(m, 0, "the new workers did not start in time");
        return;
    }
    struct timeval tv = tv_ms(50);
    evtimer_add(m->reload_tick, &tv);
}

void
master_reload_worker_died(struct master *m, int idx)
{
    if (m->next == NULL)
        return;
    abort_next(m);
    reload_done(m, 0, "a worker of the new configuration exited at start (see the error log)");
}

/*
 * The new generation's listeners: the running ones that stay (every socket
 * dup'ed, position for position), with sockets added for more workers;
 * new ones opened.
 */
static int
gen_listeners(struct master *m, struct gen *g)
{
    const struct conf *c = g->conf;
    for (int i = 0; i < c->nlisten; i++) {
        snprintf(g->ltext[i], sizeof(g->ltext[0]), "%s", c->listen[i].text);
        g->steered[i] = -1; /* unknown: the running generation may have steered the group */
        g->nlfds = i + 1;   /* gen_free closes what was taken so far */
        for (int j = 0; j < m->cur->nlfds; j++)
            if (strcmp(m->cur->ltext[j], c->listen[i].text) == 0 &&
                master_sock_dup(g, i, m->cur, j) < 0)
                return -1;
        if (master_sock_fill(g, i, &c->listen[i], g->nworkers) < 0)
            return -1;
    }
    return 0;
}

void
master_reload(struct master *m, struct control_req *cr)
{
    struct aigw_errors e;
    struct json_object *tree = NULL;
    char err[1024];
    if (m->next != NULL || m->stopping) {
        if (cr != NULL)
            control_reply(cr, 0, NULL, m->stopping ? CONTROL_E_STOPPING : CONTROL_E_BUSY,
                          m->stopping ? "aigw is stopping" : "a reload is already in progress");
        else
            log_warnx("SIGHUP: a reload is already in progress; ignored");
        return;
    }
    m->reload_req = cr;
    /* from here to reload_done, every warning logged goes into the answer too */
    json_object_put(m->reload_warnings);
    m->reload_warnings = json_object_new_array();
    log_set_hook(reload_warning, m);
    /* New workers would open another file, or none, than the one the master writes. */
    if (master_table_check(m) != STORE_FILE_OK) {
        reload_done(m, 0,
                    "the LMDB file was removed, replaced or cut short (see the error "
                    "log); restart aigw");
        return;
    }
    errors_init(&e, m->conf->path);
    struct conf *nc = master_read_conf(m->conf->path, &tree, &e);
    if (nc == NULL) {
        for (int i = 0; i < e.n; i++)
            log_warnx("%s", e.msgs[i]);
        join_errors(&e, err, sizeof(err));
        errors_free(&e);
        reload_done(m, 0, err);
        return;
    }
    errors_free(&e);
    json_object_put(m->reload_kept);
    m->reload_kept = json_object_new_array();
    keep_restart_only(nc, m->conf, tree, m->cur->tree, m->reload_kept);
    /* again with the running admin.listen: new keys must cover the listeners that stay */
    errors_init(&e, m->conf->path);
    if (conf_check_admin(nc, &e) < 0) {
        for (int i = 0; i < e.n; i++)
            log_warnx("%s", e.msgs[i]);
        join_errors(&e, err, sizeof(err));
        errors_free(&e);
        json_object_put(tree);
        free(nc);
        reload_done(m, 0, err);
        return;
    }
    errors_free(&e);
    char warn[512];
    if (conf_admin_warning(nc, warn, sizeof(warn))) /* as at start: it applies at once */
        log_warnx("reload: %s", warn);
    /* the resources first: if they don't check, nothing changes */
    if (nc->etcd_nendpoints == 0 &&
        master_load_resources(m, nc->resources, "reload", err, sizeof(err)) < 0) {
        json_object_put(tree);
        free(nc);
        reload_done(m, 0, err);
        return;
    }
    /* the key set files are read again: a rotated key serves without new workers */
    if (jwks_sync_files(m->store, nc, "reload") < 0) {
        json_object_put(tree);
        free(nc);
        reload_done(m, 0, "the JWT key sets could not be stored");
        return;
    }
    if (master_jwks(m, nc) < 0) {
        json_object_put(tree);
        free(nc);
        reload_done(m, 0, "the JWT key set fetcher could not start");
        return;
    }
    const char *a = json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN);
    const char *b = json_object_to_json_string_ext(m->cur->tree, JSON_C_TO_STRING_PLAIN);
    if (strcmp(a, b) == 0) { /* aigw.yaml as it was: the workers stay */
        json_object_put(tree);
        free(nc);
        reload_done(m, 1, NULL);
        return;
    }
    struct gen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        json_object_put(tree);
        free(nc);
        reload_done(m, 0, "out of memory");
        return;
    }
    g->id = ++m->ngen;
    g->conf = nc;
    master_fit_nofile(nc);
    g->tree = tree;
    g->nworkers = nc->workers > MAX_WORKERS ? MAX_WORKERS : nc->workers;
    if (gen_listeners(m, g) < 0 || (g->conf_fd = master_make_conf_fd(tree)) < 0) {
        gen_free(g);
        reload_done(m, 0, "cannot open the new listeners (see the error log)");
        return;
    }
    m->next = g;
    log_info("reload: starting %d workers with the new configuration (generation %llu)",
             g->nworkers, (unsigned long long)g->id);
    if (master_start_gen(m, g) < 0) {
        abort_next(m);
        reload_done(m, 0, "cannot start the new workers (see the error log)");
        return;
    }
    if (m->reload_tick == NULL)
        m->reload_tick = evtimer_new(m->base, reload_tick_cb, m);
    m->reload_deadline_ms = now_mono_ms() + RELOAD_TIMEOUT_MS;
    struct timeval tv = tv_ms(50);
    evtimer_add(m->reload_tick, &tv);
}

void
master_check(struct master *m, struct json_object *result)
{
    struct aigw_errors e, re;
    struct json_object *tree = NULL, *errs = json_object_new_array();
    errors_init(&e, m->conf->path);
    struct conf *nc = master_read_conf(m->conf->path, &tree, &e);
    for (int i = 0; i < e.n; i++)
        json_object_array_add(errs, json_object_new_string(e.msgs[i]));
    int ok = nc != NULL;
    if (nc != NULL && nc->etcd_nendpoints == 0 && nc->resources[0] != '\0') {
        errors_init(&re, nc->resources);
        struct json_object *res = resfile_load(nc->resources, &re);
        for (int i = 0; i < re.n; i++)
            json_object_array_add(errs, json_object_new_string(re.msgs[i]));
        ok = ok && res != NULL;
        json_object_put(res);
        errors_free(&re);
    }
    errors_free(&e);
    json_object_put(tree);
    free(nc);
    json_object_object_add(result, "ok", json_object_new_boolean(ok));
    json_object_object_add(result, "errors", errs);
}
