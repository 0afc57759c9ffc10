/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import_read.c: the bytes of an AISIX export read into struct imp, for
 * `aigwctl import` (import.c) and tests/fuzz/import_fuzzer.c. The input is
 * another system's file or etcd's answer, hostile: etcd's range answer
 * ({"kvs": [{key, value}]}, keys and values in base64) or an object
 * {etcd key: value}; each value strict JSON, valid UTF-8, bounded in size
 * and depth. What cannot be read is an error naming the key.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "aigw/errors.h"
#include "aigw/utf8.h"
#include "aigw/util.h"
#include "import.h"

#define IMPORT_MAX_VALUE (1u << 20) /* one resource */

/* Base64 (as etcd's JSON API writes keys and values) into a malloc'd buffer; NULL when bad. */
static unsigned char *
b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int w = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (w < 0) {
        free(out);
        return NULL;
    }
    for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
        w--;
    out[w] = '\0';
    *len = (size_t)w;
    return out;
}

void
import_report(struct json_object *list, const char *res, const char *field, const char *fmt,
              va_list ap)
{
    char msg[512], esc[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    struct json_object *o = json_object_new_object();
    /*
     * each is printed as part of one line, and --json's JSON text must be
     * UTF-8: a key or a member name with a line break is hostile, and a
     * name cut to fit (%.200s) may end inside a character
     */
    if (res != NULL)
        errors_escape(res, esc, sizeof(esc));
    json_object_object_add(o, "resource", res ? utf8_json_string(esc) : NULL);
    if (field != NULL)
        errors_escape(field, esc, sizeof(esc));
    json_object_object_add(o, "field", field ? utf8_json_string(esc) : NULL);
    errors_escape(msg, esc, sizeof(esc));
    json_object_object_add(o, "message", utf8_json_string(esc));
    json_object_array_add(list, o);
}

static void report(struct json_object *list, const char *res, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One {resource, field: null, message} into list (notes or errors). */
static void
report(struct json_object *list, const char *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    import_report(list, res, NULL, fmt, ap);
    va_end(ap);
}

/* A value read as bytes: UTF-8 and strict JSON, else NULL (error added, naming res). */
static struct json_object *
parse_value(struct imp *im, const char *res, const char *p, size_t len)
{
    if (len > IMPORT_MAX_VALUE) {
        report(im->errors, res, "the value is larger than %u bytes", IMPORT_MAX_VALUE);
        return NULL;
    }
    if (!utf8_valid(p, len)) {
        report(im->errors, res, "the value is not valid UTF-8");
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *v = NULL;
    if (tok != NULL && json_lexically_strict(p, len) == 0) {
        v = json_tokener_parse_ex(tok, p, (int)len);
        if (json_tokener_get_error(tok) != json_tokener_success || tok->char_offset != (int)len) {
            json_object_put(v);
            v = NULL;
        }
    }
    json_tokener_free(tok);
    if (v == NULL)
        report(im->errors, res, "the value is not JSON (nested at most 64 deep)");
    return v;
}

/*
 * One etcd key and its value into im: {prefix}/{kind}/{id} with kind
 * models, api_keys or provider_keys; other kinds are counted in others.
 */
static void
take(struct imp *im, const char *prefix, struct json_object *others, const char *key, size_t klen,
     struct json_object *value)
{
    size_t plen = strlen(prefix);
    while (plen > 0 && prefix[plen - 1] == '/')
        plen--;
    char res[320];
    if (!utf8_valid(key, klen) || strlen(key) != klen) {
        report(im->errors, NULL, "an etcd key is not valid UTF-8 (or holds NUL)");
        json_object_put(value);
        return;
    }
    const char *rest = key + plen, *slash;
    if (strncmp(key, prefix, plen) != 0 || rest[0] != '/' ||
        (slash = strchr(rest + 1, '/')) == NULL || slash == rest + 1 || slash[1] == '\0') {
        report(im->notes, NULL, "etcd key \"%.200s\" is not {prefix}/{kind}/{id}: skipped", key);
        json_object_put(value);
        return;
    }
    char kind[64];
    snprintf(kind, sizeof(kind), "%.*s", (int)(slash - rest - 1 < 63 ? slash - rest - 1 : 63),
             rest + 1);
    const char *id = slash + 1;
    snprintf(res, sizeof(res), "%s/%.200s", kind, id);
    struct json_object *into = strcmp(kind, "models") == 0          ? im->models
                               : strcmp(kind, "api_keys") == 0      ? im->keys
                               : strcmp(kind, "provider_keys") == 0 ? im->pkeys
                                                                    : NULL;
    if (into == NULL) {
        struct json_object *n = NULL;
        int c = json_object_object_get_ex(others, kind, &n) ? json_object_get_int(n) : 0;
        json_object_object_add(others, kind, json_object_new_int(c + 1));
        json_object_put(value);
        return;
    }
    if (value == NULL)
        return; /* its error is told */
    if (!json_object_is_type(value, json_type_object)) {
        report(im->errors, res, "must be a JSON object, not %s",
               json_type_to_name(json_object_get_type(value)));
        json_object_put(value);
        return;
    }
    json_object_object_add(into, id, value);
}

/* etcd's range answer ({"kvs": [{key, value}]}, base64): every pair into im. */
static void
take_kvs(struct imp *im, const char *prefix, struct json_object *others, struct json_object *kvs)
{
    for (size_t i = 0; i < json_object_array_length(kvs); i++) {
        struct json_object *kv = json_object_array_get_idx(kvs, i), *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        unsigned char *key = NULL, *val = NULL;
        json_object_object_get_ex(kv, "key", &k);
        json_object_object_get_ex(kv, "value", &v);
        if (!json_object_is_type(k, json_type_string) ||
            (key = b64_decode(json_object_get_string(k), &klen)) == NULL) {
            report(im->errors, NULL, "kvs[%zu].key: must be base64, as etcd writes it", i);
            continue;
        }
        struct json_object *value = NULL;
        char res[256];
        snprintf(res, sizeof(res), "%.200s", utf8_valid((char *)key, klen) ? (char *)key : "?");
        if (v == NULL) {
            val = (unsigned char *)strdup("");
            vlen = 0;
        } else if (!json_object_is_type(v, json_type_string) ||
                   (val = b64_decode(json_object_get_string(v), &vlen)) == NULL) {
            report(im->errors, res, "kvs[%zu].value: must be base64, as etcd writes it", i);
        }
        if (val != NULL)
            value = parse_value(im, res, (char *)val, vlen);
        take(im, prefix, others, (char *)key, klen, value);
        free(key);
        free(val);
    }
}

/* The parsed top: range answer or {etcd key: value}, into im and others. -1: err set. */
static int
take_top(struct imp *im, const char *prefix, struct json_object *top, struct json_object *others,
         char *err, size_t errlen)
{
    struct json_object *kvs = NULL;
    if (json_object_object_get_ex(top, "kvs", &kvs) ||
        json_object_object_get_ex(top, "header", NULL)) {
        if (kvs != NULL && !json_object_is_type(kvs, json_type_array)) {
            snprintf(err, errlen, "kvs must be a list");
            return -1;
        }
        if (kvs != NULL)
            take_kvs(im, prefix, others, kvs);
        return 0;
    }
    json_object_object_foreach(top, key, val)
    {
        struct json_object *v = json_object_get(val);
        if (json_object_is_type(val, json_type_string)) {
            /* a value kept as the text etcd holds */
            char res[256];
            snprintf(res, sizeof(res), "%.200s", key);
            json_object_put(v);
            v = parse_value(im, res, json_object_get_string(val),
                            (size_t)json_object_get_string_len(val));
        }
        take(im, prefix, others, key, strlen(key), v);
    }
    return 0;
}

int
import_parse(struct imp *im, const char *prefix, const char *p, size_t n, char *err, size_t errlen)
{
    struct json_object *top = NULL;
    /* the whole: a second object after the first would be left out unsaid */
    if (p != NULL && strlen(p) == n && n <= INT_MAX && utf8_valid(p, n) &&
        json_lexically_strict(p, n) == 0) {
        struct json_tokener *tok = json_tokener_new();
        top = tok ? json_tokener_parse_ex(tok, p, (int)n) : NULL;
        size_t end = tok ? json_tokener_get_parse_end(tok) : 0;
        if (tok == NULL || json_tokener_get_error(tok) != json_tokener_success ||
            end + strspn(p + end, " \t\r\n") != n) {
            json_object_put(top);
            top = NULL;
        }
        json_tokener_free(tok);
    }
    if (top == NULL || !json_object_is_type(top, json_type_object)) {
        snprintf(err, errlen,
                 "not one JSON object (valid UTF-8): give etcd's range answer "
                 "(etcdctl get --prefix P -w json) or an object {etcd key: value}");
        json_object_put(top);
        return -1;
    }
    struct json_object *others = json_object_new_object();
    int rc = take_top(im, prefix, top, others, err, errlen);
    json_object_put(top);
    if (rc == 0) {
        json_object_object_foreach(others, kind, c)
        {
            char res[128];
            snprintf(res, sizeof(res), "%.100s", kind);
            report(im->notes, res, "%d resource(s) of a kind aigw does not import: skipped",
                   json_object_get_int(c));
        }
    }
    json_object_put(others);
    return rc;
}

void
import_init(struct imp *im)
{
    memset(im, 0, sizeof(*im));
    im->models = json_object_new_object();
    im->keys = json_object_new_object();
    im->pkeys = json_object_new_object();
    im->pkeys_used = json_object_new_object();
    im->creds = json_object_new_object();
    im->cred_names = json_object_new_object();
    im->notes = json_object_new_array();
    im->errors = json_object_new_array();
}

void
import_free(struct imp *im)
{
    json_object_put(im->models);
    json_object_put(im->keys);
    json_object_put(im->pkeys);
    json_object_put(im->pkeys_used);
    json_object_put(im->creds);
    json_object_put(im->cred_names);
    json_object_put(im->notes);
    json_object_put(im->errors);
    memset(im, 0, sizeof(*im));
}
