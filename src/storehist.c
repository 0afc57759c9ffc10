/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storehist.c: the history of configuration versions, in the LMDB table.
 *
 * The named database "history" holds one record per committed version (key:
 * the version, 8 bytes big-endian, so LMDB keeps them in order): its time,
 * source, etcd revision, and every resource it changed with that resource's
 * stored value *before* the change. The record is written by store_commit in
 * the same write transaction as the change, so the table and its history
 * never disagree. The table as it was at version V is the current table with
 * every change after V undone: for each resource, the value before its first
 * change after V (or its current value when nothing after V touched it).
 * That needs the records V+1 .. current only; the oldest are dropped first
 * past history.max_versions or history.max_size.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <lmdb.h>

#include "aigw/errors.h"
#include "log.h"
#include "store.h"
#include "jsonx.h"
#include "store_priv.h"

#define REC_HDR                                                                                    \
    30           /* int64 time, int64 etcd revision, uint64 rollback_of, uint32 n, uint16 srclen */
#define CH_HDR 8 /* uint8 kind, uint8 flags, uint16 idlen, uint32 before_len */
#define CH_DELETED 1
#define CH_BEFORE 2

/* ---- the writer side: what a transaction changed ---- */

int
hist_note(struct store_txn *t, int k, const char *id, const MDB_val *v, int deleted)
{
    char key[RES_ID_MAX + 8];
    struct json_object *at;
    snprintf(key, sizeof(key), "%d/%s", k, id);
    if (t->hseen == NULL && (t->hseen = json_object_new_object()) == NULL)
        return -1;
    if (json_object_object_get_ex(t->hseen, key, &at)) {
        /* the value before the transaction was noted with the first change: keep it */
        t->hc[json_object_get_int64(at)].deleted = deleted;
        return 0;
    }
    if (t->nhc == t->hcap) {
        size_t cap = t->hcap ? 2 * t->hcap : 16;
        struct hist_change *n = realloc(t->hc, cap * sizeof(*n));
        if (n == NULL)
            return -1;
        t->hc = n;
        t->hcap = cap;
    }
    struct hist_change *c = &t->hc[t->nhc];
    memset(c, 0, sizeof(*c));
    c->kind = k;
    c->deleted = deleted;
    if ((c->id = strdup(id)) == NULL)
        return -1;
    if (v != NULL) {
        if ((c->before = malloc(v->mv_size ? v->mv_size : 1)) == NULL) {
            free(c->id);
            return -1;
        }
        memcpy(c->before, v->mv_data, v->mv_size);
        c->before_len = v->mv_size;
    }
    json_object_object_add(t->hseen, key, json_object_new_int64((int64_t)t->nhc));
    t->nhc++;
    return 0;
}

void
hist_txn_free(struct store_txn *t)
{
    for (size_t i = 0; i < t->nhc; i++) {
        free(t->hc[i].id);
        free(t->hc[i].before);
    }
    free(t->hc);
    json_object_put(t->hseen);
    t->hc = NULL;
    t->nhc = t->hcap = 0;
    t->hseen = NULL;
}

void
store_txn_history_source(struct store_txn *t, const char *source)
{
    snprintf(t->hsource, sizeof(t->hsource), "%s", source);
}

void
store_txn_rollback_of(struct store_txn *t, uint64_t v)
{
    t->rollback_of = v + 1; /* 0 stays "no rollback", even for a rollback to version 0 */
}

/* The key of version v: big-endian, so that LMDB's byte order is the versions' order. */
static void
vkey(uint64_t v, unsigned char out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)(v & 0xff);
}

static uint64_t
vkey_get(const MDB_val *k)
{
    uint64_t v = 0;
    if (k->mv_size != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | ((const unsigned char *)k->mv_data)[i];
    return v;
}

/* Drop the oldest records while the history is past a bound; the newest always stays. */
static int
hist_prune(struct store_txn *t)
{
    struct store *s = t->s;
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t n = 0, bytes = 0;
    int rc = mdb_cursor_open(t->txn, s->hist, &c);
    if (rc != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        n++;
        bytes += k.mv_size + v.mv_size;
    }
    rc = 0;
    while (n > 1 && (n > s->hist_max_versions || bytes > s->hist_max_bytes)) {
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) != 0)
            break;
        bytes -= k.mv_size + v.mv_size;
        if ((rc = mdb_cursor_del(c, 0)) != 0)
            break;
        n--;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
hist_write(struct store_txn *t, uint64_t version, const struct meta_rec *m, const char *source)
{
    if (t->hsource[0])
        source = t->hsource;
    size_t srclen = strnlen(source, 1024), len = REC_HDR + srclen;
    for (size_t i = 0; i < t->nhc; i++)
        len += CH_HDR + strlen(t->hc[i].id) + t->hc[i].before_len;
    unsigned char key[8];
    vkey(version, key);
    MDB_val k = {8, key}, v = {len, NULL};
    int rc = mdb_put(t->txn, t->s->hist, &k, &v, MDB_RESERVE);
    if (rc != 0)
        return rc;
    unsigned char *p = v.mv_data;
    uint32_t n = (uint32_t)t->nhc;
    uint16_t sl = (uint16_t)srclen;
    memcpy(p, &m->updated_ms, 8);
    memcpy(p + 8, &m->etcd_revision, 8);
    memcpy(p + 16, &t->rollback_of, 8);
    memcpy(p + 24, &n, 4);
    memcpy(p + 28, &sl, 2);
    memcpy(p + REC_HDR, source, srclen);
    p += REC_HDR + srclen;
    for (size_t i = 0; i < t->nhc; i++) {
        const struct hist_change *c = &t->hc[i];
        uint16_t il = (uint16_t)strlen(c->id);
        uint32_t bl = (uint32_t)c->before_len;
        p[0] = (unsigned char)c->kind;
        p[1] = (unsigned char)((c->deleted ? CH_DELETED : 0) | (c->before ? CH_BEFORE : 0));
        memcpy(p + 2, &il, 2);
        memcpy(p + 4, &bl, 4);
        memcpy(p + CH_HDR, c->id, il);
        if (bl > 0)
            memcpy(p + CH_HDR + il, c->before, bl);
        p += CH_HDR + il + bl;
    }
    return hist_prune(t);
}

void
store_history_bounds(struct store *s, uint64_t max_versions, uint64_t max_bytes)
{
    s->hist_max_versions = max_versions ? max_versions : 1;
    s->hist_max_bytes = max_bytes;
}

/* ---- the reader side ---- */

/* A record, decoded: its header, and a walk over its changes. */
struct rec {
    uint64_t version;
    int64_t time_ms, etcd_revision;
    uint64_t rollback_of;
    uint32_t n;
    const char *source;
    size_t srclen;
    const unsigned char *ch, *end; /* the changes */
};

struct change {
    int kind, deleted, has_before;
    const char *id;
    size_t idlen;
    MDB_val before;
};

static int
rec_decode(const MDB_val *k, const MDB_val *v, struct rec *r)
{
    const unsigned char *p = v->mv_data;
    uint16_t sl;
    if (v->mv_size < REC_HDR)
        return -1;
    r->version = vkey_get(k);
    memcpy(&r->time_ms, p, 8);
    memcpy(&r->etcd_revision, p + 8, 8);
    memcpy(&r->rollback_of, p + 16, 8);
    memcpy(&r->n, p + 24, 4);
    memcpy(&sl, p + 28, 2);
    if (REC_HDR + (size_t)sl > v->mv_size)
        return -1;
    r->source = (const char *)p + REC_HDR;
    r->srclen = sl;
    r->ch = p + REC_HDR + sl;
    r->end = p + v->mv_size;
    return 0;
}

/* The next change of r into c; 0, or -1 at the end (or on a damaged record). */
static int
rec_next(struct rec *r, struct change *c)
{
    uint16_t il;
    uint32_t bl;
    if ((size_t)(r->end - r->ch) < CH_HDR)
        return -1;
    memcpy(&il, r->ch + 2, 2);
    memcpy(&bl, r->ch + 4, 4);
    if ((size_t)(r->end - r->ch) < CH_HDR + (size_t)il + bl || r->ch[0] >= RES_NKINDS)
        return -1;
    c->kind = r->ch[0];
    c->deleted = (r->ch[1] & CH_DELETED) != 0;
    c->has_before = (r->ch[1] & CH_BEFORE) != 0;
    c->id = (const char *)r->ch + CH_HDR;
    c->idlen = il;
    c->before.mv_size = bl;
    c->before.mv_data = (void *)(r->ch + CH_HDR + il);
    r->ch += CH_HDR + il + bl;
    return 0;
}

/* The txn the reader side works in: the master's read handle, inside a read. */
static MDB_txn *
rtxn(struct store *s)
{
    return s->reading ? s->rtxn : NULL;
}

int
store_history_range(struct store *s, uint64_t *oldest, uint64_t *current)
{
    struct meta_rec m;
    MDB_txn *txn = rtxn(s);
    MDB_cursor *c;
    MDB_val k, v;
    if (txn == NULL || s->rdonly)
        return STORE_ERROR;
    meta_read(s, txn, &m);
    *current = m.version;
    *oldest = m.version;
    if (mdb_cursor_open(txn, s->hist, &c) != 0)
        return STORE_ERROR;
    if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && vkey_get(&k) > 0)
        *oldest = vkey_get(&k) - 1; /* its record holds what came before it */
    mdb_cursor_close(c);
    return STORE_OK;
}

/* The JSON of one record (changes: [{kind, id, op}]). */
static struct json_object *
rec_json(struct rec *r)
{
    struct json_object *o = json_object_new_object(), *ch = json_object_new_array();
    struct change c;
    char src[1100];
    snprintf(src, sizeof(src), "%.*s", (int)r->srclen, r->source);
    char *colon = strchr(src, ':');
    if (colon != NULL)
        *colon = '\0';
    json_object_object_add(o, "version", json_object_new_int64((int64_t)r->version));
    json_object_object_add(o, "time_ms", json_object_new_int64(r->time_ms));
    jx_add_str(o, "source", src);
    /* the detail of the source: the file's path, or the admin key's name */
    if (colon != NULL && strcmp(src, "file") == 0)
        jx_add_str(o, "file", colon + 1);
    else if (colon != NULL && strcmp(src, "admin") == 0)
        jx_add_str(o, "admin_key", colon + 1);
    if (r->etcd_revision > 0)
        json_object_object_add(o, "etcd_revision", json_object_new_int64(r->etcd_revision));
    if (r->rollback_of > 0) /* stored as the version + 1: 0 says "no rollback" */
        json_object_object_add(o, "rollback_of",
                               json_object_new_int64((int64_t)r->rollback_of - 1));
    while (rec_next(r, &c) == 0) {
        struct json_object *e = json_object_new_object();
        jx_add_str(e, "kind", res_kind_name((enum res_kind)c.kind));
        json_object_object_add(e, "id", json_object_new_string_len(c.id, (int)c.idlen));
        jx_add_str(e, "op", c.deleted ? "delete" : c.has_before ? "update" : "create");
        json_object_array_add(ch, e);
    }
    json_object_object_add(o, "changes", ch);
    return o;
}

struct json_object *
store_history_list(struct store *s, uint64_t before, size_t limit, int *has_more)
{
    MDB_txn *txn = rtxn(s);
    MDB_cursor *c;
    MDB_val k, v;
    unsigned char key[8];
    int rc;
    *has_more = 0;
    if (txn == NULL || s->rdonly || mdb_cursor_open(txn, s->hist, &c) != 0)
        return NULL;
    struct json_object *items = json_object_new_array();
    /* newest first: from the last record, or from the one before `before` */
    if (before == 0) {
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    } else {
        vkey(before, key);
        k.mv_size = 8;
        k.mv_data = key;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        struct rec r;
        if (rec_decode(&k, &v, &r) < 0)
            continue;
        if (json_object_array_length(items) >= limit) {
            *has_more = 1;
            break;
        }
        json_object_array_add(items, rec_json(&r));
    }
    mdb_cursor_close(c);
    return items;
}

/* The key of a resource in a state object: "<kind>/<id>". */
static void
state_key(char *out, size_t len, int kind, const char *id, size_t idlen)
{
    snprintf(out, len, "%s/%.*s", res_kind_name((enum res_kind)kind), (int)idlen, id);
}

/* A docs value as {doc (string), origin, revision}; null when absent. */
static struct json_object *
doc_value(const MDB_val *v)
{
    struct store_doc d;
    if (v == NULL || doc_decode(v, &d) < 0)
        return NULL;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "doc", json_object_new_string_len(d.json, (int)d.len));
    json_object_object_add(o, "origin", json_object_new_int(d.origin));
    json_object_object_add(o, "revision", json_object_new_int64(d.revision));
    return o;
}

/*
 * The resources changed after version v, each with its value at v: an
 * object "<kind>/<id>" -> {kind, id, value: {doc, origin, revision} or null}.
 * NULL with the reason in e when the history does not reach back to v.
 */
static struct json_object *
state_at(struct store *s, MDB_txn *txn, uint64_t v, struct aigw_errors *e)
{
    struct meta_rec m;
    MDB_cursor *c;
    MDB_val k, val;
    unsigned char key[8];
    meta_read(s, txn, &m);
    if (v > m.version) {
        errors_add(e, NULL, NULL, "Version %llu does not exist: the current version is %llu",
                   (unsigned long long)v, (unsigned long long)m.version);
        return NULL;
    }
    struct json_object *st = json_object_new_object();
    if (v == m.version)
        return st;
    if (mdb_cursor_open(txn, s->hist, &c) != 0) {
        json_object_put(st);
        errors_add(e, NULL, NULL, "Cannot read the history");
        return NULL;
    }
    vkey(v + 1, key);
    k.mv_size = 8;
    k.mv_data = key;
    if (mdb_cursor_get(c, &k, &val, MDB_SET_KEY) != 0) {
        uint64_t oldest = m.version;
        if (mdb_cursor_get(c, &k, &val, MDB_FIRST) == 0 && vkey_get(&k) > 0)
            oldest = vkey_get(&k) - 1;
        errors_add(e, NULL, NULL,
                   "The history no longer holds version %llu: it reaches back to version %llu "
                   "(history.max_versions, history.max_size)",
                   (unsigned long long)v, (unsigned long long)oldest);
        mdb_cursor_close(c);
        json_object_put(st);
        return NULL;
    }
    for (int rc = 0; rc == 0; rc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
        struct rec r;
        struct change ch;
        if (rec_decode(&k, &val, &r) < 0)
            continue;
        while (rec_next(&r, &ch) == 0) {
            char sk[RES_ID_MAX + 32];
            state_key(sk, sizeof(sk), ch.kind, ch.id, ch.idlen);
            if (json_object_object_get_ex(st, sk, NULL))
                continue; /* its value at v is the one before its first change after v */
            struct json_object *o = json_object_new_object();
            jx_add_str(o, "kind", res_kind_name((enum res_kind)ch.kind));
            json_object_object_add(o, "id", json_object_new_string_len(ch.id, (int)ch.idlen));
            json_object_object_add(o, "value", ch.has_before ? doc_value(&ch.before) : NULL);
            json_object_object_add(st, sk, o);
        }
    }
    mdb_cursor_close(c);
    return st;
}

/* The current value of a resource in txn, as doc_value shows it. */
static struct json_object *
current_value(struct store *s, MDB_txn *txn, enum res_kind k, const char *id)
{
    MDB_val dk = {strlen(id), (void *)id}, v;
    if (mdb_get(txn, s->docs[k], &dk, &v) != 0)
        return NULL;
    return doc_value(&v);
}

struct json_object *
store_history_state(struct store *s, uint64_t v, struct aigw_errors *e)
{
    MDB_txn *txn = rtxn(s);
    if (txn == NULL || s->rdonly) {
        errors_add(e, NULL, NULL, "Cannot read the history");
        return NULL;
    }
    return state_at(s, txn, v, e);
}

/* qsort order of an array of strings. */
static int
cmp_strings(const void *a, const void *b)
{
    return strcmp(json_object_get_string(*(struct json_object *const *)a),
                  json_object_get_string(*(struct json_object *const *)b));
}

/* Are two values (doc_value or NULL) the same document? */
static int
same_doc(struct json_object *a, struct json_object *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(jx_str(a, "doc"), jx_str(b, "doc")) == 0;
}

/* The document of a value as a string, or NULL. */
static struct json_object *
doc_of(struct json_object *val)
{
    return val ? json_object_new_string(jx_str(val, "doc")) : NULL;
}

/* The value at a state, or the current one when the state does not name it. */
static struct json_object *
value_in(struct store *s, MDB_txn *txn, struct json_object *st, const char *sk,
         struct json_object *item, int *owned)
{
    struct json_object *it;
    *owned = 0;
    if (json_object_object_get_ex(st, sk, &it))
        return jx_get(it, "value");
    *owned = 1;
    int k = res_kind_of(jx_str(item, "kind"));
    return k < 0 ? NULL : current_value(s, txn, (enum res_kind)k, jx_str(item, "id"));
}

struct json_object *
store_history_diff(struct store *s, uint64_t v1, uint64_t v2, struct aigw_errors *e)
{
    MDB_txn *txn = rtxn(s);
    if (txn == NULL || s->rdonly) {
        errors_add(e, NULL, NULL, "Cannot read the history");
        return NULL;
    }
    struct json_object *s1 = state_at(s, txn, v1, e), *s2 = NULL, *out = NULL, *keys;
    if (s1 == NULL || (s2 = state_at(s, txn, v2, e)) == NULL)
        goto done;
    /* every resource changed after the older of the two, in kind/id order */
    keys = json_object_new_array();
    json_object_object_foreach(s1, k1, i1)
    {
        (void)i1;
        json_object_array_add(keys, json_object_new_string(k1));
    }
    json_object_object_foreach(s2, k2, i2)
    {
        (void)i2;
        if (!json_object_object_get_ex(s1, k2, NULL))
            json_object_array_add(keys, json_object_new_string(k2));
    }
    json_object_array_sort(keys, cmp_strings);
    out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(keys); i++) {
        const char *sk = json_object_get_string(json_object_array_get_idx(keys, i));
        struct json_object *item = json_object_object_get(s1, sk);
        if (item == NULL)
            item = json_object_object_get(s2, sk);
        int o1, o2;
        struct json_object *a = value_in(s, txn, s1, sk, item, &o1);
        struct json_object *b = value_in(s, txn, s2, sk, item, &o2);
        if (!same_doc(a, b)) {
            struct json_object *d = json_object_new_object();
            jx_add_str(d, "kind", jx_str(item, "kind"));
            jx_add_str(d, "id", jx_str(item, "id"));
            json_object_object_add(d, "before", doc_of(a));
            json_object_object_add(d, "after", doc_of(b));
            json_object_array_add(out, d);
        }
        if (o1)
            json_object_put(a);
        if (o2)
            json_object_put(b);
    }
    json_object_put(keys);
done:
    json_object_put(s1);
    json_object_put(s2);
    return out;
}

struct json_object *
store_rollback_file_owned(struct store *s, uint64_t v, struct aigw_errors *e)
{
    MDB_txn *txn = rtxn(s);
    if (txn == NULL || s->rdonly) {
        errors_add(e, NULL, NULL, "Cannot read the history");
        return NULL;
    }
    struct json_object *st = state_at(s, txn, v, e);
    if (st == NULL)
        return NULL;
    struct json_object *owned = json_object_new_array();
    json_object_object_foreach(st, sk, item)
    {
        int k = res_kind_of(jx_str(item, "kind"));
        if (k < 0)
            continue;
        struct json_object *then = jx_get(item, "value");
        struct json_object *now = current_value(s, txn, (enum res_kind)k, jx_str(item, "id"));
        int file =
            (then != NULL && json_object_get_int(jx_get(then, "origin")) == STORE_ORIGIN_FILE) ||
            (now != NULL && json_object_get_int(jx_get(now, "origin")) == STORE_ORIGIN_FILE);
        if (file && !same_doc(then, now))
            json_object_array_add(owned, json_object_new_string(sk));
        json_object_put(now);
    }
    json_object_put(st);
    json_object_array_sort(owned, cmp_strings);
    return owned;
}

/*
 * Roll the table back to version v in one write transaction: every resource
 * changed after v gets its value at v back (with the origin it had), as one
 * new version whose record says rollback_of = v.
 */
int
store_rollback(struct store *s, uint64_t v, const char *source, uint64_t *newver, int *nchanges,
               struct aigw_errors *e)
{
    struct store_txn *t = store_write_begin(s);
    int rv = STORE_ERROR;
    if (t == NULL) {
        errors_add(e, NULL, NULL, "Cannot write to the configuration table");
        return STORE_ERROR;
    }
    struct json_object *st = state_at(s, t->txn, v, e);
    if (st == NULL) {
        store_abort(t);
        return STORE_NOTFOUND;
    }
    struct json_object *sets[RES_NKINDS], *origins[RES_NKINDS];
    for (int k = 0; k < RES_NKINDS; k++) {
        sets[k] = json_object_new_object();
        origins[k] = json_object_new_object();
    }
    json_object_object_foreach(st, sk, item)
    {
        (void)sk;
        int k = res_kind_of(jx_str(item, "kind"));
        if (k < 0)
            continue;
        struct json_object *val = jx_get(item, "value");
        const char *id = jx_str(item, "id");
        if (val == NULL) {
            json_object_object_add(sets[k], id, NULL);
            continue;
        }
        const char *doc = jx_str(val, "doc");
        json_object_object_add(sets[k], id, jx_parse(doc, strlen(doc)));
        json_object_object_add(origins[k], id, json_object_get(jx_get(val, "origin")));
    }
    rv = STORE_OK;
    for (int k = 0; k < RES_NKINDS && rv == STORE_OK; k++)
        if (store_apply_set(t, (enum res_kind)k, sets[k], origins[k], e) < 0)
            rv = STORE_CONFLICT;
    for (int k = 0; k < RES_NKINDS; k++) {
        json_object_put(sets[k]);
        json_object_put(origins[k]);
    }
    json_object_put(st);
    if (rv != STORE_OK) {
        store_abort(t);
        return rv;
    }
    *nchanges = store_txn_changes(t);
    /* nothing to undo (the table is as it was at v): no new version */
    *newver = store_txn_next_version(t) - (*nchanges > 0 ? 0 : 1);
    store_txn_rollback_of(t, v);
    if (store_commit(t, source, 0) < 0) {
        errors_add(e, NULL, NULL, "The configuration table did not take the rollback");
        return STORE_ERROR;
    }
    return STORE_OK;
}
