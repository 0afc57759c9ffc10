/* SPDX-License-Identifier: Apache-2.0 */
/* check_resource.c: Model / API key schemas, binary records, and the standalone resources file. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "provider.h"
#include "resfields.h"
#include "aigw/resfile.h"
#include "auth.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "manpage.h"
#include "tap.h"

#define HASH_0001                                                                                  \
    "820b1c7a7f3b9722bca2bdf90fb63c8af91c71bf8e7b399efb0646163b5af643" /* sk-test-0001 */
#define HASH_0001_UPPER "820B1C7A7F3B9722BCA2BDF90FB63C8AF91C71BF8E7B399EFB0646163B5AF643"

static struct json_object *
parse(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "bad test JSON: %s", json);
    return o;
}

/* A string member of doc, or NULL. */
static const char *
member(struct json_object *doc, const char *field)
{
    struct json_object *o;
    if (!json_object_object_get_ex(doc, field, &o) || !json_object_is_type(o, json_type_string))
        return NULL;
    return json_object_get_string(o);
}

/* Validate json as kind; doc keeps the (normalized) document, e the errors. */
static int
validate(enum res_kind k, const char *json, const char *prefix, struct json_object **doc,
         struct aigw_errors *e)
{
    *doc = parse(json);
    errors_init(e, NULL);
    return res_validate(k, *doc, prefix, e);
}

/* Validate (must pass) and compile json; returns the record. */
static void *
compile(enum res_kind k, const char *id, const char *json, size_t *len)
{
    struct json_object *doc;
    struct aigw_errors e;
    void *rec = NULL;
    ck_assert_int_eq(validate(k, json, "", &doc, &e), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_int_eq(res_compile(k, id, doc, &rec, len), 0);
    json_object_put(doc);
    ck_assert_ptr_nonnull(rec);
    return rec;
}

/* A copy of len bytes in a block of exactly that size, so ASan sees any read past it. */
static void *
exact_copy(const void *p, size_t len)
{
    void *q = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(q);
    memcpy(q, p, len);
    return q;
}

/* 1 when s is a NUL-terminated string entirely inside [rec, rec+len). */
static int
inside(const void *rec, size_t len, const char *s)
{
    const char *b = rec, *end = b + len;
    if (s < b || s >= end)
        return 0;
    return memchr(s, '\0', (size_t)(end - s)) != NULL;
}

/* ---- names and ids ---- */

/* Kind and provider names, and the id alphabet. */
START_TEST(names_and_ids)
{
    ck_assert_str_eq(res_kind_name(RES_MODEL), "models");
    ck_assert_str_eq(res_kind_name(RES_API_KEY), "api_keys");
    ck_assert_int_eq(provider_parse("openai"), PROVIDER_OPENAI);
    ck_assert_int_eq(provider_parse("openai-compatible"), PROVIDER_OPENAI_COMPATIBLE);
    ck_assert_int_eq(provider_parse("OpenAI"), -1);
    ck_assert_int_eq(provider_parse(""), -1);
    ck_assert_str_eq(provider_name(PROVIDER_OPENAI_COMPATIBLE), "openai-compatible");
    ck_assert_str_eq(provider_name(99), "?");
    ck_assert_int_eq(res_id_valid("gpt-4o_mini.v2"), 0);
    ck_assert_int_eq(res_id_valid(""), -1);
    ck_assert_int_eq(res_id_valid("a/b"), -1);
    ck_assert_int_eq(res_id_valid("a b"), -1);
    ck_assert_int_eq(res_id_valid("."), -1); /* path segments of the Admin API and etcd */
    ck_assert_int_eq(res_id_valid(".."), -1);
    ck_assert_int_eq(res_id_valid("..."), 0);
    ck_assert_int_eq(res_id_valid(".a"), 0);
    ck_assert_int_eq(res_id_valid("a\r"), -1);
    char id[RES_ID_MAX + 2];
    memset(id, 'a', sizeof(id));
    id[RES_ID_MAX] = '\0';
    ck_assert_int_eq(res_id_valid(id), 0);
    id[RES_ID_MAX] = 'a';
    id[RES_ID_MAX + 1] = '\0';
    ck_assert_int_eq(res_id_valid(id), -1);
}
END_TEST

/* ---- validation: good documents ---- */

/* The smallest valid model. */
START_TEST(model_valid_minimal)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(
        validate(RES_MODEL, "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}", "models[0]", &doc, &e),
        0);
    ck_assert_nerrors(&e, 0);
    ck_assert_str_eq(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN),
                     "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}");
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* A model with every field. */
START_TEST(model_valid_full)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_MODEL,
                              "{\"name\":\"meta-llama/Llama-3.1-8B-Instruct\","
                              "\"provider\":\"openai-compatible\",\"model\":\"llama3.1:8b\","
                              "\"api_base\":\"https://llm.internal:8443/v1\",\"api_key\":\"sk-up\","
                              "\"timeouts\":{\"connect\":\"2s\",\"first_byte\":\"30s\","
                              "\"total\":\"24h\",\"stream_idle\":\"250ms\"}}",
                              "models[0]", &doc, &e),
                     0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* A plaintext key is replaced by key_sha256, the SHA-256 of the key in lowercase hex. */
START_TEST(key_plaintext_becomes_hash)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_API_KEY,
                              "{\"name\":\"team-a\",\"key\":\"sk-test-0001\","
                              "\"allowed_models\":[\"gpt-4o*\"],\"disabled\":false,"
                              "\"expires_at\":\"2027-01-31T00:00:00Z\"}",
                              "api_keys[0]", &doc, &e),
                     0);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_null(member(doc, "key"));
    ck_assert_str_eq(member(doc, "key_sha256"), HASH_0001);
    /* Validating the normalized document again changes nothing. */
    ck_assert_int_eq(res_validate(RES_API_KEY, doc, "api_keys[0]", &e), 0);
    ck_assert_nerrors(&e, 0);
    ck_assert_str_eq(member(doc, "key_sha256"), HASH_0001);
    ck_assert_ptr_null(member(doc, "key"));
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* An uppercase key_sha256 is stored lowercase, so equal keys compare equal. */
START_TEST(key_hash_lowercased)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_API_KEY,
                              "{\"name\":\"k\",\"key_sha256\":\"" HASH_0001_UPPER
                              "\",\"expires_at\":1801353600}",
                              "", &doc, &e),
                     0);
    ck_assert_nerrors(&e, 0);
    ck_assert_str_eq(member(doc, "key_sha256"), HASH_0001);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* A document that fails validation is not normalized: its key stays as written. */
START_TEST(key_failed_validation_not_normalized)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_API_KEY,
                              "{\"name\":\"k\",\"key\":\"sk-test-0001\",\"disabled\":\"no\"}",
                              "api_keys[3]", &doc, &e),
                     -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "api_keys[3].disabled: must be true or false");
    ck_assert_str_eq(member(doc, "key"), "sk-test-0001");
    ck_assert_ptr_null(member(doc, "key_sha256"));
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* ---- validation: one error each, with its JSON path ---- */

struct bad_case {
    const char *json;
    const char *msg; /* the whole message */
};

#define DURATION_MSG "must be a duration with a unit (ms, s, m, h), such as \"30s\", up to 24h"
#define NAME_MSG "must be 1-256 printable characters without spaces or quotes"
#define CTL_MSG "must not contain control characters (CR, LF, ...)"
#define NUL_MSG "must not contain a NUL character (\\u0000)"
#define URL_CTL_MSG "must be a URL without spaces or control characters"
#define URL_QUERY_MSG "must have no query or fragment: aigw appends the API's path to it"

#define AWS_ONLY_MSG(p) "is for a provider that signs with AWS SigV4 (bedrock), not " p

static const struct bad_case bad_models[] = {
    {"{\"provider\":\"openai\"}", "models[2].name: is required"},
    {"{\"name\":\"gpt-4o\"}", "models[2].provider: is required"},
    {"{\"name\":\"gpt-4o\",\"provider\":\"cohere\"}",
     "models[2].provider: must be one of: openai, openai-compatible, azure-openai, anthropic, "
     "gemini, bedrock, vertex"},
    {"{\"name\":\"az\",\"provider\":\"azure-openai\",\"model\":\"gpt4o\"}",
     "models[2].api_base: is required"},
    {"{\"name\":\"az\",\"provider\":\"azure-openai\",\"model\":\"a/b\",\"api_base\":\"https://x\"}",
     "models[2].model: must be a deployment or model name for provider azure-openai: letters, "
     "digits, '.', '_', '-'"},
    {"{\"name\":\"gem/x\",\"provider\":\"gemini\"}",
     "models[2].name: is the upstream model, so must be a deployment or model name for provider "
     "gemini: letters, digits, '.', '_', '-' (or give model)"},
    {"{\"name\":\"g\",\"provider\":\"gemini\",\"api_version\":\"2024\"}",
     "models[2].api_version: is for azure-openai (api-version) and anthropic "
     "(anthropic-version) targets only"},
    {"{\"name\":\"c\",\"provider\":\"anthropic\",\"max_tokens\":0}",
     "models[2].max_tokens: must be an integer from 1 to 1000000000"},
    {"{\"name\":\"gpt-4o\",\"provider\":7}", "models[2].provider: must be a string"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"ftp://h/v1\"}",
     "models[2].api_base: must be an http:// or https:// URL"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"127.0.0.1:8000/v1\"}",
     "models[2].api_base: must be an http:// or https:// URL"},
    {"{\"name\":\"x\",\"provider\":\"openai-compatible\"}", "models[2].api_base: is required"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"temperature\":1}",
     "models[2].temperature: unknown field"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":{\"connect\":\"5\"}}",
     "models[2].timeouts.connect: " DURATION_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":{\"total\":\"25h\"}}",
     "models[2].timeouts.total: " DURATION_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":{\"first_byte\":\"0s\"}}",
     "models[2].timeouts.first_byte: " DURATION_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":{\"stream_idle\":30}}",
     "models[2].timeouts.stream_idle: " DURATION_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":{\"read\":\"5s\"}}",
     "models[2].timeouts.read: unknown field"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"timeouts\":\"5s\"}",
     "models[2].timeouts: must be a mapping"},
    {"{\"name\":\"gpt 4o\",\"provider\":\"openai\"}", "models[2].name: " NAME_MSG},
    {"{\"name\":\"\",\"provider\":\"openai\"}", "models[2].name: " NAME_MSG},
    {"{\"name\":\"a\\\"b\",\"provider\":\"openai\"}", "models[2].name: " NAME_MSG},
    {"{\"name\":5,\"provider\":\"openai\"}", "models[2].name: must be a string"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"model\":\"\"}",
     "models[2].model: must not be empty"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_key\":5}",
     "models[2].api_key: must be a string"},
    {"[\"name\",\"x\"]", "models[2]: must be a mapping (JSON object)"},
    /* issue 11: what would become a header, a URL or a name */
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_key\":\"sk-a\\r\\nContent-Length: 0\"}",
     "models[2].api_key: " CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_key\":\"sk-a\\nX-Injected: 1\"}",
     "models[2].api_key: " CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_key\":\"sk-a\\u007f\"}",
     "models[2].api_key: " CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_key\":\"sk-a\\u0000b\"}",
     "models[2].api_key: " NUL_MSG},
    {"{\"name\":\"x\",\"targets\":[{\"provider\":\"openai\",\"api_key\":\"k\\r\\nA: b\"}]}",
     "models[2].targets[0].api_key: " CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://h/v1\\r\\nX: y\"}",
     "models[2].api_base: " URL_CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://h /v1\"}",
     "models[2].api_base: " URL_CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://h/v 1\"}",
     "models[2].api_base: " URL_CTL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://\"}",
     "models[2].api_base: must be an http:// or https:// URL"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://h:99999/v1\"}",
     "models[2].api_base: must be an http:// or https:// URL"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://h/v1?a=b\"}",
     "models[2].api_base: " URL_QUERY_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"https://h/v1#f\"}",
     "models[2].api_base: " URL_QUERY_MSG},
    /* the upstream client sends no user information: refused, not dropped at request time */
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"https://u:p@h/v1\"}",
     "models[2].api_base: must have no user information (user:password@): give the key as "
     "api_key"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"api_base\":\"http://[::1]x/v1\"}",
     "models[2].api_base: must be an http:// or https:// URL"},
    {"{\"name\":\"x\\u0000y\",\"provider\":\"openai\"}", "models[2].name: " NUL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"model\":\"m\\u0000x\"}",
     "models[2].model: " NUL_MSG},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"model\":\"m\\nx\"}",
     "models[2].model: must not contain control characters"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"model\":\"m\\u001bx\"}",
     "models[2].model: must not contain control characters"},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"fallback_on\":[\"500\\u0000x\"]}",
     "models[2].fallback_on[0]: " NUL_MSG},
    {"{\"name\":\"x\\ty\",\"provider\":\"openai\"}", "models[2].name: " NAME_MSG},
    /* region and the aws_* keys are a SigV4 provider's only: refused by name elsewhere */
    {"{\"name\":\"x\",\"provider\":\"openai\",\"region\":\"us-east-1\"}",
     "models[2].region: " AWS_ONLY_MSG("openai")},
    {"{\"name\":\"x\",\"targets\":[{\"provider\":\"anthropic\",\"aws_access_key_id\":\"AKIA\"}]}",
     "models[2].targets[0].aws_access_key_id: " AWS_ONLY_MSG("anthropic")},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"aws_secret_access_key\":\"s\"}",
     "models[2].aws_secret_access_key: " AWS_ONLY_MSG("openai")},
    {"{\"name\":\"x\",\"provider\":\"openai\",\"aws_session_token\":\"t\"}",
     "models[2].aws_session_token: " AWS_ONLY_MSG("openai")},
    {"{\"name\":\"x\",\"region\":\"us-east-1\",\"targets\":[{\"provider\":\"openai\"}]}",
     "models[2].region: give it in each of targets, not beside them"},
    /* bedrock: region and both keys, no api_key */
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"aws_access_key_id\":\"AKID\","
     "\"aws_secret_access_key\":\"s\"}",
     "models[2].region: is required"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"us-east-1\",\"aws_access_key_id\":"
     "\"AKIDEXAMPLE\"}",
     "models[2].aws_secret_access_key: is required"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"us-east-1\",\"aws_access_key_id\":"
     "\"AKIDEXAMPLE\",\"aws_secret_access_key\":\"s\","
     "\"api_key\":\"k\"}",
     "models[2].api_key: provider bedrock signs with aws_access_key_id and aws_secret_access_key, "
     "not api_key"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"US East\","
     "\"aws_access_key_id\":\"AKID\",\"aws_secret_access_key\":\"s\"}",
     "models[2].region: must be an AWS region such as us-east-1"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"us-east-1\","
     "\"aws_access_key_id\":\"akid\",\"aws_secret_access_key\":\"s\"}",
     "models[2].aws_access_key_id: must be an access key id such as AKIAIOSFODNN7EXAMPLE"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"us-east-1\",\"aws_access_key_id\":"
     "\"AKIDEXAMPLE\",\"aws_secret_access_key\":\"s\\r\\nX: y\"}",
     "models[2].aws_secret_access_key: must not be empty or contain control characters"},
    {"{\"name\":\"x\",\"provider\":\"bedrock\",\"region\":\"us-east-1\",\"aws_access_key_id\":"
     "\"AKIDEXAMPLE\",\"aws_secret_access_key\":\"s\","
     "\"aws_session_token\":\"\"}",
     "models[2].aws_session_token: must not be empty or contain control characters"},
};

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define EXPIRES_MSG "must be an RFC 3339 time (2027-01-31T00:00:00Z) or Unix seconds"

static const struct bad_case bad_keys[] = {
    {"{\"key\":\"sk-test-0001\"}", "api_keys[0].name: is required"},
    {"{\"name\":\"k\",\"key\":\"short\"}", "api_keys[0].key: must be at least 8 characters"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"key_sha256\":\"" HEX64 "\"}",
     "api_keys[0].key: give one of key, key_sha256 and jwt"},
    {"{\"name\":\"k\"}", "api_keys[0].key: is required (or key_sha256, or jwt)"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"jwt\":{\"issuer\":\"i\",\"subject\":\"s\"}}",
     "api_keys[0].key: give one of key, key_sha256 and jwt"},
    {"{\"name\":\"k\",\"jwt\":\"alice\"}", "api_keys[0].jwt: must be a mapping {issuer, subject}"},
    {"{\"name\":\"k\",\"jwt\":{\"issuer\":\"i\"}}",
     "api_keys[0].jwt.subject: is required: the sub of the tokens (1-256 printable bytes)"},
    {"{\"name\":\"k\",\"jwt\":{\"issuer\":\"i\\n\",\"subject\":\"s\"}}",
     "api_keys[0].jwt.issuer: is required: the iss of the tokens (1-256 printable bytes)"},
    {"{\"name\":\"k\",\"jwt\":{\"issuer\":\"i\",\"subject\":\"s\",\"aud\":\"x\"}}",
     "api_keys[0].jwt: unknown field (issuer and subject only)"},
    {"{\"name\":\"k\",\"key_sha256\":"
     "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"}",
     "api_keys[0].key_sha256: must be 64 hex digits (the SHA-256 of the key)"},
    {"{\"name\":\"k\",\"key_sha256\":"
     "\"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
     "api_keys[0].key_sha256: must be 64 hex digits (the SHA-256 of the key)"},
    {"{\"name\":\"k\",\"key_sha256\":\"" HEX64 "0\"}", "api_keys[0].key_sha256: is too long"},
    {"{\"name\":\"k\",\"key\":12345678}", "api_keys[0].key: must be a string"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":\"gpt-4o\"}",
     "api_keys[0].allowed_models: must be a list of model names or globs"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"gpt-4o\",5]}",
     "api_keys[0].allowed_models[1]: must be a model name or glob"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"gpt 4o\"]}",
     "api_keys[0].allowed_models[0]: must be a model name or glob"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"expires_at\":\"tomorrow\"}",
     "api_keys[0].expires_at: " EXPIRES_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"expires_at\":\"2027-01-31\"}",
     "api_keys[0].expires_at: " EXPIRES_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"expires_at\":-5}",
     "api_keys[0].expires_at: " EXPIRES_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"expires_at\":true}",
     "api_keys[0].expires_at: " EXPIRES_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"disabled\":\"yes\"}",
     "api_keys[0].disabled: must be true or false"},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"scopes\":[]}",
     "api_keys[0].scopes: unknown field"},
    {"{\"name\":\"a b\",\"key\":\"sk-test-0001\"}", "api_keys[0].name: " NAME_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\\u0000tail\"}", "api_keys[0].key: " NUL_MSG},
    {"{\"name\":\"k\\u0000\",\"key\":\"sk-test-0001\"}", "api_keys[0].name: " NUL_MSG},
    {"{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"gpt\\u0000*\"]}",
     "api_keys[0].allowed_models[0]: " NUL_MSG},
};

/* A model document with one mistake gives exactly one error, at its JSON path. */
START_TEST(model_bad_field)
{
    struct json_object *doc;
    struct aigw_errors e;
    const struct bad_case *c = &bad_models[_i];
    ck_assert_msg(validate(RES_MODEL, c->json, "models[2]", &doc, &e) == -1, "%s accepted",
                  c->json);
    ck_assert_nerrors(&e, 1);
    ck_assert_msg(strcmp(e.msgs[0], c->msg) == 0, "%s: got [%s], want [%s]", c->json, e.msgs[0],
                  c->msg);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* A key document with one mistake gives exactly one error, at its JSON path. */
START_TEST(key_bad_field)
{
    struct json_object *doc;
    struct aigw_errors e;
    const struct bad_case *c = &bad_keys[_i];
    ck_assert_msg(validate(RES_API_KEY, c->json, "api_keys[0]", &doc, &e) == -1, "%s accepted",
                  c->json);
    ck_assert_nerrors(&e, 1);
    ck_assert_msg(strcmp(e.msgs[0], c->msg) == 0, "%s: got [%s], want [%s]", c->json, e.msgs[0],
                  c->msg);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* Every problem of one document is reported, not just the first. */
START_TEST(model_several_errors)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_MODEL,
                              "{\"provider\":\"nope\",\"api_base\":\"x\",\"extra\":1,"
                              "\"timeouts\":{\"connect\":\"1\"}}",
                              "models[5]", &doc, &e),
                     -1);
    ck_assert_nerrors(&e, 5);
    ck_assert_error(&e, "models[5].extra: unknown field");
    ck_assert_error(&e, "models[5].name: is required");
    ck_assert_error(&e, "models[5].provider: must be one of");
    ck_assert_error(&e, "models[5].api_base: must be an http");
    ck_assert_error(&e, "models[5].timeouts.connect: must be a duration");
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* With an empty or NULL prefix the path is just the field. */
START_TEST(empty_prefix_paths)
{
    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_MODEL, "{\"provider\":\"openai\"}", "", &doc, &e), -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "name: is required");
    errors_free(&e);
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_MODEL, doc, NULL, &e), -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "name: is required");
    errors_free(&e);
    json_object_put(doc);
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_API_KEY, NULL, "api_keys[1]", &e), -1);
    ck_assert_nerrors(&e, 1);
    ck_assert_str_eq(e.msgs[0], "api_keys[1]: must be a mapping (JSON object)");
    errors_free(&e);
}
END_TEST

/* The index key: a model's name, a key's raw 32-byte hash. */
START_TEST(index_keys)
{
    struct json_object *doc;
    struct aigw_errors e;
    char out[300];
    size_t len = 0;
    uint8_t want[AUTH_HASH_LEN];

    ck_assert_int_eq(
        validate(RES_MODEL, "{\"name\":\"org/m-1\",\"provider\":\"openai\"}", "", &doc, &e), 0);
    errors_free(&e);
    ck_assert_int_eq(res_index_key(RES_MODEL, doc, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, 7);
    ck_assert_mem_eq(out, "org/m-1", 7);
    ck_assert_int_eq(res_index_key(RES_MODEL, doc, out, 6, &len), -1); /* too small */
    json_object_put(doc);

    ck_assert_int_eq(
        validate(RES_API_KEY, "{\"name\":\"k\",\"key\":\"sk-test-0001\"}", "", &doc, &e), 0);
    errors_free(&e);
    ck_assert_int_eq(res_index_key(RES_API_KEY, doc, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, AUTH_HASH_LEN);
    auth_key_hash("sk-test-0001", 12, want);
    ck_assert_mem_eq(out, want, AUTH_HASH_LEN);
    ck_assert_int_eq(res_index_key(RES_API_KEY, doc, out, 31, &len), -1);
    json_object_put(doc);

    /* a JWT binding: the hash of (issuer, subject), never a key's */
    ck_assert_int_eq(
        validate(RES_API_KEY,
                 "{\"name\":\"j\",\"jwt\":{\"issuer\":\"https://i\",\"subject\":\"bob\"}}", "",
                 &doc, &e),
        0);
    errors_free(&e);
    ck_assert(!json_object_object_get_ex(doc, "key_sha256", NULL));
    ck_assert_int_eq(res_index_key(RES_API_KEY, doc, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, AUTH_HASH_LEN);
    auth_jwt_hash("https://i", "bob", want);
    ck_assert_mem_eq(out, want, AUTH_HASH_LEN);
    auth_jwt_hash("https://ib", "ob", want); /* the NUL between them keeps them apart */
    ck_assert(memcmp(out, want, AUTH_HASH_LEN) != 0);
    auth_key_hash("\0aigw-jwt\0https://i\0bob", 23,
                  want); /* = a key holding NULs, which no header can */
    ck_assert_mem_eq(out, want, AUTH_HASH_LEN);
    json_object_put(doc);
}
END_TEST

/* ---- records ---- */

/* A full model compiles and decodes to the same values; api_base loses trailing slashes. */
START_TEST(model_round_trip_full)
{
    size_t len;
    struct model_view v;
    void *rec = compile(RES_MODEL, "m-llama",
                        "{\"name\":\"llama\",\"provider\":\"openai-compatible\","
                        "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                        "\"api_base\":\"http://127.0.0.1:8000/v1//\",\"api_key\":\"sk-up\","
                        "\"timeouts\":{\"connect\":\"2s\",\"first_byte\":\"30s\",\"total\":\"10m\","
                        "\"stream_idle\":\"45s\"}}",
                        &len);
    ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
    ck_assert_str_eq(v.id, "m-llama");
    ck_assert_str_eq(v.name, "llama");
    ck_assert_str_eq(v.t[0].upstream_model, "meta-llama/Llama-3.1-8B-Instruct");
    ck_assert_str_eq(v.t[0].api_base, "http://127.0.0.1:8000/v1");
    ck_assert_str_eq(v.t[0].api_key, "sk-up");
    ck_assert_int_eq(v.t[0].provider, PROVIDER_OPENAI_COMPATIBLE);
    ck_assert_int_eq(v.connect_timeout_ms, 2000);
    ck_assert_int_eq(v.first_byte_timeout_ms, 30000);
    ck_assert_int_eq(v.total_timeout_ms, 600000);
    ck_assert_int_eq(v.stream_idle_timeout_ms, 45000);
    ck_assert(inside(rec, len, v.id) && inside(rec, len, v.t[0].api_key));
    free(rec);
}
END_TEST

/* A minimal openai model: upstream model = name, the OpenAI base URL, no key, no timeouts. */
START_TEST(model_round_trip_defaults)
{
    size_t len;
    struct model_view v;
    void *rec = compile(RES_MODEL, "gpt-4o", "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}", &len);
    ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
    ck_assert_str_eq(v.id, "gpt-4o");
    ck_assert_str_eq(v.name, "gpt-4o");
    ck_assert_str_eq(v.t[0].upstream_model, "gpt-4o");
    ck_assert_str_eq(v.t[0].api_base, "https://api.openai.com/v1");
    ck_assert_str_eq(v.t[0].api_key, "");
    ck_assert_int_eq(v.t[0].provider, PROVIDER_OPENAI);
    ck_assert_int_eq(v.connect_timeout_ms, 0);
    ck_assert_int_eq(v.first_byte_timeout_ms, 0);
    ck_assert_int_eq(v.total_timeout_ms, 0);
    ck_assert_int_eq(v.stream_idle_timeout_ms, 0);
    free(rec);
}
END_TEST

/* A Model of n targets (openai, model t<i>) and the extra members; its compiled retries. */
static int
retries_of(int n, const char *extra)
{
    char json[4096] = "{\"name\":\"m\",\"targets\":[";
    size_t len;
    struct model_view v;
    for (int i = 0; i < n; i++)
        snprintf(json + strlen(json), sizeof(json) - strlen(json),
                 "%s{\"provider\":\"openai\",\"model\":\"t%d\"%s}", i ? "," : "", i,
                 i == 0 ? "" : ",\"weight\":0");
    snprintf(json + strlen(json), sizeof(json) - strlen(json), "]%s}", extra);
    void *rec = compile(RES_MODEL, "m", json, &len);
    ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
    free(rec);
    return v.retries;
}

/*
 * retries defaults to one attempt a target (weight 0 counts) but never to
 * more than a Model may give itself: 16 targets got 15 retries, beyond
 * the 10 that validation allows.
 */
START_TEST(model_retries_default)
{
    ck_assert_int_eq(retries_of(1, ""), 0);
    ck_assert_int_eq(retries_of(3, ""), 2);
    ck_assert_int_eq(retries_of(11, ""), 10);
    ck_assert_int_eq(retries_of(12, ""), 10);
    ck_assert_int_eq(retries_of(MODEL_MAX_TARGETS, ""), 10);
    ck_assert_int_eq(retries_of(MODEL_MAX_TARGETS, ",\"retries\":4"), 4);
    ck_assert_int_eq(retries_of(2, ",\"retries\":0"), 0);
    /* the largest value validation takes is the largest default */
    ck_assert_int_eq(res_retries_default(MODEL_MAX_TARGETS), res_field("retries")->max);
}
END_TEST

/* A breaker given as {} and fallback_on left out compile to the table's defaults. */
START_TEST(model_breaker_fallback_defaults)
{
    size_t len;
    struct model_view v;
    void *rec =
        compile(RES_MODEL, "m", "{\"name\":\"m\",\"provider\":\"openai\",\"breaker\":{}}", &len);
    ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
    ck_assert_int_eq(v.breaker_failures, 5);
    ck_assert_int_eq(v.breaker_cooldown_ms, 5000);
    ck_assert_int_eq(v.breaker_max_cooldown_ms, 300000);
    ck_assert_int_eq(v.fallback, FALLBACK_CONNECT | FALLBACK_TIMEOUT | FALLBACK_429);
    for (long st = 500; st < 600; st++)
        ck_assert_int_eq(model_falls_back_on(&v, st),
                         st == 500 || st == 502 || st == 503 || st == 504);
    ck_assert_int_eq(v.t[0].weight, 1);
    ck_assert_int_eq(v.t[0].priority, 0);
    free(rec);
}
END_TEST

/*
 * Every field of the table (resfields.c) is described in aigw-resources(5)
 * with its range and its default, as check_conf does for aigw.yaml.
 */
START_TEST(man_page_documents_every_field)
{
    char **l = man_lines("man/aigw-resources.5");
    int n = 0;
    for (const struct res_field *f; (f = res_field_at(n)) != NULL; n++) {
        char want[256], *text = man_item(l, f->path);
        ck_assert_msg(text != NULL, "aigw-resources(5) has no item %s", f->path);
        if (f->type == RF_INT) {
            snprintf(want, sizeof(want), "from %s%lld to %lld", f->min < 0 ? "\\-" : "",
                     (long long)(f->min < 0 ? -f->min : f->min), (long long)f->max);
            ck_assert_msg(strstr(text, want) != NULL, "%s: not \"%s\": %s", f->path, want, text);
        } else if (f->type == RF_DURATION) {
            /* vduration's message and the page say "up to 24h" */
            ck_assert_int_eq(f->min, 1);
            ck_assert_int_eq(f->max, 86400000);
        }
        const char *d = strstr(text, "The default is ");
        if (f->def != NULL) {
            /* "The default is 5.", ".Ql 5s .", ".Ql [connect_error, timeout, 429] ;" */
            char got[256] = "";
            ck_assert_msg(d != NULL, "%s: no default in %s", f->path, text);
            d += strlen("The default is ");
            if (strncmp(d, ".Ql ", 4) == 0)
                d += 4;
            size_t k = *d == '[' ? strcspn(d, "]") : strcspn(d, " ");
            for (size_t i = 0, j = 0; i < k && j + 1 < sizeof(got); i++)
                if (d[i] != '[' && d[i] != ' ')
                    got[j++] = d[i], got[j] = '\0';
            if (got[0] != '\0' && strchr(".,;:", got[strlen(got) - 1]) != NULL)
                got[strlen(got) - 1] = '\0';
            ck_assert_msg(strcmp(got, f->def) == 0, "%s: the page says %s, the default is %s",
                          f->path, got, f->def);
        } else if (strcmp(f->path, "retries") == 0) {
            snprintf(want, sizeof(want),
                     "The default is the number of targets less one, "
                     "targets of weight 0 included, and at most %lld",
                     (long long)f->max);
            ck_assert_msg(strstr(text, want) != NULL, "retries: not \"%s\": %s", want, text);
        }
        free(text);
    }
    ck_assert_int_ge(n, 11); /* the table had 11 fields when this was written */
    man_free(l);
}
END_TEST

/* A key compiles and decodes: flags, expiry (offset applied) and patterns back to back. */
START_TEST(key_round_trip)
{
    size_t len;
    struct key_view v;
    void *rec = compile(RES_API_KEY, "k-a",
                        "{\"name\":\"team-a\",\"key\":\"sk-test-0001\",\"disabled\":true,"
                        "\"allowed_models\":[\"gpt-4o*\",\"local-*\",\"org/exact\"],"
                        "\"expires_at\":\"2027-01-31T02:00:00+02:00\"}",
                        &len);
    ck_assert_int_eq(key_view_decode(rec, len, &v), 0);
    ck_assert_str_eq(v.id, "k-a");
    ck_assert_str_eq(v.name, "team-a");
    ck_assert_int_eq(v.disabled, 1);
    ck_assert_int_eq(v.expires_at, 1801353600);
    ck_assert_int_eq(v.nallowed, 3);
    ck_assert_mem_eq(v.allowed, "gpt-4o*\0local-*\0org/exact\0", 26);
    ck_assert(inside(rec, len, v.allowed + 16));
    free(rec);
}
END_TEST

/* expires_at as Unix seconds, and a key without expiry, flags or allowed_models. */
START_TEST(key_round_trip_defaults)
{
    size_t len;
    struct key_view v;
    void *rec = compile(
        RES_API_KEY, "k1",
        "{\"name\":\"k\",\"key_sha256\":\"" HASH_0001 "\",\"expires_at\":1801353600}", &len);
    ck_assert_int_eq(key_view_decode(rec, len, &v), 0);
    ck_assert_int_eq(v.expires_at, 1801353600);
    ck_assert_int_eq(v.disabled, 0);
    free(rec);
    rec = compile(RES_API_KEY, "k2", "{\"name\":\"k2\",\"key\":\"sk-test-0001\"}", &len);
    ck_assert_int_eq(key_view_decode(rec, len, &v), 0);
    ck_assert_str_eq(v.id, "k2");
    ck_assert_int_eq(v.expires_at, 0);
    ck_assert_int_eq(v.disabled, 0);
    ck_assert_int_eq(v.nallowed, 1);
    ck_assert_str_eq(v.allowed, "*");
    ck_assert_int_eq(v.jwt, 0);
    free(rec);
    rec = compile(RES_API_KEY, "k3",
                  "{\"name\":\"k3\",\"jwt\":{\"issuer\":\"i\",\"subject\":\"s\"}}", &len);
    ck_assert_int_eq(key_view_decode(rec, len, &v), 0);
    ck_assert_int_eq(v.jwt, 1);
    ck_assert_int_eq(v.disabled, 0);
    free(rec);
}
END_TEST

/* Every truncation of a model or key record is refused (and read nothing past its end). */
START_TEST(decode_truncated)
{
    size_t mlen, klen;
    void *m = compile(RES_MODEL, "m1",
                      "{\"name\":\"n\",\"provider\":\"openai\",\"api_key\":\"secret\"}", &mlen);
    void *k = compile(RES_API_KEY, "k1",
                      "{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"a\",\"b*\"]}",
                      &klen);
    for (size_t l = 0; l < mlen; l++) {
        struct model_view v;
        void *c = exact_copy(m, l);
        ck_assert_msg(model_view_decode(c, l, &v) == -1, "model record cut to %zu of %zu decoded",
                      l, mlen);
        free(c);
    }
    for (size_t l = 0; l < klen; l++) {
        struct key_view v;
        void *c = exact_copy(k, l);
        ck_assert_msg(key_view_decode(c, l, &v) == -1, "key record cut to %zu of %zu decoded", l,
                      klen);
        free(c);
    }
    free(m);
    free(k);
}
END_TEST

/* A record of the other kind, a bad magic or a missing final NUL is refused. */
START_TEST(decode_wrong_kind_and_magic)
{
    size_t mlen, klen;
    struct model_view mv;
    struct key_view kv;
    void *m = compile(RES_MODEL, "m1", "{\"name\":\"n\",\"provider\":\"openai\"}", &mlen);
    void *k = compile(RES_API_KEY, "k1", "{\"name\":\"k\",\"key\":\"sk-test-0001\"}", &klen);
    ck_assert_int_eq(key_view_decode(m, mlen, &kv), -1);
    ck_assert_int_eq(model_view_decode(k, klen, &mv), -1);
    ((unsigned char *)m)[0] ^= 0x20;
    ck_assert_int_eq(model_view_decode(m, mlen, &mv), -1);
    ((unsigned char *)m)[0] ^= 0x20;
    ck_assert_int_eq(model_view_decode(m, mlen, &mv), 0);
    ((char *)m)[mlen - 1] = 'x';
    ck_assert_int_eq(model_view_decode(m, mlen, &mv), -1);
    ((char *)k)[klen - 1] = 'x';
    ck_assert_int_eq(key_view_decode(k, klen, &kv), -1);
    free(m);
    free(k);
}
END_TEST

/* Any single corrupted byte either fails to decode or yields strings inside the record. */
START_TEST(decode_corrupt_bytes)
{
    static const unsigned char vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    size_t mlen, klen;
    void *m = compile(RES_MODEL, "m1",
                      "{\"name\":\"n\",\"provider\":\"openai\",\"api_key\":\"secret\"}", &mlen);
    void *k = compile(RES_API_KEY, "k1",
                      "{\"name\":\"k\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"a\",\"b*\"]}",
                      &klen);
    for (size_t i = 0; i < mlen; i++)
        for (size_t j = 0; j < sizeof(vals); j++) {
            struct model_view v;
            unsigned char *c = exact_copy(m, mlen);
            c[i] = vals[j];
            if (model_view_decode(c, mlen, &v) == 0)
                ck_assert_msg(inside(c, mlen, v.id) && inside(c, mlen, v.name) &&
                                  inside(c, mlen, v.t[0].upstream_model) &&
                                  inside(c, mlen, v.t[0].api_base) &&
                                  inside(c, mlen, v.t[0].api_key),
                              "byte %zu = %#x: a string outside the record", i, vals[j]);
            free(c);
        }
    for (size_t i = 0; i < klen; i++)
        for (size_t j = 0; j < sizeof(vals); j++) {
            struct key_view v;
            unsigned char *c = exact_copy(k, klen);
            c[i] = vals[j];
            if (key_view_decode(c, klen, &v) == 0) {
                ck_assert(inside(c, klen, v.id) && inside(c, klen, v.name));
                ck_assert_int_ge(v.nallowed, 0);
                (void)auth_key_allows(&v, "b-model"); /* walks every pattern */
            }
            free(c);
        }
    free(m);
    free(k);
}
END_TEST

/* Random bytes behind a valid magic never make a decoder read outside the buffer. */
START_TEST(decode_random_garbage)
{
    size_t mlen, klen;
    void *m = compile(RES_MODEL, "m1", "{\"name\":\"n\",\"provider\":\"openai\"}", &mlen);
    void *k = compile(RES_API_KEY, "k1", "{\"name\":\"k\",\"key\":\"sk-test-0001\"}", &klen);
    uint32_t x = 12345;
    for (int round = 0; round < 3000; round++) {
        size_t len = 4 + (size_t)(round % 160);
        unsigned char *c = malloc(len);
        ck_assert_ptr_nonnull(c);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            c[i] = (unsigned char)(x >> 16);
            if (round % 3 == 0 && (x >> 28) < 3) /* small values make plausible offsets */
                c[i] = (unsigned char)(c[i] % 64);
        }
        struct model_view mv;
        struct key_view kv;
        memcpy(c, round & 1 ? m : k, 4);
        if (round & 1) {
            if (model_view_decode(c, len, &mv) == 0)
                ck_assert(inside(c, len, mv.t[0].api_key));
        } else if (key_view_decode(c, len, &kv) == 0) {
            ck_assert(inside(c, len, kv.name));
            (void)auth_key_allows(&kv, "zzz");
        }
        free(c);
    }
    free(m);
    free(k);
}
END_TEST

/* ---- the resources file ---- */

TMPDIR_FIXTURE

/* Write text to g_dir/name and load it; path gets the file's path, e its errors. */
static struct json_object *
load_text(const char *name, const char *text, struct aigw_errors *e, char *path)
{
    write_file(g_dir, name, text, path);
    errors_init(e, path);
    return resfile_load(path, e);
}

/* Assert that e holds "path:line: where: msg...". */
static void
expect_error(const struct aigw_errors *e, const char *path, int line, const char *where,
             const char *msg)
{
    char want[PATH_MAX + 512];
    snprintf(want, sizeof(want), "%s:%d: %s: %s", path, line, where, msg);
    ck_assert_error(e, want);
}

/* A good file: ids from the id field or the name, docs validated and normalized. */
START_TEST(resfile_good)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    struct json_object *out;
    out = load_text("good.yaml",
                    "models:\n"
                    "  - name: gpt-4o\n"
                    "    provider: openai\n"
                    "  - id: llama\n"
                    "    name: meta-llama/Llama-3.1-8B-Instruct\n"
                    "    provider: openai-compatible\n"
                    "    api_base: http://127.0.0.1:8000/v1\n"
                    "    timeouts: {first_byte: 60s}\n"
                    "  - name: org/model:v1\n"
                    "    provider: openai\n"
                    "api_keys:\n"
                    "  - name: team-a\n"
                    "    key: sk-test-0001\n"
                    "    allowed_models: [\"gpt-4o*\", \"meta-llama/*\"]\n"
                    "  - id: batch\n"
                    "    name: batch-jobs\n"
                    "    key_sha256: " HEX64 "\n",
                    &e, path);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_nonnull(out);
    errors_free(&e);
    struct json_object *models = json_object_object_get(out, "models");
    struct json_object *keys = json_object_object_get(out, "api_keys");
    ck_assert_int_eq(json_object_object_length(models), 3);
    ck_assert_int_eq(json_object_object_length(keys), 2);
    struct json_object *m = json_object_object_get(models, "gpt-4o");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(member(m, "provider"), "openai");
    m = json_object_object_get(models, "llama");
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(member(m, "name"), "meta-llama/Llama-3.1-8B-Instruct");
    ck_assert_ptr_null(json_object_object_get(m, "id")); /* the id is the map key only */
    ck_assert_ptr_nonnull(json_object_object_get(models, "org-model-v1"));
    struct json_object *k = json_object_object_get(keys, "team-a");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(member(k, "key_sha256"), HASH_0001);
    ck_assert_ptr_null(member(k, "key"));
    ck_assert_int_eq(json_object_array_length(json_object_object_get(k, "allowed_models")), 2);
    k = json_object_object_get(keys, "batch");
    ck_assert_ptr_nonnull(k);
    ck_assert_str_eq(member(k, "key_sha256"), HEX64);
    json_object_put(out);
}
END_TEST

/* An empty file is an empty set of both kinds. */
START_TEST(resfile_empty)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    struct json_object *out = load_text("empty.yaml", "# nothing yet\n", &e, path);
    ck_assert_ptr_nonnull(out);
    ck_assert_nerrors(&e, 0);
    ck_assert_int_eq(json_object_object_length(json_object_object_get(out, "models")), 0);
    ck_assert_int_eq(json_object_object_length(json_object_object_get(out, "api_keys")), 0);
    json_object_put(out);
    errors_free(&e);
}
END_TEST

/* resfile_load_buffer: the same as resfile_load on the file's bytes. */
START_TEST(resfile_buffer_same_as_file)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    srcdir_file("etc/resources.yaml", path);
    setenv("OPENAI_API_KEY", "sk-openai-unit", 1);
    for (int unset = 0; unset < 2; unset++) {
        if (unset)
            unsetenv("TEAM_A_KEY");
        else
            setenv("TEAM_A_KEY", "sk-team-a-unit", 1);
        FILE *fp = fopen(path, "rb");
        char buf[65536];
        size_t n = fp ? fread(buf, 1, sizeof(buf), fp) : 0;
        ck_assert_ptr_nonnull(fp);
        fclose(fp);
        errors_init(&e, path);
        struct json_object *a = resfile_load(path, &e);
        int na = e.n;
        struct json_object *b = resfile_load_buffer(buf, n, &e);
        ck_assert_int_eq(e.n, 2 * na);
        for (int k = 0; k < na; k++)
            ck_assert_str_eq(e.msgs[k], e.msgs[na + k]);
        ck_assert_int_eq(a == NULL, unset);
        ck_assert_int_eq(b == NULL, unset);
        if (a != NULL)
            ck_assert(json_object_equal(a, b));
        json_object_put(a);
        json_object_put(b);
        errors_free(&e);
    }
}
END_TEST

/* The shipped etc/resources.yaml loads once its variables are set, and fails without them. */
START_TEST(resfile_etc_example)
{
    char path[PATH_MAX], hex[2 * AUTH_HASH_LEN + 1];
    uint8_t h[AUTH_HASH_LEN];
    struct aigw_errors e;
    srcdir_file("etc/resources.yaml", path);
    setenv("OPENAI_API_KEY", "sk-openai-unit", 1);
    setenv("TEAM_A_KEY", "sk-team-a-unit", 1);
    errors_init(&e, path);
    struct json_object *out = resfile_load(path, &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_nonnull(out);
    struct json_object *m =
        json_object_object_get(json_object_object_get(out, "models"), "gpt-4o-mini");
    ck_assert_str_eq(member(m, "api_key"), "sk-openai-unit");
    struct json_object *k =
        json_object_object_get(json_object_object_get(out, "api_keys"), "team-a");
    auth_key_hash("sk-team-a-unit", 14, h);
    hex_encode(h, sizeof(h), hex);
    ck_assert_str_eq(member(k, "key_sha256"), hex);
    json_object_put(out);
    errors_free(&e);

    unsetenv("TEAM_A_KEY");
    errors_init(&e, path);
    ck_assert_ptr_null(resfile_load(path, &e));
    ck_assert_error(&e, ": api_keys[0].key: environment variable TEAM_A_KEY is not set");
    ck_assert_int_eq(strncmp(e.msgs[0], path, strlen(path)), 0);
    errors_free(&e);
    unsetenv("OPENAI_API_KEY");
}
END_TEST

/* The Quick start's resources file loads with the documented key. */
START_TEST(resfile_quickstart)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    srcdir_file("etc/quickstart-resources.yaml", path);
    errors_init(&e, path);
    struct json_object *out = resfile_load(path, &e);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_nonnull(out);
    struct json_object *m =
        json_object_object_get(json_object_object_get(out, "models"), "mock-gpt");
    ck_assert_str_eq(member(m, "api_base"), "http://127.0.0.1:9999/v1");
    struct json_object *k =
        json_object_object_get(json_object_object_get(out, "api_keys"), "quickstart");
    ck_assert_str_eq(member(k, "key_sha256"),
                     "8bf9f8cd7ab817ef335bd88813eb55c22d9f8fb3233f3a755a3977d776e165c9");
    json_object_put(out);
    errors_free(&e);
}
END_TEST

/* Two models with one name (different ids) are refused at the second. */
START_TEST(resfile_duplicate_model_names)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("dupname.yaml",
                                 "models:\n"
                                 "  - id: a\n"
                                 "    name: gpt-4o\n"
                                 "    provider: openai\n"
                                 "  - id: b\n"
                                 "    name: gpt-4o\n"
                                 "    provider: openai\n",
                                 &e, path));
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 5, "models[1]", "duplicate model name \"gpt-4o\"");
    errors_free(&e);
}
END_TEST

/* Two entries with one name and no ids collide on the id made from the name. */
START_TEST(resfile_duplicate_names_without_ids)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("dupname2.yaml",
                                 "models:\n"
                                 "  - name: gpt-4o\n"
                                 "    provider: openai\n"
                                 "  - name: gpt-4o\n"
                                 "    provider: openai\n",
                                 &e, path));
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 4, "models[1]", "duplicate id \"gpt-4o\"");
    errors_free(&e);
}
END_TEST

/* Two entries with one id (different names) are refused at the second. */
START_TEST(resfile_duplicate_ids)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("dupid.yaml",
                                 "models:\n"
                                 "  - {id: m1, name: a, provider: openai}\n"
                                 "  - {id: m2, name: b, provider: openai}\n"
                                 "  - {id: m1, name: c, provider: openai}\n"
                                 "api_keys:\n"
                                 "  - {id: k, name: x, key: sk-test-0001}\n"
                                 "  - {id: k, name: y, key: sk-test-0002}\n",
                                 &e, path));
    ck_assert_nerrors(&e, 2);
    expect_error(&e, path, 4, "models[2]", "duplicate id \"m1\"");
    expect_error(&e, path, 7, "api_keys[1]", "duplicate id \"k\"");
    errors_free(&e);
}
END_TEST

/* The same key twice (as plaintext, then as its uppercase hash) is refused. */
START_TEST(resfile_duplicate_keys)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("dupkey.yaml",
                                 "api_keys:\n"
                                 "  - name: first\n"
                                 "    key: sk-test-0001\n"
                                 "  - name: other\n"
                                 "    key: sk-test-0002\n"
                                 "  - name: second\n"
                                 "    key_sha256: " HASH_0001_UPPER "\n",
                                 &e, path));
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 6, "api_keys[2]", "duplicate key (same as another entry)");
    errors_free(&e);
}
END_TEST

/* Errors of several entries, each with file:line and JSON path. */
START_TEST(resfile_errors_with_lines)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("errs.yaml",
                                 "models:\n"                    /* 1 */
                                 "  - name: a\n"                /* 2 */
                                 "    provider: opena\n"        /* 3 */
                                 "  - name: b\n"                /* 4 */
                                 "    provider: openai\n"       /* 5 */
                                 "    timeouts:\n"              /* 6 */
                                 "      connect: 5\n"           /* 7 */
                                 "    temperature: 0.5\n"       /* 8 */
                                 "  - id: bad id\n"             /* 9 */
                                 "    name: c\n"                /* 10 */
                                 "    provider: openai\n"       /* 11 */
                                 "api_keys:\n"                  /* 12 */
                                 "  - name: k\n"                /* 13 */
                                 "    key: sk-test-0001\n"      /* 14 */
                                 "    allowed_models: gpt-4o\n" /* 15 */
                                 "    expires_at: soon\n"       /* 16 */
                                 "extra: 1\n",                  /* 17 */
                                 &e, path));
    expect_error(&e, path, 3, "models[0].provider", "must be one of: openai, openai-compatible");
    expect_error(&e, path, 7, "models[1].timeouts.connect", "must be a duration");
    expect_error(&e, path, 8, "models[1].temperature", "unknown field");
    expect_error(&e, path, 9, "models[2]", "id must be 1-128 of A-Z a-z 0-9 . _ -");
    expect_error(&e, path, 15, "api_keys[0].allowed_models", "must be a list");
    expect_error(&e, path, 16, "api_keys[0].expires_at", "must be an RFC 3339 time");
    expect_error(&e, path, 17, "extra", "unknown key (expected models, api_keys or credentials)");
    int nerrors = e.n;
    errors_free(&e);
    ck_assert_msg(nerrors == 7, "a bad id is also reported as \"models[2].id: unknown field\"");
}
END_TEST

/* models must be a list; a YAML syntax error names its line. */
START_TEST(resfile_bad_shapes)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("shape.yaml", "models:\n  gpt: {provider: openai}\n", &e, path));
    ck_assert_nerrors(&e, 1);
    expect_error(&e, path, 2, "models", "must be a list");
    errors_free(&e);

    ck_assert_ptr_null(
        load_text("syntax.yaml", "models:\n  - name: a\n   provider: b\n", &e, path));
    ck_assert_nerrors(&e, 1);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s:3: YAML syntax error", path);
    ck_assert_error(&e, want);
    errors_free(&e);

    ck_assert_ptr_null(load_text("list.yaml", "- a\n", &e, path));
    ck_assert_nerrors(&e, 1);
    ck_assert_error(&e, "the top level must be a mapping with models, api_keys and credentials");
    errors_free(&e);
}
END_TEST

/* A name too long to serve as an id needs an explicit id (it is not silently cut to 128). */
START_TEST(resfile_long_name_needs_id)
{
    char path[PATH_MAX], text[600], name[201];
    struct aigw_errors e;
    memset(name, 'n', 200);
    name[200] = '\0';
    snprintf(text, sizeof(text), "models:\n  - id: long\n    name: %s\n    provider: openai\n",
             name);
    struct json_object *out = load_text("long1.yaml", text, &e, path);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(json_object_object_get(json_object_object_get(out, "models"), "long"));
    json_object_put(out);
    errors_free(&e);

    snprintf(text, sizeof(text), "models:\n  - name: %s\n    provider: openai\n", name);
    out = load_text("long2.yaml", text, &e, path);
    int refused = out == NULL && errors_find(&e, ": models[0]: name too long to be an id") >= 0;
    json_object_put(out);
    errors_free(&e);
    ck_assert_msg(refused, "a 200-character name is cut to a 128-character id instead of refused");
}
END_TEST

/* Ids "." and "..", a name that would become one, and a NUL in a quoted YAML scalar. */
START_TEST(resfile_dot_ids_and_nul)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("dots.yaml",
                                 "models:\n"                                       /* 1 */
                                 "  - id: \".\"\n"                                 /* 2 */
                                 "    name: a\n"                                   /* 3 */
                                 "    provider: openai\n"                          /* 4 */
                                 "  - id: \"..\"\n"                                /* 5 */
                                 "    name: b\n"                                   /* 6 */
                                 "    provider: openai\n"                          /* 7 */
                                 "  - name: \"..\"\n"                              /* 8 */
                                 "    provider: openai\n"                          /* 9 */
                                 "  - name: d\n"                                   /* 10 */
                                 "    provider: openai\n"                          /* 11 */
                                 "    api_key: \"sk-a\\r\\nContent-Length: 0\"\n", /* 12 */
                                 &e, path));
    expect_error(&e, path, 2, "models[0]", "id must be 1-128 of A-Z a-z 0-9 . _ -, not . or ..");
    expect_error(&e, path, 5, "models[1]", "id must be 1-128 of A-Z a-z 0-9 . _ -, not . or ..");
    expect_error(&e, path, 8, "models[2]", "name .. cannot be an id: give an id");
    expect_error(&e, path, 12, "models[3].api_key", "must not contain control characters");
    errors_free(&e);
    /* A NUL stops the file at the YAML stage: C strings would have read "sk-a". */
    ck_assert_ptr_null(load_text("nul.yaml",
                                 "models:\n"
                                 "  - name: c\n"
                                 "    provider: openai\n"
                                 "    api_key: \"sk-a\\0tail\"\n",
                                 &e, path));
    expect_error(&e, path, 4, "models[0].api_key", "must not contain a NUL character (\\0)");
    errors_free(&e);
}
END_TEST

/* A bad value of a key field is reported at that field's line, not the entry's. */
START_TEST(resfile_key_error_line)
{
    char path[PATH_MAX], want[PATH_MAX + 64];
    struct aigw_errors e;
    ck_assert_ptr_null(load_text("keyline.yaml",
                                 "api_keys:\n"
                                 "  - name: k\n"
                                 "    key: short\n",
                                 &e, path));
    ck_assert_nerrors(&e, 1);
    ck_assert_error(&e, "api_keys[0].key: must be at least 8 characters");
    snprintf(want, sizeof(want), "%s:3: api_keys[0].key: ", path);
    int at_field_line = errors_find(&e, want) >= 0;
    errors_free(&e);
    ck_assert_msg(at_field_line,
                  "key / key_sha256 / name errors carry the entry's line, not the field's");
}
END_TEST

/* res_model_credentials' callback for the test: "a,b,". */
static void
names_cat(const char *name, void *arg)
{
    char *out = arg;
    snprintf(out + strlen(out), 64 - strlen(out), "%s,", name);
}

/* ---- credentials ---- */

#define CRED_DOC                                                                                   \
    "{\"name\":\"openai-main\",\"provider\":\"openai-compatible\","                                \
    "\"api_base\":\"http://10.0.0.1:8000/v1/\",\"api_key\":\"sk-cred-0001\"}"

static const struct bad_case bad_creds[] = {
    {"{\"provider\":\"openai\"}", "credentials[0].name: is required"},
    {"{\"name\":\"c\"}", "credentials[0].provider: is required"},
    {"{\"name\":\"c\",\"provider\":\"openai\",\"model\":\"gpt-4o\"}",
     "credentials[0].model: unknown field"},
    {"{\"name\":\"c\",\"provider\":\"openai\",\"credential\":\"d\"}",
     "credentials[0].credential: unknown field"},
    {"{\"name\":\"c\",\"provider\":\"openai-compatible\"}", "credentials[0].api_base: is required"},
    {"{\"name\":\"c\",\"provider\":\"openai\",\"api_key\":\"a\\nb\"}",
     "credentials[0].api_key: " CTL_MSG},
    {"{\"name\":\"c\",\"provider\":\"openai\",\"region\":\"eu-west-1\"}",
     "credentials[0].region: " AWS_ONLY_MSG("openai")},
};

/* A credential document with one mistake gives exactly one error, at its JSON path. */
START_TEST(cred_bad_field)
{
    struct json_object *doc;
    struct aigw_errors e;
    const struct bad_case *c = &bad_creds[_i];
    ck_assert_msg(validate(RES_CREDENTIAL, c->json, "credentials[0]", &doc, &e) == -1,
                  "%s accepted", c->json);
    ck_assert_nerrors(&e, 1);
    ck_assert_msg(strcmp(e.msgs[0], c->msg) == 0, "%s: got [%s], want [%s]", c->json, e.msgs[0],
                  c->msg);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

static const struct bad_case bad_cred_refs[] = {
    {"{\"name\":\"m\",\"credential\":\"c\",\"api_key\":\"sk-inline-0001\"}",
     "models[2].api_key: give either api_key or credential, not both (credential c holds the key)"},
    {"{\"name\":\"m\",\"targets\":[{\"credential\":\"c\",\"api_key\":\"sk-inline-0001\"}]}",
     "models[2].targets[0].api_key: give either api_key or credential, not both (credential c "
     "holds the key)"},
    {"{\"name\":\"m\",\"targets\":[{\"credential\":\"c\",\"provider\":\"openai\"}]}",
     "models[2].targets[0].provider: comes from credential c: give it there, not beside "
     "credential"},
    {"{\"name\":\"m\",\"credential\":\"c\",\"api_base\":\"http://x/v1\"}",
     "models[2].api_base: comes from credential c: give it there, not beside credential"},
    {"{\"name\":\"m\",\"credential\":\"a b\"}",
     "models[2].credential: must be the name of a credential (1-256 printable characters without "
     "spaces)"},
    {"{\"name\":\"m\",\"credential\":7}", "models[2].credential: must be a string"},
    {"{\"name\":\"m\",\"credential\":\"c\",\"aws_secret_access_key\":\"s\"}",
     "models[2].aws_secret_access_key: comes from credential c: give it there, not beside "
     "credential"},
    {"{\"name\":\"m\",\"targets\":[{\"credential\":\"c\",\"region\":\"us-east-1\"}]}",
     "models[2].targets[0].region: comes from credential c: give it there, not beside "
     "credential"},
    {"{\"name\":\"m\",\"credential\":\"c\",\"targets\":[{\"credential\":\"c\"}]}",
     "models[2].credential: give it in each of targets, not beside them"},
};

/* A Model naming a credential: its secret and endpoint are not given beside it. */
START_TEST(model_bad_cred_ref)
{
    struct json_object *doc;
    struct aigw_errors e;
    const struct bad_case *c = &bad_cred_refs[_i];
    ck_assert_msg(validate(RES_MODEL, c->json, "models[2]", &doc, &e) == -1, "%s accepted",
                  c->json);
    ck_assert_nerrors(&e, 1);
    ck_assert_msg(strcmp(e.msgs[0], c->msg) == 0, "%s: got [%s], want [%s]", c->json, e.msgs[0],
                  c->msg);
    errors_free(&e);
    json_object_put(doc);
}
END_TEST

/* res_cred_fn over one compiled credential record, by name. */
struct one_cred {
    const char *name;
    const void *rec;
    size_t len;
    int calls;
};

static int
one_cred_fn(const char *name, const void **rec, size_t *len, void *arg)
{
    struct one_cred *c = arg;
    c->calls++;
    if (c->rec == NULL || strcmp(name, c->name) != 0)
        return -1;
    *rec = c->rec;
    *len = c->len;
    return 0;
}

/* A credential's record; a Model's targets that name it take its values into their record. */
START_TEST(cred_compiles_into_model)
{
    size_t clen, mlen;
    void *crec = compile(RES_CREDENTIAL, "c1", CRED_DOC, &clen), *mrec = NULL;
    struct cred_view cv;
    ck_assert_int_eq(cred_view_decode(crec, clen, &cv), 0);
    ck_assert_str_eq(cv.id, "c1");
    ck_assert_str_eq(cv.name, "openai-main");
    ck_assert_int_eq(cv.provider, PROVIDER_OPENAI_COMPATIBLE);
    ck_assert_str_eq(cv.api_base, "http://10.0.0.1:8000/v1"); /* trailing slash gone */
    ck_assert_str_eq(cv.api_key, "sk-cred-0001");

    struct json_object *doc;
    struct aigw_errors e;
    ck_assert_int_eq(validate(RES_MODEL,
                              "{\"name\":\"chat\",\"targets\":["
                              "{\"credential\":\"openai-main\",\"model\":\"up-a\"},"
                              "{\"provider\":\"openai\",\"api_key\":\"sk-inline-0001\"}]}",
                              "", &doc, &e),
                     0);
    errors_free(&e);
    struct one_cred oc = {"openai-main", crec, clen, 0};
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m1", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    ck_assert_int_eq(oc.calls, 1);
    struct model_view v;
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_str_eq(v.t[0].name, "openai-main/up-a");
    ck_assert_str_eq(v.t[0].credential, "openai-main");
    ck_assert_int_eq(v.t[0].credential_missing, 0);
    ck_assert_int_eq(v.t[0].provider, PROVIDER_OPENAI_COMPATIBLE);
    ck_assert_str_eq(v.t[0].api_base, "http://10.0.0.1:8000/v1");
    ck_assert_str_eq(v.t[0].api_key, "sk-cred-0001");
    ck_assert_str_eq(v.t[0].upstream_model, "up-a");
    /* the inline target is as before */
    ck_assert_str_eq(v.t[1].credential, "");
    ck_assert_str_eq(v.t[1].api_key, "sk-inline-0001");
    ck_assert_str_eq(v.t[1].api_base, "https://api.openai.com/v1");
    free(mrec);

    /* no such credential: the target is marked, has no provider and no secret */
    oc.rec = NULL;
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m1", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_int_eq(v.t[0].credential_missing, 1);
    ck_assert_int_eq(v.t[0].provider, -1);
    ck_assert_str_eq(v.t[0].api_key, "");
    ck_assert_int_eq(v.t[1].credential_missing, 0);
    free(mrec);
    json_object_put(doc);
    free(crec);
}
END_TEST

/*
 * The AWS fields (region, keys, session token) in the records: inline on a
 * target, and from a credential into the targets that name it. Compiled
 * from documents as stored (validation of them comes with the provider).
 */
START_TEST(aws_fields_round_trip)
{
    size_t clen, mlen;
    void *crec = NULL, *mrec = NULL;
    struct json_object *cdoc = parse("{\"name\":\"aws\",\"provider\":\"openai\","
                                     "\"region\":\"eu-west-1\",\"aws_access_key_id\":\"AKIDC\","
                                     "\"aws_secret_access_key\":\"sc\"}");
    ck_assert_int_eq(res_compile(RES_CREDENTIAL, "c", cdoc, &crec, &clen), 0);
    struct cred_view cv;
    ck_assert_int_eq(cred_view_decode(crec, clen, &cv), 0);
    ck_assert_str_eq(cv.aws.region, "eu-west-1");
    ck_assert_str_eq(cv.aws.access_key_id, "AKIDC");
    ck_assert_str_eq(cv.aws.secret_access_key, "sc");
    ck_assert_str_eq(cv.aws.session_token, "");
    ck_assert_str_eq(cv.api_key, "");

    struct json_object *doc =
        parse("{\"name\":\"m\",\"targets\":[{\"credential\":\"aws\"},"
              "{\"provider\":\"openai\",\"region\":\"us-east-1\",\"aws_access_key_id\":\"AKIDT\","
              "\"aws_secret_access_key\":\"st\",\"aws_session_token\":\"tok\"}]}");
    struct one_cred oc = {"aws", crec, clen, 0};
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    struct model_view v;
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_str_eq(v.t[0].aws.region, "eu-west-1");
    ck_assert_str_eq(v.t[0].aws.access_key_id, "AKIDC");
    ck_assert_str_eq(v.t[0].aws.secret_access_key, "sc");
    ck_assert_str_eq(v.t[0].aws.session_token, "");
    ck_assert_str_eq(v.t[1].aws.region, "us-east-1");
    ck_assert_str_eq(v.t[1].aws.access_key_id, "AKIDT");
    ck_assert_str_eq(v.t[1].aws.secret_access_key, "st");
    ck_assert_str_eq(v.t[1].aws.session_token, "tok");
    free(mrec);
    /* a credential the table lacks: no keys either */
    oc.rec = NULL;
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_int_eq(v.t[0].credential_missing, CRED_MISSING);
    ck_assert_str_eq(v.t[0].aws.secret_access_key, "");
    ck_assert_str_eq(v.t[0].aws.region, "");
    free(mrec);
    json_object_put(doc);
    json_object_put(cdoc);
    free(crec);
}
END_TEST

/* A bedrock target: its model id (a colon in it) and keys are valid; api_base stays "". */
START_TEST(bedrock_valid)
{
    size_t len;
    void *rec = compile(RES_MODEL, "m",
                        "{\"name\":\"claude\",\"provider\":\"bedrock\","
                        "\"model\":\"anthropic.claude-3-haiku-20240307-v1:0\","
                        "\"region\":\"us-east-1\",\"aws_access_key_id\":\"AKIDEXAMPLE\","
                        "\"aws_secret_access_key\":\"secret/with+chars\"}",
                        &len);
    struct model_view v;
    ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
    ck_assert_int_eq(v.t[0].provider, PROVIDER_BEDROCK);
    ck_assert_str_eq(v.t[0].api_base, "");
    ck_assert_str_eq(v.t[0].aws.region, "us-east-1");
    ck_assert_str_eq(v.t[0].aws.secret_access_key, "secret/with+chars");
    ck_assert_str_eq(v.t[0].upstream_model, "anthropic.claude-3-haiku-20240307-v1:0");
    free(rec);
    rec = compile(RES_CREDENTIAL, "c",
                  "{\"name\":\"aws\",\"provider\":\"bedrock\",\"region\":\"eu-west-1\","
                  "\"aws_access_key_id\":\"AKIDEXAMPLE\",\"aws_secret_access_key\":\"s\","
                  "\"aws_session_token\":\"tok\",\"api_base\":\"http://127.0.0.1:9/\"}",
                  &len);
    struct cred_view cv;
    ck_assert_int_eq(cred_view_decode(rec, len, &cv), 0);
    ck_assert_str_eq(cv.api_base, "http://127.0.0.1:9");
    ck_assert_str_eq(cv.aws.session_token, "tok");
    free(rec);
}
END_TEST

/* A credential's provider defaults (api_base, api_version) fill what it leaves out. */
START_TEST(cred_provider_defaults)
{
    size_t clen, mlen;
    void *crec = compile(RES_CREDENTIAL, "az",
                         "{\"name\":\"az\",\"provider\":\"azure-openai\","
                         "\"api_base\":\"https://r.openai.azure.com\",\"api_key\":\"k-0001\"}",
                         &clen),
         *mrec = NULL;
    struct json_object *doc = parse("{\"name\":\"dep\",\"credential\":\"az\"}");
    struct one_cred oc = {"az", crec, clen, 0};
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    struct model_view v;
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_int_eq(v.ntargets, 1);
    ck_assert_int_eq(v.t[0].provider, PROVIDER_AZURE_OPENAI);
    ck_assert_str_eq(v.t[0].api_version, prov_azure_openai.api_version);
    ck_assert_str_eq(v.t[0].upstream_model, "dep");
    ck_assert_int_eq(v.t[0].credential_missing, 0);
    free(mrec);
    json_object_put(doc);
    /* a deployment that is no URL path segment: the target is not served (unfit) */
    doc = parse("{\"name\":\"dep\",\"credential\":\"az\",\"model\":\"a/../b\"}");
    ck_assert_int_eq(res_compile_with(RES_MODEL, "m", doc, one_cred_fn, &oc, &mrec, &mlen), 0);
    ck_assert_int_eq(model_view_decode(mrec, mlen, &v), 0);
    ck_assert_int_eq(v.t[0].credential_missing, CRED_UNFIT);
    ck_assert_int_eq(v.t[0].provider, -1);
    ck_assert_str_eq(v.t[0].api_key, "");
    free(mrec);
    json_object_put(doc);
    free(crec);
}
END_TEST

/* The names a Model's targets give as credential, and the credential's index key. */
START_TEST(cred_names_and_index)
{
    struct json_object *doc = parse("{\"name\":\"m\",\"targets\":[{\"credential\":\"a\"},"
                                    "{\"provider\":\"openai\"},{\"credential\":\"b\"}]}");
    char got[64] = "";
    res_model_credentials(doc, names_cat, got);
    ck_assert_str_eq(got, "a,b,");
    json_object_put(doc);
    doc = parse(CRED_DOC);
    char idx[64];
    size_t n;
    ck_assert_int_eq(res_index_key(RES_CREDENTIAL, doc, idx, sizeof(idx), &n), 0);
    ck_assert_int_eq((int)n, 11);
    ck_assert_int_eq(memcmp(idx, "openai-main", n), 0);
    ck_assert_str_eq(res_kind_name(RES_CREDENTIAL), "credentials");
    json_object_put(doc);
}
END_TEST

static Suite *
resource_suite(void)
{
    Suite *s = suite_create("resource");
    TCase *tc = tcase_create("validate");
    tcase_add_test(tc, names_and_ids);
    tcase_add_test(tc, model_valid_minimal);
    tcase_add_test(tc, model_valid_full);
    tcase_add_test(tc, key_plaintext_becomes_hash);
    tcase_add_test(tc, key_hash_lowercased);
    tcase_add_test(tc, key_failed_validation_not_normalized);
    tcase_add_loop_test(tc, model_bad_field, 0, (int)(sizeof(bad_models) / sizeof(bad_models[0])));
    tcase_add_loop_test(tc, key_bad_field, 0, (int)(sizeof(bad_keys) / sizeof(bad_keys[0])));
    tcase_add_test(tc, model_several_errors);
    tcase_add_test(tc, empty_prefix_paths);
    tcase_add_test(tc, index_keys);
    tcase_add_loop_test(tc, cred_bad_field, 0, (int)(sizeof(bad_creds) / sizeof(bad_creds[0])));
    tcase_add_loop_test(tc, model_bad_cred_ref, 0,
                        (int)(sizeof(bad_cred_refs) / sizeof(bad_cred_refs[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_add_test(tc, model_round_trip_full);
    tcase_add_test(tc, model_round_trip_defaults);
    tcase_add_test(tc, model_retries_default);
    tcase_add_test(tc, model_breaker_fallback_defaults);
    tcase_add_test(tc, man_page_documents_every_field);
    tcase_add_test(tc, key_round_trip);
    tcase_add_test(tc, key_round_trip_defaults);
    tcase_add_test(tc, decode_truncated);
    tcase_add_test(tc, decode_wrong_kind_and_magic);
    tcase_add_test(tc, decode_corrupt_bytes);
    tcase_add_test(tc, decode_random_garbage);
    tcase_add_test(tc, cred_compiles_into_model);
    tcase_add_test(tc, cred_provider_defaults);
    tcase_add_test(tc, aws_fields_round_trip);
    tcase_add_test(tc, bedrock_valid);
    tcase_add_test(tc, cred_names_and_index);
    suite_add_tcase(s, tc);

    tc = tcase_create("resfile");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, resfile_good);
    tcase_add_test(tc, resfile_empty);
    tcase_add_test(tc, resfile_etc_example);
    tcase_add_test(tc, resfile_buffer_same_as_file);
    tcase_add_test(tc, resfile_quickstart);
    tcase_add_test(tc, resfile_duplicate_model_names);
    tcase_add_test(tc, resfile_duplicate_names_without_ids);
    tcase_add_test(tc, resfile_duplicate_ids);
    tcase_add_test(tc, resfile_duplicate_keys);
    tcase_add_test(tc, resfile_errors_with_lines);
    tcase_add_test(tc, resfile_bad_shapes);
    tcase_add_test(tc, resfile_long_name_needs_id);
    tcase_add_test(tc, resfile_dot_ids_and_nul);
    tcase_add_test(tc, resfile_key_error_line);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(resource_suite());
}
