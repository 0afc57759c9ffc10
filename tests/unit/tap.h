/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tap.h: what every unit test program shares: the main() helper, temporary
 * files and folders, the source tree's location and error-list assertions.
 *
 * The programs run under automake's TAP driver with CK_TAP_LOG_FILE_NAME=-
 * and CK_VERBOSITY=silent, so Check prints one TAP line per test and the
 * driver judges by those lines.
 */
#ifndef AIGW_UNIT_TAP_H
#define AIGW_UNIT_TAP_H

#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>

#include "aigw/errors.h"

/*
 * Run every test of s and return main()'s status. Fork mode is Check's default
 * (CK_FORK=no turns it off, e.g. under gdb). Under the TAP driver the status is
 * 0 and the TAP lines decide; run by hand, any failure makes it non-zero.
 */
static inline int
run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);
    int real = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (getenv("CK_TAP_LOG_FILE_NAME") != NULL)
        return 0;
    return real == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* out = a/b (PATH_MAX bytes); a path too long fails the test. */
static inline void
path_join(char *out, const char *a, const char *b)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
    ck_assert_msg(n > 0 && n < PATH_MAX, "path too long: %s/%s", a, b);
}

/* Make a fresh folder under $TMPDIR (or /tmp) into dir (PATH_MAX bytes). */
static inline void
tmpdir_make(char *dir)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    snprintf(dir, PATH_MAX, "%s/aigw-unit-XXXXXX", base);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

static inline int
tmpdir_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

/* Remove a folder made by tmpdir_make with everything in it. */
static inline void
tmpdir_remove(const char *dir)
{
    ck_assert_msg(nftw(dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0, "cannot remove %s: %s",
                  dir, strerror(errno));
}

/* Write text to dir/name; the full path goes to path (PATH_MAX bytes). */
static inline void
write_file(const char *dir, const char *name, const char *text, char *path)
{
    path_join(path, dir, name);
    FILE *fp = fopen(path, "w");
    ck_assert_msg(fp != NULL, "cannot create %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), fp), strlen(text));
    ck_assert_int_eq(fclose(fp), 0);
}

/* 1 when dir/rel exists. */
static inline int
srcdir_has(const char *dir, const char *rel)
{
    char p[PATH_MAX];
    if (snprintf(p, sizeof(p), "%s/%s", dir, rel) >= (int)sizeof(p))
        return 0;
    return access(p, R_OK) == 0;
}

/*
 * The path of rel (e.g. "etc/aigw.yaml") in the source tree: $AIGW_SRCDIR when
 * set (make check sets it), else ../.. from the test program's folder, else
 * ../.. from this header's folder as the compiler saw it.
 */
static inline void
srcdir_file(const char *rel, char *out)
{
    char cand[PATH_MAX], tmp[PATH_MAX];
    const char *env = getenv("AIGW_SRCDIR");
    if (env != NULL && *env != '\0' && srcdir_has(env, rel)) {
        path_join(out, env, rel);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", tmp, sizeof(tmp) - 1);
    if (n > 0) {
        tmp[n] = '\0';
        snprintf(cand, sizeof(cand), "%s/../..", dirname(tmp));
        if (srcdir_has(cand, rel)) {
            path_join(out, cand, rel);
            return;
        }
    }
    snprintf(tmp, sizeof(tmp), "%s", __FILE__);
    snprintf(cand, sizeof(cand), "%s/../..", dirname(tmp));
    ck_assert_msg(srcdir_has(cand, rel), "cannot find %s: set AIGW_SRCDIR to the source tree", rel);
    path_join(out, cand, rel);
}

/* The index of the first error message containing needle, or -1. */
static inline int
errors_find(const struct aigw_errors *e, const char *needle)
{
    for (int i = 0; i < e->n; i++)
        if (strstr(e->msgs[i], needle) != NULL)
            return i;
    return -1;
}

/* All messages in buf (for failure reports; nothing to free). */
static inline const char *
errors_text(const struct aigw_errors *e, char *buf, size_t len)
{
    buf[0] = '\0';
    if (e->n == 0)
        snprintf(buf, len, "(no errors)");
    for (int i = 0; i < e->n; i++) {
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s[%s]", i ? " " : "", e->msgs[i]);
    }
    return buf;
}

/* Assert that one message of e contains needle; lists every message otherwise. */
/* A 127.0.0.1 port nothing listens on (right now); 0 on error. */
static inline int
free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* The last 4 KiB of a log file to stderr: a daemon fixture's log, before its folder goes. */
static inline void
tap_dump_tail(const char *path)
{
    char buf[4096];
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return;
    if (fseek(fp, 0, SEEK_END) == 0 && ftell(fp) > (long)sizeof(buf) - 1)
        fseek(fp, -(long)sizeof(buf) + 1, SEEK_END);
    else
        rewind(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    fprintf(stderr, "# --- end of %s ---\n%s\n", path, buf);
}

#define ck_assert_error(e, needle)                                                                 \
    do {                                                                                           \
        char all_[4096];                                                                           \
        ck_assert_msg(errors_find((e), (needle)) >= 0, "no error contains \"%s\"; got %s",         \
                      (needle), errors_text((e), all_, sizeof(all_)));                             \
    } while (0)

/* Assert that e holds exactly n messages. */
#define ck_assert_nerrors(e, count)                                                                \
    do {                                                                                           \
        char all_[4096];                                                                           \
        ck_assert_msg((e)->n == (count), "expected %d error(s), got %d: %s", (int)(count), (e)->n, \
                      errors_text((e), all_, sizeof(all_)));                                       \
    } while (0)

/*
 * A fresh folder g_dir per test case: dir_setup/dir_teardown for
 * tcase_add_unchecked_fixture (made in the parent, removed even after a failure).
 */
#define TMPDIR_FIXTURE                                                                             \
    static char g_dir[PATH_MAX];                                                                   \
    static void dir_setup(void)                                                                    \
    {                                                                                              \
        tmpdir_make(g_dir);                                                                        \
    }                                                                                              \
    static void dir_teardown(void)                                                                 \
    {                                                                                              \
        tmpdir_remove(g_dir);                                                                      \
    }

#endif
