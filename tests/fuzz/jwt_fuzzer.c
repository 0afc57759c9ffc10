/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt_fuzzer.c: a client's bearer JWT and an identity provider's JWK Set
 * (src/jwt.c). The first byte picks the mode: even, the rest is a token
 * (jwt_parse, then jwt_verify_sig against a fixed key set and secret);
 * odd, the rest is a JWK Set (jwt_keyset_parse).
 *
 * Oracles: a token that parses has a JWT's shape (jwt_looks_like), names a
 * supported algorithm, signs exactly its first two parts as sent, and its
 * iss, sub, kid and aud are NUL-terminated strings without control bytes
 * (they reach log lines); its time claims are in range. A key set keeps at
 * most JWT_MAX_KEYS keys, and the same bytes always give the same count.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "jwt.h"

/* The key set a token is checked against: RFC 7515 A.3's P-256 key and RFC 8037 A.4's Ed25519. */
static const char fixed_jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";
static struct jwt_keyset *fixed;

/* A claim as parsed: NUL-terminated inside its buffer, no control byte. */
static void
jwt_fuzz_claim(const char *s, size_t cap, const char *what)
{
    size_t n = strnlen(s, cap);
    FUZZ_ASSERT(n < cap, "%s is not NUL-terminated", what);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, "%s holds byte %02x", what,
                    (unsigned char)s[i]);
}

/* A token: parsed, the oracles, then its signature checked. */
static void
jwt_fuzz_token(const char *p, size_t n)
{
    struct jwt t;
    const char *why = NULL;
    if (jwt_parse(p, n, &t, &why) < 0) {
        FUZZ_ASSERT(why != NULL, "a refusal without a reason");
        jwt_clear(&t);
        return;
    }
    FUZZ_ASSERT(jwt_looks_like(p, n), "a token without a JWT's shape parsed");
    FUZZ_ASSERT(t.alg != JWT_ALG_NONE, "alg %s parsed as none", t.alg_name);
    const char *d1 = memchr(p, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - p)) : NULL;
    FUZZ_ASSERT(d2 != NULL && t.signed_part == p && t.signed_len == (size_t)(d2 - p),
                "the signed part is not header.payload as sent");
    FUZZ_ASSERT(t.sig_len > 0 && t.sig_len <= sizeof(t.sig), "signature length %zu", t.sig_len);
    jwt_fuzz_claim(t.iss, sizeof(t.iss), "iss");
    jwt_fuzz_claim(t.sub, sizeof(t.sub), "sub");
    jwt_fuzz_claim(t.kid, sizeof(t.kid), "kid");
    for (int i = 0; i < t.naud; i++)
        jwt_fuzz_claim(t.aud[i], sizeof(t.aud[i]), "aud");
    FUZZ_ASSERT(!t.have_exp || (t.exp >= 0 && t.exp < 253402300800LL), "exp %lld",
                (long long)t.exp);
    FUZZ_ASSERT(!t.have_nbf || (t.nbf >= 0 && t.nbf < 253402300800LL), "nbf %lld",
                (long long)t.nbf);
    static const uint8_t secret[] = "a-fuzz-secret-of-thirty-two-bytes";
    if (jwt_verify_sig(&t, fixed, secret, sizeof(secret) - 1, &why) < 0)
        FUZZ_ASSERT(why != NULL, "a bad signature without a reason");
    jwt_check_time(&t, 1700000000, 60, &why);
    jwt_clear(&t);
}

/* A key set: parsed twice, the same count, within the bound. */
static void
jwt_fuzz_keyset(const char *p, size_t n)
{
    char why[256];
    struct jwt_keyset *a = jwt_keyset_parse(p, n, why, sizeof(why));
    struct jwt_keyset *b = jwt_keyset_parse(p, n, why, sizeof(why));
    FUZZ_ASSERT((a == NULL) == (b == NULL), "one text, two verdicts");
    FUZZ_ASSERT(jwt_keyset_count(a) == jwt_keyset_count(b), "one text, %d and %d keys",
                jwt_keyset_count(a), jwt_keyset_count(b));
    FUZZ_ASSERT(jwt_keyset_count(a) <= JWT_MAX_KEYS, "%d keys kept", jwt_keyset_count(a));
    jwt_keyset_free(a);
    jwt_keyset_free(b);
}

/* Once: the fixed key set. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char why[256];
    (void)argc;
    (void)argv;
    fixed = jwt_keyset_parse(fixed_jwks, sizeof(fixed_jwks) - 1, why, sizeof(why));
    if (jwt_keyset_count(fixed) != 2)
        abort();
    return 0;
}

/* One input: its first byte picks token or key set. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* a copy of exactly the bytes: a read past them is caught */
    char *p = malloc(size - 1 ? size - 1 : 1);
    if (p == NULL)
        return 0;
    memcpy(p, data + 1, size - 1);
    if (data[0] % 2 == 0)
        jwt_fuzz_token(p, size - 1);
    else
        jwt_fuzz_keyset(p, size - 1);
    free(p);
    return 0;
}
