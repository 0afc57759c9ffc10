/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_gsa.c: Google service-account key files (gsa.c) and the Vertex
 * token blob (vtoken.c). A throwaway RSA key is generated per test (no
 * private key is committed); the assertion's signature is verified with
 * OpenSSL against the key's public half, and its claims are read back as
 * Google's token endpoint reads them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gsa.h"
#include "jwt.h"
#include "tap.h"
#include "vtoken.h"

static char dir[PATH_MAX];
static EVP_PKEY *key;

/* A fresh RSA key for each test, and a folder for its files. */
static void
setup(void)
{
    tmpdir_make(dir);
    key = EVP_RSA_gen(2048);
    ck_assert_ptr_nonnull(key);
}

static void
teardown(void)
{
    EVP_PKEY_free(key);
    tmpdir_remove(dir);
}

/* The key's PEM (PKCS#8, as Google's files hold it), JSON-escaped into out. */
static void
pem_json(EVP_PKEY *k, char *out, size_t len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    ck_assert_int_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    long n = BIO_get_mem_data(b, &p);
    struct json_object *s = json_object_new_string_len(p, (int)n);
    snprintf(out, len, "%s", json_object_to_json_string(s));
    json_object_put(s);
    BIO_free(b);
}

/* A key file shaped as the Cloud console writes it, with extra members; its path into path. */
static void
key_file(const char *type, const char *pk, const char *token_uri, char *path)
{
    char *text = malloc(16384), pem[8192];
    if (pk == NULL) {
        pem_json(key, pem, sizeof(pem));
        pk = pem;
    }
    snprintf(text, 16384,
             "{\n  \"type\": \"%s\",\n  \"project_id\": \"my-project\",\n"
             "  \"private_key_id\": \"0123456789abcdef\",\n  \"private_key\": %s,\n"
             "  \"client_email\": \"aigw@my-project.iam.gserviceaccount.com\",\n"
             "  \"client_id\": \"123456789012345678901\",\n"
             "  \"auth_uri\": \"https://accounts.google.com/o/oauth2/auth\",\n"
             "  \"token_uri\": \"%s\",\n  \"universe_domain\": \"googleapis.com\"\n}\n",
             type, pk, token_uri);
    write_file(dir, "sa.json", text, path);
    free(text);
}

/* base64url part i of a JWT, decoded and parsed as JSON. */
static struct json_object *
part(const char *jwt, int i)
{
    const char *p = jwt;
    for (int k = 0; k < i; k++)
        p = strchr(p, '.') + 1;
    const char *e = strchr(p, '.');
    uint8_t buf[2048];
    long n = jwt_b64url_decode(p, e ? (size_t)(e - p) : strlen(p), buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    return json_tokener_parse((const char *)buf);
}

START_TEST(assertion_verifies)
{
    char path[PATH_MAX], err[512];
    struct gsa_key k;
    key_file("service_account", NULL, "https://oauth2.googleapis.com/token", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), 0);
    ck_assert_str_eq(k.client_email, "aigw@my-project.iam.gserviceaccount.com");
    ck_assert_str_eq(k.token_uri, "https://oauth2.googleapis.com/token");
    char *jwt = gsa_assertion(&k, 1700000000);
    ck_assert_ptr_nonnull(jwt);
    /* the header and the claims Google's token endpoint reads */
    struct json_object *h = part(jwt, 0), *c = part(jwt, 1), *v;
    ck_assert_str_eq(json_object_get_string(json_object_object_get(h, "alg")), "RS256");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(h, "kid")), "0123456789abcdef");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "iss")),
                     "aigw@my-project.iam.gserviceaccount.com");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "scope")),
                     "https://www.googleapis.com/auth/cloud-platform");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c, "aud")),
                     "https://oauth2.googleapis.com/token");
    ck_assert(json_object_object_get_ex(c, "iat", &v));
    ck_assert_int_eq(json_object_get_int64(v), 1700000000);
    ck_assert(json_object_object_get_ex(c, "exp", &v));
    ck_assert_int_eq(json_object_get_int64(v), 1700003600);
    json_object_put(h);
    json_object_put(c);
    /* the signature, checked with the public half over header.claims */
    const char *dot = strrchr(jwt, '.');
    uint8_t sig[1024];
    long sl = jwt_b64url_decode(dot + 1, strlen(dot + 1), sig, sizeof(sig));
    ck_assert_int_eq(sl, 256);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_eq(
        EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)jwt, (size_t)(dot - jwt)), 1);
    /* and a changed claim does not verify */
    jwt[5] ^= 1;
    ck_assert_int_eq(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    ck_assert_int_ne(
        EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)jwt, (size_t)(dot - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(jwt);
    gsa_key_free(&k);
}
END_TEST

START_TEST(token_form)
{
    char *f = gsa_token_form("aa.bb.cc");
    ck_assert_str_eq(f, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                        "&assertion=aa.bb.cc");
    free(f);
}
END_TEST

/* Each bad file is refused with its path and the field at fault. */
START_TEST(bad_files)
{
    char path[PATH_MAX], err[512], pem[8192];
    struct gsa_key k;
    ck_assert_int_eq(gsa_key_load("/nonexistent/sa.json", &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "/nonexistent/sa.json: cannot read") != NULL, "%s", err);
    write_file(dir, "sa.json", "{\"type\": ", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "sa.json: not a JSON object") != NULL, "%s", err);
    key_file("authorized_user", NULL, "https://oauth2.googleapis.com/token", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "sa.json: type:") != NULL, "%s", err);
    key_file("service_account",
             "\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"",
             "https://oauth2.googleapis.com/token", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "sa.json: private_key:") != NULL, "%s", err);
    key_file("service_account", NULL, "ftp://x/token", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "sa.json: token_uri:") != NULL, "%s", err);
    /* an EC key is not what RS256 signs with */
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    pem_json(ec, pem, sizeof(pem));
    EVP_PKEY_free(ec);
    key_file("service_account", pem, "https://oauth2.googleapis.com/token", path);
    ck_assert_int_eq(gsa_key_load(path, &k, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "private_key:") != NULL && strstr(err, "BEGIN") == NULL, "%s", err);
}
END_TEST

START_TEST(token_answer)
{
    char tok[GSA_TOKEN_MAX], why[128];
    int64_t e = 0;
    /* Google's answer, as its OAuth 2.0 server-to-server guide shows it */
    static const char ok[] = "{\"access_token\": \"ya29.c.b0Aaekm1K-x_Y\", \"expires_in\": 3599, "
                             "\"token_type\": \"Bearer\"}";
    ck_assert_int_eq(gsa_token_parse(ok, strlen(ok), tok, sizeof(tok), &e, why, sizeof(why)), 0);
    ck_assert_str_eq(tok, "ya29.c.b0Aaekm1K-x_Y");
    ck_assert_int_eq(e, 3599);
    static const char *const bad[] = {
        "{\"error\": \"invalid_grant\", \"error_description\": \"Invalid JWT Signature.\"}",
        "{\"access_token\": \"a b\", \"expires_in\": 3599}",
        "{\"access_token\": \"a\", \"expires_in\": 0}",
        "{\"access_token\": \"a\", \"expires_in\": \"3599\"}",
        "{\"access_token\": \"a\", \"access_token\": \"b\", \"expires_in\": 3599}",
        "{\"access_token\": \"a\", \"expires_in\": 3599, \"token_type\": \"mac\"}",
        "{\"access_token\": \"a\\u0000b\", \"expires_in\": 3599}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(
            gsa_token_parse(bad[i], strlen(bad[i]), tok, sizeof(tok), &e, why, sizeof(why)) == -1,
            "%s", bad[i]);
}
END_TEST

START_TEST(blob_round_trip)
{
    char b[256], tok[64], n1[VTOKEN_NAME_MAX], n2[VTOKEN_NAME_MAX];
    int64_t e;
    int n = vtoken_encode(2000, "ya29.x", b, sizeof(b));
    ck_assert_int_eq(n, 11);
    ck_assert_int_eq(vtoken_decode(b, (size_t)n, 1999, tok, sizeof(tok), &e), 0);
    ck_assert_str_eq(tok, "ya29.x");
    ck_assert_int_eq(e, 2000);
    ck_assert_int_eq(vtoken_decode(b, (size_t)n, 2000, tok, sizeof(tok), &e), 1); /* expired */
    ck_assert_int_eq(vtoken_decode("x1 a", 4, 0, tok, sizeof(tok), &e), -1);
    ck_assert_int_eq(vtoken_decode("12 ", 3, 0, tok, sizeof(tok), &e), -1);
    ck_assert_int_eq(vtoken_decode(b, (size_t)n, 0, tok, 6, &e), -1); /* too long for tok */
    vtoken_blob_name("/etc/aigw/a.json", n1, sizeof(n1));
    vtoken_blob_name("/etc/aigw/b.json", n2, sizeof(n2));
    ck_assert_int_eq(strncmp(n1, "vertex-token:", 13), 0);
    ck_assert_uint_eq(strlen(n1), 13 + 32);
    ck_assert_str_ne(n1, n2);
}
END_TEST

static Suite *
gsa_suite(void)
{
    Suite *s = suite_create("gsa");
    TCase *tc = tcase_create("gsa");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, assertion_verifies);
    tcase_add_test(tc, token_form);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, token_answer);
    tcase_add_test(tc, blob_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(gsa_suite());
}
