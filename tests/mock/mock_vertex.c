/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mock_vertex.c: Google Vertex AI as aigw meets it: an OAuth 2.0 token
 * endpoint for service accounts (POST /token, the JWT bearer grant of
 * RFC 7523 as Google's oauth2.googleapis.com/token serves it) and the
 * bearer check of the Vertex routes (publishers/google and
 * publishers/anthropic, whose bodies mock_gemini.c and mock_anthropic.c
 * read).
 *
 * The token endpoint verifies the assertion's RS256 signature with the
 * public key given with -g (the test makes a throwaway key pair), and its
 * claims (scope cloud-platform, aud ending in /token, iat and exp within
 * the hour); it answers {"access_token", "expires_in", "token_type":
 * "Bearer"}. A Vertex route takes only a token it issued that has not
 * expired. POST /mock/vertex sets expires_in and token_hang (the endpoint
 * then never answers); GET /mock/vertex counts token requests and tokens.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "mock.h"

#define VX_TOKENS 256

static struct {
    EVP_PKEY *pub;
    long expires_in;
    int hang;
    unsigned long requests, issued;
    struct {
        char tok[64];
        time_t exp;
    } t[VX_TOKENS];
} vx = {.expires_in = 3600};

int
mock_vertex_key(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    vx.pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    return vx.pub != NULL ? 0 : -1;
}

void
mock_vertex_free(void)
{
    EVP_PKEY_free(vx.pub);
    vx.pub = NULL;
}

/* base64url (no padding) of n bytes into out; its length, or -1. */
static long
vx_b64url(const char *in, size_t n, unsigned char *out, size_t outlen)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned long acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = memchr(a, in[i], 64);
        if (p == NULL || in[i] == '\0')
            return -1;
        acc = (acc << 6) | (unsigned long)(p - a);
        if ((bits += 6) >= 8) {
            if (o == outlen)
                return -1;
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

/* Google's token endpoint error: {"error", "error_description"}. */
static void
vx_token_error(struct evhttp_request *req, int status, const char *err, const char *desc)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    evbuffer_add_printf(out, "{\"error\":\"%s\",\"error_description\":\"%s\"}", err, desc);
    mock_reply_json(req, status);
}

/* The assertion's claims, checked; 0 or -1 with *why. */
static int
vx_claims(json_object *c, const char **why)
{
    json_object *v;
    time_t now = time(NULL);
    const char *scope, *aud;
    int64_t iat, exp;
    if (!json_object_object_get_ex(c, "iss", &v) || !json_object_is_type(v, json_type_string))
        return *why = "Invalid JWT: iss is required", -1;
    if (!json_object_object_get_ex(c, "scope", &v) || (scope = json_object_get_string(v)) == NULL ||
        strcmp(scope, "https://www.googleapis.com/auth/cloud-platform") != 0)
        return *why = "Invalid OAuth scope or ID token audience provided.", -1;
    if (!json_object_object_get_ex(c, "aud", &v) || (aud = json_object_get_string(v)) == NULL ||
        strlen(aud) < 6 || strcmp(aud + strlen(aud) - 6, "/token") != 0)
        return *why = "Invalid JWT: aud is not the token endpoint", -1;
    if (!json_object_object_get_ex(c, "iat", &v) || !json_object_is_type(v, json_type_int) ||
        !json_object_object_get_ex(c, "exp", &v) || !json_object_is_type(v, json_type_int))
        return *why = "Invalid JWT: iat and exp are required", -1;
    iat = json_object_get_int64(json_object_object_get(c, "iat"));
    exp = json_object_get_int64(json_object_object_get(c, "exp"));
    if (iat > now + 60 || exp <= now || exp - iat > 3600)
        return *why = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                      "reasonable timeframe. Check your iat and exp values in the JWT claim.",
               -1;
    return 0;
}

/* Verify the compact JWS: RS256 with the -g key over header.payload. */
static int
vx_verify(const char *jwt, const char **why)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char h[1024], p[4096], sig[1024];
    long hl, pl, sl;
    int rv = -1;
    *why = "Invalid JWT Signature.";
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL ||
        (hl = vx_b64url(jwt, (size_t)(d1 - jwt), h, sizeof(h) - 1)) < 0 ||
        (pl = vx_b64url(d1 + 1, (size_t)(d2 - d1 - 1), p, sizeof(p) - 1)) < 0 ||
        (sl = vx_b64url(d2 + 1, strlen(d2 + 1), sig, sizeof(sig))) < 0)
        return -1;
    h[hl] = p[pl] = '\0';
    json_object *hdr = json_tokener_parse((const char *)h),
                *claims = json_tokener_parse((const char *)p);
    json_object *alg;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (hdr == NULL || claims == NULL || !json_object_object_get_ex(hdr, "alg", &alg) ||
        strcmp(json_object_get_string(alg), "RS256") != 0)
        *why = "Invalid JWT: alg must be RS256";
    else if (vx.pub == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, vx.pub) != 1 ||
             EVP_DigestVerify(md, sig, (size_t)sl, (const unsigned char *)jwt,
                              (size_t)(d2 - jwt)) != 1)
        *why = "Invalid JWT Signature.";
    else
        rv = vx_claims(claims, why);
    EVP_MD_CTX_free(md);
    json_object_put(hdr);
    json_object_put(claims);
    return rv;
}

/* POST /token: the JWT bearer grant. */
void
mock_vertex_token(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *form = malloc(n + 1), tok[64];
    unsigned char rnd[8];
    struct evkeyvalq q;
    const char *grant, *assertion, *why;
    vx.requests++;
    if (vx.hang) { /* the endpoint stops answering: the request is left open */
        free(form);
        return;
    }
    if (form == NULL)
        abort();
    evbuffer_copyout(in, form, n);
    form[n] = '\0';
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST ||
        evhttp_parse_query_str(form, &q) < 0) {
        vx_token_error(req, 400, "invalid_request", "POST a form");
        free(form);
        return;
    }
    grant = evhttp_find_header(&q, "grant_type");
    assertion = evhttp_find_header(&q, "assertion");
    if (grant == NULL || strcmp(grant, "urn:ietf:params:oauth:grant-type:jwt-bearer") != 0)
        vx_token_error(req, 400, "unsupported_grant_type", "Invalid grant_type: ");
    else if (assertion == NULL || vx_verify(assertion, &why) < 0)
        vx_token_error(req, 400, "invalid_grant", assertion == NULL ? "Missing assertion" : why);
    else {
        RAND_bytes(rnd, sizeof(rnd));
        snprintf(tok, sizeof(tok), "ya29.mock-%lu-%02x%02x%02x%02x%02x%02x%02x%02x", ++vx.issued,
                 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
        int slot = (int)(vx.issued % VX_TOKENS);
        snprintf(vx.t[slot].tok, sizeof(vx.t[slot].tok), "%s", tok);
        vx.t[slot].exp = time(NULL) + vx.expires_in;
        evbuffer_add_printf(
            evhttp_request_get_output_buffer(req),
            "{\"access_token\":\"%s\",\"expires_in\":%ld,\"token_type\":\"Bearer\"}", tok,
            vx.expires_in);
        mock_reply_json(req, 200);
    }
    evhttp_clear_headers(&q);
    free(form);
}

/* GET /mock/vertex: the counts; POST: {"expires_in": N, "token_hang": bool}. */
void
mock_admin_vertex(struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        char *text = malloc(n + 1);
        if (text == NULL)
            abort();
        evbuffer_copyout(in, text, n);
        text[n] = '\0';
        json_object *o = json_tokener_parse(n ? text : "{}"), *v;
        free(text);
        if (o != NULL && json_object_object_get_ex(o, "expires_in", &v))
            vx.expires_in = (long)json_object_get_int64(v);
        if (o != NULL && json_object_object_get_ex(o, "token_hang", &v))
            vx.hang = json_object_get_boolean(v);
        json_object_put(o);
    }
    evbuffer_add_printf(evhttp_request_get_output_buffer(req),
                        "{\"token_requests\":%lu,\"issued\":%lu,\"expires_in\":%ld,"
                        "\"token_hang\":%s}",
                        vx.requests, vx.issued, vx.expires_in, vx.hang ? "true" : "false");
    mock_reply_json(req, 200);
}

/*
 * A Vertex route's Authorization: a Bearer token this mock issued and
 * that has not expired; else 401 as Google answers. 0, or -1 once sent.
 */
int
mock_vertex_bearer(struct mock_call *c)
{
    const char *a = mock_header(c, "authorization");
    time_t now = time(NULL);
    if (a != NULL && strncmp(a, "Bearer ", 7) == 0)
        for (int i = 0; i < VX_TOKENS; i++)
            if (vx.t[i].tok[0] != '\0' && strcmp(vx.t[i].tok, a + 7) == 0 && vx.t[i].exp > now)
                return 0;
    mock_send_error(c, 401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                    NULL, NULL);
    return -1;
}
