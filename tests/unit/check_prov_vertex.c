/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_prov_vertex.c: provider vertex (prov_vertex.c) and its target
 * fields (resource.c): validation with a real key file (a throwaway RSA
 * key per test), the record, the URL forms of Google's Vertex AI reference
 * (publishers/google ...:generateContent, :streamGenerateContent?alt=sse;
 * publishers/anthropic ...:rawPredict, :streamRawPredict; the regional
 * host, the global one, api_base), the Bearer header, and the Anthropic
 * body without model and with anthropic_version "vertex-2023-10-16".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "provider.h"
#include "tap.h"

static char dir[PATH_MAX], keypath[PATH_MAX];

/* A service-account key file with a fresh RSA key, at keypath. */
static void
setup(void)
{
    EVP_PKEY *k = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem, text[8192];
    ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    long n = BIO_get_mem_data(b, &pem);
    struct json_object *s = json_object_new_string_len(pem, (int)n);
    snprintf(text, sizeof(text),
             "{\"type\":\"service_account\",\"project_id\":\"p\",\"private_key\":%s,"
             "\"client_email\":\"a@p.iam.gserviceaccount.com\","
             "\"token_uri\":\"https://oauth2.googleapis.com/token\"}",
             json_object_to_json_string(s));
    json_object_put(s);
    BIO_free(b);
    EVP_PKEY_free(k);
    tmpdir_make(dir);
    write_file(dir, "sa.json", text, keypath);
}

static void
teardown(void)
{
    tmpdir_remove(dir);
}

/* A one-target vertex model doc with extra members (JSON text without braces). */
static struct json_object *
doc_of(const char *model, const char *extra)
{
    char json[PATH_MAX + 512];
    snprintf(json, sizeof(json),
             "{\"name\":\"m\",\"provider\":\"vertex\",\"model\":\"%s\",\"vertex_project\":"
             "\"my-project\",\"vertex_location\":\"us-central1\","
             "\"vertex_credentials_file\":\"%s\"%s%s}",
             model, keypath, *extra ? "," : "", extra);
    struct json_object *o = json_tokener_parse(json);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* The first error of validating doc, or NULL (caller frees). */
static char *
first_error(enum res_kind k, struct json_object *doc)
{
    struct aigw_errors e;
    errors_init(&e, NULL);
    char *msg = res_validate(k, doc, "", &e) < 0 && e.n > 0 ? strdup(e.msgs[0]) : NULL;
    errors_free(&e);
    json_object_put(doc);
    return msg;
}

START_TEST(valid_and_compiled)
{
    struct model_view v;
    void *rec;
    size_t len;
    static const struct {
        const char *model, *extra, *publisher;
        int max_tokens;
    } cases[] = {
        {"gemini-2.0-flash-001", "", "google", 0},
        {"claude-sonnet-4@20250514", "", "anthropic", 4096}, /* told by the model's name */
        {"claude-sonnet-4@20250514", "\"max_tokens\":100", "anthropic", 100},
        {"my-tuned-claude", "\"vertex_publisher\":\"anthropic\"", "anthropic", 4096},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *doc = doc_of(cases[i].model, cases[i].extra);
        char *msg = first_error(RES_MODEL, json_object_get(doc));
        ck_assert_msg(msg == NULL, "%s: %s", cases[i].model, msg);
        ck_assert_int_eq(res_compile(RES_MODEL, "id", doc, &rec, &len), 0);
        ck_assert_int_eq(model_view_decode(rec, len, &v), 0);
        ck_assert_int_eq(v.t[0].provider, PROVIDER_VERTEX);
        ck_assert_str_eq(v.t[0].vertex.project, "my-project");
        ck_assert_str_eq(v.t[0].vertex.location, "us-central1");
        ck_assert_str_eq(v.t[0].vertex.publisher, cases[i].publisher);
        ck_assert_str_eq(v.t[0].vertex.credentials_file, keypath);
        ck_assert_str_eq(v.t[0].api_base, "");
        ck_assert_int_eq(v.t[0].max_tokens, cases[i].max_tokens);
        ck_assert_ptr_eq(provider_of(&v.t[0]), strcmp(cases[i].publisher, "anthropic") == 0
                                                   ? &prov_vertex_anthropic
                                                   : &prov_vertex);
        free(rec);
        json_object_put(doc);
    }
}
END_TEST

START_TEST(invalid_named)
{
    static const struct {
        const char *extra, *want;
    } cases[] = {
        {"\"vertex_location\":\"US Central\"", "vertex_location: must be a location"},
        {"\"vertex_project\":\"a/b\"", "vertex_project: must be a Google Cloud project id"},
        {"\"vertex_publisher\":\"meta\"", "vertex_publisher: must be google or anthropic"},
        {"\"api_key\":\"k\"", "api_key: provider vertex authenticates with "
                              "vertex_credentials_file"},
        {"\"model\":\"a/b\"", "model: is the Vertex model id in the URL's path"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *doc = doc_of("gemini-2.0-flash-001", "");
        char text[256];
        snprintf(text, sizeof(text), "{%s}", cases[i].extra);
        struct json_object *extra = json_tokener_parse(text);
        json_object_object_foreach(extra, k, val)
            json_object_object_add(doc, k, json_object_get(val));
        json_object_put(extra);
        char *msg = first_error(RES_MODEL, doc);
        ck_assert_msg(msg != NULL && strstr(msg, cases[i].want) != NULL, "%s: %s", cases[i].extra,
                      msg);
        free(msg);
    }
    /* required fields */
    char *msg =
        first_error(RES_MODEL, json_tokener_parse("{\"name\":\"m\",\"provider\":\"vertex\"}"));
    ck_assert_msg(msg != NULL && strstr(msg, "vertex_project: is required") != NULL, "%s", msg);
    free(msg);
    /* another provider's target refuses them by name */
    msg = first_error(RES_MODEL, json_tokener_parse("{\"name\":\"m\",\"provider\":\"openai\","
                                                    "\"vertex_project\":\"p\"}"));
    ck_assert_msg(msg != NULL && strstr(msg, "vertex_project: is for provider vertex") != NULL,
                  "%s", msg);
    free(msg);
    /* a credential cannot be of provider vertex */
    msg =
        first_error(RES_CREDENTIAL, json_tokener_parse("{\"name\":\"c\",\"provider\":\"vertex\"}"));
    ck_assert_msg(msg != NULL && strstr(msg, "provider: vertex takes its service-account key "
                                             "file from a target") != NULL,
                  "%s", msg);
    free(msg);
}
END_TEST

/* A key file that is not one is refused at validation (aigw -t), naming the file and the field. */
START_TEST(bad_key_file)
{
    char path[PATH_MAX], json[PATH_MAX + 512];
    write_file(dir, "user.json", "{\"type\":\"authorized_user\"}", path);
    snprintf(json, sizeof(json),
             "{\"name\":\"m\",\"provider\":\"vertex\",\"vertex_project\":\"p\","
             "\"vertex_location\":\"global\",\"vertex_credentials_file\":\"%s\"}",
             path);
    char *msg = first_error(RES_MODEL, json_tokener_parse(json));
    ck_assert_msg(msg != NULL && strstr(msg, "vertex_credentials_file: ") != NULL &&
                      strstr(msg, "user.json: type:") != NULL,
                  "%s", msg);
    free(msg);
    snprintf(json, sizeof(json),
             "{\"name\":\"m\",\"provider\":\"vertex\",\"vertex_project\":\"p\","
             "\"vertex_location\":\"global\",\"vertex_credentials_file\":\"sa.json\"}");
    msg = first_error(RES_MODEL, json_tokener_parse(json));
    ck_assert_msg(msg != NULL && strstr(msg, "must be the absolute path") != NULL, "%s", msg);
    free(msg);
    /* aigwctl does not read the file (it is on the gateway's node) */
    res_set_read_key_files(0);
    msg = first_error(RES_MODEL, json_tokener_parse(json));
    ck_assert_msg(msg != NULL, "a relative path passed");
    free(msg);
    snprintf(json, sizeof(json),
             "{\"name\":\"m\",\"provider\":\"vertex\",\"vertex_project\":\"p\","
             "\"vertex_location\":\"global\",\"vertex_credentials_file\":\"/nonexistent.json\"}");
    msg = first_error(RES_MODEL, json_tokener_parse(json));
    ck_assert_msg(msg == NULL, "%s", msg);
    res_set_read_key_files(1);
    msg = first_error(RES_MODEL, json_tokener_parse(json));
    ck_assert_msg(msg != NULL && strstr(msg, "/nonexistent.json: cannot read") != NULL, "%s", msg);
    free(msg);
}
END_TEST

/* The value of header name in a built request ("" when absent). */
static const char *
header(const struct prov_http *h, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    out[0] = '\0';
    for (size_t at = 0; at < h->hlen;) {
        const char *line = h->hdrs + at, *end = memchr(line, '\r', h->hlen - at);
        if (end == NULL)
            break;
        if ((size_t)(end - line) > n + 2 && strncasecmp(line, name, n) == 0 && line[n] == ':')
            snprintf(out, len, "%.*s", (int)(end - line - n - 2), line + n + 2);
        at = (size_t)(end - line) + at + 2;
    }
    return out;
}

static const char chat[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":5}";

START_TEST(gemini_urls)
{
    static const struct {
        const char *base, *location;
        int stream;
        const char *url;
    } cases[] = {
        {"", "us-central1", 0,
         "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/"
         "us-central1/publishers/google/models/gemini-2.0-flash-001:generateContent"},
        {"", "us-central1", 1,
         "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/"
         "us-central1/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent?alt=sse"},
        {"", "global", 0,
         "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/"
         "google/models/gemini-2.0-flash-001:generateContent"},
        {"http://127.0.0.1:8123", "europe-west4", 0,
         "http://127.0.0.1:8123/v1/projects/my-project/locations/europe-west4/publishers/google/"
         "models/gemini-2.0-flash-001:generateContent"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct target_view t = {.name = "t",
                                .upstream_model = "gemini-2.0-flash-001",
                                .api_base = cases[i].base,
                                .api_key = "",
                                .api_version = "",
                                .vertex = {"my-project", cases[i].location, "google", "/sa.json"},
                                .provider = PROVIDER_VERTEX};
        struct prov_call c = {
            .t = &t, .op = OP_CHAT, .stream = cases[i].stream, .bearer = "ya29.unit"};
        struct prov_http h;
        char err[256], v[256];
        memset(&h, 0, sizeof(h));
        struct json_object *body = json_tokener_parse(chat);
        ck_assert_msg(prov_vertex.build(&c, body, &h, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(h.url, cases[i].url);
        ck_assert_str_eq(header(&h, "Authorization", v, sizeof(v)), "Bearer ya29.unit");
        ck_assert_str_eq(header(&h, "x-goog-api-key", v, sizeof(v)), "");
        struct json_object *sent = json_tokener_parse(h.body), *o;
        ck_assert(json_object_object_get_ex(sent, "contents", NULL));
        ck_assert(!json_object_object_get_ex(sent, "model", NULL));
        ck_assert(json_object_object_get_ex(sent, "generationConfig", &o));
        json_object_put(sent);
        prov_http_free(&h);
        /* no token: nothing is built (relay.c answers 503 before this) */
        c.bearer = NULL;
        memset(&h, 0, sizeof(h));
        ck_assert_int_eq(prov_vertex.build(&c, body, &h, err, sizeof(err)), -1);
        prov_http_free(&h);
        json_object_put(body);
    }
}
END_TEST

START_TEST(anthropic_bodies)
{
    struct target_view t = {.name = "t",
                            .upstream_model = "claude-sonnet-4@20250514",
                            .api_base = "",
                            .api_key = "",
                            .api_version = "",
                            .max_tokens = 4096,
                            .vertex = {"my-project", "us-east5", "anthropic", "/sa.json"},
                            .provider = PROVIDER_VERTEX};
    static const char native[] = "{\"model\":\"m\",\"max_tokens\":20,\"stream\":true,"
                                 "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    for (int n = 0; n < 2; n++) {
        struct prov_call c = {.t = &t,
                              .op = OP_CHAT,
                              .stream = n,
                              .native = n,
                              .bearer = "ya29.unit",
                              .anthropic_beta = "b1"};
        struct prov_http h;
        char err[256], v[256];
        memset(&h, 0, sizeof(h));
        struct json_object *body = json_tokener_parse(n ? native : chat), *o;
        ck_assert_msg(prov_vertex_anthropic.build(&c, body, &h, err, sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(h.url, n ? "https://us-east5-aiplatform.googleapis.com/v1/projects/"
                                    "my-project/locations/us-east5/publishers/anthropic/models/"
                                    "claude-sonnet-4@20250514:streamRawPredict"
                                  : "https://us-east5-aiplatform.googleapis.com/v1/projects/"
                                    "my-project/locations/us-east5/publishers/anthropic/models/"
                                    "claude-sonnet-4@20250514:rawPredict");
        ck_assert_str_eq(header(&h, "Authorization", v, sizeof(v)), "Bearer ya29.unit");
        ck_assert_str_eq(header(&h, "x-api-key", v, sizeof(v)), "");
        ck_assert_str_eq(header(&h, "anthropic-beta", v, sizeof(v)), n ? "b1" : "");
        struct json_object *sent = json_tokener_parse(h.body);
        ck_assert(!json_object_object_get_ex(sent, "model", NULL));
        ck_assert(json_object_object_get_ex(sent, "anthropic_version", &o));
        ck_assert_str_eq(json_object_get_string(o), "vertex-2023-10-16");
        ck_assert(json_object_object_get_ex(sent, "max_tokens", &o));
        ck_assert_int_eq(json_object_get_int(o), n ? 20 : 5);
        ck_assert(json_object_object_get_ex(sent, "messages", NULL));
        json_object_put(sent);
        prov_http_free(&h);
        json_object_put(body);
    }
    ck_assert_int_eq(prov_vertex_anthropic.own, DIALECT_ANTHROPIC);
    ck_assert_int_eq(prov_vertex.own, DIALECT_NONE);
}
END_TEST

static Suite *
vertex_suite(void)
{
    Suite *s = suite_create("prov_vertex");
    TCase *tc = tcase_create("vertex");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, valid_and_compiled);
    tcase_add_test(tc, invalid_named);
    tcase_add_test(tc, bad_key_file);
    tcase_add_test(tc, gemini_urls);
    tcase_add_test(tc, anthropic_bodies);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(vertex_suite());
}
