"""End-to-end: token counts an upstream should never send (issue 11).

The mock's `usage` control makes it report any usage object. aigw takes
every count into 0..10^9 (aigw(8), USAGE): a negative counts 0, so it
cannot give a key's token window back what other requests used; a count
near INT64_MAX counts 10^9, and no sum of counts overflows (under the
sanitizers the old code's worker aborted on "signed integer overflow").
The access line stays valid (non-negative integers), the error log warns
naming the target (never its key), and the client's answer is still 200.

One mock, one aigw with one worker. Key k-day has a token limit per day
(a day window: it cannot roll over between two requests but at midnight).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, TAP, Stream, check, check_eq, main, mock_and_gateway, rl_headers,
        standard_resources, usage_body)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

MAX = 10 ** 9
BIG = 9223372036854775807
DAY_LIMIT = 10 ** 6
DAY_KEY = "sk-usage-day-0001"
FREE_KEY = "sk-test-all"
TARGET = "openai-compatible/mock-1"  # the one target of mock-gpt, as aigw names it
WARN = "its usage has token counts that are not integers in 0..%d" % MAX


def resources(mock_port):
    return standard_resources(mock_port, extra_keys=[
        {"id": "k-day", "name": "k-day", "key": DAY_KEY,
         "limits": {"tokens_per_day": DAY_LIMIT}},
        {"id": "k-day2", "name": "k-day2", "key": "sk-usage-day-0002",
         "limits": {"tokens_per_day": DAY_LIMIT}}])


def fixture():
    return mock_and_gateway(resources, config={"workers": 1})


def body_with_usage(usage, stream=False):
    """A chat body (max_tokens set: the reservation is known) whose answer reports usage."""
    return usage_body("mock-gpt", prompt_words=5, chunks=2, stream=stream,
                      mock={"usage": json.dumps(usage, separators=(",", ":"))},
                      max_tokens=10)


def post(gw, key, body):
    resp = gw.request("POST", "/v1/chat/completions", body, key=key)
    check_eq(resp.status, 200, "status of a chat whose upstream reports nonsense usage")
    return resp


def tokens(gw, resp):
    line = gw.access_line(resp.headers["x-request-id"])
    return line["prompt_tokens"], line["completion_tokens"], line["total_tokens"]


@tap.case("negative counts: the access line says 0, and the day window keeps what an "
          "earlier request used")
def _(env):
    gw = env.gw
    first = post(gw, DAY_KEY, usage_body("mock-gpt", prompt_words=5, chunks=2, max_tokens=10))
    check_eq(tokens(gw, first), (5, 2, 7), "a sane answer's tokens")
    neg = body_with_usage({"prompt_tokens": -1000000, "completion_tokens": -5,
                           "total_tokens": -1000005})
    b = post(gw, DAY_KEY, neg)
    check_eq(tokens(gw, b), (0, 0, 0), "the tokens of an answer with negative counts")
    _, left_b, _ = rl_headers(b, "tokens", "second request")
    # The same body again: the same reservation. The window still holds the
    # first request's 7 tokens (and 0 for the second), so what is left at its
    # admission is what was left at the second's.
    c = post(gw, DAY_KEY, neg)
    _, left_c, _ = rl_headers(c, "tokens", "third request")
    check_eq(left_c, left_b, "tokens left after an answer of -1000005 tokens")
    check_eq(left_b, DAY_LIMIT - 7 - (-(-len(json.dumps(neg)) // 4) + 10),
             "tokens left: the limit less 7 used and the reservation")


@tap.case("counts near INT64_MAX: 10^9 each (no overflow); the window is full, the next "
          "request is refused")
def _(env):
    gw = env.gw
    key = "sk-usage-day-0002"
    huge = body_with_usage({"prompt_tokens": BIG, "completion_tokens": BIG})
    r = post(gw, key, huge)
    check_eq(tokens(gw, r), (MAX, MAX, MAX), "tokens of an answer of INT64_MAX counts")
    nxt = gw.request("POST", "/v1/chat/completions", usage_body("mock-gpt"), key=key)
    check_eq(nxt.status, 429, "a request after 10^9 tokens of a 10^6 day limit")


@tap.case("a stream's usage chunk with absurd counts, a fraction and a string: clamped")
def _(env):
    gw = env.gw
    body = body_with_usage({"prompt_tokens": BIG, "completion_tokens": 1.5,
                            "total_tokens": "12",
                            "prompt_tokens_details": {"cached_tokens": -BIG}}, stream=True)
    with Stream(gw.port, "/v1/chat/completions", body, key=FREE_KEY) as s:
        s.read_all()
        check_eq(s.status, 200, "stream status")
        rid = s.headers["x-request-id"]
    line = gw.access_line(rid)
    check_eq((line["prompt_tokens"], line["completion_tokens"], line["total_tokens"]),
             (MAX, 0, 0), "a stream's clamped tokens")


@tap.case("an Anthropic client of an OpenAI upstream: prompt INT64_MAX less cached -1 "
          "does not overflow; input_tokens is 10^9")
def _(env):
    gw = env.gw
    body = {"model": "mock-gpt", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hello"}]}
    usage = json.dumps({"prompt_tokens": BIG, "completion_tokens": -1,
                        "prompt_tokens_details": {"cached_tokens": -1}})
    with env.mock.controls(usage=usage):  # the translation drops a body's "mock"
        r = gw.request("POST", "/v1/messages", body,
                       headers={"x-api-key": FREE_KEY, "anthropic-version": "2023-06-01"})
    check_eq(r.status, 200, "status")
    u = r.json()["usage"]
    check_eq((u["input_tokens"], u["output_tokens"], u["cache_read_input_tokens"]),
             (MAX, 0, 0), "Anthropic usage of clamped counts")


@tap.case("the error log warns, naming the target and never its key")
def _(env):
    log = env.gw.log()
    check("target %s: %s" % (TARGET, WARN) in log, "no warning naming the target in %r",
          log[-3000:])
    check(MOCK_KEY not in log, "the provider key is in the error log")


if __name__ == "__main__":
    main(tap, fixture)
