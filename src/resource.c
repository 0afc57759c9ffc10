/*
 * resource.c: the Model and API key schemas and their binary records.
 * Validation runs wherever a resource enters aigw (resources file, and later
 * the Admin API and etcd); the record is what workers read from LMDB.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/auth.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"

#define MODEL_MAGIC 0x4d4f4431u /* "MOD1" */
#define KEY_MAGIC 0x4b455931u   /* "KEY1" */

static const char *const provider_names[PROVIDER_NPROVIDERS] = {"openai", "openai-compatible"};
static const char *const default_api_base[PROVIDER_NPROVIDERS] = {"https://api.openai.com/v1",
                                                                   NULL};

const char *
res_kind_name(enum res_kind k)
{
    return k == RES_MODEL ? "models" : "api_keys";
}

const char *
provider_name(int p)
{
    return p >= 0 && p < PROVIDER_NPROVIDERS ? provider_names[p] : "?";
}

int
provider_parse(const char *s)
{
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++)
        if (strcmp(s, provider_names[i]) == 0)
            return i;
    return -1;
}

int
res_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > RES_ID_MAX)
        return -1;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return -1;
    return 0;
}

/* Model names are what clients send: printable, no spaces, no quotes. */
static int
name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RES_NAME_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isgraph((unsigned char)*p) || *p == '"' || *p == '\\')
            return 0;
    return 1;
}

/* Validation context: the doc, its JSON path prefix, and where errors go. */
struct vctx {
    struct json_object *doc;
    const char *prefix;
    struct aigw_errors *e;
    int bad;
};

/*
 * Add an error about field (path prefix.field); node gives the line when it
 * came from YAML. Without a node, the field's own node is used when present.
 */
static void
verr(struct vctx *v, struct json_object *node, const char *field, const char *msg)
{
    if (node == NULL && field != NULL && v->doc != NULL &&
        json_object_is_type(v->doc, json_type_object))
        json_object_object_get_ex(v->doc, field, &node);
    char path[320];
    snprintf(path, sizeof(path), "%s%s%s", v->prefix, *v->prefix && field ? "." : "",
             field ? field : "");
    errors_add(v->e, node ? node : v->doc, path, "%s", msg);
    v->bad = 1;
}

/* A string field: returns it, NULL when absent; wrong type or length is an error. */
static const char *
vstring(struct vctx *v, const char *field, int required, size_t maxlen)
{
    struct json_object *o;
    if (!json_object_object_get_ex(v->doc, field, &o) || o == NULL) {
        if (required)
            verr(v, o, field, "is required");
        return NULL;
    }
    if (!json_object_is_type(o, json_type_string)) {
        verr(v, o, field, "must be a string");
        return NULL;
    }
    const char *s = json_object_get_string(o);
    if (strlen(s) > maxlen) {
        verr(v, o, field, "is too long");
        return NULL;
    }
    return s;
}

/* Reject fields the schema does not have: a typo must not pass silently. */
static void
vknown(struct vctx *v, const char *const *fields)
{
    json_object_object_foreach(v->doc, key, val)
    {
        int ok = 0;
        for (const char *const *f = fields; *f; f++)
            if (strcmp(*f, key) == 0)
                ok = 1;
        if (!ok)
            verr(v, val, key, "unknown field");
    }
}

/* A duration given as a string with a unit ("30s"). */
static void
vduration(struct vctx *v, struct json_object *obj, const char *field, const char *path)
{
    struct json_object *o;
    int64_t ms;
    if (!json_object_object_get_ex(obj, field, &o))
        return;
    if (o == NULL || !json_object_is_type(o, json_type_string) ||
        parse_duration_ms(json_object_get_string(o), &ms) < 0 || ms <= 0 || ms > 86400000)
        verr(v, o ? o : obj, path,
             "must be a duration with a unit (ms, s, m, h), such as \"30s\", up to 24h");
}

static int
validate_model(struct vctx *v)
{
    static const char *const fields[] = {"name", "provider", "model", "api_base",
                                         "api_key", "timeouts", NULL};
    static const char *const tfields[] = {"connect", "first_byte", "total", "stream_idle"};
    struct json_object *o;

    vknown(v, fields);
    const char *name = vstring(v, "name", 1, RES_NAME_MAX);
    if (name != NULL && !name_valid(name))
        verr(v, NULL, "name", "must be 1-256 printable characters without spaces or quotes");
    const char *prov = vstring(v, "provider", 1, 64);
    int p = prov ? provider_parse(prov) : -1;
    if (prov != NULL && p < 0)
        verr(v, json_object_object_get(v->doc, "provider"), "provider",
             "must be one of: openai, openai-compatible");
    const char *model = vstring(v, "model", 0, RES_NAME_MAX);
    if (model != NULL && *model == '\0')
        verr(v, NULL, "model", "must not be empty");
    const char *base = vstring(v, "api_base", p == PROVIDER_OPENAI_COMPATIBLE, 2048);
    if (base != NULL && strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        verr(v, json_object_object_get(v->doc, "api_base"), "api_base",
             "must be an http:// or https:// URL");
    vstring(v, "api_key", 0, 4096);
    if (json_object_object_get_ex(v->doc, "timeouts", &o)) {
        if (o == NULL || !json_object_is_type(o, json_type_object)) {
            verr(v, o, "timeouts", "must be a mapping");
        } else {
            json_object_object_foreach(o, key, val)
            {
                size_t i;
                char path[64];
                snprintf(path, sizeof(path), "timeouts.%s", key);
                for (i = 0; i < sizeof(tfields) / sizeof(tfields[0]); i++)
                    if (strcmp(key, tfields[i]) == 0)
                        break;
                if (i == sizeof(tfields) / sizeof(tfields[0]))
                    verr(v, val ? val : o, path, "unknown field");
                else
                    vduration(v, o, key, path);
            }
        }
    }
    return v->bad ? -1 : 0;
}

/* expires_at: RFC 3339 string or Unix seconds; returns 0 for none. */
static int64_t
expires_of(struct json_object *o)
{
    int64_t t = 0;
    if (o == NULL)
        return 0;
    if (json_object_is_type(o, json_type_int))
        return json_object_get_int64(o);
    if (json_object_is_type(o, json_type_string) && parse_rfc3339(json_object_get_string(o), &t) == 0)
        return t;
    return -1;
}

static int
validate_key(struct vctx *v)
{
    static const char *const fields[] = {"name", "key", "key_sha256", "allowed_models",
                                         "expires_at", "disabled", NULL};
    struct json_object *o;

    vknown(v, fields);
    const char *name = vstring(v, "name", 1, RES_NAME_MAX);
    if (name != NULL && !name_valid(name))
        verr(v, NULL, "name", "must be 1-256 printable characters without spaces or quotes");
    const char *key = vstring(v, "key", 0, 1024);
    const char *hash = vstring(v, "key_sha256", 0, 64);
    uint8_t raw[AUTH_HASH_LEN];
    if (key != NULL && hash != NULL)
        verr(v, NULL, "key", "give key or key_sha256, not both");
    else if (key == NULL && hash == NULL && !v->bad)
        verr(v, NULL, "key", "is required (or key_sha256)");
    else if (key != NULL && strlen(key) < 8)
        verr(v, NULL, "key", "must be at least 8 characters");
    else if (hash != NULL && hex_decode(hash, raw, sizeof(raw)) < 0)
        verr(v, NULL, "key_sha256", "must be 64 hex digits (the SHA-256 of the key)");

    if (json_object_object_get_ex(v->doc, "allowed_models", &o)) {
        if (o == NULL || !json_object_is_type(o, json_type_array)) {
            verr(v, o, "allowed_models", "must be a list of model names or globs");
        } else {
            for (size_t i = 0; i < json_object_array_length(o); i++) {
                struct json_object *it = json_object_array_get_idx(o, i);
                char path[64];
                snprintf(path, sizeof(path), "allowed_models[%zu]", i);
                if (it == NULL || !json_object_is_type(it, json_type_string) ||
                    !name_valid(json_object_get_string(it)))
                    verr(v, it ? it : o, path, "must be a model name or glob");
            }
        }
    }
    if (json_object_object_get_ex(v->doc, "expires_at", &o) && o != NULL && expires_of(o) < 0)
        verr(v, o, "expires_at", "must be an RFC 3339 time (2027-01-31T00:00:00Z) or Unix seconds");
    if (json_object_object_get_ex(v->doc, "disabled", &o) &&
        (o == NULL || !json_object_is_type(o, json_type_boolean)))
        verr(v, o, "disabled", "must be true or false");
    if (v->bad)
        return -1;

    /* Normalize: only the hash is ever stored. */
    if (key != NULL) {
        char hex[2 * AUTH_HASH_LEN + 1];
        auth_key_hash(key, strlen(key), raw);
        hex_encode(raw, sizeof(raw), hex);
        json_object_object_del(v->doc, "key");
        json_object_object_add(v->doc, "key_sha256", json_object_new_string(hex));
    } else {
        char hex[2 * AUTH_HASH_LEN + 1];
        hex_encode(raw, sizeof(raw), hex); /* lowercase, so equal keys compare equal */
        json_object_object_add(v->doc, "key_sha256", json_object_new_string(hex));
    }
    return 0;
}

int
res_validate(enum res_kind k, struct json_object *doc, const char *prefix, struct aigw_errors *e)
{
    struct vctx v = {doc, prefix ? prefix : "", e, 0};
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        verr(&v, doc, NULL, "must be a mapping (JSON object)");
        return -1;
    }
    return k == RES_MODEL ? validate_model(&v) : validate_key(&v);
}

/* A growing byte buffer for records. */
struct rbuf {
    char *p;
    size_t len, cap;
};

/* Append bytes; returns the offset they start at, or -1. */
static long
rbuf_add(struct rbuf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = (b->len + n) * 2 + 64;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return (long)(b->len - n);
}

/* Append a NUL-terminated string; returns its offset. */
static uint32_t
rbuf_str(struct rbuf *b, const char *s, int *fail)
{
    long off = rbuf_add(b, s ? s : "", strlen(s ? s : "") + 1);
    if (off < 0)
        *fail = 1;
    return (uint32_t)(off < 0 ? 0 : off);
}

struct model_rec {
    uint32_t magic;
    int32_t provider;
    int64_t timeouts[4];
    uint32_t off[5]; /* id, name, upstream_model, api_base, api_key */
};

struct key_rec {
    uint32_t magic;
    int32_t disabled;
    int64_t expires_at;
    uint32_t nallowed;
    uint32_t off[3]; /* id, name, allowed patterns */
};

/* A string member of a validated doc, or dflt. */
static const char *
sget(struct json_object *doc, const char *field, const char *dflt)
{
    struct json_object *o;
    if (json_object_object_get_ex(doc, field, &o) && json_object_is_type(o, json_type_string))
        return json_object_get_string(o);
    return dflt;
}

static int
compile_model(const char *id, struct json_object *doc, struct rbuf *b)
{
    static const char *const tfields[] = {"connect", "first_byte", "total", "stream_idle"};
    struct model_rec r;
    struct json_object *t;
    int fail = 0;
    memset(&r, 0, sizeof(r));
    r.magic = MODEL_MAGIC;
    r.provider = provider_parse(sget(doc, "provider", ""));
    if (json_object_object_get_ex(doc, "timeouts", &t))
        for (int i = 0; i < 4; i++) {
            const char *s = sget(t, tfields[i], NULL);
            if (s != NULL)
                parse_duration_ms(s, &r.timeouts[i]);
        }
    rbuf_add(b, &r, sizeof(r));
    const char *name = sget(doc, "name", "");
    r.off[0] = rbuf_str(b, id, &fail);
    r.off[1] = rbuf_str(b, name, &fail);
    r.off[2] = rbuf_str(b, sget(doc, "model", name), &fail);
    /* api_base without its trailing slashes: paths are appended to it. */
    const char *base = sget(doc, "api_base", r.provider >= 0 ? default_api_base[r.provider] : "");
    size_t blen = strlen(base ? base : "");
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char *trimmed = strndup(base ? base : "", blen);
    r.off[3] = rbuf_str(b, trimmed, &fail);
    free(trimmed);
    r.off[4] = rbuf_str(b, sget(doc, "api_key", ""), &fail);
    if (fail)
        return -1;
    memcpy(b->p, &r, sizeof(r));
    return 0;
}

static int
compile_key(const char *id, struct json_object *doc, struct rbuf *b)
{
    struct key_rec r;
    struct json_object *o;
    int fail = 0;
    memset(&r, 0, sizeof(r));
    r.magic = KEY_MAGIC;
    if (json_object_object_get_ex(doc, "disabled", &o))
        r.disabled = json_object_get_boolean(o);
    if (json_object_object_get_ex(doc, "expires_at", &o))
        r.expires_at = expires_of(o);
    rbuf_add(b, &r, sizeof(r));
    r.off[0] = rbuf_str(b, id, &fail);
    r.off[1] = rbuf_str(b, sget(doc, "name", ""), &fail);
    r.off[2] = (uint32_t)b->len;
    if (json_object_object_get_ex(doc, "allowed_models", &o)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            rbuf_str(b, json_object_get_string(json_object_array_get_idx(o, i)), &fail);
            r.nallowed++;
        }
    } else {
        rbuf_str(b, "*", &fail);
        r.nallowed = 1;
    }
    if (fail)
        return -1;
    memcpy(b->p, &r, sizeof(r));
    return 0;
}

int
res_compile(enum res_kind k, const char *id, struct json_object *doc, void **rec, size_t *len)
{
    struct rbuf b = {NULL, 0, 0};
    int rv = k == RES_MODEL ? compile_model(id, doc, &b) : compile_key(id, doc, &b);
    if (rv < 0) {
        free(b.p);
        return -1;
    }
    *rec = b.p;
    *len = b.len;
    return 0;
}

int
res_index_key(enum res_kind k, struct json_object *doc, void *out, size_t outlen, size_t *len)
{
    if (k == RES_MODEL) {
        const char *name = sget(doc, "name", "");
        size_t n = strlen(name);
        if (n == 0 || n > outlen)
            return -1;
        memcpy(out, name, n);
        *len = n;
        return 0;
    }
    if (outlen < AUTH_HASH_LEN || hex_decode(sget(doc, "key_sha256", ""), out, AUTH_HASH_LEN) < 0)
        return -1;
    *len = AUTH_HASH_LEN;
    return 0;
}

/* A string at off inside rec, checked to end inside it. */
static const char *
rec_str(const void *rec, size_t len, uint32_t off)
{
    if (off >= len || memchr((const char *)rec + off, '\0', len - off) == NULL)
        return NULL;
    return (const char *)rec + off;
}

int
model_view_decode(const void *rec, size_t len, struct model_view *v)
{
    struct model_rec r;
    if (len < sizeof(r))
        return -1;
    memcpy(&r, rec, sizeof(r)); /* LMDB values are not aligned */
    if (r.magic != MODEL_MAGIC)
        return -1;
    const char **dst[] = {&v->id, &v->name, &v->upstream_model, &v->api_base, &v->api_key};
    for (int i = 0; i < 5; i++)
        if ((*dst[i] = rec_str(rec, len, r.off[i])) == NULL)
            return -1;
    v->provider = r.provider;
    v->connect_timeout_ms = r.timeouts[0];
    v->first_byte_timeout_ms = r.timeouts[1];
    v->total_timeout_ms = r.timeouts[2];
    v->stream_idle_timeout_ms = r.timeouts[3];
    return 0;
}

int
key_view_decode(const void *rec, size_t len, struct key_view *v)
{
    struct key_rec r;
    if (len < sizeof(r))
        return -1;
    memcpy(&r, rec, sizeof(r));
    if (r.magic != KEY_MAGIC)
        return -1;
    if ((v->id = rec_str(rec, len, r.off[0])) == NULL ||
        (v->name = rec_str(rec, len, r.off[1])) == NULL)
        return -1;
    v->disabled = r.disabled;
    v->expires_at = r.expires_at;
    v->nallowed = (int)r.nallowed;
    v->allowed = r.nallowed ? rec_str(rec, len, r.off[2]) : "";
    if (v->allowed == NULL)
        return -1;
    /* every pattern must lie inside the record */
    const char *p = v->allowed;
    for (uint32_t i = 0; i < r.nallowed; i++) {
        if (p >= (const char *)rec + len || memchr(p, '\0', (size_t)((const char *)rec + len - p)) == NULL)
            return -1;
        p += strlen(p) + 1;
    }
    return 0;
}
