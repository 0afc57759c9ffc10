/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_responses.c: OpenAI's Responses API to a chat-only target
 * (responses_req.c, responses_out.c): a Responses request to the internal
 * chat request, and the answers of real providers, once their own
 * translation made chat of them, to a Response object and the typed stream
 * events. Fixtures are shaped as the APIs send them: a Responses request as
 * the API reference writes one, Anthropic's message and Gemini's
 * streamGenerateContent events as in check_prov_anthropic.c and
 * check_prov_gemini.c; the expected events as OpenAI sends them (openai-node's
 * ResponseStream fixtures: type, sequence_number, item_id, output_index,
 * content_index).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aigw/resource.h"
#include "provider.h"
#include "responses.h"
#include "tap.h"

#define FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static const struct target_view GEM = {
    .name = "gem",
    .upstream_model = "gemini-2.5-flash",
    .api_base = "https://generativelanguage.googleapis.com/v1beta",
    .api_key = "AIzaSyTESTKEY",
    .api_version = "",
    .provider = PROVIDER_GEMINI,
};

static const struct target_view ANT = {
    .name = "claude",
    .upstream_model = "claude-sonnet-4-5",
    .api_base = "https://api.anthropic.com/v1",
    .api_key = "sk-ant-test",
    .api_version = "2023-06-01",
    .max_tokens = 4096,
    .provider = PROVIDER_ANTHROPIC,
};

/* s with every ` turned into " (a new JSON object). */
static struct json_object *
J(const char *bt)
{
    char *d = strdup(bt);
    ck_assert_ptr_nonnull(d);
    for (char *p = d; *p; p++)
        if (*p == '`')
            *p = '"';
    struct json_object *o = json_tokener_parse(d);
    ck_assert_msg(o != NULL, "bad fixture: %s", d);
    free(d);
    return o;
}

/* o equals the backticked JSON want (compared as serialized). */
static void
assert_json(struct json_object *o, const char *want)
{
    struct json_object *w = J(want);
    ck_assert_str_eq(json_object_to_json_string_ext(o, FLAGS),
                     json_object_to_json_string_ext(w, FLAGS));
    json_object_put(w);
}

/* The value at a dotted path ("output.0.content"); NULL when absent. */
static struct json_object *
at(struct json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &o))
            return NULL;
    }
    return o;
}

static const char *
str_at(struct json_object *o, const char *path)
{
    struct json_object *v = at(o, path);
    ck_assert_msg(v != NULL, "no %s in %s", path, json_object_to_json_string(o));
    return json_object_get_string(v);
}

/* ---- the request ---- */

/* Every item type and mapped field, as the API reference writes them. */
START_TEST(to_chat_full)
{
    struct rsp_err e;
    struct json_object *req =
        J("{`model`:`m`,`instructions`:`Be brief.`,`input`:["
          "{`role`:`user`,`content`:[{`type`:`input_text`,`text`:`What is this?`},"
          "{`type`:`input_image`,`image_url`:`data:image/png;base64,iVBORw0K`,`detail`:`high`}]},"
          "{`type`:`message`,`role`:`assistant`,`id`:`msg_1`,`status`:`completed`,"
          "`content`:[{`type`:`output_text`,`text`:`A cat.`,`annotations`:[]}]},"
          "{`type`:`function_call`,`id`:`fc_1`,`call_id`:`call_9`,`name`:`get_weather`,"
          "`arguments`:`{\\`city\\`:\\`Paris\\`}`,`status`:`completed`,"
          "`extra_content`:{`google`:{`thought_signature`:`CiQB`}}},"
          "{`type`:`function_call_output`,`call_id`:`call_9`,`output`:`sunny`},"
          "{`type`:`reasoning`,`id`:`rs_1`,`summary`:[]},"
          "{`role`:`developer`,`content`:`Answer in French.`}],"
          "`tools`:[{`type`:`function`,`name`:`get_weather`,`description`:`Weather`,"
          "`parameters`:{`type`:`object`},`strict`:true}],"
          "`tool_choice`:{`type`:`function`,`name`:`get_weather`},`parallel_tool_calls`:false,"
          "`max_output_tokens`:300,`temperature`:0.2,`top_p`:0.9,`user`:`u-1`,"
          "`metadata`:{`a`:`b`},`store`:false,`truncation`:`auto`,`stream`:true,"
          "`text`:{`format`:{`type`:`json_schema`,`name`:`w`,`schema`:{`type`:`object`},"
          "`strict`:true}},`reasoning`:{`effort`:`low`}}");
    struct json_object *out = rsp_to_chat(req, &e);
    ck_assert_msg(out != NULL, "%s", e.msg);
    assert_json(
        out,
        "{`model`:`m`,`parallel_tool_calls`:false,`max_tokens`:300,`temperature`:0.2,"
        "`top_p`:0.9,`user`:`u-1`,`messages`:["
        "{`role`:`system`,`content`:`Be brief.`},"
        "{`role`:`user`,`content`:[{`type`:`text`,`text`:`What is this?`},"
        "{`type`:`image_url`,`image_url`:{`url`:`data:image/png;base64,iVBORw0K`,"
        "`detail`:`high`}}]},"
        "{`role`:`assistant`,`content`:`A cat.`,`tool_calls`:[{`id`:`call_9`,`type`:`function`,"
        "`function`:{`name`:`get_weather`,`arguments`:`{\\`city\\`:\\`Paris\\`}`},"
        "`extra_content`:{`google`:{`thought_signature`:`CiQB`}}}]},"
        "{`role`:`tool`,`content`:`sunny`,`tool_call_id`:`call_9`},"
        "{`role`:`developer`,`content`:`Answer in French.`}],"
        "`tools`:[{`type`:`function`,`function`:{`name`:`get_weather`,`description`:`Weather`,"
        "`parameters`:{`type`:`object`},`strict`:true}}],"
        "`tool_choice`:{`type`:`function`,`function`:{`name`:`get_weather`}},"
        "`response_format`:{`type`:`json_schema`,`json_schema`:{`name`:`w`,"
        "`schema`:{`type`:`object`},`strict`:true}},`reasoning_effort`:`low`,"
        "`stream`:true,`stream_options`:{`include_usage`:true}}");
    json_object_put(out);
    json_object_put(req);
    /* a string input is one user message; a call with no message before it opens one */
    req = J("{`model`:`m`,`input`:[{`type`:`function_call`,`call_id`:`c1`,`name`:`f`,"
            "`arguments`:`{}`},{`type`:`function_call_output`,`call_id`:`c1`,"
            "`output`:[{`type`:`input_text`,`text`:`a`},{`type`:`input_text`,`text`:`b`}]}]}");
    out = rsp_to_chat(req, &e);
    ck_assert_msg(out != NULL, "%s", e.msg);
    assert_json(out, "{`model`:`m`,`messages`:[{`role`:`assistant`,`content`:null,`tool_calls`:"
                     "[{`id`:`c1`,`type`:`function`,`function`:{`name`:`f`,`arguments`:`{}`}}]},"
                     "{`role`:`tool`,`content`:`a\\nb`,`tool_call_id`:`c1`}]}");
    json_object_put(out);
    json_object_put(req);
    req = J("{`model`:`m`,`input`:`hi`,`text`:{`format`:{`type`:`text`}}}");
    out = rsp_to_chat(req, &e);
    assert_json(out, "{`model`:`m`,`messages`:[{`role`:`user`,`content`:`hi`}]}");
    json_object_put(out);
    json_object_put(req);
}
END_TEST

/* What cannot be translated: a 400 with its code and the field's path. */
START_TEST(to_chat_refused)
{
    static const struct {
        const char *body, *code, *param, *says;
    } cases[] = {
        {"`previous_response_id`:`resp_1`", "unsupported_parameter", "previous_response_id",
         "stored at the gateway"},
        {"`store`:true", "unsupported_parameter", "store", "stored"},
        {"`conversation`:{`id`:`conv_1`}", "unsupported_parameter", "conversation", "stored"},
        {"`background`:true", "unsupported_parameter", "background", "stored"},
        {"`prompt`:{`id`:`pmpt_1`}", "unsupported_parameter", "prompt", "stored"},
        {"`include`:[`reasoning.encrypted_content`]", "unsupported_parameter", "include",
         "non-OpenAI"},
        {"`tools`:[{`type`:`function`,`name`:`f`},{`type`:`web_search_preview`}]",
         "unsupported_parameter", "tools[1]", "web_search_preview"},
        {"`tool_choice`:{`type`:`file_search`}", "unsupported_parameter", "tool_choice",
         "file_search"},
        {"`reasoning`:{`summary`:`auto`}", "unsupported_parameter", "reasoning.summary", "summary"},
        {"`frequency_penalty`:1", "unknown_parameter", "frequency_penalty",
         "Unknown parameter: 'frequency_penalty'."},
        {"`text`:{`format`:{`type`:`grammar`}}", "invalid_value", "text.format.type", "grammar"},
    };
    static const struct {
        const char *input, *code, *param, *says;
    } inputs[] = {
        {"[{`type`:`item_reference`,`id`:`msg_1`}]", "unsupported_parameter", "input[0]",
         "item_reference"},
        {"[{`type`:`web_search_call`,`id`:`ws_1`}]", "unsupported_parameter", "input[0]",
         "web_search_call"},
        {"[{`role`:`user`,`content`:`a`},{`role`:`user`,`content`:[{`type`:`input_image`,"
         "`file_id`:`file-1`}]}]",
         "unsupported_parameter", "input[1].content[0]", "file_id"},
        {"[{`role`:`tool`,`content`:`a`}]", "invalid_value", "input[0]", "role"},
        {"[{`type`:`function_call_output`,`output`:`x`}]", "missing_required_parameter", "input[0]",
         "call_id"},
        {"[{`role`:`system`,`content`:[{`type`:`input_image`,`image_url`:`https://x/y.png`}]}]",
         "invalid_value", "input[0].content[0]", "input_image"},
        {"42", "missing_required_parameter", "input", "string or an array"},
    };
    char buf[512];
    struct rsp_err e;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "{`model`:`m`,`input`:`hi`,%s}", cases[i].body);
        struct json_object *req = J(buf);
        ck_assert_ptr_null(rsp_to_chat(req, &e));
        ck_assert_str_eq(e.code, cases[i].code);
        ck_assert_str_eq(e.param, cases[i].param);
        ck_assert_msg(strstr(e.msg, cases[i].says) != NULL, "%s: %s", cases[i].body, e.msg);
        json_object_put(req);
    }
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        snprintf(buf, sizeof(buf), "{`model`:`m`,`input`:%s}", inputs[i].input);
        struct json_object *req = J(buf);
        ck_assert_ptr_null(rsp_to_chat(req, &e));
        ck_assert_str_eq(e.code, inputs[i].code);
        ck_assert_str_eq(e.param, inputs[i].param);
        ck_assert_msg(strstr(e.msg, inputs[i].says) != NULL, "%s: %s", inputs[i].input, e.msg);
        json_object_put(req);
    }
}
END_TEST

/* ---- the answer ---- */

/* Anthropic's answer (text and a tool_use), through its chat translation, to a Response. */
START_TEST(from_chat_anthropic)
{
    struct prov_call c = {.t = &ANT, .op = OP_CHAT};
    struct prov_usage u = {0};
    struct json_object *chat = NULL, *req = J("{`model`:`claude`,`input`:`hi`,`tools`:[]}");
    struct json_object *in =
        J("{`id`:`msg_01Aq9w938a90dw8q`,`type`:`message`,`role`:`assistant`,"
          "`model`:`claude-sonnet-4-5-20250929`,`content`:[{`type`:`text`,`text`:`I'll check.`},"
          "{`type`:`tool_use`,`id`:`toolu_01A09q90qw90lq917835lq9`,`name`:`get_weather`,"
          "`input`:{`location`:`San Francisco, CA`}}],`stop_reason`:`tool_use`,"
          "`stop_sequence`:null,`usage`:{`input_tokens`:2095,`cache_read_input_tokens`:100,"
          "`cache_creation_input_tokens`:0,`output_tokens`:503}}");
    struct json_object *base = rsp_base(req), *r;
    ck_assert_int_eq(prov_anthropic.response(&c, in, &chat, &u), 0);
    ck_assert_ptr_nonnull(chat);
    r = rsp_from_chat(chat, base, &u);
    ck_assert_ptr_nonnull(r);
    ck_assert(strncmp(str_at(r, "id"), "resp_", 5) == 0);
    ck_assert_str_eq(str_at(r, "id"), str_at(base, "id"));
    ck_assert_str_eq(str_at(r, "object"), "response");
    ck_assert_str_eq(str_at(r, "status"), "completed");
    ck_assert_str_eq(str_at(r, "model"), "claude-sonnet-4-5-20250929");
    ck_assert_ptr_null(at(r, "incomplete_details"));
    ck_assert(strncmp(str_at(r, "output.0.id"), "msg_", 4) == 0);
    ck_assert(strncmp(str_at(r, "output.1.id"), "fc_", 3) == 0);
    json_object_object_del(json_object_array_get_idx(at(r, "output"), 0), "id");
    json_object_object_del(json_object_array_get_idx(at(r, "output"), 1), "id");
    assert_json(at(r, "output"),
                "[{`type`:`message`,`status`:`completed`,`content`:[{`type`:`output_text`,"
                "`annotations`:[],`logprobs`:[],`text`:`I'll check.`}],`role`:`assistant`},"
                "{`type`:`function_call`,`status`:`completed`,"
                "`arguments`:`{\\`location\\`:\\`San Francisco, CA\\`}`,"
                "`call_id`:`toolu_01A09q90qw90lq917835lq9`,`name`:`get_weather`}]");
    assert_json(at(r, "usage"), "{`input_tokens`:2195,`input_tokens_details`:{`cached_tokens`:"
                                "100},`output_tokens`:503,`output_tokens_details`:{"
                                "`reasoning_tokens`:0},`total_tokens`:2698}");
    ck_assert_str_eq(str_at(r, "tool_choice"), "auto");
    ck_assert_int_eq(json_object_get_boolean(at(r, "store")), 0);
    json_object_put(r);
    /* max_tokens: incomplete, and so is the message */
    json_object_put(chat);
    json_object_put(in);
    in = J("{`id`:`msg_2`,`type`:`message`,`role`:`assistant`,`model`:`claude-sonnet-4-5`,"
           "`content`:[{`type`:`text`,`text`:`Once upon`}],`stop_reason`:`max_tokens`,"
           "`usage`:{`input_tokens`:5,`output_tokens`:2}}");
    ck_assert_int_eq(prov_anthropic.response(&c, in, &chat, &u), 0);
    r = rsp_from_chat(chat, base, &u);
    ck_assert_str_eq(str_at(r, "status"), "incomplete");
    ck_assert_str_eq(str_at(r, "incomplete_details.reason"), "max_output_tokens");
    ck_assert_str_eq(str_at(r, "output.0.status"), "incomplete");
    json_object_put(r);
    ck_assert_ptr_null(rsp_from_chat(in, base, &u)); /* not a chat.completion */
    json_object_put(chat);
    json_object_put(in);
    json_object_put(base);
    json_object_put(req);
}
END_TEST

/* ---- the stream: Gemini's events, its chat chunks, our typed events ---- */

struct rec {
    struct prov_call call;
    struct prov_stream ps;
    struct rsp_stream rs;
    struct json_object *events; /* [{event, data}] */
};

/* rsp_stream's emit: keep the event; its name must be its type. */
static void
rec_event(void *arg, const char *event, const char *data, size_t len)
{
    struct rec *r = arg;
    struct json_object *o = json_tokener_parse(data);
    ck_assert_msg(o != NULL && strlen(data) == len, "not JSON: %s", data);
    ck_assert_str_eq(str_at(o, "type"), event);
    json_object_array_add(r->events, o);
}

/* The provider's emit: a chat chunk into the translation. */
static void
rec_chunk(void *arg, const char *data, size_t len)
{
    struct rec *r = arg;
    ck_assert_int_eq(rsp_stream_chunk(&r->rs, data, len), 0);
}

/* The provider's emit_obj: the chunk object into the translation, unparsed. */
static void
rec_obj(void *arg, struct json_object *chunk)
{
    struct rec *r = arg;
    ck_assert_int_eq(rsp_stream_obj(&r->rs, chunk), 0);
}

static void
rec_start(struct rec *r, const char *req)
{
    struct json_object *q = J(req), *base = rsp_base(q);
    memset(r, 0, sizeof(*r));
    r->events = json_object_new_array();
    r->call = (struct prov_call){.t = &GEM, .op = OP_CHAT, .stream = 1, .request_id = "r"};
    r->ps.call = &r->call;
    r->ps.emit = rec_chunk;
    r->ps.arg = r;
    ck_assert_int_eq(prov_gemini.stream_begin(&r->ps), 0);
    rsp_stream_init(&r->rs, base, &r->ps.usage, rec_event, r);
    json_object_put(base);
    json_object_put(q);
}

static void
rec_feed(struct rec *r, const char *bt)
{
    struct json_object *o = J(bt);
    const char *s = json_object_to_json_string_ext(o, FLAGS);
    ck_assert_int_eq(prov_gemini.stream_event(&r->ps, NULL, 0, s, strlen(s)), 0);
    json_object_put(o);
}

static void
rec_free(struct rec *r)
{
    prov_stream_free(&r->ps);
    rsp_stream_free(&r->rs);
    json_object_put(r->events);
}

/* The events' types, joined with " ". */
static const char *
types(struct rec *r)
{
    static char buf[4096];
    buf[0] = '\0';
    for (size_t i = 0; i < json_object_array_length(r->events); i++) {
        struct json_object *e = json_object_array_get_idx(r->events, i);
        ck_assert_int_eq(json_object_get_int64(at(e, "sequence_number")), (int64_t)i);
        if (i)
            strcat(buf, " ");
        strcat(buf, str_at(e, "type"));
    }
    return buf;
}

static struct json_object *
ev(struct rec *r, size_t i)
{
    return json_object_array_get_idx(r->events, i);
}

#define GEV(parts, finish, usage)                                                                  \
    "{`candidates`:[{`content`:{`parts`:" parts ",`role`:`model`}" finish ",`index`:0}],"          \
    "`usageMetadata`:" usage ",`modelVersion`:`gemini-2.5-flash`,`responseId`:`mAitaJ7jB4`}"
#define GU0 "{`promptTokenCount`:10,`totalTokenCount`:10}"
#define GU1                                                                                        \
    "{`promptTokenCount`:10,`candidatesTokenCount`:6,`totalTokenCount`:45,"                        \
    "`cachedContentTokenCount`:4,`thoughtsTokenCount`:29}"

/* Text, then a call: every event in OpenAI's order, and the final response. */
START_TEST(stream_gemini_text_then_call)
{
    struct rec r;
    rec_start(&r, "{`model`:`gem`,`input`:`hi`,`stream`:true,`instructions`:`x`}");
    rec_feed(&r, GEV("[{`text`:`The`}]", "", GU0));
    rec_feed(&r, GEV("[{`text`:`**plan**`,`thought`:true}]", "", GU0));
    rec_feed(&r, GEV("[{`text`:` fox.`}]", "", GU0));
    rec_feed(&r, GEV("[{`functionCall`:{`name`:`get_weather`,`args`:{`city`:`Paris`}},"
                     "`thoughtSignature`:`CiQB`}]",
                     ",`finishReason`:`STOP`", GU1));
    prov_gemini.stream_close(&r.ps);
    ck_assert_str_eq(types(&r), "response.created response.in_progress "
                                "response.output_item.added response.content_part.added "
                                "response.output_text.delta response.output_text.delta "
                                "response.output_text.done response.content_part.done "
                                "response.output_item.done response.output_item.added "
                                "response.function_call_arguments.delta "
                                "response.function_call_arguments.done "
                                "response.output_item.done response.completed");
    /* created: in progress, nothing yet; the echo of the request */
    ck_assert_str_eq(str_at(ev(&r, 0), "response.status"), "in_progress");
    ck_assert_int_eq(json_object_array_length(at(ev(&r, 0), "response.output")), 0);
    ck_assert_ptr_null(at(ev(&r, 0), "response.usage"));
    ck_assert_str_eq(str_at(ev(&r, 0), "response.instructions"), "x");
    ck_assert_str_eq(str_at(ev(&r, 0), "response.model"), "gemini-2.5-flash");
    /* the message item: added empty, its part, the deltas at output 0, content 0 */
    const char *mid = str_at(ev(&r, 2), "item.id");
    ck_assert(strncmp(mid, "msg_", 4) == 0);
    assert_json(at(ev(&r, 2), "item.content"), "[]");
    ck_assert_str_eq(str_at(ev(&r, 2), "item.status"), "in_progress");
    ck_assert_int_eq(json_object_get_int(at(ev(&r, 2), "output_index")), 0);
    assert_json(at(ev(&r, 3), "part"),
                "{`type`:`output_text`,`annotations`:[],`logprobs`:[],`text`:``}");
    ck_assert_str_eq(str_at(ev(&r, 3), "item_id"), mid);
    ck_assert_str_eq(str_at(ev(&r, 4), "delta"), "The");
    ck_assert_str_eq(str_at(ev(&r, 5), "delta"), " fox.");
    ck_assert_int_eq(json_object_get_int(at(ev(&r, 5), "content_index")), 0);
    ck_assert_str_eq(str_at(ev(&r, 6), "text"), "The fox.");
    ck_assert_str_eq(str_at(ev(&r, 7), "part.text"), "The fox.");
    ck_assert_str_eq(str_at(ev(&r, 8), "item.status"), "completed");
    ck_assert_str_eq(str_at(ev(&r, 8), "item.content.0.text"), "The fox.");
    /* the call: output 1, no content_index */
    ck_assert_int_eq(json_object_get_int(at(ev(&r, 9), "output_index")), 1);
    ck_assert_str_eq(str_at(ev(&r, 9), "item.type"), "function_call");
    ck_assert_str_eq(str_at(ev(&r, 9), "item.name"), "get_weather");
    ck_assert_str_eq(str_at(ev(&r, 9), "item.arguments"), "");
    ck_assert_str_eq(str_at(ev(&r, 9), "item.call_id"), "call_0");
    /* Gemini's thought signature rides on the item, to be given back with it */
    ck_assert_str_eq(str_at(ev(&r, 9), "item.extra_content.google.thought_signature"), "CiQB");
    ck_assert_ptr_null(at(ev(&r, 10), "content_index"));
    ck_assert_str_eq(str_at(ev(&r, 10), "delta"), "{\"city\":\"Paris\"}");
    ck_assert_str_eq(str_at(ev(&r, 11), "arguments"), "{\"city\":\"Paris\"}");
    ck_assert_str_eq(str_at(ev(&r, 11), "name"), "get_weather");
    ck_assert_str_eq(str_at(ev(&r, 12), "item.status"), "completed");
    /* completed: the whole response, usage as Gemini counted it (thoughts are reasoning) */
    struct json_object *done = at(ev(&r, 13), "response");
    ck_assert_str_eq(str_at(done, "status"), "completed");
    ck_assert_str_eq(str_at(done, "id"), str_at(ev(&r, 0), "response.id"));
    ck_assert_int_eq(json_object_array_length(at(done, "output")), 2);
    ck_assert_str_eq(str_at(done, "output.0.content.0.text"), "The fox.");
    ck_assert_str_eq(str_at(done, "output.1.arguments"), "{\"city\":\"Paris\"}");
    ck_assert_str_eq(str_at(done, "output.1.extra_content.google.thought_signature"), "CiQB");
    assert_json(at(done, "usage"), "{`input_tokens`:10,`input_tokens_details`:{`cached_tokens`:4},"
                                   "`output_tokens`:35,`output_tokens_details`:{"
                                   "`reasoning_tokens`:29},`total_tokens`:45}");
    /* nothing after the end */
    size_t n = json_object_array_length(r.events);
    ck_assert_int_eq(rsp_stream_chunk(&r.rs, "[DONE]", 6), 0);
    rsp_stream_fail(&r.rs, "x", "y");
    ck_assert_int_eq(json_object_array_length(r.events), n);
    rec_free(&r);
}
END_TEST

/* MAX_TOKENS: response.incomplete, the message incomplete (chunks handed over as objects). */
START_TEST(stream_gemini_max_tokens)
{
    struct rec r;
    rec_start(&r, "{`model`:`gem`,`input`:`hi`,`stream`:true,`max_output_tokens`:6}");
    r.ps.emit_obj = rec_obj; /* as answer.c wires it: the chunks as objects */
    rec_feed(&r, GEV("[{`text`:`Once`}]", ",`finishReason`:`MAX_TOKENS`", GU1));
    prov_gemini.stream_close(&r.ps);
    size_t n = json_object_array_length(r.events);
    struct json_object *last = ev(&r, n - 1);
    ck_assert_str_eq(str_at(last, "type"), "response.incomplete");
    ck_assert_str_eq(str_at(last, "response.status"), "incomplete");
    ck_assert_str_eq(str_at(last, "response.incomplete_details.reason"), "max_output_tokens");
    ck_assert_str_eq(str_at(last, "response.output.0.status"), "incomplete");
    ck_assert_int_eq(json_object_get_int(at(last, "response.max_output_tokens")), 6);
    rec_free(&r);
}
END_TEST

/* Failed mid-way: response.failed with what came, the error, the next sequence number. */
START_TEST(stream_failed)
{
    struct rec r;
    rec_start(&r, "{`model`:`gem`,`input`:`hi`,`stream`:true}");
    rec_feed(&r, GEV("[{`text`:`Par`}]", "", GU0));
    rsp_stream_fail(&r.rs, "upstream_stream_error", "overloaded");
    ck_assert_str_eq(types(&r), "response.created response.in_progress "
                                "response.output_item.added response.content_part.added "
                                "response.output_text.delta response.failed");
    struct json_object *f = at(ev(&r, 5), "response");
    ck_assert_str_eq(str_at(f, "status"), "failed");
    assert_json(at(f, "error"), "{`code`:`upstream_stream_error`,`message`:`overloaded`}");
    ck_assert_str_eq(str_at(f, "output.0.status"), "incomplete");
    ck_assert_str_eq(str_at(f, "output.0.content.0.text"), "Par");
    ck_assert_int_eq(rsp_stream_chunk(&r.rs, "[DONE]", 6), 0); /* ended */
    ck_assert_int_eq(json_object_array_length(r.events), 6);
    /* not a chunk: -1 */
    struct rec r2;
    rec_start(&r2, "{`model`:`gem`,`input`:`hi`}");
    ck_assert_int_eq(rsp_stream_chunk(&r2.rs, "{\"error\":{}}", 12), -1);
    ck_assert_int_eq(rsp_stream_chunk(&r2.rs, "nope", 4), -1);
    rec_free(&r2);
    rec_free(&r);
}
END_TEST

static Suite *
responses_suite(void)
{
    Suite *s = suite_create("responses");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, to_chat_full);
    tcase_add_test(tc, to_chat_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("answer");
    tcase_add_test(tc, from_chat_anthropic);
    tcase_add_test(tc, stream_gemini_text_then_call);
    tcase_add_test(tc, stream_gemini_max_tokens);
    tcase_add_test(tc, stream_failed);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(responses_suite());
}
