/* SPDX-License-Identifier: Apache-2.0 */
/*
 * balance.c: target choice (worker).
 *
 * Each priority tier has a precomputed smooth weighted round robin sequence
 * (resource.c). A request's first pick takes a ticket from the tier's
 * shared counter (one atomic add) and reads the sequence there, so the
 * split over all workers together follows the weights exactly, period by
 * period. When the sequence's target is unavailable, the tier's others
 * share its turn in proportion to their weights (a second shared ticket);
 * when a whole tier is unavailable, the next lower tier is used.
 */
#include "config.h"

#include <stdio.h>

#include "aigw/resource.h"
#include "shm.h"
#include "balance.h"
#include "breaker.h"

/* The breaker entry of target i, looked up once per request. */
static struct shm_slot *
target_slot(struct shm *s, const struct model_view *m, struct balance *b, int i)
{
    if (b->tslot[i] == NULL)
        b->tslot[i] = shm_slot(s, SHM_KIND_BREAKER, m->id, m->t[i].name);
    return b->tslot[i];
}

/* May target i take the request? Notes it down (and when it may) if not. */
static int
try_target(struct shm *s, const struct model_view *m, struct balance *b, int i, int pass,
           uint32_t *down, int64_t now)
{
    int probe;
    int64_t wait;
    if (breaker_admit(target_slot(s, m, b, i), m, now, pass == 2, &probe, &wait)) {
        b->probe = probe;
        return 1;
    }
    *down |= 1u << i;
    if (b->wait_ms == 0 || wait < b->wait_ms)
        b->wait_ms = wait;
    return 0;
}

/*
 * Pick in one tier with ticket pos. The sequence's own choice first, which
 * keeps the split smooth; if that target can't take it, the tier's others
 * in proportion to their weights (so 5:3:2 with the first down is 3:2, not
 * whatever follows the first in the sequence). Pass 0 skips targets
 * already tried; pass 2 takes a target resting after a 429 Retry-After
 * when nothing else is left: the rest steers traffic to the other targets,
 * it never refuses a request on its own (a 429 can be about that one
 * request, such as one too large).
 */
static int
pick_tier(struct shm *s, const struct model_view *m, struct balance *b, int k, int pass,
          uint32_t *down, int64_t now)
{
    const struct tier_view *t = &m->tiers[k];
    uint64_t pos = 0;
    char prio[16];
    snprintf(prio, sizeof(prio), "%d", t->priority);
    struct shm_slot *ctr = shm_slot(s, SHM_KIND_WRR, m->id, prio);
    static struct shm_slot own; /* table full: this worker's own tickets keep the split */
    if (ctr == NULL)
        ctr = &own;
    pos = b->picks == 0 && pass == 0 ? atomic_fetch_add(&ctr->c[SHM_WRR_TICKET], 1)
                                     : atomic_load(&ctr->c[SHM_WRR_TICKET]);
    /* pass 2 keeps its own mask: it retries targets passes 0 and 1 found resting */
    uint32_t mask2 = 0, *mask = pass == 2 ? &mask2 : down;
#define SKIP(i) (((*mask >> (i)) & 1) || (pass == 0 && ((b->tried >> (i)) & 1)))
    int first = t->seq[pos % t->period];
    if (!SKIP(first) && try_target(s, m, b, first, pass, mask, now))
        return first;
    /* A second ticket for these picks, so they too follow the weights exactly. */
    pos = b->picks == 0 && pass == 0 ? atomic_fetch_add(&ctr->c[SHM_WRR_SPARE], 1)
                                     : atomic_load(&ctr->c[SHM_WRR_SPARE]);
    for (int tries = 0; tries < m->ntargets; tries++) {
        uint64_t total = 0;
        for (int i = 0; i < m->ntargets; i++)
            if (m->t[i].priority == t->priority && m->t[i].weight > 0 && !SKIP(i))
                total += (uint64_t)m->t[i].weight;
        if (total == 0)
            return -1;
        uint64_t r = pos % total;
        for (int i = 0; i < m->ntargets; i++) {
            if (m->t[i].priority != t->priority || m->t[i].weight <= 0 || SKIP(i))
                continue;
            if (r < (uint64_t)m->t[i].weight) {
                if (try_target(s, m, b, i, pass, mask, now))
                    return i;
                break;
            }
            r -= (uint64_t)m->t[i].weight;
        }
    }
#undef SKIP
    return -1;
}

int
balance_pick(struct shm *s, const struct model_view *m, struct balance *b, int64_t now)
{
    uint32_t down = 0;
    b->probe = 0;
    b->wait_ms = 0;
    /* pass 2 only for a first attempt: a retry never goes to a resting target */
    for (int pass = 0; pass < (b->picks == 0 ? 3 : 2); pass++)
        for (int k = 0; k < m->ntiers; k++) {
            int i = pick_tier(s, m, b, k, pass, &down, now);
            if (i >= 0) {
                b->tried |= 1u << i;
                b->picks++;
                return i;
            }
        }
    return -1;
}
