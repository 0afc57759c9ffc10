/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.h: the Admin API (master): REST over Models and API keys, on its own
 * listeners. Every write is validated by the resource schema first. In
 * standalone mode writes go to the LMDB table; in etcd mode to etcd only
 * (the watch brings them back into LMDB, on every node).
 */
#ifndef AIGW_ADMIN_H
#define AIGW_ADMIN_H

#include <stdint.h>

#include "aigw/resource.h"

struct conf;
struct store;
struct http_req;
struct json_object;
struct admin;

/* Where writes go. Each call ends by calling done(arg, err, revision) exactly once. */
/* ECONFLICT: the If-Match revision (or create-only) check failed; ENAMECONFLICT: name or key taken
 */
enum {
    ADMIN_OK = 0,
    ADMIN_EIO = -1,
    ADMIN_ECONFLICT = -2,
    ADMIN_ENOTFOUND = -3,
    ADMIN_ENAMECONFLICT = -4
};
/* EUNKNOWN: sent, no answer: maybe applied; EIDENTITY: etcd is not the one the table came from */
enum { ADMIN_EUNKNOWN = -5, ADMIN_EIDENTITY = -6 };
typedef void (*admin_done_cb)(void *arg, int err, int64_t revision);
typedef void (*admin_rollback_cb)(void *arg, int err, int64_t version, int changes,
                                  const char *msg);
struct admin_backend {
    /* expect_rev: < 0 any, 0 must not exist, > 0 must have that revision */
    void (*put)(void *ctx, enum res_kind k, const char *id, struct json_object *doc,
                int64_t expect_rev, admin_done_cb done, void *arg);
    void (*del)(void *ctx, enum res_kind k, const char *id, int64_t expect_rev, admin_done_cb done,
                void *arg);
    /*
     * etcd mode: resources that lost their name or key to another, as
     * [{id, held_by, name}] (a new array); they are not in the table, and
     * a delete of one goes to etcd. NULL in standalone mode: none.
     */
    struct json_object *(*conflicts)(void *ctx, enum res_kind k);
    /*
     * The table as it was at version v (of this node's history), as one
     * change recorded with source ("admin:<key name>"); done(arg, err,
     * version or etcd revision, changes, message): ADMIN_ENOTFOUND when
     * the history does not hold v, ADMIN_ENAMECONFLICT when a name or key
     * taken since would be lost (message says which), ADMIN_ECONFLICT when
     * etcd changed under it.
     */
    void (*rollback)(void *ctx, uint64_t v, const char *source, admin_rollback_cb done, void *arg);
    /* The source of the following put or del ("admin:<key name>"); NULL: not recorded. */
    void (*source)(void *ctx, const char *source);
    /*
     * A declarative apply: set is {"models": {id: doc or null}, "api_keys":
     * {...}} (null: delete), written as one change recorded with source
     * (one LMDB transaction, or one etcd transaction guarded by revision
     * compares); done's revision is the configuration version (standalone)
     * or etcd revision it made.
     */
    void (*apply)(void *ctx, struct json_object *set, const char *source, admin_done_cb done,
                  void *arg);
    void *ctx;
};

/* The master's part of GET /admin/v1/status (adds fields to obj). */
typedef void (*admin_status_cb)(struct json_object *obj, void *arg);

struct admin *admin_new(const struct conf *c, struct store *s, const struct admin_backend *b,
                        admin_status_cb status, void *status_arg);
/* The http_handler of the admin listeners. */
void admin_handle(struct http_req *r, void *arg);
/* Their http_precheck: a body is read only for an allowed address and key (and role). */
struct http_refusal;
int admin_precheck(struct http_req *r, void *arg, struct http_refusal *f);
void admin_free(struct admin *a);

/* A list's page size: by default, and at most. */
#define ADMIN_LIST_DEFAULT 100
#define ADMIN_LIST_MAX 1000
/*
 * The page a list's query string q (raw, from the client) asks for: limit
 * (1 to ADMIN_LIST_MAX, ADMIN_LIST_DEFAULT when not given) and after (a
 * resource id, decoded into after[alen]; "" when not given). QUERY_OK, or
 * query_parse's error (query.h), QUERY_EVALUE also for a limit or an after
 * out of those bounds; *bad names the parameter (badbuf as query_parse).
 */
int admin_list_query(const char *q, size_t *limit, char *after, size_t alen, const char **bad,
                     char *badbuf, size_t badlen);
/*
 * A resource's path: "/admin/v1/" then "models" or "api_keys", then
 * optionally "/" and a valid id, then for an API key optionally "/rotate".
 * 0 with *k, id[il] and action[al] ("" when absent), or -1 (a 404).
 */
int admin_path_parse(const char *path, enum res_kind *k, char *id, size_t il, char *action,
                     size_t al);

/* The standalone backend: writes straight into the LMDB table. */
void admin_backend_lmdb(struct admin_backend *b, struct store *s);

#endif
