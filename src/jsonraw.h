/*
 * jsonraw.h: edits made on the bytes of a client's JSON body, so that what
 * goes upstream in the client's own dialect is what the client wrote
 * (worker).
 */
#ifndef AIGW_JSONRAW_H
#define AIGW_JSONRAW_H

#include <stddef.h>

/* A value's bytes: [b, e). */
struct jsonraw_span {
    size_t b, e;
};

/* Replace cut bytes at offset at with ins (cut 0: insert). */
struct jsonraw_edit {
    size_t at, cut;
    const char *ins;
    size_t inslen;
    int seq; /* set by jsonraw_apply */
};

/* Where the top-level object starts (its '{'); (size_t)-1 when the text is not an object. */
size_t jsonraw_start(const char *p, size_t n);
/*
 * The value of member key (compared byte for byte: a key written with
 * escapes is not found) of the object at p[obj], and where its closing
 * brace is: 0 found, 1 not found (close set), -1 not an object's text.
 */
int jsonraw_member(const char *p, size_t n, size_t obj, const char *key, struct jsonraw_span *v,
                   size_t *close);
/* The text with the edits made (non-overlapping; sorted here): malloc'd, NUL-terminated. */
char *jsonraw_apply(const char *p, size_t n, struct jsonraw_edit *ed, int ned, size_t *outlen);

#endif
