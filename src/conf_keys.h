/* SPDX-License-Identifier: Apache-2.0 */
/* conf_keys.h: the table of aigw.yaml's keys (conf.c), for those that walk it (conf_dump.c). */
#ifndef AIGW_CONF_KEYS_H
#define AIGW_CONF_KEYS_H

#include <stddef.h>
#include <stdint.h>

enum conf_type {
    CT_LISTEN,
    CT_WORKERS,
    CT_LOGLEVEL,
    CT_PATH,
    CT_SIZE,
    CT_DURATION,
    CT_INT,
    CT_STRING,
    CT_URLS,
    CT_CIDRS,
    CT_ADMIN_KEYS,
    CT_CHOICE,
    CT_LOGDEST,
    CT_BOOL,
    CT_JWT,
};

struct conf_key {
    const char *path; /* dotted: "timeouts.upstream_connect" */
    enum conf_type type;
    size_t off;
    const char *def;  /* parsed by the same code as a value from the file; lists: a,b */
    int64_t min, max; /* lists: the least and most items */
    const char *doc;
    size_t off_n;               /* lists: the item count */
    const char *const *choices; /* CT_CHOICE: the words, stored as their index (int);
                                   CT_LOGDEST: the words that are not a path */
    int secret;                 /* holds a secret (or items with one): aigw -T masks it */
};

/* The table, in the order aigw.yaml(5) and `aigw -T` give the keys; *n its length. */
const struct conf_key *conf_keys_table(size_t *n);

#endif
