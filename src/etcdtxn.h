/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdtxn.h: one etcd transaction that writes many resources at once, with
 * their names' index entries (etcdindex.c's layout), guarded by compares
 * (master). A rollback (etcdrollback.c) and a declarative apply
 * (etcdapply.c) build theirs with it.
 */
#ifndef AIGW_ETCDTXN_H
#define AIGW_ETCDTXN_H

#include <stdint.h>

#include "aigw/resource.h"

struct json_object;
struct store;
struct etcdowner;
struct aigw_errors;

/* What the transaction is made of while it is built. */
struct etcdtxn {
    struct json_object *compare, *success;
    struct json_object *claims;   /* index key -> id taking it */
    struct json_object *releases; /* index key -> id leaving it */
    int changes;
};

void etcdtxn_init(struct etcdtxn *p);
void etcdtxn_free(struct etcdtxn *p);
/*
 * Resource id of kind k becomes want (JSON text; NULL: deleted), inside a
 * read of s: a compare that it still has the mod_revision this node's table
 * holds (or is absent), its put or delete, and the names it takes and
 * leaves. Nothing when it is so already.
 */
void etcdtxn_resource(struct store *s, const char *prefix, struct etcdtxn *p, enum res_kind k,
                      const char *id, const char *want);
/*
 * The names after every resource: each taken is free, its own, or left by a
 * resource of the same transaction (compared); each left still names its
 * resource (compared, deleted). -1 with the refusal in e when a name is
 * held by a resource the transaction does not move: "... which this <what>
 * does not change (<cause>); delete or rename <holder> first<alt>".
 */
int etcdtxn_names(struct etcdowner *own, const char *prefix, struct etcdtxn *p, const char *what,
                  const char *cause, const char *alt, struct aigw_errors *e);
/* A put of k = v, as the JSON gateway takes it (a new object). */
struct json_object *etcdtxn_op_put(const char *k, const char *v);
/*
 * Who asked (the Admin API's source) and, for a rollback, which version
 * (rollback_of > 0): a put of the note key in the same transaction, so every
 * node's history records it with the batch (etcdsync.c).
 */
void etcdtxn_note(struct etcdtxn *p, const char *prefix, const char *source, int64_t rollback_of);
/* {"compare": [...], "success": [...]} as text; the caller frees it. */
char *etcdtxn_body(const struct etcdtxn *p);

#endif
