# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the master's control socket (the protocol aigwctl speaks, see
aigwctl(8)) and its PID file.

status, check, reopen and stop over the socket; the socket's mode; the
protocol version, unknown commands and malformed lines refused; the PID
file; a second aigw on the same control.socket refused; stop graceful (an
in-flight stream finishes) and not graceful (it is cut).

One mock serves every case; the cases share one gateway, in order, and a
case that finds it gone (a stop) starts a new one.
"""

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, CONTROL_PROTOCOL, MOCK_KEY, SLOW, TAP, Env, Gateway, Mock, chat_body, check,
        check_eq, control_exchange, default_config, free_port, main, parse_control_reply,
        pid_alive, request, standard_resources, stream_text, wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$")


class ControlEnv(Env):
    """The shared mock, and a gateway started on demand."""

    def ensure_gw(self):
        """The shared gateway, (re)started when it is not running."""
        if self.gw is None or not self.gw.running():
            self.gw = Gateway(standard_resources(self.mock.port), env={"MOCK_KEY": MOCK_KEY})
            tap.add_gateway_log(self.gw, "aigw log (%s)" % self.gw.dir)
        return self.gw


def fixture():
    class Fixture:
        def __enter__(self):
            self.env = ControlEnv(Mock(key=MOCK_KEY))
            return self.env

        def __exit__(self, *exc):
            if self.env.gw is not None:
                self.env.gw.stop()
            self.env.mock.stop()
    return Fixture()


def chat_ok(gw, timeout=10):
    """One chat request on a new connection; fails unless 200."""
    resp = request(gw.port, "POST", "/v1/chat/completions", chat_body(), key="sk-test-a",
                   timeout=timeout * SLOW)
    check(resp.status == 200, "chat: %d %r", resp.status, resp.body[:300])
    return resp


def raw(gw, data, **kw):
    """The control reply to raw bytes, parsed and checked."""
    return parse_control_reply(control_exchange(gw.control_path, data, **kw),
                               "reply to %r" % data[:60])


def master_fds(gw):
    """Open file descriptors of the master."""
    return len(os.listdir("/proc/%d/fd" % gw.pid))


def aigw_version():
    out = subprocess.run([AIGW_BIN, "-v"], capture_output=True, text=True, timeout=10)
    check(out.returncode == 0 and out.stdout.startswith("aigw "), "aigw -v: %r", out)
    return out.stdout.split()[1]


# --------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------

@tap.case("status: pid of the master, version, uptime, config version and source, "
          "generation 1, each worker running with pid, generation, requests, in_flight")
def _(env):
    gw = env.ensure_gw()
    pids = gw.wait_workers(2, timeout=10 * SLOW)
    # aigw is up once one worker answers /healthz; the other may still be starting
    wait_for(lambda: all(w["state"] == "running" for w in gw.status()["workers"]), 10 * SLOW,
             what="both workers to run")
    reply = gw.control("status")
    check(reply["ok"] is True, "status: %r", reply)
    s = reply["result"]
    check_eq(s.get("pid"), gw.pid, "pid")
    check_eq(s.get("version"), aigw_version(), "version (as aigw -v)")
    check(isinstance(s.get("uptime_seconds"), int) and 0 <= s["uptime_seconds"] < 600,
          "uptime_seconds: %r", s.get("uptime_seconds"))
    check(RFC3339.match(str(s.get("started_at"))), "started_at not RFC 3339: %r",
          s.get("started_at"))
    check_eq(s.get("mode"), "standalone", "mode")
    c = s.get("config")
    check(isinstance(c, dict), "config: %r", c)
    check_eq(c.get("version"), gw.config_version(), "config.version (as x-aigw-config-version)")
    check_eq(c.get("source"), "file:" + gw.res_path, "config.source")
    check(RFC3339.match(str(c.get("updated_at"))), "config.updated_at: %r", c.get("updated_at"))
    check_eq(s.get("generation"), 1, "generation of a master that never reloaded")
    check("last_reload" in s and s["last_reload"] is None, "last_reload before any: %r",
          s.get("last_reload"))
    ws = s.get("workers")
    check(isinstance(ws, list) and len(ws) == 2, "workers: %r", ws)
    check_eq(sorted(w.get("pid") for w in ws), pids, "worker pids (as the master's children)")
    check_eq(len({w.get("slot") for w in ws}), 2, "distinct worker slots")
    for w in ws:
        check_eq(w.get("state"), "running", "state of worker %r" % w.get("pid"))
        check_eq(w.get("generation"), 1, "generation of worker %r" % w.get("pid"))
        for k in ("requests", "in_flight"):
            check(isinstance(w.get(k), int) and w[k] >= 0, "worker %s: %r", k, w)
        check_eq(w["in_flight"], 0, "in_flight of an idle worker")
        check(RFC3339.match(str(w.get("started_at"))), "worker started_at: %r", w)
    for k in ("breakers", "ratelimit", "shared_memory"):
        check(k in s, "status has no %r: %r", k, sorted(s))


@tap.case("status: the workers' requests grow by the requests served; in_flight counts "
          "a stream while it runs")
def _(env):
    gw = env.ensure_gw()

    def total(key):
        return sum(w[key] for w in gw.status()["workers"])
    before = total("requests")
    for _ in range(12):
        chat_ok(gw)
    wait_for(lambda: total("requests") >= before + 12, 5 * SLOW,
             what="requests to grow by 12 from %d" % before)
    after = total("requests")
    check_eq(after - before, 12, "requests counted for 12 requests")
    s = gw.stream(chat_body(stream=True, mock={"chunks": 10, "delay_ms": 150}))
    try:
        check_eq(s.status, 200, "stream status")
        wait_for(lambda: total("in_flight") == 1, 5 * SLOW, what="in_flight 1 during a stream")
        ev = s.read_all()
    finally:
        s.close()
    check(ev and ev[-1].is_done, "the stream did not end with [DONE]: %r", ev[-3:])
    wait_for(lambda: total("in_flight") == 0, 5 * SLOW, what="in_flight back to 0")


@tap.case("the control socket is a socket of mode 0660")
def _(env):
    gw = env.ensure_gw()
    st = os.lstat(gw.control_path)
    check(stat.S_ISSOCK(st.st_mode), "%s is not a socket: %o", gw.control_path, st.st_mode)
    check_eq(oct(stat.S_IMODE(st.st_mode)), oct(0o660), "mode of the control socket")
    check_eq(st.st_uid, os.getuid(), "owner of the control socket")


# --------------------------------------------------------------------------
# the protocol: versions, commands, lines
# --------------------------------------------------------------------------

@tap.case("protocol version 2 (and a request without a version) is refused with the message "
          "naming both versions")
def _(env):
    gw = env.ensure_gw()
    reply = gw.control("status", version=2)
    check(reply["ok"] is False, "version 2 accepted: %r", reply)
    check_eq(reply["error"], "control protocol version 2 is not supported by this aigw (it "
             "speaks %d); use the aigwctl of the same release" % CONTROL_PROTOCOL,
             "error for version 2")
    check_eq(reply["code"], "version_mismatch", "code for version 2")
    check("result" not in reply, "a refused request has a result: %r", reply)
    reply = raw(gw, b'{"command": "status"}\n')
    check(reply["ok"] is False and reply["code"] == "version_mismatch",
          "a request without aigw_control: %r", reply)
    reply = raw(gw, b'{"aigw_control": "1", "command": "status"}\n')
    check(reply["ok"] is False and reply["code"] == "version_mismatch",
          "aigw_control as a string: %r", reply)
    check(gw.control("status")["ok"], "version 1 after the refusals")


@tap.case("an unknown command: ok false, the error names it and the commands there are")
def _(env):
    gw = env.ensure_gw()
    reply = gw.control("frobnicate")
    check(reply["ok"] is False, "unknown command accepted: %r", reply)
    check_eq(reply["code"], "unknown_command", "code")
    check('"frobnicate"' in reply["error"], "error does not name the command: %r", reply)
    for cmd in ("status", "reload", "stop", "reopen", "check"):
        check(cmd in reply["error"], "error does not list %r: %r", cmd, reply["error"])
    check(gw.running(), "the master stopped on an unknown command")


@tap.case("malformed lines (not JSON, an array, no command, a command not a string) get "
          "ok false; the master still answers")
def _(env):
    gw = env.ensure_gw()
    for data in (b"hello\n", b"{\"aigw_control\": 1, \n", b"[1, 2]\n", b"\n",
                 b'{"aigw_control": 1}\n', b'{"aigw_control": 1, "command": 7}\n'):
        reply = raw(gw, data)
        check(reply["ok"] is False and reply["code"] == "bad_request", "%r: %r", data, reply)
    reply = raw(gw, b'{"aigw_control": 1, "command": "status"}\n{"garbage after')
    check(reply["ok"] is True, "a good line followed by garbage: %r", reply)
    check_eq(gw.status()["pid"], gw.pid, "status after malformed lines")


@tap.case("clients that connect and leave without a request do not leak descriptors in "
          "the master")
def _(env):
    gw = env.ensure_gw()
    gw.status()
    before = master_fds(gw)
    for i in range(40):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(gw.control_path)
            if i % 2:
                s.sendall(b'{"aigw_control": 1, "comm')  # half a request, then gone
    gw.status()  # one full exchange after: the master saw them all
    time.sleep(0.2)
    after = master_fds(gw)
    check(after <= before + 2, "the master's descriptors grew from %d to %d after 40 "
          "connections closed without a request", before, after)


@tap.case("a request without its newline, then a half-close: the master closes the "
          "connection (with or without a reply)")
def _(env):
    gw = env.ensure_gw()
    t0 = time.monotonic()
    try:
        out = control_exchange(gw.control_path, b'{"aigw_control": 1, "command": "status"}',
                               timeout=3 * SLOW, shut_write=True)
    except OSError as exc:
        raise AssertionError("no EOF from the master within %.0fs: %r" % (3 * SLOW, exc))
    check(time.monotonic() - t0 < 3 * SLOW, "slow EOF")
    if out:
        parse_control_reply(out, "reply to a line without newline")


@tap.case("a whole request line, then a half-close: the reply still comes (status, and a "
          "reload answered when it is over)")
def _(env):
    gw = env.ensure_gw()
    reply = raw(gw, b'{"aigw_control": 1, "command": "status"}\n', shut_write=True)
    check(reply["ok"] and reply["result"]["pid"] == gw.pid, "status: %r", reply)
    reply = raw(gw, b'{"aigw_control": 1, "command": "reload", "args": {}}\n',
                shut_write=True, timeout=40 * SLOW)
    check(reply["ok"] and reply["result"].get("workers") == 2, "reload: %r", reply)


# --------------------------------------------------------------------------
# check and reopen
# --------------------------------------------------------------------------

@tap.case("check: ok true and no errors with the files as they are")
def _(env):
    gw = env.ensure_gw()
    reply = gw.control("check")
    check(reply["ok"] is True, "check: %r", reply)
    check_eq(reply["result"], {"ok": True, "errors": []}, "result of check")


@tap.case("check with a broken aigw.yaml and resources file: errors with file:line: key, "
          "and nothing changes")
def _(env):
    gw = env.ensure_gw()
    good_conf = open(gw.conf_path).read()
    good_res = open(gw.res_path).read()
    before = gw.status()
    v0 = gw.config_version()
    pids = sorted(w["pid"] for w in before["workers"])
    bad_conf = good_conf + "no_such_key: 1\n"
    line = len(bad_conf.splitlines())
    try:
        write_file(gw.conf_path, bad_conf)
        r = gw.control("check")
        check(r["ok"] is True, "check itself failed: %r", r)
        res = r["result"]
        check(res.get("ok") is False, "check of a bad aigw.yaml says ok: %r", res)
        want = "%s:%d: no_such_key" % (gw.conf_path, line)
        check(any(e.startswith(want) for e in res.get("errors", [])),
              "no error starting with %r: %r", want, res.get("errors"))
        # the resources file as well, at its own line
        write_file(gw.conf_path, good_conf)
        lines = good_res.splitlines()
        at = next(i for i, l in enumerate(lines) if "provider: openai-compatible" in l)
        lines[at] = lines[at].replace("openai-compatible", "no-such-provider")
        write_file(gw.res_path, "\n".join(lines) + "\n")
        res = gw.control("check")["result"]
        check(res.get("ok") is False, "check of a bad resources file says ok: %r", res)
        want = "%s:%d: " % (gw.res_path, at + 1)
        check(any(e.startswith(want) and "provider" in e for e in res.get("errors", [])),
              "no error starting with %r naming provider: %r", want, res.get("errors"))
        after = gw.status()
        check_eq(after["generation"], before["generation"], "generation after check")
        check_eq(sorted(w["pid"] for w in after["workers"]), pids, "workers after check")
        check_eq(after["last_reload"], before["last_reload"], "last_reload after check")
        check_eq(gw.config_version(), v0, "config version after check")
        chat_ok(gw)
    finally:
        write_file(gw.conf_path, good_conf)
        write_file(gw.res_path, good_res)
    check_eq(gw.control("check")["result"], {"ok": True, "errors": []}, "check once restored")


@tap.case("reopen: ok with an empty result")
def _(env):
    gw = env.ensure_gw()
    reply = gw.control("reopen")
    check(reply["ok"] is True, "reopen: %r", reply)
    check_eq(reply["result"], {}, "result of reopen")
    chat_ok(gw)


# --------------------------------------------------------------------------
# PID file, a second aigw
# --------------------------------------------------------------------------

@tap.case("the PID file holds the master's pid and a newline")
def _(env):
    gw = env.ensure_gw()
    with open(gw.pid_path) as f:
        text = f.read()
    check(re.match(r"^\d+\n$", text), "PID file %s holds %r", gw.pid_path, text)
    check_eq(int(text), gw.pid, "pid in the PID file")


@tap.case("a second aigw with the same control.socket refuses to start with a clear "
          "message; the first keeps serving and keeps its socket and PID file")
def _(env):
    gw = env.ensure_gw()
    d2 = os.path.join(gw.dir, "second")
    os.makedirs(d2, exist_ok=True)
    conf = default_config(free_port(), os.path.join(d2, "data"), gw.res_path)
    conf["control"] = {"socket": gw.control_path}
    conf["pid_file"] = os.path.join(d2, "aigw.pid")
    second = Gateway(standard_resources(env.mock.port), config=conf,
                     env={"MOCK_KEY": MOCK_KEY}, workdir=d2, start=False)
    second.start(wait=False)
    tap.add_gateway_log(second, "second aigw log")
    rc = second.wait_exit(timeout=15 * SLOW)
    log = second.log()  # (no second.stop(): it is gone, and its exit status is checked here)
    check_eq(rc, 1, "exit status of the second aigw")
    check(gw.control_path in log and "another aigw answers there" in log,
          "the second aigw's log does not say why: %r", log[-1500:])
    check(not os.path.exists(conf["pid_file"]), "the second aigw left a PID file")
    check(stat.S_ISSOCK(os.lstat(gw.control_path).st_mode), "the socket file is gone")
    check_eq(gw.status()["pid"], gw.pid, "the first master's status")
    check_eq(int(open(gw.pid_path).read()), gw.pid, "the first master's PID file")
    chat_ok(gw)


@tap.case("SIGTERM: the master exits 0 and removes its PID file and control socket")
def _(env):
    gw = env.ensure_gw()
    check(os.path.exists(gw.pid_path) and os.path.exists(gw.control_path),
          "no PID file or socket to remove")
    check_eq(gw.stop(), 0, "exit status after SIGTERM")
    check(not os.path.exists(gw.pid_path), "PID file %s left behind" % gw.pid_path)
    check(not os.path.exists(gw.control_path), "control socket %s left behind" %
          gw.control_path)


@tap.case("after kill -9 of the master, a new aigw replaces the stale control socket and "
          "rewrites the PID file")
def _(env):
    gw = env.ensure_gw()
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    gw.proc.kill()
    gw.proc.wait(timeout=10)
    # its workers see the master die (SIGTERM) and drain; the port is free after
    wait_for(lambda: not any(pid_alive(p) for p in workers), 15 * SLOW,
             what="the dead master's workers %r to exit" % workers)
    check(stat.S_ISSOCK(os.lstat(gw.control_path).st_mode), "no stale socket to replace")
    gw.start()
    check_eq(gw.status()["pid"], gw.pid, "status of the new master")
    check_eq(int(open(gw.pid_path).read()), gw.pid, "PID file of the new master")
    chat_ok(gw)


# --------------------------------------------------------------------------
# stop
# --------------------------------------------------------------------------

@tap.case("stop graceful: reply {stopping: true}, the in-flight stream finishes with "
          "[DONE], the master exits 0, PID file and socket removed")
def _(env):
    gw = env.ensure_gw()
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    s = gw.stream(chat_body(stream=True, mock={"chunks": 12, "delay_ms": 150}))
    try:
        check_eq(s.status, 200, "stream status")
        events = s.events()
        check(next(events, None) is not None, "no first event")
        reply = gw.control("stop", graceful=True)
        check_eq(reply, {"aigw_control": 1, "ok": True,
                         "result": {"stopping": True, "pid": gw.pid}}, "reply to stop")
        for _ in events:
            pass
    finally:
        s.close()
    ev = s.received
    check(ev and ev[-1].is_done, "stream cut by a graceful stop: last events %r (error %r)",
          ev[-3:], s.error)
    check_eq(stream_text(ev), " ".join("tok%d" % i for i in range(12)), "streamed content")
    rc = gw.wait_exit(timeout=15 * SLOW)
    check_eq(rc, 0, "exit status after a graceful stop")
    wait_for(lambda: not any(pid_alive(p) for p in workers), 5 * SLOW,
             what="workers %r to exit" % workers)
    check(not os.path.exists(gw.pid_path), "PID file %s left behind" % gw.pid_path)
    check(not os.path.exists(gw.control_path), "control socket %s left behind" %
          gw.control_path)
    gw.stop()


@tap.case("during a graceful stop, new connections to the client port are refused while "
          "an in-flight stream finishes")
def _(env):
    gw = env.ensure_gw()
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    s = gw.stream(chat_body(stream=True, mock={"chunks": 20, "delay_ms": 150}))
    try:
        check_eq(s.status, 200, "stream status")
        events = s.events()
        check(next(events, None) is not None, "no first event")
        check(gw.control("stop", graceful=True)["ok"], "stop")

        def refused():
            try:
                with socket.create_connection(("127.0.0.1", gw.port), timeout=1) as c:
                    c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    c.settimeout(0.5)
                    try:
                        answer = c.recv(100)
                    except socket.timeout:
                        answer = None
                    return "accepted, answered %r" % (answer,)
            except ConnectionRefusedError:
                return True
        last = [None]

        def wait_refused():
            last[0] = refused()
            return last[0] is True or None
        try:
            wait_for(wait_refused, 2 * SLOW, interval=0.1, what="the port to refuse")
        except AssertionError:
            raise AssertionError("2 s into a graceful stop, a new connection to port %d is "
                                 "still %s (the stream is still running)" % (gw.port, last[0]))
        for _ in events:
            pass
        check(s.received and s.received[-1].is_done, "stream cut: %r", s.received[-3:])
        check_eq(gw.wait_exit(timeout=15 * SLOW), 0, "exit status")
        wait_for(lambda: not any(pid_alive(p) for p in workers), 5 * SLOW,
                 what="workers %r to exit" % workers)
    finally:
        s.close()
        gw.stop()  # (the next case needs a gateway that is not stopping)


@tap.case("stop not graceful: the in-flight stream is cut, the master exits 0 at once, "
          "PID file and socket removed")
def _(env):
    gw = env.ensure_gw()
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    s = gw.stream(chat_body(stream=True, mock={"chunks": 100, "delay_ms": 100}))
    try:
        check_eq(s.status, 200, "stream status")
        events = s.events()
        check(next(events, None) is not None, "no first event")
        t0 = time.monotonic()
        reply = gw.control("stop", graceful=False)
        check_eq(reply.get("result"), {"stopping": True, "pid": gw.pid}, "reply to stop")
        done = threading.Event()

        def drain():
            for _ in events:
                pass
            done.set()
        th = threading.Thread(target=drain, daemon=True)
        th.start()
        rc = gw.wait_exit(timeout=8 * SLOW)
        took = time.monotonic() - t0
        check_eq(rc, 0, "exit status after stop")
        check(took < 5 * SLOW, "stop not graceful took %.1fs", took)
        check(done.wait(5 * SLOW), "the stream is still open after the master exited")
    finally:
        s.close()
    ev = s.received
    check(not (ev and ev[-1].is_done), "the 10 s stream was not cut: it ended with [DONE]")
    check(len(ev) < 60, "%d events arrived: the stream went on", len(ev))
    wait_for(lambda: not any(pid_alive(p) for p in workers), 5 * SLOW,
             what="workers %r to exit" % workers)
    check(not os.path.exists(gw.pid_path), "PID file %s left behind" % gw.pid_path)
    check(not os.path.exists(gw.control_path), "control socket left behind")
    gw.stop()


if __name__ == "__main__":
    main(tap, fixture)
