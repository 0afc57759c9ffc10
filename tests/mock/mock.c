/* SPDX-License-Identifier: Apache-2.0 */
/* mock.c: aigw-mock, a mock upstream for the e2e tests, the benchmarks and
 * the Quick start: OpenAI's API, Anthropic's Messages API, Gemini's and Azure
 * OpenAI's, each with its own key header, errors and stream framing.
 *
 * One libevent loop, one evhttp server.  Every API request becomes a
 * struct mock_call that lives until the response has been written out
 * (evhttp's on_complete callback: "completed") or until its connection goes
 * away first (the connection's close callback: "aborted").  A wire format
 * (OpenAI chat, Anthropic messages, Gemini generateContent...) is a struct
 * mock_format: how to read the request body, how to write the whole
 * response, and how to write it as a sequence of stream events; a struct
 * mock_provider says how its key is checked and how its errors look.  The
 * transport (delays, slow bodies, resets, hangs) is shared by all formats.
 * The controls of a call are the instance's defaults (POST /mock/config, so
 * that several instances can answer the same request differently), then the
 * body's "mock" object, then the x-mock-* headers.
 *
 * This file is the process: options, listening, the /mock/ endpoints, the
 * record of the last request.  mock.h lists the others.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "mock.h"

struct mock_state mock;

/* ------------------------------------------------------------------ */
/* The last request                                                    */
/* ------------------------------------------------------------------ */

/* Append n bytes to the last-request buffer, lowercased if asked. */
static void
mock_last_add(const char *s, size_t n, int lower)
{
    struct mock_last *l = &mock.last;

    if (l->len + n + 1 > l->cap) {
        size_t cap = l->cap ? l->cap : 1024;
        char *p;
        while (cap < l->len + n + 1)
            cap *= 2;
        if ((p = realloc(l->buf, cap)) == NULL)
            abort();
        l->buf = p;
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        l->buf[l->len + i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    l->buf[l->len + n] = '\0';
    l->len += n + 1;
}

/* Remember method, path and query (as received), headers and body of an
 * API request. */
void
mock_last_record(struct evhttp_request *req, json_object *body, const char *raw, size_t n)
{
    struct mock_last *l = &mock.last;
    struct evkeyval *h;
    const char *path = evhttp_request_get_uri(req);

    l->have = 1;
    l->method = mock_method_name(evhttp_request_get_command(req));
    l->len = 0;
    mock_last_add(path, strlen(path), 0);
    for (h = evhttp_request_get_input_headers(req)->tqh_first; h != NULL; h = h->next.tqe_next) {
        mock_last_add(h->key, strlen(h->key), 1);
        mock_last_add(h->value, strlen(h->value), 0);
    }
    json_object_put(l->body);
    l->body = body != NULL ? json_object_get(body) : json_object_new_string_len(raw, (int)n);
}

/* Set obj[name] to value, or append ", " and value to what is there. */
static void
mock_last_join(json_object *obj, const char *name, const char *value)
{
    json_object *old;
    size_t olen, vlen = strlen(value);
    char *joined;

    if (!json_object_object_get_ex(obj, name, &old)) {
        json_object_object_add(obj, name, json_object_new_string(value));
        return;
    }
    olen = (size_t)json_object_get_string_len(old);
    if ((joined = malloc(olen + vlen + 3)) == NULL)
        abort();
    memcpy(joined, json_object_get_string(old), olen);
    memcpy(joined + olen, ", ", 2);
    memcpy(joined + olen + 2, value, vlen + 1);
    json_object_object_add(obj, name, json_object_new_string(joined));
    free(joined);
}

/* Build the headers object; repeated headers are joined with ", ". */
static json_object *
mock_last_headers(void)
{
    json_object *hdrs = json_object_new_object();
    const char *p = mock.last.buf + strlen(mock.last.buf) + 1;
    const char *end = mock.last.buf + mock.last.len;

    while (p < end) {
        const char *name = p, *value = p + strlen(p) + 1;
        p = value + strlen(value) + 1;
        mock_last_join(hdrs, name, value);
    }
    return hdrs;
}

/* Build the query object: each parameter of the query, decoded; repeated
 * parameters are joined with ", " as headers are.  {} without a query. */
static json_object *
mock_last_query(void)
{
    json_object *q = json_object_new_object();
    const char *mark = strchr(mock.last.buf, '?');
    struct evkeyvalq params;
    struct evkeyval *p;

    if (mark == NULL || evhttp_parse_query_str(mark + 1, &params) < 0)
        return q;
    for (p = params.tqh_first; p != NULL; p = p->next.tqe_next) {
        mock_last_join(q, p->key, p->value);
    }
    evhttp_clear_headers(&params);
    return q;
}

/* Free the last-request record. */
static void
mock_last_free(void)
{
    json_object_put(mock.last.body);
    free(mock.last.buf);
    memset(&mock.last, 0, sizeof(mock.last));
}

/* GET /mock/stats. */
static void
mock_admin_stats(struct evhttp_request *req)
{
    evbuffer_add_printf(evhttp_request_get_output_buffer(req),
                        "{\"requests\":%llu,\"completed\":%llu,\"aborted\":%llu,\"active\":%llu}",
                        mock.stats.requests, mock.stats.completed, mock.stats.aborted,
                        mock.stats.active);
    mock_reply_json(req, 200);
}

/* GET /mock/last. */
static void
mock_admin_last(struct evhttp_request *req)
{
    json_object *root;
    const char *s;
    size_t len;

    if (!mock.last.have) {
        mock_reply_error(req, 404, "no API request received yet", "invalid_request_error",
                         "no_request");
        return;
    }
    root = json_object_new_object();
    json_object_object_add(root, "method", json_object_new_string(mock.last.method));
    json_object_object_add(root, "path", json_object_new_string(mock.last.buf));
    json_object_object_add(root, "query", mock_last_query());
    json_object_object_add(root, "headers", mock_last_headers());
    json_object_object_add(root, "body", json_object_get(mock.last.body));
    s = json_object_to_json_string_length(
        root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    evbuffer_add(evhttp_request_get_output_buffer(req), s, len);
    json_object_put(root);
    mock_reply_json(req, 200);
}

/* POST /mock/reset: zero the counters (active is a gauge and stays). */
static void
mock_admin_reset(struct evhttp_request *req)
{
    mock.stats.requests = 0;
    mock.stats.completed = 0;
    mock.stats.aborted = 0;
    evbuffer_add(evhttp_request_get_output_buffer(req), "{\"ok\":true}", 11);
    mock_reply_json(req, 200);
}

/* Append the default controls as a JSON object ({} when there are none). */
static void
mock_config_json(struct evbuffer *out)
{
    const char *s;
    size_t len;

    if (mock.config == NULL) {
        MOCK_LIT(out, "{}");
        return;
    }
    s = json_object_to_json_string_length(
        mock.config, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    evbuffer_add(out, s, len);
}

/* GET /mock/config: the defaults; POST: replace them ({} clears them).
 * Calls in progress keep the defaults they started with. */
static void
mock_admin_config(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_object *body, *cfg;
    char msg[96];
    int bad;

    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        body = mock_parse_json(n > 0 ? (const char *)evbuffer_pullup(in, -1) : "", n);
        cfg = mock_config_check(body, msg, sizeof(msg), &bad);
        json_object_put(body);
        if (bad) {
            mock_reply_error(req, 400, msg, "invalid_request_error", "invalid_mock_config");
            return;
        }
        json_object_put(mock.config);
        mock.config = cfg;
        if (mock.verbose) {
            mock_config_json(mock.scratch);
            fprintf(stderr, "aigw-mock: config %.*s\n", (int)evbuffer_get_length(mock.scratch),
                    (const char *)evbuffer_pullup(mock.scratch, -1));
            evbuffer_drain(mock.scratch, evbuffer_get_length(mock.scratch));
        }
    }
    mock_config_json(evhttp_request_get_output_buffer(req));
    mock_reply_json(req, 200);
}

/* The /mock/ control endpoints, and the methods each takes. */
static const struct mock_admin_route {
    const char *path;
    int get;  /* takes GET (and HEAD) */
    int post; /* takes POST */
    void (*fn)(struct evhttp_request *req);
    const char *allow;
} mock_admin_routes[] = {
    {"/mock/stats", 1, 0, mock_admin_stats, "GET"},
    {"/mock/last", 1, 0, mock_admin_last, "GET"},
    {"/mock/reset", 0, 1, mock_admin_reset, "POST"},
    {"/mock/config", 1, 1, mock_admin_config, "GET, POST"},
};

/* Route a /mock/ request. */
static void
mock_admin(struct evhttp_request *req, const char *path)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    int get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
    const struct mock_admin_route *r = NULL;

    for (size_t i = 0; i < sizeof(mock_admin_routes) / sizeof(mock_admin_routes[0]); i++)
        if (strcmp(path, mock_admin_routes[i].path) == 0)
            r = &mock_admin_routes[i];
    if (r == NULL) {
        mock_reply_error(req, 404, "Unknown mock endpoint", "invalid_request_error", "unknown_url");
    } else if (!(get && r->get) && !(method == EVHTTP_REQ_POST && r->post)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", r->allow);
        mock_reply_error(req, 405, "Method not allowed", "invalid_request_error",
                         "method_not_allowed");
    } else {
        r->fn(req);
    }
}

/* Every request lands here. */
static void
mock_handle(struct evhttp_request *req, void *arg)
{
    const char *path = mock_req_path(req);
    int api = mock_is_api(path);

    if (mock.verbose && !api)
        fprintf(stderr, "aigw-mock: %s %s\n", mock_method_name(evhttp_request_get_command(req)),
                evhttp_request_get_uri(req));
    if (api)
        mock_api(req, path);
    else if (strncmp(path, "/mock/", 6) == 0)
        mock_admin(req, path);
    else
        mock_reply_error(req, 404, "Invalid URL", "invalid_request_error", "unknown_url");
}

/* ------------------------------------------------------------------ */
/* Startup                                                             */
/* ------------------------------------------------------------------ */

/* Print usage to f. */
static void
mock_usage(FILE *f)
{
    fprintf(f, "usage: aigw-mock [-l ADDR:PORT] [-p PORTFILE] [-k APIKEY] [-v]\n"
               "  -l ADDR:PORT  listen address (default " MOCK_DEFAULT_LISTEN "; port 0: any)\n"
               "  -p PORTFILE   write the bound port to PORTFILE (atomically)\n"
               "  -k APIKEY     require the key on API requests, where each provider takes it:\n"
               "                Authorization: Bearer (OpenAI), x-api-key (Anthropic),\n"
               "                x-goog-api-key or ?key= (Gemini), api-key (Azure); for\n"
               "                Bedrock it is the AWS secret key: SigV4 signatures checked\n"
               "  -v            log every request to stderr\n"
               "endpoints:\n"
               "  OpenAI     POST /v1/chat/completions, /v1/completions, /v1/embeddings;\n"
               "             GET /v1/models\n"
               "  Anthropic  POST /v1/messages, /v1/messages/count_tokens (anthropic-version\n"
               "             header required)\n"
               "  Gemini     POST /v1beta/models/MODEL:generateContent,\n"
               "             :streamGenerateContent (?alt=sse: events; else a JSON array),\n"
               "             :countTokens\n"
               "  Azure      POST /openai/deployments/NAME/chat/completions, /completions,\n"
               "             /embeddings (?api-version=YYYY-MM-DD[-preview] required)\n"
               "  Bedrock    POST /model/ID/converse, /model/ID/converse-stream (event-stream\n"
               "             frames)\n"
               "  mock       GET /mock/stats, /mock/last; POST /mock/reset; GET, POST\n"
               "             /mock/config (default controls for every later API request;\n"
               "             {} clears them)\n"
               "controls (body \"mock\":{...} or x-mock-NAME headers, over the defaults):\n"
               "  chunks, delay_ms, first_byte_ms, status, retry_after, hang,\n"
               "  reset_before_response, reset_after, close_after, slow_body_ms, content,\n"
               "  tool_call ({\"name\",\"input\"}: answer with a tool call), stream_error (an\n"
               "  error event after N pieces), error_type (Bedrock: the error's type)\n"
               "  (see tests/mock/README.md)\n");
}

/* Split "ADDR:PORT", "[V6]:PORT" or "PORT" into host and port; 0, or -1. */
static int
mock_parse_listen(const char *spec, char *host, size_t hostsz, unsigned short *port)
{
    const char *colon = strrchr(spec, ':'), *h = spec;
    size_t hlen;
    char *end;
    long p;

    if (colon == NULL) {
        h = "127.0.0.1";
        hlen = strlen(h);
        colon = spec - 1;
    } else if (spec[0] == '[' && colon > spec && colon[-1] == ']') {
        h = spec + 1;
        hlen = (size_t)(colon - spec) - 2;
    } else {
        hlen = (size_t)(colon - spec);
    }
    if (hlen == 0) {
        h = "0.0.0.0";
        hlen = 7;
    }
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (hlen >= hostsz || errno != 0 || end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (unsigned short)p;
    return 0;
}

/* Format the bound address as "ADDR:PORT"; return the port, or -1. */
static int
mock_bound_addr(evutil_socket_t fd, char *buf, size_t bufsz)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    int port;

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(buf, bufsz, "[%s]:%d", ip, port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(buf, bufsz, "%s:%d", ip, port);
    }
    return port;
}

/* Write "PORT\n" to path via a temporary file and rename(); 0, or -1. */
static int
mock_write_portfile(const char *path, int port)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    FILE *f;
    int ok;

    if (tmp == NULL)
        return -1;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    if ((f = fopen(tmp, "w")) == NULL) {
        free(tmp);
        return -1;
    }
    ok = fprintf(f, "%d\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    free(tmp);
    return ok ? 0 : -1;
}

/* SIGINT/SIGTERM: leave the loop; main cleans up and exits 0. */
static void
mock_on_signal(evutil_socket_t sig, short what, void *arg)
{
    event_base_loopbreak(mock.base);
}

/* Create the evhttp server and bind it; return the bound port, or -1. */
static int
mock_listen(const char *spec, const char *portfile)
{
    char host[256], addr[300];
    unsigned short port;
    struct evhttp_bound_socket *bound;
    int bport;

    if (mock_parse_listen(spec, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "aigw-mock: bad listen address '%s'\n", spec);
        return -1;
    }
    mock.http = evhttp_new(mock.base);
    if (mock.http == NULL)
        return -1;
    evhttp_set_allowed_methods(mock.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_max_body_size(mock.http, MOCK_MAX_BODY);
    evhttp_set_gencb(mock.http, mock_handle, NULL);
    bound = evhttp_bind_socket_with_handle(mock.http, host, port);
    if (bound == NULL) {
        fprintf(stderr, "aigw-mock: cannot listen on %s: %s\n", spec, strerror(errno));
        return -1;
    }
    bport = mock_bound_addr(evhttp_bound_socket_get_fd(bound), addr, sizeof(addr));
    if (bport < 0)
        return -1;
    if (portfile != NULL && mock_write_portfile(portfile, bport) < 0) {
        fprintf(stderr, "aigw-mock: cannot write %s: %s\n", portfile, strerror(errno));
        return -1;
    }
    printf("aigw-mock listening on %s\n", addr);
    fflush(stdout);
    return bport;
}

/* Free everything; evhttp_free() aborts the calls still in progress. */
static void
mock_cleanup(struct event *sigint, struct event *sigterm)
{
    if (mock.http != NULL)
        evhttp_free(mock.http);
    if (sigint != NULL)
        event_free(sigint);
    if (sigterm != NULL)
        event_free(sigterm);
    if (mock.scratch != NULL)
        evbuffer_free(mock.scratch);
    if (mock.tok != NULL)
        json_tokener_free(mock.tok);
    mock_last_free();
    json_object_put(mock.config);
    if (mock.base != NULL)
        event_base_free(mock.base);
    libevent_global_shutdown();
}

/* Parse the command line; return -1 to go on, else the exit status. */
static int
mock_options(int argc, char **argv, const char **listen_spec, const char **portfile)
{
    int opt;

    while ((opt = getopt(argc, argv, "l:p:k:vh")) != -1) {
        switch (opt) {
        case 'l':
            *listen_spec = optarg;
            break;
        case 'p':
            *portfile = optarg;
            break;
        case 'k':
            mock.api_key = optarg;
            break;
        case 'v':
            mock.verbose = 1;
            break;
        case 'h':
            mock_usage(stdout);
            return 0;
        default:
            mock_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        mock_usage(stderr);
        return 2;
    }
    return -1;
}

/* Create the event base, buffers, JSON tokener and signal events; 0, or -1. */
static int
mock_setup(struct event **sigint, struct event **sigterm)
{
    signal(SIGPIPE, SIG_IGN);
    mock.base = event_base_new();
    mock.scratch = evbuffer_new();
    mock.tok = json_tokener_new();
    if (mock.base == NULL || mock.scratch == NULL || mock.tok == NULL)
        return -1;
    json_tokener_set_flags(mock.tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
    *sigint = evsignal_new(mock.base, SIGINT, mock_on_signal, NULL);
    *sigterm = evsignal_new(mock.base, SIGTERM, mock_on_signal, NULL);
    if (*sigint == NULL || *sigterm == NULL || event_add(*sigint, NULL) < 0 ||
        event_add(*sigterm, NULL) < 0)
        return -1;
    return 0;
}

/* Parse options, serve until SIGINT/SIGTERM, exit 0. */
int
main(int argc, char **argv)
{
    const char *listen_spec = MOCK_DEFAULT_LISTEN, *portfile = NULL;
    struct event *sigint = NULL, *sigterm = NULL;
    int rc = mock_options(argc, argv, &listen_spec, &portfile);

    if (rc >= 0)
        return rc;
    rc = 1;
    if (mock_setup(&sigint, &sigterm) == 0 && mock_listen(listen_spec, portfile) >= 0 &&
        event_base_dispatch(mock.base) == 0)
        rc = 0;
    else
        fprintf(stderr, "aigw-mock: exiting on error\n");
    mock_cleanup(sigint, sigterm);
    return rc;
}
