/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdindex.c: the Admin API's writes in etcd mode (master).
 *
 * A name (a Model's name, an API key's SHA-256) has one owner across every
 * node because etcd says so, not because a node's table did: the resource
 * and the index entry of its name, <prefix>index/<kind>/<name or hex hash>
 * holding the owner's id, are written in one transaction that compares the
 * entry's absence, or (in a nested transaction, when it exists) that its
 * value is the resource's own id. Of N nodes creating one name at once,
 * etcd lets exactly one through; the others learn who holds the name from
 * the failure branch and answer 409. A rename releases the old entry in the
 * same transaction, only while it still names this resource. The rule by
 * which every node picks one owner among resources written behind aigw's
 * back is in etcdsync.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "store.h"
#include "admin.h"
#include "etcd.h"
#include "etcdindex.h"
#include "etcdrollback.h"
#include "jsonx.h"

struct ix_write {
    admin_done_cb done;
    void *arg;
    char id[RES_ID_MAX + 1];
    int is_delete;
};

int
etcdindex_key(const char *prefix, enum res_kind k, struct json_object *doc, char *out,
              size_t outlen)
{
    unsigned char idx[512];
    size_t n;
    if (res_index_key(k, doc, idx, sizeof(idx), &n) < 0)
        return -1;
    int w = snprintf(out, outlen, "%sindex/%s/", prefix, res_kind_name(k));
    if (w < 0 || (size_t)w >= outlen)
        return -1;
    size_t at = (size_t)w;
    if (k == RES_MODEL) {
        if (at + n + 1 > outlen)
            return -1;
        memcpy(out + at, idx, n);
        out[at + n] = '\0';
        return 0;
    }
    if (at + 2 * n + 1 > outlen) /* a key's hash, in hex: the raw bytes are not text */
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + at + 2 * i, 3, "%02x", idx[i]);
    return 0;
}

/* The index key of the resource id as this node's table has it; "" when it has none. */
static void
stored_index_key(struct store *s, const char *prefix, enum res_kind k, const char *id, char *out,
                 size_t outlen)
{
    struct store_doc d;
    out[0] = '\0';
    if (store_read_begin(s) < 0)
        return;
    if (store_doc_read(s, k, id, &d) == STORE_OK) {
        struct json_object *doc = jx_parse(d.json, d.len);
        if (doc != NULL && etcdindex_key(prefix, k, doc, out, outlen) < 0)
            out[0] = '\0';
        json_object_put(doc);
    }
    store_read_end(s);
}

/* base64 of a NUL-terminated string (malloc'd). */
static char *
b64s(const char *s)
{
    return etcd_b64(s, strlen(s));
}

/* The compare of expect on the resource key R: "" (none), or one compare and a comma. */
static void
res_compare(char *out, size_t len, const char *r, int64_t expect)
{
    if (expect < 0)
        out[0] = '\0';
    else if (expect == 0)
        snprintf(out, len,
                 "{\"key\":\"%s\",\"target\":\"CREATE\",\"create_revision\":\"0\","
                 "\"result\":\"EQUAL\"},",
                 r);
    else
        snprintf(out, len,
                 "{\"key\":\"%s\",\"target\":\"MOD\",\"mod_revision\":\"%lld\","
                 "\"result\":\"EQUAL\"},",
                 r, (long long)expect);
}

/* A nested transaction deleting index entry O while it names id I: "" without O. */
static char *
release_op(const char *o, const char *i)
{
    char *s;
    if (o == NULL)
        return strdup("");
    if (asprintf(&s,
                 ",{\"request_txn\":{\"compare\":[{\"key\":\"%s\",\"target\":\"VALUE\","
                 "\"value\":\"%s\",\"result\":\"EQUAL\"}],\"success\":[{\"request_delete_range\":"
                 "{\"key\":\"%s\"}}]}}",
                 o, i, o) < 0)
        return NULL;
    return s;
}

/* The i-th response of a transaction's answer, or NULL. */
static struct json_object *
response(struct json_object *txn, size_t i, const char *name)
{
    return jx_get(jx_idx(jx_get(txn, "responses"), i), name);
}

/* Does the range answer rr hold a key whose value is id? -1: it holds another's. */
static int
owned_by(struct json_object *rr, const char *id)
{
    struct json_object *kv = jx_idx(jx_get(rr, "kvs"), 0);
    if (kv == NULL)
        return 0;
    char *want = b64s(id);
    const char *v = jx_str(kv, "value");
    int same = want != NULL && v != NULL && strcmp(v, want) == 0;
    free(want);
    return same ? 1 : -1;
}

/* The truth of a put: made, the name held by another (409), or the revision moved (412). */
static int
put_outcome(struct json_object *a, const char *id)
{
    if (json_object_get_boolean(jx_get(a, "succeeded")))
        return ADMIN_OK;
    struct json_object *nested = response(a, 0, "response_txn");
    if (json_object_get_boolean(jx_get(nested, "succeeded")))
        return ADMIN_OK;
    if (owned_by(response(nested, 0, "response_range"), id) < 0)
        return ADMIN_ENAMECONFLICT;
    return ADMIN_ECONFLICT;
}

/* The truth of a delete: done, no such resource (404), or the revision moved (412). */
static int
del_outcome(struct json_object *a)
{
    if (json_object_get_boolean(jx_get(a, "succeeded")))
        return jx_int(response(a, 0, "response_delete_range"), "deleted") > 0 ? ADMIN_OK
                                                                              : ADMIN_ENOTFOUND;
    return jx_get(response(a, 0, "response_range"), "kvs") == NULL ? ADMIN_ENOTFOUND
                                                                   : ADMIN_ECONFLICT;
}

/*
 * etcd's answer to either: the Admin API's error. An attempt sent and not
 * answered makes any failure unknown: the write may have been applied.
 */
static void
ix_done(int err, int64_t revision, struct json_object *answer, void *arg)
{
    struct ix_write *w = arg;
    int aerr = answer == NULL ? ADMIN_EIO
               : w->is_delete ? del_outcome(answer)
                              : put_outcome(answer, w->id);
    if (aerr != ADMIN_OK && err == ETCD_EUNKNOWN)
        aerr = ADMIN_EUNKNOWN;
    w->done(w->arg, aerr, revision);
    free(w);
}

/* A write's state until etcd answers; NULL after failing it at once (out of memory). */
static struct ix_write *
ix_new(admin_done_cb done, void *arg, const char *id, int is_delete)
{
    struct ix_write *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0);
        return NULL;
    }
    w->done = done;
    w->arg = arg;
    w->is_delete = is_delete;
    snprintf(w->id, sizeof(w->id), "%s", id);
    return w;
}

/*
 * ",{put of the change's note}": who made it (the admin key's name), in the
 * same transaction, so every node's history records it (etcdrollback.h);
 * "" without a source.
 */
static char *
note_op(const char *prefix, const char *source)
{
    char key[600], *k, *v, *out = NULL;
    if (source == NULL || source[0] == '\0')
        return strdup("");
    struct json_object *note = json_object_new_object();
    json_object_object_add(note, "source", json_object_new_string(source));
    snprintf(key, sizeof(key), "%s%s", prefix, ETCDROLLBACK_NOTE);
    k = b64s(key);
    v = b64s(json_object_to_json_string_ext(note, JSON_C_TO_STRING_PLAIN));
    json_object_put(note);
    if (k != NULL && v != NULL &&
        asprintf(&out, ",{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}", k, v) < 0)
        out = NULL;
    free(k);
    free(v);
    return out;
}

/* Send body (taken), or fail at once when it could not be made or started. */
static void
ix_send(struct etcd *e, char *body, struct ix_write *w)
{
    if (body == NULL || etcd_txn(e, body, ix_done, w) < 0)
        ix_done(ETCD_EIO, 0, NULL, w);
    free(body);
}

void
etcdindex_put(struct etcd *e, struct store *s, const char *prefix, enum res_kind k, const char *id,
              struct json_object *doc, int64_t expect, const char *source, admin_done_cb done,
              void *arg)
{
    char rkey[512], nkey[1024], okey[1024], rcmp[512];
    char *r = NULL, *v = NULL, *n = NULL, *i = NULL, *o = NULL, *rel = NULL, *body = NULL;
    char *note = NULL;
    struct ix_write *w = ix_new(done, arg, id, 0);
    if (w == NULL)
        return;
    snprintf(rkey, sizeof(rkey), "%s%s/%s", prefix, res_kind_name(k), id);
    if (etcdindex_key(prefix, k, doc, nkey, sizeof(nkey)) < 0) {
        ix_send(e, NULL, w);
        return;
    }
    stored_index_key(s, prefix, k, id, okey, sizeof(okey));
    const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    r = b64s(rkey);
    v = b64s(json);
    n = b64s(nkey);
    i = b64s(id);
    o = okey[0] && strcmp(okey, nkey) != 0 ? b64s(okey) : NULL;
    if (r && v && n && i && (o || !okey[0] || strcmp(okey, nkey) == 0) &&
        (rel = release_op(o, i)) != NULL && (note = note_op(prefix, source)) != NULL) {
        res_compare(rcmp, sizeof(rcmp), r, expect);
        /*
         * The name free: take it. Else, in the failure branch, the name
         * ours already: write. Else read who holds it (and the resource,
         * for a revision that moved) to say which.
         */
        if (asprintf(&body,
                     "{\"compare\":[%s{\"key\":\"%s\",\"target\":\"CREATE\",\"create_revision\":"
                     "\"0\",\"result\":\"EQUAL\"}],"
                     "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}},"
                     "{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}%s%s],"
                     "\"failure\":[{\"request_txn\":{"
                     "\"compare\":[%s{\"key\":\"%s\",\"target\":\"VALUE\",\"value\":\"%s\","
                     "\"result\":\"EQUAL\"}],"
                     "\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}%s%s],"
                     "\"failure\":[{\"request_range\":{\"key\":\"%s\"}},"
                     "{\"request_range\":{\"key\":\"%s\"}}]}}]}",
                     rcmp, n, r, v, n, i, rel, note, rcmp, n, i, r, v, rel, note, n, r) < 0)
            body = NULL;
    }
    free(r);
    free(v);
    free(n);
    free(i);
    free(o);
    free(rel);
    free(note);
    ix_send(e, body, w);
}

void
etcdindex_del(struct etcd *e, struct store *s, const char *prefix, enum res_kind k, const char *id,
              int64_t expect, const char *source, admin_done_cb done, void *arg)
{
    char rkey[512], okey[1024], rcmp[512];
    char *r = NULL, *i = NULL, *o = NULL, *rel = NULL, *body = NULL, *note = NULL;
    struct ix_write *w = ix_new(done, arg, id, 1);
    if (w == NULL)
        return;
    snprintf(rkey, sizeof(rkey), "%s%s/%s", prefix, res_kind_name(k), id);
    stored_index_key(s, prefix, k, id, okey, sizeof(okey));
    r = b64s(rkey);
    i = b64s(id);
    o = okey[0] ? b64s(okey) : NULL;
    if (r && i && (o || !okey[0]) && (rel = release_op(o, i)) != NULL &&
        (note = note_op(prefix, source)) != NULL) {
        res_compare(rcmp, sizeof(rcmp), r, expect);
        size_t l = strlen(rcmp);
        if (l > 0)
            rcmp[l - 1] = '\0'; /* the only compare: no comma after it */
        if (asprintf(&body,
                     "{\"compare\":[%s],\"success\":[{\"request_delete_range\":{\"key\":\"%s\"}}"
                     "%s%s],\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                     rcmp, r, rel, note, r) < 0)
            body = NULL;
    }
    free(r);
    free(i);
    free(o);
    free(rel);
    free(note);
    ix_send(e, body, w);
}
