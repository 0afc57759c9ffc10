/* SPDX-License-Identifier: Apache-2.0 */
/* mock_call.c: one API request, from routing to the last byte: its controls,
 * its lifecycle (completed or aborted), and the transport shared by every wire
 * format (delays, slow bodies, resets, hangs, streams). */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "mock.h"

/* What a control looks like and where it is stored. */
enum mock_ctl_kind { MOCK_CTL_INT, MOCK_CTL_BOOL, MOCK_CTL_STR, MOCK_CTL_TOOL };

struct mock_ctl_def {
    const char *name;
    const char *header;
    enum mock_ctl_kind kind;
    size_t off;
    long min;
    long max;
};

static const struct mock_ctl_def mock_ctl_defs[] = {
    {"chunks", "x-mock-chunks", MOCK_CTL_INT, offsetof(struct mock_ctl, chunks), 0,
     MOCK_CHUNKS_MAX},
    {"delay_ms", "x-mock-delay-ms", MOCK_CTL_INT, offsetof(struct mock_ctl, delay_ms), 0,
     MOCK_MS_MAX},
    {"first_byte_ms", "x-mock-first-byte-ms", MOCK_CTL_INT,
     offsetof(struct mock_ctl, first_byte_ms), 0, MOCK_MS_MAX},
    {"status", "x-mock-status", MOCK_CTL_INT, offsetof(struct mock_ctl, status), 200, 599},
    {"hang", "x-mock-hang", MOCK_CTL_BOOL, offsetof(struct mock_ctl, hang), 0, 1},
    {"reset_before_response", "x-mock-reset-before-response", MOCK_CTL_BOOL,
     offsetof(struct mock_ctl, reset_before_response), 0, 1},
    {"reset_after", "x-mock-reset-after", MOCK_CTL_INT, offsetof(struct mock_ctl, reset_after), 0,
     MOCK_CHUNKS_MAX},
    {"close_after", "x-mock-close-after", MOCK_CTL_INT, offsetof(struct mock_ctl, close_after), 0,
     MOCK_CHUNKS_MAX},
    {"slow_body_ms", "x-mock-slow-body-ms", MOCK_CTL_INT, offsetof(struct mock_ctl, slow_body_ms),
     0, MOCK_MS_MAX},
    {"content", "x-mock-content", MOCK_CTL_STR, offsetof(struct mock_ctl, content), 0, 0},
    {"retry_after", "x-mock-retry-after", MOCK_CTL_STR, offsetof(struct mock_ctl, retry_after), 1,
     0},
    {"stream_error", "x-mock-stream-error", MOCK_CTL_INT, offsetof(struct mock_ctl, stream_error),
     0, MOCK_CHUNKS_MAX},
    {"tool_call", "x-mock-tool-call", MOCK_CTL_TOOL, offsetof(struct mock_ctl, tool_call), 0, 0},
    {"usage", "x-mock-usage", MOCK_CTL_STR, offsetof(struct mock_ctl, usage), 1, 0},
    {"error_type", "x-mock-error-type", MOCK_CTL_STR, offsetof(struct mock_ctl, error_type), 1, 0},
};

#define MOCK_NCTL (sizeof(mock_ctl_defs) / sizeof(mock_ctl_defs[0]))

static void mock_stream_next(struct mock_call *c);
static void mock_slow_next(struct mock_call *c);
static void mock_stream_written(struct evhttp_connection *evcon, void *arg);

/* ------------------------------------------------------------------ */
/* Replies                                                            */
/* ------------------------------------------------------------------ */

/* Set Content-Type and echo x-request-id on a response. */
void
mock_set_headers(struct evhttp_request *req, const char *content_type)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");

    evhttp_add_header(out, "Content-Type", content_type);
    if (rid != NULL)
        evhttp_add_header(out, "x-request-id", rid);
}

/* Send the JSON in req's output buffer at once (HEAD, 204 and 304 go
 * without it: evhttp would write it anyway). */
void
mock_reply_json(struct evhttp_request *req, int code)
{
    struct evbuffer *body = evhttp_request_get_output_buffer(req);

    if (code == 204 || code == 304 || evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        evbuffer_drain(body, evbuffer_get_length(body));
    mock_set_headers(req, "application/json");
    evhttp_send_reply(req, code, mock_reason(code), NULL);
}

/* Send an OpenAI-shaped error at once (no call bookkeeping). */
void
mock_reply_error(struct evhttp_request *req, int code, const char *msg, const char *type,
                 const char *code_str)
{
    mock_oai_error(evhttp_request_get_output_buffer(req), msg, type, code_str);
    mock_reply_json(req, code);
}

/* ------------------------------------------------------------------ */
/* Controls                                                            */
/* ------------------------------------------------------------------ */

/* Reset the controls to their defaults. */
static void
mock_ctl_init(struct mock_ctl *ctl)
{
    memset(ctl, 0, sizeof(*ctl));
    ctl->chunks = 5;
    ctl->status = 200;
    ctl->reset_after = -1;
    ctl->close_after = -1;
    ctl->stream_error = -1;
}

/* Free what the controls own (a tool_call read from a header). */
static void
mock_ctl_free(struct mock_ctl *ctl)
{
    json_object_put(ctl->owned);
    ctl->owned = NULL;
    ctl->tool_call = NULL;
}

/* Is v a tool call: {"name": non-empty string, "input": object (optional),
 * "id": string (optional)} and nothing else? */
static int
mock_ctl_tool_ok(json_object *v)
{
    json_object *name;

    if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, "name", &name) ||
        !json_object_is_type(name, json_type_string) || json_object_get_string_len(name) == 0)
        return 0;
    json_object_object_foreach(v, key, val)
    {
        if (strcmp(key, "name") == 0)
            continue;
        if (strcmp(key, "input") == 0 && json_object_is_type(val, json_type_object))
            continue;
        if (strcmp(key, "id") == 0 && json_object_is_type(val, json_type_string) &&
            json_object_get_string_len(val) > 0)
            continue;
        return 0;
    }
    return 1;
}

/* Set the tool_call control from JSON text (a header, or a JSON string):
 * the controls own the parsed value.  0, or -1. */
static int
mock_ctl_tool_text(struct mock_ctl *ctl, const char *s, size_t n)
{
    json_object *v = mock_parse_json(s, n);

    if (!mock_ctl_tool_ok(v)) {
        json_object_put(v);
        return -1;
    }
    json_object_put(ctl->owned);
    ctl->owned = v;
    ctl->tool_call = v;
    return 0;
}

/* Store integer control d if v is in range; 0, or -1. */
static int
mock_ctl_set(struct mock_ctl *ctl, const struct mock_ctl_def *d, long long v)
{
    if (v < d->min || v > d->max)
        return -1;
    *(long *)(void *)((char *)ctl + d->off) = (long)v;
    return 0;
}

/* Set control d from text (a header, or a JSON string); 0, or -1. */
static int
mock_ctl_text(struct mock_ctl *ctl, const struct mock_ctl_def *d, const char *s, size_t n)
{
    char *end;
    long long v;

    if (d->kind == MOCK_CTL_TOOL)
        return mock_ctl_tool_text(ctl, s, n);
    if (d->kind == MOCK_CTL_STR) {
        struct mock_str *str = (struct mock_str *)(void *)((char *)ctl + d->off);
        /* min 1: a header value, so non-empty printable ASCII only */
        for (size_t i = 0; d->min > 0 && i < n; i++)
            if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                return -1;
        if (d->min > 0 && n == 0)
            return -1;
        str->s = s;
        str->len = n;
        return 0;
    }
    if (d->kind == MOCK_CTL_BOOL) {
        if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0 || strcmp(s, "1") == 0)
            return mock_ctl_set(ctl, d, 1);
        if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0 || strcmp(s, "0") == 0)
            return mock_ctl_set(ctl, d, 0);
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    return mock_ctl_set(ctl, d, v);
}

/* Set control d from a JSON value; 0, or -1 on a bad type or range. */
static int
mock_ctl_json(struct mock_ctl *ctl, const struct mock_ctl_def *d, json_object *v)
{
    double dv;

    if (d->kind == MOCK_CTL_TOOL && json_object_is_type(v, json_type_object)) {
        if (!mock_ctl_tool_ok(v))
            return -1;
        ctl->tool_call = v; /* held by the body or the defaults */
        return 0;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        return 0;
    case json_type_string:
        return mock_ctl_text(ctl, d, json_object_get_string(v),
                             (size_t)json_object_get_string_len(v));
    case json_type_boolean:
        return d->kind == MOCK_CTL_BOOL ? mock_ctl_set(ctl, d, json_object_get_boolean(v)) : -1;
    case json_type_int:
        return d->kind != MOCK_CTL_INT && d->kind != MOCK_CTL_BOOL
                   ? -1
                   : mock_ctl_set(ctl, d, json_object_get_int64(v));
    case json_type_double:
        dv = json_object_get_double(v);
        if ((d->kind != MOCK_CTL_INT && d->kind != MOCK_CTL_BOOL) || !(dv >= -1e15 && dv <= 1e15) ||
            dv != (double)(long long)dv)
            return -1;
        return mock_ctl_set(ctl, d, (long long)dv);
    default:
        return -1;
    }
}

/* Return the definition of the control called name, or NULL. */
static const struct mock_ctl_def *
mock_ctl_find(const char *name)
{
    for (size_t i = 0; i < MOCK_NCTL; i++)
        if (strcmp(mock_ctl_defs[i].name, name) == 0)
            return &mock_ctl_defs[i];
    return NULL;
}

/* Read the controls from the instance's defaults, body.mock, then the
 * x-mock-* headers; 0, or -1 with c->err set.  The defaults were checked
 * when they were set, and the call holds a reference to them: string
 * controls point into them even if a later POST /mock/config replaces them. */
static int
mock_ctl_parse(struct mock_call *c)
{
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(c->req);
    json_object *obj = NULL, *v;

    mock_ctl_init(&c->ctl);
    if (c->body != NULL && json_object_object_get_ex(c->body, "mock", &obj) &&
        !json_object_is_type(obj, json_type_object) && !json_object_is_type(obj, json_type_null)) {
        c->err = "'mock' must be an object";
        return -1;
    }
    c->config = mock.config != NULL ? json_object_get(mock.config) : NULL;
    for (size_t i = 0; i < MOCK_NCTL; i++) {
        const struct mock_ctl_def *d = &mock_ctl_defs[i];
        const char *h = evhttp_find_header(hdrs, d->header);

        if (c->config != NULL && json_object_object_get_ex(c->config, d->name, &v))
            (void)mock_ctl_json(&c->ctl, d, v);
        if (json_object_is_type(obj, json_type_object) &&
            json_object_object_get_ex(obj, d->name, &v) && mock_ctl_json(&c->ctl, d, v) < 0) {
            snprintf(c->errbuf, sizeof(c->errbuf), "invalid value for mock.%s", d->name);
            c->err = c->errbuf;
            return -1;
        }
        if (h != NULL && mock_ctl_text(&c->ctl, d, h, strlen(h)) < 0) {
            snprintf(c->errbuf, sizeof(c->errbuf), "invalid value for header %s", d->header);
            c->err = c->errbuf;
            return -1;
        }
    }
    return 0;
}

/* Check a POST /mock/config body; return the new defaults (own reference;
 * NULL for {}), or NULL with msg filled in. */
json_object *
mock_config_check(json_object *body, char *msg, size_t msgsz, int *bad)
{
    json_object *cfg;
    struct mock_ctl scratch;

    *bad = 1;
    if (!json_object_is_type(body, json_type_object)) {
        snprintf(msg, msgsz, "the body must be a JSON object of mock controls");
        return NULL;
    }
    cfg = json_object_new_object();
    json_object_object_foreach(body, name, v)
    {
        const struct mock_ctl_def *d = mock_ctl_find(name);

        int ok;

        mock_ctl_init(&scratch);
        ok = d != NULL && mock_ctl_json(&scratch, d, v) == 0;
        mock_ctl_free(&scratch);
        if (!ok) {
            snprintf(msg, msgsz, "%s mock control '%.40s'",
                     d == NULL ? "unknown" : "invalid value for", name);
            json_object_put(cfg);
            return NULL;
        }
        if (!json_object_is_type(v, json_type_null)) /* null: not set */
            json_object_object_add(cfg, name, json_object_get(v));
    }
    *bad = 0;
    if (json_object_object_length(cfg) == 0) {
        json_object_put(cfg);
        return NULL;
    }
    return cfg;
}

/* ------------------------------------------------------------------ */
/* Routes                                                             */
/* ------------------------------------------------------------------ */

/* An API endpoint: a path, the method it takes, its wire format.  A '*'
 * in the path stands for a parameter ({model}, {deployment}): one or more
 * characters up to the next '/' or ':'.  A new wire format adds a struct
 * mock_format and a line here. */
struct mock_route {
    const char *path;
    enum evhttp_cmd_type method;
    const struct mock_format *fmt;
};

static const struct mock_route mock_routes[] = {
    {"/v1/chat/completions", EVHTTP_REQ_POST, &mock_fmt_chat},
    {"/v1/completions", EVHTTP_REQ_POST, &mock_fmt_completion},
    {"/v1/embeddings", EVHTTP_REQ_POST, &mock_fmt_embed},
    {"/v1/models", EVHTTP_REQ_GET, &mock_fmt_models},
    {"/v1/messages", EVHTTP_REQ_POST, &mock_fmt_anth_messages},
    {"/v1/messages/count_tokens", EVHTTP_REQ_POST, &mock_fmt_anth_count},
    {"/v1beta/models/*:generateContent", EVHTTP_REQ_POST, &mock_fmt_gem_generate},
    {"/v1beta/models/*:streamGenerateContent", EVHTTP_REQ_POST, &mock_fmt_gem_stream},
    {"/v1beta/models/*:countTokens", EVHTTP_REQ_POST, &mock_fmt_gem_count},
    {"/openai/deployments/*/chat/completions", EVHTTP_REQ_POST, &mock_fmt_az_chat},
    {"/openai/deployments/*/completions", EVHTTP_REQ_POST, &mock_fmt_az_completion},
    {"/openai/deployments/*/embeddings", EVHTTP_REQ_POST, &mock_fmt_az_embed},
    {"/v1/responses", EVHTTP_REQ_POST, &mock_fmt_responses},
    {"/openai/v1/responses", EVHTTP_REQ_POST, &mock_fmt_az_responses},
    {"/model/*/converse", EVHTTP_REQ_POST, &mock_fmt_br_converse},
    {"/model/*/converse-stream", EVHTTP_REQ_POST, &mock_fmt_br_stream},
};

/* Where the API lives, and whose errors a path there gets before its
 * route is known (an unknown path, say). */
static const struct {
    const char *prefix;
    const struct mock_provider *prov;
} mock_api_prefixes[] = {
    {"/v1/", &mock_prov_openai},
    {"/v1beta/", &mock_prov_gemini},
    {"/openai/", &mock_prov_azure},
    {"/model/", &mock_prov_bedrock},
};

/* Is path (no query) under the API (and not the /mock/ endpoints)? */
int
mock_is_api(const char *path)
{
    if (strcmp(path, "/v1") == 0)
        return 1;
    for (size_t i = 0; i < sizeof(mock_api_prefixes) / sizeof(mock_api_prefixes[0]); i++)
        if (strncmp(path, mock_api_prefixes[i].prefix, strlen(mock_api_prefixes[i].prefix)) == 0)
            return 1;
    return 0;
}

/* Return the provider whose errors path gets. */
static const struct mock_provider *
mock_path_provider(const char *path)
{
    for (size_t i = 0; i < sizeof(mock_api_prefixes) / sizeof(mock_api_prefixes[0]); i++)
        if (strncmp(path, mock_api_prefixes[i].prefix, strlen(mock_api_prefixes[i].prefix)) == 0)
            return mock_api_prefixes[i].prov;
    return &mock_prov_openai;
}

/* Does path match route pattern pat?  Set *cap, *caplen to its parameter. */
static int
mock_route_match(const char *pat, const char *path, const char **cap, size_t *caplen)
{
    const char *star = strchr(pat, '*');
    size_t n;

    *cap = NULL;
    *caplen = 0;
    if (star == NULL)
        return strcmp(pat, path) == 0;
    n = (size_t)(star - pat);
    if (strncmp(pat, path, n) != 0)
        return 0;
    path += n;
    n = strcspn(path, "/:");
    if (n == 0 || strcmp(star + 1, path + n) != 0)
        return 0;
    *cap = path;
    *caplen = n;
    return 1;
}

/* Find the route for path; keep a copy of its parameter in c->param. */
static const struct mock_route *
mock_route_find(struct mock_call *c, const char *path)
{
    const char *cap;
    size_t caplen;

    for (size_t i = 0; i < sizeof(mock_routes) / sizeof(mock_routes[0]); i++) {
        if (!mock_route_match(mock_routes[i].path, path, &cap, &caplen))
            continue;
        if (cap != NULL && (c->param = strndup(cap, caplen)) == NULL)
            abort();
        return &mock_routes[i];
    }
    return NULL;
}

/* Return request header name, or NULL. */
const char *
mock_header(const struct mock_call *c, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
}

/* Return query parameter name, decoded (the caller frees it), or NULL. */
char *
mock_query(const struct mock_call *c, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(c->req);
    const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params;
    const char *v;
    char *out = NULL;

    if (q == NULL || evhttp_parse_query_str(q, &params) < 0)
        return NULL;
    if ((v = evhttp_find_header(&params, name)) != NULL && (out = strdup(v)) == NULL)
        abort();
    evhttp_clear_headers(&params);
    return out;
}

/* Make the reply the tool call of the tool_call control, if there is one:
 * its input (as JSON text) becomes the text, cut into pieces (at least 1). */
void
mock_tool_use(struct mock_call *c, long pieces)
{
    json_object *name, *input = NULL;
    size_t len;
    const char *s;

    if (c->ctl.tool_call == NULL)
        return;
    json_object_object_get_ex(c->ctl.tool_call, "name", &name);
    c->tool_name = json_object_get_string(name);
    if (!json_object_object_get_ex(c->ctl.tool_call, "input", &input))
        input = NULL;
    c->tool_input = input;
    s = input != NULL ? json_object_to_json_string_length(
                            input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len)
                      : "{}";
    if (input == NULL)
        len = 2;
    if ((c->tool_args = strndup(s, len)) == NULL)
        abort();
    c->tool = 1;
    c->text.s = c->tool_args;
    c->text.len = len;
    c->split = pieces > 0 ? pieces : 1;
    c->npieces = c->split;
    c->finish = MOCK_FIN_TOOL;
}

/* ------------------------------------------------------------------ */
/* Call lifecycle                                                      */
/* ------------------------------------------------------------------ */

/* Free a call and everything it owns (not the evhttp request). */
static void
mock_call_free(struct mock_call *c)
{
    if (c->timer != NULL)
        event_free(c->timer);
    if (c->watch != NULL)
        event_free(c->watch);
    if (c->out != NULL)
        evbuffer_free(c->out);
    mock_ctl_free(&c->ctl);
    json_object_put(c->body);
    json_object_put(c->config);
    free(c->param);
    free(c->tool_args);
    mock.stats.active--;
    free(c);
}

/* evhttp wrote the whole response: the call is completed. */
static void
mock_call_completed(struct evhttp_request *req, void *arg)
{
    struct mock_call *c = arg;

    mock.stats.completed++;
    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    if (mock.verbose)
        fprintf(stderr, "aigw-mock: #%lu %d completed\n", c->seq, c->status);
    mock_call_free(c);
}

/* The connection went away before the response was complete: aborted. */
static void
mock_call_closed(struct evhttp_connection *evcon, void *arg)
{
    struct mock_call *c = arg;

    mock.stats.aborted++;
    if (mock.verbose)
        fprintf(stderr, "aigw-mock: #%lu %d aborted\n", c->seq, c->status);
    /* After a failed write evhttp detaches the unfinished request from the
     * dying connection and leaves it to us; otherwise it frees it itself. */
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_request_free(c->req);
    mock_call_free(c);
}

/* Tear the call's connection down; the close callback frees the call. */
static void
mock_call_kill(struct mock_call *c)
{
    evhttp_connection_free(c->evcon);
}

/* Reset the call's TCP connection so the client sees ECONNRESET. */
static void
mock_call_reset_now(struct mock_call *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    evutil_socket_t fd = bufferevent_getfd(bev);
    struct linger lg = {1, 0};
    struct sockaddr sa;

    /* Push out what is still queued, then reset: SO_LINGER {1,0} makes the
     * close send an RST; connect(AF_UNSPEC) disconnects (RST) right now on
     * Linux, before evhttp_connection_free's shutdown(SHUT_WR) sends a FIN. */
    evbuffer_write(bufferevent_get_output(bev), fd);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNSPEC;
    (void)connect(fd, &sa, sizeof(sa));
    mock_call_kill(c);
}

/* The client socket became readable while we were not reading: find out
 * whether the client went away. */
static void
mock_call_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mock_call *c = arg;
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        mock_call_kill(c);
    else if (n > 0)
        event_del(c->watch); /* pipelined data: leave it to evhttp */
}

/* Watch the client socket for EOF while the call waits (evhttp does not
 * read during a request, so it would only notice on a failed write). */
static void
mock_call_watch(struct mock_call *c)
{
    evutil_socket_t fd;

    if (c->watch != NULL)
        return;
    fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    c->watch = event_new(mock.base, fd, EV_READ | EV_PERSIST, mock_call_watch_cb, c);
    if (c->watch == NULL || event_add(c->watch, NULL) < 0)
        abort();
}

/* The call's timer fired: run the step it was waiting for. */
static void
mock_call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mock_call *c = arg;

    c->on_timer(c);
}

/* Run fn(c) after ms milliseconds. */
static void
mock_call_after(struct mock_call *c, long ms, void (*fn)(struct mock_call *))
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    mock_call_watch(c);
    if (c->timer == NULL && (c->timer = evtimer_new(mock.base, mock_call_timer_cb, c)) == NULL)
        abort();
    c->on_timer = fn;
    evtimer_add(c->timer, &tv);
}

/* Reset the connection from the next loop iteration: evhttp must not have
 * the connection freed under it from inside its own request callback. */
static void
mock_call_reset(struct mock_call *c)
{
    mock_call_after(c, 0, mock_call_reset_now);
}

/* Start a call for a /v1 request. */
static struct mock_call *
mock_call_new(struct evhttp_request *req)
{
    struct mock_call *c = calloc(1, sizeof(*c));

    if (c == NULL)
        abort();
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    c->seq = ++mock.seq;
    c->created = time(NULL);
    c->status = 200;
    mock_ctl_init(&c->ctl);
    mock.stats.requests++;
    mock.stats.active++;
    if (mock.verbose)
        fprintf(stderr, "aigw-mock: #%lu %s %s\n", c->seq,
                mock_method_name(evhttp_request_get_command(req)), evhttp_request_get_uri(req));
    evhttp_request_set_on_complete_cb(req, mock_call_completed, c);
    evhttp_connection_set_closecb(c->evcon, mock_call_closed, c);
    return c;
}

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

/* Start a chunked response; TCP_NODELAY so that each chunk goes out at once
 * instead of waiting (Nagle) for the client's delayed ACK. */
static void
mock_reply_start(struct mock_call *c, int code)
{
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    evhttp_send_reply_start(c->req, code, mock_reason(code));
}

/* Move up to n bytes of c->out into one chunk; call cb when it is written. */
static void
mock_send_piece(struct mock_call *c, size_t n, void (*cb)(struct evhttp_connection *, void *))
{
    evbuffer_remove_buffer(c->out, mock.scratch, n);
    evhttp_send_reply_chunk_with_cb(c->req, mock.scratch, cb, c);
    evbuffer_drain(mock.scratch, evbuffer_get_length(mock.scratch));
}

/* Half the body is out: reset the connection. */
static void
mock_half_written(struct evhttp_connection *evcon, void *arg)
{
    mock_call_reset(arg);
}

/* A slow-body piece is out: wait, then send the next. */
static void
mock_slow_written(struct evhttp_connection *evcon, void *arg)
{
    struct mock_call *c = arg;

    if (evbuffer_get_length(c->out) > 0)
        mock_call_after(c, c->ctl.slow_body_ms, mock_slow_next);
    else
        mock_slow_next(c);
}

/* Send the next 16-byte piece of a slow body, or end it. */
static void
mock_slow_next(struct mock_call *c)
{
    size_t left = evbuffer_get_length(c->out);

    if (left == 0) {
        evhttp_send_reply_end(c->req); /* may complete (and free) c */
        return;
    }
    mock_send_piece(c, left < MOCK_SLOW_PIECE ? left : MOCK_SLOW_PIECE, mock_slow_written);
}

/* Send a complete body (status code, JSON in buf): at once, slowly in
 * 16-byte chunks, or half of it followed by a reset.  Frees buf. */
static void
mock_send_body(struct mock_call *c, int code, struct evbuffer *buf)
{
    int plain = (c->ctl.reset_after < 0 && c->ctl.slow_body_ms == 0) || code == 204 ||
                code == 304 || evhttp_request_get_command(c->req) == EVHTTP_REQ_HEAD;

    c->status = code;
    if (code >= 400 && c->ctl.retry_after.s != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Retry-After",
                          c->ctl.retry_after.s);
    if (plain) {
        evbuffer_add_buffer(evhttp_request_get_output_buffer(c->req), buf);
        evbuffer_free(buf);
        mock_reply_json(c->req, code);
        return;
    }
    c->out = buf;
    mock_set_headers(c->req, "application/json");
    mock_reply_start(c, code);
    if (c->ctl.reset_after >= 0)
        mock_send_piece(c, (evbuffer_get_length(buf) + 1) / 2, mock_half_written);
    else
        mock_slow_next(c);
}

/* Send an error response in the call's wire format. */
void
mock_send_error(struct mock_call *c, int code, const char *msg, const char *type,
                const char *code_str)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf == NULL)
        abort();
    c->prov->error(c, buf, code, msg, type, code_str);
    c->ctl.reset_after = -1;
    c->ctl.slow_body_ms = 0;
    mock_send_body(c, code, buf);
}

/* reset_after / close_after reached before the next event?  Act; 1 if so.
 * The framing events before the first content event (the role chunk) count
 * as part of it, so that 0 sends the headers and no event at all: an upstream
 * that answers 200 and dies before its first event. */
static int
mock_stream_limit(struct mock_call *c)
{
    if (c->ctl.reset_after >= 0 && c->content_sent >= c->ctl.reset_after) {
        mock_call_reset(c);
        return 1;
    }
    if (c->ctl.close_after >= 0 && c->content_sent >= c->ctl.close_after) {
        evhttp_send_reply_end(c->req);
        return 1;
    }
    if (c->ctl.stream_error >= 0 && c->content_sent >= c->ctl.stream_error &&
        c->fmt->stream_error != NULL) {
        /* The error event is the last one: the stream then ends cleanly. */
        c->ctl.stream_error = -1;
        c->fmt->stream_error(c, mock.scratch);
        c->step = c->nsteps;
        evhttp_send_reply_chunk_with_cb(c->req, mock.scratch, mock_stream_written, c);
        evbuffer_drain(mock.scratch, evbuffer_get_length(mock.scratch));
        return 1;
    }
    return 0;
}

/* A stream event is out: wait delay_ms, then send the next. */
static void
mock_stream_written(struct evhttp_connection *evcon, void *arg)
{
    struct mock_call *c = arg;

    if (c->ctl.delay_ms > 0 && c->step < c->nsteps)
        mock_call_after(c, c->ctl.delay_ms, mock_stream_next);
    else
        mock_stream_next(c);
}

/* Send the next stream event (its own chunk and write), or end the stream. */
static void
mock_stream_next(struct mock_call *c)
{
    if (mock_stream_limit(c))
        return;
    if (c->step >= c->nsteps) {
        evhttp_send_reply_end(c->req); /* may complete (and free) c */
        return;
    }
    c->fmt->event(c, c->step, mock.scratch);
    if (c->step >= c->head && c->step < c->head + c->npieces)
        c->content_sent++;
    c->step++;
    evhttp_send_reply_chunk_with_cb(c->req, mock.scratch, mock_stream_written, c);
    evbuffer_drain(mock.scratch, evbuffer_get_length(mock.scratch));
}

/* Start a stream: headers now, then the events. */
static void
mock_stream_start(struct mock_call *c)
{
    long tail;

    c->fmt->frame(c, &c->head, &tail);
    c->nsteps = c->head + c->npieces + tail;
    mock_set_headers(c->req, c->stream_type);
    evhttp_add_header(evhttp_request_get_output_headers(c->req), "Cache-Control", "no-cache");
    mock_reply_start(c, 200);
    mock_stream_next(c);
}

/* The first byte is due: reset, or send the error, the stream or the body. */
static void
mock_call_respond(struct mock_call *c)
{
    struct evbuffer *buf;
    char msg[64], code[16];

    if (c->ctl.reset_before_response) {
        mock_call_reset(c);
    } else if (c->ctl.status != 200) {
        snprintf(msg, sizeof(msg), "mock error status %ld", c->ctl.status);
        snprintf(code, sizeof(code), "mock_%ld", c->ctl.status);
        if ((buf = evbuffer_new()) == NULL)
            abort();
        c->prov->error(c, buf, (int)c->ctl.status, msg, "mock_error", code);
        mock_send_body(c, (int)c->ctl.status, buf);
    } else if (c->stream && c->fmt->event != NULL) {
        mock_stream_start(c);
    } else if (c->ctl.reset_after < 0 && c->ctl.slow_body_ms == 0) {
        c->fmt->body(c, evhttp_request_get_output_buffer(c->req));
        mock_reply_json(c->req, 200);
    } else {
        if ((buf = evbuffer_new()) == NULL)
            abort();
        c->fmt->body(c, buf);
        mock_send_body(c, 200, buf);
    }
}

/* ------------------------------------------------------------------ */
/* Request handling                                                    */
/* ------------------------------------------------------------------ */

/* Check path, method, the provider's headers and the JSON body; 0, or -1
 * once the error is sent. */
static int
mock_api_check(struct mock_call *c, const char *path)
{
    const struct mock_route *route;
    enum evhttp_cmd_type method = evhttp_request_get_command(c->req);
    char msg[160];

    c->prov = mock_path_provider(path);
    if ((route = mock_route_find(c, path)) == NULL) {
        snprintf(msg, sizeof(msg), "Invalid URL (%s %.100s)", mock_method_name(method), path);
        mock_send_error(c, 404, msg, "invalid_request_error", "unknown_url");
        return -1;
    }
    c->fmt = route->fmt;
    c->prov = route->fmt->prov;
    if (method != route->method &&
        !(method == EVHTTP_REQ_HEAD && route->method == EVHTTP_REQ_GET)) {
        snprintf(msg, sizeof(msg), "Method %s not allowed for %s", mock_method_name(method), path);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
                          mock_method_name(route->method));
        mock_send_error(c, 405, msg, "invalid_request_error", "method_not_allowed");
        return -1;
    }
    if (c->prov->check(c) < 0)
        return -1;
    if (method == EVHTTP_REQ_POST && !json_object_is_type(c->body, json_type_object)) {
        mock_send_error(c, 400, c->prov->bad_json, "invalid_request_error", "invalid_json");
        return -1;
    }
    return 0;
}

/* Read the controls and the body: the reply is the text of the content
 * control (or generated), in chunks pieces, unless the format says
 * otherwise (a tool call, a max_tokens).  0, or -1 with c->err set. */
static int
mock_api_parse(struct mock_call *c)
{
    if (mock_ctl_parse(c) < 0)
        return -1;
    c->text = c->ctl.content;
    c->split = c->ctl.chunks;
    c->npieces = c->ctl.chunks;
    c->out_tokens = c->ctl.chunks;
    c->finish = MOCK_FIN_STOP;
    c->stream_type = "text/event-stream";
    return c->fmt->parse(c, c->body);
}

/* Read body and controls, then answer (or wait to answer) an API request. */
void
mock_api(struct evhttp_request *req, const char *path)
{
    struct mock_call *c = mock_call_new(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *raw = n > 0 ? (const char *)evbuffer_pullup(in, -1) : "";

    c->body = mock_parse_json(raw, n);
    mock_last_record(req, c->body, raw, n);
    if (mock_api_check(c, path) < 0)
        return;
    if (mock_api_parse(c) < 0) {
        mock_send_error(c, 400, c->err, "invalid_request_error", NULL);
        return;
    }
    if (c->ctl.hang)
        mock_call_watch(c);
    else if (c->ctl.first_byte_ms > 0)
        mock_call_after(c, c->ctl.first_byte_ms, mock_call_respond);
    else
        mock_call_respond(c);
}
