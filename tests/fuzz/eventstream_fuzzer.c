/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventstream_fuzzer.c: the event-stream decoder (src/eventstream.c) on a
 * Bedrock ConverseStream's bytes.
 *
 * Oracles: the messages and the result do not depend on how the stream was
 * cut into reads (whole, and in pieces of 1 to 7 bytes sized by the input);
 * every message accepted whose headers are all strings encodes back
 * (es_encode) to exactly the bytes it was decoded from, so nothing in a
 * checked message is dropped, moved or invented. The first byte picks the
 * message size limit, so that ES_ERR_LENGTH is reached.
 */
#include "config.h"

#include <string.h>

#include "aigw/eventstream.h"
#include "fuzz.h"

struct es_rec {
    unsigned char *buf; /* the messages encoded again, back to back */
    size_t len, cap;
    int n;
    int other_types; /* a message had a header that is not a string */
};

static void
rec_put(struct es_rec *r, const void *p, size_t n)
{
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2;
        if ((r->buf = realloc(r->buf, r->cap)) == NULL)
            abort();
    }
    if (n)
        memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static int
es_fuzz_message(const struct es_message *m, void *arg)
{
    struct es_rec *r = arg;
    char *names[ES_MAX_HEADERS], *values[ES_MAX_HEADERS];
    size_t n, i;
    FUZZ_ASSERT(m->nheaders <= ES_MAX_HEADERS, "%zu headers", m->nheaders);
    r->n++;
    for (i = 0; i < m->nheaders; i++) {
        const struct es_header *h = &m->headers[i];
        if (h->type != ES_STRING || memchr(h->name, 0, h->name_len) ||
            memchr(h->value, 0, h->value_len))
            r->other_types = 1;
    }
    if (r->other_types)
        return 0;
    for (i = 0; i < m->nheaders; i++) {
        names[i] = strndup(m->headers[i].name, m->headers[i].name_len);
        values[i] = strndup(m->headers[i].value, m->headers[i].value_len);
        if (!names[i] || !values[i])
            abort();
    }
    unsigned char *enc = es_encode((const char *const *)names, (const char *const *)values,
                                   m->nheaders, m->payload, m->payload_len, &n);
    FUZZ_ASSERT(enc != NULL, "a decoded message does not encode");
    rec_put(r, enc, n);
    free(enc);
    for (i = 0; i < m->nheaders; i++) {
        free(names[i]);
        free(values[i]);
    }
    return 0;
}

/* Decode p in pieces (sizes from cut[], cycled; ncut 0: whole); returns es_feed's result. */
static int
es_fuzz_decode(const uint8_t *p, size_t n, const uint8_t *cut, size_t ncut, size_t max,
               struct es_rec *r)
{
    struct es_decoder d;
    int rc = 0;
    size_t off = 0, i = 0;
    es_init(&d, max);
    while (rc == 0 && off < n) {
        size_t k = ncut ? (size_t)(cut[i++ % ncut] % 7) + 1 : n - off;
        if (k > n - off)
            k = n - off;
        /* each piece in its own allocation: a read past it is caught */
        uint8_t *piece = malloc(k);
        if (piece == NULL)
            abort();
        memcpy(piece, p + off, k);
        rc = es_feed(&d, piece, k, es_fuzz_message, r);
        free(piece);
        off += k;
    }
    es_free(&d);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* a small limit now and then; else Bedrock's order of size */
    size_t max = data[0] & 1 ? (size_t)(data[0] >> 1) + 16 : (size_t)1 << 20;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    struct es_rec whole = {0}, cut = {0};
    int rw = es_fuzz_decode(p, n, NULL, 0, max, &whole);
    int rc = es_fuzz_decode(p, n, data, size, max, &cut);
    FUZZ_ASSERT(rw == rc, "whole %d, in pieces %d", rw, rc);
    FUZZ_ASSERT(whole.n == cut.n, "whole %d messages, in pieces %d", whole.n, cut.n);
    FUZZ_ASSERT(whole.len == cut.len &&
                    (whole.len == 0 || memcmp(whole.buf, cut.buf, whole.len) == 0),
                "the messages differ");
    if (!whole.other_types)
        FUZZ_ASSERT(whole.len <= n && (whole.len == 0 || memcmp(whole.buf, p, whole.len) == 0),
                    "a message does not encode back to its bytes");
    free(whole.buf);
    free(cut.buf);
    return 0;
}
