/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h: what the harnesses of tests/fuzz/ share: libFuzzer's entry points
 * (a harness defines LLVMFuzzerTestOneInput, and LLVMFuzzerInitialize when
 * it sets something up once) and the oracle's failure.
 *
 * Each harness is linked either with libFuzzer (configure --enable-fuzzing,
 * `make fuzz`) or with replay.c (make check: its corpus and regression
 * inputs, once each).
 */
#ifndef AIGW_FUZZ_H
#define AIGW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * An oracle found a wrong answer (not a crash, which the sanitizers report):
 * say what and abort, which libFuzzer keeps as a crash input and replay.c's
 * TAP driver counts as a failure.
 */
#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: oracle failed: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
