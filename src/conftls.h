/* SPDX-License-Identifier: Apache-2.0 */
/* conftls.h: a listener as a mapping {address, tls} in aigw.yaml (conftls.c). */
#ifndef AIGW_CONFTLS_H
#define AIGW_CONFTLS_H

struct conf;
struct conf_listen;
struct json_object;
struct aigw_errors;

/*
 * Parse the mapping o into l; its tls block's files are read, checked and
 * their text added to o (see conftls.c). 0, or -1 with the error in e.
 */
int conftls_listener(const struct conf *c, struct json_object *o, struct conf_listen *l,
                     const char *path, struct aigw_errors *e);
/* The tls block of item i of the listener list at key ("admin.listen"), or NULL. */
struct json_object *conftls_node(struct json_object *tree, const char *key, int i);

/* conf.c: "host:port" or "[v6]:port" into l; 0 or -1. */
int conf_parse_listen(const char *s, struct conf_listen *l);

#endif
