/* log.h: error log for every aigw process (stderr in foreground, syslog otherwise). */
#ifndef AIGW_LOG_H
#define AIGW_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set where log lines go; ident is "master", "worker 2", ... */
void log_init(int foreground, int level, const char *ident);
void log_set_level(int level);
void log_set_ident(const char *ident);
int log_level_parse(const char *s);
const char *log_level_name(int level);

/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int log_debug_enabled(void);
/* Reopen log files after rotation (SIGUSR1); 0 or -1 (errno set). */
int log_reopen(void);

#endif
