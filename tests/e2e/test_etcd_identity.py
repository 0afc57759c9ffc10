# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the etcd identity check (etcd mode, a real etcd, two aigw nodes).

Each case starts an etcd holding a model and an API key, and two aigw nodes
(A and B) on it, each with its own table. While both nodes serve requests
(a bounded load, fresh connections), etcd is replaced:

1. wiped: stopped, its data dir deleted, started again on the same ports
   with the same flags (same cluster id, revision back to 1, empty);
2. another cluster: stopped, and another etcd (another name and cluster
   token, so another cluster id) started on the same client port, with more
   writes than the first had (its revision is ahead).

Then every request of the load must have succeeded on the old table, and
each node must say so: the error log, GET /admin/v1/status ("etcd" ->
"identity"), `aigwctl status`, aigw_etcd_identity_mismatch 1; an Admin API
write is refused with 503 etcd_identity_mismatch and reaches no etcd. In
case 2 node B is restarted while in that state: the identity is kept in its
LMDB file, it still serves the old table. Then `aigwctl etcd accept` on
node A takes etcd's state (empty: the key stops working there) while node B
still serves the old table until it is accepted there too; after that an
Admin API write goes to the new etcd and both nodes serve it, and node A,
restarted, takes etcd as it is (the accepted identity is the table's).
"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, MOCK_KEY, SLOW, TAP, Env, Etcd, Gateway, Load, Mock, chat_body, check,
        check_eq, check_error_body, main, request, scrape, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(AIGW_BIN)), "aigwctl", "aigwctl")
PREFIX = "/e2e/ident"
BASE_KEY = "sk-e2e-ident-base-0123456789"
SYNC = 15.0 * SLOW
MODELS = "/admin/v1/models"


def mkey(rid):
    return "%s/models/%s" % (PREFIX, rid)


def kkey(rid):
    return "%s/api_keys/%s" % (PREFIX, rid)


def model_doc(env, name, upstream):
    return {"name": name, "provider": "openai-compatible", "model": upstream,
            "api_base": env.mock.url(), "api_key": MOCK_KEY}


def node(env):
    conf = {"workers": 2, "etcd": {"endpoints": [env.etcd.url()], "prefix": PREFIX}}
    return Gateway({"models": [], "api_keys": []}, config=conf, env={"MOCK_KEY": MOCK_KEY})


def admin(gw, method, path, body=None):
    port = int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    return request(port, method, path, body=body)


def etcd_status(gw):
    resp = admin(gw, "GET", "/admin/v1/status")
    check_eq(resp.status, 200, "GET status")
    return resp.json().get("etcd") or {}


def wait_synced(gw, etcd):
    def ok():
        e = etcd_status(gw)
        return (e.get("state") == "watching" and e.get("synced") is True and
                e.get("revision", 0) >= etcd.revision())
    wait_for(ok, SYNC, interval=0.05, what="aigw pid %s to watch etcd at its revision" % gw.pid)


def chat(gw, key=BASE_KEY, model="base"):
    return request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model), key=key,
                   headers={"x-request-id": unique_id("ident")})


def aigwctl(gw, *args):
    p = subprocess.run([AIGWCTL, "-c", gw.conf_path] + list(args), capture_output=True,
                       text=True, timeout=30.0 * SLOW)
    return p.returncode, p.stdout, p.stderr


def wait_mismatch(gw, name):
    def seen():
        ident = etcd_status(gw).get("identity") or {}
        return ident if ident.get("state") == "mismatch" else None
    return wait_for(seen, SYNC, interval=0.05, what="node %s to report the mismatch" % name)


def start_env():
    etcd = Etcd()
    mock = Mock(key=MOCK_KEY)
    env = Env(mock, None, etcd=etcd)
    etcd.put(mkey("base"), model_doc(env, "base", "up-base"))
    etcd.put(kkey("base-key"), {"name": "base-key", "key": BASE_KEY})
    env.a = env.gw = node(env)
    env.b = node(env)
    tap.add_gateway_log(env.a, "aigw node A log")
    tap.add_gateway_log(env.b, "aigw node B log")
    for gw in (env.a, env.b):
        wait_synced(gw, etcd)
        check_eq(chat(gw).status, 200, "the base key before")
    return env


def stop_env(env):
    for obj in (env.b, env.a, env.mock, env.etcd):
        if obj is not None:
            obj.stop()
    del tap.log_sources[-2:]


def wipe(env):
    """Stop etcd, delete its data dir, start it again with the same flags."""
    old = env.etcd.get_prefix(PREFIX + "/")
    env.etcd.stop()
    shutil.rmtree(env.etcd.data_dir)
    env.etcd.start()
    check_eq(env.etcd.get_prefix(PREFIX + "/"), {}, "the wiped etcd's keys")
    return "wiped (had %d keys)" % len(old)


def other_cluster(env):
    """Stop etcd; another etcd (another cluster id) on its client port, revision ahead."""
    first = env.etcd
    rev = first.revision()
    first.stop()
    other = Etcd(start=False)
    other.port = first.port
    other.name = "other-%d" % os.getpid()
    other.start()
    for i in range(rev + 5):
        other.put("/e2e/elsewhere/%d" % i, "x")
    env.etcd = other
    env.retired = first
    return "another cluster at revision %d (the first was at %d)" % (other.revision(), rev)


def scenario(env, replace, restart_b):
    load = Load(lambda i: chat(env.a if i % 2 else env.b), threads=2, duration=60.0 * SLOW,
                max_count=4000)
    offsets = {gw: gw.log_size() for gw in (env.a, env.b)}
    load.start()
    try:
        time.sleep(0.3)
        what = replace(env)
        tap.diag("etcd %s" % what)
        ident = {}
        for gw, name in ((env.a, "A"), (env.b, "B")):
            ident[name] = wait_mismatch(gw, name)
        n_seen = load.count()
        wait_for(lambda: load.count() - n_seen >= 50, 30.0 * SLOW,
                 what="50 requests after the mismatch was seen")
    finally:
        load.stop()
        load.join()
        tap.diag("load: %s" % load.summary())
    check(load.count() > 50, "too few requests: %s", load.summary())
    check_eq(load.failures(), [], "failed requests while etcd was replaced")
    tap.diag("node A identity: %r" % ident["A"])
    for gw, name in ((env.a, "A"), (env.b, "B")):
        i = ident[name]
        check(i.get("stored_cluster_id") and i.get("seen_cluster_id"),
              "node %s: cluster ids in the status: %r", name, i)
        check(isinstance(i.get("stored_revision"), int) and
              isinstance(i.get("seen_revision"), int), "node %s: revisions: %r", name, i)
        check(re.search(r"etcd identity mismatch: .* answers as cluster [0-9a-f]{16} at "
                        r"revision \d+, the table came from cluster [0-9a-f]{16}",
                        gw.log_since(offsets[gw])),
              "node %s: no identity mismatch line in the error log", name)
        check_eq(scrape(gw).get("aigw_etcd_identity_mismatch"), 1.0,
                 "node %s: aigw_etcd_identity_mismatch" % name)
        rc, out, err = aigwctl(gw, "status")
        check(rc == 0 and "etcd identity: MISMATCH" in out and i["seen_cluster_id"] in out,
              "node %s: aigwctl status: rc %d, out %r, err %r", name, rc, out, err)
        resp = admin(gw, "POST", MODELS, model_doc(env, "refused-" + name, "up-refused"))
        err = check_error_body(resp, 503, "node %s: an Admin API write" % name)
        check_eq(err.get("code"), "etcd_identity_mismatch", "node %s: error code" % name)
    check(not any(b"refused-" in kv["value"] for kv in env.etcd.get_prefix(PREFIX).values()),
          "a refused write reached etcd")
    if restart_b:
        check_eq(env.b.stop(), 0, "node B's exit code")
        env.b.start()
        wait_mismatch(env.b, "B after its restart")
        check_eq(chat(env.b).status, 200, "node B after its restart: the old table")
    rc, out, err = aigwctl(env.a, "etcd", "accept")
    check_eq((rc, "accepted" in out), (0, True), "aigwctl etcd accept on node A (%r %r)" % (
        out, err))
    wait_for(lambda: chat(env.a).status == 401, SYNC,
             what="node A to take etcd's (empty) state")
    wait_for(lambda: (etcd_status(env.a).get("identity") or {}).get("state") == "ok", SYNC,
             what="node A's identity to be ok")
    check_eq(scrape(env.a).get("aigw_etcd_identity_mismatch"), 0.0,
             "node A: the metric after accept")
    check_eq(chat(env.b).status, 200, "node B (not accepted yet) keeps its table")
    rc, out, err = aigwctl(env.b, "etcd", "accept")
    check_eq(rc, 0, "aigwctl etcd accept on node B (%r %r)" % (out, err))
    wait_for(lambda: chat(env.b).status == 401, SYNC, what="node B to take etcd's state")
    rc, out, err = aigwctl(env.b, "etcd", "accept")
    check(rc == 1 and "nothing to accept" in err, "accept with nothing to accept: %d %r %r",
          rc, out, err)
    resp = admin(env.a, "PUT", MODELS + "/after", model_doc(env, "after", "up-after"))
    check_eq(resp.status, 201, "a write after the acceptance (%r)" % resp.body[:300])
    env.etcd.put(kkey("new-key"), {"name": "new-key", "key": BASE_KEY + "-new"})
    for gw, name in ((env.a, "A"), (env.b, "B")):
        wait_for(lambda g=gw: chat(g, key=BASE_KEY + "-new", model="after").status == 200,
                 SYNC, what="node %s to serve the new etcd's model and key" % name)
    # the accepted identity is the table's now: a restart takes etcd as it is
    check_eq(env.a.stop(), 0, "node A's exit code")
    env.a.start()
    wait_synced(env.a, env.etcd)
    check_eq((etcd_status(env.a).get("identity") or {}).get("state"), "ok",
             "node A's identity after its restart")
    check_eq(chat(env.a, key=BASE_KEY + "-new", model="after").status, 200,
             "node A after its restart")


@tap.case("1. etcd wiped (same cluster id, revision back to 1): the old table serves until accepted")
def _(env):
    env = start_env()
    try:
        scenario(env, wipe, restart_b=False)
    finally:
        stop_env(env)


@tap.case("2. another etcd cluster on the endpoint: the old table serves, also across a restart")
def _(env):
    env = start_env()
    env.retired = None
    try:
        scenario(env, other_cluster, restart_b=True)
    finally:
        stop_env(env)
        if env.retired is not None:
            env.retired.stop()


if __name__ == "__main__":
    main(tap)
