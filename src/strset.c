/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strset.c: a set of byte strings (ids, names, key hashes) for the checks
 * of a whole resources file or table (master).
 *
 * Why not a json-c object: its table compares every probed slot with
 * strcmp (no stored hash), starts at 16 slots and rehashes at two thirds
 * full; with 100,000 keys those probes and rehashes were a fifth of a
 * reload's CPU. Here each slot keeps the key's 64-bit hash, so a probe
 * compares bytes only when the hashes are equal, and the table is sized
 * for the expected count up front.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strset.h"

struct slot {
    uint64_t hash; /* 0: empty (a hash of 0 is stored as 1) */
    const char *key;
    size_t len;
};

struct strset {
    struct slot *slots;
    size_t cap, n; /* cap: a power of two, at most half full */
    char **blocks; /* the keys' copies, in blocks that never move */
    size_t nblocks, used, bsize;
    size_t next; /* the size of the next block: few large mallocs (each one consolidates) */
};

#define BLOCK_MIN 65536

/* FNV-1a, 64 bits: short keys, no attacker choosing them but the file's author. */
static uint64_t
hash_of(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 29; /* the low bits pick the slot: mix the high ones in */
    return h ? h : 1;
}

struct strset *
strset_new(size_t expect)
{
    struct strset *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    for (s->cap = 16; s->cap < expect * 2; s->cap *= 2)
        ;
    s->next = expect * 24 > BLOCK_MIN ? expect * 24 : BLOCK_MIN;
    if ((s->slots = calloc(s->cap, sizeof(*s->slots))) == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

/* A copy of key that stays where it is for the set's life. */
static const char *
keep(struct strset *s, const void *key, size_t len)
{
    if (s->nblocks == 0 || s->used + len > s->bsize) {
        size_t size = len > s->next ? len : s->next;
        char **nb = realloc(s->blocks, (s->nblocks + 1) * sizeof(*nb));
        if (nb == NULL)
            return NULL;
        s->blocks = nb;
        if ((nb[s->nblocks] = malloc(size)) == NULL)
            return NULL;
        s->nblocks++;
        s->used = 0;
        s->bsize = size;
        s->next = size * 2;
    }
    char *p = s->blocks[s->nblocks - 1] + s->used;
    memcpy(p, key, len);
    s->used += len;
    return p;
}

/* The slot holding key, or the empty one where it would go. */
static struct slot *
find(const struct strset *s, uint64_t h, const void *key, size_t len)
{
    size_t i = (size_t)h & (s->cap - 1);
    for (;; i = (i + 1) & (s->cap - 1)) {
        struct slot *sl = &s->slots[i];
        if (sl->hash == 0 || (sl->hash == h && sl->len == len && memcmp(sl->key, key, len) == 0))
            return sl;
    }
}

/* Twice the slots, every key placed again. */
static int
grow(struct strset *s)
{
    struct slot *old = s->slots;
    size_t ocap = s->cap;
    if ((s->slots = calloc(ocap * 2, sizeof(*s->slots))) == NULL) {
        s->slots = old;
        return -1;
    }
    s->cap = ocap * 2;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].hash != 0)
            *find(s, old[i].hash, old[i].key, old[i].len) = old[i];
    free(old);
    return 0;
}

int
strset_add(struct strset *s, const void *key, size_t len)
{
    if ((s->n + 1) * 2 > s->cap && grow(s) < 0)
        return -1;
    uint64_t h = hash_of(key, len);
    struct slot *sl = find(s, h, key, len);
    if (sl->hash != 0)
        return 0;
    if ((sl->key = keep(s, key, len)) == NULL)
        return -1;
    sl->hash = h;
    sl->len = len;
    s->n++;
    return 1;
}

int
strset_has(const struct strset *s, const void *key, size_t len)
{
    return find(s, hash_of(key, len), key, len)->hash != 0;
}

void
strset_free(struct strset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nblocks; i++)
        free(s->blocks[i]);
    free(s->blocks);
    free(s->slots);
    free(s);
}
