/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_usage.c: token counts from upstreams are clamped to 0..10^9
 * (usage.c), in OpenAI's usage object (prov_openai.c), and the token
 * windows of the local rate limiter (limit.c) neither overflow nor take a
 * negative count off what other requests used.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "limit.h"
#include "prov_openai.h"
#include "usage.h"
#include "aigw/conf.h"
#include "shm.h"
#include "tap.h"

/* Parse JSON text; the test fails when it is not JSON. */
static struct json_object *
parse(const char *s)
{
    struct json_object *o = json_tokener_parse(s);
    ck_assert_msg(o != NULL, "not JSON: %s", s);
    return o;
}

/* The count k of JSON text s, and whether it was flagged. */
static int64_t
count_of(const char *s, const char *k, int *bad)
{
    struct json_object *o = parse(s);
    *bad = 0;
    int64_t n = usage_count(o, k, bad);
    json_object_put(o);
    return n;
}

/* What a count may be, and what each kind of nonsense becomes. */
START_TEST(count_values)
{
    int bad;
    ck_assert_int_eq(count_of("{\"n\":42}", "n", &bad), 42);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(count_of("{}", "n", &bad), 0);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(count_of("{\"n\":null}", "n", &bad), 0);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(count_of("{\"n\":1000000000}", "n", &bad), 1000000000);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(count_of("{\"n\":1000000001}", "n", &bad), 1000000000);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":-1}", "n", &bad), 0);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":9223372036854775807}", "n", &bad), 1000000000);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":18446744073709551615}", "n", &bad), 1000000000);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":-9223372036854775808}", "n", &bad), 0);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":1e300}", "n", &bad), 0);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":\"12\"}", "n", &bad), 0);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(count_of("{\"n\":[1]}", "n", &bad), 0);
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(usage_add(INT64_MAX, INT64_MAX), 1000000000);
    ck_assert_int_eq(usage_add(INT64_MIN, 5), 5);
    ck_assert_int_eq(usage_add(3, 4), 7);
}
END_TEST

/* OpenAI's usage object with counts whose sum overflowed (an abort under UBSan) or negatives. */
START_TEST(openai_absurd_usage)
{
    struct prov_usage u = {0};
    struct json_object *o = parse("{\"prompt_tokens\":9223372036854775807,"
                                  "\"completion_tokens\":9223372036854775807,"
                                  "\"prompt_tokens_details\":{\"cached_tokens\":-7},"
                                  "\"completion_tokens_details\":{\"reasoning_tokens\":\"x\"}}");
    prov_openai_usage(o, &u);
    json_object_put(o);
    ck_assert_int_eq(u.have, 1);
    ck_assert_int_eq(u.bad, 1);
    ck_assert_int_eq(u.prompt, 1000000000);
    ck_assert_int_eq(u.completion, 1000000000);
    ck_assert_int_eq(u.total, 1000000000); /* the sum, clamped */
    ck_assert_int_eq(u.cached, 0);
    ck_assert_int_eq(u.reasoning, 0);

    memset(&u, 0, sizeof(u));
    o = parse("{\"prompt_tokens\":-10,\"completion_tokens\":5,\"total_tokens\":-5}");
    prov_openai_usage(o, &u);
    json_object_put(o);
    ck_assert_int_eq(u.bad, 1);
    ck_assert_int_eq(u.prompt, 0);
    ck_assert_int_eq(u.completion, 5);
    ck_assert_int_eq(u.total, 0);

    memset(&u, 0, sizeof(u));
    o = parse("{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}");
    prov_openai_usage(o, &u);
    json_object_put(o);
    ck_assert_int_eq(u.bad, 0);
    ck_assert_int_eq(u.total, 15);
}
END_TEST

/* A local limiter with a day's token limit for one key. */
struct lim {
    struct conf conf;
    struct shm *shm;
    int fd;
    struct limiter *l;
};

static void
lim_new(struct lim *t)
{
    memset(t, 0, sizeof(*t));
    t->conf.rl_backend = RL_BACKEND_LOCAL;
    t->shm = shm_create(16, 1, &t->fd);
    ck_assert_ptr_nonnull(t->shm);
    t->l = limiter_new(NULL, &t->conf, t->shm);
    ck_assert_ptr_nonnull(t->l);
}

static void
lim_free(struct lim *t)
{
    limiter_free(t->l);
    shm_free(t->shm);
    close(t->fd);
}

/*
 * One request of key k1 (tokens per day: 10^6) reserving reserve and
 * ending with real; the tokens left after its admission.
 */
static int64_t
lim_request(struct lim *t, int64_t reserve, int64_t real)
{
    int64_t limits[LIM_N] = {0};
    struct limit_state st;
    memset(&st, 0, sizeof(st));
    limits[LIM_TPD] = 1000000;
    limit_owner(&st, "key", "k1", "k1", limits);
    ck_assert_int_eq(limit_admit(t->l, &st, reserve, 0, "req", NULL, NULL), 0);
    ck_assert_int_eq(st.verdict, LIMIT_OK);
    limit_end(&st, real);
    return st.tok_remaining;
}

/*
 * The day's window (not the minute's: it cannot roll over between two
 * requests but at midnight) after absurd reservations and usage: a
 * negative usage does not take tokens off the window, a huge one fills it
 * without overflowing the settlement (an abort under UBSan).
 */
START_TEST(limit_window_arithmetic)
{
    struct lim t;
    lim_new(&t);
    ck_assert_int_eq(lim_request(&t, 100, 100), 1000000 - 100);
    /* Used 100. A request reserving 0 that reports -50 tokens. */
    ck_assert_int_eq(lim_request(&t, 0, -50), 1000000 - 100);
    /* Still 100 used: the next one sees it. */
    ck_assert_int_eq(lim_request(&t, 0, INT64_MIN), 1000000 - 100);
    ck_assert_int_eq(lim_request(&t, 0, 0), 1000000 - 100);
    /* A huge usage: the window is full, and nothing wrapped around. */
    lim_request(&t, 10, INT64_MAX);
    int64_t limits[LIM_N] = {0};
    struct limit_state st;
    memset(&st, 0, sizeof(st));
    limits[LIM_TPD] = 1000000;
    limit_owner(&st, "key", "k1", "k1", limits);
    ck_assert_int_eq(limit_admit(t.l, &st, 1, 0, "req", NULL, NULL), 0);
    ck_assert_int_eq(st.verdict, LIMIT_DENIED);
    lim_free(&t);
}
END_TEST

/* A reservation near INT64_MAX (a client's max_tokens) is settled without overflow. */
START_TEST(limit_huge_reservation)
{
    struct lim t;
    lim_new(&t);
    int64_t limits[LIM_N] = {0};
    struct limit_state st;
    memset(&st, 0, sizeof(st));
    limits[LIM_TPD] = INT64_MAX;
    limit_owner(&st, "key", "k2", "k2", limits);
    ck_assert_int_eq(limit_admit(t.l, &st, INT64_MAX, 0, "req", NULL, NULL), 0);
    ck_assert_int_eq(st.verdict, LIMIT_OK);
    limit_end(&st, -2); /* -2 - INT64_MAX overflowed */
    memset(&st, 0, sizeof(st));
    limit_owner(&st, "key", "k2", "k2", limits);
    ck_assert_int_eq(limit_admit(t.l, &st, 5, 0, "req", NULL, NULL), 0);
    ck_assert_int_eq(st.verdict, LIMIT_OK);
    limit_end(&st, 5);
    lim_free(&t);
}
END_TEST

static Suite *
usage_suite(void)
{
    Suite *s = suite_create("usage");
    TCase *tc = tcase_create("counts");
    tcase_add_test(tc, count_values);
    tcase_add_test(tc, openai_absurd_usage);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_test(tc, limit_window_arithmetic);
    tcase_add_test(tc, limit_huge_reservation);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(usage_suite());
}
