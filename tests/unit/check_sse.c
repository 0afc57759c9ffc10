/* SPDX-License-Identifier: Apache-2.0 */
/* check_sse.c: the SSE parser: splits at any byte, line endings, fields, comments, limits. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "tap.h"

#define MAX_EVENT (1 << 20)

/* Every event as "[event|data]", back to back. */
struct rec {
    char *buf;
    size_t len, cap;
    int n;
    int stop_at; /* return stop_rv from the stop_at-th event (1-based); 0: never */
    int stop_rv;
};

static int
rec_cb(const char *event, size_t evlen, const char *data, size_t datalen, void *arg)
{
    struct rec *r = arg;
    size_t need = r->len + evlen + datalen + 4;
    if (need > r->cap) {
        r->cap = need * 2;
        r->buf = realloc(r->buf, r->cap);
        ck_assert_ptr_nonnull(r->buf);
    }
    r->buf[r->len++] = '[';
    memcpy(r->buf + r->len, event, evlen);
    r->len += evlen;
    r->buf[r->len++] = '|';
    memcpy(r->buf + r->len, data, datalen);
    r->len += datalen;
    r->buf[r->len++] = ']';
    r->buf[r->len] = '\0';
    r->n++;
    return r->n == r->stop_at ? r->stop_rv : 0;
}

static void
rec_free(struct rec *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

/* The recorded events ("" when none). */
static const char *
rec_text(const struct rec *r)
{
    return r->buf ? r->buf : "";
}

/* Parse s (len bytes) fed in pieces cut before each offset of cuts; returns sse_feed's result. */
static int
parse_cut(const char *s, size_t len, const size_t *cuts, int ncuts, size_t max, struct rec *r)
{
    struct sse_parser p;
    size_t at = 0;
    int rv = 0;
    sse_init(&p, max);
    for (int i = 0; i <= ncuts && rv == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        rv = sse_feed(&p, s + at, end - at, rec_cb, r);
        at = end;
    }
    sse_free(&p);
    return rv;
}

/* Parse s in one piece. */
static int
parse_all(const char *s, size_t max, struct rec *r)
{
    return parse_cut(s, strlen(s), NULL, 0, max, r);
}

/* Parse s one byte per sse_feed call. */
static int
parse_bytes(const char *s, size_t max, struct rec *r)
{
    struct sse_parser p;
    int rv = 0;
    sse_init(&p, max);
    for (size_t i = 0; s[i] != '\0' && rv == 0; i++)
        rv = sse_feed(&p, s + i, 1, rec_cb, r);
    sse_free(&p);
    return rv;
}

/* Assert that s gives want in one piece, byte by byte, and cut in two at every offset. */
static void
assert_events_any_split(const char *s, const char *want, int nwant)
{
    struct rec r = {0};
    size_t len = strlen(s);
    ck_assert_int_eq(parse_all(s, MAX_EVENT, &r), 0);
    ck_assert_str_eq(rec_text(&r), want);
    ck_assert_int_eq(r.n, nwant);
    rec_free(&r);
    ck_assert_int_eq(parse_bytes(s, MAX_EVENT, &r), 0);
    ck_assert_str_eq(rec_text(&r), want);
    rec_free(&r);
    for (size_t cut = 0; cut <= len; cut++) {
        ck_assert_int_eq(parse_cut(s, len, &cut, 1, MAX_EVENT, &r), 0);
        ck_assert_msg(strcmp(rec_text(&r), want) == 0, "cut at %zu: got %s", cut, rec_text(&r));
        rec_free(&r);
    }
}

/* Replace every "\n" of s by eol (caller frees). */
static char *
with_eol(const char *s, const char *eol)
{
    size_t n = 0, el = strlen(eol);
    for (const char *p = s; *p; p++)
        n += *p == '\n' ? el : 1;
    char *out = malloc(n + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    for (const char *p = s; *p; p++) {
        if (*p == '\n') {
            memcpy(o, eol, el);
            o += el;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* A Chat Completions stream as OpenAI sends it, with a keep-alive comment. */
static const char openai_stream[] =
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hel\"}}]}\n\n"
    ": keep-alive\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n"
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n"
    "data: [DONE]\n\n";

static const char openai_events[] =
    "[|{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}]"
    "[|{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"Hel\"}}]}]"
    "[|{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}]"
    "[|{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],"
    "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}]"
    "[|[DONE]]";

/* The OpenAI stream in one piece: five events, the comment skipped, [DONE] last. */
START_TEST(openai_one_piece)
{
    struct rec r = {0};
    ck_assert_int_eq(parse_all(openai_stream, MAX_EVENT, &r), 0);
    ck_assert_int_eq(r.n, 5);
    ck_assert_str_eq(rec_text(&r), openai_events);
    ck_assert_str_eq(rec_text(&r) + r.len - 9, "[|[DONE]]");
    rec_free(&r);
}
END_TEST

/* The same stream one byte per read. */
START_TEST(openai_byte_by_byte)
{
    struct rec r = {0};
    ck_assert_int_eq(parse_bytes(openai_stream, MAX_EVENT, &r), 0);
    ck_assert_int_eq(r.n, 5);
    ck_assert_str_eq(rec_text(&r), openai_events);
    rec_free(&r);
}
END_TEST

/* The same stream cut in two at every offset, and in three at every pair of offsets. */
START_TEST(openai_every_split)
{
    assert_events_any_split(openai_stream, openai_events, 5);
    size_t len = strlen(openai_stream);
    for (size_t a = 0; a <= len; a += 7)
        for (size_t b = a; b <= len; b++) {
            struct rec r = {0};
            size_t cuts[2] = {a, b};
            ck_assert_int_eq(parse_cut(openai_stream, len, cuts, 2, MAX_EVENT, &r), 0);
            ck_assert_msg(strcmp(rec_text(&r), openai_events) == 0, "cuts at %zu, %zu", a, b);
            rec_free(&r);
        }
}
END_TEST

/* CRLF line endings give the same events, however the stream is split (also between \r and \n). */
START_TEST(crlf_endings)
{
    char *s = with_eol(openai_stream, "\r\n");
    assert_events_any_split(s, openai_events, 5);
    free(s);
    s = with_eol("event: e\ndata: a\ndata: b\n: c\ndata: d\n\n", "\r\n");
    assert_events_any_split(s, "[e|a\nb\nd]", 1);
    free(s);
}
END_TEST

/* Bare CR line endings give the same events, however the stream is split. */
START_TEST(cr_endings)
{
    char *s = with_eol(openai_stream, "\r");
    assert_events_any_split(s, openai_events, 5);
    free(s);
    s = with_eol("event: e\ndata: a\ndata: b\n: c\ndata: d\n\n", "\r");
    assert_events_any_split(s, "[e|a\nb\nd]", 1);
    free(s);
}
END_TEST

/* Mixed endings in one stream; "\r\r" is a line end and a blank line. */
START_TEST(mixed_endings)
{
    assert_events_any_split("data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n"
                            "data: e\n\r\n",
                            "[|a][|b][|c][|d][|e]", 5);
}
END_TEST

/* Several data lines are joined with \n; an empty data line adds an empty line. */
START_TEST(multiline_data)
{
    assert_events_any_split("data: a\ndata: b\ndata:\ndata:  c\n\n", "[|a\nb\n\n c]", 1);
    assert_events_any_split("data: {\"x\":\ndata: 1}\n\n", "[|{\"x\":\n1}]", 1);
}
END_TEST

/* event: names the next event only; it is reset after each dispatch. */
START_TEST(event_names)
{
    assert_events_any_split("event: ping\ndata: 1\n\ndata: 2\n\n"
                            "event: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n"
                            "event: lost\n\ndata: 3\n\n"
                            "event: a\nevent: b\ndata: 4\n\n",
                            "[ping|1][|2][error|{\"error\":{\"message\":\"x\"}}][|3][b|4]", 5);
}
END_TEST

/* Comment lines are skipped, also between data lines; a block of comments is no event. */
START_TEST(comments)
{
    assert_events_any_split(": keep-alive\n\n:\n: x\ndata: y\n:data: z\ndata: w\n\n"
                            ":data: only a comment\n\n",
                            "[|y\nw]", 1);
}
END_TEST

/* "data:x" needs no space; only one space is removed; a bare "data" line is empty data. */
START_TEST(field_without_space)
{
    assert_events_any_split("data:x\n\ndata:  two\n\ndata\n\nevent:ping\ndata:1\n\n",
                            "[|x][| two][|][ping|1]", 4);
}
END_TEST

/* id, retry, unknown fields, "DATA" and "data " are not data. */
START_TEST(other_fields_ignored)
{
    assert_events_any_split("id: 7\nretry: 10\nfoo: bar\nDATA: no\ndata : no\ndata: yes\n\n"
                            "id: 8\n\n",
                            "[|yes]", 1);
}
END_TEST

/* An event is dispatched only at its blank line, even across reads. */
START_TEST(dispatch_at_blank_line)
{
    struct rec r = {0};
    struct sse_parser p;
    sse_init(&p, MAX_EVENT);
    ck_assert_int_eq(sse_feed(&p, "data: a\n", 8, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(sse_feed(&p, "", 0, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(sse_feed(&p, "data: b\r", 8, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(sse_feed(&p, "\n", 1, rec_cb, &r), 0); /* the \n of \r\n, not a blank line */
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(sse_feed(&p, "\r\n", 2, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(rec_text(&r), "[|a\nb]");
    ck_assert_int_eq(sse_feed(&p, "data: never finished", 20, rec_cb, &r), 0);
    ck_assert_int_eq(r.n, 1);
    sse_free(&p);
    rec_free(&r);
}
END_TEST

/* A non-zero callback result stops parsing and is returned. */
START_TEST(callback_stops)
{
    struct rec r = {0};
    r.stop_at = 2;
    r.stop_rv = 7;
    ck_assert_int_eq(parse_all("data: 1\n\ndata: 2\n\ndata: 3\n\n", MAX_EVENT, &r), 7);
    ck_assert_int_eq(r.n, 2);
    ck_assert_str_eq(rec_text(&r), "[|1][|2]");
    rec_free(&r);
}
END_TEST

/* A large event within the limit arrives whole. */
START_TEST(large_event_within_max)
{
    size_t n = 100000;
    char *s = malloc(n + 16);
    ck_assert_ptr_nonnull(s);
    memcpy(s, "data: ", 6);
    memset(s + 6, 'x', n);
    memcpy(s + 6 + n, "\n\n", 3);
    struct rec r = {0};
    ck_assert_int_eq(parse_all(s, 200000, &r), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.len, n + 3);
    ck_assert_int_eq(parse_bytes(s, 200000, &r), 0);
    ck_assert_int_eq(r.n, 2);
    free(s);
    rec_free(&r);
}
END_TEST

/* An event larger than max (in one line) makes sse_feed return -1, also fed byte by byte. */
START_TEST(event_over_max_one_line)
{
    char s[200];
    memcpy(s, "data: ", 6);
    memset(s + 6, 'x', 150);
    memcpy(s + 156, "\n\n", 3);
    struct rec r = {0};
    ck_assert_int_eq(parse_all(s, 64, &r), -1);
    ck_assert_int_eq(r.n, 0);
    ck_assert_int_eq(parse_bytes(s, 64, &r), -1);
    ck_assert_int_eq(r.n, 0);
    rec_free(&r);
}
END_TEST

/* The limit is per event: many events under it all pass. */
START_TEST(max_is_per_event)
{
    char s[4096];
    size_t at = 0;
    for (int i = 0; i < 50; i++)
        at += (size_t)snprintf(s + at, sizeof(s) - at, "data: %040d\n\n", i);
    struct rec r = {0};
    ck_assert_int_eq(parse_all(s, 64, &r), 0);
    ck_assert_int_eq(r.n, 50);
    rec_free(&r);
}
END_TEST

/* An event over max made of data lines that are each under it is refused too. */
START_TEST(event_over_max_many_lines)
{
    char s[300];
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        memcpy(s + at, "data: ", 6);
        memset(s + at + 6, 'a' + i, 50);
        s[at + 56] = '\n';
        at += 57;
    }
    memcpy(s + at, "\n", 2);
    struct rec r = {0};
    int rv = parse_all(s, 100, &r); /* 3 x 50 bytes + 2 newlines = 152 > 100 */
    rec_free(&r);
    ck_assert_msg(rv == -1, "sse max is only checked when a buffer grows: a 152-byte event "
                                  "of three 50-byte data lines passes max 100");
}
END_TEST

/* After a big event grew the buffers, a later event over max is still refused. */
START_TEST(event_over_max_after_growth)
{
    char s[600];
    size_t at = 0;
    memcpy(s, "data: ", 6);
    memset(s + 6, 'a', 150);
    memcpy(s + 156, "\n\n", 2); /* 150 bytes: within max 200; the buffers grow to 256 */
    at = 158;
    memcpy(s + at, "data: ", 6);
    memset(s + at + 6, 'b', 240);
    memcpy(s + at + 246, "\n\n", 3); /* 240 bytes: over max 200 */
    struct rec r = {0};
    int rv = parse_all(s, 200, &r);
    int n = r.n;
    rec_free(&r);
    ck_assert_int_ge(n, 1);
    ck_assert_msg(rv == -1, "sse max is not enforced once the buffers' capacity exceeds it");
}
END_TEST

/* A parser can be freed and set up again; sse_free twice is harmless. */
START_TEST(reinit)
{
    struct sse_parser p;
    struct rec r = {0};
    sse_init(&p, MAX_EVENT);
    ck_assert_int_eq(sse_feed(&p, "data: half", 10, rec_cb, &r), 0);
    sse_free(&p);
    sse_free(&p);
    sse_init(&p, MAX_EVENT);
    ck_assert_int_eq(sse_feed(&p, "data: new\n\n", 11, rec_cb, &r), 0);
    sse_free(&p);
    ck_assert_str_eq(rec_text(&r), "[|new]");
    rec_free(&r);
}
END_TEST

static Suite *
sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60); /* the split loops are slow under sanitizers */
    tcase_add_test(tc, openai_one_piece);
    tcase_add_test(tc, openai_byte_by_byte);
    tcase_add_test(tc, openai_every_split);
    tcase_add_test(tc, crlf_endings);
    tcase_add_test(tc, cr_endings);
    tcase_add_test(tc, mixed_endings);
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_add_test(tc, multiline_data);
    tcase_add_test(tc, event_names);
    tcase_add_test(tc, comments);
    tcase_add_test(tc, field_without_space);
    tcase_add_test(tc, other_fields_ignored);
    tcase_add_test(tc, dispatch_at_blank_line);
    tcase_add_test(tc, callback_stops);
    tcase_add_test(tc, reinit);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, large_event_within_max);
    tcase_add_test(tc, event_over_max_one_line);
    tcase_add_test(tc, max_is_per_event);
    tcase_add_test(tc, event_over_max_many_lines);
    tcase_add_test(tc, event_over_max_after_growth);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(sse_suite());
}
