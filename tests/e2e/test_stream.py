# SPDX-License-Identifier: Apache-2.0
"""End-to-end: streamed chat completions (SSE) through aigw.

Events must be forwarded as they arrive, the usage chunk only when the client
asked for it (but always counted), upstream failures must end the stream with
an error event and no [DONE], and a client that leaves must cancel the upstream.
"""

import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, TAP, Response, chat_body, check, check_eq, check_error_body,
        last_body, main, mock_and_gateway, request, standard_resources, stream_text, unique_id,
        wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()


def resources(mock_port):
    """Standard resources plus a model with a 1 s stream_idle timeout and
    one with a 1 s first_byte timeout."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    models = [{"name": "mock-idle", "provider": "openai-compatible", "model": "idle-1",
               "api_base": base, "api_key": "${MOCK_KEY}",
               "timeouts": {"connect": "1s", "first_byte": "3s", "total": "20s",
                            "stream_idle": "1s"}},
              {"name": "mock-fb", "provider": "openai-compatible", "model": "fb-1",
               "api_base": base, "api_key": "${MOCK_KEY}",
               "timeouts": {"connect": "1s", "first_byte": "1s", "total": "20s"}}]
    return standard_resources(mock_port, models)


def fixture():
    return mock_and_gateway(resources=resources)


def tokens(n):
    return " ".join("tok%d" % i for i in range(n))


def json_events(events):
    return [e.json() for e in events if isinstance(e.json(), dict)]


def usage_chunks(events):
    """Events whose JSON has "choices": [] (the usage chunk)."""
    return [o for o in json_events(events) if o.get("choices") == []]


def error_events(events):
    return [o for o in json_events(events) if isinstance(o.get("error"), dict)]


def done_count(events):
    return sum(1 for e in events if e.is_done)


def describe(s):
    return "events %r (clean_end=%s error=%r)" % (s.received[-8:], s.clean_end, s.error)


def run_stream(env, body, key="sk-test-a", headers=None):
    """Open a stream, check the 200 and the SSE content type, read it all."""
    s = env.gw.stream(body, key=key, headers=headers)
    try:
        if s.status != 200:
            raise AssertionError("stream status %d: %r" % (s.status, s.resp.read()[:300]))
        ctype = s.headers.get("content-type", "")
        check(ctype.startswith("text/event-stream"), "content-type %r", ctype)
        s.read_all()
        return s
    finally:
        s.close()


def check_complete(s, chunks):
    """A full, successful stream of `chunks` tokens ending with one [DONE]."""
    ev = s.received
    check(ev and ev[-1].is_done, "stream does not end with [DONE]: %s", describe(s))
    check_eq(done_count(ev), 1, "[DONE] events")
    check(s.clean_end, "HTTP body did not end cleanly: %s", describe(s))
    check_eq(stream_text(ev), tokens(chunks), "streamed content")
    check(not error_events(ev), "error events in a good stream: %r", error_events(ev))


@tap.case("stream: role chunk, every piece in order, then [DONE]")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 3}))
    check_complete(s, 3)
    objs = json_events(s.received)
    first = objs[0]["choices"][0]["delta"]
    check_eq((first.get("role"), first.get("content")), ("assistant", ""), "first delta")
    pieces = [o["choices"][0]["delta"]["content"] for o in objs
              if o.get("choices") and "content" in (o["choices"][0].get("delta") or {})
              and o["choices"][0]["delta"]["content"]]
    check_eq(pieces, ["tok0", " tok1", " tok2"], "content pieces")


@tap.case("stream: without include_usage the usage chunk is not forwarded")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 3}))
    check_complete(s, 3)
    check_eq(usage_chunks(s.received), [], "usage chunks forwarded")
    # Nor the "usage": null the upstream adds to every chunk because aigw asked for usage.
    with_usage = [e.data for e in s.received if not e.is_done and "usage" in e.json()]
    check_eq(with_usage, [], "chunks with a usage field")


@tap.case("stream: the gateway asks the upstream for usage (stream_options.include_usage)")
def _(env):
    run_stream(env, chat_body(stream=True, mock={"chunks": 2}))
    body = last_body(env.mock.last())
    check_eq(body.get("model"), "mock-1", "upstream model")
    check_eq(body.get("stream"), True, "upstream stream")
    check_eq((body.get("stream_options") or {}).get("include_usage"), True,
             "upstream stream_options.include_usage")


@tap.case("stream: include_usage=false from the client is treated as not asked")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 2},
                                  stream_options={"include_usage": False}))
    check_complete(s, 2)
    check_eq(usage_chunks(s.received), [], "usage chunks forwarded")
    check_eq((last_body(env.mock.last()).get("stream_options") or {}).get("include_usage"), True,
             "upstream include_usage")


@tap.case("stream: with include_usage the usage chunk is forwarded, exact")
def _(env):
    s = run_stream(env, chat_body(content="one two three", stream=True, mock={"chunks": 4},
                                  stream_options={"include_usage": True}))
    check_complete(s, 4)
    u = usage_chunks(s.received)
    check_eq(len(u), 1, "usage chunks")
    check_eq(u[0].get("usage"), {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
             "usage")
    check(s.received[-2].json() == u[0], "the usage chunk is not right before [DONE]: %s",
          describe(s))


@tap.case("stream: events are forwarded as they arrive (delay_ms=300, chunks=3)")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 3, "delay_ms": 300}))
    check_complete(s, 3)
    first = next((e for e in s.received if stream_text([e])), None)
    end = s.received[-1].t
    check(first is not None, "no content event")
    check(end - first.t >= 0.35,
          "first content at %.3fs, end at %.3fs: events are buffered, not forwarded", first.t, end)
    check(s.t_headers - s.t0 < end - 0.3, "headers only came at the end (%.3fs)",
          s.t_headers - s.t0)


def access_for_stream(env, include_usage, chunks):
    rid = unique_id()
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    body = {"model": "mock-gpt", "stream": True, "mock": {"chunks": chunks},
            "messages": [{"role": "system", "content": "you are terse"},
                         {"role": "user", "content": " count  these words "}], **extra}
    s = run_stream(env, body, headers={"x-request-id": rid})
    check_complete(s, chunks)
    f = env.gw.access_line(rid)
    want = {"request_id": rid, "key": "team-a", "model": "mock-gpt", "status": 200,
            "stream": True, "prompt_tokens": 6, "completion_tokens": chunks,
            "total_tokens": 6 + chunks}
    check_eq({k: f[k] for k in want}, want, "access line fields (%s)" % f["line"])


@tap.case("access log of a stream with usage asked has exact token counts")
def _(env):
    access_for_stream(env, True, 5)


@tap.case("access log of a stream WITHOUT usage asked still has exact token counts")
def _(env):
    access_for_stream(env, False, 7)


@tap.case("stream responses carry x-request-id and x-aigw-config-version")
def _(env):
    rid = unique_id()
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 1}), headers={"x-request-id": rid})
    check_eq(s.headers.get("x-request-id"), rid, "x-request-id")
    v = s.headers.get("x-aigw-config-version")
    check(v is not None and v.isdigit(), "x-aigw-config-version %r", v)


@tap.case("client disconnect mid-stream cancels the upstream (mock aborted grows)")
def _(env):
    before = env.mock.stats().get("aborted", 0)
    s = env.gw.stream(chat_body(stream=True, mock={"chunks": 50, "delay_ms": 200}))
    try:
        check_eq(s.status, 200, "status")
        got = 0
        for _ in s.events():
            got += 1
            if got == 2:
                break
        check_eq(got, 2, "events read before leaving")
    finally:
        s.close()
    wait_for(lambda: env.mock.stats().get("aborted", 0) > before, 3.0 * SLOW,
             what="the mock's aborted counter to grow after the client left")


def check_failed_stream(s, what):
    ev = s.received
    check(error_events(ev), "%s: no error event: %s", what, describe(s))
    err = error_events(ev)[-1]["error"]
    check(isinstance(err.get("message"), str) and err["message"],
          "%s: error event without a message: %r", what, err)
    check_eq(done_count(ev), 0, what + ": [DONE] events")


@tap.case("upstream reset mid-stream: an error event and no [DONE]")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 6, "reset_after": 2}))
    check_failed_stream(s, "reset_after=2")


@tap.case("upstream closes without [DONE]: an error event and no [DONE]")
def _(env):
    s = run_stream(env, chat_body(stream=True, mock={"chunks": 6, "close_after": 2}))
    check_failed_stream(s, "close_after=2")


@tap.case("upstream silent longer than stream_idle: an error event and no [DONE]")
def _(env):
    t = time.monotonic()
    s = run_stream(env, chat_body(model="mock-idle", stream=True,
                                  mock={"chunks": 3, "delay_ms": 4000}))
    check_failed_stream(s, "stream_idle=1s, delay_ms=4000")
    check(time.monotonic() - t < 8, "the idle stream took %.1fs to end", time.monotonic() - t)


class SmallWindowConnection(http.client.HTTPConnection):
    """An HTTP connection whose socket has a 4 KiB receive buffer (set before
    connect, so that the TCP window is small): a client that reads slowly."""

    def connect(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


@tap.case("a client slower than the upstream for longer than stream_idle: the paused time "
          "does not count, the stream ends with all its content and [DONE]")
def _(env):
    # 4 MB in 2000 events: far more than aigw keeps for a client (256 KiB) plus what the
    # sockets hold, so the upstream is paused while the client does not read for 3 x the
    # model's stream_idle (1 s)
    piece = "abcdefghijklmnopqrstuvwxyz0123456789" * 56
    content = piece * 2000
    conn = SmallWindowConnection(HOST, env.gw.port, timeout=30 * SLOW)
    try:
        conn.request("POST", "/v1/chat/completions", json.dumps(chat_body(
            model="mock-idle", stream=True, mock={"content": content, "chunks": 2000})),
            {"Authorization": "Bearer sk-test-a", "Content-Type": "application/json"})
        resp = conn.getresponse()
        check_eq(resp.status, 200, "status")
        time.sleep(3.0)  # a slow client: aigw pauses reading the upstream
        rest = resp.read()
    finally:
        conn.close()
    text = rest.decode("utf-8", "replace")
    check("upstream_timeout" not in text and '"error"' not in text,
          "the stream ended with an error: %r", text[-600:])
    check("data: [DONE]" in text, "no [DONE]; the end: %r", text[-600:])
    got = "".join(
        (o.get("choices") or [{}])[0].get("delta", {}).get("content") or ""
        for o in (json.loads(line[6:]) for line in text.split("\n")
                  if line.startswith("data: {")))
    check_eq(len(got), len(content), "content characters received")


@tap.case("a stream the upstream refuses (429) gets the upstream's status and JSON body")
def _(env):
    body = chat_body(stream=True, mock={"status": 429})
    s = env.gw.stream(body)
    try:
        status, raw = s.status, s.resp.read()
    finally:
        s.close()
    direct = request(env.mock.port, "POST", "/v1/chat/completions",
                     dict(body, model="mock-1"), key=MOCK_KEY)
    check_eq(direct.status, 429, "the mock's own status")
    check_eq(status, 429, "status through aigw (body %r)" % raw[:300])
    check_eq(json.loads(raw), direct.json(), "body through aigw vs. the mock's own")


@tap.case("a stream whose upstream never answers gets a 504 error (first_byte 1s)")
def _(env):
    t = time.monotonic()
    s = env.gw.stream(chat_body(model="mock-fb", stream=True, mock={"hang": True}))
    try:
        resp = Response(s.status, s.headers, s.resp.read())
    finally:
        s.close()
    took = time.monotonic() - t
    check_error_body(resp, 504)
    check(0.8 <= took < 8, "504 came after %.2fs, expected about 1s", took)


@tap.case("four concurrent streams each get their own complete content")
def _(env):
    results = {}

    def one(n):
        try:
            results[n] = run_stream(env, chat_body(stream=True,
                                                   mock={"chunks": 3 + n, "delay_ms": 50}))
        except Exception as exc:  # noqa: BLE001 - checked below
            results[n] = exc
    threads = [threading.Thread(target=one, args=(n,), daemon=True) for n in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for n in range(4):
        r = results.get(n)
        check(r is not None and not isinstance(r, Exception), "stream %d: %r", n, r)
        check_complete(r, 3 + n)


if __name__ == "__main__":
    main(tap, fixture)
