/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdtxn.c: many resources in one etcd transaction, with their names'
 * index entries, guarded by compares (master).
 *
 * The transaction is applied only to the etcd state this node's table was
 * made from:
 * - each resource it writes has the mod_revision this node's table holds
 *   (or does not exist, when the table does not hold it);
 * - each name (index entry, etcdindex.c) it takes is free, or held by the
 *   resource itself, or by a resource the transaction moves off that name;
 * - each name it releases still names its resource.
 * Every node's watch gets it as one batch, so one LMDB transaction.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "store.h"
#include "etcd.h"
#include "etcdindex.h"
#include "etcdowner.h"
#include "etcdrollback.h"
#include "etcdtxn.h"
#include "jsonx.h"

/* A base64 JSON string of s (a new object), as the JSON gateway takes keys and values. */
static struct json_object *
b64(const char *s)
{
    char *b = etcd_b64(s, strlen(s));
    struct json_object *o = json_object_new_string(b ? b : "");
    free(b);
    return o;
}

/* {"key": k, "target": target, field: value, "result": "EQUAL"} */
static struct json_object *
cmp(const char *k, const char *target, const char *field, struct json_object *value)
{
    struct json_object *c = json_object_new_object();
    json_object_object_add(c, "key", b64(k));
    jx_add_str(c, "target", target);
    json_object_object_add(c, field, value);
    jx_add_str(c, "result", "EQUAL");
    return c;
}

static struct json_object *
cmp_absent(const char *k)
{
    return cmp(k, "CREATE", "create_revision", json_object_new_string("0"));
}

static struct json_object *
cmp_value(const char *k, const char *v)
{
    return cmp(k, "VALUE", "value", b64(v));
}

static struct json_object *
cmp_mod(const char *k, int64_t rev)
{
    char r[24];
    snprintf(r, sizeof(r), "%lld", (long long)rev);
    return cmp(k, "MOD", "mod_revision", json_object_new_string(r));
}

struct json_object *
etcdtxn_op_put(const char *k, const char *v)
{
    struct json_object *o = json_object_new_object(), *p = json_object_new_object();
    json_object_object_add(p, "key", b64(k));
    json_object_object_add(p, "value", b64(v));
    json_object_object_add(o, "request_put", p);
    return o;
}

static struct json_object *
op_del(const char *k)
{
    struct json_object *o = json_object_new_object(), *p = json_object_new_object();
    json_object_object_add(p, "key", b64(k));
    json_object_object_add(o, "request_delete_range", p);
    return o;
}

/* The index entry of a document given as JSON text, into out ("" when it has none). */
static void
ikey_of(const char *prefix, enum res_kind k, const char *json, size_t len, char *out, size_t n)
{
    struct json_object *doc = jx_parse(json, len);
    out[0] = '\0';
    if (doc != NULL && etcdindex_key(prefix, k, doc, out, n) < 0)
        out[0] = '\0';
    json_object_put(doc);
}

void
etcdtxn_resource(struct store *s, const char *prefix, struct etcdtxn *p, enum res_kind k,
                 const char *id, const char *want)
{
    const char *kind = res_kind_name(k);
    char rkey[512], cur_ikey[1024] = "", new_ikey[1024] = "";
    struct store_doc d;
    snprintf(rkey, sizeof(rkey), "%s%s/%s", prefix, kind, id);
    int exists = store_doc_read(s, k, id, &d) == STORE_OK;
    if (exists && want != NULL && d.len == strlen(want) && memcmp(d.json, want, d.len) == 0)
        return; /* as it was already */
    if (!exists && want == NULL)
        return;
    json_object_array_add(p->compare, exists ? cmp_mod(rkey, d.revision) : cmp_absent(rkey));
    if (exists)
        ikey_of(prefix, k, d.json, d.len, cur_ikey, sizeof(cur_ikey));
    if (want != NULL) {
        ikey_of(prefix, k, want, strlen(want), new_ikey, sizeof(new_ikey));
        json_object_array_add(p->success, etcdtxn_op_put(rkey, want));
        if (new_ikey[0])
            json_object_object_add(p->claims, new_ikey, json_object_new_string(id));
    } else {
        json_object_array_add(p->success, op_del(rkey));
    }
    if (cur_ikey[0] && strcmp(cur_ikey, new_ikey) != 0)
        json_object_object_add(p->releases, cur_ikey, json_object_new_string(id));
    p->changes++;
}

int
etcdtxn_names(struct etcdowner *own, const char *prefix, struct etcdtxn *p, const char *what,
              const char *cause, const char *alt, struct aigw_errors *e)
{
    json_object_object_foreach(p->claims, ikey, idv)
    {
        const char *id = json_object_get_string(idv), *holder = owner_index_get(own, ikey);
        struct json_object *rel;
        if (holder == NULL) {
            json_object_array_add(p->compare, cmp_absent(ikey));
        } else if (strcmp(holder, id) == 0) {
            json_object_array_add(p->compare, cmp_value(ikey, id));
            continue; /* ours already: nothing to write */
        } else if (json_object_object_get_ex(p->releases, ikey, &rel) &&
                   strcmp(json_object_get_string(rel), holder) == 0) {
            json_object_array_add(p->compare, cmp_value(ikey, holder));
        } else {
            const char *name = ikey + strlen(prefix) + strlen("index/");
            char which[600];
            if (strncmp(name, "models/", 7) == 0)
                snprintf(which, sizeof(which), "the model name \"%s\"", name + 7);
            else
                snprintf(which, sizeof(which), "the key");
            errors_add(e, NULL, NULL,
                       "%s of %s is held in etcd by %s, which this %s does not change (%s); "
                       "delete or rename %s first%s",
                       which, id, holder, what, cause, holder, alt);
            return -1;
        }
        json_object_array_add(p->success, etcdtxn_op_put(ikey, id));
    }
    json_object_object_foreach(p->releases, rkey, ridv)
    {
        const char *rid = json_object_get_string(ridv), *holder = owner_index_get(own, rkey);
        if (json_object_object_get_ex(p->claims, rkey, NULL) || holder == NULL ||
            strcmp(holder, rid) != 0)
            continue; /* taken by another of this transaction, or not ours to release */
        json_object_array_add(p->compare, cmp_value(rkey, rid));
        json_object_array_add(p->success, op_del(rkey));
    }
    return 0;
}

void
etcdtxn_init(struct etcdtxn *p)
{
    p->compare = json_object_new_array();
    p->success = json_object_new_array();
    p->claims = json_object_new_object();
    p->releases = json_object_new_object();
    p->changes = 0;
}

void
etcdtxn_free(struct etcdtxn *p)
{
    json_object_put(p->compare);
    json_object_put(p->success);
    json_object_put(p->claims);
    json_object_put(p->releases);
    memset(p, 0, sizeof(*p));
}

char *
etcdtxn_body(const struct etcdtxn *p)
{
    struct json_object *body = json_object_new_object();
    json_object_object_add(body, "compare", json_object_get(p->compare));
    json_object_object_add(body, "success", json_object_get(p->success));
    char *s = strdup(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN));
    json_object_put(body);
    return s;
}

void
etcdtxn_note(struct etcdtxn *p, const char *prefix, const char *source, int64_t rollback_of)
{
    char key[600];
    struct json_object *note = json_object_new_object();
    jx_add_str(note, "source", source);
    if (rollback_of > 0)
        json_object_object_add(note, "rollback_of", json_object_new_int64(rollback_of));
    snprintf(key, sizeof(key), "%s%s", prefix, ETCDROLLBACK_NOTE);
    json_object_array_add(p->success, etcdtxn_op_put(key, json_object_to_json_string_ext(
                                                              note, JSON_C_TO_STRING_PLAIN)));
    json_object_put(note);
}
