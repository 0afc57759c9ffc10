/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memtrim.c: give freed heap back to the kernel once a worker's load has
 * fallen. glibc returns memory only from the top of the main heap above
 * M_TRIM_THRESHOLD; the buffers of thousands of ended streams sit in the
 * middle of it, and the worker's RSS would stay at its peak. malloc_trim(0)
 * releases the free pages of every arena (madvise), wherever they lie. It
 * walks the heap, so it runs from a timer, and only after a fall.
 */
#include "config.h"

#include <malloc.h>

#include "memtrim.h"

int
memtrim_due(struct memtrim *m, int conns)
{
    if (conns < 0)
        conns = 0;
    if (conns > m->peak)
        m->peak = conns;
    int due = (conns == 0 && m->peak > 0) ||
              (m->peak - conns >= MEMTRIM_MIN_DROP && conns <= m->peak / 2);
    if (due) {
        m->again = conns == 0; /* what the last ones free after they end: once more */
        m->peak = conns;
    } else if (m->again) {
        m->again = 0;
        due = conns == 0;
    }
    return due;
}

void
memtrim_release(struct memtrim *m)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    m->trims++;
}

int
memtrim_tick(struct memtrim *m, int conns)
{
    if (!memtrim_due(m, conns))
        return 0;
    memtrim_release(m);
    return 1;
}
