/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdrollback.h: a rollback in etcd mode: the state at a version of this
 * node's history, written to etcd as one transaction guarded by revision
 * compares (master).
 */
#ifndef AIGW_ETCDROLLBACK_H
#define AIGW_ETCDROLLBACK_H

#include <stdint.h>

#include "admin.h"

struct etcd;
struct store;
struct etcdowner;

/*
 * The resources changed since version v (this node's history) back as they
 * were, in one etcd transaction under prefix (ends with '/'); done as the
 * Admin API's rollback backend calls it (version: etcd's revision).
 */
void etcdrollback_send(struct etcd *etcd, struct store *s, struct etcdowner *own,
                       const char *prefix, uint64_t v, const char *source, admin_rollback_cb done,
                       void *arg);
/*
 * The key under the prefix of the note the rollback writes in its
 * transaction, {"source": "admin:<key name>", "rollback_of": V}: every node
 * records both with the version the batch makes. Not a resource.
 */
#define ETCDROLLBACK_NOTE "history/note"

#endif
