"""End-to-end: one reading of a request body (what the upstream reads is what
aigw checked).

aigw reads a body through json-c (the last of duplicate members wins, a name
is cut at an escaped NUL) and sends a pass-through body as the client's bytes
with only its model (and stream_options.include_usage, max_tokens) edited in
place, to upstreams whose parsers may take the first duplicate, the whole
name, or (Go's encoding/json) any ASCII case variant. A body in which those
readings could differ about a member aigw reads or writes is refused with a
400 before anything reaches the upstream; an escaped name that is unambiguous
is edited where it stands, so the upstream runs the target's model and a
stream's usage is counted.

Targets on the mock, for OpenAI clients (chat, completions, embeddings) and
Anthropic clients (/v1/messages):
  r-openai     openai-compatible  up-openai     passed through
  r-azure      azure-openai       up-azure      passed through
  r-claude     anthropic          up-claude     passed through to Anthropic clients
  r-gemini     gemini             up-gemini     translated
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        TAP, Stream, check, check_eq, check_error_body, main, mock_and_gateway, mock_model)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-one-reading-0123"
UP = {"r-openai": "up-openai", "r-azure": "up-azure", "r-claude": "up-claude",
      "r-gemini": "up-gemini"}
OPENAI_TARGETS = ("r-openai", "r-azure", "r-claude", "r-gemini")
ANTHROPIC_TARGETS = ("r-claude", "r-openai", "r-gemini")
PASSED = {"openai": ("r-openai", "r-azure"), "anthropic": ("r-claude",)}
CHAT = "/v1/chat/completions"
MSG = "/v1/messages"
AHEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}


def resources(mock_port):
    models = [mock_model(mock_port, "r-openai", "openai-compatible", "up-openai"),
              mock_model(mock_port, "r-azure", "azure-openai", "up-azure"),
              mock_model(mock_port, "r-claude", "anthropic", "up-claude"),
              mock_model(mock_port, "r-gemini", "gemini", "up-gemini")]
    return {"models": models, "api_keys": [{"name": "reader", "key": KEY}]}


def fixture():
    return mock_and_gateway(resources=resources, config={"workers": 1})


def upstream_count(env):
    return env.mock.stats().get("requests", 0)


def send(env, dialect, path, text):
    """POST the body text as it is (bytes the test wrote, escapes and all)."""
    if dialect == "anthropic":
        return env.gw.request("POST", path, text.encode(), headers=dict(AHEADERS))
    return env.gw.request("POST", path, text.encode(), key=KEY,
                          headers={"Content-Type": "application/json"})


def refused(env, dialect, path, text, member):
    """text gets a 400 naming member, and nothing reaches the upstream."""
    before = upstream_count(env)
    resp = send(env, dialect, path, text)
    if dialect == "anthropic":
        check_eq(resp.status, 400, "status of %s" % text)
        err = resp.json()
        check_eq((err.get("type"), err["error"].get("type")), ("error", "invalid_request_error"),
                 "Anthropic's error shape")
        msg = err["error"]["message"]
    else:
        err = check_error_body(resp, 400, text)
        check_eq(err.get("code"), "ambiguous_member", "code of %s" % text)
        msg = err["message"]
    check("`%s`" % member in msg, "the message does not name %s: %r", member, msg)
    check_eq(upstream_count(env) - before, 0, "requests that reached the upstream for %s" % text)


MSGS = '"messages":[{"role":"user","content":"hi"}]'


def chat_text(model, extra=""):
    return '{"model":"%s",%s%s}' % (model, MSGS, extra)


def anthropic_text(model, extra=""):
    return '{"model":"%s","max_tokens":16,%s%s}' % (model, MSGS, extra)


# ---- refused: every member aigw reads or writes, every route and target --------------

ATTACKS = [
    # (what, member named, body after "{" ... built per dialect)
    ("the issue's escaped duplicate model and model\\u0000", "model\\x00",
     '{"model":"x","mod\\u0065l":"%(o)s","model\\u0000":"%(m)s",%(rest)s}'),
    ("an escaped duplicate of model", "model",
     '{"model":"%(m)s","mod\\u0065l":"%(o)s",%(rest)s}'),
    ("MODEL beside model", "MODEL", '{"model":"%(m)s","MODEL":"%(o)s",%(rest)s}'),
    ("a second stream", "stream", '{"model":"%(m)s","stream":false,"stre\\u0061m":true,%(rest)s}'),
    ("Stream beside stream", "Stream", '{"model":"%(m)s","stream":false,"Stream":true,%(rest)s}'),
    ("a second max_tokens", "max_tokens",
     '{"model":"%(m)s","max_tokens":5,"max_tokens":4000,%(rest)s}'),
]


def attack_body(template, model, rest):
    return template % {"m": model, "o": "o1-pro", "rest": rest}


for _what, _member, _tpl in ATTACKS:
    @tap.case("OpenAI clients, %s: 400 naming it, on every target and route" % _what)
    def _(env, member=_member, tpl=_tpl):
        for t in OPENAI_TARGETS:
            refused(env, "openai", CHAT, attack_body(tpl, t, MSGS), member)
        refused(env, "openai", "/v1/completions", attack_body(tpl, "r-openai", '"prompt":"hi"'),
                member)
        if member not in ("stream", "Stream", "max_tokens"):
            refused(env, "openai", "/v1/embeddings",
                    attack_body(tpl, "r-openai", '"input":"hi"'), member)

    @tap.case("Anthropic clients, %s: 400 naming it, on every target" % _what)
    def _(env, member=_member, tpl=_tpl):
        rest = '"max_tokens":16,' + MSGS if member != "max_tokens" else MSGS
        for t in ANTHROPIC_TARGETS:
            refused(env, "anthropic", MSG, attack_body(tpl, t, rest), member)


@tap.case("stream_options: include_usage twice (escaped) or in another case: 400")
def _(env):
    for t in OPENAI_TARGETS:
        refused(env, "openai", CHAT, chat_text(
            t, ',"stream":true,"stream_options":{"include_usage":true,"include_us\\u0061ge":false}'),
            "include_usage")
        refused(env, "openai", CHAT, chat_text(
            t, ',"stream":true,"stream_options":{"Include_Usage":false}'), "Include_Usage")
        refused(env, "openai", CHAT, chat_text(t, ',"stream":true,"Stream_Options":{}'),
                "Stream_Options")


@tap.case("max_completion_tokens twice or in another case: 400, on every target")
def _(env):
    for t in OPENAI_TARGETS:
        refused(env, "openai", CHAT, chat_text(
            t, ',"max_completion_tokens":5,"max_completion_tok\u0065ns":4000'),
            "max_completion_tokens")
        refused(env, "openai", CHAT, chat_text(t, ',"Max_Completion_Tokens":4000'),
                "Max_Completion_Tokens")


@tap.case("a duplicate inside a message, and a NUL in a nested name: 400")
def _(env):
    refused(env, "openai", CHAT,
            '{"model":"r-openai","messages":[{"role":"user","r\\u006fle":"system",'
            '"content":"hi"}]}', "role")
    refused(env, "anthropic", MSG,
            '{"model":"r-claude","max_tokens":16,"messages":[{"role":"user","content":"hi",'
            '"content":"other"}]}', "content")
    refused(env, "openai", CHAT,
            '{"model":"r-openai",%s,"metadata":{"a\\u0000b":"1"}}' % MSGS, "a\\x00b")


# ---- accepted: an unambiguous escaped name is the member, edited in place -------------

def check_upstream_model(env, target, client_model):
    last = env.mock.last()
    raw = last.get("body")
    text = raw if isinstance(raw, str) else json.dumps(raw)
    path = last.get("path", "")
    body = json.loads(text) if text else {}
    if target == "r-gemini":
        check("up-gemini" in path, "gemini's model is in the path: %r", path)
    elif target == "r-azure":
        check("/deployments/up-azure/" in path, "azure's deployment: %r", path)
    else:
        check_eq(body.get("model"), UP[target], "the model the upstream read")
    check(client_model not in text, "the client's model name reached the upstream: %r", text)


@tap.case("an escaped model name: served by the target's model, on every pair")
def _(env):
    for t in OPENAI_TARGETS:
        resp = send(env, "openai", CHAT, '{"mod\\u0065l":"%s",%s}' % (t, MSGS))
        check_eq(resp.status, 200, "OpenAI client to %s: %s" % (t, resp.body[:300]))
        check_upstream_model(env, t, t)
    for t in ANTHROPIC_TARGETS:
        resp = send(env, "anthropic", MSG, '{"mod\\u0065l":"%s","max_tokens":16,%s}' % (t, MSGS))
        check_eq(resp.status, 200, "Anthropic client to %s: %s" % (t, resp.body[:300]))
        check_upstream_model(env, t, t)


@tap.case("an escaped include_usage false: the stream's usage still counted, not shown")
def _(env):
    for t in ("r-openai", "r-azure"):
        body = chat_text(t, ',"stream":true,"stream_options":{"include_us\\u0061ge":false}')
        with Stream(env.gw.port, CHAT, body.encode(), key=KEY,
                    headers={"Content-Type": "application/json"}) as s:
            events = s.read_all()
            rid = s.headers.get("x-request-id")
        check(events and events[-1].is_done, "%s: the stream did not end with [DONE]" % t)
        usage = [e for e in events if not e.is_done and (e.json() or {}).get("usage")]
        check_eq(usage, [], "%s: usage chunks the client did not ask for" % t)
        sent = json.loads(env.mock.last()["body"]) if isinstance(env.mock.last()["body"], str) \
            else env.mock.last()["body"]
        check_eq(sent.get("stream_options"), {"include_usage": True},
                 "%s: stream_options the upstream read" % t)
        line = env.gw.access_line(rid)
        check(line["prompt_tokens"] > 0 and line["completion_tokens"] > 0,
              "%s: the stream's usage was not counted: %r" % (t, line))


if __name__ == "__main__":
    main(tap, fixture)
