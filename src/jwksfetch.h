/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwksfetch.h: identity providers' key sets fetched over HTTP(S) by the
 * master (jwks_url, or OIDC discovery) into the LMDB table.
 */
#ifndef AIGW_JWKSFETCH_H
#define AIGW_JWKSFETCH_H

struct event_base;
struct upstream;
struct store;
struct shm;
struct conf;
struct jwksfetch;

/* 1 when a provider of c has a key set to fetch. */
int jwksfetch_needed(const struct conf *c);
/* Start fetching for c's providers on base (libcurl through up). */
struct jwksfetch *jwksfetch_new(struct event_base *base, struct upstream *up, struct store *s,
                                struct shm *shm, const struct conf *c);
/* A reload: the providers of c replace the running ones (their fetches start at once). */
void jwksfetch_reconf(struct jwksfetch *f, const struct conf *c);
void jwksfetch_free(struct jwksfetch *f);

#endif
