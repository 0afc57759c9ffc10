/* SPDX-License-Identifier: Apache-2.0 */
/*
 * messages.c: the Anthropic Messages API for clients whose target is not
 * Anthropic (worker). A request is checked as Anthropic checks it, then
 * translated to the internal OpenAI chat shape (provider.h); the answer, the
 * stream chunks and the errors come back translated to what the Anthropic
 * SDKs parse.
 *
 * What has no exact equivalent, and what we do with it:
 *
 * Anthropic                          OpenAI side: our choice
 * ---------------------------------  -----------------------------------------------------------
 * system: a string                   a first {role: system} message
 * system: text blocks                the same, their texts joined with "\n" (a string: every
 *                                    OpenAI-compatible server takes one)
 * user content: one text block       content: the string
 * user content: several blocks       content parts: text, image_url
 * image, base64 source               image_url "data:{media_type};base64,{data}"
 * image, url source                  image_url {url}
 * image, file source (Files API)     400: the file lives at Anthropic
 * tool_result blocks                 {role: tool} messages before the rest of the user turn
 *                                    (OpenAI wants them right after the tool_calls); content: a
 *                                    string, its text blocks joined with "\n"
 * tool_result is_error: true         content kept as is (OpenAI has no error flag; the text says
 *                                    what went wrong)
 * images inside a tool_result        moved to the user message that follows the tool messages
 *                                    (OpenAI tool messages carry text only)
 * assistant text blocks              content: their texts joined with "\n"
 * assistant tool_use                 tool_calls [{id, type function, function {name, arguments:
 *                                    input as compact JSON}}]; content null when no text
 * thinking, redacted_thinking        dropped (signed by Anthropic, meaningless elsewhere)
 * a last assistant message, empty    dropped (an empty prefill means nothing)
 * a last assistant message (prefill) sent as is: the target may answer anew, not continue it
 * document, search_result, server    400 "messages.N.content.K: content block type 'document' is
 * tool blocks, other unknown types   not supported for models served by a non-Anthropic target"
 * tools (custom)                     [{type function, function {name, description, parameters:
 *                                    input_schema, strict}}]
 * a tool's eager_input_streaming     dropped: fine-grained tool streaming asks Anthropic not to
 *                                    buffer a tool's input; an OpenAI-style stream sends
 *                                    argument pieces unbuffered anyway (checked: a boolean or
 *                                    null, as Anthropic checks it)
 * tools of another type (web_search, 400 (they run at Anthropic)
 * bash, text_editor, computer, ...)
 * mcp_servers                        400 (they run at Anthropic)
 * tool_choice auto / any / none      "auto" / "required" / "none"
 * tool_choice tool                   {type function, function {name}}
 * disable_parallel_tool_use: true    parallel_tool_calls: false
 * no tools (absent or [])            no tools, tool_choice, parallel_tool_calls (OpenAI refuses
 *                                    the last two without tools, and tools [])
 * stop_sequences                     stop (none when [])
 * metadata.user_id                   user
 * stream: true                       stream, stream_options {include_usage: true}
 * top_k, thinking, service_tier,     dropped: sampling and effort hints with no OpenAI
 * container, cache_control           equivalent, which change no answer's meaning
 * ---------------------------------  -----------------------------------------------------------
 * answer id "chatcmpl-x"             "msg_chatcmpl-x" ("msg_" added unless there)
 * message.content                    a text block (when not empty)
 * message.refusal                    a text block (when there is no content)
 * message.reasoning_content          dropped, in answers and streams: a thinking block needs
 *                                    Anthropic's signature, and a client that sends it back to
 *                                    an Anthropic target would get a 400. Its tokens still count
 *                                    in output_tokens.
 * tool_calls                         tool_use blocks {id, name, input}; arguments that are not a
 *                                    JSON object (or empty) give input {}
 * finish_reason stop / length /      stop_reason end_turn / max_tokens / tool_use / refusal;
 * tool_calls / content_filter        stop with tool calls is tool_use (some servers say stop)
 * (a stop sequence matched)          end_turn, stop_sequence null: OpenAI does not say which
 * usage                              input_tokens = prompt - cached, output_tokens = completion,
 *                                    cache_read = cached, cache_creation 0 (the inverse of
 *                                    prompt = input + cache_creation + cache_read)
 * stream usage                       message_start has the counts known then (0s, as a rule);
 *                                    message_delta has the final input, cache and output counts
 *                                    (newer SDKs take them from there); without a usage chunk
 *                                    it has output_tokens 0 only
 * argument pieces for a tool call    sent at that call's block index all the same (the SDKs
 * whose block was closed already     accumulate by index); OpenAI streams calls one by one
 * more than 64 tool calls, a stream  the 65th and later are dropped
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "errtype.h"
#include "jsonx.h"
#include "messages.h"
#include "usage.h"

#define NOT_HERE "is not supported for models served by a non-Anthropic target"

/* ------------------------------------------------------------------ */
/* Small JSON helpers                                                 */
/* ------------------------------------------------------------------ */

/* Is s equal to t (s may be NULL)? */
static int
streq(const char *s, const char *t)
{
    return s != NULL && strcmp(s, t) == 0;
}

/* A copy of o that nothing else shares (the providers may change the body). */
static struct json_object *
dup(struct json_object *o)
{
    struct json_object *c = NULL;
    if (o == NULL || json_object_deep_copy(o, &c, NULL) != 0)
        return NULL;
    return c;
}

/* Compact JSON text of o (owned by o). */
static const char *
text_of(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Is v an integer (or a number with no fraction, as Anthropic's parser takes it)? */
static int
is_int(struct json_object *v)
{
    if (json_object_is_type(v, json_type_int))
        return 1;
    if (!json_object_is_type(v, json_type_double))
        return 0;
    double d = json_object_get_double(v);
    return isfinite(d) && d == floor(d);
}

/* Is v a number? */
static int
is_num(struct json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* ------------------------------------------------------------------ */
/* msg_check: the request as Anthropic checks it                      */
/* ------------------------------------------------------------------ */

/* Where a check failure goes. */
struct chk {
    char *err;
    size_t errlen;
    const char **param;
};

/* The offending field's path: *param points here until the next failure. */
static _Thread_local char chk_param[128];

/* A problem at path (param), with the message as Anthropic words it; -1. */
static int
chk_msg(struct chk *c, const char *path, const char *fmt, ...)
{
    va_list ap;
    snprintf(chk_param, sizeof(chk_param), "%s", path);
    if (c->param != NULL)
        *c->param = chk_param;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A problem with the field at path: "path: what"; -1. */
static int
chk_at(struct chk *c, const char *path, const char *what)
{
    return chk_msg(c, path, "%s: %s", path, what);
}

/* Member k of o (the object at path): a string, required or not. */
static int
chk_string(struct chk *c, struct json_object *o, const char *path, const char *k, int required)
{
    struct json_object *v = jx_get(o, k);
    char at[160];
    snprintf(at, sizeof(at), "%s%s%s", path, *path ? "." : "", k);
    if (v == NULL)
        return required ? chk_at(c, at, "Field required") : 0;
    if (!json_object_is_type(v, json_type_string))
        return chk_at(c, at, "Input should be a valid string");
    return 0;
}

/* A text block at path: {"type": "text", "text": a non-empty string}. */
static int
chk_text(struct chk *c, struct json_object *b, const char *path)
{
    if (chk_string(c, b, path, "text", 1) < 0)
        return -1;
    if (json_object_get_string_len(jx_get(b, "text")) == 0)
        return chk_msg(c, path, "messages: text content blocks must be non-empty");
    return 0;
}

/* An image block at path: a base64 source (a known media type, data) or a url one. */
static int
chk_image(struct chk *c, struct json_object *b, const char *path)
{
    struct json_object *src = jx_get(b, "source");
    const char *t, *mt;
    char at[160];
    snprintf(at, sizeof(at), "%s.source", path);
    if (src == NULL)
        return chk_at(c, at, "Field required");
    if (!json_object_is_type(src, json_type_object))
        return chk_at(c, at, "Input should be a valid dictionary");
    t = jx_str(src, "type");
    if (streq(t, "url"))
        return chk_string(c, src, at, "url", 1);
    if (streq(t, "file"))
        return chk_string(c, src, at, "file_id", 1);
    if (!streq(t, "base64"))
        return chk_msg(c, at,
                       "%s: Input tag '%.40s' found using 'type' does not match any of the "
                       "expected tags: 'base64', 'url', 'file'",
                       at, t ? t : "");
    mt = jx_str(src, "media_type");
    if (!streq(mt, "image/jpeg") && !streq(mt, "image/png") && !streq(mt, "image/gif") &&
        !streq(mt, "image/webp")) {
        snprintf(at, sizeof(at), "%s.source.media_type", path);
        return chk_at(c, at,
                      "Input should be 'image/jpeg', 'image/png', 'image/gif' or "
                      "'image/webp'");
    }
    return chk_string(c, src, at, "data", 1);
}

/* A tool_use block at path: id, name, input (an object). */
static int
chk_tool_use(struct chk *c, struct json_object *b, const char *path)
{
    struct json_object *in = jx_get(b, "input");
    char at[160];
    if (chk_string(c, b, path, "id", 1) < 0 || chk_string(c, b, path, "name", 1) < 0)
        return -1;
    snprintf(at, sizeof(at), "%s.input", path);
    if (in == NULL)
        return chk_at(c, at, "Field required");
    if (!json_object_is_type(in, json_type_object))
        return chk_at(c, at, "Input should be a valid dictionary");
    return 0;
}

static int chk_block(struct chk *c, struct json_object *b, const char *path, int user, int inner);

/* A tool_result block at path: tool_use_id, content (a string or blocks), is_error. */
static int
chk_tool_result(struct chk *c, struct json_object *b, const char *path)
{
    struct json_object *content = jx_get(b, "content"), *e = jx_get(b, "is_error");
    char at[160];
    if (chk_string(c, b, path, "tool_use_id", 1) < 0)
        return -1;
    if (e != NULL && !json_object_is_type(e, json_type_boolean)) {
        snprintf(at, sizeof(at), "%s.is_error", path);
        return chk_at(c, at, "Input should be a valid boolean");
    }
    if (content == NULL || json_object_is_type(content, json_type_string))
        return 0;
    snprintf(at, sizeof(at), "%s.content", path);
    if (!json_object_is_type(content, json_type_array))
        return chk_at(c, at, "Input should be a valid list");
    for (size_t i = 0; i < jx_len(content); i++) {
        char sub[192];
        snprintf(sub, sizeof(sub), "%s.%zu", at, i);
        if (chk_block(c, jx_idx(content, i), sub, 1, 1) < 0)
            return -1;
    }
    return 0;
}

/*
 * A content block at path (of a user message, or inside a tool_result when
 * inner). Only the types we read are checked in depth; the others are the
 * upstream's (passed through) or msg_to_openai's (refused) to judge.
 */
static int
chk_block(struct chk *c, struct json_object *b, const char *path, int user, int inner)
{
    const char *t;
    if (!json_object_is_type(b, json_type_object))
        return chk_at(c, path, "Input should be a valid dictionary");
    if ((t = jx_str(b, "type")) == NULL)
        return chk_at(c, path, "Unable to extract tag using discriminator 'type'");
    if (streq(t, "text"))
        return chk_text(c, b, path);
    if (streq(t, "image"))
        return chk_image(c, b, path);
    if (inner)
        return 0;
    if ((streq(t, "tool_use") && user) || (streq(t, "tool_result") && !user))
        return chk_msg(c, path, "%s: `%s` blocks can only be in `%s` messages", path, t,
                       user ? "assistant" : "user");
    if (streq(t, "tool_use"))
        return chk_tool_use(c, b, path);
    if (streq(t, "tool_result"))
        return chk_tool_result(c, b, path);
    return 0;
}

/* Message i of n: {role: user|assistant, content: a string or blocks}, content not empty. */
static int
chk_message(struct chk *c, struct json_object *m, size_t i, size_t n)
{
    struct json_object *content;
    const char *role;
    char at[64], sub[160];
    size_t len;
    snprintf(at, sizeof(at), "messages.%zu", i);
    if (!json_object_is_type(m, json_type_object))
        return chk_at(c, at, "Input should be a valid dictionary");
    if (chk_string(c, m, at, "role", 1) < 0)
        return -1;
    role = jx_str(m, "role");
    snprintf(sub, sizeof(sub), "%s.role", at);
    if (!streq(role, "user") && !streq(role, "assistant"))
        return chk_at(c, sub, "Input should be 'user' or 'assistant'");
    snprintf(sub, sizeof(sub), "%s.content", at);
    if ((content = jx_get(m, "content")) == NULL)
        return chk_at(c, sub, "Field required");
    if (!json_object_is_type(content, json_type_string) &&
        !json_object_is_type(content, json_type_array))
        return chk_at(c, sub, "Input should be a valid list");
    len = json_object_is_type(content, json_type_string)
              ? (size_t)json_object_get_string_len(content)
              : jx_len(content);
    if (len == 0 && !(i + 1 == n && role[0] == 'a'))
        return chk_msg(c, at,
                       "%s: all messages must have non-empty content except for the optional "
                       "final assistant message",
                       at);
    for (size_t k = 0; k < jx_len(content); k++) {
        char blk[192];
        snprintf(blk, sizeof(blk), "%s.%zu", sub, k);
        if (chk_block(c, jx_idx(content, k), blk, role[0] == 'u', 0) < 0)
            return -1;
    }
    return 0;
}

/* messages: a non-empty list of messages. */
static int
chk_messages(struct chk *c, struct json_object *msgs)
{
    size_t n;
    if (msgs == NULL)
        return chk_at(c, "messages", "Field required");
    if (!json_object_is_type(msgs, json_type_array))
        return chk_at(c, "messages", "Input should be a valid list");
    if ((n = jx_len(msgs)) == 0)
        return chk_at(c, "messages", "at least one message is required");
    for (size_t i = 0; i < n; i++)
        if (chk_message(c, jx_idx(msgs, i), i, n) < 0)
            return -1;
    return 0;
}

/* system: a string or a list of text blocks. */
static int
chk_system(struct chk *c, struct json_object *sys)
{
    if (sys == NULL || json_object_is_type(sys, json_type_string))
        return 0;
    if (!json_object_is_type(sys, json_type_array))
        return chk_at(c, "system", "Input should be a valid list");
    for (size_t i = 0; i < jx_len(sys); i++) {
        struct json_object *b = jx_idx(sys, i);
        char at[48], sub[64];
        snprintf(at, sizeof(at), "system.%zu", i);
        snprintf(sub, sizeof(sub), "%s.type", at);
        if (!json_object_is_type(b, json_type_object))
            return chk_at(c, at, "Input should be a valid dictionary");
        if (!streq(jx_str(b, "type"), "text"))
            return chk_at(c, sub, "Input should be 'text'");
        if (chk_string(c, b, at, "text", 1) < 0)
            return -1;
    }
    return 0;
}

/* One tool at path: a custom one has a name and an input_schema object. */
static int
chk_tool(struct chk *c, struct json_object *t, const char *path)
{
    struct json_object *type = jx_get(t, "type"), *schema, *eager;
    char at[96];
    if (!json_object_is_type(t, json_type_object))
        return chk_at(c, path, "Input should be a valid dictionary");
    if (chk_string(c, t, path, "type", 0) < 0 || chk_string(c, t, path, "name", 1) < 0)
        return -1;
    if (type != NULL && !streq(json_object_get_string(type), "custom"))
        return 0; /* a server tool: Anthropic's to check, ours to refuse */
    if (chk_string(c, t, path, "description", 0) < 0)
        return -1;
    snprintf(at, sizeof(at), "%s.input_schema", path);
    if ((schema = jx_get(t, "input_schema")) == NULL)
        return chk_at(c, at, "Field required");
    if (!json_object_is_type(schema, json_type_object))
        return chk_at(c, at, "Input should be a valid dictionary");
    /* fine-grained tool streaming: true, false or null (the default) */
    snprintf(at, sizeof(at), "%s.eager_input_streaming", path);
    if ((eager = jx_get(t, "eager_input_streaming")) != NULL && /* json-c's null is NULL */
        !json_object_is_type(eager, json_type_boolean))
        return chk_at(c, at, "Input should be a valid boolean");
    return 0;
}

/* tools: a list of tools. */
static int
chk_tools(struct chk *c, struct json_object *tools)
{
    if (tools == NULL)
        return 0;
    if (!json_object_is_type(tools, json_type_array))
        return chk_at(c, "tools", "Input should be a valid list");
    for (size_t i = 0; i < jx_len(tools); i++) {
        char at[48];
        snprintf(at, sizeof(at), "tools.%zu", i);
        if (chk_tool(c, jx_idx(tools, i), at) < 0)
            return -1;
    }
    return 0;
}

/* tool_choice: {type: auto|any|tool|none}, a name for tool, disable_parallel_tool_use. */
static int
chk_tool_choice(struct chk *c, struct json_object *tc)
{
    struct json_object *d;
    const char *t;
    if (tc == NULL)
        return 0;
    if (!json_object_is_type(tc, json_type_object))
        return chk_at(c, "tool_choice", "Input should be a valid dictionary");
    t = jx_str(tc, "type");
    if (!streq(t, "auto") && !streq(t, "any") && !streq(t, "tool") && !streq(t, "none"))
        return chk_msg(c, "tool_choice.type",
                       "tool_choice: Input tag '%.40s' found using 'type' does not match any of "
                       "the expected tags: 'auto', 'any', 'tool', 'none'",
                       t ? t : "");
    if (streq(t, "tool") && chk_string(c, tc, "tool_choice", "name", 1) < 0)
        return -1;
    d = jx_get(tc, "disable_parallel_tool_use");
    if (d != NULL && !json_object_is_type(d, json_type_boolean))
        return chk_at(c, "tool_choice.disable_parallel_tool_use",
                      "Input should be a valid boolean");
    return 0;
}

/* stop_sequences: a list of strings. */
static int
chk_stops(struct chk *c, struct json_object *stops)
{
    if (stops == NULL)
        return 0;
    if (!json_object_is_type(stops, json_type_array))
        return chk_at(c, "stop_sequences", "Input should be a valid list");
    for (size_t i = 0; i < jx_len(stops); i++) {
        char at[48];
        snprintf(at, sizeof(at), "stop_sequences.%zu", i);
        if (!json_object_is_type(jx_idx(stops, i), json_type_string))
            return chk_at(c, at, "Input should be a valid string");
    }
    return 0;
}

/* Number k of req (an integer when integer), in [lo, hi] (hi < 0: no upper bound). */
static int
chk_number(struct chk *c, struct json_object *req, const char *k, double lo, double hi, int integer)
{
    struct json_object *v = jx_get(req, k);
    double d;
    if (v == NULL)
        return 0;
    if (integer ? !is_int(v) : !is_num(v))
        return chk_at(
            c, k, integer ? "Input should be a valid integer" : "Input should be a valid number");
    d = json_object_get_double(v);
    if (d < lo)
        return chk_msg(c, k, "%s: Input should be greater than or equal to %g", k, lo);
    if (hi >= 0 && d > hi)
        return chk_msg(c, k, "%s: Input should be less than or equal to %g", k, hi);
    return 0;
}

/* model, max_tokens, stream and metadata: the top-level scalars. */
static int
chk_top(struct chk *c, struct json_object *req, int count_tokens)
{
    struct json_object *v;
    if (chk_string(c, req, "", "model", 1) < 0)
        return -1;
    if (json_object_get_string_len(jx_get(req, "model")) == 0)
        return chk_at(c, "model", "String should have at least 1 character");
    if (!count_tokens && jx_get(req, "max_tokens") == NULL)
        return chk_at(c, "max_tokens", "Field required");
    if (!count_tokens && chk_number(c, req, "max_tokens", 1, -1, 1) < 0)
        return -1;
    if ((v = jx_get(req, "stream")) != NULL && !json_object_is_type(v, json_type_boolean))
        return chk_at(c, "stream", "Input should be a valid boolean");
    if ((v = jx_get(req, "metadata")) != NULL && !json_object_is_type(v, json_type_object))
        return chk_at(c, "metadata", "Input should be a valid dictionary");
    return chk_string(c, v, "metadata", "user_id", 0);
}

int
msg_check(struct json_object *req, int count_tokens, char *err, size_t errlen, const char **param)
{
    struct chk c = {err, errlen, param};
    if (param != NULL)
        *param = NULL;
    if (!json_object_is_type(req, json_type_object))
        return chk_msg(&c, "", "Input should be a valid dictionary");
    if (chk_top(&c, req, count_tokens) < 0 || chk_messages(&c, jx_get(req, "messages")) < 0 ||
        chk_system(&c, jx_get(req, "system")) < 0 || chk_tools(&c, jx_get(req, "tools")) < 0 ||
        chk_tool_choice(&c, jx_get(req, "tool_choice")) < 0 ||
        chk_stops(&c, jx_get(req, "stop_sequences")) < 0 ||
        chk_number(&c, req, "temperature", 0, 1, 0) < 0 ||
        chk_number(&c, req, "top_p", 0, 1, 0) < 0 || chk_number(&c, req, "top_k", 0, -1, 1) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* msg_to_openai: the request                                         */
/* ------------------------------------------------------------------ */

/* Where a translation failure goes. */
struct conv {
    char *err;
    size_t errlen;
};

/* Something at path an OpenAI-shaped target cannot do: a 400; -1. */
static int
unsupported(struct conv *c, const char *path, const char *what, const char *name)
{
    snprintf(c->err, c->errlen, "%s: %s '%s' " NOT_HERE, path, what, name);
    return -1;
}

/* Append s to pb, after sep when pb holds something already. */
static void
join(struct printbuf *pb, const char *sep, const char *s)
{
    if (pb->bpos > 0)
        printbuf_memappend(pb, sep, (int)strlen(sep));
    printbuf_memappend(pb, s, (int)strlen(s));
}

/* A new string of pb's text. */
static struct json_object *
pb_string(struct printbuf *pb)
{
    return json_object_new_string_len(pb->buf, pb->bpos);
}

/* An image block to an OpenAI image_url part; NULL (a 400) for a source it cannot carry. */
static struct json_object *
image_part(struct conv *c, struct json_object *b, const char *path)
{
    struct json_object *src = jx_get(b, "source"), *part, *iu;
    const char *t = jx_str(src, "type");
    char *url = NULL;
    if (streq(t, "url")) {
        url = strdup(jx_str(src, "url") ? jx_str(src, "url") : "");
    } else if (streq(t, "base64")) {
        const char *mt = jx_str(src, "media_type"), *data = jx_str(src, "data");
        size_t n = strlen(mt ? mt : "") + strlen(data ? data : "") + 16;
        if ((url = malloc(n)) != NULL)
            snprintf(url, n, "data:%s;base64,%s", mt ? mt : "", data ? data : "");
    } else {
        unsupported(c, path, "image source type", t ? t : "");
        return NULL;
    }
    if (url == NULL) {
        snprintf(c->err, c->errlen, "out of memory");
        return NULL;
    }
    part = json_object_new_object();
    iu = json_object_new_object();
    jx_add_str(part, "type", "image_url");
    jx_add_str(iu, "url", url);
    json_object_object_add(part, "image_url", iu);
    free(url);
    return part;
}

/* A text part {"type": "text", "text": s}. */
static struct json_object *
text_part(const char *s)
{
    struct json_object *p = json_object_new_object();
    jx_add_str(p, "type", "text");
    jx_add_str(p, "text", s ? s : "");
    return p;
}

/*
 * A tool_result block to a {role: tool} message appended to out; the images
 * in its content go to imgs (the user message after the tool messages).
 */
static int
tool_message(struct conv *c, struct json_object *b, const char *path, struct json_object *out,
             struct json_object *imgs)
{
    struct json_object *content = jx_get(b, "content"), *m;
    struct printbuf *pb = printbuf_new();
    int rc = 0;
    if (json_object_is_type(content, json_type_string))
        join(pb, "\n", json_object_get_string(content));
    for (size_t i = 0; rc == 0 && i < jx_len(content); i++) {
        struct json_object *ib = jx_idx(content, i), *img;
        const char *t = jx_str(ib, "type");
        char at[192];
        snprintf(at, sizeof(at), "%s.content.%zu", path, i);
        if (streq(t, "text"))
            join(pb, "\n", jx_str(ib, "text") ? jx_str(ib, "text") : "");
        else if (streq(t, "image") && (img = image_part(c, ib, at)) != NULL)
            json_object_array_add(imgs, img);
        else if (!streq(t, "image"))
            rc = unsupported(c, at, "content block type", t ? t : "");
        else
            rc = -1;
    }
    if (rc == 0) {
        m = json_object_new_object();
        jx_add_str(m, "role", "tool");
        jx_add_str(m, "tool_call_id", jx_str(b, "tool_use_id") ? jx_str(b, "tool_use_id") : "");
        json_object_object_add(m, "content", pb_string(pb));
        json_object_array_add(out, m);
    }
    printbuf_free(pb);
    return rc;
}

/* The user message of parts (one text part: its string); nothing when there are none. */
static void
user_message(struct json_object *out, struct json_object *parts)
{
    struct json_object *m, *first = jx_idx(parts, 0);
    size_t n = jx_len(parts);
    if (n == 0)
        return;
    m = json_object_new_object();
    jx_add_str(m, "role", "user");
    if (n == 1 && streq(jx_str(first, "type"), "text"))
        json_object_object_add(m, "content", json_object_get(jx_get(first, "text")));
    else
        json_object_object_add(m, "content", json_object_get(parts));
    json_object_array_add(out, m);
}

/* The blocks of user message i to tool messages, then one user message. */
static int
user_turn(struct conv *c, struct json_object *content, size_t i, struct json_object *out)
{
    struct json_object *imgs = json_object_new_array(), *rest = json_object_new_array(), *p;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < jx_len(content); k++) {
        struct json_object *b = jx_idx(content, k);
        const char *t = jx_str(b, "type");
        char at[96];
        snprintf(at, sizeof(at), "messages.%zu.content.%zu", i, k);
        if (streq(t, "text"))
            json_object_array_add(rest, text_part(jx_str(b, "text")));
        else if (streq(t, "image") && (p = image_part(c, b, at)) != NULL)
            json_object_array_add(rest, p);
        else if (streq(t, "image"))
            rc = -1;
        else if (streq(t, "tool_result"))
            rc = tool_message(c, b, at, out, imgs);
        else if (!streq(t, "thinking") && !streq(t, "redacted_thinking"))
            rc = unsupported(c, at, "content block type", t ? t : "");
    }
    /* The tool results' images first: they belong to what came before. */
    for (size_t k = 0; rc == 0 && k < jx_len(rest); k++)
        json_object_array_add(imgs, json_object_get(jx_idx(rest, k)));
    if (rc == 0)
        user_message(out, imgs);
    json_object_put(imgs);
    json_object_put(rest);
    return rc;
}

/* A tool_use block to an OpenAI tool call. */
static struct json_object *
tool_call(struct json_object *b)
{
    struct json_object *tc = json_object_new_object(), *fn = json_object_new_object();
    struct json_object *in = jx_get(b, "input");
    jx_add_str(tc, "id", jx_str(b, "id") ? jx_str(b, "id") : "");
    jx_add_str(tc, "type", "function");
    jx_add_str(fn, "name", jx_str(b, "name") ? jx_str(b, "name") : "");
    jx_add_str(fn, "arguments", in ? text_of(in) : "{}");
    json_object_object_add(tc, "function", fn);
    return tc;
}

/* Assistant message i (last: the final one) to one OpenAI assistant message (or none). */
static int
assistant_turn(struct conv *c, struct json_object *content, size_t i, int last,
               struct json_object *out)
{
    struct printbuf *pb = printbuf_new();
    struct json_object *calls = json_object_new_array(), *m;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < jx_len(content); k++) {
        struct json_object *b = jx_idx(content, k);
        const char *t = jx_str(b, "type");
        char at[96];
        snprintf(at, sizeof(at), "messages.%zu.content.%zu", i, k);
        if (streq(t, "text"))
            join(pb, "\n", jx_str(b, "text") ? jx_str(b, "text") : "");
        else if (streq(t, "tool_use"))
            json_object_array_add(calls, tool_call(b));
        else if (!streq(t, "thinking") && !streq(t, "redacted_thinking"))
            rc = unsupported(c, at, "content block type", t ? t : "");
    }
    if (rc == 0 && (pb->bpos > 0 || jx_len(calls) > 0 || !last)) {
        m = json_object_new_object();
        jx_add_str(m, "role", "assistant");
        json_object_object_add(m, "content",
                               pb->bpos > 0 || jx_len(calls) == 0 ? pb_string(pb) : NULL);
        if (jx_len(calls) > 0)
            json_object_object_add(m, "tool_calls", json_object_get(calls));
        json_object_array_add(out, m);
    }
    json_object_put(calls);
    printbuf_free(pb);
    return rc;
}

/* The messages (after the system message) to OpenAI's. */
static int
conv_messages(struct conv *c, struct json_object *msgs, struct json_object *out)
{
    size_t n = jx_len(msgs);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = jx_idx(msgs, i), *content = jx_get(m, "content");
        int user = streq(jx_str(m, "role"), "user"), rc;
        if (json_object_is_type(content, json_type_string)) {
            struct json_object *om;
            if (!user && i + 1 == n && json_object_get_string_len(content) == 0)
                continue; /* an empty prefill */
            om = json_object_new_object();
            jx_add_str(om, "role", user ? "user" : "assistant");
            json_object_object_add(om, "content", json_object_get(content));
            json_object_array_add(out, om);
            continue;
        }
        if (!json_object_is_type(content, json_type_array))
            continue;
        rc = user ? user_turn(c, content, i, out) : assistant_turn(c, content, i, i + 1 == n, out);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* system (a string or text blocks) to a first system message. */
static void
conv_system(struct json_object *sys, struct json_object *out)
{
    struct printbuf *pb = printbuf_new();
    struct json_object *m;
    if (json_object_is_type(sys, json_type_string))
        join(pb, "\n", json_object_get_string(sys));
    for (size_t i = 0; i < jx_len(sys); i++) {
        const char *t = jx_str(jx_idx(sys, i), "text");
        join(pb, "\n", t ? t : "");
    }
    if (pb->bpos > 0) {
        m = json_object_new_object();
        jx_add_str(m, "role", "system");
        json_object_object_add(m, "content", pb_string(pb));
        json_object_array_add(out, m);
    }
    printbuf_free(pb);
}

/* tools to OpenAI functions; a server tool (any type but custom) is a 400. */
static int
conv_tools(struct conv *c, struct json_object *tools, struct json_object *body)
{
    struct json_object *out = json_object_new_array();
    for (size_t i = 0; i < jx_len(tools); i++) {
        struct json_object *t = jx_idx(tools, i), *f, *fn, *v;
        const char *type = jx_str(t, "type");
        char at[48];
        if (type != NULL && !streq(type, "custom")) {
            snprintf(at, sizeof(at), "tools.%zu", i);
            json_object_put(out);
            return unsupported(c, at, "tool type", type);
        }
        f = json_object_new_object();
        fn = json_object_new_object();
        jx_add_str(f, "type", "function");
        jx_add_str(fn, "name", jx_str(t, "name") ? jx_str(t, "name") : "");
        if ((v = jx_get(t, "description")) != NULL)
            json_object_object_add(fn, "description", json_object_get(v));
        json_object_object_add(fn, "parameters", dup(jx_get(t, "input_schema")));
        if (json_object_is_type(v = jx_get(t, "strict"), json_type_boolean))
            json_object_object_add(fn, "strict", json_object_get(v));
        json_object_object_add(f, "function", fn);
        json_object_array_add(out, f);
    }
    json_object_object_add(body, "tools", out);
    return 0;
}

/* tool_choice to OpenAI's, and disable_parallel_tool_use to parallel_tool_calls. */
static void
conv_tool_choice(struct json_object *tc, struct json_object *body)
{
    const char *t = jx_str(tc, "type");
    struct json_object *v, *fn;
    if (streq(t, "auto") || streq(t, "none")) {
        jx_add_str(body, "tool_choice", t);
    } else if (streq(t, "any")) {
        jx_add_str(body, "tool_choice", "required");
    } else if (streq(t, "tool")) {
        v = json_object_new_object();
        fn = json_object_new_object();
        jx_add_str(v, "type", "function");
        jx_add_str(fn, "name", jx_str(tc, "name") ? jx_str(tc, "name") : "");
        json_object_object_add(v, "function", fn);
        json_object_object_add(body, "tool_choice", v);
    }
    v = jx_get(tc, "disable_parallel_tool_use");
    if (json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v))
        json_object_object_add(body, "parallel_tool_calls", json_object_new_boolean(0));
}

/* The sampling and bookkeeping members: max_tokens, temperature, top_p, stop, stream, user. */
static void
conv_params(struct json_object *req, struct json_object *body)
{
    struct json_object *v;
    const char *user = jx_str(jx_get(req, "metadata"), "user_id");
    if ((v = jx_get(req, "max_tokens")) != NULL && is_int(v))
        jx_add_int(body, "max_tokens", json_object_get_int64(v));
    if ((v = jx_get(req, "temperature")) != NULL)
        json_object_object_add(body, "temperature", json_object_get(v));
    if ((v = jx_get(req, "top_p")) != NULL)
        json_object_object_add(body, "top_p", json_object_get(v));
    if ((v = jx_get(req, "stop_sequences")) != NULL && jx_len(v) > 0)
        json_object_object_add(body, "stop", dup(v));
    if (json_object_get_boolean(jx_get(req, "stream"))) {
        json_object_object_add(body, "stream", json_object_new_boolean(1));
        v = json_object_new_object();
        json_object_object_add(v, "include_usage", json_object_new_boolean(1));
        json_object_object_add(body, "stream_options", v);
    }
    if (user != NULL && *user != '\0')
        jx_add_str(body, "user", user);
}

struct json_object *
msg_to_openai(struct json_object *req, char *err, size_t errlen)
{
    struct conv c = {err, errlen};
    struct json_object *body, *msgs, *tools = jx_get(req, "tools");
    if (jx_len(jx_get(req, "mcp_servers")) > 0) {
        snprintf(err, errlen, "mcp_servers " NOT_HERE);
        return NULL;
    }
    body = json_object_new_object();
    msgs = json_object_new_array();
    jx_add_str(body, "model", jx_str(req, "model") ? jx_str(req, "model") : "");
    json_object_object_add(body, "messages", msgs);
    conv_system(jx_get(req, "system"), msgs);
    if (conv_messages(&c, jx_get(req, "messages"), msgs) < 0)
        goto fail;
    conv_params(req, body);
    /* Without tools OpenAI refuses tool_choice and parallel_tool_calls (and tools: []). */
    if (jx_len(tools) > 0) {
        if (conv_tools(&c, tools, body) < 0)
            goto fail;
        conv_tool_choice(jx_get(req, "tool_choice"), body);
    }
    return body;
fail:
    json_object_put(body);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* msg_from_openai: the answer                                        */
/* ------------------------------------------------------------------ */

/* Anthropic's id for an OpenAI one: "msg_" in front unless it is there (out: 96 bytes). */
static void
message_id(const char *id, char *out, size_t outlen)
{
    if (id == NULL)
        id = "";
    snprintf(out, outlen, "%s%s", strncmp(id, "msg_", 4) == 0 ? "" : "msg_", id);
}

/* OpenAI's finish_reason to Anthropic's stop_reason (tools: the answer called some). */
static const char *
stop_reason(const char *finish, int tools)
{
    if (streq(finish, "length"))
        return "max_tokens";
    if (streq(finish, "content_filter"))
        return "refusal";
    if (streq(finish, "tool_calls") || streq(finish, "function_call") || tools)
        return "tool_use";
    return "end_turn";
}

/* OpenAI usage to Anthropic's counts: input excludes the cached part. */
static void
usage_counts(struct json_object *u, int64_t *input, int64_t *output, int64_t *cached)
{
    int bad = 0; /* the provider's own reading of usage warns about it */
    int64_t prompt = usage_count(u, "prompt_tokens", &bad);
    *cached = usage_count(jx_get(u, "prompt_tokens_details"), "cached_tokens", &bad);
    *output = usage_count(u, "completion_tokens", &bad);
    *input = prompt > *cached ? prompt - *cached : 0;
}

/* Anthropic's usage object for the counts. */
static struct json_object *
usage_json(int64_t input, int64_t output, int64_t cached)
{
    struct json_object *u = json_object_new_object();
    jx_add_int(u, "input_tokens", input);
    jx_add_int(u, "cache_creation_input_tokens", 0);
    jx_add_int(u, "cache_read_input_tokens", cached);
    jx_add_int(u, "output_tokens", output);
    return u;
}

/* A tool call's arguments (JSON text) to a tool_use input: an object, {} when not one. */
static struct json_object *
tool_input(const char *args)
{
    struct json_object *in = args != NULL ? jx_parse(args, strlen(args)) : NULL;
    if (!json_object_is_type(in, json_type_object)) {
        json_object_put(in);
        in = json_object_new_object();
    }
    return in;
}

/* An OpenAI message's text: content (a string or text parts), else its refusal. */
static void
answer_text(struct json_object *msg, struct printbuf *pb)
{
    struct json_object *content = jx_get(msg, "content");
    if (json_object_is_type(content, json_type_string))
        join(pb, "", json_object_get_string(content));
    for (size_t i = 0; i < jx_len(content); i++) {
        const char *t = jx_str(jx_idx(content, i), "text");
        if (t != NULL)
            join(pb, "", t);
    }
    if (pb->bpos == 0 && jx_str(msg, "refusal") != NULL)
        join(pb, "", jx_str(msg, "refusal"));
}

/* The content blocks of an OpenAI message: a text block, then a tool_use per call. */
static struct json_object *
answer_content(struct json_object *msg)
{
    struct json_object *content = json_object_new_array(), *calls = jx_get(msg, "tool_calls"), *b;
    struct printbuf *pb = printbuf_new();
    answer_text(msg, pb);
    if (pb->bpos > 0) {
        b = json_object_new_object();
        jx_add_str(b, "type", "text");
        json_object_object_add(b, "text", pb_string(pb));
        json_object_array_add(content, b);
    }
    printbuf_free(pb);
    for (size_t i = 0; i < jx_len(calls); i++) {
        struct json_object *tc = jx_idx(calls, i), *fn = jx_get(tc, "function");
        b = json_object_new_object();
        jx_add_str(b, "type", "tool_use");
        jx_add_str(b, "id", jx_str(tc, "id") ? jx_str(tc, "id") : "");
        jx_add_str(b, "name", jx_str(fn, "name") ? jx_str(fn, "name") : "");
        json_object_object_add(b, "input", tool_input(jx_str(fn, "arguments")));
        json_object_array_add(content, b);
    }
    return content;
}

struct json_object *
msg_from_openai(struct json_object *resp)
{
    struct json_object *choice = jx_idx(jx_get(resp, "choices"), 0);
    struct json_object *msg = jx_get(choice, "message"), *out, *content, *calls;
    int64_t input = 0, output = 0, cached = 0;
    char id[160];
    int tools;
    if (!json_object_is_type(msg, json_type_object))
        return NULL;
    calls = jx_get(msg, "tool_calls");
    tools = jx_len(calls) > 0;
    content = answer_content(msg);
    if (jx_get(resp, "usage") != NULL)
        usage_counts(jx_get(resp, "usage"), &input, &output, &cached);
    message_id(jx_str(resp, "id"), id, sizeof(id));
    out = json_object_new_object();
    jx_add_str(out, "id", id);
    jx_add_str(out, "type", "message");
    jx_add_str(out, "role", "assistant");
    jx_add_str(out, "model", jx_str(resp, "model") ? jx_str(resp, "model") : "");
    json_object_object_add(out, "content", content);
    jx_add_str(out, "stop_reason", stop_reason(jx_str(choice, "finish_reason"), tools));
    json_object_object_add(out, "stop_sequence", NULL);
    json_object_object_add(out, "usage", usage_json(input, output, cached));
    return out;
}

/* ------------------------------------------------------------------ */
/* msg_stream: OpenAI chunks to Anthropic events                      */
/* ------------------------------------------------------------------ */

void
msg_stream_init(struct msg_stream *s, msg_emit_fn emit, void *arg)
{
    memset(s, 0, sizeof(*s));
    s->emit = emit;
    s->arg = arg;
    s->block = -1;
    for (size_t i = 0; i < MSG_STREAM_TOOLS; i++)
        s->tool_block[i] = -1;
}

/* Send one event: its name and o as compact JSON; o is put. */
static void
emit(struct msg_stream *s, const char *event, struct json_object *o)
{
    const char *t = text_of(o);
    if (s->emit != NULL)
        s->emit(s->arg, event, t, strlen(t));
    json_object_put(o);
}

/* A new event object {"type": type}. */
static struct json_object *
event_new(const char *type)
{
    struct json_object *o = json_object_new_object();
    jx_add_str(o, "type", type);
    return o;
}

/* message_start (the message, its content empty and its usage as known so far), then a ping. */
static void
stream_start(struct msg_stream *s)
{
    struct json_object *ev, *m;
    if (s->started)
        return;
    s->started = 1;
    if (s->id[0] == '\0')
        message_id(NULL, s->id, sizeof(s->id));
    m = json_object_new_object();
    jx_add_str(m, "id", s->id);
    jx_add_str(m, "type", "message");
    jx_add_str(m, "role", "assistant");
    jx_add_str(m, "model", s->model);
    json_object_object_add(m, "content", json_object_new_array());
    json_object_object_add(m, "stop_reason", NULL);
    json_object_object_add(m, "stop_sequence", NULL);
    json_object_object_add(m, "usage",
                           usage_json(s->input_tokens, s->output_tokens, s->cache_read));
    ev = event_new("message_start");
    json_object_object_add(ev, "message", m);
    emit(s, "message_start", ev);
    emit(s, "ping", event_new("ping"));
}

/* content_block_stop for the open block, if any. */
static void
block_stop(struct msg_stream *s)
{
    struct json_object *ev;
    if (s->block < 0)
        return;
    ev = event_new("content_block_stop");
    jx_add_int(ev, "index", s->block);
    emit(s, "content_block_stop", ev);
    s->block = -1;
}

/* Close the open block and open the next one (kind: 0 text, 1 tool_use) with cb (taken). */
static void
block_start(struct msg_stream *s, int kind, struct json_object *cb)
{
    struct json_object *ev = event_new("content_block_start");
    block_stop(s);
    s->block = s->next_block++;
    s->block_kind = kind;
    jx_add_int(ev, "index", s->block);
    json_object_object_add(ev, "content_block", cb);
    emit(s, "content_block_start", ev);
}

/* content_block_delta at index: delta {type, key: value}. */
static void
block_delta(struct msg_stream *s, int index, const char *type, const char *key, const char *value)
{
    struct json_object *ev = event_new("content_block_delta"), *d = event_new(type);
    jx_add_int(ev, "index", index);
    jx_add_str(d, key, value);
    json_object_object_add(ev, "delta", d);
    emit(s, "content_block_delta", ev);
}

/* A piece of text: into the open text block, or a new one. */
static void
stream_text(struct msg_stream *s, const char *text)
{
    if (text == NULL || *text == '\0')
        return;
    if (s->block < 0 || s->block_kind != 0) {
        struct json_object *cb = event_new("text");
        jx_add_str(cb, "text", "");
        block_start(s, 0, cb);
    }
    block_delta(s, s->block, "text_delta", "text", text);
}

/* FNV-1a of a tool call id: tells a new call from a repeat of the id at the same index. */
static uint32_t
id_hash(const char *id)
{
    uint32_t h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h | 1; /* never 0: 0 is "no call at this index" */
}

/* Open a tool_use block for OpenAI tool call idx (its id and name from tc). */
static void
tool_open(struct msg_stream *s, struct json_object *tc, int idx)
{
    struct json_object *cb = event_new("tool_use");
    const char *id = jx_str(tc, "id"), *name = jx_str(jx_get(tc, "function"), "name");
    char gen[32];
    if (id == NULL || *id == '\0') {
        snprintf(gen, sizeof(gen), "toolu_aigw_%d", s->ntools);
        id = gen;
    }
    jx_add_str(cb, "id", id);
    jx_add_str(cb, "name", name ? name : "");
    json_object_object_add(cb, "input", json_object_new_object());
    s->tool_hash[idx] = id_hash(id);
    block_start(s, 1, cb);
    s->tool_block[idx] = s->block;
    s->ntools++;
}

/*
 * One item of a delta's tool_calls: its first piece (with id and name)
 * opens a tool_use block; argument pieces become input_json_delta. A new id
 * at an index already used is a new call (some servers send every call at
 * index 0); without an index, an id starts a call and no id continues one.
 */
static void
stream_tool(struct msg_stream *s, struct json_object *tc)
{
    struct json_object *v = jx_get(tc, "index");
    const char *id = jx_str(tc, "id"), *args = jx_str(jx_get(tc, "function"), "arguments");
    int has_id = id != NULL && *id != '\0';
    int idx = v != NULL ? json_object_get_int(v) : has_id ? s->ntools : s->ntools - 1;
    if (idx < 0 || idx >= MSG_STREAM_TOOLS)
        return;
    if (s->tool_block[idx] < 0 || (has_id && s->tool_hash[idx] != id_hash(id)))
        tool_open(s, tc, idx);
    if (args != NULL && *args != '\0')
        block_delta(s, s->tool_block[idx], "input_json_delta", "partial_json", args);
}

/* One choice of a chunk (only the first choice is ours: Anthropic has no n). */
static void
stream_choice(struct msg_stream *s, struct json_object *choice)
{
    struct json_object *delta = jx_get(choice, "delta"), *calls = jx_get(delta, "tool_calls");
    const char *finish = jx_str(choice, "finish_reason");
    if (json_object_get_int(jx_get(choice, "index")) != 0)
        return;
    stream_start(s);
    stream_text(s, jx_str(delta, "content"));
    stream_text(s, jx_str(delta, "refusal"));
    for (size_t i = 0; i < jx_len(calls); i++)
        stream_tool(s, jx_idx(calls, i));
    if (finish != NULL)
        snprintf(s->stop_reason, sizeof(s->stop_reason), "%s", finish);
}

/* The end: close the open block, message_delta (stop reason, final usage), message_stop. */
static void
stream_finish(struct msg_stream *s)
{
    struct json_object *ev, *d, *u;
    if (s->ended)
        return;
    stream_start(s);
    block_stop(s);
    ev = event_new("message_delta");
    d = json_object_new_object();
    jx_add_str(d, "stop_reason", stop_reason(s->stop_reason, s->ntools > 0));
    json_object_object_add(d, "stop_sequence", NULL);
    json_object_object_add(ev, "delta", d);
    if (s->have_usage) {
        u = usage_json(s->input_tokens, s->output_tokens, s->cache_read);
    } else {
        u = json_object_new_object(); /* unknown: leave message_start's counts */
        jx_add_int(u, "output_tokens", 0);
    }
    json_object_object_add(ev, "usage", u);
    emit(s, "message_delta", ev);
    emit(s, "message_stop", event_new("message_stop"));
    s->ended = 1;
}

int
msg_stream_chunk(struct msg_stream *s, const char *data, size_t len)
{
    struct json_object *o, *choices, *u;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        stream_finish(s);
        return 0;
    }
    o = jx_parse(data, len);
    if (!json_object_is_type(o, json_type_object) || jx_get(o, "error") != NULL) {
        json_object_put(o);
        return -1;
    }
    /* Azure's first chunk (prompt filter results) has an empty id and model. */
    if (s->id[0] == '\0' && jx_str(o, "id") != NULL && *jx_str(o, "id") != '\0')
        message_id(jx_str(o, "id"), s->id, sizeof(s->id));
    if (s->model[0] == '\0' && jx_str(o, "model") != NULL)
        snprintf(s->model, sizeof(s->model), "%s", jx_str(o, "model"));
    if (json_object_is_type(u = jx_get(o, "usage"), json_type_object)) {
        usage_counts(u, &s->input_tokens, &s->output_tokens, &s->cache_read);
        s->have_usage = 1;
    }
    choices = jx_get(o, "choices");
    for (size_t i = 0; !s->ended && i < jx_len(choices); i++)
        stream_choice(s, jx_idx(choices, i));
    json_object_put(o);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

struct json_object *
msg_error_body(int status, const char *message)
{
    struct json_object *o = event_new("error"), *e = json_object_new_object();
    jx_add_str(e, "type", errtype_anthropic(status));
    jx_add_str(e, "message", message ? message : "");
    json_object_object_add(o, "error", e);
    return o;
}

struct json_object *
msg_error_from_openai(int status, struct json_object *openai_error)
{
    struct json_object *e = jx_get(openai_error, "error");
    const char *m =
        json_object_is_type(e, json_type_string) ? json_object_get_string(e) : jx_str(e, "message");
    char def[64];
    if (m == NULL)
        m = jx_str(openai_error, "message");
    if (m == NULL || *m == '\0') {
        snprintf(def, sizeof(def), "the upstream answered HTTP %d", status);
        m = def;
    }
    return msg_error_body(status, m);
}
