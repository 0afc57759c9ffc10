# SPDX-License-Identifier: Apache-2.0
"""End-to-end: retries and fallback between the targets of a model (spec issue 4).

Two mock instances: A, target "primary" (priority 1), and B, target "backup"
(priority 0), behind several models that differ in their policy (retries,
fallback_on) and timeouts, so that no case inherits another's state (a target
resting after a 429 is a target of one model). A is made to fail through its
default controls (POST /mock/config), so that A and B answer the same request
body differently; every case clears them again.

A retryable failure of A before any byte reached the client must give the
client B's 200 with x-aigw-target: backup and x-aigw-attempts: 2, streamed or
not; a failure after bytes went out, a non-retryable status, or a status left
out of fallback_on must not be retried.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Gateway, Mock, chat_body, check, check_eq, dead_port, main,
        request, stream_text)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-failover-test"
PRIMARY, BACKUP = "primary", "backup"
TIMEOUTS = {"connect": "1s", "first_byte": "3s", "total": "10s", "stream_idle": "3s"}
FAST_TIMEOUTS = {"connect": "1s", "first_byte": "300ms", "total": "10s", "stream_idle": "3s"}


def target(url, name, priority, model=None):
    t = {"provider": "openai-compatible", "model": model or "up-" + name, "api_base": url,
         "priority": priority}
    if name is not None:
        t["name"] = name
    return t


def model(name, a_url, b_url, **policy):
    """A model with targets primary (A, priority 1) and backup (B, priority 0)."""
    doc = {"name": name, "targets": [target(a_url, PRIMARY, 1), target(b_url, BACKUP, 0)],
           "timeouts": TIMEOUTS}
    doc.update(policy)
    return doc


def resources(a, b):
    a_url, b_url = a.url(), b.url()
    dead = "http://%s:%d/v1" % (HOST, dead_port())
    models = [
        model("fo-500", a_url, b_url),
        model("fo-429", a_url, b_url),
        model("fo-429-ra", a_url, b_url),
        model("fo-429-all", a_url, b_url),
        model("fo-refused", dead, b_url),
        model("fo-hang", a_url, b_url, timeouts=FAST_TIMEOUTS),
        model("fo-reset", a_url, b_url),
        model("fo-stream", a_url, b_url, timeouts=FAST_TIMEOUTS),
        model("fo-stream-refused", dead, b_url),
        model("fo-midstream", a_url, b_url),
        model("fo-no500", a_url, b_url,
              fallback_on=["connect_error", "timeout", "429", "502", "503", "504"]),
        model("fo-noretry", a_url, b_url, retries=0),
        model("fo-400", a_url, b_url),
        model("fo-all", a_url, b_url),
        model("fo-all-3", a_url, b_url, retries=3),
        # backup speaks Anthropic (B's /v1/messages): it cannot take n > 1
        {"name": "fo-mixed", "timeouts": TIMEOUTS,
         "targets": [target(a_url, PRIMARY, 1),
                     dict(target(b_url, BACKUP, 0), provider="anthropic")]},
        {"name": "fo-names", "timeouts": TIMEOUTS,
         "targets": [target(a_url, None, 1, "up-one"), target(b_url, None, 0, "up-two")]},
    ]
    return {"models": models, "api_keys": [{"name": "failover", "key": KEY}]}


class fixture:
    """Mocks A and B, one gateway (2 workers)."""

    def __enter__(self):
        self.a = self.b = self.gw = None
        try:
            self.a, self.b = Mock(), Mock()
            self.gw = Gateway(resources(self.a, self.b))
            return Env(a=self.a, b=self.b, gw=self.gw, mock=self.a, story={})
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in (self.gw, self.a, self.b):
            if p is not None:
                p.stop()


class failing:
    """with failing(env, status=500): A (and B, with b=...) answer with these
    defaults inside the block; counters are zeroed on entry, defaults cleared
    on exit."""

    def __init__(self, env, b=None, **a_controls):
        self.env, self.a_controls, self.b_controls = env, a_controls, b or {}

    def __enter__(self):
        self.env.a.reset()
        self.env.b.reset()
        self.env.a.configure(**self.a_controls)
        self.env.b.configure(**self.b_controls)
        return self

    def __exit__(self, *exc):
        self.env.a.configure()
        self.env.b.configure()


def counts(env):
    """(requests A received, requests B received) since the last reset."""
    return env.a.stats()["requests"], env.b.stats()["requests"]


def chat(env, model_name, **kw):
    return request(env.gw.port, "POST", "/v1/chat/completions",
                   chat_body(model=model_name, **kw), key=KEY)


def check_served_by(resp, name, attempts, what, status=200):
    check_eq(resp.status, status, "%s: status (body %r)" % (what, resp.body[:300]))
    check_eq((resp.headers.get("x-aigw-target"), resp.headers.get("x-aigw-attempts")),
             (name, str(attempts)), what + ": x-aigw-target, x-aigw-attempts")


def check_fallback(env, model_name, what, a_min=1, **kw):
    """One request: B's 200 after one attempt on A; A got >= a_min requests
    (a reused upstream connection that resets may be retried once by the
    HTTP client itself), B exactly one."""
    resp = chat(env, model_name, mock={"chunks": 3}, **kw)
    check_served_by(resp, BACKUP, 2, what)
    check_eq(resp.json()["choices"][0]["message"]["content"], "tok0 tok1 tok2",
             what + ": B's content")
    a, b = counts(env)
    check(a >= a_min, "%s: A received %d requests, expected at least %d", what, a, a_min)
    check_eq(b, 1, what + ": requests B received")
    return resp


@tap.case("A answers 500: the client gets B's 200, x-aigw-target backup, attempts 2")
def _(env):
    with failing(env, status=500):
        check_fallback(env, "fo-500", "A 500")
        check_eq(counts(env)[0], 1, "requests A received")


@tap.case("A answers 429 without Retry-After: B serves; the next request tries A again")
def _(env):
    with failing(env, status=429):
        check_fallback(env, "fo-429", "A 429 (1st)")
        resp = chat(env, "fo-429")
        check_served_by(resp, BACKUP, 2, "A 429 (2nd)")
        check_eq(counts(env), (2, 2), "requests A, B received (A is not resting)")


@tap.case("A answers 429 with Retry-After: 5: B serves, A rests ~5s (its count stays flat)")
def _(env):
    with failing(env, status=429, retry_after="5"):
        t429 = time.monotonic()
        check_fallback(env, "fo-429-ra", "A 429 Retry-After 5")
        check_eq(counts(env)[0], 1, "requests A received")
    # A is healthy again: only the rest keeps requests away from it now.
    env.a.reset()
    env.b.reset()
    for i in range(10):  # fresh connections: spread over the workers
        resp = chat(env, "fo-429-ra")
        check_served_by(resp, BACKUP, 1, "request %d while A rests" % (i + 1))
    check_eq(counts(env), (0, 10), "requests A, B received while A rests")
    # The rest ends: A (priority 1) is used again, not before ~5s.
    deadline = t429 + 12.0 * SLOW
    while time.monotonic() < deadline:
        resp = chat(env, "fo-429-ra")
        if resp.headers.get("x-aigw-target") == PRIMARY:
            break
        time.sleep(0.25)
    rested = time.monotonic() - t429
    check_served_by(resp, PRIMARY, 1, "after the rest (%.1fs after the 429)" % rested)
    check(rested >= 3.5, "A was used again %.1fs after its 429 with Retry-After: 5", rested)


@tap.case("every target answers 429 Retry-After: 5: the client gets that 429 with Retry-After")
def _(env):
    with failing(env, status=429, retry_after="5", b={"status": 429, "retry_after": "5"}):
        resp = chat(env, "fo-429-all")
        check_served_by(resp, BACKUP, 2, "A and B 429 Retry-After 5", status=429)
        check_eq(resp.headers.get("retry-after"), "5", "Retry-After of the 429")
        check_eq(counts(env), (1, 1), "requests A, B received")
    env.story["all_rested"] = time.monotonic()


@tap.case("while every target rests after its 429: a first attempt still goes to one (a rest never refuses), no retry")
def _(env):
    # spec: a rest steers traffic to other targets but never refuses a request
    # by itself (a 429 may concern that one request); a retry never goes to a
    # resting target. A (priority 1) is tried once; its failure is not retried.
    check("all_rested" in env.story, "the previous case did not rest both targets")
    env.b.reset()  # B healthy, but resting: only the rest keeps requests away
    with failing(env, status=500):
        resp = chat(env, "fo-429-all")
        check(time.monotonic() - env.story["all_rested"] < 4.0, "too slow to be within the rest")
        check_served_by(resp, PRIMARY, 1, "A 500 while A and B rest", status=500)
        check_eq(counts(env), (1, 0), "requests A, B received (no retry onto resting B)")
    env.a.reset()
    resp = chat(env, "fo-429-all")
    check_served_by(resp, PRIMARY, 1, "healthy A while both rest")


@tap.case("A refuses the connection (no listener): B serves, attempts 2")
def _(env):
    with failing(env):
        check_fallback(env, "fo-refused", "connection refused", a_min=0)


@tap.case("A hangs past first_byte (300ms): B serves, attempts 2, well before A would answer")
def _(env):
    with failing(env, hang=True):
        t = time.monotonic()
        check_fallback(env, "fo-hang", "A hangs")
        took = time.monotonic() - t
        check(took < 5.0 * SLOW, "the fallback took %.1fs (first_byte is 300ms)", took)
        check_eq(counts(env)[0], 1, "requests A received")


@tap.case("A resets the connection before answering: B serves, attempts 2")
def _(env):
    with failing(env, reset_before_response=True):
        check_fallback(env, "fo-reset", "A resets")


def run_stream(env, model_name, chunks=4):
    s = env.gw.stream(chat_body(model=model_name, stream=True, mock={"chunks": chunks}), key=KEY)
    try:
        s.read_all()
    finally:
        s.close()
    return s


def describe(s):
    return "status %d, headers %r, events %r, error %r" % (s.status, s.headers, s.received[-5:],
                                                          s.error)


def check_stream_fallback(env, model_name, what, a_min=1):
    s = run_stream(env, model_name)
    check_eq((s.status, s.headers.get("x-aigw-target"), s.headers.get("x-aigw-attempts")),
             (200, BACKUP, "2"), what + ": status, x-aigw-target, x-aigw-attempts (%s)"
             % describe(s))
    errors = [e for e in s.received if isinstance(e.json(), dict) and "error" in e.json()]
    check(not errors, "%s: error events in the stream: %r", what, errors)
    check_eq(stream_text(s.received), "tok0 tok1 tok2 tok3", what + ": streamed text")
    check_eq(sum(1 for e in s.received if e.is_done), 1, what + ": [DONE] events")
    a, b = counts(env)
    check(a >= a_min, "%s: A received %d requests, expected at least %d", what, a, a_min)
    check_eq(b, 1, what + ": requests B received")


@tap.case("stream, A fails before any event (500, hang, reset, 200 then reset): B streams")
def _(env):
    for what, controls in (("A 500", {"status": 500}),
                           ("A 503", {"status": 503}),
                           ("A hangs", {"hang": True}),
                           ("A resets before answering", {"reset_before_response": True}),
                           ("A answers 200 and resets before its first event",
                            {"reset_after": 0})):
        with failing(env, **controls):
            check_stream_fallback(env, "fo-stream", "stream, " + what)


@tap.case("stream, A refuses the connection: B streams, attempts 2")
def _(env):
    with failing(env):
        check_stream_fallback(env, "fo-stream-refused", "stream, connection refused", a_min=0)


@tap.case("stream, A resets after 2 events: error event, no [DONE], no retry (B gets nothing)")
def _(env):
    with failing(env, reset_after=2):
        s = run_stream(env, "fo-midstream", chunks=6)
        check_eq((s.status, s.headers.get("x-aigw-target"), s.headers.get("x-aigw-attempts")),
                 (200, PRIMARY, "1"), "status, x-aigw-target, x-aigw-attempts (%s)" % describe(s))
        check_eq(stream_text(s.received), "tok0 tok1", "text that reached the client")
        errors = [e.json()["error"] for e in s.received
                  if isinstance(e.json(), dict) and isinstance(e.json().get("error"), dict)]
        check(errors, "no SSE error event at the end: %s", describe(s))
        check_eq(sum(1 for e in s.received if e.is_done), 0, "[DONE] events")
        check_eq(counts(env), (1, 0), "requests A, B received")


@tap.case("fallback_on without 500: A's 500 is returned (attempts 1); a 502 still falls back")
def _(env):
    with failing(env, status=500):
        resp = chat(env, "fo-no500")
        check_served_by(resp, PRIMARY, 1, "A 500, 500 not in fallback_on", status=500)
        check_eq(resp.json()["error"]["code"], "mock_500", "A's error body")
        check_eq(counts(env), (1, 0), "requests A, B received")
    with failing(env, status=502):
        check_fallback(env, "fo-no500", "A 502, 502 in fallback_on")


@tap.case("retries: 0: A's 500 is returned, attempts 1, B not contacted")
def _(env):
    with failing(env, status=500):
        resp = chat(env, "fo-noretry")
        check_served_by(resp, PRIMARY, 1, "retries 0", status=500)
        check_eq(counts(env), (1, 0), "requests A, B received")


@tap.case("A answers 400 (not retryable): returned as is, B not contacted")
def _(env):
    with failing(env, status=400):
        resp = chat(env, "fo-400")
        check_served_by(resp, PRIMARY, 1, "A 400", status=400)
        check_eq(resp.json()["error"]["code"], "mock_400", "A's error body")
        check_eq(counts(env), (1, 0), "requests A, B received")


@tap.case("every target fails (default retries = 1): B's 503, the last attempt's, attempts 2")
def _(env):
    with failing(env, status=500, b={"status": 503}):
        resp = chat(env, "fo-all")
        check_served_by(resp, BACKUP, 2, "A 500 then B 503", status=503)
        check_eq(resp.json()["error"]["code"], "mock_503", "the last attempt's body")
        check_eq(counts(env), (1, 1), "requests A, B received")


@tap.case("every target fails, retries: 3: attempts 4 (tried targets again), last status")
def _(env):
    with failing(env, status=500, b={"status": 502}):
        resp = chat(env, "fo-all-3")
        name = resp.headers.get("x-aigw-target")
        check(name in (PRIMARY, BACKUP), "x-aigw-target %r", name)
        check_served_by(resp, name, 4, "A 500, B 502, retries 3",
                        status=500 if name == PRIMARY else 502)
        a, b = counts(env)
        check_eq(a + b, 4, "requests A and B received together (%d, %d)" % (a, b))
        check(a >= 1 and b >= 1, "both targets tried: A %d, B %d", a, b)


@tap.case("mixed providers: a retry skips a target that cannot express the request (A's 503, not a 400)")
def _(env):
    with failing(env, status=503):
        resp = chat(env, "fo-mixed", n=2)
        check_served_by(resp, PRIMARY, 1, "A 503, backup (anthropic) cannot take n=2", status=503)
        check_eq(resp.json()["error"]["code"], "mock_503", "A's error body")
        check_eq(counts(env), (1, 0), "requests A, B received")
        resp = chat(env, "fo-mixed")  # (the translation drops the body's mock controls)
        check_served_by(resp, BACKUP, 2, "A 503, then backup (anthropic) translated")
        check_eq(resp.json()["choices"][0]["message"]["content"], "tok0 tok1 tok2 tok3 tok4",
                 "backup's answer")
        check_eq(counts(env), (2, 1), "requests A, B received")


@tap.case("targets without a name are named <provider>/<model> in x-aigw-target")
def _(env):
    with failing(env, status=500):
        resp = chat(env, "fo-names")
        check_served_by(resp, "openai-compatible/up-two", 2, "A 500, unnamed targets")


if __name__ == "__main__":
    main(tap, fixture)
