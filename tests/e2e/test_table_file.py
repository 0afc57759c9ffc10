# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the LMDB file (data.mdb) changed under a running aigw, and
restart-only keys changed by a reload.

- a reload that changes data_dir: the workers go on reading the table the
  master writes, so a model created through the Admin API is served (200);
  the reload's answer and the log name the key as ignored until a restart;
- data.mdb removed (or replaced by a copy) at run time: a write is refused (503 store_unavailable,
  not 201: it would be lost at the next start), the table as it was goes on
  serving, a worker that dies is not restarted, a reload is refused; after
  a restart the table is rebuilt from the resources file;
- data.mdb cut to 4096 bytes at run time: no SIGBUS; the write is answered
  503, aigw stops with exit status 1 and a line naming the file;
- a start with data.mdb cut short (8192 bytes: the meta pages but none of
  the records; 4096 bytes: one meta page) is refused with a message naming
  the file, exit status 1, no SIGBUS.

Each case has its own gateway (they break their tables on purpose).
"""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        MOCK_KEY, SLOW, TAP, Env, Gateway, Mock, chat_body, check, check_eq, check_error_body,
        request, standard_resources, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

RELOAD_TIMEOUT = 40 * SLOW  # the master gives new workers 30 s
EXIT_TIMEOUT = 15 * SLOW
MODELS = "/admin/v1/models"
AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(os.environ.get("AIGW_BIN", "src/aigw")))),
    "aigwctl", "aigwctl")


def fixture():
    class Fixture:
        def __enter__(self):
            self.env = Env(Mock(key=MOCK_KEY))
            return self.env

        def __exit__(self, *exc):
            if self.env.gw is not None and self.env.gw.running():
                self.env.gw.stop()
            self.env.mock.stop()
    return Fixture()


def new_gw(env):
    """A fresh gateway on the mock (the previous one stopped)."""
    if env.gw is not None and env.gw.running():
        env.gw.stop()
    env.gw = Gateway(standard_resources(env.mock.port), env={"MOCK_KEY": MOCK_KEY})
    tap.add_gateway_log(env.gw, "aigw log (%s)" % env.gw.dir)
    wait_serving(env.gw)
    return env.gw


def wait_serving(gw, n=2):
    """Until n workers run: /healthz answers once one does, and a worker still
    opening its table when the file goes would fail for its own reason."""
    def serving():
        ws = gw.status()["workers"]
        return len(ws) == n and all(w["state"] == "running" for w in ws)
    wait_for(serving, 10 * SLOW, what="%d workers running" % n)


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def model_doc(env, name):
    return {"name": name, "provider": "openai-compatible", "model": "up-" + name,
            "api_base": env.mock.url(), "api_key": MOCK_KEY}


def create_model(env, name):
    """POST a model through the Admin API (no admin key: loopback)."""
    return request(admin_port(env.gw), "POST", MODELS, body=model_doc(env, name))


def chat_status(gw, model):
    """The status of one chat completion on a fresh connection."""
    return request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model),
                   key="sk-test-a").status


def data_mdb(gw):
    return os.path.join(gw.data_dir, "data.mdb")


def no_sigbus(gw, what):
    """No process of gw died of a signal (SIGBUS above all) or left a sanitizer report."""
    text = gw.log()
    check("killed by signal" not in text, "%s: a worker was killed by a signal:\n%s", what,
          gw.log_tail(20))
    check("DEADLYSIGNAL" not in text and "SIGBUS" not in text,
          "%s: a fatal signal in the log:\n%s", what, gw.log_tail(30))


# --------------------------------------------------------------------------
# a reload that changes data_dir
# --------------------------------------------------------------------------

@tap.case("reload changing data_dir: ignored until a restart, for the workers too: a model "
          "created through the Admin API after it is served (200), and the answer names the key")
def _(env):
    gw = new_gw(env)
    check_eq(chat_status(gw, "mock-gpt"), 200, "mock-gpt before the reload")
    # the table as it is, copied to the new folder: an operator moving it
    new_dir = os.path.join(gw.dir, "data2")
    os.mkdir(new_dir)
    shutil.copyfile(data_mdb(gw), os.path.join(new_dir, "data.mdb"))
    conf = dict(gw.config)
    conf["data_dir"] = new_dir
    gw.write_config(conf)
    offset = gw.log_size()
    r = gw.control("reload", timeout=RELOAD_TIMEOUT)
    check(r.get("ok") is True, "reload: %r", r)
    resp = create_model(env, "mock-made-after-reload")
    check_eq(resp.status, 201, "POST the model (body %r)" % resp.body[:300])
    # every request on a fresh connection: whichever worker takes it serves the model
    got = [chat_status(gw, "mock-made-after-reload") for _ in range(8)]
    check(all(s == 200 for s in got), "the new model by the workers after the reload: %r "
          "(404: the workers read another table than the master writes)", got)
    check_eq(r["result"].get("restart_only"), ["data_dir"], "reload answer: restart_only")
    text = gw.log_since(offset)
    check(any("data_dir changed" in l and "[warn]" in l and "restart" in l
              for l in text.splitlines()),
          "no warning that data_dir changed and needs a restart:\n%s", text)
    env.dd_gw = gw


@tap.case("aigwctl reload, data_dir still changed: exit 0, and it prints that data_dir is "
          "ignored until aigw restarts")
def _(env):
    gw = getattr(env, "dd_gw", None)
    check(gw is not None and gw.running(), "the gateway of the previous case is gone")
    check(os.access(AIGWCTL, os.X_OK), "aigwctl binary %s is missing" % AIGWCTL)
    p = subprocess.run([AIGWCTL, "-c", gw.conf_path, "reload"], capture_output=True,
                       timeout=RELOAD_TIMEOUT, text=True)
    check_eq(p.returncode, 0, "aigwctl reload exit status (stderr %r)" % p.stderr)
    check("ignored until aigw restarts (the running values stay): data_dir\n" in p.stdout,
          "aigwctl reload output: %r", p.stdout)
    check_eq(chat_status(gw, "mock-made-after-reload"), 200, "the model after a second reload")


# --------------------------------------------------------------------------
# data.mdb removed at run time
# --------------------------------------------------------------------------

@tap.case("data.mdb removed at run time: a write is refused (503 store_unavailable, not 201), "
          "the table as it was serves, the log names the file")
def _(env):
    gw = new_gw(env)
    path = data_mdb(gw)
    os.unlink(path)
    resp = create_model(env, "mock-made-after-rm")
    check(resp.status != 201 and resp.status != 200,
          "POST after rm data.mdb answered %d: a write reported done that the next start will "
          "not see (body %r)", resp.status, resp.body[:300])
    err = check_error_body(resp, 503, "POST after rm data.mdb")
    check_eq(err.get("code"), "store_unavailable", "error code")
    check_eq(chat_status(gw, "mock-gpt"), 200, "mock-gpt from the table as it was")
    wait_for(lambda: "%s was removed" % path in gw.log(), 5 * SLOW,
             what="a log line naming %s as removed" % path)
    env.rm_gw = gw


@tap.case("data.mdb removed: a worker that dies is not restarted, a reload is refused")
def _(env):
    gw = getattr(env, "rm_gw", None)
    check(gw is not None and gw.running(), "the gateway of the previous case is gone")
    pids = gw.worker_pids()
    check_eq(len(pids), 2, "workers before")
    gw.kill_worker(pids[0])
    wait_for(lambda: "is not restarted" in gw.log(), 5 * SLOW,
             what="the master saying the worker is not restarted")
    wait_for(lambda: gw.worker_pids() == [pids[1]], 5 * SLOW, what="one worker left")
    check_eq(chat_status(gw, "mock-gpt"), 200, "mock-gpt by the worker left")
    r = gw.control("reload", timeout=RELOAD_TIMEOUT)
    check(r.get("ok") is False and "restart" in str(r.get("error")),
          "reload with data.mdb removed: %r", r)
    check_eq(gw.worker_pids(), [pids[1]], "workers after the refused reload")


@tap.case("data.mdb removed, then a restart: the table is rebuilt from the resources file, "
          "and the refused model is not there (the answer was the truth)")
def _(env):
    gw = getattr(env, "rm_gw", None)
    check(gw is not None, "no gateway from the previous cases")
    check_eq(gw.stop(), 0, "stop")
    gw.start()
    check(os.path.exists(data_mdb(gw)), "data.mdb made again at start")
    check_eq(chat_status(gw, "mock-gpt"), 200, "mock-gpt from the rebuilt table")
    resp = request(admin_port(gw), "GET", MODELS)
    check_eq(resp.status, 200, "GET models")
    names = [it["value"]["name"] for it in resp.json()["items"]]
    check("mock-made-after-rm" not in names, "the refused model is in the table: %r", names)
    check("mock-gpt" in names, "mock-gpt is not in the table: %r", names)


@tap.case("data.mdb replaced at run time (a copy renamed onto it): a write is refused (503), "
          "the table as it was serves, the log says replaced")
def _(env):
    gw = new_gw(env)
    path = data_mdb(gw)
    shutil.copyfile(path, path + ".copy")
    os.rename(path + ".copy", path)
    resp = create_model(env, "mock-made-after-mv")
    check(resp.status not in (200, 201),
          "POST after data.mdb was replaced answered %d: a write reported done into the file "
          "the next start will not open (body %r)", resp.status, resp.body[:300])
    err = check_error_body(resp, 503, "POST after data.mdb was replaced")
    check_eq(err.get("code"), "store_unavailable", "error code")
    check_eq(chat_status(gw, "mock-gpt"), 200, "mock-gpt from the table as it was")
    wait_for(lambda: "%s was replaced by another file" % path in gw.log(), 5 * SLOW,
             what="a log line naming %s as replaced" % path)
    check_eq(gw.stop(), 0, "stop")


# --------------------------------------------------------------------------
# data.mdb cut short at run time
# --------------------------------------------------------------------------

@tap.case("data.mdb cut to 4096 bytes at run time: the write is answered 503, aigw stops "
          "with exit status 1 and a line naming the file, no SIGBUS")
def _(env):
    gw = new_gw(env)
    path = data_mdb(gw)
    check(os.path.getsize(path) > 8192, "data.mdb is only %d bytes" % os.path.getsize(path))
    os.truncate(path, 4096)
    try:
        resp = create_model(env, "mock-made-after-truncate")
        status = resp.status
    except OSError as exc:  # the master may have stopped already: not a success either
        status = repr(exc)
    check(status not in (200, 201), "POST after data.mdb was cut answered %r" % (status,))
    rc = gw.wait_exit(EXIT_TIMEOUT)
    check(rc is not None, "aigw still runs %.0f s after data.mdb was cut" % EXIT_TIMEOUT)
    check(rc != -signal.SIGBUS, "the master died of SIGBUS:\n%s" % gw.log_tail(20))
    no_sigbus(gw, "after the cut")
    check_eq(rc, 1, "exit status")
    check("%s was cut to 4096 bytes" % path in gw.log(), "no line naming %s as cut:\n%s"
          % (path, gw.log_tail(20)))
    wait_for(lambda: not gw.orphans(), 5 * SLOW, what="the workers gone")


# --------------------------------------------------------------------------
# a start with data.mdb cut short
# --------------------------------------------------------------------------

def start_refused(gw, size, expect):
    """Cut data.mdb to size, start: refused with expect in the log, exit 1, no SIGBUS."""
    path = data_mdb(gw)
    os.truncate(path, size)
    offset = gw.log_size()
    gw.start(wait=False)
    rc = gw.wait_exit(EXIT_TIMEOUT)
    text = gw.log_since(offset)
    check(rc is not None, "aigw started with data.mdb cut to %d bytes:\n%s" % (size, text))
    check(rc != -signal.SIGBUS, "the master died of SIGBUS at start:\n%s" % text)
    no_sigbus(gw, "start")
    check_eq(rc, 1, "exit status")
    check((expect % path) in text, "no message naming %s as cut:\n%s" % (path, text))


@tap.case("a start with data.mdb cut to 8192 bytes (its records gone) is refused: exit status "
          "1, a message naming the file, no SIGBUS")
def _(env):
    gw = new_gw(env)
    size = os.path.getsize(data_mdb(gw))
    check_eq(gw.stop(), 0, "stop")
    check(size > 8192, "data.mdb is only %d bytes" % size)
    start_refused(gw, 8192, "%s is 8192 bytes but its header says the table takes")


@tap.case("a start with data.mdb cut to 4096 bytes (one meta page) is refused: exit status 1, "
          "a message naming the file, no SIGBUS")
def _(env):
    gw = new_gw(env)
    check_eq(gw.stop(), 0, "stop")
    start_refused(gw, 4096, "%s (4096 bytes) is not an LMDB file, or was cut short")


if __name__ == "__main__":
    from harness import main  # noqa: E402
    main(tap, fixture)
