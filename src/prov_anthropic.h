/* SPDX-License-Identifier: Apache-2.0 */
/* prov_anthropic.h: the Messages translation, which Anthropic models on Vertex AI share. */
#ifndef AIGW_PROV_ANTHROPIC_H
#define AIGW_PROV_ANTHROPIC_H

#include <stddef.h>

struct json_object;
struct prov_call;

/* The Messages request for an OpenAI chat body: a new object, or NULL (err written). */
struct json_object *anthropic_request_xlat(const struct prov_call *c, struct json_object *body,
                                           char *err, size_t errlen);

#endif
