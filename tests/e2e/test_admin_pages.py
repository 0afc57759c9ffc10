# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the Admin API's lists come in pages (limit, after).

One mock and one aigw (standalone, the Admin API on a port of its own, an
admin and a viewer admin key) whose resources file holds the standard
models and keys plus PAGE_KEYS API keys with ids pg-0000, pg-0001, ...:
enough for three default pages. The cases check the answer's members, the
default page and limit, that following `after` to the end yields every id
once and in order (also when the cursor's resource is deleted between two
pages), that a bad limit, cursor or parameter is a 400 naming the
parameter, and that a viewer pages too. The last case starts a gateway of
its own with BIG_KEYS API keys and bounds the size of a default answer: the
old answer held every key.
"""

import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, TAP, Gateway, check, check_eq, check_error_body, free_port, main,
        mock_and_gateway, request, standard_resources)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

ADMIN_KEY = "adm-pages-key-0123456789abcdef"
VIEWER_KEY = "view-pages-key-0123456789abcdef"
KEYS = "/admin/v1/api_keys"
MODELS = "/admin/v1/models"
PAGE_KEYS = 250
BIG_KEYS = 5000
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# A default answer with BIG_KEYS keys: 100 keys of ~170 bytes; every key was ~850 KB.
DEFAULT_ANSWER_MAX = 32 * 1024
MEMBERS = {"total", "items", "has_more", "first_id", "last_id"}


def admin_config():
    return {"admin": {"listen": ["%s:%d" % (HOST, free_port())],
                      "keys": [{"name": "root", "key": ADMIN_KEY, "role": "admin"},
                               {"name": "auditor", "key": VIEWER_KEY, "role": "viewer"}]}}


def page_keys(prefix, n):
    """n API keys with ids prefix-0000...; key_sha256 spares hashing n keys."""
    return [{"id": "%s-%04d" % (prefix, i), "name": "%s-%04d" % (prefix, i),
             "key_sha256": hashlib.sha256(b"sk-%s-%d" % (prefix.encode(), i)).hexdigest(),
             "allowed_models": ["mock-*"]} for i in range(n)]


def fixture():
    return mock_and_gateway(
        resources=lambda port: standard_resources(port, extra_keys=page_keys("pg", PAGE_KEYS)),
        config=admin_config())


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def get(gw, path, key=ADMIN_KEY):
    return request(admin_port(gw), "GET", path, key=key)


def page(gw, kind=KEYS, query="", key=ADMIN_KEY):
    """One page, its members checked; returns the answer's object."""
    path = kind + ("?" + query if query else "")
    resp = get(gw, path, key=key)
    check(resp.status == 200, "GET %s: %d %r", path, resp.status, resp.body[:300])
    obj = resp.json()
    check(isinstance(obj, dict) and set(obj) == MEMBERS, "GET %s: members %r", path,
          sorted(obj) if isinstance(obj, dict) else obj)
    items = obj["items"]
    check(isinstance(items, list), "GET %s: items is not a list", path)
    ids = [it["id"] for it in items]
    check(all(set(it) == {"id", "value", "revision"} for it in items),
          "GET %s: an item is not {id, value, revision}", path)
    check_eq(ids, sorted(set(ids)), "GET %s: ids in order, each once" % path)
    check_eq(obj["first_id"], ids[0] if ids else None, "GET %s: first_id" % path)
    check_eq(obj["last_id"], ids[-1] if ids else None, "GET %s: last_id" % path)
    check(isinstance(obj["has_more"], bool), "GET %s: has_more %r", path, obj["has_more"])
    check(isinstance(obj["total"], int), "GET %s: total %r", path, obj["total"])
    obj["ids"] = ids
    return obj


def every_id(gw, kind=KEYS, limit=MAX_LIMIT, key=ADMIN_KEY):
    """Follow after from the first page until has_more is false; the ids and
    the number of pages. At most 200 pages."""
    ids, after = [], None
    for n in range(1, 201):
        q = "limit=%d" % limit + ("&after=" + after if after else "")
        p = page(gw, kind, q, key=key)
        ids += p["ids"]
        if not p["has_more"]:
            return ids, n
        check(p["ids"], "a page with has_more and no items: %r", p)
        after = p["last_id"]
    raise AssertionError("still has_more after 200 pages")


@tap.case("default page: %d keys in id order, has_more, first_id, last_id, total of the table"
          % DEFAULT_LIMIT)
def _(env):
    allids, _ = every_id(env.gw)
    check_eq(len(allids), PAGE_KEYS + 2, "keys in the table (the file's and the standard two)")
    p = page(env.gw)
    check_eq(p["ids"], allids[:DEFAULT_LIMIT], "the default page is the first 100 ids")
    check_eq(p["has_more"], True, "has_more")
    check_eq(p["total"], PAGE_KEYS + 2, "total counts the table, not the page")
    # models page the same way
    m = page(env.gw, MODELS, "limit=2")
    check_eq((len(m["ids"]), m["has_more"], m["total"]), (2, True, 3), "models, limit 2")
    m2 = page(env.gw, MODELS, "limit=2&after=" + m["last_id"])
    check_eq((len(m2["ids"]), m2["has_more"]), (1, False), "models, the second page")
    check(m2["ids"][0] > m["last_id"], "the second page follows the first")


@tap.case("limit: 1, 7, the exact remainder, the maximum %d; an empty page after the last id"
          % MAX_LIMIT)
def _(env):
    allids, _ = every_id(env.gw)
    n = len(allids)
    for limit in (1, 7, n - 1, n, MAX_LIMIT):
        p = page(env.gw, KEYS, "limit=%d" % limit)
        check_eq(p["ids"], allids[:limit], "limit=%d: the first ids" % limit)
        check_eq(p["has_more"], limit < n, "limit=%d: has_more" % limit)
    p = page(env.gw, KEYS, "limit=5&after=" + allids[-1])
    check_eq((p["ids"], p["has_more"], p["first_id"], p["last_id"]), ([], False, None, None),
             "after the last id")
    p = page(env.gw, KEYS, "after=" + allids[-3])
    check_eq(p["ids"], allids[-2:], "after alone: the default limit")


@tap.case("following after (limit 30, then 1000): every id exactly once, in order")
def _(env):
    ids30, pages30 = every_id(env.gw, limit=30)
    ids1000, pages1000 = every_id(env.gw, limit=MAX_LIMIT)
    check_eq(len(ids30), len(set(ids30)), "no id twice")
    check_eq(ids30, sorted(ids30), "in id order")
    check_eq(ids30, ids1000, "the same ids in pages of 30 and of 1000")
    check_eq(pages30, -(-len(ids30) // 30), "pages of 30")
    check_eq(pages1000, 1, "one page of 1000")
    want = sorted(["admin", "team-a"] + ["pg-%04d" % i for i in range(PAGE_KEYS)])
    check_eq(ids30, want, "the ids of the resources file")


@tap.case("a viewer pages too (the cursor is read-only)")
def _(env):
    allids, _ = every_id(env.gw)
    ids, pages = every_id(env.gw, limit=64, key=VIEWER_KEY)
    check_eq(ids, allids, "the viewer's pages")
    check_eq(pages, 4, "pages of 64")


@tap.case("bad limit, after or parameter: 400 invalid_parameter naming it, nothing listed")
def _(env):
    bad = [("limit=0", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
           ("limit=1001", "limit"), ("limit=1e3", "limit"), ("limit=0x10", "limit"),
           ("limit=+5", "limit"), ("limit=5%20", "limit"), ("limit=", "limit"), ("limit", "limit"),
           ("limit=99999999999999999999", "limit"), ("limit=1&limit=2", "limit"),
           ("limit=%", "limit"), ("limit=5%00", "limit"),
           ("after=", "after"), ("after=a%00b", "after"), ("after=a%2Fb", "after"),
           ("after=a%ZZ", "after"), ("after=a*b", "after"), ("after=" + "a" * 129, "after"),
           ("after=%C3%A9", "after"), ("after=a&after=b", "after"),
           ("after=pg-0001&limit=0", "limit")]
    for q, param in bad:
        resp = get(env.gw, KEYS + "?" + q)
        err = check_error_body(resp, 400, q)
        check_eq((err.get("param"), err.get("code"), err.get("type")),
                 (param, "invalid_parameter", "invalid_request_error"), "%s: the error" % q)
        check(param in err["message"], "%s: the message names %s: %r", q, param, err["message"])
    for q, param in [("offset=5", "offset"), ("limit=5&cursor=x", "cursor"),
                     ("Limit=5", "Limit"), ("a%0Ab=1", "?")]:
        err = check_error_body(get(env.gw, MODELS + "?" + q), 400, q)
        check_eq((err.get("param"), err.get("code")), (param, "unknown_parameter"),
                 "%s: the error" % q)
    err = check_error_body(get(env.gw, KEYS + "?after=" + "a" * 1100), 400, "a long query")
    check_eq(err.get("code"), "invalid_parameter", "a long query: code")
    # what a browser or a client library may add still works
    check_eq(page(env.gw, KEYS, "limit=3&")["ids"], page(env.gw, KEYS, "limit=3")["ids"],
             "a trailing &")
    check_eq(page(env.gw, KEYS, "l%69mit=3&after=pg%2D0009")["ids"],
             ["pg-0010", "pg-0011", "pg-0012"], "percent-encoded name and value")


@tap.case("a delete between two pages neither skips nor repeats (the cursor's own id included)")
def _(env):
    # keys of the Admin API's own (pd-*, listed before the file's pg-*): those of the
    # resources file are read-only through the Admin API (409 file_owned)
    port = admin_port(env.gw)
    mine = ["pd-%04d" % i for i in range(30)]
    try:
        for n, rid in enumerate(mine):
            resp = request(port, "PUT", "%s/%s" % (KEYS, rid), key=ADMIN_KEY,
                           body={"name": rid, "key": "sk-pages-pd-%04d-0123456789" % n})
            check(resp.status == 201, "PUT %s: %d %r", rid, resp.status, resp.body[:300])
        before, _ = every_id(env.gw)
        p1 = page(env.gw, KEYS, "limit=10")
        cursor = p1["last_id"]
        i = before.index(cursor)
        check(cursor in mine and before[i + 1] in mine, "the cursor %s is one of pd-*", cursor)
        # delete the cursor's own resource and the one after it, then ask for the next page
        for rid in (cursor, before[i + 1]):
            resp = request(port, "DELETE", "%s/%s" % (KEYS, rid), key=ADMIN_KEY)
            check(resp.status == 200, "DELETE %s: %d %r", rid, resp.status, resp.body[:300])
        p2 = page(env.gw, KEYS, "limit=10&after=" + cursor)
        check_eq(p2["ids"], before[i + 2:i + 12], "the page after a deleted cursor")
        check_eq(p2["total"], len(before) - 2, "total after the deletes")
        # a resource created before the cursor is not shown after it; one after it is
        resp = request(port, "PUT", KEYS + "/pd-0009x",
                       body={"name": "pd-0009x", "key": "sk-pages-new-0123456789"}, key=ADMIN_KEY)
        check(resp.status == 201, "PUT pd-0009x: %d %r", resp.status, resp.body[:300])
        p3 = page(env.gw, KEYS, "limit=3&after=" + p2["last_id"])
        check_eq(p3["ids"], before[i + 12:i + 15], "the next page, after a create before it")
        now, _ = every_id(env.gw, limit=7)
        want = sorted(set(before) - {cursor, before[i + 1]} | {"pd-0009x"})
        check_eq(now, want, "every id once after the changes")
    finally:
        for rid in mine + ["pd-0009x"]:
            request(port, "DELETE", "%s/%s" % (KEYS, rid), key=ADMIN_KEY)


@tap.case("large documents: a page ends before 1 MiB of them (at least one); pages still cover all")
def _(env):
    # API keys of ~300 KB each (1200 allowed models of 250 characters): 1000 of them would be
    # one answer of 300 MB built on the master's loop
    names = ["m%04d-" % i + "x" * 244 for i in range(1200)]
    big = ["pz-big-%d" % i for i in range(6)]
    port = admin_port(env.gw)
    try:
        for i, rid in enumerate(big):
            resp = request(port, "PUT", "%s/%s" % (KEYS, rid), key=ADMIN_KEY,
                           body={"name": rid, "key": "sk-pages-big-%d-0123456789" % i,
                                 "allowed_models": names})
            check(resp.status == 201, "PUT %s: %d %r", rid, resp.status, resp.body[:300])
        allids, _ = every_id(env.gw, limit=MAX_LIMIT)
        check(set(big) <= set(allids), "the large keys are listed: %r", allids[-8:])
        check_eq(allids, sorted(set(allids)), "every id once, in order")
        # the pages from the first large key on: each under the budget unless it holds one key
        after, sizes = "pg-%04d" % (PAGE_KEYS - 1), []
        for _ in range(20):
            resp = get(env.gw, KEYS + "?limit=1000&after=" + after)
            check(resp.status == 200, "GET after %s: %d", after, resp.status)
            obj = resp.json()
            n = len(obj["items"])
            sizes.append((n, len(resp.body)))
            check(n == 1 or len(resp.body) < (1 << 20) + 64 * 1024,
                  "a page of %d items is %d bytes", n, len(resp.body))
            if not obj["has_more"]:
                break
            after = obj["last_id"]
        check(len(sizes) > 1, "the large keys fit one page of 1000: %r", sizes)
        check_eq(sum(n for n, _ in sizes), len(big) + 1, "the pages hold the large keys and team-a")
        tap.diag("pages after pg-%04d (items, bytes): %r" % (PAGE_KEYS - 1, sizes))
    finally:
        for rid in big:
            request(port, "DELETE", "%s/%s" % (KEYS, rid), key=ADMIN_KEY)


@tap.case("with %d keys a default answer stays under %d KB (it held every key)"
          % (BIG_KEYS, DEFAULT_ANSWER_MAX // 1024))
def _(env):
    gw = Gateway(standard_resources(env.mock.port, extra_keys=page_keys("big", BIG_KEYS)),
                 config=admin_config(), env={"MOCK_KEY": MOCK_KEY})
    try:
        resp = get(gw, KEYS)
        check(resp.status == 200, "GET: %d %r", resp.status, resp.body[:300])
        obj = resp.json()
        check_eq((len(obj.get("items", [])), obj.get("has_more"), obj.get("total")),
                 (DEFAULT_LIMIT, True, BIG_KEYS + 2), "the default page")
        check(len(resp.body) < DEFAULT_ANSWER_MAX, "a default answer of %d bytes", len(resp.body))
        full = get(gw, KEYS + "?limit=%d" % MAX_LIMIT)
        check(full.status == 200 and len(full.json()["items"]) == MAX_LIMIT,
              "the largest page: %d", full.status)
        check(len(full.body) < 10 * DEFAULT_ANSWER_MAX, "the largest page: %d bytes",
              len(full.body))
        tap.diag("answer with %d keys: default page %d bytes, a page of %d: %d bytes"
                 % (BIG_KEYS + 2, len(resp.body), MAX_LIMIT, len(full.body)))
    finally:
        gw.stop()


if __name__ == "__main__":
    main(tap, fixture)
