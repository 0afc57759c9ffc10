/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_eventstream.c: the event-stream decoder (src/eventstream.c): AWS's
 * own encoded test vectors (aws/aws-sdk-js-v3,
 * packages/eventstream-marshaller/src/TestVectors.fixture.ts: empty_message,
 * int32_header, payload_no_headers, payload_one_str_header), a ConverseStream
 * as Bedrock sends it cut at every byte, exceptions, and each corruption:
 * prelude CRC, message CRC, lengths, headers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aigw/eventstream.h"
#include "tap.h"

/* Every message as "{name=value,...}payload;" (typed values in decimal). */
struct rec {
    char buf[8192];
    size_t len;
    int n, stop_at;
};

static void
put(struct rec *r, const void *p, size_t n)
{
    ck_assert_uint_lt(r->len + n, sizeof(r->buf));
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    r->buf[r->len] = '\0';
}

static int
rec_cb(const struct es_message *m, void *arg)
{
    struct rec *r = arg;
    char num[32];
    put(r, "{", 1);
    for (size_t i = 0; i < m->nheaders; i++) {
        const struct es_header *h = &m->headers[i];
        put(r, h->name, h->name_len);
        put(r, "=", 1);
        if (h->type == ES_STRING || h->type == ES_BYTES) {
            put(r, h->value, h->value_len);
        } else {
            snprintf(num, sizeof(num), "%d:%lld", (int)h->type, (long long)h->ival);
            put(r, num, strlen(num));
        }
        put(r, i + 1 < m->nheaders ? "," : "", i + 1 < m->nheaders);
    }
    put(r, "}", 1);
    put(r, m->payload, m->payload_len);
    put(r, ";", 1);
    r->n++;
    return r->n == r->stop_at ? 7 : 0;
}

/* Decode p (n bytes) cut before cut1 and cut2 (0: no cut), max bytes a message; result of the
 * feeds. */
static int
decode_cut(const unsigned char *p, size_t n, size_t cut1, size_t cut2, size_t max, struct rec *r,
           size_t *pending)
{
    struct es_decoder d;
    size_t cuts[4] = {0, cut1, cut2 > cut1 ? cut2 : cut1, n};
    int rv = 0;
    memset(r, 0, sizeof(*r));
    es_init(&d, max);
    for (int i = 0; i < 3 && rv == 0; i++) {
        size_t len = cuts[i + 1] - cuts[i];
        /* each piece in its own allocation: a read past it is caught */
        unsigned char *piece = malloc(len ? len : 1);
        memcpy(piece, p + cuts[i], len);
        rv = es_feed(&d, piece, len, rec_cb, r);
        free(piece);
    }
    if (pending)
        *pending = es_pending(&d);
    es_free(&d);
    return rv;
}

/* The same events for every cut of p into three pieces. */
static void
check_every_cut(const unsigned char *p, size_t n, const char *want, int want_n)
{
    struct rec r;
    size_t pending;
    for (size_t a = 0; a <= n; a++) {
        /* short inputs: every pair of cuts; long ones: one cut, then a 1- and a 13-byte piece */
        size_t bs[3] = {a, a + 1, a + 13}, nb = 3;
        for (size_t i = 0; i < (n > 100 ? nb : n - a + 1); i++) {
            size_t b = n > 100 ? bs[i] : a + i;
            if (b > n)
                b = n;
            ck_assert_int_eq(decode_cut(p, n, a, b, 1 << 20, &r, &pending), 0);
            ck_assert_str_eq(r.buf, want);
            ck_assert_int_eq(r.n, want_n);
            ck_assert_uint_eq(pending, 0);
        }
    }
}

START_TEST(crc32_known_value)
{
    ck_assert_uint_eq(es_crc32(0, "123456789", 9), 0xCBF43926u);
    ck_assert_uint_eq(es_crc32(es_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}
END_TEST

static const unsigned char empty_message[] = {0, 0,   0,  16,  0,   0,   0,   0,
                                              5, 194, 72, 235, 125, 152, 200, 255};
static const unsigned char int32_header[] = {
    0,   0,   0,   45, 0,   0,   0,   16,  65,  196, 36,  184, 10,  101, 118,
    101, 110, 116, 45, 116, 121, 112, 101, 4,   0,   0,   160, 12,  123, 39,
    102, 111, 111, 39, 58,  39,  98,  97,  114, 39,  125, 54,  244, 128, 160};
static const unsigned char payload_no_headers[] = {0,   0,  0,   29, 0,   0,   0,   0,  253, 82,
                                                   140, 90, 123, 39, 102, 111, 111, 39, 58,  39,
                                                   98,  97, 114, 39, 125, 195, 101, 57, 54};
static const unsigned char payload_one_str_header[] = {
    0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
    116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
    105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
    111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177};

START_TEST(aws_vectors)
{
    check_every_cut(empty_message, sizeof(empty_message), "{};", 1);
    check_every_cut(int32_header, sizeof(int32_header), "{event-type=4:40972}{'foo':'bar'};", 1);
    check_every_cut(payload_no_headers, sizeof(payload_no_headers), "{}{'foo':'bar'};", 1);
    check_every_cut(payload_one_str_header, sizeof(payload_one_str_header),
                    "{content-type=application/json}{'foo':'bar'};", 1);
}
END_TEST

START_TEST(encoder_matches_aws_vector)
{
    const char *names[] = {"content-type"}, *values[] = {"application/json"};
    size_t n;
    unsigned char *m = es_encode(names, values, 1, "{'foo':'bar'}", 13, &n);
    ck_assert_uint_eq(n, sizeof(payload_one_str_header));
    ck_assert_int_eq(memcmp(m, payload_one_str_header, n), 0);
    free(m);
}
END_TEST

/* One ConverseStream event as Bedrock frames it, appended to buf. */
static size_t
event(unsigned char *buf, size_t off, const char *type, const char *json)
{
    const char *names[] = {":event-type", ":content-type", ":message-type"};
    const char *values[] = {type, "application/json", "event"};
    size_t n;
    unsigned char *m = es_encode(names, values, 3, json, strlen(json), &n);
    ck_assert_ptr_nonnull(m);
    memcpy(buf + off, m, n);
    free(m);
    return off + n;
}

#define EV(t) "{:event-type=" t ",:content-type=application/json,:message-type=event}"

START_TEST(converse_stream_every_cut)
{
    unsigned char s[2048];
    size_t n = 0;
    n = event(s, n, "messageStart", "{\"p\":\"abcd\",\"role\":\"assistant\"}");
    n = event(s, n, "contentBlockDelta",
              "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"},\"p\":\"ab\"}");
    n = event(s, n, "contentBlockDelta",
              "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"lo\"},\"p\":\"abcdefg\"}");
    n = event(s, n, "contentBlockStop", "{\"contentBlockIndex\":0,\"p\":\"abc\"}");
    n = event(s, n, "messageStop", "{\"p\":\"a\",\"stopReason\":\"end_turn\"}");
    n = event(s, n, "metadata",
              "{\"metrics\":{\"latencyMs\":120},\"p\":\"ab\",\"usage\":{\"inputTokens\":12,"
              "\"outputTokens\":2,\"totalTokens\":14}}");
    check_every_cut(
        s, n,
        EV("messageStart") "{\"p\":\"abcd\",\"role\":\"assistant\"};" EV(
            "contentBlockDelta") "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"},\"p\":"
                                 "\"ab\"};" EV(
                                     "contentBlockDelta") "{\"contentBlockIndex\":0,"
                                                          "\"delta\":{\"text\":\"lo\"},"
                                                          "\"p\":\"abcdefg\"};" EV(
                                                              "conte"
                                                              "ntBlo"
                                                              "ckSto"
                                                              "p") "{\"contentBlockIndex\":0,\"p\":"
                                                                   "\"abc\"};" EV(
                                                                       "messageStop") "{"
                                                                                      "\"p\":\"a\","
                                                                                      "\"stopReason"
                                                                                      "\":\"end_"
                                                                                      "turn\"};" EV(
                                                                                          "metadat"
                                                                                          "a") "{\""
                                                                                               "met"
                                                                                               "ric"
                                                                                               "s\""
                                                                                               ":{"
                                                                                               "\"l"
                                                                                               "ate"
                                                                                               "ncy"
                                                                                               "Ms"
                                                                                               "\":"
                                                                                               "120"
                                                                                               "},"
                                                                                               "\"p"
                                                                                               "\":"
                                                                                               "\"a"
                                                                                               "b\""
                                                                                               ",\""
                                                                                               "usa"
                                                                                               "ge"
                                                                                               "\":"
                                                                                               "{\""
                                                                                               "inp"
                                                                                               "utT"
                                                                                               "oke"
                                                                                               "ns"
                                                                                               "\":"
                                                                                               "12,"
                                                                                               "\"o"
                                                                                               "utp"
                                                                                               "utT"
                                                                                               "oke"
                                                                                               "ns"
                                                                                               "\":"
                                                                                               "2,"
                                                                                               "\"t"
                                                                                               "ota"
                                                                                               "lTo"
                                                                                               "ken"
                                                                                               "s\""
                                                                                               ":14"
                                                                                               "}}"
                                                                                               ";",
        6);
}
END_TEST

/* An exception in the stream: its headers read by name. */
static int
exception_cb(const struct es_message *m, void *arg)
{
    size_t len;
    const char *v = es_header_string(m, ":message-type", &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq((int)len, 9);
    ck_assert_int_eq(memcmp(v, "exception", 9), 0);
    v = es_header_string(m, ":exception-type", &len);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(memcmp(v, "throttlingException", len), 0);
    ck_assert_ptr_null(es_header_string(m, ":event-type", &len));
    *(int *)arg += 1;
    return 0;
}

START_TEST(exception_message)
{
    const char *names[] = {":exception-type", ":content-type", ":message-type"};
    const char *values[] = {"throttlingException", "application/json", "exception"};
    const char *body = "{\"message\":\"Too many requests, please wait before trying again.\"}";
    size_t n;
    unsigned char *m = es_encode(names, values, 3, body, strlen(body), &n);
    struct es_decoder d;
    int seen = 0;
    es_init(&d, 1 << 20);
    ck_assert_int_eq(es_feed(&d, m, n, exception_cb, &seen), 0);
    ck_assert_int_eq(seen, 1);
    es_free(&d);
    free(m);
}
END_TEST

/* Each message type names itself: event, exception, error, unknown. */
static int
type_cb(const struct es_message *m, void *arg)
{
    char *out = arg;
    size_t len = 0;
    int err = -1;
    const char *t = es_event_type(m, &len, &err);
    snprintf(out + strlen(out), 256 - strlen(out), "%d:%.*s;", err, t ? (int)len : 4,
             t ? t : "NULL");
    return 0;
}

START_TEST(event_types)
{
    const char *n3[] = {":event-type", ":content-type", ":message-type"};
    const char *v_ev[] = {"contentBlockDelta", "application/json", "event"};
    const char *n_ex[] = {":exception-type", ":message-type"},
               *v_ex[] = {"validationException", "exception"};
    const char *n_er[] = {":error-code", ":error-message", ":message-type"};
    const char *v_er[] = {"InternalFailure", "An internal error occurred", "error"};
    const char *n_un[] = {":message-type"}, *v_un[] = {"other"};
    unsigned char *ms[4];
    size_t lens[4];
    char out[256] = "";
    struct es_decoder d;
    ms[0] = es_encode(n3, v_ev, 3, "{}", 2, &lens[0]);
    ms[1] = es_encode(n_ex, v_ex, 2, "{}", 2, &lens[1]);
    ms[2] = es_encode(n_er, v_er, 3, "", 0, &lens[2]);
    ms[3] = es_encode(n_un, v_un, 1, "", 0, &lens[3]);
    es_init(&d, 1 << 20);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(es_feed(&d, ms[i], lens[i], type_cb, out), 0);
        free(ms[i]);
    }
    es_free(&d);
    ck_assert_str_eq(out, "0:contentBlockDelta;1:validationException;1:InternalFailure;1:NULL;");
}
END_TEST

/* Fix both CRCs of message m (n bytes) after an edit. */
static void
recrc(unsigned char *m, size_t n)
{
    uint32_t c = es_crc32(0, m, 8);
    m[8] = (unsigned char)(c >> 24), m[9] = (unsigned char)(c >> 16);
    m[10] = (unsigned char)(c >> 8), m[11] = (unsigned char)c;
    c = es_crc32(0, m, n - 4);
    m[n - 4] = (unsigned char)(c >> 24), m[n - 3] = (unsigned char)(c >> 16);
    m[n - 2] = (unsigned char)(c >> 8), m[n - 1] = (unsigned char)c;
}

START_TEST(corruption_refused_at_any_cut)
{
    unsigned char m[sizeof(payload_one_str_header)];
    size_t n = sizeof(m);
    struct rec r;
    for (size_t a = 0; a <= n; a++) {
        /* the prelude's CRC */
        memcpy(m, payload_one_str_header, n);
        m[9] ^= 0x10;
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_PRELUDE_CRC);
        /* a payload byte: the message CRC */
        memcpy(m, payload_one_str_header, n);
        m[50] ^= 1;
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_MESSAGE_CRC);
        ck_assert_int_eq(r.n, 0);
        /* the message's own CRC */
        memcpy(m, payload_one_str_header, n);
        m[n - 1] ^= 0x80;
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_MESSAGE_CRC);
        /* over the limit */
        memcpy(m, payload_one_str_header, n);
        ck_assert_int_eq(decode_cut(m, n, a, a, 60, &r, NULL), ES_ERR_LENGTH);
        /* headers longer than the message */
        memcpy(m, payload_one_str_header, n);
        m[7] = 50;
        recrc(m, n);
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_LENGTH);
        /* a header type beyond uuid */
        memcpy(m, payload_one_str_header, n);
        m[25] = 10;
        recrc(m, n);
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_HEADER);
        /* a string header's length past its section */
        memcpy(m, payload_one_str_header, n);
        m[27] = 17;
        recrc(m, n);
        ck_assert_int_eq(decode_cut(m, n, a, a, 1 << 20, &r, NULL), ES_ERR_HEADER);
    }
    /* a total length under the minimum */
    memcpy(m, empty_message, 16);
    m[3] = 15;
    recrc(m, 16);
    ck_assert_int_eq(decode_cut(m, 16, 0, 0, 1 << 20, &r, NULL), ES_ERR_LENGTH);
}
END_TEST

START_TEST(cut_stream_pending_and_stop)
{
    unsigned char s[512];
    size_t n = 0, pending;
    struct rec r;
    struct es_decoder d;
    n = event(s, n, "messageStart", "{\"role\":\"assistant\"}");
    n = event(s, n, "messageStop", "{\"stopReason\":\"end_turn\"}");
    /* the stream ends inside the second message: one event, bytes held */
    ck_assert_int_eq(decode_cut(s, n - 5, 0, 0, 1 << 20, &r, &pending), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_gt(pending, 0);
    /* a callback's non-zero result stops decoding and stays */
    memset(&r, 0, sizeof(r));
    r.stop_at = 1;
    es_init(&d, 1 << 20);
    ck_assert_int_eq(es_feed(&d, s, n, rec_cb, &r), 7);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(es_feed(&d, s, n, rec_cb, &r), 7);
    ck_assert_int_eq(r.n, 1);
    es_free(&d);
}
END_TEST

static Suite *
eventstream_suite(void)
{
    Suite *s = suite_create("eventstream");
    TCase *tc = tcase_create("eventstream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, crc32_known_value);
    tcase_add_test(tc, aws_vectors);
    tcase_add_test(tc, encoder_matches_aws_vector);
    tcase_add_test(tc, converse_stream_every_cut);
    tcase_add_test(tc, exception_message);
    tcase_add_test(tc, event_types);
    tcase_add_test(tc, corruption_refused_at_any_cut);
    tcase_add_test(tc, cut_stream_pending_and_stop);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(eventstream_suite());
}
