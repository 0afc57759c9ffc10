/* SPDX-License-Identifier: Apache-2.0 */
/* httpclient.c: a client connection to aigw's HTTP server under the fuzzer (httpclient.h). */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>

#include "fuzz.h"
#include "http.h"
#include "httpclient.h"

/* Bounds of one input's loop: no input may keep the harness spinning. */
#define HC_MAX_SPINS 20000

/* The client's end got EOF: the server shut its side down. */
static void
httpclient_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        *(int *)arg = 1;
}

/* The server ended the connection: shut down its side, or closed it (its end is gone). */
static int
httpclient_ended(struct bufferevent *cl, int eof)
{
    return eof || bufferevent_pair_get_partner(cl) == NULL;
}

void
httpclient_session(struct event_base *base, struct http_server *srv, const struct sockaddr *peer,
                   const uint8_t *p, size_t n, size_t piece, struct evbuffer *out)
{
    struct bufferevent *pair[2];
    size_t off = 0;
    int eof = 0, spins = 0;
    if (bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair) < 0)
        abort();
    struct bufferevent *cl = pair[1];
    bufferevent_setcb(cl, NULL, NULL, httpclient_event, &eof);
    bufferevent_enable(cl, EV_READ | EV_WRITE);
    http_server_adopt(srv, pair[0], peer);
    /* the client's bytes in pieces, the server running between them */
    while (off < n && spins++ < HC_MAX_SPINS && !httpclient_ended(cl, eof)) {
        size_t k = n - off < piece ? n - off : piece;
        if (evbuffer_get_length(bufferevent_get_output(cl)) < 65536) {
            if (bufferevent_write(cl, p + off, k) < 0)
                abort();
            off += k;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    /* the client's end: EOF to the server after what it sent (unless the server closed) */
    if (bufferevent_pair_get_partner(cl) != NULL)
        bufferevent_flush(cl, EV_WRITE, BEV_FINISHED);
    while (!httpclient_ended(cl, eof) && spins++ < HC_MAX_SPINS)
        event_base_loop(base, EVLOOP_NONBLOCK);
    FUZZ_ASSERT(httpclient_ended(cl, eof), "the server did not close after the client's end");
    evbuffer_add_buffer(out, bufferevent_get_input(cl));
    /* close(): a server still lingering (it shut down its side first) gets the end */
    if (bufferevent_pair_get_partner(cl) != NULL)
        bufferevent_flush(cl, EV_WRITE, BEV_FINISHED);
    bufferevent_free(cl);
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
