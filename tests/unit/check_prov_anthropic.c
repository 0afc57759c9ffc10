/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_prov_anthropic.c: the Anthropic provider. OpenAI chat requests
 * translated into Messages requests (URL, headers, the exact body, the 400s),
 * the pass-through, answers, stream events and errors translated back, on
 * fixtures taken from Anthropic's API reference (messages, streaming,
 * errors).
 *
 * JSON in this file is written with ` for " (fixtures stay readable); \`
 * stands for \" inside a JSON string.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "provider.h"
#include "aigw/conf.h"
#include "aigw/resource.h"
#include "sse.h"
#include "tap.h"

#define FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const struct target_view T = {
    .name = "claude",
    .upstream_model = "claude-sonnet-4-5",
    .api_base = "https://api.anthropic.com/v1",
    .api_key = "sk-ant-test",
    .api_version = "2023-06-01",
    .max_tokens = 4096,
    .provider = PROVIDER_ANTHROPIC,
};

/* ---- helpers ---- */

/* s with every ` turned into " (a new string). */
static char *
unbacktick(const char *s)
{
    char *d = strdup(s);
    ck_assert_ptr_nonnull(d);
    for (char *p = d; *p; p++)
        if (*p == '`')
            *p = '"';
    return d;
}

/* Parse a JSON text written with backticks. */
static struct json_object *
J(const char *bt)
{
    char *s = unbacktick(bt);
    struct json_object *o = json_tokener_parse(s);
    ck_assert_msg(o != NULL, "bad fixture: %s", s);
    free(s);
    return o;
}

/* o serialized must be exactly the expected JSON (member order included). */
static void
assert_json(struct json_object *o, const char *bt)
{
    struct json_object *e = J(bt);
    ck_assert_str_eq(json_object_to_json_string_ext(o, FLAGS),
                     json_object_to_json_string_ext(e, FLAGS));
    json_object_put(e);
}

/* The request's headers, one a line. */
static void
assert_headers(const struct prov_http *h, const char *expected)
{
    char buf[4096] = "";
    size_t n = 0;
    ck_assert_uint_lt(h->hlen, sizeof(buf));
    for (size_t i = 0; i < h->hlen; i++) /* "Name: value\r\n" lines as "Name: value\n" */
        if (!(h->hdrs[i] == '\r' && i + 1 < h->hlen && h->hdrs[i + 1] == '\n'))
            buf[n++] = h->hdrs[i];
    buf[n] = '\0';
    ck_assert_str_eq(buf, expected);
}

/* The body must be exactly the expected JSON. */
static void
assert_body(const struct prov_http *h, const char *bt)
{
    struct json_object *o = json_tokener_parse(h->body);
    ck_assert_ptr_nonnull(o);
    ck_assert_uint_eq(h->len, strlen(h->body));
    assert_json(o, bt);
    json_object_put(o);
}

/* Build the request for body (backticks); the call's return value, err filled on -1. */
static int
build(const struct prov_call *c, const char *bt, struct prov_http *h, char *err, size_t errlen)
{
    struct json_object *body = J(bt);
    memset(h, 0, sizeof(*h));
    err[0] = '\0';
    int rc = prov_anthropic.build(c, body, h, err, errlen);
    json_object_put(body);
    return rc;
}

/* Free what build made. */
static void
http_free(struct prov_http *h)
{
    prov_http_free(h);
}

/* The chat call (not a stream unless asked). */
static struct prov_call
call(enum prov_op op, int stream)
{
    struct prov_call c = {.t = &T, .op = op, .stream = stream, .request_id = "req-1"};
    return c;
}

/* Build must refuse body with exactly this message. */
static void
assert_refused(const char *bt, const char *message)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[512];
    ck_assert_int_eq(build(&c, bt, &h, err, sizeof(err)), -1);
    ck_assert_str_eq(err, message);
    ck_assert_ptr_null(h.keep);
    http_free(&h);
}

/* ---- build: OpenAI chat to Messages ---- */

/* A conversation with every kind of message, image parts, tool calls and results, and options. */
START_TEST(build_chat_full)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_http h;
    char err[256];
    int rc = build(
        &c,
        "{`model`:`claude`,`messages`:["
        "{`role`:`system`,`content`:`You are terse.`},"
        "{`role`:`developer`,`content`:[{`type`:`text`,`text`:`Answer in English.`}]},"
        "{`role`:`user`,`content`:[{`type`:`text`,`text`:`What is in this image, and the "
        "weather?`},"
        "{`type`:`image_url`,`image_url`:{`url`:`data:image/"
        "png;base64,iVBORw0KGgo=`,`detail`:`low`}},"
        "{`type`:`image_url`,`image_url`:{`url`:`https://upload.wikimedia.org/cat.jpg`}}]},"
        "{`role`:`assistant`,`content`:`Let me check.`,`tool_calls`:["
        "{`id`:`toolu_01A`,`type`:`function`,`function`:{`name`:`get_weather`,`arguments`:`{\\`"
        "location\\`: \\`Paris\\`}`}},"
        "{`id`:`toolu_01B`,`type`:`function`,`function`:{`name`:`get_time`,`arguments`:``}}]},"
        "{`role`:`tool`,`tool_call_id`:`toolu_01A`,`content`:`15 degrees`},"
        "{`role`:`tool`,`tool_call_id`:`toolu_01B`,`content`:[{`type`:`text`,`text`:`12:00`}]},"
        "{`role`:`user`,`content`:`Thanks. And tomorrow?`,`name`:`bob`}],"
        "`tools`:[{`type`:`function`,`function`:{`name`:`get_weather`,`description`:`Get the "
        "weather`,"
        "`parameters`:{`type`:`object`,`properties`:{`location`:{`type`:`string`}},`required`:[`"
        "location`]},"
        "`strict`:true}},{`type`:`function`,`function`:{`name`:`get_time`}}],"
        "`tool_choice`:`required`,`parallel_tool_calls`:false,`stop`:`END`,`temperature`:0.5,"
        "`top_p`:0.9,`max_completion_tokens`:300,`max_tokens`:999,`user`:`user-42`,`seed`:7,"
        "`presence_penalty`:0.1,`frequency_penalty`:0.2,`logit_bias`:{`50256`:-100},`n`:1,"
        "`stream`:true,`stream_options`:{`include_usage`:true},`store`:false}",
        &h, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(h.url, "https://api.anthropic.com/v1/messages");
    assert_headers(&h, "x-api-key: sk-ant-test\nanthropic-version: 2023-06-01\n");
    assert_body(
        &h,
        "{`model`:`claude-sonnet-4-5`,"
        "`system`:[{`type`:`text`,`text`:`You are terse.`},{`type`:`text`,`text`:`Answer in "
        "English.`}],"
        "`messages`:["
        "{`role`:`user`,`content`:[{`type`:`text`,`text`:`What is in this image, and the "
        "weather?`},"
        "{`type`:`image`,`source`:{`type`:`base64`,`media_type`:`image/"
        "png`,`data`:`iVBORw0KGgo=`}},"
        "{`type`:`image`,`source`:{`type`:`url`,`url`:`https://upload.wikimedia.org/cat.jpg`}}]},"
        "{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Let me check.`},"
        "{`type`:`tool_use`,`id`:`toolu_01A`,`name`:`get_weather`,`input`:{`location`:`Paris`}},"
        "{`type`:`tool_use`,`id`:`toolu_01B`,`name`:`get_time`,`input`:{}}]},"
        "{`role`:`user`,`content`:["
        "{`type`:`tool_result`,`tool_use_id`:`toolu_01A`,`content`:`15 degrees`},"
        "{`type`:`tool_result`,`tool_use_id`:`toolu_01B`,`content`:[{`type`:`text`,`text`:`12:00`}]"
        "},"
        "{`type`:`text`,`text`:`Thanks. And tomorrow?`}]}],"
        "`max_tokens`:300,`stop_sequences`:[`END`],`temperature`:0.5,`top_p`:0.9,`stream`:true,"
        "`metadata`:{`user_id`:`user-42`},"
        "`tools`:[{`name`:`get_weather`,`description`:`Get the weather`,"
        "`input_schema`:{`type`:`object`,`properties`:{`location`:{`type`:`string`}},`required`:[`"
        "location`]}},"
        "{`name`:`get_time`,`input_schema`:{`type`:`object`,`properties`:{}}}],"
        "`tool_choice`:{`type`:`any`,`disable_parallel_tool_use`:true}}");
    http_free(&h);
}
END_TEST

/* One system message is a string; the target's max_tokens; no key, no x-api-key; not a stream. */
START_TEST(build_chat_simple)
{
    struct target_view t = T;
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[256];
    t.api_key = "";
    t.api_base = "http://127.0.0.1:9999/v1";
    c.t = &t;
    ck_assert_int_eq(build(&c,
                           "{`model`:`claude`,`messages`:[{`role`:`system`,`content`:`Be brief.`},"
                           "{`role`:`user`,`content`:`Hello`}],`stream`:false,`max_tokens`:null}",
                           &h, err, sizeof(err)),
                     0);
    ck_assert_str_eq(h.url, "http://127.0.0.1:9999/v1/messages");
    assert_headers(&h, "anthropic-version: 2023-06-01\n");
    assert_body(&h, "{`model`:`claude-sonnet-4-5`,`system`:`Be brief.`,"
                    "`messages`:[{`role`:`user`,`content`:`Hello`}],`max_tokens`:4096}");
    http_free(&h);
}
END_TEST

/* Same-role turns merge (strings become blocks); an empty assistant turn and empty text go. */
START_TEST(build_chat_merges)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[256];
    ck_assert_int_eq(
        build(
            &c,
            "{`messages`:[{`role`:`user`,`content`:`Hi`},"
            "{`role`:`assistant`,`content`:null},"
            "{`role`:`user`,`content`:[{`type`:`text`,`text`:``},{`type`:`text`,`text`:`there`}]},"
            "{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Hello`}]},"
            "{`role`:`assistant`,`content`:`again`},"
            "{`role`:`user`,`content`:`Bye`}],"
            "`max_tokens`:10,`stop`:[`a`,``,`b`]}",
            &h, err, sizeof(err)),
        0);
    assert_body(
        &h,
        "{`model`:`claude-sonnet-4-5`,`messages`:["
        "{`role`:`user`,`content`:[{`type`:`text`,`text`:`Hi`},{`type`:`text`,`text`:`there`}]},"
        "{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Hello`},{`type`:`text`,`text`:`"
        "again`}]},"
        "{`role`:`user`,`content`:`Bye`}],"
        "`max_tokens`:10,`stop_sequences`:[`a`,`b`]}");
    http_free(&h);
}
END_TEST

/* tool_choice: a named function, none; parallel_tool_calls alone; tool_choice without tools. */
START_TEST(build_chat_tool_choice)
{
    static const struct {
        const char *opts, *expect;
    } cases[] = {
        {"`tool_choice`:{`type`:`function`,`function`:{`name`:`f`}}",
         "`tool_choice`:{`type`:`tool`,`name`:`f`}"},
        {"`tool_choice`:`none`,`parallel_tool_calls`:false", "`tool_choice`:{`type`:`none`}"},
        {"`tool_choice`:`auto`", "`tool_choice`:{`type`:`auto`}"},
        {"`parallel_tool_calls`:false",
         "`tool_choice`:{`type`:`auto`,`disable_parallel_tool_use`:true}"},
        {"`parallel_tool_calls`:true", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct prov_call c = call(OP_CHAT, 0);
        struct prov_http h;
        char err[256], body[1024], expect[1024];
        snprintf(body, sizeof(body),
                 "{`messages`:[{`role`:`user`,`content`:`x`}],`tools`:[{`type`:`function`,"
                 "`function`:{`name`:`f`,`parameters`:{`type`:`object`}}}],%s}",
                 cases[i].opts);
        snprintf(expect, sizeof(expect),
                 "{`model`:`claude-sonnet-4-5`,`messages`:[{`role`:`user`,`content`:`x`}],"
                 "`max_tokens`:4096,`tools`:[{`name`:`f`,`input_schema`:{`type`:`object`}}]%s%s}",
                 cases[i].expect ? "," : "", cases[i].expect ? cases[i].expect : "");
        ck_assert_int_eq(build(&c, body, &h, err, sizeof(err)), 0);
        assert_body(&h, expect);
        http_free(&h);
    }
    /* Without tools, tool_choice and parallel_tool_calls say nothing (Anthropic would refuse). */
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[256];
    ck_assert_int_eq(build(&c,
                           "{`messages`:[{`role`:`user`,`content`:`x`}],`tools`:[],"
                           "`tool_choice`:`auto`,`parallel_tool_calls`:false}",
                           &h, err, sizeof(err)),
                     0);
    assert_body(&h, "{`model`:`claude-sonnet-4-5`,`messages`:[{`role`:`user`,`content`:`x`}],"
                    "`max_tokens`:4096}");
    http_free(&h);
}
END_TEST

/* count_tokens: its own URL; no max_tokens, stream, sampling or metadata. */
START_TEST(build_count_tokens)
{
    struct prov_call c = call(OP_COUNT_TOKENS, 0);
    struct prov_http h;
    char err[256];
    ck_assert_int_eq(build(&c,
                           "{`model`:`claude`,`messages`:[{`role`:`system`,`content`:`S`},"
                           "{`role`:`user`,`content`:`Hello, world`}],`max_tokens`:100,"
                           "`temperature`:0.2,`stop`:`x`,`user`:`u`,`stream`:true,"
                           "`tools`:[{`type`:`function`,`function`:{`name`:`f`,"
                           "`parameters`:{`type`:`object`}}}],`tool_choice`:`required`,"
                           "`thinking`:{`type`:`enabled`,`budget_tokens`:1024}}",
                           &h, err, sizeof(err)),
                     0);
    ck_assert_str_eq(h.url, "https://api.anthropic.com/v1/messages/count_tokens");
    assert_headers(&h, "x-api-key: sk-ant-test\nanthropic-version: 2023-06-01\n");
    assert_body(&h, "{`model`:`claude-sonnet-4-5`,`system`:`S`,"
                    "`messages`:[{`role`:`user`,`content`:`Hello, world`}],"
                    "`tools`:[{`name`:`f`,`input_schema`:{`type`:`object`}}],"
                    "`tool_choice`:{`type`:`any`},"
                    "`thinking`:{`type`:`enabled`,`budget_tokens`:1024}}");
    http_free(&h);
}
END_TEST

/* What Anthropic cannot express is a 400 naming the field and the provider. */
START_TEST(build_refused)
{
#define MSGS "`messages`:[{`role`:`user`,`content`:`Hi`}]"
    assert_refused("{" MSGS ",`n`:2}", "n > 1 is not supported by provider anthropic");
    assert_refused("{" MSGS ",`logprobs`:true}", "logprobs is not supported by provider anthropic");
    assert_refused("{" MSGS ",`top_logprobs`:2}",
                   "top_logprobs is not supported by provider anthropic");
    assert_refused("{" MSGS ",`audio`:{`voice`:`alloy`,`format`:`wav`}}",
                   "audio is not supported by provider anthropic");
    assert_refused("{" MSGS ",`modalities`:[`text`,`audio`]}",
                   "modalities other than text are not supported by provider anthropic");
    assert_refused("{" MSGS ",`response_format`:{`type`:`json_schema`,`json_schema`:{`name`:`x`}}}",
                   "response_format json_schema is not supported by provider anthropic");
    assert_refused("{" MSGS ",`response_format`:{`type`:`json_object`}}",
                   "response_format json_object is not supported by provider anthropic");
    assert_refused("{" MSGS ",`functions`:[{`name`:`f`}]}",
                   "functions and function_call are not supported by provider anthropic (use "
                   "tools)");
    assert_refused("{" MSGS ",`temperature`:1.5}",
                   "temperature above 1 is not supported by provider anthropic");
    assert_refused("{" MSGS ",`tools`:[{`type`:`custom`,`custom`:{`name`:`x`}}]}",
                   "tools[0]: tools of type custom are not supported by provider anthropic");
    assert_refused("{" MSGS ",`tools`:[{`type`:`function`,`function`:{`name`:`f`}}],"
                   "`tool_choice`:{`type`:`allowed_tools`}}",
                   "this tool_choice is not supported by provider anthropic");
    assert_refused("{`messages`:[{`role`:`user`,`content`:`Hi`},{`role`:`assistant`,`tool_calls`:"
                   "[{`id`:`c1`,`type`:`function`,`function`:{`name`:`f`,`arguments`:`{oops`}}]}]}",
                   "messages[1].tool_calls[0].function.arguments is not a JSON object, which "
                   "provider anthropic needs");
    assert_refused("{`messages`:[{`role`:`user`,`content`:`Hi`},{`role`:`assistant`,`tool_calls`:"
                   "[{`id`:`c1`,`type`:`function`,`function`:{`name`:`f`,`arguments`:`[1]`}}]}]}",
                   "messages[1].tool_calls[0].function.arguments is not a JSON object, which "
                   "provider anthropic needs");
    assert_refused("{`messages`:[{`role`:`user`,`content`:[{`type`:`image_url`,"
                   "`image_url`:{`url`:`ftp://x/y.png`}}]}]}",
                   "messages[0].content[0]: only data: and http(s) image URLs are supported by "
                   "provider anthropic");
    assert_refused("{`messages`:[{`role`:`user`,`content`:[{`type`:`image_url`,"
                   "`image_url`:{`url`:`data:image/bmp;base64,Qk0=`}}]}]}",
                   "messages[0].content[0]: image type image/bmp is not supported by provider "
                   "anthropic");
    assert_refused("{`messages`:[{`role`:`user`,`content`:[{`type`:`image_url`,"
                   "`image_url`:{`url`:`data:image/png,rawbytes`}}]}]}",
                   "messages[0].content[0]: only base64 data: URLs are supported by provider "
                   "anthropic");
    assert_refused("{`messages`:[{`role`:`user`,`content`:[{`type`:`input_audio`,"
                   "`input_audio`:{`data`:`AAAA`,`format`:`wav`}}]}]}",
                   "messages[0].content[0]: content parts of type input_audio are not supported "
                   "by provider anthropic here");
    assert_refused("{`messages`:[{`role`:`function`,`name`:`f`,`content`:`1`}]}",
                   "messages[0]: role function is not supported by provider anthropic");
    assert_refused("{`messages`:[{`role`:`tool`,`content`:`1`}]}",
                   "messages[0].tool_call_id is required");
    assert_refused("{`messages`:[{`role`:`system`,`content`:`only a system`}]}",
                   "messages: provider anthropic needs a user or assistant message");
    assert_refused("{`messages`:[]}", "messages must be a non-empty array");
#undef MSGS
}
END_TEST

/* Without a max_tokens anywhere (a target of max_tokens 0) Anthropic cannot be asked. */
START_TEST(build_no_max_tokens)
{
    struct target_view t = T;
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[256];
    t.max_tokens = 0;
    c.t = &t;
    ck_assert_int_eq(
        build(&c, "{`messages`:[{`role`:`user`,`content`:`Hi`}]}", &h, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "max_tokens is required by provider anthropic");
    http_free(&h);
    ck_assert_int_eq(build(&c, "{`messages`:[{`role`:`user`,`content`:`Hi`}],`max_tokens`:5}", &h,
                           err, sizeof(err)),
                     0);
    http_free(&h);
}
END_TEST

/* ---- build: pass-through ---- */

#define NATIVE_BODY                                                                                \
    "{`model`:`claude-client-name`,`max_tokens`:1024,`system`:[{`type`:`text`,`text`:`S`,"         \
    "`cache_control`:{`type`:`ephemeral`}}],`messages`:[{`role`:`user`,`content`:`Hello`}],"       \
    "`thinking`:{`type`:`enabled`,`budget_tokens`:512},`future_field`:{`a`:[1,2]},`stream`:true}"
#define NATIVE_OUT                                                                                 \
    "{`model`:`claude-sonnet-4-5`,`max_tokens`:1024,`system`:[{`type`:`text`,`text`:`S`,"          \
    "`cache_control`:{`type`:`ephemeral`}}],`messages`:[{`role`:`user`,`content`:`Hello`}],"       \
    "`thinking`:{`type`:`enabled`,`budget_tokens`:512},`future_field`:{`a`:[1,2]},`stream`:true}"

/* An Anthropic client's body: only the model changes; the target's version (no client headers). */
START_TEST(build_native)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_http h;
    char err[256];
    c.native = 1;
    ck_assert_int_eq(build(&c, NATIVE_BODY, &h, err, sizeof(err)), 0);
    ck_assert_str_eq(h.url, "https://api.anthropic.com/v1/messages");
    assert_headers(&h, "x-api-key: sk-ant-test\nanthropic-version: 2023-06-01\n");
    assert_body(&h, NATIVE_OUT);
    http_free(&h);
    /* Even what a translation would refuse goes through. */
    c.op = OP_COUNT_TOKENS;
    ck_assert_int_eq(build(&c, "{`model`:`x`,`messages`:[{`role`:`user`,`content`:`Hi`}],`n`:3}",
                           &h, err, sizeof(err)),
                     0);
    ck_assert_str_eq(h.url, "https://api.anthropic.com/v1/messages/count_tokens");
    assert_body(&h,
                "{`model`:`claude-sonnet-4-5`,`messages`:[{`role`:`user`,`content`:`Hi`}],`n`:3}");
    http_free(&h);
}
END_TEST

/* The client's anthropic-version wins over the target's, its anthropic-beta goes on. */
START_TEST(build_native_client_headers)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct prov_http h;
    char err[256];
    c.native = 1;
    c.anthropic_version = "2023-01-01";
    c.anthropic_beta = "prompt-caching-2024-07-31,pdfs-2024-09-25";
    ck_assert_int_eq(build(&c, NATIVE_BODY, &h, err, sizeof(err)), 0);
    assert_headers(&h, "x-api-key: sk-ant-test\nanthropic-version: 2023-01-01\n"
                       "anthropic-beta: prompt-caching-2024-07-31,pdfs-2024-09-25\n");
    assert_body(&h, NATIVE_OUT);
    http_free(&h);
}
END_TEST

/* ---- answers ---- */

/* Parse an answer fixture through response(); out's created must be a time, then removed. */
static int
respond(const struct prov_call *c, const char *bt, struct json_object **out, struct prov_usage *u)
{
    struct json_object *in = J(bt), *v;
    memset(u, 0, sizeof(*u));
    int rc = prov_anthropic.response(c, in, out, u);
    json_object_put(in);
    if (rc == 0 && *out != NULL) {
        ck_assert(json_object_object_get_ex(*out, "created", &v));
        ck_assert(json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 1700000000);
        json_object_object_del(*out, "created");
    }
    return rc;
}

/*
 * Counts an upstream should never send: near INT64_MAX (their sum overflowed
 * signed arithmetic, an abort under UBSan), negative (given back to a token
 * window), a fraction and a string. Each is clamped to 0..10^9, and the
 * usage says it was.
 */
START_TEST(response_absurd_usage)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct json_object *out;
    struct prov_usage u;
    ck_assert_int_eq(respond(&c,
                             "{`id`:`msg_1`,`type`:`message`,`role`:`assistant`,"
                             "`content`:[{`type`:`text`,`text`:`Hi`}],`model`:`m`,"
                             "`stop_reason`:`end_turn`,`usage`:{`input_tokens`:9223372036854775807,"
                             "`cache_creation_input_tokens`:9223372036854775807,"
                             "`cache_read_input_tokens`:-5,`output_tokens`:-9223372036854775807}}",
                             &out, &u),
                     0);
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.bad, 1);
    ck_assert_int_eq(u.prompt, 1000000000);
    ck_assert_int_eq(u.cached, 0);
    ck_assert_int_eq(u.completion, 0);
    ck_assert_int_eq(u.total, 1000000000);
    json_object_put(out);
    ck_assert_int_eq(respond(&c,
                             "{`id`:`msg_1`,`type`:`message`,`role`:`assistant`,"
                             "`content`:[{`type`:`text`,`text`:`Hi`}],`model`:`m`,"
                             "`stop_reason`:`end_turn`,`usage`:{`input_tokens`:2.5,"
                             "`output_tokens`:`7`}}",
                             &out, &u),
                     0);
    ck_assert_int_eq(u.bad, 1);
    ck_assert_int_eq(u.prompt, 0);
    ck_assert_int_eq(u.completion, 0);
    json_object_put(out);
    /* Sane counts are not flagged. */
    ck_assert_int_eq(respond(&c,
                             "{`id`:`msg_1`,`type`:`message`,`role`:`assistant`,"
                             "`content`:[{`type`:`text`,`text`:`Hi`}],`model`:`m`,"
                             "`stop_reason`:`end_turn`,`usage`:{`input_tokens`:1000000000,"
                             "`output_tokens`:0}}",
                             &out, &u),
                     0);
    ck_assert_int_eq(u.bad, 0);
    ck_assert_int_eq(u.total, 1000000000);
    json_object_put(out);
}
END_TEST

/* The reference's example message with prompt caching: cache reads and writes are prompt tokens. */
START_TEST(response_text_cache_usage)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct json_object *out;
    struct prov_usage u;
    ck_assert_int_eq(
        respond(&c,
                "{`id`:`msg_013Zva2CMHLNnXjNJJKqJ2EF`,`type`:`message`,`role`:`assistant`,"
                "`content`:[{`type`:`text`,`text`:`Hi! My name is Claude.`}],"
                "`model`:`claude-sonnet-4-5-20250929`,`stop_reason`:`end_turn`,"
                "`stop_sequence`:null,`usage`:{`input_tokens`:2095,"
                "`cache_creation_input_tokens`:2051,`cache_read_input_tokens`:2051,"
                "`output_tokens`:503}}",
                &out, &u),
        0);
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.prompt, 2095 + 2051 + 2051);
    ck_assert_int_eq(u.cached, 2051);
    ck_assert_int_eq(u.completion, 503);
    ck_assert_int_eq(u.total, 2095 + 2051 + 2051 + 503);
    ck_assert_int_eq(u.reasoning, 0);
    assert_json(out,
                "{`id`:`msg_013Zva2CMHLNnXjNJJKqJ2EF`,`object`:`chat.completion`,"
                "`model`:`claude-sonnet-4-5-20250929`,`choices`:[{`index`:0,`message`:"
                "{`role`:`assistant`,`content`:`Hi! My name is Claude.`},`logprobs`:null,"
                "`finish_reason`:`stop`}],`usage`:{`prompt_tokens`:6197,`completion_tokens`:503,"
                "`total_tokens`:6700,`prompt_tokens_details`:{`cached_tokens`:2051},"
                "`completion_tokens_details`:{`reasoning_tokens`:0}}}");
    json_object_put(out);
}
END_TEST

/* The tool use guide's answer: text and a tool_use block; the input as compact JSON text. */
START_TEST(response_tool_use)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct json_object *out;
    struct prov_usage u;
    ck_assert_int_eq(
        respond(&c,
                "{`id`:`msg_01Aq9w938a90dw8q`,`model`:`claude-sonnet-4-5`,"
                "`stop_reason`:`tool_use`,`role`:`assistant`,`type`:`message`,"
                "`content`:[{`type`:`text`,`text`:`I'll check the current weather in San "
                "Francisco for you.`},{`type`:`tool_use`,`id`:`toolu_01A09q90qw90lq917835lq9`,"
                "`name`:`get_weather`,`input`:{`location`:`San Francisco, CA`,"
                "`unit`:`celsius`}}],`usage`:{`input_tokens`:472,`output_tokens`:89}}",
                &out, &u),
        0);
    ck_assert_int_eq(u.prompt, 472);
    ck_assert_int_eq(u.total, 561);
    assert_json(out,
                "{`id`:`msg_01Aq9w938a90dw8q`,`object`:`chat.completion`,"
                "`model`:`claude-sonnet-4-5`,`choices`:[{`index`:0,`message`:{`role`:`assistant`,"
                "`content`:`I'll check the current weather in San Francisco for you.`,"
                "`tool_calls`:[{`id`:`toolu_01A09q90qw90lq917835lq9`,`type`:`function`,"
                "`function`:{`name`:`get_weather`,`arguments`:"
                "`{\\`location\\`:\\`San Francisco, CA\\`,\\`unit\\`:\\`celsius\\`}`}}]},"
                "`logprobs`:null,`finish_reason`:`tool_calls`}],`usage`:{`prompt_tokens`:472,"
                "`completion_tokens`:89,`total_tokens`:561,`prompt_tokens_details`:"
                "{`cached_tokens`:0},`completion_tokens_details`:{`reasoning_tokens`:0}}}");
    json_object_put(out);
    /* Only tool calls: content is null; two calls keep their order. */
    ck_assert_int_eq(
        respond(&c,
                "{`id`:`msg_2`,`type`:`message`,`role`:`assistant`,`model`:`m`,"
                "`content`:[{`type`:`tool_use`,`id`:`t1`,`name`:`a`,`input`:{}},"
                "{`type`:`tool_use`,`id`:`t2`,`name`:`b`,`input`:{`x`:[1,{`y`:null}]}}],"
                "`stop_reason`:`tool_use`,`usage`:{`input_tokens`:1,`output_tokens`:2}}",
                &out, &u),
        0);
    struct json_object *choice =
        json_object_array_get_idx(json_object_object_get(out, "choices"), 0);
    assert_json(json_object_object_get(choice, "message"),
                "{`role`:`assistant`,`content`:null,`tool_calls`:["
                "{`id`:`t1`,`type`:`function`,`function`:{`name`:`a`,`arguments`:`{}`}},"
                "{`id`:`t2`,`type`:`function`,`function`:{`name`:`b`,"
                "`arguments`:`{\\`x\\`:[1,{\\`y\\`:null}]}`}}]}");
    json_object_put(out);
}
END_TEST

/* Extended thinking: thinking blocks become reasoning_content; the signature goes. */
START_TEST(response_thinking)
{
    struct prov_call c = call(OP_CHAT, 0);
    struct json_object *out;
    struct prov_usage u;
    ck_assert_int_eq(
        respond(&c,
                "{`id`:`msg_t`,`type`:`message`,`role`:`assistant`,`model`:`claude-opus-4-1`,"
                "`content`:[{`type`:`thinking`,`thinking`:`Let me analyze this step by step...`,"
                "`signature`:`WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/"
                "UvLEczmEsUjavL....`},"
                "{`type`:`redacted_thinking`,`data`:`EmwKAhgBEgy3va3pzix/LafPsn4a`},"
                "{`type`:`text`,`text`:`Based on my analysis...`}],"
                "`stop_reason`:`max_tokens`,`usage`:{`input_tokens`:10,`output_tokens`:3000}}",
                &out, &u),
        0);
    ck_assert_int_eq(u.completion, 3000);
    struct json_object *choice =
        json_object_array_get_idx(json_object_object_get(out, "choices"), 0);
    assert_json(choice,
                "{`index`:0,`message`:{`role`:`assistant`,`content`:`Based on my analysis...`,"
                "`reasoning_content`:`Let me analyze this step by step...`},"
                "`logprobs`:null,`finish_reason`:`length`}");
    json_object_put(out);
}
END_TEST

/* Every stop_reason's finish_reason. */
START_TEST(response_finish_reasons)
{
    static const char *const map[][2] = {
        {"end_turn", "stop"},
        {"stop_sequence", "stop"},
        {"pause_turn", "stop"},
        {"max_tokens", "length"},
        {"tool_use", "tool_calls"},
        {"refusal", "content_filter"},
        {"model_context_window_exceeded", "length"},
    };
    struct prov_call c = call(OP_CHAT, 0);
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char fx[512];
        struct json_object *out, *fr;
        struct prov_usage u;
        snprintf(fx, sizeof(fx),
                 "{`id`:`m`,`type`:`message`,`role`:`assistant`,`model`:`m`,`content`:[],"
                 "`stop_reason`:`%s`,`usage`:{`input_tokens`:1,`output_tokens`:0}}",
                 map[i][0]);
        ck_assert_int_eq(respond(&c, fx, &out, &u), 0);
        fr = json_object_object_get(
            json_object_array_get_idx(json_object_object_get(out, "choices"), 0), "finish_reason");
        ck_assert_str_eq(json_object_get_string(fr), map[i][1]);
        /* No content at all: an empty string, not null. */
        ck_assert_str_eq(json_object_to_json_string_ext(
                             json_object_object_get(json_object_array_get_idx(
                                                        json_object_object_get(out, "choices"), 0),
                                                    "message"),
                             FLAGS),
                         "{\"role\":\"assistant\",\"content\":\"\"}");
        json_object_put(out);
    }
}
END_TEST

/* count_tokens' answer is the internal shape; a pass-through only reads usage; others are 502s. */
START_TEST(response_count_native_bad)
{
    struct prov_call c = call(OP_COUNT_TOKENS, 0);
    struct json_object *out = (struct json_object *)&c;
    struct prov_usage u;
    ck_assert_int_eq(respond(&c, "{`input_tokens`:14}", &out, &u), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(u.have, 0);
    ck_assert_int_eq(respond(&c, "{`tokens`:14}", &out, &u), -1);

    c = call(OP_CHAT, 0);
    c.native = 1;
    out = (struct json_object *)&c;
    ck_assert_int_eq(respond(&c,
                             "{`id`:`msg_1`,`type`:`message`,`role`:`assistant`,`model`:`m`,"
                             "`content`:[{`type`:`text`,`text`:`Hi`}],`stop_reason`:`end_turn`,"
                             "`usage`:{`input_tokens`:3,`cache_read_input_tokens`:100,"
                             "`cache_creation_input_tokens`:0,`output_tokens`:7}}",
                             &out, &u),
                     0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.prompt, 103);
    ck_assert_int_eq(u.cached, 100);
    ck_assert_int_eq(u.completion, 7);
    ck_assert_int_eq(u.total, 110);

    c.native = 0;
    ck_assert_int_eq(
        respond(&c, "{`type`:`error`,`error`:{`type`:`api_error`,`message`:`x`}}", &out, &u), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(respond(&c, "[1,2]", &out, &u), -1);
    ck_assert_int_eq(respond(&c, "{`object`:`chat.completion`,`choices`:[]}", &out, &u), -1);
}
END_TEST

/* ---- streams ---- */

/* What a stream emitted: each chunk with created checked and removed, one a line. */
struct rec {
    char buf[65536];
    int n;
};

/* The emit callback. */
static void
rec_emit(void *arg, const char *data, size_t len)
{
    struct rec *r = arg;
    char line[8192];
    ck_assert_uint_lt(len, sizeof(line));
    memcpy(line, data, len);
    line[len] = '\0';
    r->n++;
    if (strcmp(line, "[DONE]") != 0) {
        struct json_object *o = json_tokener_parse(line), *v;
        ck_assert_msg(o != NULL, "not JSON: %s", line);
        ck_assert(json_object_object_get_ex(o, "created", &v) &&
                  json_object_get_int64(v) > 1700000000);
        json_object_object_del(o, "created");
        snprintf(line, sizeof(line), "%s", json_object_to_json_string_ext(o, FLAGS));
        json_object_put(o);
    }
    ck_assert_uint_lt(strlen(r->buf) + strlen(line) + 2, sizeof(r->buf));
    strcat(r->buf, line);
    strcat(r->buf, "\n");
}

/* The SSE parser's callback: one event to the provider; stop on its error. */
static int
feed_cb(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    return prov_anthropic.stream_event(arg, event, evlen, data, len) < 0 ? 1 : 0;
}

/* Feed an SSE text (backticks) to the stream; the SSE parser's result. */
static int
feed(struct prov_stream *s, const char *bt)
{
    struct sse_parser p;
    char *text = unbacktick(bt);
    sse_init(&p, 1 << 20);
    int rv = sse_feed(&p, text, strlen(text), feed_cb, s);
    sse_free(&p);
    free(text);
    return rv;
}

/* A stream for c whose chunks go to r (r NULL: a pass-through). */
static void
stream_open(struct prov_stream *s, const struct prov_call *c, struct rec *r)
{
    memset(s, 0, sizeof(*s));
    s->call = c;
    s->emit = r ? rec_emit : NULL;
    s->arg = r;
    if (r)
        memset(r, 0, sizeof(*r));
    ck_assert_int_eq(prov_anthropic.stream_begin(s), 0);
}

/* The expected chunks: backticked JSON lines (serialized as the provider would, then joined). */
static void
assert_chunks(const struct rec *r, const char *const *lines)
{
    char want[65536] = "";
    for (size_t i = 0; lines[i] != NULL; i++) {
        if (strcmp(lines[i], "[DONE]") == 0) {
            strcat(want, "[DONE]\n");
            continue;
        }
        struct json_object *o = J(lines[i]);
        strcat(want, json_object_to_json_string_ext(o, FLAGS));
        strcat(want, "\n");
        json_object_put(o);
    }
    ck_assert_str_eq(r->buf, want);
}

#define CHUNK(id, model, delta, finish)                                                            \
    "{`id`:`" id "`,`object`:`chat.completion.chunk`,`model`:`" model "`,`choices`:[{`index`:0,"   \
    "`delta`:" delta ",`finish_reason`:" finish "}]}"
#define USAGE(id, model, p, c, t, cached)                                                          \
    "{`id`:`" id "`,`object`:`chat.completion.chunk`,`model`:`" model "`,`choices`:[],"            \
    "`usage`:{`prompt_tokens`:" p ",`completion_tokens`:" c ",`total_tokens`:" t ","               \
    "`prompt_tokens_details`:{`cached_tokens`:" cached "},"                                        \
    "`completion_tokens_details`:{`reasoning_tokens`:0}}}"

/* The streaming reference's basic request, event for event. */
static const char basic_stream[] =
    "event: message_start\n"
    "data: {`type`: `message_start`, `message`: {`id`: `msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY`, "
    "`type`: `message`, `role`: `assistant`, `content`: [], `model`: `claude-opus-4-1-20250805`, "
    "`stop_reason`: null, `stop_sequence`: null, `usage`: {`input_tokens`: 25, `output_tokens`: "
    "1}}}\n"
    "\n"
    "event: content_block_start\n"
    "data: {`type`: `content_block_start`, `index`: 0, `content_block`: {`type`: `text`, `text`: "
    "``}}\n"
    "\n"
    "event: ping\n"
    "data: {`type`: `ping`}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {`type`: `content_block_delta`, `index`: 0, `delta`: {`type`: `text_delta`, `text`: "
    "`Hello`}}\n"
    "\n"
    "event: content_block_delta\n"
    "data: {`type`: `content_block_delta`, `index`: 0, `delta`: {`type`: `text_delta`, `text`: "
    "`!`}}\n"
    "\n"
    "event: content_block_stop\n"
    "data: {`type`: `content_block_stop`, `index`: 0}\n"
    "\n"
    "event: message_delta\n"
    "data: {`type`: `message_delta`, `delta`: {`stop_reason`: `end_turn`, `stop_sequence`:null}, "
    "`usage`: {`output_tokens`: 15}}\n"
    "\n"
    "event: message_stop\n"
    "data: {`type`: `message_stop`}\n"
    "\n";

#define BID "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
#define BMODEL "claude-opus-4-1-20250805"

START_TEST(stream_basic)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    static struct rec r;
    static const char *const want[] = {
        CHUNK(BID, BMODEL, "{`role`:`assistant`,`content`:``}", "null"),
        CHUNK(BID, BMODEL, "{`content`:`Hello`}", "null"),
        CHUNK(BID, BMODEL, "{`content`:`!`}", "null"),
        CHUNK(BID, BMODEL, "{}", "`stop`"),
        USAGE(BID, BMODEL, "25", "15", "40", "0"),
        "[DONE]",
        NULL,
    };
    stream_open(&s, &c, &r);
    ck_assert_int_eq(feed(&s, basic_stream), 0);
    assert_chunks(&r, want);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.error_status, 0);
    ck_assert_int_eq(s.usage.have, 1);
    ck_assert_int_eq(s.usage.prompt, 25);
    ck_assert_int_eq(s.usage.completion, 15);
    ck_assert_int_eq(s.usage.total, 40);
    prov_stream_free(&s);
    ck_assert_ptr_null(s.priv);
}
END_TEST

/* The streaming reference's tool use request: text, then a tool_use block's partial JSON. */
static const char tool_stream[] =
    "event: message_start\n"
    "data: {`type`:`message_start`,`message`:{`id`:`msg_014p7gG3wDgGV9EUtLvnow3U`,`type`:`message`,"
    "`role`:`assistant`,`model`:`claude-opus-4-1-20250805`,`stop_sequence`:null,"
    "`usage`:{`input_tokens`:472,`output_tokens`:2},`content`:[],`stop_reason`:null}}\n\n"
    "event: content_block_start\n"
    "data: {`type`:`content_block_start`,`index`:0,`content_block`:{`type`:`text`,`text`:``}}\n\n"
    "event: ping\n"
    "data: {`type`: `ping`}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`Okay`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`,`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:` let`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,`text`:`'s`}}\n\n"
    "event: content_block_stop\n"
    "data: {`type`:`content_block_stop`,`index`:0}\n\n"
    "event: content_block_start\n"
    "data: {`type`:`content_block_start`,`index`:1,`content_block`:{`type`:`tool_use`,"
    "`id`:`toolu_01T1x1fJ34qAmk2tNTrN7Up6`,`name`:`get_weather`,`input`:{}}}\n\n"
    "event: content_block_delta\n"
    "data: "
    "{`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,`partial_json`:``}}"
    "\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,"
    "`partial_json`:`{\\`location\\`:`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,"
    "`partial_json`:` \\`San`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,"
    "`partial_json`:` Francisc`}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,"
    "`partial_json`:`o, CA\\`}`}}\n\n"
    "event: content_block_stop\n"
    "data: {`type`:`content_block_stop`,`index`:1}\n\n"
    "event: content_block_start\n"
    "data: {`type`:`content_block_start`,`index`:2,`content_block`:{`type`:`tool_use`,"
    "`id`:`toolu_02`,`name`:`get_time`,`input`:{}}}\n\n"
    "event: content_block_delta\n"
    "data: {`type`:`content_block_delta`,`index`:2,`delta`:{`type`:`input_json_delta`,"
    "`partial_json`:`{}`}}\n\n"
    "event: content_block_stop\n"
    "data: {`type`:`content_block_stop`,`index`:2}\n\n"
    "event: message_delta\n"
    "data: {`type`:`message_delta`,`delta`:{`stop_reason`:`tool_use`,`stop_sequence`:null},"
    "`usage`:{`output_tokens`:89}}\n\n"
    "event: message_stop\n"
    "data: {`type`:`message_stop`}\n\n";

#define TID "msg_014p7gG3wDgGV9EUtLvnow3U"

START_TEST(stream_tool_use)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    static struct rec r;
    static const char *const want[] = {
        CHUNK(TID, BMODEL, "{`role`:`assistant`,`content`:``}", "null"),
        CHUNK(TID, BMODEL, "{`content`:`Okay`}", "null"),
        CHUNK(TID, BMODEL, "{`content`:`,`}", "null"),
        CHUNK(TID, BMODEL, "{`content`:` let`}", "null"),
        CHUNK(TID, BMODEL, "{`content`:`'s`}", "null"),
        CHUNK(TID, BMODEL,
              "{`tool_calls`:[{`index`:0,`id`:`toolu_01T1x1fJ34qAmk2tNTrN7Up6`,`type`:`function`,"
              "`function`:{`name`:`get_weather`,`arguments`:``}}]}",
              "null"),
        CHUNK(TID, BMODEL,
              "{`tool_calls`:[{`index`:0,`function`:{`arguments`:`{\\`location\\`:`}}]}", "null"),
        CHUNK(TID, BMODEL, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:` \\`San`}}]}",
              "null"),
        CHUNK(TID, BMODEL, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:` Francisc`}}]}",
              "null"),
        CHUNK(TID, BMODEL, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:`o, CA\\`}`}}]}",
              "null"),
        CHUNK(TID, BMODEL,
              "{`tool_calls`:[{`index`:1,`id`:`toolu_02`,`type`:`function`,"
              "`function`:{`name`:`get_time`,`arguments`:``}}]}",
              "null"),
        CHUNK(TID, BMODEL, "{`tool_calls`:[{`index`:1,`function`:{`arguments`:`{}`}}]}", "null"),
        CHUNK(TID, BMODEL, "{}", "`tool_calls`"),
        USAGE(TID, BMODEL, "472", "89", "561", "0"),
        "[DONE]",
        NULL,
    };
    stream_open(&s, &c, &r);
    ck_assert_int_eq(feed(&s, tool_stream), 0);
    assert_chunks(&r, want);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.usage.total, 561);
    prov_stream_free(&s);
}
END_TEST

/* Extended thinking streamed: thinking deltas as reasoning_content, the signature dropped. */
START_TEST(stream_thinking)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    static struct rec r;
    static const char *const want[] = {
        CHUNK("msg_01", BMODEL, "{`role`:`assistant`,`content`:``}", "null"),
        CHUNK("msg_01", BMODEL,
              "{`reasoning_content`:`Let me solve this step by step:\\n\\n1. First break down 27 * "
              "453`}",
              "null"),
        CHUNK("msg_01", BMODEL, "{`reasoning_content`:`\\n2. 453 = 400 + 50 + 3`}", "null"),
        CHUNK("msg_01", BMODEL, "{`content`:`27 * 453 = 12,231`}", "null"),
        CHUNK("msg_01", BMODEL, "{}", "`stop`"),
        USAGE("msg_01", BMODEL, "0", "0", "0", "0"),
        "[DONE]",
        NULL,
    };
    stream_open(&s, &c, &r);
    /* As in the reference, this stream's message_start has no usage at all. */
    ck_assert_int_eq(
        feed(
            &s,
            "event: message_start\n"
            "data: {`type`: `message_start`, `message`: {`id`: `msg_01`, `type`: `message`, "
            "`role`: `assistant`, `content`: [], `model`: `claude-opus-4-1-20250805`, "
            "`stop_reason`: null, `stop_sequence`: null}}\n\n"
            "event: content_block_start\n"
            "data: {`type`: `content_block_start`, `index`: 0, `content_block`: {`type`: "
            "`thinking`, "
            "`thinking`: ``}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`: `content_block_delta`, `index`: 0, `delta`: {`type`: `thinking_delta`, "
            "`thinking`: `Let me solve this step by step:\\n\\n1. First break down 27 * 453`}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`: `content_block_delta`, `index`: 0, `delta`: {`type`: `thinking_delta`, "
            "`thinking`: `\\n2. 453 = 400 + 50 + 3`}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`: `content_block_delta`, `index`: 0, `delta`: {`type`: "
            "`signature_delta`, "
            "`signature`: `EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...`}}\n\n"
            "event: content_block_stop\n"
            "data: {`type`: `content_block_stop`, `index`: 0}\n\n"
            "event: content_block_start\n"
            "data: {`type`: `content_block_start`, `index`: 1, `content_block`: {`type`: `text`, "
            "`text`: ``}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`: `content_block_delta`, `index`: 1, `delta`: {`type`: `text_delta`, "
            "`text`: `27 * 453 = 12,231`}}\n\n"
            "event: content_block_stop\n"
            "data: {`type`: `content_block_stop`, `index`: 1}\n\n"
            "event: message_delta\n"
            "data: {`type`: `message_delta`, `delta`: {`stop_reason`: `end_turn`, "
            "`stop_sequence`: null}}\n\n"
            "event: message_stop\n"
            "data: {`type`: `message_stop`}\n\n"),
        0);
    assert_chunks(&r, want);
    prov_stream_free(&s);
}
END_TEST

/*
 * Cache counts in message_start; a server tool's input is no client tool call; message_delta
 * carrying input and cache counts (as in the web search example) replaces them; an unknown
 * event type is ignored.
 */
START_TEST(stream_cache_server_tool)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    static struct rec r;
    static const char *const want[] = {
        CHUNK("msg_01G", BMODEL, "{`role`:`assistant`,`content`:``}", "null"),
        CHUNK("msg_01G", BMODEL, "{`content`:`I'll check`}", "null"),
        CHUNK("msg_01G", BMODEL, "{`content`:`Here's the weather`}", "null"),
        CHUNK("msg_01G", BMODEL, "{}", "`stop`"),
        USAGE("msg_01G", BMODEL, "13682", "510", "14192", "2000"),
        "[DONE]",
        NULL,
    };
    stream_open(&s, &c, &r);
    ck_assert_int_eq(
        feed(
            &s,
            "event: message_start\n"
            "data: {`type`:`message_start`,`message`:{`id`:`msg_01G`,`type`:`message`,"
            "`role`:`assistant`,`model`:`claude-opus-4-1-20250805`,`content`:[],`stop_reason`:null,"
            "`stop_sequence`:null,`usage`:{`input_tokens`:2679,`cache_creation_input_tokens`:1000,"
            "`cache_read_input_tokens`:2000,`output_tokens`:3}}}\n\n"
            "event: content_block_start\n"
            "data: "
            "{`type`:`content_block_start`,`index`:0,`content_block`:{`type`:`text`,`text`:``}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`:`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,"
            "`text`:`I'll check`}}\n\n"
            "event: content_block_stop\n"
            "data: {`type`:`content_block_stop`,`index`:0}\n\n"
            "event: content_block_start\n"
            "data: "
            "{`type`:`content_block_start`,`index`:1,`content_block`:{`type`:`server_tool_use`,"
            "`id`:`srvtoolu_014hJH82Qum7Td6UV8gDXThB`,`name`:`web_search`,`input`:{}}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`:`content_block_delta`,`index`:1,`delta`:{`type`:`input_json_delta`,"
            "`partial_json`:`{\\`query`}}\n\n"
            "event: content_block_stop\n"
            "data: {`type`:`content_block_stop`,`index`:1 }\n\n"
            "event: some_future_event\n"
            "data: {`type`:`some_future_event`,`x`:1}\n\n"
            "event: content_block_start\n"
            "data: "
            "{`type`:`content_block_start`,`index`:3,`content_block`:{`type`:`text`,`text`:``}}\n\n"
            "event: content_block_delta\n"
            "data: {`type`:`content_block_delta`,`index`:3,`delta`:{`type`:`text_delta`,"
            "`text`:`Here's the weather`}}\n\n"
            "event: content_block_stop\n"
            "data: {`type`:`content_block_stop`,`index`:3}\n\n"
            "event: message_delta\n"
            "data: {`type`:`message_delta`,`delta`:{`stop_reason`:`end_turn`,`stop_sequence`:null},"
            "`usage`:{`input_tokens`:10682,`cache_creation_input_tokens`:1000,"
            "`cache_read_input_tokens`:2000,`output_tokens`:510,"
            "`server_tool_use`:{`web_search_requests`:1}}}\n\n"
            "event: message_stop\n"
            "data: {`type`:`message_stop`}\n\n"),
        0);
    assert_chunks(&r, want);
    ck_assert_int_eq(s.usage.prompt, 13682);
    ck_assert_int_eq(s.usage.cached, 2000);
    ck_assert_int_eq(s.usage.completion, 510);
    ck_assert_int_eq(s.usage.total, 14192);
    prov_stream_free(&s);
}
END_TEST

/* max_tokens in a stream: finish_reason length; usage known from message_start on. */
START_TEST(stream_usage_early)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    static struct rec r;
    stream_open(&s, &c, &r);
    ck_assert_int_eq(feed(&s, "event: message_start\n"
                              "data: {`type`:`message_start`,`message`:{`id`:`m`,`model`:`x`,"
                              "`usage`:{`input_tokens`:5,`cache_read_input_tokens`:7,"
                              "`output_tokens`:1}}}\n\n"),
                     0);
    /* Cut here, the input is already accounted. */
    ck_assert_int_eq(s.usage.have, 1);
    ck_assert_int_eq(s.usage.prompt, 12);
    ck_assert_int_eq(s.usage.cached, 7);
    ck_assert_int_eq(s.usage.completion, 1);
    ck_assert_int_eq(s.done, 0);
    ck_assert_int_eq(feed(&s, "event: message_delta\n"
                              "data: {`type`:`message_delta`,`delta`:{`stop_reason`:`max_tokens`,"
                              "`stop_sequence`:null},`usage`:{`output_tokens`:20}}\n\n"),
                     0);
    ck_assert_int_eq(s.usage.completion, 20);
    ck_assert_int_eq(s.usage.total, 32);
    ck_assert_ptr_nonnull(strstr(r.buf, "\"finish_reason\":\"length\""));
    ck_assert_int_eq(s.done, 0);
    prov_stream_free(&s);
}
END_TEST

/* event: error (the reference's overloaded example): a status and an OpenAI error, nothing emitted.
 */
START_TEST(stream_error_event)
{
    static const struct {
        const char *type;
        int status;
        const char *openai_type;
    } cases[] = {
        {"overloaded_error", 529, "server_error"},
        {"api_error", 500, "server_error"},
        {"rate_limit_error", 429, "rate_limit_error"},
        {"invalid_request_error", 400, "invalid_request_error"},
        {"request_too_large", 413, "invalid_request_error"},
        {"timeout_error", 504, "server_error"},
        {"new_kind_of_error", 500, "server_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct prov_call c = call(OP_CHAT, 1);
        struct prov_stream s;
        static struct rec r;
        char ev[512], want[512];
        stream_open(&s, &c, &r);
        ck_assert_int_eq(feed(&s, basic_stream), 0); /* a whole stream first: no matter */
        memset(&r, 0, sizeof(r));
        snprintf(ev, sizeof(ev),
                 "event: error\ndata: {`type`: `error`, `error`: {`type`: `%s`, `message`: "
                 "`Overloaded`}}\n\n",
                 cases[i].type);
        ck_assert_int_eq(feed(&s, ev), 0);
        ck_assert_int_eq(r.n, 0);
        ck_assert_int_eq(s.error_status, cases[i].status);
        ck_assert_ptr_nonnull(s.error);
        snprintf(want, sizeof(want),
                 "{`error`:{`message`:`Overloaded`,`type`:`%s`,`param`:null,`code`:`%s`}}",
                 cases[i].openai_type, cases[i].type);
        assert_json(s.error, want);
        prov_stream_free(&s);
        ck_assert_ptr_null(s.error);
    }
}
END_TEST

/* A pass-through: nothing emitted, usage and the end still seen. */
START_TEST(stream_passthrough)
{
    struct prov_call c = call(OP_CHAT, 1);
    struct prov_stream s;
    c.native = 1;
    stream_open(&s, &c, NULL);
    ck_assert_int_eq(feed(&s, tool_stream), 0);
    ck_assert_int_eq(s.done, 1);
    ck_assert_int_eq(s.usage.prompt, 472);
    ck_assert_int_eq(s.usage.completion, 89);
    ck_assert_int_eq(s.usage.total, 561);
    prov_stream_free(&s);
    stream_open(&s, &c, NULL);
    ck_assert_int_eq(feed(&s,
                          "event: error\ndata: {`type`:`error`,`error`:{`type`:`overloaded_error`,"
                          "`message`:`Overloaded`}}\n\n"),
                     0);
    ck_assert_int_eq(s.error_status, 529);
    prov_stream_free(&s);
}
END_TEST

/* Data that is not an Anthropic event: -1. */
START_TEST(stream_bad_data)
{
    static const char *const bad[] = {
        "{not json",
        "[1,2]",
        "{`no`:`type`}",
        "{`type`:`message_start`}",
        "{`type`:`message_stop`} trailing",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct prov_call c = call(OP_CHAT, 1);
        struct prov_stream s;
        static struct rec r;
        char *d = unbacktick(bad[i]);
        stream_open(&s, &c, &r);
        ck_assert_msg(prov_anthropic.stream_event(&s, "message_start", 13, d, strlen(d)) == -1,
                      "%s", d);
        ck_assert_int_eq(r.n, 0);
        free(d);
        prov_stream_free(&s);
    }
}
END_TEST

/* ---- errors ---- */

/* Anthropic's error shape to OpenAI's, the status kept but 529 (OpenAI clients know 503). */
START_TEST(error_shapes)
{
    static const struct {
        long status;
        const char *type;
        int out;
        const char *openai_type;
    } cases[] = {
        {400, "invalid_request_error", 400, "invalid_request_error"},
        {401, "authentication_error", 401, "authentication_error"},
        {402, "billing_error", 402, "invalid_request_error"},
        {403, "permission_error", 403, "permission_error"},
        {404, "not_found_error", 404, "not_found_error"},
        {413, "request_too_large", 413, "invalid_request_error"},
        {429, "rate_limit_error", 429, "rate_limit_error"},
        {500, "api_error", 500, "server_error"},
        {504, "timeout_error", 504, "server_error"},
        {529, "overloaded_error", 503, "server_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char in[512], want[512];
        struct json_object *o, *out = NULL;
        snprintf(in, sizeof(in),
                 "{`type`:`error`,`error`:{`type`:`%s`,`message`:`The requested resource could not "
                 "be found.`},`request_id`:`req_011CSHoEeqs5C35K2UUqR7Fy`}",
                 cases[i].type);
        o = J(in);
        ck_assert_int_eq(prov_anthropic.error(cases[i].status, NULL, o, &out), cases[i].out);
        snprintf(want, sizeof(want),
                 "{`error`:{`message`:`The requested resource could not be found.`,`type`:`%s`,"
                 "`param`:null,`code`:`%s`}}",
                 cases[i].openai_type, cases[i].type);
        assert_json(out, want);
        json_object_put(out);
        json_object_put(o);
    }
}
END_TEST

/* Not Anthropic's error shape: -1 (a 502), nothing made. */
START_TEST(error_not_anthropic)
{
    static const char *const bad[] = {
        "{`error`:{`message`:`x`,`type`:`server_error`,`param`:null,`code`:null}}",
        "{`type`:`error`,`error`:`oops`}",
        "{`type`:`error`,`error`:{`message`:`no type`}}",
        "[]",
    };
    struct json_object *out = (struct json_object *)bad;
    ck_assert_int_eq(prov_anthropic.error(502, NULL, NULL, &out), -1);
    ck_assert_ptr_null(out);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *o = J(bad[i]);
        out = (struct json_object *)bad;
        ck_assert_int_eq(prov_anthropic.error(500, NULL, o, &out), -1);
        ck_assert_ptr_null(out);
        json_object_put(o);
    }
}
END_TEST

/* The provider's table entry. */
START_TEST(provider_entry)
{
    ck_assert_ptr_eq(provider_get(PROVIDER_ANTHROPIC), &prov_anthropic);
    ck_assert_str_eq(prov_anthropic.name, "anthropic");
    ck_assert_int_eq(prov_anthropic.own, DIALECT_ANTHROPIC);
    ck_assert_uint_eq(prov_anthropic.ops, OP_BIT(OP_CHAT) | OP_BIT(OP_COUNT_TOKENS));
    struct prov_call c = call(OP_EMBEDDINGS, 0);
    struct prov_http h;
    char err[256];
    ck_assert_int_eq(build(&c, "{`input`:`x`}", &h, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "this operation is not supported by provider anthropic");
    http_free(&h);
}
END_TEST

/* Every case, by what it exercises. */
static Suite *
anthropic_suite(void)
{
    Suite *s = suite_create("prov_anthropic");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, build_chat_full);
    tcase_add_test(tc, build_chat_simple);
    tcase_add_test(tc, build_chat_merges);
    tcase_add_test(tc, build_chat_tool_choice);
    tcase_add_test(tc, build_count_tokens);
    tcase_add_test(tc, build_refused);
    tcase_add_test(tc, build_no_max_tokens);
    tcase_add_test(tc, build_native);
    tcase_add_test(tc, build_native_client_headers);
    tcase_add_test(tc, provider_entry);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_test(tc, response_text_cache_usage);
    tcase_add_test(tc, response_absurd_usage);
    tcase_add_test(tc, response_tool_use);
    tcase_add_test(tc, response_thinking);
    tcase_add_test(tc, response_finish_reasons);
    tcase_add_test(tc, response_count_native_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_add_test(tc, stream_basic);
    tcase_add_test(tc, stream_tool_use);
    tcase_add_test(tc, stream_thinking);
    tcase_add_test(tc, stream_cache_server_tool);
    tcase_add_test(tc, stream_usage_early);
    tcase_add_test(tc, stream_error_event);
    tcase_add_test(tc, stream_passthrough);
    tcase_add_test(tc, stream_bad_data);
    suite_add_tcase(s, tc);

    tc = tcase_create("error");
    tcase_add_test(tc, error_shapes);
    tcase_add_test(tc, error_not_anthropic);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(anthropic_suite());
}
