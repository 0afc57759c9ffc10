/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_jsonraw.c: pass-through bodies edited on their bytes: the member
 * scanner, the splicer, and the OpenAI and Anthropic pass-through builds
 * (the client's text arrives as it was written, big integers and spacing
 * included).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "jsonraw.h"
#include "prov_openai.h"
#include "provider.h"
#include "tap.h"

/* The value of member key of the top-level object, as text ("" when not found; "ERR"). */
static char *
member(const char *text, const char *key)
{
    struct jsonraw_span v;
    size_t close, n = strlen(text), obj = jsonraw_start(text, n);
    static char out[256];
    if (obj == (size_t)-1)
        return "ERR";
    int r = jsonraw_member(text, n, obj, key, &v, &close);
    if (r < 0)
        return "ERR";
    if (r == 1)
        return "";
    snprintf(out, sizeof(out), "%.*s", (int)(v.e - v.b), text + v.b);
    return out;
}

START_TEST(member_found)
{
    const char *t = "  { \"a\" : 1 , \"s\":\"x\\\"}{]\" ,\"o\":{\"model\":[1,{\"b\":\"}\"}]},"
                    "\"model\" :\t\"gpt\"\n}\n";
    ck_assert_str_eq(member(t, "model"), "\"gpt\"");
    ck_assert_str_eq(member(t, "s"), "\"x\\\"}{]\"");
    ck_assert_str_eq(member(t, "o"), "{\"model\":[1,{\"b\":\"}\"}]}");
    ck_assert_str_eq(member(t, "a"), "1");
    ck_assert_str_eq(member(t, "b"), ""); /* nested members are not top-level */
}
END_TEST

START_TEST(member_last_duplicate_and_escaped_key)
{
    ck_assert_str_eq(member("{\"model\":\"a\",\"model\":\"b\"}", "model"), "\"b\"");
    /* an escaped name is the name json-c reads */
    ck_assert_str_eq(member("{\"mod\\u0065l\":\"a\"}", "model"), "\"a\"");
    ck_assert_str_eq(member("{\"model\\u0000\":\"a\"}", "model"), "");
    ck_assert_str_eq(member("{}", "model"), "");
    ck_assert_str_eq(member("[1]", "model"), "ERR");
    ck_assert_str_eq(member("{\"model\":\"a", "model"), "ERR");
}
END_TEST

START_TEST(apply_edits_in_order)
{
    const char *t = "{\"a\":1,\"b\":2}";
    struct jsonraw_edit ed[3] = {
        {12, 0, ",\"y\":4", 6, 0}, /* at the same place: in the order given */
        {5, 1, "10", 2, 0},
        {12, 0, ",\"z\":5", 6, 0},
    };
    size_t len;
    char *out = jsonraw_apply(t, strlen(t), ed, 3, &len);
    ck_assert_str_eq(out, "{\"a\":10,\"b\":2,\"y\":4,\"z\":5}");
    ck_assert_uint_eq(len, strlen(out));
    free(out);
}
END_TEST

/* Build a pass-through for provider p from text; the upstream body. */
static char *
passthrough(const struct provider *p, const char *text, int stream, int max_tokens)
{
    struct target_view t = {.name = "t",
                            .upstream_model = "up-\"1\"",
                            .api_base = "http://h/v1",
                            .api_key = "",
                            .api_version = "2023-06-01",
                            .max_tokens = max_tokens};
    struct prov_call c = {
        .t = &t, .op = OP_CHAT, .stream = stream, .native = 1, .raw = text, .rawlen = strlen(text)};
    struct prov_http h = {0};
    char err[256];
    struct json_object *body = json_tokener_parse(text);
    ck_assert_ptr_nonnull(body);
    ck_assert_int_eq(p->build(&c, body, &h, err, sizeof(err)), 0);
    char *out = strndup(h.body, h.len);
    prov_http_free(&h);
    json_object_put(body);
    return out;
}

START_TEST(openai_passthrough_keeps_bytes)
{
    const char *t =
        "{\n  \"model\": \"m\",\n  \"messages\": [{\"role\": \"user\", \"content\": \"h\"}],\n"
        "  \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", "
        "\"parameters\": {\"maximum\": 123456789012345678901234567890, \"x\": 1.50}}}]\n}";
    char *out = passthrough(&prov_openai, t, 0, 0);
    ck_assert_str_eq(out,
                     "{\n  \"model\": \"up-\\\"1\\\"\",\n  \"messages\": [{\"role\": \"user\", "
                     "\"content\": \"h\"}],\n  \"tools\": [{\"type\": \"function\", "
                     "\"function\": {\"name\": \"f\", \"parameters\": {\"maximum\": "
                     "123456789012345678901234567890, \"x\": 1.50}}}]\n}");
    free(out);
}
END_TEST

START_TEST(openai_passthrough_stream_options)
{
    char *out = passthrough(&prov_openai, "{\"model\":\"m\",\"stream\":true}", 1, 0);
    ck_assert_str_eq(out, "{\"model\":\"up-\\\"1\\\"\",\"stream\":true,"
                          "\"stream_options\":{\"include_usage\":true}}");
    free(out);
    out = passthrough(&prov_openai, "{\"stream_options\":{},\"model\":\"m\"}", 1, 0);
    ck_assert_str_eq(out,
                     "{\"stream_options\":{\"include_usage\":true},\"model\":\"up-\\\"1\\\"\"}");
    free(out);
    out = passthrough(&prov_openai, "{\"stream_options\":{\"x\":1},\"model\":\"m\"}", 1, 0);
    ck_assert_str_eq(out, "{\"stream_options\":{\"include_usage\":true,\"x\":1},"
                          "\"model\":\"up-\\\"1\\\"\"}");
    free(out);
    out = passthrough(&prov_openai,
                      "{\"stream_options\":{\"include_usage\": false},\"model\":\"m\"}", 1, 0);
    ck_assert_str_eq(out,
                     "{\"stream_options\":{\"include_usage\": true},\"model\":\"up-\\\"1\\\"\"}");
    free(out);
    out = passthrough(&prov_openai, "{\"stream_options\":null,\"model\":\"m\"}", 1, 0);
    ck_assert_str_eq(out,
                     "{\"stream_options\":{\"include_usage\":true},\"model\":\"up-\\\"1\\\"\"}");
    free(out);
}
END_TEST

START_TEST(openai_passthrough_max_tokens)
{
    char *out = passthrough(&prov_openai, "{\"model\":\"m\" }", 0, 300);
    ck_assert_str_eq(out, "{\"model\":\"up-\\\"1\\\"\" ,\"max_completion_tokens\":300}");
    free(out);
    out = passthrough(&prov_openai_compatible, "{\"model\":\"m\"}", 0, 300);
    ck_assert_str_eq(out, "{\"model\":\"up-\\\"1\\\"\",\"max_tokens\":300}");
    free(out);
    out = passthrough(&prov_openai, "{\"model\":\"m\",\"max_tokens\":5}", 0, 300);
    ck_assert_str_eq(out, "{\"model\":\"up-\\\"1\\\"\",\"max_tokens\":5}");
    free(out);
}
END_TEST

START_TEST(escaped_key_edited_in_the_bytes)
{
    char *out = passthrough(&prov_openai, "{\"mod\\u0065l\":\"m\"}", 0, 0);
    ck_assert_str_eq(out, "{\"mod\\u0065l\":\"up-\\\"1\\\"\"}");
    free(out);
    /* a stream's usage cannot be hidden behind an escaped include_usage */
    out = passthrough(&prov_openai,
                      "{\"model\":\"m\",\"stream\":true,\"stream_options\":"
                      "{\"include_us\\u0061ge\":false}}",
                      1, 0);
    ck_assert_str_eq(out, "{\"model\":\"up-\\\"1\\\"\",\"stream\":true,\"stream_options\":"
                          "{\"include_us\\u0061ge\":true}}");
    free(out);
}
END_TEST

/* "\\u00XX" for each byte of s: a name written with escapes only. */
static void
escaped(char *out, const char *s)
{
    for (; *s; s++, out += 6)
        sprintf(out, "\\u%04x", (unsigned char)*s);
}

START_TEST(long_escaped_name_found)
{
    char name[200], text[400];
    escaped(name, "include_usage"); /* 78 bytes of text */
    snprintf(text, sizeof(text), "{\"%s\":false}", name);
    ck_assert_str_eq(member(text, "include_usage"), "false");
    /* and so edited where it stands, not added beside it */
    snprintf(text, sizeof(text),
             "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"%s\":false}}", name);
    char *out = passthrough(&prov_openai, text, 1, 0);
    char want[400];
    snprintf(want, sizeof(want),
             "{\"model\":\"up-\\\"1\\\"\",\"stream\":true,\"stream_options\":{\"%s\":true}}", name);
    ck_assert_str_eq(out, want);
    free(out);
    escaped(name, "stream_options"); /* 84 bytes */
    snprintf(text, sizeof(text), "{\"%s\":{},\"model\":1}", name);
    ck_assert_str_eq(member(text, "stream_options"), "{}");
}
END_TEST

/* jsonraw_check_names on text: "" when accepted, else the message. */
static const char *
names(const char *text)
{
    static char why[512];
    if (jsonraw_check_names(text, strlen(text), why, sizeof(why)) == 0)
        return "";
    return why;
}

START_TEST(names_refused)
{
    /* the attack: json-c reads gpt-4o, a last-wins upstream o1-pro */
    ck_assert_str_eq(names("{\"model\":\"x\",\"mod\\u0065l\":\"o1-pro\",\"model\\u0000\":\"g\"}"),
                     "The member name `model\\x00` contains a NUL character.");
    ck_assert_str_eq(names("{\"model\":\"x\",\"mod\\u0065l\":\"o1-pro\"}"),
                     "The member `model` appears more than once in one object (after decoding "
                     "escapes).");
    ck_assert_str_eq(names("{\"model\\u0000\":\"g\"}"),
                     "The member name `model\\x00` contains a NUL character.");
    ck_assert_str_eq(names("{\"model\":\"a\",\"MODEL\":\"b\"}"),
                     "The member `MODEL` differs from `model` only in case; member names are "
                     "case-sensitive.");
    ck_assert_str_eq(names("{\"temperature\":1,\"Temperature\":2}"),
                     "The members `Temperature` and `temperature` differ only in case; write each "
                     "member once.");
    ck_assert_str_eq(names("{\"Stream_Options\":{}}"),
                     "The member `Stream_Options` differs from `stream_options` only in case; "
                     "member names are case-sensitive.");
    ck_assert_str_eq(names("{\"stream_options\":{\"include_usage\":true,"
                           "\"include_us\\u0061ge\":false}}"),
                     "The member `include_usage` appears more than once in one object (after "
                     "decoding escapes).");
    ck_assert_str_eq(names("{\"stream_options\":{\"Include_Usage\":false}}"),
                     "The member `Include_Usage` differs from `include_usage` only in case; "
                     "member names are case-sensitive.");
    /* exact duplicates anywhere, and a surrogate pair decoded */
    ck_assert_str_eq(names("{\"messages\":[{\"role\":\"user\",\"r\\u006fle\":\"system\"}]}"),
                     "The member `role` appears more than once in one object (after decoding "
                     "escapes).");
    ck_assert_str_eq(names("{\"a\":{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}}"),
                     "The member `\\xf0\\x9f\\x98\\x80` appears more than once in one object "
                     "(after decoding escapes).");
}
END_TEST

START_TEST(names_accepted)
{
    ck_assert_str_eq(names("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],\"n\":1}"), "");
    /* case variants deeper down are a schema's business (properties Name and name) */
    ck_assert_str_eq(names("{\"model\":\"m\",\"tools\":[{\"function\":{\"parameters\":"
                           "{\"properties\":{\"Name\":{},\"name\":{}}}}}],"
                           "\"metadata\":{\"K\":\"1\",\"k\":\"2\"}}"),
                     "");
    ck_assert_str_eq(names("{\"mod\\u0065l\":\"m\",\"a\":[[],{},[{}]],\"b\":\"\\\"}\"}"), "");
    ck_assert_str_eq(names("[1,2]"), "");
    ck_assert_str_eq(names("{}"), "");
}
END_TEST

START_TEST(anthropic_passthrough_keeps_bytes)
{
    const char *t = "{ \"model\" : \"claude\", \"max_tokens\": 10,\n \"messages\": [{\"role\":"
                    "\"user\",\"content\":\"h\u00e9\"}], \"n\": 98765432109876543210987654321 }";
    char *out = passthrough(&prov_anthropic, t, 0, 4096);
    ck_assert_str_eq(out, "{ \"model\" : \"up-\\\"1\\\"\", \"max_tokens\": 10,\n \"messages\": "
                          "[{\"role\":\"user\",\"content\":\"h\u00e9\"}], \"n\": "
                          "98765432109876543210987654321 }");
    free(out);
}
END_TEST

static Suite *
jsonraw_suite(void)
{
    Suite *s = suite_create("jsonraw");
    TCase *tc = tcase_create("scan");
    tcase_add_test(tc, member_found);
    tcase_add_test(tc, member_last_duplicate_and_escaped_key);
    tcase_add_test(tc, apply_edits_in_order);
    tcase_add_test(tc, names_refused);
    tcase_add_test(tc, names_accepted);
    suite_add_tcase(s, tc);
    tc = tcase_create("passthrough");
    tcase_add_test(tc, openai_passthrough_keeps_bytes);
    tcase_add_test(tc, openai_passthrough_stream_options);
    tcase_add_test(tc, openai_passthrough_max_tokens);
    tcase_add_test(tc, escaped_key_edited_in_the_bytes);
    tcase_add_test(tc, long_escaped_name_found);
    tcase_add_test(tc, anthropic_passthrough_keeps_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(jsonraw_suite());
}
