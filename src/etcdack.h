/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdack.h: an Admin API write in etcd mode answered once this node's
 * table holds it (read-your-writes), master.
 */
#ifndef AIGW_ETCDACK_H
#define AIGW_ETCDACK_H

#include <stdint.h>

#include "admin.h"

struct event_base;
struct etcdack;

/*
 * applied points at the last etcd revision the node's table holds (the
 * sync's); a write is answered when *applied reaches its revision, or
 * after wait_ms.
 */
struct etcdack *etcdack_new(struct event_base *base, const int64_t *applied, int wait_ms);
/* Answers every write still waiting (etcd has them), then frees. */
void etcdack_free(struct etcdack *a);
/* *applied moved on: answer the writes it now covers. */
void etcdack_applied(struct etcdack *a);

/*
 * done(arg) held back: pass etcdack_done and the returned pointer where
 * done and arg went (NULL: out of memory, use done and arg as they are).
 */
void *etcdack_wrap(struct etcdack *a, admin_done_cb done, void *arg);
void etcdack_done(void *w, int err, int64_t revision);
/* The same for a rollback's answer. */
void *etcdack_wrap_rollback(struct etcdack *a, admin_rollback_cb done, void *arg);
void etcdack_rollback_done(void *w, int err, int64_t revision, int changes, const char *msg);

#endif
