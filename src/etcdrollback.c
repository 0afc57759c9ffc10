/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdrollback.c: a rollback in etcd mode (master).
 *
 * This node's history says what every resource changed since version V was
 * at V (store_history_state). That state goes to etcd as ONE transaction,
 * so every node's watch brings all of it in one batch, hence one LMDB
 * transaction per node: no node serves half a rollback.
 *
 * The transaction is guarded by compares, so it is applied only to the
 * etcd state this node's table was made from:
 * - each resource it writes has the mod_revision this node's table holds
 *   (or does not exist, when the table does not hold it);
 * - each name (index entry, etcdindex.c) it takes is free, or held by the
 *   resource itself, or by a resource this rollback moves off that name;
 * - each name it releases still names its resource.
 * A name held in etcd by a resource the rollback does not touch is refused
 * before anything is sent, with a message naming both; a compare that fails
 * (etcd changed since this node read it) changes nothing and says so.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "log.h"
#include "aigw/resource.h"
#include "store.h"
#include "admin.h"
#include "etcd.h"
#include "etcdindex.h"
#include "etcdowner.h"
#include "etcdrollback.h"
#include "jsonx.h"

struct rb_write {
    admin_rollback_cb done;
    void *arg;
    uint64_t v;
    int changes;
};

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

static struct json_object *
op_put(const char *k, const char *v)
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

/* What the transaction is made of while it is built. */
struct plan {
    struct json_object *compare, *success;
    struct json_object *claims;   /* index key -> id taking it */
    struct json_object *releases; /* index key -> id leaving it */
    int changes;
};

/* One resource of the state at v: its compare, its write, the names it takes and leaves. */
static void
plan_resource(struct store *s, const char *prefix, struct plan *p, struct json_object *item)
{
    const char *kind = jx_str(item, "kind"), *id = jx_str(item, "id");
    enum res_kind k = strcmp(kind, "models") == 0 ? RES_MODEL : RES_API_KEY;
    struct json_object *val = jx_get(item, "value");
    const char *want = val ? jx_str(val, "doc") : NULL;
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
        json_object_array_add(p->success, op_put(rkey, want));
        if (new_ikey[0])
            json_object_object_add(p->claims, new_ikey, json_object_new_string(id));
    } else {
        json_object_array_add(p->success, op_del(rkey));
    }
    if (cur_ikey[0] && strcmp(cur_ikey, new_ikey) != 0)
        json_object_object_add(p->releases, cur_ikey, json_object_new_string(id));
    p->changes++;
}

/*
 * The names: taken (free, ours, or left by a resource of this rollback) and
 * released; -1 with the refusal in e when a name is held by a resource the
 * rollback does not move.
 */
static int
plan_names(struct etcdowner *own, const char *prefix, struct plan *p, struct aigw_errors *e)
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
            char what[600];
            if (strncmp(name, "models/", 7) == 0)
                snprintf(what, sizeof(what), "the model name \"%s\"", name + 7);
            else
                snprintf(what, sizeof(what), "the key");
            errors_add(e, NULL, NULL,
                       "%s of %s is held in etcd by %s, which this rollback does not change "
                       "(it was created or renamed since); delete or rename %s first, or roll "
                       "back to a later version",
                       what, id, holder, holder);
            return -1;
        }
        json_object_array_add(p->success, op_put(ikey, id));
    }
    json_object_object_foreach(p->releases, rkey, ridv)
    {
        const char *rid = json_object_get_string(ridv), *holder = owner_index_get(own, rkey);
        if (json_object_object_get_ex(p->claims, rkey, NULL) || holder == NULL ||
            strcmp(holder, rid) != 0)
            continue; /* taken by another of this rollback, or not ours to release */
        json_object_array_add(p->compare, cmp_value(rkey, rid));
        json_object_array_add(p->success, op_del(rkey));
    }
    return 0;
}

/* etcd's answer: done, or refused by a compare (etcd changed since this node read it). */
static void
rb_answer(int err, int64_t revision, struct json_object *answer, void *arg)
{
    struct rb_write *w = arg;
    if (answer != NULL && json_object_get_boolean(jx_get(answer, "succeeded"))) {
        log_info("etcd: rollback to version %llu written at revision %lld (%d resources)",
                 (unsigned long long)w->v, (long long)revision, w->changes);
        w->done(w->arg, ADMIN_OK, revision, w->changes, NULL);
    } else if (err == ETCD_EUNKNOWN) {
        w->done(w->arg, ADMIN_EUNKNOWN, 0, 0, NULL);
    } else if (answer != NULL) {
        w->done(w->arg, ADMIN_ECONFLICT, 0, 0,
                "etcd changed since this node read it (a resource or a name the rollback "
                "touches); nothing was changed: look at aigwctl history again and retry");
    } else {
        w->done(w->arg, ADMIN_EIO, 0, 0,
                "etcd did not take the transaction (unreachable, or more operations than its "
                "--max-txn-ops)");
    }
    free(w);
}

void
etcdrollback_send(struct etcd *etcd, struct store *s, struct etcdowner *own, const char *prefix,
                  uint64_t v, const char *source, admin_rollback_cb done, void *arg)
{
    struct aigw_errors e;
    struct plan p = {json_object_new_array(), json_object_new_array(), json_object_new_object(),
                     json_object_new_object(), 0};
    struct json_object *st = NULL;
    int err = ADMIN_EIO;
    errors_init(&e, NULL);
    if (store_read_begin(s) < 0) {
        errors_add(&e, NULL, NULL, "the configuration table cannot be read");
        goto fail;
    }
    st = store_history_state(s, v, &e);
    if (st == NULL) {
        store_read_end(s);
        err = ADMIN_ENOTFOUND;
        goto fail;
    }
    json_object_object_foreach(st, sk, item)
    {
        (void)sk;
        plan_resource(s, prefix, &p, item);
    }
    store_read_end(s);
    if (plan_names(own, prefix, &p, &e) < 0) {
        err = ADMIN_ENAMECONFLICT;
        goto fail;
    }
    if (p.changes == 0) { /* as it was at v already: nothing to send */
        done(arg, ADMIN_OK, 0, 0, NULL);
        goto out;
    }
    /* who asked, for which version: every node's history records it with the batch */
    char nkey[600];
    struct json_object *note = json_object_new_object();
    jx_add_str(note, "source", source);
    json_object_object_add(note, "rollback_of", json_object_new_int64((int64_t)v));
    snprintf(nkey, sizeof(nkey), "%s%s", prefix, ETCDROLLBACK_NOTE);
    json_object_array_add(p.success, op_put(nkey, json_object_to_json_string_ext(
                                                      note, JSON_C_TO_STRING_PLAIN)));
    json_object_put(note);
    struct rb_write *w = calloc(1, sizeof(*w));
    struct json_object *body = json_object_new_object();
    json_object_object_add(body, "compare", json_object_get(p.compare));
    json_object_object_add(body, "success", json_object_get(p.success));
    if (w == NULL) {
        json_object_put(body);
        goto fail;
    }
    w->done = done;
    w->arg = arg;
    w->v = v;
    w->changes = p.changes;
    const char *txt = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
    if (etcd_txn(etcd, txt, rb_answer, w) < 0)
        rb_answer(ETCD_EIO, 0, NULL, w);
    json_object_put(body);
    goto out;
fail:
    log_warnx("etcd: rollback to version %llu refused: %s", (unsigned long long)v,
              e.n ? e.msgs[0] : "out of memory");
    done(arg, err, 0, 0, e.n ? e.msgs[0] : NULL);
out:
    json_object_put(st);
    json_object_put(p.compare);
    json_object_put(p.success);
    json_object_put(p.claims);
    json_object_put(p.releases);
    errors_free(&e);
}
