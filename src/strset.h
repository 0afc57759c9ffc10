/* SPDX-License-Identifier: Apache-2.0 */
/* strset.h: a set of byte strings, sized up front (strset.c). */
#ifndef AIGW_STRSET_H
#define AIGW_STRSET_H

#include <stddef.h>

struct strset;

/* An empty set with room for expect keys before it grows; NULL: out of memory. */
struct strset *strset_new(size_t expect);
/* Add len bytes at key (copied): 1 added, 0 already there, -1 out of memory. */
int strset_add(struct strset *s, const void *key, size_t len);
/* 1 when the set holds those bytes, else 0. */
int strset_has(const struct strset *s, const void *key, size_t len);
void strset_free(struct strset *s);

#endif
