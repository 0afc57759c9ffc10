# SPDX-License-Identifier: Apache-2.0
"""End-to-end: weighted targets and priority tiers (traffic control, spec issue 4).

Three mock instances A, B and C are the three targets of one model on a
gateway with 4 workers. Batches of requests go out over 16 keep-alive
connections; each target's share is counted twice, from the x-aigw-target
response header and from the mock's own /mock/stats, and must be within 1% of
the weights (the smooth weighted round robin is shared by every worker).
Weights and priorities are changed through the Admin API (PUT) between
batches and must apply from the next request on.
"""

import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Gateway, Mock, chat_body, check, check_eq, main, request)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-split-test"
MODEL_ID = "split"
MODEL = "split-model"
NAMES = ("a", "b", "c")
PATH = "/v1/chat/completions"
THREADS = 16
BATCH_DEADLINE = 30.0 * SLOW  # a whole batch must be done within this


def target(mock, name, weight, priority=0):
    return {"name": name, "provider": "openai-compatible", "model": "up-" + name,
            "api_base": mock.url(), "weight": weight, "priority": priority}


def model_doc(env, weights, priorities=(0, 0, 0)):
    """The split model's value: targets a, b, c on the three mocks."""
    return {"name": MODEL,
            "targets": [target(m, n, w, p) for m, n, w, p in
                        zip(env.mocks, NAMES, weights, priorities)]}


class fixture:
    """Three mocks and one gateway (4 workers) with the split model at 5/3/2."""

    def __enter__(self):
        self.mocks, self.gw = [], None
        try:
            for _ in NAMES:
                self.mocks.append(Mock())
            env = Env(mocks=self.mocks)
            # the model is the Admin API's (its PUTs change it): a model of the
            # resources file is read-only through the Admin API (409 file_owned)
            res = {"models": [], "api_keys": [{"name": "split", "key": KEY}]}
            self.gw = Gateway(res, config={"workers": 4})
            env.gw = self.gw
            resp = request(admin_port(self.gw), "PUT", "/admin/v1/models/" + MODEL_ID,
                           body=model_doc(env, (5, 3, 2)))
            check_eq(resp.status, 201, "PUT the split model (body %r)" % resp.body[:300])
            env.mock = self.mocks[0]
            return env
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        if self.gw is not None:
            self.gw.stop()
        for m in self.mocks:
            m.stop()


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def put_model(env, weights, priorities=(0, 0, 0)):
    """PUT the split model with new weights/priorities through the Admin API."""
    doc = model_doc(env, weights, priorities)
    resp = request(admin_port(env.gw), "PUT", "/admin/v1/models/" + MODEL_ID, body=doc)
    check_eq(resp.status, 200, "PUT /admin/v1/models/%s (body %r)" % (MODEL_ID, resp.body[:300]))


def run_batch(env, n, threads=THREADS):
    """Send exactly n chat requests over `threads` keep-alive connections.

    Returns {"targets": {name: count}, "mocks": {name: count}, "statuses":
    {status: count}, "attempts": {value: count}, "errors": [..]}: targets from
    x-aigw-target, mocks from each mock's /mock/stats (zeroed before)."""
    for m in env.mocks:
        m.reset()
    body = json.dumps(chat_body(model=MODEL, mock={"chunks": 1})).encode()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + KEY}
    lock = threading.Lock()
    left = [n]
    out = {"targets": {}, "statuses": {}, "attempts": {}, "errors": []}
    deadline = time.monotonic() + BATCH_DEADLINE

    def bump(kind, k):
        out[kind][k] = out[kind].get(k, 0) + 1

    def worker():
        conn = None
        while time.monotonic() < deadline:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, env.gw.port, timeout=10 * SLOW)
                conn.request("POST", PATH, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                with lock:
                    bump("statuses", resp.status)
                    bump("targets", resp.getheader("x-aigw-target"))
                    bump("attempts", resp.getheader("x-aigw-attempts"))
                if resp.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    out["errors"].append(repr(exc))
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(max(0.0, deadline - time.monotonic()) + 5)
    check(not any(t.is_alive() for t in ths), "batch of %d still running after %.0fs",
          n, BATCH_DEADLINE)
    check(left[0] <= 0, "batch of %d: %d requests not sent within %.0fs", n, left[0],
          BATCH_DEADLINE)
    out["mocks"] = {name: m.stats()["requests"] for name, m in zip(NAMES, env.mocks)}
    return out


def check_split(res, n, weights, what, tolerance=None):
    """Every request answered 200 by one attempt, and each target's count, by
    header and by mock, within tolerance (1% of n) of its weight's share."""
    tol = tolerance if tolerance is not None else n // 100
    check(not res["errors"], "%s: %d client errors, first %s", what, len(res["errors"]),
          res["errors"][:3])
    check_eq(res["statuses"], {200: n}, what + ": statuses")
    check_eq(res["attempts"], {"1": n}, what + ": x-aigw-attempts")
    total = sum(weights)
    expected = {name: n * w // total for name, w in zip(NAMES, weights)}
    by_header = {name: res["targets"].get(name, 0) for name in NAMES}
    check(sum(by_header.values()) == n, "%s: x-aigw-target values %r are not all of a, b, c",
          what, res["targets"])
    for source, got in (("x-aigw-target", by_header), ("/mock/stats", res["mocks"])):
        for name in NAMES:
            check(abs(got[name] - expected[name]) <= tol,
                  "%s: target %s got %d requests by %s, expected %d +- %d (all: %r, expected %r)",
                  what, name, got[name], source, expected[name], tol, got, expected)
            if expected[name] == 0:
                check_eq(got[name], 0, "%s: requests to %s (weight 0 or lower tier) by %s"
                         % (what, name, source))


@tap.case("10,000 requests over 4 workers split 5/3/2 within 1% (header and mock counts)")
def _(env):
    t = time.monotonic()
    res = run_batch(env, 10000)
    tap.diag("10,000 requests in %.1fs: %r" % (time.monotonic() - t, res["targets"]))
    check_split(res, 10000, (5, 3, 2), "weights 5/3/2")


@tap.case("weights changed through the Admin API (1/1/2): the next batch follows them")
def _(env):
    try:
        put_model(env, (1, 1, 2))
        res = run_batch(env, 4000)
        check_split(res, 4000, (1, 1, 2), "weights 1/1/2")
    finally:
        put_model(env, (5, 3, 2))


@tap.case("weight 0 drains a target: c gets no request, a and b split 1/1")
def _(env):
    try:
        put_model(env, (1, 1, 0))
        res = run_batch(env, 2000)
        check_split(res, 2000, (1, 1, 0), "weights 1/1/0")
    finally:
        put_model(env, (5, 3, 2))


@tap.case("priority: the higher-priority target gets every request while available")
def _(env):
    try:
        put_model(env, (1, 3, 2), priorities=(1, 0, 0))
        res = run_batch(env, 1000)
        check_split(res, 1000, (1, 0, 0), "a at priority 1, b and c at 0", tolerance=0)
    finally:
        put_model(env, (5, 3, 2))


@tap.case("priority: with the top target drained (weight 0) the next tier splits by weight")
def _(env):
    try:
        put_model(env, (0, 3, 2), priorities=(1, 0, 0))
        res = run_batch(env, 2000)
        check_split(res, 2000, (0, 3, 2), "a drained at priority 1, b/c 3/2 at 0")
    finally:
        put_model(env, (5, 3, 2))


@tap.case("priority: a lower number is a lower tier (c at priority 5 gets everything)")
def _(env):
    try:
        put_model(env, (5, 3, 2), priorities=(-1, 0, 5))
        res = run_batch(env, 500)
        check_split(res, 500, (0, 0, 1), "c at priority 5", tolerance=0)
    finally:
        put_model(env, (5, 3, 2))


if __name__ == "__main__":
    main(tap, fixture)
