/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.h: a URL's query string, parsed strictly against the parameters a
 * handler takes. The bytes come from the client: every value is
 * percent-decoded once, into a buffer of a fixed size, and a NUL, a bad
 * escape, an unknown or repeated parameter is an error, never ignored.
 */
#ifndef AIGW_QUERY_H
#define AIGW_QUERY_H

#include <stddef.h>

/* The longest query string taken: a handler's parameters are short. */
#define QUERY_MAX 1024

enum {
    QUERY_OK = 0,
    QUERY_ETOOLONG = -1,  /* the query string is longer than QUERY_MAX */
    QUERY_EUNKNOWN = -2,  /* a parameter the handler does not take */
    QUERY_EREPEATED = -3, /* a parameter given twice */
    QUERY_EVALUE = -4,    /* a bad escape, a NUL, or a value too long for its buffer */
};

/* One parameter a handler takes: its value decoded into value[size]; seen when given. */
struct query_param {
    const char *name;
    char *value;
    size_t size;
    int seen;
};

/*
 * Parse q (the raw query string, without "?"; NULL or "" for none) into
 * params. On an error, *bad is the parameter it is about: a params name, or
 * for an unknown one its name decoded into badbuf (only when it is short
 * and printable; else "?").
 */
int query_parse(const char *q, struct query_param *params, int nparams, const char **bad,
                char *badbuf, size_t badlen);

/*
 * A path segment (or the rest of a path) s percent-decoded once into
 * out[size], "+" left as it is: QUERY_OK, or QUERY_EVALUE for a bad escape,
 * a NUL, or no room.
 */
int query_path_decode(const char *s, char *out, size_t size);

#endif
