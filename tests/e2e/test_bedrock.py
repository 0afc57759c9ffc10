# SPDX-License-Identifier: Apache-2.0
"""End-to-end: provider bedrock (issue 17) against the mock's Converse API.

The mock is started with -k SECRET, which for Bedrock is the AWS secret
access key: it computes each request's SigV4 signature again and refuses a
wrong one with 403 InvalidSignatureException, as AWS does. aigw has three
Models of provider bedrock whose api_base is the mock (the Host header then
carries its port, which is signed): one with the right secret, one with a
wrong one, one through a credential with a session token.

What is checked: an OpenAI chat request, non-stream and stream (the stream
answered in application/vnd.amazon.eventstream frames that relay.c decodes),
comes back as OpenAI's shapes with the mock's usage, which the access log
has too; the upstream request is Converse's, at /model/{id}/converse with
the model id percent-encoded; a wrong secret is a mapped 403 error; an
Anthropic client (/v1/messages) gets Anthropic's shape; a stream that ends
with a throttlingException is an error to the client; usage with cache reads
and writes is exact everywhere; each of Bedrock's error types (the mock's
error_type control: x-amzn-ErrorType, or a stream's :exception-type) gets the
status, OpenAI type and code, and Anthropic type of aigw-resources(5)'s table;
the Responses API (/v1/responses) comes back as a Response object and its
typed events.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        TAP, Mock, Gateway, Env, HOST, check, check_eq, check_error_body, chat_body,
        last_header, main, request, stream_text, unique_id)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
KEY = "sk-test-bedrock"
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


def resources(mock_port):
    base = "http://%s:%d" % (HOST, mock_port)
    aws = {"provider": "bedrock", "api_base": base, "region": "us-east-1",
           "aws_access_key_id": "AKIDEXAMPLE"}
    return {
        "credentials": [dict(aws, name="aws-cred", aws_secret_access_key=SECRET,
                             aws_session_token="FwoGZXIvYXdzEXAMPLETOKEN")],
        "models": [
            dict(aws, name="br", model=MODEL_ID, aws_secret_access_key=SECRET),
            dict(aws, name="br-wrong", model=MODEL_ID,
                 aws_secret_access_key="not-the-secret-0000"),
            {"name": "br-cred", "credential": "aws-cred", "model": "amazon.nova-lite-v1:0"},
        ],
        "api_keys": [{"name": "all", "key": KEY}],
    }


class fixture:
    def __enter__(self):
        self.mock = Mock(key=SECRET)
        self.gw = Gateway(resources(self.mock.port))
        return Env(self.mock, self.gw)

    def __exit__(self, *exc):
        self.gw.stop()
        self.mock.stop()


def post(env, body, path="/v1/chat/completions"):
    rid = unique_id("br")
    return env.gw.request("POST", path, body, key=KEY, headers={"x-request-id": rid}), rid


@tap.case("OpenAI chat, non-stream: signed Converse request, chat.completion back, usage logged")
def _(env):
    env.mock.configure(chunks=3, content="one two three")
    resp, rid = post(env, chat_body(model="br", content="hello there world"))
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    a = resp.json()
    check_eq(a["object"], "chat.completion", "object")
    check_eq(a["choices"][0]["message"]["content"], "one two three", "content")
    check_eq(a["choices"][0]["finish_reason"], "stop", "finish_reason")
    check_eq(a["usage"]["completion_tokens"], 3, "completion_tokens")
    prompt = a["usage"]["prompt_tokens"]
    check(prompt > 0, "prompt_tokens %r", prompt)
    last = env.mock.last()
    check_eq(last["path"], "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", "path")
    check("messages" in last["body"] and "model" not in last["body"],
          "not a Converse body: %r", last["body"])
    auth = last_header(last, "authorization")
    check(auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
          and "/us-east-1/bedrock/aws4_request" in auth, "authorization %r", auth)
    check(SECRET not in json.dumps(last), "the secret was sent")
    f = env.gw.access_line(rid)
    check_eq((f["status"], f["prompt_tokens"], f["completion_tokens"]), (200, prompt, 3),
             "access line (%s)" % f["line"])
    check(SECRET not in env.gw.log(), "the secret is in the log")


@tap.case("OpenAI chat, stream: event-stream frames become chunks, [DONE], usage logged")
def _(env):
    rid = unique_id("br")
    env.mock.configure(chunks=4, content="alpha beta gamma delta")
    body = chat_body(model="br", stream=True, stream_options={"include_usage": True})
    s = env.gw.stream(body, key=KEY, headers={"x-request-id": rid})
    events = s.read_all()
    check_eq(s.status, 200, "status")
    check_eq(stream_text(events), "alpha beta gamma delta", "streamed text")
    check(events and events[-1].is_done, "no [DONE]: %r", events[-3:])
    usage = [e.json()["usage"] for e in events[:-1] if e.json().get("usage")]
    check(usage and usage[-1]["completion_tokens"] == 4, "usage chunk: %r", usage)
    check_eq(env.mock.last()["path"],
             "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", "path")
    f = env.gw.access_line(rid)
    check_eq((f["status"], f["stream"], f["completion_tokens"]), (200, True, 4),
             "access line (%s)" % f["line"])


@tap.case("a credential with a session token: signed with it, X-Amz-Security-Token sent")
def _(env):
    env.mock.configure()
    resp, _ = post(env, chat_body(model="br-cred"))
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    last = env.mock.last()
    check_eq(last_header(last, "x-amz-security-token"), "FwoGZXIvYXdzEXAMPLETOKEN", "token")
    check("x-amz-security-token" in last_header(last, "authorization"), "token not signed")
    check_eq(last["path"], "/model/amazon.nova-lite-v1%3A0/converse", "path")


@tap.case("a wrong secret: the mock's 403 InvalidSignatureException, mapped to OpenAI's error")
def _(env):
    resp, rid = post(env, chat_body(model="br-wrong"))
    err = check_error_body(resp, 403, "wrong secret")
    check("signature we calculated does not match" in err["message"], "message %r", err)
    f = env.gw.access_line(rid)
    check_eq(f["status"], 403, "access status (%s)" % f["line"])


@tap.case("Anthropic client (/v1/messages): a Messages answer from Converse, stream too")
def _(env):
    env.mock.configure(chunks=2, content="hey you")
    body = {"model": "br", "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi there"}]}
    resp = env.gw.request("POST", "/v1/messages", body, key=KEY,
                          headers={"anthropic-version": "2023-06-01"})
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    m = resp.json()
    check_eq((m["type"], m["role"]), ("message", "assistant"), "shape")
    check_eq(m["content"][0]["text"], "hey you", "text")
    check_eq(m["usage"]["output_tokens"], 2, "output_tokens")
    check_eq(env.mock.last()["body"]["inferenceConfig"]["maxTokens"], 50, "maxTokens")
    s = env.gw.stream(dict(body, stream=True), key=KEY, path="/v1/messages",
                      headers={"anthropic-version": "2023-06-01"})
    events = s.read_all()
    check_eq(s.status, 200, "stream status")
    types = [e.event for e in events]
    check(types[0] == "message_start" and types[-1] == "message_stop", "events %r", types)
    text = "".join(e.json()["delta"].get("text", "") for e in events
                   if e.event == "content_block_delta")
    check_eq(text, "hey you", "streamed text")


@tap.case("Responses API (/v1/responses): translated to Converse, a Response object back, "
          "the typed events of a stream")
def _(env):
    env.mock.configure(chunks=2, content="hey you")
    body = {"model": "br", "input": "hi there", "instructions": "be brief",
            "max_output_tokens": 40}
    resp, rid = post(env, body, path="/v1/responses")
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    r = resp.json()
    check_eq((r["object"], r["status"]), ("response", "completed"), "shape")
    check_eq(r["output"][0]["content"][0]["text"], "hey you", "text")
    check_eq(r["usage"]["output_tokens"], 2, "output_tokens")
    sent = env.mock.last()["body"]
    check_eq((sent["system"], sent["inferenceConfig"]["maxTokens"]),
             ([{"text": "be brief"}], 40), "Converse system and maxTokens")
    f = env.gw.access_line(rid)
    check_eq((f["prompt_tokens"], f["completion_tokens"]),
             (r["usage"]["input_tokens"], 2), "access line (%s)" % f["line"])
    s = env.gw.stream(dict(body, stream=True), key=KEY, path="/v1/responses")
    events = s.read_all()
    check_eq(s.status, 200, "stream status")
    types = [e.event for e in events]
    check(types[:2] == ["response.created", "response.in_progress"] and
          types[-1] == "response.completed", "events %r", types)
    text = "".join(e.json()["delta"] for e in events if e.event == "response.output_text.delta")
    check_eq(text, "hey you", "streamed text")
    check_eq(events[-1].json()["response"]["usage"]["output_tokens"], 2, "stream usage")


@tap.case("a stream that ends in a throttlingException message is an error to the client")
def _(env):
    env.mock.configure(chunks=3, stream_error=1)
    body = chat_body(model="br", stream=True)
    s = env.gw.stream(body, key=KEY)
    events = s.read_all()
    check_eq(s.status, 200, "status")
    errs = [e.json() for e in events if not e.is_done and "error" in (e.json() or {})]
    check(errs and errs[-1]["error"].get("code") == "upstream_stream_error"
          and "Too many requests" in errs[-1]["error"]["message"],
          "no error event: %r", [e.data for e in events][-3:])
    check(not events[-1].is_done, "[DONE] after the error")


@tap.case("response_format json_schema (which Converse cannot express): 400 "
          "unsupported_by_provider naming it, nothing sent upstream")
def _(env):
    before = env.mock.requests()
    body = chat_body(model="br", response_format={
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}})
    resp, rid = post(env, body)
    err = check_error_body(resp, 400, "response_format")
    check_eq((err["type"], err["code"]), ("invalid_request_error", "unsupported_by_provider"),
             "error")
    check_eq(err["message"], "response_format json_schema is not supported by provider bedrock",
             "message")
    check_eq(env.mock.requests(), before, "requests upstream")


CACHE_USAGE = {"inputTokens": 7, "outputTokens": 3, "totalTokens": 1510,
               "cacheReadInputTokens": 1200, "cacheWriteInputTokens": 300}


@tap.case("usage with cache reads and writes, exact: prompt_tokens counts both, cached_tokens "
          "the reads, total is AWS's totalTokens; the access log and an Anthropic client agree")
def _(env):
    env.mock.configure(chunks=3, usage=json.dumps(CACHE_USAGE))
    resp, rid = post(env, chat_body(model="br"))
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    u = resp.json()["usage"]
    check_eq((u["prompt_tokens"], u["completion_tokens"], u["total_tokens"],
              u["prompt_tokens_details"]["cached_tokens"]), (1507, 3, 1510, 1200), "usage")
    f = env.gw.access_line(rid)
    check_eq((f["prompt_tokens"], f["completion_tokens"], f["total_tokens"]), (1507, 3, 1510),
             "access line (%s)" % f["line"])
    rid = unique_id("br")
    s = env.gw.stream(chat_body(model="br", stream=True, stream_options={"include_usage": True}),
                      key=KEY, headers={"x-request-id": rid})
    events = s.read_all()
    usage = [e.json()["usage"] for e in events[:-1] if e.json().get("usage")]
    check(usage and (usage[-1]["prompt_tokens"], usage[-1]["total_tokens"],
                     usage[-1]["prompt_tokens_details"]["cached_tokens"]) == (1507, 1510, 1200),
          "stream usage chunk: %r", usage)
    check_eq(env.gw.access_line(rid)["total_tokens"], 1510, "stream access line total")
    body = {"model": "br", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    resp = env.gw.request("POST", "/v1/messages", body, key=KEY,
                          headers={"anthropic-version": "2023-06-01"})
    u = resp.json()["usage"]
    # Anthropic's input_tokens leaves the cache reads out (cache writes are in it:
    # the gateway's usage has no count of its own for them)
    check_eq((u["input_tokens"], u["cache_read_input_tokens"], u["output_tokens"]),
             (307, 1200, 3), "Anthropic usage")
    env.mock.configure()


# Bedrock's errors (x-amzn-ErrorType, AWS's status) and what each client gets:
# (status, OpenAI type, Anthropic type). ModelNotReady and ModelTimeout are
# the gateway's 503 and 504, not AWS's 429 and 408 (aigw(8), "Bedrock").
ERRORS = [
    ("ThrottlingException", 429, 429, "rate_limit_error", "rate_limit_error"),
    ("ValidationException", 400, 400, "invalid_request_error", "invalid_request_error"),
    ("AccessDeniedException", 403, 403, "permission_error", "permission_error"),
    ("ResourceNotFoundException", 404, 404, "not_found_error", "not_found_error"),
    ("ModelNotReadyException", 429, 503, "server_error", "overloaded_error"),
    ("ServiceUnavailableException", 503, 503, "server_error", "overloaded_error"),
    ("ModelTimeoutException", 408, 504, "server_error", "timeout_error"),
    ("InternalServerException", 500, 500, "server_error", "api_error"),
]


@tap.case("Bedrock's errors by x-amzn-ErrorType: OpenAI's type and code, Anthropic's type, "
          "the upstream's message kept, each client's status")
def _(env):
    body = {"model": "br", "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi there"}]}
    for etype, aws, status, otype, atype in ERRORS:
        env.mock.configure(status=aws, error_type=etype)
        resp, rid = post(env, chat_body(model="br"))
        err = check_error_body(resp, status, etype)
        check_eq((err["type"], err["code"], err["message"]),
                 (otype, etype, "mock error status %d" % aws), "OpenAI error for " + etype)
        check_eq(env.gw.access_line(rid)["status"], status, "access status " + etype)
        resp = env.gw.request("POST", "/v1/messages", body, key=KEY,
                              headers={"anthropic-version": "2023-06-01"})
        check_eq(resp.status, status, "Anthropic status for " + etype)
        m = resp.json()
        check_eq((m.get("type"), m["error"]["type"], m["error"]["message"]),
                 ("error", atype, "mock error status %d" % aws), "Anthropic error for " + etype)
    env.mock.configure()


@tap.case("ConverseStream refused before its stream (an HTTP error with x-amzn-ErrorType): "
          "the same status and shapes as Converse's, both clients")
def _(env):
    env.mock.configure(status=429, error_type="ModelNotReadyException")
    s = env.gw.stream(chat_body(model="br", stream=True), key=KEY)
    s.read_all()
    check_eq(s.status, 503, "OpenAI stream status")
    err = json.loads(s.raw)["error"]
    check_eq((err["type"], err["code"]), ("server_error", "ModelNotReadyException"), "error")
    check_eq(env.mock.last()["path"],
             "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream", "path")
    body = {"model": "br", "max_tokens": 20, "stream": True,
            "messages": [{"role": "user", "content": "hi there"}]}
    s = env.gw.stream(body, key=KEY, path="/v1/messages",
                      headers={"anthropic-version": "2023-06-01"})
    s.read_all()
    check_eq(s.status, 503, "Anthropic stream status")
    check_eq(json.loads(s.raw)["error"]["type"], "overloaded_error", "Anthropic error type")
    env.mock.configure()


@tap.case("exceptions mid-stream (:message-type exception, :exception-type): OpenAI's error "
          "event with the upstream's message, Anthropic's error event typed")
def _(env):
    for etype, status, atype in (("serviceUnavailableException", 503, "overloaded_error"),
                                 ("validationException", 400, "invalid_request_error"),
                                 ("modelStreamErrorException", 502, "api_error")):
        env.mock.configure(chunks=2, stream_error=1, error_type=etype)
        s = env.gw.stream(chat_body(model="br", stream=True), key=KEY)
        events = s.read_all()
        check_eq(s.status, 200, "status")
        errs = [e.json()["error"] for e in events if "error" in (e.json() or {})]
        check(errs and errs[-1]["message"] == "mock exception " + etype,
              "%s: no error event: %r", etype, [e.data for e in events][-3:])
        check(not events[-1].is_done, "[DONE] after the error")
        body = {"model": "br", "max_tokens": 20, "stream": True,
                "messages": [{"role": "user", "content": "hi there"}]}
        s = env.gw.stream(body, key=KEY, path="/v1/messages",
                          headers={"anthropic-version": "2023-06-01"})
        events = s.read_all()
        check_eq(s.status, 200, "Anthropic stream status")
        last = events[-1]
        check_eq((last.event, last.json()["error"]["type"], last.json()["error"]["message"]),
                 ("error", atype, "mock exception " + etype), "Anthropic error event")
    env.mock.configure()


@tap.case("Admin API reads mask aws_secret_access_key and aws_session_token, a model's and a "
          "credential's; the access key id and region are shown")
def _(env):
    port = int(env.gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    for path in ("/admin/v1/credentials", "/admin/v1/models"):
        resp = request(port, "GET", path)
        check(resp.status == 200, "GET %s: %d %r", path, resp.status, resp.body[:400])
        text = resp.body.decode()
        for secret in (SECRET, "FwoGZXIvYXdzEXAMPLETOKEN", "not-the-secret-0000"):
            check(secret not in text, "%s shows %r: %s", path, secret, text[:800])
    creds = request(port, "GET", "/admin/v1/credentials").json()["items"]
    v = [i["value"] for i in creds if i["value"]["name"] == "aws-cred"][0]
    check_eq((v["aws_secret_access_key"], v["aws_session_token"], v["aws_access_key_id"],
              v["region"]), ("****" + SECRET[-4:], "****OKEN", "AKIDEXAMPLE", "us-east-1"),
             "credential as shown")


if __name__ == "__main__":
    main(tap, fixture)
