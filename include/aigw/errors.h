/* SPDX-License-Identifier: Apache-2.0 */
/* errors.h: a list of error messages, each naming file, line and key where known. */
#ifndef AIGW_ERRORS_H
#define AIGW_ERRORS_H

#include <stdio.h>

struct json_object;

struct aigw_errors {
    const char *file; /* prefixed to messages whose node has a line; may be NULL */
    char **msgs;
    int n, cap;
};

void errors_init(struct aigw_errors *e, const char *file);
/* Add "file:line: path: message" (line from the node when it came from YAML). */
void errors_add(struct aigw_errors *e, struct json_object *node, const char *path, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
/* The same with an explicit line (0: none). */
void errors_add_line(struct aigw_errors *e, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * s into out (outlen > 0, cut to fit) with its control bytes but tab
 * written as escapes (\n, \r, \xNN): one line, whatever s quotes.
 */
void errors_escape(const char *s, char *out, size_t outlen);
void errors_print(const struct aigw_errors *e, FILE *fp);
/* All messages joined by "; " (for one-line logs); caller frees. */
char *errors_join(const struct aigw_errors *e);
void errors_free(struct aigw_errors *e);

#endif
