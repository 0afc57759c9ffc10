/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwt.c: the token parser and the parts of verification that need no
 * configuration (jwt.h). Every byte of a token is hostile: the parts are
 * decoded strictly (no padding, no stray bits), the JSON is read once and
 * refused when it holds a member twice (two readers could pick different
 * ones), and nothing of the token is trusted before its signature checks.
 *
 * Algorithm confusion is closed by construction: the algorithm decides the
 * key type it accepts (RSA for RS and PS, an EC key of the right curve for
 * ES, Ed25519 for EdDSA) and HS256 only ever uses the configured secret,
 * never a key from the key set, so an HS256 token "signed" with a provider's
 * public RSA key finds no secret to match.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "aigw/util.h"
#include "jsonraw.h"
#include "jwt.h"

enum { KTY_RSA = 1, KTY_EC256, KTY_EC384, KTY_ED25519 };

struct jwt_key {
    char kid[JWT_CLAIM_MAX + 1];
    char alg[16]; /* the JWK's own "alg"; "" when none */
    int kty;
    EVP_PKEY *pkey;
};

struct jwt_keyset {
    int n;
    struct jwt_key k[JWT_MAX_KEYS];
};

static const struct {
    const char *name;
    enum jwt_alg alg;
} alg_names[] = {
    {"RS256", JWT_RS256}, {"RS384", JWT_RS384}, {"RS512", JWT_RS512}, {"PS256", JWT_PS256},
    {"PS384", JWT_PS384}, {"PS512", JWT_PS512}, {"ES256", JWT_ES256}, {"ES384", JWT_ES384},
    {"EdDSA", JWT_EDDSA}, {"HS256", JWT_HS256},
};

/* The value of one base64url character; -1 for any other byte. */
static int
b64url_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long
jwt_b64url_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    if (len % 4 == 1) /* no whole byte ends there */
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == outlen)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* the bits left over must be zero: one token, one encoding */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

int
jwt_looks_like(const char *s, size_t len)
{
    int dots = 0;
    if (len < 5 || len > JWT_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            dots++;
        else if (b64url_val((unsigned char)s[i]) < 0)
            return 0;
    }
    return dots == 2;
}

/*
 * Decode one part and parse it as a JSON object, read once: lexically
 * strict, no trailing bytes, no member twice. NULL with *reason set.
 */
static struct json_object *
part_json(const char *p, size_t len, const char *bad, const char **reason)
{
    uint8_t buf[JWT_MAX_LEN];
    long n = jwt_b64url_decode(p, len, buf, sizeof(buf));
    char why[256];
    *reason = bad;
    if (n <= 0 || json_lexically_strict((const char *)buf, (size_t)n) != 0 ||
        jsonraw_start((const char *)buf, (size_t)n) == (size_t)-1)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, (const char *)buf, (int)n);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    for (size_t i = o ? used : (size_t)n; i < (size_t)n; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') {
            json_object_put(o);
            return NULL;
        }
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        jsonraw_check_names((const char *)buf, (size_t)n, why, sizeof(why)) < 0) {
        json_object_put(o);
        if (o != NULL)
            *reason = "token_ambiguous_json";
        return NULL;
    }
    return o;
}

/*
 * A JSON string as aigw keeps a claim: 1..cap-1 bytes, no NUL inside (a C
 * reader would see less than was signed: "aigw\u0000x" must not be
 * "aigw"), no control byte (it may reach a log line). Copied into dst.
 */
static int
str_value(struct json_object *v, char *dst, size_t cap)
{
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return -1;
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0 || n >= cap || memchr(s, '\0', n) != NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return -1;
    memcpy(dst, s, n + 1);
    return 0;
}

/* A string member into dst: 0 (absent leaves dst ""), -1 when str_value refuses it. */
static int
str_member(struct json_object *o, const char *name, char *dst, size_t dstlen)
{
    struct json_object *v;
    dst[0] = '\0';
    if (!json_object_object_get_ex(o, name, &v))
        return 0;
    return str_value(v, dst, dstlen);
}

/* A NumericDate member (RFC 7519 2): 1 set, 0 absent, -1 not a number in range. */
static int
time_member(struct json_object *o, const char *name, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, name, &v))
        return 0;
    if (v != NULL && json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
    } else if (v != NULL && json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!(d > -1e15 && d < 1e15))
            return -1;
        *out = (int64_t)d;
    } else {
        return -1;
    }
    return *out >= 0 && *out < 253402300800LL ? 1 : -1; /* up to year 9999 */
}

/* The header: alg (required), kid; crit is refused (no extension is understood). */
static int
read_header(struct json_object *h, struct jwt *t, const char **reason)
{
    struct json_object *v;
    *reason = "token_bad_header";
    if (json_object_object_get_ex(h, "crit", NULL))
        return -1;
    if (str_member(h, "alg", t->alg_name, sizeof(t->alg_name)) < 0 || t->alg_name[0] == '\0')
        return -1;
    if (str_member(h, "kid", t->kid, sizeof(t->kid)) < 0)
        return -1;
    /* typ, when given, must say this is a JWT (RFC 8725 3.11) */
    if (json_object_object_get_ex(h, "typ", &v) &&
        (v == NULL || !json_object_is_type(v, json_type_string) ||
         (strcasecmp(json_object_get_string(v), "JWT") != 0 &&
          strcasecmp(json_object_get_string(v), "at+jwt") != 0 &&
          strcasecmp(json_object_get_string(v), "application/at+jwt") != 0)))
        return -1;
    t->alg = JWT_ALG_NONE;
    for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
        if (strcmp(alg_names[i].name, t->alg_name) == 0)
            t->alg = alg_names[i].alg;
    if (t->alg == JWT_ALG_NONE) {
        *reason = strcasecmp(t->alg_name, "none") == 0 ? "token_alg_none" : "token_alg_unsupported";
        return -1;
    }
    return 0;
}

/* The claims aigw reads: iss, sub, aud, exp, nbf, checked for type and size. */
static int
read_claims(struct json_object *p, struct jwt *t, const char **reason)
{
    struct json_object *v;
    *reason = "token_bad_claims";
    if (str_member(p, "iss", t->iss, sizeof(t->iss)) < 0 ||
        str_member(p, "sub", t->sub, sizeof(t->sub)) < 0)
        return -1;
    int rc = time_member(p, "exp", &t->exp);
    if (rc < 0)
        return -1;
    t->have_exp = rc;
    if ((rc = time_member(p, "nbf", &t->nbf)) < 0)
        return -1;
    t->have_nbf = rc;
    if (!json_object_object_get_ex(p, "aud", &v))
        return 0;
    if (v != NULL && json_object_is_type(v, json_type_string))
        return str_member(p, "aud", t->aud[t->naud++], JWT_CLAIM_MAX + 1);
    if (v == NULL || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) > sizeof(t->aud) / sizeof(t->aud[0]))
        return -1;
    for (size_t i = 0; i < json_object_array_length(v); i++)
        if (str_value(json_object_array_get_idx(v, i), t->aud[t->naud++], JWT_CLAIM_MAX + 1) < 0)
            return -1;
    return 0;
}

int
jwt_parse(const char *tok, size_t len, struct jwt *out, const char **reason)
{
    struct json_object *h = NULL, *p = NULL;
    memset(out, 0, sizeof(*out));
    *reason = "token_malformed";
    if (!jwt_looks_like(tok, len))
        return -1;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
    size_t hl = (size_t)(d1 - tok), pl = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - tok);
    if (hl == 0 || pl == 0)
        return -1;
    if ((h = part_json(tok, hl, "token_bad_header", reason)) == NULL)
        goto fail;
    if (read_header(h, out, reason) < 0)
        goto fail;
    if ((p = part_json(d1 + 1, pl, "token_bad_claims", reason)) == NULL)
        goto fail;
    if (read_claims(p, out, reason) < 0)
        goto fail;
    long n = jwt_b64url_decode(d2 + 1, sl, out->sig, sizeof(out->sig));
    if (n <= 0) {
        *reason = "token_malformed";
        goto fail;
    }
    out->sig_len = (size_t)n;
    out->signed_part = tok;
    out->signed_len = (size_t)(d2 - tok);
    out->payload = p;
    json_object_put(h);
    *reason = NULL;
    return 0;
fail:
    json_object_put(h);
    json_object_put(p);
    return -1;
}

void
jwt_clear(struct jwt *t)
{
    json_object_put(t->payload);
    t->payload = NULL;
}

/* ---- key sets ---- */

/* A base64url member of a JWK, decoded into out; its length or -1. */
static long
jwk_bytes(struct json_object *k, const char *name, uint8_t *out, size_t outlen)
{
    struct json_object *v;
    if (!json_object_object_get_ex(k, name, &v) || v == NULL ||
        !json_object_is_type(v, json_type_string))
        return -1;
    return jwt_b64url_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), out,
                             outlen);
}

/* An RSA public key from n and e; at least 2048 bits (RFC 7518 3.3). */
static EVP_PKEY *
jwk_rsa(struct json_object *k)
{
    uint8_t n[1024], e[16];
    long nl = jwk_bytes(k, "n", n, sizeof(n)), el = jwk_bytes(k, "e", e, sizeof(e));
    EVP_PKEY *pkey = NULL;
    if (nl < 256 || el < 1 || n[0] == 0)
        return NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (bn && be && bld && ctx && BN_num_bits(bn) >= 2048 && BN_is_odd(be) && !BN_is_one(be) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1)
        if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
            pkey = NULL;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

/* An EC public key from crv, x, y; the point is checked to lie on the curve. */
static EVP_PKEY *
jwk_ec(struct json_object *k, int *kty)
{
    uint8_t pub[1 + 2 * 48];
    struct json_object *v;
    const char *crv = json_object_object_get_ex(k, "crv", &v) && v != NULL &&
                              json_object_is_type(v, json_type_string)
                          ? json_object_get_string(v)
                          : "";
    size_t fl = strcmp(crv, "P-256") == 0 ? 32 : strcmp(crv, "P-384") == 0 ? 48 : 0;
    if (fl == 0)
        return NULL;
    *kty = fl == 32 ? KTY_EC256 : KTY_EC384;
    pub[0] = 0x04; /* uncompressed point */
    if (jwk_bytes(k, "x", pub + 1, fl) != (long)fl ||
        jwk_bytes(k, "y", pub + 1 + fl, fl) != (long)fl)
        return NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                         fl == 32 ? "prime256v1" : "secp384r1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * fl),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    if (pkey != NULL) { /* fromdata takes the bytes; the curve check is this one */
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (c == NULL || EVP_PKEY_public_check(c) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(c);
    }
    return pkey;
}

/* An Ed25519 public key from crv and x. */
static EVP_PKEY *
jwk_okp(struct json_object *k)
{
    uint8_t x[32];
    struct json_object *v;
    if (!json_object_object_get_ex(k, "crv", &v) || v == NULL ||
        !json_object_is_type(v, json_type_string) ||
        strcmp(json_object_get_string(v), "Ed25519") != 0)
        return NULL;
    if (jwk_bytes(k, "x", x, sizeof(x)) != 32)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof(x));
}

/* One JWK into ks (skipped, not an error, when it is not a usable public verification key). */
static void
jwk_add(struct jwt_keyset *ks, struct json_object *k)
{
    struct json_object *v;
    char kty[8], use[8], kid[JWT_CLAIM_MAX + 1], alg[16];
    int type = 0;
    EVP_PKEY *pkey = NULL;
    if (ks->n == JWT_MAX_KEYS || k == NULL || !json_object_is_type(k, json_type_object) ||
        str_member(k, "kty", kty, sizeof(kty)) < 0 || str_member(k, "use", use, sizeof(use)) < 0 ||
        str_member(k, "kid", kid, sizeof(kid)) < 0 || str_member(k, "alg", alg, sizeof(alg)) < 0)
        return;
    if (use[0] != '\0' && strcmp(use, "sig") != 0)
        return;
    /* a private member makes it a private key: it has no place in a public set */
    if (json_object_object_get_ex(k, "d", &v))
        return;
    if (strcmp(kty, "RSA") == 0) {
        type = KTY_RSA;
        pkey = jwk_rsa(k);
    } else if (strcmp(kty, "EC") == 0) {
        pkey = jwk_ec(k, &type);
    } else if (strcmp(kty, "OKP") == 0) {
        type = KTY_ED25519;
        pkey = jwk_okp(k);
    }
    if (pkey == NULL)
        return;
    struct jwt_key *d = &ks->k[ks->n++];
    memcpy(d->kid, kid, sizeof(d->kid));
    memcpy(d->alg, alg, sizeof(d->alg));
    d->kty = type;
    d->pkey = pkey;
}

struct jwt_keyset *
jwt_keyset_parse(const char *json, size_t len, char *why, size_t whylen)
{
    struct json_object *keys;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = NULL;
    char dup[256];
    if (tok != NULL && len > 0 && len < INT32_MAX && json_lexically_strict(json, len) == 0) {
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, json, (int)len);
    }
    json_tokener_free(tok);
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        jsonraw_check_names(json, len, dup, sizeof(dup)) < 0 ||
        !json_object_object_get_ex(o, "keys", &keys) || keys == NULL ||
        !json_object_is_type(keys, json_type_array)) {
        snprintf(why, whylen,
                 "not a JWK Set (a JSON object with a \"keys\" list, each member once)");
        json_object_put(o);
        return NULL;
    }
    struct jwt_keyset *ks = calloc(1, sizeof(*ks));
    if (ks == NULL) {
        snprintf(why, whylen, "out of memory");
        json_object_put(o);
        return NULL;
    }
    for (size_t i = 0; i < json_object_array_length(keys); i++)
        jwk_add(ks, json_object_array_get_idx(keys, i));
    json_object_put(o);
    return ks;
}

void
jwt_keyset_free(struct jwt_keyset *ks)
{
    if (ks == NULL)
        return;
    for (int i = 0; i < ks->n; i++)
        EVP_PKEY_free(ks->k[i].pkey);
    free(ks);
}

int
jwt_keyset_count(const struct jwt_keyset *ks)
{
    return ks ? ks->n : 0;
}

/* ---- signatures ---- */

/* The key type an algorithm takes, and its digest. */
static int
alg_kty(enum jwt_alg a, const EVP_MD **md)
{
    *md = NULL;
    switch (a) {
    case JWT_RS256:
    case JWT_PS256:
        *md = EVP_sha256();
        return KTY_RSA;
    case JWT_RS384:
    case JWT_PS384:
        *md = EVP_sha384();
        return KTY_RSA;
    case JWT_RS512:
    case JWT_PS512:
        *md = EVP_sha512();
        return KTY_RSA;
    case JWT_ES256:
        *md = EVP_sha256();
        return KTY_EC256;
    case JWT_ES384:
        *md = EVP_sha384();
        return KTY_EC384;
    case JWT_EDDSA:
        return KTY_ED25519;
    default:
        return 0;
    }
}

/* The key for the token: its kid, or the only key of the type when it names none. */
static const struct jwt_key *
find_key(const struct jwt *t, const struct jwt_keyset *ks, int kty, const char **reason)
{
    const struct jwt_key *found = NULL;
    int n = 0;
    for (int i = 0; ks != NULL && i < ks->n; i++) {
        if (t->kid[0] != '\0' && strcmp(ks->k[i].kid, t->kid) == 0) {
            found = &ks->k[i];
            n = 1;
            break;
        }
        if (t->kid[0] == '\0' && ks->k[i].kty == kty) {
            found = &ks->k[i];
            n++;
        }
    }
    if (found == NULL || n != 1) {
        *reason = "token_unknown_kid";
        return NULL;
    }
    if (found->kty != kty || (found->alg[0] != '\0' && strcmp(found->alg, t->alg_name) != 0)) {
        *reason = "token_alg_key_mismatch";
        return NULL;
    }
    return found;
}

/* JOSE's r||s ECDSA signature (RFC 7518 3.4) as the DER OpenSSL verifies; its length or -1. */
static int
ecdsa_der(const uint8_t *sig, size_t len, size_t flen, uint8_t *der, size_t derlen)
{
    if (len != 2 * flen)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)flen, NULL), *s = BN_bin2bn(sig + flen, (int)flen, NULL);
    int n = -1;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* es owns them */
        if (i2d_ECDSA_SIG(es, NULL) <= (int)derlen) {
            uint8_t *p = der;
            n = i2d_ECDSA_SIG(es, &p);
        }
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return n;
}

/* An asymmetric signature checked with the key: 0 good, -1 not. */
static int
verify_pkey(const struct jwt *t, const struct jwt_key *k, const EVP_MD *md)
{
    uint8_t der[160];
    const uint8_t *sig = t->sig;
    size_t siglen = t->sig_len;
    EVP_PKEY_CTX *pctx = NULL;
    int ok = 0;
    if (k->kty == KTY_EC256 || k->kty == KTY_EC384) {
        int n = ecdsa_der(t->sig, t->sig_len, k->kty == KTY_EC256 ? 32 : 48, der, sizeof(der));
        if (n < 0)
            return -1;
        sig = der;
        siglen = (size_t)n;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) == 1) {
        int pss = t->alg == JWT_PS256 || t->alg == JWT_PS384 || t->alg == JWT_PS512;
        if (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
                     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1))
            ok = EVP_DigestVerify(ctx, sig, siglen, (const uint8_t *)t->signed_part,
                                  t->signed_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int
jwt_verify_sig(const struct jwt *t, const struct jwt_keyset *ks, const uint8_t *secret,
               size_t secret_len, const char **reason)
{
    const EVP_MD *md;
    if (t->alg == JWT_HS256) {
        uint8_t mac[32];
        unsigned int maclen = 0;
        if (secret == NULL || secret_len == 0) {
            *reason = "token_alg_not_allowed"; /* no secret: HS256 is not this issuer's */
            return -1;
        }
        if (HMAC(EVP_sha256(), secret, (int)secret_len, (const uint8_t *)t->signed_part,
                 t->signed_len, mac, &maclen) == NULL ||
            maclen != t->sig_len || CRYPTO_memcmp(mac, t->sig, maclen) != 0) {
            *reason = "token_bad_signature";
            return -1;
        }
        return 0;
    }
    int kty = alg_kty(t->alg, &md);
    if (kty == 0) {
        *reason = "token_alg_unsupported";
        return -1;
    }
    const struct jwt_key *k = find_key(t, ks, kty, reason);
    if (k == NULL)
        return -1;
    if (verify_pkey(t, k, md) < 0) {
        *reason = "token_bad_signature";
        return -1;
    }
    return 0;
}

int
jwt_check_time(const struct jwt *t, int64_t now, int64_t leeway, const char **reason)
{
    if (!t->have_exp) {
        *reason = "token_missing_exp";
        return -1;
    }
    if (now >= t->exp + leeway) { /* RFC 7519 4.1.4: on or after exp it is refused */
        *reason = "token_expired";
        return -1;
    }
    if (t->have_nbf && now + leeway < t->nbf) {
        *reason = "token_not_yet_valid";
        return -1;
    }
    return 0;
}

int
jwt_aud_ok(const struct jwt *t, const char *const *auds, int n)
{
    if (n == 0)
        return 1;
    for (int i = 0; i < t->naud; i++)
        for (int j = 0; j < n; j++)
            if (strcmp(t->aud[i], auds[j]) == 0)
                return 1;
    return 0;
}
