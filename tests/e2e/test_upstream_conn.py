# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the worker's upstream HTTP/1.1 client (src/uhttp*.c) against an
upstream that frames and closes its responses in ways the mock does not.

A raw TCP server in this process stands in for the provider. The path of the
model's api_base picks how it answers (/keep, /chunked, /eof, /closeidle,
/dropsecond, /bighdr, /sseeof, /bigsse); it counts the connections it accepted and
the requests it read, so that keep-alive reuse and replay are visible. One
worker, so that every request goes through the same pools.
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, TAP, Env, Gateway, check, check_eq, check_error_body, main, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-test-uconn"
MODES = ("keep", "chunked", "eof", "closeidle", "dropsecond", "bighdr", "sseeof", "bigsse")
BIG_EVENTS, BIG_PIECE = 4096, 16000  # a 64 MB stream


def answer(text):
    return json.dumps({"id": "chatcmpl-u", "object": "chat.completion", "created": 1,
                       "model": "u-1",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 2, "completion_tokens": 1,
                                 "total_tokens": 3}}).encode()


def sse_events():
    out = b""
    for i, piece in enumerate(("over", " eof")):
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "u-1",
                 "choices": [{"index": 0, "delta": {"content": piece},
                              "finish_reason": "stop" if i == 1 else None}]}
        out += b"data: " + json.dumps(chunk).encode() + b"\n\n"
    return out + b"data: [DONE]\n\n"


class Upstream:
    """A threaded HTTP/1.1 server on a free loopback port, answering by path."""

    def __init__(self, family=socket.AF_INET, host=HOST):
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = 0          # accepted
        self.requests = []      # (mode, connection number, its request number on it)
        self.closed = 0         # connections whose client side ended
        self.big_sent = 0       # bytes of the /bigsse stream sent so far
        self.big_done = False
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def counts(self):
        with self.lock:
            return self.conns, len(self.requests)

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            threading.Thread(target=self._serve, args=(s, n), daemon=True).start()

    @staticmethod
    def _read_request(s, buf):
        """One request off s (buf: bytes already read); (path, rest) or (None, b"")."""
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            if not data:
                return None, b""
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        path = lines[0].split(b" ")[1].decode()
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(buf) < length:
            data = s.recv(65536)
            if not data:
                return None, b""
            buf += data
        return path, buf[length:]

    def _serve(self, s, n):
        buf = b""
        k = 0
        try:
            while True:
                path, buf = self._read_request(s, buf)
                if path is None:
                    break
                k += 1
                mode = path.split("/")[1]
                with self.lock:
                    self.requests.append((mode, n, k))
                if mode == "bigsse":
                    self._big(s)
                    break
                if not self._answer(s, mode, k):
                    break
        except OSError:
            pass
        finally:
            s.close()
            with self.lock:
                self.closed += 1

    def _big(self, s):
        """A 64 MB stream, close-delimited, through a small send buffer."""
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        piece = "x" * BIG_PIECE
        for i in range(BIG_EVENTS):
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "u-1",
                     "choices": [{"index": 0, "delta": {"content": piece},
                                  "finish_reason": "stop" if i == BIG_EVENTS - 1 else None}]}
            ev = b"data: " + json.dumps(chunk).encode() + b"\n\n"
            s.sendall(ev)
            self.big_sent += len(ev)
        s.sendall(b"data: [DONE]\n\n")
        self.big_done = True

    @staticmethod
    def _answer(s, mode, k):
        """Answer one request; False when the connection is to close now."""
        body = answer("via " + mode)
        json_head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if mode in ("keep", "closeidle"):
            s.sendall(json_head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return mode == "keep"
        if mode == "dropsecond":
            if k >= 2:  # the second request on a connection: close without a byte
                return False
            s.sendall(json_head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if mode == "chunked":
            out = json_head + b"Transfer-Encoding: chunked\r\n\r\n"
            for i in range(0, len(body), 7):
                piece = body[i:i + 7]
                out += b"%x\r\n" % len(piece) + piece + b"\r\n"
            s.sendall(out + b"0\r\n\r\n")
            return True
        if mode == "eof":  # no length, not chunked: the body ends with the connection
            s.sendall(json_head + b"\r\n" + body)
            return False
        if mode == "sseeof":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + sse_events())
            return False
        if mode == "bighdr":  # 80 KB of headers: over the client's 64 KiB bound
            hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(80))
            s.sendall(json_head + hdrs + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return True
        return False

    def close(self):
        self.stopping = True
        self.lsock.close()


def resources(up, up6):
    def model(name, base):
        return {"name": name, "provider": "openai-compatible", "model": "u-1", "api_base": base,
                "api_key": "sk-up", "retries": 0}
    models = [model("u-" + m, "http://%s:%d/%s/v1" % (HOST, up.port, m)) for m in MODES]
    # a host name (from /etc/hosts, through evdns), and an IPv6 address
    models.append(model("u-byname", "http://localhost:%d/keep/v1" % up.port))
    if up6 is not None:
        models.append(model("u-v6", "http://[::1]:%d/keep/v1" % up6.port))
    return {"models": models, "api_keys": [{"name": "u", "key": KEY}]}


def ipv6_upstream():
    """An upstream on [::1], or None where the machine has no IPv6 loopback."""
    try:
        return Upstream(socket.AF_INET6, "::1")
    except OSError:
        return None


def fixture():
    up = up6 = gw = None
    try:
        up = Upstream()
        up6 = ipv6_upstream()
        gw = Gateway(resources(up, up6), config={"workers": 1})
        yield Env(gw=gw, up=up, up6=up6)
    finally:
        if gw is not None:
            gw.stop()
        for u in (up, up6):
            if u is not None:
                u.close()


import contextlib  # noqa: E402

fixture = contextlib.contextmanager(fixture)


def chat(env, mode, stream=False, model=None):
    body = {"model": model or "u-" + mode, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    return env.gw.request("POST", "/v1/chat/completions", body, key=KEY)


def check_answer(resp, mode, what):
    check(resp.status == 200, "%s: status %d, body %r", what, resp.status, resp.body[:300])
    check_eq(resp.json()["choices"][0]["message"]["content"], "via " + mode, what + ": content")


@tap.case("keep-alive: five requests in a row to one upstream use one connection")
def _(env):
    conns0, reqs0 = env.up.counts()
    for i in range(5):
        check_answer(chat(env, "keep"), "keep", "request %d" % i)
    conns, reqs = env.up.counts()
    check_eq(reqs - reqs0, 5, "requests the upstream read")
    check(conns - conns0 <= 1, "%d connections for 5 requests in a row", conns - conns0)


@tap.case("a chunked response comes through whole, and its connection is kept")
def _(env):
    conns0, _ = env.up.counts()
    for i in range(3):
        check_answer(chat(env, "chunked"), "chunked", "request %d" % i)
    conns, _ = env.up.counts()
    check(conns - conns0 <= 1, "%d connections for 3 chunked requests in a row", conns - conns0)


@tap.case("a response delimited by the end of the connection comes through whole")
def _(env):
    for i in range(2):
        check_answer(chat(env, "eof"), "eof", "request %d" % i)


@tap.case("a stream delimited by the end of the connection ends with [DONE]")
def _(env):
    s = env.gw.stream({"model": "u-sseeof", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}, key=KEY)
    events = s.read_all()
    s.close()
    check_eq(s.status, 200, "status")
    check_eq(events[-1].data if events else None, "[DONE]", "last event")
    text = "".join((e.json()["choices"][0]["delta"].get("content") or "")
                   for e in events[:-1] if e.json().get("choices"))
    check_eq(text, "over eof", "streamed text")


@tap.case("an idle kept-alive connection the upstream closed does not fail the next request")
def _(env):
    closed0 = env.up.closed
    check_answer(chat(env, "closeidle"), "closeidle", "first request")
    # the upstream closed that connection right after answering: the gateway sees its end
    wait_for(lambda: env.up.closed > closed0, 5, what="the upstream's close")
    time.sleep(0.1)
    conns0, reqs0 = env.up.counts()
    check_answer(chat(env, "closeidle"), "closeidle", "request after the close")
    conns, reqs = env.up.counts()
    check_eq((conns - conns0, reqs - reqs0), (1, 1),
             "a new connection, and one request (none sent on the closed one)")


@tap.case("a request on a reused connection that the upstream closes unanswered is sent again")
def _(env):
    check_answer(chat(env, "dropsecond"), "dropsecond", "first request")
    conns0, reqs0 = env.up.counts()
    # the kept connection takes the next request and closes without a byte
    check_answer(chat(env, "dropsecond"), "dropsecond", "second request")
    conns, reqs = env.up.counts()
    check_eq((conns - conns0, reqs - reqs0), (1, 2),
             "one more connection; the request read twice (dropped, then answered)")


@tap.case("a response header section over 64 KiB: 502 upstream_bad_response")
def _(env):
    resp = chat(env, "bighdr")
    check_error_body(resp, 502, "headers over the bound")
    check_eq(resp.json()["error"]["code"], "upstream_bad_response", "error code")
    # the gateway still serves
    check_answer(chat(env, "keep"), "keep", "the next request")


@tap.case("an api_base naming its host (localhost, from /etc/hosts) is resolved and kept alive")
def _(env):
    conns0, reqs0 = env.up.counts()
    for i in range(3):
        check_answer(chat(env, "keep", model="u-byname"), "keep", "request %d" % i)
    conns, reqs = env.up.counts()
    check_eq(reqs - reqs0, 3, "requests the upstream read")
    check(conns - conns0 <= 1, "%d connections for 3 requests in a row", conns - conns0)


@tap.case("an IPv6 api_base ([::1]) is served")
def _(env):
    if env.up6 is None:
        print("# no IPv6 loopback on this machine: nothing to check")
        return
    for i in range(2):
        check_answer(chat(env, "keep", model="u-v6"), "keep", "request %d" % i)
    check_eq(env.up6.counts(), (1, 2), "connections and requests of the IPv6 upstream")


@tap.case("backpressure: a client that stops reading stops the upstream being read, then all of it comes")
def _(env):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # no autotuning on our side
    c.settimeout(60)
    c.connect((HOST, env.gw.port))
    body = json.dumps({"model": "u-bigsse", "stream": True,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
              KEY.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    got = c.recv(4096)
    check(got.startswith(b"HTTP/1.1 200"), "status line %r", got[:60])
    total = BIG_EVENTS * (BIG_PIECE + 150)

    # the client reads nothing now: the upstream's sending must come to a stop
    last = [-1, time.monotonic()]

    def stalled():
        now, sent = time.monotonic(), env.up.big_sent
        if sent != last[0]:
            last[0], last[1] = sent, now
            return False
        return now - last[1] >= 1.0

    wait_for(stalled, 60, interval=0.1, what="the upstream's sending to stall")
    print("# the upstream stalled after %d of about %d bytes" % (env.up.big_sent, total))
    check(not env.up.big_done, "the whole 64 MB stream was read from the upstream (%d bytes) while "
          "the client read nothing: no backpressure" % env.up.big_sent)
    check(env.up.big_sent < total // 2, "%d bytes read from the upstream while the client read "
          "nothing" % env.up.big_sent)
    # now the client reads: everything comes, to the end
    n, tail = len(got), got[-64:]
    while True:
        data = c.recv(1 << 20)
        if not data:
            break
        n += len(data)
        tail = (tail + data)[-64:]
        if tail.endswith(b"0\r\n\r\n"):
            break
    c.close()
    check(b"data: [DONE]" in tail, "the stream's end: %r" % tail)
    check(n >= BIG_EVENTS * BIG_PIECE, "%d bytes reached the client" % n)
    check(env.up.big_done, "the upstream sent it all")


if __name__ == "__main__":
    main(tap, fixture)
