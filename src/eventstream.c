/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eventstream.c: the event-stream decoder. A message is a 12-byte prelude
 * (total length, headers length, both big-endian 32-bit, and the CRC32 of
 * those 8 bytes), the headers (name length byte, name, type byte, value),
 * the payload, and the CRC32 of all bytes before it. The prelude is checked
 * as soon as it is complete, so a corrupt length never makes the decoder
 * wait for or allocate bytes that will not come.
 *
 * The CRC32 is a small table of its own rather than zlib's: aigw links no
 * zlib directly (only through libcurl, which may be built without it), and
 * 30 lines are cheaper than a dependency.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aigw/eventstream.h"

#define PRELUDE_LEN 12
#define MIN_MESSAGE 16 /* prelude and message CRC */

static uint32_t crc_table[256];

static void
crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t
es_crc32(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    if (crc_table[1] == 0)
        crc_table_init();
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static uint32_t
be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int64_t
be_int(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    /* sign-extend from n bytes */
    if (n < 8 && (v >> (8 * n - 1)) & 1)
        v |= ~(uint64_t)0 << (8 * n);
    return (int64_t)v;
}

void
es_init(struct es_decoder *d, size_t max_message)
{
    memset(d, 0, sizeof(*d));
    d->max = max_message < MIN_MESSAGE ? MIN_MESSAGE : max_message;
}

void
es_free(struct es_decoder *d)
{
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

size_t
es_pending(const struct es_decoder *d)
{
    return d->len;
}

const char *
es_strerror(int err)
{
    switch (err) {
    case ES_ERR_LENGTH:
        return "bad event-stream message length";
    case ES_ERR_PRELUDE_CRC:
        return "event-stream prelude CRC mismatch";
    case ES_ERR_MESSAGE_CRC:
        return "event-stream message CRC mismatch";
    case ES_ERR_HEADER:
        return "bad event-stream header";
    default:
        return "event-stream decoding stopped";
    }
}

/* The headers section h (n bytes) into m; 0 or ES_ERR_HEADER. */
static int
parse_headers(const unsigned char *h, size_t n, struct es_message *m)
{
    static const size_t fixed[] = {
        [ES_BOOL_TRUE] = 0, [ES_BOOL_FALSE] = 0, [ES_BYTE] = 1,      [ES_SHORT] = 2,
        [ES_INT] = 4,       [ES_LONG] = 8,       [ES_TIMESTAMP] = 8, [ES_UUID] = 16,
    };
    size_t off = 0;
    m->nheaders = 0;
    while (off < n) {
        struct es_header *e;
        size_t nlen, vlen;
        unsigned type;
        if (m->nheaders == ES_MAX_HEADERS)
            return ES_ERR_HEADER;
        e = &m->headers[m->nheaders];
        nlen = h[off++];
        if (nlen == 0 || nlen > n - off || n - off - nlen < 1)
            return ES_ERR_HEADER;
        e->name = (const char *)h + off;
        e->name_len = nlen;
        off += nlen;
        type = h[off++];
        if (type > ES_UUID)
            return ES_ERR_HEADER;
        e->type = (enum es_type)type;
        e->ival = 0;
        if (type == ES_BYTES || type == ES_STRING) {
            if (n - off < 2)
                return ES_ERR_HEADER;
            vlen = (size_t)h[off] << 8 | h[off + 1];
            off += 2;
        } else {
            vlen = fixed[type];
        }
        if (vlen > n - off)
            return ES_ERR_HEADER;
        e->value = (const char *)h + off;
        e->value_len = vlen;
        if (type == ES_BOOL_TRUE)
            e->ival = 1;
        else if (type != ES_BYTES && type != ES_STRING && type != ES_UUID && vlen > 0)
            e->ival = be_int(h + off, vlen);
        off += vlen;
        m->nheaders++;
    }
    return 0;
}

/* The complete message at p (total bytes, prelude checked): checks, parses, calls back. */
static int
deliver(const unsigned char *p, size_t total, es_message_cb cb, void *arg)
{
    struct es_message m;
    size_t hlen = be32(p + 4);
    int rv;
    if (es_crc32(0, p, total - 4) != be32(p + total - 4))
        return ES_ERR_MESSAGE_CRC;
    if ((rv = parse_headers(p + PRELUDE_LEN, hlen, &m)) != 0)
        return rv;
    m.payload = (const char *)p + PRELUDE_LEN + hlen;
    m.payload_len = total - MIN_MESSAGE - hlen;
    return cb(&m, arg);
}

/* The prelude at p: the message's total length, or an ES_ERR_*. */
static long long
check_prelude(const unsigned char *p, size_t max)
{
    uint32_t total = be32(p), hlen = be32(p + 4);
    if (es_crc32(0, p, 8) != be32(p + 8))
        return ES_ERR_PRELUDE_CRC;
    if (total < MIN_MESSAGE || total > max || hlen > total - MIN_MESSAGE)
        return ES_ERR_LENGTH;
    return total;
}

static int
fail(struct es_decoder *d, int rv)
{
    d->failed = rv;
    return rv;
}

int
es_feed(struct es_decoder *d, const void *buf, size_t len, es_message_cb cb, void *arg)
{
    const unsigned char *in = buf;
    if (d->failed)
        return d->failed;
    while (len > 0) {
        long long total;
        int rv;
        /* a whole message in the input and nothing held: no copy */
        if (d->len == 0 && len >= PRELUDE_LEN) {
            if ((total = check_prelude(in, d->max)) < 0)
                return fail(d, (int)total);
            if ((size_t)total <= len) {
                if ((rv = deliver(in, (size_t)total, cb, arg)) != 0)
                    return fail(d, rv);
                in += total;
                len -= (size_t)total;
                continue;
            }
        }
        /* hold bytes up to the prelude, then up to the message's end */
        size_t want = PRELUDE_LEN;
        if (d->len >= PRELUDE_LEN)
            want = be32(d->buf);
        size_t take = want - d->len < len ? want - d->len : len;
        if (d->cap < want) {
            size_t cap = want < 256 ? 256 : want;
            unsigned char *nb = realloc(d->buf, cap);
            if (!nb)
                return fail(d, ES_ERR_LENGTH);
            d->buf = nb;
            d->cap = cap;
        }
        memcpy(d->buf + d->len, in, take);
        d->len += take;
        in += take;
        len -= take;
        if (d->len == PRELUDE_LEN && want == PRELUDE_LEN) {
            if ((total = check_prelude(d->buf, d->max)) < 0)
                return fail(d, (int)total);
            if (total > PRELUDE_LEN)
                continue;
        }
        if (d->len >= PRELUDE_LEN && d->len == be32(d->buf)) {
            rv = deliver(d->buf, d->len, cb, arg);
            d->len = 0;
            if (rv != 0)
                return fail(d, rv);
        }
    }
    return 0;
}

const char *
es_header_string(const struct es_message *m, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct es_header *h = &m->headers[i];
        if (h->type == ES_STRING && h->name_len == nlen && memcmp(h->name, name, nlen) == 0) {
            *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

const char *
es_event_type(const struct es_message *m, size_t *len, int *is_error)
{
    size_t mlen = 0;
    const char *mt = es_header_string(m, ":message-type", &mlen);
    *is_error = 0;
    if (mt == NULL || (mlen == 5 && memcmp(mt, "event", 5) == 0))
        return es_header_string(m, ":event-type", len);
    *is_error = 1;
    if (mlen == 9 && memcmp(mt, "exception", 9) == 0)
        return es_header_string(m, ":exception-type", len);
    if (mlen == 5 && memcmp(mt, "error", 5) == 0)
        return es_header_string(m, ":error-code", len);
    return NULL;
}

unsigned char *
es_encode(const char *const *names, const char *const *values, size_t nheaders, const void *payload,
          size_t payload_len, size_t *out_len)
{
    size_t hlen = 0, total, off = PRELUDE_LEN;
    unsigned char *m;
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(names[i]), vl = strlen(values[i]);
        if (nl == 0 || nl > 255 || vl > 65535)
            return NULL;
        hlen += 1 + nl + 1 + 2 + vl;
    }
    total = MIN_MESSAGE + hlen + payload_len;
    if (total > UINT32_MAX || !(m = malloc(total)))
        return NULL;
    put_be32(m, (uint32_t)total);
    put_be32(m + 4, (uint32_t)hlen);
    put_be32(m + 8, es_crc32(0, m, 8));
    for (size_t i = 0; i < nheaders; i++) {
        size_t nl = strlen(names[i]), vl = strlen(values[i]);
        m[off++] = (unsigned char)nl;
        memcpy(m + off, names[i], nl);
        off += nl;
        m[off++] = ES_STRING;
        m[off++] = (unsigned char)(vl >> 8);
        m[off++] = (unsigned char)vl;
        memcpy(m + off, values[i], vl);
        off += vl;
    }
    if (payload_len)
        memcpy(m + off, payload, payload_len);
    off += payload_len;
    put_be32(m + off, es_crc32(0, m, off));
    *out_len = total;
    return m;
}
