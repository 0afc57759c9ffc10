/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jwks.c: the identity providers' key sets into the LMDB table (master).
 * A set is stored as the JWK Set text that parsed, under jwks_blob_name;
 * workers parse it once per table version (jwtauth.c). The table keeps the
 * last good set across restarts: a file that has become unreadable or
 * holds garbage changes nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "aigw/conf.h"
#include "log.h"
#include "store.h"
#include "aigw/util.h"
#include "jwks.h"
#include "jwt.h"

#define JWKS_FILE_MAX (1 << 20) /* a key set larger than 1 MiB is refused */

void
jwks_blob_name(const struct conf_jwt_provider *p, char *out, size_t len)
{
    uint8_t h[32];
    char hex[65];
    SHA256((const unsigned char *)p->issuer, strlen(p->issuer), h);
    hex_encode(h, 8, hex);
    snprintf(out, len, "jwks:%s:%s", p->name, hex);
}

/* The whole file, malloc'd, when it is a regular file of at most JWKS_FILE_MAX bytes. */
static char *
read_small_file(const char *path, size_t *len)
{
    struct stat st;
    char *buf = NULL;
    size_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > JWKS_FILE_MAX ||
        (buf = malloc((size_t)st.st_size + 1)) == NULL)
        goto fail;
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        off += (size_t)n;
    }
    close(fd);
    buf[off] = '\0';
    *len = off;
    return buf;
fail:
    free(buf);
    close(fd);
    return NULL;
}

/* One provider's file into the transaction: 1 stored, 0 skipped (logged), -1 write failed. */
static int
sync_one(struct store_txn *t, const struct conf_jwt_provider *p, const char *why)
{
    char name[96], err[256];
    size_t len;
    char *text = read_small_file(p->jwks_file, &len);
    if (text == NULL) {
        log_warnx("%s: jwt provider %s: cannot read %s (%s); its last good key set serves", why,
                  p->name, p->jwks_file, errno ? strerror(errno) : "too large or not a file");
        return 0;
    }
    struct jwt_keyset *ks = jwt_keyset_parse(text, len, err, sizeof(err));
    int n = jwt_keyset_count(ks);
    jwt_keyset_free(ks);
    if (n == 0) {
        log_warnx("%s: jwt provider %s: %s: %s; its last good key set serves", why, p->name,
                  p->jwks_file, ks == NULL ? err : "no usable public key");
        free(text);
        return 0;
    }
    jwks_blob_name(p, name, sizeof(name));
    int rc = store_blob_put(t, name, text, len);
    free(text);
    if (rc != STORE_OK)
        return -1;
    log_info("%s: jwt provider %s: %d key%s from %s", why, p->name, n, n == 1 ? "" : "s",
             p->jwks_file);
    return 1;
}

int
jwks_sync_files(struct store *s, const struct conf *c, const char *why)
{
    int any = 0;
    for (int i = 0; i < c->jwt_nproviders; i++)
        any |= c->jwt[i].jwks_file[0] != '\0';
    if (!any)
        return 0;
    struct store_txn *t = store_write_begin(s);
    if (t == NULL)
        return -1;
    for (int i = 0; i < c->jwt_nproviders; i++) {
        if (c->jwt[i].jwks_file[0] == '\0')
            continue;
        errno = 0;
        if (sync_one(t, &c->jwt[i], why) < 0) {
            store_abort(t);
            return -1;
        }
    }
    /* the meta record keeps its source and etcd revision: a key set is not a resource */
    struct store_meta m = {0};
    if (store_read_begin(s) == 0) {
        store_meta_get(s, &m);
        store_read_end(s);
    }
    int changes = store_txn_changes(t);
    if (store_commit(t, m.source[0] ? m.source : "jwks", m.etcd_revision) < 0)
        return -1;
    return changes;
}
