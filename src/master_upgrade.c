/* SPDX-License-Identifier: Apache-2.0 */
/*
 * master_upgrade.c: replacing the running binary without dropping a
 * connection (master), as nginx does on SIGUSR2.
 *
 * The old master starts the binary at the path it was started from (the
 * new file, after a package upgrade) as a new master, handing it its
 * listening sockets (client, Admin API, metrics) and the shared memory, and
 * a pipe. The new master opens the LMDB file itself, starts its workers on
 * those same sockets, takes over the control socket and the PID file, and
 * writes one byte to the pipe once it serves. Then the old master drains
 * and stops like on SIGTERM: connections waiting in the listen queues are
 * taken by whichever workers accept first, and in-flight requests and
 * streams on the old workers finish. If the new master fails before that,
 * the old one just goes on.
 *
 * AIGW_INHERIT="proxy@ADDR=FD;admin@ADDR=FD;metrics@ADDR=FD;shm=FD;ready=FD"
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "aigw/conf.h"
#include "log.h"
#include "shm.h"
#include "master_priv.h"

#define INHERIT_ENV "AIGW_INHERIT"
/* a socket per worker position of each client listener, the Admin API's and metrics' */
#define MAX_INHERIT ((MAX_WORKERS + 2) * CONF_MAX_LISTEN + 2)

/* What a predecessor handed over, parsed once at start. */
static struct inherited {
    char kind[16];
    char text[300];
    int fd;
    int taken;
} inh[MAX_INHERIT];
static int ninh = -1, inh_shm = -1, inh_ready = -1;

/* Parse AIGW_INHERIT (once); fds become close-on-exec again. */
static void
inherit_parse(void)
{
    if (ninh >= 0)
        return;
    ninh = 0;
    const char *env = getenv(INHERIT_ENV);
    if (env == NULL)
        return;
    char *copy = strdup(env), *save = NULL;
    for (char *tok = strtok_r(copy, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
        char *eq = strrchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        int fd = atoi(eq + 1);
        if (fd < 3 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            continue;
        char *at = strchr(tok, '@');
        if (strcmp(tok, "shm") == 0) {
            inh_shm = fd;
        } else if (strcmp(tok, "ready") == 0) {
            inh_ready = fd;
        } else if (at != NULL && ninh < MAX_INHERIT) {
            *at = '\0';
            snprintf(inh[ninh].kind, sizeof(inh[ninh].kind), "%s", tok);
            snprintf(inh[ninh].text, sizeof(inh[ninh].text), "%s", at + 1);
            inh[ninh].fd = fd;
            ninh++;
        }
    }
    free(copy);
    unsetenv(INHERIT_ENV); /* the workers must not see it */
}

int
master_inherited_fd(const char *kind, const char *text)
{
    inherit_parse();
    for (int i = 0; i < ninh; i++)
        if (!inh[i].taken && strcmp(inh[i].kind, kind) == 0 && strcmp(inh[i].text, text) == 0) {
            inh[i].taken = 1;
            return inh[i].fd;
        }
    return -1;
}

int
master_upgrading(void)
{
    inherit_parse();
    return inh_ready >= 0;
}

int
master_inherit(struct master *m, struct gen *g)
{
    inherit_parse();
    if (inh_ready < 0)
        return 0;
    const struct conf *c = g->conf;
    /* every socket of an address, in order: position p keeps its queue (first_gen adds more) */
    for (int i = 0; i < c->nlisten; i++) {
        int fd;
        while (g->nsock[i] < MAX_WORKERS &&
               (fd = master_inherited_fd("proxy", c->listen[i].text)) >= 0)
            g->lfds[i][g->nsock[i]++] = fd;
        if (g->nsock[i] > 0)
            log_info("proxy listening on %s (%d socket%s from the previous master)",
                     c->listen[i].text, g->nsock[i], g->nsock[i] == 1 ? "" : "s");
    }
    if (inh_shm >= 0) {
        m->shm = shm_adopt(inh_shm, c->shm_slots, SHM_WORKER_CAP);
        if (m->shm != NULL) {
            m->shm_fd = inh_shm;
            log_info("shared memory taken over: limits, breakers and splits go on as they were");
        } else {
            close(inh_shm);
            log_warnx("the previous master's shared memory doesn't fit this configuration or "
                      "version; counters start from zero");
        }
        inh_shm = -1;
    }
    return 0;
}

/* The new master serves: tell the old one, and close what nobody took. */
void
master_upgrade_done(struct master *m)
{
    inherit_parse();
    for (int i = 0; i < ninh; i++)
        if (!inh[i].taken) {
            close(inh[i].fd);
            inh[i].taken = 1;
        }
    if (inh_ready >= 0) {
        char one = 1;
        if (write(inh_ready, &one, 1) != 1)
            log_warn("upgrade: telling the previous master");
        close(inh_ready);
        inh_ready = -1;
        log_info("upgrade: serving; the previous master (pid %d) drains and stops", (int)getppid());
    }
}

/* The old master: the new one wrote its byte (it serves), or closed the pipe (it failed). */
static void
ready_cb(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    char b;
    ssize_t n = read(fd, &b, 1);
    if (n == 1) {
        log_info("upgrade: the new master (pid %d) serves; draining and stopping this one",
                 (int)m->upgrade_pid);
        m->handed_over = 1;
        m->upgrade_pid = 0; /* no longer a child to watch as an upgrade */
        master_upgrade_free(m);
        master_stop(m, 1);
        return;
    }
    if (n < 0 && errno == EINTR)
        return;
    /* EOF: it exited; sigchld_cb says how */
    event_del(m->upgrade_ev);
}

/* Append "kind@text=fd;" with fd made inheritable (a dup, so ours stays close-on-exec). */
static int
add_fd(char *env, size_t len, const char *kind, const char *text, int fd)
{
    int d = fcntl(fd, F_DUPFD, 3); /* without CLOEXEC: it crosses exec */
    if (d < 0)
        return -1;
    size_t o = strlen(env);
    snprintf(env + o, len - o, "%s%s%s=%d;", kind, text ? "@" : "", text ? text : "", d);
    return d;
}

void
master_upgrade(struct master *m)
{
    static char env[128 * 1024]; /* one environment string: execve takes at most 128 KiB */
    static int dups[MAX_INHERIT + 2];
    int pfd[2], nd = 0;
    if (m->upgrade_pid != 0 || m->next != NULL || m->stopping) {
        log_warnx("SIGUSR2: %s; no upgrade",
                  m->upgrade_pid ? "an upgrade is already in progress"
                  : m->next      ? "a reload is in progress"
                                 : "stopping");
        return;
    }
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        log_warn("upgrade: pipe");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("upgrade: fork");
        close(pfd[0]);
        close(pfd[1]);
        return;
    }
    if (pid == 0) {
        /* the child: hand everything over through the environment, then exec */
        env[0] = '\0';
        for (int i = 0; i < m->cur->nlfds; i++)
            for (int p = 0; p < m->cur->nsock[i]; p++)
                dups[nd++] =
                    add_fd(env, sizeof(env), "proxy", m->cur->ltext[i], m->cur->lfds[i][p]);
        for (int i = 0; i < m->nadmin_fds; i++)
            dups[nd++] = add_fd(env, sizeof(env), "admin", m->conf->admin_listen[i].text,
                                m->admin_fds[i]);
        for (int i = 0; i < m->nmetrics_fds; i++)
            dups[nd++] = add_fd(env, sizeof(env), "metrics", m->conf->metrics_listen[i].text,
                                m->metrics_fds[i]);
        dups[nd++] = add_fd(env, sizeof(env), "shm", NULL, m->shm_fd);
        dups[nd++] = add_fd(env, sizeof(env), "ready", NULL, pfd[1]);
        for (int i = 0; i < nd; i++)
            if (dups[i] < 0)
                _exit(126);
        if (strlen(env) + 1 >= sizeof(env)) /* cut short: sockets would be lost */
            _exit(126);
        setenv(INHERIT_ENV, env, 1);
        char *argv[] = {"aigw", "-c", m->conf->path, m->foreground ? "-d" : NULL, NULL};
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(m->exe, argv);
        _exit(127);
    }
    close(pfd[1]);
    m->upgrade_pid = pid;
    m->upgrade_fd = pfd[0];
    m->upgrade_ev = event_new(m->base, pfd[0], EV_READ | EV_PERSIST, ready_cb, m);
    event_add(m->upgrade_ev, NULL);
    log_info("SIGUSR2: upgrade: started %s as the new master, pid %d", m->exe, (int)pid);
}

void
master_upgrade_free(struct master *m)
{
    if (m->upgrade_ev != NULL) {
        event_free(m->upgrade_ev);
        m->upgrade_ev = NULL;
    }
    if (m->upgrade_fd >= 0) {
        close(m->upgrade_fd);
        m->upgrade_fd = -1;
    }
    m->upgrade_pid = 0;
}
