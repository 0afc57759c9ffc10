/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_responses.c: OpenAI's Responses API (POST /v1/responses) to an
 * OpenAI-dialect target (openai, openai-compatible, azure-openai), worker.
 *
 * A pass-through: the client's bytes go out with only the model's value
 * replaced, and the answer comes back as it came, its typed stream events
 * (event: response.created, response.output_text.delta, ...,
 * response.completed) relayed one by one. What aigw reads of it is usage,
 * from a response object's "usage" ({input,output}_tokens and their
 * details): the non-stream answer itself, or the "response" of the stream's
 * final response.completed (or response.incomplete) event, which is also
 * what says the stream is complete. An "error" event or response.failed is
 * the stream's error.
 *
 * Events are not parsed unless their bytes can hold usage or an error: a
 * text delta is forwarded without a JSON parse (the hot path).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "jsonx.h"
#include "prov_openai.h"
#include "provider.h"
#include "usage.h"

void
prov_responses_body(const struct prov_call *c, struct json_object *body, struct prov_http *out)
{
    if (prov_raw_model(c, out) == 0)
        return;
    /* the model's key written with escapes (or no bytes): the checked parse goes out */
    json_object_object_add(body, "model", json_object_new_string(c->t->upstream_model));
    prov_body(out, json_object_get(body));
}

void
prov_responses_usage(struct json_object *u, struct prov_usage *out)
{
    int bad = 0;
    if (u == NULL || !json_object_is_type(u, json_type_object))
        return;
    out->prompt = usage_count(u, "input_tokens", &bad);
    out->completion = usage_count(u, "output_tokens", &bad);
    out->total = jx_get(u, "total_tokens") != NULL ? usage_count(u, "total_tokens", &bad)
                                                   : usage_add(out->prompt, out->completion);
    out->cached = usage_count(jx_get(u, "input_tokens_details"), "cached_tokens", &bad);
    out->reasoning = usage_count(jx_get(u, "output_tokens_details"), "reasoning_tokens", &bad);
    out->bad |= bad;
    out->have = 1;
}

int
prov_responses_response(struct json_object *in, struct prov_usage *u)
{
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return -1;
    prov_responses_usage(jx_get(in, "usage"), u);
    return 0;
}

/* A string member of o, or NULL. */
static const char *
str_of(struct json_object *o, const char *k)
{
    struct json_object *v = jx_get(o, k);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The stream failed: its status by the error's code, and OpenAI's error body. */
static void
stream_failed(struct prov_stream *s, struct json_object *e)
{
    const char *code = str_of(e, "code"), *msg = str_of(e, "message");
    s->error_status = code != NULL && strcmp(code, "rate_limit_exceeded") == 0 ? 429 : 500;
    json_object_put(s->error);
    s->error =
        prov_error_json(msg ? msg : "The upstream failed the response", "server_error", code);
}

int
prov_responses_stream_event(struct prov_stream *s, const char *event, size_t evlen,
                            const char *data, size_t len)
{
    struct json_object *o, *r;
    const char *type;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        return 0; /* some servers add it; the end is response.completed */
    if (memmem(data, len, "\"usage\"", 7) == NULL && memmem(data, len, "\"error\"", 7) == NULL)
        return 0;
    if ((o = json_tokener_parse(data)) == NULL || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    if ((type = str_of(o, "type")) == NULL) {
        /* an OpenAI-compatible server's chat-style {"error": {...}} */
        r = jx_get(o, "error");
        if (r == NULL || !json_object_is_type(r, json_type_object)) {
            json_object_put(o);
            return -1;
        }
        stream_failed(s, r);
    } else if (strcmp(type, "response.completed") == 0 ||
               strcmp(type, "response.incomplete") == 0) {
        prov_responses_usage(jx_get(jx_get(o, "response"), "usage"), &s->usage);
        s->done = 1;
    } else if (strcmp(type, "response.failed") == 0) {
        r = jx_get(o, "response");
        prov_responses_usage(jx_get(r, "usage"), &s->usage);
        stream_failed(s, jx_get(r, "error"));
    } else if (strcmp(type, "error") == 0) {
        stream_failed(s, o);
    }
    json_object_put(o);
    return 0;
}
