/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtrim.h: give freed heap back to the kernel once a worker's load has
 * fallen (glibc keeps it otherwise: a worker that held thousands of streams
 * would keep their memory after they ended).
 */
#ifndef AIGW_MEMTRIM_H
#define AIGW_MEMTRIM_H

/* The fewest connections a fall must free before it is worth a trim. */
#define MEMTRIM_MIN_DROP 64

struct memtrim {
    int peak;            /* the most connections seen since the last trim */
    int again;           /* an idle trim was made: one more on the next idle tick */
    unsigned long trims; /* how many trims were made */
};

/*
 * Called on a timer (once a second, never per request) with the worker's
 * connection count: nonzero when now is the time to trim, that is when the
 * worker fell idle after some load, or its count fell to half of its peak
 * and by at least MEMTRIM_MIN_DROP. The peak then restarts from conns.
 * An idle trim is made twice, on two idle ticks in a row: a stream's last
 * buffers (its upstream side) may be freed after its connection closed.
 */
int memtrim_due(struct memtrim *m, int conns);

/* malloc_trim(0) now, counted: what a due trim does, after the caller freed its caches. */
void memtrim_release(struct memtrim *m);

/* memtrim_due, and if due memtrim_release: returns whether it trimmed. */
int memtrim_tick(struct memtrim *m, int conns);

#endif
