# SPDX-License-Identifier: Apache-2.0
"""`aigw -T` prints the effective aigw.yaml (issue 16): every key of conf.c's
table (`aigw --keys`) with the file's value or its default, as YAML that
`aigw -c` reads back as the same configuration, secrets masked.

- Every key of `aigw --keys` is in the output of an almost empty file, with
  its default.
- Round trip: `aigw -T -c X > Y` with Y in another folder, then
  `aigw -T -c Y` prints the same, and `aigw -t -c Y` passes. X has relative
  paths (resolved in the output), an admin key (shown as its SHA-256), a
  key_file (kept, resolved), secrets given as ${VAR} (shown as written), a
  TLS listener with relative certificate files and a JWT provider.
- A secret written in the file (Redis and etcd passwords, an HS256 secret,
  a ${VAR:-default} whose default would show) is masked, and aigw warns on
  stderr naming the key; no plaintext of any secret is in the output.
- A file with an error (or a keyless Admin API, as -t): exit 1, the error on
  stderr, nothing on stdout.

No aigw process is started but `aigw -T`, `aigw --keys` and `aigw -t`.
"""

import hashlib
import json
import os
import subprocess
import sys

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN as AIGW, TAP, check, check_eq, main, make_tmpdir, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

ADMIN_KEY = "admin-key-plaintext-0123456789"
FILE_KEY = "file-key-plaintext-0123456789"
ENV = {"E2E_ETCD_PW": "etcd-pw-from-env", "E2E_REDIS_PW": "redis-pw-from-env",
       "E2E_HS": "hs256-secret-from-env-0123456789abcdef"}


def aigw(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([AIGW] + list(args), capture_output=True, text=True, timeout=30, env=e)


def dump(path, env=None):
    p = aigw("-T", "-c", path, env=env)
    check_eq(p.returncode, 0, "aigw -T -c %s exit status (stderr %r)" % (path, p.stderr))
    return p


def get(tree, dotted):
    for part in dotted.split("."):
        check(isinstance(tree, dict) and part in tree, "%s is not in the output", dotted)
        tree = tree[part]
    return tree


def make_cert(folder):
    """A self-signed EC certificate and its key, in folder (relative names cert.pem, key.pem)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", os.path.join(folder, "key.pem"), "-out",
                    os.path.join(folder, "cert.pem")], check=True, capture_output=True)
    os.chmod(os.path.join(folder, "key.pem"), 0o600)
    with open(os.path.join(folder, "key.pem")) as f:
        return f.read()


@tap.case("every key of aigw --keys is in aigw -T's output, with its default")
def _(env):
    d = make_tmpdir()
    conf = os.path.join(d, "aigw.yaml")
    write_file(conf, "admin:\n  allow_keyless: true\n")
    p = dump(conf)
    out = yaml.safe_load(p.stdout)
    keys = aigw("--keys")
    check_eq(keys.returncode, 0, "aigw --keys exit status")
    names = [line.split()[0] for line in keys.stdout.splitlines()]
    check(len(names) >= 40, "aigw --keys printed %d keys", len(names))
    for k in names:
        get(out, k)
    check_eq(get(out, "timeouts.upstream_total"), "10m", "timeouts.upstream_total")
    check_eq(get(out, "limits.max_body_size"), "8m", "limits.max_body_size")
    check_eq(get(out, "workers"), "auto", "workers")
    check_eq(get(out, "admin.allow"), ["127.0.0.0/8", "::1/128"], "admin.allow")
    check_eq(get(out, "ratelimit.redis.db"), 0, "ratelimit.redis.db")
    check_eq(get(out, "admin.allow_keyless"), True, "admin.allow_keyless")
    check_eq(p.stderr, "", "stderr of aigw -T without secrets")


@tap.case("aigw -T's output read back gives the same output; relative paths resolved, "
          "admin keys hashed, ${VAR} secrets as written")
def _(env):
    d = make_tmpdir()
    key_pem = make_cert(d)
    write_file(os.path.join(d, "resources.yaml"), "models: []\n")
    write_file(os.path.join(d, "admin.key"), FILE_KEY + "\n")
    os.chmod(os.path.join(d, "admin.key"), 0o600)
    conf = os.path.join(d, "aigw.yaml")
    write_file(conf, """\
listen:
  - 127.0.0.1:18080
  - address: 127.0.0.1:18443
    tls:
      certificates:
        - {cert_file: cert.pem, key_file: key.pem}
workers: 3
data_dir: data
resources: resources.yaml
access_log: logs/access.log
pid_file: ""
admin:
  keys:
    - {name: ops, key: %s, role: admin}
    - {name: file, key_file: admin.key, role: viewer}
etcd:
  password: ${E2E_ETCD_PW}
timeouts:
  upstream_first_byte: 90s
ratelimit:
  redis:
    password: ${E2E_REDIS_PW}
auth:
  jwt:
    providers:
      - {name: idp, issuer: https://idp.test, hs256_secret: "${E2E_HS}", leeway: 30s}
""" % ADMIN_KEY)
    os.makedirs(os.path.join(d, "logs"))
    os.makedirs(os.path.join(d, "data"))
    first = dump(conf, env=ENV)
    out = yaml.safe_load(first.stdout)
    check_eq(first.stderr, "", "stderr of aigw -T (no secret written in the file)")
    for secret in [ADMIN_KEY, FILE_KEY, key_pem.strip()] + list(ENV.values()):
        check(secret not in first.stdout, "a secret is in aigw -T's output: %r", secret[:20])
    check_eq(get(out, "resources"), os.path.join(d, "resources.yaml"), "resources")
    check_eq(get(out, "data_dir"), os.path.join(d, "data"), "data_dir")
    check_eq(get(out, "access_log"), os.path.join(d, "logs/access.log"), "access_log")
    check_eq(get(out, "pid_file"), "", "pid_file")
    check_eq(get(out, "workers"), 3, "workers")
    check_eq(get(out, "timeouts.upstream_first_byte"), "1m30s", "timeouts.upstream_first_byte")
    check_eq(get(out, "etcd.password"), "${E2E_ETCD_PW}", "etcd.password")
    check_eq(get(out, "ratelimit.redis.password"), "${E2E_REDIS_PW}", "ratelimit.redis.password")
    check_eq(get(out, "admin.keys"), [
        {"name": "ops", "key_sha256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
         "role": "admin"},
        {"name": "file", "key_file": os.path.join(d, "admin.key"), "role": "viewer"}],
        "admin.keys")
    tls = get(out, "listen")[1]
    check_eq(tls, {"address": "127.0.0.1:18443", "tls": {"certificates": [
        {"cert_file": os.path.join(d, "cert.pem"), "key_file": os.path.join(d, "key.pem")}]}},
        "the TLS listener")
    jwt = get(out, "auth.jwt.providers")[0]
    check_eq(jwt["hs256_secret"], "${E2E_HS}", "hs256_secret")
    check_eq(jwt["leeway"], "30s", "leeway")

    other = make_tmpdir()  # another folder: relative paths would resolve elsewhere
    again = os.path.join(other, "effective.yaml")
    write_file(again, first.stdout)
    second = dump(again, env=ENV)
    check_eq(second.stdout, first.stdout, "aigw -T of aigw -T's output")
    t = aigw("-t", "-c", again, env=ENV)
    check(t.returncode == 0, "aigw -t of aigw -T's output: %d %r", t.returncode, t.stderr)


@tap.case("a secret written in the file is masked, with a warning naming the key")
def _(env):
    d = make_tmpdir()
    key_pem = make_cert(d)
    with open(os.path.join(d, "cert.pem")) as f:
        cert_pem = f.read()
    conf = os.path.join(d, "aigw.yaml")
    write_file(conf, """\
listen:
  - address: 127.0.0.1:18443
    tls:
      certificates:
        - {cert_pem: %s, key_pem: %s}
admin:
  allow_keyless: true
etcd:
  password: literal-etcd-password
ratelimit:
  redis:
    password: ${E2E_UNSET_PW:-default-redis-password}
auth:
  jwt:
    providers:
      - {name: idp, issuer: https://idp.test, hs256_secret: literal-hs256-secret-0123456789abcdef}
""" % (json.dumps(cert_pem), json.dumps(key_pem)))
    p = dump(conf)
    check(key_pem.strip().splitlines()[1] not in p.stdout, "the private key is in the output")
    cert = get(yaml.safe_load(p.stdout), "listen")[0]["tls"]["certificates"][0]
    check_eq(cert["key_pem"], "********", "an inline key_pem")
    check_eq(cert["cert_pem"], cert_pem, "an inline cert_pem (not a secret)")
    out = yaml.safe_load(p.stdout)
    for secret in ["literal-etcd-password", "default-redis-password",
                   "literal-hs256-secret-0123456789abcdef"]:
        check(secret not in p.stdout, "a secret is in aigw -T's output: %r", secret)
    check_eq(get(out, "etcd.password"), "********", "etcd.password")
    check_eq(get(out, "ratelimit.redis.password"), "********", "ratelimit.redis.password")
    check_eq(get(out, "auth.jwt.providers")[0]["hs256_secret"], "********", "hs256_secret")
    for k in ["listen", "etcd.password", "ratelimit.redis.password", "auth.jwt.providers"]:
        check("warning: %s is masked" % k in p.stderr, "no warning for %s: %r", k, p.stderr)


@tap.case("aigw -T of a file with an error: exit 1, the error on stderr, nothing on stdout")
def _(env):
    d = make_tmpdir()
    conf = os.path.join(d, "aigw.yaml")
    write_file(conf, "admin:\n  allow_keyless: true\ntimeouts:\n  drain: forever\n")
    p = aigw("-T", "-c", conf)
    check_eq(p.returncode, 1, "exit status")
    check_eq(p.stdout, "", "stdout")
    check("aigw.yaml:4" in p.stderr and "timeouts.drain" in p.stderr, "stderr %r", p.stderr)
    # what aigw -t refuses besides the keys' values: a keyless Admin API
    write_file(conf, "")
    p = aigw("-T", "-c", conf)
    check(p.returncode == 1 and p.stdout == "" and "admin.keys" in p.stderr,
          "a keyless Admin API: %d %r", p.returncode, p.stderr)


if __name__ == "__main__":
    main(tap)
