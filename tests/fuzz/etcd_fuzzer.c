/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd_fuzzer.c: the master's etcd v3 client (src/etcd.c) on whatever an
 * etcd endpoint answers.
 *
 * An HTTP server on 127.0.0.1 in the same event loop (libevent's evhttp)
 * plays etcd: every request it gets is answered with the input's status
 * and body (a watch's body goes out chunked, in pieces). The client runs
 * for real over libcurl on that loop (src/upstream.c): a range, a get, a
 * conditional put or delete, or a watch, with or without authentication,
 * so the answer goes through the same transfer, JSON, base64 and line
 * handling as in the master.
 *
 * Input: byte 0 the call (and bit 3: authenticate first), byte 1 the
 * status, byte 2 the size of a watch's pieces, the rest the body.
 * Oracles: each call's callback runs exactly once (a watch's ending one
 * too), keys and values are NUL-terminated at their length.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "log.h"
#include "etcd.h"
#include "fuzz.h"
#include "upstream.h"

/* Bounds of one input's loop (each turn waits at most for etcd's request timeout). */
#define EF_MAX_TURNS 2000

static struct event_base *ef_base;
static struct upstream *ef_up;
static struct evhttp *ef_http;
static char ef_endpoint[64];
static const uint8_t *ef_body; /* the answer every request gets */
static size_t ef_len, ef_piece;
static int ef_status;
static int ef_late; /* the guard timer fired */

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
    FUZZ_ASSERT(err == ETCD_OK || n == 0, "kvs with an error");
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

/* The guard's timer: the call hangs. */
static void
ef_guard(evutil_socket_t fd, short what, void *arg)
{
    ef_late = 1;
}

/* The fake etcd: every request gets the input's answer. */
static void
ef_serve(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    const char *uri = evhttp_request_get_uri(req);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (uri != NULL && strcmp(uri, "/v3/watch") == 0 && ef_status == 200) {
        evhttp_send_reply_start(req, 200, "OK");
        for (size_t off = 0; off < ef_len; off += ef_piece) {
            evbuffer_add(b, ef_body + off, ef_len - off < ef_piece ? ef_len - off : ef_piece);
            evhttp_send_reply_chunk(req, b);
        }
        evhttp_send_reply_end(req);
    } else {
        evbuffer_add(b, ef_body, ef_len);
        evhttp_send_reply(req, ef_status, "X", b);
    }
    evbuffer_free(b);
}

/* Once: the event loop, libcurl on it, and the fake etcd on an ephemeral port. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN); /* as the master: a peer gone is an error, not a signal */
    log_init(0, LOG_LVL_ERROR, "etcd_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ef_base = event_base_new();
    ef_up = ef_base ? upstream_new(ef_base) : NULL;
    ef_http = ef_base ? evhttp_new(ef_base) : NULL;
    if (ef_up == NULL || ef_http == NULL)
        abort();
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(ef_http, "127.0.0.1", 0);
    if (bs == NULL)
        abort();
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &sl) < 0)
        abort();
    snprintf(ef_endpoint, sizeof(ef_endpoint), "http://127.0.0.1:%d", ntohs(sin.sin_port));
    evhttp_set_gencb(ef_http, ef_serve, NULL);
    evhttp_set_allowed_methods(ef_http, EVHTTP_REQ_POST | EVHTTP_REQ_GET);
    return 0;
}

/* One input: one call whose every request gets the input's answer. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[8] = {200, 200, 200, 200, 400, 401, 404, 503};
    if (size < 3 || size > 65536)
        return 0;
    const char *endpoints[1] = {ef_endpoint};
    struct etcd_conf conf = {
        .endpoints = endpoints,
        .nendpoints = 1,
        .user = data[0] & 8 ? "root" : NULL,
        .password = data[0] & 8 ? "fuzz-password" : NULL,
        .connect_timeout_ms = 1000,
        .request_timeout_ms = 1000,
    };
    struct ef_result r = {0};
    struct etcd_watch *w = NULL;
    int op = (data[0] & 7) % 5, started;
    ef_status = statuses[data[1] & 7];
    ef_piece = (size_t)data[2] + 1;
    ef_body = data + 3;
    ef_len = size - 3;
    struct etcd *e = etcd_new(ef_base, ef_up, &conf);
    if (e == NULL)
        abort();
    if (op == 0)
        started = etcd_range_prefix(e, "/aigw/models/", ef_range, &r) == 0;
    else if (op == 1)
        started = etcd_get(e, "/aigw/api_keys/k1", ef_range, &r) == 0;
    else if (op == 2)
        started = etcd_put(e, "/aigw/models/m1", "{\"name\":\"m\"}", 12, 7, ef_write, &r) == 0;
    else if (op == 3)
        started = etcd_delete(e, "/aigw/models/m1", 0, ef_write, &r) == 0;
    else
        started = (w = etcd_watch_prefix(e, "/aigw/", 5, ef_watch, &r)) != NULL;
    FUZZ_ASSERT(started, "a call that did not start");
    /*
     * Every call ends within etcd's timeouts (1 s here, an authentication
     * and a retry after it at most): a call still going after 5 s hangs.
     */
    struct timeval limit = {5, 0};
    struct event *guard = evtimer_new(ef_base, ef_guard, NULL);
    evtimer_add(guard, &limit);
    ef_late = 0;
    for (int i = 0; i < EF_MAX_TURNS && r.calls == 0 && r.ended == 0 && !ef_late; i++)
        event_base_loop(ef_base, EVLOOP_ONCE);
    event_free(guard);
    FUZZ_ASSERT(!ef_late, "no answer to the call after 5 s");
    FUZZ_ASSERT(r.calls + r.ended == 1, "%d callbacks, %d ends", r.calls, r.ended);
    etcd_free(e); /* nothing left to cancel: no callback more */
    FUZZ_ASSERT(r.calls + r.ended == 1, "a callback after the end");
    for (int i = 0; i < 8; i++) /* let the server side see the connections go */
        event_base_loop(ef_base, EVLOOP_NONBLOCK);
    return 0;
}
