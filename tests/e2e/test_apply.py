# SPDX-License-Identifier: Apache-2.0
"""End-to-end: declarative apply and export (aigwctl apply, aigwctl export,
POST /admin/v1/apply, GET /admin/v1/export).

The fixture is a mock (checking the provider key) and one aigw in standalone
mode WITHOUT a resources file (resources: ""), so that the whole table is
the Admin API's: an admin and a viewer admin key. aigwctl is run as a
command, as an operator or a CI job would, and every run is checked for
provider secrets in full (except the one that asks for them).

The last cases start gateways of their own: one whose table comes from a
resources file (its resources are read-only through the Admin API: 409
naming the file), and two nodes on one etcd (an apply on node A is one etcd
transaction, served by node B).
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Env, Etcd, Gateway, Load, Mock, TestFailure, chat_body,
        check, check_eq, check_error_body, free_port, main, make_tmpdir, request,
        standard_resources, wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")
ADMIN_KEY = "adm-apply-key-0123456789abcdef"
VIEWER_KEY = "view-apply-key-0123456789abcdef"
CLIENT_KEY = "sk-apply-client-0123456789"
OTHER_SECRET = "sk-provider-apply-other-0123456789-WXYZ"
SECRETS = [ADMIN_KEY, VIEWER_KEY, MOCK_KEY, OTHER_SECRET, CLIENT_KEY]
MOCK_MASKED = "****" + MOCK_KEY[-4:]
VISIBLE = 5.0 * SLOW
RUN_TIMEOUT = 30.0 * SLOW
TMP = make_tmpdir("aigw-apply-e2e-")
PREFIX = "/e2e/apply"


def admin_conf(extra=None):
    conf = {"admin": {"listen": ["%s:%d" % (HOST, free_port())],
                      "keys": [{"name": "root", "key": ADMIN_KEY, "role": "admin"},
                               {"name": "auditor", "key": VIEWER_KEY, "role": "viewer"}]}}
    conf.update(extra or {})
    return conf


class Run:
    def __init__(self, args, p):
        self.args, self.rc, self.out, self.err = args, p.returncode, p.stdout, p.stderr

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as exc:
            raise TestFailure("aigwctl %s: --json output is not JSON (%s): %r"
                              % (" ".join(self.args), exc, self.out[:500]))

    def __repr__(self):
        return "<aigwctl %s: rc %r, out %r, err %r>" % (" ".join(self.args), self.rc,
                                                        self.out[:1500], self.err[:1500])


def ctl(gw, *args, key=ADMIN_KEY, secrets=None, rc=0, stdin=None):
    """aigwctl -c gw's aigw.yaml args, the admin key from AIGW_ADMIN_KEY; rc checked."""
    env = dict(os.environ)
    env["AIGW_ADMIN_KEY"] = key
    full = ["-c", gw.conf_path] + list(args)
    p = subprocess.run([AIGWCTL] + full, capture_output=True, text=True, env=env,
                       timeout=RUN_TIMEOUT, input=stdin)
    r = Run(full, p)
    check(not re.search(r"Sanitizer|runtime error:", r.err), "sanitizer report: %r", r)
    for s in (SECRETS if secrets is None else secrets):
        check(s not in r.out and s not in r.err, "a secret (%s...) shows in full: %r", s[:8], r)
    check(r.rc == rc, "expected exit status %d: %r", rc, r)
    return r


def admin(gw, method, path, body=None, key=ADMIN_KEY):
    port = int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    resp = request(port, method, path, body=body, key=key)
    text = resp.body.decode("utf-8", "replace")
    for s in SECRETS:
        check(s not in text, "a secret (%s...) in the answer to %s %s: %r", s[:8], method, path,
              text[:600])
    return resp


def version(gw):
    return admin(gw, "GET", "/admin/v1/status").json()["config_version"]


def table(gw):
    """{kind: {id: value}} as the Admin API lists it."""
    out = {}
    for kind in ("models", "api_keys"):
        r = admin(gw, "GET", "/admin/v1/%s?limit=1000" % kind)
        check(r.status == 200, "list %s: %d %r", kind, r.status, r.body[:300])
        out[kind] = {it["id"]: it["value"] for it in r.json()["items"]}
    return out


def served(gw, model, upstream, key=CLIENT_KEY):
    def ok():
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model), key=key)
        return r.status == 200 and r.json().get("model") == upstream
    wait_for(ok, VISIBLE, interval=0.01, what="model %s served by %s" % (model, upstream))


def not_served(gw, model, key=CLIENT_KEY):
    def gone():
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model), key=key)
        return r.status == 404
    wait_for(gone, VISIBLE, interval=0.01, what="model %s gone" % model)


def model(env, name, upstream, **extra):
    doc = {"name": name, "provider": "openai-compatible", "model": upstream,
           "api_base": env.mock.url(), "api_key": "${MOCK_KEY}"}
    doc.update(extra)
    return doc


def resfile(name, content):
    path = os.path.join(TMP, name)
    write_file(path, content)
    return path


def base_file(env):
    """Two models and a client key: what the first apply makes."""
    return {"models": [model(env, "ap-one", "up-one", timeouts={"first_byte": "3s"}),
                       model(env, "ap-two", "up-two")],
            "api_keys": [{"name": "ap-client", "key": CLIENT_KEY}]}


def name_moves(env, gw_apply, gw_load, path_prefix):
    """Under load on gw_load for the model name "ap-one": one apply (on
    gw_apply) renames ap-one's resource away and gives the name to a new
    resource, then one gives it back. Written as two separate changes there
    would be a moment without a model "ap-one" (404); as one change, every
    request is served, by the old upstream or the new one."""
    moved = base_file(env)
    moved["models"][0]["name"] = "ap-one-old"
    moved["models"].append(dict(model(env, "ap-one", "up-new"), id="ap-one-new"))
    back = base_file(env)
    files = [resfile(path_prefix + "-moved.yaml", moved), resfile(path_prefix + "-back.yaml", back)]
    ups = set()

    def one(i):
        r = request(gw_load.port, "POST", "/v1/chat/completions", chat_body(model="ap-one"),
                    key=CLIENT_KEY)
        if r.status == 200:
            ups.add(r.json().get("model"))
        return r
    with Load(one, threads=3, duration=3.0 * SLOW, max_count=100000) as load:
        for n in range(6):
            ctl(gw_apply, "apply", "-f", files[n % 2], "--prune")
            served(gw_load, "ap-one", "up-new" if n % 2 == 0 else "up-one")
    check(load.count() > 0, "no request ran under load")
    check(not load.failures(), "requests failed across the applies: %s %r", load.summary(),
          load.failures()[:5])
    check_eq(sorted(ups), ["up-new", "up-one"], "upstreams that served \"ap-one\"")
    return load.summary()


# Every aigwctl run gets MOCK_KEY in its environment for ${MOCK_KEY}.
os.environ["MOCK_KEY"] = MOCK_KEY


class fixture:
    def __enter__(self):
        self.mock = self.gw = None
        try:
            self.mock = Mock(key=MOCK_KEY)
            self.gw = Gateway({"models": [], "api_keys": []},
                              config=admin_conf({"resources": ""}), env={"MOCK_KEY": MOCK_KEY})
            return Env(self.mock, self.gw)
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        for obj in (self.gw, self.mock):
            if obj is not None:
                obj.stop()


@tap.case("1. apply --dry-run shows the plan (create per resource) and changes nothing")
def _(env):
    path = resfile("base.yaml", base_file(env))
    v0 = version(env.gw)
    r = ctl(env.gw, "apply", "-f", path, "--dry-run")
    for line in (r"^\+ models/ap-one \(ap-one\)$", r"^\+ models/ap-two \(ap-two\)$",
                 r"^\+ api_keys/ap-client \(ap-client\)$",
                 r"^dry run: 3 changes, nothing applied$"):
        check(re.search(line, r.out, re.M), "dry-run output lacks %r: %r", line, r)
    check_eq(version(env.gw), v0, "config_version after a dry run")
    check_eq(table(env.gw), {"models": {}, "api_keys": {}}, "the table after a dry run")
    j = ctl(env.gw, "--json", "apply", "-f", path, "--dry-run").json()
    check_eq(sorted((p["action"], p["kind"], p["id"]) for p in j["plan"]),
             [("create", "api_keys", "ap-client"), ("create", "models", "ap-one"),
              ("create", "models", "ap-two")], "the --json plan")
    check(j["applied"] is False and j["dry_run"] is True, "--json: %r", j)


@tap.case("2. apply: one new version holds every resource; served at once; the key hashed")
def _(env):
    path = resfile("base.yaml", base_file(env))
    v0 = version(env.gw)
    r = ctl(env.gw, "apply", "-f", path)
    check(re.search(r"^applied: 3 changes as one, revision %d$" % (v0 + 1), r.out, re.M),
          "apply output: %r", r)
    check_eq(version(env.gw), v0 + 1, "config_version: one change for three resources")
    t = table(env.gw)
    check_eq(sorted(t["models"]), ["ap-one", "ap-two"], "models after apply")
    check_eq(t["models"]["ap-one"]["api_key"], MOCK_MASKED, "api_key shown masked")
    check("key" not in t["api_keys"]["ap-client"] and
          len(t["api_keys"]["ap-client"]["key_sha256"]) == 64, "only the key's SHA-256: %r",
          t["api_keys"])
    served(env.gw, "ap-one", "up-one")
    served(env.gw, "ap-two", "up-two")
    # the history holds it as one version, by the admin key that applied it
    it = admin(env.gw, "GET", "/admin/v1/history?limit=1").json()["items"][0]
    check_eq((it["version"], it["source"], it.get("admin_key")), (v0 + 1, "admin", "root"),
             "the apply's history record")
    check_eq(sorted((c["kind"], c["id"], c["op"]) for c in it["changes"]),
             [("api_keys", "ap-client", "create"), ("models", "ap-one", "create"),
              ("models", "ap-two", "create")], "the resources it changed")


@tap.case("3. the same file again: empty plan, no new version")
def _(env):
    path = resfile("base.yaml", base_file(env))
    v0 = version(env.gw)
    r = ctl(env.gw, "apply", "-f", path)
    check_eq(r.out, "no changes: the configuration is what the file says\n", "second apply")
    j = ctl(env.gw, "--json", "apply", "-f", path).json()
    check(j["plan"] == [] and j["applied"] is False and j["changes"] == 0, "--json: %r", j)
    with open(path) as f:
        r = ctl(env.gw, "apply", "-f", "-", stdin=f.read())
    check_eq(r.out, "no changes: the configuration is what the file says\n", "apply -f - (stdin)")
    check_eq(version(env.gw), v0, "config_version after applying the same file twice")


@tap.case("4. an update: the plan names the resource and each changed field (secrets masked)")
def _(env):
    f = base_file(env)
    f["models"][0]["model"] = "up-one-b"
    f["models"][1]["api_key"] = OTHER_SECRET
    v0 = version(env.gw)
    j = ctl(env.gw, "--json", "apply", "-f", resfile("upd.yaml", f)).json()
    plan = {p["id"]: p for p in j["plan"]}
    check_eq(sorted(plan), ["ap-one", "ap-two"], "updated resources")
    check_eq(plan["ap-one"]["action"], "update", "action")
    check_eq(plan["ap-one"]["fields"],
             [{"field": "model", "before": "up-one", "after": "up-one-b"}],
             "the changed field of ap-one")
    check_eq(plan["ap-two"]["fields"], [{"field": "api_key", "before": MOCK_MASKED,
                                         "after": "****" + OTHER_SECRET[-4:]}],
             "a changed secret, masked on both sides")
    check_eq(version(env.gw), v0 + 1, "one version for two updates")
    served(env.gw, "ap-one", "up-one-b")
    r = ctl(env.gw, "apply", "-f", resfile("base.yaml", base_file(env)))
    check(re.search(r"^~ models/ap-one \(ap-one\):\n    model: \"up-one-b\" -> \"up-one\"$", r.out,
                    re.M), "the update as people read it: %r", r)
    served(env.gw, "ap-two", "up-two")


@tap.case("5. without --prune nothing is deleted; with it, what the file does not name is")
def _(env):
    f = base_file(env)
    del f["models"][1]
    path = resfile("pruned.yaml", f)
    v0 = version(env.gw)
    ctl(env.gw, "apply", "-f", path)
    check_eq(version(env.gw), v0, "no change without --prune")
    check("ap-two" in table(env.gw)["models"], "ap-two kept without --prune")
    r = ctl(env.gw, "apply", "-f", path, "--prune", "--dry-run")
    check(re.search(r"^- models/ap-two \(ap-two\)$", r.out, re.M), "prune plan: %r", r)
    check("ap-two" in table(env.gw)["models"], "ap-two kept by the dry run")
    ctl(env.gw, "apply", "-f", path, "--prune")
    check_eq(version(env.gw), v0 + 1, "one version for the prune")
    check_eq(sorted(table(env.gw)["models"]), ["ap-one"], "models after --prune")
    not_served(env.gw, "ap-two")
    ctl(env.gw, "apply", "-f", resfile("base.yaml", base_file(env)))
    served(env.gw, "ap-two", "up-two")


@tap.case("6. one bad resource: nothing applied; the error names file, line, resource, field")
def _(env):
    f = base_file(env)
    f["models"].append(model(env, "ap-new", "up-new"))
    f["models"].append({"name": "ap-bad", "provider": "no-such-provider", "model": "x"})
    v0, t0 = version(env.gw), table(env.gw)
    path = resfile("bad.yaml", f)
    r = ctl(env.gw, "apply", "-f", path, rc=1)
    check(re.search(r"bad\.yaml:\d+: models\[3\]\.provider", r.err), "file:line: field: %r", r)
    check(re.search(r"nothing was sent", r.err), "says nothing was sent: %r", r)
    # the Admin API validates too (a client that does not parse the file)
    body = {"models": {"ap-new": model(env, "ap-new", "up-new", api_key=MOCK_KEY),
                       "ap-bad": {"name": "ap-bad", "provider": "no-such-provider",
                                  "model": "x"}}}
    resp = admin(env.gw, "POST", "/admin/v1/apply", body)
    err = check_error_body(resp, 400, "apply with a bad resource")
    check_eq(err.get("code"), "invalid_resource", "error code")
    check(re.search(r"models/ap-bad\.provider: must be one of", err["message"]),
          "names resource and field: %r",
          err)
    # a name used twice in the set (each valid alone)
    body = {"models": {"x1": model(env, "ap-twice", "u", api_key=MOCK_KEY),
                       "x2": model(env, "ap-twice", "u", api_key=MOCK_KEY)}}
    err = check_error_body(admin(env.gw, "POST", "/admin/v1/apply", body), 400, "name twice")
    check(re.search(r"models/x\d\.name: the model name \"ap-twice\" is also that of models/x\d",
                    err["message"]), "names both: %r", err)
    # a name held by a resource the apply keeps
    body = {"models": {"x3": model(env, "ap-one", "u", api_key=MOCK_KEY)}}
    err = check_error_body(admin(env.gw, "POST", "/admin/v1/apply", body), 400, "name taken")
    check(re.search(r"models/(x3|ap-one)\.name: the model name \"ap-one\" is also that of "
                    r"models/(ap-one|x3)", err["message"]), "taken: %r", err)
    check_eq(version(env.gw), v0, "config_version after refused applies")
    check_eq(table(env.gw), t0, "the table after refused applies")
    not_served(env.gw, "ap-new")


@tap.case("7. export writes what apply takes back unchanged (secrets masked); --prune too")
def _(env):
    r = ctl(env.gw, "export")
    check(MOCK_MASKED in r.out and r.out.startswith("# aigw resources"), "export: %r", r)
    path = resfile("exported.yaml", r.out)
    v0 = version(env.gw)
    r2 = ctl(env.gw, "apply", "-f", path, "--prune")
    check_eq(r2.out, "no changes: the configuration is what the file says\n",
             "export -> apply --prune")
    check_eq(version(env.gw), v0, "config_version after the round trip")
    j = ctl(env.gw, "--json", "export").json()
    check_eq(sorted(m["id"] for m in j["models"]), ["ap-one", "ap-two"], "export --json ids")
    # the viewer reads the export (masked) but may not reveal or apply
    ctl(env.gw, "export", key=VIEWER_KEY)
    r = ctl(env.gw, "export", "--reveal-secrets", key=VIEWER_KEY, rc=1)
    check(re.search(r"admin role", r.err), "viewer reveal refused: %r", r)
    ctl(env.gw, "apply", "-f", path, key=VIEWER_KEY, rc=1)
    # the admin reveals the stored values: the provider key, and API keys as key_sha256
    r = ctl(env.gw, "export", "--reveal-secrets", secrets=[ADMIN_KEY, VIEWER_KEY, CLIENT_KEY])
    check(MOCK_KEY in r.out and "****" not in r.out, "revealed export: %r", r)
    check(re.search(r"key_sha256: [0-9a-f]{64}", r.out), "API keys as key_sha256: %r", r)
    path = resfile("revealed.yaml", r.out)
    ctl(env.gw, "apply", "-f", path, "--prune", secrets=[ADMIN_KEY, VIEWER_KEY, CLIENT_KEY])
    check_eq(version(env.gw), v0, "config_version after the revealed round trip")


@tap.case("8. a masked secret in an applied file keeps the stored one; a stale mask is refused")
def _(env):
    j = ctl(env.gw, "--json", "export").json()
    for m in j["models"]:
        if m["id"] == "ap-one":
            m["model"] = "up-one-masked"
            check_eq(m["api_key"], MOCK_MASKED, "exported api_key")
    v0 = version(env.gw)
    out = ctl(env.gw, "--json", "apply", "-f", resfile("masked.yaml", j)).json()
    check_eq([(p["id"], [f["field"] for f in p["fields"]]) for p in out["plan"]],
             [("ap-one", ["model"])], "only the model changed, not the key")
    served(env.gw, "ap-one", "up-one-masked")   # the mock checks the provider key
    for m in j["models"]:
        if m["id"] == "ap-one":
            m["api_key"] = "****nope"
    r = ctl(env.gw, "apply", "-f", resfile("stale.yaml", j), rc=1)
    check(re.search(r"models/ap-one: an api_key is a masked value", r.err), "stale mask: %r", r)
    check_eq(version(env.gw), v0 + 1, "nothing written for the stale mask")
    ctl(env.gw, "apply", "-f", resfile("base.yaml", base_file(env)))


@tap.case("8b. under load, a name moving between resources in one apply: no request fails")
def _(env):
    tap.diag("8b: " + name_moves(env, env.gw, env.gw, "load"))
    check_eq(sorted(table(env.gw)["models"]), ["ap-one", "ap-two"], "models after moving back")


@tap.case("8c. two models swap their names in one apply (standalone): both served, swapped")
def _(env):
    f = base_file(env)
    f["models"][0].update(id="ap-one", name="ap-two")
    f["models"][1].update(id="ap-two", name="ap-one")
    v0 = version(env.gw)
    ctl(env.gw, "apply", "-f", resfile("swap.yaml", f))
    check_eq(version(env.gw), v0 + 1, "one version for the swap")
    served(env.gw, "ap-one", "up-two")
    served(env.gw, "ap-two", "up-one")
    ctl(env.gw, "apply", "-f", resfile("base.yaml", base_file(env)))
    served(env.gw, "ap-one", "up-one")


@tap.case("8d. credentials: applied with the models that name them, in one version; again: "
          "no change; export holds them masked")
def _(env):
    f = base_file(env)
    f["credentials"] = [{"name": "ap-cred", "provider": "openai-compatible",
                         "api_base": env.mock.url(), "api_key": "${MOCK_KEY}"}]
    f["models"].append({"name": "ap-credm", "credential": "ap-cred", "model": "up-cred"})
    path = resfile("cred.yaml", f)
    v0 = version(env.gw)
    j = ctl(env.gw, "--json", "apply", "-f", path).json()
    check(j["applied"] is True, "apply with a credential: %r", j)
    check(("create", "credentials", "ap-cred") in
          [(p["action"], p["kind"], p["id"]) for p in j["plan"]], "the plan: %r", j["plan"])
    check_eq(version(env.gw), v0 + 1, "config_version: one change")
    served(env.gw, "ap-credm", "up-cred")
    check_eq(ctl(env.gw, "apply", "-f", path).out,
             "no changes: the configuration is what the file says\n", "the same file again")
    out = ctl(env.gw, "export").out
    check("ap-cred" in out and MOCK_KEY not in out, "export: the credential, masked: %r", out)


@tap.case("9. resources of the resources file: PUT, DELETE, rotate and apply get 409 naming it")
def _(env):
    mock = env.mock
    gw = Gateway(standard_resources(mock.port), config=admin_conf(), env={"MOCK_KEY": MOCK_KEY})
    try:
        doc = {"name": "mock-gpt", "provider": "openai-compatible", "model": "changed",
               "api_base": mock.url(), "api_key": MOCK_KEY}
        for method, path, body in (("PUT", "/admin/v1/models/mock-gpt", doc),
                                   ("DELETE", "/admin/v1/models/mock-gpt", None),
                                   ("POST", "/admin/v1/api_keys/team-a/rotate", None)):
            resp = admin(gw, method, path, body)
            err = check_error_body(resp, 409, "%s %s" % (method, path))
            check_eq(err.get("code"), "file_owned", "%s %s: code" % (method, path))
            check(gw.res_path in err["message"], "names the file: %r", err)
        f = {"models": [dict(doc, api_key="${MOCK_KEY}")]}
        r = ctl(gw, "apply", "-f", resfile("owned.yaml", f), rc=1)
        check(re.search(r"models/mock-gpt.*defined in the resources file %s" %
                        re.escape(gw.res_path), r.err, re.S), "apply refused: %r", r)
        check(re.search(r"edit the resources file", r.err), "says what to do: %r", r)
        # a new resource is the Admin API's: created, and --prune may not delete the file's
        f = {"models": [{"name": "ap-admin", "provider": "openai-compatible", "model": "up-adm",
                         "api_base": mock.url(), "api_key": "${MOCK_KEY}"}]}
        path = resfile("admin-owned.yaml", f)
        ctl(gw, "apply", "-f", path)
        r = ctl(gw, "apply", "-f", path, "--prune", rc=1)
        check(re.search(r"mock-gpt", r.err), "prune of file resources refused: %r", r)
        gw.reload()
        served(gw, "mock-gpt", "mock-1", key="sk-test-all")
        served(gw, "ap-admin", "up-adm", key="sk-test-all")
    finally:
        gw.stop()


@tap.case("10. etcd, two nodes: an apply on A is one etcd transaction, served by B; again: none")
def _(env):
    etcd = a = b = None
    try:
        etcd = Etcd()
        conf = {"etcd": {"endpoints": [etcd.url()], "prefix": PREFIX}}
        a = Gateway({"models": []}, config=admin_conf(conf), env={"MOCK_KEY": MOCK_KEY})
        b = Gateway({"models": []}, config=admin_conf(conf), env={"MOCK_KEY": MOCK_KEY})
        f = base_file(env)
        path = resfile("etcd.yaml", f)
        rev0 = etcd.revision()
        ctl(a, "apply", "-f", path)
        check_eq(etcd.revision(), rev0 + 1, "etcd revision: one transaction for the apply")
        served(b, "ap-one", "up-one")
        # node B's history: one version for the whole apply, by A's admin key
        it = admin(b, "GET", "/admin/v1/history?limit=1").json()["items"][0]
        check_eq((it["source"], it.get("admin_key"), len(it["changes"])), ("admin", "root", 3),
                 "node B's record of the apply")
        served(b, "ap-two", "up-two")
        served(a, "ap-two", "up-two")
        check_eq(etcd.get("%s/index/models/ap-one" % PREFIX), b"ap-one",
                 "the name's index entry")
        ctl(a, "apply", "-f", path)
        check_eq(etcd.revision(), rev0 + 1, "etcd revision after the same apply again")
        f2 = base_file(env)
        f2["models"][0]["name"] = "ap-one-renamed"
        del f2["models"][1]
        ctl(a, "apply", "-f", resfile("etcd2.yaml", f2), "--prune")
        check_eq(etcd.revision(), rev0 + 2, "etcd revision: one transaction for rename + prune")
        served(b, "ap-one-renamed", "up-one")
        not_served(b, "ap-two")
        not_served(b, "ap-one")
        check(etcd.get("%s/index/models/ap-one" % PREFIX) is None, "the old name released")
        check(etcd.get("%s/models/ap-two" % PREFIX) is None, "ap-two deleted in etcd")
        # a name moving between resources, applied on A under load on B
        ctl(a, "apply", "-f", path, "--prune")
        served(b, "ap-one", "up-one")
        tap.diag("10: " + name_moves(env, a, b, "etcd-load"))
        # a swap of names has no order every node can apply one event at a time: refused
        f3 = base_file(env)
        f3["models"][0].update(id="ap-one", name="ap-two")
        f3["models"][1].update(id="ap-two", name="ap-one")
        rev = etcd.revision()
        r = ctl(a, "apply", "-f", resfile("etcd-swap.yaml", f3), rc=1)
        check(re.search(r"models/ap-(one|two) and others swap in this apply: in etcd mode apply "
                        r"it in two steps", r.err), "swap refused in etcd mode: %r", r)
        check_eq(etcd.revision(), rev, "etcd revision after the refused swap")
        # B's export round-trips on A
        r = ctl(b, "export")
        r2 = ctl(a, "apply", "-f", resfile("etcd-exp.yaml", r.out), "--prune")
        check(r2.out.startswith("no changes"), "B's export applied on A: %r", r2)
        # a credential and a Model naming it, created in one apply on A: one etcd
        # transaction, and B serves the Model with the credential's key
        f4 = base_file(env)
        f4["credentials"] = [{"name": "ap-ecred", "provider": "openai-compatible",
                              "api_base": env.mock.url(), "api_key": "${MOCK_KEY}"}]
        f4["models"].append({"name": "ap-ecredm", "credential": "ap-ecred",
                             "model": "up-ecred"})
        rev = etcd.revision()
        ctl(a, "apply", "-f", resfile("etcd-cred.yaml", f4))
        check_eq(etcd.revision(), rev + 1, "etcd revision: one transaction for credential + model")
        check(etcd.get("%s/index/credentials/ap-ecred" % PREFIX) is not None,
              "the credential's index entry")
        served(b, "ap-ecredm", "up-ecred")
        served(a, "ap-ecredm", "up-ecred")
        check_eq(ctl(a, "apply", "-f", resfile("etcd-cred.yaml", f4)).out,
                 "no changes: the configuration is what the file says\n", "the same file again")
    finally:
        for obj in (a, b, etcd):
            if obj is not None:
                obj.stop()


if __name__ == "__main__":
    main(tap, fixture)
