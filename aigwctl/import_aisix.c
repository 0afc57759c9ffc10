/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import_aisix.c: AISIX 0.x resources mapped to aigw's resources file.
 *
 * AISIX keeps each resource as a JSON value at {prefix}/{kind}/{id} in etcd
 * (crates/aisix-etcd/src/key.rs of github.com/api7/aisix); the shapes are
 * crates/aisix-core/src/models/{model,apikey,provider_key,rate_limit}.rs
 * (v0.9.0). A field without an equivalent in aigw is noted and left out; a
 * value of the wrong type or out of range is an error naming the resource
 * and the field, and nothing is written.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "import.h"

/* A Model's fields that have no equivalent, and why (NULL: the last). */
static const char *const model_dropped[][2] = {
    {"allowed_cidrs", "aigw has no per-Model client address allowlist"},
    {"ensemble", "aigw has no ensemble Models"},
    {"semantic", "aigw has no semantic routing"},
    {"embedding", "aigw serves chat completions and messages, not embeddings"},
    {"cost", "aigw does not price tokens"},
    {"background_model_check", "aigw has no background health checks"},
    {"cooldown", "aigw's circuit breakers are set per Model with breaker"},
    {"auto_prompt_caching", "aigw does not add cache-control markers"},
    {NULL, NULL},
};

static const char *const key_dropped[][2] = {
    {"team_id", "aigw keys have no team"},
    {"user_id", "aigw keys have no user"},
    {"user_name", "aigw keys have no user"},
    {"jwt_subject", "an aigw key is either a key or a JWT binding, not both"},
    {"jwt_provider", "an aigw key is either a key or a JWT binding, not both"},
    {"allowed_tools", "aigw has no MCP tools"},
    {"mcp_access", "aigw has no MCP servers"},
    {"mcp_rate_limits", "aigw has no MCP servers"},
    {"allowed_agents", "aigw has no A2A agents"},
    {NULL, NULL},
};

static const char *const pkey_dropped[][2] = {
    {"telemetry_tags", "aigw has no telemetry tags"},
    {"request", "aigw does not rewrite upstream requests"},
    {"response", "aigw does not rewrite upstream responses"},
    {"strip_headers", "aigw sends no client headers upstream to strip"},
    {"tls", "aigw verifies upstreams against upstream.ca_file of aigw.yaml"},
    {NULL, NULL},
};

/* A field with no equivalent, or another thing the user should know. */
static void __attribute__((format(printf, 3, 4)))
note(struct imp *im, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    import_report(im->notes, im->res, field, fmt, ap);
    va_end(ap);
}

/* A value that cannot be imported: nothing is written. */
static void __attribute__((format(printf, 3, 4)))
fail(struct imp *im, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    import_report(im->errors, im->res, field, fmt, ap);
    va_end(ap);
    im->bad = 1;
}

/*
 * A string value v of field, as aigw's resources file reads it back: NULL
 * (an error) when it is not a string, too long, empty (if required), or
 * holds a NUL or "${".
 */
static const char *
str_value(struct imp *im, struct json_object *v, const char *field, int required)
{
    if (!json_object_is_type(v, json_type_string)) {
        fail(im, field, "must be a string, not %s", json_type_to_name(json_object_get_type(v)));
        return NULL;
    }
    if (json_object_get_string_len(v) > 4096) {
        fail(im, field, "is longer than 4096 bytes");
        return NULL;
    }
    if (required && json_object_get_string_len(v) == 0) {
        fail(im, field, "must not be empty");
        return NULL;
    }
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v)) {
        fail(im, field, "holds a NUL character");
        return NULL;
    }
    /* the resources file replaces ${VAR} when it is loaded: the value would change */
    if (strstr(s, "${") != NULL) {
        fail(im, field, "holds \"${\", which aigw's resources file replaces from the environment");
        return NULL;
    }
    return s;
}

/* A string member: NULL when absent or null (then an error if required), or not a good string. */
static const char *
str(struct imp *im, struct json_object *o, const char *field, int required)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, field, &v) || v == NULL) {
        if (required)
            fail(im, field, "is required");
        return NULL;
    }
    return str_value(im, v, field, required);
}

/*
 * The whole number member key, from lo to hi, into *out: 1, or 0 when absent
 * or null (or an error, naming field).
 */
static int
num(struct imp *im, struct json_object *o, const char *key, const char *field, int64_t lo,
    int64_t hi, int64_t *out)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_int)) {
        fail(im, field, "must be a whole number, not %s",
             json_type_to_name(json_object_get_type(v)));
        return 0;
    }
    int64_t n = json_object_get_int64(v);
    /* json-c keeps a number beyond int64 as a uint64: get_int64 gives INT64_MAX */
    if (n < lo || n > hi) {
        fail(im, field, "must be from %lld to %lld in aigw", (long long)lo, (long long)hi);
        return 0;
    }
    *out = n;
    return 1;
}

/* Fields of o that are neither in known nor dropped are noted as unknown; dropped are noted. */
static void
note_fields(struct imp *im, struct json_object *o, const char *const *known,
            const char *const (*dropped)[2], const char *prefix)
{
    json_object_object_foreach(o, f, v)
    {
        char path[256];
        int k = 0;
        snprintf(path, sizeof(path), "%s%s", prefix, f);
        for (int i = 0; known[i] != NULL; i++)
            k |= strcmp(known[i], f) == 0;
        for (int i = 0; dropped != NULL && dropped[i][0] != NULL; i++)
            if (strcmp(dropped[i][0], f) == 0) {
                k = 1;
                if (v != NULL)
                    note(im, path, "no equivalent (%s): not imported", dropped[i][1]);
            }
        if (!k)
            note(im, path, "unknown field (not in AISIX 0.x): not imported");
    }
}

/* rate_limit into aigw's limits (out: the resource; limits added when any). */
static void
limits(struct imp *im, struct json_object *o, struct json_object *out)
{
    static const char *const map[][2] = {
        {"rpm", "requests_per_minute"}, {"rpd", "requests_per_day"},
        {"tpm", "tokens_per_minute"},   {"tpd", "tokens_per_day"},
        {"concurrency", "concurrency"},
    };
    static const char *const known[] = {"rpm", "rpd", "tpm", "tpd", "concurrency", NULL};
    static const char *const dropped[][2] = {
        {"rps", "aigw counts requests per UTC minute and day"},
        {"rph", "aigw counts requests per UTC minute and day"},
        {NULL, NULL},
    };
    struct json_object *rl = NULL, *lim;
    if (!json_object_object_get_ex(o, "rate_limit", &rl) || rl == NULL)
        return;
    if (!json_object_is_type(rl, json_type_object)) {
        fail(im, "rate_limit", "must be a mapping");
        return;
    }
    note_fields(im, rl, known, dropped, "rate_limit.");
    lim = json_object_new_object();
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        char field[64];
        int64_t n;
        snprintf(field, sizeof(field), "rate_limit.%s", map[i][0]);
        if (num(im, rl, map[i][0], field, 1,
                strcmp(map[i][0], "concurrency") == 0 ? 1000000 : LIMIT_MAX, &n))
            json_object_object_add(lim, map[i][1], json_object_new_int64(n));
    }
    if (json_object_object_length(lim) > 0)
        json_object_object_add(out, "limits", lim);
    else
        json_object_put(lim);
}

/* The id of the entry, when aigw takes it; else the entry is named by its name (noted). */
static void
set_id(struct imp *im, struct json_object *out, const char *id)
{
    if (res_id_valid(id) == 0)
        json_object_object_add(out, "id", json_object_new_string(id));
    else
        note(im, "id",
             "not an aigw id (1-128 of A-Z a-z 0-9 . _ -): the entry's id comes "
             "from its name");
}

/*
 * aigw's provider for AISIX's adapter (the API family) and provider (the
 * vendor). NULL (noted) when aigw has no such upstream API.
 */
static const char *
provider_of(struct imp *im, const char *adapter, const char *provider, const char *api_base)
{
    static const char *const adapters[] = {"openai", "anthropic",    "bedrock",
                                           "vertex", "azure-openai", NULL};
    int known = adapter == NULL;
    for (int i = 0; adapters[i] != NULL && !known; i++)
        known = strcmp(adapters[i], adapter) == 0;
    if (!known) {
        fail(im, "provider_key_id",
             "the provider key's adapter must be openai, anthropic, "
             "bedrock, vertex or azure-openai");
        return NULL;
    }
    if (adapter != NULL && (strcmp(adapter, "bedrock") == 0 || strcmp(adapter, "vertex") == 0)) {
        note(im, "provider_key_id", "adapter %s: aigw has no %s upstream API: Model not imported",
             adapter, adapter);
        return NULL;
    }
    const char *p = provider ? provider : "";
    if ((adapter && strcmp(adapter, "anthropic") == 0) || (!adapter && strcmp(p, "anthropic") == 0))
        return "anthropic";
    if ((adapter && strcmp(adapter, "azure-openai") == 0) ||
        (!adapter && (strcmp(p, "azure") == 0 || strcmp(p, "azure-openai") == 0)))
        return "azure-openai";
    if (!adapter && strcmp(p, "gemini") == 0)
        return "gemini";
    if (strcmp(p, "openai") == 0)
        return "openai";
    if (api_base == NULL) {
        note(im, "provider",
             "provider \"%.64s\" without api_base: AISIX finds its URL in its "
             "catalog, aigw needs api_base: Model not imported",
             p);
        return NULL;
    }
    return "openai-compatible";
}

/*
 * The aigw credential of provider key pkid for provider p: made on its
 * first use (named from the key's display_name, or its id when that is
 * absent or taken), kept in im->creds under "pkid provider" so every Model
 * of that key names the same one. A key two Models use with different
 * providers becomes one credential per provider ("NAME.provider"). Its
 * name, or NULL (failed).
 */
static const char *
credential_of(struct imp *im, const char *pkid, struct json_object *pk, const char *p,
              const char *base, const char *key)
{
    char slot[512], name[300];
    struct json_object *c, *v;
    snprintf(slot, sizeof(slot), "%.256s %s", pkid, p);
    if (json_object_object_get_ex(im->creds, slot, &c) && json_object_object_get_ex(c, "name", &v))
        return json_object_get_string(v);
    const char *dn = NULL;
    if (json_object_object_get_ex(pk, "display_name", &v) &&
        json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0)
        dn = json_object_get_string(v);
    snprintf(name, sizeof(name), "%.256s", dn ? dn : pkid);
    if (json_object_object_get_ex(im->cred_names, name, NULL))
        snprintf(name, sizeof(name), "%.256s", pkid);
    if (json_object_object_get_ex(im->cred_names, name, NULL))
        snprintf(name, sizeof(name), "%.256s.%s", dn ? dn : pkid, p);
    if (json_object_object_get_ex(im->cred_names, name, NULL)) {
        fail(im, "provider_key_id", "no free credential name for provider key \"%.128s\"", pkid);
        return NULL;
    }
    c = json_object_new_object();
    /* the credential's id is the provider key's, for the first provider it serves */
    int first = 1;
    json_object_object_foreach(im->creds, k, o)
    {
        (void)o;
        size_t n = strlen(pkid);
        first &= !(strncmp(k, pkid, n) == 0 && k[n] == ' ');
    }
    if (first && res_id_valid(pkid) == 0)
        json_object_object_add(c, "id", json_object_new_string(pkid));
    json_object_object_add(c, "name", json_object_new_string(name));
    json_object_object_add(c, "provider", json_object_new_string(p));
    if (base != NULL)
        json_object_object_add(c, "api_base", json_object_new_string(base));
    if (key != NULL && *key != '\0')
        json_object_object_add(c, "api_key", json_object_new_string(key));
    json_object_object_add(im->creds, slot, c);
    json_object_object_add(im->cred_names, name, json_object_new_string(pkid));
    return json_object_get_string(json_object_object_get(c, "name"));
}

/*
 * The credential of a Model: the provider key provider_key_id names becomes
 * an aigw credential (once, however many Models use it), which the target
 * names. 0, or -1 when the Model cannot be imported (noted or failed).
 */
static int
credential_apply(struct imp *im, struct json_object *target, const char *pkid,
                 const char *model_provider)
{
    struct json_object *pk = NULL;
    if (pkid == NULL) {
        note(im, "provider_key_id",
             "absent: a Model without an upstream (routing, ensemble) "
             "is not imported");
        return -1;
    }
    if (!json_object_object_get_ex(im->pkeys, pkid, &pk)) {
        fail(im, "provider_key_id", "names provider key \"%.128s\", which is not there", pkid);
        return -1;
    }
    json_object_object_add(im->pkeys_used, pkid, json_object_new_boolean(1));
    /* the provider key's own fields are checked (and their errors named) in aisix_pkeys() */
    struct json_object *v;
    const char *key = NULL, *base = NULL, *adapter = NULL, *provider = NULL;
    if ((json_object_object_get_ex(pk, "api_key", &v) ||
         json_object_object_get_ex(pk, "secret", &v)) &&
        json_object_is_type(v, json_type_string))
        key = json_object_get_string(v);
    if (json_object_object_get_ex(pk, "api_base", &v) && json_object_is_type(v, json_type_string))
        base = json_object_get_string(v);
    if (json_object_object_get_ex(pk, "adapter", &v) && json_object_is_type(v, json_type_string))
        adapter = json_object_get_string(v);
    if (json_object_object_get_ex(pk, "provider", &v) && json_object_is_type(v, json_type_string) &&
        json_object_get_string_len(v) > 0)
        provider = json_object_get_string(v);
    const char *p = provider_of(im, adapter, model_provider ? model_provider : provider, base);
    if (p == NULL)
        return -1;
    const char *name = credential_of(im, pkid, pk, p, base, key);
    if (name == NULL)
        return -1;
    json_object_object_add(target, "credential", json_object_new_string(name));
    return 0;
}

/* A duration in milliseconds as aigw writes it, under timeouts. */
static void
timeout(struct imp *im, struct json_object *o, const char *field, const char *to,
        struct json_object *out)
{
    int64_t ms;
    if (!num(im, o, field, field, 0, 86400000, &ms))
        return;
    if (ms == 0) {
        note(im, field, "0 (none, or the group's) has no equivalent: aigw.yaml's timeouts apply");
        return;
    }
    struct json_object *t = NULL;
    if (!json_object_object_get_ex(out, "timeouts", &t)) {
        t = json_object_new_object();
        json_object_object_add(out, "timeouts", t);
    }
    char buf[32];
    snprintf(buf, sizeof(buf), "%lldms", (long long)ms);
    json_object_object_add(t, to, json_object_new_string(buf));
}

/* One AISIX Model: the aigw Model, or NULL (not imported: noted or failed). */
static struct json_object *
model(struct imp *im, const char *id, struct json_object *m)
{
    static const char *const known[] = {
        "display_name",   "provider", "model_name", "provider_key_id", "timeout",
        "stream_timeout", "retries",  "rate_limit", "routing",         NULL};
    struct json_object *out = json_object_new_object();
    int64_t n;
    note_fields(im, m, known, model_dropped, "");
    set_id(im, out, id);
    const char *name = str(im, m, "display_name", 1);
    const char *provider = str(im, m, "provider", 0);
    const char *upstream = str(im, m, "model_name", 0);
    const char *pkid = str(im, m, "provider_key_id", 0);
    if (name != NULL)
        json_object_object_add(out, "name", json_object_new_string(name));
    if (json_object_object_get_ex(m, "routing", NULL)) {
        note(im, "routing",
             "no equivalent (an AISIX routing Model names other Models; an aigw "
             "Model lists its targets): Model not imported");
        json_object_put(out);
        return NULL;
    }
    if (num(im, m, "retries", "retries", 0, 1000, &n))
        note(im, "retries", "a one-target aigw Model has no other target to retry: not imported");
    limits(im, m, out);
    timeout(im, m, "timeout", "total", out);
    timeout(im, m, "stream_timeout", "stream_idle", out);
    if (im->bad || credential_apply(im, out, pkid, provider) < 0) {
        json_object_put(out);
        return NULL;
    }
    if (upstream != NULL)
        json_object_object_add(out, "model", json_object_new_string(upstream));
    return out;
}

/* One AISIX API key: the aigw API key, or NULL (failed). */
static struct json_object *
api_key(struct imp *im, const char *id, struct json_object *k)
{
    static const char *const known[] = {
        "key_hash", "display_name", "allowed_models", "rate_limit", "expires_at", "disabled", NULL};
    struct json_object *out = json_object_new_object(), *v = NULL;
    note_fields(im, k, known, key_dropped, "");
    set_id(im, out, id);
    const char *name = str(im, k, "display_name", 0);
    const char *hash = str(im, k, "key_hash", 1);
    if (name == NULL && !im->bad) {
        /* the id is the etcd key's: the checks of every string, as the name it becomes */
        struct json_object *idv = json_object_new_string(id);
        note(im, "display_name", "absent: the key is named after its id");
        if (str_value(im, idv, "display_name", 1) != NULL)
            name = id;
        json_object_put(idv);
    }
    if (name != NULL)
        json_object_object_add(out, "name", json_object_new_string(name));
    if (hash != NULL) {
        char lower[65];
        size_t len = strlen(hash);
        int hex = len == 64;
        for (size_t i = 0; hex && i < len; i++) {
            hex = isxdigit((unsigned char)hash[i]) != 0;
            lower[i] = (char)tolower((unsigned char)hash[i]);
        }
        if (!hex) {
            fail(im, "key_hash", "must be the SHA-256 of the key in hex (64 digits)");
        } else {
            lower[64] = '\0';
            json_object_object_add(out, "key_sha256", json_object_new_string(lower));
        }
    }
    if (!json_object_object_get_ex(k, "allowed_models", &v) || v == NULL ||
        !json_object_is_type(v, json_type_array)) {
        fail(im, "allowed_models", "must be a list of Model names");
    } else {
        struct json_object *list = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *s = json_object_array_get_idx(v, i);
            char f[64];
            snprintf(f, sizeof(f), "allowed_models[%zu]", i);
            /* the checks of every string: "${" would be replaced when aigw loads the file */
            if (str_value(im, s, f, 0) != NULL)
                json_object_array_add(list, json_object_get(s));
        }
        json_object_object_add(out, "allowed_models", list);
    }
    limits(im, k, out);
    const char *exp = str(im, k, "expires_at", 0);
    if (exp != NULL)
        json_object_object_add(out, "expires_at", json_object_new_string(exp));
    if (json_object_object_get_ex(k, "disabled", &v) && v != NULL) {
        if (!json_object_is_type(v, json_type_boolean))
            fail(im, "disabled", "must be true or false");
        else if (json_object_get_boolean(v))
            json_object_object_add(out, "disabled", json_object_new_boolean(1));
    }
    if (im->bad) {
        json_object_put(out);
        return NULL;
    }
    return out;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The member names of o sorted (etcd's order, whatever the export's): malloc'd, *n of them. */
static const char **
sorted_ids(struct json_object *o, size_t *n)
{
    size_t i = 0;
    const char **ids = calloc((size_t)json_object_object_length(o) + 1, sizeof(*ids));
    if (ids == NULL) {
        *n = 0;
        return NULL;
    }
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        ids[i++] = k;
    }
    qsort(ids, i, sizeof(*ids), cmp_str);
    *n = i;
    return ids;
}

/* Check every provider key's fields; note those without an equivalent and those unused. */
static void
pkeys_check(struct imp *im)
{
    static const char *const known[] = {"display_name", "api_key", "secret", "api_base",
                                        "provider",     "adapter", NULL};
    size_t n;
    const char **ids = sorted_ids(im->pkeys, &n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *pk = json_object_object_get(im->pkeys, ids[i]);
        snprintf(im->res, sizeof(im->res), "provider_keys/%.200s", ids[i]);
        if (!json_object_is_type(pk, json_type_object)) {
            fail(im, NULL, "must be a JSON object");
            continue;
        }
        note_fields(im, pk, known, pkey_dropped, "");
        str(im, pk, "display_name", 0);
        /* secret: the older name of api_key, which AISIX still reads */
        if (json_object_object_get_ex(pk, "secret", NULL) &&
            !json_object_object_get_ex(pk, "api_key", NULL))
            str(im, pk, "secret", 1);
        else
            str(im, pk, "api_key", 1);
        str(im, pk, "api_base", 0);
        str(im, pk, "provider", 0);
        str(im, pk, "adapter", 0);
    }
    free(ids);
}

/*
 * What aigw would say of the entry (resource.c's validator, on a copy: it
 * normalizes in place), and a name (Model) or key hash (API key) seen before.
 */
static void
aigw_check(struct imp *im, enum res_kind k, struct json_object *doc, struct json_object *seen)
{
    struct json_object *copy = NULL, *v, *prev;
    struct aigw_errors e;
    if (json_object_deep_copy(doc, &copy, NULL) != 0) {
        fail(im, NULL, "out of memory");
        return;
    }
    errors_init(&e, NULL);
    json_object_object_del(copy, "id"); /* the file's, not the entry's (as resfile.c does) */
    if (res_validate(k, copy, "", &e) < 0) {
        char *j = errors_join(&e);
        fail(im, NULL, "aigw refuses the entry: %s", j ? j : "?");
        free(j);
    }
    errors_free(&e);
    json_object_put(copy);
    const char *field = k == RES_API_KEY ? "key_sha256" : "name";
    if (json_object_object_get_ex(doc, field, &v) && v != NULL) {
        const char *s = json_object_get_string(v);
        if (json_object_object_get_ex(seen, s, &prev))
            fail(im,
                 k == RES_API_KEY ? "key_hash"
                 : k == RES_MODEL ? "display_name"
                                  : "name",
                 "the same as %s's", json_object_get_string(prev));
        else
            json_object_object_add(seen, s, json_object_new_string(im->res));
    }
}

/*
 * The resources file names an entry without an id by its name, unsafe
 * characters replaced by '-' (resfile.c's entry_id): the id it gets there,
 * into id (RES_ID_MAX + 1 bytes, or name itself); -1 when the name cannot be one (too
 * long, "." or "..").
 */
static int
name_id(const char *name, char *id)
{
    if (strlen(name) > RES_ID_MAX || name[0] == '\0')
        return -1;
    if (id != name)
        snprintf(id, RES_ID_MAX + 1, "%s", name);
    for (char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            *p = '-';
    return res_id_valid(id);
}

/*
 * Every entry of list gets an id the resources file accepts once: an entry
 * without one is left to be named by its name when that id is free, else
 * (two names that become the same id, a name that is another entry's id,
 * a name too long to be one) given a free one of its own, NAME-2, -3, ...
 */
static void
ids_settle(struct json_object *list)
{
    struct json_object *taken = json_object_new_object(), *v;
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++)
        if (json_object_object_get_ex(json_object_array_get_idx(list, i), "id", &v))
            json_object_object_add(taken, json_object_get_string(v), NULL);
    for (size_t i = 0; i < n; i++) {
        struct json_object *doc = json_object_array_get_idx(list, i);
        char id[RES_ID_MAX + 1], base[RES_ID_MAX + 1];
        if (json_object_object_get_ex(doc, "id", NULL))
            continue;
        const char *name = json_object_get_string(json_object_object_get(doc, "name"));
        if (name_id(name ? name : "", id) == 0 && !json_object_object_get_ex(taken, id, NULL)) {
            json_object_object_add(taken, id, NULL);
            continue;
        }
        /* a free one: the name's id cut to leave room for "-N" (or "imported") */
        snprintf(base, RES_ID_MAX - 11, "%s", name ? name : "");
        if (name_id(base, base) < 0)
            snprintf(base, sizeof(base), "imported");
        for (unsigned k = 2;; k++) {
            snprintf(id, sizeof(id), "%.*s-%u", RES_ID_MAX - 12, base, k);
            if (!json_object_object_get_ex(taken, id, NULL))
                break;
        }
        json_object_object_add(taken, id, NULL);
        struct json_object *with = json_object_new_object(); /* the id first, as the others */
        json_object_object_add(with, "id", json_object_new_string(id));
        json_object_object_foreach(doc, k, val)
            json_object_object_add(with, k, json_object_get(val));
        json_object_array_put_idx(list, i, with);
    }
    json_object_put(taken);
}

int
aisix_convert(struct imp *im, struct json_object *out)
{
    struct json_object *seen_models = json_object_new_object();
    struct json_object *seen_keys = json_object_new_object();
    struct json_object *seen_creds = json_object_new_object();
    struct json_object *models = json_object_new_array(), *keys = json_object_new_array();
    struct json_object *creds = json_object_new_array();
    int errors = 0;
    im->bad = 0;
    pkeys_check(im);
    errors |= im->bad;
    size_t n;
    const char **ids = sorted_ids(im->models, &n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_object_get(im->models, ids[i]);
        snprintf(im->res, sizeof(im->res), "models/%.200s", ids[i]);
        im->bad = 0;
        struct json_object *doc = NULL;
        if (!json_object_is_type(m, json_type_object))
            fail(im, NULL, "must be a JSON object");
        else if ((doc = model(im, ids[i], m)) != NULL)
            aigw_check(im, RES_MODEL, doc, seen_models);
        errors |= im->bad;
        if (doc != NULL)
            json_object_array_add(models, doc);
    }
    free(ids);
    ids = sorted_ids(im->keys, &n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *k = json_object_object_get(im->keys, ids[i]);
        snprintf(im->res, sizeof(im->res), "api_keys/%.200s", ids[i]);
        im->bad = 0;
        struct json_object *doc = NULL;
        if (!json_object_is_type(k, json_type_object))
            fail(im, NULL, "must be a JSON object");
        else if ((doc = api_key(im, ids[i], k)) != NULL)
            aigw_check(im, RES_API_KEY, doc, seen_keys);
        errors |= im->bad;
        if (doc != NULL)
            json_object_array_add(keys, doc);
    }
    free(ids);
    ids = sorted_ids(im->pkeys, &n);
    for (size_t i = 0; i < n; i++) {
        snprintf(im->res, sizeof(im->res), "provider_keys/%.200s", ids[i]);
        if (!json_object_object_get_ex(im->pkeys_used, ids[i], NULL))
            note(im, NULL, "used by no imported Model: not imported");
    }
    free(ids);
    /* the credentials the Models name, in the order they were first named */
    json_object_object_foreach(im->creds, slot, c)
    {
        (void)slot;
        snprintf(im->res, sizeof(im->res), "credentials/%.200s",
                 json_object_get_string(json_object_object_get(c, "name")));
        im->bad = 0;
        aigw_check(im, RES_CREDENTIAL, c, seen_creds);
        errors |= im->bad;
        json_object_array_add(creds, json_object_get(c));
    }
    json_object_put(seen_models);
    json_object_put(seen_keys);
    json_object_put(seen_creds);
    ids_settle(creds);
    ids_settle(models);
    ids_settle(keys);
    json_object_object_add(out, "credentials", creds);
    json_object_object_add(out, "models", models);
    json_object_object_add(out, "api_keys", keys);
    return errors ? -1 : 0;
}
