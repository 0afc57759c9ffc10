# SPDX-License-Identifier: Apache-2.0
"""End-to-end: limits shared by two aigw nodes through Redis (ratelimit.backend: redis).

One mock, one redis-server started here on a free port, and two aigw nodes
(2 workers each, the same resources, their own data_dir) pointing at it.
Node A fails open when Redis cannot answer (on_error: allow), node B fails
closed (on_error: deny). Each case uses keys of its own; a case counted per
minute first makes sure it does not straddle a UTC minute boundary.

The last cases take Redis away (SIGSTOP: it holds connections but answers
nothing; then stopped for good), and bring it back on the same port.
"""

import contextlib
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, HTTP_TIMEOUT, MOCK_KEY, SLOW, TAP, Env, Gateway, Mock, Redis, body_bytes, burst,
        check, check_eq, check_error_body, check_rate_refusal, check_request_burst, main,
        minute_room, near, post_chat, rl_headers, standard_resources, statuses, usage_body,
        wait_for, window_left)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

MODEL = "mock-b"          # a model without limits
FREE_KEY = "sk-test-all"  # a key without limits
KEYS = {
    "r-rpm": ("sk-redis-rpm-001", {"requests_per_minute": 31}),
    "r-tpm": ("sk-redis-tpm-001", {"tokens_per_minute": 1000}),
    "r-conc": ("sk-redis-conc-01", {"concurrency": 3}),
    "r-pause": ("sk-redis-pause-1", {"requests_per_minute": 1000}),
    "r-down": ("sk-redis-down-01", {"requests_per_minute": 2}),
    "r-probe": ("sk-redis-probe-1", {"requests_per_minute": 100000}),
    "r-again": ("sk-redis-again-1", {"requests_per_minute": 13}),
    "r-share": ("sk-redis-share-1", None),
}
LIMITED_MODEL = "r-model"
MODEL_RPM = 17
SECRETS = [k for k, _ in KEYS.values()]


def key(name):
    return KEYS[name][0]


def resources(mock_port):
    base = "http://%s:%d/v1" % (HOST, mock_port)
    models = [{"id": LIMITED_MODEL, "name": LIMITED_MODEL, "provider": "openai-compatible",
               "model": "mock-rmodel", "api_base": base, "api_key": "${MOCK_KEY}",
               "limits": {"requests_per_minute": MODEL_RPM}}]
    keys = []
    for name, (secret, limits) in KEYS.items():
        k = {"id": name, "name": name, "key": secret}
        if limits:
            k["limits"] = limits
        keys.append(k)
    return standard_resources(mock_port, models, keys)


def node_config(redis, on_error):
    return {"workers": 2,
            "ratelimit": {"backend": "redis", "on_error": on_error,
                          "redis": {"address": redis.address(), "timeout": "100ms"}}}


@contextlib.contextmanager
def fixture():
    mock = redis = a = b = None
    try:
        mock = Mock(key=MOCK_KEY)
        redis = Redis()
        res = resources(mock.port)
        a = Gateway(res, config=node_config(redis, "allow"), env={"MOCK_KEY": MOCK_KEY})
        b = Gateway(res, config=node_config(redis, "deny"), env={"MOCK_KEY": MOCK_KEY})
        tap.add_gateway_log(b, "aigw log (node B, on_error deny)")
        tap.log_sources.append(("redis log", lambda: redis.log_tail(10)))
        yield Env(mock, a, b=b, redis=redis, nodes=(a, b))
    finally:
        for g in (a, b):
            if g is not None:
                g.stop()
        if redis is not None:
            redis.stop()
        if mock is not None:
            mock.stop()


def body_of(model=MODEL, prompt_words=5, chunks=1, stream=False, mock=None, **extra):
    return usage_body(model, prompt_words, chunks, stream, mock, **extra)


def send(gw, k, body, timeout=HTTP_TIMEOUT):
    return post_chat(gw.port, k, body, timeout=timeout)


def mock_requests(env):
    return env.mock.stats()["requests"]


def clients(env):
    """Connections to Redis other than ours (CLIENT LIST)."""
    lines = env.redis.command("CLIENT", "LIST").decode().splitlines()
    return sum(1 for line in lines if " cmd=client|list " not in line)


def node_of(env, i):
    """Requests alternate between the two nodes."""
    return env.nodes[i % 2]


# --------------------------------------------------------------------------
# Limits shared by both nodes
# --------------------------------------------------------------------------

@tap.case("requests_per_minute 31 on a key, 120 concurrent requests split over both nodes -> "
          "exactly 31 admitted in all, the others 429 rate_limit_exceeded")
def _(env):
    minute_room()
    before = mock_requests(env)
    resps = burst(120, 24, lambda i: send(node_of(env, i), key("r-rpm"), body_of()))
    check_request_burst(resps, 31, "r-rpm over two nodes", 60,
                        r"^Rate limit reached for requests per minute on API key `r-rpm`: "
                        r"limit 31, used 31\. Try again in \S+\.$", SECRETS)
    check_eq(mock_requests(env) - before, 31, "requests the mock saw")
    per_node = [sum(1 for i, r in enumerate(resps) if r.status == 200 and i % 2 == n)
                for n in (0, 1)]
    check(all(per_node), "admitted per node %r: both nodes should admit some", per_node)
    # every worker of both nodes has used Redis by now: remember how many
    # connections they hold, to know when they are all back after a restart
    env.redis_clients = clients(env)
    check(env.redis_clients >= 1, "no aigw connection to Redis after a burst")


@tap.case("requests_per_minute 17 on a model, two keys, both nodes: exactly 17 admitted of 80")
def _(env):
    minute_room()
    before = mock_requests(env)
    keys = (FREE_KEY, key("r-share"))

    def make(i):
        return send(node_of(env, i), keys[(i // 2) % 2], body_of(model=LIMITED_MODEL))
    resps = burst(80, 16, make)
    check_request_burst(resps, MODEL_RPM, "model r-model over two nodes", 60,
                        r"^Rate limit reached for requests per minute on model `r-model`: "
                        r"limit 17, used 17\. Try again in \S+\.$", SECRETS)
    check_eq(mock_requests(env) - before, MODEL_RPM, "requests the mock saw")


TPM = 1000
USAGE = 45  # 5 prompt words + 40 chunks


@tap.case("tokens_per_minute 1000 across nodes: sequential requests of 45 real tokens (stream "
          "or not, max_tokens 100), alternating nodes -> exactly 23 admitted, then 429 tokens")
def _(env):
    minute_room(15)
    before = mock_requests(env)
    used = 0
    expect_admitted = math.ceil(TPM / USAGE)
    for i in range(expect_admitted + 1):
        stream = i % 4 in (1, 2)
        body = body_of(prompt_words=5, chunks=40, stream=stream, max_tokens=100)
        reserve = math.ceil(body_bytes(body) / 4) + 100
        what = "request %d (node %s, %s)" % (i + 1, "AB"[i % 2],
                                             "stream" if stream else "non-stream")
        # not a timing assertion: the previous request's settlement is a
        # Redis write of its own, sent when that request ended
        time.sleep(0.05)
        r = send(node_of(env, i), key("r-tpm"), body)
        if i < expect_admitted:
            check(r.status == 200, "%s: status %d after %d real tokens (limit %d): %r", what,
                  r.status, used, TPM, r.body[:300])
            lim, rem, reset = rl_headers(r, "tokens", what)
            check_eq(lim, TPM, "%s: x-ratelimit-limit-tokens" % what)
            at_admission = max(0, TPM - used - reserve)
            after = max(0, TPM - used - USAGE)
            check(rem in (at_admission, after),
                  "%s: x-ratelimit-remaining-tokens %d; expected %d (at admission) or %d "
                  "(after) with %d used before", what, rem, at_admission, after, used)
            near(reset, window_left(60, r.t), "%s: x-ratelimit-reset-tokens" % what)
            used += USAGE
        else:
            check_rate_refusal(r, "tokens", "rate_limit_exceeded",
                               "%s after %d real tokens" % (what, used), 60,
                               r"^Rate limit reached for tokens per minute on API key `r-tpm`: "
                               r"limit 1000, used \d+\. Try again in \S+\.$", SECRETS)
    check_eq(mock_requests(env) - before, expect_admitted, "requests the mock saw")


@tap.case("concurrency 3 across nodes: of 8 concurrent slow requests on both nodes 3 are "
          "admitted, 5 get 429 concurrency_limit_exceeded; afterwards 3 at once are admitted")
def _(env):
    before = mock_requests(env)

    def make(i, ms):
        return send(node_of(env, i), key("r-conc"), body_of(mock={"first_byte_ms": ms}))
    resps = burst(8, 8, lambda i: make(i, 1500))
    by = statuses(resps)
    check(by.get(200, 0) == 3 and by.get(429, 0) == 5, "expected 3 x 200 and 5 x 429, got %r",
          by)
    for r in resps:
        if r.status == 429:
            check_rate_refusal(r, "requests", "concurrency_limit_exceeded", "refusal",
                               secrets=SECRETS)
    check_eq(mock_requests(env) - before, 3, "requests the mock saw")
    wait_for(lambda: env.mock.stats()["active"] == 0, 5 * SLOW, what="the mock to be idle")
    resps = burst(3, 3, lambda i: make(i, 300))
    check_eq(statuses(resps), {200: 3}, "3 concurrent requests after the first ones ended")


# --------------------------------------------------------------------------
# Redis away, and back
# --------------------------------------------------------------------------

QUICK = 2.0 * SLOW  # ratelimit.redis.timeout is 100ms: an answer well within this


def timed_send(gw, k, body=None):
    t0 = time.monotonic()
    r = send(gw, k, body or body_of())
    return r, time.monotonic() - t0


def check_unavailable(r, took, what):
    err = check_error_body(r, 503, what)
    check_eq(err.get("code"), "rate_limiter_unavailable", "%s: error code" % what)
    check(took <= QUICK, "%s: the 503 took %.2fs (Redis timeout 100ms)", what, took)


@tap.case("Redis not answering (SIGSTOP): deny -> 503 rate_limiter_unavailable within 2s; "
          "allow -> 200 within 2s; a key without limits passes on both")
def _(env):
    k = key("r-pause")
    for n, gw in enumerate(env.nodes):
        r = send(gw, k, body_of())
        check_eq(r.status, 200, "node %s before the pause" % "AB"[n])
    env.redis.pause()
    try:
        for i in range(3):
            r, took = timed_send(env.b, k)
            check_unavailable(r, took, "node B (deny), request %d" % (i + 1))
            r, took = timed_send(env.gw, k)
            check(r.status == 200, "node A (allow), request %d: status %d %r", i + 1, r.status,
                  r.body[:300])
            check(took <= QUICK, "node A (allow): the 200 took %.2fs", took)
        for n, gw in enumerate(env.nodes):
            r, took = timed_send(gw, FREE_KEY)
            check(r.status == 200, "node %s, a key without limits: status %d %r", "AB"[n],
                  r.status, r.body[:300])
    finally:
        env.redis.resume()
    wait_for(lambda: send(env.b, k, body_of()).status == 200, 10 * SLOW, interval=0.2,
             what="node B to admit again after Redis answers again")


@tap.case("Redis stopped: allow -> 200 beyond the limit and the gateway logs it; deny -> 503 "
          "rate_limiter_unavailable quickly")
def _(env):
    k = key("r-down")
    offset = env.gw.log_size()
    env.redis.stop()
    for i in range(5):  # the limit is 2 per minute: fail open admits all
        r, took = timed_send(env.gw, k)
        check(r.status == 200, "node A (allow), request %d with Redis down: status %d %r",
              i + 1, r.status, r.body[:300])
        check(took <= QUICK, "node A (allow): the 200 took %.2fs", took)
    for i in range(3):
        r, took = timed_send(env.b, k)
        check_unavailable(r, took, "node B (deny), request %d with Redis down" % (i + 1))

    def logged():
        text = env.gw.log_since(offset)
        return [line for line in text.splitlines() if "redis" in line.lower()]
    lines = wait_for(logged, 5 * SLOW, what="node A to log that Redis is unavailable")
    tap.diag("node A logged: %s" % lines[0].strip())


@tap.case("Redis restarted on the same port: both nodes reconnect and limits apply again "
          "(requests_per_minute 13 -> exactly 13 of 50 over both nodes)")
def _(env):
    env.redis.start()
    probe = key("r-probe")
    # Back means: every connection the nodes had to Redis before is there
    # again (fresh requests to both nodes make lazy workers reconnect), and
    # node B, which denies without Redis, admits.
    want = getattr(env, "redis_clients", 1)

    def back():
        for i in range(8):
            send(node_of(env, i), probe, body_of())
        return clients(env) >= want and send(env.b, probe, body_of()).status == 200
    wait_for(back, 15 * SLOW, interval=0.2,
             what="both nodes to reconnect to Redis (%d connections before it stopped)" % want)
    minute_room()
    before = mock_requests(env)
    resps = burst(50, 12, lambda i: send(node_of(env, i), key("r-again"), body_of()))
    check_request_burst(resps, 13, "r-again after the restart", 60,
                        r"^Rate limit reached for requests per minute on API key `r-again`: "
                        r"limit 13, used 13\. Try again in \S+\.$", SECRETS)
    check_eq(mock_requests(env) - before, 13, "requests the mock saw")


if __name__ == "__main__":
    main(tap, fixture)
