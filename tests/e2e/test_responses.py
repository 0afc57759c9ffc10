# SPDX-License-Identifier: Apache-2.0
"""End-to-end: OpenAI's Responses API, POST /v1/responses (issue 17).

To an openai, openai-compatible or azure-openai target the body goes out as
the client wrote it but for the model's value, and the answer comes back as
it came: a response object, or the typed stream events (event: TYPE, data
with type and sequence_number) one by one, ending with response.completed.
Usage is read from the response's usage (non-stream) or from
response.completed's response.usage, into the access line and the token
limits. Azure serves it on its v1 API: /openai/v1/responses, no api-version,
the deployment as the body's model. A target of another provider gets 400
unsupported_by_provider (no translation yet).

One mock, one aigw with one worker. Before this endpoint aigw answered 404
unknown_url to every case here.
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
        # ... to a backup that cannot take the Responses API: no fallback there
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


@tap.case("anthropic and gemini targets: 400 unsupported_by_provider naming the Responses API")
def _(env):
    before = env.mock.requests()
    for model, prov in (("resp-claude", "anthropic"), ("resp-gemini", "gemini")):
        r = env.gw.request("POST", "/v1/responses", resp_body(model=model), key=FREE_KEY)
        check_error_body(r, 400, model)
        e = r.json()["error"]
        check_eq(e["code"], "unsupported_by_provider", "code")
        check("Responses API" in e["message"] and prov in e["message"],
              "message %r names neither the Responses API nor %s", e["message"], prov)
    check_eq(env.mock.requests(), before, "upstream requests")


@tap.case("retries: a refused connection falls back to the next target (stream and not); "
          "never to a target that cannot take the Responses API")
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
    before = env.mock.requests()
    r = env.gw.request("POST", "/v1/responses", resp_body(model="resp-fo-claude"), key=FREE_KEY)
    check_error_body(r, 502, "the primary's failure, not the backup's 400")
    check_eq(r.json()["error"]["code"], "upstream_unreachable", "code")
    check_eq(env.mock.requests(), before, "upstream requests to the anthropic backup")


if __name__ == "__main__":
    main(tap, fixture)
