/* SPDX-License-Identifier: Apache-2.0 */
/* reqcheck.c: src/proxy.c's request checks, without a request (see reqcheck.h). */
#include "config.h"

#include <json-c/json.h>

#include "aigw/util.h"
#include "jsonraw.h"
#include "messages.h"
#include "reqcheck.h"

/*
 * parse_body(): strict JSON, lexically checked, white space only after it,
 * an object, member names every reader reads alike (jsonraw_check_names).
 */
static struct json_object *
reqcheck_parse(const char *p, size_t n)
{
    if (n == 0 || n > 0x7fffffff || json_lexically_strict(p, n) != 0)
        return NULL;
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    for (size_t i = used; o != NULL && i < n; i++)
        if (p[i] != ' ' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') {
            json_object_put(o);
            o = NULL;
        }
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    /* what json-c read must be what a pass-through upstream reads in the bytes */
    char why[1024];
    if (o != NULL && jsonraw_check_names(p, n, why, sizeof(why)) < 0) {
        json_object_put(o);
        o = NULL;
    }
    return o;
}

/* check_fields() of an OpenAI route: 0 or -1. */
static int
reqcheck_openai(enum prov_op op, struct json_object *body, int *stream)
{
    struct json_object *o;
    if (!json_object_object_get_ex(body, "model", &o) ||
        !json_object_is_type(o, json_type_string) || json_object_get_string_len(o) == 0)
        return -1;
    *stream = 0;
    if (op != OP_EMBEDDINGS && json_object_object_get_ex(body, "stream", &o) && o != NULL) {
        if (!json_object_is_type(o, json_type_boolean))
            return -1;
        *stream = json_object_get_boolean(o);
    }
    if (op == OP_CHAT) {
        if (!json_object_object_get_ex(body, "messages", &o) ||
            !json_object_is_type(o, json_type_array) || json_object_array_length(o) == 0)
            return -1;
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!json_object_is_type(json_object_array_get_idx(o, i), json_type_object))
                return -1;
    } else if (op == OP_COMPLETIONS && !json_object_object_get_ex(body, "prompt", NULL)) {
        return -1;
    } else if (op == OP_EMBEDDINGS &&
               (!json_object_object_get_ex(body, "input", &o) || o == NULL)) {
        return -1;
    }
    return 0;
}

struct json_object *
reqcheck_body(enum dialect front, enum prov_op op, const char *p, size_t n, int *stream)
{
    struct json_object *body = reqcheck_parse(p, n), *o;
    char err[512];
    const char *param = NULL;
    int rc;
    *stream = 0;
    if (body == NULL)
        return NULL;
    if (front == DIALECT_ANTHROPIC) {
        rc = msg_check(body, op == OP_COUNT_TOKENS, err, sizeof(err), &param);
        *stream = rc == 0 && op == OP_CHAT && json_object_object_get_ex(body, "stream", &o) &&
                  json_object_get_boolean(o);
    } else {
        rc = reqcheck_openai(op, body, stream);
    }
    if (rc < 0) {
        json_object_put(body);
        return NULL;
    }
    return body;
}
