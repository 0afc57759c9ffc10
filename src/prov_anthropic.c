/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_anthropic.c: Anthropic's Messages API (POST {api_base}/messages and
 * /messages/count_tokens, the key in x-api-key, the API version in
 * anthropic-version).
 *
 * An OpenAI chat request is translated into a Messages request: system and
 * developer messages become the top-level system, tool calls become tool_use
 * blocks and tool messages tool_result blocks in a user turn, and turns of
 * the same role are merged because Anthropic wants user and assistant to
 * alternate. The answer, its stream events and its errors are translated
 * back. An Anthropic client (c->native) is passed through: only the model is
 * replaced, and the parsers only read usage and see the end.
 *
 * What the OpenAI request may hold, and what becomes of it:
 *
 *   field                           | here
 *   --------------------------------+-----------------------------------------
 *   messages (system, developer)    | system (a string; text blocks if several),
 *                                   | wherever they stand in the conversation
 *   messages (user, assistant)      | messages, same-role turns merged
 *   messages (tool)                 | tool_result blocks of one user turn
 *   messages (function), functions, | 400 (legacy function calling: use tools)
 *     function_call                 |
 *   content parts text, image_url   | text and image blocks (data: URLs of jpeg,
 *                                   | png, gif, webp as base64; http(s) as url)
 *   content parts input_audio, file | 400
 *   image_url.detail, message name  | dropped (no equivalent; a hint)
 *   empty text parts, empty         | dropped (Anthropic refuses empty blocks;
 *     assistant turns               | they say nothing)
 *   max_completion_tokens,          | max_tokens (the first given), else the
 *     max_tokens                    | target's max_tokens (required there)
 *   stop                            | stop_sequences
 *   temperature, top_p              | as they are; temperature above 1: 400
 *                                   | (Anthropic's range is 0..1)
 *   top_k, thinking                 | as they are (Anthropic's own, as some
 *                                   | OpenAI clients send them)
 *   stream                          | stream (the call's); usage always comes
 *   stream_options                  | dropped (usage is always streamed)
 *   user                            | metadata.user_id
 *   tools (function)                | tools {name, description, input_schema};
 *                                   | function.strict dropped; other types: 400
 *   tool_choice                     | auto, none, required -> any, a function
 *                                   | -> tool; allowed_tools etc.: 400
 *   parallel_tool_calls false       | tool_choice.disable_parallel_tool_use
 *   n > 1, logprobs, top_logprobs,  | 400: they change the answer's shape and
 *     audio, modalities but text,   | Anthropic cannot give it
 *     response_format but text,     |
 *     web_search_options            |
 *   seed, presence_penalty,         | dropped: sampling hints with no
 *     frequency_penalty, logit_bias |   equivalent
 *   reasoning_effort, prediction,   | dropped: hints that leave the answer's
 *     store, metadata, service_tier |   meaning alone
 *   any other member                | dropped
 *
 * count_tokens takes model, messages, system, tools, tool_choice and thinking
 * only: the sampling fields, max_tokens and stream are left out.
 *
 * Usage: prompt = input_tokens + cache_creation_input_tokens +
 * cache_read_input_tokens (Anthropic's input_tokens excludes both), cached =
 * cache_read_input_tokens, completion = output_tokens (thinking included;
 * Anthropic does not count thinking apart, so reasoning is 0).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "aigw/resource.h"
#include "errtype.h"
#include "jsonx.h"
#include "provider.h"
#include "usage.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ------------------------------------------------------------------ */
/* JSON helpers                                                       */
/* ------------------------------------------------------------------ */

/* Is member k of o the string s? */
static int
is(struct json_object *o, const char *k, const char *s)
{
    const char *v = jx_str(o, k);
    return v != NULL && strcmp(v, s) == 0;
}

/* Add k: o's own member k (a new reference), when it has one. */
static void
copy(struct json_object *to, struct json_object *from, const char *k)
{
    struct json_object *v = jx_get(from, k);
    if (v != NULL)
        json_object_object_add(to, k, json_object_get(v));
}

/* A new {"type":"text","text":t}. */
static struct json_object *
text_block(const char *t)
{
    struct json_object *b = json_object_new_object();
    jx_add_str(b, "type", "text");
    jx_add_str(b, "text", t);
    return b;
}

/* ------------------------------------------------------------------ */
/* The request: messages                                              */
/* ------------------------------------------------------------------ */

/* One request's translation. */
struct xlat {
    struct json_object *msgs;   /* Anthropic's messages, built */
    struct json_object *system; /* text blocks of the system and developer messages */
    char *err;
    size_t errlen;
};

static int fail(struct xlat *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a 400's message; -1. */
static int
fail(struct xlat *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, x->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Append content (a string or blocks; the reference is taken) to blocks. */
static void
append_blocks(struct json_object *blocks, struct json_object *content)
{
    if (json_object_is_type(content, json_type_string)) {
        /* Anthropic refuses empty text blocks, and an empty string says nothing. */
        if (json_object_get_string_len(content) > 0)
            json_object_array_add(blocks, text_block(json_object_get_string(content)));
    } else {
        for (size_t i = 0; i < json_object_array_length(content); i++)
            json_object_array_add(blocks, json_object_get(json_object_array_get_idx(content, i)));
    }
    json_object_put(content);
}

/*
 * Add a turn (content: a string or blocks, the reference taken). A turn of
 * the same role as the last one is merged into it: Anthropic wants the
 * roles to alternate, and OpenAI conversations often do not (tool results
 * followed by a user's text, two user messages in a row).
 */
static void
add_turn(struct xlat *x, const char *role, struct json_object *content)
{
    size_t n = json_object_array_length(x->msgs);
    struct json_object *last = n > 0 ? json_object_array_get_idx(x->msgs, n - 1) : NULL, *m, *lc;
    if (last != NULL && is(last, "role", role)) {
        lc = jx_get(last, "content");
        if (json_object_is_type(lc, json_type_string)) {
            struct json_object *blocks = json_object_new_array();
            append_blocks(blocks, json_object_get(lc));
            json_object_object_add(last, "content", blocks);
            lc = blocks;
        }
        append_blocks(lc, content);
        return;
    }
    m = json_object_new_object();
    jx_add_str(m, "role", role);
    json_object_object_add(m, "content", content);
    json_object_array_add(x->msgs, m);
}

/* Is mt an image type Anthropic takes? */
static int
image_type_ok(const char *mt, size_t n)
{
    static const char *const ok[] = {"image/jpeg", "image/png", "image/gif", "image/webp"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strlen(ok[i]) == n && strncasecmp(mt, ok[i], n) == 0)
            return 1;
    return 0;
}

/* The source of an image: base64 from a data: URL, or the http(s) URL itself. */
static int
image_source(struct xlat *x, const char *where, const char *url, struct json_object **out)
{
    struct json_object *src = json_object_new_object();
    if (strncasecmp(url, "data:", 5) == 0) {
        const char *comma = strchr(url, ','), *semi = strchr(url + 5, ';');
        if (comma == NULL || semi == NULL || semi > comma || comma - url < 12 ||
            strncasecmp(comma - 7, ";base64", 7) != 0) {
            json_object_put(src);
            return fail(x, "%s: only base64 data: URLs are supported by provider anthropic", where);
        }
        if (!image_type_ok(url + 5, (size_t)(semi - url - 5))) {
            json_object_put(src);
            return fail(x, "%s: image type %.*s is not supported by provider anthropic", where,
                        (int)(semi - url - 5), url + 5);
        }
        jx_add_str(src, "type", "base64");
        json_object_object_add(src, "media_type",
                               json_object_new_string_len(url + 5, (int)(semi - url - 5)));
        jx_add_str(src, "data", comma + 1);
    } else if (strncasecmp(url, "https://", 8) == 0 || strncasecmp(url, "http://", 7) == 0) {
        jx_add_str(src, "type", "url");
        jx_add_str(src, "url", url);
    } else {
        json_object_put(src);
        return fail(x, "%s: only data: and http(s) image URLs are supported by provider anthropic",
                    where);
    }
    *out = src;
    return 0;
}

/* An image_url part to an image block, appended to blocks. */
static int
image_block(struct xlat *x, const char *where, struct json_object *part, struct json_object *blocks)
{
    struct json_object *iu = jx_get(part, "image_url"), *src = NULL, *b;
    const char *url =
        json_object_is_type(iu, json_type_string) ? json_object_get_string(iu) : jx_str(iu, "url");
    if (url == NULL)
        return fail(x, "%s.image_url.url is required", where);
    if (image_source(x, where, url, &src) < 0)
        return -1;
    b = json_object_new_object();
    jx_add_str(b, "type", "image");
    json_object_object_add(b, "source", src); /* image_url.detail has no equivalent */
    json_object_array_add(blocks, b);
    return 0;
}

/* Content part k of message i to blocks: text; image_url when images; refusal when refusals. */
static int
part_block(struct xlat *x, size_t i, size_t k, struct json_object *p, int images, int refusals,
           struct json_object *blocks)
{
    const char *type = jx_str(p, "type"), *t;
    char where[64];
    snprintf(where, sizeof(where), "messages[%zu].content[%zu]", i, k);
    if (type == NULL)
        return fail(x, "%s.type is required", where);
    if (strcmp(type, "text") == 0 || (refusals && strcmp(type, "refusal") == 0)) {
        t = jx_str(p, type[0] == 't' ? "text" : "refusal");
        if (t == NULL)
            return fail(x, "%s.%s must be a string", where, type);
        if (*t != '\0') /* Anthropic refuses empty text blocks */
            json_object_array_add(blocks, text_block(t));
        return 0;
    }
    if (images && strcmp(type, "image_url") == 0)
        return image_block(x, where, p, blocks);
    return fail(x, "%s: content parts of type %s are not supported by provider anthropic here",
                where, type);
}

/* Message i's content (a string or parts) to blocks. */
static int
content_blocks(struct xlat *x, size_t i, struct json_object *content, int images, int refusals,
               struct json_object *blocks)
{
    if (content == NULL)
        return 0;
    if (json_object_is_type(content, json_type_string)) {
        append_blocks(blocks, json_object_get(content));
        return 0;
    }
    if (!json_object_is_type(content, json_type_array))
        return fail(x, "messages[%zu].content must be a string or an array of parts", i);
    for (size_t k = 0; k < json_object_array_length(content); k++)
        if (part_block(x, i, k, json_object_array_get_idx(content, k), images, refusals, blocks) <
            0)
            return -1;
    return 0;
}

/* A system or developer message: its text goes to the top-level system. */
static int
system_add(struct xlat *x, size_t i, struct json_object *m)
{
    return content_blocks(x, i, jx_get(m, "content"), 0, 0, x->system);
}

/* A user message: a string stays one; parts become blocks. */
static int
user_add(struct xlat *x, size_t i, struct json_object *m)
{
    struct json_object *content = jx_get(m, "content"), *blocks;
    if (json_object_is_type(content, json_type_string)) {
        add_turn(x, "user", json_object_get(content));
        return 0;
    }
    blocks = json_object_new_array();
    if (content_blocks(x, i, content, 1, 0, blocks) < 0) {
        json_object_put(blocks);
        return -1;
    }
    add_turn(x, "user", blocks);
    return 0;
}

/* A tool call's arguments (JSON text, or an object some clients send) to an input object. */
static struct json_object *
tool_input(struct json_object *args)
{
    struct json_object *o;
    const char *s;
    if (args == NULL)
        return json_object_new_object();
    if (json_object_is_type(args, json_type_object))
        return json_object_get(args);
    if (!json_object_is_type(args, json_type_string))
        return NULL;
    s = json_object_get_string(args);
    if (s[strspn(s, " \t\r\n")] == '\0') /* "" for a call without arguments */
        return json_object_new_object();
    o = jx_parse(s, strlen(s));
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* Tool call k of assistant message i to a tool_use block. */
static int
tool_use_block(struct xlat *x, size_t i, size_t k, struct json_object *call,
               struct json_object *blocks)
{
    struct json_object *fn = jx_get(call, "function"), *input, *b;
    const char *type = jx_str(call, "type"), *id = jx_str(call, "id"), *name = jx_str(fn, "name");
    if (type != NULL && strcmp(type, "function") != 0)
        return fail(x,
                    "messages[%zu].tool_calls[%zu]: tool calls of type %s are not supported by "
                    "provider anthropic",
                    i, k, type);
    if (id == NULL || name == NULL)
        return fail(x, "messages[%zu].tool_calls[%zu]: an id and a function name are required", i,
                    k);
    if ((input = tool_input(jx_get(fn, "arguments"))) == NULL)
        return fail(x,
                    "messages[%zu].tool_calls[%zu].function.arguments is not a JSON object, "
                    "which provider anthropic needs",
                    i, k);
    b = json_object_new_object();
    jx_add_str(b, "type", "tool_use");
    jx_add_str(b, "id", id);
    jx_add_str(b, "name", name);
    json_object_object_add(b, "input", input);
    json_object_array_add(blocks, b);
    return 0;
}

/* An assistant message: its text, then a tool_use block per tool call. */
static int
assistant_add(struct xlat *x, size_t i, struct json_object *m)
{
    struct json_object *content = jx_get(m, "content"), *calls = jx_get(m, "tool_calls");
    struct json_object *blocks = json_object_new_array();
    const char *refusal = jx_str(m, "refusal");
    if (jx_get(m, "function_call") != NULL || jx_get(m, "audio") != NULL) {
        json_object_put(blocks);
        return fail(x, "messages[%zu].%s is not supported by provider anthropic", i,
                    jx_get(m, "audio") != NULL ? "audio" : "function_call (use tool_calls)");
    }
    if (content_blocks(x, i, content, 0, 1, blocks) < 0)
        goto bad;
    if (json_object_array_length(blocks) == 0 && refusal != NULL && *refusal != '\0')
        json_object_array_add(blocks, text_block(refusal));
    for (size_t k = 0; calls != NULL && k < json_object_array_length(calls); k++)
        if (tool_use_block(x, i, k, json_object_array_get_idx(calls, k), blocks) < 0)
            goto bad;
    if (json_object_array_length(blocks) == 0) {
        json_object_put(blocks); /* nothing said: Anthropic refuses an empty turn */
        return 0;
    }
    if (json_object_is_type(content, json_type_string) && json_object_array_length(blocks) == 1 &&
        is(json_object_array_get_idx(blocks, 0), "type", "text")) {
        json_object_put(blocks); /* plain text stays a string */
        add_turn(x, "assistant", json_object_get(content));
        return 0;
    }
    add_turn(x, "assistant", blocks);
    return 0;
bad:
    json_object_put(blocks);
    return -1;
}

/* A tool message: a tool_result block in a user turn (merged with its neighbours). */
static int
tool_add(struct xlat *x, size_t i, struct json_object *m)
{
    struct json_object *content = jx_get(m, "content"), *r, *blocks;
    const char *id = jx_str(m, "tool_call_id");
    if (id == NULL)
        return fail(x, "messages[%zu].tool_call_id is required", i);
    r = json_object_new_object();
    jx_add_str(r, "type", "tool_result");
    jx_add_str(r, "tool_use_id", id);
    if (json_object_is_type(content, json_type_string)) {
        json_object_object_add(r, "content", json_object_get(content));
    } else if (content != NULL) {
        blocks = json_object_new_array();
        if (content_blocks(x, i, content, 0, 0, blocks) < 0) {
            json_object_put(blocks);
            json_object_put(r);
            return -1;
        }
        json_object_object_add(r, "content", blocks);
    }
    blocks = json_object_new_array();
    json_object_array_add(blocks, r);
    add_turn(x, "user", blocks);
    return 0;
}

/* Every message, by role. */
static int
messages_xlat(struct xlat *x, struct json_object *msgs)
{
    size_t n = json_object_is_type(msgs, json_type_array) ? json_object_array_length(msgs) : 0;
    if (n == 0)
        return fail(x, "messages must be a non-empty array");
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(msgs, i);
        const char *role = jx_str(m, "role");
        int rc;
        if (role == NULL)
            return fail(x, "messages[%zu].role is required", i);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
            rc = system_add(x, i, m);
        else if (strcmp(role, "user") == 0)
            rc = user_add(x, i, m);
        else if (strcmp(role, "assistant") == 0)
            rc = assistant_add(x, i, m);
        else if (strcmp(role, "tool") == 0)
            rc = tool_add(x, i, m);
        else
            rc = fail(x, "messages[%zu]: role %s is not supported by provider anthropic", i, role);
        if (rc < 0)
            return -1;
    }
    if (json_object_array_length(x->msgs) == 0)
        return fail(x, "messages: provider anthropic needs a user or assistant message");
    return 0;
}

/* ------------------------------------------------------------------ */
/* The request: the other fields                                      */
/* ------------------------------------------------------------------ */

/* Refuse what would change the answer's meaning and Anthropic cannot do. */
static int
check_unsupported(struct xlat *x, struct json_object *body)
{
    struct json_object *v;
    if ((v = jx_get(body, "n")) != NULL && json_object_get_int64(v) > 1)
        return fail(x, "n > 1 is not supported by provider anthropic");
    if ((v = jx_get(body, "logprobs")) != NULL && json_object_get_boolean(v))
        return fail(x, "logprobs is not supported by provider anthropic");
    if (jx_get(body, "top_logprobs") != NULL)
        return fail(x, "top_logprobs is not supported by provider anthropic");
    if (jx_get(body, "audio") != NULL)
        return fail(x, "audio is not supported by provider anthropic");
    if (jx_get(body, "functions") != NULL || jx_get(body, "function_call") != NULL)
        return fail(x, "functions and function_call are not supported by provider anthropic (use "
                       "tools)");
    if (jx_get(body, "web_search_options") != NULL)
        return fail(x, "web_search_options is not supported by provider anthropic");
    if ((v = jx_get(body, "response_format")) != NULL && !is(v, "type", "text"))
        return fail(x, "response_format %s is not supported by provider anthropic",
                    jx_str(v, "type") ? jx_str(v, "type") : "");
    v = jx_get(body, "modalities");
    for (size_t i = 0; json_object_is_type(v, json_type_array) && i < json_object_array_length(v);
         i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string) ||
            strcmp(json_object_get_string(json_object_array_get_idx(v, i)), "text") != 0)
            return fail(x, "modalities other than text are not supported by provider anthropic");
    if ((v = jx_get(body, "temperature")) != NULL && json_object_get_double(v) > 1.0)
        return fail(x, "temperature above 1 is not supported by provider anthropic");
    return 0;
}

/* tools: OpenAI's functions to {name, description, input_schema}. */
static int
tools_xlat(struct xlat *x, struct json_object *tools, struct json_object *out)
{
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(tools); i++) {
        struct json_object *t = json_object_array_get_idx(tools, i), *fn = jx_get(t, "function"),
                           *a;
        const char *type = jx_str(t, "type");
        if (type != NULL && strcmp(type, "function") != 0) {
            json_object_put(arr);
            return fail(x, "tools[%zu]: tools of type %s are not supported by provider anthropic",
                        i, type);
        }
        if (jx_str(fn, "name") == NULL) {
            json_object_put(arr);
            return fail(x, "tools[%zu].function.name is required", i);
        }
        a = json_object_new_object();
        copy(a, fn, "name");
        copy(a, fn, "description");
        /* A function without parameters: Anthropic requires a schema all the same. */
        json_object_object_add(a, "input_schema",
                               jx_get(fn, "parameters") != NULL
                                   ? json_object_get(jx_get(fn, "parameters"))
                                   : json_tokener_parse("{\"type\":\"object\",\"properties\":{}}"));
        json_object_array_add(arr, a);
    }
    json_object_object_add(out, "tools", arr);
    return 0;
}

/* tool_choice and parallel_tool_calls to Anthropic's tool_choice. */
static int
tool_choice_xlat(struct xlat *x, struct json_object *body, struct json_object *out)
{
    struct json_object *tc = jx_get(body, "tool_choice"),
                       *ptc = jx_get(body, "parallel_tool_calls");
    struct json_object *o = json_object_new_object();
    const char *s = json_object_is_type(tc, json_type_string) ? json_object_get_string(tc) : NULL;
    if (tc == NULL || (s != NULL && strcmp(s, "auto") == 0)) {
        jx_add_str(o, "type", "auto");
    } else if (s != NULL && (strcmp(s, "none") == 0 || strcmp(s, "required") == 0)) {
        jx_add_str(o, "type", s[0] == 'n' ? "none" : "any");
    } else if (is(tc, "type", "function") && jx_str(jx_get(tc, "function"), "name") != NULL) {
        jx_add_str(o, "type", "tool");
        jx_add_str(o, "name", jx_str(jx_get(tc, "function"), "name"));
    } else {
        json_object_put(o);
        return fail(x, "this tool_choice is not supported by provider anthropic");
    }
    if (ptc != NULL && !json_object_get_boolean(ptc) && !is(o, "type", "none"))
        json_object_object_add(o, "disable_parallel_tool_use", json_object_new_boolean(1));
    /* Anthropic's default is auto: leave it out unless it says more. */
    if (tc == NULL && json_object_object_length(o) == 1)
        json_object_put(o);
    else
        json_object_object_add(out, "tool_choice", o);
    return 0;
}

/* stop (a string or strings) to stop_sequences. */
static int
stop_xlat(struct xlat *x, struct json_object *stop, struct json_object *out)
{
    struct json_object *arr = json_object_new_array(), *v;
    size_t n = json_object_is_type(stop, json_type_array) ? json_object_array_length(stop) : 1;
    for (size_t i = 0; i < n; i++) {
        v = json_object_is_type(stop, json_type_array) ? json_object_array_get_idx(stop, i) : stop;
        if (!json_object_is_type(v, json_type_string)) {
            json_object_put(arr);
            return fail(x, "stop must be a string or an array of strings");
        }
        if (json_object_get_string_len(v) > 0)
            json_object_array_add(arr, json_object_get(v));
    }
    if (json_object_array_length(arr) > 0)
        json_object_object_add(out, "stop_sequences", arr);
    else
        json_object_put(arr);
    return 0;
}

/* max_tokens, the sampling fields, stream and metadata: a chat only. */
static int
sampling_xlat(const struct prov_call *c, struct xlat *x, struct json_object *body,
              struct json_object *out)
{
    struct json_object *mt = jx_get(body, "max_completion_tokens");
    const char *user = jx_str(body, "user");
    if (mt == NULL)
        mt = jx_get(body, "max_tokens");
    if (mt != NULL)
        json_object_object_add(out, "max_tokens", json_object_get(mt));
    else if (c->t->max_tokens > 0)
        json_object_object_add(out, "max_tokens", json_object_new_int(c->t->max_tokens));
    else
        return fail(x, "max_tokens is required by provider anthropic");
    if (jx_get(body, "stop") != NULL && stop_xlat(x, jx_get(body, "stop"), out) < 0)
        return -1;
    copy(out, body, "temperature");
    copy(out, body, "top_p");
    copy(out, body, "top_k");
    if (c->stream)
        json_object_object_add(out, "stream", json_object_new_boolean(1));
    if (user != NULL && *user != '\0') {
        struct json_object *md = json_object_new_object();
        jx_add_str(md, "user_id", user);
        json_object_object_add(out, "metadata", md);
    }
    return 0;
}

/* The Messages request for an OpenAI chat body: a new object, or NULL (err written). */
static struct json_object *
request_xlat(const struct prov_call *c, struct json_object *body, char *err, size_t errlen)
{
    struct xlat x = {json_object_new_array(), json_object_new_array(), err, errlen};
    struct json_object *out = json_object_new_object(), *tools = jx_get(body, "tools");
    int ntools =
        json_object_is_type(tools, json_type_array) ? (int)json_object_array_length(tools) : 0;
    jx_add_str(out, "model", c->t->upstream_model);
    if ((c->op == OP_CHAT && check_unsupported(&x, body) < 0) ||
        messages_xlat(&x, jx_get(body, "messages")) < 0)
        goto bad;
    if (json_object_array_length(x.system) == 1) /* one text: the string form */
        json_object_object_add(
            out, "system", json_object_get(jx_get(json_object_array_get_idx(x.system, 0), "text")));
    else if (json_object_array_length(x.system) > 1)
        json_object_object_add(out, "system", json_object_get(x.system));
    json_object_object_add(out, "messages", json_object_get(x.msgs));
    if (c->op == OP_CHAT && sampling_xlat(c, &x, body, out) < 0)
        goto bad;
    /* Without tools a tool_choice means nothing (and Anthropic refuses it). */
    if (ntools > 0 && (tools_xlat(&x, tools, out) < 0 || tool_choice_xlat(&x, body, out) < 0))
        goto bad;
    copy(out, body, "thinking");
    json_object_put(x.msgs);
    json_object_put(x.system);
    return out;
bad:
    json_object_put(x.msgs);
    json_object_put(x.system);
    json_object_put(out);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* build                                                              */
/* ------------------------------------------------------------------ */

/* The URL, the key and the API version (the client's own in a pass-through, when it sent one). */
static int
build(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
      size_t errlen)
{
    const char *ver = c->t->api_version, *beta = NULL;
    struct json_object *req;
    if (c->op != OP_CHAT && c->op != OP_COUNT_TOKENS) {
        snprintf(err, errlen, "this operation is not supported by provider anthropic");
        return -1;
    }
    if (prov_url(out, c->t, c->op == OP_CHAT ? "/messages" : "/messages/count_tokens", NULL) < 0) {
        snprintf(err, errlen, "the target's api_base is too long");
        return -1;
    }
    if (c->native) {
        /* the client's bytes with the model replaced; its parse only when that fails */
        req = NULL;
        if (prov_raw_model(c, out) < 0) {
            json_object_object_add(body, "model", json_object_new_string(c->t->upstream_model));
            req = json_object_get(body);
        }
        if (c->anthropic_version != NULL && *c->anthropic_version != '\0')
            ver = c->anthropic_version;
        beta = c->anthropic_beta;
    } else if ((req = request_xlat(c, body, err, errlen)) == NULL) {
        return -1;
    }
    prov_auth(out, c, &prov_anthropic);
    prov_header(out, "anthropic-version",
                ver != NULL && *ver != '\0' ? ver : prov_anthropic.api_version);
    if (beta != NULL && *beta != '\0')
        prov_header(out, "anthropic-beta", beta);
    if (req != NULL)
        prov_body(out, req);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Answers                                                            */
/* ------------------------------------------------------------------ */

/* Anthropic's token counts, as it reports them (clamped; bad: one was not a count). */
struct anth_counts {
    int64_t input, cache_write, cache_read, output;
    int bad;
};

/* Read the counts a usage object has (the others stay as they were). */
static void
counts_read(struct json_object *usage, struct anth_counts *n)
{
    if (jx_get(usage, "input_tokens") != NULL)
        n->input = usage_count(usage, "input_tokens", &n->bad);
    if (jx_get(usage, "cache_creation_input_tokens") != NULL)
        n->cache_write = usage_count(usage, "cache_creation_input_tokens", &n->bad);
    if (jx_get(usage, "cache_read_input_tokens") != NULL)
        n->cache_read = usage_count(usage, "cache_read_input_tokens", &n->bad);
    if (jx_get(usage, "output_tokens") != NULL)
        n->output = usage_count(usage, "output_tokens", &n->bad);
}

/* OpenAI's terms: Anthropic's input_tokens leaves out what was read from or written to cache. */
static void
counts_usage(const struct anth_counts *n, struct prov_usage *u)
{
    u->prompt = usage_add(usage_add(n->input, n->cache_write), n->cache_read);
    u->cached = n->cache_read;
    u->completion = n->output;
    u->reasoning = 0; /* Anthropic does not count thinking apart from output */
    u->total = usage_add(u->prompt, u->completion);
    u->bad |= n->bad;
    u->have = 1;
}

/* OpenAI's finish_reason for Anthropic's stop_reason. */
static const char *
finish_reason(const char *stop)
{
    if (stop == NULL)
        return "stop";
    if (strcmp(stop, "max_tokens") == 0 || strcmp(stop, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop, "tool_use") == 0)
        return "tool_calls";
    if (strcmp(stop, "refusal") == 0)
        return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

/* A tool_use block to an OpenAI tool call. */
static struct json_object *
tool_call(struct json_object *b)
{
    struct json_object *tc = json_object_new_object(), *fn = json_object_new_object();
    struct json_object *input = jx_get(b, "input");
    copy(tc, b, "id");
    jx_add_str(tc, "type", "function");
    copy(fn, b, "name");
    jx_add_str(fn, "arguments",
               input != NULL ? json_object_to_json_string_ext(input, JSON_FLAGS) : "{}");
    json_object_object_add(tc, "function", fn);
    return tc;
}

/* The answer's message: text blocks joined, tool calls, thinking as reasoning_content. */
static struct json_object *
answer_message(struct json_object *content)
{
    struct json_object *msg = json_object_new_object(), *calls = json_object_new_array();
    struct printbuf *text = printbuf_new(), *think = printbuf_new();
    for (size_t i = 0; content != NULL && i < json_object_array_length(content); i++) {
        struct json_object *b = json_object_array_get_idx(content, i);
        const char *t;
        if (is(b, "type", "text") && (t = jx_str(b, "text")) != NULL)
            printbuf_memappend(text, t, (int)strlen(t));
        else if (is(b, "type", "thinking") && (t = jx_str(b, "thinking")) != NULL)
            printbuf_memappend(think, t, (int)strlen(t));
        else if (is(b, "type", "tool_use"))
            json_object_array_add(calls, tool_call(b));
    }
    jx_add_str(msg, "role", "assistant");
    if (printbuf_length(text) == 0 && json_object_array_length(calls) > 0)
        json_object_object_add(msg, "content", NULL);
    else
        json_object_object_add(msg, "content",
                               json_object_new_string_len(text->buf, printbuf_length(text)));
    if (printbuf_length(think) > 0)
        json_object_object_add(msg, "reasoning_content",
                               json_object_new_string_len(think->buf, printbuf_length(think)));
    if (json_object_array_length(calls) > 0)
        json_object_object_add(msg, "tool_calls", calls);
    else
        json_object_put(calls);
    printbuf_free(text);
    printbuf_free(think);
    return msg;
}

/* An Anthropic message to a chat.completion. */
static struct json_object *
completion(struct json_object *in, const struct prov_usage *u)
{
    struct json_object *out = json_object_new_object(), *choices = json_object_new_array();
    struct json_object *ch = json_object_new_object();
    copy(out, in, "id");
    jx_add_str(out, "object", "chat.completion");
    json_object_object_add(out, "created", json_object_new_int64((int64_t)time(NULL)));
    copy(out, in, "model");
    json_object_object_add(ch, "index", json_object_new_int(0));
    json_object_object_add(ch, "message", answer_message(jx_get(in, "content")));
    json_object_object_add(ch, "logprobs", NULL);
    jx_add_str(ch, "finish_reason", finish_reason(jx_str(in, "stop_reason")));
    json_object_array_add(choices, ch);
    json_object_object_add(out, "choices", choices);
    json_object_object_add(out, "usage", prov_usage_json(u));
    return out;
}

/* A 2xx answer: a message (or a token count) and its usage. */
static int
response(const struct prov_call *c, struct json_object *in, struct json_object **out,
         struct prov_usage *u)
{
    struct anth_counts n = {0};
    *out = NULL;
    if (in == NULL || !json_object_is_type(in, json_type_object))
        return -1;
    if (c->op == OP_COUNT_TOKENS) /* {"input_tokens": N} is the internal shape already */
        return jx_get(in, "input_tokens") != NULL ? 0 : -1;
    if (!is(in, "type", "message"))
        return -1;
    /* a message's content is a list of blocks: anything else is not the API's answer */
    struct json_object *content = jx_get(in, "content");
    if (content != NULL && !json_object_is_type(content, json_type_array))
        return -1;
    counts_read(jx_get(in, "usage"), &n);
    counts_usage(&n, u);
    if (!c->native) /* a pass-through relays the answer as it came */
        *out = completion(in, u);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* Anthropic's error object of a body {"type":"error","error":{...}}; NULL when not that shape. */
static struct json_object *
error_of(struct json_object *in)
{
    struct json_object *e = jx_get(in, "error");
    if (!is(in, "type", "error") || jx_str(e, "type") == NULL)
        return NULL;
    return e;
}

/* A non-2xx answer to OpenAI's error; 529 (overloaded) becomes 503, which OpenAI clients know. */
static int
error_map(long status, const char *type, struct json_object *in, struct json_object **out)
{
    struct json_object *e = error_of(in);
    long client = status == 529 ? 503 : status;
    (void)type; /* its errors carry their type in the body */
    *out = NULL;
    if (e == NULL)
        return -1;
    *out = prov_error_json(jx_str(e, "message"), errtype_openai(client), jx_str(e, "type"));
    return (int)client;
}

/* ------------------------------------------------------------------ */
/* Streams                                                            */
/* ------------------------------------------------------------------ */

/* One stream's state. */
struct anth_stream {
    char id[128];
    char model[256];
    int64_t created;
    struct anth_counts n;
    int finished; /* the finish chunk went out */
    int ntools;   /* tool_use blocks so far: the next one's OpenAI index */
    int *tool_of; /* content block index -> tool call index, -1 for other blocks */
    size_t ntool_of;
};

/* Set up the state. */
static int
stream_begin(struct prov_stream *s)
{
    struct anth_stream *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return -1;
    st->created = (int64_t)time(NULL);
    s->priv = st;
    return 0;
}

/* Free the state. */
static void
stream_end(struct prov_stream *s)
{
    struct anth_stream *st = s->priv;
    if (st != NULL)
        free(st->tool_of);
    free(st);
    s->priv = NULL;
}

/* Emit a chunk with one choice of this delta (the reference is taken) and finish reason. */
static void
emit_delta(struct prov_stream *s, struct json_object *delta, const char *finish)
{
    struct anth_stream *st = s->priv;
    struct json_object *chunk, *choices, *ch;
    if (s->emit == NULL) {
        json_object_put(delta);
        return;
    }
    chunk = json_object_new_object();
    choices = json_object_new_array();
    ch = json_object_new_object();
    jx_add_str(chunk, "id", st->id);
    jx_add_str(chunk, "object", "chat.completion.chunk");
    json_object_object_add(chunk, "created", json_object_new_int64(st->created));
    jx_add_str(chunk, "model", st->model);
    json_object_object_add(ch, "index", json_object_new_int(0));
    json_object_object_add(ch, "delta", delta);
    json_object_object_add(ch, "finish_reason", finish ? json_object_new_string(finish) : NULL);
    json_object_array_add(choices, ch);
    json_object_object_add(chunk, "choices", choices);
    prov_emit_json(s, chunk);
    json_object_put(chunk);
}

/* A delta {k: v}. */
static struct json_object *
delta1(const char *k, struct json_object *v)
{
    struct json_object *d = json_object_new_object();
    json_object_object_add(d, k, v);
    return d;
}

/* message_start: remember the id, the model and the input counts; the role chunk. */
static int
ev_message_start(struct prov_stream *s, struct anth_stream *st, struct json_object *o)
{
    struct json_object *m = jx_get(o, "message"), *d;
    if (m == NULL)
        return -1;
    snprintf(st->id, sizeof(st->id), "%s", jx_str(m, "id") ? jx_str(m, "id") : "");
    snprintf(st->model, sizeof(st->model), "%s", jx_str(m, "model") ? jx_str(m, "model") : "");
    counts_read(jx_get(m, "usage"), &st->n);
    counts_usage(&st->n, &s->usage);
    d = delta1("role", json_object_new_string("assistant"));
    jx_add_str(d, "content", "");
    emit_delta(s, d, NULL);
    return 0;
}

/* The tool call index of content block idx; -1 when it is no tool_use block. */
static int
tool_index(const struct anth_stream *st, int64_t idx)
{
    return idx >= 0 && (size_t)idx < st->ntool_of ? st->tool_of[idx] : -1;
}

/* Note that content block idx is tool call k. */
static int
tool_note(struct anth_stream *st, int64_t idx, int k)
{
    if (idx < 0 || idx > 100000)
        return -1;
    if ((size_t)idx >= st->ntool_of) {
        size_t n = (size_t)idx + 8;
        int *p = realloc(st->tool_of, n * sizeof(*p));
        if (p == NULL)
            return -1;
        for (size_t i = st->ntool_of; i < n; i++)
            p[i] = -1;
        st->tool_of = p;
        st->ntool_of = n;
    }
    st->tool_of[idx] = k;
    return 0;
}

/* content_block_start: a tool_use block opens a tool call (id, name, empty arguments). */
static int
ev_block_start(struct prov_stream *s, struct anth_stream *st, struct json_object *o)
{
    struct json_object *b = jx_get(o, "content_block"), *tc, *fn, *arr;
    const char *t;
    if (b == NULL)
        return -1;
    if (is(b, "type", "text") && (t = jx_str(b, "text")) != NULL && *t != '\0')
        emit_delta(s, delta1("content", json_object_new_string(t)), NULL);
    if (!is(b, "type", "tool_use"))
        return 0;
    if (tool_note(st, jx_int(o, "index"), st->ntools) < 0)
        return -1;
    tc = json_object_new_object();
    fn = json_object_new_object();
    json_object_object_add(tc, "index", json_object_new_int(st->ntools++));
    copy(tc, b, "id");
    jx_add_str(tc, "type", "function");
    copy(fn, b, "name");
    jx_add_str(fn, "arguments", "");
    json_object_object_add(tc, "function", fn);
    arr = json_object_new_array();
    json_object_array_add(arr, tc);
    emit_delta(s, delta1("tool_calls", arr), NULL);
    return 0;
}

/* content_block_delta: text, a tool call's arguments, or thinking. */
static int
ev_block_delta(struct prov_stream *s, struct anth_stream *st, struct json_object *o)
{
    struct json_object *d = jx_get(o, "delta"), *tc, *fn, *arr;
    const char *t;
    int k;
    if (d == NULL)
        return -1;
    if (is(d, "type", "text_delta") && (t = jx_str(d, "text")) != NULL && *t != '\0') {
        emit_delta(s, delta1("content", json_object_new_string(t)), NULL);
    } else if (is(d, "type", "thinking_delta") && (t = jx_str(d, "thinking")) != NULL &&
               *t != '\0') {
        emit_delta(s, delta1("reasoning_content", json_object_new_string(t)), NULL);
    } else if (is(d, "type", "input_json_delta") && (t = jx_str(d, "partial_json")) != NULL &&
               *t != '\0' && (k = tool_index(st, jx_int(o, "index"))) >= 0) {
        /* server_tool_use blocks stream their input too: they are no tool call of the client's */
        tc = json_object_new_object();
        fn = json_object_new_object();
        json_object_object_add(tc, "index", json_object_new_int(k));
        jx_add_str(fn, "arguments", t);
        json_object_object_add(tc, "function", fn);
        arr = json_object_new_array();
        json_object_array_add(arr, tc);
        emit_delta(s, delta1("tool_calls", arr), NULL);
    }
    return 0; /* signature_delta, citations_delta, empty pieces: nothing to say */
}

/* message_delta: the stop reason (the finish chunk) and the counts so far (cumulative). */
static int
ev_message_delta(struct prov_stream *s, struct anth_stream *st, struct json_object *o)
{
    const char *stop = jx_str(jx_get(o, "delta"), "stop_reason");
    counts_read(jx_get(o, "usage"), &st->n);
    counts_usage(&st->n, &s->usage);
    if (stop != NULL && !st->finished) {
        st->finished = 1;
        emit_delta(s, json_object_new_object(), finish_reason(stop));
    }
    return 0;
}

/* message_stop: the usage chunk, then [DONE]. */
static int
ev_message_stop(struct prov_stream *s, struct anth_stream *st)
{
    struct json_object *chunk;
    s->done = 1;
    if (s->emit == NULL)
        return 0;
    chunk = json_object_new_object();
    jx_add_str(chunk, "id", st->id);
    jx_add_str(chunk, "object", "chat.completion.chunk");
    json_object_object_add(chunk, "created", json_object_new_int64(st->created));
    jx_add_str(chunk, "model", st->model);
    json_object_object_add(chunk, "choices", json_object_new_array());
    json_object_object_add(chunk, "usage", prov_usage_json(&s->usage));
    prov_emit_json(s, chunk);
    json_object_put(chunk);
    s->emit(s->arg, "[DONE]", 6);
    return 0;
}

/* event: error: the stream's error as OpenAI's, with the status its type stands for. */
static int
ev_error(struct prov_stream *s, struct json_object *o)
{
    struct json_object *e = jx_get(o, "error");
    const char *type = jx_str(e, "type");
    s->error_status = errtype_anthropic_status(type);
    json_object_put(s->error);
    s->error = prov_error_json(jx_str(e, "message"), errtype_openai(s->error_status),
                               type != NULL ? type : "api_error");
    return 0;
}

/* Is the event name ev (evlen bytes) name? */
static int
event_is(const char *ev, size_t evlen, const char *name)
{
    return ev != NULL && evlen == strlen(name) && memcmp(ev, name, evlen) == 0;
}

/* One upstream event; the type is the data's (the event name says the same). */
static int
stream_event(struct prov_stream *s, const char *event, size_t evlen, const char *data, size_t len)
{
    struct anth_stream *st = s->priv;
    struct json_object *o;
    const char *type;
    int rc = 0;
    if (st == NULL)
        return -1;
    /* A pass-through relays the deltas untouched: no need to parse them. */
    if (s->emit == NULL &&
        (event_is(event, evlen, "content_block_delta") || event_is(event, evlen, "ping") ||
         event_is(event, evlen, "content_block_start") ||
         event_is(event, evlen, "content_block_stop")))
        return 0;
    if ((o = jx_parse(data, len)) == NULL || !json_object_is_type(o, json_type_object) ||
        (type = jx_str(o, "type")) == NULL) {
        json_object_put(o);
        return -1;
    }
    if (strcmp(type, "message_start") == 0)
        rc = ev_message_start(s, st, o);
    else if (strcmp(type, "content_block_start") == 0)
        rc = ev_block_start(s, st, o);
    else if (strcmp(type, "content_block_delta") == 0)
        rc = ev_block_delta(s, st, o);
    else if (strcmp(type, "message_delta") == 0)
        rc = ev_message_delta(s, st, o);
    else if (strcmp(type, "message_stop") == 0)
        rc = ev_message_stop(s, st);
    else if (strcmp(type, "error") == 0)
        rc = ev_error(s, o);
    /* ping, content_block_stop and event types yet unknown: nothing to say */
    json_object_put(o);
    return rc;
}

const struct provider prov_anthropic = {
    .name = "anthropic",
    .id = PROVIDER_ANTHROPIC,
    .api_base = "https://api.anthropic.com/v1",
    .api_version_is = "anthropic-version",
    .api_version = "2023-06-01",
    .max_tokens = 4096,
    .auth_header = "x-api-key",
    .ops = OP_BIT(OP_CHAT) | OP_BIT(OP_COUNT_TOKENS),
    .own = DIALECT_ANTHROPIC,
    .build = build,
    .response = response,
    .stream_begin = stream_begin,
    .stream_event = stream_event,
    .stream_end = stream_end,
    .error = error_map,
};
