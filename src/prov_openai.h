/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prov_openai.h: the OpenAI shape's parts that another provider speaking
 * it (Azure OpenAI) reuses (worker).
 */
#ifndef AIGW_PROV_OPENAI_H
#define AIGW_PROV_OPENAI_H

#include "provider.h"

/* "/chat/completions", "/completions", "/embeddings"; NULL for an op OpenAI lacks. */
const char *prov_openai_path(enum prov_op op);
/* Set the body's model, ask for the usage chunk in streams, add the target's max_tokens as max_field. */
void prov_openai_body(const struct prov_call *c, struct json_object *body, const char *max_field);
/*
 * The same made on the client's bytes (c->raw, a pass-through) so that the
 * rest arrives as the client wrote it; -1 when that cannot be done (then
 * use prov_openai_body and prov_body).
 */
int prov_openai_raw(const struct prov_call *c, struct json_object *body, struct prov_http *out,
                    const char *max_field);
/* OpenAI's usage object into u. */
void prov_openai_usage(struct json_object *usage, struct prov_usage *u);
int prov_openai_response(const struct prov_call *c, struct json_object *in,
                         struct json_object **out, struct prov_usage *u);
int prov_openai_stream_event(struct prov_stream *s, const char *event, size_t evlen,
                             const char *data, size_t len);
/* prov_responses.c: the Responses API (OP_RESPONSES), a pass-through */
/* The body: the client's bytes with only the model replaced (or the parse, the model set). */
void prov_responses_body(const struct prov_call *c, struct json_object *body,
                         struct prov_http *out);
/* The Responses API's usage object ({input,output}_tokens...) into u. */
void prov_responses_usage(struct json_object *usage, struct prov_usage *u);
/* A response object: its usage; -1 when it is not an object. */
int prov_responses_response(struct json_object *in, struct prov_usage *u);
/* One typed stream event: usage and the end from response.completed (or .incomplete). */
int prov_responses_stream_event(struct prov_stream *s, const char *event, size_t evlen,
                                const char *data, size_t len);
int prov_openai_error(long status, const char *type, struct json_object *in,
                      struct json_object **out);

#endif
