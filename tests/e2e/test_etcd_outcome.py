# SPDX-License-Identifier: Apache-2.0
"""End-to-end: a write's answer is the truth (etcd mode, a real etcd).

One etcd, one mock and two aigw nodes (A and B) in etcd mode, with
etcd.request_timeout at 1 s. An Admin API write on node A:

- with etcd down (connection refused: the request never left) answers 503
  store_unavailable, "nothing was changed", and etcd holds nothing of it;
- with etcd stalled (SIGSTOP for longer than the request timeout: the
  request was sent, no answer came) answers 504 write_outcome_unknown, not
  "nothing was changed"; once etcd runs again, GET on both nodes shows what
  etcd holds;
- a rotate with etcd stalled answers 504 write_outcome_unknown with the new
  key in the body: whatever etcd did, the key etcd holds is the old key or
  the one shown, and it is served by both nodes (the client is never locked
  out);
- with a second endpoint where nothing listens, a write whose first
  attempt went to the stalled etcd and whose retry was refused still
  answers 504: the retry's "nothing sent" does not undo the first attempt;
- `aigwctl key rotate` with etcd stalled prints the new key and says the
  change may or may not be applied (never "nothing was changed").

etcd is stopped with SIGSTOP and always resumed with SIGCONT (finally).
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, MOCK_KEY, SLOW, TAP, Env, Etcd, Gateway, Mock, chat_body, check, check_eq,
        check_error_body, dead_port, main, request, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(AIGW_BIN)), "aigwctl", "aigwctl")
PREFIX = "/e2e/outcome"
BASE_KEY = "sk-e2e-outcome-base-0123456789"
SYNC = 15.0 * SLOW
KEYS = "/admin/v1/api_keys"
MODELS = "/admin/v1/models"


def mkey(rid):
    return "%s/models/%s" % (PREFIX, rid)


def kkey(rid):
    return "%s/api_keys/%s" % (PREFIX, rid)


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def model_doc(env, name, upstream):
    return {"name": name, "provider": "openai-compatible", "model": upstream,
            "api_base": env.mock.url(), "api_key": MOCK_KEY}


def node(env, extra_endpoints=()):
    """A gateway in etcd mode on env.etcd with a 1 s etcd request timeout."""
    conf = {"workers": 1,
            "etcd": {"endpoints": [env.etcd.url()] + list(extra_endpoints), "prefix": PREFIX,
                     "request_timeout": "1s", "connect_timeout": "1s"}}
    return Gateway({"models": [], "api_keys": []}, config=conf, env={"MOCK_KEY": MOCK_KEY})


def admin(gw, method, path, body=None, headers=None):
    port = int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    return request(port, method, path, body=body, headers=headers, timeout=30.0 * SLOW)


def wait_synced(gw, etcd):
    """Until gw watches etcd at etcd's revision."""
    def ok():
        e = admin(gw, "GET", "/admin/v1/status").json().get("etcd") or {}
        return (e.get("state") == "watching" and e.get("synced") is True and
                e.get("revision", 0) >= etcd.revision())
    wait_for(ok, SYNC, interval=0.05, what="aigw pid %s to watch etcd at its revision" % gw.pid)


def chat_status(gw, key):
    return request(gw.port, "POST", "/v1/chat/completions", chat_body(model="base"),
                   key=key, headers={"x-request-id": unique_id("outcome")}).status


class stalled:
    """etcd stopped with SIGSTOP inside the block, resumed with SIGCONT after."""

    def __init__(self, etcd):
        self.etcd = etcd

    def __enter__(self):
        os.kill(self.etcd.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc):
        os.kill(self.etcd.pid, signal.SIGCONT)


class fixture:
    """etcd + mock + nodes A and B (the base model and key are in etcd first)."""

    def __enter__(self):
        self.etcd = self.mock = self.a = self.b = None
        try:
            self.etcd = Etcd()
            self.mock = Mock(key=MOCK_KEY)
            env = Env(self.mock, None, etcd=self.etcd)
            self.etcd.put(mkey("base"), model_doc(env, "base", "up-base"))
            self.etcd.put(kkey("base-key"), {"name": "base-key", "key": BASE_KEY})
            env.gw = env.a = self.a = node(env)
            env.b = self.b = node(env)
            tap.add_gateway_log(self.b, "aigw node B log")
            tap.log_sources.append(("etcd log", lambda e=self.etcd: e.log_tail(8)))
            wait_synced(self.a, self.etcd)
            wait_synced(self.b, self.etcd)
            return env
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        for obj in (self.b, self.a, self.mock, self.etcd):
            if obj is not None:
                obj.stop()


@tap.case("1. etcd down (connection refused): 503 store_unavailable, nothing changed")
def _(env):
    env.etcd.stop()
    try:
        resp = admin(env.a, "POST", MODELS, model_doc(env, "o1-refused", "up-o1"))
        err = check_error_body(resp, 503, "a POST with etcd down")
        check_eq(err.get("code"), "store_unavailable", "error code with etcd down")
        check("nothing was changed" in err.get("message", ""), "message %r", err)
    finally:
        env.etcd.start()
    wait_synced(env.a, env.etcd)
    check(not any(b"o1-refused" in kv["value"]
                  for kv in env.etcd.get_prefix(PREFIX + "/").values()),
          "the refused write reached etcd")


@tap.case("2. etcd stalled past the request timeout: 504 write_outcome_unknown; GET shows the truth")
def _(env):
    doc = model_doc(env, "o2-model", "up-o2")
    t0 = time.monotonic()
    with stalled(env.etcd):
        resp = admin(env.a, "PUT", MODELS + "/o2", doc)
    took = time.monotonic() - t0
    tap.diag("answer after %.2f s: %d %s" % (took, resp.status, resp.body[:200]))
    check_eq(resp.status, 504, "status of a PUT sent to a stalled etcd")
    obj = resp.json()
    err = obj.get("error") or {}
    check_eq(err.get("code"), "write_outcome_unknown", "error code")
    check("nothing was changed" not in err.get("message", ""),
          "an unknown outcome must not say nothing was changed: %r", err)
    check_eq(obj.get("id"), "o2", "id in the answer")
    lines = [json.loads(line) for line in env.a.log().splitlines()
             if line.startswith("{") and '"/admin/v1/models/o2"' in line]
    check_eq([(x["method"], x["status"], x["error"]) for x in lines],
             [("PUT", 504, "write_outcome_unknown")], "the access line of the PUT")
    wait_synced(env.a, env.etcd)
    wait_synced(env.b, env.etcd)
    kv = env.etcd.get_kv(mkey("o2"))
    applied = kv is not None and json.loads(kv["value"].decode()) == doc
    tap.diag("etcd applied the write after SIGCONT: %s" % applied)
    for gw, name in ((env.a, "A"), (env.b, "B")):
        got = admin(gw, "GET", MODELS + "/o2")
        check_eq(got.status, 200 if applied else 404, "GET on node %s vs. etcd" % name)
        if applied:
            check_eq(got.json()["revision"], kv["mod_revision"], "revision on node %s" % name)


@tap.case("3. rotate with etcd stalled: the new key is shown; the key in force is old or shown")
def _(env):
    old = "sk-e2e-outcome-o3-old-0123456789"
    env.etcd.put(kkey("o3"), {"name": "o3-key", "key": old})
    wait_synced(env.a, env.etcd)
    wait_synced(env.b, env.etcd)
    check_eq(chat_status(env.a, old), 200, "the old key before the rotate")
    with stalled(env.etcd):
        resp = admin(env.a, "POST", KEYS + "/o3/rotate")
    tap.diag("rotate answer: %d" % resp.status)
    check_eq(resp.status, 504, "status of a rotate sent to a stalled etcd")
    obj = resp.json()
    check_eq((obj.get("error") or {}).get("code"), "write_outcome_unknown", "error code")
    new = (obj.get("value") or {}).get("key")
    check(isinstance(new, str) and len(new) >= 20 and new != old,
          "the unknown-outcome rotate answer must show the new key: %r", obj)
    check_eq((obj.get("value") or {}).get("key_sha256"), sha256(new),
             "the hash beside the key shown")
    wait_synced(env.a, env.etcd)
    wait_synced(env.b, env.etcd)
    doc = json.loads(env.etcd.get_kv(kkey("o3"))["value"].decode())
    held = doc.get("key_sha256") or sha256(doc.get("key", ""))
    check(held in (sha256(old), sha256(new)),
          "etcd holds a key that was never shown (locked out): %r", held)
    inforce = new if held == sha256(new) else old
    tap.diag("the rotate was %s" % ("applied" if inforce == new else "not applied"))
    for gw, name in ((env.a, "A"), (env.b, "B")):
        wait_for(lambda g=gw: chat_status(g, inforce) == 200, SYNC,
                 what="node %s to serve the key in force" % name)


@tap.case("4. sent to a stalled etcd, retried on a refusing endpoint: still 504, not 503")
def _(env):
    c = node(env, ["http://%s:%d" % (HOST, dead_port())])
    tap.add_gateway_log(c, "aigw node C log")
    try:
        wait_synced(c, env.etcd)
        with stalled(env.etcd):
            resp = admin(c, "PUT", MODELS + "/o4", model_doc(env, "o4-model", "up-o4"))
        tap.diag("answer: %d %s" % (resp.status, resp.body[:120]))
        check_eq(resp.status, 504, "status after a sent attempt and a refused retry")
        check_eq((resp.json().get("error") or {}).get("code"), "write_outcome_unknown",
                 "error code")
        check(re.search(r"/v3/kv/txn: a write was sent and not answered", c.log()),
              "no log line for the unanswered attempt")
    finally:
        rc = c.stop()
        tap.log_sources.pop()
    check_eq(rc, 0, "node C's exit code")


@tap.case("5. aigwctl key rotate with etcd stalled: the key is printed, the outcome unknown")
def _(env):
    old = "sk-e2e-outcome-o5-old-0123456789"
    env.etcd.put(kkey("o5"), {"name": "o5-key", "key": old})
    wait_synced(env.a, env.etcd)
    with stalled(env.etcd):
        p = subprocess.run([AIGWCTL, "-c", env.a.conf_path, "key", "rotate", "o5"],
                           capture_output=True, text=True, timeout=60.0 * SLOW)
    tap.diag("aigwctl: rc %d, stderr %r" % (p.returncode, p.stderr))
    check_eq(p.returncode, 1, "aigwctl's exit status")
    m = re.search(r"^key: (sk-\S+)$", p.stdout, re.M)
    check(m is not None and m.group(1) != old, "no new key on stdout: %r", p.stdout)
    check("may or may not be applied" in p.stderr and "nothing was changed" not in p.stderr,
          "stderr must say the outcome is unknown: %r", p.stderr)
    check("aigwctl key get o5" in p.stderr, "stderr must say how to read it back: %r", p.stderr)
    wait_synced(env.a, env.etcd)
    doc = json.loads(env.etcd.get_kv(kkey("o5"))["value"].decode())
    held = doc.get("key_sha256") or sha256(doc.get("key", ""))
    check(held in (sha256(old), sha256(m.group(1))), "etcd holds a key never shown: %r", held)


if __name__ == "__main__":
    main(tap, fixture)
