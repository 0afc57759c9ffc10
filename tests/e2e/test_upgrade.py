# SPDX-License-Identifier: Apache-2.0
"""End-to-end: binary upgrade on SIGUSR2, with the same binary.

The old master starts a new one with its listeners and shared memory; once
the new one serves, the old one drains and exits. Cases: constant keep-alive
load, plain and streamed, across the upgrade (no failure); the PID file,
the control socket and the Admin API afterwards; a request limit counted in
shared memory across an upgrade; failed upgrades leave the old master
serving; and the same with a daemon (no -d) started by hand.

This process makes itself a child subreaper, so that a new master, whose
parent (the old master) exits, becomes its child: it can then be waited for
and stopped like the first one.

One mock and one gateway (-d) serve the cases in order; the daemon case
starts its own.
"""

import copy
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, MOCK_KEY, SLOW, STOP_TIMEOUT, TAP, Env, Gateway, MixedLoad, Mock,
        TestFailure, chat_body, chat_ok, check, check_eq, control_call, default_config, free_port, main,
        make_tmpdir, minute_room, pid_alive, register_cleanup, request, standard_resources,
        statuses, terminate_pid, wait_for, write_file)
    import jwtkit  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

RPM_KEY = "sk-upgrade-rpm-001"
RPM = 6
UPGRADE_TIMEOUT = 30 * SLOW
PR_SET_CHILD_SUBREAPER = 36
# streams long enough to be in flight when the old workers start draining
STREAM = {"chunks": 8, "delay_ms": 40}


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise TestFailure("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())


class Adopted:
    """A process that became our child when its parent exited (we are a
    subreaper): poll(), wait(), kill() and returncode, as a Popen has."""

    def __init__(self, pid):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                # not (or no longer) ours to wait for: alive or not is all we know
                if not pid_alive(self.pid):
                    self.returncode = -1
                return self.returncode
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("pid %d" % self.pid, timeout)
            time.sleep(0.02)
        return self.returncode

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill_now(self):
        """For the harness's cleanup at exit."""
        if self.poll() is None:
            terminate_pid(self.pid, self, timeout=5)


JWT_ISS = "https://idp.upgrade.test"


def resources(mock_port):
    return standard_resources(mock_port, extra_keys=[
        {"name": "upgrade-rpm", "key": RPM_KEY, "allowed_models": ["mock-*"],
         "limits": {"requests_per_minute": RPM}},
        {"name": "upgrade-jwt", "jwt": {"issuer": JWT_ISS, "subject": "up"}}])


class UpgradeEnv(Env):
    def jwt_config(self):
        """An identity provider: an Ed25519 key made now, its JWK Set in a file."""
        if getattr(self, "jwt_key", None) is None:
            d = make_tmpdir("aigw-upgrade-jwt-")
            self.jwt_key = jwtkit.Key(d, "ed25519", "up-1")
            self.jwks_path = os.path.join(d, "idp.jwks")
        write_file(self.jwks_path, jwtkit.jwks(self.jwt_key.jwk()))
        return {"auth": {"jwt": {"providers": [
            {"name": "idp", "issuer": JWT_ISS, "jwks_file": self.jwks_path}]}}}

    def ensure_gw(self):
        if self.gw is None or not self.gw.running():
            self.gw = Gateway(resources(self.mock.port), env={"MOCK_KEY": MOCK_KEY},
                              config=self.jwt_config())
            tap.add_gateway_log(self.gw, "aigw log (%s)" % self.gw.dir)
        return self.gw


def fixture():
    class Fixture:
        def __enter__(self):
            become_subreaper()
            self.env = UpgradeEnv(Mock(key=MOCK_KEY))
            return self.env

        def __exit__(self, *exc):
            if self.env.gw is not None:
                self.env.gw.stop()
            self.env.mock.stop()
    return Fixture()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def read_pid(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return int(text) if text.strip().isdigit() and text.endswith("\n") else None


def upgrade(gw, old_proc=None):
    """SIGUSR2 to the master of gw; wait until the PID file names another
    master and the old one has exited; make gw follow the new master.
    Returns (old pid, old exit status, new pid)."""
    old_pid = gw.pid
    proc = old_proc or gw.proc
    offset = gw.log_size()
    gw.signal(signal.SIGUSR2)
    new_pid = wait_for(lambda: (lambda p: p if p and p != old_pid else None)(
        read_pid(gw.pid_path)), UPGRADE_TIMEOUT, interval=0.02,
        what="the PID file to name a new master")
    try:
        rc = proc.wait(timeout=UPGRADE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TestFailure("the old master %d did not exit after the upgrade\n%s" % (
            old_pid, gw.log_since(offset)[-3000:]))
    gw.proc = Adopted(new_pid)
    gw.pid = new_pid
    register_cleanup(gw.proc)
    return old_pid, rc, new_pid


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


# --------------------------------------------------------------------------
# the upgrade
# --------------------------------------------------------------------------

@tap.case("SIGUSR2 under constant keep-alive load, plain and streamed: no failed request, "
          "every stream ends with [DONE], the old master exits 0")
def _(env):
    gw = env.ensure_gw()
    old_workers = gw.wait_workers(2, timeout=10 * SLOW)
    load = MixedLoad(gw.port, "sk-test-a", threads=6, duration=30 * SLOW,
                     stream_mock=STREAM)
    with load:
        wait_for(lambda: load.count() >= 30, 10 * SLOW, what="load to get going")
        old_pid, rc, new_pid = upgrade(gw)
        c = load.count()
        wait_for(lambda: load.count() >= c + 40, 10 * SLOW, what="load to go on")
    tap.diag(load.summary())
    check_eq(rc, 0, "exit status of the old master")
    check(not load.failures, "%d failures (%s); first: %r", len(load.failures),
          load.summary(), load.failures[:3])
    check(load.ok["stream"] >= 20 and load.ok["plain"] >= 20, "too little load: %s",
          load.summary())
    check(not any(pid_alive(p) for p in old_workers), "old workers alive: %r", old_workers)
    env.upgraded = (old_pid, new_pid, old_workers)


@tap.case("after the upgrade: the PID file holds the new master's pid, the old master is "
          "gone, the log says the new one serves")
def _(env):
    gw = env.ensure_gw()
    check(getattr(env, "upgraded", None), "no upgrade happened before this case")
    old_pid, new_pid, _ = env.upgraded
    check_eq(read_pid(gw.pid_path), new_pid, "pid in the PID file")
    check(new_pid != old_pid and pid_alive(new_pid), "the new master %d is not running",
          new_pid)
    check(not pid_alive(old_pid), "the old master %d is still there", old_pid)
    log = gw.log()
    check("upgrade: the new master (pid %d) serves" % new_pid in log,
          "no log line of the old master saying the new one serves")
    check(("master[%d]: upgrade: serving" % new_pid) in log,
          "no log line of the new master saying it serves")


@tap.case("after the upgrade: status over the same control socket path is the new "
          "master's, with its own workers running")
def _(env):
    gw = env.ensure_gw()
    check(getattr(env, "upgraded", None), "no upgrade happened before this case")
    _, new_pid, old_workers = env.upgraded
    s = control_call(gw.control_path, "status")
    check(s["ok"], "status: %r", s)
    s = s["result"]
    check_eq(s["pid"], new_pid, "pid in status")
    pids = sorted(w["pid"] for w in s["workers"])
    check_eq(pids, gw.wait_workers(2, timeout=10 * SLOW), "workers (the new master's children)")
    check(not set(pids) & set(old_workers), "old workers listed: %r", s["workers"])
    check(all(w["state"] == "running" for w in s["workers"]), "workers: %r", s["workers"])
    check(s["uptime_seconds"] < 60, "uptime of the new master: %r", s["uptime_seconds"])
    check_eq(s["config"]["source"], "file:" + gw.res_path, "config.source")
    check(gw.control("check")["result"]["ok"], "check on the new master")
    chat_ok(gw.port)


@tap.case("after the upgrade: the Admin API answers on its port, served by the new master")
def _(env):
    gw = env.ensure_gw()
    check(getattr(env, "upgraded", None), "no upgrade happened before this case")
    _, new_pid, _ = env.upgraded
    resp = request(admin_port(gw), "GET", "/admin/v1/status", timeout=10 * SLOW)
    check_eq(resp.status, 200, "GET /admin/v1/status")
    check_eq(resp.json().get("master_pid"), new_pid, "master_pid of the Admin API")


@tap.case("a request limit in shared memory carries over: requests_per_minute %d admits %d "
          "in total across an upgrade" % (RPM, RPM))
def _(env):
    gw = env.ensure_gw()
    minute_room(min(15 * SLOW, 40))
    before = [chat_ok(gw.port, key=RPM_KEY) for _ in range(3)]
    check_eq(len(before), 3, "requests before")
    old_pid, rc, new_pid = upgrade(gw)
    check_eq(rc, 0, "exit status of the old master")
    after = [request(gw.port, "POST", "/v1/chat/completions", chat_body(), key=RPM_KEY,
                     timeout=10 * SLOW) for _ in range(RPM)]
    check_eq(statuses(after), {200: RPM - 3, 429: 3}, "statuses of %d requests after the "
             "upgrade (3 admitted before it)" % RPM)
    check("shared memory taken over" in gw.log(), "no log line of the shared memory taken over")


@tap.case("a JWT verifies across an upgrade, its key set taken from the LMDB table (the JWK "
          "Set file gone)")
def _(env):
    gw = env.ensure_gw()
    tok = jwtkit.token("EdDSA", jwtkit.claims(JWT_ISS, "up", aud=None), env.jwt_key)
    check_eq(request(gw.port, "POST", "/v1/chat/completions", chat_body(), key=tok).status, 200,
             "a JWT before the upgrade")
    os.unlink(env.jwks_path)
    try:
        old_pid, rc, new_pid = upgrade(gw)
        check_eq(rc, 0, "exit status of the old master")
        check("last good key set serves" in gw.log(), "the new master did not say the file is gone")
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(), key=tok)
        check_eq(r.status, 200, "a JWT after the upgrade (%r)" % r.body[:200])
    finally:
        env.jwt_config()  # the file back for the cases after


@tap.case("a failed upgrade (aigw.yaml invalid when SIGUSR2 comes) leaves the old master "
          "serving, with its PID file, socket and workers; the log says so")
def _(env):
    gw = env.ensure_gw()
    pid = gw.pid
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    good = open(gw.conf_path).read()
    offset = gw.log_size()
    try:
        write_file(gw.conf_path, good + "no_such_key: 1\n")
        gw.signal(signal.SIGUSR2)
        line = wait_for(lambda: [l for l in gw.log_since(offset).splitlines()
                                 if "before it served; this one goes on" in l],
                        UPGRADE_TIMEOUT, what="the log line of the failed upgrade")
    finally:
        write_file(gw.conf_path, good)
    check(("master[%d]: upgrade: the new master" % pid) in line[0],
          "the line is not the old master's: %r", line)
    check(gw.running() and pid_alive(pid), "the old master exited")
    check_eq(read_pid(gw.pid_path), pid, "PID file")
    s = gw.status()
    check_eq(s["pid"], pid, "status pid")
    check_eq(sorted(w["pid"] for w in s["workers"]), workers, "workers")
    check_eq(gw.worker_pids(), workers, "the master's children (the new master is gone)")
    for _ in range(4):
        chat_ok(gw.port)
    check_eq(request(admin_port(gw), "GET", "/admin/v1/status").status, 200, "Admin API")
    # and an upgrade works again after
    old_pid, rc, new_pid = upgrade(gw)
    check_eq(rc, 0, "exit status of the old master after a second try")
    check_eq(gw.status()["pid"], new_pid, "status after the second try")


@tap.case("an upgrade that moves pid_file and control.socket: the new master uses the new "
          "paths, and the old master's PID file and socket are gone once it exits")
def _(env):
    gw = env.ensure_gw()
    old_pid_path, old_sock = gw.pid_path, gw.control_path
    conf = copy.deepcopy(gw.config)
    conf["pid_file"] = os.path.join(gw.dir, "moved.pid")
    conf["control"] = {"socket": os.path.join(gw.dir, "moved.sock")}
    gw.config = conf
    gw.write_config(conf)
    old_pid, rc, new_pid = upgrade(gw)
    check_eq(rc, 0, "exit status of the old master")
    check_eq(control_call(conf["control"]["socket"], "status")["result"]["pid"], new_pid,
             "status on the new socket")
    check_eq(read_pid(conf["pid_file"]), new_pid, "the new PID file")
    left = [p for p in (old_pid_path, old_sock) if os.path.exists(p)]
    check(not left, "left behind by the old master (pid %d, exited): %s%s", old_pid,
          ", ".join(left), " (holding %r)" % read_pid(old_pid_path)
          if old_pid_path in left else "")


@tap.case("a failed upgrade after the new master took the control socket (its pid_file "
          "cannot be written) leaves the old master answering on the control socket")
def _(env):
    gw = env.ensure_gw()
    pid = gw.pid
    good = open(gw.conf_path).read()
    offset = gw.log_size()
    try:
        write_file(gw.conf_path, good.replace(gw.pid_path, "/proc/no/such/dir/aigw.pid"))
        gw.signal(signal.SIGUSR2)
        wait_for(lambda: "before it served; this one goes on" in gw.log_since(offset),
                 UPGRADE_TIMEOUT, what="the log line of the failed upgrade")
    finally:
        write_file(gw.conf_path, good)
    check(gw.running(), "the old master exited")
    check_eq(read_pid(gw.pid_path), pid, "PID file")
    chat_ok(gw.port)
    try:
        s = control_call(gw.control_path, "status", timeout=5 * SLOW)
    except OSError as exc:
        raise TestFailure("the old master's control socket %s is gone after the failed "
                          "upgrade: %r" % (gw.control_path, exc))
    check_eq(s["result"]["pid"], pid, "status pid")


# --------------------------------------------------------------------------
# a daemon
# --------------------------------------------------------------------------

@tap.case("daemon (no -d) started by hand: exits 0 once serving; SIGUSR2 under load: no "
          "failure, the PID file follows the new master, status and Admin API answer; "
          "stop removes the PID file and socket")
def _(env):
    d = make_tmpdir("aigw-daemon-")
    port = free_port()
    conf = default_config(port, os.path.join(d, "data"), os.path.join(d, "resources.yaml"))
    write_file(os.path.join(d, "resources.yaml"), resources(env.mock.port))
    write_file(os.path.join(d, "aigw.yaml"), conf)
    cenv = dict(os.environ, MOCK_KEY=MOCK_KEY)
    pid_path, sock = conf["pid_file"], conf["control"]["socket"]
    p = subprocess.run([AIGW_BIN, "-c", os.path.join(d, "aigw.yaml")], env=cenv,
                       capture_output=True, text=True, timeout=20 * SLOW, cwd=d)
    master = read_pid(pid_path)
    if master:
        register_cleanup(Adopted(master))
    check_eq(p.returncode, 0, "exit status of aigw (stderr %r)" % p.stderr)
    check(master and pid_alive(master), "no running master in the PID file: %r", master)
    procs = [Adopted(master)]
    try:
        s = control_call(sock, "status")["result"]
        check_eq(s["pid"], master, "status pid of the daemon")
        load = MixedLoad(port, "sk-test-a", threads=4, duration=30 * SLOW, stream_mock=STREAM)
        with load:
            wait_for(lambda: load.count() >= 20, 10 * SLOW, what="load to get going")
            os.kill(master, signal.SIGUSR2)
            new = wait_for(lambda: (lambda x: x if x and x != master else None)(
                read_pid(pid_path)), UPGRADE_TIMEOUT, what="the PID file to name a new master")
            procs.append(Adopted(new))
            register_cleanup(procs[-1])
            rc = procs[0].wait(timeout=UPGRADE_TIMEOUT)
            c = load.count()
            wait_for(lambda: load.count() >= c + 20, 10 * SLOW, what="load to go on")
        tap.diag(load.summary())
        check_eq(rc, 0, "exit status of the old daemon master")
        check(not load.failures, "%d failures (%s); first: %r", len(load.failures),
              load.summary(), load.failures[:3])
        s = control_call(sock, "status")["result"]
        check_eq(s["pid"], new, "status pid after the upgrade")
        check_eq(len(s["workers"]), 2, "workers")
        resp = request(int(conf["admin"]["listen"][0].rsplit(":", 1)[1]), "GET",
                       "/admin/v1/status")
        check_eq(resp.status, 200, "Admin API after the upgrade")
        r = control_call(sock, "stop", graceful=True)
        check(r["ok"], "stop: %r", r)
        check_eq(procs[1].wait(timeout=STOP_TIMEOUT), 0, "exit status of the new master")
        check(not os.path.exists(pid_path), "PID file left behind")
        check(not os.path.exists(sock), "control socket left behind")
    finally:
        for pr in procs:
            pr.kill_now()


if __name__ == "__main__":
    main(tap, fixture)
