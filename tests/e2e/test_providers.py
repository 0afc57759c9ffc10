# SPDX-License-Identifier: Apache-2.0
"""End-to-end: OpenAI-format clients in front of Anthropic, Gemini and Azure
OpenAI targets (the translations of src/prov_*.c), against the mock's
faithful routes for those APIs.

One mock, started with -k so that each provider's key must arrive in that
provider's own header, and one gateway with a model per provider:

  p-claude      anthropic     claude-up   (max_tokens: the default 4096)
  p-claude-mt   anthropic     claude-up   max_tokens 1000
  p-gemini      gemini        gemini-up
  p-azure       azure-openai  dep-1       api_version 2024-06-01
  p-azure-dv    azure-openai  dep-1       (api_version: the default 2024-10-21)
  *-badkey      the same three with a wrong provider key

A translated request cannot carry the mock's per-request controls (the
translation drops the body's "mock" member), so each case sets the mock's
default controls with POST /mock/config (Mock.controls) and clears them
after. Every case checks both sides: what the client got (exact text,
chunks, usage, errors in OpenAI's shape) and what the upstream got
(GET /mock/last: path, query, the key header, the translated body).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        MOCK_KEY, TAP, check, check_eq, check_error_body, last_body, last_header, main,
        mock_and_gateway, mock_model, mock_text, stream_text, unique_id, words)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-prov-client-0123"
BAD_PROVIDER_KEY = "wrong-provider-key-42"
AZ_VERSION = "2024-06-01"
AZ_DEFAULT_VERSION = "2024-10-21"

# The provider, its model here, the upstream model and the target's name.
PROVS = {
    "anthropic": {"model": "p-claude", "up": "claude-up"},
    "gemini": {"model": "p-gemini", "up": "gemini-up"},
    "azure-openai": {"model": "p-azure", "up": "dep-1"},
}
for _p, _v in PROVS.items():
    _v["target"] = "%s/%s" % (_p, _v["up"])

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "The time in a time zone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}},
                   "required": ["tz"]}}}
CALL = {"name": "get_weather", "input": {"city": "Paris", "unit": "celsius"}}

# The members Anthropic's Messages API takes at the top (what a translation may send).
ANTH_MEMBERS = {"model", "messages", "system", "max_tokens", "metadata", "stop_sequences",
                "stream", "temperature", "top_k", "top_p", "tools", "tool_choice", "thinking",
                "service_tier"}


def resources(mock_port):
    models = [
        mock_model(mock_port, "p-claude", "anthropic", "claude-up"),
        mock_model(mock_port, "p-claude-mt", "anthropic", "claude-up", max_tokens=1000),
        mock_model(mock_port, "p-gemini", "gemini", "gemini-up"),
        mock_model(mock_port, "p-azure", "azure-openai", "dep-1", api_version=AZ_VERSION),
        mock_model(mock_port, "p-azure-dv", "azure-openai", "dep-1"),
        mock_model(mock_port, "p-claude-badkey", "anthropic", "claude-up",
                   api_key=BAD_PROVIDER_KEY),
        mock_model(mock_port, "p-gemini-badkey", "gemini", "gemini-up",
                   api_key=BAD_PROVIDER_KEY),
        mock_model(mock_port, "p-azure-badkey", "azure-openai", "dep-1",
                   api_key=BAD_PROVIDER_KEY),
    ]
    return {"models": models, "api_keys": [{"name": "prov-client", "key": KEY}]}


def fixture():
    return mock_and_gateway(resources=resources)


# ---- helpers ----------------------------------------------------------------------

def post(env, body, path="/v1/chat/completions"):
    """POST body with the client key and a fresh x-request-id; (Response, id)."""
    rid = unique_id("prov")
    resp = env.gw.request("POST", path, body, key=KEY, headers={"x-request-id": rid})
    return resp, rid


def answer(resp, what):
    """The JSON of a 200 chat.completion with one choice."""
    check(resp.status == 200, "%s: status %d, body %r", what, resp.status, resp.body[:600])
    obj = resp.json()
    check_eq(obj.get("object"), "chat.completion", "%s: object" % what)
    check(isinstance(obj.get("id"), str) and obj["id"], "%s: no id: %r", what, obj)
    check(isinstance(obj.get("choices"), list) and len(obj["choices"]) == 1,
          "%s: not one choice: %r", what, obj)
    check_eq(obj["choices"][0].get("index"), 0, "%s: choices[0].index" % what)
    check_eq(obj["choices"][0]["message"].get("role"), "assistant", "%s: role" % what)
    return obj


def check_usage(usage, prompt, completion, what):
    check(isinstance(usage, dict), "%s: no usage object: %r", what, usage)
    got = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    check_eq(got, {"prompt_tokens": prompt, "completion_tokens": completion,
                   "total_tokens": prompt + completion}, "%s: usage" % what)


def upstream_path(prov, stream, route="chat/completions", model_up=None):
    """(path with its query, query dict) the provider's request must have."""
    up = model_up or PROVS[prov]["up"]
    if prov == "anthropic":
        return "/v1/messages", {}
    if prov == "gemini":
        if stream:
            return "/v1beta/models/%s:streamGenerateContent?alt=sse" % up, {"alt": "sse"}
        return "/v1beta/models/%s:generateContent" % up, {}
    return ("/openai/deployments/%s/%s?api-version=%s" % (up, route, AZ_VERSION),
            {"api-version": AZ_VERSION})


KEY_HEADER = {"anthropic": "x-api-key", "gemini": "x-goog-api-key", "azure-openai": "api-key"}


def check_upstream(env, prov, stream=False, what=""):
    """The mock's last request: the provider's path and query, its key in
    its own header and nowhere else, anthropic-version; returns the body."""
    last = env.mock.last()
    path, query = upstream_path(prov, stream)
    check_eq(last.get("method"), "POST", "%s upstream method" % what)
    check_eq(last.get("path"), path, "%s upstream path" % what)
    check_eq(last.get("query"), query, "%s upstream query" % what)
    check_eq(last_header(last, KEY_HEADER[prov]), MOCK_KEY, "%s upstream %s" % (
        what, KEY_HEADER[prov]))
    for other in set(KEY_HEADER.values()) - {KEY_HEADER[prov]}:
        check_eq(last_header(last, other), None, "%s upstream %s" % (what, other))
    check_eq(last_header(last, "authorization"), None, "%s upstream Authorization" % what)
    if prov == "anthropic":
        check_eq(last_header(last, "anthropic-version"), "2023-06-01",
                 "%s upstream anthropic-version" % what)
    check(KEY not in json.dumps(last), "%s: the client key reached the upstream: %r", what, last)
    return last_body(last)


def anth_text(content):
    """An Anthropic content (a string or text blocks) as one string; None
    when it holds anything but text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text"
                                         for b in content):
        return "".join(b.get("text", "") for b in content)
    return None


def blocks(content, typ):
    """The blocks of an Anthropic content of one type."""
    return [b for b in content if isinstance(b, dict) and b.get("type") == typ] \
        if isinstance(content, list) else []


def gem_text(content):
    """The text parts of a Gemini content, joined; None when it has other parts."""
    parts = (content or {}).get("parts")
    if not isinstance(parts, list) or not all(set(p) == {"text"} for p in parts):
        return None
    return "".join(p["text"] for p in parts)


def plain_messages(system, user):
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# ---- streams ----------------------------------------------------------------------

def run_stream(env, body):
    """Stream body through the gateway to its end; (Stream, request id)."""
    rid = unique_id("prov-s")
    s = env.gw.stream(body, key=KEY, headers={"x-request-id": rid})
    try:
        if s.status != 200:
            raise AssertionError("stream status %d: %r" % (s.status, s.resp.read()[:500]))
        ctype = s.headers.get("content-type", "")
        check(ctype.startswith("text/event-stream"), "content-type %r", ctype)
        s.read_all()
    finally:
        s.close()
    check(s.clean_end, "the stream's HTTP body did not end cleanly: %r (events %r)", s.error,
          s.received[-5:])
    return s, rid


def chunks_of(s):
    """The JSON chunks of a stream, in order (not [DONE])."""
    out = []
    for ev in s.received:
        if ev.is_done:
            continue
        obj = ev.json()
        check(isinstance(obj, dict), "an event that is neither JSON nor [DONE]: %r", ev)
        out.append(obj)
    return out


def check_done_last(s, what):
    ev = s.received
    check(ev and ev[-1].is_done, "%s: the stream does not end with [DONE]: %r", what, ev[-4:])
    check_eq(sum(1 for e in ev if e.is_done), 1, "%s: [DONE] events" % what)


def check_chunk_shapes(chunks, what):
    """Every chunk a chat.completion.chunk of one id (Azure's prompt filter
    chunk, which comes first and carries no choice, aside)."""
    ids = set()
    for c in chunks:
        if "prompt_filter_results" in c and c.get("choices") == []:
            continue
        check_eq(c.get("object"), "chat.completion.chunk", "%s: chunk object (%r)" % (what, c))
        check(isinstance(c.get("choices"), list), "%s: chunk without choices: %r", what, c)
        for ch in c["choices"]:
            check_eq(ch.get("index"), 0, "%s: choice index (%r)" % (what, c))
            check(isinstance(ch.get("delta"), dict), "%s: choice without delta: %r", what, c)
        ids.add(c.get("id"))
    check(len(ids) == 1 and "" not in ids and None not in ids, "%s: chunk ids %r", what, ids)


def choice_chunks(chunks):
    return [c for c in chunks if c.get("choices")]


def finish_reasons(chunks):
    return [c["choices"][0]["finish_reason"] for c in choice_chunks(chunks)
            if c["choices"][0].get("finish_reason") is not None]


def usage_chunks(chunks):
    return [c for c in chunks if c.get("choices") == [] and isinstance(c.get("usage"), dict)]


def error_chunks(chunks):
    return [c for c in chunks if isinstance(c.get("error"), dict)]


def tool_deltas(chunks):
    """Every tool_calls item of every delta, in order."""
    out = []
    for c in choice_chunks(chunks):
        out += c["choices"][0]["delta"].get("tool_calls") or []
    return out


def check_access(env, rid, what, **want):
    f = env.gw.access_line(rid)
    check_eq({k: f[k] for k in want}, want, "%s: access line (%s)" % (what, f["line"]))
    return f


# ---- the translated request, per provider -------------------------------------------

def check_plain_body(prov, body, system, user, max_tokens, sampling):
    """The upstream body of a system + user request with sampling =
    {temperature, top_p, stop} and max_tokens (None: not sent to Azure or
    Gemini)."""
    if prov == "anthropic":
        check(set(body) <= ANTH_MEMBERS, "members Anthropic does not take: %r",
              sorted(set(body) - ANTH_MEMBERS))
        check_eq(body.get("model"), "claude-up", "anthropic model")
        check_eq(anth_text(body.get("system")), system, "anthropic top-level system")
        msgs = body.get("messages")
        check(isinstance(msgs, list) and len(msgs) == 1, "anthropic messages: %r", msgs)
        check_eq((msgs[0].get("role"), anth_text(msgs[0].get("content"))), ("user", user),
                 "anthropic messages[0]")
        check_eq(body.get("max_tokens"), max_tokens, "anthropic max_tokens")
        check_eq(body.get("stop_sequences"), sampling["stop"], "anthropic stop_sequences")
        check_eq(body.get("temperature"), sampling["temperature"], "anthropic temperature")
        check_eq(body.get("top_p"), sampling["top_p"], "anthropic top_p")
        check(not body.get("stream"), "anthropic stream in a non-stream request: %r", body)
    elif prov == "gemini":
        check("model" not in body, "gemini: the model belongs in the path: %r", body)
        check_eq(gem_text(body.get("systemInstruction")), system, "gemini systemInstruction")
        contents = body.get("contents")
        check(isinstance(contents, list) and len(contents) == 1, "gemini contents %r", contents)
        check_eq((contents[0].get("role"), gem_text(contents[0])), ("user", user),
                 "gemini contents[0]")
        want = {"temperature": sampling["temperature"], "topP": sampling["top_p"],
                "stopSequences": sampling["stop"]}
        if max_tokens is not None:
            want["maxOutputTokens"] = max_tokens
        check_eq(body.get("generationConfig"), want, "gemini generationConfig")
    else:
        check_eq(body.get("messages"), plain_messages(system, user), "azure messages")
        for k, v in sampling.items():
            check_eq(body.get(k), v, "azure %s" % k)
        check_eq(body.get("max_tokens"), max_tokens, "azure max_tokens")


SAMPLING = {"temperature": 0.5, "top_p": 0.9, "stop": ["END"]}


def plain_case(prov):
    info = PROVS[prov]

    def run(env):
        user = words(4)
        body = {"model": info["model"], "messages": plain_messages("be brief", user)}
        body.update(SAMPLING)
        with env.mock.controls(chunks=3):
            resp, rid = post(env, body)
            obj = answer(resp, prov)
            check_eq(obj["choices"][0]["message"].get("content"), mock_text(3), "content")
            check_eq(obj["choices"][0].get("finish_reason"), "stop", "finish_reason")
            check_eq(obj.get("model"), info["up"], "model")
            check_usage(obj.get("usage"), 6, 3, prov)
            check_eq(resp.headers.get("x-aigw-target"), info["target"], "x-aigw-target")
            up = check_upstream(env, prov, what=prov)
            check_plain_body(prov, up, "be brief", user,
                             4096 if prov == "anthropic" else None, SAMPLING)
            check_access(env, rid, prov, path="/v1/chat/completions", key="prov-client",
                         model=info["model"], target=info["target"], stream=False, status=200,
                         upstream_status=200, prompt_tokens=6, completion_tokens=3,
                         total_tokens=9, error=None)
            # The client's max_tokens, and max_completion_tokens, win over any default.
            for field, n in (("max_tokens", 77), ("max_completion_tokens", 55)):
                if prov == "azure-openai" and field == "max_completion_tokens":
                    continue
                resp, _ = post(env, dict(body, **{field: n}))
                answer(resp, "%s with %s" % (prov, field))
                up = check_upstream(env, prov, what="%s with %s" % (prov, field))
                check_plain_body(prov, up, "be brief", user, n, SAMPLING)
            if prov == "anthropic":
                # a target's own max_tokens is what a client that gave none gets
                resp, _ = post(env, dict(body, model="p-claude-mt"))
                answer(resp, "p-claude-mt")
                check_plain_body(prov, check_upstream(env, prov, what="p-claude-mt"),
                                 "be brief", user, 1000, SAMPLING)
            if prov == "azure-openai":
                resp, _ = post(env, dict(body, model="p-azure-dv"))
                answer(resp, "p-azure-dv")
                last = env.mock.last()
                check_eq(last.get("query"), {"api-version": AZ_DEFAULT_VERSION},
                         "the default api-version")
    return run


# ---- a conversation with a tool round trip --------------------------------------------

TOOL_RESULT_JSON = '{"temp":20,"sky":"sunny"}'
CONVERSATION = [
    {"role": "system", "content": "You are terse"},
    {"role": "user", "content": "weather and time in Paris"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_w", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_t", "type": "function",
         "function": {"name": "get_time", "arguments": '{"tz":"Europe/Paris"}'}}]},
    {"role": "tool", "tool_call_id": "call_w", "content": TOOL_RESULT_JSON},
    {"role": "tool", "tool_call_id": "call_t", "content": "noon"},
    {"role": "assistant", "content": "Sunny, noon."},
    {"role": "user", "content": "thanks and tomorrow"},
]
# The words the mock counts: Anthropic and OpenAI count tool results, Gemini text parts only.
CONVERSATION_WORDS = {"anthropic": 15, "azure-openai": 15, "gemini": 13}


def check_anthropic_conversation(body):
    check_eq(anth_text(body.get("system")), "You are terse", "system")
    msgs = body.get("messages") or []
    check_eq([m.get("role") for m in msgs], ["user", "assistant", "user", "assistant", "user"],
             "roles (alternating, the tool results in one user turn)")
    check_eq(anth_text(msgs[0]["content"]), "weather and time in Paris", "messages[0]")
    uses = [{k: b.get(k) for k in ("id", "name", "input")}
            for b in blocks(msgs[1]["content"], "tool_use")]
    check_eq(uses, [{"id": "call_w", "name": "get_weather", "input": {"city": "Paris"}},
                    {"id": "call_t", "name": "get_time", "input": {"tz": "Europe/Paris"}}],
             "messages[1] tool_use blocks")
    check(all(b.get("type") in ("tool_use", "text") for b in msgs[1]["content"]),
          "messages[1]: %r", msgs[1])
    results = blocks(msgs[2]["content"], "tool_result")
    check_eq(len(results), len(msgs[2]["content"]), "messages[2]: only tool results (%r)" % (
        msgs[2],))
    check_eq([(r.get("tool_use_id"), anth_text(r.get("content"))) for r in results],
             [("call_w", TOOL_RESULT_JSON), ("call_t", "noon")], "messages[2] tool_result")
    check_eq(anth_text(msgs[3]["content"]), "Sunny, noon.", "messages[3]")
    check_eq(anth_text(msgs[4]["content"]), "thanks and tomorrow", "messages[4]")
    tools = body.get("tools") or []
    check_eq([(t.get("name"), t.get("description"), t.get("input_schema")) for t in tools],
             [(x["function"]["name"], x["function"]["description"],
               x["function"]["parameters"]) for x in (WEATHER_TOOL, TIME_TOOL)], "tools")


def check_gemini_conversation(body):
    check_eq(gem_text(body.get("systemInstruction")), "You are terse", "systemInstruction")
    cs = body.get("contents") or []
    check_eq([c.get("role") for c in cs], ["user", "model", "user", "model", "user"],
             "content roles")
    check_eq(gem_text(cs[0]), "weather and time in Paris", "contents[0]")
    calls = [p.get("functionCall") for p in cs[1].get("parts", [])]
    check(all(calls), "contents[1]: only functionCall parts: %r", cs[1])
    check_eq([(c.get("name"), c.get("args")) for c in calls],
             [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "Europe/Paris"})],
             "contents[1] functionCall")
    resps = [p.get("functionResponse") for p in cs[2].get("parts", [])]
    check(all(resps), "contents[2]: only functionResponse parts: %r", cs[2])
    check_eq([r.get("name") for r in resps], ["get_weather", "get_time"],
             "contents[2] functionResponse names (found by tool_call_id)")
    check_eq(resps[0].get("response"), json.loads(TOOL_RESULT_JSON),
             "a JSON object result is the response itself")
    check(isinstance(resps[1].get("response"), dict) and
          "noon" in json.dumps(resps[1]["response"]),
          "a text result in an object: %r", resps[1])
    check_eq(gem_text(cs[3]), "Sunny, noon.", "contents[3]")
    check_eq(gem_text(cs[4]), "thanks and tomorrow", "contents[4]")
    decls = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    check_eq([(d.get("name"), d.get("description"),
               d.get("parameters") or d.get("parametersJsonSchema")) for d in decls],
             [(x["function"]["name"], x["function"]["description"],
               x["function"]["parameters"]) for x in (WEATHER_TOOL, TIME_TOOL)],
             "functionDeclarations")


def conversation_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": CONVERSATION,
                "tools": [WEATHER_TOOL, TIME_TOOL]}
        with env.mock.controls(chunks=2):
            resp, _ = post(env, body)
            obj = answer(resp, prov)
            check_eq(obj["choices"][0]["message"].get("content"), mock_text(2), "content")
            check_usage(obj.get("usage"), CONVERSATION_WORDS[prov], 2, prov)
            up = check_upstream(env, prov, what=prov)
        if prov == "anthropic":
            check_anthropic_conversation(up)
        elif prov == "gemini":
            check_gemini_conversation(up)
        else:
            check_eq(up.get("messages"), CONVERSATION, "azure messages")
            check_eq(up.get("tools"), [WEATHER_TOOL, TIME_TOOL], "azure tools")
    return run


# ---- what SDKs send: developer, same-role turns, images, parts, tool_choice ------------

PNG_B64 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
           "AAAABJRU5ErkJggg==")
DETAILS = [
    {"role": "developer", "content": "dev says"},
    {"role": "user", "content": "first"},
    {"role": "user", "content": [{"type": "text", "text": "second"}, {
        "type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}}]},
    # as the SDKs send it: an empty content beside the calls
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "cold"}]},
    {"role": "user", "content": "ok"},
]
# tool_choice -> Anthropic's tool_choice, Gemini's functionCallingConfig
TOOL_CHOICES = [
    ("auto", {"type": "auto"}, {"mode": "AUTO"}),
    ("none", {"type": "none"}, {"mode": "NONE"}),
    ("required", {"type": "any"}, {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"type": "tool", "name": "get_weather"},
     {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
]


def details_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": DETAILS, "tools": [WEATHER_TOOL],
                "stop": "END", "user": "u-1"}
        with env.mock.controls(chunks=1):
            resp, _ = post(env, body)
            check_usage(answer(resp, prov).get("usage"), 6 if prov == "anthropic" else 5, 1,
                        prov)
            up = check_upstream(env, prov, what=prov)
            if prov == "anthropic":
                check_eq(anth_text(up.get("system")), "dev says", "developer -> system")
                msgs = up.get("messages") or []
                check_eq([m.get("role") for m in msgs], ["user", "assistant", "user"],
                         "roles (the two user turns merged)")
                first = msgs[0]["content"]
                check_eq([b.get("text") for b in blocks(first, "text")], ["first", "second"],
                         "the merged user texts")
                check_eq([b.get("source") for b in blocks(first, "image")],
                         [{"type": "base64", "media_type": "image/png", "data": PNG_B64}],
                         "the image")
                check_eq([(b.get("type"), b.get("id"), b.get("name"), b.get("input"))
                          for b in msgs[1]["content"]],
                         [("tool_use", "c1", "get_weather", {"city": "Oslo"})],
                         "the assistant turn (no empty text block)")
                last = msgs[2]["content"]
                check_eq([(b.get("type"), b.get("tool_use_id"), anth_text(b.get("content")))
                          for b in blocks(last, "tool_result")], [("tool_result", "c1", "cold")],
                         "the tool result")
                check_eq([b.get("text") for b in blocks(last, "text")], ["ok"],
                         "the user's text after it")
                check_eq(up.get("stop_sequences"), ["END"], "stop (a string) -> stop_sequences")
                check_eq(up.get("metadata"), {"user_id": "u-1"}, "user -> metadata.user_id")
            else:
                cs = up.get("contents") or []
                check_eq([c.get("role") for c in cs], ["user", "model", "user"],
                         "roles (the two user turns merged)")
                check_eq(cs[0].get("parts"), [{"text": "first"}, {"text": "second"}, {
                    "inlineData": {"mimeType": "image/png", "data": PNG_B64}}],
                    "the merged user parts")
                check_eq(cs[1].get("parts"), [{"functionCall": {
                    "name": "get_weather", "args": {"city": "Oslo"}}}],
                    "the model turn (no empty text part)")
                fr = [p["functionResponse"] for p in cs[2].get("parts") or []
                      if "functionResponse" in p]
                check_eq([r.get("name") for r in fr], ["get_weather"], "functionResponse")
                check("cold" in json.dumps(fr[0].get("response")), "the result: %r", fr)
                check_eq([p.get("text") for p in cs[2]["parts"] if "text" in p], ["ok"],
                         "the user's text after it")
                check_eq((up.get("generationConfig") or {}).get("stopSequences"), ["END"],
                         "stop (a string) -> stopSequences")
            for choice, anth, gem in TOOL_CHOICES:
                resp, _ = post(env, {"model": info["model"], "tools": [WEATHER_TOOL],
                                     "tool_choice": choice,
                                     "messages": [{"role": "user", "content": "x"}]})
                answer(resp, "tool_choice %r" % (choice,))
                up = last_body(env.mock.last())
                if prov == "anthropic":
                    check_eq(up.get("tool_choice"), anth, "tool_choice %r" % (choice,))
                else:
                    check_eq((up.get("toolConfig") or {}).get("functionCallingConfig"), gem,
                             "tool_choice %r" % (choice,))
    return run


# ---- tool calls in the answer ------------------------------------------------------

def tool_call_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": [{"role": "user", "content": "weather?"}],
                "tools": [WEATHER_TOOL]}
        with env.mock.controls(chunks=3, tool_call=CALL):
            resp, _ = post(env, body)
        obj = answer(resp, prov)
        ch = obj["choices"][0]
        check_eq(ch.get("finish_reason"), "tool_calls", "finish_reason")
        msg = ch["message"]
        check(msg.get("content") is None, "content of a tool call answer: %r", msg)
        calls = msg.get("tool_calls")
        check(isinstance(calls, list) and len(calls) == 1, "tool_calls: %r", msg)
        c = calls[0]
        check(isinstance(c.get("id"), str) and c["id"], "tool call id: %r", c)
        check_eq(c.get("type"), "function", "tool call type")
        check_eq(c["function"].get("name"), CALL["name"], "tool call name")
        args = c["function"].get("arguments")
        check(isinstance(args, str), "arguments are not JSON text: %r", args)
        check_eq(json.loads(args), CALL["input"], "tool call arguments")
        check_usage(obj.get("usage"), 1, 3, prov)
    return run


def tool_stream_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": [{"role": "user", "content": "weather?"}],
                "tools": [WEATHER_TOOL], "stream": True,
                "stream_options": {"include_usage": True}}
        with env.mock.controls(chunks=3, tool_call=CALL):
            s, _ = run_stream(env, body)
        chunks = chunks_of(s)
        check_done_last(s, prov)
        check_chunk_shapes(chunks, prov)
        check_eq(error_chunks(chunks), [], "error chunks")
        deltas = tool_deltas(chunks)
        check(deltas, "no tool_calls deltas in %r", chunks)
        check_eq(sorted({d.get("index") for d in deltas}), [0], "tool call indexes")
        first = deltas[0]
        check(isinstance(first.get("id"), str) and first["id"], "first delta's id: %r", first)
        check_eq(first.get("type"), "function", "first delta's type")
        check_eq(first.get("function", {}).get("name"), CALL["name"], "first delta's name")
        check(all("id" not in d and "name" not in d.get("function", {}) for d in deltas[1:]),
              "id or name repeated after the first delta: %r", deltas)
        joined = "".join(d.get("function", {}).get("arguments", "") for d in deltas)
        check_eq(json.loads(joined), CALL["input"], "joined arguments (%r)" % joined)
        check_eq(finish_reasons(chunks), ["tool_calls"], "finish reasons")
        check_eq(stream_text(s.received), "", "text in a tool call stream")
        u = usage_chunks(chunks)
        check_eq(len(u), 1, "usage chunks")
        check_usage(u[0]["usage"], 1, 3, prov)
    return run


# ---- text streams --------------------------------------------------------------------

def stream_case(prov, include_usage):
    info = PROVS[prov]

    def run(env):
        user = words(5)
        body = {"model": info["model"], "messages": [{"role": "user", "content": user}],
                "stream": True}
        if include_usage:
            body["stream_options"] = {"include_usage": True}
        with env.mock.controls(chunks=4):
            s, rid = run_stream(env, body)
            up = check_upstream(env, prov, stream=True, what=prov)
        chunks = chunks_of(s)
        check_done_last(s, prov)
        check_chunk_shapes(chunks, prov)
        check_eq(error_chunks(chunks), [], "error chunks")
        check_eq(stream_text(s.received), mock_text(4), "joined text")
        cc = choice_chunks(chunks)
        check_eq(cc[0]["choices"][0]["delta"].get("role"), "assistant", "first delta's role")
        check_eq(finish_reasons(chunks), ["stop"], "finish reasons")
        last_choice = max(i for i, c in enumerate(chunks) if c.get("choices"))
        check_eq(cc[-1]["choices"][0].get("finish_reason"), "stop",
                 "the finish chunk is the last with a choice")
        u = usage_chunks(chunks)
        if include_usage:
            check_eq(len(u), 1, "usage chunks")
            check(chunks.index(u[0]) > last_choice, "the usage chunk before the finish")
            check_eq(chunks.index(u[0]), len(chunks) - 1, "the usage chunk is the last")
            check_usage(u[0]["usage"], 5, 4, prov)
        else:
            check_eq(u, [], "usage chunks nobody asked for")
            with_usage = [c for c in chunks if "usage" in c]
            check_eq(with_usage, [], "chunks with a usage member")
        if prov == "anthropic":
            check_eq(up.get("stream"), True, "anthropic stream")
        elif prov == "azure-openai":
            check_eq(up.get("stream"), True, "azure stream")
            check_eq(up.get("stream_options"), {"include_usage": True},
                     "azure stream_options (usage is always asked for)")
        check_access(env, rid, prov, stream=True, status=200, prompt_tokens=5,
                     completion_tokens=4, total_tokens=9, error=None)
    return run


def cut_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": [{"role": "user", "content": "a b c"}],
                "max_tokens": 2}
        with env.mock.controls(chunks=5):
            resp, _ = post(env, body)
            obj = answer(resp, prov)
            check_eq(obj["choices"][0]["message"].get("content"), mock_text(2), "cut content")
            check_eq(obj["choices"][0].get("finish_reason"), "length", "finish_reason")
            check_usage(obj.get("usage"), 3, 2, prov)
            s, _ = run_stream(env, dict(body, stream=True,
                                        stream_options={"include_usage": True}))
        chunks = chunks_of(s)
        check_done_last(s, prov + " stream")
        check_eq(stream_text(s.received), mock_text(2), "cut stream text")
        check_eq(finish_reasons(chunks), ["length"], "stream finish reasons")
        u = usage_chunks(chunks)
        check_eq(len(u), 1, "usage chunks")
        check_usage(u[0]["usage"], 3, 2, prov + " stream")
    return run


# ---- errors ---------------------------------------------------------------------------

# status the mock sends -> (status the client gets, error.type, error.code)
ERRORS = {
    "anthropic": {400: (400, "invalid_request_error", "invalid_request_error"),
                  429: (429, "rate_limit_error", "rate_limit_error"),
                  500: (500, "server_error", "api_error"),
                  529: (503, "server_error", "overloaded_error")},
    "gemini": {400: (400, "invalid_request_error", "INVALID_ARGUMENT"),
               429: (429, "rate_limit_error", "RESOURCE_EXHAUSTED"),
               500: (500, "server_error", "INTERNAL"),
               503: (503, "server_error", "UNAVAILABLE")},
    # Azure's errors but the 400 carry no type: whatever the gateway makes
    # of them, the client must get OpenAI's shape (type is checked present).
    "azure-openai": {400: (400, "mock_error", "mock_400"),
                     429: (429, None, "429"),
                     500: (500, None, "500"),
                     503: (503, None, "503")},
}


def error_case(prov, upstream_status):
    info = PROVS[prov]
    status, typ, code = ERRORS[prov][upstream_status]

    def run(env):
        body = {"model": info["model"], "messages": [{"role": "user", "content": "hi"}]}
        controls = {"status": upstream_status}
        if upstream_status == 429:
            controls["retry_after"] = "7"
        with env.mock.controls(**controls):
            for stream in (False, True):
                what = "%s %d%s" % (prov, upstream_status, " (stream)" if stream else "")
                b = dict(body, stream=True) if stream else body
                resp, rid = post(env, b)
                err = check_error_body(resp, status, what)
                check_eq(err["message"], "mock error status %d" % upstream_status,
                         "%s: message" % what)
                if typ is not None:
                    check_eq(err["type"], typ, "%s: type" % what)
                check_eq(err["code"], code, "%s: code" % what)
                check_eq(resp.headers.get("retry-after"),
                         "7" if upstream_status == 429 else None, "%s: Retry-After" % what)
                # an error before any event: a JSON answer, not a stream
                check_access(env, rid, what, status=status, upstream_status=upstream_status,
                             error="upstream_status", stream=False, prompt_tokens=0,
                             completion_tokens=0)
                check_upstream(env, prov, stream=stream, what=what)
    return run


BAD_KEY = {
    # Anthropic answers 401; Google answers a bad key with 400 INVALID_ARGUMENT
    # (never 401); Azure 401.
    "anthropic": (401, "authentication_error", "invalid x-api-key"),
    "gemini": (400, "invalid_request_error", "API key not valid. Please pass a valid API key."),
    "azure-openai": (401, None, None),
}


def bad_key_case(prov):
    def run(env):
        status, typ, message = BAD_KEY[prov]
        resp, rid = post(env, {"model": PROVS[prov]["model"] + "-badkey",
                               "messages": [{"role": "user", "content": "hi"}]})
        err = check_error_body(resp, status, prov)
        if typ is not None:
            check_eq(err["type"], typ, "type")
        if message is not None:
            check_eq(err["message"], message, "message")
        else:
            check("invalid subscription key" in err["message"], "message %r", err["message"])
        check(BAD_PROVIDER_KEY not in resp.body.decode() and KEY not in resp.body.decode(),
              "a key in the error body: %r", resp.body)
        check_eq(last_header(env.mock.last(), KEY_HEADER[prov]), BAD_PROVIDER_KEY,
                 "the target's key, in its header")
        check_access(env, rid, prov, status=status, upstream_status=status,
                     error="upstream_status")
    return run


# message of the error event the mock sends mid-stream
STREAM_ERROR_MESSAGE = {
    "anthropic": "Overloaded",
    "gemini": "The model is overloaded. Please try again later.",
    "azure-openai": "The server had an error while processing your request. Sorry about that!",
}


def stream_error_case(prov):
    info = PROVS[prov]

    def run(env):
        body = {"model": info["model"], "messages": [{"role": "user", "content": "one two"}],
                "stream": True, "stream_options": {"include_usage": True}}
        with env.mock.controls(chunks=4, stream_error=2):
            s, rid = run_stream(env, body)
        chunks = chunks_of(s)
        check(not any(e.is_done for e in s.received), "[DONE] after an error: %r",
              s.received[-3:])
        check_eq(stream_text(s.received), mock_text(2), "text before the error")
        errs = error_chunks(chunks)
        check_eq(len(errs), 1, "error events")
        check(chunks[-1] is errs[0], "the error event is not the last: %r", chunks[-3:])
        e = errs[0]["error"]
        check_eq(e.get("message"), STREAM_ERROR_MESSAGE[prov], "error message")
        check(isinstance(e.get("type"), str) and e["type"], "error type: %r", e)
        check_eq(e.get("code"), "upstream_stream_error", "error code")
        check_eq(finish_reasons(chunks), [], "finish reasons of a broken stream")
        f = check_access(env, rid, prov, stream=True, status=200, upstream_status=200,
                         error="upstream_stream_error")
        check(f["prompt_tokens"] in (0, 2) and f["completion_tokens"] <= 2 and
              f["total_tokens"] == f["prompt_tokens"] + f["completion_tokens"],
              "usage of a broken stream: %s", f["line"])
    return run


# ---- cases --------------------------------------------------------------------------------

for _prov in PROVS:
    tap.case("%s: text, not streamed: exact answer and usage; the upstream's path, key "
             "header and translated body" % _prov)(plain_case(_prov))
for _prov in PROVS:
    tap.case("%s: system, assistant turns and two tool calls with their results "
             "translated, alternation kept" % _prov)(conversation_case(_prov))
for _prov in ("anthropic", "gemini"):
    tap.case("%s: developer, same-role turns merged, an image, an empty content beside "
             "tool calls, a tool result in parts, stop, user, tool_choice" % _prov)(
        details_case(_prov))
for _prov in PROVS:
    tap.case("%s: a tool call answer: tool_calls with the exact name and arguments, "
             "finish_reason tool_calls" % _prov)(tool_call_case(_prov))
for _prov in PROVS:
    tap.case("%s: a streamed tool call: arguments joined equal the input" % _prov)(
        tool_stream_case(_prov))
for _prov in PROVS:
    tap.case("%s: stream with include_usage: exact text, chunk shapes, one last usage "
             "chunk, [DONE] last" % _prov)(stream_case(_prov, True))
    tap.case("%s: stream without include_usage: no usage anywhere, tokens still "
             "counted" % _prov)(stream_case(_prov, False))
for _prov in ("anthropic", "gemini"):
    tap.case("%s: a max_tokens cut: finish_reason length (stream and not)" % _prov)(
        cut_case(_prov))
for _prov in PROVS:
    for _st in ERRORS[_prov]:
        tap.case("%s: upstream %d: OpenAI's error shape, status %d (stream and not)" % (
            _prov, _st, ERRORS[_prov][_st][0]))(error_case(_prov, _st))
for _prov in PROVS:
    tap.case("%s: a wrong provider key: the upstream's refusal in OpenAI's shape, no key "
             "shown" % _prov)(bad_key_case(_prov))
for _prov in PROVS:
    tap.case("%s: an error event mid-stream: an error event, no [DONE], the access line "
             "sane" % _prov)(stream_error_case(_prov))


@tap.case("routes a provider lacks: 400 unsupported_by_provider, nothing sent upstream")
def _(env):
    for model, path, body in (
            ("p-claude", "/v1/embeddings", {"input": "a b"}),
            ("p-gemini", "/v1/embeddings", {"input": "a b"}),
            ("p-claude", "/v1/completions", {"prompt": "a b"}),
            ("p-gemini", "/v1/completions", {"prompt": "a b"})):
        before = env.mock.requests()
        resp, rid = post(env, dict(body, model=model), path=path)
        what = "%s to %s" % (path, model)
        err = check_error_body(resp, 400, what)
        check_eq(err["code"], "unsupported_by_provider", "%s: code" % what)
        check_eq(err["type"], "invalid_request_error", "%s: type" % what)
        check_eq(env.mock.requests(), before, "%s: upstream requests" % what)
        check_access(env, rid, what, status=400, error="unsupported_by_provider")


@tap.case("azure-openai: embeddings go to the deployment's /embeddings with api-version")
def _(env):
    resp, _ = post(env, {"model": "p-azure", "input": ["a b", "c"]}, path="/v1/embeddings")
    check(resp.status == 200, "status %d: %r", resp.status, resp.body[:300])
    check_eq(len(resp.json().get("data") or []), 2, "embeddings")
    last = env.mock.last()
    check_eq(last.get("path"), "/openai/deployments/dep-1/embeddings?api-version=" +
             AZ_VERSION, "upstream path")
    check_eq(last_header(last, "api-key"), MOCK_KEY, "api-key")


@tap.case("what a target cannot express is a 400 naming the field, nothing sent upstream")
def _(env):
    for model, extra, field in (("p-claude", {"n": 2}, "n"),
                                ("p-claude", {"logprobs": True}, "logprobs"),
                                ("p-claude", {"temperature": 1.5}, "temperature"),
                                ("p-gemini", {"logprobs": True}, "logprobs")):
        before = env.mock.requests()
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        body.update(extra)
        resp, _ = post(env, body)
        what = "%s with %s" % (model, field)
        err = check_error_body(resp, 400, what)
        check_eq(err["code"], "unsupported_by_provider", "%s: code" % what)
        check(field in err["message"], "%s: the message does not name %s: %r", what, field,
              err["message"])
        check_eq(env.mock.requests(), before, "%s: upstream requests" % what)


if __name__ == "__main__":
    main(tap, fixture)
