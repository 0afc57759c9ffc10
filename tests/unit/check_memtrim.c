/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_memtrim.c: when a worker gives freed heap back (memtrim.c): on
 * falling idle after load, on a fall to half the peak by at least
 * MEMTRIM_MIN_DROP connections, never on a small or slow drift; and that a
 * trim does give back the pages of blocks freed in the middle of the heap.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtrim.h"
#include "tap.h"

/* Idle after load: due once, then not again until new load. */
START_TEST(idle_after_load)
{
    struct memtrim m = {0};
    ck_assert_int_eq(memtrim_due(&m, 0), 0); /* never loaded */
    ck_assert_int_eq(memtrim_due(&m, 3), 0);
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 1); /* once more, the next idle tick */
    ck_assert_int_eq(memtrim_due(&m, 0), 0);
    ck_assert_int_eq(memtrim_due(&m, 0), 0);
    ck_assert_int_eq(memtrim_due(&m, 1), 0);
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 2), 0); /* not idle on the next tick: no second trim */
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 0);
}
END_TEST

/* A fall to half the peak, by MEMTRIM_MIN_DROP or more: due; the peak restarts. */
START_TEST(fall_to_half)
{
    struct memtrim m = {0};
    ck_assert_int_eq(memtrim_due(&m, 4000), 0);
    ck_assert_int_eq(memtrim_due(&m, 3000), 0); /* not half yet */
    ck_assert_int_eq(memtrim_due(&m, 2001), 0);
    ck_assert_int_eq(memtrim_due(&m, 2000), 1);
    ck_assert_int_eq(memtrim_due(&m, 1500), 0); /* the peak is now 2000 */
    ck_assert_int_eq(memtrim_due(&m, 1000), 1);
    ck_assert_int_eq(memtrim_due(&m, 1), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    ck_assert_int_eq(memtrim_due(&m, 0), 0);
}
END_TEST

/* Small counts: halving by fewer than MEMTRIM_MIN_DROP connections is not worth it. */
START_TEST(small_falls_wait)
{
    struct memtrim m = {0};
    ck_assert_int_eq(memtrim_due(&m, 2 * MEMTRIM_MIN_DROP - 2), 0);
    ck_assert_int_eq(memtrim_due(&m, MEMTRIM_MIN_DROP - 1), 0); /* fell by MIN_DROP - 1 */
    ck_assert_int_eq(memtrim_due(&m, 1), 1); /* by more than MIN_DROP, under half */
    ck_assert_int_eq(memtrim_due(&m, 0), 1);
    /* a slow rise and fall between ticks never seen: only what the ticks see counts */
    ck_assert_int_eq(memtrim_due(&m, 10), 0);
    ck_assert_int_eq(memtrim_due(&m, 5), 0);
    ck_assert_int_eq(memtrim_due(&m, -1), 1); /* a bad count is 0 */
}
END_TEST

/* The resident set size of this process, in KiB. */
static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &res) != 2)
        res = -1;
    fclose(f);
    return res < 0 ? -1 : res * (sysconf(_SC_PAGESIZE) / 1024);
}

#if defined(__SANITIZE_ADDRESS__)
#define MEMTRIM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMTRIM_SANITIZED 1
#endif
#endif

/*
 * 64 MiB in 4 KiB blocks (under the mmap threshold: all on the heap), each
 * touched; free all but one block in 64, so the heap's top stays in use and
 * glibc keeps the freed pages: a trim gives back most of them. (Under
 * AddressSanitizer, malloc is not glibc's: only the tick's verdict is checked.)
 */
START_TEST(trim_gives_back)
{
    enum { NB = 16384, BS = 4096 };
    char **b = calloc(NB, sizeof(*b));
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < NB; i++) {
        b[i] = malloc(BS);
        ck_assert_ptr_nonnull(b[i]);
        memset(b[i], 0x5a, BS);
    }
    long full = rss_kib();
    for (int i = 0; i < NB; i++)
        if (i % 64 != 63) {
            free(b[i]);
            b[i] = NULL;
        }
    long freed = rss_kib();
    struct memtrim m = {0};
    ck_assert_int_eq(memtrim_tick(&m, NB), 0);
    ck_assert_int_eq(memtrim_tick(&m, 0), 1);
    ck_assert_uint_eq(m.trims, 1);
    long trimmed = rss_kib();
#ifndef MEMTRIM_SANITIZED
    ck_assert_int_gt(full, 0);
    /* glibc kept what was freed; the trim gave back at least half of the 64 MiB */
    ck_assert_int_gt(freed, full - 16 * 1024);
    ck_assert_int_lt(trimmed, freed - 32 * 1024);
#else
    (void)full, (void)freed, (void)trimmed;
#endif
    for (int i = 0; i < NB; i++)
        free(b[i]);
    free(b);
}
END_TEST

static Suite *
memtrim_suite(void)
{
    Suite *s = suite_create("memtrim");
    TCase *tc = tcase_create("memtrim");
    tcase_add_test(tc, idle_after_load);
    tcase_add_test(tc, fall_to_half);
    tcase_add_test(tc, small_falls_wait);
    tcase_add_test(tc, trim_gives_back);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(memtrim_suite());
}
