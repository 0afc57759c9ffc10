/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdindex.h: the Admin API's writes in etcd mode, each a resource and the
 * index entry of its name in one etcd transaction (master).
 */
#ifndef AIGW_ETCDINDEX_H
#define AIGW_ETCDINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "aigw/resource.h"
#include "admin.h"

struct etcd;
struct store;
struct json_object;

/*
 * The index entry of a validated doc, "<prefix>index/models/<name>" or
 * "<prefix>index/api_keys/<sha256 in hex>" (prefix ends with '/'); -1 when
 * it does not fit.
 */
int etcdindex_key(const char *prefix, enum res_kind k, struct json_object *doc, char *out,
                  size_t outlen);
/*
 * Put doc as resource id with its name's entry, in one transaction that
 * takes the name only while nobody else holds it (expect as the Admin
 * API's backends take it). done gets ADMIN_ENAMECONFLICT when another
 * resource holds the name in etcd, whatever this node's table says.
 */
void etcdindex_put(struct etcd *e, struct store *s, const char *prefix, enum res_kind k,
                   const char *id, struct json_object *doc, int64_t expect, const char *source,
                   admin_done_cb done, void *arg);
/*
 * Delete resource id, and its name's entry while that names it. source
 * ("admin:<key name>", or NULL): the note of who, written with the change
 * (etcdrollback.h) so that every node's history records it.
 */
void etcdindex_del(struct etcd *e, struct store *s, const char *prefix, enum res_kind k,
                   const char *id, int64_t expect, const char *source, admin_done_cb done,
                   void *arg);

#endif
