/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.c: strict parsing of a URL's query string (see query.h).
 *
 * application/x-www-form-urlencoded as browsers and HTTP clients write it:
 * "name=value" pairs joined by "&", "%XX" escapes, "+" for a space. What is
 * not that is refused rather than guessed: a handler that sees a value sees
 * exactly what the client meant, or the client gets a 400 naming the
 * parameter.
 */
#include "config.h"

#include <string.h>

#include "query.h"

/* The value of a hex digit, or -1. */
static int
query_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Decode the n bytes at s into out[size], NUL-terminated: 0, or -1 for a
 * bad escape, a decoded NUL, or no room. plus: "+" is a space (a query's
 * form encoding; in a path it is itself).
 */
static int
query_unescape(const char *s, size_t n, char *out, size_t size, int plus)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi = i + 2 < n ? query_hex(s[i + 1]) : -1;
            int lo = hi >= 0 ? query_hex(s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= size)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* A query's name or value decoded. */
static int
query_decode(const char *s, size_t n, char *out, size_t size)
{
    return query_unescape(s, n, out, size, 1);
}

int
query_path_decode(const char *s, char *out, size_t size)
{
    return query_unescape(s, strlen(s), out, size, 0) < 0 ? QUERY_EVALUE : QUERY_OK;
}

/* An unknown parameter's name as an error may show it: short and printable, or "?". */
static const char *
query_badname(const char *s, size_t n, char *buf, size_t len)
{
    if (len == 0 || query_decode(s, n, buf, len) < 0)
        return "?";
    for (const char *p = buf; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '"' || *p == '\\')
            return "?";
    return buf[0] ? buf : "?";
}

/* One "name=value" pair of n bytes at s. */
static int
query_pair(const char *s, size_t n, struct query_param *params, int nparams, const char **bad,
           char *badbuf, size_t badlen)
{
    const char *eq = memchr(s, '=', n);
    size_t nl = eq != NULL ? (size_t)(eq - s) : n;
    char name[64];
    struct query_param *p = NULL;
    if (query_decode(s, nl, name, sizeof(name)) == 0)
        for (int i = 0; i < nparams && p == NULL; i++)
            if (strcmp(name, params[i].name) == 0)
                p = &params[i];
    if (p == NULL) {
        *bad = query_badname(s, nl, badbuf, badlen);
        return QUERY_EUNKNOWN;
    }
    *bad = p->name;
    if (p->seen)
        return QUERY_EREPEATED;
    p->seen = 1;
    /* "name" without "=" is an empty value: the handler decides whether it may be */
    const char *v = eq != NULL ? eq + 1 : s + n;
    if (query_decode(v, (size_t)(s + n - v), p->value, p->size) < 0)
        return QUERY_EVALUE;
    return QUERY_OK;
}

/* Every pair of q into params (see query.h). */
int
query_parse(const char *q, struct query_param *params, int nparams, const char **bad, char *badbuf,
            size_t badlen)
{
    *bad = "?";
    for (int i = 0; i < nparams; i++) {
        params[i].seen = 0;
        if (params[i].size > 0)
            params[i].value[0] = '\0';
    }
    if (q == NULL || *q == '\0')
        return QUERY_OK;
    size_t len = strnlen(q, QUERY_MAX + 1);
    if (len > QUERY_MAX)
        return QUERY_ETOOLONG;
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(q + i, "&");
        /* "a=1&&b=2" and a trailing "&": empty pairs carry nothing, as browsers treat them */
        if (n > 0) {
            int rc = query_pair(q + i, n, params, nparams, bad, badbuf, badlen);
            if (rc != QUERY_OK)
                return rc;
        }
        i += n + 1;
    }
    return QUERY_OK;
}
