/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.h: the master's control socket, what aigwctl talks to (see
 * aigwctl(8)). One JSON request per connection, one JSON reply, each a line,
 * each carrying the protocol version.
 */
#ifndef AIGW_CONTROL_H
#define AIGW_CONTROL_H

struct event_base;
struct json_object;
struct control;
struct control_req;

#include "aigw/control_proto.h"

/* What the master does for each command. */
struct control_ops {
    /* Fill result (an object). */
    void (*status)(void *arg, struct json_object *result);
    /* Start a reload; the master answers with control_reply when it is over. */
    void (*reload)(void *arg, struct control_req *cr);
    /* Stop after the reply went out. */
    void (*stop)(void *arg, int graceful);
    /* Reopen log files: 0, or -1 with a message in err. */
    int (*reopen)(void *arg, char *err, size_t errlen);
    /* Check the files on disk; fill result with ok and errors. */
    void (*check)(void *arg, struct json_object *result);
    /* Accept etcd's state after an identity mismatch: 0, or -1 with a message in err. */
    int (*etcd_accept)(void *arg, char *err, size_t errlen);
};

/*
 * Listen on path (mode 0660). A stale socket left by a crash is replaced; a
 * live one (another aigw answering there) is an error, unless take_over (a
 * binary upgrade replaces the running master). NULL on failure (logged).
 */
struct control *control_new(struct event_base *base, const char *path, int take_over,
                            const struct control_ops *ops, void *arg);
/* Answer a pending request: result (taken) when ok, else code (CONTROL_E_*) and error. */
void control_reply(struct control_req *cr, int ok, struct json_object *result, const char *code,
                   const char *error);
/* Stop listening; pending requests are dropped. unlink_path: one of these. */
enum { CONTROL_KEEP = 0, CONTROL_UNLINK = 1, CONTROL_UNLINK_STALE = 2 };
void control_free(struct control *c, int unlink_path);

#endif
