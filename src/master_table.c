/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_table.c: the master watches the LMDB file (data.mdb). Someone may
 * remove it, put another file in its place, or cut it short while aigw
 * runs; LMDB can't tell, and a page read past the end of a cut file is
 * SIGBUS. So every second, before a worker is restarted and before and
 * after each write (store.c), the master compares the file with the one it
 * opened (store_check):
 *
 * - removed or replaced: the pages the processes map are still the old
 *   file's and stay valid, so the workers serve the table as it was; but a
 *   write would go into a file the next start won't open, so writes are
 *   refused (the Admin API answers 503), and no new worker starts (it would
 *   open the new file, or none): a restart rebuilds the table.
 * - cut short: its records are gone and reading them would kill the reader,
 *   so the master stops aigw at once (exit status 1), and the next start
 *   refuses the file with a message naming it.
 */
#include "config.h"

#include <event2/event.h>

#include "log.h"
#include "store.h"
#include "aigw/util.h"
#include "master_priv.h"

#define TABLE_CHECK_MS 1000

/* Compare data.mdb with the file opened; say what changed once, and act on it. */
int
master_table_check(struct master *m)
{
    int st = store_check(m->store);
    if (st == m->table_state)
        return st;
    m->table_state = st;
    if (st == STORE_FILE_REPLACED) {
        log_warnx("LMDB: %s: the workers serve the table as it was, changes are refused and "
                  "no worker is restarted; restart aigw to rebuild the table from the "
                  "resources file or etcd",
                  store_problem(m->store));
    } else if (st == STORE_FILE_SHORT) {
        log_warnx("LMDB: %s: aigw cannot serve from it and stops; move the file away and "
                  "start again to rebuild the table from the resources file or etcd",
                  store_problem(m->store));
        m->table_failed = 1;
        master_stop(m, 0);
    }
    return st;
}

/* Every TABLE_CHECK_MS: a few syscalls (fstat, stat), no page of the map touched. */
static void
table_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    struct timeval tv = tv_ms(TABLE_CHECK_MS);
    if (m->stopping)
        return;
    if (master_table_check(m) != STORE_FILE_SHORT)
        evtimer_add(m->table_tick, &tv);
}

/* Start watching data.mdb on the master's loop. */
int
master_table_start(struct master *m)
{
    struct timeval tv = tv_ms(TABLE_CHECK_MS);
    if ((m->table_tick = evtimer_new(m->base, table_tick_cb, m)) == NULL)
        return -1;
    return evtimer_add(m->table_tick, &tv);
}

/* Stop watching. */
void
master_table_free(struct master *m)
{
    if (m->table_tick != NULL)
        event_free(m->table_tick);
    m->table_tick = NULL;
}
