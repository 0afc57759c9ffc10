/* auth.h: API key hashing and model-name globs (the authenticate phase, and the loaders). */
#ifndef AIGW_AUTH_H
#define AIGW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_HASH_LEN 32 /* SHA-256 */

struct key_view;

/* SHA-256 of the plaintext key. */
void auth_key_hash(const char *key, size_t len, uint8_t out[AUTH_HASH_LEN]);
/* 1 when name matches the glob pattern ("*", "gpt-4*", "exact"). */
int auth_glob_match(const char *pattern, const char *name);
/* 1 when one of the key's allowed_models patterns matches model. */
int auth_key_allows(const struct key_view *k, const char *model);

#endif
