/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control_proto.h: the control socket's protocol, shared by aigw (the
 * master's src/control.c) and aigwctl, so the two cannot drift apart.
 * A connection carries one request and one reply, each one JSON object on
 * one line. The client must not half-close its side before the reply.
 */
#ifndef AIGW_CONTROL_PROTO_H
#define AIGW_CONTROL_PROTO_H

/* "aigw_control" in every message; another version is refused. */
#define CONTROL_PROTOCOL 1
/* The largest request or reply. */
#define CONTROL_MAX_MSG (1024 * 1024)

/* "code" of an error reply: what a client can act on without reading the message. */
#define CONTROL_E_VERSION "version_mismatch"
#define CONTROL_E_BAD_REQUEST "bad_request"
#define CONTROL_E_UNKNOWN "unknown_command"
#define CONTROL_E_BUSY "reload_in_progress"
#define CONTROL_E_STOPPING "stopping"
#define CONTROL_E_CONFIG "invalid_config"
#define CONTROL_E_FAILED "failed"

#endif
