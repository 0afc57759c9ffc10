/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4.c: AWS Signature Version 4. The canonical request (method, the
 * path encoded once more, the sorted query, the lowercased, trimmed and
 * sorted headers, the signed header list, the payload's SHA-256), the
 * string to sign, the signing key derived by HMAC-SHA256 from the secret
 * through date, region, service and "aws4_request", and the Authorization
 * header. tests/unit/check_sigv4.c checks it against AWS's test suite.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aigw/sigv4.h"

static void
hex_lower(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void
sigv4_sha256_hex(const void *p, size_t len, char *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, len, md);
    hex_lower(md, sizeof(md), out);
}

void
sigv4_date(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

static int
unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

/* len bytes of s percent-encoded as AWS does (upper-case hex), '/' kept when keep_slash. */
static void
uri_encode(FILE *f, const char *s, size_t len, int keep_slash)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/'))
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s (len bytes, percent-encoded as sent) decoded into a malloc'd buffer of *out_len bytes. */
static char *
uri_decode(const char *s, size_t len, size_t *out_len)
{
    char *d = malloc(len + 1);
    size_t n = 0;
    if (!d)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            d[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            d[n++] = s[i];
        }
    }
    d[n] = '\0';
    *out_len = n;
    return d;
}

struct qparam {
    char *key, *val; /* encoded canonically */
};

static int
qparam_cmp(const void *a, const void *b)
{
    const struct qparam *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    return r ? r : strcmp(x->val, y->val);
}

/* One "k=v" of a query, decoded and encoded again the canonical way. */
static int
qparam_make(const char *s, size_t len, struct qparam *p)
{
    const char *eq = memchr(s, '=', len);
    size_t klen = eq ? (size_t)(eq - s) : len;
    const char *parts[2] = {s, eq ? eq + 1 : s + len};
    size_t lens[2] = {klen, eq ? len - klen - 1 : 0};
    char **outs[2] = {&p->key, &p->val};
    for (int i = 0; i < 2; i++) {
        size_t dlen, olen;
        char *dec = uri_decode(parts[i], lens[i], &dlen);
        FILE *f;
        if (!dec)
            return -1;
        f = open_memstream(outs[i], &olen);
        if (!f) {
            free(dec);
            return -1;
        }
        uri_encode(f, dec, dlen, 0);
        free(dec);
        if (fclose(f) != 0)
            return -1;
    }
    return 0;
}

/* The canonical query string of query (as sent, may be NULL) onto f. */
static int
canonical_query(FILE *f, const char *query)
{
    struct qparam *ps = NULL;
    size_t n = 0, cap = 0;
    int rv = 0;
    const char *s = query ? query : "";
    while (*s) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > 0) {
            if (n == cap) {
                struct qparam *np = realloc(ps, (cap = cap ? 2 * cap : 8) * sizeof(*ps));
                if (!np) {
                    rv = -1;
                    break;
                }
                ps = np;
            }
            memset(&ps[n], 0, sizeof(ps[n]));
            if (qparam_make(s, len, &ps[n++]) != 0) {
                rv = -1;
                break;
            }
        }
        s += len + (amp ? 1 : 0);
    }
    if (rv == 0) {
        if (n)
            qsort(ps, n, sizeof(*ps), qparam_cmp);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%s%s=%s", i ? "&" : "", ps[i].key, ps[i].val);
    }
    for (size_t i = 0; i < n; i++) {
        free(ps[i].key);
        free(ps[i].val);
    }
    free(ps);
    return rv;
}

struct chdr {
    char *name;        /* lowercased */
    const char *value; /* as given */
    size_t order;
};

static int
chdr_cmp(const void *a, const void *b)
{
    const struct chdr *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->order > y->order) - (x->order < y->order);
}

/* A header value trimmed, runs of spaces inside it made one. */
static void
trimmed_value(FILE *f, const char *v)
{
    int space = 0, any = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
            space = any;
            continue;
        }
        if (space)
            fputc(' ', f);
        fputc(*v, f);
        space = 0;
        any = 1;
    }
}

char *
sigv4_canonical_request(const char *method, const char *path, const char *query,
                        const struct sigv4_hdr *hdrs, size_t nhdrs, const char *body_sha256,
                        char **signed_hdrs)
{
    struct chdr *hs = calloc(nhdrs ? nhdrs : 1, sizeof(*hs));
    char *out = NULL, *sh = NULL;
    size_t outlen, shlen, i;
    FILE *f = NULL, *fs = NULL;
    int ok = 0;

    *signed_hdrs = NULL;
    if (!hs)
        return NULL;
    for (i = 0; i < nhdrs; i++) {
        if (!(hs[i].name = strdup(hdrs[i].name)))
            goto out;
        for (char *p = hs[i].name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        hs[i].value = hdrs[i].value;
        hs[i].order = i;
    }
    qsort(hs, nhdrs, sizeof(*hs), chdr_cmp);
    if (!(f = open_memstream(&out, &outlen)) || !(fs = open_memstream(&sh, &shlen)))
        goto out;
    fprintf(f, "%s\n", method);
    uri_encode(f, path && *path ? path : "/", path && *path ? strlen(path) : 1, 1);
    fputc('\n', f);
    if (canonical_query(f, query) != 0)
        goto out;
    fputc('\n', f);
    for (i = 0; i < nhdrs; i++) {
        int same = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
        if (same) {
            fputc(',', f);
        } else {
            if (i > 0)
                fputc('\n', f);
            fprintf(f, "%s:", hs[i].name);
            fprintf(fs, "%s%s", i ? ";" : "", hs[i].name);
        }
        trimmed_value(f, hs[i].value);
    }
    if (nhdrs)
        fputc('\n', f);
    fclose(fs);
    fs = NULL;
    if (!sh)
        goto out;
    fprintf(f, "\n%s\n%s", sh, body_sha256);
    ok = 1;
out:
    if (fs)
        fclose(fs);
    if (f && fclose(f) != 0)
        ok = 0;
    for (i = 0; i < nhdrs; i++)
        free(hs[i].name);
    free(hs);
    if (!ok) {
        free(out);
        free(sh);
        return NULL;
    }
    *signed_hdrs = sh;
    return out;
}

static int
hmac(const void *key, size_t keylen, const char *msg, unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned int len = SHA256_DIGEST_LENGTH;
    return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len)
               ? 0
               : -1;
}

int
sigv4_signature(const struct sigv4_cred *c, const char *date, const char *string_to_sign, char *out)
{
    unsigned char k[SHA256_DIGEST_LENGTH];
    size_t slen = strlen(c->secret);
    char *secret = malloc(slen + 5);
    int rv = -1;
    if (!secret)
        return -1;
    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, c->secret, slen + 1);
    if (hmac(secret, slen + 4, date, k) == 0 && hmac(k, sizeof(k), c->region, k) == 0 &&
        hmac(k, sizeof(k), c->service, k) == 0 && hmac(k, sizeof(k), "aws4_request", k) == 0 &&
        hmac(k, sizeof(k), string_to_sign, k) == 0) {
        hex_lower(k, sizeof(k), out);
        rv = 0;
    }
    OPENSSL_cleanse(secret, slen + 4);
    OPENSSL_cleanse(k, sizeof(k));
    free(secret);
    return rv;
}

char *
sigv4_authorization(const struct sigv4_cred *c, const char *method, const char *path,
                    const char *query, const struct sigv4_hdr *hdrs, size_t nhdrs, const void *body,
                    size_t body_len, const char *amz_date)
{
    char body_hex[SIGV4_HEX_LEN + 1], creq_hex[SIGV4_HEX_LEN + 1], sig[SIGV4_HEX_LEN + 1];
    char date[9], *sh = NULL, *creq, *sts = NULL, *auth = NULL;
    size_t len;

    if (strlen(amz_date) != SIGV4_DATE_LEN || amz_date[8] != 'T')
        return NULL;
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    sigv4_sha256_hex(body ? body : "", body ? body_len : 0, body_hex);
    creq = sigv4_canonical_request(method, path, query, hdrs, nhdrs, body_hex, &sh);
    if (!creq)
        return NULL;
    sigv4_sha256_hex(creq, strlen(creq), creq_hex);
    free(creq);
    if (asprintf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date, c->region,
                 c->service, creq_hex) < 0)
        sts = NULL;
    if (sts && sigv4_signature(c, date, sts, sig) == 0) {
        len = (size_t)asprintf(&auth,
                               "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, "
                               "SignedHeaders=%s, Signature=%s",
                               c->access_key, date, c->region, c->service, sh, sig);
        if (len == (size_t)-1)
            auth = NULL;
    }
    free(sts);
    free(sh);
    return auth;
}

char *
sigv4_sign_headers(const struct sigv4_cred *c, const char *method, const char *host,
                   const char *path, const void *body, size_t body_len, time_t now)
{
    char date[SIGV4_DATE_LEN + 1], *auth, *out = NULL;
    int tok = c->session_token != NULL && *c->session_token;
    struct sigv4_hdr h[3] = {{"host", host}, {"x-amz-date", date}, {"x-amz-security-token", ""}};
    sigv4_date(now, date);
    if (tok)
        h[2].value = c->session_token;
    auth = sigv4_authorization(c, method, path, NULL, h, tok ? 3 : 2, body, body_len, date);
    if (auth == NULL)
        return NULL;
    if (asprintf(&out, "X-Amz-Date: %s\r\n%s%s%sAuthorization: %s\r\n", date,
                 tok ? "X-Amz-Security-Token: " : "", tok ? c->session_token : "",
                 tok ? "\r\n" : "", auth) < 0)
        out = NULL;
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    return out;
}

int
sigv4_path_segment(const char *s, char *out, size_t len)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (o + 4 > len)
            return -1;
        if (unreserved(ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = digits[ch >> 4];
            out[o++] = digits[ch & 15];
        }
    }
    if (o >= len)
        return -1;
    out[o] = '\0';
    return 0;
}
