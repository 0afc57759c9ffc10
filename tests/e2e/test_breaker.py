# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the circuit breaker of a model's targets (spec issue 4).

A gateway with 4 workers, so that the breaker state must be shared: every
request goes on a fresh connection and lands on any worker. Mocks:

  A  target "primary" (priority 1) of brk-model, breaker {failures: 3,
     cooldown: 1s, max_cooldown: 4s}; B its target "backup" (priority 0).
  C  the only target of solo-model (breaker failures 1, cooldown 10s), and
     of mid-model (failures 2, cooldown 10s).
  D  the only target of cap-model (breaker failures 1, cooldown 1s,
     max_cooldown 2s).

The brk-model cases form one story and run in order: A fails and opens, the
cooldown passes and exactly one probe goes to A and fails, the breaker opens
again for twice as long, A recovers and the next probe closes it. Each case
checks the request counts of the mocks (/mock/stats), the x-aigw-target and
x-aigw-attempts headers, and the breakers in GET /admin/v1/status.
"""

import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        SLOW, TAP, Env, Gateway, Mock, Stream, TestFailure, chat_body, check, check_eq,
        check_error_body, main, request, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-breaker-test"
BRK, SOLO, CAP, MID = "brk-model", "solo-model", "cap-model", "mid-model"
PRIMARY, BACKUP = "primary", "backup"
TIMEOUTS = {"connect": "1s", "first_byte": "5s", "total": "20s"}
COOLDOWN = 1.0  # brk-model's first cooldown, seconds


def target(mock, name, priority=0):
    return {"name": name, "provider": "openai-compatible", "model": "up-" + name,
            "api_base": mock.url(), "priority": priority}


def resources(a, b, c, d):
    return {"models": [
        {"id": "brk", "name": BRK, "timeouts": TIMEOUTS,
         "targets": [target(a, PRIMARY, 1), target(b, BACKUP, 0)],
         "breaker": {"failures": 3, "cooldown": "1s", "max_cooldown": "4s"}},
        {"id": "solo", "name": SOLO, "targets": [target(c, "only")],
         "timeouts": {"connect": "1s", "first_byte": "20s", "total": "30s"},
         "breaker": {"failures": 1, "cooldown": "10s"}},
        {"id": "mid", "name": MID, "targets": [target(c, "streamer")], "timeouts": TIMEOUTS,
         "breaker": {"failures": 2, "cooldown": "10s"}},
        {"id": "cap", "name": CAP, "targets": [target(d, "capped")], "timeouts": TIMEOUTS,
         "breaker": {"failures": 1, "cooldown": "1s", "max_cooldown": "2s"}},
    ], "api_keys": [{"name": "breaker", "key": KEY}]}


class fixture:
    """Mocks A, B, C, D and one gateway with 4 workers."""

    def __enter__(self):
        self.mocks, self.gw = [], None
        try:
            for _ in range(4):
                self.mocks.append(Mock())
            self.gw = Gateway(resources(*self.mocks), config={"workers": 4})
            a, b, c, d = self.mocks
            # story: what the brk-model cases hand on to each other
            return Env(a=a, b=b, c=c, d=d, gw=self.gw, mock=a, story={})
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in [self.gw] + self.mocks:
            if p is not None:
                p.stop()


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def breaker(env, model, target_name):
    """The breaker entry of model/target in GET /admin/v1/status."""
    resp = request(admin_port(env.gw), "GET", "/admin/v1/status")
    check_eq(resp.status, 200, "GET /admin/v1/status")
    obj = resp.json()
    entries = obj.get("breakers")
    check(isinstance(entries, list), "status has no \"breakers\" list: %r", obj)
    for e in entries:
        if isinstance(e, dict) and e.get("model") == model and e.get("target") == target_name:
            for k in ("model_id", "state", "failures", "trips", "retry_in_ms"):
                check(k in e, "breaker entry without %r: %r", k, e)
            check(e["state"] in ("closed", "open", "half_open"), "breaker state %r", e)
            return e
    raise TestFailure("no breaker for %s/%s in status: %r" % (model, target_name, entries))


def chat(env, model, **kw):
    """One chat request on a fresh connection (so on any worker)."""
    return request(env.gw.port, "POST", "/v1/chat/completions",
                   chat_body(model=model, mock={"chunks": 2}, **kw), key=KEY)


def served(resp):
    return resp.status, resp.headers.get("x-aigw-target"), resp.headers.get("x-aigw-attempts")


def a_count(env):
    return env.a.stats()["requests"]


@tap.case("A fails 3 times (500, spread over workers): its breaker opens; B serves each")
def _(env):
    env.a.reset()
    env.b.reset()
    env.a.configure(status=500)
    for i in range(3):
        resp = chat(env, BRK)
        check_eq(served(resp), (200, BACKUP, "2"), "failure %d: status, target, attempts" % (i + 1))
    env.story["opened"] = time.monotonic()
    check_eq(a_count(env), 3, "requests A received")


@tap.case("open: the next requests go straight to B (attempts 1), A gets nothing")
def _(env):
    check("opened" in env.story, "the previous case did not open the breaker")
    for i in range(4):
        resp = chat(env, BRK)
        check_eq(served(resp), (200, BACKUP, "1"), "request %d while open" % (i + 1))
    took = time.monotonic() - env.story["opened"]
    check(took < COOLDOWN, "the requests took %.2fs, longer than the cooldown: nothing shown",
          took)
    check_eq(a_count(env), 3, "requests A received while its breaker is open")


@tap.case("status: A's breaker open with trips 1 (retry_in_ms <= 1000), B's closed")
def _(env):
    e = breaker(env, BRK, PRIMARY)
    check_eq((e["state"], e["trips"], e["model_id"]), ("open", 1, "brk"),
             "A's state, trips, model_id (%r)" % e)
    check(0 <= e["retry_in_ms"] <= 1000, "A's retry_in_ms %r (cooldown 1s)", e["retry_in_ms"])
    e = breaker(env, BRK, BACKUP)
    check_eq((e["state"], e["trips"], e["failures"]), ("closed", 0, 0), "B's breaker (%r)" % e)


@tap.case("after the cooldown exactly one probe reaches A (half_open); it fails: open, trips 2")
def _(env):
    check("opened" in env.story, "the first case did not open the breaker")
    # A answers 500 after 1s: the probe is in flight while the others arrive.
    env.a.configure(status=500, first_byte_ms=1000)
    time.sleep(max(0.0, env.story["opened"] + COOLDOWN + 0.3 - time.monotonic()))
    before = a_count(env)
    results = {}

    def one(n):
        try:
            results[n] = served(chat(env, BRK))
        except Exception as exc:  # noqa: BLE001 - checked below
            results[n] = repr(exc)
    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    seen = wait_for(lambda: breaker(env, BRK, PRIMARY)["state"] == "half_open", 0.8 * SLOW,
                    interval=0.02, what="A's breaker to show half_open while the probe runs")
    for t in threads:
        t.join(15 * SLOW)
    env.story["reopened"] = time.monotonic()
    check(seen, "never half_open")
    got = sorted(results.get(n, "missing") for n in range(8))
    check_eq(got, [(200, BACKUP, "1")] * 7 + [(200, BACKUP, "2")],
             "8 concurrent requests: one probe (attempts 2), seven straight to B")
    check_eq(a_count(env) - before, 1, "requests A received after the cooldown (the probe)")
    e = breaker(env, BRK, PRIMARY)
    check_eq((e["state"], e["trips"]), ("open", 2), "A after the failed probe (%r)" % e)
    check(e["retry_in_ms"] > 1000 * COOLDOWN, "A's retry_in_ms %r: the cooldown (2s) did not "
          "double", e["retry_in_ms"])


@tap.case("reopened for 2s: A (healthy now) stays untouched for clearly longer than 1s")
def _(env):
    check("reopened" in env.story, "the previous case did not reopen the breaker")
    env.a.configure()  # A answers 200 now: a probe would show as target primary
    before = a_count(env)
    n = 0
    while time.monotonic() < env.story["reopened"] + 1.6:
        resp = chat(env, BRK)
        n += 1
        check_eq(served(resp), (200, BACKUP, "1"),
                 "request %d, %.2fs after the failed probe" % (
                     n, time.monotonic() - env.story["reopened"]))
        time.sleep(0.1)
    check_eq(a_count(env) - before, 0, "requests A received while reopened")


@tap.case("A recovered: after the doubled cooldown the probe succeeds: closed, trips 0, A serves")
def _(env):
    check("reopened" in env.story, "the breaker was not reopened")
    deadline = env.story["reopened"] + 2.0 + 4.0 * SLOW
    resp = None
    while time.monotonic() < deadline:
        resp = chat(env, BRK)
        if resp.headers.get("x-aigw-target") == PRIMARY:
            break
        time.sleep(0.1)
    check(resp is not None, "no request sent")
    after = time.monotonic() - env.story["reopened"]
    check_eq(served(resp), (200, PRIMARY, "1"), "the successful probe (%.1fs after reopening)"
             % after)
    e = breaker(env, BRK, PRIMARY)
    check_eq((e["state"], e["trips"], e["failures"]), ("closed", 0, 0),
             "A after the successful probe (%r)" % e)
    before = a_count(env)
    for i in range(6):
        check_eq(served(chat(env, BRK)), (200, PRIMARY, "1"), "request %d after closing" % i)
    check_eq(a_count(env) - before, 6, "requests A received after closing")


def check_no_target(resp, model, what, max_retry):
    """503 no_target_available with a Retry-After that matches the message."""
    err = check_error_body(resp, 503, what)
    check_eq((err.get("code"), err.get("type")), ("no_target_available", "server_error"),
             what + ": code, type")
    m = re.match(r"^All targets of model `(.+)` are unavailable \(circuit breaker open\); "
                 r"retry in (\d+)s$", err["message"])
    check(m, "%s: message %r", what, err["message"])
    check_eq(m.group(1), model, what + ": model in the message")
    ra = resp.headers.get("retry-after")
    check(ra is not None and ra.isdigit(), "%s: Retry-After %r", what, ra)
    check(1 <= int(ra) <= max_retry, "%s: Retry-After %s, expected 1..%d", what, ra, max_retry)
    check_eq(m.group(2), ra, what + ": seconds in the message vs Retry-After")


@tap.case("only target open: 503 no_target_available with Retry-After, at once, mock untouched")
def _(env):
    env.c.reset()
    env.c.configure(status=500)
    try:
        resp = chat(env, SOLO)
        check_eq((resp.status, resp.headers.get("x-aigw-attempts")), (500, "1"),
                 "the failure that opens the breaker (failures: 1)")
        # Were C contacted again, it would hang far longer than first_byte (20s).
        env.c.configure(hang=True)
        for i in range(3):
            t = time.monotonic()
            resp = chat(env, SOLO)
            took = time.monotonic() - t
            check_no_target(resp, SOLO, "request %d while open" % (i + 1), 10)
            check(took < 2.0 * SLOW, "the 503 took %.2fs (should not wait for the upstream)",
                  took)
        check_eq(env.c.stats()["requests"], 1, "requests the only target received")
        e = breaker(env, SOLO, "only")
        check_eq((e["state"], e["trips"]), ("open", 1), "breaker of the only target (%r)" % e)
        check(5000 < e["retry_in_ms"] <= 10000, "retry_in_ms %r (cooldown 10s)", e["retry_in_ms"])
    finally:
        env.c.configure()


def mid_stream(env, **controls):
    """A stream on mid-model with C's controls; (status, broken, text)."""
    env.c.configure(**controls)
    s = Stream(env.gw.port, "/v1/chat/completions",
               chat_body(model=MID, stream=True, mock={"chunks": 4}), key=KEY)
    try:
        s.read_all()
    finally:
        s.close()
    broken = any(isinstance(e.json(), dict) and "error" in e.json() for e in s.received)
    return s.status, broken


@tap.case("streams that break mid-way count as failures; a non-retryable answer resets the count")
def _(env):
    env.c.reset()
    try:
        check_eq(mid_stream(env, reset_after=1), (200, True), "1st broken stream")
        check_eq(mid_stream(env, status=400), (400, False), "a 400 in between")
        check_eq(mid_stream(env, reset_after=1), (200, True), "2nd broken stream")
        e = breaker(env, MID, "streamer")
        check_eq((e["state"], e["failures"]), ("closed", 1),
                 "after break, 400, break (failures: 2): the 400 reset the count (%r)" % e)
        check_eq(mid_stream(env, reset_after=1), (200, True), "3rd broken stream")
        e = breaker(env, MID, "streamer")
        check_eq((e["state"], e["trips"]), ("open", 1), "after two breaks in a row (%r)" % e)
        env.c.configure()
        check_no_target(chat(env, MID), MID, "request after the breaker opened", 10)
        check_eq(env.c.stats()["requests"], 4, "requests C received")
    finally:
        env.c.configure()


@tap.case("cooldown doubles on each trip up to max_cooldown (1s, 2s, then 2s, not 4s)")
def _(env):
    env.d.reset()
    env.d.configure(status=500)
    try:
        check_eq(chat(env, CAP).status, 500, "the failure that opens the breaker")
        for trip in (2, 3):
            before = env.d.stats()["requests"]
            deadline = time.monotonic() + 4.0 * SLOW
            while env.d.stats()["requests"] == before and time.monotonic() < deadline:
                resp = chat(env, CAP)  # 503 while open, the probe's 500 once half-open
                check(resp.status in (500, 503), "status %d while probing", resp.status)
                if resp.status == 503:
                    check_no_target(resp, CAP, "while open before trip %d" % trip, 2)
                time.sleep(0.05)
            check_eq(env.d.stats()["requests"] - before, 1, "probes before trip %d" % trip)
            e = breaker(env, CAP, "capped")
            check_eq((e["state"], e["trips"]), ("open", trip), "after trip %d (%r)" % (trip, e))
            check(1000 < e["retry_in_ms"] <= 2000, "trip %d: retry_in_ms %r, expected the "
                  "cooldown 2s (1s doubled, capped at max_cooldown 2s)", trip, e["retry_in_ms"])
    finally:
        env.d.configure()


if __name__ == "__main__":
    main(tap, fixture)
