/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c: the Admin API, served by the master on its own listeners.
 *
 *   GET    /admin/v1/status
 *   GET    /admin/v1/{models,api_keys,credentials}          list, a page (?limit=N&after=ID)
 *   POST   /admin/v1/{models,api_keys,credentials}          create, with a generated id
 *   GET    /admin/v1/{models,api_keys,credentials}/{id}
 *   PUT    /admin/v1/{models,api_keys,credentials}/{id}     create or replace (If-Match)
 *   DELETE /admin/v1/{models,api_keys,credentials}/{id}     (If-Match: revision; 409 while a
 *                                                            model names the credential)
 *   POST   /admin/v1/api_keys/{id}/rotate       a new key; the old one stops working
 *   POST   /admin/v1/apply                      a whole configuration, one change (adminapply.c)
 *   GET    /admin/v1/export                     the configuration as a resources file
 *
 * Reads come from this node's LMDB table. Writes are validated by the one
 * resource schema, checked for name and key conflicts against the table, and
 * handed to the backend (LMDB in standalone mode, etcd in etcd mode). Without
 * If-Match the last writer wins. Provider secrets are never returned; an API
 * key's plaintext only once, when it is created or rotated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "access.h"
#include "auth.h"
#include "aigw/conf.h"
#include "aigw/errors.h"
#include "log.h"
#include "store.h"
#include "aigw/util.h"
#include "admin.h"
#include "admin_priv.h"
#include "http.h"
#include "query.h"
#include "aigw/utf8.h"

#define ADMIN_MAX_BODY (1 << 20)
#define PREFIX "/admin/v1/"

/* A write waiting for its backend; outlives the request if the client leaves. */
struct admin_op {
    struct admin *a;
    struct http_req *r; /* NULL once the client is gone */
    enum res_kind kind;
    char id[RES_ID_MAX + 1];
    struct json_object *value; /* what the response shows (masked) */
    char *plainkey;            /* a generated API key, shown once */
    int created;
    int is_delete;
};

/* ---- small helpers ---- */

void
admin_reply_json(struct http_req *r, int status, struct json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    http_reply(r, status, "application/json", s, strlen(s));
}

/* A random id of 16 hex digits. */
static void
new_id(char *out)
{
    uint8_t b[8];
    RAND_bytes(b, sizeof(b));
    hex_encode(b, sizeof(b), out);
}

/* "sk-" and 32 random bytes in base64url (43 characters). */
static char *
new_key(void)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t b[33];
    char *k = malloc(3 + 44 + 1);
    if (k == NULL || RAND_bytes(b, 32) != 1) {
        free(k);
        return NULL;
    }
    b[32] = 0;
    memcpy(k, "sk-", 3);
    size_t o = 3;
    for (int i = 0; i < 33; i += 3) { /* 11 groups; the last one is padding */
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        for (int j = 3; j >= 0; j--)
            if (o < 3 + 43)
                k[o++] = b64[(v >> (6 * j)) & 63];
    }
    k[o] = '\0';
    explicit_bzero(b, sizeof(b));
    return k;
}

/* How a provider secret is shown: "****" and its last four characters. */
static void
mask_secret(const char *s, char *out, size_t outlen)
{
    size_t n = strlen(s);
    if (n == 0)
        snprintf(out, outlen, "%s", "");
    else if (n >= 12)
        snprintf(out, outlen, "****%s", s + n - 4);
    else
        snprintf(out, outlen, "****");
}

/* The secret members of a model, a target or a credential: masked in every read. */
static const char *const secret_fields[] = {"api_key", "aws_secret_access_key",
                                            "aws_session_token"};
#define NSECRET_FIELDS (sizeof(secret_fields) / sizeof(secret_fields[0]))

/* Mask the secrets of one object (the model, or one of its targets) in place. */
static void
mask_member(struct json_object *o)
{
    struct json_object *v;
    char m[16];
    for (size_t f = 0; f < NSECRET_FIELDS; f++)
        if (o != NULL && json_object_object_get_ex(o, secret_fields[f], &v) &&
            json_object_is_type(v, json_type_string)) {
            mask_secret(json_object_get_string(v), m, sizeof(m));
            json_object_object_add(o, secret_fields[f], json_object_new_string(m));
        }
}

/* "model", "API key", "credential": a kind in a message. */
static const char *
kind_label(enum res_kind k)
{
    return k == RES_MODEL ? "model" : k == RES_API_KEY ? "API key" : "credential";
}

/* A copy of a stored document as the API shows it (every secret masked, targets' too). */
struct json_object *
admin_shown_value(enum res_kind k, const char *json, size_t len)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len), *t;
    json_tokener_free(tok);
    if (o != NULL && k == RES_CREDENTIAL)
        mask_member(o);
    if (o != NULL && k == RES_MODEL) {
        mask_member(o);
        if (json_object_object_get_ex(o, "targets", &t) && json_object_is_type(t, json_type_array))
            for (size_t i = 0; i < json_object_array_length(t); i++)
                mask_member(json_object_array_get_idx(t, i));
    }
    return o;
}

static struct json_object *
item_json(const char *id, struct json_object *value, int64_t revision)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(id));
    json_object_object_add(o, "value", value);
    json_object_object_add(o, "revision", json_object_new_int64(revision));
    return o;
}

/*
 * 409 when id is defined by the resources file (standalone mode with
 * resources_file): the next reload would put the file's version back, so an
 * Admin API change to it would be silently undone. The file is where it
 * changes. 0 when the resource is not the file's.
 */
int
admin_refuse_file_owned(struct admin *a, struct http_req *r, enum res_kind k, const char *id)
{
    struct store_doc d;
    int owned = 0;
    if (a->conf->etcd_nendpoints > 0 || a->conf->resources[0] == '\0' ||
        store_read_begin(a->store) < 0)
        return 0;
    owned = store_doc_read(a->store, k, id, &d) == STORE_OK && d.origin == STORE_ORIGIN_FILE;
    store_read_end(a->store);
    if (!owned)
        return 0;
    http_reply_error(r, 409, "invalid_request_error", "file_owned", NULL,
                     "%s/%s is defined in the resources file %s: change it there and reload "
                     "(aigwctl reload); the Admin API does not write what a reload would undo",
                     res_kind_name(k), id, a->conf->resources);
    return -1;
}

/* ---- authorization ---- */

/* Is the client's address inside one of admin.allow? */
static int
peer_allowed(const struct conf *c, const char *peer)
{
    uint8_t a[16];
    int fam = inet_pton(AF_INET, peer, a) == 1    ? AF_INET
              : inet_pton(AF_INET6, peer, a) == 1 ? AF_INET6
                                                  : 0;
    for (int i = 0; fam && i < c->admin_nallow; i++) {
        const struct conf_cidr *n = &c->admin_allow[i];
        if (n->family != fam)
            continue;
        int full = n->bits / 8, rest = n->bits % 8;
        if (memcmp(a, n->addr, (size_t)full) != 0)
            continue;
        if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) != 0)
            continue;
        return 1;
    }
    return 0;
}

/* The role of the request's admin key, or 0 with the refusal (401/403) in f. */
static int
admin_role(struct admin *a, struct http_req *r, struct http_refusal *f)
{
    const struct conf *c = a->conf;
    if (!peer_allowed(c, http_req_peer(r))) {
        http_refuse(f, 403, "permission_error", "address_not_allowed",
                    "The Admin API does not accept requests from %s (admin.allow)",
                    http_req_peer(r));
        return 0;
    }
    /* keyless only by the opt-in, on loopback listeners (conf_check_admin); else a key */
    if (c->admin_nkeys == 0 && c->admin_allow_keyless)
        return ADMIN_ROLE_ADMIN;
    const char *k = http_req_header(r, "authorization");
    if (k != NULL && strncasecmp(k, "Bearer ", 7) == 0)
        k += 7;
    else
        k = http_req_header(r, "x-api-key");
    if (k == NULL || *k == '\0') {
        http_refuse(f, 401, "authentication_error", "missing_admin_key",
                    "An admin key is required (Authorization: Bearer or X-API-KEY)");
        return 0;
    }
    uint8_t h[AUTH_HASH_LEN];
    int role = 0;
    auth_key_hash(k, strlen(k), h);
    /* Every key is compared, in constant time: no early exit tells which prefix matched. */
    int which = -1;
    for (int i = 0; i < c->admin_nkeys; i++)
        if (CRYPTO_memcmp(h, c->admin_keys[i].hash, sizeof(h)) == 0) {
            role = c->admin_keys[i].role;
            which = i;
        }
    if (which >= 0)
        snprintf(access_of(r)->key, sizeof(access_of(r)->key), "%s", c->admin_keys[which].name);
    if (role == 0)
        http_refuse(f, 401, "authentication_error", "invalid_admin_key", "Invalid admin key");
    return role;
}

/* The role of the request's admin key, or 0 after replying 401/403. */
static int
authorize(struct admin *a, struct http_req *r)
{
    struct http_refusal f = {0};
    int role = admin_role(a, r, &f);
    if (role == 0)
        http_reply_refusal(r, &f);
    return role;
}

int
admin_precheck(struct http_req *r, void *arg, struct http_refusal *f)
{
    int role = admin_role(arg, r, f);
    if (role == 0)
        return 1;
    if (role != ADMIN_ROLE_ADMIN && http_req_method(r) != HTTP_M_GET)
        return http_refuse(f, 403, "permission_error", "read_only_key",
                           "This admin key has the viewer role: GET only");
    return 0;
}

/* ---- reads ---- */

/*
 * A list is one page of at most `limit` resources in id order, after the id
 * `after`: the master's loop serves it, so it costs O(page) whatever the
 * size of the table (aigw-admin(7), PAGINATION).
 */
#define LIST_DEFAULT ADMIN_LIST_DEFAULT
#define LIST_MAX ADMIN_LIST_MAX
/*
 * A page also ends before its documents pass 1 MiB together (its first one
 * is always in, and is at most ADMIN_MAX_BODY): an API key may list
 * thousands of allowed models, and 1000 of those would be a gigabyte.
 */
#define LIST_BYTES (1 << 20)

struct list_ctx {
    enum res_kind k;
    size_t limit;
    size_t bytes; /* of the stored documents in the page */
    int has_more; /* a resource past this page exists */
    struct json_object *items;
};

/* One resource into the page; the one past the page only says there are more. */
static int
list_add(const struct store_doc *d, void *arg)
{
    struct list_ctx *l = arg;
    size_t n = json_object_array_length(l->items);
    if (n >= l->limit || (n > 0 && l->bytes + d->len > LIST_BYTES)) {
        l->has_more = 1;
        return 1;
    }
    l->bytes += d->len;
    struct json_object *v = admin_shown_value(l->k, d->json, d->len);
    if (v != NULL)
        json_object_array_add(l->items, item_json(d->id, v, d->revision));
    return 0;
}

/* 400 for a bad value of a list's parameter, saying what it takes. */
static void
list_bad_value(struct http_req *r, const char *name)
{
    if (strcmp(name, "limit") == 0)
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "limit",
                         "limit must be an integer from 1 to %d (default %d)", LIST_MAX,
                         LIST_DEFAULT);
    else
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", "after",
                         "after must be the id of a resource (1 to %d of A-Z a-z 0-9 . _ -): "
                         "last_id of the previous page",
                         RES_ID_MAX);
}

/* The page a list's query string asks for (admin.h). */
int
admin_list_query(const char *q, size_t *limit, char *after, size_t alen, const char **bad,
                 char *badbuf, size_t badlen)
{
    char lim[8];
    struct query_param p[2] = {{"limit", lim, sizeof(lim), 0}, {"after", after, alen, 0}};
    int rc = query_parse(q, p, 2, bad, badbuf, badlen);
    if (rc != QUERY_OK)
        return rc;
    *limit = LIST_DEFAULT;
    if (p[0].seen) {
        /* digits only: no sign, no space, no 0x, and no more than the buffer holds */
        size_t v = 0, i;
        for (i = 0; lim[i] >= '0' && lim[i] <= '9'; i++)
            v = v * 10 + (size_t)(lim[i] - '0');
        if (i == 0 || lim[i] != '\0' || v < 1 || v > LIST_MAX) {
            *bad = "limit";
            return QUERY_EVALUE;
        }
        *limit = v;
    }
    if (p[1].seen && res_id_valid(after) < 0) {
        *bad = "after";
        return QUERY_EVALUE;
    }
    return QUERY_OK;
}

/* The page a list request asks for (limit, after); -1 once a 400 is sent. */
static int
list_page(struct http_req *r, size_t *limit, char *after, size_t alen)
{
    char badbuf[64];
    const char *bad;
    int rc = admin_list_query(http_req_query(r), limit, after, alen, &bad, badbuf, sizeof(badbuf));
    if (rc == QUERY_ETOOLONG) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", NULL,
                         "The query string is longer than %d bytes", QUERY_MAX);
        return -1;
    }
    if (rc == QUERY_EUNKNOWN) {
        http_reply_error(r, 400, "invalid_request_error", "unknown_parameter", bad,
                         "Unknown query parameter %s: lists take limit and after", bad);
        return -1;
    }
    if (rc == QUERY_EREPEATED) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_parameter", bad,
                         "%s is given more than once", bad);
        return -1;
    }
    if (rc != QUERY_OK) {
        list_bad_value(r, bad);
        return -1;
    }
    return 0;
}

/* The id of a page's first or last item, or null for an empty page. */
static struct json_object *
list_edge_id(struct json_object *items, int last)
{
    size_t n = json_object_array_length(items);
    if (n == 0)
        return NULL;
    struct json_object *it = json_object_array_get_idx(items, last ? n - 1 : 0);
    return json_object_get(json_object_object_get(it, "id"));
}

/* GET a collection: {total, items, has_more, first_id, last_id}. */
static void
do_list(struct admin *a, struct http_req *r, enum res_kind k)
{
    char after[RES_ID_MAX + 2];
    struct list_ctx l = {k, 0, 0, 0, NULL};
    int64_t total = 0;
    if (list_page(r, &l.limit, after, sizeof(after)) < 0)
        return;
    l.items = json_object_new_array();
    if (store_read_begin(a->store) == 0) {
        /* total is LMDB's count of the table (O(1)), not the page's */
        total = store_docs_count(a->store, k);
        store_docs_after(a->store, k, after, list_add, &l);
        store_read_end(a->store);
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "total", json_object_new_int64(total));
    json_object_object_add(o, "items", l.items);
    json_object_object_add(o, "has_more", json_object_new_boolean(l.has_more));
    json_object_object_add(o, "first_id", list_edge_id(l.items, 0));
    json_object_object_add(o, "last_id", list_edge_id(l.items, 1));
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

/* The stored JSON and revision of one resource (caller frees); NULL when absent. */
static char *
stored(struct admin *a, enum res_kind k, const char *id, int64_t *rev, size_t *len)
{
    struct store_doc d;
    char *json = NULL;
    if (store_read_begin(a->store) < 0)
        return NULL;
    if (store_doc_read(a->store, k, id, &d) == STORE_OK && (json = malloc(d.len + 1)) != NULL) {
        memcpy(json, d.json, d.len);
        json[d.len] = '\0';
        *rev = d.revision;
        *len = d.len;
    }
    store_read_end(a->store);
    return json;
}

static void
do_get(struct admin *a, struct http_req *r, enum res_kind k, const char *id)
{
    int64_t rev = 0;
    size_t len = 0;
    char *json = stored(a, k, id, &rev, &len);
    if (json == NULL) {
        http_reply_error(r, 404, "invalid_request_error", "not_found", NULL, "No %s with id %s",
                         kind_label(k), id);
        return;
    }
    struct json_object *o = item_json(id, admin_shown_value(k, json, len), rev);
    free(json);
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

/* ---- writes ---- */

static void
op_free(struct admin_op *op)
{
    json_object_put(op->value);
    if (op->plainkey != NULL) {
        explicit_bzero(op->plainkey, strlen(op->plainkey));
        free(op->plainkey);
    }
    free(op);
}

/* The client left before the backend answered: the write still completes. */
static void
op_abort(void *arg)
{
    struct admin_op *op = arg;
    http_req_release(op->r);
    op->r = NULL;
}

/*
 * A write etcd may or may not have applied (sent, never answered): say so
 * with its own status and code, never "nothing was changed". The value it
 * carried comes along, and a generated or rotated key with it: a key that
 * may be in force must have been shown, or its holder is locked out.
 */
static void
op_unknown(struct admin_op *op)
{
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(
        e, "message",
        json_object_new_string("The change was sent to etcd and no answer came: it may or may "
                               "not be applied. Read the resource back (GET) to know; a key "
                               "shown here is in force if the change was applied"));
    json_object_object_add(e, "type", json_object_new_string("server_error"));
    json_object_object_add(e, "param", NULL);
    json_object_object_add(e, "code", json_object_new_string("write_outcome_unknown"));
    json_object_object_add(o, "error", e);
    json_object_object_add(o, "id", json_object_new_string(op->id));
    if (!op->is_delete) {
        struct json_object *v = json_object_get(op->value);
        if (op->plainkey != NULL)
            json_object_object_add(v, "key", json_object_new_string(op->plainkey));
        json_object_object_add(o, "value", v);
    }
    access_of(op->r)->error = "write_outcome_unknown"; /* the access line names it */
    admin_reply_json(op->r, 504, o);
    json_object_put(o);
}

/* The backend's answer to a put or delete. */
static void
op_done(void *arg, int err, int64_t revision)
{
    struct admin_op *op = arg;
    struct http_req *r = op->r;
    if (r == NULL) {
        op_free(op);
        return;
    }
    if (err == ADMIN_ECONFLICT) {
        http_reply_error(r, 412, "invalid_request_error", "revision_mismatch", NULL,
                         "The resource changed (or exists, or not) since the revision given in "
                         "If-Match");
    } else if (err == ADMIN_ENAMECONFLICT) {
        http_reply_error(r, 409, "invalid_request_error", "conflict", NULL,
                         "The model name or key of %s is in use by another resource", op->id);
    } else if (err == ADMIN_ENOTFOUND) {
        http_reply_error(r, 404, "invalid_request_error", "not_found", NULL, "No resource %s",
                         op->id);
    } else if (err == ADMIN_EUNKNOWN) {
        op_unknown(op);
    } else if (err == ADMIN_EIDENTITY) {
        http_reply_error(r, 503, "server_error", "etcd_identity_mismatch", NULL,
                         "etcd is not the cluster (or revision) this node's configuration came "
                         "from; nothing was changed. See aigwctl status and aigwctl etcd accept");
    } else if (err != ADMIN_OK) {
        http_reply_error(r, 503, "server_error", "store_unavailable", NULL,
                         "The configuration store did not take the change; nothing was changed");
    } else if (op->is_delete) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(op->id));
        json_object_object_add(o, "revision", json_object_new_int64(revision));
        admin_reply_json(r, 200, o);
        json_object_put(o);
    } else {
        struct json_object *v = json_object_get(op->value);
        if (op->plainkey != NULL) /* shown this once, never stored */
            json_object_object_add(v, "key", json_object_new_string(op->plainkey));
        struct json_object *o = item_json(op->id, v, revision);
        admin_reply_json(r, op->created ? 201 : 200, o);
        json_object_put(o);
    }
    op_free(op);
}

/* If-Match: a revision, or -1 when absent; -2 when malformed (400 sent). */
static int64_t
if_match(struct http_req *r)
{
    const char *h = http_req_header(r, "if-match");
    if (h == NULL)
        return -1;
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '"' && h[n - 1] == '"') { /* an ETag-style quoted value too */
        h++;
        n -= 2;
    }
    long long v = 0;
    size_t i;
    for (i = 0; i < n && h[i] >= '0' && h[i] <= '9' && v <= (INT64_MAX - 9) / 10; i++)
        v = v * 10 + (h[i] - '0');
    if (n == 0 || i != n) {
        http_reply_error(r, 400, "invalid_request_error", "bad_if_match", NULL,
                         "If-Match must be a resource revision (an integer)");
        return -2;
    }
    return v;
}

/*
 * Is ct the media type application/json (RFC 9110: type/subtype, any case,
 * white space around it, then nothing or ";" and parameters such as
 * charset=utf-8)? A prefix is not enough: application/jsonfoo is another type.
 */
static int
admin_json_type(const char *ct)
{
    if (ct == NULL)
        return 0;
    ct += strspn(ct, " \t");
    if (strncasecmp(ct, "application/json", 16) != 0)
        return 0;
    ct += 16;
    ct += strspn(ct, " \t");
    return *ct == '\0' || *ct == ';';
}

/* Parse the body as a JSON object (415, 413, 400 otherwise). */
struct json_object *
admin_body_object(struct http_req *r)
{
    const char *ct = http_req_header(r, "content-type");
    if (!admin_json_type(ct)) {
        http_reply_error(r, 415, "invalid_request_error", "unsupported_media_type", NULL,
                         "Content-Type must be application/json");
        return NULL;
    }
    struct evbuffer *b = http_req_body(r);
    size_t len = evbuffer_get_length(b);
    if (len > ADMIN_MAX_BODY) {
        http_reply_error(r, 413, "invalid_request_error", "request_too_large", NULL,
                         "Admin API bodies are limited to %d bytes", ADMIN_MAX_BODY);
        return NULL;
    }
    const char *text = (const char *)evbuffer_pullup(b, -1);
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o =
        json_lexically_strict(text, len) == 0 ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    int complete = json_tokener_get_error(tok) == json_tokener_success &&
                   json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (o == NULL || !complete || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        http_reply_error(r, 400, "invalid_request_error", "invalid_json", NULL,
                         "The body must be one JSON object");
        return NULL;
    }
    return o;
}

/* 400 with every validation error, each with its JSON path. */
void
admin_reply_invalid(struct http_req *r, struct aigw_errors *e)
{
    struct json_object *o = json_object_new_object(), *err = json_object_new_object();
    struct json_object *details = json_object_new_array();
    char *msg = errors_join(e);
    char param[128] = "";
    if (e->n > 0) {
        snprintf(param, sizeof(param), "%s", e->msgs[0]);
        param[strcspn(param, ":")] = '\0';
    }
    /* The paths name the client's members, whatever their bytes: made UTF-8. */
    for (int i = 0; i < e->n; i++)
        json_object_array_add(details, utf8_json_string(e->msgs[i]));
    json_object_object_add(err, "message", utf8_json_string(msg ? msg : "invalid"));
    json_object_object_add(err, "type", json_object_new_string("invalid_request_error"));
    json_object_object_add(err, "param", param[0] ? utf8_json_string(param) : NULL);
    json_object_object_add(err, "code", json_object_new_string("invalid_resource"));
    json_object_object_add(err, "details", details);
    json_object_object_add(o, "error", err);
    admin_reply_json(r, 400, o);
    json_object_put(o);
    free(msg);
}

/* The stored secret of old whose mask is m: first the object at the same place (the
   model itself for i < 0, else targets[i]), then any other. NULL when none. */
static struct json_object *
stored_secret(struct json_object *old, int i, const char *field, const char *m)
{
    struct json_object *t = NULL, *cands[1 + MODEL_MAX_TARGETS], *v;
    int n = 0;
    char mm[16];
    if (old == NULL)
        return NULL;
    json_object_object_get_ex(old, "targets", &t);
    size_t nt =
        t != NULL && json_object_is_type(t, json_type_array) ? json_object_array_length(t) : 0;
    if (i < 0)
        cands[n++] = old;
    else if ((size_t)i < nt)
        cands[n++] = json_object_array_get_idx(t, (size_t)i);
    cands[n++] = old;
    for (size_t j = 0; j < nt && n < 1 + MODEL_MAX_TARGETS; j++)
        cands[n++] = json_object_array_get_idx(t, j);
    for (int c = 0; c < n; c++)
        if (cands[c] != NULL && json_object_object_get_ex(cands[c], field, &v) &&
            json_object_is_type(v, json_type_string)) {
            mask_secret(json_object_get_string(v), mm, sizeof(mm));
            if (strcmp(mm, m) == 0)
                return v;
        }
    return NULL;
}

/* One object's masked secrets put back from old: 0, or -1 when one matches nothing. */
static int
unmask_member(struct json_object *o, struct json_object *old, int i)
{
    struct json_object *v, *sv;
    for (size_t f = 0; f < NSECRET_FIELDS; f++) {
        if (o == NULL || !json_object_object_get_ex(o, secret_fields[f], &v) ||
            !json_object_is_type(v, json_type_string) ||
            strncmp(json_object_get_string(v), "****", 4) != 0)
            continue;
        if ((sv = stored_secret(old, i, secret_fields[f], json_object_get_string(v))) == NULL)
            return -1;
        json_object_object_add(o, secret_fields[f], json_object_get(sv));
    }
    return 0;
}

int
admin_unmask(struct json_object *doc, struct json_object *old)
{
    struct json_object *t;
    int bad = unmask_member(doc, old, -1) < 0;
    if (json_object_object_get_ex(doc, "targets", &t) && json_object_is_type(t, json_type_array))
        for (size_t i = 0; i < json_object_array_length(t); i++)
            bad |= unmask_member(json_object_array_get_idx(t, i), old, (int)i) < 0;
    return bad ? -1 : 0;
}

/*
 * A masked api_key sent back unchanged (GET, edit, PUT) keeps the stored
 * secret, the model's or a target's; any other value starting with "****"
 * is refused.
 */
static int
unmask_secret(struct admin *a, struct http_req *r, enum res_kind k, const char *id,
              struct json_object *doc)
{
    int64_t rev;
    size_t len;
    char *json = id ? stored(a, k, id, &rev, &len) : NULL;
    struct json_object *old = json ? json_tokener_parse(json) : NULL;
    if (json != NULL) {
        explicit_bzero(json, len);
        free(json);
    }
    int bad = admin_unmask(doc, old) < 0;
    json_object_put(old);
    if (!bad)
        return 0;
    http_reply_error(r, 400, "invalid_request_error", "masked_secret", "api_key",
                     "api_key (or aws_secret_access_key, aws_session_token) is a masked value "
                     "that does not match the stored secret: send the secret itself");
    return -1;
}

/* 409 when the doc's model name or key belongs to another resource. */
static int
check_conflict(struct admin *a, struct http_req *r, enum res_kind k, const char *id,
               struct json_object *doc)
{
    char idx[512];
    size_t ilen;
    const char *owner = NULL;
    char ownbuf[RES_ID_MAX + 1] = "";
    if (res_index_key(k, doc, idx, sizeof(idx) - 1, &ilen) < 0 || store_read_begin(a->store) < 0)
        return 0;
    if (k == RES_MODEL) {
        struct model_view v;
        if (store_model_by_name(a->store, idx, ilen, &v) == STORE_OK)
            snprintf(ownbuf, sizeof(ownbuf), "%s", v.id);
    } else if (k == RES_CREDENTIAL) {
        struct cred_view v;
        if (store_cred_by_name(a->store, idx, ilen, &v) == STORE_OK)
            snprintf(ownbuf, sizeof(ownbuf), "%s", v.id);
    } else {
        struct key_view v;
        if (store_key_by_hash(a->store, (const uint8_t *)idx, &v) == STORE_OK)
            snprintf(ownbuf, sizeof(ownbuf), "%s", v.id);
    }
    store_read_end(a->store);
    owner = ownbuf[0] ? ownbuf : NULL;
    if (owner == NULL || strcmp(owner, id) == 0)
        return 0;
    if (k != RES_API_KEY) {
        idx[ilen] = '\0';
        http_reply_error(r, 409, "invalid_request_error", "conflict", "name",
                         "A %s named %s exists already (id %s)", kind_label(k), idx, owner);
    } else {
        http_reply_error(r, 409, "invalid_request_error", "conflict", "key",
                         "This key is in use by API key %s", owner);
    }
    return -1;
}

void
admin_source(struct http_req *r, char *out, size_t len)
{
    const char *name = access_of(r)->key; /* the admin key's name, never the key */
    if (name[0] == '\0')
        snprintf(out, len, "admin");
    else
        snprintf(out, len, "admin:%s", name);
}

/* Tell the backend who writes next, for the history of versions. */
static void
backend_source(struct admin *a, struct http_req *r)
{
    char src[300];
    if (a->be.source == NULL)
        return;
    admin_source(r, src, sizeof(src));
    a->be.source(a->be.ctx, src);
}

/* store_models_foreach's callback: the models whose targets name one credential. */
struct cred_users {
    const char *name;
    struct json_object *models; /* [model name, ...] */
};

static int
cred_users_cb(const struct model_view *v, void *arg)
{
    struct cred_users *u = arg;
    for (int i = 0; i < v->ntargets; i++)
        if (strcmp(v->t[i].credential, u->name) == 0) {
            json_object_array_add(u->models, json_object_new_string(v->name));
            break;
        }
    return json_object_array_length(u->models) >= 20; /* enough to name in a message */
}

/*
 * 409 credential_in_use when the stored credential id is named by a model
 * and doc (NULL: a delete) would take its name away: its models would lose
 * their provider. The message names them (up to 20).
 */
static int
cred_in_use(struct admin *a, struct http_req *r, const char *id, struct json_object *doc)
{
    int64_t rev;
    size_t len;
    char *json = stored(a, RES_CREDENTIAL, id, &rev, &len);
    struct json_object *old = json ? json_tokener_parse(json) : NULL, *n, *nn;
    if (json != NULL) {
        explicit_bzero(json, len);
        free(json);
    }
    int rv = 0;
    if (old == NULL || !json_object_object_get_ex(old, "name", &n) ||
        (doc != NULL && json_object_object_get_ex(doc, "name", &nn) &&
         strcmp(json_object_get_string(n), json_object_get_string(nn)) == 0))
        goto out;
    struct cred_users u = {json_object_get_string(n), json_object_new_array()};
    if (store_read_begin(a->store) == 0) {
        store_models_foreach(a->store, cred_users_cb, &u);
        store_read_end(a->store);
    }
    size_t nm = json_object_array_length(u.models);
    if (nm > 0) {
        char list[2048] = "";
        for (size_t i = 0; i < nm; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     json_object_get_string(json_object_array_get_idx(u.models, i)));
        http_reply_error(r, 409, "invalid_request_error", "credential_in_use", "name",
                         "Credential %s is used by model%s %s: %s those models first", u.name,
                         nm == 1 ? "" : "s", list,
                         doc ? "keep its name, or change" : "change or delete");
        rv = -1;
    }
    json_object_put(u.models);
out:
    json_object_put(old);
    return rv;
}

/* res_cred_fn over the node's table, inside a read transaction. */
static int
table_cred(const char *name, const void **rec, size_t *len, void *arg)
{
    return store_cred_record(arg, name, rec, len) == STORE_OK ? 0 : -1;
}

/*
 * A Model's targets that name a credential, compiled against the table as
 * a write would: 400 credential_not_found for a credential that does not
 * exist, 400 invalid_resource for a model that cannot be a URL path
 * segment of the credential's provider (validation could not know it).
 */
static int
check_cred_refs(struct admin *a, struct http_req *r, const char *id, struct json_object *doc)
{
    void *rec = NULL;
    size_t len = 0;
    struct model_view v;
    int rv = 0;
    if (store_read_begin(a->store) < 0)
        return 0;
    if (res_compile_with(RES_MODEL, id, doc, table_cred, a->store, &rec, &len) < 0 ||
        model_view_decode(rec, len, &v) < 0)
        goto out;
    for (int i = 0; i < v.ntargets && rv == 0; i++) {
        const struct target_view *t = &v.t[i];
        if (t->credential_missing == CRED_MISSING) {
            http_reply_error(r, 400, "invalid_request_error", "credential_not_found", "credential",
                             "No credential named %s: create it first (/admin/v1/credentials)",
                             t->credential);
            rv = -1;
        } else if (t->credential_missing == CRED_UNFIT) {
            http_reply_error(r, 400, "invalid_request_error", "invalid_resource", "model",
                             "Target %s: model %s must be a deployment or model name for the "
                             "provider of credential %s: letters, digits, '.', '_', '-'",
                             t->name, t->upstream_model, t->credential);
            rv = -1;
        }
    }
out:
    store_read_end(a->store);
    if (rec != NULL) {
        explicit_bzero(rec, len);
        free(rec);
    }
    return rv;
}

/* Validate, check, and hand a put to the backend; takes doc. */
static void
put_resource(struct admin *a, struct http_req *r, enum res_kind k, const char *id,
             struct json_object *doc, int64_t expect, int created, char *plainkey)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    if (k != RES_API_KEY && unmask_secret(a, r, k, created ? NULL : id, doc) < 0)
        goto fail;
    if (res_validate(k, doc, "", &e) < 0) {
        admin_reply_invalid(r, &e);
        goto fail;
    }
    if (check_conflict(a, r, k, id, doc) < 0)
        goto fail;
    /* a valid document for a resource of the resources file: the file is where it changes */
    if (!created && admin_refuse_file_owned(a, r, k, id) < 0)
        goto fail;
    if (k == RES_CREDENTIAL && !created && cred_in_use(a, r, id, doc) < 0)
        goto fail;
    if (k == RES_MODEL && check_cred_refs(a, r, id, doc) < 0)
        goto fail;
    struct admin_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        goto fail;
    }
    const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    op->a = a;
    op->r = r;
    op->kind = k;
    op->created = created;
    op->plainkey = plainkey;
    op->value = admin_shown_value(k, json, strlen(json));
    snprintf(op->id, sizeof(op->id), "%s", id);
    http_req_set_callbacks(r, op_abort, NULL, op);
    backend_source(a, r);
    a->be.put(a->be.ctx, k, id, doc, expect, op_done, op);
    errors_free(&e);
    json_object_put(doc);
    return;
fail:
    errors_free(&e);
    json_object_put(doc);
    if (plainkey != NULL) {
        explicit_bzero(plainkey, strlen(plainkey));
        free(plainkey);
    }
}

/* POST to a collection, or PUT to an id. */
static void
do_write(struct admin *a, struct http_req *r, enum res_kind k, const char *id)
{
    char gen[17];
    int64_t expect = id ? if_match(r) : 0;
    if (expect == -2)
        return;
    struct json_object *doc = admin_body_object(r), *v;
    if (doc == NULL)
        return;
    if (id == NULL) {
        new_id(gen);
        id = gen;
    }
    char *plainkey = NULL;
    int64_t rev;
    size_t len;
    char *old = stored(a, k, id, &rev, &len);
    int created = old == NULL;
    int nokey = k == RES_API_KEY && !json_object_object_get_ex(doc, "key", &v) &&
                !json_object_object_get_ex(doc, "key_sha256", &v) &&
                !json_object_object_get_ex(doc, "jwt", &v); /* a JWT binding has no key */
    /* Replacing an API key without naming a key keeps its key (rotate makes a new one). */
    if (nokey && old != NULL) {
        struct json_object *od = json_tokener_parse(old), *h;
        if (od != NULL && json_object_object_get_ex(od, "key_sha256", &h))
            json_object_object_add(doc, "key_sha256", json_object_get(h));
        json_object_put(od);
        nokey = 0;
    }
    free(old);
    /* An API key created without a key gets a generated one. */
    if (nokey) {
        if ((plainkey = new_key()) == NULL) {
            json_object_put(doc);
            http_reply_error(r, 500, "server_error", "no_entropy", NULL, "Cannot make a key");
            return;
        }
        json_object_object_add(doc, "key", json_object_new_string(plainkey));
    }
    put_resource(a, r, k, id, doc, expect, created, plainkey);
}

/* POST /admin/v1/api_keys/{id}/rotate: a new key for an existing API key. */
static void
do_rotate(struct admin *a, struct http_req *r, const char *id)
{
    int64_t rev;
    size_t len;
    if (admin_refuse_file_owned(a, r, RES_API_KEY, id) < 0)
        return;
    char *json = stored(a, RES_API_KEY, id, &rev, &len);
    if (json == NULL) {
        http_reply_error(r, 404, "invalid_request_error", "not_found", NULL, "No API key %s", id);
        return;
    }
    struct json_object *doc = json_tokener_parse(json);
    free(json);
    char *plainkey = new_key();
    if (doc == NULL || plainkey == NULL) {
        json_object_put(doc);
        free(plainkey);
        http_reply_error(r, 500, "server_error", "rotate_failed", NULL, "Cannot rotate");
        return;
    }
    json_object_object_del(doc, "key_sha256");
    json_object_object_add(doc, "key", json_object_new_string(plainkey));
    put_resource(a, r, RES_API_KEY, id, doc, rev, 0, plainkey);
}

static void
do_delete(struct admin *a, struct http_req *r, enum res_kind k, const char *id)
{
    int64_t expect = if_match(r), rev;
    size_t len;
    if (expect == -2 || admin_refuse_file_owned(a, r, k, id) < 0)
        return;
    char *old = stored(a, k, id, &rev, &len);
    /* in etcd mode a resource that lost its name is in etcd, not in the table: etcd decides */
    if (old == NULL && a->be.conflicts == NULL) {
        http_reply_error(r, 404, "invalid_request_error", "not_found", NULL, "No %s with id %s",
                         kind_label(k), id);
        return;
    }
    free(old);
    if (k == RES_CREDENTIAL && cred_in_use(a, r, id, NULL) < 0)
        return;
    struct admin_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        return;
    }
    op->a = a;
    op->r = r;
    op->kind = k;
    op->is_delete = 1;
    snprintf(op->id, sizeof(op->id), "%s", id);
    http_req_set_callbacks(r, op_abort, NULL, op);
    backend_source(a, r);
    a->be.del(a->be.ctx, k, id, expect, op_done, op);
}

/* ---- routing ---- */

/* store_models_foreach's callback: targets naming a credential the table does not hold. */
static int
missing_cb(const struct model_view *v, void *arg)
{
    for (int i = 0; i < v->ntargets; i++) {
        if (!v->t[i].credential_missing)
            continue;
        struct json_object *m = json_object_new_object();
        json_object_object_add(m, "model", json_object_new_string(v->name));
        json_object_object_add(m, "id", json_object_new_string(v->id));
        json_object_object_add(m, "target", json_object_new_string(v->t[i].name));
        json_object_object_add(m, "credential", json_object_new_string(v->t[i].credential));
        json_object_object_add(m, "reason",
                               json_object_new_string(v->t[i].credential_missing == CRED_UNFIT
                                                          ? "model_not_a_path_segment"
                                                          : "no_such_credential"));
        json_object_array_add(arg, m);
    }
    return 0;
}

/*
 * GET /admin/v1/conflicts: resources etcd holds that lost their name or key
 * to another, and the targets whose credential is gone (deleted in etcd
 * while a model still named it, or never written): they answer
 * credential_missing.
 */
static void
do_conflicts(struct admin *a, struct http_req *r)
{
    struct json_object *o = json_object_new_object(), *miss = json_object_new_array();
    for (int k = 0; k < RES_NKINDS; k++)
        json_object_object_add(o, res_kind_name((enum res_kind)k),
                               a->be.conflicts ? a->be.conflicts(a->be.ctx, (enum res_kind)k)
                                               : json_object_new_array());
    if (store_read_begin(a->store) == 0) {
        store_models_foreach(a->store, missing_cb, miss);
        store_read_end(a->store);
    }
    json_object_object_add(o, "missing_credentials", miss);
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

static void
do_status(struct admin *a, struct http_req *r)
{
    struct json_object *o = json_object_new_object();
    struct store_meta m = {0};
    if (store_read_begin(a->store) == 0) {
        store_meta_get(a->store, &m);
        store_read_end(a->store);
    }
    json_object_object_add(o, "version", json_object_new_string(PACKAGE_VERSION));
    json_object_object_add(o, "config_version", json_object_new_int64((int64_t)m.version));
    json_object_object_add(o, "config_source", json_object_new_string(m.source));
    json_object_object_add(o, "config_updated_ms", json_object_new_int64(m.updated_ms));
    json_object_object_add(o, "etcd_revision", json_object_new_int64(m.etcd_revision));
    if (a->status != NULL)
        a->status(o, a->status_arg);
    admin_reply_json(r, 200, o);
    json_object_put(o);
}

/* "kind", "kind/id" or "kind/id/action": no empty segment, no trailing slash. */
static int
split_path(const char *p, char *kind, size_t kl, char *id, size_t il, char *action, size_t al)
{
    char *out[3] = {kind, id, action};
    size_t lens[3] = {kl, il, al};
    int seg = 0;
    while (seg < 3) {
        size_t n = strcspn(p, "/");
        if (n == 0 || n >= lens[seg])
            return -1;
        memcpy(out[seg], p, n);
        out[seg][n] = '\0';
        seg++;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
    return -1; /* a fourth segment */
}

/* A resource's path (admin.h): its kind, id and action, checked. */
int
admin_path_parse(const char *path, enum res_kind *k, char *id, size_t il, char *action, size_t al)
{
    char kind[16];
    int kk;
    kind[0] = '\0';
    if (il == 0 || al == 0)
        return -1;
    id[0] = action[0] = '\0';
    if (strncmp(path, PREFIX, strlen(PREFIX)) != 0 ||
        split_path(path + strlen(PREFIX), kind, sizeof(kind), id, il, action, al) < 0 ||
        (kk = res_kind_of(kind)) < 0 || (id[0] && res_id_valid(id) < 0) ||
        (action[0] && (kk != RES_API_KEY || strcmp(action, "rotate") != 0)))
        return -1;
    *k = (enum res_kind)kk;
    return 0;
}

void
admin_handle(struct http_req *r, void *arg)
{
    struct admin *a = arg;
    const char *path = http_req_path(r);
    int m = http_req_method(r);
    char id[RES_ID_MAX + 1], action[16]; /* a longer id is not valid: a 404 either way */
    enum res_kind k;

    int role = authorize(a, r);
    if (role == 0)
        return;
    if (admin_history_path(path)) {
        admin_history_handle(a, r, role);
        return;
    }
    if (strcmp(path, PREFIX "status") == 0 || strcmp(path, PREFIX "conflicts") == 0) {
        if (m != HTTP_M_GET)
            http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                             "Use GET");
        else if (path[strlen(PREFIX)] == 's')
            do_status(a, r);
        else
            do_conflicts(a, r);
        return;
    }
    if (strcmp(path, PREFIX "apply") == 0 || strcmp(path, PREFIX "export") == 0) {
        int apply = path[strlen(PREFIX)] == 'a';
        if (m != (apply ? HTTP_M_POST : HTTP_M_GET))
            http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                             apply ? "Use POST" : "Use GET");
        else if (apply && role != ADMIN_ROLE_ADMIN)
            http_reply_error(r, 403, "permission_error", "read_only_key", NULL,
                             "This admin key has the viewer role: GET only");
        else if (apply)
            admin_apply(a, r);
        else
            admin_export(a, r, role);
        return;
    }
    if (admin_path_parse(path, &k, id, sizeof(id), action, sizeof(action)) < 0) {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown Admin API path: %s", path);
        return;
    }
    int write = m != HTTP_M_GET;
    if (write && role != ADMIN_ROLE_ADMIN) {
        http_reply_error(r, 403, "permission_error", "read_only_key", NULL,
                         "This admin key has the viewer role: GET only");
        return;
    }
    if (action[0] && m == HTTP_M_POST)
        do_rotate(a, r, id);
    else if (!id[0] && m == HTTP_M_GET)
        do_list(a, r, k);
    else if (!id[0] && m == HTTP_M_POST)
        do_write(a, r, k, NULL);
    else if (id[0] && !action[0] && m == HTTP_M_GET)
        do_get(a, r, k, id);
    else if (id[0] && !action[0] && m == HTTP_M_PUT)
        do_write(a, r, k, id);
    else if (id[0] && !action[0] && m == HTTP_M_DELETE)
        do_delete(a, r, k, id);
    else
        http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "Method not allowed on %s", path);
}

struct admin *
admin_new(const struct conf *c, struct store *s, const struct admin_backend *b,
          admin_status_cb status, void *status_arg)
{
    struct admin *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->conf = c;
    a->store = s;
    a->be = *b;
    a->status = status;
    a->status_arg = status_arg;
    return a;
}

void
admin_free(struct admin *a)
{
    free(a);
}

/* ---- the standalone backend: the LMDB table ---- */

/*
 * The source the next write is recorded with. The master is one thread and
 * a standalone write is done before its call returns, so one buffer serves.
 */
static char lmdb_source[300] = "admin";

/* One write transaction; If-Match against the stored revision. */
static void
lmdb_write(struct store *s, enum res_kind k, const char *id, struct json_object *doc,
           int64_t expect, admin_done_cb done, void *arg)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    int err = ADMIN_EIO;
    int64_t rev = 0;
    struct store_txn *t = store_write_begin(s);
    if (t == NULL)
        goto out;
    int64_t currev = 0;
    int exists = store_doc_revision(t, k, id, &currev) == STORE_OK;
    if ((expect == 0 && exists) || (expect > 0 && (!exists || currev != expect))) {
        store_abort(t);
        err = ADMIN_ECONFLICT;
        goto out;
    }
    store_txn_origin(t, STORE_ORIGIN_ADMIN, 0);
    rev = (int64_t)store_txn_next_version(t);
    int rc = doc ? store_put(t, k, id, doc, &e) : store_del(t, k, id);
    if (rc == STORE_OK && store_txn_changes(t) == 0) {
        /* the same document again: nothing written, the revision stays */
        store_abort(t);
        rev = currev;
        err = ADMIN_OK;
        goto out;
    }
    if (rc == STORE_NOTFOUND) {
        store_abort(t);
        err = ADMIN_ENOTFOUND;
        goto out;
    }
    if (rc != STORE_OK) {
        store_abort(t);
        err = rc == STORE_CONFLICT ? ADMIN_ENAMECONFLICT : ADMIN_EIO;
        goto out;
    }
    err = store_commit(t, lmdb_source, 0) == 0 ? ADMIN_OK : ADMIN_EIO;
out:
    for (int i = 0; i < e.n; i++)
        log_warnx("admin: %s", e.msgs[i]);
    errors_free(&e);
    if (err == ADMIN_OK)
        log_info("admin: %s %s/%s, configuration version %lld", doc ? "put" : "deleted",
                 res_kind_name(k), id, (long long)rev);
    snprintf(lmdb_source, sizeof(lmdb_source), "admin");
    done(arg, err, rev);
}

static void
lmdb_source_set(void *ctx, const char *source)
{
    (void)ctx;
    snprintf(lmdb_source, sizeof(lmdb_source), "%s", source);
}

/* A rollback is one write transaction: every worker's next read sees all of it. */
static void
lmdb_rollback(void *ctx, uint64_t v, const char *source, admin_rollback_cb done, void *arg)
{
    struct aigw_errors e;
    uint64_t newver = 0;
    int n = 0, err;
    errors_init(&e, NULL);
    int rc = store_rollback(ctx, v, source, &newver, &n, &e);
    err = rc == STORE_OK         ? ADMIN_OK
          : rc == STORE_NOTFOUND ? ADMIN_ENOTFOUND
          : rc == STORE_CONFLICT ? ADMIN_ENAMECONFLICT
                                 : ADMIN_EIO;
    if (err == ADMIN_OK)
        log_info("admin: rolled back to version %llu (%s): %d resources, configuration "
                 "version %llu",
                 (unsigned long long)v, source, n, (unsigned long long)newver);
    else
        log_warnx("admin: rollback to version %llu refused: %s", (unsigned long long)v,
                  e.n > 0 ? e.msgs[0] : "the store failed");
    done(arg, err, (int64_t)newver, n, e.n > 0 ? e.msgs[0] : NULL);
    errors_free(&e);
}

static void
lmdb_put(void *ctx, enum res_kind k, const char *id, struct json_object *doc, int64_t expect,
         admin_done_cb done, void *arg)
{
    lmdb_write(ctx, k, id, doc, expect, done, arg);
}

static void
lmdb_del(void *ctx, enum res_kind k, const char *id, int64_t expect, admin_done_cb done, void *arg)
{
    lmdb_write(ctx, k, id, NULL, expect, done, arg);
}

void
admin_backend_lmdb(struct admin_backend *b, struct store *s)
{
    b->put = lmdb_put;
    b->del = lmdb_del;
    b->conflicts = NULL; /* one writer, one table: no resource loses its name */
    b->rollback = lmdb_rollback;
    b->source = lmdb_source_set;
    b->apply = admin_lmdb_apply;
    b->ctx = s;
}
