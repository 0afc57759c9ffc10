/* SPDX-License-Identifier: Apache-2.0 */
/* mock_bedrock.c: AWS Bedrock's Converse API (bedrock-runtime):
 * POST /model/{modelId}/converse and /model/{modelId}/converse-stream,
 * the stream in application/vnd.amazon.eventstream frames (src/eventstream.c's
 * es_encode, both CRCs).  With -k the key is the AWS secret access key:
 * the SigV4 signature of each request is computed again (src/sigv4.c, over
 * the headers it says it signed, the path as sent and the body) and one
 * that differs is refused as AWS refuses it, 403 InvalidSignatureException. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"
#include "aigw/eventstream.h"
#include "aigw/sigv4.h"

#define MOCK_BR_MAX_SIGNED 8
/* What follows the type in x-amzn-ErrorType. */
#define MOCK_BR_CORAL ":http://internal.amazon.com/coral/com.amazon.bedrock/"

/* The x-amzn-ErrorType of a status, as Bedrock names its errors. */
static const char *
mock_br_type(int status)
{
    switch (status) {
    case 400:
        return "ValidationException";
    case 403:
        return "AccessDeniedException";
    case 404:
        return "ResourceNotFoundException";
    case 429:
        return "ThrottlingException";
    case 503:
        return "ServiceUnavailableException";
    default:
        return status >= 500 ? "InternalServerException" : "ValidationException";
    }
}

/* Bedrock's error body {"message": ...}, its type in x-amzn-ErrorType
 * as the runtime sends it ("ThrottlingException:http://internal.amazon.com/
 * coral/com.amazon.bedrock/"): the error_type control's, or the status's
 * (unless the check set one already). */
static void
mock_br_error(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
              const char *type, const char *code)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    char value[256];

    (void)type;
    (void)code;
    if (evhttp_find_header(h, "x-amzn-ErrorType") == NULL) {
        if (c->ctl.error_type.s != NULL)
            snprintf(value, sizeof(value), "%.*s%s", (int)c->ctl.error_type.len,
                     c->ctl.error_type.s, MOCK_BR_CORAL);
        else
            snprintf(value, sizeof(value), "%s%s", mock_br_type(status), MOCK_BR_CORAL);
        evhttp_add_header(h, "x-amzn-ErrorType", value);
    }
    MOCK_LIT(out, "{\"message\":");
    mock_json_cstr(out, msg);
    MOCK_LIT(out, "}");
}

/* A 403 of type etype. */
static int
mock_br_deny(struct mock_call *c, const char *etype, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "x-amzn-ErrorType", etype);
    mock_send_error(c, 403, msg, NULL, NULL);
    return -1;
}

/* Check the SigV4 signature with the secret of -k: the Authorization's
 * Credential (key id / date / region / service), SignedHeaders and
 * Signature against sigv4_authorization over the same request. */
static int
mock_br_check(struct mock_call *c)
{
    const char *auth = mock_header(c, "authorization"), *date = mock_header(c, "x-amz-date");
    char key[128], scope_date[16], region[64], service[64], signed_hdrs[256];
    struct sigv4_hdr hdrs[MOCK_BR_MAX_SIGNED];
    size_t nhdrs = 0;
    struct evbuffer *in = evhttp_request_get_input_buffer(c->req);
    size_t n = evbuffer_get_length(in);
    const char *body = n > 0 ? (const char *)evbuffer_pullup(in, -1) : "";
    char *want, *save = NULL;
    const char *uri = evhttp_request_get_uri(c->req);
    char path[2048];

    c->stream = c->fmt == &mock_fmt_br_stream;
    if (mock.api_key == NULL)
        return 0;
    if (auth == NULL || date == NULL)
        return mock_br_deny(c, "MissingAuthenticationTokenException",
                            "Missing Authentication Token");
    if (sscanf(auth,
               "AWS4-HMAC-SHA256 Credential=%127[^/]/%15[^/]/%63[^/]/%63[^/]/aws4_request, "
               "SignedHeaders=%255[^,]",
               key, scope_date, region, service, signed_hdrs) != 5)
        return mock_br_deny(c, "IncompleteSignatureException",
                            "Authorization header requires 'Credential', 'SignedHeaders' and "
                            "'Signature' parameters.");
    snprintf(path, sizeof(path), "%.*s", (int)strcspn(uri, "?"), uri);
    for (char *h = strtok_r(signed_hdrs, ";", &save); h != NULL && nhdrs < MOCK_BR_MAX_SIGNED;
         h = strtok_r(NULL, ";", &save)) {
        hdrs[nhdrs].name = h;
        hdrs[nhdrs].value = mock_header(c, h) ? mock_header(c, h) : "";
        nhdrs++;
    }
    const struct sigv4_cred cred = {key, mock.api_key, mock_header(c, "x-amz-security-token"),
                                    region, service};
    want = sigv4_authorization(&cred, "POST", path, NULL, hdrs, nhdrs, body, n, date);
    if (want == NULL || strcmp(want, auth) != 0) {
        free(want);
        return mock_br_deny(c, "InvalidSignatureException",
                            "The request signature we calculated does not match the signature "
                            "you provided. Check your AWS Secret Access Key and signing method. "
                            "Consult the service documentation for details.");
    }
    free(want);
    return 0;
}

const struct mock_provider mock_prov_bedrock = {
    "bedrock",
    mock_br_check,
    mock_br_error,
    "Malformed input request, please reformat your input and try again.",
};

/* Read a Converse request: messages (a list) is required; the prompt is
 * the words of its texts and of system's; inferenceConfig.maxTokens
 * below chunks cuts the reply short. */
static int
mock_br_parse(struct mock_call *c, json_object *body)
{
    json_object *msgs, *sys, *ic, *max;

    if (!json_object_object_get_ex(body, "messages", &msgs) ||
        !json_object_is_type(msgs, json_type_array))
        return mock_fail(c, "messages: required, a list");
    c->prompt_tokens = 0;
    for (size_t i = 0; i < json_object_array_length(msgs); i++) {
        json_object *content =
            json_object_object_get(json_object_array_get_idx(msgs, i), "content");
        for (size_t j = 0;
             json_object_is_type(content, json_type_array) && j < json_object_array_length(content);
             j++)
            c->prompt_tokens += mock_json_words(
                json_object_object_get(json_object_array_get_idx(content, j), "text"));
    }
    if (json_object_object_get_ex(body, "system", &sys) &&
        json_object_is_type(sys, json_type_array))
        for (size_t j = 0; j < json_object_array_length(sys); j++)
            c->prompt_tokens +=
                mock_json_words(json_object_object_get(json_object_array_get_idx(sys, j), "text"));
    c->model = c->param;
    c->model_len = strlen(c->param);
    if (c->stream)
        c->stream_type = "application/vnd.amazon.eventstream";
    mock_tool_use(c, c->ctl.chunks);
    if (!c->tool && json_object_object_get_ex(body, "inferenceConfig", &ic) &&
        json_object_object_get_ex(ic, "maxTokens", &max) && json_object_get_int64(max) > 0 &&
        json_object_get_int64(max) < c->ctl.chunks) {
        c->npieces = (long)json_object_get_int64(max);
        c->out_tokens = c->npieces;
        c->finish = MOCK_FIN_LENGTH;
    }
    return 0;
}

/* Append "usage":{...}: the counted one, or the usage control's text. */
static void
mock_br_usage(const struct mock_call *c, struct evbuffer *out)
{
    if (c->ctl.usage.s != NULL) {
        MOCK_LIT(out, "\"usage\":");
        evbuffer_add(out, c->ctl.usage.s, c->ctl.usage.len);
        return;
    }
    evbuffer_add_printf(out,
                        "\"usage\":{\"inputTokens\":%ld,\"outputTokens\":%ld,\"totalTokens\":%ld}",
                        c->prompt_tokens, c->out_tokens, c->prompt_tokens + c->out_tokens);
}

static const char *
mock_br_stop(const struct mock_call *c)
{
    return c->finish == MOCK_FIN_LENGTH ? "max_tokens"
           : c->finish == MOCK_FIN_TOOL ? "tool_use"
                                        : "end_turn";
}

/* The toolUseId and name of the tool call (without braces). */
static void
mock_br_tool_head(const struct mock_call *c, struct evbuffer *out)
{
    MOCK_LIT(out, "\"toolUseId\":");
    mock_tool_id_json(c, "tooluse_mock", out);
    MOCK_LIT(out, ",\"name\":");
    mock_json_cstr(out, c->tool_name);
}

/* A Converse answer: a text block, or a toolUse block. */
static void
mock_br_body(struct mock_call *c, struct evbuffer *out)
{
    MOCK_LIT(out, "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[");
    if (c->tool) {
        MOCK_LIT(out, "{\"toolUse\":{");
        mock_br_tool_head(c, out);
        MOCK_LIT(out, ",\"input\":");
        evbuffer_add(out, c->text.s, c->text.len);
        MOCK_LIT(out, "}}");
    } else {
        MOCK_LIT(out, "{\"text\":");
        mock_text_json(c, out);
        MOCK_LIT(out, "}");
    }
    evbuffer_add_printf(out, "]}},\"stopReason\":\"%s\",", mock_br_stop(c));
    mock_br_usage(c, out);
    MOCK_LIT(out, ",\"metrics\":{\"latencyMs\":1}}");
}

/* One event-stream message of message type mtype ("event" or
 * "exception") named type, its JSON payload in p (drained). */
static void
mock_br_frame_out(struct evbuffer *out, const char *mtype, const char *type, struct evbuffer *p)
{
    const char *names[] = {":message-type",
                           strcmp(mtype, "event") == 0 ? ":event-type" : ":exception-type",
                           ":content-type"};
    const char *values[] = {mtype, type, "application/json"};
    size_t plen = evbuffer_get_length(p), n;
    unsigned char *msg = es_encode(names, values, 3, evbuffer_pullup(p, -1), plen, &n);

    if (msg == NULL)
        abort();
    evbuffer_add(out, msg, n);
    free(msg);
    evbuffer_drain(p, plen);
}

/* messageStart (and a tool call's contentBlockStart), a contentBlockDelta
 * per piece, contentBlockStop, messageStop, metadata. */
static void
mock_br_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = c->tool ? 2 : 1;
    *tail = 3;
}

static void
mock_br_event(struct mock_call *c, long i, struct evbuffer *out)
{
    struct evbuffer *p = evbuffer_new();
    const char *type;

    if (p == NULL)
        abort();
    if (i == 0) {
        type = "messageStart";
        MOCK_LIT(p, "{\"role\":\"assistant\"}");
    } else if (i < c->head) {
        type = "contentBlockStart";
        MOCK_LIT(p, "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":{");
        mock_br_tool_head(c, p);
        MOCK_LIT(p, "}}}");
    } else if (i < c->head + c->npieces) {
        type = "contentBlockDelta";
        MOCK_LIT(p, "{\"contentBlockIndex\":0,\"delta\":{");
        if (c->tool)
            MOCK_LIT(p, "\"toolUse\":{\"input\":");
        else
            MOCK_LIT(p, "\"text\":");
        mock_piece_json(c, i - c->head, p);
        if (c->tool)
            MOCK_LIT(p, "}");
        MOCK_LIT(p, "}}");
    } else if (i == c->head + c->npieces) {
        type = "contentBlockStop";
        MOCK_LIT(p, "{\"contentBlockIndex\":0}");
    } else if (i == c->head + c->npieces + 1) {
        type = "messageStop";
        evbuffer_add_printf(p, "{\"stopReason\":\"%s\"}", mock_br_stop(c));
    } else {
        type = "metadata";
        MOCK_LIT(p, "{");
        mock_br_usage(c, p);
        MOCK_LIT(p, ",\"metrics\":{\"latencyMs\":1}}");
    }
    mock_br_frame_out(out, "event", type, p);
    evbuffer_free(p);
}

/* The stream_error control: an exception message, a throttlingException,
 * or of the error_type control's type (its first letter lower-cased, as
 * ConverseStream names its exceptions) with "mock exception TYPE". */
static void
mock_br_stream_error(struct mock_call *c, struct evbuffer *out)
{
    struct evbuffer *p = evbuffer_new();
    char type[128], msg[160];

    if (p == NULL)
        abort();
    if (c->ctl.error_type.s == NULL) {
        snprintf(type, sizeof(type), "throttlingException");
        MOCK_LIT(p, "{\"message\":\"Too many requests, please wait before trying again.\"}");
    } else {
        snprintf(type, sizeof(type), "%.*s", (int)c->ctl.error_type.len, c->ctl.error_type.s);
        if (type[0] >= 'A' && type[0] <= 'Z')
            type[0] = (char)(type[0] - 'A' + 'a');
        snprintf(msg, sizeof(msg), "mock exception %s", type);
        MOCK_LIT(p, "{\"message\":");
        mock_json_cstr(p, msg);
        MOCK_LIT(p, "}");
    }
    mock_br_frame_out(out, "exception", type, p);
    evbuffer_free(p);
}

const struct mock_format mock_fmt_br_converse = {
    &mock_prov_bedrock, mock_br_parse, mock_br_body, NULL, NULL, NULL,
};
const struct mock_format mock_fmt_br_stream = {
    &mock_prov_bedrock, mock_br_parse, mock_br_body,
    mock_br_frame,      mock_br_event, mock_br_stream_error,
};
