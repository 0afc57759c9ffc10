/* SPDX-License-Identifier: Apache-2.0 */
/*
 * responses_req.c: a Responses API request to the internal OpenAI chat
 * request, for a target that serves chat only (worker; responses.h).
 *
 * What the request may hold, and what becomes of it:
 *
 * Responses                          chat: our choice
 * ---------------------------------  -----------------------------------------------------------
 * instructions                       a first {role: system} message
 * input: a string                    one user message
 * input: message items (type message content a string, or parts joined: input_text ->
 *   or none; role user, system,      text, input_image -> image_url {url, detail} (an https or
 *   developer, assistant)            data: URL), input_file {file_data, filename} -> file;
 *                                    output_text and refusal (assistant) -> text. System,
 *                                    developer and assistant contents are one string (their
 *                                    texts joined with "\n")
 * function_call items                tool_calls of the assistant message before them (a new one
 *                                    when there is none): {id: call_id, function {name,
 *                                    arguments}}, and extra_content as responses_out.c put it
 *                                    there (Gemini's thought signature)
 * function_call_output items         {role: tool, tool_call_id: call_id, content: output (its
 *                                    input_text parts joined)}
 * reasoning items                    dropped (we never hand out any; another API's are
 *                                    meaningless to the target)
 * input_image file_id, input_file    400: the file lives at OpenAI
 *   file_id or file_url,
 *   item_reference, other item types
 *   (web_search_call, computer_call,
 *   mcp_*, ...)
 * tools: type function (flat)        [{type function, function {name, description,
 *                                    parameters, strict}}]
 * tools: any other type (web_search, 400: built-in tools run at OpenAI
 *   file_search, mcp, ...)
 * tool_choice auto/none/required,    the same; {type function, function {name}}
 *   {type function, name}
 * tool_choice of another type        400
 * parallel_tool_calls, temperature,  the same
 *   top_p, user
 * max_output_tokens                  max_tokens
 * text.format text / json_object /   none / response_format json_object / json_schema {name,
 *   json_schema                      schema, strict, description}
 * text.verbosity                     verbosity (the provider judges it, as for chat)
 * reasoning.effort                   reasoning_effort (the provider judges it, as for chat:
 *                                    anthropic and gemini drop it)
 * reasoning.summary, generate_summary 400: we never produce reasoning items
 * stream                             stream, stream_options {include_usage: true}
 * store: true, previous_response_id, 400 naming the field: nothing is stored at the gateway
 *   conversation, background: true,    (store false or null, and the others null, pass)
 *   prompt (a stored template)
 * include (not empty), top_logprobs, 400: asks for output the translation cannot give
 *   max_tool_calls
 * metadata                           echoed in the response object, not sent
 * truncation, service_tier,          dropped: hints and bookkeeping that leave the answer's
 *   safety_identifier,               meaning alone
 *   prompt_cache_key, stream_options
 * any other member                   400 "Unknown parameter", as OpenAI answers
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "jsonx.h"
#include "responses.h"

/* Are s and t the same string (s may be NULL)? */
static int
streq(const char *s, const char *t)
{
    return s != NULL && strcmp(s, t) == 0;
}

/* A 400 with code, the field's path and a message; NULL (for callers that return it). */
static void *fail(struct rsp_err *e, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void *
fail(struct rsp_err *e, const char *code, const char *param, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    snprintf(e->param, sizeof(e->param), "%s", param);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return NULL;
}

/* The refusal of something a translated target cannot do, naming it. */
#define NOT_HERE                                                                                   \
    "is not supported for models served by a non-OpenAI target (aigw(8), Responses API)"

/* Append s to pb, after "\n" when pb holds something already. */
static void
join(struct printbuf *pb, const char *s, size_t n)
{
    if (pb->bpos > 0)
        printbuf_memappend(pb, "\n", 1);
    printbuf_memappend(pb, s, (int)n);
}

/* A new string of pb's text. */
static struct json_object *
pb_string(struct printbuf *pb)
{
    return json_object_new_string_len(pb->buf, pb->bpos);
}

/* A chat message {role, content}; content's reference is taken. */
static struct json_object *
chat_msg(const char *role, struct json_object *content)
{
    struct json_object *m = json_object_new_object();
    jx_add_str(m, "role", role);
    json_object_object_add(m, "content", content);
    return m;
}

/* A text part {"type": "text", "text": s}. */
static struct json_object *
text_part(const char *s, size_t n)
{
    struct json_object *p = json_object_new_object();
    jx_add_str(p, "type", "text");
    json_object_object_add(p, "text", json_object_new_string_len(s, (int)n));
    return p;
}

/* The text of a part's member k; NULL (and e) when not a string. */
static const char *
part_text(struct json_object *p, const char *k, const char *path, struct rsp_err *e)
{
    const char *s = jx_str(p, k);
    if (s == NULL)
        fail(e, "invalid_type", path, "%s.%s must be a string", path, k);
    return s;
}

/* input_image to an image_url part; NULL (and e) when it names a file. */
static struct json_object *
image_part(struct json_object *p, const char *path, struct rsp_err *e)
{
    const char *url = jx_str(p, "image_url"), *detail = jx_str(p, "detail");
    struct json_object *part, *iu;
    if (url == NULL) {
        if (jx_get(p, "file_id") != NULL)
            return fail(e, "unsupported_parameter", path, "%s: an input_image by file_id " NOT_HERE,
                        path);
        return fail(e, "missing_required_parameter", path, "%s: input_image needs image_url", path);
    }
    part = json_object_new_object();
    iu = json_object_new_object();
    jx_add_str(part, "type", "image_url");
    jx_add_str(iu, "url", url);
    if (detail != NULL && !streq(detail, "auto"))
        jx_add_str(iu, "detail", detail);
    json_object_object_add(part, "image_url", iu);
    return part;
}

/* input_file with its data to a file part; NULL (and e) when it names a file elsewhere. */
static struct json_object *
file_part(struct json_object *p, const char *path, struct rsp_err *e)
{
    const char *data = jx_str(p, "file_data"), *name = jx_str(p, "filename");
    struct json_object *part, *f;
    if (data == NULL)
        return fail(e, "unsupported_parameter", path,
                    "%s: an input_file by file_id or file_url " NOT_HERE, path);
    part = json_object_new_object();
    f = json_object_new_object();
    jx_add_str(part, "type", "file");
    jx_add_str(f, "file_data", data);
    if (name != NULL)
        jx_add_str(f, "filename", name);
    json_object_object_add(part, "file", f);
    return part;
}

/* One content part of a user message to a chat part; NULL (and e) when refused. */
static struct json_object *
user_part(struct json_object *p, const char *path, struct rsp_err *e)
{
    const char *type = jx_str(p, "type"), *s;
    if (streq(type, "input_text") || streq(type, "output_text")) {
        if ((s = part_text(p, "text", path, e)) == NULL)
            return NULL;
        return text_part(s, strlen(s));
    }
    if (streq(type, "input_image"))
        return image_part(p, path, e);
    if (streq(type, "input_file"))
        return file_part(p, path, e);
    return fail(e, "invalid_value", path, "%s: content part type '%s' %s", path,
                type ? type : "(none)", type ? NOT_HERE : "is missing");
}

/*
 * The text of a content that must be text (system, developer, assistant, a
 * function_call_output): a string, or its text parts joined. NULL (and e)
 * for another part.
 */
static struct json_object *
text_content(struct json_object *c, const char *path, struct rsp_err *e)
{
    struct printbuf *pb;
    struct json_object *out = NULL;
    if (c == NULL)
        return json_object_new_string("");
    if (json_object_is_type(c, json_type_string))
        return json_object_get(c);
    if (!json_object_is_type(c, json_type_array))
        return fail(e, "invalid_type", path, "%s must be a string or an array of parts", path);
    if ((pb = printbuf_new()) == NULL)
        return fail(e, "server_error", path, "out of memory");
    for (size_t k = 0; k < jx_len(c); k++) {
        struct json_object *p = jx_idx(c, k);
        const char *type = jx_str(p, "type"), *s;
        char at[160];
        snprintf(at, sizeof(at), "%s[%zu]", path, k);
        if (streq(type, "input_text") || streq(type, "output_text"))
            s = part_text(p, "text", at, e);
        else if (streq(type, "refusal"))
            s = part_text(p, "refusal", at, e);
        else
            s = fail(e, "invalid_value", at, "%s: content part type '%s' %s here", at,
                     type ? type : "(none)", "is not supported");
        if (s == NULL)
            goto done;
        join(pb, s, strlen(s));
    }
    out = pb_string(pb);
done:
    printbuf_free(pb);
    return out;
}

/* A user message's content: a string, or its parts. NULL (and e) when refused. */
static struct json_object *
user_content(struct json_object *c, const char *path, struct rsp_err *e)
{
    struct json_object *parts, *p;
    if (c != NULL && json_object_is_type(c, json_type_string))
        return json_object_get(c);
    if (c == NULL || !json_object_is_type(c, json_type_array))
        return fail(e, "invalid_type", path, "%s must be a string or an array of parts", path);
    parts = json_object_new_array();
    for (size_t k = 0; k < jx_len(c); k++) {
        char at[160];
        snprintf(at, sizeof(at), "%s[%zu]", path, k);
        if ((p = user_part(jx_idx(c, k), at, e)) == NULL) {
            json_object_put(parts);
            return NULL;
        }
        json_object_array_add(parts, p);
    }
    return parts;
}

/* The last chat message when it is the assistant's, to take tool calls; else a new one. */
static struct json_object *
assistant_for_calls(struct json_object *msgs)
{
    size_t n = jx_len(msgs);
    struct json_object *m = n ? jx_idx(msgs, n - 1) : NULL;
    if (m != NULL && streq(jx_str(m, "role"), "assistant"))
        return m;
    m = chat_msg("assistant", NULL);
    json_object_array_add(msgs, m);
    return m;
}

/* A function_call item: a tool call of the assistant message before it. */
static int
function_call(struct json_object *it, const char *path, struct json_object *msgs, struct rsp_err *e)
{
    const char *call_id = jx_str(it, "call_id"), *name = jx_str(it, "name");
    const char *args = jx_str(it, "arguments");
    struct json_object *m, *calls, *tc, *fn;
    if (call_id == NULL || name == NULL || args == NULL) {
        fail(e, "missing_required_parameter", path,
             "%s: a function_call item needs call_id, name and arguments (strings)", path);
        return -1;
    }
    m = assistant_for_calls(msgs);
    if ((calls = jx_get(m, "tool_calls")) == NULL) {
        calls = json_object_new_array();
        json_object_object_add(m, "tool_calls", calls);
    }
    tc = json_object_new_object();
    fn = json_object_new_object();
    jx_add_str(tc, "id", call_id);
    jx_add_str(tc, "type", "function");
    jx_add_str(fn, "name", name);
    jx_add_str(fn, "arguments", args);
    json_object_object_add(tc, "function", fn);
    if (jx_get(it, "extra_content") != NULL) /* Gemini's thought signature, as we handed it out */
        json_object_object_add(tc, "extra_content", json_object_get(jx_get(it, "extra_content")));
    json_object_array_add(calls, tc);
    return 0;
}

/* A function_call_output item: a tool message. */
static int
function_output(struct json_object *it, const char *path, struct json_object *msgs,
                struct rsp_err *e)
{
    const char *call_id = jx_str(it, "call_id");
    struct json_object *m, *c;
    char at[96];
    if (call_id == NULL) {
        fail(e, "missing_required_parameter", path,
             "%s: a function_call_output item needs call_id (a string)", path);
        return -1;
    }
    snprintf(at, sizeof(at), "%s.output", path);
    if ((c = text_content(jx_get(it, "output"), at, e)) == NULL)
        return -1;
    m = chat_msg("tool", c);
    jx_add_str(m, "tool_call_id", call_id);
    json_object_array_add(msgs, m);
    return 0;
}

/* A message item (typed, or the easy form {role, content}). */
static int
message_item(struct json_object *it, const char *path, struct json_object *msgs, struct rsp_err *e)
{
    const char *role = jx_str(it, "role");
    struct json_object *c, *content = jx_get(it, "content");
    char at[96];
    snprintf(at, sizeof(at), "%s.content", path);
    if (streq(role, "user")) {
        c = user_content(content, at, e);
    } else if (streq(role, "system") || streq(role, "developer") || streq(role, "assistant")) {
        c = text_content(content, at, e);
    } else {
        fail(e, "invalid_value", path, "%s.role must be user, assistant, system or developer",
             path);
        return -1;
    }
    if (c == NULL)
        return -1;
    json_object_array_add(msgs, chat_msg(role, c));
    return 0;
}

/* One input item to chat messages. */
static int
input_item(struct json_object *it, size_t i, struct json_object *msgs, struct rsp_err *e)
{
    const char *type = jx_str(it, "type");
    char path[48];
    snprintf(path, sizeof(path), "input[%zu]", i);
    if (it == NULL || !json_object_is_type(it, json_type_object)) {
        fail(e, "invalid_type", path, "%s must be an object", path);
        return -1;
    }
    if (type == NULL ? jx_get(it, "role") != NULL : streq(type, "message"))
        return message_item(it, path, msgs, e);
    if (streq(type, "function_call"))
        return function_call(it, path, msgs, e);
    if (streq(type, "function_call_output"))
        return function_output(it, path, msgs, e);
    if (streq(type, "reasoning"))
        return 0;
    if (streq(type, "item_reference")) {
        fail(e, "unsupported_parameter", path,
             "%s: item_reference needs items stored at the gateway, which " NOT_HERE, path);
        return -1;
    }
    fail(e, "unsupported_parameter", path, "%s: input item type '%s' %s", path,
         type ? type : "(none)", type ? NOT_HERE : "is missing");
    return -1;
}

/* instructions and input to chat messages; NULL (and e) when refused. */
static struct json_object *
messages(struct json_object *req, struct rsp_err *e)
{
    struct json_object *msgs = json_object_new_array(), *in = jx_get(req, "input");
    struct json_object *ins = jx_get(req, "instructions");
    if (ins != NULL) {
        if (!json_object_is_type(ins, json_type_string))
            goto type;
        json_object_array_add(msgs, chat_msg("system", json_object_get(ins)));
    }
    if (in != NULL && json_object_is_type(in, json_type_string)) {
        json_object_array_add(msgs, chat_msg("user", json_object_get(in)));
    } else if (in != NULL && json_object_is_type(in, json_type_array)) {
        for (size_t i = 0; i < jx_len(in); i++)
            if (input_item(jx_idx(in, i), i, msgs, e) < 0)
                goto bad;
    } else {
        fail(e, "missing_required_parameter", "input",
             "input must be a string or an array of input items");
        goto bad;
    }
    return msgs;
type:
    fail(e, "invalid_type", "instructions", "instructions must be a string");
bad:
    json_object_put(msgs);
    return NULL;
}

/* tools (flat function tools) to chat tools. */
static int
tools(struct json_object *req, struct json_object *out, struct rsp_err *e)
{
    struct json_object *ts = jx_get(req, "tools"), *list;
    if (ts == NULL)
        return 0;
    if (!json_object_is_type(ts, json_type_array)) {
        fail(e, "invalid_type", "tools", "tools must be an array");
        return -1;
    }
    if (jx_len(ts) == 0)
        return 0;
    list = json_object_new_array();
    json_object_object_add(out, "tools", list);
    for (size_t i = 0; i < jx_len(ts); i++) {
        struct json_object *t = jx_idx(ts, i), *ct, *fn;
        const char *type = jx_str(t, "type"), *k[] = {"description", "parameters", "strict"};
        char path[48];
        snprintf(path, sizeof(path), "tools[%zu]", i);
        if (!streq(type, "function")) {
            fail(e, "unsupported_parameter", path, "%s: tool type '%s' (a built-in tool) " NOT_HERE,
                 path, type ? type : "(none)");
            return -1;
        }
        if (jx_str(t, "name") == NULL) {
            fail(e, "missing_required_parameter", path, "%s.name must be a string", path);
            return -1;
        }
        ct = json_object_new_object();
        fn = json_object_new_object();
        jx_add_str(ct, "type", "function");
        jx_add_str(fn, "name", jx_str(t, "name"));
        for (size_t j = 0; j < sizeof(k) / sizeof(k[0]); j++)
            if (jx_get(t, k[j]) != NULL)
                json_object_object_add(fn, k[j], json_object_get(jx_get(t, k[j])));
        json_object_object_add(ct, "function", fn);
        json_object_array_add(list, ct);
    }
    return 0;
}

/* tool_choice to chat's. */
static int
tool_choice(struct json_object *req, struct json_object *out, struct rsp_err *e)
{
    struct json_object *tc = jx_get(req, "tool_choice"), *c, *fn;
    if (tc == NULL)
        return 0;
    if (json_object_is_type(tc, json_type_string)) {
        const char *s = json_object_get_string(tc);
        if (!streq(s, "auto") && !streq(s, "none") && !streq(s, "required")) {
            fail(e, "invalid_value", "tool_choice", "tool_choice must be auto, none or required");
            return -1;
        }
        json_object_object_add(out, "tool_choice", json_object_get(tc));
        return 0;
    }
    if (!streq(jx_str(tc, "type"), "function") || jx_str(tc, "name") == NULL) {
        fail(e, "unsupported_parameter", "tool_choice",
             "tool_choice of type '%s' " NOT_HERE " (auto, none, required and {type: function, "
             "name} are)",
             jx_str(tc, "type") ? jx_str(tc, "type") : "(none)");
        return -1;
    }
    c = json_object_new_object();
    fn = json_object_new_object();
    jx_add_str(c, "type", "function");
    jx_add_str(fn, "name", jx_str(tc, "name"));
    json_object_object_add(c, "function", fn);
    json_object_object_add(out, "tool_choice", c);
    return 0;
}

/* text.format to response_format, text.verbosity to verbosity. */
static int
text_format(struct json_object *req, struct json_object *out, struct rsp_err *e)
{
    struct json_object *text = jx_get(req, "text"), *f = jx_get(text, "format"), *rf, *js;
    const char *type = jx_str(f, "type"), *k[] = {"name", "schema", "strict", "description"};
    if (jx_get(text, "verbosity") != NULL)
        json_object_object_add(out, "verbosity", json_object_get(jx_get(text, "verbosity")));
    if (f == NULL || streq(type, "text"))
        return 0;
    rf = json_object_new_object();
    if (streq(type, "json_object")) {
        jx_add_str(rf, "type", "json_object");
    } else if (streq(type, "json_schema")) {
        js = json_object_new_object();
        jx_add_str(rf, "type", "json_schema");
        for (size_t j = 0; j < sizeof(k) / sizeof(k[0]); j++)
            if (jx_get(f, k[j]) != NULL)
                json_object_object_add(js, k[j], json_object_get(jx_get(f, k[j])));
        json_object_object_add(rf, "json_schema", js);
    } else {
        json_object_put(rf);
        fail(e, "invalid_value", "text.format.type",
             "text.format.type '%s' is not supported here (text, json_object and json_schema are)",
             type ? type : "(none)");
        return -1;
    }
    json_object_object_add(out, "response_format", rf);
    return 0;
}

/* reasoning: effort to reasoning_effort; a summary we cannot give is refused. */
static int
reasoning(struct json_object *req, struct json_object *out, struct rsp_err *e)
{
    struct json_object *r = jx_get(req, "reasoning");
    if (r == NULL)
        return 0;
    if (jx_get(r, "summary") != NULL || jx_get(r, "generate_summary") != NULL) {
        fail(e, "unsupported_parameter", "reasoning.summary",
             "reasoning.summary (reasoning items in the output) " NOT_HERE);
        return -1;
    }
    if (jx_get(r, "effort") != NULL)
        json_object_object_add(out, "reasoning_effort", json_object_get(jx_get(r, "effort")));
    return 0;
}

/* How each top-level member is taken. */
enum how { COPY, MAX_TOKENS, IGNORE, STATEFUL, REFUSE, DONE };

static const struct member {
    const char *name;
    enum how how;
} members[] = {
    {"model", COPY},
    {"temperature", COPY},
    {"top_p", COPY},
    {"parallel_tool_calls", COPY},
    {"user", COPY},
    {"max_output_tokens", MAX_TOKENS},
    {"input", DONE},
    {"instructions", DONE},
    {"tools", DONE},
    {"tool_choice", DONE},
    {"text", DONE},
    {"reasoning", DONE},
    {"stream", DONE},
    {"metadata", IGNORE},
    {"truncation", IGNORE},
    {"service_tier", IGNORE},
    {"safety_identifier", IGNORE},
    {"prompt_cache_key", IGNORE},
    {"prompt_cache_retention", IGNORE},
    {"stream_options", IGNORE},
    {"store", STATEFUL},
    {"previous_response_id", STATEFUL},
    {"conversation", STATEFUL},
    {"background", STATEFUL},
    {"prompt", STATEFUL},
    {"include", REFUSE},
    {"top_logprobs", REFUSE},
    {"max_tool_calls", REFUSE},
};

/* Is v a value that asks for nothing (null, false, 0, [])? */
static int
is_off(struct json_object *v)
{
    if (v == NULL)
        return 1;
    switch (json_object_get_type(v)) {
    case json_type_boolean:
        return !json_object_get_boolean(v);
    case json_type_int:
        return json_object_get_int64(v) == 0;
    case json_type_array:
        return json_object_array_length(v) == 0;
    default:
        return 0;
    }
}

/* The top-level members: copied, mapped, ignored or refused. */
static int
top_members(struct json_object *req, struct json_object *out, struct rsp_err *e)
{
    json_object_object_foreach(req, key, val)
    {
        size_t i;
        for (i = 0; i < sizeof(members) / sizeof(members[0]); i++)
            if (strcmp(members[i].name, key) == 0)
                break;
        if (i == sizeof(members) / sizeof(members[0])) {
            fail(e, "unknown_parameter", key, "Unknown parameter: '%s'.", key);
            return -1;
        }
        switch (members[i].how) {
        case COPY:
            if (val != NULL)
                json_object_object_add(out, key, json_object_get(val));
            break;
        case MAX_TOKENS:
            if (val != NULL)
                json_object_object_add(out, "max_tokens", json_object_get(val));
            break;
        case STATEFUL:
            if (!is_off(val)) {
                fail(e, "unsupported_parameter", key,
                     "%s needs responses stored at the gateway, which " NOT_HERE
                     "; send the whole conversation as input instead",
                     key);
                return -1;
            }
            break;
        case REFUSE:
            if (!is_off(val)) {
                fail(e, "unsupported_parameter", key, "%s " NOT_HERE, key);
                return -1;
            }
            break;
        case IGNORE:
        case DONE:
            break;
        }
    }
    return 0;
}

struct json_object *
rsp_to_chat(struct json_object *req, struct rsp_err *e)
{
    struct json_object *out = json_object_new_object(), *msgs, *so;
    e->code = "invalid_request";
    e->param[0] = e->msg[0] = '\0';
    if (top_members(req, out, e) < 0 || (msgs = messages(req, e)) == NULL)
        goto bad;
    json_object_object_add(out, "messages", msgs);
    if (tools(req, out, e) < 0 || tool_choice(req, out, e) < 0 || text_format(req, out, e) < 0 ||
        reasoning(req, out, e) < 0)
        goto bad;
    if (jx_get(req, "stream") != NULL && json_object_get_boolean(jx_get(req, "stream"))) {
        json_object_object_add(out, "stream", json_object_new_boolean(1));
        so = json_object_new_object();
        json_object_object_add(so, "include_usage", json_object_new_boolean(1));
        json_object_object_add(out, "stream_options", so);
    }
    return out;
bad:
    json_object_put(out);
    return NULL;
}
