/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwtauth.h: a client's bearer JWT checked against the configured identity
 * providers (worker). The key sets come from the LMDB table (the master put
 * them there), parsed once per table version; a token already verified is
 * remembered (by its SHA-256) until the table changes, so a client that
 * sends one token many times pays one signature check.
 */
#ifndef AIGW_JWTAUTH_H
#define AIGW_JWTAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

struct conf;
struct store;
struct shm;
struct jwtauth;

/* What a valid token proved. */
struct jwt_identity {
    char iss[JWT_CLAIM_MAX + 1];
    char sub[JWT_CLAIM_MAX + 1];
    uint8_t hash[32]; /* the index entry of the API key bound to (iss, sub) */
    int nmodels;      /* -1: the provider takes no models claim, or the token has none */
    char models[JWT_MAX_MODELS][JWT_CLAIM_MAX + 1]; /* the claim's names or globs */
};

enum { JWTAUTH_NOT_JWT = 0, JWTAUTH_OK = 1, JWTAUTH_REFUSED = -1 };

/* shm: where unknown kids are counted for the master (NULL: nowhere). */
struct jwtauth *jwtauth_new(const struct conf *c, struct shm *shm);
void jwtauth_free(struct jwtauth *ja);
/*
 * The bearer value tok: JWTAUTH_NOT_JWT when no provider is configured or
 * it has no JWT's shape (it is then a static key); JWTAUTH_OK with id
 * filled; JWTAUTH_REFUSED with *reason a static reason code (for the access
 * log and the metrics, never the response).
 */
int jwtauth_check(struct jwtauth *ja, struct store *s, const char *tok, size_t len,
                  struct jwt_identity *id, const char **reason);
/* 1 when the identity's models claim lets it use model (no claim: 1). */
int jwtauth_models_allow(const struct jwt_identity *id, const char *model);

#endif
