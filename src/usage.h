/*
 * usage.h: token counts from upstreams, validated and clamped (worker).
 *
 * An upstream's usage numbers go into sums, the access log and the token
 * windows of the rate limits: a negative, a fraction, a string or a number
 * near INT64_MAX there would overflow signed arithmetic or give tokens back
 * to a window. Every count is read through usage_count and summed through
 * usage_add, so each stays in 0..USAGE_MAX whatever the upstream sent.
 */
#ifndef AIGW_USAGE_H
#define AIGW_USAGE_H

#include <stdint.h>

struct json_object;

/* The most tokens one count may be (aigw(8)); far above any context window. */
#define USAGE_MAX 1000000000LL

/*
 * o's member k as a token count in 0..USAGE_MAX; 0 when absent or null.
 * A count that is not a non-negative integer (negative, a fraction, a
 * string, above USAGE_MAX) sets *bad: negatives and non-integers count 0,
 * a number above USAGE_MAX counts USAGE_MAX.
 */
int64_t usage_count(struct json_object *o, const char *k, int *bad);
/* a + b, each first clamped to 0..USAGE_MAX, the sum too: never overflows. */
int64_t usage_add(int64_t a, int64_t b);
/* n clamped to 0..USAGE_MAX. */
int64_t usage_clamp(int64_t n);
/* Warn, at most once every 10 s per worker, that target sent nonsense counts. */
void usage_warn(const char *target);

#endif
