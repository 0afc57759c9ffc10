/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h: API key hashing and model-name globs (the authenticate phase, and the loaders). */
#ifndef AIGW_AUTH_H
#define AIGW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_LEN 32 /* SHA-256 */

struct key_view;

/* SHA-256 of the plaintext key. */
void auth_key_hash(const char *key, size_t len, uint8_t out[AUTH_HASH_LEN]);
/*
 * The index entry of an API key bound to a JWT identity: SHA-256 of
 * "\0aigw-jwt\0" issuer "\0" subject. A static key is never this: no
 * client's key holds a NUL, and key records say which kind they are.
 */
void auth_jwt_hash(const char *iss, const char *sub, uint8_t out[AUTH_HASH_LEN]);
/* 1 when name matches the glob pattern ("*", "gpt-4*", "exact"). */
int auth_glob_match(const char *pattern, const char *name);
/* 1 when one of the key's allowed_models patterns matches model. */
int auth_key_allows(const struct key_view *k, const char *model);

#endif
