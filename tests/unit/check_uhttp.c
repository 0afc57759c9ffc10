/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_uhttp.c: the upstream client's response parser (src/uhttp_resp.c):
 * the same status, headers and body however the bytes are split into reads;
 * Content-Length, chunked and close-delimited bodies; 1xx skipped; the
 * header bound; bad framing; pause and resume; nothing read past the end.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "uhttp_resp.h"

/* What the callbacks saw. */
struct seen {
    int status;
    int nheaders_done;
    char hdrs[UHTTP_MAX_HEADER + 1024]; /* "name=value;" back to back */
    size_t hlen;
    char *body;
    size_t blen, bcap;
    int pause_every; /* answer UHTTP_PAUSE to every body call when set */
    int stop_headers;
};

static void
seen_header(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct seen *s = arg;
    ck_assert_uint_lt(s->hlen + nlen + vlen + 2, sizeof(s->hdrs));
    memcpy(s->hdrs + s->hlen, name, nlen);
    s->hlen += nlen;
    s->hdrs[s->hlen++] = '=';
    memcpy(s->hdrs + s->hlen, v, vlen);
    s->hlen += vlen;
    s->hdrs[s->hlen++] = ';';
    s->hdrs[s->hlen] = '\0';
}

static int
seen_headers_done(void *arg, int status)
{
    struct seen *s = arg;
    s->status = status;
    s->nheaders_done++;
    return s->stop_headers ? -1 : 0;
}

static int
seen_body(void *arg, const char *buf, size_t len)
{
    struct seen *s = arg;
    if (s->blen + len + 1 > s->bcap) {
        s->bcap = (s->blen + len + 1) * 2;
        s->body = realloc(s->body, s->bcap);
        ck_assert_ptr_nonnull(s->body);
    }
    memcpy(s->body + s->blen, buf, len);
    s->blen += len;
    s->body[s->blen] = '\0';
    return s->pause_every ? UHTTP_PAUSE : 0;
}

static const struct uhttp_resp_cb cb = {seen_header, seen_headers_done, seen_body};

/*
 * Feed text in pieces of `piece` bytes (0: whole), each in its own
 * allocation, resuming after every pause; then the end of the connection
 * when eof. Returns the last result; *used gets the bytes consumed.
 */
static enum uhttp_resp_rc
run(struct seen *s, const char *text, size_t len, size_t piece, int eof, size_t *used,
    int *keep_alive)
{
    struct uhttp_resp r;
    enum uhttp_resp_rc rc = UR_MORE;
    size_t off = 0;
    uhttp_resp_init(&r, &cb, s);
    while (off < len) {
        size_t k = piece == 0 || piece > len - off ? len - off : piece;
        char *p = malloc(k);
        size_t n;
        ck_assert_ptr_nonnull(p);
        memcpy(p, text + off, k);
        rc = uhttp_resp_feed(&r, p, k, &n);
        free(p);
        off += n;
        if (rc == UR_PAUSED) {
            uhttp_resp_resume(&r);
            rc = UR_MORE;
            continue;
        }
        if (rc != UR_MORE)
            break;
    }
    if (rc == UR_MORE && eof)
        rc = uhttp_resp_eof(&r);
    *used = off;
    *keep_alive = r.keep_alive;
    uhttp_resp_free(&r);
    return rc;
}

/* Every split size gives what the whole did: rc, status, headers, body, bytes used. */
static void
check_splits(const char *text, int eof, enum uhttp_resp_rc want, int status, const char *hdrs,
             const char *body, int want_ka)
{
    size_t len = strlen(text);
    for (size_t piece = 0; piece <= len && piece <= 40; piece++) {
        for (int pause = 0; pause < 2; pause++) {
            struct seen s = {0};
            size_t used;
            int ka;
            s.pause_every = pause;
            enum uhttp_resp_rc rc = run(&s, text, len, piece, eof, &used, &ka);
            ck_assert_msg(rc == want, "piece %zu pause %d: rc %d, want %d", piece, pause, rc, want);
            if (want == UR_DONE) {
                ck_assert_int_eq(s.status, status);
                ck_assert_int_eq(s.nheaders_done, 1);
                ck_assert_str_eq(s.hdrs, hdrs);
                ck_assert_str_eq(s.body ? s.body : "", body);
                ck_assert_int_eq(ka, want_ka);
            }
            free(s.body);
        }
    }
}

START_TEST(content_length)
{
    check_splits("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
                 "Retry-After:  7 \r\nX-Empty:\r\n\r\n{\"a\":\"bcd\"}",
                 0, UR_DONE, 200,
                 "Content-Type=application/json;Content-Length=11;"
                 "Retry-After=7 ;X-Empty=;",
                 "{\"a\":\"bcd\"}", 1);
}
END_TEST

START_TEST(chunked)
{
    check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n",
                 0, UR_DONE, 200, "Transfer-Encoding=chunked;", "hello world", 1);
}
END_TEST

START_TEST(close_delimited)
{
    /* no length, not chunked: the body runs to the end of the connection */
    check_splits("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\ndata: 2\n\n",
                 1, UR_DONE, 200, "Content-Type=text/event-stream;", "data: 1\n\ndata: 2\n\n", 0);
    /* ... and before that end it is not complete */
    check_splits("HTTP/1.1 200 OK\r\n\r\nabc", 0, UR_MORE, 0, NULL, NULL, 0);
}
END_TEST

START_TEST(connection_close)
{
    check_splits("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0, UR_DONE,
                 200, "Connection=close;Content-Length=2;", "ok", 0);
    check_splits("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, UR_DONE, 200,
                 "Content-Length=2;", "ok", 0);
}
END_TEST

START_TEST(interim_skipped)
{
    check_splits("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                 "Link: </a>\r\n\r\nHTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
                 0, UR_DONE, 429, "Content-Length=0;", "", 1);
}
END_TEST

START_TEST(no_body_statuses)
{
    check_splits("HTTP/1.1 204 No Content\r\n\r\n", 0, UR_DONE, 204, "", "", 1);
    check_splits("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, UR_DONE, 304,
                 "Content-Length=10;", "", 1);
}
END_TEST

START_TEST(upgrade_refused)
{
    check_splits("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
                 1, UR_BAD, 0, NULL, NULL, 0);
}
END_TEST

START_TEST(bad_framing)
{
    check_splits("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab", 0, UR_BAD, 0, NULL, NULL, 0);
    check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 0,
                 UR_BAD, 0, NULL, NULL, 0);
    check_splits("SMTP ready\r\n\r\n", 0, UR_BAD, 0, NULL, NULL, 0);
    check_splits("HTTP/1.1 2 OK\r\nContent-Length: 0\r\n\r\n", 0, UR_BAD, 0, NULL, NULL, 0);
    check_splits("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, UR_BAD,
                 0, NULL, NULL, 0);
}
END_TEST

START_TEST(truncated)
{
    check_splits("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcde", 1, UR_TRUNC, 0, NULL, NULL,
                 0);
    check_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc", 1, UR_TRUNC, 0,
                 NULL, NULL, 0);
    check_splits("HTTP/1.1 200 OK\r\nContent-Le", 1, UR_TRUNC, 0, NULL, NULL, 0);
    check_splits("HTTP/1.1 100 Continue\r\n\r\n", 1, UR_TRUNC, 0, NULL, NULL, 0);
    /* nothing at all */
    struct uhttp_resp r;
    struct seen s = {0};
    uhttp_resp_init(&r, &cb, &s);
    ck_assert_int_eq(uhttp_resp_eof(&r), UR_TRUNC);
    ck_assert_uint_eq(r.nbytes, 0);
    uhttp_resp_free(&r);
}
END_TEST

/* A response whose headers (many, or one long one) exceed the bound, in any split. */
static void
check_too_big(size_t nh, size_t vlen)
{
    size_t cap = 64 + nh * (vlen + 32), len = 0;
    char *t = malloc(cap);
    ck_assert_ptr_nonnull(t);
    len += (size_t)snprintf(t, cap, "HTTP/1.1 200 OK\r\n");
    for (size_t i = 0; i < nh; i++) {
        len += (size_t)snprintf(t + len, cap - len, "X-H%zu: ", i);
        memset(t + len, 'v', vlen);
        len += vlen;
        memcpy(t + len, "\r\n", 2);
        len += 2;
    }
    t[len] = '\0';
    size_t pieces[] = {0, 1, 7, 4096};
    for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
        struct seen s = {0};
        size_t used;
        int ka;
        ck_assert_int_eq(run(&s, t, len, pieces[i], 1, &used, &ka), UR_TOO_BIG);
        ck_assert_int_eq(s.nheaders_done, 0);
    }
    free(t);
}

START_TEST(header_bound)
{
    check_too_big(1, UHTTP_MAX_HEADER); /* one long header */
    check_too_big(2000, 40);            /* many short ones (about 100 KB) */
    /* just under the bound passes */
    size_t vlen = UHTTP_MAX_HEADER - 200;
    char *t = malloc(vlen + 128);
    ck_assert_ptr_nonnull(t);
    int n = snprintf(t, 128, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(t + n, 'v', vlen);
    strcpy(t + n + vlen, "\r\nContent-Length: 0\r\n\r\n");
    struct seen s = {0};
    size_t used;
    int ka;
    ck_assert_int_eq(run(&s, t, strlen(t), 1000, 0, &used, &ka), UR_DONE);
    free(t);
}
END_TEST

START_TEST(stops_at_its_end)
{
    /* a second response (or junk) after the first is not consumed */
    const char *one = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    char both[256];
    snprintf(both, sizeof(both), "%sHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", one);
    for (size_t piece = 0; piece < 8; piece++) {
        struct seen s = {0};
        size_t used;
        int ka;
        ck_assert_int_eq(run(&s, both, strlen(both), piece, 0, &used, &ka), UR_DONE);
        ck_assert_uint_eq(used, strlen(one));
        ck_assert_str_eq(s.body, "ok");
        free(s.body);
    }
}
END_TEST

START_TEST(pause_resume)
{
    const char *t = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
    struct uhttp_resp r;
    struct seen s = {0};
    size_t used, off = 0;
    int pauses = 0;
    s.pause_every = 1;
    uhttp_resp_init(&r, &cb, &s);
    enum uhttp_resp_rc rc;
    /* the parser stops after each body piece; the rest waits for resume */
    while ((rc = uhttp_resp_feed(&r, t + off, strlen(t) - off, &used)) == UR_PAUSED) {
        off += used;
        pauses++;
        ck_assert_uint_lt(off, strlen(t));
        /* fed again while paused: nothing moves */
        ck_assert_int_eq(uhttp_resp_feed(&r, t + off, strlen(t) - off, &used), UR_PAUSED);
        ck_assert_uint_eq(used, 0);
        uhttp_resp_resume(&r);
    }
    ck_assert_int_eq(rc, UR_DONE);
    ck_assert_int_eq(pauses, 2);
    ck_assert_str_eq(s.body, "abcdef");
    free(s.body);
    uhttp_resp_free(&r);
}
END_TEST

START_TEST(callback_stops)
{
    struct seen s = {0};
    size_t used;
    int ka;
    s.stop_headers = 1;
    const char *t = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ck_assert_int_eq(run(&s, t, strlen(t), 3, 1, &used, &ka), UR_STOP);
}
END_TEST

static Suite *
uhttp_suite(void)
{
    Suite *s = suite_create("uhttp");
    TCase *tc = tcase_create("framing");
    tcase_add_test(tc, content_length);
    tcase_add_test(tc, chunked);
    tcase_add_test(tc, close_delimited);
    tcase_add_test(tc, connection_close);
    tcase_add_test(tc, interim_skipped);
    tcase_add_test(tc, no_body_statuses);
    tcase_add_test(tc, stops_at_its_end);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, upgrade_refused);
    tcase_add_test(tc, bad_framing);
    tcase_add_test(tc, truncated);
    tcase_add_test(tc, header_bound);
    tcase_add_test(tc, callback_stops);
    suite_add_tcase(s, tc);
    tc = tcase_create("flow");
    tcase_add_test(tc, pause_resume);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(uhttp_suite());
}
