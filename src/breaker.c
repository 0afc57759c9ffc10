/* SPDX-License-Identifier: Apache-2.0 */
/*
 * breaker.c: circuit breakers in shared memory (worker; the master only
 * reads them for status).
 *
 * An entry's counters (aigw/shm.h): SHM_BRK_FAILURES, consecutive
 * failures; SHM_BRK_STATE, the state word (state in bits 0-1, trips in bits
 * 2-7, a deadline in ms in bits 8-63: the end of the cooldown when open,
 * the end of the probe's time when half-open); SHM_BRK_REST, the end of a
 * Retry-After rest. State, trips and deadline
 * share one word so that one compare-and-swap moves all three: two workers
 * can never both think they opened it, or both take the probe.
 */
#include "config.h"

#include "aigw/resource.h"
#include "shm.h"
#include "breaker.h"

#define W_STATE(w) ((int)((w)&3))
#define W_TRIPS(w) ((int64_t)(((w) >> 2) & 63))
#define W_UNTIL(w) ((int64_t)((w) >> 8))
#define W_MAKE(st, trips, until)                                                                   \
    ((uint64_t)(st) | ((uint64_t)((trips) > 63 ? 63 : (trips)) << 2) | ((uint64_t)(until) << 8))

/*
 * A probe that never reports (its worker died) is given up after this long.
 * The probe is judged when the upstream's headers arrive, so the first-byte
 * timeout bounds it (the global default, 120s, when the model sets none).
 */
static int64_t
probe_timeout(const struct model_view *m)
{
    int64_t t = m->first_byte_timeout_ms ? m->first_byte_timeout_ms : 120000; /* the worker */
    int64_t c = m->connect_timeout_ms ? m->connect_timeout_ms : 5000;         /* sets both */
    return t + c + 1000;
}

/* The cooldown of the n-th trip in a row: cooldown * 2^(n-1), at most max_cooldown. */
static int64_t
cooldown(const struct model_view *m, int64_t trips)
{
    int64_t cd = m->breaker_cooldown_ms;
    for (int64_t i = 1; i < trips && cd < m->breaker_max_cooldown_ms; i++)
        cd *= 2;
    return cd < m->breaker_max_cooldown_ms ? cd : m->breaker_max_cooldown_ms;
}

int
breaker_admit(struct shm_slot *s, const struct model_view *m, int64_t now, int ignore_rest,
              int *probe, int64_t *wait_ms)
{
    *probe = 0;
    *wait_ms = 0;
    if (s == NULL)
        return 1; /* no entry (table full): no breaker rather than no traffic */
    int64_t rest = (int64_t)atomic_load_explicit(&s->c[SHM_BRK_REST], memory_order_relaxed);
    if (rest > now && !ignore_rest) {
        *wait_ms = rest - now;
        return 0;
    }
    if (m->breaker_failures <= 0)
        return 1;
    uint64_t w = atomic_load_explicit(&s->c[SHM_BRK_STATE], memory_order_acquire);
    for (;;) {
        if (W_STATE(w) == BREAKER_CLOSED)
            return 1;
        if (W_UNTIL(w) > now) { /* cooling down, or another request is the probe */
            *wait_ms = W_UNTIL(w) - now;
            /* a probe decides within its deadline, usually far sooner: don't send clients away that
             * long */
            if (W_STATE(w) == BREAKER_HALF_OPEN && *wait_ms > m->breaker_cooldown_ms)
                *wait_ms = m->breaker_cooldown_ms;
            return 0;
        }
        /* The cooldown is over (or the probe was lost): this request is the probe. */
        uint64_t nw = W_MAKE(BREAKER_HALF_OPEN, W_TRIPS(w), now + probe_timeout(m));
        if (atomic_compare_exchange_weak(&s->c[SHM_BRK_STATE], &w, nw)) {
            *probe = 1;
            return 1;
        }
    }
}

int
breaker_result(struct shm_slot *s, const struct model_view *m, int ok, int probe, int64_t now)
{
    if (s == NULL || m->breaker_failures <= 0)
        return 0;
    uint64_t w = atomic_load_explicit(&s->c[SHM_BRK_STATE], memory_order_acquire);
    if (ok) {
        atomic_store_explicit(&s->c[SHM_BRK_FAILURES], 0, memory_order_relaxed);
        /* Only the probe closes it: a late answer to a request sent before the trip says little. */
        while (probe && W_STATE(w) == BREAKER_HALF_OPEN)
            if (atomic_compare_exchange_weak(&s->c[SHM_BRK_STATE], &w,
                                             W_MAKE(BREAKER_CLOSED, 0, 0)))
                break;
        return 0;
    }
    if (W_STATE(w) == BREAKER_HALF_OPEN) {
        if (!probe)
            return 0;
        int64_t trips = W_TRIPS(w) + 1;
        return atomic_compare_exchange_strong(
            &s->c[SHM_BRK_STATE], &w, W_MAKE(BREAKER_OPEN, trips, now + cooldown(m, trips)));
    }
    if (W_STATE(w) == BREAKER_OPEN)
        return 0; /* already open: late failures don't extend it */
    uint64_t f = atomic_fetch_add(&s->c[SHM_BRK_FAILURES], 1) + 1;
    if (f < (uint64_t)m->breaker_failures)
        return 0;
    /* Closed with enough failures in a row: open it, once. */
    if (!atomic_compare_exchange_strong(&s->c[SHM_BRK_STATE], &w,
                                        W_MAKE(BREAKER_OPEN, 1, now + cooldown(m, 1))))
        return 0;
    atomic_store(&s->c[SHM_BRK_FAILURES], 0);
    return 1;
}

void
breaker_abandon(struct shm_slot *s)
{
    if (s == NULL)
        return;
    uint64_t w = atomic_load(&s->c[SHM_BRK_STATE]);
    while (W_STATE(w) == BREAKER_HALF_OPEN &&
           !atomic_compare_exchange_weak(&s->c[SHM_BRK_STATE], &w,
                                         W_MAKE(BREAKER_OPEN, W_TRIPS(w), 0)))
        ;
}

void
breaker_rest(struct shm_slot *s, int64_t until)
{
    if (s == NULL)
        return;
    uint64_t cur = atomic_load(&s->c[SHM_BRK_REST]);
    while ((int64_t)cur < until &&
           !atomic_compare_exchange_weak(&s->c[SHM_BRK_REST], &cur, (uint64_t)until))
        ;
}

void
breaker_peek(struct shm_slot *s, int64_t now, struct breaker_info *out)
{
    out->state = BREAKER_CLOSED;
    out->failures = out->trips = out->retry_in_ms = 0;
    if (s == NULL)
        return;
    uint64_t w = atomic_load(&s->c[SHM_BRK_STATE]);
    int64_t rest = (int64_t)atomic_load(&s->c[SHM_BRK_REST]);
    out->state = (enum breaker_state)W_STATE(w);
    out->failures = (int64_t)atomic_load(&s->c[SHM_BRK_FAILURES]);
    out->trips = W_TRIPS(w);
    if (out->state == BREAKER_OPEN && W_UNTIL(w) > now)
        out->retry_in_ms = W_UNTIL(w) - now;
    if (rest > now && rest - now > out->retry_in_ms)
        out->retry_in_ms = rest - now;
}

const char *
breaker_state_name(enum breaker_state st)
{
    return st == BREAKER_OPEN ? "open" : st == BREAKER_HALF_OPEN ? "half_open" : "closed";
}
