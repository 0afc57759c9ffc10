/* SPDX-License-Identifier: Apache-2.0 */
/*
 * responses.h: OpenAI's Responses API (POST /v1/responses) to a target that
 * serves chat only (anthropic, gemini, bedrock), worker.
 *
 * Composition: the Responses request becomes the internal OpenAI chat
 * request (responses_req.c), which the provider translates as it does any
 * chat client's; the provider's answer, stream chunks and errors, once in
 * the internal chat shape, become a Response object and its typed stream
 * events (responses_out.c). An openai, openai-compatible or azure-openai
 * target is not translated: prov_responses.c passes the API through.
 *
 * Nothing is stored: what needs a response stored at the gateway
 * (previous_response_id, store: true, conversation, background) is refused
 * with a 400 naming the field.
 */
#ifndef AIGW_RESPONSES_H
#define AIGW_RESPONSES_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct printbuf;
struct prov_usage;

/* Why a request cannot be translated: a 400 in OpenAI's shape. */
struct rsp_err {
    const char *code; /* "unsupported_parameter", "unknown_parameter", "invalid_value", ... */
    char param[128];  /* the offending field's path ("input[2].type"), "" for none */
    char msg[512];
};

/*
 * A Responses request to the internal chat request: a new object, or NULL
 * with e filled. req is not changed and shares nothing with the result.
 * The decisions are in the table at the top of responses_req.c.
 */
struct json_object *rsp_to_chat(struct json_object *req, struct rsp_err *e);

/*
 * What every response object of this request echoes (instructions, tools,
 * tool_choice, temperature, ...), with a new id "resp_...": a new object,
 * the base of rsp_from_chat and rsp_stream. NULL when out of memory.
 */
struct json_object *rsp_base(struct json_object *req);

/*
 * A chat.completion (the provider's translated answer) to a Response object
 * (a new object) on base, its usage u; NULL when chat is not one.
 */
struct json_object *rsp_from_chat(struct json_object *chat, struct json_object *base,
                                  const struct prov_usage *u);

/* Where a translated stream goes: one typed event (its name and JSON data). */
typedef void (*rsp_emit_fn)(void *arg, const char *event, const char *data, size_t len);

/*
 * Chat chunks to typed events, one stream: response.created and
 * response.in_progress at the first chunk; per output item
 * response.output_item.added, its content part or argument events,
 * response.output_item.done; at "[DONE]" response.completed (or
 * response.incomplete) with the whole response and usage. Every event has
 * its sequence_number, from 0.
 */
struct rsp_stream {
    rsp_emit_fn emit;
    void *arg;
    const struct prov_usage *usage; /* the attempt's, final at "[DONE]" */
    struct json_object *resp;       /* the response object: base, output of the items done */
    struct json_object *item;       /* the open output item, or NULL */
    struct printbuf *buf;           /* ... its text or arguments so far */
    struct printbuf *ev;            /* a delta event's text, reused */
    int64_t seq;                    /* the next event's sequence_number */
    int started;                    /* response.created sent */
    int ended;                      /* the last event sent */
    int open_tool;                  /* the chat tool call index of the open item; -1: text */
    uint64_t tools_seen;            /* tool call indexes 0..63 that had an item */
    int nitems;                     /* output items opened */
    char finish[32];                /* the chat finish_reason */
};

/* Take base (a reference is taken) and the attempt's usage. */
void rsp_stream_init(struct rsp_stream *s, struct json_object *base, const struct prov_usage *u,
                     rsp_emit_fn emit, void *arg);
/*
 * One chat chunk (JSON text) or "[DONE]": 0, or -1 when it is neither.
 * Chunks after the end are ignored.
 */
int rsp_stream_chunk(struct rsp_stream *s, const char *data, size_t len);
/*
 * The stream failed after it began: response.failed with the response so
 * far, status "failed" and error {code, message}. Nothing when it ended.
 */
void rsp_stream_fail(struct rsp_stream *s, const char *code, const char *message);
/* The same, the chunk already parsed (prov_stream.emit_obj): 0, or -1 when not a chunk. */
int rsp_stream_obj(struct rsp_stream *s, struct json_object *chunk);
/* Free what the stream holds (init'd or zeroed). */
void rsp_stream_free(struct rsp_stream *s);

#endif
