/* mock.c: aigw-mock, a mock OpenAI-compatible upstream for the e2e tests, the
 * benchmarks and the Quick start.
 *
 * One libevent loop, one evhttp server.  Every /v1 request becomes a
 * struct mock_call that lives until the response has been written out
 * (evhttp's on_complete callback: "completed") or until its connection goes
 * away first (the connection's close callback: "aborted").  A wire format
 * (OpenAI chat, completions, embeddings, models; later Anthropic, Gemini...)
 * is a struct mock_format: how to read the request body, how to write the
 * whole response, and how to write it as a sequence of stream events.  The
 * transport (delays, slow bodies, resets, hangs) is shared by all formats.
 * The controls of a call are the instance's defaults (POST /mock/config, so
 * that several instances can answer the same request differently), then the
 * body's "mock" object, then the x-mock-* headers.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <json.h>

#define MOCK_DEFAULT_LISTEN "127.0.0.1:9999"
#define MOCK_MAX_BODY (64L * 1024 * 1024)
#define MOCK_MS_MAX 3600000L
#define MOCK_CHUNKS_MAX 100000L
#define MOCK_SLOW_PIECE 16
#define MOCK_EMBED_DIM 8

/* Append a string literal. */
#define MOCK_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* A string control: points into a JSON value or a header the call holds. */
struct mock_str {
    const char *s; /* NULL: not set */
    size_t len;
};

/* Per-request controls: the instance's defaults (POST /mock/config), then
 * the body's "mock" object, then the x-mock-* headers, field by field. */
struct mock_ctl {
    long chunks;
    long delay_ms;
    long first_byte_ms;
    long status;
    long hang;
    long reset_before_response;
    long reset_after; /* -1: off */
    long close_after; /* -1: off */
    long slow_body_ms;
    struct mock_str content;     /* NULL: generated "tok0 tok1 ..." */
    struct mock_str retry_after; /* NULL: no Retry-After header */
};

struct mock_call;

/* A wire format.  Stream events are numbered 0..head+chunks+tail-1; events
 * head..head+chunks-1 carry the content pieces, the others are framing. */
struct mock_format {
    /* Read the parsed request body (may be NULL); 0, or -1 with c->err set. */
    int (*parse)(struct mock_call *c, json_object *body);
    /* Append the complete non-stream response body. */
    void (*body)(struct mock_call *c, struct evbuffer *out);
    /* Count the framing events around the content; NULL: cannot stream. */
    void (*frame)(const struct mock_call *c, long *head, long *tail);
    /* Append stream event number i. */
    void (*event)(struct mock_call *c, long i, struct evbuffer *out);
    /* Append an error body. */
    void (*error)(struct evbuffer *out, const char *msg, const char *type, const char *code);
};

/* One /v1 request in progress. */
struct mock_call {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    const struct mock_format *fmt;
    unsigned long seq;
    time_t created;
    struct mock_ctl ctl;
    json_object *body;   /* parsed request body (own reference) or NULL */
    json_object *config; /* the defaults it started with (own reference) or NULL */
    const char *model;   /* in body, or a literal */
    size_t model_len;
    json_object *input; /* embeddings: the "input" value, in body */
    long prompt_tokens;
    int stream;
    int include_usage;
    int status;      /* the HTTP status being sent, for -v */
    const char *err; /* parse error message for a 400 */
    char errbuf[96];
    struct event *timer;
    struct event *watch;
    void (*on_timer)(struct mock_call *c);
    struct evbuffer *out; /* body still to send (slow body, half body) */
    long step;            /* next stream event */
    long nsteps;
    long head;
    long content_sent;
};

/* The most recent /v1 request, for GET /mock/last. */
struct mock_last {
    int have;
    const char *method;
    char *buf; /* path \0 then (lowercased name \0 value \0) pairs */
    size_t len;
    size_t cap;
    json_object *body;
};

/* Counters for GET /mock/stats. */
struct mock_stats {
    unsigned long long requests;
    unsigned long long completed;
    unsigned long long aborted;
    unsigned long long active;
};

/* Process-wide state. */
static struct {
    struct event_base *base;
    struct evhttp *http;
    json_tokener *tok;
    struct evbuffer *scratch;
    const char *api_key;
    int verbose;
    unsigned long seq;
    struct mock_stats stats;
    struct mock_last last;
    json_object *config; /* POST /mock/config: default controls, or NULL */
} mock;

/* What a control looks like and where it is stored. */
enum mock_ctl_kind { MOCK_CTL_INT, MOCK_CTL_BOOL, MOCK_CTL_STR };

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
};

#define MOCK_NCTL (sizeof(mock_ctl_defs) / sizeof(mock_ctl_defs[0]))

static void mock_stream_next(struct mock_call *c);
static void mock_slow_next(struct mock_call *c);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* Append the JSON escape sequence for ch ('"', '\\' or a control character). */
static void
mock_json_esc(struct evbuffer *out, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};

    switch (ch) {
    case '"':
        esc[1] = '"';
        break;
    case '\\':
        esc[1] = '\\';
        break;
    case '\n':
        esc[1] = 'n';
        break;
    case '\r':
        esc[1] = 'r';
        break;
    case '\t':
        esc[1] = 't';
        break;
    default:
        evbuffer_add(out, esc, 6);
        return;
    }
    evbuffer_add(out, esc, 2);
}

/* Append s[0..n) as a JSON string literal. */
static void
mock_json_str(struct evbuffer *out, const char *s, size_t n)
{
    size_t run = 0;

    evbuffer_add(out, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        evbuffer_add(out, s + run, i - run);
        mock_json_esc(out, ch);
        run = i + 1;
    }
    evbuffer_add(out, s + run, n - run);
    evbuffer_add(out, "\"", 1);
}

/* Append a NUL-terminated string as a JSON string literal. */
static void
mock_json_cstr(struct evbuffer *out, const char *s)
{
    mock_json_str(out, s, strlen(s));
}

/* Count the whitespace-separated words in s[0..n). */
static long
mock_words(const char *s, size_t n)
{
    long words = 0;
    int in_word = 0;

    for (size_t i = 0; i < n; i++) {
        int space = isspace((unsigned char)s[i]) != 0;
        if (!space && !in_word)
            words++;
        in_word = !space;
    }
    return words;
}

/* Count the words of a JSON string value. */
static long
mock_json_words(json_object *v)
{
    return mock_words(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* Return the HTTP method name. */
static const char *
mock_method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

/* Return the request's path (no query), never NULL. */
static const char *
mock_req_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    return path != NULL && *path != '\0' ? path : "/";
}

/* Set Content-Type and echo x-request-id on a response. */
static void
mock_set_headers(struct evhttp_request *req, const char *content_type)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    const char *rid = evhttp_find_header(evhttp_request_get_input_headers(req), "x-request-id");

    evhttp_add_header(out, "Content-Type", content_type);
    if (rid != NULL)
        evhttp_add_header(out, "x-request-id", rid);
}

/* Append an OpenAI-shaped error body; code may be NULL. */
static void
mock_oai_error(struct evbuffer *out, const char *msg, const char *type, const char *code)
{
    MOCK_LIT(out, "{\"error\":{\"message\":");
    mock_json_cstr(out, msg);
    MOCK_LIT(out, ",\"type\":");
    mock_json_cstr(out, type);
    MOCK_LIT(out, ",\"param\":null,\"code\":");
    if (code != NULL)
        mock_json_cstr(out, code);
    else
        MOCK_LIT(out, "null");
    MOCK_LIT(out, "}}");
}

/* Return a reason phrase for codes libevent does not know, or NULL. */
static const char *
mock_reason(int code)
{
    switch (code) {
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 529:
        return "Overloaded";
    default:
        return NULL;
    }
}

/* Send the JSON in req's output buffer at once (HEAD, 204 and 304 go
 * without it: evhttp would write it anyway). */
static void
mock_reply_json(struct evhttp_request *req, int code)
{
    struct evbuffer *body = evhttp_request_get_output_buffer(req);

    if (code == 204 || code == 304 || evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        evbuffer_drain(body, evbuffer_get_length(body));
    mock_set_headers(req, "application/json");
    evhttp_send_reply(req, code, mock_reason(code), NULL);
}

/* Send an OpenAI-shaped error at once (no call bookkeeping). */
static void
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

    switch (json_object_get_type(v)) {
    case json_type_null:
        return 0;
    case json_type_string:
        return mock_ctl_text(ctl, d, json_object_get_string(v),
                             (size_t)json_object_get_string_len(v));
    case json_type_boolean:
        return d->kind == MOCK_CTL_BOOL ? mock_ctl_set(ctl, d, json_object_get_boolean(v)) : -1;
    case json_type_int:
        return d->kind == MOCK_CTL_STR ? -1 : mock_ctl_set(ctl, d, json_object_get_int64(v));
    case json_type_double:
        dv = json_object_get_double(v);
        if (d->kind == MOCK_CTL_STR || !(dv >= -1e15 && dv <= 1e15) || dv != (double)(long long)dv)
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

/* ------------------------------------------------------------------ */
/* Reply text                                                          */
/* ------------------------------------------------------------------ */

/* Return where content piece k starts: k/chunks of the way, moved forward
 * to the start of a UTF-8 sequence. */
static size_t
mock_cut(const struct mock_call *c, long k)
{
    size_t len = c->ctl.content.len;
    size_t at = (size_t)((unsigned long long)len * (unsigned long long)k /
                         (unsigned long long)c->ctl.chunks);

    while (at < len && ((unsigned char)c->ctl.content.s[at] & 0xC0) == 0x80)
        at++;
    return at;
}

/* Append piece k of the reply text as a JSON string literal. */
static void
mock_piece_json(const struct mock_call *c, long k, struct evbuffer *out)
{
    size_t from, to;

    if (c->ctl.content.s == NULL) {
        evbuffer_add_printf(out, k == 0 ? "\"tok%ld\"" : "\" tok%ld\"", k);
        return;
    }
    from = mock_cut(c, k);
    to = mock_cut(c, k + 1);
    mock_json_str(out, c->ctl.content.s + from, to - from);
}

/* Append the whole reply text (all pieces) as a JSON string literal. */
static void
mock_text_json(const struct mock_call *c, struct evbuffer *out)
{
    if (c->ctl.chunks == 0) {
        evbuffer_add(out, "\"\"", 2);
    } else if (c->ctl.content.s != NULL) {
        mock_json_str(out, c->ctl.content.s, c->ctl.content.len);
    } else {
        evbuffer_add(out, "\"tok0", 5);
        for (long k = 1; k < c->ctl.chunks; k++)
            evbuffer_add_printf(out, " tok%ld", k);
        evbuffer_add(out, "\"", 1);
    }
}

/* Append the usage object. */
static void
mock_usage_json(const struct mock_call *c, long completion, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}",
                        c->prompt_tokens, completion, c->prompt_tokens + completion);
}

/* ------------------------------------------------------------------ */
/* OpenAI request bodies                                               */
/* ------------------------------------------------------------------ */

/* Count the words of a string, or of an array of strings / token ids. */
static long
mock_oai_count(json_object *v)
{
    long n = 0;

    if (json_object_is_type(v, json_type_string))
        return mock_json_words(v);
    if (json_object_is_type(v, json_type_int))
        return 1;
    if (!json_object_is_type(v, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(v); i++)
        n += mock_oai_count(json_object_array_get_idx(v, i));
    return n;
}

/* Count the words of one chat message's content (string or text parts). */
static long
mock_oai_content_words(json_object *content)
{
    long n = 0;
    json_object *type, *text;

    if (json_object_is_type(content, json_type_string))
        return mock_json_words(content);
    if (!json_object_is_type(content, json_type_array))
        return 0;
    for (size_t i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i);
        if (json_object_object_get_ex(part, "type", &type) &&
            json_object_is_type(type, json_type_string) &&
            strcmp(json_object_get_string(type), "text") == 0 &&
            json_object_object_get_ex(part, "text", &text) &&
            json_object_is_type(text, json_type_string))
            n += mock_json_words(text);
    }
    return n;
}

/* Read model, stream and stream_options.include_usage. */
static void
mock_oai_common(struct mock_call *c, json_object *body)
{
    json_object *v, *opts;

    c->model = "mock-1";
    c->model_len = 6;
    if (json_object_object_get_ex(body, "model", &v) && json_object_is_type(v, json_type_string)) {
        c->model = json_object_get_string(v);
        c->model_len = (size_t)json_object_get_string_len(v);
    }
    c->stream = json_object_object_get_ex(body, "stream", &v) &&
                json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
    c->include_usage = c->stream && json_object_object_get_ex(body, "stream_options", &opts) &&
                       json_object_object_get_ex(opts, "include_usage", &v) &&
                       json_object_get_boolean(v);
}

/* Parse a chat completions request. */
static int
mock_chat_parse(struct mock_call *c, json_object *body)
{
    json_object *msgs, *content;

    mock_oai_common(c, body);
    if (!json_object_object_get_ex(body, "messages", &msgs))
        return 0;
    if (!json_object_is_type(msgs, json_type_array)) {
        c->err = "'messages' must be an array";
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(msgs); i++)
        if (json_object_object_get_ex(json_object_array_get_idx(msgs, i), "content", &content))
            c->prompt_tokens += mock_oai_content_words(content);
    return 0;
}

/* Parse a (legacy) completions request. */
static int
mock_completion_parse(struct mock_call *c, json_object *body)
{
    json_object *prompt;

    mock_oai_common(c, body);
    if (json_object_object_get_ex(body, "prompt", &prompt))
        c->prompt_tokens = mock_oai_count(prompt);
    return 0;
}

/* Parse an embeddings request. */
static int
mock_embed_parse(struct mock_call *c, json_object *body)
{
    mock_oai_common(c, body);
    c->stream = 0;
    c->include_usage = 0;
    if (!json_object_object_get_ex(body, "input", &c->input) ||
        !(json_object_is_type(c->input, json_type_string) ||
          json_object_is_type(c->input, json_type_array))) {
        c->err = "'input' must be a string or an array";
        return -1;
    }
    c->prompt_tokens = mock_oai_count(c->input);
    return 0;
}

/* Models has no body to read. */
static int
mock_models_parse(struct mock_call *c, json_object *body)
{
    c->stream = 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* OpenAI responses                                                    */
/* ------------------------------------------------------------------ */

/* Append the fields every completion object starts with. */
static void
mock_oai_head(const struct mock_call *c, int chat, const char *object, struct evbuffer *out)
{
    evbuffer_add_printf(out,
                        "{\"id\":\"%s-mock-%lu\",\"object\":\"%s\",\"created\":%lld,\"model\":",
                        chat ? "chatcmpl" : "cmpl", c->seq, object, (long long)c->created);
    mock_json_str(out, c->model, c->model_len);
}

/* Append a non-stream chat.completion or text_completion. */
static void
mock_oai_body(struct mock_call *c, int chat, struct evbuffer *out)
{
    mock_oai_head(c, chat, chat ? "chat.completion" : "text_completion", out);
    if (chat)
        MOCK_LIT(out,
                 ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    else
        MOCK_LIT(out, ",\"choices\":[{\"index\":0,\"text\":");
    mock_text_json(c, out);
    if (chat)
        MOCK_LIT(out, "}");
    MOCK_LIT(out, ",\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":");
    mock_usage_json(c, c->ctl.chunks, out);
    evbuffer_add(out, "}", 1);
}

/* Append a non-stream chat completion. */
static void
mock_chat_body(struct mock_call *c, struct evbuffer *out)
{
    mock_oai_body(c, 1, out);
}

/* Append a non-stream text completion. */
static void
mock_completion_body(struct mock_call *c, struct evbuffer *out)
{
    mock_oai_body(c, 0, out);
}

/* Append one choice of a stream chunk: piece k, or the finish (k < 0). */
static void
mock_oai_choice(const struct mock_call *c, int chat, long k, struct evbuffer *out)
{
    if (k < 0 && chat) {
        MOCK_LIT(out, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}");
    } else if (k < 0) {
        MOCK_LIT(out, "{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\"stop\"}");
    } else if (chat) {
        MOCK_LIT(out, "{\"index\":0,\"delta\":{\"content\":");
        mock_piece_json(c, k, out);
        MOCK_LIT(out, "},\"logprobs\":null,\"finish_reason\":null}");
    } else {
        MOCK_LIT(out, "{\"index\":0,\"text\":");
        mock_piece_json(c, k, out);
        MOCK_LIT(out, ",\"logprobs\":null,\"finish_reason\":null}");
    }
}

/* Append stream event i of a chat or text completion stream. */
static void
mock_oai_event(struct mock_call *c, int chat, long i, struct evbuffer *out)
{
    long k = i - c->head, n = c->ctl.chunks;

    if (k > n + c->include_usage) {
        MOCK_LIT(out, "data: [DONE]\n\n");
        return;
    }
    MOCK_LIT(out, "data: ");
    mock_oai_head(c, chat, chat ? "chat.completion.chunk" : "text_completion", out);
    MOCK_LIT(out, ",\"choices\":[");
    if (k < 0)
        MOCK_LIT(out, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                      "\"logprobs\":null,\"finish_reason\":null}");
    else if (k <= n)
        mock_oai_choice(c, chat, k < n ? k : -1, out);
    if (k == n + 1) {
        MOCK_LIT(out, "],\"usage\":");
        mock_usage_json(c, n, out);
        MOCK_LIT(out, "}\n\n");
    } else if (c->include_usage) {
        MOCK_LIT(out, "],\"usage\":null}\n\n");
    } else {
        MOCK_LIT(out, "]}\n\n");
    }
}

/* Chat streams: a role event first; then finish, [usage], [DONE]. */
static void
mock_chat_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = 1;
    *tail = 2 + c->include_usage;
}

/* Completion streams: no role event; then finish, [usage], [DONE]. */
static void
mock_completion_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = 0;
    *tail = 2 + c->include_usage;
}

/* Append chat stream event i. */
static void
mock_chat_event(struct mock_call *c, long i, struct evbuffer *out)
{
    mock_oai_event(c, 1, i, out);
}

/* Append text completion stream event i. */
static void
mock_completion_event(struct mock_call *c, long i, struct evbuffer *out)
{
    mock_oai_event(c, 0, i, out);
}

/* Append one deterministic embedding derived from the input's length and index. */
static void
mock_embed_one(size_t len, size_t idx, struct evbuffer *out)
{
    uint32_t h = (uint32_t)len * 2654435761u ^ ((uint32_t)idx + 1) * 40503u;

    evbuffer_add_printf(out, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[",
                        idx ? "," : "", idx);
    for (int k = 0; k < MOCK_EMBED_DIM; k++) {
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        evbuffer_add_printf(out, "%s%.6f", k ? "," : "", (double)(h & 0xffff) / 32768.0 - 1.0);
    }
    evbuffer_add(out, "]}", 2);
}

/* Return the length an embedding input item is derived from. */
static size_t
mock_embed_len(json_object *item)
{
    if (json_object_is_type(item, json_type_string))
        return (size_t)json_object_get_string_len(item);
    if (json_object_is_type(item, json_type_array))
        return json_object_array_length(item);
    return 0;
}

/* Append an embeddings list: one item per string (or token array). */
static void
mock_embed_body(struct mock_call *c, struct evbuffer *out)
{
    json_object *in = c->input;
    int single = json_object_is_type(in, json_type_string) ||
                 (json_object_array_length(in) > 0 &&
                  json_object_is_type(json_object_array_get_idx(in, 0), json_type_int));

    evbuffer_add(out, "{\"object\":\"list\",\"data\":[", 25);
    if (single)
        mock_embed_one(mock_embed_len(in), 0, out);
    else
        for (size_t i = 0; i < json_object_array_length(in); i++)
            mock_embed_one(mock_embed_len(json_object_array_get_idx(in, i)), i, out);
    evbuffer_add(out, "],\"model\":", 10);
    mock_json_str(out, c->model, c->model_len);
    evbuffer_add_printf(out, ",\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}",
                        c->prompt_tokens, c->prompt_tokens);
}

/* Append the model list. */
static void
mock_models_body(struct mock_call *c, struct evbuffer *out)
{
    static const char body[] =
        "{\"object\":\"list\",\"data\":["
        "{\"id\":\"mock-1\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"aigw-mock\"}"
        ","
        "{\"id\":\"mock-2\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"aigw-mock\"}"
        "]}";

    evbuffer_add(out, body, sizeof(body) - 1);
}

static const struct mock_format mock_fmt_chat = {
    mock_chat_parse, mock_chat_body, mock_chat_frame, mock_chat_event, mock_oai_error,
};
static const struct mock_format mock_fmt_completion = {
    mock_completion_parse, mock_completion_body, mock_completion_frame,
    mock_completion_event, mock_oai_error,
};
static const struct mock_format mock_fmt_embed = {
    mock_embed_parse, mock_embed_body, NULL, NULL, mock_oai_error,
};
static const struct mock_format mock_fmt_models = {
    mock_models_parse, mock_models_body, NULL, NULL, mock_oai_error,
};

/* An API endpoint.  A new wire format (e.g. Anthropic's POST /v1/messages)
 * adds a struct mock_format and a line here; prefix routes suit paths with
 * parameters (e.g. Gemini's /v1beta/models/{model}:generateContent). */
struct mock_route {
    const char *path;
    int prefix; /* path is a prefix */
    enum evhttp_cmd_type method;
    const struct mock_format *fmt;
};

static const struct mock_route mock_routes[] = {
    {"/v1/chat/completions", 0, EVHTTP_REQ_POST, &mock_fmt_chat},
    {"/v1/completions", 0, EVHTTP_REQ_POST, &mock_fmt_completion},
    {"/v1/embeddings", 0, EVHTTP_REQ_POST, &mock_fmt_embed},
    {"/v1/models", 0, EVHTTP_REQ_GET, &mock_fmt_models},
};

/* Return the route for path, or NULL. */
static const struct mock_route *
mock_route_find(const char *path)
{
    for (size_t i = 0; i < sizeof(mock_routes) / sizeof(mock_routes[0]); i++) {
        const struct mock_route *r = &mock_routes[i];
        if (r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0)
            return r;
    }
    return NULL;
}

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

/* Remember method, path, headers and body of a /v1 request. */
static void
mock_last_record(struct evhttp_request *req, json_object *body, const char *raw, size_t n)
{
    struct mock_last *l = &mock.last;
    struct evkeyval *h;
    const char *path = mock_req_path(req);

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

/* Build the headers object; repeated headers are joined with ", ". */
static json_object *
mock_last_headers(void)
{
    json_object *hdrs = json_object_new_object(), *old;
    const char *p = mock.last.buf + strlen(mock.last.buf) + 1;
    const char *end = mock.last.buf + mock.last.len;

    while (p < end) {
        const char *name = p, *value = p + strlen(p) + 1;
        p = value + strlen(value) + 1;
        if (json_object_object_get_ex(hdrs, name, &old)) {
            size_t olen = (size_t)json_object_get_string_len(old), vlen = strlen(value);
            char *joined = malloc(olen + vlen + 3);
            if (joined == NULL)
                abort();
            memcpy(joined, json_object_get_string(old), olen);
            memcpy(joined + olen, ", ", 2);
            memcpy(joined + olen + 2, value, vlen + 1);
            json_object_object_add(hdrs, name, json_object_new_string(joined));
            free(joined);
        } else {
            json_object_object_add(hdrs, name, json_object_new_string(value));
        }
    }
    return hdrs;
}

/* Free the last-request record. */
static void
mock_last_free(void)
{
    json_object_put(mock.last.body);
    free(mock.last.buf);
    memset(&mock.last, 0, sizeof(mock.last));
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
    json_object_put(c->body);
    json_object_put(c->config);
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
static void
mock_send_error(struct mock_call *c, int code, const char *msg, const char *type,
                const char *code_str)
{
    struct evbuffer *buf = evbuffer_new();

    if (buf == NULL)
        abort();
    (c->fmt != NULL ? c->fmt->error : mock_oai_error)(buf, msg, type, code_str);
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
    if (c->step >= c->head && c->step < c->head + c->ctl.chunks)
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
    c->nsteps = c->head + c->ctl.chunks + tail;
    mock_set_headers(c->req, "text/event-stream");
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
        c->fmt->error(buf, msg, "mock_error", code);
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

/* Parse the request body as JSON; NULL if it is not JSON. */
static json_object *
mock_parse_json(const char *data, size_t n)
{
    json_object *obj;
    size_t end;

    if (n == 0 || n > INT32_MAX)
        return NULL;
    json_tokener_reset(mock.tok);
    obj = json_tokener_parse_ex(mock.tok, data, (int)n);
    if (obj == NULL)
        return NULL;
    for (end = json_tokener_get_parse_end(mock.tok); end < n; end++)
        if (!isspace((unsigned char)data[end])) {
            json_object_put(obj);
            return NULL;
        }
    return obj;
}

/* Is the request's Authorization "Bearer <the -k key>"? */
static int
mock_auth_ok(struct evhttp_request *req)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

    if (mock.api_key == NULL)
        return 1;
    return v != NULL && strncasecmp(v, "Bearer ", 7) == 0 && strcmp(v + 7, mock.api_key) == 0;
}

/* Check path, method, key and JSON body; 0, or -1 once the error is sent. */
static int
mock_api_check(struct mock_call *c, const char *path)
{
    const struct mock_route *route = mock_route_find(path);
    enum evhttp_cmd_type method = evhttp_request_get_command(c->req);
    char msg[160];

    if (route == NULL) {
        snprintf(msg, sizeof(msg), "Invalid URL (%s %.100s)", mock_method_name(method), path);
        mock_send_error(c, 404, msg, "invalid_request_error", "unknown_url");
        return -1;
    }
    c->fmt = route->fmt;
    if (method != route->method &&
        !(method == EVHTTP_REQ_HEAD && route->method == EVHTTP_REQ_GET)) {
        snprintf(msg, sizeof(msg), "Method %s not allowed for %s", mock_method_name(method), path);
        evhttp_add_header(evhttp_request_get_output_headers(c->req), "Allow",
                          mock_method_name(route->method));
        mock_send_error(c, 405, msg, "invalid_request_error", "method_not_allowed");
        return -1;
    }
    if (!mock_auth_ok(c->req)) {
        mock_send_error(c, 401, "Incorrect API key provided", "invalid_request_error",
                        "invalid_api_key");
        return -1;
    }
    if (method == EVHTTP_REQ_POST && !json_object_is_type(c->body, json_type_object)) {
        mock_send_error(c, 400, "We could not parse the JSON body of your request.",
                        "invalid_request_error", "invalid_json");
        return -1;
    }
    return 0;
}

/* Read body and controls, then answer (or wait to answer) a /v1 request. */
static void
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
    if (mock_ctl_parse(c) < 0 || c->fmt->parse(c, c->body) < 0) {
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
        mock_reply_error(req, 404, "no /v1 request received yet", "invalid_request_error",
                         "no_request");
        return;
    }
    root = json_object_new_object();
    json_object_object_add(root, "method", json_object_new_string(mock.last.method));
    json_object_object_add(root, "path", json_object_new_string(mock.last.buf));
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

/* Check a POST /mock/config body; return the new defaults (own reference;
 * NULL for {}), or NULL with msg filled in. */
static json_object *
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

        mock_ctl_init(&scratch);
        if (d == NULL || mock_ctl_json(&scratch, d, v) < 0) {
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

    int api =
        strcmp(path, "/v1") == 0 || strncmp(path, "/v1/", 4) == 0 || mock_route_find(path) != NULL;

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
               "  -k APIKEY     require \"Authorization: Bearer APIKEY\" on /v1 requests\n"
               "  -v            log every request to stderr\n"
               "endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings;\n"
               "  GET /v1/models; GET /mock/stats, /mock/last; POST /mock/reset;\n"
               "  GET, POST /mock/config (default controls for every later /v1 request; {}\n"
               "  clears them)\n"
               "controls (body \"mock\":{...} or x-mock-NAME headers, over the defaults):\n"
               "  chunks, delay_ms, first_byte_ms, status, retry_after, hang,\n"
               "  reset_before_response, reset_after, close_after, slow_body_ms, content\n"
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
