/* SPDX-License-Identifier: Apache-2.0 */
/* util.h: small parsers and helpers shared by every process. */
#ifndef AIGW_UTIL_H
#define AIGW_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

/* "250ms", "5s", "2m", "1h" to milliseconds; a bare number is refused (unit required). */
int parse_duration_ms(const char *s, int64_t *out);
/* ms as a duration aigw.yaml accepts, largest units first ("1m30s", "1h", "250ms"). */
void format_duration_ms(int64_t ms, char *buf, size_t len);
/* bytes as a size aigw.yaml accepts, in the largest exact unit ("512k", "4g", "1000"). */
void format_size(uint64_t bytes, char *buf, size_t len);
/* "512", "16k", "8m", "1g" (binary multiples) to bytes. */
int parse_size(const char *s, uint64_t *out);
/* RFC 3339 UTC time ("2027-01-31T00:00:00Z") to Unix seconds. */
int parse_rfc3339(const char *s, int64_t *out);
/* Milliseconds on the monotonic and real-time clocks. */
int64_t now_mono_ms(void);
int64_t now_real_ms(void);
int64_t now_mono_us(void);
/*
 * 0 when text has only what RFC 8259 allows outside strings (json-c, even in
 * strict mode, takes 'single quotes' and NaN): run before json_tokener.
 */
int json_lexically_strict(const char *text, size_t len);
/* Milliseconds as the struct timeval libevent wants. */
struct timeval tv_ms(int64_t ms);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly 2n hex digits; -1 on a bad digit or length. */
int hex_decode(const char *hex, uint8_t *out, size_t n);

#endif
