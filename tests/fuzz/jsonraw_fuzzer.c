/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jsonraw_fuzzer.c: the byte edits of a pass-through body (src/jsonraw.c)
 * as a differential against json-c, which did the request's checks.
 *
 * Part one, jsonraw alone: in any text json-c reads as an object, each
 * top-level member whose name occurs once (see below) is found by
 * jsonraw_member at the bytes json-c read as its value.
 *
 * Part two, the pipeline: a body that aigw's request checks accept
 * (reqcheck.c, as src/proxy.c) goes through the provider's build as a
 * pass-through (the client speaks the target's dialect: prov_openai_raw,
 * prov_raw_model). The body sent upstream, read by json-c, must have
 *   - exactly one member named "model" and it is the target's model;
 *   - when the stream asks for usage, exactly one stream_options holding
 *     exactly one include_usage, true;
 *   - the target's max_tokens when the client gave none;
 *   - every other member exactly as the check read it;
 * where "exactly one" counts every member whose name is the same after
 * unescaping, cutting at a NUL (json-c's keys are C strings) and ASCII case
 * folding ("mod\u0065l", "model\u0000x", "MODEL" are all "model"): an
 * upstream may read any of them as the model. Such a body may be refused
 * by the checks, or resolved from the one parse that was checked, but not
 * sent with a second model in it (docs/design.md, trust rules).
 *
 * The first byte picks the route, the provider and the target.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "aigw/util.h"
#include "fuzz.h"
#include "jsonraw.h"
#include "provider.h"
#include "reqcheck.h"

#define JR_MAX_MEMBERS 256

/* A top-level member as the bytes have it. */
struct jr_member {
    char name[128]; /* unescaped, cut at a NUL, ASCII lower case; truncated when longer */
    char raw[128];  /* as written, when it fits and has no escapes; else "" */
    int escaped;    /* the name is written with a backslash */
    size_t vb, ve;  /* its value's bytes */
};

/* Skip JSON white space. */
static size_t
jr_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* One JSON value at p[i..n) read by json-c: its end, and the value (NULL: none). */
static struct json_object *
jr_value(const char *p, size_t i, size_t n, size_t *end)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, p + i, (int)(n - i));
    *end = i + json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    return o;
}

/* The value whose bytes are p[b..e) alone (a number needs its end marked: a copy with a NUL). */
static struct json_object *
jr_span(const char *p, size_t b, size_t e)
{
    char *s = malloc(e - b + 1);
    if (s == NULL)
        abort();
    memcpy(s, p + b, e - b);
    s[e - b] = '\0';
    struct json_object *o = json_tokener_parse(s);
    free(s);
    return o;
}

/* One past the string at p[i] == '"'. */
static size_t
jr_string(const char *p, size_t i, size_t n)
{
    for (i++; i < n && p[i] != '"'; i++)
        if (p[i] == '\\')
            i++;
    FUZZ_ASSERT(i < n, "a string that does not end");
    return i + 1;
}

/* One past the value at p[i] (of a text json-c read: no need to check the grammar). */
static size_t
jr_skip(const char *p, size_t i, size_t n)
{
    int depth = 0;
    if (p[i] == '"')
        return jr_string(p, i, n);
    for (; i < n; i++) {
        if (p[i] == '"')
            i = jr_string(p, i, n) - 1;
        else if (p[i] == '{' || p[i] == '[')
            depth++;
        else if (p[i] == '}' || p[i] == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && strchr(", \t\r\n", p[i]) != NULL)
            return i;
    }
    return i;
}

/*
 * The top-level members of the object text p (which json-c has read as one):
 * their count, or -1 when there are more than JR_MAX_MEMBERS.
 */
static int
jr_members(const char *p, size_t n, struct jr_member *m)
{
    size_t i = jr_ws(p, 0, n), end;
    int k = 0;
    if (i >= n || p[i] != '{')
        return 0;
    i = jr_ws(p, i + 1, n);
    while (i < n && p[i] == '"') {
        if (k == JR_MAX_MEMBERS)
            return -1;
        end = jr_skip(p, i, n); /* the name's end by its bytes; json-c decodes it */
        struct json_object *name = jr_span(p, i, end);
        FUZZ_ASSERT(name != NULL && json_object_is_type(name, json_type_string), "a member name");
        m[k].escaped = memchr(p + i, '\\', end - i) != NULL;
        m[k].raw[0] = '\0';
        if (!m[k].escaped && end - i - 2 < sizeof(m[k].raw))
            snprintf(m[k].raw, sizeof(m[k].raw), "%.*s", (int)(end - i - 2), p + i + 1);
        snprintf(m[k].name, sizeof(m[k].name), "%s", json_object_get_string(name));
        for (char *c = m[k].name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        json_object_put(name);
        i = jr_ws(p, end, n);
        FUZZ_ASSERT(i < n && p[i] == ':', "a colon after a name");
        m[k].vb = jr_ws(p, i + 1, n);
        m[k].ve = jr_skip(p, m[k].vb, n);
        k++;
        i = jr_ws(p, m[k - 1].ve, n);
        if (i < n && p[i] == ',')
            i = jr_ws(p, i + 1, n);
    }
    return k;
}

/* How many members are name (folded as jr_member's). */
static int
jr_count(const struct jr_member *m, int k, const char *name)
{
    int c = 0;
    for (int i = 0; i < k; i++)
        c += strcmp(m[i].name, name) == 0;
    return c;
}

/* Part one: jsonraw_member finds what json-c read, for each name written once and plainly. */
static void
jr_members_agree(const char *p, size_t n)
{
    static struct jr_member m[JR_MAX_MEMBERS];
    struct json_object *o = NULL;
    struct json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* only what aigw parses: lexically checked first (no NaN, which equals nothing) */
    if (n < 0x7fffffff && json_lexically_strict(p, n) == 0)
        o = json_tokener_parse_ex(tok, p, (int)n);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    size_t obj = jsonraw_start(p, n), close;
    if (o == NULL || !json_object_is_type(o, json_type_object) || jr_ws(p, used, n) != n)
        goto done;
    FUZZ_ASSERT(obj != (size_t)-1, "json-c read an object, jsonraw_start found none");
    int k = jr_members(p, used, m);
    for (int i = 0; i < k; i++) {
        struct jsonraw_span v;
        if (m[i].escaped || m[i].raw[0] == '\0' || jr_count(m, k, m[i].name) != 1)
            continue; /* jsonraw compares bytes: such a name is the checks' business */
        struct json_object *jv = json_object_object_get(o, m[i].raw), *raw;
        FUZZ_ASSERT(jsonraw_member(p, n, obj, m[i].raw, &v, &close) == 0, "member %s not found",
                    m[i].raw);
        raw = jr_span(p, v.b, v.e);
        FUZZ_ASSERT(json_object_equal(raw, jv), "member %s differs", m[i].raw);
        json_object_put(raw);
    }
done:
    json_object_put(o);
}

/* The target of part two. */
static void
jr_target(struct target_view *t, int provider, uint8_t how)
{
    memset(t, 0, sizeof(*t));
    t->name = "fuzz";
    t->upstream_model = how & 0x10 ? "up\"str\\eam/\u00e9" : "upstream-model";
    t->api_base = "http://127.0.0.1:9/v1";
    t->api_key = "sk-fuzz";
    t->api_version = "";
    t->max_tokens = how & 0x08 ? 777 : 0;
    t->provider = provider;
    t->weight = 1;
}

/* Part two: the pass-through's body against the checked one. */
static void
jr_pipeline(const char *p, size_t n, uint8_t how)
{
    static struct jr_member m[JR_MAX_MEMBERS];
    static const enum prov_op ops[4] = {OP_CHAT, OP_COMPLETIONS, OP_EMBEDDINGS, OP_CHAT};
    enum dialect front = (how & 3) == 3 ? DIALECT_ANTHROPIC : DIALECT_OPENAI;
    enum prov_op op = ops[how & 3];
    int provider = front == DIALECT_ANTHROPIC ? PROVIDER_ANTHROPIC
                   : how & 4                  ? PROVIDER_OPENAI_COMPATIBLE
                                              : PROVIDER_OPENAI;
    const struct provider *prov = provider_get(provider);
    struct target_view t;
    struct prov_call c;
    struct prov_http h;
    char err[256];
    int stream;
    struct json_object *body = reqcheck_body(front, op, p, n, &stream), *out = NULL;
    if (body == NULL)
        return; /* refused: nothing goes upstream */
    jr_target(&t, provider, how);
    memset(&c, 0, sizeof(c));
    memset(&h, 0, sizeof(h));
    c.t = &t;
    c.op = op;
    c.stream = stream;
    c.native = 1;
    c.raw = p;
    c.rawlen = n;
    c.request_id = "req-fuzz";
    /* the build may change body: keep what the check read */
    struct json_object *checked = NULL;
    json_object_deep_copy(body, &checked, NULL);
    if (prov->build(&c, body, &h, err, sizeof(err)) < 0)
        goto done;
    size_t end;
    out = h.len < 0x7fffffff ? jr_value(h.body, 0, h.len, &end) : NULL;
    FUZZ_ASSERT(out != NULL && json_object_is_type(out, json_type_object) &&
                    jr_ws(h.body, end, h.len) == h.len,
                "the body sent is not a JSON object: %.*s", (int)(h.len < 300 ? h.len : 300),
                h.body);
    int k = jr_members(h.body, h.len, m);
    if (k < 0)
        goto done;
    FUZZ_ASSERT(jr_count(m, k, "model") == 1, "%d members named model go upstream: %.*s",
                jr_count(m, k, "model"), (int)(h.len < 300 ? h.len : 300), h.body);
    FUZZ_ASSERT(
        strcmp(json_object_get_string(json_object_object_get(out, "model")), t.upstream_model) == 0,
        "the model sent is not the target's");
    int usage = front == DIALECT_OPENAI && stream && op != OP_EMBEDDINGS;
    if (usage) {
        struct json_object *so = json_object_object_get(out, "stream_options");
        static struct jr_member sm[JR_MAX_MEMBERS];
        FUZZ_ASSERT(jr_count(m, k, "stream_options") == 1, "stream_options not once");
        FUZZ_ASSERT(so != NULL && json_object_is_type(so, json_type_object), "stream_options");
        for (int i = 0; i < k; i++)
            if (strcmp(m[i].name, "stream_options") == 0) {
                int sk = jr_members(h.body + m[i].vb, m[i].ve - m[i].vb, sm);
                FUZZ_ASSERT(sk < 0 || jr_count(sm, sk, "include_usage") == 1,
                            "include_usage not once");
            }
        FUZZ_ASSERT(json_object_get_boolean(json_object_object_get(so, "include_usage")),
                    "include_usage is not true");
    }
    /* every other member as the check read it */
    json_object_object_foreach(checked, key, val)
    {
        if (strcasecmp(key, "model") == 0 || (usage && strcasecmp(key, "stream_options") == 0))
            continue;
        struct json_object *sent;
        FUZZ_ASSERT(json_object_object_get_ex(out, key, &sent), "member %s was lost", key);
        FUZZ_ASSERT(json_object_equal(sent, val), "member %s changed", key);
    }
    json_object_object_foreach(out, okey, oval)
    {
        (void)oval;
        if (strcmp(okey, "model") == 0 || (usage && strcmp(okey, "stream_options") == 0))
            continue;
        if (json_object_object_get_ex(checked, okey, NULL))
            continue;
        /* only the target's max_tokens may be added */
        FUZZ_ASSERT(t.max_tokens > 0 && (strcmp(okey, "max_tokens") == 0 ||
                                         strcmp(okey, "max_completion_tokens") == 0),
                    "member %s was added", okey);
        FUZZ_ASSERT(json_object_get_int(oval) == t.max_tokens, "max_tokens");
    }
done:
    json_object_put(out);
    json_object_put(checked);
    json_object_put(body);
    prov_http_free(&h);
}

/* One input: the first byte picks the route and target, the rest is the body. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    const char *p = (const char *)data + 1;
    jr_members_agree(p, size - 1);
    jr_pipeline(p, size - 1, data[0]);
    return 0;
}
