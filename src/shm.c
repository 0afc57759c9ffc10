/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm.c: the shared-memory table (created by the master, mapped by every
 * worker). See shm.h for what lives in it and why it takes no locks.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shm.h"

#define SHM_MAGIC 0x6169677773686d31ull /* "aigwshm1" */
#define SHM_MAX_PROBE 256 /* beyond this the table is too full to be useful */

struct shm_hdr {
    uint64_t magic;
    int64_t nslots;
    int64_t nworkers;
    _Atomic int64_t used;
    _Atomic uint64_t stats[SHM_NSTATS];
    char pad[64];
};

struct shm {
    void *base;
    size_t size;
    struct shm_hdr *hdr;
    struct shm_slot *slots;
    _Atomic uint32_t *wconc; /* [worker][slot]: each worker's share of the concurrency counts */
    struct shm_worker *workers;
    void *metrics;
    int worker;              /* -1 in the master */
    int64_t last_full_log;
};

/*
 * Layout: header | slots[nslots] | wconc[nworkers][nslots] | workers[nworkers]
 * | the metrics area. A memfd is sparse: only pages touched cost memory, so
 * a worker capacity well above the worker count (a reload starts new
 * workers before the old ones leave) costs address space, not RAM.
 */
static size_t
shm_size(int64_t nslots, int nworkers)
{
    return sizeof(struct shm_hdr) + (size_t)nslots * sizeof(struct shm_slot) +
           (size_t)nslots * (size_t)nworkers * sizeof(uint32_t) +
           (size_t)nworkers * sizeof(struct shm_worker) + SHM_METRICS_SIZE;
}

/* Point the struct at the parts of a mapping. */
static struct shm *
shm_wrap(void *base, size_t size, int worker)
{
    struct shm *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->base = base;
    s->size = size;
    s->hdr = base;
    s->slots = (struct shm_slot *)((char *)base + sizeof(struct shm_hdr));
    s->wconc = (_Atomic uint32_t *)(s->slots + s->hdr->nslots);
    s->workers = (struct shm_worker *)(s->wconc + s->hdr->nslots * s->hdr->nworkers);
    s->metrics = s->workers + s->hdr->nworkers;
    s->worker = worker;
    return s;
}

struct shm *
shm_create(int64_t nslots, int nworkers, int *fd)
{
    size_t size = shm_size(nslots, nworkers);
    /* A memfd is zero-filled and sparse: untouched entries cost no memory. */
    *fd = memfd_create("aigw-shm", MFD_CLOEXEC);
    if (*fd < 0) {
        log_warn("memfd_create");
        return NULL;
    }
    if (ftruncate(*fd, (off_t)size) < 0) {
        log_warn("shared memory of %zu bytes", size);
        goto fail;
    }
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    if (base == MAP_FAILED) {
        log_warn("mmap of the shared memory");
        goto fail;
    }
    struct shm_hdr *h = base;
    h->magic = SHM_MAGIC;
    h->nslots = nslots;
    h->nworkers = nworkers;
    struct shm *s = shm_wrap(base, size, -1);
    if (s == NULL)
        munmap(base, size);
    return s;
fail:
    close(*fd);
    *fd = -1;
    return NULL;
}

struct shm *
shm_attach(int fd, int worker)
{
    struct shm_hdr h;
    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != SHM_MAGIC ||
        worker < 0 || worker >= h.nworkers) {
        log_warnx("the shared memory passed by the master is not valid");
        return NULL;
    }
    size_t size = shm_size(h.nslots, (int)h.nworkers);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        log_warn("mmap of the shared memory");
        return NULL;
    }
    struct shm *s = shm_wrap(base, size, worker);
    if (s == NULL)
        munmap(base, size);
    return s;
}

struct shm *
shm_adopt(int fd, int64_t nslots, int nworkers)
{
    struct shm_hdr h;
    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.magic != SHM_MAGIC ||
        h.nslots != nslots || h.nworkers != nworkers)
        return NULL;
    size_t size = shm_size(nslots, nworkers);
    void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return NULL;
    struct shm *s = shm_wrap(base, size, -1);
    if (s == NULL)
        munmap(base, size);
    return s;
}

void
shm_free(struct shm *s)
{
    if (s == NULL)
        return;
    munmap(s->base, s->size);
    free(s);
}

/* FNV-1a over the identity's strings, NUL-separated so ("ab","c") != ("a","bc"). */
static uint64_t
shm_hash(const char *kind, const char *a, const char *b)
{
    const char *parts[3] = {kind, a, b};
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i] ? parts[i] : ""; *p; p++) {
            h ^= (unsigned char)*p;
            h *= 0x100000001b3ull;
        }
        h ^= 0xff;
        h *= 0x100000001b3ull;
    }
    /* a final mix: FNV's low bits are weak for the modulo below */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

static struct shm_slot *
shm_lookup(struct shm *s, const char *kind, const char *a, const char *b, int create)
{
    uint64_t h = shm_hash(kind, a, b);
    int64_t n = s->hdr->nslots;
    for (int64_t i = 0; i < SHM_MAX_PROBE && i < n; i++) {
        struct shm_slot *slot = &s->slots[(int64_t)((h + (uint64_t)i) % (uint64_t)n)];
        uint64_t id = atomic_load_explicit(&slot->id, memory_order_acquire);
        if (id == h)
            return slot;
        if (id != 0)
            continue;
        if (!create)
            return NULL;
        uint64_t zero = 0;
        if (atomic_compare_exchange_strong(&slot->id, &zero, h)) {
            atomic_fetch_add(&s->hdr->used, 1);
            return slot;
        }
        if (zero == h) /* another worker claimed it for the same identity */
            return slot;
    }
    if (create) {
        shm_stat_add(s, SHM_STAT_TABLE_FULL, 1);
        int64_t now = (int64_t)time(NULL);
        if (now != s->last_full_log) { /* at most once a second per process */
            s->last_full_log = now;
            log_warnx("the shared-memory table is full (%lld entries): raise shm_slots in "
                      "aigw.yaml; limits and breakers without an entry are not applied, and splits are per worker",
                      (long long)n);
        }
    }
    return NULL;
}

struct shm_slot *
shm_slot(struct shm *s, const char *kind, const char *a, const char *b)
{
    return s ? shm_lookup(s, kind, a, b, 1) : NULL;
}

struct shm_slot *
shm_find(struct shm *s, const char *kind, const char *a, const char *b)
{
    return s ? shm_lookup(s, kind, a, b, 0) : NULL;
}

void
shm_conc_note(struct shm *s, struct shm_slot *slot, int delta)
{
    if (s->worker < 0)
        return;
    int64_t idx = slot - s->slots;
    _Atomic uint32_t *w = &s->wconc[(int64_t)s->worker * s->hdr->nslots + idx];
    if (delta > 0)
        atomic_fetch_add_explicit(w, (uint32_t)delta, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(w, (uint32_t)-delta, memory_order_relaxed);
}

void
shm_worker_gone(struct shm *s, int worker, int ci)
{
    if (s == NULL || worker < 0 || worker >= s->hdr->nworkers)
        return;
    int64_t released = 0;
    for (int64_t i = 0; i < s->hdr->nslots; i++) {
        if (atomic_load_explicit(&s->slots[i].id, memory_order_relaxed) == 0)
            continue;
        _Atomic uint32_t *w = &s->wconc[(int64_t)worker * s->hdr->nslots + i];
        uint32_t held = atomic_exchange(w, 0);
        if (held != 0) {
            atomic_fetch_sub(&s->slots[i].c[ci], held);
            released += held;
        }
    }
    if (released > 0)
        log_info("released %lld concurrency slots held by worker %d", (long long)released, worker);
}

void
shm_stat_add(struct shm *s, enum shm_stat k, uint64_t n)
{
    if (s != NULL)
        atomic_fetch_add_explicit(&s->hdr->stats[k], n, memory_order_relaxed);
}

uint64_t
shm_stat(const struct shm *s, enum shm_stat k)
{
    return s ? atomic_load_explicit(&((struct shm *)s)->hdr->stats[k], memory_order_relaxed) : 0;
}

int64_t
shm_nslots(const struct shm *s)
{
    return s ? s->hdr->nslots : 0;
}

int64_t
shm_used(const struct shm *s)
{
    return s ? atomic_load(&((struct shm *)s)->hdr->used) : 0;
}

struct shm_worker *
shm_worker(struct shm *s, int idx)
{
    return s != NULL && idx >= 0 && idx < s->hdr->nworkers ? &s->workers[idx] : NULL;
}

int
shm_worker_cap(const struct shm *s)
{
    return s ? (int)s->hdr->nworkers : 0;
}

int
shm_self(const struct shm *s)
{
    return s ? s->worker : -1;
}

void *
shm_metrics_area(struct shm *s, size_t *len)
{
    *len = s ? SHM_METRICS_SIZE : 0;
    return s ? s->metrics : NULL;
}
