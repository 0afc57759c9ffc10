/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwksfetch.c: the key sets of identity providers fetched over HTTP(S)
 * by the master (jwks_url, or OIDC discovery: the jwks_uri of
 * <issuer>/.well-known/openid-configuration), with libcurl on the master's
 * event loop. A set that parses and holds a usable key goes into the LMDB
 * table (jwks.c's blob), where workers read it; a failed fetch changes
 * nothing: the last good set serves, across restarts too, and the fetch is
 * tried again with a doubling backoff.
 *
 * A worker that meets a token whose kid its set lacks counts it in the
 * shared-memory table ("jwks", provider); a tick here sees the count move
 * and fetches at once, at most once per refetch_interval, so a key rotated
 * at the provider serves within a second and a flood of made-up kids costs
 * the provider one request per interval.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "aigw/conf.h"
#include "log.h"
#include "shm.h"
#include "store.h"
#include "aigw/util.h"
#include "jsonraw.h"
#include "jwks.h"
#include "jwksfetch.h"
#include "jwt.h"
#include "upstream.h"

#define FETCH_MAX (1 << 20) /* bytes of one answer */
#define FETCH_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 300000
#define TICK_MS 250

/* One provider whose set is fetched. */
struct fprov {
    struct conf_jwt_provider p; /* a copy: the conf it came from may be freed by a reload */
    struct jwksfetch *f;
    struct upstream_xfer xfer;
    char *buf;
    size_t len;
    int too_big;
    int phase; /* 0: discovery document, 1: the key set */
    char jwks_uri[CONF_STR_MAX];
    int64_t next_ms; /* monotonic: when to fetch; 0: now */
    int64_t last_ms; /* when the last fetch started */
    int64_t backoff_ms;
    uint64_t misses_seen; /* the unknown-kid count already answered */
};

struct jwksfetch {
    struct event_base *base;
    struct upstream *up;
    struct store *store;
    struct shm *shm;
    char ca_file[PATH_MAX];
    struct event *tick;
    struct fprov *v;
    int n;
};

/* Append what curl received; past FETCH_MAX the transfer is stopped. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct fprov *fp = arg;
    size_t n = size * nmemb;
    if (fp->len + n > FETCH_MAX) {
        fp->too_big = 1;
        return 0;
    }
    char *b = realloc(fp->buf, fp->len + n + 1);
    if (b == NULL)
        return 0;
    fp->buf = b;
    memcpy(fp->buf + fp->len, data, n);
    fp->len += n;
    fp->buf[fp->len] = '\0';
    return n;
}

/* The URL this phase fetches. */
static void
phase_url(const struct fprov *fp, char *url, size_t len)
{
    if (fp->phase == 0) {
        size_t n = strlen(fp->p.issuer);
        snprintf(url, len, "%.*s/.well-known/openid-configuration",
                 (int)(n && fp->p.issuer[n - 1] == '/' ? n - 1 : n), fp->p.issuer);
    } else {
        snprintf(url, len, "%s", fp->p.discovery ? fp->jwks_uri : fp->p.jwks_url);
    }
}

/* A failed fetch: logged, and tried again after the backoff (doubled, capped). */
static void
failed(struct fprov *fp, const char *what)
{
    log_warnx("jwt provider %s: %s; its last good key set serves, next try in %llds", fp->p.name,
              what, (long long)(fp->backoff_ms / 1000));
    fp->next_ms = now_mono_ms() + fp->backoff_ms;
    fp->backoff_ms *= 2;
    if (fp->backoff_ms > BACKOFF_MAX_MS)
        fp->backoff_ms = BACKOFF_MAX_MS;
    if (fp->backoff_ms > fp->p.refresh_ms)
        fp->backoff_ms = fp->p.refresh_ms;
    fp->phase = fp->p.discovery ? 0 : 1; /* a discovered jwks_uri may be stale: ask again */
}

/* The discovery document: its issuer must be ours (OIDC Discovery 4.3), then jwks_uri. */
static int
take_discovery(struct fprov *fp, char *why, size_t whylen)
{
    struct json_object *o = json_tokener_parse(fp->buf), *iss, *uri;
    char dup[128];
    int rv = -1;
    if (o == NULL || !json_object_is_type(o, json_type_object) ||
        jsonraw_check_names(fp->buf, fp->len, dup, sizeof(dup)) < 0)
        snprintf(why, whylen, "the discovery document is not a JSON object (each member once)");
    else if (!json_object_object_get_ex(o, "issuer", &iss) || iss == NULL ||
             !json_object_is_type(iss, json_type_string) ||
             strcmp(json_object_get_string(iss), fp->p.issuer) != 0)
        snprintf(why, whylen, "the discovery document names another issuer");
    else if (!json_object_object_get_ex(o, "jwks_uri", &uri) || uri == NULL ||
             !json_object_is_type(uri, json_type_string) ||
             json_object_get_string_len(uri) >= (int)sizeof(fp->jwks_uri) ||
             !conf_jwt_url_ok(json_object_get_string(uri)))
        snprintf(why, whylen, "the discovery document has no usable jwks_uri");
    else {
        snprintf(fp->jwks_uri, sizeof(fp->jwks_uri), "%s", json_object_get_string(uri));
        rv = 0;
    }
    json_object_put(o);
    return rv;
}

/* The key set: parsed, then stored when it holds a usable key. */
static int
take_keyset(struct fprov *fp, char *why, size_t whylen)
{
    struct jwt_keyset *ks = jwt_keyset_parse(fp->buf, fp->len, why, whylen);
    int n = jwt_keyset_count(ks);
    jwt_keyset_free(ks);
    if (ks == NULL)
        return -1;
    if (n == 0) {
        snprintf(why, whylen, "the key set holds no usable public key");
        return -1;
    }
    char name[96];
    struct store_meta m = {0};
    jwks_blob_name(&fp->p, name, sizeof(name));
    if (store_read_begin(fp->f->store) == 0) {
        store_meta_get(fp->f->store, &m);
        store_read_end(fp->f->store);
    }
    struct store_txn *t = store_write_begin(fp->f->store);
    if (t == NULL || store_blob_put(t, name, fp->buf, fp->len) != STORE_OK) {
        if (t != NULL)
            store_abort(t);
        snprintf(why, whylen, "the key set could not be stored");
        return -1;
    }
    int changed = store_txn_changes(t);
    /* the meta record keeps its source and etcd revision: a key set is not a resource */
    if (store_commit(t, m.source[0] ? m.source : "jwks", m.etcd_revision) < 0) {
        snprintf(why, whylen, "the key set could not be stored");
        return -1;
    }
    if (changed)
        log_info("jwt provider %s: %d key%s from %s", fp->p.name, n, n == 1 ? "" : "s",
                 fp->p.discovery ? fp->jwks_uri : fp->p.jwks_url);
    return 0;
}

/* A transfer ended: take its answer, then the next phase or the next refresh. */
static void
on_done(struct upstream_xfer *x, CURLcode rc)
{
    struct fprov *fp = (struct fprov *)((char *)x - offsetof(struct fprov, xfer));
    long status = 0;
    char why[256];
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    upstream_easy_put(fp->f->up, x->easy);
    x->easy = NULL;
    if (rc != CURLE_OK || status != 200 || fp->buf == NULL) {
        if (fp->too_big)
            snprintf(why, sizeof(why), "%s: an answer of more than 1 MiB",
                     fp->phase ? "the key set" : "discovery");
        else if (rc != CURLE_OK)
            snprintf(why, sizeof(why), "%s: %s", fp->phase ? "the key set" : "discovery",
                     curl_easy_strerror(rc));
        else
            snprintf(why, sizeof(why), "%s: status %ld", fp->phase ? "the key set" : "discovery",
                     status);
        failed(fp, why);
    } else if (fp->phase == 0 && take_discovery(fp, why, sizeof(why)) == 0) {
        fp->phase = 1;
        fp->next_ms = 0; /* the key set at the next tick */
    } else if (fp->phase == 0) {
        failed(fp, why);
    } else if (take_keyset(fp, why, sizeof(why)) < 0) {
        failed(fp, why);
    } else {
        fp->backoff_ms = BACKOFF_MIN_MS;
        fp->next_ms = now_mono_ms() + fp->p.refresh_ms;
        fp->phase = fp->p.discovery ? 0 : 1; /* discovery is read again at each refresh */
    }
    free(fp->buf);
    fp->buf = NULL;
    fp->len = 0;
}

/* Start one fetch of fp's current phase. */
static void
start(struct fprov *fp)
{
    char url[CONF_STR_MAX + 64];
    CURL *h = upstream_easy_get(fp->f->up);
    if (h == NULL) {
        failed(fp, "no transfer handle");
        return;
    }
    phase_url(fp, url, sizeof(url));
    fp->too_big = 0;
    fp->last_ms = now_mono_ms();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, fp);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never http(s)_proxy from the environment */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (fp->f->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, fp->f->ca_file);
    fp->xfer.easy = h;
    fp->xfer.done = on_done;
    if (upstream_start(fp->f->up, &fp->xfer) < 0) {
        upstream_easy_put(fp->f->up, h);
        fp->xfer.easy = NULL;
        failed(fp, "cannot start the transfer");
    }
}

/* Every TICK_MS: start what is due, and answer workers' unknown kids. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct jwksfetch *f = arg;
    int64_t now = now_mono_ms();
    (void)fd;
    (void)what;
    for (int i = 0; i < f->n; i++) {
        struct fprov *fp = &f->v[i];
        if (fp->xfer.running)
            continue;
        struct shm_slot *s = f->shm ? shm_find(f->shm, SHM_KIND_JWKS, fp->p.name, NULL) : NULL;
        uint64_t misses = s ? atomic_load_explicit(&s->c[SHM_JWKS_UNKNOWN_KID], memory_order_relaxed) : 0;
        if (misses != fp->misses_seen && now - fp->last_ms >= fp->p.refetch_ms) {
            fp->misses_seen = misses;
            fp->next_ms = 0; /* a kid we lack: ask now */
        }
        if (fp->next_ms <= now)
            start(fp);
    }
    struct timeval tv = tv_ms(TICK_MS);
    evtimer_add(f->tick, &tv);
}

/* Stop every transfer and forget the providers. */
static void
clear(struct jwksfetch *f)
{
    for (int i = 0; i < f->n; i++) {
        struct fprov *fp = &f->v[i];
        if (fp->xfer.running)
            upstream_cancel(f->up, &fp->xfer);
        if (fp->xfer.easy != NULL)
            upstream_easy_put(f->up, fp->xfer.easy);
        free(fp->buf);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

void
jwksfetch_reconf(struct jwksfetch *f, const struct conf *c)
{
    struct fprov *v = calloc(CONF_MAX_JWT, sizeof(*v));
    int n = 0;
    if (v == NULL)
        return; /* the providers as they were go on */
    for (int i = 0; i < c->jwt_nproviders; i++) {
        const struct conf_jwt_provider *p = &c->jwt[i];
        if (p->jwks_url[0] == '\0' && !p->discovery)
            continue;
        struct fprov *fp = &v[n++];
        fp->p = *p;
        explicit_bzero(fp->p.hs256_secret, sizeof(fp->p.hs256_secret)); /* not needed here */
        fp->f = f;
        fp->phase = p->discovery ? 0 : 1;
        fp->backoff_ms = BACKOFF_MIN_MS;
        fp->last_ms = now_mono_ms() - p->refetch_ms;
    }
    clear(f); /* the old transfers stop; the new providers fetch at the next tick */
    f->v = v;
    f->n = n;
}

struct jwksfetch *
jwksfetch_new(struct event_base *base, struct upstream *up, struct store *s, struct shm *shm,
              const struct conf *c)
{
    struct jwksfetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->base = base;
    f->up = up;
    f->store = s;
    f->shm = shm;
    snprintf(f->ca_file, sizeof(f->ca_file), "%s", c->upstream_ca_file);
    if ((f->tick = evtimer_new(base, on_tick, f)) == NULL) {
        free(f);
        return NULL;
    }
    jwksfetch_reconf(f, c);
    struct timeval tv = tv_ms(0);
    evtimer_add(f->tick, &tv);
    return f;
}

void
jwksfetch_free(struct jwksfetch *f)
{
    if (f == NULL)
        return;
    clear(f);
    event_free(f->tick);
    free(f);
}

int
jwksfetch_needed(const struct conf *c)
{
    for (int i = 0; i < c->jwt_nproviders; i++)
        if (c->jwt[i].jwks_url[0] != '\0' || c->jwt[i].discovery)
            return 1;
    return 0;
}
