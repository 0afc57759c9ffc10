/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_priv.h: what admin.c (resources) and adminhist.c (history, diff,
 * rollback) share. Nothing else includes it.
 */
#ifndef AIGW_ADMIN_PRIV_H
#define AIGW_ADMIN_PRIV_H

#include <stddef.h>

#include "aigw/resource.h"
#include "admin.h"

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

/* adminhist.c */
/* GET /admin/v1/history, GET /admin/v1/history/{v}/diff, POST /admin/v1/rollback. */
void admin_history_handle(struct admin *a, struct http_req *r, int role);
/* Is path one adminhist.c serves? */
int admin_history_path(const char *path);

#endif
