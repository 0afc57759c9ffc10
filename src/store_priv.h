/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_priv.h: what store.c and storehist.c (the history of versions)
 * share about the LMDB environment. Nothing else includes it.
 */
#ifndef AIGW_STORE_PRIV_H
#define AIGW_STORE_PRIV_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "store.h"

struct store {
    MDB_env *env;
    MDB_dbi docs[RES_NKINDS], idx[RES_NKINDS], meta;
    MDB_dbi hist;  /* the history of versions (master only: workers never open it) */
    MDB_txn *rtxn; /* the reader handle, reset between uses */
    int reading;
    int rdonly;
    /* the history's bounds (history.max_versions, history.max_size) */
    uint64_t hist_max_versions;
    uint64_t hist_max_bytes;
    /* the file as opened: store_check compares the path and the size to it */
    char path[PATH_MAX];
    int fd;
    dev_t dev;
    ino_t ino;
    unsigned psize;
    int file; /* enum store_file: latched once not STORE_FILE_OK */
    char problem[PATH_MAX + 160];
};

/* One resource a transaction changed, with its docs value before the transaction. */
struct hist_change {
    int kind;
    int deleted; /* the last operation on it was a delete */
    char *id;
    void *before; /* the docs value (header and JSON) before; NULL: it did not exist */
    size_t before_len;
};

struct store_txn {
    struct store *s;
    MDB_txn *txn;
    int changes;
    int origin;
    int64_t revision;
    int has_ident; /* ident is written at commit, even when nothing else changed */
    struct store_etcd_ident ident;
    /* what the history records of this transaction (storehist.c) */
    struct hist_change *hc;
    size_t nhc, hcap;
    struct json_object *hseen; /* "kind/id" -> index in hc */
    uint64_t rollback_of;
    char hsource[256]; /* the history's source, when not the commit's ("" none) */
};

/*
 * A docs_<kind> value: this header, then the JSON document. Byte-packed so
 * the layout doesn't depend on the compiler; read with memcpy.
 */
#define DOC_HDR 9 /* int64 revision, uint8 origin */

struct meta_rec {
    uint64_t version;
    int64_t etcd_revision;
    int64_t updated_ms;
    char source[160];
};

/* store.c */
int doc_decode(const MDB_val *v, struct store_doc *d);
void meta_read(struct store *s, MDB_txn *txn, struct meta_rec *m);

/* storehist.c */
/* Remember the value of docs_<k>/id before its first change in t (v NULL: absent). */
int hist_note(struct store_txn *t, int k, const char *id, const MDB_val *v, int deleted);
/* Write the record of version v (and drop the oldest past the bounds); 0 or an LMDB error. */
int hist_write(struct store_txn *t, uint64_t version, const struct meta_rec *m, const char *source);
/* Free what t noted. */
void hist_txn_free(struct store_txn *t);

#endif
