/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c: the LMDB configuration table.
 *
 * Databases: docs_<kind> (id -> JSON document as accepted), idx_<kind> (model
 * name or key hash -> binary record for the data plane) and meta (one record:
 * version, etcd revision, time and source of the last change). The master is
 * the only writer; a change touches only the entries of the resources it
 * changes. Workers keep one read transaction handle and reset/renew it around
 * each lookup so no reader pins old pages for long.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <lmdb.h>

#include "aigw/errors.h"
#include "log.h"
#include "store.h"
#include "strset.h"
#include "aigw/util.h"
#include "store_priv.h"

#define META_KEY "meta"
#define IDENT_KEY "etcd_ident" /* uint64 cluster_id, int64 revision, byte-packed */
#define IDENT_LEN 16

static const char *const docs_names[RES_NKINDS] = {"docs_models", "docs_api_keys",
                                                   "docs_credentials"};
static const char *const idx_names[RES_NKINDS] = {"idx_models", "idx_api_keys", "idx_credentials"};

/* Open (and in the master create) the named databases. */
static int
open_dbis(struct store *s, struct aigw_errors *e)
{
    MDB_txn *txn;
    unsigned flags = s->rdonly ? 0 : MDB_CREATE;
    int rc = mdb_txn_begin(s->env, NULL, s->rdonly ? MDB_RDONLY : 0, &txn);
    if (rc != 0) {
        errors_add(e, NULL, NULL, "LMDB: cannot begin transaction: %s", mdb_strerror(rc));
        return -1;
    }
    for (int k = 0; k < RES_NKINDS && rc == 0; k++) {
        rc = mdb_dbi_open(txn, docs_names[k], flags, &s->docs[k]);
        if (rc == 0)
            rc = mdb_dbi_open(txn, idx_names[k], flags, &s->idx[k]);
    }
    if (rc == 0)
        rc = mdb_dbi_open(txn, "meta", flags, &s->meta);
    /* the history only in the master: a worker never reads it */
    if (rc == 0 && !s->rdonly)
        rc = mdb_dbi_open(txn, "history", flags, &s->hist);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
    if (rc != 0) {
        errors_add(e, NULL, NULL, "LMDB: cannot open the configuration tables: %s%s",
                   mdb_strerror(rc), rc == MDB_NOTFOUND ? " (not created by the master yet)" : "");
        return -1;
    }
    return 0;
}

/*
 * How long data.mdb must be: up to the last page its newest meta page
 * names (LMDB writes a transaction's pages before the meta page that names
 * them). The meta pages themselves are read through the map only when the
 * file still holds both, so a file cut shorter than that is found without
 * touching a page past its end, which would be SIGBUS.
 */
static uint64_t
file_need(struct store *s, off_t size)
{
    uint64_t metas = 2ULL * s->psize;
    MDB_envinfo info;
    if ((uint64_t)size < metas || mdb_env_info(s->env, &info) != 0)
        return metas;
    return ((uint64_t)info.me_last_pgno + 1) * s->psize;
}

static int file_broken(struct store *s, int what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Remember the problem of the file; the first one found stays, but a cut file is worse. */
static int
file_broken(struct store *s, int what, const char *fmt, ...)
{
    va_list ap;
    if (s->file == STORE_FILE_SHORT || s->file == what)
        return s->file;
    va_start(ap, fmt);
    vsnprintf(s->problem, sizeof(s->problem), fmt, ap);
    va_end(ap);
    s->file = what;
    return what;
}

/*
 * Which file was opened, and is it as long as its own header says? Reading
 * the records of a file cut short would touch pages past its end (SIGBUS):
 * such a file is refused before any record is read.
 */
static int
file_open_check(struct store *s, const char *dir, struct aigw_errors *e)
{
    struct stat st;
    MDB_stat ms;
    snprintf(s->path, sizeof(s->path), "%s/data.mdb", dir);
    /* mdb_env_open read both meta pages: reading them through the map is safe */
    if (mdb_env_get_fd(s->env, &s->fd) != 0 || fstat(s->fd, &st) < 0 ||
        mdb_env_stat(s->env, &ms) != 0) {
        errors_add(e, NULL, NULL, "LMDB: cannot stat %s: %s", s->path, strerror(errno));
        return -1;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->psize = ms.ms_psize;
    uint64_t need = file_need(s, st.st_size);
    if ((uint64_t)st.st_size < need) {
        errors_add(e, NULL, NULL,
                   "LMDB: %s is %lld bytes but its header says the table takes %llu: the file "
                   "was cut short (truncated) and its records are gone; move it away and start "
                   "again to rebuild the table from the resources file or etcd",
                   s->path, (long long)st.st_size, (unsigned long long)need);
        return -1;
    }
    return 0;
}

/* The words for an LMDB file mdb_env_open refused, with its size when it is not a table. */
static void
open_failed(const char *dir, int rc, struct aigw_errors *e)
{
    struct stat st;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (rc == MDB_INVALID && stat(path, &st) == 0)
        errors_add(e, NULL, NULL,
                   "LMDB: %s (%lld bytes) is not an LMDB file, or was cut short (truncated): "
                   "move it away and start again to rebuild the table from the resources file "
                   "or etcd",
                   path, (long long)st.st_size);
    else
        errors_add(e, NULL, NULL, "LMDB: cannot open %s: %s", dir, mdb_strerror(rc));
}

int
store_check(struct store *s)
{
    struct stat fst, pst;
    if (s->file == STORE_FILE_SHORT)
        return s->file; /* its pages are gone for good, whatever the size is now */
    if (fstat(s->fd, &fst) < 0)
        return s->file;
    uint64_t need = file_need(s, fst.st_size);
    if ((uint64_t)fst.st_size < need)
        return file_broken(s, STORE_FILE_SHORT,
                           "%s was cut to %lld bytes while its header says the table takes "
                           "%llu: its records are gone",
                           s->path, (long long)fst.st_size, (unsigned long long)need);
    /* the path first: a file renamed onto it also leaves ours without a link */
    if (stat(s->path, &pst) < 0) {
        int err = errno;
        if (err == ENOENT)
            return file_broken(s, STORE_FILE_REPLACED, "%s was removed", s->path);
        return file_broken(s, STORE_FILE_REPLACED, "%s cannot be found: %s", s->path,
                           strerror(err));
    }
    if (pst.st_dev != s->dev || pst.st_ino != s->ino)
        return file_broken(s, STORE_FILE_REPLACED, "%s was replaced by another file", s->path);
    if (fst.st_nlink == 0)
        return file_broken(s, STORE_FILE_REPLACED, "%s was removed", s->path);
    return s->file;
}

const char *
store_problem(const struct store *s)
{
    return s->problem;
}

struct store *
store_open(const char *dir, uint64_t map_size, unsigned max_readers, int flags,
           struct aigw_errors *e)
{
    struct store *s = calloc(1, sizeof(*s));
    int rc;
    if (s == NULL)
        return NULL;
    s->rdonly = (flags & STORE_RDONLY) != 0;
    s->hist_max_versions = STORE_HISTORY_VERSIONS;
    s->hist_max_bytes = STORE_HISTORY_BYTES;
    if (!s->rdonly && mkdir(dir, 0700) < 0 && errno != EEXIST) {
        errors_add(e, NULL, NULL, "cannot create data_dir %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((rc = mdb_env_create(&s->env)) != 0 || (rc = mdb_env_set_maxdbs(s->env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) != 0 ||
        (rc = mdb_env_set_maxreaders(s->env, max_readers)) != 0) {
        errors_add(e, NULL, NULL, "LMDB: %s", mdb_strerror(rc));
        goto fail;
    }
    /* MDB_NOTLS: our reader handle is reset/renewed, not tied to thread-local slots. */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS | (s->rdonly ? MDB_RDONLY : 0), 0600);
    if (rc != 0) {
        open_failed(dir, rc, e);
        goto fail;
    }
    if (file_open_check(s, dir, e) < 0 || open_dbis(s, e) < 0)
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn)) != 0) {
        errors_add(e, NULL, NULL, "LMDB: cannot begin a read transaction: %s", mdb_strerror(rc));
        goto fail;
    }
    mdb_txn_reset(s->rtxn);
    return s;
fail:
    store_close(s);
    return NULL;
}

void
store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->rtxn != NULL)
        mdb_txn_abort(s->rtxn);
    if (s->env != NULL)
        mdb_env_close(s->env);
    free(s);
}

int
store_reader_check(struct store *s)
{
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    return dead;
}

/* Split a docs value into its header and JSON; -1 when it is too short. */
int
doc_decode(const MDB_val *v, struct store_doc *d)
{
    if (v->mv_size < DOC_HDR)
        return -1;
    memcpy(&d->revision, v->mv_data, 8);
    d->origin = ((const unsigned char *)v->mv_data)[8];
    d->json = (const char *)v->mv_data + DOC_HDR;
    d->len = v->mv_size - DOC_HDR;
    return 0;
}

/* ---- reader side ---- */

int
store_read_begin(struct store *s)
{
    /*
     * The master reads seldom (Admin API, status, metrics): it checks the
     * file each time. A worker reads per request and checks on a timer
     * (worker.c), which costs no syscall per request.
     */
    if (!s->rdonly)
        store_check(s);
    if (s->file == STORE_FILE_SHORT)
        return -1; /* its pages are gone: reading one would be SIGBUS */
    int rc = mdb_txn_renew(s->rtxn);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size, then try once more. */
        mdb_env_set_mapsize(s->env, 0);
        rc = mdb_txn_renew(s->rtxn);
    }
    if (rc != 0) {
        log_warnx("LMDB: cannot renew the read transaction: %s", mdb_strerror(rc));
        return -1;
    }
    s->reading = 1;
    return 0;
}

void
store_read_end(struct store *s)
{
    if (s->reading)
        mdb_txn_reset(s->rtxn);
    s->reading = 0;
}

/* Read the meta record in txn; zeroes when there is none yet. */
void
meta_read(struct store *s, MDB_txn *txn, struct meta_rec *m)
{
    MDB_val k = {strlen(META_KEY), (void *)META_KEY}, v;
    memset(m, 0, sizeof(*m));
    if (mdb_get(txn, s->meta, &k, &v) == 0 && v.mv_size == sizeof(*m))
        memcpy(m, v.mv_data, sizeof(*m));
    m->source[sizeof(m->source) - 1] = '\0';
}

int
store_meta_get(struct store *s, struct store_meta *m)
{
    struct meta_rec r;
    meta_read(s, s->rtxn, &r);
    m->version = r.version;
    m->etcd_revision = r.etcd_revision;
    m->updated_ms = r.updated_ms;
    memcpy(m->source, r.source, sizeof(m->source));
    return 0;
}

int
store_model_by_name(struct store *s, const char *name, size_t len, struct model_view *v)
{
    MDB_val k = {len, (void *)name}, d;
    if (len == 0 || len > RES_NAME_MAX)
        return STORE_NOTFOUND;
    int rc = mdb_get(s->rtxn, s->idx[RES_MODEL], &k, &d);
    if (rc == MDB_NOTFOUND)
        return STORE_NOTFOUND;
    if (rc != 0 || model_view_decode(d.mv_data, d.mv_size, v) < 0)
        return STORE_ERROR;
    return STORE_OK;
}

/* The record that kind k's index holds under name, in the read transaction. */
static int
named_record(struct store *s, enum res_kind k, const char *name, size_t len, MDB_val *d)
{
    MDB_val key = {len, (void *)name};
    if (len == 0 || len > RES_NAME_MAX)
        return STORE_NOTFOUND;
    int rc = mdb_get(s->rtxn, s->idx[k], &key, d);
    return rc == MDB_NOTFOUND ? STORE_NOTFOUND : rc != 0 ? STORE_ERROR : STORE_OK;
}

int
store_model_record(struct store *s, const char *name, size_t len, const void **rec, size_t *reclen)
{
    MDB_val d;
    int rc = named_record(s, RES_MODEL, name, len, &d);
    if (rc == STORE_OK) {
        *rec = d.mv_data;
        *reclen = d.mv_size;
    }
    return rc;
}

int
store_cred_record(struct store *s, const char *name, const void **rec, size_t *len)
{
    MDB_val d;
    int rc = named_record(s, RES_CREDENTIAL, name, strlen(name), &d);
    if (rc == STORE_OK) {
        *rec = d.mv_data;
        *len = d.mv_size;
    }
    return rc;
}

int
store_cred_by_name(struct store *s, const char *name, size_t len, struct cred_view *v)
{
    MDB_val d;
    int rc = named_record(s, RES_CREDENTIAL, name, len, &d);
    if (rc == STORE_OK && cred_view_decode(d.mv_data, d.mv_size, v) < 0)
        return STORE_ERROR;
    return rc;
}

int
store_key_by_hash(struct store *s, const uint8_t hash[32], struct key_view *v)
{
    MDB_val k = {32, (void *)hash}, d;
    int rc = mdb_get(s->rtxn, s->idx[RES_API_KEY], &k, &d);
    if (rc == MDB_NOTFOUND)
        return STORE_NOTFOUND;
    if (rc != 0 || key_view_decode(d.mv_data, d.mv_size, v) < 0)
        return STORE_ERROR;
    return STORE_OK;
}

int
store_models_foreach(struct store *s, int (*cb)(const struct model_view *, void *), void *arg)
{
    MDB_cursor *c;
    MDB_val k, d;
    if (mdb_cursor_open(s->rtxn, s->idx[RES_MODEL], &c) != 0)
        return STORE_ERROR;
    for (int rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        struct model_view v;
        if (model_view_decode(d.mv_data, d.mv_size, &v) == 0 && cb(&v, arg) != 0)
            break;
    }
    mdb_cursor_close(c);
    return STORE_OK;
}

int
store_doc_read(struct store *s, enum res_kind k, const char *id, struct store_doc *d)
{
    MDB_val key = {strlen(id), (void *)id}, v;
    int rc = mdb_get(s->rtxn, s->docs[k], &key, &v);
    if (rc == MDB_NOTFOUND)
        return STORE_NOTFOUND;
    if (rc != 0 || doc_decode(&v, d) < 0)
        return STORE_ERROR;
    d->id = id;
    return STORE_OK;
}

int
store_docs_foreach(struct store *s, enum res_kind k, int (*cb)(const struct store_doc *, void *),
                   void *arg)
{
    return store_docs_after(s, k, NULL, cb, arg);
}

/* Where a walk after `after` starts: MDB_SET_RANGE finds the first id >= after; skip after. */
static int
docs_first_after(MDB_cursor *c, const char *after, MDB_val *key, MDB_val *v)
{
    size_t n = after != NULL ? strlen(after) : 0;
    if (n == 0)
        return mdb_cursor_get(c, key, v, MDB_FIRST);
    key->mv_size = n;
    key->mv_data = (void *)after;
    int rc = mdb_cursor_get(c, key, v, MDB_SET_RANGE);
    if (rc == 0 && key->mv_size == n && memcmp(key->mv_data, after, n) == 0)
        rc = mdb_cursor_get(c, key, v, MDB_NEXT);
    return rc;
}

/* Every document after an id, in id order (see store.h): a page reads only what it shows. */
int
store_docs_after(struct store *s, enum res_kind k, const char *after,
                 int (*cb)(const struct store_doc *, void *), void *arg)
{
    MDB_cursor *c;
    MDB_val key, v;
    char id[RES_ID_MAX + 1];
    if (mdb_cursor_open(s->rtxn, s->docs[k], &c) != 0)
        return STORE_ERROR;
    for (int rc = docs_first_after(c, after, &key, &v); rc == 0;
         rc = mdb_cursor_get(c, &key, &v, MDB_NEXT)) {
        struct store_doc d;
        if (key.mv_size > RES_ID_MAX || doc_decode(&v, &d) < 0)
            continue;
        memcpy(id, key.mv_data, key.mv_size);
        id[key.mv_size] = '\0';
        d.id = id;
        if (cb(&d, arg) != 0)
            break;
    }
    mdb_cursor_close(c);
    return STORE_OK;
}

/* The number of entries LMDB keeps in the database's header: no walk. */
int64_t
store_docs_count(struct store *s, enum res_kind k)
{
    MDB_stat st;
    if (mdb_stat(s->rtxn, s->docs[k], &st) != 0)
        return 0;
    return (int64_t)st.ms_entries;
}

/* ---- writer side (master only) ---- */

struct store_txn *
store_write_begin(struct store *s)
{
    /* A change to a removed, replaced or cut file would not be there at the next start. */
    if (store_check(s) != STORE_FILE_OK) {
        log_warnx("LMDB: not writing: %s; restart aigw", s->problem);
        return NULL;
    }
    struct store_txn *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    int rc = mdb_txn_begin(s->env, NULL, 0, &t->txn);
    if (rc != 0) {
        log_warnx("LMDB: cannot begin a write transaction: %s", mdb_strerror(rc));
        free(t);
        return NULL;
    }
    t->s = s;
    t->origin = STORE_ORIGIN_FILE;
    return t;
}

int
store_txn_changes(const struct store_txn *t)
{
    return t->changes;
}

void
store_txn_origin(struct store_txn *t, int origin, int64_t revision)
{
    t->origin = origin;
    t->revision = revision;
}

uint64_t
store_txn_next_version(struct store_txn *t)
{
    struct meta_rec m;
    meta_read(t->s, t->txn, &m);
    return m.version + 1;
}

/* Log the LMDB failure of a write in words an operator can act on. */
static int
write_failed(int rc, const char *what, struct aigw_errors *e)
{
    if (rc == MDB_MAP_FULL)
        errors_add(e, NULL, NULL,
                   "LMDB map is full while writing %s: raise lmdb.map_size in aigw.yaml", what);
    else
        errors_add(e, NULL, NULL, "LMDB: cannot write %s: %s", what, mdb_strerror(rc));
    return STORE_ERROR;
}

/* The index key of a stored document; -1 when it has none. */
static int
stored_index_key(enum res_kind k, const char *json, size_t len, char *out, size_t outlen,
                 size_t *klen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *doc = json_tokener_parse_ex(tok, json, (int)len);
    json_tokener_free(tok);
    if (doc == NULL)
        return -1;
    int rv = res_index_key(k, doc, out, outlen, klen);
    json_object_put(doc);
    return rv;
}

/* The id a record in idx_<kind> belongs to (its first string). */
static int
index_owner(enum res_kind k, MDB_val *rec, const char **id)
{
    if (k == RES_MODEL) {
        struct model_view v;
        if (model_view_decode(rec->mv_data, rec->mv_size, &v) < 0)
            return -1;
        *id = v.id;
    } else if (k == RES_CREDENTIAL) {
        struct cred_view v;
        if (cred_view_decode(rec->mv_data, rec->mv_size, &v) < 0)
            return -1;
        *id = v.id;
    } else {
        struct key_view v;
        if (key_view_decode(rec->mv_data, rec->mv_size, &v) < 0)
            return -1;
        *id = v.id;
    }
    return 0;
}

/*
 * Does the index entry doc would have belong to id already? Then the stored
 * document had the same index key (each id owns one entry: the one of its
 * document), and nothing needs the stored JSON parsed to find its old key.
 */
static int
index_kept(struct store_txn *t, enum res_kind k, const char *id, struct json_object *doc)
{
    char idx[512];
    size_t ilen;
    MDB_val ik, cur;
    const char *owner;
    if (res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0)
        return 0;
    ik.mv_size = ilen;
    ik.mv_data = idx;
    return mdb_get(t->txn, t->s->idx[k], &ik, &cur) == 0 && index_owner(k, &cur, &owner) == 0 &&
           strcmp(owner, id) == 0;
}

/* Delete the index entry of a stored document, if it still belongs to id. */
static void
drop_index(struct store_txn *t, enum res_kind k, const char *id, const MDB_val *olddoc)
{
    char idx[512];
    size_t ilen;
    MDB_val cur;
    const char *owner;
    struct store_doc d;
    if (doc_decode(olddoc, &d) < 0 ||
        stored_index_key(k, d.json, d.len, idx, sizeof(idx), &ilen) < 0)
        return;
    MDB_val ik = {ilen, idx};
    if (mdb_get(t->txn, t->s->idx[k], &ik, &cur) == 0 && index_owner(k, &cur, &owner) == 0 &&
        strcmp(owner, id) == 0)
        mdb_del(t->txn, t->s->idx[k], &ik, NULL);
}

/* Where a Model's compile finds its credentials: idx_credentials inside one transaction. */
struct cred_src {
    MDB_txn *txn;
    MDB_dbi dbi;
};

/* res_cred_fn: the credential record named name, as this transaction sees it. */
static int
cred_lookup(const char *name, const void **rec, size_t *len, void *arg)
{
    const struct cred_src *c = arg;
    MDB_val k = {strlen(name), (void *)name}, d;
    if (k.mv_size == 0 || mdb_get(c->txn, c->dbi, &k, &d) != 0)
        return -1;
    *rec = d.mv_data;
    *len = d.mv_size;
    return 0;
}

/* Compile doc of kind k; a Model's credentials come from the transaction's table. */
static int
compile_in(MDB_txn *txn, struct store *s, enum res_kind k, const char *id, struct json_object *doc,
           void **rec, size_t *len)
{
    struct cred_src c = {txn, s->idx[RES_CREDENTIAL]};
    return res_compile_with(k, id, doc, cred_lookup, &c, rec, len);
}

/* res_model_credentials' callback: does the model name the credential we look for? */
struct names_cred {
    const char *name;
    int found;
};

static void
names_cred_cb(const char *name, void *arg)
{
    struct names_cred *n = arg;
    if (strcmp(name, n->name) == 0)
        n->found = 1;
}

/*
 * Compile again every Model whose targets name the credential `name`, so
 * that they carry its values (or are marked as missing it) in the same
 * transaction that changed it: a rotation is one configuration version,
 * and a request never sees a credential half rotated. The walk reads each
 * Model's document once (substring tests for "credential" and the quoted
 * name first spare the parse of those that cannot name it); a change of a
 * credential is rare, a request is not, so the cost is on the writer.
 */
static int
recompile_users(struct store_txn *t, const char *name, struct aigw_errors *e)
{
    struct store *s = t->s;
    MDB_cursor *c;
    MDB_val key, val;
    int rc, bad = 0, nusers = 0;
    /*
     * A name is printable ASCII without quotes or backslashes (resource.c):
     * it is in a document's JSON as it is, between quotes.
     */
    char quoted[RES_NAME_MAX + 3];
    int qlen = snprintf(quoted, sizeof(quoted), "\"%s\"", name);
    if (qlen < 0 || (size_t)qlen >= sizeof(quoted))
        return 0;
    if (mdb_cursor_open(t->txn, s->docs[RES_MODEL], &c) != 0)
        return -1;
    for (rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        char id[RES_ID_MAX + 1], ik[512];
        size_t ilen, reclen;
        void *rec;
        struct store_doc d;
        MDB_val cur;
        const char *owner;
        if (key.mv_size > RES_ID_MAX || doc_decode(&val, &d) < 0 ||
            memmem(d.json, d.len, "\"credential\"", 12) == NULL ||
            memmem(d.json, d.len, quoted, (size_t)qlen) == NULL)
            continue;
        memcpy(id, key.mv_data, key.mv_size);
        id[key.mv_size] = '\0';
        struct json_tokener *tok = json_tokener_new();
        struct json_object *doc = json_tokener_parse_ex(tok, d.json, (int)d.len);
        json_tokener_free(tok);
        struct names_cred n = {name, 0};
        if (doc != NULL)
            res_model_credentials(doc, names_cred_cb, &n);
        if (!n.found || res_index_key(RES_MODEL, doc, ik, sizeof(ik), &ilen) < 0) {
            json_object_put(doc);
            continue;
        }
        MDB_val iv = {ilen, ik};
        /* only the record this model owns (a name held by another is not ours to write) */
        if (mdb_get(t->txn, s->idx[RES_MODEL], &iv, &cur) != 0 ||
            index_owner(RES_MODEL, &cur, &owner) != 0 || strcmp(owner, id) != 0 ||
            compile_in(t->txn, s, RES_MODEL, id, doc, &rec, &reclen) < 0) {
            json_object_put(doc);
            continue;
        }
        json_object_put(doc);
        MDB_val rv = {reclen, rec};
        int prc = mdb_put(t->txn, s->idx[RES_MODEL], &iv, &rv, 0);
        explicit_bzero(rec, reclen);
        free(rec);
        nusers++;
        if (prc != 0) {
            if (e != NULL)
                write_failed(prc, id, e);
            else
                log_warnx("LMDB: cannot write model %s: %s", id, mdb_strerror(prc));
            bad = 1;
            break;
        }
    }
    mdb_cursor_close(c);
    return bad ? -1 : nusers;
}

/* The name of a stored credential document (into out); "" when it has none. */
static void
stored_cred_name(const MDB_val *olddoc, char *out, size_t len)
{
    struct store_doc d;
    size_t n;
    out[0] = '\0';
    if (doc_decode(olddoc, &d) == 0 &&
        stored_index_key(RES_CREDENTIAL, d.json, d.len, out, len - 1, &n) == 0)
        out[n] = '\0';
}

/* Would writing json (in t's origin and revision) leave the stored document od as it is? */
static int
doc_unchanged(const struct store_txn *t, const struct store_doc *od, const char *json, size_t len)
{
    return od->len == len && memcmp(od->json, json, len) == 0 && od->origin == t->origin &&
           (t->revision == 0 || od->revision == t->revision);
}

int
store_put(struct store_txn *t, enum res_kind k, const char *id, struct json_object *doc,
          struct aigw_errors *e)
{
    struct store *s = t->s;
    const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    MDB_val dk = {strlen(id), (void *)id}, old, ik, cur;
    char idx[512], oldidx[512];
    size_t ilen, oldlen;
    void *rec;
    size_t reclen;
    int rc;

    struct store_doc od = {0};
    rc = mdb_get(t->txn, s->docs[k], &dk, &old);
    if (rc == 0 && doc_decode(&old, &od) < 0)
        rc = MDB_NOTFOUND; /* unreadable: overwrite */
    /* unchanged: write nothing, bump nothing (and compile nothing: a reload's common case) */
    if (rc == 0 && doc_unchanged(t, &od, json, strlen(json)))
        return STORE_OK;
    if (res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0 ||
        compile_in(t->txn, s, k, id, doc, &rec, &reclen) < 0) {
        errors_add(e, NULL, id, "cannot compile the resource");
        return STORE_ERROR;
    }
    /* The name (or key) must not belong to another resource. */
    ik.mv_size = ilen;
    ik.mv_data = idx;
    int kept = 0; /* the entry is ours already: the stored doc had this index key */
    if (mdb_get(t->txn, s->idx[k], &ik, &cur) == 0) {
        const char *owner;
        if (index_owner(k, &cur, &owner) == 0 && strcmp(owner, id) == 0) {
            kept = 1;
        } else if (index_owner(k, &cur, &owner) == 0) {
            errors_add(e, NULL, id,
                       k == RES_MODEL ? "model name already used by %s" : "key already used by %s",
                       owner);
            free(rec);
            return STORE_CONFLICT;
        }
    }
    /*
     * The history keeps the value before, copied now: the writes below may
     * move the page it is on.
     */
    if (hist_note(t, k, id, rc == 0 ? &old : NULL, 0) < 0) {
        free(rec);
        errors_add(e, NULL, id, "out of memory");
        return STORE_ERROR;
    }
    /* A renamed model (or a rotated key) leaves its old index entry behind: drop it. */
    char oldcred[RES_NAME_MAX + 1] = "";
    if (rc == 0 && !kept &&
        stored_index_key(k, od.json, od.len, oldidx, sizeof(oldidx), &oldlen) == 0 &&
        (oldlen != ilen || memcmp(oldidx, idx, ilen) != 0)) {
        if (k == RES_CREDENTIAL)
            stored_cred_name(&old, oldcred, sizeof(oldcred));
        drop_index(t, k, id, &old);
    }
    size_t jlen = strlen(json);
    MDB_val dv = {DOC_HDR + jlen, NULL}, iv = {reclen, rec};
    /* MDB_RESERVE: LMDB gives the space, we write header and JSON straight into it. */
    if ((rc = mdb_put(t->txn, s->docs[k], &dk, &dv, MDB_RESERVE)) != 0) {
        free(rec);
        return write_failed(rc, id, e);
    }
    int64_t rev = t->revision ? t->revision : (int64_t)store_txn_next_version(t);
    unsigned char origin = (unsigned char)t->origin;
    memcpy(dv.mv_data, &rev, 8);
    memcpy((char *)dv.mv_data + 8, &origin, 1);
    memcpy((char *)dv.mv_data + DOC_HDR, json, jlen);
    if ((rc = mdb_put(t->txn, s->idx[k], &ik, &iv, 0)) != 0) {
        explicit_bzero(rec, reclen);
        free(rec);
        return write_failed(rc, id, e);
    }
    explicit_bzero(rec, reclen);
    free(rec);
    t->changes++;
    if (k == RES_CREDENTIAL) {
        char name[RES_NAME_MAX + 1];
        snprintf(name, sizeof(name), "%.*s", (int)ilen, idx);
        /* the models of its new name take it, those of an old name lose it */
        if (recompile_users(t, name, e) < 0 || (oldcred[0] && recompile_users(t, oldcred, e) < 0))
            return STORE_ERROR;
    }
    return STORE_OK;
}

int
store_del(struct store_txn *t, enum res_kind k, const char *id)
{
    struct store *s = t->s;
    MDB_val dk = {strlen(id), (void *)id}, old;

    char name[RES_NAME_MAX + 1] = "";
    if (mdb_get(t->txn, s->docs[k], &dk, &old) != 0)
        return STORE_NOTFOUND;
    if (k == RES_CREDENTIAL)
        stored_cred_name(&old, name, sizeof(name));
    if (hist_note(t, k, id, &old, 1) < 0)
        return STORE_ERROR;
    drop_index(t, k, id, &old);
    if (mdb_del(t->txn, s->docs[k], &dk, NULL) != 0)
        return STORE_ERROR;
    t->changes++;
    /*
     * Its models stay, marked as missing it: they answer credential_missing.
     * The Admin API refuses such a delete; one that came anyway (etcd written
     * behind aigw's back, a resources file) is said here.
     */
    int users = name[0] ? recompile_users(t, name, NULL) : 0;
    if (users < 0)
        return STORE_ERROR;
    if (users > 0)
        log_warnx("credential %s (%s) deleted while %d model%s name it: they answer "
                  "credential_missing (GET /admin/v1/conflicts lists them)",
                  id, name, users, users == 1 ? "" : "s");
    return STORE_OK;
}

int
store_doc_same(struct store_txn *t, enum res_kind k, const char *id, const char *json, size_t len)
{
    MDB_val dk = {strlen(id), (void *)id}, v;
    struct store_doc d;
    return mdb_get(t->txn, t->s->docs[k], &dk, &v) == 0 && doc_decode(&v, &d) == 0 &&
           doc_unchanged(t, &d, json, len);
}

char *
store_doc_get(struct store_txn *t, enum res_kind k, const char *id)
{
    MDB_val dk = {strlen(id), (void *)id}, v;
    struct store_doc d;
    if (mdb_get(t->txn, t->s->docs[k], &dk, &v) != 0 || doc_decode(&v, &d) < 0)
        return NULL;
    return strndup(d.json, d.len);
}

int
store_index_owner(struct store_txn *t, enum res_kind k, struct json_object *doc, char *owner,
                  size_t len)
{
    char idx[512];
    size_t ilen;
    MDB_val ik, cur;
    const char *id;
    if (res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0)
        return STORE_ERROR;
    ik.mv_size = ilen;
    ik.mv_data = idx;
    if (mdb_get(t->txn, t->s->idx[k], &ik, &cur) != 0 || index_owner(k, &cur, &id) != 0)
        return STORE_NOTFOUND;
    snprintf(owner, len, "%s", id);
    return STORE_OK;
}

int
store_doc_revision(struct store_txn *t, enum res_kind k, const char *id, int64_t *rev)
{
    MDB_val dk = {strlen(id), (void *)id}, v;
    struct store_doc d;
    if (mdb_get(t->txn, t->s->docs[k], &dk, &v) != 0 || doc_decode(&v, &d) < 0)
        return STORE_NOTFOUND;
    *rev = d.revision;
    return STORE_OK;
}

static int sync_kind(struct store_txn *t, enum res_kind k, struct json_object *items,
                     struct json_object *revs, const struct strset *present, struct aigw_errors *e);

int
store_sync_kind(struct store_txn *t, enum res_kind k, struct json_object *items,
                struct aigw_errors *e)
{
    return store_sync_kind_revs(t, k, items, NULL, e);
}

int
store_sync_kind_revs(struct store_txn *t, enum res_kind k, struct json_object *items,
                     struct json_object *revs, struct aigw_errors *e)
{
    return sync_kind(t, k, items, revs, NULL, e);
}

int
store_sync_kind_kept(struct store_txn *t, enum res_kind k, struct json_object *items,
                     const struct strset *present, struct aigw_errors *e)
{
    return sync_kind(t, k, items, NULL, present, e);
}

/* store_sync_kind_revs and _kept: present (or NULL: items) tells what stays. */
static int
sync_kind(struct store_txn *t, enum res_kind k, struct json_object *items, struct json_object *revs,
          const struct strset *present, struct aigw_errors *e)
{
    int before = t->changes, bad = 0;
    MDB_cursor *c;
    MDB_val key, val;
    struct json_object *gone = json_object_new_array();

    /* Deletions first, so a name moving from one id to another is not a conflict. */
    if (mdb_cursor_open(t->txn, t->s->docs[k], &c) != 0) {
        json_object_put(gone);
        return -1;
    }
    for (int rc = mdb_cursor_get(c, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
        char id[RES_ID_MAX + 1];
        if (key.mv_size > RES_ID_MAX)
            continue;
        memcpy(id, key.mv_data, key.mv_size);
        id[key.mv_size] = '\0';
        struct store_doc d;
        if (t->origin != STORE_ORIGIN_ETCD && doc_decode(&val, &d) == 0 && d.origin != t->origin)
            continue; /* not ours to remove */
        if (present != NULL ? !strset_has(present, id, key.mv_size)
                            : !json_object_object_get_ex(items, id, NULL))
            json_object_array_add(gone, json_object_new_string(id));
    }
    mdb_cursor_close(c);
    for (size_t i = 0; i < json_object_array_length(gone); i++)
        store_del(t, k, json_object_get_string(json_object_array_get_idx(gone, i)));
    json_object_put(gone);

    /*
     * Then free the names and keys of every changed resource, so that two
     * resources may swap names (or keys) in one change. The documents whose
     * stored bytes (and origin) are the same are noted, with their stored
     * revision: nothing below writes them, so the puts need not serialize
     * and compare them again (a reload of a large file changes few).
     */
    size_t n = (size_t)json_object_object_length(items), i = 0;
    int64_t *same = calloc(n ? n : 1, sizeof(*same)); /* the stored revision + 1, or 0 */
    if (same == NULL)
        return -1;
    json_object_object_foreach(items, cid, cdoc)
    {
        MDB_val dk = {strlen(cid), (void *)cid}, old;
        struct store_doc d;
        size_t jlen;
        const char *json = json_object_to_json_string_length(
            cdoc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &jlen);
        if (mdb_get(t->txn, t->s->docs[k], &dk, &old) == 0 && doc_decode(&old, &d) == 0) {
            if (d.len != jlen || memcmp(d.json, json, d.len) != 0) {
                /* a name or key that stays needs no freeing (and no parse of the old JSON) */
                if (!index_kept(t, k, cid, cdoc))
                    drop_index(t, k, cid, &old);
            } else if (d.origin == t->origin && d.revision >= 0)
                same[i] = d.revision + 1;
        }
        i++;
    }
    int64_t txnrev = t->revision;
    i = 0;
    json_object_object_foreach(items, id, doc)
    {
        struct json_object *r;
        if (revs != NULL && json_object_object_get_ex(revs, id, &r))
            t->revision = json_object_get_int64(r);
        /* unchanged: what store_put would find, without its work */
        if (!(same[i] && (t->revision == 0 || same[i] - 1 == t->revision)) &&
            store_put(t, k, id, doc, e) != STORE_OK)
            bad = 1;
        t->revision = txnrev;
        i++;
    }
    free(same);
    return bad ? -1 : t->changes - before;
}

int
store_apply_set(struct store_txn *t, enum res_kind k, struct json_object *set,
                struct json_object *origins, struct aigw_errors *e)
{
    int before = t->changes, bad = 0, origin = t->origin;
    /* deletions first, then the names of every changed resource freed (as store_sync_kind) */
    json_object_object_foreach(set, did, ddoc)
    {
        if (ddoc == NULL)
            store_del(t, k, did); /* absent already: nothing to do */
    }
    json_object_object_foreach(set, cid, cdoc)
    {
        MDB_val dk = {strlen(cid), (void *)cid}, old;
        struct store_doc d;
        if (cdoc == NULL)
            continue;
        const char *json = json_object_to_json_string_ext(cdoc, JSON_C_TO_STRING_PLAIN |
                                                                    JSON_C_TO_STRING_NOSLASHESCAPE);
        if (mdb_get(t->txn, t->s->docs[k], &dk, &old) == 0 && doc_decode(&old, &d) == 0 &&
            (d.len != strlen(json) || memcmp(d.json, json, d.len) != 0))
            drop_index(t, k, cid, &old);
    }
    json_object_object_foreach(set, id, doc)
    {
        struct json_object *o;
        if (doc == NULL)
            continue;
        if (origins != NULL && json_object_object_get_ex(origins, id, &o))
            t->origin = json_object_get_int(o);
        if (store_put(t, k, id, doc, e) != STORE_OK)
            bad = 1;
        t->origin = origin;
    }
    return bad ? -1 : t->changes - before;
}

/* The etcd identity record, read inside a read transaction; zeroes when there is none. */
int
store_etcd_ident_get(struct store *s, struct store_etcd_ident *id)
{
    MDB_val k = {strlen(IDENT_KEY), (void *)IDENT_KEY}, v;
    memset(id, 0, sizeof(*id));
    if (mdb_get(s->rtxn, s->meta, &k, &v) == 0 && v.mv_size == IDENT_LEN) {
        memcpy(&id->cluster_id, v.mv_data, 8);
        memcpy(&id->revision, (const char *)v.mv_data + 8, 8);
    }
    return 0;
}

/* Write id with this transaction's commit. */
void
store_txn_etcd_ident(struct store_txn *t, const struct store_etcd_ident *id)
{
    t->has_ident = 1;
    t->ident = *id;
}

/* Put the identity record into the write transaction, if one was given. */
static int
ident_put(struct store_txn *t)
{
    char buf[IDENT_LEN];
    if (!t->has_ident)
        return 0;
    memcpy(buf, &t->ident.cluster_id, 8);
    memcpy(buf + 8, &t->ident.revision, 8);
    MDB_val k = {strlen(IDENT_KEY), (void *)IDENT_KEY}, v = {IDENT_LEN, buf};
    int rc = mdb_put(t->txn, t->s->meta, &k, &v, 0);
    if (rc != 0)
        log_warnx("LMDB: cannot write the etcd identity record: %s", mdb_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* A blob's key in the meta database: "blob:" and its name, never "meta" or "format". */
static int
blob_key(const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n > 200 || snprintf(out, len, "blob:%s", name) >= (int)len)
        return -1;
    return 0;
}

int
store_blob_put(struct store_txn *t, const char *name, const void *data, size_t len)
{
    char key[256];
    MDB_val k, v, old;
    if (blob_key(name, key, sizeof(key)) < 0)
        return STORE_ERROR;
    k.mv_size = strlen(key);
    k.mv_data = key;
    if (mdb_get(t->txn, t->s->meta, &k, &old) == 0 && old.mv_size == len &&
        memcmp(old.mv_data, data, len) == 0)
        return STORE_OK; /* unchanged: no new version */
    v.mv_size = len;
    v.mv_data = (void *)data;
    int rc = mdb_put(t->txn, t->s->meta, &k, &v, 0);
    if (rc != 0) {
        log_warnx("LMDB: cannot write %s: %s", key, mdb_strerror(rc));
        return STORE_ERROR;
    }
    t->changes++;
    return STORE_OK;
}

int
store_blob_get(struct store *s, const char *name, const void **data, size_t *len)
{
    char key[256];
    MDB_val k, v;
    if (blob_key(name, key, sizeof(key)) < 0)
        return STORE_NOTFOUND;
    k.mv_size = strlen(key);
    k.mv_data = key;
    int rc = mdb_get(s->rtxn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return STORE_NOTFOUND;
    if (rc != 0)
        return STORE_ERROR;
    *data = v.mv_data;
    *len = v.mv_size;
    return STORE_OK;
}

int
store_commit(struct store_txn *t, const char *source, int64_t etcd_revision)
{
    int rc = 0;
    if (t->changes == 0 && !t->has_ident) {
        store_abort(t);
        return 0;
    }
    if (ident_put(t) < 0) {
        store_abort(t);
        return -1;
    }
    struct meta_rec m;
    meta_read(t->s, t->txn, &m);
    if (t->changes > 0) { /* an identity alone is no new configuration version */
        m.version++;
        m.etcd_revision = etcd_revision;
        m.updated_ms = now_real_ms();
        /* the status says "admin"; the history, which admin key (admin:<name>) */
        snprintf(m.source, sizeof(m.source), "%s",
                 strncmp(source, "admin:", 6) == 0 ? "admin" : source);
    }
    MDB_val k = {strlen(META_KEY), (void *)META_KEY}, v = {sizeof(m), &m};
    if (t->changes > 0 && (rc = mdb_put(t->txn, t->s->meta, &k, &v, 0)) != 0) {
        log_warnx("LMDB: cannot write the meta record: %s", mdb_strerror(rc));
        store_abort(t);
        return -1;
    }
    /* the version's history record, in the same transaction: the two never disagree */
    if (t->changes > 0 && (rc = hist_write(t, m.version, &m, source)) != 0) {
        log_warnx("LMDB: cannot write the history record of version %llu: %s%s",
                  (unsigned long long)m.version, mdb_strerror(rc),
                  rc == MDB_MAP_FULL ? " (raise lmdb.map_size or lower history.max_size)" : "");
        store_abort(t);
        return -1;
    }
    struct store *s = t->s;
    rc = mdb_txn_commit(t->txn);
    hist_txn_free(t);
    free(t);
    if (rc != 0) {
        log_warnx("LMDB: commit failed: %s%s", mdb_strerror(rc),
                  rc == MDB_MAP_FULL ? " (raise lmdb.map_size in aigw.yaml)" : "");
        return -1;
    }
    /* Removed or replaced while we wrote: the change is in a file the next start won't open. */
    if (store_check(s) != STORE_FILE_OK) {
        log_warnx("LMDB: the change went into a file aigw will not read at its next start: %s; "
                  "restart aigw",
                  s->problem);
        return -1;
    }
    return 0;
}

/*
 * Rebuild every binary record from its stored document when the record
 * format of this aigw differs from the file's (an upgrade): the documents
 * are the truth, the records only a cache of them for the data plane.
 */
int
store_upgrade_records(struct store *s)
{
    MDB_txn *txn;
    MDB_val fk = {6, "format"}, fv;
    uint32_t want = RES_RECORD_FORMAT, have = 0;
    int rc, n = 0;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0)
        goto fail;
    if (mdb_get(txn, s->meta, &fk, &fv) == 0 && fv.mv_size == sizeof(have))
        memcpy(&have, fv.mv_data, sizeof(have));
    if (have == want) {
        mdb_txn_abort(txn);
        return 0;
    }
    /* credentials first: a Model's record takes their values */
    static const enum res_kind order[RES_NKINDS] = {RES_CREDENTIAL, RES_MODEL, RES_API_KEY};
    for (int ki = 0; ki < RES_NKINDS; ki++) {
        enum res_kind k = order[ki];
        MDB_cursor *c;
        MDB_val key, val;
        if ((rc = mdb_drop(txn, s->idx[k], 0)) != 0 ||
            (rc = mdb_cursor_open(txn, s->docs[k], &c)) != 0)
            goto abort;
        for (int r = mdb_cursor_get(c, &key, &val, MDB_FIRST); r == 0;
             r = mdb_cursor_get(c, &key, &val, MDB_NEXT)) {
            char id[RES_ID_MAX + 1], ik[512];
            size_t ilen, reclen;
            void *rec;
            struct store_doc d;
            if (key.mv_size > RES_ID_MAX || doc_decode(&val, &d) < 0)
                continue;
            memcpy(id, key.mv_data, key.mv_size);
            id[key.mv_size] = '\0';
            struct json_tokener *tok = json_tokener_new();
            struct json_object *doc = json_tokener_parse_ex(tok, d.json, (int)d.len);
            json_tokener_free(tok);
            if (doc == NULL || res_index_key(k, doc, ik, sizeof(ik), &ilen) < 0 ||
                compile_in(txn, s, k, id, doc, &rec, &reclen) < 0) {
                log_warnx("LMDB: %s/%s cannot be compiled; it is not served", res_kind_name(k), id);
                json_object_put(doc);
                continue;
            }
            json_object_put(doc);
            MDB_val iv = {ilen, ik}, rv = {reclen, rec};
            rc = mdb_put(txn, s->idx[k], &iv, &rv, 0);
            free(rec);
            if (rc != 0) {
                mdb_cursor_close(c);
                goto abort;
            }
            n++;
        }
        mdb_cursor_close(c);
    }
    fv.mv_size = sizeof(want);
    fv.mv_data = &want;
    if ((rc = mdb_put(txn, s->meta, &fk, &fv, 0)) != 0 || (rc = mdb_txn_commit(txn)) != 0)
        goto fail;
    if (have != 0 || n > 0)
        log_info("LMDB: rebuilt %d records for record format %u (was %u)", n, want, have);
    return 0;
abort:
    mdb_txn_abort(txn);
fail:
    log_warnx("LMDB: cannot rebuild the records: %s", mdb_strerror(rc));
    return -1;
}

void
store_abort(struct store_txn *t)
{
    if (t == NULL)
        return;
    mdb_txn_abort(t->txn);
    hist_txn_free(t);
    free(t);
}
