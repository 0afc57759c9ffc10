/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_resp.h: an upstream's HTTP/1.1 response, parsed as its bytes come
 * (http-parser): status, headers, and the body framed by Content-Length,
 * chunked encoding or the end of the connection. Interim 1xx responses are
 * skipped. No sockets here: uhttp.c feeds it what it reads, the unit tests
 * and the fuzzer feed it byte strings.
 */
#ifndef AIGW_UHTTP_RESP_H
#define AIGW_UHTTP_RESP_H

#include <stddef.h>

#include <http_parser.h>

/* The largest response header section (status line, headers, 1xx included). */
#define UHTTP_MAX_HEADER (64 * 1024)

/* What the body callback may answer besides 0 (go on) and -1 (stop). */
#define UHTTP_PAUSE 1

struct uhttp_resp_cb {
    /* One header of the final response (not of a 1xx); name and value are not NUL-terminated. */
    void (*header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    /* The final status and headers are complete; -1 stops (UR_STOP). */
    int (*headers_done)(void *arg, int status);
    /*
     * Body bytes, de-chunked; they are consumed whatever the answer. 0 goes
     * on, UHTTP_PAUSE stops feeding until uhttp_resp_resume, -1 stops.
     */
    int (*body)(void *arg, const char *buf, size_t len);
};

enum uhttp_resp_rc {
    UR_MORE,    /* all consumed, the response goes on */
    UR_DONE,    /* the response is complete (bytes after it are not consumed) */
    UR_PAUSED,  /* the body callback asked to pause */
    UR_STOP,    /* a callback asked to stop */
    UR_BAD,     /* not a well-framed HTTP/1.x response */
    UR_TOO_BIG, /* the header section is over UHTTP_MAX_HEADER */
    UR_TRUNC,   /* (at the end of input) the response stopped before its end */
};

struct uhttp_resp {
    http_parser p;
    const struct uhttp_resp_cb *cb;
    void *arg;
    int status;       /* the final status, once its headers are done */
    int interim;      /* the message being parsed is a 1xx */
    int headers_done; /* the final headers went to the callback */
    int complete;
    int keep_alive; /* (when complete) the connection may carry another request */
    int stop, too_big;
    size_t nbytes; /* bytes fed so far */
    size_t hbytes; /* header section bytes so far */
    char *h;       /* the header being read: name, then value */
    size_t hlen, hcap, namelen;
    int in_value;
    char hinline[256];
};

void uhttp_resp_init(struct uhttp_resp *r, const struct uhttp_resp_cb *cb, void *arg);
void uhttp_resp_free(struct uhttp_resp *r);
/* Parse len more bytes; *used gets how many were consumed. */
enum uhttp_resp_rc uhttp_resp_feed(struct uhttp_resp *r, const char *buf, size_t len, size_t *used);
/* The connection ended: UR_DONE if that completes the response, else UR_TRUNC or UR_BAD. */
enum uhttp_resp_rc uhttp_resp_eof(struct uhttp_resp *r);
/* After UR_PAUSED: let uhttp_resp_feed go on. */
void uhttp_resp_resume(struct uhttp_resp *r);

#endif
