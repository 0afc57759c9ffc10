/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proxy.c: the front half of the worker's pipeline for the OpenAI-style
 * endpoints: route -> authenticate -> parse -> resolve the model (and may
 * the key use it) -> admit against the key's and the model's limits. Then
 * relay.c chooses a target, sends, relays and retries.
 *
 * Config is read through two short LMDB read transactions per request; no
 * configuration JSON is parsed here. The model's binary record is copied
 * out of the transaction, so a retry minutes later still has its targets.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "access.h"
#include "auth.h"
#include "aigw/conf.h"
#include "log.h"
#include "aigw/resource.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "http.h"
#include "jsonraw.h"
#include "jsonx.h"
#include "jwtauth.h"
#include "limit.h"
#include "messages.h"
#include "metrics.h"
#include "proxy.h"
#include "pxreq.h"
#include "query.h"
#include "usage.h"

static const char *const route_suffix[] = {
    NULL,           NULL,          "/models",   "/chat/completions",
    "/completions", "/embeddings", "/messages", "/messages/count_tokens",
    NULL,           "/responses"};
static const enum prov_op route_op[] = {OP_CHAT,        OP_CHAT,       OP_CHAT, OP_CHAT,
                                        OP_COMPLETIONS, OP_EMBEDDINGS, OP_CHAT, OP_COUNT_TOKENS,
                                        OP_CHAT,        OP_RESPONSES};

/*
 * Who the client says it is: a static key's SHA-256, or the index entry of
 * the API key bound to a verified JWT's (iss, sub). hash NULL: no usable
 * credential (none sent, or a token refused, its reason in the access log).
 */
struct cred {
    const uint8_t *hash;
    int jwt; /* 1: a token proved id; the key record must be a JWT binding */
    struct jwt_identity id;
    uint8_t buf[AUTH_HASH_LEN];
};

/*
 * What the precheck of a request with a body found, for its handler: in
 * the request's shared area (access_extra), zeroed. A static key that
 * passed the gate is neither hashed nor looked up a second time; the
 * handler's proxy_request reads the key again anyway, in the read
 * transaction that gives the model, and refuses it there (check_key) if a
 * configuration change disabled, expired or removed it meanwhile. A bearer
 * JWT is verified again (it may expire while its body is read).
 */
struct gate_memo {
    int passed;
    uint64_t version; /* of the gate's reading: the answer's x-aigw-config-version */
    uint8_t hash[AUTH_HASH_LEN];
};

/* What one read transaction tells about the key and the model. */
struct lookup {
    uint64_t version;
    int key_status; /* STORE_OK or STORE_NOTFOUND */
    char key_id[RES_ID_MAX + 1];
    char key_name[RES_NAME_MAX + 1];
    int key_disabled, key_expired;
    int64_t key_limits[LIM_N];
    int model_status;
    int model_allowed;
    void *mrec; /* a copy of the model's record */
    size_t mlen;
};

static enum route
route_of(const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return RT_HEALTH;
    if (strncmp(path, "/v1/", 4) != 0)
        return RT_NONE;
    for (int i = RT_MODELS; i <= RT_COUNT_TOKENS; i++)
        if (strcmp(path + 3, route_suffix[i]) == 0)
            return (enum route)i;
    if (strcmp(path + 3, route_suffix[RT_RESPONSES]) == 0)
        return RT_RESPONSES;
    /* the rest is the id, "/" in it as it is or as %2F (the SDKs send that) */
    if (strncmp(path + 3, "/models/", 8) == 0 && path[11] != '\0')
        return RT_MODEL;
    return RT_NONE;
}

/* The client's key from Authorization: Bearer or x-api-key; NULL when none. */
static const char *
client_key(struct http_req *r)
{
    const char *a = http_req_header(r, "authorization");
    if (a != NULL && strncasecmp(a, "Bearer ", 7) == 0) {
        a += 7;
        while (*a == ' ')
            a++;
        if (*a)
            return a;
    }
    a = http_req_header(r, "x-api-key");
    return a != NULL && *a ? a : NULL;
}

/*
 * One read transaction: meta, the key, and (when model is given) a copy of
 * the model's record and whether the key may use it.
 */
static int
lookup(struct proxy *px, const struct cred *cr, const char *model, struct lookup *out)
{
    const uint8_t *hash = cr ? cr->hash : NULL;
    struct store_meta m;
    struct key_view kv;
    const void *rec;
    memset(out, 0, sizeof(*out));
    if (store_read_begin(px->store) < 0)
        return -1;
    store_meta_get(px->store, &m);
    out->version = m.version;
    if (px->self != NULL) /* aigw_worker_config_version: the version this worker serves */
        atomic_store_explicit(&px->self->config_version, m.version, memory_order_relaxed);
    out->key_status = hash ? store_key_by_hash(px->store, hash, &kv) : STORE_NOTFOUND;
    /* a static key never opens a JWT binding, nor a token a static key's record */
    if (out->key_status == STORE_OK && kv.jwt != cr->jwt)
        out->key_status = STORE_NOTFOUND;
    if (out->key_status == STORE_OK) {
        snprintf(out->key_id, sizeof(out->key_id), "%s", kv.id);
        snprintf(out->key_name, sizeof(out->key_name), "%s", kv.name);
        out->key_disabled = kv.disabled;
        out->key_expired = kv.expires_at != 0 && kv.expires_at <= (int64_t)time(NULL);
        memcpy(out->key_limits, kv.limits, sizeof(out->key_limits));
    }
    if (model != NULL && out->key_status == STORE_OK) {
        out->model_status = store_model_record(px->store, model, strlen(model), &rec, &out->mlen);
        if (out->model_status == STORE_OK) {
            out->model_allowed =
                auth_key_allows(&kv, model) && (!cr->jwt || jwtauth_models_allow(&cr->id, model));
            if ((out->mrec = malloc(out->mlen)) != NULL)
                memcpy(out->mrec, rec, out->mlen);
            else
                out->model_status = STORE_ERROR;
        }
    }
    store_read_end(px->store);
    return 0;
}

/* The record holds provider secrets: wiped before it is freed. */
static void
rec_free(void *rec, size_t len)
{
    if (rec != NULL) {
        explicit_bzero(rec, len);
        free(rec);
    }
}

/* 0 when the key exists, is enabled and has not expired; else 1, the 401 in f. */
static int
key_refusal(const char *key, const struct lookup *l, struct http_refusal *f)
{
    if (key == NULL)
        return http_refuse(f, 401, "invalid_request_error", "missing_api_key",
                           "You didn't provide an API key. Send it in an Authorization: Bearer "
                           "header or an x-api-key header.");
    if (l->key_status != STORE_OK)
        return http_refuse(f, 401, "invalid_request_error", "invalid_api_key",
                           "Incorrect API key provided.");
    if (l->key_disabled)
        return http_refuse(f, 401, "invalid_request_error", "api_key_disabled",
                           "This API key is disabled.");
    if (l->key_expired)
        return http_refuse(f, 401, "invalid_request_error", "api_key_expired",
                           "This API key has expired.");
    return 0;
}

/* 401 unless the key exists, is enabled and has not expired. */
static int
check_key(struct http_req *r, const char *key, const struct lookup *l)
{
    struct http_refusal f = {0};
    if (key_refusal(key, l, &f) == 0)
        return 0;
    http_reply_refusal(r, &f);
    return -1;
}

/* ---- GET /v1/models ---- */

struct models_ctx {
    const struct cred *cr;
    struct key_view kv;
    struct json_object *data;
};

static int
models_add(const struct model_view *v, void *arg)
{
    struct models_ctx *m = arg;
    if (!auth_key_allows(&m->kv, v->name) ||
        (m->cr->jwt && !jwtauth_models_allow(&m->cr->id, v->name)))
        return 0;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(v->name));
    json_object_object_add(o, "object", json_object_new_string("model"));
    json_object_object_add(o, "created", json_object_new_int64(0));
    json_object_object_add(o, "owned_by", json_object_new_string(provider_name(v->t[0].provider)));
    /* Anthropic's SDK reads the same list: its members beside OpenAI's */
    json_object_object_add(o, "type", json_object_new_string("model"));
    json_object_object_add(o, "display_name", json_object_new_string(v->name));
    json_object_object_add(o, "created_at", json_object_new_string("1970-01-01T00:00:00Z"));
    json_object_array_add(m->data, o);
    return 0;
}

static void
models_list(struct proxy *px, struct http_req *r, const struct cred *cr)
{
    struct models_ctx m = {cr, {0}, json_object_new_array()};
    if (store_read_begin(px->store) == 0) {
        if (store_key_by_hash(px->store, cr->hash, &m.kv) == STORE_OK && m.kv.jwt == cr->jwt)
            store_models_foreach(px->store, models_add, &m);
        store_read_end(px->store);
    }
    struct json_object *o = json_object_new_object();
    size_t n = json_object_array_length(m.data);
    json_object_object_add(o, "object", json_object_new_string("list"));
    json_object_object_add(o, "data", m.data);
    json_object_object_add(o, "has_more", json_object_new_boolean(0));
    json_object_object_add(
        o, "first_id",
        n ? json_object_get(json_object_object_get(json_object_array_get_idx(m.data, 0), "id"))
          : NULL);
    json_object_object_add(
        o, "last_id",
        n ? json_object_get(json_object_object_get(json_object_array_get_idx(m.data, n - 1), "id"))
          : NULL);
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    http_reply(r, 200, "application/json", s, strlen(s));
    json_object_put(o);
}

/* ---- GET /v1/models/{id} ---- */

/*
 * One Model as OpenAI's models.retrieve reads it, or Anthropic's when the
 * client speaks Anthropic. A Model the key may not use is answered as one
 * that does not exist: the list does not show it either.
 */
static void
model_get(struct proxy *px, struct http_req *r, const struct cred *cr, int anthropic)
{
    char name[RES_NAME_MAX + 1];
    const char *owner = NULL;
    struct key_view kv;
    struct model_view v;
    if (query_path_decode(http_req_path(r) + 11, name, sizeof(name)) != QUERY_OK) {
        http_reply_error(r, 404, "invalid_request_error", "model_not_found", "model",
                         "The model does not exist or you do not have access to it.");
        return;
    }
    snprintf(access_of(r)->model, sizeof(access_of(r)->model), "%s", name);
    if (store_read_begin(px->store) < 0) {
        http_reply_error(r, 503, "server_error", "config_unavailable", NULL,
                         "The configuration store is unavailable");
        return;
    }
    if (store_key_by_hash(px->store, cr->hash, &kv) == STORE_OK && kv.jwt == cr->jwt &&
        store_model_by_name(px->store, name, strlen(name), &v) == STORE_OK &&
        auth_key_allows(&kv, name) && (!cr->jwt || jwtauth_models_allow(&cr->id, name)))
        owner = provider_name(v.t[0].provider); /* a static string */
    store_read_end(px->store);
    if (owner == NULL) {
        http_reply_error(r, 404, "invalid_request_error", "model_not_found", "model",
                         "The model `%s` does not exist or you do not have access to it.", name);
        return;
    }
    access_of(r)->model_known = 1;
    struct json_object *o = json_object_new_object();
    if (anthropic) {
        json_object_object_add(o, "type", json_object_new_string("model"));
        json_object_object_add(o, "id", json_object_new_string(name));
        json_object_object_add(o, "display_name", json_object_new_string(name));
        json_object_object_add(o, "created_at", json_object_new_string("1970-01-01T00:00:00Z"));
    } else {
        json_object_object_add(o, "id", json_object_new_string(name));
        json_object_object_add(o, "object", json_object_new_string("model"));
        json_object_object_add(o, "created", json_object_new_int64(0));
        json_object_object_add(o, "owned_by", json_object_new_string(owner));
    }
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    http_reply(r, 200, "application/json", s, strlen(s));
    json_object_put(o);
}

/* ---- request parsing ---- */

/* Parse the body as a JSON object; 400 otherwise. */
static struct json_object *
parse_body(struct http_req *r)
{
    struct evbuffer *b = http_req_body(r);
    size_t len = evbuffer_get_length(b);
    const char *p = (const char *)evbuffer_pullup(b, -1);
    struct json_tokener *tok = jx_tokener(JSON_TOKENER_STRICT);
    if (tok == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        return NULL;
    }
    int lexok = json_lexically_strict(p, len) == 0;
    struct json_object *o = len && lexok ? json_tokener_parse_ex(tok, p, (int)len) : NULL;
    enum json_tokener_error err =
        lexok ? json_tokener_get_error(tok) : json_tokener_error_parse_unexpected;
    size_t used = json_tokener_get_parse_end(tok);
    if (o != NULL && used < len) { /* trailing bytes other than white space */
        for (size_t i = used; i < len; i++)
            if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') {
                json_object_put(o);
                o = NULL;
                err = json_tokener_error_parse_unexpected;
                break;
            }
    }
    if (o == NULL) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_json", NULL,
                         "We could not parse the JSON body of your request: %s",
                         len == 0 ? "the body is empty" : json_tokener_error_desc(err));
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        http_reply_error(r, 400, "invalid_request_error", "invalid_json", NULL,
                         "The request body must be a JSON object.");
        json_object_put(o);
        return NULL;
    }
    /* what json-c read must be what a pass-through upstream reads in the bytes */
    char why[1024];
    if (jsonraw_check_names(p, len, why, sizeof(why)) < 0) {
        http_reply_error(r, 400, "invalid_request_error", "ambiguous_member", NULL, "%s", why);
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Check the fields each endpoint requires; 400 naming the field. */
static int
check_fields(struct http_req *r, enum route rt, struct json_object *body, int *stream)
{
    struct json_object *o;
    if (rt == RT_MESSAGES || rt == RT_COUNT_TOKENS) {
        char err[512];
        const char *param = NULL;
        if (msg_check(body, rt == RT_COUNT_TOKENS, err, sizeof(err), &param) < 0) {
            http_reply_error(r, 400, "invalid_request_error", "invalid_request", param, "%s", err);
            return -1;
        }
        *stream = rt == RT_MESSAGES && json_object_object_get_ex(body, "stream", &o) &&
                  json_object_get_boolean(o);
        return 0;
    }
    if (!json_object_object_get_ex(body, "model", &o) ||
        !json_object_is_type(o, json_type_string) || json_object_get_string_len(o) == 0) {
        http_reply_error(r, 400, "invalid_request_error", "missing_required_parameter", "model",
                         "you must provide a model parameter (a string)");
        return -1;
    }
    *stream = 0;
    if (rt != RT_EMBEDDINGS && json_object_object_get_ex(body, "stream", &o) && o != NULL) {
        if (!json_object_is_type(o, json_type_boolean)) {
            http_reply_error(r, 400, "invalid_request_error", "invalid_type", "stream",
                             "stream must be a boolean");
            return -1;
        }
        *stream = json_object_get_boolean(o);
    }
    if (rt == RT_CHAT) {
        if (!json_object_object_get_ex(body, "messages", &o) ||
            !json_object_is_type(o, json_type_array) || json_object_array_length(o) == 0) {
            http_reply_error(r, 400, "invalid_request_error", "missing_required_parameter",
                             "messages", "messages must be a non-empty array");
            return -1;
        }
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!json_object_is_type(json_object_array_get_idx(o, i), json_type_object)) {
                http_reply_error(r, 400, "invalid_request_error", "invalid_type", "messages",
                                 "messages[%zu] must be an object", i);
                return -1;
            }
    } else if (rt == RT_COMPLETIONS && !json_object_object_get_ex(body, "prompt", NULL)) {
        http_reply_error(r, 400, "invalid_request_error", "missing_required_parameter", "prompt",
                         "you must provide a prompt parameter");
        return -1;
    } else if (rt == RT_EMBEDDINGS &&
               (!json_object_object_get_ex(body, "input", &o) || o == NULL)) {
        http_reply_error(r, 400, "invalid_request_error", "missing_required_parameter", "input",
                         "you must provide an input parameter");
        return -1;
    }
    return 0;
}

/* ---- the request's life ---- */

void
pxreq_note(struct pxreq *q, const char *error)
{
    q->acc->upstream_status = q->a.status;
    if (error != NULL && q->acc->error == NULL)
        q->acc->error = error;
}

void
pxreq_free(struct pxreq *q)
{
    struct proxy *px = q->px;
    relay_cancel(q);
    if (q->timer != NULL)
        event_free(q->timer);
    /* The limits learn the real usage (0 when no upstream answered). */
    /*
     * The limits learn the real usage. An answer without usage (some
     * OpenAI-compatible servers send none) keeps its reservation; a request
     * that got no answer costs nothing.
     */
    limit_end(&q->lim, q->have_usage ? q->total_tokens : q->answered ? q->lim.reserved : 0);
    json_object_put(q->body);
    json_object_put(q->obody);
    json_object_put(q->rbase);
    rsp_stream_free(&q->rs);
    if (q->resp != NULL)
        evbuffer_free(q->resp);
    rec_free(q->mrec, q->mlen);
    if (q->prev)
        q->prev->next = q->next;
    else
        px->all = q->next;
    if (q->next)
        q->next->prev = q->prev;
    px->inflight--;
    free(q);
}

/* The client read again: let the paused upstream flow. */
static void
on_client_drain(void *arg)
{
    struct pxreq *q = arg;
    if (q->a.paused) {
        q->a.paused = 0;
        struct timeval tv = tv_ms(q->idle_ms);
        evtimer_add(q->timer, &tv);
        if (q->a.ureq != NULL)
            uhttp_resume(q->a.ureq);
    }
}

/* The client went away: cancel the upstream request at once. */
static void
on_client_abort(void *arg)
{
    struct pxreq *q = arg;
    relay_abandon(q);
    if (q->a.is_sse && http_resp_started(q->r)) /* a stream that began with 200 */
        metrics_stream_error(q->mv.name, MX_SE_CLIENT_CLOSED);
    pxreq_note(q, "client_closed"); /* before the attempt (and its status) is cleared */
    relay_cancel(q);
    http_req_release(q->r);
    pxreq_free(q);
}

/*
 * Did an OpenAI client ask for the usage chunk? The provider asks for it
 * upstream in any case (it is how streamed tokens are counted exactly);
 * answer.c gives it to the client only when the client asked.
 */
static void
client_usage(struct pxreq *q)
{
    struct json_object *so, *iu;
    q->client_usage = q->front == DIALECT_OPENAI && q->stream &&
                      json_object_object_get_ex(q->body, "stream_options", &so) &&
                      json_object_is_type(so, json_type_object) &&
                      json_object_object_get_ex(so, "include_usage", &iu) &&
                      json_object_get_boolean(iu);
}

/*
 * Tokens a request reserves at admission: its prompt (about 4 bytes a token)
 * and what it may generate (max_completion_tokens, max_tokens, or the
 * configured estimate).
 */
static int64_t
tokens_expected(struct pxreq *q)
{
    struct json_object *o;
    int64_t out = q->px->conf->rl_token_estimate;
    if (q->op == OP_RESPONSES) { /* the Responses API's name for it */
        if (json_object_object_get_ex(q->body, "max_output_tokens", &o) &&
            json_object_is_type(o, json_type_int) && json_object_get_int64(o) >= 0)
            out = json_object_get_int64(o);
    } else if (json_object_object_get_ex(q->body, "max_completion_tokens", &o) &&
               json_object_is_type(o, json_type_int) && json_object_get_int64(o) >= 0)
        out = json_object_get_int64(o);
    else if (json_object_object_get_ex(q->body, "max_tokens", &o) &&
             json_object_is_type(o, json_type_int) && json_object_get_int64(o) >= 0)
        out = json_object_get_int64(o);
    if (q->op == OP_COUNT_TOKENS)
        return 0; /* free upstream, and answered without usage */
    if (q->op == OP_EMBEDDINGS)
        out = 0;
    /* A client's max_tokens may be INT64_MAX: the sum saturates (usage.h) rather than overflow. */
    return usage_add(((int64_t)evbuffer_get_length(http_req_body(q->r)) + 3) / 4, out);
}

/* x-ratelimit-* headers: the tightest request and token limits that apply. */
static void
ratelimit_headers(struct pxreq *q)
{
    const struct limit_state *st = &q->lim;
    char v[32];
    if (st->have_req) {
        snprintf(v, sizeof(v), "%lld", (long long)st->req_limit);
        http_resp_header(q->r, "x-ratelimit-limit-requests", v);
        snprintf(v, sizeof(v), "%lld", (long long)st->req_remaining);
        http_resp_header(q->r, "x-ratelimit-remaining-requests", v);
        limit_fmt_reset(st->req_reset_ms, v, sizeof(v));
        http_resp_header(q->r, "x-ratelimit-reset-requests", v);
    }
    if (st->have_tok) {
        snprintf(v, sizeof(v), "%lld", (long long)st->tok_limit);
        http_resp_header(q->r, "x-ratelimit-limit-tokens", v);
        snprintf(v, sizeof(v), "%lld", (long long)st->tok_remaining);
        http_resp_header(q->r, "x-ratelimit-remaining-tokens", v);
        limit_fmt_reset(st->tok_reset_ms, v, sizeof(v));
        http_resp_header(q->r, "x-ratelimit-reset-tokens", v);
    }
}

/* 429 in OpenAI's shape, naming the limit, the owner and when to come back. */
static void
reply_limited(struct pxreq *q)
{
    static const char *const what[LIM_N] = {"requests per minute", "requests per day",
                                            "tokens per minute", "tokens per day",
                                            "concurrent requests"};
    const struct limit_state *st = &q->lim;
    const struct limit_owner *o = &st->own[st->deny_owner];
    char ra[24], again[32];
    int64_t secs = (st->retry_ms + 999) / 1000;
    snprintf(ra, sizeof(ra), "%lld", (long long)(secs < 1 ? 1 : secs));
    limit_fmt_reset(st->retry_ms, again, sizeof(again));
    http_resp_header(q->r, "Retry-After", ra);
    pxreq_note(q,
               st->deny_which == LIM_CONC ? "concurrency_limit_exceeded" : "rate_limit_exceeded");
    http_reply_error(
        q->r, 429, st->deny_which == LIM_TPM || st->deny_which == LIM_TPD ? "tokens" : "requests",
        st->deny_which == LIM_CONC ? "concurrency_limit_exceeded" : "rate_limit_exceeded", NULL,
        "Rate limit reached for %s on %s `%s`: limit %lld, used %lld. Try again in %s.",
        what[st->deny_which], strcmp(o->kind, "key") == 0 ? "API key" : "model", o->name,
        (long long)st->deny_limit, (long long)st->deny_used, again);
}

/* The limits have spoken (at once, or when Redis answered). */
static void
admitted(struct limit_state *st, void *arg)
{
    struct pxreq *q = arg;
    ratelimit_headers(q);
    if (st->verdict == LIMIT_DENIED) {
        metrics_ratelimit(
            strcmp(st->own[st->deny_owner].kind, "key") == 0 ? MX_RL_KEY : MX_RL_MODEL, q->mv.name);
        reply_limited(q);
        pxreq_free(q);
    } else if (st->verdict == LIMIT_UNAVAILABLE) {
        metrics_ratelimit(MX_RL_UNAVAILABLE, q->mv.name);
        pxreq_note(q, "rate_limiter_unavailable");
        http_reply_error(q->r, 503, "server_error", "rate_limiter_unavailable", NULL,
                         "The rate limiter cannot be reached; try again shortly");
        pxreq_free(q);
    } else if (relay_start(q) < 0) {
        pxreq_free(q);
    }
}

/* Set the request up from the lookup: the model's targets, timeouts, limits. */
static struct pxreq *
pxreq_new(struct proxy *px, struct http_req *r, enum route rt, int stream, struct lookup *l,
          struct json_object *body)
{
    const struct conf *c = px->conf;
    struct pxreq *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->resp = evbuffer_new()) == NULL) {
        free(q);
        return NULL;
    }
    q->px = px;
    q->r = r;
    q->rt = rt;
    q->op = route_op[rt];
    q->front = rt == RT_MESSAGES || rt == RT_COUNT_TOKENS ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
    q->stream = stream;
    q->acc = access_of(r);
    q->body = body;
    q->mrec = l->mrec;
    q->mlen = l->mlen;
    l->mrec = NULL;
    if (model_view_decode(q->mrec, q->mlen, &q->mv) < 0) {
        rec_free(q->mrec, q->mlen);
        evbuffer_free(q->resp);
        free(q);
        return NULL;
    }
    q->max_attempts = 1 + q->mv.retries;
    q->connect_ms =
        q->mv.connect_timeout_ms ? q->mv.connect_timeout_ms : c->upstream_connect_timeout_ms;
    q->total_ms = q->mv.total_timeout_ms ? q->mv.total_timeout_ms : c->upstream_total_timeout_ms;
    q->first_byte_ms = q->mv.first_byte_timeout_ms ? q->mv.first_byte_timeout_ms
                                                   : c->upstream_first_byte_timeout_ms;
    q->idle_ms =
        q->mv.stream_idle_timeout_ms ? q->mv.stream_idle_timeout_ms : c->stream_idle_timeout_ms;
    /* the effective timeouts, for the breaker's probe deadline */
    q->mv.connect_timeout_ms = q->connect_ms;
    q->mv.first_byte_timeout_ms = q->first_byte_ms;
    limit_owner(&q->lim, "key", l->key_id, l->key_name, l->key_limits);
    limit_owner(&q->lim, "model", q->mv.id, q->mv.name, q->mv.limits);
    q->next = px->all;
    if (px->all)
        px->all->prev = q;
    px->all = q;
    px->inflight++;
    return q;
}

/*
 * A lease id no client can choose (x-request-id can be set by the client):
 * this worker's random 64-bit tag, its pid and a counter.
 */
static const char *
lease_id(struct proxy *px, struct pxreq *q)
{
    if (px->lease_tag == 0) {
        uint8_t r[8];
        if (RAND_bytes(r, sizeof(r)) != 1)
            memcpy(r, &q, sizeof(r) < sizeof(q) ? sizeof(r) : sizeof(q));
        memcpy(&px->lease_tag, r, sizeof(r));
        px->lease_pid = (int)getpid(); /* the worker never forks: once */
    }
    snprintf(q->lease_id, sizeof(q->lease_id), "%016llx:%d:%llu", (unsigned long long)px->lease_tag,
             px->lease_pid, (unsigned long long)++px->nleases);
    return q->lease_id;
}

/* The pipeline for chat/completions, completions and embeddings. */
static void
proxy_request(struct proxy *px, struct http_req *r, enum route rt, const char *key,
              const struct cred *cr)
{
    struct lookup l;
    int stream;
    struct json_object *body = parse_body(r);
    if (body == NULL)
        return;
    if (check_fields(r, rt, body, &stream) < 0) {
        json_object_put(body);
        return;
    }
    const char *model = json_object_get_string(json_object_object_get(body, "model"));
    if (lookup(px, cr, model, &l) < 0) {
        json_object_put(body);
        http_reply_error(r, 503, "server_error", "config_unavailable", NULL,
                         "The configuration store is unavailable");
        return;
    }
    snprintf(access_of(r)->model, sizeof(access_of(r)->model), "%s", model);
    if (check_key(r, key, &l) < 0)
        goto done;
    /* only a configured model's name may become a metrics label */
    access_of(r)->model_known = l.model_status == STORE_OK;
    if (l.model_status != STORE_OK) {
        http_reply_error(r, 404, "invalid_request_error", "model_not_found", "model",
                         "The model `%s` does not exist or you do not have access to it.", model);
        goto done;
    }
    if (!l.model_allowed) {
        http_reply_error(r, 403, "invalid_request_error", "model_not_allowed", "model",
                         "This API key is not allowed to use the model `%s`.", model);
        goto done;
    }
    struct pxreq *q = pxreq_new(px, r, rt, stream, &l, body);
    if (q == NULL) {
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        goto done;
    }
    body = NULL; /* q owns it now */
    client_usage(q);
    http_req_set_callbacks(r, on_client_abort, on_client_drain, q);
    /* The longest the request may live: its Redis concurrency lease is not renewed past it. */
    int64_t lease = q->total_ms * q->max_attempts + 60000;
    int64_t reserve = q->lim.nown ? tokens_expected(q) : 0;
    /* only a limited request takes a lease: no id (and no formatting) for the others */
    const char *lid = q->lim.nown > 0 && px->limiter != NULL ? lease_id(px, q) : "";
    if (limit_admit(px->limiter, &q->lim, reserve, lease, lid, admitted, q) == 0)
        admitted(&q->lim, q);
done:
    json_object_put(body);
    rec_free(l.mrec, l.mlen);
}

/* The Anthropic Messages API's error shape, for its routes. */
static struct json_object *
anthropic_error(int status, const char *type, const char *code, const char *param, const char *msg)
{
    return msg_error_body(status, msg);
}

http_error_fn
proxy_error_route(const char *path)
{
    enum route rt = route_of(path);
    return rt == RT_MESSAGES || rt == RT_COUNT_TOKENS ? anthropic_error : NULL;
}

/*
 * Whether the client speaks Anthropic's API on the routes both dialects
 * share (GET /v1/models and /v1/models/{id}): Anthropic's SDKs send
 * anthropic-version with every request, OpenAI's never. x-api-key is no
 * sign: aigw takes a key there from any client.
 */
static int
anthropic_client(struct http_req *r, enum route rt)
{
    return (rt == RT_MODELS || rt == RT_MODEL) && http_req_header(r, "anthropic-version") != NULL;
}

/*
 * What a request's headers decide: its route, method and key (one read
 * transaction, no body). 0 when it may go on, with the key's lookup in l;
 * else 1 and the refusal in f.
 */
static int
proxy_gate(struct proxy *px, struct http_req *r, enum route rt, const char *key,
           const struct cred *cr, struct lookup *l, struct http_refusal *f)
{
    int m = http_req_method(r);
    if (lookup(px, key ? cr : NULL, NULL, l) < 0)
        return http_refuse(f, 503, "server_error", "config_unavailable",
                           "The configuration store is unavailable");
    if (l->key_status == STORE_OK)
        snprintf(access_of(r)->key, sizeof(access_of(r)->key), "%s", l->key_name);
    if (rt == RT_HEALTH)
        return 0;
    if (rt == RT_NONE)
        return http_refuse(f, 404, "invalid_request_error", "unknown_url",
                           "Unknown request URL: %s", http_req_path(r));
    int get = rt == RT_MODELS || rt == RT_MODEL;
    if ((get && m != HTTP_M_GET) || (!get && m != HTTP_M_POST)) {
        f->allow = get ? "GET" : "POST";
        return http_refuse(f, 405, "invalid_request_error", "method_not_allowed",
                           "Method not allowed for %s: use %s", http_req_path(r), f->allow);
    }
    return key_refusal(key, l, f);
}

/* The configuration version the answer was decided by (none when the table was unreadable). */
static void
config_version_header(struct http_req *r, const struct lookup *l)
{
    char ver[32];
    if (l->version == 0)
        return;
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)l->version);
    http_resp_header(r, "x-aigw-config-version", ver);
}

/*
 * The credential of a request: a bearer JWT of a configured provider is
 * verified (from the headers alone, so before a body is read), anything
 * else is a static key. A refused token leaves no hash: the gate answers
 * 401 invalid_api_key, and the reason goes to the access log only.
 */
static void
client_cred(struct proxy *px, struct http_req *r, enum route rt, const char *key, struct cred *cr)
{
    const char *reason = NULL;
    struct access_info *acc = access_of(r);
    cr->hash = NULL;
    cr->jwt = 0;
    if (key == NULL)
        return;
    /* /healthz needs no credential: a token sent there is not verified (nor logged as refused) */
    size_t len = strlen(key);
    int rc = rt == RT_HEALTH ? JWTAUTH_NOT_JWT
                             : jwtauth_check(px->jwt, px->store, key, len, &cr->id, &reason);
    if (rc == JWTAUTH_NOT_JWT) {
        auth_key_hash(key, len, cr->buf);
        cr->hash = cr->buf;
        return;
    }
    cr->jwt = 1;
    if (rc == JWTAUTH_OK) {
        cr->hash = cr->id.hash;
        snprintf(acc->jwt_iss, sizeof(acc->jwt_iss), "%s", cr->id.iss);
        snprintf(acc->jwt_sub, sizeof(acc->jwt_sub), "%s", cr->id.sub);
    } else {
        acc->error = reason;
        metrics_jwt_refused(reason);
    }
}

int
proxy_precheck(struct http_req *r, void *arg, struct http_refusal *f)
{
    struct lookup l;
    struct cred cr;
    const char *key = client_key(r);
    enum route rt = route_of(http_req_path(r));
    if (anthropic_client(r, rt))
        http_req_set_error_fn(r, anthropic_error);
    client_cred(arg, r, rt, key, &cr);
    int refused = proxy_gate(arg, r, rt, key, &cr, &l, f);
    if (!refused && rt == RT_HEALTH) /* anyone may ask; nobody needs a body for it */
        refused = http_refuse(f, 413, "invalid_request_error", "request_too_large",
                              "/healthz takes no request body");
    if (refused) {
        config_version_header(r, &l);
    } else if (rt != RT_MODELS && rt != RT_MODEL && !cr.jwt && cr.hash != NULL) {
        struct gate_memo *g = access_extra(r);
        g->passed = 1;
        g->version = l.version;
        memcpy(g->hash, cr.hash, sizeof(g->hash));
    }
    return refused;
}

size_t
proxy_memo_size(void)
{
    return sizeof(struct gate_memo);
}

void
proxy_handle(struct http_req *r, void *arg)
{
    struct proxy *px = arg;
    enum route rt = route_of(http_req_path(r));
    struct lookup l;
    struct http_refusal f = {0};
    struct cred cr;
    const char *key = client_key(r);
    const struct gate_memo *g = access_extra(r);

    int anthropic = anthropic_client(r, rt);
    if (anthropic)
        http_req_set_error_fn(r, anthropic_error);
    if (g->passed) { /* the precheck's gate let these headers in: see struct gate_memo */
        cr.hash = memcpy(cr.buf, g->hash, sizeof(cr.buf));
        cr.jwt = 0;
        l.version = g->version;
        config_version_header(r, &l);
        proxy_request(px, r, rt, key, &cr);
        return;
    }
    client_cred(px, r, rt, key, &cr);
    int refused = proxy_gate(px, r, rt, key, &cr, &l, &f);
    config_version_header(r, &l);
    if (refused)
        http_reply_refusal(r, &f);
    else if (rt == RT_HEALTH)
        http_reply(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
    else if (rt == RT_MODELS)
        models_list(px, r, &cr);
    else if (rt == RT_MODEL)
        model_get(px, r, &cr, anthropic);
    else
        proxy_request(px, r, rt, key, &cr);
}

struct proxy *
proxy_new(struct event_base *base, const struct conf *c, struct store *s, struct uhttp *u,
          struct shm *shm)
{
    struct proxy *px = calloc(1, sizeof(*px));
    if (px == NULL)
        return NULL;
    px->base = base;
    px->conf = c;
    px->store = s;
    px->up = u;
    px->shm = shm;
    px->self = shm != NULL ? shm_worker(shm, shm_self(shm)) : NULL;
    if ((px->limiter = limiter_new(base, c, shm)) == NULL) {
        free(px);
        return NULL;
    }
    if ((px->jwt = jwtauth_new(c, shm)) == NULL) {
        limiter_free(px->limiter);
        free(px);
        return NULL;
    }
    return px;
}

int
proxy_inflight(const struct proxy *px)
{
    return px->inflight;
}

void
proxy_abort_all(struct proxy *px)
{
    while (px->all != NULL) {
        struct pxreq *q = px->all;
        relay_abandon(q);
        int streamed = q->a.is_sse && http_resp_started(q->r);
        relay_cancel(q);
        if (streamed)
            metrics_stream_error(q->mv.name, MX_SE_SHUTDOWN);
        if (http_resp_started(q->r))
            answer_stream_fail(q, 503, "server_error", "server_shutting_down",
                               "aigw is shutting down");
        else
            http_reply_error(q->r, 503, "server_error", "server_shutting_down", NULL,
                             "aigw is shutting down");
        pxreq_free(q);
    }
}

void
proxy_free(struct proxy *px)
{
    proxy_abort_all(px);
    limiter_free(px->limiter);
    jwtauth_free(px->jwt);
    free(px);
}
