/*
 * master.c: the master process. It opens the listeners, is the only writer of
 * the LMDB configuration table, starts the workers by fork+exec and restarts
 * any that dies. Signal handlers only queue libevent callbacks; all work
 * happens in the event loop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/log.h"
#include "aigw/resource.h"
#include "aigw/shm.h"
#include "aigw/store.h"
#include "aigw/util.h"
#include "admin.h"
#include "etcdsync.h"
#include "http.h"
#include "upstream.h"
#include "breaker.h"
#include "master.h"
#include "resfile.h"

#define MAX_WORKERS 256
/* Worker indexes in shared memory: old and new workers overlap during a reload. */
#define SHM_WORKER_CAP (2 * MAX_WORKERS)
#define RESPAWN_FAST_MS 1000 /* a worker that dies sooner than this is restarted after a pause */

struct wslot {
    pid_t pid;
    int64_t started_ms;
    struct event *respawn;
    struct master *m;
    int idx;
};

struct master {
    struct conf *conf;
    int foreground;
    char exe[PATH_MAX];
    int lfds[CONF_MAX_LISTEN];
    int nlfds;
    int conf_fd; /* memfd with aigw.yaml as JSON, inherited by workers */
    int shm_fd;  /* the shared-memory table (limits, breakers, splits), inherited too */
    struct shm *shm;
    struct store *store;
    struct event_base *base;
    struct wslot workers[MAX_WORKERS];
    int nworkers;
    int stopping;
    struct event *sigs[5];
    struct event *kill_timer;
    struct admin *admin;
    struct http_server *admin_http;
    struct upstream *up;     /* etcd mode: libcurl on the master's loop */
    struct etcdsync *etcd;   /* etcd mode: etcd -> LMDB */
};

/* Bind and listen on every address of a list (IPv4 and IPv6). */
static int
open_listeners(const struct conf_listen *list, int n, int *fds, int *nfds, const char *what)
{
    for (int i = 0; i < n; i++) {
        const struct conf_listen *l = &list[i];
        struct addrinfo hints = {0}, *ai;
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
        int rc = getaddrinfo(l->host, l->port, &hints, &ai);
        if (rc != 0) {
            log_warnx("listen %s: %s", l->text, gai_strerror(rc));
            return -1;
        }
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
        if (fd < 0) {
            freeaddrinfo(ai);
            log_warn("listen %s: socket", l->text);
            return -1;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 511) < 0) {
            log_warn("listen %s", l->text);
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
        breaker_peek(shm_find(m->shm, "B", v->id, v->t[i].name), now, &bi);
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
status_traffic(struct master *m, struct json_object *o)
{
    struct json_object *list = json_object_new_array(), *rl = json_object_new_object();
    void *arg[2] = {m, list};
    if (store_read_begin(m->store) == 0) {
        store_models_foreach(m->store, status_breakers, arg);
        store_read_end(m->store);
    }
    json_object_object_add(o, "breakers", list);
    json_object_object_add(rl, "backend", json_object_new_string(
                                              m->conf->rl_backend == RL_BACKEND_REDIS ? "redis" : "local"));
    json_object_object_add(rl, "denied", json_object_new_int64((int64_t)shm_stat(m->shm, SHM_STAT_RL_DENIED)));
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

/* GET /admin/v1/status: the master's part. */
static void
admin_status(struct json_object *o, void *arg)
{
    struct master *m = arg;
    struct json_object *ws = json_object_new_array();
    json_object_object_add(o, "mode", json_object_new_string(m->conf->etcd_nendpoints ? "etcd" : "standalone"));
    json_object_object_add(o, "master_pid", json_object_new_int((int)getpid()));
    for (int i = 0; i < m->nworkers; i++) {
        struct json_object *w = json_object_new_object();
        json_object_object_add(w, "slot", json_object_new_int(i));
        json_object_object_add(w, "pid", json_object_new_int((int)m->workers[i].pid));
        json_object_object_add(w, "state", json_object_new_string(m->workers[i].pid > 0 ? "running" : "restarting"));
        json_object_array_add(ws, w);
    }
    json_object_object_add(o, "workers", ws);
    if (m->etcd != NULL)
        etcdsync_status(m->etcd, o);
    status_traffic(m, o);
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
    if (bad < 0 ||
        open_listeners(m->conf->admin_listen, m->conf->admin_nlisten, fds, &n, "Admin API") < 0)
        return -1;
    if (m->etcd != NULL)
        etcdsync_admin_backend(m->etcd, &be);
    else
        admin_backend_lmdb(&be, m->store);
    if ((m->admin = admin_new(m->conf, m->store, &be, admin_status, m)) == NULL ||
        (m->admin_http = http_server_new(m->base, m->conf, admin_handle, m->admin)) == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (http_server_listen_fd(m->admin_http, fds[i]) < 0)
            return -1;
    return 0;
}

/* Load the resources file and commit it to LMDB in one transaction. */
static int
load_resources(struct master *m, const char *why)
{
    struct aigw_errors e;
    if (m->conf->resources[0] == '\0') {
        log_info("%s: no resources file; serving the table as stored", why);
        return 0;
    }
    errors_init(&e, m->conf->resources);
    struct json_object *res = resfile_load(m->conf->resources, &e);
    if (res == NULL) {
        for (int i = 0; i < e.n; i++)
            log_warnx("%s", e.msgs[i]);
        log_warnx("%s: %s is invalid; the configuration in use is unchanged", why,
                  m->conf->resources);
        errors_free(&e);
        return -1;
    }
    struct store_txn *t = store_write_begin(m->store);
    int changes = 0, rv = -1;
    if (t == NULL)
        goto out;
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *items = json_object_object_get(res, res_kind_name((enum res_kind)k));
        int n = store_sync_kind(t, (enum res_kind)k, items, &e);
        if (n < 0) {
            store_abort(t);
            goto out;
        }
        changes += n;
    }
    char source[PATH_MAX + 8];
    snprintf(source, sizeof(source), "file:%s", m->conf->resources);
    if (store_commit(t, source, 0) < 0)
        goto out;
    rv = 0;
    struct store_meta meta = {0};
    if (store_read_begin(m->store) == 0) {
        store_meta_get(m->store, &meta);
        store_read_end(m->store);
    }
    log_info("%s: %s: %d change%s, configuration version %llu", why, m->conf->resources, changes,
             changes == 1 ? "" : "s", (unsigned long long)meta.version);
out:
    for (int i = 0; i < e.n; i++)
        log_warnx("%s", e.msgs[i]);
    if (rv < 0)
        log_warnx("%s: could not store the configuration; the one in use is unchanged", why);
    errors_free(&e);
    json_object_put(res);
    return rv;
}

/* Put aigw.yaml, as parsed, into an anonymous file the workers inherit. */
static int
make_conf_fd(struct json_object *tree)
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

/* In the child: move the inherited fds to 3.. and exec aigw in worker mode. */
static void
exec_worker(struct master *m, int idx)
{
    char spec[256], *p = spec;
    int high[CONF_MAX_LISTEN + 2], n = m->nlfds;
    /* First out of the way (above 100), then into place: dup2 clears CLOEXEC. */
    for (int i = 0; i < n; i++)
        high[i] = fcntl(m->lfds[i], F_DUPFD_CLOEXEC, 100);
    high[n] = fcntl(m->conf_fd, F_DUPFD_CLOEXEC, 100);
    high[n + 1] = fcntl(m->shm_fd, F_DUPFD_CLOEXEC, 100);
    for (int i = 0; i <= n + 1; i++)
        if (high[i] < 0 || dup2(high[i], 3 + i) < 0)
            _exit(127);
    p += snprintf(p, sizeof(spec), "%d:%d:%d:", idx, 3 + n, 4 + n);
    for (int i = 0; i < n; i++)
        p += snprintf(p, sizeof(spec) - (size_t)(p - spec), "%s%d", i ? "," : "", 3 + i);
    char *argv[] = {"aigw", "-c", m->conf->path, "-W", spec, m->foreground ? "-d" : NULL, NULL};
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(m->exe, argv);
    _exit(127);
}

static int
spawn_worker(struct master *m, int idx)
{
    struct wslot *w = &m->workers[idx];
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("fork");
        return -1;
    }
    if (pid == 0)
        exec_worker(m, idx);
    w->pid = pid;
    w->started_ms = now_mono_ms();
    log_info("worker %d started, pid %d", idx, (int)pid);
    return 0;
}

static void
respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wslot *w = arg;
    if (!w->m->stopping && w->pid == 0)
        spawn_worker(w->m, w->idx);
}

/* Reap workers; restart the ones that died, unless we are stopping. */
static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < m->nworkers; i++) {
            struct wslot *w = &m->workers[i];
            if (w->pid != pid)
                continue;
            w->pid = 0;
            /* A dead worker's LMDB reader slot would pin old pages forever. */
            int cleared = store_reader_check(m->store);
            /* ... and its in-flight requests would hold concurrency forever. */
            shm_worker_gone(m->shm, i, LIM_CONC);
            if (m->stopping) {
                log_debug("worker %d (pid %d) exited", i, (int)pid);
                break;
            }
            if (WIFSIGNALED(status))
                log_warnx("worker %d (pid %d) killed by signal %d; restarting", i, (int)pid,
                          WTERMSIG(status));
            else
                log_warnx("worker %d (pid %d) exited with status %d; restarting", i, (int)pid,
                          WEXITSTATUS(status));
            if (cleared > 0)
                log_debug("cleared %d stale LMDB reader slot(s)", cleared);
            int64_t age = now_mono_ms() - w->started_ms;
            struct timeval tv = {0, age < RESPAWN_FAST_MS ? 500000 : 0};
            evtimer_add(w->respawn, &tv);
            break;
        }
    }
    if (m->stopping) {
        int alive = 0;
        for (int i = 0; i < m->nworkers; i++)
            alive += m->workers[i].pid != 0;
        if (alive == 0)
            event_base_loopbreak(m->base);
    }
}

static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    if (m->etcd != NULL) {
        log_info("SIGHUP: etcd mode: nothing to re-read (etcd changes arrive through the watch)");
        return;
    }
    log_info("SIGHUP: reloading %s", m->conf->resources);
    load_resources(m, "reload");
}

/* The drain took too long: end the stragglers. */
static void
kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    for (int i = 0; i < m->nworkers; i++)
        if (m->workers[i].pid > 0) {
            log_warnx("worker %d (pid %d) did not stop in time; killing it", i,
                      (int)m->workers[i].pid);
            kill(m->workers[i].pid, SIGKILL);
        }
}

/* SIGTERM/SIGINT: workers drain and exit; then so do we. */
static void
sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
    struct master *m = arg;
    if (m->stopping)
        return;
    m->stopping = 1;
    log_info("%s: stopping (drain up to %lld ms)", strsignal((int)sig),
             (long long)m->conf->drain_timeout_ms);
    for (int i = 0; i < m->nlfds; i++)
        close(m->lfds[i]);
    m->nlfds = 0;
    if (m->admin_http)
        http_server_drain(m->admin_http);
    int alive = 0;
    for (int i = 0; i < m->nworkers; i++) {
        evtimer_del(m->workers[i].respawn);
        if (m->workers[i].pid > 0) {
            kill(m->workers[i].pid, SIGTERM);
            alive++;
        }
    }
    if (alive == 0) {
        event_base_loopbreak(m->base);
        return;
    }
    int64_t ms = m->conf->drain_timeout_ms + 2000;
    struct timeval tv = tv_ms(ms);
    evtimer_add(m->kill_timer, &tv);
}

static void
master_free(struct master *m)
{
    if (m->admin_http)
        http_server_free(m->admin_http);
    admin_free(m->admin);
    etcdsync_free(m->etcd);
    if (m->up)
        upstream_free(m->up);
    for (int i = 0; i < m->nworkers; i++)
        if (m->workers[i].respawn)
            event_free(m->workers[i].respawn);
    for (size_t i = 0; i < sizeof(m->sigs) / sizeof(m->sigs[0]); i++)
        if (m->sigs[i])
            event_free(m->sigs[i]);
    if (m->kill_timer)
        event_free(m->kill_timer);
    if (m->base)
        event_base_free(m->base);
    for (int i = 0; i < m->nlfds; i++)
        close(m->lfds[i]);
    if (m->conf_fd >= 0)
        close(m->conf_fd);
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
    (void)n;
    close(*fd);
    *fd = -1;
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
    m.conf_fd = -1;
    m.shm_fd = -1;
    ssize_t n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1);
    if (n <= 0) {
        log_warn("readlink /proc/self/exe");
        return 1;
    }
    m.exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);

    errors_init(&e, NULL);
    m.store = store_open(c->data_dir, c->lmdb_map_size, (unsigned)c->lmdb_max_readers, 0, &e);
    if (m.store == NULL) {
        for (int i = 0; i < e.n; i++)
            log_warnx("%s", e.msgs[i]);
        errors_free(&e);
        goto out;
    }
    errors_free(&e);
    /* A crashed predecessor may have left reader slots behind. */
    store_reader_check(m.store);
    if (store_upgrade_records(m.store) < 0)
        goto out;
    /* etcd mode: the table as stored serves until etcd answers (last known good). */
    if (c->etcd_nendpoints == 0 && load_resources(&m, "start") < 0)
        goto out;
    if (open_listeners(c->listen, c->nlisten, m.lfds, &m.nlfds, "proxy") < 0 ||
        (m.conf_fd = make_conf_fd(conf_tree)) < 0)
        goto out;
    m.nworkers = c->workers > MAX_WORKERS ? MAX_WORKERS : c->workers;
    if ((m.shm = shm_create(c->shm_slots, SHM_WORKER_CAP, &m.shm_fd)) == NULL)
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
    if (start_admin(&m) < 0)
        goto out;
    m.sigs[0] = evsignal_new(m.base, SIGCHLD, sigchld_cb, &m);
    m.sigs[1] = evsignal_new(m.base, SIGHUP, sighup_cb, &m);
    m.sigs[2] = evsignal_new(m.base, SIGTERM, sigterm_cb, &m);
    m.sigs[3] = evsignal_new(m.base, SIGINT, sigterm_cb, &m);
    m.sigs[4] = evsignal_new(m.base, SIGQUIT, sigterm_cb, &m);
    for (int i = 0; i < 5; i++)
        evsignal_add(m.sigs[i], NULL);
    m.kill_timer = evtimer_new(m.base, kill_timer_cb, &m);

    for (int i = 0; i < m.nworkers; i++) {
        m.workers[i].m = &m;
        m.workers[i].idx = i;
        m.workers[i].respawn = evtimer_new(m.base, respawn_cb, &m.workers[i]);
        if (spawn_worker(&m, i) < 0)
            goto out;
    }
    log_info("aigw %s started: %d workers, data_dir %s", PACKAGE_VERSION, m.nworkers, c->data_dir);
    tell_ready(&ready_fd, 0);
    event_base_dispatch(m.base);
    log_info("stopped");
    rv = 0;
out:
    tell_ready(&ready_fd, (char)(rv != 0));
    if (rv != 0)
        for (int i = 0; i < m.nworkers; i++)
            if (m.workers[i].pid > 0)
                kill(m.workers[i].pid, SIGKILL);
    master_free(&m);
    return rv;
}
