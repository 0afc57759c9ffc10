/* SPDX-License-Identifier: Apache-2.0 */
/* log.h: the error log and the access log of every aigw process. */
#ifndef AIGW_LOG_H
#define AIGW_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set where log lines go; ident is "master", "worker 2", ... */
void log_init(int foreground, int level, const char *ident);
/*
 * Send the error log where error_log says ("syslog", "stderr", a file path;
 * foreground: stderr) and access lines where access_log says (a path,
 * "syslog", "stderr", "off"; "": with the error log). Files are opened
 * now. -1 (logged, nothing changed) when a file cannot be opened.
 */
int log_open(const char *error_log, const char *access_log, int foreground);
/*
 * Open the log files again by name after rotation (SIGUSR1, aigwctl reopen;
 * stderr and syslog have nothing to reopen); 0, or -1 (logged, errno set)
 * when one could not be: that one keeps its old file.
 */
int log_reopen(void);
/* One access line (a JSON object, without newline): not subject to the log level. */
void log_access(const char *line, size_t len);
/* Whether access lines go anywhere (access_log is not off): skip making them if not. */
int log_access_enabled(void);
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
/* log_error with strerror(errno) appended. */
void log_error_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Hand every warning and error line of this process to fn as well (the
 * message only, whatever log_level says), until log_set_hook(NULL, NULL):
 * the master collects a reload's warnings for its answer this way.
 */
void log_set_hook(void (*fn)(int level, const char *msg, void *arg), void *arg);
/* The last error-level message of this process ("" if none). */
const char *log_last_error(void);
/* Where a daemon's error log goes, for the terminal: a path, the system log, or nowhere and why. */
void log_describe_dest(const char *error_log, char *buf, size_t len);
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
int log_debug_enabled(void);

#endif
