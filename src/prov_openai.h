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
int prov_openai_error(long status, struct json_object *in, struct json_object **out);

#endif
