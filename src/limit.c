/* SPDX-License-Identifier: Apache-2.0 */
/*
 * limit.c: rate limits (worker).
 *
 * Windows are fixed: the current UTC minute and the current UTC day. A
 * request is admitted while every counter is under its limit, so with a
 * limit of N exactly N requests pass in a window, however many workers
 * (shared memory) or nodes (Redis) serve them.
 *
 * Local counters are one 64-bit word each: the window's number in the top
 * 24 bits and the count in the low 40, so a compare-and-swap both rolls the
 * window over and counts, and no worker can count into a window another has
 * already replaced. Token counters take the request's reservation at
 * admission and are corrected with the real usage at the end: concurrent
 * requests overshoot a token limit by at most one request.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aigw/conf.h"
#include "log.h"
#include "shm.h"
#include "aigw/util.h"
#include "limit.h"
#include "rlredis.h"

#define CNT_BITS 40
#define CNT_MASK ((1ull << CNT_BITS) - 1)
#define TAG_OF(v) ((v) >> CNT_BITS)
#define CNT_OF(v) ((int64_t)((v)&CNT_MASK))
#define PACK(tag, n) (((uint64_t)(tag) << CNT_BITS) | ((uint64_t)(n)&CNT_MASK))

/* An entry's counters are c[LIM_*] (aigw/shm.h, SHM_KIND_LIMIT). */
_Static_assert(LIM_N <= SHM_NC, "a limit entry holds a counter for each limit");

static const char *const lim_short[LIM_N] = {"rpm", "rpd", "tpm", "tpd", "conc"};
static const int64_t lim_window_s[LIM_N] = {60, 86400, 60, 86400, 0};

struct limiter {
    const struct conf *conf;
    struct shm *shm;
    struct rlredis *redis; /* NULL: the local backend */
    int64_t last_err_log;
};

struct limiter *
limiter_new(struct event_base *base, const struct conf *c, struct shm *shm)
{
    struct limiter *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->conf = c;
    l->shm = shm;
    if (c->rl_backend == RL_BACKEND_REDIS && (l->redis = rlredis_new(base, c)) == NULL) {
        free(l);
        return NULL;
    }
    return l;
}

void
limiter_free(struct limiter *l)
{
    if (l == NULL)
        return;
    rlredis_free(l->redis);
    free(l);
}

void
limit_owner(struct limit_state *st, const char *kind, const char *id, const char *name,
            const int64_t *limits)
{
    int any = 0;
    for (int i = 0; i < LIM_N; i++)
        any |= limits[i] > 0;
    if (!any || st->nown == 2)
        return;
    struct limit_owner *o = &st->own[st->nown++];
    o->kind = kind;
    snprintf(o->id, sizeof(o->id), "%s", id);
    snprintf(o->name, sizeof(o->name), "%s", name);
    memcpy(o->limits, limits, sizeof(o->limits));
}

void
limit_fmt_reset(int64_t ms, char *buf, size_t len)
{
    if (ms < 1000) {
        snprintf(buf, len, "%lldms", (long long)(ms > 0 ? ms : 0));
        return;
    }
    int64_t s = (ms + 999) / 1000, h = s / 3600, m = s % 3600 / 60;
    if (h > 0)
        snprintf(buf, len, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)(s % 60));
    else if (m > 0)
        snprintf(buf, len, "%lldm%llds", (long long)m, (long long)(s % 60));
    else
        snprintf(buf, len, "%llds", (long long)s);
}

/* Note one counter's state for the x-ratelimit-* headers: the tightest one wins. */
static void
note_remaining(struct limit_state *st, int which, int64_t limit, int64_t used, int64_t reset_ms)
{
    int64_t rem = limit - used > 0 ? limit - used : 0;
    if (which == LIM_RPM || which == LIM_RPD) {
        if (!st->have_req || rem < st->req_remaining) {
            st->have_req = 1;
            st->req_limit = limit;
            st->req_remaining = rem;
            st->req_reset_ms = reset_ms;
        }
    } else if (which == LIM_TPM || which == LIM_TPD) {
        if (!st->have_tok || rem < st->tok_remaining) {
            st->have_tok = 1;
            st->tok_limit = limit;
            st->tok_remaining = rem;
            st->tok_reset_ms = reset_ms;
        }
    }
}

static void
deny(struct limit_state *st, int owner, int which, int64_t limit, int64_t used, int64_t retry_ms)
{
    st->verdict = LIMIT_DENIED;
    st->deny_owner = owner;
    st->deny_which = which;
    st->deny_limit = limit;
    st->deny_used = used;
    st->retry_ms = retry_ms;
}

/* ---- the local backend: shared memory ---- */

/* Take cost from a counter of window tag unless it is at its limit. */
static int
ctr_take(_Atomic uint64_t *c, uint64_t tag, int64_t limit, int64_t cost, int64_t *used)
{
    uint64_t v = atomic_load_explicit(c, memory_order_relaxed);
    for (;;) {
        int64_t n = TAG_OF(v) == tag ? CNT_OF(v) : 0;
        if (n >= limit) {
            *used = n;
            return 0;
        }
        int64_t nn = n + cost > (int64_t)CNT_MASK ? (int64_t)CNT_MASK : n + cost;
        if (atomic_compare_exchange_weak(c, &v, PACK(tag, nn))) {
            *used = nn;
            return 1;
        }
    }
}

/*
 * Add delta to what was taken in window tag. If that window is over, the
 * real usage (real) goes into the current one instead: a long stream is
 * charged to the window it ended in rather than to none.
 */
static void
ctr_settle(_Atomic uint64_t *c, uint64_t tag, uint64_t now_tag, int64_t delta, int64_t real)
{
    uint64_t v = atomic_load_explicit(c, memory_order_relaxed), nv;
    do {
        int64_t n = TAG_OF(v) == now_tag ? CNT_OF(v) : 0;
        int64_t add = tag == now_tag ? delta : real;
        if (add == 0)
            return;
        n += add;
        nv = PACK(now_tag, n < 0 ? 0 : (n > (int64_t)CNT_MASK ? (int64_t)CNT_MASK : n));
    } while (!atomic_compare_exchange_weak(c, &v, nv));
}

/* The window's number in 23 bits with the 24th set: never 0, which means "not taken". */
static uint64_t
window_tag(int which, int64_t now_s)
{
    return ((uint64_t)(now_s / lim_window_s[which]) & 0x7fffff) | 0x800000;
}

static int64_t
window_reset_ms(int which, int64_t now_ms)
{
    int64_t w = lim_window_s[which] * 1000;
    return w - now_ms % w;
}

/* Give back everything taken so far (a later counter refused the request). */
static void
local_undo(struct limit_state *st)
{
    for (int o = 0; o < st->nown; o++) {
        struct shm_slot *s = st->slot[o];
        if (s == NULL)
            continue;
        for (int i = 0; i < LIM_N; i++) {
            if (st->tag[o][i] == 0)
                continue;
            if (i == LIM_CONC) {
                atomic_fetch_sub(&s->c[LIM_CONC], 1);
                shm_conc_note(st->lim->shm, s, -1);
            } else {
                int64_t cost = i == LIM_TPM || i == LIM_TPD ? st->reserved : 1;
                ctr_settle(&s->c[i], st->tag[o][i], st->tag[o][i], -cost, 0);
            }
            st->tag[o][i] = 0;
        }
    }
}

static void
local_admit(struct limiter *l, struct limit_state *st)
{
    int64_t now_ms = now_real_ms(), now_s = now_ms / 1000, used;
    for (int o = 0; o < st->nown; o++) {
        struct limit_owner *ow = &st->own[o];
        struct shm_slot *s = st->slot[o] = shm_slot(l->shm, SHM_KIND_LIMIT, ow->kind, ow->id);
        if (s == NULL)
            continue; /* table full: logged and counted by shm.c; not limited */
        for (int i = 0; i < LIM_N; i++) {
            int64_t limit = ow->limits[i];
            if (limit <= 0)
                continue;
            if (i == LIM_CONC) {
                uint64_t v = atomic_load(&s->c[LIM_CONC]);
                do {
                    if ((int64_t)v >= limit) {
                        local_undo(st);
                        deny(st, o, i, limit, (int64_t)v, 1000);
                        return;
                    }
                } while (!atomic_compare_exchange_weak(&s->c[LIM_CONC], &v, v + 1));
                shm_conc_note(l->shm, s, 1);
                st->tag[o][i] = 1;
                continue;
            }
            uint64_t tag = window_tag(i, now_s);
            int64_t cost = i == LIM_TPM || i == LIM_TPD ? st->reserved : 1;
            int64_t reset = window_reset_ms(i, now_ms);
            if (!ctr_take(&s->c[i], tag, limit, cost, &used)) {
                local_undo(st);
                deny(st, o, i, limit, used, reset);
                note_remaining(st, i, limit, used, reset);
                return;
            }
            st->tag[o][i] = tag;
            note_remaining(st, i, limit, used, reset);
        }
    }
    st->active = 1;
}

static void
local_end(struct limit_state *st, int64_t real)
{
    int64_t now_s = now_real_ms() / 1000;
    for (int o = 0; o < st->nown; o++) {
        struct shm_slot *s = st->slot[o];
        if (s == NULL)
            continue;
        for (int i = LIM_TPM; i <= LIM_TPD; i++)
            if (st->tag[o][i] != 0)
                ctr_settle(&s->c[i], st->tag[o][i], window_tag(i, now_s), real - st->reserved,
                           real);
        if (st->tag[o][LIM_CONC] != 0) {
            atomic_fetch_sub(&s->c[LIM_CONC], 1);
            shm_conc_note(st->lim->shm, s, -1);
        }
    }
}

/* ---- the Redis backend ---- */

/* Redis could not answer: ratelimit.on_error decides, and it is logged and counted. */
static void
redis_failed(struct limit_state *st)
{
    struct limiter *l = st->lim;
    int deny_all = l->conf->rl_on_error == RL_ON_ERROR_DENY;
    shm_stat_add(l->shm, SHM_STAT_RL_ERRORS, 1);
    int64_t now = now_mono_ms();
    if (now - l->last_err_log >= 10000) {
        l->last_err_log = now;
        log_warnx("rate limiter: Redis at %s did not answer; requests are %s "
                  "(ratelimit.on_error: %s)",
                  l->conf->redis_address, deny_all ? "refused" : "let through without limits",
                  deny_all ? "deny" : "allow");
    }
    st->verdict = deny_all ? LIMIT_UNAVAILABLE : LIMIT_OK;
}

static void
redis_reply(const struct rlredis_reply *r, void *arg)
{
    struct limit_state *st = arg;
    int k = 0;
    st->op = NULL;
    if (r->error) {
        redis_failed(st);
    } else {
        for (int o = 0; o < st->nown; o++)
            for (int i = 0; i < LIM_N; i++) {
                int64_t limit = st->own[o].limits[i];
                if (limit <= 0)
                    continue;
                note_remaining(st, i, limit, r->used[k], r->reset_ms[k]);
                st->window[o][i] = r->window[k];
                if (k == r->denied)
                    deny(st, o, i, limit, r->used[k], i == LIM_CONC ? 1000 : r->reset_ms[k]);
                k++;
            }
        if (r->admitted) {
            st->verdict = LIMIT_OK;
            st->active = 1;
            st->lease = r->lease; /* renewed by rlredis until limit_end */
        } else if (st->verdict == LIMIT_DENIED) {
            shm_stat_add(st->lim->shm, SHM_STAT_RL_DENIED, 1);
        } else {
            redis_failed(st); /* neither admitted nor a counter named: nonsense */
        }
    }
    st->done(st, st->arg);
}

static int
redis_admit(struct limiter *l, struct limit_state *st, int64_t lease_ms, const char *rid)
{
    struct rlredis_counter c[RLREDIS_MAX_COUNTERS];
    int n = 0;
    memset(c, 0, sizeof(c));
    for (int o = 0; o < st->nown; o++)
        for (int i = 0; i < LIM_N && n < RLREDIS_MAX_COUNTERS; i++) {
            if (st->own[o].limits[i] <= 0)
                continue;
            snprintf(c[n].key, sizeof(c[n].key), "%s:%s:%s", st->own[o].kind, st->own[o].id,
                     lim_short[i]);
            c[n].limit = st->own[o].limits[i];
            c[n].cost = i == LIM_TPM || i == LIM_TPD ? st->reserved : 1;
            c[n].window_s = lim_window_s[i];
            c[n].hold_ms = lease_ms;
            n++;
        }
    snprintf(st->lease_id, sizeof(st->lease_id), "%s", rid);
    st->op = rlredis_admit(l->redis, c, n, st->lease_id, redis_reply, st);
    if (st->op == NULL) {
        redis_failed(st);
        return 0;
    }
    return 1;
}

static void
redis_end(struct limit_state *st, int64_t real)
{
    char key[200];
    for (int o = 0; o < st->nown; o++) {
        struct limit_owner *ow = &st->own[o];
        for (int i = LIM_TPM; i <= LIM_TPD; i++)
            if (ow->limits[i] > 0 && real != st->reserved) {
                snprintf(key, sizeof(key), "%s:%s:%s", ow->kind, ow->id, lim_short[i]);
                rlredis_settle(st->lim->redis, key, st->window[o][i], real - st->reserved);
            }
    }
    rlredis_lease_end(st->lease);
    st->lease = NULL;
}

/* ---- the request's side ---- */

/*
 * Tokens into 0..CNT_MASK, what a counter holds: a negative would give a
 * window tokens back, and with both a count and a reservation at most
 * 2^40 no sum or difference below can overflow.
 */
static int64_t
tokens_clamp(int64_t n)
{
    return n < 0 ? 0 : n > (int64_t)CNT_MASK ? (int64_t)CNT_MASK : n;
}

int
limit_admit(struct limiter *l, struct limit_state *st, int64_t reserve, int64_t lease_ms,
            const char *request_id, void (*done)(struct limit_state *, void *), void *arg)
{
    st->lim = l;
    st->verdict = LIMIT_OK;
    st->reserved = tokens_clamp(reserve);
    st->done = done;
    st->arg = arg;
    if (st->nown == 0 || l == NULL)
        return 0;
    if (l->redis != NULL)
        return redis_admit(l, st, lease_ms, request_id);
    local_admit(l, st);
    if (st->verdict == LIMIT_DENIED)
        shm_stat_add(l->shm, SHM_STAT_RL_DENIED, 1);
    return 0;
}

void
limit_end(struct limit_state *st, int64_t real_tokens)
{
    if (st->op != NULL) {
        rlredis_cancel(st->op);
        st->op = NULL;
    }
    if (!st->active)
        return;
    st->active = 0;
    real_tokens = tokens_clamp(real_tokens);
    if (st->lim->redis != NULL)
        redis_end(st, real_tokens);
    else
        local_end(st, real_tokens);
}
