/*
 * etcdsync.c: etcd -> LMDB, in the master (the only LMDB writer).
 *
 * Layout: <prefix>/models/<id> and <prefix>/api_keys/<id>, JSON values, so a
 * resource put by hand with etcdctl works. Every value is validated by the one
 * resource schema; an invalid one is logged with its key and the last good
 * value keeps serving. In etcd mode etcd is the whole truth: a full read
 * removes whatever the table holds that etcd does not.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/rand.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "aigw/log.h"
#include "aigw/resource.h"
#include "aigw/store.h"
#include "aigw/util.h"
#include "admin.h"
#include "etcd.h"
#include "etcdsync.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

enum es_state { ES_IDLE, ES_RANGING, ES_WATCHING, ES_WAITING };
static const char *const state_names[] = {"idle", "syncing", "watching", "unreachable"};

struct etcdsync {
    struct event_base *base;
    const struct conf *conf;
    struct store *store;
    struct etcd *etcd;
    struct etcd_watch *watch;
    struct event *retry;
    struct event *periodic; /* the safety-net full read */
    char prefix[CONF_STR_MAX + 2]; /* "<prefix>/" */
    enum es_state state;
    int64_t revision; /* the last etcd revision applied to LMDB */
    int64_t backoff_ms;
    int64_t last_sync_ms;
    uint64_t events;
    int synced;
    int conflicts; /* resources refused because another holds their name or key */
    char last_error[256];
};

/* kvs in mod_revision order: when two resources claim one name, the first written wins. */
static int
by_mod_revision(const void *a, const void *b)
{
    const struct etcd_kv *x = *(const struct etcd_kv *const *)a;
    const struct etcd_kv *y = *(const struct etcd_kv *const *)b;
    return x->mod_revision < y->mod_revision ? -1 : x->mod_revision > y->mod_revision;
}

/* Split "<prefix>/<kind>/<id>"; -1 (logged) for a key that is not a resource. */
static int
parse_key(struct etcdsync *es, const char *key, size_t len, enum res_kind *k, char *id)
{
    size_t plen = strlen(es->prefix);
    char buf[512];
    if (len <= plen || len >= sizeof(buf) || memcmp(key, es->prefix, plen) != 0)
        return -1;
    if (memchr(key, '\0', len) != NULL) /* "models/a\0b" must not be read as "models/a" */
        goto bad;
    memcpy(buf, key + plen, len - plen);
    buf[len - plen] = '\0';
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        goto bad;
    *slash = '\0';
    if (strcmp(buf, "models") == 0)
        *k = RES_MODEL;
    else if (strcmp(buf, "api_keys") == 0)
        *k = RES_API_KEY;
    else
        goto bad;
    if (res_id_valid(slash + 1) < 0)
        goto bad;
    snprintf(id, RES_ID_MAX + 1, "%s", slash + 1);
    return 0;
bad:
    log_warnx("etcd: ignoring key %.*s: not <prefix>/models/<id> or <prefix>/api_keys/<id>",
              (int)len, key);
    return -1;
}

/* Parse and validate a value; NULL (logged with the key) when it is not a valid resource. */
static struct json_object *
parse_value(enum res_kind k, const char *key, size_t keylen, const char *val, size_t len)
{
    struct aigw_errors e;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *doc = json_tokener_parse_ex(tok, val, (int)len);
    int complete = json_tokener_get_error(tok) == json_tokener_success &&
                   json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    errors_init(&e, NULL);
    if (doc == NULL || !complete) {
        log_warnx("etcd: %.*s: not JSON; the last good value keeps serving", (int)keylen, key);
        json_object_put(doc);
        return NULL;
    }
    if (res_validate(k, doc, "", &e) < 0) {
        char *msg = errors_join(&e);
        log_warnx("etcd: %.*s: invalid: %s; the last good value keeps serving", (int)keylen, key,
                  msg ? msg : "?");
        free(msg);
        errors_free(&e);
        json_object_put(doc);
        return NULL;
    }
    errors_free(&e);
    return doc;
}

static void es_resync(struct etcdsync *es);

/* After a failure: try again later, with exponential backoff and jitter. */
static void
es_retry_later(struct etcdsync *es, const char *why)
{
    uint32_t r = 0;
    es->state = ES_WAITING;
    snprintf(es->last_error, sizeof(es->last_error), "%s", why);
    es->backoff_ms = es->backoff_ms ? es->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (es->backoff_ms > BACKOFF_MAX_MS)
        es->backoff_ms = BACKOFF_MAX_MS;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    int64_t ms = es->backoff_ms / 2 + (int64_t)(r % (uint32_t)(es->backoff_ms / 2 + 1));
    struct timeval tv = tv_ms(ms);
    evtimer_add(es->retry, &tv);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
    es_resync(arg);
}

/* The version now in LMDB, for log lines. */
static unsigned long long
table_version(struct etcdsync *es)
{
    struct store_meta m = {0};
    if (store_read_begin(es->store) == 0) {
        store_meta_get(es->store, &m);
        store_read_end(es->store);
    }
    return (unsigned long long)m.version;
}

static void on_watch(int err, int64_t revision, const struct etcd_event *evs, size_t n, void *arg);

static void
es_watch(struct etcdsync *es)
{
    es->watch = etcd_watch_prefix(es->etcd, es->prefix, es->revision + 1, on_watch, es);
    if (es->watch == NULL) {
        es_retry_later(es, "cannot start the watch");
        return;
    }
    es->state = ES_WATCHING;
}

/* Keep the stored document of an id whose etcd value is invalid (last good value). */
static void
keep_stored(struct etcdsync *es, enum res_kind k, const char *id, struct json_object *items,
            struct json_object *revs)
{
    struct store_doc d;
    if (store_read_begin(es->store) < 0)
        return;
    if (store_doc_read(es->store, k, id, &d) == STORE_OK) {
        struct json_tokener *tok = json_tokener_new();
        struct json_object *doc = json_tokener_parse_ex(tok, d.json, (int)d.len);
        json_tokener_free(tok);
        if (doc != NULL) {
            json_object_object_add(items, id, doc);
            json_object_object_add(revs, id, json_object_new_int64(d.revision));
        }
    }
    store_read_end(es->store);
}

/* The full read: etcd's whole state into one LMDB transaction. */
static void
on_range(int err, int64_t revision, const struct etcd_kv *kvs, size_t n, void *arg)
{
    struct etcdsync *es = arg;
    struct json_object *items[RES_NKINDS], *revs[RES_NKINDS];
    struct aigw_errors e;
    int changes = 0;
    const struct etcd_kv **order = NULL;

    if (err == ETCD_ECANCELED)
        return;
    if (err != ETCD_OK) {
        if (es->backoff_ms == 0) /* once per outage, not once per retry */
            log_warnx("etcd unreachable (%s): serving the configuration stored in LMDB "
                      "(version %llu) and retrying",
                      etcd_endpoint(es->etcd), table_version(es));
        es_retry_later(es, "range failed");
        return;
    }
    errors_init(&e, NULL);
    for (int k = 0; k < RES_NKINDS; k++) {
        items[k] = json_object_new_object();
        revs[k] = json_object_new_object();
    }
    /*
     * The same order on every node and in the watch: by mod_revision, so a
     * name claimed twice goes to the same resource everywhere.
     */
    order = calloc(n ? n : 1, sizeof(*order));
    if (order == NULL) {
        es_retry_later(es, "out of memory");
        goto freeitems;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &kvs[i];
    qsort(order, n, sizeof(*order), by_mod_revision);
    for (size_t j = 0; j < n; j++) {
        const struct etcd_kv *kv = order[j];
        enum res_kind k;
        char id[RES_ID_MAX + 1];
        if (parse_key(es, kv->key, kv->keylen, &k, id) < 0)
            continue;
        struct json_object *doc = parse_value(k, kv->key, kv->keylen, kv->value, kv->valuelen);
        if (doc == NULL) {
            keep_stored(es, k, id, items[k], revs[k]);
            continue;
        }
        json_object_object_add(items[k], id, doc);
        json_object_object_add(revs[k], id, json_object_new_int64(kv->mod_revision));
    }
    free(order);
    struct store_txn *t = store_write_begin(es->store);
    int ok = t != NULL;
    if (ok)
        store_txn_origin(t, STORE_ORIGIN_ETCD, 0);
    for (int k = 0; ok && k < RES_NKINDS; k++) {
        int c = store_sync_kind_revs(t, (enum res_kind)k, items[k], revs[k], &e);
        if (c < 0)
            log_warnx("etcd: some resources could not be stored (see above); the others were");
        else
            changes += c;
    }
    for (int i = 0; i < e.n; i++)
        log_warnx("etcd: %s", e.msgs[i]);
    es->conflicts = e.n;
    if (ok && store_commit(t, "etcd", revision) < 0)
        ok = 0;
freeitems:
    for (int k = 0; k < RES_NKINDS; k++) {
        json_object_put(items[k]);
        json_object_put(revs[k]);
    }
    errors_free(&e);
    if (order == NULL)
        return;
    if (!ok) {
        es_retry_later(es, "could not write the LMDB table");
        return;
    }
    log_info("etcd: full sync at revision %lld: %d change%s, configuration version %llu",
             (long long)revision, changes, changes == 1 ? "" : "s", table_version(es));
    es->revision = revision;
    es->synced = 1;
    es->backoff_ms = 0;
    es->last_sync_ms = now_real_ms();
    es->last_error[0] = '\0';
    struct timeval tv = tv_ms(es->conf->etcd_resync_interval_ms);
    evtimer_add(es->periodic, &tv);
    es_watch(es);
}

/* The safety net: a full read now and then, even while the watch seems fine. */
static void
periodic_cb(evutil_socket_t fd, short what, void *arg)
{
    struct etcdsync *es = arg;
    if (es->state == ES_WATCHING) {
        log_debug("etcd: periodic full read");
        es_resync(es);
    }
}

/* Apply one event inside t; problems are logged and skipped. */
static void
apply_event(struct etcdsync *es, struct store_txn *t, const struct etcd_event *ev,
            struct aigw_errors *e)
{
    enum res_kind k;
    char id[RES_ID_MAX + 1];
    if (parse_key(es, ev->kv.key, ev->kv.keylen, &k, id) < 0)
        return;
    if (ev->type == ETCD_DELETE) {
        store_del(t, k, id);
        return;
    }
    struct json_object *doc = parse_value(k, ev->kv.key, ev->kv.keylen, ev->kv.value,
                                          ev->kv.valuelen);
    if (doc == NULL)
        return;
    store_txn_origin(t, STORE_ORIGIN_ETCD, ev->kv.mod_revision);
    int before = e->n;
    int rc = store_put(t, k, id, doc, e);
    if (rc != STORE_OK) {
        for (int i = before; i < e->n; i++)
            log_warnx("etcd: %.*s not applied: %s", (int)ev->kv.keylen, ev->kv.key, e->msgs[i]);
        if (rc == STORE_CONFLICT)
            es->conflicts++;
    }
    json_object_put(doc);
}

/* A batch of events: one LMDB transaction. */
static void
on_watch(int err, int64_t revision, const struct etcd_event *evs, size_t n, void *arg)
{
    struct etcdsync *es = arg;
    struct aigw_errors e;

    if (err != ETCD_OK) {
        es->watch = NULL;
        if (err == ETCD_ECANCELED)
            return;
        if (err == ETCD_ECOMPACTED) {
            log_warnx("etcd: revision %lld was compacted (compact revision %lld): full resync",
                      (long long)es->revision + 1, (long long)revision);
            es_resync(es);
        } else {
            log_warnx("etcd: the watch broke (%s); serving configuration version %llu, "
                      "resyncing",
                      etcd_endpoint(es->etcd), table_version(es));
            es_retry_later(es, "watch broke");
        }
        return;
    }
    if (n == 0) {
        if (revision > es->revision)
            es->revision = revision;
        return;
    }
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(es->store);
    if (t != NULL) {
        for (size_t i = 0; i < n; i++)
            apply_event(es, t, &evs[i], &e);
    }
    errors_free(&e);
    int had_conflicts = es->conflicts;
    if (t != NULL && store_commit(t, "etcd", revision) == 0) {
        es->revision = revision;
        es->events += n;
        log_debug("etcd: %zu event%s at revision %lld", n, n == 1 ? "" : "s", (long long)revision);
        /*
         * A resource refused for a taken name may be applicable now that
         * something else changed (the holder deleted or renamed): read
         * everything again, in revision order, like a fresh node would.
         */
        if (had_conflicts > 0 && es->watch != NULL) {
            log_info("etcd: %d resource%s waiting for a name or key: full resync", had_conflicts,
                     had_conflicts == 1 ? "" : "s");
            es_resync(es);
        }
        return;
    }
    /* The batch is not in LMDB: never skip it silently; read everything again. */
    log_warnx("etcd: could not store %zu event%s at revision %lld; full resync", n,
              n == 1 ? "" : "s", (long long)revision);
    if (es->watch != NULL) {
        struct etcd_watch *w = es->watch;
        es->watch = NULL;
        etcd_watch_cancel(w);
    }
    es_retry_later(es, "could not write the LMDB table");
}

/* Start over: a full read (the watch follows it). */
static void
es_resync(struct etcdsync *es)
{
    if (es->watch != NULL) {
        struct etcd_watch *w = es->watch;
        es->watch = NULL;
        etcd_watch_cancel(w);
    }
    es->state = ES_RANGING;
    if (etcd_range_prefix(es->etcd, es->prefix, on_range, es) < 0)
        es_retry_later(es, "cannot start the range request");
}

struct etcdsync *
etcdsync_new(struct event_base *base, struct upstream *up, const struct conf *c, struct store *s)
{
    struct etcdsync *es = calloc(1, sizeof(*es));
    const char *eps[CONF_MAX_LIST];
    if (es == NULL)
        return NULL;
    for (int i = 0; i < c->etcd_nendpoints; i++)
        eps[i] = c->etcd_endpoints[i];
    struct etcd_conf ec = {
        .endpoints = eps,
        .nendpoints = c->etcd_nendpoints,
        .user = c->etcd_user,
        .password = c->etcd_password,
        .ca_file = c->etcd_ca_file[0] ? c->etcd_ca_file : NULL,
        .cert_file = c->etcd_cert_file[0] ? c->etcd_cert_file : NULL,
        .key_file = c->etcd_key_file[0] ? c->etcd_key_file : NULL,
        .connect_timeout_ms = c->etcd_connect_timeout_ms,
        .request_timeout_ms = c->etcd_request_timeout_ms,
    };
    es->base = base;
    es->conf = c;
    es->store = s;
    snprintf(es->prefix, sizeof(es->prefix), "%s/", c->etcd_prefix);
    /* Until etcd answers, status shows the revision the stored table came from. */
    struct store_meta m = {0};
    if (store_read_begin(s) == 0) {
        store_meta_get(s, &m);
        store_read_end(s);
    }
    es->revision = m.etcd_revision;
    es->etcd = etcd_new(base, up, &ec);
    es->retry = evtimer_new(base, retry_cb, es);
    es->periodic = evtimer_new(base, periodic_cb, es);
    if (es->etcd == NULL || es->retry == NULL || es->periodic == NULL) {
        etcdsync_free(es);
        return NULL;
    }
    return es;
}

void
etcdsync_start(struct etcdsync *es)
{
    es_resync(es);
}

void
etcdsync_free(struct etcdsync *es)
{
    if (es == NULL)
        return;
    if (es->etcd != NULL)
        etcd_free(es->etcd); /* cancels the watch and requests */
    if (es->retry != NULL)
        event_free(es->retry);
    if (es->periodic != NULL)
        event_free(es->periodic);
    free(es);
}

/* Did the last exchange with etcd succeed? */
int
etcdsync_connected(const struct etcdsync *es)
{
    return es != NULL && es->etcd != NULL && etcd_connected(es->etcd);
}

void
etcdsync_status(struct etcdsync *es, struct json_object *o)
{
    struct json_object *e = json_object_new_object();
    json_object_object_add(e, "connected", json_object_new_boolean(etcd_connected(es->etcd)));
    json_object_object_add(e, "endpoint", json_object_new_string(etcd_endpoint(es->etcd)));
    json_object_object_add(e, "state", json_object_new_string(state_names[es->state]));
    json_object_object_add(e, "revision", json_object_new_int64(es->revision));
    json_object_object_add(e, "synced", json_object_new_boolean(es->synced));
    json_object_object_add(e, "last_sync_ms", json_object_new_int64(es->last_sync_ms));
    json_object_object_add(e, "events_applied", json_object_new_int64((int64_t)es->events));
    json_object_object_add(e, "last_error", es->last_error[0] ? json_object_new_string(es->last_error) : NULL);
    json_object_object_add(o, "etcd", e);
}

/* ---- the Admin API's backend: writes to etcd only ---- */

struct es_write {
    admin_done_cb done;
    void *arg;
};

static void
write_done(int err, int64_t revision, void *arg)
{
    struct es_write *w = arg;
    int aerr = err == ETCD_OK          ? ADMIN_OK
               : err == ETCD_ECONFLICT ? ADMIN_ECONFLICT
               : err == ETCD_ENOTFOUND ? ADMIN_ENOTFOUND
                                       : ADMIN_EIO;
    w->done(w->arg, aerr, revision);
    free(w);
}

/* "<prefix>/<kind>/<id>" */
static void
res_key(struct etcdsync *es, enum res_kind k, const char *id, char *out, size_t len)
{
    snprintf(out, len, "%s%s/%s", es->prefix, res_kind_name(k), id);
}

/* A put (doc) or a delete (doc NULL) of one resource in etcd. */
static void
es_write(struct etcdsync *es, enum res_kind k, const char *id, struct json_object *doc,
         int64_t expect, admin_done_cb done, void *arg)
{
    char key[512];
    struct es_write *w = malloc(sizeof(*w));
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0);
        return;
    }
    w->done = done;
    w->arg = arg;
    res_key(es, k, id, key, sizeof(key));
    int rc;
    if (doc != NULL) {
        const char *json = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
        rc = etcd_put(es->etcd, key, json, strlen(json), expect, write_done, w);
    } else {
        rc = etcd_delete(es->etcd, key, expect, write_done, w);
    }
    if (rc < 0) /* not started: the callback will not come */
        write_done(ETCD_EIO, 0, w);
}

static void
es_put(void *ctx, enum res_kind k, const char *id, struct json_object *doc, int64_t expect,
       admin_done_cb done, void *arg)
{
    es_write(ctx, k, id, doc, expect, done, arg);
}

static void
es_del(void *ctx, enum res_kind k, const char *id, int64_t expect, admin_done_cb done, void *arg)
{
    es_write(ctx, k, id, NULL, expect, done, arg);
}

void
etcdsync_admin_backend(struct etcdsync *es, struct admin_backend *b)
{
    b->put = es_put;
    b->del = es_del;
    b->ctx = es;
}
