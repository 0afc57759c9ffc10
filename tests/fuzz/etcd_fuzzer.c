/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd_fuzzer.c: the master's etcd v3 client (src/etcd.c) on whatever an
 * etcd endpoint answers.
 *
 * The client is made without an upstream (etcd.h, etcd_feed): each attempt
 * of a call waits for its answer, which the input gives, and the answer
 * goes through the same code as one that came over libcurl (the write
 * callbacks' buffering, in pieces; the transfer's end: JSON, base64, the
 * watch stream's lines, error and authentication classification, retries
 * on the next endpoint, authenticating again), without a socket. A range,
 * a get, a conditional put or delete, a caller's txn, or a watch, with or
 * without authentication, on one or two endpoints.
 *
 * Input: byte 0 the call (bits 0-2, modulo 6), bit 3 authenticate first,
 * bit 4 two endpoints, bits 5-6 the compare of a write. Then the answers,
 * one per attempt, separated by two NUL bytes: each a status byte (low 4
 * bits, see ef_status), a byte for the size of its pieces (+1), the body.
 * Oracles: each call's callback runs exactly once (a watch's ending one
 * too), and it has run exactly when no attempt waits for an answer; keys
 * and values are NUL-terminated at their length; an error brings no kvs,
 * no events, no txn answer (but ETCD_EUNKNOWN may).
 */
#include "config.h"

#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "log.h"
#include "etcd.h"
#include "fuzz.h"

static struct event_base *ef_base;

/* What the callbacks saw. */
struct ef_result {
    int calls; /* unary: callbacks run */
    int ended; /* watch: ending callbacks run */
    int batches;
};

/* Touch every byte of a kv, and the NUL after each. */
static void
ef_kv(const struct etcd_kv *kv)
{
    FUZZ_ASSERT(kv->key != NULL && kv->key[kv->keylen] == '\0', "a key not NUL-terminated");
    FUZZ_ASSERT(kv->value != NULL && kv->value[kv->valuelen] == '\0', "a value not NUL-terminated");
    /* a copy reads every byte: ASan sees a length beyond the buffer */
    char *k = malloc(kv->keylen + kv->valuelen + 1);
    if (k == NULL)
        abort();
    memcpy(k, kv->key, kv->keylen);
    memcpy(k + kv->keylen, kv->value, kv->valuelen);
    free(k);
}

/* A range's or get's callback. */
static void
ef_range(int err, int64_t revision, const struct etcd_kv *kvs, size_t n, void *arg)
{
    struct ef_result *r = arg;
    r->calls++;
    if (getenv("AIGW_FUZZ_VERBOSE") != NULL) /* to see what an input does */
        fprintf(stderr, "range: %d, revision %lld, %zu kvs\n", err, (long long)revision, n);
    FUZZ_ASSERT(err == ETCD_OK || (n == 0 && kvs == NULL), "kvs with an error");
    for (size_t i = 0; i < n; i++)
        ef_kv(&kvs[i]);
}

/* A put's or delete's callback. */
static void
ef_write(int err, int64_t revision, void *arg)
{
    struct ef_result *r = arg;
    r->calls++;
    if (getenv("AIGW_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "write: %d, revision %lld\n", err, (long long)revision);
}

/* A watch's callback: batches, then one ending error. */
static void
ef_watch(int err, int64_t revision, const struct etcd_event *evs, size_t n, void *arg)
{
    struct ef_result *r = arg;
    FUZZ_ASSERT(r->ended == 0, "a watch reported after its end");
    if (getenv("AIGW_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "watch: %d, revision %lld, %zu events\n", err, (long long)revision, n);
    if (err != ETCD_OK) {
        FUZZ_ASSERT(n == 0, "events with an error");
        r->ended++;
        return;
    }
    r->batches++;
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(evs[i].type == ETCD_PUT || evs[i].type == ETCD_DELETE, "an event type");
        ef_kv(&evs[i].kv);
    }
}

/* A caller's txn's callback: the answer only without an error (or an unknown outcome). */
static void
ef_txn(int err, int64_t revision, struct json_object *answer, void *arg)
{
    struct ef_result *r = arg;
    r->calls++;
    FUZZ_ASSERT(answer == NULL || err == ETCD_OK || err == ETCD_EUNKNOWN, "an answer with %d", err);
    FUZZ_ASSERT(answer != NULL || err != ETCD_OK, "no answer without an error");
    if (answer != NULL)
        FUZZ_ASSERT(json_object_to_json_string(answer) != NULL, "an answer that cannot be written");
}

/* The status of an answer: mostly 200, then the errors etcd and proxies send. */
static const int ef_status[16] = {200, 200, 200, 200, 400, 401, 404, 503,
                                  200, 200, 403, 429, 500, 502, 412, 200};

/* Once: the event loop a watch's delivery event lives on. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_init(0, LOG_LVL_ERROR, "etcd_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    if ((ef_base = event_base_new()) == NULL)
        abort();
    return 0;
}

/* One input: one call, its attempts answered in turn from the input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t expects[4] = {-1, 0, 7, 7};
    static const char *const endpoints[2] = {"http://127.0.0.1:2379", "http://127.0.0.2:2379"};
    if (size < 1 || size > 65536)
        return 0;
    struct etcd_conf conf = {
        .endpoints = endpoints,
        .nendpoints = data[0] & 16 ? 2 : 1,
        .user = data[0] & 8 ? "root" : NULL,
        .password = data[0] & 8 ? "fuzz-password" : NULL,
    };
    struct ef_result r = {0};
    int op = (data[0] & 7) % 6, started;
    int64_t expect = expects[(data[0] >> 5) & 3];
    struct etcd *e = etcd_new(ef_base, NULL, &conf);
    if (e == NULL)
        abort();
    if (op == 0)
        started = etcd_range_prefix(e, "/aigw/models/", ef_range, &r) == 0;
    else if (op == 1)
        started = etcd_get(e, "/aigw/api_keys/k1", ef_range, &r) == 0;
    else if (op == 2)
        started = etcd_put(e, "/aigw/models/m1", "{\"name\":\"m\"}", 12, expect, ef_write, &r) == 0;
    else if (op == 3)
        started = etcd_delete(e, "/aigw/models/m1", expect, ef_write, &r) == 0;
    else if (op == 4)
        started = etcd_watch_prefix(e, "/aigw/", 5, ef_watch, &r) != NULL;
    else
        started = etcd_txn(e, "{\"compare\":[],\"success\":[]}", ef_txn, &r) == 0;
    FUZZ_ASSERT(started, "a call that did not start");
    const uint8_t *p = data + 1, *end = data + size;
    while (end - p >= 2) {
        const uint8_t *sep = memmem(p + 2, (size_t)(end - p - 2), "\0\0", 2);
        const uint8_t *bend = sep != NULL ? sep : end;
        int done = r.calls + r.ended;
        int rc =
            etcd_feed(e, ef_status[p[0] & 15], p + 2, (size_t)(bend - p - 2), (size_t)p[1] + 1);
        FUZZ_ASSERT((rc < 0) == (done > 0), "feed: %d with %d callbacks before", rc, done);
        FUZZ_ASSERT(r.calls + r.ended <= 1, "%d callbacks, %d ends", r.calls, r.ended);
        if (rc < 0 || sep == NULL)
            break;
        p = sep + 2;
    }
    etcd_free(e); /* a call still waiting ends with ETCD_ECANCELED */
    FUZZ_ASSERT(r.calls + r.ended == 1, "%d callbacks, %d ends", r.calls, r.ended);
    return 0;
}
