# SPDX-License-Identifier: Apache-2.0
"""End-to-end: a worker that cannot start is restarted with a growing pause
and the cause is said: in the error log, in status, and in
aigw_worker_start_failures_total.

aigw runs from a copy of its binary; the copy is removed and a worker
killed: every restart's execv fails (status 127). The master says
"cannot execute <binary>: No such file or directory", waits 0.5 s, 1 s, 2 s,
... (up to 30 s) between tries, and once the binary is back the worker
serves again. The pauses are read from the log lines, not timed.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import harness  # noqa: E402
    from harness import (AIGW_BIN, MOCK_KEY, SLOW, TAP, Gateway, Mock, check,  # noqa: E402
                         chat_ok, main, make_tmpdir, scrape, standard_resources, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(harness.SRCDIR, "aigwctl", "aigwctl")

FAIL_RE = re.compile(r"\[error\] master\[\d+\]: worker (\d+) did not start \((\d+) times? in a "
                     r"row\): (.*); next try in (\d+\.\d) s")
DEATH_RE = re.compile(r"worker \d+ \(pid (\d+)\) exited with status 127")


def fixture():
    class Fixture:
        def __enter__(self):
            self.mock = Mock(key=MOCK_KEY)
            return self.mock

        def __exit__(self, *exc):
            self.mock.stop()
    return Fixture()


@tap.case("the binary gone: each failed start is an [error] with the cause; the pause doubles; status and the metric say so; the binary back, it serves")
def _(mock):
    d = make_tmpdir("aigw-respawn-")
    exe = os.path.join(d, "aigw-copy")
    shutil.copy2(AIGW_BIN, exe)
    saved = harness.AIGW_BIN
    harness.AIGW_BIN = exe
    try:
        gw = Gateway(standard_resources(mock.port), config={"workers": 1},
                     env={"MOCK_KEY": MOCK_KEY})
    finally:
        harness.AIGW_BIN = saved
    tap.add_gateway_log(gw, "aigw log (%s)" % gw.dir)
    try:
        chat_ok(gw.port)
        os.unlink(exe)
        (pid,) = gw.worker_pids()
        gw.kill_worker(pid, signal.SIGKILL)

        def fails():
            return [m.groups() for m in map(FAIL_RE.search, gw.log().splitlines()) if m]
        wait_for(lambda: len(fails()) >= 3, 30 * SLOW, what="three failed starts in the log")
        seen = fails()[:3]
        check([int(f[1]) for f in seen] == [1, 2, 3], "failed starts not counted 1, 2, 3: %r", seen)
        check([f[3] for f in seen] == ["0.5", "1.0", "2.0"],
              "the pauses are not 0.5 s, 1 s, 2 s: %r", seen)
        for f in seen:
            check(f[2] == "cannot execute %s: No such file or directory" % exe,
                  "the cause is %r, not the missing binary %s", f[2], exe)
        st = gw.status()
        ws = st["workers"]
        check(len(ws) == 1, "status shows %d workers: %r", len(ws), ws)
        w = ws[0]
        check(w.get("failed_starts", 0) >= 3, "status failed_starts: %r", w)
        check("cannot execute %s" % exe in (w.get("last_failure") or ""),
              "status last_failure: %r", w)
        p = subprocess.run([AIGWCTL, "-c", gw.conf_path, "status"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=30 * SLOW)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode == 0 and re.search(r"worker 0: \d+ failed start\(s\) in a row: "
                                              r"cannot execute %s" % re.escape(exe), out),
              "aigwctl status does not say why worker 0 fails to start:\n%s", out)
        m = scrape(gw)
        check(m.get("aigw_worker_start_failures_total", reason="exec") >= 3,
              "aigw_worker_start_failures_total{reason=exec} is %r",
              m.get("aigw_worker_start_failures_total", reason="exec"))
        # The binary back: the next try starts a worker that serves.
        shutil.copy2(AIGW_BIN, exe)
        wait_for(lambda: [x["state"] for x in gw.status()["workers"]] == ["running"],
                 40 * SLOW, what="a worker running again once the binary is back")
        chat_ok(gw.port)
    finally:
        # the workers that failed to exec died as this case meant them to
        for m in map(DEATH_RE.search, gw.log().splitlines()):
            if m:
                gw.killed_pids.add(int(m.group(1)))
        gw.stop()


if __name__ == "__main__":
    main(tap, fixture)
