# SPDX-License-Identifier: Apache-2.0
"""End-to-end: OpenAI's Responses API, POST /v1/responses (issue 17).

To an openai, openai-compatible or azure-openai target the body goes out as
the client wrote it but for the model's value, and the answer comes back as
it came: a response object, or the typed stream events (event: TYPE, data
with type and sequence_number) one by one, ending with response.completed.
Usage is read from the response's usage (non-stream) or from
response.completed's response.usage, into the access line and the token
limits. Azure serves it on its v1 API: /openai/v1/responses, no api-version,
the deployment as the body's model.

To an anthropic or gemini target (chat only) the request is translated to
the chat shape and then by the provider's own chat translation; the answer
comes back as a Response object, or as the typed events OpenAI sends, built
here from the chat chunks (responses_req.c, responses_out.c). What needs a
stored response (previous_response_id, store: true) is a 400 naming the
field. Those cases set the mock's controls with POST /mock/config: the
translation drops the body's "mock" (an unknown parameter there is a 400).

One mock, one aigw with one worker. Before this endpoint aigw answered 404
unknown_url to every case here; before the translation the anthropic and
gemini cases got 400 unsupported_by_provider.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, TAP, Stream, check, check_eq, check_error_body, dead_port, last_body,
        last_header, main, mock_and_gateway, mock_model, mock_text, rl_headers,
        standard_resources, words)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

DAY_LIMIT = 10 ** 6
DAY_KEY = "sk-resp-day-0001"
FREE_KEY = "sk-test-all"


def fo_target(url, name, priority, provider="openai"):
    return {"name": name, "provider": provider, "model": "mock-1", "api_base": url,
            "api_key": "${MOCK_KEY}", "priority": priority}


def resources(mock_port):
    live = "http://%s:%d/v1" % (HOST, mock_port)
    dead = "http://%s:%d/v1" % (HOST, dead_port())
    timeouts = {"connect": "1s", "first_byte": "3s", "total": "10s", "stream_idle": "3s"}
    return standard_resources(mock_port, extra_models=[
        # primary refuses connections: the request falls back to the backup
        {"name": "resp-fo", "timeouts": timeouts, "targets": [
            fo_target(dead, "primary", 1), fo_target(live, "backup", 0)]},
        # ... to an anthropic backup, which takes it translated
        {"name": "resp-fo-claude", "timeouts": timeouts, "targets": [
            fo_target(dead, "primary", 1), fo_target(live, "backup", 0, "anthropic")]},
        mock_model(mock_port, "resp-openai", "openai", "mock-1"),
        mock_model(mock_port, "resp-azure", "azure-openai", "my-deployment"),
        mock_model(mock_port, "resp-claude", "anthropic", "claude-mock"),
        mock_model(mock_port, "resp-gemini", "gemini", "gemini-mock"),
    ], extra_keys=[
        {"id": "k-day", "name": "k-day", "key": DAY_KEY,
         "limits": {"tokens_per_day": DAY_LIMIT}}])


def fixture():
    return mock_and_gateway(resources, config={"workers": 1})


def resp_body(model="resp-openai", prompt_words=3, chunks=3, stream=False, **extra):
    body = {"model": model, "input": words(prompt_words), "mock": {"chunks": chunks}}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def tokens(gw, resp):
    line = gw.access_line(resp.headers["x-request-id"])
    return line["prompt_tokens"], line["completion_tokens"], line["total_tokens"]


def output_text(resp_obj):
    out = []
    for item in resp_obj.get("output") or []:
        for part in item.get("content") or []:
            if part.get("type") == "output_text":
                out.append(part["text"])
    return "".join(out)


@tap.case("non-stream: the response object as the mock sent it, only the model replaced "
          "upstream, usage in the access line")
def _(env):
    body = resp_body(chunks=4, instructions="be brief", custom_member={"kept": [1, 2]})
    r = env.gw.request("POST", "/v1/responses", body, key=FREE_KEY)
    check_eq(r.status, 200, "status (%r)" % r.body[:300])
    o = r.json()
    check_eq(o["object"], "response", "object")
    check_eq(o["model"], "mock-1", "the upstream's model, as it answered")
    check_eq(output_text(o), mock_text(4), "output text")
    u = o["usage"]
    check_eq((u["input_tokens"], u["output_tokens"]), (3 + 2, 4), "the mock's usage")
    check_eq(tokens(env.gw, r), (5, 4, 9), "access line tokens")
    last = env.mock.last()
    check_eq(last["path"], "/v1/responses", "upstream path")
    sent = last_body(last)
    want = dict(body)
    want["model"] = "mock-1"
    check_eq(sent, want, "the body upstream: the client's with the model replaced")
    check_eq(r.headers.get("x-aigw-target"), "openai/mock-1", "x-aigw-target")


@tap.case("stream: typed events relayed in order, ending with response.completed; usage "
          "from it in the access line")
def _(env):
    s = Stream(env.gw.port, "/v1/responses", resp_body(chunks=3, stream=True), key=FREE_KEY)
    check_eq(s.status, 200, "status")
    evs = s.read_all()
    check(s.clean_end, "the stream did not end cleanly: %r", s.error)
    names = [e.event for e in evs]
    check_eq(names, ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added"] + ["response.output_text.delta"] * 3 +
             ["response.output_text.done", "response.content_part.done",
              "response.output_item.done", "response.completed"], "event names")
    data = [e.json() for e in evs]
    check_eq([d["type"] for d in data], names, "each event's type is its name")
    check_eq([d["sequence_number"] for d in data], list(range(len(evs))), "sequence numbers")
    check_eq("".join(d["delta"] for d in data if d["type"].endswith(".delta")), mock_text(3),
             "deltas")
    check_eq(data[-1]["response"]["usage"]["total_tokens"], 6, "usage of response.completed")
    check_eq(tokens(env.gw, s), (3, 3, 6), "access line tokens")
    check(not any(e.is_done for e in evs), "a [DONE] the upstream did not send")


@tap.case("token limits are charged what response.completed reported")
def _(env):
    body = resp_body(prompt_words=7, chunks=5, stream=True, max_output_tokens=10)
    left = []
    for i in range(2):
        s = Stream(env.gw.port, "/v1/responses", body, key=DAY_KEY)
        check_eq(s.status, 200, "status of request %d" % i)
        s.read_all()
        check_eq(tokens(env.gw, s), (7, 5, 12), "access line tokens of request %d" % i)
        left.append(rl_headers(s, "tokens", "request %d" % i)[1])
    # the same body reserves the same at each admission: what differs is the first's usage
    check_eq(left[0] - left[1], 12, "tokens the first request was charged")


@tap.case("a tool call: function_call item and its arguments events")
def _(env):
    call = {"name": "get_weather", "input": {"city": "Paris"}, "id": "call_42"}
    body = resp_body(chunks=2, stream=True, tools=[{
        "type": "function", "name": "get_weather", "parameters": {"type": "object"}}])
    body["mock"]["tool_call"] = call
    s = Stream(env.gw.port, "/v1/responses", body, key=FREE_KEY)
    check_eq(s.status, 200, "status")
    data = [e.json() for e in s.read_all()]
    args = "".join(d["delta"] for d in data
                   if d["type"] == "response.function_call_arguments.delta")
    check_eq(json.loads(args), {"city": "Paris"}, "streamed arguments")
    item = data[-1]["response"]["output"][0]
    check_eq((item["type"], item["name"], item["call_id"]),
             ("function_call", "get_weather", "call_42"), "the function_call item")
    check_eq(data[-1]["type"], "response.completed", "last event")


@tap.case("openai-compatible: {api_base}/responses, stream and not")
def _(env):
    r = env.gw.request("POST", "/v1/responses", resp_body(model="mock-gpt", chunks=2),
                       key=FREE_KEY)
    check_eq(r.status, 200, "status (%r)" % r.body[:300])
    check_eq(r.headers.get("x-aigw-target"), "openai-compatible/mock-1", "x-aigw-target")
    check_eq(env.mock.last()["path"], "/v1/responses", "upstream path")
    check_eq(tokens(env.gw, r), (3, 2, 5), "access line tokens")
    s = Stream(env.gw.port, "/v1/responses", resp_body(model="mock-gpt", chunks=2, stream=True),
               key=FREE_KEY)
    check_eq(s.read_all()[-1].event, "response.completed", "the stream's last event")
    check_eq(tokens(env.gw, s), (3, 2, 5), "stream's access line tokens")


@tap.case("azure-openai: /openai/v1/responses, api-key, no api-version, the deployment as model")
def _(env):
    r = env.gw.request("POST", "/v1/responses", resp_body(model="resp-azure", chunks=2),
                       key=FREE_KEY)
    check_eq(r.status, 200, "status (%r)" % r.body[:300])
    last = env.mock.last()
    check_eq(last["path"], "/openai/v1/responses", "upstream path")
    check_eq(last_header(last, "api-key"), MOCK_KEY, "api-key header")
    check_eq(last_body(last)["model"], "my-deployment", "the deployment as the body's model")
    check_eq(r.json()["model"], "my-deployment", "answer's model")
    check_eq(tokens(env.gw, r), (3, 2, 5), "access line tokens")


@tap.case("an error event mid-stream reaches the client as it came, and the access line says so")
def _(env):
    body = resp_body(chunks=4, stream=True)
    body["mock"]["stream_error"] = 2
    s = Stream(env.gw.port, "/v1/responses", body, key=FREE_KEY)
    check_eq(s.status, 200, "status")
    evs = s.read_all()
    check_eq(evs[-1].event, "error", "last event")
    check_eq(evs[-1].json()["code"], "server_error", "its code")
    check_eq(sum(1 for e in evs if e.event == "response.output_text.delta"), 2, "deltas before")
    line = env.gw.access_line(s.headers["x-request-id"])
    check_eq(line.get("error"), "upstream_stream_error", "access line error")


@tap.case("an upstream 500 before the first byte: the error as OpenAI's, status kept")
def _(env):
    body = resp_body()
    body["mock"]["status"] = 500
    r = env.gw.request("POST", "/v1/responses", body, key=FREE_KEY)
    check_eq(r.status, 500, "status")
    check_eq(r.json()["error"]["code"], "mock_500", "the upstream's error code")


@tap.case("duplicate model members are refused (one reading of the body)")
def _(env):
    raw = b'{"model":"resp-openai","input":"hi","model":"resp-azure"}'
    before = env.mock.requests()
    r = env.gw.request("POST", "/v1/responses", raw, key=FREE_KEY,
                       headers={"Content-Type": "application/json"})
    check_error_body(r, 400, "duplicate model")
    check_eq(r.json()["error"]["code"], "ambiguous_member", "code")
    check_eq(env.mock.requests(), before, "upstream requests")


@tap.case("unknown model 404, a model the key may not use 403, model missing 400")
def _(env):
    r = env.gw.request("POST", "/v1/responses", resp_body(model="nope"), key=FREE_KEY)
    check_error_body(r, 404, "unknown model")
    check_eq(r.json()["error"]["code"], "model_not_found", "code")
    r = env.gw.request("POST", "/v1/responses", resp_body(model="other-model"), key="sk-test-a")
    check_error_body(r, 403, "model not allowed")
    check_eq(r.json()["error"]["code"], "model_not_allowed", "code")
    r = env.gw.request("POST", "/v1/responses", {"input": "hi"}, key=FREE_KEY)
    check_error_body(r, 400, "no model")
    r = env.gw.request("POST", "/v1/responses", resp_body(), key=None)
    check_error_body(r, 401, "no key")
    r = env.gw.request("GET", "/v1/responses", None, key=FREE_KEY)
    check_eq(r.status, 405, "GET status")


XLATE = (("resp-claude", "anthropic", "/v1/messages"),
         ("resp-gemini", "gemini", "/v1beta/models/gemini-mock:generateContent"))


def xbody(model, stream=False, **extra):
    """A Responses body for a translated target (no "mock": it would be unknown there)."""
    body = {"model": model, "input": words(3)}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def check_response(o, text, prompt, output, what):
    """A Response object as OpenAI's: ids, one message item, usage."""
    check(o.get("id", "").startswith("resp_"), "%s: id %r", what, o.get("id"))
    check_eq((o.get("object"), o.get("status")), ("response", "completed"), what)
    check_eq(output_text(o), text, what + ": output text")
    item = o["output"][0]
    check_eq((item["type"], item["role"], item["status"]), ("message", "assistant", "completed"),
             what + ": message item")
    check(item["id"].startswith("msg_"), "%s: item id %r", what, item["id"])
    check_eq(item["content"][0]["annotations"], [], what + ": annotations")
    u = o["usage"]
    check_eq((u["input_tokens"], u["output_tokens"], u["total_tokens"]),
             (prompt, output, prompt + output), what + ": usage")
    check_eq((u["input_tokens_details"]["cached_tokens"],
              u["output_tokens_details"]["reasoning_tokens"]), (0, 0), what + ": usage details")


@tap.case("anthropic and gemini targets, non-stream: translated to their APIs, a Response "
          "object back, usage in the access line")
def _(env):
    for model, prov, path in XLATE:
        with env.mock.controls(chunks=4):
            r = env.gw.request("POST", "/v1/responses",
                               xbody(model, instructions="be brief", max_output_tokens=50,
                                     temperature=0.5), key=FREE_KEY)
        check_eq(r.status, 200, "%s status (%r)" % (prov, r.body[:300]))
        last = env.mock.last()
        check_eq(last["path"], path, prov + " upstream path")
        sent = last_body(last)
        if prov == "anthropic":
            check_eq((sent["system"], sent["max_tokens"], sent["temperature"]),
                     ("be brief", 50, 0.5), "anthropic: instructions, max_output_tokens")
            check_eq(sent["messages"], [{"role": "user", "content": words(3)}],
                     "anthropic messages")
        else:
            check_eq(sent["systemInstruction"]["parts"], [{"text": "be brief"}],
                     "gemini: instructions")
            check_eq(sent["generationConfig"]["maxOutputTokens"], 50, "gemini: max tokens")
        o = r.json()
        # the mock counts the instructions' words with the prompt's
        check_response(o, mock_text(4), 3 + 2, 4, prov)
        check_eq((o["instructions"], o["max_output_tokens"]), ("be brief", 50), prov + " echo")
        check_eq(tokens(env.gw, r), (5, 4, 9), prov + " access line tokens")


@tap.case("anthropic and gemini targets, stream: the typed events in OpenAI's order, "
          "sequence numbers, usage in response.completed and the access line")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(chunks=3):
            s = Stream(env.gw.port, "/v1/responses", xbody(model, stream=True), key=FREE_KEY)
            check_eq(s.status, 200, prov + " status")
            evs = s.read_all()
        check(s.clean_end, "%s: the stream did not end cleanly: %r", prov, s.error)
        names = [e.event for e in evs]
        deltas = names.count("response.output_text.delta")
        check(deltas >= 1, "%s: no text deltas in %r", prov, names)
        check_eq(names, ["response.created", "response.in_progress",
                         "response.output_item.added", "response.content_part.added"] +
                 ["response.output_text.delta"] * deltas +
                 ["response.output_text.done", "response.content_part.done",
                  "response.output_item.done", "response.completed"], prov + " event names")
        data = [e.json() for e in evs]
        check_eq([d["type"] for d in data], names, prov + ": each event's type is its name")
        check_eq([d["sequence_number"] for d in data], list(range(len(evs))),
                 prov + " sequence numbers")
        text = "".join(d["delta"] for d in data if d["type"] == "response.output_text.delta")
        check_eq(text, mock_text(3), prov + " deltas")
        check_eq(data[-2]["item"]["content"][0]["text"], mock_text(3), prov + " item done")
        rid = data[0]["response"]["id"]
        check_eq([d["response"]["id"] for d in (data[0], data[1], data[-1])], [rid] * 3,
                 prov + ": one response id")
        check_eq(data[0]["response"]["status"], "in_progress", prov + " created status")
        check_response(data[-1]["response"], mock_text(3), 3, 3, prov + " completed")
        check_eq(tokens(env.gw, s), (3, 3, 6), prov + " access line tokens")
        check(not any(e.is_done for e in evs), "%s: a [DONE] in a Responses stream", prov)


CALL = {"name": "get_weather", "input": {"city": "Paris"}, "id": "call_42"}
TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
          "strict": False}]


@tap.case("anthropic and gemini targets: a tool call round trip, function_call item out, "
          "function_call and function_call_output items back in")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(chunks=2, tool_call=CALL):
            r = env.gw.request("POST", "/v1/responses", xbody(model, tools=TOOLS,
                                                               tool_choice="auto"), key=FREE_KEY)
        check_eq(r.status, 200, "%s status (%r)" % (prov, r.body[:300]))
        sent = last_body(env.mock.last())
        if prov == "anthropic":
            check_eq(sent["tools"], [{"name": "get_weather", "description": "The weather",
                                      "input_schema": TOOLS[0]["parameters"]}],
                     "anthropic tools")
        else:
            decl = sent["tools"][0]["functionDeclarations"][0]
            check_eq((decl["name"], decl["description"]), ("get_weather", "The weather"),
                     "gemini tools")
        o = r.json()
        calls = [i for i in o["output"] if i["type"] == "function_call"]
        check_eq(len(calls), 1, prov + " function_call items in %r" % o["output"])
        fc = calls[0]
        check_eq((fc["name"], json.loads(fc["arguments"]), fc["status"]),
                 ("get_weather", {"city": "Paris"}, "completed"), prov + " function_call")
        check(fc["id"].startswith("fc_") and fc["call_id"], "%s: ids %r", prov, fc)
        # the second turn: the call as the client got it, and its output; a Gemini
        # thought signature (the mock sends none) goes back on the item as aigw hands it out
        if prov == "gemini":
            fc = dict(fc, extra_content={"google": {"thought_signature": "c2lnbmF0dXJl"}})
        follow = [{"role": "user", "content": words(3)}, fc,
                  {"type": "function_call_output", "call_id": fc["call_id"],
                   "output": "sunny 21C"}]
        with env.mock.controls(chunks=2):
            r = env.gw.request("POST", "/v1/responses",
                               xbody(model, input=follow, tools=TOOLS), key=FREE_KEY)
        check_eq(r.status, 200, "%s second turn status (%r)" % (prov, r.body[:300]))
        check_eq(output_text(r.json()), mock_text(2), prov + " second turn text")
        sent = last_body(env.mock.last())
        if prov == "anthropic":
            msgs = sent["messages"]
            check_eq([m["role"] for m in msgs], ["user", "assistant", "user"],
                     "anthropic turns")
            use = msgs[1]["content"][-1]
            check_eq((use["type"], use["id"], use["name"], use["input"]),
                     ("tool_use", fc["call_id"], "get_weather", {"city": "Paris"}),
                     "anthropic tool_use")
            res = msgs[2]["content"][0]
            check_eq((res["type"], res["tool_use_id"]), ("tool_result", fc["call_id"]),
                     "anthropic tool_result")
            check("sunny 21C" in json.dumps(res["content"]), "anthropic tool_result content %r",
                  res["content"])
        else:
            parts = [p for c in sent["contents"] for p in c["parts"]]
            check_eq([(p["functionCall"]["args"], p.get("thoughtSignature")) for p in parts
                      if "functionCall" in p], [({"city": "Paris"}, "c2lnbmF0dXJl")],
                     "gemini functionCall and its thought signature")
            fr = [p["functionResponse"] for p in parts if "functionResponse" in p]
            check_eq(fr[0]["name"], "get_weather", "gemini functionResponse name")
            check("sunny 21C" in json.dumps(fr[0]["response"]), "gemini response %r", fr)


@tap.case("anthropic and gemini targets, stream: a function_call item with its arguments "
          "events")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(chunks=2, tool_call=CALL):
            s = Stream(env.gw.port, "/v1/responses", xbody(model, stream=True, tools=TOOLS),
                       key=FREE_KEY)
            check_eq(s.status, 200, prov + " status")
            data = [e.json() for e in s.read_all()]
        types = [d["type"] for d in data]
        check_eq(types[:3], ["response.created", "response.in_progress",
                             "response.output_item.added"], prov + " first events")
        fc_at = [i for i, d in enumerate(data) if d["type"] == "response.output_item.added" and
                 d["item"]["type"] == "function_call"]
        check_eq(len(fc_at), 1, prov + " function_call items added in %r" % types)
        i = fc_at[0]
        k = types.index("response.function_call_arguments.done")
        check(all(t == "response.function_call_arguments.delta" for t in types[i + 1:k]) and
              k > i + 1, "%s: argument deltas between added and done: %r", prov, types)
        check_eq(types[k + 1:], ["response.output_item.done", "response.completed"],
                 prov + " last events")
        args = "".join(d["delta"] for d in data[i + 1:k])
        check_eq(json.loads(args), {"city": "Paris"}, prov + " streamed arguments")
        check_eq(json.loads(data[k]["arguments"]), {"city": "Paris"}, prov + " arguments.done")
        out = data[-1]["response"]["output"]
        check_eq([(o["type"], o["name"]) for o in out if o["type"] == "function_call"],
                 [("function_call", "get_weather")], prov + " completed output")
        check_eq(sum(d["sequence_number"] for d in data), len(data) * (len(data) - 1) // 2,
                 prov + " sequence numbers")


@tap.case("translated targets: token limits are charged what the provider reported")
def _(env):
    for model, prov, _ in XLATE:
        body = xbody(model, stream=True, max_output_tokens=10, input=words(7))
        left = []
        with env.mock.controls(chunks=5):
            for i in range(2):
                s = Stream(env.gw.port, "/v1/responses", body, key=DAY_KEY)
                check_eq(s.status, 200, "%s status of request %d" % (prov, i))
                evs = s.read_all()
                check_eq(evs[-1].json()["response"]["usage"]["total_tokens"], 12,
                         "%s usage of request %d" % (prov, i))
                check_eq(tokens(env.gw, s), (7, 5, 12), "%s access line of request %d" % (prov, i))
                left.append(rl_headers(s, "tokens", "%s request %d" % (prov, i))[1])
        # the same body reserves the same at each admission: what differs is the first's usage
        check_eq(left[0] - left[1], 12, prov + ": tokens the first request was charged")


@tap.case("max_output_tokens reached: status incomplete, reason max_output_tokens "
          "(response.incomplete ends the stream)")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(chunks=5):
            r = env.gw.request("POST", "/v1/responses", xbody(model, max_output_tokens=2),
                               key=FREE_KEY)
            s = Stream(env.gw.port, "/v1/responses", xbody(model, stream=True,
                                                           max_output_tokens=2), key=FREE_KEY)
            evs = s.read_all()
        o = r.json()
        check_eq((o["status"], o["incomplete_details"]), ("incomplete",
                                                          {"reason": "max_output_tokens"}),
                 prov + " non-stream")
        check_eq(o["usage"]["output_tokens"], 2, prov + " output tokens")
        check_eq(evs[-1].event, "response.incomplete", prov + " last event")
        last = evs[-1].json()["response"]
        check_eq((last["status"], last["incomplete_details"]["reason"]),
                 ("incomplete", "max_output_tokens"), prov + " stream")


@tap.case("translated targets: what needs a stored response, built-in tools and unknown "
          "parameters are a 400 naming the field, before any upstream request")
def _(env):
    before = env.mock.requests()
    cases = [({"previous_response_id": "resp_123"}, "previous_response_id"),
             ({"store": True}, "store"),
             ({"conversation": "conv_1"}, "conversation"),
             ({"background": True}, "background"),
             ({"tools": [{"type": "web_search"}]}, "tools[0]"),
             ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
             ({"include": ["reasoning.encrypted_content"]}, "include"),
             ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary"),
             ({"mock": {"chunks": 2}}, "mock")]
    for model, prov, _ in XLATE:
        for extra, param in cases:
            r = env.gw.request("POST", "/v1/responses", xbody(model, **extra), key=FREE_KEY)
            what = "%s %s" % (prov, param)
            check_error_body(r, 400, what)
            e = r.json()["error"]
            check_eq(e["param"], param, what + ": param")
            check(param.split("[")[0].split(".")[0] in e["message"], "%s: message %r",
                  what, e["message"])
            check_eq(e["code"], "unknown_parameter" if param == "mock"
                     else "unsupported_parameter", what + ": code")
        # what asks for nothing passes: store false, previous_response_id null
        with env.mock.controls(chunks=1):
            r = env.gw.request("POST", "/v1/responses",
                               xbody(model, store=False, previous_response_id=None,
                                     metadata={"k": "v"}), key=FREE_KEY)
        check_eq(r.status, 200, "%s: store false (%r)" % (prov, r.body[:300]))
        check_eq(r.json()["metadata"], {"k": "v"}, prov + " metadata echoed")
    check_eq(env.mock.requests(), before + 2, "upstream requests")


@tap.case("translated targets: an error event mid-stream ends the stream with "
          "response.failed, the access line says so")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(chunks=4, stream_error=2):
            s = Stream(env.gw.port, "/v1/responses", xbody(model, stream=True), key=FREE_KEY)
            check_eq(s.status, 200, prov + " status")
            evs = s.read_all()
        check_eq(evs[-1].event, "response.failed", prov + " last event")
        r = evs[-1].json()["response"]
        check_eq(r["status"], "failed", prov + " status")
        check_eq(r["error"]["code"], "upstream_stream_error", prov + " error code")
        check_eq([d.json()["sequence_number"] for d in evs], list(range(len(evs))),
                 prov + " sequence numbers")
        line = env.gw.access_line(s.headers["x-request-id"])
        check_eq(line.get("error"), "upstream_stream_error", prov + " access line error")


@tap.case("translated targets: an upstream 429 before the first byte is OpenAI's error shape")
def _(env):
    for model, prov, _ in XLATE:
        with env.mock.controls(status=429):
            r = env.gw.request("POST", "/v1/responses", xbody(model), key=FREE_KEY)
        check_error_body(r, 429, prov)
        check_eq(r.json()["error"]["type"], "rate_limit_error", prov + " type")


@tap.case("retries: a refused connection falls back to the next target (stream and not), "
          "an anthropic one too (translated), never to one that cannot take the request")
def _(env):
    r = env.gw.request("POST", "/v1/responses", resp_body(model="resp-fo"), key=FREE_KEY)
    check_eq(r.status, 200, "status (%r)" % r.body[:300])
    check_eq((r.headers.get("x-aigw-target"), r.headers.get("x-aigw-attempts")), ("backup", "2"),
             "target and attempts")
    check_eq(tokens(env.gw, r), (3, 3, 6), "access line tokens")
    s = Stream(env.gw.port, "/v1/responses", resp_body(model="resp-fo", stream=True),
               key=FREE_KEY)
    check_eq(s.status, 200, "stream status")
    check_eq(s.read_all()[-1].event, "response.completed", "the stream's last event")
    check_eq(s.headers.get("x-aigw-attempts"), "2", "stream attempts")
    # an anthropic backup takes the request translated ...
    with env.mock.controls(chunks=2):
        r = env.gw.request("POST", "/v1/responses", xbody("resp-fo-claude"), key=FREE_KEY)
    check_eq(r.status, 200, "anthropic backup status (%r)" % r.body[:300])
    check_eq((r.headers.get("x-aigw-target"), r.headers.get("x-aigw-attempts")), ("backup", "2"),
             "anthropic backup: target and attempts")
    check_eq(output_text(r.json()), mock_text(2), "anthropic backup: text")
    # ... but not what it cannot take: the primary's failure, not the backup's 400
    before = env.mock.requests()
    r = env.gw.request("POST", "/v1/responses",
                       xbody("resp-fo-claude", previous_response_id="resp_1"), key=FREE_KEY)
    check_error_body(r, 502, "the primary's failure, not the backup's 400")
    check_eq(r.json()["error"]["code"], "upstream_unreachable", "code")
    check_eq(env.mock.requests(), before, "upstream requests to the anthropic backup")


if __name__ == "__main__":
    main(tap, fixture)
