/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_converse.c: OpenAI chat <-> Bedrock Converse (src/converse.c) on
 * bodies shaped as the Converse API reference shows them (Converse request
 * and response syntax, ConverseStream's events, the runtime's errors).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "converse.h"
#include "jsonx.h"
#include "tap.h"

static const char *
plain(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static struct json_object *
parse(const char *s)
{
    struct json_object *o = jx_parse(s, strlen(s));
    ck_assert_ptr_nonnull(o);
    return o;
}

START_TEST(request_full)
{
    struct json_object *req = parse(
        "{\"model\":\"m\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is this?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":"
        "\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
        "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":\"noon\"}],"
        "\"max_tokens\":256,\"temperature\":0.5,\"top_p\":0.9,\"stop\":\"END\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":"
        "\"Weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}],"
        "\"tool_choice\":\"required\"}");
    struct json_object *out;
    char err[256] = "";
    ck_assert_int_eq(converse_request(req, 4096, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(
        plain(out),
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"What is this?\"},"
        "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0KGgo=\"}}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":"
        "\"get_weather\","
        "\"input\":{\"city\":\"Paris\"}}},{\"toolUse\":{\"toolUseId\":\"call_2\",\"name\":\"get_"
        "time\",\"input\":{}}}]},"
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":\"call_1\",\"content\":[{"
        "\"text\":\"18C\"}]}},"
        "{\"toolResult\":{\"toolUseId\":\"call_2\",\"content\":[{\"text\":\"noon\"}]}}]}],"
        "\"system\":[{\"text\":\"You are terse.\"}],"
        "\"inferenceConfig\":{\"maxTokens\":256,\"temperature\":0.5,\"topP\":0.9,\"stopSequences\":"
        "[\"END\"]},"
        "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"get_weather\",\"description\":"
        "\"Weather\","
        "\"inputSchema\":{\"json\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
        "\"string\"}}}}}}],"
        "\"toolChoice\":{\"any\":{}}}}");
    json_object_put(out);
    json_object_put(req);
}
END_TEST

START_TEST(request_defaults_and_refusals)
{
    struct json_object *req = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"),
                       *out;
    char err[256] = "";
    ck_assert_int_eq(converse_request(req, 1024, &out, err, sizeof(err)), 0);
    ck_assert_str_eq(plain(out),
                     "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hi\"}]}],"
                     "\"inferenceConfig\":{\"maxTokens\":1024}}");
    json_object_put(out);
    json_object_put(req);
    req = parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"https://example.com/a.png\"}}]}]}");
    ck_assert_int_eq(converse_request(req, 0, &out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "messages[0].content[0].image_url"));
    json_object_put(req);
    req = parse("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"n\":2}");
    ck_assert_int_eq(converse_request(req, 0, &out, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "n:"));
    json_object_put(req);
}
END_TEST

START_TEST(response_text_tool_usage)
{
    struct json_object *in = parse(
        "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Let me "
        "check.\"},"
        "{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\",\"name\":\"top_song\","
        "\"input\":{\"sign\":\"WZPZ\"}}}]}},\"stopReason\":\"tool_use\","
        "\"usage\":{\"inputTokens\":375,\"outputTokens\":86,\"totalTokens\":561,"
        "\"cacheReadInputTokens\":100,\"cacheWriteInputTokens\":0},\"metrics\":{\"latencyMs\":1510}"
        "}");
    struct json_object *out, *ch, *msg;
    struct prov_usage u = {0};
    ck_assert_int_eq(converse_response(in, "anthropic.claude-3-haiku-20240307-v1:0", &out, &u), 0);
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.prompt, 475);
    ck_assert_int_eq(u.completion, 86);
    ck_assert_int_eq(u.cached, 100);
    ck_assert_int_eq(u.total, 561);
    ck_assert_str_eq(jx_str(out, "object"), "chat.completion");
    ck_assert_str_eq(jx_str(out, "model"), "anthropic.claude-3-haiku-20240307-v1:0");
    ch = jx_idx(jx_get(out, "choices"), 0);
    ck_assert_str_eq(jx_str(ch, "finish_reason"), "tool_calls");
    msg = jx_get(ch, "message");
    ck_assert_str_eq(jx_str(msg, "content"), "Let me check.");
    ck_assert_str_eq(
        plain(jx_get(msg, "tool_calls")),
        "[{\"id\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\",\"type\":\"function\","
        "\"function\":{\"name\":\"top_song\",\"arguments\":\"{\\\"sign\\\":\\\"WZPZ\\\"}\"}}]");
    ck_assert_int_eq(jx_int(jx_get(out, "usage"), "prompt_tokens"), 475);
    json_object_put(out);
    json_object_put(in);
    in = parse("{\"message\":\"not an answer\"}");
    ck_assert_int_eq(converse_response(in, "m", &out, &u), -1);
    json_object_put(in);
}
END_TEST

/*
 * Converse's stopReason values (API reference: end_turn, tool_use,
 * max_tokens, stop_sequence, guardrail_intervened, content_filtered,
 * model_context_window_exceeded) as OpenAI's finish_reason, on the
 * reference's response shape with metrics.latencyMs.
 */
START_TEST(response_stop_reasons)
{
    static const char *const pairs[][2] = {
        {"end_turn", "stop"},
        {"tool_use", "tool_calls"},
        {"max_tokens", "length"},
        {"stop_sequence", "stop"},
        {"guardrail_intervened", "content_filter"},
        {"content_filtered", "content_filter"},
        {"model_context_window_exceeded", "length"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        char buf[512];
        struct json_object *in, *out;
        struct prov_usage u = {0};
        snprintf(
            buf, sizeof(buf),
            "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Hi\"}]}},"
            "\"stopReason\":\"%s\",\"usage\":{\"inputTokens\":5,\"outputTokens\":1,"
            "\"totalTokens\":6},\"metrics\":{\"latencyMs\":211}}",
            pairs[i][0]);
        in = parse(buf);
        ck_assert_int_eq(converse_response(in, "m", &out, &u), 0);
        ck_assert_str_eq(jx_str(jx_idx(jx_get(out, "choices"), 0), "finish_reason"), pairs[i][1]);
        ck_assert_int_eq(u.total, 6);
        json_object_put(out);
        json_object_put(in);
    }
}
END_TEST

/*
 * Prompt caching: inputTokens counts neither cache reads nor writes, and
 * totalTokens counts both; OpenAI's prompt_tokens counts both (as the
 * anthropic provider counts cache_read and cache_creation), cached_tokens
 * the reads, so total_tokens is AWS's totalTokens exactly.
 */
START_TEST(response_cache_write_usage)
{
    struct json_object *in = parse(
        "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":[{\"text\":\"Done.\"}]}},"
        "\"stopReason\":\"end_turn\",\"usage\":{\"inputTokens\":20,\"outputTokens\":10,"
        "\"totalTokens\":1830,\"cacheReadInputTokens\":300,\"cacheWriteInputTokens\":1500},"
        "\"metrics\":{\"latencyMs\":842}}");
    struct json_object *out, *usage;
    struct prov_usage u = {0};
    ck_assert_int_eq(converse_response(in, "m", &out, &u), 0);
    ck_assert_int_eq(u.prompt, 1820);
    ck_assert_int_eq(u.cached, 300);
    ck_assert_int_eq(u.completion, 10);
    ck_assert_int_eq(u.total, 1830);
    ck_assert_int_eq(u.bad, 0);
    usage = jx_get(out, "usage");
    ck_assert_int_eq(jx_int(usage, "prompt_tokens"), 1820);
    ck_assert_int_eq(jx_int(usage, "total_tokens"), 1830);
    ck_assert_int_eq(jx_int(jx_get(usage, "prompt_tokens_details"), "cached_tokens"), 300);
    json_object_put(out);
    json_object_put(in);
}
END_TEST

struct sink {
    char buf[8192];
    size_t len;
};

static void
sink_emit(void *arg, const char *data, size_t len)
{
    struct sink *k = arg;
    ck_assert_uint_lt(k->len + len + 1, sizeof(k->buf));
    memcpy(k->buf + k->len, data, len);
    k->len += len;
    k->buf[k->len++] = '\n';
    k->buf[k->len] = '\0';
}

static void
ev(struct prov_stream *s, const char *type, const char *json)
{
    ck_assert_int_eq(converse_stream_event(s, type, strlen(type), json, strlen(json)), 0);
}

START_TEST(stream_events)
{
    struct sink k = {.len = 0};
    struct prov_stream s = {.emit = sink_emit, .arg = &k};
    struct json_object *o;
    char *line, *save = NULL;
    int n = 0;
    ck_assert_int_eq(converse_stream_begin(&s, "amazon.nova-lite-v1:0"), 0);
    ev(&s, "messageStart", "{\"role\":\"assistant\",\"p\":\"abcd\"}");
    ev(&s, "contentBlockDelta",
       "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"},\"p\":\"ab\"}");
    ev(&s, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"lo\"}}");
    ev(&s, "contentBlockStop", "{\"contentBlockIndex\":0}");
    ev(&s, "contentBlockStart",
       "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_1\",\"name\":"
       "\"get_weather\"}}}");
    ev(&s, "contentBlockDelta",
       "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}");
    ev(&s, "contentBlockDelta",
       "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"\\\"Paris\\\"}\"}}}");
    ev(&s, "contentBlockStop", "{\"contentBlockIndex\":1}");
    ev(&s, "messageStop", "{\"stopReason\":\"tool_use\"}");
    ck_assert_int_eq(s.done, 0);
    ev(&s, "metadata",
       "{\"usage\":{\"inputTokens\":12,\"outputTokens\":9,\"totalTokens\":21},"
       "\"metrics\":{\"latencyMs\":300}}");
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.usage.prompt, 12);
    ck_assert_int_eq(s.usage.completion, 9);
    /* the chunks, one a line: role, Hel, lo, call start, two argument pieces, finish, usage, [DONE]
     */
    const char *want[] = {
        "{\"role\":\"assistant\",\"content\":\"\"}",
        "{\"content\":\"Hel\"}",
        "{\"content\":\"lo\"}",
        "{\"tool_calls\":[{\"index\":0,\"id\":\"tooluse_1\",\"type\":\"function\",\"function\":{"
        "\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]}",
        "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]}",
        "{}",
    };
    for (line = strtok_r(k.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
        if (n < 7) {
            o = parse(line);
            ck_assert_str_eq(jx_str(o, "object"), "chat.completion.chunk");
            ck_assert_str_eq(jx_str(o, "model"), "amazon.nova-lite-v1:0");
            ck_assert_str_eq(plain(jx_get(jx_idx(jx_get(o, "choices"), 0), "delta")), want[n]);
            if (n == 6)
                ck_assert_str_eq(jx_str(jx_idx(jx_get(o, "choices"), 0), "finish_reason"),
                                 "tool_calls");
            json_object_put(o);
        } else if (n == 7) {
            o = parse(line);
            ck_assert_int_eq(jx_len(jx_get(o, "choices")), 0);
            ck_assert_int_eq(jx_int(jx_get(o, "usage"), "total_tokens"), 21);
            json_object_put(o);
        } else {
            ck_assert_str_eq(line, "[DONE]");
        }
    }
    ck_assert_int_eq(n, 9);
    ck_assert_int_eq(converse_stream_event(&s, "bogus", 5, "{}", 2), -1);
    ck_assert_int_eq(converse_stream_event(&s, "metadata", 8, "not json", 8), -1);
    converse_stream_end(&s);
}
END_TEST

START_TEST(stream_exception)
{
    struct sink k = {.len = 0};
    struct prov_stream s = {.emit = sink_emit, .arg = &k};
    ck_assert_int_eq(converse_stream_begin(&s, "m"), 0);
    ev(&s, "throttlingException",
       "{\"message\":\"Too many requests, please wait before trying again.\"}");
    ck_assert_int_eq(s.error_status, 429);
    ck_assert_str_eq(plain(s.error),
                     "{\"error\":{\"message\":\"Too many requests, please wait before trying "
                     "again.\",\"type\":\"rate_limit_error\",\"param\":null,"
                     "\"code\":\"ThrottlingException\"}}");
    ck_assert_uint_eq(k.len, 0);
    json_object_put(s.error);
    converse_stream_end(&s);
}
END_TEST

/*
 * ConverseStream's metadata event as the reference shows it (usage with
 * cache counts, metrics, trace, performanceConfig): the usage chunk's
 * counts are AWS's, cache reads and writes in prompt_tokens.
 */
START_TEST(stream_metadata_cache_usage)
{
    struct sink k = {.len = 0};
    struct prov_stream s = {.emit = sink_emit, .arg = &k};
    struct json_object *o;
    ck_assert_int_eq(converse_stream_begin(&s, "m"), 0);
    ev(&s, "messageStart", "{\"role\":\"assistant\"}");
    ev(&s, "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
    ev(&s, "contentBlockStop", "{\"contentBlockIndex\":0}");
    ev(&s, "messageStop", "{\"stopReason\":\"stop_sequence\"}");
    ev(&s, "metadata",
       "{\"usage\":{\"inputTokens\":7,\"outputTokens\":2,\"totalTokens\":1209,"
       "\"cacheReadInputTokens\":1200,\"cacheWriteInputTokens\":0},\"metrics\":{\"latencyMs\":"
       "412},\"trace\":{},\"performanceConfig\":{\"latency\":\"standard\"}}");
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.usage.prompt, 1207);
    ck_assert_int_eq(s.usage.cached, 1200);
    ck_assert_int_eq(s.usage.total, 1209);
    /* the lines: role, Hi, finish (stop), usage, [DONE] */
    char *save = NULL, *line = strtok_r(k.buf, "\n", &save);
    for (int n = 0; n < 3; n++)
        line = strtok_r(NULL, "\n", &save);
    o = parse(line);
    ck_assert_int_eq(jx_int(jx_get(o, "usage"), "prompt_tokens"), 1207);
    ck_assert_int_eq(jx_int(jx_get(jx_get(o, "usage"), "prompt_tokens_details"), "cached_tokens"),
                     1200);
    ck_assert_int_eq(jx_int(jx_get(o, "usage"), "total_tokens"), 1209);
    json_object_put(o);
    converse_stream_end(&s);
}
END_TEST

/*
 * ConverseStream's exceptions (its API reference: internalServerException,
 * modelStreamErrorException, validationException, throttlingException,
 * serviceUnavailableException) with their {"message"} payloads: the
 * client's status and OpenAI's type and code, the message kept.
 */
START_TEST(stream_exceptions_mapped)
{
    static const struct {
        const char *type;
        int status;
        const char *openai, *code;
    } cases[] = {
        {"internalServerException", 500, "server_error", "InternalServerException"},
        {"modelStreamErrorException", 502, "server_error", "ModelStreamErrorException"},
        {"validationException", 400, "invalid_request_error", "ValidationException"},
        {"throttlingException", 429, "rate_limit_error", "ThrottlingException"},
        {"serviceUnavailableException", 503, "server_error", "ServiceUnavailableException"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sink k = {.len = 0};
        struct prov_stream s = {.emit = sink_emit, .arg = &k};
        struct json_object *e;
        ck_assert_int_eq(converse_stream_begin(&s, "m"), 0);
        ev(&s, "messageStart", "{\"role\":\"assistant\"}");
        ev(&s, cases[i].type,
           "{\"message\":\"it broke\",\"originalStatusCode\":500,\"originalMessage\":\"x\"}");
        ck_assert_int_eq(s.error_status, cases[i].status);
        e = jx_get(s.error, "error");
        ck_assert_str_eq(jx_str(e, "message"), "it broke");
        ck_assert_str_eq(jx_str(e, "type"), cases[i].openai);
        ck_assert_str_eq(jx_str(e, "code"), cases[i].code);
        json_object_put(s.error);
        converse_stream_end(&s);
    }
}
END_TEST

/*
 * An error message (":message-type: error", ":error-code") whose name does
 * not end in Exception: relay.c marks it with ES_EVENT_ERROR, and it is an
 * error all the same (before, "InternalFailure" was no event of the API).
 */
START_TEST(stream_error_message)
{
    struct sink k = {.len = 0};
    struct prov_stream s = {.emit = sink_emit, .arg = &k};
    ck_assert_int_eq(converse_stream_begin(&s, "m"), 0);
    ev(&s, "messageStart", "{\"role\":\"assistant\"}");
    ev(&s, ES_EVENT_ERROR "InternalFailure", "{\"message\":\"stream broke\"}");
    ck_assert_int_eq(s.error_status, 500);
    ck_assert_str_eq(plain(s.error),
                     "{\"error\":{\"message\":\"stream broke\",\"type\":"
                     "\"server_error\",\"param\":null,\"code\":\"InternalFailure\"}}");
    json_object_put(s.error);
    converse_stream_end(&s);
}
END_TEST

START_TEST(errors_mapped)
{
    struct json_object *in =
        parse("{\"message\":\"The security token included in the request is invalid.\"}");
    struct json_object *e = converse_error(
        403,
        "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        in);
    ck_assert_str_eq(plain(e),
                     "{\"error\":{\"message\":\"The security token included in the request is "
                     "invalid.\",\"type\":\"permission_error\",\"param\":null,"
                     "\"code\":\"UnrecognizedClientException\"}}");
    json_object_put(e);
    json_object_put(in);
    ck_assert_int_eq(converse_error_status("ValidationException", 19), 400);
    ck_assert_int_eq(converse_error_status("modelStreamErrorException", 25), 502);
    ck_assert_int_eq(converse_error_status("ServiceUnavailableException:x", 29), 503);
    ck_assert_int_eq(converse_error_status("NoSuchThing", 11), 0);
}
END_TEST

/*
 * Members that change the answer and that Converse cannot express are
 * refused, naming the member and the provider (before, they were dropped:
 * a client asking for JSON got free text); a text response_format,
 * logprobs false and text modalities are no change and go through.
 */
START_TEST(request_unsupported_refused)
{
    static const char *const refused[][2] = {
        {"\"response_format\":{\"type\":\"json_object\"}", "response_format json_object"},
        {"\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\"}}",
         "response_format json_schema"},
        {"\"logprobs\":true", "logprobs"},
        {"\"top_logprobs\":2", "top_logprobs"},
        {"\"audio\":{\"voice\":\"alloy\",\"format\":\"wav\"}", "audio"},
        {"\"modalities\":[\"text\",\"audio\"]", "modalities"},
        {"\"functions\":[{\"name\":\"f\"}]", "functions"},
        {"\"web_search_options\":{}", "web_search_options"},
    };
    static const char *const fine[] = {
        "\"response_format\":{\"type\":\"text\"}",
        "\"logprobs\":false",
        "\"modalities\":[\"text\"]",
    };
    char buf[512], err[256];
    struct json_object *req, *out;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],%s}",
                 refused[i][0]);
        req = parse(buf);
        err[0] = '\0';
        ck_assert_int_eq(converse_request(req, 0, &out, err, sizeof(err)), -1);
        ck_assert_msg(strncmp(err, refused[i][1], strlen(refused[i][1])) == 0 &&
                          strstr(err, "not supported by provider bedrock") != NULL,
                      "%s: %s", refused[i][0], err);
        json_object_put(req);
    }
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],%s}",
                 fine[i]);
        req = parse(buf);
        ck_assert_int_eq(converse_request(req, 0, &out, err, sizeof(err)), 0);
        json_object_put(out);
        json_object_put(req);
    }
}
END_TEST

static Suite *
converse_suite(void)
{
    Suite *s = suite_create("converse");
    TCase *tc = tcase_create("converse");
    tcase_add_test(tc, request_full);
    tcase_add_test(tc, request_defaults_and_refusals);
    tcase_add_test(tc, request_unsupported_refused);
    tcase_add_test(tc, response_text_tool_usage);
    tcase_add_test(tc, response_stop_reasons);
    tcase_add_test(tc, response_cache_write_usage);
    tcase_add_test(tc, stream_events);
    tcase_add_test(tc, stream_exception);
    tcase_add_test(tc, stream_metadata_cache_usage);
    tcase_add_test(tc, stream_exceptions_mapped);
    tcase_add_test(tc, stream_error_message);
    tcase_add_test(tc, errors_mapped);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(converse_suite());
}
