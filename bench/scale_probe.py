#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/scale_probe.py: the helpers of bench/scale (run by it).

  gen OUT KEYS MODELS MOCKPORT BENCHKEY
      write a resources file with MODELS models (plus "bench") on the mock and
      KEYS API keys, the key BENCHKEY (id "bench") in the middle.
  change --port P --admin A --admin-key K --id ID --key KEY -n N
      makes ID-adm (key KEY-adm) through the Admin API, a copy of the file's
      ID (which the Admin API may not change); then N times: GET it, PUT it back with
      "disabled" flipped, and poll the data plane with KEY on a kept-alive
      connection until the change is served (a refusal after disabling, a 200
      after enabling). Prints "CHANGE n=.. p50_ms=.. p90_ms=.. max_ms=..
      put_p50_ms=.. unserved=..". Each wait is bounded (5 s).
  loop --port P --key KEY --clients C --stop-file F --max-seconds S
      C threads send chat completions one after another, each on its own
      kept-alive connection, until F exists (or S seconds pass). A request
      fails on a non-200 answer or a connection error; one whose kept-alive
      connection the server closed before any byte of the answer (as a
      worker that stops does with idle connections) is sent again on a new
      connection once, as HTTP clients do, and counted as "retried". Prints
      "LOOP ok=.. failed=.. retried=.. seconds=..".
"""

import http.client
import json
import os
import statistics
import sys
import threading
import time

BODY = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
                   "max_tokens": 16})


def gen(out, keys, models, mockport, benchkey):
    keys, models = int(keys), int(models)
    base = "http://127.0.0.1:%s/v1" % mockport
    with open(out + ".tmp", "w") as f:
        f.write("models:\n")
        f.write("  - {name: bench, provider: openai-compatible, model: mock-1, api_base: '%s'}\n" % base)
        for i in range(models - 1):
            f.write("  - {name: m-%06d, provider: openai-compatible, model: mock-1, api_base: '%s'}\n" % (i, base))
        f.write("api_keys:\n")
        for i in range(keys):
            if i == keys // 2:
                f.write("  - {id: bench, name: bench, key: %s, allowed_models: ['*']}\n" % benchkey)
            else:
                f.write("  - {name: k-%06d, key: sk-scale-%06d-0123456789abcdef, allowed_models: ['*']}\n" % (i, i))
    os.rename(out + ".tmp", out)


def opts(argv):
    o = {}
    i = 0
    while i < len(argv):
        k = argv[i].lstrip("-")
        o[k] = argv[i + 1]
        i += 2
    return o


def chat(conn, key):
    conn.request("POST", "/v1/chat/completions", BODY,
                 {"Content-Type": "application/json", "Authorization": "Bearer " + key})
    r = conn.getresponse()
    r.read()
    return r.status


def change(o):
    port, admin, akey, rid, key, n = (int(o["port"]), int(o["admin"]), o["admin-key"], o["id"], o["key"],
                                      int(o["n"]))
    ah = {"Authorization": "Bearer " + akey, "Content-Type": "application/json"}
    a = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    d = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    waits, puts, unserved = [], [], 0
    # The file's resources are read-only through the Admin API (409 file_owned):
    # the key changed is a copy of ID made through it, ID-adm with KEY-adm.
    a.request("GET", "/admin/v1/api_keys/" + rid, headers=ah)
    r = a.getresponse()
    doc = json.loads(r.read())
    if r.status != 200:
        raise SystemExit("admin GET %s: %d %s" % (rid, r.status, doc))
    val = doc["value"]
    val.pop("key_sha256", None)
    val["name"] = val.get("name", rid) + "-adm"
    rid, key = rid + "-adm", key + "-adm"
    val["key"] = key
    a.request("PUT", "/admin/v1/api_keys/" + rid, json.dumps(val), ah)
    r = a.getresponse()
    body = r.read()
    if r.status not in (200, 201):
        raise SystemExit("admin PUT %s: %d %s" % (rid, r.status, body[:300]))
    for i in range(2 * n):
        a.request("GET", "/admin/v1/api_keys/" + rid, headers=ah)
        r = a.getresponse()
        doc = json.loads(r.read())
        if r.status != 200:
            raise SystemExit("admin GET %s: %d %s" % (rid, r.status, doc))
        val = doc["value"]
        disable = not val.get("disabled", False)
        val["disabled"] = disable
        val.pop("key", None)
        t0 = time.monotonic()
        a.request("PUT", "/admin/v1/api_keys/" + rid, json.dumps(val), ah)
        r = a.getresponse()
        body = r.read()
        t1 = time.monotonic()
        if r.status not in (200, 201):
            raise SystemExit("admin PUT %s: %d %s" % (rid, r.status, body[:300]))
        served = False
        while time.monotonic() - t0 < 5:
            try:
                st = chat(d, key)
            except (OSError, http.client.HTTPException):
                d.close()
                d = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                continue
            if (st != 200) == disable:
                served = True
                break
        if served:
            waits.append((time.monotonic() - t0) * 1000)
        else:
            unserved += 1
        puts.append((t1 - t0) * 1000)
    if waits:
        w = sorted(waits)
        print("CHANGE n=%d p50_ms=%.2f p90_ms=%.2f max_ms=%.2f put_p50_ms=%.2f unserved=%d"
              % (len(w), statistics.median(w), w[int(len(w) * 0.9) - 1 if len(w) >= 10 else -1], w[-1],
                 statistics.median(puts), unserved))
    else:
        print("CHANGE n=0 p50_ms=n/a p90_ms=n/a max_ms=n/a put_p50_ms=n/a unserved=%d" % unserved)


def loop(o):
    port, key, clients, stop, maxs = (int(o["port"]), o["key"], int(o["clients"]), o["stop-file"],
                                      float(o["max-seconds"]))
    counts = {"ok": 0, "failed": 0, "retried": 0}
    lock = threading.Lock()
    t0 = time.monotonic()
    errors = []

    def worker():
        conn, used = None, False
        while not os.path.exists(stop) and time.monotonic() - t0 < maxs:
            for attempt in (0, 1):
                if conn is None:
                    conn, used = http.client.HTTPConnection("127.0.0.1", port, timeout=10), False
                try:
                    st = chat(conn, key)
                    used = True
                    res = "ok" if st == 200 else "failed"
                    if st != 200:
                        errors.append("status %d" % st)
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                    conn.close()
                    reused, conn = used, None
                    if reused and attempt == 0:
                        with lock:
                            counts["retried"] += 1
                        continue
                    res = "failed"
                    errors.append(repr(e))
                    break
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = None
                    res = "failed"
                    errors.append(repr(e))
                    break
            with lock:
                counts[res] += 1
        if conn is not None:
            conn.close()

    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("LOOP ok=%d failed=%d retried=%d seconds=%.1f" % (counts["ok"], counts["failed"], counts["retried"],
                                                            time.monotonic() - t0))
    for e in errors[:3]:
        print("loop error: " + e, file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "gen" and len(sys.argv) == 7:
        gen(*sys.argv[2:])
    elif len(sys.argv) >= 2 and sys.argv[1] == "change":
        change(opts(sys.argv[2:]))
    elif len(sys.argv) >= 2 and sys.argv[1] == "loop":
        loop(opts(sys.argv[2:]))
    else:
        raise SystemExit(__doc__)
