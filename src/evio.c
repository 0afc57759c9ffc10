/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evio.c: reading into and writing from a plain socket bufferevent's
 * buffers ourselves, where libevent's own way costs syscalls per request.
 *
 * A bufferevent's read asks the kernel how much there is first (ioctl
 * FIONREAD in evbuffer_read), a syscall per read; here a fixed-size readv
 * into the buffer's free space does without. A bufferevent's write waits
 * for its write event, added and deleted around each reply (two epoll_ctl
 * and a wakeup); here the owner writes a complete reply at once, and enables
 * the bufferevent's write only for what the kernel did not take.
 *
 * The bufferevent keeps its input's end and its output's front frozen but
 * while it reads or writes them itself: so do we.
 */
#include "config.h"

#include <errno.h>
#include <sys/uio.h>

#include "evio.h"

/* Read at most most bytes into in: readv's result (0: EOF; -1: errno). */
ssize_t
evio_read(struct evbuffer *in, evutil_socket_t fd, size_t most)
{
    struct evbuffer_iovec v[2];
    ssize_t got;
    int err;
    evbuffer_unfreeze(in, 0);
    int n = evbuffer_reserve_space(in, (ev_ssize_t)most, v, 2);
    if (n <= 0) {
        evbuffer_freeze(in, 0);
        errno = ENOMEM;
        return -1;
    }
    got = readv(fd, (struct iovec *)v, n);
    err = errno;
    size_t left = got > 0 ? (size_t)got : 0;
    int used = 0;
    for (int i = 0; i < n && left > 0; i++, used++) {
        if (v[i].iov_len > left)
            v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    evbuffer_freeze(in, 0);
    errno = err;
    return got;
}

/* Write what out holds, as much as the socket takes: evbuffer_write's result. */
int
evio_write(struct evbuffer *out, evutil_socket_t fd)
{
    evbuffer_unfreeze(out, 1);
    int n = evbuffer_write(out, fd);
    int err = errno;
    evbuffer_freeze(out, 1);
    errno = err;
    return n;
}
