/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.c: the master's control socket (UNIX stream socket, mode 0660).
 *
 * The protocol is deliberately small: a connection carries one request and
 * one reply, each one JSON object on one line, each with "aigw_control": 1.
 * A peer speaking another version is refused with a message naming both
 * versions, so an aigwctl from another release fails clearly rather than
 * half-working.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "log.h"
#include "control.h"

struct control {
    struct event_base *base;
    struct evconnlistener *lev;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const struct control_ops *ops;
    void *arg;
    struct control_req *reqs; /* connections open */
};

struct control_req {
    struct control *c;
    struct bufferevent *bev;
    struct control_req *next, *prev;
    int replied;
    int dispatched; /* the request was read: an EOF now is a half-close, the reply still goes */
    int gone;       /* the connection broke before the reply */
    int stop_after, stop_graceful; /* the stop command: act once the reply is out */
};

static void
req_free(struct control_req *cr)
{
    struct control *c = cr->c;
    if (cr->prev)
        cr->prev->next = cr->next;
    else
        c->reqs = cr->next;
    if (cr->next)
        cr->next->prev = cr->prev;
    bufferevent_free(cr->bev);
    free(cr);
}

/* The reply is out: close, and for stop, stop now. */
static void
on_written(struct bufferevent *bev, void *arg)
{
    struct control_req *cr = arg;
    struct control *c = cr->c;
    int stop = cr->stop_after, graceful = cr->stop_graceful;
    req_free(cr);
    if (stop)
        c->ops->stop(c->arg, graceful);
}

void
control_reply(struct control_req *cr, int ok, struct json_object *result, const char *code,
              const char *error)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "aigw_control", json_object_new_int(CONTROL_PROTOCOL));
    json_object_object_add(o, "ok", json_object_new_boolean(ok));
    if (ok)
        json_object_object_add(o, "result", result ? result : json_object_new_object());
    else {
        json_object_put(result);
        json_object_object_add(o, "code", json_object_new_string(code ? code : CONTROL_E_FAILED));
        json_object_object_add(o, "error", json_object_new_string(error ? error : "failed"));
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    cr->replied = 1;
    if (cr->gone) { /* nobody to tell */
        json_object_put(o);
        req_free(cr);
        return;
    }
    bufferevent_write(cr->bev, s, strlen(s));
    bufferevent_write(cr->bev, "\n", 1);
    json_object_put(o);
    bufferevent_disable(cr->bev, EV_READ);
    bufferevent_setcb(cr->bev, NULL, on_written, NULL, cr);
}

/* Run one request. */
static void
dispatch(struct control_req *cr, struct json_object *req)
{
    struct control *c = cr->c;
    struct json_object *v, *args = NULL, *cmdo;
    char msg[256];
    int version = -1;
    if (json_object_object_get_ex(req, "aigw_control", &v) && json_object_is_type(v, json_type_int))
        version = json_object_get_int(v);
    if (version != CONTROL_PROTOCOL) {
        snprintf(msg, sizeof(msg),
                 "control protocol version %d is not supported by this aigw (it speaks %d); use "
                 "the aigwctl of the same release",
                 version, CONTROL_PROTOCOL);
        control_reply(cr, 0, NULL, CONTROL_E_VERSION, msg);
        return;
    }
    json_object_object_get_ex(req, "args", &args);
    if (!json_object_object_get_ex(req, "command", &cmdo) ||
        !json_object_is_type(cmdo, json_type_string)) {
        control_reply(cr, 0, NULL, CONTROL_E_BAD_REQUEST, "the request has no \"command\"");
        return;
    }
    const char *cmd = json_object_get_string(cmdo);
    if (strcmp(cmd, "status") == 0) {
        struct json_object *r = json_object_new_object();
        c->ops->status(c->arg, r);
        control_reply(cr, 1, r, NULL, NULL);
    } else if (strcmp(cmd, "reload") == 0) {
        c->ops->reload(c->arg, cr);
    } else if (strcmp(cmd, "stop") == 0) {
        struct json_object *g = NULL, *r = json_object_new_object();
        cr->stop_graceful = args != NULL && json_object_object_get_ex(args, "graceful", &g) &&
                            json_object_get_boolean(g);
        cr->stop_after = 1;
        json_object_object_add(r, "stopping", json_object_new_boolean(1));
        json_object_object_add(r, "pid", json_object_new_int((int)getpid()));
        control_reply(cr, 1, r, NULL, NULL);
    } else if (strcmp(cmd, "reopen") == 0) {
        char err[256] = "";
        if (c->ops->reopen(c->arg, err, sizeof(err)) < 0)
            control_reply(cr, 0, NULL, CONTROL_E_FAILED, err);
        else
            control_reply(cr, 1, NULL, NULL, NULL);
    } else if (strcmp(cmd, "check") == 0) {
        struct json_object *r = json_object_new_object();
        c->ops->check(c->arg, r);
        control_reply(cr, 1, r, NULL, NULL);
    } else if (strcmp(cmd, "etcd_accept") == 0) {
        if (c->ops->etcd_accept(c->arg, msg, sizeof(msg)) < 0)
            control_reply(cr, 0, NULL, CONTROL_E_FAILED, msg);
        else
            control_reply(cr, 1, NULL, NULL, NULL);
    } else {
        snprintf(msg, sizeof(msg),
                 "unknown command \"%.64s\" (status, reload, stop, reopen, check, etcd_accept)",
                 cmd);
        control_reply(cr, 0, NULL, CONTROL_E_UNKNOWN, msg);
    }
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct control_req *cr = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    if (cr->replied)
        return;
    char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_MAX_MSG)
            control_reply(cr, 0, NULL, CONTROL_E_BAD_REQUEST, "request too large");
        return;
    }
    struct json_tokener *tok = json_tokener_new();
    struct json_object *req = json_tokener_parse_ex(tok, line, (int)len);
    json_tokener_free(tok);
    free(line);
    cr->dispatched = 1;
    if (req == NULL || !json_object_is_type(req, json_type_object))
        control_reply(cr, 0, NULL, CONTROL_E_BAD_REQUEST,
                      "the request is not a JSON object on one line");
    else
        dispatch(cr, req);
    json_object_put(req);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct control_req *cr = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (cr->replied) { /* the reply could not be written: done anyway */
        req_free(cr);
        return;
    }
    if (cr->dispatched && !(what & BEV_EVENT_ERROR)) {
        /* a half-close after the request: the reply (a reload's, later) still goes out */
        bufferevent_disable(bev, EV_READ);
        return;
    }
    if (cr->dispatched) {
        /* gone while the master works on it (a reload goes on): freed by control_reply */
        cr->gone = 1;
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        return;
    }
    req_free(cr);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
          void *arg)
{
    struct control *c = arg;
    struct control_req *cr = calloc(1, sizeof(*cr));
    if (cr == NULL) {
        close(fd);
        return;
    }
    cr->c = c;
    cr->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (cr->bev == NULL) {
        close(fd);
        free(cr);
        return;
    }
    cr->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = cr;
    c->reqs = cr;
    bufferevent_setwatermark(cr->bev, EV_READ, 0, CONTROL_MAX_MSG + 1);
    bufferevent_setcb(cr->bev, on_read, NULL, on_event, cr);
    bufferevent_enable(cr->bev, EV_READ);
}

/* Is something answering at path? (Then it is not ours to replace.) */
static int
socket_alive(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
    close(fd);
    return alive;
}

struct control *
control_new(struct event_base *base, const char *path, int take_over,
            const struct control_ops *ops, void *arg)
{
    struct sockaddr_un sun;
    struct stat st;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        log_error("control.socket %s: path too long (at most %zu bytes)", path,
                  sizeof(sun.sun_path) - 1);
        return NULL;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path));
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("control.socket %s exists and is not a socket; not touching it", path);
            return NULL;
        }
        if (!take_over && socket_alive(&sun)) {
            log_error("control.socket %s: another aigw answers there; stop it first, or give "
                      "this one another control.socket",
                      path);
            return NULL;
        }
        unlink(path); /* left by a crash */
    }
    struct control *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->base = base;
    c->ops = ops;
    c->arg = arg;
    snprintf(c->path, sizeof(c->path), "%s", path);
    /*
     * Bound beside the path and renamed over it: a master taking over from
     * another (an upgrade) replaces the old socket in one step, and if it
     * fails before that, the old one is untouched.
     */
    struct sockaddr_un tmp = sun;
    int n = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%d", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp.sun_path))
        tmp = sun; /* no room for the suffix: bind in place */
    unlink(tmp.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* 0660 from the start: no moment where the socket is open to everyone */
    mode_t old = umask(0117);
    int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&tmp, sizeof(tmp));
    umask(old);
    if (rc < 0 || listen(fd, 16) < 0 ||
        (strcmp(tmp.sun_path, path) != 0 && rename(tmp.sun_path, path) < 0)) {
        log_error_sys("control.socket %s", path);
        if (fd >= 0)
            close(fd);
        if (rc == 0)
            unlink(tmp.sun_path);
        free(c);
        return NULL;
    }
    c->lev = evconnlistener_new(base, on_accept, c, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    if (c->lev == NULL) {
        close(fd);
        unlink(path);
        free(c);
        return NULL;
    }
    log_info("control socket %s", path);
    return c;
}

void
control_free(struct control *c, int unlink_path)
{
    struct sockaddr_un sun;
    if (c == NULL)
        return;
    evconnlistener_free(c->lev);
    while (c->reqs != NULL)
        req_free(c->reqs);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, c->path, strlen(c->path));
    /* CONTROL_UNLINK_STALE: the path may be a successor's now; only a dead socket goes */
    if (unlink_path == CONTROL_UNLINK || (unlink_path == CONTROL_UNLINK_STALE && !socket_alive(&sun)))
        unlink(c->path);
    free(c);
}
