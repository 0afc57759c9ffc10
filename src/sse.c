/* SPDX-License-Identifier: Apache-2.0 */
/* sse.c: Server-Sent Events parsing, per the WHATWG event-stream grammar (worker). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sse.h"

void
sse_init(struct sse_parser *p, size_t max_event)
{
    memset(p, 0, sizeof(*p));
    p->max = max_event;
}

void
sse_free(struct sse_parser *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

/* Grow *buf to hold need bytes (plus a NUL); -1 past max. */
static int
grow(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max)
        return -1;
    if (need + 1 <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need + 1)
        ncap *= 2;
    char *n = realloc(*buf, ncap);
    if (n == NULL)
        return -1;
    *buf = n;
    *cap = ncap;
    return 0;
}

/* Handle one complete line (without its terminator). */
static int
sse_line(struct sse_parser *p, sse_event_cb cb, void *arg)
{
    const char *line = p->line ? p->line : "";
    size_t len = p->linelen;

    if (len == 0) { /* blank line: dispatch */
        int rv = 0;
        if (p->has_data)
            rv = cb(p->event, p->evlen, p->data ? p->data : "", p->datalen, arg);
        p->datalen = 0;
        p->has_data = 0;
        p->evlen = 0;
        p->event[0] = '\0';
        return rv;
    }
    if (line[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - val);
    if (vlen > 0 && *val == ' ') {
        val++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        size_t need = p->datalen + (p->has_data ? 1 : 0) + vlen;
        if (grow(&p->data, &p->datacap, need, p->max) < 0)
            return -1;
        if (p->has_data)
            p->data[p->datalen++] = '\n';
        memcpy(p->data + p->datalen, val, vlen);
        p->datalen += vlen;
        p->data[p->datalen] = '\0';
        p->has_data = 1;
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        p->evlen = vlen < sizeof(p->event) - 1 ? vlen : sizeof(p->event) - 1;
        memcpy(p->event, val, p->evlen);
        p->event[p->evlen] = '\0';
    }
    /* id and retry do not matter to a proxy that re-emits events */
    return 0;
}

int
sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_cb cb, void *arg)
{
    size_t i = 0;
    while (i < len) {
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        /* Take the run of bytes up to the next line terminator in one copy. */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j > i) {
            if (grow(&p->line, &p->linecap, p->linelen + (j - i), p->max) < 0)
                return -1;
            memcpy(p->line + p->linelen, buf + i, j - i);
            p->linelen += j - i;
        }
        if (j == len)
            break;
        if (buf[j] == '\r')
            p->skip_lf = 1;
        int rv = sse_line(p, cb, arg);
        p->linelen = 0;
        if (rv != 0)
            return rv;
        i = j + 1;
    }
    return 0;
}
