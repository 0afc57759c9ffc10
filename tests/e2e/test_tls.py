# SPDX-License-Identifier: Apache-2.0
"""End-to-end: HTTPS upstreams. Certificates are verified, always; a private CA
is trusted only when aigw.yaml's upstream.ca_file names it.

A small HTTPS server in this process (Python's ssl module, a certificate made
with the openssl command for IP 127.0.0.1) stands in for the provider.
"""

import contextlib
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, TAP, Env, Gateway, check, check_eq, check_error_body, main, make_tmpdir)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

PROVIDER_KEY = "sk-provider-tls-1"
ANSWER = {"id": "chatcmpl-tls", "object": "chat.completion", "created": 1, "model": "tls-1",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "over tls"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}


def make_cert(folder):
    """A self-signed certificate for IP 127.0.0.1: (cert path, key path)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=aigw-test", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions with ANSWER; records what it saw."""
    protocol_version = "HTTP/1.1"
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.seen.append({"auth": self.headers.get("Authorization"),
                             "body": json.loads(body or b"null"),
                             "resumed": self.connection.session_reused})
        out = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if self.path.startswith("/close/"):  # a new connection for every request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    """Counts the connections it accepted (TLS handshakes begun)."""
    accepted = 0

    def get_request(self):
        conn = super().get_request()
        Server.accepted += 1
        return conn


@contextlib.contextmanager
def tls_server(cert, key):
    """An HTTPS server on a free loopback port, in a thread; yields its port."""
    srv = Server((HOST, 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def resources(port):
    model = {"provider": "openai-compatible", "model": "tls-1", "api_key": PROVIDER_KEY,
             "timeouts": {"connect": "2s", "first_byte": "5s"}}
    return {"models": [dict(model, name="tls-gpt", api_base="https://%s:%d/v1" % (HOST, port)),
                       # the certificate names IP 127.0.0.1, not localhost
                       dict(model, name="tls-byname", api_base="https://localhost:%d/v1" % port),
                       dict(model, name="tls-close",
                            api_base="https://%s:%d/close/v1" % (HOST, port))],
            "api_keys": [{"name": "tls", "key": "sk-test-tls"}]}


@contextlib.contextmanager
def fixture():
    folder = make_tmpdir("aigw-tls-")
    cert, key = make_cert(folder)
    with tls_server(cert, key) as port:
        plain = trusting = None
        try:
            plain = Gateway(resources(port))
            trusting = Gateway(resources(port), config={"upstream": {"ca_file": cert}})
            yield Env(plain=plain, trusting=trusting, gw=plain)
        finally:
            for gw in (plain, trusting):
                if gw is not None:
                    gw.stop()


def chat(gw, model="tls-gpt"):
    return gw.request("POST", "/v1/chat/completions",
                      {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                      key="sk-test-tls")


@tap.case("an upstream certificate no trusted CA signed: 502 upstream_tls_error, no request sent")
def _(env):
    before = len(Handler.seen)
    resp = chat(env.plain)
    check_error_body(resp, 502, "untrusted certificate")
    check_eq(resp.json()["error"]["code"], "upstream_tls_error", "error code")
    check_eq(len(Handler.seen), before, "requests that reached the TLS server")


@tap.case("with upstream.ca_file naming the CA: the answer comes through, over TLS")
def _(env):
    before = len(Handler.seen)
    resp = chat(env.trusting)
    check(resp.status == 200, "status %d, body %r", resp.status, resp.body[:300])
    check_eq(resp.json(), ANSWER, "body")
    check_eq(len(Handler.seen), before + 1, "requests that reached the TLS server")
    seen = Handler.seen[-1]
    check_eq(seen["auth"], "Bearer " + PROVIDER_KEY, "Authorization upstream")
    check_eq(seen["body"]["model"], "tls-1", "model upstream")


@tap.case("a trusted certificate for another name than the api_base's host: 502 upstream_tls_error")
def _(env):
    before = len(Handler.seen)
    resp = chat(env.trusting, "tls-byname")
    check_error_body(resp, 502, "certificate for 127.0.0.1, api_base names localhost")
    check_eq(resp.json()["error"]["code"], "upstream_tls_error", "error code")
    check_eq(len(Handler.seen), before, "requests that reached the TLS server")


@tap.case("requests in a row to an HTTPS upstream share one kept-alive connection")
def _(env):
    chat(env.trusting)  # a connection to reuse (a worker's first may be here or before)
    before = Server.accepted
    for i in range(4):
        resp = chat(env.trusting)
        check(resp.status == 200, "request %d: status %d, body %r", i, resp.status, resp.body[:300])
    # two workers: each may open its own once
    check(Server.accepted - before <= 1, "%d new TLS connections for 4 requests in a row",
          Server.accepted - before)


@tap.case("an upstream that closes after each answer: the next connections resume the TLS session")
def _(env):
    before = len(Handler.seen)
    for i in range(6):
        resp = chat(env.trusting, "tls-close")
        check(resp.status == 200, "request %d: status %d, body %r", i, resp.status, resp.body[:300])
    resumed = [s["resumed"] for s in Handler.seen[before:]]
    # each of the two workers does one full handshake at most; the others resume
    check(resumed.count(True) >= 4, "sessions resumed: %r" % resumed)


if __name__ == "__main__":
    main(tap, fixture)
