/* SPDX-License-Identifier: Apache-2.0 */
/* errors.c: collected configuration and validation errors (master, aigw -t, Admin API). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "aigw/errors.h"
#include "aigw/yamljson.h"

void
errors_init(struct aigw_errors *e, const char *file)
{
    memset(e, 0, sizeof(*e));
    e->file = file;
}

/*
 * Copy s into out (outlen > 0) with its control bytes written as escapes
 * (\n, \r, \xNN): a message quotes values and key paths from the file,
 * and one with a line break would otherwise forge lines of their own in the
 * log or in aigw -t's output.
 */
void
errors_escape(const char *s, char *out, size_t outlen)
{
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < outlen; p++) {
        if (*p == '\n' || *p == '\r') {
            out[o++] = '\\';
            out[o++] = *p == '\n' ? 'n' : 'r';
        } else if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
}

/* Append one message; an allocation failure drops the message, never the process. */
static void
errors_addv(struct aigw_errors *e, int line, const char *path, const char *fmt, va_list ap)
{
    char msg[1024], raw[1400], full[1400];

    vsnprintf(msg, sizeof(msg), fmt, ap);

    if (e->file != NULL && line > 0)
        snprintf(raw, sizeof(raw), "%s:%d: %s%s%s", e->file, line, path ? path : "",
                 path && *path ? ": " : "", msg);
    else if (e->file != NULL)
        snprintf(raw, sizeof(raw), "%s: %s%s%s", e->file, path ? path : "",
                 path && *path ? ": " : "", msg);
    else
        snprintf(raw, sizeof(raw), "%s%s%s", path ? path : "", path && *path ? ": " : "", msg);
    /* the key path comes from the file too ("{2\n\ng}" is a key with a line break) */
    errors_escape(raw, full, sizeof(full));

    if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 8;
        char **m = realloc(e->msgs, (size_t)cap * sizeof(*m));
        if (m == NULL)
            return;
        e->msgs = m;
        e->cap = cap;
    }
    char *dup = strdup(full);
    if (dup != NULL)
        e->msgs[e->n++] = dup;
}

void
errors_add(struct aigw_errors *e, struct json_object *node, const char *path, const char *fmt, ...)
{
    va_list ap;
    if (yaml_node_poisoned(node))
        return; /* its unset ${VAR} is the error, already reported */
    va_start(ap, fmt);
    errors_addv(e, node != NULL ? yaml_node_line(node) : 0, path, fmt, ap);
    va_end(ap);
}

void
errors_add_line(struct aigw_errors *e, int line, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    errors_addv(e, line, path, fmt, ap);
    va_end(ap);
}

void
errors_print(const struct aigw_errors *e, FILE *fp)
{
    for (int i = 0; i < e->n; i++)
        fprintf(fp, "%s\n", e->msgs[i]);
}

char *
errors_join(const struct aigw_errors *e)
{
    size_t len = 1;
    for (int i = 0; i < e->n; i++)
        len += strlen(e->msgs[i]) + 2;
    char *s = malloc(len);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < e->n; i++) {
        if (i > 0)
            strcat(s, "; ");
        strcat(s, e->msgs[i]);
    }
    return s;
}

void
errors_free(struct aigw_errors *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = e->cap = 0;
}
