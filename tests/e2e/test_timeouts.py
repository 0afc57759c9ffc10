# SPDX-License-Identifier: Apache-2.0
"""End-to-end: upstream timeouts (issue 4) - connect, first byte, whole
request and stream idle, per model with global defaults; each ends with the
right status (504 before any byte reached the client, an SSE error event
after), and a connect timeout falls back to the next target.

Models (one mock):
  t-model        timeouts {connect: 300ms, first_byte: 400ms, total: 1500ms, stream_idle: 400ms}
  t-default      no timeouts of its own: aigw.yaml's timeouts.* (set small here)
  t-connect      targets: "hole" (a listener whose accept queue is full: the TCP
                 connect never completes) priority 1, then "mock"; connect 300ms
  t-connect-only the "hole" alone
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Gateway, Mock, Stream, chat_body, check, check_eq,
        check_error_body, main, request)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()
KEY = "sk-timeouts-test"


class BlackHole:
    """A 127.0.0.1 listener that never accepts, its queue filled: further
    connects get no SYN-ACK and hang until the client gives up."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        for _ in range(8):  # fill the accept and SYN queues (bounded)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect((HOST, self.port))
            except (BlockingIOError, OSError):
                pass
            self.fillers.append(s)
        time.sleep(0.2)

    def hangs(self):
        """Does a fresh connect hang now (the premise of the connect tests)?"""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((HOST, self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.lsock.close()


def resources(mock, hole):
    base = mock.url()
    hole_base = "http://%s:%d/v1" % (HOST, hole.port)
    t = {"connect": "300ms", "first_byte": "400ms", "total": "1500ms", "stream_idle": "400ms"}
    return {
        "models": [
            {"name": "t-model", "provider": "openai-compatible", "api_base": base,
             "api_key": "${MOCK_KEY}", "timeouts": t},
            {"name": "t-default", "provider": "openai-compatible", "api_base": base,
             "api_key": "${MOCK_KEY}"},
            {"name": "t-connect", "timeouts": {"connect": "300ms"}, "targets": [
                {"name": "hole", "provider": "openai-compatible", "api_base": hole_base,
                 "priority": 1},
                {"name": "mock", "provider": "openai-compatible", "api_base": base,
                 "api_key": "${MOCK_KEY}"}]},
            {"name": "t-connect-only", "provider": "openai-compatible", "api_base": hole_base,
             "timeouts": {"connect": "300ms"}},
        ],
        "api_keys": [{"name": "t", "key": KEY}],
    }


def fixture():
    mock = hole = gw = None
    try:
        mock = Mock(key="mock-secret-123")
        hole = BlackHole()
        gw = Gateway(resources(mock, hole), env={"MOCK_KEY": "mock-secret-123"},
                     config={"timeouts": {"upstream_connect": "300ms",
                                          "upstream_first_byte": "500ms",
                                          "upstream_total": "2s", "stream_idle": "500ms",
                                          "drain": "5s"}})
        yield Env(mock, gw, hole=hole)
    finally:
        for p in (gw, mock):
            if p is not None:
                p.stop()
        if hole is not None:
            hole.close()


import contextlib  # noqa: E402

fixture = contextlib.contextmanager(fixture)


def chat(env, model, **kw):
    return request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model=model, **kw),
                   key=KEY)


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def check_504(resp, what):
    check_error_body(resp, 504, what)
    check_eq(resp.json()["error"]["code"], "upstream_timeout", what + ": code")


@tap.case("first byte: an upstream that doesn't answer within first_byte gets 504 in about that time")
def _(env):
    r, dt = timed(lambda: chat(env, "t-model", mock={"first_byte_ms": 3000}))
    check_504(r, "first_byte 400ms")
    check(0.3 <= dt < 2.5 * SLOW, "answered after %.2fs (first_byte is 0.4s)", dt)


@tap.case("the global default applies to a model without timeouts (upstream_first_byte 500ms)")
def _(env):
    r, dt = timed(lambda: chat(env, "t-default", mock={"first_byte_ms": 3000}))
    check_504(r, "global first_byte")
    check(0.4 <= dt < 2.5 * SLOW, "answered after %.2fs (global first_byte is 0.5s)", dt)
    r = chat(env, "t-default", mock={"first_byte_ms": 100})
    check_eq(r.status, 200, "well within the global first_byte")


@tap.case("total: a body that trickles past total gets 504, though bytes keep coming")
def _(env):
    # headers at once, then the body slowly: first_byte is met, total is not
    r, dt = timed(lambda: chat(env, "t-model", mock={"chunks": 40, "slow_body_ms": 100}))
    check_504(r, "total 1500ms")
    check(1.2 <= dt < 4.0 * SLOW, "answered after %.2fs (total is 1.5s)", dt)


@tap.case("stream idle: a gap longer than stream_idle ends the stream with an error event, no [DONE]")
def _(env):
    s = Stream(env.gw.port, "/v1/chat/completions",
               chat_body(model="t-model", stream=True, mock={"chunks": 3, "delay_ms": 1200}),
               key=KEY)
    check_eq(s.status, 200, "status of a stream that starts in time")
    evs = list(s.events())
    data = [e.data for e in evs]
    check("[DONE]" not in data, "a stream cut by the idle timeout must not end with [DONE]: %r" % data)
    check(any('"upstream_timeout"' in d for d in data), "no upstream_timeout error event: %r" % data)
    s.close()


@tap.case("total on a stream: a stream that outlives total ends with an error event")
def _(env):
    s = Stream(env.gw.port, "/v1/chat/completions",
               chat_body(model="t-model", stream=True, mock={"chunks": 20, "delay_ms": 200}),
               key=KEY)
    check_eq(s.status, 200, "status")
    evs = list(s.events())
    data = [e.data for e in evs]
    check("[DONE]" not in data, "a stream cut by total must not end with [DONE]")
    check(any('"error"' in d for d in data), "no error event: %r" % data[-3:])
    chunks = [d for d in data if d.startswith("{") and '"choices"' in d]
    check(2 <= len(chunks) < 20, "%d chunks before the cut (total 1.5s, one per 0.2s)" % len(chunks))
    s.close()


@tap.case("connect: a connect that hangs gets 504 after connect (300ms), not first_byte or total")
def _(env):
    check(env.hole.hangs(), "the black hole does not make connects hang on this machine")
    r, dt = timed(lambda: chat(env, "t-connect-only"))
    check_504(r, "connect timeout")
    check(0.2 <= dt < 2.0 * SLOW, "answered after %.2fs (connect is 0.3s)", dt)


@tap.case("connect: a target whose connect times out falls back to the next (timeout in fallback_on)")
def _(env):
    check(env.hole.hangs(), "the black hole does not make connects hang on this machine")
    before = env.mock.stats()["requests"]
    r, dt = timed(lambda: chat(env, "t-connect", mock={"chunks": 2}))
    check_eq(r.status, 200, "status after the fallback (body %r)" % r.body[:200])
    check_eq((r.headers.get("x-aigw-target"), r.headers.get("x-aigw-attempts")), ("mock", "2"),
             "x-aigw-target, x-aigw-attempts")
    check_eq(env.mock.stats()["requests"] - before, 1, "requests the mock got")
    check(dt < 2.0 * SLOW, "answered after %.2fs", dt)


@tap.case("a request within every timeout passes (the timeouts are not too eager)")
def _(env):
    r = chat(env, "t-model", mock={"chunks": 5, "first_byte_ms": 100})
    check_eq(r.status, 200, "status")
    s = Stream(env.gw.port, "/v1/chat/completions",
               chat_body(model="t-model", stream=True, mock={"chunks": 4, "delay_ms": 150}),
               key=KEY)
    data = [e.data for e in s.events()]
    check_eq(data[-1] if data else None, "[DONE]", "last event of a stream within its timeouts")
    s.close()


if __name__ == "__main__":
    main(tap, fixture)
