# SPDX-License-Identifier: Apache-2.0
"""End-to-end: limits per API key and per model, local backend (shared memory).

One mock and one aigw with 4 workers serve every case. Each case uses keys
(or a model) of its own, so that the counters of one case never touch
another's. Windows are fixed UTC minutes and days: a case that counts per
minute first makes sure its burst does not straddle a minute boundary
(minute_room(), a bounded wait).

The mock's usage is known in advance: prompt_tokens = words of the prompt,
completion_tokens = chunks, so total_tokens is what the limiter must settle
every request at, whatever it reserved at admission
(ceil(body bytes / 4) + max_tokens).
"""

import json
import math
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, HTTP_TIMEOUT, SLOW, START_TIMEOUT, TAP, body_bytes, burst, check, check_eq,
        check_rate_refusal, check_request_burst, main, minute_room, mock_and_gateway,
        near, no_rl_headers, post_chat, request, rl_headers, standard_resources, statuses,
        usage_body, wait_for, window_left)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

WORKERS = 4
MODEL = "mock-b"          # a model without limits (standard_resources)
FREE_KEY = "sk-test-all"  # a key without limits, any model
CHAT = "/v1/chat/completions"

# Keys with limits; the id is the name, so the refusal message names it
# whichever of the two the implementation shows.
KEYS = {
    "k-rpm": ("sk-lim-rpm-0001", {"requests_per_minute": 37}),
    "k-rpd": ("sk-lim-rpd-0001", {"requests_per_day": 29}),
    "k-tight": ("sk-lim-tight-001", {"requests_per_minute": 50, "requests_per_day": 6}),
    "k-tpm": ("sk-lim-tpm-0001", {"tokens_per_minute": 1000}),
    "k-tpm-burst": ("sk-lim-tpmb-001", {"tokens_per_minute": 1000}),
    "k-conc": ("sk-lim-conc-001", {"concurrency": 3}),
    "k-kill": ("sk-lim-kill-001", {"concurrency": 3}),
    "k-share": ("sk-lim-share-01", None),
    "k-small": ("sk-lim-small-001", {"requests_per_minute": 3}),
    "k-err": ("sk-lim-err-0001", {"requests_per_minute": 10}),
}
LIMITED_MODEL = "m-rpm"
MODEL_RPM = 23
BOTH_MODEL = "m-both"  # requests_per_minute 10, used with k-small (3)


def key(name):
    return KEYS[name][0]


def resources(mock_port):
    """standard_resources, a model with requests_per_minute and the keys above."""
    base = "http://%s:%d/v1" % (HOST, mock_port)
    models = [{"id": LIMITED_MODEL, "name": LIMITED_MODEL, "provider": "openai-compatible",
               "model": "mock-rpm", "api_base": base, "api_key": "${MOCK_KEY}",
               "limits": {"requests_per_minute": MODEL_RPM}},
              {"id": BOTH_MODEL, "name": BOTH_MODEL, "provider": "openai-compatible",
               "model": "mock-both", "api_base": base, "api_key": "${MOCK_KEY}",
               "limits": {"requests_per_minute": 10}}]
    keys = []
    for name, (secret, limits) in KEYS.items():
        k = {"id": name, "name": name, "key": secret}
        if limits:
            k["limits"] = limits
        keys.append(k)
    return standard_resources(mock_port, models, keys)


def fixture():
    return mock_and_gateway(resources=resources,
                            config={"workers": WORKERS, "ratelimit": {"backend": "local"}})


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def body_of(model=MODEL, prompt_words=5, chunks=1, stream=False, mock=None, **extra):
    """A chat body whose real usage is prompt_words + chunks tokens."""
    return usage_body(model, prompt_words, chunks, stream, mock, **extra)


def send(gw, k, body, timeout=HTTP_TIMEOUT):
    """POST a chat completion to the gateway on a fresh connection."""
    return post_chat(gw.port, k, body, timeout=timeout)


def check_refused(resp, typ, code, what, period=None, msg_re=None):
    """check_rate_refusal(), and no client key shows in the body."""
    return check_rate_refusal(resp, typ, code, what, period, msg_re,
                              secrets=[k for k, _ in KEYS.values()])


def mock_requests(env):
    return env.mock.stats()["requests"]


def requests_burst(env, resps, limit, mock_before, what, period, msg_re):
    """check_request_burst(), and the mock saw exactly `limit` requests."""
    check_request_burst(resps, limit, what, period, msg_re,
                        secrets=[k for k, _ in KEYS.values()])
    check_eq(mock_requests(env) - mock_before, limit, "%s: requests the mock saw" % what)


# --------------------------------------------------------------------------
# Requests per minute and per day
# --------------------------------------------------------------------------

@tap.case("requests_per_minute 37 on a key: 150 requests over 24 connections -> exactly 37 "
          "admitted, 113 x 429 rate_limit_exceeded with Retry-After and x-ratelimit-*")
def _(env):
    minute_room()
    before = mock_requests(env)
    resps = burst(150, 24, lambda i: send(env.gw, key("k-rpm"), body_of()))
    requests_burst(env, resps, 37, before, "k-rpm", 60,
                        r"^Rate limit reached for requests per minute on API key `k-rpm`: "
                        r"limit 37, used 37\. Try again in \S+\.$")


@tap.case("requests_per_minute 23 on a model: two keys share it, exactly 23 admitted of 100; "
          "the message names the model")
def _(env):
    minute_room()
    before = mock_requests(env)
    keys = (FREE_KEY, key("k-share"))
    resps = burst(100, 24, lambda i: send(env.gw, keys[i % 2], body_of(model=LIMITED_MODEL)))
    requests_burst(env, resps, MODEL_RPM, before, "model m-rpm", 60,
                        r"^Rate limit reached for requests per minute on model `m-rpm`: "
                        r"limit 23, used 23\. Try again in \S+\.$")
    ok_keys = {keys[i % 2] for i, r in enumerate(resps) if r.status == 200}
    check_eq(len(ok_keys), 2, "keys that got a 200 (both should, requests alternate)")


@tap.case("requests_per_day 29 on a key: exactly 29 of 80 admitted; Retry-After and "
          "x-ratelimit-reset-requests point at the next UTC midnight")
def _(env):
    minute_room(5)
    before = mock_requests(env)
    resps = burst(80, 16, lambda i: send(env.gw, key("k-rpd"), body_of()))
    requests_burst(env, resps, 29, before, "k-rpd", 86400,
                        r"^Rate limit reached for requests per day on API key `k-rpd`: "
                        r"limit 29, used 29\. Try again in \S+\.$")


@tap.case("the headers show the tightest limit: rpm 50 and rpd 6 -> limit 6, remaining 5..0, "
          "then 429 for requests per day")
def _(env):
    minute_room(8)
    for i in range(6):
        r = send(env.gw, key("k-tight"), body_of())
        check_eq(r.status, 200, "request %d status" % (i + 1))
        lim, rem, reset = rl_headers(r, "requests", "request %d" % (i + 1))
        check_eq((lim, rem), (6, 5 - i), "request %d: x-ratelimit limit/remaining-requests"
                 % (i + 1))
        near(reset, window_left(86400, r.t), "request %d: x-ratelimit-reset-requests" % (i + 1))
    r = send(env.gw, key("k-tight"), body_of())
    check_refused(r, "requests", "rate_limit_exceeded", "7th request", 86400,
                  r"^Rate limit reached for requests per day on API key `k-tight`: "
                  r"limit 6, used 6\. Try again in \S+\.$")
    check_eq(rl_headers(r, "requests", "7th request")[:2], (6, 0),
             "7th request: x-ratelimit limit/remaining-requests")


@tap.case("a request refused by the key's limit (3) uses none of the model's (10): another "
          "key then gets exactly 7 on the model; the headers show the tightest of the two")
def _(env):
    minute_room()
    resps = [send(env.gw, key("k-small"), body_of(model=BOTH_MODEL)) for _ in range(8)]
    check_eq([r.status for r in resps], [200] * 3 + [429] * 5, "statuses of k-small")
    check_eq([rl_headers(r, "requests", "k-small")[:2] for r in resps],
             [(3, 2), (3, 1), (3, 0)] + [(3, 0)] * 5,
             "x-ratelimit limit/remaining-requests of k-small (the key's 3 is tighter)")
    for r in resps[3:]:
        check_refused(r, "requests", "rate_limit_exceeded", "k-small", 60,
                      r"^Rate limit reached for requests per minute on API key `k-small`: "
                      r"limit 3, used 3\. Try again in \S+\.$")
    resps = [send(env.gw, key("k-share"), body_of(model=BOTH_MODEL)) for _ in range(9)]
    check_eq([r.status for r in resps], [200] * 7 + [429] * 2,
             "statuses of another key on the model (3 of its 10 used)")
    check_eq([rl_headers(r, "requests", "k-share")[:2] for r in resps],
             [(10, 6), (10, 5), (10, 4), (10, 3), (10, 2), (10, 1), (10, 0), (10, 0), (10, 0)],
             "x-ratelimit limit/remaining-requests of the model")
    check_refused(resps[-1], "requests", "rate_limit_exceeded", "the model's refusal", 60,
                  r"^Rate limit reached for requests per minute on model `m-both`: "
                  r"limit 10, used 10\. Try again in \S+\.$")


@tap.case("an upstream error still counts and carries the headers: 500 from the mock -> "
          "x-ratelimit-limit-requests 10, remaining 9, then 8")
def _(env):
    minute_room()
    r = send(env.gw, key("k-err"), body_of(mock={"status": 500}))
    check_eq(r.status, 500, "status passed through from the mock")
    check_eq(rl_headers(r, "requests", "upstream 500")[:2], (10, 9),
             "x-ratelimit limit/remaining-requests of the 500")
    r = send(env.gw, key("k-err"), body_of())
    check_eq(r.status, 200, "status of the next request")
    check_eq(rl_headers(r, "requests", "next request")[:2], (10, 8),
             "x-ratelimit limit/remaining-requests of the next request")


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------

TPM = 1000
PROMPT_WORDS = 5
CHUNKS = 40
USAGE = PROMPT_WORDS + CHUNKS  # 45: the real total_tokens of every request below


@tap.case("tokens_per_minute 1000, sequential requests of 45 real tokens (stream or not, "
          "max_tokens 100): exactly 23 admitted (overshoot < 1 request), remaining falls by "
          "the real usage, the 24th is 429 type tokens")
def _(env):
    minute_room(15)
    before = mock_requests(env)
    used = 0
    reserved_total = 0
    admitted = 0
    expect_admitted = math.ceil(TPM / USAGE)  # 23: admitted while used < 1000
    for i in range(expect_admitted + 1):
        stream = i % 2 == 1  # streams without include_usage: the gateway asks for it
        body = body_of(prompt_words=PROMPT_WORDS, chunks=CHUNKS, stream=stream, max_tokens=100)
        reserve = math.ceil(body_bytes(body) / 4) + 100
        what = "request %d (%s)" % (i + 1, "stream" if stream else "non-stream")
        time.sleep(0.01)  # not a timing assertion: lets the last request settle
        r = send(env.gw, key("k-tpm"), body)
        if i < expect_admitted:
            check(r.status == 200, "%s: status %d after %d real tokens (limit %d): %r", what,
                  r.status, used, TPM, r.body[:300])
            if stream:
                check(b"[DONE]" in r.body, "%s: the stream did not end with [DONE]", what)
                check(b'"usage":{' not in r.body.replace(b" ", b""),
                      "%s: a usage chunk the client did not ask for", what)
            lim, rem, reset = rl_headers(r, "tokens", what)
            check_eq(lim, TPM, "%s: x-ratelimit-limit-tokens" % what)
            # remaining either at admission (this request's reservation
            # counted) or after it (its real usage counted): both are
            # "falls by the real usage" of the requests before it.
            at_admission = max(0, TPM - used - reserve)
            after = max(0, TPM - used - USAGE)
            check(rem in (at_admission, after),
                  "%s: x-ratelimit-remaining-tokens %d; expected %d (at admission, reserving "
                  "%d) or %d (after, %d real tokens) with %d used before", what, rem,
                  at_admission, reserve, after, USAGE, used)
            near(reset, window_left(60, r.t), "%s: x-ratelimit-reset-tokens" % what)
            used += USAGE
            reserved_total += reserve
            admitted += 1
        else:
            check_refused(r, "tokens", "rate_limit_exceeded",
                          "%s after %d real tokens" % (what, used), 60,
                          r"^Rate limit reached for tokens per minute on API key `k-tpm`: "
                          r"limit 1000, used \d+\. Try again in \S+\.$")
            lim, rem, _ = rl_headers(r, "tokens", what)
            check_eq((lim, rem), (TPM, 0), "%s: x-ratelimit limit/remaining-tokens" % what)
    check(reserved_total > 2 * TPM, "the test is wrong: reservations %d would not have "
          "refused early", reserved_total)
    check_eq(mock_requests(env) - before, admitted, "requests the mock saw")


@tap.case("tokens_per_minute 1000 under concurrency (reservation >= real usage): a burst of 40 "
          "then sequential requests until refused -> exactly 23 admitted in all")
def _(env):
    minute_room(15)
    before = mock_requests(env)
    expect_admitted = math.ceil(TPM / USAGE)

    def make(i):
        return send(env.gw, key("k-tpm-burst"),
                    body_of(prompt_words=PROMPT_WORDS, chunks=CHUNKS, stream=i % 3 == 0,
                            max_tokens=CHUNKS))
    resps = burst(40, 8, make)
    by = statuses(resps)
    check(set(by) <= {200, 429}, "burst: statuses %r", by)
    in_burst = by.get(200, 0)
    check(1 <= in_burst <= expect_admitted, "burst: %d admitted; expected 1..%d (each "
          "admission needs used < %d, and 45 real tokens each)", in_burst, expect_admitted, TPM)
    for r in resps:
        if r.status == 429:
            check_refused(r, "tokens", "rate_limit_exceeded", "burst refusal", 60)
    more = 0
    for i in range(expect_admitted + 2):
        r = make(i + 1)
        if r.status != 200:
            check_refused(r, "tokens", "rate_limit_exceeded", "refusal after the burst", 60)
            break
        more += 1
    check_eq(in_burst + more, expect_admitted,
             "admitted in all (burst %d + sequential %d)" % (in_burst, more))
    check_eq(mock_requests(env) - before, expect_admitted, "requests the mock saw")


# --------------------------------------------------------------------------
# Concurrency
# --------------------------------------------------------------------------

SLOW_MS = 1500


def conc_burst(env, k, n, ms=SLOW_MS):
    """n concurrent slow requests (the mock waits ms before answering)."""
    return burst(n, n, lambda i: send(env.gw, k, body_of(mock={"first_byte_ms": ms})))


def check_conc_refusal(r, what):
    check_refused(r, "requests", "concurrency_limit_exceeded", what)


@tap.case("concurrency 3: of 8 concurrent slow requests 3 are admitted, 5 get 429 "
          "concurrency_limit_exceeded (no upstream contacted); afterwards 3 at once are admitted")
def _(env):
    before = mock_requests(env)
    resps = conc_burst(env, key("k-conc"), 8)
    by = statuses(resps)
    check(by.get(200, 0) == 3 and by.get(429, 0) == 5, "expected 3 x 200 and 5 x 429, got %r",
          by)
    for r in resps:
        if r.status == 429:
            check_conc_refusal(r, "refusal")
    check_eq(mock_requests(env) - before, 3, "requests the mock saw")
    wait_for(lambda: env.mock.stats()["active"] == 0, 5 * SLOW, what="the mock to be idle")
    resps = conc_burst(env, key("k-conc"), 3, ms=300)
    check_eq(statuses(resps), {200: 3}, "3 concurrent requests after the first ones ended")


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def status_workers(gw):
    """Worker PIDs from GET /admin/v1/status (state running)."""
    resp = request(admin_port(gw), "GET", "/admin/v1/status")
    check(resp.status == 200, "GET /admin/v1/status: %d %r", resp.status, resp.body[:300])
    ws = resp.json().get("workers")
    check(isinstance(ws, list), "status has no workers list: %r", resp.body[:300])
    return sorted(w.get("pid") for w in ws if w.get("state") == "running")


def hold(port, k, body):
    """Send a request on a raw socket and leave it open (no read)."""
    data = json.dumps(body).encode()
    s = socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT)
    s.sendall(("POST %s HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (CHAT, HOST, port, k, len(data))).encode() + data)
    return s


def socket_inodes(server_port, client_ports):
    """{client port: inode} of the server side of our connections (/proc/net/tcp)."""
    out = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            lport = int(local.split(":")[1], 16)
            rport = int(remote.split(":")[1], 16)
            if lport == server_port and rport in client_ports:
                out[rport] = inode
    return out


def holder_of(pids, inode):
    """The PID among pids with socket:[inode] open, or None."""
    needle = "socket:[%s]" % inode
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == needle:
                    return pid
            except OSError:
                continue
    return None


@tap.case("concurrency 3: a worker killed (SIGKILL) while holding slots releases them; after "
          "the master restarts it, 3 requests at once are admitted again, a 4th is refused")
def _(env):
    gw, mock = env.gw, env.mock
    k = key("k-kill")
    workers = status_workers(gw)
    check_eq(len(workers), WORKERS, "running workers in /admin/v1/status")
    socks = []
    try:
        for _ in range(3):
            socks.append(hold(gw.port, k, body_of(mock={"hang": True})))
        wait_for(lambda: mock.stats()["active"] >= 3, 5 * SLOW,
                 what="3 hanging requests to reach the mock")
        r = send(gw, k, body_of())
        check_conc_refusal(r, "a 4th request while 3 hang")
        ports = {s.getsockname()[1]: s for s in socks}

        def server_sides():
            m = socket_inodes(gw.port, set(ports))
            return m if len(m) == 3 else None
        inodes = wait_for(server_sides, 3, what="the server side of 3 connections")
        holders = {}
        for cport, inode in inodes.items():
            pid = holder_of(workers, inode)
            check(pid is not None, "no worker has the connection from port %d", cport)
            holders.setdefault(pid, []).append(cport)
        victim = max(holders, key=lambda p: len(holders[p]))
        n_victim = len(holders[victim])
        gw.kill_worker(victim)
        tap.diag("killed worker %d holding %d of the 3 slots" % (victim, n_victim))
        # the other held requests end normally: their clients go away
        for cport, s in ports.items():
            if cport not in holders[victim]:
                s.close()
        wait_for(lambda: mock.stats()["active"] == 0, 10 * SLOW,
                 what="every hanging upstream request to end")

        def restarted():
            pids = status_workers(gw)
            return pids if len(pids) == WORKERS and victim not in pids else None
        wait_for(restarted, START_TIMEOUT, interval=0.1,
                 what="the master to restart worker %d" % victim)
    finally:
        for s in socks:
            s.close()
    # the full concurrency is back: 3 slow requests at once are admitted and
    # a 4th, sent while they are in flight, is refused
    results = [None] * 3
    ths = []
    for i in range(3):
        def run(i=i):
            try:
                results[i] = send(gw, k, body_of(mock={"first_byte_ms": SLOW_MS}))
            except Exception as exc:  # noqa: BLE001 - reported below
                results[i] = exc
        th = threading.Thread(target=run, daemon=True)
        th.start()
        ths.append(th)
    try:
        wait_for(lambda: mock.stats()["active"] >= 3 or all(r is not None for r in results),
                 5 * SLOW, what="3 slow requests to reach the mock")
        fourth = send(gw, k, body_of())
    finally:
        for th in ths:
            th.join(HTTP_TIMEOUT)
    got = [r.status if hasattr(r, "status") else r for r in results]
    check_eq(got, [200, 200, 200], "3 concurrent requests after the killed worker was replaced "
             "(%d of its slots must have been released)" % n_victim)
    check_conc_refusal(fourth, "a 4th request while 3 are in flight")


# --------------------------------------------------------------------------
# Changes at run time; keys without limits
# --------------------------------------------------------------------------

RT_ID = "k-runtime"
RT_SECRET = "sk-lim-runtime-01"


def put_key(gw, limits):
    doc = {"name": RT_ID, "key": RT_SECRET}
    if limits is not None:
        doc["limits"] = limits
    resp = request(admin_port(gw), "PUT", "/admin/v1/api_keys/" + RT_ID, doc)
    check(resp.status in (200, 201), "PUT api_keys/%s: %d %r", RT_ID, resp.status,
          resp.body[:300])


def rt_send(env, n):
    """n sequential requests with the run-time key; the responses."""
    return [send(env.gw, RT_SECRET, body_of()) for _ in range(n)]


@tap.case("a limit changed through the Admin API applies at once: rpm 5 -> 5 of 7; raised to 8 "
          "-> 3 more; lowered to 2 -> refused; removed -> no headers, admitted")
def _(env):
    minute_room(15)
    put_key(env.gw, {"requests_per_minute": 5})
    wait_for(lambda: request(env.gw.port, "GET", "/v1/models", key=RT_SECRET).status == 200,
             5 * SLOW, what="the new key to work")
    resps = rt_send(env, 7)
    check_eq([r.status for r in resps], [200] * 5 + [429] * 2, "statuses with rpm 5")
    check_eq([rl_headers(r, "requests", "rpm 5")[:2] for r in resps],
             [(5, 4), (5, 3), (5, 2), (5, 1), (5, 0), (5, 0), (5, 0)],
             "x-ratelimit limit/remaining-requests with rpm 5")
    put_key(env.gw, {"requests_per_minute": 8})
    resps = rt_send(env, 5)
    check_eq([r.status for r in resps], [200] * 3 + [429] * 2,
             "statuses right after raising to rpm 8 (5 used this minute)")
    check_eq([rl_headers(r, "requests", "rpm 8")[:2] for r in resps],
             [(8, 2), (8, 1), (8, 0), (8, 0), (8, 0)],
             "x-ratelimit limit/remaining-requests with rpm 8")
    put_key(env.gw, {"requests_per_minute": 2})
    resps = rt_send(env, 8)
    check_eq([r.status for r in resps], [429] * 8, "statuses right after lowering to rpm 2")
    for r in resps:
        check_refused(r, "requests", "rate_limit_exceeded", "rpm 2", 60)
        check_eq(rl_headers(r, "requests", "rpm 2")[:2], (2, 0),
                 "x-ratelimit limit/remaining-requests with rpm 2")
    put_key(env.gw, None)
    resps = rt_send(env, 8)
    check_eq([r.status for r in resps], [200] * 8, "statuses right after removing the limits")
    for r in resps:
        no_rl_headers(r, "without limits")


@tap.case("a key and a model without limits: 120 concurrent requests all admitted, no "
          "x-ratelimit-* headers, no Retry-After")
def _(env):
    before = mock_requests(env)

    def make(i):
        return send(env.gw, FREE_KEY, body_of(stream=i % 4 == 0))
    resps = burst(120, 24, make)
    check_eq(statuses(resps), {200: 120}, "statuses")
    for r in resps:
        no_rl_headers(r, "unlimited key")
        check("retry-after" not in r.headers, "unlimited key: Retry-After %r",
              r.headers.get("retry-after"))
    check_eq(mock_requests(env) - before, 120, "requests the mock saw")


if __name__ == "__main__":
    main(tap, fixture)
