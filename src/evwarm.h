/* SPDX-License-Identifier: Apache-2.0 */
/* evwarm.h: libevent's per-descriptor entries made at a worker's start, worker. */
#ifndef AIGW_EVWARM_H
#define AIGW_EVWARM_H

struct event_base;

/*
 * Watch, once, every descriptor number below upto (on duplicates of a
 * socket of its own, closed again), so that libevent's entry for each is
 * made now, side by side. Returns how many numbers were watched (it stops
 * early, quietly, at the descriptor limit).
 */
int evwarm(struct event_base *base, int upto);

#endif
