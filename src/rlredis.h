/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rlredis.h: the Redis backend of the rate limiter (worker), so that several
 * aigw nodes share one set of counters. hiredis's async API runs on the
 * worker's event base; every admission is one Lua script, atomic on the
 * Redis server, so two nodes together admit exactly N, not 2N.
 *
 * Counters are fixed windows aligned to Redis's own clock (TIME), so every
 * node agrees on when a minute or a day starts whatever its local clock says:
 *   <prefix><owner>:<what>:<window index>   (a string holding a count)
 * Concurrency is a sorted set of leases, crash-safe because every lease
 * expires:
 *   <prefix><owner>:conc                    (member: lease id, score: expiry ms)
 *
 * A lease lives ratelimit.redis.lease_ttl (seconds) in Redis. The worker
 * renews every lease it holds every third of that, all of them in one
 * pipelined script per round, for as long as its request runs: a killed
 * worker's or node's leases expire a TTL after its last renewal, and a
 * lease is never counted longer than its request plus a TTL. A lease whose
 * fate is unknown (its admission or release was lost with a connection, as
 * when Redis stalls) is removed again by id once Redis answers.
 */
#ifndef AIGW_RLREDIS_H
#define AIGW_RLREDIS_H

#include <stdint.h>

struct event_base;
struct conf;
struct rlredis;
struct rlredis_op;
struct rlredis_lease;

#define RLREDIS_MAX_COUNTERS 10

struct rlredis_counter {
    char key[160];    /* without prefix and window: "key:<id>:rpm", "model:<id>:conc" */
    int64_t limit;    /* admitted while used < limit */
    int64_t cost;     /* added on admission: 1 for requests, the reserved tokens */
    int64_t window_s; /* 60 or 86400; 0: a concurrency lease set */
    int64_t hold_ms;  /* concurrency only: the longest the request may live; not renewed after */
};

struct rlredis_reply {
    int error;    /* Redis unreachable, timed out or answered nonsense: apply ratelimit.on_error */
    int admitted; /* every counter was under its limit and all costs were added */
    int denied;   /* index of the first counter at its limit; -1 when admitted or error */
    int64_t used[RLREDIS_MAX_COUNTERS];     /* after admission (before, when denied) */
    int64_t reset_ms[RLREDIS_MAX_COUNTERS]; /* until the window ends; 0 for leases */
    int64_t window[RLREDIS_MAX_COUNTERS];   /* window index the cost went into */
    struct rlredis_lease *lease; /* admitted with lease sets: end it with rlredis_lease_end */
};

typedef void (*rlredis_cb)(const struct rlredis_reply *r, void *arg);

/* Connect lazily to ratelimit.redis.* and keep reconnecting with backoff. */
struct rlredis *rlredis_new(struct event_base *base, const struct conf *c);
void rlredis_free(struct rlredis *rr);

/*
 * Check every counter and, only if all are under their limit, add each cost
 * (and lease_id to each lease set), in one script. cb runs exactly once,
 * from the event loop, never from inside this call, unless the op is
 * cancelled first. NULL when out of memory.
 */
struct rlredis_op *rlredis_admit(struct rlredis *rr, const struct rlredis_counter *c, int n,
                                 const char *lease_id, rlredis_cb cb, void *arg);
/* The request went away: cb will not run. Only before cb ran; op is invalid after. */
void rlredis_cancel(struct rlredis_op *op);
/* Add delta (may be negative; the count never goes below 0) to one window. */
void rlredis_settle(struct rlredis *rr, const char *key, int64_t window, int64_t delta);
/*
 * The request ended: remove its lease from every set and stop renewing it.
 * Exactly once per lease an admission handed out; NULL does nothing. A
 * lease outlives rlredis_free (which stops renewing it) until ended.
 */
void rlredis_lease_end(struct rlredis_lease *l);
/* Leases held (renewed) and leases waiting to be removed again (for tests). */
int rlredis_leases_held(const struct rlredis *rr);
int rlredis_leases_unknown(const struct rlredis *rr);
int rlredis_connected(const struct rlredis *rr);
/* Failed admissions so far: timeouts, error replies, lost connections, not connected. */
uint64_t rlredis_errors(const struct rlredis *rr);

#endif
