/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_rlredis.c: the Redis backend of the rate limiter against a real
 * redis-server (Debian's): exact limits, several counters, window TTLs,
 * settle, concurrency leases, two nodes on one Redis, AUTH and SELECT, a
 * killed and restarted server, a server that never answers, cancel and free.
 *
 * Every test case starts its own redis-server on a free 127.0.0.1 port (an
 * unchecked fixture, so it runs in the parent and is stopped even when a test
 * fails); a test inspects what the script wrote through a blocking hiredis
 * connection of its own.
 */
#include "config.h"

#include <arpa/inet.h>
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

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "rlredis.h"
#include "aigw/conf.h"
#include "log.h"
#include "aigw/util.h"
#include "tap.h"

#define REDIS_BIN "/usr/bin/redis-server"
#define PASSWORD "s3cret-Pw-42"
#define WAIT_MS 5000   /* any single wait for a callback */
#define START_MS 10000 /* redis answering after start */

/* ---- the redis-server of the running test case ---- */

/*
 * The fixtures run in the parent and must not use ck_assert (Check would drop
 * the case from the TAP output and skip the teardown): they note what went
 * wrong in err, and every test fails on it through t_open.
 */
struct server {
    pid_t pid;
    int port;
    const char *password; /* --requirepass, or NULL */
    char dir[PATH_MAX];
    char err[PATH_MAX + 128];
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

/* 1 when the file at path contains needle; counts matches into *count when not NULL. */
static int
file_has(const char *path, const char *needle, int *count)
{
    static char buf[1 << 20];
    FILE *fp = fopen(path, "r");
    int n = 0;
    if (fp == NULL)
        return 0;
    size_t len = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[len] = '\0';
    for (const char *p = buf; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    if (count != NULL)
        *count = n;
    return n > 0;
}

/* A blocking connection to our server, authenticated; NULL when it does not answer. */
static redisContext *
sync_connect(void)
{
    struct timeval tv = {0, 500000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", g_srv.port, tv);
    if (c == NULL || c->err) {
        if (c != NULL)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (g_srv.password != NULL) {
        redisReply *r = redisCommand(c, "AUTH %s", g_srv.password);
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* Fork redis-server on g_srv.port, logging to dir/redis.log; 0 on error. */
static int
server_spawn(void)
{
    char port[16], log[PATH_MAX];
    const char *argv[24];
    int n = 0;
    snprintf(port, sizeof(port), "%d", g_srv.port);
    fixture_path(log, "redis.log");
    const char *base[] = {REDIS_BIN, "--port",       port, "--bind", "127.0.0.1", "--save",
                          "",        "--appendonly", "no", "--dir",  g_srv.dir,   "--logfile",
                          log,       "--daemonize",  "no", NULL};
    for (int i = 0; base[i] != NULL; i++)
        argv[n++] = base[i];
    if (g_srv.password != NULL) {
        argv[n++] = "--requirepass";
        argv[n++] = g_srv.password;
    }
    argv[n] = NULL;
    if ((g_srv.pid = fork()) < 0) {
        g_srv.pid = 0;
        return setup_fail("fork: %s", strerror(errno));
    }
    if (g_srv.pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test program */
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return 1;
}

/*
 * 1 once our redis answers PING on its port (its own log names the port:
 * not another program's server that happens to answer there); 0 when it
 * exited or is late.
 */
static int
server_ready(void)
{
    char log[PATH_MAX], mark[64];
    fixture_path(log, "redis.log");
    snprintf(mark, sizeof(mark), "port=%d", g_srv.port);
    int64_t end = now_mono_ms() + START_MS;
    while (now_mono_ms() < end) {
        if (waitpid(g_srv.pid, NULL, WNOHANG) != 0) {
            g_srv.pid = 0;
            return 0;
        }
        redisContext *c = file_has(log, mark, NULL) ? sync_connect() : NULL;
        if (c != NULL) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r != NULL)
                freeReplyObject(r);
            redisFree(c);
            if (ok)
                return 1;
        }
        usleep(10000);
    }
    return setup_fail("redis did not answer in %d ms", START_MS);
}

/* Start redis on a fresh port; new ports when it exits (the port was taken meanwhile). */
static int
server_start(void)
{
    for (int attempt = 0; attempt < 3 && g_srv.err[0] == '\0'; attempt++) {
        g_srv.port = free_port();
        if (!server_spawn())
            return 0;
        if (server_ready())
            return 1;
        if (g_srv.pid > 0) /* late, not gone */
            return 0;
    }
    return setup_fail("redis exited three times");
}

/* The end of a fixture log file to stderr (the folder goes away with it). */
static void
dump_tail(const char *name)
{
    char path[PATH_MAX];
    fixture_path(path, name);
    tap_dump_tail(path);
}

/* Kill redis (if a test did not already) and remove its folder, also after a failure. */
static void
server_stop(void)
{
    if (g_srv.pid > 0) {
        kill(g_srv.pid, SIGKILL);
        waitpid(g_srv.pid, NULL, 0);
    }
    if (g_srv.err[0] != '\0') {
        fprintf(stderr, "# redis fixture: %s\n", g_srv.err);
        dump_tail("redis.log");
    }
    if (g_srv.dir[0] != '\0')
        nftw(g_srv.dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    memset(&g_srv, 0, sizeof(g_srv));
}

/* A fresh folder and a server, with a password or not. */
static void
server_setup(const char *password)
{
    const char *tmp = getenv("TMPDIR");
    memset(&g_srv, 0, sizeof(g_srv));
    g_srv.password = password;
    snprintf(g_srv.dir, sizeof(g_srv.dir), "%s/aigw-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(g_srv.dir) == NULL) {
        g_srv.dir[0] = '\0';
        setup_fail("mkdtemp: %s", strerror(errno));
        return;
    }
    server_start();
}

/* A server without a password. */
static void
plain_setup(void)
{
    server_setup(NULL);
}

/* A server that requires PASSWORD. */
static void
auth_setup(void)
{
    server_setup(PASSWORD);
}

/* Kill the server now (a test of an outage). */
static void
server_kill(void)
{
    ck_assert_int_gt(g_srv.pid, 0);
    kill(g_srv.pid, SIGKILL);
    waitpid(g_srv.pid, NULL, 0);
    g_srv.pid = 0;
}

/* Start the server again on the same port. */
static void
server_restart(void)
{
    ck_assert_int_eq(server_spawn(), 1);
    ck_assert_msg(server_ready(), "redis did not come back: %s", g_srv.err);
}

/* ---- the client side: an event base and an rlredis ---- */

struct t {
    struct event_base *base;
    struct event *tick;
    struct conf conf;
    struct rlredis *rr;
};

/* What a callback saw. */
struct res {
    int calls;
    struct rlredis_reply r;
    int64_t at_ms;
};

/* Record the reply. */
static void
res_cb(const struct rlredis_reply *r, void *arg)
{
    struct res *x = arg;
    x->calls++;
    x->r = *r;
    x->at_ms = now_mono_ms();
}

/* Nothing: the tick only bounds EVLOOP_ONCE. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Event base and tick, conf_defaults() pointed at our server; no rlredis yet. */
static void
t_init(struct t *t)
{
    struct timeval tv = tv_ms(10);
    ck_assert_msg(g_srv.err[0] == '\0' && g_srv.pid > 0, "no redis: %s", g_srv.err);
    memset(t, 0, sizeof(*t));
    signal(SIGPIPE, SIG_IGN); /* as the worker does: a write to a dead Redis is EPIPE */
    t->base = event_base_new();
    ck_assert_ptr_nonnull(t->base);
    /* EVLOOP_ONCE returns at least every 10 ms, so every wait is bounded */
    t->tick = event_new(t->base, -1, EV_PERSIST, tick_cb, NULL);
    event_add(t->tick, &tv);
    conf_defaults(&t->conf);
    snprintf(t->conf.redis_address, sizeof(t->conf.redis_address), "127.0.0.1:%d", g_srv.port);
    snprintf(t->conf.redis_prefix, sizeof(t->conf.redis_prefix), "t:");
    snprintf(t->conf.redis_password, sizeof(t->conf.redis_password), "%s",
             g_srv.password ? g_srv.password : "");
    t->conf.redis_timeout_ms = 2000;
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

/* Run until rr is connected (scripts loaded). */
static void
wait_connected(struct t *t, struct rlredis *rr, int64_t ms)
{
    int64_t end = now_mono_ms() + ms;
    while (!rlredis_connected(rr) && now_mono_ms() < end)
        event_base_loop(t->base, EVLOOP_ONCE);
    ck_assert_msg(rlredis_connected(rr), "not connected after %lld ms", (long long)ms);
}

/* t_init and a connected rlredis with the conf as it is. */
static void
t_open(struct t *t)
{
    t_init(t);
    t->rr = rlredis_new(t->base, &t->conf);
    ck_assert_ptr_nonnull(t->rr);
    wait_connected(t, t->rr, WAIT_MS);
}

/* Free the rlredis (if a test did not), the tick and the base. */
static void
t_close(struct t *t)
{
    rlredis_free(t->rr);
    event_free(t->tick);
    event_base_free(t->base);
}

/* One admission on rr, waited for; checks cb ran once and not from inside rlredis_admit. */
static void
admit_on(struct t *t, struct rlredis *rr, const struct rlredis_counter *c, int n, const char *lease,
         struct rlredis_reply *out)
{
    struct res x = {0};
    ck_assert_ptr_nonnull(rlredis_admit(rr, c, n, lease, res_cb, &x));
    ck_assert_int_eq(x.calls, 0);
    ck_assert_msg(run_until(t, &x.calls, WAIT_MS), "no answer in %d ms", WAIT_MS);
    ck_assert_int_eq(x.calls, 1);
    *out = x.r;
}

/* One admission on t->rr. */
static void
admit(struct t *t, const struct rlredis_counter *c, int n, const char *lease,
      struct rlredis_reply *out)
{
    admit_on(t, t->rr, c, n, lease, out);
}

/* A window counter. */
static struct rlredis_counter
win_counter(const char *key, int64_t limit, int64_t cost, int64_t window_s)
{
    struct rlredis_counter c = {.limit = limit, .cost = cost, .window_s = window_s};
    snprintf(c.key, sizeof(c.key), "%s", key);
    return c;
}

/* A concurrency lease counter, renewed as long as it is held. */
static struct rlredis_counter
lease_counter(const char *key, int64_t limit)
{
    struct rlredis_counter c = {.limit = limit, .cost = 1};
    snprintf(c.key, sizeof(c.key), "%s", key);
    return c;
}

/* A blocking connection for the test's own reads, or fail. */
static redisContext *
sync_open(void)
{
    redisContext *c = sync_connect();
    ck_assert_msg(c != NULL, "cannot connect to redis on port %d", g_srv.port);
    return c;
}

/* An integer answer (a string holding one, too); nil is -1. */
static long long __attribute__((format(printf, 2, 3)))
sync_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    long long v = -1;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(r->type != REDIS_REPLY_ERROR, "redis: %s", r->str);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

/* Redis's clock in seconds. */
static long long
redis_now_s(redisContext *c)
{
    redisReply *r = redisCommand(c, "TIME");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    long long s = strtoll(r->element[0]->str, NULL, 10);
    freeReplyObject(r);
    return s;
}

/* Sleep past a window boundary that is less than 3 s away, so a test sees one window. */
static void
avoid_window_edge(redisContext *c, int window_s)
{
    long long left = window_s - redis_now_s(c) % window_s;
    if (left < 3)
        usleep((useconds_t)(left * 1000000 + 100000));
}

/* Send stderr (the log) to dir/name at level; returns the path in out. */
static void
log_to_file(const char *name, int level, char *out)
{
    fixture_path(out, name);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    log_set_level(level);
}

/* ---- the tests ---- */

/* With limit N exactly N requests of cost 1 are admitted; the N+1st is denied and adds nothing. */
START_TEST(admits_exactly_limit)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:a:rpm", 5, 1, 60);
    t_open(&t);
    redisContext *sc = sync_open();
    avoid_window_edge(sc, 60);
    long long win = redis_now_s(sc) / 60;
    for (int i = 1; i <= 5; i++) {
        admit(&t, &c, 1, NULL, &r);
        ck_assert_int_eq(r.error, 0);
        ck_assert_int_eq(r.admitted, 1);
        ck_assert_int_eq(r.denied, -1);
        ck_assert_int_eq(r.used[0], i);
        ck_assert_int_gt(r.reset_ms[0], 0);
        ck_assert_int_le(r.reset_ms[0], 60000);
        ck_assert_int_eq(r.window[0], win);
    }
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 0);
    ck_assert_int_eq(r.denied, 0);
    ck_assert_int_eq(r.used[0], 5);
    ck_assert_int_gt(r.reset_ms[0], 0);
    ck_assert_int_le(r.reset_ms[0], 60000);
    /* the key is <prefix><key>:<window>, and the denial added nothing */
    ck_assert_int_eq(sync_int(sc, "GET t:key:a:rpm:%lld", win), 5);
    ck_assert_uint_eq(rlredis_errors(t.rr), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* A cost larger than 1: admitted while used < limit, so one request may overshoot. */
START_TEST(token_cost_semantics)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:a:tpd", 100, 60, 86400);
    t_open(&t);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 60);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 120);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 0);
    ck_assert_int_eq(r.used[0], 120);
    ck_assert_int_gt(r.reset_ms[0], 0);
    ck_assert_int_le(r.reset_ms[0], 86400000);
    t_close(&t);
}
END_TEST

/* One counter at its limit: the others are not incremented, its index (the caller's) reported. */
START_TEST(one_full_counter_adds_nothing)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c[5] = {
        win_counter("off", 0, 1, 60), /* limit 0: not checked, not sent */
        win_counter("A", 10, 1, 60),  win_counter("B", 2, 1, 60),
        win_counter("C", 10, 1, 60),  lease_counter("D", 5),
    };
    t_open(&t);
    redisContext *sc = sync_open();
    avoid_window_edge(sc, 60);
    admit(&t, &c[2], 1, NULL, &r);
    admit(&t, &c[2], 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 2);
    long long win = r.window[0];

    admit(&t, c, 5, "lease-1", &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 0);
    ck_assert_int_eq(r.denied, 2);
    ck_assert_int_eq(r.used[0], 0);
    ck_assert_int_eq(r.used[1], 0);
    ck_assert_int_eq(r.used[2], 2);
    ck_assert_int_eq(r.used[3], 0);
    ck_assert_int_eq(r.used[4], 0);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:A:%lld", win), 0);
    ck_assert_int_eq(sync_int(sc, "GET t:B:%lld", win), 2);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:C:%lld", win), 0);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:D"), 0);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:off:%lld", win), 0);

    /* and when all are under their limit, all are added */
    c[2].limit = 3;
    admit(&t, c, 5, "lease-1", &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.denied, -1);
    ck_assert_int_eq(r.used[1], 1);
    ck_assert_int_eq(r.used[2], 3);
    ck_assert_int_eq(r.used[3], 1);
    ck_assert_int_eq(r.used[4], 1);
    ck_assert_int_eq(sync_int(sc, "ZCARD t:D"), 1);
    ck_assert_ptr_nonnull(r.lease);
    rlredis_lease_end(r.lease);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* Window keys expire a minute after their window; a key without a TTL gets one, a TTL is kept. */
START_TEST(window_keys_expire)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter m = win_counter("ttl:m", 10, 1, 60);
    struct rlredis_counter d = win_counter("ttl:d", 10, 1, 86400);
    struct rlredis_counter bare = win_counter("ttl:bare", 10, 1, 60);
    t_open(&t);
    redisContext *sc = sync_open();
    avoid_window_edge(sc, 60);

    admit(&t, &m, 1, NULL, &r);
    long long ttl = sync_int(sc, "PTTL t:ttl:m:%lld", (long long)r.window[0]);
    ck_assert_int_gt(ttl, 60000);
    ck_assert_int_le(ttl, r.reset_ms[0] + 60000);

    admit(&t, &d, 1, NULL, &r);
    ttl = sync_int(sc, "PTTL t:ttl:d:%lld", (long long)r.window[0]);
    ck_assert_int_gt(ttl, 60000);
    ck_assert_int_le(ttl, 86400000 + 60000);

    /* a second admission does not extend it */
    ck_assert_int_eq(sync_int(sc, "PEXPIRE t:ttl:d:%lld 5000000", (long long)r.window[0]), 1);
    admit(&t, &d, 1, NULL, &r);
    ck_assert_int_le(sync_int(sc, "PTTL t:ttl:d:%lld", (long long)r.window[0]), 5000000);

    long long win = redis_now_s(sc) / 60;
    sync_int(sc, "SET t:ttl:bare:%lld 4", win);
    admit(&t, &bare, 1, NULL, &r);
    ck_assert_int_eq(r.used[0], 5);
    ck_assert_int_gt(sync_int(sc, "PTTL t:ttl:bare:%lld", win), 60000);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* Wait until everything sent before now was processed: Redis answers in order. */
static void
barrier(struct t *t)
{
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("barrier", 1000000, 1, 60);
    admit(t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
}

/* settle adds, clamps at 0, keeps the TTL, and never creates a window that is gone. */
START_TEST(settle_adds_and_clamps)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:s:tpm", 1000, 10, 60);
    t_open(&t);
    redisContext *sc = sync_open();
    avoid_window_edge(sc, 60);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.used[0], 10);
    long long w = r.window[0];

    rlredis_settle(t.rr, "key:s:tpm", w, 5);
    barrier(&t);
    ck_assert_int_eq(sync_int(sc, "GET t:key:s:tpm:%lld", w), 15);
    rlredis_settle(t.rr, "key:s:tpm", w, -100);
    barrier(&t);
    ck_assert_int_eq(sync_int(sc, "GET t:key:s:tpm:%lld", w), 0);
    ck_assert_int_gt(sync_int(sc, "PTTL t:key:s:tpm:%lld", w), 0);
    rlredis_settle(t.rr, "key:s:tpm", w, 3);
    rlredis_settle(t.rr, "key:s:tpm", w + 1, 7); /* a window that does not exist */
    rlredis_settle(t.rr, "key:s:tpm", w - 1, -7);
    barrier(&t);
    ck_assert_int_eq(sync_int(sc, "GET t:key:s:tpm:%lld", w), 3);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:key:s:tpm:%lld", w + 1), 0);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:key:s:tpm:%lld", w - 1), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* t_init with a lease TTL, then a connected rlredis. */
static void
t_open_ttl(struct t *t, int64_t ttl_ms)
{
    t_init(t);
    t->conf.redis_lease_ttl_ms = ttl_ms;
    t->rr = rlredis_new(t->base, &t->conf);
    ck_assert_ptr_nonnull(t->rr);
    wait_connected(t, t->rr, WAIT_MS);
}

/* Redis's clock in milliseconds. */
static long long
redis_now_ms(redisContext *c)
{
    redisReply *r = redisCommand(c, "TIME");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    long long ms =
        strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}

/* Concurrency: N leases admitted, the N+1st denied; ending one frees its place. */
START_TEST(leases_limit_and_release)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_lease *held[4];
    struct rlredis_counter c = lease_counter("model:m:conc", 3);
    char id[16];
    t_open_ttl(&t, 60000);
    redisContext *sc = sync_open();
    for (int i = 1; i <= 3; i++) {
        snprintf(id, sizeof(id), "l%d", i);
        admit(&t, &c, 1, id, &r);
        ck_assert_int_eq(r.admitted, 1);
        ck_assert_int_eq(r.used[0], i);
        ck_assert_int_eq(r.reset_ms[0], 0);
        ck_assert_int_eq(r.window[0], 0);
        ck_assert_ptr_nonnull(r.lease);
        held[i - 1] = r.lease;
    }
    ck_assert_int_eq(rlredis_leases_held(t.rr), 3);
    admit(&t, &c, 1, "l4", &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 0);
    ck_assert_int_eq(r.denied, 0);
    ck_assert_int_eq(r.used[0], 3);
    ck_assert_ptr_null(r.lease);
    long long ttl = sync_int(sc, "PTTL t:model:m:conc");
    ck_assert_int_gt(ttl, 60000);
    ck_assert_int_le(ttl, 120000);
    long long score = sync_int(sc, "ZSCORE t:model:m:conc l1") - redis_now_ms(sc);
    ck_assert_int_gt(score, 50000); /* the lease lives its TTL */
    ck_assert_int_le(score, 60000);

    rlredis_lease_end(held[1]);
    ck_assert_int_eq(rlredis_leases_held(t.rr), 2);
    admit(&t, &c, 1, "l4", &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 3);
    held[1] = r.lease;
    ck_assert_int_eq(sync_int(sc, "ZSCORE t:model:m:conc l2"), -1);
    ck_assert_int_gt(sync_int(sc, "ZSCORE t:model:m:conc l4"), 0);
    for (int i = 0; i < 3; i++)
        rlredis_lease_end(held[i]);
    barrier(&t);
    ck_assert_int_eq(sync_int(sc, "ZCARD t:model:m:conc"), 0);
    ck_assert_int_eq(rlredis_leases_held(t.rr), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/*
 * A held lease is renewed past its TTL, many times over, and keeps its
 * place; once ended, the place is free.
 */
START_TEST(held_lease_is_renewed)
{
    struct t t;
    struct rlredis_reply r, b;
    struct rlredis_counter c = lease_counter("model:r:conc", 1);
    t_open_ttl(&t, 1000); /* renewed every 333 ms */
    redisContext *sc = sync_open();
    admit(&t, &c, 1, "a", &r);
    ck_assert_int_eq(r.admitted, 1);
    run_for(&t, 3500); /* 3.5 TTLs */
    ck_assert_int_gt(sync_int(sc, "ZSCORE t:model:r:conc a"), redis_now_ms(sc));
    admit(&t, &c, 1, "b", &b);
    ck_assert_int_eq(b.admitted, 0);
    ck_assert_int_eq(b.used[0], 1);
    rlredis_lease_end(r.lease);
    admit(&t, &c, 1, "b", &b);
    ck_assert_int_eq(b.admitted, 1);
    ck_assert_int_eq(sync_int(sc, "ZSCORE t:model:r:conc a"), -1);
    rlredis_lease_end(b.lease);
    redisFree(sc);
    t_close(&t);
}
END_TEST

#define MANY_LEASES 600

/*
 * More leases than one renewal script takes (256), over two sets and with
 * two lease sets per admission: every one is renewed, and all go at the end.
 */
START_TEST(many_leases_renewed)
{
    struct t t;
    static struct res x[MANY_LEASES];
    struct rlredis_counter c[2] = {lease_counter("key:many:conc", MANY_LEASES),
                                   lease_counter("model:many:conc", MANY_LEASES)};
    char id[32];
    memset(x, 0, sizeof(x));
    t_open_ttl(&t, 1000);
    redisContext *sc = sync_open();
    for (int i = 0; i < MANY_LEASES; i++) {
        snprintf(id, sizeof(id), "m%d", i);
        ck_assert_ptr_nonnull(rlredis_admit(t.rr, c, i % 3 ? 2 : 1, id, res_cb, &x[i]));
    }
    int64_t end = now_mono_ms() + WAIT_MS;
    int done = 0;
    while (done < MANY_LEASES && now_mono_ms() < end) {
        event_base_loop(t.base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < MANY_LEASES; i++)
            done += x[i].calls;
    }
    ck_assert_int_eq(done, MANY_LEASES);
    for (int i = 0; i < MANY_LEASES; i++)
        ck_assert_msg(x[i].r.admitted && x[i].r.lease != NULL, "lease %d not admitted", i);
    ck_assert_int_eq(rlredis_leases_held(t.rr), MANY_LEASES);
    run_for(&t, 2500); /* 2.5 TTLs */
    long long now = redis_now_ms(sc);
    ck_assert_int_eq(sync_int(sc, "ZCOUNT t:key:many:conc %lld +inf", now), MANY_LEASES);
    ck_assert_int_eq(sync_int(sc, "ZCOUNT t:model:many:conc %lld +inf", now),
                     MANY_LEASES - (MANY_LEASES + 2) / 3);
    for (int i = 0; i < MANY_LEASES; i++)
        rlredis_lease_end(x[i].r.lease);
    barrier(&t);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:key:many:conc"), 0);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:model:many:conc"), 0);
    ck_assert_int_eq(rlredis_leases_held(t.rr), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/*
 * A lease nobody renews expires a TTL later: its holder went away (an
 * rlredis freed, as a killed worker's), or its request outlived hold_ms.
 */
START_TEST(expired_lease_is_purged)
{
    struct t t;
    struct rlredis_reply r, a, h;
    struct rlredis_counter c = lease_counter("model:e:conc", 1);
    struct rlredis_counter held = lease_counter("model:h:conc", 1);
    held.hold_ms = 200;
    t_open_ttl(&t, 1000);
    redisContext *sc = sync_open();
    struct rlredis *dead = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(dead);
    wait_connected(&t, dead, WAIT_MS);
    admit_on(&t, dead, &c, 1, "a", &a);
    ck_assert_int_eq(a.admitted, 1);
    rlredis_free(dead); /* no more renewals */
    admit(&t, &held, 1, "h1", &h);
    ck_assert_int_eq(h.admitted, 1);
    admit(&t, &c, 1, "b", &r);
    ck_assert_int_eq(r.admitted, 0);
    admit(&t, &held, 1, "h2", &r);
    ck_assert_int_eq(r.admitted, 0);
    run_for(&t, 2500); /* past hold_ms, a renewal round and a TTL */
    admit(&t, &c, 1, "b", &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 1);
    ck_assert_int_eq(sync_int(sc, "ZSCORE t:model:e:conc a"), -1);
    rlredis_lease_end(r.lease);
    admit(&t, &held, 1, "h2", &r);
    ck_assert_int_eq(r.admitted, 1); /* h1 still held, but not renewed past hold_ms */
    ck_assert_int_eq(sync_int(sc, "ZSCORE t:model:h:conc h1"), -1);
    rlredis_lease_end(r.lease);
    rlredis_lease_end(h.lease);
    rlredis_lease_end(a.lease); /* after its rlredis was freed: only freed */
    redisFree(sc);
    t_close(&t);
}
END_TEST

/*
 * Redis stalls (SIGSTOP) while an admission is in flight: it times out,
 * the connection is dropped, and Redis runs the admission when it wakes
 * up, adding a lease nobody holds. Once connected again, the lease is
 * removed by id, long before its TTL.
 */
START_TEST(lost_admission_is_removed)
{
    struct t t;
    struct res x = {0};
    struct rlredis_counter c[2] = {win_counter("key:lost:rpd", 100, 1, 86400),
                                   lease_counter("key:lost:conc", 5)};
    t_init(&t);
    t.conf.redis_timeout_ms = 200;
    t.conf.redis_lease_ttl_ms = 9000; /* the set itself lives 18 s: only a ZREM removes it now */
    t.rr = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(t.rr);
    wait_connected(&t, t.rr, WAIT_MS);
    redisContext *sc = sync_open();
    avoid_window_edge(sc, 86400);
    long long day = redis_now_s(sc) / 86400;
    run_for(&t, 20); /* the last reply a clear millisecond before the admission is sent */
    ck_assert_int_eq(kill(g_srv.pid, SIGSTOP), 0);
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, c, 2, "lost-1", res_cb, &x));
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    ck_assert_int_eq(rlredis_connected(t.rr), 0);
    ck_assert_int_eq(rlredis_leases_unknown(t.rr), 1);
    run_for(&t, 300);
    ck_assert_int_eq(kill(g_srv.pid, SIGCONT), 0);
    wait_connected(&t, t.rr, WAIT_MS);
    /* the admission did run, late: its window counted it */
    int64_t end = now_mono_ms() + 8000;
    while (now_mono_ms() < end && (sync_int(sc, "GET t:key:lost:rpd:%lld", day) != 1 ||
                                   sync_int(sc, "ZSCORE t:key:lost:conc lost-1") != -1 ||
                                   rlredis_leases_unknown(t.rr) != 0))
        run_for(&t, 50);
    ck_assert_int_eq(sync_int(sc, "GET t:key:lost:rpd:%lld", day), 1);
    ck_assert_int_eq(sync_int(sc, "ZSCORE t:key:lost:conc lost-1"), -1);
    ck_assert_int_eq(rlredis_leases_unknown(t.rr), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

#define NODES_OPS 300

/* Two nodes on one Redis, their admissions interleaved and in flight at once: exactly N in total.
 */
START_TEST(two_nodes_admit_exactly_n)
{
    struct t t;
    static struct res x[NODES_OPS];
    struct rlredis_counter w = win_counter("key:shared:rpd", 50, 1, 86400);
    struct rlredis_counter l = lease_counter("model:shared:conc", 7);
    char id[32];
    t_open(&t);
    struct rlredis *other = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(other);
    wait_connected(&t, other, WAIT_MS);
    memset(x, 0, sizeof(x));
    for (int i = 0; i < NODES_OPS; i++) {
        struct rlredis *rr = i % 2 ? other : t.rr;
        snprintf(id, sizeof(id), "lease-%d", i);
        ck_assert_ptr_nonnull(rlredis_admit(rr, i < NODES_OPS / 2 ? &w : &l, 1, id, res_cb, &x[i]));
        if (i % 2) /* write this pair now, so Redis sees the two nodes' commands interleaved */
            event_base_loop(t.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    }
    int64_t end = now_mono_ms() + WAIT_MS;
    int done = 0, admitted_w = 0, admitted_l = 0, by[2] = {0, 0};
    while (now_mono_ms() < end && done < NODES_OPS) {
        event_base_loop(t.base, EVLOOP_ONCE);
        done = 0;
        for (int i = 0; i < NODES_OPS; i++)
            done += x[i].calls;
    }
    ck_assert_int_eq(done, NODES_OPS);
    for (int i = 0; i < NODES_OPS; i++) {
        ck_assert_int_eq(x[i].r.error, 0);
        if (i < NODES_OPS / 2)
            admitted_w += x[i].r.admitted;
        else
            admitted_l += x[i].r.admitted;
        by[i % 2] += x[i].r.admitted;
    }
    ck_assert_int_eq(admitted_w, 50);
    ck_assert_int_eq(admitted_l, 7);
    /*
     * Which node's commands Redis took first depends on the scheduler (under
     * a sanitizer on a busy machine node 0's may all come first, and node 1
     * admits none): the totals above are the property; these only say it.
     */
    if (by[0] == 0 || by[1] == 0)
        fprintf(stderr, "# two_nodes: one node admitted none (%d, %d): not interleaved this run\n",
                by[0], by[1]);
    for (int i = 0; i < NODES_OPS; i++)
        rlredis_lease_end(x[i].r.lease);
    rlredis_free(other);
    t_close(&t);
}
END_TEST

/* AUTH with the right password and SELECT of another database; the password is never logged. */
START_TEST(auth_and_select)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:db:rpd", 10, 1, 86400);
    char log[PATH_MAX];
    log_to_file("aigw.log", LOG_LVL_DEBUG, log);
    t_init(&t);
    t.conf.redis_db = 3;
    t.rr = rlredis_new(t.base, &t.conf);
    wait_connected(&t, t.rr, WAIT_MS);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 1);
    redisContext *sc = sync_open();
    ck_assert_int_eq(sync_int(sc, "EXISTS t:key:db:rpd:%lld", (long long)r.window[0]), 0);
    sync_int(sc, "SELECT 3");
    ck_assert_int_eq(sync_int(sc, "GET t:key:db:rpd:%lld", (long long)r.window[0]), 1);
    redisFree(sc);
    t_close(&t);
    ck_assert_int_eq(file_has(log, PASSWORD, NULL), 0);
}
END_TEST

/* A wrong or missing password: error=1, never connected, one warning, no password in the log. */
START_TEST(auth_wrong_password)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:auth:rpd", 10, 1, 86400);
    char log[PATH_MAX];
    int warns = 0;
    log_to_file("aigw.log", LOG_LVL_DEBUG, log);
    t_init(&t);
    snprintf(t.conf.redis_password, sizeof(t.conf.redis_password), "%s", "wrong-" PASSWORD);
    t.rr = rlredis_new(t.base, &t.conf);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    ck_assert_int_eq(r.admitted, 0);
    ck_assert_int_eq(r.denied, -1);
    run_for(&t, 800); /* several attempts */
    ck_assert_int_eq(rlredis_connected(t.rr), 0);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    ck_assert_uint_ge(rlredis_errors(t.rr), 2);
    rlredis_free(t.rr);

    t.conf.redis_password[0] = '\0';
    t.rr = rlredis_new(t.base, &t.conf);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    t_close(&t);

    ck_assert_int_eq(file_has(log, PASSWORD, NULL), 0);
    ck_assert_int_eq(file_has(log, "AUTH refused", &warns), 1);
    file_has(log, "[warn]", &warns);
    ck_assert_int_eq(warns, 2); /* one per outage: one per rlredis here, not one per attempt */
}
END_TEST

/* Redis killed: error=1 quickly (not from inside admit), the error counter grows, one warning. */
START_TEST(redis_down_fails_fast)
{
    struct t t;
    struct res x = {0};
    struct rlredis_reply r;
    struct rlredis_reply held;
    struct rlredis_counter c = win_counter("key:down:rpd", 10, 1, 86400);
    struct rlredis_counter l = lease_counter("model:down:conc", 10);
    char log[PATH_MAX];
    int warns = 0;
    log_to_file("aigw.log", LOG_LVL_INFO, log);
    t_open(&t);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
    admit(&t, &l, 1, "x", &held);
    ck_assert_int_eq(held.admitted, 1);
    ck_assert_uint_eq(rlredis_errors(t.rr), 0);
    server_kill();

    int64_t t0 = now_mono_ms();
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x));
    ck_assert_int_eq(x.calls, 0);
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    ck_assert_int_lt(x.at_ms - t0, 500); /* the timeout is 2 s */
    ck_assert_uint_ge(rlredis_errors(t.rr), 1);
    uint64_t before = rlredis_errors(t.rr);

    run_for(&t, 300);
    ck_assert_int_eq(rlredis_connected(t.rr), 0);
    memset(&x, 0, sizeof(x));
    t0 = now_mono_ms();
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x));
    ck_assert_int_eq(x.calls, 0); /* never from inside rlredis_admit */
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    ck_assert_int_lt(x.at_ms - t0, 250); /* the timeout is 2 s */
    ck_assert_uint_eq(rlredis_errors(t.rr), before + 1);
    rlredis_settle(t.rr, "key:down:rpd", 1, 5); /* dropped, not queued */
    rlredis_lease_end(held.lease);              /* removed later, once connected again */
    ck_assert_int_eq(rlredis_leases_unknown(t.rr), 1);
    t_close(&t);
    ck_assert_int_eq(file_has(log, "[warn]", &warns), 1);
    ck_assert_int_eq(warns, 1);
}
END_TEST

/* Redis back after an outage: reconnects on its own, logs it once, admits again. */
START_TEST(redis_back_reconnects)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:back:rpd", 10, 1, 86400);
    char log[PATH_MAX];
    int n = 0;
    log_to_file("aigw.log", LOG_LVL_INFO, log);
    t_open(&t);
    server_kill();
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    run_for(&t, 1000); /* a few attempts against a closed port */
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    server_restart();
    wait_connected(&t, t.rr, 8000); /* the backoff is at most 5 s */
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 1); /* a fresh server: nothing persisted */
    t_close(&t);
    ck_assert_int_eq(file_has(log, "[warn]", &n), 1);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(file_has(log, "connected again", &n), 1);
    ck_assert_int_eq(n, 1);
}
END_TEST

/* SCRIPT FLUSH on the server (or a failover): admissions and settles fall back to EVAL. */
START_TEST(noscript_falls_back_to_eval)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:flush:rpd", 10, 1, 86400);
    t_open(&t);
    redisContext *sc = sync_open();
    redisReply *fr = redisCommand(sc, "SCRIPT FLUSH");
    ck_assert_ptr_nonnull(fr);
    freeReplyObject(fr);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.used[0], 1);
    sync_int(sc, "SCRIPT FLUSH");
    rlredis_settle(t.rr, "key:flush:rpd", r.window[0], 4);
    sync_int(sc, "SCRIPT FLUSH");
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.used[0], 6);
    ck_assert_uint_eq(rlredis_errors(t.rr), 0);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* Our server became a read-only replica (a failover): error=1, and a new connection is tried. */
START_TEST(readonly_replica_reconnects)
{
    struct t t;
    struct res x = {0};
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:ro:rpd", 10, 1, 86400);
    t_open(&t);
    redisContext *sc = sync_open();
    redisReply *rep = redisCommand(sc, "REPLICAOF 127.0.0.1 %d", free_port());
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    ck_assert_int_eq(rlredis_connected(t.rr), 0);
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x)); /* fails at once */
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    rep = redisCommand(sc, "REPLICAOF NO ONE");
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    wait_connected(&t, t.rr, WAIT_MS);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_uint_eq(rlredis_errors(t.rr), 2);
    redisFree(sc);
    t_close(&t);
}
END_TEST

/* Nothing to check: admitted without a round trip, still from the loop. */
START_TEST(no_counters_admitted)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter off = win_counter("off", 0, 1, 60);
    t_open(&t);
    admit(&t, NULL, 0, NULL, &r);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.admitted, 1);
    admit(&t, &off, 1, NULL, &r);
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.denied, -1);
    t_close(&t);
}
END_TEST

/*
 * A cancelled op's callback never runs: in flight, answered without Redis, or
 * with Redis gone; what Redis admitted for a cancelled op is given back.
 */
START_TEST(cancel_never_calls_back)
{
    struct t t;
    struct res x[4];
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:cancel:rpd", 10, 1, 86400);
    memset(x, 0, sizeof(x));
    t_open(&t);
    struct rlredis_op *op = rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[0]);
    ck_assert_ptr_nonnull(op);
    rlredis_cancel(op);
    op = rlredis_admit(t.rr, NULL, 0, NULL, res_cb, &x[1]);
    rlredis_cancel(op);
    /* one in flight and cancelled after it was written */
    op = rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[2]);
    event_base_loop(t.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    rlredis_cancel(op);
    struct rlredis_counter l = lease_counter("model:cancel:conc", 5);
    op = rlredis_admit(t.rr, &l, 1, "gone", res_cb, &x[1]);
    rlredis_cancel(op);
    admit(&t, &c, 1, NULL, &r); /* answered after the cancelled ones */
    ck_assert_int_eq(r.admitted, 1);
    ck_assert_int_eq(r.used[0], 3); /* Redis did admit the cancelled two */

    /* and what Redis admitted for nobody was given back */
    barrier(&t);
    redisContext *sc = sync_open();
    ck_assert_int_eq(sync_int(sc, "GET t:key:cancel:rpd:%lld", (long long)r.window[0]), 1);
    ck_assert_int_eq(sync_int(sc, "EXISTS t:model:cancel:conc"), 0);
    redisFree(sc);
    server_kill();
    run_for(&t, 300);
    op = rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[3]); /* answered error=1 by the loop */
    rlredis_cancel(op);
    run_for(&t, 300);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(x[i].calls, 0);
    t_close(&t);
}
END_TEST

/* A listening socket that never answers; its port into *port. */
static int
silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A server that accepts but never answers: error=1 after the timeout, then fail fast. */
START_TEST(silent_server_times_out)
{
    struct t t;
    struct res x = {0};
    struct rlredis_counter c = win_counter("key:silent:rpd", 10, 1, 86400);
    int port;
    int fd = silent_listener(&port);
    t_init(&t);
    snprintf(t.conf.redis_address, sizeof(t.conf.redis_address), "127.0.0.1:%d", port);
    t.conf.redis_timeout_ms = 500;
    t.rr = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(t.rr);
    int64_t t0 = now_mono_ms();
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x));
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    ck_assert_int_ge(x.at_ms - t0, 490);
    ck_assert_int_lt(x.at_ms - t0, 1500);
    ck_assert_uint_eq(rlredis_errors(t.rr), 1);
    ck_assert_int_eq(rlredis_connected(t.rr), 0);

    /* the connection that stopped answering was dropped: the next one fails at once */
    memset(&x, 0, sizeof(x));
    t0 = now_mono_ms();
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x));
    ck_assert(run_until(&t, &x.calls, WAIT_MS));
    ck_assert_int_eq(x.r.error, 1);
    ck_assert_int_lt(x.at_ms - t0, 250);
    ck_assert_uint_eq(rlredis_errors(t.rr), 2);
    ck_assert_int_eq(x.calls, 1);
    t_close(&t);
    close(fd);
}
END_TEST

/* free with ops in flight, ops hiredis holds after a timeout, and ops not sent: no callback. */
START_TEST(free_with_pending_ops)
{
    struct t t;
    struct res x[8];
    struct rlredis_counter c = win_counter("key:free:rpd", 100, 1, 86400);
    int port;
    int fd = silent_listener(&port);
    memset(x, 0, sizeof(x));
    t_open(&t);
    for (int i = 0; i < 4; i++)
        ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[i]));
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, NULL, 0, NULL, res_cb, &x[4]));
    rlredis_settle(t.rr, "key:free:rpd", 1, 1);
    rlredis_free(t.rr);

    /* against a silent server: sent, some cancelled, then freed */
    snprintf(t.conf.redis_address, sizeof(t.conf.redis_address), "127.0.0.1:%d", port);
    t.rr = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(t.rr);
    struct rlredis_op *op = rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[5]);
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[6]));
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[7]));
    run_for(&t, 50);
    rlredis_cancel(op);
    rlredis_free(t.rr);
    t.rr = NULL;
    run_for(&t, 200);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(x[i].calls, 0);
    t_close(&t);
    close(fd);
}
END_TEST

/* A callback that frees the rlredis: the other pending callbacks do not run. */
static void
free_cb(const struct rlredis_reply *r, void *arg)
{
    struct t *t = arg;
    rlredis_free(t->rr);
    t->rr = NULL;
}

/* rlredis_free from inside a callback, with replies of other ops already read. */
START_TEST(free_in_callback)
{
    struct t t;
    struct res x[3];
    struct rlredis_counter c = win_counter("key:fic:rpd", 100, 1, 86400);
    memset(x, 0, sizeof(x));
    t_open(&t);
    ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, free_cb, &t));
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_nonnull(rlredis_admit(t.rr, &c, 1, NULL, res_cb, &x[i]));
    int64_t end = now_mono_ms() + WAIT_MS;
    while (t.rr != NULL && now_mono_ms() < end)
        event_base_loop(t.base, EVLOOP_ONCE);
    ck_assert_ptr_null(t.rr);
    run_for(&t, 100);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(x[i].calls, 0);
    t_close(&t);
}
END_TEST

/* A bad address is refused at rlredis_new; a unix socket that does not exist fails fast. */
START_TEST(addresses)
{
    struct t t;
    struct rlredis_reply r;
    struct rlredis_counter c = win_counter("key:addr:rpd", 10, 1, 86400);
    t_init(&t);
    const char *bad[] = {"localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                         "unix:",     "[::1",       ":6379"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(t.conf.redis_address, sizeof(t.conf.redis_address), "%s", bad[i]);
        ck_assert_msg(rlredis_new(t.base, &t.conf) == NULL, "%s accepted", bad[i]);
    }
    int len = snprintf(t.conf.redis_address, sizeof(t.conf.redis_address), "unix:%.200s/nope.sock",
                       g_srv.dir);
    ck_assert_int_lt(len, (int)sizeof(t.conf.redis_address));
    t.rr = rlredis_new(t.base, &t.conf);
    ck_assert_ptr_nonnull(t.rr);
    admit(&t, &c, 1, NULL, &r);
    ck_assert_int_eq(r.error, 1);
    t_close(&t);
}
END_TEST

/* One test case per test: each gets a fresh server. */
static void
add(Suite *s, const char *name, const TTest *test, void (*setup)(void))
{
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, setup, server_stop);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

/* Every test, each its own test case with its own server. */
static Suite *
rlredis_suite(void)
{
    Suite *s = suite_create("rlredis");
    add(s, "limit", admits_exactly_limit, plain_setup);
    add(s, "tokens", token_cost_semantics, plain_setup);
    add(s, "several", one_full_counter_adds_nothing, plain_setup);
    add(s, "ttl", window_keys_expire, plain_setup);
    add(s, "settle", settle_adds_and_clamps, plain_setup);
    add(s, "leases", leases_limit_and_release, plain_setup);
    add(s, "lease_renewed", held_lease_is_renewed, plain_setup);
    add(s, "lease_many", many_leases_renewed, plain_setup);
    add(s, "lease_expiry", expired_lease_is_purged, plain_setup);
    add(s, "lease_lost", lost_admission_is_removed, plain_setup);
    add(s, "two_nodes", two_nodes_admit_exactly_n, plain_setup);
    add(s, "auth", auth_and_select, auth_setup);
    add(s, "auth_wrong", auth_wrong_password, auth_setup);
    add(s, "down", redis_down_fails_fast, plain_setup);
    add(s, "back", redis_back_reconnects, plain_setup);
    add(s, "noscript", noscript_falls_back_to_eval, plain_setup);
    add(s, "readonly", readonly_replica_reconnects, plain_setup);
    add(s, "no_counters", no_counters_admitted, plain_setup);
    add(s, "cancel", cancel_never_calls_back, plain_setup);
    add(s, "timeout", silent_server_times_out, plain_setup);
    add(s, "free", free_with_pending_ops, plain_setup);
    add(s, "free_in_cb", free_in_callback, plain_setup);
    add(s, "addresses", addresses, plain_setup);
    return s;
}

/* Skip all without redis-server; the log stays quiet unless AIGW_TEST_LOG says otherwise. */
int
main(void)
{
    if (access(REDIS_BIN, X_OK) != 0) {
        /* TAP's skip-all: install redis-server to run these */
        printf("1..0 # SKIP %s not installed\n", REDIS_BIN);
        return 0;
    }
    const char *lvl = getenv("AIGW_TEST_LOG"); /* e.g. debug; quiet otherwise */
    log_init(1, lvl ? log_level_parse(lvl) : LOG_LVL_ERROR, "check_rlredis");
    return run_suite(rlredis_suite());
}
