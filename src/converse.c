/* SPDX-License-Identifier: Apache-2.0 */
/*
 * converse.c: OpenAI chat <-> AWS Bedrock Converse. Messages become
 * Converse's user/assistant turns (consecutive tool results merged into one
 * user turn, as Converse wants), system and developer messages its system
 * blocks, images given as data URLs image blocks (Converse takes bytes, not
 * URLs), tool calls toolUse blocks and tool results toolResult blocks;
 * max_tokens, temperature, top_p and stop its inferenceConfig; tools and
 * tool_choice its toolConfig. Usage: Converse's inputTokens excludes cache
 * reads and writes, OpenAI's prompt_tokens includes them.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "converse.h"
#include "errtype.h"
#include "jsonx.h"
#include "usage.h"

static int
is_type(struct json_object *o, json_type t)
{
    return o != NULL && json_object_is_type(o, t);
}

static struct json_object *
obj1(const char *k, struct json_object *v)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, k, v);
    return o;
}

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ------------------------------------------------------------------ */
/* The request                                                        */
/* ------------------------------------------------------------------ */

/* The text of content (a string or text parts) appended to blocks as text blocks. */
static int
text_blocks(struct json_object *content, struct json_object *blocks, size_t i, char *err,
            size_t errlen)
{
    if (is_type(content, json_type_string)) {
        if (json_object_get_string_len(content) > 0)
            json_object_array_add(blocks, obj1("text", json_object_get(content)));
        return 0;
    }
    for (size_t k = 0; k < jx_len(content); k++) {
        struct json_object *p = jx_idx(content, k);
        const char *type = jx_str(p, "type");
        if (type == NULL || strcmp(type, "text") != 0 ||
            !is_type(jx_get(p, "text"), json_type_string))
            return fail(err, errlen, "messages[%zu].content[%zu]: only text parts can go here", i,
                        k);
        json_object_array_add(blocks, obj1("text", json_object_get(jx_get(p, "text"))));
    }
    return 0;
}

/* An image_url part given as a data URL ("data:image/png;base64,...") as an image block. */
static int
image_block(struct json_object *p, struct json_object *blocks, size_t i, size_t k, char *err,
            size_t errlen)
{
    const char *url = jx_str(jx_get(p, "image_url"), "url");
    static const char *const formats[] = {"png", "jpeg", "gif", "webp", NULL};
    const char *fmt = NULL, *b64;
    if (url == NULL || strncmp(url, "data:image/", 11) != 0 || !(b64 = strstr(url, ";base64,")))
        return fail(err, errlen,
                    "messages[%zu].content[%zu].image_url: Bedrock takes images as data URLs "
                    "(data:image/png;base64,...) only",
                    i, k);
    for (size_t f = 0; formats[f]; f++)
        if ((size_t)(b64 - url - 11) == strlen(formats[f]) &&
            strncmp(url + 11, formats[f], strlen(formats[f])) == 0)
            fmt = formats[f];
    if (fmt == NULL && (size_t)(b64 - url - 11) == 3 && strncmp(url + 11, "jpg", 3) == 0)
        fmt = "jpeg";
    if (fmt == NULL)
        return fail(err, errlen,
                    "messages[%zu].content[%zu].image_url: Bedrock takes png, jpeg, gif or webp", i,
                    k);
    struct json_object *img = obj1("format", json_object_new_string(fmt));
    json_object_object_add(img, "source", obj1("bytes", json_object_new_string(b64 + 8)));
    json_object_array_add(blocks, obj1("image", img));
    return 0;
}

/* A user message's content: text and image parts. */
static int
user_blocks(struct json_object *content, struct json_object *blocks, size_t i, char *err,
            size_t errlen)
{
    if (is_type(content, json_type_string))
        return text_blocks(content, blocks, i, err, errlen);
    for (size_t k = 0; k < jx_len(content); k++) {
        struct json_object *p = jx_idx(content, k);
        const char *type = jx_str(p, "type");
        if (type != NULL && strcmp(type, "image_url") == 0) {
            if (image_block(p, blocks, i, k, err, errlen) != 0)
                return -1;
        } else if (type != NULL && strcmp(type, "text") == 0 &&
                   is_type(jx_get(p, "text"), json_type_string)) {
            json_object_array_add(blocks, obj1("text", json_object_get(jx_get(p, "text"))));
        } else {
            return fail(err, errlen,
                        "messages[%zu].content[%zu]: Bedrock takes text and image parts", i, k);
        }
    }
    return 0;
}

/* The turn to add blocks to: the last one when it has role, else a new one. */
static struct json_object *
turn(struct json_object *msgs, const char *role)
{
    size_t n = json_object_array_length(msgs);
    struct json_object *last = n ? json_object_array_get_idx(msgs, n - 1) : NULL, *m;
    const char *r = jx_str(last, "role");
    if (r != NULL && strcmp(r, role) == 0)
        return jx_get(last, "content");
    m = obj1("role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_array());
    json_object_array_add(msgs, m);
    return jx_get(m, "content");
}

/* An assistant message's tool_calls as toolUse blocks (arguments parsed: Converse wants an object).
 */
static int
tool_uses(struct json_object *calls, struct json_object *blocks, size_t i, char *err, size_t errlen)
{
    for (size_t k = 0; k < jx_len(calls); k++) {
        struct json_object *c = jx_idx(calls, k), *fn = jx_get(c, "function"), *input;
        const char *id = jx_str(c, "id"), *name = jx_str(fn, "name"),
                   *args = jx_str(fn, "arguments");
        if (id == NULL || name == NULL)
            return fail(err, errlen,
                        "messages[%zu].tool_calls[%zu]: needs an id and a function name", i, k);
        input = args && *args ? jx_parse(args, strlen(args)) : json_object_new_object();
        if (!is_type(input, json_type_object)) {
            json_object_put(input);
            return fail(err, errlen,
                        "messages[%zu].tool_calls[%zu].function.arguments: not a JSON object", i,
                        k);
        }
        struct json_object *tu = obj1("toolUseId", json_object_new_string(id));
        jx_add_str(tu, "name", name);
        json_object_object_add(tu, "input", input);
        json_object_array_add(blocks, obj1("toolUse", tu));
    }
    return 0;
}

/* A tool message as a toolResult block of the current user turn. */
static int
tool_result(struct json_object *m, struct json_object *msgs, size_t i, char *err, size_t errlen)
{
    const char *id = jx_str(m, "tool_call_id");
    struct json_object *content = json_object_new_array(), *tr;
    if (id == NULL) {
        json_object_put(content);
        return fail(err, errlen, "messages[%zu].tool_call_id: required", i);
    }
    if (text_blocks(jx_get(m, "content"), content, i, err, errlen) != 0) {
        json_object_put(content);
        return -1;
    }
    if (json_object_array_length(content) == 0)
        json_object_array_add(content, obj1("text", json_object_new_string("")));
    tr = obj1("toolUseId", json_object_new_string(id));
    json_object_object_add(tr, "content", content);
    json_object_array_add(turn(msgs, "user"), obj1("toolResult", tr));
    return 0;
}

static int
tr_messages(struct json_object *req, struct json_object *out, char *err, size_t errlen)
{
    struct json_object *in = jx_get(req, "messages"), *msgs = json_object_new_array();
    struct json_object *sys = json_object_new_array();
    int rv = 0;
    json_object_object_add(out, "messages", msgs);
    for (size_t i = 0; rv == 0 && i < jx_len(in); i++) {
        struct json_object *m = jx_idx(in, i), *content = jx_get(m, "content");
        const char *role = jx_str(m, "role");
        if (role == NULL)
            rv = fail(err, errlen, "messages[%zu].role: required", i);
        else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
            rv = text_blocks(content, sys, i, err, errlen);
        else if (strcmp(role, "user") == 0)
            rv = user_blocks(content, turn(msgs, "user"), i, err, errlen);
        else if (strcmp(role, "assistant") == 0) {
            struct json_object *b = turn(msgs, "assistant");
            rv = text_blocks(content, b, i, err, errlen);
            if (rv == 0)
                rv = tool_uses(jx_get(m, "tool_calls"), b, i, err, errlen);
        } else if (strcmp(role, "tool") == 0)
            rv = tool_result(m, msgs, i, err, errlen);
        else
            rv = fail(
                err, errlen,
                "messages[%zu].role: Bedrock takes system, developer, user, assistant and tool", i);
    }
    if (json_object_array_length(sys) > 0)
        json_object_object_add(out, "system", sys);
    else
        json_object_put(sys);
    return rv;
}

static int
tr_inference(struct json_object *req, int default_max, struct json_object *out, char *err,
             size_t errlen)
{
    struct json_object *ic = json_object_new_object(), *v, *stop = jx_get(req, "stop");
    if ((v = jx_get(req, "max_completion_tokens")) != NULL ||
        (v = jx_get(req, "max_tokens")) != NULL)
        json_object_object_add(ic, "maxTokens", json_object_get(v));
    else if (default_max > 0)
        jx_add_int(ic, "maxTokens", default_max);
    if ((v = jx_get(req, "temperature")) != NULL)
        json_object_object_add(ic, "temperature", json_object_get(v));
    if ((v = jx_get(req, "top_p")) != NULL)
        json_object_object_add(ic, "topP", json_object_get(v));
    if (is_type(stop, json_type_string)) {
        struct json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_get(stop));
        json_object_object_add(ic, "stopSequences", a);
    } else if (is_type(stop, json_type_array))
        json_object_object_add(ic, "stopSequences", json_object_get(stop));
    if (jx_get(req, "n") != NULL && jx_int(req, "n") != 1) {
        json_object_put(ic);
        return fail(err, errlen, "n: Bedrock's Converse answers with one choice");
    }
    if (json_object_object_length(ic) > 0)
        json_object_object_add(out, "inferenceConfig", ic);
    else
        json_object_put(ic);
    return 0;
}

static int
tr_tools(struct json_object *req, struct json_object *out, char *err, size_t errlen)
{
    struct json_object *tools = jx_get(req, "tools"), *choice = jx_get(req, "tool_choice");
    struct json_object *specs, *tc = NULL;
    const char *cs = is_type(choice, json_type_string) ? json_object_get_string(choice) : NULL;
    if (jx_len(tools) == 0 || (cs && strcmp(cs, "none") == 0))
        return 0; /* Converse has no "none": the tools are left out */
    specs = json_object_new_array();
    for (size_t k = 0; k < jx_len(tools); k++) {
        struct json_object *fn = jx_get(jx_idx(tools, k), "function"),
                           *params = jx_get(fn, "parameters");
        const char *name = jx_str(fn, "name");
        if (name == NULL) {
            json_object_put(specs);
            return fail(err, errlen, "tools[%zu].function.name: required", k);
        }
        struct json_object *spec = obj1("name", json_object_new_string(name));
        if (jx_str(fn, "description"))
            jx_add_str(spec, "description", jx_str(fn, "description"));
        json_object_object_add(spec, "inputSchema",
                               obj1("json", params
                                                ? json_object_get(params)
                                                : obj1("type", json_object_new_string("object"))));
        json_object_array_add(specs, obj1("toolSpec", spec));
    }
    struct json_object *cfg = obj1("tools", specs);
    if (cs && strcmp(cs, "required") == 0)
        tc = obj1("any", json_object_new_object());
    else if (cs && strcmp(cs, "auto") == 0)
        tc = obj1("auto", json_object_new_object());
    else if (is_type(choice, json_type_object)) {
        const char *name = jx_str(jx_get(choice, "function"), "name");
        if (name == NULL) {
            json_object_put(cfg);
            return fail(err, errlen, "tool_choice.function.name: required");
        }
        tc = obj1("tool", obj1("name", json_object_new_string(name)));
    }
    if (tc)
        json_object_object_add(cfg, "toolChoice", tc);
    json_object_object_add(out, "toolConfig", cfg);
    return 0;
}

/*
 * Refuse what would change the answer's meaning and Converse cannot express
 * (as the anthropic provider does): dropped, the client would take free
 * text for the JSON it asked for, or miss the log probabilities.
 */
static int
tr_unsupported(struct json_object *req, char *err, size_t errlen)
{
    struct json_object *v;
    if ((v = jx_get(req, "logprobs")) != NULL && json_object_get_boolean(v))
        return fail(err, errlen, "logprobs is not supported by provider bedrock");
    if (jx_get(req, "top_logprobs") != NULL)
        return fail(err, errlen, "top_logprobs is not supported by provider bedrock");
    if (jx_get(req, "audio") != NULL)
        return fail(err, errlen, "audio is not supported by provider bedrock");
    if (jx_get(req, "functions") != NULL || jx_get(req, "function_call") != NULL)
        return fail(
            err, errlen,
            "functions and function_call are not supported by provider bedrock (use tools)");
    if (jx_get(req, "web_search_options") != NULL)
        return fail(err, errlen, "web_search_options is not supported by provider bedrock");
    if ((v = jx_get(req, "response_format")) != NULL &&
        (jx_str(v, "type") == NULL || strcmp(jx_str(v, "type"), "text") != 0))
        return fail(err, errlen, "response_format %.40s is not supported by provider bedrock",
                    jx_str(v, "type") ? jx_str(v, "type") : "");
    v = jx_get(req, "modalities");
    for (size_t i = 0; i < jx_len(v); i++) {
        struct json_object *m = jx_idx(v, i);
        if (!is_type(m, json_type_string) || strcmp(json_object_get_string(m), "text") != 0)
            return fail(err, errlen,
                        "modalities other than text are not supported by provider bedrock");
    }
    return 0;
}

int
converse_request(struct json_object *req, int default_max_tokens, struct json_object **out,
                 char *err, size_t errlen)
{
    struct json_object *o = json_object_new_object();
    if (tr_unsupported(req, err, errlen) != 0 || tr_messages(req, o, err, errlen) != 0 ||
        tr_inference(req, default_max_tokens, o, err, errlen) != 0 ||
        tr_tools(req, o, err, errlen) != 0) {
        json_object_put(o);
        return -1;
    }
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The answer                                                         */
/* ------------------------------------------------------------------ */

static void
usage_from(struct json_object *um, struct prov_usage *u)
{
    int bad = 0;
    if (!is_type(um, json_type_object))
        return;
    int64_t cread = usage_count(um, "cacheReadInputTokens", &bad);
    int64_t cwrite = usage_count(um, "cacheWriteInputTokens", &bad);
    u->prompt = usage_add(usage_add(usage_count(um, "inputTokens", &bad), cread), cwrite);
    u->completion = usage_count(um, "outputTokens", &bad);
    u->cached = cread;
    u->total = usage_add(u->prompt, u->completion);
    u->bad |= bad;
    u->have = 1;
}

static const char *
finish_reason(const char *sr)
{
    if (sr == NULL)
        return "stop";
    if (strcmp(sr, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(sr, "max_tokens") == 0 || strcmp(sr, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(sr, "guardrail_intervened") == 0 || strcmp(sr, "content_filtered") == 0)
        return "content_filter";
    return "stop";
}

static void
new_id(char *buf, size_t len)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "chatcmpl-%x%llx%x", (unsigned)getpid(),
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
             ++counter);
}

static struct json_object *
tool_call_json(const char *id, const char *name, struct json_object *args)
{
    struct json_object *tc = obj1("id", json_object_new_string(id ? id : ""));
    struct json_object *fn = obj1("name", json_object_new_string(name ? name : ""));
    json_object_object_add(fn, "arguments", args);
    jx_add_str(tc, "type", "function");
    json_object_object_add(tc, "function", fn);
    return tc;
}

int
converse_response(struct json_object *in, const char *model, struct json_object **out,
                  struct prov_usage *u)
{
    struct json_object *content = jx_get(jx_get(jx_get(in, "output"), "message"), "content");
    struct json_object *msg, *calls = json_object_new_array(), *choice, *choices, *o;
    char id[96], *text = NULL;
    size_t tlen = 0;
    FILE *f;
    if (!is_type(content, json_type_array)) {
        json_object_put(calls);
        return -1;
    }
    if (!(f = open_memstream(&text, &tlen))) {
        json_object_put(calls);
        return -1;
    }
    for (size_t k = 0; k < jx_len(content); k++) {
        struct json_object *b = jx_idx(content, k), *tu = jx_get(b, "toolUse");
        const char *t = jx_str(b, "text");
        if (t)
            fputs(t, f);
        else if (tu) {
            struct json_object *input = jx_get(tu, "input");
            const char *args =
                input ? json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN) : "{}";
            json_object_array_add(calls, tool_call_json(jx_str(tu, "toolUseId"), jx_str(tu, "name"),
                                                        json_object_new_string(args)));
        }
    }
    fclose(f);
    msg = obj1("role", json_object_new_string("assistant"));
    json_object_object_add(
        msg, "content",
        tlen || !json_object_array_length(calls) ? json_object_new_string(text ? text : "") : NULL);
    free(text);
    if (json_object_array_length(calls) > 0)
        json_object_object_add(msg, "tool_calls", calls);
    else
        json_object_put(calls);
    choice = obj1("index", json_object_new_int(0));
    json_object_object_add(choice, "message", msg);
    json_object_object_add(choice, "logprobs", NULL);
    jx_add_str(choice, "finish_reason", finish_reason(jx_str(in, "stopReason")));
    choices = json_object_new_array();
    json_object_array_add(choices, choice);
    new_id(id, sizeof(id));
    o = obj1("id", json_object_new_string(id));
    jx_add_str(o, "object", "chat.completion");
    jx_add_int(o, "created", (int64_t)time(NULL));
    jx_add_str(o, "model", model);
    json_object_object_add(o, "choices", choices);
    usage_from(jx_get(in, "usage"), u);
    if (u->have)
        json_object_object_add(o, "usage", prov_usage_json(u));
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The stream                                                         */
/* ------------------------------------------------------------------ */

#define CV_MAX_BLOCKS 256

struct cv_stream {
    char id[96];
    char model[256];
    int64_t created;
    int started;
    int ncalls;
    short call[CV_MAX_BLOCKS]; /* contentBlockIndex -> tool call index + 1 (0: not a tool) */
};

int
converse_stream_begin(struct prov_stream *s, const char *model)
{
    struct cv_stream *c = calloc(1, sizeof(*c));
    if (!c)
        return -1;
    new_id(c->id, sizeof(c->id));
    snprintf(c->model, sizeof(c->model), "%s", model ? model : "");
    c->created = (int64_t)time(NULL);
    s->priv = c;
    return 0;
}

void
converse_stream_end(struct prov_stream *s)
{
    free(s->priv);
    s->priv = NULL;
}

static struct json_object *
chunk(struct cv_stream *c, struct json_object *choices)
{
    struct json_object *o = obj1("id", json_object_new_string(c->id));
    jx_add_str(o, "object", "chat.completion.chunk");
    jx_add_int(o, "created", c->created);
    jx_add_str(o, "model", c->model);
    json_object_object_add(o, "choices", choices);
    return o;
}

static void
emit_delta(struct prov_stream *s, struct json_object *delta, const char *fr)
{
    struct cv_stream *c = s->priv;
    struct json_object *ch = obj1("index", json_object_new_int(0)), *arr = json_object_new_array(),
                       *o;
    json_object_object_add(ch, "delta", delta);
    json_object_object_add(ch, "logprobs", NULL);
    json_object_object_add(ch, "finish_reason", fr ? json_object_new_string(fr) : NULL);
    json_object_array_add(arr, ch);
    o = chunk(c, arr);
    prov_emit_json(s, o);
    json_object_put(o);
}

static void
emit_role(struct prov_stream *s)
{
    struct cv_stream *c = s->priv;
    struct json_object *d;
    if (c->started)
        return;
    c->started = 1;
    d = obj1("role", json_object_new_string("assistant"));
    jx_add_str(d, "content", "");
    emit_delta(s, d, NULL);
}

static int
type_is(const char *type, size_t tlen, const char *name)
{
    return tlen == strlen(name) && memcmp(type, name, tlen) == 0;
}

/* A tool call delta: index, and id, name (a start) or arguments (a delta). */
static void
emit_call(struct prov_stream *s, int index, const char *id, const char *name, const char *args)
{
    struct json_object *tc = obj1("index", json_object_new_int(index)),
                       *fn = json_object_new_object();
    struct json_object *arr = json_object_new_array();
    if (id) {
        jx_add_str(tc, "id", id);
        jx_add_str(tc, "type", "function");
        jx_add_str(fn, "name", name ? name : "");
    }
    jx_add_str(fn, "arguments", args ? args : "");
    json_object_object_add(tc, "function", fn);
    json_object_array_add(arr, tc);
    emit_delta(s, obj1("tool_calls", arr), NULL);
}

int
converse_stream_event(struct prov_stream *s, const char *type, size_t tlen, const char *data,
                      size_t len)
{
    struct cv_stream *c = s->priv;
    struct json_object *o = jx_parse(data, len);
    int64_t bi;
    int rv = 0;
    /* an exception or error message, as relay.c marks it: whatever its name */
    int is_error = tlen > 0 && type[0] == ES_EVENT_ERROR[0];
    if (is_error) {
        type++;
        tlen--;
    }
    if (!is_type(o, json_type_object)) {
        json_object_put(o);
        return -1;
    }
    bi = jx_int(o, "contentBlockIndex");
    if (is_error || (tlen > 9 && (memcmp(type + tlen - 9, "Exception", 9) == 0 ||
                                  memcmp(type + tlen - 9, "exception", 9) == 0))) {
        int st = converse_error_status(type, tlen);
        char name[64];
        s->error_status = st ? st : 500;
        json_object_put(s->error);
        snprintf(name, sizeof(name), "%.*s", (int)(tlen < 63 ? tlen : 63), type);
        s->error = converse_error(s->error_status, name, o);
    } else if (type_is(type, tlen, "messageStart")) {
        emit_role(s);
    } else if (type_is(type, tlen, "contentBlockStart")) {
        struct json_object *tu = jx_get(jx_get(o, "start"), "toolUse");
        emit_role(s);
        if (tu && bi >= 0 && bi < CV_MAX_BLOCKS) {
            c->call[bi] = (short)++c->ncalls;
            emit_call(s, c->ncalls - 1, jx_str(tu, "toolUseId"), jx_str(tu, "name"), "");
        }
    } else if (type_is(type, tlen, "contentBlockDelta")) {
        struct json_object *d = jx_get(o, "delta");
        const char *t = jx_str(d, "text");
        emit_role(s);
        if (t != NULL && *t)
            emit_delta(s, obj1("content", json_object_new_string(t)), NULL);
        else if (jx_get(d, "toolUse") && bi >= 0 && bi < CV_MAX_BLOCKS && c->call[bi])
            emit_call(s, c->call[bi] - 1, NULL, NULL, jx_str(jx_get(d, "toolUse"), "input"));
        else if (jx_get(d, "reasoningContent") && jx_str(jx_get(d, "reasoningContent"), "text"))
            emit_delta(s,
                       obj1("reasoning_content",
                            json_object_new_string(jx_str(jx_get(d, "reasoningContent"), "text"))),
                       NULL);
    } else if (type_is(type, tlen, "contentBlockStop")) {
        /* nothing to say in OpenAI's shape */
    } else if (type_is(type, tlen, "messageStop")) {
        emit_role(s);
        emit_delta(s, json_object_new_object(), finish_reason(jx_str(o, "stopReason")));
    } else if (type_is(type, tlen, "metadata")) {
        usage_from(jx_get(o, "usage"), &s->usage);
        if (s->usage.have) {
            struct json_object *u = chunk(c, json_object_new_array());
            json_object_object_add(u, "usage", prov_usage_json(&s->usage));
            prov_emit_json(s, u);
            json_object_put(u);
        }
        if (s->emit)
            s->emit(s->arg, "[DONE]", 6);
        s->done = 1;
    } else {
        rv = -1;
    }
    json_object_put(o);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/*
 * Bedrock runtime's errors (the Converse and ConverseStream API references,
 * "Errors", and the AWS front end's authentication errors) and the status a
 * client gets for each: that status types it for both client dialects
 * (errtype.c). AWS's own status is kept where it means the same to an
 * OpenAI or Anthropic client; where it does not it is the gateway's:
 * ModelNotReadyException (AWS: 429) is the model not serving yet, not the
 * client's rate, so 503 (overloaded_error); ModelTimeoutException (AWS:
 * 408) is the model running out of time, 504; ModelErrorException and
 * ModelStreamErrorException (AWS: 424) are the model failing, 502.
 * The credential errors are 403: aigw's AWS keys were refused, not the
 * client's key.
 */
static const struct {
    const char *name;
    int status;
} errors[] = {
    {"ValidationException", 400},          {"AccessDeniedException", 403},
    {"UnrecognizedClientException", 403},  {"InvalidSignatureException", 403},
    {"IncompleteSignatureException", 403}, {"MissingAuthenticationTokenException", 403},
    {"ExpiredTokenException", 403},        {"ResourceNotFoundException", 404},
    {"ThrottlingException", 429},          {"ServiceQuotaExceededException", 429},
    {"InternalServerException", 500},      {"InternalFailure", 500},
    {"ModelErrorException", 502},          {"ModelStreamErrorException", 502},
    {"ModelNotReadyException", 503},       {"ServiceUnavailableException", 503},
    {"ModelTimeoutException", 504},
};

int
converse_error_status(const char *name, size_t len)
{
    const char *colon = memchr(name, ':', len);
    if (colon)
        len = (size_t)(colon - name);
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
        /* a stream's exception-type starts lower-case (throttlingException) */
        if (strlen(errors[i].name) == len && strncasecmp(errors[i].name, name, len) == 0)
            return errors[i].status;
    return 0;
}

/*
 * Where an AWS message stops being for the client: a signature mismatch's
 * message may go on with the canonical request and the string to sign,
 * whose headers carry X-Amz-Security-Token (a secret) and whose scope the
 * access key; the first sentence says all a client needs.
 */
static const char *const cut_at[] = {"The Canonical String", "The String-to-Sign", NULL};

/* The length of msg a client may see (before any cut_at, trailing spaces dropped). */
static size_t
message_len(const char *msg)
{
    size_t n = strlen(msg);
    for (size_t i = 0; cut_at[i] != NULL; i++) {
        const char *p = strstr(msg, cut_at[i]);
        if (p != NULL && (size_t)(p - msg) < n)
            n = (size_t)(p - msg);
    }
    while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    return n;
}

struct json_object *
converse_error(long status, const char *errtype, struct json_object *in)
{
    const char *msg = jx_str(in, "message");
    char code[64] = "";
    struct json_object *o;
    char *cut;
    if (msg == NULL)
        msg = jx_str(in, "Message");
    if (errtype) {
        size_t n = strcspn(errtype, ":");
        snprintf(code, sizeof(code), "%.*s", (int)(n < 63 ? n : 63), errtype);
        if (code[0] >= 'a' && code[0] <= 'z')
            code[0] = (char)(code[0] - 'a' + 'A');
    }
    if (msg == NULL || message_len(msg) == 0)
        msg = "Bedrock returned an error";
    cut = strndup(msg, message_len(msg));
    o = prov_error_json(cut ? cut : "Bedrock returned an error", errtype_openai(status),
                        code[0] ? code : NULL);
    free(cut);
    return o;
}
