/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.c: aigwctl's side of the control socket (see /work/spec/control.md).
 *
 * One connection carries one request and one reply, each one JSON object on
 * one line with "aigw_control": 1. A reply of another version is refused
 * here as the master refuses a request of another version: a half-understood
 * answer from another release is worse than a clear error.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "aigwctl.h"

/* Milliseconds on the monotonic clock. */
static long long
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to the control socket; -1 with the error (and what to do) printed. */
static int
control_connect(const struct ctl *ctl, int *rc)
{
    struct sockaddr_un sun;
    const char *path = ctl->socket_path;
    *rc = CTL_UNREACHABLE;
    if (path[0] == '\0') {
        ctl_err("no control socket: control.socket is empty in %s; set it and restart aigw, "
                "or pass -s SOCKET",
                ctl->conf_path);
        return -1;
    }
    if (strlen(path) >= sizeof(sun.sun_path)) {
        ctl_err("control socket %s: path too long (at most %zu bytes); use a shorter "
                "control.socket or -s",
                path, sizeof(sun.sun_path) - 1);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ctl_err("socket: %s", strerror(errno));
        *rc = CTL_FAILED;
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
        return fd;
    int err = errno;
    close(fd);
    if (err == ENOENT)
        ctl_err("cannot connect to %s: %s; is aigw running? (systemctl status aigw) or pass -s",
                path, strerror(err));
    else if (err == ECONNREFUSED)
        ctl_err("cannot connect to %s: %s; aigw is not running (the socket is left from an "
                "earlier run): start it (systemctl start aigw), or pass -s",
                path, strerror(err));
    else if (err == EACCES || err == EPERM)
        ctl_err("cannot connect to %s: %s; run aigwctl as root or as a member of aigw's group "
                "(the socket is mode 0660)",
                path, strerror(err));
    else
        ctl_err("cannot connect to %s: %s; check control.socket in %s, or pass -s", path,
                strerror(err), ctl->conf_path);
    return -1;
}

/* Write the whole request; the master reads one line. */
static int
send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Read the reply: up to its "\n", or to EOF. Returns a malloc'd NUL-ended
 * string, or NULL with the error printed and *rc set.
 */
static char *
read_reply(const struct ctl *ctl, int fd, const char *command, int *rc)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    long long deadline = mono_ms() + (long long)ctl->timeout_s * 1000;
    *rc = CTL_FAILED;
    if (buf == NULL) {
        ctl_err("out of memory");
        return NULL;
    }
    for (;;) {
        long long left = deadline - mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = left > 0 ? poll(&pfd, 1, (int)(left > 60000 ? 60000 : left)) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && mono_ms() < deadline)
            continue;
        if (n == 0) {
            if (strcmp(command, "reload") == 0)
                ctl_err("no answer from aigw within %d s; the reload goes on: see aigwctl "
                        "status for its result, or wait longer with --timeout",
                        ctl->timeout_s);
            else
                ctl_err("no answer from aigw on %s within %d s to %s; see its log, or wait "
                        "longer with --timeout",
                        ctl->socket_path, ctl->timeout_s, command);
            goto fail;
        }
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                ctl_err("out of memory");
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ctl_err("reading the answer of aigw on %s: %s; see its log", ctl->socket_path,
                    strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        char *nl = memchr(buf + len, '\n', (size_t)r);
        len += (size_t)r;
        if (nl != NULL) {
            len = (size_t)(nl - buf);
            break;
        }
        if (len > CONTROL_MAX_MSG) {
            ctl_err("the answer of aigw on %s is larger than the protocol's 1 MiB; is it the "
                    "control socket of aigw?",
                    ctl->socket_path);
            goto fail;
        }
    }
    if (len == 0) {
        ctl_err("aigw closed the control connection without answering %s; see its log "
                "(journalctl -u aigw)",
                command);
        goto fail;
    }
    buf[len] = '\0';
    return buf;
fail:
    free(buf);
    return NULL;
}

/*
 * Check the reply's version and "ok"; on success *result is its "result"
 * (a new reference). Errors are printed.
 */
static int
parse_reply(const struct ctl *ctl, const char *text, const char *command,
            struct json_object **result)
{
    struct json_object *o, *v, *err = NULL;
    struct json_tokener *tok = json_tokener_new();
    int rc = CTL_FAILED;
    if (tok == NULL) {
        ctl_err("out of memory");
        return CTL_FAILED;
    }
    o = json_tokener_parse_ex(tok, text, (int)strlen(text));
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != strlen(text) ||
        !json_object_is_type(o, json_type_object)) {
        ctl_err("the answer on %s is not a JSON object: is it the control socket of aigw? "
                "check control.socket or -s",
                ctl->socket_path);
        goto done;
    }
    if (!json_object_object_get_ex(o, "aigw_control", &v) ||
        !json_object_is_type(v, json_type_int)) {
        ctl_err("the answer on %s has no \"aigw_control\" version: is it the control socket of "
                "aigw? check control.socket or -s",
                ctl->socket_path);
        goto done;
    }
    json_object_object_get_ex(o, "error", &err);
    if (json_object_get_int64(v) != CONTROL_PROTOCOL) {
        ctl_err("aigw on %s speaks control protocol version %lld and this aigwctl speaks %d; "
                "use the aigwctl of the same release as aigw%s%s%s",
                ctl->socket_path, (long long)json_object_get_int64(v), CONTROL_PROTOCOL,
                err ? " (aigw said: " : "", err ? json_object_get_string(err) : "", err ? ")" : "");
        goto done;
    }
    if (!json_object_object_get_ex(o, "ok", &v) || !json_object_is_type(v, json_type_boolean)) {
        ctl_err("the answer of aigw has no \"ok\"; is aigw of the same release as aigwctl?");
        goto done;
    }
    if (!json_object_get_boolean(v)) {
        const char *msg = err ? json_object_get_string(err) : "failed, without a message";
        struct json_object *code = NULL;
        json_object_object_get_ex(o, "code", &code);
        if (code != NULL && strcmp(json_object_get_string(code), CONTROL_E_BUSY) == 0)
            ctl_err("reload: %s; wait for it to end (aigwctl status shows the last reload) and "
                    "try again",
                    msg);
        else if (strcmp(command, "reload") == 0)
            ctl_err("reload failed: %s\naigwctl: aigw keeps serving the previous configuration; "
                    "fix the error (aigwctl check lists them all) and run aigwctl reload again",
                    msg);
        else
            ctl_err("%s: %s", command, msg);
        goto done;
    }
    if (!json_object_object_get_ex(o, "result", &v) || v == NULL)
        *result = json_object_new_object();
    else
        *result = json_object_get(v);
    rc = CTL_OK;
done:
    json_tokener_free(tok);
    json_object_put(o);
    return rc;
}

int
control_call(const struct ctl *ctl, const char *command, struct json_object *args,
             struct json_object **result)
{
    int rc;
    char *reply = NULL;
    *result = NULL;
    int fd = control_connect(ctl, &rc);
    if (fd < 0) {
        json_object_put(args);
        return rc;
    }
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "aigw_control", json_object_new_int(CONTROL_PROTOCOL));
    json_object_object_add(req, "command", json_object_new_string(command));
    json_object_object_add(req, "args", args ? args : json_object_new_object());
    const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(s);
    char *line = malloc(len + 2);
    if (line == NULL) {
        ctl_err("out of memory");
        rc = CTL_FAILED;
        goto done;
    }
    memcpy(line, s, len);
    line[len] = '\n';
    if (send_all(fd, line, len + 1) < 0) {
        ctl_err("sending %s to aigw on %s: %s; see its log", command, ctl->socket_path,
                strerror(errno));
        rc = CTL_FAILED;
        goto done;
    }
    /*
     * No shutdown(SHUT_WR) here: the master takes EOF for a client that went
     * away, and would drop the reply of a reload that is still running.
     */
    reply = read_reply(ctl, fd, command, &rc);
    if (reply != NULL)
        rc = parse_reply(ctl, reply, command, result);
done:
    free(reply);
    free(line);
    json_object_put(req);
    close(fd);
    return rc;
}

int
control_status(const struct ctl *ctl)
{
    struct json_object *st;
    int rc = control_call(ctl, "status", NULL, &st);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        output_json(stdout, st);
    else
        output_status(stdout, st);
    json_object_put(st);
    return CTL_OK;
}

/* A member as an integer, or dflt. */
static long long
get_int(struct json_object *o, const char *key, long long dflt)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return dflt;
    return json_object_get_int64(v);
}

/* The restart-only keys a reload found changed: ignored until aigw restarts. */
static void
control_print_kept(struct json_object *r)
{
    struct json_object *kept;
    if (!json_object_object_get_ex(r, "restart_only", &kept) ||
        !json_object_is_type(kept, json_type_array) || json_object_array_length(kept) == 0)
        return;
    printf("ignored until aigw restarts (the running values stay):");
    for (size_t i = 0; i < json_object_array_length(kept); i++) {
        struct json_object *k = json_object_array_get_idx(kept, i);
        const char *name =
            json_object_is_type(k, json_type_string) ? json_object_get_string(k) : "";
        /* a key of aigw.yaml is a dotted lower-case word: print nothing else */
        if (name[0] == '\0' ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789._") != strlen(name))
            name = "?";
        printf("%s %s", i ? "," : "", name);
    }
    printf("\n");
}

/*
 * The warnings the master logged during the reload, as its error log has
 * them, on standard error: a restart-only key, a key set that could not be
 * read, a descriptor limit too low, a keyless Admin API. Control characters
 * are printed as '?': the text names files and values from aigw.yaml.
 */
static void
control_print_warnings(struct json_object *r)
{
    struct json_object *w;
    if (!json_object_object_get_ex(r, "warnings", &w) || !json_object_is_type(w, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(w); i++) {
        struct json_object *o = json_object_array_get_idx(w, i);
        if (!json_object_is_type(o, json_type_string))
            continue;
        fprintf(stderr, "aigwctl: reload warning: ");
        for (const unsigned char *p = (const unsigned char *)json_object_get_string(o); *p; p++)
            fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
        fputc('\n', stderr);
    }
}

int
control_reload(const struct ctl *ctl)
{
    struct json_object *r;
    int rc = control_call(ctl, "reload", NULL, &r);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        output_json(stdout, r);
    else
        printf("reload done: generation %lld; %lld workers serve the new configuration\n",
               get_int(r, "generation", 0), get_int(r, "workers", 0));
    if (!ctl->json) {
        control_print_kept(r);
        control_print_warnings(r);
    }
    json_object_put(r);
    return CTL_OK;
}

/* 1 while pid runs (a zombie does not: it has exited, its parent did not reap it yet). */
static int
pid_running(pid_t pid)
{
    char path[64], buf[512];
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return 1; /* no /proc: kill() said it is there */
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return !(paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

/*
 * stop: ask for the master's pid first, so that aigwctl can wait until the
 * master has really exited (a graceful stop drains first) and exit 0 then.
 */
int
control_stop(const struct ctl *ctl)
{
    struct json_object *st, *r, *args;
    int rc = control_call(ctl, "status", NULL, &st);
    if (rc != CTL_OK)
        return rc;
    pid_t pid = (pid_t)get_int(st, "pid", 0);
    json_object_put(st);
    args = json_object_new_object();
    json_object_object_add(args, "graceful", json_object_new_boolean(ctl->graceful));
    rc = control_call(ctl, "stop", args, &r);
    if (rc != CTL_OK)
        return rc;
    long long deadline = mono_ms() + (long long)ctl->timeout_s * 1000;
    int stopped = pid <= 0; /* no pid to watch: take the master's word */
    while (!stopped && mono_ms() < deadline) {
        if (!pid_running(pid))
            stopped = 1;
        else
            usleep(20000);
    }
    if (!stopped) {
        ctl_err("aigw (pid %d) is still running %d s after it was asked to stop%s; see "
                "aigwctl status and its log, or wait longer with --timeout",
                (int)pid, ctl->timeout_s,
                ctl->graceful ? " (it drains requests up to timeouts.drain)" : "");
        json_object_put(r);
        return CTL_FAILED;
    }
    if (ctl->json) {
        json_object_object_add(r, "pid", json_object_new_int64(pid));
        json_object_object_add(r, "stopped", json_object_new_boolean(1));
        output_json(stdout, r);
    } else {
        printf("aigw (pid %d) stopped%s\n", (int)pid, ctl->graceful ? " gracefully" : "");
    }
    json_object_put(r);
    return CTL_OK;
}

int
control_reopen(const struct ctl *ctl)
{
    struct json_object *r;
    int rc = control_call(ctl, "reopen", NULL, &r);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        output_json(stdout, r);
    else
        printf("log files reopened\n");
    json_object_put(r);
    return CTL_OK;
}

/* etcd accept: the master takes etcd's state despite an identity mismatch. */
int
control_etcd_accept(const struct ctl *ctl)
{
    struct json_object *r;
    int rc = control_call(ctl, "etcd_accept", NULL, &r);
    if (rc != CTL_OK)
        return rc;
    if (ctl->json)
        output_json(stdout, r);
    else
        printf("accepted: the next full read of etcd replaces the configuration table "
               "(see aigwctl status)\n");
    json_object_put(r);
    return CTL_OK;
}

/* check: the master validates its files as they are on disk now. */
int
control_check(const struct ctl *ctl)
{
    struct json_object *r, *ok = NULL, *errs = NULL;
    int rc = control_call(ctl, "check", NULL, &r);
    if (rc != CTL_OK)
        return rc;
    json_object_object_get_ex(r, "ok", &ok);
    json_object_object_get_ex(r, "errors", &errs);
    int good = ok != NULL && json_object_get_boolean(ok);
    if (ctl->json) {
        output_json(stdout, r);
    } else {
        size_t n = json_object_is_type(errs, json_type_array) ? json_object_array_length(errs) : 0;
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(errs, i)));
        if (good)
            printf("configuration OK\n");
        else
            ctl_err("configuration check failed: fix the errors above, then run aigwctl "
                    "reload");
    }
    json_object_put(r);
    return good ? CTL_OK : CTL_FAILED;
}
