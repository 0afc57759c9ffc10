/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relay.c: the upstream half of the worker's pipeline: choose a target
 * (balance.c), have its provider build the request (provider.h), send it
 * (uhttp.c), hand the answer to answer.c (buffered JSON, or SSE events
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

static void finish(struct pxreq *q, enum uhttp_error rc);
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
    if (q->a.ureq != NULL) {
        uhttp_cancel(q->a.ureq);
        q->a.ureq = NULL;
    }
    finish(q, UHTTP_ETIMEOUT);
}

/* One upstream SSE event: answer.c accounts, translates and forwards it. */
/*
 * The answer has begun: no other attempt can follow (finish retries only
 * before it), so what only building an attempt reads goes now, and a held
 * stream keeps none of it: the client's body, raw and parsed (the access
 * log still counts its bytes).
 */
static void
drop_request(struct pxreq *q)
{
    q->request_dropped = 1;
    json_object_put(q->body);
    q->body = NULL;
    json_object_put(q->obody);
    q->obody = NULL;
    q->a.call.raw = NULL;
    q->a.call.rawlen = 0;
    http_req_drop_body(q->r);
}

static int
on_sse_event(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    struct pxreq *q = arg;
    answer_stream_event(q, event, evlen, data, len);
    if (!q->request_dropped && http_resp_started(q->r))
        drop_request(q);
    return q->a.bad_event ? -1 : 0; /* stop the transfer on a stream we cannot read */
}

/*
 * One event-stream message (Bedrock's ConverseStream): handed to the
 * provider as an SSE event would be, its type as the event name; an
 * exception or error message's with ES_EVENT_ERROR before it (provider.h),
 * and an error message's :error-message as {"message": ...} when it has no
 * payload of its own.
 */
static int
on_es_message(const struct es_message *m, void *arg)
{
    struct pxreq *q = arg;
    size_t tlen, mlen;
    int is_error = 0;
    const char *type = es_event_type(m, &tlen, &is_error), *msg;
    char ev[128];
    if (type == NULL || tlen + 2 > sizeof(ev)) {
        q->a.bad_event = 1; /* a message that says nothing of what it is */
        return -1;
    }
    snprintf(ev, sizeof(ev), "%s%.*s", is_error ? ES_EVENT_ERROR : "", (int)tlen, type);
    if (is_error && m->payload_len == 0 &&
        (msg = es_header_string(m, ":error-message", &mlen)) != NULL) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "message", json_object_new_string_len(msg, (int)mlen));
        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        answer_stream_event(q, ev, strlen(ev), s, strlen(s));
        json_object_put(o);
    } else {
        answer_stream_event(q, ev, strlen(ev), m->payload, m->payload_len);
    }
    return q->a.bad_event ? -1 : 0;
}

/* The upstream's status and headers are complete: decide how to relay. */
static int
on_headers_done(void *arg, int status)
{
    struct pxreq *q = arg;
    struct attempt *a = &q->a;
    a->headers_done = 1;
    a->status = status;
    int sse = q->stream && a->status == 200 && (a->ctype_sse || a->ctype_es);
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
        if (a->ctype_es) {
            es_init(&a->es, SSE_MAX_EVENT);
            a->es_ready = 1;
        } else {
            sse_init(&a->sse, SSE_MAX_EVENT);
            a->sse_ready = 1;
        }
        answer_stream_setup(q);
        if (a->prov->stream_begin != NULL && a->prov->stream_begin(&a->ps) < 0)
            a->bad_event = 1;
        arm_timer(q, q->idle_ms);
    } else {
        evtimer_del(q->timer);
    }
    return 0;
}

/*
 * An error type header's value into buf (PROV_ERRTYPE_MAX): the upstream's
 * bytes, so kept only when they are all printable ASCII and fit; else none.
 */
static void
keep_errtype(char *buf, const char *v, size_t vlen)
{
    buf[0] = '\0';
    if (vlen == 0 || vlen >= PROV_ERRTYPE_MAX)
        return;
    for (size_t i = 0; i < vlen; i++)
        if (v[i] < 0x21 || v[i] > 0x7e)
            return;
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
}

/* One header of the upstream's final response: what relaying needs of it. */
static void
on_header(void *arg, const char *name, size_t nlen, const char *v, size_t vlen)
{
    struct pxreq *q = arg;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
        q->a.ctype_sse = vlen >= 17 && strncasecmp(v, "text/event-stream", 17) == 0;
        q->a.ctype_es = vlen >= 34 && strncasecmp(v, "application/vnd.amazon.eventstream", 34) == 0;
    } else if (nlen == 11 && strncasecmp(name, "retry-after", 11) == 0) {
        snprintf(q->a.retry_after, sizeof(q->a.retry_after), "%.*s", (int)vlen, v);
    } else if (q->a.prov->error_header != NULL && nlen == strlen(q->a.prov->error_header) &&
               strncasecmp(name, q->a.prov->error_header, nlen) == 0) {
        keep_errtype(q->a.errtype, v, vlen);
    }
}

/* Body bytes: SSE events go out one by one, a buffered answer is kept. */
static int
on_body(void *arg, const char *buf, size_t len)
{
    struct pxreq *q = arg;
    if (q->a.is_sse) {
        arm_timer(q, q->idle_ms);
        int rc = q->a.es_ready ? es_feed(&q->a.es, buf, len, on_es_message, q)
                               : sse_feed(&q->a.sse, buf, len, on_sse_event, q);
        if (rc != 0) {
            if (q->a.es_ready) /* a frame that fails its CRC is no event of the API either */
                q->a.bad_event = 1;
            return -1; /* an event beyond SSE_MAX_EVENT, or not the API's: stop */
        }
        /* Backpressure: a slow client pauses the upstream rather than grow our memory. */
        if (http_stream_pending(q->r) > HTTP_OUT_HIGH) {
            q->a.paused = 1;
            evtimer_del(q->timer); /* a slow reader is not an idle upstream */
            return UHTTP_PAUSE;
        }
        return 0;
    }
    if (evbuffer_get_length(q->resp) + len > q->px->conf->max_response_size) {
        q->a.too_large = 1;
        return -1;
    }
    evbuffer_add(q->resp, buf, len);
    return 0;
}

static const struct uhttp_resp_cb resp_cb = {
    .header = on_header,
    .headers_done = on_headers_done,
    .body = on_body,
};

/* Release what the attempt holds, ready for the next one. */
static void
attempt_clear(struct pxreq *q)
{
    struct attempt *a = &q->a;
    if (a->ureq != NULL)
        uhttp_cancel(a->ureq);
    prov_http_free(&a->http);
    if (a->ps.call != NULL)
        prov_stream_free(&a->ps);
    if (a->sse_ready)
        sse_free(&a->sse);
    if (a->es_ready)
        es_free(&a->es);
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

/* The client's error for an attempt's outcome: status, error code and message. */
static int
map_error(struct pxreq *q, enum uhttp_error rc, const char **code, const char **msg)
{
    if (q->a.timed_out || rc == UHTTP_ETIMEOUT) {
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
    case UHTTP_ECONNECT:
    case UHTTP_ERESOLVE:
        *code = "upstream_unreachable";
        *msg = "Could not connect to the upstream";
        return 502;
    case UHTTP_ETLS:
        *code = "upstream_tls_error";
        *msg = "TLS with the upstream failed (certificate verification or handshake)";
        return 502;
    case UHTTP_EHEADERS:
        *code = "upstream_bad_response";
        *msg = "The upstream's response headers are larger than 64 KiB";
        return 502;
    case UHTTP_EBAD:
        *code = "upstream_bad_response";
        *msg = "The upstream's response is not valid HTTP/1.1";
        return 502;
    default:
        *code = "upstream_error";
        *msg = uhttp_strerror(rc);
        return 502;
    }
}

/*
 * Is this outcome a reason to try another target (the fallback_on classes)?
 * Only asked while nothing has reached the client.
 */
static int
retryable(struct pxreq *q, enum uhttp_error rc)
{
    if (q->a.timed_out || rc == UHTTP_ETIMEOUT)
        return (q->mv.fallback & FALLBACK_TIMEOUT) != 0;
    if (q->a.too_large || q->a.bad_event || rc == UHTTP_ESTOP)
        return 0;
    if (q->a.is_sse && q->a.ps.error_status != 0) /* an error event before the first byte */
        return model_falls_back_on(&q->mv, q->a.ps.error_status);
    if (rc != UHTTP_OK || (q->a.is_sse && !q->a.ps.done))
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
stream_error_reason(const struct pxreq *q, enum uhttp_error rc)
{
    const struct attempt *a = &q->a;
    if (a->ps.error_status != 0)
        return MX_SE_UPSTREAM_ERROR;
    if (a->timed_out) /* our timer: after the headers, the one between events */
        return MX_SE_IDLE_TIMEOUT;
    if (rc == UHTTP_ETIMEOUT) /* uhttp's: timeouts.total */
        return MX_SE_TOTAL_TIMEOUT;
    if (a->bad_event || rc == UHTTP_ESTOP) /* not its API's, or beyond SSE_MAX_EVENT */
        return MX_SE_BAD_EVENT;
    if (rc != UHTTP_OK)
        return MX_SE_DISCONNECTED;
    if (!a->ps.done)
        return MX_SE_TRUNCATED;
    return MX_SE_N;
}

/* A stream that began and then ended: well, with an error event, broken or cut short. */
static void
deliver_stream_end(struct pxreq *q, enum uhttp_error rc)
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
    } else if (rc != UHTTP_OK && map_error(q, rc, &code, &msg) != 504 && !a->bad_event) {
        char buf[256];
        snprintf(buf, sizeof(buf), "The upstream connection broke mid-stream: %s",
                 uhttp_strerror(rc));
        answer_stream_fail(q, 502, "upstream_error", "upstream_disconnected", buf);
    } else if (rc != UHTTP_OK) {
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
deliver(struct pxreq *q, enum uhttp_error rc)
{
    const char *code, *msg;
    if (q->a.is_sse && http_resp_started(q->r)) {
        deliver_stream_end(q, rc);
    } else if (rc != UHTTP_OK) {
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
attempt_reason(const struct pxreq *q, enum uhttp_error rc)
{
    const struct attempt *a = &q->a;
    if (a->timed_out || rc == UHTTP_ETIMEOUT)
        return MX_UP_TIMEOUT;
    if (a->too_large)
        return MX_UP_TOO_LARGE;
    switch (rc) {
    case UHTTP_OK:
        break;
    case UHTTP_ECONNECT:
    case UHTTP_ERESOLVE:
        return MX_UP_CONNECT;
    case UHTTP_ETLS:
        return MX_UP_TLS;
    case UHTTP_ESTOP:
        return a->is_sse ? MX_UP_TRUNCATED : MX_UP_RESET; /* an event beyond the limit */
    default:
        return MX_UP_RESET; /* send/receive failure, empty reply, partial body, bad framing */
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
finish(struct pxreq *q, enum uhttp_error rc)
{
    evtimer_del(q->timer);
    /* A provider whose stream has no terminator (Gemini) finishes when the upstream closes. */
    if (q->a.is_sse && rc == UHTTP_OK && !q->a.ps.done && q->a.ps.error_status == 0 &&
        !q->a.bad_event && q->a.prov->stream_close != NULL)
        q->a.prov->stream_close(&q->a.ps);
    if (q->a.is_sse)
        answer_usage(q, &q->a.ps.usage);
    metrics_upstream(q->mv.name, provider_name(target(q)->provider), target(q)->name,
                     now_mono_us() - q->a.start_us, attempt_reason(q, rc));
    q->acc->upstream_status = q->a.status;
    int started = http_resp_started(q->r);
    int again = !started && retryable(q, rc);
    int broke = started && (rc != UHTTP_OK || !q->a.ps.done || q->a.ps.error_status != 0);
    rest_target(q); /* any 429 with Retry-After, whether or not it falls back */
    if (again || broke) {
        q->a.judged = 0; /* a probe's 200 that then broke was judged healthy too soon */
        judge(q, 0);
    } else if (rc == UHTTP_OK) {
        judge(q, 1); /* a stream that ended well */
    }
    if (again && q->attempts < q->max_attempts) {
        log_debug("request %s: target %s of model %s failed (%s, status %ld); trying another",
                  http_req_id(q->r), target(q)->name, q->mv.name,
                  rc != UHTTP_OK ? uhttp_strerror(rc) : "answer", q->a.status);
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

/* The attempt's exchange ended (uhttp frees its request after this). */
static void
on_done(void *arg, enum uhttp_error rc)
{
    struct pxreq *q = arg;
    q->a.ureq = NULL;
    finish(q, rc);
}

/* The route a client used, for messages. */
static const char *
op_route(enum prov_op op)
{
    static const char *const r[OP_N] = {"chat completions", "completions", "embeddings",
                                        "token counting", "Responses API"};
    return r[op];
}

/*
 * How provider p takes a request of op: 1 as it is, 2 a Responses request
 * translated to chat (p serves chat, not the Responses API), 0 not at all.
 */
static int
serves(const struct provider *p, enum prov_op op)
{
    if (p == NULL)
        return 0;
    if (p->ops & OP_BIT(op))
        return 1;
    return op == OP_RESPONSES && (p->ops & OP_BIT(OP_CHAT)) ? 2 : 0;
}

/*
 * The body for provider p: the client's when it speaks p's dialect or
 * OpenAI's chat, else the internal chat shape (made once: an Anthropic
 * client's, or a Responses request's for a chat-only target). NULL with e
 * filled when the request cannot be translated.
 */
static struct json_object *
body_for(struct pxreq *q, const struct provider *p, int how, struct rsp_err *e)
{
    e->code = "unsupported_by_provider";
    e->param[0] = e->msg[0] = '\0';
    if (how == 2) {
        if (q->obody == NULL && (q->obody = rsp_to_chat(q->body, e)) == NULL)
            return NULL;
        if (q->rbase == NULL && (q->rbase = rsp_base(q->body)) == NULL) {
            snprintf(e->msg, sizeof(e->msg), "out of memory");
            return NULL;
        }
        return q->obody;
    }
    if (p->own != q->front && q->front == DIALECT_ANTHROPIC) {
        if (q->obody == NULL && (q->obody = msg_to_openai(q->body, e->msg, sizeof(e->msg))) == NULL)
            return NULL;
        return q->obody;
    }
    return q->body;
}

/*
 * The upstream request of the attempt, from its provider: the client's
 * body when the client speaks the target's dialect, else the internal
 * OpenAI shape (body_for). 0, or -1 after a 400.
 */
static int
build_attempt(struct pxreq *q)
{
    struct attempt *a = &q->a;
    const struct target_view *t = target(q);
    struct json_object *body;
    struct rsp_err e;
    int how;
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
    if ((how = serves(a->prov, q->op)) == 0) {
        pxreq_note(q, "unsupported_by_provider");
        http_reply_error(q->r, 400, "invalid_request_error", "unsupported_by_provider", NULL,
                         "Model `%s` is served by target `%s` (provider %s), which offers no %s",
                         q->mv.name, t->name, provider_name(t->provider), op_route(q->op));
        return -1;
    }
    a->xlate = how == 2;
    a->native = !a->xlate && a->prov->own == q->front;
    /* a Responses answer, like an Anthropic one, goes back as it came */
    a->raw = a->native && (q->front != DIALECT_OPENAI || q->op == OP_RESPONSES);
    if ((body = body_for(q, a->prov, how, &e)) == NULL)
        goto bad;
    a->call.t = t;
    a->call.op = a->xlate ? OP_CHAT : q->op;
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
    e.msg[0] = '\0';
    if (a->prov->build(&a->call, body, &a->http, e.msg, sizeof(e.msg)) == 0)
        return 0;
    e.code = "unsupported_by_provider";
    e.param[0] = '\0';
bad:
    pxreq_note(q, e.code);
    http_reply_error(q->r, 400, "invalid_request_error", e.code, e.param[0] ? e.param : NULL, "%s",
                     e.msg[0] ? e.msg : "The request cannot be translated for this provider");
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
    struct json_object *body;
    struct rsp_err e;
    int how = serves(p, q->op);
    if (how == 0 || (body = body_for(q, p, how, &e)) == NULL)
        return 0;
    memset(&h, 0, sizeof(h));
    memset(&c, 0, sizeof(c));
    c.t = tv;
    c.op = how == 2 ? OP_CHAT : q->op;
    c.stream = q->stream;
    c.native = how == 1 && p->own == q->front;
    c.request_id = http_req_id(q->r);
    c.anthropic_version = http_req_header(q->r, "anthropic-version");
    c.anthropic_beta = http_req_header(q->r, "anthropic-beta");
    int ok = p->build(&c, body, &h, e.msg, sizeof(e.msg)) == 0;
    prov_http_free(&h);
    return ok;
}

/* Send the attempt's request to its target; 0, -1, or -2 after a 400. */
static int
send_attempt(struct pxreq *q)
{
    struct proxy *px = q->px;
    const struct target_view *t = target(q);
    struct attempt *a = &q->a;
    const char *rid = http_req_id(q->r);
    if (build_attempt(q) < 0)
        return -2;
    prov_header_line(&a->http, "Content-Type: application/json", 30);
    if (q->stream)
        prov_header_line(&a->http, "Accept: text/event-stream", 25);
    else
        prov_header_line(&a->http, "Accept: application/json", 24);
    prov_header(&a->http, "x-request-id", rid);
    if (q->timer == NULL && (q->timer = evtimer_new(px->base, timer_cb, q)) == NULL)
        return -1;
    struct uhttp_call call = {
        .url = a->http.url,
        .headers = a->http.hdrs,
        .hlen = a->http.hlen,
        .body = a->http.body,
        .blen = a->http.len,
        .connect_ms = q->connect_ms,
        .total_ms = q->total_ms,
    };
    a->start_us = now_mono_us();
    if ((a->ureq = uhttp_start(px->up, &call, &resp_cb, on_done, q)) == NULL)
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
