/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtoken.c: the Vertex AI access token blob, written by the master and
 * read by workers (vtoken.h). A fixed text form, read without a JSON
 * parse: a request pays for a read transaction and a memcpy.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>

#include "store.h"
#include "vtoken.h"

void
vtoken_blob_name(const char *path, char *out, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[33];
    SHA256((const unsigned char *)path, strlen(path), md);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, len, "vertex-token:%s", hex);
}

int
vtoken_encode(int64_t expiry, const char *token, char *out, size_t len)
{
    int n = snprintf(out, len, "%lld %s", (long long)expiry, token);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

int
vtoken_decode(const void *data, size_t len, int64_t now, char *tok, size_t toklen, int64_t *expiry)
{
    const char *p = data, *sp = memchr(p, ' ', len);
    int64_t e = 0;
    if (sp == NULL || sp == p || sp - p > 19)
        return -1;
    for (const char *q = p; q < sp; q++) {
        if (*q < '0' || *q > '9')
            return -1;
        e = e * 10 + (*q - '0');
    }
    size_t tl = len - (size_t)(sp + 1 - p);
    if (tl == 0 || tl >= toklen || memchr(sp + 1, '\0', tl) != NULL)
        return -1;
    if (expiry != NULL)
        *expiry = e;
    if (e <= now)
        return 1;
    memcpy(tok, sp + 1, tl);
    tok[tl] = '\0';
    return 0;
}

/*
 * A worker asks for the same few key files' tokens on every request to a
 * vertex target: their blob names are hashed once (OpenSSL's SHA-256 of a
 * path costs over a microsecond, the lookup here a few string compares).
 */
#define NAME_CACHE 8
static struct {
    char path[1025];
    char name[VTOKEN_NAME_MAX];
} names[NAME_CACHE];
static unsigned names_next;

/* The blob name of path, from the cache or hashed now (and kept). */
static void
cached_name(const char *path, char *out, size_t len)
{
    for (int i = 0; i < NAME_CACHE; i++)
        if (names[i].path[0] != '\0' && strcmp(names[i].path, path) == 0) {
            snprintf(out, len, "%s", names[i].name);
            return;
        }
    vtoken_blob_name(path, out, len);
    if (strlen(path) < sizeof(names[0].path)) {
        unsigned i = names_next++ % NAME_CACHE;
        snprintf(names[i].path, sizeof(names[i].path), "%s", path);
        snprintf(names[i].name, sizeof(names[i].name), "%s", out);
    }
}

int
vtoken_get(struct store *s, const char *path, char *tok, size_t toklen)
{
    char name[VTOKEN_NAME_MAX];
    const void *data;
    size_t len;
    int rv = -1;
    cached_name(path, name, sizeof(name));
    if (store_read_begin(s) < 0)
        return -1;
    if (store_blob_get(s, name, &data, &len) == STORE_OK &&
        vtoken_decode(data, len, (int64_t)time(NULL), tok, toklen, NULL) == 0)
        rv = 0;
    store_read_end(s);
    return rv;
}
