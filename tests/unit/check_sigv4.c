/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_sigv4.c: AWS Signature Version 4 against AWS's "Signature Version 4
 * Test Suite" (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html,
 * as vendored in github.com/bazelbuild/bazel third_party/aws-sig-v4-test-suite):
 * the cases post-vanilla, post-x-www-form-urlencoded (canonical request,
 * string to sign and Authorization), post-sts-header-before and
 * get-vanilla-query-order-key, with the suite's credentials; then the
 * encoding of a Bedrock model id's path.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aigw/sigv4.h"
#include "tap.h"

#define DATE "20150830T123600Z"

static const struct sigv4_cred suite_cred = {
    .access_key = "AKIDEXAMPLE",
    .secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    .region = "us-east-1",
    .service = "service",
};

#define CRED_PREFIX                                                                                \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

START_TEST(post_vanilla)
{
    struct sigv4_hdr h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", DATE}};
    char *a = sigv4_authorization(&suite_cred, "POST", "/", NULL, h, 2, NULL, 0, DATE);
    ck_assert_str_eq(a, CRED_PREFIX
                     "SignedHeaders=host;x-amz-date, "
                     "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    free(a);
}
END_TEST

static const char form_body[] = "Param1=value1";

START_TEST(post_form_creq_sts)
{
    struct sigv4_hdr h[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                            {"Host", "example.amazonaws.com"},
                            {"X-Amz-Date", DATE}};
    char body_hex[SIGV4_HEX_LEN + 1], creq_hex[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1], *sh;
    char *creq;
    sigv4_sha256_hex(form_body, strlen(form_body), body_hex);
    creq = sigv4_canonical_request("POST", "/", NULL, h, 3, body_hex, &sh);
    ck_assert_str_eq(creq, "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
                           "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
                           "content-type;host;x-amz-date\n"
                           "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    ck_assert_str_eq(sh, "content-type;host;x-amz-date");
    sigv4_sha256_hex(creq, strlen(creq), creq_hex);
    ck_assert_str_eq(creq_hex, "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
    ck_assert_int_eq(
        sigv4_signature(&suite_cred, "20150830",
                        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/"
                        "service/aws4_request\n"
                        "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
                        sig),
        0);
    ck_assert_str_eq(sig, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    free(creq);
    free(sh);
}
END_TEST

START_TEST(post_form_authz)
{
    /* the headers in another order and case: the canonical form sorts and lowercases */
    struct sigv4_hdr h[] = {{"x-amz-date", DATE},
                            {"HOST", "example.amazonaws.com"},
                            {"content-type", "  application/x-www-form-urlencoded "}};
    char *a = sigv4_authorization(&suite_cred, "POST", "/", NULL, h, 3, form_body,
                                  strlen(form_body), DATE);
    ck_assert_str_eq(a, CRED_PREFIX
                     "SignedHeaders=content-type;host;x-amz-date, "
                     "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    free(a);
}
END_TEST

START_TEST(post_sts_header_before)
{
    struct sigv4_cred c = suite_cred;
    c.session_token = "AQoDYXdzEPT//////////"
                      "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"
                      "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
                      "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7"
                      "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+"
                      "xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm"
                      "8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    struct sigv4_hdr h[] = {{"Host", "example.amazonaws.com"},
                            {"X-Amz-Date", DATE},
                            {"X-Amz-Security-Token", c.session_token}};
    char *a = sigv4_authorization(&c, "POST", "/", NULL, h, 3, NULL, 0, DATE);
    ck_assert_str_eq(a, CRED_PREFIX
                     "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                     "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
    free(a);
}
END_TEST

START_TEST(get_query_order_key)
{
    struct sigv4_hdr h[] = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", DATE}};
    char *a = sigv4_authorization(&suite_cred, "GET", "/", "Param1=value2&Param1=Value1", h, 2,
                                  NULL, 0, DATE);
    ck_assert_str_eq(a, CRED_PREFIX
                     "SignedHeaders=host;x-amz-date, "
                     "Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
    free(a);
}
END_TEST

/* A Bedrock model id's ':' is sent as %3A and signed as %253A (every service but S3). */
START_TEST(bedrock_path_encoded_twice)
{
    struct sigv4_hdr h[] = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
                            {"x-amz-date", DATE}};
    char *sh, *creq = sigv4_canonical_request(
                  "POST", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "", h, 2,
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &sh);
    ck_assert_ptr_nonnull(
        strstr(creq, "\n/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse\n\n"));
    ck_assert_str_eq(sh, "host;x-amz-date");
    free(creq);
    free(sh);
}
END_TEST

START_TEST(bad_date_refused)
{
    struct sigv4_hdr h[] = {{"Host", "example.amazonaws.com"}};
    ck_assert_ptr_null(sigv4_authorization(&suite_cred, "GET", "/", NULL, h, 1, NULL, 0, "2015"));
}
END_TEST

/*
 * Bedrock Converse requests signed by botocore 1.43.11 (AWS's Python
 * signer, SigV4Auth(creds, "bedrock", "us-east-1")) at 20261207T223723Z,
 * with and without a session token: the same headers, byte for byte.
 */
static const char bedrock_body[] = "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
                                   "\"Hi\"}]}],\"inferenceConfig\":{\"maxTokens\":16}}";

START_TEST(bedrock_like_botocore)
{
    struct sigv4_cred c = suite_cred;
    char seg[128], path[256], *h;
    time_t t = 1796683043; /* 2026-12-07T22:37:23Z */
    c.service = "bedrock";
    ck_assert_int_eq(sigv4_path_segment("anthropic.claude-3-haiku-20240307-v1:0", seg, sizeof(seg)),
                     0);
    ck_assert_str_eq(seg, "anthropic.claude-3-haiku-20240307-v1%3A0");
    snprintf(path, sizeof(path), "/model/%s/converse", seg);
    h = sigv4_sign_headers(&c, "POST", "bedrock-runtime.us-east-1.amazonaws.com", path,
                           bedrock_body, strlen(bedrock_body), t);
    ck_assert_str_eq(
        h, "X-Amz-Date: 20261207T223723Z\r\n"
           "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/bedrock/"
           "aws4_request, SignedHeaders=host;x-amz-date, "
           "Signature=8599d169053b09a9fb49272d0b9e9ec9ca948bd27f0b5f782212b46493a44a5e\r\n");
    free(h);
    c.session_token = "FwoGZXIvYXdzEXAMPLETOKEN//abc+def=";
    h = sigv4_sign_headers(&c, "POST", "bedrock-runtime.us-east-1.amazonaws.com", path,
                           bedrock_body, strlen(bedrock_body), t);
    ck_assert_str_eq(
        h, "X-Amz-Date: 20261207T223723Z\r\n"
           "X-Amz-Security-Token: FwoGZXIvYXdzEXAMPLETOKEN//abc+def=\r\n"
           "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/bedrock/"
           "aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, "
           "Signature=d64fe9282d529a0fa6c21801abdb8f5b50260a2cd49beb40ec0b5b5c739ac77a\r\n");
    free(h);
    /* an inference profile ARN: its '/' and ':' are one segment's */
    ck_assert_int_eq(
        sigv4_path_segment("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x", seg,
                           sizeof(seg)),
        0);
    ck_assert_str_eq(seg,
                     "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x");
    ck_assert_int_eq(sigv4_path_segment("abc:", seg, 6), -1);
}
END_TEST

static Suite *
sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("sigv4");
    tcase_add_test(tc, post_vanilla);
    tcase_add_test(tc, post_form_creq_sts);
    tcase_add_test(tc, post_form_authz);
    tcase_add_test(tc, post_sts_header_before);
    tcase_add_test(tc, get_query_order_key);
    tcase_add_test(tc, bedrock_path_encoded_twice);
    tcase_add_test(tc, bad_date_refused);
    tcase_add_test(tc, bedrock_like_botocore);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(sigv4_suite());
}
