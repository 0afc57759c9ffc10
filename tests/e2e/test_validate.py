"""End-to-end: values from outside that would become headers, URLs, names or
path segments are refused wherever a resource comes in (issue 11, item 4):
the Admin API, the standalone resources file and etcd values all go through
the one validator (resource.c).

Refused: an api_key with CR, LF or another control byte (it went into the
upstream request as headers of its own: the proof is the mock's
/mock/last), an api_base that is not an absolute http(s) URL or has spaces,
control bytes, a query or a fragment, names and upstream models with NUL or
control bytes, ids "." and "..". And the Admin API's Content-Type is parsed
as a media type: application/jsonfoo is not application/json.

Cases 1-4 share one mock (checking the provider key) and one aigw in
standalone mode with the Admin API open on loopback; case 5 runs `aigw -t`
on resources files; case 6 starts an etcd and an aigw in etcd mode.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, MOCK_KEY, SLOW, TAP, Etcd, Gateway, chat_body, check, check_eq,
        check_error_body, last_header, main, mock_and_gateway, request, wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

MODELS = "/admin/v1/models"
CLIENT_KEY = "sk-test-all"
INJECT = "\r\nX-Injected: yes"
PREFIX = "/e2e-validate/aigw"


def fixture():
    return mock_and_gateway()


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(gw, method, path, body=None, headers=None):
    resp = request(admin_port(gw), method, path, body=body, headers=headers)
    text = resp.body.decode("utf-8", "replace")
    check(MOCK_KEY not in text, "the provider key shows in an Admin API answer: %r", text)
    return resp


def model(env, name, **over):
    doc = {"name": name, "provider": "openai-compatible", "model": "up-" + name,
           "api_base": env.mock.url(), "api_key": MOCK_KEY}
    doc.update(over)
    return doc


def refused(resp, field, what):
    """A 400 whose message names the field."""
    err = check_error_body(resp, 400, what)
    check(field in err.get("message", ""), "%s: the error does not name %s: %r", what, field,
          err)
    return err


@tap.case("Admin API: an api_key with CR LF is refused; the upstream never sees an injected "
          "header")
def _(env):
    gw = env.gw
    # The proof first: what a model with such a key sends upstream (the old
    # code stored it, and the mock got "X-Injected: yes" as a header).
    resp = admin(gw, "PUT", "%s/inj" % MODELS, model(env, "inj", api_key=MOCK_KEY + INJECT))
    env.mock.reset()
    r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model="inj"),
                key=CLIENT_KEY)
    if env.mock.requests() > 0:
        check(last_header(env.mock.last(), "x-injected") is None,
              "the upstream got an injected header: %r", env.mock.last().get("headers"))
    check_eq(r.status, 404, "a chat to the refused model")
    refused(resp, "api_key", "api_key with CR LF X-Injected")
    for i, key in enumerate((MOCK_KEY + "\r\nContent-Length: 0", MOCK_KEY + "\n",
                             MOCK_KEY + "\x00x", MOCK_KEY + "\x7f", MOCK_KEY + "\r")):
        name = "inj-%d" % i
        resp = admin(gw, "PUT", "%s/%s" % (MODELS, name), model(env, name, api_key=key))
        refused(resp, "api_key", "api_key %r" % key[len(MOCK_KEY):])


@tap.case("Admin API: api_base must be an absolute http(s) URL without spaces, control "
          "characters, query or fragment")
def _(env):
    base = env.mock.url()
    for i, bad in enumerate((base + "\r\nX: y", base.replace("/v1", " /v1"), "http://",
                             "127.0.0.1:1/v1", "http://h:99999/v1", base + "?a=b",
                             base + "#f", base + "\t")):
        name = "base-%d" % i
        refused(admin(env.gw, "PUT", "%s/%s" % (MODELS, name), model(env, name, api_base=bad)),
                "api_base", "api_base %r" % bad)
    ok = admin(env.gw, "PUT", "%s/base-ok" % MODELS, model(env, "base-ok"))
    check(ok.status in (200, 201), "a good api_base: %d %r", ok.status, ok.body[:300])
    admin(env.gw, "DELETE", "%s/base-ok" % MODELS)


@tap.case("Admin API: names and upstream models with NUL or control characters, ids . and "
          ".. are refused")
def _(env):
    gw = env.gw
    refused(admin(gw, "PUT", "%s/nul-name" % MODELS, model(env, "a\x00b")), "name",
            "a name with NUL")
    refused(admin(gw, "PUT", "%s/nul-model" % MODELS, model(env, "nm", model="up\x00x")),
            "model", "an upstream model with NUL")
    refused(admin(gw, "PUT", "%s/ctl-model" % MODELS, model(env, "cm", model="up\nx")),
            "model", "an upstream model with LF")
    refused(admin(gw, "PUT", "/admin/v1/api_keys/nul-key",
                  {"name": "k", "key": "sk-validate-0001\x00tail"}), "key",
            "a client key with NUL")
    for rid in (".", ".."):
        resp = admin(gw, "PUT", "%s/%s" % (MODELS, rid), model(env, "dot" + str(len(rid))))
        check(resp.status == 404, "PUT %s/%s: expected 404, got %d %r", MODELS, rid,
              resp.status, resp.body[:300])
    for n in ("dot1", "dot2", "nm", "cm"):
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=n),
                    key=CLIENT_KEY)
        check_eq(r.status, 404, "a chat to %s, which was refused" % n)


@tap.case("Admin API: Content-Type is a media type: application/jsonfoo gets 415, "
          "Application/JSON ; charset=utf-8 is taken")
def _(env):
    gw = env.gw
    body = json.dumps(model(env, "ctype"))
    for ct in ("application/jsonfoo", "application/json-patch+json", "application/jsonx; a=b",
               "application/json,text/plain"):
        resp = admin(gw, "PUT", "%s/ctype" % MODELS, body, headers={"Content-Type": ct})
        err = check_error_body(resp, 415, "Content-Type %r" % ct)
        check_eq(err.get("code"), "unsupported_media_type", "Content-Type %r: code" % ct)
    for ct in ("application/json", "Application/JSON ; charset=utf-8",
               "application/json;charset=UTF-8"):
        resp = admin(gw, "PUT", "%s/ctype" % MODELS, body, headers={"Content-Type": ct})
        check(resp.status in (200, 201), "Content-Type %r: %d %r", ct, resp.status,
              resp.body[:300])
    admin(gw, "DELETE", "%s/ctype" % MODELS)


def aigw_check(gw, resources_text):
    """`aigw -t` on gw's aigw.yaml with resources.yaml replaced: (rc, output)."""
    write_file(gw.res_path, resources_text)
    p = subprocess.run([AIGW_BIN, "-t", "-c", gw.conf_path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30 * SLOW, env=gw.env)
    return p.returncode, p.stdout.decode("utf-8", "replace")


@tap.case("the resources file: each bad value refused by aigw -t with file, line and field")
def _(env):
    gw = env.gw
    base = env.mock.url()
    cases = [
        ('    api_key: "%s\\r\\nContent-Length: 0"\n' % MOCK_KEY, "models[0].api_key",
         "control characters"),
        ('    api_key: "%s\\0x"\n' % MOCK_KEY, "models[0].api_key", "NUL"),
        ('    api_base: "%s /x"\n' % base, "models[0].api_base", "spaces"),
        ('    model: "m\\nx"\n', "models[0].model", "control characters"),
    ]
    for extra, field, word in cases:
        text = ("models:\n  - id: f\n    name: f\n    provider: openai-compatible\n" + extra)
        if "api_base" not in extra:
            text += "    api_base: %s\n" % base
        rc, out = aigw_check(gw, text)
        check(rc != 0, "aigw -t took %r: %s", extra, out)
        check("resources.yaml:5: %s" % field in out and word in out,
              "aigw -t on %r does not name file:line: %s (%s): %s", extra, field, word, out)
    rc, out = aigw_check(gw, "models:\n  - id: \"..\"\n    name: f\n    provider: openai\n")
    check(rc != 0 and "resources.yaml:2: models[0]: id must be" in out,
          "aigw -t took id ..: %s", out)


@tap.case("etcd: invalid values (api_key with CR LF, api_base with a space, id ..) are "
          "logged and not served; a good one is")
def _(env):
    etcd = Etcd()
    gw = None
    try:
        gw = Gateway({"models": [], "api_keys": []}, config={
            "workers": 1, "etcd": {"endpoints": [etcd.url()], "prefix": PREFIX}},
            env={"MOCK_KEY": MOCK_KEY})
        good = model(env, "e-good")
        etcd.put("%s/api_keys/client" % PREFIX, json.dumps({"name": "client",
                                                             "key": CLIENT_KEY}))
        etcd.put("%s/models/e-inj" % PREFIX,
                 json.dumps(model(env, "e-inj", api_key=MOCK_KEY + INJECT)))
        etcd.put("%s/models/e-base" % PREFIX,
                 json.dumps(model(env, "e-base", api_base=env.mock.url() + " x")))
        etcd.put("%s/models/.." % PREFIX, json.dumps(model(env, "e-dots")))
        etcd.put("%s/models/e-good" % PREFIX, json.dumps(good))

        def served():
            r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model="e-good"),
                        key=CLIENT_KEY)
            return r if r.status == 200 else None
        wait_for(served, 10 * SLOW, what="e-good served from etcd")
        env.mock.reset()
        for name in ("e-inj", "e-base", "e-dots"):
            r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=name),
                        key=CLIENT_KEY)
            check_eq(r.status, 404, "a chat to %s (invalid in etcd)" % name)
        if env.mock.requests() > 0:
            check(last_header(env.mock.last(), "x-injected") is None,
                  "the upstream got an injected header")
        log = gw.log()
        check("%s/models/e-inj: invalid: api_key: must not contain control characters" % PREFIX
              in log, "no log line for e-inj: %s", log[-2000:])
        check("%s/models/e-base: invalid: api_base: must be a URL without spaces" % PREFIX
              in log, "no log line for e-base: %s", log[-2000:])
        check("ignoring key %s/models/.." % PREFIX in log, "no log line for id ..: %s",
              log[-2000:])
        check(MOCK_KEY not in log, "the provider key is in the error log")
    finally:
        if gw is not None:
            gw.stop()
        etcd.stop()


if __name__ == "__main__":
    main(tap, fixture)
