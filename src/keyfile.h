/* SPDX-License-Identifier: Apache-2.0 */
/* keyfile.h: a secret read from a file that not every user may read. */
#ifndef AIGW_KEYFILE_H
#define AIGW_KEYFILE_H

#include <stddef.h>

#define KEYFILE_MIN 16   /* as admin.keys' key: shorter is guessable */
#define KEYFILE_MAX 1024 /* longer is no key but a wrong file */

/*
 * The first line of path (trailing CR, spaces and tabs dropped) into key
 * (at least KEYFILE_MAX + 1 bytes). 0, or -1 with the reason in err: the
 * file is missing or unreadable, not a regular file, readable or writable
 * by other users, empty, too short or long, or holds a control character.
 */
int keyfile_read(const char *path, char *key, size_t keylen, char *err, size_t errlen);

/*
 * All of path (at most max bytes, NUL-terminated) in a malloc'ed buffer the
 * caller wipes and frees; NULL with the reason in err. private: refused
 * when other users may read or write it (a private key).
 */
char *keyfile_read_all(const char *path, int private, size_t max, char *err, size_t errlen);

#endif
