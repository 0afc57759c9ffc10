/* auth.c: the authenticate phase's primitives: key hashing and model globs (worker, loaders). */
#include "config.h"

#include <fnmatch.h>
#include <string.h>

#include <openssl/sha.h>

#include "aigw/auth.h"
#include "aigw/resource.h"

void
auth_key_hash(const char *key, size_t len, uint8_t out[AUTH_HASH_LEN])
{
    SHA256((const unsigned char *)key, len, out);
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
