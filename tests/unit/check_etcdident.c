/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_etcdident.c: the etcd identity check on a real LMDB table: what a
 * first start, another cluster, a revision behind, an upgraded table and an
 * acceptance do, and that the identity survives a reopen.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/errors.h"
#include "aigw/resource.h"
#include "store.h"
#include "etcdident.h"
#include "tap.h"

#define MAP_SIZE (16ULL << 20)
#define C1 0xa17a28bb3d0e06b5ULL
#define C2 0x31f4a83531a3dc95ULL

TMPDIR_FIXTURE

/* Open the store in g_dir/name. */
static struct store *
open_store(const char *name)
{
    char dir[PATH_MAX], all[4096];
    struct aigw_errors e;
    path_join(dir, g_dir, name);
    errors_init(&e, NULL);
    struct store *s = store_open(dir, MAP_SIZE, 126, 0, &e);
    ck_assert_msg(s != NULL, "store_open %s: %s", dir, errors_text(&e, all, sizeof(all)));
    errors_free(&e);
    return s;
}

/* The full read of etcdsync in small: check, record with the commit, applied. */
static int
full_read(struct etcdident *id, struct store *s, uint64_t cluster, int64_t rev)
{
    if (etcdident_check_range(id, cluster, rev, "http://127.0.0.1:2379", 1) < 0)
        return -1;
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    etcdident_record(id, t, cluster, rev);
    ck_assert_int_eq(store_commit(t, "etcd", rev), 0);
    etcdident_applied(id, cluster, rev);
    return 0;
}

/* The identity as stored in LMDB. */
static struct store_etcd_ident
stored(struct store *s)
{
    struct store_etcd_ident i;
    ck_assert_int_eq(store_read_begin(s), 0);
    store_etcd_ident_get(s, &i);
    store_read_end(s);
    return i;
}

/* The configuration version. */
static uint64_t
version(struct store *s)
{
    struct store_meta m = {0};
    ck_assert_int_eq(store_read_begin(s), 0);
    store_meta_get(s, &m);
    store_read_end(s);
    return m.version;
}

/* A model written by the watch at etcd revision rev (the meta record gets rev). */
static void
put_model(struct store *s, int64_t rev)
{
    struct aigw_errors e;
    struct store_txn *t = store_write_begin(s);
    char json[64];
    snprintf(json, sizeof(json), "{\"name\":\"a%lld\",\"provider\":\"openai\"}", (long long)rev);
    struct json_object *doc = json_tokener_parse(json);
    errors_init(&e, NULL);
    ck_assert_int_eq(res_validate(RES_MODEL, doc, "m1", &e), 0);
    store_txn_origin(t, STORE_ORIGIN_ETCD, rev);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", doc, &e), STORE_OK);
    ck_assert_int_eq(store_commit(t, "etcd", rev), 0);
    json_object_put(doc);
    errors_free(&e);
}

/* An empty table takes the first cluster; the record is written without a change. */
START_TEST(first_start_records)
{
    struct store *s = open_store("first");
    struct etcdident id;
    etcdident_load(&id, s);
    ck_assert_uint_eq(id.known.cluster_id, 0);
    ck_assert_int_eq(full_read(&id, s, C1, 5), 0);
    ck_assert_uint_eq(stored(s).cluster_id, C1);
    ck_assert_int_eq(stored(s).revision, 5);
    ck_assert_uint_eq(version(s), 0); /* an identity alone is no new configuration */
    store_close(s);
    s = open_store("first");
    etcdident_load(&id, s);
    ck_assert_uint_eq(id.known.cluster_id, C1);
    ck_assert_int_eq(id.known.revision, 5);
    ck_assert_int_eq(full_read(&id, s, C1, 9), 0);
    ck_assert_int_eq(stored(s).revision, 9);
    store_close(s);
}
END_TEST

/* Another cluster, or the same one behind: refused, nothing written, the reason kept. */
START_TEST(mismatch_refused)
{
    struct store *s = open_store("mismatch");
    struct etcdident id;
    etcdident_load(&id, s);
    ck_assert_int_eq(full_read(&id, s, C1, 10), 0);
    ck_assert_int_eq(full_read(&id, s, C2, 50), -1);
    ck_assert_int_eq(id.mismatch, 1);
    ck_assert_uint_eq(id.seen_cluster_id, C2);
    ck_assert_str_eq(id.why, "another cluster");
    ck_assert_int_eq(full_read(&id, s, C1, 1), -1);
    ck_assert_str_eq(id.why, "its revision is behind the table's");
    ck_assert_int_eq(id.seen_revision, 1);
    ck_assert_int_eq(full_read(&id, s, 0, 11), -1); /* no cluster_id at all */
    ck_assert_uint_eq(stored(s).cluster_id, C1);
    ck_assert_int_eq(stored(s).revision, 10);
    /* the watch: only the cluster_id (a follower's revision may lag) */
    ck_assert_int_eq(etcdident_check_watch(&id, C2, 12, "x", 1), -1);
    /* etcd as it was: the mismatch ends by itself */
    ck_assert_int_eq(full_read(&id, s, C1, 10), 0);
    ck_assert_int_eq(id.mismatch, 0);
    ck_assert_int_eq(etcdident_check_watch(&id, C1, 3, "x", 1), 0);
    store_close(s);
}
END_TEST

/* Accept: only during a mismatch; the next read adopts, its lower revision too. */
START_TEST(accept_adopts)
{
    struct store *s = open_store("accept");
    struct etcdident id;
    etcdident_load(&id, s);
    ck_assert_int_eq(full_read(&id, s, C1, 30), 0);
    put_model(s, 40); /* the meta record is at 40 now, and stays so: nothing changes below */
    ck_assert_int_eq(etcdident_accept(&id), -1);
    ck_assert_int_eq(full_read(&id, s, C2, 2), -1);
    ck_assert_int_eq(etcdident_accept(&id), 0);
    ck_assert_int_eq(full_read(&id, s, C2, 2), 0);
    ck_assert_int_eq(id.mismatch, 0);
    ck_assert_int_eq(id.accept, 0);
    ck_assert_uint_eq(stored(s).cluster_id, C2);
    ck_assert_int_eq(stored(s).revision, 2);
    store_close(s);
    s = open_store("accept");
    etcdident_load(&id, s);
    ck_assert_int_eq(full_read(&id, s, C2, 3), 0);
    ck_assert_int_eq(full_read(&id, s, C1, 90), -1);
    store_close(s);
}
END_TEST

/* A table from before the check: no cluster recorded, the meta's revision still counts. */
START_TEST(upgraded_table)
{
    struct store *s = open_store("upgrade");
    put_model(s, 7);
    struct etcdident id;
    etcdident_load(&id, s);
    ck_assert_uint_eq(id.known.cluster_id, 0);
    ck_assert_int_eq(id.known.revision, 7);
    ck_assert_int_eq(full_read(&id, s, C1, 1), -1);                 /* a wiped etcd */
    ck_assert_int_eq(etcdident_check_watch(&id, C2, 1, "x", 1), 0); /* nothing to compare */
    ck_assert_int_eq(full_read(&id, s, C1, 8), 0);
    ck_assert_uint_eq(stored(s).cluster_id, C1);
    store_close(s);
}
END_TEST

/* The status object: ids in hex, the seen ones only during a mismatch. */
START_TEST(status_fields)
{
    struct etcdident id;
    memset(&id, 0, sizeof(id));
    id.known.cluster_id = C1;
    id.known.revision = 4;
    struct json_object *o = json_object_new_object(), *i, *v;
    etcdident_status(&id, o);
    ck_assert(json_object_object_get_ex(o, "identity", &i));
    ck_assert_str_eq(json_object_get_string(json_object_object_get(i, "state")), "ok");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(i, "stored_cluster_id")),
                     "a17a28bb3d0e06b5");
    ck_assert(json_object_object_get_ex(i, "seen_cluster_id", &v) && v == NULL);
    json_object_put(o);
    ck_assert_int_eq(etcdident_check_range(&id, C2, 9, "x", 1), -1);
    o = json_object_new_object();
    etcdident_status(&id, o);
    i = json_object_object_get(o, "identity");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(i, "state")), "mismatch");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(i, "seen_cluster_id")),
                     "31f4a83531a3dc95");
    ck_assert_int_eq(json_object_get_int64(json_object_object_get(i, "seen_revision")), 9);
    json_object_put(o);
}
END_TEST

static Suite *
etcdident_suite(void)
{
    Suite *s = suite_create("etcdident");
    TCase *tc = tcase_create("identity");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, first_start_records);
    tcase_add_test(tc, mismatch_refused);
    tcase_add_test(tc, accept_adopts);
    tcase_add_test(tc, upgraded_table);
    tcase_add_test(tc, status_fields);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(etcdident_suite());
}
