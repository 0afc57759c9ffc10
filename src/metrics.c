/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c: counters and histograms in the shared-memory metrics area
 * (workers count, the master renders). See metrics.h for the model.
 *
 * Layout of the area (SHM_METRICS_SIZE bytes, zeroed when the master
 * creates the shared memory):
 *
 *   header | index: MX_NSLOTS x {id, off} | arena of series, bump-allocated
 *
 * A series is found by the hash of (family, label text) with linear
 * probing. Creating one: claim an index entry (CAS id 0 -> hash), take room
 * in the arena (fetch_add: the arena never shrinks, as series are never
 * removed while the master runs), write family, label text and zeroed
 * counters there, then publish the offset with a release store. A reader
 * (another worker, or the renderer) loads the offset with acquire and sees
 * the label text whole. Whoever finds the entry claimed but not yet
 * published waits a few hundred nanoseconds for the claimer (a worker killed
 * in that window would leave it unpublished forever: the wait is bounded,
 * after it the observation is counted as dropped).
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "shm.h"
#include "metrics.h"

#define MX_MAGIC 0x6169677779786d32ull /* "aigwmx2" */
#define MX_NSLOTS 32768u               /* index entries: 512 KiB of the 8 MiB */
#define MX_MAX_PROBE 512
#define MX_OFF_FULL 1u /* claimed, but the arena had no room: dropped for good */
#define MX_LABELS_MAX 4096
#define MX_WAIT_SPINS 2000

/* Histogram bucket bounds, microseconds; +Inf is the count. */
static const int64_t mx_bounds_us[] = {
    1000,    2500,    5000,    10000,    25000,    50000,    100000,   250000,    500000,
    1000000, 2500000, 5000000, 10000000, 20000000, 30000000, 60000000, 120000000, 300000000,
};
static const char *const mx_bounds_txt[] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1",     "2.5",    "5",     "10",   "20",    "30",   "60",  "120",  "300",
};
#define MX_NB ((int)(sizeof(mx_bounds_us) / sizeof(mx_bounds_us[0])))

/*
 * The families kept in the area; the master adds gauges of its own
 * (metrics_http.c, metrics_proc.c). A series stores its family's number and
 * a binary upgrade shares the area with the previous binary's workers, so
 * new families go at the end: a number never changes its meaning.
 */
enum mx_family_id {
    F_REQUESTS, F_REQ_DURATION, F_UP_DURATION, F_TTFT, F_TOKENS, F_UP_ERRORS, F_TLS_HANDSHAKES,
    F_TLS_EXPIRY, F_JWT_REFUSED, F_WORKER_START_FAILED, F_RL_REJECTED, F_STREAM_ERRORS,
    F_RELOADS, F_RELOAD_OK, F_RELOAD_SUCCESS_TIME, F_VERTEX_REFRESH, F_N
};

/* How a family's series are kept and written. */
enum mx_kind {
    MX_COUNTER = 0, /* v[0], added to */
    MX_HISTOGRAM,   /* buckets, count, sum (us) */
    MX_GAUGE,       /* v[0], stored */
    MX_GAUGE_MS,    /* v[0], stored in milliseconds, written in seconds */
};

struct mx_family {
    const char *name;
    enum mx_kind kind;
    const char *help;
};

static const struct mx_family mx_families[F_N] = {
    [F_REQUESTS] = {"aigw_requests_total", MX_COUNTER,
                    "Client requests by configured model, provider and target that answered, "
                    "and HTTP status."},
    [F_REQ_DURATION] = {"aigw_request_duration_seconds", MX_HISTOGRAM,
                        "Client request duration, first request byte to last response byte."},
    [F_UP_DURATION] = {"aigw_upstream_duration_seconds", MX_HISTOGRAM,
                       "Duration of each upstream attempt (retries and fallbacks each count)."},
    [F_TTFT] = {"aigw_time_to_first_token_seconds", MX_HISTOGRAM,
                "Streams: from the request's first byte to the first event sent to the client."},
    [F_TOKENS] = {"aigw_tokens_total", MX_COUNTER, "Tokens used, as the upstream reported them."},
    [F_UP_ERRORS] = {"aigw_upstream_errors_total", MX_COUNTER,
                     "Failed upstream attempts by model, target and reason."},
    [F_TLS_HANDSHAKES] = {"aigw_tls_handshakes_total", MX_COUNTER,
                          "TLS handshakes on HTTPS listeners by listener and result: ok, or why "
                          "it failed (protocol, cipher, client_certificate, plain_http, closed, "
                          "other)."},
    [F_TLS_EXPIRY] = {"aigw_tls_certificate_expiry_timestamp_seconds", MX_GAUGE,
                      "When each certificate of an HTTPS listener expires (Unix time)."},
    [F_JWT_REFUSED] = {"aigw_jwt_rejections_total", MX_COUNTER,
                       "Bearer JWTs refused, by reason (token_expired, token_bad_signature, ...)."},
    [F_WORKER_START_FAILED] = {"aigw_worker_start_failures_total", MX_COUNTER,
                               "Workers that did not start, by reason: exec (the binary could "
                               "not be run) or exited_early (it died within a second); each "
                               "restart of such a worker waits longer."},
    [F_RL_REJECTED] = {"aigw_ratelimit_rejections_total", MX_COUNTER,
                       "Requests refused by a rate, token or concurrency limit of an API key or "
                       "a model, or because the rate limiter could not answer (unavailable), by "
                       "configured model and scope."},
    [F_STREAM_ERRORS] = {"aigw_stream_errors_total", MX_COUNTER,
                         "Streams that began with 200 and ended with an error instead of their "
                         "end, by configured model and reason."},
    [F_RELOADS] = {"aigw_config_reloads_total", MX_COUNTER,
                   "Reloads (SIGHUP, aigwctl reload) by result: success or failure."},
    [F_RELOAD_OK] = {"aigw_config_last_reload_successful", MX_GAUGE,
                     "1 when the last reload succeeded (or none was tried since the start), "
                     "0 when it failed and the previous configuration still runs."},
    [F_RELOAD_SUCCESS_TIME] = {"aigw_config_last_reload_success_timestamp_seconds", MX_GAUGE_MS,
                               "Unix time of the last successful reload, or of the start."},
    [F_VERTEX_REFRESH] = {"aigw_vertex_token_refreshes_total", MX_COUNTER,
                          "Vertex AI access token fetches by the master, by result: success or "
                          "failure (the current token serves until it expires)."},
};

static const char *const mx_reasons[MX_UP_NREASONS] = {
    "ok",        "connect_error", "timeout",    "tls_error",  "reset",
    "truncated", "too_large",     "status_429", "status_5xx", "status_4xx",
};
static const char *const mx_scopes[MX_RL_NSCOPES] = {"key", "model", "unavailable"};
static const char *const mx_stream_errors[MX_SE_N] = {
    "upstream_error", "upstream_disconnected", "idle_timeout", "total_timeout", "truncated",
    "bad_event",      "client_closed",         "shutdown",
};

struct mx_hdr {
    _Atomic uint64_t magic; /* stored last, with release, by metrics_init */
    uint64_t nslots;
    uint64_t arena; /* offset of the arena from the start of the area */
    uint64_t arena_len;
    _Atomic uint64_t arena_used;
    _Atomic uint64_t dropped; /* observations without a series: the area is full */
    _Atomic uint64_t worker_restarts;
    /* unused since the model label (F_RL_REJECTED); kept, as the layout is shared at an upgrade */
    _Atomic uint64_t ratelimit_unused[MX_RL_NSCOPES];
    _Atomic uint64_t accept_paused[MX_PAUSE_N];
};

struct mx_slot {
    _Atomic uint64_t id;  /* hash of the identity; 0: free */
    _Atomic uint64_t off; /* offset of the series in the area; 0: being made */
};

struct mx_series {
    uint32_t family;
    uint32_t nvals;
    uint32_t llen;        /* of the label text */
    _Atomic uint64_t v[]; /* counter: v[0]; histogram: buckets, count, sum (us) */
    /* then the label text, NUL-terminated */
};

/* A process's view of the area. */
struct mx_area {
    char *base;
    size_t len;
    struct mx_hdr *h;
    struct mx_slot *slots;
};

static struct mx_area mx_self; /* a worker's, set by metrics_attach */

/* The area of a shared memory, if metrics_init laid it out. */
static int
mx_view(struct shm *shm, struct mx_area *a)
{
    struct mx_area v;
    memset(a, 0, sizeof(*a));
    v.base = shm_metrics_area(shm, &v.len);
    if (v.base == NULL || v.len < sizeof(struct mx_hdr))
        return -1;
    v.h = (struct mx_hdr *)v.base;
    if (atomic_load_explicit(&v.h->magic, memory_order_acquire) != MX_MAGIC)
        return -1;
    v.slots = (struct mx_slot *)(v.base + sizeof(struct mx_hdr));
    *a = v;
    return 0;
}

int
metrics_init(struct shm *shm)
{
    size_t len;
    char *base = shm_metrics_area(shm, &len);
    size_t index_end = sizeof(struct mx_hdr) + MX_NSLOTS * sizeof(struct mx_slot);
    if (base == NULL || len < index_end + 65536)
        return -1;
    struct mx_hdr *h = (struct mx_hdr *)base;
    if (atomic_load(&h->magic) == MX_MAGIC)
        return 0; /* laid out already: keep what was counted */
    h->nslots = MX_NSLOTS;
    h->arena = (index_end + 63) & ~(size_t)63;
    h->arena_len = len - h->arena;
    atomic_store(&h->arena_used, 0);
    atomic_store_explicit(&h->magic, MX_MAGIC, memory_order_release);
    return 0;
}

int
metrics_attach(struct shm *shm)
{
    return mx_view(shm, &mx_self);
}

void
metrics_detach(void)
{
    memset(&mx_self, 0, sizeof(mx_self));
}

const char *
metrics_reason_name(enum metrics_reason r)
{
    return r >= 0 && r < MX_UP_NREASONS ? mx_reasons[r] : "other";
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* overlong three- and four-byte forms, surrogates, beyond U+10FFFF */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return len;
}

/*
 * Append a label value to buf at *pos (cap bytes): \\, \" and \n escaped
 * as the text format wants, a byte that is not UTF-8 as U+FFFD. -1 when it
 * does not fit.
 */
static int
escape_value(char *buf, size_t *pos, size_t cap, const char *v)
{
    const unsigned char *p = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)p), at = *pos;
    for (size_t i = 0; i < n;) {
        if (p[i] >= 0x20 && p[i] < 0x80 && p[i] != '\\' && p[i] != '"') {
            if (at + 1 >= cap)
                return -1;
            buf[at++] = (char)p[i++]; /* the common case: printable ASCII */
            continue;
        }
        const char *add;
        size_t alen, step = utf8_len(p + i, n - i);
        char one[4];
        if (step == 0) {
            add = "\xef\xbf\xbd";
            alen = 3;
            step = 1;
        } else if (p[i] == '\\' || p[i] == '"') {
            one[0] = '\\';
            one[1] = (char)p[i];
            add = one;
            alen = 2;
        } else if (p[i] == '\n') {
            add = "\\n";
            alen = 2;
        } else {
            add = (const char *)p + i;
            alen = step;
        }
        if (at + alen >= cap)
            return -1;
        memcpy(buf + at, add, alen);
        at += alen;
        i += step;
    }
    buf[at] = '\0';
    *pos = at;
    return 0;
}

/* name="value",... into buf from (name, value) pairs; -1 when too long. */
static int
label_text(char *buf, size_t cap, int n, const char *const *kv)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t klen = strlen(kv[2 * i]);
        if (pos + klen + 3 >= cap)
            return -1;
        if (i > 0)
            buf[pos++] = ',';
        memcpy(buf + pos, kv[2 * i], klen); /* names are ours: nothing to escape */
        pos += klen;
        buf[pos++] = '=';
        buf[pos++] = '"';
        if (escape_value(buf, &pos, cap, kv[2 * i + 1]) < 0 || pos + 2 >= cap)
            return -1;
        buf[pos++] = '"';
        buf[pos] = '\0';
    }
    return 0;
}

/*
 * A hash of the family and the label text (len bytes), eight bytes at a
 * time (multiply, rotate), with a final mix; never 0. Not for adversaries:
 * label values are configured names.
 */
static uint64_t
mx_hash(int family, const char *labels, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)family << 32) ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, labels + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
    }
    uint64_t tail = 0;
    memcpy(&tail, labels + i, len - i);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

/* The label text, after the counters. */
static const char *
series_labels(const struct mx_series *s)
{
    return (const char *)(s->v + s->nvals);
}

/* Take room in the arena and write the series there; its offset, or MX_OFF_FULL. */
static uint64_t
series_make(struct mx_area *a, int family, const char *labels, size_t len, uint32_t nvals)
{
    size_t need = (sizeof(struct mx_series) + nvals * sizeof(uint64_t) + len + 1 + 7) & ~(size_t)7;
    uint64_t at = atomic_fetch_add(&a->h->arena_used, need);
    if (at + need > a->h->arena_len)
        return MX_OFF_FULL;
    uint64_t off = a->h->arena + at;
    struct mx_series *s = (struct mx_series *)(a->base + off);
    s->family = (uint32_t)family;
    s->nvals = nvals;
    s->llen = (uint32_t)len;
    memcpy((char *)(s->v + nvals), labels, len + 1); /* the counters are zero already */
    return off;
}

/*
 * The series of (family, labels), created when absent; NULL when the area
 * is full (counted).
 */
static struct mx_series *
series_get(struct mx_area *a, int family, const char *labels)
{
    size_t len = strlen(labels);
    uint64_t h = mx_hash(family, labels, len);
    uint64_t n = a->h->nslots;
    uint32_t nvals = mx_families[family].kind == MX_HISTOGRAM ? MX_NB + 2 : 1;
    for (uint64_t i = 0; i < MX_MAX_PROBE && i < n; i++) {
        struct mx_slot *slot = &a->slots[(h + i) % n];
        uint64_t id = atomic_load_explicit(&slot->id, memory_order_acquire);
        if (id == 0) {
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&slot->id, &zero, h)) {
                uint64_t off = series_make(a, family, labels, len, nvals);
                atomic_store_explicit(&slot->off, off, memory_order_release);
                if (off == MX_OFF_FULL)
                    break;
                return (struct mx_series *)(a->base + off);
            }
            id = zero; /* someone else claimed it: for this identity? */
        }
        if (id != h)
            continue;
        uint64_t off = atomic_load_explicit(&slot->off, memory_order_acquire);
        for (int spin = 0; off == 0 && spin < MX_WAIT_SPINS; spin++) {
            if (spin % 100 == 99)
                sched_yield();
            off = atomic_load_explicit(&slot->off, memory_order_acquire);
        }
        if (off == 0 || off == MX_OFF_FULL)
            break;
        struct mx_series *s = (struct mx_series *)(a->base + off);
        if (s->family == (uint32_t)family && s->llen == len &&
            memcmp(series_labels(s), labels, len) == 0)
            return s;
        /* two identities with one hash: go on probing */
    }
    atomic_fetch_add_explicit(&a->h->dropped, 1, memory_order_relaxed);
    return NULL;
}

/* Add delta to the counter of (family, labels). */
static void
count_add(struct mx_area *a, int family, int n, const char *const *kv, uint64_t delta)
{
    char labels[MX_LABELS_MAX];
    if (label_text(labels, sizeof(labels), n, kv) < 0) {
        atomic_fetch_add_explicit(&a->h->dropped, 1, memory_order_relaxed);
        return;
    }
    struct mx_series *s = series_get(a, family, labels);
    if (s != NULL)
        atomic_fetch_add_explicit(&s->v[0], delta, memory_order_relaxed);
}

/* One observation of us microseconds in the histogram of (family, labels). */
static void
observe(struct mx_area *a, int family, int n, const char *const *kv, int64_t us)
{
    char labels[MX_LABELS_MAX];
    if (label_text(labels, sizeof(labels), n, kv) < 0) {
        atomic_fetch_add_explicit(&a->h->dropped, 1, memory_order_relaxed);
        return;
    }
    struct mx_series *s = series_get(a, family, labels);
    if (s == NULL)
        return;
    if (us < 0)
        us = 0;
    int b = 0;
    while (b < MX_NB && us > mx_bounds_us[b])
        b++;
    if (b < MX_NB)
        atomic_fetch_add_explicit(&s->v[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->v[MX_NB], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->v[MX_NB + 1], (uint64_t)us, memory_order_relaxed);
}

void
metrics_request(const struct metrics_request *r)
{
    struct mx_area *a = &mx_self;
    char status[16];
    if (a->h == NULL)
        return;
    const char *model = r->model ? r->model : "";
    snprintf(status, sizeof(status), "%d", r->status);
    const char *req[] = {"model",    model,
                         "provider", r->provider ? r->provider : "",
                         "target",   r->target ? r->target : "",
                         "status",   status};
    count_add(a, F_REQUESTS, 4, req, 1);
    const char *m[] = {"model", model};
    observe(a, F_REQ_DURATION, 1, m, r->duration_us);
    if (r->ttft_us > 0)
        observe(a, F_TTFT, 1, m, r->ttft_us);
    if (r->prompt_tokens > 0) {
        const char *t[] = {"model", model, "type", "prompt"};
        count_add(a, F_TOKENS, 2, t, (uint64_t)r->prompt_tokens);
    }
    if (r->completion_tokens > 0) {
        const char *t[] = {"model", model, "type", "completion"};
        count_add(a, F_TOKENS, 2, t, (uint64_t)r->completion_tokens);
    }
}

void
metrics_upstream(const char *model, const char *provider, const char *target, int64_t duration_us,
                 enum metrics_reason reason)
{
    struct mx_area *a = &mx_self;
    if (a->h == NULL)
        return;
    const char *d[] = {"model",  model ? model : "",  "provider", provider ? provider : "",
                       "target", target ? target : ""};
    observe(a, F_UP_DURATION, 3, d, duration_us);
    if (reason != MX_UP_OK) {
        const char *e[] = {"model",  model ? model : "",         "target", target ? target : "",
                           "reason", metrics_reason_name(reason)};
        count_add(a, F_UP_ERRORS, 3, e, 1);
    }
}

void
metrics_tls_handshake(const char *listener, const char *failure)
{
    struct mx_area *a = &mx_self;
    if (a->h == NULL)
        return;
    const char *kv[] = {"listener", listener, "result", failure ? failure : "ok"};
    count_add(a, F_TLS_HANDSHAKES, 2, kv, 1);
}

void
metrics_tls_expiry(const char *listener, const char *cert_file, int64_t not_after)
{
    struct mx_area *a = &mx_self;
    char labels[MX_LABELS_MAX];
    const char *kv[] = {"listener", listener, "certificate", cert_file};
    if (a->h == NULL || label_text(labels, sizeof(labels), 2, kv) < 0)
        return;
    struct mx_series *s = series_get(a, F_TLS_EXPIRY, labels);
    if (s != NULL)
        atomic_store_explicit(&s->v[0], (uint64_t)(not_after > 0 ? not_after : 0),
                              memory_order_relaxed);
}

void
metrics_jwt_refused(const char *reason)
{
    struct mx_area *a = &mx_self;
    if (a->h == NULL || reason == NULL)
        return;
    const char *kv[] = {"reason", reason};
    count_add(a, F_JWT_REFUSED, 1, kv, 1);
}

void
metrics_ratelimit(enum metrics_scope scope, const char *model)
{
    if (mx_self.h == NULL || scope < 0 || scope >= MX_RL_NSCOPES)
        return;
    const char *kv[] = {"model", model ? model : "", "scope", mx_scopes[scope]};
    count_add(&mx_self, F_RL_REJECTED, 2, kv, 1);
}

const char *
metrics_stream_error_name(enum metrics_stream_error why)
{
    return why >= 0 && why < MX_SE_N ? mx_stream_errors[why] : "other";
}

void
metrics_stream_error(const char *model, enum metrics_stream_error why)
{
    if (mx_self.h == NULL || why < 0 || why >= MX_SE_N)
        return;
    const char *kv[] = {"model", model ? model : "", "reason", mx_stream_errors[why]};
    count_add(&mx_self, F_STREAM_ERRORS, 2, kv, 1);
}

/* Store v in the gauge of (family, no labels) of area a. */
static void
gauge_set(struct mx_area *a, int family, uint64_t v)
{
    struct mx_series *s = series_get(a, family, "");
    if (s != NULL)
        atomic_store_explicit(&s->v[0], v, memory_order_relaxed);
}

void
metrics_config_loaded(struct shm *shm, int64_t now_ms)
{
    struct mx_area a;
    if (mx_view(shm, &a) < 0)
        return;
    const char *ok[] = {"result", "success"}, *bad[] = {"result", "failure"};
    count_add(&a, F_RELOADS, 1, ok, 0); /* both results are listed from the start */
    count_add(&a, F_RELOADS, 1, bad, 0);
    gauge_set(&a, F_RELOAD_OK, 1);
    gauge_set(&a, F_RELOAD_SUCCESS_TIME, (uint64_t)(now_ms > 0 ? now_ms : 0));
}

void
metrics_reload(struct shm *shm, int ok, int64_t now_ms)
{
    struct mx_area a;
    if (mx_view(shm, &a) < 0)
        return;
    const char *kv[] = {"result", ok ? "success" : "failure"};
    count_add(&a, F_RELOADS, 1, kv, 1);
    gauge_set(&a, F_RELOAD_OK, ok ? 1 : 0);
    if (ok)
        gauge_set(&a, F_RELOAD_SUCCESS_TIME, (uint64_t)(now_ms > 0 ? now_ms : 0));
}

void
metrics_accept_paused(enum metrics_pause why)
{
    if (mx_self.h != NULL && why >= 0 && why < MX_PAUSE_N)
        atomic_fetch_add_explicit(&mx_self.h->accept_paused[why], 1, memory_order_relaxed);
}

void
metrics_worker_start_failed(struct shm *shm, const char *reason)
{
    struct mx_area a;
    if (mx_view(shm, &a) < 0)
        return;
    const char *kv[] = {"reason", reason};
    count_add(&a, F_WORKER_START_FAILED, 1, kv, 1);
}

void
metrics_vertex_refresh(struct shm *shm, int ok)
{
    struct mx_area a;
    if (shm == NULL || mx_view(shm, &a) < 0)
        return;
    const char *kv[] = {"result", ok ? "success" : "failure"};
    count_add(&a, F_VERTEX_REFRESH, 1, kv, 1);
}

void
metrics_worker_restart(struct shm *shm)
{
    struct mx_area a;
    if (mx_view(shm, &a) == 0)
        atomic_fetch_add_explicit(&a.h->worker_restarts, 1, memory_order_relaxed);
}

/* ---- rendering (master) ---- */

void
metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    /* HELP text escapes only \\ and \n; ours have neither */
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
metrics_label_value(struct evbuffer *out, const char *v)
{
    char buf[MX_LABELS_MAX];
    size_t pos = 0;
    if (escape_value(buf, &pos, sizeof(buf), v) < 0)
        evbuffer_add(out, "\xef\xbf\xbd", 3); /* cannot happen with configured names */
    else
        evbuffer_add(out, buf, pos);
}

/* A number as the text format writes it: integers without a fraction. */
static void
add_number(struct evbuffer *out, double v)
{
    if (v == (double)(int64_t)v && v > -9007199254740992.0 && v < 9007199254740992.0)
        evbuffer_add_printf(out, "%lld", (long long)v);
    else
        evbuffer_add_printf(out, "%.3f", v);
}

void
metrics_sample(struct evbuffer *out, const char *name, const char *label, const char *lvalue,
               double value)
{
    evbuffer_add_printf(out, "%s", name);
    if (label != NULL) {
        evbuffer_add_printf(out, "{%s=\"", label);
        metrics_label_value(out, lvalue);
        evbuffer_add(out, "\"}", 2);
    }
    evbuffer_add(out, " ", 1);
    add_number(out, value);
    evbuffer_add(out, "\n", 1);
}

/* qsort: by label text. */
static int
series_cmp(const void *x, const void *y)
{
    const struct mx_series *a = *(const struct mx_series *const *)x;
    const struct mx_series *b = *(const struct mx_series *const *)y;
    return strcmp(series_labels(a), series_labels(b));
}

/* One histogram series: cumulative buckets, +Inf, sum and count. */
static void
render_histogram(struct evbuffer *out, const char *name, const struct mx_series *s)
{
    const char *l = series_labels(s);
    const char *sep = l[0] ? "," : "";
    uint64_t cum = 0;
    for (int b = 0; b < MX_NB; b++) {
        cum += atomic_load_explicit(&s->v[b], memory_order_relaxed);
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, l, sep, mx_bounds_txt[b],
                            (unsigned long long)cum);
    }
    uint64_t count = atomic_load_explicit(&s->v[MX_NB], memory_order_relaxed);
    uint64_t sum = atomic_load_explicit(&s->v[MX_NB + 1], memory_order_relaxed);
    /* read while workers count: never let +Inf fall below a finite bucket */
    if (count < cum)
        count = cum;
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep,
                        (unsigned long long)count);
    const char *o = l[0] ? "{" : "", *c = l[0] ? "}" : "";
    evbuffer_add_printf(out, "%s_sum%s%s%s %llu.%06llu\n", name, o, l, c,
                        (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
    evbuffer_add_printf(out, "%s_count%s%s%s %llu\n", name, o, l, c, (unsigned long long)count);
}

/* One counter or gauge series (ms: milliseconds kept, seconds written). */
static void
render_counter(struct evbuffer *out, const char *name, const struct mx_series *s, int ms)
{
    const char *l = series_labels(s);
    unsigned long long v = atomic_load_explicit(&s->v[0], memory_order_relaxed);
    evbuffer_add_printf(out, "%s%s%s%s ", name, l[0] ? "{" : "", l, l[0] ? "}" : "");
    if (ms)
        evbuffer_add_printf(out, "%llu.%03llu\n", v / 1000, v % 1000);
    else
        evbuffer_add_printf(out, "%llu\n", v);
}

/* Every published series, grouped by family and sorted by labels; NULL on no memory. */
static struct mx_series **
collect(struct mx_area *a, size_t counts[F_N], size_t *total)
{
    size_t n = 0, cap = 256;
    struct mx_series **all = malloc(cap * sizeof(*all));
    if (all == NULL)
        return NULL;
    for (uint64_t i = 0; i < a->h->nslots; i++) {
        if (atomic_load_explicit(&a->slots[i].id, memory_order_acquire) == 0)
            continue;
        uint64_t off = atomic_load_explicit(&a->slots[i].off, memory_order_acquire);
        if (off <= MX_OFF_FULL)
            continue;
        struct mx_series *s = (struct mx_series *)(a->base + off);
        if (s->family >= F_N)
            continue;
        if (n == cap) {
            struct mx_series **na = realloc(all, 2 * cap * sizeof(*all));
            if (na == NULL) {
                free(all);
                return NULL;
            }
            all = na;
            cap *= 2;
        }
        all[n++] = s;
    }
    /* counting sort by family, then by labels within each */
    struct mx_series **sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (sorted == NULL) {
        free(all);
        return NULL;
    }
    memset(counts, 0, F_N * sizeof(counts[0]));
    for (size_t i = 0; i < n; i++)
        counts[all[i]->family]++;
    size_t start[F_N], at = 0;
    for (int f = 0; f < F_N; f++) {
        start[f] = at;
        at += counts[f];
    }
    for (size_t i = 0; i < n; i++)
        sorted[start[all[i]->family]++] = all[i];
    at = 0;
    for (int f = 0; f < F_N; f++) {
        qsort(sorted + at, counts[f], sizeof(*sorted), series_cmp);
        at += counts[f];
    }
    free(all);
    *total = n;
    return sorted;
}

void
metrics_render(struct shm *shm, struct evbuffer *out)
{
    struct mx_area a;
    size_t counts[F_N], total = 0;
    if (mx_view(shm, &a) < 0)
        return;
    struct mx_series **list = collect(&a, counts, &total);
    size_t at = 0;
    for (int f = 0; f < F_N; f++) {
        const struct mx_family *fam = &mx_families[f];
        metrics_family(out, fam->name,
                       fam->kind == MX_HISTOGRAM ? "histogram"
                       : fam->kind               ? "gauge"
                                                 : "counter",
                       fam->help);
        for (size_t i = 0; list != NULL && i < counts[f]; i++, at++) {
            const struct mx_series *s = list[at];
            if (fam->kind == MX_HISTOGRAM)
                render_histogram(out, fam->name, s);
            else
                render_counter(out, fam->name, s, fam->kind == MX_GAUGE_MS);
        }
    }
    free(list);
    metrics_family(out, "aigw_worker_restarts_total", "counter",
                   "Workers that died and were restarted by the master.");
    metrics_sample(out, "aigw_worker_restarts_total", NULL, NULL,
                   (double)atomic_load_explicit(&a.h->worker_restarts, memory_order_relaxed));
    static const char *const pause_reasons[MX_PAUSE_N] = {"max_connections", "descriptors"};
    metrics_family(out, "aigw_accept_paused_total", "counter",
                   "Times a worker stopped accepting connections for a while: "
                   "limits.max_connections reached, or out of file descriptors.");
    for (int i = 0; i < MX_PAUSE_N; i++)
        metrics_sample(out, "aigw_accept_paused_total", "reason", pause_reasons[i],
                       (double)atomic_load_explicit(&a.h->accept_paused[i], memory_order_relaxed));
    metrics_family(out, "aigw_metrics_series_dropped_total", "counter",
                   "Observations lost because the shared-memory metrics area is full.");
    metrics_sample(out, "aigw_metrics_series_dropped_total", NULL, NULL,
                   (double)atomic_load_explicit(&a.h->dropped, memory_order_relaxed));
}
