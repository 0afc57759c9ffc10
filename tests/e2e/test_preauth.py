# SPDX-License-Identifier: Apache-2.0
"""End-to-end: what a client without a key can make aigw spend.

A request's route, method and key (on the Admin API: address, admin key and
role) are checked from its headers, before its body is read: a refused
request is answered at once, its body never buffered, no 100 Continue sent,
and the connection closed. Each worker holds at most limits.max_connections
connections, and when it reaches them, or runs out of file descriptors, it
pauses accepting (the listen queue waits) instead of spinning on accept:
one warning a minute and aigw_accept_paused_total{reason}.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, HTTP_TIMEOUT, SLOW, TAP, Gateway, Mock, chat_body, check, check_eq,
        free_port, main, metrics_port, mock_and_gateway, request, scrape, standard_resources,
        wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-test-a"
ADMIN_KEY = "adm-preauth-0123456789abcdef"
VIEWER_KEY = "adm-preauth-viewer-0123456789"
BIG = 8 * 1024 * 1024


def fixture():
    return mock_and_gateway(config={
        "workers": 1,
        "limits": {"max_body_size": "16m"},
        "admin": {"listen": ["%s:%d" % (HOST, free_port())],
                  "keys": [{"name": "root", "key": ADMIN_KEY, "role": "admin"},
                           {"name": "look", "key": VIEWER_KEY, "role": "viewer"}]},
    })


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def head_only(port, method, path, headers, length=BIG):
    """Send a request's headers announcing a body of length bytes, and none
    of the body; return (status, raw answer) as soon as one arrives, or
    (None, b"") when none comes within the timeout (the body is awaited)."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: x", "Content-Type: application/json",
             "Content-Length: %d" % length]
    lines += ["%s: %s" % kv for kv in headers.items()]
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        s.settimeout(3.0 * SLOW)
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            return None, data
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return (int(m.group(1)) if m else None), data


def refused_before_body(port, method, path, headers, status):
    got, data = head_only(port, method, path, headers)
    check(got is not None, "%s %s %r: no answer before the body (it was awaited): %r",
          method, path, headers, data[:200])
    check_eq(got, status, "status of %s %s with %r" % (method, path, headers))
    check(b"\r\nconnection: close\r\n" in data.lower(), "the connection stays open: %r", data[:300])
    check(b" 100 " not in data.split(b"\r\n")[0], "a 100 Continue: %r", data[:200])
    if status == 401:
        check(b"\r\nwww-authenticate: bearer\r\n" in data.lower(), "no WWW-Authenticate: %r",
              data[:300])


@tap.case("proxy: no key, a wrong key, an unknown route or method: answered before the body")
def _(env):
    p = env.gw.port
    refused_before_body(p, "POST", "/v1/chat/completions", {}, 401)
    refused_before_body(p, "POST", "/v1/chat/completions", {"Authorization": "Bearer sk-nobody"}, 401)
    refused_before_body(p, "POST", "/v1/messages", {"x-api-key": "sk-nobody"}, 401)
    refused_before_body(p, "POST", "/v1/nowhere", {"Authorization": "Bearer " + KEY}, 404)
    refused_before_body(p, "PUT", "/v1/chat/completions", {"Authorization": "Bearer " + KEY}, 405)
    refused_before_body(p, "POST", "/healthz", {}, 413)


@tap.case("proxy: a valid key's body is read (the request waits for it)")
def _(env):
    got, data = head_only(env.gw.port, "POST", "/v1/chat/completions",
                          {"Authorization": "Bearer " + KEY}, length=100)
    check(got is None, "answered before the body came: %r", data[:200])


@tap.case("Expect: 100-continue: 100 only for a request that may send its body")
def _(env):
    got, data = head_only(env.gw.port, "POST", "/v1/chat/completions",
                          {"Expect": "100-continue"})
    check_eq(got, 401, "no key with Expect: %r" % data[:200])
    got, data = head_only(env.gw.port, "POST", "/v1/chat/completions",
                          {"Expect": "100-continue", "Authorization": "Bearer " + KEY})
    check_eq(got, 100, "a valid key with Expect")


@tap.case("Admin API: no admin key, a wrong one, a viewer's write: answered before the body")
def _(env):
    p = admin_port(env.gw)
    refused_before_body(p, "POST", "/admin/v1/api_keys", {}, 401)
    refused_before_body(p, "POST", "/admin/v1/api_keys", {"Authorization": "Bearer wrong-key"}, 401)
    refused_before_body(p, "POST", "/admin/v1/api_keys", {"Authorization": "Bearer " + VIEWER_KEY},
                        403)
    got, _ = head_only(p, "POST", "/admin/v1/api_keys", {"Authorization": "Bearer " + ADMIN_KEY},
                       length=100)
    check(got is None, "an admin's body was not awaited")


def key_code(port, key):
    """The error code a GET /v1/models gets with key, or None on a 200."""
    resp = request(port, "GET", "/v1/models", key=key)
    return None if resp.status == 200 else resp.json()["error"]["code"]


@tap.case("a key disabled while its request's body is on its way: 401, not served")
def _(env):
    # The precheck let the headers in; the handler must see the change (it
    # does not take the precheck's word for the key).
    given = "sk-preauth-late-%d" % os.getpid()
    p, ap = env.gw.port, admin_port(env.gw)
    resp = request(ap, "POST", "/admin/v1/api_keys", {"name": "preauth-late", "key": given},
                   key=ADMIN_KEY)
    check_eq(resp.status, 201, "create the key: %r" % resp.body[:300])
    kid, value = resp.json()["id"], resp.json()["value"]
    check(wait_for(lambda: key_code(p, given) is None, 10 * SLOW, what="the key served"),
          "the new key is not served")
    body = json.dumps(chat_body()).encode()
    head = ("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (given, len(body)))
    with socket.create_connection((HOST, p), timeout=HTTP_TIMEOUT) as s:
        s.sendall(head.encode())
        resp = request(ap, "PUT", "/admin/v1/api_keys/" + kid, dict(value, disabled=True),
                       key=ADMIN_KEY)
        check_eq(resp.status, 200, "disable the key: %r" % resp.body[:300])
        check(wait_for(lambda: key_code(p, given) == "api_key_disabled", 10 * SLOW,
                       what="the key disabled"), "the key is still served")
        s.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    check(data.startswith(b"HTTP/1.1 401 "), "the late-disabled key was served: %r", data[:300])
    check(b'"api_key_disabled"' in data, "not api_key_disabled: %r", data[:400])
    request(ap, "DELETE", "/admin/v1/api_keys/" + kid, key=ADMIN_KEY)


@tap.case("metrics listener: a body is refused before it is read")
def _(env):
    refused_before_body(metrics_port(env.gw), "POST", "/metrics", {}, 405)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def no_quarantine_env():
    """The mock's key, and for a sanitizer build an allocator that reuses
    freed memory at once (ASan's quarantine would hold 256 MB of it)."""
    asan = ":".join(o for o in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0") if o)
    return {"MOCK_KEY": "mock-secret-123", "ASAN_OPTIONS": asan}


@tap.case("100 connections sending 2 MB each without a key: the worker does not grow by them")
def _(env):
    gw = Gateway(standard_resources(env.mock.port), env=no_quarantine_env(),
                 config={"workers": 1, "limits": {"max_body_size": "16m"}})
    try:
        flood(gw)
    finally:
        gw.stop()


def flood(gw):
    pid = gw.worker_pids()[0]
    before = rss_kb(pid)
    chunk = b"x" * 65536
    socks = []
    try:
        for _ in range(100):
            s = socket.create_connection((HOST, gw.port), timeout=HTTP_TIMEOUT)
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024))
            socks.append(s)
        for s in socks:
            s.setblocking(False)
        deadline = time.time() + 10 * SLOW
        sent = 0
        for _ in range(32):  # 32 x 64 KiB = 2 MiB a connection, at most
            if time.time() > deadline:
                break
            for s in socks:
                try:
                    sent += s.send(chunk)
                except (BlockingIOError, OSError):
                    pass
        grown = rss_kb(pid) - before
    finally:
        for s in socks:
            s.close()
    check(grown < 40 * 1024, "the worker grew by %d KiB for %d bytes sent without a key",
          grown, sent)


# ---- connection limit and descriptors ------------------------------------------------

def idle_conns(port, n):
    out = []
    for _ in range(n):
        out.append(socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT))
    return out


def served(port, timeout):
    """A GET /healthz on a new connection answered within timeout."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(100).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def paused_total(gw, reason):
    return scrape(gw).get("aigw_accept_paused_total", reason=reason)


@tap.case("limits.max_connections: the next connection waits in the queue, served once one closes")
def _(env):
    mock = env.mock
    gw = Gateway(standard_resources(mock.port), env={"MOCK_KEY": "mock-secret-123"},
                 config={"workers": 1, "limits": {"max_connections": 20}})
    try:
        check_eq(paused_total(gw, "max_connections"), 0, "pauses before")
        conns = idle_conns(gw.port, 20)
        check(not served(gw.port, 1.5 * SLOW), "a 21st connection was served")
        conns.pop().close()
        check(served(gw.port, HTTP_TIMEOUT), "no connection served after one closed")
        check(paused_total(gw, "max_connections") >= 1, "aigw_accept_paused_total not counted")
        warnings = gw.log().count("accepting paused")
        check(1 <= warnings <= 2, "%d warnings about pausing", warnings)
        for c in conns:
            c.close()
    finally:
        gw.stop()


class LowFdGateway(Gateway):
    """A gateway whose processes may open at most NOFILE descriptors."""
    NOFILE = 160  # the master puts inherited descriptors above 100 for a moment

    def _spawn(self):
        import resource

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.NOFILE, self.NOFILE))
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen([AIGW_BIN, "-d", "-c", self.conf_path], stdout=log,
                                         stderr=log, stdin=subprocess.DEVNULL, env=self.env,
                                         cwd=self.dir, preexec_fn=limit)
        self.pid = self.proc.pid
        from harness import _register
        _register(self)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@tap.case("out of descriptors: accepting pauses (one warning, a metric), no busy loop, then serves")
def _(env):
    gw = LowFdGateway(standard_resources(env.mock.port), env={"MOCK_KEY": "mock-secret-123"},
                      config={"workers": 1})
    conns = []
    try:
        pid = gw.worker_pids()[0]
        conns = idle_conns(gw.port, 250)  # more than the worker's 160 descriptors
        time.sleep(0.5)
        cpu0 = cpu_seconds(pid)
        time.sleep(2.0)
        spent = cpu_seconds(pid) - cpu0
        check(spent < 0.5 * SLOW, "the worker spent %.2f s of CPU in 2 s with a full queue", spent)
        log = gw.log()
        check(log.count("accepting paused") <= 2, "%d pause warnings", log.count("accepting paused"))
        check(log.count("Too many open files") <= 2, "accept errors logged %d times",
              log.count("Too many open files"))
        check(paused_total(gw, "descriptors") >= 1, "aigw_accept_paused_total{descriptors}")
        for c in conns:
            c.close()
        conns = []
        check(wait_for(lambda: served(gw.port, 2), 10 * SLOW, what="served again"), "not served")
        # 4096 connections (the default) need 8448 descriptors: said at start
        check("hard limit is 160" in log, "no warning that the hard limit is too low: %s",
              log[:2000])
    finally:
        for c in conns:
            c.close()
        gw.stop()


if __name__ == "__main__":
    main(tap, fixture)
