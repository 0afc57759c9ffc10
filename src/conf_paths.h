/* SPDX-License-Identifier: Apache-2.0 */
/* conf_paths.h: aigw -t opens what a start opens (logs, data_dir, the runtime files' folders). */
#ifndef AIGW_CONF_PATHS_H
#define AIGW_CONF_PATHS_H

struct conf;
struct aigw_errors;

/*
 * Check, without creating or changing anything, that a start could open
 * every path of c: the error_log and access_log files (appendable, or
 * creatable in their folder), data_dir (a writable folder, or creatable),
 * and the folders of pid_file and control.socket. Each failure is added to
 * e naming its key; returns -1 if there was any.
 */
int conf_paths_check(const struct conf *c, struct aigw_errors *e);

#endif
