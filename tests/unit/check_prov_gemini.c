/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_prov_gemini.c: the Gemini provider: the request it builds (URL,
 * query, key header, the translated body), the answers, stream events and
 * errors it translates back, against fixtures shaped as Google's API sends
 * them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "provider.h"
#include "aigw/resource.h"
#include "tap.h"

#define BASE "https://generativelanguage.googleapis.com/v1beta"

/* ---- helpers ---- */

static struct target_view target = {
    .name = "gem",
    .upstream_model = "gemini-2.5-flash",
    .api_base = BASE,
    .api_key = "AIzaSyTESTKEY",
    .api_version = "",
    .max_tokens = 0,
    .provider = PROVIDER_GEMINI,
};

/* A call for op on the test target. */
static struct prov_call
call_for(enum prov_op op, int stream)
{
    struct prov_call c = {.t = &target, .op = op, .stream = stream, .request_id = "req-1"};
    return c;
}

/* Parse JSON text; the test fails when it is not JSON. */
static struct json_object *
parse(const char *s)
{
    struct json_object *o = json_tokener_parse(s);
    ck_assert_msg(o != NULL, "not JSON: %s", s);
    return o;
}

/* Assert that o equals the JSON text want (members in any order). */
#define assert_json(o, want)                                                                       \
    do {                                                                                           \
        struct json_object *w_ = parse(want);                                                      \
        ck_assert_msg(json_object_equal((o), w_), "got  %s\nwant %s",                              \
                      json_object_to_json_string_ext((o), JSON_C_TO_STRING_PLAIN), (want));        \
        json_object_put(w_);                                                                       \
    } while (0)

/* Member path ("a.b.0.c": array indexes as numbers) of o; NULL when absent. */
static struct json_object *
at(struct json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k != NULL && o != NULL;
         k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &o))
            o = NULL;
    }
    return o;
}

/* Build c from body; returns the request body sent upstream (parsed, to put). */
static struct json_object *
build_ok(const struct prov_call *c, const char *body, struct prov_http *h)
{
    struct json_object *in = parse(body), *out;
    char err[512] = "";
    memset(h, 0, sizeof(*h));
    ck_assert_msg(prov_gemini.build(c, in, h, err, sizeof(err)) == 0, "build failed: %s", err);
    json_object_put(in);
    ck_assert_ptr_nonnull(h->body);
    ck_assert_uint_eq(h->len, strlen(h->body));
    out = parse(h->body);
    return out;
}

/* Free what build made. */
static void
http_free(struct prov_http *h)
{
    prov_http_free(h);
}

/* Build a chat request from body and return the body sent (the prov_http freed). */
static struct json_object *
chat_body(const char *body)
{
    struct prov_http h;
    struct prov_call c = call_for(OP_CHAT, 0);
    struct json_object *out = build_ok(&c, body, &h);
    http_free(&h);
    return out;
}

/* Assert that building body fails with a message containing each needle. */
static void
build_fails(const char *body, const char *needle1, const char *needle2)
{
    struct prov_call c = call_for(OP_CHAT, 0);
    struct prov_http h = {0};
    struct json_object *in = parse(body);
    char err[512] = "";
    ck_assert_int_eq(prov_gemini.build(&c, in, &h, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, needle1) != NULL, "\"%s\" not in: %s", needle1, err);
    ck_assert_msg(needle2 == NULL || strstr(err, needle2) != NULL, "\"%s\" not in: %s", needle2,
                  err);
    ck_assert_msg(strstr(err, "gemini") != NULL || strstr(err, "required") != NULL,
                  "the provider is not named: %s", err);
    json_object_put(in);
    http_free(&h);
}

/* The headers as "a|b|c". */
static const char *
headers(const struct prov_http *h, char *buf, size_t len)
{
    size_t n = 0;
    /* "Name: value\r\n" lines joined with '|' */
    for (size_t i = 0; i < h->hlen && n + 1 < len; i++) {
        if (h->hdrs[i] == '\r' && i + 1 < h->hlen && h->hdrs[i + 1] == '\n') {
            if (i + 2 < h->hlen)
                buf[n++] = '|';
            i++;
        } else {
            buf[n++] = h->hdrs[i];
        }
    }
    buf[n] = '\0';
    return buf;
}

/* The translation of an answer (the output to put; usage in u). */
static struct json_object *
answer(enum prov_op op, const char *in_text, struct prov_usage *u)
{
    struct prov_call c = call_for(op, 0);
    struct json_object *in = parse(in_text), *out = NULL;
    memset(u, 0, sizeof(*u));
    ck_assert_int_eq(prov_gemini.response(&c, in, &out, u), 0);
    ck_assert_ptr_nonnull(out);
    json_object_put(in);
    return out;
}

/* Assert that u holds exactly these numbers. */
static void
assert_usage(const struct prov_usage *u, int64_t prompt, int64_t completion, int64_t total,
             int64_t cached, int64_t reasoning)
{
    ck_assert_int_eq(u->have, 1);
    ck_assert_int_eq(u->prompt, prompt);
    ck_assert_int_eq(u->completion, completion);
    ck_assert_int_eq(u->total, total);
    ck_assert_int_eq(u->cached, cached);
    ck_assert_int_eq(u->reasoning, reasoning);
}

/* A stream under test: every emitted chunk. */
struct rec {
    struct json_object *chunks; /* parsed chunks; "[DONE]" as a string */
    struct prov_call call;
    struct prov_stream s;
};

static void
rec_emit(void *arg, const char *data, size_t len)
{
    struct rec *r = arg;
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        json_object_array_add(r->chunks, json_object_new_string("[DONE]"));
        return;
    }
    struct json_object *o = json_tokener_parse(data);
    ck_assert_msg(o != NULL && strlen(data) == len, "chunk not JSON: %.*s", (int)len, data);
    /* created is the clock's: checked here, then left out of the comparisons */
    ck_assert(json_object_is_type(at(o, "created"), json_type_int));
    ck_assert_int_gt(json_object_get_int64(at(o, "created")), 1700000000);
    json_object_object_del(o, "created");
    json_object_array_add(r->chunks, o);
}

/* Start a recorded stream (emit: record, or NULL). */
static void
rec_start(struct rec *r, int emit)
{
    memset(r, 0, sizeof(*r));
    r->chunks = json_object_new_array();
    r->call = call_for(OP_CHAT, 1);
    r->s.call = &r->call;
    r->s.emit = emit ? rec_emit : NULL;
    r->s.arg = r;
    ck_assert_int_eq(prov_gemini.stream_begin(&r->s), 0);
}

/* Feed one event's data. */
static int
rec_event(struct rec *r, const char *data)
{
    return prov_gemini.stream_event(&r->s, "", 0, data, strlen(data));
}

static void
rec_free(struct rec *r)
{
    prov_stream_free(&r->s);
    json_object_put(r->chunks);
}

/* ---- build: URL, query, headers ---- */

static const char hello[] =
    "{\"model\":\"g\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";

/* generateContent: the path and the key in x-goog-api-key, never in the URL. */
START_TEST(url_generate)
{
    struct prov_call c = call_for(OP_CHAT, 0);
    struct prov_http h;
    char hb[512];
    struct json_object *out = build_ok(&c, hello, &h);
    ck_assert_str_eq(h.url, BASE "/models/gemini-2.5-flash:generateContent");
    ck_assert_str_eq(headers(&h, hb, sizeof(hb)), "x-goog-api-key: AIzaSyTESTKEY");
    assert_json(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Hi\"}]}]}");
    json_object_put(out);
    http_free(&h);
}
END_TEST

/* streamGenerateContent with alt=sse (server-sent events, not the JSON array). */
START_TEST(url_stream)
{
    struct prov_call c = call_for(OP_CHAT, 1);
    struct prov_http h;
    char hb[512];
    struct json_object *out = build_ok(&c, hello, &h);
    ck_assert_str_eq(h.url, BASE "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    ck_assert_str_eq(headers(&h, hb, sizeof(hb)), "x-goog-api-key: AIzaSyTESTKEY");
    ck_assert_ptr_null(at(out, "stream"));
    json_object_put(out);
    http_free(&h);
}
END_TEST

/*
 * A key with CR LF (a record an older aigw stored before resource.c
 * refused them) is left out rather than sent as a header and a second,
 * injected one.
 */
START_TEST(url_key_with_crlf)
{
    struct target_view t = target;
    t.api_key = "AIzaSy\r\nContent-Length: 0";
    struct prov_call c = {.t = &t, .op = OP_CHAT};
    struct prov_http h;
    struct json_object *out = build_ok(&c, hello, &h);
    ck_assert_uint_eq(h.hlen, 0); /* no header line at all, so none with CR or LF */
    ck_assert_ptr_null(h.hdrs);
    json_object_put(out);
    http_free(&h);
}
END_TEST

/* No key: no header at all; a model name is escaped in the path. */
START_TEST(url_no_key)
{
    struct target_view t = target;
    t.api_key = "";
    t.upstream_model = "tuned model";
    struct prov_call c = {.t = &t, .op = OP_CHAT};
    struct prov_http h;
    struct json_object *out = build_ok(&c, hello, &h);
    ck_assert_str_eq(h.url, BASE "/models/tuned%20model:generateContent");
    ck_assert_ptr_null(h.hdrs);
    json_object_put(out);
    http_free(&h);
}
END_TEST

/*
 * countTokens: a whole generateContentRequest naming models/X, so that the
 * system instruction and the tools count; no generationConfig, no query.
 */
START_TEST(url_count_tokens)
{
    struct prov_call c = call_for(OP_COUNT_TOKENS, 0);
    struct prov_http h;
    char hb[512];
    struct json_object *out = build_ok(
        &c,
        "{\"model\":\"g\",\"max_tokens\":100,\"messages\":[{\"role\":\"system\",\"content\":"
        "\"Be terse.\"},{\"role\":\"user\",\"content\":\"Weather in Paris?\"}],\"tools\":[{"
        "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]}",
        &h);
    ck_assert_str_eq(h.url, BASE "/models/gemini-2.5-flash:countTokens");
    ck_assert_str_eq(headers(&h, hb, sizeof(hb)), "x-goog-api-key: AIzaSyTESTKEY");
    assert_json(out,
                "{\"generateContentRequest\":{\"model\":\"models/gemini-2.5-flash\","
                "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"Weather in Paris?\"}]}],"
                "\"systemInstruction\":{\"parts\":[{\"text\":\"Be terse.\"}]},"
                "\"tools\":[{\"functionDeclarations\":[{\"name\":\"get_weather\","
                "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":"
                "\"string\"}},\"required\":[\"city\"]}}]}]}}");
    json_object_put(out);
    http_free(&h);
}
END_TEST

/* ---- build: messages ---- */

/*
 * A whole tool conversation: system and developer into systemInstruction,
 * images inline and by URL, the assistant's calls (one with a thought
 * signature), the results named by the call they answer, and consecutive
 * user turns merged.
 */
START_TEST(messages_conversation)
{
    struct json_object *out = chat_body(
        "{\"model\":\"g\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are a weather bot.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use Celsius.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather here and there?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0KGgo=\"}},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://example.com/a/sky.JPG?x=1\"}}]},"
        "{\"role\":\"assistant\",\"content\":\"Checking.\",\"tool_calls\":["
        "{\"id\":\"call_a\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
        "\"extra_content\":{\"google\":{\"thought_signature\":\"CiQBSIG=\"}}},"
        "{\"id\":\"call_b\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
        "\"arguments\":\"\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_b\",\"content\":\"{} 12:00\"},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_a\",\"content\":\"{\\\"temp\\\":21}\"},"
        "{\"role\":\"user\",\"content\":\"Thanks!\"}]}");
    assert_json(out, "{\"systemInstruction\":{\"parts\":[{\"text\":\"You are a weather bot.\"},"
                     "{\"text\":\"Use Celsius.\"}]},"
                     "\"contents\":["
                     "{\"role\":\"user\",\"parts\":[{\"text\":\"Weather here and there?\"},"
                     "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0KGgo=\"}},"
                     "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":"
                     "\"https://example.com/a/sky.JPG?x=1\"}}]},"
                     "{\"role\":\"model\",\"parts\":[{\"text\":\"Checking.\"},"
                     "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},"
                     "\"thoughtSignature\":\"CiQBSIG=\"},"
                     "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}]},"
                     "{\"role\":\"user\",\"parts\":["
                     "{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"content\":\"{} "
                     "12:00\"}}},"
                     "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"temp\":21}}},"
                     "{\"text\":\"Thanks!\"}]}]}");
    json_object_put(out);
}
END_TEST

/* Empty texts are left out (Gemini refuses them); a turn left with nothing is dropped. */
START_TEST(messages_empty_text)
{
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"assistant\","
        "\"content\":\"\"},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\"},"
        "{\"type\":\"text\",\"text\":\"b\"}]}]}");
    assert_json(
        out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"a\"},{\"text\":\"b\"}]}]}");
    json_object_put(out);
}
END_TEST

/* Legacy functions: function_call and role "function", and audio and files inline. */
START_TEST(messages_legacy_and_media)
{
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
        "\"input_audio\":{\"data\":\"UklGRg==\",\"format\":\"wav\"}},{\"type\":\"file\",\"file\":"
        "{\"filename\":\"r.pdf\",\"file_data\":\"data:application/pdf;base64,JVBERi0=\"}}]},"
        "{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"x\\\":1}\"}},{\"role\":\"function\",\"name\":\"f\",\"content\":"
        "\"ok\"}],"
        "\"functions\":[{\"name\":\"f\",\"parameters\":{\"type\":\"object\",\"properties\":{\"x\":"
        "{\"type\":\"integer\"}}}}],\"function_call\":{\"name\":\"f\"}}");
    assert_json(
        out,
        "{\"contents\":[{\"role\":\"user\",\"parts\":["
        "{\"inlineData\":{\"mimeType\":\"audio/wav\",\"data\":\"UklGRg==\"}},"
        "{\"inlineData\":{\"mimeType\":\"application/pdf\",\"data\":\"JVBERi0=\"}}]},"
        "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"x\":1}}}]},"
        "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"f\",\"response\":"
        "{\"content\":\"ok\"}}}]}],"
        "\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}}}}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\","
        "\"allowedFunctionNames\":[\"f\"]}}}");
    json_object_put(out);
}
END_TEST

/* ---- build: tools ---- */

/* Schemas: Google's subset as parameters, JSON Schema's extras as parametersJsonSchema. */
START_TEST(tools_schemas)
{
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":["
        "{\"type\":\"function\",\"function\":{\"name\":\"plain\",\"description\":\"d\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"u\":{\"type\":\"string\","
        "\"enum\":[\"c\",\"f\"]},\"l\":{\"type\":\"array\",\"items\":{\"type\":\"number\"}}},"
        "\"required\":[\"u\"]}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"strict\",\"strict\":true,\"parameters\":"
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]}},"
        "\"required\":[\"a\"],\"additionalProperties\":false}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"noargs\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{},\"additionalProperties\":false}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"nested_empty\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"o\":{\"type\":\"object\"}}}}},"
        "{\"type\":\"function\",\"function\":{\"name\":\"bare_array\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"l\":{\"type\":\"array\"}}}}}],"
        "\"tool_choice\":\"required\"}");
    assert_json(
        at(out, "tools"),
        "[{\"functionDeclarations\":["
        "{\"name\":\"plain\",\"description\":\"d\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"u\":{\"type\":\"string\",\"enum\":[\"c\",\"f\"]},\"l\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"number\"}}},\"required\":[\"u\"]}},"
        "{\"name\":\"strict\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":"
        "{\"a\":{\"type\":[\"string\",\"null\"]}},\"required\":[\"a\"],"
        "\"additionalProperties\":false}},"
        "{\"name\":\"noargs\"},"
        "{\"name\":\"nested_empty\",\"parametersJsonSchema\":{\"type\":\"object\","
        "\"properties\":{\"o\":{\"type\":\"object\"}}}},"
        "{\"name\":\"bare_array\",\"parametersJsonSchema\":{\"type\":\"object\","
        "\"properties\":{\"l\":{\"type\":\"array\"}}}}]}]");
    assert_json(at(out, "toolConfig"), "{\"functionCallingConfig\":{\"mode\":\"ANY\"}}");
    json_object_put(out);
}
END_TEST

/* Each tool_choice: auto, none, a named function; no tools: no toolConfig. */
START_TEST(tools_choice)
{
    static const char *const cases[][2] = {
        {"\"auto\"", "{\"functionCallingConfig\":{\"mode\":\"AUTO\"}}"},
        {"\"none\"", "{\"functionCallingConfig\":{\"mode\":\"NONE\"}}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"f\"}}",
         "{\"functionCallingConfig\":{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"f\"]}}"},
    };
    char body[512];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":"
                 "\"function\",\"function\":{\"name\":\"f\"}}],\"tool_choice\":%s}",
                 cases[i][0]);
        struct json_object *out = chat_body(body);
        assert_json(at(out, "toolConfig"), cases[i][1]);
        assert_json(at(out, "tools"), "[{\"functionDeclarations\":[{\"name\":\"f\"}]}]");
        json_object_put(out);
    }
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"none\"}");
    ck_assert_ptr_null(at(out, "toolConfig"));
    ck_assert_ptr_null(at(out, "tools"));
    json_object_put(out);
}
END_TEST

/* ---- build: generationConfig ---- */

/* Every sampling field, max_completion_tokens over max_tokens, stop as a string, JSON mode. */
START_TEST(generation_config)
{
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":0.7,\"top_p\":0.9,"
        "\"max_tokens\":50,\"max_completion_tokens\":100,\"stop\":\"END\",\"n\":2,"
        "\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,\"seed\":42,"
        "\"response_format\":{\"type\":\"json_object\"},\"user\":\"u1\",\"logit_bias\":{\"1\":5},"
        "\"parallel_tool_calls\":false,\"stream_options\":{\"include_usage\":true},"
        "\"reasoning_effort\":\"low\",\"logprobs\":false}");
    assert_json(out, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"x\"}]}],"
                     "\"generationConfig\":{\"temperature\":0.7,\"topP\":0.9,"
                     "\"maxOutputTokens\":100,\"stopSequences\":[\"END\"],\"candidateCount\":2,"
                     "\"presencePenalty\":0.5,\"frequencyPenalty\":-0.5,\"seed\":42,"
                     "\"responseMimeType\":\"application/json\"}}");
    json_object_put(out);
}
END_TEST

/* max_tokens alone; stop as a list; json_schema to responseJsonSchema. */
START_TEST(generation_schema)
{
    struct json_object *out = chat_body(
        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":50,"
        "\"stop\":[\"a\",\"b\"],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
        "{\"name\":\"r\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":"
        "{\"type\":\"string\"}},\"additionalProperties\":false}}}}");
    assert_json(at(out, "generationConfig"),
                "{\"maxOutputTokens\":50,\"stopSequences\":[\"a\",\"b\"],"
                "\"responseMimeType\":\"application/json\",\"responseJsonSchema\":{\"type\":"
                "\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
                "\"additionalProperties\":false}}");
    json_object_put(out);
}
END_TEST

/* The target's max_tokens when the client gave none; no generationConfig without either. */
START_TEST(generation_target_max)
{
    struct target_view t = target;
    t.max_tokens = 4096;
    struct prov_call c = {.t = &t, .op = OP_CHAT};
    struct prov_http h;
    struct json_object *out = build_ok(&c, hello, &h);
    assert_json(at(out, "generationConfig"), "{\"maxOutputTokens\":4096}");
    json_object_put(out);
    http_free(&h);
    out = chat_body(hello);
    ck_assert_ptr_null(at(out, "generationConfig"));
    json_object_put(out);
}
END_TEST

/* ---- build: refusals (400) ---- */

#define MSGS "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]"

/* What Gemini cannot express is a 400 naming the field and the provider. */
START_TEST(refusals)
{
    build_fails("{" MSGS ",\"logprobs\":true}", "logprobs", "provider gemini");
    build_fails("{" MSGS ",\"top_logprobs\":2}", "top_logprobs", "provider gemini");
    build_fails("{" MSGS ",\"audio\":{\"voice\":\"alloy\",\"format\":\"wav\"}}", "audio",
                "provider gemini");
    build_fails("{" MSGS ",\"modalities\":[\"text\",\"audio\"]}", "modalities", "provider gemini");
    build_fails("{" MSGS ",\"web_search_options\":{}}", "web_search_options", "provider gemini");
    build_fails("{" MSGS ",\"response_format\":{\"type\":\"grammar\"}}", "response_format",
                "provider gemini");
    build_fails("{" MSGS ",\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"c\"}}]}",
                "tools[0]", "provider gemini");
    build_fails("{" MSGS ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                "\"tool_choice\":{\"type\":\"allowed_tools\",\"allowed_tools\":{}}}",
                "tool_choice", "provider gemini");
    build_fails("{\"model\":\"g\"}", "messages is required", NULL);
    build_fails("{\"messages\":[{\"role\":\"system\",\"content\":\"only\"}]}", "provider gemini",
                NULL);
}
END_TEST

/* Messages Gemini cannot take: unknown images, unparsable calls, unanswerable results. */
START_TEST(refusals_messages)
{
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"https://example.com/img\"}}]}]}",
                "messages[0]", "extension");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}]}",
                "messages[0]", "base64");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":"
                "{\"file_id\":\"file-1\"}}]}]}",
                "messages[0]", "file_id");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"arguments\":\"{not json\"}}]}]}",
                "messages[1]", "not a JSON object");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"arguments\":\"[1]\"}}]}]}",
                "messages[1]", "not a JSON object");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"arguments\":\"{} and more\"}}]}]}",
                "messages[1]", "not a JSON object");
    build_fails("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\","
                "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c2\",\"content\":"
                "\"r\"}]}",
                "messages[2]", "\"c2\"");
    build_fails("{\"messages\":[{\"role\":\"tool\",\"content\":\"r\"}]}", "tool_call_id", NULL);
    build_fails("{\"messages\":[{\"role\":\"critic\",\"content\":\"r\"}]}", "critic",
                "provider gemini");
}
END_TEST

/* ---- answers ---- */

/* A text answer as Google sends it (safetyRatings, modality details, thoughts counted). */
START_TEST(answer_text)
{
    struct prov_usage u;
    struct json_object *out = answer(
        OP_CHAT,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"AI learns patterns \"},{\"text\":"
        "\"from data.\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0,"
        "\"safetyRatings\":[{\"category\":\"HARM_CATEGORY_HARASSMENT\",\"probability\":"
        "\"NEGLIGIBLE\"}]}],\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":6,"
        "\"totalTokenCount\":42,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":8}],"
        "\"thoughtsTokenCount\":28},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":"
        "\"mAitaJ7jB4-Kz7IPm8-n-AQ\"}",
        &u);
    assert_usage(&u, 8, 34, 42, 0, 28);
    ck_assert(json_object_is_type(at(out, "created"), json_type_int));
    json_object_object_del(out, "created");
    assert_json(out, "{\"id\":\"mAitaJ7jB4-Kz7IPm8-n-AQ\",\"object\":\"chat.completion\","
                     "\"model\":\"gemini-2.5-flash\",\"choices\":[{\"index\":0,\"message\":{"
                     "\"role\":\"assistant\",\"content\":\"AI learns patterns from data.\"},"
                     "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
                     "\"prompt_tokens\":8,\"completion_tokens\":34,\"total_tokens\":42,"
                     "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                     "\"completion_tokens_details\":{\"reasoning_tokens\":28}}}");
    json_object_put(out);
}
END_TEST

/*
 * Thoughts and parallel calls: thought text to reasoning_content, calls to
 * tool_calls (call_<n>, or Gemini's id; the signature in extra_content),
 * STOP with calls to tool_calls; cached and tool-use prompt tokens counted.
 */
START_TEST(answer_calls_thoughts)
{
    struct prov_usage u;
    struct json_object *out = answer(
        OP_CHAT,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"**Planning** I need both "
        "cities.\",\"thought\":true},{\"functionCall\":{\"name\":\"get_weather\",\"args\":{"
        "\"city\":\"Paris\"}},\"thoughtSignature\":\"CiQBSIG0Aw==\"},{\"functionCall\":{\"name\":"
        "\"get_weather\",\"args\":{\"city\":\"Rome\"}}},{\"functionCall\":{\"id\":\"fc-9\","
        "\"name\":\"get_time\"}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],"
        "\"usageMetadata\":{\"promptTokenCount\":2152,\"candidatesTokenCount\":35,"
        "\"totalTokenCount\":2526,\"cachedContentTokenCount\":2048,\"toolUsePromptTokenCount\":"
        "90,\"thoughtsTokenCount\":249},\"modelVersion\":\"gemini-2.5-pro\"}",
        &u);
    /* prompt 2152 + 90, completion 35 + 249, Gemini's total */
    assert_usage(&u, 2242, 284, 2526, 2048, 249);
    assert_json(at(out, "choices"),
                "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
                "\"reasoning_content\":\"**Planning** I need both cities.\",\"tool_calls\":["
                "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},\"extra_content\":{\"google\":{"
                "\"thought_signature\":\"CiQBSIG0Aw==\"}}},"
                "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
                "\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}},"
                "{\"id\":\"fc-9\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
                "\"arguments\":\"{}\"}}]},"
                "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]");
    assert_json(at(out, "usage"), "{\"prompt_tokens\":2242,\"completion_tokens\":284,"
                                  "\"total_tokens\":2526,\"prompt_tokens_details\":{"
                                  "\"cached_tokens\":2048},\"completion_tokens_details\":{"
                                  "\"reasoning_tokens\":249}}");
    /* no responseId: an id of our own; the model Gemini named */
    ck_assert_str_eq(json_object_get_string(at(out, "model")), "gemini-2.5-pro");
    ck_assert(strncmp(json_object_get_string(at(out, "id")), "chatcmpl-", 9) == 0);
    json_object_put(out);
}
END_TEST

/*
 * usageMetadata an upstream should never send: counts near INT64_MAX whose
 * sums overflowed (an abort under UBSan), negatives, a fraction. Each is
 * clamped to 0..10^9 and the usage says it was.
 */
START_TEST(answer_absurd_usage)
{
    struct prov_usage u;
    struct json_object *out = answer(
        OP_CHAT,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}],\"role\":\"model\"},"
        "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
        "\"promptTokenCount\":9223372036854775807,\"toolUsePromptTokenCount\":9223372036854775807,"
        "\"candidatesTokenCount\":-3,\"thoughtsTokenCount\":-9223372036854775807,"
        "\"cachedContentTokenCount\":1.5}}",
        &u);
    ck_assert_int_eq(u.bad, 1);
    assert_usage(&u, 1000000000, 0, 1000000000, 0, 0);
    ck_assert_int_eq(json_object_get_int64(at(out, "usage.prompt_tokens")), 1000000000);
    json_object_put(out);
    out = answer(OP_CHAT,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
                 "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,"
                 "\"candidatesTokenCount\":3,\"totalTokenCount\":-8}}",
                 &u);
    ck_assert_int_eq(u.bad, 1);
    assert_usage(&u, 5, 3, 0, 0, 0);
    json_object_put(out);
    out = answer(OP_CHAT,
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
                 "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,"
                 "\"candidatesTokenCount\":3}}",
                 &u);
    ck_assert_int_eq(u.bad, 0);
    json_object_put(out);
}
END_TEST

/* finishReason by candidate: MAX_TOKENS, SAFETY (no content), RECITATION, OTHER; ids unique. */
START_TEST(answer_finish_reasons)
{
    struct prov_usage u;
    struct json_object *out = answer(
        OP_CHAT,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Once upon\"}],\"role\":\"model\"},"
        "\"finishReason\":\"MAX_TOKENS\",\"index\":0},{\"finishReason\":\"SAFETY\",\"index\":1,"
        "\"safetyRatings\":[{\"category\":\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\":"
        "\"HIGH\",\"blocked\":true}]},{\"content\":{\"parts\":[{\"text\":\"x\"}],\"role\":"
        "\"model\"},\"finishReason\":\"RECITATION\",\"index\":2},{\"content\":{\"parts\":[{"
        "\"functionCall\":{\"name\":\"f\",\"args\":{}}}],\"role\":\"model\"},\"finishReason\":"
        "\"MALFORMED_FUNCTION_CALL\",\"index\":3},{\"content\":{\"parts\":[{\"text\":\"y\"}]},"
        "\"finishReason\":\"PROHIBITED_CONTENT\"}],"
        "\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":3}}",
        &u);
    assert_usage(&u, 5, 3, 8, 0, 0); /* no totalTokenCount: the sum */
    ck_assert_str_eq(json_object_get_string(at(out, "choices.0.finish_reason")), "length");
    ck_assert_str_eq(json_object_get_string(at(out, "choices.0.message.content")), "Once upon");
    ck_assert_str_eq(json_object_get_string(at(out, "choices.1.finish_reason")), "content_filter");
    ck_assert_int_eq(json_object_get_int(at(out, "choices.1.index")), 1);
    ck_assert(json_object_object_get_ex(at(out, "choices.1.message"), "content", NULL));
    ck_assert_ptr_null(at(out, "choices.1.message.content"));
    ck_assert_str_eq(json_object_get_string(at(out, "choices.2.finish_reason")), "content_filter");
    ck_assert_str_eq(json_object_get_string(at(out, "choices.3.finish_reason")), "stop");
    ck_assert_str_eq(json_object_get_string(at(out, "choices.3.message.tool_calls.0.id")),
                     "call_0");
    ck_assert_str_eq(json_object_get_string(at(out, "choices.4.finish_reason")), "content_filter");
    ck_assert_int_eq(json_object_get_int(at(out, "choices.4.index")), 4); /* index 0 left out */
    json_object_put(out);
}
END_TEST

/* Every finishReason Gemini documents, alone in an answer. */
START_TEST(answer_each_finish_reason)
{
    static const char *const cases[][2] = {
        {"STOP", "stop"},
        {"MAX_TOKENS", "length"},
        {"SAFETY", "content_filter"},
        {"RECITATION", "content_filter"},
        {"BLOCKLIST", "content_filter"},
        {"PROHIBITED_CONTENT", "content_filter"},
        {"SPII", "content_filter"},
        {"IMAGE_SAFETY", "content_filter"},
        {"LANGUAGE", "stop"},
        {"OTHER", "stop"},
        {"MALFORMED_FUNCTION_CALL", "stop"},
        {"FINISH_REASON_UNSPECIFIED", "stop"},
    };
    char in[256];
    struct prov_usage u;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(in, sizeof(in),
                 "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}],\"role\":"
                 "\"model\"},\"finishReason\":\"%s\",\"index\":0}]}",
                 cases[i][0]);
        struct json_object *out = answer(OP_CHAT, in, &u);
        ck_assert_msg(
            strcmp(json_object_get_string(at(out, "choices.0.finish_reason")), cases[i][1]) == 0,
            "%s gave %s", cases[i][0], json_object_get_string(at(out, "choices.0.finish_reason")));
        json_object_put(out);
    }
}
END_TEST

/* A prompt blocked: no candidates, promptFeedback.blockReason: one filtered choice. */
START_TEST(answer_blocked_prompt)
{
    struct prov_usage u;
    struct json_object *out = answer(
        OP_CHAT,
        "{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[{\"category\":"
        "\"HARM_CATEGORY_SEXUALLY_EXPLICIT\",\"probability\":\"NEGLIGIBLE\"},{\"category\":"
        "\"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\":\"HIGH\"}]},\"usageMetadata\":{"
        "\"promptTokenCount\":12,\"totalTokenCount\":12},\"modelVersion\":\"gemini-2.0-flash\"}",
        &u);
    assert_usage(&u, 12, 0, 12, 0, 0);
    assert_json(at(out, "choices"), "[{\"index\":0,\"message\":{\"role\":\"assistant\","
                                    "\"content\":null},\"logprobs\":null,"
                                    "\"finish_reason\":\"content_filter\"}]");
    json_object_put(out);
}
END_TEST

/* Ids of our own differ between answers; the target's model when Gemini names none. */
START_TEST(answer_ids)
{
    struct prov_usage u;
    const char *in = "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
                     "\"finishReason\":\"STOP\"}]}";
    struct json_object *a = answer(OP_CHAT, in, &u), *b = answer(OP_CHAT, in, &u);
    ck_assert_int_eq(u.have, 0);
    ck_assert_str_ne(json_object_get_string(at(a, "id")), json_object_get_string(at(b, "id")));
    ck_assert_str_eq(json_object_get_string(at(a, "model")), "gemini-2.5-flash");
    ck_assert_int_eq(json_object_get_int(at(a, "usage.total_tokens")), 0);
    json_object_put(a);
    json_object_put(b);
}
END_TEST

/* countTokens' answer; what is not Gemini's answer is -1 (a 502). */
START_TEST(answer_count_and_bad)
{
    static const char *const bad[] = {"{\"choices\":[]}", "{\"candidates\":{}}", "[1]", "\"x\""};
    struct prov_usage u;
    struct prov_call c = call_for(OP_CHAT, 0), cc = call_for(OP_COUNT_TOKENS, 0);
    struct json_object *out = answer(
        OP_COUNT_TOKENS,
        "{\"totalTokens\":31,\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":31}]}",
        &u);
    assert_json(out, "{\"input_tokens\":31}");
    json_object_put(out);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *in = parse(bad[i]);
        out = (struct json_object *)1;
        ck_assert_int_eq(prov_gemini.response(&c, in, &out, &u), -1);
        ck_assert_ptr_null(out);
        ck_assert_int_eq(prov_gemini.response(&cc, in, &out, &u), -1);
        json_object_put(in);
    }
}
END_TEST

/* ---- streams ---- */

/* A 2.5 Flash text stream as Google sends it: usage in every event, the last with the finish. */
static const char *const text_events[] = {
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"The\"}],\"role\":\"model\"},"
    "\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10,"
    "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":10}]},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"mAitaJ7jB4\"}",
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" quick brown fox\"}],\"role\":"
    "\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,\"totalTokenCount\":10,"
    "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":10}]},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"mAitaJ7jB4\"}",
    "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" jumps.\"}],\"role\":\"model\"},"
    "\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,"
    "\"candidatesTokenCount\":6,\"totalTokenCount\":45,\"promptTokensDetails\":[{\"modality\":"
    "\"TEXT\",\"tokenCount\":10}],\"thoughtsTokenCount\":29},\"modelVersion\":"
    "\"gemini-2.5-flash\",\"responseId\":\"mAitaJ7jB4\"}",
};

#define CHUNK(delta, fr)                                                                           \
    "{\"id\":\"mAitaJ7jB4\",\"object\":\"chat.completion.chunk\",\"model\":\"gemini-2.5-flash\","  \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"logprobs\":null,\"finish_reason\":" fr "}]}"

/* The chunks in order: role, pieces, finish; at the close the usage chunk and [DONE]. */
START_TEST(stream_text)
{
    struct rec r;
    rec_start(&r, 1);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(rec_event(&r, text_events[i]), 0);
    ck_assert_int_eq(r.s.done, 0); /* no terminator: only the close ends it */
    assert_json(r.chunks,
                "[" CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") "," CHUNK(
                    "{\"content\":\"The\"}",
                    "null") "," CHUNK("{\"content\":\" quick brown fox\"}",
                                      "null") "," CHUNK("{\"content\":\" jumps.\"}",
                                                        "null") "," CHUNK("{}", "\"stop\"") "]");
    assert_usage(&r.s.usage, 10, 35, 45, 0, 29);
    prov_gemini.stream_close(&r.s);
    ck_assert_int_eq(r.s.done, 1);
    ck_assert_int_eq(json_object_array_length(r.chunks), 7);
    assert_json(json_object_array_get_idx(r.chunks, 5),
                "{\"id\":\"mAitaJ7jB4\",\"object\":\"chat.completion.chunk\",\"model\":"
                "\"gemini-2.5-flash\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
                "\"completion_tokens\":35,\"total_tokens\":45,\"prompt_tokens_details\":{"
                "\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":29}}}");
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(r.chunks, 6)), "[DONE]");
    ck_assert_int_eq(r.s.error_status, 0);
    rec_free(&r);
}
END_TEST

/* Thoughts as reasoning_content, a call as one whole tool_calls delta, finish tool_calls. */
START_TEST(stream_thoughts_and_call)
{
    struct rec r;
    rec_start(&r, 1);
    ck_assert_int_eq(
        rec_event(&r, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"**Checking**\","
                      "\"thought\":true}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{"
                      "\"promptTokenCount\":40,\"totalTokenCount\":40},\"modelVersion\":"
                      "\"gemini-2.5-flash\",\"responseId\":\"mAitaJ7jB4\"}"),
        0);
    ck_assert_int_eq(
        rec_event(&r, "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":"
                      "\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":"
                      "\"CiQB\"},{\"functionCall\":{\"name\":\"get_time\",\"args\":{}}}],\"role\":"
                      "\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{"
                      "\"promptTokenCount\":40,\"candidatesTokenCount\":15,\"totalTokenCount\":"
                      "75,\"cachedContentTokenCount\":32,\"thoughtsTokenCount\":20},"
                      "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"mAitaJ7jB4\"}"),
        0);
    prov_gemini.stream_close(&r.s);
    assert_json(
        r.chunks,
        "[" CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") "," CHUNK(
            "{\"reasoning_content\":\"**Checking**\"}",
            "null") "," CHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_0\",\"type\":"
                              "\"function\","
                              "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{"
                              "\\\"city\\\":\\\"Paris\\\"}\"},"
                              "\"extra_content\":{\"google\":{\"thought_signature\":\"CiQB\"}}}]}",
                              "null") "," CHUNK("{\"tool_calls\":[{\"index\":1,\"id\":\"call_1\","
                                                "\"type\":\"function\","
                                                "\"function\":{\"name\":\"get_time\",\"arguments\":"
                                                "\"{}\"}}]}",
                                                "null") "," CHUNK("{}",
                                                                  "\"tool_calls\"") ","
                                                                                    "{\"id\":"
                                                                                    "\"mAitaJ7jB4\""
                                                                                    ",\"object\":"
                                                                                    "\"chat."
                                                                                    "completion."
                                                                                    "chunk\","
                                                                                    "\"model\":"
                                                                                    "\"gemini-2.5-"
                                                                                    "flash\","
                                                                                    "\"choices\":[]"
                                                                                    ",\"usage\":{"
                                                                                    "\"prompt_"
                                                                                    "tokens\":40,"
                                                                                    "\"completion_"
                                                                                    "tokens\":35,"
                                                                                    "\"total_"
                                                                                    "tokens\":75,"
                                                                                    "\"prompt_"
                                                                                    "tokens_"
                                                                                    "details\":{"
                                                                                    "\"cached_"
                                                                                    "tokens\":32},"
                                                                                    "\"completion_"
                                                                                    "tokens_"
                                                                                    "details\":{"
                                                                                    "\"reasoning_"
                                                                                    "tokens\":20}}}"
                                                                                    ","
                                                                                    "\"[DONE]\"]");
    ck_assert_int_eq(r.s.done, 1);
    rec_free(&r);
}
END_TEST

/* Cut before any finishReason: the close adds nothing (the relay reports the truncation). */
START_TEST(stream_truncated)
{
    struct rec r;
    rec_start(&r, 1);
    ck_assert_int_eq(rec_event(&r, text_events[0]), 0);
    ck_assert_int_eq(rec_event(&r, text_events[1]), 0);
    prov_gemini.stream_close(&r.s);
    ck_assert_int_eq(r.s.done, 0);
    ck_assert_int_eq(json_object_array_length(r.chunks), 3); /* role and two pieces */
    assert_usage(&r.s.usage, 10, 0, 10, 0, 0);
    rec_free(&r);
}
END_TEST

/* An error event after some text: its code and Google's status, nothing emitted, no [DONE]. */
START_TEST(stream_error_event)
{
    struct rec r;
    rec_start(&r, 1);
    ck_assert_int_eq(rec_event(&r, text_events[0]), 0);
    ck_assert_int_eq(rec_event(&r, "{\"error\":{\"code\":503,\"message\":\"The model is "
                                   "overloaded. Please try again later.\",\"status\":"
                                   "\"UNAVAILABLE\"}}"),
                     0);
    ck_assert_int_eq(r.s.error_status, 503);
    assert_json(r.s.error, "{\"error\":{\"message\":\"The model is overloaded. Please try again "
                           "later.\",\"type\":\"server_error\",\"param\":null,\"code\":"
                           "\"UNAVAILABLE\"}}");
    ck_assert_int_eq(json_object_array_length(r.chunks), 2);
    prov_gemini.stream_close(&r.s);
    ck_assert_int_eq(r.s.done, 0);
    ck_assert_int_eq(json_object_array_length(r.chunks), 2);
    rec_free(&r);
}
END_TEST

/* No emit (accounting only): usage and the end still tracked. */
START_TEST(stream_no_emit)
{
    struct rec r;
    rec_start(&r, 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(rec_event(&r, text_events[i]), 0);
    prov_gemini.stream_close(&r.s);
    ck_assert_int_eq(r.s.done, 1);
    assert_usage(&r.s.usage, 10, 35, 45, 0, 29);
    ck_assert_int_eq(json_object_array_length(r.chunks), 0);
    rec_free(&r);
}
END_TEST

/* A prompt blocked in a stream: the role chunk, a content_filter finish; the close ends it. */
START_TEST(stream_blocked_prompt)
{
    struct rec r;
    rec_start(&r, 1);
    ck_assert_int_eq(rec_event(&r,
                               "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"},"
                               "\"usageMetadata\":{\"promptTokenCount\":7,\"totalTokenCount\":7},"
                               "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":"
                               "\"mAitaJ7jB4\"}"),
                     0);
    prov_gemini.stream_close(&r.s);
    ck_assert_int_eq(r.s.done, 1);
    ck_assert_int_eq(json_object_array_length(r.chunks), 4);
    assert_json(json_object_array_get_idx(r.chunks, 1), CHUNK("{}", "\"content_filter\""));
    ck_assert_int_eq(json_object_get_int(at(r.chunks, "2.usage.prompt_tokens")), 7);
    rec_free(&r);
}
END_TEST

/* What is not a Gemini event is -1. */
START_TEST(stream_bad_events)
{
    struct rec r;
    rec_start(&r, 1);
    ck_assert_int_eq(rec_event(&r, "{\"candidates\":[{\"content\""), -1);
    ck_assert_int_eq(rec_event(&r, "[DONE]"), -1);
    ck_assert_int_eq(rec_event(&r, "{\"choices\":[]}"), -1);
    ck_assert_int_eq(rec_event(&r, "[{\"candidates\":[]}]"), -1);
    ck_assert_int_eq(json_object_array_length(r.chunks), 0);
    rec_free(&r);
}
END_TEST

/* ---- errors ---- */

/* Google's errors as OpenAI's: the type by the HTTP status, the code Google's status. */
START_TEST(errors_mapped)
{
    static const struct {
        long status;
        const char *body, *type, *code, *message;
    } cases[] = {
        {400,
         "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\","
         "\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/"
         "google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\"}]}}",
         "invalid_request_error", "INVALID_ARGUMENT",
         "API key not valid. Please pass a valid API key."},
        {401, "{\"error\":{\"code\":401,\"message\":\"m\",\"status\":\"UNAUTHENTICATED\"}}",
         "authentication_error", "UNAUTHENTICATED", "m"},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Method doesn't allow unregistered callers\","
         "\"status\":\"PERMISSION_DENIED\"}}",
         "permission_error", "PERMISSION_DENIED", "Method doesn't allow unregistered callers"},
        {404,
         "{\"error\":{\"code\":404,\"message\":\"models/gemini-9 is not found for API version "
         "v1beta\",\"status\":\"NOT_FOUND\"}}",
         "not_found_error", "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"},
        {429,
         "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check "
         "quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
         "rate_limit_error", "RESOURCE_EXHAUSTED",
         "Resource has been exhausted (e.g. check quota)."},
        {500,
         "{\"error\":{\"code\":500,\"message\":\"An internal error has occurred.\",\"status\":"
         "\"INTERNAL\"}}",
         "server_error", "INTERNAL", "An internal error has occurred."},
        {503,
         "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\",\"status\":"
         "\"UNAVAILABLE\"}}",
         "server_error", "UNAVAILABLE", "The model is overloaded."},
        {409, "{\"error\":{\"code\":409,\"message\":\"m\",\"status\":\"ABORTED\"}}",
         "invalid_request_error", "ABORTED", "m"},
    };
    char want[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *in = parse(cases[i].body), *out = NULL;
        ck_assert_int_eq(prov_gemini.error(cases[i].status, NULL, in, &out), (int)cases[i].status);
        snprintf(want, sizeof(want),
                 "{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,\"code\":\"%s\"}}",
                 cases[i].message, cases[i].type, cases[i].code);
        assert_json(out, want);
        json_object_put(out);
        json_object_put(in);
    }
}
END_TEST

/* Not Google's error shape (or not JSON): -1, a 502. */
START_TEST(errors_not_google)
{
    struct json_object *out = (struct json_object *)1, *in = parse("{\"message\":\"x\"}");
    ck_assert_int_eq(prov_gemini.error(500, NULL, NULL, &out), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(prov_gemini.error(500, NULL, in, &out), -1);
    json_object_put(in);
    in = parse("{\"error\":\"x\"}");
    ck_assert_int_eq(prov_gemini.error(500, NULL, in, &out), -1);
    json_object_put(in);
}
END_TEST

/* The provider's table entry. */
START_TEST(provider_entry)
{
    ck_assert_ptr_eq(provider_get(PROVIDER_GEMINI), &prov_gemini);
    ck_assert_str_eq(prov_gemini.name, "gemini");
    ck_assert_int_eq(prov_gemini.own, DIALECT_NONE);
    ck_assert_uint_eq(prov_gemini.ops, OP_BIT(OP_CHAT) | OP_BIT(OP_COUNT_TOKENS));
}
END_TEST

static Suite *
gemini_suite(void)
{
    Suite *s = suite_create("prov_gemini");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, provider_entry);
    tcase_add_test(tc, url_generate);
    tcase_add_test(tc, url_stream);
    tcase_add_test(tc, url_no_key);
    tcase_add_test(tc, url_key_with_crlf);
    tcase_add_test(tc, url_count_tokens);
    tcase_add_test(tc, messages_conversation);
    tcase_add_test(tc, messages_empty_text);
    tcase_add_test(tc, messages_legacy_and_media);
    tcase_add_test(tc, tools_schemas);
    tcase_add_test(tc, tools_choice);
    tcase_add_test(tc, generation_config);
    tcase_add_test(tc, generation_schema);
    tcase_add_test(tc, generation_target_max);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, refusals_messages);
    suite_add_tcase(s, tc);

    tc = tcase_create("answer");
    tcase_add_test(tc, answer_text);
    tcase_add_test(tc, answer_calls_thoughts);
    tcase_add_test(tc, answer_finish_reasons);
    tcase_add_test(tc, answer_each_finish_reason);
    tcase_add_test(tc, answer_blocked_prompt);
    tcase_add_test(tc, answer_ids);
    tcase_add_test(tc, answer_count_and_bad);
    tcase_add_test(tc, answer_absurd_usage);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, stream_text);
    tcase_add_test(tc, stream_thoughts_and_call);
    tcase_add_test(tc, stream_truncated);
    tcase_add_test(tc, stream_error_event);
    tcase_add_test(tc, stream_no_emit);
    tcase_add_test(tc, stream_blocked_prompt);
    tcase_add_test(tc, stream_bad_events);
    suite_add_tcase(s, tc);

    tc = tcase_create("error");
    tcase_add_test(tc, errors_mapped);
    tcase_add_test(tc, errors_not_google);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(gemini_suite());
}
