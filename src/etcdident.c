/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdident.c: the etcd identity check (see etcdident.h).
 *
 * Within one etcd cluster the revision never goes back and the cluster_id
 * never changes, whichever member answers (a range is linearizable, so a
 * lagging member answers at the leader's revision). So an answer with
 * another cluster_id, or a full read at a revision below the one the table
 * was synced to, is another state: a wiped data dir, a restore, the wrong
 * endpoint. Applying it would make every node drop what clients use; the
 * check keeps the stored table and says so until the operator accepts.
 *
 * A table without a recorded cluster_id (a first start, or a table written
 * by an aigw without this check) takes the cluster it meets; its revision
 * is still checked against the meta record's, which every aigw kept.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "log.h"
#include "store.h"
#include "aigw/util.h"
#include "etcdident.h"

#define RELOG_MS 60000 /* the error line again at most once a minute */

/*
 * What the table holds: the identity record (written with every commit of
 * etcdsync, so it is the revision last applied, also after an accepted
 * lower one), or without one the meta record's revision.
 */
void
etcdident_load(struct etcdident *id, struct store *s)
{
    struct store_meta m = {0};
    memset(id, 0, sizeof(*id));
    if (store_read_begin(s) < 0)
        return;
    store_etcd_ident_get(s, &id->known);
    store_meta_get(s, &m);
    store_read_end(s);
    if (id->known.cluster_id == 0 && id->known.revision == 0)
        id->known.revision = m.etcd_revision; /* a table from before the identity record */
}

/* An answer from another state: keep the table, say so (once a minute at most). */
static int
etcdident_refuse(struct etcdident *id, const char *why, uint64_t cluster_id, int64_t revision,
                 const char *endpoint, unsigned long long version)
{
    int64_t now = now_real_ms();
    int changed = !id->mismatch || id->seen_cluster_id != cluster_id || strcmp(id->why, why) != 0;
    if (!id->mismatch)
        id->since_ms = now;
    id->mismatch = 1;
    id->seen_cluster_id = cluster_id;
    id->seen_revision = revision;
    snprintf(id->why, sizeof(id->why), "%s", why);
    if (changed || now - id->logged_ms >= RELOG_MS) {
        id->logged_ms = now;
        log_error("etcd identity mismatch: %s answers as cluster %016llx at revision %lld, "
                  "the table came from cluster %016llx at revision %lld (%s); serving the "
                  "stored configuration (version %llu), refusing Admin API writes; run "
                  "`aigwctl etcd accept` on each node to take etcd's state",
                  endpoint, (unsigned long long)cluster_id, (long long)revision,
                  (unsigned long long)id->known.cluster_id, (long long)id->known.revision, why,
                  version);
    }
    return -1;
}

/* A full read's header against the table's identity. */
int
etcdident_check_range(struct etcdident *id, uint64_t cluster_id, int64_t revision,
                      const char *endpoint, unsigned long long version)
{
    if (id->accept)
        return 0;
    if (id->known.cluster_id != 0 && cluster_id != id->known.cluster_id)
        return etcdident_refuse(id, "another cluster", cluster_id, revision, endpoint, version);
    if (revision < id->known.revision)
        return etcdident_refuse(id, "its revision is behind the table's", cluster_id, revision,
                                endpoint, version);
    return 0;
}

/* A watch answer's cluster_id (its revision may lag on a follower: not checked). */
int
etcdident_check_watch(struct etcdident *id, uint64_t cluster_id, int64_t revision,
                      const char *endpoint, unsigned long long version)
{
    if (id->accept || id->known.cluster_id == 0 || cluster_id == id->known.cluster_id)
        return 0;
    return etcdident_refuse(id, "another cluster", cluster_id, revision, endpoint, version);
}

/* Write the identity the table will come from with t. */
void
etcdident_record(const struct etcdident *id, struct store_txn *t, uint64_t cluster_id,
                 int64_t revision)
{
    struct store_etcd_ident n = {cluster_id, revision};
    if (!id->accept && revision < id->known.revision)
        n.revision = id->known.revision;
    store_txn_etcd_ident(t, &n);
}

/* The table now comes from (cluster_id, revision). */
void
etcdident_applied(struct etcdident *id, uint64_t cluster_id, int64_t revision)
{
    if (id->accept)
        log_warnx("etcd: the operator accepted etcd's state: cluster %016llx at revision %lld "
                  "replaces cluster %016llx at revision %lld",
                  (unsigned long long)cluster_id, (long long)revision,
                  (unsigned long long)id->known.cluster_id, (long long)id->known.revision);
    else if (id->mismatch)
        log_warnx("etcd: the identity matches again (cluster %016llx at revision %lld)",
                  (unsigned long long)cluster_id, (long long)revision);
    else if (id->known.cluster_id == 0 && cluster_id != 0)
        log_info("etcd: the table now records etcd cluster %016llx",
                 (unsigned long long)cluster_id);
    if (id->accept || revision > id->known.revision)
        id->known.revision = revision;
    id->known.cluster_id = cluster_id;
    id->accept = 0;
    id->mismatch = 0;
    id->why[0] = '\0';
}

/* Accept etcd's state at the next full read. */
int
etcdident_accept(struct etcdident *id)
{
    if (!id->mismatch)
        return -1;
    id->accept = 1;
    return 0;
}

/* Hex like etcd's own logs and etcdctl's tables; "" for none. */
static struct json_object *
cluster_json(uint64_t c)
{
    char buf[24];
    if (c == 0)
        return NULL;
    snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)c);
    return json_object_new_string(buf);
}

/* "identity": the stored and, on a mismatch, the seen cluster and revision. */
void
etcdident_status(const struct etcdident *id, struct json_object *etcd)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "state",
                           json_object_new_string(id->accept     ? "accepting"
                                                  : id->mismatch ? "mismatch"
                                                                 : "ok"));
    json_object_object_add(o, "stored_cluster_id", cluster_json(id->known.cluster_id));
    json_object_object_add(o, "stored_revision", json_object_new_int64(id->known.revision));
    json_object_object_add(o, "seen_cluster_id",
                           id->mismatch ? cluster_json(id->seen_cluster_id) : NULL);
    json_object_object_add(o, "seen_revision",
                           id->mismatch ? json_object_new_int64(id->seen_revision) : NULL);
    json_object_object_add(o, "reason", id->mismatch ? json_object_new_string(id->why) : NULL);
    json_object_object_add(o, "mismatch_since_ms",
                           id->mismatch ? json_object_new_int64(id->since_ms) : NULL);
    json_object_object_add(etcd, "identity", o);
}
