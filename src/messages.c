/* TEMPORARY (lead's scratch, replaced by the helper's messages.c) */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "messages.h"
int msg_check(struct json_object *req, int ct, char *err, size_t n, const char **param) { return 0; }
struct json_object *msg_to_openai(struct json_object *req, char *err, size_t n) { snprintf(err, n, "todo"); return NULL; }
struct json_object *msg_from_openai(struct json_object *resp) { return NULL; }
void msg_stream_init(struct msg_stream *s, msg_emit_fn emit, void *arg) { memset(s, 0, sizeof(*s)); s->emit = emit; s->arg = arg; }
int msg_stream_chunk(struct msg_stream *s, const char *data, size_t len) { return -1; }
const char *msg_error_type(int status) { return "api_error"; }
struct json_object *msg_error_body(int status, const char *message) {
    struct json_object *o = json_object_new_object(), *e = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("error"));
    json_object_object_add(e, "type", json_object_new_string(msg_error_type(status)));
    json_object_object_add(e, "message", json_object_new_string(message));
    json_object_object_add(o, "error", e);
    return o; }
struct json_object *msg_error_from_openai(int status, struct json_object *e) { return msg_error_body(status, "x"); }
