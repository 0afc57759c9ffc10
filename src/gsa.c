/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gsa.c: Google service-account keys and the JWT bearer token request.
 *
 * A key file is what the Google Cloud console hands out ("Create key",
 * JSON): {"type": "service_account", "project_id", "private_key_id",
 * "private_key" (PEM, PKCS#8), "client_email", "token_uri", ...}. Its
 * access token comes from POSTing grant_type=urn:ietf:params:oauth:
 * grant-type:jwt-bearer and assertion=<JWT> to token_uri; the JWT is RS256
 * over {iss: client_email, scope, aud: token_uri, iat, exp <= iat + 1h}.
 *
 * The private key is a secret: the file's bytes are wiped once parsed,
 * the PEM too, and no message here quotes a value from the file but
 * token_uri (which is not secret and which an operator needs to see).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gsa.h"
#include "jsonraw.h"
#include "jsonx.h"

/* Read at most GSA_FILE_MAX bytes of path into a NUL-terminated buffer; NULL with errno. */
static char *
slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > GSA_FILE_MAX) {
        errno = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) ? EISDIR : EFBIG;
        close(fd);
        return NULL;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return NULL;
    }
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A string member of at most max - 1 printable bytes into out; -1 when absent or unfit. */
static int
member(struct json_object *o, const char *name, char *out, size_t max)
{
    const char *s = jx_str(o, name);
    if (s == NULL || *s == '\0' || strlen(s) >= max)
        return -1;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            return -1;
    snprintf(out, max, "%s", s);
    return 0;
}

/* The PEM private key as an RSA EVP_PKEY; NULL when it is not one. */
static EVP_PKEY *
parse_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"") : NULL;
    BIO_free(b);
    if (k != NULL && EVP_PKEY_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* Check the parsed file's members into k; 0, or -1 with err naming the field. */
static int
take(struct json_object *o, const char *path, struct gsa_key *k, char *err, size_t errlen)
{
    const char *type = jx_str(o, "type"), *pem = jx_str(o, "private_key");
    if (type == NULL || strcmp(type, "service_account") != 0) {
        snprintf(err, errlen, "%s: type: must be \"service_account\" (a service-account key file)",
                 path);
        return -1;
    }
    if (member(o, "client_email", k->client_email, sizeof(k->client_email)) < 0) {
        snprintf(err, errlen, "%s: client_email: missing or not an e-mail address", path);
        return -1;
    }
    if (member(o, "token_uri", k->token_uri, sizeof(k->token_uri)) < 0 ||
        (strncmp(k->token_uri, "https://", 8) != 0 && strncmp(k->token_uri, "http://", 7) != 0)) {
        snprintf(err, errlen, "%s: token_uri: missing or not an http(s) URL", path);
        return -1;
    }
    if (jx_str(o, "private_key_id") != NULL &&
        member(o, "private_key_id", k->private_key_id, sizeof(k->private_key_id)) < 0) {
        snprintf(err, errlen, "%s: private_key_id: must be a short string", path);
        return -1;
    }
    if (pem == NULL || (k->pkey = (struct evp_pkey_st *)parse_pem(pem)) == NULL) {
        snprintf(err, errlen, "%s: private_key: missing or not a PEM RSA private key", path);
        return -1;
    }
    return 0;
}

int
gsa_key_load(const char *path, struct gsa_key *k, char *err, size_t errlen)
{
    size_t len = 0;
    char why[128];
    int rv = -1;
    memset(k, 0, sizeof(*k));
    char *buf = slurp(path, &len);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: cannot read the key file: %s", path,
                 errno == EFBIG ? "larger than 64 KiB" : strerror(errno));
        return -1;
    }
    struct json_object *o = json_tokener_parse(buf);
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        jsonraw_check_names(buf, len, why, sizeof(why)) < 0)
        snprintf(err, errlen, "%s: not a JSON object with each member once", path);
    else
        rv = take(o, path, k, err, errlen);
    if (o != NULL) { /* the PEM inside the parse is wiped before it is freed */
        struct json_object *pk;
        if (json_object_object_get_ex(o, "private_key", &pk) &&
            json_object_is_type(pk, json_type_string))
            explicit_bzero((char *)json_object_get_string(pk),
                           (size_t)json_object_get_string_len(pk));
        json_object_put(o);
    }
    explicit_bzero(buf, len);
    free(buf);
    if (rv < 0)
        gsa_key_free(k);
    return rv;
}

void
gsa_key_free(struct gsa_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free((EVP_PKEY *)k->pkey);
    memset(k, 0, sizeof(*k));
}

void
gsa_b64url(const unsigned char *in, size_t len, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = a[(v >> 18) & 63];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = a[(v >> 6) & 63];
        if (i + 2 < len)
            out[o++] = a[v & 63];
    }
    out[o] = '\0';
}

/* base64url of a JSON object's compact text (malloc'd). */
static char *
b64_json(struct json_object *o)
{
    size_t n;
    const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out != NULL)
        gsa_b64url((const unsigned char *)s, n, out);
    return out;
}

/* RS256 of data with k into out (base64url, malloc'd); NULL on failure. */
static char *
sign(const struct gsa_key *k, const char *data, size_t len)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    char *out = NULL;
    if (md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, (EVP_PKEY *)k->pkey) == 1 &&
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)data, len) == 1 &&
        (out = malloc(4 * ((siglen + 2) / 3) + 1)) != NULL)
        gsa_b64url(sig, siglen, out);
    EVP_MD_CTX_free(md);
    return out;
}

char *
gsa_assertion(const struct gsa_key *k, int64_t now)
{
    struct json_object *h = json_object_new_object(), *c = json_object_new_object();
    char *hb, *cb, *sig = NULL, *jwt = NULL;
    json_object_object_add(h, "alg", json_object_new_string("RS256"));
    json_object_object_add(h, "typ", json_object_new_string("JWT"));
    if (k->private_key_id[0] != '\0')
        json_object_object_add(h, "kid", json_object_new_string(k->private_key_id));
    json_object_object_add(c, "iss", json_object_new_string(k->client_email));
    json_object_object_add(c, "scope", json_object_new_string(GSA_SCOPE));
    json_object_object_add(c, "aud", json_object_new_string(k->token_uri));
    json_object_object_add(c, "iat", json_object_new_int64(now));
    json_object_object_add(c, "exp", json_object_new_int64(now + 3600));
    hb = b64_json(h);
    cb = b64_json(c);
    json_object_put(h);
    json_object_put(c);
    if (hb != NULL && cb != NULL) {
        size_t n = strlen(hb) + 1 + strlen(cb);
        if ((jwt = malloc(n + 1 + 1400)) != NULL) {
            snprintf(jwt, n + 1, "%s.%s", hb, cb);
            if ((sig = sign(k, jwt, n)) == NULL || strlen(sig) >= 1400) {
                free(jwt);
                jwt = NULL;
            } else {
                jwt[n] = '.';
                memcpy(jwt + n + 1, sig, strlen(sig) + 1);
            }
        }
    }
    free(hb);
    free(cb);
    free(sig);
    return jwt;
}

char *
gsa_token_form(const char *assertion)
{
    static const char pre[] = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                              "&assertion=";
    size_t n = sizeof(pre) + strlen(assertion);
    char *f = malloc(n);
    if (f != NULL) /* base64url and '.' need no form encoding */
        snprintf(f, n, "%s%s", pre, assertion);
    return f;
}

int
gsa_token_parse(const char *body, size_t len, char *tok, size_t toklen, int64_t *expires_in,
                char *why, size_t whylen)
{
    struct json_object *o = NULL, *e;
    const char *t, *type;
    int rv = -1;
    char dup[96];
    if (len == 0 || memchr(body, '\0', len) != NULL ||
        jsonraw_check_names(body, len, dup, sizeof(dup)) < 0 ||
        (o = json_tokener_parse(body)) == NULL || !json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "the answer is not a JSON object (each member once)");
        goto out;
    }
    t = jx_str(o, "access_token");
    type = jx_str(o, "token_type");
    /* a token with an escaped NUL would be cut at it: refused, not shortened */
    if (t == NULL || *t == '\0' || strlen(t) >= toklen ||
        strlen(t) !=
            (size_t)json_object_get_string_len(json_object_object_get(o, "access_token"))) {
        snprintf(why, whylen, "the answer has no usable access_token");
        goto out;
    }
    for (const char *p = t; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f) {
            snprintf(why, whylen, "the access_token has a space or control character");
            goto out;
        }
    if (type != NULL && strcasecmp(type, "Bearer") != 0) {
        snprintf(why, whylen, "token_type is not Bearer");
        goto out;
    }
    if (!json_object_object_get_ex(o, "expires_in", &e) || !json_object_is_type(e, json_type_int) ||
        json_object_get_int64(e) < 1 || json_object_get_int64(e) > 86400) {
        snprintf(why, whylen, "expires_in is not a number of seconds from 1 to 86400");
        goto out;
    }
    snprintf(tok, toklen, "%s", t);
    *expires_in = json_object_get_int64(e);
    rv = 0;
out:
    if (o != NULL) {
        struct json_object *at;
        if (json_object_object_get_ex(o, "access_token", &at) &&
            json_object_is_type(at, json_type_string))
            explicit_bzero((char *)json_object_get_string(at),
                           (size_t)json_object_get_string_len(at));
        json_object_put(o);
    }
    return rv;
}
