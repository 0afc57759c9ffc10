/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_utf8.c: client bytes made valid UTF-8 for JSON text (utf8.c):
 * what is UTF-8 and what is not (RFC 3629), U+FFFD for each bad byte,
 * cuts at character boundaries, and json-c strings that are JSON text.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "aigw/utf8.h"
#include "tap.h"

#define V(lit) utf8_valid(lit, sizeof(lit) - 1)

/* Valid and invalid sequences, by the table of RFC 3629 section 4. */
START_TEST(valid_sequences)
{
    ck_assert_int_eq(V(""), 1);
    ck_assert_int_eq(V("gpt-4o"), 1);
    ck_assert_int_eq(V("caf\xc3\xa9"), 1);      /* é */
    ck_assert_int_eq(V("\xe2\x82\xac"), 1);     /* € */
    ck_assert_int_eq(V("\xf0\x9f\x98\x80"), 1); /* U+1F600 */
    ck_assert_int_eq(V("\xf4\x8f\xbf\xbf"), 1); /* U+10FFFF */
    ck_assert_int_eq(V("\xef\xbf\xbd"), 1);     /* U+FFFD itself */
    ck_assert_int_eq(V("\xff"), 0);
    ck_assert_int_eq(V("\xfe\xff"), 0);
    ck_assert_int_eq(V("\x80"), 0); /* a lone continuation */
    ck_assert_int_eq(V("\xc3"), 0); /* cut short */
    ck_assert_int_eq(V("\xe2\x82"), 0);
    ck_assert_int_eq(V("\xc0\xaf"), 0);         /* overlong '/' */
    ck_assert_int_eq(V("\xe0\x80\xaf"), 0);     /* overlong */
    ck_assert_int_eq(V("\xf0\x80\x80\xaf"), 0); /* overlong */
    ck_assert_int_eq(V("\xed\xa0\x80"), 0);     /* surrogate U+D800 */
    ck_assert_int_eq(V("\xf4\x90\x80\x80"), 0); /* U+110000 */
    ck_assert_int_eq(V("\xf5\x80\x80\x80"), 0);
    ck_assert_int_eq(V("a\xc3(b"), 0); /* a bad continuation */
}
END_TEST

/* Each bad byte becomes U+FFFD; good characters stay. */
START_TEST(clean_replaces)
{
    char out[64];
    size_t n = utf8_clean("m\xff\xfe-x\xc3\xa9", 7, out, sizeof(out));
    ck_assert_str_eq(out, "m\xef\xbf\xbd\xef\xbf\xbd-x\xc3\xa9");
    ck_assert_uint_eq(n, strlen(out));
    utf8_clean("\xe2\x82", 2, out, sizeof(out)); /* a character cut short: both bytes */
    ck_assert_str_eq(out, "\xef\xbf\xbd\xef\xbf\xbd");
    utf8_clean("ok", 2, out, sizeof(out));
    ck_assert_str_eq(out, "ok");
}
END_TEST

/* A small out cuts at a character boundary, never inside U+FFFD or a character. */
START_TEST(clean_cuts_whole_characters)
{
    char out[5];
    utf8_clean("ab\xff", 3, out, sizeof(out)); /* "ab" + 3 bytes + NUL = 6 > 5 */
    ck_assert_str_eq(out, "ab");
    utf8_clean("a\xe2\x82\xac", 4, out, sizeof(out)); /* "a€" + NUL = 5 */
    ck_assert_str_eq(out, "a\xe2\x82\xac");
    utf8_clean("ab\xe2\x82\xac", 5, out, sizeof(out));
    ck_assert_str_eq(out, "ab");
    char one[1];
    ck_assert_uint_eq(utf8_clean("abc", 3, one, sizeof(one)), 0);
    ck_assert_str_eq(one, "");
}
END_TEST

/* The JSON text of a string with invalid UTF-8 is UTF-8, and parses back with U+FFFD. */
START_TEST(json_string_is_utf8)
{
    struct json_object *o = utf8_json_string("\xff\xfe model \"q\"\n");
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    ck_assert_int_eq(utf8_valid(t, strlen(t)), 1);
    ck_assert_str_eq(json_object_get_string(o), "\xef\xbf\xbd\xef\xbf\xbd model \"q\"\n");
    json_object_put(o);
    o = utf8_json_string("caf\xc3\xa9");
    ck_assert_str_eq(json_object_get_string(o), "caf\xc3\xa9");
    json_object_put(o);
}
END_TEST

static Suite *
utf8_suite(void)
{
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("utf8");
    tcase_add_test(tc, valid_sequences);
    tcase_add_test(tc, clean_replaces);
    tcase_add_test(tc, clean_cuts_whole_characters);
    tcase_add_test(tc, json_string_is_utf8);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(utf8_suite());
}
