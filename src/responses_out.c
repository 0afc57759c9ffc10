/* SPDX-License-Identifier: Apache-2.0 */
/*
 * responses_out.c: a translated chat answer to the Responses API (worker;
 * responses.h): the chat.completion to a Response object, the chat chunks
 * to the typed stream events, in the order OpenAI sends them and the
 * official SDKs' stream accumulators expect (openai-node's ResponseStream:
 * response.created first, an item added before its parts and deltas, each
 * event's output_index and content_index naming what it changes).
 *
 * What has no exact equivalent, and what we do with it:
 *
 * chat                               Responses: our choice
 * ---------------------------------  -----------------------------------------------------------
 * message.content (text)             a message item, one output_text part, annotations []
 * message.refusal                    its text in the output_text part (the providers that we
 *                                    translate for put refusals in the text anyway)
 * message.reasoning_content          dropped: a reasoning item needs OpenAI's encrypted content
 *                                    to be sent back; its tokens still count in
 *                                    output_tokens_details.reasoning_tokens
 * tool_calls                         function_call items {id fc_..., call_id: the call's id,
 *                                    name, arguments, status completed}, after the message
 * a tool call's extra_content        kept on its function_call item (Gemini's thought
 *                                    signature, which Gemini 3 wants back with the call;
 *                                    responses_req.c gives it back)
 * finish_reason stop / tool_calls    status completed
 * finish_reason length               status incomplete, incomplete_details.reason
 *                                    max_output_tokens (response.incomplete ends the stream)
 * finish_reason content_filter       status incomplete, reason content_filter
 * usage                              input_tokens (cached in input_tokens_details),
 *                                    output_tokens (reasoning in output_tokens_details),
 *                                    total_tokens: the counts aigw accounts
 * model                              the answer's model (the upstream's, as the chat
 *                                    translation and the pass-through give it)
 * an error after the stream began    response.failed, status failed, error {code, message}
 * argument pieces of a tool call     dropped (providers stream calls one by one; OpenAI never
 * whose item was done already        reopens an item)
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "jsonx.h"
#include "provider.h"
#include "responses.h"

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Are s and t the same string (s may be NULL)? */
static int
streq(const char *s, const char *t)
{
    return s != NULL && strcmp(s, t) == 0;
}

/*
 * A new response id's 24 hex digits: unique per worker (a counter) and
 * across workers and restarts (a random start), without a syscall per id.
 */
static void
new_hex(char out[25])
{
    static uint64_t seed, n;
    if (seed == 0 &&
        (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed) || seed == 0))
        seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
    uint64_t x = seed + 0x9e3779b97f4a7c15ULL * ++n; /* splitmix64 */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    snprintf(out, 25, "%016" PRIx64 "%08" PRIx64, x, n & 0xffffffffu);
}

/* o's member k (a new reference), or def (taken) when it has none. */
static void
echo(struct json_object *to, struct json_object *from, const char *k, struct json_object *def)
{
    struct json_object *v = jx_get(from, k);
    if (v != NULL) {
        json_object_put(def);
        def = json_object_get(v);
    }
    json_object_object_add(to, k, def);
}

struct json_object *
rsp_base(struct json_object *req)
{
    struct json_object *o = json_object_new_object(), *r, *t, *f;
    char hex[25], id[32];
    if (o == NULL)
        return NULL;
    new_hex(hex);
    snprintf(id, sizeof(id), "resp_%s", hex);
    jx_add_str(o, "id", id);
    jx_add_str(o, "object", "response");
    json_object_object_add(o, "created_at", json_object_new_int64((int64_t)time(NULL)));
    jx_add_str(o, "status", "in_progress");
    json_object_object_add(o, "background", json_object_new_boolean(0));
    json_object_object_add(o, "error", NULL);
    json_object_object_add(o, "incomplete_details", NULL);
    echo(o, req, "instructions", NULL);
    echo(o, req, "max_output_tokens", NULL);
    echo(o, req, "model", NULL);
    json_object_object_add(o, "output", json_object_new_array());
    echo(o, req, "parallel_tool_calls", json_object_new_boolean(1));
    json_object_object_add(o, "previous_response_id", NULL);
    r = json_object_new_object();
    echo(r, jx_get(req, "reasoning"), "effort", NULL);
    json_object_object_add(r, "summary", NULL);
    json_object_object_add(o, "reasoning", r);
    json_object_object_add(o, "store", json_object_new_boolean(0));
    echo(o, req, "temperature", json_object_new_double(1.0));
    t = json_object_new_object();
    f = json_object_new_object();
    jx_add_str(f, "type", "text");
    json_object_object_add(t, "format", f);
    echo(o, req, "text", t);
    echo(o, req, "tool_choice", json_object_new_string("auto"));
    echo(o, req, "tools", json_object_new_array());
    echo(o, req, "top_p", json_object_new_double(1.0));
    echo(o, req, "truncation", json_object_new_string("disabled"));
    json_object_object_add(o, "usage", NULL);
    echo(o, req, "user", NULL);
    echo(o, req, "metadata", json_object_new_object());
    return o;
}

/* An item id: prefix, the response's hex, the item's number. */
static struct json_object *
item_id(struct json_object *resp, const char *prefix, int n)
{
    const char *rid = jx_str(resp, "id");
    char id[64];
    snprintf(id, sizeof(id), "%s_%s_%d", prefix, rid && strlen(rid) > 5 ? rid + 5 : "0", n);
    return json_object_new_string(id);
}

/* An output_text part of text (NULL: ""). */
static struct json_object *
text_part(const char *text, size_t len)
{
    struct json_object *p = json_object_new_object();
    jx_add_str(p, "type", "output_text");
    json_object_object_add(p, "annotations", json_object_new_array());
    json_object_object_add(p, "logprobs", json_object_new_array());
    json_object_object_add(p, "text", json_object_new_string_len(text ? text : "", (int)len));
    return p;
}

/* A message item; content's reference is taken. */
static struct json_object *
msg_item(struct json_object *id, const char *status, struct json_object *content)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "id", id);
    jx_add_str(m, "type", "message");
    jx_add_str(m, "status", status);
    json_object_object_add(m, "content", content);
    jx_add_str(m, "role", "assistant");
    return m;
}

/* A function_call item. */
static struct json_object *
fc_item(struct json_object *id, const char *status, const char *args, size_t alen,
        const char *call_id, const char *name)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "id", id);
    jx_add_str(m, "type", "function_call");
    jx_add_str(m, "status", status);
    json_object_object_add(m, "arguments", json_object_new_string_len(args, (int)alen));
    jx_add_str(m, "call_id", call_id);
    jx_add_str(m, "name", name);
    return m;
}

/* Chat's usage counts in the Responses shape (null when the upstream gave none). */
static struct json_object *
usage_json(const struct prov_usage *u)
{
    struct json_object *o, *d;
    if (u == NULL || !u->have)
        return NULL;
    o = json_object_new_object();
    jx_add_int(o, "input_tokens", u->prompt);
    d = json_object_new_object();
    jx_add_int(d, "cached_tokens", u->cached);
    json_object_object_add(o, "input_tokens_details", d);
    jx_add_int(o, "output_tokens", u->completion);
    d = json_object_new_object();
    jx_add_int(d, "reasoning_tokens", u->reasoning);
    json_object_object_add(o, "output_tokens_details", d);
    jx_add_int(o, "total_tokens", u->total);
    return o;
}

/* status, incomplete_details and usage of a finished response, by chat's finish_reason. */
static void
finish_status(struct json_object *resp, const char *finish, const struct prov_usage *u)
{
    const char *reason = streq(finish, "length")           ? "max_output_tokens"
                         : streq(finish, "content_filter") ? "content_filter"
                                                           : NULL;
    jx_add_str(resp, "status", reason ? "incomplete" : "completed");
    if (reason != NULL) {
        struct json_object *d = json_object_new_object();
        jx_add_str(d, "reason", reason);
        json_object_object_add(resp, "incomplete_details", d);
    }
    json_object_object_add(resp, "usage", usage_json(u));
}

/* A new copy of base for one answer; NULL when out of memory. */
static struct json_object *
response_of(struct json_object *base)
{
    struct json_object *r = NULL;
    if (base == NULL || json_object_deep_copy(base, &r, NULL) < 0)
        return NULL;
    return r;
}

/* The model of a chat answer or chunk into the response, when it has one. */
static void
set_model(struct json_object *resp, struct json_object *chat)
{
    const char *m = jx_str(chat, "model");
    if (m != NULL && *m)
        jx_add_str(resp, "model", m);
}

/*
 * A tool call's extra_content (Gemini's thought signature, as Google's own
 * OpenAI endpoint hands it out) onto its function_call item: a client that
 * sends the item back gives it back, and Gemini 3 refuses a call without it.
 */
static void
extra_content(struct json_object *item, struct json_object *tc)
{
    struct json_object *x = jx_get(tc, "extra_content");
    if (x != NULL && json_object_is_type(x, json_type_object))
        json_object_object_add(item, "extra_content", json_object_get(x));
}

/* The function_call items of a chat message's tool_calls into output. */
static void
calls_out(struct json_object *resp, struct json_object *calls, struct json_object *output, int n)
{
    for (size_t i = 0; i < jx_len(calls); i++) {
        struct json_object *tc = jx_idx(calls, i), *fn = jx_get(tc, "function");
        const char *args = jx_str(fn, "arguments"), *id = jx_str(tc, "id");
        char cid[40];
        if (id == NULL) {
            snprintf(cid, sizeof(cid), "call_%d", n);
            id = cid;
        }
        struct json_object *item =
            fc_item(item_id(resp, "fc", n++), "completed", args ? args : "",
                    args ? strlen(args) : 0, id, jx_str(fn, "name") ? jx_str(fn, "name") : "");
        extra_content(item, tc);
        json_object_array_add(output, item);
    }
}

struct json_object *
rsp_from_chat(struct json_object *chat, struct json_object *base, const struct prov_usage *u)
{
    struct json_object *ch = jx_idx(jx_get(chat, "choices"), 0), *msg = jx_get(ch, "message");
    struct json_object *resp, *output, *content, *calls = jx_get(msg, "tool_calls");
    const char *text = jx_str(msg, "content"), *finish = jx_str(ch, "finish_reason");
    if (msg == NULL || !json_object_is_type(msg, json_type_object) ||
        (resp = response_of(base)) == NULL)
        return NULL;
    if (text == NULL || !*text)
        text = jx_str(msg, "refusal");
    set_model(resp, chat);
    output = json_object_new_array();
    if ((text != NULL && *text) || jx_len(calls) == 0) {
        content = json_object_new_array();
        json_object_array_add(content, text_part(text, text ? strlen(text) : 0));
        json_object_array_add(output, msg_item(item_id(resp, "msg", 0),
                                               streq(finish, "length") ? "incomplete" : "completed",
                                               content));
    }
    calls_out(resp, calls, output, 1);
    json_object_object_add(resp, "output", output);
    finish_status(resp, finish, u);
    return resp;
}

/* ---- the stream ---- */

void
rsp_stream_init(struct rsp_stream *s, struct json_object *base, const struct prov_usage *u,
                rsp_emit_fn emit, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->emit = emit;
    s->arg = arg;
    s->usage = u;
    s->resp = response_of(base);
    s->open_tool = -1;
}

void
rsp_stream_free(struct rsp_stream *s)
{
    json_object_put(s->resp);
    json_object_put(s->item);
    if (s->buf != NULL)
        printbuf_free(s->buf);
    if (s->ev != NULL)
        printbuf_free(s->ev);
    s->resp = s->item = NULL;
    s->buf = s->ev = NULL;
}

/* A new event: its type and sequence_number first. */
static struct json_object *
ev_new(struct rsp_stream *s, const char *type)
{
    struct json_object *o = json_object_new_object();
    jx_add_str(o, "type", type);
    jx_add_int(o, "sequence_number", s->seq++);
    return o;
}

/* Send event o (and free it). */
static void
ev_send(struct rsp_stream *s, struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(o, JSON_OUT);
    s->emit(s->arg, jx_str(o, "type"), t, strlen(t));
    json_object_put(o);
}

/*
 * A delta of the open item (output_text.delta, function_call_arguments.delta),
 * the hot path of a stream: written as text, not built as an object (the ids
 * are ours, only the delta needs JSON's escaping).
 */
static void
ev_delta(struct rsp_stream *s, const char *type, const char *delta, size_t len)
{
    struct json_object *d = json_object_new_string_len(delta, (int)len);
    const char *t = json_object_to_json_string_ext(d, JSON_OUT);
    printbuf_reset(s->ev);
    sprintbuf(s->ev,
              "{\"type\":\"%s\",\"sequence_number\":%lld,\"item_id\":\"%s\",\"output_index\":%d",
              type, (long long)s->seq++, jx_str(s->item, "id"), s->nitems - 1);
    if (s->open_tool < 0)
        printbuf_strappend(s->ev, ",\"content_index\":0");
    printbuf_strappend(s->ev, ",\"delta\":");
    printbuf_memappend(s->ev, t, (int)strlen(t));
    if (s->open_tool < 0)
        printbuf_strappend(s->ev, ",\"logprobs\":[]");
    printbuf_strappend(s->ev, "}");
    s->emit(s->arg, type, s->ev->buf, (size_t)s->ev->bpos);
    json_object_put(d);
}

/* An event about the whole response (created, in_progress, completed, ...). */
static void
ev_response(struct rsp_stream *s, const char *type)
{
    struct json_object *o = ev_new(s, type);
    json_object_object_add(o, "response", json_object_get(s->resp));
    ev_send(s, o);
}

/* An event about the open item: item_id, output_index (and content_index 0 for text). */
static struct json_object *
ev_item(struct rsp_stream *s, const char *type)
{
    struct json_object *o = ev_new(s, type);
    json_object_object_add(o, "item_id", json_object_get(jx_get(s->item, "id")));
    jx_add_int(o, "output_index", s->nitems - 1);
    if (s->open_tool < 0)
        jx_add_int(o, "content_index", 0);
    return o;
}

/* output_item.added or .done of item (a reference is taken) at the open index. */
static void
ev_output_item(struct rsp_stream *s, const char *type, struct json_object *item)
{
    struct json_object *o = ev_new(s, type);
    jx_add_int(o, "output_index", s->nitems - 1);
    json_object_object_add(o, "item", item);
    ev_send(s, o);
}

/* The first chunk: response.created and response.in_progress. */
static void
start(struct rsp_stream *s, struct json_object *chunk)
{
    s->started = 1;
    set_model(s->resp, chunk);
    ev_response(s, "response.created");
    ev_response(s, "response.in_progress");
}

/* Close the open item: its done events, and into the response's output. */
static void
close_item(struct rsp_stream *s, const char *status)
{
    struct json_object *o, *content;
    if (s->item == NULL)
        return;
    const char *b = s->buf->buf;
    size_t n = (size_t)s->buf->bpos;
    if (s->open_tool < 0) {
        o = ev_item(s, "response.output_text.done");
        json_object_object_add(o, "text", json_object_new_string_len(b, (int)n));
        json_object_object_add(o, "logprobs", json_object_new_array());
        ev_send(s, o);
        o = ev_item(s, "response.content_part.done");
        json_object_object_add(o, "part", text_part(b, n));
        ev_send(s, o);
        content = json_object_new_array();
        json_object_array_add(content, text_part(b, n));
        json_object_object_add(s->item, "content", content);
    } else {
        o = ev_item(s, "response.function_call_arguments.done");
        json_object_object_add(o, "name", json_object_get(jx_get(s->item, "name")));
        json_object_object_add(o, "arguments", json_object_new_string_len(b, (int)n));
        ev_send(s, o);
        json_object_object_add(s->item, "arguments", json_object_new_string_len(b, (int)n));
    }
    jx_add_str(s->item, "status", status);
    ev_output_item(s, "response.output_item.done", json_object_get(s->item));
    json_object_array_add(jx_get(s->resp, "output"), s->item);
    s->item = NULL;
    printbuf_reset(s->buf);
}

/* Open a new item (a reference is taken): output_item.added. */
static void
open_item(struct rsp_stream *s, struct json_object *item, int tool)
{
    close_item(s, "completed");
    s->item = item;
    s->open_tool = tool;
    s->nitems++;
    ev_output_item(s, "response.output_item.added", json_object_get(item));
}

/* A text delta. */
static void
text_delta(struct rsp_stream *s, const char *text, size_t len)
{
    struct json_object *o;
    if (s->item == NULL || s->open_tool >= 0) {
        open_item(
            s, msg_item(item_id(s->resp, "msg", s->nitems), "in_progress", json_object_new_array()),
            -1);
        o = ev_item(s, "response.content_part.added");
        json_object_object_add(o, "part", text_part(NULL, 0));
        ev_send(s, o);
    }
    printbuf_memappend(s->buf, text, (int)len);
    ev_delta(s, "response.output_text.delta", text, len);
}

/* A piece of a tool call: a new function_call item at its first, arguments deltas. */
static void
tool_delta(struct rsp_stream *s, struct json_object *tc)
{
    struct json_object *fn = jx_get(tc, "function"), *item;
    struct json_object *iv = jx_get(tc, "index");
    int idx = iv != NULL && json_object_is_type(iv, json_type_int) ? json_object_get_int(iv) : 0;
    const char *args = jx_str(fn, "arguments"), *id = jx_str(tc, "id");
    char cid[40];
    if (idx < 0)
        return;
    if (s->item == NULL || s->open_tool != idx) {
        if (idx < 64 && (s->tools_seen & (1ULL << idx)))
            return; /* a piece of a call whose item is done */
        if (idx < 64)
            s->tools_seen |= 1ULL << idx;
        if (id == NULL) {
            snprintf(cid, sizeof(cid), "call_%d", s->nitems);
            id = cid;
        }
        item = fc_item(item_id(s->resp, "fc", s->nitems), "in_progress", "", 0, id,
                       jx_str(fn, "name") ? jx_str(fn, "name") : "");
        extra_content(item, tc);
        open_item(s, item, idx);
    }
    if (args == NULL || !*args)
        return;
    printbuf_memappend(s->buf, args, (int)strlen(args));
    ev_delta(s, "response.function_call_arguments.delta", args, strlen(args));
}

/* "[DONE]": the open item done, then response.completed or response.incomplete. */
static void
finish(struct rsp_stream *s)
{
    int incomplete = streq(s->finish, "length") || streq(s->finish, "content_filter");
    if (!s->started)
        start(s, NULL);
    close_item(s, streq(s->finish, "length") ? "incomplete" : "completed");
    finish_status(s->resp, s->finish, s->usage);
    ev_response(s, incomplete ? "response.incomplete" : "response.completed");
    s->ended = 1;
}

/* One choice of a chunk. */
static void
choice(struct rsp_stream *s, struct json_object *ch)
{
    struct json_object *d = jx_get(ch, "delta"), *calls = jx_get(d, "tool_calls");
    const char *text = jx_str(d, "content"), *refusal = jx_str(d, "refusal");
    const char *fin = jx_str(ch, "finish_reason");
    if (text != NULL && *text)
        text_delta(s, text, strlen(text));
    if (refusal != NULL && *refusal)
        text_delta(s, refusal, strlen(refusal));
    for (size_t i = 0; i < jx_len(calls); i++)
        tool_delta(s, jx_idx(calls, i));
    if (fin != NULL)
        snprintf(s->finish, sizeof(s->finish), "%s", fin);
}

/* The stream can go on: not ended, and what it needs allocated. */
static int
ready(struct rsp_stream *s)
{
    return s->resp != NULL && (s->buf != NULL || (s->buf = printbuf_new()) != NULL) &&
           (s->ev != NULL || (s->ev = printbuf_new()) != NULL);
}

int
rsp_stream_obj(struct rsp_stream *s, struct json_object *o)
{
    struct json_object *choices = jx_get(o, "choices");
    if (s->ended)
        return 0;
    if (!ready(s))
        return -1; /* out of memory */
    if (choices == NULL || !json_object_is_type(choices, json_type_array))
        return -1;
    if (!s->started)
        start(s, o);
    /* one choice: a translated request never asks for more */
    if (jx_len(choices) > 0)
        choice(s, jx_idx(choices, 0));
    return 0;
}

int
rsp_stream_chunk(struct rsp_stream *s, const char *data, size_t len)
{
    struct json_object *o;
    int rc;
    if (s->ended)
        return 0;
    if (!ready(s))
        return -1;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        finish(s);
        return 0;
    }
    if ((o = jx_parse(data, len)) == NULL)
        return -1;
    rc = rsp_stream_obj(s, o);
    json_object_put(o);
    return rc;
}

void
rsp_stream_fail(struct rsp_stream *s, const char *code, const char *message)
{
    struct json_object *e;
    if (s->ended || !ready(s))
        return;
    if (!s->started)
        start(s, NULL);
    if (s->item != NULL) { /* what came of it, as it was */
        if (s->open_tool < 0) {
            struct json_object *content = json_object_new_array();
            json_object_array_add(content, text_part(s->buf->buf, (size_t)s->buf->bpos));
            json_object_object_add(s->item, "content", content);
        } else {
            json_object_object_add(s->item, "arguments",
                                   json_object_new_string_len(s->buf->buf, s->buf->bpos));
        }
        jx_add_str(s->item, "status", "incomplete");
        json_object_array_add(jx_get(s->resp, "output"), s->item);
        s->item = NULL;
    }
    jx_add_str(s->resp, "status", "failed");
    e = json_object_new_object();
    jx_add_str(e, "code", code);
    jx_add_str(e, "message", message);
    json_object_object_add(s->resp, "error", e);
    json_object_object_add(s->resp, "usage", usage_json(s->usage));
    ev_response(s, "response.failed");
    s->ended = 1;
}
