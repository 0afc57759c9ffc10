/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_openai.c: OpenAI, and any OpenAI-compatible server (vLLM, Ollama,
 * llama.cpp, ...). The internal shape is theirs, so the body goes out as
 * the client sent it (its model replaced, usage asked for in streams) and
 * the answer comes back as it came: the parsers only read usage and see
 * the end. This is the hot path; nothing here reserializes an answer.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "jsonx.h"
#include "jsonraw.h"
#include "prov_openai.h"
#include "provider.h"
#include "usage.h"

static const char *const op_path[OP_N] = {"/chat/completions", "/completions", "/embeddings", NULL,
                                          "/responses"};

const char *
prov_openai_path(enum prov_op op)
{
    return op >= 0 && op < OP_N ? op_path[op] : NULL;
}

/* The model, the usage chunk in streams, and the target's max_tokens when the client gave none. */
void
prov_openai_body(const struct prov_call *c, struct json_object *body, const char *max_field)
{
    struct json_object *so;
    json_object_object_add(body, "model", json_object_new_string(c->t->upstream_model));
    /* Ask for the usage chunk: it is how streamed tokens are counted exactly. */
    if (c->stream && c->op != OP_EMBEDDINGS) {
        if (!json_object_object_get_ex(body, "stream_options", &so) ||
            !json_object_is_type(so, json_type_object)) {
            so = json_object_new_object();
            json_object_object_add(body, "stream_options", so);
        }
        json_object_object_add(so, "include_usage", json_object_new_boolean(1));
    }
    if (c->t->max_tokens > 0 && c->op != OP_EMBEDDINGS &&
        !json_object_object_get_ex(body, "max_tokens", NULL) &&
        !json_object_object_get_ex(body, "max_completion_tokens", NULL))
        json_object_object_add(body, c->op == OP_COMPLETIONS ? "max_tokens" : max_field,
                               json_object_new_int(c->t->max_tokens)); /* legacy: max_tokens only */
}

/*
 * prov_openai_body made on the client's bytes (c->raw): the model's value
 * replaced, stream_options.include_usage set, the target's max_tokens
 * added. -1 when a member json-c found is not where the bytes say (a key
 * written with escapes): then the parse is sent.
 */
#define LIT(s) s, sizeof(s) - 1

int
prov_openai_raw(const struct prov_call *c, struct json_object *body, struct prov_http *out,
                const char *max_field)
{
    struct jsonraw_edit ed[4];
    struct jsonraw_span v, so, iu;
    size_t close, soclose, outlen, obj;
    int n = 0, r;
    char maxbuf[64];
    if (c->raw == NULL || (obj = jsonraw_start(c->raw, c->rawlen)) == (size_t)-1 ||
        jsonraw_member(c->raw, c->rawlen, obj, "model", &v, &close) != 0)
        return -1;
    struct json_object *m = json_object_new_string(c->t->upstream_model);
    const char *q =
        json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    ed[n++] = (struct jsonraw_edit){v.b, v.e - v.b, q, strlen(q), 0};
    if (c->stream && c->op != OP_EMBEDDINGS) {
        r = jsonraw_member(c->raw, c->rawlen, obj, "stream_options", &so, &close);
        if (r == 0 && c->raw[so.b] == '{') {
            r = jsonraw_member(c->raw, c->rawlen, so.b, "include_usage", &iu, &soclose);
            if (r == 0)
                ed[n++] = (struct jsonraw_edit){iu.b, iu.e - iu.b, "true", 4, 0};
            else if (r == 1 && soclose == so.b + 1) /* {} */
                ed[n++] = (struct jsonraw_edit){so.b + 1, 0, LIT("\"include_usage\":true"), 0};
            else if (r == 1)
                ed[n++] = (struct jsonraw_edit){so.b + 1, 0, LIT("\"include_usage\":true,"), 0};
            else
                goto fail;
        } else if (r == 0) { /* null */
            ed[n++] = (struct jsonraw_edit){so.b, so.e - so.b, LIT("{\"include_usage\":true}"), 0};
        } else if (r == 1 && !json_object_object_get_ex(body, "stream_options", NULL)) {
            ed[n++] = (struct jsonraw_edit){close, 0,
                                            LIT(",\"stream_options\":{\"include_usage\":true}"), 0};
        } else {
            goto fail;
        }
    }
    if (c->t->max_tokens > 0 && c->op != OP_EMBEDDINGS &&
        !json_object_object_get_ex(body, "max_tokens", NULL) &&
        !json_object_object_get_ex(body, "max_completion_tokens", NULL)) {
        int k = snprintf(maxbuf, sizeof(maxbuf), ",\"%s\":%d", /* after model at least */
                         c->op == OP_COMPLETIONS ? "max_tokens" : max_field, c->t->max_tokens);
        ed[n++] = (struct jsonraw_edit){close, 0, maxbuf, (size_t)k, 0};
    }
    char *buf = jsonraw_apply(c->raw, c->rawlen, ed, n, &outlen);
    json_object_put(m);
    if (buf == NULL)
        return -1;
    prov_body_bytes(out, buf, outlen);
    return 0;
fail:
    json_object_put(m);
    return -1;
}

static int
build(const struct provider *p, const struct prov_call *c, struct json_object *body,
      struct prov_http *out, char *err, size_t errlen, const char *max_field)
{
    if (prov_url(out, c->t, op_path[c->op], NULL) < 0) {
        snprintf(err, errlen, "the target's api_base is too long");
        return -1;
    }
    prov_auth(out, c, p);
    if (c->op == OP_RESPONSES) {
        prov_responses_body(c, body, out);
        return 0;
    }
    if (prov_openai_raw(c, body, out, max_field) < 0) {
        prov_openai_body(c, body, max_field);
        prov_body(out, json_object_get(body));
    }
    return 0;
}

/*
 * OpenAI itself: max_tokens is deprecated there (and refused by reasoning
 * models). A request translated from another dialect (an Anthropic client)
 * says max_tokens: it goes as max_completion_tokens. An OpenAI client's own
 * choice stays as it is.
 */
static int
openai_build(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
             size_t errlen)
{
    struct json_object *m;
    if (!c->native && c->op == OP_CHAT && json_object_object_get_ex(body, "max_tokens", &m) &&
        !json_object_object_get_ex(body, "max_completion_tokens", NULL)) {
        json_object_object_add(body, "max_completion_tokens", json_object_get(m));
        json_object_object_del(body, "max_tokens");
    }
    return build(&prov_openai, c, body, out, err, errlen, "max_completion_tokens");
}

/* Servers that follow the older API know max_tokens only. */
static int
compatible_build(const struct prov_call *c, struct json_object *body, struct prov_http *out,
                 char *err, size_t errlen)
{
    return build(&prov_openai_compatible, c, body, out, err, errlen, "max_tokens");
}

void
prov_openai_usage(struct json_object *u, struct prov_usage *out)
{
    struct json_object *d;
    int bad = 0;
    if (u == NULL || !json_object_is_type(u, json_type_object))
        return;
    out->prompt = usage_count(u, "prompt_tokens", &bad);
    out->completion = usage_count(u, "completion_tokens", &bad);
    out->total = jx_get(u, "total_tokens") != NULL ? usage_count(u, "total_tokens", &bad)
                                                   : usage_add(out->prompt, out->completion);
    d = jx_get(u, "prompt_tokens_details");
    out->cached = usage_count(d, "cached_tokens", &bad);
    d = jx_get(u, "completion_tokens_details");
    out->reasoning = usage_count(d, "reasoning_tokens", &bad);
    out->bad |= bad;
    out->have = 1;
}

int
prov_openai_response(const struct prov_call *c, struct json_object *in, struct json_object **out,
                     struct prov_usage *u)
{
    struct json_object *o;
    *out = NULL;
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return -1;
    if (c->op == OP_RESPONSES)
        return prov_responses_response(in, u);
    if (json_object_object_get_ex(in, "usage", &o))
        prov_openai_usage(o, u);
    return 0;
}

/* Does this event carry a usage object (not null)? A cheap scan before any JSON parse. */
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

int
prov_openai_stream_event(struct prov_stream *s, const char *event, size_t evlen, const char *data,
                         size_t len)
{
    if (s->call->op == OP_RESPONSES)
        return prov_responses_stream_event(s, event, evlen, data, len);
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = 1;
        if (s->emit != NULL)
            s->emit(s->arg, data, len);
        return 0;
    }
    /* An error after the 200: {"error": {...}} and no [DONE]. */
    if (len > 9 && memcmp(data, "{\"error\"", 8) == 0) {
        struct json_object *o = json_tokener_parse(data);
        if (o != NULL && json_object_object_get_ex(o, "error", NULL)) {
            s->error_status = 500;
            s->error = o;
            return 0;
        }
        json_object_put(o);
    }
    if (has_usage_object(data, len)) {
        struct json_object *o = json_tokener_parse(data), *u;
        if (o != NULL && json_object_object_get_ex(o, "usage", &u))
            prov_openai_usage(u, &s->usage);
        json_object_put(o);
    }
    if (s->emit != NULL)
        s->emit(s->arg, data, len);
    return 0;
}

int
prov_openai_error(long status, const char *type, struct json_object *in, struct json_object **out)
{
    struct json_object *e;
    (void)type; /* its errors carry their type in the body */
    *out = NULL;
    if (in == NULL || !json_object_is_type(in, json_type_object) ||
        !json_object_object_get_ex(in, "error", &e) || !json_object_is_type(e, json_type_object))
        return -1;
    *out = json_object_get(in);
    return (int)status;
}

const struct provider prov_openai = {
    .name = "openai",
    .id = PROVIDER_OPENAI,
    .api_base = "https://api.openai.com/v1",
    .auth_header = "Authorization",
    .auth_scheme = "Bearer",
    .ops = OP_BIT(OP_CHAT) | OP_BIT(OP_COMPLETIONS) | OP_BIT(OP_EMBEDDINGS) | OP_BIT(OP_RESPONSES),
    .own = DIALECT_OPENAI,
    .build = openai_build,
    .response = prov_openai_response,
    .stream_event = prov_openai_stream_event,
    .error = prov_openai_error,
};

const struct provider prov_openai_compatible = {
    .name = "openai-compatible",
    .id = PROVIDER_OPENAI_COMPATIBLE,
    .api_base = NULL, /* the operator's own server */
    .auth_header = "Authorization",
    .auth_scheme = "Bearer",
    .ops = OP_BIT(OP_CHAT) | OP_BIT(OP_COMPLETIONS) | OP_BIT(OP_EMBEDDINGS) | OP_BIT(OP_RESPONSES),
    .own = DIALECT_OPENAI,
    .build = compatible_build,
    .response = prov_openai_response,
    .stream_event = prov_openai_stream_event,
    .error = prov_openai_error,
};
