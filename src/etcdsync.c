/* SPDX-License-Identifier: Apache-2.0 */
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
#include "log.h"
#include "aigw/resource.h"
#include "store.h"
#include "aigw/util.h"
#include "admin.h"
#include "etcd.h"
#include "etcdindex.h"
#include "etcdowner.h"
#include "etcdapply.h"
#include "etcdrollback.h"
#include "jsonx.h"
#include "etcdident.h"
#include "etcdack.h"
#include "etcdsync.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* How long an Admin API write waits for this node's table to hold it (etcdack.c). */
#define ACK_WAIT_MS 2000

enum es_state { ES_IDLE, ES_RANGING, ES_WATCHING, ES_WAITING, ES_MISMATCH };
static const char *const state_names[] = {"idle", "syncing", "watching", "unreachable",
                                          "identity_mismatch"};

struct etcdsync {
    struct event_base *base;
    const struct conf *conf;
    struct store *store;
    struct etcd *etcd;
    struct etcd_watch *watch;
    struct event *retry;
    struct event *periodic;        /* the safety-net full read */
    char prefix[CONF_STR_MAX + 2]; /* "<prefix>/" */
    enum es_state state;
    int64_t revision; /* the last etcd revision applied to LMDB */
    int64_t backoff_ms;
    int64_t last_sync_ms;
    uint64_t events;
    int synced;
    struct etcdowner *own; /* the index entries, create revisions and losers (the rule) */
    char last_error[256];
    struct etcdident ident; /* the cluster and revision the table came from */
    char source[256];       /* the note of the Admin API write being sent (es_source) */
    struct etcdack *ack;    /* Admin API writes answered once the table holds them */
};

/* Split "<prefix>/<kind>/<id>"; -1 (logged) for a key that is not a resource. */
static int
parse_key(struct etcdsync *es, const char *key, size_t len, enum res_kind *k, char *id)
{
    size_t plen = strlen(es->prefix);
    char buf[512];
    if (len <= plen || len >= sizeof(buf) || memcmp(key, es->prefix, plen) != 0)
        return -1;
    if (len > plen + 6 && memcmp(key + plen, "index/", 6) == 0)
        return -1; /* a name's index entry (etcdindex.c), not a resource */
    if (len > plen + 8 && memcmp(key + plen, "history/", 8) == 0)
        return -1; /* the note of a change (etcdrollback.c), not a resource */
    if (memchr(key, '\0', len) != NULL) /* "models/a\0b" must not be read as "models/a" */
        goto bad;
    memcpy(buf, key + plen, len - plen);
    buf[len - plen] = '\0';
    char *slash = strchr(buf, '/');
    if (slash == NULL)
        goto bad;
    *slash = '\0';
    int kk = res_kind_of(buf);
    if (kk < 0)
        goto bad;
    *k = (enum res_kind)kk;
    if (res_id_valid(slash + 1) < 0)
        goto bad;
    snprintf(id, RES_ID_MAX + 1, "%s", slash + 1);
    return 0;
bad:
    log_warnx("etcd: ignoring key %.*s: not <prefix>/models/<id>, <prefix>/api_keys/<id> or "
              "<prefix>/credentials/<id>",
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

/*
 * A full read from another etcd state (etcdident.c): nothing is applied,
 * the stored table keeps serving, and the read is tried again later.
 */
static int
es_ident_refused(struct etcdsync *es, int64_t revision)
{
    if (etcdident_check_range(&es->ident, etcd_cluster_id(es->etcd), revision,
                              etcd_endpoint(es->etcd), table_version(es)) == 0)
        return 0;
    es_retry_later(es, "etcd identity mismatch: see aigwctl status; aigwctl etcd accept");
    es->state = ES_MISMATCH;
    return 1;
}

/* Is kv a name's index entry (etcdindex.c)? */
static int
is_index_key(struct etcdsync *es, const char *key, size_t len)
{
    size_t plen = strlen(es->prefix);
    return len > plen + 6 && memcmp(key, es->prefix, plen) == 0 &&
           memcmp(key + plen, "index/", 6) == 0;
}

/* A valid resource of the full read, competing for its name. */
struct cand {
    enum res_kind k;
    char id[RES_ID_MAX + 1];
    struct json_object *doc;
    char *ikey;
    int64_t mod_revision;
    int wins;
};

/* A model's or credential's name (for a loser's listing); NULL for a key: its name is no claim. */
static const char *
claimed_name(enum res_kind k, struct json_object *doc)
{
    struct json_object *v;
    return k != RES_API_KEY && json_object_object_get_ex(doc, "name", &v)
               ? json_object_get_string(v)
               : NULL;
}

/* What a resource of kind k claims: "model name", "credential name", "key". */
static const char *
claim_label(enum res_kind k)
{
    return k == RES_MODEL ? "model name" : k == RES_CREDENTIAL ? "credential name" : "key";
}

/*
 * Pick one owner of every name among the candidates, by the rule of
 * etcdowner.c (the index entries and create revisions are known by now):
 * mark the winners, list the others as losers.
 */
static void
pick_owners(struct etcdsync *es, struct cand *c, size_t n)
{
    struct json_object *best = json_object_new_object(); /* ikey -> index in c */
    for (size_t i = 0; i < n; i++) {
        struct json_object *b;
        if (!json_object_object_get_ex(best, c[i].ikey, &b)) {
            json_object_object_add(best, c[i].ikey, json_object_new_int64((int64_t)i));
            continue;
        }
        size_t j = (size_t)json_object_get_int64(b);
        if (owner_prefers(es->own, c[i].ikey, c[i].k, c[i].id, c[j].id))
            json_object_object_add(best, c[i].ikey, json_object_new_int64((int64_t)i));
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *b;
        json_object_object_get_ex(best, c[i].ikey, &b);
        size_t j = (size_t)json_object_get_int64(b);
        c[i].wins = i == j;
        if (!c[i].wins) {
            owner_loser_set(es->own, c[i].k, c[i].id, c[i].ikey, c[j].id,
                            claimed_name(c[i].k, c[i].doc));
            log_warnx("etcd: %s%s/%s not applied: its %s is held by %s (a conflict, listed by "
                      "GET /admin/v1/conflicts)",
                      es->prefix, res_kind_name(c[i].k), c[i].id, claim_label(c[i].k), c[j].id);
        }
    }
    json_object_put(best);
}

/*
 * The full read: etcd's whole state into one LMDB transaction. One owner
 * per name by etcdowner.c's rule, whatever order etcd lists the keys in:
 * losers never enter the table, so a node started now agrees with one that
 * has run all along.
 */
static void
on_range(int err, int64_t revision, const struct etcd_kv *kvs, size_t n, void *arg)
{
    struct etcdsync *es = arg;
    struct json_object *items[RES_NKINDS], *revs[RES_NKINDS];
    struct aigw_errors e;
    int changes = 0;
    struct cand *c = NULL;
    size_t nc = 0;

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
    if (es_ident_refused(es, revision))
        return;
    errors_init(&e, NULL);
    for (int k = 0; k < RES_NKINDS; k++) {
        items[k] = json_object_new_object();
        revs[k] = json_object_new_object();
    }
    c = calloc(n ? n : 1, sizeof(*c));
    if (c == NULL) {
        es_retry_later(es, "out of memory");
        goto freeitems;
    }
    owner_reset(es->own);
    for (size_t i = 0; i < n; i++)
        if (is_index_key(es, kvs[i].key, kvs[i].keylen))
            owner_index_set(es->own, kvs[i].key, kvs[i].value);
    for (size_t i = 0; i < n; i++) {
        const struct etcd_kv *kv = &kvs[i];
        enum res_kind k;
        char id[RES_ID_MAX + 1], ikey[1024];
        if (parse_key(es, kv->key, kv->keylen, &k, id) < 0)
            continue;
        struct json_object *doc = parse_value(k, kv->key, kv->keylen, kv->value, kv->valuelen);
        if (doc == NULL) {
            keep_stored(es, k, id, items[k], revs[k]);
            continue;
        }
        if (etcdindex_key(es->prefix, k, doc, ikey, sizeof(ikey)) < 0 ||
            (c[nc].ikey = strdup(ikey)) == NULL) {
            json_object_put(doc);
            continue;
        }
        owner_crev_set(es->own, k, id, kv->create_revision);
        c[nc].k = k;
        snprintf(c[nc].id, sizeof(c[nc].id), "%s", id);
        c[nc].doc = doc;
        c[nc].mod_revision = kv->mod_revision;
        nc++;
    }
    pick_owners(es, c, nc);
    for (size_t i = 0; i < nc; i++) {
        if (c[i].wins) {
            json_object_object_add(items[c[i].k], c[i].id, json_object_get(c[i].doc));
            json_object_object_add(revs[c[i].k], c[i].id, json_object_new_int64(c[i].mod_revision));
        }
        json_object_put(c[i].doc);
        free(c[i].ikey);
    }
    free(c);
    struct store_txn *t = store_write_begin(es->store);
    int ok = t != NULL;
    if (ok)
        store_txn_origin(t, STORE_ORIGIN_ETCD, 0);
    for (int k = 0; ok && k < RES_NKINDS; k++) {
        int ch = store_sync_kind_revs(t, (enum res_kind)k, items[k], revs[k], &e);
        if (ch < 0)
            log_warnx("etcd: some resources could not be stored (see above); the others were");
        else
            changes += ch;
    }
    for (int i = 0; i < e.n; i++)
        log_warnx("etcd: %s", e.msgs[i]);
    if (ok)
        etcdident_record(&es->ident, t, etcd_cluster_id(es->etcd), revision);
    if (ok && store_commit(t, "etcd", revision) < 0)
        ok = 0;
freeitems:
    for (int k = 0; k < RES_NKINDS; k++) {
        json_object_put(items[k]);
        json_object_put(revs[k]);
    }
    errors_free(&e);
    if (c == NULL)
        return;
    if (!ok) {
        es_retry_later(es, "could not write the LMDB table");
        return;
    }
    etcdident_applied(&es->ident, etcd_cluster_id(es->etcd), revision);
    log_info("etcd: full sync at revision %lld: %d change%s, %d conflict%s, configuration "
             "version %llu",
             (long long)revision, changes, changes == 1 ? "" : "s", owner_nlosers(es->own),
             owner_nlosers(es->own) == 1 ? "" : "s", table_version(es));
    es->revision = revision;
    es->synced = 1;
    etcdack_applied(es->ack);
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

/* The index entry of the resource id as the transaction holds it, into out ("": none). */
static void
table_ikey(struct etcdsync *es, struct store_txn *t, enum res_kind k, const char *id, char *out,
           size_t len)
{
    char *json = store_doc_get(t, k, id);
    struct json_object *doc = json ? jx_parse(json, strlen(json)) : NULL;
    out[0] = '\0';
    if (doc != NULL && etcdindex_key(es->prefix, k, doc, out, len) < 0)
        out[0] = '\0';
    json_object_put(doc);
    free(json);
}

/* An index entry changed: a loser that wants that name may be its owner now. */
static void
apply_index_event(struct etcdsync *es, const struct etcd_event *ev, int *resync)
{
    owner_index_set(es->own, ev->kv.key, ev->type == ETCD_DELETE ? NULL : ev->kv.value);
    if (owner_waiting(es->own, ev->kv.key))
        *resync = 1;
}

/* A resource deleted: a loser becomes nobody's business; a freed name goes by the rule. */
static void
apply_delete(struct etcdsync *es, struct store_txn *t, enum res_kind k, const char *id, int *resync)
{
    char old[1024];
    owner_crev_set(es->own, k, id, -1);
    if (owner_loser_del(es->own, k, id))
        return;
    table_ikey(es, t, k, id, old, sizeof(old));
    store_del(t, k, id);
    if (old[0] && owner_waiting(es->own, old))
        *resync = 1;
}

/*
 * A resource put: applied when its name is free or its own; when another
 * holds it, the rule says who keeps it. A loser is listed, not applied, and
 * costs nothing more: only a change that can hand a name to a waiting loser
 * (its holder deleted or renamed, an index entry changed) reads everything
 * again.
 */
static void
apply_put(struct etcdsync *es, struct store_txn *t, const struct etcd_event *ev, enum res_kind k,
          const char *id, struct json_object *doc, struct aigw_errors *e, int *resync)
{
    char ikey[1024], old[1024], holder[RES_ID_MAX + 1];
    owner_crev_set(es->own, k, id, ev->kv.create_revision);
    if (etcdindex_key(es->prefix, k, doc, ikey, sizeof(ikey)) < 0)
        return;
    table_ikey(es, t, k, id, old, sizeof(old));
    int held =
        store_index_owner(t, k, doc, holder, sizeof(holder)) == STORE_OK && strcmp(holder, id) != 0;
    if (held && owner_prefers(es->own, ikey, k, id, holder)) {
        *resync = 1; /* the name changes hands: the full read applies the rule to all */
        return;
    }
    if (held) {
        if (old[0]) { /* a holder of another name renamed into a taken one */
            store_del(t, k, id);
            *resync |= owner_waiting(es->own, old);
        }
        owner_loser_set(es->own, k, id, ikey, holder, claimed_name(k, doc));
        log_warnx("etcd: %.*s not applied: its %s is held by %s (a conflict, listed by "
                  "GET /admin/v1/conflicts)",
                  (int)ev->kv.keylen, ev->kv.key, claim_label(k), holder);
        return;
    }
    owner_loser_del(es->own, k, id);
    store_txn_origin(t, STORE_ORIGIN_ETCD, ev->kv.mod_revision);
    int before = e->n;
    if (store_put(t, k, id, doc, e) != STORE_OK)
        for (int i = before; i < e->n; i++)
            log_warnx("etcd: %.*s not applied: %s", (int)ev->kv.keylen, ev->kv.key, e->msgs[i]);
    if (old[0] && strcmp(old, ikey) != 0 && owner_waiting(es->own, old))
        *resync = 1;
}

/*
 * The note a rollback writes in its own transaction (etcdrollback.c): who
 * asked, and for which version. Every node records it with the batch.
 */
static void
apply_note(struct store_txn *t, const struct etcd_event *ev)
{
    struct json_object *o, *v;
    if (ev->type == ETCD_DELETE || (o = jx_parse(ev->kv.value, ev->kv.valuelen)) == NULL)
        return;
    const char *src = jx_str(o, "source");
    int ok = src != NULL && strlen(src) < 200 && strncmp(src, "admin", 5) == 0;
    for (const char *p = src; ok && *p; p++)
        ok = *p > ' ' && *p < 127;
    if (ok)
        store_txn_history_source(t, src);
    if (json_object_object_get_ex(o, "rollback_of", &v) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) >= 0)
        store_txn_rollback_of(t, (uint64_t)json_object_get_int64(v));
    json_object_put(o);
}

/* Apply one event inside t; problems are logged and skipped. */
static void
apply_event(struct etcdsync *es, struct store_txn *t, const struct etcd_event *ev,
            struct aigw_errors *e, int *resync)
{
    enum res_kind k;
    char id[RES_ID_MAX + 1];
    if (is_index_key(es, ev->kv.key, ev->kv.keylen)) {
        apply_index_event(es, ev, resync);
        return;
    }
    if (ev->kv.keylen == strlen(es->prefix) + strlen(ETCDROLLBACK_NOTE) &&
        memcmp(ev->kv.key, es->prefix, strlen(es->prefix)) == 0 &&
        memcmp(ev->kv.key + strlen(es->prefix), ETCDROLLBACK_NOTE, strlen(ETCDROLLBACK_NOTE)) ==
            0) {
        apply_note(t, ev);
        return;
    }
    if (parse_key(es, ev->kv.key, ev->kv.keylen, &k, id) < 0)
        return;
    if (ev->type == ETCD_DELETE) {
        apply_delete(es, t, k, id, resync);
        return;
    }
    struct json_object *doc =
        parse_value(k, ev->kv.key, ev->kv.keylen, ev->kv.value, ev->kv.valuelen);
    if (doc == NULL)
        return;
    apply_put(es, t, ev, k, id, doc, e, resync);
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
    if (etcdident_check_watch(&es->ident, etcd_cluster_id(es->etcd), revision,
                              etcd_endpoint(es->etcd), table_version(es)) < 0) {
        es_resync(es); /* nothing applied; the full read shows what etcd is */
        return;
    }
    if (n == 0) {
        if (revision > es->revision)
            es->revision = revision;
        etcdack_applied(es->ack);
        return;
    }
    int resync = 0;
    errors_init(&e, NULL);
    struct store_txn *t = store_write_begin(es->store);
    if (t != NULL) {
        for (size_t i = 0; i < n; i++)
            apply_event(es, t, &evs[i], &e, &resync);
        etcdident_record(&es->ident, t, etcd_cluster_id(es->etcd), revision);
    }
    errors_free(&e);
    if (t != NULL && store_commit(t, "etcd", revision) == 0) {
        etcdident_applied(&es->ident, etcd_cluster_id(es->etcd), revision);
        es->revision = revision;
        es->events += n;
        etcdack_applied(es->ack);
        log_debug("etcd: %zu event%s at revision %lld", n, n == 1 ? "" : "s", (long long)revision);
        /* a name may change hands: the rule, applied to everything, like a fresh node would */
        if (resync && es->watch != NULL) {
            log_info("etcd: a name some resource waits for changed: full resync");
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
    etcdident_load(&es->ident, s);
    es->etcd = etcd_new(base, up, &ec);
    es->retry = evtimer_new(base, retry_cb, es);
    es->periodic = evtimer_new(base, periodic_cb, es);
    es->own = owner_new();
    es->ack = etcdack_new(base, &es->revision, ACK_WAIT_MS);
    if (es->etcd == NULL || es->retry == NULL || es->periodic == NULL || es->own == NULL ||
        es->ack == NULL) {
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
    etcdack_free(es->ack);   /* answers the writes etcd has */
    if (es->retry != NULL)
        event_free(es->retry);
    if (es->periodic != NULL)
        event_free(es->periodic);
    owner_free(es->own);
    free(es);
}

/* The operator takes etcd's state as it is: the next full read replaces the table. */
int
etcdsync_accept(struct etcdsync *es)
{
    if (etcdident_accept(&es->ident) < 0)
        return -1;
    log_warnx("etcd: aigwctl etcd accept: the next full read replaces the table");
    if (es->state != ES_RANGING) { /* a read in flight takes the acceptance as it answers */
        evtimer_del(es->retry);
        es_resync(es);
    }
    return 0;
}

/* 1 while etcd's state is not the one the table came from (not applied). */
int
etcdsync_identity_mismatch(const struct etcdsync *es)
{
    return es != NULL && es->ident.mismatch;
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
    json_object_object_add(e, "conflicts", json_object_new_int(owner_nlosers(es->own)));
    json_object_object_add(e, "last_error",
                           es->last_error[0] ? json_object_new_string(es->last_error) : NULL);
    etcdident_status(&es->ident, e);
    json_object_object_add(o, "etcd", e);
}

/* ---- the Admin API's backend: writes to etcd only ---- */

/* The resource and its name's index entry, in one transaction (etcdindex.c). */
static void
es_put(void *ctx, enum res_kind k, const char *id, struct json_object *doc, int64_t expect,
       admin_done_cb done, void *arg)
{
    struct etcdsync *es = ctx;
    if (es->ident.mismatch) { /* the table is not etcd's state: a write would land elsewhere */
        done(arg, ADMIN_EIDENTITY, 0);
        return;
    }
    void *w = etcdack_wrap(es->ack, done, arg); /* answered once the table holds it */
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0);
        return;
    }
    etcdindex_put(es->etcd, es->store, es->prefix, k, id, doc, expect, es->source, etcdack_done, w);
    es->source[0] = '\0';
}

static void
es_del(void *ctx, enum res_kind k, const char *id, int64_t expect, admin_done_cb done, void *arg)
{
    struct etcdsync *es = ctx;
    if (es->ident.mismatch) {
        done(arg, ADMIN_EIDENTITY, 0);
        return;
    }
    void *w = etcdack_wrap(es->ack, done, arg); /* answered once the table holds it */
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0);
        return;
    }
    etcdindex_del(es->etcd, es->store, es->prefix, k, id, expect, es->source, etcdack_done, w);
    es->source[0] = '\0';
}

/* Who makes the next put or del: its note goes into etcd with it (etcdrollback.h). */
static void
es_source(void *ctx, const char *source)
{
    struct etcdsync *es = ctx;
    snprintf(es->source, sizeof(es->source), "%s", source);
}

/* A rollback: this node's state at v into etcd, one transaction (etcdrollback.c). */
static void
es_rollback(void *ctx, uint64_t v, const char *source, admin_rollback_cb done, void *arg)
{
    struct etcdsync *es = ctx;
    if (es->ident.mismatch) {
        done(arg, ADMIN_EIDENTITY, 0, 0, NULL);
        return;
    }
    void *w = etcdack_wrap_rollback(es->ack, done, arg); /* answered once the table holds it */
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0, 0, NULL);
        return;
    }
    etcdrollback_send(es->etcd, es->store, es->own, es->prefix, v, source, etcdack_rollback_done,
                      w);
}

/* A declarative apply: the set into etcd, one transaction (etcdapply.c). */
static void
es_apply(void *ctx, struct json_object *set, const char *source, admin_done_cb done, void *arg)
{
    struct etcdsync *es = ctx;
    if (es->ident.mismatch) {
        done(arg, ADMIN_EIDENTITY, 0);
        return;
    }
    void *w = etcdack_wrap(es->ack, done, arg); /* answered once the table holds it */
    if (w == NULL) {
        done(arg, ADMIN_EIO, 0);
        return;
    }
    etcdapply_send(es->etcd, es->store, es->own, es->prefix, set, source, etcdack_done, w);
}

/* The resources that lost their name or key to another (etcdowner.c). */
static struct json_object *
es_conflicts(void *ctx, enum res_kind k)
{
    struct etcdsync *es = ctx;
    return owner_losers_json(es->own, k);
}

void
etcdsync_admin_backend(struct etcdsync *es, struct admin_backend *b)
{
    b->put = es_put;
    b->del = es_del;
    b->conflicts = es_conflicts;
    b->rollback = es_rollback;
    b->source = es_source;
    b->apply = es_apply;
    b->ctx = es;
}
