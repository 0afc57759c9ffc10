/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwtauth.c: bearer JWTs checked against the identity providers of
 * aigw.yaml (worker). Nothing here blocks: the key sets are read from the
 * LMDB table, where the master put them, and parsed only when the table's
 * version moved and the set's bytes changed. Verified tokens are kept in a
 * small direct-mapped cache keyed by their SHA-256; an entry serves only
 * while the table version is the one it was verified under and its time
 * claims still hold, so a rotated key set or a disabled provider is seen at
 * once.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "auth.h"
#include "aigw/conf.h"
#include "shm.h"
#include "store.h"
#include "jwks.h"
#include "jwtauth.h"

#define CACHE_SLOTS 64

/* One provider's key set as last parsed, and the bytes it came from. */
struct pset {
    struct jwt_keyset *ks;
    char *raw;
    size_t rawlen;
};

struct centry {
    uint8_t tokhash[32];
    uint64_t version;
    int used;
    int64_t exp, nbf, leeway; /* seconds; nbf 0: none */
    struct jwt_identity id;
};

struct jwtauth {
    const struct conf *conf;
    struct shm *shm;  /* where unknown kids are counted for the master */
    uint64_t version; /* the table version the sets were read at */
    int loaded;
    struct pset sets[CONF_MAX_JWT];
    struct centry cache[CACHE_SLOTS];
};

struct jwtauth *
jwtauth_new(const struct conf *c, struct shm *shm)
{
    struct jwtauth *ja = calloc(1, sizeof(*ja));
    if (ja != NULL) {
        ja->conf = c;
        ja->shm = shm;
    }
    return ja;
}

/*
 * A kid the provider's set lacks: tell the master (jwksfetch.c), which
 * fetches the set again at once, at most once per refetch_interval.
 */
static void
note_unknown_kid(struct jwtauth *ja, const struct conf_jwt_provider *p)
{
    if (ja->shm == NULL || (p->jwks_url[0] == '\0' && !p->discovery))
        return;
    struct shm_slot *s = shm_slot(ja->shm, SHM_KIND_JWKS, p->name, NULL);
    if (s != NULL)
        atomic_fetch_add_explicit(&s->c[SHM_JWKS_UNKNOWN_KID], 1, memory_order_relaxed);
}

void
jwtauth_free(struct jwtauth *ja)
{
    if (ja == NULL)
        return;
    for (int i = 0; i < CONF_MAX_JWT; i++) {
        jwt_keyset_free(ja->sets[i].ks);
        free(ja->sets[i].raw);
    }
    free(ja);
}

/* Re-read one provider's set from the table when its bytes changed (inside a read). */
static void
refresh_set(struct jwtauth *ja, struct store *s, int i)
{
    struct pset *p = &ja->sets[i];
    char name[96], why[128];
    const void *data;
    size_t len;
    jwks_blob_name(&ja->conf->jwt[i], name, sizeof(name));
    if (store_blob_get(s, name, &data, &len) != STORE_OK) {
        jwt_keyset_free(p->ks);
        free(p->raw);
        memset(p, 0, sizeof(*p));
        return;
    }
    if (p->raw != NULL && p->rawlen == len && memcmp(p->raw, data, len) == 0)
        return;
    char *raw = malloc(len ? len : 1);
    if (raw == NULL)
        return; /* the old set serves until memory comes back */
    memcpy(raw, data, len);
    jwt_keyset_free(p->ks);
    free(p->raw);
    p->raw = raw;
    p->rawlen = len;
    /* the master checked it; a set that no longer parses verifies nothing */
    p->ks = jwt_keyset_parse(raw, len, why, sizeof(why));
}

/* The table's version, and the key sets read again when it moved. -1: no table. */
static int
refresh(struct jwtauth *ja, struct store *s, uint64_t *version)
{
    struct store_meta m;
    if (store_read_begin(s) < 0)
        return -1;
    store_meta_get(s, &m);
    if (!ja->loaded || m.version != ja->version) {
        for (int i = 0; i < ja->conf->jwt_nproviders; i++)
            refresh_set(ja, s, i);
        ja->version = m.version;
        ja->loaded = 1;
    }
    store_read_end(s);
    *version = m.version;
    return 0;
}

/* The models claim: a list of strings, or one string of names separated by spaces. */
static void
models_claim(const struct conf_jwt_provider *p, const struct jwt *t, struct jwt_identity *id)
{
    struct json_object *v;
    id->nmodels = -1;
    if (p->models_claim[0] == '\0' || !json_object_object_get_ex(t->payload, p->models_claim, &v))
        return;
    id->nmodels = 0; /* present but unusable: no model */
    if (v != NULL && json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v) && id->nmodels < JWT_MAX_MODELS; i++) {
            struct json_object *m = json_object_array_get_idx(v, i);
            /* a NUL inside would make the name read shorter than it was signed */
            if (m != NULL && json_object_is_type(m, json_type_string) &&
                json_object_get_string_len(m) > 0 &&
                json_object_get_string_len(m) <= JWT_CLAIM_MAX &&
                strlen(json_object_get_string(m)) == (size_t)json_object_get_string_len(m))
                snprintf(id->models[id->nmodels++], JWT_CLAIM_MAX + 1, "%s",
                         json_object_get_string(m));
        }
    } else if (v != NULL && json_object_is_type(v, json_type_string) &&
               strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v)) {
        char buf[1024], *save = NULL;
        snprintf(buf, sizeof(buf), "%s", json_object_get_string(v));
        for (char *w = strtok_r(buf, " ", &save); w != NULL && id->nmodels < JWT_MAX_MODELS;
             w = strtok_r(NULL, " ", &save))
            snprintf(id->models[id->nmodels++], JWT_CLAIM_MAX + 1, "%s", w);
    }
}

/* Verify a parsed token against its provider; 0, or -1 with *reason. */
static int
verify(struct jwtauth *ja, const struct jwt *t, const struct conf_jwt_provider **pp,
       const char **reason)
{
    const struct conf_jwt_provider *p = conf_jwt_by_issuer(ja->conf, t->iss);
    const char *auds[CONF_MAX_AUD];
    if (p == NULL) {
        *reason = "token_unknown_issuer";
        return -1;
    }
    *pp = p;
    const struct pset *set = &ja->sets[p - ja->conf->jwt];
    if (t->alg != JWT_HS256 && set->ks == NULL) {
        *reason = "token_keys_unavailable";
        note_unknown_kid(ja, p); /* no set yet: as good a reason to ask as a new kid */
        return -1;
    }
    if (jwt_verify_sig(t, set->ks, p->hs256_len ? p->hs256_secret : NULL, p->hs256_len, reason) <
        0) {
        if (strcmp(*reason, "token_unknown_kid") == 0)
            note_unknown_kid(ja, p);
        return -1;
    }
    /* only now, signed, do the claims mean anything */
    if (jwt_check_time(t, (int64_t)time(NULL), p->leeway_ms / 1000, reason) < 0)
        return -1;
    for (int i = 0; i < p->naud; i++)
        auds[i] = p->audiences[i];
    if (!jwt_aud_ok(t, auds, p->naud)) {
        *reason = "token_wrong_audience";
        return -1;
    }
    if (t->sub[0] == '\0') {
        *reason = "token_missing_sub";
        return -1;
    }
    return 0;
}

/* A cached verdict for the token, when it still holds; NULL otherwise. */
static struct centry *
cache_find(struct jwtauth *ja, const uint8_t th[32], uint64_t version, struct centry **slot)
{
    struct centry *e = &ja->cache[th[0] % CACHE_SLOTS];
    int64_t now = (int64_t)time(NULL);
    *slot = e;
    if (!e->used || e->version != version || CRYPTO_memcmp(e->tokhash, th, 32) != 0)
        return NULL;
    if (now >= e->exp + e->leeway || (e->nbf && now + e->leeway < e->nbf))
        return NULL; /* expired since: verified again, refused with its reason */
    return e;
}

int
jwtauth_check(struct jwtauth *ja, struct store *s, const char *tok, size_t len,
              struct jwt_identity *id, const char **reason)
{
    struct jwt t;
    const struct conf_jwt_provider *p = NULL;
    uint8_t th[32];
    uint64_t version;
    struct centry *slot, *hit;
    if (ja == NULL || ja->conf->jwt_nproviders == 0 || !jwt_looks_like(tok, len))
        return JWTAUTH_NOT_JWT;
    if (refresh(ja, s, &version) < 0) {
        *reason = "token_keys_unavailable";
        return JWTAUTH_REFUSED;
    }
    SHA256((const unsigned char *)tok, len, th);
    if ((hit = cache_find(ja, th, version, &slot)) != NULL) {
        memcpy(id, &hit->id, sizeof(*id));
        return JWTAUTH_OK;
    }
    if (jwt_parse(tok, len, &t, reason) < 0 || verify(ja, &t, &p, reason) < 0) {
        jwt_clear(&t);
        return JWTAUTH_REFUSED;
    }
    memset(id, 0, sizeof(*id));
    memcpy(id->iss, t.iss, sizeof(id->iss));
    memcpy(id->sub, t.sub, sizeof(id->sub));
    auth_jwt_hash(t.iss, t.sub, id->hash);
    models_claim(p, &t, id);
    memcpy(slot->tokhash, th, 32);
    slot->version = version;
    slot->used = 1;
    slot->exp = t.exp;
    slot->nbf = t.have_nbf ? t.nbf : 0;
    slot->leeway = p->leeway_ms / 1000;
    memcpy(&slot->id, id, sizeof(*id));
    jwt_clear(&t);
    *reason = NULL;
    return JWTAUTH_OK;
}

int
jwtauth_models_allow(const struct jwt_identity *id, const char *model)
{
    if (id == NULL || id->nmodels < 0)
        return 1;
    for (int i = 0; i < id->nmodels; i++)
        if (auth_glob_match(id->models[i], model))
            return 1;
    return 0;
}
