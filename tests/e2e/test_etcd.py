# SPDX-License-Identifier: Apache-2.0
"""End-to-end: etcd mode, with a real etcd (Debian's /usr/bin/etcd 3.4).

One etcd (free client and peer ports, its own data dir), one mock (checking
the provider key) and one aigw (node A: 2 workers, the Admin API on a port of
its own without admin keys, so open on loopback) in etcd mode under PREFIX
serve every case; some cases start gateways of their own (node B, node C)
on the same etcd. The resources file of every gateway holds a model and a key
that must never be served: in etcd mode the file is not read.

Every change is asked of the data plane on every worker (on_every_worker():
rounds of requests on fresh connections, each found in the access log to
know which worker served it, until one round saw every worker answer as
expected within a deadline). Values are put into etcd through its v3 JSON
gateway or with etcdctl, exactly as an operator would.

Cases 5 and 7 stop and start etcd (same ports, same data dir); case 6
SIGSTOPs node A's master so that its watch falls behind a compaction.
"""

import datetime
import hashlib
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, TAP, Env, Etcd, Gateway, Load, Mock, TestFailure, chat_body,
        check, check_eq, check_error_body, main, make_tmpdir, request, unique_id, wait_for)
    import jwtkit  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

PREFIX = "/e2e/aigw"
BASE_KEY = "sk-e2e-etcd-base-0123456789"   # a data-plane key put into etcd, any model
FILE_KEY = "sk-e2e-file-only-0123456789"   # only in the resources file: never valid
VISIBLE = 5.0 * SLOW        # a change in etcd must reach every worker within this
CATCH_UP = 15.0 * SLOW      # after etcd comes back (backoff is at most 5 s)

MODELS = "/admin/v1/models"
KEYS = "/admin/v1/api_keys"
STATUS = "/admin/v1/status"


def mkey(rid):
    return "%s/models/%s" % (PREFIX, rid)


def kkey(rid):
    return "%s/api_keys/%s" % (PREFIX, rid)


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def model_doc(env, name, upstream):
    """A model on the mock with the mock's key (as etcd holds it)."""
    return {"name": name, "provider": "openai-compatible", "model": upstream,
            "api_base": env.mock.url(), "api_key": MOCK_KEY}


def file_resources(mock_port):
    """What the resources file holds: never served in etcd mode."""
    return {"models": [{"name": "from-file", "provider": "openai-compatible",
                        "model": "file-1", "api_base": "http://%s:%d/v1" % (HOST, mock_port),
                        "api_key": MOCK_KEY}],
            "api_keys": [{"name": "file-key", "key": FILE_KEY}]}


JWT_ISS = "https://idp.etcd.test"
_jwt = {}


def jwt_provider():
    """An identity provider for JWT bindings put into etcd: an ES256 key made
    once, its JWK Set in a file."""
    if not _jwt:
        d = make_tmpdir("aigw-etcd-jwt-")
        _jwt["key"] = jwtkit.Key(d, "p256", "etcd-1")
        _jwt["path"] = os.path.join(d, "idp.jwks")
        with open(_jwt["path"], "w") as f:
            f.write(jwtkit.jwks(_jwt["key"].jwk()))
    return {"name": "idp", "issuer": JWT_ISS, "jwks_file": _jwt["path"]}


def etcd_gateway(env, workers=2):
    """A gateway in etcd mode on env.etcd (its own ports and data dir)."""
    conf = {"workers": workers,
            "etcd": {"endpoints": [env.etcd.url()], "prefix": PREFIX},
            "auth": {"jwt": {"providers": [jwt_provider()]}}}
    return Gateway(file_resources(env.mock.port), config=conf, env={"MOCK_KEY": MOCK_KEY})


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(gw, method, path, body=None, headers=None):
    return request(admin_port(gw), method, path, body=body, headers=headers)


def status(gw):
    resp = admin(gw, "GET", STATUS)
    check(resp.status == 200, "GET status: %d %r", resp.status, resp.body[:300])
    return resp.json()


def item(resp, code, what):
    """The {"id", "value", "revision"} body of an Admin API write, checked."""
    check(resp.status == code, "%s: expected status %d, got %d; body %r", what, code,
          resp.status, resp.body[:600])
    obj = resp.json()
    check(isinstance(obj, dict) and set(obj) == {"id", "value", "revision"},
          "%s: body is not {id, value, revision}: %r", what, obj)
    return obj


def admin_error(resp, code, err_code, what):
    err = check_error_body(resp, code, what)
    check_eq(err.get("code"), err_code, "%s: error code" % what)
    return err


def etcd_value(env, key):
    """The JSON value etcd holds at key (None when absent) and its mod_revision."""
    kv = env.etcd.get_kv(key)
    if kv is None:
        return None, None
    try:
        return json.loads(kv["value"].decode()), kv["mod_revision"]
    except ValueError:
        raise TestFailure("etcd value of %s is not JSON: %r" % (key, kv["value"][:300]))


def stop_etcd(env):
    """SIGTERM etcd; it must stop by itself (etcd 3.4 re-raises SIGTERM: -15)."""
    rc = env.etcd.stop()
    check(rc in (0, -signal.SIGTERM), "etcd's exit status on SIGTERM: %r", rc)


def wait_synced(gw, etcd, timeout=CATCH_UP, what=None):
    """Poll the status until the gateway watches etcd, connected, at etcd's revision."""
    def ok():
        e = status(gw).get("etcd") or {}
        return e if (e.get("connected") is True and e.get("state") == "watching" and
                     e.get("synced") is True and e.get("revision", 0) >= etcd.revision()) else None
    return wait_for(ok, timeout, interval=0.05,
                    what=what or "aigw (pid %s) to be connected and watching etcd" % gw.pid)


def wait_log(gw, offset, pattern, timeout=VISIBLE, what=None):
    """Poll the gateway's log written after offset for a regex; the match."""
    rx = re.compile(pattern)

    def find():
        return rx.search(gw.log_since(offset))
    return wait_for(find, timeout, what=what or "a log line matching %r" % pattern)


def log_time(m):
    """The time (Unix seconds) of the log line holding match m (of wait_log)."""
    text = m.string
    line = text[text.rfind("\n", 0, m.start()) + 1:]
    stamp = line.split(" ", 1)[0]
    try:
        t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise TestFailure("a log line without a timestamp: %r" % line[:200])
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


# ---- the data plane ------------------------------------------------------------

def chat(gw, model, rid, key=BASE_KEY):
    """A chat completion on a fresh connection."""
    return request(gw.port, "POST", "/v1/chat/completions",
                   chat_body(model=model, mock={"chunks": 2}), key=key,
                   headers={"x-request-id": rid})


class AccessLog:
    """Which worker served a request id: read from the gateway's log as it grows."""

    def __init__(self, gw):
        self.gw = gw
        self.offset = gw.log_size()
        self.partial = b""
        self.pids = {}

    def _read(self):
        with open(self.gw.logpath, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.startswith(b"{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "request_id" in obj and "pid" in obj:
                self.pids[obj["request_id"]] = obj["pid"]

    def worker_of(self, rid, timeout=5.0 * SLOW):
        def find():
            self._read()
            return self.pids.get(rid)
        return wait_for(find, timeout, what="the access line of request %s" % rid)


def on_every_worker(gw, send, expect, what, timeout=VISIBLE):
    """Send requests on fresh connections (send(request_id) -> Response) and
    check each (expect(resp) raises TestFailure when it is wrong) until one
    round has had every worker answer as expected. Fails when that did not
    happen within timeout. Returns the seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    workers = set(gw.worker_pids())
    check(workers, "the gateway (pid %s) has no workers", gw.pid)
    log = AccessLog(gw)
    while True:
        seen, problem = set(), None
        for i in range(20 * len(workers)):
            rid = unique_id("etcd")
            resp = send(rid)
            try:
                expect(resp)
            except TestFailure as exc:
                problem = "request %s (%d of the round): %s" % (rid, i + 1, exc)
                break
            seen.add(log.worker_of(rid))
            if seen >= workers and i >= 3:
                break
        if problem is None and seen >= workers:
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise TestFailure("%s: not so on every worker of aigw pid %s %.1fs after the "
                              "change: %s" % (what, gw.pid, timeout, problem or
                                              "workers %s never answered (saw %s)" % (
                                                  sorted(workers), sorted(seen))))
        time.sleep(0.01)


def expect_model(upstream):
    """expect(): 200, the answer of upstream model id (the mock echoes it), and an
    integer x-aigw-config-version."""
    def expect(resp):
        check(resp.status == 200, "status %d, body %r", resp.status, resp.body[:300])
        check_eq(resp.json().get("model"), upstream, "upstream model in the answer")
        v = resp.headers.get("x-aigw-config-version", "")
        check(v.isdigit(), "x-aigw-config-version missing or not an integer: %r", v)
    return expect


def expect_error(code, err_code):
    def expect(resp):
        admin_error(resp, code, err_code, "data plane")
        v = resp.headers.get("x-aigw-config-version", "")
        check(v.isdigit(), "x-aigw-config-version missing or not an integer on an error: %r", v)
    return expect


def served(gw, model, upstream, key=BASE_KEY, what=None, timeout=VISIBLE):
    return on_every_worker(gw, lambda rid: chat(gw, model, rid, key=key), expect_model(upstream),
                           what or "model %s served (upstream %s)" % (model, upstream), timeout)


def not_served(gw, model, what=None, timeout=VISIBLE):
    return on_every_worker(gw, lambda rid: chat(gw, model, rid),
                           expect_error(404, "model_not_found"),
                           what or "model %s gives 404 model_not_found" % model, timeout)


def key_refused(gw, key, what, timeout=VISIBLE):
    return on_every_worker(gw, lambda rid: chat(gw, "base", rid, key=key),
                           expect_error(401, "invalid_api_key"), what, timeout)


def first_served(gw, model, upstream, key=BASE_KEY, timeout=VISIBLE):
    """Poll (fresh connections) until one request is served by upstream."""
    def ok():
        resp = chat(gw, model, unique_id("etcd"), key=key)
        return resp.status == 200 and resp.json().get("model") == upstream
    wait_for(ok, timeout, interval=0.002, what="model %s served by %s" % (model, upstream))


# ---- the fixture ---------------------------------------------------------------

class fixture:
    """etcd + mock + node A (the base model and key are in etcd before A starts)."""

    def __enter__(self):
        self.etcd = self.mock = self.gw = None
        try:
            self.etcd = Etcd()
            self.mock = Mock(key=MOCK_KEY)
            env = Env(self.mock, None, etcd=self.etcd)
            self.etcd.put(mkey("base"), model_doc(env, "base", "up-base"))
            self.etcd.put(kkey("base-key"), {"name": "base-key", "key": BASE_KEY})
            env.gw = self.gw = etcd_gateway(env)
            tap.log_sources.append(("etcd log", lambda e=self.etcd: e.log_tail(8)))
            wait_synced(self.gw, self.etcd)
            return env
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        for obj in (self.gw, self.mock, self.etcd):
            if obj is not None:
                obj.stop()


# ---- the cases -----------------------------------------------------------------

@tap.case("1. a model and a key put into etcd (etcdctl, JSON gateway): served by every worker")
def _(env):
    gw = env.gw
    v0 = int(chat(gw, "base", unique_id()).headers.get("x-aigw-config-version", "0"))
    key = "sk-e2e-c1-%d" % os.getpid()
    env.etcd.etcdctl("put", kkey("c1-key"),
                     json.dumps({"name": "c1-key", "key": key, "allowed_models": ["c1-*"]}))
    t0 = time.monotonic()
    rev = env.etcd.put(mkey("c1-model"), model_doc(env, "c1-model", "up-c1"))
    first_served(gw, "c1-model", "up-c1", key=key)
    t_first = time.monotonic() - t0
    served(gw, "c1-model", "up-c1", key=key, what="the model put into etcd")
    t_all = time.monotonic() - t0
    tap.diag("put -> served: first answer after %.0f ms, every worker after %.0f ms" % (
        t_first * 1000, t_all * 1000))
    resp = chat(gw, "c1-model", unique_id(), key=key)
    check(int(resp.headers["x-aigw-config-version"]) > v0,
          "x-aigw-config-version did not grow: %d then %s", v0,
          resp.headers["x-aigw-config-version"])
    check_error_body(chat(gw, "base", unique_id(), key=key), 403,
                     "the key on a model its allowed_models do not list")
    s = status(gw)
    check_eq(s.get("mode"), "etcd", "mode")
    e = s.get("etcd")
    check(isinstance(e, dict), "no etcd object in the status: %r", s)
    check_eq(e.get("connected"), True, "etcd.connected")
    check_eq(e.get("endpoint"), env.etcd.url(), "etcd.endpoint")
    check_eq(e.get("state"), "watching", "etcd.state")
    check_eq(e.get("synced"), True, "etcd.synced")
    check(isinstance(e.get("revision"), int) and e["revision"] >= rev,
          "etcd.revision %r is below the put's revision %d", e.get("revision"), rev)
    check(isinstance(e.get("events_applied"), int) and e["events_applied"] >= 2,
          "etcd.events_applied %r after two puts", e.get("events_applied"))
    check("last_error" in e, "no etcd.last_error in %r", e)
    # the resources file is not read in etcd mode
    not_served(gw, "from-file", "the resources file's model")
    key_refused(gw, FILE_KEY, "the resources file's key")


@tap.case("1b. an API key bound to a JWT identity, put with etcdctl: a token serves on every "
          "worker; deleted, it is refused")
def _(env):
    gw = env.gw
    tok = jwtkit.token("ES256", jwtkit.claims(JWT_ISS, "etcd-user", aud=None), _jwt["key"])
    check_eq(chat(gw, "base", unique_id(), key=tok).status, 401, "before the binding")
    rev = env.etcd.put(kkey("jwt-user"), {"name": "jwt-user",
                                          "jwt": {"issuer": JWT_ISS, "subject": "etcd-user"}})
    wait_for(lambda: chat(gw, "base", unique_id(), key=tok).status == 200, VISIBLE,
             what="the binding put into etcd")
    e = status(gw).get("etcd") or {}
    check(isinstance(e.get("revision"), int) and e["revision"] >= rev,
          "etcd.revision %r is below the put's revision %d", e.get("revision"), rev)
    env.etcd.delete(kkey("jwt-user"))
    wait_for(lambda: chat(gw, "base", unique_id(), key=tok).status == 401, VISIBLE,
             what="the binding deleted from etcd")


@tap.case("2. Admin API PUT model, POST key: in etcd (key hashed), served by every worker")
def _(env):
    gw = env.gw
    doc = model_doc(env, "c2-model", "up-c2")
    resp = admin(gw, "PUT", MODELS + "/c2-model", doc)
    a = item(resp, 201, "PUT a new model")
    stored, mod = etcd_value(env, mkey("c2-model"))
    check_eq(stored, doc, "the model as etcd holds it")
    check_eq(a["revision"], mod, "revision of the PUT vs. the etcd mod_revision")
    given = "sk-e2e-c2-given-%d" % os.getpid()
    resp = admin(gw, "POST", KEYS, {"name": "c2-key", "key": given,
                                    "allowed_models": ["c2-model"]})
    k = item(resp, 201, "POST an API key")
    check(given not in resp.body.decode(), "the given key is echoed: %r", resp.body)
    raw = env.etcd.get(kkey(k["id"]))
    check(raw is not None, "the API key %s is not in etcd", kkey(k["id"]))
    check(given.encode() not in raw, "etcd holds the plaintext key: %r", raw)
    stored, mod = etcd_value(env, kkey(k["id"]))
    check_eq(stored, {"name": "c2-key", "allowed_models": ["c2-model"],
                      "key_sha256": sha256(given)}, "the API key as etcd holds it")
    check_eq(k["revision"], mod, "revision of the POST vs. the etcd mod_revision")
    served(gw, "c2-model", "up-c2", key=given, what="the Admin API's model with its key")


@tap.case("3. two nodes: A's Admin write and an etcdctl put serve on both; B's DELETE: gone on A")
def _(env):
    a = env.gw
    b = etcd_gateway(env)
    tap.add_gateway_log(b, "aigw node B log")
    try:
        wait_synced(b, env.etcd)
        served(b, "base", "up-base", what="node B serves what etcd held before it started")
        obj = item(admin(a, "POST", MODELS, model_doc(env, "c3-via-a", "up-c3-a")), 201,
                   "POST on node A")
        t = served(b, "c3-via-a", "up-c3-a", what="node A's write on node B")
        served(a, "c3-via-a", "up-c3-a", what="node A's write on node A")
        _, mod = etcd_value(env, mkey(obj["id"]))
        for node, gw in (("A", a), ("B", b)):
            g = item(admin(gw, "GET", MODELS + "/" + obj["id"]), 200, "GET on node " + node)
            check_eq((g["value"].get("model"), g["revision"]), ("up-c3-a", mod),
                     "model and revision on node %s vs. etcd's mod_revision" % node)
        env.etcd.etcdctl("put", mkey("c3-ctl"),
                         json.dumps(model_doc(env, "c3-ctl", "up-c3-ctl")))
        served(a, "c3-ctl", "up-c3-ctl", what="the etcdctl put on node A")
        served(b, "c3-ctl", "up-c3-ctl", what="the etcdctl put on node B")
        resp = admin(b, "DELETE", MODELS + "/" + obj["id"])
        check(resp.status == 200, "DELETE on node B: %d %r", resp.status, resp.body[:300])
        check_eq(env.etcd.get(mkey(obj["id"])), None, "the etcd value after B's DELETE")
        t2 = not_served(a, "c3-via-a", "node B's DELETE on node A")
        not_served(b, "c3-via-a", "node B's DELETE on node B")
        tap.diag("A -> B after %.0f ms; B's DELETE on A after %.0f ms" % (t * 1000, t2 * 1000))
    finally:
        rc = b.stop()
        tap.log_sources.pop()
    check_eq(rc, 0, "node B's exit code")


@tap.case("4. invalid values in etcd: the last good value serves, the log names the key")
def _(env):
    gw = env.gw
    mk, kk = mkey("c4-model"), kkey("c4-key")
    key1, key2 = "sk-e2e-c4-one-%d" % os.getpid(), "sk-e2e-c4-two-%d" % os.getpid()
    good = model_doc(env, "c4-model", "up-c4-v1")
    env.etcd.put(mk, good)
    env.etcd.put(kk, {"name": "c4-key", "key": key1})
    served(gw, "c4-model", "up-c4-v1", key=key1, what="the first good values")
    bad_model = dict(good, provider="nope", model="up-c4-bad")
    for value, what, pattern in (
            ("not json {", "a model that is not JSON", r"%s: not JSON" % re.escape(mk)),
            (json.dumps(bad_model), "a model whose provider is \"nope\"",
             r"%s: invalid: .*provider" % re.escape(mk)),
            (json.dumps({"name": "c4-key", "key": "short"}), "an API key whose key is too short",
             r"%s: invalid: .*key" % re.escape(kk))):
        offset = gw.log_size()
        env.etcd.etcdctl("put", kk if "API key" in what else mk, value)
        wait_log(gw, offset, pattern, what="a log line naming the key of %s" % what)
        served(gw, "c4-model", "up-c4-v1", key=key1, what="the last good values after " + what,
               timeout=1.0 * SLOW)
    resp = admin(gw, "GET", MODELS + "/c4-model")
    check(resp.status == 200, "GET c4-model: %d %r", resp.status, resp.body[:300])
    check_eq(resp.json()["value"].get("model"), "up-c4-v1", "the Admin API's view of c4-model")
    env.etcd.etcdctl("put", mk, json.dumps(model_doc(env, "c4-model", "up-c4-v2")))
    env.etcd.etcdctl("put", kk, json.dumps({"name": "c4-key", "key": key2}))
    served(gw, "c4-model", "up-c4-v2", key=key2, what="the later valid values")
    key_refused(gw, key1, "the replaced key")


@tap.case("4b. a name claimed twice: the first written wins on every node; freed, the second serves")
def _(env):
    a = env.gw
    env.etcd.put(mkey("c4b-x1"), model_doc(env, "c4b-dup", "up-c4b-x1"))
    served(a, "c4b-dup", "up-c4b-x1", what="the first holder of the name")
    offset = a.log_size()
    env.etcd.put(mkey("c4b-x2"), model_doc(env, "c4b-dup", "up-c4b-x2"))
    wait_log(a, offset, r"c4b-x2 not applied: its model name is held by c4b-x1",
             what="the refused second holder, logged with its reason")
    b = etcd_gateway(env)
    tap.add_gateway_log(b, "aigw node B log")
    try:
        wait_synced(b, env.etcd)
        served(b, "c4b-dup", "up-c4b-x1", what="a node started later agrees: the first holder")
        served(a, "c4b-dup", "up-c4b-x1", what="the running node still serves the first holder")
        env.etcd.delete(mkey("c4b-x1"))
        served(a, "c4b-dup", "up-c4b-x2", what="the name freed: the second holder on node A")
        served(b, "c4b-dup", "up-c4b-x2", what="the name freed: the second holder on node B")
    finally:
        rc = b.stop()
        tap.log_sources.pop()
        env.etcd.delete(mkey("c4b-x2"))
    check_eq(rc, 0, "node B's exit code")


@tap.case("5. etcd restarted under load: no request fails, the watch resumes, a new put serves")
def _(env):
    gw = env.gw
    # a key whose etcd value turns invalid: its last good value must survive the resync
    env.etcd.put(mkey("c5-keep"), model_doc(env, "c5-keep", "up-c5-keep"))
    served(gw, "c5-keep", "up-c5-keep", what="c5-keep before")
    offset = gw.log_size()
    env.etcd.put(mkey("c5-keep"), "{\"name\": \"c5-keep\"")
    wait_log(gw, offset, re.escape(mkey("c5-keep")) + r": not JSON")

    def one(i):
        time.sleep(0.02)
        return chat(gw, "base", unique_id("load"))
    offset = gw.log_size()
    load = Load(one, threads=4, duration=5.0, max_count=400).start()
    try:
        time.sleep(1.0)
        t_down = time.monotonic()
        stop_etcd(env)
        down = wait_for(lambda: (status(gw).get("etcd") or {}).get("connected") is False,
                        3.0 * SLOW, what="status to show etcd not connected while it is down")
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t_down)))
        t_start, wall_start = time.monotonic(), time.time()
        env.etcd.start()
        t_up = time.monotonic()
    finally:
        load.join()
    fails = load.failures()
    tap.diag("load: %s; etcd down for %.1f s (then %.1f s starting)" % (
        load.summary(), t_start - t_down, t_up - t_start))
    check(down, "status did not show etcd down")
    check(load.count() >= 40, "only %d requests under load", load.count())
    check(not fails, "%d failed client requests while etcd restarted, first: %r", len(fails),
          fails[:3])
    broke = wait_log(gw, offset, r"etcd: the watch broke",
                     what="the log line of the broken watch")
    e = wait_synced(gw, env.etcd)
    check_eq(e.get("connected"), True, "etcd.connected after the restart")
    m = wait_log(gw, offset, r"etcd: full sync at revision [^\n]*",
                 what="a full sync after the restart")
    tap.diag("watch broke -> full sync: %.2f s; the full sync %.2f s after etcd was started "
             "again (%s)" % (log_time(m) - log_time(broke), log_time(m) - wall_start,
                             m.group(0)))
    t0 = time.monotonic()
    env.etcd.put(mkey("c5-new"), model_doc(env, "c5-new", "up-c5-new"))
    served(gw, "c5-new", "up-c5-new", what="a put after etcd's restart", timeout=CATCH_UP)
    tap.diag("after the restart: put -> served on every worker in %.0f ms" % (
        (time.monotonic() - t0) * 1000))
    served(gw, "c5-keep", "up-c5-keep",
           what="the last good value of a key whose etcd value is invalid, after a full sync")


SLOW_WATCHERS = "etcd_debugging_mvcc_slow_watcher_total"


def fall_behind(env, gw, tag):
    """SIGSTOP gw's master; fill etcd's buffers for its watch until etcd counts
    it as a slow watcher (about 8 MB of big values, then 128 small responses:
    a stopped master reads nothing); change the c6- models, delete one, and
    compact etcd to the latest revision; SIGCONT. Returns what the c6- models
    must be and facts for the diagnostics."""
    big = "x" * 1000000
    slow0 = env.etcd.metric(SLOW_WATCHERS)
    n = rounds = 0
    os.kill(gw.pid, signal.SIGSTOP)
    try:
        while env.etcd.metric(SLOW_WATCHERS) <= slow0:
            check(rounds < 10, "etcd does not count the stopped master's watch as slow after "
                  "%d puts", n)
            rounds += 1
            for _ in range(4):
                env.etcd.put("%s/junk/big-%d" % (PREFIX, n), big)
                n += 1
            for _ in range(140):
                env.etcd.put("%s/junk/small-%d" % (PREFIX, n), "y")
                n += 1
            time.sleep(0.05)
        env.etcd.delete(PREFIX + "/junk/", prefix=True)
        for i in range(4):
            env.etcd.put(mkey("c6-%d" % i),
                         model_doc(env, "c6-%d" % i, "up-c6-%d-%s2" % (i, tag)))
        env.etcd.put(mkey("c6-4"), model_doc(env, "c6-4", "up-c6-4-%s1" % tag))
        env.etcd.put(mkey("c6-0"), model_doc(env, "c6-0", "up-c6-0-%s3" % tag))
        env.etcd.delete(mkey("c6-2"))
        rev = env.etcd.revision()
        env.etcd.compact(rev)
        still_slow = env.etcd.metric(SLOW_WATCHERS) > slow0
    finally:
        os.kill(gw.pid, signal.SIGCONT)
    want = {"c6-0": "up-c6-0-%s3" % tag, "c6-1": "up-c6-1-%s2" % tag,
            "c6-3": "up-c6-3-%s2" % tag, "c6-4": "up-c6-4-%s1" % tag}
    return want, rev, "%d junk puts in %d round(s), compacted at revision %d, watch still " \
        "slow then: %s" % (n, rounds, rev, still_slow)


@tap.case("6. the master's watch falls behind a compaction: full resync, the final state exactly")
def _(env):
    gw = env.gw
    resync = (r"etcd: revision \d+ was compacted \(compact revision (\d+)\): full resync"
              r"|etcd: the watch broke[^\n]*")
    attempts, deadline = 6, time.monotonic() + 25.0 * SLOW
    for attempt in range(1, attempts + 1):
        tag = "a%d-v" % attempt
        for i in range(4):
            env.etcd.put(mkey("c6-%d" % i),
                         model_doc(env, "c6-%d" % i, "up-c6-%d-%s1" % (i, tag)))
        env.etcd.delete(mkey("c6-4"))
        for i in range(4):
            served(gw, "c6-%d" % i, "up-c6-%d-%s1" % (i, tag), what="c6-%d before" % i)
        not_served(gw, "c6-4", "c6-4 before")
        offset = gw.log_size()
        want, rev, facts = fall_behind(env, gw, tag)
        t0 = time.monotonic()
        try:
            m = wait_log(gw, offset, resync, timeout=1.5 * SLOW,
                         what="the log line of a compacted or broken watch")
            break
        except TestFailure:
            # etcd 3.4 (before 3.4.31) may fail to send a slow watcher its
            # compaction notice and skip the compacted events instead
            # (etcd-io/etcd#17529); or the watch caught up before the compaction.
            got = (status(gw).get("etcd") or {}).get("revision")
            tap.diag("attempt %d: %s; no resync 1.5 s after SIGCONT; node A's watch is at "
                     "revision %r: %s" % (attempt, facts, got,
                                          "it skipped the compacted events (an etcd bug)"
                                          if isinstance(got, int) and got < rev else
                                          "it caught up without a compaction notice"))
            if attempt == attempts or time.monotonic() > deadline:
                raise
    tap.diag("attempt %d: master stopped, %s" % (attempt, facts))
    full = wait_log(gw, offset, r"etcd: full sync at revision (\d+)", timeout=CATCH_UP,
                    what="a full sync after the compaction")
    check(int(full.group(1)) >= rev, "the full sync was at revision %s, before the compaction "
          "at %d", full.group(1), rev)
    wait_synced(gw, env.etcd)
    tap.diag("resync seen %.0f ms after SIGCONT: %s" % ((time.monotonic() - t0) * 1000,
                                                       m.group(0)))
    for name, up in sorted(want.items()):
        served(gw, name, up, what="%s after the resync" % name)
    not_served(gw, "c6-2", "the model deleted while the watch was behind")
    resp = admin(gw, "GET", MODELS)
    check(resp.status == 200, "GET models: %d", resp.status)
    got = {it["id"]: it["value"].get("model") for it in resp.json()["items"]
           if it["id"].startswith("c6-")}
    check_eq(got, want, "the c6- models in node A's table")
    for it in resp.json()["items"]:
        if it["id"].startswith("c6-"):
            check_eq(it["revision"], env.etcd.get_kv(mkey(it["id"]))["mod_revision"],
                     "revision of %s vs. its etcd mod_revision" % it["id"])


@tap.case("7. etcd down when aigw starts: the stored configuration serves; it catches up")
def _(env):
    c = etcd_gateway(env)
    tap.add_gateway_log(c, "aigw node C log")
    try:
        env.etcd.put(mkey("c7-old"), model_doc(env, "c7-old", "up-c7-v1"))
        env.etcd.put(mkey("c7-gone"), model_doc(env, "c7-gone", "up-c7-gone"))
        wait_synced(c, env.etcd)
        served(c, "c7-old", "up-c7-v1", what="node C's first run")
        served(c, "c7-gone", "up-c7-gone", what="node C's first run")
        check_eq(c.stop(), 0, "node C's exit code")
        # changes node C has not seen, then etcd goes down
        env.etcd.put(mkey("c7-old"), model_doc(env, "c7-old", "up-c7-v2"))
        env.etcd.put(mkey("c7-new"), model_doc(env, "c7-new", "up-c7-new"))
        env.etcd.delete(mkey("c7-gone"))
        stop_etcd(env)
        offset = c.log_size()
        c.start()
        served(c, "c7-old", "up-c7-v1", what="the stored configuration with etcd down")
        served(c, "c7-gone", "up-c7-gone", what="the stored configuration with etcd down")
        served(c, "base", "up-base", what="the base model with etcd down")
        not_served(c, "c7-new", "a model node C never saw")

        def unreachable():
            e = status(c).get("etcd") or {}
            return e if (e.get("connected") is False and e.get("state") == "unreachable"
                         and e.get("synced") is False and e.get("last_error")) else None
        e = wait_for(unreachable, VISIBLE, what="status to show etcd unreachable")
        check_eq(status(c).get("mode"), "etcd", "mode")
        tap.diag("status with etcd down: %s" % json.dumps(e, sort_keys=True))
        wait_log(c, offset, r"etcd unreachable", what="the log line saying etcd is unreachable")
        before = admin(c, "GET", MODELS).json()
        admin_error(admin(c, "POST", MODELS, model_doc(env, "c7-refused", "up-c7-refused")),
                    503, "store_unavailable", "an Admin API write with etcd down")
        check_eq(admin(c, "GET", MODELS).json(), before, "node C's models after the refused write")
        offset = c.log_size()
        t_start, wall_start = time.monotonic(), time.time()
        env.etcd.start()
        served(c, "c7-new", "up-c7-new", what="the catch-up after etcd came back",
               timeout=CATCH_UP)
        t1 = time.monotonic()
        wait_synced(c, env.etcd)
        m = wait_log(c, offset, r"etcd: full sync at revision [^\n]*",
                     what="node C's full sync after etcd came back")
        tap.diag("etcd started -> node C's full sync %.2f s, the new model served on every "
                 "worker %.2f s (%s)" % (log_time(m) - wall_start, t1 - t_start, m.group(0)))
        served(c, "c7-old", "up-c7-v2", what="the change made while node C was down")
        not_served(c, "c7-gone", "the model deleted while node C was down")
        not_served(c, "c7-refused", "the model whose write was refused")
        check(not any(k.startswith(mkey("")) and b"c7-refused" in kv["value"]
                      for k, kv in env.etcd.get_prefix(PREFIX + "/").items()),
              "the refused write reached etcd")
    finally:
        rc = c.stop()
        tap.log_sources.pop()
    check_eq(rc, 0, "node C's exit code")
    wait_synced(env.gw, env.etcd, what="node A to be back on etcd")


@tap.case("8. Admin API: If-Match = etcd mod_revision 200, stale 412; POST revision; DELETE")
def _(env):
    gw = env.gw
    resp = admin(gw, "POST", MODELS, model_doc(env, "c8-model", "up-c8-v1"))
    a = item(resp, 201, "POST a model")
    key = mkey(a["id"])
    stored, mod = etcd_value(env, key)
    check_eq(stored, model_doc(env, "c8-model", "up-c8-v1"), "the etcd value after POST")
    check_eq(a["revision"], mod, "revision of the POST vs. the etcd mod_revision")
    served(gw, "c8-model", "up-c8-v1")
    path = MODELS + "/" + a["id"]

    doc2 = model_doc(env, "c8-model", "up-c8-v2")
    b = item(admin(gw, "PUT", path, doc2, headers={"If-Match": str(mod)}), 200,
             "PUT with If-Match: the etcd mod_revision %d" % mod)
    stored, mod2 = etcd_value(env, key)
    check_eq(stored, doc2, "the etcd value after the PUT")
    check(mod2 > mod, "mod_revision did not grow: %d then %d", mod, mod2)
    check_eq(b["revision"], mod2, "revision of the PUT vs. the etcd mod_revision")
    served(gw, "c8-model", "up-c8-v2")

    doc3 = model_doc(env, "c8-model", "up-c8-stale")
    for h in (str(mod), '"%d"' % mod, str(mod2 + 1000)):
        admin_error(admin(gw, "PUT", path, doc3, headers={"If-Match": h}), 412,
                    "revision_mismatch", "PUT with a stale If-Match %s" % h)
    admin_error(admin(gw, "DELETE", path, headers={"If-Match": str(mod)}), 412,
                "revision_mismatch", "DELETE with a stale If-Match")
    stored, mod3 = etcd_value(env, key)
    check_eq((stored, mod3), (doc2, mod2), "the etcd value after refused writes")
    served(gw, "c8-model", "up-c8-v2", what="the model after refused writes", timeout=1.0 * SLOW)

    resp = admin(gw, "DELETE", path, headers={"If-Match": str(mod2)})
    check(resp.status == 200, "DELETE with If-Match %d: %d %r", mod2, resp.status,
          resp.body[:300])
    check_eq(env.etcd.get_kv(key), None, "the etcd key after DELETE")
    check(resp.json().get("revision", 0) > mod2, "revision of the DELETE answer %r",
          resp.json().get("revision"))
    not_served(gw, "c8-model", "the deleted model")
    admin_error(admin(gw, "DELETE", path), 404, "not_found", "DELETE again")

    resp = admin(gw, "POST", KEYS, {"name": "c8-key", "allowed_models": ["base"]})
    k = item(resp, 201, "POST an API key (generated)")
    plain = k["value"].get("key")
    check(isinstance(plain, str) and len(plain) >= 20, "no generated key in %r", k["value"])
    stored, kmod = etcd_value(env, kkey(k["id"]))
    check_eq(stored, {"name": "c8-key", "allowed_models": ["base"], "key_sha256": sha256(plain)},
             "the generated API key as etcd holds it")
    check_eq(k["revision"], kmod, "revision of the POST vs. the etcd mod_revision")
    served(gw, "base", "up-base", key=plain, what="the generated key")


if __name__ == "__main__":
    main(tap, fixture)
