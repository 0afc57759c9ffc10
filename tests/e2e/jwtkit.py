# SPDX-License-Identifier: Apache-2.0
"""Real JWTs for the tests: keys made by the `openssl` command at test time,
their public JWKs, and tokens signed by `openssl` (RS*, PS*, ES*, EdDSA) or
Python's hmac (HS256). Nothing here trusts aigw: base64url, JSON and the
ECDSA DER -> r||s conversion are done by hand."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

OPENSSL = "openssl"

# alg -> (key type, digest name for openssl dgst)
ALGS = {
    "RS256": ("rsa", "sha256"), "RS384": ("rsa", "sha384"), "RS512": ("rsa", "sha512"),
    "PS256": ("rsa", "sha256"), "PS384": ("rsa", "sha384"), "PS512": ("rsa", "sha512"),
    "ES256": ("p256", "sha256"), "ES384": ("p384", "sha384"), "EdDSA": ("ed25519", None),
}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _run(args, data=None):
    return subprocess.run([OPENSSL] + args, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=True, timeout=60).stdout


class Key:
    """A private key in dir (PEM), of kind rsa, p256, p384 or ed25519, with kid."""

    made = 0

    def __init__(self, dirname, kind, kid):
        self.kind = kind
        self.kid = kid
        Key.made += 1  # two keys may share a kid (a stranger's key): never a file
        self.path = os.path.join(dirname, "%s-%d.pem" % (kid, Key.made))
        gen = {"rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
               "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
               "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
               "ed25519": ["-algorithm", "ED25519"]}[kind]
        _run(["genpkey"] + gen + ["-out", self.path])
        self.pub_der = _run(["pkey", "-in", self.path, "-pubout", "-outform", "DER"])
        self.pub_pem = _run(["pkey", "-in", self.path, "-pubout"])

    def jwk(self, alg=None):
        """The public JWK (kid, and alg when given)."""
        if self.kind == "rsa":
            text = _run(["rsa", "-in", self.path, "-noout", "-modulus"]).decode()
            n = bytes.fromhex(text.strip().split("=", 1)[1])
            k = {"kty": "RSA", "n": b64u(n), "e": b64u(b"\x01\x00\x01")}
        elif self.kind in ("p256", "p384"):
            size = 32 if self.kind == "p256" else 48
            point = self.pub_der[-(1 + 2 * size):]  # the SPKI ends with 04 || x || y
            assert point[0] == 4
            k = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                 "x": b64u(point[1:1 + size]), "y": b64u(point[1 + size:])}
        else:
            k = {"kty": "OKP", "crv": "Ed25519", "x": b64u(self.pub_der[-32:])}
        k["kid"] = self.kid
        k["use"] = "sig"
        if alg:
            k["alg"] = alg
        return k

    def sign(self, alg, data):
        """The JWS signature of data (bytes) with this key."""
        _, md = ALGS[alg]
        tmp = self.path + ".in"
        with open(tmp, "wb") as f:
            f.write(data)
        try:
            if alg == "EdDSA":
                return _run(["pkeyutl", "-sign", "-inkey", self.path, "-rawin", "-in", tmp])
            args = ["dgst", "-" + md, "-sign", self.path]
            if alg.startswith("PS"):
                args += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
            sig = _run(args + [tmp])
        finally:
            os.unlink(tmp)
        if alg.startswith("ES"):
            sig = der_to_rs(sig, 32 if alg == "ES256" else 48)
        return sig


def der_to_rs(der, size):
    """ECDSA DER SEQUENCE { r INTEGER, s INTEGER } -> r || s, each size bytes."""
    def length(buf, i):
        n = buf[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7f
        return int.from_bytes(buf[i + 1:i + 1 + k], "big"), i + 1 + k
    assert der[0] == 0x30
    _, i = length(der, 1)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n, i = length(der, i + 1)
        v = int.from_bytes(der[i:i + n], "big")
        i += n
        out += v.to_bytes(size, "big")
    return out


def jwks(*jwk_list):
    return json.dumps({"keys": list(jwk_list)})


def claims(iss, sub, aud="aigw", life=300, **extra):
    now = int(time.time())
    c = {"iss": iss, "sub": sub, "iat": now, "exp": now + life}
    if aud is not None:
        c["aud"] = aud
    c.update(extra)
    return c


def token(alg, payload, key=None, secret=None, kid=None, header_extra=None, raw_payload=None,
          raw_header=None):
    """A compact JWS. key: a Key (kid taken from it unless kid is given);
    secret: bytes for HS256; alg "none" makes an unsigned token."""
    header = {"alg": alg, "typ": "JWT"}
    if key is not None or kid is not None:
        header["kid"] = kid if kid is not None else key.kid
    header.update(header_extra or {})
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":"))
    p = raw_payload if raw_payload is not None else json.dumps(payload, separators=(",", ":"))
    signing = (b64u(h) + "." + b64u(p)).encode()
    if alg == "none":
        sig = b""
    elif alg.startswith("HS"):
        sig = hmac.new(secret, signing, hashlib.sha256).digest()
    else:
        sig = key.sign(alg, signing)
    return signing.decode() + "." + b64u(sig)
