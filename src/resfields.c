/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resfields.c: the Model fields with a range or a default, written once.
 * resource.c validates with the ranges and compiles with the defaults (a
 * field left out of a document is never stored: the Admin API shows what
 * was given, and the record holds what is used); check_resource compares
 * the table with aigw-resources(5).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "aigw/resource.h"
#include "aigw/util.h"
#include "resfields.h"

#define DAY_MS 86400000LL

static const struct res_field fields[] = {
    {"retries", RF_INT, 0, 10, NULL},
    {"fallback_on", RF_FALLBACK, 0, 0, "connect_error,timeout,429,500,502,503,504"},
    {"breaker.failures", RF_INT, 1, 1000, "5"},
    {"breaker.cooldown", RF_DURATION, 1, DAY_MS, "5s"},
    {"breaker.max_cooldown", RF_DURATION, 1, DAY_MS, "5m"},
    /* timeouts: the default is the global one of aigw.yaml */
    {"timeouts.connect", RF_DURATION, 1, DAY_MS, NULL},
    {"timeouts.first_byte", RF_DURATION, 1, DAY_MS, NULL},
    {"timeouts.total", RF_DURATION, 1, DAY_MS, NULL},
    {"timeouts.stream_idle", RF_DURATION, 1, DAY_MS, NULL},
    {"targets.weight", RF_INT, 0, TARGET_WEIGHT_MAX, "1"},
    {"targets.priority", RF_INT, -1000, 1000, "0"},
};
#define NFIELDS (int)(sizeof(fields) / sizeof(fields[0]))

const struct res_field *
res_field(const char *path)
{
    for (int i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].path, path) == 0)
            return &fields[i];
    return NULL;
}

const struct res_field *
res_field_at(int i)
{
    return i >= 0 && i < NFIELDS ? &fields[i] : NULL;
}

int64_t
res_field_default(const char *path)
{
    const struct res_field *f = res_field(path);
    int64_t v = 0;
    if (f == NULL || f->def == NULL)
        return 0;
    if (f->type == RF_DURATION)
        parse_duration_ms(f->def, &v);
    else
        v = strtoll(f->def, NULL, 10);
    return v;
}

/*
 * A request may try each target once: the number of targets less one
 * (those of weight 0 count too, as aigw-resources(5) says), but no more
 * than a Model may give itself (16 targets would make 15).
 */
int
res_retries_default(int ntargets)
{
    const struct res_field *f = res_field("retries");
    int64_t n = ntargets - 1;
    return (int)(n < f->min ? f->min : n > f->max ? f->max : n);
}
