/* SPDX-License-Identifier: Apache-2.0 */
/* mock.h: aigw-mock's shared types and prototypes.
 *
 * mock.c          the process: options, listening, the /mock/ endpoints,
 *                 the record of the last request, routing
 * mock_call.c     one API request: controls, lifecycle, transport (delays,
 *                 slow bodies, resets, hangs, streams)
 * mock_util.c     JSON writing, word counting, the reply text
 * mock_openai.c   OpenAI's wire formats, and Azure OpenAI's
 * mock_anthropic.c  Anthropic's Messages API
 * mock_gemini.c   Google's Gemini API
 * mock_bedrock.c  AWS Bedrock's Converse API (SigV4, event-stream frames)
 */
#ifndef AIGW_MOCK_H
#define AIGW_MOCK_H

#include <stddef.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include <json.h>

#define MOCK_DEFAULT_LISTEN "127.0.0.1:9999"
#define MOCK_MAX_BODY (64L * 1024 * 1024)
#define MOCK_MS_MAX 3600000L
#define MOCK_CHUNKS_MAX 100000L
#define MOCK_SLOW_PIECE 16
#define MOCK_EMBED_DIM 8

/* Append a string literal. */
#define MOCK_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* A string control: points into a JSON value or a header the call holds. */
struct mock_str {
    const char *s; /* NULL: not set */
    size_t len;
};

/* Per-request controls: the instance's defaults (POST /mock/config), then
 * the body's "mock" object, then the x-mock-* headers, field by field. */
struct mock_ctl {
    long chunks;
    long delay_ms;
    long first_byte_ms;
    long status;
    long hang;
    long reset_before_response;
    long reset_after; /* -1: off */
    long close_after; /* -1: off */
    long slow_body_ms;
    long stream_error;           /* -1: off */
    struct mock_str content;     /* NULL: generated "tok0 tok1 ..." */
    struct mock_str retry_after; /* NULL: no Retry-After header */
    struct mock_str usage;       /* NULL: the computed usage (OpenAI, Azure) */
    struct mock_str error_type;  /* Bedrock: the error's type; NULL: by status */
    json_object *tool_call;      /* {"name","input"} in a JSON value held elsewhere, or NULL */
    json_object *owned;          /* a tool_call parsed from a header (own reference) */
};

/* Why the reply ended: each format names these its own way. */
enum mock_finish { MOCK_FIN_STOP, MOCK_FIN_LENGTH, MOCK_FIN_TOOL };

struct mock_call;

/* An API provider: how it authenticates and how its errors look.  Several
 * wire formats share one (OpenAI's chat, completions, embeddings...). */
struct mock_provider {
    const char *name;
    /* Check what comes before the body (key, version headers, query);
     * 0, or -1 once the error is sent. */
    int (*check)(struct mock_call *c);
    /* Append an error body for HTTP status code.  type and code are
     * OpenAI's ("invalid_request_error", "invalid_api_key"; code may be
     * NULL); the other providers derive theirs from the status. */
    void (*error)(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
                  const char *type, const char *code);
    /* The message of the 400 for a body that is not a JSON object. */
    const char *bad_json;
};

/* A wire format.  Stream events are numbered 0..head+npieces+tail-1; events
 * head..head+npieces-1 carry the content pieces, the others are framing. */
struct mock_format {
    const struct mock_provider *prov;
    /* Read the parsed request body (may be NULL); 0, or -1 with c->err set. */
    int (*parse)(struct mock_call *c, json_object *body);
    /* Append the complete non-stream response body. */
    void (*body)(struct mock_call *c, struct evbuffer *out);
    /* Count the framing events around the content; NULL: cannot stream. */
    void (*frame)(const struct mock_call *c, long *head, long *tail);
    /* Append stream event number i. */
    void (*event)(struct mock_call *c, long i, struct evbuffer *out);
    /* Append the error event of the stream_error control; NULL: none. */
    void (*stream_error)(struct mock_call *c, struct evbuffer *out);
};

/* One API request in progress. */
struct mock_call {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    const struct mock_format *fmt;
    const struct mock_provider *prov; /* fmt's, or the path's before a route is found */
    unsigned long seq;
    time_t created;
    struct mock_ctl ctl;
    json_object *body;   /* parsed request body (own reference) or NULL */
    json_object *config; /* the defaults it started with (own reference) or NULL */
    char *param;         /* the {model} or {deployment} in the path, or NULL */
    const char *model;   /* in body, or the path, or a literal */
    size_t model_len;
    json_object *input; /* embeddings: the "input" value, in body */
    int embed_b64;      /* embeddings: encoding_format "base64" */
    long prompt_tokens;
    long out_tokens; /* completion tokens: chunks, unless cut by a max_tokens */
    int stream;
    int sse; /* Gemini: ?alt=sse (else a stream is one JSON array) */
    int include_usage;
    const char *stream_type; /* Content-Type of a stream */
    /* The reply: its text (content, generated when s is NULL, or a tool
     * call's arguments) is cut into split pieces of which npieces are sent. */
    struct mock_str text;
    long split;
    long npieces;
    enum mock_finish finish;
    int tool;              /* the reply is a tool call */
    const char *tool_name; /* in ctl.tool_call */
    char *tool_args;       /* its input as JSON text (own) */
    json_object *tool_input;
    int status;      /* the HTTP status being sent, for -v */
    const char *err; /* parse error message for a 400 */
    char errbuf[256];
    struct event *timer;
    struct event *watch;
    void (*on_timer)(struct mock_call *c);
    struct evbuffer *out; /* body still to send (slow body, half body) */
    long step;            /* next stream event */
    long nsteps;
    long head;
    long content_sent;
};

/* The most recent API request, for GET /mock/last. */
struct mock_last {
    int have;
    const char *method;
    char *buf; /* path and query \0 then (lowercased name \0 value \0) pairs */
    size_t len;
    size_t cap;
    json_object *body;
};

/* Counters for GET /mock/stats. */
struct mock_stats {
    unsigned long long requests;
    unsigned long long completed;
    unsigned long long aborted;
    unsigned long long active;
};

/* Process-wide state. */
struct mock_state {
    struct event_base *base;
    struct evhttp *http;
    json_tokener *tok;
    struct evbuffer *scratch;
    const char *api_key;
    int verbose;
    unsigned long seq;
    struct mock_stats stats;
    struct mock_last last;
    json_object *config; /* POST /mock/config: default controls, or NULL */
};

/* mock.c */
extern struct mock_state mock;
void mock_last_record(struct evhttp_request *req, json_object *body, const char *raw, size_t n);

/* mock_call.c */
int mock_is_api(const char *path);
void mock_api(struct evhttp_request *req, const char *path);
void mock_send_error(struct mock_call *c, int code, const char *msg, const char *type,
                     const char *code_str);
const char *mock_header(const struct mock_call *c, const char *name);
char *mock_query(const struct mock_call *c, const char *name);
void mock_tool_use(struct mock_call *c, long pieces);
void mock_set_headers(struct evhttp_request *req, const char *content_type);
void mock_reply_json(struct evhttp_request *req, int code);
void mock_reply_error(struct evhttp_request *req, int code, const char *msg, const char *type,
                      const char *code_str);
json_object *mock_config_check(json_object *body, char *msg, size_t msgsz, int *bad);

/* mock_util.c */
void mock_json_str(struct evbuffer *out, const char *s, size_t n);
void mock_json_cstr(struct evbuffer *out, const char *s);
long mock_words(const char *s, size_t n);
long mock_json_words(json_object *v);
const char *mock_method_name(enum evhttp_cmd_type m);
const char *mock_req_path(struct evhttp_request *req);
const char *mock_reason(int code);
json_object *mock_parse_json(const char *data, size_t n);
void mock_piece_json(const struct mock_call *c, long k, struct evbuffer *out);
void mock_text_json(const struct mock_call *c, struct evbuffer *out);
void mock_usage_json(const struct mock_call *c, long completion, struct evbuffer *out);
void mock_json_obj(struct evbuffer *out, json_object *v);
void mock_tool_id_json(const struct mock_call *c, const char *prefix, struct evbuffer *out);
int mock_fail(struct mock_call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *mock_type_name(json_object *v);
int mock_is_int(json_object *v);
int mock_is_num(json_object *v);

/* mock_openai.c */
extern const struct mock_provider mock_prov_openai;
extern const struct mock_format mock_fmt_chat;
extern const struct mock_format mock_fmt_completion;
extern const struct mock_format mock_fmt_embed;
extern const struct mock_format mock_fmt_models;
extern const struct mock_provider mock_prov_azure;
extern const struct mock_provider mock_prov_azure_v1;
extern const struct mock_format mock_fmt_az_chat;
extern const struct mock_format mock_fmt_az_completion;
extern const struct mock_format mock_fmt_az_embed;
extern const struct mock_format mock_fmt_responses;
extern const struct mock_format mock_fmt_az_responses;
void mock_oai_error(struct evbuffer *out, const char *msg, const char *type, const char *code);

/* mock_anthropic.c */
extern const struct mock_provider mock_prov_anthropic;
extern const struct mock_format mock_fmt_anth_messages;
extern const struct mock_format mock_fmt_anth_count;

/* mock_gemini.c */
extern const struct mock_provider mock_prov_gemini;
extern const struct mock_format mock_fmt_gem_generate;
extern const struct mock_format mock_fmt_gem_stream;
extern const struct mock_format mock_fmt_gem_count;

/* mock_bedrock.c */
extern const struct mock_provider mock_prov_bedrock;
extern const struct mock_format mock_fmt_br_converse;
extern const struct mock_format mock_fmt_br_stream;

#endif /* AIGW_MOCK_H */
