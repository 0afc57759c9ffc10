/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay.c: the main() of a harness built without libFuzzer (make check).
 *
 * It hands every file of tests/fuzz/regress/<name>/ (inputs that once
 * crashed or misled a parser) and tests/fuzz/corpus/<name>/ (the seeds) to
 * the harness's LLVMFuzzerTestOneInput, one TAP line each, <name> being
 * the program's name without "_fuzzer". A crash or a sanitizer report ends
 * the program, which the TAP driver counts as a failure; the line printed
 * before each input names the one that did it. Files or folders given as
 * arguments are replayed instead (to try one input by hand).
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* The inputs to replay: paths, sorted, so that the TAP lines are stable. */
struct replay_list {
    char **paths;
    size_t n, cap;
};

/* Append a copy of path. */
static void
replay_add(struct replay_list *l, const char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->paths = realloc(l->paths, l->cap * sizeof(*l->paths));
        if (l->paths == NULL)
            abort();
    }
    if ((l->paths[l->n++] = strdup(path)) == NULL)
        abort();
}

/* qsort's comparison of two paths. */
static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add path: a file, or each regular file of a folder (not recursively); missing: nothing. */
static void
replay_collect(struct replay_list *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        replay_add(l, path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *de;
    char buf[4096];
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ., .. and .keep */
        snprintf(buf, sizeof(buf), "%s/%s", path, de->d_name);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
            replay_add(l, buf);
    }
    if (d != NULL)
        closedir(d);
}

/* A file's bytes in a buffer of exactly its size (so that an overread is caught); NULL on error. */
static uint8_t *
replay_read(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n = -1;
    if (fp == NULL || fseek(fp, 0, SEEK_END) < 0 || (n = ftell(fp)) < 0 ||
        fseek(fp, 0, SEEK_SET) < 0 || (buf = malloc(n > 0 ? (size_t)n : 1)) == NULL ||
        fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (fp != NULL)
        fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* The harness's name: the program's file name without its "_fuzzer". */
static void
replay_name(const char *argv0, char *out, size_t outlen)
{
    const char *b = strrchr(argv0, '/');
    b = b ? b + 1 : argv0;
    snprintf(out, outlen, "%s", b);
    char *s = strstr(out, "_fuzzer");
    if (s != NULL)
        *s = '\0';
}

/* Replay the harness's inputs (or the files and folders given), one TAP line each. */
int
main(int argc, char **argv)
{
    struct replay_list l = {0};
    char name[256], dir[4096];
    const char *top = getenv("AIGW_SRCDIR");
    int failed = 0;

    replay_name(argv[0], name, sizeof(name));
    if (LLVMFuzzerInitialize != NULL)
        LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            replay_collect(&l, argv[i]);
    } else {
        if (top == NULL)
            top = AIGW_TOP_SRCDIR;
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", top, name);
        replay_collect(&l, dir);
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, name);
        replay_collect(&l, dir);
    }
    if (l.n == 0) {
        /* a harness without seeds is a mistake: say so rather than pass */
        printf("1..1\nnot ok 1 - %s: no inputs found\n", name);
        return 1;
    }
    qsort(l.paths, l.n, sizeof(*l.paths), replay_cmp);
    printf("1..%zu\n", l.n);
    for (size_t i = 0; i < l.n; i++) {
        size_t len;
        const char *shown = strstr(l.paths[i], "tests/fuzz/");
        shown = shown ? shown + 11 : l.paths[i];
        uint8_t *buf = replay_read(l.paths[i], &len);
        printf("# %s (%zu bytes)\n", shown, len);
        fflush(stdout); /* a crash in the harness shows which input it was */
        if (buf == NULL) {
            printf("not ok %zu - %s: cannot read it\n", i + 1, shown);
            failed = 1;
        } else {
            LLVMFuzzerTestOneInput(buf, len);
            printf("ok %zu - %s\n", i + 1, shown);
        }
        free(buf);
        free(l.paths[i]);
    }
    free(l.paths);
    return failed;
}
