/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_prov_bedrock.c: the bedrock provider's request (URL, headers and
 * a SigV4 signature over the Host the upstream client sends, port
 * included) and its error mapping. The translations are check_converse's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "converse.h"
#include "manpage.h"
#include "messages.h"
#include "provider.h"
#include "aigw/sigv4.h"
#include "tap.h"

#define MODEL "anthropic.claude-3-haiku-20240307-v1:0"
#define MODEL_SEG "anthropic.claude-3-haiku-20240307-v1%3A0"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static struct target_view target = {
    .name = "br",
    .upstream_model = MODEL,
    .api_base = "",
    .api_key = "",
    .api_version = "",
    .credential = "",
    .aws = {"us-west-2", "AKIDEXAMPLE", SECRET, ""},
    .provider = PROVIDER_BEDROCK,
};

/* The value of header name in h's lines (into out); NULL when absent. */
static const char *
header(const struct prov_http *h, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = h->hdrs; p != NULL && p < h->hdrs + h->hlen;) {
        const char *e = memmem(p, (size_t)(h->hdrs + h->hlen - p), "\r\n", 2);
        if (e == NULL)
            break;
        if ((size_t)(e - p) > n + 2 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            snprintf(out, len, "%.*s", (int)(e - p - n - 2), p + n + 2);
            return out;
        }
        p = e + 2;
    }
    return NULL;
}

/* Build a chat request for t; h holds the request (free it). */
static void
build(const struct target_view *t, int stream, struct prov_http *h)
{
    struct prov_call c = {.t = t, .op = OP_CHAT, .stream = stream, .request_id = "r1"};
    struct json_object *body = json_tokener_parse(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    char err[256] = "";
    memset(h, 0, sizeof(*h));
    ck_assert_msg(prov_bedrock.build(&c, body, h, err, sizeof(err)) == 0, "%s", err);
    json_object_put(body);
}

/*
 * The Authorization h carries is the one SigV4 (checked against AWS's
 * vectors in check_sigv4) gives over host, path, its x-amz-date (and
 * token) and its body.
 */
static void
assert_signed(const struct target_view *t, const struct prov_http *h, const char *host,
              const char *path)
{
    char date[64], auth[512], tok[256];
    ck_assert_ptr_nonnull(header(h, "X-Amz-Date", date, sizeof(date)));
    ck_assert_ptr_nonnull(header(h, "Authorization", auth, sizeof(auth)));
    const char *token = header(h, "X-Amz-Security-Token", tok, sizeof(tok));
    struct sigv4_hdr hdrs[3] = {
        {"host", host}, {"x-amz-date", date}, {"x-amz-security-token", token}};
    struct sigv4_cred cred = {t->aws.access_key_id, t->aws.secret_access_key, token, t->aws.region,
                              "bedrock"};
    char *want =
        sigv4_authorization(&cred, "POST", path, NULL, hdrs, token ? 3 : 2, h->body, h->len, date);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_eq(auth, want);
    free(want);
    ck_assert_ptr_null(memmem(h->hdrs, h->hlen, SECRET, strlen(SECRET))); /* only the signature */
}

START_TEST(converse_default_endpoint)
{
    struct prov_http h;
    char v[128];
    build(&target, 0, &h);
    ck_assert_str_eq(h.url, "https://bedrock-runtime.us-west-2.amazonaws.com/model/" MODEL_SEG
                            "/converse");
    ck_assert_str_eq(header(&h, "Accept", v, sizeof(v)), "application/json");
    ck_assert_str_eq(header(&h, "Content-Type", v, sizeof(v)), "application/json");
    ck_assert_ptr_null(header(&h, "X-Amz-Security-Token", v, sizeof(v)));
    ck_assert_ptr_nonnull(strstr(h.body, "\"messages\":[{\"role\":\"user\""));
    assert_signed(&target, &h, "bedrock-runtime.us-west-2.amazonaws.com",
                  "/model/" MODEL_SEG "/converse");
    char auth[512];
    header(&h, "Authorization", auth, sizeof(auth));
    ck_assert_ptr_nonnull(strstr(auth, "Credential=AKIDEXAMPLE/"));
    ck_assert_ptr_nonnull(strstr(auth, "/us-west-2/bedrock/aws4_request"));
    prov_http_free(&h);
}
END_TEST

/* api_base (a VPC endpoint, the mock): its host and port are what is signed. */
START_TEST(converse_stream_api_base_port_token)
{
    struct target_view t = target;
    struct prov_http h;
    char v[128];
    t.api_base = "http://127.0.0.1:8123";
    t.aws.session_token = "FwoGZXIvYXdzEXAMPLE";
    build(&t, 1, &h);
    ck_assert_str_eq(h.url, "http://127.0.0.1:8123/model/" MODEL_SEG "/converse-stream");
    ck_assert_str_eq(header(&h, "Accept", v, sizeof(v)), "application/vnd.amazon.eventstream");
    ck_assert_str_eq(header(&h, "X-Amz-Security-Token", v, sizeof(v)), "FwoGZXIvYXdzEXAMPLE");
    assert_signed(&t, &h, "127.0.0.1:8123", "/model/" MODEL_SEG "/converse-stream");
    prov_http_free(&h);

    /* the scheme's default port is not in the Host header, so not signed either */
    t.api_base = "https://vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com:443";
    build(&t, 0, &h);
    assert_signed(&t, &h, "vpce-1.bedrock-runtime.us-west-2.vpce.amazonaws.com",
                  "/model/" MODEL_SEG "/converse");
    prov_http_free(&h);
}
END_TEST

START_TEST(other_ops_refused)
{
    struct prov_call c = {.t = &target, .op = OP_EMBEDDINGS};
    struct prov_http h;
    char err[256] = "";
    struct json_object *body = json_tokener_parse("{\"input\":\"x\"}");
    memset(&h, 0, sizeof(h));
    ck_assert_int_eq(prov_bedrock.build(&c, body, &h, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "this operation is not supported by provider bedrock");
    prov_http_free(&h);
    json_object_put(body);
}
END_TEST

/* error.message, error.type and error.code of an OpenAI error body ("" for a null code). */
static void
assert_openai(struct json_object *o, const char *msg, const char *type, const char *code)
{
    struct json_object *e = json_object_object_get(o, "error");
    struct json_object *c = json_object_object_get(e, "code");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "message")), msg);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(e, "type")), type);
    ck_assert_str_eq(c ? json_object_get_string(c) : "", code);
}

/*
 * Bedrock's errors as its API reference lists them (status, x-amzn-ErrorType
 * as the runtime sends it, {"message"}) to the client's status, OpenAI's
 * type and code, and Anthropic's type (messages.c's shape from the same
 * answer). Before x-amzn-ErrorType reached the provider, every one was
 * typed by the upstream's status alone and had no code: ModelNotReady a
 * 429 rate_limit_error, ModelTimeout a 408 invalid_request_error.
 */
START_TEST(errors_mapped)
{
    static const char *const coral = ":http://internal.amazon.com/coral/com.amazon.bedrock/";
    static const struct {
        long status;
        const char *type;
        int client;
        const char *openai, *anthropic;
    } cases[] = {
        {400, "ValidationException", 400, "invalid_request_error", "invalid_request_error"},
        {403, "AccessDeniedException", 403, "permission_error", "permission_error"},
        {404, "ResourceNotFoundException", 404, "not_found_error", "not_found_error"},
        {429, "ThrottlingException", 429, "rate_limit_error", "rate_limit_error"},
        {400, "ServiceQuotaExceededException", 429, "rate_limit_error", "rate_limit_error"},
        {429, "ModelNotReadyException", 503, "server_error", "overloaded_error"},
        {503, "ServiceUnavailableException", 503, "server_error", "overloaded_error"},
        {408, "ModelTimeoutException", 504, "server_error", "timeout_error"},
        {424, "ModelErrorException", 502, "server_error", "api_error"},
        {500, "InternalServerException", 500, "server_error", "api_error"},
        {403, "UnrecognizedClientException", 403, "permission_error", "permission_error"},
        {418, "SomeNewException", 418, "invalid_request_error", "invalid_request_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char hdr[PROV_ERRTYPE_MAX];
        struct json_object *in = json_tokener_parse("{\"message\":\"upstream says no\"}"), *out, *m;
        snprintf(hdr, sizeof(hdr), "%s%s", cases[i].type, i % 2 ? coral : "");
        ck_assert_int_eq(prov_bedrock.error(cases[i].status, hdr, in, &out), cases[i].client);
        assert_openai(out, "upstream says no", cases[i].openai, cases[i].type);
        m = msg_error_from_openai(cases[i].client, out);
        ck_assert_str_eq(json_object_get_string(json_object_object_get(m, "type")), "error");
        ck_assert_str_eq(json_object_get_string(
                             json_object_object_get(json_object_object_get(m, "error"), "type")),
                         cases[i].anthropic);
        ck_assert_str_eq(json_object_get_string(
                             json_object_object_get(json_object_object_get(m, "error"), "message")),
                         "upstream says no");
        json_object_put(m);
        json_object_put(out);
        json_object_put(in);
    }
}
END_TEST

/*
 * Without the header: the body's __type names it (AWS's JSON protocol), or
 * the status types it; a header with no JSON body is still Bedrock's error;
 * neither is not Bedrock's answer.
 */
START_TEST(errors_without_header_or_body)
{
    struct json_object
        *in = json_tokener_parse(
            "{\"message\":\"The security token included in the request is invalid.\"}"),
        *out = NULL;
    ck_assert_int_eq(prov_bedrock.error(403, NULL, in, &out), 403);
    assert_openai(out, "The security token included in the request is invalid.", "permission_error",
                  "");
    json_object_put(out);
    json_object_put(in);
    in = json_tokener_parse("{\"__type\":\"com.amazon.coral.validate#ValidationException\","
                            "\"message\":\"bad\"}");
    ck_assert_int_eq(prov_bedrock.error(400, NULL, in, &out), 400);
    assert_openai(out, "bad", "invalid_request_error", "ValidationException");
    json_object_put(out);
    json_object_put(in);
    ck_assert_int_eq(prov_bedrock.error(429, "ThrottlingException", NULL, &out), 429);
    assert_openai(out, "Bedrock returned an error", "rate_limit_error", "ThrottlingException");
    json_object_put(out);
    in = json_tokener_parse("{\"error\":{\"message\":\"not bedrock\"}}");
    ck_assert_int_eq(prov_bedrock.error(400, NULL, in, &out), -1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(prov_bedrock.error(502, NULL, NULL, &out), -1);
    json_object_put(in);
}
END_TEST

/*
 * A signature mismatch's message can go on with the canonical request,
 * whose headers hold X-Amz-Security-Token: the client gets the first part
 * only (before, the whole message went out, token included).
 */
START_TEST(error_message_no_canonical_request)
{
    struct json_object *in = json_object_new_object(), *out;
    json_object_object_add(
        in, "message",
        json_object_new_string(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.\n\nThe Canonical String for this request should have "
            "been\n'POST\n/model/m/converse\n\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
            "x-amz-date:20240101T000000Z\nx-amz-security-token:FwoGZXIvYXdzSECRET\n\n"
            "host;x-amz-date;x-amz-security-token\nabc'\n\nThe String-to-Sign should have been\n"
            "'AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/bedrock/"
            "aws4_request\nabc'\n"));
    ck_assert_int_eq(prov_bedrock.error(403, "InvalidSignatureException", in, &out), 403);
    assert_openai(out,
                  "The request signature we calculated does not match the signature you provided. "
                  "Check your AWS Secret Access Key and signing method. Consult the service "
                  "documentation for details.",
                  "permission_error", "InvalidSignatureException");
    ck_assert_ptr_null(strstr(json_object_to_json_string(out), "FwoGZXIvYXdzSECRET"));
    json_object_put(out);
    json_object_put(in);
}
END_TEST

/*
 * aigw-resources(5)'s table of Bedrock's errors (".It Cm TYPE Ta AWS Ta
 * client") is what the provider does: each type at AWS's status gets the
 * client's status, and so does its stream exception (lower-case first letter).
 */
START_TEST(error_table_as_documented)
{
    char **l = man_lines("man/aigw-resources.5");
    int b = man_find(l, 0, ".Ss Errors"), e = man_find(l, b, ".Sh ROUTING"), rows = 0;
    ck_assert_int_gt(b, 0);
    for (int i = b; i < e; i++) {
        char name[64];
        int aws, client;
        struct json_object *in, *out = NULL;
        if (sscanf(l[i], ".It Cm %63s Ta %d Ta %d", name, &aws, &client) != 3)
            continue;
        rows++;
        in = json_tokener_parse("{\"message\":\"m\"}");
        ck_assert_msg(prov_bedrock.error(aws, name, in, &out) == client, "%s", name);
        ck_assert_str_eq(json_object_get_string(
                             json_object_object_get(json_object_object_get(out, "error"), "code")),
                         name);
        name[0] = (char)(name[0] - 'A' + 'a');
        ck_assert_int_eq(converse_error_status(name, strlen(name)), client);
        json_object_put(out);
        json_object_put(in);
    }
    ck_assert_int_eq(rows, 17);
    man_free(l);
}
END_TEST

static Suite *
bedrock_suite(void)
{
    Suite *s = suite_create("prov_bedrock");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, converse_default_endpoint);
    tcase_add_test(tc, converse_stream_api_base_port_token);
    tcase_add_test(tc, other_ops_refused);
    tcase_add_test(tc, errors_mapped);
    tcase_add_test(tc, errors_without_header_or_body);
    tcase_add_test(tc, error_message_no_canonical_request);
    tcase_add_test(tc, error_table_as_documented);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(bedrock_suite());
}
