/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http_fuzzer.c: the worker's HTTP/1.1 server (src/http.c) fed as a client
 * would feed it.
 *
 * The server runs for real on an event base; each input is one client
 * connection, a bufferevent pair whose server end it serves as it serves
 * an accepted socket (http_server_adopt, httpclient.c): its bytes are sent
 * in pieces (the first byte picks their size, 1 to 64 bytes
 * or all at once, so that a request line, a header or a chunk is cut
 * anywhere), then the client shuts its side down and reads until the
 * server closes. The handler reads what the proxy reads (method, path,
 * headers, body, id) and answers as the proxy does: a reply, an error in
 * the route's shape, or a stream.
 *
 * Oracles besides the sanitizers: a header value or path handed to the
 * handler holds no CR or LF; what the server sends parses as HTTP
 * responses (http_parser); it closes the connection once the client has
 * shut down, and no connection is left once the client is gone.
 */
#include "config.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "access.h"
#include "aigw/conf.h"
#include "log.h"
#include "fuzz.h"
#include "http.h"
#include "httpclient.h"
#include "proxy.h"

static struct event_base *hf_base;
static struct http_server *hf_srv;
static struct conf hf_conf;
static int hf_head; /* a HEAD request was seen: its answer has no body */

/* Bytes the handler got must not carry a line break into a header or log. */
static void
hf_clean(const char *what, const char *s)
{
    FUZZ_ASSERT(s == NULL || strpbrk(s, "\r\n") == NULL, "%s holds CR or LF", what);
}

/* The handler: read the request as proxy.c and admin.c do, and answer. */
static void
hf_handle(struct http_req *r, void *arg)
{
    static const char *const names[] = {
        "authorization",  "x-api-key", "content-type", "x-request-id",   "anthropic-version",
        "anthropic-beta", "if-match",  "host",         "content-length", "transfer-encoding"};
    const char *path = http_req_path(r);
    int m = http_req_method(r);
    hf_clean("the path", path);
    hf_clean("the request id", http_req_id(r));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        hf_clean(names[i], http_req_header(r, names[i]));
    hf_head |= m == HTTP_M_HEAD;
    struct evbuffer *b = http_req_body(r);
    size_t len = evbuffer_get_length(b);
    const char *body = (const char *)evbuffer_pullup(b, -1);
    struct access_info *acc = access_of(r);
    snprintf(acc->model, sizeof(acc->model), "%.*s", (int)(len < 64 ? len : 64), body ? body : "");
    if (path != NULL && strncmp(path, "/stream", 7) == 0) {
        http_resp_header(r, "Cache-Control", "no-cache");
        http_stream_begin(r, 200, "text/event-stream");
        http_stream_write(r, "data: ", 6);
        if (len > 0)
            http_stream_write(r, body, len);
        http_stream_write(r, "\n\n", 2);
        http_stream_end(r);
    } else if (path != NULL && strncmp(path, "/v1/", 4) == 0 && m != HTTP_M_POST) {
        http_resp_header(r, "Allow", "POST");
        http_reply_error(r, 405, "invalid_request_error", "method_not_allowed", NULL,
                         "Method not allowed for %s", path);
    } else {
        http_resp_header(r, "x-aigw-config-version", "1");
        http_reply(r, 200, "application/json", body ? body : "", len);
    }
}

/* Once: the server, with small limits so that 413 and 431 are reached. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN); /* as the worker: a peer gone is an error, not a signal */
    log_init(0, LOG_LVL_ERROR, "http_fuzzer");
    log_open("/dev/null", "/dev/null", 0);
    conf_defaults(&hf_conf);
    hf_conf.max_body_size = 4096; /* reachable: the 413 path */
    hf_conf.max_header_size = 2048;
    hf_base = event_base_new();
    hf_srv = http_server_new(hf_base, &hf_conf, hf_handle, NULL);
    if (hf_base == NULL || hf_srv == NULL)
        abort();
    http_server_set_error_route(hf_srv, proxy_error_route);
    access_attach(hf_srv, ACCESS_CLIENT, 0); /* the access line of every input, to /dev/null */
    return 0;
}

/* One input: one client connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384) /* four times the limits: enough to cross them */
        return 0;
    /* pieces of 1 to 64 bytes, or all at once */
    size_t piece = data[0] & 0x40 ? size : (size_t)(data[0] & 0x3f) + 1;
    static const struct sockaddr_un peer = {.sun_family = AF_UNIX};
    struct evbuffer *out = evbuffer_new();
    hf_head = 0;
    httpclient_session(hf_base, hf_srv, (const struct sockaddr *)&peer, data + 1, size - 1, piece,
                       out);
    if (!hf_head)
        httpclient_check_responses(out);
    evbuffer_free(out);
    return 0;
}
