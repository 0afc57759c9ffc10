/* SPDX-License-Identifier: Apache-2.0 */
/* check_query.c: strict parsing of a query string (limit and after of the Admin API's lists). */
#include "config.h"

#include <string.h>

#include "query.h"
#include "tap.h"

struct two {
    char limit[8], after[16];
    struct query_param p[2];
    const char *bad;
    char badbuf[16];
};

/* Parse q against limit[8] and after[16]. */
static int
parse(struct two *t, const char *q)
{
    memset(t, 0, sizeof(*t));
    t->p[0] = (struct query_param){"limit", t->limit, sizeof(t->limit), 0};
    t->p[1] = (struct query_param){"after", t->after, sizeof(t->after), 0};
    return query_parse(q, t->p, 2, &t->bad, t->badbuf, sizeof(t->badbuf));
}

/* A path: decoded once, "+" kept, %2F a slash; bad escapes, a NUL, no room refused. */
START_TEST(query_path)
{
    char out[16];
    ck_assert_int_eq(query_path_decode("org%2Fm+1%2525", out, sizeof(out)), QUERY_OK);
    ck_assert_str_eq(out, "org/m+1%25");
    ck_assert_int_eq(query_path_decode("org/model", out, sizeof(out)), QUERY_OK);
    ck_assert_str_eq(out, "org/model");
    ck_assert_int_eq(query_path_decode("a%2", out, sizeof(out)), QUERY_EVALUE);
    ck_assert_int_eq(query_path_decode("a%zz", out, sizeof(out)), QUERY_EVALUE);
    ck_assert_int_eq(query_path_decode("a%00b", out, sizeof(out)), QUERY_EVALUE);
    ck_assert_int_eq(query_path_decode("0123456789abcdef", out, sizeof(out)), QUERY_EVALUE);
    ck_assert_int_eq(query_path_decode("0123456789abcde", out, sizeof(out)), QUERY_OK);
}
END_TEST

START_TEST(query_values)
{
    struct two t;
    ck_assert_int_eq(parse(&t, NULL), QUERY_OK);
    ck_assert(!t.p[0].seen && !t.p[1].seen);
    ck_assert_int_eq(parse(&t, ""), QUERY_OK);
    ck_assert_int_eq(parse(&t, "limit=10&after=k-1"), QUERY_OK);
    ck_assert(t.p[0].seen && t.p[1].seen);
    ck_assert_str_eq(t.limit, "10");
    ck_assert_str_eq(t.after, "k-1");
    /* escapes, in either case, and "+" as a space, decoded once */
    ck_assert_int_eq(parse(&t, "after=a%2Eb%2ec+d%2525"), QUERY_OK);
    ck_assert_str_eq(t.after, "a.b.c d%25");
    ck_assert_int_eq(parse(&t, "%6Cimit=5"), QUERY_OK);
    ck_assert_str_eq(t.limit, "5");
    /* a name without "=" and an empty value are given, empty: the handler refuses them */
    ck_assert_int_eq(parse(&t, "after"), QUERY_OK);
    ck_assert(t.p[1].seen);
    ck_assert_str_eq(t.after, "");
    ck_assert_int_eq(parse(&t, "limit="), QUERY_OK);
    ck_assert(t.p[0].seen);
    /* empty pairs carry nothing */
    ck_assert_int_eq(parse(&t, "&limit=1&&after=x&"), QUERY_OK);
    ck_assert_str_eq(t.after, "x");
}
END_TEST

START_TEST(query_errors)
{
    struct two t;
    char big[QUERY_MAX + 8];
    ck_assert_int_eq(parse(&t, "limit=1&limit=2"), QUERY_EREPEATED);
    ck_assert_str_eq(t.bad, "limit");
    ck_assert_int_eq(parse(&t, "after=a%00b"), QUERY_EVALUE);
    ck_assert_str_eq(t.bad, "after");
    ck_assert_int_eq(parse(&t, "after=a%zzb"), QUERY_EVALUE);
    ck_assert_int_eq(parse(&t, "after=ab%4"), QUERY_EVALUE);
    ck_assert_int_eq(parse(&t, "after=ab%"), QUERY_EVALUE);
    /* longer than the buffer (16 with its NUL) */
    ck_assert_int_eq(parse(&t, "after=0123456789abcde"), QUERY_OK);
    ck_assert_int_eq(parse(&t, "after=0123456789abcdef"), QUERY_EVALUE);
    ck_assert_int_eq(parse(&t, "limit=123456789"), QUERY_EVALUE);
    ck_assert_str_eq(t.bad, "limit");
    /* unknown names: shown when short and printable, else "?" */
    ck_assert_int_eq(parse(&t, "limit=1&offset=5"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "offset");
    ck_assert_int_eq(parse(&t, "Limit=5"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "Limit");
    ck_assert_int_eq(parse(&t, "lim%00it=5"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "?");
    ck_assert_int_eq(parse(&t, "a%0Ab=5"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "?");
    ck_assert_int_eq(parse(&t, "=5"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "?");
    ck_assert_int_eq(parse(&t, "a-name-longer-than-the-buffer=1"), QUERY_EUNKNOWN);
    ck_assert_str_eq(t.bad, "?");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "after=", 6);
    ck_assert_int_eq(parse(&t, big), QUERY_ETOOLONG);
}
END_TEST

static Suite *
query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, query_values);
    tcase_add_test(tc, query_path);
    tcase_add_test(tc, query_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(query_suite());
}
