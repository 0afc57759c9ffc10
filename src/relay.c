/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relay.c: the upstream half of the worker's pipeline: choose a target
 * (balance.c), have its provider build the request (provider.h), send it
 * (upstream.c), hand the answer to answer.c (buffered JSON, or SSE events
 * one by one as they arrive), and on a retryable failure try the next
 * target, as long as no byte has reached the client.
 *
 * A stream's status line goes out with its first event, not with the
 * upstream's headers, so an upstream that answers 200 and dies before its
 * first event can still be retried elsewhere.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>

#include "access.h"
#include "aigw/conf.h"
#include "log.h"
#include "aigw/resource.h"
#include "sse.h"
#include "aigw/util.h"
#include "breaker.h"
#include "messages.h"
#include "http.h"
#include "metrics.h"
#include "pxreq.h"

#define SSE_MAX_EVENT (8 << 20)

static void finish(struct pxreq *q, CURLcode rc);
static int can_serve(struct pxreq *q, int t);

static void
arm_timer(struct pxreq *q, int64_t ms)
{
    struct timeval tv = tv_ms(ms);
    evtimer_add(q->timer, &tv);
}

/* The target of the attempt in progress. */
static const struct target_view *
target(const struct pxreq *q)
{
    return &q->mv.t[q->a.target];
}

/* Tell the target's breaker how the attempt went, once. */
static void
judge(struct pxreq *q, int ok)
{
    if (q->a.judged)
        return;
    q->a.judged = 1;
    if (breaker_result(q->bal.tslot[q->a.target], &q->mv, ok, q->a.probe, now_mono_ms()))
        log_warnx("circuit breaker of model %s target %s opened after %d failures in a row",
                  q->mv.name, target(q)->name, q->mv.breaker_failures);
}

/* First-byte or stream-idle timeout: stop the transfer and answer 504 / an error event. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pxreq *q = arg;
    q->a.timed_out = 1;
    upstream_cancel(q->px->up, &q->a.xfer);
    finish(q, CURLE_OPERATION_TIMEDOUT);
}

/* One upstream SSE event: answer.c accounts, translates and forwards it. */
static int
on_sse_event(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    struct pxreq *q = arg;
    answer_stream_event(q, event, evlen, data, len);
    return q->a.bad_event ? -1 : 0; /* stop the transfer on a stream we cannot read */
}

/* The upstream's status and headers are complete: decide how to relay. */
static void
on_headers_done(struct pxreq *q)
{
    char *ctype = NULL;
    struct attempt *a = &q->a;
    a->headers_done = 1;
    curl_easy_getinfo(a->xfer.easy, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_getinfo(a->xfer.easy, CURLINFO_CONTENT_TYPE, &ctype);
    int sse = q->stream && a->status == 200 && ctype != NULL &&
              strncasecmp(ctype, "text/event-stream", 17) == 0;
    /*
     * An answer that is not a reason to fall back is what the breaker calls
     * healthy. A stream is judged when it ends (one that breaks mid-way is a
     * failure, and breaks in a row must add up), except the half-open
     * probe: its verdict must not wait for a long stream to end.
     */
    if (!model_falls_back_on(&q->mv, a->status) && (!sse || a->probe))
        judge(q, 1);
    if (sse) {
        a->is_sse = 1;
        sse_init(&a->sse, SSE_MAX_EVENT);
        a->sse_ready = 1;
        answer_stream_setup(q);
        if (a->prov->stream_begin != NULL && a->prov->stream_begin(&a->ps) < 0)
            a->bad_event = 1;
        arm_timer(q, q->idle_ms);
    } else {
        evtimer_del(q->timer);
    }
}

static size_t
header_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct pxreq *q = arg;
    size_t len = size * n;
    if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long code = 0;
        curl_easy_getinfo(q->a.xfer.easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200) /* not an interim 1xx block */
            on_headers_done(q);
    } else if (len > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
        size_t vlen = len - 12;
        const char *v = buf + 12;
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        snprintf(q->a.retry_after, sizeof(q->a.retry_after), "%.*s", (int)vlen, v);
    }
    return len;
}

static size_t
write_cb(char *buf, size_t size, size_t n, void *arg)
{
    struct pxreq *q = arg;
    size_t len = size * n;
    if (q->a.is_sse) {
        /* Backpressure: a slow client pauses the upstream rather than grow our memory. */
        if (http_stream_pending(q->r) > HTTP_OUT_HIGH) {
            q->a.paused = 1;
            evtimer_del(q->timer); /* a slow reader is not an idle upstream */
            return CURL_WRITEFUNC_PAUSE;
        }
        arm_timer(q, q->idle_ms);
        if (sse_feed(&q->a.sse, buf, len, on_sse_event, q) != 0)
            return 0; /* an event beyond SSE_MAX_EVENT: fail the transfer */
        return len;
    }
    if (evbuffer_get_length(q->resp) + len > q->px->conf->max_response_size) {
        q->a.too_large = 1;
        return 0;
    }
    evbuffer_add(q->resp, buf, len);
    return len;
}

/* Release what the attempt holds, ready for the next one. */
static void
attempt_clear(struct pxreq *q)
{
    struct attempt *a = &q->a;
    if (a->xfer.easy != NULL) {
        upstream_cancel(q->px->up, &a->xfer);
        upstream_easy_put(q->px->up, a->xfer.easy);
    }
    prov_http_free(&a->http);
    if (a->ps.call != NULL)
        prov_stream_free(&a->ps);
    if (a->sse_ready)
        sse_free(&a->sse);
    evbuffer_drain(q->resp, evbuffer_get_length(q->resp));
    memset(a, 0, sizeof(*a));
}

void
relay_cancel(struct pxreq *q)
{
    if (q->timer != NULL)
        evtimer_del(q->timer);
    attempt_clear(q);
}

void
relay_abandon(struct pxreq *q)
{
    if (q->attempts > 0 && q->a.probe && !q->a.judged)
        breaker_abandon(q->bal.tslot[q->a.target]);
}

/* The curl error as a client status, error code and message. */
static int
map_error(struct pxreq *q, CURLcode rc, const char **code, const char **msg)
{
    if (q->a.timed_out || rc == CURLE_OPERATION_TIMEDOUT) {
        *code = "upstream_timeout";
        *msg = q->a.headers_done ? "The upstream stopped sending in time"
                                 : "The upstream did not answer in time";
        return 504;
    }
    if (q->a.bad_event) {
        *code = "upstream_bad_response";
        *msg = "The upstream sent a stream event that is not its API's";
        return 502;
    }
    if (q->a.too_large) {
        *code = "upstream_response_too_large";
        *msg = "The upstream response exceeds limits.max_response_size";
        return 502;
    }
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *code = "upstream_unreachable";
        *msg = "Could not connect to the upstream";
        return 502;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        *code = "upstream_tls_error";
        *msg = "TLS with the upstream failed (certificate verification or handshake)";
        return 502;
    default:
        *code = "upstream_error";
        *msg = curl_easy_strerror(rc);
        return 502;
    }
}

/*
 * Is this outcome a reason to try another target (the fallback_on classes)?
 * Only asked while nothing has reached the client.
 */
static int
retryable(struct pxreq *q, CURLcode rc)
{
    if (q->a.timed_out || rc == CURLE_OPERATION_TIMEDOUT)
        return (q->mv.fallback & FALLBACK_TIMEOUT) != 0;
    if (q->a.too_large || q->a.bad_event || rc == CURLE_WRITE_ERROR)
        return 0;
    if (q->a.is_sse && q->a.ps.error_status != 0) /* an error event before the first byte */
        return model_falls_back_on(&q->mv, q->a.ps.error_status);
    if (rc != CURLE_OK || (q->a.is_sse && !q->a.ps.done))
        /* refused, reset, TLS, or closed before a complete answer */
        return (q->mv.fallback & FALLBACK_CONNECT) != 0;
    return !q->a.is_sse && model_falls_back_on(&q->mv, q->a.status);
}

/* An upstream 429 with Retry-After: seconds rests the target for every worker. */
static void
rest_target(struct pxreq *q)
{
    char *end;
    long secs;
    if (q->a.status != 429 || q->a.retry_after[0] == '\0')
        return;
    secs = strtol(q->a.retry_after, &end, 10);
    if (*end != '\0' || secs <= 0)
        return; /* an HTTP date, or nonsense: no rest */
    if (secs > 3600)
        secs = 3600;
    breaker_rest(q->bal.tslot[q->a.target], now_mono_ms() + secs * 1000);
}

/*
 * Why a stream that began ended badly (aigw_stream_errors_total), in the
 * order deliver_stream_end tells the client; MX_SE_N when it ended well.
 */
static enum metrics_stream_error
stream_error_reason(const struct pxreq *q, CURLcode rc)
{
    const struct attempt *a = &q->a;
    if (a->ps.error_status != 0)
        return MX_SE_UPSTREAM_ERROR;
    if (a->timed_out) /* our timer: after the headers, the one between events */
        return MX_SE_IDLE_TIMEOUT;
    if (rc == CURLE_OPERATION_TIMEDOUT) /* libcurl's: timeouts.total */
        return MX_SE_TOTAL_TIMEOUT;
    if (a->bad_event || rc == CURLE_WRITE_ERROR) /* not its API's, or beyond SSE_MAX_EVENT */
        return MX_SE_BAD_EVENT;
    if (rc != CURLE_OK)
        return MX_SE_DISCONNECTED;
    if (!a->ps.done)
        return MX_SE_TRUNCATED;
    return MX_SE_N;
}

/* A stream that began and then ended: well, with an error event, broken or cut short. */
static void
deliver_stream_end(struct pxreq *q, CURLcode rc)
{
    const char *code, *msg;
    struct attempt *a = &q->a;
    struct json_object *e;
    enum metrics_stream_error why = stream_error_reason(q, rc);
    if (why != MX_SE_N)
        metrics_stream_error(q->mv.name, why);
    if (a->ps.error_status != 0) {
        if (a->raw) { /* the client has the upstream's own error event */
            pxreq_note(q, "upstream_stream_error");
            http_stream_end(q->r);
            return;
        }
        msg = json_object_object_get_ex(a->ps.error, "error", &e) &&
                      json_object_object_get_ex(e, "message", &e)
                  ? json_object_get_string(e)
                  : "The upstream failed mid-stream";
        answer_stream_fail(q, a->ps.error_status, "upstream_error", "upstream_stream_error", msg);
    } else if (rc != CURLE_OK && map_error(q, rc, &code, &msg) != 504 && !a->bad_event) {
        char buf[256];
        snprintf(buf, sizeof(buf), "The upstream connection broke mid-stream: %s",
                 curl_easy_strerror(rc));
        answer_stream_fail(q, 502, "upstream_error", "upstream_disconnected", buf);
    } else if (rc != CURLE_OK) {
        int status = map_error(q, rc, &code, &msg);
        answer_stream_fail(q, status, "upstream_error", code, msg);
    } else if (!a->ps.done) {
        answer_stream_fail(q, 502, "upstream_error", "upstream_stream_truncated",
                           "The upstream ended the stream before its end");
    } else {
        pxreq_note(q, NULL);
        q->answered = 1;
        http_stream_end(q->r);
    }
}

/* Answer the client with the outcome of the last attempt. */
static void
deliver(struct pxreq *q, CURLcode rc)
{
    const char *code, *msg;
    if (q->a.is_sse && http_resp_started(q->r)) {
        deliver_stream_end(q, rc);
    } else if (rc != CURLE_OK) {
        int status = map_error(q, rc, &code, &msg);
        answer_route_headers(q);
        pxreq_note(q, code);
        http_reply_error(q->r, status, "upstream_error", code, NULL, "%s", msg);
    } else if (q->a.is_sse && q->a.ps.error_status != 0) {
        answer_route_headers(q);
        answer_error(q, q->a.ps.error_status, q->a.ps.error);
    } else if (q->a.is_sse) {
        answer_route_headers(q);
        pxreq_note(q, "upstream_stream_truncated");
        http_reply_error(q->r, 502, "upstream_error", "upstream_stream_truncated", NULL,
                         "The upstream ended the stream before its first event");
    } else {
        answer_buffered(q);
    }
}

/* Why an attempt failed, for aigw_upstream_errors_total; MX_UP_OK when it did not. */
static enum metrics_reason
attempt_reason(const struct pxreq *q, CURLcode rc)
{
    const struct attempt *a = &q->a;
    if (a->timed_out || rc == CURLE_OPERATION_TIMEDOUT)
        return MX_UP_TIMEOUT;
    if (a->too_large)
        return MX_UP_TOO_LARGE;
    switch (rc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return MX_UP_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        return MX_UP_TLS;
    case CURLE_WRITE_ERROR:
        return a->is_sse ? MX_UP_TRUNCATED : MX_UP_RESET; /* an event beyond the limit */
    default:
        return MX_UP_RESET; /* recv/send failure, empty reply, partial body */
    }
    if (a->status == 429)
        return MX_UP_429;
    if (a->status >= 500)
        return MX_UP_5XX;
    if (a->status >= 400)
        return MX_UP_4XX;
    if (a->is_sse && a->ps.error_status != 0)
        return a->ps.error_status == 429   ? MX_UP_429
               : a->ps.error_status >= 500 ? MX_UP_5XX
                                           : MX_UP_4XX;
    if (a->bad_event || (a->is_sse && !a->ps.done))
        return MX_UP_TRUNCATED;
    return MX_UP_OK;
}

/* The transfer ended (or was stopped by our timer): retry elsewhere, or answer. */
static void
finish(struct pxreq *q, CURLcode rc)
{
    evtimer_del(q->timer);
    /* A provider whose stream has no terminator (Gemini) finishes when the upstream closes. */
    if (q->a.is_sse && rc == CURLE_OK && !q->a.ps.done && q->a.ps.error_status == 0 &&
        !q->a.bad_event && q->a.prov->stream_close != NULL)
        q->a.prov->stream_close(&q->a.ps);
    if (q->a.is_sse)
        answer_usage(q, &q->a.ps.usage);
    metrics_upstream(q->mv.name, provider_name(target(q)->provider), target(q)->name,
                     now_mono_us() - q->a.start_us, attempt_reason(q, rc));
    q->acc->upstream_status = q->a.status;
    int started = http_resp_started(q->r);
    int again = !started && retryable(q, rc);
    int broke = started && (rc != CURLE_OK || !q->a.ps.done || q->a.ps.error_status != 0);
    rest_target(q); /* any 429 with Retry-After, whether or not it falls back */
    if (again || broke) {
        q->a.judged = 0; /* a probe's 200 that then broke was judged healthy too soon */
        judge(q, 0);
    } else if (rc == CURLE_OK) {
        judge(q, 1); /* a stream that ended well */
    }
    if (again && q->attempts < q->max_attempts) {
        log_debug("request %s: target %s of model %s failed (%s, status %ld); trying another",
                  http_req_id(q->r), target(q)->name, q->mv.name,
                  rc != CURLE_OK ? curl_easy_strerror(rc) : "answer", q->a.status);
        struct balance saved = q->bal;
        int t = balance_pick(q->px->shm, &q->mv, &q->bal, now_mono_ms());
        /* a target that cannot serve this request would hide the failure behind a 400 */
        if (t >= 0 && can_serve(q, t)) {
            attempt_clear(q);
            q->a.target = t;
            q->a.probe = q->bal.probe;
            if (relay_start(q) == 0)
                return;
            pxreq_free(q); /* relay_start answered */
            return;
        }
        if (t >= 0 && q->bal.probe)
            breaker_abandon(q->bal.tslot[t]); /* the half-open probe it claimed goes unused */
        q->bal = saved; /* nothing else to try: the client gets this outcome */
    }
    deliver(q, rc);
    pxreq_free(q);
}

static void
xfer_done(struct upstream_xfer *x, CURLcode rc)
{
    struct pxreq *q = (struct pxreq *)((char *)x - offsetof(struct pxreq, a.xfer));
    finish(q, rc);
}

/* The route a client used, for messages. */
static const char *
op_route(enum prov_op op)
{
    static const char *const r[OP_N] = {"chat completions", "completions", "embeddings",
                                        "token counting"};
    return r[op];
}

/*
 * The upstream request of the attempt, from its provider: the client's
 * body when the client speaks the target's dialect, else the internal
 * OpenAI shape (an Anthropic client's made once). 0, or -1 after a 400.
 */
static int
build_attempt(struct pxreq *q)
{
    struct attempt *a = &q->a;
    const struct target_view *t = target(q);
    struct json_object *body = q->body;
    char err[512];
    if (t->credential_missing) { /* its credential was deleted, or never written */
        pxreq_note(q, "credential_missing");
        http_reply_error(q->r, 500, "server_error", "credential_missing", NULL,
                         "Model `%s` target `%s` names credential `%s`, %s", q->mv.name, t->name,
                         t->credential,
                         t->credential_missing == CRED_UNFIT
                             ? "whose provider takes the model as a URL path segment, which it "
                               "cannot be (letters, digits, '.', '_', '-')"
                             : "which does not exist");
        return -1;
    }
    a->prov = provider_get(t->provider);
    if (a->prov == NULL || !(a->prov->ops & OP_BIT(q->op))) {
        pxreq_note(q, "unsupported_by_provider");
        http_reply_error(q->r, 400, "invalid_request_error", "unsupported_by_provider", NULL,
                         "Model `%s` is served by target `%s` (provider %s), which offers no %s",
                         q->mv.name, t->name, provider_name(t->provider), op_route(q->op));
        return -1;
    }
    a->native = a->prov->own == q->front;
    a->raw = a->native && q->front != DIALECT_OPENAI;
    if (!a->native && q->front == DIALECT_ANTHROPIC) {
        if (q->obody == NULL && (q->obody = msg_to_openai(q->body, err, sizeof(err))) == NULL)
            goto bad;
        body = q->obody;
    }
    a->call.t = t;
    a->call.op = q->op;
    a->call.stream = q->stream;
    a->call.native = a->native;
    if (a->native) {
        struct evbuffer *b = http_req_body(q->r);
        a->call.rawlen = evbuffer_get_length(b);
        a->call.raw = (const char *)evbuffer_pullup(b, -1);
    }
    a->call.request_id = http_req_id(q->r);
    a->call.anthropic_version = http_req_header(q->r, "anthropic-version");
    a->call.anthropic_beta = http_req_header(q->r, "anthropic-beta");
    err[0] = '\0';
    if (a->prov->build(&a->call, body, &a->http, err, sizeof(err)) == 0)
        return 0;
bad:
    pxreq_note(q, "unsupported_by_provider");
    http_reply_error(q->r, 400, "invalid_request_error", "unsupported_by_provider", NULL, "%s",
                     err[0] ? err : "The request cannot be translated for this provider");
    return -1;
}

/*
 * Could target t take this request (its provider offers the route and can
 * express the request)? Asked before a retry, while the failed attempt's
 * outcome can still be delivered: the provider builds the request aside.
 */
static int
can_serve(struct pxreq *q, int t)
{
    const struct target_view *tv = &q->mv.t[t];
    const struct provider *p = provider_get(tv->provider);
    struct prov_http h;
    struct prov_call c;
    struct json_object *body = q->body;
    char err[512];
    if (p == NULL || !(p->ops & OP_BIT(q->op)))
        return 0;
    if (p->own != q->front && q->front == DIALECT_ANTHROPIC) {
        if (q->obody == NULL && (q->obody = msg_to_openai(q->body, err, sizeof(err))) == NULL)
            return 0;
        body = q->obody;
    }
    memset(&h, 0, sizeof(h));
    memset(&c, 0, sizeof(c));
    c.t = tv;
    c.op = q->op;
    c.stream = q->stream;
    c.native = p->own == q->front;
    c.request_id = http_req_id(q->r);
    c.anthropic_version = http_req_header(q->r, "anthropic-version");
    c.anthropic_beta = http_req_header(q->r, "anthropic-beta");
    int ok = p->build(&c, body, &h, err, sizeof(err)) == 0;
    prov_http_free(&h);
    return ok;
}

/* Set up the easy handle for the attempt's target and start it; 0, -1, or -2 after a 400. */
static int
send_attempt(struct pxreq *q)
{
    struct proxy *px = q->px;
    const struct conf *c = px->conf;
    const struct target_view *t = target(q);
    struct attempt *a = &q->a;
    char hdr[256];
    if (build_attempt(q) < 0)
        return -2;
    CURL *e = upstream_easy_get(px->up);
    if (e == NULL)
        return -1;
    a->xfer.easy = e;
    a->xfer.done = xfer_done;
    struct curl_slist **h = &a->http.hdrs;
    *h = curl_slist_append(*h, "Content-Type: application/json");
    *h =
        curl_slist_append(*h, q->stream ? "Accept: text/event-stream" : "Accept: application/json");
    *h = curl_slist_append(*h, "Expect:");
    snprintf(hdr, sizeof(hdr), "x-request-id: %s", http_req_id(q->r));
    *h = curl_slist_append(*h, hdr);

    curl_easy_setopt(e, CURLOPT_URL, a->http.url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->http.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->http.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->http.hdrs);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, q);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)q->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)q->total_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->upstream_ca_file[0] != '\0')
        curl_easy_setopt(e, CURLOPT_CAINFO, c->upstream_ca_file);
    if (q->timer == NULL && (q->timer = evtimer_new(px->base, timer_cb, q)) == NULL)
        return -1;
    a->start_us = now_mono_us();
    if (upstream_start(px->up, &a->xfer) < 0)
        return -1;
    q->attempts++;
    /* the access line names the target even if the client leaves or we shut down */
    snprintf(q->acc->target, sizeof(q->acc->target), "%s", t->name);
    q->acc->provider = provider_name(t->provider);
    q->acc->attempts = q->attempts;
    arm_timer(q, q->first_byte_ms);
    return 0;
}

/* No target can take the request now: 503 at once, saying when to come back. */
static void
reply_unavailable(struct pxreq *q)
{
    char ra[24];
    int64_t secs = (q->bal.wait_ms + 999) / 1000;
    snprintf(ra, sizeof(ra), "%lld", (long long)(secs < 1 ? 1 : secs));
    http_resp_header(q->r, "Retry-After", ra);
    pxreq_note(q, "no_target_available");
    if (q->mv.ntiers == 0)
        http_reply_error(q->r, 503, "server_error", "no_target_available", NULL,
                         "Model `%s` has no target with a weight above 0", q->mv.name);
    else
        http_reply_error(q->r, 503, "server_error", "no_target_available", NULL,
                         "All targets of model `%s` are unavailable (circuit breaker open); "
                         "retry in %ss",
                         q->mv.name, ra);
}

int
relay_start(struct pxreq *q)
{
    if (q->attempts == 0) {
        int t = balance_pick(q->px->shm, &q->mv, &q->bal, now_mono_ms());
        if (t < 0) {
            reply_unavailable(q);
            return -1;
        }
        q->a.target = t;
        q->a.probe = q->bal.probe;
    }
    int rc = send_attempt(q);
    if (rc == -2) {
        relay_abandon(q);
        return -1;
    }
    if (rc < 0) {
        relay_abandon(q);
        pxreq_note(q, "upstream_start");
        http_reply_error(q->r, 500, "server_error", "upstream_start", NULL,
                         "Could not start the upstream request");
        return -1;
    }
    return 0;
}
