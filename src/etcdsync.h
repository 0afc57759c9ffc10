/* SPDX-License-Identifier: Apache-2.0 */
/*
 * etcdsync.h: the master's control plane in etcd mode. It turns etcd state
 * into the LMDB table: a full range read into one transaction, then a watch
 * from the next revision, one transaction per batch of events; a compacted
 * revision or a broken connection means a new full read (with backoff and
 * jitter). Until etcd answers, the table keeps serving what it had.
 */
#ifndef AIGW_ETCDSYNC_H
#define AIGW_ETCDSYNC_H

struct event_base;
struct upstream;
struct conf;
struct store;
struct json_object;
struct admin_backend;
struct etcdsync;

struct etcdsync *etcdsync_new(struct event_base *base, struct upstream *up, const struct conf *c,
                              struct store *s);
/* Begin: a full read, then the watch. */
void etcdsync_start(struct etcdsync *es);
void etcdsync_free(struct etcdsync *es);
/* Fields for GET /admin/v1/status ("etcd": {...}). */
void etcdsync_status(struct etcdsync *es, struct json_object *o);
/* Did the last exchange with etcd succeed (aigw_etcd_connected)? */
int etcdsync_connected(const struct etcdsync *es);
/*
 * aigwctl etcd accept: take etcd's state although its cluster or revision
 * is not the table's; -1 when there is no mismatch.
 */
int etcdsync_accept(struct etcdsync *es);
/* 1 while an identity mismatch keeps etcd's state out (aigw_etcd_identity_mismatch). */
int etcdsync_identity_mismatch(const struct etcdsync *es);
/* The Admin API's writes in etcd mode: to etcd only. */
void etcdsync_admin_backend(struct etcdsync *es, struct admin_backend *b);

#endif
