/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manpage.h: reading an mdoc page of man/ in a unit test, to hold a table
 * of the code (providers, resource fields, error types) to what the page
 * says of it.
 */
#ifndef AIGW_UNIT_MANPAGE_H
#define AIGW_UNIT_MANPAGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* A man page's lines (NULL-terminated, malloc'd); free with man_free. */
static inline char **
man_lines(const char *rel)
{
    char path[PATH_MAX], buf[4096];
    size_t n = 0, cap = 256;
    char **l = malloc(cap * sizeof(*l));
    srcdir_file(rel, path);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    while (fgets(buf, sizeof(buf), fp) != NULL) {
        buf[strcspn(buf, "\n")] = '\0';
        if (n + 1 >= cap)
            l = realloc(l, (cap *= 2) * sizeof(*l));
        l[n++] = strdup(buf);
    }
    l[n] = NULL;
    fclose(fp);
    return l;
}

static inline void
man_free(char **l)
{
    for (char **p = l; *p; p++)
        free(*p);
    free(l);
}

/* The index of the first line from 'from' that starts with prefix; -1 when none. */
static inline int
man_find(char **l, int from, const char *prefix)
{
    for (int i = from < 0 ? 0 : from; l[i] != NULL; i++)
        if (strncmp(l[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

/* Is there a line in [b, e) that is ".Cm word" (with punctuation after)? */
static inline int
man_names(char **l, int b, int e, const char *word)
{
    char want[128];
    snprintf(want, sizeof(want), ".Cm %s", word);
    for (int i = b; i < e; i++)
        if (strncmp(l[i], want, strlen(want)) == 0 &&
            (l[i][strlen(want)] == '\0' || l[i][strlen(want)] == ' '))
            return 1;
    return 0;
}

/*
 * The text of the item ".It Ic a" (path "a") or of ".It Ic b" after
 * ".It Ic a" (path "a.b"), its lines joined by spaces up to the next item or
 * the end of its list (malloc'd); NULL when the page has no such item.
 */
static inline char *
man_item(char **l, const char *path)
{
    char want[128];
    int at = 0;
    for (const char *p = path; at >= 0 && *p != '\0';) {
        size_t n = strcspn(p, ".");
        snprintf(want, sizeof(want), ".It Ic %.*s", (int)n, p);
        do
            at = man_find(l, at + (at > 0), want);
        while (at >= 0 && l[at][strlen(want)] != '\0' && l[at][strlen(want)] != ' ');
        p += n + (p[n] == '.');
    }
    if (at < 0)
        return NULL;
    size_t len = 1;
    int e = at + 1;
    for (; l[e] != NULL && strncmp(l[e], ".It", 3) != 0 && strncmp(l[e], ".El", 3) != 0; e++)
        len += strlen(l[e]) + 1;
    char *text = calloc(1, len);
    for (int i = at + 1; i < e; i++)
        strcat(strcat(text, i > at + 1 ? " " : ""), l[i]);
    return text;
}

#endif
