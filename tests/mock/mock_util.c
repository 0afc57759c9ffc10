/* mock_util.c: aigw-mock's small helpers: JSON writing, word counting, the
 * reply text cut into pieces. */

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "mock.h"

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
void
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
void
mock_json_cstr(struct evbuffer *out, const char *s)
{
    mock_json_str(out, s, strlen(s));
}

/* Count the whitespace-separated words in s[0..n). */
long
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
long
mock_json_words(json_object *v)
{
    return mock_words(json_object_get_string(v), (size_t)json_object_get_string_len(v));
}

/* Return the HTTP method name. */
const char *
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
const char *
mock_req_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    return path != NULL && *path != '\0' ? path : "/";
}

/* Return a reason phrase for codes libevent does not know, or NULL. */
const char *
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

/* Parse the request body as JSON; NULL if it is not JSON. */
json_object *
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

/* ------------------------------------------------------------------ */
/* Reply text                                                         */
/* ------------------------------------------------------------------ */

/* Return where piece k of the text starts: k/split of the way, moved
 * forward to the start of a UTF-8 sequence. */
static size_t
mock_cut(const struct mock_call *c, long k)
{
    size_t len = c->text.len;
    size_t at =
        (size_t)((unsigned long long)len * (unsigned long long)k / (unsigned long long)c->split);

    while (at < len && ((unsigned char)c->text.s[at] & 0xC0) == 0x80)
        at++;
    return at;
}

/* Append piece k of the reply text as a JSON string literal. */
void
mock_piece_json(const struct mock_call *c, long k, struct evbuffer *out)
{
    size_t from, to;

    if (c->text.s == NULL) {
        evbuffer_add_printf(out, k == 0 ? "\"tok%ld\"" : "\" tok%ld\"", k);
        return;
    }
    from = mock_cut(c, k);
    to = mock_cut(c, k + 1);
    mock_json_str(out, c->text.s + from, to - from);
}

/* Append the reply text as a JSON string literal: the pieces that are
 * sent, all of them unless a max_tokens cut the reply short. */
void
mock_text_json(const struct mock_call *c, struct evbuffer *out)
{
    if (c->npieces == 0) {
        evbuffer_add(out, "\"\"", 2);
    } else if (c->text.s != NULL) {
        mock_json_str(out, c->text.s, mock_cut(c, c->npieces));
    } else {
        evbuffer_add(out, "\"tok0", 5);
        for (long k = 1; k < c->npieces; k++)
            evbuffer_add_printf(out, " tok%ld", k);
        evbuffer_add(out, "\"", 1);
    }
}

/* Append the id of the tool call: the tool_call control's "id", or prefix
 * and the request's number. */
void
mock_tool_id_json(const struct mock_call *c, const char *prefix, struct evbuffer *out)
{
    json_object *id;

    if (json_object_object_get_ex(c->ctl.tool_call, "id", &id))
        mock_json_str(out, json_object_get_string(id), (size_t)json_object_get_string_len(id));
    else
        evbuffer_add_printf(out, "\"%s%lu\"", prefix, c->seq);
}

/* Append the usage object. */
void
mock_usage_json(const struct mock_call *c, long completion, struct evbuffer *out)
{
    if (c->ctl.usage.s != NULL) { /* the usage control: whatever a test wants an upstream to say */
        evbuffer_add(out, c->ctl.usage.s, c->ctl.usage.len);
        return;
    }
    evbuffer_add_printf(out,
                        "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld}",
                        c->prompt_tokens, completion, c->prompt_tokens + completion);
}

/* ------------------------------------------------------------------ */
/* Checking request bodies                                            */
/* ------------------------------------------------------------------ */

/* Append a JSON value as compact JSON text. */
void
mock_json_obj(struct evbuffer *out, json_object *v)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

    evbuffer_add(out, s, len);
}

/* Set c->err to a formatted message; return -1 (for "return mock_fail()"). */
int
mock_fail(struct mock_call *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->errbuf, sizeof(c->errbuf), fmt, ap);
    va_end(ap);
    c->err = c->errbuf;
    return -1;
}

/* Return the JSON type of v as a word for messages ("null" for NULL). */
const char *
mock_type_name(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "boolean";
    case json_type_double:
    case json_type_int:
        return "number";
    case json_type_object:
        return "object";
    case json_type_array:
        return "array";
    case json_type_string:
        return "string";
    }
    return "value";
}

/* Is v a JSON integer (or a double with no fraction, as 5.0)? */
int
mock_is_int(json_object *v)
{
    double d;

    if (json_object_is_type(v, json_type_int))
        return 1;
    if (!json_object_is_type(v, json_type_double))
        return 0;
    d = json_object_get_double(v);
    return d >= -1e15 && d <= 1e15 && d == (double)(long long)d;
}

/* Is v a JSON number? */
int
mock_is_num(json_object *v)
{
    return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}
