/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider.h: what the worker asks of an upstream provider (one prov_*.c
 * file each; provider.c lists them).
 *
 * The gateway's internal shape is OpenAI's: a chat request body, a
 * chat.completion answer, chat.completion.chunk stream events ending with
 * "[DONE]", and {"error": {...}} errors. A provider translates between that
 * shape and its own API in four steps: build the request, parse the answer,
 * parse each stream event, map an error. relay.c keeps attempts, retries and
 * breakers and knows no provider; a client dialect other than OpenAI's (the
 * Anthropic Messages API, messages.c) sits on the other side of the same
 * internal shape.
 *
 * When the client already speaks the target's own dialect (an Anthropic
 * client and an Anthropic target) the body goes through untouched but for
 * its model (prov_call.native), and the answer is relayed as it came; the
 * provider's parsers then only account usage and see the end.
 */
#ifndef AIGW_PROVIDER_H
#define AIGW_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "provider_list.h"

struct json_object;
struct target_view;

/* What the client asked for, whatever its dialect. */
/*
 * OP_RESPONSES: OpenAI's Responses API, which only an OpenAI-dialect
 * provider serves, and only as a pass-through: its body goes out with the
 * model replaced and its answer (its typed stream events) comes back as it
 * came; the provider reads usage from it (prov_responses.c).
 */
enum prov_op { OP_CHAT = 0, OP_COMPLETIONS, OP_EMBEDDINGS, OP_COUNT_TOKENS, OP_RESPONSES, OP_N };
#define OP_BIT(op) (1u << (op))

/* The API shape a body or an answer is in. */
enum dialect { DIALECT_NONE = -1, DIALECT_OPENAI = 0, DIALECT_ANTHROPIC };

/*
 * Token usage, exactly as the provider reported it, in OpenAI's terms:
 * prompt includes cached and cache-written input; completion includes
 * reasoning. have: the provider sent usage at all. Every count is in
 * 0..USAGE_MAX (usage.h); bad: the provider sent one that was not, and it
 * was clamped.
 */
struct prov_usage {
    int64_t prompt, completion, total;
    int64_t cached;    /* prompt tokens read from a cache */
    int64_t reasoning; /* completion tokens spent thinking */
    int have;
    int bad;
};

/* One attempt: what a provider needs to build its request. */
struct prov_call {
    const struct target_view *t; /* api_base, api_key, upstream_model, api_version, max_tokens */
    enum prov_op op;
    int stream;             /* the client asked for a stream */
    int native;             /* the body is in this provider's own dialect: pass it through */
    const char *raw;        /* ... and these are its bytes as the client sent them */
    size_t rawlen;
    const char *request_id; /* sent upstream as x-request-id */
    /* the client's anthropic-version and anthropic-beta headers, or NULL (for native Anthropic) */
    const char *anthropic_version, *anthropic_beta;
};

/* The upstream request a provider builds. */
#define PROV_URL_MAX 4096 /* the longest URL a request may have, with its NUL */

struct prov_http {
    char *url;                /* malloc'd by prov_url (at most PROV_URL_MAX - 1 bytes): a
                                 held stream keeps only what its URL needs */
    char *hdrs;               /* "Name: value\r\n" lines, the provider's own (auth among them):
                                 wiped and freed, never logged */
    size_t hlen, hcap;
    const char *body;
    size_t len;
    struct json_object *keep; /* owns body when not NULL; put when the attempt ends */
    char *buf;                /* or this (malloc'd), freed when the attempt ends */
};

/* One translated OpenAI chunk (its JSON text) or "[DONE]". */
typedef void (*prov_emit_fn)(void *arg, const char *data, size_t len);
/* ... or the chunk as an object (not to be kept: the provider frees it). */
typedef void (*prov_emit_obj_fn)(void *arg, struct json_object *chunk);

/* A stream's translation state, one per attempt. */
struct prov_stream {
    const struct prov_call *call;
    prov_emit_fn emit; /* NULL: a pass-through, only account */
    /*
     * When set, a translated chunk made as an object goes here instead of
     * to emit as text: a consumer that would parse the text again (a
     * Responses stream, responses_out.c) takes the object. "[DONE]" and
     * chunks relayed as text still go to emit.
     */
    prov_emit_obj_fn emit_obj;
    void *arg;
    struct prov_usage usage;
    int done;                 /* the upstream said the answer is complete */
    int error_status;         /* it sent an error event: its HTTP status (0: none) */
    struct json_object *error; /* ... as an OpenAI {"error": {...}} body; freed by prov_stream_free */
    void *priv;               /* the provider's own state */
};

/* The longest error_header value kept, with its NUL. */
#define PROV_ERRTYPE_MAX 128

/* Before the type of an event-stream exception or error message (relay.c). */
#define ES_EVENT_ERROR "!"

/* A target's provider, as records store it (provider_list.h). */
#define PROVIDER_ENUM(id, var) id,
enum provider_id { PROVIDER_LIST(PROVIDER_ENUM) PROVIDER_NPROVIDERS };
#undef PROVIDER_ENUM

/*
 * A provider: what resource.c validates and compiles a target of it with
 * (name, defaults), and how the worker talks to it.
 */
struct provider {
    const char *name;   /* the resources' provider value */
    int id;             /* its enum provider_id */
    const char *api_base;    /* the default api_base; NULL: a target must give one */
    /*
     * What api_version is for this API (its "api-version" query parameter,
     * its "anthropic-version" header), and its default; NULL, "": the
     * provider has none, and a target that gives one is refused.
     */
    const char *api_version_is;
    const char *api_version;
    int max_tokens;     /* for a client that gives none (Anthropic requires one); 0: none */
    /* The header the target's api_key goes in, after auth_scheme and a space when not NULL. */
    const char *auth_header, *auth_scheme;
    int model_in_path;  /* the upstream model is a segment of the URL's path */
    /* Signs with AWS SigV4: a target gives region and aws_* keys, never api_key. */
    int aws;
    unsigned ops;       /* OP_BIT()s it serves */
    enum dialect own;   /* a client in this dialect is passed through */
    /*
     * The upstream request for c from body (the internal OpenAI shape, or
     * the provider's own when c->native). The provider may change body.
     * 0, or -1 with a message for a 400 (something the API cannot express).
     */
    int (*build)(const struct prov_call *c, struct json_object *body, struct prov_http *out,
                 char *err, size_t errlen);
    /*
     * A 2xx answer (parsed): *out is a new OpenAI-shaped answer, or NULL when
     * in already is one; usage filled. For OP_COUNT_TOKENS the shape is
     * {"input_tokens": N}. -1: not an answer of this API (a 502).
     */
    int (*response)(const struct prov_call *c, struct json_object *in, struct json_object **out,
                    struct prov_usage *u);
    /* Stream: set up s->priv (may be NULL when the provider keeps no state). */
    int (*stream_begin)(struct prov_stream *s);
    /*
     * One upstream SSE event (or event-stream message: event is its
     * :event-type, or ES_EVENT_ERROR and its :exception-type or
     * :error-code; data its payload): emit 0..n OpenAI chunks, the usage chunk
     * (choices []) and "[DONE]" at the end, and set done; on an error event
     * set error_status and error instead. -1: not an event of this API.
     */
    int (*stream_event)(struct prov_stream *s, const char *event, size_t evlen, const char *data,
                        size_t len);
    /* The upstream closed the stream cleanly (NULL: nothing to do): a last chance to finish. */
    void (*stream_close)(struct prov_stream *s);
    void (*stream_end)(struct prov_stream *s); /* free s->priv */
    /*
     * The response header that names an error's type, when the API puts it
     * there rather than in the body (Bedrock's x-amzn-ErrorType); NULL: none.
     * relay.c keeps its value (printable ASCII, at most PROV_ERRTYPE_MAX - 1
     * bytes) for error.
     */
    const char *error_header;
    /*
     * A non-2xx answer (in: its parsed body, NULL when not JSON; type: the
     * error_header's value, NULL when the answer had none): *out is a new
     * OpenAI {"error": {...}} body; returns the status for the client.
     * -1: not an error of this API (a 502).
     */
    int (*error)(long status, const char *type, struct json_object *in, struct json_object **out);
};

/* provider.c */
/* The provider of a provider_id; NULL when none. */
const struct provider *provider_get(int id);
/* The provider value of an id ("openai", ...); "?" when none. */
const char *provider_name(int id);
/* The id of a provider value; -1 when none. */
int provider_parse(const char *name);
/* Free a stream's state and error. */
void prov_stream_free(struct prov_stream *s);
/* Append "Name: value" to the request's headers; the secret is wiped from our copy. */
void prov_header(struct prov_http *h, const char *name, const char *value);
/* Add one whole header line (without its CRLF), len bytes. */
void prov_header_line(struct prov_http *h, const char *line, size_t len);
/* The target's api_key in p's auth header (none without a key); our copies are wiped. */
void prov_auth(struct prov_http *h, const struct prov_call *c, const struct provider *p);
/* The URL: api_base + path (+ "?" query when not NULL). -1 when too long or out of memory. */
int prov_url(struct prov_http *h, const struct target_view *t, const char *path, const char *query);
/* The body as compact JSON, kept alive by h->keep (takes the reference). */
void prov_body(struct prov_http *h, struct json_object *body);
/*
 * A pass-through's body: the client's bytes with only the model's value
 * replaced (c->raw), so nothing else changes, not even the spacing. -1
 * when the model cannot be found in the bytes (a key written with escapes):
 * then send body with prov_body.
 */
int prov_raw_model(const struct prov_call *c, struct prov_http *h);
/* A body made of bytes (malloc'd; h takes them). */
void prov_body_bytes(struct prov_http *h, char *buf, size_t len);
/* Free what a built request holds. */
void prov_http_free(struct prov_http *h);
/* OpenAI's {"error": {message, type, param, code}} (new object). */
struct json_object *prov_error_json(const char *message, const char *type, const char *code);
/* Usage to OpenAI's usage object (new object). */
struct json_object *prov_usage_json(const struct prov_usage *u);
/* Emit a chunk object (not freed): to emit_obj when set, else as text to emit. */
void prov_emit_json(struct prov_stream *s, struct json_object *chunk);

#define PROVIDER_EXTERN(id, var) extern const struct provider var;
PROVIDER_LIST(PROVIDER_EXTERN)
#undef PROVIDER_EXTERN

#endif
