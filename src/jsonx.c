/* SPDX-License-Identifier: Apache-2.0 */
/* jsonx.c: the json-c accessors the translations share (worker). */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "jsonx.h"

struct json_object *
jx_get(struct json_object *o, const char *k)
{
    struct json_object *v = NULL;
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, k, &v))
        return NULL;
    return v;
}

const char *
jx_str(struct json_object *o, const char *k)
{
    struct json_object *v = jx_get(o, k);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t
jx_int(struct json_object *o, const char *k)
{
    struct json_object *v = jx_get(o, k);
    return v != NULL ? json_object_get_int64(v) : 0;
}

size_t
jx_len(struct json_object *a)
{
    return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

struct json_object *
jx_idx(struct json_object *a, size_t i)
{
    return i < jx_len(a) ? json_object_array_get_idx(a, i) : NULL;
}

void
jx_add_str(struct json_object *o, const char *k, const char *s)
{
    json_object_object_add(o, k, json_object_new_string(s));
}

void
jx_add_int(struct json_object *o, const char *k, int64_t n)
{
    json_object_object_add(o, k, json_object_new_int64(n));
}

/*
 * The process's one tokener, reset for each parse: a new one costs four
 * allocations (itself, its stack, its print buffer), twice per request on
 * the data plane. A parse never nests (json-c calls nothing back) and aigw
 * has no threads. Never freed: it lives as long as the process.
 */
struct json_tokener *
jx_tokener(int flags)
{
    static struct json_tokener *tok;
    if (tok == NULL && (tok = json_tokener_new()) == NULL)
        return NULL;
    json_tokener_reset(tok);
    json_tokener_set_flags(tok, flags);
    return tok;
}

struct json_object *
jx_parse(const char *s, size_t len)
{
    struct json_tokener *tok = jx_tokener(0);
    struct json_object *o;
    size_t end;
    if (tok == NULL)
        return NULL;
    o = json_tokener_parse_ex(tok, s, (int)len);
    end = o != NULL ? json_tokener_get_parse_end(tok) : len;
    while (end < len && (s[end] == ' ' || s[end] == '\t' || s[end] == '\r' || s[end] == '\n'))
        end++;
    if (end < len) { /* more text after the value */
        json_object_put(o);
        o = NULL;
    }
    return o;
}
