/* SPDX-License-Identifier: Apache-2.0 */
/* check_auth.c: key hashing, hex, model globs, key records' allowed_models, and util.h parsers. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "auth.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "aigw/util.h"
#include "tap.h"

/* The lowercase hex SHA-256 of len bytes of s. */
static void
hash_hex(const char *s, size_t len, char hex[2 * AUTH_HASH_LEN + 1])
{
    uint8_t h[AUTH_HASH_LEN];
    auth_key_hash(s, len, h);
    hex_encode(h, sizeof(h), hex);
}

/* FIPS 180-2 test vectors: "", "abc" and the two-block message. */
START_TEST(sha256_known_vectors)
{
    char hex[2 * AUTH_HASH_LEN + 1];
    hash_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

/* One million 'a': many blocks. */
START_TEST(sha256_million_a)
{
    char hex[2 * AUTH_HASH_LEN + 1];
    char *buf = malloc(1000000);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'a', 1000000);
    hash_hex(buf, 1000000, hex);
    free(buf);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* The hash covers exactly len bytes: a prefix, and bytes after a NUL. */
START_TEST(sha256_uses_len_not_nul)
{
    char hex[2 * AUTH_HASH_LEN + 1];
    hash_hex("abcdef", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    hash_hex("a\0b", 3, hex);
    ck_assert_str_eq(hex, "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
    hash_hex("sk-aigw-quickstart", 18, hex);
    ck_assert_str_eq(hex, "8bf9f8cd7ab817ef335bd88813eb55c22d9f8fb3233f3a755a3977d776e165c9");
}
END_TEST

/* hex_encode is lowercase and NUL-terminated; hex_decode takes either case. */
START_TEST(hex_round_trip)
{
    const uint8_t in[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    uint8_t out[sizeof(in)];
    char hex[2 * sizeof(in) + 1];
    memset(hex, 'x', sizeof(hex));
    hex_encode(in, sizeof(in), hex);
    ck_assert_str_eq(hex, "00017f80abff");
    ck_assert_int_eq(hex_decode("00017f80abff", out, sizeof(out)), 0);
    ck_assert_mem_eq(out, in, sizeof(in));
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(hex_decode("00017F80ABFF", out, sizeof(out)), 0);
    ck_assert_mem_eq(out, in, sizeof(in));
    hex_encode(in, 0, hex);
    ck_assert_str_eq(hex, "");
}
END_TEST

/* hex_decode refuses a bad digit and any length but exactly 2n. */
START_TEST(hex_decode_bad)
{
    uint8_t out[3];
    ck_assert_int_eq(hex_decode("0011g2", out, 3), -1);
    ck_assert_int_eq(hex_decode("0011 2", out, 3), -1);
    ck_assert_int_eq(hex_decode("00112", out, 3), -1);
    ck_assert_int_eq(hex_decode("0011223", out, 3), -1);
    ck_assert_int_eq(hex_decode("00112233", out, 3), -1);
    ck_assert_int_eq(hex_decode("", out, 3), -1);
    ck_assert_int_eq(hex_decode("-01122", out, 3), -1);
}
END_TEST

/* "*" matches every name, also names with '/' and a leading dot. */
START_TEST(glob_star)
{
    ck_assert_int_eq(auth_glob_match("*", "gpt-4o"), 1);
    ck_assert_int_eq(auth_glob_match("*", "meta-llama/Llama-3.1-8B-Instruct"), 1);
    ck_assert_int_eq(auth_glob_match("*", ".hidden"), 1);
    ck_assert_int_eq(auth_glob_match("*", ""), 1);
}
END_TEST

/* A trailing star matches a prefix only. */
START_TEST(glob_prefix)
{
    ck_assert_int_eq(auth_glob_match("gpt-4*", "gpt-4o"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "gpt-4"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "gpt-4o-mini-2024-07-18"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "gpt-3.5"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "gpt-3.5-turbo"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "xgpt-4o"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4*", "GPT-4o"), 0);
}
END_TEST

/* A pattern without metacharacters matches that exact name (case-sensitive). */
START_TEST(glob_exact)
{
    ck_assert_int_eq(auth_glob_match("gpt-4o", "gpt-4o"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-4o", "gpt-4o-mini"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4o", "gpt-4"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4o", "GPT-4o"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-4o", ""), 0);
    ck_assert_int_eq(auth_glob_match("gpt-3.5", "gpt-3x5"), 0); /* '.' is not a wildcard */
}
END_TEST

/* Names with '/': a star crosses it (no FNM_PATHNAME); exact names with '/' match. */
START_TEST(glob_slash)
{
    ck_assert_int_eq(auth_glob_match("meta-llama/*", "meta-llama/Llama-3.1-8B-Instruct"), 1);
    ck_assert_int_eq(auth_glob_match("meta-llama/*", "mistralai/Mistral-7B"), 0);
    ck_assert_int_eq(auth_glob_match("local-*", "local-llama/v1/big"), 1);
    ck_assert_int_eq(auth_glob_match("*/Llama-3*", "meta-llama/Llama-3.1-8B"), 1);
    ck_assert_int_eq(auth_glob_match("org/model", "org/model"), 1);
    ck_assert_int_eq(auth_glob_match("org/model", "org/model2"), 0);
}
END_TEST

/* '?' and bracket classes work as in fnmatch(3). */
START_TEST(glob_classes)
{
    ck_assert_int_eq(auth_glob_match("gpt-?o", "gpt-4o"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-?o", "gpt-40o"), 0);
    ck_assert_int_eq(auth_glob_match("gpt-[34]*", "gpt-3.5-turbo"), 1);
    ck_assert_int_eq(auth_glob_match("gpt-[34]*", "gpt-5"), 0);
}
END_TEST

/* Validate and compile a key document (JSON text) and decode it into v; rec is the record. */
static void
key_from_json(const char *json, void **rec, size_t *len, struct key_view *v)
{
    struct aigw_errors e;
    struct json_object *doc = json_tokener_parse(json);
    ck_assert_ptr_nonnull(doc);
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_API_KEY, doc, "api_keys[0]", &e), 0);
    ck_assert_int_eq(e.n, 0);
    errors_free(&e);
    ck_assert_int_eq(res_compile(RES_API_KEY, "k1", doc, rec, len), 0);
    json_object_put(doc);
    ck_assert_int_eq(key_view_decode(*rec, *len, v), 0);
}

/* A key with several patterns allows what any one matches, nothing else. */
START_TEST(key_allows_several_patterns)
{
    void *rec;
    size_t len;
    struct key_view v;
    key_from_json("{\"name\":\"team-a\",\"key\":\"sk-test-0001\",\"allowed_models\":"
                  "[\"gpt-4o*\",\"local-*\",\"meta-llama/Llama-3.1-8B-Instruct\"]}",
                  &rec, &len, &v);
    ck_assert_int_eq(v.nallowed, 3);
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4o"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4o-mini"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "local-llama"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "meta-llama/Llama-3.1-8B-Instruct"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "meta-llama/Llama-3.1-70B-Instruct"), 0);
    ck_assert_int_eq(auth_key_allows(&v, "gpt-3.5-turbo"), 0);
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4"), 0);
    ck_assert_int_eq(auth_key_allows(&v, "my-local-model"), 0);
    free(rec);
}
END_TEST

/* Without allowed_models a key may use every model; with an empty list, none. */
START_TEST(key_allows_default_and_empty)
{
    void *rec;
    size_t len;
    struct key_view v;
    key_from_json("{\"name\":\"all\",\"key\":\"sk-test-0001\"}", &rec, &len, &v);
    ck_assert_int_eq(v.nallowed, 1);
    ck_assert_str_eq(v.allowed, "*");
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4o"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "org/any-model"), 1);
    free(rec);

    key_from_json("{\"name\":\"none\",\"key\":\"sk-test-0001\",\"allowed_models\":[]}", &rec, &len,
                  &v);
    ck_assert_int_eq(v.nallowed, 0);
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4o"), 0);
    ck_assert_int_eq(auth_key_allows(&v, "x"), 0);
    free(rec);
}
END_TEST

/* A key view built by hand: patterns back to back, only the first nallowed count. */
START_TEST(key_allows_hand_built_view)
{
    static const char pats[] = "gpt-4o\0local-*\0*";
    struct key_view v = {.id = "k", .name = "n", .nallowed = 2, .allowed = pats};
    ck_assert_int_eq(auth_key_allows(&v, "gpt-4o"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "local-x"), 1);
    ck_assert_int_eq(auth_key_allows(&v, "other"), 0); /* the third "*" is past nallowed */
    v.nallowed = 3;
    ck_assert_int_eq(auth_key_allows(&v, "other"), 1);
}
END_TEST

/* Durations with each unit. */
START_TEST(duration_good)
{
    int64_t ms = -1;
    ck_assert_int_eq(parse_duration_ms("250ms", &ms), 0);
    ck_assert_int_eq(ms, 250);
    ck_assert_int_eq(parse_duration_ms("5s", &ms), 0);
    ck_assert_int_eq(ms, 5000);
    ck_assert_int_eq(parse_duration_ms("2m", &ms), 0);
    ck_assert_int_eq(ms, 120000);
    ck_assert_int_eq(parse_duration_ms("1h", &ms), 0);
    ck_assert_int_eq(ms, 3600000);
    ck_assert_int_eq(parse_duration_ms("0s", &ms), 0);
    ck_assert_int_eq(ms, 0);
    ck_assert_int_eq(parse_duration_ms("120s", &ms), 0);
    ck_assert_int_eq(ms, 120000);
    ck_assert_int_eq(parse_duration_ms("007ms", &ms), 0);
    ck_assert_int_eq(ms, 7);
    ck_assert_int_eq(parse_duration_ms("9223372036854775807ms", &ms), 0);
    ck_assert_int_eq(ms, INT64_MAX);
}
END_TEST

/* A bare number, an unknown unit, signs, spaces, fractions and overflow are refused. */
START_TEST(duration_bad)
{
    static const char *const bad[] = {
        "5",
        "5x",
        "",
        "s",
        "ms",
        "-5s",
        "+5s",
        " 5s",
        "5s ",
        "5 s",
        "1.5s",
        "5S",
        "5sec",
        "5mss",
        "5hh",
        "0x5s",
        "5s5s",
        "5d",
        "5us",
        "5ns",
        "1e3ms",
        "9223372036854775808ms",     /* INT64_MAX + 1 */
        "9223372036854775807s",      /* overflows when multiplied */
        "2562047788016h",            /* (INT64_MAX / 3600000) + 1 hours */
        "99999999999999999999999ms", /* overflows the digits themselves */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 0;
        ck_assert_msg(parse_duration_ms(bad[i], &ms) == -1, "\"%s\" was accepted as %lld ms",
                      bad[i], (long long)ms);
    }
}
END_TEST

/* The largest hour count that fits is accepted. */
START_TEST(duration_edge_hours)
{
    int64_t ms;
    ck_assert_int_eq(parse_duration_ms("2562047788015h", &ms), 0);
    ck_assert_int_eq(ms, (int64_t)2562047788015 * 3600000);
}
END_TEST

/* Sizes: plain bytes and binary k/m/g, either case, with an optional b. */
START_TEST(size_good)
{
    uint64_t v = 1;
    ck_assert_int_eq(parse_size("512", &v), 0);
    ck_assert_uint_eq(v, 512);
    ck_assert_int_eq(parse_size("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(parse_size("16k", &v), 0);
    ck_assert_uint_eq(v, 16384);
    ck_assert_int_eq(parse_size("8m", &v), 0);
    ck_assert_uint_eq(v, 8388608);
    ck_assert_int_eq(parse_size("8M", &v), 0);
    ck_assert_uint_eq(v, 8388608);
    ck_assert_int_eq(parse_size("1g", &v), 0);
    ck_assert_uint_eq(v, 1073741824);
    ck_assert_int_eq(parse_size("32kb", &v), 0);
    ck_assert_uint_eq(v, 32768);
    ck_assert_int_eq(parse_size("2GB", &v), 0);
    ck_assert_uint_eq(v, 2147483648ULL);
    ck_assert_int_eq(parse_size("17179869183g", &v), 0); /* 2^64 - 2^30 */
    ck_assert_uint_eq(v, UINT64_MAX - (1ULL << 30) + 1);
}
END_TEST

/* Sizes with unknown units, junk, signs, fractions or overflow are refused. */
START_TEST(size_bad)
{
    static const char *const bad[] = {
        "",
        "k",
        "5x",
        "8mm",
        "8mbb",
        "-1",
        "+1",
        "1.5m",
        "8 m",
        " 8m",
        "8m ",
        "1t",
        "8b",
        "0x10",
        "1e3",
        "8kib",
        "17179869184g",         /* 2^64 */
        "18014398509481984m",   /* 2^64 */
        "99999999999999999999", /* more than 2^64 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 0;
        ck_assert_msg(parse_size(bad[i], &v) == -1, "\"%s\" was accepted as %llu", bad[i],
                      (unsigned long long)v);
    }
}
END_TEST

/* RFC 3339 in UTC, with fractions, and with numeric offsets. */
START_TEST(rfc3339_good)
{
    int64_t t = -1;
    ck_assert_int_eq(parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 0);
    ck_assert_int_eq(parse_rfc3339("2027-01-31T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2027-12-31T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 1830211200);
    ck_assert_int_eq(parse_rfc3339("2000-02-29T12:34:56Z", &t), 0); /* leap day */
    ck_assert_int_eq(t, 951827696);
    ck_assert_int_eq(parse_rfc3339("2027-01-31T00:00:00.123456Z", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2027-01-31T00:00:00z", &t), 0);
    ck_assert_int_eq(t, 1801353600);
}
END_TEST

/* An offset is subtracted: +02:00 is two hours ahead of UTC, -05:30 behind. */
START_TEST(rfc3339_offsets)
{
    int64_t t = -1;
    ck_assert_int_eq(parse_rfc3339("2027-01-31T02:00:00+02:00", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2027-01-30T18:30:00-05:30", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2027-01-31T00:00:00+00:00", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2027-01-31T00:00:00.5-00:00", &t), 0);
    ck_assert_int_eq(t, 1801353600);
    ck_assert_int_eq(parse_rfc3339("2024-03-01T01:00:00+01:00", &t), 0);
    ck_assert_int_eq(t, 1709251200);
}
END_TEST

/* Missing zone, bad fields, short offsets and trailing junk are refused. */
START_TEST(rfc3339_bad)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "2027-01-31",
        "2027-01-31T00:00:00",      /* no zone */
        "2027-01-31T00:00Z",        /* no seconds */
        "2027-01-31 00:00:00Z",     /* no T */
        "2027-13-01T00:00:00Z",     /* month 13 */
        "2027-00-10T00:00:00Z",     /* month 0 */
        "2027-01-32T00:00:00Z",     /* day 32 */
        "2027-01-31T25:00:00Z",     /* hour 25 */
        "2027-01-31T00:61:00Z",     /* minute 61 */
        "2027-01-31T00:00:00+0200", /* offset without colon */
        "2027-01-31T00:00:00+2:00", /* one-digit hour */
        "2027-01-31T00:00:00+02",   /* no minutes */
        "2027-01-31T00:00:00+02:0",
        "2027-01-31T00:00:00UTC",
        "2027-01-31T00:00:00Zjunk",
        "2027-01-31T00:00:00+02:00x",
        "1801353600",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 0;
        ck_assert_msg(parse_rfc3339(bad[i], &t) == -1, "\"%s\" was accepted as %lld", bad[i],
                      (long long)t);
    }
}
END_TEST

/* A day that its month does not have is refused, not rolled over into the next month. */
START_TEST(rfc3339_day_past_month_end)
{
    int64_t t = 0;
    ck_assert_msg(parse_rfc3339("2027-02-30T00:00:00Z", &t) == -1,
                  "parse_rfc3339 accepts 2027-02-30 (as March 2)");
}
END_TEST

static Suite *
auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("sha256");
    tcase_add_test(tc, sha256_known_vectors);
    tcase_add_test(tc, sha256_million_a);
    tcase_add_test(tc, sha256_uses_len_not_nul);
    tcase_add_test(tc, hex_round_trip);
    tcase_add_test(tc, hex_decode_bad);
    suite_add_tcase(s, tc);

    tc = tcase_create("glob");
    tcase_add_test(tc, glob_star);
    tcase_add_test(tc, glob_prefix);
    tcase_add_test(tc, glob_exact);
    tcase_add_test(tc, glob_slash);
    tcase_add_test(tc, glob_classes);
    tcase_add_test(tc, key_allows_several_patterns);
    tcase_add_test(tc, key_allows_default_and_empty);
    tcase_add_test(tc, key_allows_hand_built_view);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, duration_good);
    tcase_add_test(tc, duration_bad);
    tcase_add_test(tc, duration_edge_hours);
    tcase_add_test(tc, size_good);
    tcase_add_test(tc, size_bad);
    tcase_add_test(tc, rfc3339_good);
    tcase_add_test(tc, rfc3339_offsets);
    tcase_add_test(tc, rfc3339_bad);
    tcase_add_test(tc, rfc3339_day_past_month_end);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(auth_suite());
}
