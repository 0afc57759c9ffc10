/* SPDX-License-Identifier: Apache-2.0 */
/*
 * check_messages.c: the Anthropic Messages front end: the request check
 * (messages and field paths), the request to OpenAI's shape, the answer,
 * the stream (exact event sequences, block indexes, every block closed
 * once) and the error bodies.
 *
 * Fixtures are written with ' for " (and ` for an escaped \" inside a JSON
 * string) so they stay readable; q() turns them into JSON.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <json-c/printbuf.h>

#include "errtype.h"
#include "messages.h"
#include "tap.h"

/* s with ' turned into " and ` into \" (caller frees). */
static char *
q(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(2 * n + 1), *o = out;
    ck_assert_ptr_nonnull(out);
    for (; *s; s++) {
        if (*s == '\'') {
            *o++ = '"';
        } else if (*s == '`') {
            *o++ = '\\';
            *o++ = '"';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* The fixture s parsed (it must be JSON). */
static struct json_object *
J(const char *s)
{
    char *t = q(s);
    struct json_object *o = json_tokener_parse(t);
    ck_assert_msg(o != NULL, "bad fixture: %s", t);
    free(t);
    return o;
}

/* Compact JSON text of o. */
static const char *
js(struct json_object *o)
{
    return json_object_to_json_string_ext(o,
                                          JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* o is exactly the fixture want: the same members, values and order. */
static void
assert_json(struct json_object *o, const char *want)
{
    struct json_object *w = J(want);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(js(o), js(w));
    json_object_put(w);
}

/* ------------------------------------------------------------------ */
/* msg_check                                                          */
/* ------------------------------------------------------------------ */

struct check_case {
    const char *body;
    int count_tokens;
    const char *msg;   /* NULL: valid */
    const char *param; /* the offending field */
};

#define BASE "'model':'claude-sonnet-4-5','max_tokens':1024"
#define HELLO "'messages':[{'role':'user','content':'Hello'}]"

static const struct check_case check_cases[] = {
    {"{" BASE "," HELLO "}", 0, NULL, NULL},
    /* A full request: system blocks, images, a tool round, tools, every option. */
    {"{" BASE ",'system':[{'type':'text','text':'Be brief.','cache_control':{'type':'ephemeral'}}],"
     "'messages':[{'role':'user','content':[{'type':'text','text':'Look'},"
     "{'type':'image','source':{'type':'base64','media_type':'image/png','data':'iVBORw0KGgo='}},"
     "{'type':'image','source':{'type':'url','url':'https://example.com/a.jpg'}}]},"
     "{'role':'assistant','content':[{'type':'text','text':'Checking'},"
     "{'type':'tool_use','id':'toolu_1','name':'get_weather','input':{'city':'Paris'}}]},"
     "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_1','is_error':false,"
     "'content':[{'type':'text','text':'15C'}]}]},{'role':'assistant','content':''}],"
     "'tools':[{'name':'get_weather','input_schema':{'type':'object'}},"
     "{'type':'web_search_20250305','name':'web_search','max_uses':5}],"
     "'tool_choice':{'type':'tool','name':'get_weather','disable_parallel_tool_use':true},"
     "'stop_sequences':['END'],'temperature':0.5,'top_p':1,'top_k':40,'stream':true,"
     "'metadata':{'user_id':null},'thinking':{'type':'enabled','budget_tokens':2048}}",
     0, NULL, NULL},
    {"{'max_tokens':5," HELLO "}", 0, "model: Field required", "model"},
    {"{'model':42,'max_tokens':5," HELLO "}", 0, "model: Input should be a valid string", "model"},
    {"{'model':'','max_tokens':5," HELLO "}", 0, "model: String should have at least 1 character",
     "model"},
    {"{'model':'m'," HELLO "}", 0, "max_tokens: Field required", "max_tokens"},
    {"{'model':'m'," HELLO "}", 1, NULL, NULL},
    {"{'model':'m','max_tokens':0," HELLO "}", 0,
     "max_tokens: Input should be greater than or equal to 1", "max_tokens"},
    {"{'model':'m','max_tokens':'1024'," HELLO "}", 0,
     "max_tokens: Input should be a valid integer", "max_tokens"},
    {"{'model':'m','max_tokens':1.5," HELLO "}", 0, "max_tokens: Input should be a valid integer",
     "max_tokens"},
    {"{'model':'m','max_tokens':1024.0," HELLO "}", 0, NULL, NULL},
    {"{" BASE "}", 0, "messages: Field required", "messages"},
    {"{" BASE ",'messages':{}}", 0, "messages: Input should be a valid list", "messages"},
    {"{" BASE ",'messages':[]}", 0, "messages: at least one message is required", "messages"},
    {"{" BASE ",'messages':['hi']}", 0, "messages.0: Input should be a valid dictionary",
     "messages.0"},
    {"{" BASE ",'messages':[{'content':'hi'}]}", 0, "messages.0.role: Field required",
     "messages.0.role"},
    {"{" BASE ",'messages':[{'role':'system','content':'hi'}]}", 0,
     "messages.0.role: Input should be 'user' or 'assistant'", "messages.0.role"},
    {"{" BASE ",'messages':[{'role':'user'}]}", 0, "messages.0.content: Field required",
     "messages.0.content"},
    {"{" BASE ",'messages':[{'role':'user','content':5}]}", 0,
     "messages.0.content: Input should be a valid list", "messages.0.content"},
    {"{" BASE ",'messages':[{'role':'user','content':''}]}", 0,
     "messages.0: all messages must have non-empty content except for the optional final "
     "assistant message",
     "messages.0"},
    {"{" BASE ",'messages':[{'role':'user','content':[]},{'role':'assistant','content':'x'}]}", 0,
     "messages.0: all messages must have non-empty content except for the optional final "
     "assistant message",
     "messages.0"},
    {"{" BASE ",'messages':[{'role':'user','content':[7]}]}", 0,
     "messages.0.content.0: Input should be a valid dictionary", "messages.0.content.0"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'text':'hi'}]}]}", 0,
     "messages.0.content.0: Unable to extract tag using discriminator 'type'",
     "messages.0.content.0"},
    {"{" BASE
     ",'messages':[{'role':'user','content':[{'type':'text','text':'a'},{'type':'text'}]}]}",
     0, "messages.0.content.1.text: Field required", "messages.0.content.1.text"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'text','text':''}]}]}", 0,
     "messages: text content blocks must be non-empty", "messages.0.content.0"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'image','source':{'type':'base64',"
     "'media_type':'image/bmp','data':'Qk0='}}]}]}",
     0,
     "messages.0.content.0.source.media_type: Input should be 'image/jpeg', "
     "'image/png', 'image/gif' or 'image/webp'",
     "messages.0.content.0.source.media_type"},
    {"{" BASE
     ",'messages':[{'role':'user','content':[{'type':'image','source':{'type':'file'}}]}]}",
     0, "messages.0.content.0.source.file_id: Field required",
     "messages.0.content.0.source.file_id"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'image'}]}]}", 0,
     "messages.0.content.0.source: Field required", "messages.0.content.0.source"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'tool_use','id':'t','name':'n',"
     "'input':{}}]}]}",
     0, "messages.0.content.0: `tool_use` blocks can only be in `assistant` messages",
     "messages.0.content.0"},
    {"{" BASE ",'messages':[{'role':'user','content':'q'},{'role':'assistant','content':["
     "{'type':'text','text':'ok'},{'type':'tool_use','id':'t','name':'n','input':'x'}]}]}",
     0, "messages.1.content.1.input: Input should be a valid dictionary",
     "messages.1.content.1.input"},
    {"{" BASE ",'messages':[{'role':'assistant','content':[{'type':'tool_result',"
     "'tool_use_id':'t'}]}]}",
     0, "messages.0.content.0: `tool_result` blocks can only be in `user` messages",
     "messages.0.content.0"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'tool_result','content':'x'}]}]}", 0,
     "messages.0.content.0.tool_use_id: Field required", "messages.0.content.0.tool_use_id"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t',"
     "'is_error':'yes'}]}]}",
     0, "messages.0.content.0.is_error: Input should be a valid boolean",
     "messages.0.content.0.is_error"},
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'tool_result','tool_use_id':'t',"
     "'content':[{'type':'text','text':'ok'},{'text':'x'}]}]}]}",
     0, "messages.0.content.0.content.1: Unable to extract tag using discriminator 'type'",
     "messages.0.content.0.content.1"},
    /* A block type we do not read passes: the upstream (or msg_to_openai) judges it. */
    {"{" BASE ",'messages':[{'role':'user','content':[{'type':'document','source':{'type':'text',"
     "'media_type':'text/plain','data':'x'}}]}]}",
     0, NULL, NULL},
    {"{" BASE "," HELLO ",'system':5}", 0, "system: Input should be a valid list", "system"},
    {"{" BASE "," HELLO ",'system':[{'type':'image'}]}", 0, "system.0.type: Input should be 'text'",
     "system.0.type"},
    {"{" BASE "," HELLO ",'system':[{'type':'text'}]}", 0, "system.0.text: Field required",
     "system.0.text"},
    {"{" BASE "," HELLO ",'tools':{}}", 0, "tools: Input should be a valid list", "tools"},
    {"{" BASE "," HELLO ",'tools':[{'input_schema':{'type':'object'}}]}", 0,
     "tools.0.name: Field required", "tools.0.name"},
    {"{" BASE "," HELLO ",'tools':[{'name':'a','input_schema':{'type':'object'}},{'name':'b'}]}", 0,
     "tools.1.input_schema: Field required", "tools.1.input_schema"},
    {"{" BASE "," HELLO ",'tools':[{'name':'a','input_schema':'object'}]}", 0,
     "tools.0.input_schema: Input should be a valid dictionary", "tools.0.input_schema"},
    {"{" BASE "," HELLO ",'tools':[{'name':'a','input_schema':{'type':'object'},"
     "'eager_input_streaming':'yes'}]}",
     0, "tools.0.eager_input_streaming: Input should be a valid boolean",
     "tools.0.eager_input_streaming"},
    {"{" BASE "," HELLO ",'tools':[{'name':'a','input_schema':{'type':'object'},"
     "'eager_input_streaming':true},{'name':'b','input_schema':{'type':'object'},"
     "'eager_input_streaming':null}]}",
     0, NULL, NULL},
    {"{" BASE "," HELLO ",'tool_choice':{'type':'required'}}", 0,
     "tool_choice: Input tag 'required' found using 'type' does not match any "
     "of the expected tags: 'auto', 'any', 'tool', 'none'",
     "tool_choice.type"},
    {"{" BASE "," HELLO ",'tool_choice':{'type':'tool'}}", 0, "tool_choice.name: Field required",
     "tool_choice.name"},
    {"{" BASE "," HELLO ",'tool_choice':{'type':'any','disable_parallel_tool_use':1}}", 0,
     "tool_choice.disable_parallel_tool_use: Input should be a valid boolean",
     "tool_choice.disable_parallel_tool_use"},
    {"{" BASE "," HELLO ",'stop_sequences':['a',1]}", 0,
     "stop_sequences.1: Input should be a valid string", "stop_sequences.1"},
    {"{" BASE "," HELLO ",'temperature':1.5}", 0,
     "temperature: Input should be less than or equal to 1", "temperature"},
    {"{" BASE "," HELLO ",'temperature':'hot'}", 0, "temperature: Input should be a valid number",
     "temperature"},
    {"{" BASE "," HELLO ",'top_p':-0.1}", 0, "top_p: Input should be greater than or equal to 0",
     "top_p"},
    {"{" BASE "," HELLO ",'top_k':2.5}", 0, "top_k: Input should be a valid integer", "top_k"},
    {"{" BASE "," HELLO ",'stream':'yes'}", 0, "stream: Input should be a valid boolean", "stream"},
    {"{" BASE "," HELLO ",'metadata':[]}", 0, "metadata: Input should be a valid dictionary",
     "metadata"},
    {"{" BASE "," HELLO ",'metadata':{'user_id':5}}", 0,
     "metadata.user_id: Input should be a valid string", "metadata.user_id"},
    {"[1]", 0, "Input should be a valid dictionary", ""},
};

/* Each case: valid or not, and when not, the exact message and field path. */
START_TEST(check_table)
{
    const struct check_case *tc = &check_cases[_i];
    struct json_object *req = J(tc->body);
    const char *param = "unset";
    char err[512] = "";
    int rc = msg_check(req, tc->count_tokens, err, sizeof(err), &param);
    if (tc->msg == NULL) {
        ck_assert_msg(rc == 0, "case %d: refused: %s (%s)", _i, err, param ? param : "");
        ck_assert_ptr_null(param);
    } else {
        ck_assert_msg(rc == -1, "case %d: accepted, expected %s", _i, tc->msg);
        ck_assert_str_eq(err, tc->msg);
        ck_assert_ptr_nonnull(param);
        ck_assert_str_eq(param, tc->param);
    }
    json_object_put(req);
}
END_TEST

/* A NULL param pointer is allowed; the message still comes. */
START_TEST(check_null_param)
{
    struct json_object *req = J("{'model':'m'," HELLO "}");
    char err[128];
    ck_assert_int_eq(msg_check(req, 0, err, sizeof(err), NULL), -1);
    ck_assert_str_eq(err, "max_tokens: Field required");
    json_object_put(req);
}
END_TEST

/* ------------------------------------------------------------------ */
/* msg_to_openai                                                      */
/* ------------------------------------------------------------------ */

/* req (checked first) translates to exactly want. */
static void
assert_to_openai(const char *req_s, const char *want)
{
    struct json_object *req = J(req_s), *out;
    char err[512] = "";
    char *before;
    ck_assert_msg(msg_check(req, 0, err, sizeof(err), NULL) == 0, "fixture refused: %s", err);
    before = strdup(js(req));
    out = msg_to_openai(req, err, sizeof(err));
    ck_assert_msg(out != NULL, "refused: %s", err);
    assert_json(out, want);
    ck_assert_str_eq(js(req), before); /* req is left as it was */
    free(before);
    json_object_put(out);
    json_object_put(req);
}

/* req (valid for msg_check) is refused with exactly msg. */
static void
assert_to_openai_refused(const char *req_s, const char *msg)
{
    struct json_object *req = J(req_s);
    char err[512] = "";
    ck_assert_msg(msg_check(req, 0, err, sizeof(err), NULL) == 0, "fixture refused: %s", err);
    ck_assert_ptr_null(msg_to_openai(req, err, sizeof(err)));
    ck_assert_str_eq(err, msg);
    json_object_put(req);
}

/* A text request: system string, sampling, stop, stream, user; top_k and thinking dropped. */
START_TEST(to_openai_text)
{
    assert_to_openai(
        "{'model':'claude-sonnet-4-5','max_tokens':1024,'system':'You are terse.',"
        "'messages':[{'role':'user','content':'Hello, Claude'}],'temperature':0.7,'top_p':0.9,"
        "'top_k':40,'stop_sequences':['\\n\\nHuman:'],'stream':true,"
        "'metadata':{'user_id':'u-42'},'thinking':{'type':'enabled','budget_tokens':2048},"
        "'service_tier':'auto'}",
        "{'model':'claude-sonnet-4-5','messages':[{'role':'system','content':'You are terse.'},"
        "{'role':'user','content':'Hello, Claude'}],'max_tokens':1024,'temperature':0.7,"
        "'top_p':0.9,'stop':['\\n\\nHuman:'],'stream':true,"
        "'stream_options':{'include_usage':true},'user':'u-42'}");
    /* stream false, no system, an integral max_tokens as a number: an integer. */
    assert_to_openai("{'model':'m','max_tokens':1024.0,'stream':false,'stop_sequences':[],"
                     "'messages':[{'role':'user','content':'Hi'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':1024}");
}
END_TEST

/* system as text blocks: one system message, the texts joined with \n; empty forms: none. */
START_TEST(to_openai_system_forms)
{
    assert_to_openai(
        "{'model':'m','max_tokens':10,'system':[{'type':'text','text':'You are a weather bot.'},"
        "{'type':'text','text':'Answer in Celsius.','cache_control':{'type':'ephemeral'}}],"
        "'messages':[{'role':'user','content':'Hi'}]}",
        "{'model':'m','messages':[{'role':'system','content':'You are a weather bot.\\nAnswer in "
        "Celsius.'},{'role':'user','content':'Hi'}],'max_tokens':10}");
    assert_to_openai("{'model':'m','max_tokens':10,'system':[],"
                     "'messages':[{'role':'user','content':'Hi'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':10}");
    assert_to_openai("{'model':'m','max_tokens':10,'system':'',"
                     "'messages':[{'role':'user','content':'Hi'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':10}");
}
END_TEST

/* The tool rounds of Anthropic's tool use guide, with two parallel calls and an error result. */
static const char tools_req[] =
    "{'model':'claude-sonnet-4-5','max_tokens':1024,"
    "'tools':[{'name':'get_weather','description':'Get the current weather in a given location',"
    "'input_schema':{'type':'object','properties':{'location':{'type':'string','description':"
    "'The city and state, e.g. San Francisco, CA'},'unit':{'type':'string','enum':['celsius',"
    "'fahrenheit']}},'required':['location']},'cache_control':{'type':'ephemeral'},"
    "'eager_input_streaming':true},"
    "{'type':'custom','name':'get_time','input_schema':{'type':'object','properties':{"
    "'timezone':{'type':'string'}}},'strict':true,'eager_input_streaming':false}],"
    "'tool_choice':{'type':'auto','disable_parallel_tool_use':true},"
    "'messages':[{'role':'user','content':'What is the weather like in San Francisco?'},"
    "{'role':'assistant','content':[{'type':'thinking','thinking':'The user wants the weather.',"
    "'signature':'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds'},"
    "{'type':'text','text':'I will check the weather and the time.'},"
    "{'type':'tool_use','id':'toolu_01A09q90qw90lq917835lq9','name':'get_weather',"
    "'input':{'location':'San Francisco, CA','unit':'celsius'}},"
    "{'type':'tool_use','id':'toolu_01B3kH7pWWwB2yzsvXcd4b2K','name':'get_time',"
    "'input':{'timezone':'America/Los_Angeles'}}]},"
    "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01A09q90qw90lq917835lq9',"
    "'content':'15 degrees'},{'type':'tool_result','tool_use_id':'toolu_01B3kH7pWWwB2yzsvXcd4b2K',"
    "'content':[{'type':'text','text':'09:41'},{'type':'text','text':'PDT'}],'is_error':false},"
    "{'type':'text','text':'And tomorrow?'}]},"
    "{'role':'assistant','content':[{'type':'tool_use','id':'toolu_01C','name':'get_weather',"
    "'input':{}}]},"
    "{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_01C',"
    "'content':'Error: the forecast service is unavailable','is_error':true}]}]}";

static const char tools_want[] =
    "{'model':'claude-sonnet-4-5','messages':["
    "{'role':'user','content':'What is the weather like in San Francisco?'},"
    "{'role':'assistant','content':'I will check the weather and the time.','tool_calls':["
    "{'id':'toolu_01A09q90qw90lq917835lq9','type':'function','function':{'name':'get_weather',"
    "'arguments':'{`location`:`San Francisco, CA`,`unit`:`celsius`}'}},"
    "{'id':'toolu_01B3kH7pWWwB2yzsvXcd4b2K','type':'function','function':{'name':'get_time',"
    "'arguments':'{`timezone`:`America/Los_Angeles`}'}}]},"
    "{'role':'tool','tool_call_id':'toolu_01A09q90qw90lq917835lq9','content':'15 degrees'},"
    "{'role':'tool','tool_call_id':'toolu_01B3kH7pWWwB2yzsvXcd4b2K','content':'09:41\\nPDT'},"
    "{'role':'user','content':'And tomorrow?'},"
    "{'role':'assistant','content':null,'tool_calls':[{'id':'toolu_01C','type':'function',"
    "'function':{'name':'get_weather','arguments':'{}'}}]},"
    "{'role':'tool','tool_call_id':'toolu_01C','content':'Error: the forecast service is "
    "unavailable'}],"
    "'max_tokens':1024,"
    "'tools':[{'type':'function','function':{'name':'get_weather','description':'Get the current "
    "weather in a given location','parameters':{'type':'object','properties':{'location':{"
    "'type':'string','description':'The city and state, e.g. San Francisco, CA'},'unit':{"
    "'type':'string','enum':['celsius','fahrenheit']}},'required':['location']}}},"
    "{'type':'function','function':{'name':'get_time','parameters':{'type':'object',"
    "'properties':{'timezone':{'type':'string'}}},'strict':true}}],"
    "'tool_choice':'auto','parallel_tool_calls':false}";

/* Multi-turn with tools: tool messages before the rest of the user turn, thinking dropped. */
START_TEST(to_openai_tools_multi_turn)
{
    assert_to_openai(tools_req, tools_want);
}
END_TEST

/* The result shares nothing with the request: changing it leaves the request alone. */
START_TEST(to_openai_no_sharing)
{
    struct json_object *req = J(tools_req), *out, *params;
    char err[256];
    char *before = strdup(js(req));
    out = msg_to_openai(req, err, sizeof(err));
    ck_assert_ptr_nonnull(out);
    params = json_object_object_get(
        json_object_object_get(json_object_array_get_idx(json_object_object_get(out, "tools"), 0),
                               "function"),
        "parameters");
    json_object_object_del(params, "required");
    json_object_object_add(params, "additionalProperties", json_object_new_boolean(0));
    json_object_put(out);
    ck_assert_str_eq(js(req), before);
    free(before);
    json_object_put(req);
}
END_TEST

/* Images: base64 to a data URL, url kept; one text block is a string; tool result images follow. */
START_TEST(to_openai_images)
{
    assert_to_openai(
        "{'model':'m','max_tokens':10,'messages':[{'role':'user','content':["
        "{'type':'text','text':'What is in these images?'},"
        "{'type':'image','source':{'type':'base64','media_type':'image/"
        "png','data':'iVBORw0KGgo='}},"
        "{'type':'image','source':{'type':'url','url':"
        "'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg'}}"
        "]}]}",
        "{'model':'m','messages':[{'role':'user','content':["
        "{'type':'text','text':'What is in these images?'},"
        "{'type':'image_url','image_url':{'url':'data:image/png;base64,iVBORw0KGgo='}},"
        "{'type':'image_url','image_url':{'url':"
        "'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg'}}"
        "]}],'max_tokens':10}");
    /* One text block: a string. An image alone: parts. */
    assert_to_openai("{'model':'m','max_tokens':10,'messages':[{'role':'user','content':["
                     "{'type':'text','text':'Hi','cache_control':{'type':'ephemeral'}}]},"
                     "{'role':'assistant','content':'Hello'},{'role':'user','content':["
                     "{'type':'image','source':{'type':'base64','media_type':'image/gif',"
                     "'data':'R0lGOD=='}}]}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'},"
                     "{'role':'assistant','content':'Hello'},{'role':'user','content':["
                     "{'type':'image_url','image_url':{'url':'data:image/gif;base64,R0lGOD=='}}]}],"
                     "'max_tokens':10}");
    /* A screenshot tool: the tool message has the text, the image goes first in the user turn. */
    assert_to_openai(
        "{'model':'m','max_tokens':10,'messages':[{'role':'user','content':'Take a screenshot'},"
        "{'role':'assistant','content':[{'type':'tool_use','id':'toolu_9','name':'screenshot',"
        "'input':{}}]},{'role':'user','content':[{'type':'tool_result','tool_use_id':'toolu_9',"
        "'content':[{'type':'text','text':'Screenshot taken'},{'type':'image','source':{"
        "'type':'base64','media_type':'image/jpeg','data':'/9j/4AAQ'}}]},"
        "{'type':'text','text':'What do you see?'}]}]}",
        "{'model':'m','messages':[{'role':'user','content':'Take a screenshot'},"
        "{'role':'assistant','content':null,'tool_calls':[{'id':'toolu_9','type':'function',"
        "'function':{'name':'screenshot','arguments':'{}'}}]},"
        "{'role':'tool','tool_call_id':'toolu_9','content':'Screenshot taken'},"
        "{'role':'user','content':[{'type':'image_url','image_url':{'url':"
        "'data:image/jpeg;base64,/9j/4AAQ'}},{'type':'text','text':'What do you see?'}]}],"
        "'max_tokens':10}");
}
END_TEST

#define TOOL1 "'tools':[{'name':'get_weather','input_schema':{'type':'object'}}]"
#define TOOL1_OUT                                                                                  \
    "'tools':[{'type':'function','function':{'name':'get_weather','parameters':{'type':'object'}}" \
    "}]"

/* tool_choice any, tool, none; tools [] and tool_choice without tools: neither goes out. */
START_TEST(to_openai_tool_choice)
{
    assert_to_openai(
        "{'model':'m','max_tokens':5," HELLO "," TOOL1 ",'tool_choice':{'type':'any'}}",
        "{'model':'m'," HELLO ",'max_tokens':5," TOOL1_OUT ",'tool_choice':'required'}");
    assert_to_openai("{'model':'m','max_tokens':5," HELLO "," TOOL1
                     ",'tool_choice':{'type':'tool','name':'get_weather'}}",
                     "{'model':'m'," HELLO ",'max_tokens':5," TOOL1_OUT
                     ",'tool_choice':{'type':'function','function':{'name':'get_weather'}}}");
    assert_to_openai("{'model':'m','max_tokens':5," HELLO "," TOOL1
                     ",'tool_choice':{'type':'none'}}",
                     "{'model':'m'," HELLO ",'max_tokens':5," TOOL1_OUT ",'tool_choice':'none'}");
    assert_to_openai("{'model':'m','max_tokens':5," HELLO
                     ",'tools':[],'tool_choice':{'type':'none'}}",
                     "{'model':'m'," HELLO ",'max_tokens':5}");
    assert_to_openai("{'model':'m','max_tokens':5," HELLO
                     ",'tool_choice':{'type':'auto','disable_parallel_tool_use':true}}",
                     "{'model':'m'," HELLO ",'max_tokens':5}");
}
END_TEST

/* The last assistant message: empty (or thinking only) is dropped, a prefill is kept. */
START_TEST(to_openai_last_assistant)
{
    assert_to_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'},"
                     "{'role':'assistant','content':''}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':5}");
    assert_to_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'},"
                     "{'role':'assistant','content':[{'type':'thinking','thinking':'Hm.',"
                     "'signature':'sig'}]}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'}],'max_tokens':5}");
    assert_to_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'JSON?'},"
                     "{'role':'assistant','content':'{'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'JSON?'},"
                     "{'role':'assistant','content':'{'}],'max_tokens':5}");
    /* Not the last: an assistant turn of thinking only stays, empty, to keep the turns. */
    assert_to_openai("{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Hi'},"
                     "{'role':'assistant','content':[{'type':'redacted_thinking','data':'EmwK'}]},"
                     "{'role':'user','content':'Well?'}]}",
                     "{'model':'m','messages':[{'role':'user','content':'Hi'},"
                     "{'role':'assistant','content':''},{'role':'user','content':'Well?'}],"
                     "'max_tokens':5}");
}
END_TEST

/* What an OpenAI-shaped target cannot do: a 400 naming the field. */
START_TEST(to_openai_refused)
{
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'text',"
        "'text':'Summarize'},{'type':'document','source':{'type':'base64',"
        "'media_type':'application/pdf','data':'JVBERi0='}}]}]}",
        "messages.0.content.1: content block type 'document' is not supported for models "
        "served by a non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5," HELLO ",'tools':["
        "{'name':'a','input_schema':{'type':'object'}},"
        "{'type':'web_search_20250305','name':'web_search','max_uses':5}]}",
        "tools.1: tool type 'web_search_20250305' is not supported for models served by "
        "a non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5," HELLO ",'tools':[{'type':'bash_20250124','name':'bash'}]}",
        "tools.0: tool type 'bash_20250124' is not supported for models served by a "
        "non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5," HELLO ",'tools':[{'type':'text_editor_20250728',"
        "'name':'str_replace_based_edit_tool'}]}",
        "tools.0: tool type 'text_editor_20250728' is not supported for models served by "
        "a non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'Search'},"
        "{'role':'assistant','content':[{'type':'server_tool_use','id':'srvtoolu_1',"
        "'name':'web_search','input':{'query':'x'}}]}]}",
        "messages.1.content.0: content block type 'server_tool_use' is not supported for "
        "models served by a non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':[{'type':'image',"
        "'source':{'type':'file','file_id':'file_011CNha8iCJcU1wXNR6q4V8w'}}]}]}",
        "messages.0.content.0: image source type 'file' is not supported for models "
        "served by a non-Anthropic target");
    assert_to_openai_refused(
        "{'model':'m','max_tokens':5,'messages':[{'role':'user','content':'a'},{'role':'assistant',"
        "'content':[{'type':'tool_use','id':'t1','name':'n','input':{}}]},{'role':'user','content':"
        "["
        "{'type':'tool_result','tool_use_id':'t1','content':[{'type':'text','text':'x'},"
        "{'type':'search_result','source':'s','title':'t','content':[]}]}]}]}",
        "messages.2.content.0.content.1: content block type 'search_result' is not "
        "supported for models served by a non-Anthropic target");
    assert_to_openai_refused("{'model':'m','max_tokens':5," HELLO ",'mcp_servers':[{'type':'url',"
                             "'url':'https://mcp.example.com/sse','name':'example'}]}",
                             "mcp_servers is not supported for models served by a non-Anthropic "
                             "target");
}
END_TEST

/* ------------------------------------------------------------------ */
/* msg_from_openai                                                    */
/* ------------------------------------------------------------------ */

/* The OpenAI answer (fixture) translates to exactly want. */
static void
assert_from_openai(const char *resp_s, const char *want)
{
    struct json_object *resp = J(resp_s), *out = msg_from_openai(resp);
    assert_json(out, want);
    json_object_put(out);
    json_object_put(resp);
}

/* A text answer as OpenAI's reference shows it. */
START_TEST(from_openai_text)
{
    assert_from_openai(
        "{'id':'chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG','object':'chat.completion',"
        "'created':1741570283,'model':'gpt-4o-2024-08-06','choices':[{'index':0,'message':{"
        "'role':'assistant','content':'The image shows a wooden boardwalk.','refusal':null,"
        "'annotations':[]},'logprobs':null,'finish_reason':'stop'}],'usage':{'prompt_tokens':1117,"
        "'completion_tokens':46,'total_tokens':1163,'prompt_tokens_details':{'cached_tokens':0,"
        "'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':0,'audio_tokens':0,"
        "'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}},'service_tier':'default',"
        "'system_fingerprint':'fp_fc9f1d7035'}",
        "{'id':'msg_chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG','type':'message','role':'assistant',"
        "'model':'gpt-4o-2024-08-06','content':[{'type':'text','text':'The image shows a wooden "
        "boardwalk.'}],'stop_reason':'end_turn','stop_sequence':null,'usage':{'input_tokens':1117,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,'output_tokens':46}}");
}
END_TEST

/* Text and two tool calls, cached prompt tokens: input excludes them, cache_read has them. */
START_TEST(from_openai_tools_cached)
{
    assert_from_openai(
        "{'id':'chatcmpl-abc123','object':'chat.completion','created':1699896916,"
        "'model':'gpt-4o-mini','choices':[{'index':0,'message':{'role':'assistant',"
        "'content':'Checking both.','tool_calls':[{'id':'call_abc123','type':'function',"
        "'function':{'name':'get_current_weather','arguments':'{\\n`location`: `Boston, MA`\\n}'}},"
        "{'id':'call_def456','type':'function','function':{'name':'get_time','arguments':''}}]},"
        "'logprobs':null,'finish_reason':'tool_calls'}],'usage':{'prompt_tokens':2006,"
        "'completion_tokens':300,'total_tokens':2306,'prompt_tokens_details':{'cached_tokens':1920}"
        ","
        "'completion_tokens_details':{'reasoning_tokens':0}}}",
        "{'id':'msg_chatcmpl-abc123','type':'message','role':'assistant','model':'gpt-4o-mini',"
        "'content':[{'type':'text','text':'Checking both.'},{'type':'tool_use','id':'call_abc123',"
        "'name':'get_current_weather','input':{'location':'Boston, MA'}},{'type':'tool_use',"
        "'id':'call_def456','name':'get_time','input':{}}],'stop_reason':'tool_use',"
        "'stop_sequence':null,'usage':{'input_tokens':86,'cache_creation_input_tokens':0,"
        "'cache_read_input_tokens':1920,'output_tokens':300}}");
}
END_TEST

/* Arguments that are not an object: input {}; a server that says stop with tool calls: tool_use. */
START_TEST(from_openai_odd_tool_calls)
{
    assert_from_openai(
        "{'id':'chatcmpl-1','model':'llama3.1','choices':[{'index':0,'message':{'role':'assistant',"
        "'content':null,'tool_calls':[{'id':'call_1','type':'function','function':{'name':'f',"
        "'arguments':'{`a`: 1'}},{'id':'call_2','type':'function','function':{'name':'g',"
        "'arguments':'[1,2]'}}]},'finish_reason':'stop'}],'usage':{'prompt_tokens':10,"
        "'completion_tokens':5,'total_tokens':15}}",
        "{'id':'msg_chatcmpl-1','type':'message','role':'assistant','model':'llama3.1','content':["
        "{'type':'tool_use','id':'call_1','name':'f','input':{}},{'type':'tool_use','id':'call_2',"
        "'name':'g','input':{}}],'stop_reason':'tool_use','stop_sequence':null,'usage':{"
        "'input_tokens':10,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "'output_tokens':5}}");
}
END_TEST

/* length, content_filter (no content: no block), a refusal, reasoning dropped, an msg_ id kept. */
START_TEST(from_openai_stop_reasons)
{
    assert_from_openai(
        "{'id':'chatcmpl-2','model':'gpt-4o','choices':[{'index':0,'message':{"
        "'role':'assistant','content':'Once upon a'},'finish_reason':'length'}],"
        "'usage':{'prompt_tokens':3,'completion_tokens':3,'total_tokens':6}}",
        "{'id':'msg_chatcmpl-2','type':'message','role':'assistant','model':'gpt-4o',"
        "'content':[{'type':'text','text':'Once upon a'}],'stop_reason':'max_tokens',"
        "'stop_sequence':null,'usage':{'input_tokens':3,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "'output_tokens':3}}");
    assert_from_openai(
        "{'id':'chatcmpl-3','model':'gpt-4o','choices':[{'index':0,'message':{"
        "'role':'assistant','content':null},'finish_reason':'content_filter'}]}",
        "{'id':'msg_chatcmpl-3','type':'message','role':'assistant','model':'gpt-4o',"
        "'content':[],'stop_reason':'refusal','stop_sequence':null,'usage':{"
        "'input_tokens':0,'cache_creation_input_tokens':0,"
        "'cache_read_input_tokens':0,'output_tokens':0}}");
    assert_from_openai(
        "{'id':'chatcmpl-4','model':'gpt-4o','choices':[{'index':0,'message':{"
        "'role':'assistant','content':null,'refusal':'I cannot help with that.'},"
        "'finish_reason':'stop'}]}",
        "{'id':'msg_chatcmpl-4','type':'message','role':'assistant','model':'gpt-4o',"
        "'content':[{'type':'text','text':'I cannot help with that.'}],"
        "'stop_reason':'end_turn','stop_sequence':null,'usage':{'input_tokens':0,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "'output_tokens':0}}");
    assert_from_openai(
        "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','model':'deepseek-reasoner','choices':"
        "[{'index':0,'message':{'role':'assistant','reasoning_content':'Let me think.',"
        "'content':'42'},'finish_reason':'stop'}],'usage':{'prompt_tokens':12,"
        "'completion_tokens':80,'total_tokens':92,'completion_tokens_details':{"
        "'reasoning_tokens':70}}}",
        "{'id':'msg_01XFDUDYJgAACzvnptvVoYEL','type':'message','role':'assistant',"
        "'model':'deepseek-reasoner','content':[{'type':'text','text':'42'}],"
        "'stop_reason':'end_turn','stop_sequence':null,'usage':{'input_tokens':12,"
        "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
        "'output_tokens':80}}");
}
END_TEST

/* Not a chat.completion: NULL. */
START_TEST(from_openai_not_an_answer)
{
    static const char *const bad[] = {
        "{}",
        "[]",
        "{'choices':[]}",
        "{'choices':[{'index':0}]}",
        "{'choices':{'message':{}}}",
        "{'object':'list','data':[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *o = J(bad[i]), *out = msg_from_openai(o);
        ck_assert_msg(out == NULL, "%s: %s", bad[i], out ? js(out) : "");
        json_object_put(o);
    }
    ck_assert_ptr_null(msg_from_openai(NULL));
}
END_TEST

/* ------------------------------------------------------------------ */
/* msg_stream                                                         */
/* ------------------------------------------------------------------ */

/* Every event as "name data\n". */
struct rec {
    struct printbuf *pb;
    int n;
};

static void
rec_emit(void *arg, const char *event, const char *data, size_t len)
{
    struct rec *r = arg;
    ck_assert_uint_eq(strlen(data), len);
    printbuf_memappend(r->pb, event, (int)strlen(event));
    printbuf_memappend(r->pb, " ", 1);
    printbuf_memappend(r->pb, data, (int)len);
    printbuf_memappend(r->pb, "\n", 1);
    r->n++;
}

/* Feed chunk fixtures (q() applied; "[DONE]" as is) through a new stream; the events in r. */
static void
run_stream(struct rec *r, const char *const *chunks, size_t n)
{
    struct msg_stream s;
    r->pb = printbuf_new();
    r->n = 0;
    msg_stream_init(&s, rec_emit, r);
    for (size_t i = 0; i < n; i++) {
        char *c = q(chunks[i]);
        ck_assert_msg(msg_stream_chunk(&s, c, strlen(c)) == 0, "chunk %zu refused: %s", i, c);
        free(c);
    }
}

/* The events, as text. */
static const char *
rec_text(struct rec *r)
{
    return r->pb->bpos > 0 ? r->pb->buf : "";
}

/*
 * The events make a well-formed Anthropic stream: message_start, ping, then
 * blocks numbered 0, 1, ... each started, given deltas while open and
 * stopped exactly once, one block open at a time; message_delta with no
 * block open; message_stop last. Returns the number of blocks.
 */
static int
assert_well_formed(struct rec *r)
{
    char *text = strdup(rec_text(r)), *save = NULL;
    int line = 0, open = -1, started = 0, stopped = 0, delta_seen = 0, stop_seen = 0;
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        ck_assert_ptr_nonnull(sp);
        *sp = '\0';
        struct json_object *d = json_tokener_parse(sp + 1);
        const char *type = json_object_get_string(json_object_object_get(d, "type"));
        int index = json_object_get_int(json_object_object_get(d, "index"));
        ck_assert_msg(d != NULL, "event %d: data is no JSON", line);
        ck_assert_str_eq(type, l); /* the event name is the data's type */
        ck_assert_msg(!stop_seen, "an event after message_stop");
        if (line == 0)
            ck_assert_str_eq(l, "message_start");
        else if (line == 1)
            ck_assert_str_eq(l, "ping");
        else if (strcmp(l, "content_block_start") == 0) {
            ck_assert_int_eq(open, -1);
            ck_assert_int_eq(index, started);
            open = started++;
        } else if (strcmp(l, "content_block_delta") == 0) {
            ck_assert_int_eq(index, open);
        } else if (strcmp(l, "content_block_stop") == 0) {
            ck_assert_int_eq(index, open);
            open = -1;
            stopped++;
        } else if (strcmp(l, "message_delta") == 0) {
            ck_assert_int_eq(open, -1);
            delta_seen++;
        } else if (strcmp(l, "message_stop") == 0) {
            ck_assert_int_eq(delta_seen, 1);
            stop_seen = 1;
        } else {
            ck_abort_msg("unexpected event %s", l);
        }
        json_object_put(d);
        line++;
    }
    ck_assert_msg(stop_seen, "no message_stop");
    ck_assert_int_eq(started, stopped);
    free(text);
    return started;
}

/* The expected events (fixture lines, q() applied) equal the recorded ones. */
static void
assert_events(struct rec *r, const char *want)
{
    char *w = q(want);
    ck_assert_str_eq(rec_text(r), w);
    free(w);
}

#define CHUNK(delta, finish)                                                                       \
    "{'id':'chatcmpl-123','object':'chat.completion.chunk','created':1694268190,"                  \
    "'model':'gpt-4o-mini','system_fingerprint':'fp_44709d6fcb','choices':[{'index':0,"            \
    "'delta':" delta ",'logprobs':null,'finish_reason':" finish "}]}"

#define START_EV(model)                                                                            \
    "message_start {'type':'message_start','message':{'id':'msg_chatcmpl-123','type':'message',"   \
    "'role':'assistant','model':'" model "','content':[],'stop_reason':null,'stop_sequence':null," \
    "'usage':{'input_tokens':0,'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"       \
    "'output_tokens':0}}}\n"                                                                       \
    "ping {'type':'ping'}\n"
#define TEXT_START(i)                                                                              \
    "content_block_start {'type':'content_block_start','index':" i ",'content_block':{"            \
    "'type':'text','text':''}}\n"
#define TEXT_DELTA(i, t)                                                                           \
    "content_block_delta {'type':'content_block_delta','index':" i                                 \
    ",'delta':{'type':'text_delta',"                                                               \
    "'text':'" t "'}}\n"
#define TOOL_START(i, id, name)                                                                    \
    "content_block_start {'type':'content_block_start','index':" i ",'content_block':{"            \
    "'type':'tool_use','id':'" id "','name':'" name "','input':{}}}\n"
#define JSON_DELTA(i, p)                                                                           \
    "content_block_delta {'type':'content_block_delta','index':" i ",'delta':{"                    \
    "'type':'input_json_delta','partial_json':'" p "'}}\n"
#define STOP(i) "content_block_stop {'type':'content_block_stop','index':" i "}\n"
#define END_EV(reason, usage)                                                                      \
    "message_delta {'type':'message_delta','delta':{'stop_reason':'" reason "',"                   \
    "'stop_sequence':null},'usage':" usage "}\n"                                                   \
    "message_stop {'type':'message_stop'}\n"

/* Text only: OpenAI's streaming example, its usage chunk, [DONE]. */
START_TEST(stream_text_only)
{
    static const char *const chunks[] = {
        CHUNK("{'role':'assistant','content':''}", "null"),
        CHUNK("{'content':'Hello'}", "null"),
        CHUNK("{'content':'!'}", "null"),
        CHUNK("{}", "'stop'"),
        "{'id':'chatcmpl-123','object':'chat.completion.chunk','created':1694268190,"
        "'model':'gpt-4o-mini','system_fingerprint':'fp_44709d6fcb','choices':[],'usage':{"
        "'prompt_tokens':9,'completion_tokens':2,'total_tokens':11,'prompt_tokens_details':{"
        "'cached_tokens':0,'audio_tokens':0},'completion_tokens_details':{'reasoning_tokens':0,"
        "'audio_tokens':0,'accepted_prediction_tokens':0,'rejected_prediction_tokens':0}}}",
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 6);
    assert_events(
        &r, START_EV("gpt-4o-mini") TEXT_START("0") TEXT_DELTA("0", "Hello") TEXT_DELTA("0", "!")
                STOP("0") END_EV("end_turn", "{'input_tokens':9,'cache_creation_input_tokens':0,"
                                             "'cache_read_input_tokens':0,'output_tokens':2}"));
    ck_assert_int_eq(assert_well_formed(&r), 1);
    printbuf_free(r.pb);
}
END_TEST

/* Text, then two tool calls with argument pieces, the usage chunk (cached tokens), [DONE]. */
START_TEST(stream_text_and_tools)
{
    static const char *const chunks[] = {
        CHUNK("{'role':'assistant','content':'','refusal':null}", "null"),
        CHUNK("{'content':'Let me check.'}", "null"),
        CHUNK("{'content':null,'tool_calls':[{'index':0,'id':'call_DdmO9pD3xa9XTPNJ32zg2hcA',"
              "'type':'function','function':{'name':'get_weather','arguments':''}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'{`location'}}]}", "null"),
        CHUNK("{'tool_calls':[{'index':0,'function':{'arguments':'`: `Paris, France`}'}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'index':1,'id':'call_9xQ2','type':'function','function':{"
              "'name':'get_time','arguments':''}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'index':1,'function':{'arguments':'{`timezone`:'}}]}", "null"),
        CHUNK("{'tool_calls':[{'index':1,'function':{'arguments':' `Europe/Paris`}'}}]}", "null"),
        CHUNK("{}", "'tool_calls'"),
        "{'id':'chatcmpl-123','object':'chat.completion.chunk','created':1694268190,"
        "'model':'gpt-4o-mini','choices':[],'usage':{'prompt_tokens':2006,'completion_tokens':57,"
        "'total_tokens':2063,'prompt_tokens_details':{'cached_tokens':1920},"
        "'completion_tokens_details':{'reasoning_tokens':0}}}",
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 11);
    assert_events(&r, START_EV("gpt-4o-mini") TEXT_START("0") TEXT_DELTA("0", "Let me check.")
                          STOP("0") TOOL_START("1", "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather")
                              JSON_DELTA("1", "{`location") JSON_DELTA("1", "`: `Paris, France`}")
                                  STOP("1") TOOL_START("2", "call_9xQ2", "get_time")
                                      JSON_DELTA("2", "{`timezone`:")
                                          JSON_DELTA("2", " `Europe/Paris`}") STOP("2")
                                              END_EV("tool_use", "{'input_tokens':86,"
                                                                 "'cache_creation_input_tokens':0,"
                                                                 "'cache_read_input_tokens':1920,"
                                                                 "'output_tokens':57}"));
    ck_assert_int_eq(assert_well_formed(&r), 3);
    printbuf_free(r.pb);
}
END_TEST

/* Text after a tool call opens a new text block; reasoning_content is dropped. */
START_TEST(stream_text_after_tool)
{
    static const char *const chunks[] = {
        CHUNK("{'role':'assistant','reasoning_content':'Thinking...'}", "null"),
        CHUNK("{'tool_calls':[{'index':0,'id':'call_1','type':'function','function':{"
              "'name':'f','arguments':'{}'}}]}",
              "null"),
        CHUNK("{'content':'Done.'}", "'stop'"),
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 4);
    assert_events(&r, START_EV("gpt-4o-mini") TOOL_START("0", "call_1", "f") JSON_DELTA("0", "{}")
                          STOP("0") TEXT_START("1") TEXT_DELTA("1", "Done.") STOP("1")
                              END_EV("tool_use", "{'output_tokens':0}"));
    ck_assert_int_eq(assert_well_formed(&r), 2);
    printbuf_free(r.pb);
}
END_TEST

/* Azure: a first chunk of prompt filter results (empty id and model, no choices) is skipped. */
START_TEST(stream_azure_prompt_filter)
{
    static const char *const chunks[] = {
        "{'choices':[],'created':0,'id':'','model':'','object':'','prompt_filter_results':[{"
        "'prompt_index':0,'content_filter_results':{'hate':{'filtered':false,'severity':'safe'}}}]"
        "}",
        CHUNK("{'role':'assistant','content':'Hi'}", "null"),
        CHUNK("{}", "'length'"),
        "{'id':'chatcmpl-123','choices':[],'usage':{'prompt_tokens':5,'completion_tokens':1,"
        "'total_tokens':6}}",
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 5);
    assert_events(&r, START_EV("gpt-4o-mini") TEXT_START("0") TEXT_DELTA("0", "Hi") STOP("0")
                          END_EV("max_tokens", "{'input_tokens':5,'cache_creation_input_tokens':0,"
                                               "'cache_read_input_tokens':0,'output_tokens':1}"));
    assert_well_formed(&r);
    printbuf_free(r.pb);
}
END_TEST

/* Every tool call at index 0 with its own id (and all its arguments): one block each. */
START_TEST(stream_calls_at_one_index)
{
    static const char *const chunks[] = {
        CHUNK("{'role':'assistant','content':null,'tool_calls':[{'index':0,'id':'call_a',"
              "'type':'function','function':{'name':'f','arguments':'{`x`:1}'}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'index':0,'id':'call_b','type':'function','function':{"
              "'name':'g','arguments':'{`y`:2}'}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'id':'call_c','function':{'name':'h','arguments':'{`z`'}}]}",
              "null"),
        CHUNK("{'tool_calls':[{'function':{'arguments':':3}'}}]}", "'stop'"),
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 5);
    assert_events(&r, START_EV("gpt-4o-mini") TOOL_START("0", "call_a", "f")
                          JSON_DELTA("0", "{`x`:1}") STOP("0") TOOL_START("1", "call_b", "g")
                              JSON_DELTA("1", "{`y`:2}") STOP("1") TOOL_START("2", "call_c", "h")
                                  JSON_DELTA("2", "{`z`") JSON_DELTA("2", ":3}") STOP("2")
                                      END_EV("tool_use", "{'output_tokens':0}"));
    ck_assert_int_eq(assert_well_formed(&r), 3);
    printbuf_free(r.pb);
}
END_TEST

/* Usage on every chunk (vLLM's continuous usage): message_start has the first counts. */
START_TEST(stream_usage_every_chunk)
{
    static const char *const chunks[] = {
        "{'id':'cmpl-7','model':'qwen','choices':[{'index':0,'delta':{'role':'assistant',"
        "'content':'A'}}],'usage':{'prompt_tokens':7,'completion_tokens':1,'total_tokens':8}}",
        "{'id':'cmpl-7','model':'qwen','choices':[{'index':0,'delta':{'content':'B'},"
        "'finish_reason':'stop'}],'usage':{'prompt_tokens':7,'completion_tokens':2,"
        "'total_tokens':9}}",
        "[DONE]",
    };
    struct rec r;
    run_stream(&r, chunks, 3);
    assert_events(
        &r, "message_start {'type':'message_start','message':{'id':'msg_cmpl-7',"
            "'type':'message','role':'assistant','model':'qwen','content':[],"
            "'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':7,"
            "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
            "'output_tokens':1}}}\n"
            "ping {'type':'ping'}\n" TEXT_START("0") TEXT_DELTA("0", "A") TEXT_DELTA("0", "B")
                STOP("0") END_EV("end_turn", "{'input_tokens':7,'cache_creation_input_tokens':0,"
                                             "'cache_read_input_tokens':0,'output_tokens':2}"));
    assert_well_formed(&r);
    printbuf_free(r.pb);
}
END_TEST

/* [DONE] alone still makes a whole (empty) message; chunks after it are ignored. */
START_TEST(stream_done_only)
{
    static const char *const chunks[] = {"[DONE]", CHUNK("{'content':'late'}", "null"), "[DONE]"};
    struct rec r;
    run_stream(&r, chunks, 3);
    assert_events(&r, "message_start {'type':'message_start','message':{'id':'msg_',"
                      "'type':'message','role':'assistant','model':'','content':[],"
                      "'stop_reason':null,'stop_sequence':null,'usage':{'input_tokens':0,"
                      "'cache_creation_input_tokens':0,'cache_read_input_tokens':0,"
                      "'output_tokens':0}}}\n"
                      "ping {'type':'ping'}\n" END_EV("end_turn", "{'output_tokens':0}"));
    ck_assert_int_eq(assert_well_formed(&r), 0);
    printbuf_free(r.pb);
}
END_TEST

/* Not a chunk: -1 and nothing emitted (an error chunk is the relay's). */
START_TEST(stream_not_a_chunk)
{
    struct msg_stream s;
    struct rec r = {printbuf_new(), 0};
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2]",
        "{\"id\":\"x\"",
        "{\"a\":1} trailing",
        "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}",
    };
    msg_stream_init(&s, rec_emit, &r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(msg_stream_chunk(&s, bad[i], strlen(bad[i])) == -1, "accepted: %s", bad[i]);
    ck_assert_int_eq(r.n, 0);
    /* A chunk given with its length, not NUL-terminated at it. */
    const char *two = "{\"id\":\"c9\",\"choices\":[]}{\"x\":1}";
    ck_assert_int_eq(msg_stream_chunk(&s, two, 24), 0);
    ck_assert_str_eq(s.id, "msg_c9");
    printbuf_free(r.pb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

/* Every status to Anthropic's error type. */
START_TEST(error_types)
{
    static const struct {
        int status;
        const char *type;
    } t[] = {
        {400, "invalid_request_error"},
        {401, "authentication_error"},
        {403, "permission_error"},
        {404, "not_found_error"},
        {413, "request_too_large"},
        {429, "rate_limit_error"},
        {500, "api_error"},
        {503, "overloaded_error"},
        {529, "overloaded_error"},
        {402, "billing_error"},
        {408, "invalid_request_error"},
        {422, "invalid_request_error"},
        {502, "api_error"},
        {504, "timeout_error"},
        {200, "api_error"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(strcmp(errtype_anthropic(t[i].status), t[i].type) == 0, "%d: %s", t[i].status,
                      errtype_anthropic(t[i].status));
}
END_TEST

/* The body: {"type":"error","error":{"type","message"}}. */
START_TEST(error_body)
{
    struct json_object *o = msg_error_body(429, "Number of request tokens has exceeded your "
                                                "per-minute rate limit");
    assert_json(o, "{'type':'error','error':{'type':'rate_limit_error','message':'Number of "
                   "request tokens has exceeded your per-minute rate limit'}}");
    json_object_put(o);
    o = msg_error_body(529, NULL);
    assert_json(o, "{'type':'error','error':{'type':'overloaded_error','message':''}}");
    json_object_put(o);
}
END_TEST

/* OpenAI's error to Anthropic's: the message kept, the type from the status. */
START_TEST(error_from_openai)
{
    struct json_object *in, *o;
    in = J("{'error':{'message':'Rate limit reached for gpt-4o in organization org-xyz on tokens "
           "per min (TPM): Limit 30000, Used 30000, Requested 100.','type':'tokens','param':null,"
           "'code':'rate_limit_exceeded'}}");
    o = msg_error_from_openai(429, in);
    assert_json(o, "{'type':'error','error':{'type':'rate_limit_error','message':'Rate limit "
                   "reached for gpt-4o in organization org-xyz on tokens per min (TPM): Limit "
                   "30000, Used 30000, Requested 100.'}}");
    json_object_put(o);
    json_object_put(in);
    in = J("{'error':{'message':'Incorrect API key provided: sk-abc. You can find your API key at "
           "https://platform.openai.com/account/api-keys.','type':'invalid_request_error',"
           "'param':null,'code':'invalid_api_key'}}");
    o = msg_error_from_openai(401, in);
    assert_json(o, "{'type':'error','error':{'type':'authentication_error','message':'Incorrect "
                   "API key provided: sk-abc. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.'}}");
    json_object_put(o);
    json_object_put(in);
    /* Servers that put a string in error, or nothing usable. */
    in = J("{'error':'model not found','code':404}");
    o = msg_error_from_openai(404, in);
    assert_json(o,
                "{'type':'error','error':{'type':'not_found_error','message':'model not found'}}");
    json_object_put(o);
    json_object_put(in);
    o = msg_error_from_openai(502, NULL);
    assert_json(o, "{'type':'error','error':{'type':'api_error','message':'the upstream answered "
                   "HTTP 502'}}");
    json_object_put(o);
}
END_TEST

static Suite *
messages_suite(void)
{
    Suite *s = suite_create("messages");
    TCase *tc = tcase_create("check");
    tcase_add_loop_test(tc, check_table, 0, (int)(sizeof(check_cases) / sizeof(check_cases[0])));
    tcase_add_test(tc, check_null_param);
    suite_add_tcase(s, tc);
    tc = tcase_create("to_openai");
    tcase_add_test(tc, to_openai_text);
    tcase_add_test(tc, to_openai_system_forms);
    tcase_add_test(tc, to_openai_tools_multi_turn);
    tcase_add_test(tc, to_openai_no_sharing);
    tcase_add_test(tc, to_openai_images);
    tcase_add_test(tc, to_openai_tool_choice);
    tcase_add_test(tc, to_openai_last_assistant);
    tcase_add_test(tc, to_openai_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("from_openai");
    tcase_add_test(tc, from_openai_text);
    tcase_add_test(tc, from_openai_tools_cached);
    tcase_add_test(tc, from_openai_odd_tool_calls);
    tcase_add_test(tc, from_openai_stop_reasons);
    tcase_add_test(tc, from_openai_not_an_answer);
    suite_add_tcase(s, tc);
    tc = tcase_create("stream");
    tcase_add_test(tc, stream_text_only);
    tcase_add_test(tc, stream_text_and_tools);
    tcase_add_test(tc, stream_text_after_tool);
    tcase_add_test(tc, stream_azure_prompt_filter);
    tcase_add_test(tc, stream_calls_at_one_index);
    tcase_add_test(tc, stream_usage_every_chunk);
    tcase_add_test(tc, stream_done_only);
    tcase_add_test(tc, stream_not_a_chunk);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, error_types);
    tcase_add_test(tc, error_body);
    tcase_add_test(tc, error_from_openai);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    return run_suite(messages_suite());
}
