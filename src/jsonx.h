/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonx.h: the few json-c accessors the translations share (worker): a
 * member that may be missing, of an object that may not be one, without
 * json-c's asserts on the wrong type.
 */
#ifndef AIGW_JSONX_H
#define AIGW_JSONX_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct json_tokener;

/* o's member k; NULL when o is no object, or k is absent or null. */
struct json_object *jx_get(struct json_object *o, const char *k);
/* o's member k when it is a string, else NULL. */
const char *jx_str(struct json_object *o, const char *k);
/* o's member k as an integer; 0 when absent. */
int64_t jx_int(struct json_object *o, const char *k);
/* The length of array a; 0 when a is no array. */
size_t jx_len(struct json_object *a);
/* Item i of array a; NULL when a is no array or too short. */
struct json_object *jx_idx(struct json_object *a, size_t i);
/* Add k: a new string s (or integer n) to o. */
void jx_add_str(struct json_object *o, const char *k, const char *s);
void jx_add_int(struct json_object *o, const char *k, int64_t n);
/* len bytes of text as one JSON value (white space around it allowed); NULL when not. */
struct json_object *jx_parse(const char *s, size_t len);
/* The process's tokener, reset, with flags (JSON_TOKENER_*): not to be freed. */
struct json_tokener *jx_tokener(int flags);

#endif
