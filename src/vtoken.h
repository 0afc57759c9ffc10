/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtoken.h: Vertex AI access tokens in the LMDB table. The master
 * (vtokenfetch.c) gets one per service-account key file and writes it as
 * a blob; a worker reads the current one in a short read transaction when
 * it builds a request, so no request ever waits on Google's token
 * endpoint.
 */
#ifndef AIGW_VTOKEN_H
#define AIGW_VTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "gsa.h"

struct store;

#define VTOKEN_NAME_MAX 96

/*
 * The blob name of the token of a key file: "vertex-token:" and 32 hex
 * digits of SHA-256 of its path (the path may be long; the name is not
 * secret).
 */
void vtoken_blob_name(const char *path, char *out, size_t len);
/* The blob's bytes: "<expiry, Unix seconds> <token>" into out; its length, or -1. */
int vtoken_encode(int64_t expiry, const char *token, char *out, size_t len);
/*
 * Decode a blob: 0 with the token (NUL-terminated, into tok) when it is
 * still valid at now (Unix seconds), 1 when it has expired, -1 when the
 * bytes are not a token blob.
 */
int vtoken_decode(const void *data, size_t len, int64_t now, char *tok, size_t toklen,
                  int64_t *expiry);
/*
 * The current token of a key file from the table (its own read
 * transaction): 0, or -1 when none is valid (never fetched yet, or
 * expired). The caller wipes tok after use.
 */
int vtoken_get(struct store *s, const char *path, char *tok, size_t toklen);

#endif
