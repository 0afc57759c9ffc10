/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf_jwt.c: auth.jwt.providers of aigw.yaml, the identity providers whose
 * tokens clients may send instead of a static API key (jwtauth.c checks
 * them). A provider is an issuer, the audiences its tokens must name, and
 * its keys: a JWK Set file (the master puts it into the LMDB table, jwks.c)
 * and/or an HS256 secret (kept here; it never goes into the table).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/util.h"

/* A string field of a provider: NULL when absent; -1 in *bad when not a string of 1..max bytes. */
static const char *
pstring(struct json_object *o, const char *f, size_t max, const char *path, struct aigw_errors *e,
        int *bad)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, f, &v))
        return NULL;
    if (v == NULL || !json_object_is_type(v, json_type_string) ||
        json_object_get_string_len(v) == 0 || (size_t)json_object_get_string_len(v) > max ||
        strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
        errors_add(e, v ? v : o, path, "%s: must be a string of 1 to %zu bytes", f, max);
        *bad = 1;
        return NULL;
    }
    return json_object_get_string(v);
}

/* A duration field (leeway): dflt when absent. */
static int64_t
pduration(struct json_object *o, const char *f, int64_t dflt, int64_t max, const char *path,
          struct aigw_errors *e, int *bad)
{
    struct json_object *v;
    int64_t ms;
    if (!json_object_object_get_ex(o, f, &v))
        return dflt;
    if (v == NULL || parse_duration_ms(json_object_get_string(v), &ms) < 0 || ms < 0 || ms > max) {
        errors_add(e, v ? v : o, path, "%s: must be a duration (30s, 5m) up to %lldms", f,
                   (long long)max);
        *bad = 1;
        return dflt;
    }
    return ms;
}

/* The audiences list: strings, at most CONF_MAX_AUD. */
static void
paudiences(struct json_object *o, struct conf_jwt_provider *p, const char *path,
           struct aigw_errors *e, int *bad)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, "audiences", &v))
        return;
    if (v == NULL || !json_object_is_type(v, json_type_array) ||
        json_object_array_length(v) > CONF_MAX_AUD) {
        errors_add(e, v ? v : o, path, "audiences: must be a list of up to %d strings",
                   CONF_MAX_AUD);
        *bad = 1;
        return;
    }
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *a = json_object_array_get_idx(v, i);
        if (a == NULL || !json_object_is_type(a, json_type_string) ||
            json_object_get_string_len(a) == 0 || json_object_get_string_len(a) >= CONF_STR_MAX) {
            errors_add(e, a ? a : v, path, "audiences[%zu]: must be a non-empty string", i);
            *bad = 1;
            return;
        }
        snprintf(p->audiences[p->naud++], CONF_STR_MAX, "%s", json_object_get_string(a));
    }
}

int
conf_jwt_url_ok(const char *u)
{
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return 0;
    for (; *u; u++)
        if ((unsigned char)*u <= 0x20 || *u == 0x7f)
            return 0;
    return 1;
}

/* A provider's name: what the key set is stored under and logs name. */
static int
name_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

int
conf_jwt_parse(const struct conf *c, struct json_object *o, struct conf_jwt_provider *p,
               const char *path, struct aigw_errors *e)
{
    static const char *const fields[] = {"name",
                                         "issuer",
                                         "audiences",
                                         "jwks_file",
                                         "jwks_url",
                                         "discovery",
                                         "refresh",
                                         "refetch_interval",
                                         "hs256_secret",
                                         "leeway",
                                         "allowed_models_claim",
                                         NULL};
    struct json_object *v;
    int bad = 0;
    memset(p, 0, sizeof(*p));
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        errors_add(e, o, path, "each provider must be a mapping {name, issuer, jwks_file, ...}");
        return -1;
    }
    json_object_object_foreach(o, f, val)
    {
        int known = 0;
        for (int i = 0; fields[i] != NULL; i++)
            known |= strcmp(fields[i], f) == 0;
        if (!known) {
            errors_add(e, val ? val : o, path, "%s: unknown field", f);
            bad = 1;
        }
    }
    const char *name = pstring(o, "name", sizeof(p->name) - 1, path, e, &bad);
    const char *iss = pstring(o, "issuer", CONF_STR_MAX - 1, path, e, &bad);
    const char *file = pstring(o, "jwks_file", PATH_MAX - 1, path, e, &bad);
    const char *secret = pstring(o, "hs256_secret", CONF_STR_MAX - 1, path, e, &bad);
    const char *claim =
        pstring(o, "allowed_models_claim", sizeof(p->models_claim) - 1, path, e, &bad);
    const char *url = pstring(o, "jwks_url", CONF_STR_MAX - 1, path, e, &bad);
    p->leeway_ms = pduration(o, "leeway", 60000, 3600000, path, e, &bad);
    p->refresh_ms = pduration(o, "refresh", 300000, 86400000, path, e, &bad);
    p->refetch_ms = pduration(o, "refetch_interval", 10000, 3600000, path, e, &bad);
    if (json_object_object_get_ex(o, "discovery", &v)) {
        if (v == NULL || !json_object_is_type(v, json_type_boolean)) {
            errors_add(e, v ? v : o, path, "discovery: must be true or false");
            bad = 1;
        } else {
            p->discovery = json_object_get_boolean(v);
        }
    }
    paudiences(o, p, path, e, &bad);
    if (bad)
        return -1;
    if (name == NULL || !name_ok(name)) {
        errors_add(e, o, path, "name: required, letters, digits, '-', '_' and '.'");
        return -1;
    }
    if (iss == NULL) {
        errors_add(e, o, path, "issuer: required (the iss of its tokens)");
        return -1;
    }
    if ((file != NULL) + (url != NULL) + p->discovery > 1) {
        errors_add(e, o, path, "give one of jwks_file, jwks_url and discovery");
        return -1;
    }
    if (file == NULL && url == NULL && !p->discovery && secret == NULL) {
        errors_add(e, o, path, "give jwks_file, jwks_url, discovery or hs256_secret");
        return -1;
    }
    if (p->refresh_ms < 1000 || p->refetch_ms < 1000) {
        errors_add(e, o, path, "refresh and refetch_interval: at least 1s");
        return -1;
    }
    if (url != NULL && !conf_jwt_url_ok(url)) {
        errors_add(e, o, path,
                   "jwks_url: an http:// or https:// URL without spaces or control characters");
        return -1;
    }
    if (p->discovery && !conf_jwt_url_ok(iss)) {
        errors_add(e, o, path, "discovery: the issuer must be an http:// or https:// URL");
        return -1;
    }
    if (url != NULL)
        snprintf(p->jwks_url, sizeof(p->jwks_url), "%s", url);
    /* RFC 7518 3.2: an HS256 key is at least as long as the hash */
    if (secret != NULL && strlen(secret) < 32) {
        errors_add(e, o, path, "hs256_secret: at least 32 bytes");
        return -1;
    }
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->issuer, sizeof(p->issuer), "%s", iss);
    if (file != NULL && conf_path_resolve(c, p->jwks_file, file) < 0) {
        errors_add(e, o, path, "jwks_file: path too long");
        return -1;
    }
    if (secret != NULL) {
        p->hs256_len = strlen(secret);
        memcpy(p->hs256_secret, secret, p->hs256_len);
    }
    if (claim != NULL)
        snprintf(p->models_claim, sizeof(p->models_claim), "%s", claim);
    /* the token's iss picks its provider: two providers of one issuer would be a guess */
    for (const struct conf_jwt_provider *q = c->jwt; q < p; q++)
        if (strcmp(q->issuer, p->issuer) == 0 || strcmp(q->name, p->name) == 0) {
            errors_add(e, o, path, "%s \"%s\" is given twice",
                       strcmp(q->name, p->name) == 0 ? "name" : "issuer",
                       strcmp(q->name, p->name) == 0 ? p->name : p->issuer);
            return -1;
        }
    return 0;
}

const struct conf_jwt_provider *
conf_jwt_by_issuer(const struct conf *c, const char *iss)
{
    for (int i = 0; i < c->jwt_nproviders; i++)
        if (strcmp(c->jwt[i].issuer, iss) == 0)
            return &c->jwt[i];
    return NULL;
}
