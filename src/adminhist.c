/* SPDX-License-Identifier: Apache-2.0 */
/*
 * adminhist.c: the history of configuration versions on the Admin API.
 *
 *   GET  /admin/v1/history                  a page, newest first (?limit=N&after=VERSION)
 *   GET  /admin/v1/history/{v}/diff?to=V2   the resources that differ from v to V2
 *                                           (default: the current version)
 *   POST /admin/v1/rollback {"version": V}  the table as it was at V, as one new version
 *
 * A viewer key may read the history and diffs; only an admin key rolls back.
 * Diffs show documents as every other read does: provider secrets masked.
 * A field whose secret changed is named even when its masked form did not.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "store.h"
#include "admin_priv.h"
#include "http.h"
#include "jsonx.h"
#include "query.h"

#define HPREFIX "/admin/v1/history"
#define RPATH "/admin/v1/rollback"
#define HIST_DEFAULT 20
#define HIST_MAX 1000

int
admin_history_path(const char *path)
{
    return strcmp(path, RPATH) == 0 || strcmp(path, HPREFIX) == 0 ||
           strncmp(path, HPREFIX "/", strlen(HPREFIX) + 1) == 0;
}

/* A version: decimal digits only, at most 19 of them; -1 otherwise. */
static int
parse_version(const char *s, uint64_t *v)
{
    size_t i;
    *v = 0;
    for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 19; i++)
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    return i > 0 && s[i] == '\0' ? 0 : -1;
}

/* The query of a history request into p; -1 once a 400 is sent. */
static int
hist_query(struct http_req *r, struct query_param *p, int n, const char *takes)
{
    char badbuf[64];
    const char *bad;
    int rc = query_parse(http_req_query(r), p, n, &bad, badbuf, sizeof(badbuf));
    if (rc == QUERY_OK)
        return 0;
    if (rc == QUERY_EUNKNOWN)
        http_reply_error(r, 400, "invalid_request_error", "unknown_parameter", bad,
                         "Unknown query parameter %s: this takes %s", bad, takes);
    else if (rc == QUERY_EREPEATED)
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", bad,
                         "%s is given more than once", bad);
    else
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", bad,
                         "The query string is malformed or longer than %d bytes", QUERY_MAX);
    return -1;
}

/* GET /admin/v1/history: {items, has_more, oldest_version, current_version, last_version}. */
static void
do_history(struct admin *a, struct http_req *r)
{
    char lim[8] = "", after[24] = "";
    struct query_param p[2] = {{"limit", lim, sizeof(lim), 0}, {"after", after, sizeof(after), 0}};
    uint64_t limit = HIST_DEFAULT, before = 0, oldest = 0, current = 0;
    int has_more = 0;
    if (hist_query(r, p, 2, "limit and after") < 0)
        return;
    if (p[0].seen && (parse_version(lim, &limit) < 0 || limit < 1 || limit > HIST_MAX)) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "limit",
                         "limit must be an integer from 1 to %d (default %d)", HIST_MAX,
                         HIST_DEFAULT);
        return;
    }
    if (p[1].seen && (parse_version(after, &before) < 0 || before == 0)) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "after",
                         "after must be a version (a positive integer): last_version of the "
                         "previous page");
        return;
    }
    struct json_object *items = NULL;
    if (store_read_begin(a->store) == 0) {
        store_history_range(a->store, &oldest, &current);
        items = store_history_list(a->store, before, (size_t)limit, &has_more);
        store_read_end(a->store);
    }
    if (items == NULL) {
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration table cannot be read");
        return;
    }
    struct json_object *o = json_object_new_object();
    size_t n = json_object_array_length(items);
    json_object_object_add(o, "current_version", json_object_new_int64((int64_t)current));
    json_object_object_add(o, "oldest_version", json_object_new_int64((int64_t)oldest));
    json_object_object_add(o, "items", items);
    json_object_object_add(o, "has_more", json_object_new_boolean(has_more));
    json_object_object_add(
        o, "last_version",
        n ? json_object_get(jx_get(json_object_array_get_idx(items, n - 1), "version")) : NULL);
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

/* The top-level fields whose values differ between two documents, compared unmasked. */
static struct json_object *
changed_fields(struct json_object *b, struct json_object *a)
{
    struct json_object *f = json_object_new_array(), *v;
    json_object_object_foreach(b, kb, vb)
    {
        if (!json_object_object_get_ex(a, kb, &v) || !json_object_equal(vb, v))
            json_object_array_add(f, json_object_new_string(kb));
    }
    json_object_object_foreach(a, ka, va)
    {
        (void)va;
        if (!json_object_object_get_ex(b, ka, NULL))
            json_object_array_add(f, json_object_new_string(ka));
    }
    return f;
}

/* One raw diff entry as the API shows it: masked documents, op, changed fields. */
static struct json_object *
diff_entry(struct json_object *d)
{
    const char *kind = jx_str(d, "kind"), *bj = jx_str(d, "before"), *aj = jx_str(d, "after");
    int kk = res_kind_of(kind);
    /* the kinds the history holds; a credential's api_key is masked as a target's */
    enum res_kind k = kk < 0 ? RES_CREDENTIAL : (enum res_kind)kk;
    struct json_object *o = json_object_new_object();
    jx_add_str(o, "kind", kind);
    jx_add_str(o, "id", jx_str(d, "id"));
    jx_add_str(o, "op", bj == NULL ? "added" : aj == NULL ? "removed" : "changed");
    if (bj != NULL && aj != NULL) {
        struct json_object *b = jx_parse(bj, strlen(bj)), *a = jx_parse(aj, strlen(aj));
        json_object_object_add(o, "fields", changed_fields(b, a));
        json_object_put(b);
        json_object_put(a);
    }
    json_object_object_add(o, "before", bj ? admin_shown_value(k, bj, strlen(bj)) : NULL);
    json_object_object_add(o, "after", aj ? admin_shown_value(k, aj, strlen(aj)) : NULL);
    return o;
}

/* GET /admin/v1/history/{v}/diff?to=V2 */
static void
do_diff(struct admin *a, struct http_req *r, const char *vs)
{
    char to[24] = "";
    struct query_param p[1] = {{"to", to, sizeof(to), 0}};
    uint64_t v1, v2 = 0, oldest = 0, current = 0;
    struct aigw_errors e;
    if (parse_version(vs, &v1) < 0) {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown Admin API path: %s (history/VERSION/diff)", http_req_path(r));
        return;
    }
    if (hist_query(r, p, 1, "to") < 0)
        return;
    if (p[0].seen && parse_version(to, &v2) < 0) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "to",
                         "to must be a version (an integer; default: the current version)");
        return;
    }
    errors_init(&e, NULL);
    struct json_object *raw = NULL;
    if (store_read_begin(a->store) == 0) {
        store_history_range(a->store, &oldest, &current);
        raw = store_history_diff(a->store, v1, p[0].seen ? v2 : current, &e);
        store_read_end(a->store);
    } else {
        errors_add(&e, NULL, NULL, "The configuration table cannot be read");
    }
    if (raw == NULL) {
        http_reply_error(r, 404, "invalid_request_error", "version_not_in_history", NULL, "%s",
                         e.n ? e.msgs[0] : "No such version");
        errors_free(&e);
        return;
    }
    errors_free(&e);
    struct json_object *o = json_object_new_object(), *ch = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(raw); i++)
        json_object_array_add(ch, diff_entry(json_object_array_get_idx(raw, i)));
    json_object_put(raw);
    json_object_object_add(o, "from", json_object_new_int64((int64_t)v1));
    json_object_object_add(o, "to", json_object_new_int64((int64_t)(p[0].seen ? v2 : current)));
    json_object_object_add(o, "changes", ch);
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

/* A rollback waiting for its backend (etcd answers later); outlives a client that left. */
struct rb_op {
    struct http_req *r;
    uint64_t v;
    int etcd;
};

static void
rb_abort(void *arg)
{
    struct rb_op *op = arg;
    http_req_release(op->r);
    op->r = NULL;
}

static void
rb_done(void *arg, int err, int64_t version, int changes, const char *msg)
{
    struct rb_op *op = arg;
    struct http_req *r = op->r;
    if (r == NULL) {
        free(op);
        return;
    }
    if (err == ADMIN_ENOTFOUND)
        http_reply_error(r, 404, "invalid_request_error", "version_not_in_history", "version", "%s",
                         msg ? msg : "The history does not hold this version");
    else if (err == ADMIN_ENAMECONFLICT)
        http_reply_error(r, 409, "invalid_request_error", "conflict", "version",
                         "Rollback to version %llu refused: %s", (unsigned long long)op->v,
                         msg ? msg : "a name or key would be used twice");
    else if (err == ADMIN_ECONFLICT)
        http_reply_error(r, 409, "invalid_request_error", "revision_mismatch", "version",
                         "Rollback to version %llu refused: %s", (unsigned long long)op->v,
                         msg ? msg
                             : "the configuration changed in etcd meanwhile; nothing was "
                               "changed, try again");
    else if (err == ADMIN_EIDENTITY)
        http_reply_error(r, 503, "server_error", "etcd_identity_mismatch", NULL,
                         "etcd is not the cluster (or revision) this node's configuration came "
                         "from; nothing was changed. See aigwctl status and aigwctl etcd accept");
    else if (err == ADMIN_EUNKNOWN)
        http_reply_error(r, 504, "server_error", "write_outcome_unknown", NULL,
                         "The rollback was sent to etcd and no answer came: it may or may not "
                         "be applied. See aigwctl history");
    else if (err != ADMIN_OK)
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration store did not take the rollback; nothing was "
                         "changed%s%s",
                         msg ? ": " : "", msg ? msg : "");
    else {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "rollback_of", json_object_new_int64((int64_t)op->v));
        json_object_object_add(o, "changes", json_object_new_int(changes));
        /* standalone: the version now served; etcd: the revision every node takes */
        json_object_object_add(o, op->etcd ? "etcd_revision" : "version",
                               json_object_new_int64(version));
        admin_reply_json(r, 200, o);
        json_object_put(o);
    }
    free(op);
}

/*
 * 409 file_owned when the rollback to v would change a resource the
 * resources file owns (standalone with resources_file): the next reload
 * would put the file's version back, as it would an Admin API write or an
 * apply, so the rollback is refused whole (naming the file and the
 * resources) rather than half done. A rollback that leaves the file's
 * resources as they are goes on. The standalone rollback runs in this
 * same callback of the master, so nothing changes the table in between.
 */
static int
refuse_file_owned(struct admin *a, struct http_req *r, uint64_t v)
{
    struct aigw_errors e;
    if (a->conf->etcd_nendpoints > 0 || a->conf->resources[0] == '\0' ||
        store_read_begin(a->store) < 0)
        return 0;
    errors_init(&e, NULL);
    struct json_object *owned = store_rollback_file_owned(a->store, v, &e);
    store_read_end(a->store);
    errors_free(&e); /* no history of v: the rollback itself says so */
    size_t n = owned ? json_object_array_length(owned) : 0;
    if (n == 0) {
        json_object_put(owned);
        return 0;
    }
    char list[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                              json_object_get_string(json_object_array_get_idx(owned, i)));
    http_reply_error(r, 409, "invalid_request_error", "file_owned", "version",
                     "Rollback to version %llu would change %s, defined in the resources file "
                     "%s: change %s there and reload (aigwctl reload); nothing was changed",
                     (unsigned long long)v, list, a->conf->resources, n == 1 ? "it" : "them");
    json_object_put(owned);
    return -1;
}

/* POST /admin/v1/rollback {"version": V} */
static void
do_rollback(struct admin *a, struct http_req *r)
{
    struct json_object *o = admin_body_object(r), *v;
    int64_t ver = -1;
    if (o == NULL)
        return;
    if (json_object_object_get_ex(o, "version", &v) && json_object_is_type(v, json_type_int))
        ver = json_object_get_int64(v);
    json_object_put(o);
    if (ver < 0) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_body", "version",
                         "The body must be {\"version\": N}: the version to go back to (a "
                         "non-negative integer, see GET /admin/v1/history)");
        return;
    }
    if (a->be.rollback == NULL) {
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "This store cannot roll back");
        return;
    }
    if (refuse_file_owned(a, r, (uint64_t)ver) < 0)
        return;
    struct rb_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        return;
    }
    char src[300];
    admin_source(r, src, sizeof(src));
    op->r = r;
    op->v = (uint64_t)ver;
    op->etcd = a->be.conflicts != NULL; /* the etcd backend is the one with losers */
    http_req_set_callbacks(r, rb_abort, NULL, op);
    a->be.rollback(a->be.ctx, (uint64_t)ver, src, rb_done, op);
}

void
admin_history_handle(struct admin *a, struct http_req *r, int role)
{
    const char *path = http_req_path(r);
    int m = http_req_method(r);
    if (strcmp(path, RPATH) == 0) {
        if (m != HTTP_M_POST)
            http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                             "Use POST");
        else if (role != ADMIN_ROLE_ADMIN)
            http_reply_error(r, 403, "permission_error", "read_only_key", NULL,
                             "This admin key has the viewer role: GET only");
        else
            do_rollback(a, r);
        return;
    }
    if (m != HTTP_M_GET) {
        http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL, "Use GET");
        return;
    }
    if (strcmp(path, HPREFIX) == 0) {
        do_history(a, r);
        return;
    }
    /* HPREFIX "/" VERSION "/diff" */
    const char *vs = path + strlen(HPREFIX) + 1, *slash = strchr(vs, '/');
    char ver[24];
    if (slash == NULL || strcmp(slash, "/diff") != 0 || (size_t)(slash - vs) >= sizeof(ver)) {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown Admin API path: %s", path);
        return;
    }
    memcpy(ver, vs, (size_t)(slash - vs));
    ver[slash - vs] = '\0';
    do_diff(a, r, ver);
}
