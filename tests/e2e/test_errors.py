# SPDX-License-Identifier: Apache-2.0
"""End-to-end: aigw's error answers (auth, validation, limits, upstream failures).

Every error must be JSON {"error": {"message", "type", "param", "code"}} with an
x-request-id; client errors must not reach the upstream.
"""

import http.client
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, TAP, chat_body, check, check_eq, check_error_body, dead_port, main,
        mock_and_gateway, request, send_streaming_body, standard_resources, unique_id)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

MAX_BODY = 64 * 1024


def resources(mock_port):
    """Standard resources plus keys in every state and models that fail."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    models = [
        {"name": "mock-dead", "provider": "openai-compatible", "model": "dead-1",
         "api_base": "http://%s:%d/v1" % (HOST, dead_port()),
         "timeouts": {"connect": "1s", "first_byte": "2s", "total": "5s"}},
        {"name": "mock-slow", "provider": "openai-compatible", "model": "slow-1",
         "api_base": base, "api_key": "${MOCK_KEY}",
         "timeouts": {"connect": "1s", "first_byte": "1s", "total": "10s"}},
    ]
    keys = [
        {"name": "expired", "key": "sk-expired", "expires_at": "2001-01-01T00:00:00Z"},
        {"name": "expired-unix", "key": "sk-expired-unix", "expires_at": 1000000000},
        {"name": "future", "key": "sk-future", "expires_at": "2099-01-01T00:00:00Z"},
        {"name": "disabled", "key": "sk-disabled", "disabled": True},
    ]
    return standard_resources(mock_port, models, keys)


def fixture():
    return mock_and_gateway(resources=resources,
                            config={"limits": {"max_body_size": "64k", "max_header_size": "8k"}})


def upstream_requests(env):
    """How many requests the mock has received so far."""
    stats = env.mock.stats()
    return stats.get("requests", 0)


def client_error(env, status, method, path, body=None, headers=None, key="sk-test-a"):
    """Send a request that must fail with status before reaching the upstream."""
    before = upstream_requests(env)
    resp = env.gw.request(method, path, body, headers=headers, key=key)
    err = check_error_body(resp, status)
    check_eq(upstream_requests(env) - before, 0, "requests that reached the upstream")
    return resp, err


def chat_error(env, status, body, key="sk-test-a", headers=None):
    return client_error(env, status, "POST", "/v1/chat/completions", body, headers, key)


@tap.case("401 without a key")
def _(env):
    chat_error(env, 401, chat_body(), key=None)


@tap.case("401 with an unknown key")
def _(env):
    chat_error(env, 401, chat_body(), key="sk-nobody")
    chat_error(env, 401, chat_body(), key=None, headers={"x-api-key": "sk-nobody"})


@tap.case("401 with an Authorization that is not Bearer")
def _(env):
    chat_error(env, 401, chat_body(), key=None, headers={"Authorization": "Basic c2stdGVzdC1h"})


@tap.case("401 with an expired key (RFC 3339 expires_at)")
def _(env):
    chat_error(env, 401, chat_body(), key="sk-expired")


@tap.case("401 with an expired key (unix seconds expires_at)")
def _(env):
    chat_error(env, 401, chat_body(), key="sk-expired-unix")


@tap.case("401 with a disabled key")
def _(env):
    chat_error(env, 401, chat_body(), key="sk-disabled")


@tap.case("a key expiring in the future still works")
def _(env):
    resp = env.gw.chat(key="sk-future")
    check(resp.status == 200, "status %d body %r", resp.status, resp.body[:300])


@tap.case("401 on GET /v1/models without a key")
def _(env):
    client_error(env, 401, "GET", "/v1/models", key=None)


@tap.case("403 for a model the key may not use")
def _(env):
    chat_error(env, 403, chat_body(model="other-model"))


@tap.case("404 for an unknown model")
def _(env):
    chat_error(env, 404, chat_body(model="no-such-model"))


@tap.case("404 for an unknown path")
def _(env):
    client_error(env, 404, "GET", "/v1/no-such-path")
    client_error(env, 404, "POST", "/v2/chat/completions", chat_body())


@tap.case("405 for a wrong method on a known path")
def _(env):
    client_error(env, 405, "GET", "/v1/chat/completions")
    client_error(env, 405, "POST", "/v1/models", {})


@tap.case("400 for malformed JSON")
def _(env):
    chat_error(env, 400, b'{"model": "mock-gpt", "messages": [', headers={
        "Content-Type": "application/json"})


@tap.case("400 for a body that is not an object")
def _(env):
    chat_error(env, 400, [1, 2, 3])
    chat_error(env, 400, b'"just a string"', headers={"Content-Type": "application/json"})


@tap.case("400 for a missing model")
def _(env):
    body = chat_body()
    del body["model"]
    chat_error(env, 400, body)


@tap.case("400 for missing or invalid chat messages")
def _(env):
    chat_error(env, 400, {"model": "mock-gpt"})
    chat_error(env, 400, {"model": "mock-gpt", "messages": "hello"})


@tap.case("400 for completions without prompt")
def _(env):
    client_error(env, 400, "POST", "/v1/completions", {"model": "mock-gpt"})


@tap.case("400 for embeddings without input")
def _(env):
    client_error(env, 400, "POST", "/v1/embeddings", {"model": "mock-gpt"})


def big_body(size):
    """A valid chat body of exactly size bytes (padded with an extra field)."""
    head = b'{"model":"mock-gpt","messages":[{"role":"user","content":"hi"}],"pad":"'
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def pieces(data, n=8192):
    return [data[i:i + n] for i in range(0, len(data), n)]


def send_big(env, size, chunked):
    body = big_body(size)
    headers = {"Authorization": "Bearer sk-test-a", "Content-Type": "application/json"}
    if not chunked:
        headers["Content-Length"] = str(len(body))
    resp, err = send_streaming_body(env.gw.port, "POST", "/v1/chat/completions", headers,
                                    pieces(body), chunked=chunked)
    check(resp is not None, "no response (send/read error: %r)", err)
    return resp


@tap.case("413 for a body over max_body_size (Content-Length)")
def _(env):
    before = upstream_requests(env)
    check_error_body(send_big(env, MAX_BODY + 40000, chunked=False), 413)
    check_eq(upstream_requests(env) - before, 0, "requests that reached the upstream")


@tap.case("413 for a body over max_body_size (chunked)")
def _(env):
    before = upstream_requests(env)
    check_error_body(send_big(env, MAX_BODY + 40000, chunked=True), 413)
    check_eq(upstream_requests(env) - before, 0, "requests that reached the upstream")


@tap.case("bodies just under max_body_size pass (Content-Length and chunked)")
def _(env):
    for chunked in (False, True):
        resp = send_big(env, MAX_BODY - 1024, chunked=chunked)
        check(resp.status == 200, "chunked=%s: status %d body %r", chunked, resp.status,
              resp.body[:300])


@tap.case("431 for headers over max_header_size; a 4k header passes")
def _(env):
    before = upstream_requests(env)
    resp = env.gw.request("POST", "/v1/chat/completions", chat_body(), key="sk-test-a",
                          headers={"x-filler": "f" * 16384})
    check_error_body(resp, 431)
    check_eq(upstream_requests(env) - before, 0, "requests that reached the upstream")
    resp = env.gw.request("POST", "/v1/chat/completions", chat_body(), key="sk-test-a",
                          headers={"x-filler": "f" * 4096})
    check(resp.status == 200, "4k header: status %d %r", resp.status, resp.body[:200])


@tap.case("502 when the upstream is unreachable")
def _(env):
    t = time.monotonic()
    resp = env.gw.chat(key="sk-test-all", model="mock-dead")
    check_error_body(resp, 502)
    check(time.monotonic() - t < 5, "took %.1fs", time.monotonic() - t)


@tap.case("504 when the upstream hangs (model first_byte 1s)")
def _(env):
    t = time.monotonic()
    resp = env.gw.chat(model="mock-slow", mock={"hang": True})
    took = time.monotonic() - t
    check_error_body(resp, 504)
    check(0.8 <= took < 8, "504 came after %.2fs, expected about 1s", took)


@tap.case("504 when the upstream's first byte comes after the model's first_byte")
def _(env):
    t = time.monotonic()
    resp = env.gw.chat(model="mock-slow", mock={"first_byte_ms": 4000})
    took = time.monotonic() - t
    check_error_body(resp, 504)
    check(0.8 <= took < 3.5, "504 came after %.2fs, expected about 1s", took)


def passthrough(env, status):
    mock_args = {"status": status}
    resp = env.gw.chat(mock=mock_args)
    direct = request(env.mock.port, "POST", "/v1/chat/completions",
                     chat_body(model="mock-1", mock=mock_args), key=MOCK_KEY)
    check_eq(direct.status, status, "the mock's own status")
    check_eq(resp.status, status, "status through aigw")
    check_eq(resp.json(), direct.json(), "error body through aigw vs. the mock's own")
    check(resp.headers.get("x-request-id"), "no x-request-id")


@tap.case("upstream 500 is passed through with the upstream's body")
def _(env):
    passthrough(env, 500)


@tap.case("upstream 429 is passed through with the upstream's body")
def _(env):
    passthrough(env, 429)


@tap.case("errors carry the client's x-request-id and x-aigw-config-version")
def _(env):
    for key, model, status in (("sk-nobody", "mock-gpt", 401), ("sk-test-a", "other-model", 403),
                               ("sk-test-a", "nope", 404)):
        rid = unique_id()
        resp = env.gw.chat(key=key, model=model, headers={"x-request-id": rid})
        check_error_body(resp, status)
        check_eq(resp.headers.get("x-request-id"), rid, "x-request-id of the %d" % status)
        v = resp.headers.get("x-aigw-config-version")
        check(v is not None and v.isdigit(), "x-aigw-config-version of the %d: %r", status, v)
    seen = set()
    for _ in range(3):
        rid = env.gw.chat(key="sk-nobody").headers.get("x-request-id")
        check(rid and rid not in seen, "generated x-request-id %r missing or repeated", rid)
        seen.add(rid)


def check_access_for_error(env, key, body, status, zero_tokens=True):
    """The request fails with status and still gets its access line."""
    rid = unique_id()
    resp = env.gw.request("POST", "/v1/chat/completions", body, key=key,
                          headers={"x-request-id": rid})
    check_eq(resp.status, status, "status")
    f = env.gw.access_line(rid)
    check_eq((f["status"], f["stream"]), (status, False), "status, stream (%s)" % f["line"])
    if zero_tokens:
        check_eq((f["prompt_tokens"], f["completion_tokens"], f["total_tokens"]),
                 (0, 0, 0), "tokens of a request that never reached the upstream")
    return f


@tap.case("upstream errors get an access log line (500, 502)")
def _(env):
    check_access_for_error(env, "sk-test-a", chat_body(mock={"status": 500}), 500, False)
    check_access_for_error(env, "sk-test-all", chat_body(model="mock-dead"), 502)


@tap.case("client errors after authentication get an access log line (403, 404, 400)")
def _(env):
    f = check_access_for_error(env, "sk-test-a", chat_body(model="other-model"), 403)
    check_eq(f["key"], "team-a", "key of the 403 (%s)" % f["line"])
    check_access_for_error(env, "sk-test-a", chat_body(model="nope"), 404)
    check_access_for_error(env, "sk-test-a", {"model": "mock-gpt"}, 400)


@tap.case("an unauthenticated request (401) gets an access log line")
def _(env):
    check_access_for_error(env, "sk-nobody", chat_body(), 401)


@tap.case("a keep-alive connection keeps working across error responses")
def _(env):
    conn = http.client.HTTPConnection(HOST, env.gw.port, timeout=15)
    steps = [("sk-nobody", "POST", "/v1/chat/completions", chat_body(), 401),
             ("sk-test-a", "POST", "/v1/chat/completions", chat_body(model="nope"), 404),
             ("sk-test-a", "POST", "/v1/chat/completions", {"model": "mock-gpt"}, 400),
             ("sk-test-a", "POST", "/v1/chat/completions", chat_body(), 200),
             ("sk-test-a", "GET", "/v1/chat/completions", None, 405),
             ("sk-test-a", "GET", "/v1/models", None, 200)]
    try:
        for i, (key, method, path, body, status) in enumerate(steps):
            resp = request(env.gw.port, method, path, body, key=key, conn=conn)
            check(resp.status == status, "step %d (%s %s): expected %d, got %d %r", i, method,
                  path, status, resp.status, resp.body[:200])
    finally:
        conn.close()


@tap.case("the gateway still serves after all those errors")
def _(env):
    resp = env.gw.chat(mock={"chunks": 2})
    check(resp.status == 200, "status %d body %r", resp.status, resp.body[:300])


if __name__ == "__main__":
    main(tap, fixture)
