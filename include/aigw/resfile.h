/* SPDX-License-Identifier: Apache-2.0 */
/* resfile.h: the resources file format (master, aigw -t, aigwctl apply). */
#ifndef AIGW_RESFILE_H
#define AIGW_RESFILE_H

#include <stddef.h>

#include "aigw/resource.h"

struct json_object;
struct aigw_errors;

/*
 * Load and validate a resources file. Returns {"models":{id:doc},
 * "api_keys":{id:doc}} with every doc validated and normalized, or NULL with
 * every problem added to e (file:line: path: message).
 */
struct json_object *resfile_load(const char *path, struct aigw_errors *e);
/* The same with the file's len bytes already read into buf. */
struct json_object *resfile_load_buffer(const char *buf, size_t len, struct aigw_errors *e);

/*
 * What a reload knows already: same() says whether the document of kind k
 * (an enum res_kind) and id, normalized (res_normalize_key) and serialized
 * as the store keeps it (json: len bytes), is the stored one byte for byte
 * (and written by the file). Such an entry was validated when it was
 * stored: it is not validated again and is left out of the result (its
 * tree is freed at once); ids[k] gets the id of every entry of kind k, kept
 * or not (the caller frees them, strset_free), so that the caller can tell
 * a kept entry from one gone. Ids and the uniqueness of names and keys are
 * checked for every entry as before.
 */
struct strset;
struct resfile_known {
    int (*same)(int k, const char *id, const char *json, size_t len, void *arg);
    void *arg;
    struct strset *ids[RES_NKINDS]; /* out: by enum res_kind */
    int unchanged;                  /* out: entries found as stored (left out of the result) */
    int checked;                    /* out: entries validated */
};
/* resfile_load with known (NULL: as resfile_load). */
struct json_object *resfile_load_known(const char *path, struct resfile_known *known,
                                       struct aigw_errors *e);

#endif
