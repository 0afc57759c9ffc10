# SPDX-License-Identifier: Apache-2.0
"""End-to-end: Anthropic-format clients on POST /v1/messages and
/v1/messages/count_tokens (src/messages.c and the providers behind it).

One mock, started with -k so that each provider's key must arrive in that
provider's own header, and one gateway:

  m-claude   anthropic          claude-up   the client's body passed through
  m-gpt      openai-compatible  gpt-up      translated to chat completions
  m-gemini   gemini             gemini-up   translated to generateContent
  m-lim      openai-compatible  gpt-up      requests_per_minute 2
  m-slow     openai-compatible  gpt-up      first_byte timeout 1s
  keys: sk-msg-client (any model)

To an Anthropic target the body goes upstream untouched but for its model,
with the client's anthropic-version and anthropic-beta, and the answer, the
stream events and the errors come back as they came. To the others the
answer is an Anthropic message, the stream Anthropic's events in Anthropic's
order, and every error (the gateway's own too) Anthropic's
{"type":"error","error":{"type","message"}}. Limits, /metrics and the access
log count these requests as they count chat completions.

A translated request cannot carry the mock's per-request controls, so each
case sets the mock's default controls (Mock.controls) and clears them after.
"""

import http.client
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        MOCK_KEY, TAP, Stream, check, check_eq, last_body, last_header, main, minute_room,
        mock_and_gateway, mock_model, mock_text, request, scrape, unique_id, words)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-msg-client-0123"
VERSION = "2023-06-01"
HEADERS = {"x-api-key": KEY, "anthropic-version": VERSION}
MSG = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
LIMIT_RPM = 2

TARGET = {"m-claude": "anthropic/claude-up", "m-gpt": "openai-compatible/gpt-up",
          "m-gemini": "gemini/gemini-up"}
UP_MODEL = {"m-claude": "claude-up", "m-gpt": "gpt-up", "m-gemini": "gemini-up"}
PROVIDER = {"m-claude": "anthropic", "m-gpt": "openai-compatible", "m-gemini": "gemini"}
TRANSLATED = ("m-gpt", "m-gemini")

WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
CALL = {"name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}


def resources(mock_port):
    models = [
        mock_model(mock_port, "m-claude", "anthropic", "claude-up"),
        mock_model(mock_port, "m-gpt", "openai-compatible", "gpt-up"),
        mock_model(mock_port, "m-gemini", "gemini", "gemini-up"),
        mock_model(mock_port, "m-lim", "openai-compatible", "gpt-up",
                   limits={"requests_per_minute": LIMIT_RPM}),
        mock_model(mock_port, "m-slow", "openai-compatible", "gpt-up",
                   timeouts={"connect": "1s", "first_byte": "1s", "total": "10s"}),
    ]
    return {"models": models, "api_keys": [{"name": "msg-client", "key": KEY}]}


def fixture():
    return mock_and_gateway(resources=resources)


# ---- helpers ----------------------------------------------------------------------

def msg_body(model, content="hello there world", max_tokens=50, **extra):
    body = {"model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": content}]}
    body.update(extra)
    return body


def post(env, body, path=MSG, headers=None):
    """POST an Anthropic request (dict, or raw bytes) with the client's
    x-api-key and anthropic-version; (Response, request id)."""
    rid = unique_id("msg")
    hdrs = dict(HEADERS, **{"x-request-id": rid, "Content-Type": "application/json"})
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    return env.gw.request("POST", path, body, headers=hdrs), rid


def message(resp, model, what):
    """A 200 Anthropic message; returns it."""
    check(resp.status == 200, "%s: status %d, body %r", what, resp.status, resp.body[:600])
    check("application/json" in resp.headers.get("content-type", ""), "%s: content-type %r",
          what, resp.headers.get("content-type"))
    obj = resp.json()
    check_eq(obj.get("type"), "message", "%s: type" % what)
    check_eq(obj.get("role"), "assistant", "%s: role" % what)
    check(isinstance(obj.get("id"), str) and obj["id"].startswith("msg_"), "%s: id %r", what,
          obj.get("id"))
    check_eq(obj.get("model"), UP_MODEL[model], "%s: model" % what)
    check(isinstance(obj.get("content"), list), "%s: content is not a list: %r", what, obj)
    check("stop_sequence" in obj and obj["stop_sequence"] is None, "%s: stop_sequence %r",
          what, obj)
    check_eq(resp.headers.get("x-aigw-target"), TARGET[model], "%s: x-aigw-target" % what)
    return obj


def check_usage(usage, input_tokens, output_tokens, what):
    check(isinstance(usage, dict), "%s: no usage: %r", what, usage)
    check_eq((usage.get("input_tokens"), usage.get("output_tokens")),
             (input_tokens, output_tokens), "%s: usage input_tokens, output_tokens" % what)
    for k in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        check(usage.get(k, 0) == 0, "%s: %s %r", what, k, usage)


def check_anth_error(resp, status, etype, what, message_re=None):
    """Anthropic's error shape {"type":"error","error":{"type","message"}}."""
    check(resp.status == status, "%s: status %d, expected %d: %r", what, resp.status, status,
          resp.body[:500])
    check("application/json" in resp.headers.get("content-type", ""), "%s: content-type %r",
          what, resp.headers.get("content-type"))
    check(resp.headers.get("x-request-id"), "%s: no x-request-id", what)
    obj = resp.json()
    check_eq(obj.get("type"), "error", "%s: top-level type" % what)
    check(set(obj) <= {"type", "error", "request_id"}, "%s: members %r", what, sorted(obj))
    err = obj.get("error")
    check(isinstance(err, dict) and set(err) == {"type", "message"},
          "%s: error is not {type, message}: %r", what, err)
    check_eq(err["type"], etype, "%s: error.type" % what)
    check(isinstance(err["message"], str) and err["message"], "%s: empty message", what)
    if message_re is not None:
        check(re.search(message_re, err["message"]), "%s: message %r does not match %r", what,
              err["message"], message_re)
    return err


def upstream(env, model, stream=False, route="messages"):
    """The mock's last request, checked to be the provider's (path, key
    header, no client key); returns (last, body)."""
    last = env.mock.last()
    if model == "m-claude":
        path = "/v1/messages/count_tokens" if route == "count" else "/v1/messages"
        key_header = "x-api-key"
    elif model == "m-gemini":
        op = {"count": "countTokens", "messages": "streamGenerateContent?alt=sse" if stream
              else "generateContent"}[route]
        path = "/v1beta/models/gemini-up:" + op
        key_header = "x-goog-api-key"
    else:
        path = "/v1/chat/completions"
        key_header = "authorization"
    check_eq(last.get("path"), path, "upstream path")
    want = "Bearer " + MOCK_KEY if key_header == "authorization" else MOCK_KEY
    check_eq(last_header(last, key_header), want, "upstream %s" % key_header)
    check(KEY not in json.dumps(last), "the client key reached the upstream: %r", last)
    return last, last_body(last)


def check_access(env, rid, what, **want):
    f = env.gw.access_line(rid)
    check_eq({k: f[k] for k in want}, want, "%s: access line (%s)" % (what, f["line"]))
    return f


# ---- streams ----------------------------------------------------------------------

def open_stream(port, body, headers, path=MSG, rid=None):
    hdrs = dict(headers)
    if rid:
        hdrs["x-request-id"] = rid
    s = Stream(port, path, body, headers=hdrs)
    try:
        if s.status != 200:
            raise AssertionError("stream status %d: %r" % (s.status, s.resp.read()[:500]))
        ctype = s.headers.get("content-type", "")
        check(ctype.startswith("text/event-stream"), "content-type %r", ctype)
        s.read_all()
    finally:
        s.close()
    check(s.clean_end, "the stream's HTTP body did not end cleanly: %r (events %r)", s.error,
          s.received[-4:])
    return s


def run_stream(env, body, headers=None):
    """Stream body through the gateway to its end; (Stream, request id)."""
    rid = unique_id("msg-s")
    hdrs = dict(HEADERS)
    hdrs.update(headers or {})
    return open_stream(env.gw.port, dict(body, stream=True), hdrs, rid=rid), rid


def anth_events(s, what):
    """(name, data object) of every event, each named and typed alike;
    no OpenAI [DONE] in an Anthropic stream."""
    out = []
    for ev in s.received:
        check(not ev.is_done, "%s: [DONE] in an Anthropic stream", what)
        obj = ev.json()
        check(isinstance(obj, dict), "%s: event data is not a JSON object: %r", what, ev)
        check_eq(ev.event, obj.get("type"), "%s: the event's name and its data's type" % what)
        out.append((ev.event, obj))
    return out


def parse_message_stream(events, what):
    """Check Anthropic's order (pings aside): message_start, then each
    content block as content_block_start, content_block_delta...,
    content_block_stop at indexes 0, 1, ..., then message_delta and
    message_stop. Returns (message_start's message, blocks, message_delta)
    where each block is {"block": its start, "deltas": [delta, ...]}."""
    evs = [(n, o) for n, o in events if n != "ping"]
    names = [n for n, _ in evs]
    check(len(evs) >= 3 and names[0] == "message_start" and
          names[-2:] == ["message_delta", "message_stop"],
          "%s: not message_start ... message_delta, message_stop: %r", what, names)
    blocks, open_block = [], None
    for n, o in evs[1:-2]:
        if n == "content_block_start":
            check(open_block is None, "%s: a block starts inside another: %r", what, names)
            check_eq(o.get("index"), len(blocks), "%s: content_block_start index" % what)
            open_block = {"block": o.get("content_block"), "deltas": []}
        elif n == "content_block_delta":
            check(open_block is not None, "%s: a delta outside a block: %r", what, names)
            check_eq(o.get("index"), len(blocks), "%s: content_block_delta index" % what)
            open_block["deltas"].append(o.get("delta"))
        elif n == "content_block_stop":
            check(open_block is not None, "%s: a stop outside a block: %r", what, names)
            check_eq(o.get("index"), len(blocks), "%s: content_block_stop index" % what)
            blocks.append(open_block)
            open_block = None
        else:
            raise AssertionError("%s: unexpected event %s in %r" % (what, n, names))
    check(open_block is None, "%s: a block never stopped: %r", what, names)
    start = evs[0][1].get("message") or {}
    check_eq((start.get("type"), start.get("role"), start.get("content"),
              start.get("stop_reason")), ("message", "assistant", [], None),
             "%s: message_start's message" % what)
    check(str(start.get("id", "")).startswith("msg_"), "%s: message id %r", what, start)
    return start, blocks, evs[-2][1]


def stream_text(blocks):
    """The joined text_delta texts of a text block."""
    check(blocks and all(b["block"].get("type") == "text" for b in blocks),
          "not text blocks: %r", blocks)
    check(all(d.get("type") == "text_delta" for b in blocks for d in b["deltas"]),
          "deltas that are not text_delta: %r", blocks)
    return "".join(d.get("text", "") for b in blocks for d in b["deltas"])


def final_usage(start, delta):
    """(input, output) tokens as an SDK adds them up: message_start's usage
    updated by message_delta's."""
    u = dict(start.get("usage") or {})
    u.update(delta.get("usage") or {})
    return u.get("input_tokens"), u.get("output_tokens")


def normalize_ids(data):
    """The mock's counters (message and request ids) out of a text."""
    return re.sub(r"(msg_mock|req_mock|toolu_mock)\d+", r"\1N", data)


# ---- cases: an Anthropic target, passed through ---------------------------------------

@tap.case("anthropic target: the body goes upstream as the client's but for model, with "
          "the client's anthropic-version and anthropic-beta; the answer as it came")
def _(env):
    body = msg_body("m-claude", words(4), max_tokens=64, temperature=0.25, top_k=7,
                    stop_sequences=["END", "STOP"], metadata={"user_id": "u-42"},
                    system=[{"type": "text", "text": "be brief"}])
    beta = "tools-2024-04-04,prompt-caching-2024-07-31"
    with env.mock.controls(chunks=3):
        resp, rid = post(env, body, headers={"anthropic-version": "2023-01-01",
                                             "anthropic-beta": beta})
        last, up = upstream(env, "m-claude")
        direct = request(env.mock.port, "POST", MSG, dict(body, model="claude-up"),
                         headers={"x-api-key": MOCK_KEY, "anthropic-version": "2023-01-01"})
    obj = message(resp, "m-claude", "pass-through")
    check_eq(up, dict(body, model="claude-up"), "the upstream body")
    check_eq(last_header(last, "anthropic-version"), "2023-01-01", "upstream anthropic-version")
    check_eq(last_header(last, "anthropic-beta"), beta, "upstream anthropic-beta")
    check_eq(obj["content"], [{"type": "text", "text": mock_text(3)}], "content")
    check_eq(obj.get("stop_reason"), "end_turn", "stop_reason")
    check_eq(obj.get("usage"), {"input_tokens": 6, "output_tokens": 3}, "usage")
    check_eq(direct.status, 200, "the mock's own answer")
    check_eq(normalize_ids(resp.body.decode()), normalize_ids(direct.body.decode()),
             "the answer's bytes vs the mock's own")
    check_access(env, rid, "pass-through", path=MSG, key="msg-client", model="m-claude",
                 target=TARGET["m-claude"], stream=False, status=200, upstream_status=200,
                 prompt_tokens=6, completion_tokens=3, total_tokens=9, error=None)
    # without the client's anthropic-version, the target's (the default)
    resp, _ = post(env, msg_body("m-claude"), headers={"anthropic-version": None})
    message(resp, "m-claude", "no anthropic-version")
    check_eq(last_header(env.mock.last(), "anthropic-version"), VERSION,
             "the target's anthropic-version")


@tap.case("anthropic target: the body is byte-for-byte the client's but for model "
          "(whitespace, escapes and member order kept)")
def _(env):
    # as a client may send it: pretty-printed, with \\u escapes and a slash
    body = msg_body("m-claude", "h\u00e9llo / w\u00f6rld", max_tokens=32,
                    system="r\u00e9ponds")
    raw = json.dumps(body, indent=2).encode()
    with env.mock.controls(chunks=1):
        resp, _ = post(env, raw)
    message(resp, "m-claude", "pass-through")
    last, up = upstream(env, "m-claude")
    check_eq(up, dict(body, model="claude-up"), "the upstream body, parsed")
    check_eq(last_header(last, "content-length"),
             str(len(raw) - len("m-claude") + len("claude-up")),
             "upstream Content-Length (the client's %d bytes, the model's name replaced)" %
             len(raw))


@tap.case("anthropic target: a number JSON parsers cannot hold goes upstream as the client "
          "wrote it")
def _(env):
    # An integer above 2^64 in a tool's schema: a pass-through that parses
    # and writes the body again changes it (and the Content-Length with it).
    raw = (b'{"model":"m-claude","max_tokens":5,"tools":[{"name":"pick","input_schema":'
           b'{"type":"object","properties":{"n":{"type":"integer",'
           b'"maximum":123456789012345678901234567890}}}}],'
           b'"messages":[{"role":"user","content":"x"}]}')
    with env.mock.controls(chunks=1):
        resp, _ = post(env, raw)
    message(resp, "m-claude", "pass-through")
    last = upstream(env, "m-claude")[0]
    check_eq(last_header(last, "content-length"),
             str(len(raw) - len("m-claude") + len("claude-up")),
             "upstream Content-Length (the client's %d bytes, the model's name replaced)" %
             len(raw))


@tap.case("anthropic target: stream events as they came, event names kept; tokens counted")
def _(env):
    body = msg_body("m-claude", words(3), max_tokens=64)
    with env.mock.controls(chunks=4):
        s, rid = run_stream(env, body)
        up = upstream(env, "m-claude", stream=True)[1]
        direct = open_stream(env.mock.port, dict(body, model="claude-up", stream=True),
                             {"x-api-key": MOCK_KEY, "anthropic-version": VERSION})
    check_eq(up, dict(body, model="claude-up", stream=True), "the upstream body")
    got = [(e.event, normalize_ids(e.data)) for e in s.received]
    want = [(e.event, normalize_ids(e.data)) for e in direct.received]
    check_eq(got, want, "the events vs the mock's own")
    start, blocks, delta = parse_message_stream(anth_events(s, "pass-through"), "pass-through")
    check_eq(stream_text(blocks), mock_text(4), "text")
    check_access(env, rid, "pass-through stream", path=MSG, model="m-claude", stream=True,
                 status=200, prompt_tokens=3, completion_tokens=4, total_tokens=7, error=None)


@tap.case("anthropic target: errors as they came (529, 429 with Retry-After, the "
          "upstream's own 400 for a member it refuses), an error event mid-stream")
def _(env):
    for status, etype in ((529, "overloaded_error"), (429, "rate_limit_error")):
        with env.mock.controls(status=status, retry_after="9"):
            resp, rid = post(env, msg_body("m-claude"))
            direct = request(env.mock.port, "POST", MSG, msg_body("claude-up"),
                             headers={"x-api-key": MOCK_KEY, "anthropic-version": VERSION})
        err = check_anth_error(resp, status, etype, "upstream %d" % status)
        check_eq(err["message"], "mock error status %d" % status, "message")
        check_eq(normalize_ids(resp.body.decode()), normalize_ids(direct.body.decode()),
                 "the error's bytes vs the mock's own")
        check_eq(resp.headers.get("retry-after"), "9", "Retry-After")
        check_access(env, rid, "upstream %d" % status, status=status, upstream_status=status,
                     error="upstream_status")
    # a member the gateway does not know goes through; the upstream judges it
    resp, _ = post(env, msg_body("m-claude", frobnicate=True))
    check_anth_error(resp, 400, "invalid_request_error", "an unknown member",
                     r"frobnicate: Extra inputs are not permitted")
    with env.mock.controls(chunks=4, stream_error=2):
        s, rid = run_stream(env, msg_body("m-claude"))
    events = anth_events(s, "stream error")
    check_eq(events[-1], ("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}), "the last event")
    check("message_stop" not in [n for n, _ in events], "message_stop after an error")
    check_access(env, rid, "stream error", stream=True, status=200,
                 error="upstream_stream_error")


@tap.case("count_tokens: passed through to an anthropic target, countTokens for a gemini "
          "target, 400 for an openai one")
def _(env):
    body = {"model": "m-claude", "system": "x y",
            "messages": [{"role": "user", "content": "a b c"}]}
    resp, _ = post(env, body, path=COUNT)
    check(resp.status == 200, "anthropic: status %d %r", resp.status, resp.body)
    check_eq(resp.json(), {"input_tokens": 5}, "anthropic count")
    up = upstream(env, "m-claude", route="count")[1]
    check_eq(up, dict(body, model="claude-up"), "anthropic: the upstream body")

    resp, _ = post(env, dict(body, model="m-gemini"), path=COUNT)
    check(resp.status == 200, "gemini: status %d %r", resp.status, resp.body)
    check_eq(resp.json(), {"input_tokens": 5}, "gemini count")
    up = upstream(env, "m-gemini", route="count")[1]
    req = up.get("generateContentRequest", up)
    check_eq([(c.get("role"), c.get("parts")) for c in req.get("contents") or []],
             [("user", [{"text": "a b c"}])], "gemini countTokens contents")
    check_eq((req.get("systemInstruction") or {}).get("parts"), [{"text": "x y"}],
             "gemini countTokens systemInstruction")

    before = env.mock.requests()
    resp, _ = post(env, dict(body, model="m-gpt"), path=COUNT)
    check_anth_error(resp, 400, "invalid_request_error", "openai count_tokens")
    check_eq(env.mock.requests(), before, "requests sent upstream")


# ---- cases: translated targets ----------------------------------------------------------

def check_translated_body(model, up, stream):
    """The upstream body of msg_body(system, temperature, top_p, stop_sequences)."""
    if model == "m-gpt":
        check_eq(up.get("model"), "gpt-up", "model")
        check_eq(up.get("messages"), [{"role": "system", "content": "be brief"},
                                      {"role": "user", "content": words(4)}], "messages")
        check_eq((up.get("max_tokens") or up.get("max_completion_tokens")), 64, "max tokens")
        check_eq(up.get("stop"), ["END"], "stop")
        check_eq((up.get("temperature"), up.get("top_p")), (0.25, 0.5), "sampling")
        if stream:
            check_eq((up.get("stream"), up.get("stream_options")),
                     (True, {"include_usage": True}), "stream, stream_options")
        else:
            check(not up.get("stream"), "stream in a non-stream request: %r", up)
    else:
        check_eq((up.get("systemInstruction") or {}).get("parts"), [{"text": "be brief"}],
                 "systemInstruction")
        check_eq(up.get("contents"), [{"role": "user", "parts": [{"text": words(4)}]}],
                 "contents")
        check_eq(up.get("generationConfig"), {"maxOutputTokens": 64, "temperature": 0.25,
                                              "topP": 0.5, "stopSequences": ["END"]},
                 "generationConfig")


def translated_body(model):
    return msg_body(model, words(4), max_tokens=64, system="be brief", temperature=0.25,
                    top_p=0.5, stop_sequences=["END"])


def plain_case(model):
    def run(env):
        with env.mock.controls(chunks=3):
            resp, rid = post(env, translated_body(model),
                             headers={"anthropic-beta": "tools-2024-04-04"})
            last, up = upstream(env, model)
        for h in ("anthropic-version", "anthropic-beta", "x-api-key"):
            check_eq(last_header(last, h), None, "upstream %s (Anthropic's only)" % h)
        obj = message(resp, model, model)
        check_eq(obj["content"], [{"type": "text", "text": mock_text(3)}], "content")
        check_eq(obj.get("stop_reason"), "end_turn", "stop_reason")
        check_usage(obj.get("usage"), 6, 3, model)
        check_translated_body(model, up, False)
        check_access(env, rid, model, path=MSG, model=model, target=TARGET[model],
                     stream=False, status=200, prompt_tokens=6, completion_tokens=3,
                     total_tokens=9, error=None)
    return run


def stream_case(model):
    def run(env):
        with env.mock.controls(chunks=4):
            s, rid = run_stream(env, translated_body(model))
            up = upstream(env, model, stream=True)[1]
        check_translated_body(model, up, True)
        start, blocks, delta = parse_message_stream(anth_events(s, model), model)
        check_eq(len(blocks), 1, "content blocks")
        check_eq(blocks[0]["block"], {"type": "text", "text": ""}, "content_block_start")
        check_eq(stream_text(blocks), mock_text(4), "text")
        check_eq(delta.get("delta"), {"stop_reason": "end_turn", "stop_sequence": None},
                 "message_delta's delta")
        check(isinstance(delta.get("usage"), dict), "message_delta without usage: %r", delta)
        check_eq(final_usage(start, delta), (6, 4), "usage (message_start + message_delta)")
        check_access(env, rid, model, path=MSG, model=model, stream=True, status=200,
                     prompt_tokens=6, completion_tokens=4, total_tokens=10, error=None)
    return run


CONVERSATION = [
    {"role": "user", "content": "weather in Paris?"},
    {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
         "input": {"city": "Paris"}}]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
        {"type": "text", "text": "and tomorrow?"}]},
]
# the words the mock counts: OpenAI every message's content, Gemini text parts only
CONVERSATION_WORDS = {"m-gpt": 9, "m-gemini": 8}


def check_tool_request(model, up):
    if model == "m-gpt":
        msgs = up.get("messages") or []
        check_eq([m.get("role") for m in msgs], ["user", "assistant", "tool", "user"], "roles")
        a = msgs[1]
        check_eq(a.get("content"), "Let me check.", "assistant content")
        calls = a.get("tool_calls") or []
        check_eq([(c.get("id"), c.get("type"), c["function"].get("name"),
                   json.loads(c["function"].get("arguments"))) for c in calls],
                 [("toolu_1", "function", "get_weather", {"city": "Paris"})], "tool_calls")
        check_eq((msgs[2].get("tool_call_id"), msgs[2].get("content")), ("toolu_1", "sunny"),
                 "the tool message")
        check_eq(msgs[3].get("content"), "and tomorrow?", "the user's text after the result")
        check_eq(up.get("tools"), [{"type": "function", "function": {
            "name": WEATHER["name"], "description": WEATHER["description"],
            "parameters": WEATHER["input_schema"]}}], "tools")
    else:
        cs = up.get("contents") or []
        check_eq([c.get("role") for c in cs], ["user", "model", "user"], "content roles")
        parts = cs[1].get("parts") or []
        check_eq([p.get("text") for p in parts if "text" in p], ["Let me check."],
                 "model text")
        check_eq([(p["functionCall"].get("name"), p["functionCall"].get("args"))
                  for p in parts if "functionCall" in p],
                 [("get_weather", {"city": "Paris"})], "functionCall")
        parts = cs[2].get("parts") or []
        fr = [p["functionResponse"] for p in parts if "functionResponse" in p]
        check_eq([r.get("name") for r in fr], ["get_weather"], "functionResponse name")
        check("sunny" in json.dumps(fr[0].get("response")), "functionResponse: %r", fr)
        check_eq([p.get("text") for p in parts if "text" in p], ["and tomorrow?"],
                 "the user's text after the result")
        decls = [d for t in up.get("tools") or [] for d in t.get("functionDeclarations") or []]
        check_eq([(d.get("name"), d.get("description"),
                   d.get("parameters") or d.get("parametersJsonSchema")) for d in decls],
                 [(WEATHER["name"], WEATHER["description"], WEATHER["input_schema"])],
                 "functionDeclarations")


def tools_case(model):
    def run(env):
        body = {"model": model, "max_tokens": 64, "tools": [WEATHER],
                "messages": CONVERSATION}
        # tool_use and tool_result out, text back
        with env.mock.controls(chunks=2):
            resp, _ = post(env, body)
            check_tool_request(model, upstream(env, model)[1])
        obj = message(resp, model, "after a tool result")
        check_eq(obj["content"], [{"type": "text", "text": mock_text(2)}], "content")
        check_usage(obj.get("usage"), CONVERSATION_WORDS[model], 2, model)
        # a tool call back, as tool_use, streamed and not
        ask = {"model": model, "max_tokens": 64, "tools": [WEATHER],
               "messages": [{"role": "user", "content": "weather?"}]}
        with env.mock.controls(chunks=3, tool_call=CALL):
            resp, _ = post(env, ask)
            s, _ = run_stream(env, ask)
        obj = message(resp, model, "a tool call")
        check_eq(obj.get("stop_reason"), "tool_use", "stop_reason")
        check_eq(len(obj["content"]), 1, "content blocks (%r)" % obj["content"])
        use = obj["content"][0]
        check_eq((use.get("type"), use.get("name"), use.get("input")),
                 ("tool_use", CALL["name"], CALL["input"]), "the tool_use block")
        check(isinstance(use.get("id"), str) and use["id"], "tool_use id %r", use)
        check_usage(obj.get("usage"), 1, 3, model)
        start, blocks, delta = parse_message_stream(anth_events(s, model), model)
        check_eq(len(blocks), 1, "stream content blocks")
        b = blocks[0]["block"]
        check_eq((b.get("type"), b.get("name"), b.get("input")),
                 ("tool_use", CALL["name"], {}), "content_block_start's tool_use")
        check(isinstance(b.get("id"), str) and b["id"], "tool_use id %r", b)
        check(all(d.get("type") == "input_json_delta" for d in blocks[0]["deltas"]),
              "deltas: %r", blocks[0]["deltas"])
        joined = "".join(d.get("partial_json", "") for d in blocks[0]["deltas"])
        check_eq(json.loads(joined), CALL["input"], "joined partial_json (%r)" % joined)
        check_eq(delta.get("delta", {}).get("stop_reason"), "tool_use", "stream stop_reason")
        check_eq(final_usage(start, delta), (1, 3), "stream usage")
    return run


PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
# Anthropic's tool_choice -> OpenAI's tool_choice, Gemini's functionCallingConfig
TOOL_CHOICES = [
    ({"type": "auto"}, "auto", {"mode": "AUTO"}),
    ({"type": "none"}, "none", {"mode": "NONE"}),
    ({"type": "any"}, "required", {"mode": "ANY"}),
    ({"type": "tool", "name": "get_weather"},
     {"type": "function", "function": {"name": "get_weather"}},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
]


def details_case(model):
    def run(env):
        body = {"model": model, "max_tokens": 20, "metadata": {"user_id": "u-9"},
                "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
                "stop_sequences": [], "top_k": 3, "tools": [WEATHER],
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": PNG_B64}}]}]}
        with env.mock.controls(chunks=1):
            resp, _ = post(env, body)
            check_usage(message(resp, model, model).get("usage"), 3, 1, model)
            up = upstream(env, model)[1]
            if model == "m-gpt":
                check_eq(up.get("messages"), [
                    {"role": "system", "content": "one\ntwo"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url",
                         "image_url": {"url": "data:image/png;base64," + PNG_B64}}]}],
                    "messages (system blocks joined, the image as a data: URL)")
                check_eq(up.get("user"), "u-9", "metadata.user_id -> user")
                check("stop" not in up and "top_k" not in up, "stop or top_k sent: %r", up)
            else:
                check_eq((up.get("systemInstruction") or {}).get("parts"),
                         [{"text": "one\ntwo"}], "systemInstruction")
                check_eq(up.get("contents"), [{"role": "user", "parts": [
                    {"text": "look"}, {"inlineData": {"mimeType": "image/png",
                                                      "data": PNG_B64}}]}], "contents")
                check_eq(up.get("generationConfig"), {"maxOutputTokens": 20},
                         "generationConfig (no stop sequences)")
            for choice, oai, gem in TOOL_CHOICES:
                for parallel in (False, True):
                    tc = dict(choice, disable_parallel_tool_use=True) if not parallel and \
                        choice["type"] != "none" else choice
                    what = "tool_choice %r" % (tc,)
                    resp, _ = post(env, msg_body(model, "x", tools=[WEATHER], tool_choice=tc))
                    message(resp, model, what)
                    up = last_body(env.mock.last())
                    if model == "m-gpt":
                        check_eq(up.get("tool_choice"), oai, what)
                        check_eq(up.get("parallel_tool_calls"),
                                 False if tc.get("disable_parallel_tool_use") else None,
                                 "%s: parallel_tool_calls" % what)
                    else:
                        check_eq((up.get("toolConfig") or {}).get("functionCallingConfig"),
                                 gem, what)
    return run


def errors_case(model):
    # status the mock sends -> Anthropic's type the client gets
    statuses = {"m-gpt": ((400, "invalid_request_error"), (429, "rate_limit_error"),
                          (500, "api_error")),
                "m-gemini": ((400, "invalid_request_error"), (429, "rate_limit_error"),
                             (503, "overloaded_error"))}[model]
    stream_type, stream_message = {
        "m-gpt": ("api_error", "The server had an error while processing your request. "
                  "Sorry about that!"),
        "m-gemini": ("overloaded_error", "The model is overloaded. Please try again later.")
    }[model]

    def run(env):
        for status, etype in statuses:
            controls = {"status": status}
            if status == 429:
                controls["retry_after"] = "7"
            with env.mock.controls(**controls):
                for stream in (False, True):
                    what = "upstream %d%s" % (status, " (stream)" if stream else "")
                    body = msg_body(model, stream=True) if stream else msg_body(model)
                    resp, rid = post(env, body)
                    err = check_anth_error(resp, status, etype, what)
                    check_eq(err["message"], "mock error status %d" % status,
                             "%s: message" % what)
                    check_eq(resp.headers.get("retry-after"), "7" if status == 429 else None,
                             "%s: Retry-After" % what)
                    check_access(env, rid, what, path=MSG, status=status,
                                 upstream_status=status, error="upstream_status")
        with env.mock.controls(chunks=4, stream_error=2):
            s, rid = run_stream(env, msg_body(model))
        events = anth_events(s, "stream error")
        check_eq(events[-1], ("error", {"type": "error", "error": {
            "type": stream_type, "message": stream_message}}), "the last event")
        names = [n for n, _ in events]
        check("message_stop" not in names and "message_delta" not in names,
              "the message ended after an error: %r", names)
        texts = "".join(o["delta"].get("text", "") for n, o in events
                        if n == "content_block_delta")
        check_eq(texts, mock_text(2), "text before the error")
        check_access(env, rid, "stream error", stream=True, status=200,
                     error="upstream_stream_error")
    return run


for _m in TRANSLATED:
    tap.case("%s target: a valid Anthropic message (content, stop_reason, exact usage); "
             "the translated request" % PROVIDER[_m])(plain_case(_m))
    tap.case("%s target: a stream in Anthropic's exact event order, usage in "
             "message_delta" % PROVIDER[_m])(stream_case(_m))
    tap.case("%s target: system blocks, an image, metadata.user_id, no stop sequences, "
             "every tool_choice and disable_parallel_tool_use" % PROVIDER[_m])(details_case(_m))
    tap.case("%s target: tool_use and tool_result out, tool_use back (streamed and not)" %
             PROVIDER[_m])(tools_case(_m))
    tap.case("%s target: upstream errors and an error event mid-stream in Anthropic's "
             "shape" % PROVIDER[_m])(errors_case(_m))


@tap.case("gemini target: a max_tokens cut is stop_reason max_tokens (stream and not)")
def _(env):
    body = msg_body("m-gemini", "a b c", max_tokens=2)
    with env.mock.controls(chunks=5):
        resp, _ = post(env, body)
        s, _ = run_stream(env, body)
    obj = message(resp, "m-gemini", "cut")
    check_eq(obj["content"], [{"type": "text", "text": mock_text(2)}], "content")
    check_eq(obj.get("stop_reason"), "max_tokens", "stop_reason")
    check_usage(obj.get("usage"), 3, 2, "cut")
    start, blocks, delta = parse_message_stream(anth_events(s, "cut"), "cut stream")
    check_eq(stream_text(blocks), mock_text(2), "stream text")
    check_eq(delta.get("delta", {}).get("stop_reason"), "max_tokens", "stream stop_reason")
    check_eq(final_usage(start, delta), (3, 2), "stream usage")


# ---- cases: the gateway's own errors, limits, metrics ------------------------------------

@tap.case("the gateway's own errors in Anthropic's shape: 401 bad or no key, 404 unknown "
          "model, 400 missing max_tokens, empty messages, a body that is not JSON, 504")
def _(env):
    before = env.mock.requests()
    resp, rid = post(env, msg_body("m-gpt"), headers={"x-api-key": "sk-nobody-0123456"})
    check_anth_error(resp, 401, "authentication_error", "a bad key")
    check_access(env, rid, "a bad key", path=MSG, status=401)
    resp, _ = post(env, msg_body("m-gpt"), headers={"x-api-key": None})
    check_anth_error(resp, 401, "authentication_error", "no key")
    resp, _ = post(env, msg_body("no-such-model"))
    check_anth_error(resp, 404, "not_found_error", "an unknown model", r"no-such-model")
    body = msg_body("m-gpt")
    del body["max_tokens"]
    resp, _ = post(env, body)
    check_anth_error(resp, 400, "invalid_request_error", "no max_tokens", r"max_tokens")
    resp, _ = post(env, msg_body("m-claude", messages=[]))
    check_anth_error(resp, 400, "invalid_request_error", "empty messages", r"messages")
    resp, _ = post(env, b"{not json")
    check_anth_error(resp, 400, "invalid_request_error", "not JSON")
    check_eq(env.mock.requests(), before, "requests sent upstream")
    # an upstream that does not answer in time: the gateway's 504
    with env.mock.controls(first_byte_ms=1500):
        resp, rid = post(env, msg_body("m-slow"))
    check_anth_error(resp, 504, "timeout_error", "a first byte timeout")
    check_access(env, rid, "a first byte timeout", path=MSG, status=504)


@tap.case("errors answered while the request is read are in Anthropic's shape on its routes "
          "(413 request_too_large, 400 a broken body), OpenAI's on chat")
def _(env):
    class Resp:  # what check_anth_error reads
        def __init__(self, r):
            self.status, self.body = r.status, r.read()
            self.headers = {k.lower(): v for k, v in r.getheaders()}

        def json(self):
            return json.loads(self.body)

    def raw(path, headers, body=b""):
        conn = http.client.HTTPConnection("127.0.0.1", env.gw.port, timeout=10)
        try:
            conn.putrequest("POST", path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            return Resp(conn.getresponse())
        finally:
            conn.close()

    big = {"x-api-key": KEY, "Content-Type": "application/json", "Content-Length": "999999999"}
    for path in (MSG, MSG + "/count_tokens"):
        check_anth_error(raw(path, big), 413, "request_too_large", "a body beyond max_body_size")
    resp = raw("/v1/chat/completions", big)
    check_eq((resp.status, sorted(resp.json()["error"])), (413, ["code", "message", "param", "type"]),
             "chat: OpenAI's shape")
    chunked = {"x-api-key": KEY, "Content-Type": "application/json",
               "Transfer-Encoding": "chunked"}
    check_anth_error(raw(MSG, chunked, b"zz\r\n{}\r\n0\r\n\r\n"), 400,
                     "invalid_request_error", "a broken chunked body")


@tap.case("limits count /v1/messages with chat completions: the model's requests_per_minute "
          "refuses the next of either with its own shape (429, Retry-After)")
def _(env):
    minute_room(8)
    resp, _ = post(env, msg_body("m-lim"))
    check_eq(resp.status, 200, "the first (messages)")
    check_eq(resp.headers.get("x-ratelimit-limit-requests"), str(LIMIT_RPM),
             "x-ratelimit-limit-requests")
    chat = {"model": "m-lim", "messages": [{"role": "user", "content": "x"}]}
    resp = env.gw.request("POST", "/v1/chat/completions", chat, key=KEY)
    check_eq(resp.status, 200, "the second (chat)")
    resp, rid = post(env, msg_body("m-lim"))
    err = check_anth_error(resp, 429, "rate_limit_error", "the third (messages)")
    check(re.match(r"^\d+$", resp.headers.get("retry-after", "")), "Retry-After %r",
          resp.headers.get("retry-after"))
    check(KEY not in err["message"], "the key in the message")
    check_access(env, rid, "the refusal", path=MSG, status=429)
    resp = env.gw.request("POST", "/v1/chat/completions", chat, key=KEY)
    check_eq(resp.status, 429, "the fourth (chat)")
    check_eq(resp.json()["error"].get("code"), "rate_limit_exceeded", "chat's refusal code")


@tap.case("/metrics counts /v1/messages by model, provider, target and status, and its "
          "tokens exactly (translated and passed through, streamed and not)")
def _(env):
    before = scrape(env.gw)
    tokens = {}
    with env.mock.controls(chunks=3):
        for model in ("m-gpt", "m-gemini", "m-claude"):
            resp, _ = post(env, msg_body(model, words(5)))
            check_eq(resp.status, 200, "%s status" % model)
            s, _ = run_stream(env, msg_body(model, words(5)))
            parse_message_stream(anth_events(s, model), model)
            tokens[model] = (10, 6)
    after = scrape(env.gw)
    for model, (prompt, completion) in tokens.items():
        labels = {"model": model, "provider": PROVIDER[model], "target": TARGET[model],
                  "status": "200"}
        check_eq(after.get("aigw_requests_total", **labels) -
                 before.get("aigw_requests_total", **labels), 2, "requests %r" % labels)
        for typ, n in (("prompt", prompt), ("completion", completion)):
            d = after.get("aigw_tokens_total", model=model, type=typ) - \
                before.get("aigw_tokens_total", model=model, type=typ)
            check_eq(d, n, "%s %s tokens" % (model, typ))


if __name__ == "__main__":
    main(tap, fixture)
