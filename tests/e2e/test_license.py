# SPDX-License-Identifier: Apache-2.0
"""The license (issue 14): aigw is under the Apache License, Version 2.0.

LICENSE is the license's text, byte for byte (the file Debian ships as
/usr/share/common-licenses/Apache-2.0, whose SHA-256 is pinned here so that
the check holds where that file is absent); NOTICE names the project and its
copyright; every source file the project wrote carries the line
"SPDX-License-Identifier: Apache-2.0" among its first lines; and
packaging/debian/copyright is machine-readable (DEP-5) and licenses the
sources under Apache-2.0; the package ships NOTICE (packaging/debian/aigw.docs).

The files are the tracked ones (git ls-files) in a git checkout, else those
found under the source tree (a release tarball, as in make distcheck): both
are filtered by the same rules, so a new file in src/ is held to it at once.
No process is started.
"""

import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import SRCDIR, TAP, check, check_eq, main  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

TAG = "SPDX-License-Identifier: Apache-2.0"
# sha256sum /usr/share/common-licenses/Apache-2.0 (Debian 12, base-files).
APACHE_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
DEBIAN_APACHE = "/usr/share/common-licenses/Apache-2.0"
# The tag is a header: within the first lines (after a shebang at most).
HEAD_LINES = 3
# Fewer files than this means the listing went wrong, not that all is well.
MIN_FILES = 100

# Paths (relative to the source tree) of the files the project wrote and that
# can carry a comment without changing what they are. Not in it: generated
# files, JSON and lock files, example configurations, the fuzz corpora,
# Markdown, and Debian's list files (install, docs, examples, ...).
SOURCE_RULES = [
    r"(src|include/aigw|aigwctl|tests/unit|tests/mock|tests/fuzz)/[^/]+\.[ch]",
    r"tests/e2e/[^/]+\.py",
    r"tests/[^/]+\.sh",
    r"tests/sdk/[^/]+\.mjs",
    r"man/[^/]+\.[1-9]",
    r"bench/[^/.]+|bench/[^/]+\.(sh|py)",
    r"\.ci/[^/]+",
    r"quickstart|configure\.ac|Makefile\.am",
    r"packaging/debian/(rules|[^/]+\.(postinst|postrm|preinst|prerm|service))",
]
SOURCE_RE = re.compile(r"^(%s)$" % "|".join("(?:%s)" % r for r in SOURCE_RULES))
# Folders of a source tree that are not sources: build trees (distcheck builds
# in _build/ inside the unpacked tarball), autotools' cache, npm's packages.
SKIP_DIRS = re.compile(r"^(_.*|\.git|autom4te\.cache|node_modules|__pycache__)$")


# Return every file path of the source tree, relative to it.
def license_tree_files():
    try:
        out = subprocess.run(["git", "-C", SRCDIR, "ls-files", "-z"], capture_output=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is not None and out.returncode == 0 and out.stdout:
        return [p for p in out.stdout.decode("utf-8", "replace").split("\0") if p]
    paths = []
    for root, dirs, files in os.walk(SRCDIR):
        dirs[:] = [d for d in dirs if not SKIP_DIRS.match(d)]
        rel = os.path.relpath(root, SRCDIR)
        for name in files:
            paths.append(name if rel == "." else os.path.join(rel, name))
    return paths


# Return the first lines of a file, decoded leniently.
def license_head(path):
    with open(os.path.join(SRCDIR, path), "rb") as f:
        data = f.read(4096)
    return data.decode("utf-8", "replace").split("\n")[:HEAD_LINES]


@tap.case("LICENSE is the Apache License, Version 2.0, verbatim")
def _(env):
    with open(os.path.join(SRCDIR, "LICENSE"), "rb") as f:
        text = f.read()
    check_eq(hashlib.sha256(text).hexdigest(), APACHE_SHA256, "SHA-256 of LICENSE")
    if os.path.exists(DEBIAN_APACHE):
        with open(DEBIAN_APACHE, "rb") as f:
            check(f.read() == text, "LICENSE differs from %s", DEBIAN_APACHE)


@tap.case("NOTICE names aigw and its copyright holders")
def _(env):
    with open(os.path.join(SRCDIR, "NOTICE"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    check_eq(lines[:2], ["aigw", "Copyright 2026 The aigw authors"], "NOTICE's first lines")


@tap.case("every source file the project wrote has the SPDX line in its first lines")
def _(env):
    paths = sorted(p for p in license_tree_files() if SOURCE_RE.match(p))
    check(len(paths) >= MIN_FILES, "only %d source files found under %s", len(paths), SRCDIR)
    missing = [p for p in paths if not any(TAG in line for line in license_head(p))]
    check(not missing, "%d of %d files lack %r in their first %d lines: %s", len(missing),
          len(paths), TAG, HEAD_LINES, " ".join(missing))


# Return the paragraphs of a DEP-5 file, each a dict of field -> value.
def license_dep5(text):
    paras = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, name = {}, None
        for line in block.split("\n"):
            if line[:1] in (" ", "\t") and name is not None:
                fields[name] += "\n" + line.strip()
            elif ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()
        paras.append(fields)
    return paras


@tap.case("packaging/debian/copyright is DEP-5 and licenses Files: * under Apache-2.0")
def _(env):
    with open(os.path.join(SRCDIR, "packaging", "debian", "copyright"), encoding="utf-8") as f:
        paras = license_dep5(f.read())
    head = paras[0]
    check_eq(head.get("Format"),
             "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/", "Format")
    check_eq(head.get("Upstream-Name"), "aigw", "Upstream-Name")
    every = [p for p in paras if p.get("Files") == "*"]
    check_eq(len(every), 1, "paragraphs with Files: *")
    check_eq(every[0].get("License"), "Apache-2.0", "License of Files: *")
    check("aigw authors" in every[0].get("Copyright", ""), "Files: * has no aigw copyright")
    texts = [p for p in paras if "Files" not in p and p.get("License", "").startswith("Apache-2.0\n")]
    check_eq(len(texts), 1, "stand-alone License: Apache-2.0 paragraphs")
    check(DEBIAN_APACHE in texts[0]["License"], "the Apache-2.0 paragraph does not point to %s",
          DEBIAN_APACHE)


@tap.case("the Debian package ships NOTICE (Apache-2.0 section 4(d)): aigw.docs lists it")
def _(env):
    with open(os.path.join(SRCDIR, "packaging", "debian", "aigw.docs"), encoding="utf-8") as f:
        docs = f.read().split()
    check("NOTICE" in docs, "packaging/debian/aigw.docs lists %s, not NOTICE", docs)


if __name__ == "__main__":
    main(tap)
