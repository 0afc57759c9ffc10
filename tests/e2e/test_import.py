# SPDX-License-Identifier: Apache-2.0
"""`aigwctl import --from aisix` (issue 16): AISIX 0.x resources (models,
api_keys, provider_keys; aisix_fixture.py says where their shapes come
from) become an aigw resources file.

1. From a JSON export ({etcd key: value}): the mapping (display_name ->
   name, model_name -> model, each provider key -> one credential (named
   from its display_name) that every Model of that key names, so the file
   holds each provider key once, rate_limit -> limits, key_hash ->
   key_sha256), every field
   without an equivalent noted on stderr (rps, rph, cost, allowed_cidrs,
   routing, team_id, a field AISIX does not have, a guardrail, an unused
   provider key), and no provider key in the report.
2. From a real etcd (keys put with the v3 JSON API), the same file; and
   etcd's own range answer (`etcdctl get --prefix -w json`) as -f, the
   same again. aigw started on it answers a chat completion sent with the
   imported key's plaintext (aigw keeps API keys as their SHA-256, as AISIX
   does) through the Models, each sending the provider key of its
   credential upstream, and refuses the disabled key.
3. --json: the resources, and the report with resource and field.
4. Hostile input (wrong types, huge numbers, long strings, non-UTF-8,
   deep nesting, a name aigw refuses, a missing provider key): exit 1, an
   error naming the resource and the field, nothing written.
"""

import base64
import contextlib
import json
import os
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import aisix_fixture as fx  # noqa: E402
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SRCDIR, TAP, Env, Etcd, Gateway, Mock, chat_body, check, check_eq, main,
        make_tmpdir, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")


def ctl(*args):
    return subprocess.run([AIGWCTL, "import", "--from", "aisix"] + list(args),
                          capture_output=True, text=True, timeout=60)


def export_file(res, name="export.json"):
    path = os.path.join(make_tmpdir(), name)
    write_file(path, json.dumps(res))
    return path


def body(p):
    """The resources file without its comment lines (they name the source)."""
    return "".join(line for line in p.stdout.splitlines(True) if not line.startswith("#"))


@contextlib.contextmanager
def fixture():
    """A mock upstream (checking the provider key) and an etcd, shared by the cases."""
    mock = etcd = None
    try:
        mock = Mock(key=MOCK_KEY)
        etcd = Etcd()
        base = "http://%s:%d/v1" % (HOST, mock.port)
        yield Env(mock=mock, etcd=etcd, base=base, res=fx.resources(base, MOCK_KEY))
    finally:
        if etcd is not None:
            etcd.stop()
        if mock is not None:
            mock.stop()


def by_name(items):
    return {i["name"]: i for i in items}


@tap.case("a JSON export: the mapping, and every field without an equivalent noted")
def _(env):
    p = ctl("-f", export_file(env.res))
    check_eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr)
    out = yaml.safe_load(p.stdout)
    models = by_name(out["models"])
    check_eq(sorted(models), ["deepseek-chat", "it-gpt4", "it-gpt4-mini"], "the Models imported")
    check_eq(models["it-gpt4"], {
        "id": "m-it-1", "name": "it-gpt4",
        "limits": {"requests_per_minute": 600, "tokens_per_minute": 100000, "concurrency": 10},
        "timeouts": {"total": "30000ms", "stream_idle": "5000ms"},
        "credential": "openai-proxy", "model": "gpt-4o"}, "it-gpt4")
    check_eq(models["it-gpt4-mini"], {
        "id": "m-it-mini", "name": "it-gpt4-mini", "credential": "openai-proxy",
        "model": "gpt-4o-mini"}, "it-gpt4-mini")
    check_eq(models["deepseek-chat"], {
        "id": "m-ds", "name": "deepseek-chat",
        "limits": {"requests_per_day": 1000, "tokens_per_day": 5000000},
        "credential": "deepseek", "model": "deepseek-chat"}, "deepseek-chat")
    check_eq(out.get("credentials"), [
        {"id": "22222222-2222-2222-2222-222222222222", "name": "deepseek",
         "provider": "openai-compatible", "api_base": env.base, "api_key": MOCK_KEY},
        {"id": "11111111-1111-1111-1111-111111111111", "name": "openai-proxy",
         "provider": "openai", "api_base": env.base, "api_key": MOCK_KEY}],
        "the credentials, one a provider key a Model uses, in the order Models (by id) "
        "first name them")
    check_eq(p.stdout.count(MOCK_KEY), 2, "the provider key's copies in the file (one a "
             "provider key, however many Models use it)")
    keys = by_name(out["api_keys"])
    check_eq(keys["team-a"], {
        "id": "ak-1", "name": "team-a", "key_sha256": fx.CLIENT_HASH,
        "allowed_models": ["it-gpt4", "it-gpt4-mini", "deepseek-*"],
        "limits": {"requests_per_minute": 60, "concurrency": 5},
        "expires_at": "2099-01-01T00:00:00Z"}, "team-a")
    check_eq(keys["ak-2"]["disabled"], True, "ak-2 disabled (named after its id)")
    check_eq(keys["ak-2"]["allowed_models"], [], "ak-2 allowed_models")
    for want in ["models/m-it-1: rate_limit.rps: no equivalent",
                 "models/m-ds: rate_limit.rph: no equivalent",
                 "models/m-it-1: cost: no equivalent",
                 "models/m-it-1: allowed_cidrs: no equivalent",
                 "models/m-router: routing: no equivalent",
                 "api_keys/ak-1: team_id: no equivalent",
                 "api_keys/ak-1: future_field: unknown field",
                 "api_keys/ak-2: display_name: absent",
                 "provider_keys/11111111-1111-1111-1111-111111111111: telemetry_tags: no "
                 "equivalent",
                 "provider_keys/33333333-3333-3333-3333-333333333333: used by no imported Model",
                 "guardrails: 1 resource(s) of a kind aigw does not import"]:
        check(want in p.stderr, "the report lacks %r: %s", want, p.stderr)
    check(MOCK_KEY not in p.stderr and "sk-unused" not in p.stderr,
          "a provider key is in the report: %s", p.stderr)


@tap.case("from etcd, and from etcd's range answer: the same file; aigw serves it with the "
          "imported key")
def _(env):
    for key, value in env.res.items():
        env.etcd.put(key, value)
    env.etcd.put("/aisixother/models/x", {"display_name": "not under the prefix"})
    from_file = ctl("-f", export_file(env.res))
    out = os.path.join(make_tmpdir(), "resources.yaml")
    p = ctl("--etcd", env.etcd.url(), "--prefix", fx.PREFIX + "/", "-o", out)
    check_eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr)
    check_eq(p.stdout, "", "stdout with -o")
    check_eq(os.stat(out).st_mode & 0o777, 0o600, "mode of the file written")
    with open(out) as f:
        text = f.read()
    strip = "".join(line for line in text.splitlines(True) if not line.startswith("#"))
    check_eq(strip, body(from_file), "the file from etcd and from the export")
    check_eq(p.stderr, from_file.stderr, "the report from etcd and from the export")

    answer = env.etcd.call("/v3/kv/range", {
        "key": base64.b64encode(b"/aisix/").decode(),
        "range_end": base64.b64encode(b"/aisix0").decode()})
    q = ctl("-f", export_file(answer, "etcdctl.json"))
    check_eq(q.returncode, 0, "exit status of the range answer (stderr %r)" % q.stderr)
    check_eq(body(q), body(from_file), "the file from etcd's range answer")

    gw = Gateway(text)
    try:
        r = gw.request("POST", "/v1/chat/completions", chat_body(model="it-gpt4"),
                       key=fx.CLIENT_KEY)
        check_eq(r.status, 200, "chat with the imported key (%r)" % r.body[:300])
        r = gw.request("POST", "/v1/chat/completions", chat_body(model="it-gpt4-mini"),
                       key=fx.CLIENT_KEY)
        check_eq(r.status, 200, "chat through the credential's second Model (%r)" % r.body[:300])
        r = gw.request("POST", "/v1/chat/completions", chat_body(model="deepseek-chat"),
                       key=fx.CLIENT_KEY)
        check_eq(r.status, 200, "chat through the openai-compatible Model (%r)" % r.body[:300])
        r = gw.request("POST", "/v1/chat/completions", chat_body(model="it-gpt4"),
                       key="sk-disabled-key")
        check_eq(r.status, 401, "the disabled key")
        check_eq(r.json()["error"]["code"], "api_key_disabled", "the disabled key's error")
        r = gw.request("POST", "/v1/chat/completions", chat_body(model="it-gpt4"),
                       key="sk-not-imported")
        check_eq(r.status, 401, "a key that was not imported")
    finally:
        gw.stop()


@tap.case("--json: the resources and the report, with resource and field")
def _(env):
    p = ctl("-f", export_file(env.res), "--json")
    check_eq(p.returncode, 0, "exit status (stderr %r)" % p.stderr)
    out = json.loads(p.stdout)
    check_eq((out["ok"], out.get("credentials"), out["models"], out["api_keys"], out["output"]),
             (True, 2, 3, 2, None), "ok, counts, output")
    check_eq(sorted(m["name"] for m in out["resources"]["models"]),
             ["deepseek-chat", "it-gpt4", "it-gpt4-mini"], "the Models")
    check({"resource": "models/m-it-1", "field": "rate_limit.rps",
           "message": "no equivalent (aigw counts requests per UTC minute and day): "
                      "not imported"} in out["notes"], "notes: %r", out["notes"])
    check_eq(out["errors"], [], "errors")


def hostile(env, key, value, want):
    res = dict(env.res)
    res[key] = value
    out = os.path.join(make_tmpdir(), "resources.yaml")
    p = ctl("-f", export_file(res), "-o", out)
    check_eq(p.returncode, 1, "exit status for %s (stderr %r)" % (want, p.stderr))
    check(want in p.stderr, "stderr lacks %r: %s", want, p.stderr)
    check(not os.path.exists(out), "a file was written for %r", want)
    check(MOCK_KEY not in p.stderr, "a provider key is in the errors: %s", p.stderr)


@tap.case("hostile input: an error naming the resource and the field, nothing written")
def _(env):
    m = "/aisix/models/m-it-1"
    good = env.res[m]
    cases = [
        (m, dict(good, display_name=42), "models/m-it-1: display_name: must be a string, not int"),
        (m, dict(good, display_name="x" * 100000),
         "models/m-it-1: display_name: is longer than 4096 bytes"),
        (m, dict(good, rate_limit={"rpm": 1e30}),
         "models/m-it-1: rate_limit.rpm: must be a whole number, not double"),
        (m, dict(good, rate_limit={"rpm": 10 ** 30}),
         "models/m-it-1: rate_limit.rpm: must be from 1 to 1000000000000"),
        (m, dict(good, rate_limit={"tpm": 2 ** 64 - 1}),
         "models/m-it-1: rate_limit.tpm: must be from 1 to 1000000000000"),
        (m, dict(good, rate_limit={"rpm": 0}), "models/m-it-1: rate_limit.rpm: must be from 1"),
        (m, dict(good, rate_limit="fast"), "models/m-it-1: rate_limit: must be a mapping"),
        (m, dict(good, timeout="30s"), "models/m-it-1: timeout: must be a whole number, not "
                                       "string"),
        (m, dict(good, provider_key_id="nope"),
         "models/m-it-1: provider_key_id: names provider key \"nope\", which is not there"),
        (m, dict(good, display_name="has space"), "models/m-it-1: aigw refuses the entry: name"),
        (m, [1, 2], "models/m-it-1: must be a JSON object, not array"),
        (m, dict(good, model_name="gpt-${HOME}"),
         "models/m-it-1: model_name: holds \"${\", which aigw's resources file replaces"),
        (m, dict(good, display_name="it\u0000gpt4"),
         "models/m-it-1: display_name: holds a NUL character"),
        ("/aisix/api_keys/ak-1", dict(env.res["/aisix/api_keys/ak-1"], key_hash="zz"),
         "api_keys/ak-1: key_hash: must be the SHA-256 of the key in hex"),
        ("/aisix/api_keys/ak-1", dict(env.res["/aisix/api_keys/ak-1"], allowed_models="*"),
         "api_keys/ak-1: allowed_models: must be a list"),
        ("/aisix/api_keys/ak-1", dict(env.res["/aisix/api_keys/ak-1"], allowed_models=["a${x"]),
         "api_keys/ak-1: allowed_models[0]: holds \"${\""),
        ("/aisix/api_keys/k${HOME}", {"key_hash": "ab" * 32, "allowed_models": []},
         "api_keys/k${HOME}: display_name: holds \"${\""),
        ("/aisix/api_keys/ak-1", dict(env.res["/aisix/api_keys/ak-1"], disabled="yes"),
         "api_keys/ak-1: disabled: must be true or false"),
        ("/aisix/api_keys/ak-9", dict(env.res["/aisix/api_keys/ak-1"]),
         "api_keys/ak-9: key_hash: the same as api_keys/ak-1's"),
        ("/aisix/provider_keys/22222222-2222-2222-2222-222222222222",
         {"display_name": "deepseek", "api_base": env.base},
         "provider_keys/22222222-2222-2222-2222-222222222222: api_key: is required"),
        # a value kept as the text etcd holds, nested deeper than any resource
        (m, "[" * 100000 + "]" * 100000, "models/m-it-1: the value is not JSON"),
    ]
    for key, value, want in cases:
        hostile(env, key, value, want)

    # bytes that are not UTF-8, as etcd's range answer carries them (base64)
    answer = {"kvs": [{"key": base64.b64encode(b"/aisix/models/bad").decode(),
                       "value": base64.b64encode(b'{"display_name": "caf\xe9"}').decode()}]}
    p = ctl("-f", export_file(answer))
    check_eq(p.returncode, 1, "exit status for non-UTF-8")
    check("models/bad: the value is not valid UTF-8" in p.stderr, "stderr %r", p.stderr)
    answer["kvs"][0]["value"] = "not base64!"
    p = ctl("-f", export_file(answer))
    check("/aisix/models/bad: kvs[0].value: must be base64" in p.stderr, "stderr %r", p.stderr)
    # a key or a member name with a line break cannot forge a line of the report
    p = ctl("-f", export_file({"/aisix/models/a\nb": [1], "/aisix/x\rok": {},
                               "/aisix/models/m": {"display_name": "a", "x\nerror: y": 1}}))
    check_eq(p.returncode, 1, "exit status for line breaks in keys")
    check("models/a\\nb: must be a JSON object" in p.stderr and "/aisix/x\\rok" in p.stderr
          and "models/m: x\\nerror: y: unknown field" in p.stderr,
          "escaped line breaks: %r", p.stderr)
    check(all(line.startswith("aigwctl: ") for line in p.stderr.splitlines()),
          "a line of the report forged: %r", p.stderr)
    p = ctl("-f", export_file([1, 2]))
    check(p.returncode == 1 and "not one JSON object" in p.stderr, "a list: %r", p.stderr)
    # two exports in one file: the second is not left out unsaid
    path = os.path.join(make_tmpdir(), "two.json")
    write_file(path, json.dumps({"/aisix/api_keys/a": [1]}) + "\n" + json.dumps(env.res) + "\n")
    p = ctl("-f", path)
    check(p.returncode == 1 and "not one JSON object" in p.stderr, "two objects: %r", p.stderr)
    p = ctl("--etcd", "ftp://127.0.0.1:1")
    check(p.returncode == 2 and "http:// or https://" in p.stderr, "ftp: %r", p.stderr)


if __name__ == "__main__":
    main(tap, fixture)
