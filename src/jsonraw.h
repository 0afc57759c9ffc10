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
 * The value of member key (compared once its escapes are decoded, as json-c
 * compares) of the object at p[obj], and where its closing brace is: 0
 * found, 1 not found (close set), -1 not an object's text.
 */
int jsonraw_member(const char *p, size_t n, size_t obj, const char *key, struct jsonraw_span *v,
                   size_t *close);
/*
 * The member names of a JSON text that json-c accepted, checked so that
 * every reader sees the members aigw sees: refused (-1, why set to a
 * message naming the member) for a NUL in a name, a name twice in one
 * object once escapes are decoded, and at the top level and in
 * stream_options two names equal under ASCII case folding or a case
 * variant of a member aigw reads or writes (model, stream, stream_options,
 * max_tokens, max_completion_tokens; include_usage). 0 when none.
 */
int jsonraw_check_names(const char *p, size_t n, char *why, size_t whylen);
/* The text with the edits made (non-overlapping; sorted here): malloc'd, NUL-terminated. */
char *jsonraw_apply(const char *p, size_t n, struct jsonraw_edit *ed, int ned, size_t *outlen);

#endif
