/* SPDX-License-Identifier: Apache-2.0 */
/* mock_responses.c: OpenAI's Responses API (POST /v1/responses), and the
 * same on Azure OpenAI's v1 API (POST /openai/v1/responses, the deployment
 * as the body's model, the key in api-key). A response object, or a stream
 * of typed events as OpenAI sends them: "event: TYPE" and "data: {...}"
 * with its type and sequence_number, ending with response.completed (and
 * its usage); no [DONE]. The reply is a message with one output_text, or
 * with the tool_call control a function_call item. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

/* Count the words of one input item's content: a string, or input_text parts. */
static long
mock_resp_content_words(json_object *content)
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
            strcmp(json_object_get_string(type), "input_text") == 0 &&
            json_object_object_get_ex(part, "text", &text) &&
            json_object_is_type(text, json_type_string))
            n += mock_json_words(text);
    }
    return n;
}

/* Parse a responses request: the prompt is instructions, and input (a
 * string, or items: messages' content, function_call_output's output). */
static int
mock_resp_parse(struct mock_call *c, json_object *body)
{
    json_object *v, *item;

    c->model = "mock-1";
    c->model_len = 6;
    if (json_object_object_get_ex(body, "model", &v) && json_object_is_type(v, json_type_string)) {
        c->model = json_object_get_string(v);
        c->model_len = (size_t)json_object_get_string_len(v);
    }
    c->stream = json_object_object_get_ex(body, "stream", &v) &&
                json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    c->include_usage = 0;
    mock_tool_use(c, c->ctl.chunks);
    if (json_object_object_get_ex(body, "instructions", &v))
        c->prompt_tokens += mock_resp_content_words(v);
    if (!json_object_object_get_ex(body, "input", &v) || v == NULL)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        c->prompt_tokens += mock_json_words(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_array)) {
        c->err = "'input' must be a string or an array";
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        item = json_object_array_get_idx(v, i);
        json_object *x;
        if (json_object_object_get_ex(item, "content", &x))
            c->prompt_tokens += mock_resp_content_words(x);
        if (json_object_object_get_ex(item, "output", &x))
            c->prompt_tokens += mock_resp_content_words(x);
    }
    return 0;
}

/* Append the usage of a response: the usage control's verbatim, or the counts. */
static void
mock_resp_usage(const struct mock_call *c, struct evbuffer *out)
{
    if (c->ctl.usage.s != NULL) {
        evbuffer_add(out, c->ctl.usage.s, c->ctl.usage.len);
        return;
    }
    evbuffer_add_printf(out,
                        "{\"input_tokens\":%ld,\"input_tokens_details\":{\"cached_tokens\":0},"
                        "\"output_tokens\":%ld,\"output_tokens_details\":{\"reasoning_tokens\":0},"
                        "\"total_tokens\":%ld}",
                        c->prompt_tokens, c->out_tokens, c->prompt_tokens + c->out_tokens);
}

/* Append the output item: the message or the function call, done or just begun. */
static void
mock_resp_item(const struct mock_call *c, int done, struct evbuffer *out)
{
    const char *st = done ? "completed" : "in_progress";

    if (c->tool) {
        evbuffer_add_printf(out,
                            "{\"id\":\"fc_mock_%lu\",\"type\":\"function_call\",\"status\":\"%s\","
                            "\"arguments\":",
                            c->seq, st);
        if (done)
            mock_json_str(out, c->text.s, c->text.len);
        else
            MOCK_LIT(out, "\"\"");
        MOCK_LIT(out, ",\"call_id\":");
        mock_tool_id_json(c, "call_mock", out);
        MOCK_LIT(out, ",\"name\":");
        mock_json_cstr(out, c->tool_name);
        MOCK_LIT(out, "}");
        return;
    }
    evbuffer_add_printf(out,
                        "{\"id\":\"msg_mock_%lu\",\"type\":\"message\",\"status\":\"%s\","
                        "\"content\":[",
                        c->seq, st);
    if (done) {
        MOCK_LIT(out, "{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":");
        mock_text_json(c, out);
        MOCK_LIT(out, "}");
    }
    MOCK_LIT(out, "],\"role\":\"assistant\"}");
}

/* Append a response object: in progress (no output, no usage) or complete. */
static void
mock_resp_object(const struct mock_call *c, int done, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "{\"id\":\"resp_mock_%lu\",\"object\":\"response\",\"created_at\":%lld,"
                        "\"status\":\"%s\",\"background\":false,\"error\":null,"
                        "\"incomplete_details\":null,\"instructions\":null,"
                        "\"max_output_tokens\":null,\"model\":",
                        c->seq, (long long)c->created, done ? "completed" : "in_progress");
    mock_json_str(out, c->model, c->model_len);
    MOCK_LIT(out, ",\"output\":[");
    if (done)
        mock_resp_item(c, 1, out);
    MOCK_LIT(out, "],\"parallel_tool_calls\":true,\"previous_response_id\":null,"
                  "\"reasoning\":{\"effort\":null,\"summary\":null},\"store\":true,"
                  "\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},"
                  "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,"
                  "\"truncation\":\"disabled\",\"usage\":");
    if (done)
        mock_resp_usage(c, out);
    else
        MOCK_LIT(out, "null");
    MOCK_LIT(out, ",\"user\":null,\"metadata\":{}}");
}

/* Append a non-stream response. */
static void
mock_resp_body(struct mock_call *c, struct evbuffer *out)
{
    mock_resp_object(c, 1, out);
}

/* Text: created, in_progress, output_item.added, content_part.added, the
 * deltas, then output_text.done, content_part.done, output_item.done,
 * completed. A function call: no content part, arguments events instead. */
static void
mock_resp_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = c->tool ? 3 : 4;
    *tail = c->tool ? 3 : 4;
}

/* Begin event i: its event line and the data's type and sequence_number. */
static void
mock_resp_begin(long i, const char *type, struct evbuffer *out)
{
    evbuffer_add_printf(out, "event: %s\ndata: {\"type\":\"%s\",\"sequence_number\":%ld", type,
                        type, i);
}

/* Append the part of a text message (empty at its start). */
static void
mock_resp_part(const struct mock_call *c, int done, struct evbuffer *out)
{
    MOCK_LIT(out,
             ",\"part\":{\"type\":\"output_text\",\"annotations\":[],\"logprobs\":[],\"text\":");
    if (done)
        mock_text_json(c, out);
    else
        MOCK_LIT(out, "\"\"");
    MOCK_LIT(out, "}");
}

/* The ids of the item of event i. */
static void
mock_resp_ids(const struct mock_call *c, int content, struct evbuffer *out)
{
    evbuffer_add_printf(out, ",\"item_id\":\"%s_mock_%lu\",\"output_index\":0",
                        c->tool ? "fc" : "msg", c->seq);
    if (content)
        MOCK_LIT(out, ",\"content_index\":0");
}

/* Append stream event i. */
static void
mock_resp_event(struct mock_call *c, long i, struct evbuffer *out)
{
    long k = i - c->head, n = c->npieces;

    if (i == 0 || i == 1) {
        mock_resp_begin(i, i == 0 ? "response.created" : "response.in_progress", out);
        MOCK_LIT(out, ",\"response\":");
        mock_resp_object(c, 0, out);
    } else if (i == 2 || (k == n + (c->tool ? 1 : 2))) {
        mock_resp_begin(i, i == 2 ? "response.output_item.added" : "response.output_item.done",
                        out);
        MOCK_LIT(out, ",\"output_index\":0,\"item\":");
        mock_resp_item(c, i != 2, out);
    } else if (!c->tool && (i == 3 || k == n + 1)) {
        mock_resp_begin(i, i == 3 ? "response.content_part.added" : "response.content_part.done",
                        out);
        mock_resp_ids(c, 1, out);
        mock_resp_part(c, i != 3, out);
    } else if (k >= 0 && k < n) {
        mock_resp_begin(
            i, c->tool ? "response.function_call_arguments.delta" : "response.output_text.delta",
            out);
        mock_resp_ids(c, !c->tool, out);
        MOCK_LIT(out, ",\"delta\":");
        mock_piece_json(c, k, out);
        if (!c->tool)
            MOCK_LIT(out, ",\"logprobs\":[]");
    } else if (k == n) {
        mock_resp_begin(
            i, c->tool ? "response.function_call_arguments.done" : "response.output_text.done",
            out);
        mock_resp_ids(c, !c->tool, out);
        if (c->tool) {
            MOCK_LIT(out, ",\"name\":");
            mock_json_cstr(out, c->tool_name);
            MOCK_LIT(out, ",\"arguments\":");
            mock_json_str(out, c->text.s, c->text.len);
        } else {
            MOCK_LIT(out, ",\"text\":");
            mock_text_json(c, out);
            MOCK_LIT(out, ",\"logprobs\":[]");
        }
    } else {
        mock_resp_begin(i, "response.completed", out);
        MOCK_LIT(out, ",\"response\":");
        mock_resp_object(c, 1, out);
    }
    MOCK_LIT(out, "}\n\n");
}

/* The stream_error control: OpenAI's error event after the 200. */
static void
mock_resp_stream_error(struct mock_call *c, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "event: error\ndata: {\"type\":\"error\",\"sequence_number\":%ld,"
                        "\"code\":\"server_error\",\"message\":\"The server had an error while "
                        "processing your request. Sorry about that!\",\"param\":null}\n\n",
                        c->step);
}

const struct mock_format mock_fmt_responses = {
    &mock_prov_openai, mock_resp_parse, mock_resp_body,
    mock_resp_frame,   mock_resp_event, mock_resp_stream_error,
};
const struct mock_format mock_fmt_az_responses = {
    &mock_prov_azure_v1, mock_resp_parse, mock_resp_body,
    mock_resp_frame,     mock_resp_event, mock_resp_stream_error,
};
