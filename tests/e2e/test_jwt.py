# SPDX-License-Identifier: Apache-2.0
"""End-to-end: JWT client authentication (auth.jwt.providers, aigw.yaml(5)).

Keys are made with `openssl` at test time, tokens signed by `openssl` or
Python's hmac (jwtkit.py). Two providers: "idp" (RSA, EC, Ed25519 keys in a
JWK Set file, an HS256 secret, audience "aigw", leeway 30s, models claim
"models") and "idp2" (one RSA key, no secret, no audience). API keys bound
to (iss, sub): alice (mock-*), bob (2 requests a minute), carol (mock-gpt
only), alice at idp2.

Every refusal is a 401 invalid_api_key whose body does not tell why; the
reason is in the access line's error and in aigw_jwt_rejections_total.
"""

import json
import os
import re
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, HTTP_TIMEOUT, SLOW, TAP, Env, Gateway, Mock, MOCK_KEY, chat_body, check,
        check_eq, main, make_tmpdir, pid_alive, request, scrape, standard_resources, wait_for)
    import jwtkit  # noqa: E402
    from jwtkit import claims, jwks, token  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP(deadline=120 * SLOW)

ISS = "https://idp.test"
ISS2 = "https://other.test"
SECRET = b"hs256-secret-for-tests-0123456789abcdef"


def bindings():
    return [
        {"name": "alice", "jwt": {"issuer": ISS, "subject": "alice"},
         "allowed_models": ["mock-*"]},
        {"name": "bob", "jwt": {"issuer": ISS, "subject": "bob"},
         "limits": {"requests_per_minute": 2}},
        {"name": "carol", "jwt": {"issuer": ISS, "subject": "carol"},
         "allowed_models": ["mock-gpt"]},
        {"name": "alice-at-idp2", "jwt": {"issuer": ISS2, "subject": "alice"}},
    ]


def providers(d, with_idp2=True):
    p = [{"name": "idp", "issuer": ISS, "audiences": ["aigw"],
          "jwks_file": os.path.join(d, "idp.jwks"), "hs256_secret": "${JWT_SECRET}",
          "leeway": "30s", "allowed_models_claim": "models"}]
    if with_idp2:
        p.append({"name": "idp2", "issuer": ISS2, "jwks_file": os.path.join(d, "idp2.jwks")})
    return p


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def fixture():
    d = make_tmpdir("aigw-jwt-keys-")
    keys = {"rsa": jwtkit.Key(d, "rsa", "rsa-1"), "p256": jwtkit.Key(d, "p256", "ec-256"),
            "p384": jwtkit.Key(d, "p384", "ec-384"), "ed": jwtkit.Key(d, "ed25519", "ed-1"),
            "rsa2": jwtkit.Key(d, "rsa", "rsa-idp2"), "rot": jwtkit.Key(d, "rsa", "rsa-2"),
            "stranger": jwtkit.Key(d, "rsa", "rsa-1")}  # same kid as rsa, another key
    base = [keys["rsa"].jwk(), keys["p256"].jwk(), keys["p384"].jwk(), keys["ed"].jwk()]
    write(os.path.join(d, "idp.jwks"), jwks(*base))
    write(os.path.join(d, "idp2.jwks"), jwks(keys["rsa2"].jwk()))
    mock = Mock(key=MOCK_KEY)
    res = standard_resources(mock.port, extra_keys=bindings())
    gw = Gateway(res, config={"workers": 1, "auth": {"jwt": {"providers": providers(d)}}},
                 env={"MOCK_KEY": MOCK_KEY, "JWT_SECRET": SECRET.decode()})
    return _Fixture(Env(mock, gw, keys=keys, dir=d, base=base))


class _Fixture:
    def __init__(self, env):
        self.env = env

    def __enter__(self):
        return self.env

    def __exit__(self, *exc):
        self.env.gw.stop()
        self.env.mock.stop()


def bearer(gw, tok, model="mock-gpt", path="/v1/chat/completions"):
    return gw.request("POST", path, chat_body(model=model), key=tok)


def accepted(env, tok, name, what, model="mock-gpt"):
    r = bearer(env.gw, tok, model)
    check_eq(r.status, 200, "%s: status (%r)" % (what, r.body[:300]))
    f = env.gw.access_line(r.headers["x-request-id"])
    check_eq(f["key"], name, "%s: the access line's key" % what)
    check(f["identity"] is not None and f["identity"]["iss"] in (ISS, ISS2),
          "%s: no identity in the access line: %r", what, f["identity"])
    check(tok not in f["line"] and tok.split(".")[2] not in env.gw.log(),
          "%s: the token reached the log", what)
    return f


def refused(env, tok, reason, what):
    r = bearer(env.gw, tok)
    check_eq(r.status, 401, "%s: status (%r)" % (what, r.body[:300]))
    err = r.json().get("error", {})
    check_eq(err.get("code"), "invalid_api_key", "%s: the error code" % what)
    body = r.body.decode("utf-8", "replace")
    check((reason == "invalid_api_key" or reason not in body) and "token_" not in body,
          "%s: the body tells the reason: %r", what, body)
    f = env.gw.access_line(r.headers["x-request-id"])
    check_eq(f["error"], reason, "%s: the access line's error" % what)
    check(tok not in f["line"], "%s: the token reached the access line", what)
    return f


@tap.case("each algorithm: RS256/384/512, PS256/384/512, ES256, ES384, EdDSA, HS256")
def _(env):
    k = env.keys
    cases = [("RS256", k["rsa"]), ("RS384", k["rsa"]), ("RS512", k["rsa"]),
             ("PS256", k["rsa"]), ("PS384", k["rsa"]), ("PS512", k["rsa"]),
             ("ES256", k["p256"]), ("ES384", k["p384"]), ("EdDSA", k["ed"])]
    for alg, key in cases:
        f = accepted(env, token(alg, claims(ISS, "alice"), key), "alice", alg)
        check_eq(f["identity"], {"iss": ISS, "sub": "alice"}, "%s: identity" % alg)
    accepted(env, token("HS256", claims(ISS, "alice"), secret=SECRET), "alice", "HS256")
    accepted(env, token("RS256", claims(ISS2, "alice", aud=None), k["rsa2"]), "alice-at-idp2",
             "idp2, no audience configured")


@tap.case("alg none, unknown alg, HS256 signed with the provider's RSA public key: refused")
def _(env):
    k = env.keys
    refused(env, token("none", claims(ISS, "alice")), "token_alg_none", "alg none")
    refused(env, token("none", claims(ISS, "alice"), header_extra={"alg": "None"}),
            "token_alg_none", "alg None")
    refused(env, token("HS512", claims(ISS, "alice"), secret=SECRET,
                       header_extra={"alg": "HS512"}), "token_alg_unsupported", "alg HS512")
    # the classic confusion: the public key as an HMAC secret; idp2 has no secret
    pem = k["rsa2"].pub_pem
    refused(env, token("HS256", claims(ISS2, "alice", aud=None), secret=pem, kid="rsa-idp2"),
            "token_alg_not_allowed", "HS256 with idp2's RSA public key (no secret)")
    # idp has a secret: the public key is not it
    refused(env, token("HS256", claims(ISS, "alice"), secret=k["rsa"].pub_pem, kid="rsa-1"),
            "token_bad_signature", "HS256 with idp's RSA public key")
    # an RSA kid used with ES256: the key type decides, not the header
    refused(env, token("ES256", claims(ISS, "alice"), k["p256"], kid="rsa-1"),
            "token_alg_key_mismatch", "ES256 naming an RSA key")


@tap.case("unknown kid, bad signature, a tampered payload: refused")
def _(env):
    k = env.keys
    refused(env, token("RS256", claims(ISS, "alice"), k["rot"]), "token_unknown_kid",
            "a kid the set does not hold")
    refused(env, token("RS256", claims(ISS, "alice"), k["stranger"]), "token_bad_signature",
            "signed by another key under a known kid")
    good = token("ES256", claims(ISS, "alice"), k["p256"])
    h, p, s = good.split(".")
    evil = jwtkit.b64u(json.dumps(claims(ISS, "bob"), separators=(",", ":")))
    refused(env, ".".join([h, evil, s]), "token_bad_signature", "payload swapped")
    sig = bytearray(jwtkit.base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[5] ^= 1
    refused(env, ".".join([h, p, jwtkit.b64u(bytes(sig))]), "token_bad_signature",
            "one bit of the signature")


@tap.case("exp, nbf, leeway: expired and not-yet-valid refused, within the leeway accepted")
def _(env):
    k = env.keys
    now = int(time.time())
    refused(env, token("RS256", claims(ISS, "alice", exp=now - 120), k["rsa"]),
            "token_expired", "expired 2 minutes ago (leeway 30s)")
    refused(env, token("RS256", claims(ISS, "alice", nbf=now + 120), k["rsa"]),
            "token_not_yet_valid", "nbf 2 minutes ahead")
    c = claims(ISS, "alice")
    del c["exp"]
    refused(env, token("RS256", c, k["rsa"]), "token_missing_exp", "no exp")
    accepted(env, token("RS256", claims(ISS, "alice", exp=now - 10), k["rsa"]), "alice",
             "expired 10s ago, within the leeway")
    accepted(env, token("RS256", claims(ISS, "alice", nbf=now + 10), k["rsa"]), "alice",
             "nbf 10s ahead, within the leeway")


@tap.case("wrong iss, wrong aud, an unbound subject, ambiguous JSON: refused")
def _(env):
    k = env.keys
    refused(env, token("RS256", claims("https://evil.test", "alice"), k["rsa"]),
            "token_unknown_issuer", "unknown issuer")
    refused(env, token("RS256", claims(ISS, "alice", aud="someone-else"), k["rsa"]),
            "token_wrong_audience", "wrong audience")
    refused(env, token("RS256", claims(ISS, "alice", aud=["x", "y"]), k["rsa"]),
            "token_wrong_audience", "wrong audience list")
    accepted(env, token("RS256", claims(ISS, "alice", aud=["x", "aigw"]), k["rsa"]), "alice",
             "audience list naming aigw")
    f = refused(env, token("RS256", claims(ISS, "mallory"), k["rsa"]), "invalid_api_key",
                "a valid token of a subject bound to no API key")
    check_eq(f["identity"], {"iss": ISS, "sub": "mallory"}, "the unbound identity is logged")
    raw = '{"iss":"%s","sub":"mallory","sub":"alice","aud":"aigw","exp":%d}' % (
        ISS, int(time.time()) + 300)
    refused(env, token("RS256", None, k["rsa"], raw_payload=raw), "token_ambiguous_json",
            "sub given twice")
    # iss of one provider, signed by the other's key
    refused(env, token("RS256", claims(ISS2, "alice", aud=None), k["rsa"]), "token_unknown_kid",
            "idp2's iss with idp's key")


@tap.case("a static key works beside JWTs; a token is checked before the body")
def _(env):
    r = env.gw.chat(key="sk-test-a")
    check_eq(r.status, 200, "the static key still works")
    tok = token("RS256", claims(ISS, "alice", exp=int(time.time()) - 3600), env.keys["rsa"])
    with socket.create_connection((HOST, env.gw.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: 8000000\r\nAuthorization: Bearer %s"
                   "\r\n\r\n" % tok).encode())
        s.settimeout(5.0 * SLOW)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    check(data.startswith(b"HTTP/1.1 401"), "an expired token's body was awaited: %r", data[:200])
    r = env.gw.request("GET", "/healthz", key=tok)
    check_eq(r.status, 200, "/healthz with an expired token")
    f = env.gw.access_line(r.headers["x-request-id"])
    check_eq(f["error"], None, "/healthz: a token there is not checked, nor logged as refused")


@tap.case("limits and allowed models of the bound key apply; the models claim narrows them")
def _(env):
    k = env.keys
    carol = token("RS256", claims(ISS, "carol"), k["rsa"])
    check_eq(bearer(env.gw, carol, "mock-gpt").status, 200, "carol on mock-gpt")
    r = bearer(env.gw, carol, "mock-b")
    check_eq(r.status, 403, "carol on mock-b (%r)" % r.body[:200])
    alice = token("RS256", claims(ISS, "alice", models=["mock-b"]), k["rsa"])
    check_eq(bearer(env.gw, alice, "mock-b").status, 200, "alice's claim names mock-b")
    check_eq(bearer(env.gw, alice, "mock-gpt").status, 403, "alice's claim leaves out mock-gpt")
    r = env.gw.request("GET", "/v1/models", key=alice)
    check_eq([m["id"] for m in r.json()["data"]], ["mock-b"], "/v1/models with the claim")
    wide = token("RS256", claims(ISS, "carol", models="mock-gpt mock-b"), k["rsa"])
    check_eq(bearer(env.gw, wide, "mock-b").status, 403,
             "a claim cannot widen the key's allowed models")
    bob = token("EdDSA", claims(ISS, "bob"), k["ed"])
    got = [bearer(env.gw, bob).status for _ in range(3)]
    check_eq(got, [200, 200, 429], "bob's 2 requests a minute")
    r = bearer(env.gw, bob)
    check("bob" in r.json()["error"]["message"], "the 429 names the key: %r", r.body[:300])


@tap.case("Admin API: a JWT binding is created without a key, serves at once, is listed "
          "without a key hash; rotate is refused")
def _(env):
    port = int(env.gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    tok = token("ES256", claims(ISS, "dave"), env.keys["p256"])
    refused(env, tok, "invalid_api_key", "dave before his binding")
    r = request(port, "PUT", "/admin/v1/api_keys/dave", body={
        "name": "dave", "jwt": {"issuer": ISS, "subject": "dave"}})
    check_eq(r.status, 201, "PUT a binding (%r)" % r.body[:300])
    v = r.json()["value"]
    check("key" not in v and "key_sha256" not in v, "a key was made for a binding: %r", v)
    check_eq(v["jwt"], {"issuer": ISS, "subject": "dave"}, "the binding as stored")
    accepted(env, tok, "dave", "dave after his binding")
    r = request(port, "POST", "/admin/v1/api_keys/dave/rotate")
    check_eq(r.status, 400, "rotate a binding (%r)" % r.body[:300])
    r = request(port, "PUT", "/admin/v1/api_keys/dave2", body={
        "name": "dave2", "jwt": {"issuer": ISS, "subject": "dave"}})
    check_eq(r.status, 409, "a second binding of the same identity (%r)" % r.body[:300])
    check_eq(request(port, "DELETE", "/admin/v1/api_keys/dave").status, 200, "DELETE")
    refused(env, tok, "invalid_api_key", "dave after his binding is gone")


@tap.case("metrics: refusals counted by reason")
def _(env):
    m = scrape(env.gw)
    for reason in ("token_alg_none", "token_expired", "token_bad_signature",
                   "token_unknown_kid", "token_wrong_audience"):
        check(m.get("aigw_jwt_rejections_total", reason=reason) >= 1,
              "aigw_jwt_rejections_total{reason=%s} is missing", reason)


@tap.case("key rotation: a new kid in the JWK Set file serves after a reload, same workers")
def _(env):
    k = env.keys
    before = sorted(env.gw.worker_pids())
    new = token("RS256", claims(ISS, "alice"), k["rot"])
    refused(env, new, "token_unknown_kid", "before the rotation")
    write(os.path.join(env.dir, "idp.jwks"), jwks(k["rot"].jwk(), *env.base[1:]))
    env.gw.reload()
    wait_for(lambda: bearer(env.gw, new).status == 200, 10 * SLOW, what="the new kid")
    accepted(env, new, "alice", "the new kid")
    refused(env, token("RS256", claims(ISS, "alice"), k["rsa"]), "token_unknown_kid",
            "the retired kid")
    check_eq(sorted(env.gw.worker_pids()), before, "workers (aigw.yaml did not change)")


@tap.case("a broken JWK Set file at restart: the last good set from LMDB still verifies")
def _(env):
    k = env.keys
    write(os.path.join(env.dir, "idp.jwks"), "{not json")
    env.gw.stop()
    env.gw.start()
    check("last good key set serves" in env.gw.log(), "no warning about the broken file")
    accepted(env, token("RS256", claims(ISS, "alice"), k["rot"]), "alice",
             "the stored set after the restart")
    os.unlink(os.path.join(env.dir, "idp.jwks"))
    env.gw.reload()
    accepted(env, token("ES256", claims(ISS, "alice"), k["p256"]), "alice",
             "the stored set after a reload without the file")
    write(os.path.join(env.dir, "idp.jwks"), jwks(*env.base))


@tap.case("a reload that removes a provider: its tokens are refused")
def _(env):
    k = env.keys
    tok = token("RS256", claims(ISS2, "alice", aud=None), k["rsa2"])
    accepted(env, tok, "alice-at-idp2", "before")
    cfg = dict(env.gw.config)
    cfg["auth"] = {"jwt": {"providers": providers(env.dir, with_idp2=False)}}
    env.gw.write_config(cfg)
    old = env.gw.worker_pids()
    env.gw.reload()
    # new workers read the new aigw.yaml; the old ones drain and exit
    wait_for(lambda: not any(pid_alive(p) for p in old), 30 * SLOW, what="the old workers gone")
    refused(env, tok, "token_unknown_issuer", "after the reload")
    accepted(env, token("RS256", claims(ISS, "alice"), k["rsa"]), "alice", "idp stays")


@tap.case("a provider's name given to another issuer never uses the key set stored for the "
          "first")
def _(env):
    k = env.keys
    iss3 = "https://third.test"
    cfg = dict(env.gw.config)
    provs = providers(env.dir, with_idp2=False)
    provs.append({"name": "idp2", "issuer": iss3,
                  "jwks_file": os.path.join(env.dir, "no-such.jwks")})
    cfg["auth"] = {"jwt": {"providers": provs}}
    env.gw.write_config(cfg)
    old = env.gw.worker_pids()
    env.gw.reload()
    wait_for(lambda: not any(pid_alive(p) for p in old), 30 * SLOW, what="the old workers gone")
    # signed by the key idp2 had under its first issuer: that set is not this issuer's
    refused(env, token("RS256", claims(iss3, "alice", aud=None), k["rsa2"]),
            "token_keys_unavailable", "the third issuer's token, signed by idp2's old key")


@tap.case("aigw -t: a provider without keys, a short secret, a bad binding are refused")
def _(env):
    import subprocess
    from harness import AIGW_BIN
    d = make_tmpdir("aigw-jwt-conf-")
    bad = [({"name": "x", "issuer": ISS}, "give jwks_file, jwks_url, discovery or hs256_secret"),
           ({"name": "x", "issuer": ISS, "hs256_secret": "short"}, "at least 32 bytes"),
           ({"name": "x", "jwks_file": "/dev/null"}, "issuer: required"),
           ({"name": "x", "issuer": ISS, "jwks_file": "f", "colour": 1}, "unknown field")]
    for prov, msg in bad:
        path = os.path.join(d, "aigw.yaml")
        write(path, json.dumps({"listen": ["127.0.0.1:1"], "resources": "",
                                "data_dir": d, "admin": {"listen": []},
                                "auth": {"jwt": {"providers": [prov]}}}))
        p = subprocess.run([AIGW_BIN, "-t", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode != 0 and msg in out, "aigw -t on %r: rc %d: %s", prov, p.returncode,
              out)
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main(tap, fixture)
