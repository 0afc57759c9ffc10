/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sse_fuzzer.c: the SSE parser (src/sse.c) on an upstream's stream bytes.
 *
 * Oracle: the events do not depend on how the stream was cut into reads.
 * The bytes are parsed once whole and once in pieces whose sizes come from
 * the input itself; both must give the same events and the same result. The
 * first byte picks the event size limit, so that the -1 path is reached.
 */
#include "config.h"

#include <string.h>

#include "sse.h"
#include "fuzz.h"

/* Every event seen, as "event\0data\0" records back to back. */
struct sse_rec {
    char *buf;
    size_t len, cap;
    int n;
};

/* The callback: record the event. */
static int
sse_fuzz_event(const char *event, size_t evlen, const char *data, size_t datalen, void *arg)
{
    struct sse_rec *r = arg;
    size_t need = r->len + evlen + datalen + 2;
    if (need > r->cap) {
        r->cap = need * 2;
        if ((r->buf = realloc(r->buf, r->cap)) == NULL)
            abort();
    }
    if (evlen > 0)
        memcpy(r->buf + r->len, event, evlen);
    r->len += evlen;
    r->buf[r->len++] = '\0';
    if (datalen > 0)
        memcpy(r->buf + r->len, data, datalen);
    r->len += datalen;
    r->buf[r->len++] = '\0';
    r->n++;
    return 0;
}

/* Parse p in pieces (piece sizes from cut[], cycled; ncut 0: whole); returns sse_feed's result. */
static int
sse_fuzz_parse(const char *p, size_t n, const uint8_t *cut, size_t ncut, size_t max,
               struct sse_rec *r)
{
    struct sse_parser sp;
    int rc = 0;
    size_t off = 0, i = 0;
    sse_init(&sp, max);
    while (rc == 0 && off < n) {
        size_t k = ncut ? (size_t)(cut[i++ % ncut] % 7) + 1 : n - off;
        if (k > n - off)
            k = n - off;
        /* each piece in its own allocation: a read past it is caught */
        char *piece = malloc(k);
        if (piece == NULL)
            abort();
        memcpy(piece, p + off, k);
        rc = sse_feed(&sp, piece, k, sse_fuzz_event, r);
        free(piece);
        off += k;
    }
    sse_free(&sp);
    return rc;
}

/* One input: the first byte picks the limit, the rest is the stream. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* a small limit now and then; else the worker's own order of size */
    size_t max = data[0] & 1 ? (size_t)(data[0] >> 1) + 1 : (size_t)1 << 20;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct sse_rec whole = {0}, cut = {0};
    int rw = sse_fuzz_parse(p, n, NULL, 0, max, &whole);
    int rc = sse_fuzz_parse(p, n, data, size, max, &cut);
    FUZZ_ASSERT(rw == rc, "whole %d, in pieces %d", rw, rc);
    if (rw == 0) {
        FUZZ_ASSERT(whole.n == cut.n, "whole %d events, in pieces %d", whole.n, cut.n);
        FUZZ_ASSERT(whole.len == cut.len &&
                        (whole.len == 0 || memcmp(whole.buf, cut.buf, whole.len) == 0),
                    "the events differ");
    }
    free(whole.buf);
    free(cut.buf);
    return 0;
}
