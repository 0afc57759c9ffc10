/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c: the authenticate phase's primitives: key hashing and model globs (worker, loaders). */
#include "config.h"

#include <fnmatch.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "auth.h"
#include "aigw/resource.h"

/*
 * SHA-256 of a key. OpenSSL 3's SHA256() fetches the digest from its
 * provider and makes a context at each call (a property lookup and three
 * allocations, for every request with a key): here the digest is fetched
 * once and one context reused. SHA256() stays the fallback.
 */
void
auth_key_hash(const char *key, size_t len, uint8_t out[AUTH_HASH_LEN])
{
    static EVP_MD *md;
    static EVP_MD_CTX *ctx;
    unsigned int n = 0;
    if (md == NULL)
        md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (ctx == NULL)
        ctx = EVP_MD_CTX_new();
    if (md == NULL || ctx == NULL || EVP_DigestInit_ex2(ctx, md, NULL) != 1 ||
        EVP_DigestUpdate(ctx, key, len) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 ||
        n != AUTH_HASH_LEN)
        SHA256((const unsigned char *)key, len, out);
}

void
auth_jwt_hash(const char *iss, const char *sub, uint8_t out[AUTH_HASH_LEN])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 0;
    /* the issuer with its NUL: ("a", "bc") is not ("ab", "c") */
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, "\0aigw-jwt\0", 10) != 1 ||
        EVP_DigestUpdate(c, iss, strlen(iss) + 1) != 1 ||
        EVP_DigestUpdate(c, sub, strlen(sub)) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
        memset(out, 0xff, AUTH_HASH_LEN); /* out of memory: a hash no key has */
    EVP_MD_CTX_free(c);
}

/*
 * fnmatch without FNM_PATHNAME: model names such as "meta-llama/Llama-3" may
 * hold '/', and a pattern ending in a star should match them.
 */
int
auth_glob_match(const char *pattern, const char *name)
{
    return fnmatch(pattern, name, 0) == 0;
}

int
auth_key_allows(const struct key_view *k, const char *model)
{
    const char *p = k->allowed;
    for (int i = 0; i < k->nallowed; i++) {
        if (auth_glob_match(p, model))
            return 1;
        p += strlen(p) + 1;
    }
    return 0;
}
