# SPDX-License-Identifier: Apache-2.0
"""End-to-end: GET /metrics (Prometheus text format) on the master's own listener.

Two mocks and one gateway (2 workers, so every count is summed over workers
through shared memory):

  mx-split    targets "ta" (mock A) and "tb" (mock B), weights 1:1, a
              breaker that never opens here
  mx-limited  requests_per_minute 3 on the model (on mock A)
  mx-err      one target "bad" on mock A, no retries, first byte within 1s
  mx-stream   one target "ts" on mock A, no retries, stream_idle 1s
  mx-stream-total  one target "tt" on mock A, no retries, total 2s
  mx-brk      one target "dead" on a port where nothing listens; breaker
              failures 1, cooldown 60s
  keys: sk-mx-all (any model), sk-mx-limited (requests_per_minute 2)

Each case scrapes before and after its traffic and checks the differences
exactly against what the responses said (x-aigw-target, usage, statuses),
and the process_* samples against what the test reads in /proc itself.
Then the output passes `promtool check metrics`, a real Prometheus
(/usr/bin/prometheus, its own config and storage in a temp dir) scrapes it
every second and answers aigw_requests_total > 0 through its query API,
a worker killed with SIGKILL is counted in aigw_worker_restarts_total, and
a gateway in etcd mode says aigw_etcd_connected 1, then 0 once etcd stops.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, SLOW, SRCDIR, TAP, Env, Etcd, Gateway, LogFile, Mock, Stream, TestFailure,
        Metrics, _register, _unregister, chat_body, check, check_eq, dead_port, free_port, main,
        make_tmpdir, metrics_port, minute_room, request, scrape, terminate_pid, unique_id, wait_for, words,
        write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-mx-all-0123456789"
LIMITED_KEY = "sk-mx-limited-0123456789"
MOCK_SECRET = "mx-mock-secret-0123456789"
PROVIDER = "openai-compatible"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
UNKNOWN_MODEL = "no-such-model-7f3a9c"


def target(mock, name, weight=1):
    return {"name": name, "provider": PROVIDER, "model": "up-" + name, "api_base": mock.url(),
            "api_key": MOCK_SECRET, "weight": weight}


def resources(a, b):
    return {"models": [
        {"id": "split", "name": "mx-split", "targets": [target(a, "ta"), target(b, "tb")],
         "breaker": {"failures": 50, "cooldown": "1s"}},
        {"id": "limited", "name": "mx-limited", "targets": [target(a, "tl")],
         "limits": {"requests_per_minute": 3}},
        {"id": "err", "name": "mx-err", "targets": [target(a, "bad")], "retries": 0,
         "timeouts": {"connect": "1s", "first_byte": "1s", "total": "10s"}},
        {"id": "stream", "name": "mx-stream", "targets": [target(a, "ts")], "retries": 0,
         "timeouts": {"connect": "1s", "first_byte": "5s", "total": "60s",
                      "stream_idle": "1s"}},
        {"id": "stream-total", "name": "mx-stream-total", "targets": [target(a, "tt")],
         "retries": 0, "timeouts": {"connect": "1s", "first_byte": "5s", "total": "2s",
                                    "stream_idle": "10s"}},
        {"id": "brk", "name": "mx-brk", "retries": 0,
         "targets": [{"name": "dead", "provider": PROVIDER, "model": "x",
                      "api_base": "http://%s:%d/v1" % (HOST, dead_port())}],
         "timeouts": {"connect": "1s"}, "breaker": {"failures": 1, "cooldown": "60s"}},
    ], "api_keys": [
        {"name": "mx-all", "key": KEY},
        {"name": "mx-limited", "key": LIMITED_KEY, "limits": {"requests_per_minute": 2}},
    ]}


class fixture:
    """Mocks A and B (checking the provider secret) and one gateway, 2 workers."""

    def __enter__(self):
        self.a = self.b = self.gw = None
        try:
            self.a, self.b = Mock(key=MOCK_SECRET), Mock(key=MOCK_SECRET)
            self.gw = Gateway(resources(self.a, self.b), config={"workers": 2})
            return Env(mock=self.a, gw=self.gw, a=self.a, b=self.b, story={})
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        for p in (self.gw, self.a, self.b):
            if p is not None:
                p.stop()


# ---- reading /metrics ------------------------------------------------------------



def req_labels(model, target="", status=200, provider=PROVIDER):
    return {"model": model, "provider": provider if target else "", "target": target,
            "status": str(status)}


def chat(env, model, key=KEY, stream=False, mock=None, **extra):
    """One chat request on a fresh connection (so on either worker)."""
    body = chat_body(model=model, content=words(4), stream=stream,
                     mock=dict({"chunks": 3}, **(mock or {})), **extra)
    return request(env.gw.port, "POST", "/v1/chat/completions", body, key=key)


def usage_of(resp):
    """(prompt, completion) tokens from a JSON answer or a stream with usage."""
    body = resp.body.decode()
    if resp.headers.get("content-type", "").startswith("text/event-stream"):
        for line in body.splitlines():
            if line.startswith("data: {") and '"usage":{' in line:
                u = json.loads(line[6:])["usage"]
                return u["prompt_tokens"], u["completion_tokens"]
        raise TestFailure("no usage chunk in the stream: %r" % body[-300:])
    u = resp.json()["usage"]
    return u["prompt_tokens"], u["completion_tokens"]


# ---- cases -----------------------------------------------------------------------

@tap.case("GET /metrics answers in the text format on its own listener; "
          "404 (JSON) elsewhere, 405 for other methods")
def _(env):
    m = scrape(env.gw)
    for name in ("aigw_requests_total", "aigw_request_duration_seconds",
                 "aigw_upstream_duration_seconds", "aigw_time_to_first_token_seconds",
                 "aigw_tokens_total", "aigw_upstream_errors_total",
                 "aigw_ratelimit_rejections_total", "aigw_breaker_open", "aigw_active_requests",
                 "aigw_config_version", "aigw_config_last_change_timestamp_seconds",
                 "aigw_worker_restarts_total", "aigw_build_info", "aigw_stream_errors_total",
                 "aigw_config_reloads_total", "aigw_config_last_reload_successful",
                 "aigw_config_last_reload_success_timestamp_seconds",
                 "aigw_worker_config_version") + PROC_FAMILIES:
        check("# TYPE %s " % name in m.text, "no family %s in:\n%s", name, m.text)
    check("aigw_etcd_connected" not in m.text, "aigw_etcd_connected in standalone mode")
    # every family served is documented in aigw-metrics(7)
    with open(os.path.join(SRCDIR, "man", "aigw-metrics.7")) as f:
        documented = set(re.findall(r"^\.It Li ([a-z_]+)", f.read(), re.M))
    served = set(re.findall(r"^# TYPE (\S+) ", m.text, re.M))
    check(served <= documented, "not in aigw-metrics(7): %s", sorted(served - documented))
    version = subprocess.run([AIGW_BIN, "-v"], capture_output=True, text=True).stdout.split()[-1]
    check_eq(m.get("aigw_build_info", version=version), 1, "aigw_build_info{version=%s}" % version)
    port = metrics_port(env.gw)
    resp = request(port, "GET", "/nope")
    check_eq(resp.status, 404, "GET /nope")
    check_eq(resp.json()["error"]["code"], "unknown_url", "404 error code")
    for method in ("POST", "PUT", "DELETE"):
        resp = request(port, method, "/metrics", body={} if method != "DELETE" else None)
        check_eq(resp.status, 405, "%s /metrics" % method)
        check_eq(resp.headers.get("allow"), "GET", "Allow of the 405")
    # the proxy listener does not serve it
    check_eq(request(env.gw.port, "GET", "/metrics").status, 404, "GET /metrics on the proxy")


def family_sum(m, name):
    """The sum of every sample of name, whatever its labels."""
    return sum(v for (n, _), v in m.samples.items() if n == name)


@tap.case("the Admin API's requests and the scrapes of /metrics are not client requests: "
          "aigw_requests_total and the durations count neither; the Admin API's are in the "
          "access log, the scrapes are not")
def _(env):
    admin = int(env.gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    names = ("aigw_requests_total", "aigw_request_duration_seconds_count")
    before = scrape(env.gw)
    rids = []
    for i, path in enumerate(("/admin/v1/models", "/admin/v1/api_keys", "/admin/v1/nope")):
        rid = unique_id("mx-admin-%d" % i)
        resp = request(admin, "GET", path, headers={"x-request-id": rid})
        check_eq(resp.status, 404 if path.endswith("nope") else 200, "GET %s" % path)
        rids.append(rid)
    scrape_rid = unique_id("mx-scrape")
    check_eq(request(metrics_port(env.gw), "GET", "/metrics",
                     headers={"x-request-id": scrape_rid}).status, 200, "a scrape")
    scrape(env.gw)
    after = scrape(env.gw)
    for name in names:
        check_eq(family_sum(after, name) - family_sum(before, name), 0,
                 "%s after 3 Admin API requests and 3 scrapes" % name)
    for rid in rids:  # the master's access line, as aigw-admin(7) says
        line = env.gw.access_line(rid)
        check_eq(line["pid"], env.gw.pid, "pid of the Admin API's access line")
    # a client request after them is counted (the scrapes above were late enough to see it)
    resp = request(env.gw.port, "GET", "/healthz")
    check_eq(resp.status, 200, "GET /healthz")
    env.gw.access_line(resp.headers["x-request-id"])  # logged when counted: the request ended
    last = scrape(env.gw)
    for name in names:
        check_eq(family_sum(last, name) - family_sum(after, name), 1, "%s after GET /healthz" % name)
    check(scrape_rid not in env.gw.log(), "a scrape has an access line: %s" % scrape_rid)


@tap.case("requests by model, provider, target and status, durations, first tokens and "
          "tokens are exact over two workers and two targets (streams and not)")
def _(env):
    before = scrape(env.gw)
    per_target, streams, prompt, completion = {"ta": 0, "tb": 0}, 0, 0, 0
    for i in range(16):
        stream = i % 3 == 0
        extra = {"stream_options": {"include_usage": True}} if stream else {}
        resp = chat(env, "mx-split", stream=stream, mock={"chunks": 2 + i % 4}, **extra)
        check_eq(resp.status, 200, "request %d" % i)
        t = resp.headers.get("x-aigw-target")
        check(t in per_target, "x-aigw-target %r", t)
        per_target[t] += 1
        streams += stream
        p, c = usage_of(resp)
        prompt += p
        completion += c
    after = scrape(env.gw)

    def d(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)
    for t, n in per_target.items():
        check_eq(d("aigw_requests_total", **req_labels("mx-split", t)), n, "requests via %s" % t)
        check_eq(d("aigw_upstream_duration_seconds_count", model="mx-split", provider=PROVIDER,
                   target=t), n, "upstream attempts to %s" % t)
        check_eq(d("aigw_upstream_duration_seconds_bucket", model="mx-split", provider=PROVIDER,
                   target=t, le="+Inf"), n, "+Inf bucket of %s" % t)
    check(min(per_target.values()) > 0, "a 1:1 split used one target only: %r", per_target)
    check_eq(d("aigw_request_duration_seconds_count", model="mx-split"), 16, "durations observed")
    check_eq(d("aigw_request_duration_seconds_bucket", model="mx-split", le="+Inf"), 16,
             "+Inf bucket")
    check(d("aigw_request_duration_seconds_sum", model="mx-split") > 0, "duration sum grew")
    check_eq(d("aigw_time_to_first_token_seconds_count", model="mx-split"), streams,
             "first tokens observed (one per stream)")
    check_eq(d("aigw_tokens_total", model="mx-split", type="prompt"), prompt, "prompt tokens")
    check_eq(d("aigw_tokens_total", model="mx-split", type="completion"), completion,
             "completion tokens")
    check_eq(after.get("aigw_breaker_open", model="mx-split", target="ta"), 0, "breaker of ta")
    check(after.has("aigw_breaker_open", model="mx-split", target="tb"), "no breaker for tb")
    check_eq(d("aigw_upstream_errors_total", model="mx-split", target="ta", reason="status_5xx"),
             0, "no errors")


@tap.case("a model that does not exist never becomes a label; no key or secret in /metrics")
def _(env):
    before = scrape(env.gw)
    resp = chat(env, UNKNOWN_MODEL)
    check_eq(resp.status, 404, "unknown model")
    resp = request(env.gw.port, "POST", "/v1/chat/completions", chat_body(model="mx-split"),
                   key="sk-nobody-0123456789")
    check_eq(resp.status, 401, "unknown key")
    after = scrape(env.gw)
    check_eq(after.get("aigw_requests_total", **req_labels("", status=404)) -
             before.get("aigw_requests_total", **req_labels("", status=404)), 1, "the 404")
    check_eq(after.get("aigw_requests_total", **req_labels("", status=401)) -
             before.get("aigw_requests_total", **req_labels("", status=401)), 1, "the 401")
    for s in (UNKNOWN_MODEL, KEY, LIMITED_KEY, MOCK_SECRET, "sk-nobody", "mx-all"):
        check(s not in after.text, "%r in /metrics", s)


@tap.case("rate-limit refusals by scope: a model's limit (model) and a key's limit (key)")
def _(env):
    minute_room(5)
    before = scrape(env.gw)
    got = [chat(env, "mx-limited").status for _ in range(5)]
    check_eq(sorted(got), [200, 200, 200, 429, 429], "statuses under the model's limit of 3")
    got = [chat(env, "mx-split", key=LIMITED_KEY).status for _ in range(4)]
    check_eq(sorted(got), [200, 200, 429, 429], "statuses under the key's limit of 2")
    after = scrape(env.gw)
    for model, scope, n in (("mx-limited", "model", 2), ("mx-split", "key", 2),
                            ("mx-limited", "key", 0), ("mx-split", "model", 0),
                            ("mx-split", "unavailable", 0)):
        check_eq(after.get("aigw_ratelimit_rejections_total", model=model, scope=scope) -
                 before.get("aigw_ratelimit_rejections_total", model=model, scope=scope), n,
                 "rejections of %s, scope %s" % (model, scope))
    for scope, n in (("model", 2), ("key", 2), ("unavailable", 0)):
        check_eq(after.total("aigw_ratelimit_rejections_total", scope=scope) -
                 before.total("aigw_ratelimit_rejections_total", scope=scope), n,
                 "rejections, scope %s (all models)" % scope)
    check_eq(after.get("aigw_requests_total", **req_labels("mx-limited", status=429)) -
             before.get("aigw_requests_total", **req_labels("mx-limited", status=429)), 2,
             "429s of mx-limited (no target)")
    check_eq(after.get("aigw_requests_total", **req_labels("mx-limited", "tl")) -
             before.get("aigw_requests_total", **req_labels("mx-limited", "tl")), 3,
             "200s of mx-limited")


def label_sets(m, name):
    """{frozenset(labels): value} of every sample of name."""
    return {ls: v for (n, ls), v in m.samples.items() if n == name}


@tap.case("model names a client sends never become rate-limit labels: random names with a "
          "limited key and with an unlimited one are 404s and add no series")
def _(env):
    before = scrape(env.gw)
    names = ["rl-random-%s" % unique_id() for _ in range(6)]
    for i, name in enumerate(names):
        resp = chat(env, name, key=LIMITED_KEY if i % 2 else KEY)
        check_eq(resp.status, 404, "unknown model %s" % name)
    after = scrape(env.gw)
    check_eq(set(label_sets(after, "aigw_ratelimit_rejections_total")),
             set(label_sets(before, "aigw_ratelimit_rejections_total")),
             "rate-limit series after random model names")
    check_eq(set(label_sets(after, "aigw_stream_errors_total")),
             set(label_sets(before, "aigw_stream_errors_total")),
             "stream error series after random model names")
    for name in names:
        check(name not in after.text, "%s in /metrics", name)


@tap.case("upstream errors by reason (status_5xx, status_429, timeout, connect_error); "
          "the open breaker shows 1")
def _(env):
    before = scrape(env.gw)
    check_eq(chat(env, "mx-err", mock={"status": 500}).status, 500, "upstream 500")
    check_eq(chat(env, "mx-err", mock={"status": 503}).status, 503, "upstream 503")
    check_eq(chat(env, "mx-err", mock={"status": 429}).status, 429, "upstream 429")
    check_eq(chat(env, "mx-err", mock={"first_byte_ms": 1500}).status, 504, "first byte late")
    check_eq(chat(env, "mx-brk").status, 502, "nothing listens")
    check_eq(chat(env, "mx-brk").status, 503, "breaker open: no target")
    after = scrape(env.gw)

    def d(reason, model="mx-err", target="bad"):
        labels = {"model": model, "target": target, "reason": reason}
        return (after.get("aigw_upstream_errors_total", **labels) -
                before.get("aigw_upstream_errors_total", **labels))
    check_eq(d("status_5xx"), 2, "status_5xx")
    check_eq(d("status_429"), 1, "status_429")
    check_eq(d("timeout"), 1, "timeout")
    check_eq(d("connect_error", "mx-brk", "dead"), 1, "connect_error")
    check_eq(after.get("aigw_breaker_open", model="mx-brk", target="dead"), 1, "breaker of dead")
    check(not after.has("aigw_breaker_open", model="mx-err", target="bad"),
          "a breaker listed for a model without one")
    check_eq(after.get("aigw_requests_total", **req_labels("mx-brk", status=503)) -
             before.get("aigw_requests_total", **req_labels("mx-brk", status=503)), 1,
             "the 503 of the open breaker")
    check_eq(after.get("aigw_requests_total", **req_labels("mx-err", "bad", 504)) -
             before.get("aigw_requests_total", **req_labels("mx-err", "bad", 504)), 1,
             "the 504")


@tap.case("aigw_active_requests counts a slow stream while it runs, then 0")
def _(env):
    check_eq(scrape(env.gw).get("aigw_active_requests"), 0, "active requests at rest")
    body = chat_body(model="mx-split", stream=True, mock={"chunks": 8, "delay_ms": 300})
    with Stream(env.gw.port, "/v1/chat/completions", body, key=KEY) as s:
        check_eq(s.status, 200, "stream status")
        events = s.events()
        next(events)
        check_eq(scrape(env.gw).get("aigw_active_requests"), 1, "active during the stream")
        for _ in events:
            pass
    wait_for(lambda: scrape(env.gw).get("aigw_active_requests") == 0, 5 * SLOW,
             what="aigw_active_requests back to 0")


@tap.case("configuration version and last change time follow a reload")
def _(env):
    m = scrape(env.gw)
    check_eq(m.get("aigw_config_version"), env.gw.config_version(key=KEY), "config version")
    t0 = m.get("aigw_config_last_change_timestamp_seconds")
    check(0 < t0 <= time.time() + 1, "last change %r", t0)
    res = resources(env.a, env.b)
    res["models"].append({"name": "mx-new", "provider": PROVIDER, "model": "n",
                          "api_base": env.a.url()})
    env.gw.write_resources(res)
    env.gw.reload()
    m2 = wait_for(lambda: (lambda x: x if x.get("aigw_config_version") > m.get(
        "aigw_config_version") else None)(scrape(env.gw)), 10 * SLOW, what="a new version")
    check_eq(m2.get("aigw_config_version"), m.get("aigw_config_version") + 1, "version + 1")
    t1 = m2.get("aigw_config_last_change_timestamp_seconds")
    check(t0 <= t1 and abs(t1 - time.time()) < 10, "last change %r after %r", t1, t0)


def stream_errors(m, reason):
    return m.get("aigw_stream_errors_total", model="mx-stream", reason=reason)


@tap.case("a stream that began with 200 and then failed is counted by reason: an upstream "
          "error event, a broken connection, an end without [DONE], stream_idle, the client "
          "leaving; a stream that failed before its 200 and one that ended well are not")
def _(env):
    before = scrape(env.gw)
    cases = (("upstream_error", {"chunks": 3, "stream_error": 1}),
             ("upstream_disconnected", {"chunks": 3, "reset_after": 1}),
             ("truncated", {"chunks": 3, "close_after": 1}),
             ("idle_timeout", {"chunks": 3, "delay_ms": 2500}))
    for reason, mock in cases:
        resp = chat(env, "mx-stream", stream=True, mock=mock)
        check_eq(resp.status, 200, "stream ending in %s" % reason)
        check('"error"' in resp.body.decode() and "[DONE]" not in resp.body.decode(),
              "%s: no error event, or a [DONE]: %r", reason, resp.body[-300:])
    check_eq(chat(env, "mx-stream", stream=True, mock={"status": 500}).status, 500,
             "a stream refused before its first event")
    check_eq(chat(env, "mx-stream", stream=True).status, 200, "a stream that ends well")
    after = scrape(env.gw)
    for reason, _ in cases:
        check_eq(stream_errors(after, reason) - stream_errors(before, reason), 1, reason)
    check_eq(after.total("aigw_stream_errors_total", model="mx-stream") -
             before.total("aigw_stream_errors_total", model="mx-stream"), len(cases),
             "stream errors of mx-stream, all reasons")
    # the client leaves after the first event: counted once the worker sees it go
    body = chat_body(model="mx-stream", stream=True, mock={"chunks": 8, "delay_ms": 300})
    with Stream(env.gw.port, "/v1/chat/completions", body, key=KEY) as s:
        check_eq(s.status, 200, "stream status")
        next(s.events())
    wait_for(lambda: stream_errors(scrape(env.gw), "client_closed") -
             stream_errors(after, "client_closed") == 1, 10 * SLOW,
             what="client_closed counted")
    check_eq(scrape(env.gw).total("aigw_stream_errors_total", model="mx-stream") -
             after.total("aigw_stream_errors_total", model="mx-stream"), 1,
             "only client_closed grew")


@tap.case("a stream cut by timeouts.total counts as total_timeout; one cut by its worker "
          "stopping (SIGQUIT) as shutdown")
def _(env):
    before = scrape(env.gw)
    resp = chat(env, "mx-stream-total", stream=True, mock={"chunks": 20, "delay_ms": 300})
    check_eq(resp.status, 200, "a stream longer than its total timeout")
    after = scrape(env.gw)
    check_eq(after.get("aigw_stream_errors_total", model="mx-stream-total",
                       reason="total_timeout") -
             before.get("aigw_stream_errors_total", model="mx-stream-total",
                        reason="total_timeout"), 1, "total_timeout")
    body = chat_body(model="mx-stream", stream=True, mock={"chunks": 20, "delay_ms": 300})
    pids = env.gw.wait_workers(2)
    with Stream(env.gw.port, "/v1/chat/completions", body, key=KEY) as s:
        check_eq(s.status, 200, "stream status")
        next(s.events())
        for pid in pids:
            env.gw.kill_worker(pid, signal.SIGQUIT)
        for _ in s.events():  # the worker is gone: the stream ends
            pass
    wait_for(lambda: stream_errors(scrape(env.gw), "shutdown") -
             stream_errors(after, "shutdown") == 1, 10 * SLOW, what="shutdown counted")
    env.gw.wait_workers(2, exclude=pids)
    wait_for(lambda: len(label_sets(scrape(env.gw), "process_start_time_seconds")) == 3,
             10 * SLOW, what="the new workers serving")


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name, numbered as proc(5) does."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    return dict(enumerate(text[text.rindex(")") + 2:].split(), start=3))


def proc_start_time(pid):
    with open("/proc/stat") as f:
        btime = int(re.search(r"^btime (\d+)$", f.read(), re.M).group(1))
    return btime + int(proc_stat(pid)[22]) / os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    st = proc_stat(pid)
    return (int(st[14]) + int(st[15])) / os.sysconf("SC_CLK_TCK")


def proc_nofile(pid):
    with open("/proc/%d/limits" % pid) as f:
        return int(re.search(r"^Max open files\s+(\d+)", f.read(), re.M).group(1))


def processes(env):
    """[(labels, pid)] of the master and every running worker (by its slot in status)."""
    ws = [w for w in env.gw.status()["workers"] if w["pid"]]
    check_eq(len(ws), 2, "running workers in status")
    return [({"process": "master"}, env.gw.pid)] + [
        ({"process": "worker", "worker": str(w["slot"])}, w["pid"]) for w in ws]


PROC_FAMILIES = ("process_cpu_seconds_total", "process_resident_memory_bytes",
                 "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                 "process_start_time_seconds")


@tap.case("process_* of the master and of each worker, labelled process and worker, agree "
          "with /proc; CPU seconds grow with traffic")
def _(env):
    procs = processes(env)
    m = scrape(env.gw)
    for name, kind in zip(PROC_FAMILIES, ("counter",) + ("gauge",) * 5):
        check("# TYPE %s %s\n" % (name, kind) in m.text, "no %s %s", kind, name)
        check_eq(set(label_sets(m, name)), {frozenset(ls.items()) for ls, _ in procs},
                 "the processes of %s" % name)
    for labels, pid in procs:
        what = "%s (pid %d)" % (labels, pid)
        check(m.get("process_open_fds", **labels) > 2, "open fds of %s", what)
        check_eq(m.get("process_max_fds", **labels), proc_nofile(pid), "max fds of %s" % what)
        check(m.get("process_open_fds", **labels) <= m.get("process_max_fds", **labels),
              "open fds above the limit for %s", what)
        rss = m.get("process_resident_memory_bytes", **labels)
        check(0 < rss <= m.get("process_virtual_memory_bytes", **labels),
              "resident %r, virtual %r of %s", rss,
              m.get("process_virtual_memory_bytes", **labels), what)
        check(abs(m.get("process_start_time_seconds", **labels) - proc_start_time(pid)) < 0.002,
              "start time %r of %s, /proc says %r",
              m.get("process_start_time_seconds", **labels), what, proc_start_time(pid))
        check(m.get("process_cpu_seconds_total", **labels) <= proc_cpu(pid),
              "cpu seconds of %s ahead of /proc", what)

    def cpu(x):
        return sum(x.get("process_cpu_seconds_total", **ls) for ls, _ in procs[1:])
    c0 = cpu(m)

    def busier():
        for _ in range(20):
            check_eq(chat(env, "mx-split").status, 200, "a request")
        x = scrape(env.gw)
        return x if cpu(x) > c0 else None
    wait_for(busier, 60 * SLOW, interval=0, what="the workers' CPU seconds to grow")


def reloaded(env, ok, before):
    """Reload through the control socket (ok: expected to succeed); check the reload
    families moved accordingly from the scrape before; the scrape after."""
    r = env.gw.control("reload", timeout=40 * SLOW)
    check(r["ok"] is ok, "reload (expected ok %s): %r", ok, r)
    m = scrape(env.gw)
    check_eq(m.get("aigw_config_last_reload_successful"), 1 if ok else 0, "last reload result")
    for result, n in (("success", 1 if ok else 0), ("failure", 0 if ok else 1)):
        check_eq(m.get("aigw_config_reloads_total", result=result) -
                 before.get("aigw_config_reloads_total", result=result), n, "%s count" % result)
    return m


@tap.case("a reload that fails sets aigw_config_last_reload_successful to 0 and counts a "
          "failure, keeping the success time; the next good one sets 1 and a new time")
def _(env):
    m0 = scrape(env.gw)
    check_eq(m0.get("aigw_config_last_reload_successful"), 1, "last reload at rest")
    for result in ("success", "failure"):
        check(m0.has("aigw_config_reloads_total", result=result), "no %s series", result)
    t0 = m0.get("aigw_config_last_reload_success_timestamp_seconds")
    check(0 < t0 <= time.time(), "success time %r", t0)
    env.gw.write_resources("models: [ {name: mx-broken\n")
    m1 = reloaded(env, False, m0)
    check_eq(m1.get("aigw_config_last_reload_success_timestamp_seconds"), t0, "success time")
    check_eq(chat(env, "mx-split").status, 200, "the old configuration still serves")
    env.gw.write_resources(resources(env.a, env.b))
    t_before = int(time.time() * 1000) / 1000.0
    m2 = reloaded(env, True, m1)
    t2 = m2.get("aigw_config_last_reload_success_timestamp_seconds")
    check(t2 >= t_before and t2 > t0, "success time %r, reload sent at %r", t2, t_before)


@tap.case("aigw_worker_config_version: each worker's version reaches the table's after a "
          "change, idle workers too")
def _(env):
    m = scrape(env.gw)
    slots = {ls["worker"] for ls, _ in processes(env)[1:]}
    check_eq({dict(ls)["worker"] for ls in label_sets(m, "aigw_worker_config_version")}, slots,
             "workers of aigw_worker_config_version")
    res = resources(env.a, env.b)
    res["models"].append({"name": "mx-version-%s" % unique_id(), "provider": PROVIDER,
                          "model": "v", "api_base": env.a.url()})
    env.gw.write_resources(res)
    r = env.gw.control("reload", timeout=40 * SLOW)
    check(r["ok"] is True, "reload: %r", r)
    want = scrape(env.gw).get("aigw_config_version")
    check(want > m.get("aigw_config_version"), "the table's version did not move")

    def caught_up():
        vs = label_sets(scrape(env.gw), "aigw_worker_config_version")
        return vs if vs and all(v == want for v in vs.values()) else None
    vs = wait_for(caught_up, 10 * SLOW, what="every worker at version %d" % want)
    check_eq({dict(ls)["worker"] for ls in vs}, slots, "the same workers")


@tap.case("promtool check metrics passes on the output")
def _(env):
    check(os.access(PROMTOOL, os.X_OK), "%s is missing (Debian package prometheus)", PROMTOOL)
    text = scrape(env.gw).text
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool exit %d:\n%s%s", r.returncode, r.stdout, r.stderr)


class Prometheus(LogFile):
    """/usr/bin/prometheus scraping one target every second, with its own
    config, storage and a free port; stopped by PID."""

    def __init__(self, target):
        self.dir = make_tmpdir("aigw-prom-")
        self.logpath = os.path.join(self.dir, "prometheus.log")
        self.port = free_port()
        conf = os.path.join(self.dir, "prometheus.yml")
        write_file(conf, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                         "scrape_configs:\n  - job_name: aigw\n    static_configs:\n"
                         "      - targets: ['%s']\n" % target)
        args = [PROMETHEUS, "--config.file=" + conf,
                "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
                "--web.listen-address=%s:%d" % (HOST, self.port), "--log.level=warn"]
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                         cwd=self.dir)
        _register(self)

    def api(self, path, **params):
        url = "http://%s:%d/api/v1/%s?%s" % (HOST, self.port, path, urllib.parse.urlencode(params))
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            if self.proc.poll() is not None:
                raise TestFailure("prometheus exited %s:\n%s" % (self.proc.returncode,
                                                                 self.log()[-2000:]))
            return None

    def stop(self):
        rc = terminate_pid(self.proc.pid, self.proc)
        _unregister(self)
        return rc

    def kill_now(self):
        terminate_pid(self.proc.pid, self.proc, timeout=3)


@tap.case("a real Prometheus scrapes the gateway: its query API says aigw_requests_total > 0, "
          "and runs every query of the Grafana dashboard")
def _(env):
    check(os.access(PROMETHEUS, os.X_OK), "%s is missing (Debian package prometheus)", PROMETHEUS)
    prom = Prometheus("%s:%d" % (HOST, metrics_port(env.gw)))
    try:
        def up():
            r = prom.api("targets")
            if not r:
                return None
            ts = r["data"]["activeTargets"]
            return ts if ts and ts[0]["health"] == "up" else None
        ts = wait_for(up, 30 * SLOW, interval=0.2, what="prometheus to scrape aigw")
        check_eq(ts[0]["lastError"], "", "the scrape's last error")

        def total():
            r = prom.api("query", query="sum(aigw_requests_total)")
            res = r and r["data"]["result"]
            return float(res[0]["value"][1]) if res and float(res[0]["value"][1]) > 0 else None
        n = wait_for(total, 20 * SLOW, interval=0.2, what="aigw_requests_total in prometheus")
        tap.diag("prometheus: sum(aigw_requests_total) = %g" % n)
        r = prom.api("query", query='histogram_quantile(0.99, sum by (le) '
                                    '(aigw_request_duration_seconds_bucket))')
        check(r["status"] == "success" and r["data"]["result"], "p99 query: %r", r)
        # every query of the Grafana dashboard is valid PromQL on what aigw exports
        families = set(re.findall(r"^# TYPE (\S+) ", scrape(env.gw).text, re.M))
        families.add("aigw_etcd_connected")  # etcd mode only (last case)
        for title, expr in dashboard_queries():
            for name in re.findall(r"\b((?:aigw|process)_[a-z_]+?)(?:_bucket|_sum|_count)?\b",
                                   expr):
                check(name in families, "panel %r: %s is not exported", title, name)
            q = (expr.replace("$__rate_interval", "1m").replace("$instance", ".*")
                 .replace("$model", ".*"))
            r = prom.api("query", query=q)
            check(r is not None and r.get("status") == "success", "panel %r: %s: %r", title, q, r)
    finally:
        check_eq(prom.stop(), 0, "prometheus exit status on SIGTERM")


def dashboard_queries():
    """(panel title, PromQL) of packaging/grafana/aigw-dashboard.json, which
    must pick its Prometheus through a datasource variable."""
    path = os.path.join(SRCDIR, "packaging", "grafana", "aigw-dashboard.json")
    with open(path) as f:
        dash = json.load(f)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    check(variables.get("datasource", {}).get("type") == "datasource" and
          variables["datasource"].get("query") == "prometheus", "no prometheus datasource variable")
    out = []
    for p in dash["panels"]:
        if p["type"] == "row":
            continue
        check(p["datasource"] == {"type": "prometheus", "uid": "${datasource}"},
              "panel %r does not use ${datasource}", p["title"])
        for t in p["targets"]:
            out.append((p["title"], t["expr"]))
    check(len(out) >= 15, "only %d queries in the dashboard", len(out))
    return out


def worker_labels(m):
    """The worker label of every worker's process_start_time_seconds."""
    return {dict(ls)["worker"] for ls in label_sets(m, "process_start_time_seconds")
            if dict(ls)["process"] == "worker"}


def reload_workers(env, n):
    """aigw.yaml with n workers, reloaded; the slots of the new generation's workers."""
    env.gw.write_config(dict(env.gw.config, workers=n))
    r = env.gw.control("reload", timeout=40 * SLOW)
    check(r["ok"] is True, "reload to %d workers: %r", n, r)
    st = env.gw.status()
    return {str(w["slot"]) for w in st["workers"] if w["generation"] == st["generation"]}


@tap.case("a reload that starts new workers while an old one still streams: each has its own "
          "worker label (no series twice), and the old one's series go when it leaves")
def _(env):
    old = worker_labels(scrape(env.gw))
    body = chat_body(model="mx-split", stream=True, mock={"chunks": 8, "delay_ms": 400})
    try:
        with Stream(env.gw.port, "/v1/chat/completions", body, key=KEY) as s:
            check_eq(s.status, 200, "stream status")
            next(s.events())
            new = reload_workers(env, 3)
            check_eq(len(new), 3, "new workers")
            check(not new & old, "a new worker in an old slot: %r, %r", new, old)
            m = wait_for(lambda: (lambda x: x if new <= worker_labels(x) else None)(
                scrape(env.gw)), 10 * SLOW, what="the new workers' process_* series")
            check(worker_labels(m) & old, "the draining worker's series is gone while it "
                  "streams: %r", worker_labels(m))
            for _ in s.events():
                pass
        wait_for(lambda: worker_labels(scrape(env.gw)) == new, 20 * SLOW,
                 what="only the new workers' series")
    finally:
        back = reload_workers(env, 2)
    wait_for(lambda: worker_labels(scrape(env.gw)) == back and
             len([w for w in env.gw.status()["workers"] if w["pid"]]) == 2, 20 * SLOW,
             what="two workers again")


@tap.case("a worker killed with SIGKILL is counted in aigw_worker_restarts_total; "
          "the counts survive it")
def _(env):
    before = scrape(env.gw)
    pids = env.gw.wait_workers(2)
    env.gw.kill_worker(pids[0])
    after = wait_for(lambda: (lambda m: m if m.get("aigw_worker_restarts_total") >
                              before.get("aigw_worker_restarts_total") else None)(scrape(env.gw)),
                     10 * SLOW, what="the restart to be counted")
    check_eq(after.get("aigw_worker_restarts_total") - before.get("aigw_worker_restarts_total"),
             1, "restarts")
    env.gw.wait_workers(2, exclude=[pids[0]])
    # the new worker takes the dead one's slot: once it serves, the same process_* series
    # as before, with its own start time
    want = set(label_sets(before, "process_start_time_seconds"))
    m = wait_for(lambda: (lambda x: x if set(label_sets(x, "process_start_time_seconds")) ==
                          want else None)(scrape(env.gw)), 10 * SLOW,
                 what="the new worker's process_* series")
    procs = processes(env)
    for labels, pid in procs:
        check(abs(m.get("process_start_time_seconds", **labels) - proc_start_time(pid)) < 0.002,
              "start time of %s (pid %d)", labels, pid)
    check_eq(after.get("aigw_requests_total", **req_labels("mx-limited", "tl")),
             before.get("aigw_requests_total", **req_labels("mx-limited", "tl")),
             "requests counted before the kill")
    check_eq(chat(env, "mx-split").status, 200, "a request after the restart")


@tap.case("etcd mode: aigw_etcd_connected is 1, and 0 once etcd is gone")
def _(env):
    etcd = Etcd()
    gw = None
    try:
        gw = Gateway({"models": [], "api_keys": []},
                     config={"workers": 1, "etcd": {"endpoints": [etcd.url()],
                                                    "prefix": "/mx-%s" % unique_id()}})
        wait_for(lambda: scrape(gw).get("aigw_etcd_connected") == 1, 10 * SLOW,
                 what="aigw_etcd_connected 1")
        etcd.stop()
        wait_for(lambda: scrape(gw).has("aigw_etcd_connected") and
                 scrape(gw).get("aigw_etcd_connected") == 0, 15 * SLOW,
                 what="aigw_etcd_connected 0")
    finally:
        if gw is not None:
            gw.stop()
        etcd.stop()


if __name__ == "__main__":
    main(tap, fixture)
