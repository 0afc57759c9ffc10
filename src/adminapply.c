/* SPDX-License-Identifier: Apache-2.0 */
/*
 * adminapply.c: declarative apply and export on the Admin API (master).
 *
 *   POST /admin/v1/apply   {"models": {id: doc}, "api_keys": {id: doc},
 *                           "dry_run": false, "prune": false}
 *   GET  /admin/v1/export  [?reveal_secrets=true]
 *
 * An apply makes the resources it names what it says: every one is
 * validated first (one bad resource: 400 naming it and its field, nothing
 * written), then the plan (create, update, delete per resource) is made
 * against this node's table, and the whole plan goes to the backend as ONE
 * change: one LMDB write transaction, or one etcd transaction guarded by
 * revision compares (etcdapply.c). A resource equal to the stored one is
 * not in the plan, so the same file applied twice writes nothing and makes
 * no new version. Without prune nothing is deleted; with it, what the set
 * does not name is.
 *
 * A masked provider secret ("****" and the last four, as every read shows
 * it) means "keep the stored value": what export writes, apply takes back
 * unchanged. A resource of the resources file (standalone with
 * resources_file) is not changed by an apply: 409 naming the file.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/util.h"
#include "log.h"
#include "store.h"
#include "http.h"
#include "query.h"
#include "admin_priv.h"

/* A write waiting for the backend; outlives the request if the client leaves. */
struct apply_op {
    struct http_req *r; /* NULL once the client is gone */
    struct json_object *plan;
};

/* ---- the current table ---- */

static int
cur_add(const struct store_doc *d, void *arg)
{
    struct json_object *kind = arg, *e = json_object_new_object(), *doc;
    struct json_tokener *tok = json_tokener_new();
    doc = json_tokener_parse_ex(tok, d->json, (int)d->len);
    json_tokener_free(tok);
    json_object_object_add(e, "doc", doc);
    json_object_object_add(e, "origin", json_object_new_int(d->origin));
    json_object_object_add(e, "json", json_object_new_string_len(d->json, (int)d->len));
    json_object_object_add(kind, d->id, e);
    return 0;
}

/* {"models": {id: {doc, origin, json}}, "api_keys": ...} from one read; NULL if unreadable. */
static struct json_object *
cur_load(struct store *s)
{
    if (store_read_begin(s) < 0)
        return NULL;
    struct json_object *cur = json_object_new_object();
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *kind = json_object_new_object();
        store_docs_foreach(s, (enum res_kind)k, cur_add, kind);
        json_object_object_add(cur, res_kind_name((enum res_kind)k), kind);
    }
    store_read_end(s);
    return cur;
}

/* ---- the plan ---- */

/* The member name of doc (models and keys have one), or "". */
static const char *
doc_name(struct json_object *doc)
{
    struct json_object *n;
    return doc && json_object_object_get_ex(doc, "name", &n) ? json_object_get_string(n) : "";
}

/* The top-level fields that differ, each with its value before and after (secrets masked). */
static struct json_object *
changed_fields(enum res_kind k, struct json_object *old, const char *oldjson,
               struct json_object *doc)
{
    const char *nj = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    struct json_object *mo = admin_shown(k, oldjson, strlen(oldjson));
    struct json_object *mn = admin_shown(k, nj, strlen(nj));
    struct json_object *fields = json_object_new_array(), *names = json_object_new_object();
    json_object_object_foreach(old, ok, ov)
    {
        (void)ov;
        json_object_object_add(names, ok, NULL);
    }
    json_object_object_foreach(doc, nk, nv)
    {
        (void)nv;
        json_object_object_add(names, nk, NULL);
    }
    json_object_object_foreach(names, f, unused)
    {
        (void)unused;
        struct json_object *a = json_object_object_get(old, f), *b = json_object_object_get(doc, f);
        if (json_object_equal(a, b))
            continue;
        struct json_object *fo = json_object_new_object();
        json_object_object_add(fo, "field", json_object_new_string(f));
        json_object_object_add(fo, "before", json_object_get(json_object_object_get(mo, f)));
        json_object_object_add(fo, "after", json_object_get(json_object_object_get(mn, f)));
        json_object_array_add(fields, fo);
    }
    json_object_put(names);
    json_object_put(mo);
    json_object_put(mn);
    return fields;
}

static void
plan_add(struct json_object *plan, const char *action, enum res_kind k, const char *id,
         struct json_object *doc, struct json_object *fields)
{
    struct json_object *p = json_object_new_object();
    json_object_object_add(p, "action", json_object_new_string(action));
    json_object_object_add(p, "kind", json_object_new_string(res_kind_name(k)));
    json_object_object_add(p, "id", json_object_new_string(id));
    json_object_object_add(p, "name", json_object_new_string(doc_name(doc)));
    if (fields != NULL)
        json_object_object_add(p, "fields", fields);
    json_object_array_add(plan, p);
}

/*
 * Validate the set of kind k (id -> doc) in place, masked secrets put back
 * from the stored resource of the same id; every problem into e, named
 * "<kind>/<id>: <field>: ...".
 */
static void
plan_validate(enum res_kind k, struct json_object *items, struct json_object *cur,
              struct aigw_errors *e)
{
    json_object_object_foreach(items, id, doc)
    {
        char path[RES_ID_MAX + 32];
        struct json_object *c = json_object_object_get(cur, id);
        snprintf(path, sizeof(path), "%s/%s", res_kind_name(k), id);
        if (res_id_valid(id) < 0) {
            errors_add(e, NULL, res_kind_name(k), "id %s: 1-128 of A-Z a-z 0-9 . _ -", id);
            continue;
        }
        if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
            errors_add(e, NULL, path, "must be an object");
            continue;
        }
        if (k == RES_MODEL && admin_unmask(doc, json_object_object_get(c, "doc")) < 0) {
            errors_add(e, NULL, path,
                       "an api_key is a masked value that matches no stored secret of this "
                       "model: give the secret itself");
            continue;
        }
        res_validate(k, doc, path, e);
    }
}

/* "kind/id" into the list of resources the resources file owns. */
static void
owned_add(struct json_object *owned, enum res_kind k, const char *id)
{
    char s[RES_ID_MAX + 32];
    snprintf(s, sizeof(s), "%s/%s", res_kind_name(k), id);
    json_object_array_add(owned, json_object_new_string(s));
}

/*
 * The plan of kind k into plan and set (id -> doc, or null to delete);
 * owned gets every resource it would change that the resources file owns.
 */
static void
plan_kind(enum res_kind k, struct json_object *items, struct json_object *cur, int prune,
          int file_owns, struct json_object *plan, struct json_object *set,
          struct json_object *owned)
{
    json_object_object_foreach(items, id, doc)
    {
        struct json_object *c = json_object_object_get(cur, id);
        struct json_object *old = json_object_object_get(c, "doc");
        if (c != NULL && json_object_equal(old, doc))
            continue;
        if (c == NULL) {
            plan_add(plan, "create", k, id, doc, NULL);
        } else {
            plan_add(plan, "update", k, id, doc,
                     changed_fields(
                         k, old, json_object_get_string(json_object_object_get(c, "json")), doc));
            if (file_owns &&
                json_object_get_int(json_object_object_get(c, "origin")) == STORE_ORIGIN_FILE)
                owned_add(owned, k, id);
        }
        json_object_object_add(set, id, json_object_get(doc));
    }
    if (!prune)
        return;
    json_object_object_foreach(cur, cid, centry)
    {
        if (json_object_object_get_ex(items, cid, NULL))
            continue;
        plan_add(plan, "delete", k, cid, json_object_object_get(centry, "doc"), NULL);
        json_object_object_add(set, cid, NULL);
        if (file_owns &&
            json_object_get_int(json_object_object_get(centry, "origin")) == STORE_ORIGIN_FILE)
            owned_add(owned, k, cid);
    }
}

/*
 * Names (and keys) after the change must be unique: every resource kept
 * and every one written, each at most once per index key. The first clash
 * into e, naming both resources.
 */
static void
plan_names(enum res_kind k, struct json_object *cur, struct json_object *set, struct aigw_errors *e)
{
    struct json_object *seen = json_object_new_object();
    for (int pass = 0; pass < 2; pass++) {
        struct json_object *src = pass == 0 ? set : cur;
        json_object_object_foreach(src, id, v)
        {
            struct json_object *doc = pass == 0 ? v : json_object_object_get(v, "doc"), *held;
            char idx[512], hex[1025];
            size_t ilen;
            if (doc == NULL || (pass == 1 && json_object_object_get_ex(set, id, NULL)) ||
                res_index_key(k, doc, idx, sizeof(idx), &ilen) < 0)
                continue;
            hex_encode((const uint8_t *)idx, ilen, hex);
            if (!json_object_object_get_ex(seen, hex, &held)) {
                json_object_object_add(seen, hex, json_object_new_string(id));
                continue;
            }
            char path[RES_ID_MAX + 32];
            snprintf(path, sizeof(path), "%s/%s.%s", res_kind_name(k), id,
                     k == RES_MODEL ? "name" : "key");
            if (k == RES_MODEL)
                errors_add(e, NULL, path, "the model name \"%s\" is also that of %s/%s",
                           doc_name(doc), res_kind_name(k), json_object_get_string(held));
            else
                errors_add(e, NULL, path, "the same key as %s/%s", res_kind_name(k),
                           json_object_get_string(held));
        }
    }
    json_object_put(seen);
}

/* ---- the request ---- */

static void
apply_reply(struct http_req *r, struct json_object *plan, int applied, int dry_run,
            int64_t revision)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "plan", json_object_get(plan));
    json_object_object_add(o, "changes", json_object_new_int((int)json_object_array_length(plan)));
    json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
    json_object_object_add(o, "applied", json_object_new_boolean(applied));
    if (applied)
        json_object_object_add(o, "revision", json_object_new_int64(revision));
    admin_reply(r, 200, o);
    json_object_put(o);
}

static void
apply_abort(void *arg)
{
    struct apply_op *op = arg;
    http_req_release(op->r);
    op->r = NULL;
}

static void
apply_done(void *arg, int err, int64_t revision)
{
    struct apply_op *op = arg;
    struct http_req *r = op->r;
    if (r == NULL)
        ;
    else if (err == ADMIN_OK)
        apply_reply(r, op->plan, 1, 0, revision);
    else if (err == ADMIN_ECONFLICT)
        http_reply_error(r, 409, "invalid_request_error", "revision_mismatch", NULL,
                         "The configuration changed while the apply was made (in etcd, by "
                         "another node); nothing was changed: apply again");
    else if (err == ADMIN_ENAMECONFLICT)
        http_reply_error(r, 409, "invalid_request_error", "conflict", NULL,
                         "A model name or key of the apply is held by another resource; nothing "
                         "was changed");
    else if (err == ADMIN_EUNKNOWN)
        http_reply_error(r, 504, "server_error", "write_outcome_unknown", NULL,
                         "The apply was sent to etcd and no answer came: it may or may not be "
                         "applied (all of it or none). Apply again with --dry-run to know");
    else if (err == ADMIN_EIDENTITY)
        http_reply_error(r, 503, "server_error", "etcd_identity_mismatch", NULL,
                         "etcd is not the cluster (or revision) this node's configuration came "
                         "from; nothing was changed. See aigwctl status and aigwctl etcd accept");
    else
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration store did not take the change; nothing was changed");
    json_object_put(op->plan);
    free(op);
}

/* The members of an apply body: models, api_keys (objects), dry_run, prune (booleans). */
static int
apply_args(struct http_req *r, struct json_object *body, int *dry_run, int *prune)
{
    json_object_object_foreach(body, key, val)
    {
        int kind = strcmp(key, "models") == 0 || strcmp(key, "api_keys") == 0;
        int flag = strcmp(key, "dry_run") == 0 || strcmp(key, "prune") == 0;
        if (kind && val != NULL && json_object_is_type(val, json_type_object))
            continue;
        if (flag && json_object_is_type(val, json_type_boolean)) {
            *(key[0] == 'd' ? dry_run : prune) = json_object_get_boolean(val);
            continue;
        }
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", key,
                         kind || flag ? "%s must be %s"
                                      : "unknown member %s: an apply takes models, api_keys, "
                                        "dry_run and prune%s",
                         key,
                         kind   ? "an object of id: resource"
                         : flag ? "true or false"
                                : "");
        return -1;
    }
    return 0;
}

void
admin_apply(struct admin *a, struct http_req *r)
{
    struct json_object *body = admin_body_object(r), *cur = NULL, *plan = NULL, *set = NULL;
    struct json_object *owned = json_object_new_array();
    int dry_run = 0, prune = 0;
    struct aigw_errors e;
    errors_init(&e, NULL);
    if (body == NULL || apply_args(r, body, &dry_run, &prune) < 0)
        goto out;
    if ((cur = cur_load(a->store)) == NULL) {
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration table cannot be read; nothing was changed");
        goto out;
    }
    int file_owns = a->conf->etcd_nendpoints == 0 && a->conf->resources[0] != '\0';
    plan = json_object_new_array();
    set = json_object_new_object();
    for (int k = 0; k < RES_NKINDS; k++) {
        const char *kn = res_kind_name((enum res_kind)k);
        struct json_object *items = json_object_object_get(body, kn);
        struct json_object *kcur = json_object_object_get(cur, kn),
                           *kset = json_object_new_object();
        if (items == NULL)
            items = json_object_new_object(); /* absent: none (prune deletes them all) */
        else
            json_object_get(items);
        plan_validate((enum res_kind)k, items, kcur, &e);
        if (e.n == 0)
            plan_kind((enum res_kind)k, items, kcur, prune, file_owns, plan, kset, owned);
        if (e.n == 0)
            plan_names((enum res_kind)k, kcur, kset, &e);
        json_object_object_add(set, kn, kset);
        json_object_put(items);
    }
    if (e.n > 0) {
        admin_reply_invalid(r, &e);
        goto out;
    }
    if (json_object_array_length(owned) > 0) {
        char list[1024] = "";
        size_t o = 0, n = json_object_array_length(owned);
        for (size_t i = 0; i < n && o + 1 < sizeof(list); i++)
            o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                                  json_object_get_string(json_object_array_get_idx(owned, i)));
        http_reply_error(r, 409, "invalid_request_error", "file_owned", NULL,
                         "%s would change %s, defined in the resources file %s: change %s there "
                         "and reload (aigwctl reload); nothing was changed",
                         dry_run ? "The plan" : "The apply", list, a->conf->resources,
                         n == 1 ? "it" : "them");
        goto out;
    }
    if (dry_run || json_object_array_length(plan) == 0) {
        apply_reply(r, plan, 0, dry_run, 0); /* nothing to write: no new version */
        goto out;
    }
    struct apply_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        goto out;
    }
    op->r = r;
    op->plan = json_object_get(plan);
    http_req_set_callbacks(r, apply_abort, NULL, op);
    a->be.apply(a->be.ctx, set, apply_done, op);
out:
    errors_free(&e);
    json_object_put(body);
    json_object_put(cur);
    json_object_put(plan);
    json_object_put(set);
    json_object_put(owned);
}

/* ---- the standalone backend ---- */

void
admin_lmdb_apply(void *ctx, struct json_object *set, admin_done_cb done, void *arg)
{
    struct store *s = ctx;
    struct aigw_errors e;
    int err = ADMIN_EIO, changes = 0;
    int64_t version = 0;
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(s);
    if (t == NULL)
        goto out;
    store_txn_origin(t, STORE_ORIGIN_ADMIN, 0);
    version = (int64_t)store_txn_next_version(t);
    for (int k = 0; k < RES_NKINDS; k++) {
        struct json_object *ks = json_object_object_get(set, res_kind_name((enum res_kind)k));
        int n = store_apply_set(t, (enum res_kind)k, ks, NULL, &e);
        if (n < 0) {
            store_abort(t);
            err = ADMIN_ENAMECONFLICT;
            goto out;
        }
        changes += n;
    }
    err = store_commit(t, "admin", 0) == 0 ? ADMIN_OK : ADMIN_EIO;
out:
    for (int i = 0; i < e.n; i++)
        log_warnx("admin: apply: %s", e.msgs[i]);
    errors_free(&e);
    if (err == ADMIN_OK)
        log_info("admin: apply: %d change%s, configuration version %lld", changes,
                 changes == 1 ? "" : "s", (long long)version);
    done(arg, err, version);
}

/* ---- export ---- */

struct export_ctx {
    enum res_kind k;
    int reveal;
    struct json_object *list;
};

/* One resource as a resources file entry: its id first, then its document. */
static int
export_add(const struct store_doc *d, void *arg)
{
    struct export_ctx *x = arg;
    struct json_object *doc;
    if (x->reveal) {
        struct json_tokener *tok = json_tokener_new();
        doc = json_tokener_parse_ex(tok, d->json, (int)d->len);
        json_tokener_free(tok);
    } else {
        doc = admin_shown(x->k, d->json, d->len);
    }
    if (doc == NULL)
        return 0;
    struct json_object *ent = json_object_new_object();
    json_object_object_add(ent, "id", json_object_new_string(d->id));
    json_object_object_foreach(doc, key, val)
        json_object_object_add(ent, key, json_object_get(val));
    json_object_put(doc);
    json_object_array_add(x->list, ent);
    return 0;
}

void
admin_export(struct admin *a, struct http_req *r, int role)
{
    char rev[8], badbuf[64];
    const char *bad;
    struct query_param p[1] = {{"reveal_secrets", rev, sizeof(rev), 0}};
    int rc = query_parse(http_req_query(r), p, 1, &bad, badbuf, sizeof(badbuf));
    if (rc != QUERY_OK || (p[0].seen && strcmp(rev, "true") != 0 && strcmp(rev, "false") != 0)) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "reveal_secrets",
                         "export takes one parameter, reveal_secrets=true or false");
        return;
    }
    int reveal = p[0].seen && strcmp(rev, "true") == 0;
    if (reveal && role != ADMIN_ROLE_ADMIN) {
        http_reply_error(r, 403, "permission_error", "read_only_key", "reveal_secrets",
                         "Revealing secrets needs an admin key with the admin role");
        return;
    }
    if (store_read_begin(a->store) < 0) {
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration table cannot be read");
        return;
    }
    struct json_object *o = json_object_new_object();
    for (int k = 0; k < RES_NKINDS; k++) {
        struct export_ctx x = {(enum res_kind)k, reveal, json_object_new_array()};
        store_docs_foreach(a->store, (enum res_kind)k, export_add, &x);
        json_object_object_add(o, res_kind_name((enum res_kind)k), x.list);
    }
    store_read_end(a->store);
    admin_reply(r, 200, o);
    json_object_put(o);
}
