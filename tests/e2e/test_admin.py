"""End-to-end: the Admin API (standalone mode), in front of the mock.

One mock (checking the provider key) and one aigw (2 workers, an admin and a
viewer admin key, the Admin API on a port of its own) serve every case but
the last three, which start gateways of their own (admin.allow, no admin
keys with admin.allow_keyless, a non-loopback admin.listen without keys; the
safe default itself is test_admin_default.py). Each case makes the
resources it changes and removes them, so that the cases do not depend on
each other; the restart and SIGHUP cases come last as they change the
gateway itself.

Every Admin API answer is checked for provider secrets in full (admin()), and
every change is asked of the data plane on every worker (on_every_worker():
rounds of requests on fresh connections, each found in the access log to know
which worker served it, until one round saw every worker answer as expected
within VISIBLE seconds of the change).
"""

import hashlib
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        HOST, MOCK_KEY, SLOW, TAP, Env, Gateway, TestFailure, chat_body, check, check_eq,
        check_error_body, free_port, last_body, last_header, main, mock_and_gateway, request,
        standard_resources, unique_id, wait_for)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

ADMIN_KEY = "adm-e2e-key-0123456789abcdef"
VIEWER_KEY = "view-e2e-key-0123456789abcdef"
CLIENT_KEY = "sk-test-all"         # a data-plane key of standard_resources, any model
SHORT_SECRET = "tiny-sec"           # 8 characters: shown as "****"
OTHER_SECRET = "sk-provider-other-0123456789-WXYZ"
SECRETS = (MOCK_KEY, SHORT_SECRET, OTHER_SECRET)
MOCK_KEY_MASKED = "****" + MOCK_KEY[-4:]
VISIBLE = 2.0 * SLOW                # a change must reach every worker within this
ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

MODELS = "/admin/v1/models"
KEYS = "/admin/v1/api_keys"
STATUS = "/admin/v1/status"


def admin_config(keys=True, allow=None, listen_host=HOST, workers=None):
    """aigw.yaml overrides: the Admin API on a free port, with the admin and
    viewer keys unless keys is false (then keyless by admin.allow_keyless)."""
    adm = {"listen": ["%s:%d" % (listen_host, free_port())]}
    if not keys:
        adm["allow_keyless"] = True
    if keys:
        adm["keys"] = [{"name": "root", "key": ADMIN_KEY, "role": "admin"},
                       {"name": "auditor", "key": VIEWER_KEY, "role": "viewer"}]
    if allow is not None:
        adm["allow"] = allow
    conf = {"admin": adm}
    if workers is not None:
        conf["workers"] = workers
    return conf


def fixture():
    return mock_and_gateway(config=admin_config())


def admin_port(gw):
    return int(gw.config["admin"]["listen"][0].rsplit(":", 1)[1])


def admin(gw, method, path, body=None, key=ADMIN_KEY, headers=None):
    """One Admin API request (admin key as a Bearer token unless key is None).
    Fails when a provider secret shows in full anywhere in the answer."""
    resp = request(admin_port(gw), method, path, body=body, headers=headers, key=key)
    text = resp.body.decode("utf-8", "replace") + " " + repr(resp.headers)
    for s in SECRETS:
        check(s not in text, "provider secret %r in full in the answer to %s %s: %r",
              s, method, path, resp.body[:600])
    return resp


def sha256(s):
    return hashlib.sha256(s.encode()).hexdigest()


def model_doc(env, name, **fields):
    """A model on the mock with the mock's key."""
    doc = {"name": name, "provider": "openai-compatible", "model": "up-" + name,
           "api_base": env.mock.url(), "api_key": MOCK_KEY}
    doc.update(fields)
    return doc


def shown(doc, api_key=MOCK_KEY_MASKED):
    """doc as the Admin API shows it: api_key masked."""
    out = dict(doc)
    if "api_key" in out:
        out["api_key"] = api_key
    return out


def item(resp, status, what):
    """The {"id", "value", "revision"} body of a write or GET, checked."""
    check(resp.status == status, "%s: expected status %d, got %d; body %r", what, status,
          resp.status, resp.body[:600])
    obj = resp.json()
    check(isinstance(obj, dict) and set(obj) == {"id", "value", "revision"},
          "%s: body is not {id, value, revision}: %r", what, obj)
    check(isinstance(obj["id"], str) and ID_RE.match(obj["id"]), "%s: bad id %r", what, obj["id"])
    check(isinstance(obj["value"], dict), "%s: value is not an object: %r", what, obj)
    check(isinstance(obj["revision"], int) and not isinstance(obj["revision"], bool)
          and obj["revision"] > 0, "%s: revision is not a positive integer: %r", what, obj)
    return obj


def create(env, kind, doc, what="POST"):
    """POST a resource; 201; returns the answer's object."""
    return item(admin(env.gw, "POST", kind, doc), 201, what)


def get(env, kind, rid, what="GET"):
    return item(admin(env.gw, "GET", "%s/%s" % (kind, rid)), 200, what)


def listing(env, kind):
    """GET a collection (one page: the cases keep fewer resources than a
    default page; test_admin_pages.py pages); checks the shape; {id: item}."""
    resp = admin(env.gw, "GET", kind)
    check(resp.status == 200, "GET %s: %d %r", kind, resp.status, resp.body[:300])
    obj = resp.json()
    check(isinstance(obj, dict) and
          set(obj) == {"items", "total", "has_more", "first_id", "last_id"},
          "GET %s: body is not {items, total, has_more, first_id, last_id}: %r", kind, obj)
    check(isinstance(obj["items"], list), "GET %s: items is not a list", kind)
    check_eq(obj["total"], len(obj["items"]), "GET %s: total vs. number of items" % kind)
    check_eq(obj["has_more"], False, "GET %s: has_more" % kind)
    out = {}
    for it in obj["items"]:
        check(isinstance(it, dict) and set(it) == {"id", "value", "revision"},
              "GET %s: an item is not {id, value, revision}: %r", kind, it)
        check(it["id"] not in out, "GET %s: id %r listed twice", kind, it["id"])
        out[it["id"]] = it
    return out


def delete(env, kind, rid):
    resp = admin(env.gw, "DELETE", "%s/%s" % (kind, rid))
    check(resp.status == 200, "DELETE %s/%s: %d %r", kind, rid, resp.status, resp.body[:300])
    return resp.json()


def admin_error(resp, status, code, what):
    err = check_error_body(resp, status, what)
    check_eq(err.get("code"), code, "%s: error code" % what)
    return err


def get_status(env):
    resp = admin(env.gw, "GET", STATUS)
    check(resp.status == 200, "GET status: %d %r", resp.status, resp.body[:300])
    return resp.json()


# ---- the data plane ----------------------------------------------------------

def chat(env, model, rid, key=CLIENT_KEY):
    """A chat completion on a fresh connection."""
    return request(env.gw.port, "POST", "/v1/chat/completions",
                   chat_body(model=model, mock={"chunks": 2}), key=key,
                   headers={"x-request-id": rid})


def models_of(env, key, rid):
    """GET /v1/models on a fresh connection."""
    return request(env.gw.port, "GET", "/v1/models", key=key, headers={"x-request-id": rid})


def worker_of(gw, rid):
    """The pid of the worker whose access line has request id rid."""
    return gw.access_line(rid)["pid"]


def on_every_worker(env, send, expect, what, timeout=VISIBLE):
    """Send requests on fresh connections (send(request_id) -> Response) and
    check each (expect(resp) raises TestFailure when it is wrong) until one
    round has had every worker answer as expected. Fails when that did not
    happen within timeout. Returns the seconds it took."""
    gw = env.gw
    t0 = time.monotonic()
    deadline = t0 + timeout
    workers = set(gw.worker_pids())
    check(workers, "the gateway has no workers")
    while True:
        seen, problem = set(), None
        for i in range(20 * len(workers)):
            rid = unique_id("adm")
            resp = send(rid)
            try:
                expect(resp)
            except TestFailure as exc:
                problem = "request %s (%d of the round): %s" % (rid, i + 1, exc)
                break
            seen.add(worker_of(gw, rid))
            if seen >= workers and i >= 3:
                break
        if problem is None and seen >= workers:
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            raise TestFailure("%s: not so on every worker %.1fs after the change: %s" % (
                what, timeout, problem or "workers %s never answered (saw %s)" % (
                    sorted(workers), sorted(seen))))
        time.sleep(0.01)


def expect_chat(mock, upstream_model):
    """expect(): 200, and the mock saw upstream_model and its own key."""
    def expect(resp):
        check(resp.status == 200, "status %d, body %r", resp.status, resp.body[:300])
        last = mock.last()
        check_eq(last_body(last).get("model"), upstream_model, "upstream model")
        check_eq(last_header(last, "authorization"), "Bearer " + MOCK_KEY,
                 "upstream Authorization")
    return expect


def expect_error(status_code, code):
    def expect(resp):
        admin_error(resp, status_code, code, "data plane")
    return expect


def expect_status(status_code):
    def expect(resp):
        check(resp.status == status_code, "status %d (expected %d), body %r", resp.status,
              status_code, resp.body[:300])
    return expect


def served(env, model, upstream_model, what=None):
    return on_every_worker(env, lambda rid: chat(env, model, rid),
                           expect_chat(env.mock, upstream_model),
                           what or "model %s served" % model)


def not_served(env, model, what=None):
    return on_every_worker(env, lambda rid: chat(env, model, rid),
                           expect_error(404, "model_not_found"),
                           what or "model %s gives 404 model_not_found" % model)


def key_works(env, key, what="the key works"):
    return on_every_worker(env, lambda rid: models_of(env, key, rid), expect_status(200), what)


def key_refused(env, key, code, what):
    return on_every_worker(env, lambda rid: models_of(env, key, rid), expect_error(401, code),
                           what)


def remember_key(env, key):
    """Generated API keys, to look for in the log at the end."""
    if not hasattr(env, "plain_keys"):
        env.plain_keys = []
    env.plain_keys.append(key)


# ---- authentication and authorization ----------------------------------------

@tap.case("no admin key: 401 missing_admin_key; a wrong one: 401 invalid_admin_key")
def _(env):
    before = listing(env, MODELS)
    requests = [("GET", STATUS, None), ("GET", MODELS, None), ("GET", MODELS + "/mock-gpt", None),
                ("POST", MODELS, model_doc(env, "adm-noauth")),
                ("PUT", MODELS + "/mock-gpt", model_doc(env, "mock-gpt")),
                ("DELETE", MODELS + "/mock-gpt", None), ("POST", KEYS + "/team-a/rotate", None)]
    for method, path, body in requests:
        what = "%s %s" % (method, path)
        admin_error(admin(env.gw, method, path, body, key=None), 401, "missing_admin_key",
                    what + " without a key")
        admin_error(admin(env.gw, method, path, body, key=None, headers={"X-API-KEY": ""}), 401,
                    "missing_admin_key", what + " with an empty X-API-KEY")
        for wrong in ("wrong-admin-key-0123456789", ADMIN_KEY[:-1], ADMIN_KEY + "x", CLIENT_KEY):
            admin_error(admin(env.gw, method, path, body, key=wrong), 401, "invalid_admin_key",
                        "%s with Bearer %s" % (what, wrong))
        admin_error(admin(env.gw, method, path, body, key=None,
                          headers={"X-API-KEY": "wrong-admin-key-0123456789"}),
                    401, "invalid_admin_key", what + " with a wrong X-API-KEY")
    after = listing(env, MODELS)
    check_eq(after, before, "models after refused requests")
    key_works(env, "sk-test-a", "team-a's key after a refused rotate")


@tap.case("Authorization: Bearer and X-API-KEY both authenticate, for reads and writes")
def _(env):
    for key in (ADMIN_KEY, VIEWER_KEY):
        for headers in ({"Authorization": "Bearer " + key}, {"authorization": "bearer " + key},
                        {"X-API-KEY": key}, {"x-api-key": key}):
            resp = admin(env.gw, "GET", STATUS, key=None, headers=headers)
            check(resp.status == 200, "GET status with %r: %d %r", headers, resp.status,
                  resp.body[:300])
            check_eq(resp.json().get("mode"), "standalone", "mode (with %r)" % headers)
    obj = item(admin(env.gw, "POST", MODELS, model_doc(env, "adm-xapikey"), key=None,
                     headers={"X-API-KEY": ADMIN_KEY}), 201, "POST with X-API-KEY")
    resp = admin(env.gw, "DELETE", MODELS + "/" + obj["id"], key=None,
                 headers={"Authorization": "Bearer " + ADMIN_KEY})
    check_eq(resp.status, 200, "DELETE with Authorization: Bearer")


@tap.case("viewer key: GETs answer; POST/PUT/DELETE/rotate get 403 read_only_key, change nothing")
def _(env):
    models, keys = listing(env, MODELS), listing(env, KEYS)
    for path in (STATUS, MODELS, MODELS + "/mock-gpt", KEYS, KEYS + "/team-a"):
        resp = admin(env.gw, "GET", path, key=VIEWER_KEY)
        check(resp.status == 200, "viewer GET %s: %d %r", path, resp.status, resp.body[:300])
    check_eq(get(env, MODELS, "mock-gpt"), models["mock-gpt"], "GET by id vs. the list")
    gpt = models["mock-gpt"]["value"]
    writes = [("POST", MODELS, model_doc(env, "adm-viewer")),
              ("PUT", MODELS + "/mock-gpt", dict(gpt, model="changed-by-viewer")),
              ("PUT", MODELS + "/adm-viewer-new", model_doc(env, "adm-viewer-new")),
              ("DELETE", MODELS + "/mock-gpt", None),
              ("POST", KEYS, {"name": "viewer-made"}),
              ("PUT", KEYS + "/team-a", dict(keys["team-a"]["value"], disabled=True)),
              ("DELETE", KEYS + "/team-a", None),
              ("POST", KEYS + "/team-a/rotate", None)]
    for method, path, body in writes:
        for headers in (None, {"X-API-KEY": VIEWER_KEY}):
            resp = admin(env.gw, method, path, body, key=VIEWER_KEY if headers is None else None,
                         headers=headers)
            admin_error(resp, 403, "read_only_key", "viewer %s %s" % (method, path))
    check_eq(listing(env, MODELS), models, "models after the viewer's writes")
    check_eq(listing(env, KEYS), keys, "API keys after the viewer's writes")
    key_works(env, "sk-test-a", "team-a's key after the viewer's rotate")


# ---- CRUD --------------------------------------------------------------------

@tap.case("POST creates a model with a generated id: 201 {id, value, revision}; GET and list")
def _(env):
    doc = model_doc(env, "adm-crud-1", timeouts={"connect": "2s", "total": "30s"})
    a = create(env, MODELS, doc)
    check_eq(a["value"], shown(doc), "value of the created model")
    b = create(env, MODELS, model_doc(env, "adm-crud-2"))
    check(a["id"] != b["id"], "two POSTs got the same id %r", a["id"])
    check(b["revision"] > a["revision"], "revision did not grow: %d then %d", a["revision"],
          b["revision"])
    check_eq(get(env, MODELS, a["id"]), a, "GET of the created model")
    items = listing(env, MODELS)
    check_eq(items.get(a["id"]), a, "the created model in the list")
    check_eq(items.get(b["id"]), b, "the second created model in the list")
    for fid in ("mock-gpt", "mock-b", "other-model"):
        check(fid in items, "the file's model %s is not listed: %r", fid, sorted(items))
    for rid in (a["id"], b["id"]):
        delete(env, MODELS, rid)


@tap.case("PUT creates (201) and replaces (200); DELETE (200), then GET 404; revision grows")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-put-1"))
    doc2 = model_doc(env, "adm-put-1", model="up-put-1-v2", timeouts={"first_byte": "5s"})
    b = item(admin(env.gw, "PUT", MODELS + "/" + a["id"], doc2), 200, "PUT replace")
    check_eq(b["id"], a["id"], "id after PUT")
    check_eq(b["value"], shown(doc2), "value after PUT")
    check(b["revision"] > a["revision"], "revision did not grow on PUT: %d then %d",
          a["revision"], b["revision"])
    check_eq(get(env, MODELS, a["id"]), b, "GET after PUT")

    new_id = "adm-put-new-%d" % os.getpid()
    doc3 = model_doc(env, "adm-put-2")
    c = item(admin(env.gw, "PUT", MODELS + "/" + new_id, doc3), 201, "PUT create")
    check_eq(c["id"], new_id, "id of the PUT-created model")
    check_eq(c["value"], shown(doc3), "value of the PUT-created model")
    check(c["revision"] > b["revision"], "revision did not grow: %d then %d", b["revision"],
          c["revision"])
    check_eq(get(env, MODELS, new_id), c, "GET of the PUT-created model")

    for rid, prev in ((a["id"], c["revision"]), (new_id, None)):
        resp = admin(env.gw, "DELETE", MODELS + "/" + rid)
        check(resp.status == 200, "DELETE %s: %d %r", rid, resp.status, resp.body[:300])
        d = resp.json()
        check_eq(d.get("id"), rid, "id in the DELETE answer")
        check(isinstance(d.get("revision"), int) and (prev is None or d["revision"] > prev),
              "revision of the DELETE answer %r is not above %r", d.get("revision"), prev)
        admin_error(admin(env.gw, "GET", MODELS + "/" + rid), 404, "not_found",
                    "GET after DELETE")
        admin_error(admin(env.gw, "DELETE", MODELS + "/" + rid), 404, "not_found",
                    "DELETE again")
        check(rid not in listing(env, MODELS), "deleted %s is still listed", rid)
    admin_error(admin(env.gw, "DELETE", MODELS + "/no-such-model"), 404, "not_found",
                "DELETE of an unknown id")
    admin_error(admin(env.gw, "DELETE", KEYS + "/no-such-key"), 404, "not_found",
                "DELETE of an unknown API key")
    admin_error(admin(env.gw, "GET", KEYS + "/no-such-key"), 404, "not_found",
                "GET of an unknown API key")


@tap.case("a PUT that changes nothing answers with the stored revision (If-Match accepts it)")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-noop"))
    path = MODELS + "/" + a["id"]
    try:
        b = item(admin(env.gw, "PUT", path, a["value"]), 200, "PUT of the value as shown")
        check_eq(b["value"], a["value"], "value after an unchanged PUT")
        g = get(env, MODELS, a["id"])
        check_eq(b["revision"], g["revision"],
                 "revision in the answer to an unchanged PUT vs. the stored one (GET)")
        resp = admin(env.gw, "PUT", path, dict(a["value"], model="up-noop-2"),
                     headers={"If-Match": str(b["revision"])})
        check(resp.status == 200, "PUT with If-Match: the revision the last PUT answered "
              "(%d): %d %r", b["revision"], resp.status, resp.body[:300])
    finally:
        delete(env, MODELS, a["id"])


@tap.case("the data plane serves each change at once, on every worker, through the mock")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-live", model="up-live-1"))
    path = MODELS + "/" + a["id"]
    t = served(env, "adm-live", "up-live-1", "a model created through the Admin API")
    b = item(admin(env.gw, "PUT", path, dict(a["value"], model="up-live-2")), 200,
             "PUT changing model")
    t2 = served(env, "adm-live", "up-live-2", "the new upstream model id")
    item(admin(env.gw, "PUT", path, dict(b["value"], name="adm-live-renamed")), 200,
         "PUT renaming")
    served(env, "adm-live-renamed", "up-live-2", "the renamed model")
    not_served(env, "adm-live", "the model's old name")
    delete(env, MODELS, a["id"])
    not_served(env, "adm-live-renamed", "the deleted model")
    served(env, "mock-gpt", "mock-1", "the file's model")
    tap.diag("visible on every worker after %.0f ms (create), %.0f ms (PUT)" % (t * 1000,
                                                                                t2 * 1000))


# ---- validation --------------------------------------------------------------

def detail_paths(err):
    details = err.get("details")
    check(isinstance(details, list) and details, "no details list in %r", err)
    paths = []
    for d in details:
        check(isinstance(d, str) and re.match(r"^[A-Za-z0-9_.\[\]]+: \S", d),
              "a detail is not 'path: message': %r", d)
        paths.append(d.split(":", 1)[0])
    return paths


@tap.case("invalid resources: 400 invalid_resource, details list every error by JSON path")
def _(env):
    models, keys = listing(env, MODELS), listing(env, KEYS)
    bad = model_doc(env, "x", bogus=1, provider="no-such-provider", api_base="ftp://example",
                    timeouts={"connect": "5", "bogus_timeout": "1s"})
    del bad["name"]
    err = admin_error(admin(env.gw, "POST", MODELS, bad), 400, "invalid_resource", "POST bad")
    check_eq(sorted(detail_paths(err)), sorted(["bogus", "name", "provider", "api_base",
                                                "timeouts.connect", "timeouts.bogus_timeout"]),
             "paths in details (%r)" % err.get("details"))

    singles = [({"extra_field": "x"}, "extra_field"), ({"provider": "anthropic-ish"}, "provider"),
               ({"api_base": "not-a-url"}, "api_base"),
               ({"timeouts": {"first_byte": "10"}}, "timeouts.first_byte"),
               ({"timeouts": {"total": "25h"}}, "timeouts.total"),
               ({"name": None}, "name"), ({"name": "has space"}, "name"),
               ({"model": ""}, "model")]
    for change, path in singles:
        doc = model_doc(env, "adm-bad")
        doc.update(change)
        if doc["name"] is None:
            del doc["name"]
        for method, url in (("POST", MODELS), ("PUT", MODELS + "/mock-gpt")):
            err = admin_error(admin(env.gw, method, url, doc), 400, "invalid_resource",
                              "%s with %r" % (method, change))
            check_eq(detail_paths(err), [path], "details of %s with %r (%r)" % (
                method, change, err.get("details")))
            check_eq(err.get("param"), path, "param of %s with %r" % (method, change))

    err = admin_error(admin(env.gw, "POST", KEYS, {"name": "k", "key": "short", "bogus": True,
                                                    "allowed_models": "mock-*"}),
                      400, "invalid_resource", "POST a bad API key")
    check_eq(sorted(detail_paths(err)), ["allowed_models", "bogus", "key"],
             "paths in details (%r)" % err.get("details"))
    err = admin_error(admin(env.gw, "POST", KEYS, {"key": "sk-long-enough-key"}), 400,
                      "invalid_resource", "POST an API key without a name")
    check_eq(detail_paths(err), ["name"], "details of an API key without a name")
    check_eq(listing(env, MODELS), models, "models after invalid writes")
    check_eq(listing(env, KEYS), keys, "API keys after invalid writes")


@tap.case("415 without Content-Type: application/json; 400 invalid_json unless one JSON object")
def _(env):
    models = listing(env, MODELS)
    text = json.dumps(model_doc(env, "adm-ctype"))
    for headers in ({}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-yaml"}):
        for method, url in (("POST", MODELS), ("PUT", MODELS + "/adm-ctype"), ("POST", KEYS)):
            admin_error(admin(env.gw, method, url, text, headers=headers), 415,
                        "unsupported_media_type", "%s %s with %r" % (method, url, headers))
    bodies = ['{"name": ', "[1, 2]", '"a string"', "42", "null", "{} {}", ""]
    # Valid models but for their JSON: single quotes, a trailing comma, a comment.
    for n, bad in enumerate((lambda j: j.replace('"', "'"), lambda j: j[:-1] + ", }",
                             lambda j: "{/* a comment */ " + j[1:])):
        bodies.append(bad(json.dumps(model_doc(env, "adm-json-%d" % n))))
    problems = []
    for n, raw in enumerate(bodies):
        for method, url in (("POST", MODELS), ("PUT", "%s/adm-json-put-%d" % (MODELS, n))):
            resp = admin(env.gw, method, url, raw, headers={"Content-Type": "application/json"})
            try:
                admin_error(resp, 400, "invalid_json", "%s %s with body %r" % (method, url, raw))
            except TestFailure as exc:
                problems.append(str(exc))
                if resp.status in (200, 201):  # keep the table clean for the other cases
                    delete(env, MODELS, resp.json()["id"])
    check(not problems, "%d bodies that are not one JSON object were not refused:\n%s",
          len(problems), "\n".join(problems))
    check_eq(listing(env, MODELS), models, "models after refused writes")
    a = item(admin(env.gw, "POST", MODELS, text,
                   headers={"Content-Type": "application/json; charset=utf-8"}),
             201, "POST with a charset parameter")
    delete(env, MODELS, a["id"])


@tap.case("409 conflict: a model name of another id; a key used by another API key")
def _(env):
    admin_error(admin(env.gw, "POST", MODELS, model_doc(env, "mock-gpt")), 409, "conflict",
                "POST a model named like the file's mock-gpt")
    a = create(env, MODELS, model_doc(env, "adm-conflict"))
    admin_error(admin(env.gw, "PUT", MODELS + "/" + a["id"], model_doc(env, "mock-b")), 409,
                "conflict", "PUT renaming onto mock-b")
    admin_error(admin(env.gw, "PUT", MODELS + "/adm-conflict-other",
                      model_doc(env, "adm-conflict")),
                409, "conflict", "PUT create with the name of another id")
    admin_error(admin(env.gw, "PUT", MODELS + "/mock-b", model_doc(env, "adm-conflict")), 409,
                "conflict", "PUT a file model with the name of another id")
    check_eq(get(env, MODELS, a["id"]), a, "the model after the conflicts")
    check_eq(get(env, MODELS, "mock-b")["value"]["name"], "mock-b", "mock-b's name")
    admin_error(admin(env.gw, "GET", MODELS + "/adm-conflict-other"), 404, "not_found",
                "the refused PUT-create")

    given = "sk-e2e-conflict-%d" % os.getpid()
    k = create(env, KEYS, {"name": "conflict", "key": given})
    for body, what in (({"name": "dup", "key": "sk-test-a"}, "the file's key"),
                       ({"name": "dup", "key_sha256": sha256("sk-test-a").upper()},
                        "the file's key, as an upper-case SHA-256"),
                       ({"name": "dup", "key": given}, "an Admin API key")):
        admin_error(admin(env.gw, "POST", KEYS, body), 409, "conflict", "POST with " + what)
        admin_error(admin(env.gw, "PUT", KEYS + "/adm-dup-key", body), 409, "conflict",
                    "PUT create with " + what)
    admin_error(admin(env.gw, "PUT", KEYS + "/team-a", {"name": "team-a", "key": given}), 409,
                "conflict", "PUT giving team-a the key of another")
    admin_error(admin(env.gw, "GET", KEYS + "/adm-dup-key"), 404, "not_found",
                "the refused PUT-create of a key")
    resp = models_of(env, "sk-test-a", unique_id())
    check_eq(resp.status, 200, "sk-test-a after the conflicts")
    check_eq(sorted(m["id"] for m in resp.json()["data"] if not m["id"].startswith("mock-")), [],
             "sk-test-a still has team-a's allowed_models")
    key_works(env, given, "the Admin API key after the conflicts")
    delete(env, MODELS, a["id"])
    delete(env, KEYS, k["id"])


@tap.case("If-Match: the current revision passes, a stale one is 412 revision_mismatch")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-ifmatch"))
    path = MODELS + "/" + a["id"]
    b = item(admin(env.gw, "PUT", path, model_doc(env, "adm-ifmatch", model="up-if-2"),
                   headers={"If-Match": str(a["revision"])}), 200, "PUT with the current revision")
    stale = admin(env.gw, "PUT", path, model_doc(env, "adm-ifmatch", model="up-if-stale"),
                  headers={"If-Match": str(a["revision"])})
    admin_error(stale, 412, "revision_mismatch", "PUT with a stale revision")
    check_eq(get(env, MODELS, a["id"]), b, "the model after a stale PUT")
    c = item(admin(env.gw, "PUT", path, model_doc(env, "adm-ifmatch", model="up-if-3"),
                   headers={"If-Match": '"%d"' % b["revision"]}), 200,
             "PUT with the current revision quoted")
    check(c["revision"] > b["revision"], "revision did not grow")
    admin_error(admin(env.gw, "PUT", MODELS + "/adm-ifmatch-none", model_doc(env, "adm-if-none"),
                      headers={"If-Match": str(c["revision"])}), 412, "revision_mismatch",
                "PUT with If-Match to an id that does not exist")
    admin_error(admin(env.gw, "GET", MODELS + "/adm-ifmatch-none"), 404, "not_found",
                "the refused PUT-create")
    admin_error(admin(env.gw, "DELETE", path, headers={"If-Match": str(b["revision"])}), 412,
                "revision_mismatch", "DELETE with a stale revision")
    check_eq(get(env, MODELS, a["id"]), c, "the model after a stale DELETE")
    resp = admin(env.gw, "DELETE", path, headers={"If-Match": str(c["revision"])})
    check_eq(resp.status, 200, "DELETE with the current revision")
    admin_error(admin(env.gw, "GET", path), 404, "not_found", "GET after the DELETE")


@tap.case("a malformed If-Match is 400 bad_if_match and changes nothing")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-ifbad"))
    path = MODELS + "/" + a["id"]
    problems = []
    try:
        # the last two are 32 characters long: a digit string, then junk
        for value in ("abc", "1x", "-1", "1.5", "", "1 2", "1" * 31 + "x",
                      "%031dx" % a["revision"]):
            for method, body in (("PUT", model_doc(env, "adm-ifbad", model="up-ifbad-changed")),
                                 ("DELETE", None)):
                resp = admin(env.gw, method, path, body, headers={"If-Match": value})
                try:
                    admin_error(resp, 400, "bad_if_match",
                                "%s with If-Match: %r" % (method, value))
                except TestFailure as exc:
                    problems.append(str(exc))
        check(not problems, "%d malformed If-Match not refused:\n%s", len(problems),
              "\n".join(problems))
        check_eq(get(env, MODELS, a["id"]), a, "the model after malformed If-Match")
    finally:
        admin(env.gw, "DELETE", path)


# ---- secrets -----------------------------------------------------------------

@tap.case("api_key is shown masked (**** + last 4; short ones ****) in POST/PUT/GET/list")
def _(env):
    made = []
    try:
        for secret, masked in ((MOCK_KEY, MOCK_KEY_MASKED), (OTHER_SECRET, "****WXYZ"),
                               (SHORT_SECRET, "****")):
            doc = model_doc(env, "adm-mask-%d" % len(made), api_key=secret)
            a = create(env, MODELS, doc)
            made.append(a["id"])
            check_eq(a["value"].get("api_key"), masked, "api_key in the POST answer")
            b = item(admin(env.gw, "PUT", MODELS + "/" + a["id"], dict(doc, model="up-m2")), 200,
                     "PUT with the secret")
            check_eq(b["value"].get("api_key"), masked, "api_key in the PUT answer")
            check_eq(get(env, MODELS, a["id"])["value"].get("api_key"), masked,
                     "api_key in GET")
            check_eq(listing(env, MODELS)[a["id"]]["value"].get("api_key"), masked,
                     "api_key in the list")
        nokey = model_doc(env, "adm-mask-none")
        del nokey["api_key"]
        a = create(env, MODELS, nokey)
        made.append(a["id"])
        check_eq(a["value"], nokey, "a model without api_key")
        for it in listing(env, MODELS).values():
            if "api_key" in it["value"]:
                check(it["value"]["api_key"] in ("****", MOCK_KEY_MASKED, "****WXYZ"),
                      "api_key of %s shown as %r", it["id"], it["value"]["api_key"])
    finally:
        for rid in made:
            delete(env, MODELS, rid)


@tap.case("targets' api_keys are masked too, and PUT back masked keeps each target's secret")
def _(env):
    doc = {"name": "adm-tgt", "targets": [
        {"name": "one", "provider": "openai-compatible", "model": "up-tgt-1",
         "api_base": env.mock.url(), "api_key": MOCK_KEY},
        {"name": "two", "provider": "openai-compatible", "model": "up-tgt-2",
         "api_base": env.mock.url(), "api_key": OTHER_SECRET, "weight": 0}]}
    a = create(env, MODELS, doc)
    shown_keys = [t.get("api_key") for t in a["value"]["targets"]]
    check_eq(shown_keys, [MOCK_KEY_MASKED, "****WXYZ"], "targets' api_keys in the POST answer")
    check_eq([t.get("api_key") for t in get(env, MODELS, a["id"])["value"]["targets"]],
             shown_keys, "targets' api_keys in GET")
    edited = json.loads(json.dumps(a["value"]))
    edited["targets"][0]["model"] = "up-tgt-3"
    edited["targets"].reverse()  # a target's secret follows it, not its position
    b = item(admin(env.gw, "PUT", MODELS + "/" + a["id"], edited), 200, "PUT with masked targets")
    check_eq([t.get("api_key") for t in b["value"]["targets"]], ["****WXYZ", MOCK_KEY_MASKED],
             "targets' api_keys after the PUT")
    served(env, "adm-tgt", "up-tgt-3", "the mock gets target one's key after a masked PUT")
    bad = json.loads(json.dumps(b["value"]))
    bad["targets"][1]["api_key"] = "****nope"
    admin_error(admin(env.gw, "PUT", MODELS + "/" + a["id"], bad), 400, "masked_secret",
                "PUT with a target's masked api_key that matches nothing")
    delete(env, MODELS, a["id"])


@tap.case("PUT back the masked api_key keeps the secret; another masked value is 400 masked_secret")
def _(env):
    a = create(env, MODELS, model_doc(env, "adm-keep", model="up-keep-1"))
    path = MODELS + "/" + a["id"]
    check_eq(a["value"]["api_key"], MOCK_KEY_MASKED, "masked api_key")
    b = item(admin(env.gw, "PUT", path, dict(a["value"], model="up-keep-2")), 200,
             "PUT with the masked api_key")
    check_eq(b["value"]["api_key"], MOCK_KEY_MASKED, "api_key after the PUT")
    served(env, "adm-keep", "up-keep-2", "the mock still gets its key after a masked PUT")
    for value in ("****abcd", "****", "****" + MOCK_KEY[-3:], "*****-123", "****-123 "):
        err = admin_error(admin(env.gw, "PUT", path, dict(b["value"], api_key=value,
                                                          model="up-keep-bad")),
                          400, "masked_secret", "PUT with api_key %r" % value)
        check_eq(err.get("param"), "api_key", "param of masked_secret")
    admin_error(admin(env.gw, "POST", MODELS, model_doc(env, "adm-keep-new",
                                                         api_key=MOCK_KEY_MASKED)),
                400, "masked_secret", "POST with a masked api_key")
    admin_error(admin(env.gw, "PUT", MODELS + "/adm-keep-new", model_doc(env, "adm-keep-new",
                                                                       api_key=MOCK_KEY_MASKED)),
                400, "masked_secret", "PUT create with a masked api_key")
    check_eq(get(env, MODELS, a["id"]), b, "the model after refused masked values")
    served(env, "adm-keep", "up-keep-2", "the mock still gets its key")
    delete(env, MODELS, a["id"])


# ---- API keys ----------------------------------------------------------------

@tap.case("API key without key: a generated sk- key shown once, only its SHA-256 stored; it works")
def _(env):
    a = create(env, KEYS, {"name": "adm-gen", "allowed_models": ["mock-*"]})
    key = a["value"].get("key")
    check(isinstance(key, str) and key.startswith("sk-") and len(key) >= 40,
          "generated key %r is not sk- and at least 40 characters", key)
    remember_key(env, key)
    check_eq(a["value"].get("key_sha256"), sha256(key), "key_sha256 in the POST answer")
    want = {"name": "adm-gen", "allowed_models": ["mock-*"], "key_sha256": sha256(key)}
    g = get(env, KEYS, a["id"])
    check_eq(g["value"], want, "the stored API key (GET)")
    check_eq(g["revision"], a["revision"], "revision")
    check_eq(listing(env, KEYS)[a["id"]]["value"], want, "the API key in the list")
    for path in (KEYS, KEYS + "/" + a["id"], MODELS, STATUS):
        body = admin(env.gw, "GET", path).body.decode()
        check(key not in body, "the generated key is shown again by GET %s", path)
    b = create(env, KEYS, {"name": "adm-gen-2"})
    remember_key(env, b["value"].get("key"))
    check(b["value"].get("key") != key, "two generated keys are equal")

    def expect(resp):
        check(resp.status == 200, "status %d %r", resp.status, resp.body[:300])
        ids = sorted(m["id"] for m in resp.json()["data"])
        check(ids and all(i.startswith("mock-") for i in ids), "models of the key: %r", ids)
    on_every_worker(env, lambda rid: models_of(env, key, rid), expect,
                    "the generated key on /v1/models")
    resp = chat(env, "mock-gpt", unique_id(), key=key)
    check_eq(resp.status, 200, "chat with the generated key")
    delete(env, KEYS, a["id"])
    delete(env, KEYS, b["id"])
    key_refused(env, key, "invalid_api_key", "the deleted API key")


@tap.case("rotate: a new key; the old one gets 401 at once, the new one works")
def _(env):
    a = create(env, KEYS, {"name": "adm-rot"})
    old = a["value"]["key"]
    remember_key(env, old)
    key_works(env, old, "the key before rotate")
    resp = admin(env.gw, "POST", "%s/%s/rotate" % (KEYS, a["id"]))
    r = item(resp, 200, "rotate")
    new = r["value"].get("key")
    remember_key(env, new)
    check_eq(r["id"], a["id"], "id after rotate")
    check(isinstance(new, str) and new.startswith("sk-") and len(new) >= 40 and new != old,
          "rotated key %r (old %r)", new, old)
    check_eq(r["value"].get("key_sha256"), sha256(new), "key_sha256 after rotate")
    check(r["revision"] > a["revision"], "revision did not grow on rotate")
    g = get(env, KEYS, a["id"])
    check_eq(g["value"], {"name": "adm-rot", "key_sha256": sha256(new)}, "stored API key")
    check_eq(g["revision"], r["revision"], "revision after rotate")
    key_refused(env, old, "invalid_api_key", "the old key after rotate")
    key_works(env, new, "the new key after rotate")
    admin_error(admin(env.gw, "POST", KEYS + "/no-such-key/rotate"), 404, "not_found",
                "rotate of an unknown id")
    delete(env, KEYS, a["id"])


@tap.case("POST an API key with a given key: stored as its SHA-256 only, not echoed; it works")
def _(env):
    given = "sk-e2e-given-%d-%d" % (os.getpid(), int(time.time()))
    resp = admin(env.gw, "POST", KEYS, {"name": "adm-given", "key": given,
                                        "allowed_models": ["mock-gpt"]})
    a = item(resp, 201, "POST with a key")
    check(given not in resp.body.decode(), "the given key is echoed: %r", resp.body)
    want = {"name": "adm-given", "allowed_models": ["mock-gpt"], "key_sha256": sha256(given)}
    check_eq(a["value"], want, "value")
    check_eq(get(env, KEYS, a["id"])["value"], want, "stored API key")

    def expect(resp):
        check(resp.status == 200, "status %d %r", resp.status, resp.body[:300])
        check_eq(sorted(m["id"] for m in resp.json()["data"]), ["mock-gpt"], "models of the key")
    on_every_worker(env, lambda rid: models_of(env, given, rid), expect, "the given key")
    delete(env, KEYS, a["id"])

    given2 = given + "-put"
    kid = "adm-put-key-%d" % os.getpid()
    resp = admin(env.gw, "PUT", KEYS + "/" + kid, {"name": "adm-put-key", "key": given2})
    b = item(resp, 201, "PUT create of an API key")
    check_eq(b["id"], kid, "id of the PUT-created API key")
    check_eq(b["value"], {"name": "adm-put-key", "key_sha256": sha256(given2)}, "value")
    check(given2 not in resp.body.decode(), "the given key is echoed: %r", resp.body)
    key_works(env, given2, "the PUT-created key")
    delete(env, KEYS, kid)
    key_refused(env, given2, "invalid_api_key", "the deleted PUT-created key")


@tap.case("disabled: true through PUT: the key gets 401 api_key_disabled at once")
def _(env):
    given = "sk-e2e-disable-%d" % os.getpid()
    a = create(env, KEYS, {"name": "adm-disable", "key": given})
    key_works(env, given, "the key before it is disabled")
    path = KEYS + "/" + a["id"]
    b = item(admin(env.gw, "PUT", path, dict(a["value"], disabled=True)), 200, "PUT disabled")
    check_eq(b["value"].get("disabled"), True, "disabled in the answer")
    key_refused(env, given, "api_key_disabled", "the disabled key")
    resp = chat(env, "mock-gpt", unique_id(), key=given)
    admin_error(resp, 401, "api_key_disabled", "chat with the disabled key")
    item(admin(env.gw, "PUT", path, dict(a["value"], disabled=False)), 200, "PUT enabled")
    key_works(env, given, "the key enabled again")
    delete(env, KEYS, a["id"])


# ---- status, paths, methods ----------------------------------------------------

@tap.case("GET /admin/v1/status: standalone, master and worker pids, config_version grows")
def _(env):
    s = get_status(env)
    check_eq(s.get("mode"), "standalone", "mode")
    check_eq(s.get("master_pid"), env.gw.pid, "master_pid")
    workers = s.get("workers")
    check(isinstance(workers, list), "workers is not a list: %r", s)
    check_eq(sorted(w.get("pid") for w in workers), sorted(env.gw.worker_pids()),
             "worker pids")
    check_eq([w.get("state") for w in workers], ["running"] * len(workers), "worker states")
    v0 = s.get("config_version")
    check(isinstance(v0, int) and v0 >= 1, "config_version %r", v0)
    a = create(env, MODELS, model_doc(env, "adm-status"))
    s1 = get_status(env)
    check(s1["config_version"] > v0, "config_version did not grow: %d then %r", v0,
          s1["config_version"])
    check_eq(s1["config_version"], a["revision"], "config_version vs. the new model's revision")
    check_eq(s1.get("config_source"), "admin", "config_source after an Admin API write")

    def expect(resp):
        check_eq(resp.status, 200, "status")
        check_eq(resp.headers.get("x-aigw-config-version"), str(s1["config_version"]),
                 "x-aigw-config-version")
    on_every_worker(env, lambda rid: models_of(env, CLIENT_KEY, rid), expect,
                    "the data plane's configuration version")
    d = delete(env, MODELS, a["id"])
    check_eq(get_status(env)["config_version"], d["revision"], "config_version after DELETE")


@tap.case("unknown Admin API paths: 404 unknown_url; wrong methods: 405 method_not_allowed")
def _(env):
    models = listing(env, MODELS)
    k = create(env, KEYS, {"name": "adm-paths"})
    remember_key(env, k["value"]["key"])
    k_stored = get(env, KEYS, k["id"])
    problems = []
    for method, path in (("GET", "/"), ("GET", "/admin"), ("GET", "/admin/v1"),
                         ("GET", "/admin/v1/"), ("GET", "/admin/v1/nope"),
                         ("GET", "/admin/v2/models"), ("GET", "/admin/v1/statusx"),
                         ("GET", "/admin/v1/models_x"), ("GET", "/admin/v1/Models"),
                         ("GET", "/admin/v1/models/mock-gpt/extra"),
                         ("POST", "/admin/v1/models/mock-gpt/rotate"),
                         ("POST", "/admin/v1/api_keys/team-a/unrotate"),
                         ("GET", "/admin/v1/models/bad%20id"),
                         ("GET", "/admin/v1/models/" + "a" * 129),
                         ("GET", "/admin/v1/models//mock-gpt"),
                         ("POST", "%s/%s/rotate/extra" % (KEYS, k["id"])),
                         ("GET", "/v1/models")):
        try:
            admin_error(admin(env.gw, method, path), 404, "unknown_url", "%s %s" % (method, path))
        except TestFailure as exc:
            problems.append(str(exc))
    for method, path in (("POST", STATUS), ("DELETE", STATUS), ("PUT", STATUS),
                         ("DELETE", MODELS), ("PUT", MODELS), ("PUT", KEYS),
                         ("POST", MODELS + "/mock-gpt"), ("PATCH", MODELS + "/mock-gpt"),
                         ("GET", KEYS + "/team-a/rotate"), ("PUT", KEYS + "/team-a/rotate"),
                         ("DELETE", KEYS + "/team-a/rotate")):
        try:
            admin_error(admin(env.gw, method, path), 405, "method_not_allowed",
                        "%s %s" % (method, path))
        except TestFailure as exc:
            problems.append(str(exc))
    check_eq(listing(env, MODELS), models, "models after unknown paths and methods")
    key_works(env, "sk-test-a", "team-a's key after unknown paths and methods")
    if get(env, KEYS, k["id"]) != k_stored:
        problems.append("an unknown path rotated API key %s" % k["id"])
    delete(env, KEYS, k["id"])
    check(not problems, "%d wrong answers:\n%s", len(problems), "\n".join(problems))


# ---- persistence ---------------------------------------------------------------

@tap.case("a model and an API key made through the Admin API survive a restart (same data_dir)")
def _(env):
    m = create(env, MODELS, model_doc(env, "adm-persist", model="up-persist"))
    k = create(env, KEYS, {"name": "adm-persist"})
    key = k["value"]["key"]
    remember_key(env, key)
    k_stored = get(env, KEYS, k["id"])
    served(env, "adm-persist", "up-persist", "before the restart")
    rc = env.gw.stop()
    check_eq(rc, 0, "exit code of the first run")
    env.gw.start()
    check_eq(get(env, MODELS, m["id"]), m, "the model after the restart")
    check_eq(get(env, KEYS, k["id"]), k_stored, "the API key after the restart")
    served(env, "adm-persist", "up-persist", "after the restart")
    key_works(env, key, "the generated key after the restart")
    served(env, "mock-gpt", "mock-1", "the file's model after the restart")
    check_eq(get_status(env).get("master_pid"), env.gw.pid, "master_pid after the restart")
    delete(env, KEYS, k["id"])
    delete(env, MODELS, m["id"])


@tap.case("SIGHUP: the reload replaces only what the file wrote; a model taken out of it is gone")
def _(env):
    m = create(env, MODELS, model_doc(env, "adm-hup", model="up-hup"))
    served(env, "other-model", "other-1", "the file's other-model before the reload")
    res = standard_resources(env.mock.port)
    res["models"] = [x for x in res["models"] if x["name"] != "other-model"]
    res["models"][0]["model"] = "mock-1-hup"  # mock-gpt changes too
    v0 = get_status(env)["config_version"]
    env.gw.write_resources(res)
    env.gw.reload()
    wait_for(lambda: admin(env.gw, "GET", MODELS + "/other-model").status == 404, 5.0 * SLOW,
             what="other-model to leave the table after SIGHUP")
    s = get_status(env)
    check(s["config_version"] > v0, "config_version did not grow on reload")
    check(s.get("config_source", "").startswith("file:"), "config_source %r",
          s.get("config_source"))
    check_eq(get(env, MODELS, m["id"]), m, "the Admin API's model after the reload")
    served(env, "adm-hup", "up-hup", "the Admin API's model after the reload")
    not_served(env, "other-model", "the model taken out of the file")
    served(env, "mock-gpt", "mock-1-hup", "the file's changed model")
    items = listing(env, MODELS)
    check("other-model" not in items, "other-model is still listed")
    for rid in ("mock-gpt", "mock-b", m["id"]):
        check(rid in items, "%s is not listed after the reload: %r", rid, sorted(items))
    delete(env, MODELS, m["id"])


@tap.case("aigw's log holds no provider secret and no generated API key")
def _(env):
    log = env.gw.log()
    check("admin:" in log, "no admin: lines in the log at all")
    for s in SECRETS + tuple(getattr(env, "plain_keys", ())):
        at = log.find(s)
        check(at < 0, "secret %r in the log: %r", s, log[max(0, at - 200):at + 100])


# ---- gateways of their own -------------------------------------------------------

def own_gateway(env, **admin_kw):
    return Gateway(standard_resources(env.mock.port), config=admin_config(workers=1, **admin_kw),
                   env={"MOCK_KEY": MOCK_KEY})


@tap.case("admin.allow without 127.0.0.1: 403 address_not_allowed for every request")
def _(env):
    gw = own_gateway(env, allow=["10.0.0.0/8"])
    try:
        g = Env(env.mock, gw)
        for method, path, body in (("GET", STATUS, None), ("GET", MODELS, None),
                                   ("GET", MODELS + "/mock-gpt", None),
                                   ("POST", MODELS, model_doc(env, "adm-allow")),
                                   ("PUT", MODELS + "/mock-gpt", model_doc(env, "mock-gpt")),
                                   ("DELETE", MODELS + "/mock-gpt", None),
                                   ("POST", KEYS + "/team-a/rotate", None),
                                   ("GET", "/admin/v1/nope", None)):
            for key in (ADMIN_KEY, VIEWER_KEY, None, "wrong-admin-key-0123456789"):
                admin_error(admin(gw, method, path, body, key=key), 403, "address_not_allowed",
                            "%s %s with key %r" % (method, path, key))
        served(g, "mock-gpt", "mock-1", "the data plane of that gateway")
        key_works(g, "sk-test-a", "team-a's key on that gateway")
    finally:
        rc = gw.stop()
    check_eq(rc, 0, "exit code")


@tap.case("no admin.keys, admin.allow_keyless: loopback clients read without a key")
def _(env):
    gw = own_gateway(env, keys=False)
    try:
        resp = admin(gw, "GET", STATUS, key=None)
        check(resp.status == 200, "GET status without a key: %d %r", resp.status, resp.body[:300])
        check_eq(resp.json().get("mode"), "standalone", "mode")
        check_eq(resp.json().get("master_pid"), gw.pid, "master_pid")
        resp = admin(gw, "GET", MODELS, key=None)
        check(resp.status == 200, "GET models without a key: %d %r", resp.status, resp.body[:300])
        check_eq(sorted(i["id"] for i in resp.json()["items"]),
                 ["mock-b", "mock-gpt", "other-model"], "models")
        resp = admin(gw, "GET", KEYS + "/team-a", key=None)
        check(resp.status == 200, "GET an API key without a key: %d %r", resp.status,
              resp.body[:300])
        check_eq(resp.json()["value"].get("key_sha256"), sha256("sk-test-a"), "key_sha256")
    finally:
        rc = gw.stop()
    check_eq(rc, 0, "exit code")


@tap.case("admin.listen on 0.0.0.0 without admin.keys, even with admin.allow_keyless: aigw "
          "refuses to start, the log says why")
def _(env):
    gw = Gateway(standard_resources(env.mock.port),
                 config=admin_config(keys=False, listen_host="0.0.0.0", workers=1),
                 env={"MOCK_KEY": MOCK_KEY}, start=False)
    listen = gw.config["admin"]["listen"][0]
    gw.start(wait=False)
    try:
        rc = gw.wait_exit(timeout=10 * SLOW)
    finally:
        if gw.running():
            gw.kill_now()
    check(rc is not None, "aigw with admin.listen %s and no admin keys is still running", listen)
    check(rc != 0, "aigw exited 0")
    log = gw.log()
    lines = [line for line in log.splitlines() if listen in line and "loopback" in line]
    check(lines, "no log line names %s and says it is not loopback:\n%s", listen, log[-2000:])
    check("started:" not in log, "the log says aigw started:\n%s", log[-2000:])
    check(not gw.orphans(), "workers left behind: %r", gw.orphans())


if __name__ == "__main__":
    main(tap, fixture)
