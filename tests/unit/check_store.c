/* SPDX-License-Identifier: Apache-2.0 */
/* check_store.c: the LMDB configuration table: write, read, persistence, diffs, conflicts, MVCC. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "auth.h"
#include "aigw/errors.h"
#include "aigw/resource.h"
#include "store.h"
#include "aigw/util.h"
#include "provider.h"
#include "tap.h"

#define MAP_SIZE (16ULL << 20)
#define MAX_READERS 126

#define MODELS_V1                                                                                  \
    "{\"m1\":{\"name\":\"gpt-4o\",\"provider\":\"openai\"},"                                       \
    "\"m2\":{\"name\":\"local-llama\",\"provider\":\"openai-compatible\","                         \
    "\"api_base\":\"http://127.0.0.1:8000/v1\",\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"}}"
#define KEYS_V1                                                                                    \
    "{\"k1\":{\"name\":\"team-a\",\"key\":\"sk-test-0001\",\"allowed_models\":[\"gpt-4o*\"]}}"

/* One temporary folder per test case; each test opens its own environment in a subfolder. */
TMPDIR_FIXTURE

/* Open the store in g_dir/name (created by a writer). */
static struct store *
open_store(const char *name, int flags)
{
    char dir[PATH_MAX], all[4096];
    struct aigw_errors e;
    path_join(dir, g_dir, name);
    errors_init(&e, NULL);
    struct store *s = store_open(dir, MAP_SIZE, MAX_READERS, flags, &e);
    ck_assert_msg(s != NULL, "store_open %s: %s", dir, errors_text(&e, all, sizeof(all)));
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    return s;
}

/* Parse {id: doc} and validate (normalize) every doc as kind k. */
static struct json_object *
items(enum res_kind k, const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "bad test JSON: %s", json);
    json_object_object_foreach(o, id, doc)
    {
        struct aigw_errors e;
        char all[4096];
        errors_init(&e, NULL);
        ck_assert_msg(res_validate(k, doc, id, &e) == 0, "%s: %s", id,
                      errors_text(&e, all, sizeof(all)));
        errors_free(&e);
    }
    return o;
}

/* Sync both kinds in one transaction and commit; returns the number of changes. */
static int
sync_commit(struct store *s, const char *models, const char *keys, const char *source, int64_t rev)
{
    struct aigw_errors e;
    char all[4096];
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    errors_init(&e, NULL);
    struct json_object *m = items(RES_MODEL, models), *k = items(RES_API_KEY, keys);
    int nm = store_sync_kind(t, RES_MODEL, m, &e);
    int nk = store_sync_kind(t, RES_API_KEY, k, &e);
    json_object_put(m);
    json_object_put(k);
    ck_assert_msg(nm >= 0 && nk >= 0, "sync failed: %s", errors_text(&e, all, sizeof(all)));
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    ck_assert_int_eq(store_commit(t, source, rev), 0);
    return nm + nk;
}

/* The committed meta record, read in its own read transaction. */
static struct store_meta
meta_now(struct store *s)
{
    struct store_meta m;
    memset(&m, 0xff, sizeof(m));
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_meta_get(s, &m), 0);
    store_read_end(s);
    return m;
}

/* 1 when a model of that name is visible in the current read transaction; its id in id. */
static int
has_model(struct store *s, const char *name, const char **id)
{
    struct model_view v;
    int rc = store_model_by_name(s, name, strlen(name), &v);
    ck_assert_msg(rc == STORE_OK || rc == STORE_NOTFOUND, "lookup of %s: %d", name, rc);
    if (rc == STORE_OK && id != NULL)
        *id = v.id;
    return rc == STORE_OK;
}

/* store_key_by_hash of a plaintext key. */
static int
key_lookup(struct store *s, const char *key, struct key_view *v)
{
    uint8_t h[AUTH_HASH_LEN];
    auth_key_hash(key, strlen(key), h);
    return store_key_by_hash(s, h, v);
}

/* Check that version 1 (MODELS_V1, KEYS_V1) is what a reader sees. */
static void
assert_v1(struct store *s)
{
    struct model_view mv;
    struct key_view kv;
    struct store_meta m;
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_meta_get(s, &m), 0);
    ck_assert_uint_eq(m.version, 1);
    ck_assert_int_eq(m.etcd_revision, 0);
    ck_assert_str_eq(m.source, "file:/etc/aigw/resources.yaml");

    ck_assert_int_eq(store_model_by_name(s, "gpt-4o", 6, &mv), STORE_OK);
    ck_assert_str_eq(mv.id, "m1");
    ck_assert_str_eq(mv.name, "gpt-4o");
    ck_assert_str_eq(mv.t[0].upstream_model, "gpt-4o");
    ck_assert_str_eq(mv.t[0].api_base, "https://api.openai.com/v1");
    ck_assert_int_eq(mv.t[0].provider, PROVIDER_OPENAI);
    ck_assert_int_eq(store_model_by_name(s, "local-llama", 11, &mv), STORE_OK);
    ck_assert_str_eq(mv.id, "m2");
    ck_assert_str_eq(mv.t[0].upstream_model, "meta-llama/Llama-3.1-8B-Instruct");
    ck_assert_str_eq(mv.t[0].api_base, "http://127.0.0.1:8000/v1");
    ck_assert_int_eq(mv.t[0].provider, PROVIDER_OPENAI_COMPATIBLE);
    /* the name is len bytes, not a C string */
    ck_assert_int_eq(store_model_by_name(s, "gpt-4o-mini", 6, &mv), STORE_OK);
    ck_assert_str_eq(mv.id, "m1");
    ck_assert_int_eq(store_model_by_name(s, "gpt-4", 5, &mv), STORE_NOTFOUND);
    ck_assert_int_eq(store_model_by_name(s, "nope", 4, &mv), STORE_NOTFOUND);
    ck_assert_int_eq(store_model_by_name(s, "", 0, &mv), STORE_NOTFOUND);

    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_OK);
    ck_assert_str_eq(kv.id, "k1");
    ck_assert_str_eq(kv.name, "team-a");
    ck_assert_int_eq(kv.nallowed, 1);
    ck_assert_str_eq(kv.allowed, "gpt-4o*");
    ck_assert_int_eq(key_lookup(s, "sk-test-0002", &kv), STORE_NOTFOUND);
    store_read_end(s);
}

/* Write version 1, read it back, close, reopen (also read-only) and read it again. */
START_TEST(write_read_reopen)
{
    struct store *s = open_store("persist", 0);
    struct store_meta m = meta_now(s);
    ck_assert_uint_eq(m.version, 0); /* a new table */
    ck_assert_str_eq(m.source, "");

    int64_t before = now_real_ms();
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    int64_t after = now_real_ms();
    m = meta_now(s);
    ck_assert_int_ge(m.updated_ms, before);
    ck_assert_int_le(m.updated_ms, after);
    assert_v1(s);
    store_close(s);

    s = open_store("persist", 0);
    assert_v1(s);
    ck_assert_int_eq(meta_now(s).updated_ms, m.updated_ms);
    store_close(s);

    s = open_store("persist", STORE_RDONLY);
    assert_v1(s);
    store_close(s);
}
END_TEST

/* Syncing the same set again writes nothing and does not bump the version. */
START_TEST(unchanged_sync_commits_nothing)
{
    struct store *s = open_store("unchanged", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    struct store_meta m1 = meta_now(s);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/elsewhere.yaml", 0), 0);
    struct store_meta m2 = meta_now(s);
    ck_assert_uint_eq(m2.version, 1);
    ck_assert_int_eq(m2.updated_ms, m1.updated_ms);
    ck_assert_str_eq(m2.source, "file:/etc/aigw/resources.yaml");

    /* one changed field is one change and one new version */
    ck_assert_int_eq(
        sync_commit(s,
                    "{\"m1\":{\"name\":\"gpt-4o\",\"provider\":\"openai\","
                    "\"api_key\":\"sk-up\"},"
                    "\"m2\":{\"name\":\"local-llama\",\"provider\":\"openai-compatible\","
                    "\"api_base\":\"http://127.0.0.1:8000/v1\","
                    "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"}}",
                    KEYS_V1, "admin", 0),
        1);
    ck_assert_uint_eq(meta_now(s).version, 2);
    ck_assert_str_eq(meta_now(s).source, "admin");
    store_close(s);
}
END_TEST

/* Putting an unchanged document directly is not a change either. */
START_TEST(put_unchanged_is_no_change)
{
    struct aigw_errors e;
    struct store *s = open_store("putsame", 0);
    struct json_object *m = items(RES_MODEL, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"}}");
    struct json_object *doc = json_object_object_get(m, "m1");
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", doc, &e), STORE_OK);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", doc, &e), STORE_OK);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    ck_assert_uint_eq(meta_now(s).version, 1);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    json_object_put(m);
    store_close(s);
}
END_TEST

/* Renaming a model drops its old name from the index; rotating a key drops the old hash. */
START_TEST(rename_and_rotate)
{
    struct key_view kv;
    const char *id = NULL;
    struct store *s = open_store("rename", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    ck_assert_int_eq(
        sync_commit(s,
                    "{\"m1\":{\"name\":\"gpt-4o-2024\",\"provider\":\"openai\"},"
                    "\"m2\":{\"name\":\"local-llama\",\"provider\":\"openai-compatible\","
                    "\"api_base\":\"http://127.0.0.1:8000/v1\","
                    "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"}}",
                    "{\"k1\":{\"name\":\"team-a\",\"key\":\"sk-test-0002\",\"allowed_models\":["
                    "\"gpt-4o*\"]}}",
                    "file:/etc/aigw/resources.yaml", 0),
        2);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "gpt-4o", NULL), 0);
    ck_assert_int_eq(has_model(s, "gpt-4o-2024", &id), 1);
    ck_assert_str_eq(id, "m1");
    ck_assert_int_eq(has_model(s, "local-llama", NULL), 1);
    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_NOTFOUND);
    ck_assert_int_eq(key_lookup(s, "sk-test-0002", &kv), STORE_OK);
    ck_assert_str_eq(kv.id, "k1");
    store_read_end(s);
    ck_assert_uint_eq(meta_now(s).version, 2);
    store_close(s);
}
END_TEST

/* store_put alone (the Admin API's path) drops a renamed model's and a rotated key's old entry. */
START_TEST(put_rename_and_rotate)
{
    struct aigw_errors e;
    struct key_view kv;
    const char *id = NULL;
    struct store *s = open_store("putrename", 0);
    struct json_object *v1 = items(RES_MODEL, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"}}");
    struct json_object *v2 = items(RES_MODEL, "{\"m1\":{\"name\":\"b\",\"provider\":\"openai\"}}");
    struct json_object *k1 =
        items(RES_API_KEY, "{\"k1\":{\"name\":\"k\",\"key\":\"sk-test-0001\"}}");
    struct json_object *k2 =
        items(RES_API_KEY, "{\"k1\":{\"name\":\"k\",\"key\":\"sk-test-0002\"}}");
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", json_object_object_get(v1, "m1"), &e), STORE_OK);
    ck_assert_int_eq(store_put(t, RES_API_KEY, "k1", json_object_object_get(k1, "k1"), &e),
                     STORE_OK);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", json_object_object_get(v2, "m1"), &e), STORE_OK);
    ck_assert_int_eq(store_put(t, RES_API_KEY, "k1", json_object_object_get(k2, "k1"), &e),
                     STORE_OK);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    ck_assert_nerrors(&e, 0);
    errors_free(&e);
    json_object_put(v1);
    json_object_put(v2);
    json_object_put(k1);
    json_object_put(k2);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", NULL), 0);
    ck_assert_int_eq(has_model(s, "b", &id), 1);
    ck_assert_str_eq(id, "m1");
    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_NOTFOUND);
    ck_assert_int_eq(key_lookup(s, "sk-test-0002", &kv), STORE_OK);
    store_read_end(s);
    ck_assert_uint_eq(meta_now(s).version, 2);
    store_close(s);
}
END_TEST

/* A resource missing from the synced set is deleted, from the docs and from the index. */
START_TEST(sync_deletes_missing)
{
    struct key_view kv;
    struct store *s = open_store("syncdel", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    ck_assert_int_eq(sync_commit(s, "{\"m1\":{\"name\":\"gpt-4o\",\"provider\":\"openai\"}}", "{}",
                                 "file:/etc/aigw/resources.yaml", 0),
                     2);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "gpt-4o", NULL), 1);
    ck_assert_int_eq(has_model(s, "local-llama", NULL), 0);
    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_NOTFOUND);
    store_read_end(s);
    struct store_txn *t = store_write_begin(s);
    char *doc = store_doc_get(t, RES_MODEL, "m2");
    ck_assert_ptr_null(doc);
    doc = store_doc_get(t, RES_MODEL, "m1");
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(doc, "{\"name\":\"gpt-4o\",\"provider\":\"openai\"}");
    free(doc);
    store_abort(t);
    ck_assert_uint_eq(meta_now(s).version, 2);
    store_close(s);
}
END_TEST

/* store_del removes one resource; deleting a missing id is STORE_NOTFOUND and no change. */
START_TEST(delete_one)
{
    struct key_view kv;
    struct store *s = open_store("del", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_del(t, RES_MODEL, "nope"), STORE_NOTFOUND);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    ck_assert_uint_eq(meta_now(s).version, 1);

    t = store_write_begin(s);
    ck_assert_int_eq(store_del(t, RES_MODEL, "m2"), STORE_OK);
    ck_assert_int_eq(store_del(t, RES_API_KEY, "k1"), STORE_OK);
    ck_assert_int_eq(store_del(t, RES_API_KEY, "k1"), STORE_NOTFOUND);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "local-llama", NULL), 0);
    ck_assert_int_eq(has_model(s, "gpt-4o", NULL), 1);
    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_NOTFOUND);
    store_read_end(s);
    struct store_meta m = meta_now(s);
    ck_assert_uint_eq(m.version, 2);
    ck_assert_str_eq(m.source, "admin");
    store_close(s);
}
END_TEST

/* A model name or key that belongs to another id is STORE_CONFLICT, naming the owner. */
START_TEST(conflicts)
{
    struct aigw_errors e;
    struct store *s = open_store("conflict", 0);
    struct json_object *m =
        items(RES_MODEL, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"},"
                         "\"m3\":{\"name\":\"a\",\"provider\":\"openai\",\"api_key\":\"x\"}}");
    struct json_object *k =
        items(RES_API_KEY, "{\"k1\":{\"name\":\"one\",\"key\":\"sk-test-0001\"},"
                           "\"k2\":{\"name\":\"two\",\"key\":\"sk-test-0001\"}}");
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", json_object_object_get(m, "m1"), &e), STORE_OK);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m3", json_object_object_get(m, "m3"), &e),
                     STORE_CONFLICT);
    ck_assert_int_eq(store_put(t, RES_API_KEY, "k1", json_object_object_get(k, "k1"), &e),
                     STORE_OK);
    ck_assert_int_eq(store_put(t, RES_API_KEY, "k2", json_object_object_get(k, "k2"), &e),
                     STORE_CONFLICT);
    ck_assert_nerrors(&e, 2);
    ck_assert_str_eq(e.msgs[0], "m3: model name already used by m1");
    ck_assert_str_eq(e.msgs[1], "k2: key already used by k1");
    errors_free(&e);
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);

    /* the owners are unchanged and the losers were not stored */
    const char *id = NULL;
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", &id), 1);
    ck_assert_str_eq(id, "m1");
    store_read_end(s);
    t = store_write_begin(s);
    ck_assert_ptr_null(store_doc_get(t, RES_MODEL, "m3"));
    ck_assert_ptr_null(store_doc_get(t, RES_API_KEY, "k2"));
    store_abort(t);

    /* a sync holding the conflict fails as a whole; the caller aborts */
    errors_init(&e, NULL);
    t = store_write_begin(s);
    ck_assert_int_eq(store_sync_kind(t, RES_MODEL, m, &e), -1);
    ck_assert_error(&e, "model name already used by");
    store_abort(t);
    errors_free(&e);
    ck_assert_uint_eq(meta_now(s).version, 1);
    json_object_put(m);
    json_object_put(k);
    store_close(s);
}
END_TEST

/* A name moving from one id to another in one sync is not a conflict (deletions go first). */
START_TEST(name_moves_between_ids)
{
    const char *id = NULL;
    struct store *s = open_store("move", 0);
    ck_assert_int_eq(
        sync_commit(s, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"}}", "{}", "file:x", 0), 1);
    ck_assert_int_eq(
        sync_commit(s, "{\"m9\":{\"name\":\"a\",\"provider\":\"openai\"}}", "{}", "file:x", 0), 2);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", &id), 1);
    ck_assert_str_eq(id, "m9");
    store_read_end(s);
    store_close(s);
}
END_TEST

/* A name passed on to an id that stays (m1 a->c, m2 b->a, m2 first) applies in one sync. */
START_TEST(rename_chain_in_one_sync)
{
    const char *id = NULL;
    struct store *s = open_store("chain", 0);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"},"
                                 "\"m2\":{\"name\":\"b\",\"provider\":\"openai\"}}",
                                 "{}", "file:x", 0),
                     2);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"m2\":{\"name\":\"a\",\"provider\":\"openai\"},"
                                 "\"m1\":{\"name\":\"c\",\"provider\":\"openai\"}}",
                                 "{}", "file:x", 0),
                     2);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", &id), 1);
    ck_assert_str_eq(id, "m2");
    ck_assert_int_eq(has_model(s, "c", &id), 1);
    ck_assert_str_eq(id, "m1");
    ck_assert_int_eq(has_model(s, "b", NULL), 0);
    store_read_end(s);
    store_close(s);
}
END_TEST

/* Two models swap names and two keys swap secrets in one sync. */
START_TEST(swap_in_one_sync)
{
    const char *id = NULL;
    struct key_view kv;
    struct store *s = open_store("swap", 0);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"},"
                                 "\"m2\":{\"name\":\"b\",\"provider\":\"openai\"}}",
                                 "{\"k1\":{\"name\":\"one\",\"key\":\"sk-test-0001\"},"
                                 "\"k2\":{\"name\":\"two\",\"key\":\"sk-test-0002\"}}",
                                 "file:x", 0),
                     4);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"m1\":{\"name\":\"b\",\"provider\":\"openai\"},"
                                 "\"m2\":{\"name\":\"a\",\"provider\":\"openai\"}}",
                                 "{\"k1\":{\"name\":\"one\",\"key\":\"sk-test-0002\"},"
                                 "\"k2\":{\"name\":\"two\",\"key\":\"sk-test-0001\"}}",
                                 "file:x", 0),
                     4);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", &id), 1);
    ck_assert_str_eq(id, "m2");
    ck_assert_int_eq(has_model(s, "b", &id), 1);
    ck_assert_str_eq(id, "m1");
    ck_assert_int_eq(key_lookup(s, "sk-test-0001", &kv), STORE_OK);
    ck_assert_str_eq(kv.id, "k2");
    ck_assert_int_eq(key_lookup(s, "sk-test-0002", &kv), STORE_OK);
    ck_assert_str_eq(kv.id, "k1");
    store_read_end(s);
    ck_assert_uint_eq(meta_now(s).version, 2);
    store_close(s);
}
END_TEST

/* An aborted write transaction leaves nothing behind. */
START_TEST(abort_discards)
{
    struct aigw_errors e;
    struct store *s = open_store("abort", 0);
    struct json_object *m = items(RES_MODEL, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"}}");
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_put(t, RES_MODEL, "m1", json_object_object_get(m, "m1"), &e), STORE_OK);
    store_abort(t);
    errors_free(&e);
    json_object_put(m);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(has_model(s, "a", NULL), 0);
    store_read_end(s);
    ck_assert_uint_eq(meta_now(s).version, 0);
    store_close(s);
}
END_TEST

/* The meta record keeps the etcd revision and the source (cut to fit). */
START_TEST(meta_revision_and_source)
{
    char longsrc[400];
    struct store *s = open_store("meta", 0);
    ck_assert_int_eq(
        sync_commit(s, "{\"m1\":{\"name\":\"a\",\"provider\":\"openai\"}}", "{}", "etcd", 42), 1);
    struct store_meta m = meta_now(s);
    ck_assert_uint_eq(m.version, 1);
    ck_assert_int_eq(m.etcd_revision, 42);
    ck_assert_str_eq(m.source, "etcd");
    memset(longsrc, 's', sizeof(longsrc) - 1);
    longsrc[sizeof(longsrc) - 1] = '\0';
    ck_assert_int_eq(sync_commit(s, "{}", "{}", longsrc, 43), 1);
    m = meta_now(s);
    ck_assert_uint_eq(m.version, 2);
    ck_assert_int_eq(m.etcd_revision, 43);
    ck_assert_uint_eq(strlen(m.source), sizeof(m.source) - 1);
    store_close(s);
}
END_TEST

/* A read transaction keeps its snapshot while the same process commits a new version. */
START_TEST(mvcc_same_handle)
{
    const char *id = NULL;
    struct store *s = open_store("mvcc1", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    struct store_meta m;
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(
        sync_commit(s, "{\"m1\":{\"name\":\"renamed\",\"provider\":\"openai\"}}", "{}", "admin", 0),
        3);
    /* still version 1 inside the open read transaction */
    ck_assert_int_eq(store_meta_get(s, &m), 0);
    ck_assert_uint_eq(m.version, 1);
    ck_assert_int_eq(has_model(s, "gpt-4o", &id), 1);
    ck_assert_str_eq(id, "m1");
    ck_assert_int_eq(has_model(s, "local-llama", NULL), 1);
    ck_assert_int_eq(has_model(s, "renamed", NULL), 0);
    store_read_end(s);
    /* a new read transaction sees version 2 */
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_meta_get(s, &m), 0);
    ck_assert_uint_eq(m.version, 2);
    ck_assert_int_eq(has_model(s, "gpt-4o", NULL), 0);
    ck_assert_int_eq(has_model(s, "local-llama", NULL), 0);
    ck_assert_int_eq(has_model(s, "renamed", NULL), 1);
    store_read_end(s);
    store_close(s);
}
END_TEST

/* What the reader child saw at one step. */
struct report {
    int ok;
    uint64_t version;
    int old_found, new_found;
};

static void
write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w <= 0)
            _exit(3);
        c += w;
        n -= (size_t)w;
    }
}

/* Read n bytes; 0 on success, -1 on EOF or error. */
static int
read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* The child: its own read-only environment, one long read transaction, then a new one. */
static void
mvcc_reader_child(const char *dir, int to_parent, int from_parent)
{
    struct aigw_errors e;
    struct report r;
    struct store_meta m;
    struct model_view v;
    char go;
    errors_init(&e, NULL);
    struct store *s = store_open(dir, MAP_SIZE, MAX_READERS, STORE_RDONLY, &e);
    if (s == NULL || store_read_begin(s) < 0)
        _exit(2);
    for (int step = 0; step < 3; step++) {
        if (step == 1 && read_full(from_parent, &go, 1) < 0) /* the parent has committed */
            _exit(4);
        if (step == 2) { /* a new transaction */
            store_read_end(s);
            if (store_read_begin(s) < 0)
                _exit(5);
        }
        memset(&r, 0, sizeof(r));
        r.ok = store_meta_get(s, &m) == 0;
        r.version = m.version;
        r.old_found = store_model_by_name(s, "gpt-4o", 6, &v) == STORE_OK;
        r.new_found = store_model_by_name(s, "renamed", 7, &v) == STORE_OK;
        write_full(to_parent, &r, sizeof(r));
    }
    store_read_end(s);
    store_close(s);
    _exit(0);
}

/*
 * MVCC across processes. LMDB forbids opening one environment twice in a
 * process (mdb_env_open: closing either breaks its locks), so the reader is a
 * forked child with its own read-only environment, reporting over a pipe.
 */
START_TEST(mvcc_reader_process)
{
    char dir[PATH_MAX];
    int c2p[2], p2c[2], status;
    struct report r;
    path_join(dir, g_dir, "mvcc2");
    struct store *s = open_store("mvcc2", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:/etc/aigw/resources.yaml", 0), 3);
    store_close(s); /* nothing of the writer's environment crosses fork() */

    ck_assert_int_eq(pipe(c2p), 0);
    ck_assert_int_eq(pipe(p2c), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(c2p[0]);
        close(p2c[1]);
        mvcc_reader_child(dir, c2p[1], p2c[0]);
    }
    close(c2p[1]);
    close(p2c[0]);

    ck_assert_int_eq(read_full(c2p[0], &r, sizeof(r)), 0);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.version, 1);
    ck_assert_int_eq(r.old_found, 1);
    ck_assert_int_eq(r.new_found, 0);

    s = open_store("mvcc2", 0);
    ck_assert_int_eq(
        sync_commit(s, "{\"m1\":{\"name\":\"renamed\",\"provider\":\"openai\"}}", "{}", "admin", 0),
        3);
    ck_assert_uint_eq(meta_now(s).version, 2);
    ck_assert_int_eq(write(p2c[1], "g", 1), 1);

    /* the child's open transaction still sees version 1 */
    ck_assert_int_eq(read_full(c2p[0], &r, sizeof(r)), 0);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.version, 1);
    ck_assert_int_eq(r.old_found, 1);
    ck_assert_int_eq(r.new_found, 0);
    /* after store_read_end and a new begin it sees version 2 */
    ck_assert_int_eq(read_full(c2p[0], &r, sizeof(r)), 0);
    ck_assert(r.ok);
    ck_assert_uint_eq(r.version, 2);
    ck_assert_int_eq(r.old_found, 0);
    ck_assert_int_eq(r.new_found, 1);

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    close(c2p[0]);
    close(p2c[1]);
    store_close(s);
}
END_TEST

/* The reader slot of a killed reader process is cleared by store_reader_check. */
START_TEST(reader_check_clears_dead)
{
    char dir[PATH_MAX], ready;
    int c2p[2], status;
    path_join(dir, g_dir, "readers");
    /* The writer stays open: were it the last user, reopening would reset the reader table. */
    struct store *s = open_store("readers", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    ck_assert_int_eq(store_reader_check(s), 0);
    ck_assert_int_eq(pipe(c2p), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct aigw_errors e;
        close(c2p[0]);
        errors_init(&e, NULL);
        struct store *r = store_open(dir, MAP_SIZE, MAX_READERS, STORE_RDONLY, &e);
        if (r == NULL || store_read_begin(r) < 0)
            _exit(2);
        write_full(c2p[1], "r", 1);
        for (;;)
            pause();
    }
    close(c2p[1]);
    ck_assert_int_eq(read_full(c2p[0], &ready, 1), 0);
    close(c2p[0]);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(store_reader_check(s), 1);
    ck_assert_int_eq(store_reader_check(s), 0);
    store_close(s);
}
END_TEST

/* Collects model names (and ids) in the order store_models_foreach gives them. */
struct collect {
    char names[16][32];
    char ids[16][16];
    int n, stop_after;
};

static int
collect_cb(const struct model_view *v, void *arg)
{
    struct collect *c = arg;
    if (c->n < 16) {
        snprintf(c->names[c->n], sizeof(c->names[0]), "%s", v->name);
        snprintf(c->ids[c->n], sizeof(c->ids[0]), "%s", v->id);
    }
    c->n++;
    return c->stop_after > 0 && c->n >= c->stop_after;
}

/* store_models_foreach visits models in byte order of their names; non-zero stops it. */
START_TEST(models_foreach_order)
{
    static const char *const want[] = {"Mid", "_u", "alpha", "beta", "beta/x", "zeta"};
    struct store *s = open_store("foreach", 0);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"z\":{\"name\":\"zeta\",\"provider\":\"openai\"},"
                                 "\"a\":{\"name\":\"alpha\",\"provider\":\"openai\"},"
                                 "\"M\":{\"name\":\"Mid\",\"provider\":\"openai\"},"
                                 "\"bx\":{\"name\":\"beta/x\",\"provider\":\"openai\"},"
                                 "\"b\":{\"name\":\"beta\",\"provider\":\"openai\"},"
                                 "\"u\":{\"name\":\"_u\",\"provider\":\"openai\"}}",
                                 "{}", "file:x", 0),
                     6);
    struct collect c;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_models_foreach(s, collect_cb, &c), STORE_OK);
    ck_assert_int_eq(c.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(c.names[i], want[i]);
    ck_assert_str_eq(c.ids[4], "bx");

    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    ck_assert_int_eq(store_models_foreach(s, collect_cb, &c), STORE_OK);
    ck_assert_int_eq(c.n, 2);
    ck_assert_str_eq(c.names[1], "_u");
    store_read_end(s);
    store_close(s);
}
END_TEST

/* Opening fails with a message: read-only where nothing was created, writer in a missing parent. */
/* Collect the ids of docs_after's walk, up to 8, stopping after stop_after when set. */
struct ids {
    int n, stop_after;
    char id[8][RES_ID_MAX + 1];
};

static int
ids_cb(const struct store_doc *d, void *arg)
{
    struct ids *c = arg;
    if (c->n < 8)
        snprintf(c->id[c->n], sizeof(c->id[0]), "%s", d->id);
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

/* The walk of store_docs_after as a string "a,b,c". */
static const char *
walk_after(struct store *s, const char *after, int stop_after, char *out, size_t len)
{
    struct ids c;
    memset(&c, 0, sizeof(c));
    c.stop_after = stop_after;
    ck_assert_int_eq(store_docs_after(s, RES_MODEL, after, ids_cb, &c), STORE_OK);
    out[0] = '\0';
    for (int i = 0; i < c.n && i < 8; i++)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", c.id[i]);
    return out;
}

/* Pages: the walk starts after an id (present or deleted), in id order; count is the table's. */
START_TEST(docs_after_pages)
{
    char buf[512];
    struct store *s = open_store("after", 0);
    ck_assert_int_eq(sync_commit(s,
                                 "{\"b\":{\"name\":\"n-b\",\"provider\":\"openai\"},"
                                 "\"a\":{\"name\":\"n-a\",\"provider\":\"openai\"},"
                                 "\"ab\":{\"name\":\"n-ab\",\"provider\":\"openai\"},"
                                 "\"d\":{\"name\":\"n-d\",\"provider\":\"openai\"},"
                                 "\"B\":{\"name\":\"n-B\",\"provider\":\"openai\"}}",
                                 "{}", "file:x", 0),
                     5);
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_docs_count(s, RES_MODEL), 5);
    ck_assert_int_eq(store_docs_count(s, RES_API_KEY), 0);
    ck_assert_str_eq(walk_after(s, NULL, 0, buf, sizeof(buf)), "B,a,ab,b,d");
    ck_assert_str_eq(walk_after(s, "", 0, buf, sizeof(buf)), "B,a,ab,b,d");
    /* after an id that is there: the next one, not itself */
    ck_assert_str_eq(walk_after(s, "a", 0, buf, sizeof(buf)), "ab,b,d");
    ck_assert_str_eq(walk_after(s, "ab", 2, buf, sizeof(buf)), "b,d");
    /* after an id that is not (deleted since, or never): its successor */
    ck_assert_str_eq(walk_after(s, "aa", 0, buf, sizeof(buf)), "ab,b,d");
    ck_assert_str_eq(walk_after(s, "c", 0, buf, sizeof(buf)), "d");
    ck_assert_str_eq(walk_after(s, "A", 0, buf, sizeof(buf)), "B,a,ab,b,d");
    ck_assert_str_eq(walk_after(s, "d", 0, buf, sizeof(buf)), "");
    ck_assert_str_eq(walk_after(s, "zzz", 0, buf, sizeof(buf)), "");
    store_read_end(s);
    store_close(s);
}
END_TEST

START_TEST(open_errors)
{
    char dir[PATH_MAX], sub[PATH_MAX], want[PATH_MAX + 64];
    struct aigw_errors e;
    path_join(dir, g_dir, "empty");
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    errors_init(&e, NULL);
    ck_assert_ptr_null(store_open(dir, MAP_SIZE, MAX_READERS, STORE_RDONLY, &e));
    ck_assert_nerrors(&e, 1);
    ck_assert_error(&e, "LMDB: cannot open");
    errors_free(&e);

    path_join(sub, g_dir, "missing/deeper");
    errors_init(&e, NULL);
    ck_assert_ptr_null(store_open(sub, MAP_SIZE, MAX_READERS, 0, &e));
    ck_assert_nerrors(&e, 1);
    snprintf(want, sizeof(want), "cannot create data_dir %s: No such file or directory", sub);
    ck_assert_str_eq(e.msgs[0], want);
    errors_free(&e);
}
END_TEST

/* data.mdb of the store in g_dir/name. */
static void
data_path(char *out, const char *name)
{
    char dir[PATH_MAX];
    path_join(dir, g_dir, name);
    path_join(out, dir, "data.mdb");
}

/* store_problem(s) holds want, and names the file. */
static void
assert_problem(struct store *s, const char *path, const char *want)
{
    const char *p = store_problem(s);
    ck_assert_msg(strstr(p, path) != NULL && strstr(p, want) != NULL,
                  "problem \"%s\" does not name %s with \"%s\"", p, path, want);
}

/* A removed data.mdb: reads go on from the pages mapped, writes are refused. */
START_TEST(file_removed)
{
    char path[PATH_MAX];
    struct store *s = open_store("rm", 0);
    const char *id;
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    ck_assert_int_eq(store_check(s), STORE_FILE_OK);
    ck_assert_str_eq(store_problem(s), "");
    data_path(path, "rm");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(store_check(s), STORE_FILE_REPLACED);
    assert_problem(s, path, "was removed");
    ck_assert_ptr_null(store_write_begin(s));
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert(has_model(s, "gpt-4o", &id));
    store_read_end(s);
    store_close(s);
}
END_TEST

/* Another file renamed onto data.mdb: the same, named as replaced. */
START_TEST(file_replaced)
{
    char path[PATH_MAX], other[PATH_MAX];
    struct store *s = open_store("mv", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    data_path(path, "mv");
    path_join(other, g_dir, "other.mdb");
    FILE *f = fopen(other, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(store_check(s), STORE_FILE_REPLACED);
    assert_problem(s, path, "was replaced by another file");
    ck_assert_ptr_null(store_write_begin(s));
    store_close(s);
}
END_TEST

/* Removed while a write was in progress: the commit is reported as failed. */
START_TEST(file_removed_during_write)
{
    char path[PATH_MAX];
    struct aigw_errors e;
    struct store *s = open_store("rmw", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    errors_init(&e, NULL);
    struct json_object *m =
        items(RES_MODEL, "{\"m3\":{\"name\":\"new-one\",\"provider\":\"openai\"}}");
    ck_assert_int_eq(store_put(t, RES_MODEL, "m3", json_object_object_get(m, "m3"), &e), STORE_OK);
    json_object_put(m);
    errors_free(&e);
    data_path(path, "rmw");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(store_commit(t, "admin", 0), -1);
    store_close(s);
}
END_TEST

/* Cut short at run time: neither read nor written again, even once it grows back. */
START_TEST(file_cut_short)
{
    char path[PATH_MAX];
    struct store *s = open_store("cut", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    data_path(path, "cut");
    ck_assert_int_eq(truncate(path, 4096), 0);
    ck_assert_int_eq(store_check(s), STORE_FILE_SHORT);
    assert_problem(s, path, "was cut to 4096 bytes");
    ck_assert_int_eq(store_read_begin(s), -1);
    ck_assert_ptr_null(store_write_begin(s));
    ck_assert_int_eq(truncate(path, 1 << 20), 0);
    ck_assert_int_eq(store_check(s), STORE_FILE_SHORT);
    ck_assert_int_eq(store_read_begin(s), -1);
    store_close(s);
}
END_TEST

/* A start with data.mdb cut short is refused before any record is read. */
START_TEST(open_cut_short)
{
    char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];
    struct aigw_errors e;
    struct store *s = open_store("cutopen", 0);
    ck_assert_int_eq(sync_commit(s, MODELS_V1, KEYS_V1, "file:x", 0), 3);
    store_close(s);
    path_join(dir, g_dir, "cutopen");
    data_path(path, "cutopen");
    ck_assert_int_eq(truncate(path, 8192), 0);
    for (int flags = 0; flags <= STORE_RDONLY; flags += STORE_RDONLY) {
        errors_init(&e, NULL);
        ck_assert_ptr_null(store_open(dir, MAP_SIZE, MAX_READERS, flags, &e));
        ck_assert_nerrors(&e, 1);
        snprintf(want, sizeof(want), "%s is 8192 bytes but its header says the table takes", path);
        ck_assert_error(&e, want);
        errors_free(&e);
    }
    ck_assert_int_eq(truncate(path, 4096), 0);
    errors_init(&e, NULL);
    ck_assert_ptr_null(store_open(dir, MAP_SIZE, MAX_READERS, 0, &e));
    snprintf(want, sizeof(want), "%s (4096 bytes) is not an LMDB file, or was cut short", path);
    ck_assert_error(&e, want);
    errors_free(&e);
}
END_TEST

/* ---- credentials ---- */

/* One put of kind k (validated here) in its own transaction, committed. */
static void
put_one(struct store *s, enum res_kind k, const char *id, const char *json)
{
    struct aigw_errors e;
    char all[4096];
    struct json_object *doc = json_tokener_parse(json);
    ck_assert_ptr_nonnull(doc);
    errors_init(&e, NULL);
    ck_assert_msg(res_validate(k, doc, id, &e) == 0, "%s", errors_text(&e, all, sizeof(all)));
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(store_put(t, k, id, doc, &e) == STORE_OK, "%s",
                  errors_text(&e, all, sizeof(all)));
    ck_assert_int_eq(store_commit(t, "admin", 0), 0);
    errors_free(&e);
    json_object_put(doc);
}

/* The api_key and state of a model's first target, as a worker reads it. */
static void
assert_target(struct store *s, const char *model, const char *key, int missing)
{
    struct model_view v;
    ck_assert_int_eq(store_read_begin(s), 0);
    ck_assert_int_eq(store_model_by_name(s, model, strlen(model), &v), STORE_OK);
    ck_assert_msg(strcmp(v.t[0].api_key, key) == 0, "%s: key [%s], want [%s]", model,
                  v.t[0].api_key, key);
    ck_assert_int_eq(v.t[0].credential_missing, missing);
    store_read_end(s);
}

#define CRED_V(key)                                                                                \
    "{\"name\":\"shared\",\"provider\":\"openai-compatible\",\"api_base\":\"http://h:1/v1\","      \
    "\"api_key\":\"" key "\"}"

/*
 * Two models name one credential: a put of the credential (a rotation)
 * changes both records in the one transaction and version that wrote it;
 * its deletion marks them, and a credential of that name written again
 * (under another id) serves them again.
 */
START_TEST(credential_rotation_one_version)
{
    struct store *s = open_store("cred", 0);
    put_one(s, RES_CREDENTIAL, "c1", CRED_V("sk-old-0001"));
    put_one(s, RES_MODEL, "ma", "{\"name\":\"a\",\"credential\":\"shared\"}");
    put_one(s, RES_MODEL, "mb",
            "{\"name\":\"b\",\"targets\":[{\"credential\":\"shared\",\"model\":\"x\"}]}");
    put_one(s, RES_MODEL, "mc", "{\"name\":\"c\",\"provider\":\"openai\",\"api_key\":\"inl-1\"}");
    assert_target(s, "a", "sk-old-0001", 0);
    assert_target(s, "b", "sk-old-0001", 0);
    uint64_t before = meta_now(s).version;

    /* a reader that began before the rotation keeps the old key for both */
    struct model_view v;
    ck_assert_int_eq(store_read_begin(s), 0);
    put_one(s, RES_CREDENTIAL, "c1", CRED_V("sk-new-0002"));
    ck_assert_int_eq(store_model_by_name(s, "a", 1, &v), STORE_OK);
    ck_assert_str_eq(v.t[0].api_key, "sk-old-0001");
    ck_assert_int_eq(store_model_by_name(s, "b", 1, &v), STORE_OK);
    ck_assert_str_eq(v.t[0].api_key, "sk-old-0001");
    store_read_end(s);

    ck_assert_uint_eq(meta_now(s).version, before + 1);
    assert_target(s, "a", "sk-new-0002", 0);
    assert_target(s, "b", "sk-new-0002", 0);
    assert_target(s, "c", "inl-1", 0);

    struct store_txn *t = store_write_begin(s);
    ck_assert_int_eq(store_del(t, RES_CREDENTIAL, "c1"), STORE_OK);
    ck_assert_int_eq(store_commit(t, "etcd", 0), 0);
    assert_target(s, "a", "", 1);
    assert_target(s, "b", "", 1);
    assert_target(s, "c", "inl-1", 0);

    put_one(s, RES_CREDENTIAL, "c2", CRED_V("sk-again-0003"));
    assert_target(s, "a", "sk-again-0003", 0);
    assert_target(s, "b", "sk-again-0003", 0);
    store_close(s);
}
END_TEST

/* A model written before its credential (etcd's order, a sync) takes it once it comes. */
START_TEST(credential_after_model)
{
    struct aigw_errors e;
    char all[4096];
    struct store *s = open_store("cred2", 0);
    struct store_txn *t = store_write_begin(s);
    ck_assert_ptr_nonnull(t);
    errors_init(&e, NULL);
    struct json_object *m = items(RES_MODEL, "{\"ma\":{\"name\":\"a\",\"credential\":\"shared\"}}");
    struct json_object *c = items(RES_CREDENTIAL, "{\"c1\":" CRED_V("sk-cred-0001") "}");
    ck_assert_int_eq(store_sync_kind(t, RES_MODEL, m, &e), 1);
    ck_assert_int_eq(store_sync_kind(t, RES_CREDENTIAL, c, &e), 1);
    ck_assert_msg(e.n == 0, "%s", errors_text(&e, all, sizeof(all)));
    ck_assert_int_eq(store_commit(t, "file:x", 0), 0);
    assert_target(s, "a", "sk-cred-0001", 0);
    ck_assert_uint_eq(meta_now(s).version, 1);
    /* a rename of the credential takes it away from the models of the old name */
    put_one(s, RES_CREDENTIAL, "c1",
            "{\"name\":\"other\",\"provider\":\"openai\",\"api_key\":\"sk-x-0001\"}");
    assert_target(s, "a", "", 1);
    errors_free(&e);
    json_object_put(m);
    json_object_put(c);
    store_close(s);
}
END_TEST

static Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("table");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, write_read_reopen);
    tcase_add_test(tc, unchanged_sync_commits_nothing);
    tcase_add_test(tc, put_unchanged_is_no_change);
    tcase_add_test(tc, rename_and_rotate);
    tcase_add_test(tc, put_rename_and_rotate);
    tcase_add_test(tc, sync_deletes_missing);
    tcase_add_test(tc, delete_one);
    tcase_add_test(tc, conflicts);
    tcase_add_test(tc, name_moves_between_ids);
    tcase_add_test(tc, credential_rotation_one_version);
    tcase_add_test(tc, credential_after_model);
    tcase_add_test(tc, rename_chain_in_one_sync);
    tcase_add_test(tc, swap_in_one_sync);
    tcase_add_test(tc, abort_discards);
    tcase_add_test(tc, meta_revision_and_source);
    tcase_add_test(tc, models_foreach_order);
    tcase_add_test(tc, docs_after_pages);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, file_removed);
    tcase_add_test(tc, file_replaced);
    tcase_add_test(tc, file_removed_during_write);
    tcase_add_test(tc, file_cut_short);
    tcase_add_test(tc, open_cut_short);
    suite_add_tcase(s, tc);

    tc = tcase_create("readers");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, mvcc_same_handle);
    tcase_add_test(tc, mvcc_reader_process);
    tcase_add_test(tc, reader_check_clears_dead);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(store_suite());
}
