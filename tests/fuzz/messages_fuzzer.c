/* SPDX-License-Identifier: Apache-2.0 */
/*
 * messages_fuzzer.c: the Anthropic Messages API for clients (src/messages.c)
 * on its own: the first byte picks what the rest is.
 *   0, 1 a client's body on /v1/messages or count_tokens: msg_check, and
 *        when it passes msg_to_openai;
 *   2    an OpenAI chat.completion to translate back (msg_from_openai);
 *   3    an OpenAI stream: each SSE data field to msg_stream_chunk;
 *   4    an OpenAI error body (msg_error_from_openai), its status from byte 2.
 * Oracles: a refusal names its field; what is made is JSON that json-c reads
 * back; the stream's events are JSON with a name without line breaks.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "sse.h"
#include "fuzz.h"
#include "messages.h"

/* An object made here serializes into text that reads back. */
static void
mf_json(const char *what, struct json_object *o)
{
    if (o == NULL)
        return;
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct json_object *back = json_tokener_parse(s);
    FUZZ_ASSERT(back != NULL, "%s does not read back: %s", what, s);
    json_object_put(back);
}

/* An Anthropic stream event. */
static void
mf_event(void *arg, const char *event, const char *data, size_t len)
{
    FUZZ_ASSERT(strpbrk(event, "\r\n") == NULL, "an event name with a line break");
    char *s = strndup(data, len);
    struct json_object *o = s ? json_tokener_parse(s) : NULL;
    FUZZ_ASSERT(o != NULL, "event %s is not JSON: %s", event, s);
    json_object_put(o);
    free(s);
}

/* One SSE event of the OpenAI stream. */
static int
mf_chunk(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    msg_stream_chunk(arg, data, len);
    return 0;
}

/* Parse n bytes as one JSON value (NULL when not). */
static struct json_object *
mf_parse(const char *p, size_t n)
{
    char *s = strndup(p, n);
    struct json_object *o = s ? json_tokener_parse(s) : NULL;
    free(s);
    return o;
}

/* One input: the first byte picks what the rest is (see the top). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536)
        return 0;
    int mode = data[0] % 5;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    char err[512];
    const char *param = NULL;
    if (mode <= 1) {
        struct json_object *req = mf_parse(p, n), *out;
        if (req == NULL)
            return 0;
        if (msg_check(req, mode, err, sizeof(err), &param) < 0) {
            FUZZ_ASSERT(param != NULL && err[0] != '\0', "a refusal without its field");
        } else if (mode == 0) {
            out = msg_to_openai(req, err, sizeof(err));
            mf_json("msg_to_openai's request", out);
            json_object_put(out);
        }
        json_object_put(req);
    } else if (mode == 2) {
        struct json_object *in = mf_parse(p, n), *out = msg_from_openai(in);
        mf_json("msg_from_openai's answer", out);
        json_object_put(out);
        json_object_put(in);
    } else if (mode == 3) {
        struct msg_stream ms;
        struct sse_parser sp;
        msg_stream_init(&ms, mf_event, NULL);
        sse_init(&sp, 1 << 20);
        sse_feed(&sp, p, n, mf_chunk, &ms);
        sse_free(&sp);
    } else {
        static const int statuses[8] = {400, 401, 403, 404, 413, 429, 500, 529};
        struct json_object *in = mf_parse(p, n), *out;
        out = msg_error_from_openai(statuses[data[1] & 7], in);
        mf_json("msg_error_from_openai's error", out);
        json_object_put(out);
        json_object_put(in);
    }
    return 0;
}
