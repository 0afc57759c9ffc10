/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdapply.h: a declarative apply in etcd mode: the set written to etcd as
 * one transaction guarded by revision compares (master).
 */
#ifndef AIGW_ETCDAPPLY_H
#define AIGW_ETCDAPPLY_H

#include "admin.h"

struct etcd;
struct store;
struct etcdowner;
struct json_object;

/*
 * set: {"models": {id: doc or null}, "api_keys": {...}} (null: delete),
 * under prefix (ends with '/'), with the note of who asked (source,
 * "admin:<key name>"); done(arg, err, etcd revision) once.
 */
void etcdapply_send(struct etcd *etcd, struct store *s, struct etcdowner *own, const char *prefix,
                    struct json_object *set, const char *source, admin_done_cb done, void *arg);

#endif
