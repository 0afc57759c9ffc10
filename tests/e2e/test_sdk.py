# SPDX-License-Identifier: Apache-2.0
"""End-to-end: aigw driven by the official client SDKs, OpenAI's `openai` and
Anthropic's `@anthropic-ai/sdk` (npm), in front of the mock speaking each
provider's API.

One mock (checking the provider keys) and one aigw serve every case, with a
Model per provider: m-openai (openai, the mock's /v1), m-azure (azure-openai,
a deployment), m-anthropic (anthropic) and m-gemini (gemini), and org/m-slash
(openai, for a name with a "/" in models.retrieve), m-bedrock (bedrock: the
mock's Converse API, each request's SigV4 signature checked). A case sets the
mock's default controls (POST /mock/config: aigw does not forward a client's
headers, and translations drop the body's `mock`), runs one scenario of
tests/sdk/openai.mjs or tests/sdk/anthropic.mjs (`node SCRIPT PORT KEY
SCENARIO MODEL OPTIONS`), which prints one JSON line of what the SDK
returned or threw, and checks it exactly against what the mock answers: the
text "tok0 tok1 ...", as many output tokens as chunks, as many input tokens as
words in the prompt, the tool call it was told to make, the status it was
told to send, and the SDK's error class for it.

The SDKs are the versions tests/sdk/package-lock.json pins, installed by
`npm ci` in tests/sdk (.ci/run does it). Without them (or without node) each
case is skipped with the reason, unless AIGW_SDK_REQUIRED=1, which makes it
fail. Node talks to 127.0.0.1 only; each run is bounded (the SDKs' timeout,
no retries, the script's own limit, and a kill from here).
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Env, Gateway, Mock, TestFailure, check, check_eq,
        free_port, main, make_tmpdir, register_cleanup, request, terminate_pid, write_file)
    import jwtkit  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

# Each case starts node once or twice; the whole file takes about half a
# minute here, more under the sanitizers and a parallel `make check`.
tap = TAP(deadline=float(os.environ.get("AIGW_SDK_FILE_DEADLINE", "300")) * SLOW)

SDK_DIR = os.path.join(SRCDIR, "tests", "sdk")
NODE_MODULES = os.path.join(SDK_DIR, "node_modules")
PACKAGES = ("openai", "@anthropic-ai/sdk")
REQUIRED = os.environ.get("AIGW_SDK_REQUIRED") == "1"
NODE = os.environ.get("AIGW_NODE") or shutil.which("node")
NODE_TIMEOUT = 30.0 * SLOW  # one script run; the script gives up after 20 s itself

CLIENT_KEY = "sk-sdk-client"
BAD_KEY = "sk-sdk-not-a-key"

# Model -> (provider, upstream model, the target in x-aigw-target)
MODELS = {
    "m-openai": ("openai", "gpt-mock", "openai/gpt-mock"),
    "m-azure": ("azure-openai", "dep-mock", "azure-openai/dep-mock"),
    "m-anthropic": ("anthropic", "claude-mock", "anthropic/claude-mock"),
    "m-gemini": ("gemini", "gemini-mock", "gemini/gemini-mock"),
    "m-bedrock": ("bedrock", "anthropic.claude-mock-v1:0", "bedrock/anthropic.claude-mock-v1:0"),
}

# A Model whose name holds a "/" (the SDKs send it percent-encoded in
# models.retrieve's path); only the models cases use it.
SLASH = "org/m-slash"
ALL_MODELS = dict(MODELS, **{SLASH: ("openai", "gpt-mock", "openai/gpt-mock")})
EMBED_DIM = 8  # the mock's floats per embedding (MOCK_EMBED_DIM)

OA_PROMPT = "what is the weather like in Paris today"     # 8 words
AN_PROMPT = "tell me three short facts about llamas"      # 7 words
TOOL = {"name": "get_weather", "input": {"city": "Paris", "unit": "celsius", "days": 3}}


def words(text):
    """The mock's prompt tokens for a prompt of one text."""
    return len(text.split())


def toks(n):
    """The mock's reply text in n chunks."""
    return " ".join("tok%d" % i for i in range(n))


# --------------------------------------------------------------------------
# The fixture and running node
# --------------------------------------------------------------------------

def resources(mock_port):
    """A Model per provider on the one mock, and the client key."""
    root = "http://%s:%d" % (HOST, mock_port)
    base = {"openai": root + "/v1", "azure-openai": root, "anthropic": root + "/v1",
            "gemini": root + "/v1beta"}
    models = [{"name": name, "provider": prov, "model": up, "api_base": base[prov],
               "api_key": "${MOCK_KEY}"} for name, (prov, up, _) in ALL_MODELS.items()
              if prov != "bedrock"]
    # Bedrock: the mock checks each request's SigV4 signature with MOCK_KEY as the secret
    models += [{"name": name, "provider": prov, "model": up, "api_base": root,
                "region": "us-east-1", "aws_access_key_id": "AKIDSDKTEST",
                "aws_secret_access_key": "${MOCK_KEY}"}
               for name, (prov, up, _) in ALL_MODELS.items() if prov == "bedrock"]
    return {"models": models, "api_keys": [
        {"name": "sdk", "key": CLIENT_KEY},
        {"name": "sdk-jwt", "jwt": {"issuer": JWT_ISS, "subject": "sdk-user"}}]}


# An identity provider whose JWTs the SDKs send as their API key.
JWT_ISS = "https://idp.sdk.test"


def make_cert(folder):
    """A test CA and a server certificate it signed for 127.0.0.1: (CA, cert, key)."""
    ca, cakey = os.path.join(folder, "ca.pem"), os.path.join(folder, "ca.key")
    cert, key = os.path.join(folder, "srv.pem"), os.path.join(folder, "srv.key")
    csr, ext = os.path.join(folder, "srv.csr"), os.path.join(folder, "srv.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    write_file(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for cmd in (["req", "-x509"] + ec + ["-days", "2", "-subj", "/CN=aigw sdk test CA",
                                         "-keyout", cakey, "-out", ca, "-addext",
                                         "basicConstraints=critical,CA:TRUE", "-addext",
                                         "keyUsage=critical,keyCertSign"],
                ["req", "-new"] + ec + ["-subj", "/CN=localhost", "-keyout", key, "-out", csr],
                ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
                 "-days", "2", "-out", cert, "-extfile", ext]):
        subprocess.run(["openssl"] + cmd, check=True, capture_output=True)
    os.chmod(key, 0o600)
    return ca, cert, key


class fixture:
    """One mock checking the provider keys, one aigw with a Model per provider,
    on a plain listener and an HTTPS one (a certificate of a test CA), and an
    identity provider (an ES256 key made now, its JWK Set in a file)."""

    def __enter__(self):
        self.mock = Mock(key=MOCK_KEY)
        try:
            ca, cert, key = make_cert(make_tmpdir("aigw-sdk-tls-"))
            plain, tls = free_port(), free_port()
            listen = ["%s:%d" % (HOST, plain),
                      {"address": "%s:%d" % (HOST, tls),
                       "tls": {"certificates": [{"cert_file": cert, "key_file": key}]}}]
            d = make_tmpdir("aigw-sdk-jwt-")
            self.key = jwtkit.Key(d, "p256", "sdk-1")
            with open(os.path.join(d, "idp.jwks"), "w") as f:
                f.write(jwtkit.jwks(self.key.jwk()))
            prov = {"name": "idp", "issuer": JWT_ISS, "audiences": ["aigw"],
                    "jwks_file": os.path.join(d, "idp.jwks")}
            self.gw = Gateway(resources(self.mock.port), port=plain, env={"MOCK_KEY": MOCK_KEY},
                              config={"listen": listen, "auth": {"jwt": {"providers": [prov]}}})
        except BaseException:
            self.mock.stop()
            raise
        return Env(self.mock, self.gw, tls_port=tls, tls_ca=ca, use_tls=False, jwt_key=self.key)

    def __exit__(self, *exc):
        self.gw.stop()
        self.mock.stop()


def missing():
    """Why the SDK tests cannot run here, or None: node, or the packages as
    package-lock.json pins them."""
    if not NODE:
        return "node is not installed"
    try:
        with open(os.path.join(SDK_DIR, "package-lock.json")) as f:
            lock = json.load(f)["packages"]
    except (OSError, ValueError, KeyError) as exc:
        return "cannot read tests/sdk/package-lock.json: %s" % exc
    for pkg in PACKAGES:
        want = (lock.get("node_modules/" + pkg) or {}).get("version")
        try:
            with open(os.path.join(NODE_MODULES, pkg, "package.json")) as f:
                have = json.load(f).get("version")
        except (OSError, ValueError):
            return "%s is not installed in %s (run `npm ci` in tests/sdk)" % (pkg, NODE_MODULES)
        if have != want:
            return "%s %s is installed, package-lock.json pins %s (run `npm ci` in tests/sdk)" % (
                pkg, have, want)
    return None


def node_env():
    """The environment of node: no SDK settings, proxies or node options of ours."""
    drop = ("OPENAI_", "ANTHROPIC_", "AZURE_OPENAI", "NODE_OPTIONS")
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(drop) and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = HOST
    return env


class _NodeRun:
    """A running script, for the harness's cleanup (killed by its PID)."""

    def __init__(self, proc):
        self.proc = proc

    def kill_now(self):
        if self.proc.poll() is None:
            terminate_pid(self.proc.pid, self.proc, timeout=3)


def sdk(env, script, scenario, model, key=CLIENT_KEY, **options):
    """Run `node tests/sdk/SCRIPT.mjs PORT KEY SCENARIO MODEL OPTIONS`; its
    one JSON line as a dict."""
    port, nenv = env.gw.port, node_env()
    if env.use_tls:  # the HTTPS listener, its certificate checked against the test CA
        port = env.tls_port
        nenv.update(AIGW_SDK_SCHEME="https", NODE_EXTRA_CA_CERTS=env.tls_ca)
    args = [NODE, os.path.join(SDK_DIR, script + ".mjs"), str(port), key, scenario,
            model, json.dumps(options)]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=nenv, cwd=SDK_DIR)
    run = _NodeRun(proc)
    register_cleanup(run)
    try:
        out, err = proc.communicate(timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        terminate_pid(proc.pid, proc, timeout=3)
        out, err = proc.communicate()
        raise TestFailure("%s %s %s: no result after %.0fs; stderr: %s" % (
            script, scenario, model, NODE_TIMEOUT, err.decode("utf-8", "replace")[-1500:]))
    finally:
        run.kill_now()
    text = out.decode("utf-8", "replace")
    lines = text.splitlines()
    check(proc.returncode == 0 and len(lines) == 1,
          "%s %s %s exited %s with stdout %r; stderr: %s", script, scenario, model,
          proc.returncode, text[-1500:], err.decode("utf-8", "replace")[-1500:])
    try:
        return json.loads(lines[0])
    except ValueError:
        raise TestFailure("%s %s: stdout is not JSON: %r" % (script, scenario, text[:1500]))


def run(env, controls, script, scenario, model, **kw):
    """sdk() with the mock's default controls set to `controls` (cleared after)."""
    env.mock.configure(**controls)
    try:
        return sdk(env, script, scenario, model, **kw)
    finally:
        env.mock.configure()


def ok(res, what):
    """The result of a run that must have succeeded."""
    check(res.get("ok") is True, "%s: the SDK threw %s", what,
          json.dumps(res.get("error"), indent=1))
    return res


def failed(res, what):
    """The SDK's error of a run that must have thrown."""
    check(res.get("ok") is False and isinstance(res.get("error"), dict),
          "%s: expected the SDK to throw, got %s", what, json.dumps(res)[:1500])
    return res["error"]


def check_sdk_error(err, cls, status, what, parents=("APIError",), etype=None, message=None,
                    target=None):
    """The SDK threw exactly class cls (a subclass of each of parents) with
    this status; etype: the error body's type; message: a text the message
    holds; target: the x-aigw-target of the error response."""
    check_eq(err.get("class"), cls, "%s: error class (%s)" % (what, err.get("message")))
    for p in parents:
        check(p in (err.get("chain") or []), "%s: %s is not a %s: %r", what, cls, p,
              err.get("chain"))
    check_eq(err.get("status"), status, "%s: error status" % what)
    if etype is not None:
        check_eq(err.get("type"), etype, "%s: error type" % what)
    if message is not None:
        check(message in (err.get("message") or ""), "%s: error message %r does not hold %r",
              what, err.get("message"), message)
    if target is not None:
        check_eq(err.get("target"), target, "%s: x-aigw-target of the error" % what)


def check_target(res, model, what):
    """The answer came from the model's target (x-aigw-target) at the first attempt."""
    h = res.get("headers") or {}
    check_eq(h.get("target"), MODELS[model][2], "%s: x-aigw-target" % what)
    check_eq(h.get("attempts"), "1", "%s: x-aigw-attempts" % what)


# --------------------------------------------------------------------------
# OpenAI's SDK: /v1/chat/completions and /v1/models
# --------------------------------------------------------------------------

def check_oa_usage(usage, prompt, completion, what):
    """usage: exactly prompt, completion and their sum; the details, when
    given, say nothing was cached and nothing was reasoning."""
    check(isinstance(usage, dict), "%s: no usage: %r", what, usage)
    got = {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    check_eq(got, {"prompt_tokens": prompt, "completion_tokens": completion,
                   "total_tokens": prompt + completion}, what + ": usage")
    ptd = usage.get("prompt_tokens_details")
    if ptd is not None:
        check_eq(ptd.get("cached_tokens", 0), 0,
                 what + ": usage.prompt_tokens_details.cached_tokens")
    ctd = usage.get("completion_tokens_details")
    if ctd is not None:
        check_eq(ctd.get("reasoning_tokens", 0), 0,
                 what + ": usage.completion_tokens_details.reasoning_tokens")


def check_oa_tool_call(calls, what):
    """One function call of get_weather whose arguments parse to TOOL's input."""
    check(isinstance(calls, list) and len(calls) == 1, "%s: tool_calls %r", what, calls)
    c = calls[0]
    check(isinstance(c.get("id"), str) and c["id"], "%s: tool call without an id: %r", what, c)
    check_eq(c.get("type"), "function", what + ": tool call type")
    fn = c.get("function") or {}
    check_eq(fn.get("name"), TOOL["name"], what + ": function name")
    try:
        args = json.loads(fn.get("arguments"))
    except (TypeError, ValueError):
        raise TestFailure("%s: arguments are not JSON: %r" % (what, fn.get("arguments")))
    check_eq(args, TOOL["input"], what + ": parsed arguments")


def oa_chat_case(model):
    def case(env):
        what = "chat.completions.create(%s)" % model
        res = ok(run(env, {"chunks": 4}, "openai", "chat", model, prompt=OA_PROMPT), what)
        check_target(res, model, what)
        c = res["completion"]
        check_eq(c.get("object"), "chat.completion", what + ": object")
        check(isinstance(c.get("id"), str) and c["id"], "%s: no id: %r", what, c)
        check_eq(len(c.get("choices") or []), 1, what + ": number of choices")
        ch = c["choices"][0]
        check_eq(ch.get("index"), 0, what + ": choices[0].index")
        check_eq(ch.get("message", {}).get("role"), "assistant", what + ": role")
        check_eq(ch["message"].get("content"), toks(4), what + ": content")
        check(not ch["message"].get("tool_calls"), "%s: tool_calls in a text answer", what)
        check_eq(ch.get("finish_reason"), "stop", what + ": finish_reason")
        check_oa_usage(c.get("usage"), words(OA_PROMPT), 4, what)
    return case


def oa_chunk_checks(chunks, model, what, include_usage):
    """What every stream has: Azure's prompt filter chunk first (only there),
    one id, chat.completion.chunk objects with one choice of index 0, the
    role first, one finish_reason, and the usage chunk last when asked for
    (usage null or absent elsewhere). Returns (chunks with a choice, usage)."""
    check(chunks, "%s: no chunk", what)
    if MODELS[model][0] == "azure-openai":
        f = chunks[0]
        check(f.get("choices") == [] and f.get("prompt_filter_results"),
              "%s: Azure's first chunk is not the prompt filter's: %r", what, f)
        check(f.get("usage") is None, "%s: usage in the prompt filter chunk", what)
        chunks = chunks[1:]
    usage = None
    if include_usage:
        last = chunks[-1]
        check_eq(last.get("choices"), [], what + ": choices of the last (usage) chunk")
        usage = last.get("usage")
        chunks = chunks[:-1]
    ids = set()
    finishes = []
    for i, c in enumerate(chunks):
        check_eq(c.get("object"), "chat.completion.chunk", "%s: chunk %d object" % (what, i))
        ids.add(c.get("id"))
        check(c.get("usage") is None, "%s: chunk %d has usage %r", what, i, c.get("usage"))
        check(len(c.get("choices") or []) == 1, "%s: chunk %d has choices %r", what, i,
              c.get("choices"))
        ch = c["choices"][0]
        check_eq(ch.get("index"), 0, "%s: chunk %d choice index" % (what, i))
        if ch.get("finish_reason") is not None:
            finishes.append((i, ch["finish_reason"]))
    check(len(ids) == 1 and list(ids)[0], "%s: the chunks' ids are %r", what, ids)
    check_eq(chunks[0]["choices"][0].get("delta", {}).get("role"), "assistant",
             what + ": the first chunk's delta.role")
    check(len(finishes) == 1 and finishes[0][0] == len(chunks) - 1,
          "%s: finish_reason must be in the last chunk only: %r", what, finishes)
    return chunks, usage, finishes[0][1]


def oa_stream_case(model):
    def case(env):
        what = "chat.completions.create(%s, stream, include_usage)" % model
        res = ok(run(env, {"chunks": 6}, "openai", "stream", model, prompt=OA_PROMPT,
                     include_usage=True, helper=True), what)
        check_target(res, model, what)
        check(res["headers"].get("content_type", "").startswith("text/event-stream"),
              "%s: content-type %r", what, res["headers"].get("content_type"))
        chunks, usage, finish = oa_chunk_checks(res["chunks"], model, what, True)
        pieces = [c["choices"][0].get("delta", {}).get("content") for c in chunks]
        text = [p for p in pieces if p]
        check_eq("".join(text), toks(6), what + ": joined text")
        check_eq(len(text), 6, what + ": chunks with text")
        check_eq(finish, "stop", what + ": finish_reason")
        check_oa_usage(usage, words(OA_PROMPT), 6, what + ": usage chunk")
        final = res["final"]  # the SDK's own accumulation (chat.completions.stream)
        fc = final["choices"][0]
        check_eq(fc["message"].get("content"), toks(6), what + ": finalChatCompletion content")
        check_eq(fc.get("finish_reason"), "stop", what + ": finalChatCompletion finish_reason")
        check_oa_usage(final.get("usage"), words(OA_PROMPT), 6, what + ": finalChatCompletion")
    return case


def oa_stream_no_usage_case(model):
    def case(env):
        what = "chat.completions.create(%s, stream)" % model
        res = ok(run(env, {"chunks": 3}, "openai", "stream", model, prompt=OA_PROMPT), what)
        check_target(res, model, what)
        for i, c in enumerate(res["chunks"]):
            check(c.get("usage") is None, "%s: chunk %d has usage %r without include_usage",
                  what, i, c.get("usage"))
        chunks, usage, finish = oa_chunk_checks(res["chunks"], model, what, False)
        text = "".join(c["choices"][0].get("delta", {}).get("content") or "" for c in chunks)
        check_eq(text, toks(3), what + ": joined text")
        check_eq(finish, "stop", what + ": finish_reason")
    return case


def oa_tool_case(model):
    def case(env):
        what = "chat.completions.create(%s, tools)" % model
        res = ok(run(env, {"chunks": 3, "tool_call": TOOL}, "openai", "chat", model,
                     prompt=OA_PROMPT, tools=True), what)
        check_target(res, model, what)
        ch = res["completion"]["choices"][0]
        check_eq(ch.get("finish_reason"), "tool_calls", what + ": finish_reason")
        check(ch["message"].get("content") in (None, ""), "%s: content %r beside the call",
              what, ch["message"].get("content"))
        check_oa_tool_call(ch["message"].get("tool_calls"), what)
        check_oa_usage(res["completion"].get("usage"), words(OA_PROMPT), 3, what)
    return case


def oa_tool_stream_case(model):
    def case(env):
        what = "chat.completions.create(%s, tools, stream)" % model
        res = ok(run(env, {"chunks": 3, "tool_call": TOOL}, "openai", "stream", model,
                     prompt=OA_PROMPT, tools=True, include_usage=True, helper=True), what)
        check_target(res, model, what)
        chunks, usage, finish = oa_chunk_checks(res["chunks"], model, what, True)
        check_eq(finish, "tool_calls", what + ": finish_reason")
        # the deltas as a client joins them: id, type and name once, arguments appended
        calls = {}
        for c in chunks:
            for d in c["choices"][0].get("delta", {}).get("tool_calls") or []:
                acc = calls.setdefault(d.get("index"), {"function": {"arguments": ""}})
                for k in ("id", "type"):
                    if d.get(k):
                        check(k not in acc, "%s: tool call %s sent twice", what, k)
                        acc[k] = d[k]
                fn = d.get("function") or {}
                if fn.get("name"):
                    check("name" not in acc["function"], "%s: function name sent twice", what)
                    acc["function"]["name"] = fn["name"]
                acc["function"]["arguments"] += fn.get("arguments") or ""
        check_eq(sorted(calls), [0], what + ": tool call indexes")
        check_oa_tool_call([calls[0]], what + " (deltas)")
        check_oa_usage(usage, words(OA_PROMPT), 3, what + ": usage chunk")
        fc = res["final"]["choices"][0]
        check_eq(fc.get("finish_reason"), "tool_calls",
                 what + ": finalChatCompletion finish_reason")
        check_oa_tool_call(fc["message"].get("tool_calls"), what + ": finalChatCompletion")
    return case


OA_ERRORS = {400: "BadRequestError", 429: "RateLimitError", 500: "InternalServerError"}


def oa_error_case(model, status):
    def case(env):
        what = "chat.completions.create(%s) on an upstream %d" % (model, status)
        err = failed(run(env, {"status": status}, "openai", "chat", model, prompt=OA_PROMPT),
                     what)
        check_sdk_error(err, OA_ERRORS[status], status, what,
                        message="mock error status %d" % status, target=MODELS[model][2])
    return case


def oa_stream_error_case(model):
    def case(env):
        what = "chat.completions.create(%s, stream) cut by an upstream error event" % model
        res = run(env, {"chunks": 5, "stream_error": 2}, "openai", "stream", model,
                  prompt=OA_PROMPT, include_usage=True)
        err = failed(res, what)
        # an error event in the stream: APIError with no status, the upstream's message
        check_sdk_error(err, "APIError", None, what, parents=("OpenAIError",),
                        target=MODELS[model][2])
        check(err.get("api_message"), "%s: the error has no message: %r", what, err)
        text = "".join((c.get("choices") or [{}])[0].get("delta", {}).get("content") or ""
                       for c in res.get("chunks") or [] if c.get("choices"))
        check_eq(text, toks(2), what + ": the text before the error")
    return case


@tap.case("openai SDK: a bad client key -> AuthenticationError (401), nothing sent upstream")
def _(env):
    before = env.mock.requests()
    err = failed(sdk(env, "openai", "chat", "m-openai", key=BAD_KEY, prompt=OA_PROMPT),
                 "bad key")
    check_sdk_error(err, "AuthenticationError", 401, "bad key")
    check_eq(env.mock.requests(), before, "requests the mock received")


def jwt_token(env, life=300):
    return jwtkit.token("ES256", jwtkit.claims(JWT_ISS, "sdk-user", life=life), env.jwt_key)


@tap.case("openai SDK: a JWT as the API key -> the bound key's answer; an expired one -> "
          "AuthenticationError (401)")
def _(env):
    what = "chat.completions.create(m-openai) with a JWT"
    res = ok(run(env, {"chunks": 4}, "openai", "chat", "m-openai", key=jwt_token(env),
                 prompt=OA_PROMPT), what)
    check_target(res, "m-openai", what)
    check_eq(res["completion"]["choices"][0]["message"].get("content"), toks(4), what)
    before = env.mock.requests()
    err = failed(sdk(env, "openai", "chat", "m-openai", key=jwt_token(env, life=-3600),
                     prompt=OA_PROMPT), "an expired JWT")
    check_sdk_error(err, "AuthenticationError", 401, "an expired JWT")
    check_eq(env.mock.requests(), before, "requests the mock received")


@tap.case("openai SDK: models.list() lists every Model, owned_by its provider")
def _(env):
    res = ok(sdk(env, "openai", "models", "-"), "models.list")
    got = {m.get("id"): m for m in res["models"]}
    check_eq(sorted(got), sorted(ALL_MODELS), "model ids")
    for name, m in got.items():
        check_eq(m.get("object"), "model", "%s: object" % name)
        check_eq(m.get("owned_by"), ALL_MODELS[name][0], "%s: owned_by" % name)


@tap.case("openai SDK: models.retrieve of a Model (and of %s): OpenAI's shape; of an "
          "unknown one: NotFoundError model_not_found" % SLASH)
def _(env):
    for name in ("m-anthropic", SLASH):
        res = ok(sdk(env, "openai", "model", name), "models.retrieve(%s)" % name)
        check_eq(res["model"], {"id": name, "object": "model", "created": 0,
                                "owned_by": ALL_MODELS[name][0]}, "models.retrieve(%s)" % name)
    err = failed(sdk(env, "openai", "model", "no-such-model"), "models.retrieve(no-such-model)")
    check_sdk_error(err, "NotFoundError", 404, "models.retrieve(no-such-model)",
                    message="no-such-model")
    check_eq(err.get("code"), "model_not_found", "models.retrieve(no-such-model): code")


def oa_embeddings_case(model):
    def case(env):
        what = "embeddings.create(%s) with the SDK's defaults" % model
        inputs = ["the first text to embed", "a second"]
        res = ok(sdk(env, "openai", "embeddings", model, input=inputs), what)
        check_target(res, model, what)
        last = env.mock.last()
        check_eq((last.get("body") or {}).get("encoding_format"), "base64",
                 what + ": the encoding_format the SDK asked for")
        want = request(env.mock.port, "POST", "/v1/embeddings",
                       {"model": "x", "input": inputs, "encoding_format": "float"},
                       key=MOCK_KEY).json()["data"]
        data = res["embeddings"]["data"]
        check_eq(len(data), len(inputs), what + ": embeddings")
        for w, got in zip(want, data):
            vec = got.get("embedding")
            check(isinstance(vec, list) and len(vec) == EMBED_DIM,
                  "%s: embedding %d has %s floats, the mock sent %d: %r", what, got.get("index"),
                  len(vec) if isinstance(vec, list) else "no", EMBED_DIM, vec)
            check(all(abs(a - b) < 1e-6 for a, b in zip(vec, w["embedding"])),
                  "%s: embedding %d is %r, the mock's %r", what, got.get("index"), vec,
                  w["embedding"])
        check_eq(res["embeddings"]["usage"], {"prompt_tokens": 7, "total_tokens": 7},
                 what + ": usage")
    return case


for _m in ("m-openai", "m-azure"):
    tap.case("openai SDK -> %s: embeddings.create with its defaults (base64): the mock's %d "
             "floats per input" % (_m, EMBED_DIM))(oa_embeddings_case(_m))


for _m in MODELS:
    tap.case("openai SDK -> %s: create: text, usage, finish_reason" % _m)(oa_chat_case(_m))
    tap.case("openai SDK -> %s: stream with include_usage: chunks, text, usage; "
             "chat.completions.stream's finalChatCompletion" % _m)(oa_stream_case(_m))
    tap.case("openai SDK -> %s: stream without include_usage: no usage chunk"
             % _m)(oa_stream_no_usage_case(_m))
    tap.case("openai SDK -> %s: tool call" % _m)(oa_tool_case(_m))
    tap.case("openai SDK -> %s: tool call streamed: deltas and finalChatCompletion"
             % _m)(oa_tool_stream_case(_m))
    for _s in sorted(OA_ERRORS):
        tap.case("openai SDK -> %s: upstream %d -> %s" % (_m, _s, OA_ERRORS[_s]))(
            oa_error_case(_m, _s))
    tap.case("openai SDK -> %s: an error event mid-stream -> APIError after the text before it"
             % _m)(oa_stream_error_case(_m))


# --------------------------------------------------------------------------
# Anthropic's SDK: /v1/messages, /v1/messages/count_tokens and /v1/models
# --------------------------------------------------------------------------

def check_an_usage(usage, inp, out, what):
    """usage: exactly inp input and out output tokens; cache counts, when given, 0."""
    check(isinstance(usage, dict), "%s: no usage: %r", what, usage)
    got = {k: usage.get(k) for k in ("input_tokens", "output_tokens")}
    check_eq(got, {"input_tokens": inp, "output_tokens": out}, what + ": usage")
    for k in ("cache_creation_input_tokens", "cache_read_input_tokens"):
        check(usage.get(k) in (None, 0), "%s: usage.%s is %r", what, k, usage.get(k))


def check_an_message(msg, content, stop_reason, out, what):
    """A whole message: its content blocks (tool_use ids only checked to be
    there), stop_reason, and usage."""
    check_eq(msg.get("type"), "message", what + ": type")
    check_eq(msg.get("role"), "assistant", what + ": role")
    check(isinstance(msg.get("id"), str) and msg["id"], "%s: no id: %r", what, msg)
    blocks = msg.get("content")
    check(isinstance(blocks, list), "%s: content %r", what, blocks)
    got = []
    for b in blocks:
        b = dict(b)
        if b.get("type") == "tool_use":
            check(isinstance(b.get("id"), str) and b["id"], "%s: tool_use without id", what)
            b.pop("id")
        if b.get("type") == "text" and b.get("citations") is None:
            b.pop("citations", None)
        got.append(b)
    check_eq(got, content, what + ": content")
    check_eq(msg.get("stop_reason"), stop_reason, what + ": stop_reason")
    check_eq(msg.get("stop_sequence"), None, what + ": stop_sequence")
    check_an_usage(msg.get("usage"), words(AN_PROMPT), out, what)


def text_blocks(n):
    """The content of a text answer in n chunks."""
    return [{"type": "text", "text": toks(n)}]


TOOL_BLOCKS = [{"type": "tool_use", "name": TOOL["name"], "input": TOOL["input"]}]


def an_create_case(model, tools=False):
    def case(env):
        what = "messages.create(%s%s)" % (model, ", tools" if tools else "")
        controls = {"chunks": 3, "tool_call": TOOL} if tools else {"chunks": 4}
        res = ok(run(env, controls, "anthropic", "create", model, prompt=AN_PROMPT,
                     tools=tools), what)
        check_target(res, model, what)
        if tools:
            check_an_message(res["message"], TOOL_BLOCKS, "tool_use", 3, what)
        else:
            check_an_message(res["message"], text_blocks(4), "end_turn", 4, what)
    return case


def an_event_checks(events, what, block_type, deltas=None):
    """The event order of a message stream (pings aside): message_start,
    content_block_start, content_block_delta (deltas of them when given, else
    one or more), content_block_stop, message_delta, message_stop; one block
    at index 0 of block_type. Returns the joined deltas, message_delta's
    stop_reason and the usage as the SDK adds it up (input tokens from
    message_delta when it has them, else from message_start)."""
    types = [e.get("type") for e in events if e.get("type") != "ping"]
    n = deltas if deltas is not None else max(1, types.count("content_block_delta"))
    want = (["message_start", "content_block_start"] + ["content_block_delta"] * n +
            ["content_block_stop", "message_delta", "message_stop"])
    check_eq(types, want, what + ": event order")
    ev = {t: e for e, t in ((e, e.get("type")) for e in events)}
    start = ev["content_block_start"]
    check_eq(start.get("index"), 0, what + ": content_block_start index")
    check_eq(start.get("content_block", {}).get("type"), block_type,
             what + ": content_block_start type")
    if block_type == "tool_use":
        b = start["content_block"]
        check_eq((b.get("name"), b.get("input")), (TOOL["name"], {}),
                 what + ": the tool_use block's name and input at its start")
        check(isinstance(b.get("id"), str) and b["id"], "%s: tool_use without id", what)
    joined = ""
    for e in events:
        if e.get("type") == "content_block_delta":
            check_eq(e.get("index"), 0, what + ": content_block_delta index")
            d = e.get("delta") or {}
            if block_type == "text":
                check_eq(d.get("type"), "text_delta", what + ": delta type")
                joined += d.get("text", "")
            else:
                check_eq(d.get("type"), "input_json_delta", what + ": delta type")
                joined += d.get("partial_json", "")
    check_eq(ev["content_block_stop"].get("index"), 0, what + ": content_block_stop index")
    mstart = ev["message_start"].get("message") or {}
    check_eq(mstart.get("content"), [], what + ": message_start content")
    check_eq(mstart.get("stop_reason"), None, what + ": message_start stop_reason")
    mdelta = ev["message_delta"]
    du = mdelta.get("usage") or {}
    inp = du["input_tokens"] if du.get("input_tokens") is not None else \
        (mstart.get("usage") or {}).get("input_tokens")
    return joined, mdelta.get("delta", {}).get("stop_reason"), {
        "input_tokens": inp, "output_tokens": du.get("output_tokens")}


def an_stream_case(model, tools=False):
    def case(env):
        what = "messages.stream(%s%s)" % (model, ", tools" if tools else "")
        n = 3 if tools else 5
        controls = {"chunks": n, "tool_call": TOOL} if tools else {"chunks": n}
        res = ok(run(env, controls, "anthropic", "stream", model, prompt=AN_PROMPT,
                     tools=tools), what)
        helper, raw = res["helper"], res["raw"]
        for label, part in (("messages.stream", helper), ("create({stream: true})", raw)):
            w = "%s: %s" % (what, label)
            check_target(part, model, w)
            joined, stop, usage = an_event_checks(part["events"], w,
                                                  "tool_use" if tools else "text",
                                                  None if tools else n)
            if tools:
                try:
                    check_eq(json.loads(joined), TOOL["input"], w + ": the joined partial_json")
                except ValueError:
                    raise TestFailure("%s: the joined partial_json is not JSON: %r" % (w, joined))
            else:
                check_eq(joined, toks(n), w + ": the joined text")
            check_eq(stop, "tool_use" if tools else "end_turn", w + ": message_delta stop_reason")
            check_an_usage(usage, words(AN_PROMPT), n, w)
        check_an_message(helper["final"], TOOL_BLOCKS if tools else text_blocks(n),
                         "tool_use" if tools else "end_turn", n, what + ": finalMessage()")
    return case


AN_ERRORS = {429: ("RateLimitError", "rate_limit_error"),
             529: ("OverloadedError", "overloaded_error")}


# Bedrock has no 529: its ServiceUnavailableException (503) is Anthropic's
# overloaded_error at 503, which the SDK throws as a ServiceUnavailableError
# (an InternalServerError).
AN_ERRORS_OF = {"m-bedrock": {429: ("RateLimitError", "rate_limit_error"),
                              503: ("ServiceUnavailableError", "overloaded_error")}}


def an_error_case(model, status):
    def case(env):
        cls, etype = AN_ERRORS_OF.get(model, AN_ERRORS)[status]
        what = "messages.create(%s) on an upstream %d" % (model, status)
        err = failed(run(env, {"status": status}, "anthropic", "create", model,
                         prompt=AN_PROMPT), what)
        parents = ("InternalServerError", "APIError") if status >= 500 else ("APIError",)
        check_sdk_error(err, cls, status, what, parents=parents, etype=etype,
                        message="mock error status %d" % status, target=MODELS[model][2])
    return case


# The type of the error event aigw sends for the mock's error event of each
# provider: Anthropic's and Gemini's say overloaded, OpenAI's a server error.
AN_STREAM_ERROR = {"m-openai": "api_error", "m-azure": "api_error",
                   "m-anthropic": "overloaded_error", "m-gemini": "overloaded_error",
                   "m-bedrock": "rate_limit_error"}  # Bedrock's throttlingException


def an_stream_error_case(model):
    def case(env):
        what = "messages.stream(%s) cut by an upstream error event" % model
        res = run(env, {"chunks": 5, "stream_error": 2}, "anthropic", "stream", model,
                  prompt=AN_PROMPT)
        err = failed(res, what)
        # an `error` event: APIError with no status and the event's error type
        check_sdk_error(err, "APIError", None, what, parents=("AnthropicError",),
                        etype=AN_STREAM_ERROR[model], target=MODELS[model][2])
        events = (res.get("helper") or {}).get("events") or []
        types = [e.get("type") for e in events if e.get("type") != "ping"]
        check_eq(types, ["message_start", "content_block_start", "content_block_delta",
                         "content_block_delta"], what + ": the events before the error")
        text = "".join(e["delta"].get("text", "") for e in events
                       if e.get("type") == "content_block_delta")
        check_eq(text, toks(2), what + ": the text before the error")
    return case


def an_count_case(model):
    def case(env):
        what = "messages.countTokens(%s)" % model
        res = sdk(env, "anthropic", "count_tokens", model, prompt=AN_PROMPT, tools=True)
        if MODELS[model][0] in ("anthropic", "gemini"):
            res = ok(res, what)
            check_target(res, model, what)
            check_eq(res["count"], {"input_tokens": words(AN_PROMPT)}, what + ": answer")
        else:  # OpenAI's API counts no tokens: aigw says so
            err = failed(res, what)
            check_sdk_error(err, "BadRequestError", 400, what, etype="invalid_request_error",
                            message="token counting")
    return case


def check_passed_through(env, version, what):
    """The mock's last request: the Messages API with the client's
    anthropic-version, the provider's key, the upstream model."""
    last = env.mock.last()
    check_eq(last.get("path"), "/v1/messages", what + ": upstream path")
    headers = {k.lower(): v for k, v in (last.get("headers") or {}).items()}
    check_eq(headers.get("anthropic-version"), version, what + ": upstream anthropic-version")
    check_eq(headers.get("x-api-key"), MOCK_KEY, what + ": upstream x-api-key")
    check("authorization" not in headers, "%s: Authorization reached the upstream: %r", what,
          headers.get("authorization"))
    check_eq((last.get("body") or {}).get("model"), "claude-mock", what + ": upstream model")


# Anthropic's SDKs before 1.0 (and most clients today) send anthropic-version
# 2023-06-01 and the key in x-api-key; 1.0 and later send 2026-10-21 and
# Authorization: Bearer (the cases above).
@tap.case("anthropic SDK as before 1.0 (anthropic-version 2023-06-01, x-api-key) -> "
          "m-anthropic: messages.create passed through")
def _(env):
    what = "messages.create(m-anthropic, 2023-06-01)"
    res = ok(run(env, {"chunks": 4}, "anthropic", "create", "m-anthropic", prompt=AN_PROMPT,
                 api_version="2023-06-01", x_api_key=True), what)
    check_target(res, "m-anthropic", what)
    check_an_message(res["message"], text_blocks(4), "end_turn", 4, what)
    check_passed_through(env, "2023-06-01", what)


@tap.case("anthropic SDK as before 1.0 (anthropic-version 2023-06-01, x-api-key) -> "
          "m-anthropic: tool_use streamed, passed through")
def _(env):
    what = "messages.stream(m-anthropic, tools, 2023-06-01)"
    res = ok(run(env, {"chunks": 3, "tool_call": TOOL}, "anthropic", "stream", "m-anthropic",
                 prompt=AN_PROMPT, tools=True, api_version="2023-06-01", x_api_key=True), what)
    for label in ("helper", "raw"):
        w = "%s: %s" % (what, label)
        check_target(res[label], "m-anthropic", w)
        joined, stop, usage = an_event_checks(res[label]["events"], w, "tool_use")
        check_eq(json.loads(joined), TOOL["input"], w + ": the joined partial_json")
        check_eq(stop, "tool_use", w + ": message_delta stop_reason")
        check_an_usage(usage, words(AN_PROMPT), 3, w)
    check_an_message(res["helper"]["final"], TOOL_BLOCKS, "tool_use", 3, what + ": finalMessage()")
    check_passed_through(env, "2023-06-01", what)


@tap.case("anthropic SDK: a bad client key -> AuthenticationError (401), nothing sent upstream")
def _(env):
    before = env.mock.requests()
    err = failed(sdk(env, "anthropic", "create", "m-anthropic", key=BAD_KEY, prompt=AN_PROMPT),
                 "bad key")
    check_sdk_error(err, "AuthenticationError", 401, "bad key", etype="authentication_error")
    check_eq(env.mock.requests(), before, "requests the mock received")


@tap.case("anthropic SDK: a JWT as the API key, in Authorization: Bearer and in x-api-key")
def _(env):
    for x_api_key in (False, True):
        what = "messages.create(m-anthropic) with a JWT%s" % (" in x-api-key" if x_api_key else "")
        opts = {"api_version": "2023-06-01", "x_api_key": True} if x_api_key else {}
        res = ok(run(env, {"chunks": 4}, "anthropic", "create", "m-anthropic",
                     key=jwt_token(env), prompt=AN_PROMPT, **opts), what)
        check_target(res, "m-anthropic", what)
        check_an_message(res["message"], text_blocks(4), "end_turn", 4, what)


@tap.case("anthropic SDK: models.list() lists every Model")
def _(env):
    res = ok(sdk(env, "anthropic", "models", "-"), "models.list")
    got = {m.get("id"): m for m in res["models"]}
    check_eq(sorted(got), sorted(ALL_MODELS), "model ids")
    for name, m in got.items():
        check_eq(m.get("type"), "model", "%s: type" % name)
        check_eq(m.get("display_name"), name, "%s: display_name" % name)
        check(isinstance(m.get("created_at"), str) and m["created_at"],
              "%s: created_at %r", name, m.get("created_at"))


@tap.case("anthropic SDK: models.retrieve of a Model (and of %s): Anthropic's shape; of an "
          "unknown one: NotFoundError not_found_error" % SLASH)
def _(env):
    for name in ("m-openai", SLASH):
        res = ok(sdk(env, "anthropic", "model", name), "models.retrieve(%s)" % name)
        check_eq(res["model"], {"type": "model", "id": name, "display_name": name,
                                "created_at": "1970-01-01T00:00:00Z"},
                 "models.retrieve(%s)" % name)
    err = failed(sdk(env, "anthropic", "model", "no-such-model"),
                 "models.retrieve(no-such-model)")
    check_sdk_error(err, "NotFoundError", 404, "models.retrieve(no-such-model)",
                    etype="not_found_error", message="no-such-model")


def an_eager_case(model):
    def case(env):
        what = "messages.stream(%s, a tool with eager_input_streaming)" % model
        res = ok(run(env, {"chunks": 3, "tool_call": TOOL}, "anthropic", "stream", model,
                     prompt=AN_PROMPT, tools=True, eager=True), what)
        for label in ("helper", "raw"):
            w = "%s: %s" % (what, label)
            check_target(res[label], model, w)
            joined, stop, usage = an_event_checks(res[label]["events"], w, "tool_use")
            check_eq(json.loads(joined), TOOL["input"], w + ": the joined partial_json")
            check_eq(stop, "tool_use", w + ": message_delta stop_reason")
            check_an_usage(usage, words(AN_PROMPT), 3, w)
        check_an_message(res["helper"]["final"], TOOL_BLOCKS, "tool_use", 3,
                         what + ": finalMessage()")
        tools = (env.mock.last().get("body") or {}).get("tools") or [{}]
        if MODELS[model][0] == "anthropic":  # passed through as sent
            check_eq(tools[0].get("eager_input_streaming"), True, what + ": upstream tool")
        else:  # dropped by the translation
            check_eq(sorted(tools[0]), ["function", "type"], what + ": upstream tool")
    return case


for _m in ("m-anthropic", "m-openai"):
    tap.case("anthropic SDK -> %s: tool_use streamed, the tool with eager_input_streaming "
             "(%s)" % (_m, "passed through" if _m == "m-anthropic" else "dropped"))(
                 an_eager_case(_m))


for _m in MODELS:
    tap.case("anthropic SDK -> %s: messages.create: content, usage, stop_reason"
             % _m)(an_create_case(_m))
    tap.case("anthropic SDK -> %s: messages.stream and create({stream: true}): event order, "
             "finalMessage, usage" % _m)(an_stream_case(_m))
    tap.case("anthropic SDK -> %s: tool_use" % _m)(an_create_case(_m, tools=True))
    tap.case("anthropic SDK -> %s: tool_use streamed: input_json_delta, finalMessage"
             % _m)(an_stream_case(_m, tools=True))
    for _s, (_cls, _) in sorted(AN_ERRORS_OF.get(_m, AN_ERRORS).items()):
        tap.case("anthropic SDK -> %s: upstream %d -> %s" % (_m, _s, _cls))(
            an_error_case(_m, _s))
    tap.case("anthropic SDK -> %s: an error event mid-stream -> APIError %s"
             % (_m, AN_STREAM_ERROR[_m]))(an_stream_error_case(_m))
    tap.case("anthropic SDK -> %s: messages.countTokens %s" % (
        _m, "-> the count" if MODELS[_m][0] in ("anthropic", "gemini")
        else "-> BadRequestError (no token counting)"))(an_count_case(_m))


# Bedrock's errors, typed by x-amzn-ErrorType, as each SDK throws them: (type,
# AWS's status, the client's, OpenAI's class and type, Anthropic's class and type).
BR_ERRORS = [
    ("ValidationException", 400, 400, "BadRequestError", "invalid_request_error",
     "BadRequestError", "invalid_request_error"),
    ("AccessDeniedException", 403, 403, "PermissionDeniedError", "permission_error",
     "PermissionDeniedError", "permission_error"),
    ("ResourceNotFoundException", 404, 404, "NotFoundError", "not_found_error",
     "NotFoundError", "not_found_error"),
    ("ModelNotReadyException", 429, 503, "InternalServerError", "server_error",
     "ServiceUnavailableError", "overloaded_error"),
]


def br_error_case(etype, aws, status, oa_cls, oa_type, an_cls, an_type):
    def case(env):
        controls = {"status": aws, "error_type": etype}
        what = "openai SDK -> m-bedrock on %s" % etype
        err = failed(run(env, controls, "openai", "chat", "m-bedrock", prompt=OA_PROMPT), what)
        check_sdk_error(err, oa_cls, status, what, etype=oa_type,
                        message="mock error status %d" % aws, target=MODELS["m-bedrock"][2])
        check_eq(err.get("code"), etype, what + ": error code")
        what = "anthropic SDK -> m-bedrock on %s" % etype
        err = failed(run(env, controls, "anthropic", "create", "m-bedrock", prompt=AN_PROMPT),
                     what)
        check_sdk_error(err, an_cls, status, what, etype=an_type,
                        message="mock error status %d" % aws, target=MODELS["m-bedrock"][2])
    return case


for _e in BR_ERRORS:
    tap.case("openai and anthropic SDKs -> m-bedrock: x-amzn-ErrorType %s (AWS %d) -> %d, %s / "
             "%s %s" % (_e[0], _e[1], _e[2], _e[3], _e[5], _e[6]))(br_error_case(*_e))


# --------------------------------------------------------------------------
# OpenAI's SDK: /v1/responses
# --------------------------------------------------------------------------

def check_rs_usage(env, res, usage, prompt, output, what):
    """The Responses usage the SDK read is the mock's, and so is the access line's."""
    check(isinstance(usage, dict), "%s: no usage: %r", what, usage)
    check_eq((usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")),
             (prompt, output, prompt + output), what + ": usage")
    line = env.gw.access_line(res["headers"]["request_id"])
    check_eq((line["prompt_tokens"], line["completion_tokens"], line["total_tokens"]),
             (prompt, output, prompt + output), what + ": access line tokens")


def rs_output_text(resp):
    return "".join(p.get("text", "") for item in resp.get("output") or []
                   for p in item.get("content") or [] if p.get("type") == "output_text")


def rs_create_case(model, tools=False):
    def case(env):
        what = "responses.create(%s%s)" % (model, ", tools" if tools else "")
        controls = {"chunks": 4}
        if tools:
            controls["tool_call"] = TOOL
        res = ok(run(env, controls, "openai", "responses", model, prompt=OA_PROMPT,
                     tools=tools), what)
        check_target(res, model, what)
        r = res["response"]
        check_eq((r.get("object"), r.get("status")), ("response", "completed"), what)
        check_eq(r.get("model"), MODELS[model][1], what + ": model")
        if tools:
            item = r["output"][0]
            check_eq((item.get("type"), item.get("name")), ("function_call", TOOL["name"]),
                     what + ": function_call item")
            check_eq(json.loads(item["arguments"]), TOOL["input"], what + ": arguments")
        else:
            check_eq(rs_output_text(r), toks(4), what + ": output text")
            check_eq(r.get("output_text"), toks(4), what + ": the SDK's output_text")
        check_rs_usage(env, res, r.get("usage"), words(OA_PROMPT), 4, what)
    return case


def rs_stream_case(model, tools=False):
    def case(env):
        what = "responses.create(%s, stream%s)" % (model, ", tools" if tools else "")
        controls = {"chunks": 5}
        if tools:
            controls["tool_call"] = TOOL
        res = ok(run(env, controls, "openai", "responses_stream", model, prompt=OA_PROMPT,
                     tools=tools, helper=True), what)
        check_target(res, model, what)
        evs = res["events"]
        types = [e.get("type") for e in evs]
        check_eq(types[:3], ["response.created", "response.in_progress",
                             "response.output_item.added"], what + ": first events")
        check_eq(types[-1], "response.completed", what + ": last event")
        check_eq([e.get("sequence_number") for e in evs], list(range(len(evs))),
                 what + ": sequence numbers")
        delta = ("response.function_call_arguments.delta" if tools
                 else "response.output_text.delta")
        joined = "".join(e["delta"] for e in evs if e["type"] == delta)
        if tools:
            check_eq(json.loads(joined), TOOL["input"], what + ": streamed arguments")
        else:
            check_eq(joined, toks(5), what + ": deltas")
        check_rs_usage(env, res, evs[-1]["response"].get("usage"), words(OA_PROMPT), 5, what)
        final = res["final"]  # the SDK's own accumulation (responses.stream)
        if tools:
            check_eq(final["output"][0].get("type"), "function_call", what + ": final output")
        else:
            check_eq(final.get("output_text"), toks(5), what + ": finalResponse output_text")
    return case


for _m in ("m-openai", "m-azure", "m-anthropic", "m-gemini"):
    tap.case("openai SDK -> %s: responses.create: output, usage (access line too)" % _m)(
        rs_create_case(_m))
    tap.case("openai SDK -> %s: responses.create({stream: true}) and responses.stream(): "
             "typed events, usage" % _m)(rs_stream_case(_m))
for _m in ("m-openai", "m-anthropic", "m-gemini"):
    tap.case("openai SDK -> %s: responses.create with a tool: a function_call item" % _m)(
        rs_create_case(_m, tools=True))
    tap.case("openai SDK -> %s: responses.create({stream: true}) with a tool: arguments "
             "events" % _m)(rs_stream_case(_m, tools=True))


@tap.case("openai SDK -> m-anthropic, m-gemini: responses.create with previous_response_id "
          "-> BadRequestError naming it (nothing is stored at the gateway)")
def _(env):
    for model in ("m-anthropic", "m-gemini"):
        what = "responses.create(%s, previous_response_id)" % model
        err = failed(sdk(env, "openai", "responses", model, prompt=OA_PROMPT,
                         previous_response_id="resp_123"), what)
        check_sdk_error(err, "BadRequestError", 400, what, message="previous_response_id")


# --------------------------------------------------------------------------

def skip_all(reason):
    """Every case skipped (or failed, with AIGW_SDK_REQUIRED=1) for reason."""
    tap.plan(len(tap.cases))
    for name, _ in tap.cases:
        if REQUIRED:
            tap.report(name, TestFailure("AIGW_SDK_REQUIRED=1 but %s" % reason), quiet=True)
        else:
            tap.report(name, skip=reason)
    tap.done()
    sys.exit(0)


def over_https(case):
    """A case run against aigw's HTTPS listener instead of its plain one."""
    def run_tls(env):
        env.use_tls = True
        try:
            case(env)
        finally:
            env.use_tls = False
    return run_tls


tap.case("HTTPS (a test CA in NODE_EXTRA_CA_CERTS): openai SDK -> m-openai: create")(
    over_https(oa_chat_case("m-openai")))
tap.case("HTTPS: anthropic SDK -> m-anthropic: messages.stream and create({stream: true})")(
    over_https(an_stream_case("m-anthropic")))
tap.case("HTTPS: anthropic SDK -> m-gemini: messages.create (translated)")(
    over_https(an_create_case("m-gemini")))


if __name__ == "__main__":
    why = missing()
    if why:
        skip_all(why)
    main(tap, fixture)
