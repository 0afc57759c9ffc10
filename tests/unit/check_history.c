/* SPDX-License-Identifier: Apache-2.0 */
/* check_history.c: the history of versions in the LMDB table: records, bounds, state, diff,
 * rollback. */
#include "config.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "store.h"
#include "aigw/util.h"
#include "tap.h"

#define MAP_SIZE (16ULL << 20)
#define MAX_READERS 126

TMPDIR_FIXTURE

static struct store *
open_store(const char *name)
{
    char dir[PATH_MAX], all[4096];
    struct aigw_errors e;
    path_join(dir, g_dir, name);
    errors_init(&e, NULL);
    struct store *s = store_open(dir, MAP_SIZE, MAX_READERS, 0, &e);
    ck_assert_msg(s != NULL, "store_open %s: %s", dir, errors_text(&e, all, sizeof(all)));
    errors_free(&e);
    return s;
}

/* A validated model document. */
static struct json_object *
model(const char *name, const char *upstream, const char *secret)
{
    char json[512];
    struct aigw_errors e;
    snprintf(json, sizeof(json),
             "{\"name\":\"%s\",\"provider\":\"openai-compatible\",\"model\":\"%s\","
             "\"api_base\":\"http://127.0.0.1:9/v1\",\"api_key\":\"%s\"}",
             name, upstream, secret);
    struct json_object *o = json_tokener_parse(json);
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_MODEL, o, "", &e), 0);
    errors_free(&e);
    return o;
}

/* One put (doc non-NULL) or delete in its own transaction, committed with source. */
static void
write1(struct store *s, const char *id, struct json_object *doc, int origin, const char *source)
{
    struct aigw_errors e;
    char all[4096];
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    store_txn_origin(t, origin, 0);
    errors_init(&e, NULL);
    int rc = doc ? store_put(t, RES_MODEL, id, doc, &e) : store_del(t, RES_MODEL, id);
    ck_assert_msg(rc == STORE_OK, "write %s: %d %s", id, rc, errors_text(&e, all, sizeof(all)));
    errors_free(&e);
    json_object_put(doc);
    ck_assert_int_eq(store_commit(t, source, 0), 0);
}

/* The upstream model of the model named name, as the data plane sees it; "" when absent. */
static const char *
served(struct store *s, const char *name)
{
    static char up[256];
    struct model_view v;
    up[0] = '\0';
    ck_assert_int_eq(store_read_begin(s), 0);
    if (store_model_by_name(s, name, strlen(name), &v) == STORE_OK)
        snprintf(up, sizeof(up), "%s", v.t[0].upstream_model);
    store_read_end(s);
    return up;
}

/* The history, newest first (a new object). */
static struct json_object *
history(struct store *s, uint64_t before, size_t limit, int *more)
{
    ck_assert_int_eq(store_read_begin(s), 0);
    struct json_object *h = store_history_list(s, before, limit, more);
    store_read_end(s);
    ck_assert_ptr_nonnull(h);
    return h;
}

static const char *
field(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* Every commit is a record: time, source, and what it changed (create/update/delete). */
START_TEST(records_each_version)
{
    struct store *s = open_store("rec");
    write1(s, "m1", model("gpt", "up-1", "sk-secret-000000000001"), STORE_ORIGIN_FILE,
           "file:/etc/aigw/resources.yaml");
    write1(s, "m1", model("gpt", "up-2", "sk-secret-000000000001"), STORE_ORIGIN_ADMIN,
           "admin:ops");
    write1(s, "m1", NULL, STORE_ORIGIN_ADMIN, "admin");
    int more = -1;
    struct json_object *h = history(s, 0, 10, &more);
    ck_assert_int_eq(more, 0);
    ck_assert_int_eq(json_object_array_length(h), 3);
    struct json_object *v3 = json_object_array_get_idx(h, 0), *v2 = json_object_array_get_idx(h, 1),
                       *v1 = json_object_array_get_idx(h, 2);
    ck_assert_str_eq(field(v3, "version"), "3");
    ck_assert_str_eq(field(v3, "source"), "admin");
    ck_assert_ptr_null(field(v3, "admin_key"));
    ck_assert_str_eq(field(v2, "source"), "admin");
    ck_assert_str_eq(field(v2, "admin_key"), "ops");
    ck_assert_str_eq(field(v1, "source"), "file");
    ck_assert_str_eq(field(v1, "file"), "/etc/aigw/resources.yaml");
    ck_assert(json_object_get_int64(json_object_object_get(v1, "time_ms")) > 1600000000000LL);
    const char *ops[] = {"delete", "update", "create"};
    for (int i = 0; i < 3; i++) {
        struct json_object *ch = json_object_object_get(json_object_array_get_idx(h, i), "changes");
        ck_assert_int_eq(json_object_array_length(ch), 1);
        ck_assert_str_eq(field(json_object_array_get_idx(ch, 0), "op"), ops[i]);
        ck_assert_str_eq(field(json_object_array_get_idx(ch, 0), "kind"), "models");
        ck_assert_str_eq(field(json_object_array_get_idx(ch, 0), "id"), "m1");
    }
    json_object_put(h);
    /* a page: versions below 3, one at a time */
    h = history(s, 3, 1, &more);
    ck_assert_int_eq(json_object_array_length(h), 1);
    ck_assert_int_eq(more, 1);
    ck_assert_str_eq(field(json_object_array_get_idx(h, 0), "version"), "2");
    json_object_put(h);
    /* an unchanged write is no version and no record */
    write1(s, "m2", model("other", "up-9", "sk-secret-000000000002"), STORE_ORIGIN_ADMIN, "admin");
    struct store_txn *t = store_write_begin(s);
    struct aigw_errors e;
    errors_init(&e, NULL);
    store_txn_origin(t, STORE_ORIGIN_ADMIN, 0);
    struct json_object *same = model("other", "up-9", "sk-secret-000000000002");
    ck_assert_int_eq(store_put(t, RES_MODEL, "m2", same, &e), STORE_OK);
    json_object_put(same);
    errors_free(&e);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    h = history(s, 0, 100, &more);
    ck_assert_int_eq(json_object_array_length(h), 4);
    json_object_put(h);
    store_close(s);
}
END_TEST

/*
 * A put refused for its name in a transaction that commits all the same
 * (the etcd sync logs such a loser and goes on) is no change of the record.
 */
START_TEST(refused_put_not_recorded)
{
    struct store *s = open_store("refused");
    struct aigw_errors e;
    write1(s, "m1", model("gpt", "up-1", "sk-secret-000000000001"), STORE_ORIGIN_ETCD, "etcd");
    struct store_txn *t = store_write_begin(s);
    store_txn_origin(t, STORE_ORIGIN_ETCD, 0);
    errors_init(&e, NULL);
    struct json_object *a = model("gpt", "up-2", "sk-secret-000000000002"),
                       *b = model("other", "up-3", "sk-secret-000000000003");
    ck_assert_int_eq(store_put(t, RES_MODEL, "m2", a, &e), STORE_CONFLICT);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m3", b, &e), STORE_OK);
    json_object_put(a);
    json_object_put(b);
    errors_free(&e);
    ck_assert_int_eq(store_commit(t, "etcd", 7), 0);
    int more;
    struct json_object *h = history(s, 0, 1, &more);
    struct json_object *r = json_object_array_get_idx(h, 0),
                       *ch = json_object_object_get(r, "changes");
    ck_assert_str_eq(field(r, "etcd_revision"), "7");
    ck_assert_int_eq(json_object_array_length(ch), 1);
    ck_assert_str_eq(field(json_object_array_get_idx(ch, 0), "id"), "m3");
    json_object_put(h);
    store_close(s);
}
END_TEST

/* Past max_versions the oldest go first; the range and the refusal say how far back it goes. */
START_TEST(bounded_oldest_dropped)
{
    struct store *s = open_store("bound");
    char up[16];
    uint64_t oldest, cur;
    store_history_bounds(s, 3, 1 << 20);
    for (int i = 1; i <= 6; i++) {
        snprintf(up, sizeof(up), "up-%d", i);
        write1(s, "m1", model("gpt", up, "sk-secret-000000000001"), STORE_ORIGIN_ADMIN, "admin");
    }
    int more;
    struct json_object *h = history(s, 0, 100, &more);
    ck_assert_int_eq(json_object_array_length(h), 3);
    ck_assert_str_eq(field(json_object_array_get_idx(h, 2), "version"), "4");
    json_object_put(h);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_history_range(s, &oldest, &cur), STORE_OK);
    store_read_end(s);
    ck_assert_uint_eq(oldest, 3); /* record 4 holds what version 3 was */
    ck_assert_uint_eq(cur, 6);
    /* version 2 is gone: refused, saying how far back the history reaches */
    struct aigw_errors e;
    uint64_t nv;
    int n;
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 2, "admin", &nv, &n, &e), STORE_NOTFOUND);
    ck_assert_error(&e, "The history no longer holds version 2: it reaches back to version 3");
    errors_free(&e);
    ck_assert_str_eq(served(s, "gpt"), "up-6");
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 3, "admin", &nv, &n, &e), STORE_OK);
    errors_free(&e);
    ck_assert_str_eq(served(s, "gpt"), "up-3");
    /* the size bound: one byte keeps only the newest record */
    store_history_bounds(s, 1000, 1);
    write1(s, "m1", model("gpt", "up-8", "sk-secret-000000000001"), STORE_ORIGIN_ADMIN, "admin");
    h = history(s, 0, 100, &more);
    ck_assert_int_eq(json_object_array_length(h), 1);
    json_object_put(h);
    store_close(s);
}
END_TEST

/*
 * The diff of two versions names exactly the resources that differ, with
 * the stored documents (the Admin API masks them), in either direction.
 */
START_TEST(diff_two_versions)
{
    struct store *s = open_store("diff");
    write1(s, "a", model("alpha", "up-a1", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    write1(s, "b", model("beta", "up-b1", "sk-secret-bbbbbbbbbbbb"), STORE_ORIGIN_ADMIN, "admin");
    /* v3: a changed; v4: b deleted; v5: c added; v6: a changed back */
    write1(s, "a", model("alpha", "up-a2", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    write1(s, "b", NULL, STORE_ORIGIN_ADMIN, "admin");
    write1(s, "c", model("gamma", "up-c1", "sk-secret-cccccccccccc"), STORE_ORIGIN_ADMIN, "admin");
    write1(s, "a", model("alpha", "up-a1", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    struct aigw_errors e;
    errors_init(&e, NULL);
    ck_assert_int_eq(store_read_begin(s), 0);
    /* 2 -> current: a is back as it was, b removed, c added */
    struct json_object *d = store_history_diff(s, 2, 6, &e);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(json_object_array_length(d), 2);
    struct json_object *x = json_object_array_get_idx(d, 0), *y = json_object_array_get_idx(d, 1);
    ck_assert_str_eq(field(x, "id"), "b");
    ck_assert_ptr_nonnull(strstr(field(x, "before"), "up-b1"));
    ck_assert_ptr_null(field(x, "after"));
    ck_assert_str_eq(field(y, "id"), "c");
    ck_assert_ptr_null(field(y, "before"));
    ck_assert_ptr_nonnull(strstr(field(y, "after"), "up-c1"));
    json_object_put(d);
    /* 3 -> 2 (backwards): a goes from up-a2 to up-a1 */
    d = store_history_diff(s, 3, 2, &e);
    ck_assert_int_eq(json_object_array_length(d), 1);
    x = json_object_array_get_idx(d, 0);
    ck_assert_str_eq(field(x, "id"), "a");
    ck_assert_ptr_nonnull(strstr(field(x, "before"), "up-a2"));
    ck_assert_ptr_nonnull(strstr(field(x, "after"), "up-a1"));
    json_object_put(d);
    /* the same version: nothing */
    d = store_history_diff(s, 4, 4, &e);
    ck_assert_int_eq(json_object_array_length(d), 0);
    json_object_put(d);
    /* a version that does not exist yet */
    ck_assert_ptr_null(store_history_diff(s, 2, 7, &e));
    ck_assert_error(&e, "Version 7 does not exist: the current version is 6");
    store_read_end(s);
    errors_free(&e);
    store_close(s);
}
END_TEST

/*
 * A rollback is one new version holding the table as it was, names moved
 * between resources included, with each resource's origin as it was.
 */
START_TEST(rollback_whole_table)
{
    struct store *s = open_store("rb");
    struct aigw_errors e;
    uint64_t nv;
    int n;
    write1(s, "a", model("alpha", "up-a1", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_FILE, "file:x");
    write1(s, "b", model("beta", "up-b1", "sk-secret-bbbbbbbbbbbb"), STORE_ORIGIN_ADMIN, "admin");
    /* v3: a renamed to beta2; v4: b takes the name alpha; v5: a new model d named beta */
    write1(s, "a", model("beta2", "up-a2", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    write1(s, "b", model("alpha", "up-b2", "sk-secret-bbbbbbbbbbbb"), STORE_ORIGIN_ADMIN, "admin");
    write1(s, "d", model("beta", "up-d1", "sk-secret-dddddddddddd"), STORE_ORIGIN_ADMIN, "admin");
    ck_assert_str_eq(served(s, "alpha"), "up-b2");
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 2, "admin:ops", &nv, &n, &e), STORE_OK);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_uint_eq(nv, 6);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(served(s, "alpha"), "up-a1");
    ck_assert_str_eq(served(s, "beta"), "up-b1");
    ck_assert_str_eq(served(s, "beta2"), "");
    /* the origin is restored with the document: a is the file's again */
    struct store_doc d;
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_doc_read(s, RES_MODEL, "a", &d), STORE_OK);
    ck_assert_int_eq(d.origin, STORE_ORIGIN_FILE);
    ck_assert_int_eq(d.revision, 6);
    ck_assert_int_eq(store_doc_read(s, RES_MODEL, "d", &d), STORE_NOTFOUND);
    store_read_end(s);
    /* its record: source, rollback_of, the three resources */
    int more;
    struct json_object *h = history(s, 0, 1, &more);
    struct json_object *r = json_object_array_get_idx(h, 0);
    ck_assert_str_eq(field(r, "version"), "6");
    ck_assert_str_eq(field(r, "admin_key"), "ops");
    ck_assert_str_eq(field(r, "rollback_of"), "2");
    ck_assert_int_eq(json_object_array_length(json_object_object_get(r, "changes")), 3);
    json_object_put(h);
    /* and the rollback itself can be undone */
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 5, "admin", &nv, &n, &e), STORE_OK);
    errors_free(&e);
    ck_assert_str_eq(served(s, "alpha"), "up-b2");
    ck_assert_str_eq(served(s, "beta"), "up-d1");
    /* back to where it is already: no new version */
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 7, "admin", &nv, &n, &e), STORE_OK);
    errors_free(&e);
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(nv, 7);
    /* version 0: the empty table */
    errors_init(&e, NULL);
    ck_assert_int_eq(store_rollback(s, 0, "admin", &nv, &n, &e), STORE_OK);
    errors_free(&e);
    ck_assert_str_eq(served(s, "alpha"), "");
    ck_assert_str_eq(served(s, "beta"), "");
    store_close(s);
}
END_TEST

/* store_history_state: the value at v of every resource changed since, for the etcd rollback. */
START_TEST(state_at_version)
{
    struct store *s = open_store("state");
    struct aigw_errors e;
    write1(s, "a", model("alpha", "up-a1", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ETCD, "etcd");
    write1(s, "a", model("alpha", "up-a2", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ETCD, "etcd");
    write1(s, "b", model("beta", "up-b1", "sk-secret-bbbbbbbbbbbb"), STORE_ORIGIN_ETCD, "etcd");
    errors_init(&e, NULL);
    ck_assert_int_eq(store_read_begin(s), 0);
    struct json_object *st = store_history_state(s, 1, &e), *it, *v;
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(json_object_object_length(st), 2);
    ck_assert(json_object_object_get_ex(st, "models/a", &it));
    ck_assert(json_object_object_get_ex(it, "value", &v) && v != NULL);
    ck_assert_ptr_nonnull(strstr(field(v, "doc"), "up-a1"));
    ck_assert(json_object_object_get_ex(st, "models/b", &it));
    ck_assert(json_object_object_get_ex(it, "value", &v) && v == NULL);
    json_object_put(st);
    st = store_history_state(s, 3, &e);
    ck_assert_int_eq(json_object_object_length(st), 0);
    json_object_put(st);
    store_read_end(s);
    errors_free(&e);
    store_close(s);
}
END_TEST

/* The resources file's resources a rollback would change: origin file now or at v. */
START_TEST(rollback_file_owned)
{
    struct store *s = open_store("owned");
    struct aigw_errors e;
    write1(s, "f", model("file-m", "up-f1", "sk-secret-ffffffffffff"), STORE_ORIGIN_FILE, "file:x");
    write1(s, "a", model("adm-m", "up-a1", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    /* v3: the file adds g; v4: the file drops it again; v5: an admin change to a */
    write1(s, "g", model("file-g", "up-g1", "sk-secret-gggggggggggg"), STORE_ORIGIN_FILE, "file:x");
    write1(s, "g", NULL, STORE_ORIGIN_FILE, "file:x");
    write1(s, "a", model("adm-m", "up-a2", "sk-secret-aaaaaaaaaaaa"), STORE_ORIGIN_ADMIN, "admin");
    errors_init(&e, NULL);
    ck_assert_int_eq(store_read_begin(s), 0);
    /* back to 4 or 2: only a changes (g is absent at both ends) */
    struct json_object *o = store_rollback_file_owned(s, 4, &e);
    ck_assert_int_eq(json_object_array_length(o), 0);
    json_object_put(o);
    o = store_rollback_file_owned(s, 2, &e);
    ck_assert_int_eq(json_object_array_length(o), 0);
    json_object_put(o);
    /* back to 3: g (the file's then) would come back */
    o = store_rollback_file_owned(s, 3, &e);
    ck_assert_int_eq(json_object_array_length(o), 1);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 0)), "models/g");
    json_object_put(o);
    /* back to 0: f (the file's now); g is absent at 0 and now */
    o = store_rollback_file_owned(s, 0, &e);
    ck_assert_int_eq(json_object_array_length(o), 1);
    ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(o, 0)), "models/f");
    json_object_put(o);
    ck_assert_nerrors(&e, 0);
    ck_assert_ptr_null(store_rollback_file_owned(s, 9, &e));
    ck_assert_nerrors(&e, 1);
    store_read_end(s);
    errors_free(&e);
    store_close(s);
}
END_TEST

static Suite *
history_suite(void)
{
    Suite *s = suite_create("history");
    TCase *tc = tcase_create("history");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, records_each_version);
    tcase_add_test(tc, refused_put_not_recorded);
    tcase_add_test(tc, bounded_oldest_dropped);
    tcase_add_test(tc, diff_two_versions);
    tcase_add_test(tc, rollback_whole_table);
    tcase_add_test(tc, state_at_version);
    tcase_add_test(tc, rollback_file_owned);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(history_suite());
}
