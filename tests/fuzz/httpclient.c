/* SPDX-License-Identifier: Apache-2.0 */
/* httpclient.c: a client connection to aigw's HTTP server under the fuzzer (httpclient.h). */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>

#include "fuzz.h"
#include "http.h"
#include "httpclient.h"

/* Bounds of one input's loop: no input may keep the harness spinning. */
#define HC_MAX_SPINS 20000

/* Read what the server sent so far into out; 1 at EOF. */
static int
httpclient_read(int fd, struct evbuffer *out)
{
    char buf[16384];
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (k > 0)
            evbuffer_add(out, buf, (size_t)k);
        else if (k == 0)
            return 1;
        else
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
    }
}

void
httpclient_session(struct event_base *base, struct http_server *srv, int fd, const uint8_t *p,
                   size_t n, size_t piece, struct evbuffer *out)
{
    size_t off = 0;
    int eof = 0, spins = 0;
    /* the client's bytes in pieces, the server running between them */
    while (off < n && spins++ < HC_MAX_SPINS && !eof) {
        size_t k = n - off < piece ? n - off : piece;
        ssize_t w = send(fd, p + off, k, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)
            break; /* the server closed: the rest is not read */
        event_base_loop(base, EVLOOP_NONBLOCK);
        eof = httpclient_read(fd, out);
    }
    shutdown(fd, SHUT_WR);
    while (!eof && spins++ < HC_MAX_SPINS) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        eof = httpclient_read(fd, out);
    }
    FUZZ_ASSERT(eof, "the server did not close after the client's end");
    close(fd);
    for (int i = 0; http_server_nconns(srv) > 0 && i < HC_MAX_SPINS; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    FUZZ_ASSERT(http_server_nconns(srv) == 0, "a connection outlived its client");
    if (getenv("AIGW_FUZZ_VERBOSE") != NULL) /* to see what an input does */
        fprintf(stderr, "%.*s\n", (int)evbuffer_get_length(out),
                (const char *)evbuffer_pullup(out, -1));
}

/* http_parser's callback for the responses: nothing to keep. */
static int
httpclient_resp_cb(http_parser *p)
{
    return 0;
}

void
httpclient_check_responses(struct evbuffer *out)
{
    http_parser_settings ps;
    http_parser p;
    size_t len = evbuffer_get_length(out);
    const char *s = (const char *)evbuffer_pullup(out, -1);
    if (len == 0)
        return;
    memset(&ps, 0, sizeof(ps));
    ps.on_message_complete = httpclient_resp_cb;
    http_parser_init(&p, HTTP_RESPONSE);
    size_t used = http_parser_execute(&p, &ps, s, len);
    FUZZ_ASSERT(HTTP_PARSER_ERRNO(&p) == HPE_OK && used == len,
                "the server's output is not HTTP responses (%s at %zu): %.*s",
                http_errno_name(HTTP_PARSER_ERRNO(&p)), used, (int)(len < 600 ? len : 600), s);
    http_parser_execute(&p, &ps, NULL, 0); /* the EOF ends a close-delimited body */
    FUZZ_ASSERT(HTTP_PARSER_ERRNO(&p) == HPE_OK, "a response cut short: %.*s",
                (int)(len < 600 ? len : 600), s);
}
