#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: an Admin API write in etcd mode is answered once the node's
own table holds it (read-your-writes; src/etcdack.c).

One etcd, one mock, one gateway in etcd mode whose etcd endpoint is a TCP
relay on 127.0.0.1 in front of etcd. The relay passes every byte at once,
except what etcd sends on a watch (a connection that asked for /v3/watch):
that it holds for HOLD seconds, so the node's table always learns of a
write well after etcd acknowledged it. Before etcdack.c the answer went
out at etcd's acknowledgment: a read right after it (GET of the resource,
a chat completion to the model just made) did not see the write.

Cases: a model created then read and used at once; a model deleted then
read at once; the watch frozen (the relay stops passing anything of it):
a write is still answered (after the bounded wait, with a warning), not
held for ever.
"""

import os
import select
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, SLOW, TAP, Env, Etcd, Gateway, Mock, chat_body, check, check_eq, main, request,
        unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

PREFIX = "/e2e/aigw-ryw"
CLIENT_KEY = "sk-test-ryw-0123456789"
MODELS = "/admin/v1/models"
STATUS = "/admin/v1/status"
HOLD = 0.4  # seconds the relay holds what etcd sends on a watch
ROUNDS = 3


class Relay:
    """127.0.0.1:port -> etcd, holding the watch's bytes HOLD seconds (or
    for as long as frozen is set)."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.frozen = threading.Event()
        self.stopping = threading.Event()
        self.watches = 0
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self):
        return "http://%s:%d" % (HOST, self.port)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection((HOST, self.target))
            except OSError:
                c.close()
                continue
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()

    def _pump(self, c, u):
        """Client bytes to etcd at once; etcd's bytes to the client at once
        until the client asked for a watch, HOLD seconds late after."""
        watch = False
        held = []  # (time due, bytes)
        try:
            while not self.stopping.is_set():
                timeout = 0.05
                r, _, _ = select.select([c, u], [], [], timeout)
                if c in r:
                    data = c.recv(65536)
                    if not data:
                        break
                    if not watch and b"/v3/watch" in data:
                        watch = True
                        self.watches += 1
                    u.sendall(data)
                if u in r:
                    data = u.recv(65536)
                    if not data:
                        break
                    if watch:
                        held.append((time.monotonic() + HOLD, data))
                    else:
                        c.sendall(data)
                now = time.monotonic()
                while held and held[0][0] <= now and not self.frozen.is_set():
                    c.sendall(held.pop(0)[1])
        except OSError:
            pass
        for s in (c, u):
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        for s in [self.lsock] + self.socks:
            try:
                s.close()
            except OSError:
                pass


class fixture:
    def __enter__(self):
        self.etcd = self.relay = self.mock = self.gw = None
        try:
            self.etcd = Etcd()
            self.relay = Relay(self.etcd.port)
            self.mock = Mock(key=None)
            self.etcd.put(PREFIX + "/api_keys/k1", {"name": "all", "key": CLIENT_KEY})
            conf = {"workers": 2, "etcd": {"endpoints": [self.relay.url()], "prefix": PREFIX}}
            self.gw = Gateway({"models": [], "api_keys": []}, config=conf)
            env = Env(self.mock, self.gw, etcd=self.etcd, relay=self.relay)
            wait_for(lambda: status(env).get("etcd", {}).get("synced") is True, 15.0 * SLOW,
                     what="the gateway synced with etcd")
            wait_for(lambda: self.relay.watches > 0, 15.0 * SLOW,
                     what="the gateway's watch through the relay")
            return env
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in (self.gw, self.mock, self.relay, self.etcd):
            if p is not None:
                p.stop()


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(env, method, path, body=None):
    return request(admin_port(env.gw), method, path, body=body, timeout=30.0 * SLOW)


def status(env):
    resp = admin(env, "GET", STATUS)
    check(resp.status == 200, "GET status: %d", resp.status)
    return resp.json()


def model_doc(env, name):
    return {"name": name, "provider": "openai-compatible", "api_base": env.mock.url(),
            "api_key": "sk-upstream-ryw-0123", "model": "up-" + name}


@tap.case("a model created through the Admin API is readable and serves as soon as the "
          "write is answered")
def _(env):
    for i in range(ROUNDS):
        name = unique_id("ryw")
        resp = admin(env, "POST", MODELS, model_doc(env, name))
        check(resp.status == 201, "POST model: %d %r", resp.status, resp.body[:400])
        mid = resp.json()["id"]
        got = admin(env, "GET", MODELS + "/" + mid)
        check_eq(got.status, 200, "round %d: GET of the model right after its 201" % i)
        chat = request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model=name),
                       key=CLIENT_KEY)
        check(chat.status == 200, "round %d: a chat completion to the model right after its "
              "201: %d %r", i, chat.status, chat.body[:300])


@tap.case("a model deleted through the Admin API is gone as soon as the delete is answered")
def _(env):
    for i in range(ROUNDS):
        name = unique_id("ryw-del")
        resp = admin(env, "POST", MODELS, model_doc(env, name))
        check(resp.status == 201, "POST model: %d %r", resp.status, resp.body[:400])
        mid = resp.json()["id"]
        # the table has it (whatever the code): the delete is what is tested
        wait_for(lambda: admin(env, "GET", MODELS + "/" + mid).status == 200, 10.0 * SLOW,
                 what="the model in the table")
        resp = admin(env, "DELETE", MODELS + "/" + mid)
        check(resp.status in (200, 204), "DELETE: %d %r", resp.status, resp.body[:300])
        got = admin(env, "GET", MODELS + "/" + mid)
        check_eq(got.status, 404, "round %d: GET of the model right after its delete" % i)
        chat = request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model=name),
                       key=CLIENT_KEY)
        check_eq(chat.status, 404, "round %d: a chat completion to the deleted model" % i)


@tap.case("the watch frozen: a write etcd acknowledged is still answered (bounded wait, "
          "a warning), and the table has it once the watch goes on")
def _(env):
    name = unique_id("ryw-frozen")
    env.relay.frozen.set()
    try:
        resp = admin(env, "POST", MODELS, model_doc(env, name))
        check(resp.status == 201, "POST model with the watch frozen: %d %r", resp.status,
              resp.body[:400])
        mid = resp.json()["id"]
        wait_for(lambda: "is not in this node's table after" in env.gw.log(), 10.0 * SLOW,
                 what="the warning that the answer did not wait for the watch")
    finally:
        env.relay.frozen.clear()
    wait_for(lambda: admin(env, "GET", MODELS + "/" + mid).status == 200, 10.0 * SLOW,
             what="the model in the table once the watch goes on")


if __name__ == "__main__":
    main(tap, fixture)
