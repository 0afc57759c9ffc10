/* SPDX-License-Identifier: Apache-2.0 */
/*
 * converse_fuzzer.c: the Bedrock Converse translation (src/converse.c) on
 * what a client and an upstream send. The first byte picks the mode:
 *   0 a client's chat body to converse_request,
 *   1 a Converse answer to converse_response,
 *   2 a ConverseStream as event-stream frames (src/eventstream.c), each
 *     message's type (es_event_type) and payload to
 *     converse_stream_event, as the relay hands them,
 *   3 an error body to converse_error and converse_error_status (the
 *     second byte's low bits pick the status, the rest up to a NUL the
 *     x-amzn-ErrorType).
 *
 * Oracles: what aigw writes (a request, an answer, a chunk, an error) is
 * JSON; a refusal is one line; token counts stay in 0..USAGE_MAX; nothing
 * is emitted after "[DONE]".
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "converse.h"
#include "aigw/eventstream.h"
#include "fuzz.h"
#include "jsonx.h"
#include "usage.h"

static void
cv_usage(const struct prov_usage *u)
{
    const int64_t v[5] = {u->prompt, u->completion, u->total, u->cached, u->reasoning};
    for (int i = 0; i < 5; i++)
        FUZZ_ASSERT(v[i] >= 0 && v[i] <= USAGE_MAX, "a token count of %lld", (long long)v[i]);
}

static void
cv_json(const char *what, const char *s, size_t len)
{
    struct json_object *o = jx_parse(s, len);
    FUZZ_ASSERT(o != NULL, "%s is not JSON: %.*s", what, (int)(len > 200 ? 200 : len), s);
    json_object_put(o);
}

static void
cv_json_obj(const char *what, struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    cv_json(what, t, strlen(t));
}

struct cv_sink {
    int done;
};

static void
cv_emit(void *arg, const char *data, size_t len)
{
    struct cv_sink *k = arg;
    FUZZ_ASSERT(!k->done, "a chunk after [DONE]");
    if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
        k->done = 1;
    else
        cv_json("a chunk", data, len);
}

static int
cv_message(const struct es_message *m, void *arg)
{
    struct prov_stream *s = arg;
    size_t tlen;
    int is_error;
    const char *type = es_event_type(m, &tlen, &is_error);
    if (type == NULL)
        return 1;
    if (converse_stream_event(s, type, tlen, m->payload, m->payload_len) < 0)
        return 1; /* not the API's: the relay stops */
    cv_usage(&s->usage);
    if (s->error != NULL)
        cv_json_obj("a stream's error", s->error);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct json_object *in = NULL, *out = NULL;
    switch (data[0] & 3) {
    case 0: {
        char err[512] = "";
        in = jx_parse(p, n);
        if (!json_object_is_type(in, json_type_object))
            break;
        if (converse_request(in, 4096, &out, err, sizeof(err)) == 0)
            cv_json_obj("a Converse request", out);
        else
            FUZZ_ASSERT(*err && !strpbrk(err, "\r\n"), "a refusal \"%s\"", err);
        break;
    }
    case 1: {
        struct prov_usage u = {0};
        in = jx_parse(p, n);
        if (in != NULL && converse_response(in, "m", &out, &u) == 0) {
            cv_json_obj("an answer", out);
            cv_usage(&u);
        }
        break;
    }
    case 2: {
        struct cv_sink k = {0};
        struct prov_stream s = {.emit = cv_emit, .arg = &k};
        struct es_decoder d;
        if (converse_stream_begin(&s, "m") != 0)
            abort();
        es_init(&d, 1 << 20);
        es_feed(&d, p, n, cv_message, &s);
        es_free(&d);
        converse_stream_end(&s);
        json_object_put(s.error);
        break;
    }
    default: {
        static const long statuses[] = {400, 403, 429, 500, 503, 424, 404, 408};
        const char *nul = memchr(p + 1, 0, n - 1);
        char *type = NULL;
        if (nul != NULL) {
            type = strndup(p + 1, (size_t)(nul - p - 1));
            in = jx_parse(nul + 1, n - 1 - (size_t)(nul - p - 1) - 1);
            converse_error_status(type, strlen(type));
        } else {
            in = jx_parse(p + 1, n - 1);
        }
        out = converse_error(statuses[(unsigned char)p[0] & 7], type, in);
        cv_json_obj("an error", out);
        FUZZ_ASSERT(json_object_is_type(jx_get(jx_get(out, "error"), "message"), json_type_string),
                    "an error without a message");
        free(type);
        break;
    }
    }
    json_object_put(in);
    json_object_put(out);
    return 0;
}
