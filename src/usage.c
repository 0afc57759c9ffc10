/* SPDX-License-Identifier: Apache-2.0 */
/* usage.c: token counts from upstreams, validated and clamped (worker). */
#include "config.h"

#include <json-c/json.h>

#include "log.h"
#include "aigw/util.h"
#include "jsonx.h"
#include "usage.h"

/* How often a worker may say again that an upstream sends nonsense counts. */
#define USAGE_WARN_MS 10000

int64_t
usage_clamp(int64_t n)
{
    return n < 0 ? 0 : n > USAGE_MAX ? USAGE_MAX : n;
}

/*
 * json-c keeps an integer beyond INT64_MAX as a uint64 (get_int64 then says
 * INT64_MAX) and one beyond UINT64_MAX as INT64_MAX or a double: both end
 * above USAGE_MAX or as a non-integer, so none passes unnoticed.
 */
int64_t
usage_count(struct json_object *o, const char *k, int *bad)
{
    struct json_object *v = jx_get(o, k);
    int64_t n;
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_int)) {
        *bad = 1;
        return 0;
    }
    n = json_object_get_int64(v);
    if (n < 0 || n > USAGE_MAX)
        *bad = 1;
    return usage_clamp(n);
}

int64_t
usage_add(int64_t a, int64_t b)
{
    /* Both at most 10^9: the sum cannot overflow before it is clamped. */
    return usage_clamp(usage_clamp(a) + usage_clamp(b));
}

void
usage_warn(const char *target)
{
    static int64_t last;
    int64_t now = now_mono_ms();
    if (last != 0 && now - last < USAGE_WARN_MS)
        return;
    last = now;
    log_warnx("target %s: its usage has token counts that are not integers in 0..%lld; "
              "they count as clamped to that range",
              target, (long long)USAGE_MAX);
}
