/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shm.h: the shared-memory table every worker of a node uses for state that
 * must be exact across workers: rate-limit counters, concurrency, circuit
 * breakers and the weighted round robin counters. The master creates it (a
 * memfd the workers inherit) and outlives the workers, so a worker that is
 * restarted finds the counters as they were.
 *
 * Every entry is found by a 64-bit hash of its identity ("L", "key", id)
 * with linear probing; entries are claimed with compare-and-swap and never
 * freed while the master runs. No lock is ever taken: every update is one
 * atomic operation or a compare-and-swap loop on one 64-bit word.
 */
#ifndef AIGW_SHM_H
#define AIGW_SHM_H

#include <stdatomic.h>
#include <stdint.h>

struct shm;

#define SHM_NC 7

struct shm_slot {
    _Atomic uint64_t id; /* identity hash; 0: free */
    _Atomic uint64_t c[SHM_NC]; /* meaning by kind of entry: see below */
};

/*
 * The kinds of entry: the first string of an identity, (kind, a, b), and
 * what each counter c[i] of such an entry holds. Every user of the table
 * names its entries and counters from here. The strings are part of the
 * identity's hash and a binary upgrade adopts the previous master's table,
 * so a kind's string, and the meaning of its counters, never change.
 */

/*
 * Rate limits (limit.c): a = "key" or "model", b = its id. The counters
 * are indexed by the LIM_* of aigw/resource.h: c[LIM_RPM], c[LIM_RPD],
 * c[LIM_TPM], c[LIM_TPD] each hold a window's number (top 24 bits) and its
 * count (low 40 bits); c[LIM_CONC] the requests in flight (each worker's
 * share is kept beside, so the master gives back a dead worker's).
 */
#define SHM_KIND_LIMIT "L"

/* Circuit breakers and Retry-After rests (breaker.c): a = model id, b = target name. */
#define SHM_KIND_BREAKER "B"
enum shm_breaker_ctr {
    SHM_BRK_FAILURES = 0, /* consecutive failures */
    SHM_BRK_STATE = 1,    /* state, trips in a row and a deadline in one word (breaker.c) */
    SHM_BRK_REST = 2,     /* end of a Retry-After rest, monotonic ms */
};

/* Weighted round robin (balance.c): a = model id, b = the tier's priority as text. */
#define SHM_KIND_WRR "W"
enum shm_wrr_ctr {
    SHM_WRR_TICKET = 0, /* the tier's next position in its smooth sequence */
    SHM_WRR_SPARE = 1,  /* the next ticket among the others when the sequence's target can't */
};

/* JWT key sets (jwtauth.c counts, jwksfetch.c reads): a = provider name. */
#define SHM_KIND_JWKS "jwks"
enum shm_jwks_ctr {
    SHM_JWKS_UNKNOWN_KID = 0, /* tokens with a kid not in the set: fetch again */
};

/*
 * TLS session ticket keys (tls_ticket.c): a = "state", or a part of a key
 * ("k0a", "k0b", "k1a", "k1b": each key's 10 words, 7 in its first entry
 * and 3 in its second, all of c[]).
 */
#define SHM_KIND_TLS_TICKET "tls-ticket"
enum shm_ticket_ctr {
    SHM_TICKET_SEQ = 0,   /* state: odd while the master writes a key */
    SHM_TICKET_NKEYS = 1, /* state: keys made so far; the newest is index n % 2 */
};

/* Node-wide counters, for status and metrics. */
enum shm_stat {
    SHM_STAT_TABLE_FULL,   /* an entry could not be created: shm_slots too small */
    SHM_STAT_RL_ERRORS,    /* the Redis limiter could not answer */
    SHM_STAT_RL_DENIED,    /* requests refused by a limit */
    SHM_STAT_BREAKER_TRIPS,
    SHM_NSTATS
};

/* What each worker tells the master and aigwctl, by its index. */
enum shm_worker_state { SHM_W_FREE = 0, SHM_W_STARTING, SHM_W_RUNNING, SHM_W_DRAINING };

struct shm_worker {
    _Atomic int32_t pid;
    _Atomic int32_t state;       /* enum shm_worker_state */
    _Atomic uint64_t generation; /* the master's configuration generation it runs */
    _Atomic uint64_t requests;   /* requests served (all, errors included) */
    _Atomic int64_t in_flight;   /* requests begun and not ended */
    _Atomic int64_t started_ms;  /* wall clock */
    _Atomic uint64_t config_version; /* the LMDB config version of its last request */
    char pad[8];
};

/* Bytes reserved for metrics (metrics.c lays them out). */
#define SHM_METRICS_SIZE (8u << 20)

/*
 * Master: create the table with room for nworkers worker indexes (more than
 * run at once: a reload overlaps old and new workers); *fd is inherited by
 * the workers.
 */
struct shm *shm_create(int64_t nslots, int nworkers, int *fd);
/*
 * A new master (binary upgrade): map the previous master's table if it has
 * this version's layout, nslots and worker capacity; NULL otherwise.
 */
struct shm *shm_adopt(int fd, int64_t nslots, int nworkers);
/* Worker: map the table the master created; worker is this process's index. */
struct shm *shm_attach(int fd, int worker);
void shm_free(struct shm *s);

/* The entry of an identity (up to three strings), created when absent; NULL when full. */
struct shm_slot *shm_slot(struct shm *s, const char *kind, const char *a, const char *b);
/* The same without creating: NULL when absent (status pages must not fill the table). */
struct shm_slot *shm_find(struct shm *s, const char *kind, const char *a, const char *b);

/* This worker's share of a concurrency count, so the master can release a dead worker's. */
void shm_conc_note(struct shm *s, struct shm_slot *slot, int delta);
/* Master: a worker died; give back the concurrency it held (counter c[ci] of each entry). */
void shm_worker_gone(struct shm *s, int worker, int ci);

/* A worker's entry by index (NULL out of range); this process's own index (-1: master). */
struct shm_worker *shm_worker(struct shm *s, int idx);
int shm_worker_cap(const struct shm *s);
int shm_self(const struct shm *s);
/* The metrics area (SHM_METRICS_SIZE bytes, zeroed at creation). */
void *shm_metrics_area(struct shm *s, size_t *len);

void shm_stat_add(struct shm *s, enum shm_stat k, uint64_t n);
uint64_t shm_stat(const struct shm *s, enum shm_stat k);
int64_t shm_nslots(const struct shm *s);
int64_t shm_used(const struct shm *s);

#endif
