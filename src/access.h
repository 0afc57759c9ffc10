/* SPDX-License-Identifier: Apache-2.0 */
/*
 * access.h: what aigw writes and counts when a request ends, the request-end
 * hook (http.h) of its listeners. The client listeners' hook writes the
 * access line and records the request metrics; the Admin API's writes the
 * access line alone; /metrics has none.
 */
#ifndef AIGW_ACCESS_H
#define AIGW_ACCESS_H

#include <stddef.h>
#include <stdint.h>

struct http_req;
struct http_server;

/*
 * What the access line (and the request metrics) say beyond what the server
 * knows itself. The precheck and the handler fill it; the hook reads it once,
 * when the request ends.
 */
struct access_info {
    char key[257];                   /* the key's name, never the key */
    char jwt_iss[257], jwt_sub[257]; /* the identity a bearer JWT proved, never the token */
    char model[257];                 /* the model the client asked for */
    int model_known;      /* ... and it is a configured model (a metrics label may name it) */
    const char *provider; /* of the target that answered (a static string), or NULL */
    long long prompt_tokens, completion_tokens, total_tokens;
    int64_t ttft_us; /* monotonic time the first streamed byte went out; 0: none */
    long upstream_status;
    char target[129];  /* the model's target that answered */
    int attempts;      /* upstream attempts (retries and fallbacks included) */
    const char *error; /* a static error code, or NULL: the server's own, if any */
};

/* Which hook: the client listeners' or the Admin API's. */
enum access_kind { ACCESS_CLIENT, ACCESS_ADMIN };

/*
 * Set s's request-end hook (before it accepts). extra: bytes of each
 * request's shared area after its access info, for the server's user
 * (zeroed; access_extra), or 0.
 */
void access_attach(struct http_server *s, enum access_kind kind, size_t extra);
/* A request's access info, on a server access_attach set up. */
struct access_info *access_of(struct http_req *r);
/* The extra bytes of a request's shared area (access_attach's extra > 0). */
void *access_extra(struct http_req *r);

#endif
