/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_sock.c: the client listeners' sockets (master): one per worker
 * position and address, all bound with SO_REUSEPORT.
 *
 * Why: with one socket shared by every worker, each worker's epoll is woken
 * for the same queue and the one that gets there first takes the
 * connection; under load the busiest worker keeps winning (bench/run
 * measured a 38 %/62 % split of two workers' CPU). With a socket per
 * worker the kernel hashes each new connection (its addresses and ports)
 * to one socket of the group, so connections spread evenly, and a worker
 * only ever wakes for its own.
 *
 * What must not be lost: a connection queued on a socket is reset when the
 * last descriptor of that socket closes. So the master holds every socket
 * for as long as the address is listened on: a worker that dies leaves
 * its queue to the worker restarted in its position; a reload's new
 * workers take the same sockets (dups) as the old ones, position for
 * position; a reload to fewer workers closes none (the surplus sockets go
 * to the remaining workers, p mod n), a reload to more adds sockets. Only
 * an address no longer listed, or aigw stopping, closes them, as before.
 *
 * The probe: SO_REUSEPORT would let a second aigw (same user) join our
 * group and take half the connections; a plain bind first fails with
 * EADDRINUSE wherever anything listens, as it did before.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aigw/conf.h"
#include "log.h"
#include "master_priv.h"

/* A socket for l, bound and listening; reuseport: SO_REUSEPORT. -1 logged (key listen). */
static int
sock_open(const struct conf_listen *l, int reuseport)
{
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(l->host, l->port, &hints, &ai), one = 1;
    if (rc != 0) {
        log_error("listen %s (key listen): %s", l->text, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error_sys("listen %s (key listen): socket", l->text);
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || (reuseport && listen(fd, 511) < 0)) {
        log_error_sys("listen %s (key listen)", l->text);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* Was fd bound with SO_REUSEPORT? */
static int
reuseport_on(int fd)
{
    int on = 0;
    socklen_t len = sizeof(on);
    return getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0 && on;
}

int
master_sock_fill(struct gen *g, int i, const struct conf_listen *l, int want)
{
    int added = 0;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    if (g->nsock[i] > 0 && !reuseport_on(g->lfds[i][0])) {
        /* from an aigw before SO_REUSEPORT: no socket can join it, the workers share it */
        log_info("proxy listening on %s with one socket for all workers (handed over without "
                 "SO_REUSEPORT; a restart gives each worker its own)",
                 l->text);
        return 0;
    }
    if (g->nsock[i] == 0) {
        int probe = sock_open(l, 0); /* anyone listening there makes this fail */
        if (probe < 0)
            return -1;
        close(probe);
    }
    while (g->nsock[i] < want) {
        int fd = sock_open(l, 1);
        if (fd < 0)
            return -1;
        g->lfds[i][g->nsock[i]++] = fd;
        added++;
    }
    if (added > 0)
        log_info("proxy listening on %s (%d socket%s, one per worker)", l->text, g->nsock[i],
                 g->nsock[i] == 1 ? "" : "s");
    return 0;
}

int
master_sock_dup(struct gen *to, int i, const struct gen *from, int j)
{
    for (int p = 0; p < from->nsock[j]; p++) {
        int fd = fcntl(from->lfds[j][p], F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            log_warn("listen %s: dup", from->ltext[j]);
            return -1;
        }
        to->lfds[i][to->nsock[i]++] = fd;
    }
    return 0;
}

/* The indexes of listener i's sockets that the worker at position pos accepts on. */
static int
sock_positions(const struct gen *g, int i, int pos, int *ps)
{
    int n = 0, ns = g->nsock[i], nw = g->nworkers > 0 ? g->nworkers : 1;
    if (ns == 0)
        return 0;
    if (ns < nw) { /* a shared socket (see master_sock_fill): position mod its count */
        ps[n++] = pos % ns;
        return n;
    }
    for (int p = pos; p < ns; p += nw) /* fewer workers than sockets: the surplus shared out */
        ps[n++] = p;
    return n;
}

int
master_sock_for(const struct gen *g, int i, int pos, int *fds)
{
    int ps[MAX_WORKERS], n = sock_positions(g, i, pos, ps);
    for (int k = 0; k < n; k++)
        fds[k] = g->lfds[i][ps[k]];
    return n;
}

/* Mark the sockets of listener i of g that a live worker of g accepts on. */
static void
mark_served(const struct master *m, const struct gen *g, int i, unsigned char *served)
{
    int ps[MAX_WORKERS];
    for (int s = 0; s < SHM_WORKER_CAP; s++) {
        const struct wslot *w = &m->workers[s];
        if (!w->used || w->gen != g->id || w->pid <= 0 || w->draining)
            continue;
        int n = sock_positions(g, i, w->pos, ps);
        for (int k = 0; k < n; k++)
            served[ps[k]] = 1;
    }
}

#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68 /* Linux 5.3 */
#endif

/* New connections of the group of fd go to the sockets live[0..n-1] only, at random. */
static int
steer_to(int fd, const int *live, int n)
{
    struct sock_filter code[2 + 2 * MAX_WORKERS + 1];
    int k = 0;
    code[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM);
    code[k++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)n);
    for (int j = 0; j < n; j++) {
        code[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)j, 0, 1);
        code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)live[j]);
    }
    code[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)live[0]);
    struct sock_fprog prog = {(unsigned short)k, code};
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

/*
 * A socket no worker accepts on (its worker died and is not restarted at
 * once: a failed start pausing, a replaced LMDB file) would still get its
 * share of new connections, and they would wait there. So after every
 * change of the workers the master steers each address's new connections
 * to the sockets that are served (a classic BPF program on the group: a
 * random pick among them), and lifts it once all are served again. A
 * group's sockets are indexed in the order they started listening, which
 * is the order of positions: the master only ever adds at the end.
 * Connections already queued on the lone socket wait for its worker.
 */
void
master_sock_steer(struct master *m)
{
    struct gen *g = m->cur;
    if (g == NULL || m->stopping)
        return;
    for (int i = 0; i < g->nlfds; i++) {
        unsigned char served[MAX_WORKERS] = {0};
        int live[MAX_WORKERS], nlive = 0, ns = g->nsock[i];
        if (ns < 2 || !reuseport_on(g->lfds[i][0]))
            continue;
        mark_served(m, g, i, served);
        for (int j = 0; m->next != NULL && j < m->next->nlfds; j++)
            if (strcmp(m->next->ltext[j], g->ltext[i]) == 0)
                mark_served(m, m->next, j, served); /* the same sockets, position for position */
        for (int p = 0; p < ns; p++)
            if (served[p])
                live[nlive++] = p;
        int one = 1, want = nlive == ns ? 0 : nlive; /* none served: nothing to prefer */
        if (want == g->steered[i] && want == 0)
            continue;
        if (want == 0) {
            /* ENOENT: none was attached (a generation after a reload starts unsteered) */
            if (setsockopt(g->lfds[i][0], SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &one, sizeof(one)) <
                    0 &&
                errno != ENOENT)
                log_warn("listen %s: cannot lift the steering of new connections", g->ltext[i]);
            else if (g->steered[i] > 0)
                log_info("listen %s: every socket has a worker again", g->ltext[i]);
        } else if (steer_to(g->lfds[i][0], live, nlive) < 0) {
            log_warn("listen %s: cannot steer new connections away from a socket without a "
                     "worker",
                     g->ltext[i]);
        } else if (want != g->steered[i]) {
            log_info("listen %s: %d of %d sockets have a worker; new connections go to those",
                     g->ltext[i], nlive, ns);
        }
        g->steered[i] = want;
    }
}

void
master_sock_close(struct gen *g)
{
    for (int i = 0; i < g->nlfds; i++) {
        for (int p = 0; p < g->nsock[i]; p++)
            close(g->lfds[i][p]);
        g->nsock[i] = 0;
    }
    g->nlfds = 0;
}
