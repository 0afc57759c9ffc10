/* SPDX-License-Identifier: Apache-2.0 */
/* yamljson.h: YAML files (aigw.yaml, resources) to json-c trees that remember source lines. */
#ifndef AIGW_YAMLJSON_H
#define AIGW_YAMLJSON_H

#include <stddef.h>
#include <stdio.h>

struct json_object;
struct aigw_errors;

#define YAML_SUBST_ENV 0x1 /* replace ${VAR} and ${VAR:-default} in scalars */
/* build from libyaml's document, not its events (what the events' way falls back to) */
#define YAML_DOCUMENT 0x2

/*
 * Parse one YAML document. Plain scalars become null, bool, int or double when
 * they look like one, strings otherwise; quoted scalars are always strings.
 * Returns NULL after adding errors (with file and line) to e. An unset
 * ${VAR} is an error added to e, but the tree is still returned (with an
 * empty value) so that callers can report every other problem as well:
 * callers must treat any error added to e as failure.
 */
struct json_object *yaml_load_file(const char *path, int flags, struct aigw_errors *e);
struct json_object *yaml_load_buffer(const char *buf, size_t len, int flags, struct aigw_errors *e);

/* The 1-based line a node came from, or 0. */
int yaml_node_line(struct json_object *o);
/* 1 for the stand-in value of an unset ${VAR}: errors about it are not added. */
int yaml_node_poisoned(struct json_object *o);

/* The tree as block-style YAML that yaml_load_file reads back as the same tree (yamlout.c). */
void yaml_write(FILE *fp, struct json_object *o);

#endif
