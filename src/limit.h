/* SPDX-License-Identifier: Apache-2.0 */
/*
 * limit.h: request, token and concurrency limits per API key and per model
 * (worker). Counters live in shared memory (exact across the node's
 * workers) or, with ratelimit.backend: redis, in Redis (exact across nodes).
 */
#ifndef AIGW_LIMIT_H
#define AIGW_LIMIT_H

#include <stdint.h>

#include "aigw/resource.h"

struct event_base;
struct conf;
struct shm;
struct shm_slot;
struct limiter;
struct rlredis_op;
struct rlredis_lease;

enum limit_verdict { LIMIT_OK = 0, LIMIT_DENIED, LIMIT_UNAVAILABLE };

struct limit_owner {
    const char *kind; /* "key" or "model": the Redis key and the message say it */
    char id[RES_ID_MAX + 1];
    char name[RES_NAME_MAX + 1];
    int64_t limits[LIM_N];
};

/* One request's limits: embedded in the request, zeroed before limit_admit. */
struct limit_state {
    struct limiter *lim;
    int nown;
    struct limit_owner own[2];
    int active;       /* counters were taken: limit_end must give back or settle */
    int64_t reserved; /* tokens reserved at admission */
    /* local backend */
    struct shm_slot *slot[2];
    uint64_t tag[2][LIM_N]; /* the window each counter was taken in; 0: not taken */
    /* redis backend */
    struct rlredis_op *op;
    int64_t window[2][LIM_N];
    char lease_id[64];
    struct rlredis_lease *lease; /* renewed while the request runs */
    /* the verdict and what the x-ratelimit-* headers say */
    enum limit_verdict verdict;
    int deny_owner, deny_which;
    int64_t deny_limit, deny_used, retry_ms;
    int have_req, have_tok;
    int64_t req_limit, req_remaining, req_reset_ms;
    int64_t tok_limit, tok_remaining, tok_reset_ms;
    void (*done)(struct limit_state *st, void *arg);
    void *arg;
};

struct limiter *limiter_new(struct event_base *base, const struct conf *c, struct shm *shm);
void limiter_free(struct limiter *l);

/* Add an owner (key or model) before admission; owners without limits are skipped. */
void limit_owner(struct limit_state *st, const char *kind, const char *id, const char *name,
                 const int64_t *limits);
/*
 * Admit a request reserving `reserve` tokens. 0: decided (st->verdict);
 * 1: asking Redis, done(st, arg) runs later with the verdict.
 * lease_ms: the longest the request may live; its Redis concurrency lease,
 * renewed while it runs, is not renewed past it.
 */
int limit_admit(struct limiter *l, struct limit_state *st, int64_t reserve, int64_t lease_ms,
                const char *request_id, void (*done)(struct limit_state *, void *), void *arg);
/* The request ended: settle the reservation with the real usage, release concurrency. */
void limit_end(struct limit_state *st, int64_t real_tokens);
/* "1m5s", "23s", "250ms": how the x-ratelimit-reset-* headers write a duration. */
void limit_fmt_reset(int64_t ms, char *buf, size_t len);

#endif
