/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwks.h: the identity providers' key sets, put into the LMDB table by the
 * master (the only writer) so that workers verify tokens without touching
 * a file or the network.
 */
#ifndef AIGW_JWKS_H
#define AIGW_JWKS_H

#include <stddef.h>

struct store;
struct conf;
struct conf_jwt_provider;

/*
 * The blob name of a provider's key set, "jwks:<name>:<16 hex digits of
 * SHA-256 of its issuer>", into out (len >= 96): a provider renamed, or a
 * name given to another issuer, never finds a set stored for another
 * issuer.
 */
void jwks_blob_name(const struct conf_jwt_provider *p, char *out, size_t len);
/*
 * Read every provider's jwks_file and store the sets that parse, in one
 * transaction. A file that cannot be read or holds no usable key is logged
 * and its last good set in the table keeps serving. Returns the number of
 * sets changed, or -1 when the table could not be written.
 */
int jwks_sync_files(struct store *s, const struct conf *c, const char *why);

#endif
