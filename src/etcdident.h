/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdident.h: is the etcd that answers the one the table came from?
 *
 * An etcd that comes back wiped (its revision behind the table's), restored
 * elsewhere or replaced by another cluster (another cluster_id) would empty
 * or replace every node's table within a second. The master keeps the
 * cluster_id and revision the table was synced to (LMDB, beside the meta
 * record), checks every full read and watch answer against them, and on a
 * mismatch keeps serving the stored table until the operator accepts the
 * new state (aigwctl etcd accept).
 */
#ifndef AIGW_ETCDIDENT_H
#define AIGW_ETCDIDENT_H

#include <stdint.h>

#include "store.h"

struct json_object;

struct etcdident {
    struct store_etcd_ident known; /* what the table was synced to */
    int mismatch;                  /* the last answer was from another state */
    int accept;                    /* the operator accepted: the next full read adopts */
    uint64_t seen_cluster_id;      /* of the answer that did not match */
    int64_t seen_revision;
    int64_t since_ms;  /* when the mismatch began */
    int64_t logged_ms; /* the last error line about it */
    char why[96];
};

/* What the table holds (the identity record, or the meta's revision alone). */
void etcdident_load(struct etcdident *id, struct store *s);
/*
 * A full read answered at (cluster_id, revision): 0 to apply it (and record
 * it with etcdident_record), -1 when it must not be applied (logged).
 * endpoint: for the log line; version: the table's, for the log line.
 */
int etcdident_check_range(struct etcdident *id, uint64_t cluster_id, int64_t revision,
                          const char *endpoint, unsigned long long version);
/* A watch answer's cluster_id: 0 when it matches, -1 (logged) when not. */
int etcdident_check_watch(struct etcdident *id, uint64_t cluster_id, int64_t revision,
                          const char *endpoint, unsigned long long version);
/* Record (cluster_id, revision) in t: the table comes from there once t commits. */
void etcdident_record(const struct etcdident *id, struct store_txn *t, uint64_t cluster_id,
                      int64_t revision);
/* t committed: the table comes from (cluster_id, revision); a mismatch is over. */
void etcdident_applied(struct etcdident *id, uint64_t cluster_id, int64_t revision);
/* The operator accepts the new state: -1 when there is no mismatch to accept. */
int etcdident_accept(struct etcdident *id);
/* "identity": {...} for the status. */
void etcdident_status(const struct etcdident *id, struct json_object *etcd);

#endif
