# SPDX-License-Identifier: Apache-2.0
"""End-to-end: one owner of every name and key across nodes (etcd mode).

One real etcd, the mock, and three aigw nodes (A, B, C) in etcd mode under
PREFIX. An Admin API write takes a name (a model's name, an API key's hash)
through an etcd transaction on the resource and the name's index entry, so
of N nodes creating one name at the same moment exactly one gets 201 and
the others 409, whatever their own tables say. Duplicates written behind
aigw's back (etcdctl) go by one rule on every node, running or fresh (the
index entry's owner, else the first created): updating the one served does
not hand the name over, the loser is listed by GET /admin/v1/conflicts and
deletable there, and its updates cost no full resync.
"""

import hashlib
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        MOCK_KEY, SLOW, TAP, Env, Etcd, Gateway, Mock, chat_body, check, check_eq, main,
        request, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP(deadline=150)

PREFIX = "/e2e/owner"
KEY = "sk-e2e-owner-0123456789"
VISIBLE = 5.0 * SLOW
ROUNDS = 5


def mkey(rid):
    return "%s/models/%s" % (PREFIX, rid)


def model_doc(env, name, upstream):
    return {"name": name, "provider": "openai-compatible", "model": upstream,
            "api_base": env.mock.url(), "api_key": MOCK_KEY}


def node(env):
    conf = {"workers": 1, "etcd": {"endpoints": [env.etcd.url()], "prefix": PREFIX}}
    return Gateway({"models": [], "api_keys": []}, config=conf, env={"MOCK_KEY": MOCK_KEY})


def admin(gw, method, path, body=None):
    port = int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    return request(port, method, path, body=body)


def synced(gw, etcd):
    def ok():
        e = admin(gw, "GET", "/admin/v1/status").json().get("etcd") or {}
        return e.get("state") == "watching" and e.get("revision", 0) >= etcd.revision()
    wait_for(ok, VISIBLE * 3, interval=0.05, what="node %s watching etcd" % gw.pid)


def upstream_of(gw, model):
    resp = request(gw.port, "POST", "/v1/chat/completions", chat_body(model=model), key=KEY)
    return resp.json().get("model") if resp.status == 200 else resp.status


def served_everywhere(env, model, upstream, what):
    for gw in env.nodes:
        wait_for(lambda g=gw: upstream_of(g, model) == upstream, VISIBLE, interval=0.05,
                 what="%s on node %s (last: %r)" % (what, gw.pid, upstream_of(gw, model)))


class fixture:
    def __enter__(self):
        self.etcd = self.mock = None
        self.nodes = []
        try:
            self.etcd = Etcd()
            self.mock = Mock(key=MOCK_KEY)
            env = Env(self.mock, None, etcd=self.etcd)
            self.etcd.put("%s/api_keys/client" % PREFIX, {"name": "client", "key": KEY})
            for _ in range(3):
                self.nodes.append(node(env))
            env.nodes = self.nodes
            env.gw = self.nodes[0]
            for gw in self.nodes:
                synced(gw, self.etcd)
            tap.log_sources.append(("etcd log", lambda e=self.etcd: e.log_tail(8)))
            return env
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        for gw in self.nodes:
            gw.stop()
        if self.mock:
            self.mock.stop()
        if self.etcd:
            self.etcd.stop()


def at_once(calls):
    """Run the calls in threads released together; their results in order."""
    out = [None] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i):
        try:
            gate.wait(timeout=10)
            out[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - reported as the result
            out[i] = exc
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30 * SLOW)
    return out


def statuses(resps):
    return sorted(r.status if hasattr(r, "status") else repr(r) for r in resps)


@tap.case("one model name created on three nodes at once: one 201, two 409, one in etcd "
          "(%d rounds)" % ROUNDS)
def _(env):
    for n in range(ROUNDS):
        name = "race-%d-%s" % (n, unique_id("m"))
        calls = [lambda gw=gw, i=i: admin(gw, "PUT", "/admin/v1/models/%s-%d" % (name, i),
                                          model_doc(env, name, "up-%d" % i))
                 for i, gw in enumerate(env.nodes)]
        resps = at_once(calls)
        check_eq(statuses(resps), [201, 409, 409], "round %d: statuses" % n)
        held = [k for k, v in env.etcd.get_prefix(PREFIX + "/models/").items()
                if json.loads(v["value"]).get("name") == name]
        check_eq(len(held), 1, "round %d: resources named %s in etcd: %r" % (n, name, held))
        winner = [i for i, r in enumerate(resps) if r.status == 201][0]
        served_everywhere(env, name, "up-%d" % winner, "round %d: the 201's model" % n)


@tap.case("one API key created on three nodes at once: one 201, two 409 (%d rounds)" % ROUNDS)
def _(env):
    for n in range(ROUNDS):
        secret = "sk-race-%d-%s" % (n, unique_id("k"))
        calls = [lambda gw=gw, i=i: admin(gw, "POST", "/admin/v1/api_keys",
                                          {"name": "race-%d-%d" % (n, i), "key": secret})
                 for i, gw in enumerate(env.nodes)]
        resps = at_once(calls)
        check_eq(statuses(resps), [201, 409, 409], "round %d: statuses" % n)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        held = [k for k, v in env.etcd.get_prefix(PREFIX + "/api_keys/").items()
                if json.loads(v["value"]).get("key_sha256") == digest]
        check_eq(len(held), 1, "round %d: keys with this hash in etcd" % n)


@tap.case("a rename releases the old name, a delete the name: both can be taken again")
def _(env):
    a, b = env.nodes[0], env.nodes[1]
    check_eq(admin(a, "PUT", "/admin/v1/models/ren-1", model_doc(env, "ren-old", "u1")).status,
             201, "create ren-1")
    check_eq(admin(a, "PUT", "/admin/v1/models/ren-1", model_doc(env, "ren-new", "u1")).status,
             200, "rename ren-1")
    synced(b, env.etcd)
    check_eq(admin(b, "PUT", "/admin/v1/models/ren-2", model_doc(env, "ren-old", "u2")).status,
             201, "the old name taken by another, on another node")
    check_eq(admin(b, "PUT", "/admin/v1/models/ren-3", model_doc(env, "ren-new", "u3")).status,
             409, "the new name is held")
    check_eq(env.etcd.get(PREFIX + "/index/models/ren-new"), b"ren-1", "index of ren-new")
    check_eq(env.etcd.get(PREFIX + "/index/models/ren-old"), b"ren-2", "index of ren-old")
    check_eq(admin(a, "DELETE", "/admin/v1/models/ren-1").status, 200, "delete ren-1")
    check_eq(env.etcd.get(PREFIX + "/index/models/ren-new"), None, "index of a deleted model")
    synced(b, env.etcd)
    check_eq(admin(b, "PUT", "/admin/v1/models/ren-3", model_doc(env, "ren-new", "u3")).status,
             201, "the freed name")


def conflicts(gw):
    resp = admin(gw, "GET", "/admin/v1/conflicts")
    check_eq(resp.status, 200, "GET /admin/v1/conflicts")
    return resp.json()


def full_syncs(gw):
    return gw.log().count("etcd: full sync at revision")


@tap.case("etcdctl duplicates: the first created serves on every node and a fresh one; "
          "updating it does not flip; the loser is listed, costs no resync, and is deleted")
def _(env):
    env.etcd.put(mkey("dup-1"), model_doc(env, "dup", "up-dup-1"))
    env.etcd.put(mkey("dup-2"), model_doc(env, "dup", "up-dup-2"))
    served_everywhere(env, "dup", "up-dup-1", "the first created")
    for gw in env.nodes:
        wait_for(lambda g=gw: [c["id"] for c in conflicts(g)["models"]] == ["dup-2"], VISIBLE,
                 what="dup-2 listed as a conflict on node %s" % gw.pid)
        check_eq(conflicts(gw)["models"][0]["held_by"], "dup-1", "the holder named")
    syncs = [full_syncs(gw) for gw in env.nodes]
    # the winner updated (its mod_revision passes the loser's): it keeps the name
    env.etcd.put(mkey("dup-1"), model_doc(env, "dup", "up-dup-1b"))
    served_everywhere(env, "dup", "up-dup-1b", "the updated first holder")
    # the loser updated ten times: no full read on any node
    for i in range(10):
        env.etcd.put(mkey("dup-2"), model_doc(env, "dup", "up-dup-2-%d" % i))
    for gw in env.nodes:
        synced(gw, env.etcd)
    check_eq([full_syncs(gw) for gw in env.nodes], syncs, "full reads after loser updates")
    served_everywhere(env, "dup", "up-dup-1b", "still the first holder")
    fresh = node(env)
    try:
        synced(fresh, env.etcd)
        check_eq(upstream_of(fresh, "dup"), "up-dup-1b", "a node started now agrees")
        check_eq([c["id"] for c in conflicts(fresh)["models"]], ["dup-2"], "and lists the loser")
    finally:
        fresh.stop()
    # the loser deleted through the Admin API (it is not in any node's table)
    check_eq(admin(env.nodes[2], "DELETE", "/admin/v1/models/dup-2").status, 200,
             "DELETE of the loser")
    check_eq(env.etcd.get(mkey("dup-2")), None, "the loser is gone from etcd")
    for gw in env.nodes:
        wait_for(lambda g=gw: conflicts(g)["models"] == [], VISIBLE,
                 what="no conflict listed on node %s" % gw.pid)
    served_everywhere(env, "dup", "up-dup-1b", "the holder after the loser's delete")
    env.etcd.delete(mkey("dup-1"))


@tap.case("the index entry's owner keeps the name over an older duplicate; without it, the "
          "first created again")
def _(env):
    env.etcd.put(mkey("ix-old"), model_doc(env, "ixn", "up-old"))
    served_everywhere(env, "ixn", "up-old", "the first created")
    env.etcd.put(mkey("ix-new"), model_doc(env, "ixn", "up-new"))
    for gw in env.nodes:
        wait_for(lambda g=gw: [c["id"] for c in conflicts(g)["models"]] == ["ix-new"], VISIBLE,
                 what="ix-new listed as a conflict on node %s" % gw.pid)
    # an operator points the name's index entry at the newer one (etcdctl)
    env.etcd.put(PREFIX + "/index/models/ixn", "ix-new")
    served_everywhere(env, "ixn", "up-new", "the index entry's owner")
    for gw in env.nodes:
        wait_for(lambda g=gw: [c["id"] for c in conflicts(g)["models"]] == ["ix-old"], VISIBLE,
                 what="ix-old listed as the conflict now on node %s" % gw.pid)
    env.etcd.delete(PREFIX + "/index/models/ixn")
    served_everywhere(env, "ixn", "up-old", "the first created, without an index entry")
    env.etcd.delete(mkey("ix-new"))
    env.etcd.delete(mkey("ix-old"))


if __name__ == "__main__":
    main(tap, fixture)
