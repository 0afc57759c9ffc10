/* SPDX-License-Identifier: Apache-2.0 */
/* check_applyplan.c: the plan of a declarative apply (applyplan.c) on JSON alone. */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "store.h"
#include "admin_priv.h"
#include "applyplan.h"
#include "tap.h"

#define SECRET "sk-secret-0123456789-ABCD"

/* A valid, normalized model (as the table stores it). */
static struct json_object *
model(const char *name, const char *upstream, const char *key)
{
    struct json_object *d = json_object_new_object();
    struct aigw_errors e;
    json_object_object_add(d, "name", json_object_new_string(name));
    json_object_object_add(d, "provider", json_object_new_string("openai-compatible"));
    json_object_object_add(d, "model", json_object_new_string(upstream));
    json_object_object_add(d, "api_base", json_object_new_string("http://127.0.0.1:1/v1"));
    json_object_object_add(d, "api_key", json_object_new_string(key));
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_MODEL, d, "", &e), 0);
    errors_free(&e);
    return d;
}

/* The table: cur[kind][id] = {doc, origin, json}; takes doc. */
static void
cur_put(struct json_object *cur, const char *kind, const char *id, struct json_object *doc,
        int origin)
{
    struct json_object *k, *ent = json_object_new_object();
    if (!json_object_object_get_ex(cur, kind, &k)) {
        k = json_object_new_object();
        json_object_object_add(cur, kind, k);
    }
    json_object_object_add(ent, "json",
                           json_object_new_string(json_object_to_json_string_ext(
                               doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
    json_object_object_add(ent, "doc", doc);
    json_object_object_add(ent, "origin", json_object_new_int(origin));
    json_object_object_add(k, id, ent);
}

/* The body: body[kind][id] = doc; takes doc. */
static void
body_put(struct json_object *body, const char *kind, const char *id, struct json_object *doc)
{
    struct json_object *k;
    if (!json_object_object_get_ex(body, kind, &k)) {
        k = json_object_new_object();
        json_object_object_add(body, kind, k);
    }
    json_object_object_add(k, id, doc);
}

/* Two models in the table: m1 (up-1), m2 (up-2), both the Admin API's unless file. */
static struct json_object *
table(int file)
{
    struct json_object *cur = json_object_new_object();
    cur_put(cur, "models", "m1", model("one", "up-1", SECRET), file ? STORE_ORIGIN_FILE : 2);
    cur_put(cur, "models", "m2", model("two", "up-2", SECRET), 2);
    return cur;
}

/* "action kind/id" of each step, joined by ", ". */
static const char *
steps(struct json_object *plan, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(plan) && o < len; i++) {
        struct json_object *p = json_object_array_get_idx(plan, i);
        o += (size_t)snprintf(buf + o, len - o, "%s%s %s/%s", i ? ", " : "",
                              json_object_get_string(json_object_object_get(p, "action")),
                              json_object_get_string(json_object_object_get(p, "kind")),
                              json_object_get_string(json_object_object_get(p, "id")));
    }
    return buf;
}

struct run {
    struct json_object *plan, *set, *owned;
    struct aigw_errors e;
    char text[512];
};

static void
run(struct run *r, struct json_object *body, struct json_object *cur, int prune, int file_owns)
{
    errors_init(&r->e, NULL);
    r->plan = applyplan_make(body, cur, prune, file_owns, &r->set, &r->owned, &r->e);
    if (r->plan != NULL)
        steps(r->plan, r->text, sizeof(r->text));
}

static void
run_free(struct run *r)
{
    json_object_put(r->plan);
    json_object_put(r->set);
    json_object_put(r->owned);
    errors_free(&r->e);
}

START_TEST(plan_create_update_unchanged)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", SECRET));   /* equal: no step */
    body_put(body, "models", "m2", model("two", "up-2b", SECRET));  /* the model changes */
    body_put(body, "models", "m3", model("three", "up-3", SECRET)); /* new */
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_str_eq(r.text, "update models/m2, create models/m3");
    struct json_object *fields =
        json_object_object_get(json_object_array_get_idx(r.plan, 0), "fields");
    ck_assert_str_eq(json_object_to_json_string_ext(fields, JSON_C_TO_STRING_PLAIN),
                     "[{\"field\":\"model\",\"before\":\"up-2\",\"after\":\"up-2b\"}]");
    struct json_object *ms = json_object_object_get(r.set, "models");
    ck_assert_int_eq(json_object_object_length(ms), 2); /* m1 is not written */
    ck_assert(!json_object_object_get_ex(ms, "m1", NULL));
    ck_assert_int_eq(json_object_object_length(json_object_object_get(r.set, "api_keys")), 0);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_same_set_is_empty)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", SECRET));
    body_put(body, "models", "m2", model("two", "up-2", SECRET));
    run(&r, body, cur, 1, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_int_eq(json_object_array_length(r.plan), 0);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_prune_only_when_asked)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", SECRET));
    run(&r, body, cur, 0, 0);
    ck_assert_str_eq(r.text, "");
    run_free(&r);
    run(&r, body, cur, 1, 0);
    ck_assert_str_eq(r.text, "delete models/m2");
    struct json_object *v = (struct json_object *)1;
    ck_assert(json_object_object_get_ex(json_object_object_get(r.set, "models"), "m2", &v));
    ck_assert_ptr_null(v); /* null: delete */
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_masked_secret_keeps_stored)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", "****ABCD"));
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_str_eq(r.text, ""); /* the mask is the stored secret: nothing changes */
    run_free(&r);
    json_object_put(body);

    body = json_object_new_object();
    body_put(body, "models", "m1", model("one", "up-1b", "****ABCD"));
    run(&r, body, cur, 0, 0);
    ck_assert_str_eq(r.text, "update models/m1");
    struct json_object *doc = json_object_object_get(json_object_object_get(r.set, "models"), "m1");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(doc, "api_key")), SECRET);
    run_free(&r);
    json_object_put(body);

    body = json_object_new_object();
    body_put(body, "models", "m1", model("one", "up-1", "****WXYZ"));
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_null(r.plan);
    ck_assert_int_eq(r.e.n, 1);
    ck_assert_msg(strstr(r.e.msgs[0], "models/m1: an api_key is a masked value") != NULL, "%s",
                  r.e.msgs[0]);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

/* The string at member m of o ("" when o has none). */
static const char *
member(struct json_object *o, const char *m)
{
    struct json_object *v;
    return json_object_object_get_ex(o, m, &v) ? json_object_get_string(v) : "";
}

/*
 * The AWS secret key and session token are masked as api_key is, in a
 * credential and in a model's targets, and a masked value sent back keeps
 * the stored secret; the access key id and region are no secrets.
 */
START_TEST(aws_secrets_masked)
{
    static const char cred[] =
        "{\"name\":\"aws\",\"provider\":\"bedrock\",\"region\":\"us-east-1\","
        "\"aws_access_key_id\":\"AKIDEXAMPLE\","
        "\"aws_secret_access_key\":\"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\","
        "\"aws_session_token\":\"FwoGZXIvYXdzEXAMPLETOKEN1234\"}";
    struct json_object *o = admin_shown_value(RES_CREDENTIAL, cred, sizeof(cred) - 1);
    ck_assert_str_eq(member(o, "aws_secret_access_key"), "****EKEY");
    ck_assert_str_eq(member(o, "aws_session_token"), "****1234");
    ck_assert_str_eq(member(o, "aws_access_key_id"), "AKIDEXAMPLE");
    ck_assert_str_eq(member(o, "region"), "us-east-1");
    ck_assert_ptr_null(strstr(json_object_to_json_string(o), "wJalr"));
    /* sent back masked: the stored secrets again */
    struct json_object *old = json_tokener_parse(cred);
    ck_assert_int_eq(admin_unmask(o, old), 0);
    ck_assert_str_eq(member(o, "aws_secret_access_key"),
                     "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
    ck_assert_str_eq(member(o, "aws_session_token"), "FwoGZXIvYXdzEXAMPLETOKEN1234");
    /* a mask of no stored secret is refused */
    json_object_object_add(o, "aws_secret_access_key", json_object_new_string("****NOPE"));
    ck_assert_int_eq(admin_unmask(o, old), -1);
    json_object_put(o);
    json_object_put(old);

    static const char mdoc[] =
        "{\"name\":\"m\",\"targets\":[{\"provider\":\"bedrock\",\"region\":\"us-east-1\","
        "\"aws_access_key_id\":\"AKIDEXAMPLE\","
        "\"aws_secret_access_key\":\"target-secret-0123456789\"}]}";
    o = admin_shown_value(RES_MODEL, mdoc, sizeof(mdoc) - 1);
    struct json_object *t = json_object_array_get_idx(json_object_object_get(o, "targets"), 0);
    ck_assert_str_eq(member(t, "aws_secret_access_key"), "****6789");
    ck_assert_ptr_null(strstr(json_object_to_json_string(o), "target-secret"));
    json_object_put(o);
}
END_TEST

START_TEST(plan_secret_change_masked)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", "sk-other-0123456789-WXYZ"));
    run(&r, body, cur, 0, 0);
    struct json_object *fields =
        json_object_object_get(json_object_array_get_idx(r.plan, 0), "fields");
    ck_assert_str_eq(json_object_to_json_string_ext(fields, JSON_C_TO_STRING_PLAIN),
                     "[{\"field\":\"api_key\",\"before\":\"****ABCD\",\"after\":\"****WXYZ\"}]");
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_names_unique_on_final_state)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    /* m3 takes "one", which m1 keeps: refused, naming both */
    body_put(body, "models", "m3", model("one", "up-3", SECRET));
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_null(r.plan);
    ck_assert_int_eq(r.e.n, 1);
    ck_assert_msg(strstr(r.e.msgs[0], "models/m1.name: the model name \"one\" is also that of "
                                      "models/m3") != NULL,
                  "%s", r.e.msgs[0]);
    run_free(&r);
    /* m1 renamed in the same set: the name is free for m3; names swap too */
    body_put(body, "models", "m1", model("two", "up-1", SECRET));
    body_put(body, "models", "m2", model("one", "up-2", SECRET));
    json_object_object_del(json_object_object_get(body, "models"), "m3");
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_str_eq(r.text, "update models/m1, update models/m2");
    run_free(&r);
    /* pruning m1 frees its name as well */
    json_object_put(body);
    body = json_object_new_object();
    body_put(body, "models", "m2", model("two", "up-2", SECRET));
    body_put(body, "models", "m3", model("one", "up-3", SECRET));
    run(&r, body, cur, 1, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_str_eq(r.text, "create models/m3, delete models/m1");
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_bad_resource_named)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct json_object *bad = json_tokener_parse("{\"name\":\"bad\",\"provider\":\"nope\","
                                                 "\"model\":\"x\"}");
    struct run r;
    body_put(body, "models", "m3", model("three", "up-3", SECRET));
    body_put(body, "models", "bad", bad);
    run(&r, body, cur, 1, 0);
    ck_assert_ptr_null(r.plan);
    ck_assert_int_ge(r.e.n, 1);
    ck_assert_msg(strstr(r.e.msgs[0], "models/bad.provider: must be one of") != NULL, "%s",
                  r.e.msgs[0]);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_file_owned_listed)
{
    struct json_object *cur = table(1), *body = json_object_new_object();
    struct run r;
    body_put(body, "models", "m1", model("one", "up-1", SECRET)); /* the file's, unchanged */
    body_put(body, "models", "m2", model("two", "up-2b", SECRET));
    run(&r, body, cur, 0, 1);
    ck_assert_int_eq(json_object_array_length(r.owned), 0); /* m2 is the Admin API's */
    run_free(&r);
    json_object_object_add(json_object_object_get(body, "models"), "m1",
                           model("one", "up-1b", SECRET));
    run(&r, body, cur, 0, 1);
    ck_assert_str_eq(json_object_to_json_string_ext(r.owned, JSON_C_TO_STRING_PLAIN),
                     "[\"models\\/m1\"]");
    run_free(&r);
    run(&r, body, cur, 0, 0); /* no resources file: nobody owns it */
    ck_assert_int_eq(json_object_array_length(r.owned), 0);
    run_free(&r);
    json_object_object_del(json_object_object_get(body, "models"), "m1");
    run(&r, body, cur, 1, 1); /* prune would delete the file's m1 */
    ck_assert_int_eq(json_object_array_length(r.owned), 1);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

START_TEST(plan_cycle_found)
{
    struct json_object *cur = table(0), *body = json_object_new_object();
    struct run r;
    char out[64] = "";
    /* a rename into a free name, and a name taken from it: a chain, no cycle */
    body_put(body, "models", "m1", model("one-b", "up-1", SECRET));
    body_put(body, "models", "m3", model("one", "up-3", SECRET));
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_int_eq(applyplan_cycle(cur, r.set, out, sizeof(out)), 0);
    run_free(&r);
    json_object_put(body);
    /* m1 and m2 swap: a cycle */
    body = json_object_new_object();
    body_put(body, "models", "m1", model("two", "up-1", SECRET));
    body_put(body, "models", "m2", model("one", "up-2", SECRET));
    run(&r, body, cur, 0, 0);
    ck_assert_ptr_nonnull(r.plan);
    ck_assert_int_eq(applyplan_cycle(cur, r.set, out, sizeof(out)), 1);
    ck_assert_msg(strcmp(out, "models/m1") == 0 || strcmp(out, "models/m2") == 0, "%s", out);
    run_free(&r);
    json_object_put(body);
    json_object_put(cur);
}
END_TEST

static Suite *
applyplan_suite(void)
{
    Suite *s = suite_create("applyplan");
    TCase *tc = tcase_create("plan");
    tcase_add_test(tc, plan_create_update_unchanged);
    tcase_add_test(tc, plan_same_set_is_empty);
    tcase_add_test(tc, plan_prune_only_when_asked);
    tcase_add_test(tc, plan_masked_secret_keeps_stored);
    tcase_add_test(tc, plan_secret_change_masked);
    tcase_add_test(tc, aws_secrets_masked);
    tcase_add_test(tc, plan_names_unique_on_final_state);
    tcase_add_test(tc, plan_bad_resource_named);
    tcase_add_test(tc, plan_file_owned_listed);
    tcase_add_test(tc, plan_cycle_found);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(applyplan_suite());
}
