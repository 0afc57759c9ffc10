/* SPDX-License-Identifier: Apache-2.0 */
/* yamljson.c: load YAML (aigw.yaml, resources files) into json-c trees with line numbers (master). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <yaml.h>

#include "aigw/errors.h"
#include "aigw/yamljson.h"

/* A node's line is kept in json-c's userdata slot; nothing else in aigw uses it. */
static void
node_set_line(struct json_object *o, int line)
{
    if (o != NULL)
        json_object_set_userdata(o, (void *)(intptr_t)line, NULL);
}

/*
 * A negative line marks a poisoned node: a scalar whose ${VAR} was unset. Its
 * error is already reported; errors about its stand-in value are not added.
 */
int
yaml_node_line(struct json_object *o)
{
    if (o == NULL)
        return 0;
    int line = (int)(intptr_t)json_object_get_userdata(o);
    return line < 0 ? -line : line;
}

int
yaml_node_poisoned(struct json_object *o)
{
    return o != NULL && (intptr_t)json_object_get_userdata(o) < 0;
}

/*
 * Replace ${VAR} and ${VAR:-default}. Returns a malloc'd string, or NULL with
 * an error added. *changed tells whether anything was replaced.
 */
static char *
subst_env(const char *in, int line, const char *path, struct aigw_errors *e, int *changed)
{
    size_t cap = strlen(in) + 64, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    *changed = 0;
    for (const char *p = in; *p;) {
        const char *val = NULL;
        size_t vlen = 0, skip = 1;
        char name[256];
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                errors_add_line(e, line, path, "unterminated ${ in \"%s\"", in);
                free(out);
                return NULL;
            }
            const char *def = strstr(p + 2, ":-");
            size_t nlen = (def != NULL && def < end) ? (size_t)(def - p - 2) : (size_t)(end - p - 2);
            if (nlen == 0 || nlen >= sizeof(name)) {
                errors_add_line(e, line, path, "bad variable name in \"%s\"", in);
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, nlen);
            name[nlen] = '\0';
            val = getenv(name);
            if (val == NULL && def != NULL && def < end) {
                val = def + 2;
                vlen = (size_t)(end - val);
            } else if (val == NULL) {
                errors_add_line(e, line, path, "environment variable %s is not set", name);
                free(out);
                return NULL;
            } else {
                vlen = strlen(val);
            }
            skip = (size_t)(end - p) + 1;
            *changed = 1;
        } else {
            val = p;
            vlen = 1;
        }
        if (len + vlen + 1 > cap) {
            cap = (len + vlen + 1) * 2;
            char *n = realloc(out, cap);
            if (n == NULL) {
                free(out);
                return NULL;
            }
            out = n;
        }
        memcpy(out + len, val, vlen);
        len += vlen;
        p += skip;
    }
    out[len] = '\0';
    return out;
}

/* The number of ASCII digits at s. */
static size_t
digits(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Is s an integer, ^[-+]?[0-9]+$? (Matched by hand: a regexec per scalar cost reloads.) */
static int
is_int(const char *s)
{
    s += *s == '-' || *s == '+';
    size_t n = digits(s);
    return n > 0 && s[n] == '\0';
}

/* Is s a float, ^[-+]?([0-9]*\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?$? */
static int
is_float(const char *s)
{
    s += *s == '-' || *s == '+';
    size_t a = digits(s);
    s += a;
    if (*s++ != '.')
        return 0;
    size_t b = digits(s);
    s += b;
    if (a + b == 0)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        s += *s == '-' || *s == '+';
        size_t x = digits(s);
        if (x == 0)
            return 0;
        s += x;
    }
    return *s == '\0';
}

/* Type a plain scalar as YAML 1.2's core schema does. */
static struct json_object *
scalar_typed(const char *s)
{
    if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return NULL;
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_object_new_boolean(1);
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_object_new_boolean(0);
    if (is_int(s)) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_object_new_int64(v);
    }
    if (is_float(s))
        return json_object_new_double(strtod(s, NULL));
    return json_object_new_string(s);
}

/*
 * A scalar's value (s: len bytes) as a node: typed when plain, ${VAR}
 * replaced. NULL for a null, or on a failure (*failed set, error added).
 */
static struct json_object *
scalar_node(const char *s, size_t len, int plain, int line, int flags, struct aigw_errors *e,
            int *failed, const char *path)
{
    struct json_object *o;
    int changed = 0, poisoned = 0;
    char *sub = NULL;
    /* "a\0b" in a quoted scalar: C strings would read "a", and check less than was given. */
    if (strlen(s) != len) {
        errors_add_line(e, line, path, "must not contain a NUL character (\\0)");
        *failed = 1;
        return NULL;
    }
    if ((flags & YAML_SUBST_ENV) && strstr(s, "${") != NULL) {
        sub = subst_env(s, line, path, e, &changed);
        if (sub == NULL) {
            /* Reported; go on with an empty value so every other error is found too. */
            sub = strdup("");
            changed = poisoned = 1;
            if (sub == NULL) {
                *failed = 1;
                return NULL;
            }
        }
    }
    /* A substituted value is always a string: a secret that looks like a number stays one. */
    if (changed)
        o = json_object_new_string(sub);
    else
        o = plain ? scalar_typed(s) : json_object_new_string(s);
    free(sub);
    node_set_line(o, poisoned ? -line : line);
    return o;
}

static struct json_object *convert(yaml_document_t *doc, yaml_node_t *n, int flags,
                                   struct aigw_errors *e, int depth, int *failed, const char *path);

/* path.key (or key at the top) into out: a memcpy, not a snprintf, for every key of a file. */
static void
path_join(char *out, size_t len, const char *path, const char *key)
{
    size_t pl = strlen(path), kl = strlen(key), o = 0;
    if (pl + kl + 2 > len) { /* as snprintf would: cut at the end */
        snprintf(out, len, "%s%s%s", path, *path ? "." : "", key);
        return;
    }
    memcpy(out, path, pl);
    o = pl;
    if (pl > 0)
        out[o++] = '.';
    memcpy(out + o, key, kl + 1);
}

/* A mapping becomes an object; keys must be scalars and unique. */
static struct json_object *
convert_mapping(yaml_document_t *doc, yaml_node_t *n, int flags, struct aigw_errors *e, int depth,
                int *failed, const char *path)
{
    struct json_object *obj = json_object_new_object();
    node_set_line(obj, (int)n->start_mark.line + 1);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k == NULL || v == NULL)
            continue;
        if (k->type != YAML_SCALAR_NODE) {
            errors_add_line(e, (int)k->start_mark.line + 1, path, "mapping keys must be plain strings");
            *failed = 1;
            continue;
        }
        const char *key = (const char *)k->data.scalar.value;
        char sub[512];
        path_join(sub, sizeof(sub), path, key);
        if (json_object_object_get_ex(obj, key, NULL)) {
            errors_add_line(e, (int)k->start_mark.line + 1, sub, "duplicate key");
            *failed = 1;
            continue;
        }
        struct json_object *val = convert(doc, v, flags, e, depth + 1, failed, sub);
        /* not there: looked up just above */
        json_object_object_add_ex(obj, key, val, JSON_C_OBJECT_ADD_KEY_IS_NEW);
    }
    return obj;
}

static struct json_object *
convert(yaml_document_t *doc, yaml_node_t *n, int flags, struct aigw_errors *e, int depth,
        int *failed, const char *path)
{
    struct json_object *o = NULL;
    int line = (int)n->start_mark.line + 1;

    if (depth > 64) {
        errors_add_line(e, line, path, "nesting too deep");
        *failed = 1;
        return NULL;
    }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        o = scalar_node((const char *)n->data.scalar.value, n->data.scalar.length,
                        n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, line, flags, e, failed,
                        path);
        if (o != NULL && yaml_node_poisoned(o))
            return o;
        break;
    case YAML_SEQUENCE_NODE:
        o = json_object_new_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++) {
            yaml_node_t *c = yaml_document_get_node(doc, *it);
            char sub[512];
            snprintf(sub, sizeof(sub), "%s[%d]", path,
                     (int)(it - n->data.sequence.items.start));
            if (c != NULL)
                json_object_array_add(o, convert(doc, c, flags, e, depth + 1, failed, sub));
        }
        break;
    case YAML_MAPPING_NODE:
        o = convert_mapping(doc, n, flags, e, depth, failed, path);
        break;
    default:
        break;
    }
    node_set_line(o, line);
    return o;
}

/*
 * The fast way: a tree built straight from the parser's events, without
 * libyaml's document (the nodes, then their deletion: a third of the YAML
 * part of a reload of 100,000 keys). It covers the common file only: at
 * anything that would be an error or needs the document (an alias or
 * anchor, a key that is not a scalar, a duplicate key, nesting past 64, a
 * NUL, an unset ${VAR}, a syntax error) it gives up, and the caller reads
 * the input again with load(), which says exactly what it always said.
 */
#define EV_MAX_DEPTH 64

struct evframe {
    struct json_object *obj; /* an object or an array, held by its parent (or root) */
    int map;
    char *key; /* a mapping's key waiting for its value */
};

/* Put o in the innermost container (or make it the root). */
static void
ev_attach(struct evframe *st, int top, struct json_object **root, struct json_object *o)
{
    if (top < 0) {
        *root = o;
    } else if (st[top].map) {
        json_object_object_add_ex(st[top].obj, st[top].key, o, JSON_C_OBJECT_ADD_KEY_IS_NEW);
        free(st[top].key);
        st[top].key = NULL;
    } else {
        json_object_array_add(st[top].obj, o);
    }
}

/* One event: 1 go on, 0 the document is over, -1 give up. */
static int
ev_step(yaml_event_t *ev, struct evframe *st, int *top, struct json_object **root, int flags)
{
    int line = (int)ev->start_mark.line + 1, failed = 0;
    int wants_key = *top >= 0 && st[*top].map && st[*top].key == NULL;
    switch (ev->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
        return 1;
    case YAML_DOCUMENT_END_EVENT:
    case YAML_STREAM_END_EVENT:
        return 0;
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        if (ev->data.scalar.anchor != NULL || *top + 1 > EV_MAX_DEPTH)
            return -1;
        if (wants_key) {
            if (json_object_object_get_ex(st[*top].obj, v, NULL) ||
                (st[*top].key = strdup(v)) == NULL)
                return -1;
            return 1;
        }
        struct aigw_errors scratch;
        errors_init(&scratch, NULL);
        struct json_object *o =
            scalar_node(v, ev->data.scalar.length, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE,
                        line, flags, &scratch, &failed, "");
        int bad = failed || scratch.n > 0;
        errors_free(&scratch);
        if (bad) {
            json_object_put(o);
            return -1;
        }
        ev_attach(st, *top, root, o);
        return 1;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int map = ev->type == YAML_MAPPING_START_EVENT;
        const yaml_char_t *anchor =
            map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
        if (anchor != NULL || wants_key || *top + 1 > EV_MAX_DEPTH)
            return -1;
        struct json_object *o = map ? json_object_new_object() : json_object_new_array();
        if (o == NULL)
            return -1;
        node_set_line(o, line);
        ev_attach(st, *top, root, o);
        (*top)++;
        st[*top].obj = o;
        st[*top].map = map;
        st[*top].key = NULL;
        return 1;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (*top < 0)
            return -1;
        (*top)--;
        return 1;
    default: /* an alias */
        return -1;
    }
}

/* The first document as a tree, or -1: read it again with load(). */
static int
load_events(yaml_parser_t *parser, int flags, struct json_object **out)
{
    struct evframe st[EV_MAX_DEPTH + 1];
    struct json_object *root = NULL;
    int top = -1, rc;
    yaml_event_t ev;
    do {
        if (!yaml_parser_parse(parser, &ev)) {
            rc = -1;
            break;
        }
        rc = ev_step(&ev, st, &top, &root, flags);
        yaml_event_delete(&ev);
    } while (rc == 1);
    for (int i = 0; i <= top; i++)
        free(st[i].key);
    if (rc < 0 || top >= 0) {
        json_object_put(root);
        return -1;
    }
    *out = root != NULL ? root : json_object_new_object(); /* an empty file: an empty mapping */
    return 0;
}

/* Shared by the file and buffer loaders: one document, converted or errors added. */
static struct json_object *
load(yaml_parser_t *parser, int flags, struct aigw_errors *e)
{
    yaml_document_t doc;
    struct json_object *root = NULL;
    int failed = 0;

    if (!yaml_parser_load(parser, &doc)) {
        errors_add_line(e, (int)parser->problem_mark.line + 1, NULL, "YAML syntax error: %s%s%s", parser->problem ? parser->problem : "unknown",
                   parser->context ? " " : "", parser->context ? parser->context : "");
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top == NULL) {
        root = json_object_new_object(); /* an empty file is an empty mapping */
    } else {
        root = convert(&doc, top, flags, e, 0, &failed, "");
        if (root == NULL && !failed)
            root = json_object_new_object();
    }
    yaml_document_delete(&doc);
    if (failed) {
        json_object_put(root);
        return NULL;
    }
    return root;
}

struct json_object *
yaml_load_file(const char *path, int flags, struct aigw_errors *e)
{
    yaml_parser_t parser;
    struct json_object *root = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        errors_add(e, NULL, NULL, "cannot open: %s", strerror(errno));
        return NULL;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    int fast = flags & YAML_DOCUMENT ? -1 : load_events(&parser, flags, &root);
    yaml_parser_delete(&parser);
    if (fast < 0) { /* the whole story, errors and all, from the document */
        rewind(fp);
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, fp);
        root = load(&parser, flags, e);
        yaml_parser_delete(&parser);
    }
    fclose(fp);
    return root;
}

struct json_object *
yaml_load_buffer(const char *buf, size_t len, int flags, struct aigw_errors *e)
{
    yaml_parser_t parser;
    struct json_object *root = NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int fast = flags & YAML_DOCUMENT ? -1 : load_events(&parser, flags, &root);
    yaml_parser_delete(&parser);
    if (fast < 0) {
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        root = load(&parser, flags, e);
        yaml_parser_delete(&parser);
    }
    return root;
}
