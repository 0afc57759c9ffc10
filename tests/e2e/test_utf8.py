"""End-to-end: a client's invalid UTF-8 never makes JSON text that is not
UTF-8 (issue 11, item 4).

A model name with the bytes FF FE, a path with them, an Admin API member
name with them: aigw quotes such client strings in error bodies ("The model
`...` does not exist", "Unknown Admin API path: ...", a resource's unknown
field) and in the access line (path, model). Each invalid byte becomes
U+FFFD there, so every body and every access line decodes as strict UTF-8
and parses as JSON (RFC 8259 requires UTF-8). json-c copied such bytes as
they were: the old code's bodies and lines did not decode.

One mock and one aigw (the Admin API open on loopback) serve every case.
"""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, HTTP_TIMEOUT, TAP, check, check_eq, main, mock_and_gateway, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

KEY = "sk-test-all"
BAD = b"\xff\xfe"
FFFD = "\ufffd"


def fixture():
    return mock_and_gateway()


def raw_request(port, method, path, body=b"", headers=()):
    """One request with path and body as raw bytes (http.client would refuse
    them); the answer's status and body bytes. Connection: close."""
    head = [b"%s %s HTTP/1.1" % (method.encode(), path), b"Host: 127.0.0.1",
            b"Connection: close", b"Content-Length: %d" % len(body)]
    head += [h.encode() if isinstance(h, str) else h for h in headers]
    data = b"\r\n".join(head) + b"\r\n\r\n" + body
    with socket.create_connection((HOST, port), timeout=HTTP_TIMEOUT) as s:
        s.sendall(data)
        chunks = []
        for _ in range(10000):  # bounded; the server closes when it is done
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    resp = b"".join(chunks)
    head, _, rbody = resp.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    rid = None
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"x-request-id":
            rid = v.strip().decode("ascii")
    return status, rbody, rid


def strict_json(data, what):
    """data decoded as strict UTF-8 and parsed as JSON; fails otherwise."""
    try:
        text = data.decode("utf-8", "strict")
    except UnicodeDecodeError as exc:
        check(False, "%s is not UTF-8: %s: %r", what, exc, data[:300])
    try:
        return json.loads(text)
    except ValueError as exc:
        check(False, "%s is not JSON: %s: %r", what, exc, text[:300])


def access_line_bytes(gw, rid):
    """The access line of request rid as bytes, from the log (the gateway runs
    with -d: its access lines go to its log)."""
    needle = b'"request_id":"%s"' % rid.encode()

    def find():
        with open(gw.logpath, "rb") as f:
            for line in f.read().split(b"\n"):
                if needle in line and line.startswith(b"{"):
                    return line
        return None
    return wait_for(find, 5.0 * 3, what="access line of %s" % rid)


@tap.case("an unknown model named with bytes FF FE: the 404 body and the access line are "
          "strict UTF-8 JSON, with U+FFFD")
def _(env):
    body = (b'{"model":"m-' + BAD + b'-x","messages":[{"role":"user","content":"hi"}]}')
    status, rbody, rid = raw_request(env.gw.port, "POST", b"/v1/chat/completions", body,
                                     ["Authorization: Bearer " + KEY,
                                      "Content-Type: application/json"])
    check_eq(status, 404, "status of an unknown model")
    err = strict_json(rbody, "the error body")["error"]
    check("m-%s%s-x" % (FFFD, FFFD) in err["message"], "the message: %r", err["message"])
    line = strict_json(access_line_bytes(env.gw, rid), "the access line")
    check_eq(line["model"], "m-%s%s-x" % (FFFD, FFFD), "the access line's model")


@tap.case("Anthropic's Messages API: the same, in Anthropic's error shape")
def _(env):
    body = (b'{"model":"' + BAD + b'","max_tokens":5,'
            b'"messages":[{"role":"user","content":"hi"}]}')
    status, rbody, rid = raw_request(env.gw.port, "POST", b"/v1/messages", body,
                                     ["x-api-key: " + KEY, "anthropic-version: 2023-06-01",
                                      "Content-Type: application/json"])
    check_eq(status, 404, "status of an unknown model")
    err = strict_json(rbody, "the error body")["error"]
    check(FFFD + FFFD in err["message"], "the message: %r", err["message"])
    strict_json(access_line_bytes(env.gw, rid), "the access line")


@tap.case("a path with bytes FF FE: the 404 body and the access line are strict UTF-8 JSON")
def _(env):
    status, rbody, rid = raw_request(env.gw.port, "GET", b"/v1/x" + BAD, b"",
                                     ["Authorization: Bearer " + KEY])
    check_eq(status, 404, "status of an unknown path")
    strict_json(rbody, "the error body")
    line = strict_json(access_line_bytes(env.gw, rid), "the access line")
    check_eq(line["path"], "/v1/x" + FFFD + FFFD, "the access line's path")
    # with a body, the 404 comes from the check of the headers, before the body is read
    status, rbody, rid = raw_request(env.gw.port, "POST", b"/v1/x" + BAD, b'{"model":"m"}',
                                     ["Authorization: Bearer " + KEY])
    check_eq(status, 404, "status of an unknown path with a body")
    strict_json(rbody, "the error body of a POST")
    strict_json(access_line_bytes(env.gw, rid), "the access line of a POST")


@tap.case("Admin API: a path and an unknown member named with bytes FF FE: strict UTF-8 JSON")
def _(env):
    port = int(env.gw.config["admin"]["listen"][0].rsplit(":", 1)[1])
    status, rbody, _ = raw_request(port, "GET", b"/admin/v1/x" + BAD)
    check_eq(status, 404, "status of an unknown Admin API path")
    err = strict_json(rbody, "the Admin API's 404 body")["error"]
    check(FFFD in err["message"], "the message: %r", err["message"])
    body = (b'{"name":"u8","provider":"openai-compatible","api_base":"http://127.0.0.1:1/v1",'
            b'"f' + BAD + b'":1}')
    status, rbody, _ = raw_request(port, "PUT", b"/admin/v1/models/u8", body,
                                   ["Content-Type: application/json"])
    check_eq(status, 400, "status of an unknown member")
    err = strict_json(rbody, "the Admin API's 400 body")["error"]
    check(any("f%s%s" % (FFFD, FFFD) in d for d in err["details"]), "details: %r",
          err["details"])


if __name__ == "__main__":
    main(tap, fixture)
