/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resfields.h: the Model fields that have a range or a default, in one
 * table (resfields.c) that validation and compilation (resource.c) read and
 * check_resource holds aigw-resources(5) to, as conf.c's table does for
 * aigw.yaml.
 */
#ifndef AIGW_RESFIELDS_H
#define AIGW_RESFIELDS_H

#include <stdint.h>

enum res_ftype {
    RF_INT,      /* an integer from min to max */
    RF_DURATION, /* a duration string ("5s"), from min to max ms (24h: resource.c says so) */
    RF_FALLBACK, /* a fallback_on list (def: its items joined by commas) */
};

struct res_field {
    const char *path; /* as aigw-resources(5) names it: "retries", "breaker.failures" */
    enum res_ftype type;
    int64_t min, max;
    /*
     * The default as aigw-resources(5) writes it, parsed by the code that
     * reads a value; NULL when it is not one value (retries:
     * res_retries_default; timeouts: aigw.yaml's).
     */
    const char *def;
};

/* The field at path; NULL when the table has none. */
const struct res_field *res_field(const char *path);
/* The i-th field of the table; NULL past its end. */
const struct res_field *res_field_at(int i);
/* RF_INT or RF_DURATION: the default, parsed (ms for a duration). */
int64_t res_field_default(const char *path);
/* The retries of a Model that gives none: one attempt a target, within the field's range. */
int res_retries_default(int ntargets);

#endif
