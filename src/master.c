/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master.c: the master process. It opens the listeners, is the only writer of
 * the LMDB configuration table, starts the workers by fork+exec and restarts
 * any that dies; it serves the Admin API and the control socket. Signal
 * handlers only queue libevent callbacks; all work happens in the event loop.
 *
 * Signals: HUP reload (master_reload.c), TERM/INT/QUIT drain and stop, USR1
 * reopen logs, USR2 binary upgrade (master_upgrade.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "access.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "aigw/resource.h"
#include "shm.h"
#include "store.h"
#include "strset.h"
#include "aigw/util.h"
#include "admin.h"
#include "control.h"
#include "etcdsync.h"
#include "http.h"
#include "jwks.h"
#include "jwksfetch.h"
#include "master.h"
#include "master_priv.h"
#include "metrics.h"
#include "metrics_http.h"
#include "aigw/resfile.h"
#include "conftls.h"
#include "tls.h"
#include "tls_ticket.h"
#include "upstream.h"

/* The aigw.yaml key of a listener kind, for errors an operator can act on. */
static const char *
master_listen_key(const char *what)
{
    if (strcmp(what, "admin") == 0)
        return "admin.listen";
    if (strcmp(what, "metrics") == 0)
        return "metrics.listen";
    return "listen";
}

/* Bind and listen on every address of a list (IPv4 and IPv6). */
int
master_open_listeners(const struct conf_listen *list, int n, int *fds, int *nfds, const char *what)
{
    const char *key = master_listen_key(what);
    for (int i = 0; i < n; i++) {
        const struct conf_listen *l = &list[i];
        struct addrinfo hints = {0}, *ai;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        int rc = getaddrinfo(l->host, l->port, &hints, &ai);
        if (rc != 0) {
            log_error("listen %s (key %s): %s", l->text, key, gai_strerror(rc));
            return -1;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0) {
            freeaddrinfo(ai);
            log_error_sys("listen %s (key %s): socket", l->text, key);
            return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0) {
            log_error_sys("listen %s (key %s)", l->text, key);
            freeaddrinfo(ai);
            close(fd);
            return -1;
        }
        freeaddrinfo(ai);
        fds[(*nfds)++] = fd;
        log_info("%s listening on %s", what, l->text);
    }
    return 0;
}

int
master_listen(const char *kind, const struct conf_listen *list, int n, int *fds, int *nfds)
{
    for (int i = 0; i < n; i++) {
        int fd = master_inherited_fd(kind, list[i].text);
        if (fd >= 0) {
            fds[(*nfds)++] = fd;
            log_info("%s listening on %s (from the previous master)", kind, list[i].text);
        } else if (master_open_listeners(&list[i], 1, fds, nfds, kind) < 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * Accept on fds, the listeners of the list at key ("admin.listen") in
 * order; an HTTPS one gets its SSL_CTX, built in the master from the
 * running tree (its files were read and checked when aigw.yaml was).
 */
static int
master_serve(struct master *m, struct http_server *h, const char *key,
             const struct conf_listen *list, const int *fds, int n)
{
    char err[PATH_MAX + 256];
    for (int i = 0; i < n; i++) {
        struct tls_server *tls = NULL;
        if (list[i].tls && (tls = tls_server_new(conftls_node(m->cur->tree, key, i), list[i].text,
                                                 err, sizeof(err))) == NULL) {
            log_warnx("%s %s: %s", key, list[i].text, err);
            return -1;
        }
        if (http_server_listen_fd_tls(h, fds[i], tls) < 0) {
            tls_server_free(tls);
            log_warn("%s %s: cannot accept", key, list[i].text);
            return -1;
        }
    }
    return 0;
}

/* The HTTPS listeners of one of the master's servers get the tls blocks of the running tree. */
static void
master_tls_swap(struct master *m, struct http_server *h, const char *key,
                const struct conf_listen *list, int n)
{
    char err[PATH_MAX + 256];
    for (int i = 0; h != NULL && i < n; i++) {
        if (!list[i].tls)
            continue;
        struct tls_server *tls =
            tls_server_new(conftls_node(m->cur->tree, key, i), list[i].text, err, sizeof(err));
        if (tls == NULL)
            log_warnx("reload: %s %s keeps its certificates: %s", key, list[i].text, err);
        else if (http_server_set_tls(h, i, tls) < 0)
            tls_server_free(tls);
    }
}

void
master_tls_reload(struct master *m)
{
    master_tls_swap(m, m->admin_http, "admin.listen", m->conf->admin_listen,
                    m->conf->admin_nlisten);
    if (m->metrics != NULL)
        master_tls_swap(m, metrics_http_server(m->metrics), "metrics.listen",
                        m->conf->metrics_listen, m->conf->metrics_nlisten);
}

/* Every TLS_TICKET_ROTATE_MS: a new session ticket key for every worker. */
static void
ticket_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (tls_ticket_rotate() < 0)
        log_warnx("cannot make a new TLS session ticket key; the current one stays");
}

/*
 * The session ticket keys of HTTPS listeners, in the shared memory: made
 * here, used by every worker (and the master's own listeners), so a
 * client resumes its session on whichever worker accepts it. A new
 * master (binary upgrade) that adopted the table adds a key and keeps the
 * one before: tickets issued before the upgrade still resume.
 */
static int
start_tickets(struct master *m)
{
    struct timeval tv = tv_ms(TLS_TICKET_ROTATE_MS);
    tls_ticket_init(m->shm);
    if (tls_ticket_rotate() < 0) {
        log_warnx("cannot make a TLS session ticket key (shared memory table full?)");
        return -1;
    }
    m->ticket_tick = event_new(m->base, -1, EV_PERSIST, ticket_tick_cb, m);
    return m->ticket_tick != NULL ? evtimer_add(m->ticket_tick, &tv) : -1;
}

/* The Admin API: its listeners, served by the master's own event loop. */
static int
start_admin(struct master *m)
{
    int fds[CONF_MAX_LISTEN], n = 0;
    struct admin_backend be;
    if (m->conf->admin_nlisten == 0)
        return 0;
    struct aigw_errors e;
    errors_init(&e, m->conf->path);
    int bad = conf_check_admin(m->conf, &e);
    for (int i = 0; i < e.n; i++)
        log_warnx("%s", e.msgs[i]);
    errors_free(&e);
    char warn[512];
    if (conf_admin_warning(m->conf, warn, sizeof(warn)))
        log_warnx("%s", warn);
    if (bad < 0 ||
        master_listen("admin", m->conf->admin_listen, m->conf->admin_nlisten, fds, &n) < 0)
        return -1;
    memcpy(m->admin_fds, fds, sizeof(fds));
    m->nadmin_fds = n;
    if (m->etcd != NULL)
        etcdsync_admin_backend(m->etcd, &be);
    else
        admin_backend_lmdb(&be, m->store);
    if ((m->admin = admin_new(m->conf, m->store, &be, master_admin_status, m)) == NULL ||
        (m->admin_http = http_server_new(m->base, m->conf, admin_handle, m->admin)) == NULL)
        return -1;
    /* its access lines; not the client requests' metrics */
    access_attach(m->admin_http, ACCESS_ADMIN, 0);
    http_server_set_precheck(m->admin_http, admin_precheck);
    return master_serve(m, m->admin_http, "admin.listen", m->conf->admin_listen, fds, n);
}

/*
 * The metrics area of the shared memory, laid out before anything counts:
 * the workers as soon as they run, the master itself (the TLS handshakes and
 * certificates of its Admin API and metrics listeners).
 */
static int
start_metrics_area(struct master *m)
{
    if (metrics_init(m->shm) < 0) {
        log_warnx("cannot lay out the metrics area of the shared memory");
        return -1;
    }
    metrics_attach(m->shm);
    /* the configuration this master starts with loaded well: as Prometheus, a load that succeeded
     */
    metrics_config_loaded(m->shm, m->started_real_ms);
    return 0;
}

/* GET /metrics, on the master's loop too. */
static int
start_metrics(struct master *m)
{
    int fds[CONF_MAX_LISTEN], n = 0;
    if (m->conf->metrics_nlisten == 0)
        return 0;
    if (master_listen("metrics", m->conf->metrics_listen, m->conf->metrics_nlisten, fds, &n) < 0)
        return -1;
    memcpy(m->metrics_fds, fds, sizeof(fds));
    m->nmetrics_fds = n;
    m->metrics = metrics_http_start(m->base, m->conf, m->shm, m->store, m->etcd, NULL, 0);
    if (m->metrics == NULL)
        return -1;
    return master_serve(m, metrics_http_server(m->metrics), "metrics.listen",
                        m->conf->metrics_listen, fds, n);
}

/* store_models_foreach's callback: say each target that cannot use its credential. */
static int
warn_unusable_cred(const struct model_view *v, void *arg)
{
    const char *path = arg;
    for (int i = 0; i < v->ntargets; i++)
        if (v->t[i].credential_missing)
            log_warnx("%s: model %s target %s names credential %s, %s: it answers "
                      "credential_missing",
                      path, v->name, v->t[i].name, v->t[i].credential,
                      v->t[i].credential_missing == CRED_UNFIT
                          ? "whose provider cannot take its model as a URL path segment"
                          : "which neither the file nor the table has");
    return 0;
}

/* resfile_known's same(): is the entry the document the transaction holds? */
static int
stored_same(int k, const char *id, const char *json, size_t len, void *arg)
{
    return store_doc_same(arg, (enum res_kind)k, id, json, len);
}

/*
 * Load the resources file at path and commit it to LMDB in one transaction.
 * 0, or -1 with the first problem in err (all of them are logged).
 *
 * On a reload the transaction is begun first, so that the loader can compare
 * each entry with the stored document: a reload of a large file changes few,
 * and an entry as stored is neither validated nor compiled again. Not at
 * start: the table may have been written by another aigw (an older
 * validator), and the start validates every entry once for this binary.
 */
int
master_load_resources(struct master *m, const char *path, const char *why, char *err, size_t errlen)
{
    struct aigw_errors e;
    int changes = 0, rv = -1;
    struct json_object *res = NULL;
    struct store_txn *t = NULL;
    struct resfile_known known = {stored_same, NULL, {NULL}, 0, 0}, *kn = NULL;
    if (path[0] == '\0') {
        log_info("%s: no resources file; serving the table as stored", why);
        return 0;
    }
    errors_init(&e, path);
    if (strcmp(why, "reload") == 0) {
        if ((t = store_write_begin(m->store)) == NULL)
            goto out;
        known.arg = t;
        kn = &known;
        if ((res = resfile_load_known(path, kn, &e)) == NULL) {
            store_abort(t);
            goto out;
        }
        log_debug("%s: %s: %d entries as stored (not validated or compiled again), %d validated",
                  why, path, known.unchanged, known.checked);
    } else {
        res = resfile_load(path, &e);
        if (res == NULL || (t = store_write_begin(m->store)) == NULL)
            goto out;
    }
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *items = json_object_object_get(res, res_kind_name((enum res_kind)k));
        int n;
        if (kn == NULL) {
            n = store_sync_kind(t, (enum res_kind)k, items, &e);
        } else { /* items: what changed; the ids: every entry of the file (none: no list) */
            if (kn->ids[k] == NULL && (kn->ids[k] = strset_new(0)) == NULL)
                n = -1;
            else
                n = store_sync_kind_kept(t, (enum res_kind)k, items, kn->ids[k], &e);
        }
        if (n < 0) {
            store_abort(t);
            goto out;
        }
        changes += n;
    }
    char source[PATH_MAX + 8];
    snprintf(source, sizeof(source), "file:%s", path);
    if (store_commit(t, source, 0) < 0)
        goto out;
    rv = 0;
    struct store_meta meta = {0};
    if (store_read_begin(m->store) == 0) {
        store_meta_get(m->store, &meta);
        /* a credential may come from the Admin API: a Model naming none is served, and said */
        store_models_foreach(m->store, warn_unusable_cred, (void *)path);
        store_read_end(m->store);
    }
    log_info("%s: %s: %d change%s, configuration version %llu", why, path, changes,
             changes == 1 ? "" : "s", (unsigned long long)meta.version);
out:
    for (int i = 0; i < e.n; i++)
        log_warnx("%s", e.msgs[i]);
    if (rv < 0) {
        log_warnx("%s: %s is invalid or could not be stored; the configuration in use is "
                  "unchanged",
                  why, path);
        if (err != NULL)
            snprintf(err, errlen, "%s", e.n > 0 ? e.msgs[0] : "the resources could not be stored");
    }
    errors_free(&e);
    json_object_put(res);
    for (int k = 0; k < RES_NKINDS; k++)
        strset_free(known.ids[k]);
    return rv;
}

int
master_jwks(struct master *m, const struct conf *c)
{
    if (m->jwks != NULL) {
        jwksfetch_reconf(m->jwks, c);
        return 0;
    }
    if (!jwksfetch_needed(c))
        return 0;
    /* etcd mode made these already; standalone makes them the first time a provider needs them */
    if (m->up == NULL &&
        (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (m->up = upstream_new(m->base)) == NULL)) {
        log_warnx("jwt: cannot start libcurl on the master's loop");
        return -1;
    }
    m->jwks = jwksfetch_new(m->base, m->up, m->store, m->shm, c);
    return m->jwks != NULL ? 0 : -1;
}

/* Put aigw.yaml, as parsed, into an anonymous file the workers inherit. */
int
master_make_conf_fd(struct json_object *tree)
{
    const char *s = json_object_to_json_string_ext(tree, JSON_C_TO_STRING_PLAIN);
    int fd = memfd_create("aigw-conf", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    return fd;
}

/*
 * In the child: move the inherited fds to 3.. and exec aigw in worker mode.
 * Its listeners' sockets (those of its position, master_sock_for) come
 * first, a group per listener ("3+4,5" in the spec), then the conf and shm.
 */
static void
exec_worker(struct master *m, struct gen *g, struct wslot *w)
{
    static int src[CONF_MAX_LISTEN * MAX_WORKERS + 2], high[CONF_MAX_LISTEN * MAX_WORKERS + 2];
    int grp[CONF_MAX_LISTEN], n = 0;
    for (int i = 0; i < g->nlfds; i++) {
        grp[i] = master_sock_for(g, i, w->pos, src + n);
        n += grp[i];
    }
    src[n] = g->conf_fd;
    src[n + 1] = m->shm_fd;
    /* First out of the way (above every target), then into place: dup2 clears CLOEXEC. */
    for (int i = 0; i < n + 2; i++)
        high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3 + n + 2);
    for (int i = 0; i < n + 2; i++)
        if (high[i] < 0 || dup2(high[i], 3 + i) < 0)
            _exit(127);
    size_t cap = 64 + (size_t)n * 8;
    char *spec = malloc(cap), *p = spec;
    if (spec == NULL)
        _exit(127);
    p += snprintf(p, cap, "%d:%llu:%d:%d:", w->idx, (unsigned long long)g->id, 3 + n, 4 + n);
    for (int i = 0, k = 0; i < g->nlfds; i++)
        for (int j = 0; j < grp[i]; j++, k++)
            p += snprintf(p, cap - (size_t)(p - spec), "%s%d", j ? "+" : i ? "," : "", 3 + k);
    char *argv[] = {"aigw", "-c", g->conf->path, "-W", spec, m->foreground ? "-d" : NULL, NULL};
    sigset_t none;
    sigemptyset(&none);
    sigaddset(&none, SIGUSR1); /* until the worker handles it (worker_obs_start) */
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(m->exe, argv);
    _exit(127);
}

/* Start (or restart) the worker of slot idx, in the generation it belongs to. */
int
master_spawn(struct master *m, int idx)
{
    struct wslot *w = &m->workers[idx];
    struct gen *g = m->next != NULL && w->gen == m->next->id ? m->next : m->cur;
    struct shm_worker *sw = shm_worker(m->shm, idx);
    atomic_store(&sw->state, SHM_W_STARTING);
    atomic_store(&sw->pid, 0);
    atomic_store(&sw->generation, g->id);
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("fork");
        return -1;
    }
    if (pid == 0)
        exec_worker(m, g, w);
    w->pid = pid;
    w->started_ms = now_mono_ms();
    w->retry_at_ms = 0;
    log_info("worker %d started, pid %d%s", idx, (int)pid, g->id > 1 ? " (after a reload)" : "");
    return 0;
}

/*
 * A free slot for a new worker, claimed in shared memory too: during an
 * upgrade two masters share the table, and each worker index (its
 * concurrency column, its stats) must belong to one worker only.
 */
static int
free_slot(struct master *m)
{
    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        int32_t st = SHM_W_FREE;
        if (!m->workers[i].used &&
            atomic_compare_exchange_strong(&shm_worker(m->shm, i)->state, &st, SHM_W_STARTING))
            return i;
    }
    return -1;
}

/* Give a generation its workers: 0, or -1 (those started are left to the caller). */
int
master_start_gen(struct master *m, struct gen *g)
{
    for (int k = 0; k < g->nworkers; k++) {
        int i = free_slot(m);
        if (i < 0) {
            log_warnx("no free worker slot (at most %d workers, old and new)", SHM_WORKER_CAP);
            return -1;
        }
        struct wslot *w = &m->workers[i];
        w->used = 1;
        w->gen = g->id;
        w->pos = k;
        w->draining = 0;
        if (master_spawn(m, i) < 0)
            return -1;
    }
    master_sock_steer(m);
    return 0;
}

static void
respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wslot *w = arg;
    if (!w->m->stopping && w->used && !w->draining && w->pid == 0)
        if (master_spawn(w->m, w->idx) == 0)
            master_sock_steer(w->m); /* its socket is served again */
}

void
gen_free(struct gen *g)
{
    if (g == NULL)
        return;
    master_sock_close(g);
    if (g->conf_fd >= 0)
        close(g->conf_fd);
    json_object_put(g->tree);
    free(g->conf);
    free(g);
}

/* Are all workers gone (when stopping)? */
static int
workers_alive(struct master *m)
{
    int alive = 0;
    for (int i = 0; i < SHM_WORKER_CAP; i++)
        alive += m->workers[i].pid != 0;
    return alive;
}

/*
 * Restart a worker that exited: at once if it had run a while; if it died
 * within RESPAWN_FAST_MS (a failed start), after a pause that doubles with
 * each failed start in a row, up to RESPAWN_MAX_MS, and with the cause said:
 * a binary that is gone would otherwise be restarted twice a second for ever.
 */
static void
master_respawn_later(struct master *m, struct wslot *w, int status, int served)
{
    int64_t now = now_mono_ms(), age = now - w->started_ms, delay = 0;
    if (age >= RESPAWN_FAST_MS || served) {
        /* it had started: not a failed start, but a pause if it died young */
        w->fails = 0;
        w->why[0] = '\0';
        delay = age < RESPAWN_FAST_MS ? RESPAWN_FIRST_MS : 0;
    } else {
        w->fails++;
        delay = RESPAWN_FIRST_MS;
        for (int k = 1; k < w->fails && delay < RESPAWN_MAX_MS; k++)
            delay *= 2;
        if (delay > RESPAWN_MAX_MS)
            delay = RESPAWN_MAX_MS;
        /* 127: the child's execv failed (exec_worker); the binary says why */
        int exec_failed =
            WIFEXITED(status) && WEXITSTATUS(status) == 127 && access(m->exe, X_OK) < 0;
        if (exec_failed)
            snprintf(w->why, sizeof(w->why), "cannot execute %s: %s", m->exe, strerror(errno));
        else
            snprintf(w->why, sizeof(w->why), "it %s %d within %lld ms of its start",
                     WIFSIGNALED(status) ? "was killed by signal" : "exited with status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), (long long)age);
        metrics_worker_start_failed(m->shm, exec_failed ? "exec" : "exited_early");
        log_error("worker %d did not start (%d time%s in a row): %s; next try in %lld.%lld s",
                  w->idx, w->fails, w->fails == 1 ? "" : "s", w->why, (long long)(delay / 1000),
                  (long long)(delay % 1000 / 100));
    }
    w->retry_at_ms = now + delay;
    struct timeval tv = {(time_t)(delay / 1000), (suseconds_t)(delay % 1000 * 1000)};
    evtimer_add(w->respawn, &tv);
}

/* A worker exited: release what it held; restart it if it belongs to the serving generation. */
static void
worker_exited(struct master *m, struct wslot *w, int status)
{
    pid_t pid = w->pid;
    int i = w->idx;
    w->pid = 0;
    /* A dead worker's LMDB reader slot would pin old pages forever... */
    int cleared = store_reader_check(m->store);
    /* ... and its in-flight requests would hold concurrency forever. */
    shm_worker_gone(m->shm, i, LIM_CONC);
    struct shm_worker *sw = shm_worker(m->shm, i);
    atomic_store(&sw->pid, 0);
    atomic_store(&sw->in_flight, 0);
    if (cleared > 0)
        log_debug("cleared %d stale LMDB reader slot(s)", cleared);
    if (m->stopping || w->draining) {
        log_debug("worker %d (pid %d) exited", i, (int)pid);
        w->used = 0;
        atomic_store(&sw->state, SHM_W_FREE);
        return;
    }
    /* A worker started now would open another file, or none (master_table.c). */
    if (master_table_check(m) != STORE_FILE_OK) {
        log_warnx("worker %d (pid %d) is not restarted (it ended with %s %d): the LMDB file "
                  "was removed, replaced or cut short (see above)",
                  i, (int)pid, WIFSIGNALED(status) ? "signal" : "status",
                  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        w->used = 0;
        atomic_store(&sw->state, SHM_W_FREE);
        if (m->next != NULL && w->gen == m->next->id)
            master_reload_worker_died(m, i);
        return;
    }
    if (m->next != NULL && w->gen == m->next->id) {
        log_warnx("worker %d (pid %d) of the new configuration exited at start", i, (int)pid);
        w->used = 0;
        atomic_store(&sw->state, SHM_W_FREE);
        master_reload_worker_died(m, i);
        return;
    }
    if (WIFSIGNALED(status))
        log_warnx("worker %d (pid %d) killed by signal %d; restarting", i, (int)pid,
                  WTERMSIG(status));
    else
        log_warnx("worker %d (pid %d) exited with status %d; restarting", i, (int)pid,
                  WEXITSTATUS(status));
    m->worker_restarts++;
    metrics_worker_restart(m->shm);
    /* the state it reached before it died (master_spawn set STARTING) */
    master_respawn_later(m, w, status, atomic_load(&sw->state) == SHM_W_RUNNING);
}

/* Reap workers (and a new master of an upgrade that failed). */
static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == m->upgrade_pid) {
            log_warnx("upgrade: the new master (pid %d) exited with status %d before it served; "
                      "this one goes on",
                      (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            master_upgrade_free(m);
            continue;
        }
        for (int i = 0; i < SHM_WORKER_CAP; i++)
            if (m->workers[i].pid == pid) {
                worker_exited(m, &m->workers[i], status);
                break;
            }
    }
    master_sock_steer(m); /* a worker not restarted at once leaves its socket unserved */
    if (m->stopping && workers_alive(m) == 0)
        event_base_loopbreak(m->base);
}

static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    log_info("SIGHUP: reloading %s", m->conf->path);
    master_reload(m, NULL);
}

int
master_reopen(struct master *m, char *err, size_t errlen)
{
    int rv = log_reopen();
    if (rv < 0 && err != NULL)
        snprintf(err, errlen, "cannot reopen the error log: %s", strerror(errno));
    for (int i = 0; i < SHM_WORKER_CAP; i++)
        if (m->workers[i].pid > 0)
            kill(m->workers[i].pid, SIGUSR1);
    return rv;
}

static void
sigusr1_cb(evutil_socket_t sig, short what, void *arg)
{
    master_reopen(arg, NULL, 0);
}

static void
sigusr2_cb(evutil_socket_t sig, short what, void *arg)
{
    master_upgrade(arg);
}

/* The drain took too long: end the stragglers. */
static void
kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    for (int i = 0; i < SHM_WORKER_CAP; i++)
        if (m->workers[i].pid > 0) {
            log_warnx("worker %d (pid %d) did not stop in time; killing it", i,
                      (int)m->workers[i].pid);
            kill(m->workers[i].pid, SIGKILL);
        }
}

/* Stop: workers drain (graceful) or stop at once, then so do we. */
void
master_stop(struct master *m, int graceful)
{
    if (m->stopping)
        return;
    m->stopping = 1;
    if (graceful)
        log_info("stopping (drain up to %lld ms)", (long long)m->conf->drain_timeout_ms);
    else
        log_info("stopping now");
    if (m->admin_http)
        http_server_drain(m->admin_http);
    metrics_http_drain(m->metrics);
    int alive = 0;
    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        if (m->workers[i].respawn)
            evtimer_del(m->workers[i].respawn);
        if (m->workers[i].pid > 0) {
            kill(m->workers[i].pid, graceful ? SIGTERM : SIGQUIT);
            alive++;
        }
    }
    /*
     * Our copies of the listeners go now: the workers close theirs as they
     * stop accepting, and a port nobody will serve must refuse connections
     * rather than queue them.
     */
    gen_free(m->next);
    m->next = NULL;
    if (m->cur != NULL)
        master_sock_close(m->cur);
    if (alive == 0) {
        event_base_loopbreak(m->base);
        return;
    }
    struct timeval tv = tv_ms(graceful ? m->conf->drain_timeout_ms + 2000 : 5000);
    evtimer_add(m->kill_timer, &tv);
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
    log_info("%s", strsignal((int)sig));
    master_stop(arg, 1);
}

/* ---- the control socket's commands ---- */

static void
ctl_status(void *arg, struct json_object *result)
{
    master_status(arg, result);
}

static void
ctl_reload(void *arg, struct control_req *cr)
{
    master_reload(arg, cr);
}

static void
ctl_stop(void *arg, int graceful)
{
    master_stop(arg, graceful);
}

static int
ctl_reopen(void *arg, char *err, size_t errlen)
{
    return master_reopen(arg, err, errlen);
}

static void
ctl_check(void *arg, struct json_object *result)
{
    master_check(arg, result);
}

/* aigwctl etcd accept: etcd's state replaces the table despite an identity mismatch. */
static int
ctl_etcd_accept(void *arg, char *err, size_t errlen)
{
    struct master *m = arg;
    if (m->etcd == NULL) {
        snprintf(err, errlen, "aigw is not in etcd mode (no etcd.endpoints)");
        return -1;
    }
    if (etcdsync_accept(m->etcd) < 0) {
        snprintf(err, errlen, "etcd's identity matches the table's: nothing to accept");
        return -1;
    }
    return 0;
}

static const struct control_ops ctl_ops = {ctl_status, ctl_reload, ctl_stop,
                                           ctl_reopen, ctl_check,  ctl_etcd_accept};

/* ---- the PID file ---- */

/*
 * Make the folder of a runtime file (the PID file, the control socket) and
 * its missing parents, as aigw -t expects (conf_paths.c): the default,
 * under the prefix's var/run, may not exist on a fresh install.
 */
static void
make_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *d = dirname(dir);
    for (char *p = d + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(d, 0755) < 0 && errno != EEXIST)
            log_warn("mkdir %s", d);
        *p = '/';
    }
    if (mkdir(d, 0755) < 0 && errno != EEXIST)
        log_warn("mkdir %s", d);
}

static int
pidfile_write(const char *path, pid_t pid)
{
    char buf[32], tmp[PATH_MAX + 8];
    if (path[0] == '\0')
        return 0;
    make_parent(path);
    /* written beside and renamed: a reader never sees it half-written */
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
    if (fd < 0 || write(fd, buf, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
        log_error_sys("pid_file %s", path);
        if (fd >= 0)
            unlink(tmp);
        return -1;
    }
    return 0;
}

/* Remove the PID file if it is still ours (after an upgrade it is the new master's). */
static void
pidfile_remove(const char *path)
{
    char buf[32] = "";
    if (path[0] == '\0')
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0 && atoi(buf) == (int)getpid())
        unlink(path);
}

static void
master_free(struct master *m)
{
    /*
     * After a hand-over the paths may be the new master's (then they are
     * alive and hold its pid) or, if it moved them, our leftovers: the
     * checks tell which.
     */
    control_free(m->control, m->handed_over ? CONTROL_UNLINK_STALE : CONTROL_UNLINK);
    pidfile_remove(m->conf->pid_file);
    master_upgrade_free(m);
    if (m->admin_http)
        http_server_free(m->admin_http);
    metrics_http_free(m->metrics);
    admin_free(m->admin);
    etcdsync_free(m->etcd);
    jwksfetch_free(m->jwks);
    if (m->up)
        upstream_free(m->up);
    for (int i = 0; i < SHM_WORKER_CAP; i++)
        if (m->workers[i].respawn)
            event_free(m->workers[i].respawn);
    for (size_t i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++)
        if (m->sigs[i])
            event_free(m->sigs[i]);
    if (m->kill_timer)
        event_free(m->kill_timer);
    if (m->reload_tick)
        event_free(m->reload_tick);
    if (m->startup_tick)
        event_free(m->startup_tick);
    if (m->ticket_tick)
        event_free(m->ticket_tick);
    master_table_free(m);
    json_object_put(m->reload_kept);
    json_object_put(m->reload_warnings);
    log_set_hook(NULL, NULL);
    gen_free(m->next);
    gen_free(m->cur);
    if (m->base)
        event_base_free(m->base);
    if (m->shm_fd >= 0)
        close(m->shm_fd);
    shm_free(m->shm);
    store_close(m->store);
}

/* Tell the waiting parent of a daemon whether we are up. */
static void
tell_ready(int *fd, char status)
{
    if (*fd < 0)
        return;
    ssize_t n = write(*fd, &status, 1);
    /* on failure, the error itself for the terminal that started us */
    const char *why = log_last_error();
    if (status != 0 && n == 1 && why[0] != '\0')
        n = write(*fd, why, strlen(why));
    (void)n;
    close(*fd);
    *fd = -1;
}

/*
 * The PID file, then the control socket. For an upgrade's new master the
 * socket is the last thing that can fail (its rename is atomic), so a
 * failure leaves the old master's socket in place; and a PID file already
 * rewritten is given back to the old master (our parent).
 */
static int
take_files(struct master *m)
{
    const struct conf *c = m->conf;
    if (pidfile_write(c->pid_file, getpid()) < 0)
        return -1;
    if (c->control_socket[0] != '\0') {
        make_parent(c->control_socket);
        if ((m->control = control_new(m->base, c->control_socket, master_upgrading(), &ctl_ops,
                                      m)) == NULL) {
            if (master_upgrading())
                pidfile_write(c->pid_file, getppid());
            return -1;
        }
    }
    return 0;
}

/*
 * Serving means every worker accepts: only then does a daemon's parent exit
 * 0, and an upgrade's new master take over the control socket and the PID
 * file and tell the old master to go. A start that doesn't get there in
 * time fails (and an upgrade leaves the old master untouched).
 */
static void
startup_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    int ready = 1;
    for (int i = 0; i < SHM_WORKER_CAP && ready; i++) {
        struct wslot *w = &m->workers[i];
        struct shm_worker *sw = shm_worker(m->shm, i);
        if (w->used && w->gen == m->cur->id)
            ready = w->pid > 0 && atomic_load(&sw->state) == SHM_W_RUNNING &&
                    atomic_load(&sw->pid) == w->pid;
    }
    if (m->stopping)
        return;
    if (!ready && now_mono_ms() < m->startup_deadline_ms) {
        struct timeval tv = tv_ms(20);
        evtimer_add(m->startup_tick, &tv);
        return;
    }
    if (!ready || (master_upgrading() && take_files(m) < 0)) {
        log_error("the workers did not start serving in time; stopping");
        m->startup_failed = 1;
        master_stop(m, 0);
        return;
    }
    log_info("aigw %s started: %d workers, data_dir %s", PACKAGE_VERSION, m->cur->nworkers,
             m->conf->data_dir);
    tell_ready(&m->ready_fd, 0);
    master_upgrade_done(m);
}

/* The first generation: aigw.yaml as started, its listeners (or a predecessor's). */
static struct gen *
first_gen(struct master *m, struct conf *c, struct json_object *tree)
{
    struct gen *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->conf_fd = -1;
    g->id = ++m->ngen;
    g->nworkers = c->workers > MAX_WORKERS ? MAX_WORKERS : c->workers;
    if ((g->conf = malloc(sizeof(*c))) == NULL)
        goto fail;
    memcpy(g->conf, c, sizeof(*c));
    g->tree = json_object_get(tree);
    if (master_inherit(m, g) < 0)
        goto fail;
    /* one socket per worker, some maybe handed over; a predecessor may have steered them */
    for (int i = 0; i < c->nlisten; i++) {
        g->steered[i] = -1;
        if (master_sock_fill(g, i, &c->listen[i], g->nworkers) < 0)
            goto fail;
        snprintf(g->ltext[i], sizeof(g->ltext[i]), "%s", c->listen[i].text);
    }
    g->nlfds = c->nlisten;
    if ((g->conf_fd = master_make_conf_fd(tree)) < 0)
        goto fail;
    return g;
fail:
    gen_free(g);
    return NULL;
}

/*
 * Raise the descriptor limit that workers inherit to fit
 * limits.max_connections: a client and an upstream connection each, and
 * room for the listeners, LMDB, logs and Redis. The soft limit goes up to
 * the hard one at most; short of that, say so: a worker then pauses
 * accepting when it runs out, rather than failing in a loop.
 */
void
master_fit_nofile(const struct conf *c)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)c->max_connections * 2 + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need))
        return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (want > rl.rlim_cur) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("setrlimit RLIMIT_NOFILE %llu", (unsigned long long)want);
    }
    if (want < need)
        log_warnx("limits.max_connections %lld needs about %llu file descriptors a worker, but "
                  "their hard limit is %llu: a worker that runs out pauses accepting (raise "
                  "LimitNOFILE= or ulimit -Hn)",
                  (long long)c->max_connections, (unsigned long long)need,
                  (unsigned long long)rl.rlim_max);
}

int
master_main(struct conf *c, struct json_object *conf_tree, int foreground, int ready_fd)
{
    struct master m;
    struct aigw_errors e;
    int rv = 1;

    memset(&m, 0, sizeof(m));
    m.conf = c;
    m.foreground = foreground;
    m.shm_fd = -1;
    m.upgrade_fd = -1;
    m.ready_fd = -1;
    m.started_real_ms = now_real_ms();
    ssize_t n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1);
    if (n <= 0) {
        log_warn("readlink /proc/self/exe");
        return 1;
    }
    m.exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);

    master_fit_nofile(c);
    errors_init(&e, NULL);
    m.store = store_open(c->data_dir, c->lmdb_map_size, (unsigned)c->lmdb_max_readers, 0, &e);
    if (m.store == NULL) {
        /* name the key, unless the message already does */
        for (int i = 0; i < e.n; i++)
            if (strstr(e.msgs[i], "data_dir") != NULL)
                log_error("%s", e.msgs[i]);
            else
                log_error("data_dir %s: %s", c->data_dir, e.msgs[i]);
        errors_free(&e);
        goto out;
    }
    errors_free(&e);
    store_history_bounds(m.store, (uint64_t)c->history_max_versions, c->history_max_size);
    /* A crashed predecessor may have left reader slots behind. */
    store_reader_check(m.store);
    if (store_upgrade_records(m.store) < 0)
        goto out;
    /* etcd mode: the table as stored serves until etcd answers (last known good). */
    if (c->etcd_nendpoints == 0 && master_load_resources(&m, c->resources, "start", NULL, 0) < 0)
        goto out;
    if (jwks_sync_files(m.store, c, "start") < 0)
        goto out;
    if ((m.cur = first_gen(&m, c, conf_tree)) == NULL)
        goto out;
    if (m.shm == NULL && (m.shm = shm_create(c->shm_slots, SHM_WORKER_CAP, &m.shm_fd)) == NULL)
        goto out;

    if ((m.base = event_base_new()) == NULL)
        goto out;
    if (c->etcd_nendpoints > 0) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || (m.up = upstream_new(m.base)) == NULL ||
            (m.etcd = etcdsync_new(m.base, m.up, c, m.store)) == NULL)
            goto out;
        log_info("etcd mode: %d endpoint%s, prefix %s", c->etcd_nendpoints,
                 c->etcd_nendpoints == 1 ? "" : "s", c->etcd_prefix);
        etcdsync_start(m.etcd);
    }
    if (start_metrics_area(&m) < 0 || start_tickets(&m) < 0 || master_jwks(&m, c) < 0 ||
        start_admin(&m) < 0)
        goto out;
    if (start_metrics(&m) < 0)
        goto out;
    /* An upgrade's new master takes these over only once it serves (startup_tick_cb). */
    if (!master_upgrading() && take_files(&m) < 0)
        goto out;
    m.sigs[0] = evsignal_new(m.base, SIGCHLD, sigchld_cb, &m);
    m.sigs[1] = evsignal_new(m.base, SIGHUP, sighup_cb, &m);
    m.sigs[2] = evsignal_new(m.base, SIGTERM, sigterm_cb, &m);
    m.sigs[3] = evsignal_new(m.base, SIGINT, sigterm_cb, &m);
    m.sigs[4] = evsignal_new(m.base, SIGQUIT, sigterm_cb, &m);
    m.sigs[5] = evsignal_new(m.base, SIGUSR1, sigusr1_cb, &m);
    m.sigs[6] = evsignal_new(m.base, SIGUSR2, sigusr2_cb, &m);
    for (int i = 0; i < 7; i++)
        evsignal_add(m.sigs[i], NULL);
    m.kill_timer = evtimer_new(m.base, kill_timer_cb, &m);

    for (int i = 0; i < SHM_WORKER_CAP; i++) {
        m.workers[i].m = &m;
        m.workers[i].idx = i;
        m.workers[i].respawn = evtimer_new(m.base, respawn_cb, &m.workers[i]);
    }
    if (master_start_gen(&m, m.cur) < 0 || master_table_start(&m) < 0)
        goto out;
    m.ready_fd = ready_fd;
    ready_fd = -1;
    m.startup_deadline_ms = now_mono_ms() + RELOAD_TIMEOUT_MS;
    m.startup_tick = evtimer_new(m.base, startup_tick_cb, &m);
    startup_tick_cb(-1, 0, &m);
    event_base_dispatch(m.base);
    if (!m.startup_failed)
        log_info("stopped");
    rv = m.startup_failed || m.table_failed;
out:
    if (m.ready_fd >= 0)
        ready_fd = m.ready_fd;
    tell_ready(&ready_fd, (char)(rv != 0));
    if (rv != 0)
        for (int i = 0; i < SHM_WORKER_CAP; i++)
            if (m.workers[i].pid > 0)
                kill(m.workers[i].pid, SIGKILL);
    master_free(&m);
    return rv;
}
