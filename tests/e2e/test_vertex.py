# SPDX-License-Identifier: Apache-2.0
"""End-to-end: provider vertex (issue 17) against the mock's Vertex AI.

A throwaway RSA key pair is made with `openssl genpkey` for each run (no
private key is committed); the service-account key file holds its private
half and a token_uri at the mock, which is started with -g and the public
half: its POST /token verifies each assertion's RS256 signature and claims
and issues tokens, and its Vertex routes take only a token it issued that
has not expired. aigw's master gets and refreshes the tokens; workers read
them from the table.

What is checked: OpenAI chat to Gemini on Vertex (non-stream and stream,
the generateContent / streamGenerateContent?alt=sse URL forms, a Bearer
token the mock issued); an Anthropic client to Claude on Vertex
(rawPredict and streamRawPredict, anthropic_version in the body, no model)
and an OpenAI client to it; a token refreshed before it expires while no
request waits on the token endpoint (it stops answering and requests are
still served with the current token, then 503 upstream_token_unavailable
once it has expired); a bad key file refused by aigw -t naming it and the
field; no token or private key in the log or the Admin API.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        TAP, AIGW_BIN, SLOW, Mock, Gateway, Env, HOST, check, check_eq, check_error_body,
        chat_body, last_header, main, make_tmpdir, request, stream_text, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-test-vertex"
GEMINI = "gemini-2.0-flash-001"
CLAUDE = "claude-sonnet-4@20250514"
PREFIX = "/v1/projects/my-project/locations/us-central1/publishers"


def make_keys(d):
    """A fresh RSA key pair: (private PEM path, public PEM path)."""
    priv, pub = os.path.join(d, "key.pem"), os.path.join(d, "pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", priv], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    return priv, pub


def key_file(d, name, priv, mock_port, **over):
    """A service-account key file as the Cloud console writes it; its path."""
    with open(priv) as f:
        pem = f.read()
    doc = {"type": "service_account", "project_id": "my-project",
           "private_key_id": "0123456789abcdef0123456789abcdef01234567",
           "private_key": pem,
           "client_email": "aigw@my-project.iam.gserviceaccount.com",
           "client_id": "123456789012345678901",
           "auth_uri": "https://accounts.google.com/o/oauth2/auth",
           "token_uri": "http://%s:%d/token" % (HOST, mock_port),
           "universe_domain": "googleapis.com"}
    doc.update(over)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def target(mock_port, keyfile, model, name):
    return {"name": name, "provider": "vertex", "model": model,
            "api_base": "http://%s:%d" % (HOST, mock_port),
            "vertex_project": "my-project", "vertex_location": "us-central1",
            "vertex_credentials_file": keyfile}


def resources(mock_port, keyfile):
    return {"models": [target(mock_port, keyfile, GEMINI, "vx-gemini"),
                       target(mock_port, keyfile, CLAUDE, "vx-claude")],
            "api_keys": [{"name": "all", "key": KEY}]}


class fixture:
    def __enter__(self):
        self.dir = make_tmpdir("aigw-vertex-")
        self.priv, pub = make_keys(self.dir)
        self.mock = Mock(extra_args=["-g", pub])
        self.keyfile = key_file(self.dir, "sa.json", self.priv, self.mock.port)
        self.gw = Gateway(resources(self.mock.port, self.keyfile))
        env = Env(self.mock, self.gw)
        env.dir, env.priv, env.keyfile = self.dir, self.priv, self.keyfile
        wait_served(env.gw, "vx-gemini")
        return env

    def __exit__(self, *exc):
        self.gw.stop()
        self.mock.stop()


def post(gw, body, path="/v1/chat/completions", headers=None):
    rid = unique_id("vx")
    h = {"x-request-id": rid}
    h.update(headers or {})
    return gw.request("POST", path, body, key=KEY, headers=h), rid


def wait_served(gw, model):
    """Wait until the master's first token is in the table (503 until then)."""
    def ok():
        resp, _ = post(gw, chat_body(model=model))
        check(resp.status in (200, 503), "status %d %r", resp.status, resp.body[:300])
        return resp.status == 200
    wait_for(ok, 20 * SLOW, interval=0.1, what="a first access token")


def vx(mock, method="GET", **body):
    resp = request(mock.port, method, "/mock/vertex", body=body if method == "POST" else None)
    check_eq(resp.status, 200, "/mock/vertex")
    return resp.json()


def bearer(mock):
    auth = last_header(mock.last(), "authorization") or ""
    check(auth.startswith("Bearer ya29.mock-"), "authorization %r", auth)
    return auth[7:]


@tap.case("OpenAI chat to Gemini on Vertex, non-stream: generateContent with a Bearer token")
def _(env):
    env.mock.configure(chunks=3, content="one two three")
    resp, rid = post(env.gw, chat_body(model="vx-gemini", content="hello there world"))
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    a = resp.json()
    check_eq(a["object"], "chat.completion", "object")
    check_eq(a["choices"][0]["message"]["content"], "one two three", "content")
    check_eq(a["usage"]["completion_tokens"], 3, "completion_tokens")
    last = env.mock.last()
    check_eq(last["path"], "%s/google/models/%s:generateContent" % (PREFIX, GEMINI), "path")
    check("contents" in last["body"], "not a GenerateContentRequest: %r", last["body"])
    bearer(env.mock)
    check(last_header(last, "x-goog-api-key") is None, "an API key header was sent")
    f = env.gw.access_line(rid)
    check_eq((f["status"], f["completion_tokens"]), (200, 3), "access line (%s)" % f["line"])


@tap.case("OpenAI chat to Gemini on Vertex, stream: streamGenerateContent?alt=sse, [DONE]")
def _(env):
    env.mock.configure(chunks=4, content="alpha beta gamma delta")
    body = chat_body(model="vx-gemini", stream=True, stream_options={"include_usage": True})
    s = env.gw.stream(body, key=KEY)
    events = s.read_all()
    check_eq(s.status, 200, "status")
    check_eq(stream_text(events), "alpha beta gamma delta", "streamed text")
    check(events and events[-1].is_done, "no [DONE]: %r", events[-3:])
    usage = [e.json()["usage"] for e in events[:-1] if e.json().get("usage")]
    check(usage and usage[-1]["completion_tokens"] == 4, "usage chunk: %r", usage)
    last = env.mock.last()
    check_eq(last["path"],
             "%s/google/models/%s:streamGenerateContent?alt=sse" % (PREFIX, GEMINI), "path")


@tap.case("Anthropic client to Claude on Vertex: rawPredict and streamRawPredict, "
          "anthropic_version in the body, no model")
def _(env):
    env.mock.configure(chunks=2, content="hey you")
    body = {"model": "vx-claude", "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi there"}]}
    resp, _ = post(env.gw, body, path="/v1/messages", headers={"anthropic-version": "2023-06-01"})
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    m = resp.json()
    check_eq((m["type"], m["role"]), ("message", "assistant"), "shape")
    check_eq(m["content"][0]["text"], "hey you", "text")
    check_eq(m["usage"]["output_tokens"], 2, "output_tokens")
    last = env.mock.last()
    check_eq(last["path"], "%s/anthropic/models/%s:rawPredict" % (PREFIX, CLAUDE), "path")
    check_eq(last["body"].get("anthropic_version"), "vertex-2023-10-16", "anthropic_version")
    check("model" not in last["body"], "model in the body: %r", last["body"])
    bearer(env.mock)
    s = env.gw.stream(dict(body, stream=True), key=KEY, path="/v1/messages",
                      headers={"anthropic-version": "2023-06-01"})
    events = s.read_all()
    check_eq(s.status, 200, "stream status")
    types = [e.event for e in events]
    check(types[0] == "message_start" and types[-1] == "message_stop", "events %r", types)
    text = "".join(e.json()["delta"].get("text", "") for e in events
                   if e.event == "content_block_delta")
    check_eq(text, "hey you", "streamed text")
    check_eq(env.mock.last()["path"], "%s/anthropic/models/%s:streamRawPredict" % (PREFIX, CLAUDE),
             "stream path")


@tap.case("OpenAI chat to Claude on Vertex: translated to Messages, max_tokens defaulted")
def _(env):
    env.mock.configure(chunks=2, content="fine thanks")
    resp, _ = post(env.gw, chat_body(model="vx-claude"))
    check(resp.status == 200, "status %d %r", resp.status, resp.body[:400])
    check_eq(resp.json()["choices"][0]["message"]["content"], "fine thanks", "content")
    b = env.mock.last()["body"]
    check_eq((b.get("anthropic_version"), b.get("max_tokens")), ("vertex-2023-10-16", 4096),
             "body")


@tap.case("a Responses API client to Gemini and to Claude on Vertex: translated through chat, "
          "a response object back")
def _(env):
    env.mock.configure(chunks=2, content="two words")
    for model, path in (("vx-gemini", "google/models/%s:generateContent" % GEMINI),
                        ("vx-claude", "anthropic/models/%s:rawPredict" % CLAUDE)):
        resp, _ = post(env.gw, {"model": model, "input": "hello there"}, path="/v1/responses")
        check(resp.status == 200, "%s: status %d %r", model, resp.status, resp.body[:400])
        r = resp.json()
        check_eq(r.get("object"), "response", model + ": object")
        texts = [c.get("text") for o in r.get("output") or [] for c in o.get("content") or []]
        check_eq(texts, ["two words"], model + ": output text")
        check_eq(env.mock.last()["path"], "%s/%s" % (PREFIX, path), model + ": upstream path")


@tap.case("the token is refreshed before it expires; a stopped token endpoint delays no "
          "request, and once the token has expired requests get 503 upstream_token_unavailable")
def _(env):
    # a second gateway with its own key file, so its first token has the short lifetime
    life = 6
    vx(env.mock, "POST", expires_in=life)
    keyfile = key_file(env.dir, "sa-short.json", env.priv, env.mock.port)
    gw = Gateway(resources(env.mock.port, keyfile))
    try:
        wait_served(gw, "vx-gemini")
        t1 = bearer(env.mock)
        # refreshed at half its life: a later request carries a new token (the
        # mock issues it a moment before the master has it in the table)
        def refreshed():
            resp, _ = post(gw, chat_body(model="vx-gemini"))
            check_eq(resp.status, 200, "while refreshing")
            tok = bearer(env.mock)
            return tok if tok != t1 else None
        t2 = wait_for(refreshed, 4 * life * SLOW, interval=0.2, what="a request with a new token")
        # the token endpoint stops answering: requests go on with the current token
        vx(env.mock, "POST", token_hang=True)
        asked = vx(env.mock)["token_requests"]
        wait_for(lambda: vx(env.mock)["token_requests"] > asked, 4 * life * SLOW, interval=0.1,
                 what="the next refresh (left unanswered)")
        before = vx(env.mock)["token_requests"]
        for _ in range(3):
            resp, _ = post(gw, chat_body(model="vx-gemini"))
            if resp.status != 200:
                break
            check_eq(bearer(env.mock), t2, "the current token")
        if resp.status == 200:
            check_eq(vx(env.mock)["token_requests"], before, "a request asked for a token")
        # once it has expired: a clear 503, not a hang
        def expired():
            r, _ = post(gw, chat_body(model="vx-gemini"))
            return r if r.status == 503 else None
        resp = wait_for(expired, 4 * life * SLOW, interval=0.2, what="the token's expiry")
        err = check_error_body(resp, 503, "expired token")
        check_eq(err.get("code"), "upstream_token_unavailable", "code")
        check("no valid access token" in err["message"], "message %r", err["message"])
        # the unanswered fetch times out (10 s) and is logged, without a secret
        wait_for(lambda: "token refresh failed" in gw.log(), 30 * SLOW, interval=0.2,
                 what="the failed refresh in the log")
        check("ya29." not in gw.log(), "a token is in the log")
        mport = int(gw.config["metrics"]["listen"][0].rsplit(":", 1)[1])
        text = request(mport, "GET", "/metrics").body
        text = text.decode() if isinstance(text, bytes) else text
        counts = {}
        for line in text.splitlines():
            if line.startswith("aigw_vertex_token_refreshes_total{"):
                counts[line.split('"')[1]] = float(line.rsplit(" ", 1)[1])
        check(counts.get("success", 0) >= 2 and counts.get("failure", 0) >= 1,
              "aigw_vertex_token_refreshes_total: %r", counts)
        check("ya29." not in text, "a token in /metrics")
    finally:
        vx(env.mock, "POST", token_hang=False, expires_in=3600)
        gw.stop()


@tap.case("a vertex model added by a reload, with a key file of its own: its token is fetched, "
          "no restart")
def _(env):
    keyfile = key_file(env.dir, "sa-added.json", env.priv, env.mock.port)
    res = resources(env.mock.port, env.keyfile)
    res["models"].append(target(env.mock.port, keyfile, GEMINI, "vx-added"))
    asked = vx(env.mock)["token_requests"]
    env.gw.write_resources(res)
    r = env.gw.control("reload", timeout=40 * SLOW)  # answers once the reload is done
    check(r.get("ok") is True, "reload: %r", r)
    wait_served(env.gw, "vx-added")
    check(vx(env.mock)["token_requests"] > asked, "no token request for the new key file")
    check(("%s: access token refreshed" % keyfile) in env.gw.log(), "no refresh line for it")


@tap.case("no access token and no private key in the log, the access log or the Admin API")
def _(env):
    tok = bearer(env.mock)
    with open(env.priv) as f:
        pem_line = f.read().splitlines()[1]
    log = env.gw.log()
    check("access token refreshed" in log, "no refresh line in the log")
    check(tok not in log and "ya29." not in log, "a token is in the log")
    check(pem_line not in log, "the private key is in the log")
    port = int(env.gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    resp = request(port, "GET", "/admin/v1/models")
    check_eq(resp.status, 200, "admin status")
    text = resp.body.decode() if isinstance(resp.body, bytes) else resp.body
    check(env.keyfile in text, "the key file's path is not shown: %s" % text[:300])
    check("ya29." not in text and pem_line not in text, "a secret in the Admin API")


def aigw_t(d, res):
    """aigw -t on a configuration with resources res: (rc, output)."""
    rpath = os.path.join(d, "resources.json")
    with open(rpath, "w") as f:
        json.dump(res, f)
    cpath = os.path.join(d, "aigw.yaml")
    with open(cpath, "w") as f:
        json.dump({"listen": ["127.0.0.1:1"], "resources": rpath, "data_dir": d,
                   "admin": {"listen": []}}, f)
    p = subprocess.run([AIGW_BIN, "-t", "-c", cpath], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace")


@tap.case("aigw -t refuses a bad key file, naming the file and the field, never the key")
def _(env):
    d = make_tmpdir("aigw-vertex-t-")
    with open(env.priv) as f:
        pem_line = f.read().splitlines()[1]
    good = key_file(d, "good.json", env.priv, env.mock.port)
    rc, out = aigw_t(d, resources(env.mock.port, good))
    check(rc == 0, "a good key file refused: %s", out)
    cases = [
        (key_file(d, "user.json", env.priv, env.mock.port, type="authorized_user"),
         "user.json: type:"),
        (key_file(d, "nokey.json", env.priv, env.mock.port,
                  private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
         "nokey.json: private_key:"),
        (os.path.join(d, "missing.json"), "missing.json: cannot read the key file"),
    ]
    for path, want in cases:
        rc, out = aigw_t(d, resources(env.mock.port, path))
        check(rc != 0 and want in out and "vertex_credentials_file" in out,
              "aigw -t with %s: rc %d: %s", path, rc, out)
        check(pem_line not in out, "the key is in the message")
    rc, out = aigw_t(d, {"models": [dict(target(env.mock.port, good, GEMINI, "x"),
                                         api_key="sk-no")]})
    check(rc != 0 and "api_key" in out and "vertex_credentials_file" in out,
          "api_key on vertex: %s", out)


if __name__ == "__main__":
    main(tap, fixture)
