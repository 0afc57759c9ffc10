/* SPDX-License-Identifier: Apache-2.0 */
/*
 * converse.h: the translation between the internal OpenAI chat shape and
 * AWS Bedrock's Converse API (POST /model/{modelId}/converse and
 * /converse-stream): the request, the answer, the ConverseStream events
 * (decoded from their event-stream frames by eventstream.c) and errors.
 * The Bedrock provider (its signing and its target fields) builds on it.
 */
#ifndef AIGW_CONVERSE_H
#define AIGW_CONVERSE_H

#include <stddef.h>

#include "provider.h"

struct json_object;

/*
 * A Converse request body (new object in *out) for the OpenAI chat request
 * req: messages, system, inferenceConfig, toolConfig. default_max_tokens is
 * used when req has none (0: none). 0, or -1 with a message for a 400.
 */
int converse_request(struct json_object *req, int default_max_tokens, struct json_object **out,
                     char *err, size_t errlen);

/*
 * A Converse answer as an OpenAI chat.completion (new object in *out) named
 * model, usage filled; -1 when in is not a Converse answer.
 */
int converse_response(struct json_object *in, const char *model, struct json_object **out,
                      struct prov_usage *u);

/* The stream's state (s->priv); model: what the chunks are named. */
int converse_stream_begin(struct prov_stream *s, const char *model);
/*
 * One ConverseStream message: type is its :event-type (messageStart,
 * contentBlockStart, contentBlockDelta, contentBlockStop, messageStop,
 * metadata) or, for an exception or error message (ES_EVENT_ERROR before it, relay.c), its
 * :exception-type or :error-code; data its
 * JSON payload. Emits OpenAI chunks, the usage chunk and "[DONE]" after
 * metadata; an exception sets s->error_status and s->error. -1: not an
 * event of this API.
 */
int converse_stream_event(struct prov_stream *s, const char *type, size_t tlen, const char *data,
                          size_t len);
void converse_stream_end(struct prov_stream *s);

/* The HTTP status of a Bedrock error or exception name (ThrottlingException...); 0: unknown. */
int converse_error_status(const char *name, size_t len);
/*
 * A Bedrock error answer ({"message": ...}; its x-amzn-ErrorType header,
 * up to any ':', in errtype, or NULL) as OpenAI's {"error": {...}} (new
 * object), typed by status.
 */
struct json_object *converse_error(long status, const char *errtype, struct json_object *in);

#endif
