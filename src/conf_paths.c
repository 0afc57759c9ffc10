/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf_paths.c: the files and folders a start opens, checked by aigw -t.
 *
 * `nginx -t` opens the log files; aigw -t does the same checks but creates
 * nothing: a check must not leave files owned by whoever ran it (often root
 * while the daemon runs as aigw). A file that exists must open for
 * appending; one that does not must be creatable, that is its folder must
 * exist and be writable. data_dir is made at start when missing (one
 * level: mkdir), so its parent must exist and be writable then; the folders
 * of pid_file and control.socket are made with their parents, so the
 * nearest existing one must be writable.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aigw/conf.h"
#include "aigw/errors.h"
#include "conf_paths.h"

/* The folder of path, in buf (dirname may change its argument: a copy). */
static const char *
conf_paths_dir(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "%s", path);
    return dirname(buf);
}

/* A folder start would make with mkdir: it exists as a writable folder, or its parent does. */
static int
conf_paths_folder(const char *key, const char *dir, struct aigw_errors *e)
{
    struct stat st;
    char buf[PATH_MAX];
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            errors_add(e, NULL, key, "%s is not a folder", dir);
            return -1;
        }
        if (access(dir, W_OK | X_OK) < 0) {
            errors_add(e, NULL, key, "folder %s is not writable: %s", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        errors_add(e, NULL, key, "%s: %s", dir, strerror(errno));
        return -1;
    }
    const char *parent = conf_paths_dir(dir, buf, sizeof(buf));
    if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode) || access(parent, W_OK | X_OK) < 0) {
        errors_add(e, NULL, key, "cannot create folder %s: %s is not a writable folder", dir,
                   parent);
        return -1;
    }
    return 0;
}

/* A log file (opened O_APPEND|O_CREAT at start): it opens for appending, or can be created. */
static int
conf_paths_log(const char *key, const char *path, struct aigw_errors *e)
{
    char buf[PATH_MAX];
    /* the words are destinations, not files */
    if (path[0] == '\0' || strcmp(path, "syslog") == 0 || strcmp(path, "stderr") == 0 ||
        strcmp(path, "off") == 0)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    if (errno != ENOENT) {
        errors_add(e, NULL, key, "cannot open %s for appending: %s", path, strerror(errno));
        return -1;
    }
    const char *dir = conf_paths_dir(path, buf, sizeof(buf));
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) < 0) {
        errors_add(e, NULL, key, "cannot create %s: its folder %s is missing or not writable", path,
                   dir);
        return -1;
    }
    return 0;
}

/*
 * A runtime file (pid_file, control.socket): its folder is made at start
 * with its missing parents, so the nearest folder that exists must be
 * writable.
 */
static int
conf_paths_runtime(const char *key, const char *path, struct aigw_errors *e)
{
    char buf[PATH_MAX];
    struct stat st;
    if (path[0] == '\0')
        return 0;
    char *d = (char *)conf_paths_dir(path, buf, sizeof(buf));
    /* bounded: each step shortens d, down to "/" or "." */
    for (int depth = 0; depth < PATH_MAX && stat(d, &st) < 0 && errno == ENOENT; depth++) {
        if (strcmp(d, "/") == 0 || strcmp(d, ".") == 0)
            break;
        d = dirname(d);
    }
    if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode) || access(d, W_OK | X_OK) < 0) {
        errors_add(e, NULL, key, "cannot create the folder of %s: %s is not a writable folder",
                   path, d);
        return -1;
    }
    return 0;
}

int
conf_paths_check(const struct conf *c, struct aigw_errors *e)
{
    int bad = 0;
    bad |= conf_paths_log("error_log", c->error_log, e);
    bad |= conf_paths_log("access_log", c->access_log, e);
    bad |= conf_paths_folder("data_dir", c->data_dir, e);
    bad |= conf_paths_runtime("pid_file", c->pid_file, e);
    bad |= conf_paths_runtime("control.socket", c->control_socket, e);
    return bad ? -1 : 0;
}
