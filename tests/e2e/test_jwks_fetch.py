# SPDX-License-Identifier: Apache-2.0
"""End-to-end: JWT key sets fetched by the master (jwks_url, OIDC discovery).

A small HTTP server in this process, on 127.0.0.1, serves the key sets and
the discovery document and counts what it is asked. Providers: "disc"
(discovery, refresh 1h, refetch_interval 2s) and "url" (jwks_url, refresh
2s). Workers never fetch: the master stores each set in the LMDB table.
"""

import http.server
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Gateway, Mock, MOCK_KEY, chat_body, check, check_eq, main,
        make_tmpdir, standard_resources, wait_for)
    import jwtkit  # noqa: E402
    from jwtkit import claims, jwks, token  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP(deadline=180 * SLOW)


class IdP:
    """Serves self.docs (path -> text; None: 503) on 127.0.0.1 and counts hits."""

    def __init__(self):
        self.docs = {}
        self.hits = {}
        self.lock = threading.Lock()
        idp = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                with idp.lock:
                    idp.hits[self.path] = idp.hits.get(self.path, 0) + 1
                    body = idp.docs.get(self.path)
                if body is None:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path=""):
        return "http://%s:%d%s" % (HOST, self.port, path)

    def set(self, path, text):
        with self.lock:
            self.docs[path] = text

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Fixture:
    def __init__(self, env):
        self.env = env

    def __enter__(self):
        return self.env

    def __exit__(self, *exc):
        self.env.gw.stop()
        self.env.mock.stop()
        self.env.idp.stop()


def fixture():
    d = make_tmpdir("aigw-jwks-keys-")
    keys = {"a": jwtkit.Key(d, "rsa", "a-1"), "b": jwtkit.Key(d, "p256", "b-1"),
            "c": jwtkit.Key(d, "ed25519", "c-1"), "u": jwtkit.Key(d, "rsa", "u-1"),
            "u2": jwtkit.Key(d, "p256", "u-2")}
    idp = IdP()
    iss = idp.url("/realm")
    idp.set("/realm/.well-known/openid-configuration",
            json.dumps({"issuer": iss, "jwks_uri": idp.url("/realm/certs")}))
    idp.set("/realm/certs", jwks(keys["a"].jwk()))
    idp.set("/url/jwks", jwks(keys["u"].jwk(), keys["u2"].jwk()))
    iss_url = "https://url.test"
    provs = [{"name": "disc", "issuer": iss, "discovery": True, "refresh": "1h",
              "refetch_interval": "2s"},
             {"name": "url", "issuer": iss_url, "jwks_url": idp.url("/url/jwks"),
              "refresh": "2s"}]
    binds = [{"name": "d-alice", "jwt": {"issuer": iss, "subject": "alice"}},
             {"name": "u-alice", "jwt": {"issuer": iss_url, "subject": "alice"}}]
    mock = Mock(key=MOCK_KEY)
    gw = Gateway(standard_resources(mock.port, extra_keys=binds),
                 config={"workers": 2, "auth": {"jwt": {"providers": provs}}},
                 env={"MOCK_KEY": MOCK_KEY})
    return _Fixture(Env(mock, gw, idp=idp, keys=keys, iss=iss, iss_url=iss_url))


def status(env, tok):
    return env.gw.request("POST", "/v1/chat/completions", chat_body(), key=tok).status


def error_of(env, tok):
    r = env.gw.request("POST", "/v1/chat/completions", chat_body(), key=tok)
    return r.status, env.gw.access_line(r.headers["x-request-id"])["error"]


@tap.case("discovery: the master reads the document, then jwks_uri; a token verifies")
def _(env):
    tok = token("RS256", claims(env.iss, "alice", aud=None), env.keys["a"])
    wait_for(lambda: status(env, tok) == 200, 15 * SLOW, what="the discovered key set")
    check(env.idp.count("/realm/.well-known/openid-configuration") >= 1, "no discovery fetch")
    check(env.idp.count("/realm/certs") >= 1, "no key set fetch")
    for _ in range(6):  # both workers, none of them asks the provider
        check_eq(status(env, tok), 200, "again")
    check("jwt provider disc: 1 key from %s" % env.idp.url("/realm/certs") in env.gw.log(),
          "the master did not log the fetch")


@tap.case("rotation: a new kid at the provider serves without a reload (unknown kid: fetched at once)")
def _(env):
    new = jwtkit.Key(make_tmpdir("aigw-jwks-rot-"), "p256", "a-2")
    env.keys["new"] = new
    env.idp.set("/realm/certs", jwks(env.keys["a"].jwk(), new.jwk()))
    tok = token("ES256", claims(env.iss, "alice", aud=None), new)
    before = env.idp.count("/realm/certs")
    wait_for(lambda: status(env, tok) == 200, 15 * SLOW, what="the rotated key")
    check(env.idp.count("/realm/certs") > before, "the set was not fetched again")


@tap.case("unknown kids are fetched for at most once per refetch_interval")
def _(env):
    # let the fetches the case before caused settle: no new one for 2.5s
    last, since = env.idp.count("/realm/certs"), time.monotonic()
    t_end = time.monotonic() + 20
    while time.monotonic() - since < 2.5 and time.monotonic() < t_end:
        time.sleep(0.1)
        if env.idp.count("/realm/certs") != last:
            last, since = env.idp.count("/realm/certs"), time.monotonic()
    stranger = jwtkit.Key(make_tmpdir("aigw-jwks-str-"), "rsa", "nobody")
    before = env.idp.count("/realm/certs")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.5 and n < 200:
        tok = token("RS256", claims(env.iss, "alice", aud=None, jti=str(n)), stranger,
                    kid="made-up-%d" % n)
        check_eq(status(env, tok), 401, "an unknown kid")
        n += 1
    elapsed = time.monotonic() - t0
    after = env.idp.count("/realm/certs")
    # refetch_interval 2s: one fetch at the first unknown kid, then one per 2s at most
    check(1 <= after - before <= 1 + int(elapsed / 2.0),
          "%d fetches for %d unknown kids in %.1fs", after - before, n, elapsed)


@tap.case("jwks_url: refreshed every 2s: a key removed at the provider stops verifying")
def _(env):
    tok = token("RS256", claims(env.iss_url, "alice", aud=None), env.keys["u"])
    wait_for(lambda: status(env, tok) == 200, 15 * SLOW, what="the url provider's set")
    env.idp.set("/url/jwks", jwks(env.keys["u2"].jwk()))
    wait_for(lambda: status(env, tok) == 401, 20 * SLOW, what="the refresh")
    check_eq(error_of(env, tok), (401, "token_unknown_kid"), "the removed key")
    tok2 = token("ES256", claims(env.iss_url, "alice", aud=None), env.keys["u2"])
    check_eq(status(env, tok2), 200, "the key that stayed")


@tap.case("the provider down: the last good set serves, across a restart; it comes back")
def _(env):
    tok = token("RS256", claims(env.iss, "alice", aud=None), env.keys["a"])
    check_eq(status(env, tok), 200, "before")
    env.idp.set("/realm/.well-known/openid-configuration", None)
    env.idp.set("/realm/certs", None)
    env.idp.set("/url/jwks", None)
    env.gw.stop()
    env.gw.start()
    check_eq(status(env, tok), 200, "after the restart, from LMDB")
    tok2 = token("ES256", claims(env.iss_url, "alice", aud=None), env.keys["u2"])
    check_eq(status(env, tok2), 200, "the url provider's set after the restart")
    wait_for(lambda: "last good key set serves" in env.gw.log(), 15 * SLOW,
             what="a warning about the failed fetch")
    check_eq(status(env, tok), 200, "while the provider fails")
    env.idp.set("/url/jwks", jwks(env.keys["u"].jwk()))
    tok3 = token("RS256", claims(env.iss_url, "alice", aud=None), env.keys["u"])
    wait_for(lambda: status(env, tok3) == 200, 30 * SLOW, what="the provider back")


@tap.case("a discovery document naming another issuer is not followed")
def _(env):
    env.idp.set("/realm/.well-known/openid-configuration",
                json.dumps({"issuer": "https://evil.test", "jwks_uri": env.idp.url("/evil")}))
    env.idp.set("/evil", jwks(jwtkit.Key(make_tmpdir("aigw-jwks-evil-"), "rsa", "evil").jwk()))
    env.gw.reload()
    wait_for(lambda: "names another issuer" in env.gw.log(), 15 * SLOW,
             what="the refused discovery document")
    check_eq(env.idp.count("/evil"), 0, "the evil jwks_uri was fetched")


if __name__ == "__main__":
    main(tap, fixture)
