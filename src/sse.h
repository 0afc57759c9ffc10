/* SPDX-License-Identifier: Apache-2.0 */
/* sse.h: a Server-Sent Events parser that reassembles events split across reads. */
#ifndef AIGW_SSE_H
#define AIGW_SSE_H

#include <stddef.h>

/* Called once per complete event; data lines are joined with '\n'. Non-zero stops parsing. */
typedef int (*sse_event_cb)(const char *event, size_t evlen, const char *data, size_t datalen,
                            void *arg);

struct sse_parser {
    char *line;     /* the current, incomplete line */
    size_t linelen, linecap;
    char *data;     /* data of the current event */
    size_t datalen, datacap;
    char event[64]; /* event name of the current event ("" = message) */
    size_t evlen;
    int has_data;
    int skip_lf;    /* last byte was '\r': a following '\n' belongs to it */
    size_t max;     /* most bytes one event may have */
};

void sse_init(struct sse_parser *p, size_t max_event);
void sse_free(struct sse_parser *p);
/* Returns 0, -1 when an event exceeds max, or the callback's non-zero result. */
int sse_feed(struct sse_parser *p, const char *buf, size_t len, sse_event_cb cb, void *arg);

#endif
