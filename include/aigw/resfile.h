/* SPDX-License-Identifier: Apache-2.0 */
/* resfile.h: the resources file format (master, aigw -t, aigwctl apply). */
#ifndef AIGW_RESFILE_H
#define AIGW_RESFILE_H

#include <stddef.h>

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

#endif
