/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vtokenfetch.h: the master's refresher of Vertex AI access tokens (one
 * per service-account key file that a vertex target names) into the LMDB
 * table, where workers read them (vtoken.h).
 */
#ifndef AIGW_VTOKENFETCH_H
#define AIGW_VTOKENFETCH_H

struct event_base;
struct upstream;
struct store;
struct shm;
struct vtokenfetch;

/* Start watching the table for key files and keeping their tokens fresh (libcurl through up). */
/* shm: the metrics area (aigw_vertex_token_refreshes_total); may be NULL. */
struct vtokenfetch *vtokenfetch_new(struct event_base *base, struct upstream *up, struct store *s,
                                    struct shm *shm, const char *ca_file);
void vtokenfetch_free(struct vtokenfetch *f);

#endif
