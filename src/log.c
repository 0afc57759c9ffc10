/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c: the error log and the access log of every aigw process.
 *
 * The error log goes to syslog, stderr or a file (error_log; aigw -d:
 * stderr), the access log to a file, syslog, stderr, nowhere, or wherever
 * the error log goes (access_log). Every process opens the files itself
 * with O_APPEND and writes each line with one write(2), so lines of several
 * processes never interleave. log_reopen() opens the files again by name
 * (after logrotate renamed them: SIGUSR1) and puts the new file under the
 * old descriptor number, so no line is ever written to a closed one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

enum log_to { LOG_TO_STDERR, LOG_TO_SYSLOG, LOG_TO_FILE, LOG_TO_OFF, LOG_TO_ERROR_LOG };

struct log_dest {
    enum log_to to;
    int fd; /* LOG_TO_FILE */
    char path[PATH_MAX];
};

static struct log_dest log_err = {LOG_TO_STDERR, -1, ""};
static struct log_dest log_acc = {LOG_TO_ERROR_LOG, -1, ""};
static int log_syslog_open;
static int log_opened; /* log_open chose the destinations: log_init keeps them */
static int log_lvl = LOG_LVL_INFO;
static char log_ident[32] = "aigw";

/* The last error-level message, without time stamp: what a daemon's parent prints. */
static char log_last[1024];

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* openlog once, for whichever log goes to syslog first. */
static void
need_syslog(void)
{
    if (!log_syslog_open)
        openlog("aigw", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog_open = 1;
}

/* Choose stderr or syslog until log_open; may be called again after fork+exec. */
void
log_init(int foreground, int level, const char *ident)
{
    log_lvl = level;
    if (ident != NULL)
        log_set_ident(ident);
    if (log_opened)
        return;
    log_err.to = foreground ? LOG_TO_STDERR : LOG_TO_SYSLOG;
    if (!foreground)
        need_syslog();
}

/* Open a log file for appending; -1 (errno set; the caller logs) when it cannot be. */
static int
dest_open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

/* What a value of error_log or access_log means; a file is opened. */
static int
dest_parse(struct log_dest *d, const char *v, int is_access)
{
    struct log_dest nd = {LOG_TO_FILE, -1, ""};
    if (is_access && v[0] == '\0')
        nd.to = LOG_TO_ERROR_LOG;
    else if (is_access && strcmp(v, "off") == 0)
        nd.to = LOG_TO_OFF;
    else if (strcmp(v, "stderr") == 0)
        nd.to = LOG_TO_STDERR;
    else if (strcmp(v, "syslog") == 0)
        nd.to = LOG_TO_SYSLOG;
    else if (v[0] == '\0' || snprintf(nd.path, sizeof(nd.path), "%s", v) >= (int)sizeof(nd.path))
        return -1;
    else if ((nd.fd = dest_open_file(nd.path)) < 0) {
        /* fatal at start: an error, naming the key */
        log_error_sys("cannot open log file %s (key %s)", nd.path,
                      is_access ? "access_log" : "error_log");
        return -1;
    }
    if (nd.to == LOG_TO_SYSLOG)
        need_syslog();
    if (d->fd >= 0)
        close(d->fd);
    *d = nd;
    return 0;
}

int
log_open(const char *error_log, const char *access_log, int foreground)
{
    struct log_dest e = log_err, a = log_acc;
    e.fd = a.fd = -1;
    /* aigw -d: the error log is stderr, whatever error_log says */
    if (dest_parse(&e, foreground ? "stderr" : error_log, 0) < 0 ||
        dest_parse(&a, access_log, 1) < 0) {
        if (e.fd >= 0)
            close(e.fd);
        return -1;
    }
    if (log_err.fd >= 0)
        close(log_err.fd);
    if (log_acc.fd >= 0)
        close(log_acc.fd);
    log_err = e;
    log_acc = a;
    log_opened = 1;
    return 0;
}

/* Open d's file again by name, under the same descriptor; -1 (logged) on failure. */
static int
dest_reopen(struct log_dest *d)
{
    if (d->to != LOG_TO_FILE)
        return 0;
    int fd = dest_open_file(d->path);
    if (fd < 0) {
        log_warn("cannot open log file %s", d->path);
        return -1;
    }
    /* dup3 swaps the file atomically: no write ever sees a closed descriptor */
    if (dup3(fd, d->fd, O_CLOEXEC) < 0) {
        log_warn("cannot reopen log file %s", d->path);
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int
log_reopen(void)
{
    int rv = 0, saved = 0;
    if (dest_reopen(&log_err) < 0) {
        rv = -1;
        saved = errno;
    }
    if (dest_reopen(&log_acc) < 0 && rv == 0) {
        rv = -1;
        saved = errno;
    }
    if (rv == 0 && (log_err.to == LOG_TO_FILE || log_acc.to == LOG_TO_FILE))
        log_info("reopened the log files"); /* the first line of a rotated error log */
    errno = saved;
    return rv;
}

/* Write one line (len bytes, then a newline) to a descriptor, in one system call. */
static void
fd_write_line(int fd, const char *line, size_t len)
{
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    ssize_t w = writev(fd, iov, 2);
    (void)w;
}

int
log_access_enabled(void)
{
    const struct log_dest *d = log_acc.to == LOG_TO_ERROR_LOG ? &log_err : &log_acc;
    return d->to != LOG_TO_OFF;
}

void
log_access(const char *line, size_t len)
{
    const struct log_dest *d = log_acc.to == LOG_TO_ERROR_LOG ? &log_err : &log_acc;
    switch (d->to) {
    case LOG_TO_SYSLOG:
        syslog(LOG_INFO, "%.*s", (int)(len > INT_MAX ? INT_MAX : len), line);
        break;
    case LOG_TO_STDERR:
        fd_write_line(STDERR_FILENO, line, len);
        break;
    case LOG_TO_FILE:
        fd_write_line(d->fd, line, len);
        break;
    default:
        break;
    }
}

void
log_set_level(int level)
{
    log_lvl = level;
}

void
log_set_ident(const char *ident)
{
    snprintf(log_ident, sizeof(log_ident), "%s", ident);
}

/* Return the level for a name, or -1. */
int
log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    if (strcmp(s, "warning") == 0)
        return LOG_LVL_WARN;
    return -1;
}

const char *
log_level_name(int level)
{
    if (level < 0 || level > LOG_LVL_DEBUG)
        return "?";
    return level_names[level];
}

int
log_debug_enabled(void)
{
    return log_lvl >= LOG_LVL_DEBUG;
}

/* Whom log_vwrite hands warning and error lines to as well (log_set_hook). */
static void (*log_hook_fn)(int, const char *, void *);
static void *log_hook_arg;

void
log_set_hook(void (*fn)(int level, const char *msg, void *arg), void *arg)
{
    log_hook_fn = fn;
    log_hook_arg = arg;
}

/* One line, written with a single write(2) so lines of several processes never interleave. */
static void
log_vwrite(int level, const char *fmt, va_list ap, int with_errno, int saved_errno)
{
    char msg[2048];
    int n;
    int hooked = log_hook_fn != NULL && level <= LOG_LVL_WARN;

    if (level > log_lvl && !hooked)
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (with_errno)
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved_errno));
    if (hooked) {
        /* the hook may log: not into itself */
        void (*fn)(int, const char *, void *) = log_hook_fn;
        log_hook_fn = NULL;
        fn(level, msg, log_hook_arg);
        log_hook_fn = fn;
    }
    if (level > log_lvl)
        return;
    if (level == LOG_LVL_ERROR) {
        size_t l = strnlen(msg, sizeof(log_last) - 1);
        memcpy(log_last, msg, l);
        log_last[l] = '\0';
    }

    if (log_err.to == LOG_TO_SYSLOG) {
        syslog(level_prio[level], "%s: %s", log_ident, msg);
        return;
    }
    char line[2200], ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    int len = snprintf(line, sizeof(line), "%s.%03ldZ [%s] %s[%d]: %s\n", ts,
                       now.tv_nsec / 1000000, level_names[level], log_ident, (int)getpid(), msg);
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(line)) {
        len = sizeof(line) - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(log_err.to == LOG_TO_FILE ? log_err.fd : STDERR_FILENO, line, (size_t)len);
    (void)w;
}

#define LOG_FN(name, level, with_errno)                                                            \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_vwrite(level, fmt, ap, with_errno, saved);                                             \
        va_end(ap);                                                                                \
        errno = saved;                                                                             \
    }

LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_error_sys, LOG_LVL_ERROR, 1)

const char *
log_last_error(void)
{
    return log_last;
}

/*
 * Where the error log of a daemon goes, said to the terminal that started
 * it: a file's path, or syslog (and whether a syslog daemon listens: in a
 * container /dev/log is often absent and the lines are lost).
 */
void
log_describe_dest(const char *error_log, char *buf, size_t len)
{
    if (strcmp(error_log, "syslog") == 0) {
        if (access("/dev/log", F_OK) == 0)
            snprintf(buf, len, "the error log is the system log (error_log: syslog)");
        else
            snprintf(buf, len,
                     "the error log went nowhere: error_log is syslog, but /dev/log is absent (no "
                     "syslog daemon, as in a container); set error_log to a file, or run aigw -d");
    } else if (strcmp(error_log, "stderr") == 0) {
        snprintf(buf, len,
                 "the error log went nowhere: error_log is stderr, which a daemon closes; set "
                 "error_log to a file, or run aigw -d");
    } else {
        snprintf(buf, len, "the error log is %s (error_log)", error_log);
    }
}

void
fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, fmt, ap, 1, saved);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(LOG_LVL_ERROR, fmt, ap, 0, 0);
    va_end(ap);
    exit(1);
}
