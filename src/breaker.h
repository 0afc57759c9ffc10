/* SPDX-License-Identifier: Apache-2.0 */
/*
 * breaker.h: the circuit breaker of each target of a model, and the rest a
 * target takes after an upstream 429 with Retry-After (worker). The state is
 * one shared-memory entry per target, shared by every worker of the node.
 */
#ifndef AIGW_BREAKER_H
#define AIGW_BREAKER_H

#include <stdint.h>

struct shm_slot;
struct model_view;

enum breaker_state { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 };

/*
 * May the target take this request? 1: yes (*probe set when this request is
 * the one half-open probe); 0: no, and *wait_ms says when it may.
 * ignore_rest: a Retry-After rest does not count (nothing else is left).
 */
int breaker_admit(struct shm_slot *s, const struct model_view *m, int64_t now_ms, int ignore_rest,
                  int *probe, int64_t *wait_ms);
/* The outcome of a request sent to the target; returns 1 when this opened the breaker. */
int breaker_result(struct shm_slot *s, const struct model_view *m, int ok, int probe,
                   int64_t now_ms);
/* The probe ended without an answer (client gone): let the next request probe. */
void breaker_abandon(struct shm_slot *s);
/* The upstream said Retry-After: no worker sends to it before until_ms. */
void breaker_rest(struct shm_slot *s, int64_t until_ms);

struct breaker_info {
    enum breaker_state state;
    int64_t failures, trips;
    int64_t retry_in_ms; /* until it may be tried again (open or resting); 0: now */
};
void breaker_peek(struct shm_slot *s, int64_t now_ms, struct breaker_info *out);
const char *breaker_state_name(enum breaker_state st);

#endif
