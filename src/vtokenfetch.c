/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtokenfetch.c: Vertex AI access tokens, got and refreshed by the master.
 *
 * Which key files: those that the table's vertex targets name, found
 * again when the table's version has moved (a model added, changed or
 * removed; the scan reads records, not JSON), at most once a second. For each file the master
 * reads the key (again at every fetch, so a rotated key file is taken up),
 * signs the JWT bearer assertion (gsa.c) and POSTs it to the file's
 * token_uri with libcurl on its own loop; the answer's access_token and
 * its expiry go into the table as the file's blob (vtoken.c), which
 * workers read when they build a request. No request waits on this.
 *
 * When: at once for a new file, then when half the token's lifetime has
 * passed (30 minutes of Google's hour), so a refresh has the other half to
 * succeed in. A failed fetch (network, a non-200, an answer that is not a
 * token, a key file gone bad) is logged without any secret and tried
 * again after 1 s, doubling up to 60 s; the token in the table keeps
 * serving until its own expiry, after which workers answer 503
 * upstream_token_unavailable until a fetch succeeds.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "aigw/resource.h"
#include "aigw/util.h"
#include "gsa.h"
#include "log.h"
#include "metrics.h"
#include "provider.h"
#include "store.h"
#include "upstream.h"
#include "vtoken.h"
#include "vtokenfetch.h"

#define MAX_FILES 256
#define FETCH_MAX 65536 /* bytes of one answer */
#define FETCH_TIMEOUT_MS 10000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000
#define TICK_MS 250
#define SCAN_MS 1000 /* the table's key files are looked for at most this often */

/* One key file and its token's state. */
struct vfile {
    char path[1025];
    struct vtokenfetch *f;
    struct upstream_xfer xfer;
    struct curl_slist *hdrs;
    char *form; /* the request's body (holds the assertion: wiped) */
    char *buf;  /* the answer (holds the token: wiped) */
    size_t len;
    int too_big;
    int64_t next_ms; /* monotonic: when to fetch; 0: now */
    int64_t backoff_ms;
    int seen; /* named by the last scan */
};

struct vtokenfetch {
    struct event_base *base;
    struct upstream *up;
    struct store *store;
    struct shm *shm;
    char ca_file[PATH_MAX];
    struct event *tick;
    uint64_t version; /* the table's version at the last scan */
    int64_t scan_ms;  /* monotonic: when it was */
    int scanned;
    struct vfile *v[MAX_FILES];
    int n;
};

/* Wipe and free what one fetch held. */
static void
xfer_clear(struct vfile *vf)
{
    if (vf->form != NULL) {
        explicit_bzero(vf->form, strlen(vf->form));
        free(vf->form);
        vf->form = NULL;
    }
    if (vf->buf != NULL) {
        explicit_bzero(vf->buf, vf->len);
        free(vf->buf);
        vf->buf = NULL;
    }
    vf->len = 0;
    curl_slist_free_all(vf->hdrs);
    vf->hdrs = NULL;
}

/* Append what curl received; past FETCH_MAX the transfer is stopped. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct vfile *vf = arg;
    size_t n = size * nmemb;
    if (vf->len + n > FETCH_MAX) {
        vf->too_big = 1;
        return 0;
    }
    char *b = malloc(vf->len + n + 1);
    if (b == NULL)
        return 0;
    if (vf->buf != NULL) {
        memcpy(b, vf->buf, vf->len);
        explicit_bzero(vf->buf, vf->len);
        free(vf->buf);
    }
    vf->buf = b;
    memcpy(vf->buf + vf->len, data, n);
    vf->len += n;
    vf->buf[vf->len] = '\0';
    return n;
}

/* A failed fetch: logged (no secret), tried again after the backoff (doubled, capped). */
static void
failed(struct vfile *vf, const char *what)
{
    log_warnx("vertex: %s: token refresh failed: %s; the current token (if any) serves until it "
              "expires, next try in %llds",
              vf->path, what, (long long)(vf->backoff_ms / 1000));
    metrics_vertex_refresh(vf->f->shm, 0);
    vf->next_ms = now_mono_ms() + vf->backoff_ms;
    vf->backoff_ms *= 2;
    if (vf->backoff_ms > BACKOFF_MAX_MS)
        vf->backoff_ms = BACKOFF_MAX_MS;
}

/* Store the token with its expiry; 0 or -1. */
static int
store_token(struct vfile *vf, const char *tok, int64_t expiry)
{
    char name[VTOKEN_NAME_MAX], blob[GSA_TOKEN_MAX + 32];
    struct store_meta m = {0};
    int n = vtoken_encode(expiry, tok, blob, sizeof(blob)), rv = -1;
    vtoken_blob_name(vf->path, name, sizeof(name));
    if (store_read_begin(vf->f->store) == 0) {
        store_meta_get(vf->f->store, &m);
        store_read_end(vf->f->store);
    }
    struct store_txn *t = n < 0 ? NULL : store_write_begin(vf->f->store);
    if (t != NULL && store_blob_put(t, name, blob, (size_t)n) == STORE_OK)
        /* the meta record keeps its source and etcd revision: a token is not a resource */
        rv = store_commit(t, m.source[0] ? m.source : "vertex-token", m.etcd_revision) < 0 ? -1 : 0;
    else if (t != NULL)
        store_abort(t);
    explicit_bzero(blob, sizeof(blob));
    return rv;
}

/* A fetch ended: the token stored and the next refresh set, or a retry. */
static void
on_done(struct upstream_xfer *x, CURLcode rc)
{
    struct vfile *vf = (struct vfile *)((char *)x - offsetof(struct vfile, xfer));
    char why[256], tok[GSA_TOKEN_MAX];
    long status = 0;
    int64_t life = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    upstream_easy_put(vf->f->up, x->easy);
    x->easy = NULL;
    if (vf->too_big)
        failed(vf, "an answer of more than 64 KiB");
    else if (rc != CURLE_OK)
        failed(vf, curl_easy_strerror(rc));
    else if (status != 200) {
        /* Google's error answers ({"error": "invalid_grant", ...}) hold no secret, but are not
           logged: a token endpoint of another kind might echo the assertion */
        snprintf(why, sizeof(why), "the token endpoint answered status %ld", status);
        failed(vf, why);
    } else if (gsa_token_parse(vf->buf ? vf->buf : "", vf->len, tok, sizeof(tok), &life, why,
                               sizeof(why)) < 0)
        failed(vf, why);
    else if (store_token(vf, tok, (int64_t)time(NULL) + life) < 0)
        failed(vf, "the token could not be stored in the table");
    else {
        log_info("vertex: %s: access token refreshed, valid %llds", vf->path, (long long)life);
        metrics_vertex_refresh(vf->f->shm, 1);
        vf->backoff_ms = BACKOFF_MIN_MS;
        vf->next_ms = now_mono_ms() + life * 1000 / 2;
    }
    explicit_bzero(tok, sizeof(tok));
    xfer_clear(vf);
}

/* Start one fetch: read the key, sign, POST. */
static void
start(struct vfile *vf)
{
    struct gsa_key k;
    char err[600];
    CURL *h;
    if (gsa_key_load(vf->path, &k, err, sizeof(err)) < 0) {
        failed(vf, err);
        return;
    }
    char *jwt = gsa_assertion(&k, (int64_t)time(NULL));
    vf->form = jwt ? gsa_token_form(jwt) : NULL;
    if (jwt != NULL) {
        explicit_bzero(jwt, strlen(jwt));
        free(jwt);
    }
    if (vf->form == NULL || (h = upstream_easy_get(vf->f->up)) == NULL) {
        gsa_key_free(&k);
        xfer_clear(vf);
        failed(vf, "cannot sign the assertion or start a transfer");
        return;
    }
    vf->too_big = 0;
    vf->hdrs = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(h, CURLOPT_URL, k.token_uri);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, vf->form);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, vf->hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, vf);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never http(s)_proxy from the environment */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (vf->f->ca_file[0] != '\0')
        curl_easy_setopt(h, CURLOPT_CAINFO, vf->f->ca_file);
    gsa_key_free(&k); /* curl copied the URL */
    vf->xfer.easy = h;
    vf->xfer.done = on_done;
    if (upstream_start(vf->f->up, &vf->xfer) < 0) {
        upstream_easy_put(vf->f->up, h);
        vf->xfer.easy = NULL;
        xfer_clear(vf);
        failed(vf, "cannot start the transfer");
    }
}

/* The key file at path, known or new; NULL when the table is full. */
static struct vfile *
file_of(struct vtokenfetch *f, const char *path)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->v[i]->path, path) == 0)
            return f->v[i];
    if (f->n == MAX_FILES || strlen(path) >= sizeof(f->v[0]->path))
        return NULL;
    struct vfile *vf = calloc(1, sizeof(*vf));
    if (vf == NULL)
        return NULL;
    snprintf(vf->path, sizeof(vf->path), "%s", path);
    vf->f = f;
    vf->backoff_ms = BACKOFF_MIN_MS;
    f->v[f->n++] = vf;
    return vf;
}

/* Stop a file's fetch and free it. */
static void
file_free(struct vtokenfetch *f, struct vfile *vf)
{
    if (vf->xfer.running)
        upstream_cancel(f->up, &vf->xfer);
    if (vf->xfer.easy != NULL)
        upstream_easy_put(f->up, vf->xfer.easy);
    xfer_clear(vf);
    free(vf);
}

/* store_models_foreach: mark the key files of a model's vertex targets. */
static int
scan_model(const struct model_view *mv, void *arg)
{
    struct vtokenfetch *f = arg;
    for (int i = 0; i < mv->ntargets; i++) {
        const struct target_view *t = &mv->t[i];
        struct vfile *vf;
        if (t->provider != PROVIDER_VERTEX || t->vertex.credentials_file[0] == '\0')
            continue;
        if ((vf = file_of(f, t->vertex.credentials_file)) != NULL)
            vf->seen = 1;
    }
    return 0;
}

/*
 * When the table moved: find the key files again; those no longer named are
 * dropped. The scan reads every model record (6 ms for 10,000 models here),
 * so a burst of changes (etcd, an apply) is scanned once a second, not once
 * a change: a new key file's first token comes at most a second later.
 */
static void
scan(struct vtokenfetch *f)
{
    struct store_meta m;
    int64_t now = now_mono_ms();
    if (f->scanned && now - f->scan_ms < SCAN_MS)
        return;
    if (store_read_begin(f->store) < 0)
        return;
    store_meta_get(f->store, &m);
    if (f->scanned && m.version == f->version) {
        store_read_end(f->store);
        return;
    }
    for (int i = 0; i < f->n; i++)
        f->v[i]->seen = 0;
    store_models_foreach(f->store, scan_model, f);
    store_read_end(f->store);
    f->version = m.version;
    f->scan_ms = now;
    f->scanned = 1;
    for (int i = 0; i < f->n;) {
        if (f->v[i]->seen) {
            i++;
            continue;
        }
        file_free(f, f->v[i]);
        f->v[i] = f->v[--f->n];
    }
}

/* Every TICK_MS: the table's key files, and the fetches that are due. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct vtokenfetch *f = arg;
    (void)fd;
    (void)what;
    scan(f);
    int64_t now = now_mono_ms();
    for (int i = 0; i < f->n; i++)
        if (!f->v[i]->xfer.running && f->v[i]->next_ms <= now)
            start(f->v[i]);
    struct timeval tv = tv_ms(TICK_MS);
    evtimer_add(f->tick, &tv);
}

struct vtokenfetch *
vtokenfetch_new(struct event_base *base, struct upstream *up, struct store *s, struct shm *shm,
                const char *ca_file)
{
    struct vtokenfetch *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->base = base;
    f->up = up;
    f->store = s;
    f->shm = shm;
    snprintf(f->ca_file, sizeof(f->ca_file), "%s", ca_file ? ca_file : "");
    if ((f->tick = evtimer_new(base, on_tick, f)) == NULL) {
        free(f);
        return NULL;
    }
    struct timeval tv = tv_ms(0);
    evtimer_add(f->tick, &tv);
    return f;
}

void
vtokenfetch_free(struct vtokenfetch *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < f->n; i++)
        file_free(f, f->v[i]);
    event_free(f->tick);
    free(f);
}
