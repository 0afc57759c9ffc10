# SPDX-License-Identifier: Apache-2.0
"""End-to-end: fatal start-up errors an operator can act on.

A daemon (no -d) that cannot start logs the cause at error level, naming the
aigw.yaml key (a listener's port in use: `listen 127.0.0.1:P (key listen)`),
and the terminal that started it prints that error and where the error log
went: the error_log file, the system log, or nowhere (error_log: stderr, or
syslog without /dev/log, as in a container) with what to do.
"""

import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (AIGW_BIN, SLOW, TAP, check, main, make_tmpdir,  # noqa: E402
                         pid_alive, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

START_TIMEOUT = 30 * SLOW

CONF = """\
listen:
  - 127.0.0.1:{port}
workers: 1
data_dir: {dir}/data
pid_file: {dir}/aigw.pid
control:
  socket: {dir}/aigw.sock
error_log: {error_log}
resources: ""
admin:
  listen: []
metrics:
  listen: [{metrics}]
"""


def occupied():
    """A listening socket on 127.0.0.1 and its port (the caller closes it)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def start_daemon(d, port, error_log, metrics=""):
    """Run aigw as a daemon; (exit status, terminal output). Stops one that started."""
    conf = write_file(os.path.join(d, "aigw.yaml"),
                      CONF.format(port=port, dir=d, error_log=error_log, metrics=metrics))
    try:
        p = subprocess.run([AIGW_BIN, "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("aigw did not exit within %.0fs" % START_TIMEOUT)
    if p.returncode == 0:  # it started despite the port: stop it, then fail
        try:
            pid = int(open(os.path.join(d, "aigw.pid")).read())
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
    return p.returncode, p.stdout.decode("utf-8", "replace")


def error_lines(path):
    """The [error] lines of a log file."""
    try:
        return [ln for ln in open(path, encoding="utf-8", errors="replace") if "[error]" in ln]
    except OSError:
        return []


@tap.case("port in use, error_log a file: the terminal names the error and the file; the file has it at error level with the key")
def _(env):
    d = make_tmpdir("aigw-starterr-")
    log = os.path.join(d, "error.log")
    s, port = occupied()
    try:
        rc, out = start_daemon(d, port, log)
    finally:
        s.close()
    check(rc == 1, "aigw exited %s, expected 1; output:\n%s", rc, out)
    want = "listen 127.0.0.1:%d (key listen)" % port
    check(want in out, "the terminal does not say %r:\n%s", want, out)
    check(log in out, "the terminal does not name the error log %s:\n%s", log, out)
    check("see the system log" not in out, "the terminal points at the system log:\n%s", out)
    errs = error_lines(log)
    check(any(want in ln for ln in errs), "no [error] line with %r in %s: %r", want, log, errs)


@tap.case("the metrics port in use: the error names metrics.listen")
def _(env):
    d = make_tmpdir("aigw-starterr-")
    log = os.path.join(d, "error.log")
    s, port = occupied()
    s2 = socket.socket()
    s2.bind(("127.0.0.1", 0))
    free = s2.getsockname()[1]
    s2.close()
    try:
        rc, out = start_daemon(d, free, log, metrics="127.0.0.1:%d" % port)
    finally:
        s.close()
    check(rc == 1, "aigw exited %s, expected 1; output:\n%s", rc, out)
    want = "listen 127.0.0.1:%d (key metrics.listen)" % port
    check(want in out, "the terminal does not say %r:\n%s", want, out)
    check(any(want in ln for ln in error_lines(log)), "no [error] line with %r in %s", want, log)


@tap.case("error_log: stderr in a daemon: the terminal says the log went nowhere and what to do")
def _(env):
    d = make_tmpdir("aigw-starterr-")
    s, port = occupied()
    try:
        rc, out = start_daemon(d, port, "stderr")
    finally:
        s.close()
    check(rc == 1, "aigw exited %s, expected 1; output:\n%s", rc, out)
    check("listen 127.0.0.1:%d (key listen)" % port in out, "the terminal lacks the error:\n%s", out)
    check("error_log is stderr" in out and "aigw -d" in out,
          "the terminal does not say the stderr log of a daemon is lost:\n%s", out)


def check_t(d, **subst):
    """aigw -t on CONF with subst (and a free port): (exit status, output)."""
    fmt = {"port": 1, "dir": d, "error_log": "syslog", "metrics": ""}
    fmt.update(subst)
    text = CONF.format(**fmt)
    if "access_log" in subst:
        text += "access_log: %s\n" % subst["access_log"]
    conf = write_file(os.path.join(d, "aigw.yaml"), text)
    p = subprocess.run([AIGW_BIN, "-t", "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace")


@tap.case("aigw -t fails, naming the key and the path, for a log file a start could not open")
def _(env):
    d = make_tmpdir("aigw-check-")
    bad = os.path.join(d, "no-such-folder", "error.log")
    rc, out = check_t(d, error_log=bad)
    check(rc == 1 and "configuration OK" not in out, "aigw -t exited %s:\n%s", rc, out)
    check("error_log" in out and bad in out, "aigw -t does not name error_log and %s:\n%s", bad, out)
    check(not os.path.exists(os.path.dirname(bad)), "aigw -t created %s", os.path.dirname(bad))
    # an access_log that is a folder cannot be opened for appending
    rc, out = check_t(d, access_log=d)
    check(rc == 1 and "access_log" in out and d in out,
          "aigw -t with access_log a folder exited %s:\n%s", rc, out)
    # and a start says the same, at error level, naming the key
    p = subprocess.run([AIGW_BIN, "-d", "-c", os.path.join(d, "aigw.yaml")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 1 and "[error]" in out and "(key access_log)" in out,
          "a start with access_log a folder exited %s:\n%s", p.returncode, out)


@tap.case("aigw -t fails for a data_dir, pid_file or control.socket folder a start could not make; creates nothing")
def _(env):
    d = make_tmpdir("aigw-check-")
    deep = os.path.join(d, "a", "b")
    # data_dir is made with one mkdir; the runtime files' folders with their
    # parents, which cannot be under a regular file
    blocker = write_file(os.path.join(d, "a-file"), "")
    for key, sub, bad in (("data_dir", "{dir}/data", deep),
                          ("pid_file", "{dir}/aigw.pid", os.path.join(blocker, "run")),
                          ("socket", "{dir}/aigw.sock", os.path.join(blocker, "run"))):
        text = CONF.format(port=1, dir=d, error_log="syslog", metrics="")
        text = text.replace(sub.format(dir=d), os.path.join(bad, "x"))
        conf = write_file(os.path.join(d, "aigw.yaml"), text)
        p = subprocess.run([AIGW_BIN, "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           timeout=START_TIMEOUT)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode == 1 and key in out and bad.split("/run")[0] in out,
              "aigw -t with %s under %s exited %s:\n%s", key, bad, p.returncode, out)
    check(not os.path.exists(os.path.join(d, "a")), "aigw -t created %s", os.path.join(d, "a"))
    # the good configuration passes, and -t made neither data_dir nor a log
    rc, out = check_t(d, error_log=os.path.join(d, "error.log"))
    check(rc == 0 and "configuration OK" in out, "aigw -t on the good paths exited %s:\n%s", rc, out)
    check(not os.path.exists(os.path.join(d, "data")) and not os.path.exists(os.path.join(d, "error.log")),
          "aigw -t created data_dir or the error log")


@tap.case("aigw -h and --help print the usage on stdout and exit 0; an unknown option prints it on stderr and exits 1")
def _(env):
    for args in (["-h"], ["--help"], ["-c", "/nonexistent.yaml", "--help"]):
        p = subprocess.run([AIGW_BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode == 0 and out.startswith("usage: aigw") and "-t" in out and not p.stderr,
              "aigw %s exited %s; stdout %r, stderr %r", " ".join(args), p.returncode, out, p.stderr)
    p = subprocess.run([AIGW_BIN, "-Z"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=START_TIMEOUT)
    check(p.returncode == 1 and not p.stdout and b"usage: aigw" in p.stderr,
          "aigw -Z exited %s; stdout %r, stderr %r", p.returncode, p.stdout, p.stderr)


if __name__ == "__main__":
    main(tap)
