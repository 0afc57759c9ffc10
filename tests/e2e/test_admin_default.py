"""End-to-end: the Admin API is safe by default (aigw-admin(7), aigw.yaml(5)).

With no admin key, an Admin API on 127.0.0.1 would let every local user
(nobody included) create an API key for every model. So:

1. no admin.keys and no admin.allow_keyless: `aigw -t` fails and aigw refuses
   to start, both naming the file and admin.keys; nothing listens;
2. admin.allow_keyless: true: `aigw -t` says OK with a warning, the master
   logs it, and loopback clients use the Admin API without a key;
3. admin.keys with key_file: the key comes from a file 0640; 401 without it;
   aigwctl -c finds the key by itself; a new key in the file applies on
   reload; a file every user may read is refused by `aigw -t`, at start and
   on reload (the running key goes on working);
4. a reload that removes every key without the opt-in is refused;
5. the Quick start (etc/quickstart.yaml) names the key that ./quickstart
   makes: aigw -t refuses it without the key, and accepts it, without a
   warning, once the script's own lines made the key (mode 0600).

Cases 1-4 start gateways of their own, in front of one mock.
"""

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Env, Gateway, Mock, check, check_eq,
        free_port, main, make_tmpdir, request, standard_resources, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")
KEY1 = "adm-default-key1-0123456789abcdef"
KEY2 = "adm-default-key2-0123456789abcdef"
STATUS = "/admin/v1/status"
KEYS = "/admin/v1/api_keys"
RUN_TIMEOUT = 30.0 * SLOW
RELOAD_TIMEOUT = 40 * SLOW  # the master gives new workers 30 s


@contextlib.contextmanager
def fixture():
    mock = Mock(key=MOCK_KEY)
    try:
        yield Env(mock)
    finally:
        mock.stop()


def gateway(env, admin, start=True):
    """A gateway of its own (1 worker) whose admin section is admin (listen added)."""
    adm = {"listen": ["%s:%d" % (HOST, free_port())]}
    adm.update(admin)
    return Gateway(standard_resources(env.mock.port), config={"admin": adm, "workers": 1},
                   env={"MOCK_KEY": MOCK_KEY}, start=start)


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def run(argv, env=None):
    """Run a program; (exit status, stdout, stderr). No sanitizer report allowed."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                       env=dict(os.environ, **(env or {})), stdin=subprocess.DEVNULL)
    check(not re.search(r"Sanitizer|runtime error:", p.stderr), "sanitizer report: %s",
          p.stderr)
    return p.returncode, p.stdout, p.stderr


def aigw_t(gw):
    return run([AIGW_BIN, "-t", "-c", gw.conf_path], env={"MOCK_KEY": MOCK_KEY})


def key_file(gw, key, mode=0o640, name="admin.key"):
    """key into a file of the gateway's folder, with mode; its path."""
    path = write_file(os.path.join(gw.dir, name), key + "\n")
    os.chmod(path, mode)
    return path


def refused_to_start(gw):
    """Start gw, which must exit non-zero by itself; what it logged."""
    offset = gw.log_size()
    gw.start(wait=False)
    try:
        rc = gw.wait_exit(timeout=10 * SLOW)
    finally:
        if gw.running():
            gw.kill_now()
    log = gw.log_since(offset)
    check(rc is not None, "aigw is still running:\n%s", log[-2000:])
    check(rc != 0, "aigw exited 0:\n%s", log[-2000:])
    check("started:" not in log, "the log says aigw started:\n%s", log[-2000:])
    check(not gw.orphans(), "workers left behind: %r", gw.orphans())
    return log


def not_listening(port):
    try:
        request(port, "GET", STATUS, timeout=2)
    except OSError:
        return
    raise AssertionError("something answers on the Admin API port %d" % port)


def reload(gw):
    return gw.control("reload", timeout=RELOAD_TIMEOUT)


def status_with(gw, key):
    return request(admin_port(gw), "GET", STATUS, key=key).status


@tap.case("no admin.keys, no admin.allow_keyless: aigw -t and aigw refuse, naming the file "
          "and admin.keys; nothing listens")
def _(env):
    gw = gateway(env, {}, start=False)
    want = re.escape(gw.conf_path) + r": admin\.keys: empty, and the Admin API listens on " \
        + re.escape(gw.config["admin"]["listen"][0]) + r": every local user could change the " \
        r"configuration; add an admin key .*admin\.allow_keyless: true"
    rc, out, err = aigw_t(gw)
    check(rc == 1, "aigw -t exited %d: %r %r", rc, out, err)
    check(re.search(want, err), "aigw -t does not say why: %r", err)
    check("configuration OK" not in out, "aigw -t printed configuration OK: %r", out)
    log = refused_to_start(gw)
    check(re.search(want, log), "the start's output does not say why:\n%s", log[-2000:])
    not_listening(admin_port(gw))


@tap.case("admin.allow_keyless: true: aigw -t warns, the log warns, loopback clients need no key")
def _(env):
    gw = gateway(env, {"allow_keyless": True}, start=False)
    listen = gw.config["admin"]["listen"][0]
    rc, out, err = aigw_t(gw)
    check(rc == 0 and out == "configuration OK\n", "aigw -t: %d %r %r", rc, out, err)
    check(re.search(r"%s: warning: admin\.allow_keyless is true: the Admin API on %s answers "
                    r"every local user without a key" % (re.escape(gw.conf_path),
                                                         re.escape(listen)), err),
          "aigw -t does not warn: %r", err)
    gw.start()
    try:
        check(re.search(r"admin\.allow_keyless is true: the Admin API on %s" % re.escape(listen),
                        gw.log()), "the master does not warn in its log:\n%s", gw.log()[-2000:])
        check_eq(status_with(gw, None), 200, "GET status without a key")
        resp = request(admin_port(gw), "POST", KEYS, body={"name": "by-anyone",
                                                          "allowed_models": ["*"]})
        check(resp.status == 201, "POST an API key without a key: %d %r", resp.status,
              resp.body[:300])
    finally:
        rc = gw.stop()
    check_eq(rc, 0, "exit code")


@tap.case("key_file: 401 without the key; aigwctl -c finds it; rotated on reload; a file every "
          "user may read is refused by aigw -t, at start and on reload")
def _(env):
    gw = gateway(env, {"keys": [{"name": "ops", "key_file": "admin.key", "role": "admin"}]},
                 start=False)
    path = key_file(gw, KEY1)
    rc, out, err = aigw_t(gw)
    check(rc == 0 and out == "configuration OK\n" and err == "", "aigw -t: %d %r %r", rc, out,
          err)
    gw.start()
    try:
        resp = request(admin_port(gw), "POST", KEYS, body={"name": "by-anyone",
                                                          "allowed_models": ["*"]})
        check(resp.status == 401, "POST an API key without a key: %d %r", resp.status,
              resp.body[:300])
        check_eq(status_with(gw, None), 401, "GET status without a key")
        check_eq(status_with(gw, KEY1), 200, "GET status with the key of the file")
        check(KEY1 not in gw.log(), "the admin key shows in the log")
        # aigwctl reads the key_file of the aigw.yaml it is given, without flags
        rc, out, err = run([AIGWCTL, "-c", gw.conf_path, "key", "list"],
                           env={"AIGW_ADMIN_KEY": ""})
        check(rc == 0 and "team-a" in out, "aigwctl key list without flags: %d %r %r", rc, out,
              err)
        check(KEY1 not in out + err, "aigwctl shows the admin key")

        # a new key in the file applies on reload; the old one no longer opens
        key_file(gw, KEY2)
        r = reload(gw)
        check(r.get("ok") is True, "reload after the key changed: %r", r)
        check_eq(status_with(gw, KEY2), 200, "GET status with the new key")
        check_eq(status_with(gw, KEY1), 401, "GET status with the old key")

        # a key file every user may read: refused on reload, the running key stays
        os.chmod(path, 0o644)
        r = reload(gw)
        msg = "%s is readable or writable by every user (mode 0644)" % path
        check(r.get("ok") is False and msg in str(r.get("error")),
              "reload with a world-readable key file: %r", r)
        check_eq(status_with(gw, KEY2), 200, "GET status with the running key")
        rc, out, err = aigw_t(gw)
        check(rc == 1 and re.search(r"%s:\d+: admin\.keys: key_file: %s" % (
            re.escape(gw.conf_path), re.escape(msg)), err), "aigw -t: %d %r %r", rc, out, err)
    finally:
        rc = gw.stop()
    check_eq(rc, 0, "exit code")
    log = refused_to_start(gw)
    check(re.search(r"admin\.keys: key_file: %s" % re.escape(msg), log),
          "the start's output does not name the file and its mode:\n%s", log[-2000:])


@tap.case("a reload that removes every admin key without the opt-in is refused; the key still "
          "works")
def _(env):
    gw = gateway(env, {"keys": [{"name": "ops", "key": KEY1, "role": "admin"}]})
    try:
        conf = dict(gw.config)
        conf["admin"] = {"listen": gw.config["admin"]["listen"]}
        gw.write_config(conf)
        r = reload(gw)
        check(r.get("ok") is False and "admin.keys: empty" in str(r.get("error")),
              "reload without admin keys: %r", r)
        check_eq(status_with(gw, None), 401, "GET status without a key")
        check_eq(status_with(gw, KEY1), 200, "GET status with the key")
        # and one that also turns admin.listen off (which waits for a restart): the same
        conf["admin"] = {"listen": []}
        gw.write_config(conf)
        r = reload(gw)
        check(r.get("ok") is False and "admin.keys: empty" in str(r.get("error")),
              "reload without admin keys and admin.listen: []: %r", r)
        check_eq(status_with(gw, None), 401, "GET status without a key")
    finally:
        rc = gw.stop()
    check_eq(rc, 0, "exit code")


@tap.case("the Quick start: etc/quickstart.yaml needs the key ./quickstart makes; with it, "
          "aigw -t says OK without a warning")
def _(env):
    d = make_tmpdir("aigw-quickstart-")
    os.mkdir(os.path.join(d, "etc"))
    for name in ("quickstart.yaml", "quickstart-resources.yaml"):
        shutil.copy(os.path.join(SRCDIR, "etc", name), os.path.join(d, "etc", name))
    conf = os.path.join(d, "etc", "quickstart.yaml")
    key = os.path.join(d, "etc", "quickstart-admin.key")
    rc, out, err = run([AIGW_BIN, "-t", "-c", conf])
    check(rc == 1 and "admin.keys: key_file: %s: No such file" % key in err,
          "aigw -t without the key: %d %r %r", rc, out, err)
    # the lines of ./quickstart that make the key, run in a copy of the tree
    with open(os.path.join(SRCDIR, "quickstart")) as f:
        m = re.search(r"^if \[ ! -s etc/quickstart-admin\.key \]; then\n.*?^fi\n", f.read(),
                      re.M | re.S)
    check(m is not None, "./quickstart has no lines that make etc/quickstart-admin.key")
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", m.group(0)], cwd=d,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    check(p.returncode == 0, "the key lines of ./quickstart: %d %r", p.returncode, p.stderr)
    check_eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "mode of the quickstart key")
    with open(key) as f:
        check(re.match(r"^[0-9a-f]{64}$", f.read()), "the quickstart key is not 64 hex digits")
    rc, out, err = run([AIGW_BIN, "-t", "-c", conf])
    check(rc == 0 and out == "configuration OK\n" and err == "",
          "aigw -t with the key: %d %r %r", rc, out, err)


if __name__ == "__main__":
    main(tap, fixture)
