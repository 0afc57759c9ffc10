/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reqcheck.h: the worker's request checks as the harnesses need them: a
 * client's body to the json-c tree that the rest of the pipeline uses, or a
 * refusal.
 *
 * src/proxy.c does this in parse_body() and check_fields(), static and tied
 * to a struct http_req (they answer the 400 themselves); reqcheck.c follows
 * them rule for rule (strict JSON, the lexical check, no trailing bytes, an
 * object, jsonraw_check_names; model, stream, messages, prompt, input;
 * msg_check for Anthropic's routes). When proxy.c gains a check callable without a request, the
 * harnesses should call it instead (tests/fuzz/README.md).
 */
#ifndef AIGW_FUZZ_REQCHECK_H
#define AIGW_FUZZ_REQCHECK_H

#include <stddef.h>

#include "provider.h"

struct json_object;

/*
 * The body of a request on op from a client in dialect front: the parsed
 * object, or NULL when aigw refuses it (a 400). *stream: it asks for a stream.
 */
struct json_object *reqcheck_body(enum dialect front, enum prov_op op, const char *p, size_t n,
                                  int *stream);

#endif
