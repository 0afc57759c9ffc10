#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""seeds.py: writes the seed corpora of tests/fuzz/corpus/ that are made of
real-shaped API traffic (requests, answers, streams, errors of OpenAI,
Anthropic and Gemini; etcd v3 JSON replies). Run from tests/fuzz/ after
changing a harness's input layout; the files are committed."""
import json, os

HERE = os.path.dirname(os.path.abspath(__file__))

def put(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)

J = lambda o: json.dumps(o, separators=(",", ":"))

# ---- requests ----
OPENAI_CHAT = {"model": "gpt-4o-mini", "messages": [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "tool_choice": "auto", "temperature": 0.2, "top_p": 0.9, "max_tokens": 100, "stop": ["\n\n"],
    "response_format": {"type": "json_object"}, "user": "u-1"}
OPENAI_STREAM = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": False},
                 "messages": [{"role": "user", "content": "Hello!"}]}
OPENAI_COMPLETION = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7}
OPENAI_EMBED = {"model": "text-embedding-3-small", "input": ["The food was delicious", "ok"],
                "encoding_format": "float"}
ANTHROPIC_MSG = {"model": "claude-3-5-sonnet-20241022", "max_tokens": 1024,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather in Paris?"},
                  {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather",
                                                     "input": {"city": "Paris"}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]}],
    "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object",
               "properties": {"city": {"type": "string"}}}}],
    "tool_choice": {"type": "auto"}, "temperature": 0.5, "stop_sequences": ["END"],
    "thinking": {"type": "enabled", "budget_tokens": 2048}, "metadata": {"user_id": "u-1"}}
ANTHROPIC_STREAM = {"model": "claude-3-5-haiku-20241022", "max_tokens": 256, "stream": True,
                    "messages": [{"role": "user", "content": "Hello!"}]}
ANTHROPIC_COUNT = {"model": "claude-3-5-haiku-20241022", "messages": [{"role": "user", "content": "Hi"}]}

# ---- answers ----
OPENAI_ANSWER = {"id": "chatcmpl-AB12", "object": "chat.completion", "created": 1718000000,
    "model": "gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": {"role": "assistant",
    "content": "Hello! How can I help?", "tool_calls": [{"id": "call_1", "type": "function",
    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}], "refusal": None},
    "logprobs": None, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 19, "completion_tokens": 10,
    "total_tokens": 29, "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0}}, "system_fingerprint": "fp_1"}
ANTHROPIC_ANSWER = {"id": "msg_01XFD", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "thinking", "thinking": "Let me see", "signature": "sig"},
                {"type": "text", "text": "Hi!"},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 2095, "output_tokens": 503,
    "cache_creation_input_tokens": 10, "cache_read_input_tokens": 20}}
ANTHROPIC_COUNT_ANSWER = {"input_tokens": 14}
GEMINI_ANSWER = {"candidates": [{"content": {"parts": [{"text": "Hello"}, {"functionCall": {"name": "get_weather",
    "args": {"city": "Paris"}}}], "role": "model"}, "finishReason": "STOP", "index": 0,
    "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]}],
    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6,
    "cachedContentTokenCount": 1, "thoughtsTokenCount": 3}, "modelVersion": "gemini-1.5-flash"}
GEMINI_EMBED = {"embeddings": [{"values": [0.1, -0.2, 0.3]}, {"values": [0.0]}]}
GEMINI_COUNT = {"totalTokens": 31, "totalBillableCharacters": 96}
OPENAI_EMBED_ANSWER = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
    "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}

# ---- streams ----
def sse(events, crlf=False):
    nl = "\r\n" if crlf else "\n"
    out = ""
    for ev, data in events:
        if ev:
            out += "event: " + ev + nl
        out += "data: " + (data if isinstance(data, str) else J(data)) + nl + nl
    return out

OPENAI_SSE = sse([(None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], "usage": None}),
    (None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
    "function": {"name": "get_weather", "arguments": ""}}]}, "finish_reason": None}]}),
    (None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"P\"}"}}]},
    "finish_reason": None}]}),
    (None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": "stop"}]}),
    (None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
    "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}),
    (None, "[DONE]")])
ANTHROPIC_SSE = sse([("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message",
    "role": "assistant", "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": None,
    "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 3}}}),
    ("ping", {"type": "ping"}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
     "id": "toolu_1", "name": "get_weather", "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta",
     "partial_json": "{\"city\": \"Paris\"}"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
     "usage": {"output_tokens": 15}}),
    ("message_stop", {"type": "message_stop"})], crlf=True)
ANTHROPIC_SSE_ERR = sse([("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message",
    "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])
GEMINI_SSE = sse([(None, {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}, "index": 0}],
    "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1, "totalTokenCount": 5}}),
    (None, {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}], "role": "model"},
    "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2,
    "totalTokenCount": 6}, "modelVersion": "gemini-1.5-flash"})])
OPENAI_SSE_ERR = sse([(None, {"error": {"message": "The server had an error", "type": "server_error",
    "param": None, "code": None}})])

# ---- errors ----
OPENAI_ERR = {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": "requests",
    "param": None, "code": "rate_limit_exceeded"}}
ANTHROPIC_ERR = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
GEMINI_ERR = {"error": {"code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED",
    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}

# how: bits 0-1 op (chat, completions, embeddings, count_tokens; for an
# OpenAI client 3 is the Responses API), 2 stream,
# 3 Anthropic client, 4 target max_tokens, 5 api_version, 6 odd upstream
# model, 7 no key; in mode 3 bits 4-6 pick the status.
def prov_seeds(name, own):
    b = lambda mode, how, body: bytes([mode, how]) + (body if isinstance(body, bytes) else body.encode())
    put(name, "build_openai_chat", b(0, 0x10, J(OPENAI_CHAT)))
    put(name, "build_openai_stream", b(0, 0x04 | 0x40, J(OPENAI_STREAM)))
    put(name, "build_openai_completions", b(0, 0x01 | 0x10, J(OPENAI_COMPLETION)))
    put(name, "build_openai_embeddings", b(0, 0x02, J(OPENAI_EMBED)))
    put(name, "build_anthropic_messages", b(0, 0x08 | 0x20, J(ANTHROPIC_MSG)))
    put(name, "build_anthropic_stream", b(0, 0x08 | 0x04 | 0x80, J(ANTHROPIC_STREAM)))
    put(name, "build_anthropic_count", b(0, 0x08 | 0x03, J(ANTHROPIC_COUNT)))
    put(name, "build_spacing_kept", b(0, 0x14, '{ "messages" : [ {"role":"user","content":"x"} ] ,\n "model" : "m", "stream":true, "stream_options":null }\n'))
    answers = {"openai": [OPENAI_ANSWER, OPENAI_EMBED_ANSWER], "anthropic": [ANTHROPIC_ANSWER, ANTHROPIC_COUNT_ANSWER],
               "gemini": [GEMINI_ANSWER, GEMINI_EMBED, GEMINI_COUNT]}[own]
    for i, a in enumerate(answers):
        put(name, "response_%d" % i, b(1, i, J(a)))
        put(name, "response_%d_anthropic_client" % i, b(1, 0x08 | (3 if i else 0), J(a)))
    bad_usage = {"openai": {"choices": [], "usage": {"prompt_tokens": -5, "completion_tokens": 9223372036854775807,
                                                      "total_tokens": 1.5}},
                 "anthropic": {"type": "message", "content": [], "usage": {"input_tokens": -1,
                               "output_tokens": 9223372036854775807, "cache_read_input_tokens": "7"}},
                 "gemini": {"candidates": [], "usageMetadata": {"promptTokenCount": -3,
                            "candidatesTokenCount": 1e30, "thoughtsTokenCount": 9223372036854775807}}}[own]
    put(name, "response_bad_usage", b(1, 0, J(bad_usage)))
    stream = {"openai": OPENAI_SSE, "anthropic": ANTHROPIC_SSE, "gemini": GEMINI_SSE}[own]
    put(name, "stream", b(2, 0x04, stream))
    put(name, "stream_anthropic_client", b(2, 0x0c, stream))
    put(name, "stream_error", b(2, 0x04, {"openai": OPENAI_SSE_ERR, "anthropic": ANTHROPIC_SSE_ERR,
                                          "gemini": OPENAI_SSE_ERR}[own]))
    err = {"openai": OPENAI_ERR, "anthropic": ANTHROPIC_ERR, "gemini": GEMINI_ERR}[own]
    put(name, "error_429", b(3, 0x40, J(err)))
    put(name, "error_529_anthropic_client", b(3, 0x70 | 0x08, J(err)))
    put(name, "error_not_json", b(3, 0x50, "<html>502 Bad Gateway</html>"))

# OpenAI's Responses API (op 3, OpenAI client): a pass-through; the answer's
# and response.completed's usage, error events (API reference shapes).
RESPONSES_REQ = {"model": "gpt-4.1", "instructions": "Be brief.", "input": [
    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
    {"type": "function_call_output", "call_id": "call_1", "output": "{\"temp\":21}"}],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    "previous_response_id": "resp_0", "store": True, "max_output_tokens": 64}
RESPONSES_USAGE = {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 12},
    "output_tokens": 87, "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 123}
RESPONSES_ANSWER = {"id": "resp_1", "object": "response", "created_at": 1741476542, "status": "completed",
    "error": None, "model": "gpt-4.1-2025-04-14", "output": [{"type": "message", "id": "msg_1",
    "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Sunny",
    "annotations": []}]}], "usage": RESPONSES_USAGE}
RESPONSES_SSE = sse([
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": dict(
        RESPONSES_ANSWER, status="in_progress", output=[], usage=None)}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1,
        "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Sunny", "logprobs": []}),
    ("response.completed", {"type": "response.completed", "sequence_number": 2,
        "response": RESPONSES_ANSWER})])
RESPONSES_SSE_ERR = sse([
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": dict(
        RESPONSES_ANSWER, status="in_progress", output=[], usage=None)}),
    ("error", {"type": "error", "code": "server_error", "message": "boom", "param": None,
               "sequence_number": 1}),
    ("response.failed", {"type": "response.failed", "sequence_number": 2, "response": dict(
        RESPONSES_ANSWER, status="failed", error={"code": "rate_limit_exceeded", "message": "slow"})})])

def responses_seeds(name):
    b = lambda mode, how, body: bytes([mode, how]) + body.encode()
    put(name, "build_responses", b(0, 0x03, J(RESPONSES_REQ)))
    put(name, "build_responses_stream", b(0, 0x03 | 0x04 | 0x40, J(dict(RESPONSES_REQ, stream=True))))
    put(name, "response_responses", b(1, 0x03, J(RESPONSES_ANSWER)))
    put(name, "stream_responses", b(2, 0x07, RESPONSES_SSE))
    put(name, "stream_responses_error", b(2, 0x07, RESPONSES_SSE_ERR))

prov_seeds("prov_openai", "openai")
prov_seeds("prov_azure", "openai")
responses_seeds("prov_openai")
responses_seeds("prov_azure")
prov_seeds("prov_anthropic", "anthropic")
prov_seeds("prov_gemini", "gemini")

# jsonraw: the first byte picks the route (0 chat, 1 completions, 2
# embeddings, 3 Anthropic messages), 4 openai-compatible, 8 the target's
# max_tokens, 0x10 an upstream model that needs escapes.
def jr(fname, how, body):
    put("jsonraw", fname, bytes([how]) + body.encode())
jr("chat", 0, J(OPENAI_CHAT))
jr("chat_stream_max_tokens", 0x08, J(OPENAI_STREAM))
jr("chat_stream_no_options", 0x04 | 0x08 | 0x10, '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}')
jr("chat_stream_empty_options", 0x08, '{ "model" : "m" , "stream" : true , "stream_options" : { } , "messages" : [ { "role" : "user" , "content" : "hi" } ] }')
jr("chat_stream_null_options", 0, '{"stream_options":null,"messages":[{"role":"user","content":"a\\"b\\\\"}],"stream":true,"model":"m"}')
jr("chat_stream_usage_false", 0, '{"model":"m","stream":true,"stream_options":{"include_usage":false,"x":1},"messages":[{"role":"user","content":"hi"}]}')
jr("chat_big_numbers", 0x08, '{"model":"m","messages":[{"role":"user","content":"x"}],"seed":123456789012345678901234567890,"temperature":1e-7,"max_completion_tokens":5}')
jr("completions", 0x01 | 0x08, J(OPENAI_COMPLETION))
jr("embeddings", 0x02 | 0x08, J(OPENAI_EMBED))
jr("messages", 0x03, J(ANTHROPIC_MSG))
jr("messages_unicode", 0x03 | 0x10, '{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"\\u00e9\\ud83d\\ude00 \\/"}]}\n')

# messages: 0 /v1/messages body, 1 count_tokens body, 2 OpenAI answer, 3
# OpenAI stream, 4 OpenAI error (byte 1: the status).
def mf(fname, mode, body, how=0):
    put("messages", fname, bytes([mode, how]) + body.encode())
mf("request", 0, J(ANTHROPIC_MSG))
mf("request_stream", 0, J(ANTHROPIC_STREAM))
mf("request_bad_content", 0, '{"model":"c","max_tokens":1,"messages":[{"role":"user","content":7}]}')
mf("count_tokens", 1, J(ANTHROPIC_COUNT))
mf("answer", 2, J(OPENAI_ANSWER))
mf("stream", 3, OPENAI_SSE)
mf("error_429", 4, J(OPENAI_ERR), 5)
mf("error_529", 4, J(OPENAI_ERR), 7)

# responses: 0 a /v1/responses body, 1 an OpenAI chat answer, 2 an OpenAI
# chat stream (byte 1: +1 fail at the end, +2 usage known).
def rf(fname, mode, body, how=0):
    put("responses", fname, bytes([mode, how]) + body.encode())
rf("request", 0, J({"model": "m", "instructions": "Be brief.", "input": [
    {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                 {"type": "input_image", "image_url": "data:image/png;base64,iVBO"}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    "tool_choice": {"type": "function", "name": "get_weather"}, "max_output_tokens": 50,
    "text": {"format": {"type": "json_schema", "name": "w", "schema": {}}}, "stream": True}))
rf("request_refused", 0, J({"model": "m", "input": "hi", "previous_response_id": "resp_1"}))
rf("answer", 1, J(OPENAI_ANSWER), 2)
rf("stream", 2, OPENAI_SSE, 2)
rf("stream_failed", 2, OPENAI_SSE, 3)

# etcd: byte 0 the call (0 range, 1 get, 2 put, 3 delete, 4 watch, 5 txn; +8
# authenticate first, +16 two endpoints), then one answer per attempt, joined
# by two NUL bytes: a status byte (0-3: 200, 4: 400, 5: 401, 6: 404, 7: 503,
# 11: 429, 12: 500), a byte for the size of the body's pieces - 1, etcd's
# JSON gateway answer.
import base64
b64 = lambda s: base64.b64encode(s.encode()).decode()
HDR = {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437", "revision": "42", "raft_term": "3"}
def ea(status, body, piece=255):
    return bytes([status, piece]) + (body if isinstance(body, str) else J(body)).encode()
def ef(fname, op, status, body, piece=255, more=()):
    put("etcd", fname, b"\0\0".join([bytes([op]) + ea(status, body, piece)] + [ea(*m) for m in more]))
KV = {"key": b64("/aigw/models/m1"), "create_revision": "5", "mod_revision": "41", "version": "3",
      "value": b64(J({"name": "chat", "provider": "openai", "api_base": "https://api.openai.com/v1"}))}
RANGE = {"header": HDR, "kvs": [KV, {"key": b64("/aigw/models/m2"), "create_revision": "6", "mod_revision": "6", "version": "1"}], "count": "2"}
TOKEN_ERR = {"error": "etcdserver: invalid auth token", "code": 16, "message": "etcdserver: invalid auth token"}
ef("range", 0, 0, RANGE)
ef("range_empty", 0, 0, {"header": HDR})
ef("range_bad_base64", 0, 0, {"header": HDR, "kvs": [{"key": "!!!", "value": "@@"}]})
ef("get", 1, 0, {"header": HDR, "kvs": [KV], "count": "1"})
ef("put_ok", 2, 0, {"header": HDR, "succeeded": True, "responses": [{"response_put": {"header": {"revision": "43"}}}]})
ef("put_conflict", 2, 0, {"header": HDR, "responses": [{"response_range": {"header": {"revision": "42"}, "kvs": [KV], "count": "1"}}]})
ef("delete_ok", 3, 0, {"header": HDR, "succeeded": True, "responses": [{"response_delete_range": {"header": {"revision": "43"}, "deleted": "1"}}]})
ef("delete_missing", 3, 0, {"header": HDR, "responses": [{"response_range": {"header": {"revision": "42"}}}]})
ef("error_400", 2, 4, {"error": "etcdserver: request is too large", "code": 3, "message": "etcdserver: request is too large"})
ef("error_token", 0, 5, TOKEN_ERR)
ef("unavailable", 1, 7, "upstream connect error")
ef("auth_token_then_range", 8, 0, {"header": HDR, "token": "abc.def.123"}, more=[(0, RANGE)])
ef("auth_token_refused_reauth", 8, 0, {"header": HDR, "token": "abc.def.123"},
   more=[(4, TOKEN_ERR), (0, {"header": HDR, "token": "abc.def.456"}), (0, RANGE)])
ef("auth_not_enabled", 8 | 2, 4, {"error": "etcdserver: authentication is not enabled", "code": 9, "message": "etcdserver: authentication is not enabled"},
   more=[(0, {"header": HDR, "succeeded": True})])
ef("failover_503_then_put", 16 | 2, 7, "no leader", more=[(0, {"header": HDR, "succeeded": True})])
ef("put_500_then_conflict", 16 | 32 | 2, 12, {"error": "etcdserver: request timed out", "message": "etcdserver: request timed out"},
   more=[(0, {"header": HDR, "responses": [{"response_range": {"header": {"revision": "42"}, "kvs": [KV]}}]})])
ef("txn", 5, 0, {"header": HDR, "succeeded": True, "responses": [{"response_put": {"header": {"revision": "43"}}}]})
W = lambda o: J(o) + "\n"
ef("watch", 4, 0, W({"result": {"header": HDR, "created": True}}) + W({"result": {"header": HDR, "events": [{"kv": KV}, {"type": "DELETE", "kv": {"key": b64("/aigw/api_keys/k1"), "mod_revision": "43"}}]}}) + W({"result": {"header": HDR}}), 16)
ef("watch_compacted", 4, 0, W({"result": {"header": HDR, "created": True}}) + W({"result": {"header": HDR, "canceled": True, "compact_revision": "30", "cancel_reason": "mvcc: required revision has been compacted"}}), 7)
ef("watch_error", 4, 0, W({"error": {"grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader", "http_status": "Service Unavailable"}}))
ef("watch_crlf_split", 4, 0, W({"result": {"header": HDR, "events": [{"type": "PUT", "kv": KV}]}}).replace("\n", "\r\n"), 0)
ef("watch_auth_canceled_reauth", 8 | 4, 0, {"header": HDR, "token": "abc.def.123"},
   more=[(0, W({"result": {"header": HDR, "canceled": True, "cancel_reason": "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"}}), 31),
         (0, {"header": HDR, "token": "abc.def.456"}), (0, W({"result": {"header": HDR, "events": [{"kv": KV}]}}), 3)])

# resource: byte 0 the kind (0 Model, 1 API key), then an Admin API body.
def rf(fname, kind, body):
    put("resource", fname, bytes([kind]) + (body if isinstance(body, str) else J(body)).encode())
rf("model_simple", 0, {"name": "mock-gpt-2", "provider": "openai-compatible", "model": "mock-2", "api_base": "http://127.0.0.1:9999/v1"})
rf("model_targets", 0, {"name": "chat", "targets": [
    {"name": "stable", "provider": "openai-compatible", "api_base": "http://10.0.0.11:8000/v1", "weight": 90},
    {"name": "canary", "provider": "openai-compatible", "api_base": "http://10.0.0.12:8000/v1", "weight": 10},
    {"name": "openai", "provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-abc", "priority": -1},
    {"name": "azure", "provider": "azure-openai", "api_base": "https://x.openai.azure.com/openai/deployments/d", "api_key": "k", "api_version": "2024-06-01"},
    {"name": "claude", "provider": "anthropic", "model": "claude-3-5-haiku-20241022", "api_key": "k", "max_tokens": 4096},
    {"name": "gemini", "provider": "gemini", "model": "gemini-1.5-flash", "api_key": "k"}],
    "retries": 2, "fallback_on": ["connect", "timeout", 429, 502, 503],
    "breaker": {"failures": 3, "cooldown": "5s", "max_cooldown": "5m"},
    "limits": {"requests_per_minute": 600, "tokens_per_day": 1000000, "concurrency": 50},
    "timeouts": {"connect": "2s", "first_byte": "30s", "total": "10m", "stream_idle": "1m"}})
rf("model_masked_key", 0, {"name": "m", "provider": "openai", "api_key": "sk-...abcd"})
rf("key_plain", 1, {"name": "team-b", "key": "sk-aigw-0123456789abcdef", "allowed_models": ["mock-*", "chat"], "limits": {"requests_per_day": 10000}, "expires_at": 1893456000})
rf("key_hashed", 1, {"name": "team-c", "key_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "disabled": True})

# eventstream: byte 0 the size limit (even: 1 MiB), then AWS event-stream
# messages as Bedrock's ConverseStream sends them.
import struct, zlib
def es_msg(headers, payload):
    h = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
                 for k, v in headers)
    p = payload.encode()
    total = 16 + len(h) + len(p)
    prelude = struct.pack(">II", total, len(h))
    m = prelude + struct.pack(">I", zlib.crc32(prelude)) + h + p
    return m + struct.pack(">I", zlib.crc32(m))
def es_ev(t, o):
    return es_msg([(":event-type", t), (":content-type", "application/json"), (":message-type", "event")], J(o))
CONVERSE_STREAM = (es_ev("messageStart", {"p": "abcd", "role": "assistant"})
    + es_ev("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "ab"})
    + es_ev("contentBlockStop", {"contentBlockIndex": 0, "p": "abc"})
    + es_ev("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}, "p": "a"})
    + es_ev("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"city\":\"Paris\"}"}}, "p": "ab"})
    + es_ev("contentBlockStop", {"contentBlockIndex": 1, "p": "abc"})
    + es_ev("messageStop", {"p": "a", "stopReason": "tool_use"})
    + es_ev("metadata", {"metrics": {"latencyMs": 120}, "p": "ab", "usage": {"inputTokens": 12, "outputTokens": 9, "totalTokens": 21, "cacheReadInputTokens": 4}}))
put("eventstream", "converse_stream", b"\x00" + CONVERSE_STREAM)
put("eventstream", "converse_stream_small_limit", b"\x61" + CONVERSE_STREAM)
put("eventstream", "exception", b"\x00" + es_ev("messageStart", {"role": "assistant"}) + es_msg(
    [(":exception-type", "throttlingException"), (":content-type", "application/json"), (":message-type", "exception")],
    J({"message": "Too many requests, please wait before trying again."})))
put("eventstream", "aws_int32_header", b"\x00" + bytes([0, 0, 0, 45, 0, 0, 0, 16, 65, 196, 36, 184, 10, 101, 118, 101, 110, 116, 45, 116, 121, 112, 101,
    4, 0, 0, 160, 12, 123, 39, 102, 111, 111, 39, 58, 39, 98, 97, 114, 39, 125, 54, 244, 128, 160]))

# converse: byte 0 the mode (0 request, 1 answer, 2 stream, 3 error: then a
# status byte, the x-amzn-ErrorType, NUL, the body).
put("converse", "request", b"\x00" + J(OPENAI_CHAT).encode())
put("converse", "answer", b"\x01" + J({"output": {"message": {"role": "assistant", "content": [{"text": "Let me check."},
    {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 375, "outputTokens": 86, "totalTokens": 561,
    "cacheReadInputTokens": 100}, "metrics": {"latencyMs": 1510}}).encode())
put("converse", "stream", b"\x02" + CONVERSE_STREAM)
put("converse", "stream_exception", b"\x02" + es_ev("messageStart", {"role": "assistant"}) + es_msg(
    [(":exception-type", "throttlingException"), (":content-type", "application/json"), (":message-type", "exception")],
    J({"message": "Too many requests, please wait before trying again."})))
put("converse", "error", b"\x03\x01UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/\x00"
    + J({"message": "The security token included in the request is invalid."}).encode())

# import: the bytes of an AISIX export (`aigwctl import --from aisix -f`,
# prefix /aisix), tests/e2e/aisix_fixture.py's deployment: as an object
# {etcd key: value} (values as JSON, or as the text etcd holds), as etcd's
# range answer (`etcdctl get --prefix /aisix -w json`, base64), and the
# hostile values of tests/e2e/test_import.py.
import base64, sys
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import aisix_fixture as fx
B = lambda s: base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()
AISIX = fx.resources("https://api.openai.com/v1", "sk-proj-abc123")
def range_answer(res):
    return {"header": {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
                       "revision": "42", "raft_term": "2"},
            "kvs": [{"key": B(k), "create_revision": str(10 + i), "mod_revision": str(10 + i),
                     "version": "1", "value": B(J(v))} for i, (k, v) in enumerate(res.items())],
            "count": str(len(res))}
put("import", "export_object", json.dumps(AISIX, indent=2) + "\n")
put("import", "export_object_text_values", J({k: J(v) for k, v in AISIX.items()}))
put("import", "etcd_range_answer", J(range_answer(AISIX)))
put("import", "etcd_range_empty", J({"header": {"revision": "7"}}))
one = {k: v for k, v in AISIX.items() if "/models/m-it-1" in k or "11111111" in k}
put("import", "one_model_range", J(range_answer(one)))
put("import", "one_model_object", J(one))
M = fx.PREFIX + "/models/m-it-1"
for fname, key, value in [
        ("hostile_display_name_int", M, dict(AISIX[M], display_name=42)),
        ("hostile_rpm_huge", M, dict(AISIX[M], rate_limit={"rpm": 10 ** 30})),
        ("hostile_timeout_string", M, dict(AISIX[M], timeout="30s")),
        ("hostile_missing_pkey", M, dict(AISIX[M], provider_key_id="nope")),
        ("hostile_name_space", M, dict(AISIX[M], display_name="has space")),
        ("hostile_env", M, dict(AISIX[M], model_name="gpt-${HOME}")),
        ("hostile_same_hash", fx.PREFIX + "/api_keys/ak-9", AISIX[fx.PREFIX + "/api_keys/ak-1"]),
        ("hostile_no_api_key", fx.PREFIX + "/provider_keys/22222222-2222-2222-2222-222222222222",
         {"display_name": "deepseek", "api_base": "https://api.deepseek.com"})]:
    put("import", fname, J(dict(AISIX, **{key: value})))
put("import", "range_not_utf8", J({"kvs": [{"key": B("/aisix/models/bad"),
                                            "value": B(b'{"display_name": "caf\xe9"}')}]}))
put("import", "range_not_base64", J({"kvs": [{"key": B("/aisix/models/bad"), "value": "not base64!"}]}))
put("import", "anthropic_azure_gemini", J({
    "/aisix/provider_keys/pk-a": {"api_key": "sk-ant-1", "adapter": "anthropic"},
    "/aisix/provider_keys/pk-z": {"api_key": "az-1", "adapter": "azure-openai",
                                  "api_base": "https://x.openai.azure.com"},
    "/aisix/provider_keys/pk-g": {"api_key": "g-1", "provider": "gemini"},
    "/aisix/provider_keys/pk-b": {"api_key": "b-1", "adapter": "bedrock"},
    "/aisix/models/a": {"display_name": "claude", "model_name": "claude-3-5-sonnet", "provider_key_id": "pk-a"},
    "/aisix/models/z": {"display_name": "azure", "model_name": "gpt-4o", "provider_key_id": "pk-z"},
    "/aisix/models/g": {"display_name": "gemini", "model_name": "gemini-1.5-pro", "provider_key_id": "pk-g",
                        "provider": "gemini"},
    "/aisix/models/b": {"display_name": "bedrock", "model_name": "x", "provider_key_id": "pk-b"},
    "/aisix/models/two": {"display_name": "claude-2", "model_name": "claude-3-haiku", "provider_key_id": "pk-a",
                          "provider": "openai"},
    "/aisix/models/bad id!": {"display_name": "by-name", "model_name": "m", "provider_key_id": "pk-a"},
    "/aisix/api_keys/k": {"key_hash": fx.CLIENT_HASH.upper(), "allowed_models": ["claude*"],
                          "rate_limit": {"tpd": 1, "rpd": 2}, "disabled": False},
    "/aisix/other": 1}))
