/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keyfile.c: a secret from a file (admin.keys' key_file). The file is the
 * key's only copy on disk, so a mode that lets every local user read it
 * would make the key worthless: such a file is refused, not just warned
 * about, as sshd refuses a private key other users can read.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"

/* Read at most len - 1 bytes of fd into buf, NUL-terminated; the byte count or -1. */
static ssize_t
keyfile_slurp(int fd, char *buf, size_t len)
{
    size_t off = 0;
    while (off + 1 < len) {
        ssize_t n = read(fd, buf + off, len - 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        off += (size_t)n;
    }
    buf[off] = '\0';
    return (ssize_t)off;
}

/* The first line of buf, checked and copied into key; -1 with err set. */
static int
keyfile_line(const char *path, char *buf, size_t n, char *key, size_t keylen, char *err,
             size_t errlen)
{
    size_t end = 0;
    while (end < n && buf[end] != '\n')
        end++;
    while (end > 0 && (buf[end - 1] == '\r' || buf[end - 1] == ' ' || buf[end - 1] == '\t'))
        end--;
    if (end == 0) {
        snprintf(err, errlen, "%s is empty: put the key on its first line", path);
        return -1;
    }
    for (size_t i = 0; i < end; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
            snprintf(err, errlen, "%s: the key holds a control character", path);
            return -1;
        }
    if (end < KEYFILE_MIN || end > KEYFILE_MAX || end >= keylen) {
        snprintf(err, errlen, "%s: the key must be %d to %d characters long", path, KEYFILE_MIN,
                 KEYFILE_MAX);
        return -1;
    }
    memcpy(key, buf, end);
    key[end] = '\0';
    return 0;
}

/*
 * Open path for reading and check it is a regular file; when private, also
 * that other users can neither read nor write it. The fd, or -1 with err set.
 */
static int
keyfile_open(const char *path, int private, char *err, size_t errlen)
{
    struct stat st;
    /* O_NONBLOCK: a FIFO put in its place must not hang the master */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
    } else if (private && (st.st_mode & (S_IROTH | S_IWOTH))) {
        snprintf(err, errlen,
                 "%s is readable or writable by every user (mode %04o): chmod o-rwx it "
                 "(0640 root:aigw)",
                 path, (unsigned)(st.st_mode & 07777));
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

int
keyfile_read(const char *path, char *key, size_t keylen, char *err, size_t errlen)
{
    char buf[KEYFILE_MAX + 64];
    int rv = -1;
    int fd = keyfile_open(path, 1, err, errlen);
    if (fd < 0)
        return -1;
    ssize_t n = keyfile_slurp(fd, buf, sizeof(buf));
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto done;
    }
    rv = keyfile_line(path, buf, (size_t)n, key, keylen, err, errlen);
done:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rv;
}

char *
keyfile_read_all(const char *path, int private, size_t max, char *err, size_t errlen)
{
    int fd = keyfile_open(path, private, err, errlen);
    if (fd < 0)
        return NULL;
    char *buf = malloc(max + 2);
    ssize_t n = buf != NULL ? keyfile_slurp(fd, buf, max + 2) : -1;
    close(fd);
    if (n < 0)
        snprintf(err, errlen, "%s: %s", path, buf ? strerror(errno) : "out of memory");
    else if ((size_t)n > max)
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
    else if (n == 0)
        snprintf(err, errlen, "%s is empty", path);
    else
        return buf;
    if (buf != NULL) {
        explicit_bzero(buf, max + 2);
        free(buf);
    }
    return NULL;
}
