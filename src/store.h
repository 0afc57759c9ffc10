/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h: the LMDB configuration table. The master is the only writer; every
 * worker opens its own environment after exec and reads through one short read
 * transaction at a time (reset/renew), so a request never sees half a change.
 */
#ifndef AIGW_STORE_H
#define AIGW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "aigw/resource.h"

struct json_object;
struct aigw_errors;
struct store;
struct store_txn;

#define STORE_RDONLY 0x1

enum { STORE_OK = 0, STORE_ERROR = -1, STORE_NOTFOUND = -2, STORE_CONFLICT = -3 };

struct store_meta {
    uint64_t version;      /* bumped by every commit that changed something */
    int64_t etcd_revision; /* 0 in standalone mode */
    int64_t updated_ms;    /* Unix ms of the last change */
    char source[160];      /* "file:/etc/aigw/resources.yaml", "etcd", "admin" */
};

struct store *store_open(const char *dir, uint64_t map_size, unsigned max_readers, int flags,
                         struct aigw_errors *e);
void store_close(struct store *s);
/*
 * What became of data.mdb since it was opened. REPLACED: removed, or its
 * path names another file; the pages mapped are still valid (reads go on)
 * but a write would not be seen by the next start, so writes are refused.
 * SHORT: cut shorter than its header says; its pages are gone, so the
 * table is neither read nor written again. Both stay once found.
 */
enum store_file { STORE_FILE_OK = 0, STORE_FILE_REPLACED = 1, STORE_FILE_SHORT = 2 };
/* Compare data.mdb with the file opened (fstat, stat): an enum store_file. */
int store_check(struct store *s);
/* What store_check found, in words naming the file ("" while it is fine). */
const char *store_problem(const struct store *s);
/* Clear reader slots of dead processes; returns how many were cleared. */
int store_reader_check(struct store *s);

/* Who wrote a resource: a resources file reload replaces only what a file wrote. */
enum store_origin { STORE_ORIGIN_FILE = 1, STORE_ORIGIN_ADMIN = 2, STORE_ORIGIN_ETCD = 3 };

/* A stored document and what the store keeps beside it. */
struct store_doc {
    const char *id;
    const char *json; /* not NUL-terminated: len bytes */
    size_t len;
    int64_t revision; /* etcd mod_revision, or the config version that wrote it */
    int origin;
};

/* Writer side (master). */
/* At start: rebuild the records if they were written by another record format. */
int store_upgrade_records(struct store *s);
struct store_txn *store_write_begin(struct store *s);
/*
 * Origin and revision of the following puts (default: STORE_ORIGIN_FILE,
 * revision 0 = the version this commit will have).
 */
void store_txn_origin(struct store_txn *t, int origin, int64_t revision);
/* How many resources this transaction changed so far. */
int store_txn_changes(const struct store_txn *t);
/* The version this transaction will commit as, if it changes anything. */
uint64_t store_txn_next_version(struct store_txn *t);
/* Insert or replace one validated resource; STORE_CONFLICT when its name or key is taken. */
int store_put(struct store_txn *t, enum res_kind k, const char *id, struct json_object *doc,
              struct aigw_errors *e);
int store_del(struct store_txn *t, enum res_kind k, const char *id);
/* The id holding doc's name (or key) in the transaction, into owner; STORE_NOTFOUND: nobody. */
int store_index_owner(struct store_txn *t, enum res_kind k, struct json_object *doc, char *owner,
                      size_t len);
/*
 * Make the set of kind k written by the transaction's origin equal to items
 * (a JSON object id -> doc): only what differs is written; resources of
 * other origins stay unless items names them. Returns the number of
 * changes, or -1.
 */
int store_sync_kind(struct store_txn *t, enum res_kind k, struct json_object *items,
                    struct aigw_errors *e);
/*
 * The same with a revision per resource (revs: id -> integer; NULL: the
 * transaction's). With STORE_ORIGIN_ETCD the set is the whole truth:
 * resources of every origin not in items are deleted.
 */
int store_sync_kind_revs(struct store_txn *t, enum res_kind k, struct json_object *items,
                         struct json_object *revs, struct aigw_errors *e);
/*
 * The same when the set is items plus resources kept as stored (a reload's
 * unchanged entries, store_doc_same): present holds the id of every one,
 * items only those to write. What present lacks of the origin's is deleted.
 */
struct strset;
int store_sync_kind_kept(struct store_txn *t, enum res_kind k, struct json_object *items,
                         const struct strset *present, struct aigw_errors *e);
/*
 * 1 when writing json (len bytes) as the resource of kind k and id would
 * change nothing: the stored document has these bytes, the transaction's
 * origin and (if it has one) revision. Else 0.
 */
int store_doc_same(struct store_txn *t, enum res_kind k, const char *id, const char *json,
                   size_t len);
/* A resource's stored JSON (caller frees), or NULL. */
char *store_doc_get(struct store_txn *t, enum res_kind k, const char *id);
/* A resource's revision in the transaction; STORE_NOTFOUND when absent. */
int store_doc_revision(struct store_txn *t, enum res_kind k, const char *id, int64_t *rev);
/*
 * The etcd cluster and revision the table was synced to (etcd mode): a full
 * read from another cluster or an older revision is not applied unasked.
 */
struct store_etcd_ident {
    uint64_t cluster_id; /* 0: none recorded yet */
    int64_t revision;
};
/* Inside a read: the recorded identity, zeroes when there is none. */
int store_etcd_ident_get(struct store *s, struct store_etcd_ident *id);
/* Record id with this transaction (committed even when nothing else changed). */
void store_txn_etcd_ident(struct store_txn *t, const struct store_etcd_ident *id);
/*
 * A named blob beside the resources, as the master wrote it: an identity
 * provider's key set (jwks_blob_name). Written only when its bytes
 * change (then the commit bumps the version, which tells every worker).
 */
int store_blob_put(struct store_txn *t, const char *name, const void *data, size_t len);
/* Commit; bumps the version when anything changed. 0 or -1. */
int store_commit(struct store_txn *t, const char *source, int64_t etcd_revision);
void store_abort(struct store_txn *t);

/*
 * Make the resources of kind k that set names (id -> doc, or null: delete)
 * what set says, in this transaction, whoever wrote them: deletions first,
 * then the names of changed resources freed, so names may move between
 * them. origins (id -> enum store_origin, or NULL) gives a resource's
 * origin, else the transaction's. A rollback (and a declarative apply)
 * writes a whole table as one version this way. Changes, or -1 with every
 * conflict in e.
 */
int store_apply_set(struct store_txn *t, enum res_kind k, struct json_object *set,
                    struct json_object *origins, struct aigw_errors *e);

/*
 * The history of versions (master only; storehist.c): a record per
 * committed version, written in its transaction, the oldest dropped past
 * the bounds (history.max_versions, history.max_size).
 */
#define STORE_HISTORY_VERSIONS 1000
#define STORE_HISTORY_BYTES (64ULL << 20)
void store_history_bounds(struct store *s, uint64_t max_versions, uint64_t max_bytes);
/* The source t's history record has, instead of the commit's (an etcd batch: who asked). */
void store_txn_history_source(struct store_txn *t, const char *source);
/* Mark t as the rollback to version v (its history record says so). */
void store_txn_rollback_of(struct store_txn *t, uint64_t v);
/* Inside a read: the oldest version the history can give back, and the current one. */
int store_history_range(struct store *s, uint64_t *oldest, uint64_t *current);
/*
 * Inside a read: up to limit records, newest first, of versions below
 * `before` (0: from the newest): [{version, time_ms, source, file or
 * admin_key, etcd_revision, rollback_of, changes: [{kind, id, op}]}].
 */
struct json_object *store_history_list(struct store *s, uint64_t before, size_t limit,
                                       int *has_more);
/*
 * Inside a read: every resource changed after version v with its value at
 * v, "<kind>/<id>" -> {kind, id, value: {doc (JSON text), origin, revision}
 * or null (absent at v)}; NULL with the reason in e when the history does
 * not reach back to v (or v does not exist yet).
 */
struct json_object *store_history_state(struct store *s, uint64_t v, struct aigw_errors *e);
/*
 * Inside a read: the resources that differ between versions v1 and v2, in
 * kind/id order: [{kind, id, before, after}] (JSON text of the stored
 * documents, unmasked; null: absent). NULL with the reason in e.
 */
struct json_object *store_history_diff(struct store *s, uint64_t v1, uint64_t v2,
                                       struct aigw_errors *e);
/*
 * The table as it was at version v, as one new version (one write
 * transaction) committed with source: STORE_NOTFOUND when the history does
 * not hold v, STORE_CONFLICT (with the names in e) when it cannot be.
 * newver: the version now served; nchanges: resources changed (0: it was so).
 */
int store_rollback(struct store *s, uint64_t v, const char *source, uint64_t *newver, int *nchanges,
                   struct aigw_errors *e);
/*
 * The resources a rollback to v would change that the resources file owns
 * (origin file now, or at v): "<kind>/<id>" strings, sorted; an empty
 * array when none. NULL with the reason in e when the history does not
 * hold v.
 */
struct json_object *store_rollback_file_owned(struct store *s, uint64_t v, struct aigw_errors *e);

/* Reader side (workers): begin, look up, end; views die at store_read_end. */
int store_read_begin(struct store *s);
void store_read_end(struct store *s);
int store_meta_get(struct store *s, struct store_meta *m);
int store_model_by_name(struct store *s, const char *name, size_t len, struct model_view *v);
/* The model's binary record as stored (valid until store_read_end). */
int store_model_record(struct store *s, const char *name, size_t len, const void **rec,
                       size_t *reclen);
/* The credential named name as its record (valid until store_read_end). */
int store_cred_record(struct store *s, const char *name, const void **rec, size_t *len);
/* The credential named name (its record's view, valid until store_read_end). */
int store_cred_by_name(struct store *s, const char *name, size_t len, struct cred_view *v);
int store_key_by_hash(struct store *s, const uint8_t hash[32], struct key_view *v);
/* Call cb for every model in name order; stops when cb returns non-zero. */
int store_models_foreach(struct store *s, int (*cb)(const struct model_view *, void *), void *arg);
/* One stored document (inside a read); STORE_NOTFOUND when absent. */
int store_doc_read(struct store *s, enum res_kind k, const char *id, struct store_doc *d);
/* Every document of kind k in id order; stops when cb returns non-zero. */
int store_docs_foreach(struct store *s, enum res_kind k,
                       int (*cb)(const struct store_doc *, void *), void *arg);
/*
 * The same from the first id after `after` (NULL or "": from the first):
 * LMDB positions its cursor there (MDB_SET_RANGE), so a page costs what it
 * reads, not the size of the table, and an id deleted since it was handed
 * out as a cursor still positions at its successor.
 */
int store_docs_after(struct store *s, enum res_kind k, const char *after,
                     int (*cb)(const struct store_doc *, void *), void *arg);
/* A blob (inside a read; valid until store_read_end); STORE_NOTFOUND when absent. */
int store_blob_get(struct store *s, const char *name, const void **data, size_t *len);
/* How many documents of kind k the table holds (LMDB keeps the count: O(1)). */
int64_t store_docs_count(struct store *s, enum res_kind k);

#endif
