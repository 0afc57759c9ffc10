# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the history of configuration versions, diff and rollback.

Standalone: one mock and one aigw (2 workers, an admin key "ops" and a
viewer key "watch"). Every change is made as an operator would: the Admin
API, `aigwctl`, or an edited resources file and `aigwctl reload`. A rollback
is one LMDB write transaction committed before its answer, so the requests
sent after the answer (fresh connections, whichever worker takes them) must
all see it: no polling. A rollback that would change what the resources
file defines is refused (409 file_owned), as an Admin API write is; a
credential's rotation is diffed with its api_key masked and rolled back.

etcd (the last cases): one etcd, two nodes A and B. A rollback asked of A is
written to etcd as one transaction and served by B; one that would take a
name etcd gives to another resource is refused with a message naming it;
a credential rotated and rolled back on A: B sends the old key again.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Env, Etcd, Gateway, Load, Mock, TestFailure,
        chat_body, check, check_eq, free_port, last_header, main, make_tmpdir, request, unique_id,
        wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")
ADMIN_KEY = "adm-hist-key-0123456789abcdef"
VIEWER_KEY = "view-hist-key-0123456789abcdef"
SECRET_1 = "sk-provider-hist-0001-AAAA"
SECRET_2 = "sk-provider-hist-0002-BBBB"
SECRETS = [ADMIN_KEY, VIEWER_KEY, MOCK_KEY, SECRET_1, SECRET_2]
CLIENT_KEY = "sk-hist-client-0123456789"
TMP = make_tmpdir("aigw-hist-")
PREFIX = "/e2e/hist"
VISIBLE = 5.0 * SLOW


def resources(mock_port):
    base = "http://%s:%d/v1" % (HOST, mock_port)
    return {"models": [{"id": "filem", "name": "from-file", "provider": "openai-compatible",
                        "model": "file-1", "api_base": base, "api_key": "${MOCK_KEY}"}],
            "api_keys": [{"id": "client", "name": "client", "key": CLIENT_KEY}]}


def admin_conf():
    return {"admin": {"listen": ["%s:%d" % (HOST, free_port())],
                      "keys": [{"name": "ops", "key": ADMIN_KEY, "role": "admin"},
                               {"name": "watch", "key": VIEWER_KEY, "role": "viewer"}]}}


def fixture():
    class _Fix:
        def __enter__(self):
            self.mock = Mock()  # any provider key: the cases rotate theirs
            self.gw = Gateway(resources(self.mock.port), config=admin_conf(),
                              env={"MOCK_KEY": MOCK_KEY})
            return Env(self.mock, self.gw)

        def __exit__(self, *exc):
            for p in (getattr(self, "gw", None), getattr(self, "mock", None)):
                if p is not None:
                    p.stop()
    return _Fix()


def reload(gw):
    """aigwctl reload's request: it answers once the reload is done."""
    r = gw.control("reload", timeout=40 * SLOW)
    check(r.get("ok") is True, "reload: %r", r)


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(gw, method, path, body=None, key=ADMIN_KEY):
    resp = request(admin_port(gw), method, "/admin/v1/" + path, body=body, key=key)
    for s in SECRETS:
        check(s.encode() not in resp.body, "a secret (%s...) in an Admin API answer: %r",
              s[:8], resp.body[:400])
    return resp


def ok_json(resp, what, code=200):
    check(resp.status == code, "%s: expected %d, got %d: %r", what, code, resp.status,
          resp.body[:600])
    return resp.json()


def model_doc(env, name, upstream, secret=SECRET_1):
    return {"name": name, "provider": "openai-compatible", "model": upstream,
            "api_base": env.mock.url(), "api_key": secret}


def put_model(env, rid, name, upstream, secret=SECRET_1):
    resp = admin(env.gw, "PUT", "models/" + rid, model_doc(env, name, upstream, secret))
    check(resp.status in (200, 201), "PUT model %s: %d %r", rid, resp.status, resp.body[:400])
    return current(env)


def current(env):
    return ok_json(admin(env.gw, "GET", "history?limit=1"), "GET history")["current_version"]


def upstream_of(port, model):
    """The upstream model that answered a chat on a fresh connection; the status otherwise."""
    resp = request(port, "POST", "/v1/chat/completions", chat_body(model=model), key=CLIENT_KEY,
                   headers={"x-request-id": unique_id("hist")})
    return resp.json().get("model") if resp.status == 200 else resp.status


def all_serve(port, model, upstream, n=12):
    """n requests on fresh connections: every one served by upstream (or the status)."""
    got = [upstream_of(port, model) for _ in range(n)]
    check(all(g == upstream for g in got), "model %s: expected %r from every request, got %r",
          model, upstream, got)


def ctl(env, *args, key=ADMIN_KEY):
    kf = write_file(os.path.join(TMP, "k-%d" % len(args)), key + "\n")
    p = subprocess.run([AIGWCTL, "-c", env.gw.conf_path, "--admin-key-file", kf] + list(args),
                       capture_output=True, text=True, timeout=30 * SLOW)
    for s in SECRETS:
        check(s not in p.stdout and s not in p.stderr, "a secret (%s...) in aigwctl's output: "
              "%r %r", s[:8], p.stdout[:400], p.stderr[:400])
    check(not re.search(r"Sanitizer|runtime error:", p.stderr), "sanitizer: %s", p.stderr)
    return p


@tap.case("the resources file's load at start is version 1, source file, with what it created")
def _(env):
    h = ok_json(admin(env.gw, "GET", "history", key=VIEWER_KEY), "GET history (viewer)")
    check(h["items"], "no history: %r", h)
    first = h["items"][-1]
    check_eq(first["version"], 1, "first version")
    check_eq(first["source"], "file", "source of version 1")
    check_eq(first["file"], env.gw.res_path, "file of version 1")
    check_eq(sorted((c["kind"], c["id"], c["op"]) for c in first["changes"]),
             [("api_keys", "client", "create"), ("models", "filem", "create")], "its changes")
    check_eq(h["oldest_version"], 0, "oldest version (the empty table before 1)")


@tap.case("Admin API writes are versions with the admin key's name, never the key")
def _(env):
    v = put_model(env, "m1", "hist-m1", "up-1")
    h = ok_json(admin(env.gw, "GET", "history?limit=1"), "GET history")
    it = h["items"][0]
    check_eq((it["version"], it["source"], it.get("admin_key")), (v, "admin", "ops"),
             "version, source, admin key name")
    check_eq(it["changes"], [{"kind": "models", "id": "m1", "op": "create"}], "changes")
    check_eq(h["has_more"], True, "has_more with limit=1")
    # the next page: after=last_version
    p2 = ok_json(admin(env.gw, "GET", "history?limit=1&after=%d" % h["last_version"]), "page 2")
    check_eq(p2["items"][0]["version"], v - 1, "page 2 starts below the last version")
    r = admin(env.gw, "GET", "history?limit=0")
    check_eq(r.status, 400, "limit=0")
    r = admin(env.gw, "GET", "history?after=x")
    check_eq(r.status, 400, "after=x")


@tap.case("diff V1 V2: the resources and fields that differ, secrets masked (a rotated one too)")
def _(env):
    v1 = put_model(env, "m2", "hist-m2", "up-a", SECRET_1)
    v2 = put_model(env, "m2", "hist-m2", "up-b", SECRET_2)
    d = ok_json(admin(env.gw, "GET", "history/%d/diff?to=%d" % (v1, v2), key=VIEWER_KEY),
                "diff (viewer)")
    check_eq((d["from"], d["to"]), (v1, v2), "from, to")
    check_eq(len(d["changes"]), 1, "one resource changed")
    c = d["changes"][0]
    check_eq((c["kind"], c["id"], c["op"]), ("models", "m2", "changed"), "the change")
    check_eq(sorted(c["fields"]), ["api_key", "model"], "changed fields")
    check_eq((c["before"]["model"], c["after"]["model"]), ("up-a", "up-b"), "model before/after")
    check_eq((c["before"]["api_key"], c["after"]["api_key"]),
             ("****" + SECRET_1[-4:], "****" + SECRET_2[-4:]), "masked secrets")
    # default: to the current version; an unknown version is 404 with the reason
    d = ok_json(admin(env.gw, "GET", "history/%d/diff" % (v1 - 1)), "diff to current")
    check_eq(d["to"], current(env), "to defaults to current")
    check(any(c["id"] == "m2" and c["op"] == "added" for c in d["changes"]), "m2 added: %r", d)
    r = admin(env.gw, "GET", "history/%d/diff" % (v2 + 100))
    check_eq((r.status, r.json()["error"]["code"]), (404, "version_not_in_history"), "future")
    check(re.search(r"does not exist: the current version is", r.json()["error"]["message"]),
          "message: %r", r.json())


@tap.case("rollback V: the table as it was, as a new version, served at once by every worker")
def _(env):
    va = put_model(env, "m3", "hist-m3", "up-old")
    put_model(env, "m3", "hist-m3", "up-new")
    put_model(env, "m4", "hist-m4", "up-4")
    all_serve(env.gw.port, "hist-m3", "up-new")
    # a viewer may read, not roll back
    r = admin(env.gw, "POST", "rollback", {"version": va}, key=VIEWER_KEY)
    check_eq(r.status, 403, "rollback with the viewer key")
    rb = ok_json(admin(env.gw, "POST", "rollback", {"version": va}), "rollback")
    check_eq((rb["rollback_of"], rb["changes"]), (va, 2), "rollback_of, changes")
    check_eq(rb["version"], current(env), "the version it made is the current one")
    all_serve(env.gw.port, "hist-m3", "up-old")
    all_serve(env.gw.port, "hist-m4", 404)
    it = ok_json(admin(env.gw, "GET", "history?limit=1"), "history")["items"][0]
    check_eq((it["rollback_of"], it["admin_key"]), (va, "ops"), "its record")
    check_eq(sorted((c["id"], c["op"]) for c in it["changes"]),
             [("m3", "update"), ("m4", "delete")], "its changes")
    r = admin(env.gw, "POST", "rollback", {"version": "x"})
    check_eq(r.status, 400, "version not an integer")


@tap.case("a resources file reload is a version with source file; a rollback that would change "
          "what the file defines is refused (409 file_owned), one that leaves it goes through")
def _(env):
    res = resources(env.mock.port)
    res["models"].append({"id": "filem2", "name": "from-file-2", "provider": "openai-compatible",
                          "model": "file-2", "api_base": env.mock.url(),
                          "api_key": "${MOCK_KEY}"})
    before = current(env)
    env.gw.write_resources(res)
    reload(env.gw)
    h = ok_json(admin(env.gw, "GET", "history?limit=1"), "history")
    it = h["items"][0]
    check_eq((it["version"], it["source"], it["file"]), (before + 1, "file", env.gw.res_path),
             "the reload's version")
    check_eq(it["changes"], [{"kind": "models", "id": "filem2", "op": "create"}], "changes")
    all_serve(env.gw.port, "from-file-2", "file-2")
    # the next reload would put filem2 back: refused whole, naming the file and the resource
    r = admin(env.gw, "POST", "rollback", {"version": before})
    check_eq((r.status, r.json()["error"]["code"]), (409, "file_owned"), "rollback of the reload")
    msg = r.json()["error"]["message"]
    check("models/filem2" in msg and env.gw.res_path in msg and "nothing was changed" in msg,
          "message: %r", msg)
    check_eq(current(env), before + 1, "no new version")
    all_serve(env.gw.port, "from-file-2", "file-2")
    p = ctl(env, "rollback", str(before))
    check_eq(p.returncode, 1, "aigwctl rollback exit status (%r)" % p.stdout)
    check("models/filem2" in p.stderr, "aigwctl rollback message: %r", p.stderr)
    # an Admin API change after the reload is rolled back; the file's resources stay
    put_model(env, "m5", "hist-m5", "up-5")
    rb = ok_json(admin(env.gw, "POST", "rollback", {"version": before + 1}), "rollback of m5")
    check_eq(rb["changes"], 1, "changes")
    all_serve(env.gw.port, "hist-m5", 404)
    all_serve(env.gw.port, "from-file-2", "file-2")
    # the file's own way back: edit it and reload; then a rollback across both reloads
    # leaves filem2 as it is (absent at both ends) and goes through
    env.gw.write_resources(resources(env.mock.port))
    reload(env.gw)
    all_serve(env.gw.port, "from-file-2", 404)
    ok_json(admin(env.gw, "POST", "rollback", {"version": before}), "rollback across reloads")


@tap.case("a credential rotation rolled back: the old key goes upstream again; diff and history "
          "show the credential with its api_key masked")
def _(env):
    def cred(secret):
        return {"name": "hist-cred", "provider": "openai-compatible",
                "api_base": env.mock.url(), "api_key": secret}

    def key_sent():
        check_eq(upstream_of(env.gw.port, "hist-c"), "up-c", "chat through the credential")
        return last_header(env.mock.last(), "authorization")

    r = admin(env.gw, "PUT", "credentials/hc", cred(SECRET_1))
    check(r.status in (200, 201), "PUT credential: %d %r", r.status, r.body[:300])
    r = admin(env.gw, "PUT", "models/mc", {"name": "hist-c", "model": "up-c",
                                           "credential": "hist-cred"})
    check(r.status in (200, 201), "PUT model: %d %r", r.status, r.body[:300])
    v1 = current(env)
    check_eq(key_sent(), "Bearer " + SECRET_1, "the key sent before the rotation")
    r = admin(env.gw, "PUT", "credentials/hc", cred(SECRET_2))
    check_eq(r.status, 200, "rotate")
    v2 = current(env)
    check_eq(key_sent(), "Bearer " + SECRET_2, "the key sent after the rotation")
    d = ok_json(admin(env.gw, "GET", "history/%d/diff?to=%d" % (v1, v2)), "diff")
    check_eq([(c["kind"], c["id"], c["op"], c["fields"]) for c in d["changes"]],
             [("credentials", "hc", "changed", ["api_key"])], "the diff")
    check_eq((d["changes"][0]["before"]["api_key"], d["changes"][0]["after"]["api_key"]),
             ("****" + SECRET_1[-4:], "****" + SECRET_2[-4:]), "masked api_key")
    it = ok_json(admin(env.gw, "GET", "history?limit=1"), "history")["items"][0]
    check_eq(it["changes"], [{"kind": "credentials", "id": "hc", "op": "update"}], "history")
    p = ctl(env, "diff", str(v1), str(v2))  # ctl checks no secret is printed
    check_eq(p.returncode, 0, "aigwctl diff (%r)" % p.stderr)
    check("credentials/hc" in p.stdout and "****" + SECRET_2[-4:] in p.stdout,
          "aigwctl diff: %r", p.stdout)
    rb = ok_json(admin(env.gw, "POST", "rollback", {"version": v1}), "rollback")
    check_eq(rb["changes"], 1, "changes")
    check_eq(key_sent(), "Bearer " + SECRET_1, "the key sent after the rollback")
    r = ok_json(admin(env.gw, "GET", "credentials/hc"), "GET credential")
    check_eq(r["value"]["api_key"], "****" + SECRET_1[-4:], "the credential's masked key")
    check_eq(admin(env.gw, "GET", "api_keys/hc").status, 404, "no API key hc")
    admin(env.gw, "DELETE", "models/mc")
    admin(env.gw, "DELETE", "credentials/hc")


@tap.case("aigwctl history, diff, rollback: text for people, --json for scripts, no secret")
def _(env):
    va = put_model(env, "m5", "hist-m5", "up-5a", SECRET_1)
    put_model(env, "m5", "hist-m5", "up-5b", SECRET_2)
    p = ctl(env, "history", "--limit", "2", key=VIEWER_KEY)
    check_eq(p.returncode, 0, "history exit status: %s" % p.stderr)
    check(re.search(r"^VERSION +TIME +SOURCE +CHANGES", p.stdout, re.M), "header: %r", p.stdout)
    check(re.search(r"^%d +\S+ \S+ +admin:ops +update models/m5$" % (va + 1), p.stdout, re.M),
          "row of the update: %r", p.stdout)
    check_eq(len([ln for ln in p.stdout.splitlines() if re.match(r"^\d", ln)]), 2, "--limit 2")
    p = ctl(env, "--json", "history", "--limit", "3")
    js = json.loads(p.stdout)
    check_eq(len(js["items"]), 3, "--json items")
    p = ctl(env, "diff", str(va))
    check_eq(p.returncode, 0, "diff: %s" % p.stderr)
    check(re.search(r"^~ models/m5 \(changed\)$", p.stdout, re.M), "diff text: %r", p.stdout)
    check('- model: "up-5a"' in p.stdout and '+ model: "up-5b"' in p.stdout, "fields: %r",
          p.stdout)
    check('+ api_key: "****%s"' % SECRET_2[-4:] in p.stdout, "masked secret: %r", p.stdout)
    p = ctl(env, "--json", "diff", str(va), str(va + 1))
    check_eq(json.loads(p.stdout)["changes"][0]["fields"], ["model", "api_key"], "--json diff")
    p = ctl(env, "rollback", str(va), key=VIEWER_KEY)
    check_eq(p.returncode, 1, "rollback with a viewer key")
    check("viewer role" in p.stderr, "message: %r", p.stderr)
    p = ctl(env, "rollback", str(va))
    check_eq(p.returncode, 0, "rollback: %s" % p.stderr)
    check(re.search(r"^rolled back to version %d: 1 resources changed, now version \d+$" % va,
                    p.stdout, re.M), "rollback text: %r", p.stdout)
    all_serve(env.gw.port, "hist-m5", "up-5a")
    p = ctl(env, "--json", "rollback", str(va))
    check_eq(json.loads(p.stdout)["changes"], 0, "a second rollback changes nothing")
    p = ctl(env, "rollback", "abc")
    check_eq(p.returncode, 2, "rollback abc: usage error")
    p = ctl(env, "diff")
    check_eq(p.returncode, 2, "diff without a version")


@tap.case("a rollback under load: 2 s of requests, none failed, the old model served after")
def _(env):
    va = put_model(env, "m6", "hist-m6", "up-6a")
    put_model(env, "m6", "hist-m6", "up-6b")

    def one(i):
        return request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model="hist-m6"),
                       key=CLIENT_KEY)
    load = Load(one, threads=4, duration=2.0, max_count=100000).start()
    time.sleep(0.5)
    rb = ok_json(admin(env.gw, "POST", "rollback", {"version": va}), "rollback under load")
    t_rb = time.monotonic()
    load.join()
    check(load.count() > 20, "too few requests: %s", load.summary())
    check_eq(load.failures(), [], "failed requests (%s)" % load.summary())
    check(rb["changes"] == 1, "rollback: %r", rb)
    after = [r for r in load.results if r[0] >= t_rb]
    check(after, "no request started after the rollback: %s", load.summary())
    all_serve(env.gw.port, "hist-m6", "up-6a")


@tap.case("history.max_versions (reload): the oldest dropped; a rollback past it is refused")
def _(env):
    conf = dict(env.gw.config)
    conf["history"] = {"max_versions": 3}
    env.gw.write_config(conf)
    reload(env.gw)
    for i in range(4):
        put_model(env, "m7", "hist-m7", "up-7-%d" % i)
    h = ok_json(admin(env.gw, "GET", "history?limit=100"), "history")
    check_eq(len(h["items"]), 3, "versions kept")
    cur = h["current_version"]
    check_eq(h["oldest_version"], cur - 3, "oldest version")
    r = admin(env.gw, "POST", "rollback", {"version": cur - 4})
    check_eq((r.status, r.json()["error"]["code"]), (404, "version_not_in_history"), "refused")
    check(re.search(r"no longer holds version %d: it reaches back to version %d"
                    % (cur - 4, cur - 3), r.json()["error"]["message"]), "message: %r", r.json())
    p = ctl(env, "rollback", str(cur - 4))
    check_eq(p.returncode, 1, "aigwctl rollback past the history")
    check("aigwctl history shows the versions" in p.stderr, "hint: %r", p.stderr)


# ---- etcd mode: two nodes ------------------------------------------------------

_etcd = {}


def etcd_nodes(env):
    """One etcd and two gateways A and B on it (started by the first etcd case)."""
    if not _etcd:
        _etcd["etcd"] = Etcd()
        for node in ("a", "b"):
            conf = admin_conf()
            conf.update({"workers": 2, "etcd": {"endpoints": [_etcd["etcd"].url()],
                                                "prefix": PREFIX}})
            _etcd[node] = Gateway({"models": [], "api_keys": []}, config=conf)
        a = _etcd["a"]
        resp = admin(a, "PUT", "api_keys/client", {"name": "client", "key": CLIENT_KEY})
        check(resp.status in (200, 201), "PUT client key: %d %r", resp.status, resp.body[:300])
    return _etcd["etcd"], _etcd["a"], _etcd["b"]


def etcd_put_model(env, gw, rid, name, upstream):
    """PUT through gw's Admin API; wait until gw's table holds that revision; its version."""
    resp = admin(gw, "PUT", "models/" + rid, model_doc(env, name, upstream))
    check(resp.status in (200, 201), "PUT model %s: %d %r", rid, resp.status, resp.body[:300])
    rev = resp.json()["revision"]

    def applied():
        r = admin(gw, "GET", "models/" + rid)
        return r.status == 200 and r.json()["revision"] == rev
    wait_for(applied, VISIBLE, what="node to apply %s at revision %d" % (rid, rev))
    return ok_json(admin(gw, "GET", "history?limit=1"), "history")["current_version"]


def wait_serves(gw, model, upstream):
    """Poll (fresh connections) until gw serves model by upstream, then ask every request."""
    wait_for(lambda: upstream_of(gw.port, model) == upstream, VISIBLE,
             what="model %s served by %r on port %d" % (model, upstream, gw.port))
    all_serve(gw.port, model, upstream)


@tap.case("etcd: a rollback asked of node A is one etcd transaction that node B serves, "
          "no request to B failing meanwhile")
def _(env):
    etcd, a, b = etcd_nodes(env)
    va = etcd_put_model(env, a, "e1", "hist-e1", "e-old")
    etcd_put_model(env, a, "e1", "hist-e1", "e-new")
    etcd_put_model(env, a, "e2", "hist-e2", "e-2")
    wait_serves(b, "hist-e1", "e-new")
    wait_serves(b, "hist-e2", "e-2")
    # an Admin API write on A is recorded on B too with the admin key's name
    it = ok_json(admin(b, "GET", "history?limit=1"), "history B")["items"][0]
    check_eq((it["source"], it.get("admin_key"), it["changes"]),
             ("admin", "ops", [{"kind": "models", "id": "e2", "op": "create"}]),
             "B's record of A's write")
    check(it.get("etcd_revision", 0) > 0, "its etcd revision: %r", it)
    # node B under a bounded client loop (2 s) while A's rollback reaches it
    load = Load(lambda i: request(b.port, "POST", "/v1/chat/completions",
                                  chat_body(model="hist-e1"), key=CLIENT_KEY),
                threads=2, duration=2.0, max_count=100000).start()
    time.sleep(0.3)
    rb = ok_json(admin(a, "POST", "rollback", {"version": va}), "rollback on A")
    check_eq((rb["rollback_of"], rb["changes"]), (va, 2), "rollback_of, changes")
    rev = rb["etcd_revision"]
    check(rev > 0, "etcd revision: %r", rb)
    wait_serves(b, "hist-e1", "e-old")
    load.join()
    check_eq(load.failures(), [], "failed requests on B (%s)" % load.summary())
    all_serve(b.port, "hist-e2", 404)
    all_serve(a.port, "hist-e1", "e-old")
    # one etcd revision, so one version on each node holding both changes
    for gw, node in ((a, "A"), (b, "B")):
        items = ok_json(admin(gw, "GET", "history?limit=5"), "history " + node)["items"]
        mine = [it for it in items if it.get("etcd_revision") == rev]
        check_eq(len(mine), 1, "node %s: versions at etcd revision %d" % (node, rev))
        check_eq(sorted((c["id"], c["op"]) for c in mine[0]["changes"]),
                 [("e1", "update"), ("e2", "delete")], "node %s: its changes" % node)
        # the note the rollback wrote in its transaction: who, and A's version
        check_eq((mine[0]["source"], mine[0].get("admin_key"), mine[0].get("rollback_of")),
                 ("admin", "ops", va), "node %s: source, admin key, rollback_of" % node)
    check(etcd.get("%s/models/e2" % PREFIX) is None, "e2 still in etcd")
    check(etcd.get("%s/index/models/hist-e2" % PREFIX) is None, "e2's name still in etcd")
    check_eq(etcd.get("%s/index/models/hist-e1" % PREFIX), b"e1", "hist-e1's index entry")


@tap.case("etcd: a credential rotated on A, then rolled back on A: node B sends the old key")
def _(env):
    etcd, a, b = etcd_nodes(env)

    def cred(secret):
        return {"name": "e-cred", "provider": "openai-compatible", "api_base": env.mock.url(),
                "api_key": secret}

    def put(path, doc):
        r = admin(a, "PUT", path, doc)
        check(r.status in (200, 201), "PUT %s: %d %r", path, r.status, r.body[:300])
        rev = r.json()["revision"]
        wait_for(lambda: ok_json(admin(a, "GET", "status"), "status")["etcd"]["revision"] >= rev,
                 VISIBLE, what="A to apply %s" % path)
        return ok_json(admin(a, "GET", "history?limit=1"), "history")["current_version"]

    def key_on_b():
        check_eq(upstream_of(b.port, "hist-ec"), "e-c", "chat on B through the credential")
        return last_header(env.mock.last(), "authorization")

    put("credentials/ec", cred(SECRET_1))
    va = put("models/emc", {"name": "hist-ec", "model": "e-c", "credential": "e-cred"})
    wait_serves(b, "hist-ec", "e-c")
    check_eq(key_on_b(), "Bearer " + SECRET_1, "B's key before the rotation")
    put("credentials/ec", cred(SECRET_2))
    wait_for(lambda: key_on_b() == "Bearer " + SECRET_2, VISIBLE, what="B to send the new key")
    d = ok_json(admin(b, "GET", "history/%d/diff" % (
        ok_json(admin(b, "GET", "history?limit=1"), "history B")["current_version"] - 1)),
        "diff on B")
    check_eq([(c["kind"], c["id"], c.get("fields")) for c in d["changes"]],
             [("credentials", "ec", ["api_key"])], "B's diff of the rotation")
    rb = ok_json(admin(a, "POST", "rollback", {"version": va}), "rollback on A")
    check_eq(rb["changes"], 1, "changes")
    wait_for(lambda: key_on_b() == "Bearer " + SECRET_1, VISIBLE,
             what="B to send the old key after the rollback")
    check_eq(key_on_b(), "Bearer " + SECRET_1, "B's key after the rollback")
    check(etcd.get("%s/api_keys/ec" % PREFIX) is None, "the credential written as an API key")


@tap.case("etcd: a rollback that would take a name etcd gives to another resource is refused")
def _(env):
    try:
        etcd, a, b = etcd_nodes(env)
        vb = etcd_put_model(env, a, "e3", "hist-e3", "e-3")
        etcd_put_model(env, a, "e3", "hist-e3b", "e-3b")
        # the name hist-e3, free now, taken in etcd by e99 (its index entry, as a node
        # writing e99 makes it): A's table does not hold e99, so the rollback leaves it
        before = etcd.revision()
        etcd.put("%s/index/models/hist-e3" % PREFIX, b"e99")
        wait_for(lambda: ok_json(admin(a, "GET", "status"), "status")["etcd"]["revision"]
                 > before, VISIBLE, what="A to see the index entry")
        r = admin(a, "POST", "rollback", {"version": vb})
        check_eq((r.status, r.json()["error"]["code"]), (409, "conflict"), "refused")
        msg = r.json()["error"]["message"]
        check(re.search(r'Rollback to version %d refused: the model name "hist-e3" of e3 is held '
                        r"in etcd by e99, which this rollback does not change" % vb, msg),
              "message: %r", msg)
        p = subprocess.run([AIGWCTL, "--admin-url", "http://" + a.config["admin"]["listen"][0],
                            "--admin-key-file", write_file(os.path.join(TMP, "ak"), ADMIN_KEY),
                            "rollback", str(vb)], capture_output=True, text=True,
                           timeout=30 * SLOW)
        check_eq(p.returncode, 1, "aigwctl rollback exit status")
        check("held in etcd by e99" in p.stderr, "aigwctl message: %r", p.stderr)
        # nothing changed: e3 keeps its new name on both nodes
        wait_serves(b, "hist-e3b", "e-3b")
        all_serve(a.port, "hist-e3b", "e-3b")
        # once the name is free again, the same rollback goes through
        etcd.delete("%s/index/models/hist-e3" % PREFIX)
        wait_for(lambda: admin(a, "POST", "rollback", {"version": vb}).status == 200, VISIBLE,
                 what="the rollback to be taken once the name is free")
        wait_serves(b, "hist-e3", "e-3")
    finally:
        for k in ("a", "b", "etcd"):
            if k in _etcd:
                _etcd[k].stop()
        _etcd.clear()


if __name__ == "__main__":
    main(tap, fixture)
