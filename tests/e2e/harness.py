# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for aigw's end-to-end tests (Python 3 standard library only).

Every test file builds a TAP object, registers its cases with @tap.case(name),
and calls tap.run(fixture) where fixture is a context manager that starts what
the cases share (usually one Mock and one Gateway) and yields it to each case.

Processes are started only from here, remembered by PID, and always stopped
(SIGTERM, then SIGKILL after a deadline) by try/finally, atexit and a watchdog.
Traffic goes to 127.0.0.1 only, and every wait polls with a deadline.

Environment: AIGW_BIN, AIGW_MOCK_BIN, AIGW_SRCDIR (set by `make check`; when
unset, the binaries are looked for in the source tree this file lives in).
"""

import atexit
import base64
import contextlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRCDIR = os.environ.get("AIGW_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
AIGW_BIN = os.environ.get("AIGW_BIN") or os.path.join(SRCDIR, "src", "aigw")
MOCK_BIN = os.environ.get("AIGW_MOCK_BIN") or os.path.join(SRCDIR, "tests", "mock", "aigw-mock")

HOST = "127.0.0.1"
# Under AddressSanitizer everything is several times slower: waits are deadlines
# for polls, so being generous costs nothing when things work.
SLOW = float(os.environ.get("AIGW_E2E_SLOW", "1"))
START_TIMEOUT = 20.0 * SLOW
STOP_TIMEOUT = 15.0 * SLOW
HTTP_TIMEOUT = 15.0 * SLOW
# A test file must end well under a minute (times AIGW_E2E_SLOW): the watchdog
# bails out before. AIGW_E2E_FILE_DEADLINE, when set, is taken as it is.
FILE_DEADLINE = float(os.environ.get("AIGW_E2E_FILE_DEADLINE") or 55.0 * SLOW)
# The version of the control socket's protocol (see control_call).
CONTROL_PROTOCOL = 1


class TestFailure(AssertionError):
    """An assertion of a test case failed; the message says what and why."""


# --------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


_dead_sockets = []  # bound, never listening, kept for the life of the test file


def dead_port():
    """A port where nothing listens: bound without listen() and kept bound
    until the test file ends, so that connections to it are refused and no
    other process (another test file's etcd or mock, run in parallel) can
    take it in the meantime."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    _dead_sockets.append(s)
    return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    """Poll predicate() until it returns a true value; return that value.

    Raises TestFailure naming `what` when the deadline passes. A TestFailure
    raised by the predicate ends the wait at once; other exceptions count as
    "not yet" and the last one is reported.
    """
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except TestFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - polled, reported below
            last_exc = exc
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise TestFailure("timed out after %.1fs waiting for %s%s" % (timeout, what, extra))
        time.sleep(interval)


def check(cond, msg, *args):
    """Fail the current case with msg % args unless cond is true."""
    if not cond:
        raise TestFailure(msg % args if args else msg)


def check_eq(actual, expected, what):
    """Fail unless actual == expected, showing both."""
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


def pid_alive(pid):
    """True when a process with this PID exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return False


def children_of(pid):
    """PIDs of the live children of pid (from /proc, with a full-scan fallback)."""
    path = "/proc/%d/task/%d/children" % (pid, pid)
    try:
        with open(path) as f:
            pids = [int(x) for x in f.read().split()]
    except OSError:
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(p for p in pids if pid_alive(p))


def proc_exe(pid):
    """The executable path of pid, or ''."""
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


# --------------------------------------------------------------------------
# Process bookkeeping: everything we start is stopped, whatever happens
# --------------------------------------------------------------------------

_live = []      # objects with a .kill_now() method
_tmpdirs = []   # temp dirs to remove at exit
_gateways = []  # every Gateway made, for the final health check


def _register(obj):
    _live.append(obj)


def register_cleanup(obj):
    """Have cleanup_all() call obj.kill_now() at exit, on a signal or when
    the watchdog fires: for what a test starts without Mock or Gateway."""
    _register(obj)


def _unregister(obj):
    if obj in _live:
        _live.remove(obj)


def make_tmpdir(prefix="aigw-e2e-"):
    """A temp dir removed at exit."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def cleanup_all():
    """Stop every process still running and remove temp dirs (idempotent)."""
    for obj in list(_live):
        try:
            obj.kill_now()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    _live.clear()
    if not os.environ.get("AIGW_E2E_KEEP"):
        for d in list(_tmpdirs):
            shutil.rmtree(d, ignore_errors=True)
        _tmpdirs.clear()


atexit.register(cleanup_all)


def _on_signal(signum, frame):
    """SIGTERM/SIGINT from the test driver: clean up, then exit."""
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def terminate_pid(pid, popen=None, timeout=STOP_TIMEOUT):
    """SIGTERM pid, wait up to timeout, then SIGKILL. Returns the exit status
    when popen (our own child) is given, else None."""
    if popen is not None and popen.poll() is not None:
        return popen.returncode
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None:
            if popen.poll() is not None:
                return popen.returncode
        elif not pid_alive(pid):
            return None
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if popen is not None:
        try:
            return popen.wait(timeout=5)
        except Exception:  # noqa: BLE001
            return None
    return None


# --------------------------------------------------------------------------
# A tiny YAML writer (block style, so line numbers are predictable)
# --------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z0-9_/.$\[][A-Za-z0-9_/.:${}\[\]@+-]*$")
_NOT_PLAIN = re.compile(
    r"^(?:[-+]?[0-9][0-9_.eE+-]*|0x[0-9a-fA-F]+|true|false|yes|no|on|off|null|~|y|n)$", re.I)


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and not _NOT_PLAIN.match(s) and not s.startswith("["):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    """Render dicts, lists and scalars as block-style YAML text."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 2)))
            elif isinstance(v, (dict, list)):
                lines.append("%s%s: %s\n" % (pad, k, "{}" if isinstance(v, dict) else "[]"))
            else:
                lines.append("%s%s: %s\n" % (pad, k, _yaml_scalar(v)))
        return "".join(lines)
    if isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        for v in obj:
            if isinstance(v, dict) and v:
                inner = to_yaml(v, indent + 2)
                lines.append(pad + "- " + inner[indent + 2:])
            elif isinstance(v, list) and v:
                lines.append(pad + "-\n" + to_yaml(v, indent + 2))
            else:
                lines.append("%s- %s\n" % (pad, _yaml_scalar(v)))
        return "".join(lines)
    return pad + _yaml_scalar(obj) + "\n"


def write_file(path, content):
    """Write text (a str, or a dict/list rendered as YAML) atomically."""
    text = content if isinstance(content, str) else to_yaml(content)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------

class Response:
    """A complete HTTP response: status, headers (lowercased keys), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def json(self):
        """The body parsed as JSON (TestFailure when it is not JSON)."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TestFailure("response body is not JSON (%s): %r" % (exc, self.body[:500]))

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:300])


def _encode_body(body, headers):
    if body is None:
        return None
    if isinstance(body, (dict, list)):
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return body


def _lower_headers(msg):
    """Lowercased header dict; repeated headers are joined with ', '."""
    out = {}
    for k, v in msg.items():
        k = k.lower()
        out[k] = out[k] + ", " + v if k in out else v
    return out


def request(port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT, conn=None,
            key=None):
    """One HTTP/1.1 request to 127.0.0.1:port; returns a Response.

    body: dict/list (sent as JSON), str or bytes. key: sent as a Bearer token.
    conn: an http.client.HTTPConnection to reuse (keep-alive); else a fresh
    connection is opened and closed.
    """
    headers = dict(headers or {})
    if key is not None:
        headers.setdefault("Authorization", "Bearer " + key)
    data = _encode_body(body, headers)
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, _lower_headers(resp.msg), payload)
    finally:
        if own:
            conn.close()


def chat_body(model="mock-gpt", content="hello world", stream=False, mock=None, **extra):
    """A chat completion request body with one user message."""
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    if mock:
        body["mock"] = mock
    body.update(extra)
    return body


def send_streaming_body(port, method, path, headers, chunks, timeout=HTTP_TIMEOUT,
                        chunked=False):
    """Send a request whose body goes out piece by piece, stopping as soon as
    the server answers (so an early 413 can be read before the body ends).

    chunks: iterable of bytes. chunked: use Transfer-Encoding: chunked, else
    the caller's headers must carry Content-Length. Returns (Response or None,
    send_error or None).
    """
    sock = socket.create_connection((HOST, port), timeout=timeout)
    try:
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (method, path, HOST, port)
        hdrs = dict(headers)
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        send_error = None
        try:
            sock.sendall(head.encode())
            for piece in chunks:
                r, _, _ = select.select([sock], [], [], 0)
                if r:
                    break  # the server already answered
                data = (b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece
                sock.sendall(data)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            send_error = exc
        try:
            resp = http.client.HTTPResponse(sock, method=method)
            resp.begin()
            body = resp.read()
            return Response(resp.status, _lower_headers(resp.msg), body), send_error
        except (OSError, http.client.HTTPException) as exc:
            return None, send_error or exc
    finally:
        sock.close()


class SSEEvent:
    """One Server-Sent Event: its data text, event name, and arrival time."""

    def __init__(self, data, event, t):
        self.data = data
        self.event = event
        self.t = t

    @property
    def is_done(self):
        return self.data.strip() == "[DONE]"

    def json(self):
        """data parsed as JSON, or None for [DONE] / non-JSON data."""
        if self.is_done:
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            return None

    def __repr__(self):
        return "<SSE %s%r @%.3f>" % (self.event + " " if self.event else "", self.data[:200], self.t)


class Stream:
    """A streaming request whose SSE events are read as they arrive.

    s = Stream(port, "/v1/chat/completions", body, key="sk-...")
    s.status, s.headers; for ev in s.events(): ...; s.close() at any time.
    After events() ends: s.clean_end is True when the HTTP body ended properly
    (terminal chunk / EOF of a close-delimited body), s.error holds a read error.
    """

    def __init__(self, port, path, body, key=None, headers=None, timeout=HTTP_TIMEOUT,
                 method="POST"):
        hdrs = dict(headers or {})
        if key is not None:
            hdrs.setdefault("Authorization", "Bearer " + key)
        hdrs.setdefault("Accept", "text/event-stream")
        data = _encode_body(body, hdrs)
        self.t0 = time.monotonic()
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        try:
            self.conn.request(method, path, body=data, headers=hdrs)
            self.resp = self.conn.getresponse()
        except BaseException:
            self.conn.close()
            raise
        self.t_headers = time.monotonic()
        self.status = self.resp.status
        self.headers = _lower_headers(self.resp.msg)
        self.raw = b""
        self.received = []
        self.clean_end = False
        self.error = None
        self._buf = b""

    def _parse(self, now):
        """Split complete events off the buffer."""
        out = []
        while True:
            m = re.search(rb"\r\n\r\n|\n\n|\r\r", self._buf)
            if not m:
                return out
            block, self._buf = self._buf[:m.start()], self._buf[m.end():]
            data_lines, event = [], None
            for line in re.split(rb"\r\n|\n|\r", block):
                if line.startswith(b":"):
                    continue
                name, _, value = line.partition(b":")
                if value.startswith(b" "):
                    value = value[1:]
                if name == b"data":
                    data_lines.append(value.decode("utf-8", "replace"))
                elif name == b"event":
                    event = value.decode("utf-8", "replace")
            if data_lines or event:
                out.append(SSEEvent("\n".join(data_lines), event, now - self.t0))

    def events(self):
        """Yield each SSEEvent as soon as it is complete."""
        while True:
            try:
                data = self.resp.read1(65536)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.error = exc
                return
            now = time.monotonic()
            if not data:
                self.clean_end = True
                return
            self.raw += data
            self._buf += data
            for ev in self._parse(now):
                self.received.append(ev)
                yield ev

    def read_all(self):
        """Read to the end; return every event."""
        for _ in self.events():
            pass
        return self.received

    def close(self):
        """Stop reading and close the socket (the client goes away)."""
        try:
            if self.conn.sock is not None:
                self.conn.sock.close()
        except OSError:
            pass
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def stream_text(events):
    """Concatenated delta contents of chat stream events."""
    out = []
    for ev in events:
        obj = ev.json()
        if not isinstance(obj, dict):
            continue
        for ch in obj.get("choices") or []:
            delta = ch.get("delta") or {}
            if isinstance(delta.get("content"), str):
                out.append(delta["content"])
    return "".join(out)


def check_error_body(resp, status, what=""):
    """Assert resp is an aigw/OpenAI-style error with the given status."""
    label = (what + ": ") if what else ""
    check(resp.status == status, "%sexpected status %d, got %d; body %r",
          label, status, resp.status, resp.body[:500])
    obj = resp.json()
    check(isinstance(obj, dict) and isinstance(obj.get("error"), dict),
          "%sbody is not {\"error\": {...}}: %r", label, obj)
    err = obj["error"]
    check(isinstance(err.get("message"), str) and err["message"],
          "%serror.message must be a non-empty string: %r", label, err)
    check(isinstance(err.get("type"), str) and err["type"],
          "%serror.type must be a non-empty string: %r", label, err)
    for k in ("param", "code"):
        check(k in err, "%serror.%s is missing: %r", label, k, err)
        check(err[k] is None or isinstance(err[k], str),
              "%serror.%s must be a string or null: %r", label, k, err)
    ctype = resp.headers.get("content-type", "")
    check("application/json" in ctype, "%serror content-type is %r", label, ctype)
    check(resp.headers.get("x-request-id"), "%serror response has no x-request-id", label)
    return err


# --------------------------------------------------------------------------
# Bounded load generator
# --------------------------------------------------------------------------

class Load:
    """N threads each doing requests until a deadline or a max count.

    make_request(i) -> Response (or raises); every outcome is recorded as
    (t_start, t_end, status or None, error repr or None). Use as a context
    manager or call start() / join().
    """

    def __init__(self, make_request, threads=4, duration=4.0, max_count=400):
        self.make_request = make_request
        self.threads = threads
        self.duration = duration
        self.max_count = max_count
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def _worker(self, n):
        deadline = time.monotonic() + self.duration
        for i in range(self.max_count):
            if self._stop.is_set() or time.monotonic() >= deadline:
                return
            t = time.monotonic()
            try:
                resp = self.make_request(n * self.max_count + i)
                rec = (t, time.monotonic(), resp.status, None)
            except Exception as exc:  # noqa: BLE001 - recorded as a failure
                rec = (t, time.monotonic(), None, repr(exc))
            with self._lock:
                self.results.append(rec)

    def start(self):
        for n in range(self.threads):
            th = threading.Thread(target=self._worker, args=(n,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self):
        self._stop.set()

    def join(self, timeout=None):
        limit = timeout if timeout is not None else self.duration + HTTP_TIMEOUT + 5
        deadline = time.monotonic() + limit
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        alive = [th for th in self._threads if th.is_alive()]
        if alive:
            raise TestFailure("%d load threads still running after %.1fs" % (len(alive), limit))
        return self.results

    def count(self):
        with self._lock:
            return len(self.results)

    def failures(self, ok=(200,), since=None):
        """Records whose status is not in ok (or that raised); optionally only
        those started at/after monotonic time `since`."""
        with self._lock:
            res = list(self.results)
        return [r for r in res if (since is None or r[0] >= since) and r[2] not in ok]

    def summary(self):
        with self._lock:
            res = list(self.results)
        by = {}
        for r in res:
            k = r[2] if r[2] is not None else "exc"
            by[k] = by.get(k, 0) + 1
        return "%d requests: %s" % (len(res), ", ".join("%s=%d" % kv for kv in sorted(
            by.items(), key=lambda kv: str(kv[0]))))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.join()


class MixedLoad:
    """Clients that each keep one connection alive and send chat requests on
    it one after the other, every other one streamed, until stop() or a
    deadline: the traffic a reload or an upgrade must not disturb.

    A failure is a request that raised, a status other than 200, or a stream
    whose body does not end with `data: [DONE]`. A connection the server
    closed after a response (Connection: close) is opened again by
    http.client, as any client does; nothing is retried.

    with MixedLoad(port, key) as load: ...; load.failures, load.summary()
    """

    def __init__(self, port, key, threads=6, duration=30.0, model="mock-gpt",
                 stream_mock=None, plain_mock=None):
        self.port = port
        self.key = key
        self.threads = threads
        self.duration = duration
        self.model = model
        self.stream_mock = stream_mock or {"chunks": 5, "delay_ms": 20}
        self.plain_mock = plain_mock or {"chunks": 2}
        self.failures = []          # (monotonic time, thread, what)
        self.ok = {"plain": 0, "stream": 0}
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def _one(self, conn, streamed):
        body = chat_body(model=self.model, stream=streamed,
                         mock=self.stream_mock if streamed else self.plain_mock)
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body).encode(),
                     headers={"Authorization": "Bearer " + self.key,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            return "status %d: %r" % (resp.status, data[:200])
        if streamed and not data.rstrip().endswith(b"data: [DONE]"):
            return "stream without [DONE]: ...%r" % data[-200:]
        return None

    def _worker(self, n):
        deadline = time.monotonic() + self.duration
        conn = http.client.HTTPConnection(HOST, self.port, timeout=HTTP_TIMEOUT)
        i = n
        while not self._stop.is_set() and time.monotonic() < deadline:
            streamed = i % 2 == 1
            i += 1
            if conn.sock is None:
                with self._lock:
                    self.connections += 1
            try:
                problem = self._one(conn, streamed)
            except Exception as exc:  # noqa: BLE001 - recorded as a failure
                problem = "%s: %r" % ("stream" if streamed else "plain", exc)
                conn.close()
            with self._lock:
                if problem is None:
                    self.ok["stream" if streamed else "plain"] += 1
                else:
                    self.failures.append((time.monotonic(), n, problem))
        conn.close()

    def count(self):
        with self._lock:
            return self.ok["plain"] + self.ok["stream"] + len(self.failures)

    def start(self):
        for n in range(self.threads):
            th = threading.Thread(target=self._worker, args=(n,), daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self):
        self._stop.set()

    def join(self, timeout=None):
        limit = timeout if timeout is not None else HTTP_TIMEOUT + 5
        deadline = time.monotonic() + limit
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        alive = [th for th in self._threads if th.is_alive()]
        if alive:
            raise TestFailure("%d load threads still running after %.1fs" % (len(alive), limit))

    def summary(self):
        with self._lock:
            return "%d plain and %d streamed requests ok, %d failed, %d connections" % (
                self.ok["plain"], self.ok["stream"], len(self.failures), self.connections)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.join()


# --------------------------------------------------------------------------
# Rate limits: bursts, fixed UTC windows, x-ratelimit-* headers, refusals
# --------------------------------------------------------------------------

def window_left(period, at=None):
    """Seconds until the fixed UTC window of `period` seconds (60: a minute,
    86400: a day) that holds wall-clock time `at` (default: now) ends."""
    return period - ((time.time() if at is None else at) % period)


def minute_room(need=12.0):
    """Make sure at least `need` seconds are left in the current UTC minute
    (and day), waiting for the next one if not: a burst counted per minute
    must not straddle a boundary. Waits at most need + 1 s."""
    check(need < 50, "minute_room(%r): too long to fit in one minute", need)
    left = min(window_left(60), window_left(86400))
    if left < need:
        time.sleep(left + 0.3)


def words(n):
    """n distinct words: the mock counts them as n prompt tokens."""
    return " ".join("w%d" % i for i in range(n))


def usage_body(model, prompt_words=5, chunks=1, stream=False, mock=None, **extra):
    """A chat body whose real usage (as the mock reports it) is
    prompt_words + chunks total tokens."""
    m = {"chunks": chunks}
    m.update(mock or {})
    return chat_body(model=model, content=words(prompt_words), stream=stream, mock=m, **extra)


def body_bytes(body):
    """The size of a dict body as request() sends it."""
    return len(json.dumps(body).encode())


def chat_ok(port, key="sk-test-a", timeout=10):
    """One chat request on a new connection to port; fails unless 200."""
    resp = request(port, "POST", "/v1/chat/completions", chat_body(), key=key,
                   timeout=timeout * SLOW)
    check(resp.status == 200, "chat on port %d: %d %r", port, resp.status, resp.body[:300])
    return resp


def post_chat(port, key, body, timeout=HTTP_TIMEOUT):
    """POST /v1/chat/completions on a fresh connection (a stream is read to
    its end); the Response's t is the wall-clock time it was complete."""
    resp = request(port, "POST", "/v1/chat/completions", body, key=key, timeout=timeout)
    resp.t = time.time()
    return resp


def burst(n, threads, make, timeout=30.0 * SLOW):
    """Send n requests over `threads` threads, all starting together;
    make(i) -> Response (use a fresh connection per request). Returns the
    responses in order of i, each with t (wall-clock time it was complete);
    fails if any request raised."""
    results = [None] * n
    lock = threading.Lock()
    nxt = [0]
    barrier = threading.Barrier(threads)

    def run():
        try:
            barrier.wait(timeout=10)
        except threading.BrokenBarrierError:
            pass
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            try:
                results[i] = make(i)
                results[i].t = time.time()
            except Exception as exc:  # noqa: BLE001 - reported below
                results[i] = exc
    ths = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for th in ths:
        th.start()
    deadline = time.monotonic() + timeout
    for th in ths:
        th.join(max(0.0, deadline - time.monotonic()))
    check(not any(th.is_alive() for th in ths), "burst of %d still running after %.0fs", n,
          timeout)
    errors = [r for r in results if not hasattr(r, "status")]
    check(not errors, "%d of %d requests failed without an answer: %r", len(errors), n,
          errors[:3])
    return results


def statuses(resps):
    """{status: count} of a list of Responses."""
    by = {}
    for r in resps:
        by[r.status] = by.get(r.status, 0) + 1
    return by


_RESET_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def parse_reset(text):
    """"23s", "1m5s", "250ms", "2h3m4s" -> seconds; TestFailure otherwise."""
    m = _RESET_RE.match(text or "")
    check(m is not None and text, "x-ratelimit-reset-* %r is not like 23s, 1m5s, 250ms", text)
    h, mi, s, ms = m.groups()
    return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0) + int(ms or 0) / 1000.0


def rl_headers(resp, kind, what):
    """(limit, remaining, reset seconds) of x-ratelimit-*-<kind> (kind:
    requests or tokens), checked to be there and well formed."""
    vals = []
    for part in ("limit", "remaining", "reset"):
        name = "x-ratelimit-%s-%s" % (part, kind)
        v = resp.headers.get(name)
        check(v is not None, "%s: no %s header (status %d, headers %r)", what, name,
              resp.status, resp.headers)
        vals.append(v)
    for name, v in (("limit", vals[0]), ("remaining", vals[1])):
        check(re.match(r"^\d+$", v), "%s: x-ratelimit-%s-%s is not an integer: %r", what, name,
              kind, v)
    return int(vals[0]), int(vals[1]), parse_reset(vals[2])


def no_rl_headers(resp, what):
    """Fail when resp carries any x-ratelimit-* header."""
    bad = sorted(h for h in resp.headers if h.startswith("x-ratelimit"))
    check(not bad, "%s: unexpected headers %s (status %d)", what, bad, resp.status)


def retry_after(resp, what):
    """Retry-After as integer seconds (fails when absent or not one)."""
    ra = resp.headers.get("retry-after")
    check(ra is not None and re.match(r"^\d+$", ra), "%s: Retry-After %r is not integer "
          "seconds", what, ra)
    return int(ra)


def near(actual, expected, what, slack=3.0):
    """Fail unless actual is within slack of expected."""
    check(abs(actual - expected) <= slack, "%s: %r, expected about %.1f (within %.0fs)", what,
          actual, expected, slack)


def check_rate_refusal(resp, typ, code, what, period=None, msg_re=None, secrets=()):
    """A 429 of the limiter: error type and code, message matching msg_re,
    integer Retry-After (in 1..period and about the end of the window when
    period is given), none of secrets in the body. Returns the error."""
    err = check_error_body(resp, 429, what)
    check_eq(err.get("code"), code, "%s: error code" % what)
    check_eq(err.get("type"), typ, "%s: error type" % what)
    check_eq(err.get("param"), None, "%s: error param" % what)
    if msg_re is not None:
        check(re.match(msg_re, err["message"]), "%s: message %r does not match %r", what,
              err["message"], msg_re)
    ra = retry_after(resp, what)
    if period is not None:
        check(1 <= ra <= period, "%s: Retry-After %d is not in 1..%d", what, ra, period)
        near(ra, window_left(period, getattr(resp, "t", None)), "%s: Retry-After" % what)
    text = resp.body.decode("utf-8", "replace")
    for secret in secrets:
        check(secret not in text, "%s: a client key shows in the error body", what)
    return err


def check_request_burst(resps, limit, what, period, msg_re=None, secrets=()):
    """Exactly `limit` 200s, the others 429 rate_limit_exceeded (type
    requests); every response with x-ratelimit-*-requests (limit `limit`,
    remaining 0 on a 429, reset at the end of the window)."""
    by = statuses(resps)
    check(by.get(200, 0) == limit and by.get(429, 0) == len(resps) - limit,
          "%s: expected %d x 200 and %d x 429, got %r", what, limit, len(resps) - limit, by)
    for i, r in enumerate(resps):
        lim, rem, reset = rl_headers(r, "requests", "%s, request %d (%d)" % (what, i, r.status))
        check_eq(lim, limit, "%s: x-ratelimit-limit-requests" % what)
        check(0 <= rem <= limit - 1, "%s: x-ratelimit-remaining-requests %d not in 0..%d",
              what, rem, limit - 1)
        check(0 <= reset <= period, "%s: x-ratelimit-reset-requests %.1fs not in 0..%d", what,
              reset, period)
        near(reset, window_left(period, getattr(r, "t", None)),
             "%s: x-ratelimit-reset-requests" % what)
        if r.status == 429:
            check_eq(rem, 0, "%s: x-ratelimit-remaining-requests of a 429" % what)
            check_rate_refusal(r, "requests", "rate_limit_exceeded",
                               "%s, request %d" % (what, i), period, msg_re, secrets)


# --------------------------------------------------------------------------
# The mock upstream
# --------------------------------------------------------------------------

class LogFile:
    """Reading a process's log file (self.logpath): for Mock, Etcd and Gateway."""

    log_tail_lines = 40

    def log(self):
        """Everything the process wrote to stdout/stderr so far."""
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=None):
        return "\n".join(self.log().splitlines()[-(n or self.log_tail_lines):])

    def log_size(self):
        try:
            return os.path.getsize(self.logpath)
        except OSError:
            return 0

    def log_since(self, offset):
        """Log text written after byte offset (from log_size())."""
        try:
            with open(self.logpath, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Mock(LogFile):
    """The aigw-mock upstream on 127.0.0.1 with an ephemeral port.

    m = Mock(key="mock-secret"); m.port; m.stats(); m.last(); m.reset(); m.stop();
    m.configure(status=500) (defaults for later requests; m.configure() clears)
    """

    def __init__(self, key=None, binary=None):
        self.dir = make_tmpdir("aigw-mock-")
        self.portfile = os.path.join(self.dir, "port")
        self.logpath = os.path.join(self.dir, "mock.log")
        self.key = key
        self.binary = binary or MOCK_BIN
        self.proc = None
        self.port = None
        self.start()

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise TestFailure("mock binary %s is missing or not executable" % self.binary)
        args = [self.binary, "-l", "%s:0" % HOST, "-p", self.portfile]
        if self.key:
            args += ["-k", self.key]
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        _register(self)

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("mock exited with %s: %s" % (self.proc.returncode, self.log()[-2000:]))
            try:
                with open(self.portfile) as f:
                    text = f.read().strip()
            except OSError:
                return None
            return int(text) if text.isdigit() else None

        self.port = wait_for(ready, START_TIMEOUT, what="the mock's port file")
        return self

    def _get(self, path, method="GET"):
        resp = request(self.port, method, path)
        if resp.status != 200:
            raise TestFailure("mock %s %s answered %d: %r" % (method, path, resp.status, resp.body))
        return resp.json() if resp.body.strip() else {}

    def stats(self):
        """GET /mock/stats as a dict."""
        return self._get("/mock/stats")

    def last(self):
        """GET /mock/last: the last request the mock received, as a dict."""
        return self._get("/mock/last")

    def reset(self):
        """Zero the mock's counters (the default controls stay)."""
        return self._get("/mock/reset", method="POST")

    def configure(self, **controls):
        """POST /mock/config: controls (status=500, retry_after="5", hang=True,
        reset_before_response=True, ...) become this instance's defaults for
        every later /v1 request; a request's own controls still override them.
        configure() with no arguments clears them. Returns the new defaults."""
        resp = request(self.port, "POST", "/mock/config", body=controls)
        if resp.status != 200:
            raise TestFailure("mock POST /mock/config %r answered %d: %r" % (
                controls, resp.status, resp.body))
        return resp.json()

    def config(self):
        """GET /mock/config: the default controls, as a dict."""
        return self._get("/mock/config")

    @contextlib.contextmanager
    def controls(self, **controls):
        """configure(**controls) for the length of a with block, cleared
        after it whatever happens: for controls that a translated request
        cannot carry in its body (a provider's translation drops "mock")."""
        self.configure(**controls)
        try:
            yield self
        finally:
            self.configure()

    def requests(self):
        """How many /v1 requests the mock received since start or reset()."""
        return self.stats()["requests"]

    def url(self):
        return "http://%s:%d/v1" % (HOST, self.port)

    def stop(self):
        """SIGTERM (then SIGKILL); returns the exit status."""
        if self.proc is None:
            return None
        rc = terminate_pid(self.proc.pid, self.proc)
        _unregister(self)
        return rc

    def kill_now(self):
        if self.proc is not None and self.proc.poll() is None:
            terminate_pid(self.proc.pid, self.proc, timeout=3)


def mock_text(chunks):
    """The text the mock answers in `chunks` pieces: "tok0 tok1 ..."."""
    return " ".join("tok%d" % i for i in range(chunks))


# Where each provider's API lives on the mock, as a target's api_base.
MOCK_API_BASE = {"openai": "/v1", "openai-compatible": "/v1", "azure-openai": "",
                 "anthropic": "/v1", "gemini": "/v1beta"}


def mock_model(mock_port, name, provider, model, api_key="${MOCK_KEY}", **extra):
    """A one-target Model on the mock's routes of `provider` (a resources
    entry): api_base as that provider's paths expect it; extra adds fields
    (api_version, max_tokens, limits, timeouts...)."""
    m = {"name": name, "provider": provider, "model": model,
         "api_base": "http://%s:%d%s" % (HOST, mock_port, MOCK_API_BASE[provider]),
         "api_key": api_key}
    m.update(extra)
    return m


def last_body(last):
    """The JSON body of the mock's last request (parsed when sent as text)."""
    body = last.get("body") if isinstance(last, dict) else None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    return body


def last_header(last, name):
    """A header of the mock's last request, by case-insensitive name, or None."""
    headers = last.get("headers") if isinstance(last, dict) else None
    if isinstance(headers, dict):
        for k, v in headers.items():
            if k.lower() == name.lower():
                return v
    elif isinstance(headers, list):
        for item in headers:
            if isinstance(item, (list, tuple)) and len(item) == 2 and item[0].lower() == name.lower():
                return item[1]
            if isinstance(item, dict) and str(item.get("name", "")).lower() == name.lower():
                return item.get("value")
    return None


# --------------------------------------------------------------------------
# etcd (Debian's etcd 3.4), for the tests of etcd mode
# --------------------------------------------------------------------------

ETCD_BIN = os.environ.get("AIGW_ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
ETCDCTL_BIN = os.environ.get("AIGW_ETCDCTL_BIN") or shutil.which("etcdctl") or "/usr/bin/etcdctl"


def _b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def _prefix_end(prefix):
    """etcd's range_end for every key starting with prefix (bytes)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xff:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


class Etcd(LogFile):
    """A one-member etcd on 127.0.0.1 (free client and peer ports) with a data
    dir of its own, and a small client for its v3 JSON gateway.

    e = Etcd(); e.url(); e.put(key, value) -> revision; e.get(key);
    e.get_kv(key); e.get_prefix(prefix); e.delete(key); e.compact(rev);
    e.revision(); e.etcdctl("get", key); e.stop(); e.kill(); e.start();
    e.restart() (same ports, same data dir). Values are bytes, str, or a
    dict/list (stored as JSON); get() returns bytes or None.
    """

    log_tail_lines = 20

    def __init__(self, start=True, binary=None):
        self.binary = binary or ETCD_BIN
        self.dir = make_tmpdir("aigw-etcd-")
        self.data_dir = os.path.join(self.dir, "data")
        self.logpath = os.path.join(self.dir, "etcd.log")
        self.port = free_port()
        self.peer_port = free_port()
        self.name = "e2e-%d" % os.getpid()
        self.proc = None
        self.stop_codes = []
        self._started = False
        if start:
            self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def _args(self):
        client = self.url()
        peer = "http://%s:%d" % (HOST, self.peer_port)
        return [self.binary, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "%s=%s" % (self.name, peer),
                "--initial-cluster-state", "new",
                "--initial-cluster-token", "aigw-e2e-%d-%d" % (os.getpid(), self.peer_port),
                "--heartbeat-interval", "50", "--election-timeout", "250",
                "--logger", "zap", "--log-outputs", "stderr"]

    def start(self, timeout=START_TIMEOUT):
        """Start etcd (on the same ports and data dir as before, if any) and
        wait until /health says true and a range answers. On the very first
        start only, ports another process took meanwhile are replaced."""
        if not os.access(self.binary, os.X_OK):
            raise TestFailure("etcd binary %s is missing or not executable" % self.binary)
        first = not self._started
        self._started = True
        for attempt in range(3):
            offset = self.log_size()
            env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
            with open(self.logpath, "ab") as log:
                self.proc = subprocess.Popen(self._args(), stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, env=env, cwd=self.dir)
            _register(self)
            try:
                self.wait_ready(timeout)
                return self
            except TestFailure:
                in_use = "address already in use" in self.log_since(offset)
                if not (first and in_use and attempt < 2):
                    raise
            terminate_pid(self.proc.pid, self.proc, timeout=5)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.port, self.peer_port = free_port(), free_port()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("etcd exited with status %s:\n%s" % (
                    self.proc.returncode, self.log_tail(20)))
            try:
                resp = request(self.port, "GET", "/health", timeout=2)
                if resp.status != 200 or resp.json().get("health") not in ("true", True):
                    return False
                return self.revision() > 0
            except TestFailure:  # an answer that is not ready yet: poll on
                return False
        wait_for(ready, timeout, interval=0.05, what="etcd on port %d to answer" % self.port)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM etcd (SIGKILL after timeout); its exit code."""
        if self.proc is None:
            return None
        rc = terminate_pid(self.proc.pid, self.proc, timeout)
        self.stop_codes.append(rc)
        _unregister(self)
        return rc

    def kill(self):
        """SIGKILL etcd (a crash); its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        rc = self.proc.wait(timeout=STOP_TIMEOUT)
        _unregister(self)
        return rc

    def restart(self, down=0.0):
        """stop(), wait `down` seconds, start() on the same ports and data dir."""
        self.stop()
        if down > 0:
            time.sleep(down)
        return self.start()

    def kill_now(self):
        if self.proc is not None and self.proc.poll() is None:
            terminate_pid(self.proc.pid, self.proc, timeout=3)

    # -- the v3 JSON gateway ------------------------------------------------

    def call(self, path, body, timeout=5.0 * SLOW):
        """POST body (a dict) to the JSON gateway; the answer as a dict."""
        resp = request(self.port, "POST", path, body, timeout=timeout)
        if resp.status != 200:
            raise TestFailure("etcd %s %r: status %d: %r" % (path, body, resp.status,
                                                             resp.body[:300]))
        return resp.json()

    @staticmethod
    def _kv(kv):
        out = dict(kv)
        out["key"] = base64.b64decode(kv.get("key", ""))
        out["value"] = base64.b64decode(kv.get("value", ""))
        for f in ("create_revision", "mod_revision", "version", "lease"):
            out[f] = int(kv.get(f, 0))
        return out

    @staticmethod
    def _value(value):
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return value

    def put(self, key, value):
        """Put key = value; the revision of the write."""
        obj = self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(self._value(value))})
        return int(obj["header"]["revision"])

    def get_kv(self, key):
        """{key, value (bytes), create_revision, mod_revision, version}, or None."""
        kvs = self.call("/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
        return self._kv(kvs[0]) if kvs else None

    def get(self, key):
        """The value of key (bytes), or None."""
        kv = self.get_kv(key)
        return kv["value"] if kv else None

    def get_json(self, key):
        """The value of key parsed as JSON, or None when absent."""
        v = self.get(key)
        return None if v is None else json.loads(v.decode())

    def get_prefix(self, prefix):
        """{key (str): kv} of every key starting with prefix."""
        p = prefix.encode() if isinstance(prefix, str) else prefix
        obj = self.call("/v3/kv/range", {"key": _b64(p), "range_end": _b64(_prefix_end(p))})
        return {kv["key"].decode("utf-8", "replace"): kv
                for kv in (self._kv(x) for x in obj.get("kvs") or [])}

    def delete(self, key, prefix=False):
        """Delete key (every key under it with prefix=True); how many were."""
        k = key.encode() if isinstance(key, str) else key
        body = {"key": _b64(k)}
        if prefix:
            body["range_end"] = _b64(_prefix_end(k))
        return int(self.call("/v3/kv/deleterange", body).get("deleted", 0))

    def revision(self):
        """The store's current revision."""
        obj = self.call("/v3/kv/range", {"key": _b64("\0"), "count_only": True})
        return int(obj["header"]["revision"])

    def compact(self, rev, physical=True):
        """Compact the key-value history up to rev."""
        self.call("/v3/kv/compaction", {"revision": str(rev), "physical": physical},
                  timeout=10.0 * SLOW)

    def metric(self, name):
        """The sum of the samples of a Prometheus metric on /metrics (0 when absent)."""
        text = request(self.port, "GET", "/metrics").body.decode("utf-8", "replace")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(None, 1)[1])
        return total

    def etcdctl(self, *args, stdin=None, check_rc=True, timeout=10.0 * SLOW):
        """Run `etcdctl --endpoints URL ARGS` (API v3); a CompletedProcess.
        stdin: text given on standard input (e.g. a value for `put KEY`)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        env["ETCDCTL_API"] = "3"
        p = subprocess.run([ETCDCTL_BIN, "--endpoints", self.url(), "--dial-timeout", "3s",
                            "--command-timeout", "5s"] + list(args),
                           input=stdin, capture_output=True, text=True, env=env,
                           timeout=timeout)
        if check_rc and p.returncode != 0:
            raise TestFailure("etcdctl %s exited %d: %s%s" % (" ".join(args), p.returncode,
                                                              p.stdout, p.stderr))
        return p


# --------------------------------------------------------------------------
# Redis (Debian's redis-server), for the Redis backend of the rate limiter
# --------------------------------------------------------------------------

REDIS_BIN = os.environ.get("AIGW_REDIS_BIN") or shutil.which("redis-server") or \
    "/usr/bin/redis-server"


def _resp_encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _RespReader:
    """Reads one RESP2 reply at a time from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("redis closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("redis closed the connection")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise TestFailure("redis error: %s" % rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise TestFailure("redis: unexpected reply %r" % line)


class Redis(LogFile):
    """A redis-server on 127.0.0.1 (a free port, no persistence, a dir of its
    own), stopped by PID.

    r = Redis(); r.port; r.address(); r.command("GET", "k"); r.stop();
    r.start() / r.restart(down) (same port, empty data); r.pause() / r.resume()
    (SIGSTOP / SIGCONT: Redis holds connections but does not answer).
    """

    log_tail_lines = 20

    def __init__(self, start=True, binary=None):
        self.binary = binary or REDIS_BIN
        self.dir = make_tmpdir("aigw-redis-")
        self.logpath = os.path.join(self.dir, "redis.log")
        self.port = free_port()
        self.proc = None
        self.paused = False
        self.stop_codes = []
        self._started = False
        if start:
            self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def address(self):
        return "%s:%d" % (HOST, self.port)

    def _args(self):
        return [self.binary, "--port", str(self.port), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--protected-mode", "no", "--logfile", ""]

    def start(self, timeout=START_TIMEOUT):
        """Start redis-server (on the same port as before, if any) and wait
        until PING answers. On the very first start only, a port another
        process took meanwhile is replaced (up to 3 tries)."""
        if not os.access(self.binary, os.X_OK):
            raise TestFailure("redis-server %s is missing or not executable" % self.binary)
        first = not self._started
        self._started = True
        for attempt in range(3):
            offset = self.log_size()
            with open(self.logpath, "ab") as log:
                self.proc = subprocess.Popen(self._args(), stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL, cwd=self.dir)
            self.paused = False
            _register(self)
            try:
                self.wait_ready(timeout)
                return self
            except TestFailure:
                in_use = "address already in use" in self.log_since(offset).lower()
                if not (first and in_use and attempt < 2):
                    raise
            terminate_pid(self.proc.pid, self.proc, timeout=5)
            self.port = free_port()
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("redis-server exited with status %s:\n%s" % (
                    self.proc.returncode, self.log_tail(20)))
            return self.command("PING", timeout=1) == "PONG"
        wait_for(ready, timeout, interval=0.05, what="redis on port %d to answer" % self.port)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def command(self, *args, timeout=5.0 * SLOW):
        """One command on a fresh connection; the decoded RESP2 reply."""
        with socket.create_connection((HOST, self.port), timeout=timeout) as s:
            s.sendall(_resp_encode(args))
            return _RespReader(s).reply()

    def pause(self):
        """SIGSTOP: connections stay open, nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        """SIGCONT after pause()."""
        if self.paused and self.running():
            os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM redis-server (SIGKILL after timeout); its exit code."""
        if self.proc is None:
            return None
        self.resume()
        rc = terminate_pid(self.proc.pid, self.proc, timeout)
        self.stop_codes.append(rc)
        _unregister(self)
        return rc

    def restart(self, down=0.0):
        """stop(), wait `down` seconds, start() on the same port (empty data)."""
        self.stop()
        if down > 0:
            time.sleep(down)
        return self.start()

    def kill_now(self):
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            terminate_pid(self.proc.pid, self.proc, timeout=3)


# --------------------------------------------------------------------------
# The gateway
# --------------------------------------------------------------------------

# Every field of an access line (aigw(8), ACCESS LOG) and what it may hold.
_STR, _OPT_STR, _INT, _OPT_INT, _NUM, _OPT_NUM, _BOOL, _OPT_IDENTITY = range(8)
ACCESS_FIELDS = {
    "time": _STR, "request_id": _STR, "client": _STR, "method": _STR, "path": _OPT_STR,
    "key": _OPT_STR, "model": _OPT_STR, "target": _OPT_STR, "stream": _BOOL, "status": _INT,
    "upstream_status": _OPT_INT, "attempts": _INT, "prompt_tokens": _INT,
    "completion_tokens": _INT, "total_tokens": _INT, "ttft_ms": _OPT_NUM, "duration_ms": _NUM,
    "bytes_received": _INT, "bytes_sent": _INT, "error": _OPT_STR, "pid": _INT,
    "identity": _OPT_IDENTITY,
}
ACCESS_TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _access_type_ok(kind, v):
    if kind in (_OPT_STR, _OPT_INT, _OPT_NUM, _OPT_IDENTITY) and v is None:
        return True
    if kind == _OPT_IDENTITY:  # a JWT's {"iss", "sub"}, both strings
        return (isinstance(v, dict) and sorted(v) == ["iss", "sub"]
                and all(isinstance(x, str) for x in v.values()))
    if kind in (_STR, _OPT_STR):
        return isinstance(v, str)
    if kind == _BOOL:
        return isinstance(v, bool)
    if isinstance(v, bool):
        return False
    if kind in (_INT, _OPT_INT):
        return isinstance(v, int) and v >= 0
    return isinstance(v, (int, float)) and v >= 0


def parse_access(line):
    """The fields of a JSON access line (one object per line), or None.

    Exactly the documented fields, each of its type (strings or null,
    integers, numbers, a boolean), time in RFC 3339 UTC with milliseconds.
    Returns (fields, problem): problem is None or says what is wrong.
    """
    line = line.strip()
    if not line.startswith("{"):
        return None, "not an access line"
    try:
        fields = json.loads(line)
    except ValueError as exc:
        return None, "not JSON: %s" % exc
    if not isinstance(fields, dict) or "request_id" not in fields:
        return None, "not an access line"
    missing = [k for k in ACCESS_FIELDS if k not in fields]
    if missing:
        return fields, "missing fields %s" % ", ".join(missing)
    extra = [k for k in fields if k not in ACCESS_FIELDS]
    if extra:
        return fields, "undocumented fields %s" % ", ".join(extra)
    for k, kind in ACCESS_FIELDS.items():
        if not _access_type_ok(kind, fields[k]):
            return fields, "%s=%r has the wrong type" % (k, fields[k])
    if not ACCESS_TIME_RE.match(fields["time"]):
        return fields, "time=%r is not RFC 3339 UTC with milliseconds" % fields["time"]
    return fields, None


def access_lines(text):
    """Every access line in a log's text, parsed (lines that are not: skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            fields, _ = parse_access(line)
            if fields is not None:
                out.append(fields)
    return out


def default_config(port, data_dir, resources, **overrides):
    """An aigw.yaml dict for tests: one listener, 2 workers, small LMDB."""
    conf = {
        "listen": ["%s:%d" % (HOST, port)],
        "workers": 2,
        "log_level": "info",
        "data_dir": data_dir,
        "lmdb": {"map_size": "16m", "max_readers": 126},
        "resources": resources,
        "timeouts": {"drain": "10s"},
        # the Admin API on a port of its own (parallel tests must not share 9180),
        # keyless by the explicit opt-in (aigw refuses a keyless one without it)
        "admin": {"listen": ["%s:%d" % (HOST, free_port())], "allow_keyless": True},
        # and so metrics, the control socket and the PID file
        "metrics": {"listen": ["%s:%d" % (HOST, free_port())]},
        "control": {"socket": os.path.join(os.path.dirname(data_dir), "aigw.sock")},
        "pid_file": os.path.join(os.path.dirname(data_dir), "aigw.pid"),
    }
    conf.update(overrides)
    return conf


class Gateway(LogFile):
    """An aigw master (and its workers) run in the foreground (-d).

    gw = Gateway(resources={...}, config={...overrides}); gw.port, gw.pid,
    gw.worker_pids(), gw.log(), gw.reload(), gw.stop(), gw.write_resources(...)
    The files live in gw.dir: aigw.yaml, resources.yaml, data/, aigw.log.
    """

    def __init__(self, resources, config=None, env=None, port=None, workdir=None, start=True):
        """resources: dict (rendered as YAML) or raw text. config: a dict of
        overrides of default_config(), or raw aigw.yaml text in which
        {port}, {data_dir} and {resources} are filled in. env: extra
        environment variables for aigw (e.g. what ${VAR} refers to)."""
        self.dir = workdir or make_tmpdir("aigw-gw-")
        self.conf_path = os.path.join(self.dir, "aigw.yaml")
        self.res_path = os.path.join(self.dir, "resources.yaml")
        self.data_dir = os.path.join(self.dir, "data")
        self.logpath = os.path.join(self.dir, "aigw.log")
        self.port = port or free_port()
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.pid = None
        self._seen_workers = set()
        self._started = False
        self.stop_codes = []      # exit codes of stop() calls
        self.killed_pids = set()  # workers a test killed on purpose
        _gateways.append(self)
        if isinstance(config, str):
            self.config = config.format(port=self.port, data_dir=self.data_dir,
                                        resources=self.res_path)
        else:
            self.config = default_config(self.port, self.data_dir, self.res_path)
            self.config.update(config or {})
        write_file(self.conf_path, self.config)
        self.write_resources(resources)
        if start:
            self.start()

    # -- files ------------------------------------------------------------

    def write_resources(self, resources):
        """Rewrite resources.yaml (a dict rendered as YAML, or raw text)."""
        write_file(self.res_path, resources)

    def write_config(self, config):
        """Rewrite aigw.yaml (a dict rendered as YAML, or raw text)."""
        write_file(self.conf_path, config)

    # -- process ----------------------------------------------------------

    def start(self, wait=True):
        """Start `aigw -d -c aigw.yaml`; wait until /healthz answers 200.

        On the very first start only, a listener port that another process
        took since free_port() is replaced by a new one (up to 3 tries)."""
        if not os.access(AIGW_BIN, os.X_OK):
            raise TestFailure("aigw binary %s is missing or not executable" % AIGW_BIN)
        first = not self._started
        self._started = True
        for attempt in range(3):
            offset = self.log_size()
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_healthy()
                return self
            except TestFailure:
                in_use = "in use" in self.log_since(offset).lower()
                if not (first and in_use and attempt < 2 and not self.running()
                        and isinstance(self.config, dict)):
                    raise
            self.port = free_port()
            self.config["listen"] = ["%s:%d" % (HOST, self.port)]
            self.write_config(self.config)
        return self

    def _spawn(self):
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen([AIGW_BIN, "-d", "-c", self.conf_path], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL, env=self.env,
                                         cwd=self.dir)
        self.pid = self.proc.pid
        _register(self)

    def wait_healthy(self, timeout=START_TIMEOUT):
        """Poll GET /healthz until 200 (fails early if the master exits)."""
        def healthy():
            if self.proc.poll() is not None:
                raise TestFailure("aigw exited with status %s during startup" % self.proc.returncode)
            try:
                return request(self.port, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False
        try:
            wait_for(healthy, timeout, interval=0.05, what="aigw /healthz")
        except TestFailure as exc:
            raise TestFailure("%s\n-- aigw log --\n%s" % (exc, self.log_tail()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def worker_pids(self):
        """PIDs of the master's children."""
        pids = children_of(self.pid)
        self._seen_workers.update(pids)
        return pids

    def wait_workers(self, n, timeout=START_TIMEOUT, exclude=()):
        """Poll until the master has exactly n children, none in exclude."""
        def ok():
            pids = self.worker_pids()
            return pids if len(pids) == n and not set(pids) & set(exclude) else None
        return wait_for(ok, timeout, what="%d workers (not %s)" % (n, sorted(exclude)))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def reload(self):
        """Send SIGHUP to the master."""
        self.signal(signal.SIGHUP)

    # -- the control socket (see control_exchange) -------------------------

    @property
    def control_path(self):
        """control.socket of this gateway's aigw.yaml (as the default config sets it)."""
        if isinstance(self.config, dict):
            return (self.config.get("control") or {}).get("socket", "")
        return os.path.join(self.dir, "aigw.sock")

    @property
    def pid_path(self):
        """pid_file of this gateway's aigw.yaml."""
        if isinstance(self.config, dict):
            return self.config.get("pid_file", "")
        return os.path.join(self.dir, "aigw.pid")

    def control(self, command, timeout=HTTP_TIMEOUT, version=CONTROL_PROTOCOL, **args):
        """One command on the control socket: {"aigw_control": 1, "command":
        command, "args": args}; returns the whole reply as a dict (ok,
        result or error), checked to be a reply of protocol 1."""
        return control_call(self.control_path, command, timeout=timeout, version=version,
                            **args)

    def status(self, timeout=HTTP_TIMEOUT):
        """The result of the control command status (fails unless ok)."""
        reply = self.control("status", timeout=timeout)
        check(reply.get("ok") is True, "control status: %r", reply)
        return reply["result"]

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM the master, wait (SIGKILL after timeout); return its exit code.
        Workers that outlive the master are killed too (and counted as a bug by
        the tests that care)."""
        if self.proc is None:
            return None
        self.worker_pids()
        rc = terminate_pid(self.pid, self.proc, timeout)
        self.stop_codes.append(rc)
        self._reap_orphans()
        _unregister(self)
        return rc

    def kill_worker(self, pid, sig=None):
        """Kill one worker on purpose, SIGKILL by default (not reported as a crash)."""
        self.killed_pids.add(pid)
        os.kill(pid, signal.SIGKILL if sig is None else sig)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Wait for the master to exit by itself; its exit code or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired
            return None

    def orphans(self):
        """Workers we saw that are still alive (and still aigw)."""
        return [p for p in sorted(self._seen_workers)
                if pid_alive(p) and proc_exe(p).startswith(os.path.realpath(AIGW_BIN))]

    def _reap_orphans(self, timeout=5):
        deadline = time.monotonic() + timeout
        while self.orphans() and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in self.orphans():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_now(self):
        if self.proc is not None and self.proc.poll() is None:
            self.worker_pids()
            terminate_pid(self.pid, self.proc, timeout=5)
        self._reap_orphans(timeout=1)

    # -- requests ---------------------------------------------------------

    def request(self, method, path, body=None, headers=None, key=None, **kw):
        return request(self.port, method, path, body=body, headers=headers, key=key, **kw)

    def chat(self, key="sk-test-a", **kw):
        """POST /v1/chat/completions with chat_body(**kw)."""
        headers = kw.pop("headers", None)
        return self.request("POST", "/v1/chat/completions", chat_body(**kw), headers=headers,
                            key=key)

    def stream(self, body, key="sk-test-a", path="/v1/chat/completions", **kw):
        return Stream(self.port, path, body, key=key, **kw)

    def config_version(self, key="sk-test-a"):
        """x-aigw-config-version of a GET /v1/models, as an int."""
        resp = self.request("GET", "/v1/models", key=key)
        v = resp.headers.get("x-aigw-config-version")
        check(v is not None and v.isdigit(),
              "x-aigw-config-version missing or not an integer: %r", v)
        return int(v)

    def access_line(self, request_id, timeout=5.0 * SLOW, path=None):
        """Poll the log (or the access log file path) for the JSON access
        line of request_id; return its fields plus 'line'. Fails when a
        field is missing, unknown or of the wrong type."""
        needle = '"request_id":%s,' % json.dumps(request_id)

        def find():
            if path is None:
                text = self.log()
            else:
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        text = f.read()
                except FileNotFoundError:
                    return None
            for line in text.splitlines():
                if needle in line and line.startswith("{"):
                    return line
            return None
        line = wait_for(find, timeout, what="access log line for request %s" % request_id)
        fields, problem = parse_access(line)
        check(problem is None, "access line: %s: %r", problem, line)
        fields["line"] = line
        return fields


SANITIZER_RE = re.compile(r"ERROR: (?:Address|Leak|Thread|Memory)Sanitizer|runtime error:|"
                          r"AddressSanitizer:DEADLYSIGNAL")
WORKER_DEATH_RE = re.compile(r"worker \d+ \(pid (\d+)\) (?:killed by signal|exited with status)"
                             r"|did not stop in time")


def gateway_problems(gw):
    """What went wrong in a gateway's life that no single case looks at:
    sanitizer reports, workers that died unasked, stops that did not exit 0."""
    problems = []
    text = gw.log()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if SANITIZER_RE.search(line):
            problems.append("sanitizer report in %s:\n%s" % (gw.logpath,
                                                           "\n".join(lines[i:i + 25])))
            break
    for line in lines:
        m = WORKER_DEATH_RE.search(line)
        if m and not (m.group(1) and int(m.group(1)) in gw.killed_pids):
            problems.append("unexpected: %s" % line.strip())
    for rc in gw.stop_codes:
        if rc != 0:
            problems.append("SIGTERM stop of %s exited %r, not 0" % (gw.conf_path, rc))
    return problems


# --------------------------------------------------------------------------
# GET /metrics (the Prometheus text format) on a gateway's metrics listener
# --------------------------------------------------------------------------

SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def metrics_port(gw):
    """The port of gw's metrics listener (as default_config sets it)."""
    return int(gw.config["metrics"]["listen"][0].rsplit(":", 1)[1])


def _unescape_label(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


class Metrics:
    """One scrape: m.get(name, **labels) is the value of the sample with
    exactly those labels (0 when absent); m.text is the raw text."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        for line in text.splitlines():
            if line.startswith("#") or not line:
                continue
            m = SAMPLE_RE.match(line)
            check(m is not None, "not a sample line: %r", line)
            labels = {}
            if m.group(2):
                pos = 0
                for lm in LABEL_RE.finditer(m.group(2)):
                    check(lm.start() == pos, "bad labels in %r", line)
                    labels[lm.group(1)] = _unescape_label(lm.group(2))
                    pos = lm.end()
                check(pos == len(m.group(2)), "bad labels in %r", line)
            key = (m.group(1), frozenset(labels.items()))
            check(key not in self.samples, "sample twice: %r", line)
            self.samples[key] = float(m.group(3))

    def get(self, name, **labels):
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name, **labels):
        return (name, frozenset(labels.items())) in self.samples

    def total(self, name, **labels):
        """The sum over every sample of name whose labels include these."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= set(ls))


def scrape(gw):
    """GET /metrics of gw (checked: 200, the text format) as a Metrics."""
    resp = request(metrics_port(gw), "GET", "/metrics")
    check_eq(resp.status, 200, "GET /metrics")
    ctype = resp.headers.get("content-type", "")
    check(ctype.startswith("text/plain; version=0.0.4"), "Content-Type %r", ctype)
    return Metrics(resp.body.decode("utf-8"))


# --------------------------------------------------------------------------
# The master's control socket (one JSON line each way, see aigwctl(8))
# --------------------------------------------------------------------------

def control_exchange(path, data, timeout=HTTP_TIMEOUT, shut_write=False):
    """Send data (bytes) on a new connection to the UNIX socket at path and
    read until the server closes; the bytes read. shut_write: half-close
    after sending (a client that sends no newline)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
        raise TestFailure("control socket %s: no EOF after %.0fs (read %r)" % (
            path, timeout, out[:300]))


def parse_control_reply(raw, what="control reply"):
    """A control reply (bytes): exactly one JSON object and a newline, with
    "aigw_control": 1 and a boolean "ok", and a result object, or a "code"
    and an "error" message; returns it as a dict."""
    check(raw.endswith(b"\n") and raw.count(b"\n") == 1,
          "%s is not one line ending in a newline: %r", what, raw[:500])
    try:
        obj = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise TestFailure("%s is not JSON (%s): %r" % (what, exc, raw[:500]))
    check(isinstance(obj, dict), "%s is not an object: %r", what, obj)
    check_eq(obj.get("aigw_control"), CONTROL_PROTOCOL, "%s: aigw_control" % what)
    check(isinstance(obj.get("ok"), bool), "%s: ok is not a boolean: %r", what, obj)
    if obj["ok"]:
        check(isinstance(obj.get("result"), dict), "%s: ok without a result object: %r",
              what, obj)
    else:
        check(isinstance(obj.get("error"), str) and obj["error"],
              "%s: ok false without an error message: %r", what, obj)
        check(isinstance(obj.get("code"), str) and obj["code"],
              "%s: ok false without an error code: %r", what, obj)
    return obj


def control_call(path, command, timeout=HTTP_TIMEOUT, version=CONTROL_PROTOCOL, **args):
    """One command on the control socket at path; the reply as a dict."""
    req = {"aigw_control": version, "command": command, "args": args}
    raw = control_exchange(path, (json.dumps(req) + "\n").encode(), timeout=timeout)
    return parse_control_reply(raw, "reply to %s" % command)


def unique_id(prefix="e2e"):
    """A request id unique to this process and moment."""
    unique_id.n += 1
    return "%s-%d-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000), unique_id.n)


unique_id.n = 0


# --------------------------------------------------------------------------
# Standard resources for the tests
# --------------------------------------------------------------------------

MOCK_KEY = "mock-secret-123"


def standard_resources(mock_port, extra_models=(), extra_keys=()):
    """Models on the mock and a few client keys (see each test's docstring)."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    models = [
        {"name": "mock-gpt", "provider": "openai-compatible", "model": "mock-1",
         "api_base": base, "api_key": "${MOCK_KEY}",
         "timeouts": {"connect": "1s", "first_byte": "3s", "total": "20s", "stream_idle": "5s"}},
        {"name": "mock-b", "provider": "openai-compatible", "model": "mock-2",
         "api_base": base, "api_key": "${MOCK_KEY}"},
        {"name": "other-model", "provider": "openai-compatible", "model": "other-1",
         "api_base": base, "api_key": "${MOCK_KEY}"},
    ]
    keys = [
        {"name": "team-a", "key": "sk-test-a", "allowed_models": ["mock-*"]},
        {"name": "admin", "key": "sk-test-all"},
    ]
    return {"models": models + list(extra_models), "api_keys": keys + list(extra_keys)}


@contextlib.contextmanager
def mock_and_gateway(resources=None, config=None, env=None, mock_key=MOCK_KEY):
    """Start a Mock (checking mock_key) and a Gateway in front of it; stop both.

    resources: a function mock_port -> resources dict (default standard_resources).
    """
    mock = gw = None
    try:
        mock = Mock(key=mock_key)
        res = (resources or standard_resources)(mock.port)
        genv = {"MOCK_KEY": mock_key or ""}
        genv.update(env or {})
        gw = Gateway(res, config=config, env=genv)
        yield Env(mock, gw)
    finally:
        if gw is not None:
            gw.stop()
        if mock is not None:
            mock.stop()


class Env:
    """What a fixture hands to each case."""

    def __init__(self, mock=None, gw=None, **extra):
        self.mock = mock
        self.gw = gw
        self.__dict__.update(extra)


# --------------------------------------------------------------------------
# TAP
# --------------------------------------------------------------------------

class TAP:
    """Test Anything Protocol output.

    tap = TAP()
    @tap.case("name")
    def _(env): ...            # registered, run by tap.run(fixture)
    with tap.case("name"): ... # or run at once (plan printed by tap.done())

    A failing case prints `not ok N - name` and `# ` lines: the assertion,
    the traceback's last frames, and the tail of every registered log.
    """

    def __init__(self, deadline=None):
        """deadline: seconds the whole file may take (default FILE_DEADLINE)."""
        self.cases = []
        self.n = 0
        self.failed = 0
        self.planned = False
        self.log_sources = []  # (label, callable -> text)
        self.env = None
        self.deadline = deadline or FILE_DEADLINE
        self._watchdog = threading.Timer(self.deadline, self._bail_timeout)
        self._watchdog.daemon = True
        self._watchdog.start()

    # -- output ------------------------------------------------------------

    @staticmethod
    def out(line=""):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            self.out("# " + line)

    def plan(self, n):
        self.out("1..%d" % n)
        self.planned = True

    def bail(self, reason):
        self.out("Bail out! " + reason.replace("\n", " "))

    def _bail_timeout(self):
        self.bail("test file exceeded %.0f s (case %d running)" % (self.deadline, self.n + 1))
        try:
            self.diag_logs()
        except Exception:  # noqa: BLE001
            pass
        cleanup_all()
        os._exit(1)

    def diag_logs(self):
        for label, src in self.log_sources:
            try:
                text = src()
            except Exception as exc:  # noqa: BLE001
                text = "(cannot read: %r)" % exc
            if text:
                self.diag("--- tail of %s ---" % label)
                self.diag(text)

    def report(self, name, exc=None, skip=None, quiet=False):
        """Print one result line (and diagnostics when exc is given; only
        the message when quiet)."""
        self.n += 1
        if skip is not None:
            self.out("ok %d - %s # SKIP %s" % (self.n, name, skip))
            return
        if exc is None:
            self.out("ok %d - %s" % (self.n, name))
            return
        self.failed += 1
        self.out("not ok %d - %s" % (self.n, name))
        if quiet:
            self.diag(str(exc))
            return
        if isinstance(exc, AssertionError):
            self.diag("assertion failed: %s" % (exc,))
        else:
            self.diag("error: %r" % (exc,))
        tb = traceback.extract_tb(exc.__traceback__)
        for f in tb[-4:]:
            self.diag("  at %s:%d in %s: %s" % (os.path.basename(f.filename), f.lineno, f.name,
                                                 (f.line or "").strip()))
        self.diag_logs()

    # -- registering and running cases ---------------------------------------

    def case(self, name):
        """Decorator (register a case taking env) or context manager (run now)."""
        return _Case(self, name)

    def run(self, fixture=None, cases=None):
        """Print the plan, then run every registered case inside fixture().

        fixture: a context-manager factory yielding the env passed to cases.
        If the fixture cannot be set up, each case is reported as not ok with
        the reason. Returns 0 (failures are counted by the TAP driver).
        """
        cases = cases if cases is not None else self.cases
        self.plan(len(cases) + 1)
        try:
            if fixture is None:
                self._run_cases(cases, None)
            else:
                try:
                    ctx = fixture()
                    env = ctx.__enter__()
                except BaseException as exc:  # noqa: BLE001 - every case fails with it
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    self.report(cases[0][0] + " (setup failed)", exc)
                    for name, _ in cases[1:]:
                        self.report(name + " (setup failed)",
                                    TestFailure("setup failed: see case 1"), quiet=True)
                    self._final_check()
                    return 0
                try:
                    self._run_cases(cases, env)
                finally:
                    try:
                        ctx.__exit__(None, None, None)
                    except Exception as exc:  # noqa: BLE001
                        self.diag("teardown failed: %r" % (exc,))
            self._final_check()
        except SystemExit:
            self.bail("interrupted")
            raise
        finally:
            self._watchdog.cancel()
            cleanup_all()
        return 0

    def _final_check(self):
        """One last case: every gateway exited 0 on SIGTERM, no worker died
        unasked, no sanitizer report in any aigw log."""
        problems = []
        for gw in _gateways:
            if gw.running():
                gw.stop()
            problems += gateway_problems(gw)
        name = "aigw exited cleanly: no sanitizer report, no worker crash"
        self.log_sources = []
        self.report(name, TestFailure("\n".join(problems)) if problems else None)

    def _run_cases(self, cases, env):
        self.env = env
        if env is not None and getattr(env, "gw", None) is not None:
            self.add_gateway_log(env.gw)
        if env is not None and getattr(env, "mock", None) is not None:
            self.log_sources.append(("mock log", lambda m=env.mock: "\n".join(
                m.log().splitlines()[-15:])))
        for name, fn in cases:
            try:
                fn(env)
            except Exception as exc:  # noqa: BLE001 - reported as not ok
                self.report(name, exc)
            else:
                self.report(name)

    def add_gateway_log(self, gw, label="aigw log"):
        self.log_sources.append((label, lambda g=gw: g.log_tail(40)))

    def done(self):
        """For context-manager use: print the trailing plan; return 0."""
        if not self.planned:
            self.plan(self.n)
        self._watchdog.cancel()
        cleanup_all()
        return 0


class _Case:
    def __init__(self, tap, name):
        self.tap = tap
        self.name = name

    def __call__(self, fn):
        self.tap.cases.append((self.name, fn))
        return fn

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if etype is not None and not issubclass(etype, Exception):
            return False
        if exc is not None and exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        self.tap.report(self.name, exc)
        return True


def main(tap, fixture=None):
    """Run tap with fixture; any harness crash becomes `Bail out!`. Exit 0."""
    try:
        tap.run(fixture)
    except SystemExit:
        cleanup_all()
        sys.exit(1)
    except BaseException as exc:  # noqa: BLE001
        tap.bail("harness crashed: %r" % (exc,))
        tap.diag(traceback.format_exc())
        cleanup_all()
        sys.exit(1)
    sys.exit(0)
