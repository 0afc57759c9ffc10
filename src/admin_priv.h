/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_priv.h: what admin.c (resources), adminhist.c (history, diff,
 * rollback) and adminapply.c (apply, export) share. Nothing else includes it.
 */
#ifndef AIGW_ADMIN_PRIV_H
#define AIGW_ADMIN_PRIV_H

#include <stddef.h>

#include "aigw/resource.h"
#include "admin.h"

struct aigw_errors;

struct admin {
    const struct conf *conf;
    struct store *store;
    struct admin_backend be;
    admin_status_cb status;
    void *status_arg;
};

/* admin.c */
void admin_reply_json(struct http_req *r, int status, struct json_object *o);
/* A copy of a stored document as the API shows it (every secret masked, targets' too). */
struct json_object *admin_shown_value(enum res_kind k, const char *json, size_t len);
/* The request's body as one JSON object, or NULL after replying 400/415. */
struct json_object *admin_body_object(struct http_req *r);
/* The source a write of this request is recorded with: "admin:<key name>" or "admin". */
void admin_source(struct http_req *r, char *out, size_t len);
/* 400 invalid_resource with every error of e. */
void admin_reply_invalid(struct http_req *r, struct aigw_errors *e);
/* Masked api_keys of a model doc put back from old (its stored doc); -1: one matches nothing. */
int admin_unmask(struct json_object *doc, struct json_object *old);
/* -1 after a 409 when id is the resources file's (standalone with a resources file). */
int admin_refuse_file_owned(struct admin *a, struct http_req *r, enum res_kind k, const char *id);

/* adminhist.c */
/* GET /admin/v1/history, GET /admin/v1/history/{v}/diff, POST /admin/v1/rollback. */
void admin_history_handle(struct admin *a, struct http_req *r, int role);
/* Is path one adminhist.c serves? */
int admin_history_path(const char *path);

/* adminapply.c */
/* POST /admin/v1/apply */
void admin_apply(struct admin *a, struct http_req *r);
/* GET /admin/v1/export (?reveal_secrets=true needs the admin role) */
void admin_export(struct admin *a, struct http_req *r, int role);
/* The standalone backend's apply: one LMDB write transaction. */
void admin_lmdb_apply(void *ctx, struct json_object *set, const char *source, admin_done_cb done,
                      void *arg);

#endif
