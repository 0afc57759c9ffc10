/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_etcd.c: the etcd client against a real etcd (Debian's etcd-server):
 * range and get, txn compares, watch (order, split messages, replay,
 * compaction, a killed server), several endpoints, auth with token expiry,
 * TLS with client certificates, cancel and free from anywhere.
 *
 * Every test case starts its own etcd on free 127.0.0.1 ports (an unchecked
 * fixture, so it runs in the parent and is stopped even when a test fails).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "etcd.h"
#include "upstream.h"
#include "log.h"
#include "aigw/util.h"
#include "tap.h"

#define ETCD_BIN "/usr/bin/etcd"
#define ETCDCTL_BIN "/usr/bin/etcdctl"
#define OPENSSL_BIN "/usr/bin/openssl"
#define WAIT_MS 5000   /* any single wait for a callback */
#define START_MS 15000 /* etcd answering after start */
#define MAXKV 64
#define MAXEV 512

/* ---- the etcd server of the running test case ---- */

/*
 * The fixtures run in the parent and must not use ck_assert (Check would drop
 * the whole case from the TAP output and skip the teardown): they note what
 * went wrong in err, and every test fails on it through t_open.
 */
struct server {
    pid_t pid;
    int tls;
    char dir[PATH_MAX];
    char url[64];
    char ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX]; /* TLS: client side */
    char other_ca[PATH_MAX];                          /* TLS: a CA that did not sign */
    char err[PATH_MAX + 128];                         /* why the fixture failed */
};

static struct server g_srv;

/* Note the first fixture failure; returns 0. */
static int __attribute__((format(printf, 1, 2))) setup_fail(const char *fmt, ...)
{
    va_list ap;
    if (g_srv.err[0] != '\0')
        return 0;
    va_start(ap, fmt);
    vsnprintf(g_srv.err, sizeof(g_srv.err), fmt, ap);
    va_end(ap);
    return 0;
}

/* dir/name into out (PATH_MAX bytes); the fixture's names always fit. */
static void
fixture_path(char *out, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", g_srv.dir, name) >= PATH_MAX)
        out[0] = '\0';
}

/* Run argv with output to dir/cmd.log; 1 when it exits 0. */
static int
run_cmd(const char *const *argv)
{
    char log[PATH_MAX];
    int st;
    fixture_path(log, "cmd.log");
    pid_t pid = fork();
    if (pid < 0)
        return setup_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return setup_fail("%s %s failed", argv[0], argv[1]);
    return 1;
}

static size_t
discard(char *buf, size_t size, size_t n, void *arg)
{
    return size * n;
}

/* A blocking POST to the server's gateway (setup steps only); the HTTP status, 0 on error. */
static long
post(const char *path, const char *body)
{
    char url[256];
    long status = 0;
    CURL *h = curl_easy_init();
    if (h == NULL)
        return 0;
    snprintf(url, sizeof(url), "%s%s", g_srv.url, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (g_srv.tls) {
        curl_easy_setopt(h, CURLOPT_CAINFO, g_srv.ca);
        curl_easy_setopt(h, CURLOPT_SSLCERT, g_srv.cert);
        curl_easy_setopt(h, CURLOPT_SSLKEY, g_srv.key);
    }
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status;
}

/* 1 when the file at path contains needle. */
static int
file_has(const char *path, const char *needle)
{
    static char buf[1 << 20];
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Fork etcd on fresh ports (extra arguments after the usual ones); 0 on error. */
static int
server_spawn(const char *const *extra, const char *log)
{
    char data[PATH_MAX], client[64], peer[64], cluster[96];
    const char *argv[40];
    int n = 0;
    snprintf(g_srv.url, sizeof(g_srv.url), "%s://127.0.0.1:%d", g_srv.tls ? "https" : "http",
             free_port());
    snprintf(client, sizeof(client), "%s", g_srv.url);
    snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", free_port());
    snprintf(cluster, sizeof(cluster), "default=%s", peer);
    fixture_path(data, "data");
    const char *base[] = {ETCD_BIN,  "--name",
                          "default", "--data-dir",
                          data,      "--listen-client-urls",
                          client,    "--advertise-client-urls",
                          client,    "--listen-peer-urls",
                          peer,      "--initial-advertise-peer-urls",
                          peer,      "--initial-cluster",
                          cluster,   NULL};
    for (int i = 0; base[i] != NULL; i++)
        argv[n++] = base[i];
    for (int i = 0; extra != NULL && extra[i] != NULL; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if ((g_srv.pid = fork()) < 0) {
        g_srv.pid = 0;
        return setup_fail("fork: %s", strerror(errno));
    }
    if (g_srv.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test program */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return 1;
}

/*
 * 1 once our etcd serves on its port (its own log says so: not another
 * program's server that happens to answer there); 0 when it exited or is late.
 */
static int
server_ready(const char *log)
{
    char mark[64];
    snprintf(mark, sizeof(mark), "client requests on %s", strstr(g_srv.url, "127.0.0.1:"));
    int64_t end = now_mono_ms() + START_MS;
    while (now_mono_ms() < end) {
        int st;
        if (waitpid(g_srv.pid, &st, WNOHANG) != 0) {
            g_srv.pid = 0;
            return 0;
        }
        if (file_has(log, mark) && post("/v3/kv/range", "{\"key\":\"AA==\"}") == 200)
            return 1;
        usleep(20000);
    }
    return setup_fail("etcd did not answer in %d ms", START_MS);
}

/* Start etcd in g_srv.dir and wait until it answers; new ports when it exits. */
static int
server_start(const char *const *extra)
{
    char log[PATH_MAX], data[PATH_MAX];
    fixture_path(log, "etcd.log");
    fixture_path(data, "data");
    for (int attempt = 0; attempt < 3 && g_srv.err[0] == '\0'; attempt++) {
        if (!server_spawn(extra, log))
            return 0;
        if (server_ready(log))
            return 1;
        if (g_srv.pid > 0) /* late, not gone */
            return 0;
        nftw(data, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
    return setup_fail("etcd exited three times");
}

/* The end of a fixture log file to stderr (the folder goes away with it). */
static void
dump_tail(const char *name)
{
    char path[PATH_MAX];
    fixture_path(path, name);
    tap_dump_tail(path);
}

/* Kill etcd (if a test did not already) and remove its folder, also after a failure. */
static void
server_stop(void)
{
    if (g_srv.pid > 0) {
        kill(g_srv.pid, SIGKILL);
        waitpid(g_srv.pid, NULL, 0);
    }
    if (g_srv.err[0] != '\0') {
        fprintf(stderr, "# etcd fixture: %s\n", g_srv.err);
        dump_tail("etcd.log");
        dump_tail("cmd.log");
    }
    if (g_srv.dir[0] != '\0')
        nftw(g_srv.dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    memset(&g_srv, 0, sizeof(g_srv));
}

/* A fresh folder; 0 on error. */
static int
server_dir(int tls)
{
    const char *tmp = getenv("TMPDIR");
    memset(&g_srv, 0, sizeof(g_srv));
    g_srv.tls = tls;
    snprintf(g_srv.dir, sizeof(g_srv.dir), "%s/aigw-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_srv.dir) == NULL) {
        g_srv.dir[0] = '\0';
        return setup_fail("mkdtemp: %s", strerror(errno));
    }
    return 1;
}

/* A plain http etcd without auth. */
static void
plain_setup(void)
{
    if (server_dir(0))
        server_start(NULL);
}

/* Simple tokens that expire 2 s after their last use; user root:pw; auth enabled. */
static void
auth_setup(void)
{
    const char *extra[] = {"--auth-token", "simple", "--auth-token-ttl", "2", NULL};
    if (!server_dir(0) || !server_start(extra))
        return;
    const char *add[] = {ETCDCTL_BIN, "--endpoints", g_srv.url, "user", "add", "root:pw", NULL};
    const char *on[] = {ETCDCTL_BIN, "--endpoints", g_srv.url, "auth", "enable", NULL};
    if (run_cmd(add))
        run_cmd(on);
}

/* openssl: a CA, a server and a client certificate for 127.0.0.1, another CA; 0 on error. */
static int
make_certs(void)
{
    char ext[PATH_MAX], p[8][PATH_MAX];
    const char *names[] = {"ca.key",  "ca.crt",  "srv.key", "srv.csr",
                           "srv.crt", "cli.key", "cli.csr", "other.key"};
    for (int i = 0; i < 8; i++)
        fixture_path(p[i], names[i]);
    fixture_path(g_srv.ca, "ca.crt");
    fixture_path(g_srv.cert, "cli.crt");
    fixture_path(g_srv.key, "cli.key");
    fixture_path(g_srv.other_ca, "other.crt");
    fixture_path(ext, "ext.cnf");
    FILE *fp = fopen(ext, "w");
    if (fp == NULL)
        return setup_fail("%s: %s", ext, strerror(errno));
    fputs("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n", fp);
    fclose(fp);
    const char *ca[] = {OPENSSL_BIN,
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:prime256v1",
                        "-nodes",
                        "-keyout",
                        p[0],
                        "-out",
                        p[1],
                        "-days",
                        "2",
                        "-subj",
                        "/CN=aigw test CA",
                        NULL};
    const char *other[] = {OPENSSL_BIN,
                           "req",
                           "-x509",
                           "-newkey",
                           "ec",
                           "-pkeyopt",
                           "ec_paramgen_curve:prime256v1",
                           "-nodes",
                           "-keyout",
                           p[7],
                           "-out",
                           g_srv.other_ca,
                           "-days",
                           "2",
                           "-subj",
                           "/CN=other CA",
                           NULL};
    const char *sreq[] = {
        OPENSSL_BIN,     "req",     "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes",        "-keyout", p[2],      "-out", p[3],       "-subj",
        "/CN=127.0.0.1", NULL};
    const char *ssign[] = {
        OPENSSL_BIN,       "x509", "-req", "-in",   p[3], "-CA",      p[1], "-CAkey", p[0],
        "-CAcreateserial", "-out", p[4],   "-days", "2",  "-extfile", ext,  NULL};
    const char *creq[] = {
        OPENSSL_BIN, "req",     "-newkey", "ec",   "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes",    "-keyout", p[5],      "-out", p[6],       "-subj",
        "/CN=root",  NULL};
    const char *csign[] = {
        OPENSSL_BIN,       "x509", "-req",     "-in",   p[6], "-CA",      p[1], "-CAkey", p[0],
        "-CAcreateserial", "-out", g_srv.cert, "-days", "2",  "-extfile", ext,  NULL};
    const char *const *steps[] = {ca, other, sreq, ssign, creq, csign};
    for (int i = 0; i < 6; i++)
        if (!run_cmd(steps[i]))
            return 0;
    return 1;
}

/* https only, client certificates required. */
static void
tls_setup(void)
{
    char srv_crt[PATH_MAX], srv_key[PATH_MAX];
    if (!server_dir(1) || !make_certs())
        return;
    fixture_path(srv_crt, "srv.crt");
    fixture_path(srv_key, "srv.key");
    const char *extra[] = {"--cert-file",       srv_crt,  "--key-file",         srv_key,
                           "--trusted-ca-file", g_srv.ca, "--client-cert-auth", NULL};
    server_start(extra);
}

/* 1 when every thread of pid is stopped. */
static int
all_stopped(pid_t pid)
{
    char path[64], line[512];
    struct dirent *de;
    int all = 1;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    while (all && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(line, sizeof(line), "/proc/%d/task/%.32s/stat", (int)pid, de->d_name);
        FILE *fp = fopen(line, "r");
        const char *p = fp && fgets(line, sizeof(line), fp) ? strrchr(line, ')') : NULL;
        if (fp != NULL)
            fclose(fp);
        all = p != NULL && (p[2] == 'T' || p[2] == 't');
    }
    closedir(d);
    return all;
}

/*
 * SIGSTOP etcd and wait until all of it stopped: the kernel wakes one thread,
 * which stops the others, so for a moment after kill() etcd still answers.
 */
static void
server_pause(void)
{
    int64_t end = now_mono_ms() + WAIT_MS;
    ck_assert_int_eq(kill(g_srv.pid, SIGSTOP), 0);
    while (!all_stopped(g_srv.pid)) {
        ck_assert_msg(now_mono_ms() < end, "etcd did not stop");
        usleep(1000);
    }
}

/* ---- the client side: an event base, an upstream, an etcd ---- */

struct t {
    struct event_base *base;
    struct upstream *up;
    struct etcd *e;
    struct event *tick;
};

/* Nothing: the tick only bounds EVLOOP_ONCE. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Event base, upstream, tick and an etcd client with conf c. */
static void
t_open_conf(struct t *t, const struct etcd_conf *c)
{
    struct timeval tv = tv_ms(10);
    ck_assert_msg(g_srv.err[0] == '\0' && g_srv.pid > 0, "no etcd: %s", g_srv.err);
    kill(g_srv.pid, SIGCONT); /* in case a failed test left it stopped */
    memset(t, 0, sizeof(*t));
    t->base = event_base_new();
    ck_assert_ptr_nonnull(t->base);
    t->up = upstream_new(t->base);
    ck_assert_ptr_nonnull(t->up);
    /* EVLOOP_ONCE returns at least every 10 ms, so every wait is bounded */
    t->tick = event_new(t->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(t->tick, &tv);
    t->e = etcd_new(t->base, t->up, c);
    ck_assert_ptr_nonnull(t->e);
}

/* Plain endpoints (the running server when eps is NULL), optional user. */
static void
t_open(struct t *t, const char *const *eps, int n, const char *user, const char *pw)
{
    const char *one[] = {g_srv.url};
    struct etcd_conf c = {.endpoints = eps ? eps : one,
                          .nendpoints = eps ? n : 1,
                          .user = user,
                          .password = pw,
                          .connect_timeout_ms = 1000,
                          .request_timeout_ms = 3000};
    t_open_conf(t, &c);
}

/* Free the client (if a test did not), the upstream and the base. */
static void
t_close(struct t *t)
{
    etcd_free(t->e);
    upstream_free(t->up);
    event_free(t->tick);
    event_base_free(t->base);
}

/* Run the loop until *flag or ms pass; returns *flag. */
static int
run_until(struct t *t, const int *flag, int64_t ms)
{
    int64_t end = now_mono_ms() + ms;
    while (!*flag && now_mono_ms() < end)
        event_base_loop(t->base, EVLOOP_ONCE);
    return *flag;
}

/* Run the loop for ms. */
static void
run_for(struct t *t, int64_t ms)
{
    int never = 0;
    run_until(t, &never, ms);
}

/* ---- results ---- */

/* FNV-1a of a value, to compare big values cheaply. */
static uint64_t
fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

struct got {
    int type;
    char key[128];
    size_t keylen;
    char value[256]; /* the first bytes */
    size_t valuelen;
    uint64_t hash;
    int64_t create, mod, version;
};

/* Record a kv; both strings must be NUL-terminated. */
static void
got_set(struct got *g, int type, const struct etcd_kv *kv)
{
    g->type = type;
    g->keylen = kv->keylen;
    memcpy(g->key, kv->key, kv->keylen < sizeof(g->key) ? kv->keylen : sizeof(g->key) - 1);
    g->valuelen = kv->valuelen;
    memcpy(g->value, kv->value, kv->valuelen < sizeof(g->value) ? kv->valuelen : sizeof(g->value));
    g->hash = fnv(kv->value, kv->valuelen);
    g->create = kv->create_revision;
    g->mod = kv->mod_revision;
    g->version = kv->version;
    ck_assert_int_eq(kv->key[kv->keylen], '\0');
    ck_assert_int_eq(kv->value[kv->valuelen], '\0');
}

struct rres {
    int done, calls, err;
    int64_t rev;
    size_t n;
    struct got kv[MAXKV];
    struct t *t;
    int free_in_cb; /* call etcd_free from the callback */
};

/* Record a range answer; may free the client from inside. */
static void
range_cb(int err, int64_t rev, const struct etcd_kv *kvs, size_t n, void *arg)
{
    struct rres *r = arg;
    r->calls++;
    r->done = 1;
    r->err = err;
    r->rev = rev;
    r->n = n;
    for (size_t i = 0; i < n && i < MAXKV; i++)
        got_set(&r->kv[i], ETCD_PUT, &kvs[i]);
    if (r->free_in_cb) {
        etcd_free(r->t->e);
        r->t->e = NULL;
    }
}

struct wres {
    int done, calls, err;
    int64_t rev;
};

/* Record a write answer. */
static void
write_cb(int err, int64_t rev, void *arg)
{
    struct wres *w = arg;
    w->calls++;
    w->done = 1;
    w->err = err;
    w->rev = rev;
}

/* A get, waited for. */
static void
get(struct t *t, const char *key, struct rres *r)
{
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(etcd_get(t->e, key, range_cb, r), 0);
    ck_assert_msg(run_until(t, &r->done, WAIT_MS), "get %s: no answer", key);
    ck_assert_int_eq(r->calls, 1);
}

/* A prefix range, waited for. */
static void
range(struct t *t, const char *prefix, struct rres *r)
{
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(etcd_range_prefix(t->e, prefix, range_cb, r), 0);
    ck_assert_msg(run_until(t, &r->done, WAIT_MS), "range %s: no answer", prefix);
    ck_assert_int_eq(r->calls, 1);
}

/* A put; returns the error, the revision in *rev. */
static int
put(struct t *t, const char *key, const char *val, size_t len, int64_t expect, int64_t *rev)
{
    struct wres w = {0};
    ck_assert_int_eq(etcd_put(t->e, key, val, len, expect, write_cb, &w), 0);
    ck_assert_msg(run_until(t, &w.done, WAIT_MS), "put %s: no answer", key);
    ck_assert_int_eq(w.calls, 1);
    if (rev != NULL)
        *rev = w.rev;
    return w.err;
}

/* A put of a string. */
static int
put_s(struct t *t, const char *key, const char *val, int64_t expect, int64_t *rev)
{
    return put(t, key, val, strlen(val), expect, rev);
}

/* A delete; returns the error, the revision in *rev. */
static int
del(struct t *t, const char *key, int64_t expect, int64_t *rev)
{
    struct wres w = {0};
    ck_assert_int_eq(etcd_delete(t->e, key, expect, write_cb, &w), 0);
    ck_assert_msg(run_until(t, &w.done, WAIT_MS), "delete %s: no answer", key);
    ck_assert_int_eq(w.calls, 1);
    if (rev != NULL)
        *rev = w.rev;
    return w.err;
}

/* The store's revision now. */
static int64_t
revision(struct t *t)
{
    struct rres r;
    get(t, "/no-such-key", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_int_gt(r.rev, 0);
    return r.rev;
}

struct wlog {
    int ended, end_err, after_end, batches, cancel_in_cb, get_in_cb;
    int64_t end_rev, last_rev;
    size_t nev;
    struct got ev[MAXEV];
    struct etcd_watch *w;
    struct t *t;
    struct rres inner; /* the get started from the callback */
};

/* Record events and the end; may start a get and cancel from inside. */
static void
watch_cb(int err, int64_t rev, const struct etcd_event *evs, size_t n, void *arg)
{
    struct wlog *l = arg;
    if (l->ended) {
        l->after_end++;
        return;
    }
    if (err != ETCD_OK) {
        ck_assert_uint_eq(n, 0);
        l->ended = 1;
        l->end_err = err;
        l->end_rev = rev;
        return;
    }
    ck_assert_uint_gt(n, 0);
    ck_assert_int_ge(rev, l->last_rev);
    l->last_rev = rev;
    l->batches++;
    for (size_t i = 0; i < n && l->nev < MAXEV; i++)
        got_set(&l->ev[l->nev++], (int)evs[i].type, &evs[i].kv);
    if (l->get_in_cb) {
        l->get_in_cb = 0;
        ck_assert_int_eq(etcd_get(l->t->e, "/cb/a", range_cb, &l->inner), 0);
    }
    if (l->cancel_in_cb) {
        l->cancel_in_cb = 0;
        etcd_watch_cancel(l->w);
        ck_assert_int_eq(l->ended, 1); /* the nested ETCD_ECANCELED came before it returned */
        ck_assert_int_eq(l->end_err, ETCD_ECANCELED);
        etcd_watch_cancel(l->w); /* twice: nothing */
    }
}

/* Start a watch recorded in l. */
static void
watch(struct t *t, struct wlog *l, const char *prefix, int64_t from)
{
    memset(l, 0, sizeof(*l));
    l->t = t;
    l->w = etcd_watch_prefix(t->e, prefix, from, watch_cb, l);
    ck_assert_ptr_nonnull(l->w);
}

/* Wait until the watch has seen n events. */
static void
wait_events(struct t *t, struct wlog *l, size_t n)
{
    int64_t end = now_mono_ms() + WAIT_MS;
    while (l->nev < n && !l->ended && now_mono_ms() < end)
        event_base_loop(t->base, EVLOOP_ONCE);
    ck_assert_msg(l->nev >= n, "%zu events of %zu (ended %d, err %d)", l->nev, n, l->ended,
                  l->end_err);
}

/* ---- kv ---- */

START_TEST(range_and_get)
{
    struct t t;
    struct rres r;
    const char bin[] = {'a', '\0', (char)0xff, '\n', '"', '\\', (char)0x80, 'z'};
    int64_t r1, r2, r3;
    t_open(&t, NULL, 0, NULL, NULL);
    range(&t, "/rg/", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_gt(r.rev, 0);
    ck_assert_int_eq(etcd_connected(t.e), 1);
    ck_assert_str_eq(etcd_endpoint(t.e), g_srv.url);

    ck_assert_int_eq(put_s(&t, "/rg/b", "two", -1, &r2), ETCD_OK);
    ck_assert_int_eq(put(&t, "/rg/a", bin, sizeof(bin), -1, &r1), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/rg/c", "", -1, &r3), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/rg0", "outside", -1, NULL), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/rg", "outside", -1, NULL), ETCD_OK);
    ck_assert_int_lt(r2, r1);
    ck_assert_int_lt(r1, r3);

    range(&t, "/rg/", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_uint_eq(r.n, 3);
    ck_assert_int_ge(r.rev, r3);
    ck_assert_str_eq(r.kv[0].key, "/rg/a"); /* sorted by key */
    ck_assert_uint_eq(r.kv[0].valuelen, sizeof(bin));
    ck_assert_mem_eq(r.kv[0].value, bin, sizeof(bin));
    ck_assert_int_eq(r.kv[0].create, r1);
    ck_assert_int_eq(r.kv[0].mod, r1);
    ck_assert_int_eq(r.kv[0].version, 1);
    ck_assert_str_eq(r.kv[1].key, "/rg/b");
    ck_assert_str_eq(r.kv[1].value, "two");
    ck_assert_str_eq(r.kv[2].key, "/rg/c");
    ck_assert_uint_eq(r.kv[2].valuelen, 0);

    get(&t, "/rg/b", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.kv[0].value, "two");
    ck_assert_int_eq(r.kv[0].mod, r2);
    get(&t, "/rg/none", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_uint_eq(r.n, 0);

    /* the prefix with a last byte of 0xff: range_end carries into the byte before */
    ck_assert_int_eq(put_s(&t, "/rh\xff/x", "1", -1, NULL), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/ri", "2", -1, NULL), ETCD_OK);
    range(&t, "/rh\xff", &r);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_str_eq(r.kv[0].key, "/rh\xff/x");

    /* refused at once, no callback */
    ck_assert_int_eq(etcd_get(t.e, "", range_cb, &r), -1);
    ck_assert_ptr_null(etcd_watch_prefix(t.e, "/rg/", 0, watch_cb, &r));
    t_close(&t);
}
END_TEST

START_TEST(put_compares)
{
    struct t t;
    struct rres r;
    int64_t r1, r2, r3, rc;
    t_open(&t, NULL, 0, NULL, NULL);
    ck_assert_int_eq(put_s(&t, "/pc/k", "v1", -1, &r1), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/pc/k", "v2", -1, &r2), ETCD_OK); /* unconditional again */
    ck_assert_int_gt(r2, r1);

    ck_assert_int_eq(put_s(&t, "/pc/new", "a", 0, &r3), ETCD_OK); /* if absent */
    ck_assert_int_eq(put_s(&t, "/pc/new", "b", 0, &rc), ETCD_ECONFLICT);
    ck_assert_int_ge(rc, r3);
    get(&t, "/pc/new", &r);
    ck_assert_str_eq(r.kv[0].value, "a");

    ck_assert_int_eq(put_s(&t, "/pc/k", "v3", r2 + 1000, NULL), ETCD_ECONFLICT); /* wrong */
    ck_assert_int_eq(put_s(&t, "/pc/k", "v3", r1, NULL), ETCD_ECONFLICT);        /* stale */
    ck_assert_int_eq(put_s(&t, "/pc/k", "v3", r2, &r3), ETCD_OK);                /* right */
    get(&t, "/pc/k", &r);
    ck_assert_str_eq(r.kv[0].value, "v3");
    ck_assert_int_eq(r.kv[0].mod, r3);
    ck_assert_int_eq(r.kv[0].create, r1);
    ck_assert_int_eq(r.kv[0].version, 3);
    ck_assert_int_eq(put_s(&t, "/pc/missing", "x", r3, NULL), ETCD_ECONFLICT);
    get(&t, "/pc/missing", &r);
    ck_assert_uint_eq(r.n, 0);
    t_close(&t);
}
END_TEST

START_TEST(delete_compares)
{
    struct t t;
    struct rres r;
    int64_t r1, r2, rd;
    t_open(&t, NULL, 0, NULL, NULL);
    ck_assert_int_eq(del(&t, "/dc/none", -1, NULL), ETCD_ENOTFOUND);
    ck_assert_int_eq(del(&t, "/dc/none", 5, NULL), ETCD_ENOTFOUND);
    ck_assert_int_eq(del(&t, "/dc/none", 0, NULL), ETCD_ENOTFOUND);

    ck_assert_int_eq(put_s(&t, "/dc/a", "1", -1, &r1), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/dc/a", "2", -1, &r2), ETCD_OK);
    ck_assert_int_eq(del(&t, "/dc/a", r1, NULL), ETCD_ECONFLICT); /* stale */
    ck_assert_int_eq(del(&t, "/dc/a", 0, NULL), ETCD_ECONFLICT);  /* "if absent" */
    get(&t, "/dc/a", &r);
    ck_assert_uint_eq(r.n, 1);
    ck_assert_int_eq(del(&t, "/dc/a", r2, &rd), ETCD_OK);
    ck_assert_int_gt(rd, r2);
    get(&t, "/dc/a", &r);
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(del(&t, "/dc/a", r2, NULL), ETCD_ENOTFOUND);

    ck_assert_int_eq(put_s(&t, "/dc/b", "1", -1, NULL), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/dc/b/child", "1", -1, NULL), ETCD_OK);
    ck_assert_int_eq(del(&t, "/dc/b", -1, NULL), ETCD_OK); /* one key, not a prefix */
    get(&t, "/dc/b/child", &r);
    ck_assert_uint_eq(r.n, 1);
    t_close(&t);
}
END_TEST

/* ---- watch ---- */

START_TEST(watch_put_delete)
{
    struct t t;
    struct wlog l;
    int64_t from, ra, rb, ra2, rd;
    t_open(&t, NULL, 0, NULL, NULL);
    from = revision(&t) + 1;
    watch(&t, &l, "/w1/", from);
    ck_assert_int_eq(put_s(&t, "/w1/a", "A", -1, &ra), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/w1x", "outside", -1, NULL), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/w1/b", "B", -1, &rb), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/w1/a", "A2", -1, &ra2), ETCD_OK);
    ck_assert_int_eq(del(&t, "/w1/a", -1, &rd), ETCD_OK);
    wait_events(&t, &l, 4);
    run_for(&t, 100);
    ck_assert_uint_eq(l.nev, 4);
    ck_assert_int_eq(l.ended, 0);

    ck_assert_int_eq(l.ev[0].type, ETCD_PUT);
    ck_assert_str_eq(l.ev[0].key, "/w1/a");
    ck_assert_str_eq(l.ev[0].value, "A");
    ck_assert_int_eq(l.ev[0].mod, ra);
    ck_assert_int_eq(l.ev[0].create, ra);
    ck_assert_int_eq(l.ev[0].version, 1);
    ck_assert_str_eq(l.ev[1].key, "/w1/b");
    ck_assert_int_eq(l.ev[1].mod, rb);
    ck_assert_int_eq(l.ev[2].type, ETCD_PUT);
    ck_assert_str_eq(l.ev[2].value, "A2");
    ck_assert_int_eq(l.ev[2].mod, ra2);
    ck_assert_int_eq(l.ev[2].create, ra);
    ck_assert_int_eq(l.ev[2].version, 2);
    ck_assert_int_eq(l.ev[3].type, ETCD_DELETE);
    ck_assert_str_eq(l.ev[3].key, "/w1/a");
    ck_assert_int_eq(l.ev[3].mod, rd);
    ck_assert_int_eq(l.last_rev, rd);

    etcd_watch_cancel(l.w);
    ck_assert_int_eq(l.ended, 1);
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    ck_assert_int_eq(put_s(&t, "/w1/c", "C", -1, NULL), ETCD_OK);
    run_for(&t, 100);
    ck_assert_int_eq(l.after_end, 0);
    ck_assert_uint_eq(l.nev, 4);
    t_close(&t);
}
END_TEST

#define NSPLIT 100
#define SPLIT_LEN 4000
#define BIG_LEN (300 * 1024)

/* A value that differs per seed. */
static void
fill(char *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)('a' + (size_t)(seed * 7 + (int)(i % 4099)) % 26);
}

/* Many writes at once and one big value: messages split across (and packed into) writes. */
START_TEST(watch_split_messages)
{
    struct t t;
    struct wlog *l = malloc(sizeof(*l));
    struct wres w[NSPLIT + 1];
    char key[64], *val = malloc(BIG_LEN);
    uint64_t want[NSPLIT + 1];
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(val);
    t_open(&t, NULL, 0, NULL, NULL);
    watch(&t, l, "/split/", revision(&t) + 1);
    memset(w, 0, sizeof(w));
    for (int i = 0; i <= NSPLIT; i++) {
        size_t len = i == NSPLIT ? BIG_LEN : SPLIT_LEN + (size_t)i;
        fill(val, len, i);
        want[i] = fnv(val, len);
        snprintf(key, sizeof(key), "/split/%04d", i);
        ck_assert_int_eq(etcd_put(t.e, key, val, len, -1, write_cb, &w[i]), 0);
    }
    wait_events(&t, l, NSPLIT + 1);
    for (int i = 0; i <= NSPLIT; i++) {
        ck_assert_msg(run_until(&t, &w[i].done, WAIT_MS), "put %d: no answer", i);
        ck_assert_int_eq(w[i].err, ETCD_OK);
    }
    run_for(&t, 100);
    ck_assert_uint_eq(l->nev, NSPLIT + 1);
    ck_assert_int_eq(l->ended, 0);
    int seen[NSPLIT + 1] = {0};
    for (size_t j = 0; j < l->nev; j++) {
        int i = atoi(l->ev[j].key + 7);
        ck_assert_int_ge(i, 0);
        ck_assert_int_le(i, NSPLIT);
        ck_assert_int_eq(seen[i]++, 0);
        ck_assert_uint_eq(l->ev[j].valuelen, i == NSPLIT ? BIG_LEN : SPLIT_LEN + (size_t)i);
        ck_assert_msg(l->ev[j].hash == want[i], "value of %s differs", l->ev[j].key);
        ck_assert_int_eq(l->ev[j].mod, w[i].rev);
        if (j > 0)
            ck_assert_int_gt(l->ev[j].mod, l->ev[j - 1].mod);
    }
    t_close(&t);
    ck_assert_int_eq(l->ended, 1); /* etcd_free canceled it */
    ck_assert_int_eq(l->end_err, ETCD_ECANCELED);
    free(val);
    free(l);
}
END_TEST

/* A start revision in the past replays what happened since, in the first batch(es). */
START_TEST(watch_replay)
{
    struct t t;
    struct wlog l;
    int64_t r1, r2, r3;
    t_open(&t, NULL, 0, NULL, NULL);
    ck_assert_int_eq(put_s(&t, "/rp/a", "1", -1, &r1), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/rp/b", "2", -1, &r2), ETCD_OK);
    ck_assert_int_eq(del(&t, "/rp/a", -1, &r3), ETCD_OK);
    watch(&t, &l, "/rp/", r2);
    wait_events(&t, &l, 2);
    ck_assert_str_eq(l.ev[0].key, "/rp/b");
    ck_assert_int_eq(l.ev[0].mod, r2);
    ck_assert_int_eq(l.ev[1].type, ETCD_DELETE);
    ck_assert_int_eq(l.ev[1].mod, r3);
    etcd_watch_cancel(l.w);

    watch(&t, &l, "/rp/", r1);
    wait_events(&t, &l, 3);
    ck_assert_int_eq(l.ev[0].mod, r1);
    ck_assert_int_eq(l.ev[2].mod, r3);
    ck_assert_int_eq(l.batches, 1); /* one response right after "created" */
    t_close(&t);
}
END_TEST

/* The callback starts a request and cancels its own watch. */
START_TEST(watch_callback_reenters)
{
    struct t t;
    struct wlog l;
    t_open(&t, NULL, 0, NULL, NULL);
    ck_assert_int_eq(put_s(&t, "/cb/a", "x", -1, NULL), ETCD_OK);
    watch(&t, &l, "/cb/", revision(&t) + 1);
    l.get_in_cb = 1;
    l.cancel_in_cb = 1;
    ck_assert_int_eq(put_s(&t, "/cb/b", "1", -1, NULL), ETCD_OK);
    ck_assert_msg(run_until(&t, &l.ended, WAIT_MS), "no event");
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    ck_assert_msg(run_until(&t, &l.inner.done, WAIT_MS), "the get from the callback: no answer");
    ck_assert_int_eq(l.inner.err, ETCD_OK);
    ck_assert_str_eq(l.inner.kv[0].value, "x");
    ck_assert_int_eq(put_s(&t, "/cb/c", "2", -1, NULL), ETCD_OK);
    run_for(&t, 100);
    ck_assert_int_eq(l.after_end, 0);
    ck_assert_uint_eq(l.nev, 1);
    t_close(&t);
}
END_TEST

/* ---- endpoints, free ---- */

START_TEST(endpoint_failover)
{
    struct t t;
    struct rres r;
    struct wlog l;
    char dead1[64], dead2[64];
    snprintf(dead1, sizeof(dead1), "http://127.0.0.1:%d", free_port());
    snprintf(dead2, sizeof(dead2), "http://127.0.0.1:%d/", free_port());
    const char *eps[] = {dead1, g_srv.url};
    t_open(&t, eps, 2, NULL, NULL);
    ck_assert_str_eq(etcd_endpoint(t.e), dead1);
    ck_assert_int_eq(put_s(&t, "/fo/a", "1", -1, NULL), ETCD_OK);
    ck_assert_str_eq(etcd_endpoint(t.e), g_srv.url);
    ck_assert_int_eq(etcd_connected(t.e), 1);
    get(&t, "/fo/a", &r);
    ck_assert_uint_eq(r.n, 1);
    t_close(&t);

    const char *none[] = {dead1, dead2};
    t_open(&t, none, 2, NULL, NULL);
    get(&t, "/fo/a", &r);
    ck_assert_int_eq(r.err, ETCD_EIO);
    ck_assert_int_eq(etcd_connected(t.e), 0);
    ck_assert_int_eq(put_s(&t, "/fo/a", "1", -1, NULL), ETCD_EIO);
    watch(&t, &l, "/fo/", 1);
    ck_assert_msg(run_until(&t, &l.ended, WAIT_MS), "watch on a dead endpoint: no end");
    ck_assert_int_eq(l.end_err, ETCD_EIO);
    t_close(&t);
}
END_TEST

/* etcd_free: requests on the wire (etcd stopped), not sent yet, and live watches: ETCD_ECANCELED.
 */
START_TEST(free_cancels)
{
    struct t t;
    struct rres r1, r2;
    struct wres w = {0};
    struct wlog l;
    t_open(&t, NULL, 0, NULL, NULL);
    watch(&t, &l, "/fr/", revision(&t) + 1);
    ck_assert_int_eq(put_s(&t, "/fr/a", "1", -1, NULL), ETCD_OK);
    wait_events(&t, &l, 1); /* the watch is live */
    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));
    server_pause();
    ck_assert_int_eq(etcd_get(t.e, "/fr/a", range_cb, &r1), 0);
    ck_assert_int_eq(etcd_range_prefix(t.e, "/fr/", range_cb, &r2), 0);
    ck_assert_int_eq(etcd_put(t.e, "/fr/b", "2", 1, -1, write_cb, &w), 0);
    run_for(&t, 100); /* sent; no answer from a stopped etcd */
    ck_assert_int_eq(r1.calls + r2.calls + w.calls, 0);
    etcd_free(t.e);
    t.e = NULL;
    ck_assert_int_eq(kill(g_srv.pid, SIGCONT), 0);
    ck_assert_int_eq(r1.calls, 1);
    ck_assert_int_eq(r2.calls, 1);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(r1.err, ETCD_ECANCELED);
    ck_assert_int_eq(r2.err, ETCD_ECANCELED);
    ck_assert_int_eq(w.err, ETCD_ECANCELED);
    ck_assert_int_eq(l.ended, 1);
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    run_for(&t, 100);
    ck_assert_int_eq(r1.calls + r2.calls + w.calls, 3);
    ck_assert_int_eq(l.after_end, 0);
    t_close(&t);

    /* nothing sent yet (the loop has not run) */
    t_open(&t, NULL, 0, NULL, NULL);
    memset(&r1, 0, sizeof(r1));
    ck_assert_int_eq(etcd_get(t.e, "/fr/a", range_cb, &r1), 0);
    watch(&t, &l, "/fr/", 1);
    etcd_free(t.e);
    t.e = NULL;
    ck_assert_int_eq(r1.calls, 1);
    ck_assert_int_eq(r1.err, ETCD_ECANCELED);
    ck_assert_int_eq(l.ended, 1);
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    run_for(&t, 100);
    ck_assert_int_eq(r1.calls, 1);
    ck_assert_int_eq(l.after_end, 0);
    t_close(&t);
}
END_TEST

/* etcd_free from inside a callback, with a watch and another request live. */
START_TEST(free_in_callback)
{
    struct t t;
    struct rres r, other;
    struct wlog l;
    t_open(&t, NULL, 0, NULL, NULL);
    watch(&t, &l, "/fic/", revision(&t) + 1);
    memset(&r, 0, sizeof(r));
    memset(&other, 0, sizeof(other));
    r.t = &t;
    r.free_in_cb = 1;
    ck_assert_int_eq(etcd_get(t.e, "/fic/a", range_cb, &r), 0);
    ck_assert_msg(run_until(&t, &r.done, WAIT_MS), "no answer");
    ck_assert_ptr_null(t.e);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_int_eq(l.ended, 1);
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    run_for(&t, 100);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(l.after_end, 0);
    t_close(&t);
}
END_TEST

/* Last in its case: compaction makes old revisions unwatchable. */
START_TEST(watch_compacted)
{
    struct t t;
    struct wlog l;
    char body[128];
    int64_t r1, r2, r3;
    t_open(&t, NULL, 0, NULL, NULL);
    ck_assert_int_eq(put_s(&t, "/cp/a", "1", -1, &r1), ETCD_OK);
    ck_assert_int_eq(put_s(&t, "/cp/a", "2", -1, &r2), ETCD_OK);
    watch(&t, &l, "/cp/", r2 + 1); /* live across the compaction */
    snprintf(body, sizeof(body), "{\"revision\":\"%lld\",\"physical\":true}", (long long)r2);
    ck_assert_int_eq(post("/v3/kv/compaction", body), 200);

    struct wlog old;
    watch(&t, &old, "/cp/", r1);
    ck_assert_msg(run_until(&t, &old.ended, WAIT_MS), "no end");
    ck_assert_int_eq(old.end_err, ETCD_ECOMPACTED);
    ck_assert_int_eq(old.end_rev, r2);
    ck_assert_uint_eq(old.nev, 0);

    ck_assert_int_eq(put_s(&t, "/cp/a", "3", -1, &r3), ETCD_OK);
    wait_events(&t, &l, 1);
    ck_assert_int_eq(l.ev[0].mod, r3);
    ck_assert_int_eq(l.ended, 0);
    run_for(&t, 100);
    ck_assert_int_eq(old.after_end, 0);
    t_close(&t);
}
END_TEST

/* ---- a server that stops answering, then dies ---- */

/* A stopped server: requests time out after request_timeout_ms; the watch has no such limit. */
START_TEST(stopped_server_times_out)
{
    struct t t;
    struct wlog l;
    struct rres r;
    int64_t rev;
    const char *eps[] = {g_srv.url};
    struct etcd_conf c = {
        .endpoints = eps, .nendpoints = 1, .connect_timeout_ms = 500, .request_timeout_ms = 500};
    t_open_conf(&t, &c);
    watch(&t, &l, "/st/", revision(&t) + 1);
    ck_assert_int_eq(put_s(&t, "/st/a", "1", -1, NULL), ETCD_OK);
    wait_events(&t, &l, 1);
    server_pause();
    int64_t t0 = now_mono_ms();
    get(&t, "/st/a", &r);
    int64_t took = now_mono_ms() - t0;
    ck_assert_int_eq(r.err, ETCD_EIO);
    ck_assert_int_ge(took, 400);
    ck_assert_int_lt(took, 2000);
    ck_assert_int_eq(etcd_connected(t.e), 0);
    run_for(&t, 700);
    ck_assert_int_eq(kill(g_srv.pid, SIGCONT), 0);
    ck_assert_int_eq(l.ended, 0); /* idle longer than request_timeout_ms: still there */
    struct t t2;                  /* normal timeouts: etcd may take a moment to catch up */
    t_open(&t2, NULL, 0, NULL, NULL);
    ck_assert_int_eq(put_s(&t2, "/st/b", "2", -1, &rev), ETCD_OK);
    t_close(&t2);
    wait_events(&t, &l, 2);
    ck_assert_int_eq(l.ev[1].mod, rev);
    t_close(&t);
}
END_TEST

START_TEST(watch_server_killed)
{
    struct t t;
    struct wlog l;
    struct rres r;
    t_open(&t, NULL, 0, NULL, NULL);
    watch(&t, &l, "/k/", revision(&t) + 1);
    ck_assert_int_eq(put_s(&t, "/k/a", "1", -1, NULL), ETCD_OK);
    wait_events(&t, &l, 1);
    int64_t t0 = now_mono_ms();
    ck_assert_int_eq(kill(g_srv.pid, SIGKILL), 0);
    ck_assert_msg(run_until(&t, &l.ended, 3000), "no end of the watch 3 s after the kill");
    ck_assert_int_eq(l.end_err, ETCD_EIO);
    ck_assert_int_lt(now_mono_ms() - t0, 2000);
    ck_assert_int_eq(etcd_connected(t.e), 0);
    get(&t, "/k/a", &r);
    ck_assert_int_eq(r.err, ETCD_EIO);
    ck_assert_int_eq(etcd_connected(t.e), 0);
    t_close(&t);
}
END_TEST

/* ---- auth ---- */

START_TEST(auth_refused)
{
    struct t t;
    struct rres r;
    struct wlog l;
    t_open(&t, NULL, 0, "root", "wrong");
    get(&t, "/a/x", &r);
    ck_assert_int_eq(r.err, ETCD_EAUTH);
    ck_assert_int_eq(put_s(&t, "/a/x", "1", -1, NULL), ETCD_EAUTH);
    watch(&t, &l, "/a/", 1);
    ck_assert_msg(run_until(&t, &l.ended, WAIT_MS), "no end");
    ck_assert_int_eq(l.end_err, ETCD_EAUTH);
    t_close(&t);

    t_open(&t, NULL, 0, "nobody", "pw");
    get(&t, "/a/x", &r);
    ck_assert_int_eq(r.err, ETCD_EAUTH);
    t_close(&t);

    t_open(&t, NULL, 0, NULL, NULL); /* no user at all */
    get(&t, "/a/x", &r);
    ck_assert_int_eq(r.err, ETCD_EAUTH);
    watch(&t, &l, "/a/", 1);
    ck_assert_msg(run_until(&t, &l.ended, WAIT_MS), "no end");
    ck_assert_int_eq(l.end_err, ETCD_EAUTH);
    t_close(&t);
}
END_TEST

/* etcd_free while requests and a watch wait for the token. */
START_TEST(auth_pending_free)
{
    struct t t;
    struct rres r;
    struct wres w = {0};
    struct wlog l;
    t_open(&t, NULL, 0, "root", "pw");
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(etcd_get(t.e, "/a/x", range_cb, &r), 0);
    ck_assert_int_eq(etcd_delete(t.e, "/a/x", 3, write_cb, &w), 0);
    watch(&t, &l, "/a/", 1);
    event_base_loop(t.base, EVLOOP_NONBLOCK);
    etcd_free(t.e);
    t.e = NULL;
    ck_assert_int_eq(r.calls, 1);
    ck_assert_int_eq(r.err, ETCD_ECANCELED);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w.err, ETCD_ECANCELED);
    ck_assert_int_eq(l.ended, 1);
    ck_assert_int_eq(l.end_err, ETCD_ECANCELED);
    run_for(&t, 100);
    ck_assert_int_eq(r.calls + w.calls, 2);
    ck_assert_int_eq(l.after_end, 0);
    t_close(&t);
}
END_TEST

/* The right password works; after the token expires, requests and watches authenticate again. */
START_TEST(auth_and_expiry)
{
    struct t t;
    struct rres r, r2;
    struct wlog l;
    int64_t rev;
    t_open(&t, NULL, 0, "root", "pw");
    /* several requests at once share one authentication */
    memset(&r2, 0, sizeof(r2));
    ck_assert_int_eq(etcd_range_prefix(t.e, "/a/", range_cb, &r2), 0);
    ck_assert_int_eq(put_s(&t, "/a/x", "1", -1, &rev), ETCD_OK);
    ck_assert_msg(run_until(&t, &r2.done, WAIT_MS), "no answer");
    ck_assert_int_eq(r2.err, ETCD_OK);
    get(&t, "/a/x", &r);
    ck_assert_int_eq(r.err, ETCD_OK);
    ck_assert_str_eq(r.kv[0].value, "1");
    watch(&t, &l, "/a/", rev);
    wait_events(&t, &l, 1);
    etcd_watch_cancel(l.w);

    usleep(3500 * 1000); /* the simple token expires 2 s after its last use */
    /* both refused with the old token; one authentication, both retried */
    watch(&t, &l, "/a/", rev);
    memset(&r2, 0, sizeof(r2));
    ck_assert_int_eq(etcd_get(t.e, "/a/x", range_cb, &r2), 0);
    ck_assert_msg(run_until(&t, &r2.done, WAIT_MS), "no answer");
    ck_assert_int_eq(r2.err, ETCD_OK);
    ck_assert_uint_eq(r2.n, 1);
    wait_events(&t, &l, 1);
    ck_assert_int_eq(l.ev[0].mod, rev);
    ck_assert_int_eq(put_s(&t, "/a/x", "2", -1, &rev), ETCD_OK);
    wait_events(&t, &l, 2);
    ck_assert_int_eq(l.ev[1].mod, rev);

    usleep(3500 * 1000);
    ck_assert_int_eq(put_s(&t, "/a/y", "3", 0, NULL), ETCD_OK);
    ck_assert_int_eq(l.ended, 0); /* a watch outlives its token */
    t_close(&t);
}
END_TEST

/* ---- TLS ---- */

START_TEST(tls_client_cert)
{
    struct t t;
    struct rres r;
    struct wlog l;
    int64_t rev;
    const char *eps[] = {g_srv.url};
    struct etcd_conf c = {.endpoints = eps,
                          .nendpoints = 1,
                          .ca_file = g_srv.ca,
                          .cert_file = g_srv.cert,
                          .key_file = g_srv.key,
                          .connect_timeout_ms = 2000,
                          .request_timeout_ms = 3000};
    t_open_conf(&t, &c);
    ck_assert_int_eq(put_s(&t, "/tls/a", "secure", -1, &rev), ETCD_OK);
    get(&t, "/tls/a", &r);
    ck_assert_str_eq(r.kv[0].value, "secure");
    watch(&t, &l, "/tls/", rev);
    wait_events(&t, &l, 1);
    ck_assert_int_eq(l.ev[0].mod, rev);
    t_close(&t);

    c.cert_file = c.key_file = NULL; /* the server wants a client certificate */
    t_open_conf(&t, &c);
    get(&t, "/tls/a", &r);
    ck_assert_int_eq(r.err, ETCD_EIO);
    t_close(&t);

    c.cert_file = g_srv.cert;
    c.key_file = g_srv.key;
    c.ca_file = g_srv.other_ca; /* the server's certificate does not verify */
    t_open_conf(&t, &c);
    get(&t, "/tls/a", &r);
    ck_assert_int_eq(r.err, ETCD_EIO);
    ck_assert_int_eq(etcd_connected(t.e), 0);
    t_close(&t);
}
END_TEST

static Suite *
etcd_suite(void)
{
    Suite *s = suite_create("etcd");
    TCase *tc = tcase_create("kv");
    tcase_add_unchecked_fixture(tc, plain_setup, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, range_and_get);
    tcase_add_test(tc, put_compares);
    tcase_add_test(tc, delete_compares);
    tcase_add_test(tc, watch_put_delete);
    tcase_add_test(tc, watch_split_messages);
    tcase_add_test(tc, watch_replay);
    tcase_add_test(tc, watch_callback_reenters);
    tcase_add_test(tc, endpoint_failover);
    tcase_add_test(tc, free_cancels);
    tcase_add_test(tc, free_in_callback);
    tcase_add_test(tc, watch_compacted);
    suite_add_tcase(s, tc);

    tc = tcase_create("killed");
    tcase_add_unchecked_fixture(tc, plain_setup, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, stopped_server_times_out);
    tcase_add_test(tc, watch_server_killed);
    suite_add_tcase(s, tc);

    tc = tcase_create("auth");
    tcase_add_unchecked_fixture(tc, auth_setup, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, auth_refused);
    tcase_add_test(tc, auth_pending_free);
    tcase_add_test(tc, auth_and_expiry);
    suite_add_tcase(s, tc);

    if (access(OPENSSL_BIN, X_OK) != 0)
        return s; /* no openssl to make certificates: no TLS case */
    tc = tcase_create("tls");
    tcase_add_unchecked_fixture(tc, tls_setup, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, tls_client_cert);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    if (access(ETCD_BIN, X_OK) != 0 || access(ETCDCTL_BIN, X_OK) != 0) {
        /* TAP's skip-all: install etcd-server and etcd-client to run these */
        printf("1..0 # SKIP %s or %s not installed\n", ETCD_BIN, ETCDCTL_BIN);
        return 0;
    }
    const char *lvl = getenv("AIGW_TEST_LOG"); /* e.g. debug; quiet otherwise */
    log_init(1, lvl ? log_level_parse(lvl) : LOG_LVL_ERROR, "check_etcd");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run_suite(etcd_suite());
    curl_global_cleanup();
    return rc;
}
