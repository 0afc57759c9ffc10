"""End-to-end: aigw's process life (config check, workers, reload, crash
recovery, restart with the same LMDB data_dir, graceful drain on SIGTERM).

One mock serves every case. The cases from "two workers" on share one gateway,
in order; a case that finds it gone starts a new one.
"""

import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, MOCK_KEY, SLOW, TAP, Env, Gateway, Load, Mock, chat_body, check, check_eq,
        free_port, last_body, main, make_tmpdir, proc_exe, request, standard_resources, stream_text,
        wait_for, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

UNSET_VAR = "AIGW_E2E_UNSET_FOR_CHECK"
CHECK_TIMEOUT = 15 * SLOW


class LifecycleEnv(Env):
    """The shared mock, and a gateway started on demand."""

    def resources(self, extra_models=()):
        return standard_resources(self.mock.port, extra_models)

    def ensure_gw(self):
        """The shared gateway, (re)started when it is not running."""
        if self.gw is None or not self.gw.running():
            self.gw = Gateway(self.resources(), env={"MOCK_KEY": MOCK_KEY})
            tap.add_gateway_log(self.gw, "aigw log (%s)" % self.gw.dir)
        return self.gw


def fixture():
    class Fixture:
        def __enter__(self):
            os.environ.pop(UNSET_VAR, None)
            self.env = LifecycleEnv(Mock(key=MOCK_KEY))
            return self.env

        def __exit__(self, *exc):
            if self.env.gw is not None:
                self.env.gw.stop()
            self.env.mock.stop()
    return Fixture()


# --------------------------------------------------------------------------
# aigw -t
# --------------------------------------------------------------------------

GOOD_CONF = """\
listen:
  - 127.0.0.1:{port}
workers: 2
log_level: info
data_dir: {dir}/data
resources: {res}
timeouts:
  drain: 10s
admin:
  listen: []
"""

GOOD_RES = """\
models:
  - name: mock-gpt
    provider: openai-compatible
    model: mock-1
    api_base: http://127.0.0.1:{mock_port}/v1
    api_key: ${{MOCK_KEY}}
api_keys:
  - name: team-a
    key: sk-test-a
"""


def run_check(conf=GOOD_CONF, res=GOOD_RES, res_name="resources.yaml", cwd=None):
    """Write both files into a new dir and run `aigw -t -c aigw.yaml`.
    Returns (exit code, combined output, conf path, resources path)."""
    d = make_tmpdir("aigw-check-")
    res_path = os.path.join(d, "resources.yaml")
    fmt = {"port": free_port(), "dir": d, "res": res_name if res_name else res_path,
           "mock_port": free_port()}
    conf_path = write_file(os.path.join(d, "aigw.yaml"), conf.format(**fmt))
    write_file(res_path, res.format(**fmt))
    env = dict(os.environ, MOCK_KEY=MOCK_KEY)
    env.pop(UNSET_VAR, None)
    try:
        p = subprocess.run([AIGW_BIN, "-t", "-c", conf_path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                           cwd=cwd or d, timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError("aigw -t did not exit within %.0fs" % CHECK_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), conf_path, res_path


def check_reports(out, path, line, key):
    """Some output line reads `...FILE:LINE: ...KEY...: message`."""
    base = os.path.basename(path)
    pattern = re.compile(r"%s:%d: .*%s.*: \S" % (re.escape(base), line, re.escape(key)))
    for text in out.splitlines():
        if pattern.search(text):
            return text
    raise AssertionError("no line like '%s:%d: %s: message' in:\n%s" % (base, line, key, out))


def bad_check(conf=GOOD_CONF, res=GOOD_RES, where="conf", line=0, key=""):
    """aigw -t must exit 1 and report file:line and key."""
    rc, out, conf_path, res_path = run_check(conf, res, res_name=None)
    check(rc == 1, "aigw -t exited %s, expected 1; output:\n%s", rc, out)
    check("configuration OK" not in out, "a bad config printed 'configuration OK':\n%s", out)
    check_reports(out, conf_path if where == "conf" else res_path, line, key)
    return out


@tap.case("aigw -t on a good config prints 'configuration OK' and exits 0")
def _(env):
    rc, out, _, _ = run_check(res_name=None)
    check(rc == 0 and "configuration OK" in out, "exit %s, output:\n%s", rc, out)


@tap.case("aigw -t resolves a relative resources path against aigw.yaml's folder")
def _(env):
    rc, out, _, _ = run_check(res_name="resources.yaml", cwd="/")
    check(rc == 0 and "configuration OK" in out, "exit %s, output:\n%s", rc, out)


FULL_CONF = """\
listen:
  - 127.0.0.1:{port}
  - "[::1]:{port}"
workers: auto
log_level: debug
data_dir: {dir}/data
lmdb: {{map_size: 64m, max_readers: 126}}
resources: resources.yaml
limits: {{max_body_size: 8m, max_header_size: 32k, max_response_size: 64m}}
timeouts:
  client_header: 10s
  client_body: 60s
  keepalive: 75s
  send: 60s
  upstream_connect: 5s
  upstream_first_byte: 120s
  upstream_total: 10m
  stream_idle: 120s
  drain: 30s
admin:
  keys:
    - {{name: ops, key: adm-lifecycle-0123456789abcdef, role: admin}}
  allow_keyless: false
"""

FULL_RES = """\
models:
  - name: mock-gpt
    provider: openai-compatible
    model: mock-1
    api_base: http://127.0.0.1:{mock_port}/v1
    api_key: ${{MOCK_KEY}}
    timeouts: {{connect: 1s, first_byte: 2s, total: 30s, stream_idle: 5s}}
  - name: gpt-4o-mini
    provider: openai
    model: gpt-4o-mini
    api_key: ${{AIGW_E2E_NOT_SET_EITHER:-sk-default}}
api_keys:
  - name: team-a
    key: sk-test-a
    allowed_models: ["mock-*", "gpt-4o*"]
    expires_at: 2030-01-01T00:00:00Z
    disabled: false
  - name: team-b
    key_sha256: 4f0c3b9d26a29e0f8d8a2ba6e6fd0bbce14f9b4f1a0a6e1c5f0d6f1e0c2b7a91
    expires_at: 1900000000
"""


@tap.case("aigw -t accepts every documented key (workers auto, IPv6 listen, ...)")
def _(env):
    rc, out, _, _ = run_check(FULL_CONF, FULL_RES)
    check(rc == 0 and "configuration OK" in out, "exit %s, output:\n%s", rc, out)


@tap.case("aigw -t: unknown key in aigw.yaml")
def _(env):
    bad_check(conf=GOOD_CONF.replace("workers: 2\n", "workers: 2\nbogus_key: 1\n"),
              line=4, key="bogus_key")


@tap.case("aigw -t: duration without a unit")
def _(env):
    bad_check(conf=GOOD_CONF.replace("drain: 10s", "drain: 5"), line=8, key="drain")


@tap.case("aigw -t: listen without a port")
def _(env):
    bad_check(conf=GOOD_CONF.replace("127.0.0.1:{port}", "127.0.0.1"), line=2, key="listen")


@tap.case("aigw -t: YAML syntax error")
def _(env):
    bad_check(conf=GOOD_CONF.replace("workers: 2\n", "workers: 2: 3\n"), line=3, key="")


@tap.case("aigw -t: a model without name")
def _(env):
    res = GOOD_RES.replace("  - name: mock-gpt\n    provider:", "  - provider:")
    bad_check(res=res, where="res", line=2, key="name")


@tap.case("aigw -t: a provider that does not exist")
def _(env):
    bad_check(res=GOOD_RES.replace("provider: openai-compatible", "provider: no-such-provider"),
              where="res", line=3, key="provider")


@tap.case("aigw -t: an unset ${VAR}")
def _(env):
    bad_check(res=GOOD_RES.replace("${{MOCK_KEY}}", "${{%s}}" % UNSET_VAR),
              where="res", line=6, key="api_key")


@tap.case("aigw -t prints every error of aigw.yaml, not only the first")
def _(env):
    conf = GOOD_CONF.replace("drain: 10s", "drain: 5").replace("log_level: info",
                                                               "log_level: loud")
    rc, out, conf_path, _ = run_check(conf, res_name=None)
    check(rc == 1, "exit %s, output:\n%s", rc, out)
    check_reports(out, conf_path, 4, "log_level")
    check_reports(out, conf_path, 8, "drain")


@tap.case("aigw -t prints the errors of both files at once")
def _(env):
    conf = GOOD_CONF.replace("drain: 10s", "drain: 5")
    res = GOOD_RES.replace("provider: openai-compatible", "provider: nope")
    rc, out, conf_path, res_path = run_check(conf, res, res_name=None)
    check(rc == 1, "exit %s, output:\n%s", rc, out)
    check_reports(out, conf_path, 8, "drain")
    check_reports(out, res_path, 3, "provider")


# --------------------------------------------------------------------------
# The running daemon
# --------------------------------------------------------------------------

def chat_ok(gw, model="mock-gpt", timeout=10):
    """One chat request on a new connection; the Response."""
    return request(gw.port, "POST", "/v1/chat/completions",
                   chat_body(model=model, mock={"chunks": 2}), key="sk-test-all",
                   timeout=timeout)


def load_for(gw, model="mock-gpt", threads=4, duration=4.0):
    return Load(lambda i: chat_ok(gw, model), threads=threads, duration=duration,
                max_count=400)


@tap.case("master with workers: 2 has exactly 2 aigw children")
def _(env):
    gw = env.ensure_gw()
    pids = gw.wait_workers(2, timeout=10 * SLOW)
    exe = os.path.realpath(AIGW_BIN)
    for p in pids:
        check(proc_exe(p) == exe, "child %d runs %r, not %r", p, proc_exe(p), exe)
    # Still exactly two a moment later (no crash loop).
    for _ in range(5):
        resp = chat_ok(gw)
        check_eq(resp.status, 200, "status")
    check_eq(gw.worker_pids(), pids, "workers after some requests")


@tap.case("SIGHUP under load: zero failures, new config on every worker, version grows")
def _(env):
    gw = env.ensure_gw()
    v0 = gw.config_version()
    extra = [{"name": "mock-new", "provider": "openai-compatible", "model": "mock-new-1",
              "api_base": env.mock.url(), "api_key": "${MOCK_KEY}"}]
    new_res = env.resources(extra)
    new_res["models"][0]["model"] = "mock-1b"  # mock-gpt now maps to another upstream id
    load = load_for(gw)
    with load:
        wait_for(lambda: load.count() >= 20, 10 * SLOW, what="load to get going")
        gw.write_resources(new_res)
        gw.reload()
        wait_for(lambda: chat_ok(gw, "mock-new").status == 200, 5 * SLOW,
                 what="the new model to answer after SIGHUP")
    check(load.count() > 0 and not load.failures(),
          "failures during reload: %s; first: %r", load.summary(), load.failures()[:3])
    versions = set()
    for i in range(20):
        for model, upstream in (("mock-new", "mock-new-1"), ("mock-gpt", "mock-1b")):
            resp = chat_ok(gw, model)
            check(resp.status == 200, "request %d to %s: %d %r", i, model, resp.status, resp.body)
            check_eq(last_body(env.mock.last()).get("model"), upstream,
                     "upstream id of %s on request %d" % (model, i))
            versions.add(resp.headers.get("x-aigw-config-version"))
    check(len(versions) == 1, "several config versions after the reload: %r", versions)
    v1 = int(versions.pop())
    check(v1 > v0, "x-aigw-config-version did not grow: %d then %d", v0, v1)
    env.good_resources = new_res


@tap.case("SIGHUP with an invalid resources file: old config keeps serving, log says why")
def _(env):
    gw = env.ensure_gw()
    good = getattr(env, "good_resources", None) or env.resources()
    v0 = gw.config_version()
    offset = gw.log_size()
    bad = "models:\n  - name: broken\n    provider: no-such-provider\n    model: x\n"
    try:
        gw.write_resources(bad)
        gw.reload()
        why = wait_for(lambda: [l for l in gw.log_since(offset).splitlines()
                                if "resources.yaml" in l and "provider" in l], 5 * SLOW,
                       what="a log line naming resources.yaml and the bad key")
        for _ in range(10):
            resp = chat_ok(gw)
            check(resp.status == 200, "old config stopped serving: %d %r (log: %r)",
                  resp.status, resp.body, why)
        resp = chat_ok(gw, "broken")
        check(resp.status == 404, "the invalid model answers %d", resp.status)
        check_eq(gw.config_version(), v0, "config version after a rejected reload")
        check(gw.running(), "the master exited on an invalid reload")
    finally:
        gw.write_resources(good)


@tap.case("kill -9 of a worker under load: serving again within a few s, 2 children again")
def _(env):
    gw = env.ensure_gw()
    pids = gw.wait_workers(2, timeout=10 * SLOW)
    victim = pids[0]
    load = load_for(gw, duration=5.0)
    with load:
        wait_for(lambda: load.count() >= 10, 10 * SLOW, what="load to get going")
        t_kill = time.monotonic()
        gw.kill_worker(victim)

        def all_ok():
            return all(chat_ok(gw, timeout=3).status == 200 for _ in range(8))
        wait_for(all_ok, 3.0 * SLOW, interval=0.05, what="8 requests in a row to succeed")
        recovered = time.monotonic()
        new = gw.wait_workers(2, timeout=5 * SLOW, exclude=[victim])
    late = load.failures(since=recovered + 0.2)
    check(not late, "%d failures after recovery at +%.2fs: %r (%s)", len(late),
          recovered - t_kill, late[:3], load.summary())
    check(set(new) - set(pids), "no new worker pid: %r then %r", pids, new)
    tap.diag("recovered %.2fs after the kill; %s" % (recovered - t_kill, load.summary()))


@tap.case("restart with the same data_dir: still serves, config version kept")
def _(env):
    gw = env.ensure_gw()
    v0 = gw.config_version()
    rc = gw.stop()
    check_eq(rc, 0, "exit code of the first run")
    check(os.listdir(gw.data_dir), "data_dir %s is empty", gw.data_dir)
    gw.start()
    for _ in range(5):
        resp = chat_ok(gw)
        check(resp.status == 200, "after restart: %d %r", resp.status, resp.body)
    v1 = gw.config_version()
    check(v1 >= v0, "config version went back from %d to %d: LMDB not kept?", v0, v1)


@tap.case("SIGTERM with a stream in flight: the stream completes, then the master exits 0")
def _(env):
    gw = env.ensure_gw()
    workers = gw.wait_workers(2, timeout=10 * SLOW)
    s = gw.stream(chat_body(stream=True, mock={"chunks": 10, "delay_ms": 100}), key="sk-test-a")
    try:
        check_eq(s.status, 200, "stream status")
        events = s.events()
        first = next(events, None)
        check(first is not None, "no first event")
        gw.signal(signal.SIGTERM)
        for _ in events:
            pass
    finally:
        s.close()
    ev = s.received
    check(ev and ev[-1].is_done, "stream cut by SIGTERM: last events %r (error %r)",
          ev[-5:], s.error)
    check_eq(stream_text(ev), " ".join("tok%d" % i for i in range(10)), "streamed content")
    rc = gw.wait_exit(timeout=15 * SLOW)
    check_eq(rc, 0, "master exit code after drain")
    wait_for(lambda: not gw.orphans(), 5 * SLOW, what="workers %r to exit" % workers)
    try:
        request(gw.port, "GET", "/healthz", timeout=2)
        raise AssertionError("the listener still answers after the master exited")
    except OSError:
        pass


if __name__ == "__main__":
    main(tap, fixture)
