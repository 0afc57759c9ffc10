/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gsa.h: Google service-account keys and the OAuth 2.0 JWT bearer flow
 * (RFC 7523, Google's "Using OAuth 2.0 for Server to Server Applications"):
 * a key file read and checked, the assertion signed with RS256, the token
 * request's body, and the token endpoint's answer parsed. No network: the
 * master's refresher (vtokenfetch.c) does the POST.
 */
#ifndef AIGW_GSA_H
#define AIGW_GSA_H

#include <stddef.h>
#include <stdint.h>

#define GSA_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define GSA_TOKEN_MAX 4096 /* a longer access_token is refused */
#define GSA_FILE_MAX 65536 /* a longer key file is refused unread */

struct evp_pkey_st;

/* A service-account key file, parsed; the private key is a secret. */
struct gsa_key {
    char client_email[256];
    char token_uri[1024];
    char private_key_id[128];
    struct evp_pkey_st *pkey; /* RSA */
};

/*
 * Read and check the key file at path: readable, at most GSA_FILE_MAX
 * bytes, a JSON object with type "service_account", client_email,
 * token_uri (http or https) and a private_key that parses as an RSA key.
 * 0, or -1 with err naming the file and the field ("vertex.json:
 * private_key: ..."). Nothing of the key reaches err.
 */
int gsa_key_load(const char *path, struct gsa_key *k, char *err, size_t errlen);
/* Free the key (and wipe what it held); safe on a zeroed key. */
void gsa_key_free(struct gsa_key *k);
/*
 * The signed assertion for now (Unix seconds): a compact JWS, RS256, kid
 * the private_key_id, claims iss client_email, scope GSA_SCOPE, aud
 * token_uri, iat now, exp now + 3600. malloc'd, NULL on failure.
 */
char *gsa_assertion(const struct gsa_key *k, int64_t now);
/* The token request's form body for an assertion (malloc'd). */
char *gsa_token_form(const char *assertion);
/*
 * The token endpoint's answer {"access_token", "expires_in", "token_type":
 * "Bearer"}: the token (printable, no spaces, at most GSA_TOKEN_MAX - 1
 * bytes) into tok, its lifetime in seconds into *expires_in (1..86400). 0,
 * or -1 with why (the reason, never the token).
 */
int gsa_token_parse(const char *body, size_t len, char *tok, size_t toklen, int64_t *expires_in,
                    char *why, size_t whylen);
/* base64url without padding of len bytes into out (at least 4 * ((len + 2) / 3) + 1). */
void gsa_b64url(const unsigned char *in, size_t len, char *out);

#endif
