# SPDX-License-Identifier: Apache-2.0
"""End-to-end: provider credentials as a resource (issue 16).

A credential (provider, api_base, api_key, api_version) is defined once and
named by any number of Model targets (`credential: NAME`). One mock that
takes any key and shows the key of the last request it received
(/mock/last), and one aigw (2 workers, standalone, the Admin API keyless on
a port of its own) whose resources file holds a credential and two models
that name it. The last case starts an etcd and two gateways on it.

What is checked: both models reach the mock with the credential's key;
rotating it (one PUT) makes every model that names it send the new key in
the very next request, in one configuration version (a worker reads the
table in one read transaction per request: nothing to wait for); a delete
is refused while a model names it; every read masks the secret; a target
with both api_key and credential is refused; in etcd mode a credential
written through node A is used by node B, and one deleted in etcd behind
aigw's back makes its models answer 500 credential_missing.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, SLOW, TAP, Env, Etcd, Gateway, Mock, chat_body, check, check_eq,
        check_error_body, last_header, main, request, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

FILE_SECRET = "sk-cred-file-0123456789-AAAA"
SECRET_1 = "sk-cred-one-0123456789-BBBB"
SECRET_2 = "sk-cred-two-0123456789-CCCC"
SECRETS = (FILE_SECRET, SECRET_1, SECRET_2)
CLIENT_KEY = "sk-test-all"
CREDS = "/admin/v1/credentials"
MODELS = "/admin/v1/models"
STATUS = "/admin/v1/status"
PREFIX = "/e2e/aigw-cred"
VISIBLE = 5.0 * SLOW  # etcd mode: a change written through node A reaches node B
AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(AIGW_BIN)), "aigwctl", "aigwctl")


def resources(mock_port):
    """One credential in the file, named by a one-target model and by a
    target of a two-target model (the other target inline)."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    return {
        "credentials": [{"name": "file-cred", "provider": "openai-compatible",
                         "api_base": base, "api_key": "${FILE_SECRET}"}],
        "models": [
            {"name": "file-one", "credential": "file-cred", "model": "up-one"},
            {"name": "file-two", "targets": [
                {"credential": "file-cred", "model": "up-two", "priority": 1},
                {"provider": "openai-compatible", "api_base": base, "api_key": "inline-key-12345",
                 "model": "up-inline"}]},
            {"name": "file-orphan", "credential": "no-such-cred", "model": "up-orphan"},
        ],
        "api_keys": [{"name": "all", "key": CLIENT_KEY}],
    }


class fixture:
    """A mock taking any key, and a gateway with the file's credential."""

    def __enter__(self):
        self.mock = Mock(key=None)
        self.gw = Gateway(resources(self.mock.port), env={"FILE_SECRET": FILE_SECRET})
        return Env(self.mock, self.gw)

    def __exit__(self, *exc):
        self.gw.stop()
        self.mock.stop()


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(gw, method, path, body=None):
    """One Admin API request; fails when a provider secret shows in full."""
    resp = request(admin_port(gw), method, path, body=body)
    text = resp.body.decode("utf-8", "replace") + " " + repr(resp.headers)
    for s in SECRETS:
        check(s not in text, "secret %r in full in the answer to %s %s: %r", s, method, path,
              resp.body[:600])
    return resp


def version(gw):
    resp = admin(gw, "GET", STATUS)
    check(resp.status == 200, "GET status: %d", resp.status)
    return resp.json()["config_version"]


def ask(env, model, gw=None):
    """A chat completion through the gateway; the key and model the mock got."""
    gw = gw or env.gw
    resp = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model),
                   key=CLIENT_KEY)
    check(resp.status == 200, "%s: status %d, body %r", model, resp.status, resp.body[:400])
    last = env.mock.last()
    return last_header(last, "authorization"), last


def uses(env, model, secret, rounds=6, gw=None):
    """Every one of `rounds` requests (fresh connections, so both workers
    answer some) reaches the mock with secret."""
    for i in range(rounds):
        auth, last = ask(env, model, gw)
        check_eq(auth, "Bearer " + secret, "%s request %d: the key the mock received" % (model, i))


def make_cred(env, name, secret, gw=None):
    doc = {"name": name, "provider": "openai-compatible", "api_base": env.mock.url(),
           "api_key": secret}
    resp = admin(gw or env.gw, "POST", CREDS, doc)
    check(resp.status == 201, "POST credential: %d %r", resp.status, resp.body[:400])
    return resp.json()


def make_model(env, name, cred, gw=None):
    resp = admin(gw or env.gw, "POST", MODELS, {"name": name, "credential": cred,
                                                 "model": "up-" + name})
    check(resp.status == 201, "POST model %s: %d %r", name, resp.status, resp.body[:400])
    return resp.json()["id"]


@tap.case("resources file: two models name one credential; both reach the mock with its key")
def _(env):
    uses(env, "file-one", FILE_SECRET)
    _, last = ask(env, "file-one")
    check(last.get("body", {}).get("model") == "up-one" or '"up-one"' in str(last.get("body")),
          "file-one: upstream model: %r", last.get("body"))
    uses(env, "file-two", FILE_SECRET)


@tap.case("resources file: a model naming no credential is logged at load, answers 500 "
          "credential_missing, is listed by /admin/v1/conflicts; it serves once one is written")
def _(env):
    check("model file-orphan target no-such-cred/up-orphan names credential no-such-cred, which "
          "neither the file nor the table has: it answers credential_missing" in env.gw.log(),
          "no log line about file-orphan:\n%s", env.gw.log()[-2000:])
    resp = request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model="file-orphan"),
                   key=CLIENT_KEY)
    err = check_error_body(resp, 500, "file-orphan")
    check_eq(err.get("code"), "credential_missing", "error code")
    miss = admin(env.gw, "GET", "/admin/v1/conflicts").json().get("missing_credentials")
    check_eq([(m["model"], m["credential"], m["reason"]) for m in miss],
             [("file-orphan", "no-such-cred", "no_such_credential")], "missing_credentials")
    c = make_cred(env, "no-such-cred", SECRET_1)
    uses(env, "file-orphan", SECRET_1, rounds=2)
    check_eq(admin(env.gw, "GET", "/admin/v1/conflicts").json().get("missing_credentials"), [],
             "missing_credentials once written")
    resp = admin(env.gw, "DELETE", "%s/%s" % (CREDS, c["id"]))
    check_eq(check_error_body(resp, 409, "delete named by a file model").get("code"),
             "credential_in_use", "code")


@tap.case("reads mask the credential's api_key (list, get, the file's and the API's)")
def _(env):
    lst = admin(env.gw, "GET", CREDS)
    check(lst.status == 200, "GET credentials: %d %r", lst.status, lst.body[:400])
    items = lst.json()["items"]
    names = {i["value"]["name"]: i for i in items}
    check("file-cred" in names, "file-cred not listed: %r", items)
    check_eq(names["file-cred"]["value"]["api_key"], "****" + FILE_SECRET[-4:], "masked key")
    one = admin(env.gw, "GET", "%s/%s" % (CREDS, names["file-cred"]["id"]))
    check_eq(one.json()["value"]["api_key"], "****" + FILE_SECRET[-4:], "masked key (GET)")
    check_eq(one.json()["value"]["provider"], "openai-compatible", "provider shown")
    c = make_cred(env, "masked-" + unique_id(), SECRET_1)
    check_eq(c["value"]["api_key"], "****" + SECRET_1[-4:], "masked key in the POST answer")
    check_eq(admin(env.gw, "DELETE", "%s/%s" % (CREDS, c["id"])).status, 200, "delete")


@tap.case("rotating a credential (one PUT): both models use the new key at once, one version")
def _(env):
    name = "rot-" + unique_id()
    c = make_cred(env, name, SECRET_1)
    ma = make_model(env, name + "-a", name)
    mb = make_model(env, name + "-b", name)
    uses(env, name + "-a", SECRET_1)
    uses(env, name + "-b", SECRET_1)
    before = version(env.gw)
    doc = dict(c["value"], api_key=SECRET_2)
    resp = admin(env.gw, "PUT", "%s/%s" % (CREDS, c["id"]), doc)
    check(resp.status == 200, "PUT rotate: %d %r", resp.status, resp.body[:400])
    check_eq(version(env.gw), before + 1, "configuration version after the rotation")
    check_eq(resp.json()["revision"], before + 1, "the rotation's revision")
    uses(env, name + "-a", SECRET_2)
    uses(env, name + "-b", SECRET_2)
    # the masked value sent back keeps the secret (GET, edit, PUT)
    shown = admin(env.gw, "GET", "%s/%s" % (CREDS, c["id"])).json()["value"]
    resp = admin(env.gw, "PUT", "%s/%s" % (CREDS, c["id"]), shown)
    check(resp.status == 200, "PUT masked back: %d %r", resp.status, resp.body[:400])
    uses(env, name + "-a", SECRET_2, rounds=2)
    for mid in (ma, mb):
        admin(env.gw, "DELETE", "%s/%s" % (MODELS, mid))
    admin(env.gw, "DELETE", "%s/%s" % (CREDS, c["id"]))


@tap.case("delete (or rename) of a credential a model names: 409 naming the models")
def _(env):
    name = "del-" + unique_id()
    c = make_cred(env, name, SECRET_1)
    ma = make_model(env, name + "-a", name)
    mb = make_model(env, name + "-b", name)
    resp = admin(env.gw, "DELETE", "%s/%s" % (CREDS, c["id"]))
    err = check_error_body(resp, 409, "delete while named")
    check_eq(err.get("code"), "credential_in_use", "error code")
    for m in (name + "-a", name + "-b"):
        check(m in err.get("message", ""), "the message does not name %s: %r", m, err)
    resp = admin(env.gw, "PUT", "%s/%s" % (CREDS, c["id"]), dict(c["value"], name=name + "-x"))
    check_eq(check_error_body(resp, 409, "rename while named").get("code"), "credential_in_use",
             "rename: error code")
    uses(env, name + "-a", SECRET_1, rounds=2)
    for mid in (ma, mb):
        check_eq(admin(env.gw, "DELETE", "%s/%s" % (MODELS, mid)).status, 200, "model delete")
    check_eq(admin(env.gw, "DELETE", "%s/%s" % (CREDS, c["id"])).status, 200,
             "delete once no model names it")


@tap.case("a target with api_key and credential, or naming no credential: 400")
def _(env):
    resp = admin(env.gw, "POST", MODELS, {"name": "both-" + unique_id(), "credential": "file-cred",
                                           "api_key": SECRET_1, "model": "x"})
    check_error_body(resp, 400, "api_key beside credential")
    text = str(resp.json())
    check("api_key" in text and "credential" in text and "not both" in text,
          "the error does not say api_key and credential: %r", text)
    resp = admin(env.gw, "POST", MODELS, {"name": "t-" + unique_id(), "targets": [
        {"credential": "file-cred", "provider": "openai", "model": "x"}]})
    check_error_body(resp, 400, "provider beside credential")
    check("targets[0].provider" in resp.body.decode(), "the error does not name "
          "targets[0].provider: %r", resp.body[:400])
    resp = admin(env.gw, "POST", MODELS, {"name": "nc-" + unique_id(), "credential": "no-such",
                                           "model": "x"})
    err = check_error_body(resp, 400, "unknown credential")
    check_eq(err.get("code"), "credential_not_found", "error code")
    # a deployment name that is no URL path segment, for an azure-openai credential
    az = make_cred(env, "az-" + unique_id(), SECRET_1)
    resp = admin(env.gw, "PUT", "%s/%s" % (CREDS, az["id"]),
                 dict(az["value"], provider="azure-openai", api_base=env.mock.url()[:-3],
                      api_key=SECRET_1))
    check(resp.status == 200, "PUT azure credential: %d %r", resp.status, resp.body[:400])
    resp = admin(env.gw, "POST", MODELS, {"name": "az-m-" + unique_id(),
                                           "credential": az["value"]["name"], "model": "a/../b"})
    err = check_error_body(resp, 400, "azure model not a path segment")
    check_eq(err.get("param"), "model", "param")
    check("path segment" in err.get("message", "") or "deployment" in err.get("message", ""),
          "the message does not say why: %r", err)
    check_eq(admin(env.gw, "DELETE", "%s/%s" % (CREDS, az["id"])).status, 200, "delete az")


@tap.case("aigwctl credential list/get/update/delete: masked, rotation, refusal while named")
def _(env):
    url = "http://127.0.0.1:%d" % admin_port(env.gw)

    def ctl(*args, stdin=None):
        p = subprocess.run([AIGWCTL, "--admin-url", url] + list(args), input=stdin, text=True,
                           capture_output=True, timeout=30 * SLOW)
        for sec in SECRETS:
            check(sec not in p.stdout and sec not in p.stderr, "secret in aigwctl output: %r",
                  p.stdout + p.stderr)
        return p
    name = "ctl-" + unique_id()
    p = ctl("credential", "create", name, stdin=json.dumps(
        {"name": name, "provider": "openai-compatible", "api_base": env.mock.url(),
         "api_key": SECRET_1}))
    check(p.returncode == 0, "credential create: %r %r", p.stdout, p.stderr)
    p = ctl("credential", "list")
    check(p.returncode == 0 and name in p.stdout and "****" + SECRET_1[-4:] in p.stdout and
          "API_KEY" in p.stdout, "credential list: %r %r", p.stdout, p.stderr)
    p = ctl("--json", "credential", "get", name)
    check(p.returncode == 0, "credential get: %r", p.stderr)
    check_eq(json.loads(p.stdout)["value"]["api_key"], "****" + SECRET_1[-4:], "get --json")
    mid = make_model(env, name + "-m", name)
    uses(env, name + "-m", SECRET_1, rounds=2)
    p = ctl("credential", "update", name, stdin=json.dumps(
        {"name": name, "provider": "openai-compatible", "api_base": env.mock.url(),
         "api_key": SECRET_2}))
    check(p.returncode == 0, "credential update: %r %r", p.stdout, p.stderr)
    uses(env, name + "-m", SECRET_2, rounds=2)
    p = ctl("credential", "delete", name)
    check(p.returncode == 1 and "credential_in_use" in p.stderr and name + "-m" in p.stderr,
          "credential delete while named: %r", p.stderr)
    admin(env.gw, "DELETE", "%s/%s" % (MODELS, mid))
    p = ctl("credential", "delete", name)
    check(p.returncode == 0, "credential delete: %r", p.stderr)


@tap.case("etcd: a credential written through node A serves node B; its deletion behind "
          "aigw's back: 500 credential_missing, listed as a conflict")
def _(env):
    etcd = Etcd()
    gws = []
    try:
        conf = {"etcd": {"endpoints": [etcd.url()], "prefix": PREFIX}}
        for _ in range(2):
            gws.append(Gateway(resources(env.mock.port), config=conf,
                               env={"FILE_SECRET": FILE_SECRET}))
        a, b = gws
        etcd.put("%s/api_keys/all" % PREFIX, {"name": "all", "key": CLIENT_KEY})
        name = "etcd-" + unique_id()
        c = make_cred(env, name, SECRET_1, gw=a)
        # In etcd mode a write is answered once etcd has it; node A's table has
        # it when A's watch brings it back (milliseconds later). A model naming
        # the credential is checked against that table: wait for it there.
        wait_for(lambda: admin(a, "GET", "%s/%s" % (CREDS, c["id"])).status == 200, 5,
                 what="the credential in node A's table")
        make_model(env, name + "-m", name, gw=a)
        check(etcd.get_json("%s/credentials/%s" % (PREFIX, c["id"])) is not None,
              "the credential is not in etcd under credentials/")
        # the name is claimed in etcd (index entry naming the id), as a model's is
        check_eq(etcd.get("%s/index/credentials/%s" % (PREFIX, name)), c["id"].encode(),
                 "the name's index entry in etcd")

        def served(secret):
            def ok():
                resp = request(b.port, "POST", "/v1/chat/completions",
                               chat_body(model=name + "-m"), key=CLIENT_KEY)
                return resp.status == 200 and \
                    last_header(env.mock.last(), "authorization") == "Bearer " + secret
            wait_for(ok, VISIBLE, what="node B to serve %s-m with the key" % name)
        served(SECRET_1)
        resp = admin(b, "POST", CREDS, dict(c["value"], api_key=SECRET_2))
        check_eq(check_error_body(resp, 409, "the same name on node B").get("code"), "conflict",
                 "a second credential of the name: code")
        resp = admin(a, "PUT", "%s/%s" % (CREDS, c["id"]), dict(c["value"], api_key=SECRET_2))
        check(resp.status == 200, "PUT rotate on A: %d %r", resp.status, resp.body[:400])
        served(SECRET_2)
        check_eq(check_error_body(admin(b, "DELETE", "%s/%s" % (CREDS, c["id"])), 409,
                                  "delete on B").get("code"), "credential_in_use", "B: code")
        etcd.delete("%s/credentials/%s" % (PREFIX, c["id"]))

        def missing():
            resp = request(b.port, "POST", "/v1/chat/completions", chat_body(model=name + "-m"),
                           key=CLIENT_KEY)
            return resp if resp.status == 500 else None
        resp = wait_for(missing, VISIBLE, what="node B to answer 500 once the credential is gone")
        err = check_error_body(resp, 500, "credential deleted in etcd")
        check_eq(err.get("code"), "credential_missing", "error code")
        check(name in err.get("message", ""), "the message does not name the credential: %r", err)
        conf_b = admin(b, "GET", "/admin/v1/conflicts").json()
        miss = conf_b.get("missing_credentials") or []
        check([m for m in miss if m.get("model") == name + "-m" and m.get("credential") == name],
              "GET /admin/v1/conflicts does not list the model: %r", conf_b)
    finally:
        for g in gws:
            g.stop()
        etcd.stop()


if __name__ == "__main__":
    main(tap, fixture)
