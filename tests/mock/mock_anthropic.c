/* SPDX-License-Identifier: Apache-2.0 */
/* mock_anthropic.c: Anthropic's Messages API: POST /v1/messages, stream or
 * not, and POST /v1/messages/count_tokens.
 *
 * The key comes in x-api-key and every request names its anthropic-version.
 * The body is checked the way Anthropic checks it, one error at a time, with
 * the messages its API gives ("max_tokens: Field required", "foo: Extra
 * inputs are not permitted"): a gateway that translates OpenAI requests
 * into this format gets the 400 the real API would give it.  Errors are
 * {"type":"error","error":{"type","message"},"request_id"}, their type
 * following the status.
 */
#include <stdio.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "mock.h"

/* The members a Messages request may have; any other is refused. */
static const char *const mock_anth_fields[] = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
    "mock",
    NULL,
};

/* The members a count_tokens request may have. */
static const char *const mock_anth_count_fields[] = {
    "model",       "messages",           "system", "tools", "tool_choice", "thinking",
    "mcp_servers", "context_management", "mock",   NULL,
};

/* ------------------------------------------------------------------ */
/* Provider: key, version, errors                                     */
/* ------------------------------------------------------------------ */

/* Return Anthropic's error type for an HTTP status. */
static const char *
mock_anth_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 500:
        return "api_error";
    case 529:
        return "overloaded_error";
    default:
        /* Anthropic: invalid_request_error "may also be used for other 4XX" */
        return status < 500 ? "invalid_request_error" : "api_error";
    }
}

/* Append an Anthropic error body; its type follows the status. */
static void
mock_anth_error(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
                const char *type, const char *code)
{
    evbuffer_add_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":",
                        mock_anth_error_type(status));
    mock_json_cstr(out, msg);
    evbuffer_add_printf(out, "},\"request_id\":\"req_mock%lu\"}", c->seq);
}

/* x-api-key (with -k), then anthropic-version; every answer carries a
 * request-id header. */
static int
mock_anth_check(struct mock_call *c)
{
    const char *key = mock_header(c, "x-api-key");
    const char *ver = mock_header(c, "anthropic-version");
    char buf[160];

    snprintf(buf, sizeof(buf), "req_mock%lu", c->seq);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "request-id", buf);
    if (mock.api_key != NULL && (key == NULL || strcmp(key, mock.api_key) != 0)) {
        mock_send_error(c, 401, key == NULL ? "x-api-key header is required" : "invalid x-api-key",
                        NULL, NULL);
        return -1;
    }
    if (ver == NULL) {
        mock_send_error(c, 400, "anthropic-version: header is required", NULL, NULL);
        return -1;
    }
    /* 2026-10-21: the version Anthropic's SDKs send from their 1.0 on */
    if (strcmp(ver, "2023-06-01") != 0 && strcmp(ver, "2023-01-01") != 0 &&
        strcmp(ver, "2026-10-21") != 0) {
        snprintf(buf, sizeof(buf), "anthropic-version: \"%.60s\" is not a valid version", ver);
        mock_send_error(c, 400, buf, NULL, NULL);
        return -1;
    }
    return 0;
}

const struct mock_provider mock_prov_anthropic = {
    "anthropic",
    mock_anth_check,
    mock_anth_error,
    "There was an issue with the format or content of your request: the body is not valid JSON",
};

/* ------------------------------------------------------------------ */
/* Checking the request                                               */
/* ------------------------------------------------------------------ */

/* Return member k of object o, or NULL (null counts as absent). */
static json_object *
mock_anth_get(json_object *o, const char *k)
{
    json_object *v;

    if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    return v;
}

/* Refuse a member of o not in allowed (NULL-terminated), named at where. */
static int
mock_anth_extra(struct mock_call *c, json_object *o, const char *where, const char *const *allowed)
{
    json_object_object_foreach(o, key, val)
    {
        size_t i;

        for (i = 0; allowed[i] != NULL && strcmp(allowed[i], key) != 0; i++)
            ;
        if (allowed[i] == NULL)
            return mock_fail(c, "%s%s%.60s: Extra inputs are not permitted", where,
                             *where ? "." : "", key);
        (void)val;
    }
    return 0;
}

/* Check a number member k of o, in [lo, hi]. */
static int
mock_anth_number(struct mock_call *c, json_object *o, const char *k, double lo, double hi,
                 int integer)
{
    json_object *v = mock_anth_get(o, k);
    double d;

    if (v == NULL)
        return 0;
    if (integer ? !mock_is_int(v) : !mock_is_num(v))
        return mock_fail(c, "%s: Input should be a valid %s", k, integer ? "integer" : "number");
    d = json_object_get_double(v);
    if (d < lo)
        return mock_fail(c, "%s: Input should be greater than or equal to %g", k, lo);
    if (d > hi)
        return mock_fail(c, "%s: Input should be less than or equal to %g", k, hi);
    return 0;
}

/* Check a string member k of o at where (required or not). */
static int
mock_anth_string(struct mock_call *c, json_object *o, const char *where, const char *k,
                 int required)
{
    json_object *v = mock_anth_get(o, k);

    if (v == NULL && required)
        return mock_fail(c, "%s%s%s: Field required", where, *where ? "." : "", k);
    if (v != NULL && !json_object_is_type(v, json_type_string))
        return mock_fail(c, "%s%s%s: Input should be a valid string", where, *where ? "." : "", k);
    return 0;
}

/* Check a text block {"type":"text","text":"..."} at where. */
static int
mock_anth_text_block(struct mock_call *c, json_object *b, const char *where)
{
    static const char *const allowed[] = {"type", "text", "cache_control", "citations", NULL};

    if (mock_anth_string(c, b, where, "text", 1) < 0 || mock_anth_extra(c, b, where, allowed) < 0)
        return -1;
    if (json_object_get_string_len(mock_anth_get(b, "text")) == 0)
        return mock_fail(c, "messages: text content blocks must be non-empty");
    return 0;
}

/* Check an image block: a base64 source (media_type, data) or a url one. */
static int
mock_anth_image_block(struct mock_call *c, json_object *b, const char *where)
{
    static const char *const allowed[] = {"type", "source", "cache_control", NULL};
    json_object *src = mock_anth_get(b, "source"), *t;
    const char *mt;

    if (mock_anth_extra(c, b, where, allowed) < 0)
        return -1;
    if (!json_object_is_type(src, json_type_object))
        return mock_fail(c, "%s.source: %s", where,
                         src == NULL ? "Field required" : "Input should be a valid dictionary");
    t = mock_anth_get(src, "type");
    if (t != NULL && strcmp(json_object_get_string(t), "url") == 0)
        return mock_anth_string(c, src, where, "url", 1);
    if (t == NULL || strcmp(json_object_get_string(t), "base64") != 0)
        return mock_fail(c,
                         "%s.source: Input tag '%.40s' found using 'type' does not match any of "
                         "the expected tags: 'base64', 'url'",
                         where, t != NULL ? json_object_get_string(t) : "");
    mt = json_object_get_string(mock_anth_get(src, "media_type"));
    if (mt == NULL || (strcmp(mt, "image/jpeg") != 0 && strcmp(mt, "image/png") != 0 &&
                       strcmp(mt, "image/gif") != 0 && strcmp(mt, "image/webp") != 0))
        return mock_fail(c,
                         "%s.source.media_type: Input should be 'image/jpeg', 'image/png', "
                         "'image/gif' or 'image/webp'",
                         where);
    return mock_anth_string(c, src, where, "data", 1);
}

/* Check a tool_use block: id, name, input (an object). */
static int
mock_anth_tool_use_block(struct mock_call *c, json_object *b, const char *where)
{
    static const char *const allowed[] = {"type", "id", "name", "input", "cache_control", NULL};
    json_object *input = mock_anth_get(b, "input");

    if (mock_anth_string(c, b, where, "id", 1) < 0 ||
        mock_anth_string(c, b, where, "name", 1) < 0 || mock_anth_extra(c, b, where, allowed) < 0)
        return -1;
    if (input == NULL)
        return mock_fail(c, "%s.input: Field required", where);
    if (!json_object_is_type(input, json_type_object))
        return mock_fail(c, "%s.input: Input should be a valid dictionary", where);
    return 0;
}

/* Check a tool_result block: tool_use_id, content (a string or text and
 * image blocks), is_error. */
static int
mock_anth_tool_result_block(struct mock_call *c, json_object *b, const char *where)
{
    static const char *const allowed[] = {"type",     "tool_use_id",   "content",
                                          "is_error", "cache_control", NULL};
    json_object *content = mock_anth_get(b, "content"), *err = mock_anth_get(b, "is_error");
    char sub[96];

    if (mock_anth_string(c, b, where, "tool_use_id", 1) < 0 ||
        mock_anth_extra(c, b, where, allowed) < 0)
        return -1;
    if (err != NULL && !json_object_is_type(err, json_type_boolean))
        return mock_fail(c, "%s.is_error: Input should be a valid boolean", where);
    if (content == NULL || json_object_is_type(content, json_type_string))
        return 0;
    if (!json_object_is_type(content, json_type_array))
        return mock_fail(c, "%s.content: Input should be a valid list", where);
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *inner = json_object_array_get_idx(content, i);
        const char *t = json_object_get_string(mock_anth_get(inner, "type"));

        snprintf(sub, sizeof(sub), "%.60s.content.%zu", where, i);
        if (t != NULL && strcmp(t, "text") == 0 && mock_anth_text_block(c, inner, sub) < 0)
            return -1;
        if (t != NULL && strcmp(t, "image") == 0 && mock_anth_image_block(c, inner, sub) < 0)
            return -1;
        if (t == NULL || (strcmp(t, "text") != 0 && strcmp(t, "image") != 0))
            return mock_fail(c,
                             "%s: Input tag '%.40s' found using 'type' does not match any of the "
                             "expected tags: 'text', 'image'",
                             sub, t != NULL ? t : "");
    }
    return 0;
}

/* Check content block b of a message with role user (or assistant). */
static int
mock_anth_block(struct mock_call *c, json_object *b, const char *where, int user)
{
    const char *t;

    if (!json_object_is_type(b, json_type_object))
        return mock_fail(c, "%s: Input should be a valid dictionary", where);
    if ((t = json_object_get_string(mock_anth_get(b, "type"))) == NULL)
        return mock_fail(c, "%s: Unable to extract tag using discriminator 'type'", where);
    if (strcmp(t, "text") == 0)
        return mock_anth_text_block(c, b, where);
    if (strcmp(t, "image") == 0)
        return mock_anth_image_block(c, b, where);
    if (strcmp(t, "tool_use") == 0 && !user)
        return mock_anth_tool_use_block(c, b, where);
    if (strcmp(t, "tool_result") == 0 && user)
        return mock_anth_tool_result_block(c, b, where);
    if (strcmp(t, "tool_use") == 0 || strcmp(t, "tool_result") == 0)
        return mock_fail(c, "%s: `%s` blocks can only be in `%s` messages", where, t,
                         user ? "assistant" : "user");
    return mock_fail(c,
                     "%s: Input tag '%.40s' found using 'type' does not match any of the expected "
                     "tags: 'text', 'image', 'tool_use', 'tool_result'",
                     where, t);
}

/* Is id the id of a tool_use block in msg's content? */
static int
mock_anth_has_block(json_object *msg, const char *type, const char *idkey, const char *id)
{
    json_object *content = mock_anth_get(msg, "content");

    for (size_t i = 0;
         json_object_is_type(content, json_type_array) && i < json_object_array_length(content);
         i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *t = json_object_get_string(mock_anth_get(b, "type"));
        const char *bid = json_object_get_string(mock_anth_get(b, idkey));

        if (t != NULL && strcmp(t, type) == 0 && bid != NULL && strcmp(bid, id) == 0)
            return 1;
    }
    return 0;
}

/* Every tool_result of message i answers a tool_use of message i-1, and
 * every tool_use of message i is answered in message i+1 (if there is one). */
static int
mock_anth_pairs(struct mock_call *c, json_object *msgs, size_t i)
{
    json_object *msg = json_object_array_get_idx(msgs, i);
    json_object *content = mock_anth_get(msg, "content");
    size_t n = json_object_array_length(msgs);

    for (size_t k = 0;
         json_object_is_type(content, json_type_array) && k < json_object_array_length(content);
         k++) {
        json_object *b = json_object_array_get_idx(content, k);
        const char *t = json_object_get_string(mock_anth_get(b, "type"));
        const char *id = json_object_get_string(mock_anth_get(b, "tool_use_id"));

        if (t != NULL && strcmp(t, "tool_result") == 0 &&
            (i == 0 ||
             !mock_anth_has_block(json_object_array_get_idx(msgs, i - 1), "tool_use", "id", id)))
            return mock_fail(c,
                             "messages.%zu.content.%zu: unexpected `tool_use_id` found in "
                             "`tool_result` blocks: %.60s. Each `tool_result` block must have a "
                             "corresponding `tool_use` block in the previous message.",
                             i, k, id);
        id = json_object_get_string(mock_anth_get(b, "id"));
        if (t != NULL && strcmp(t, "tool_use") == 0 && i + 1 < n &&
            !mock_anth_has_block(json_object_array_get_idx(msgs, i + 1), "tool_result",
                                 "tool_use_id", id))
            return mock_fail(c,
                             "messages.%zu: `tool_use` ids were found without `tool_result` "
                             "blocks immediately after: %.60s. Each `tool_use` block must have a "
                             "corresponding `tool_result` block in the next message.",
                             i, id);
    }
    return 0;
}

/* Check message i: role, content (a string or blocks), no other member. */
static int
mock_anth_message(struct mock_call *c, json_object *msg, size_t i, size_t n)
{
    static const char *const allowed[] = {"role", "content", NULL};
    json_object *content;
    const char *role;
    char where[48];

    snprintf(where, sizeof(where), "messages.%zu", i);
    if (!json_object_is_type(msg, json_type_object))
        return mock_fail(c, "%s: Input should be a valid dictionary", where);
    if ((role = json_object_get_string(mock_anth_get(msg, "role"))) == NULL)
        return mock_fail(c, "%s.role: Field required", where);
    if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
        return mock_fail(c, "%s.role: Input should be 'user' or 'assistant'", where);
    if ((content = mock_anth_get(msg, "content")) == NULL)
        return mock_fail(c, "%s.content: Field required", where);
    if (mock_anth_extra(c, msg, where, allowed) < 0)
        return -1;
    if (json_object_is_type(content, json_type_string)) {
        if (json_object_get_string_len(content) == 0 && !(i + 1 == n && role[0] == 'a'))
            return mock_fail(c,
                             "%s: all messages must have non-empty content except for the "
                             "optional final assistant message",
                             where);
        return 0;
    }
    if (!json_object_is_type(content, json_type_array))
        return mock_fail(c, "%s.content: Input should be a valid list", where);
    for (size_t k = 0; k < json_object_array_length(content); k++) {
        char sub[96];

        snprintf(sub, sizeof(sub), "%.60s.content.%zu", where, k);
        if (mock_anth_block(c, json_object_array_get_idx(content, k), sub, role[0] == 'u') < 0)
            return -1;
    }
    return 0;
}

/* Check messages: a non-empty list, starting with user, roles alternating,
 * tool calls answered. */
static int
mock_anth_messages(struct mock_call *c, json_object *msgs)
{
    size_t n;

    if (msgs == NULL)
        return mock_fail(c, "messages: Field required");
    if (!json_object_is_type(msgs, json_type_array))
        return mock_fail(c, "messages: Input should be a valid list");
    if ((n = json_object_array_length(msgs)) == 0)
        return mock_fail(c, "messages: at least one message is required");
    for (size_t i = 0; i < n; i++)
        if (mock_anth_message(c, json_object_array_get_idx(msgs, i), i, n) < 0)
            return -1;
    for (size_t i = 0; i < n; i++) {
        const char *role =
            json_object_get_string(mock_anth_get(json_object_array_get_idx(msgs, i), "role"));
        const char *prev = i > 0 ? json_object_get_string(mock_anth_get(
                                       json_object_array_get_idx(msgs, i - 1), "role"))
                                 : NULL;

        if (i == 0 && strcmp(role, "user") != 0)
            return mock_fail(c, "messages: first message must use the \"user\" role");
        if (prev != NULL && strcmp(prev, role) == 0)
            return mock_fail(c,
                             "messages: roles must alternate between \"user\" and \"assistant\", "
                             "but found multiple \"%s\" roles in a row",
                             role);
        if (mock_anth_pairs(c, msgs, i) < 0)
            return -1;
    }
    return 0;
}

/* Check system: a string, or a list of text blocks. */
static int
mock_anth_system(struct mock_call *c, json_object *sys)
{
    if (sys == NULL || json_object_is_type(sys, json_type_string))
        return 0;
    if (!json_object_is_type(sys, json_type_array))
        return mock_fail(c, "system: Input should be a valid list");
    for (size_t i = 0; i < json_object_array_length(sys); i++) {
        json_object *b = json_object_array_get_idx(sys, i);
        const char *t = json_object_get_string(mock_anth_get(b, "type"));
        char where[32];

        snprintf(where, sizeof(where), "system.%zu", i);
        if (!json_object_is_type(b, json_type_object))
            return mock_fail(c, "%s: Input should be a valid dictionary", where);
        if (t == NULL || strcmp(t, "text") != 0)
            return mock_fail(c, "%s.type: Input should be 'text'", where);
        if (mock_anth_text_block(c, b, where) < 0)
            return -1;
    }
    return 0;
}

/* Is s a tool name Anthropic takes: ^[a-zA-Z0-9_-]{1,128}$? */
static int
mock_anth_name_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

    return n >= 1 && n <= 128 && s[n] == '\0';
}

/* Check tools: name, description, input_schema (an object of type
 * "object"), eager_input_streaming (a boolean or null: fine-grained tool
 * streaming, which the mock's pieces already are), names unique. */
static int
mock_anth_tools(struct mock_call *c, json_object *tools)
{
    static const char *const allowed[] = {"name", "description",   "input_schema",
                                          "type", "cache_control", "eager_input_streaming",
                                          NULL};

    if (tools == NULL)
        return 0;
    if (!json_object_is_type(tools, json_type_array))
        return mock_fail(c, "tools: Input should be a valid list");
    for (size_t i = 0; i < json_object_array_length(tools); i++) {
        json_object *t = json_object_array_get_idx(tools, i), *schema, *eager;
        const char *name, *st;
        char where[32];

        snprintf(where, sizeof(where), "tools.%zu", i);
        if (!json_object_is_type(t, json_type_object))
            return mock_fail(c, "%s: Input should be a valid dictionary", where);
        if (mock_anth_string(c, t, where, "name", 1) < 0 ||
            mock_anth_string(c, t, where, "description", 0) < 0)
            return -1;
        name = json_object_get_string(mock_anth_get(t, "name"));
        if (!mock_anth_name_ok(name))
            return mock_fail(c, "%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
                             where);
        if ((schema = mock_anth_get(t, "input_schema")) == NULL)
            return mock_fail(c, "%s.input_schema: Field required", where);
        st = json_object_get_string(mock_anth_get(schema, "type"));
        if (!json_object_is_type(schema, json_type_object) || st == NULL ||
            strcmp(st, "object") != 0)
            return mock_fail(c, "%s.input_schema.type: Input should be 'object'", where);
        if ((eager = mock_anth_get(t, "eager_input_streaming")) != NULL &&
            !json_object_is_type(eager, json_type_boolean))
            return mock_fail(c, "%s.eager_input_streaming: Input should be a valid boolean", where);
        if (mock_anth_extra(c, t, where, allowed) < 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(name, json_object_get_string(
                                 mock_anth_get(json_object_array_get_idx(tools, k), "name"))) == 0)
                return mock_fail(c, "tools: Tool names must be unique.");
    }
    return 0;
}

/* Check tool_choice: {"type": auto|any|tool|none}, a name for "tool". */
static int
mock_anth_tool_choice(struct mock_call *c, json_object *tc, json_object *tools)
{
    const char *t;

    if (tc == NULL)
        return 0;
    if (!json_object_is_type(tc, json_type_object))
        return mock_fail(c, "tool_choice: Input should be a valid dictionary");
    t = json_object_get_string(mock_anth_get(tc, "type"));
    if (t == NULL || (strcmp(t, "auto") != 0 && strcmp(t, "any") != 0 && strcmp(t, "tool") != 0 &&
                      strcmp(t, "none") != 0))
        return mock_fail(c,
                         "tool_choice: Input tag '%.40s' found using 'type' does not match any of "
                         "the expected tags: 'auto', 'any', 'tool', 'none'",
                         t != NULL ? t : "");
    if (strcmp(t, "tool") == 0 && mock_anth_string(c, tc, "tool_choice", "name", 1) < 0)
        return -1;
    if (tools == NULL && strcmp(t, "none") != 0)
        return mock_fail(c, "tool_choice may only be specified while providing tools.");
    return 0;
}

/* Check stop_sequences: a list of strings. */
static int
mock_anth_stops(struct mock_call *c, json_object *stops)
{
    if (stops == NULL)
        return 0;
    if (!json_object_is_type(stops, json_type_array))
        return mock_fail(c, "stop_sequences: Input should be a valid list");
    for (size_t i = 0; i < json_object_array_length(stops); i++)
        if (!json_object_is_type(json_object_array_get_idx(stops, i), json_type_string))
            return mock_fail(c, "stop_sequences.%zu: Input should be a valid string", i);
    return 0;
}

/* Check a Messages request (count: a count_tokens request). */
static int
mock_anth_check_body(struct mock_call *c, json_object *body, int count)
{
    json_object *stream = mock_anth_get(body, "stream");

    if (mock_anth_string(c, body, "", "model", 1) < 0)
        return -1;
    if (!count && mock_anth_get(body, "max_tokens") == NULL)
        return mock_fail(c, "max_tokens: Field required");
    if (mock_anth_number(c, body, "max_tokens", 1, 1e9, 1) < 0 ||
        mock_anth_messages(c, mock_anth_get(body, "messages")) < 0 ||
        mock_anth_system(c, mock_anth_get(body, "system")) < 0 ||
        mock_anth_tools(c, mock_anth_get(body, "tools")) < 0 ||
        mock_anth_tool_choice(c, mock_anth_get(body, "tool_choice"), mock_anth_get(body, "tools")) <
            0 ||
        mock_anth_stops(c, mock_anth_get(body, "stop_sequences")) < 0 ||
        mock_anth_number(c, body, "temperature", 0, 1, 0) < 0 ||
        mock_anth_number(c, body, "top_p", 0, 1, 0) < 0 ||
        mock_anth_number(c, body, "top_k", 0, 1e9, 1) < 0)
        return -1;
    if (stream != NULL && !json_object_is_type(stream, json_type_boolean))
        return mock_fail(c, "stream: Input should be a valid boolean");
    return mock_anth_extra(c, body, "", count ? mock_anth_count_fields : mock_anth_fields);
}

/* ------------------------------------------------------------------ */
/* Reading the request                                                */
/* ------------------------------------------------------------------ */

/* Count the words of a string or of the text blocks in a list (and of the
 * content of tool_result blocks). */
static long
mock_anth_words(json_object *v)
{
    long n = 0;

    if (json_object_is_type(v, json_type_string))
        return mock_json_words(v);
    for (size_t i = 0; json_object_is_type(v, json_type_array) && i < json_object_array_length(v);
         i++) {
        json_object *b = json_object_array_get_idx(v, i);
        const char *t = json_object_get_string(mock_anth_get(b, "type"));

        if (t != NULL && strcmp(t, "text") == 0)
            n += mock_json_words(mock_anth_get(b, "text"));
        else if (t != NULL && strcmp(t, "tool_result") == 0)
            n += mock_anth_words(mock_anth_get(b, "content"));
    }
    return n;
}

/* The input tokens: the words of system and of every message. */
static long
mock_anth_input_tokens(json_object *body)
{
    json_object *msgs = mock_anth_get(body, "messages");
    long n = mock_anth_words(mock_anth_get(body, "system"));

    for (size_t i = 0; i < json_object_array_length(msgs); i++)
        n += mock_anth_words(mock_anth_get(json_object_array_get_idx(msgs, i), "content"));
    return n;
}

/* Parse a Messages request: the reply is text, or the tool call of the
 * tool_call control; a max_tokens below chunks cuts the text short. */
static int
mock_anth_parse(struct mock_call *c, json_object *body)
{
    json_object *v;
    long max;

    if (mock_anth_check_body(c, body, 0) < 0)
        return -1;
    v = mock_anth_get(body, "model");
    c->model = json_object_get_string(v);
    c->model_len = (size_t)json_object_get_string_len(v);
    c->stream = (v = mock_anth_get(body, "stream")) != NULL && json_object_get_boolean(v);
    c->prompt_tokens = mock_anth_input_tokens(body);
    max = (long)json_object_get_int64(mock_anth_get(body, "max_tokens"));
    mock_tool_use(c, c->ctl.chunks);
    if (!c->tool && max < c->ctl.chunks) {
        c->npieces = max;
        c->out_tokens = max;
        c->finish = MOCK_FIN_LENGTH;
    }
    return 0;
}

/* Parse a count_tokens request. */
static int
mock_anth_count_parse(struct mock_call *c, json_object *body)
{
    if (mock_anth_check_body(c, body, 1) < 0)
        return -1;
    c->prompt_tokens = mock_anth_input_tokens(body);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Responses                                                          */
/* ------------------------------------------------------------------ */

/* Return the stop_reason of the reply. */
static const char *
mock_anth_stop_reason(const struct mock_call *c)
{
    switch (c->finish) {
    case MOCK_FIN_LENGTH:
        return "max_tokens";
    case MOCK_FIN_TOOL:
        return "tool_use";
    default:
        return "end_turn";
    }
}

/* Append the tool_use block; input is {} for the stream's start. */
static void
mock_anth_tool_block(const struct mock_call *c, int empty, struct evbuffer *out)
{
    MOCK_LIT(out, "{\"type\":\"tool_use\",\"id\":");
    mock_tool_id_json(c, "toolu_mock", out);
    MOCK_LIT(out, ",\"name\":");
    mock_json_cstr(out, c->tool_name);
    MOCK_LIT(out, ",\"input\":");
    if (empty)
        MOCK_LIT(out, "{}");
    else
        evbuffer_add(out, c->text.s, c->text.len);
    MOCK_LIT(out, "}");
}

/* Append the message object up to its content. */
static void
mock_anth_head(const struct mock_call *c, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "{\"id\":\"msg_mock%lu\",\"type\":\"message\",\"role\":\"assistant\","
                        "\"model\":",
                        c->seq);
    mock_json_str(out, c->model, c->model_len);
}

/* Append a non-stream message: one text block (none for an empty reply),
 * or one tool_use block. */
static void
mock_anth_body(struct mock_call *c, struct evbuffer *out)
{
    mock_anth_head(c, out);
    MOCK_LIT(out, ",\"content\":[");
    if (c->tool) {
        mock_anth_tool_block(c, 0, out);
    } else if (c->npieces > 0) {
        MOCK_LIT(out, "{\"type\":\"text\",\"text\":");
        mock_text_json(c, out);
        MOCK_LIT(out, "}");
    }
    evbuffer_add_printf(out,
                        "],\"stop_reason\":\"%s\",\"stop_sequence\":null,"
                        "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}}",
                        mock_anth_stop_reason(c), c->prompt_tokens, c->out_tokens);
}

/* Append a count_tokens answer. */
static void
mock_anth_count_body(struct mock_call *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"input_tokens\":%ld}", c->prompt_tokens);
}

/* Streams: message_start, content_block_start, ping; the deltas;
 * content_block_stop, message_delta, message_stop. */
static void
mock_anth_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = 3;
    *tail = 3;
}

/* Append the framing event before the deltas (i < 3) or after them. */
static void
mock_anth_framing(struct mock_call *c, long i, struct evbuffer *out)
{
    long after = i - c->head - c->npieces;

    if (i == 0) {
        MOCK_LIT(out, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
        mock_anth_head(c, out);
        evbuffer_add_printf(out,
                            ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
                            "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":1}}}\n\n",
                            c->prompt_tokens);
    } else if (i == 1) {
        MOCK_LIT(out, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
                      "\"index\":0,\"content_block\":");
        if (c->tool)
            mock_anth_tool_block(c, 1, out);
        else
            MOCK_LIT(out, "{\"type\":\"text\",\"text\":\"\"}");
        MOCK_LIT(out, "}\n\n");
    } else if (i == 2) {
        MOCK_LIT(out, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
    } else if (after == 0) {
        MOCK_LIT(out, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
                      "\"index\":0}\n\n");
    } else if (after == 1) {
        evbuffer_add_printf(out,
                            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
                            "{\"stop_reason\":\"%s\",\"stop_sequence\":null},\"usage\":"
                            "{\"output_tokens\":%ld}}\n\n",
                            mock_anth_stop_reason(c), c->out_tokens);
    } else {
        MOCK_LIT(out, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
}

/* Append stream event i: a text_delta or input_json_delta per piece. */
static void
mock_anth_event(struct mock_call *c, long i, struct evbuffer *out)
{
    long k = i - c->head;

    if (k < 0 || k >= c->npieces) {
        mock_anth_framing(c, i, out);
        return;
    }
    MOCK_LIT(out, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                  "\"index\":0,\"delta\":");
    MOCK_LIT(out, "{\"type\":");
    if (c->tool)
        MOCK_LIT(out, "\"input_json_delta\",\"partial_json\":");
    else
        MOCK_LIT(out, "\"text_delta\",\"text\":");
    mock_piece_json(c, k, out);
    MOCK_LIT(out, "}}\n\n");
}

/* The stream_error control: the error event of an overloaded stream. */
static void
mock_anth_stream_error(struct mock_call *c, struct evbuffer *out)
{
    MOCK_LIT(out,
             "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
             "\"message\":\"Overloaded\"}}\n\n");
}

const struct mock_format mock_fmt_anth_messages = {
    &mock_prov_anthropic, mock_anth_parse, mock_anth_body,
    mock_anth_frame,      mock_anth_event, mock_anth_stream_error,
};
const struct mock_format mock_fmt_anth_count = {
    &mock_prov_anthropic, mock_anth_count_parse, mock_anth_count_body, NULL, NULL, NULL,
};

/* ------------------------------------------------------------------ */
/* Claude on Vertex AI (publishers/anthropic): rawPredict              */
/* ------------------------------------------------------------------ */

/* The bearer token (mock_vertex.c); the answers carry a request-id as Anthropic's. */
static int
mock_vx_anth_check(struct mock_call *c)
{
    char buf[160];
    snprintf(buf, sizeof(buf), "req_mock%lu", c->seq);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "request-id", buf);
    return mock_vertex_bearer(c);
}

/*
 * Vertex's Messages body: anthropic_version "vertex-2023-10-16" in the
 * body, no model (the URL names it); then the Messages checks with the
 * path's model put in, so the answer names it.
 */
static int
mock_vx_anth_parse(struct mock_call *c, json_object *body)
{
    json_object *v;
    if (body == NULL || !json_object_object_get_ex(body, "anthropic_version", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "vertex-2023-10-16") != 0)
        return mock_fail(c, "anthropic_version: Input should be 'vertex-2023-10-16'");
    if (json_object_object_get_ex(body, "model", NULL))
        return mock_fail(c, "model: Extra inputs are not permitted");
    if ((c->fmt == &mock_fmt_vx_anth_stream) !=
        (json_object_object_get_ex(body, "stream", &v) && json_object_get_boolean(v)))
        return mock_fail(c, "stream: must be true for streamRawPredict, else absent or false");
    /* a copy: /mock/last shows the body as it came */
    json_object *copy = NULL;
    if (json_object_deep_copy(body, &copy, NULL) < 0)
        abort();
    json_object_object_del(copy, "anthropic_version");
    json_object_object_add(copy, "model", json_object_new_string(c->param ? c->param : "?"));
    c->body2 = copy; /* the controls may point into c->body: both live as long as the call */
    return mock_anth_parse(c, copy);
}

static const struct mock_provider mock_prov_vx_anthropic = {
    "vertex",
    mock_vx_anth_check,
    mock_anth_error,
    "There was an issue with the format or content of your request: the body is not valid JSON",
};

const struct mock_format mock_fmt_vx_anth_raw = {
    &mock_prov_vx_anthropic, mock_vx_anth_parse, mock_anth_body,
    mock_anth_frame,         mock_anth_event,    mock_anth_stream_error,
};
const struct mock_format mock_fmt_vx_anth_stream = {
    &mock_prov_vx_anthropic, mock_vx_anth_parse, mock_anth_body,
    mock_anth_frame,         mock_anth_event,    mock_anth_stream_error,
};
