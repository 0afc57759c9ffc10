/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uhttp_resp.c: an upstream's response through Node's http-parser.
 *
 * The parser is paused at the end of the response, so that bytes after it
 * (which no well-behaved upstream sends before our next request) stay
 * unconsumed and the caller can refuse to reuse the connection. A header
 * is handed over whole: its name and value may come split over reads, so
 * they are gathered first (bounded by UHTTP_MAX_HEADER, as the section).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "uhttp_resp.h"

/* Each header line costs its name, value and about ": " and CRLF. */
#define HDR_OVERHEAD 4

static struct uhttp_resp *
from(http_parser *p)
{
    return p->data;
}

/* Count header section bytes; 0, or -1 past the bound. */
static int
count(struct uhttp_resp *r, size_t len)
{
    r->hbytes += len;
    if (r->hbytes > UHTTP_MAX_HEADER) {
        r->too_big = 1;
        return -1;
    }
    return 0;
}

static int
append(struct uhttp_resp *r, const char *at, size_t len)
{
    if (r->hlen + len > r->hcap) {
        size_t cap = r->hcap * 2 > r->hlen + len ? r->hcap * 2 : r->hlen + len;
        char *n = r->h == r->hinline ? malloc(cap) : realloc(r->h, cap);
        if (n == NULL)
            return -1;
        if (r->h == r->hinline)
            memcpy(n, r->hinline, r->hlen);
        r->h = n;
        r->hcap = cap;
    }
    memcpy(r->h + r->hlen, at, len);
    r->hlen += len;
    return 0;
}

/* The header gathered so far is whole: hand it over (not a 1xx's). */
static void
emit_header(struct uhttp_resp *r)
{
    if (r->in_value && !r->interim && r->cb->header != NULL)
        r->cb->header(r->arg, r->h, r->namelen, r->h + r->namelen, r->hlen - r->namelen);
    r->hlen = 0;
    r->namelen = 0;
    r->in_value = 0;
}

static int
on_message_begin(http_parser *p)
{
    struct uhttp_resp *r = from(p);
    r->hlen = r->namelen = 0;
    r->in_value = 0;
    r->interim = 0;
    return 0;
}

static int
on_status(http_parser *p, const char *at, size_t len)
{
    return count(from(p), len + HDR_OVERHEAD);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct uhttp_resp *r = from(p);
    if (r->in_value) {
        emit_header(r);
        if (count(r, HDR_OVERHEAD) < 0)
            return -1;
    }
    return count(r, len) < 0 ? -1 : append(r, at, len);
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    struct uhttp_resp *r = from(p);
    if (!r->in_value) {
        r->in_value = 1;
        r->namelen = r->hlen;
    }
    return count(r, len) < 0 ? -1 : append(r, at, len);
}

static int
on_headers_complete(http_parser *p)
{
    struct uhttp_resp *r = from(p);
    if (p->status_code < 100)
        return -1; /* http-parser takes 1 to 3 digits; HTTP's are 3 (RFC 9110, 15) */
    r->interim = p->status_code < 200;
    emit_header(r);
    if (count(r, 2) < 0)
        return -1;
    if (r->interim) {
        if (p->status_code == 101) /* an upgrade is no answer to a POST */
            return -1;
        return 1; /* no body */
    }
    r->status = p->status_code;
    r->headers_done = 1;
    if (r->cb->headers_done != NULL && r->cb->headers_done(r->arg, r->status) < 0) {
        r->stop = 1;
        return -1;
    }
    /* never a body, whatever Content-Length says (RFC 9112, 6.3) */
    return r->status == 204 || r->status == 304 ? 1 : 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct uhttp_resp *r = from(p);
    if (r->interim || r->cb->body == NULL)
        return 0;
    int rc = r->cb->body(r->arg, at, len);
    if (rc < 0) {
        r->stop = 1;
        return -1;
    }
    if (rc == UHTTP_PAUSE)
        http_parser_pause(p, 1);
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct uhttp_resp *r = from(p);
    if (r->interim) {
        r->interim = 0;
        return 0;
    }
    r->complete = 1;
    r->keep_alive = http_should_keep_alive(p);
    http_parser_pause(p, 1); /* nothing after the response is ours to read */
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void
uhttp_resp_init(struct uhttp_resp *r, const struct uhttp_resp_cb *cb, void *arg)
{
    memset(r, 0, offsetof(struct uhttp_resp, hinline));
    http_parser_init(&r->p, HTTP_RESPONSE);
    r->p.data = r;
    r->cb = cb;
    r->arg = arg;
    r->h = r->hinline;
    r->hcap = sizeof(r->hinline);
}

void
uhttp_resp_free(struct uhttp_resp *r)
{
    if (r->h != r->hinline)
        free(r->h);
    r->h = r->hinline;
    r->hcap = sizeof(r->hinline);
}

/* The outcome of one http_parser_execute that consumed n of len bytes. */
static enum uhttp_resp_rc
outcome(struct uhttp_resp *r, size_t n, size_t len)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (r->complete)
        return UR_DONE;
    if (r->too_big)
        return UR_TOO_BIG;
    if (r->stop)
        return UR_STOP;
    if (e == HPE_PAUSED)
        return UR_PAUSED;
    if (e == HPE_HEADER_OVERFLOW)
        return UR_TOO_BIG;
    if (e != HPE_OK || n != len)
        return UR_BAD;
    return UR_MORE;
}

enum uhttp_resp_rc
uhttp_resp_feed(struct uhttp_resp *r, const char *buf, size_t len, size_t *used)
{
    *used = 0;
    if (r->complete)
        return UR_DONE;
    if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK && HTTP_PARSER_ERRNO(&r->p) != HPE_PAUSED)
        return UR_BAD;
    if (len == 0)
        return UR_MORE;
    size_t n = http_parser_execute(&r->p, &settings, buf, len);
    *used = n;
    r->nbytes += n;
    return outcome(r, n, len);
}

enum uhttp_resp_rc
uhttp_resp_eof(struct uhttp_resp *r)
{
    if (r->complete)
        return UR_DONE;
    if (HTTP_PARSER_ERRNO(&r->p) != HPE_OK)
        return UR_BAD;
    if (r->nbytes == 0)
        return UR_TRUNC;
    /* a body delimited by the end of the connection completes here */
    http_parser_execute(&r->p, &settings, NULL, 0);
    if (r->complete) {
        r->keep_alive = 0;
        return UR_DONE;
    }
    if (r->stop)
        return UR_STOP;
    return UR_TRUNC;
}

void
uhttp_resp_resume(struct uhttp_resp *r)
{
    if (HTTP_PARSER_ERRNO(&r->p) == HPE_PAUSED && !r->complete)
        http_parser_pause(&r->p, 0);
}
