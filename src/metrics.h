/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h: Prometheus metrics kept in the shared-memory metrics area
 * (shm_metrics_area). Workers count into it with atomic operations, no lock
 * and no message to anyone; the master renders the sum of every worker
 * (there is nothing to sum: each series is one set of shared counters) on
 * GET /metrics (metrics_http.c).
 *
 * A series is an entry claimed by compare-and-swap on the hash of its
 * identity (family and label text) in an open-addressed index, with its
 * counters and label text in an arena that only grows. The label text is
 * written before the entry is published with a release store, so whoever
 * sees it published sees it whole. When the area is full, new series are
 * dropped and counted (aigw_metrics_series_dropped_total); nothing fails.
 *
 * Label values come from the configuration only (model and target names,
 * provider names, status codes, fixed reasons): cardinality is bounded by
 * what the operator configured, never by what a client sends.
 */
#ifndef AIGW_METRICS_H
#define AIGW_METRICS_H

#include <stdint.h>

struct shm;
struct evbuffer;

/* Why an upstream attempt failed (aigw_upstream_errors_total{reason}). */
enum metrics_reason {
    MX_UP_OK = 0,    /* not an error: only the duration is observed */
    MX_UP_CONNECT,   /* connect_error: refused, unreachable, DNS */
    MX_UP_TIMEOUT,   /* timeout: connect, first byte, idle stream or total */
    MX_UP_TLS,       /* tls_error */
    MX_UP_RESET,     /* reset: the connection broke or closed mid-answer */
    MX_UP_TRUNCATED, /* truncated: a stream that ended without [DONE] */
    MX_UP_TOO_LARGE, /* too_large: beyond limits.max_response_size */
    MX_UP_429,       /* status_429 */
    MX_UP_5XX,       /* status_5xx */
    MX_UP_4XX,       /* status_4xx: other client errors (a wrong provider key: 401) */
    MX_UP_NREASONS
};

/* Who refused a request (aigw_ratelimit_rejections_total{model,scope}). */
enum metrics_scope { MX_RL_KEY = 0, MX_RL_MODEL, MX_RL_UNAVAILABLE, MX_RL_NSCOPES };

/*
 * Why a stream that began with 200 ended with an error instead of its end
 * (aigw_stream_errors_total{model,reason}); aigw-metrics(7) lists them.
 */
enum metrics_stream_error {
    MX_SE_UPSTREAM_ERROR = 0, /* upstream_error: the upstream sent an error event */
    MX_SE_DISCONNECTED,       /* upstream_disconnected: its connection broke */
    MX_SE_IDLE_TIMEOUT,       /* idle_timeout: no event within stream_idle */
    MX_SE_TOTAL_TIMEOUT,      /* total_timeout: timeouts.total passed */
    MX_SE_TRUNCATED,          /* truncated: it ended without its terminator */
    MX_SE_BAD_EVENT,          /* bad_event: an event not of its API, or beyond 8 MiB */
    MX_SE_CLIENT_CLOSED,      /* client_closed: the client went away */
    MX_SE_SHUTDOWN,           /* shutdown: the worker stopped before the stream ended */
    MX_SE_N
};

/* What the end of one client request tells the metrics. */
struct metrics_request {
    const char *model;    /* the configured model's name; NULL or "": none (unknown) */
    const char *provider; /* of the target that answered; NULL: none */
    const char *target;   /* the target that answered; NULL: none */
    int status;           /* the HTTP status the client got (499: it left) */
    int64_t duration_us;  /* from the request's first byte to its end */
    int64_t ttft_us;      /* to the first streamed byte; 0: not a stream, or none */
    int64_t prompt_tokens, completion_tokens;
};

/* Master, before the workers start: lay the area out (it is zeroed at creation). */
int metrics_init(struct shm *shm);

/*
 * Worker: count into this shared memory from now on (0, or -1 when the
 * master laid out no area: the calls below then do nothing).
 */
int metrics_attach(struct shm *shm);
void metrics_detach(void);
/* One finished client request. */
void metrics_request(const struct metrics_request *r);
/* One finished upstream attempt (its duration; its failure reason, or MX_UP_OK). */
void metrics_upstream(const char *model, const char *provider, const char *target,
                      int64_t duration_us, enum metrics_reason reason);
/* A bearer JWT refused; reason is one of jwt.c's and jwtauth.c's static codes. */
void metrics_jwt_refused(const char *reason);
/*
 * One request refused by a limit, or because the limiter could not answer;
 * model is the configured model it asked for (limits are checked only once
 * the model was found in the table, so a client cannot choose the label).
 */
void metrics_ratelimit(enum metrics_scope scope, const char *model);
/* A stream of a configured model that began with 200 ended with an error. */
void metrics_stream_error(const char *model, enum metrics_stream_error why);
const char *metrics_stream_error_name(enum metrics_stream_error why);
/* Why a worker stopped accepting for a while (aigw_accept_paused_total{reason}). */
enum metrics_pause { MX_PAUSE_CONNECTIONS = 0, MX_PAUSE_DESCRIPTORS, MX_PAUSE_N };
/* A worker paused accepting. */
void metrics_accept_paused(enum metrics_pause why);
const char *metrics_reason_name(enum metrics_reason r);
/* A TLS handshake on an HTTPS listener ended: failure NULL (ok), or a fixed word. */
void metrics_tls_handshake(const char *listener, const char *failure);
/* The expiry of a listener's certificate (its file), as the process that serves it loaded it. */
void metrics_tls_expiry(const char *listener, const char *cert_file, int64_t not_after);

/*
 * Master: the configuration was loaded at start (ok, now: as Prometheus
 * does, the start is a successful load; both results of the reload counter
 * exist from then on), or a reload ended (ok or not) at now_ms.
 */
void metrics_config_loaded(struct shm *shm, int64_t now_ms);
void metrics_reload(struct shm *shm, int ok, int64_t now_ms);
/* Master: a worker died and is restarted. */
void metrics_worker_restart(struct shm *shm);
/* Master: a worker did not start (reason "exec" or "exited_early"). */
void metrics_worker_start_failed(struct shm *shm, const char *reason);
/* Master: a Vertex AI access token fetch ended (vtokenfetch.c). */
void metrics_vertex_refresh(struct shm *shm, int ok);

/* Master: every family kept in the area, in Prometheus text format 0.0.4. */
void metrics_render(struct shm *shm, struct evbuffer *out);
/* Text format helpers for the master's own families. */
void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help);
/* A label value, escaped (\\, \", \n) and made valid UTF-8. */
void metrics_label_value(struct evbuffer *out, const char *v);
/* "name value\n", or "name{k="v"} value\n" when label is not NULL. */
void metrics_sample(struct evbuffer *out, const char *name, const char *label, const char *lvalue,
                    double value);

#endif
