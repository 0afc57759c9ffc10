/* SPDX-License-Identifier: Apache-2.0 */
/* provfuzz.c: a provider's build, answer, stream and error parsers under the fuzzer. */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "sse.h"
#include "fuzz.h"
#include "messages.h"
#include "provfuzz.h"
#include "provider.h"
#include "reqcheck.h"
#include "usage.h"

/* The stream's state: the provider's, and an Anthropic client's beside it. */
struct provfuzz_stream {
    const struct provider *p;
    struct prov_stream ps;
    struct msg_stream ms;
    int anthropic_front; /* the client speaks Anthropic's API */
    int translated;      /* the provider's own dialect is not OpenAI's: it writes the chunks */
    int bad;             /* an event that is not the API's: the relay stops there */
};

/* Token counts from an upstream are clamped (usage.h) before they reach sums and limits. */
static void
provfuzz_usage(const struct prov_usage *u)
{
    const int64_t v[5] = {u->prompt, u->completion, u->total, u->cached, u->reasoning};
    for (int i = 0; i < 5; i++)
        FUZZ_ASSERT(v[i] >= 0 && v[i] <= USAGE_MAX, "a token count of %lld", (long long)v[i]);
}

/* Text aigw wrote itself must be JSON. */
static void
provfuzz_json(const char *what, const char *s, size_t len)
{
    struct json_object *o = NULL;
    if (len > 0 && len < 0x7fffffff) {
        struct json_tokener *tok = json_tokener_new();
        o = json_tokener_parse_ex(tok, s, (int)len);
        json_tokener_free(tok);
    }
    FUZZ_ASSERT(o != NULL, "%s is not JSON: %.*s", what, (int)(len < 400 ? len : 400), s);
    json_object_put(o);
}

/* An object aigw made: it serializes, and the text reads back. */
static void
provfuzz_obj(const char *what, struct json_object *o)
{
    if (o == NULL)
        return;
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    provfuzz_json(what, s, strlen(s));
}

/* An Anthropic client's event (msg_stream's emit). */
static void
provfuzz_msg_event(void *arg, const char *event, const char *data, size_t len)
{
    FUZZ_ASSERT(strchr(event, '\n') == NULL && strchr(event, '\r') == NULL, "event name %s", event);
    provfuzz_json("an Anthropic stream event", data, len);
}

/* The provider's chunk (prov_stream's emit). */
static void
provfuzz_chunk(void *arg, const char *data, size_t len)
{
    struct provfuzz_stream *st = arg;
    int done = len == 6 && memcmp(data, "[DONE]", 6) == 0;
    if (st->translated && !done)
        provfuzz_json("a translated chunk", data, len);
    if (st->anthropic_front && msg_stream_chunk(&st->ms, data, len) < 0)
        st->bad = 1;
}

/* One SSE event (sse_feed's callback), as answer_stream_event() hands it on. */
static int
provfuzz_event(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    struct provfuzz_stream *st = arg;
    if (st->ps.error_status != 0 || st->bad)
        return 0;
    if (st->p->stream_event(&st->ps, event, evlen, data, len) < 0)
        st->bad = 1;
    return 0;
}

/* The target every call goes to (as a record would decode it). */
static void
provfuzz_target(struct target_view *t, int id, uint8_t how)
{
    memset(t, 0, sizeof(*t));
    t->name = "fuzz";
    t->upstream_model = how & 0x40 ? "up\"stream\\model\u00e9" : "upstream-model";
    t->api_base = "http://127.0.0.1:9/v1";
    t->api_key = how & 0x80 ? "" : "sk-fuzz-secret";
    t->api_version = id == PROVIDER_AZURE_OPENAI ? "2024-06-01" : (how & 0x20 ? "2023-06-01" : "");
    t->max_tokens = how & 0x10 ? 1024 : 0;
    t->provider = id;
    t->weight = 1;
}

/* Mode 0: a client's body to the upstream request. */
static void
provfuzz_build(const struct provider *p, struct prov_call *c, enum dialect front, const char *s,
               size_t n)
{
    struct prov_http h;
    char err[512];
    int stream;
    struct json_object *body = reqcheck_body(front, c->op, s, n, &stream), *obody = NULL;
    if (body == NULL)
        return;
    c->stream = stream;
    c->native = p->own == front;
    c->raw = c->native ? s : NULL;
    c->rawlen = c->native ? n : 0;
    if (!c->native && front == DIALECT_ANTHROPIC) {
        if ((obody = msg_to_openai(body, err, sizeof(err))) == NULL)
            goto done;
        provfuzz_obj("msg_to_openai's request", obody);
    }
    memset(&h, 0, sizeof(h));
    if (p->build(c, obody ? obody : body, &h, err, sizeof(err)) == 0) {
        provfuzz_json("the upstream request", h.body, h.len);
        /* the header block is whole lines: every CR ends one, with its LF */
        for (size_t i = 0; i < h.hlen; i++)
            FUZZ_ASSERT(h.hdrs[i] == '\r' ? i + 1 < h.hlen && h.hdrs[i + 1] == '\n'
                                          : h.hdrs[i] != '\n' || (i > 0 && h.hdrs[i - 1] == '\r'),
                        "a header with CR or LF");
        FUZZ_ASSERT(h.hlen == 0 || (h.hlen >= 2 && h.hdrs[h.hlen - 2] == '\r' &&
                                    h.hdrs[h.hlen - 1] == '\n'),
                    "the header block does not end a line");
        FUZZ_ASSERT(strpbrk(h.url, "\r\n ") == NULL, "the URL %s", h.url);
    }
    prov_http_free(&h);
done:
    json_object_put(obody);
    json_object_put(body);
}

/* Parse an upstream's body as answer_buffered() does: an object or NULL. */
static struct json_object *
provfuzz_parse(const char *s, size_t n)
{
    if (n == 0 || n > 0x7fffffff)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    json_tokener_free(tok);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* Mode 1: a 2xx answer, and on to an Anthropic client. */
static void
provfuzz_response(const struct provider *p, struct prov_call *c, enum dialect front, const char *s,
                  size_t n)
{
    struct json_object *in = provfuzz_parse(s, n), *out = NULL;
    struct prov_usage u = {0};
    if (in == NULL)
        return;
    if (p->response(c, in, &out, &u) == 0) {
        provfuzz_usage(&u);
        provfuzz_obj("the translated answer", out);
        if (front == DIALECT_ANTHROPIC && c->op != OP_COUNT_TOKENS && !c->native) {
            struct json_object *m = msg_from_openai(out ? out : in);
            provfuzz_obj("msg_from_openai's answer", m);
            json_object_put(m);
        }
    }
    json_object_put(out);
    json_object_put(in);
}

/* Mode 2: a stream, event by event. */
static void
provfuzz_stream(const struct provider *p, struct prov_call *c, enum dialect front, const char *s,
                size_t n)
{
    struct provfuzz_stream st;
    struct sse_parser sp;
    memset(&st, 0, sizeof(st));
    st.p = p;
    st.ps.call = c;
    st.anthropic_front = front == DIALECT_ANTHROPIC && !c->native;
    st.translated = p->own != DIALECT_OPENAI && !c->native;
    st.ps.emit = c->native && front != DIALECT_OPENAI ? NULL : provfuzz_chunk;
    st.ps.arg = &st;
    if (st.anthropic_front)
        msg_stream_init(&st.ms, provfuzz_msg_event, &st);
    if (p->stream_begin == NULL || p->stream_begin(&st.ps) == 0) {
        sse_init(&sp, 1 << 20);
        if (sse_feed(&sp, s, n, provfuzz_event, &st) == 0 && !st.bad && st.ps.error_status == 0 &&
            p->stream_close != NULL)
            p->stream_close(&st.ps);
        sse_free(&sp);
        provfuzz_usage(&st.ps.usage);
        if (st.ps.error_status != 0) {
            provfuzz_obj("a stream's error", st.ps.error);
            if (front == DIALECT_ANTHROPIC) {
                struct json_object *m = msg_error_from_openai(st.ps.error_status, st.ps.error);
                provfuzz_obj("msg_error_from_openai's error", m);
                json_object_put(m);
            }
        }
    }
    prov_stream_free(&st.ps);
}

/* Mode 3: a non-2xx answer. */
static void
provfuzz_error(const struct provider *p, enum dialect front, uint8_t how, const char *s, size_t n)
{
    static const long statuses[8] = {400, 401, 403, 404, 429, 500, 503, 529};
    struct json_object *in = provfuzz_parse(s, n), *out = NULL;
    int st = p->error(statuses[how & 7], NULL, in, &out);
    if (st >= 0) {
        FUZZ_ASSERT(out != NULL, "a status without an error body");
        provfuzz_obj("the translated error", out);
        if (front == DIALECT_ANTHROPIC) {
            struct json_object *m = msg_error_from_openai(st, out);
            provfuzz_obj("msg_error_from_openai's error", m);
            json_object_put(m);
        }
    }
    json_object_put(out);
    json_object_put(in);
}

void
provfuzz_one(const struct provider *p, int id, const uint8_t *data, size_t size)
{
    static const enum prov_op ops[4] = {OP_CHAT, OP_COMPLETIONS, OP_EMBEDDINGS, OP_COUNT_TOKENS};
    struct target_view t;
    struct prov_call c;
    if (size < 2)
        return;
    uint8_t mode = data[0] & 3, how = data[1];
    enum dialect front = how & 8 ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
    enum prov_op op = ops[how & 3];
    /* only what the routes and the provider allow: aigw answers 400/404 before the rest */
    if (front == DIALECT_ANTHROPIC && op != OP_CHAT && op != OP_COUNT_TOKENS)
        op = OP_CHAT;
    if (front == DIALECT_OPENAI && op == OP_COUNT_TOKENS) /* no such OpenAI route: Responses */
        op = OP_RESPONSES;
    if (!(p->ops & OP_BIT(op)))
        return;
    provfuzz_target(&t, id, how);
    memset(&c, 0, sizeof(c));
    c.t = &t;
    c.op = op;
    c.stream = (how & 4) != 0;
    c.native = p->own == front;
    c.request_id = "req-fuzz";
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    if (mode == 0)
        provfuzz_build(p, &c, front, s, n);
    else if (mode == 1)
        provfuzz_response(p, &c, front, s, n);
    else if (mode == 2)
        provfuzz_stream(p, &c, front, s, n);
    else
        provfuzz_error(p, front, how >> 4, s, n);
}
