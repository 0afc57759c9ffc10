/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_prov_responses.c: OpenAI's Responses API through an OpenAI-dialect
 * provider (prov_responses.c): the request body is the client's bytes with
 * only the model replaced (the URL per provider, Azure's v1 path), usage is
 * read from a response object and from the stream's response.completed,
 * and error events end the stream. Fixtures are shaped as OpenAI sends them
 * (its API reference; openai-node's ResponseStream fixtures): "event:"
 * lines, data with type and sequence_number.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "prov_openai.h"
#include "provider.h"
#include "sse.h"
#include "tap.h"

static const struct target_view T = {
    .name = "gpt",
    .upstream_model = "gpt-4.1-2025-04-14",
    .api_base = "https://api.openai.com/v1",
    .api_key = "sk-test",
    .provider = PROVIDER_OPENAI,
};

/* Build the request of body (its bytes passed through) for provider p. */
static int
build(const struct provider *p, const struct target_view *t, const char *body, struct prov_http *h)
{
    struct prov_call c = {
        .t = t, .op = OP_RESPONSES, .native = 1, .raw = body, .rawlen = strlen(body)};
    struct json_object *o = json_tokener_parse(body);
    char err[256] = "";
    memset(h, 0, sizeof(*h));
    ck_assert_ptr_nonnull(o);
    int rv = p->build(&c, o, h, err, sizeof(err));
    json_object_put(o);
    return rv;
}

/* Only the model's value changes; nothing else, not even the spacing. */
START_TEST(build_passthrough)
{
    struct prov_http h;
    const char *in = "{\"model\": \"gpt\", \"input\": [{\"role\":\"user\",\"content\":\"hi\"}],"
                     "\n \"store\": true, \"previous_response_id\": \"resp_1\", \"stream\":true}";
    ck_assert_int_eq(build(&prov_openai, &T, in, &h), 0);
    ck_assert_str_eq(h.url, "https://api.openai.com/v1/responses");
    ck_assert_int_eq(h.len, strlen(in) + strlen(T.upstream_model) - 3);
    ck_assert(memcmp(h.body, "{\"model\": \"gpt-4.1-2025-04-14\", \"input\"", 39) == 0);
    ck_assert(memmem(h.body, h.len,
                     "\n \"store\": true, \"previous_response_id\": \"resp_1\", "
                     "\"stream\":true}",
                     61) != NULL);
    ck_assert(memmem(h.body, h.len, "stream_options", 14) == NULL); /* no include_usage here */
    ck_assert(memmem(h.hdrs, h.hlen, "Authorization: Bearer sk-test\r\n", 31) != NULL);
    prov_http_free(&h);
}
END_TEST

/* Azure: its v1 API, no api-version, the deployment as the body's model. */
START_TEST(build_azure)
{
    struct prov_http h;
    struct target_view t = T;
    t.api_base = "https://res.openai.azure.com";
    t.upstream_model = "my-deployment";
    t.api_version = "2024-10-21";
    t.provider = PROVIDER_AZURE_OPENAI;
    ck_assert_int_eq(build(&prov_azure_openai, &t, "{\"model\":\"x\",\"input\":\"hi\"}", &h), 0);
    ck_assert_str_eq(h.url, "https://res.openai.azure.com/openai/v1/responses");
    ck_assert_int_eq(h.len, strlen("{\"model\":\"my-deployment\",\"input\":\"hi\"}"));
    ck_assert(memcmp(h.body, "{\"model\":\"my-deployment\",\"input\":\"hi\"}", h.len) == 0);
    ck_assert(memmem(h.hdrs, h.hlen, "api-key: sk-test\r\n", 18) != NULL);
    prov_http_free(&h);
}
END_TEST

/* Which providers serve it: OpenAI's dialect only. */
START_TEST(provider_ops)
{
    ck_assert(prov_openai.ops & OP_BIT(OP_RESPONSES));
    ck_assert(prov_openai_compatible.ops & OP_BIT(OP_RESPONSES));
    ck_assert(prov_azure_openai.ops & OP_BIT(OP_RESPONSES));
    ck_assert(!(prov_anthropic.ops & OP_BIT(OP_RESPONSES)));
    ck_assert(!(prov_gemini.ops & OP_BIT(OP_RESPONSES)));
}
END_TEST

/* A non-stream answer (the API reference's example): its usage, details too. */
START_TEST(response_usage)
{
    struct prov_call c = {.t = &T, .op = OP_RESPONSES, .native = 1};
    struct prov_usage u = {0};
    struct json_object *out = NULL;
    struct json_object *in = json_tokener_parse(
        "{\"id\":\"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b\",\"object\":\"response\","
        "\"created_at\":1741476542,\"status\":\"completed\",\"error\":null,"
        "\"incomplete_details\":null,\"instructions\":null,\"max_output_tokens\":null,"
        "\"model\":\"gpt-4.1-2025-04-14\",\"output\":[{\"type\":\"message\","
        "\"id\":\"msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b\",\"status\":\"completed\","
        "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"In a peaceful "
        "grove...\",\"annotations\":[]}]}],\"parallel_tool_calls\":true,"
        "\"previous_response_id\":null,\"reasoning\":{\"effort\":null,\"summary\":null},"
        "\"store\":true,\"temperature\":1.0,\"text\":{\"format\":{\"type\":\"text\"}},"
        "\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":1.0,\"truncation\":\"disabled\","
        "\"usage\":{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":12},"
        "\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":40},"
        "\"total_tokens\":123},\"user\":null,\"metadata\":{}}");
    ck_assert_int_eq(prov_openai.response(&c, in, &out, &u), 0);
    ck_assert_ptr_null(out); /* relayed as it came */
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.prompt, 36);
    ck_assert_int_eq(u.completion, 87);
    ck_assert_int_eq(u.total, 123);
    ck_assert_int_eq(u.cached, 12);
    ck_assert_int_eq(u.reasoning, 40);
    ck_assert_int_eq(u.bad, 0);
    json_object_put(in);
    /* no total_tokens: the sum; a negative count is clamped and flagged */
    memset(&u, 0, sizeof(u));
    in = json_tokener_parse("{\"usage\":{\"input_tokens\":5,\"output_tokens\":-3}}");
    ck_assert_int_eq(prov_openai.response(&c, in, &out, &u), 0);
    ck_assert_int_eq(u.total, 5);
    ck_assert_int_eq(u.bad, 1);
    json_object_put(in);
    in = json_tokener_parse("[1]");
    ck_assert_int_eq(prov_openai.response(&c, in, &out, &u), -1);
    json_object_put(in);
}
END_TEST

static int
feed_cb(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    return prov_openai.stream_event(arg, event, evlen, data, len) < 0 ? 1 : 0;
}

/* Feed SSE text to a pass-through stream of the Responses API; the parser's result. */
static int
feed(struct prov_stream *s, const struct prov_call *c, const char *text)
{
    struct sse_parser p;
    memset(s, 0, sizeof(*s));
    s->call = c;
    sse_init(&p, 1 << 20);
    int rv = sse_feed(&p, text, strlen(text), feed_cb, s);
    sse_free(&p);
    return rv;
}

#define CREATED                                                                                    \
    "event: response.created\n"                                                                    \
    "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\","  \
    "\"object\":\"response\",\"created_at\":1741290958,\"status\":\"in_progress\",\"error\":null," \
    "\"model\":\"gpt-4.1-2025-04-14\",\"output\":[],\"usage\":null}}\n\n"
#define DELTA                                                                                      \
    "event: response.output_text.delta\n"                                                          \
    "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\","  \
    "\"output_index\":0,\"content_index\":0,\"delta\":\"say \\\"usage\\\" and \\\"error\\\"\","    \
    "\"logprobs\":[]}\n\n"

/* A whole stream: usage and the end only from response.completed. */
START_TEST(stream_completed)
{
    struct prov_call c = {.t = &T, .op = OP_RESPONSES, .native = 1, .stream = 1};
    struct prov_stream s;
    ck_assert_int_eq(feed(&s, &c, CREATED DELTA), 0);
    ck_assert_int_eq(s.usage.have, 0);
    ck_assert_int_eq(s.done, 0);
    ck_assert_int_eq(
        feed(&s, &c,
             CREATED DELTA
             "event: response.completed\n"
             "data: {\"type\":\"response.completed\",\"sequence_number\":9,\"response\":{"
             "\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"error\":null,"
             "\"output\":[{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\","
             "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"hi\","
             "\"annotations\":[]}]}],\"usage\":{\"input_tokens\":37,\"input_tokens_details\":"
             "{\"cached_tokens\":0,\"cache_write_tokens\":0},\"output_tokens\":11,"
             "\"output_tokens_details\":{\"reasoning_tokens\":3},\"total_tokens\":48}}}\n\n"),
        0);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.error_status, 0);
    ck_assert_int_eq(s.usage.prompt, 37);
    ck_assert_int_eq(s.usage.completion, 11);
    ck_assert_int_eq(s.usage.total, 48);
    ck_assert_int_eq(s.usage.reasoning, 3);
    prov_stream_free(&s);
    /* response.incomplete (max_output_tokens reached) is an end too, with its usage */
    ck_assert_int_eq(feed(&s, &c,
                          "event: response.incomplete\n"
                          "data: {\"type\":\"response.incomplete\",\"sequence_number\":5,"
                          "\"response\":{\"status\":\"incomplete\",\"incomplete_details\":"
                          "{\"reason\":\"max_output_tokens\"},\"usage\":{\"input_tokens\":4,"
                          "\"output_tokens\":16,\"total_tokens\":20}}}\n\n"
                          "data: [DONE]\n\n"),
                     0);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.usage.total, 20);
    prov_stream_free(&s);
}
END_TEST

/* error events and response.failed end the stream with an error. */
START_TEST(stream_errors)
{
    struct prov_call c = {.t = &T, .op = OP_RESPONSES, .native = 1, .stream = 1};
    struct prov_stream s;
    struct json_object *e;
    ck_assert_int_eq(feed(&s, &c,
                          CREATED "event: error\n"
                                  "data: {\"type\":\"error\",\"code\":\"ERR_SOMETHING\","
                                  "\"message\":\"Something went wrong\",\"param\":null,"
                                  "\"sequence_number\":1}\n\n"),
                     0);
    ck_assert_int_eq(s.error_status, 500);
    ck_assert_int_eq(s.done, 0);
    ck_assert(json_object_object_get_ex(s.error, "error", &e));
    ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "message")),
                     "Something went wrong");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "code")), "ERR_SOMETHING");
    prov_stream_free(&s);
    ck_assert_int_eq(
        feed(&s, &c,
             "event: response.failed\n"
             "data: {\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":"
             "\"resp_1\",\"status\":\"failed\",\"error\":{\"code\":\"rate_limit_exceeded\","
             "\"message\":\"slow down\"},\"usage\":{\"input_tokens\":9,\"output_tokens\":0,"
             "\"total_tokens\":9}}}\n\n"),
        0);
    ck_assert_int_eq(s.error_status, 429);
    ck_assert_int_eq(s.usage.total, 9);
    prov_stream_free(&s);
    /* a compatible server's chat-style error */
    ck_assert_int_eq(feed(&s, &c, "data: {\"error\":{\"message\":\"boom\",\"type\":\"x\"}}\n\n"),
                     0);
    ck_assert_int_eq(s.error_status, 500);
    prov_stream_free(&s);
    /* not an event of this API: a "usage" that is not JSON, an object without a type */
    ck_assert_int_eq(feed(&s, &c, "data: {\"usage\":\n\n"), 1);
    prov_stream_free(&s);
    ck_assert_int_eq(feed(&s, &c, "data: {\"usage\":{}}\n\n"), 1);
    prov_stream_free(&s);
}
END_TEST

static Suite *
responses_suite(void)
{
    Suite *s = suite_create("prov_responses");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, build_passthrough);
    tcase_add_test(tc, build_azure);
    tcase_add_test(tc, provider_ops);
    suite_add_tcase(s, tc);
    tc = tcase_create("answer");
    tcase_add_test(tc, response_usage);
    tcase_add_test(tc, stream_completed);
    tcase_add_test(tc, stream_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(responses_suite());
}
