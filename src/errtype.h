/* SPDX-License-Identifier: Apache-2.0 */
/*
 * errtype.h: the error type an HTTP status stands for, in OpenAI's and in
 * Anthropic's dialect (one table, errtype.c), as aigw-resources(5) and
 * aigw(8) list them.
 */
#ifndef AIGW_ERRTYPE_H
#define AIGW_ERRTYPE_H

/* OpenAI's "type" for a status: rate_limit_error for 429, server_error for 5xx, ... */
const char *errtype_openai(long status);
/* Anthropic's "type" for a status: overloaded_error for 503 and 529, api_error for 5xx, ... */
const char *errtype_anthropic(long status);
/* The status of an Anthropic error type (a stream's error event has none); 500 when unknown. */
int errtype_anthropic_status(const char *type);

#endif
