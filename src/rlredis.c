/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rlredis.c: the Redis backend of the rate limiter (see rlredis.h).
 *
 * One hiredis async connection per worker, on the worker's event base.
 * Commands are pipelined: after connecting we queue AUTH, SELECT and the two
 * SCRIPT LOADs at once, and admissions may follow right behind them, because
 * Redis answers a connection's commands strictly in order.
 *
 * Who owns an op: the caller until cb runs or it cancels; hiredis as long as
 * the op is the privdata of a command it has not answered (in_redis), even
 * after a timeout or a cancel, because hiredis will still call us with that
 * pointer. Whatever happens, an op is freed by whoever sees it last: the
 * reply callback when hiredis held it, otherwise the op's own timer or cancel.
 *
 * A lease handed out with an admission belongs to its caller until
 * rlredis_lease_end; rr only lists it, to renew it. A release in flight
 * belongs to its reply callback (rr->releasing only lists it, so that
 * rlredis_free can orphan it); a lease in limbo belongs to rr.
 *
 * hiredis 0.14 facts this file relies on: freeing a context (ours or after a
 * network error) runs every pending reply callback with a NULL reply before
 * it returns; redisAsyncFree from inside a reply callback is deferred until
 * that callback returns; the connect callback sees a failed connect, the
 * disconnect callback only a connection that had been established.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "aigw/conf.h"
#include "log.h"
#include "aigw/util.h"
#include "rlredis.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define HANDSHAKE_MIN_MS 1000   /* connect + AUTH + SELECT + SCRIPT LOAD, at least */
#define WINDOW_GRACE_MS "60000" /* a window key outlives its window by this much (Lua) */
#define RENEW_BATCH 256         /* (set, lease) pairs in one renewal script */
#define LIMBO_MAX 10000         /* unknown leases remembered; beyond, their TTL alone ends them */
#define LIMBO_ROUNDS 2          /* renewal rounds that remove an unknown lease again */
#define NUM_MAX 24              /* an int64 in decimal, sign and NUL */
#define ADMIT_MAXARGS (4 + 5 * RLREDIS_MAX_COUNTERS)

/*
 * The admission script. KEYS[i]: a counter's key with the prefix, without
 * the window; ARGV[1]: the lease id; then four per counter: limit, cost,
 * window_s (0: a lease set), the lease TTL in ms. Returns {admitted, denied index
 * (0-based, -1), then used, reset_ms, window for every counter}.
 *
 * It reads TIME itself so every node agrees on window boundaries. Redis 3.2
 * and 4 replicate scripts verbatim and refuse writes after TIME unless the
 * script asks for effects replication; from Redis 5 on that is the default
 * and replicate_commands() a deprecated no-op that a later Redis may drop: hence the test.
 * Everything is read before anything is written, so a denied request leaves
 * the counters as they were (but for purging expired leases). A window key
 * gets its TTL (window end + grace) only when it has none, so settling or
 * adding never extends it; a lease set lives twice the lease, never shorter
 * than it already does (another node may use longer leases).
 */
static const char admit_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local grace_ms = " WINDOW_GRACE_MS "\n"
    "local t = redis.call('TIME')\n"
    "local now_s = tonumber(t[1])\n"
    "local now_ms = now_s * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local out = {1, -1}\n"
    "local k = {}\n"
    "for i = 1, #KEYS do\n"
    "  local a = 4 * (i - 1) + 2\n"
    "  local limit, win_s = tonumber(ARGV[a]), tonumber(ARGV[a + 2])\n"
    "  local used, reset, win\n"
    "  if win_s > 0 then\n"
    "    win = math.floor(now_s / win_s)\n"
    "    k[i] = KEYS[i] .. ':' .. string.format('%d', win)\n"
    "    used = tonumber(redis.call('GET', k[i]) or '0')\n"
    "    reset = (win + 1) * win_s * 1000 - now_ms\n"
    "  else\n"
    "    win, reset, k[i] = 0, 0, KEYS[i]\n"
    "    redis.call('ZREMRANGEBYSCORE', k[i], '-inf', now_ms)\n"
    "    used = redis.call('ZCARD', k[i])\n"
    "  end\n"
    "  if out[2] < 0 and used >= limit then out[1], out[2] = 0, i - 1 end\n"
    "  out[3 * i], out[3 * i + 1], out[3 * i + 2] = used, reset, win\n"
    "end\n"
    "if out[1] == 0 then return out end\n"
    "for i = 1, #KEYS do\n"
    "  local a = 4 * (i - 1) + 2\n"
    "  local win_s, lease_ms = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n"
    "  if win_s > 0 then\n"
    "    out[3 * i] = redis.call('INCRBY', k[i], ARGV[a + 1])\n"
    "    if redis.call('PTTL', k[i]) < 0 then\n"
    "      redis.call('PEXPIRE', k[i], out[3 * i + 1] + grace_ms)\n"
    "    end\n"
    "  else\n"
    "    redis.call('ZADD', k[i], now_ms + lease_ms, ARGV[1])\n"
    "    out[3 * i] = redis.call('ZCARD', k[i])\n"
    "    if redis.call('PTTL', k[i]) < 2 * lease_ms then\n"
    "      redis.call('PEXPIRE', k[i], 2 * lease_ms)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * Settling a window: add ARGV[1] to KEYS[1], never below 0 and only if the
 * window still exists: INCRBY would create a key without a TTL that nobody
 * ever removes. INCRBY keeps the TTL, and so does the second one that undoes
 * a result below 0.
 */
static const char settle_lua[] = "if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end\n"
                                 "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
                                 "if v < 0 then redis.call('INCRBY', KEYS[1], -v) v = 0 end\n"
                                 "return v\n";

/*
 * One renewal round (or part of one): KEYS[i] is a lease set, ARGV[2 + i]
 * the id of a lease in it; the first ARGV[2] pairs are renewed to expire
 * ARGV[1] ms from now, the others removed. The renewals go in one ZADD per
 * set, which halves Redis's time for leases of a few sets (measured: 256
 * leases of one set 0.2 ms, of 256 sets 0.9 ms). A renewed lease that had
 * expired is added again, since its request still runs: the set may then
 * count more than its limit for a while, which is the truth, and refuses
 * new requests until enough end. Returns how many were added again.
 */
static const char renew_lua[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl, nrenew, back = tonumber(ARGV[1]), tonumber(ARGV[2]), 0\n"
    "local sets, order = {}, {}\n"
    "for i = 1, nrenew do\n"
    "  local s = sets[KEYS[i]]\n"
    "  if not s then s = {} sets[KEYS[i]] = s order[#order + 1] = KEYS[i] end\n"
    "  s[#s + 1] = now_ms + ttl\n"
    "  s[#s + 1] = ARGV[2 + i]\n"
    "end\n"
    "for _, k in ipairs(order) do\n"
    "  back = back + redis.call('ZADD', k, unpack(sets[k]))\n"
    "  if redis.call('PTTL', k) < 2 * ttl then redis.call('PEXPIRE', k, 2 * ttl) end\n"
    "end\n"
    "for i = nrenew + 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[2 + i]) end\n"
    "return back\n";

enum rlredis_state { RS_DOWN, RS_CONNECTING, RS_READY };

/* The handshake steps, in the order their replies come. */
enum rlredis_step { HS_AUTH, HS_SELECT, HS_LOAD_ADMIT, HS_LOAD_SETTLE, HS_LOAD_RENEW };

struct rlredis_op {
    TAILQ_ENTRY(rlredis_op) entry; /* in rr->ops until freed or orphaned */
    struct rlredis *rr;            /* NULL once rr was freed while hiredis held the op */
    struct event *ev;              /* zero timeout (not sent) or the reply deadline (sent) */
    rlredis_cb cb;                 /* NULL once cb ran or the op was cancelled */
    void *arg;
    int in_redis;                     /* hiredis holds the op: only the reply callback frees it */
    int retried;                      /* sent again as EVAL after NOSCRIPT */
    int early_admit;                  /* not sent: 1 admitted (nothing to check), 0 error */
    int64_t hold_ms;                  /* the longest a lease of this op is renewed; 0: no end */
    int64_t sent_ms;                  /* monotonic */
    int n;                            /* counters sent to Redis */
    int8_t idx[RLREDIS_MAX_COUNTERS]; /* sent counter -> the caller's index */
    int argc;
    const char *argv[ADMIT_MAXARGS];
    size_t argvlen[ADMIT_MAXARGS];
    char buf[]; /* the strings argv points to */
};

/* A settle in flight: kept for one retry as EVAL after NOSCRIPT. */
struct rlredis_fire {
    int retried;
    const char *argv[5];
    size_t argvlen[5];
    char buf[];
};

TAILQ_HEAD(rlredis_ops, rlredis_op);

/* A lease a request holds: renewed every round until it ends. */
struct rlredis_lease {
    TAILQ_ENTRY(rlredis_lease) entry; /* in rr->leases while rr lives */
    struct rlredis *rr;               /* NULL once rr was freed */
    int64_t until_ms;                 /* monotonic: not renewed after */
    int n;
    const char *key[RLREDIS_MAX_COUNTERS]; /* the lease sets, with the prefix */
    const char *id;
    char buf[];
};

/*
 * A lease on its way out: a release in flight (in rr->releasing), or one
 * whose fate is unknown (in rr->limbo): its admission or release was lost
 * with a connection, and Redis may yet carry it out. ZREM by id is
 * idempotent, so a lease in limbo is removed again in the next rounds.
 */
struct rlredis_gone {
    TAILQ_ENTRY(rlredis_gone) entry;
    struct rlredis *rr; /* a release in flight: NULL once rr was freed */
    int rounds;         /* renewal rounds that removed it again */
    const char *key;    /* with the prefix */
    const char *id;
    char buf[];
};

TAILQ_HEAD(rlredis_leases, rlredis_lease);
TAILQ_HEAD(rlredis_gones, rlredis_gone);

struct rlredis {
    struct event_base *base;
    char addr[CONF_STR_MAX]; /* as configured, for log lines */
    char host[CONF_STR_MAX];
    int port; /* 0: unix socket at host */
    char password[CONF_STR_MAX];
    int64_t db;
    char prefix[CONF_STR_MAX];
    int64_t timeout_ms;
    char admit_sha[2 * SHA_DIGEST_LENGTH + 1];
    char settle_sha[2 * SHA_DIGEST_LENGTH + 1];
    char renew_sha[2 * SHA_DIGEST_LENGTH + 1];
    int64_t lease_ttl_ms;

    redisAsyncContext *ac; /* connecting or connected; NULL while waiting to retry */
    enum rlredis_state state;
    struct event *timer; /* the retry while down, the handshake deadline while connecting */
    int64_t backoff_ms;
    int outage; /* the loss was logged; the next handshake logs the reconnect */
    int ever_ready;
    int warned_reply;      /* an error reply was logged on this connection */
    int64_t last_reply_ms; /* monotonic: when this connection last answered anything */

    struct rlredis_ops ops;
    struct rlredis_leases leases;   /* held: renewed every round */
    struct rlredis_gones releasing; /* ZREM sent, not answered */
    struct rlredis_gones limbo;     /* removed again in the next rounds */
    int nleases, nlimbo;
    struct event *renew;   /* every third of the lease TTL */
    int renew_inflight;    /* renewal scripts not answered on this connection */
    int64_t renew_sent_ms; /* monotonic: when the oldest of them was sent */
    uint64_t errors;
    uint64_t dropped; /* settles skipped while disconnected */
};

static void rlredis_connect(struct rlredis *rr);
static void rlredis_timer_cb(evutil_socket_t fd, short what, void *arg);
static void rlredis_on_admit(redisAsyncContext *ac, void *r, void *privdata);
static void rlredis_op_undo(struct rlredis *rr, const struct rlredis_op *op,
                            const struct rlredis_reply *r);
static void rlredis_renew_cb(evutil_socket_t fd, short what, void *arg);
static void rlredis_renew_round(struct rlredis *rr);

/* Lowercase hex SHA-1 of a script: what EVALSHA names it by, known before SCRIPT LOAD answers. */
static void
rlredis_sha1(const char *text, char *out)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, strlen(text), md);
    hex_encode(md, sizeof(md), out);
}

/* Split "host:port", "[v6]:port" or "unix:/path" into rr; -1 when it is neither. */
static int
rlredis_parse_addr(struct rlredis *rr, const char *a)
{
    const char *colon;
    char *end;
    size_t hl;
    if (strncmp(a, "unix:", 5) == 0) {
        if (a[5] == '\0' || strlen(a + 5) >= sizeof(rr->host))
            return -1;
        snprintf(rr->host, sizeof(rr->host), "%s", a + 5);
        rr->port = 0;
        return 0;
    }
    if (a[0] == '[') {
        const char *rb = strchr(a, ']');
        if (rb == NULL || rb[1] != ':')
            return -1;
        a++;
        hl = (size_t)(rb - a);
        colon = rb + 1;
    } else {
        if ((colon = strrchr(a, ':')) == NULL)
            return -1;
        hl = (size_t)(colon - a);
    }
    if (hl == 0 || hl >= sizeof(rr->host))
        return -1;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
        return -1;
    memcpy(rr->host, a, hl);
    rr->host[hl] = '\0';
    rr->port = (int)port;
    return 0;
}

/* Connect lazily to ratelimit.redis.* and keep reconnecting with backoff. */
struct rlredis *
rlredis_new(struct event_base *base, const struct conf *c)
{
    struct rlredis *rr = calloc(1, sizeof(*rr));
    if (rr == NULL)
        return NULL;
    rr->base = base;
    TAILQ_INIT(&rr->ops);
    TAILQ_INIT(&rr->leases);
    TAILQ_INIT(&rr->releasing);
    TAILQ_INIT(&rr->limbo);
    snprintf(rr->addr, sizeof(rr->addr), "%s", c->redis_address);
    if (rlredis_parse_addr(rr, c->redis_address) < 0) {
        log_warnx("redis %s: not host:port nor unix:/path", rr->addr);
        goto fail;
    }
    snprintf(rr->password, sizeof(rr->password), "%s", c->redis_password);
    snprintf(rr->prefix, sizeof(rr->prefix), "%s", c->redis_prefix);
    rr->db = c->redis_db;
    rr->timeout_ms = c->redis_timeout_ms > 0 ? c->redis_timeout_ms : 100;
    rlredis_sha1(admit_lua, rr->admit_sha);
    rlredis_sha1(settle_lua, rr->settle_sha);
    rlredis_sha1(renew_lua, rr->renew_sha);
    rr->lease_ttl_ms = c->redis_lease_ttl_ms >= 3 ? c->redis_lease_ttl_ms : 10000;
    if ((rr->timer = evtimer_new(base, rlredis_timer_cb, rr)) == NULL)
        goto fail;
    if ((rr->renew = event_new(base, -1, EV_PERSIST, rlredis_renew_cb, rr)) == NULL)
        goto fail;
    struct timeval every = tv_ms(rr->lease_ttl_ms / 3);
    event_add(rr->renew, &every);
    rlredis_connect(rr);
    return rr;
fail:
    if (rr->timer != NULL)
        event_free(rr->timer);
    if (rr->renew != NULL)
        event_free(rr->renew);
    explicit_bzero(rr->password, sizeof(rr->password));
    free(rr);
    return NULL;
}

/* Wait before the next connect: doubling from 100 ms to 5 s, jittered so nodes don't stampede. */
static void
rlredis_retry_later(struct rlredis *rr, const char *why)
{
    uint32_t r = 0;
    rr->state = RS_DOWN;
    if (!rr->outage) {
        log_warnx("redis %s: %s; admissions fail until it is back", rr->addr, why);
        rr->outage = 1;
    } else {
        log_debug("redis %s: %s", rr->addr, why);
    }
    rr->backoff_ms = rr->backoff_ms ? rr->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (rr->backoff_ms > BACKOFF_MAX_MS)
        rr->backoff_ms = BACKOFF_MAX_MS;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    int64_t ms = rr->backoff_ms / 2 + (int64_t)(r % (uint32_t)(rr->backoff_ms / 2 + 1));
    struct timeval tv = tv_ms(ms);
    evtimer_add(rr->timer, &tv);
}

/*
 * The connection ac is gone or going: forget it (it stays allocated until
 * hiredis or our caller frees it; its callbacks then find data NULL) and
 * retry later. Does nothing for a connection already forgotten, so every
 * path that notices the loss may call it.
 */
static void
rlredis_lost(struct rlredis *rr, const redisAsyncContext *ac, const char *why)
{
    if (rr->ac == NULL || rr->ac != ac)
        return;
    rr->ac->data = NULL;
    rr->ac = NULL;
    rr->renew_inflight = 0; /* their callbacks find ac->data NULL */
    rlredis_retry_later(rr, why);
}

/*
 * Close the connection ourselves. redisAsyncFree runs the pending reply
 * callbacks, and through them callers' callbacks, which may free rr: the
 * caller must not touch rr afterwards.
 */
static void
rlredis_drop(struct rlredis *rr, const char *why)
{
    redisAsyncContext *ac = rr->ac;
    if (ac == NULL)
        return;
    rlredis_lost(rr, ac, why);
    redisAsyncFree(ac);
}

/* The connect attempt finished: failed (hiredis frees ac next) or connected. */
static void
rlredis_on_connect(const redisAsyncContext *ac, int status)
{
    struct rlredis *rr = ac->data;
    char why[160];
    if (rr == NULL || status == REDIS_OK)
        return; /* connected: the handshake is already queued */
    snprintf(why, sizeof(why), "cannot connect: %s", ac->errstr);
    rlredis_lost(rr, ac, why);
}

/* An established connection ended: a network error, the server closed it, or we freed it. */
static void
rlredis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rlredis *rr = ac->data;
    char why[160];
    if (rr == NULL)
        return;
    snprintf(why, sizeof(why), "connection lost: %s", status == REDIS_OK ? "closed" : ac->errstr);
    rlredis_lost(rr, ac, why);
}

/* One handshake reply; the last one makes the connection ready. */
static void
rlredis_on_handshake(redisAsyncContext *ac, void *r, void *privdata)
{
    static const char *const names[] = {"AUTH", "SELECT", "SCRIPT LOAD", "SCRIPT LOAD",
                                        "SCRIPT LOAD"};
    struct rlredis *rr = ac->data;
    const redisReply *reply = r;
    int step = (int)(intptr_t)privdata;
    char why[256];
    if (rr == NULL)
        return; /* a connection we forgot */
    if (reply == NULL) {
        rlredis_lost(rr, ac, ac->errstr[0] ? ac->errstr : "connection lost");
        return;
    }
    rr->last_reply_ms = now_mono_ms();
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis never echoes the password in its AUTH errors */
        snprintf(why, sizeof(why), "%s refused: %.160s", names[step], reply->str);
        rlredis_drop(rr, why); /* deferred by hiredis until we return */
        return;
    }
    if (step != HS_LOAD_RENEW)
        return;
    evtimer_del(rr->timer);
    rr->state = RS_READY;
    rr->backoff_ms = 0;
    rr->warned_reply = 0;
    if (rr->outage)
        log_info("redis %s: connected again", rr->addr);
    else if (!rr->ever_ready)
        log_debug("redis %s: connected", rr->addr);
    rr->outage = 0;
    rr->ever_ready = 1;
    /*
     * Renew now: leases that expired while Redis was away come back, and
     * the unknown ones go, without waiting a round.
     */
    rlredis_renew_round(rr);
}

/* Queue AUTH, SELECT and both SCRIPT LOADs; replies arrive before any admission's. */
static int
rlredis_send_handshake(struct rlredis *rr)
{
    redisAsyncContext *ac = rr->ac;
    char db[NUM_MAX];
    int rc = REDIS_OK;
    if (rr->password[0] != '\0') {
        const char *argv[] = {"AUTH", rr->password};
        size_t lens[] = {4, strlen(rr->password)};
        rc |= redisAsyncCommandArgv(ac, rlredis_on_handshake, (void *)(intptr_t)HS_AUTH, 2, argv,
                                    lens);
    }
    if (rr->db != 0) {
        snprintf(db, sizeof(db), "%lld", (long long)rr->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        rc |= redisAsyncCommandArgv(ac, rlredis_on_handshake, (void *)(intptr_t)HS_SELECT, 2, argv,
                                    lens);
    }
    const char *la[] = {"SCRIPT", "LOAD", admit_lua};
    size_t ll[] = {6, 4, strlen(admit_lua)};
    rc |=
        redisAsyncCommandArgv(ac, rlredis_on_handshake, (void *)(intptr_t)HS_LOAD_ADMIT, 3, la, ll);
    const char *sa[] = {"SCRIPT", "LOAD", settle_lua};
    size_t sl[] = {6, 4, strlen(settle_lua)};
    rc |= redisAsyncCommandArgv(ac, rlredis_on_handshake, (void *)(intptr_t)HS_LOAD_SETTLE, 3, sa,
                                sl);
    const char *ra[] = {"SCRIPT", "LOAD", renew_lua};
    size_t rl[] = {6, 4, strlen(renew_lua)};
    rc |=
        redisAsyncCommandArgv(ac, rlredis_on_handshake, (void *)(intptr_t)HS_LOAD_RENEW, 3, ra, rl);
    return rc == REDIS_OK ? 0 : -1;
}

/*
 * Start a connection. Host names resolve with a blocking getaddrinfo inside
 * hiredis: fine for an address from the configuration, which is an IP or a
 * name in /etc/hosts in any sane deployment.
 */
static void
rlredis_connect(struct rlredis *rr)
{
    char why[160];
    redisAsyncContext *ac =
        rr->port ? redisAsyncConnect(rr->host, rr->port) : redisAsyncConnectUnix(rr->host);
    if (ac == NULL) {
        rlredis_retry_later(rr, "cannot connect: out of memory");
        return;
    }
    if (ac->err) {
        snprintf(why, sizeof(why), "cannot connect: %s", ac->errstr);
        redisAsyncFree(ac);
        rlredis_retry_later(rr, why);
        return;
    }
    if (redisLibeventAttach(ac, rr->base) != REDIS_OK) {
        redisAsyncFree(ac);
        rlredis_retry_later(rr, "cannot attach to the event loop");
        return;
    }
    ac->data = rr;
    redisAsyncSetConnectCallback(ac, rlredis_on_connect);
    redisAsyncSetDisconnectCallback(ac, rlredis_on_disconnect);
    if (rr->port)
        redisEnableKeepAlive(&ac->c); /* notices a peer that vanished while we were idle */
    rr->ac = ac;
    rr->state = RS_CONNECTING;
    rr->last_reply_ms = 0;
    if (rlredis_send_handshake(rr) < 0) {
        rlredis_drop(rr, "cannot queue the handshake");
        return;
    }
    /* a server that accepts but never answers must not keep us connecting forever */
    int64_t ms = rr->timeout_ms * 2 > HANDSHAKE_MIN_MS ? rr->timeout_ms * 2 : HANDSHAKE_MIN_MS;
    struct timeval tv = tv_ms(ms);
    evtimer_add(rr->timer, &tv);
}

/* The retry timer (connect again) or the handshake deadline (give up on this attempt). */
static void
rlredis_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rlredis *rr = arg;
    (void)fd;
    (void)what;
    if (rr->ac != NULL)
        rlredis_drop(rr, "no answer to the handshake");
    else
        rlredis_connect(rr);
}

/* Free an op nobody holds any more (not in hiredis, not in rr->ops). */
static void
rlredis_op_free(struct rlredis_op *op)
{
    if (op->ev != NULL)
        event_free(op->ev);
    free(op);
}

/*
 * Hand r to the caller: count a failure, forget the op (free it unless
 * hiredis still holds it), run cb last so it may free rr or admit again.
 */
static void
rlredis_op_complete(struct rlredis_op *op, const struct rlredis_reply *r)
{
    struct rlredis *rr = op->rr;
    rlredis_cb cb = op->cb;
    void *arg = op->arg;
    if (r->error)
        rr->errors++;
    op->cb = NULL;
    if (!op->in_redis) {
        TAILQ_REMOVE(&rr->ops, op, entry);
        rlredis_op_free(op);
    } else {
        evtimer_del(op->ev);
    }
    cb(r, arg);
}

/* A reply that says "failed": error set, nothing admitted or denied. */
static void
rlredis_reply_error(struct rlredis_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->error = 1;
    r->denied = -1;
}

/* The script's array into r by the caller's indexes; -1 when it is not what we asked for. */
static int
rlredis_parse_reply(const redisReply *rep, const struct rlredis_op *op, struct rlredis_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->denied = -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != (size_t)(2 + 3 * op->n))
        return -1;
    for (size_t i = 0; i < rep->elements; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
    long long admitted = rep->element[0]->integer, denied = rep->element[1]->integer;
    if (admitted != 0 && admitted != 1)
        return -1;
    if (!admitted && (denied < 0 || denied >= op->n))
        return -1;
    r->admitted = (int)admitted;
    r->denied = admitted ? -1 : op->idx[denied];
    for (int j = 0; j < op->n; j++) {
        int ci = op->idx[j];
        r->used[ci] = rep->element[2 + 3 * j]->integer;
        r->reset_ms[ci] = rep->element[3 + 3 * j]->integer;
        r->window[ci] = rep->element[4 + 3 * j]->integer;
    }
    return 0;
}

/* NOSCRIPT: the server lost our script (SCRIPT FLUSH, a failover): send the op again as EVAL. */
static int
rlredis_op_resend(redisAsyncContext *ac, struct rlredis_op *op, const char *script)
{
    op->retried = 1;
    op->argv[0] = "EVAL";
    op->argvlen[0] = 4;
    op->argv[1] = script;
    op->argvlen[1] = strlen(script);
    return redisAsyncCommandArgv(ac, rlredis_on_admit, op, op->argc, op->argv, op->argvlen) ==
                   REDIS_OK
               ? 0
               : -1;
}

/* Log an error reply: the first per connection as a warning, later ones only in debug. */
static void
rlredis_log_reply(struct rlredis *rr, const redisReply *rep)
{
    if (rep == NULL)
        return;
    const char *what = rep->type == REDIS_REPLY_ERROR ? rep->str : "an unexpected reply";
    if (!rr->warned_reply) {
        log_warnx("redis %s: admission failed: %.200s", rr->addr, what);
        rr->warned_reply = 1;
    } else {
        log_debug("redis %s: admission failed: %.200s", rr->addr, what);
    }
}

/* A lease on its way out: pfx key and id copied. NULL when out of memory (its TTL ends it). */
static struct rlredis_gone *
rlredis_gone_new(const char *pfx, const char *key, const char *id)
{
    size_t plen = strlen(pfx), klen = strlen(key), ilen = strlen(id);
    struct rlredis_gone *g = calloc(1, sizeof(*g) + plen + klen + ilen + 2);
    if (g == NULL)
        return NULL;
    char *k = g->buf, *i = g->buf + plen + klen + 1;
    memcpy(k, pfx, plen);
    memcpy(k + plen, key, klen + 1);
    memcpy(i, id, ilen + 1);
    g->key = k;
    g->id = i;
    return g;
}

/*
 * Remember a lease whose fate is unknown, to remove it in the next rounds.
 * Bounded: past LIMBO_MAX it is forgotten, and its TTL alone ends it.
 */
static void
rlredis_limbo_add(struct rlredis *rr, struct rlredis_gone *g)
{
    g->rr = NULL;
    g->rounds = 0;
    if (rr->nlimbo >= LIMBO_MAX) {
        log_debug("redis %s: lease %s of %s left to its TTL: %d unknown already", rr->addr, g->id,
                  g->key, rr->nlimbo);
        free(g);
        return;
    }
    TAILQ_INSERT_TAIL(&rr->limbo, g, entry);
    rr->nlimbo++;
}

/*
 * The admission's reply was lost with its connection: Redis may have run
 * it, or may run it still (a stalled server reads what we sent when it
 * wakes up), adding leases nobody would release. Remove them again later.
 */
static void
rlredis_op_limbo(struct rlredis *rr, const struct rlredis_op *op)
{
    const char *lease_id = op->argv[3 + op->n];
    for (int j = 0; j < op->n; j++) {
        const char *const *a = &op->argv[4 + op->n + 4 * j]; /* limit, cost, window_s, ttl */
        struct rlredis_gone *g;
        if (strtoll(a[2], NULL, 10) <= 0 && (g = rlredis_gone_new("", op->argv[3 + j], lease_id)))
            rlredis_limbo_add(rr, g);
    }
}

/*
 * The admitted op's leases, to renew until the request ends. NULL when it
 * has none, or out of memory: then they expire a TTL from now, early.
 */
static struct rlredis_lease *
rlredis_lease_new(struct rlredis *rr, const struct rlredis_op *op)
{
    const char *lease_id = op->argv[3 + op->n];
    size_t size = strlen(lease_id) + 1;
    int n = 0;
    for (int j = 0; j < op->n; j++)
        if (strtoll(op->argv[4 + op->n + 4 * j + 2], NULL, 10) <= 0)
            size += op->argvlen[3 + j] + 1;
    struct rlredis_lease *l = calloc(1, sizeof(*l) + size);
    if (l == NULL) {
        log_warnx("redis %s: out of memory: lease %s not renewed", rr->addr, lease_id);
        return NULL;
    }
    char *p = l->buf;
    for (int j = 0; j < op->n; j++) {
        if (strtoll(op->argv[4 + op->n + 4 * j + 2], NULL, 10) > 0)
            continue;
        memcpy(p, op->argv[3 + j], op->argvlen[3 + j] + 1);
        l->key[n++] = p;
        p += op->argvlen[3 + j] + 1;
    }
    if (n == 0) {
        free(l);
        return NULL;
    }
    memcpy(p, lease_id, strlen(lease_id) + 1);
    l->id = p;
    l->n = n;
    l->rr = rr;
    l->until_ms = op->hold_ms > 0 ? now_mono_ms() + op->hold_ms : INT64_MAX;
    TAILQ_INSERT_TAIL(&rr->leases, l, entry);
    rr->nleases++;
    return l;
}

/* hiredis answers an admission (NULL: the connection went away first). */
static void
rlredis_on_admit(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rlredis_op *op = privdata;
    struct rlredis *rr = op->rr;
    const redisReply *rep = r;
    struct rlredis_reply out;
    if (rr == NULL) { /* rr was freed: we are the last to see the op */
        rlredis_op_free(op);
        return;
    }
    if (rep != NULL) {
        rr->last_reply_ms = now_mono_ms();
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
            op->cb != NULL && !op->retried && ac->data == rr &&
            rlredis_op_resend(ac, op, admit_lua) == 0)
            return;
    }
    op->in_redis = 0;
    if (op->cb == NULL) { /* cancelled, or timed out earlier: nobody waits */
        if (rep == NULL)
            rlredis_op_limbo(rr, op); /* Redis may yet run it: remove its leases later */
        else if (rlredis_parse_reply(rep, op, &out) == 0 && out.admitted)
            rlredis_op_undo(rr, op, &out);
        TAILQ_REMOVE(&rr->ops, op, entry);
        rlredis_op_free(op);
        return;
    }
    if (rep == NULL) {
        rlredis_op_limbo(rr, op);
        rlredis_lost(rr, ac, ac->errstr[0] ? ac->errstr : "connection lost");
        rlredis_reply_error(&out);
    } else if (rlredis_parse_reply(rep, op, &out) < 0) {
        rlredis_log_reply(rr, rep);
        rlredis_reply_error(&out);
        /*
         * After a failover the address may now lead to a replica, which
         * refuses every write; a new connection may find the new master
         * (behind a virtual IP or a changed DNS name) where this one never will.
         */
        if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "READONLY", 8) == 0)
            rlredis_drop(rr, "the server is a read-only replica"); /* deferred by hiredis */
    } else if (out.admitted) {
        out.lease = rlredis_lease_new(rr, op);
    }
    rlredis_op_complete(op, &out);
}

/*
 * The op's timer: either the zero timeout of an op answered without Redis,
 * or its reply deadline.
 *
 * On a deadline we also decide whether Redis has stopped answering. If
 * nothing at all came back on this connection since the op was sent, the
 * server is hung or the path to it is dead (TCP would take minutes to
 * notice): we drop the connection. That fails every other waiting op now
 * instead of one timeout each, makes the next admissions fail at once (no
 * 100 ms added to every request while on_error=allow), bounds the memory of
 * ops hiredis holds, and lets the reconnect find a healthy replica or a
 * restarted server. A Redis that is merely slow still answers other
 * commands within the window, and then we keep the connection: a late
 * reply is ignored but the pipeline is in order and healthy.
 */
static void
rlredis_op_timer(evutil_socket_t fd, short what, void *arg)
{
    struct rlredis_op *op = arg;
    struct rlredis *rr = op->rr;
    struct rlredis_reply r;
    char why[96];
    (void)fd;
    (void)what;
    if (!op->in_redis) {
        rlredis_reply_error(&r);
        if (op->early_admit) {
            r.error = 0;
            r.admitted = 1;
        }
        rlredis_op_complete(op, &r);
        return;
    }
    if (rr->ac != NULL && rr->last_reply_ms < op->sent_ms) {
        snprintf(why, sizeof(why), "no answer in %lld ms", (long long)rr->timeout_ms);
        rlredis_drop(rr, why); /* op's callback runs from here, with error=1 */
        return;
    }
    log_debug("redis %s: admission timed out after %lld ms", rr->addr, (long long)rr->timeout_ms);
    rlredis_reply_error(&r);
    rlredis_op_complete(op, &r);
}

/* Append a then b to the op's buffer as its next argument. */
static void
rlredis_op_arg2(struct rlredis_op *op, size_t *off, const char *a, size_t alen, const char *b,
                size_t blen)
{
    char *p = op->buf + *off;
    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    p[alen + blen] = '\0';
    op->argv[op->argc] = p;
    op->argvlen[op->argc] = alen + blen;
    op->argc++;
    *off += alen + blen + 1;
}

/* Append an integer argument. */
static void
rlredis_op_num(struct rlredis_op *op, size_t *off, int64_t v)
{
    char num[NUM_MAX];
    int len = snprintf(num, sizeof(num), "%lld", (long long)v);
    rlredis_op_arg2(op, off, num, (size_t)len, "", 0);
}

/*
 * A new op with the EVALSHA command for the counters worth checking
 * (limit > 0; the caller should not pass others). NULL when out of memory.
 */
static struct rlredis_op *
rlredis_op_new(struct rlredis *rr, const struct rlredis_counter *c, int n, const char *lease_id)
{
    size_t plen = strlen(rr->prefix), llen = strlen(lease_id), size = NUM_MAX + llen + 1, off = 0;
    for (int i = 0; i < n; i++)
        size += plen + strnlen(c[i].key, sizeof(c[i].key)) + 1 + 4 * NUM_MAX;
    struct rlredis_op *op = calloc(1, sizeof(*op) + size);
    if (op == NULL)
        return NULL;
    op->rr = rr;
    for (int i = 0; i < n; i++)
        if (c[i].limit > 0)
            op->idx[op->n++] = (int8_t)i;
    op->argv[0] = "EVALSHA";
    op->argvlen[0] = 7;
    op->argv[1] = rr->admit_sha;
    op->argvlen[1] = strlen(rr->admit_sha);
    op->argc = 2;
    rlredis_op_num(op, &off, op->n);
    for (int j = 0; j < op->n; j++) {
        const struct rlredis_counter *k = &c[op->idx[j]];
        rlredis_op_arg2(op, &off, rr->prefix, plen, k->key, strnlen(k->key, sizeof(k->key)));
    }
    rlredis_op_arg2(op, &off, lease_id, llen, "", 0);
    for (int j = 0; j < op->n; j++) {
        const struct rlredis_counter *k = &c[op->idx[j]];
        rlredis_op_num(op, &off, k->limit);
        rlredis_op_num(op, &off, k->cost);
        rlredis_op_num(op, &off, k->window_s > 0 ? k->window_s : 0);
        rlredis_op_num(op, &off, rr->lease_ttl_ms);
        if (k->window_s <= 0 && k->hold_ms > op->hold_ms)
            op->hold_ms = k->hold_ms;
    }
    return op;
}

/*
 * Check every counter and, only if all are under their limit, add each cost
 * (and lease_id to each lease set), in one script. cb always runs from the
 * event loop: ops that need no Redis, or cannot have it, complete from a
 * zero timeout.
 */
struct rlredis_op *
rlredis_admit(struct rlredis *rr, const struct rlredis_counter *c, int n, const char *lease_id,
              rlredis_cb cb, void *arg)
{
    struct timeval zero = {0, 0}, tv;
    int bad = n < 0 || n > RLREDIS_MAX_COUNTERS || (n > 0 && c == NULL);
    for (int i = 0; !bad && i < n; i++) /* a lease needs a name to be released by */
        bad = c[i].limit > 0 && c[i].window_s <= 0 && (lease_id == NULL || *lease_id == '\0');
    if (bad) {
        log_warnx("redis %s: admission with %d counters (or a lease without id) refused", rr->addr,
                  n);
        n = 0;
    }
    struct rlredis_op *op = rlredis_op_new(rr, c, n, lease_id ? lease_id : "");
    if (op == NULL)
        return NULL;
    if ((op->ev = evtimer_new(rr->base, rlredis_op_timer, op)) == NULL) {
        free(op);
        return NULL;
    }
    op->cb = cb;
    op->arg = arg;
    TAILQ_INSERT_TAIL(&rr->ops, op, entry);
    if (bad || op->n == 0) {
        op->early_admit = !bad; /* nothing to check: admitted */
    } else if (rr->ac != NULL && redisAsyncCommandArgv(rr->ac, rlredis_on_admit, op, op->argc,
                                                       op->argv, op->argvlen) == REDIS_OK) {
        op->in_redis = 1;
        op->sent_ms = now_mono_ms();
        tv = tv_ms(rr->timeout_ms);
        evtimer_add(op->ev, &tv);
        return op;
    }
    evtimer_add(op->ev, &zero);
    return op;
}

/* The request went away: cb will not run. The op is freed now unless hiredis holds it. */
void
rlredis_cancel(struct rlredis_op *op)
{
    if (op == NULL || op->rr == NULL)
        return;
    op->cb = NULL;
    if (op->in_redis) {
        evtimer_del(op->ev);
        return;
    }
    TAILQ_REMOVE(&op->rr->ops, op, entry);
    rlredis_op_free(op);
}

/* A settle's reply: retried once as EVAL after NOSCRIPT, otherwise only logged. */
static void
rlredis_on_settle(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rlredis_fire *f = privdata;
    struct rlredis *rr = ac->data;
    const redisReply *rep = r;
    if (rep != NULL && rr != NULL && rep->type == REDIS_REPLY_ERROR) {
        if (strncmp(rep->str, "NOSCRIPT", 8) == 0 && !f->retried) {
            f->retried = 1;
            f->argv[0] = "EVAL";
            f->argvlen[0] = 4;
            f->argv[1] = settle_lua;
            f->argvlen[1] = strlen(settle_lua);
            if (redisAsyncCommandArgv(ac, rlredis_on_settle, f, 5, f->argv, f->argvlen) == REDIS_OK)
                return;
        }
        log_debug("redis %s: settle failed: %.200s", rr->addr, rep->str);
    }
    free(f);
}

/* Count and note a settle or release that cannot be sent. */
static void
rlredis_dropped(struct rlredis *rr, const char *what, const char *key)
{
    rr->dropped++;
    log_debug("redis %s: %s of %s dropped: not connected (%llu dropped so far)", rr->addr, what,
              key, (unsigned long long)rr->dropped);
}

/* Settle pfx key:window (pfx: the prefix, or "" for a key that has it already). */
static void
rlredis_settle_key(struct rlredis *rr, const char *pfx, const char *key, int64_t window,
                   int64_t delta)
{
    if (delta == 0)
        return;
    if (rr->ac == NULL) {
        rlredis_dropped(rr, "settle", key);
        return;
    }
    size_t klen = strlen(pfx) + strlen(key) + 1 + NUM_MAX;
    struct rlredis_fire *f = calloc(1, sizeof(*f) + klen + NUM_MAX);
    if (f == NULL)
        return;
    char *k = f->buf, *d = f->buf + klen;
    f->argv[0] = "EVALSHA";
    f->argv[1] = rr->settle_sha;
    f->argv[2] = "1";
    f->argv[3] = k;
    f->argv[4] = d;
    snprintf(k, klen, "%s%s:%lld", pfx, key, (long long)window);
    snprintf(d, NUM_MAX, "%lld", (long long)delta);
    for (int i = 0; i < 5; i++)
        f->argvlen[i] = strlen(f->argv[i]);
    if (redisAsyncCommandArgv(rr->ac, rlredis_on_settle, f, 5, f->argv, f->argvlen) != REDIS_OK) {
        free(f);
        rlredis_dropped(rr, "settle", key);
    }
}

/* Add delta (may be negative; the count never goes below 0) to one window. */
void
rlredis_settle(struct rlredis *rr, const char *key, int64_t window, int64_t delta)
{
    rlredis_settle_key(rr, rr->prefix, key, window, delta);
}

/* A release's reply: done, or, lost with its connection or refused, removed again later. */
static void
rlredis_on_release(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rlredis_gone *g = privdata;
    struct rlredis *rr = g->rr;
    const redisReply *rep = r;
    (void)ac;
    if (rr == NULL) { /* rr was freed */
        free(g);
        return;
    }
    TAILQ_REMOVE(&rr->releasing, g, entry);
    if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
        rlredis_limbo_add(rr, g);
    else
        free(g);
}

/* ZREM lease_id from pfx key (pfx as for rlredis_settle_key); in limbo when it cannot go now. */
static void
rlredis_release_key(struct rlredis *rr, const char *pfx, const char *key, const char *lease_id)
{
    struct rlredis_gone *g;
    if (lease_id == NULL || (g = rlredis_gone_new(pfx, key, lease_id)) == NULL)
        return;
    const char *argv[] = {"ZREM", g->key, g->id};
    size_t lens[] = {4, strlen(g->key), strlen(g->id)};
    if (rr->ac == NULL ||
        redisAsyncCommandArgv(rr->ac, rlredis_on_release, g, 3, argv, lens) != REDIS_OK) {
        log_debug("redis %s: release of %s deferred: not connected", rr->addr, key);
        rlredis_limbo_add(rr, g);
        return;
    }
    g->rr = rr;
    TAILQ_INSERT_TAIL(&rr->releasing, g, entry);
}

/* The request ended: remove its lease from every set and stop renewing it. */
void
rlredis_lease_end(struct rlredis_lease *l)
{
    if (l == NULL)
        return;
    struct rlredis *rr = l->rr;
    if (rr != NULL) {
        for (int i = 0; i < l->n; i++)
            rlredis_release_key(rr, "", l->key[i], l->id);
        TAILQ_REMOVE(&rr->leases, l, entry);
        rr->nleases--;
    }
    free(l);
}

/*
 * Nobody waits for this admission any more (cancelled, or timed out and
 * answered error=1), yet Redis admitted it: give the costs back and the
 * leases up. Otherwise a request that never ran would count until its
 * window or lease ends, as the caller settles and releases only what it
 * was told was admitted.
 */
static void
rlredis_op_undo(struct rlredis *rr, const struct rlredis_op *op, const struct rlredis_reply *r)
{
    const char *lease_id = op->argv[3 + op->n];
    for (int j = 0; j < op->n; j++) {
        const char *key = op->argv[3 + j];                   /* with the prefix */
        const char *const *a = &op->argv[4 + op->n + 4 * j]; /* limit, cost, window_s, lease_ms */
        if (strtoll(a[2], NULL, 10) > 0)
            rlredis_settle_key(rr, "", key, r->window[op->idx[j]], -strtoll(a[1], NULL, 10));
        else
            rlredis_release_key(rr, "", key, lease_id);
    }
}

/* A renewal's reply: counted; NOSCRIPT loads the script again for the next round. */
static void
rlredis_on_renew(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rlredis *rr = ac->data;
    const redisReply *rep = r;
    (void)privdata;
    if (rr == NULL || rep == NULL)
        return; /* a connection we forgot: rlredis_lost reset the count */
    rr->last_reply_ms = now_mono_ms();
    if (rr->renew_inflight > 0)
        rr->renew_inflight--;
    if (rep->type == REDIS_REPLY_INTEGER) {
        if (rep->integer > 0)
            log_debug("redis %s: %lld leases had expired while their requests ran: added again",
                      rr->addr, (long long)rep->integer);
        return;
    }
    if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        const char *la[] = {"SCRIPT", "LOAD", renew_lua};
        size_t ll[] = {6, 4, strlen(renew_lua)};
        redisAsyncCommandArgv(ac, NULL, NULL, 3, la, ll);
        return;
    }
    log_debug("redis %s: lease renewal failed: %.200s", rr->addr,
              rep->type == REDIS_REPLY_ERROR ? rep->str : "an unexpected reply");
}

/* One renewal script: n (set, id) pairs, the first nrenew renewed, the others removed. */
static int
rlredis_renew_send(struct rlredis *rr, const char *const *keys, const char *const *ids, int n,
                   int nrenew)
{
    const char *argv[5 + 2 * RENEW_BATCH];
    size_t lens[5 + 2 * RENEW_BATCH];
    char nk[NUM_MAX], ttl[NUM_MAX], nr[NUM_MAX];
    int argc = 0;
    snprintf(nk, sizeof(nk), "%d", n);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)rr->lease_ttl_ms);
    snprintf(nr, sizeof(nr), "%d", nrenew);
    argv[argc++] = "EVALSHA";
    argv[argc++] = rr->renew_sha;
    argv[argc++] = nk;
    for (int i = 0; i < n; i++)
        argv[argc++] = keys[i];
    argv[argc++] = ttl;
    argv[argc++] = nr;
    for (int i = 0; i < n; i++)
        argv[argc++] = ids[i];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (redisAsyncCommandArgv(rr->ac, rlredis_on_renew, NULL, argc, argv, lens) != REDIS_OK)
        return -1;
    if (rr->renew_inflight++ == 0)
        rr->renew_sent_ms = now_mono_ms();
    return 0;
}

/*
 * One round: every lease held is renewed and every unknown one removed,
 * RENEW_BATCH pairs per script, all written at once. Leases whose request
 * outlived the longest it may live are no longer renewed. An unknown lease
 * is removed in LIMBO_ROUNDS rounds, not one: a stalled Redis that wakes up
 * may run the lost admission of a closed connection after the first.
 */
static void
rlredis_renew_round(struct rlredis *rr)
{
    const char *keys[RENEW_BATCH], *ids[RENEW_BATCH];
    int n = 0, nrenew = 0;
    int64_t now = now_mono_ms();
    struct rlredis_lease *l;
    struct rlredis_gone *g, *next;
    if (rr->ac == NULL || rr->state != RS_READY)
        return;
    for (l = TAILQ_FIRST(&rr->leases); l != NULL; l = TAILQ_NEXT(l, entry)) {
        for (int i = 0; now <= l->until_ms && i < l->n; i++) {
            keys[n] = l->key[i];
            ids[n++] = l->id;
            nrenew++;
            if (n == RENEW_BATCH) {
                if (rlredis_renew_send(rr, keys, ids, n, nrenew) < 0)
                    return;
                n = nrenew = 0;
            }
        }
    }
    for (g = TAILQ_FIRST(&rr->limbo); g != NULL; g = TAILQ_NEXT(g, entry)) {
        keys[n] = g->key;
        ids[n++] = g->id;
        if (n == RENEW_BATCH) {
            if (rlredis_renew_send(rr, keys, ids, n, nrenew) < 0)
                return;
            n = nrenew = 0;
        }
    }
    if (n > 0 && rlredis_renew_send(rr, keys, ids, n, nrenew) < 0)
        return;
    /* hiredis copied every string: the unknown leases may go now */
    for (g = TAILQ_FIRST(&rr->limbo); g != NULL; g = next) {
        next = TAILQ_NEXT(g, entry);
        if (++g->rounds < LIMBO_ROUNDS)
            continue;
        TAILQ_REMOVE(&rr->limbo, g, entry);
        rr->nlimbo--;
        free(g);
    }
}

/*
 * Every third of the lease TTL: a round, unless the last one is still
 * unanswered. A renewal nothing at all answered within the timeout means
 * a hung server, as for an admission: drop the connection (the reconnect
 * renews at once), rather than pile renewals up behind it.
 */
static void
rlredis_renew_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rlredis *rr = arg;
    char why[96];
    (void)fd;
    (void)what;
    if (rr->ac == NULL || rr->state != RS_READY)
        return;
    if (rr->renew_inflight > 0) {
        if (rr->last_reply_ms < rr->renew_sent_ms &&
            now_mono_ms() - rr->renew_sent_ms >= rr->timeout_ms) {
            snprintf(why, sizeof(why), "no answer in %lld ms", (long long)rr->timeout_ms);
            rlredis_drop(rr, why);
        }
        return;
    }
    rlredis_renew_round(rr);
}

/* Leases held (renewed). */
int
rlredis_leases_held(const struct rlredis *rr)
{
    return rr->nleases;
}

/* Leases whose fate is unknown, to be removed in the next rounds. */
int
rlredis_leases_unknown(const struct rlredis *rr)
{
    return rr->nlimbo;
}

/* 1 when connected, authenticated and the scripts are loaded. */
int
rlredis_connected(const struct rlredis *rr)
{
    return rr->state == RS_READY;
}

/* Failed admissions so far: timeouts, error replies, lost connections, not connected. */
uint64_t
rlredis_errors(const struct rlredis *rr)
{
    return rr->errors;
}

/*
 * Cancel every op (no callback runs) and close the connection. Ops hiredis
 * holds are orphaned (rr NULL): freeing the context answers them NULL and
 * their reply callback frees them, now or, when we are inside a hiredis
 * callback, as soon as it returns.
 */
void
rlredis_free(struct rlredis *rr)
{
    struct rlredis_op *op;
    if (rr == NULL)
        return;
    while ((op = TAILQ_FIRST(&rr->ops)) != NULL) {
        TAILQ_REMOVE(&rr->ops, op, entry);
        op->cb = NULL;
        if (op->in_redis) {
            op->rr = NULL;
            event_free(op->ev);
            op->ev = NULL;
        } else {
            rlredis_op_free(op);
        }
    }
    struct rlredis_lease *l;
    while ((l = TAILQ_FIRST(&rr->leases)) != NULL) { /* their holders end them later */
        TAILQ_REMOVE(&rr->leases, l, entry);
        l->rr = NULL;
    }
    struct rlredis_gone *g;
    while ((g = TAILQ_FIRST(&rr->releasing)) != NULL) { /* the reply callback frees it */
        TAILQ_REMOVE(&rr->releasing, g, entry);
        g->rr = NULL;
    }
    while ((g = TAILQ_FIRST(&rr->limbo)) != NULL) { /* left to their TTL */
        TAILQ_REMOVE(&rr->limbo, g, entry);
        free(g);
    }
    if (rr->ac != NULL) {
        redisAsyncContext *ac = rr->ac;
        rr->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    event_free(rr->timer);
    event_free(rr->renew);
    explicit_bzero(rr->password, sizeof(rr->password));
    free(rr);
}
