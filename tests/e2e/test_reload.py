# SPDX-License-Identifier: Apache-2.0
"""End-to-end: reload of aigw.yaml and the resources file, through the
control socket (`reload`, answered when it is over) and SIGHUP.

aigw.yaml unchanged (the workers stay); more workers and a listener added
(a new generation, the old workers exit); a listener removed; an invalid
aigw.yaml or resources file (nothing changes, the error has file:line); a
reload while one is in progress; constant keep-alive load, plain and
streamed, across reloads that change the worker count (no failure); a
request limit in shared memory across a reload; keys that need a restart.

One mock and one gateway serve every case, in order; each case leaves
aigw.yaml as it found it (2 workers, one listener).
"""

import copy
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, TAP, Env, Gateway, MixedLoad, Mock, chat_body, chat_ok, check,
        check_eq,
        free_port, parse_control_reply, main, minute_room, pid_alive, request, standard_resources,
        statuses, to_yaml, wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

RPM_KEY = "sk-reload-rpm-0001"
RPM = 5
RELOAD_TIMEOUT = 40 * SLOW  # the master gives new workers 30 s


def resources(mock_port):
    return standard_resources(mock_port, extra_keys=[
        {"name": "reload-rpm", "key": RPM_KEY, "allowed_models": ["mock-*"],
         "limits": {"requests_per_minute": RPM}}])


class ReloadEnv(Env):
    """The mock, the gateway, and its aigw.yaml as it started."""

    def ensure_gw(self):
        if self.gw is None or not self.gw.running():
            self.gw = Gateway(resources(self.mock.port), env={"MOCK_KEY": MOCK_KEY})
            self.base = copy.deepcopy(self.gw.config)
            tap.add_gateway_log(self.gw, "aigw log (%s)" % self.gw.dir)
        return self.gw


def fixture():
    class Fixture:
        def __enter__(self):
            self.env = ReloadEnv(Mock(key=MOCK_KEY))
            return self.env

        def __exit__(self, *exc):
            if self.env.gw is not None:
                self.env.gw.stop()
            self.env.mock.stop()
    return Fixture()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def set_config(env, **changes):
    """aigw.yaml = the gateway's first aigw.yaml with changes (None removes a key)."""
    conf = copy.deepcopy(env.base)
    for k, v in changes.items():
        if v is None:
            conf.pop(k, None)
        else:
            conf[k] = v
    env.gw.config = conf
    env.gw.write_config(conf)
    return conf


def restore(env):
    """aigw.yaml as it started; reloaded if that changes anything."""
    gw = env.gw
    if gw is None or not gw.running():
        return
    with open(gw.conf_path) as f:
        now = f.read()
    gw.config = copy.deepcopy(env.base)
    if now != to_yaml(env.base):
        gw.write_config(env.base)
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"], "reload back to the first aigw.yaml: %r", r)
    wait_old_gone(gw)


def worker_pids(status, generation=None):
    return sorted(w["pid"] for w in status["workers"]
                  if generation is None or w["generation"] == generation)


def wait_old_gone(gw, timeout=20):
    """Until every worker listed belongs to the current generation and runs."""
    def done():
        s = gw.status()
        return s if all(w["generation"] == s["generation"] and w["state"] == "running"
                        for w in s["workers"]) else None
    return wait_for(done, timeout * SLOW, interval=0.05,
                    what="the old generation's workers to leave the status")


def reload_hup(gw):
    """SIGHUP, then wait until status shows a new last_reload; return it."""
    before = gw.status().get("last_reload") or {}
    gw.reload()

    def new():
        s = gw.status()
        lr = s.get("last_reload")
        return lr if lr and lr != before and not s.get("reloading") else None
    return wait_for(new, RELOAD_TIMEOUT, interval=0.05, what="SIGHUP's reload to end")


def refused(port):
    """True when nothing accepts a connection on 127.0.0.1:port."""
    try:
        with socket.create_connection((HOST, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


# --------------------------------------------------------------------------
# aigw.yaml unchanged
# --------------------------------------------------------------------------

@tap.case("reload (control) with aigw.yaml unchanged: ok, the same workers (same pids), "
          "the same generation, last_reload ok")
def _(env):
    gw = env.ensure_gw()
    gw.wait_workers(2, timeout=10 * SLOW)
    s0 = gw.status()
    r = gw.control("reload", timeout=RELOAD_TIMEOUT)
    check(r["ok"] is True, "reload: %r", r)
    check_eq(r["result"].get("workers"), 2, "workers in the reply")
    s1 = gw.status()
    check_eq(r["result"].get("generation"), s1["generation"], "generation in the reply")
    check_eq(s1["generation"], s0["generation"], "generation after a reload that changed "
             "nothing in aigw.yaml")
    check_eq(worker_pids(s1), worker_pids(s0), "worker pids")
    check_eq(gw.worker_pids(), worker_pids(s0), "the master's children")
    lr = s1.get("last_reload")
    check(isinstance(lr, dict) and lr.get("ok") is True and "error" not in lr and lr.get("at"),
          "last_reload: %r", lr)
    chat_ok(gw.port)


@tap.case("reload (SIGHUP) with aigw.yaml unchanged: the same workers (same pids), "
          "last_reload ok at a new time")
def _(env):
    gw = env.ensure_gw()
    s0 = gw.status()
    lr = reload_hup(gw)
    check(lr.get("ok") is True, "last_reload after SIGHUP: %r", lr)
    s1 = gw.status()
    check_eq(s1["generation"], s0["generation"], "generation")
    check_eq(worker_pids(s1), worker_pids(s0), "worker pids")
    chat_ok(gw.port)


# --------------------------------------------------------------------------
# a new generation
# --------------------------------------------------------------------------

@tap.case("reload (control): workers 2 -> 3 and a listener added: answered once the new "
          "workers run, generation + 1, the new port serves, the old workers exit")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    old = worker_pids(s0)
    port2 = free_port()
    try:
        set_config(env, workers=3, listen=env.base["listen"] + ["%s:%d" % (HOST, port2)])
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is True, "reload: %r", r)
        g = s0["generation"] + 1
        # (and "warnings": the tests' keyless Admin API, see the allow_keyless case)
        check_eq({k: r["result"].get(k) for k in ("generation", "workers")},
                 {"generation": g, "workers": 3}, "reply to reload")
        s1 = gw.status()
        check_eq(s1["generation"], g, "generation in status")
        new = [w for w in s1["workers"] if w["generation"] == g]
        check_eq(len(new), 3, "workers of generation %d: %r" % (g, s1["workers"]))
        check(all(w["state"] == "running" for w in new),
              "the reload was answered before every new worker ran: %r", new)
        check(not set(w["pid"] for w in new) & set(old), "a new worker has an old pid")
        for port in (gw.port, port2):
            for _ in range(4):
                chat_ok(port)
        wait_for(lambda: not any(pid_alive(p) for p in old), 20 * SLOW,
                 what="the old workers %r to exit" % old)
        s2 = wait_old_gone(gw)
        check_eq(len(s2["workers"]), 3, "workers once the old ones left")
        check_eq(sorted(gw.worker_pids()), worker_pids(s2), "the master's children")
        env.port2 = port2
    finally:
        set_config(env)


@tap.case("reload (SIGHUP): a listener removed: its port refuses connections once the old "
          "workers are gone; the other serves")
def _(env):
    gw = env.ensure_gw()
    port2 = getattr(env, "port2", None)
    if port2 is None or refused(port2):
        port2 = free_port()
        set_config(env, listen=env.base["listen"] + ["%s:%d" % (HOST, port2)])
        check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload adding a listener")
    chat_ok(port2)
    s0 = gw.status()
    set_config(env)
    lr = reload_hup(gw)
    check(lr.get("ok") is True, "last_reload: %r", lr)
    s1 = gw.status()
    check_eq(s1["generation"], s0["generation"] + 1, "generation")
    wait_for(lambda: refused(port2), 15 * SLOW, interval=0.1,
             what="port %d to refuse connections" % port2)
    s2 = wait_old_gone(gw)
    check_eq(len(s2["workers"]), 2, "workers")
    for _ in range(4):
        chat_ok(gw.port)
    check(refused(port2), "port %d accepts again" % port2)


# --------------------------------------------------------------------------
# invalid files
# --------------------------------------------------------------------------

def invalid_conf_case(env, text, line, key, via_hup=False):
    """Write aigw.yaml as text, reload, expect file:line: key, nothing changed."""
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    v0 = gw.config_version()
    want = "%s:%d: %s" % (gw.conf_path, line, key)
    try:
        write_file(gw.conf_path, text)
        if via_hup:
            lr = reload_hup(gw)
            err = lr.get("error", "")
            check(lr.get("ok") is False, "last_reload after a bad SIGHUP: %r", lr)
        else:
            r = gw.control("reload", timeout=RELOAD_TIMEOUT)
            check(r["ok"] is False, "reload of an invalid aigw.yaml succeeded: %r", r)
            check_eq(r["code"], "invalid_config", "code")
            err = r["error"]
            lr = gw.status().get("last_reload") or {}
            check(lr.get("ok") is False, "last_reload: %r", lr)
            check_eq(lr.get("error"), err, "last_reload.error (as the reply)")
        check(err.startswith(want), "error %r does not start with %r", err, want)
        s1 = gw.status()
        check_eq(s1["generation"], s0["generation"], "generation")
        check_eq(worker_pids(s1), worker_pids(s0), "worker pids")
        check(all(w["state"] == "running" for w in s1["workers"]), "workers: %r",
              s1["workers"])
        for _ in range(4):
            chat_ok(gw.port)
        check_eq(gw.config_version(), v0, "config version")
    finally:
        set_config(env)


@tap.case("reload (control) of an aigw.yaml with an unknown key: ok false, file:line: key, "
          "last_reload says so, the same workers still serve")
def _(env):
    text = to_yaml(env.ensure_gw().config) + "no_such_key: 1\n"
    invalid_conf_case(env, text, len(text.splitlines()), "no_such_key")


@tap.case("reload (SIGHUP) of an aigw.yaml with a bad value (workers: 0): last_reload has "
          "file:line: workers, the same workers still serve")
def _(env):
    lines = to_yaml(env.ensure_gw().config).splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("workers:"))
    lines[at] = "workers: 0"
    invalid_conf_case(env, "\n".join(lines) + "\n", at + 1, "workers", via_hup=True)


@tap.case("reload (control) of a bad value (a duration without unit): ok false, "
          "file:line: timeouts.drain")
def _(env):
    lines = to_yaml(env.ensure_gw().config).splitlines()
    at = next(i for i, l in enumerate(lines) if l.strip().startswith("drain:"))
    lines[at] = lines[at].split(":")[0] + ": 10"
    invalid_conf_case(env, "\n".join(lines) + "\n", at + 1, "timeouts.drain")


@tap.case("reload (control) with an invalid resources file: ok false naming its file:line, "
          "the old configuration serves on, config version unchanged")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    v0 = gw.config_version()
    good = open(gw.res_path).read()
    lines = good.splitlines()
    at = next(i for i, l in enumerate(lines) if "provider: openai-compatible" in l)
    lines[at] = lines[at].replace("openai-compatible", "no-such-provider")
    try:
        gw.write_resources("\n".join(lines) + "\n")
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is False, "reload of an invalid resources file succeeded: %r", r)
        check_eq(r["code"], "invalid_config", "code")
        want = "%s:%d: " % (gw.res_path, at + 1)
        check(r["error"].startswith(want) and "provider" in r["error"],
              "error %r does not start with %r and name provider", r["error"], want)
        s1 = gw.status()
        check_eq(s1["last_reload"].get("ok"), False, "last_reload.ok")
        check_eq(worker_pids(s1), worker_pids(s0), "worker pids")
        check_eq(gw.config_version(), v0, "config version")
        chat_ok(gw.port)
    finally:
        gw.write_resources(good)
    check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload once restored")


def as_stored_line(text):
    """The numbers of the master's debug line "N entries as stored ..., M validated"."""
    import re
    m = re.findall(r"reload: \S+: (\d+) entries as stored \(not validated or compiled "
                   r"again\), (\d+) validated", text)
    return tuple(int(x) for x in m[-1]) if m else None


@tap.case("reload (control) of a resources file with one key changed: the change serves, the "
          "entries as stored are neither validated nor compiled again (the master's debug "
          "line counts them), config version + 1; an entry that only looks stored once its "
          "key is hashed (key and key_sha256 both given) is still refused")
def _(env):
    import hashlib
    gw = env.ensure_gw()
    wait_old_gone(gw)
    res = resources(env.mock.port)
    nentries = len(res["models"]) + len(res["api_keys"])
    try:
        set_config(env, log_level="debug")
        check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload to log_level debug")
        wait_old_gone(gw)
        v0 = gw.config_version()
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model="other-model"),
                    headers={"Authorization": "Bearer sk-test-a"})
        check_eq(r.status, 403, "team-a asking for other-model before the change")
        changed = copy.deepcopy(res)
        changed["api_keys"][0]["allowed_models"] = ["mock-*", "other-model"]
        gw.write_resources(to_yaml(changed))
        offset = gw.log_size()
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is True, "reload of one changed key: %r", r)
        check_eq(as_stored_line(gw.log_since(offset)), (nentries - 1, 1),
                 "(entries as stored, entries validated) in the master's debug line")
        check_eq(gw.config_version(), v0 + 1, "config version after one change")
        r = request(gw.port, "POST", "/v1/chat/completions", chat_body(model="other-model"),
                    headers={"Authorization": "Bearer sk-test-a"})
        check_eq(r.status, 200, "team-a asking for other-model after the change")
        chat_ok(gw.port)
        # key and key_sha256 together: hashed alone it would equal the stored entry,
        # but the validator refuses the pair, and so must the reload
        both = copy.deepcopy(changed)
        k = both["api_keys"][1]
        k["key_sha256"] = hashlib.sha256(k["key"].encode()).hexdigest()
        gw.write_resources(to_yaml(both))
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is False and "give one of key, key_sha256 and jwt" in r.get("error", ""),
              "reload of a key with key and key_sha256: %r", r)
        check_eq(gw.config_version(), v0 + 1, "config version after the refused reload")
    finally:
        gw.write_resources(to_yaml(res))
        check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload of the first file")
        restore(env)


# --------------------------------------------------------------------------
# concurrency
# --------------------------------------------------------------------------

@tap.case("a reload while one is in progress: ok false, 'a reload is already in progress'; "
          "SIGHUP then is ignored with a log line; the first one completes")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    offset = gw.log_size()
    try:
        set_config(env, workers=3)
        # Two requests sent together, then SIGHUP: the master takes one first and
        # is then busy for at least one 50 ms tick, while its new workers start.
        socks = []
        for _ in range(2):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(RELOAD_TIMEOUT)
            s.connect(gw.control_path)
            socks.append(s)
        for s in socks:
            s.sendall(b'{"aigw_control": 1, "command": "reload", "args": {}}\n')
        gw.signal(signal.SIGHUP)
        replies = []
        for s in socks:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            s.close()
            replies.append(parse_control_reply(data, "reply to a reload"))
        oks = [r for r in replies if r["ok"]]
        refusals = [r for r in replies if not r["ok"]]
        check(len(oks) == 1 and len(refusals) == 1, "two reloads at once: %r", replies)
        check_eq(refusals[0]["error"], "a reload is already in progress", "error of the second")
        check_eq(refusals[0]["code"], "reload_in_progress", "code of the second")
        check_eq(oks[0]["result"]["generation"], s0["generation"] + 1,
                 "generation after the first")
        wait_for(lambda: "SIGHUP: a reload is already in progress; ignored" in
                 gw.log_since(offset), 5 * SLOW, what="the log line of the ignored SIGHUP")
        s1 = wait_old_gone(gw)
        check_eq(s1["generation"], s0["generation"] + 1, "generation (one reload, not two)")
        check_eq(len(s1["workers"]), 3, "workers")
    finally:
        restore(env)


@tap.case("a reload whose client goes away before the answer still completes; the socket "
          "answers after it")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    try:
        set_config(env, workers=3)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(gw.control_path)
            s.sendall(b'{"aigw_control": 1, "command": "reload", "args": {}}\n')
        wait_for(lambda: gw.status()["generation"] == s0["generation"] + 1 and
                 not gw.status()["reloading"], RELOAD_TIMEOUT, interval=0.05,
                 what="the reload to complete")
        s1 = wait_old_gone(gw)
        check_eq(len(s1["workers"]), 3, "workers")
        check(gw.control("check")["ok"], "check after")
    finally:
        restore(env)


@tap.case("constant keep-alive load, plain and streamed, across three reloads that change "
          "the worker count (2 -> 3 -> 1 -> 2, control and SIGHUP): no failed request, every "
          "stream ends with [DONE]")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    steps = [(3, "control"), (1, "SIGHUP"), (2, "control")]
    load = MixedLoad(gw.port, "sk-test-a", threads=6, duration=30 * SLOW)
    try:
        with load:
            wait_for(lambda: load.count() >= 30, 10 * SLOW, what="load to get going")
            for n, how in steps:
                set_config(env, workers=n)
                if how == "control":
                    r = gw.control("reload", timeout=RELOAD_TIMEOUT)
                    check(r["ok"], "reload to %d workers: %r", n, r)
                else:
                    lr = reload_hup(gw)
                    check(lr.get("ok"), "SIGHUP to %d workers: %r", n, lr)
                time.sleep(0.4)
            c = load.count()
            wait_for(lambda: load.count() >= c + 30, 10 * SLOW, what="load to go on")
        tap.diag(load.summary())
        check(not load.failures, "%d failures (%s); first: %r", len(load.failures),
              load.summary(), load.failures[:3])
        check(load.ok["stream"] >= 20 and load.ok["plain"] >= 20, "too little load: %s",
              load.summary())
        s1 = wait_old_gone(gw)
        check_eq(s1["generation"], s0["generation"] + 3, "generation after three reloads")
        check_eq(len(s1["workers"]), 2, "workers")
    finally:
        restore(env)


@tap.case("a request limit in shared memory survives a reload: requests_per_minute %d "
          "admits %d across it, no more" % (RPM, RPM))
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    minute_room(min(15 * SLOW, 40))
    try:
        before = [chat_ok(gw.port, key=RPM_KEY) for _ in range(2)]
        check_eq(len(before), 2, "requests before")
        set_config(env, workers=3)
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] and r["result"]["generation"] == s0["generation"] + 1,
              "reload to a new generation: %r", r)
        after = [request(gw.port, "POST", "/v1/chat/completions", chat_body(), key=RPM_KEY,
                         timeout=10 * SLOW) for _ in range(RPM + 2)]
        by = statuses(after)
        check_eq(by, {200: RPM - 2, 429: 4}, "statuses of %d requests after the reload "
                 "(2 admitted before it)" % (RPM + 2))
    finally:
        restore(env)


@tap.case("a reload applies log_level: at warn, neither the master nor the new workers log "
          "info lines; at error, no warning either, but the reload's answer still has its "
          "warnings (admin.allow_keyless on, as in the tests' aigw.yaml, warns as a start does)")
def _(env):
    gw = env.ensure_gw()
    wait_old_gone(gw)
    try:
        set_config(env, log_level="warn")
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"], "reload to log_level warn: %r", r)
        wait_old_gone(gw)
        offset = gw.log_size()
        check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "a reload at warn")
        for _ in range(3):
            chat_ok(gw.port)
        time.sleep(0.3)
        info = [l for l in gw.log_since(offset).splitlines() if "[info]" in l]
        check(not [l for l in info if " worker " in l],
              "the new workers log info lines at log_level warn: %r", info[:3])
        check(not info, "the master logs info lines at log_level warn: %r", info[:3])
        set_config(env, log_level="error")
        check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload to log_level error")
        offset = gw.log_size()
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is True, "a reload at log_level error: %r", r)
        warns = r["result"].get("warnings", [])
        check(any("admin.allow_keyless is true" in w for w in warns),
              "no keyless Admin API warning in the answer: %r", r)
        check(all(isinstance(w, str) and "\n" not in w for w in warns), "warnings: %r", warns)
        check("[warn]" not in gw.log_since(offset), "a warning logged at log_level error")
    finally:
        restore(env)


# --------------------------------------------------------------------------
# keys that need a restart
# --------------------------------------------------------------------------

def restart_only_changes(env):
    """aigw.yaml with shm_slots, admin.listen, pid_file and lmdb.map_size changed."""
    d = env.gw.dir
    admin2 = free_port()
    set_config(env, shm_slots=4096, admin={"listen": ["%s:%d" % (HOST, admin2)],
                                           "allow_keyless": True},
               pid_file=os.path.join(d, "other.pid"),
               lmdb={"map_size": "32m", "max_readers": 126})
    return admin2


@tap.case("restart-only keys changed (shm_slots, admin.listen, pid_file, lmdb.map_size): "
          "the reload succeeds and the running values are kept")
def _(env):
    gw = env.ensure_gw()
    s0 = wait_old_gone(gw)
    admin1 = int(env.base["admin"]["listen"][0].rsplit(":", 1)[1])
    offset = gw.log_size()
    try:
        admin2 = restart_only_changes(env)
        r = gw.control("reload", timeout=RELOAD_TIMEOUT)
        check(r["ok"] is True, "reload: %r", r)
        s1 = gw.status()
        check_eq(s1["shared_memory"]["slots"], s0["shared_memory"]["slots"],
                 "shared_memory.slots")
        check_eq(request(admin1, "GET", "/admin/v1/status").status, 200,
                 "the Admin API on its running port")
        check(refused(admin2), "the Admin API opened the new port %d" % admin2)
        check_eq(int(open(env.base["pid_file"]).read()), gw.pid, "the PID file where it was")
        check(not os.path.exists(os.path.join(gw.dir, "other.pid")), "a PID file at the new "
              "path")
        for _ in range(4):
            chat_ok(gw.port)
        env.restart_log = gw.log_since(offset)
    finally:
        restore(env)


@tap.case("restart-only keys changed: one warning for each, naming the key as aigw.yaml "
          "spells it")
def _(env):
    text = getattr(env, "restart_log", None)
    if text is None:
        gw = env.ensure_gw()
        offset = gw.log_size()
        try:
            restart_only_changes(env)
            check(gw.control("reload", timeout=RELOAD_TIMEOUT)["ok"], "reload")
            text = gw.log_since(offset)
        finally:
            restore(env)
    warns = [l for l in text.splitlines() if "[warn]" in l and "reload" in l]
    for key in ("shm_slots", "admin.listen", "pid_file", "lmdb.map_size"):
        check(any(("%s changed" % key) in l for l in warns),
              "no warning names %s: %r", key, warns)
    check(not any("admin_listen" in l or "lmdb_map_size" in l or "admin_nlisten" in l
                  for l in warns), "a warning names a key that aigw.yaml does not have: %r",
          warns)


if __name__ == "__main__":
    main(tap, fixture)
