/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resource.c: the Model, API key and credential schemas and their binary
 * records.
 * Validation runs wherever a resource enters aigw (resources file, and later
 * the Admin API and etcd); the record is what workers read from LMDB.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "auth.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "provider.h"
#include "resfields.h"
#include "uhttp_url.h"

#define MODEL_MAGIC 0x4d4f4433u  /* "MOD3" */
#define KEY_MAGIC 0x4b455933u    /* "KEY3" */
#define CRED_MAGIC 0x43524431u   /* "CRD1" */
#define TARGET_CRED_MISSING 0x1u /* target_rec.flags: no credential of its name */
#define TARGET_CRED_UNFIT 0x2u   /* its model cannot be a URL path segment of that provider */

const char *
res_kind_name(enum res_kind k)
{
    return k == RES_MODEL ? "models" : k == RES_API_KEY ? "api_keys" : "credentials";
}

int
res_kind_of(const char *name)
{
    for (int k = 0; k < RES_NKINDS; k++)
        if (strcmp(name, res_kind_name((enum res_kind)k)) == 0)
            return k;
    return -1;
}

/*
 * An id is a path segment of the Admin API and of etcd keys: "." and ".."
 * would name the folder or its parent there (and clients normalize them
 * away), so they are refused beside anything outside the charset.
 */
int
res_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > RES_ID_MAX || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
        return -1;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return -1;
    return 0;
}

/* Does s have a control byte (below 0x20, or DEL)? Such bytes end or split a header. */
static int
has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* Can s be a segment of a URL's path as it is (Azure deployments, Gemini models)? */
static int
path_segment_ok(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
           strlen(s);
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

/* A string member of a validated doc, or dflt. */
static const char *
sget(struct json_object *doc, const char *field, const char *dflt)
{
    struct json_object *o;
    if (json_object_object_get_ex(doc, field, &o) && json_object_is_type(o, json_type_string))
        return json_object_get_string(o);
    return dflt;
}

/* An integer member of a validated doc, or dflt. */
static int64_t
iget(struct json_object *doc, const char *field, int64_t dflt)
{
    struct json_object *o;
    if (doc != NULL && json_object_object_get_ex(doc, field, &o) &&
        json_object_is_type(o, json_type_int))
        return json_object_get_int64(o);
    return dflt;
}

/* A fallback_on status: 429 or a 5xx. Sets its bit; 0, or -1. */
static int
fallback_code(long code, uint32_t *bits, uint64_t five[2])
{
    if (code == 429) {
        if (bits != NULL)
            *bits |= FALLBACK_429;
        return 0;
    }
    if (code < 500 || code > 599)
        return -1;
    if (five != NULL)
        five[(code - 500) / 64] |= 1ull << ((code - 500) % 64);
    return 0;
}

/* A fallback_on word: "connect_error", "timeout" or a status in digits. */
static int
fallback_word(const char *s, uint32_t *bits, uint64_t five[2])
{
    char *end;
    if (strcmp(s, "connect_error") == 0 || strcmp(s, "timeout") == 0) {
        if (bits != NULL)
            *bits |= s[0] == 'c' ? FALLBACK_CONNECT : FALLBACK_TIMEOUT;
        return 0;
    }
    long code = strtol(s, &end, 10);
    return *s == '\0' || *end != '\0' ? -1 : fallback_code(code, bits, five);
}

/*
 * One fallback_on item: "connect_error", "timeout", 429 or a 5xx status, as
 * a number or a string. Sets the class bit or the status bit. 0, or -1.
 */
static int
fallback_parse(struct json_object *it, uint32_t *bits, uint64_t five[2])
{
    if (it != NULL && json_object_is_type(it, json_type_int))
        return fallback_code((long)json_object_get_int64(it), bits, five);
    if (it != NULL && json_object_is_type(it, json_type_string))
        return fallback_word(json_object_get_string(it), bits, five);
    return -1;
}

/* The default fallback_on (resfields.c): its items joined by commas. */
static void
fallback_default(uint32_t *bits, uint64_t five[2])
{
    char word[32];
    for (const char *s = res_field("fallback_on")->def; *s != '\0';) {
        size_t n = strcspn(s, ",");
        snprintf(word, sizeof(word), "%.*s", (int)n, s);
        fallback_word(word, bits, five);
        s += n + (s[n] == ',');
    }
}

int
model_falls_back_on(const struct model_view *v, long status)
{
    if (status == 429)
        return (v->fallback & FALLBACK_429) != 0;
    if (status < 500 || status > 599)
        return 0;
    return (v->fallback_5xx[(status - 500) / 64] >> ((status - 500) % 64)) & 1;
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

/* Does a string anywhere in doc hold a NUL? */
static int
has_nul(struct json_object *doc)
{
    if (json_object_is_type(doc, json_type_string))
        return strlen(json_object_get_string(doc)) != (size_t)json_object_get_string_len(doc);
    if (json_object_is_type(doc, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(doc); i++)
            if (has_nul(json_object_array_get_idx(doc, i)))
                return 1;
    } else if (json_object_is_type(doc, json_type_object)) {
        json_object_object_foreach(doc, key, val)
        {
            (void)key;
            if (has_nul(val))
                return 1;
        }
    }
    return 0;
}

/*
 * Refuse, anywhere in doc, a string with a NUL ("\u0000") in it: aigw reads
 * strings as C strings, so "a\u0000b" would be checked as "a" and stored as
 * something else again. path: doc's JSON path.
 */
static void
vnul(struct vctx *v, struct json_object *doc, const char *path)
{
    char sub[320];
    if (!has_nul(doc))
        return; /* the common case, without a path built for every field */
    if (json_object_is_type(doc, json_type_string)) {
        if (strlen(json_object_get_string(doc)) != (size_t)json_object_get_string_len(doc)) {
            struct vctx at = {v->doc, path, v->e, 0};
            verr(&at, doc, NULL, "must not contain a NUL character (\\u0000)");
            v->bad = 1;
        }
    } else if (json_object_is_type(doc, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(doc); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            vnul(v, json_object_array_get_idx(doc, i), sub);
        }
    } else if (json_object_is_type(doc, json_type_object)) {
        json_object_object_foreach(doc, key, val)
        {
            snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
            vnul(v, val, sub);
        }
    }
}

/* An absolute http(s) URL to which paths are appended: libcurl's parser decides. */
static int
base_url_valid(const char *s, const char **why)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
    int ok = 0;
    *why = "must be an http:// or https:// URL";
    /* libcurl would percent-encode or take some of these; aigw sends api_base as it is. */
    if (has_ctl(s) || strchr(s, ' ') != NULL) {
        *why = "must be a URL without spaces or control characters";
        goto done;
    }
    if (u == NULL || curl_url_set(u, CURLUPART_URL, s, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
        goto done;
    if ((strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
        (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0))
        goto done;
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK || strchr(s, '?') ||
        strchr(s, '#')) {
        *why = "must have no query or fragment: aigw appends the API's path to it";
        goto done;
    }
    struct uhttp_url split;
    if (uhttp_url_split(s, &split) < 0) {
        *why = strchr(s, '@') != NULL
                   ? "must have no user information (user:password@): give the key as api_key"
                   : "must be http[s]://host[:port][/path]";
        goto done;
    }
    ok = 1;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(query);
    curl_free(frag);
    curl_url_cleanup(u);
    return ok;
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

/* A duration given as a string with a unit ("30s"), in the range of table field f. */
static void
vduration(struct vctx *v, struct json_object *obj, const char *field, const char *path,
          const struct res_field *f)
{
    struct json_object *o;
    int64_t ms;
    if (!json_object_object_get_ex(obj, field, &o))
        return;
    if (o == NULL || !json_object_is_type(o, json_type_string) ||
        parse_duration_ms(json_object_get_string(o), &ms) < 0 || ms < f->min || ms > f->max)
        verr(v, o ? o : obj, path,
             "must be a duration with a unit (ms, s, m, h), such as \"30s\", up to 24h");
}

static const char *const lim_names[LIM_N] = {"requests_per_minute", "requests_per_day",
                                             "tokens_per_minute", "tokens_per_day", "concurrency"};

const char *
lim_name(int i)
{
    return i >= 0 && i < LIM_N ? lim_names[i] : "?";
}

/* The JSON path of a member of v's object: "models[2].targets[0]" + ".field". */
static void
vpath(const struct vctx *v, const char *field, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", v->prefix, *v->prefix && field ? "." : "", field ? field : "");
}

/* A nested object (an item or a mapping inside v's object), validated with its own path. */
static struct vctx
vsub(struct vctx *v, struct json_object *obj, const char *field, char *pathbuf, size_t len)
{
    vpath(v, field, pathbuf, len);
    struct vctx sub = {obj, pathbuf, v->e, 0};
    return sub;
}

/* An integer field in [min, max]; returns dflt when absent. */
static int64_t
vint(struct vctx *v, const char *field, int64_t min, int64_t max, int64_t dflt)
{
    struct json_object *o;
    char msg[96];
    if (!json_object_object_get_ex(v->doc, field, &o))
        return dflt;
    if (o == NULL || !json_object_is_type(o, json_type_int) || json_object_get_int64(o) < min ||
        json_object_get_int64(o) > max) {
        snprintf(msg, sizeof(msg), "must be an integer from %lld to %lld", (long long)min,
                 (long long)max);
        verr(v, o, field, msg);
        return dflt;
    }
    return json_object_get_int64(o);
}

/* An integer field in the range of the table's field at path; returns dflt when absent. */
static int64_t
vint_field(struct vctx *v, const char *field, const char *path, int64_t dflt)
{
    const struct res_field *f = res_field(path);
    return vint(v, field, f->min, f->max, dflt);
}

/* A mapping field: NULL when absent; an error when it is something else. */
static struct json_object *
vmapping(struct vctx *v, const char *field)
{
    struct json_object *o;
    if (!json_object_object_get_ex(v->doc, field, &o))
        return NULL;
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        verr(v, o, field, "must be a mapping");
        return NULL;
    }
    return o;
}

/*
 * "must be one of: a, b, c" of the providers' names, or "is for a (x) and
 * b (y) targets only" of those that take an api_version: from the registry.
 */
static void
providers_msg(int versions, char *out, size_t len)
{
    int n = 0, k = 0;
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++)
        n += !versions || provider_get(i)->api_version_is != NULL;
    snprintf(out, len, "%s", versions ? "is for " : "must be one of: ");
    for (int i = 0; i < PROVIDER_NPROVIDERS; i++) {
        const struct provider *p = provider_get(i);
        size_t at = strlen(out);
        if (versions && p->api_version_is == NULL)
            continue;
        snprintf(out + at, len - at, "%s%s",
                 k == 0                   ? ""
                 : versions && k == n - 1 ? " and "
                                          : ", ",
                 p->name);
        at = strlen(out);
        if (versions)
            snprintf(out + at, len - at, " (%s)", p->api_version_is);
        k++;
    }
    if (versions)
        snprintf(out + strlen(out), len - strlen(out), " targets only");
}

/*
 * credential: the name of a credential that gives the target its provider,
 * api_base, api_key and api_version; those are then not given beside it
 * (two sources of one secret would leave a reader guessing which is used).
 * 1 when the target names one.
 */
static int
validate_credential_ref(struct vctx *v)
{
    static const char *const theirs[] = {"api_key",
                                         "provider",
                                         "api_base",
                                         "api_version",
                                         "region",
                                         "aws_access_key_id",
                                         "aws_secret_access_key",
                                         "aws_session_token"};
    char msg[512];
    const char *cred = vstring(v, "credential", 0, RES_NAME_MAX);
    if (cred == NULL)
        return json_object_object_get_ex(v->doc, "credential", NULL);
    if (!name_valid(cred))
        verr(v, NULL, "credential",
             "must be the name of a credential (1-256 printable characters without spaces)");
    for (size_t i = 0; i < sizeof(theirs) / sizeof(theirs[0]); i++)
        if (json_object_object_get_ex(v->doc, theirs[i], NULL)) {
            snprintf(msg, sizeof(msg),
                     i == 0 ? "give either api_key or credential, not both (credential %.256s "
                              "holds the key)"
                            : "comes from credential %.256s: give it there, not beside credential",
                     cred);
            verr(v, NULL, theirs[i], msg);
        }
    const char *model = vstring(v, "model", 0, RES_NAME_MAX);
    if (model != NULL && *model == '\0')
        verr(v, NULL, "model", "must not be empty");
    else if (model != NULL && has_ctl(model))
        verr(v, NULL, "model", "must not contain control characters");
    vint(v, "max_tokens", 1, 1000000000, 0);
    return 1;
}

/* The fields a SigV4 provider (bedrock) takes instead of api_key. */
static const char *const aws_fields[] = {"region", "aws_access_key_id", "aws_secret_access_key",
                                         "aws_session_token"};

/*
 * region and the aws_* keys: only for a provider that signs with SigV4,
 * which needs region and both keys (the session token is optional). The
 * values go into the signature and a header: no control characters.
 */
static void
validate_aws(struct vctx *v, const struct provider *p, const char *prov)
{
    static const size_t maxlen[] = {64, 128, 128, 8192};
    char msg[256];
    for (size_t i = 0; i < sizeof(aws_fields) / sizeof(aws_fields[0]); i++) {
        int need = p != NULL && p->aws && i < 3;
        if (p != NULL && !p->aws && json_object_object_get_ex(v->doc, aws_fields[i], NULL)) {
            snprintf(msg, sizeof(msg),
                     "is for a provider that signs with AWS SigV4 (bedrock), not %.64s", prov);
            verr(v, NULL, aws_fields[i], msg);
            continue;
        }
        const char *s = vstring(v, aws_fields[i], need, maxlen[i]);
        if (s == NULL)
            continue;
        if (i == 0 &&
            (*s == '\0' || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(s)))
            verr(v, NULL, aws_fields[i], "must be an AWS region such as us-east-1");
        else if (i == 1 &&
                 (*s == '\0' || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(s)))
            verr(v, NULL, aws_fields[i], "must be an access key id such as AKIAIOSFODNN7EXAMPLE");
        else if (i > 1 && (*s == '\0' || has_ctl(s)))
            verr(v, NULL, aws_fields[i], "must not be empty or contain control characters");
    }
    if (p != NULL && p->aws && json_object_object_get_ex(v->doc, "api_key", NULL)) {
        snprintf(
            msg, sizeof(msg),
            "provider %.64s signs with aws_access_key_id and aws_secret_access_key, not api_key",
            prov);
        verr(v, NULL, "api_key", msg);
    }
}

/* provider, model, api_base, api_key: of a target, or of a model in the one-target form. */
static void
validate_upstream(struct vctx *v, const char *model_name)
{
    char msg[512];
    if (validate_credential_ref(v))
        return;
    const char *prov = vstring(v, "provider", 1, 64);
    int id = prov ? provider_parse(prov) : -1;
    const struct provider *p = provider_get(id);
    if (prov != NULL && p == NULL) {
        providers_msg(0, msg, sizeof(msg));
        verr(v, NULL, "provider", msg);
    }
    const char *model = vstring(v, "model", 0, RES_NAME_MAX);
    if (model != NULL && *model == '\0')
        verr(v, NULL, "model", "must not be empty");
    else if (model != NULL && has_ctl(model))
        verr(v, NULL, "model", "must not contain control characters");
    /*
     * Azure deployments and Gemini models are path segments of the URL; the
     * upstream model is the Model's name when model is not given.
     */
    const char *up = model != NULL ? model : model_name;
    if (up != NULL && p != NULL && p->model_in_path && !path_segment_ok(up)) {
        snprintf(msg, sizeof(msg),
                 "%s a deployment or model name for provider %s: letters, "
                 "digits, '.', '_', '-'%s",
                 model ? "must be" : "is the upstream model, so must be", prov,
                 model ? "" : " (or give model)");
        verr(v, NULL, model != NULL ? "model" : "name", msg);
    }
    const char *base = vstring(v, "api_base", p != NULL && p->api_base == NULL, 2048);
    const char *why;
    if (base != NULL && !base_url_valid(base, &why))
        verr(v, NULL, "api_base", why);
    /* The key goes into a header: a CR or LF in it would add headers of its own. */
    const char *key = vstring(v, "api_key", 0, 4096);
    if (key != NULL && has_ctl(key))
        verr(v, NULL, "api_key", "must not contain control characters (CR, LF, ...)");
    const char *ver = vstring(v, "api_version", 0, 64);
    if (ver != NULL && (p == NULL || p->api_version_is == NULL)) {
        providers_msg(1, msg, sizeof(msg));
        verr(v, NULL, "api_version", msg);
    } else if (ver != NULL &&
               (*ver == '\0' ||
                strspn(ver, "0123456789-abcdefghijklmnopqrstuvwxyz.") != strlen(ver)))
        verr(v, NULL, "api_version", "must be a version such as 2024-10-21");
    validate_aws(v, p, prov);
    vint(v, "max_tokens", 1, 1000000000, 0);
}

/* The name a target goes by: its own, or "<provider>/<model>". */
static void
target_name(struct json_object *t, int shorthand, const char *model_name, char *out, size_t len)
{
    struct json_object *o;
    /* In the one-target form t is the model itself: its "name" is the model's. */
    if (!shorthand && json_object_object_get_ex(t, "name", &o) &&
        json_object_is_type(o, json_type_string)) {
        snprintf(out, len, "%s", json_object_get_string(o));
        return;
    }
    /* a target with a credential has no provider of its own: the credential names it */
    const char *prov =
        json_object_object_get_ex(t, "provider", &o) && json_object_is_type(o, json_type_string)
            ? json_object_get_string(o)
        : json_object_object_get_ex(t, "credential", &o) && json_object_is_type(o, json_type_string)
            ? json_object_get_string(o)
            : "?";
    const char *m =
        json_object_object_get_ex(t, "model", &o) && json_object_is_type(o, json_type_string)
            ? json_object_get_string(o)
            : model_name;
    snprintf(out, len, "%s/%s", prov, m);
}

static void
validate_targets(struct vctx *v, struct json_object *list, const char *model_name)
{
    static const char *const fields[] = {"name",
                                         "provider",
                                         "model",
                                         "api_base",
                                         "api_key",
                                         "api_version",
                                         "max_tokens",
                                         "weight",
                                         "priority",
                                         "credential",
                                         "region",
                                         "aws_access_key_id",
                                         "aws_secret_access_key",
                                         "aws_session_token",
                                         NULL};
    char names[MODEL_MAX_TARGETS][RES_NAME_MAX + 1];
    size_t n = json_object_array_length(list);
    if (n == 0 || n > MODEL_MAX_TARGETS) {
        verr(v, list, "targets", "must be a list of 1 to 16 targets");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char path[320], field[32];
        struct json_object *t = json_object_array_get_idx(list, i);
        snprintf(field, sizeof(field), "targets[%zu]", i);
        struct vctx sub = vsub(v, t, field, path, sizeof(path));
        names[i][0] = '\0'; /* no name to compare when the item is not a mapping */
        if (t == NULL || !json_object_is_type(t, json_type_object)) {
            verr(v, t ? t : list, field, "must be a mapping (provider, model, api_base, ...)");
            continue;
        }
        vknown(&sub, fields);
        const char *name = vstring(&sub, "name", 0, 128);
        if (name != NULL && !name_valid(name))
            verr(&sub, NULL, "name", "must be 1-128 printable characters without spaces or quotes");
        validate_upstream(&sub, model_name);
        vint_field(&sub, "weight", "targets.weight", res_field_default("targets.weight"));
        vint_field(&sub, "priority", "targets.priority", res_field_default("targets.priority"));
        target_name(t, 0, model_name, names[i], sizeof(names[i]));
        for (size_t j = 0; j < i; j++)
            if (names[j][0] != '\0' && strcmp(names[i], names[j]) == 0) {
                char msg[400];
                snprintf(msg, sizeof(msg),
                         "two targets are named \"%.200s\"; give each a unique name", names[i]);
                verr(&sub, NULL, "name", msg);
            }
        v->bad |= sub.bad;
    }
}

static void
validate_fallback(struct vctx *v)
{
    struct json_object *o;
    if (!json_object_object_get_ex(v->doc, "fallback_on", &o))
        return;
    if (o == NULL || !json_object_is_type(o, json_type_array)) {
        verr(v, o, "fallback_on", "must be a list such as [connect_error, timeout, 429, 500, 503]");
        return;
    }
    for (size_t i = 0; i < json_object_array_length(o); i++) {
        struct json_object *it = json_object_array_get_idx(o, i);
        char path[48];
        snprintf(path, sizeof(path), "fallback_on[%zu]", i);
        if (fallback_parse(it, NULL, NULL) < 0)
            verr(v, it ? it : o, path,
                 "must be connect_error, timeout, 429 or a status from 500 to 599");
    }
}

/* A breaker duration (field of mapping b), or its default; b is valid. */
static int64_t
breaker_ms(struct json_object *b, const char *field)
{
    char path[64];
    snprintf(path, sizeof(path), "breaker.%s", field);
    int64_t ms = res_field_default(path);
    const char *s = sget(b, field, NULL);
    if (s != NULL)
        parse_duration_ms(s, &ms);
    return ms;
}

/* The retries of a validated Model: its own, or the default for its targets. */
static int
model_retries(struct json_object *doc)
{
    struct json_object *list;
    int n = 1; /* the one-target form */
    if (json_object_object_get_ex(doc, "targets", &list) &&
        json_object_is_type(list, json_type_array))
        n = (int)json_object_array_length(list);
    return (int)iget(doc, "retries", res_retries_default(n));
}

static void
validate_breaker(struct vctx *v)
{
    static const char *const fields[] = {"failures", "cooldown", "max_cooldown", NULL};
    char path[320];
    struct json_object *b = vmapping(v, "breaker");
    if (b == NULL)
        return;
    struct vctx sub = vsub(v, b, "breaker", path, sizeof(path));
    vknown(&sub, fields);
    vint_field(&sub, "failures", "breaker.failures", res_field_default("breaker.failures"));
    vduration(&sub, b, "cooldown", "cooldown", res_field("breaker.cooldown"));
    vduration(&sub, b, "max_cooldown", "max_cooldown", res_field("breaker.max_cooldown"));
    if (!sub.bad && breaker_ms(b, "max_cooldown") < breaker_ms(b, "cooldown"))
        verr(&sub, NULL, "max_cooldown", "must not be shorter than cooldown");
    v->bad |= sub.bad;
}

/* limits: the same mapping for keys and models. */
static void
validate_limits(struct vctx *v)
{
    static const char *const fields[] = {"requests_per_minute", "requests_per_day",
                                         "tokens_per_minute",   "tokens_per_day",
                                         "concurrency",         NULL};
    char path[320];
    struct json_object *l = vmapping(v, "limits");
    if (l == NULL)
        return;
    struct vctx sub = vsub(v, l, "limits", path, sizeof(path));
    vknown(&sub, fields);
    for (int i = 0; i < LIM_N; i++)
        vint(&sub, lim_names[i], 1, i == LIM_CONC ? 1000000 : LIMIT_MAX, 0);
    v->bad |= sub.bad;
}

static int
validate_model(struct vctx *v)
{
    static const char *const fields[] = {"name",
                                         "provider",
                                         "model",
                                         "api_base",
                                         "api_key",
                                         "api_version",
                                         "max_tokens",
                                         "targets",
                                         "retries",
                                         "fallback_on",
                                         "breaker",
                                         "limits",
                                         "timeouts",
                                         "credential",
                                         "region",
                                         "aws_access_key_id",
                                         "aws_secret_access_key",
                                         "aws_session_token",
                                         NULL};
    struct json_object *o;

    vknown(v, fields);
    const char *name = vstring(v, "name", 1, RES_NAME_MAX);
    if (name != NULL && !name_valid(name))
        verr(v, NULL, "name", "must be 1-256 printable characters without spaces or quotes");
    if (json_object_object_get_ex(v->doc, "targets", &o)) {
        static const char *const single[] = {"provider",          "model",
                                             "api_base",          "api_key",
                                             "api_version",       "max_tokens",
                                             "credential",        "region",
                                             "aws_access_key_id", "aws_secret_access_key",
                                             "aws_session_token"};
        for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
            if (json_object_object_get_ex(v->doc, single[i], NULL))
                verr(v, NULL, single[i], "give it in each of targets, not beside them");
        if (o == NULL || !json_object_is_type(o, json_type_array))
            verr(v, o, "targets", "must be a list of targets");
        else
            validate_targets(v, o, name ? name : "");
    } else {
        validate_upstream(v, name);
    }
    vint_field(v, "retries", "retries", model_retries(v->doc));
    validate_fallback(v);
    validate_breaker(v);
    validate_limits(v);
    if (json_object_object_get_ex(v->doc, "timeouts", &o)) {
        if (o == NULL || !json_object_is_type(o, json_type_object)) {
            verr(v, o, "timeouts", "must be a mapping");
        } else {
            json_object_object_foreach(o, key, val)
            {
                char path[64];
                snprintf(path, sizeof(path), "timeouts.%s", key);
                const struct res_field *f = res_field(path);
                if (f == NULL || f->type != RF_DURATION)
                    verr(v, val ? val : o, path, "unknown field");
                else
                    vduration(v, o, key, path, f);
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
    if (json_object_is_type(o, json_type_string) &&
        parse_rfc3339(json_object_get_string(o), &t) == 0)
        return t;
    return -1;
}

/* A printable string of 1..256 bytes without control characters (it reaches log lines). */
static int
claim_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* jwt: {issuer, subject}: the token identity this API key stands for. */
static void
validate_jwt_binding(struct vctx *v)
{
    struct json_object *o, *is, *su;
    json_object_object_get_ex(v->doc, "jwt", &o);
    if (o == NULL || !json_object_is_type(o, json_type_object)) {
        verr(v, o, "jwt", "must be a mapping {issuer, subject}");
        return;
    }
    json_object_object_foreach(o, f, val)
    {
        (void)val;
        if (strcmp(f, "issuer") != 0 && strcmp(f, "subject") != 0)
            verr(v, o, "jwt", "unknown field (issuer and subject only)");
    }
    if (!json_object_object_get_ex(o, "issuer", &is) || is == NULL ||
        !json_object_is_type(is, json_type_string) || !claim_valid(json_object_get_string(is)))
        verr(v, o, "jwt.issuer", "is required: the iss of the tokens (1-256 printable bytes)");
    if (!json_object_object_get_ex(o, "subject", &su) || su == NULL ||
        !json_object_is_type(su, json_type_string) || !claim_valid(json_object_get_string(su)))
        verr(v, o, "jwt.subject", "is required: the sub of the tokens (1-256 printable bytes)");
}

static int
validate_key(struct vctx *v)
{
    static const char *const fields[] = {
        "name",       "key",      "key_sha256", "jwt", "allowed_models",
        "expires_at", "disabled", "limits",     NULL};
    struct json_object *o;

    vknown(v, fields);
    const char *name = vstring(v, "name", 1, RES_NAME_MAX);
    if (name != NULL && !name_valid(name))
        verr(v, NULL, "name", "must be 1-256 printable characters without spaces or quotes");
    const char *key = vstring(v, "key", 0, 1024);
    const char *hash = vstring(v, "key_sha256", 0, 64);
    int jwt = json_object_object_get_ex(v->doc, "jwt", NULL);
    uint8_t raw[AUTH_HASH_LEN];
    if ((key != NULL) + (hash != NULL) + jwt > 1)
        verr(v, NULL, "key", "give one of key, key_sha256 and jwt");
    else if (jwt)
        validate_jwt_binding(v);
    else if (key == NULL && hash == NULL && !v->bad)
        verr(v, NULL, "key", "is required (or key_sha256, or jwt)");
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
    validate_limits(v);
    if (v->bad)
        return -1;

    /* Normalize: only the hash is ever stored. */
    if (jwt) {
        /* nothing: the binding is its own index entry (res_index_key) */
    } else if (key != NULL) {
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
res_normalize_key(enum res_kind k, struct json_object *doc)
{
    struct json_object *o;
    uint8_t raw[AUTH_HASH_LEN];
    char hex[2 * AUTH_HASH_LEN + 1];
    if (k != RES_API_KEY || doc == NULL || !json_object_is_type(doc, json_type_object) ||
        !json_object_object_get_ex(doc, "key", &o) || o == NULL ||
        !json_object_is_type(o, json_type_string) ||
        json_object_object_get_ex(doc, "key_sha256", NULL) ||
        json_object_object_get_ex(doc, "jwt", NULL))
        return 0;
    /* validate_key's own checks of a plain key: anything else is left to it */
    const char *key = json_object_get_string(o);
    size_t len = strlen(key);
    if (len != (size_t)json_object_get_string_len(o) || len < 8 || len > 1024)
        return 0;
    auth_key_hash(key, len, raw);
    hex_encode(raw, sizeof(raw), hex);
    json_object_object_del(doc, "key"); /* the order validate_key leaves: key_sha256 last */
    json_object_object_add(doc, "key_sha256", json_object_new_string(hex));
    return 1;
}

/*
 * A credential: a provider's endpoint and secret, defined once and named by
 * any number of targets. Its fields are a target's own (validate_upstream).
 */
static int
validate_cred(struct vctx *v)
{
    static const char *const fields[] = {"name",
                                         "provider",
                                         "api_base",
                                         "api_key",
                                         "api_version",
                                         "region",
                                         "aws_access_key_id",
                                         "aws_secret_access_key",
                                         "aws_session_token",
                                         NULL};
    vknown(v, fields);
    const char *name = vstring(v, "name", 1, RES_NAME_MAX);
    if (name != NULL && !name_valid(name))
        verr(v, NULL, "name", "must be 1-256 printable characters without spaces or quotes");
    if (!v->bad)
        validate_upstream(v, NULL);
    return v->bad ? -1 : 0;
}

int
res_validate(enum res_kind k, struct json_object *doc, const char *prefix, struct aigw_errors *e)
{
    struct vctx v = {doc, prefix ? prefix : "", e, 0};
    if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
        verr(&v, doc, NULL, "must be a mapping (JSON object)");
        return -1;
    }
    vnul(&v, doc, v.prefix);
    if (v.bad) /* the schema's checks read C strings: they would see less than was sent */
        return -1;
    return k == RES_MODEL     ? validate_model(&v)
           : k == RES_API_KEY ? validate_key(&v)
                              : validate_cred(&v);
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

/* Records are byte-packed and read with memcpy: LMDB values are not aligned. */
struct model_rec {
    uint32_t magic;
    int32_t ntargets, ntiers, retries, breaker_failures;
    uint32_t fallback;
    uint64_t fallback_5xx[2];
    int64_t timeouts[4];
    int64_t breaker_ms[2];
    int64_t limits[LIM_N];
    uint32_t off_id, off_name, off_targets, off_tiers;
};

struct target_rec {
    int32_t provider, weight, priority, max_tokens;
    uint32_t flags; /* TARGET_CRED_MISSING */
    /* name, upstream_model, api_base, api_key, api_version, credential, then aws_fields */
    uint32_t off[10];
};

struct cred_rec {
    uint32_t magic;
    int32_t provider;
    uint32_t off[9]; /* id, name, api_base, api_key, api_version, then aws_fields */
};

struct tier_rec {
    int32_t priority;
    uint32_t period, off_seq;
};

struct key_rec {
    uint32_t magic;
    int16_t disabled;
    int16_t jwt; /* bound to a JWT identity (iss, sub), not a static key */
    int64_t expires_at;
    int64_t limits[LIM_N];
    uint32_t nallowed;
    uint32_t off[3]; /* id, name, allowed patterns */
};

static void
limits_get(struct json_object *doc, int64_t *limits)
{
    struct json_object *l = NULL;
    json_object_object_get_ex(doc, "limits", &l);
    for (int i = 0; i < LIM_N; i++)
        limits[i] = iget(l, lim_names[i], 0);
}

/* api_base without its trailing slashes: paths are appended to it. */
static uint32_t
rbuf_base_str(struct rbuf *b, const char *base, int *fail)
{
    size_t blen = strlen(base ? base : "");
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char *trimmed = strndup(base ? base : "", blen);
    if (trimmed == NULL)
        *fail = 1;
    uint32_t off = rbuf_str(b, trimmed, fail);
    free(trimmed);
    return off;
}

/* A target's api_base (or its provider's) without trailing slashes. */
static uint32_t
rbuf_base(struct rbuf *b, struct json_object *t, const struct provider *p, int *fail)
{
    return rbuf_base_str(b, sget(t, "api_base", p != NULL ? p->api_base : ""), fail);
}

/*
 * A target that names a credential: provider, api_base, api_key and
 * api_version from its record (cred), as if the target gave them inline.
 * A credential the table does not hold leaves the target marked, with no
 * provider, so it is never picked to retry on and an attempt on it answers
 * credential_missing.
 */
static void
compile_cred_target(struct rbuf *b, struct target_rec *tr, struct json_object *t, const char *cname,
                    const char *upstream, res_cred_fn cred, void *arg, int *fail)
{
    const void *rec;
    size_t len;
    struct cred_view cv;
    int found = cred != NULL && cred(cname, &rec, &len, arg) == 0 &&
                cred_view_decode(rec, len, &cv) == 0 && provider_get(cv.provider) != NULL;
    /*
     * The model's validation could not know the provider: a model that is
     * no path segment for it (azure-openai, gemini) is not sent at all.
     */
    int unfit = found && provider_get(cv.provider)->model_in_path && !path_segment_ok(upstream);
    if (!found || unfit) {
        tr->flags |= found ? TARGET_CRED_UNFIT : TARGET_CRED_MISSING;
        tr->provider = -1;
        tr->off[2] = rbuf_str(b, "", fail);
        tr->off[3] = rbuf_str(b, "", fail);
        tr->off[4] = rbuf_str(b, "", fail);
        for (int j = 6; j < 10; j++)
            tr->off[j] = rbuf_str(b, "", fail);
        tr->max_tokens = (int32_t)iget(t, "max_tokens", 0);
        return;
    }
    const struct provider *p = provider_get(cv.provider);
    tr->provider = cv.provider;
    tr->off[2] = rbuf_base_str(b, cv.api_base[0] ? cv.api_base : p->api_base, fail);
    tr->off[3] = rbuf_str(b, cv.api_key, fail);
    tr->off[4] = rbuf_str(b, cv.api_version[0] ? cv.api_version : p->api_version, fail);
    tr->off[6] = rbuf_str(b, cv.aws.region, fail);
    tr->off[7] = rbuf_str(b, cv.aws.access_key_id, fail);
    tr->off[8] = rbuf_str(b, cv.aws.secret_access_key, fail);
    tr->off[9] = rbuf_str(b, cv.aws.session_token, fail);
    tr->max_tokens = (int32_t)iget(t, "max_tokens", p->max_tokens);
}

static int
cmp_desc(const void *a, const void *b)
{
    return *(const int *)b - *(const int *)a;
}

static unsigned
gcd(unsigned a, unsigned b)
{
    while (b) {
        unsigned t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * The smooth weighted round robin sequence of one tier (nginx's algorithm):
 * weights 5,1,1 give a a b a c a a, not a a a a a b c. Workers index it with
 * one shared counter, so the split holds for all of them together.
 */
static uint32_t
tier_sequence(struct rbuf *b, const int *weight, const int *prio, int n, int tier, uint32_t *period,
              int *fail)
{
    unsigned g = 0, total = 0;
    long cur[MODEL_MAX_TARGETS] = {0};
    for (int i = 0; i < n; i++)
        if (prio[i] == tier && weight[i] > 0)
            g = gcd((unsigned)weight[i], g);
    for (int i = 0; i < n; i++)
        if (prio[i] == tier && weight[i] > 0)
            total += (unsigned)weight[i] / g;
    uint32_t off = (uint32_t)b->len;
    for (unsigned k = 0; k < total; k++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (prio[i] != tier || weight[i] <= 0)
                continue;
            cur[i] += weight[i] / (long)g;
            if (best < 0 || cur[i] > cur[best])
                best = i;
        }
        cur[best] -= (long)total;
        uint8_t idx = (uint8_t)best;
        if (rbuf_add(b, &idx, 1) < 0)
            *fail = 1;
    }
    *period = total;
    return off;
}

static int
compile_model(const char *id, struct json_object *doc, res_cred_fn cred, void *arg, struct rbuf *b)
{
    static const char *const tfields[] = {"connect", "first_byte", "total", "stream_idle"};
    struct model_rec r;
    struct target_rec tr[MODEL_MAX_TARGETS];
    struct tier_rec tiers[MODEL_MAX_TARGETS];
    struct json_object *t, *list = NULL, *targets[MODEL_MAX_TARGETS];
    int weight[MODEL_MAX_TARGETS], prio[MODEL_MAX_TARGETS], order[MODEL_MAX_TARGETS];
    int fail = 0, n;
    memset(&r, 0, sizeof(r));
    memset(tr, 0, sizeof(tr));
    r.magic = MODEL_MAGIC;
    const char *name = sget(doc, "name", "");
    if (json_object_object_get_ex(doc, "targets", &list)) {
        n = (int)json_object_array_length(list);
        for (int i = 0; i < n && i < MODEL_MAX_TARGETS; i++)
            targets[i] = json_object_array_get_idx(list, i);
    } else {
        n = 1;
        targets[0] = doc; /* the one-target form */
    }
    if (n > MODEL_MAX_TARGETS)
        return -1;
    r.ntargets = n;
    r.retries = (int32_t)model_retries(doc);
    if (json_object_object_get_ex(doc, "fallback_on", &t)) {
        for (size_t i = 0; i < json_object_array_length(t); i++)
            fallback_parse(json_object_array_get_idx(t, i), &r.fallback, r.fallback_5xx);
    } else {
        fallback_default(&r.fallback, r.fallback_5xx);
    }
    if (json_object_object_get_ex(doc, "breaker", &t)) {
        r.breaker_failures = (int32_t)iget(t, "failures", res_field_default("breaker.failures"));
        r.breaker_ms[0] = breaker_ms(t, "cooldown");
        r.breaker_ms[1] = breaker_ms(t, "max_cooldown");
    }
    limits_get(doc, r.limits);
    if (json_object_object_get_ex(doc, "timeouts", &t))
        for (int i = 0; i < 4; i++) {
            const char *s = sget(t, tfields[i], NULL);
            if (s != NULL)
                parse_duration_ms(s, &r.timeouts[i]);
        }
    rbuf_add(b, &r, sizeof(r));
    r.off_id = rbuf_str(b, id, &fail);
    r.off_name = rbuf_str(b, name, &fail);
    for (int i = 0; i < n; i++) {
        char tname[RES_NAME_MAX + 1];
        const char *cname = sget(targets[i], "credential", NULL);
        tr[i].weight = weight[i] =
            (int32_t)iget(targets[i], "weight", res_field_default("targets.weight"));
        tr[i].priority = prio[i] =
            (int32_t)iget(targets[i], "priority", res_field_default("targets.priority"));
        target_name(targets[i], list == NULL, name, tname, sizeof(tname));
        tr[i].off[0] = rbuf_str(b, tname, &fail);
        tr[i].off[1] = rbuf_str(b, sget(targets[i], "model", name), &fail);
        tr[i].off[5] = rbuf_str(b, cname, &fail);
        for (int j = 0; j < 4; j++) /* "" when a credential gives them */
            tr[i].off[6 + j] = rbuf_str(b, sget(targets[i], aws_fields[j], ""), &fail);
        if (cname != NULL) {
            compile_cred_target(b, &tr[i], targets[i], cname, sget(targets[i], "model", name), cred,
                                arg, &fail);
            continue;
        }
        tr[i].provider = provider_parse(sget(targets[i], "provider", ""));
        const struct provider *p = provider_get(tr[i].provider);
        tr[i].off[2] = rbuf_base(b, targets[i], p, &fail);
        tr[i].off[3] = rbuf_str(b, sget(targets[i], "api_key", ""), &fail);
        tr[i].off[4] = rbuf_str(
            b, sget(targets[i], "api_version", p != NULL && p->api_version ? p->api_version : ""),
            &fail);
        tr[i].max_tokens = (int32_t)iget(targets[i], "max_tokens", p != NULL ? p->max_tokens : 0);
    }
    /* Tiers: the distinct priorities of targets that may be chosen, highest first. */
    int np = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < np; j++)
            seen |= order[j] == prio[i];
        if (!seen && weight[i] > 0)
            order[np++] = prio[i];
    }
    qsort(order, (size_t)np, sizeof(int), cmp_desc);
    r.ntiers = np;
    for (int k = 0; k < np; k++) {
        tiers[k].priority = order[k];
        tiers[k].off_seq = tier_sequence(b, weight, prio, n, order[k], &tiers[k].period, &fail);
    }
    r.off_targets = (uint32_t)b->len;
    if (rbuf_add(b, tr, sizeof(tr[0]) * (size_t)n) < 0)
        fail = 1;
    r.off_tiers = (uint32_t)b->len;
    if (np > 0 && rbuf_add(b, tiers, sizeof(tiers[0]) * (size_t)np) < 0)
        fail = 1;
    if (fail)
        return -1;
    memcpy(b->p, &r, sizeof(r));
    return 0;
}

static int
compile_cred(const char *id, struct json_object *doc, struct rbuf *b)
{
    struct cred_rec r;
    int fail = 0;
    memset(&r, 0, sizeof(r));
    r.magic = CRED_MAGIC;
    r.provider = provider_parse(sget(doc, "provider", ""));
    rbuf_add(b, &r, sizeof(r));
    r.off[0] = rbuf_str(b, id, &fail);
    r.off[1] = rbuf_str(b, sget(doc, "name", ""), &fail);
    r.off[2] = rbuf_base_str(b, sget(doc, "api_base", ""), &fail);
    r.off[3] = rbuf_str(b, sget(doc, "api_key", ""), &fail);
    r.off[4] = rbuf_str(b, sget(doc, "api_version", ""), &fail);
    for (int j = 0; j < 4; j++)
        r.off[5 + j] = rbuf_str(b, sget(doc, aws_fields[j], ""), &fail);
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
        r.disabled = (int16_t)json_object_get_boolean(o);
    r.jwt = json_object_object_get_ex(doc, "jwt", NULL);
    if (json_object_object_get_ex(doc, "expires_at", &o))
        r.expires_at = expires_of(o);
    limits_get(doc, r.limits);
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
    return res_compile_with(k, id, doc, NULL, NULL, rec, len);
}

int
res_compile_with(enum res_kind k, const char *id, struct json_object *doc, res_cred_fn cred,
                 void *arg, void **rec, size_t *len)
{
    struct rbuf b = {NULL, 0, 0};
    int rv = k == RES_MODEL     ? compile_model(id, doc, cred, arg, &b)
             : k == RES_API_KEY ? compile_key(id, doc, &b)
                                : compile_cred(id, doc, &b);
    if (rv < 0) {
        if (b.p != NULL)
            explicit_bzero(b.p, b.len); /* it may hold a provider secret */
        free(b.p);
        return -1;
    }
    *rec = b.p;
    *len = b.len;
    return 0;
}

void
res_model_credentials(struct json_object *doc, void (*cb)(const char *name, void *arg), void *arg)
{
    struct json_object *list;
    const char *c;
    if (!json_object_object_get_ex(doc, "targets", &list) ||
        !json_object_is_type(list, json_type_array)) {
        if ((c = sget(doc, "credential", NULL)) != NULL)
            cb(c, arg);
        return;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++)
        if ((c = sget(json_object_array_get_idx(list, i), "credential", NULL)) != NULL)
            cb(c, arg);
}

int
res_index_key(enum res_kind k, struct json_object *doc, void *out, size_t outlen, size_t *len)
{
    if (k == RES_MODEL || k == RES_CREDENTIAL) {
        const char *name = sget(doc, "name", "");
        size_t n = strlen(name);
        if (n == 0 || n > outlen)
            return -1;
        memcpy(out, name, n);
        *len = n;
        return 0;
    }
    struct json_object *j;
    if (outlen < AUTH_HASH_LEN)
        return -1;
    if (json_object_object_get_ex(doc, "jwt", &j)) {
        const char *iss = sget(j, "issuer", ""), *sub = sget(j, "subject", "");
        if (*iss == '\0' || *sub == '\0')
            return -1;
        auth_jwt_hash(iss, sub, out);
    } else if (hex_decode(sget(doc, "key_sha256", ""), out, AUTH_HASH_LEN) < 0) {
        return -1;
    }
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
    struct target_rec tr;
    struct tier_rec tier;
    if (len < sizeof(r))
        return -1;
    memcpy(&r, rec, sizeof(r));
    if (r.magic != MODEL_MAGIC || r.ntargets < 1 || r.ntargets > MODEL_MAX_TARGETS ||
        r.ntiers < 0 || r.ntiers > r.ntargets)
        return -1;
    if ((v->id = rec_str(rec, len, r.off_id)) == NULL ||
        (v->name = rec_str(rec, len, r.off_name)) == NULL)
        return -1;
    if ((size_t)r.off_targets + sizeof(tr) * (size_t)r.ntargets > len ||
        (size_t)r.off_tiers + sizeof(tier) * (size_t)r.ntiers > len)
        return -1;
    v->ntargets = r.ntargets;
    for (int i = 0; i < r.ntargets; i++) {
        struct target_view *t = &v->t[i];
        memcpy(&tr, (const char *)rec + r.off_targets + sizeof(tr) * (size_t)i, sizeof(tr));
        const char **dst[] = {&t->name,
                              &t->upstream_model,
                              &t->api_base,
                              &t->api_key,
                              &t->api_version,
                              &t->credential,
                              &t->aws.region,
                              &t->aws.access_key_id,
                              &t->aws.secret_access_key,
                              &t->aws.session_token};
        for (size_t j = 0; j < sizeof(dst) / sizeof(dst[0]); j++)
            if ((*dst[j] = rec_str(rec, len, tr.off[j])) == NULL)
                return -1;
        t->credential_missing = (tr.flags & TARGET_CRED_MISSING) ? CRED_MISSING
                                : (tr.flags & TARGET_CRED_UNFIT) ? CRED_UNFIT
                                                                 : 0;
        t->provider = tr.provider;
        t->max_tokens = tr.max_tokens;
        t->weight = tr.weight;
        t->priority = tr.priority;
    }
    v->ntiers = r.ntiers;
    for (int k = 0; k < r.ntiers; k++) {
        memcpy(&tier, (const char *)rec + r.off_tiers + sizeof(tier) * (size_t)k, sizeof(tier));
        if (tier.period == 0 || tier.off_seq > len || tier.period > len - tier.off_seq)
            return -1;
        v->tiers[k].priority = tier.priority;
        v->tiers[k].period = tier.period;
        v->tiers[k].seq = (const uint8_t *)rec + tier.off_seq;
        for (uint32_t j = 0; j < tier.period; j++)
            if (v->tiers[k].seq[j] >= r.ntargets)
                return -1;
    }
    v->retries = r.retries;
    v->fallback = r.fallback;
    memcpy(v->fallback_5xx, r.fallback_5xx, sizeof(v->fallback_5xx));
    v->breaker_failures = r.breaker_failures;
    v->breaker_cooldown_ms = r.breaker_ms[0];
    v->breaker_max_cooldown_ms = r.breaker_ms[1];
    memcpy(v->limits, r.limits, sizeof(v->limits));
    v->connect_timeout_ms = r.timeouts[0];
    v->first_byte_timeout_ms = r.timeouts[1];
    v->total_timeout_ms = r.timeouts[2];
    v->stream_idle_timeout_ms = r.timeouts[3];
    return 0;
}

int
cred_view_decode(const void *rec, size_t len, struct cred_view *v)
{
    struct cred_rec r;
    if (len < sizeof(r))
        return -1;
    memcpy(&r, rec, sizeof(r));
    if (r.magic != CRED_MAGIC)
        return -1;
    const char **dst[] = {&v->id,
                          &v->name,
                          &v->api_base,
                          &v->api_key,
                          &v->api_version,
                          &v->aws.region,
                          &v->aws.access_key_id,
                          &v->aws.secret_access_key,
                          &v->aws.session_token};
    for (size_t j = 0; j < sizeof(dst) / sizeof(dst[0]); j++)
        if ((*dst[j] = rec_str(rec, len, r.off[j])) == NULL)
            return -1;
    v->provider = r.provider;
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
    v->jwt = r.jwt;
    v->expires_at = r.expires_at;
    memcpy(v->limits, r.limits, sizeof(v->limits));
    v->nallowed = (int)r.nallowed;
    v->allowed = r.nallowed ? rec_str(rec, len, r.off[2]) : "";
    if (v->allowed == NULL)
        return -1;
    /* every pattern must lie inside the record */
    const char *p = v->allowed;
    for (uint32_t i = 0; i < r.nallowed; i++) {
        if (p >= (const char *)rec + len ||
            memchr(p, '\0', (size_t)((const char *)rec + len - p)) == NULL)
            return -1;
        p += strlen(p) + 1;
    }
    return 0;
}
