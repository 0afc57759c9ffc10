# SPDX-License-Identifier: Apache-2.0
"""End-to-end: TLS termination on aigw's own listeners (listen, admin.listen,
metrics.listen given as {address, tls}).

Certificates are made at test time with the openssl command: a test CA, a
server certificate for 127.0.0.1 and localhost, a second one for the SNI
name sni.test, an expired one, a key that is not the certificate's, and a
client certificate for the Admin API's mutual TLS. Clients are Python's ssl
module, verifying against the test CA.

The gateway keeps a plain listener (the harness polls /healthz on it) and
adds an HTTPS one; its Admin API and metrics listeners are HTTPS too, the
Admin API requiring a client certificate.
"""

import contextlib
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN, HOST, MOCK_KEY, SLOW, SRCDIR, TAP, Env, Gateway, Metrics, Mock, chat_body, check,
        check_eq, free_port, main, make_tmpdir, standard_resources, wait_for, write_file)
    from test_upgrade import become_subreaper, upgrade  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

RELOAD_TIMEOUT = 40 * SLOW
AIGWCTL = os.environ.get("AIGWCTL_BIN") or os.path.join(SRCDIR, "aigwctl", "aigwctl")


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_pki(folder):
    """The test CA and every certificate the cases use: a dict of paths."""
    p = {n: os.path.join(folder, n) for n in (
        "ca.pem", "ca.key", "srv.pem", "srv.key", "srv2.pem", "srv2.key", "sni.pem", "sni.key",
        "old.pem", "old.key", "other.key", "cli.pem", "cli.key", "ext-srv", "ext-sni", "ext-cli")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=aigw test CA", "-keyout",
            p["ca.key"], "-out", p["ca.pem"], "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    write_file(p["ext-srv"], "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
               "extendedKeyUsage=serverAuth\n")
    write_file(p["ext-sni"], "subjectAltName=DNS:sni.test\nextendedKeyUsage=serverAuth\n")
    write_file(p["ext-cli"], "extendedKeyUsage=clientAuth\n")

    def leaf(name, cn, ext, days="2"):
        csr = os.path.join(folder, name + ".csr")
        openssl("req", "-new", *ec, "-subj", "/CN=" + cn, "-keyout", p[name + ".key"], "-out",
                csr)
        openssl("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
                "-CAcreateserial", "-days", days, "-out", p[name + ".pem"], "-extfile", p[ext])
    leaf("srv", "localhost", "ext-srv")
    leaf("srv2", "localhost", "ext-srv")  # the reload's new certificate
    leaf("sni", "sni.test", "ext-sni")
    leaf("old", "localhost", "ext-srv", days="-1")  # expired yesterday
    leaf("cli", "aigw test client", "ext-cli")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
            p["other.key"])
    for name, path in p.items():
        if name.endswith(".key"):
            os.chmod(path, 0o600)
    return p


def tls_block(pki, certs=(("srv.pem", "srv.key"), ("sni.pem", "sni.key")), **extra):
    block = {"certificates": [{"cert_file": pki[c], "key_file": pki[k]} for c, k in certs]}
    block.update(extra)
    return block


def gw_config(pki, tls_port, admin_port, metrics_port, plain_port, certs=None):
    listen_tls = tls_block(pki) if certs is None else tls_block(pki, certs)
    return {
        # a handshake never begun ends at the header timeout: short, for the case that waits
        "timeouts": {"drain": "10s", "client_header": "1s"},
        "listen": ["%s:%d" % (HOST, plain_port),
                   {"address": "%s:%d" % (HOST, tls_port), "tls": listen_tls}],
        "admin": {"listen": [{"address": "%s:%d" % (HOST, admin_port),
                              "tls": tls_block(pki, (("srv.pem", "srv.key"),),
                                               client_ca_file=pki["ca.pem"])}],
                  "allow_keyless": True},
        "metrics": {"listen": [{"address": "%s:%d" % (HOST, metrics_port),
                                "tls": tls_block(pki, (("srv.pem", "srv.key"),))}]},
    }


class TlsEnv(Env):
    pass


@contextlib.contextmanager
def fixture():
    become_subreaper()  # the upgrade's new master becomes our child
    folder = make_tmpdir("aigw-tlsl-")
    pki = make_pki(folder)
    mock = gw = None
    try:
        mock = Mock(key=MOCK_KEY)
        plain, tls_port, admin, metrics = free_port(), free_port(), free_port(), free_port()
        conf = gw_config(pki, tls_port, admin, metrics, plain)
        gw = Gateway(standard_resources(mock.port), config=conf, port=plain,
                     env={"MOCK_KEY": MOCK_KEY})
        tap.add_gateway_log(gw, "aigw log (%s)" % gw.dir)
        yield TlsEnv(mock=mock, gw=gw, pki=pki, folder=folder, tls_port=tls_port,
                     admin_port=admin, metrics_port=metrics, conf=conf)
    finally:
        if gw is not None:
            gw.stop()
        if mock is not None:
            mock.stop()


# --------------------------------------------------------------------------
# clients
# --------------------------------------------------------------------------

def client_ctx(env, **kw):
    ctx = ssl.create_default_context(cafile=env.pki["ca.pem"])
    if kw.get("cert"):
        ctx.load_cert_chain(env.pki["cli.pem"], env.pki["cli.key"])
    if kw.get("alpn"):
        ctx.set_alpn_protocols(kw["alpn"])
    return ctx


def https(env, port, method, path, body=None, key=None, ctx=None, conn=None, host="localhost"):
    """One request over HTTPS: (status, body bytes, the connection's peer cert DER)."""
    headers = {}
    if key is not None:
        headers["Authorization"] = "Bearer " + key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    own = conn is None
    if own:
        conn = http.client.HTTPSConnection(HOST, port, timeout=10 * SLOW)
    try:
        if conn.sock is None:
            conn.sock = handshake(env, port, host=host, ctx=ctx)
        conn.request(method, path, body=data, headers=headers)
        # before the answer: one with Connection: close (a draining worker's) drops the socket
        der = conn.sock.getpeercert(binary_form=True)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, payload, der
    finally:
        if own:
            conn.close()


def handshake(env, port, host="localhost", ctx=None, session=None):
    """Connect and shake hands: the SSLSocket (the caller closes it)."""
    raw = socket.create_connection((HOST, port), timeout=10 * SLOW)
    try:
        return (ctx or client_ctx(env)).wrap_socket(raw, server_hostname=host, session=session)
    except BaseException:
        raw.close()
        raise


def der_of(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


def run_t(conf_path):
    """aigw -t: (exit code, stderr)."""
    p = subprocess.run([AIGW_BIN, "-t", "-c", conf_path], capture_output=True, text=True,
                       timeout=30 * SLOW, env=dict(os.environ, MOCK_KEY=MOCK_KEY))
    return p.returncode, p.stderr


def scrape_tls(env):
    status, body, _ = https(env, env.metrics_port, "GET", "/metrics")
    check_eq(status, 200, "GET /metrics over HTTPS")
    return Metrics(body.decode())


def reload(env):
    return env.gw.control("reload", timeout=RELOAD_TIMEOUT)


def old_workers_gone(env, old):
    """Wait until the workers in old exited: until then, they may still accept."""
    env.gw.wait_workers(env.gw.config.get("workers", 2), timeout=RELOAD_TIMEOUT, exclude=old)


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

@tap.case("a chat completion over HTTPS, verified against the test CA (name and IP)")
def _(env):
    for host in ("localhost", HOST):
        status, body, der = https(env, env.tls_port, "POST", "/v1/chat/completions",
                                  chat_body(), key="sk-test-a", host=host)
        check(status == 200, "status %d body %r", status, body[:300])
        check(b"chat.completion" in body, "not a chat completion: %r", body[:300])
        check_eq(der, der_of(env.pki["srv.pem"]), "the certificate served to %s" % host)


@tap.case("several requests on one kept-alive HTTPS connection")
def _(env):
    conn = http.client.HTTPSConnection(HOST, env.tls_port, timeout=10 * SLOW)
    try:
        conn.sock = handshake(env, env.tls_port)
        for _ in range(5):
            status, body, _ = https(env, env.tls_port, "GET", "/v1/models", key="sk-test-a",
                                    conn=conn)
            check_eq(status, 200, "GET /v1/models")
    finally:
        conn.close()


@tap.case("plain HTTP sent to the HTTPS listener gets no answer in clear")
def _(env):
    with socket.create_connection((HOST, env.tls_port), timeout=10 * SLOW) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break  # refused: reset rather than answered
            if not chunk:
                break
            data += chunk
        check(b"HTTP/1.1 200" not in data, "answered in clear: %r", data[:200])


@tap.case("TLS 1.1 is refused by the server (protocol_version alert)")
def _(env):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client itself must be willing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        s = handshake(env, env.tls_port, ctx=ctx)
        version = s.version()
        s.close()
        check(False, "a TLS 1.1 handshake succeeded (%s)", version)
    except ssl.SSLError as exc:
        check("PROTOCOL_VERSION" in str(exc).upper() or "ALERT" in str(exc).upper(),
              "not refused by the server: %r", exc)
    s = handshake(env, env.tls_port)
    try:
        check(s.version() in ("TLSv1.2", "TLSv1.3"), "version %s", s.version())
    finally:
        s.close()


@tap.case("ALPN: http/1.1 chosen from h2 and http/1.1; h2 alone gets no ALPN")
def _(env):
    s = handshake(env, env.tls_port, ctx=client_ctx(env, alpn=["h2", "http/1.1"]))
    try:
        check_eq(s.selected_alpn_protocol(), "http/1.1", "ALPN")
    finally:
        s.close()
    s = handshake(env, env.tls_port, ctx=client_ctx(env, alpn=["h2"]))
    try:
        check_eq(s.selected_alpn_protocol(), None, "ALPN with h2 alone")
    finally:
        s.close()


@tap.case("SNI: sni.test gets its own certificate; another name the first one")
def _(env):
    for host, want in (("sni.test", "sni.pem"), ("localhost", "srv.pem")):
        s = handshake(env, env.tls_port, host=host)
        try:
            check_eq(s.getpeercert(binary_form=True), der_of(env.pki[want]),
                     "certificate for %s" % host)
        finally:
            s.close()
    ctx = client_ctx(env)
    ctx.check_hostname = False
    s = handshake(env, env.tls_port, host="unknown.test", ctx=ctx)
    try:
        check_eq(s.getpeercert(binary_form=True), der_of(env.pki["srv.pem"]),
                 "certificate for a name no certificate has")
    finally:
        s.close()


def resumed_request(env, session):
    """A new connection offering session, one GET /v1/models: (reused?, the
    worker's request id prefix, the connection's session)."""
    conn = http.client.HTTPSConnection(HOST, env.tls_port, timeout=10 * SLOW)
    try:
        conn.sock = handshake(env, env.tls_port, session=session, ctx=env.resume_ctx)
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer sk-test-a"})
        resp = conn.getresponse()
        resp.read()
        check_eq(resp.status, 200, "GET /v1/models")
        # each worker's request ids start with its own random 16 hex digits
        return conn.sock.session_reused, resp.getheader("x-request-id")[:16], conn.sock.session
    finally:
        conn.close()


@tap.case("session resumption works across workers (ticket keys shared by the master)")
def _(env):
    env.resume_ctx = client_ctx(env)  # a session is reused with the context that made it
    _, first, session = resumed_request(env, None)
    workers, resumed, tries = {first}, 0, 0
    # connections land on either worker; go on until both have resumed one
    while (len(workers) < 2 or resumed < 4) and tries < 40:
        tries += 1
        reused, worker, _ = resumed_request(env, session)
        check(reused, "connection %d (worker %s, first %s) did not resume", tries, worker, first)
        workers.add(worker)
        resumed += 1
    check(len(workers) >= 2, "every connection went to one worker (%d tries)", tries)


@tap.case("Admin API with mutual TLS: no client certificate, refused; with one, 200")
def _(env):
    try:
        status, body, _ = https(env, env.admin_port, "GET", "/admin/v1/status")
        check(False, "answered %d without a client certificate", status)
    except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
        pass
    status, body, _ = https(env, env.admin_port, "GET", "/admin/v1/status",
                            ctx=client_ctx(env, cert=True))
    check_eq(status, 200, "GET /admin/v1/status with a client certificate")


def aigwctl(env, *args):
    """aigwctl -c the gateway's aigw.yaml ARGS: (exit code, stdout + stderr)."""
    p = subprocess.run([AIGWCTL, "-c", env.gw.conf_path] + list(args), capture_output=True,
                       text=True, timeout=30 * SLOW, env=dict(os.environ, MOCK_KEY=MOCK_KEY))
    return p.returncode, p.stdout + p.stderr


@tap.case("aigwctl reaches the HTTPS Admin API of aigw.yaml: --ca-file, --cert and --key")
def _(env):
    rc, out = aigwctl(env, "--ca-file", env.pki["ca.pem"], "--cert", env.pki["cli.pem"],
                      "--key", env.pki["cli.key"], "--json", "model", "list")
    check_eq(rc, 0, "aigwctl model list over mutual TLS (%s)" % out[-500:])
    check("mock-gpt" in out, "the models are not listed: %r", out[-500:])
    # without the test CA, the Admin API's certificate is not trusted
    rc, out = aigwctl(env, "--cert", env.pki["cli.pem"], "--key", env.pki["cli.key"],
                      "model", "list")
    check(rc != 0, "aigwctl trusted a certificate of an unknown CA: %r", out[-500:])
    check("certificate" in out.lower(), "the error does not say why: %r", out[-500:])
    # without a client certificate, the handshake is refused
    rc, out = aigwctl(env, "--ca-file", env.pki["ca.pem"], "model", "list")
    check(rc != 0, "aigwctl got through without a client certificate: %r", out[-500:])
    # --admin-url by name: the certificate's DNS name localhost is checked and matches
    rc, out = aigwctl(env, "--ca-file", env.pki["ca.pem"], "--cert", env.pki["cli.pem"],
                      "--key", env.pki["cli.key"], "--admin-url",
                      "https://localhost:%d" % env.admin_port, "model", "list")
    check_eq(rc, 0, "aigwctl --admin-url https://localhost (%s)" % out[-500:])
    # the same listener by a name its certificate does not hold: refused (the name is checked)
    rc, out = aigwctl(env, "--ca-file", env.pki["ca.pem"], "--cert", env.pki["cli.pem"],
                      "--key", env.pki["cli.key"], "--admin-url",
                      "https://[::ffff:127.0.0.1]:%d" % env.admin_port, "model", "list")
    check(rc != 0, "aigwctl accepted a certificate for another name: %r", out[-500:])
    check("name" in out.lower() or "subject" in out.lower(),
          "the error does not say the name did not match: %r", out[-500:])


@tap.case("metrics over HTTPS: handshakes by listener and result, certificate expiry")
def _(env):
    listener = "%s:%d" % (HOST, env.tls_port)
    m = scrape_tls(env)
    check(m.get("aigw_tls_handshakes_total", listener=listener, result="ok") >= 3,
          "ok handshakes on %s:\n%s", listener, m.text)
    check(m.get("aigw_tls_handshakes_total", listener=listener, result="protocol") >= 1,
          "the TLS 1.1 refusal is not counted:\n%s", m.text)
    check(m.get("aigw_tls_handshakes_total", result="client_certificate",
                listener="%s:%d" % (HOST, env.admin_port)) >= 1,
          "the Admin API's refusal is not counted:\n%s", m.text)
    out = subprocess.run(["openssl", "x509", "-in", env.pki["srv.pem"], "-noout", "-enddate"],
                         capture_output=True, text=True, check=True).stdout
    want = ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])
    for port in (env.tls_port, env.admin_port, env.metrics_port):
        check_eq(m.get("aigw_tls_certificate_expiry_timestamp_seconds",
                       listener="%s:%d" % (HOST, port), certificate=env.pki["srv.pem"]),
                 float(want), "expiry of srv.pem on %s:%d" % (HOST, port))


@tap.case("a connection that never shakes hands is closed at the header timeout and counted")
def _(env):
    listener = "%s:%d" % (HOST, env.tls_port)
    before = scrape_tls(env).get("aigw_tls_handshakes_total", listener=listener, result="closed")
    with socket.create_connection((HOST, env.tls_port), timeout=15 * SLOW) as s:
        try:
            data = s.recv(1)  # nothing sent: the server must end it (timeouts.client_header)
        except ConnectionResetError:
            data = b""
        check_eq(data, b"", "what the server sent to a silent client")
    wait_for(lambda: scrape_tls(env).get("aigw_tls_handshakes_total", listener=listener,
                                         result="closed") > before,
             10 * SLOW, what="the unfinished handshake counted as closed")


@tap.case("aigw -t: each bad file is an error naming it")
def _(env):
    pki = env.pki
    bad = os.path.join(env.folder, "bad.yaml")
    open_key = os.path.join(env.folder, "open.key")
    write_file(open_key, open(pki["srv.key"]).read())
    os.chmod(open_key, 0o644)
    missing = os.path.join(env.folder, "missing.pem")
    cases = [
        ((missing, pki["srv.key"]), missing, "No such file"),
        ((pki["old.pem"], pki["old.key"]), pki["old.pem"], "expired"),
        ((pki["srv.pem"], pki["other.key"]), pki["other.key"], "does not match"),
        ((pki["srv.pem"], open_key), open_key, "readable or writable by every user"),
    ]
    for (cert, key), name, why in cases:
        conf = dict(env.gw.config)
        conf["listen"] = [{"address": "%s:%d" % (HOST, free_port()),
                           "tls": {"certificates": [{"cert_file": cert, "key_file": key}]}}]
        write_file(bad, conf)
        rc, err = run_t(bad)
        check(rc != 0, "aigw -t passed with %s", name)
        check(name in err and why in err, "the error does not name %s (%s): %r", name, why, err)
    write_file(bad, env.gw.config)
    rc, err = run_t(bad)
    check_eq(rc, 0, "aigw -t on the good configuration (%s)" % err)


@tap.case("reload with a new certificate: an open connection goes on, new handshakes get it")
def _(env):
    conn = http.client.HTTPSConnection(HOST, env.tls_port, timeout=10 * SLOW)
    try:
        conn.sock = handshake(env, env.tls_port)
        check_eq(https(env, env.tls_port, "GET", "/v1/models", key="sk-test-a", conn=conn)[0],
                 200, "before the reload")
        conf = dict(env.gw.config)
        conf["listen"] = [conf["listen"][0],
                          {"address": "%s:%d" % (HOST, env.tls_port),
                           "tls": tls_block(env.pki, (("srv2.pem", "srv2.key"),
                                                      ("sni.pem", "sni.key")))}]
        env.gw.write_config(conf)
        old = env.gw.worker_pids()
        r = reload(env)
        check(r.get("ok") is True, "reload: %r", r)
        status, _, der = https(env, env.tls_port, "GET", "/v1/models", key="sk-test-a",
                               conn=conn)
        check_eq(status, 200, "the connection opened before the reload")
        check_eq(der, der_of(env.pki["srv.pem"]), "its certificate")
        old_workers_gone(env, old)
        s = handshake(env, env.tls_port)
        try:
            check_eq(s.getpeercert(binary_form=True), der_of(env.pki["srv2.pem"]),
                     "a new handshake's certificate")
        finally:
            s.close()
    finally:
        conn.close()


@tap.case("reload with the certificate file rewritten (same path): new handshakes get it")
def _(env):
    # the configuration names srv2.pem since the last case; put srv.pem's text in it
    pem, key = open(env.pki["srv2.pem"]).read(), open(env.pki["srv2.key"]).read()
    try:
        write_file(env.pki["srv2.pem"], open(env.pki["srv.pem"]).read())
        write_file(env.pki["srv2.key"], open(env.pki["srv.key"]).read())
        os.chmod(env.pki["srv2.key"], 0o600)
        old = env.gw.worker_pids()
        r = reload(env)
        check(r.get("ok") is True, "reload: %r", r)
        old_workers_gone(env, old)
        s = handshake(env, env.tls_port)
        try:
            check_eq(s.getpeercert(binary_form=True), der_of(env.pki["srv.pem"]),
                     "a new handshake's certificate")
        finally:
            s.close()
    finally:
        write_file(env.pki["srv2.pem"], pem)
        write_file(env.pki["srv2.key"], key)
        os.chmod(env.pki["srv2.key"], 0o600)


@tap.case("reload with an expired or mismatched certificate fails; the old one serves")
def _(env):
    before = handshake(env, env.tls_port)
    served = before.getpeercert(binary_form=True)
    before.close()
    for cert, key, name in ((env.pki["old.pem"], env.pki["old.key"], env.pki["old.pem"]),
                            (env.pki["srv.pem"], env.pki["other.key"], env.pki["other.key"])):
        conf = dict(env.gw.config)
        conf["listen"] = [conf["listen"][0],
                          {"address": "%s:%d" % (HOST, env.tls_port),
                           "tls": {"certificates": [{"cert_file": cert, "key_file": key}]}}]
        env.gw.write_config(conf)
        r = reload(env)
        check(r.get("ok") is False, "a reload with %s succeeded: %r", name, r)
        check(name in str(r), "the reload's error does not name %s: %r", name, r)
        status, _, der = https(env, env.tls_port, "GET", "/v1/models", key="sk-test-a")
        check_eq(status, 200, "after the refused reload")
        check_eq(der, served, "the certificate still served")
    env.gw.write_config(env.gw.config)
    check(reload(env).get("ok") is True, "reload back to the first configuration")


@tap.case("reload with other Admin API and metrics certificates: new handshakes get them, "
          "an open Admin API connection goes on")
def _(env):
    conf = dict(env.gw.config)
    conf["admin"] = dict(conf["admin"], listen=[{
        "address": "%s:%d" % (HOST, env.admin_port),
        "tls": tls_block(env.pki, (("srv2.pem", "srv2.key"),), client_ca_file=env.pki["ca.pem"])}])
    conf["metrics"] = dict(conf["metrics"], listen=[{
        "address": "%s:%d" % (HOST, env.metrics_port),
        "tls": tls_block(env.pki, (("srv2.pem", "srv2.key"),))}])
    conn = http.client.HTTPSConnection(HOST, env.admin_port, timeout=10 * SLOW)
    conn.sock = handshake(env, env.admin_port, ctx=client_ctx(env, cert=True))
    env.gw.write_config(conf)
    try:
        check_eq(https(env, env.admin_port, "GET", "/admin/v1/status", conn=conn)[0], 200,
                 "the Admin API before the reload")
        r = reload(env)
        check(r.get("ok") is True, "reload: %r", r)
        check("admin.listen" not in (r.get("result") or {}).get("restart_only", []),
              "a certificate change said to need a restart: %r", r)
        status, _, der = https(env, env.admin_port, "GET", "/admin/v1/status", conn=conn)
        check_eq((status, der), (200, der_of(env.pki["srv.pem"])),
                 "the Admin API connection opened before the reload, and its certificate")
        for port, ctx in ((env.admin_port, client_ctx(env, cert=True)),
                          (env.metrics_port, client_ctx(env))):
            s = handshake(env, port, ctx=ctx)
            try:
                check_eq(s.getpeercert(binary_form=True), der_of(env.pki["srv2.pem"]),
                         "a new handshake's certificate on %d" % port)
            finally:
                s.close()
    finally:
        conn.close()
        env.gw.write_config(env.gw.config)
        check(reload(env).get("ok") is True, "reload back to the first configuration")
    s = handshake(env, env.admin_port, ctx=client_ctx(env, cert=True))
    try:
        check_eq(s.getpeercert(binary_form=True), der_of(env.pki["srv.pem"]),
                 "the Admin API's certificate once reloaded back")
    finally:
        s.close()


@tap.case("aigw -t: a tls block of the wrong shape is an error naming the member")
def _(env):
    bad = os.path.join(env.folder, "shape.yaml")
    cert = {"cert_file": env.pki["srv.pem"], "key_file": env.pki["srv.key"]}
    cases = [
        ({"certificates": [cert], "min_version": "TLSv1.1"}, "tls.min_version"),
        ({"certificates": [cert], "session_cache": True}, "session_cache: unknown field"),
        ({"certificates": []}, "tls.certificates"),
        ({"certificates": [dict(cert, password="x")]}, "password: unknown field"),
        ({"certificates": [cert], "client_ca_file": env.pki["srv.key"]}, "client_ca_file"),
    ]
    for tls, want in cases:
        conf = dict(env.gw.config)
        conf["listen"] = [{"address": "%s:%d" % (HOST, free_port()), "tls": tls}]
        write_file(bad, conf)
        rc, err = run_t(bad)
        check(rc != 0, "aigw -t passed with %r", tls)
        check(want in err, "the error does not say %r: %r", want, err)
    conf = dict(env.gw.config)
    conf["listen"] = [{"address": "%s:%d" % (HOST, free_port()), "tls": {"certificates": [cert]},
                       "port": 1}]
    write_file(bad, conf)
    rc, err = run_t(bad)
    check(rc != 0 and "port: unknown field" in err, "a listener's unknown member: %r", err)


@tap.case("binary upgrade (SIGUSR2): HTTPS goes on, and sessions resume with the same keys")
def _(env):
    env.resume_ctx = client_ctx(env)
    _, _, session = resumed_request(env, None)
    old_pid, rc, new_pid = upgrade(env.gw)
    check_eq(rc, 0, "the old master's exit status")
    status, body, der = https(env, env.tls_port, "POST", "/v1/chat/completions", chat_body(),
                              key="sk-test-a")
    check(status == 200, "status %d body %r", status, body[:300])
    check_eq(der, der_of(env.pki["srv.pem"]), "the certificate after the upgrade")
    reused, _, _ = resumed_request(env, session)
    check(reused, "a session of the old master's workers did not resume on the new ones")
    status, _, _ = https(env, env.admin_port, "GET", "/admin/v1/status",
                         ctx=client_ctx(env, cert=True))
    check_eq(status, 200, "the new master's HTTPS Admin API")


if __name__ == "__main__":
    main(tap, fixture)
