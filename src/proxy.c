/*
 * proxy.c: the worker's request pipeline for the OpenAI-style endpoints.
 *
 * Phases: route -> authenticate -> parse -> resolve model (+ may the key use
 * it) -> build the upstream request -> send (upstream.c) -> relay: buffered
 * JSON, or SSE events forwarded one by one as they arrive -> account usage.
 * Config is read through two short LMDB read transactions per request; no
 * configuration JSON is parsed here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "aigw/auth.h"
#include "aigw/conf.h"
#include "aigw/log.h"
#include "aigw/resource.h"
#include "aigw/sse.h"
#include "aigw/store.h"
#include "aigw/util.h"
#include "http.h"
#include "proxy.h"
#include "upstream.h"

#define SSE_MAX_EVENT (8 << 20)

enum route { RT_NONE, RT_HEALTH, RT_MODELS, RT_CHAT, RT_COMPLETIONS, RT_EMBEDDINGS };

static const char *const route_suffix[] = {NULL, NULL, "/models", "/chat/completions",
                                           "/completions", "/embeddings"};

struct proxy {
    struct event_base *base;
    const struct conf *conf;
    struct store *store;
    struct upstream *up;
    int inflight;
    struct pxreq *all; /* in-flight requests, for abort at exit */
};

/* One proxied request. */
struct pxreq {
    struct proxy *px;
    struct http_req *r;
    struct pxreq *next, *prev;
    struct upstream_xfer xfer;
    enum route rt;
    int stream;       /* the client asked for a stream */
    int client_usage; /* ... and for the usage chunk */
    struct http_access *acc; /* key, model, usage and error for the access line */
    struct json_object *body; /* the upstream request (owns the serialized text) */
    struct curl_slist *hdrs;
    long status;      /* upstream status */
    int headers_done;
    int is_sse;
    int got_done;     /* saw data: [DONE] */
    int paused;
    int too_large;
    int timed_out;
    struct evbuffer *resp;
    struct sse_parser sse;
    struct event *timer; /* first byte, then stream idle */
    int64_t first_byte_ms, idle_ms;
    int have_usage;
    char retry_after[32];
};

struct lookup {
    uint64_t version;
    int key_status; /* STORE_OK or STORE_NOTFOUND */
    char key_name[RES_NAME_MAX + 1];
    int key_disabled, key_expired;
    int model_status;
    int model_allowed;
    struct model_view mv; /* strings copied below */
    char upstream_model[RES_NAME_MAX + 1];
    char *api_base, *api_key;
};

static enum route
route_of(const char *path)
{
    if (strcmp(path, "/healthz") == 0)
        return RT_HEALTH;
    if (strncmp(path, "/v1/", 4) != 0)
        return RT_NONE;
    for (int i = RT_MODELS; i <= RT_EMBEDDINGS; i++)
        if (strcmp(path + 3, route_suffix[i]) == 0)
            return (enum route)i;
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
 * One read transaction: meta, the key, and (when model is given) the model
 * and whether the key may use it. Strings the request keeps are copied.
 */
static int
lookup(struct proxy *px, const uint8_t *hash, const char *model, struct lookup *out)
{
    struct store_meta m;
    struct key_view kv;
    memset(out, 0, sizeof(*out));
    if (store_read_begin(px->store) < 0)
        return -1;
    store_meta_get(px->store, &m);
    out->version = m.version;
    out->key_status = hash ? store_key_by_hash(px->store, hash, &kv) : STORE_NOTFOUND;
    if (out->key_status == STORE_OK) {
        snprintf(out->key_name, sizeof(out->key_name), "%s", kv.name);
        out->key_disabled = kv.disabled;
        out->key_expired = kv.expires_at != 0 && kv.expires_at <= (int64_t)time(NULL);
    }
    if (model != NULL && out->key_status == STORE_OK) {
        out->model_status = store_model_by_name(px->store, model, strlen(model), &out->mv);
        if (out->model_status == STORE_OK) {
            out->model_allowed = auth_key_allows(&kv, model);
            snprintf(out->upstream_model, sizeof(out->upstream_model), "%s",
                     out->mv.upstream_model);
            out->api_base = strdup(out->mv.api_base);
            out->api_key = strdup(out->mv.api_key);
        }
    }
    store_read_end(px->store);
    /* the view's strings die with the transaction; its numbers stay valid */
    out->mv.id = out->mv.name = out->mv.upstream_model = out->mv.api_base = out->mv.api_key = NULL;
    return 0;
}

static void
lookup_free(struct lookup *l)
{
    free(l->api_base);
    if (l->api_key != NULL) {
        explicit_bzero(l->api_key, strlen(l->api_key));
        free(l->api_key);
    }
}

/* 401 unless the key exists, is enabled and has not expired. */
static int
check_key(struct http_req *r, const char *key, const struct lookup *l)
{
    if (key == NULL) {
        http_reply_error(r, 401, "invalid_request_error", "missing_api_key", NULL,
                         "You didn't provide an API key. Send it in an Authorization: Bearer "
                         "header or an x-api-key header.");
        return -1;
    }
    if (l->key_status != STORE_OK) {
        http_reply_error(r, 401, "invalid_request_error", "invalid_api_key", NULL,
                         "Incorrect API key provided.");
        return -1;
    }
    if (l->key_disabled) {
        http_reply_error(r, 401, "invalid_request_error", "api_key_disabled", NULL,
                         "This API key is disabled.");
        return -1;
    }
    if (l->key_expired) {
        http_reply_error(r, 401, "invalid_request_error", "api_key_expired", NULL,
                         "This API key has expired.");
        return -1;
    }
    return 0;
}

/* ---- GET /v1/models ---- */

struct models_ctx {
    const uint8_t *hash;
    struct key_view kv;
    struct json_object *data;
};

static int
models_add(const struct model_view *v, void *arg)
{
    struct models_ctx *m = arg;
    if (!auth_key_allows(&m->kv, v->name))
        return 0;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(v->name));
    json_object_object_add(o, "object", json_object_new_string("model"));
    json_object_object_add(o, "created", json_object_new_int64(0));
    json_object_object_add(o, "owned_by", json_object_new_string(provider_name(v->provider)));
    json_object_array_add(m->data, o);
    return 0;
}

static void
models_list(struct proxy *px, struct http_req *r, const uint8_t *hash)
{
    struct models_ctx m = {hash, {0}, json_object_new_array()};
    if (store_read_begin(px->store) == 0) {
        if (store_key_by_hash(px->store, hash, &m.kv) == STORE_OK)
            store_models_foreach(px->store, models_add, &m);
        store_read_end(px->store);
    }
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "object", json_object_new_string("list"));
    json_object_object_add(o, "data", m.data);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
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
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    int lexok = json_lexically_strict(p, len) == 0;
    struct json_object *o = len && lexok ? json_tokener_parse_ex(tok, p, (int)len) : NULL;
    enum json_tokener_error err = lexok ? json_tokener_get_error(tok)
                                        : json_tokener_error_parse_unexpected;
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
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
    return o;
}

/* Check the fields each endpoint requires; 400 naming the field. */
static int
check_fields(struct http_req *r, enum route rt, struct json_object *body, int *stream)
{
    struct json_object *o;
    if (!json_object_object_get_ex(body, "model", &o) || !json_object_is_type(o, json_type_string) ||
        json_object_get_string_len(o) == 0) {
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
    } else if (rt == RT_EMBEDDINGS && (!json_object_object_get_ex(body, "input", &o) || o == NULL)) {
        http_reply_error(r, 400, "invalid_request_error", "missing_required_parameter", "input",
                         "you must provide an input parameter");
        return -1;
    }
    return 0;
}

/* ---- the transfer ---- */

static void pxreq_finish(struct pxreq *q, CURLcode rc);

static void
pxreq_free(struct pxreq *q)
{
    struct proxy *px = q->px;
    if (q->timer != NULL)
        event_free(q->timer);
    if (q->xfer.easy != NULL) {
        upstream_cancel(px->up, &q->xfer);
        upstream_easy_put(px->up, q->xfer.easy);
    }
    curl_slist_free_all(q->hdrs); /* holds the provider secret: freed, never logged */
    json_object_put(q->body);
    if (q->resp != NULL)
        evbuffer_free(q->resp);
    sse_free(&q->sse);
    if (q->prev)
        q->prev->next = q->next;
    else
        px->all = q->next;
    if (q->next)
        q->next->prev = q->prev;
    px->inflight--;
    free(q);
}

/* Note the outcome for the access line (http.c writes it when the request ends). */
static void
note(struct pxreq *q, const char *error)
{
    q->acc->upstream_status = q->status;
    if (error != NULL && q->acc->error == NULL)
        q->acc->error = error;
}

static void
arm_timer(struct pxreq *q, int64_t ms)
{
    struct timeval tv = tv_ms(ms);
    evtimer_add(q->timer, &tv);
}

/* First-byte or stream-idle timeout: stop the transfer and answer 504 / an error event. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pxreq *q = arg;
    q->timed_out = 1;
    upstream_cancel(q->px->up, &q->xfer);
    pxreq_finish(q, CURLE_OPERATION_TIMEDOUT);
}

/* Take usage numbers from a usage object. */
static void
take_usage(struct pxreq *q, struct json_object *u)
{
    struct json_object *o;
    if (u == NULL || !json_object_is_type(u, json_type_object))
        return;
    struct http_access *a = q->acc;
    if (json_object_object_get_ex(u, "prompt_tokens", &o))
        a->prompt_tokens = json_object_get_int64(o);
    if (json_object_object_get_ex(u, "completion_tokens", &o))
        a->completion_tokens = json_object_get_int64(o);
    if (json_object_object_get_ex(u, "total_tokens", &o))
        a->total_tokens = json_object_get_int64(o);
    else
        a->total_tokens = a->prompt_tokens + a->completion_tokens;
    q->have_usage = 1;
}

/* Does this event carry a usage object (not null)? Cheap scan before any JSON parse. */
static int
has_usage_object(const char *data, size_t len)
{
    const char *end = data + len, *p = data;
    while ((p = memmem(p, (size_t)(end - p), "\"usage\"", 7)) != NULL) {
        p += 7;
        while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n'))
            p++;
        if (p < end && *p == '{')
            return 1;
    }
    return 0;
}

/* Forward one SSE event to the client, as "event:"/"data:" lines. */
static void
sse_forward(struct pxreq *q, const char *event, size_t evlen, const char *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return;
    if (evlen > 0)
        evbuffer_add_printf(b, "event: %.*s\n", (int)evlen, event);
    /* a multi-line data field goes out as several data: lines */
    const char *p = data, *end = data + len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        evbuffer_add(b, "data: ", 6);
        evbuffer_add(b, p, (size_t)(e - p));
        evbuffer_add(b, "\n", 1);
        p = nl ? nl + 1 : end;
    } while (p < end);
    evbuffer_add(b, "\n", 1);
    size_t n = evbuffer_get_length(b);
    http_stream_write(q->r, evbuffer_pullup(b, -1), n);
    evbuffer_free(b);
}

/* One upstream SSE event: account usage, drop the usage chunk the client didn't ask for. */
static int
on_sse_event(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    struct pxreq *q = arg;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        q->got_done = 1;
        sse_forward(q, event, evlen, data, len);
        return 0;
    }
    if (!q->client_usage && len < 65536) {
        /* Chunks carry "usage":null only because we asked for usage: give the client what it asked. */
        const char *m = memmem(data, len, ",\"usage\":null", 13);
        if (m != NULL) {
            char buf[65536];
            size_t head = (size_t)(m - data);
            memcpy(buf, data, head);
            memcpy(buf + head, m + 13, len - head - 13);
            sse_forward(q, event, evlen, buf, len - 13);
            return 0;
        }
    }
    if (has_usage_object(data, len)) {
        struct json_object *o = json_tokener_parse(data), *u, *ch;
        if (o != NULL && json_object_object_get_ex(o, "usage", &u))
            take_usage(q, u);
        if (o != NULL && !q->client_usage) {
            if (json_object_object_get_ex(o, "choices", &ch) &&
                json_object_is_type(ch, json_type_array) && json_object_array_length(ch) == 0) {
                json_object_put(o); /* the extra chunk we asked for: not the client's */
                return 0;
            }
            json_object_object_del(o, "usage");
            const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
            sse_forward(q, event, evlen, s, strlen(s));
            json_object_put(o);
            return 0;
        }
        json_object_put(o);
    }
    sse_forward(q, event, evlen, data, len);
    return 0;
}

/* The upstream's status and headers are complete: decide how to relay. */
static void
on_headers_done(struct pxreq *q)
{
    char *ctype = NULL;
    q->headers_done = 1;
    curl_easy_getinfo(q->xfer.easy, CURLINFO_RESPONSE_CODE, &q->status);
    curl_easy_getinfo(q->xfer.easy, CURLINFO_CONTENT_TYPE, &ctype);
    if (q->stream && q->status == 200 && ctype != NULL &&
        strncasecmp(ctype, "text/event-stream", 17) == 0) {
        q->is_sse = 1;
        sse_init(&q->sse, SSE_MAX_EVENT);
        http_resp_header(q->r, "Cache-Control", "no-cache");
        http_resp_header(q->r, "X-Accel-Buffering", "no");
        http_stream_begin(q->r, 200, "text/event-stream");
        q->acc->ttft_us = now_mono_us();
        arm_timer(q, q->idle_ms);
    } else {
        evtimer_del(q->timer);
    }
}

static size_t
header_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct pxreq *q = arg;
    size_t len = size * n;
    if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(q->xfer.easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) /* not an interim 1xx block */
            on_headers_done(q);
    } else if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        size_t vlen = len - 12;
        const char *v = buf + 12;
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        snprintf(q->retry_after, sizeof(q->retry_after), "%.*s", (int)vlen, v);
    }
    return len;
}

static size_t
write_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct pxreq *q = arg;
    size_t len = size * n;
    if (q->is_sse) {
        /* Backpressure: a slow client pauses the upstream rather than grow our memory. */
        if (http_stream_pending(q->r) > HTTP_OUT_HIGH) {
            q->paused = 1;
            evtimer_del(q->timer); /* a slow reader is not an idle upstream */
            return CURL_WRITEFUNC_PAUSE;
        }
        arm_timer(q, q->idle_ms);
        if (sse_feed(&q->sse, buf, len, on_sse_event, q) != 0)
            return 0; /* an event beyond SSE_MAX_EVENT: fail the transfer */
        return len;
    }
    if (evbuffer_get_length(q->resp) + len > q->px->conf->max_response_size) {
        q->too_large = 1;
        return 0;
    }
    evbuffer_add(q->resp, buf, len);
    return len;
}

/* The client reads again: let the paused upstream flow. */
static void
on_client_drain(void *arg)
{
    struct pxreq *q = arg;
    if (q->paused) {
        q->paused = 0;
        arm_timer(q, q->idle_ms);
        upstream_resume(q->px->up, &q->xfer);
    }
}

/* The client went away: cancel the upstream request at once. */
static void
on_client_abort(void *arg)
{
    struct pxreq *q = arg;
    upstream_cancel(q->px->up, &q->xfer);
    note(q, "client_closed");
    http_req_release(q->r);
    pxreq_free(q);
}

/* The curl error as a client status, error code and message. */
static int
map_error(struct pxreq *q, CURLcode rc, const char **code, const char **msg)
{
    if (q->timed_out || rc == CURLE_OPERATION_TIMEDOUT) {
        *code = "upstream_timeout";
        *msg = q->headers_done ? "The upstream stopped sending in time" : "The upstream did not answer in time";
        return 504;
    }
    if (q->too_large) {
        *code = "upstream_response_too_large";
        *msg = "The upstream response exceeds limits.max_response_size";
        return 502;
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *code = "upstream_unreachable";
        *msg = "Could not connect to the upstream";
        return 502;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        *code = "upstream_tls_error";
        *msg = "TLS with the upstream failed (certificate verification or handshake)";
        return 502;
    default:
        *code = "upstream_error";
        *msg = curl_easy_strerror(rc);
        return 502;
    }
}

/* An SSE error event ends a stream that broke after bytes reached the client: never a fake [DONE]. */
static void
stream_fail(struct pxreq *q, const char *type, const char *code, const char *msg)
{
    char buf[512];
    struct json_object *e = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(e, "message", json_object_new_string(msg));
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object_object_add(e, "param", NULL);
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(o, "error", e);
    snprintf(buf, sizeof(buf), "data: %s\n\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    http_stream_write(q->r, buf, strlen(buf));
    note(q, code);
    http_stream_end(q->r);
}

/* A buffered upstream answer: relay it, taking usage from it. */
static void
reply_buffered(struct pxreq *q)
{
    size_t len = evbuffer_get_length(q->resp);
    const char *body = (const char *)evbuffer_pullup(q->resp, -1);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = len ? json_tokener_parse_ex(tok, body, (int)len) : NULL, *u;
    json_tokener_free(tok);
    int isjson = o != NULL && json_object_is_type(o, json_type_object);

    if (q->status >= 200 && q->status < 300) {
        if (isjson && json_object_object_get_ex(o, "usage", &u))
            take_usage(q, u);
        note(q, NULL);
        http_reply(q->r, (int)q->status, "application/json", body, len);
    } else if (isjson && json_object_object_get_ex(o, "error", NULL)) {
        if (q->retry_after[0])
            http_resp_header(q->r, "Retry-After", q->retry_after);
        note(q, "upstream_status");
        http_reply(q->r, (int)q->status, "application/json", body, len);
    } else {
        note(q, "upstream_bad_response");
        http_reply_error(q->r, 502, "upstream_error", "upstream_bad_response", NULL,
                         "The upstream answered status %ld without an OpenAI-style error body",
                         q->status);
    }
    json_object_put(o);
}

/* The transfer ended (or was stopped by our timer): answer the client. */
static void
pxreq_finish(struct pxreq *q, CURLcode rc)
{
    const char *code, *msg;
    evtimer_del(q->timer);
    if (q->is_sse) {
        if (rc != CURLE_OK && map_error(q, rc, &code, &msg) != 504) {
            char buf[256];
            snprintf(buf, sizeof(buf), "The upstream connection broke mid-stream: %s",
                     curl_easy_strerror(rc));
            stream_fail(q, "upstream_error", "upstream_disconnected", buf);
        } else if (rc != CURLE_OK) {
            stream_fail(q, "upstream_error", code, msg);
        } else if (!q->got_done) {
            stream_fail(q, "upstream_error", "upstream_stream_truncated",
                        "The upstream ended the stream without [DONE]");
        } else {
            note(q, NULL);
            http_stream_end(q->r);
        }
    } else if (rc != CURLE_OK) {
        int status = map_error(q, rc, &code, &msg);
        note(q, code);
        http_reply_error(q->r, status, "upstream_error", code, NULL, "%s", msg);
    } else {
        reply_buffered(q);
    }
    pxreq_free(q);
}

static void
xfer_done(struct upstream_xfer *x, CURLcode rc)
{
    struct pxreq *q = (struct pxreq *)((char *)x - offsetof(struct pxreq, xfer));
    pxreq_finish(q, rc);
}

/* Rewrite the client's body for an OpenAI-style upstream. */
static void
build_body(struct pxreq *q, struct json_object *body, const char *upstream_model)
{
    json_object_object_add(body, "model", json_object_new_string(upstream_model));
    if (q->stream && q->rt != RT_EMBEDDINGS) {
        struct json_object *so;
        if (!json_object_object_get_ex(body, "stream_options", &so) ||
            !json_object_is_type(so, json_type_object)) {
            so = json_object_new_object();
            json_object_object_add(body, "stream_options", so);
        }
        struct json_object *iu;
        q->client_usage = json_object_object_get_ex(so, "include_usage", &iu) &&
                          json_object_get_boolean(iu);
        /* Always ask: the usage chunk is how tokens are counted exactly. */
        json_object_object_add(so, "include_usage", json_object_new_boolean(1));
    }
    q->body = body;
}

/* Set up the easy handle and start; 0, or -1 after replying 502. */
static int
start_transfer(struct pxreq *q, const struct lookup *l)
{
    struct proxy *px = q->px;
    const struct conf *c = px->conf;
    char url[4096], hdr[4200];
    CURL *e = upstream_easy_get(px->up);
    if (e == NULL)
        return -1;
    q->xfer.easy = e;
    q->xfer.done = xfer_done;
    snprintf(url, sizeof(url), "%s%s", l->api_base, route_suffix[q->rt]);
    q->hdrs = curl_slist_append(q->hdrs, "Content-Type: application/json");
    q->hdrs = curl_slist_append(q->hdrs, q->stream ? "Accept: text/event-stream"
                                                   : "Accept: application/json");
    q->hdrs = curl_slist_append(q->hdrs, "Expect:");
    if (l->api_key[0] != '\0') {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", l->api_key);
        q->hdrs = curl_slist_append(q->hdrs, hdr);
        explicit_bzero(hdr, sizeof(hdr));
    }
    snprintf(hdr, sizeof(hdr), "x-request-id: %s", http_req_id(q->r));
    q->hdrs = curl_slist_append(q->hdrs, hdr);

    const char *json = json_object_to_json_string_ext(q->body, JSON_C_TO_STRING_PLAIN |
                                                                   JSON_C_TO_STRING_NOSLASHESCAPE);
    int64_t connect = l->mv.connect_timeout_ms ? l->mv.connect_timeout_ms
                                               : c->upstream_connect_timeout_ms;
    int64_t total = l->mv.total_timeout_ms ? l->mv.total_timeout_ms : c->upstream_total_timeout_ms;
    q->first_byte_ms = l->mv.first_byte_timeout_ms ? l->mv.first_byte_timeout_ms
                                                   : c->upstream_first_byte_timeout_ms;
    q->idle_ms = l->mv.stream_idle_timeout_ms ? l->mv.stream_idle_timeout_ms
                                              : c->stream_idle_timeout_ms;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->upstream_ca_file[0] != '\0')
        curl_easy_setopt(e, CURLOPT_CAINFO, c->upstream_ca_file);
    q->timer = evtimer_new(px->base, timer_cb, q);
    if (q->timer == NULL || upstream_start(px->up, &q->xfer) < 0)
        return -1;
    arm_timer(q, q->first_byte_ms);
    return 0;
}

/* The pipeline for chat/completions, completions and embeddings. */
static void
proxy_request(struct proxy *px, struct http_req *r, enum route rt, const char *key,
              const uint8_t *hash)
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
    if (lookup(px, hash, model, &l) < 0) {
        json_object_put(body);
        http_reply_error(r, 503, "server_error", "config_unavailable", NULL,
                         "The configuration store is unavailable");
        return;
    }
    snprintf(http_req_access(r)->model, sizeof(http_req_access(r)->model), "%s", model);
    if (check_key(r, key, &l) < 0)
        goto done;
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
    struct pxreq *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->resp = evbuffer_new()) == NULL) {
        free(q);
        http_reply_error(r, 500, "server_error", "out_of_memory", NULL, "Out of memory");
        goto done;
    }
    q->px = px;
    q->r = r;
    q->rt = rt;
    q->stream = stream;
    q->acc = http_req_access(r);
    build_body(q, body, l.upstream_model);
    body = NULL; /* q owns it now */
    q->next = px->all;
    if (px->all)
        px->all->prev = q;
    px->all = q;
    px->inflight++;
    http_req_set_callbacks(r, on_client_abort, on_client_drain, q);
    if (start_transfer(q, &l) < 0) {
        note(q, "upstream_start");
        http_reply_error(r, 500, "server_error", "upstream_start", NULL,
                         "Could not start the upstream request");
        pxreq_free(q);
    }
done:
    json_object_put(body);
    lookup_free(&l);
}

void
proxy_handle(struct http_req *r, void *arg)
{
    struct proxy *px = arg;
    enum route rt = route_of(http_req_path(r));
    int m = http_req_method(r);
    struct lookup l;
    uint8_t hash[AUTH_HASH_LEN];
    const char *key = client_key(r);
    char ver[32];

    if (key != NULL)
        auth_key_hash(key, strlen(key), hash);
    if (lookup(px, key ? hash : NULL, NULL, &l) < 0) {
        http_reply_error(r, 503, "server_error", "config_unavailable", NULL,
                         "The configuration store is unavailable");
        return;
    }
    snprintf(ver, sizeof(ver), "%llu", (unsigned long long)l.version);
    if (l.key_status == STORE_OK)
        snprintf(http_req_access(r)->key, sizeof(http_req_access(r)->key), "%s", l.key_name);
    http_resp_header(r, "x-aigw-config-version", ver);

    if (rt == RT_HEALTH) {
        http_reply(r, 200, "application/json", "{\"status\":\"ok\"}", 15);
    } else if (rt == RT_NONE) {
        http_reply_error(r, 404, "invalid_request_error", "unknown_url", NULL,
                         "Unknown request URL: %s", http_req_path(r));
    } else if ((rt == RT_MODELS && m != HTTP_M_GET) || (rt != RT_MODELS && m != HTTP_M_POST)) {
        http_resp_header(r, "Allow", rt == RT_MODELS ? "GET" : "POST");
        http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "Method not allowed for %s: use %s", http_req_path(r),
                         rt == RT_MODELS ? "GET" : "POST");
    } else if (check_key(r, key, &l) == 0) {
        if (rt == RT_MODELS)
            models_list(px, r, hash);
        else
            proxy_request(px, r, rt, key, hash);
    }
    lookup_free(&l);
}

struct proxy *
proxy_new(struct event_base *base, const struct conf *c, struct store *s, struct upstream *u)
{
    struct proxy *px = calloc(1, sizeof(*px));
    if (px == NULL)
        return NULL;
    px->base = base;
    px->conf = c;
    px->store = s;
    px->up = u;
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
        upstream_cancel(px->up, &q->xfer);
        if (q->is_sse)
            stream_fail(q, "server_error", "server_shutting_down", "aigw is shutting down");
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
    free(px);
}
