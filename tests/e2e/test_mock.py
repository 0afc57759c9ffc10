# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the mock upstream's own controls, talked to directly (no aigw).

The traffic-control tests (test_split, test_failover, test_breaker) rely on
these: per-instance defaults (POST /mock/config), Retry-After on errors, and
the ways to fail before any response byte or before the first stream event.
When one of those tests fails, this file tells whether the mock is to blame.
"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Mock, chat_body, check, check_eq, main, request, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()
PATH = "/v1/chat/completions"


class fixture:
    """Two mock instances, to show that defaults are per instance."""

    def __enter__(self):
        self.a = Mock()
        try:
            self.b = Mock()
        except BaseException:
            self.a.stop()
            raise
        return Env(a=self.a, b=self.b)

    def __exit__(self, *exc):
        self.b.stop()
        self.a.stop()


def raw_exchange(port, body, timeout=3.0 * SLOW):
    """Send one POST on a raw socket and read until EOF, reset or timeout;
    return (bytes received, 'eof' | 'reset' | 'timeout')."""
    data = json.dumps(body).encode()
    s = socket.create_connection((HOST, port), timeout=timeout)
    got = b""
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                      PATH.encode(), HOST.encode(), len(data)) + data)
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            except socket.timeout:
                return got, "timeout"
            if not chunk:
                return got, "eof"
            got += chunk
    finally:
        s.close()


def cleared(env):
    env.a.configure()
    env.b.configure()


@tap.case("POST /mock/config sets per-instance defaults; GET shows them; {} clears them")
def _(env):
    try:
        check_eq(env.a.config(), {}, "defaults at start")
        check_eq(env.a.configure(status=500, retry_after="5"), {"status": 500, "retry_after": "5"},
                 "answer to POST /mock/config")
        check_eq(env.a.config(), {"status": 500, "retry_after": "5"}, "GET /mock/config")
        ra = request(env.a.port, "POST", PATH, chat_body())
        rb = request(env.b.port, "POST", PATH, chat_body())
        check_eq(ra.status, 500, "instance A with status=500 defaults")
        check_eq(ra.json()["error"]["code"], "mock_500", "A's error code")
        check_eq(ra.headers.get("retry-after"), "5", "A's Retry-After")
        check_eq(rb.status, 200, "instance B (no defaults), same body")
        env.a.configure()
        check_eq(env.a.config(), {}, "defaults after configure()")
        check_eq(request(env.a.port, "POST", PATH, chat_body()).status, 200, "A after clearing")
    finally:
        cleared(env)


@tap.case("a request's own controls override the defaults field by field")
def _(env):
    try:
        env.a.configure(status=503, chunks=2)
        r = request(env.a.port, "POST", PATH, chat_body(mock={"status": 200}))
        check_eq(r.status, 200, "status overridden by the body")
        check_eq(r.json()["choices"][0]["message"]["content"], "tok0 tok1",
                 "chunks=2 from the defaults")
        r = request(env.a.port, "POST", PATH, chat_body(), headers={"x-mock-status": "200",
                                                                    "x-mock-chunks": "1"})
        check_eq((r.status, r.json()["choices"][0]["message"]["content"]), (200, "tok0"),
                 "status and chunks overridden by headers")
    finally:
        cleared(env)


@tap.case("POST /mock/config refuses unknown controls and bad values, and keeps the old ones")
def _(env):
    try:
        env.a.configure(status=502)
        for bad in ({"stauts": 500}, {"status": 99}, {"retry_after": ""}, {"hang": "maybe"}, []):
            r = request(env.a.port, "POST", "/mock/config", body=bad)
            check_eq(r.status, 400, "POST /mock/config %r" % (bad,))
        check_eq(env.a.config(), {"status": 502}, "defaults after refused changes")
        r = request(env.a.port, "PUT", "/mock/config", body={})
        check_eq(r.status, 405, "PUT /mock/config")
    finally:
        cleared(env)


@tap.case("retry_after: Retry-After on error answers only; no Retry-After on a 429 without it")
def _(env):
    r = request(env.a.port, "POST", PATH, chat_body(mock={"status": 429}))
    check_eq((r.status, r.headers.get("retry-after")), (429, None), "429 without retry_after")
    r = request(env.a.port, "POST", PATH, chat_body(mock={"status": 429, "retry_after": "7"}))
    check_eq((r.status, r.headers.get("retry-after")), (429, "7"), "429 with retry_after 7")
    r = request(env.a.port, "POST", PATH, chat_body(mock={"status": 503}),
                headers={"x-mock-retry-after": "2"})
    check_eq((r.status, r.headers.get("retry-after")), (503, "2"), "503 with the header control")
    r = request(env.a.port, "POST", PATH, chat_body(mock={"retry_after": "7"}))
    check_eq((r.status, r.headers.get("retry-after")), (200, None), "a 200 has no Retry-After")


@tap.case("status on a stream request: the error JSON, no event")
def _(env):
    got, end = raw_exchange(env.a.port, chat_body(stream=True, mock={"status": 500}))
    check(got.startswith(b"HTTP/1.1 500 "), "status line: %r", got[:80])
    check(b"data:" not in got and b"mock_500" in got, "body: %r", got[-200:])


@tap.case("reset_before_response: a reset and not one byte, stream or not")
def _(env):
    for stream in (False, True):
        before = env.a.stats()
        got, end = raw_exchange(env.a.port, chat_body(stream=stream,
                                                      mock={"reset_before_response": True}))
        check_eq((got, end), (b"", "reset"), "stream=%s: bytes and end" % stream)
        after = env.a.stats()
        check_eq(after["requests"] - before["requests"], 1, "requests counted")
        check_eq(after["aborted"] - before["aborted"], 1, "aborted counted")


@tap.case("stream reset_after 0: the 200 headers, no event, then a reset; 2: two content events")
def _(env):
    got, end = raw_exchange(env.a.port, chat_body(stream=True, mock={"reset_after": 0}))
    check(got.startswith(b"HTTP/1.1 200 "), "status line: %r", got[:80])
    check_eq((got.count(b"data:"), end), (0, "reset"), "events before the reset, end")
    got, end = raw_exchange(env.a.port, chat_body(stream=True, mock={"reset_after": 2}))
    check_eq((got.count(b"data:"), got.count(b"\"delta\":{\"content\":"), end), (3, 2, "reset"),
             "role + 2 content events, then a reset")


@tap.case("hang as a default: a stream request gets nothing until the client leaves")
def _(env):
    try:
        env.a.configure(hang=True)
        t = time.monotonic()
        got, end = raw_exchange(env.a.port, chat_body(stream=True), timeout=0.5)
        check_eq((got, end), (b"", "timeout"), "bytes and end")
        check(time.monotonic() - t >= 0.4, "returned early")
    finally:
        cleared(env)
    wait_for(lambda: env.a.stats()["active"] == 0, 3.0 * SLOW,
             what="the hanging call to end once the client left")


if __name__ == "__main__":
    main(tap, fixture)
