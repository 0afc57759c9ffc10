/* SPDX-License-Identifier: Apache-2.0 */
/* mock_openai.c: OpenAI's wire formats: chat completions, (legacy)
 * completions, embeddings, models; and the same behind Azure OpenAI's
 * /openai/deployments/{deployment}/... with its api-key header, its
 * api-version query, its errors and its content filter results. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"

/* Append an OpenAI-shaped error body; code may be NULL. */
void
mock_oai_error(struct evbuffer *out, const char *msg, const char *type, const char *code)
{
    MOCK_LIT(out, "{\"error\":{\"message\":");
    mock_json_cstr(out, msg);
    MOCK_LIT(out, ",\"type\":");
    mock_json_cstr(out, type);
    MOCK_LIT(out, ",\"param\":null,\"code\":");
    if (code != NULL)
        mock_json_cstr(out, code);
    else
        MOCK_LIT(out, "null");
    MOCK_LIT(out, "}}");
}

/* The provider's error: OpenAI's shape whatever the status. */
static void
mock_oai_call_error(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
                    const char *type, const char *code)
{
    mock_oai_error(out, msg, type, code);
}

/* With -k, the request's Authorization must be "Bearer <the key>". */
static int
mock_oai_check(struct mock_call *c)
{
    const char *v = mock_header(c, "Authorization");

    if (mock.api_key == NULL ||
        (v != NULL && strncasecmp(v, "Bearer ", 7) == 0 && strcmp(v + 7, mock.api_key) == 0))
        return 0;
    mock_send_error(c, 401, "Incorrect API key provided", "invalid_request_error",
                    "invalid_api_key");
    return -1;
}

const struct mock_provider mock_prov_openai = {
    "openai",
    mock_oai_check,
    mock_oai_call_error,
    "We could not parse the JSON body of your request.",
};

/* Azure's errors: a 400 comes from the model, in OpenAI's shape; the others
 * (401, 404, 429, 5xx) from Azure, as {"error":{"code":"401","message"}}. */
static void
mock_az_error(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
              const char *type, const char *code)
{
    if (status == 400) {
        mock_oai_error(out, msg, type, code);
        return;
    }
    if (code != NULL && strcmp(code, "unknown_url") == 0)
        msg = "Resource not found";
    evbuffer_add_printf(out, "{\"error\":{\"code\":\"%d\",\"message\":", status);
    mock_json_cstr(out, msg);
    MOCK_LIT(out, "}}");
}

/* Is v an api-version: YYYY-MM-DD, maybe followed by "-preview"? */
static int
mock_az_version_ok(const char *v)
{
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? v[i] != '-' : !(v[i] >= '0' && v[i] <= '9'))
            return 0;
    return v[10] == '\0' || strcmp(v + 10, "-preview") == 0;
}

/* The key in api-key (with -k). */
static int
mock_az_key_check(struct mock_call *c)
{
    const char *key = mock_header(c, "api-key");

    if (mock.api_key != NULL && key == NULL) {
        mock_send_error(c, 401,
                        "Access denied due to missing subscription key. Make sure to include "
                        "subscription key when making requests to an API.",
                        NULL, NULL);
        return -1;
    }
    if (mock.api_key != NULL && strcmp(key, mock.api_key) != 0) {
        mock_send_error(c, 401,
                        "Access denied due to invalid subscription key or wrong API endpoint. "
                        "Make sure to provide a valid key for an active subscription and use a "
                        "correct regional API endpoint for your resource.",
                        NULL, NULL);
        return -1;
    }
    return 0;
}

/* An api-version in the query (without one Azure knows no such resource),
 * then the key in api-key (with -k). */
static int
mock_az_check(struct mock_call *c)
{
    char *ver = mock_query(c, "api-version");
    int ok = ver != NULL && mock_az_version_ok(ver);

    free(ver);
    if (!ok) {
        mock_send_error(c, 404, "Resource not found", NULL, NULL);
        return -1;
    }
    return mock_az_key_check(c);
}

/* Azure's v1 API (/openai/v1/...): no api-version, the key in api-key. */
const struct mock_provider mock_prov_azure_v1 = {
    "azure",
    mock_az_key_check,
    mock_az_error,
    "We could not parse the JSON body of your request.",
};

const struct mock_provider mock_prov_azure = {
    "azure",
    mock_az_check,
    mock_az_error,
    "We could not parse the JSON body of your request.",
};

/* The content filter's verdict on the prompt and on every piece. */
#define MOCK_AZ_SAFE                                                                               \
    "{\"hate\":{\"filtered\":false,\"severity\":\"safe\"},"                                        \
    "\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},"                                    \
    "\"sexual\":{\"filtered\":false,\"severity\":\"safe\"},"                                       \
    "\"violence\":{\"filtered\":false,\"severity\":\"safe\"}}"

/* Is the call Azure's? */
static int
mock_az(const struct mock_call *c)
{
    return c->prov == &mock_prov_azure;
}

/* End a choice: with Azure, its content_filter_results (the verdict, or
 * empty for the role and finish chunks). */
static void
mock_oai_choice_end(const struct mock_call *c, int safe, struct evbuffer *out)
{
    if (!mock_az(c))
        MOCK_LIT(out, "}");
    else if (safe)
        MOCK_LIT(out, ",\"content_filter_results\":" MOCK_AZ_SAFE "}");
    else
        MOCK_LIT(out, ",\"content_filter_results\":{}}");
}

/* ------------------------------------------------------------------ */
/* OpenAI request bodies                                               */
/* ------------------------------------------------------------------ */

/* Count the words of a string, or of an array of strings / token ids. */
static long
mock_oai_count(json_object *v)
{
    long n = 0;

    if (json_object_is_type(v, json_type_string))
        return mock_json_words(v);
    if (json_object_is_type(v, json_type_int))
        return 1;
    if (!json_object_is_type(v, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(v); i++)
        n += mock_oai_count(json_object_array_get_idx(v, i));
    return n;
}

/* Count the words of one chat message's content (string or text parts). */
static long
mock_oai_content_words(json_object *content)
{
    long n = 0;
    json_object *type, *text;

    if (json_object_is_type(content, json_type_string))
        return mock_json_words(content);
    if (!json_object_is_type(content, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i);
        if (json_object_object_get_ex(part, "type", &type) &&
            json_object_is_type(type, json_type_string) &&
            strcmp(json_object_get_string(type), "text") == 0 &&
            json_object_object_get_ex(part, "text", &text) &&
            json_object_is_type(text, json_type_string))
            n += mock_json_words(text);
    }
    return n;
}

/* Read model, stream and stream_options.include_usage. */
static void
mock_oai_common(struct mock_call *c, json_object *body)
{
    json_object *v, *opts;

    c->model = "mock-1";
    c->model_len = 6;
    if (json_object_object_get_ex(body, "model", &v) && json_object_is_type(v, json_type_string)) {
        c->model = json_object_get_string(v);
        c->model_len = (size_t)json_object_get_string_len(v);
    }
    c->stream = json_object_object_get_ex(body, "stream", &v) &&
                json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    c->include_usage = c->stream && json_object_object_get_ex(body, "stream_options", &opts) &&
                       json_object_object_get_ex(opts, "include_usage", &v) &&
                       json_object_get_boolean(v);
}

/* Parse a chat completions request. */
static int
mock_chat_parse(struct mock_call *c, json_object *body)
{
    json_object *msgs, *content;

    mock_oai_common(c, body);
    mock_tool_use(c, c->ctl.chunks);
    if (!json_object_object_get_ex(body, "messages", &msgs))
        return 0;
    if (!json_object_is_type(msgs, json_type_array)) {
        c->err = "'messages' must be an array";
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(msgs); i++)
        if (json_object_object_get_ex(json_object_array_get_idx(msgs, i), "content", &content))
            c->prompt_tokens += mock_oai_content_words(content);
    return 0;
}

/* Parse a (legacy) completions request. */
static int
mock_completion_parse(struct mock_call *c, json_object *body)
{
    json_object *prompt;

    mock_oai_common(c, body);
    if (json_object_object_get_ex(body, "prompt", &prompt))
        c->prompt_tokens = mock_oai_count(prompt);
    return 0;
}

/* Parse an embeddings request. */
static int
mock_embed_parse(struct mock_call *c, json_object *body)
{
    json_object *fmt;

    mock_oai_common(c, body);
    c->stream = 0;
    c->include_usage = 0;
    if (!json_object_object_get_ex(body, "input", &c->input) ||
        !(json_object_is_type(c->input, json_type_string) ||
          json_object_is_type(c->input, json_type_array))) {
        c->err = "'input' must be a string or an array";
        return -1;
    }
    c->prompt_tokens = mock_oai_count(c->input);
    /* the openai SDKs ask for base64 unless told otherwise, and decode it themselves */
    if (json_object_object_get_ex(body, "encoding_format", &fmt) && fmt != NULL) {
        const char *f = json_object_get_string(fmt);
        if (!json_object_is_type(fmt, json_type_string) ||
            (strcmp(f, "float") != 0 && strcmp(f, "base64") != 0)) {
            c->err = "'encoding_format' must be 'float' or 'base64'";
            return -1;
        }
        c->embed_b64 = strcmp(f, "base64") == 0;
    }
    return 0;
}

/* Models has no body to read. */
static int
mock_models_parse(struct mock_call *c, json_object *body)
{
    c->stream = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* OpenAI responses                                                    */
/* ------------------------------------------------------------------ */

/* Append the fields every completion object starts with. */
static void
mock_oai_head(const struct mock_call *c, int chat, const char *object, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "{\"id\":\"%s-mock-%lu\",\"object\":\"%s\",\"created\":%lld,\"model\":",
                        chat ? "chatcmpl" : "cmpl", c->seq, object, (long long)c->created);
    mock_json_str(out, c->model, c->model_len);
}

/* Return the finish_reason of the reply. */
static const char *
mock_oai_finish(const struct mock_call *c)
{
    switch (c->finish) {
    case MOCK_FIN_LENGTH:
        return "length";
    case MOCK_FIN_TOOL:
        return "tool_calls";
    default:
        return "stop";
    }
}

/* Append the assistant message of a chat completion: its text, or its
 * tool call with the arguments as one JSON string. */
static void
mock_chat_message(const struct mock_call *c, struct evbuffer *out)
{
    if (!c->tool) {
        MOCK_LIT(out, "{\"role\":\"assistant\",\"content\":");
        mock_text_json(c, out);
        MOCK_LIT(out, "}");
        return;
    }
    MOCK_LIT(out, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":");
    mock_tool_id_json(c, "call_mock", out);
    MOCK_LIT(out, ",\"type\":\"function\",\"function\":{\"name\":");
    mock_json_cstr(out, c->tool_name);
    MOCK_LIT(out, ",\"arguments\":");
    mock_json_str(out, c->text.s, c->text.len);
    MOCK_LIT(out, "}}]}");
}

/* Append a non-stream chat.completion or text_completion. */
static void
mock_oai_body(struct mock_call *c, int chat, struct evbuffer *out)
{
    mock_oai_head(c, chat, chat ? "chat.completion" : "text_completion", out);
    if (chat) {
        MOCK_LIT(out, ",\"choices\":[{\"index\":0,\"message\":");
        mock_chat_message(c, out);
    } else {
        MOCK_LIT(out, ",\"choices\":[{\"index\":0,\"text\":");
        mock_text_json(c, out);
    }
    evbuffer_add_printf(out, ",\"logprobs\":null,\"finish_reason\":\"%s\"", mock_oai_finish(c));
    mock_oai_choice_end(c, 1, out);
    MOCK_LIT(out, "],\"usage\":");
    mock_usage_json(c, c->out_tokens, out);
    if (mock_az(c) && chat)
        MOCK_LIT(out, ",\"prompt_filter_results\":[{\"prompt_index\":0,"
                      "\"content_filter_results\":" MOCK_AZ_SAFE "}]");
    evbuffer_add(out, "}", 1);
}

/* Append a non-stream chat completion. */
static void
mock_chat_body(struct mock_call *c, struct evbuffer *out)
{
    mock_oai_body(c, 1, out);
}

/* Append a non-stream text completion. */
static void
mock_completion_body(struct mock_call *c, struct evbuffer *out)
{
    mock_oai_body(c, 0, out);
}

/* Append the delta of a chat stream's role chunk: with a tool call, the
 * call's id and name (the arguments follow in pieces). */
static void
mock_chat_role_delta(const struct mock_call *c, struct evbuffer *out)
{
    if (!c->tool) {
        MOCK_LIT(out, "{\"role\":\"assistant\",\"content\":\"\"}");
        return;
    }
    MOCK_LIT(out, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":");
    mock_tool_id_json(c, "call_mock", out);
    MOCK_LIT(out, ",\"type\":\"function\",\"function\":{\"name\":");
    mock_json_cstr(out, c->tool_name);
    MOCK_LIT(out, ",\"arguments\":\"\"}}]}");
}

/* Append one choice of a stream chunk: piece k, or the finish (k < 0). */
static void
mock_oai_choice(const struct mock_call *c, int chat, long k, struct evbuffer *out)
{
    if (k < 0 && chat) {
        evbuffer_add_printf(out,
                            "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"",
                            mock_oai_finish(c));
    } else if (k < 0) {
        evbuffer_add_printf(out,
                            "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"%s\"",
                            mock_oai_finish(c));
    } else if (chat && c->tool) {
        MOCK_LIT(out, "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{"
                      "\"arguments\":");
        mock_piece_json(c, k, out);
        MOCK_LIT(out, "}}]},\"logprobs\":null,\"finish_reason\":null");
    } else if (chat) {
        MOCK_LIT(out, "{\"index\":0,\"delta\":{\"content\":");
        mock_piece_json(c, k, out);
        MOCK_LIT(out, "},\"logprobs\":null,\"finish_reason\":null");
    } else {
        MOCK_LIT(out, "{\"index\":0,\"text\":");
        mock_piece_json(c, k, out);
        MOCK_LIT(out, ",\"logprobs\":null,\"finish_reason\":null");
    }
    mock_oai_choice_end(c, k >= 0, out);
}

/* Append Azure's first chat stream chunk: no choice, only the content
 * filter's verdict on the prompt. */
static void
mock_az_filter_chunk(const struct mock_call *c, struct evbuffer *out)
{
    MOCK_LIT(
        out,
        "data: {\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],"
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":" MOCK_AZ_SAFE
        "}]");
    if (c->include_usage)
        MOCK_LIT(out, ",\"usage\":null");
    MOCK_LIT(out, "}\n\n");
}

/* Append stream event i of a chat or text completion stream. */
static void
mock_oai_event(struct mock_call *c, int chat, long i, struct evbuffer *out)
{
    long k = i - c->head, n = c->npieces;

    if (k > n + c->include_usage) {
        MOCK_LIT(out, "data: [DONE]\n\n");
        return;
    }
    if (chat && mock_az(c) && i == 0) {
        mock_az_filter_chunk(c, out);
        return;
    }
    MOCK_LIT(out, "data: ");
    mock_oai_head(c, chat, chat ? "chat.completion.chunk" : "text_completion", out);
    MOCK_LIT(out, ",\"choices\":[");
    if (k < 0) {
        MOCK_LIT(out, "{\"index\":0,\"delta\":");
        mock_chat_role_delta(c, out);
        MOCK_LIT(out, ",\"logprobs\":null,\"finish_reason\":null");
        mock_oai_choice_end(c, 0, out);
    } else if (k <= n) {
        mock_oai_choice(c, chat, k < n ? k : -1, out);
    }
    if (k == n + 1) {
        MOCK_LIT(out, "],\"usage\":");
        mock_usage_json(c, c->out_tokens, out);
        MOCK_LIT(out, "}\n\n");
    } else if (c->include_usage) {
        MOCK_LIT(out, "],\"usage\":null}\n\n");
    } else {
        MOCK_LIT(out, "]}\n\n");
    }
}

/* Chat streams: a role event first (Azure: after the prompt filter's);
 * then finish, [usage], [DONE]. */
static void
mock_chat_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = mock_az(c) ? 2 : 1; /* Azure: the prompt filter's chunk first */
    *tail = 2 + c->include_usage;
}

/* Completion streams: no role event; then finish, [usage], [DONE]. */
static void
mock_completion_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = 0;
    *tail = 2 + c->include_usage;
}

/* Append chat stream event i. */
static void
mock_chat_event(struct mock_call *c, long i, struct evbuffer *out)
{
    mock_oai_event(c, 1, i, out);
}

/* Append text completion stream event i. */
static void
mock_completion_event(struct mock_call *c, long i, struct evbuffer *out)
{
    mock_oai_event(c, 0, i, out);
}

/* The stream_error control: the error event OpenAI sends when a stream
 * fails after its 200 (no [DONE] follows). */
static void
mock_oai_stream_error(struct mock_call *c, struct evbuffer *out)
{
    MOCK_LIT(out, "data: ");
    mock_oai_error(out, "The server had an error while processing your request. Sorry about that!",
                   "server_error", NULL);
    MOCK_LIT(out, "\n\n");
}

/* Append the standard base64 of n bytes. */
static void
mock_b64(const unsigned char *p, size_t n, struct evbuffer *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {abc[v >> 18], abc[(v >> 12) & 63], i + 1 < n ? abc[(v >> 6) & 63] : '=',
                     i + 2 < n ? abc[v & 63] : '='};

        evbuffer_add(out, q, 4);
    }
}

/*
 * Append one deterministic embedding derived from the input's length and
 * index: MOCK_EMBED_DIM numbers k/32768 - 1, exact in a float32. As JSON
 * numbers, or with b64 as OpenAI sends encoding_format "base64": one string,
 * the base64 of the little-endian float32s.
 */
static void
mock_embed_one(size_t len, size_t idx, int b64, struct evbuffer *out)
{
    uint32_t h = (uint32_t)len * 2654435761u ^ ((uint32_t)idx + 1) * 40503u;
    unsigned char raw[MOCK_EMBED_DIM * 4];

    evbuffer_add_printf(out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":%s",
                        idx ? "," : "", idx, b64 ? "\"" : "[");
    for (int k = 0; k < MOCK_EMBED_DIM; k++) {
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        float f = (float)((double)(h & 0xffff) / 32768.0 - 1.0);
        uint32_t bits;

        memcpy(&bits, &f, 4);
        for (int b = 0; b < 4; b++)
            raw[k * 4 + b] = (unsigned char)(bits >> (8 * b));
        if (!b64)
            evbuffer_add_printf(out, "%s%.6f", k ? "," : "", (double)f);
    }
    if (b64)
        mock_b64(raw, sizeof(raw), out);
    evbuffer_add(out, b64 ? "\"}" : "]}", 2);
}

/* Return the length an embedding input item is derived from. */
static size_t
mock_embed_len(json_object *item)
{
    if (json_object_is_type(item, json_type_string))
        return (size_t)json_object_get_string_len(item);
    if (json_object_is_type(item, json_type_array))
        return json_object_array_length(item);
    return 0;
}

/* Append an embeddings list: one item per string (or token array). */
static void
mock_embed_body(struct mock_call *c, struct evbuffer *out)
{
    json_object *in = c->input;
    int single = json_object_is_type(in, json_type_string) ||
                 (json_object_array_length(in) > 0 &&
                  json_object_is_type(json_object_array_get_idx(in, 0), json_type_int));

    evbuffer_add(out, "{\"object\":\"list\",\"data\":[", 25);
    if (single)
        mock_embed_one(mock_embed_len(in), 0, c->embed_b64, out);
    else
        for (size_t i = 0; i < json_object_array_length(in); i++)
            mock_embed_one(mock_embed_len(json_object_array_get_idx(in, i)), i, c->embed_b64, out);
    evbuffer_add(out, "],\"model\":", 10);
    mock_json_str(out, c->model, c->model_len);
    evbuffer_add_printf(out, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}",
                        c->prompt_tokens, c->prompt_tokens);
}

/* Append the model list. */
static void
mock_models_body(struct mock_call *c, struct evbuffer *out)
{
    static const char body[] =
        "{\"object\":\"list\",\"data\":["
        "{\"id\":\"mock-1\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"aigw-mock\"}"
        ","
        "{\"id\":\"mock-2\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"aigw-mock\"}"
        "]}";

    evbuffer_add(out, body, sizeof(body) - 1);
}

const struct mock_format mock_fmt_chat = {
    &mock_prov_openai, mock_chat_parse, mock_chat_body,
    mock_chat_frame,   mock_chat_event, mock_oai_stream_error,
};
const struct mock_format mock_fmt_completion = {
    &mock_prov_openai,     mock_completion_parse, mock_completion_body,
    mock_completion_frame, mock_completion_event, mock_oai_stream_error,
};
const struct mock_format mock_fmt_embed = {
    &mock_prov_openai, mock_embed_parse, mock_embed_body, NULL, NULL, NULL,
};
const struct mock_format mock_fmt_models = {
    &mock_prov_openai, mock_models_parse, mock_models_body, NULL, NULL, NULL,
};

/* ------------------------------------------------------------------ */
/* Azure OpenAI                                                       */
/* ------------------------------------------------------------------ */

/* Azure: the deployment in the path is the model; the body's is ignored. */
static void
mock_az_model(struct mock_call *c)
{
    c->model = c->param;
    c->model_len = strlen(c->param);
}

/* Parse a chat completions request sent to an Azure deployment. */
static int
mock_az_chat_parse(struct mock_call *c, json_object *body)
{
    if (mock_chat_parse(c, body) < 0)
        return -1;
    mock_az_model(c);
    return 0;
}

/* Parse a completions request sent to an Azure deployment. */
static int
mock_az_completion_parse(struct mock_call *c, json_object *body)
{
    if (mock_completion_parse(c, body) < 0)
        return -1;
    mock_az_model(c);
    return 0;
}

/* Parse an embeddings request sent to an Azure deployment. */
static int
mock_az_embed_parse(struct mock_call *c, json_object *body)
{
    if (mock_embed_parse(c, body) < 0)
        return -1;
    mock_az_model(c);
    return 0;
}

const struct mock_format mock_fmt_az_chat = {
    &mock_prov_azure, mock_az_chat_parse, mock_chat_body,
    mock_chat_frame,  mock_chat_event,    mock_oai_stream_error,
};
const struct mock_format mock_fmt_az_completion = {
    &mock_prov_azure,      mock_az_completion_parse, mock_completion_body,
    mock_completion_frame, mock_completion_event,    mock_oai_stream_error,
};
const struct mock_format mock_fmt_az_embed = {
    &mock_prov_azure, mock_az_embed_parse, mock_embed_body, NULL, NULL, NULL,
};
