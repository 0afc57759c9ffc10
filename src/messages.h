/* SPDX-License-Identifier: Apache-2.0 */
/*
 * messages.h: the Anthropic Messages API for clients (worker).
 *
 * POST /v1/messages and /v1/messages/count_tokens. To an Anthropic target
 * the body goes through untouched (but for its model) and the answer comes
 * back as it was. To any other target the request is translated to the
 * internal OpenAI chat shape (provider.h), and the OpenAI-shaped answer,
 * stream chunks and errors are translated back to Anthropic's.
 */
#ifndef AIGW_MESSAGES_H
#define AIGW_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Check an Anthropic request as Anthropic's API would (model, messages,
 * max_tokens unless count_tokens, the content block types): 0, or -1 with
 * a message for a 400 in Anthropic's words ("messages.0.content: Input
 * should be a valid list") and *param the offending field's path
 * ("messages.0.content"; "" for the body itself), which stays valid until
 * the next failing call in this thread. Only what a client can get wrong is
 * checked; the upstream judges the rest (unknown members pass).
 */
int msg_check(struct json_object *req, int count_tokens, char *err, size_t errlen,
              const char **param);

/*
 * An Anthropic Messages request (checked) to the internal OpenAI chat
 * request: a new object, or NULL with a message for a 400 when it holds
 * something the OpenAI shape cannot carry (server tools, documents, ...).
 * req is not changed and shares nothing with the result. The decisions are
 * in the table at the top of messages.c.
 */
struct json_object *msg_to_openai(struct json_object *req, char *err, size_t errlen);

/* An OpenAI chat.completion to an Anthropic message (a new object); NULL when not one. */
struct json_object *msg_from_openai(struct json_object *resp);

/* Where a translated stream goes: one Anthropic event (its name and JSON data). */
typedef void (*msg_emit_fn)(void *arg, const char *event, const char *data, size_t len);

#define MSG_STREAM_TOOLS 64 /* tool calls per stream; later ones are dropped */

/*
 * OpenAI chunks to Anthropic events, one stream: message_start and ping
 * (at the first chunk with a choice), content_block_start / _delta / _stop
 * (text_delta, input_json_delta), and at "[DONE]" message_delta (stop
 * reason, the final usage) and message_stop. No heap: nothing to free.
 */
struct msg_stream {
    msg_emit_fn emit;
    void *arg;
    int started;                          /* message_start sent */
    int block;                            /* index of the open content block; -1: none */
    int block_kind;                       /* 0 text, 1 tool_use */
    int next_block;                       /* index the next block gets */
    int ntools;                           /* tool_use blocks opened */
    int tool_block[MSG_STREAM_TOOLS];     /* OpenAI tool call index -> our block index; -1: none */
    uint32_t tool_hash[MSG_STREAM_TOOLS]; /* ... and a hash of that call's id */
    char stop_reason[32];                 /* OpenAI's finish_reason, mapped at the end */
    int64_t input_tokens, output_tokens, cache_read; /* Anthropic's counts */
    int have_usage;
    int ended;   /* message_stop sent */
    char id[96]; /* "msg_" + the chunks' id */
    char model[256];
};

void msg_stream_init(struct msg_stream *s, msg_emit_fn emit, void *arg);
/*
 * One OpenAI chunk (JSON text) or "[DONE]": 0, or -1 when it is neither
 * (an {"error": ...} chunk too: the relay handles errors). Chunks after
 * "[DONE]" are ignored.
 */
int msg_stream_chunk(struct msg_stream *s, const char *data, size_t len);

/* {"type":"error","error":{"type":...,"message":...}} typed by errtype_anthropic (new object). */
struct json_object *msg_error_body(int status, const char *message);
/* An OpenAI {"error": {...}} body to Anthropic's error body for status (a new object). */
struct json_object *msg_error_from_openai(int status, struct json_object *openai_error);

#endif
