# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the happy paths of aigw's data plane, in front of the mock.

One mock (checking the provider key) and one aigw (2 workers) serve every case.
"""

import hashlib
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, TAP, chat_body, check, check_eq, last_body, last_header, main,
        mock_and_gateway, request, standard_resources, unique_id)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

UNSET_VAR = "AIGW_E2E_DEFINITELY_UNSET_VAR"
HASHED_KEY = "sk-hashed-key-42"


def resources(mock_port):
    """The standard resources plus a model whose provider key comes from a
    ${VAR:-default} default, and a client key given only as its SHA-256."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    extra_models = [
        {"name": "mock-default", "provider": "openai-compatible", "model": "mock-d",
         "api_base": base, "api_key": "${%s:-%s}" % (UNSET_VAR, MOCK_KEY)},
        {"name": "org/mock-slash", "provider": "openai", "model": "mock-s",
         "api_base": base, "api_key": "${MOCK_KEY}"},
    ]
    extra_keys = [
        {"name": "hashed", "key_sha256": hashlib.sha256(HASHED_KEY.encode()).hexdigest(),
         "allowed_models": ["mock-gpt"]},
    ]
    return standard_resources(mock_port, extra_models, extra_keys)


def fixture():
    os.environ.pop(UNSET_VAR, None)
    return mock_and_gateway(resources=resources)


def chat_content(resp):
    """choices[0].message.content of a chat completion response."""
    obj = resp.json()
    try:
        return obj["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise AssertionError("no choices[0].message.content in %r" % (obj,))


def check_ok_chat(resp, chunks, what="chat"):
    check(resp.status == 200, "%s: status %d, body %r", what, resp.status, resp.body[:500])
    check_eq(chat_content(resp), " ".join("tok%d" % i for i in range(chunks)), what + " content")


@tap.case("GET /healthz answers 200 without a key, with an x-request-id")
def _(env):
    resp = env.gw.request("GET", "/healthz")
    check_eq(resp.status, 200, "status")
    check(resp.headers.get("x-request-id"), "no x-request-id on /healthz: %r", resp.headers)


@tap.case("chat completion returns the upstream's answer (content and usage)")
def _(env):
    resp = env.gw.chat(content="hello world", mock={"chunks": 3})
    check_ok_chat(resp, 3)
    usage = resp.json().get("usage")
    check_eq(usage, {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}, "usage")


@tap.case("non-stream body is exactly the upstream's body")
def _(env):
    mock_args = {"chunks": 4}
    via_gw = env.gw.chat(content="same body please", mock=mock_args).json()
    direct = request(env.mock.port, "POST", "/v1/chat/completions",
                     chat_body(model="mock-1", content="same body please", mock=mock_args),
                     key=MOCK_KEY)
    check_eq(direct.status, 200, "direct mock status")
    direct = direct.json()
    for volatile in ("id", "created", "system_fingerprint"):
        via_gw.pop(volatile, None)
        direct.pop(volatile, None)
    check_eq(via_gw, direct, "body through aigw vs. the mock's own body")


@tap.case("upstream gets the upstream model id and the provider key, never the client key")
def _(env):
    rid = unique_id()
    resp = env.gw.chat(content="rewrite me", headers={"x-request-id": rid})
    check_eq(resp.status, 200, "status")
    last = env.mock.last()
    check_eq(last.get("path"), "/v1/chat/completions", "upstream path")
    check_eq(last_body(last).get("model"), "mock-1", "upstream model")
    check_eq(last_header(last, "authorization"), "Bearer " + MOCK_KEY, "upstream Authorization")
    check("sk-test-a" not in repr(last), "the client key reached the upstream: %r", last)


@tap.case("unknown body fields pass through unchanged")
def _(env):
    extra = {"temperature": 0.25, "user": "u-1", "x_custom": {"a": [1, 2, {"b": None}], "c": "d"},
             "max_tokens": 17}
    body = chat_body(content="pass these", **extra)
    resp = env.gw.request("POST", "/v1/chat/completions", body, key="sk-test-a")
    check_eq(resp.status, 200, "status")
    got = last_body(env.mock.last())
    for k, v in extra.items():
        check_eq(got.get(k), v, "upstream body field %r" % k)
    check_eq(got.get("messages"), body["messages"], "upstream messages")


@tap.case("x-api-key authenticates like Authorization: Bearer")
def _(env):
    resp = env.gw.request("POST", "/v1/chat/completions", chat_body(mock={"chunks": 2}),
                          headers={"x-api-key": "sk-test-a"})
    check_ok_chat(resp, 2)


@tap.case("a key given as key_sha256 authenticates")
def _(env):
    check_ok_chat(env.gw.chat(key=HASHED_KEY, mock={"chunks": 2}), 2)


@tap.case("${VAR:-default} in api_key takes the default when VAR is unset")
def _(env):
    resp = env.gw.chat(model="mock-default", mock={"chunks": 2})
    check_ok_chat(resp, 2)
    check_eq(last_header(env.mock.last(), "authorization"), "Bearer " + MOCK_KEY,
             "upstream Authorization")


@tap.case("POST /v1/completions returns the upstream's text")
def _(env):
    resp = env.gw.request("POST", "/v1/completions",
                          {"model": "mock-gpt", "prompt": "one two three", "mock": {"chunks": 2}},
                          key="sk-test-a")
    check(resp.status == 200, "status %d body %r", resp.status, resp.body[:300])
    obj = resp.json()
    check_eq(obj["choices"][0].get("text"), "tok0 tok1", "completion text")
    last = env.mock.last()
    check_eq(last.get("path"), "/v1/completions", "upstream path")
    check_eq(last_body(last).get("model"), "mock-1", "upstream model")
    check_eq(last_body(last).get("prompt"), "one two three", "upstream prompt")


@tap.case("POST /v1/embeddings returns the upstream's vectors")
def _(env):
    resp = env.gw.request("POST", "/v1/embeddings", {"model": "mock-gpt", "input": ["a b", "c"]},
                          key="sk-test-a")
    check(resp.status == 200, "status %d body %r", resp.status, resp.body[:300])
    obj = resp.json()
    data = obj.get("data")
    check(isinstance(data, list) and len(data) == 2, "expected 2 embeddings, got %r", obj)
    check(all(isinstance(d.get("embedding"), list) and d["embedding"] for d in data),
          "embeddings are not non-empty lists: %r", data)
    last = env.mock.last()
    check_eq(last.get("path"), "/v1/embeddings", "upstream path")
    check_eq(last_body(last).get("model"), "mock-1", "upstream model")
    check_eq(last_body(last).get("input"), ["a b", "c"], "upstream input")


@tap.case("GET /v1/models lists only the models the key may use")
def _(env):
    def ids(key):
        resp = env.gw.request("GET", "/v1/models", key=key)
        check(resp.status == 200, "status %d body %r", resp.status, resp.body[:300])
        obj = resp.json()
        check_eq(obj.get("object"), "list", "object")
        check(isinstance(obj.get("data"), list), "data is not a list: %r", obj)
        for m in obj["data"]:
            check_eq(m.get("object"), "model", "object of %r" % (m,))
        return sorted(m.get("id") for m in obj["data"])
    check_eq(ids("sk-test-a"), ["mock-b", "mock-default", "mock-gpt"], "models of team-a")
    check_eq(ids("sk-test-all"), ["mock-b", "mock-default", "mock-gpt", "org/mock-slash",
                                  "other-model"], "models of admin")
    check_eq(ids(HASHED_KEY), ["mock-gpt"], "models of hashed")


AN_HEADERS = {"anthropic-version": "2023-06-01"}


def an_get(env, path, key):
    """GET path as Anthropic's SDKs send it: anthropic-version, the key in x-api-key."""
    headers = dict(AN_HEADERS)
    if key is not None:
        headers["x-api-key"] = key
    return env.gw.request("GET", path, headers=headers)


@tap.case("GET /v1/models/{id}: OpenAI's shape, or Anthropic's with anthropic-version; "
          "a '/' in the id as it is or as %2F")
def _(env):
    r = env.gw.request("GET", "/v1/models/mock-gpt", key="sk-test-a")
    check_eq((r.status, r.json()), (200, {"id": "mock-gpt", "object": "model", "created": 0,
                                          "owned_by": "openai-compatible"}), "OpenAI's shape")
    check(r.headers.get("x-aigw-config-version"), "no x-aigw-config-version: %r", r.headers)
    r = an_get(env, "/v1/models/mock-gpt", "sk-test-a")
    check_eq((r.status, r.json()), (200, {"type": "model", "id": "mock-gpt",
                                          "display_name": "mock-gpt",
                                          "created_at": "1970-01-01T00:00:00Z"}),
             "Anthropic's shape")
    for path in ("/v1/models/org%2Fmock-slash", "/v1/models/org%2fmock-slash",
                 "/v1/models/org/mock-slash", "/v1/models/org%2Fmock-slash?x=1"):
        r = env.gw.request("GET", path, key="sk-test-all")
        check_eq((r.status, r.json().get("id"), r.json().get("owned_by")),
                 (200, "org/mock-slash", "openai"), path)


@tap.case("GET /v1/models/{id}: unknown, not allowed to the key, or a bad escape: 404 "
          "model_not_found, Anthropic's not_found_error; a bad key 401 in the client's shape")
def _(env):
    for key, name in (("sk-test-a", "no-such-model"), ("sk-test-a", "other-model"),
                      (HASHED_KEY, "mock-b"), ("sk-test-all", "mock-gpt%zz"),
                      ("sk-test-all", "mock-gpt%00")):
        what = "%s with %s" % (name, key)
        r = env.gw.request("GET", "/v1/models/" + name, key=key)
        check_eq(r.status, 404, what + ": status (body %r)" % r.body[:300])
        err = r.json().get("error", {})
        check_eq((err.get("type"), err.get("code"), err.get("param")),
                 ("invalid_request_error", "model_not_found", "model"), what)
        if "%" not in name:
            check("`%s`" % name in err.get("message", ""), "%s: message %r", what, err)
        r = an_get(env, "/v1/models/" + name, key)
        obj = r.json()
        check_eq((r.status, obj.get("type"), obj.get("error", {}).get("type")),
                 (404, "error", "not_found_error"), what + " (Anthropic)")
    r = an_get(env, "/v1/models/mock-gpt", None)
    check_eq((r.status, r.json().get("error", {}).get("type")), (401, "authentication_error"),
             "no key (Anthropic)")
    r = an_get(env, "/v1/models", "sk-not-a-key")
    check_eq((r.status, r.json().get("error", {}).get("type")), (401, "authentication_error"),
             "GET /v1/models, a bad key (Anthropic)")
    r = env.gw.request("GET", "/v1/models/mock-gpt", key="sk-not-a-key")
    check_eq((r.status, r.json().get("error", {}).get("code")), (401, "invalid_api_key"),
             "a bad key (OpenAI)")
    r = env.gw.request("POST", "/v1/models/mock-gpt", {}, key="sk-test-a")
    check_eq((r.status, r.headers.get("allow")), (405, "GET"), "POST")


@tap.case("x-request-id: the client's own is echoed, else a new unique one")
def _(env):
    mine = unique_id("client-id")
    resp = env.gw.chat(headers={"x-request-id": mine})
    check_eq(resp.status, 200, "status")
    check_eq(resp.headers.get("x-request-id"), mine, "echoed x-request-id")
    seen = set()
    for _ in range(3):
        rid = env.gw.chat().headers.get("x-request-id")
        check(rid, "no x-request-id generated")
        check(rid not in seen, "x-request-id %r repeated", rid)
        seen.add(rid)


@tap.case("x-aigw-config-version is an integer on every data-plane response")
def _(env):
    versions = set()
    for resp in (env.gw.chat(), env.gw.request("GET", "/v1/models", key="sk-test-a"),
                 env.gw.request("POST", "/v1/embeddings", {"model": "mock-gpt", "input": "x"},
                                key="sk-test-a")):
        v = resp.headers.get("x-aigw-config-version")
        check(v is not None and v.isdigit() and int(v) >= 1,
              "bad x-aigw-config-version %r on %r", v, resp)
        versions.add(v)
    check_eq(len(versions), 1, "one version while nothing changes (%r)" % versions)


@tap.case("access log line of a non-stream request has exact token counts")
def _(env):
    rid = unique_id()
    body = {"model": "mock-gpt", "mock": {"chunks": 4},
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hello  there\tworld"}]}
    resp = env.gw.request("POST", "/v1/chat/completions", body, key="sk-test-a",
                          headers={"x-request-id": rid})
    check_eq(resp.status, 200, "status")
    f = env.gw.access_line(rid)
    want = {"request_id": rid, "key": "team-a", "model": "mock-gpt", "status": 200,
            "stream": False, "prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
    check_eq({k: f[k] for k in want}, want, "access line fields (%s)" % f["line"])


@tap.case("keep-alive: several requests on one connection")
def _(env):
    conn = http.client.HTTPConnection(HOST, env.gw.port, timeout=15)
    try:
        for i in range(1, 6):
            resp = request(env.gw.port, "POST", "/v1/chat/completions",
                           chat_body(mock={"chunks": i}), key="sk-test-a", conn=conn)
            check_ok_chat(resp, i, "request %d on the connection" % i)
    finally:
        conn.close()


@tap.case("a large response (3000 tokens) arrives whole")
def _(env):
    check_ok_chat(env.gw.chat(mock={"chunks": 3000}), 3000)


@tap.case("an upstream body that trickles in (slow_body_ms) arrives whole")
def _(env):
    check_ok_chat(env.gw.chat(mock={"chunks": 20, "slow_body_ms": 10}), 20)


@tap.case("concurrent requests (8 threads x 5) all answer correctly")
def _(env):
    errors = []

    def worker(n):
        for i in range(5):
            chunks = 1 + (n + i) % 7
            try:
                resp = env.gw.chat(mock={"chunks": chunks})
                if resp.status != 200 or chat_content(resp) != " ".join(
                        "tok%d" % j for j in range(chunks)):
                    errors.append((n, i, resp.status, resp.body[:200]))
            except Exception as exc:  # noqa: BLE001 - collected
                errors.append((n, i, repr(exc)))
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    check(not any(t.is_alive() for t in threads), "threads still running after 20 s")
    check(not errors, "%d failures, first: %r", len(errors), errors[:3])


if __name__ == "__main__":
    main(tap, fixture)
