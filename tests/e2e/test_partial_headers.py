# SPDX-License-Identifier: Apache-2.0
"""End-to-end: errors answered while a request's headers are still arriving.

A header whose value the parser has not delimited yet (a bare CR inside it,
or a client that stops mid-header until the 408) must not be read by the
error path: its bytes are not NUL-terminated, and what follows them in the
connection's header buffer is whatever an earlier request left there. Each
case first sends a request carrying a secret (a client key, or the admin
key) on a keep-alive connection, then a request on the same connection whose
X-Request-Id ends unfinished exactly where the secret lay, on each of the
three listeners (proxy, Admin API, metrics). The error must come back with a
request id of aigw's own, no byte of the secret in the answer or the access
log, and the worker (or master) alive.
"""

import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, HTTP_TIMEOUT, SLOW, TAP, chat_body, check, check_eq, free_port, main,
        metrics_port, mock_and_gateway, standard_resources)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

ADMIN_KEY = "adm-SECRET-partial-0123456789abcdef"
CLIENT_SECRET = "sk-client-SECRET-0123456789abcdefghij"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def resources(mock_port):
    return standard_resources(mock_port, extra_keys=[{"name": "leaky", "key": CLIENT_SECRET}])


def fixture():
    return mock_and_gateway(resources=resources, config={
        "workers": 1,
        "access_log": "access.log",
        "timeouts": {"client_header": "1s", "drain": "5s"},
        "admin": {"listen": ["%s:%d" % (HOST, free_port())],
                  "keys": [{"name": "root", "key": ADMIN_KEY, "role": "admin"}]},
    })


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def listener_port(env, which):
    return {"proxy": env.gw.port, "admin": admin_port(env.gw), "metrics": metrics_port(env.gw)}[which]


_pending = {}  # socket fd -> bytes read past the last answer


def read_response(sock, deadline):
    """One HTTP response (headers and a Content-Length body) from sock, read
    through a buffer kept on the socket (pipelined answers stay for the next
    call); (status, headers dict, body bytes), or (None, {}, what came before
    EOF)."""
    buf = _pending.pop(sock.fileno(), b"")

    def more():
        sock.settimeout(max(0.1, deadline - time.time()))
        return sock.recv(65536)

    while b"\r\n\r\n" not in buf:
        chunk = more()
        if not chunk:
            return None, {}, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        return None, {}, buf
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = more()
        if not chunk:
            break
        rest += chunk
    _pending[sock.fileno()] = rest[n:]
    return status, headers, rest[:n]


def secret_request(which, path):
    """A whole request carrying the secret in Authorization."""
    secret = ADMIN_KEY if which == "admin" else CLIENT_SECRET
    return secret, ("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                    % (path, secret)).encode()


def unfinished_request(path):
    """The same request line and Host, then an X-Request-Id whose value ends
    where "Bearer " ended in the request before: in the header buffer
    ("Authorization" + "Bearer " is 20 bytes, "X-Request-Id" 12) its
    unterminated value runs straight into the old secret."""
    return ("GET %s HTTP/1.1\r\nHost: x\r\nX-Request-Id: %s" % (path, "A" * 8)).encode()


def check_no_secret(env, which, ending, status_want):
    port = listener_port(env, which)
    path = {"proxy": "/v1/models", "admin": "/admin/v1/models", "metrics": "/metrics"}[which]
    secret, first = secret_request(which, path)
    deadline = time.time() + HTTP_TIMEOUT
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(first)
        status, headers, _ = read_response(s, deadline)
        check(status is not None and status < 500, "%s: the first request failed: %r", which, status)
        check(headers.get("connection", "").lower() != "close",
              "%s: the first request's connection closed", which)
        s.sendall(unfinished_request(path) + ending)
        status, headers, body = read_response(s, time.time() + HTTP_TIMEOUT + 3 * SLOW)
    check(status is not None, "%s: no answer (did the process die?): %r", which, body[:200])
    check_eq(status, status_want, "%s: status" % which)
    rid = headers.get("x-request-id", "")
    for part in (secret, secret[:12], secret[-12:], "SECRET"):
        check(part not in rid and part.encode() not in body,
              "%s: the secret leaked: x-request-id %r body %r", which, rid, body[:300])
    check(GENERATED_ID.match(rid) is not None,
          "%s: an unfinished X-Request-Id was used: %r", which, rid)
    # The process that answered is alive and serves the next request.
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(first)
        status, _, _ = read_response(s, time.time() + HTTP_TIMEOUT)
    check(status is not None and status < 500, "%s: no answer after the error: %r", which, status)
    return rid


def check_access_log(env):
    """The access log has no byte of either secret."""
    path = os.path.join(env.gw.dir, "access.log")
    time.sleep(0.2 * SLOW)
    text = open(path, encoding="utf-8", errors="replace").read() if os.path.exists(path) else ""
    check("SECRET" not in text, "a secret in the access log: %r",
          [ln for ln in text.splitlines() if "SECRET" in ln][:3])


for _which in ("proxy", "admin", "metrics"):
    @tap.case("%s: a header value ended by a bare CR: 400, aigw's own request id, no secret" % _which)
    def _(env, which=_which):
        check_no_secret(env, which, b"\r\x01\r\n\r\n", 400)
        check_access_log(env)

    @tap.case("%s: a client that stops mid-header: 408, aigw's own request id, no secret" % _which)
    def _(env, which=_which):
        check_no_secret(env, which, b"", 408)
        check_access_log(env)

    @tap.case("%s: a header value past limits.max_header_size: 431, aigw's own id, no secret"
              % _which)
    def _(env, which=_which):
        check_no_secret(env, which, b"A" * (40 * 1024), 431)
        check_access_log(env)


@tap.case("a complete X-Request-Id is still used, and an empty one gets aigw's own")
def _(env):
    with socket.create_connection((HOST, env.gw.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: client-id-1\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id:\r\nX-Other: abc\r\n\r\n")
        status, headers, _ = read_response(s, time.time() + HTTP_TIMEOUT)
        check_eq((status, headers.get("x-request-id")), (200, "client-id-1"), "a whole id")
        status, headers, _ = read_response(s, time.time() + HTTP_TIMEOUT)
        check_eq(status, 200, "status with an empty id")
        check(GENERATED_ID.match(headers.get("x-request-id", "")) is not None,
              "an empty X-Request-Id: %r", headers.get("x-request-id"))



@tap.case("pipelined requests past the input bound while one is served: all answered, in order")
def _(env):
    # While a request is served, a connection's pipelined input is read only up
    # to limits.max_header_size + 64 KiB; the rest waits in the socket, and is
    # read once the answer is out.
    body = json.dumps(chat_body(mock={"first_byte_ms": 300})).encode()
    first = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nAuthorization: Bearer sk-test-a\r\n"
             b"Content-Length: %d\r\n\r\n" % len(body)) + body
    pad, n = b"p" * 16000, 40  # 640 kB, past 32 KiB + 64 KiB
    rest = b"".join(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\nX-Request-Id: pipe-%d\r\n\r\n"
                    % (pad, i) for i in range(n))
    with socket.create_connection((HOST, env.gw.port), timeout=HTTP_TIMEOUT) as s:
        sender = threading.Thread(target=s.sendall, args=(first + rest,))
        sender.start()
        deadline = time.time() + 30 * SLOW
        status, _, data = read_response(s, deadline)
        check_eq(status, 200, "the chat answer (%r)" % data[:200])
        for i in range(n):
            status, headers, _ = read_response(s, deadline)
            check_eq(status, 200, "pipelined answer %d" % i)
            check_eq(headers.get("x-request-id"), "pipe-%d" % i, "answer %d in order" % i)
        sender.join()

if __name__ == "__main__":
    main(tap, fixture)
