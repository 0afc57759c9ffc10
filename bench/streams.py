#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/streams.py: open N streaming chat completions and hold them open.

The load generator of bench/memory (run by it; see bench/README.md). It opens
N keep-alive connections to HOST:PORT (at most --connecting at a time), sends
one streaming POST on each and waits for the response's first SSE event. When
every stream has its first event (or --open-timeout has passed) it prints

    OPEN open=N failed=F seconds=S

holds the streams for --hold seconds while draining what arrives, closes every
connection and prints

    DONE open=N failed=F events=E ended_early=X seconds=S

Everything is bounded: connects and first events by --open-timeout, the hold
by --hold. Only 127.0.0.1 is expected (the caller's choice of HOST).
"""

import argparse
import asyncio
import resource
import sys
import time


async def one(args, body, sem, state, opened, release):
    writer = None
    try:
        async with sem:
            reader, writer = await asyncio.open_connection(args.host, args.port)
            req = ("POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                   "Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                   % (args.path, args.host, args.port, args.key, len(body))).encode() + body
            writer.write(req)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
            buf = b""
            while b"data:" not in buf:
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("closed before the first event")
                buf += chunk
        state["open"] += 1
        state["events"] += buf.count(b"data:")
        if state["open"] + state["failed"] == args.n:
            opened.set()
        # hold: drain until told to stop
        while not release.is_set():
            chunk = await reader.read(65536)
            if not chunk:
                state["ended_early"] += 1
                break
            state["events"] += chunk.count(b"data:")
    except Exception as e:  # noqa: BLE001 - any failure counts as failed
        state["failed"] += 1
        if state["failed"] <= 3:
            print("stream failed: %s: %s" % (type(e).__name__, e), file=sys.stderr, flush=True)
        if state["open"] + state["failed"] == args.n:
            opened.set()
    finally:
        if writer is not None:
            writer.close()


async def main(args):
    body = args.body.encode()
    sem = asyncio.Semaphore(args.connecting)
    state = {"open": 0, "failed": 0, "events": 0, "ended_early": 0}
    opened, release = asyncio.Event(), asyncio.Event()
    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(one(args, body, sem, state, opened, release)) for _ in range(args.n)]
    try:
        await asyncio.wait_for(opened.wait(), args.open_timeout)
    except asyncio.TimeoutError:
        pass
    print("OPEN open=%d failed=%d seconds=%.1f" % (state["open"], state["failed"], time.monotonic() - t0),
          flush=True)
    await asyncio.sleep(args.hold)
    release.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print("DONE open=%d failed=%d events=%d ended_early=%d seconds=%.1f"
          % (state["open"], state["failed"], state["events"], state["ended_early"], time.monotonic() - t0),
          flush=True)


def parse():
    ap = argparse.ArgumentParser(description="open N streams and hold them (bench/memory)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/v1/chat/completions")
    ap.add_argument("--key", default="sk-bench-key-123")
    ap.add_argument("--body", required=True, help="the JSON request body (a stream)")
    ap.add_argument("-n", type=int, required=True, help="streams to open")
    ap.add_argument("--connecting", type=int, default=200, help="connections being opened at a time")
    ap.add_argument("--open-timeout", type=float, default=60.0)
    ap.add_argument("--hold", type=float, default=5.0)
    args = ap.parse_args()
    if args.n < 1 or args.connecting < 1:
        ap.error("-n and --connecting must be at least 1")
    return args


if __name__ == "__main__":
    a = parse()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    asyncio.run(main(a))
