/* log.c: the error log shared by master and workers. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "aigw/log.h"

static int log_foreground = 1;
static int log_lvl = LOG_LVL_INFO;
static char log_ident[32] = "aigw";

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

/* Choose stderr or syslog; may be called again after fork+exec. */
void
log_init(int foreground, int level, const char *ident)
{
    log_foreground = foreground;
    log_lvl = level;
    if (ident != NULL)
        log_set_ident(ident);
    if (!foreground)
        openlog("aigw", LOG_PID | LOG_NDELAY, LOG_DAEMON);
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

/* One line, written with a single write(2) so lines of several processes never interleave. */
static void
log_vwrite(int level, const char *fmt, va_list ap, int with_errno, int saved_errno)
{
    char msg[2048];
    int n;

    if (level > log_lvl)
        return;
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    if (with_errno)
        snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(saved_errno));

    if (!log_foreground) {
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
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
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

/*
 * Reopen the log files (SIGUSR1, aigwctl reopen). stderr and syslog have
 * nothing to reopen.
 */
int
log_reopen(void)
{
    return 0;
}
