/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt.h: JSON Web Tokens (RFC 7519) and key sets (RFC 7517): the parser
 * and the signature check. No network, no configuration store: a token's
 * bytes and a parsed key set in, a verdict and a reason out.
 */
#ifndef AIGW_JWT_H
#define AIGW_JWT_H

#include <stddef.h>
#include <stdint.h>

#define JWT_MAX_LEN 8192  /* a longer bearer token is refused unread */
#define JWT_CLAIM_MAX 256 /* iss, sub, kid: longer is refused */
#define JWT_MAX_KEYS 64   /* keys kept from one key set */
#define JWT_MAX_MODELS 16 /* allowed models taken from a claim */

/* The algorithms aigw verifies; JWT_ALG_NONE is what "none" and unknown names parse to. */
enum jwt_alg {
    JWT_ALG_NONE = 0,
    JWT_RS256,
    JWT_RS384,
    JWT_RS512,
    JWT_PS256,
    JWT_PS384,
    JWT_PS512,
    JWT_ES256,
    JWT_ES384,
    JWT_EDDSA,
    JWT_HS256,
};

/* A parsed token: pointers into the caller's buffer or into the decoded parts in it. */
struct jwt {
    enum jwt_alg alg;
    char alg_name[16];
    char kid[JWT_CLAIM_MAX + 1]; /* "" when the header has none */
    char iss[JWT_CLAIM_MAX + 1];
    char sub[JWT_CLAIM_MAX + 1];
    int have_exp, have_nbf;
    int64_t exp, nbf;
    int naud;
    char aud[8][JWT_CLAIM_MAX + 1];
    const char *signed_part; /* header.payload as sent: what the signature covers */
    size_t signed_len;
    uint8_t sig[1024];
    size_t sig_len;
    struct json_object *payload; /* the claims, for a configured models claim; jwt_clear frees */
};

/*
 * Parse a compact JWS: three base64url parts without padding, a header and
 * a payload that are JSON objects read once (duplicate member names, NUL in
 * names and trailing bytes refused), and the claims aigw reads checked for
 * type and size. 0, or -1 with *reason a static reason code.
 */
int jwt_parse(const char *tok, size_t len, struct jwt *out, const char **reason);
/* Free what jwt_parse allocated (its payload); safe on a zeroed or failed jwt. */
void jwt_clear(struct jwt *t);
/* 1 when a bearer value has a JWT's shape (two dots, base64url between): not a static key. */
int jwt_looks_like(const char *s, size_t len);

struct jwt_keyset;
/*
 * Parse a JWK Set ({"keys":[...]}) into public keys: RSA (2048 bits or
 * more), EC P-256 and P-384, OKP Ed25519. Symmetric ("oct") keys, private
 * keys and keys of other types are skipped: a shared secret never comes
 * from a key set. NULL, with why set, when the text is not a key set.
 */
struct jwt_keyset *jwt_keyset_parse(const char *json, size_t len, char *why, size_t whylen);
void jwt_keyset_free(struct jwt_keyset *ks);
/* How many usable keys the set holds. */
int jwt_keyset_count(const struct jwt_keyset *ks);

/*
 * Check the signature of a parsed token: HS256 with secret only (never
 * with a key from the set), every other algorithm with the key of the
 * token's kid (or the one key of its type when it names none), which must
 * be of the algorithm's type and curve. 0, or -1 with *reason set.
 */
int jwt_verify_sig(const struct jwt *t, const struct jwt_keyset *ks, const uint8_t *secret,
                   size_t secret_len, const char **reason);

/*
 * The time claims against now (Unix seconds), leeway seconds either way;
 * exp is required. 0, or -1 with *reason ("token_expired", "token_not_yet_valid",
 * "missing_exp").
 */
int jwt_check_time(const struct jwt *t, int64_t now, int64_t leeway, const char **reason);
/* 1 when aud names one of the n audiences (n == 0: any token passes). */
int jwt_aud_ok(const struct jwt *t, const char *const *auds, int n);

/* Decode base64url without padding into out; the length, or -1 (bad text, too long). */
long jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen);

#endif
