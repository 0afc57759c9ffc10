/* SPDX-License-Identifier: Apache-2.0 */
/*
 * answer.c: the answer to the client, in the client's dialect (worker).
 *
 * An attempt's upstream answer goes through its provider (provider.h) to
 * the internal OpenAI shape, and from there to the client: as it is to an
 * OpenAI client, through messages.c to an Anthropic one. A client that
 * speaks the target's own dialect, when that is not OpenAI's (an Anthropic
 * client, an Anthropic target), gets the upstream's bytes as they came; the
 * provider's parsers then only account usage and see the end. A Responses
 * API client whose target serves chat only gets the chat answer through
 * responses_out.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "access.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "http.h"
#include "messages.h"
#include "pxreq.h"
#include "responses.h"
#include "usage.h"

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const struct target_view *
target(const struct pxreq *q)
{
    return &q->mv.t[q->a.target];
}

void
answer_route_headers(struct pxreq *q)
{
    char n[16];
    snprintf(q->acc->target, sizeof(q->acc->target), "%s", target(q)->name);
    q->acc->provider = provider_name(target(q)->provider);
    q->acc->attempts = q->attempts;
    snprintf(n, sizeof(n), "%d", q->attempts);
    http_resp_header(q->r, "x-aigw-target", target(q)->name);
    http_resp_header(q->r, "x-aigw-attempts", n);
}

void
answer_usage(struct pxreq *q, const struct prov_usage *u)
{
    struct access_info *a = q->acc;
    if (!u->have)
        return;
    if (u->bad)
        usage_warn(target(q)->name);
    a->prompt_tokens = u->prompt;
    a->completion_tokens = u->completion;
    a->total_tokens = u->total;
    q->have_usage = 1;
    q->total_tokens = u->total; /* acc dies with the reply; the limits settle later */
}

void
answer_stream_begin(struct pxreq *q)
{
    if (http_resp_started(q->r))
        return;
    answer_route_headers(q);
    http_resp_header(q->r, "Cache-Control", "no-cache");
    http_resp_header(q->r, "X-Accel-Buffering", "no");
    http_stream_begin(q->r, 200, "text/event-stream");
    q->acc->ttft_us = now_mono_us();
}

/* Write one SSE event ("event:" when named, a multi-line data field as several data: lines). */
static void
write_event(struct pxreq *q, const char *event, size_t evlen, const char *data, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return;
    answer_stream_begin(q);
    if (evlen > 0)
        evbuffer_add_printf(b, "event: %.*s\n", (int)evlen, event);
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

/* An event of messages.c's translation. */
static void
on_msg_event(void *arg, const char *event, const char *data, size_t len)
{
    write_event(arg, event, strlen(event), data, len);
}

/* An event of responses_out.c's translation. */
static void
on_rsp_event(void *arg, const char *event, const char *data, size_t len)
{
    write_event(arg, event, strlen(event), data, len);
}

/*
 * One OpenAI chunk to an OpenAI client. Usage was asked for upstream
 * whether or not the client asked (it is how streamed tokens are counted):
 * a client that did not gets neither the "usage":null members nor the
 * usage chunk.
 */
static void
openai_chunk(struct pxreq *q, const char *data, size_t len)
{
    if (q->client_usage || (len == 6 && memcmp(data, "[DONE]", 6) == 0)) {
        write_event(q, NULL, 0, data, len);
        return;
    }
    const char *m = len < 65536 ? memmem(data, len, ",\"usage\":null", 13) : NULL;
    if (m != NULL) {
        char buf[65536];
        size_t head = (size_t)(m - data);
        memcpy(buf, data, head);
        memcpy(buf + head, m + 13, len - head - 13);
        write_event(q, NULL, 0, buf, len - 13);
        return;
    }
    if (memmem(data, len, "\"usage\"", 7) != NULL) {
        struct json_object *o = json_tokener_parse(data), *ch, *u;
        if (o != NULL && json_object_object_get_ex(o, "usage", &u) && u != NULL) {
            if (json_object_object_get_ex(o, "choices", &ch) &&
                json_object_is_type(ch, json_type_array) && json_object_array_length(ch) == 0) {
                json_object_put(o); /* the usage chunk we asked for: not the client's */
                return;
            }
            json_object_object_del(o, "usage");
            const char *s = json_object_to_json_string_ext(o, JSON_OUT);
            write_event(q, NULL, 0, s, strlen(s));
            json_object_put(o);
            return;
        }
        json_object_put(o);
    }
    write_event(q, NULL, 0, data, len);
}

/* A translated chunk as an object, for a Responses stream (prov_stream.emit_obj). */
static void
on_chunk_obj(void *arg, struct json_object *chunk)
{
    struct pxreq *q = arg;
    if (rsp_stream_obj(&q->rs, chunk) < 0)
        q->a.bad_event = 1;
}

/* A translated chunk from the attempt's provider (prov_stream.emit). */
static void
on_chunk(void *arg, const char *data, size_t len)
{
    struct pxreq *q = arg;
    if (q->front == DIALECT_ANTHROPIC) {
        if (msg_stream_chunk(&q->ms, data, len) < 0)
            q->a.bad_event = 1;
        return;
    }
    if (q->a.xlate) {
        if (rsp_stream_chunk(&q->rs, data, len) < 0)
            q->a.bad_event = 1;
        return;
    }
    openai_chunk(q, data, len);
}

void
answer_stream_setup(struct pxreq *q)
{
    struct attempt *a = &q->a;
    a->ps.call = &a->call;
    a->ps.emit = a->raw ? NULL : on_chunk;
    a->ps.emit_obj = a->xlate ? on_chunk_obj : NULL;
    a->ps.arg = q;
    if (q->front == DIALECT_ANTHROPIC && !http_resp_started(q->r))
        msg_stream_init(&q->ms, on_msg_event, q);
    if (a->xlate && !http_resp_started(q->r)) { /* anew for each attempt until one begins */
        rsp_stream_free(&q->rs);
        rsp_stream_init(&q->rs, q->rbase, &a->ps.usage, on_rsp_event, q);
        q->rs_on = 1;
    }
}

void
answer_stream_event(struct pxreq *q, const char *event, size_t evlen, const char *data, size_t len)
{
    struct attempt *a = &q->a;
    if (a->ps.error_status != 0)
        return; /* nothing counts after an error event */
    if (a->prov->stream_event(&a->ps, event, evlen, data, len) < 0) {
        a->bad_event = 1;
        return;
    }
    answer_usage(q, &a->ps.usage);
    /*
     * A pass-through forwards the event as it came, an error event too once
     * the stream has begun; before that the error becomes the answer's
     * status (and may be retried elsewhere).
     */
    if (a->raw && (a->ps.error_status == 0 || http_resp_started(q->r)))
        write_event(q, event, evlen, data, len);
}

void
answer_stream_fail(struct pxreq *q, int status, const char *type, const char *code, const char *msg)
{
    struct json_object *o;
    const char *event = NULL;
    if (q->rs_on && q->rs.started) { /* a translated Responses stream: response.failed */
        rsp_stream_fail(&q->rs, code, msg);
        pxreq_note(q, code);
        http_stream_end(q->r);
        return;
    }
    if (q->front == DIALECT_ANTHROPIC) {
        o = msg_error_body(status, msg);
        event = "error";
    } else if (q->op == OP_RESPONSES) { /* the Responses API's own error event */
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("error"));
        json_object_object_add(o, "code", json_object_new_string(code));
        json_object_object_add(o, "message", json_object_new_string(msg));
        json_object_object_add(o, "param", NULL);
        event = "error";
    } else {
        o = prov_error_json(msg, type, code);
    }
    const char *s = json_object_to_json_string_ext(o, JSON_OUT);
    write_event(q, event, event ? strlen(event) : 0, s, strlen(s));
    json_object_put(o);
    pxreq_note(q, code);
    http_stream_end(q->r);
}

/* A JSON object as the reply's body. */
static void
reply_json(struct pxreq *q, int status, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_OUT);
    http_reply(q->r, status, "application/json", s, strlen(s));
}

void
answer_error(struct pxreq *q, int status, struct json_object *err)
{
    if (q->a.retry_after[0])
        http_resp_header(q->r, "Retry-After", q->a.retry_after);
    pxreq_note(q, "upstream_status");
    if (q->front == DIALECT_ANTHROPIC) {
        struct json_object *o = msg_error_from_openai(status, err);
        reply_json(q, status, o);
        json_object_put(o);
    } else {
        reply_json(q, status == 529 ? 503 : status, err); /* OpenAI clients know no 529 */
    }
}

/* The value of the provider's error_header the answer had, NULL when none. */
static const char *
errtype(const struct attempt *a)
{
    return a->errtype[0] != '\0' ? a->errtype : NULL;
}

/* The upstream said something that is not its API's: 502. */
static void
bad_response(struct pxreq *q, long status)
{
    pxreq_note(q, "upstream_bad_response");
    http_reply_error(q->r, 502, "upstream_error", "upstream_bad_response", NULL,
                     "The upstream (provider %s) answered status %ld with a body that is not "
                     "its API's",
                     q->a.prov->name, status);
}

/* A 2xx answer. */
static void
answer_ok(struct pxreq *q, struct json_object *in, const char *body, size_t len)
{
    struct attempt *a = &q->a;
    struct json_object *out = NULL;
    struct prov_usage u = {0};
    if (a->prov->response(&a->call, in, &out, &u) < 0) {
        bad_response(q, a->status);
        return;
    }
    answer_usage(q, &u);
    pxreq_note(q, NULL);
    q->answered = 1;
    if (a->xlate) { /* a Responses request translated to chat: the answer back */
        struct json_object *m = rsp_from_chat(out ? out : in, q->rbase, &u);
        if (m == NULL)
            bad_response(q, a->status);
        else
            reply_json(q, (int)a->status, m);
        json_object_put(m);
    } else if (a->raw || (q->front == DIALECT_OPENAI && out == NULL)) {
        http_reply(q->r, (int)a->status, "application/json", body, len);
    } else if (q->front == DIALECT_OPENAI || q->op == OP_COUNT_TOKENS) {
        reply_json(q, (int)a->status, out ? out : in); /* count_tokens: already Anthropic's */
    } else {
        struct json_object *m = msg_from_openai(out ? out : in);
        if (m == NULL)
            bad_response(q, a->status);
        else
            reply_json(q, (int)a->status, m);
        json_object_put(m);
    }
    json_object_put(out);
}

void
answer_buffered(struct pxreq *q)
{
    struct attempt *a = &q->a;
    size_t len = evbuffer_get_length(q->resp);
    const char *body = (const char *)evbuffer_pullup(q->resp, -1);
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = len ? json_tokener_parse_ex(tok, body, (int)len) : NULL, *err = NULL;
    json_tokener_free(tok);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    answer_route_headers(q);
    if (a->status >= 200 && a->status < 300) {
        if (o == NULL)
            bad_response(q, a->status);
        else
            answer_ok(q, o, body, len);
    } else if (a->raw && o != NULL && a->prov->error(a->status, errtype(a), o, &err) >= 0) {
        /* the client speaks the upstream's dialect: its error as it came */
        if (a->retry_after[0])
            http_resp_header(q->r, "Retry-After", a->retry_after);
        pxreq_note(q, "upstream_status");
        http_reply(q->r, (int)a->status, "application/json", body, len);
    } else {
        int st = a->prov->error(a->status, errtype(a), o, &err);
        if (st < 0)
            bad_response(q, a->status);
        else
            answer_error(q, st, err);
    }
    json_object_put(err);
    json_object_put(o);
}
