/* SPDX-License-Identifier: Apache-2.0 */
/*
 * balance.h: choosing the target of a request (worker): priority tiers,
 * smooth weighted round robin shared by all workers, and the breakers.
 */
#ifndef AIGW_BALANCE_H
#define AIGW_BALANCE_H

#include <stdint.h>

struct shm;
struct shm_slot;
struct model_view;

struct balance {
    uint32_t tried;  /* bit per target already attempted by this request */
    int picks;       /* attempts chosen so far */
    struct shm_slot *tslot[16]; /* each target's breaker entry, looked up once */
    int probe;       /* the chosen target's attempt is its half-open probe */
    int64_t wait_ms; /* when nothing was available: the soonest a target may be */
};

/*
 * The next target: one not tried yet if any is available, else a tried one.
 * -1 when none is available now (breakers open, resting after a 429, or all
 * weights 0); then b->wait_ms tells the client when to retry.
 */
int balance_pick(struct shm *s, const struct model_view *m, struct balance *b, int64_t now_ms);

#endif
