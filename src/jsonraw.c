/*
 * jsonraw.c: edits made on the bytes of a client's JSON body (worker).
 *
 * A body that goes upstream in the client's own dialect must arrive as the
 * client wrote it: re-serialized by json-c it would be reformatted, and
 * integers beyond 64 bits would be clamped (a tool schema's "maximum":
 * 1e30 written as digits would change). So a provider that only replaces
 * the model (and adds a member or two) finds the values in the text and
 * splices. The body was already parsed strictly by proxy.c, so the scanner
 * only has to follow the grammar, not check it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "jsonraw.h"

static size_t
ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* One past the string that starts at p[i] == '"'; 0 when it does not end. */
static size_t
string_end(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* One past the value that starts at p[i]; 0 when it is cut short. */
static size_t
value_end(const char *p, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (p[i] == '"')
        return string_end(p, i, n);
    if (p[i] == '{' || p[i] == '[') {
        int depth = 0;
        for (; i < n; i++) {
            if (p[i] == '"') {
                size_t e = string_end(p, i, n);
                if (e == 0)
                    return 0;
                i = e - 1;
            } else if (p[i] == '{' || p[i] == '[') {
                depth++;
            } else if ((p[i] == '}' || p[i] == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return 0;
    }
    while (i < n && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' &&
           p[i] != '\n' && p[i] != '\r')
        i++;
    return i;
}

int
jsonraw_member(const char *p, size_t n, size_t obj, const char *key, struct jsonraw_span *v,
               size_t *close)
{
    size_t klen = strlen(key), i;
    int found = 0;
    if (obj >= n || p[obj] != '{')
        return -1;
    i = ws(p, obj + 1, n);
    if (i < n && p[i] == '}') {
        *close = i;
        return 1;
    }
    while (i < n && p[i] == '"') {
        size_t ke = string_end(p, i, n);
        if (ke == 0)
            return -1;
        int match = ke - i - 2 == klen && memcmp(p + i + 1, key, klen) == 0;
        i = ws(p, ke, n);
        if (i >= n || p[i] != ':')
            return -1;
        i = ws(p, i + 1, n);
        size_t ve = value_end(p, i, n);
        if (ve == 0)
            return -1;
        if (match) { /* json-c keeps the last of duplicate members: so do we */
            v->b = i;
            v->e = ve;
            found = 1;
        }
        i = ws(p, ve, n);
        if (i < n && p[i] == ',') {
            i = ws(p, i + 1, n);
            continue;
        }
        if (i < n && p[i] == '}') {
            *close = i;
            return found ? 0 : 1;
        }
        return -1;
    }
    return -1;
}

size_t
jsonraw_start(const char *p, size_t n)
{
    size_t i = ws(p, 0, n);
    return i < n && p[i] == '{' ? i : (size_t)-1;
}

/* Edits in the order of their offsets; equal offsets keep the order they were added in. */
static int
edit_cmp(const void *a, const void *b)
{
    const struct jsonraw_edit *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

char *
jsonraw_apply(const char *p, size_t n, struct jsonraw_edit *ed, int ned, size_t *outlen)
{
    size_t len = n, at = 0;
    for (int i = 0; i < ned; i++) {
        ed[i].seq = i;
        len += ed[i].inslen - ed[i].cut;
    }
    qsort(ed, (size_t)ned, sizeof(*ed), edit_cmp);
    char *out = malloc(len + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (int i = 0; i < ned; i++) {
        if (ed[i].at < at || ed[i].at + ed[i].cut > n) { /* overlapping: a caller's bug */
            free(out);
            return NULL;
        }
        memcpy(o, p + at, ed[i].at - at);
        o += ed[i].at - at;
        memcpy(o, ed[i].ins, ed[i].inslen);
        o += ed[i].inslen;
        at = ed[i].at + ed[i].cut;
    }
    memcpy(o, p + at, n - at);
    o += n - at;
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}
