/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_jwt.c: the token parser and verifier (jwt.c) on fixed vectors:
 * RFC 7515 A.1 (HS256) and A.3 (ES256), RFC 8037 A.4 (Ed25519), and
 * tokens made to be refused: alg none, two members of one name, padding,
 * stray bits, crit, a typ that is not a JWT, keys that must be skipped.
 */
#include "config.h"

#include <string.h>

#include "jwt.h"
#include "tap.h"

/* RFC 7515 A.1: {"typ":"JWT",\r\n "alg":"HS256"} . {"iss":"joe",\r\n "exp":1300819380,...} */
#define A1_HEADER "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
#define A1_PAYLOAD                                                                                 \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl" \
    "fQ"
#define A1_TOKEN A1_HEADER "." A1_PAYLOAD ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define A1_KEY                                                                                     \
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"

/* RFC 7515 A.3: ES256 over the same payload, and its public key. */
#define A3_TOKEN                                                                                   \
    "eyJhbGciOiJFUzI1NiJ9." A1_PAYLOAD                                                             \
    ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
#define A3_JWKS                                                                                    \
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"                                          \
    "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRV"                                                  \
    "EU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}"

/* RFC 8037 A.4: EdDSA over "Example of Ed25519 signing" (not JSON: checked below the parser). */
#define A4_SIGNED "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
#define A4_SIG                                                                                     \
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
#define A4_JWKS                                                                                    \
    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"                       \
    "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}"

/* Parse a NUL-terminated token; returns jwt_parse's result and the reason. */
static int
parse(const char *tok, struct jwt *t, const char **reason)
{
    return jwt_parse(tok, strlen(tok), t, reason);
}

/* base64url: no padding, no other alphabet, no stray bits, no length 4n+1. */
START_TEST(b64url_strict)
{
    uint8_t out[16];
    ck_assert_int_eq(jwt_b64url_decode("QQ", 2, out, sizeof(out)), 1);
    ck_assert_int_eq(out[0], 'A');
    ck_assert_int_eq(jwt_b64url_decode("QUI", 3, out, sizeof(out)), 2);
    ck_assert_int_eq(jwt_b64url_decode("QQ==", 4, out, sizeof(out)), -1);  /* padding */
    ck_assert_int_eq(jwt_b64url_decode("QR", 2, out, sizeof(out)), -1);    /* stray bits */
    ck_assert_int_eq(jwt_b64url_decode("Q+", 2, out, sizeof(out)), -1);    /* base64, not url */
    ck_assert_int_eq(jwt_b64url_decode("QUJDR", 5, out, sizeof(out)), -1); /* 4n+1 */
    ck_assert_int_eq(jwt_b64url_decode("QUJD", 4, out, 2), -1);            /* too long */
    ck_assert_int_eq(jwt_b64url_decode("-_8", 3, out, sizeof(out)), 2);
    ck_assert_int_eq(out[0], 0xfb);
    ck_assert_int_eq(out[1], 0xff);
}
END_TEST

/* RFC 7515 A.1: parsed, its HMAC checks with the key, not with another or none. */
START_TEST(rfc7515_a1_hs256)
{
    struct jwt t;
    const char *why = NULL;
    uint8_t key[64];
    ck_assert_int_eq(parse(A1_TOKEN, &t, &why), 0);
    ck_assert_int_eq(t.alg, JWT_HS256);
    ck_assert_str_eq(t.iss, "joe");
    ck_assert_int_eq(t.have_exp, 1);
    ck_assert_int_eq(t.exp, 1300819380);
    ck_assert_int_eq(t.have_nbf, 0);
    ck_assert_uint_eq(t.signed_len, strlen(A1_HEADER) + 1 + strlen(A1_PAYLOAD));
    long n = jwt_b64url_decode(A1_KEY, strlen(A1_KEY), key, sizeof(key));
    ck_assert_int_eq(n, 64);
    ck_assert_int_eq(jwt_verify_sig(&t, NULL, key, 64, &why), 0);
    key[0] ^= 1;
    ck_assert_int_eq(jwt_verify_sig(&t, NULL, key, 64, &why), -1);
    ck_assert_str_eq(why, "token_bad_signature");
    ck_assert_int_eq(jwt_verify_sig(&t, NULL, NULL, 0, &why), -1);
    ck_assert_str_eq(why, "token_alg_not_allowed");
    /* exp: refused from exp + leeway on, accepted before */
    ck_assert_int_eq(jwt_check_time(&t, 1300819380, 0, &why), -1);
    ck_assert_str_eq(why, "token_expired");
    ck_assert_int_eq(jwt_check_time(&t, 1300819379, 0, &why), 0);
    ck_assert_int_eq(jwt_check_time(&t, 1300819400, 60, &why), 0);
    ck_assert_int_eq(jwt_check_time(&t, 1300819440, 60, &why), -1);
    jwt_clear(&t);
}
END_TEST

/* RFC 7515 A.3: ES256 with the JWK of the RFC; r||s of 64 bytes, nothing else. */
START_TEST(rfc7515_a3_es256)
{
    struct jwt t;
    const char *why = NULL;
    char err[256];
    struct jwt_keyset *ks = jwt_keyset_parse(A3_JWKS, strlen(A3_JWKS), err, sizeof(err));
    ck_assert_ptr_nonnull(ks);
    ck_assert_int_eq(jwt_keyset_count(ks), 1);
    ck_assert_int_eq(parse(A3_TOKEN, &t, &why), 0);
    ck_assert_int_eq(t.alg, JWT_ES256);
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), 0);
    t.sig[10] ^= 0x40;
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), -1);
    ck_assert_str_eq(why, "token_bad_signature");
    t.sig[10] ^= 0x40;
    t.sig_len = 63; /* not 2 x 32 */
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), -1);
    /* an ES256 key is no RS256 key */
    t.sig_len = 64;
    t.alg = JWT_RS256;
    snprintf(t.alg_name, sizeof(t.alg_name), "RS256");
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), -1);
    ck_assert_str_eq(why, "token_unknown_kid");
    jwt_clear(&t);
    jwt_keyset_free(ks);
}
END_TEST

/* RFC 8037 A.4: Ed25519 (the payload is not JSON, so the parsed form is made here). */
START_TEST(rfc8037_a4_eddsa)
{
    struct jwt t;
    const char *why = NULL;
    char err[256];
    struct jwt_keyset *ks = jwt_keyset_parse(A4_JWKS, strlen(A4_JWKS), err, sizeof(err));
    ck_assert_ptr_nonnull(ks);
    memset(&t, 0, sizeof(t));
    t.alg = JWT_EDDSA;
    snprintf(t.alg_name, sizeof(t.alg_name), "EdDSA");
    t.signed_part = A4_SIGNED;
    t.signed_len = strlen(A4_SIGNED);
    long n = jwt_b64url_decode(A4_SIG, strlen(A4_SIG), t.sig, sizeof(t.sig));
    ck_assert_int_eq(n, 64);
    t.sig_len = (size_t)n;
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), 0);
    t.signed_len--;
    ck_assert_int_eq(jwt_verify_sig(&t, ks, NULL, 0, &why), -1);
    ck_assert_str_eq(why, "token_bad_signature");
    jwt_keyset_free(ks);
}
END_TEST

/* A token from a header and a payload text, with signature "c2ln". */
static void
make(char *out, size_t len, const char *header, const char *payload)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *parts[2] = {header, payload};
    size_t o = 0;
    for (int p = 0; p < 2; p++) {
        const unsigned char *s = (const unsigned char *)parts[p];
        size_t n = strlen(parts[p]);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
                         (i + 2 < n ? s[i + 2] : 0);
            out[o++] = tbl[v >> 18 & 63];
            out[o++] = tbl[v >> 12 & 63];
            if (i + 1 < n)
                out[o++] = tbl[v >> 6 & 63];
            if (i + 2 < n)
                out[o++] = tbl[v & 63];
        }
        out[o++] = '.';
    }
    snprintf(out + o, len - o, "c2ln");
}

/* Each malformed or ambiguous token is refused with its reason. */
START_TEST(parse_refusals)
{
    static const struct {
        const char *header, *payload, *reason;
    } cases[] = {
        {"{\"alg\":\"none\"}", "{\"sub\":\"a\"}", "token_alg_none"},
        {"{\"alg\":\"NONE\"}", "{\"sub\":\"a\"}", "token_alg_none"},
        {"{\"alg\":\"HS512\"}", "{\"sub\":\"a\"}", "token_alg_unsupported"},
        {"{\"alg\":\"RS256\",\"alg\":\"none\"}", "{\"sub\":\"a\"}", "token_ambiguous_json"},
        {"{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", "token_ambiguous_json"},
        {"{\"alg\":\"RS256\"}", "{\"sub\":\"a\",\"s\\u0075b\":\"b\"}", "token_ambiguous_json"},
        {"{\"alg\":\"RS256\",\"crit\":[\"x\"]}", "{}", "token_bad_header"},
        {"{\"alg\":\"RS256\",\"typ\":\"JOSE+JSON\"}", "{}", "token_bad_header"},
        {"{\"alg\":5}", "{}", "token_bad_header"},
        {"[\"alg\"]", "{}", "token_bad_header"},
        {"{\"alg\":\"RS256\"} x", "{}", "token_bad_header"},
        {"{\"alg\":\"RS256\"}", "{\"exp\":\"soon\"}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"exp\":-5}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"iss\":\"a\\nb\"}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"aud\":[\"a\",1]}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"aud\":[\"aigw\\u0000x\"]}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"aud\":[\"a\\u000bb\"]}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"aud\":\"aigw\\u0000x\"}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"sub\":\"alice\\u0000admin\"}", "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "{\"aud\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]}",
         "token_bad_claims"},
        {"{\"alg\":\"RS256\"}", "not json", "token_bad_claims"},
    };
    char tok[1024];
    struct jwt t;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *why = NULL;
        make(tok, sizeof(tok), cases[i].header, cases[i].payload);
        ck_assert_msg(parse(tok, &t, &why) == -1, "case %zu accepted", i);
        ck_assert_msg(why != NULL && strcmp(why, cases[i].reason) == 0, "case %zu: %s, want %s", i,
                      why ? why : "(null)", cases[i].reason);
        jwt_clear(&t);
    }
    const char *why = NULL;
    ck_assert_int_eq(parse("a.b", &t, &why), -1);
    ck_assert_int_eq(parse(A1_TOKEN ".x", &t, &why), -1);
    ck_assert_int_eq(parse(A1_HEADER "." A1_PAYLOAD ".", &t, &why), -1); /* no signature */
    ck_assert_int_eq(parse(A1_HEADER "=." A1_PAYLOAD ".c2ln", &t, &why), -1);
    ck_assert_int_eq(jwt_looks_like("sk-test-a", 9), 0);
    ck_assert_int_eq(jwt_looks_like(A1_TOKEN, strlen(A1_TOKEN)), 1);
}
END_TEST

/* Keys that must not verify anything are skipped; a text that is not a set is refused. */
START_TEST(keyset_skips)
{
    char err[256];
    static const char *const skipped[] = {
        "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" A1_KEY "\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
        "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\",\"d\":\"AAAA\"}]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
        "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}]}", /* not on the curve */
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\",\"x\":"
        "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}",
        "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}", /* far too short */
        "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}]}",
    };
    for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++) {
        struct jwt_keyset *ks = jwt_keyset_parse(skipped[i], strlen(skipped[i]), err, sizeof(err));
        ck_assert_ptr_nonnull(ks);
        ck_assert_msg(jwt_keyset_count(ks) == 0, "key set %zu: a key was kept", i);
        jwt_keyset_free(ks);
    }
    static const char *const bad[] = {
        "", "[]", "{\"keys\":{}}", "{\"keys\":[],\"keys\":[]}", "{\"keys\":[]", "{\"k\":[]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(jwt_keyset_parse(bad[i], strlen(bad[i]), err, sizeof(err)) == NULL,
                      "text %zu taken for a key set", i);
}
END_TEST

/* Audiences: any of the configured ones in aud; none configured passes. */
START_TEST(audiences)
{
    struct jwt t;
    const char *auds[] = {"aigw", "other"};
    memset(&t, 0, sizeof(t));
    ck_assert_int_eq(jwt_aud_ok(&t, auds, 0), 1);
    ck_assert_int_eq(jwt_aud_ok(&t, auds, 2), 0);
    t.naud = 2;
    snprintf(t.aud[0], sizeof(t.aud[0]), "x");
    snprintf(t.aud[1], sizeof(t.aud[1]), "other");
    ck_assert_int_eq(jwt_aud_ok(&t, auds, 2), 1);
    ck_assert_int_eq(jwt_aud_ok(&t, auds, 1), 0);
}
END_TEST

static Suite *
jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *tc = tcase_create("jwt");
    tcase_add_test(tc, b64url_strict);
    tcase_add_test(tc, rfc7515_a1_hs256);
    tcase_add_test(tc, rfc7515_a3_es256);
    tcase_add_test(tc, rfc8037_a4_eddsa);
    tcase_add_test(tc, parse_refusals);
    tcase_add_test(tc, keyset_skips);
    tcase_add_test(tc, audiences);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(jwt_suite());
}
