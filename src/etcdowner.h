/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdowner.h: which resource owns a name in etcd mode, by one rule every
 * node applies alike (master; the rule is in etcdowner.c).
 */
#ifndef AIGW_ETCDOWNER_H
#define AIGW_ETCDOWNER_H

#include <stdint.h>

#include "aigw/resource.h"

struct etcdowner;
struct json_object;

struct etcdowner *owner_new(void);
void owner_free(struct etcdowner *o);
/* Forget everything: a full read follows. */
void owner_reset(struct etcdowner *o);
/* The index entry ikey (the whole etcd key) names id; NULL: it is gone. */
void owner_index_set(struct etcdowner *o, const char *ikey, const char *id);
const char *owner_index_get(struct etcdowner *o, const char *ikey);
/* A resource's create_revision; < 0: forget it. */
void owner_crev_set(struct etcdowner *o, enum res_kind k, const char *id, int64_t crev);
/* 1 when a, rather than b, owns the name whose index entry is ikey. */
int owner_prefers(struct etcdowner *o, const char *ikey, enum res_kind k, const char *a,
                  const char *b);
/* id wants the name ikey that holder has (name: a model's, for the listing; NULL for keys). */
void owner_loser_set(struct etcdowner *o, enum res_kind k, const char *id, const char *ikey,
                     const char *holder, const char *name);
/* id is no loser (any more); 1 when it was one. */
int owner_loser_del(struct etcdowner *o, enum res_kind k, const char *id);
/* 1 when a loser wants the name ikey. */
int owner_waiting(struct etcdowner *o, const char *ikey);
int owner_nlosers(struct etcdowner *o);
/* The losers of kind k: [{id, held_by, name}], a new array. */
struct json_object *owner_losers_json(struct etcdowner *o, enum res_kind k);

#endif
