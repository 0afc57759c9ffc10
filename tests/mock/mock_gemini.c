/* SPDX-License-Identifier: Apache-2.0 */
/* mock_gemini.c: Google's Gemini API (generativelanguage, v1beta):
 * models/{model}:generateContent, :streamGenerateContent (server-sent events
 * with ?alt=sse, else one JSON array sent piece by piece) and :countTokens.
 *
 * The key comes in x-goog-api-key or ?key=.  The body is read as Google's
 * JSON mapping of protocol buffers reads it: both lowerCamelCase and
 * snake_case names, an unknown name refused ("Invalid JSON payload received.
 * Unknown name ..."), function parameters in Google's subset of OpenAPI
 * schemas.  Errors are {"error":{"code","message","status"}}.  Zero counts
 * are left out of usageMetadata, as Google leaves out proto3 defaults.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mock.h"

/* ------------------------------------------------------------------ */
/* Provider: key, errors                                              */
/* ------------------------------------------------------------------ */

/* Return google.rpc's status name for an HTTP status. */
static const char *
mock_gem_status(int status)
{
    switch (status) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 500:
        return "INTERNAL";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return status < 500 ? "FAILED_PRECONDITION" : "UNKNOWN";
    }
}

/* Append a Google error body.  type "google" makes code the reason of an
 * ErrorInfo detail (API_KEY_INVALID); OpenAI's types and codes are ignored.
 * A stream without alt=sse is a JSON array, its errors too. */
static void
mock_gem_error(struct mock_call *c, struct evbuffer *out, int status, const char *msg,
               const char *type, const char *code)
{
    int array = c->stream && !c->sse;

    evbuffer_add_printf(out, "%s{\"error\":{\"code\":%d,\"message\":", array ? "[" : "", status);
    mock_json_cstr(out, msg);
    evbuffer_add_printf(out, ",\"status\":\"%s\"", mock_gem_status(status));
    if (type != NULL && strcmp(type, "google") == 0 && code != NULL)
        evbuffer_add_printf(out,
                            ",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
                            "\"reason\":\"%s\",\"domain\":\"googleapis.com\",\"metadata\":"
                            "{\"service\":\"generativelanguage.googleapis.com\"}}]",
                            code);
    evbuffer_add_printf(out, "}}%s", array ? "]" : "");
}

/* The key (with -k): x-goog-api-key, else ?key=.  None is a 403, a wrong
 * one a 400, as Google answers. */
static int
mock_gem_check(struct mock_call *c)
{
    const char *hkey = mock_header(c, "x-goog-api-key");
    char *qkey = hkey == NULL ? mock_query(c, "key") : NULL;
    const char *key = hkey != NULL ? hkey : qkey;
    char *alt = mock_query(c, "alt");
    int rc = 0;

    c->stream = c->fmt == &mock_fmt_gem_stream;
    c->sse = alt != NULL && strcmp(alt, "sse") == 0;
    if (mock.api_key != NULL && key == NULL) {
        mock_send_error(c, 403,
                        "Method doesn't allow unregistered callers (callers without established "
                        "identity). Please use API Key or other form of API consumer identity to "
                        "call this API.",
                        NULL, NULL);
        rc = -1;
    } else if (mock.api_key != NULL && strcmp(key, mock.api_key) != 0) {
        mock_send_error(c, 400, "API key not valid. Please pass a valid API key.", "google",
                        "API_KEY_INVALID");
        rc = -1;
    }
    free(qkey);
    free(alt);
    return rc;
}

const struct mock_provider mock_prov_gemini = {
    "gemini",
    mock_gem_check,
    mock_gem_error,
    "Invalid JSON payload received. Unexpected token.",
};

/* ------------------------------------------------------------------ */
/* Checking the request                                               */
/* ------------------------------------------------------------------ */

/* Write name (lowerCamelCase) in snake_case to out. */
static void
mock_gem_snake(const char *name, char *out, size_t outsz)
{
    size_t n = 0;

    for (; *name != '\0' && n + 2 < outsz; name++) {
        if (isupper((unsigned char)*name)) {
            out[n++] = '_';
            out[n++] = (char)tolower((unsigned char)*name);
        } else {
            out[n++] = *name;
        }
    }
    out[n] = '\0';
}

/* Return member name of o, given in lowerCamelCase or snake_case, or NULL
 * (null counts as absent). */
static json_object *
mock_gem_get(json_object *o, const char *name)
{
    json_object *v;
    char snake[64];

    mock_gem_snake(name, snake, sizeof(snake));
    if ((json_object_object_get_ex(o, name, &v) || json_object_object_get_ex(o, snake, &v)) &&
        !json_object_is_type(v, json_type_null))
        return v;
    return NULL;
}

/* Refuse a member of o that is none of names (lowerCamelCase, NULL-ended,
 * snake_case taken too); at is where o is ("" at the top). */
static int
mock_gem_names(struct mock_call *c, json_object *o, const char *at, const char *const *names)
{
    if (!json_object_is_type(o, json_type_object))
        return 0; /* the caller checks the type */
    json_object_object_foreach(o, key, val)
    {
        size_t i;
        char snake[64];

        for (i = 0; names[i] != NULL; i++) {
            mock_gem_snake(names[i], snake, sizeof(snake));
            if (strcmp(key, names[i]) == 0 || strcmp(key, snake) == 0)
                break;
        }
        if (names[i] == NULL)
            return mock_fail(c,
                             "Invalid JSON payload received. Unknown name \"%.60s\"%s%.120s%s: "
                             "Cannot find field.",
                             key, *at ? " at '" : "", at, *at ? "'" : "");
        (void)val;
    }
    return 0;
}

/* Refuse v at at unless it has JSON type t (proto type named ptype). */
static int
mock_gem_type(struct mock_call *c, json_object *v, const char *at, json_type t, const char *ptype)
{
    int ok = json_object_is_type(v, t) ||
             (t == json_type_double && json_object_is_type(v, json_type_int)) ||
             (t == json_type_int && mock_is_int(v));

    if (v == NULL || ok)
        return 0;
    return mock_fail(c, "Invalid value at '%.120s' (%s), %.60s", at, ptype,
                     json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

/* The names a Schema may have: Google's subset of OpenAPI (no
 * additionalProperties, no $schema, no strict). */
static const char *const mock_gem_schema_names[] = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
    NULL,
};

/* Check a Schema at at, and the schemas in it. */
static int
mock_gem_schema(struct mock_call *c, json_object *s, const char *at, int depth)
{
    static const char *const types[] = {"TYPE_UNSPECIFIED", "STRING",  "NUMBER",
                                        "INTEGER",          "BOOLEAN", "ARRAY",
                                        "OBJECT",           "NULL",    NULL};
    json_object *t = mock_gem_get(s, "type"), *props = mock_gem_get(s, "properties");
    char sub[200];
    size_t i = 0;

    if (!json_object_is_type(s, json_type_object) || depth > 32)
        return mock_gem_type(c, s, at, json_type_object,
                             "type.googleapis.com/"
                             "google.ai.generativelanguage.v1beta.Schema");
    if (mock_gem_names(c, s, at, mock_gem_schema_names) < 0)
        return -1;
    for (i = 0; t != NULL && types[i] != NULL; i++)
        if (strcasecmp(json_object_get_string(t), types[i]) == 0)
            break;
    snprintf(sub, sizeof(sub), "%.150s.type", at);
    if (t != NULL && (!json_object_is_type(t, json_type_string) || types[i] == NULL))
        return mock_fail(c,
                         "Invalid value at '%.150s' (type.googleapis.com/"
                         "google.ai.generativelanguage.v1beta.Type), %.40s",
                         sub, json_object_to_json_string_ext(t, JSON_C_TO_STRING_PLAIN));
    snprintf(sub, sizeof(sub), "%.150s.items", at);
    if (mock_gem_get(s, "items") != NULL &&
        mock_gem_schema(c, mock_gem_get(s, "items"), sub, depth + 1) < 0)
        return -1;
    snprintf(sub, sizeof(sub), "%.150s.properties", at);
    if (props == NULL || mock_gem_type(c, props, sub, json_type_object,
                                       "type.googleapis.com/"
                                       "google.protobuf.Map") < 0)
        return props == NULL ? 0 : -1;
    i = 0;
    json_object_object_foreach(props, name, ps)
    {
        snprintf(sub, sizeof(sub), "%.150s.properties[%zu].value", at, i++);
        if (mock_gem_schema(c, ps, sub, depth + 1) < 0)
            return -1;
        (void)name;
    }
    return 0;
}

/* Check a functionCall or functionResponse part (obj) at at. */
static int
mock_gem_function(struct mock_call *c, json_object *obj, const char *at, int response)
{
    static const char *const call[] = {"id", "name", "args", NULL};
    static const char *const resp[] = {"id",         "name",  "response", "willContinue",
                                       "scheduling", "parts", NULL};
    json_object *name = mock_gem_get(obj, "name");
    json_object *arg = mock_gem_get(obj, response ? "response" : "args");
    char sub[200];

    if (!json_object_is_type(obj, json_type_object))
        return mock_gem_type(c, obj, at, json_type_object,
                             response ? "type.googleapis.com/google.ai.generativelanguage.v1beta."
                                        "FunctionResponse"
                                      : "type.googleapis.com/google.ai.generativelanguage.v1beta."
                                        "FunctionCall");
    if (mock_gem_names(c, obj, at, response ? resp : call) < 0)
        return -1;
    if (name == NULL || json_object_get_string_len(name) == 0)
        return mock_fail(c, "* GenerateContentRequest.%.150s.name: Name cannot be empty.\n", at);
    snprintf(sub, sizeof(sub), "%.150s.%s", at, response ? "response" : "args");
    return mock_gem_type(c, arg, sub, json_type_object,
                         "type.googleapis.com/google.protobuf.Struct");
}

/* The data fields of a Part: exactly one must be set. */
static const char *const mock_gem_part_data[] = {
    "text",     "inlineData",     "functionCall",        "functionResponse",
    "fileData", "executableCode", "codeExecutionResult", NULL,
};

/* Check part j of content at at. */
static int
mock_gem_part(struct mock_call *c, json_object *p, const char *at)
{
    static const char *const names[] = {
        "text",
        "inlineData",
        "functionCall",
        "functionResponse",
        "fileData",
        "executableCode",
        "codeExecutionResult",
        "thought",
        "thoughtSignature",
        "videoMetadata",
        NULL,
    };
    const char *set = NULL;
    char sub[200];

    if (!json_object_is_type(p, json_type_object))
        return mock_gem_type(c, p, at, json_type_object,
                             "type.googleapis.com/google.ai.generativelanguage.v1beta.Part");
    if (mock_gem_names(c, p, at, names) < 0)
        return -1;
    for (size_t i = 0; mock_gem_part_data[i] != NULL; i++) {
        if (mock_gem_get(p, mock_gem_part_data[i]) == NULL)
            continue;
        if (set != NULL)
            return mock_fail(c,
                             "Invalid JSON payload received. Oneof field 'data' is already set. "
                             "Cannot set '%s'",
                             mock_gem_part_data[i]);
        set = mock_gem_part_data[i];
    }
    if (set == NULL)
        return mock_fail(c,
                         "* GenerateContentRequest.%.150s.data: required oneof field 'data' "
                         "must have one initialized field\n",
                         at);
    snprintf(sub, sizeof(sub), "%.150s.%s", at, set);
    if (strcmp(set, "text") == 0)
        return mock_gem_type(c, mock_gem_get(p, "text"), sub, json_type_string, "TYPE_STRING");
    if (strcmp(set, "functionCall") == 0 || strcmp(set, "functionResponse") == 0) {
        char snake[32];

        mock_gem_snake(set, snake, sizeof(snake));
        snprintf(sub, sizeof(sub), "%.150s.%s", at, snake);
        return mock_gem_function(c, mock_gem_get(p, set), sub,
                                 strcmp(set, "functionResponse") == 0);
    }
    return 0;
}

/* Check a Content (role, parts) at at; system: a systemInstruction. */
static int
mock_gem_content(struct mock_call *c, json_object *ct, const char *at, int system)
{
    static const char *const names[] = {"role", "parts", NULL};
    json_object *role = mock_gem_get(ct, "role"), *parts = mock_gem_get(ct, "parts");
    const char *r = json_object_get_string(role);
    char sub[200];

    if (!json_object_is_type(ct, json_type_object))
        return mock_gem_type(c, ct, at, json_type_object,
                             "type.googleapis.com/google.ai.generativelanguage.v1beta.Content");
    if (mock_gem_names(c, ct, at, names) < 0)
        return -1;
    if (!system && r != NULL && *r != '\0' && strcmp(r, "user") != 0 && strcmp(r, "model") != 0)
        return mock_fail(c, "Please use a valid role: user, model.");
    snprintf(sub, sizeof(sub), "%.150s.parts", at);
    if (parts != NULL && !json_object_is_type(parts, json_type_array))
        return mock_gem_type(c, parts, sub, json_type_array,
                             "type.googleapis.com/google.ai.generativelanguage.v1beta.Part");
    if (parts == NULL || json_object_array_length(parts) == 0)
        return mock_fail(c, "* GenerateContentRequest.%.150s: contents.parts must not be empty.\n",
                         sub);
    for (size_t j = 0; j < json_object_array_length(parts); j++) {
        snprintf(sub, sizeof(sub), "%.150s.parts[%zu]", at, j);
        if (mock_gem_part(c, json_object_array_get_idx(parts, j), sub) < 0)
            return -1;
    }
    return 0;
}

/* Check contents: a non-empty list of Content. */
static int
mock_gem_contents(struct mock_call *c, json_object *contents)
{
    char at[48];

    if (contents != NULL && !json_object_is_type(contents, json_type_array))
        return mock_gem_type(c, contents, "contents", json_type_array,
                             "type.googleapis.com/google.ai.generativelanguage.v1beta.Content");
    if (contents == NULL || json_object_array_length(contents) == 0)
        return mock_fail(c, "* GenerateContentRequest.contents: contents is not specified\n");
    for (size_t i = 0; i < json_object_array_length(contents); i++) {
        snprintf(at, sizeof(at), "contents[%zu]", i);
        if (mock_gem_content(c, json_object_array_get_idx(contents, i), at, 0) < 0)
            return -1;
    }
    return 0;
}

/* Is s a function name Gemini takes: a letter or '_', then letters,
 * digits, '_', '.', '-' (64 at most)? */
static int
mock_gem_fname_ok(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

    return n >= 1 && n <= 64 && s[n] == '\0' && (isalpha((unsigned char)s[0]) || s[0] == '_');
}

/* Check function declaration d at at. */
static int
mock_gem_declaration(struct mock_call *c, json_object *d, const char *at)
{
    static const char *const names[] = {
        "name",     "description",        "parameters", "parametersJsonSchema",
        "response", "responseJsonSchema", "behavior",   NULL};
    const char *name = json_object_get_string(mock_gem_get(d, "name"));
    char sub[200];

    if (!json_object_is_type(d, json_type_object))
        return mock_gem_type(c, d, at, json_type_object,
                             "type.googleapis.com/"
                             "google.ai.generativelanguage.v1beta.FunctionDeclaration");
    if (mock_gem_names(c, d, at, names) < 0)
        return -1;
    if (name == NULL || *name == '\0')
        return mock_fail(c, "* GenerateContentRequest.%.150s.name: Name cannot be empty.\n", at);
    if (!mock_gem_fname_ok(name))
        return mock_fail(c,
                         "* GenerateContentRequest.%.150s.name: Invalid function name. Must start "
                         "with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
                         "underscores (_), dots (.) or dashes (-), with a maximum length of 64.\n",
                         at);
    snprintf(sub, sizeof(sub), "%.150s.parameters", at);
    if (mock_gem_get(d, "parameters") != NULL &&
        mock_gem_schema(c, mock_gem_get(d, "parameters"), sub, 0) < 0)
        return -1;
    return 0;
}

/* Check tools: Tool objects, their functionDeclarations. */
static int
mock_gem_tools(struct mock_call *c, json_object *tools)
{
    static const char *const names[] = {"functionDeclarations",  "googleSearch", "codeExecution",
                                        "googleSearchRetrieval", "urlContext",   NULL};
    char at[48], sub[120];

    if (tools == NULL)
        return 0;
    if (!json_object_is_type(tools, json_type_array))
        return mock_gem_type(c, tools, "tools", json_type_array,
                             "type.googleapis.com/google.ai.generativelanguage.v1beta.Tool");
    for (size_t i = 0; i < json_object_array_length(tools); i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        json_object *decls = mock_gem_get(t, "functionDeclarations");

        snprintf(at, sizeof(at), "tools[%zu]", i);
        if (mock_gem_type(c, t, at, json_type_object,
                          "type.googleapis.com/google.ai."
                          "generativelanguage.v1beta.Tool") < 0 ||
            mock_gem_names(c, t, at, names) < 0)
            return -1;
        for (size_t k = 0;
             json_object_is_type(decls, json_type_array) && k < json_object_array_length(decls);
             k++) {
            snprintf(sub, sizeof(sub), "%s.function_declarations[%zu]", at, k);
            if (mock_gem_declaration(c, json_object_array_get_idx(decls, k), sub) < 0)
                return -1;
        }
    }
    return 0;
}

/* Check toolConfig: functionCallingConfig {mode, allowedFunctionNames}. */
static int
mock_gem_tool_config(struct mock_call *c, json_object *tc)
{
    static const char *const names[] = {"functionCallingConfig", "retrievalConfig", NULL};
    static const char *const fcnames[] = {"mode", "allowedFunctionNames", NULL};
    json_object *fc = mock_gem_get(tc, "functionCallingConfig");
    const char *mode = json_object_get_string(mock_gem_get(fc, "mode"));

    if (tc == NULL)
        return 0;
    if (mock_gem_type(c, tc, "tool_config", json_type_object,
                      "type.googleapis.com/google.ai.generativelanguage.v1beta.ToolConfig") < 0 ||
        mock_gem_type(c, fc, "tool_config.function_calling_config", json_type_object,
                      "type.googleapis.com/"
                      "google.ai.generativelanguage.v1beta.FunctionCallingConfig") < 0 ||
        mock_gem_names(c, tc, "tool_config", names) < 0 ||
        (fc != NULL && mock_gem_names(c, fc, "tool_config.function_calling_config", fcnames) < 0))
        return -1;
    if (mode != NULL && strcmp(mode, "AUTO") != 0 && strcmp(mode, "ANY") != 0 &&
        strcmp(mode, "NONE") != 0 && strcmp(mode, "VALIDATED") != 0 &&
        strcmp(mode, "MODE_UNSPECIFIED") != 0)
        return mock_fail(c,
                         "Invalid value at 'tool_config.function_calling_config.mode' "
                         "(type.googleapis.com/google.ai.generativelanguage.v1beta."
                         "FunctionCallingConfig.Mode), \"%.40s\"",
                         mode);
    return 0;
}

/* Check generationConfig: its names, and the types of those that matter. */
static int
mock_gem_generation(struct mock_call *c, json_object *g)
{
    static const char *const names[] = {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "mediaResolution",
        "imageConfig",
        NULL,
    };
    json_object *stops = mock_gem_get(g, "stopSequences");

    if (g == NULL)
        return 0;
    if (mock_gem_type(c, g, "generation_config", json_type_object,
                      "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig") <
            0 ||
        mock_gem_names(c, g, "generation_config", names) < 0 ||
        mock_gem_type(c, mock_gem_get(g, "maxOutputTokens"), "generation_config.max_output_tokens",
                      json_type_int, "TYPE_INT32") < 0 ||
        mock_gem_type(c, mock_gem_get(g, "candidateCount"), "generation_config.candidate_count",
                      json_type_int, "TYPE_INT32") < 0 ||
        mock_gem_type(c, mock_gem_get(g, "topK"), "generation_config.top_k", json_type_int,
                      "TYPE_INT32") < 0 ||
        mock_gem_type(c, mock_gem_get(g, "temperature"), "generation_config.temperature",
                      json_type_double, "TYPE_FLOAT") < 0 ||
        mock_gem_type(c, mock_gem_get(g, "topP"), "generation_config.top_p", json_type_double,
                      "TYPE_FLOAT") < 0 ||
        mock_gem_type(c, stops, "generation_config.stop_sequences", json_type_array,
                      "TYPE_STRING") < 0)
        return -1;
    for (size_t i = 0; stops != NULL && i < json_object_array_length(stops); i++)
        if (mock_gem_type(c, json_object_array_get_idx(stops, i),
                          "generation_config.stop_sequences", json_type_string, "TYPE_STRING") < 0)
            return -1;
    return 0;
}

/* Check a GenerateContentRequest (in_count: inside a countTokens
 * request, where it names its model). */
static int
mock_gem_check_body(struct mock_call *c, json_object *body, int in_count)
{
    static const char *const names[] = {
        "contents",         "systemInstruction", "tools", "toolConfig", "safetySettings",
        "generationConfig", "cachedContent",     "mock",  NULL,
    };
    static const char *const count_names[] = {
        "model",          "contents",         "systemInstruction", "tools", "toolConfig",
        "safetySettings", "generationConfig", "cachedContent",     NULL,
    };
    json_object *sys = mock_gem_get(body, "systemInstruction");

    if (mock_gem_names(c, body, in_count ? "generate_content_request" : "",
                       in_count ? count_names : names) < 0 ||
        mock_gem_contents(c, mock_gem_get(body, "contents")) < 0 ||
        (sys != NULL && mock_gem_content(c, sys, "system_instruction", 1) < 0) ||
        mock_gem_tools(c, mock_gem_get(body, "tools")) < 0 ||
        mock_gem_tool_config(c, mock_gem_get(body, "toolConfig")) < 0)
        return -1;
    return mock_gem_generation(c, mock_gem_get(body, "generationConfig"));
}

/* ------------------------------------------------------------------ */
/* Reading the request                                                */
/* ------------------------------------------------------------------ */

/* Count the words of the text parts of a Content. */
static long
mock_gem_words(json_object *content)
{
    json_object *parts = mock_gem_get(content, "parts");
    long n = 0;

    for (size_t j = 0;
         json_object_is_type(parts, json_type_array) && j < json_object_array_length(parts); j++) {
        json_object *text = mock_gem_get(json_object_array_get_idx(parts, j), "text");
        if (json_object_is_type(text, json_type_string))
            n += mock_json_words(text);
    }
    return n;
}

/* The prompt tokens: the words of the systemInstruction and the contents. */
static long
mock_gem_prompt_tokens(json_object *body)
{
    json_object *contents = mock_gem_get(body, "contents");
    long n = mock_gem_words(mock_gem_get(body, "systemInstruction"));

    for (size_t i = 0;
         json_object_is_type(contents, json_type_array) && i < json_object_array_length(contents);
         i++)
        n += mock_gem_words(json_object_array_get_idx(contents, i));
    return n;
}

/* Parse a generateContent or streamGenerateContent request: the reply is
 * text or one functionCall (sent whole, in one event); a maxOutputTokens
 * below chunks cuts the text short. */
static int
mock_gem_parse(struct mock_call *c, json_object *body)
{
    json_object *max;

    if (mock_gem_check_body(c, body, 0) < 0)
        return -1;
    c->model = c->param;
    c->model_len = strlen(c->param);
    c->prompt_tokens = mock_gem_prompt_tokens(body);
    if (c->stream && !c->sse)
        c->stream_type = "application/json";
    mock_tool_use(c, 1);
    max = mock_gem_get(mock_gem_get(body, "generationConfig"), "maxOutputTokens");
    if (!c->tool && max != NULL && json_object_get_int64(max) > 0 &&
        json_object_get_int64(max) < c->ctl.chunks) {
        c->npieces = (long)json_object_get_int64(max);
        c->out_tokens = c->npieces;
        c->finish = MOCK_FIN_LENGTH;
    }
    return 0;
}

/* Parse a countTokens request: contents, or a whole generateContentRequest. */
static int
mock_gem_count_parse(struct mock_call *c, json_object *body)
{
    static const char *const names[] = {"contents", "generateContentRequest", "mock", NULL};
    json_object *gcr = mock_gem_get(body, "generateContentRequest");

    if (mock_gem_names(c, body, "", names) < 0)
        return -1;
    if (gcr != NULL) {
        if (mock_gem_check_body(c, gcr, 1) < 0)
            return -1;
        c->prompt_tokens = mock_gem_prompt_tokens(gcr);
        return 0;
    }
    if (mock_gem_contents(c, mock_gem_get(body, "contents")) < 0)
        return -1;
    c->prompt_tokens = mock_gem_prompt_tokens(body);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Responses                                                          */
/* ------------------------------------------------------------------ */

/* Append usageMetadata: the prompt only (stream chunks before the last),
 * or all of it.  Zero counts are left out. */
static void
mock_gem_usage(const struct mock_call *c, int full, struct evbuffer *out)
{
    long cand = full ? c->out_tokens : 0;
    const char *sep = "";

    MOCK_LIT(out, "\"usageMetadata\":{");
    if (c->prompt_tokens > 0) {
        evbuffer_add_printf(out, "\"promptTokenCount\":%ld", c->prompt_tokens);
        sep = ",";
    }
    if (cand > 0) {
        evbuffer_add_printf(out, "%s\"candidatesTokenCount\":%ld", sep, cand);
        sep = ",";
    }
    if (c->prompt_tokens + cand > 0)
        evbuffer_add_printf(out, "%s\"totalTokenCount\":%ld", sep, c->prompt_tokens + cand);
    MOCK_LIT(out, "}");
}

/* Append a GenerateContentResponse: its one candidate holds piece k of
 * the text, the whole text (k < 0), or the function call; last: with the
 * finishReason and the full usageMetadata. */
static void
mock_gem_response(const struct mock_call *c, long k, int last, struct evbuffer *out)
{
    MOCK_LIT(out, "{\"candidates\":[{\"content\":{\"parts\":[");
    if (c->tool) {
        MOCK_LIT(out, "{\"functionCall\":{\"name\":");
        mock_json_cstr(out, c->tool_name);
        MOCK_LIT(out, ",\"args\":");
        evbuffer_add(out, c->text.s, c->text.len);
        MOCK_LIT(out, "}}");
    } else {
        MOCK_LIT(out, "{\"text\":");
        if (k < 0 || k >= c->npieces)
            mock_text_json(c, out);
        else
            mock_piece_json(c, k, out);
        MOCK_LIT(out, "}");
    }
    MOCK_LIT(out, "],\"role\":\"model\"}");
    if (last)
        evbuffer_add_printf(out, ",\"finishReason\":\"%s\"",
                            c->finish == MOCK_FIN_LENGTH ? "MAX_TOKENS" : "STOP");
    MOCK_LIT(out, ",\"index\":0}],");
    mock_gem_usage(c, last, out);
    MOCK_LIT(out, ",\"modelVersion\":");
    mock_json_str(out, c->model, c->model_len);
    evbuffer_add_printf(out, ",\"responseId\":\"mock-%lu\"}", c->seq);
}

/* Append a non-stream answer. */
static void
mock_gem_body(struct mock_call *c, struct evbuffer *out)
{
    mock_gem_response(c, -1, 1, out);
}

/* Append a countTokens answer. */
static void
mock_gem_count_body(struct mock_call *c, struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"totalTokens\":%ld}", c->prompt_tokens);
}

/* Streams: one response per piece, the last with the finishReason; with
 * no piece, one final response with empty text; a JSON array ends with
 * "]". */
static void
mock_gem_frame(const struct mock_call *c, long *head, long *tail)
{
    *head = 0;
    *tail = (c->npieces == 0) + !c->sse;
}

/* Append stream event i: "data: {...}\r\n\r\n" (Google ends its events
 * with CRLF), or the array's "[" or ",\r\n" and the object, or its "]". */
static void
mock_gem_event(struct mock_call *c, long i, struct evbuffer *out)
{
    long n = c->npieces > 0 ? c->npieces : 1;

    if (i >= n) {
        MOCK_LIT(out, "]");
        return;
    }
    if (c->sse)
        MOCK_LIT(out, "data: ");
    else
        evbuffer_add(out, i == 0 ? "[" : ",\r\n", i == 0 ? 1 : 3);
    mock_gem_response(c, i, i == n - 1, out);
    if (c->sse)
        MOCK_LIT(out, "\r\n\r\n");
}

/* The stream_error control: the error a stream ends with when the model
 * is overloaded. */
static void
mock_gem_stream_error(struct mock_call *c, struct evbuffer *out)
{
    static const char err[] = "{\"error\":{\"code\":503,\"message\":\"The model is overloaded. "
                              "Please try again later.\",\"status\":\"UNAVAILABLE\"}}";

    if (c->sse) {
        MOCK_LIT(out, "data: ");
        MOCK_LIT(out, err);
        MOCK_LIT(out, "\r\n\r\n");
        return;
    }
    evbuffer_add(out, c->step == 0 ? "[" : ",\r\n", c->step == 0 ? 1 : 3);
    MOCK_LIT(out, err);
    MOCK_LIT(out, "]");
}

const struct mock_format mock_fmt_gem_generate = {
    &mock_prov_gemini, mock_gem_parse, mock_gem_body, NULL, NULL, NULL,
};
const struct mock_format mock_fmt_gem_stream = {
    &mock_prov_gemini, mock_gem_parse, mock_gem_body,
    mock_gem_frame,    mock_gem_event, mock_gem_stream_error,
};
const struct mock_format mock_fmt_gem_count = {
    &mock_prov_gemini, mock_gem_count_parse, mock_gem_count_body, NULL, NULL, NULL,
};

/* ------------------------------------------------------------------ */
/* Gemini on Vertex AI (publishers/google): the same bodies, a bearer  */
/* ------------------------------------------------------------------ */

/* The bearer token (mock_vertex.c), then the stream and ?alt=sse as the Gemini API reads them. */
static int
mock_vx_gem_check(struct mock_call *c)
{
    char *alt = mock_query(c, "alt");
    c->stream = c->fmt == &mock_fmt_vx_gem_stream;
    c->sse = alt != NULL && strcmp(alt, "sse") == 0;
    free(alt);
    return mock_vertex_bearer(c);
}

static const struct mock_provider mock_prov_vx_google = {
    "vertex",
    mock_vx_gem_check,
    mock_gem_error,
    "Invalid JSON payload received. Unexpected token.",
};

const struct mock_format mock_fmt_vx_gem_generate = {
    &mock_prov_vx_google, mock_gem_parse, mock_gem_body, NULL, NULL, NULL,
};
const struct mock_format mock_fmt_vx_gem_stream = {
    &mock_prov_vx_google, mock_gem_parse, mock_gem_body,
    mock_gem_frame,       mock_gem_event, mock_gem_stream_error,
};
