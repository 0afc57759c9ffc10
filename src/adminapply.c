/* SPDX-License-Identifier: Apache-2.0 */
/*
 * adminapply.c: declarative apply and export on the Admin API (master).
 *
 *   POST /admin/v1/apply   {"models": {id: doc}, "api_keys": {id: doc}, "credentials": {...},
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
#include "applyplan.h"

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

/* The table as applyplan_make reads it, from one read; NULL if unreadable. */
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
    admin_reply_json(r, 200, o);
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

/* The members of an apply body: one object per kind (models, api_keys,
 * credentials), dry_run, prune (booleans). */
static int
apply_args(struct http_req *r, struct json_object *body, int *dry_run, int *prune)
{
    json_object_object_foreach(body, key, val)
    {
        int kind = 0;
        for (int k = 0; k < RES_NKINDS; k++)
            kind |= strcmp(key, res_kind_name((enum res_kind)k)) == 0;
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
    struct json_object *owned = NULL;
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
    plan = applyplan_make(body, cur, prune, file_owns, &set, &owned, &e);
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
    char cyc[RES_ID_MAX + 32];
    if (a->be.conflicts != NULL && applyplan_cycle(cur, set, cyc, sizeof(cyc))) {
        http_reply_error(r, 409, "invalid_request_error", "conflict", NULL,
                         "The names (or keys) of %s and others swap in this apply: in etcd mode "
                         "apply it in two steps (first a free name for one of them); nothing "
                         "was changed",
                         cyc);
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
    char source[300];
    admin_source(r, source, sizeof(source));
    a->be.apply(a->be.ctx, set, source, apply_done, op);
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
admin_lmdb_apply(void *ctx, struct json_object *set, const char *source, admin_done_cb done,
                 void *arg)
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
    err = store_commit(t, source ? source : "admin", 0) == 0 ? ADMIN_OK : ADMIN_EIO;
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
        doc = admin_shown_value(x->k, d->json, d->len);
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
    admin_reply_json(r, 200, o);
    json_object_put(o);
}
