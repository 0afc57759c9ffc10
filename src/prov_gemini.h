/* SPDX-License-Identifier: Apache-2.0 */
/* prov_gemini.h: Gemini's request translation, which Vertex AI's Gemini models share. */
#ifndef AIGW_PROV_GEMINI_H
#define AIGW_PROV_GEMINI_H

#include <stddef.h>

struct json_object;
struct prov_call;

/* The OpenAI chat body as a GenerateContentRequest (new object in *out); -1 with err. */
int gemini_translate(const struct prov_call *c, struct json_object *req, struct json_object **out,
                     char *err, size_t errlen);

#endif
