/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pxreq.h: one proxied request, shared by the two halves of the worker's
 * pipeline: proxy.c (route, authenticate, resolve the model, admit against
 * the limits) and relay.c (choose a target, send, relay the answer, retry
 * elsewhere while nothing has reached the client).
 */
#ifndef AIGW_PXREQ_H
#define AIGW_PXREQ_H

#include <stdint.h>

#include "aigw/resource.h"
#include "sse.h"
#include "aigw/eventstream.h"
#include "balance.h"
#include "limit.h"
#include "messages.h"
#include "provider.h"
#include "responses.h"
#include "uhttp.h"

struct event;
struct evbuffer;
struct json_object;
struct http_req;
struct access_info;

enum route {
    RT_NONE,
    RT_HEALTH,
    RT_MODELS,
    RT_CHAT,
    RT_COMPLETIONS,
    RT_EMBEDDINGS,
    RT_MESSAGES,     /* the Anthropic Messages API */
    RT_COUNT_TOKENS, /* ... and its token count */
    RT_MODEL,        /* GET /v1/models/{id} */
    RT_RESPONSES,    /* OpenAI's Responses API */
};

struct proxy {
    struct event_base *base;
    const struct conf *conf;
    struct store *store;
    struct uhttp *up; /* the upstream client */
    struct shm *shm;
    struct shm_worker *self; /* this worker's entry: the config version it last read */
    struct limiter *limiter;
    struct jwtauth *jwt; /* bearer JWTs: the providers' key sets, verified tokens */
    int inflight;
    struct pxreq *all; /* in-flight requests, for abort at exit */
    uint64_t lease_tag, nleases;
    int lease_pid; /* in lease ids: getpid() once, not a syscall per request */
};

/* What one upstream attempt owns; zeroed between attempts. */
struct attempt {
    struct uhttp_req *ureq;      /* the exchange in progress, or NULL */
    const struct provider *prov; /* of the target */
    int native;                  /* the client speaks the target's own dialect */
    int raw;                     /* ... and it is not OpenAI's: the answer goes back as it came */
    int xlate;                   /* a Responses request translated to chat for this target */
    struct prov_call call;
    struct prov_http http; /* url, headers (the provider secret: freed, never logged), body */
    struct prov_stream ps;
    int target;  /* index into the model's targets */
    int probe;   /* this attempt is the target's half-open probe */
    int judged;  /* the breaker has heard the outcome */
    long status; /* upstream status */
    int headers_done;
    int ctype_sse; /* Content-Type: text/event-stream */
    int ctype_es;  /* Content-Type: application/vnd.amazon.eventstream (Bedrock) */
    int is_sse;
    int paused;
    int too_large;
    int bad_event; /* a stream event that is not the provider's API's */
    int timed_out;
    int sse_ready;
    int es_ready;     /* es holds a decoder: the stream is event-stream frames, not SSE */
    int64_t start_us; /* when it was sent (aigw_upstream_duration_seconds) */
    struct sse_parser sse;
    struct es_decoder es;
    char retry_after[32];
    char errtype[PROV_ERRTYPE_MAX]; /* the provider's error_header, "" when none came */
};

struct pxreq {
    struct proxy *px;
    struct http_req *r;
    struct pxreq *next, *prev;
    enum route rt;
    enum prov_op op;
    enum dialect front;        /* the client's dialect */
    int stream;                /* the client asked for a stream */
    int client_usage;          /* ... and for the usage chunk */
    struct access_info *acc;   /* key, model, usage and error for the access line */
    struct json_object *body;  /* the client's request, rewritten per target */
    struct json_object *obody; /* an Anthropic client's request in the OpenAI chat shape, or a
                                  Responses request's for a chat-only target (made once) */
    struct json_object *rbase; /* ... and then what its response objects echo (responses.h) */
    int request_dropped;       /* the answer began: body, obody and the raw body freed */
    struct msg_stream ms;      /* an Anthropic client's stream from OpenAI chunks */
    struct rsp_stream rs;      /* a translated Responses stream from OpenAI chunks */
    int rs_on;                 /* ... set up */
    void *mrec;                /* a copy of the model's record: mv points into it */
    size_t mlen;
    struct model_view mv;
    struct balance bal;
    int attempts, max_attempts;
    struct attempt a;
    struct evbuffer *resp; /* a buffered (non-stream) answer */
    struct event *timer;   /* first byte, then stream idle */
    int64_t first_byte_ms, idle_ms, connect_ms, total_ms;
    int have_usage;
    int answered;         /* a successful answer went out (with or without usage) */
    int64_t total_tokens; /* the real usage, for the token limits */
    struct limit_state lim;
    char lease_id[48]; /* unique per request on every node: Redis concurrency leases */
};

/* relay.c */
/* Choose a target and send; 0, or -1 after answering the client (nothing available). */
int relay_start(struct pxreq *q);
/* Stop the attempt in progress without answering (client gone, shutdown). */
void relay_cancel(struct pxreq *q);
/* answer.c: the answer to the client, in its dialect */
/* The headers naming the target and the attempts (x-aigw-target, x-aigw-attempts). */
void answer_route_headers(struct pxreq *q);
/* Before the attempt's first SSE event: the provider's stream state, writing to the client. */
void answer_stream_setup(struct pxreq *q);
/* Begin the client's stream (at its first event). */
void answer_stream_begin(struct pxreq *q);
/* One upstream SSE event of the attempt: account, translate, forward. */
void answer_stream_event(struct pxreq *q, const char *event, size_t evlen, const char *data,
                         size_t len);
/* End a stream that already started with an error event in the client's dialect. */
void answer_stream_fail(struct pxreq *q, int status, const char *type, const char *code,
                        const char *msg);
/* A buffered upstream answer (2xx or not), translated for the client. */
void answer_buffered(struct pxreq *q);
/* An upstream error before any byte reached the client (status, OpenAI body), in its dialect. */
void answer_error(struct pxreq *q, int status, struct json_object *openai_error);
/* Take the attempt's usage for the access line and the limits. */
void answer_usage(struct pxreq *q, const struct prov_usage *u);
/* The client went away or the worker exits: tell the breaker nothing was learnt. */
void relay_abandon(struct pxreq *q);

/* proxy.c */
void pxreq_free(struct pxreq *q);
/* Note the outcome for the access line (http.c writes it when the request ends). */
void pxreq_note(struct pxreq *q, const char *error);

#endif
