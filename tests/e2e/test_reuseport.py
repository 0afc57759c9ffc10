# SPDX-License-Identifier: Apache-2.0
"""End-to-end: each worker accepts on its own listening socket (SO_REUSEPORT),
held by the master (src/master_sock.c).

workers: 2: each worker has its own socket for the address (its inode in
/proc/PID/fd differs from the other's, and is one of the address's listening
sockets in /proc/net/tcp); the master holds both; many new connections land
on both workers. A worker stopped (SIGSTOP) while new connections queue on its
socket, then killed: the master restarts it on the same socket and every one
of those connections is answered (none refused, reset or lost). A reload to
one worker closes no socket (the remaining worker takes both, and new
connections are all answered), a reload back to two gives each its own again.

Nothing is timed: counts and socket identities only.
"""

import os
import re
import shutil
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import harness  # noqa: E402
    from harness import (  # noqa: E402
        AIGW_BIN, MOCK_KEY, SLOW, TAP, Gateway, Mock, check, check_eq, main, make_tmpdir,
        request, standard_resources, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-test-a"
RELOAD_TIMEOUT = 40 * SLOW


def fixture():
    class Fixture:
        def __enter__(self):
            self.mock = Mock(key=MOCK_KEY)
            self.gw = Gateway(standard_resources(self.mock.port), config={"workers": 2},
                              env={"MOCK_KEY": MOCK_KEY})
            self.base = dict(self.gw.config)
            tap.add_gateway_log(self.gw, "aigw log (%s)" % self.gw.dir)
            return self

        def __exit__(self, *exc):
            self.gw.stop()
            self.mock.stop()
    return Fixture()


def listening_inodes(port):
    """Inodes of the sockets listening on 127.0.0.1:port (/proc/net/tcp)."""
    want = "0100007F:%04X" % port
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":
                out.add(int(cols[9]))
    return out


def socket_inodes(pid):
    """Inodes of every socket pid holds."""
    out = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            link = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def workers_by_slot(gw):
    """{slot: pid} of the running workers of the current generation."""
    s = gw.status()
    return {w["slot"]: w["pid"] for w in s["workers"]
            if w["generation"] == s["generation"] and w["state"] == "running"}


def wait_running(gw, n):
    """Until n workers of the current generation run and no other is listed."""
    def ok():
        s = gw.status()
        ws = s["workers"]
        return (len(ws) == n and all(w["generation"] == s["generation"] and
                                     w["state"] == "running" for w in ws)) and ws
    return wait_for(ok, 20 * SLOW, interval=0.05, what="%d running workers" % n)


def own_sockets(gw):
    """{worker pid: set of the address's listening inodes it holds}."""
    lis = listening_inodes(gw.port)
    return {pid: socket_inodes(pid) & lis for pid in workers_by_slot(gw).values()}


def fresh_requests(port, n, threads=8, timeout=30 * SLOW):
    """n requests, each on a new connection; returns the failures (status or exception)."""
    fails, lock, left = [], threading.Lock(), [n]

    def run():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            try:
                r = request(port, "GET", "/v1/models", headers={"Authorization": "Bearer " + KEY,
                                                                "Connection": "close"},
                            timeout=timeout)
                if r.status != 200:
                    with lock:
                        fails.append(r.status)
            except Exception as exc:  # noqa: BLE001 - a refused or reset connection counts
                with lock:
                    fails.append(repr(exc))
    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return fails


def requests_of(gw):
    """{worker pid: requests served}, from status."""
    return {w["pid"]: w["requests"] for w in gw.status()["workers"]}


@tap.case("workers: 2: each worker accepts on its own socket (distinct listening inodes), the "
          "master holds both, and 200 new connections are served by both workers")
def _(env):
    gw = env.gw
    wait_running(gw, 2)
    lis = listening_inodes(gw.port)
    check_eq(len(lis), 2, "listening sockets on the port")
    own = own_sockets(gw)
    check_eq(len(own), 2, "workers")
    a, b = list(own.values())
    check(len(a) == 1 and len(b) == 1 and a != b,
          "each worker should hold one listening socket of its own: %r", own)
    check(lis <= socket_inodes(gw.pid), "the master does not hold every socket: %r of %r",
          socket_inodes(gw.pid) & lis, lis)
    before = requests_of(gw)
    check_eq(fresh_requests(gw.port, 200), [], "failed requests")
    after = requests_of(gw)
    served = {pid: after[pid] - before.get(pid, 0) for pid in after}
    check_eq(sum(served.values()), 200, "requests served (per worker %r)" % served)
    check(all(v > 0 for v in served.values()), "a worker served none: %r", served)


@tap.case("a worker stopped while new connections queue on its socket, then killed: restarted "
          "on the same socket, every queued connection is answered (none refused or reset)")
def _(env):
    gw = env.gw
    wait_running(gw, 2)
    slots = workers_by_slot(gw)
    own = own_sockets(gw)
    slot, pid = sorted(slots.items())[0]
    inode = own[pid]
    gw.killed_pids.add(pid)  # its death is this case's doing
    os.kill(pid, signal.SIGSTOP)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("fails", fresh_requests(gw.port, 64)))
    try:
        t.start()
        # some of the 64 connections hash to the stopped worker's socket and wait in its
        # queue: the others are answered by the other worker meanwhile
        other = [p for p in slots.values() if p != pid][0]
        wait_for(lambda: requests_of(gw).get(other, 0) > 0, 20 * SLOW, interval=0.05,
                 what="the other worker to serve")
    finally:
        os.kill(pid, signal.SIGKILL)  # a stopped process dies of it too
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass  # reaped already
    t.join(60 * SLOW)
    check(not t.is_alive(), "requests still waiting a minute after the restart")
    check_eq(result.get("fails"), [], "failed requests")
    now = wait_for(lambda: (workers_by_slot(gw).get(slot) not in (None, pid) and
                            workers_by_slot(gw)), 20 * SLOW, interval=0.05,
                   what="slot %d to run a new worker" % slot)
    check_eq(own_sockets(gw)[now[slot]], inode, "the restarted worker's socket")


@tap.case("reload to one worker: no socket closed, the one worker takes both, new connections "
          "all answered; back to two: each its own socket again")
def _(env):
    gw = env.gw
    wait_running(gw, 2)
    lis = listening_inodes(gw.port)
    check_eq(len(lis), 2, "listening sockets on the port with two workers")
    try:
        conf = dict(env.base)
        conf["workers"] = 1
        gw.config = conf
        gw.write_config(conf)
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"], "reload to 1 worker: %r", r)
        wait_running(gw, 1)
        check_eq(listening_inodes(gw.port), lis, "listening sockets after the reload to 1")
        own = own_sockets(gw)
        check_eq(list(own.values()), [lis], "the one worker's sockets")
        check_eq(fresh_requests(gw.port, 100), [], "failed requests with one worker")
    finally:
        gw.config = dict(env.base)
        gw.write_config(env.base)
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
    check(r["ok"], "reload back to 2 workers: %r", r)
    wait_running(gw, 2)
    check_eq(listening_inodes(gw.port), lis, "listening sockets after the reload to 2")
    a, b = list(own_sockets(gw).values())
    check(len(a) == 1 and len(b) == 1 and a != b and a | b == lis,
          "each its own again: %r %r", a, b)
    check_eq(fresh_requests(gw.port, 100), [], "failed requests with two workers")


@tap.case("a worker that cannot be restarted (the binary gone): its socket gets no new "
          "connections while it is down, 100 new connections are all answered by the other "
          "worker; the binary back, both serve again on their own sockets")
def _(env):
    d = make_tmpdir("aigw-reuseport-")
    exe = os.path.join(d, "aigw-copy")
    shutil.copy2(AIGW_BIN, exe)
    saved = harness.AIGW_BIN
    harness.AIGW_BIN = exe
    try:
        gw = Gateway(standard_resources(env.mock.port), config={"workers": 2},
                     env={"MOCK_KEY": MOCK_KEY})
    finally:
        harness.AIGW_BIN = saved
    tap.add_gateway_log(gw, "aigw log (%s)" % gw.dir)
    try:
        wait_running(gw, 2)
        os.unlink(exe)
        pid = sorted(workers_by_slot(gw).values())[0]
        gw.kill_worker(pid, signal.SIGKILL)
        wait_for(lambda: "did not start (1 time in a row)" in gw.log(), 30 * SLOW,
                 what="a failed start in the log")
        check_eq(fresh_requests(gw.port, 100, timeout=10 * SLOW), [],
                 "failed requests with one worker down")
        check("1 of 2 sockets have a worker" in gw.log(), "no steering line in the log")
        shutil.copy2(AIGW_BIN, exe)
        wait_running(gw, 2)
        wait_for(lambda: "every socket has a worker again" in gw.log(), 30 * SLOW,
                 what="the steering to be lifted")
        before = requests_of(gw)
        check_eq(fresh_requests(gw.port, 200), [], "failed requests once both run")
        after = requests_of(gw)
        check(all(after[p] > before.get(p, 0) for p in after),
              "a worker served none once both run: %r -> %r", before, after)
    finally:
        # the failed starts were this case's doing
        for m in re.finditer(r"worker \d+ \(pid (\d+)\) exited with status 127", gw.log()):
            gw.killed_pids.add(int(m.group(1)))
        gw.stop()


if __name__ == "__main__":
    main(tap, fixture)
