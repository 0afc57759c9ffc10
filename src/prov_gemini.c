/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_gemini.c: Google's Gemini API (generativelanguage, v1beta), native.
 *
 * POST {api_base}/models/{model}:generateContent, :streamGenerateContent
 * ?alt=sse (server-sent events, each a whole GenerateContentResponse, no
 * terminator: the stream ends when the connection closes) and :countTokens,
 * with the key in x-goog-api-key (never ?key=: URLs get logged).
 *
 * Why the native API and not Gemini's OpenAI-compatible endpoint
 * (/v1beta/openai/chat/completions), which would have been a pass-through:
 * Google documents that endpoint as beta; its usage does not report cached
 * and thinking tokens the way usageMetadata does (cachedContentTokenCount,
 * thoughtsTokenCount, toolUsePromptTokenCount), and exact usage is what
 * limits and metrics are built on; and it has no countTokens, which the
 * Anthropic front end's /v1/messages/count_tokens needs. So the OpenAI chat
 * body is translated here, and the answers, stream events and errors back.
 * No client speaks Gemini's dialect, so nothing is passed through (own is
 * DIALECT_NONE and c->native is never set).
 *
 * The OpenAI request, field by field:
 *
 *   messages: system, developer  systemInstruction.parts (text only; a
 *                                system message in the middle moves there too)
 *   messages: user               role "user": text; image_url data: URL ->
 *                                inlineData, http(s) URL -> fileData with the
 *                                mimeType its extension tells (else 400);
 *                                input_audio -> inlineData audio/<format>;
 *                                file (file_data) -> inlineData; file_id 400
 *   messages: assistant          role "model": text (refusal as text);
 *                                tool_calls -> functionCall {name, args: the
 *                                parsed arguments, 400 when not an object}
 *                                (+ thoughtSignature from extra_content.google
 *                                .thought_signature, which we hand out below);
 *                                reasoning_content dropped (Gemini takes no
 *                                thoughts back)
 *   messages: tool, function     role "user" functionResponse {name: of the
 *                                assistant's call with that tool_call_id (400
 *                                when none), response: the content when it is
 *                                a JSON object, else {"content": text}}
 *   (consecutive contents of one role are merged; empty texts are left out)
 *   tools, functions             tools[0].functionDeclarations: parameters
 *                                when the schema fits Google's Schema subset,
 *                                else parametersJsonSchema (full JSON Schema:
 *                                additionalProperties, $ref, oneOf...); none
 *                                for an object schema without properties
 *   tool_choice, function_call   toolConfig.functionCallingConfig.mode AUTO,
 *                                NONE, ANY (+ allowedFunctionNames); allowed_tools
 *                                and custom tools: 400
 *   temperature, top_p, seed,    generationConfig temperature, topP, seed,
 *   presence_penalty,            presencePenalty, frequencyPenalty
 *   frequency_penalty
 *   max_completion_tokens,       generationConfig.maxOutputTokens (else the
 *   max_tokens                   target's max_tokens when > 0)
 *   stop                         stopSequences (a string or a list)
 *   n                            candidateCount
 *   response_format              json_object -> responseMimeType
 *                                application/json; json_schema -> that and
 *                                responseJsonSchema (strict dropped)
 *   logprobs, top_logprobs,      400: Gemini's answer could not carry them
 *   audio, modalities other      (or they ask for a different answer)
 *   than text, web_search_options
 *   logit_bias, user, metadata,  dropped: hints, billing or bookkeeping with
 *   store, service_tier,         no Gemini equivalent that leave the answer's
 *   parallel_tool_calls,         meaning alone; reasoning_effort has no
 *   stream_options, prediction,  model-independent mapping (thinkingBudget
 *   reasoning_effort, verbosity, ranges and thinkingLevel differ per model),
 *   safety_identifier,           so the model's default thinking applies
 *   prompt_cache_key
 *
 * The answer: one choice per candidate; text parts joined into content,
 * thought parts into reasoning_content, functionCall parts into tool_calls
 * (ids "call_<n>" unless Gemini gave one; a thoughtSignature goes out as
 * extra_content.google.thought_signature, as Google's own OpenAI endpoint
 * does, so that a client can hand it back: Gemini 3 refuses a function
 * call without it); finishReason STOP -> stop (tool_calls with calls),
 * MAX_TOKENS -> length, the safety reasons -> content_filter, others stop;
 * a prompt blocked by promptFeedback -> one choice, content null,
 * content_filter. Other parts (inlineData images, executableCode) have no
 * place in a chat.completion and are left out; we never ask for them.
 * Usage: prompt = promptTokenCount (cached included) +
 * toolUsePromptTokenCount; completion = candidatesTokenCount +
 * thoughtsTokenCount; reasoning = thoughtsTokenCount; cached =
 * cachedContentTokenCount; total = totalTokenCount.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "aigw/resource.h"
#include "errtype.h"
#include "jsonx.h"
#include "provider.h"
#include "usage.h"

#define JSON_OUT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ------------------------------------------------------------------ */
/* JSON helpers                                                       */
/* ------------------------------------------------------------------ */

static int
is_obj(struct json_object *o)
{
    return json_object_is_type(o, json_type_object);
}

static int
is_arr(struct json_object *o)
{
    return json_object_is_type(o, json_type_array);
}

/* Add a reference to v (which body still owns) to o as k. */
static void
add_ref(struct json_object *o, const char *k, struct json_object *v)
{
    json_object_object_add(o, k, json_object_get(v));
}

/* A new {k: v} (v taken). */
static struct json_object *
obj1(const char *k, struct json_object *v)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, k, v);
    return o;
}

/* Write a 400's message into err; returns -1. */
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
/* The request: messages to contents                                  */
/* ------------------------------------------------------------------ */

/* One translation: the client's messages into Gemini's contents. */
struct tr {
    struct json_object *msgs;     /* the client's messages (not owned) */
    struct json_object *contents; /* Gemini's contents being built */
    struct json_object *sys;      /* systemInstruction's parts; NULL until one */
    char *err;
    size_t errlen;
};

/* Append parts (taken) as a content of role, merged into the last one when it has that role. */
static void
push(struct tr *t, const char *role, struct json_object *parts)
{
    size_t n = json_object_array_length(t->contents);
    struct json_object *last = n ? json_object_array_get_idx(t->contents, n - 1) : NULL;
    if (json_object_array_length(parts) == 0) {
        json_object_put(parts);
        return;
    }
    if (last != NULL && strcmp(jx_str(last, "role"), role) == 0) {
        struct json_object *lp = jx_get(last, "parts");
        for (size_t i = 0; i < json_object_array_length(parts); i++)
            json_object_array_add(lp, json_object_get(json_object_array_get_idx(parts, i)));
        json_object_put(parts);
        return;
    }
    last = obj1("role", json_object_new_string(role));
    json_object_object_add(last, "parts", parts);
    json_object_array_add(t->contents, last);
}

/* Append a {"text"} part unless the text is empty (Gemini refuses empty text). */
static void
add_text(struct json_object *parts, struct json_object *text)
{
    if (json_object_get_string_len(text) > 0)
        json_object_array_add(parts, obj1("text", json_object_get(text)));
}

/* The MIME type a URL's or file name's extension tells; NULL when unknown. */
static const char *
mime_from_ext(const char *name)
{
    static const char *const map[][2] = {
        {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},     {"png", "image/png"},
        {"gif", "image/gif"},   {"webp", "image/webp"},     {"heic", "image/heic"},
        {"heif", "image/heif"}, {"pdf", "application/pdf"}, {"wav", "audio/wav"},
        {"mp3", "audio/mp3"},
    };
    size_t end = strcspn(name, "?#");
    const char *dot = NULL;
    for (const char *p = name; p < name + end; p++)
        if (*p == '.')
            dot = p;
        else if (*p == '/')
            dot = NULL;
    if (dot == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strlen(map[i][0]) == (size_t)(name + end - dot - 1) &&
            strncasecmp(dot + 1, map[i][0], strlen(map[i][0])) == 0)
            return map[i][1];
    return NULL;
}

/* A new {"inlineData": {mimeType, data}} (len bytes of mime). */
static struct json_object *
inline_part(const char *mime, size_t len, const char *data)
{
    struct json_object *d = obj1("mimeType", json_object_new_string_len(mime, (int)len));
    json_object_object_add(d, "data", json_object_new_string(data));
    return obj1("inlineData", d);
}

/* A data: URL ("data:<mime>;base64,<data>") as an inlineData part into parts. */
static int
data_url_part(struct tr *t, const char *url, size_t i, const char *what, struct json_object *parts)
{
    const char *comma = strchr(url, ','), *mime = url + 5;
    size_t head = comma ? (size_t)(comma - mime) : 0, mlen = strcspn(mime, ";,");
    if (comma == NULL || mlen == 0 || head < mlen + 7 || strncmp(comma - 7, ";base64", 7) != 0)
        return fail(t->err, t->errlen,
                    "messages[%zu]: %s must be a base64 data: URL with a MIME type for "
                    "provider gemini",
                    i, what);
    json_object_array_add(parts, inline_part(mime, mlen, comma + 1));
    return 0;
}

/* An image_url part: a data: URL inline, an http(s) URL as fileData. */
static int
image_part(struct tr *t, struct json_object *p, size_t i, struct json_object *parts)
{
    const char *url = jx_str(jx_get(p, "image_url"), "url");
    if (url == NULL)
        url = jx_str(p, "image_url"); /* the older form: the URL as a string */
    if (url != NULL && strncmp(url, "data:", 5) == 0)
        return data_url_part(t, url, i, "image_url.url", parts);
    if (url == NULL ||
        (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0))
        return fail(t->err, t->errlen,
                    "messages[%zu]: image_url.url must be a data: or http(s) URL for provider "
                    "gemini",
                    i);
    const char *mime = mime_from_ext(url);
    if (mime == NULL)
        return fail(t->err, t->errlen,
                    "messages[%zu]: provider gemini needs the image's type, and the URL's "
                    "extension tells none (jpg, png, gif, webp, heic, heif, pdf); send it as "
                    "a data: URL",
                    i);
    struct json_object *fd = obj1("mimeType", json_object_new_string(mime));
    json_object_object_add(fd, "fileUri", json_object_new_string(url));
    json_object_array_add(parts, obj1("fileData", fd));
    return 0;
}

/* An input_audio part {data, format} inline as audio/<format>. */
static int
audio_part(struct tr *t, struct json_object *p, size_t i, struct json_object *parts)
{
    struct json_object *a = jx_get(p, "input_audio");
    const char *data = jx_str(a, "data"), *fmt = jx_str(a, "format");
    char mime[64];
    if (data == NULL || fmt == NULL || *fmt == '\0' || strlen(fmt) > 32)
        return fail(t->err, t->errlen, "messages[%zu]: input_audio needs data and format", i);
    snprintf(mime, sizeof(mime), "audio/%s", fmt);
    json_object_array_add(parts, inline_part(mime, strlen(mime), data));
    return 0;
}

/* A file part: its file_data inline (a data: URL, or base64 typed by filename). */
static int
file_part(struct tr *t, struct json_object *p, size_t i, struct json_object *parts)
{
    struct json_object *f = jx_get(p, "file");
    const char *data = jx_str(f, "file_data"), *name = jx_str(f, "filename");
    const char *mime = name ? mime_from_ext(name) : NULL;
    if (data != NULL && strncmp(data, "data:", 5) == 0)
        return data_url_part(t, data, i, "file.file_data", parts);
    if (data == NULL || mime == NULL)
        return fail(t->err, t->errlen,
                    "messages[%zu]: provider gemini takes a file as file_data (a data: URL, "
                    "or base64 with a filename telling its type), not file_id",
                    i);
    json_object_array_add(parts, inline_part(mime, strlen(mime), data));
    return 0;
}

/* One part of a message's content array into Gemini parts; media only when user. */
static int
content_part(struct tr *t, struct json_object *p, size_t i, int user, struct json_object *parts)
{
    const char *type = jx_str(p, "type");
    if (type != NULL && strcmp(type, "text") == 0 && jx_str(p, "text") != NULL) {
        add_text(parts, jx_get(p, "text"));
        return 0;
    }
    if (type != NULL && strcmp(type, "refusal") == 0 && !user && jx_str(p, "refusal") != NULL) {
        add_text(parts, jx_get(p, "refusal"));
        return 0;
    }
    if (user && type != NULL && strcmp(type, "image_url") == 0)
        return image_part(t, p, i, parts);
    if (user && type != NULL && strcmp(type, "input_audio") == 0)
        return audio_part(t, p, i, parts);
    if (user && type != NULL && strcmp(type, "file") == 0)
        return file_part(t, p, i, parts);
    return fail(t->err, t->errlen,
                "messages[%zu]: a content part of type \"%s\" is not supported by provider "
                "gemini",
                i, type ? type : "(none)");
}

/* A message's content (a string, or an array of parts) appended to parts. */
static int
content_parts(struct tr *t, struct json_object *m, size_t i, int user, struct json_object *parts)
{
    struct json_object *c = jx_get(m, "content");
    if (c == NULL)
        return 0;
    if (json_object_is_type(c, json_type_string)) {
        add_text(parts, c);
        return 0;
    }
    if (!is_arr(c))
        return fail(t->err, t->errlen, "messages[%zu].content must be a string or an array", i);
    for (size_t k = 0; k < json_object_array_length(c); k++)
        if (content_part(t, json_object_array_get_idx(c, k), i, user, parts) < 0)
            return -1;
    return 0;
}

/* A system or developer message: its text into systemInstruction. */
static int
tr_system(struct tr *t, struct json_object *m, size_t i)
{
    if (t->sys == NULL)
        t->sys = json_object_new_array();
    return content_parts(t, m, i, 0, t->sys);
}

/* A user message: role "user". */
static int
tr_user(struct tr *t, struct json_object *m, size_t i)
{
    struct json_object *parts = json_object_new_array();
    if (content_parts(t, m, i, 1, parts) < 0) {
        json_object_put(parts);
        return -1;
    }
    push(t, "user", parts);
    return 0;
}

/* A call {name, arguments} (a tool call's function, or a legacy function_call) as a
 * functionCall part; sig: its thoughtSignature or NULL. */
static int
call_part(struct tr *t, struct json_object *fn, struct json_object *sig, size_t i,
          struct json_object *parts)
{
    struct json_object *name = jx_get(fn, "name"), *a = jx_get(fn, "arguments"), *args = NULL;
    const char *s = json_object_get_string(a);
    if (!json_object_is_type(name, json_type_string))
        return fail(t->err, t->errlen, "messages[%zu]: a tool call has no function name", i);
    if (is_obj(a))
        args = json_object_get(a);
    else if (a == NULL ||
             (json_object_is_type(a, json_type_string) && s[strspn(s, " \t\r\n")] == '\0'))
        args = json_object_new_object(); /* a call without arguments */
    else if (json_object_is_type(a, json_type_string))
        args = jx_parse(s, strlen(s));
    if (!is_obj(args)) {
        json_object_put(args);
        return fail(t->err, t->errlen,
                    "messages[%zu]: the arguments of tool call \"%s\" are not a JSON object, "
                    "which provider gemini needs",
                    i, json_object_get_string(name));
    }
    struct json_object *fc = obj1("name", json_object_get(name)), *part;
    json_object_object_add(fc, "args", args);
    part = obj1("functionCall", fc);
    if (json_object_is_type(sig, json_type_string))
        add_ref(part, "thoughtSignature", sig);
    json_object_array_add(parts, part);
    return 0;
}

/* An assistant message: role "model", its text and its calls. */
static int
tr_assistant(struct tr *t, struct json_object *m, size_t i)
{
    struct json_object *parts = json_object_new_array(), *calls = jx_get(m, "tool_calls");
    int rc = content_parts(t, m, i, 0, parts);
    for (size_t k = 0; rc == 0 && is_arr(calls) && k < json_object_array_length(calls); k++) {
        struct json_object *tc = json_object_array_get_idx(calls, k);
        const char *type = jx_str(tc, "type");
        if (type != NULL && strcmp(type, "function") != 0)
            rc = fail(t->err, t->errlen,
                      "messages[%zu]: a tool call of type \"%s\" is not supported by provider "
                      "gemini",
                      i, type);
        else
            rc = call_part(
                t, jx_get(tc, "function"),
                jx_get(jx_get(jx_get(tc, "extra_content"), "google"), "thought_signature"), i,
                parts);
    }
    if (rc == 0 && jx_get(m, "function_call") != NULL)
        rc = call_part(t, jx_get(m, "function_call"), NULL, i, parts);
    if (rc < 0) {
        json_object_put(parts);
        return -1;
    }
    push(t, "model", parts);
    return 0;
}

/* The function name of the tool call with this id in an assistant message before msgs[i]. */
static const char *
call_name(struct tr *t, size_t i, const char *id)
{
    while (i-- > 0) {
        struct json_object *calls = jx_get(json_object_array_get_idx(t->msgs, i), "tool_calls");
        for (size_t k = 0; is_arr(calls) && k < json_object_array_length(calls); k++) {
            struct json_object *tc = json_object_array_get_idx(calls, k);
            const char *tid = jx_str(tc, "id");
            if (tid != NULL && strcmp(tid, id) == 0)
                return jx_str(jx_get(tc, "function"), "name");
        }
    }
    return NULL;
}

/* A tool result's content as text (a string, or its text parts joined); NULL when neither. */
static char *
result_text(struct json_object *c)
{
    struct printbuf *pb;
    char *s;
    if (c == NULL || json_object_is_type(c, json_type_string))
        return strdup(c ? json_object_get_string(c) : "");
    if (!is_arr(c) || (pb = printbuf_new()) == NULL)
        return NULL;
    for (size_t k = 0; k < json_object_array_length(c); k++) {
        struct json_object *p = json_object_array_get_idx(c, k);
        const char *type = jx_str(p, "type"), *text = jx_str(p, "text");
        if (type == NULL || strcmp(type, "text") != 0 || text == NULL) {
            printbuf_free(pb);
            return NULL;
        }
        printbuf_memappend(pb, text, (int)strlen(text));
    }
    s = strndup(pb->buf, (size_t)pb->bpos);
    printbuf_free(pb);
    return s;
}

/* A tool (or legacy function) result: a functionResponse part of role "user". */
static int
tr_result(struct tr *t, struct json_object *m, size_t i, const char *name)
{
    char *text = result_text(jx_get(m, "content"));
    struct json_object *resp, *fr;
    if (text == NULL)
        return fail(t->err, t->errlen,
                    "messages[%zu]: provider gemini takes a tool result's content as text only", i);
    resp = jx_parse(text, strlen(text));
    if (!is_obj(resp)) {
        json_object_put(resp);
        resp = obj1("content", json_object_new_string(text));
    }
    free(text);
    fr = obj1("name", json_object_new_string(name));
    json_object_object_add(fr, "response", resp);
    struct json_object *parts = json_object_new_array();
    json_object_array_add(parts, obj1("functionResponse", fr));
    push(t, "user", parts);
    return 0;
}

/* A tool message: the result of the earlier call with its tool_call_id. */
static int
tr_tool(struct tr *t, struct json_object *m, size_t i)
{
    const char *id = jx_str(m, "tool_call_id");
    const char *name = id ? call_name(t, i, id) : NULL;
    if (id == NULL)
        return fail(t->err, t->errlen, "messages[%zu].tool_call_id is required", i);
    if (name == NULL)
        return fail(t->err, t->errlen,
                    "messages[%zu]: no earlier assistant message has a tool call with id "
                    "\"%.200s\"; provider gemini needs its function's name",
                    i, id);
    return tr_result(t, m, i, name);
}

/* Every message into t->contents and t->sys. */
static int
tr_messages(struct tr *t)
{
    for (size_t i = 0; i < json_object_array_length(t->msgs); i++) {
        struct json_object *m = json_object_array_get_idx(t->msgs, i);
        const char *role = jx_str(m, "role");
        int rc;
        if (role == NULL)
            return fail(t->err, t->errlen, "messages[%zu].role is required", i);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0)
            rc = tr_system(t, m, i);
        else if (strcmp(role, "user") == 0)
            rc = tr_user(t, m, i);
        else if (strcmp(role, "assistant") == 0)
            rc = tr_assistant(t, m, i);
        else if (strcmp(role, "tool") == 0)
            rc = tr_tool(t, m, i);
        else if (strcmp(role, "function") == 0 && jx_str(m, "name") != NULL)
            rc = tr_result(t, m, i, jx_str(m, "name"));
        else
            rc = fail(t->err, t->errlen,
                      "messages[%zu]: role \"%.40s\" is not supported by provider gemini", i, role);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The request: tools                                                 */
/* ------------------------------------------------------------------ */

/* The members a Schema (Google's subset of OpenAPI) has; any other one is refused. */
static const char *const schema_keys[] = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
    NULL,
};

/* Is a an array of strings? */
static int
all_strings(struct json_object *a)
{
    if (!is_arr(a))
        return 0;
    for (size_t i = 0; i < json_object_array_length(a); i++)
        if (!json_object_is_type(json_object_array_get_idx(a, i), json_type_string))
            return 0;
    return 1;
}

static int schema_fits(struct json_object *s, int depth);

/* Does one member (k: v) of a schema fit Google's Schema? */
static int
schema_member_fits(const char *k, struct json_object *v, int depth)
{
    static const char *const types[] = {"string", "number", "integer", "boolean",
                                        "array",  "object", "null",    NULL};
    size_t i;
    for (i = 0; schema_keys[i] != NULL && strcmp(k, schema_keys[i]) != 0; i++)
        ;
    if (schema_keys[i] == NULL)
        return 0;
    if (strcmp(k, "type") == 0) {
        for (i = 0; types[i] != NULL; i++)
            if (json_object_is_type(v, json_type_string) &&
                strcasecmp(json_object_get_string(v), types[i]) == 0)
                return 1;
        return 0; /* a list of types is JSON Schema's */
    }
    if (strcmp(k, "enum") == 0 || strcmp(k, "required") == 0 || strcmp(k, "propertyOrdering") == 0)
        return all_strings(v);
    if (strcmp(k, "items") == 0)
        return schema_fits(v, depth + 1);
    if (strcmp(k, "anyOf") == 0) {
        for (i = 0; is_arr(v) && i < json_object_array_length(v); i++)
            if (!schema_fits(json_object_array_get_idx(v, i), depth + 1))
                return 0;
        return is_arr(v);
    }
    if (strcmp(k, "properties") == 0) {
        if (!is_obj(v))
            return 0;
        json_object_object_foreach(v, name, ps)
        {
            (void)name;
            if (!schema_fits(ps, depth + 1))
                return 0;
        }
    }
    return 1;
}

/*
 * Does a JSON Schema fit Google's Schema as it is? Gemini also refuses an
 * OBJECT without properties (below the top) and an ARRAY without items.
 */
static int
schema_fits(struct json_object *s, int depth)
{
    const char *type = jx_str(s, "type");
    struct json_object *props = jx_get(s, "properties");
    if (!is_obj(s) || depth > 32)
        return 0;
    json_object_object_foreach(s, k, v)
    {
        if (!schema_member_fits(k, v, depth))
            return 0;
    }
    if (type != NULL && strcasecmp(type, "array") == 0 && jx_get(s, "items") == NULL)
        return 0;
    return !(depth > 0 && type != NULL && strcasecmp(type, "object") == 0 &&
             (!is_obj(props) || json_object_object_length(props) == 0));
}

/* Does a function's parameters schema describe no parameters at all? */
static int
no_parameters(struct json_object *p)
{
    struct json_object *props = jx_get(p, "properties"), *ap = jx_get(p, "additionalProperties");
    if (p == NULL)
        return 1;
    if (!is_obj(p) || (props != NULL && (!is_obj(props) || json_object_object_length(props) > 0)))
        return 0;
    if (ap != NULL && !(json_object_is_type(ap, json_type_boolean) && !json_object_get_boolean(ap)))
        return 0;
    return jx_get(p, "anyOf") == NULL && jx_get(p, "oneOf") == NULL && jx_get(p, "allOf") == NULL &&
           jx_get(p, "$ref") == NULL && jx_get(p, "patternProperties") == NULL;
}

/* An OpenAI function {name, description, parameters} as a FunctionDeclaration. */
static struct json_object *
declaration(struct json_object *fn)
{
    struct json_object *d, *params = jx_get(fn, "parameters");
    if (jx_str(fn, "name") == NULL)
        return NULL;
    d = obj1("name", json_object_get(jx_get(fn, "name")));
    if (jx_str(fn, "description") != NULL)
        add_ref(d, "description", jx_get(fn, "description"));
    if (no_parameters(params))
        return d;
    /* parameters works with every model; JSON Schema's extras need parametersJsonSchema */
    add_ref(d, schema_fits(params, 0) ? "parameters" : "parametersJsonSchema", params);
    return d;
}

/* tools (and legacy functions) as functionDeclarations appended to decls. */
static int
tr_declarations(struct json_object *req, struct json_object *decls, char *err, size_t errlen)
{
    struct json_object *tools = jx_get(req, "tools"), *fns = jx_get(req, "functions"), *d;
    for (size_t i = 0; is_arr(tools) && i < json_object_array_length(tools); i++) {
        struct json_object *tool = json_object_array_get_idx(tools, i);
        const char *type = jx_str(tool, "type");
        if (type != NULL && strcmp(type, "function") != 0)
            return fail(err, errlen,
                        "tools[%zu]: type \"%.40s\" is not supported by provider gemini", i, type);
        if ((d = declaration(jx_get(tool, "function"))) == NULL)
            return fail(err, errlen, "tools[%zu].function.name is required", i);
        json_object_array_add(decls, d);
    }
    for (size_t i = 0; is_arr(fns) && i < json_object_array_length(fns); i++) {
        if ((d = declaration(json_object_array_get_idx(fns, i))) == NULL)
            return fail(err, errlen, "functions[%zu].name is required", i);
        json_object_array_add(decls, d);
    }
    return 0;
}

/* A tool_choice string's mode (legacy function_call: no "required"); NULL when unknown. */
static const char *
choice_mode(const char *s, int legacy)
{
    if (strcmp(s, "auto") == 0)
        return "AUTO";
    if (strcmp(s, "none") == 0)
        return "NONE";
    return strcmp(s, "required") == 0 && !legacy ? "ANY" : NULL;
}

/* tool_choice (or legacy function_call) as a functionCallingConfig in *fcc; NULL when none. */
static int
tr_choice(struct json_object *req, struct json_object **fcc, char *err, size_t errlen)
{
    int legacy = jx_get(req, "tool_choice") == NULL;
    const char *field = legacy ? "function_call" : "tool_choice", *mode = NULL, *name = NULL;
    struct json_object *tc = jx_get(req, field), *names;
    *fcc = NULL;
    if (tc == NULL)
        return 0;
    if (json_object_is_type(tc, json_type_string))
        mode = choice_mode(json_object_get_string(tc), legacy);
    else if (legacy)
        name = jx_str(tc, "name"); /* {"name": ...} */
    else if (jx_str(tc, "type") != NULL && strcmp(jx_str(tc, "type"), "function") == 0)
        name =
            jx_str(jx_get(tc, "function"), "name"); /* {"type": "function", "function": {name}} */
    if (mode == NULL && name == NULL)
        return fail(err, errlen, "%s: this value is not supported by provider gemini", field);
    *fcc = obj1("mode", json_object_new_string(mode ? mode : "ANY"));
    if (name != NULL) {
        names = json_object_new_array();
        json_object_array_add(names, json_object_new_string(name));
        json_object_object_add(*fcc, "allowedFunctionNames", names);
    }
    return 0;
}

/* tools and toolConfig into g (the Gemini request). */
static int
tr_tools(struct json_object *req, struct json_object *g, char *err, size_t errlen)
{
    struct json_object *decls = json_object_new_array(), *fcc = NULL;
    if (tr_declarations(req, decls, err, errlen) < 0 || tr_choice(req, &fcc, err, errlen) < 0) {
        json_object_put(decls);
        return -1;
    }
    if (json_object_array_length(decls) == 0) { /* a choice among no tools: nothing to say */
        json_object_put(decls);
        json_object_put(fcc);
        return 0;
    }
    struct json_object *tools = json_object_new_array();
    json_object_array_add(tools, obj1("functionDeclarations", decls));
    json_object_object_add(g, "tools", tools);
    if (fcc != NULL)
        json_object_object_add(g, "toolConfig", obj1("functionCallingConfig", fcc));
    return 0;
}

/* ------------------------------------------------------------------ */
/* The request: generationConfig, refusals, build                     */
/* ------------------------------------------------------------------ */

/* Refuse what Gemini's answer could not carry or what asks for another answer. */
static int
tr_refuse(struct json_object *req, char *err, size_t errlen)
{
    static const char *const fields[] = {"top_logprobs", "audio", "web_search_options", NULL};
    struct json_object *mods = jx_get(req, "modalities");
    if (json_object_get_boolean(jx_get(req, "logprobs")))
        return fail(err, errlen, "logprobs is not supported by provider gemini");
    for (size_t i = 0; fields[i] != NULL; i++)
        if (jx_get(req, fields[i]) != NULL)
            return fail(err, errlen, "%s is not supported by provider gemini", fields[i]);
    for (size_t i = 0; is_arr(mods) && i < json_object_array_length(mods); i++) {
        const char *m = json_object_get_string(json_object_array_get_idx(mods, i));
        if (m == NULL || strcmp(m, "text") != 0)
            return fail(err, errlen, "modalities \"%.40s\" is not supported by provider gemini",
                        m ? m : "null");
    }
    return 0;
}

/* response_format into gc's responseMimeType and responseJsonSchema. */
static int
tr_format(struct json_object *req, struct json_object *gc, char *err, size_t errlen)
{
    struct json_object *rf = jx_get(req, "response_format");
    const char *type = jx_str(rf, "type");
    if (rf == NULL || (type != NULL && strcmp(type, "text") == 0))
        return 0;
    if (type == NULL || (strcmp(type, "json_object") != 0 && strcmp(type, "json_schema") != 0))
        return fail(err, errlen,
                    "response_format type \"%.40s\" is not supported by provider gemini",
                    type ? type : "(none)");
    json_object_object_add(gc, "responseMimeType", json_object_new_string("application/json"));
    if (strcmp(type, "json_schema") == 0 && jx_get(jx_get(rf, "json_schema"), "schema") != NULL)
        add_ref(gc, "responseJsonSchema", jx_get(jx_get(rf, "json_schema"), "schema"));
    return 0;
}

/* The sampling and length fields into gc (generationConfig). */
static void
tr_sampling(const struct prov_call *c, struct json_object *req, struct json_object *gc)
{
    static const char *const map[][2] = {
        {"temperature", "temperature"},
        {"top_p", "topP"},
        {"presence_penalty", "presencePenalty"},
        {"frequency_penalty", "frequencyPenalty"},
        {"seed", "seed"},
        {"n", "candidateCount"},
    };
    struct json_object *max = jx_get(req, "max_completion_tokens"), *stop = jx_get(req, "stop");
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (jx_get(req, map[i][0]) != NULL)
            add_ref(gc, map[i][1], jx_get(req, map[i][0]));
    if (max == NULL)
        max = jx_get(req, "max_tokens");
    if (max != NULL)
        add_ref(gc, "maxOutputTokens", max);
    else if (c->t->max_tokens > 0)
        json_object_object_add(gc, "maxOutputTokens", json_object_new_int(c->t->max_tokens));
    if (json_object_is_type(stop, json_type_string)) {
        struct json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_get(stop));
        json_object_object_add(gc, "stopSequences", a);
    } else if (is_arr(stop) && json_object_array_length(stop) > 0) {
        add_ref(gc, "stopSequences", stop);
    }
}

/* The OpenAI chat request as a GenerateContentRequest (new object in *out). */
static int
translate(const struct prov_call *c, struct json_object *req, struct json_object **out, char *err,
          size_t errlen)
{
    struct tr t = {.msgs = jx_get(req, "messages"), .err = err, .errlen = errlen};
    struct json_object *g = json_object_new_object(), *gc = json_object_new_object();
    if (!is_arr(t.msgs)) {
        fail(err, errlen, "messages is required");
        goto bad;
    }
    t.contents = json_object_new_array();
    json_object_object_add(g, "contents", t.contents);
    if (tr_refuse(req, err, errlen) < 0 || tr_messages(&t) < 0)
        goto bad;
    if (json_object_array_length(t.contents) == 0) {
        fail(err, errlen, "provider gemini needs a user or assistant message with content");
        goto bad;
    }
    if (t.sys != NULL && json_object_array_length(t.sys) > 0)
        json_object_object_add(g, "systemInstruction", obj1("parts", json_object_get(t.sys)));
    if (tr_tools(req, g, err, errlen) < 0 || tr_format(req, gc, err, errlen) < 0)
        goto bad;
    tr_sampling(c, req, gc);
    if (json_object_object_length(gc) > 0)
        json_object_object_add(g, "generationConfig", json_object_get(gc));
    json_object_put(gc);
    json_object_put(t.sys);
    *out = g;
    return 0;
bad:
    json_object_put(gc);
    json_object_put(t.sys);
    json_object_put(g);
    return -1;
}

/*
 * countTokens takes a whole GenerateContentRequest (naming its model) so
 * that the system instruction and the tools count too; generationConfig
 * changes no input token and is left out.
 */
static struct json_object *
count_request(const struct prov_call *c, struct json_object *g)
{
    size_t n = strlen(c->t->upstream_model) + 8;
    char *model = malloc(n);
    if (model == NULL) {
        json_object_put(g);
        return NULL;
    }
    snprintf(model, n, "models/%s", c->t->upstream_model);
    json_object_object_del(g, "generationConfig");
    json_object_object_add(g, "model", json_object_new_string(model));
    free(model);
    return obj1("generateContentRequest", g);
}

/* The upstream request: the URL for the op, the key header, the translated body. */
static int
build(const struct prov_call *c, struct json_object *body, struct prov_http *out, char *err,
      size_t errlen)
{
    const char *method = c->op == OP_COUNT_TOKENS ? "countTokens"
                         : c->stream              ? "streamGenerateContent"
                                                  : "generateContent";
    struct json_object *g = NULL;
    char *model = NULL, path[1024];
    if (c->op != OP_CHAT && c->op != OP_COUNT_TOKENS)
        return fail(err, errlen, "this operation is not supported by provider gemini");
    if (translate(c, body, &g, err, errlen) < 0)
        return -1;
    if (c->op == OP_COUNT_TOKENS && (g = count_request(c, g)) == NULL)
        return fail(err, errlen, "out of memory");
    if ((model = curl_easy_escape(NULL, c->t->upstream_model, 0)) == NULL ||
        (size_t)snprintf(path, sizeof(path), "/models/%s:%s", model, method) >= sizeof(path) ||
        prov_url(out, c->t, path, c->stream && c->op == OP_CHAT ? "alt=sse" : NULL) < 0) {
        curl_free(model);
        json_object_put(g);
        return fail(err, errlen, "the target's api_base or model is too long");
    }
    curl_free(model);
    prov_auth(out, c, &prov_gemini);
    prov_body(out, g);
    return 0;
}

/* ------------------------------------------------------------------ */
/* The answer                                                         */
/* ------------------------------------------------------------------ */

/* usageMetadata into u, in OpenAI's terms; every count clamped (usage.h). */
static void
usage_from(struct json_object *um, struct prov_usage *u)
{
    int bad = 0;
    if (!is_obj(um))
        return;
    int64_t prompt = usage_add(usage_count(um, "promptTokenCount", &bad),
                               usage_count(um, "toolUsePromptTokenCount", &bad));
    int64_t thoughts = usage_count(um, "thoughtsTokenCount", &bad);
    u->prompt = prompt; /* promptTokenCount includes the cached tokens */
    u->completion = usage_add(usage_count(um, "candidatesTokenCount", &bad), thoughts);
    u->reasoning = thoughts;
    u->cached = usage_count(um, "cachedContentTokenCount", &bad);
    u->total = jx_get(um, "totalTokenCount") ? usage_count(um, "totalTokenCount", &bad)
                                             : usage_add(u->prompt, u->completion);
    u->bad |= bad;
    u->have = 1;
}

/* OpenAI's finish_reason for a finishReason (NULL: none yet); calls: functions were called. */
static const char *
finish_reason(const char *fr, int calls)
{
    static const char *const filtered[] = {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", NULL};
    if (fr == NULL)
        return NULL;
    if (strcmp(fr, "MAX_TOKENS") == 0)
        return "length";
    for (size_t i = 0; filtered[i] != NULL; i++)
        if (strcmp(fr, filtered[i]) == 0)
            return "content_filter";
    return strcmp(fr, "STOP") == 0 && calls ? "tool_calls" : "stop";
}

/* A new unique answer id: chatcmpl- and the process, the time and a counter. */
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

/* The answer's id and model: responseId and modelVersion when Gemini gave them. */
static void
answer_names(const struct prov_call *c, struct json_object *in, char *id, size_t idlen, char *model,
             size_t mlen)
{
    const char *rid = jx_str(in, "responseId"), *mv = jx_str(in, "modelVersion");
    if (rid != NULL && *rid != '\0')
        snprintf(id, idlen, "%s", rid);
    else
        new_id(id, idlen);
    snprintf(model, mlen, "%s", mv != NULL && *mv != '\0' ? mv : c->t->upstream_model);
}

/*
 * A functionCall part as an OpenAI tool call: its id, or "call_<n>" with
 * n counted over the answer; its thoughtSignature in extra_content.
 */
static struct json_object *
tool_call(struct json_object *part, int *ncalls)
{
    struct json_object *fc = jx_get(part, "functionCall"), *args = jx_get(fc, "args");
    struct json_object *tc = json_object_new_object(), *fn = json_object_new_object();
    const char *id = jx_str(fc, "id");
    char buf[32];
    snprintf(buf, sizeof(buf), "call_%d", (*ncalls)++);
    json_object_object_add(tc, "id", json_object_new_string(id && *id ? id : buf));
    json_object_object_add(tc, "type", json_object_new_string("function"));
    json_object_object_add(fn, "name",
                           json_object_new_string(jx_str(fc, "name") ? jx_str(fc, "name") : ""));
    json_object_object_add(
        fn, "arguments",
        json_object_new_string(args ? json_object_to_json_string_ext(args, JSON_OUT) : "{}"));
    json_object_object_add(tc, "function", fn);
    if (jx_str(part, "thoughtSignature") != NULL)
        json_object_object_add(
            tc, "extra_content",
            obj1("google",
                 obj1("thought_signature", json_object_get(jx_get(part, "thoughtSignature")))));
    return tc;
}

/* A candidate's parts as a message: text joined, thoughts apart, calls as tool_calls. */
static struct json_object *
message(struct json_object *cand, int *ncalls, int *calls)
{
    struct json_object *parts = jx_get(jx_get(cand, "content"), "parts");
    struct json_object *msg = obj1("role", json_object_new_string("assistant"));
    struct json_object *tcs = json_object_new_array();
    struct printbuf *text = printbuf_new(), *thought = printbuf_new();
    int has_text = 0, has_thought = 0;
    for (size_t i = 0; is_arr(parts) && i < json_object_array_length(parts); i++) {
        struct json_object *p = json_object_array_get_idx(parts, i);
        const char *s = jx_str(p, "text");
        int is_thought = json_object_get_boolean(jx_get(p, "thought"));
        if (jx_get(p, "functionCall") != NULL) {
            json_object_array_add(tcs, tool_call(p, ncalls));
        } else if (s != NULL) {
            printbuf_memappend(is_thought ? thought : text, s, (int)strlen(s));
            *(is_thought ? &has_thought : &has_text) = 1;
        }
    }
    json_object_object_add(msg, "content",
                           has_text ? json_object_new_string_len(text->buf, text->bpos) : NULL);
    if (has_thought)
        json_object_object_add(msg, "reasoning_content",
                               json_object_new_string_len(thought->buf, thought->bpos));
    *calls = (int)json_object_array_length(tcs);
    if (*calls > 0)
        json_object_object_add(msg, "tool_calls", tcs);
    else
        json_object_put(tcs);
    printbuf_free(text);
    printbuf_free(thought);
    return msg;
}

/* A choice: {index, message, finish_reason}. */
static struct json_object *
choice(int index, struct json_object *msg, const char *fr)
{
    struct json_object *ch = obj1("index", json_object_new_int(index));
    json_object_object_add(ch, "message", msg);
    json_object_object_add(ch, "logprobs", NULL);
    json_object_object_add(ch, "finish_reason", json_object_new_string(fr));
    return ch;
}

/* The candidates as choices; a prompt blocked (no candidate) as one filtered choice. */
static struct json_object *
choices(struct json_object *in)
{
    struct json_object *cands = jx_get(in, "candidates"), *out = json_object_new_array();
    int ncalls = 0, calls;
    for (size_t i = 0; is_arr(cands) && i < json_object_array_length(cands); i++) {
        struct json_object *cand = json_object_array_get_idx(cands, i);
        struct json_object *msg = message(cand, &ncalls, &calls);
        const char *fr = finish_reason(jx_str(cand, "finishReason"), calls);
        int index = jx_get(cand, "index") ? (int)jx_int(cand, "index") : (int)i;
        json_object_array_add(out, choice(index, msg, fr ? fr : "stop"));
    }
    if (json_object_array_length(out) == 0) {
        struct json_object *msg = obj1("role", json_object_new_string("assistant"));
        json_object_object_add(msg, "content", NULL);
        json_object_array_add(out, choice(0, msg,
                                          jx_str(jx_get(in, "promptFeedback"), "blockReason")
                                              ? "content_filter"
                                              : "stop"));
    }
    return out;
}

/* Is in a GenerateContentResponse (candidates, promptFeedback or usage)? */
static int
is_response(struct json_object *in)
{
    struct json_object *cands = jx_get(in, "candidates");
    if (!is_obj(in) || (cands != NULL && !is_arr(cands)))
        return 0;
    return cands != NULL || is_obj(jx_get(in, "promptFeedback")) ||
           is_obj(jx_get(in, "usageMetadata"));
}

/* countTokens' {"totalTokens": N} as {"input_tokens": N}. */
static int
count_response(struct json_object *in, struct json_object **out)
{
    struct json_object *n = jx_get(in, "totalTokens");
    if (!json_object_is_type(n, json_type_int))
        return -1;
    *out = obj1("input_tokens", json_object_new_int64(json_object_get_int64(n)));
    return 0;
}

/* A 2xx answer as a chat.completion (or countTokens' as {"input_tokens"}). */
static int
response(const struct prov_call *c, struct json_object *in, struct json_object **out,
         struct prov_usage *u)
{
    char id[256], model[512];
    *out = NULL;
    if (c->op == OP_COUNT_TOKENS)
        return count_response(in, out);
    if (!is_response(in))
        return -1;
    usage_from(jx_get(in, "usageMetadata"), u);
    answer_names(c, in, id, sizeof(id), model, sizeof(model));
    struct json_object *o = obj1("id", json_object_new_string(id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion"));
    json_object_object_add(o, "created", json_object_new_int64((int64_t)time(NULL)));
    json_object_object_add(o, "model", json_object_new_string(model));
    json_object_object_add(o, "choices", choices(in));
    json_object_object_add(o, "usage", prov_usage_json(u));
    *out = o;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Streams                                                            */
/* ------------------------------------------------------------------ */

#define GEM_MAX_CANDIDATES 16 /* Gemini gives 8 at most */

/* A stream's state (s->priv). */
struct gem_stream {
    char id[256];
    char model[512];
    int64_t created;
    int events;                    /* events seen */
    int finished;                  /* a finishReason (or a blocked prompt) came */
    int ncalls;                    /* tool calls so far, over every candidate: their ids */
    unsigned started;              /* bit per candidate: its role chunk went out */
    int calls[GEM_MAX_CANDIDATES]; /* tool calls per candidate: the next one's index */
};

/* Emit a chunk: one choice (index) with delta (taken) and finish_reason (NULL: null). */
static void
emit_chunk(struct prov_stream *s, int index, struct json_object *delta, const char *fr)
{
    struct gem_stream *g = s->priv;
    struct json_object *ch = obj1("index", json_object_new_int(index)), *arr;
    json_object_object_add(ch, "delta", delta);
    json_object_object_add(ch, "logprobs", NULL);
    json_object_object_add(ch, "finish_reason", fr ? json_object_new_string(fr) : NULL);
    arr = json_object_new_array();
    json_object_array_add(arr, ch);
    struct json_object *o = obj1("id", json_object_new_string(g->id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
    json_object_object_add(o, "created", json_object_new_int64(g->created));
    json_object_object_add(o, "model", json_object_new_string(g->model));
    json_object_object_add(o, "choices", arr);
    prov_emit_json(s, o);
    json_object_put(o);
}

/* The role chunk of candidate index, once. */
static void
emit_role(struct prov_stream *s, int index)
{
    struct gem_stream *g = s->priv;
    struct json_object *d;
    if (g->started & (1u << index))
        return;
    g->started |= 1u << index;
    d = obj1("role", json_object_new_string("assistant"));
    json_object_object_add(d, "content", json_object_new_string(""));
    emit_chunk(s, index, d, NULL);
}

/* One part of candidate index as a delta: text, reasoning_content, or a whole tool call. */
static void
emit_part(struct prov_stream *s, int index, struct json_object *p)
{
    struct gem_stream *g = s->priv;
    struct json_object *text = jx_get(p, "text");
    if (jx_get(p, "functionCall") != NULL) {
        struct json_object *tc = tool_call(p, &g->ncalls), *arr = json_object_new_array();
        json_object_object_add(tc, "index", json_object_new_int(g->calls[index]++));
        json_object_array_add(arr, tc);
        emit_chunk(s, index, obj1("tool_calls", arr), NULL);
    } else if (json_object_is_type(text, json_type_string) &&
               json_object_get_string_len(text) > 0) {
        int thought = json_object_get_boolean(jx_get(p, "thought"));
        emit_chunk(s, index, obj1(thought ? "reasoning_content" : "content", json_object_get(text)),
                   NULL);
    }
}

/* One candidate of an event: its role chunk first, its parts, its finish. */
static void
stream_candidate(struct prov_stream *s, struct json_object *cand, int pos)
{
    struct gem_stream *g = s->priv;
    struct json_object *parts = jx_get(jx_get(cand, "content"), "parts");
    int index = jx_get(cand, "index") ? (int)jx_int(cand, "index") : pos;
    const char *fr;
    if (index < 0 || index >= GEM_MAX_CANDIDATES)
        return;
    emit_role(s, index);
    for (size_t i = 0; is_arr(parts) && i < json_object_array_length(parts); i++)
        emit_part(s, index, json_object_array_get_idx(parts, i));
    if ((fr = finish_reason(jx_str(cand, "finishReason"), g->calls[index] > 0)) != NULL) {
        emit_chunk(s, index, json_object_new_object(), fr);
        g->finished = 1;
    }
}

/* Google's error ({code, message, status}) as OpenAI's, typed by the HTTP status. */
static struct json_object *
error_json(long status, struct json_object *e)
{
    return prov_error_json(jx_str(e, "message"), errtype_openai(status), jx_str(e, "status"));
}

/* Set up the stream's state. */
static int
stream_begin(struct prov_stream *s)
{
    s->priv = calloc(1, sizeof(struct gem_stream));
    return s->priv ? 0 : -1;
}

/* An error event: its code becomes the status, nothing is emitted. */
static void
stream_error(struct prov_stream *s, struct json_object *e)
{
    long code = (long)jx_int(e, "code");
    if (code < 400 || code > 599)
        code = 500;
    s->error_status = (int)code;
    json_object_put(s->error);
    s->error = error_json(code, e);
}

/* One SSE event: a whole GenerateContentResponse, or {"error": {...}}. */
static int
stream_event(struct prov_stream *s, const char *event, size_t evlen, const char *data, size_t len)
{
    struct gem_stream *g = s->priv;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = tok ? json_tokener_parse_ex(tok, data, (int)len) : NULL, *cands;
    (void)event;
    (void)evlen;
    json_tokener_free(tok);
    if (g == NULL || !is_obj(o) || (!is_obj(jx_get(o, "error")) && !is_response(o))) {
        json_object_put(o);
        return -1;
    }
    if (is_obj(jx_get(o, "error"))) {
        stream_error(s, jx_get(o, "error"));
        json_object_put(o);
        return 0;
    }
    if (g->events++ == 0) {
        answer_names(s->call, o, g->id, sizeof(g->id), g->model, sizeof(g->model));
        g->created = (int64_t)time(NULL);
    }
    usage_from(jx_get(o, "usageMetadata"), &s->usage); /* cumulative: the latest wins */
    cands = jx_get(o, "candidates");
    for (size_t i = 0; is_arr(cands) && i < json_object_array_length(cands); i++)
        stream_candidate(s, json_object_array_get_idx(cands, i), (int)i);
    if ((!is_arr(cands) || json_object_array_length(cands) == 0) &&
        jx_str(jx_get(o, "promptFeedback"), "blockReason") != NULL) {
        emit_role(s, 0);
        emit_chunk(s, 0, json_object_new_object(), "content_filter");
        g->finished = 1;
    }
    json_object_put(o);
    return 0;
}

/* The upstream closed: a finished answer gets its usage chunk and [DONE]; a cut one nothing. */
static void
stream_close(struct prov_stream *s)
{
    struct gem_stream *g = s->priv;
    if (g == NULL || !g->finished || s->error != NULL || s->done)
        return;
    struct json_object *o = obj1("id", json_object_new_string(g->id));
    json_object_object_add(o, "object", json_object_new_string("chat.completion.chunk"));
    json_object_object_add(o, "created", json_object_new_int64(g->created));
    json_object_object_add(o, "model", json_object_new_string(g->model));
    json_object_object_add(o, "choices", json_object_new_array());
    json_object_object_add(o, "usage", prov_usage_json(&s->usage));
    prov_emit_json(s, o);
    json_object_put(o);
    if (s->emit != NULL)
        s->emit(s->arg, "[DONE]", 6);
    s->done = 1;
}

/* Free the stream's state. */
static void
stream_end(struct prov_stream *s)
{
    free(s->priv);
    s->priv = NULL;
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* A non-2xx answer {"error": {code, message, status, details}} as OpenAI's error. */
static int
error(long status, const char *type, struct json_object *in, struct json_object **out)
{
    struct json_object *e = jx_get(in, "error");
    (void)type; /* its errors carry their type in the body */
    *out = NULL;
    if (!is_obj(e))
        return -1;
    *out = error_json(status, e);
    return (int)status;
}

const struct provider prov_gemini = {
    .name = "gemini",
    .id = PROVIDER_GEMINI,
    .api_base = "https://generativelanguage.googleapis.com/v1beta",
    .model_in_path = 1,
    .auth_header = "x-goog-api-key",
    .ops = OP_BIT(OP_CHAT) | OP_BIT(OP_COUNT_TOKENS),
    .own = DIALECT_NONE,
    .build = build,
    .response = response,
    .stream_begin = stream_begin,
    .stream_event = stream_event,
    .stream_close = stream_close,
    .stream_end = stream_end,
    .error = error,
};
