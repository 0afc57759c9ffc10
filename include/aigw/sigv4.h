/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigv4.h: AWS Signature Version 4 (HMAC-SHA256) for requests to AWS
 * services (Bedrock's bedrock-runtime): the canonical request, the string
 * to sign and the Authorization header, as AWS's SigV4 test suite has them.
 */
#ifndef AIGW_SIGV4_H
#define AIGW_SIGV4_H

#include <stddef.h>
#include <time.h>

/* Who signs for which region and service. session_token may be NULL. */
struct sigv4_cred {
    const char *access_key, *secret, *session_token;
    const char *region, *service;
};

/* One header to sign, name in any case. */
struct sigv4_hdr {
    const char *name, *value;
};

#define SIGV4_DATE_LEN 16 /* "20150830T123600Z" */
#define SIGV4_HEX_LEN 64

/* t as x-amz-date's basic ISO 8601 form (UTC) into out[SIGV4_DATE_LEN + 1]. */
void sigv4_date(time_t t, char *out);

/*
 * The canonical request (malloc'd, NULL on no memory) and, in *signed_hdrs
 * (malloc'd), the signed header list. path is the request path as sent
 * (already percent-encoded: each segment is encoded once more, as AWS does
 * for every service but S3); query the query string as sent, without '?',
 * or NULL; body_sha256 the payload's hex SHA-256.
 */
char *sigv4_canonical_request(const char *method, const char *path, const char *query,
                              const struct sigv4_hdr *hdrs, size_t nhdrs, const char *body_sha256,
                              char **signed_hdrs);

/* The hex SHA-256 of len bytes of p into out[SIGV4_HEX_LEN + 1]. */
void sigv4_sha256_hex(const void *p, size_t len, char *out);

/*
 * The Authorization header's value for a request: hdrs must hold the
 * headers to sign, among them host and x-amz-date (equal to amz_date) and,
 * with a session token, x-amz-security-token. Returns a malloc'd string,
 * NULL on no memory or a malformed amz_date.
 */
char *sigv4_authorization(const struct sigv4_cred *c, const char *method, const char *path,
                          const char *query, const struct sigv4_hdr *hdrs, size_t nhdrs,
                          const void *body, size_t body_len, const char *amz_date);

/*
 * The signature alone (hex into out[SIGV4_HEX_LEN + 1]) of a string to sign
 * for date (YYYYMMDD) under c; 0, or -1 on a failure of OpenSSL.
 */
int sigv4_signature(const struct sigv4_cred *c, const char *date, const char *string_to_sign,
                    char *out);

/*
 * The signing headers of a request to host (as the Host header sends it,
 * with a port when not the scheme's default), as "Name: value\r\n" lines
 * (malloc'd; NULL on no memory): X-Amz-Date (now), X-Amz-Security-Token
 * with a session token, and Authorization over host, x-amz-date and the
 * token, the path as sent and the body's SHA-256, as AWS's SDKs sign.
 */
char *sigv4_sign_headers(const struct sigv4_cred *c, const char *method, const char *host,
                         const char *path, const void *body, size_t body_len, time_t now);

/* s percent-encoded as one path segment (all but A-Z a-z 0-9 - _ . ~) into out; -1 when too long.
 */
int sigv4_path_segment(const char *s, char *out, size_t len);

#endif
