# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the mock upstream's Anthropic, Gemini and Azure OpenAI routes,
talked to directly (no aigw), and the tool_call and stream_error controls.

The gateway's translations (issue 6) are tested against these routes, so
here the routes are held to the real APIs' shapes: Anthropic's event order
and error types, Gemini's CRLF-framed events and usageMetadata, Azure's
api-version, api-key and content filter chunks. When a translation test
fails, this file tells whether the mock is to blame.
"""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Mock, Stream, check, check_eq, main, request)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()
KEY = "mock-provider-key"
ANTH = "/v1/messages"
ANTH_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
GEM = "/v1beta/models/gemini-2.0-flash"
AZ = "/openai/deployments/my-gpt4o"
AZ_Q = "?api-version=2024-10-21"
WEATHER = {"name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}
ANTH_EVENTS_HEAD = ["message_start", "content_block_start", "ping"]
ANTH_EVENTS_TAIL = ["content_block_stop", "message_delta", "message_stop"]


class fixture:
    """One mock with a key (-k), one without."""

    def __enter__(self):
        self.keyed = Mock(key=KEY)
        try:
            self.open = Mock()
        except BaseException:
            self.keyed.stop()
            raise
        return Env(mock=self.keyed, open=self.open)

    def __exit__(self, *exc):
        self.open.stop()
        self.keyed.stop()


def anth_body(content="hello there world", mock=None, **extra):
    body = {"model": "claude-mock", "max_tokens": 100,
            "messages": [{"role": "user", "content": content}]}
    if mock:
        body["mock"] = mock
    body.update(extra)
    return body


def anth(env, body, headers=None, path=ANTH):
    hdrs = dict(ANTH_HEADERS)
    hdrs.update(headers or {})
    return request(env.mock.port, "POST", path, body, headers={
        k: v for k, v in hdrs.items() if v is not None})


def anth_stream(env, body):
    body = dict(body, stream=True)
    with Stream(env.mock.port, ANTH, body, headers=ANTH_HEADERS) as s:
        check_eq(s.status, 200, "stream status")
        check(s.headers.get("content-type", "").startswith("text/event-stream"),
              "stream content-type %r", s.headers.get("content-type"))
        s.read_all()
        check(s.clean_end, "the stream did not end cleanly: %r", s.error)
        return s


def anth_error(resp, status, etype, what, message=None):
    """resp is Anthropic's error of the given status and type."""
    check(resp.status == status, "%s: status %d, expected %d: %r", what, resp.status, status,
          resp.body[:300])
    obj = resp.json()
    check_eq(obj.get("type"), "error", what + ": top-level type")
    check_eq(obj["error"].get("type"), etype, what + ": error.type")
    check(isinstance(obj["error"].get("message"), str), "%s: no message: %r", what, obj)
    check(str(obj.get("request_id", "")).startswith("req_"), "%s: request_id %r", what, obj)
    if message is not None:
        check(message in obj["error"]["message"], "%s: message %r lacks %r", what,
              obj["error"]["message"], message)
    return obj


def gem(env, op, body, key=KEY, query="", headers=None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["x-goog-api-key"] = key
    return request(env.mock.port, "POST", "%s:%s%s" % (GEM, op, query), body, headers=hdrs)


def gem_body(text="hello there world", mock=None, **extra):
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if mock:
        body["mock"] = mock
    body.update(extra)
    return body


def gem_error(resp, code, status, what, message=None):
    check(resp.status == code, "%s: status %d, expected %d: %r", what, resp.status, code,
          resp.body[:300])
    obj = resp.json()
    if isinstance(obj, list):
        obj = obj[0]
    err = obj.get("error") or {}
    check_eq((err.get("code"), err.get("status")), (code, status), what + ": code and status")
    if message is not None:
        check(message in err.get("message", ""), "%s: message %r lacks %r", what,
              err.get("message"), message)
    return err


def az(env, op, body, key=KEY, query=AZ_Q, headers=None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["api-key"] = key
    return request(env.mock.port, "POST", "%s/%s%s" % (AZ, op, query), body, headers=hdrs)


def raw_exchange(port, path, body, headers, timeout=3.0 * SLOW):
    """One POST on a raw socket, read to EOF, reset or timeout:
    (bytes, 'eof' | 'reset' | 'timeout')."""
    data = json.dumps(body).encode()
    head = "".join("%s: %s\r\n" % kv for kv in headers.items())
    s = socket.create_connection((HOST, port), timeout=timeout)
    got = b""
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                       path, HOST, head, len(data))).encode() + data)
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            except socket.timeout:
                return got, "timeout"
            if not chunk:
                return got, "eof"
            got += chunk
    finally:
        s.close()


# --------------------------------------------------------------------------
# Anthropic
# --------------------------------------------------------------------------

@tap.case("anthropic: a non-stream message: its exact shape, usage from words, request-id")
def _(env):
    r = anth(env, anth_body(system="be brief", mock={"chunks": 3}))
    check_eq(r.status, 200, "status")
    check(r.headers.get("request-id", "").startswith("req_"), "request-id %r",
          r.headers.get("request-id"))
    obj = r.json()
    check(obj.pop("id", "").startswith("msg_"), "id is not msg_...: %r", obj)
    check_eq(obj, {"type": "message", "role": "assistant", "model": "claude-mock",
                   "content": [{"type": "text", "text": "tok0 tok1 tok2"}],
                   "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 5, "output_tokens": 3}}, "message")


@tap.case("anthropic: input_tokens count system blocks, text blocks and tool results; "
          "count_tokens agrees")
def _(env):
    body = anth_body(
        system=[{"type": "text", "text": "one two"}, {"type": "text", "text": "three"}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "four five"},
                                         {"type": "image", "source": {
                                             "type": "base64", "media_type": "image/png",
                                             "data": "iVBORw0KGgo="}}]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "six"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                 "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "seven eight"},
                {"type": "text", "text": "nine"}]}],
        tools=[{"name": "get_weather", "description": "weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        tool_choice={"type": "auto"}, stop_sequences=["END"], temperature=0.5, top_p=0.9,
        top_k=5, metadata={"user_id": "u1"}, mock={"chunks": 1})
    r = anth(env, body)
    check_eq(r.status, 200, "status of a full, valid request (body %r)" % r.body[:300])
    check_eq(r.json()["usage"], {"input_tokens": 9, "output_tokens": 1}, "usage")
    count = dict(body)
    for k in ("max_tokens", "stop_sequences", "temperature", "top_p", "top_k", "metadata"):
        del count[k]
    r = anth(env, count, path=ANTH + "/count_tokens")
    check_eq((r.status, r.json()), (200, {"input_tokens": 9}), "count_tokens")
    r = anth(env, dict(count, max_tokens=5), path=ANTH + "/count_tokens")
    anth_error(r, 400, "invalid_request_error", "count_tokens with max_tokens",
               "max_tokens: Extra inputs are not permitted")


@tap.case("anthropic: a stream's exact event order, each event named as its data's type")
def _(env):
    s = anth_stream(env, anth_body(mock={"chunks": 3}))
    names = [ev.event for ev in s.received]
    check_eq(names, ANTH_EVENTS_HEAD + ["content_block_delta"] * 3 + ANTH_EVENTS_TAIL,
             "event names")
    datas = [ev.json() for ev in s.received]
    check_eq([d.get("type") for d in datas], names, "data types")
    check(s.raw.startswith(b"event: message_start\ndata: {") and b"\r" not in s.raw,
          "framing is not 'event: ...\\ndata: ...\\n\\n': %r", s.raw[:80])
    msg = datas[0]["message"]
    check_eq((msg["role"], msg["content"], msg["stop_reason"], msg["usage"]),
             ("assistant", [], None, {"input_tokens": 3, "output_tokens": 1}), "message_start")
    check_eq(datas[1]["content_block"], {"type": "text", "text": ""}, "content_block_start")
    check_eq([d["delta"] for d in datas[3:6]],
             [{"type": "text_delta", "text": t} for t in ("tok0", " tok1", " tok2")], "deltas")
    check_eq(datas[-2], {"type": "message_delta",
                         "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                         "usage": {"output_tokens": 3}}, "message_delta")
    check_eq(datas[-1], {"type": "message_stop"}, "message_stop")


@tap.case("anthropic: tool_call: a tool_use block; streamed as input_json_delta pieces")
def _(env):
    r = anth(env, anth_body(mock={"tool_call": WEATHER, "chunks": 4}))
    obj = r.json()
    block = obj["content"][0]
    check(block.pop("id", "").startswith("toolu_"), "tool_use id: %r", obj)
    check_eq((obj["stop_reason"], obj["content"], obj["usage"]["output_tokens"]),
             ("tool_use", [{"type": "tool_use", "name": "get_weather",
                            "input": WEATHER["input"]}], 4), "non-stream tool_use")
    s = anth_stream(env, anth_body(mock={"tool_call": dict(WEATHER, id="toolu_fixed"),
                                         "chunks": 4}))
    datas = [ev.json() for ev in s.received]
    check_eq(datas[1]["content_block"], {"type": "tool_use", "id": "toolu_fixed",
                                         "name": "get_weather", "input": {}},
             "content_block_start")
    deltas = [d["delta"] for d in datas if d["type"] == "content_block_delta"]
    check_eq(len(deltas), 4, "input_json_delta pieces")
    check(all(d["type"] == "input_json_delta" for d in deltas), "delta types %r", deltas)
    check_eq(json.loads("".join(d["partial_json"] for d in deltas)), WEATHER["input"],
             "the pieces joined")
    check_eq(datas[-2]["delta"]["stop_reason"], "tool_use", "message_delta stop_reason")


@tap.case("anthropic: a max_tokens below chunks cuts the reply: stop_reason max_tokens")
def _(env):
    r = anth(env, anth_body(max_tokens=2, mock={"chunks": 5}))
    obj = r.json()
    check_eq((obj["content"][0]["text"], obj["stop_reason"], obj["usage"]["output_tokens"]),
             ("tok0 tok1", "max_tokens", 2), "cut reply")
    s = anth_stream(env, anth_body(max_tokens=2, mock={"chunks": 5}))
    check_eq(len([e for e in s.received if e.event == "content_block_delta"]), 2, "deltas")
    check_eq(s.received[-2].json()["delta"]["stop_reason"], "max_tokens", "stream stop_reason")


@tap.case("anthropic: the status control: each status with Anthropic's error type")
def _(env):
    for status, etype in ((400, "invalid_request_error"), (401, "authentication_error"),
                          (403, "permission_error"), (404, "not_found_error"),
                          (413, "request_too_large"), (429, "rate_limit_error"),
                          (500, "api_error"), (529, "overloaded_error"),
                          (503, "api_error"), (409, "invalid_request_error")):
        anth_error(anth(env, anth_body(mock={"status": status})), status, etype,
                   "status %d" % status)
    r = anth(env, anth_body(mock={"status": 429, "retry_after": "3"}))
    check_eq(r.headers.get("retry-after"), "3", "Retry-After on a 429")
    got, end = raw_exchange(env.mock.port, ANTH, anth_body(stream=True, mock={"status": 529}),
                            ANTH_HEADERS)
    check(got.startswith(b"HTTP/1.1 529 ") and b"event:" not in got and
          b"overloaded_error" in got, "a stream with status 529: %r", got[:300])


@tap.case("anthropic: x-api-key and anthropic-version are required; Bearer is not a key")
def _(env):
    anth_error(anth(env, anth_body(), {"x-api-key": None}), 401, "authentication_error",
               "no x-api-key", "x-api-key header is required")
    anth_error(anth(env, anth_body(), {"x-api-key": "wrong"}), 401, "authentication_error",
               "wrong x-api-key", "invalid x-api-key")
    anth_error(anth(env, anth_body(), {"x-api-key": None, "Authorization": "Bearer " + KEY}),
               401, "authentication_error", "Authorization: Bearer only")
    anth_error(anth(env, anth_body(), {"anthropic-version": None}), 400,
               "invalid_request_error", "no anthropic-version",
               "anthropic-version: header is required")
    anth_error(anth(env, anth_body(), {"anthropic-version": "2024-13-01"}), 400,
               "invalid_request_error", "unknown anthropic-version")
    r = request(env.open.port, "POST", ANTH, anth_body(),
                headers={"anthropic-version": "2023-06-01"})
    check_eq(r.status, 200, "a mock without -k takes no key")
    for ver in ("2023-01-01", "2026-10-21"):  # the latter: Anthropic's SDKs from 1.0 on
        r = anth(env, anth_body(), {"anthropic-version": ver})
        check_eq(r.status, 200, "anthropic-version %s (body %r)" % (ver, r.body[:200]))


@tap.case("anthropic: bodies Anthropic refuses get its 400 naming the problem")
def _(env):
    tool = {"name": "f", "input_schema": {"type": "object"}}
    cases = [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
         "model: Field required"),
        (dict(anth_body(), max_tokens=None), "max_tokens: Field required"),
        (anth_body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
        (anth_body(max_tokens="10"), "max_tokens: Input should be a valid integer"),
        (anth_body(messages=[]), "messages: at least one message is required"),
        (anth_body(messages=[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]),
         'roles must alternate between "user" and "assistant", but found multiple "user"'),
        (anth_body(messages=[{"role": "assistant", "content": "a"}]),
         'first message must use the "user" role'),
        (anth_body(messages=[{"role": "system", "content": "a"}]),
         "messages.0.role: Input should be 'user' or 'assistant'"),
        (anth_body(messages=[{"role": "user", "content": "a", "name": "bob"}]),
         "messages.0.name: Extra inputs are not permitted"),
        (anth_body(messages=[{"role": "user", "content": [{"type": "input_text", "text": "a"}]}]),
         "messages.0.content.0: Input tag 'input_text'"),
        (anth_body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
         "text content blocks must be non-empty"),
        (anth_body(messages=[{"role": "user", "content": ""}]),
         "messages.0: all messages must have non-empty content"),
        (anth_body(content=[{"type": "image", "source": {"type": "base64",
                                                         "media_type": "image/bmp",
                                                         "data": "x"}}]),
         "messages.0.content.0.source.media_type"),
        (anth_body(n=2), "n: Extra inputs are not permitted"),
        (anth_body(stream_options={"include_usage": True}),
         "stream_options: Extra inputs are not permitted"),
        (anth_body(system=[{"type": "image"}]), "system.0.type: Input should be 'text'"),
        (anth_body(tools=[{"name": "f"}]), "tools.0.input_schema: Field required"),
        (anth_body(tools=[{"type": "function", "function": {"name": "f"}}]),
         "tools.0.name: Field required"),
        (anth_body(tools=[{"name": "a b", "input_schema": {"type": "object"}}]),
         "tools.0.name: String should match pattern"),
        (anth_body(tools=[tool, tool]), "Tool names must be unique"),
        (anth_body(tool_choice={"type": "auto"}),
         "tool_choice may only be specified while providing tools"),
        (anth_body(tools=[tool], tool_choice={"type": "required"}),
         "tool_choice: Input tag 'required'"),
        (anth_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
        (anth_body(stream="yes"), "stream: Input should be a valid boolean"),
        (anth_body(stop_sequences="END"), "stop_sequences: Input should be a valid list"),
        (anth_body(messages=[{"role": "user", "content": "a"},
                             {"role": "assistant", "content": [
                                 {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                             {"role": "user", "content": "b"}]),
         "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
         "after: t1"),
        (anth_body(messages=[{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t9", "content": "x"}]}]),
         "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t9"),
        (anth_body(messages=[{"role": "user", "content": "a"},
                             {"role": "assistant", "content": [
                                 {"type": "tool_use", "id": "t1", "name": "f", "input": "{}"}]}]),
         "messages.1.content.0.input: Input should be a valid dictionary"),
    ]
    for body, message in cases:
        body = {k: v for k, v in body.items() if v is not None}
        anth_error(anth(env, body), 400, "invalid_request_error", "body %r" % (body,), message)
    r = request(env.mock.port, "POST", ANTH, "{not json", headers=ANTH_HEADERS)
    anth_error(r, 400, "invalid_request_error", "a body that is not JSON")


@tap.case("anthropic: a tool with eager_input_streaming (true, false, null) is taken; "
          "a non-boolean one gets Anthropic's 400")
def _(env):
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    for eager in (True, False, None):
        r = anth(env, anth_body(tools=[dict(tool, eager_input_streaming=eager)],
                                mock={"chunks": 2, "tool_call": WEATHER}))
        check_eq((r.status, r.json().get("stop_reason")), (200, "tool_use"),
                 "eager_input_streaming %r (body %r)" % (eager, r.body[:300]))
    anth_error(anth(env, anth_body(tools=[dict(tool, eager_input_streaming="yes")])), 400,
               "invalid_request_error", "eager_input_streaming 'yes'",
               "tools.0.eager_input_streaming: Input should be a valid boolean")


@tap.case("anthropic: stream_error: an overloaded_error event after N deltas, then the end")
def _(env):
    s = anth_stream(env, anth_body(mock={"chunks": 4, "stream_error": 2}))
    check_eq([ev.event for ev in s.received],
             ANTH_EVENTS_HEAD + ["content_block_delta"] * 2 + ["error"], "event names")
    check_eq(s.received[-1].json(), {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}, "the error event")


@tap.case("anthropic: delay_ms paces the events; close_after and reset_after cut the stream")
def _(env):
    s = anth_stream(env, anth_body(mock={"chunks": 3, "delay_ms": 60}))
    # Paced events cannot all have arrived before (events - 1) delays have
    # passed since the request; gaps between arrivals alone would be flaky
    # on a busy machine, where a late read takes several events at once.
    span = s.received[-1].t  # since the request
    need = 0.06 * (len(s.received) - 1) * 0.95
    check(span >= need, "%d events within %.3fs of the request: delay_ms 60 not applied (need %.3fs)",
          len(s.received), span, need)
    s = anth_stream(env, anth_body(mock={"chunks": 5, "close_after": 2}))
    check_eq([ev.event for ev in s.received], ANTH_EVENTS_HEAD + ["content_block_delta"] * 2,
             "events before close_after")
    got, end = raw_exchange(env.mock.port, ANTH, anth_body(stream=True, mock={"reset_after": 1}),
                            ANTH_HEADERS)
    check_eq((got.count(b"event: content_block_delta"), got.count(b"event: message_stop"), end),
             (1, 0, "reset"), "reset_after 1")


@tap.case("anthropic: /mock/last shows method, path, the key and version headers, the body")
def _(env):
    body = anth_body(mock={"chunks": 1})
    anth(env, body)
    last = env.mock.last()
    check_eq((last["method"], last["path"], last["query"]), ("POST", ANTH, {}), "method, path")
    check_eq((last["headers"].get("x-api-key"), last["headers"].get("anthropic-version")),
             (KEY, "2023-06-01"), "headers")
    check_eq(last["body"], body, "body")


# --------------------------------------------------------------------------
# Gemini
# --------------------------------------------------------------------------

@tap.case("gemini: generateContent: the exact shape, usageMetadata from words, the key in "
          "the header or ?key=")
def _(env):
    body = gem_body(systemInstruction={"parts": [{"text": "be brief"}]},
                    generationConfig={"maxOutputTokens": 100, "temperature": 0.5, "topP": 0.9,
                                      "stopSequences": ["END"]},
                    mock={"chunks": 3})
    want = {"candidates": [{"content": {"parts": [{"text": "tok0 tok1 tok2"}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
                              "totalTokenCount": 8},
            "modelVersion": "gemini-2.0-flash"}
    for how, r in (("x-goog-api-key", gem(env, "generateContent", body)),
                   ("?key=", gem(env, "generateContent", body, key=None, query="?key=" + KEY))):
        check_eq(r.status, 200, how + ": status")
        obj = r.json()
        check(str(obj.pop("responseId", "")), "%s: no responseId: %r", how, obj)
        check_eq(obj, want, how + ": answer")


@tap.case("gemini: streamGenerateContent?alt=sse: 'data: {...}\\r\\n\\r\\n' per piece, the last "
          "with finishReason and the full usage")
def _(env):
    r = gem(env, "streamGenerateContent", gem_body(mock={"chunks": 3}), query="?alt=sse")
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("text/event-stream"), "content-type %r",
          r.headers.get("content-type"))
    check(r.body.endswith(b"\r\n\r\n"), "the body does not end with CRLF CRLF: %r", r.body[-20:])
    events = r.body.split(b"\r\n\r\n")[:-1]
    check_eq(len(events), 3, "events")
    check(all(e.startswith(b"data: ") and b"\n" not in e for e in events),
          "events are not single 'data: ' lines: %r", events)
    objs = [json.loads(e[6:]) for e in events]
    check_eq("".join(o["candidates"][0]["content"]["parts"][0]["text"] for o in objs),
             "tok0 tok1 tok2", "the text")
    check_eq([o["candidates"][0].get("finishReason") for o in objs], [None, None, "STOP"],
             "finishReason on the last only")
    check_eq([o["usageMetadata"] for o in objs],
             [{"promptTokenCount": 3, "totalTokenCount": 3}] * 2 +
             [{"promptTokenCount": 3, "candidatesTokenCount": 3, "totalTokenCount": 6}],
             "usageMetadata")
    check(all(o["modelVersion"] == "gemini-2.0-flash" and
              o["candidates"][0]["content"]["role"] == "model" for o in objs), "%r", objs)


@tap.case("gemini: streamGenerateContent without alt=sse: one JSON array, piece by piece")
def _(env):
    r = gem(env, "streamGenerateContent", gem_body(mock={"chunks": 2}))
    check_eq(r.status, 200, "status")
    check(r.headers.get("content-type", "").startswith("application/json"), "content-type %r",
          r.headers.get("content-type"))
    arr = r.json()
    check(isinstance(arr, list) and len(arr) == 2, "not a 2-item array: %r", arr)
    check_eq([o["candidates"][0]["content"]["parts"][0]["text"] for o in arr], ["tok0", " tok1"],
             "pieces")
    check_eq(arr[-1]["candidates"][0]["finishReason"], "STOP", "finishReason")


@tap.case("gemini: tool_call: a functionCall part, in one stream event; chunks 0: one empty "
          "final event")
def _(env):
    r = gem(env, "generateContent", gem_body(mock={"tool_call": WEATHER, "chunks": 2}))
    cand = r.json()["candidates"][0]
    check_eq((cand["content"]["parts"], cand["finishReason"]),
             ([{"functionCall": {"name": "get_weather", "args": WEATHER["input"]}}], "STOP"),
             "functionCall")
    r = gem(env, "streamGenerateContent", gem_body(mock={"tool_call": WEATHER, "chunks": 2}),
            query="?alt=sse")
    events = r.body.split(b"\r\n\r\n")[:-1]
    check_eq(len(events), 1, "stream events of a function call")
    obj = json.loads(events[0][6:])
    check_eq(obj["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
             WEATHER["input"], "streamed args")
    check_eq(obj["usageMetadata"]["candidatesTokenCount"], 2, "candidatesTokenCount")
    r = gem(env, "streamGenerateContent", gem_body(mock={"chunks": 0}), query="?alt=sse")
    events = r.body.split(b"\r\n\r\n")[:-1]
    check_eq(len(events), 1, "events with chunks 0")
    obj = json.loads(events[0][6:])
    check_eq((obj["candidates"][0]["content"]["parts"], obj["candidates"][0]["finishReason"],
              obj["usageMetadata"]), ([{"text": ""}], "STOP",
                                      {"promptTokenCount": 3, "totalTokenCount": 3}),
             "the empty final event (zero counts left out)")
    r = gem(env, "generateContent", gem_body("", mock={"chunks": 0}))
    check_eq(r.json()["usageMetadata"], {}, "usageMetadata with no token at all")


@tap.case("gemini: maxOutputTokens below chunks: finishReason MAX_TOKENS; snake_case names too")
def _(env):
    r = gem(env, "generateContent", gem_body(generation_config={"max_output_tokens": 2},
                                             system_instruction={"parts": [{"text": "x y"}]},
                                             mock={"chunks": 5}))
    check_eq(r.status, 200, "status (%r)" % r.body[:200])
    obj = r.json()
    check_eq((obj["candidates"][0]["content"]["parts"][0]["text"],
              obj["candidates"][0]["finishReason"], obj["usageMetadata"]),
             ("tok0 tok1", "MAX_TOKENS",
              {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}),
             "cut reply")


@tap.case("gemini: the status control: Google's code and status; auth failures as Google "
          "gives them")
def _(env):
    for code, status in ((400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"),
                         (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
                         (429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL"), (503, "UNAVAILABLE"),
                         (504, "DEADLINE_EXCEEDED")):
        gem_error(gem(env, "generateContent", gem_body(mock={"status": code})), code, status,
                  "status %d" % code)
    r = gem(env, "streamGenerateContent", gem_body(mock={"status": 503}))
    check(isinstance(r.json(), list), "a stream's error without alt=sse is not an array: %r",
          r.body)
    gem_error(r, 503, "UNAVAILABLE", "stream error")
    gem_error(gem(env, "generateContent", gem_body(), key=None), 403, "PERMISSION_DENIED",
              "no key", "Method doesn't allow unregistered callers")
    err = gem_error(gem(env, "generateContent", gem_body(), key="wrong"), 400,
                    "INVALID_ARGUMENT", "wrong key", "API key not valid")
    check_eq(err.get("details", [{}])[0].get("reason"), "API_KEY_INVALID", "ErrorInfo reason")
    gem_error(gem(env, "generateContent", gem_body(), key=None, query="?key=wrong"), 400,
              "INVALID_ARGUMENT", "wrong ?key=")


@tap.case("gemini: bodies Google refuses get its INVALID_ARGUMENT naming the problem")
def _(env):
    decl = {"name": "f", "parameters": {"type": "object", "properties": {
        "a": {"type": "string"}}, "additionalProperties": False}}
    cases = [
        ({}, "* GenerateContentRequest.contents: contents is not specified"),
        (gem_body(temperature=1), 'Unknown name "temperature": Cannot find field.'),
        ({"contents": [{"role": "assistant", "parts": [{"text": "a"}]}]},
         "Please use a valid role: user, model."),
        ({"contents": [{"role": "user", "parts": []}]},
         "contents[0].parts: contents.parts must not be empty"),
        ({"contents": [{"parts": [{}]}]},
         "contents[0].parts[0].data: required oneof field 'data' must have one initialized"),
        ({"contents": [{"parts": [{"type": "text", "text": "a"}]}]},
         "Unknown name \"type\" at 'contents[0].parts[0]'"),
        (gem_body(generationConfig={"max_tokens": 5}),
         "Unknown name \"max_tokens\" at 'generation_config'"),
        (gem_body(generationConfig={"maxOutputTokens": "many"}),
         "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32)"),
        (gem_body(tools=[{"functionDeclarations": [decl]}]),
         "Unknown name \"additionalProperties\" at "
         "'tools[0].function_declarations[0].parameters'"),
        (gem_body(tools=[{"functionDeclarations": [{"name": "f", "parameters": {
            "type": "object", "properties": {"a": {"type": "text"}}}}]}]),
         "tools[0].function_declarations[0].parameters.properties[0].value.type"),
        (gem_body(tools=[{"functionDeclarations": [{"description": "no name"}]}]),
         "function_declarations[0].name: Name cannot be empty"),
        ({"contents": [{"parts": [{"functionCall": {"args": {}}}]}]},
         "contents[0].parts[0].function_call.name: Name cannot be empty"),
        (gem_body(toolConfig={"functionCallingConfig": {"mode": "REQUIRED"}}),
         "tool_config.function_calling_config.mode"),
    ]
    for body, message in cases:
        gem_error(gem(env, "generateContent", body), 400, "INVALID_ARGUMENT", "body %r" % (body,),
                  message)
    ok = {"contents": [
        {"role": "user", "parts": [{"text": "weather?"}, {"inline_data": {
            "mime_type": "image/png", "data": "iVBORw0KGgo="}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": "x"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 1}}}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "description": "d", "parameters": {
            "type": "OBJECT", "properties": {"a": {"type": "STRING", "enum": ["x"]}},
            "required": ["a"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "safetySettings": [], "mock": {"chunks": 1}}
    r = gem(env, "generateContent", ok)
    check_eq(r.status, 200, "a valid conversation with function calls (%r)" % r.body[:300])
    check_eq(r.json()["usageMetadata"]["promptTokenCount"], 1, "prompt tokens: text parts only")


@tap.case("gemini: countTokens; stream_error ends an SSE stream with Google's error event")
def _(env):
    r = gem(env, "countTokens", gem_body("a b c d"))
    check_eq((r.status, r.json()), (200, {"totalTokens": 4}), "countTokens")
    r = gem(env, "countTokens", {"generateContentRequest": dict(
        gem_body("a b"), model="models/gemini-2.0-flash")})
    check_eq((r.status, r.json()), (200, {"totalTokens": 2}), "countTokens of a request")
    r = gem(env, "streamGenerateContent", gem_body(mock={"chunks": 3, "stream_error": 1}),
            query="?alt=sse")
    events = r.body.split(b"\r\n\r\n")[:-1]
    check_eq(len(events), 2, "events")
    check_eq(json.loads(events[1][6:]), {"error": {
        "code": 503, "message": "The model is overloaded. Please try again later.",
        "status": "UNAVAILABLE"}}, "the error event")


@tap.case("gemini: /mock/last shows the path with its query, the query decoded, the key header")
def _(env):
    gem(env, "streamGenerateContent", gem_body(mock={"chunks": 1}), query="?alt=sse&x=a%20b")
    last = env.mock.last()
    check_eq(last["path"], GEM + ":streamGenerateContent?alt=sse&x=a%20b", "path")
    check_eq(last["query"], {"alt": "sse", "x": "a b"}, "query")
    check_eq(last["headers"].get("x-goog-api-key"), KEY, "key header")


# --------------------------------------------------------------------------
# Azure OpenAI
# --------------------------------------------------------------------------

@tap.case("azure: chat completions: the deployment is the model; content filter results")
def _(env):
    r = az(env, "chat/completions", {"messages": [{"role": "user", "content": "hello there"}],
                                     "mock": {"chunks": 2}})
    check_eq(r.status, 200, "status (%r)" % r.body[:200])
    obj = r.json()
    check_eq((obj["object"], obj["model"], obj["choices"][0]["message"],
              obj["choices"][0]["finish_reason"], obj["usage"]),
             ("chat.completion", "my-gpt4o", {"role": "assistant", "content": "tok0 tok1"},
              "stop", {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}), "answer")
    check_eq(obj["prompt_filter_results"][0]["content_filter_results"]["hate"],
             {"filtered": False, "severity": "safe"}, "prompt_filter_results")
    check("content_filter_results" in obj["choices"][0], "no content_filter_results: %r", obj)


@tap.case("azure: a chat stream starts with the prompt filter's chunk (no choice), then "
          "OpenAI's chunks")
def _(env):
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True,
            "stream_options": {"include_usage": True}, "mock": {"chunks": 2}}
    with Stream(env.mock.port, AZ + "/chat/completions" + AZ_Q, body,
                headers={"api-key": KEY}) as s:
        events = s.read_all()
    check_eq(s.status, 200, "status")
    objs = [e.json() for e in events[:-1]]
    check(events[-1].is_done, "last event is not [DONE]: %r", events[-1])
    check_eq((objs[0]["choices"], objs[0]["id"], "prompt_filter_results" in objs[0]),
             ([], "", True), "the first chunk")
    check_eq(objs[1]["choices"][0]["delta"], {"role": "assistant", "content": ""}, "role chunk")
    check_eq("".join(o["choices"][0]["delta"].get("content", "") for o in objs[2:4]),
             "tok0 tok1", "content")
    check_eq(objs[4]["choices"][0]["finish_reason"], "stop", "finish")
    check_eq((objs[5]["choices"], objs[5]["usage"]["completion_tokens"]), ([], 2), "usage chunk")
    check(all(o["model"] == "my-gpt4o" for o in objs[1:]), "model: %r", objs)


@tap.case("azure: api-version required (404 Resource not found); api-key, not Bearer; "
          "Azure's error shape")
def _(env):
    body = {"messages": [{"role": "user", "content": "hi"}]}
    for query in ("", "?api-version=latest"):
        r = az(env, "chat/completions", body, query=query)
        check_eq((r.status, r.json()), (404, {"error": {"code": "404",
                                                       "message": "Resource not found"}}),
                 "api-version %r" % query)
    r = az(env, "chat/completions", body, key=None)
    check_eq((r.status, r.json()["error"]["code"]), (401, "401"), "no api-key")
    check("missing subscription key" in r.json()["error"]["message"], "%r", r.body)
    r = az(env, "chat/completions", body, key=None, headers={"Authorization": "Bearer " + KEY})
    check_eq(r.status, 401, "Authorization: Bearer instead of api-key")
    r = az(env, "chat/completions", body, key="wrong")
    check("invalid subscription key" in r.json()["error"]["message"], "wrong key: %r", r.body)
    r = az(env, "chat/completions", dict(body, mock={"status": 429, "retry_after": "1"}))
    check_eq((r.status, r.json(), r.headers.get("retry-after")),
             (429, {"error": {"code": "429", "message": "mock error status 429"}}, "1"),
             "status 429")
    r = az(env, "chat/completions", dict(body, mock={"status": 400}))
    check_eq((r.status, r.json()["error"].get("type")), (400, "mock_error"),
             "a 400 in OpenAI's shape")
    r = az(env, "chat/completions", body, query="?api-version=2024-12-01-preview")
    check_eq(r.status, 200, "a preview api-version")


@tap.case("azure: embeddings and completions on a deployment; /mock/last shows api-version")
def _(env):
    r = az(env, "embeddings", {"input": ["a b", "c"]})
    obj = r.json()
    check_eq((r.status, obj["model"], len(obj["data"]), obj["usage"]["prompt_tokens"]),
             (200, "my-gpt4o", 2, 3), "embeddings")
    r = az(env, "completions", {"prompt": "one two", "mock": {"chunks": 1}})
    check_eq((r.status, r.json()["choices"][0]["text"], r.json()["model"]),
             (200, "tok0", "my-gpt4o"), "completions")
    last = env.mock.last()
    check_eq((last["path"], last["query"], last["headers"].get("api-key")),
             (AZ + "/completions" + AZ_Q, {"api-version": "2024-10-21"}, KEY), "last request")


# --------------------------------------------------------------------------
# OpenAI: the new controls
# --------------------------------------------------------------------------

@tap.case("openai: tool_call: a tool_calls message (finish_reason tool_calls), streamed as "
          "tool_calls deltas")
def _(env):
    body = {"model": "m", "messages": [{"role": "user", "content": "weather?"}],
            "mock": {"tool_call": WEATHER, "chunks": 3}}
    r = request(env.mock.port, "POST", "/v1/chat/completions", body, key=KEY)
    choice = r.json()["choices"][0]
    call = choice["message"]["tool_calls"][0]
    check(call.pop("id", "").startswith("call_"), "tool call id: %r", choice)
    check_eq((choice["finish_reason"], choice["message"]["content"], call["type"],
              call["function"]["name"], json.loads(call["function"]["arguments"])),
             ("tool_calls", None, "function", "get_weather", WEATHER["input"]), "message")
    with Stream(env.mock.port, "/v1/chat/completions", dict(body, stream=True), key=KEY) as s:
        objs = [e.json() for e in s.read_all() if not e.is_done]
    first = objs[0]["choices"][0]["delta"]["tool_calls"][0]
    check_eq((first["index"], first["type"], first["function"]),
             (0, "function", {"name": "get_weather", "arguments": ""}), "first delta")
    args = "".join(o["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                   for o in objs[1:4])
    check_eq(json.loads(args), WEATHER["input"], "arguments joined")
    check_eq(objs[-1]["choices"][0]["finish_reason"], "tool_calls", "finish_reason")


@tap.case("openai: embeddings with encoding_format base64: the little-endian float32s of "
          "the float answer; a bad encoding_format is refused")
def _(env):
    import base64
    import struct
    body = {"model": "m", "input": ["a b", "c"]}
    floats = request(env.mock.port, "POST", "/v1/embeddings", body, key=KEY).json()["data"]
    r = request(env.mock.port, "POST", "/v1/embeddings", dict(body, encoding_format="base64"),
                key=KEY)
    check_eq(r.status, 200, "status (body %r)" % r.body[:300])
    data = r.json()["data"]
    check_eq(len(data), 2, "embeddings")
    for want, got in zip(floats, data):
        check(isinstance(got["embedding"], str), "not a string: %r", got)
        raw = base64.b64decode(got["embedding"], validate=True)
        check_eq(len(raw), 4 * len(want["embedding"]), "bytes of embedding %d" % got["index"])
        vec = list(struct.unpack("<%df" % (len(raw) // 4), raw))
        check(all(abs(a - b) < 1e-6 for a, b in zip(vec, want["embedding"])),
              "decoded %r, floats %r", vec, want["embedding"])
    r = request(env.mock.port, "POST", "/v1/embeddings", dict(body, encoding_format="float"),
                key=KEY)
    check_eq(r.json()["data"], floats, "encoding_format float")
    r = request(env.mock.port, "POST", "/v1/embeddings", dict(body, encoding_format="hex"),
                key=KEY)
    check_eq((r.status, r.json()["error"]["message"]),
             (400, "'encoding_format' must be 'float' or 'base64'"), "encoding_format hex")


@tap.case("tool_call control: header and defaults forms; bad values refused")
def _(env):
    hdr = {"x-mock-tool-call": json.dumps({"name": "lookup"})}
    r = request(env.mock.port, "POST", "/v1/chat/completions",
                {"model": "m", "messages": [{"role": "user", "content": "x"}]}, key=KEY,
                headers=hdr)
    fn = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]
    check_eq((fn["name"], fn["arguments"]), ("lookup", "{}"), "header form, no input")
    try:
        env.mock.configure(tool_call=WEATHER)
        r = anth(env, anth_body())
        check_eq(r.json()["stop_reason"], "tool_use", "tool_call as a default")
    finally:
        env.mock.configure()
    for bad in ({"input": {}}, {"name": ""}, {"name": "f", "input": "x"}, {"name": "f", "x": 1},
                "f", 3):
        r = request(env.mock.port, "POST", "/mock/config", body={"tool_call": bad})
        check_eq(r.status, 400, "POST /mock/config tool_call %r" % (bad,))
    r = anth(env, anth_body(mock={"tool_call": {"nam": "f"}}))
    check_eq(r.status, 400, "a bad tool_call in the body")
    r = anth(env, anth_body(), headers={"x-mock-tool-call": "{not json"})
    check_eq(r.status, 400, "a bad x-mock-tool-call header")


@tap.case("openai: stream_error: an error event after N chunks, no [DONE]")
def _(env):
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}],
            "mock": {"chunks": 4, "stream_error": 1}}
    with Stream(env.mock.port, "/v1/chat/completions", body, key=KEY) as s:
        events = s.read_all()
    check_eq(len(events), 3, "role chunk, one content chunk, the error")
    check_eq(events[-1].json()["error"]["type"], "server_error", "the error event")
    check(s.clean_end and not any(e.is_done for e in events), "end: %r", events)


if __name__ == "__main__":
    main(tap, fixture)
