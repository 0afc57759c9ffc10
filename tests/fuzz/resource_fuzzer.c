/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resource_fuzzer.c: an Admin API body (or an etcd value) through the
 * resource schema (src/resource.c): validation, normalization, the binary
 * record and its decoding.
 *
 * The body is read as src/admin.c reads one (strict JSON, the lexical
 * check, one whole object) and validated as a Model or an API key (the
 * first byte). What it accepts must stay accepted on its way: the
 * normalized document, written as admin.c writes it to etcd and read back
 * as src/etcdsync.c reads a value, validates again on every node and
 * compiles to the same record; a record decodes; its strings (names, URLs,
 * keys, versions that become headers) hold no CR or LF; its index key is
 * made.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "fuzz.h"

/* admin.c's body_object(): one strict JSON object, nothing after it. */
static struct json_object *
rf_admin_body(const char *p, size_t n)
{
    if (n > 0x7fffffff || json_lexically_strict(p, n) != 0)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    int complete =
        json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == n;
    json_tokener_free(tok);
    if (o == NULL || !complete || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* etcdsync.c's parse_value(): json-c's default parse of the whole value. */
static struct json_object *
rf_etcd_value(const char *p, size_t n)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    int complete =
        json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == n;
    json_tokener_free(tok);
    if (!complete) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* A string of a record must not carry a line break into a header, URL or log. */
static void
rf_clean(const char *what, const char *s)
{
    FUZZ_ASSERT(s != NULL && strpbrk(s, "\r\n") == NULL, "%s holds CR or LF", what);
}

/* Decode a record and look at it. */
static void
rf_decode(enum res_kind k, const void *rec, size_t len)
{
    if (k == RES_MODEL) {
        struct model_view v;
        FUZZ_ASSERT(model_view_decode(rec, len, &v) == 0, "a compiled model does not decode");
        rf_clean("the name", v.name);
        for (int i = 0; i < v.ntargets; i++) {
            rf_clean("a target's name", v.t[i].name);
            rf_clean("a target's model", v.t[i].upstream_model);
            rf_clean("a target's api_base", v.t[i].api_base);
            rf_clean("a target's api_key", v.t[i].api_key);
            rf_clean("a target's api_version", v.t[i].api_version);
        }
        for (int i = 0; i < v.ntiers; i++)
            for (uint32_t j = 0; j < v.tiers[i].period; j++)
                FUZZ_ASSERT(v.tiers[i].seq[j] < v.ntargets, "a tier names no target");
    } else {
        struct key_view v;
        FUZZ_ASSERT(key_view_decode(rec, len, &v) == 0, "a compiled key does not decode");
        rf_clean("the name", v.name);
    }
}

/* Validate and compile doc: its record (malloc'd), or NULL when it is refused. */
static void *
rf_compile(enum res_kind k, struct json_object *doc, size_t *len)
{
    struct aigw_errors e;
    void *rec = NULL;
    errors_init(&e, NULL);
    int rc = res_validate(k, doc, "", &e);
    FUZZ_ASSERT((rc < 0) == (e.n > 0), "validation said %d with %d errors", rc, e.n);
    errors_free(&e);
    if (rc < 0)
        return NULL;
    FUZZ_ASSERT(res_compile(k, "fuzz-id", doc, &rec, len) == 0,
                "a valid document does not compile");
    return rec;
}

/* One input: the first byte picks the kind, the rest is the body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    enum res_kind k = data[0] & 1 ? RES_API_KEY : RES_MODEL;
    struct json_object *doc = rf_admin_body((const char *)data + 1, size - 1), *again = NULL;
    size_t len, len2, ilen;
    uint8_t idx[512];
    if (doc == NULL)
        return 0;
    void *rec = rf_compile(k, doc, &len), *rec2 = NULL;
    if (rec == NULL)
        goto done;
    rf_decode(k, rec, len);
    FUZZ_ASSERT(res_index_key(k, doc, idx, sizeof(idx), &ilen) == 0, "no index key");
    /* as admin.c puts it into etcd, and as every node reads it back */
    const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    again = rf_etcd_value(json, strlen(json));
    FUZZ_ASSERT(again != NULL, "the stored value is not JSON: %s", json);
    rec2 = rf_compile(k, again, &len2);
    FUZZ_ASSERT(rec2 != NULL, "the stored value is refused when read back: %s", json);
    FUZZ_ASSERT(len == len2 && memcmp(rec, rec2, len) == 0, "read back, it compiles differently");
done:
    free(rec);
    free(rec2);
    json_object_put(again);
    json_object_put(doc);
    return 0;
}
