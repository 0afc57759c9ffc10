/* SPDX-License-Identifier: Apache-2.0 */
/*
 * utf8.h: client bytes made valid UTF-8 before they go into JSON text.
 *
 * json-c escapes control characters but copies bytes >= 0x80 as they are,
 * so a client's model name, path or field name with invalid UTF-8 made
 * error bodies and access lines that are not JSON text (RFC 8259 requires
 * UTF-8). Each invalid sequence becomes U+FFFD, as WHATWG decoders do.
 */
#ifndef AIGW_UTF8_H
#define AIGW_UTF8_H

#include <stddef.h>

struct json_object;

/* 1 when s[0..len) is UTF-8 (RFC 3629: no overlong forms, surrogates, or above U+10FFFF). */
int utf8_valid(const char *s, size_t len);
/*
 * s[0..len) into out (outlen > 0 bytes, always NUL-terminated), each
 * invalid byte as U+FFFD (EF BF BD); cut at a character boundary when out
 * is too small. Returns the bytes written, the NUL not counted.
 */
size_t utf8_clean(const char *s, size_t len, char *out, size_t outlen);
/* A json-c string of s, made valid UTF-8 (copied as it is when it is); NULL when out of memory. */
struct json_object *utf8_json_string(const char *s);

#endif
