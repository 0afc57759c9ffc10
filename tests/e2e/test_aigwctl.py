# SPDX-License-Identifier: Apache-2.0
"""End-to-end: aigwctl, the control tool.

aigwctl is run as a command, as a person or a script would, and judged by
its exit status (0 done, 1 failed, 2 usage error, 3 aigw cannot be reached),
its output and its messages, each of which must say what to do.

- Usage errors and unreachable addresses need no aigw.
- The control client is also run against fake control servers (a UNIX
  socket served by this file), which can answer with another protocol
  version, garbage, nothing, or too late.
- One mock and one aigw (2 workers, an admin and a viewer admin key) serve
  the Admin API cases (model and key commands, every way of giving the admin
  key) and the control socket cases (status, check, reload, reopen), and
  last `stop --graceful`, which ends the gateway.

Every run of aigwctl is checked for secrets: the admin keys and the
providers' keys never show in full on its output or its messages.
"""

import hashlib
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Gateway, TestFailure, access_lines, check, check_eq,
        dead_port, free_port, main, make_tmpdir, mock_and_gateway, standard_resources, write_file,
        wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")
ADMIN_KEY = "adm-ctl-key-0123456789abcdef"
VIEWER_KEY = "view-ctl-key-0123456789abcdef"
PROVIDER_SECRET = "sk-provider-ctl-0123456789-WXYZ"  # for models that do not serve
MOCK_MASKED = "****" + MOCK_KEY[-4:]
SECRETS = [ADMIN_KEY, VIEWER_KEY, MOCK_KEY, PROVIDER_SECRET]
RUN_TIMEOUT = 30.0 * SLOW
TMP = make_tmpdir("aigwctl-e2e-")


class Result:
    """What one aigwctl run did: rc, out, err."""

    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as exc:
            raise TestFailure("aigwctl %s: --json output is not JSON (%s): %r"
                              % (" ".join(self.args), exc, self.out[:500]))

    def __repr__(self):
        return "<aigwctl %s: rc %r, out %r, err %r>" % (" ".join(self.args), self.rc,
                                                        self.out[:800], self.err[:800])


def ctl(*args, stdin=None, environ=None, admin_key_env=None, timeout=RUN_TIMEOUT, secrets=None):
    """Run aigwctl with args; return a Result. Fails when a secret shows in
    full on its output (new_secrets: those the run may print, a generated key)."""
    if not os.access(AIGWCTL, os.X_OK):
        raise TestFailure("aigwctl binary %s is missing or not executable" % AIGWCTL)
    e = {k: v for k, v in os.environ.items() if k != "AIGW_ADMIN_KEY"}
    if admin_key_env is not None:
        e["AIGW_ADMIN_KEY"] = admin_key_env
    e.update(environ or {})
    p = subprocess.run([AIGWCTL] + list(args), input=stdin, capture_output=True, text=True,
                       env=e, timeout=timeout)
    r = Result(list(args), p.returncode, p.stdout, p.stderr)
    check(p.returncode >= 0, "aigwctl was killed by signal %d: %r", -p.returncode, r)
    check(not re.search(r"Sanitizer|runtime error:", r.err), "sanitizer report: %s", r.err)
    for s in (secrets if secrets is not None else SECRETS):
        check(s not in r.out and s not in r.err, "a secret (%s...) shows in full: %r", s[:6], r)
    return r


def expect(r, rc, err_re=None, out_re=None):
    """Check a run's exit status and, by regular expression, its messages and output."""
    check(r.rc == rc, "expected exit status %d: %r", rc, r)
    if err_re is not None:
        check(re.search(err_re, r.err, re.S), "stderr does not match %r: %r", err_re, r)
    if out_re is not None:
        check(re.search(out_re, r.out, re.S), "stdout does not match %r: %r", out_re, r)
    if rc != 0:
        last = r.err.rstrip("\n").split("\n")[-1]
        check(last.startswith("aigwctl: "), "a failure must end with a message of aigwctl: %r",
              r)
    return r


# --------------------------------------------------------------------------
# A fake master: a UNIX socket answering as the case tells it
# --------------------------------------------------------------------------

class FakeControl:
    """Serve path; answer(request dict or raw bytes) returns the reply:
    a dict (sent as one JSON line), bytes (sent as they are), None (close
    without a reply) or "hang" (keep the connection open, say nothing)."""

    def __init__(self, answer, delay=0.0, name="fake.sock"):
        self.path = os.path.join(TMP, "%d-%s" % (free_port(), name))
        self.answer = answer
        self.delay = delay
        self.requests = []  # raw request lines
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.closing = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            data = b""
            conn.settimeout(10)
            try:
                while b"\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                return
            self.requests.append(data)
            try:
                req = json.loads(data.decode())
            except ValueError:
                req = data
            reply = self.answer(req)
            time.sleep(self.delay)
            if reply == "hang":
                time.sleep(20)
                return
            if reply is None:
                return
            if isinstance(reply, dict):
                reply = (json.dumps(reply) + "\n").encode()
            try:
                conn.sendall(reply)
            except OSError:
                pass

    def request(self, i=-1):
        """A request as received, parsed; checks it is one JSON line."""
        raw = self.requests[i]
        check(raw.endswith(b"\n") and raw.count(b"\n") == 1,
              "a request must be one line ending in \\n: %r", raw)
        return json.loads(raw.decode())

    def close(self):
        self.closing = True
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def ok_reply(result):
    return {"aigw_control": 1, "ok": True, "result": result}


def fake_status(pid=4242):
    """A status result as the contract describes it."""
    return {
        "pid": pid, "version": "0.1.0", "started_at": "2026-11-22T10:00:00Z",
        "uptime_seconds": 7384, "mode": "standalone",
        "config": {"version": 14, "source": "file:/etc/aigw/resources.yaml",
                   "updated_at": "2026-11-22T10:01:00Z"},
        "generation": 3,
        "workers": [
            {"slot": 0, "pid": 4243, "state": "running", "generation": 3, "requests": 1200,
             "in_flight": 2, "started_at": "2026-11-22T10:02:00Z"},
            {"slot": 1, "pid": 4244, "state": "draining", "generation": 2, "requests": 77,
             "in_flight": 1, "started_at": "2026-11-22T10:00:00Z"}],
        "last_reload": {"at": "2026-11-22T10:02:00Z", "ok": True},
        "breakers": [], "ratelimit": {"backend": "local", "denied": 5, "backend_errors": 0},
        "shared_memory": {"slots": 65536, "used": 9, "full_events": 0},
    }


def with_fake(answer, fn, delay=0.0):
    fake = FakeControl(answer, delay=delay)
    try:
        return fn(fake)
    finally:
        fake.close()


# --------------------------------------------------------------------------
# Cases without aigw
# --------------------------------------------------------------------------

@tap.case("usage errors exit 2 with a message that says what to do; -h and -v exit 0")
def _(env):
    sock = os.path.join(TMP, "none.sock")
    for args, msg in [
            ([], r"no command given.*aigwctl -h"),
            (["frobnicate"], r"unknown command \"frobnicate\""),
            (["-s", sock, "status", "extra"], r"status takes no argument"),
            (["--timeout", "soon", "-s", sock, "reload"], r"--timeout soon: give a whole number"),
            (["--timeout", "0", "-s", sock, "reload"], r"--timeout 0"),
            (["-s", sock, "--graceful", "reload"], r"--graceful is for stop only"),
            (["--no-such-option", "status"], r"unknown option --no-such-option\n.*aigwctl -h"),
            (["-x", "status"], r"unknown option -x\n"),
            (["status", "-s"], r"-s needs a value\n"),
            (["status", "--timeout"], r"--timeout needs a value\n"),
            (["--admin-url", "http://127.0.0.1:1", "model"], r"model needs a command"),
            (["--admin-url", "http://127.0.0.1:1", "model", "rotate", "x"],
             r"rotate is for keys"),
            (["--admin-url", "http://127.0.0.1:1", "key", "get"], r"key get takes one ID"),
            (["--admin-url", "http://127.0.0.1:1", "key", "get", "a/b"], r"not a valid id"),
            (["--admin-url", "http://127.0.0.1:1", "-f", "x.yaml", "model", "list"],
             r"-f is for create and update only"),
            (["--admin-url", "http://127.0.0.1:1", "--revision", "x", "model", "delete", "a"],
             r"--revision x"),
            (["--admin-url", "ftp://127.0.0.1:1", "model", "list"], r"http:// or https://"),
            (["-c", os.path.join(TMP, "missing.yaml"), "status"],
             r"cannot read -c .*missing.yaml: No such file.*aigw.yaml that aigw runs with"),
    ]:
        r = expect(ctl(*args), 2, msg)
        check(r.out == "", "a usage error prints nothing on stdout: %r", r)
    # create with nothing on stdin but a terminal is refused before any request; here stdin
    # is not a terminal, so an empty document goes to the API: tested with a gateway below
    r = expect(ctl("-h"), 0, out_re=r"usage: aigwctl.*status.*reload.*stop.*reopen.*check"
               r".*model.*key.*exit status")
    expect(ctl("--version"), 0, out_re=r"^aigwctl \d+\.\d+\.\d+ \(control protocol 1\)\n$")


@tap.case("control socket missing, stale or off: exit 3 with the hint (-s, aigw.yaml)")
def _(env):
    missing = os.path.join(TMP, "missing.sock")
    expect(ctl("-s", missing, "status"), 3,
           r"^aigwctl: cannot connect to %s: No such file or directory; is aigw running\? "
           r"\(systemctl status aigw\) or pass -s\n$" % re.escape(missing))
    # a socket file nobody listens on (left by a crash): connection refused
    stale = os.path.join(TMP, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)
    s.close()
    expect(ctl("-s", stale, "reload"), 3, r"Connection refused; aigw is not running.*-s")
    # the socket comes from control.socket of the aigw.yaml given with -c
    conf = write_file(os.path.join(TMP, "ctl-only.yaml"),
                      {"control": {"socket": os.path.join(TMP, "from-conf.sock")}})
    expect(ctl("-c", conf, "status"), 3, r"cannot connect to %s" %
           re.escape(os.path.join(TMP, "from-conf.sock")))
    # relative to the folder of aigw.yaml, as aigw resolves it
    rel = write_file(os.path.join(TMP, "rel.yaml"), {"control": {"socket": "run/rel.sock"}})
    expect(ctl("-c", rel, "status"), 3, r"cannot connect to %s" %
           re.escape(os.path.join(TMP, "run", "rel.sock")))
    off = write_file(os.path.join(TMP, "off.yaml"), 'control:\n  socket: ""\n')
    expect(ctl("-c", off, "status"), 3, r"control.socket is empty in .*off.yaml; set it")
    # an aigw.yaml with errors elsewhere still gives its control.socket
    bad = write_file(os.path.join(TMP, "bad.yaml"), "workers: lots\ncontrol:\n  socket: %s\n"
                     % os.path.join(TMP, "bad.sock"))
    expect(ctl("-c", bad, "status"), 3, r"cannot connect to %s" %
           re.escape(os.path.join(TMP, "bad.sock")))
    # one that cannot be parsed at all: a warning, then the built-in default
    broken = write_file(os.path.join(TMP, "broken.yaml"), "control: [unclosed\n")
    expect(ctl("-c", broken, "status"), 3,
           r"warning: .*broken.yaml:\d+: YAML syntax error.*built-in defaults.*cannot connect")


@tap.case("Admin API unreachable or off: exit 3 with the hint (--admin-url, admin.listen)")
def _(env):
    url = "http://%s:%d" % (HOST, dead_port())
    expect(ctl("--admin-url", url, "model", "list"), 3,
           r"cannot reach the Admin API at %s: .*is aigw running.*--admin-url" % re.escape(url))
    port = dead_port()
    conf = write_file(os.path.join(TMP, "adm.yaml"), {"admin": {"listen": ["%s:%d" % (HOST, port)]}})
    expect(ctl("-c", conf, "key", "list"), 3,
           r"Admin API at http://127\.0\.0\.1:%d: " % port)
    off = write_file(os.path.join(TMP, "adm-off.yaml"), "admin:\n  listen: []\n")
    expect(ctl("-c", off, "model", "list"), 3, r"the Admin API is off: admin.listen is empty in "
           r".*adm-off.yaml; set it, or pass --admin-url")


@tap.case("fake master speaking control protocol 2: refused clearly (exit 1), either side")
def _(env):
    # a master of another release refuses our version: its message is shown
    said = "control protocol version 1 is not supported by this aigw (it speaks 2); use the " \
           "aigwctl of the same release"

    def refuse(req):
        return {"aigw_control": 2, "ok": False, "error": said}

    def run(fake):
        r = expect(ctl("-s", fake.path, "status"), 1,
                   r"aigw on .* speaks control protocol version 2 and this aigwctl speaks 1; use "
                   r"the aigwctl of the same release as aigw")
        check(said in r.err, "the master's own message is shown too: %r", r)
        check_eq(fake.request(), {"aigw_control": 1, "command": "status", "args": {}},
                 "the request")
        check(r.out == "", "nothing on stdout: %r", r)
    with_fake(refuse, run)

    # a reply of version 2 that claims success is refused as well, result unused
    def run2(fake):
        r = expect(ctl("-s", fake.path, "--json", "status"), 1,
                   r"speaks control protocol version 2 and this aigwctl speaks 1")
        check(r.out == "", "a reply of another version is not printed: %r", r)
    with_fake(lambda req: {"aigw_control": 2, "ok": True, "result": fake_status()}, run2)

    # the same master, answering our version: the refusal message comes as it is
    def run3(fake):
        expect(ctl("-s", fake.path, "reopen"), 1, r"^aigwctl: reopen: " + re.escape(said))
    with_fake(lambda req: {"aigw_control": 1, "ok": False, "error": said}, run3)


@tap.case("fake master: not a reply (garbage, no version, closed, too slow, > 1 MiB): exit 1")
def _(env):
    cases = [
        (lambda req: b"HTTP/1.1 400 Bad Request\r\n\r\n", r"not a JSON object.*control socket"),
        (lambda req: {"ok": True, "result": {}}, r"no \"aigw_control\" version"),
        (lambda req: {"aigw_control": "1", "ok": True}, r"no \"aigw_control\" version"),
        (lambda req: {"aigw_control": 1, "result": {}}, r"has no \"ok\""),
        (lambda req: None, r"closed the control connection without answering status; see its "
                           r"log"),
        (lambda req: b"{" + b" " * (1024 * 1024 + 10), r"larger than the protocol's 1 MiB"),
    ]
    for answer, msg in cases:
        with_fake(answer, lambda fake: expect(ctl("-s", fake.path, "status"), 1, msg))
    # no answer: --timeout bounds the wait
    t0 = time.monotonic()
    with_fake(lambda req: "hang", lambda fake: expect(
        ctl("-s", fake.path, "--timeout", "1", "reload"), 1,
        r"no answer from aigw within 1 s; the reload goes on: see aigwctl status.*--timeout"))
    check(time.monotonic() - t0 < 8 * SLOW, "--timeout 1 waited %.1fs", time.monotonic() - t0)
    # a reply without "\n" but then EOF is still a reply
    with_fake(lambda req: json.dumps(ok_reply({})).encode(),
              lambda fake: expect(ctl("-s", fake.path, "reopen"), 0, out_re=r"reopened"))


@tap.case("fake master: status, reload, stop, reopen, check requests and their output")
def _(env):
    st = fake_status()

    def status(fake):
        r = expect(ctl("-s", fake.path, "status"), 0)
        for pat in [r"^aigw 0\.1\.0, pid 4242, up 2h 3m \(since 2026-11-22T10:00:00Z\)\n",
                    r"mode: +standalone\n", r"config: +version 14, from file:/etc/aigw/"
                    r"resources.yaml", r"generation: +3\n", r"last reload: +2026-11-22T10:02:00Z, ok",
                    r"SLOT +PID +STATE +GENERATION +REQUESTS +IN FLIGHT +STARTED\n",
                    r"\n0 +4243 +running +3 +1200 +2 +2026-11-22T10:02:00Z\n",
                    r"\n1 +4244 +draining +2 +77 +1 "]:
            check(re.search(pat, r.out), "status output lacks %r: %r", pat, r.out)
        r = expect(ctl("-s", fake.path, "--json", "status"), 0)
        check_eq(r.json(), st, "status --json is the master's result")
    with_fake(lambda req: ok_reply(st), status)

    # an etcd node whose last reload failed
    st2 = dict(st, mode="etcd", last_reload={"at": "2026-11-22T10:03:00Z", "ok": False,
                                             "error": "aigw.yaml:3: workers: must be an integer"},
               etcd={"connected": False, "endpoint": "http://127.0.0.1:2379", "state":
                     "unreachable", "revision": 57, "last_error": "connection refused"})
    with_fake(lambda req: ok_reply(st2), lambda fake: expect(
        ctl("-s", fake.path, "status"), 0,
        out_re=r"etcd: +unreachable, revision 57, http://127.0.0.1:2379 \(not connected\).*"
        r"etcd error: +connection refused.*last reload: +2026-11-22T10:03:00Z, failed: aigw.yaml:3"))

    def reload_ok(fake):
        r = expect(ctl("-s", fake.path, "reload"), 0,
                   out_re=r"^reload done: generation 4; 2 workers serve the new configuration\n$")
        check_eq(fake.request()["command"], "reload", "command")
        check_eq(ctl("-s", fake.path, "--json", "reload").json(), {"generation": 4, "workers": 2},
                 "reload --json")
    with_fake(lambda req: ok_reply({"generation": 4, "workers": 2}), reload_ok, delay=0.3)

    err = "/etc/aigw/aigw.yaml:7: timeouts.drain: must be a duration such as 30s"
    with_fake(lambda req: {"aigw_control": 1, "ok": False, "error": err},
              lambda fake: expect(ctl("-s", fake.path, "reload"), 1,
                                  r"^aigwctl: reload failed: " + re.escape(err) +
                                  r"\naigwctl: aigw keeps serving the previous configuration; "
                                  r"fix the error .*aigwctl reload again\n$"))
    with_fake(lambda req: {"aigw_control": 1, "ok": False, "code": "reload_in_progress",
                           "error": "a reload is already in progress"},
              lambda fake: expect(ctl("-s", fake.path, "reload"), 1,
                                  r"already in progress; wait for it to end"))

    # stop: status for the pid, then stop; waits for the pid to be gone (here it is)
    gone = subprocess.Popen(["true"])
    gone.wait()

    def stop_answer(req):
        if req["command"] == "status":
            return ok_reply(fake_status(pid=gone.pid))
        return ok_reply({"stopping": True})

    def stop(fake):
        expect(ctl("-s", fake.path, "stop", "--graceful"), 0,
               out_re=r"^aigw \(pid %d\) stopped gracefully\n$" % gone.pid)
        check_eq(fake.request()["args"], {"graceful": True}, "stop --graceful args")
        r = expect(ctl("-s", fake.path, "--json", "stop"), 0)
        check_eq(fake.request()["args"], {"graceful": False}, "stop args")
        check_eq(r.json(), {"stopping": True, "pid": gone.pid, "stopped": True}, "stop --json")
    with_fake(stop_answer, stop)

    # a master that says it stops but does not: exit 1 after --timeout
    alive = subprocess.Popen(["sleep", "30"])
    try:
        def stuck(req):
            if req["command"] == "status":
                return ok_reply(fake_status(pid=alive.pid))
            return ok_reply({"stopping": True})
        with_fake(stuck, lambda fake: expect(
            ctl("-s", fake.path, "--timeout", "1", "stop", "--graceful"), 1,
            r"aigw \(pid %d\) is still running 1 s after it was asked to stop \(it drains "
            r"requests up to timeouts.drain\)" % alive.pid))
    finally:
        alive.kill()
        alive.wait()

    with_fake(lambda req: ok_reply({}), lambda fake: expect(
        ctl("-s", fake.path, "reopen"), 0, out_re=r"^log files reopened\n$"))
    errs = ["/etc/aigw/aigw.yaml:3: workers: must be an integer or auto",
            "/etc/aigw/resources.yaml:9: models[0].provider: must be one of: openai"]
    with_fake(lambda req: ok_reply({"ok": False, "errors": errs}), lambda fake: (
        expect(ctl("-s", fake.path, "check"), 1,
               re.escape(errs[0]) + r"\n" + re.escape(errs[1]) + r"\naigwctl: configuration check failed"),
        check_eq(ctl("-s", fake.path, "--json", "check").json(), {"ok": False, "errors": errs},
                 "check --json")))
    with_fake(lambda req: ok_reply({"ok": True, "errors": []}), lambda fake: expect(
        ctl("-s", fake.path, "check"), 0, out_re=r"^configuration OK\n$"))


# --------------------------------------------------------------------------
# A real aigw: the Admin API
# --------------------------------------------------------------------------

def admin_config():
    return {"admin": {"listen": ["%s:%d" % (HOST, free_port())],
                      "keys": [{"name": "root", "key": ADMIN_KEY, "role": "admin"},
                               {"name": "auditor", "key": VIEWER_KEY, "role": "viewer"}]}}


def fixture():
    return mock_and_gateway(config=admin_config())


def key_file(key, name="admin.key"):
    return write_file(os.path.join(TMP, name), key + "\n")


def adm(env, *args, key=ADMIN_KEY, **kw):
    """aigwctl -c <the gateway's aigw.yaml> with the admin key from a file."""
    pre = ["-c", env.gw.conf_path]
    if key is not None:
        pre += ["--admin-key-file", key_file(key)]
    return ctl(*(pre + list(args)), **kw)


def model_yaml(env, name, secret=PROVIDER_SECRET):
    return ("# a model for aigwctl\nname: %s\nprovider: openai-compatible\nmodel: up-%s\n"
            "api_base: %s\napi_key: %s\n" % (name, name, env.mock.url(), json.dumps(secret)))


@tap.case("model list: a table for people and {items, total} for scripts; secrets masked")
def _(env):
    r = expect(adm(env, "model", "list"), 0)
    lines = r.out.splitlines()
    check(re.match(r"^ID +NAME +PROVIDER +MODEL +TARGETS +REVISION$", lines[0]), "header: %r", r)
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    check_eq(sorted(rows), ["mock-b", "mock-gpt", "other-model"], "model ids")
    check_eq(rows["mock-gpt"][1:5], ["mock-gpt", "openai-compatible", "mock-1", "1"], "a row")
    j = expect(adm(env, "--json", "model", "list"), 0).json()
    check(set(j) == {"items", "total"} and j["total"] == 3, "--json: %r", j)
    check_eq(sorted(i["id"] for i in j["items"]), sorted(rows), "--json ids")


@tap.case("model create (YAML file, ${VAR}), get (YAML, --json), update (JSON on stdin), delete")
def _(env):
    path = write_file(os.path.join(TMP, "m1.yaml"),
                      model_yaml(env, "ctl-m1", "${CTL_PROVIDER_KEY}"))
    r = expect(adm(env, "model", "create", "-f", path, environ={"CTL_PROVIDER_KEY": MOCK_KEY}),
               0, out_re=r"^created model [0-9a-f]{16} \(name ctl-m1, revision \d+\)\n$")
    mid = r.out.split()[2]
    # the model serves, with the secret that ${VAR} gave
    resp = env.gw.chat(key="sk-test-all", model="ctl-m1")
    check(resp.status == 200, "a chat with the new model: %r", resp)
    # get for people: YAML that -f reads back, the secret masked
    r = expect(adm(env, "model", "get", mid), 0, out_re=r"^# model %s, revision \d+\n" % mid)
    check("name: ctl-m1\n" in r.out and "api_key: \"%s\"\n" % MOCK_MASKED in r.out, "get: %r", r)
    got = expect(adm(env, "--json", "model", "get", mid), 0).json()
    check(set(got) == {"id", "value", "revision"} and got["id"] == mid, "get --json: %r", got)
    check_eq(got["value"]["api_key"], MOCK_MASKED, "masked api_key")
    # update: the YAML of get, changed, back through stdin; the masked secret is kept
    text = r.out.replace("model: up-ctl-m1", "model: up-ctl-m1-v2")
    r2 = expect(adm(env, "model", "update", mid, stdin=text), 0,
                out_re=r"^updated model %s \(name ctl-m1, revision (\d+)\)\n$" % mid)
    check(int(r2.out.split()[-1].rstrip(")\n")) > got["revision"], "revision grows: %r", r2)
    check(env.gw.chat(key="sk-test-all", model="ctl-m1").status == 200,
          "the masked secret was kept: the mock takes it")
    # update with the JSON of get --json: its revision guards the write (stale now: 412)
    stale = json.dumps(got)
    expect(adm(env, "model", "update", mid, stdin=stale), 1,
           r"HTTP 412, revision_mismatch.*read it again \(aigwctl model get %s\) and retry" % mid)
    # --revision says which
    cur = adm(env, "--json", "model", "get", mid).json()
    expect(adm(env, "--revision", str(cur["revision"]), "model", "update", mid,
               stdin=json.dumps(cur["value"])), 0, out_re=r"^updated model")
    # delete, then it is gone
    expect(adm(env, "model", "delete", mid), 0, out_re=r"^deleted model %s \(revision \d+\)\n$"
           % mid)
    expect(adm(env, "model", "get", mid), 1,
           r"\(HTTP 404, not_found\)\naigwctl: there is no model with id %s: aigwctl model list "
           r"shows the ids" % mid)
    expect(adm(env, "model", "delete", mid), 1, r"not_found")
    expect(adm(env, "model", "update", mid, stdin=json.dumps(cur["value"])), 1, r"not_found")


@tap.case("model create with an id (command line or document), and an existing id refused")
def _(env):
    expect(adm(env, "model", "create", "ctl-fixed", stdin=model_yaml(env, "ctl-fixed")), 0,
           out_re=r"^created model ctl-fixed \(name ctl-fixed")
    expect(adm(env, "model", "create", "ctl-fixed", stdin=model_yaml(env, "ctl-fixed-2")), 1,
           r"a model with id ctl-fixed exists already: use aigwctl model update ctl-fixed")
    # an entry of a resources file, with its id
    doc = "id: ctl-doc\n" + model_yaml(env, "ctl-doc")
    expect(adm(env, "--json", "model", "create", stdin=doc), 0, out_re=r"\"id\": \"ctl-doc\"")
    expect(adm(env, "model", "create", "other-id", stdin=doc), 2, r"is not the id in the document")
    for mid in ("ctl-fixed", "ctl-doc"):
        expect(adm(env, "model", "delete", mid), 0)


@tap.case("invalid documents: the API's errors (every detail) or the file's line, exit 1")
def _(env):
    r = expect(adm(env, "model", "create", stdin="name: ctl-bad\nprovider: bogus\n"
                   "timeouts:\n  connect: soon\n"), 1,
               r"\(HTTP 400, invalid_resource\)\n(  .*\n)*aigwctl: fix the document")
    check("provider" in r.err and "connect" in r.err, "every error is shown: %r", r)
    path = write_file(os.path.join(TMP, "broken.yaml"), "name: x\nprovider: [unclosed\n")
    expect(adm(env, "model", "create", "-f", path), 1,
           r"broken.yaml:\d+: YAML syntax error.*\naigwctl: fix .*broken.yaml and try again")
    expect(adm(env, "model", "create", stdin="- a\n- b\n"), 1, r"must be a mapping")
    expect(adm(env, "model", "create", "-f", os.path.join(TMP, "nope.yaml")), 1,
           r"nope.yaml: cannot open: No such file")
    path = write_file(os.path.join(TMP, "unset.yaml"), model_yaml(env, "ctl-u", "${CTL_UNSET}"))
    expect(adm(env, "model", "create", "-f", path), 1, r"unset.yaml:\d+: .*CTL_UNSET")
    expect(adm(env, "model", "create", stdin=model_yaml(env, "ctl-m", "****WXYZ")), 1,
           r"masked_secret.*give the provider's api_key in full")


@tap.case("key create prints the generated key once; it serves; list/get never show it")
def _(env):
    r = expect(adm(env, "key", "create", stdin='{"name": "ctl-k1", "allowed_models": ["mock-*"]}',
                   secrets=SECRETS), 0,
               out_re=r"^created API key [0-9a-f]{16} \(name ctl-k1, revision \d+\)\n"
               r"key: sk-[A-Za-z0-9_-]{43}\n$", err_re=r"shown only now")
    kid, key = r.out.split()[3], r.out.split()[-1]
    check(env.gw.chat(key=key).status == 200, "the generated key serves")
    for args in (["key", "list"], ["--json", "key", "list"], ["key", "get", kid],
                 ["--json", "key", "get", kid]):
        out = expect(adm(env, *args, secrets=SECRETS + [key]), 0)
        check(kid in out.out, "%s shows the key's id: %r", args, out)
    lst = adm(env, "key", "list").out
    check(re.search(r"\n%s +ctl-k1 +mock-\* +- +active +\d+\n" % kid, lst), "key list: %r", lst)
    # update keeps the key (its key_sha256 is sent along), and disabling it stops it
    expect(adm(env, "key", "update", kid, stdin="name: ctl-k1\ndisabled: true\n",
               secrets=SECRETS + [key]), 0, out_re=r"^updated API key %s" % kid)
    check(env.gw.chat(key=key).status == 401, "a disabled key is refused")
    lst = adm(env, "key", "list").out
    check(re.search(r"\n%s +ctl-k1 .* disabled +\d+\n" % kid, lst), "disabled in list: %r", lst)
    expect(adm(env, "key", "update", kid, stdin="name: ctl-k1\ndisabled: false\n",
               secrets=SECRETS + [key]), 0)
    check(env.gw.chat(key=key).status == 200, "enabled again, with the same key")
    env.ctl_key = (kid, key)


@tap.case("key rotate prints the new key once: the old key stops, the new one serves; delete")
def _(env):
    kid, old = env.ctl_key
    r = expect(adm(env, "key", "rotate", kid, secrets=SECRETS + [old]), 0,
               out_re=r"^rotated API key %s \(name ctl-k1, revision \d+\)\nkey: sk-[A-Za-z0-9_-]{43}\n$"
               % kid)
    new = r.out.split()[-1]
    check(new != old, "a new key")
    check(env.gw.chat(key=old).status == 401, "the old key stops")
    check(env.gw.chat(key=new).status == 200, "the new key serves")
    j = expect(adm(env, "--json", "key", "rotate", kid, secrets=SECRETS + [old, new]), 0).json()
    check(j["value"]["key"].startswith("sk-") and j["id"] == kid, "rotate --json: %r", j)
    expect(adm(env, "key", "rotate", "no-such-key"), 1, r"not_found.*aigwctl key list")
    expect(adm(env, "key", "delete", kid), 0, out_re=r"^deleted API key %s" % kid)
    check(env.gw.chat(key=j["value"]["key"]).status == 401, "a deleted key is refused")


@tap.case("the admin key: from a file, AIGW_ADMIN_KEY, --admin-key (warned); none or wrong: exit 1")
def _(env):
    c = ["-c", env.gw.conf_path]
    expect(ctl(*(c + ["--admin-key-file", key_file(ADMIN_KEY), "model", "list"])), 0)
    expect(ctl(*(c + ["model", "list"])), 1, r"missing_admin_key.*--admin-key-file FILE or "
           r"AIGW_ADMIN_KEY")
    r = expect(ctl(*(c + ["key", "list"]), admin_key_env=ADMIN_KEY), 0)
    check(r.err == "", "no message with AIGW_ADMIN_KEY: %r", r)
    r = expect(ctl(*(c + ["--admin-key", ADMIN_KEY, "key", "list"])), 0,
               err_re=r"^aigwctl: warning: --admin-key shows the key to other users \(ps\); use "
               r"--admin-key-file or AIGW_ADMIN_KEY\n$")
    # the file wins over the environment, which wins over the option
    expect(ctl(*(c + ["--admin-key-file", key_file(ADMIN_KEY), "model", "list"]),
               admin_key_env="wrong-key"), 0)
    expect(ctl(*(c + ["--admin-key", "wrong-key", "model", "list"]), admin_key_env=ADMIN_KEY), 0)
    expect(ctl(*(c + ["model", "list"]), admin_key_env="wrong-key"), 1,
           r"invalid_admin_key.*not one of admin.keys")
    expect(ctl(*(c + ["--admin-key-file", key_file("", "empty.key"), "model", "list"])), 2,
           r"empty.key is empty")
    expect(ctl(*(c + ["--admin-key-file", os.path.join(TMP, "none.key"), "model", "list"])), 2,
           r"cannot read --admin-key-file")
    # a viewer key reads, and cannot write
    expect(ctl(*(c + ["model", "list"]), admin_key_env=VIEWER_KEY), 0)
    expect(ctl(*(c + ["model", "delete", "mock-b"]), admin_key_env=VIEWER_KEY), 1,
           r"read_only_key.*viewer role")
    # --admin-url instead of aigw.yaml
    url = "http://%s" % env.gw.config["admin"]["listen"][0]
    expect(ctl("--admin-url", url + "/", "model", "get", "mock-gpt", admin_key_env=ADMIN_KEY), 0,
           out_re=r"name: mock-gpt")


LIST_KEYS = 1100  # more than one page of aigwctl's default 1000


def list_rows(r, header):
    """The first column of each row of a list for people, after its one header."""
    lines = r.out.splitlines()
    check(lines and re.match(header, lines[0]), "the header: %r", r)
    check(not any(re.match(header, ln) for ln in lines[1:]), "a second header: %r", r.out[:300])
    return [ln.split()[0] for ln in lines[1:]]


def list_requests(gw, path):
    """How many GETs of path the gateway's access log holds so far."""
    return sum(1 for a in access_lines(gw.log()) if a["path"] == path and a["method"] == "GET")


def count_requests(gw, path, before, n):
    """Wait for n more GETs of path than before in the access log; their number."""
    wait_for(lambda: list_requests(gw, path) >= before + n, 10.0 * SLOW,
             what="%d GETs of %s in the access log" % (n, path))
    return list_requests(gw, path) - before


@tap.case("list follows the pages to the end: %d keys (one page is 1000), --page-size, --json"
          % LIST_KEYS)
def _(env):
    keys = [{"id": "pg-%04d" % i, "name": "pg-%04d" % i, "allowed_models": ["mock-*"],
             "key_sha256": hashlib.sha256(b"sk-ctl-pg-%d" % i).hexdigest()}
            for i in range(LIST_KEYS)]
    gw = Gateway(standard_resources(env.mock.port, extra_keys=keys), config=admin_config(),
                 env={"MOCK_KEY": MOCK_KEY})
    want = sorted(["admin", "team-a"] + [k["id"] for k in keys])
    c = ["-c", gw.conf_path, "--admin-key-file", key_file(ADMIN_KEY)]
    kpath, mpath = "/admin/v1/api_keys", "/admin/v1/models"
    try:
        before = list_requests(gw, kpath)
        r = expect(ctl(*(c + ["key", "list"])), 0)
        check_eq(list_rows(r, r"^ID +NAME +MODELS"), want, "key list: every key once, in order")
        check_eq(count_requests(gw, kpath, before, 2), 2, "key list: pages of 1000")
        before = list_requests(gw, kpath)
        r = expect(ctl(*(c + ["--page-size", "100", "key", "list"])), 0)
        check_eq(list_rows(r, r"^ID +NAME +MODELS"), want, "--page-size 100")
        check_eq(count_requests(gw, kpath, before, 12), 12, "--page-size 100: 12 pages")
        j = expect(ctl(*(c + ["--json", "--page-size", "400", "key", "list"])), 0).json()
        check(set(j) == {"items", "total"} and j["total"] == len(want), "--json: %r",
              {k: v for k, v in j.items() if k != "items"})
        check_eq([i["id"] for i in j["items"]], want, "--json: every key once, in order")
        check(all(set(i) == {"id", "value", "revision"} for i in j["items"]), "--json items")
        # a page of one: as many requests as models, and the same list
        before = list_requests(gw, mpath)
        r = expect(ctl(*(c + ["--page-size", "1", "model", "list"])), 0)
        check_eq(list_rows(r, r"^ID +NAME +PROVIDER"), ["mock-b", "mock-gpt", "other-model"],
                 "model list in pages of 1")
        check_eq(count_requests(gw, mpath, before, 3), 3, "model list: 3 pages of 1")
        j = expect(ctl(*(c + ["--json", "--page-size", "1", "model", "list"])), 0).json()
        check_eq(([i["id"] for i in j["items"]], j["total"]),
                 (["mock-b", "mock-gpt", "other-model"], 3), "model list --json in pages of 1")
        for bad in ("0", "1001", "-5", "ten", ""):
            expect(ctl(*(c + ["--page-size", bad, "key", "list"])), 2,
                   r"--page-size %s: give a whole number from 1 to 1000" % re.escape(bad))
        expect(ctl(*(c + ["--page-size", "5", "key", "get", "pg-0001"])), 2,
               r"--page-size is for list only")
        expect(ctl(*(c + ["--page-size", "5", "status"])), 2, r"--page-size are for model and "
               r"key commands only")
    finally:
        gw.stop()


class FakeAdmin:
    """An Admin API on 127.0.0.1 answering every GET with pages(query) -> a
    dict (sent as JSON, 200); records the paths asked for."""

    def __init__(self, pages):
        fake = self
        self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                fake.paths.append(self.path)
                query = self.path.partition("?")[2]
                body = json.dumps(pages(query)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer((HOST, 0), Handler)
        self.url = "http://%s:%d" % (HOST, self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def fake_item(rid):
    return {"id": rid, "value": {"name": rid}, "revision": 1}


@tap.case("list and a wrong Admin API: pages that do not advance or a bad has_more end it, exit 1")
def _(env):
    cases = [
        # has_more with the same last_id again: the list would never end
        (lambda q: {"items": [fake_item("a")], "has_more": True, "first_id": "a",
                    "last_id": "a"}, r"has_more without a last_id after \"a\""),
        # has_more without a last_id, and with one that is not an id
        (lambda q: {"items": [], "has_more": True}, r"has_more without a last_id after \"\""),
        (lambda q: {"items": [fake_item("a")], "has_more": True, "last_id": "a&limit=1"},
         r"has_more without a last_id"),
        (lambda q: {"items": [fake_item("a")], "has_more": "false"}, r"not true or false"),
        (lambda q: {"items": {"a": 1}, "has_more": False}, r"without \"items\""),
    ]
    for pages, err in cases:
        fake = FakeAdmin(pages)
        try:
            r = expect(ctl("--admin-url", fake.url, "model", "list"), 1, err)
            check(len(fake.paths) <= 2, "asked %d times: %r", len(fake.paths), fake.paths[:5])
            r = expect(ctl("--admin-url", fake.url, "--json", "model", "list"), 1, err)
            check("]" not in r.out, "a --json list that failed is not closed: %r", r.out)
        finally:
            fake.close()
    # an aigw without pages (no has_more): its one answer is the whole list
    fake = FakeAdmin(lambda q: {"items": [fake_item("a"), fake_item("b")], "total": 2})
    try:
        j = expect(ctl("--admin-url", fake.url, "--json", "key", "list"), 0).json()
        check_eq(([i["id"] for i in j["items"]], j["total"]), (["a", "b"], 2), "old aigw")
        check_eq(fake.paths, ["/admin/v1/api_keys?limit=1000"], "one request, pages of 1000")
    finally:
        fake.close()


# --------------------------------------------------------------------------
# A real aigw: the control socket
# --------------------------------------------------------------------------

def sock(env):
    return ["-c", env.gw.conf_path]


def status(env):
    return expect(ctl(*(sock(env) + ["--json", "status"])), 0).json()


@tap.case("status: the master, its workers, the configuration (text and --json)")
def _(env):
    st = status(env)
    check_eq(st["pid"], env.gw.pid, "pid")
    check_eq(st["mode"], "standalone", "mode")
    check(isinstance(st["uptime_seconds"], int) and st["uptime_seconds"] >= 0, "uptime: %r", st)
    workers = st["workers"]
    check_eq(sorted(w["pid"] for w in workers), sorted(env.gw.worker_pids()), "worker pids")
    check(all(w["state"] == "running" for w in workers), "workers running: %r", workers)
    check(isinstance(st["config"]["version"], int) and st["config"]["version"] > 0, "config: %r",
          st)
    r = expect(ctl(*(sock(env) + ["status"])), 0)
    check(re.match(r"^aigw \S+, pid %d, up " % env.gw.pid, r.out), "status: %r", r)
    for w in workers:
        check(re.search(r"\n%d +%d +running +%d +\d+ +\d+ " % (w["slot"], w["pid"],
                                                              w["generation"]), r.out),
              "worker %r in %r", w, r.out)
    # -s gives the socket instead of aigw.yaml
    expect(ctl("-s", env.gw.config["control"]["socket"], "status"), 0, out_re=r"pid %d"
           % env.gw.pid)


def broken_conf(good, value="lots"):
    """aigw.yaml with workers: <value>; its line number."""
    check("\nworkers: 2\n" in good, "the test's aigw.yaml has workers: 2: %r", good)
    line = good[:good.index("\nworkers: 2\n") + 1].count("\n") + 1
    return good.replace("\nworkers: 2\n", "\nworkers: %s\n" % value, 1), line


@tap.case("check: configuration OK; with an error in aigw.yaml, file:line and exit 1")
def _(env):
    expect(ctl(*(sock(env) + ["check"])), 0, out_re=r"^configuration OK\n$")
    good = open(env.gw.conf_path).read()
    bad, line = broken_conf(good)
    try:
        write_file(env.gw.conf_path, bad)
        expect(ctl(*(sock(env) + ["check"])), 1, r"aigw.yaml:%d: workers: .*\n"
               r"aigwctl: configuration check failed" % line)
        j = ctl(*(sock(env) + ["--json", "check"]))
        check(j.rc == 1 and j.json()["ok"] is False and
              any("aigw.yaml:%d:" % line in x for x in j.json()["errors"]), "check --json: %r", j)
    finally:
        write_file(env.gw.conf_path, good)


@tap.case("reload: exit 0 once every worker serves the new configuration")
def _(env):
    before = status(env)
    # the resources file: the new model serves on every worker when aigwctl returns
    res = open(env.gw.res_path).read()
    env.gw.write_resources(res.replace("models:\n", "models:\n  - name: ctl-reloaded\n"
                                       "    provider: openai-compatible\n    model: r-1\n"
                                       "    api_base: %s\n    api_key: ${MOCK_KEY}\n"
                                       % env.mock.url(), 1))
    expect(ctl(*(sock(env) + ["reload"])), 0,
           out_re=r"^reload done: generation \d+; 2 workers serve the new configuration\n$")
    for _ in range(4):  # fresh connections: both workers, most likely
        check(env.gw.chat(key="sk-test-all", model="ctl-reloaded").status == 200,
              "the new model serves right after reload")
    # aigw.yaml: a new generation of workers, 3 of them, all serving when aigwctl returns
    good = open(env.gw.conf_path).read()
    old_pids = set(env.gw.worker_pids())
    try:
        write_file(env.gw.conf_path, broken_conf(good, "3")[0])
        r = expect(ctl(*(sock(env) + ["reload"])), 0, out_re=r"^reload done: generation (\d+); "
                   r"3 workers serve the new configuration\n$")
        gen = int(re.search(r"generation (\d+)", r.out).group(1))
        check(gen > before["generation"], "the generation grows: %d then %r", before["generation"],
              r)
        st = status(env)
        check_eq(st["generation"], gen, "status generation")
        check(st["last_reload"] and st["last_reload"]["ok"] is True, "last_reload: %r", st)
        serving = [w for w in st["workers"] if w["state"] == "running"]
        check(len(serving) == 3 and all(w["generation"] == gen for w in serving),
              "3 running workers, all of the new generation: %r", st["workers"])
        check(not set(w["pid"] for w in serving) & old_pids, "new workers: %r vs %r", serving,
              old_pids)
    finally:
        write_file(env.gw.conf_path, good)
    # back to 2 workers, with reloads at the same time: one goes on, the others are refused
    first = subprocess.Popen([AIGWCTL] + sock(env) + ["--json", "reload"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = []
    while first.poll() is None and not any(r.rc == 1 for r in results):
        results.append(ctl(*(sock(env) + ["--json", "reload"])))
    out, err = first.communicate(timeout=RUN_TIMEOUT)
    results.append(Result(["--json", "reload"], first.returncode, out, err))
    refused = [r for r in results if r.rc != 0]
    check(refused, "no reload was refused while another was in progress: %r", results)
    for r in refused:
        expect(r, 1, r"^aigwctl: reload: a reload is already in progress; wait for it to end "
               r"\(aigwctl status shows the last reload\) and try again\n$")
    done = [r.json() for r in results if r.rc == 0]
    check(done and all(j["workers"] == 2 for j in done), "reload --json: %r", results)
    check(max(j["generation"] for j in done) > gen, "a new generation: %r", done)
    env.gw.wait_workers(2, timeout=15 * SLOW)


@tap.case("reload: the warnings it logged are printed (restart-only keys, a descriptor limit "
          "too low) and are in --json")
def _(env):
    gw = env.gw
    # the master's hard descriptor limit down to its soft one: aigw cannot raise it for a
    # limits.max_connections that needs more, and warns (master_fit_nofile)
    soft = int(subprocess.run(["prlimit", "--pid", str(gw.pid), "--nofile", "--raw",
                               "--noheadings", "--output", "SOFT"], capture_output=True,
                              text=True, check=True).stdout)
    subprocess.run(["prlimit", "--pid", str(gw.pid), "--nofile=%d:%d" % (soft, soft)],
                   check=True)
    conf = json.loads(json.dumps(gw.config))
    conf["shm_slots"] = 4096  # needs a restart
    conf["limits"] = {"max_connections": soft}  # 2 * soft + 256 descriptors
    try:
        gw.write_config(conf)
        r = expect(ctl(*(sock(env) + ["reload"])), 0,
                   out_re=r"^reload done: generation \d+; 2 workers serve the new configuration\n"
                   r"ignored until aigw restarts \(the running values stay\): shm_slots\n$")
        warns = [l for l in r.err.splitlines() if l.startswith("aigwctl: reload warning: ")]
        check(any("shm_slots changed; ignored until aigw restarts" in l for l in warns),
              "no warning about shm_slots: %r", r)
        check(any("limits.max_connections %d needs about" % soft in l and
                  "hard limit is %d" % soft in l for l in warns),
              "no warning about the descriptor limit: %r", r)
        check_eq(len(warns), len(r.err.splitlines()), "stderr: only the warnings")
        conf["limits"]["max_connections"] = soft + 1  # a new generation: warned again
        gw.write_config(conf)
        j = expect(ctl(*(sock(env) + ["--json", "reload"])), 0).json()
        check_eq(j.get("restart_only"), ["shm_slots"], "reload --json: restart_only")
        check(any("shm_slots changed" in w for w in j.get("warnings", [])) and
              any("limits.max_connections" in w for w in j.get("warnings", [])),
              "reload --json: warnings: %r", j)
    finally:
        gw.write_config(gw.config)
    # back as it was: nothing to warn about, nothing printed but the result
    r = expect(ctl(*(sock(env) + ["--json", "reload"])), 0)
    check("warnings" not in r.json() and "restart_only" not in r.json(), "reload --json: %r", r)
    check_eq(r.err, "", "reload's messages")


@tap.case("reload with a broken aigw.yaml: exit 1, file:line message; the gateway still serves")
def _(env):
    good = open(env.gw.conf_path).read()
    before = status(env)
    bad, line = broken_conf(good)
    try:
        write_file(env.gw.conf_path, bad)
        expect(ctl(*(sock(env) + ["reload"])), 1,
               r"^aigwctl: reload failed: .*aigw.yaml:%d: workers: .*\naigwctl: aigw keeps "
               r"serving the previous configuration" % line)
        check(env.gw.chat(key="sk-test-all").status == 200, "still serving")
        st = status(env)
        check_eq(st["generation"], before["generation"], "generation after a failed reload")
        check(st["last_reload"]["ok"] is False and "aigw.yaml:%d" % line in
              st["last_reload"]["error"], "last_reload: %r", st["last_reload"])
        expect(ctl(*(sock(env) + ["status"])), 0, out_re=r"last reload: .*failed: .*aigw.yaml")
        # not YAML at all: aigwctl cannot read it either (see case 2), -s gives the socket
        write_file(env.gw.conf_path, good + "workers: [\n")
        expect(ctl("-s", env.gw.config["control"]["socket"], "reload"), 1,
               r"reload failed: .*aigw.yaml:\d+: .*YAML")
        check(env.gw.chat(key="sk-test-all").status == 200, "still serving")
    finally:
        write_file(env.gw.conf_path, good)
    expect(ctl(*(sock(env) + ["reload"])), 0)


@tap.case("reopen: the log files are reopened (exit 0)")
def _(env):
    expect(ctl(*(sock(env) + ["reopen"])), 0, out_re=r"^log files reopened\n$")
    check_eq(ctl(*(sock(env) + ["--json", "reopen"])).json(), {}, "reopen --json")
    check(env.gw.chat(key="sk-test-all").status == 200, "still serving")


@tap.case("stop --graceful: exit 0 once the master has exited, and it exits 0")
def _(env):
    pid = env.gw.pid
    workers = env.gw.worker_pids()
    expect(ctl(*(sock(env) + ["stop", "--graceful"])), 0,
           out_re=r"^aigw \(pid %d\) stopped gracefully\n$" % pid)
    rc = env.gw.wait_exit(timeout=10 * SLOW)
    check_eq(rc, 0, "the master's exit status")
    wait_for(lambda: not [p for p in workers if os.path.exists("/proc/%d" % p)
                          and open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0] != "Z"],
             5 * SLOW, what="the workers to exit")
    expect(ctl(*(sock(env) + ["status"])), 3, r"cannot connect to .*is aigw running")


if __name__ == "__main__":
    main(tap, fixture)
