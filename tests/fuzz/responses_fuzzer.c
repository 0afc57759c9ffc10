/* SPDX-License-Identifier: Apache-2.0 */
/*
 * responses_fuzzer.c: the Responses API to a chat-only target
 * (src/responses_req.c, src/responses_out.c) on its own: the first byte
 * picks what the rest is.
 *   0 a client's /v1/responses body: rsp_to_chat, and rsp_base;
 *   1 an OpenAI chat.completion to translate back (rsp_from_chat);
 *   2 an OpenAI chat stream: each SSE data field to rsp_stream_chunk, then
 *     rsp_stream_fail when byte 1 is odd.
 * Oracles: a refusal names its code and message; what is made is JSON that
 * json-c reads back; every event is JSON whose type is its name, with
 * sequence numbers 0, 1, 2, ... in order.
 */
#include "config.h"

#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "provider.h"
#include "responses.h"
#include "sse.h"

/* An object made here serializes into text that reads back. */
static void
rf_json(const char *what, struct json_object *o)
{
    if (o == NULL)
        return;
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    struct json_object *back = json_tokener_parse(s);
    FUZZ_ASSERT(back != NULL, "%s does not read back: %s", what, s);
    json_object_put(back);
}

/* A typed event: JSON, its type its name, its sequence number the next. */
static void
rf_event(void *arg, const char *event, const char *data, size_t len)
{
    int64_t *seq = arg;
    struct json_object *o, *v;
    FUZZ_ASSERT(strpbrk(event, "\r\n") == NULL, "an event name with a line break");
    char *s = strndup(data, len);
    o = s ? json_tokener_parse(s) : NULL;
    FUZZ_ASSERT(o != NULL, "event %s is not JSON: %s", event, s);
    FUZZ_ASSERT(json_object_object_get_ex(o, "type", &v) &&
                    strcmp(json_object_get_string(v), event) == 0,
                "event %s has another type: %s", event, s);
    FUZZ_ASSERT(json_object_object_get_ex(o, "sequence_number", &v) &&
                    json_object_get_int64(v) == (*seq)++,
                "event %s out of sequence: %s", event, s);
    json_object_put(o);
    free(s);
}

/* One SSE event of the chat stream. */
static int
rf_chunk(const char *event, size_t evlen, const char *data, size_t len, void *arg)
{
    rsp_stream_chunk(arg, data, len);
    return 0;
}

/* Parse n bytes as one JSON value (NULL when not). */
static struct json_object *
rf_parse(const char *p, size_t n)
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
    static const char base_req[] = "{\"model\":\"m\",\"input\":\"hi\",\"tools\":[]}";
    if (size < 2 || size > 65536)
        return 0;
    int mode = data[0] % 3;
    const char *p = (const char *)data + 2;
    size_t n = size - 2;
    struct prov_usage u = {.prompt = 3, .completion = 2, .total = 5, .have = data[1] & 2};
    if (mode == 0) {
        struct json_object *req = rf_parse(p, n), *out, *base;
        struct rsp_err e;
        if (req == NULL || !json_object_is_type(req, json_type_object)) {
            json_object_put(req);
            return 0;
        }
        out = rsp_to_chat(req, &e);
        if (out == NULL)
            FUZZ_ASSERT(e.code != NULL && e.msg[0] != '\0', "a refusal without its message");
        rf_json("rsp_to_chat's request", out);
        base = rsp_base(req);
        rf_json("rsp_base's object", base);
        json_object_put(base);
        json_object_put(out);
        json_object_put(req);
    } else {
        struct json_object *req = rf_parse(base_req, sizeof(base_req) - 1), *base = rsp_base(req);
        if (mode == 1) {
            struct json_object *in = rf_parse(p, n), *out = rsp_from_chat(in, base, &u);
            rf_json("rsp_from_chat's response", out);
            json_object_put(out);
            json_object_put(in);
        } else {
            struct rsp_stream rs;
            struct sse_parser sp;
            int64_t seq = 0;
            rsp_stream_init(&rs, base, &u, rf_event, &seq);
            sse_init(&sp, 1 << 20);
            sse_feed(&sp, p, n, rf_chunk, &rs);
            if (data[1] & 1)
                rsp_stream_fail(&rs, "upstream_stream_error", "failed");
            sse_free(&sp);
            rsp_stream_free(&rs);
        }
        json_object_put(base);
        json_object_put(req);
    }
    return 0;
}
