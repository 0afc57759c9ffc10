# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the access log (one JSON object per line) and the error log.

One mock (checking the provider secret) serves every case. Cases 1-2 run a
gateway in the foreground (-d: the error log is stderr) with access_log a
file given relative to aigw.yaml's folder; cases 3-4 gateways of their own
(access_log off; an access_log that cannot be opened). The daemon cases run
aigw the way an init system does (no -d: it detaches, writes its PID file,
and logs to error_log and access_log files), then rotate both files the way
logrotate does: rename, then SIGUSR1 to the master (or `aigwctl reopen`),
after which the master and every worker write to new files of the old names
and nothing more to the renamed ones.

Every line of every log is checked for the client keys and the provider
secret: an access line names the key, never carries it.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, SLOW, SRCDIR, START_TIMEOUT, STOP_TIMEOUT, TAP, Env, Gateway, Mock, Stream,
        _register, _unregister, access_lines, chat_body, check, check_eq, default_config,
        free_port, main, make_tmpdir, parse_access, pid_alive, request, unique_id, wait_for,
        words, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-logs-client-key-0123456789"
WRONG_KEY = "sk-logs-wrong-key-9876543210"
MOCK_SECRET = "logs-provider-secret-0123456789"
AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")
SECRETS = (KEY, WRONG_KEY, MOCK_SECRET)


def resources(mock):
    return {"models": [{"id": "logs", "name": "logs-model", "provider": "openai-compatible",
                        "model": "up-logs", "api_base": mock.url(), "api_key": MOCK_SECRET}],
            "api_keys": [{"name": "logs-key", "key": KEY}]}


class fixture:
    """The mock, and a gateway (-d) whose access_log is access.log (relative)."""

    def __enter__(self):
        self.mock = self.gw = None
        try:
            self.mock = Mock(key=MOCK_SECRET)
            self.gw = Gateway(resources(self.mock), config={"access_log": "access.log"})
            return Env(mock=self.mock, gw=self.gw)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in (self.gw, self.mock):
            if p is not None:
                p.stop()


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def check_no_secret(text, where):
    for s in SECRETS:
        at = text.find(s)
        check(at < 0, "%r in %s: %r", s, where, text[max(0, at - 200):at + 60])


def chat(port, rid, key=KEY, **kw):
    return request(port, "POST", "/v1/chat/completions",
                   chat_body(model=kw.pop("model", "logs-model"), content=words(4), **kw),
                   key=key, headers={"x-request-id": rid})


# ---- -d: access_log a file, the error log stderr ---------------------------------

@tap.case("access_log a file (relative to aigw.yaml): one valid JSON object per line, "
          "every field right; none on stderr")
def _(env):
    gw = env.gw
    path = os.path.join(gw.dir, "access.log")
    t0 = time.time()
    rid = unique_id("logs")
    resp = chat(gw.port, rid, mock={"chunks": 3})
    check_eq(resp.status, 200, "chat")
    usage = resp.json()["usage"]
    f = gw.access_line(rid, path=path)
    check(f["pid"] in gw.worker_pids(), "pid %r is not a worker (%r)", f["pid"], gw.worker_pids())
    want = {"request_id": rid, "client": "127.0.0.1", "method": "POST",
            "path": "/v1/chat/completions", "key": "logs-key", "model": "logs-model",
            "target": "openai-compatible/up-logs", "stream": False, "status": 200,
            "upstream_status": 200, "attempts": 1, "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"], "ttft_ms": None, "error": None}
    check_eq({k: f[k] for k in want}, want, "fields (%s)" % f["line"])
    sent = json.dumps(chat_body(model="logs-model", content=words(4), mock={"chunks": 3}))
    check_eq(f["bytes_received"], len(sent.encode()), "bytes_received")
    check(len(resp.body) < f["bytes_sent"] < len(resp.body) + 1024, "bytes_sent %d for a body "
          "of %d", f["bytes_sent"], len(resp.body))
    when = time.mktime(time.strptime(f["time"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    check(t0 - 2 <= when <= time.time() + 1, "time %s is not now (UTC)", f["time"])
    check(0 <= f["duration_ms"] < 10000 * SLOW, "duration_ms %r", f["duration_ms"])
    check(rid not in gw.log(), "the access line went to stderr too")
    check("reopened" not in gw.log(), "nothing was reopened yet")


@tap.case("a stream's line has ttft_ms <= duration_ms; errors name their code; neither a "
          "wrong key nor the provider secret is ever logged")
def _(env):
    gw = env.gw
    path = os.path.join(gw.dir, "access.log")
    rid = unique_id("logs-s")
    body = chat_body(model="logs-model", stream=True, mock={"chunks": 4, "delay_ms": 20})
    with Stream(gw.port, "/v1/chat/completions", body, key=KEY,
                headers={"x-request-id": rid}) as s:
        s.read_all()
    f = gw.access_line(rid, path=path)
    check(f["stream"] is True and f["status"] == 200, "stream line %s", f["line"])
    check(f["ttft_ms"] is not None and 0 <= f["ttft_ms"] <= f["duration_ms"],
          "ttft_ms %r, duration_ms %r", f["ttft_ms"], f["duration_ms"])
    check(f["duration_ms"] >= 60, "a stream of 4 events 20 ms apart took %r ms", f["duration_ms"])
    check_eq(f["completion_tokens"], 4, "completion tokens of the stream")
    # the body is freed once the answer began (relay.c): its bytes still count
    check_eq(f["bytes_received"], len(json.dumps(body).encode()), "bytes_received of the stream")

    rid = unique_id("logs-401")
    check_eq(chat(gw.port, rid, key=WRONG_KEY).status, 401, "wrong key")
    f = gw.access_line(rid, path=path)
    check_eq((f["key"], f["status"], f["error"], f["target"], f["attempts"]),
             (None, 401, "invalid_api_key", None, 0), "the 401 (%s)" % f["line"])

    rid = unique_id("logs-404")
    check_eq(chat(gw.port, rid, model="no-such-logs-model").status, 404, "unknown model")
    f = gw.access_line(rid, path=path)
    check_eq((f["key"], f["model"], f["status"], f["error"]),
             ("logs-key", "no-such-logs-model", 404, "model_not_found"), "the 404")

    rid = unique_id("logs-500")
    check_eq(chat(gw.port, rid, mock={"status": 500}).status, 500, "upstream 500")
    f = gw.access_line(rid, path=path)
    check_eq((f["status"], f["upstream_status"], f["error"], f["attempts"]),
             (500, 500, "upstream_status", 1), "the 500 (%s)" % f["line"])

    text = read(path)
    for line in text.splitlines():
        _, problem = parse_access(line)
        check(problem is None, "access line: %s: %r", problem, line)
    check_no_secret(text, "the access log")
    check_no_secret(gw.log(), "the error log (stderr)")


@tap.case("access_log: off writes no access line anywhere")
def _(env):
    gw = Gateway(resources(env.mock), config={"access_log": "off", "workers": 1})
    try:
        rid = unique_id("logs-off")
        check_eq(chat(gw.port, rid).status, 200, "chat")
        time.sleep(0.3)
        check(rid not in gw.log(), "an access line with access_log: off: %s", gw.log()[-500:])
        check_eq(access_lines(gw.log()), [], "access lines on stderr")
    finally:
        gw.stop()


@tap.case("an access_log that cannot be opened: aigw does not start and says why")
def _(env):
    gw = Gateway(resources(env.mock),
                 config={"access_log": "/nonexistent-aigw-dir/access.log"}, start=False)
    gw.start(wait=False)
    rc = gw.wait_exit(timeout=10 * SLOW)
    if rc is None:
        gw.kill_now()
    check(rc is not None and rc != 0, "aigw exit status %r", rc)
    log = gw.log()
    check("/nonexistent-aigw-dir/access.log" in log and "cannot open" in log,
          "no reason given:\n%s", log[-1000:])


# ---- the daemon: error_log and access_log files, rotation ------------------------

class Daemon:
    """aigw started without -d, as an init system does: it detaches, and the
    master's PID comes from its PID file. Logs: error.log and access.log in
    its folder."""

    def __init__(self, mock):
        self.dir = make_tmpdir("aigw-daemon-")
        self.port = free_port()
        self.conf_path = os.path.join(self.dir, "aigw.yaml")
        self.res_path = os.path.join(self.dir, "resources.yaml")
        self.error_log = os.path.join(self.dir, "error.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.config = default_config(self.port, os.path.join(self.dir, "data"), self.res_path,
                                     workers=2, error_log=self.error_log,
                                     access_log="access.log")
        write_file(self.conf_path, self.config)
        write_file(self.res_path, resources(mock))
        self.pid = None
        self.workers = set()
        env = dict(os.environ, MOCK_KEY=MOCK_SECRET)
        # a daemon's stderr is /dev/null: sanitizer reports go to files instead
        self.san_log = os.path.join(self.dir, "sanitizer")
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            env[var] = ":".join(filter(None, [env.get(var), "log_path=" + self.san_log]))
        r = subprocess.run([AIGW_BIN, "-c", self.conf_path], capture_output=True, text=True,
                           env=env, timeout=START_TIMEOUT)
        check(r.returncode == 0, "aigw (daemon) exited %d: %s%s\n%s", r.returncode, r.stdout,
              r.stderr, read(self.error_log)[-2000:])
        self.pid = int(read(self.config["pid_file"]).strip())
        _register(self)
        wait_for(lambda: request(self.port, "GET", "/healthz").status == 200, START_TIMEOUT,
                 what="the daemon's /healthz")

    def worker_pids(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            pids = []
        self.workers.update(pids)
        return pids

    def stop(self):
        if self.pid is None:
            return
        self.worker_pids()
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and pid_alive(self.pid):
            time.sleep(0.05)
        gone = not pid_alive(self.pid)
        wait_for(lambda: not any(pid_alive(p) for p in self.workers), STOP_TIMEOUT,
                 what="the daemon's workers to exit")
        self.kill_now()
        _unregister(self)
        self.pid = None
        check(gone, "the daemon did not stop on SIGTERM")
        reports = [f for f in os.listdir(self.dir) if f.startswith("sanitizer")]
        check(not reports, "sanitizer reports: %s",
              "\n".join(read(os.path.join(self.dir, f))[:3000] for f in reports))

    def kill_now(self):
        for p in [self.pid] + sorted(self.workers):
            try:
                if p and pid_alive(p):
                    os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def both_workers_logged(d, path, tag, timeout=10 * SLOW):
    """Send requests on fresh connections until both workers wrote an
    access line to path; returns the request ids sent."""
    want = set(d.worker_pids())
    check_eq(len(want), 2, "workers of the daemon")
    rids = []

    def done():
        rid = unique_id(tag)
        rids.append(rid)
        check_eq(chat(d.port, rid).status, 200, "chat (%s)" % tag)
        seen = {f["pid"] for f in access_lines(read(path)) if f["request_id"] in rids}
        return seen >= want
    wait_for(done, timeout, interval=0.01, what="both workers to write to %s" % path)
    return rids


def rotate(d, how):
    """Rename both logs to *.1 the way logrotate does, then reopen (how:
    "signal" or "control"); check the master and both workers moved to new
    files and the renamed ones got nothing more."""
    for p in (d.error_log, d.access_log):
        os.rename(p, p + ".1")
    if how == "signal":
        os.kill(d.pid, signal.SIGUSR1)
    else:
        check(os.access(AIGWCTL, os.X_OK), "aigwctl binary %s is missing", AIGWCTL)
        r = subprocess.run([AIGWCTL, "-s", d.config["control"]["socket"], "reopen"],
                           capture_output=True, text=True, timeout=10 * SLOW)
        check(r.returncode == 0 and "reopened" in r.stdout, "aigwctl reopen: exit %d: %s%s",
              r.returncode, r.stdout, r.stderr)
    pids = {d.pid} | set(d.worker_pids())
    reopened = wait_for(lambda: (lambda t: t if {int(p) for p in __import__("re").findall(
        r"\[(\d+)\]: reopened the log files", t)} >= pids else None)(read(d.error_log)),
        10 * SLOW, what="the master and both workers to log into the new error log")
    check("reopened the log files" not in read(d.error_log + ".1"),
          "the old error log got the line")
    sizes = [os.path.getsize(p + ".1") for p in (d.error_log, d.access_log)]
    rids = both_workers_logged(d, d.access_log, "logs-" + how)
    old = read(d.access_log + ".1")
    check(not any(r in old for r in rids), "a request after the reopen went to the old file")
    check_eq([os.path.getsize(p + ".1") for p in (d.error_log, d.access_log)], sizes,
             "sizes of the renamed files")
    return reopened


@tap.case("daemon: error_log and access_log files; rename both, SIGUSR1: new files are "
          "created and written by the master and both workers (logrotate)")
def _(env):
    d = Daemon(env.mock)
    try:
        err = read(d.error_log)
        check("started" in err, "no start line in the error log:\n%s", err[-1000:])
        rids = both_workers_logged(d, d.access_log, "logs-before")
        check(not any(r in read(d.error_log) for r in rids), "access lines in the error log")
        rotate(d, "signal")
        check_eq(sorted(d.worker_pids()), sorted(d.workers), "no worker died on SIGUSR1")
        for p in (d.error_log, d.access_log, d.error_log + ".1", d.access_log + ".1"):
            check_no_secret(read(p), p)
            if "access" in p:
                for line in read(p).splitlines():
                    _, problem = parse_access(line)
                    check(problem is None, "%s: %s: %r", p, problem, line)
        mode = os.stat(d.access_log).st_mode & 0o777
        check(mode & 0o007 == 0, "the new access log is readable by anyone (%o)", mode)
    finally:
        d.stop()
    check("killed by signal" not in read(d.error_log), "a worker died:\n%s",
          read(d.error_log)[-1000:])


@tap.case("daemon: aigwctl reopen rotates the same way")
def _(env):
    d = Daemon(env.mock)
    try:
        both_workers_logged(d, d.access_log, "logs-ctl-before")
        rotate(d, "control")
        check_eq(sorted(d.worker_pids()), sorted(d.workers), "no worker died on reopen")
    finally:
        d.stop()


if __name__ == "__main__":
    main(tap, fixture)
