/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcd.h: an etcd v3 client for the master, over etcd's JSON gateway
 * (/v3/kv/range, /v3/kv/txn, /v3/kv/deleterange, /v3/watch,
 * /v3/auth/authenticate), driven by libcurl's multi-socket API on the
 * master's event loop (src/upstream.c). Every call is asynchronous: it
 * returns at once and its callback runs later from the event loop, exactly
 * once (also on failure and on etcd_free, with ETCD_ECANCELED).
 *
 * Keys and values are raw bytes (the client does the base64); int64s that
 * etcd sends as strings arrive as numbers.
 *
 * The request functions return 0, or -1 when the request cannot be started
 * (bad argument, out of memory, after etcd_free): then the callback is never
 * called. Callbacks may start requests and watches, cancel watches, and call
 * etcd_free. Unary requests are retried on the next endpoints when one does
 * not answer, and once more after authenticating again when etcd refuses
 * the token.
 *
 * A write (put, delete) reports ETCD_EIO only when etcd surely did not apply
 * it (no attempt's request left for etcd: connection refused, no route);
 * once an attempt was sent and its answer never came (a timeout, a reset, a
 * 5xx), every later failure is ETCD_EUNKNOWN, and so is a compare that fails
 * on a retry (the failed compare may be the first attempt's own effect).
 */
#ifndef AIGW_ETCD_H
#define AIGW_ETCD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct upstream;
struct etcd;
struct etcd_watch;

enum {
    ETCD_OK = 0,
    ETCD_EIO = -1,        /* no endpoint answered (connection, timeout, 5xx) */
    ETCD_ECONFLICT = -2,  /* a compare of a transaction failed */
    ETCD_ENOTFOUND = -3,  /* delete of a key that does not exist */
    ETCD_ECOMPACTED = -4, /* watch: start revision compacted; resync */
    ETCD_EAUTH = -5,      /* authentication failed (bad user or password) */
    ETCD_ECANCELED = -6,  /* etcd_free or etcd_watch_cancel */
    ETCD_EPROTO = -7,     /* an answer that is not what the API documents */
    ETCD_EUNKNOWN = -8,   /* a write was sent and no answer came: it may be applied or not */
};

struct etcd_conf {
    const char *const *endpoints; /* "http://127.0.0.1:2379", "https://..." */
    int nendpoints;
    const char *user;     /* NULL or "": no authentication */
    const char *password;
    const char *ca_file;  /* TLS: CA to verify etcd against; NULL: system */
    const char *cert_file; /* TLS client certificate and key; NULL: none */
    const char *key_file;
    int64_t connect_timeout_ms; /* <= 0: 2 s */
    int64_t request_timeout_ms; /* range, txn, delete, authenticate; <= 0: 5 s */
};

/* key and value are also NUL-terminated, for convenience. */
struct etcd_kv {
    const char *key;
    size_t keylen;
    const char *value;
    size_t valuelen;
    int64_t create_revision, mod_revision, version;
};

enum etcd_event_type { ETCD_PUT = 0, ETCD_DELETE = 1 };

struct etcd_event {
    enum etcd_event_type type;
    struct etcd_kv kv; /* for DELETE: key and mod_revision only */
};

/* kvs live until the callback returns. revision: the header revision. */
typedef void (*etcd_range_cb)(int err, int64_t revision, const struct etcd_kv *kvs, size_t n,
                              void *arg);
/* revision: of the write (header revision) */
typedef void (*etcd_write_cb)(int err, int64_t revision, void *arg);
/*
 * A batch of events (one watch response), or an error that ends the watch:
 * ETCD_ECOMPACTED (revision = the compact revision), ETCD_EIO (the stream
 * broke), ETCD_ECANCELED. After an error the watch is gone: start a new one.
 */
typedef void (*etcd_watch_cb)(int err, int64_t revision, const struct etcd_event *evs, size_t n,
                              void *arg);

/*
 * A transaction's whole answer (NULL on an error), alive until the callback
 * returns: its "succeeded" (left out when false) and "responses", nested
 * transactions' included. err ETCD_EUNKNOWN with an answer: an earlier
 * attempt was sent and not answered, so a failed compare may be its doing.
 */
struct json_object;
typedef void (*etcd_txn_cb)(int err, int64_t revision, struct json_object *answer, void *arg);

struct etcd *etcd_new(struct event_base *base, struct upstream *up, const struct etcd_conf *c);
/*
 * Cancel everything (callbacks get ETCD_ECANCELED before it returns) and
 * free. Free it before the upstream it uses.
 */
void etcd_free(struct etcd *e);

/* Every key under prefix (range_end = prefix with its last byte + 1). */
int etcd_range_prefix(struct etcd *e, const char *prefix, etcd_range_cb cb, void *arg);
/* One key; n is 0 when it does not exist. */
int etcd_get(struct etcd *e, const char *key, etcd_range_cb cb, void *arg);
/*
 * Put through a transaction: expect_mod_revision < 0: unconditional;
 * 0: only if the key does not exist; > 0: only if its mod_revision is that.
 * ETCD_ECONFLICT when the compare fails.
 */
int etcd_put(struct etcd *e, const char *key, const char *value, size_t len,
             int64_t expect_mod_revision, etcd_write_cb cb, void *arg);
/* Delete with the same compare rules; ETCD_ENOTFOUND when nothing was deleted. */
int etcd_delete(struct etcd *e, const char *key, int64_t expect_mod_revision, etcd_write_cb cb,
                void *arg);
/*
 * A transaction written by the caller: body is the JSON of /v3/kv/txn (keys
 * and values in base64, see etcd_b64). Retried like the other writes.
 */
int etcd_txn(struct etcd *e, const char *body, etcd_txn_cb cb, void *arg);
/* Standard base64 of n bytes (malloc'd), as the JSON gateway takes keys and values. */
char *etcd_b64(const void *p, size_t n);
/* Watch every key under prefix from start_revision (> 0). NULL on error. */
struct etcd_watch *etcd_watch_prefix(struct etcd *e, const char *prefix, int64_t start_revision,
                                     etcd_watch_cb cb, void *arg);
/*
 * Stop a watch; its callback gets ETCD_ECANCELED before this returns (also
 * when called from that callback). A no-op from the callback that reports the
 * watch's end.
 */
void etcd_watch_cancel(struct etcd_watch *w);

/* 1 when the last request or the watch reached an endpoint. */
int etcd_connected(const struct etcd *e);
/* The endpoint in use. */
const char *etcd_endpoint(const struct etcd *e);
/*
 * The cluster_id of the header of the answer being delivered (valid inside
 * a range or watch callback; 0 when etcd sent none or not a number).
 */
uint64_t etcd_cluster_id(const struct etcd *e);

/*
 * An etcd made by etcd_new with up NULL sends nothing: each attempt of a
 * request or watch waits for etcd_feed to hand it its answer (the status,
 * then the body in pieces of piece bytes, 0: whole, as libcurl's write
 * callback gets them, then the transfer's end), and goes through exactly
 * the parsing, retries and callbacks an answer over the wire goes through
 * (a retry or an authentication is one more attempt to feed). For the
 * fuzzer and tests: the bytes of an answer without a socket. Returns 0, or
 * -1 when no attempt waits.
 */
int etcd_feed(struct etcd *e, long status, const void *body, size_t len, size_t piece);

#endif
