# SPDX-License-Identifier: Apache-2.0
"""The documentation says what the tree and the code are (issue 14).

- Every path of the source tree (src/..., include/..., tests/..., man/...,
  packaging/..., aigwctl/..., docs/..., bench/..., .ci/...) and every bare C
  file name (master_reload.c) that docs/design.md, README.md or a man page
  names exists in the tree.
- aigw.yaml(5) documents exactly the keys of conf.c's table (`aigw --keys`, the
  binary's own list), each with the default the table gives; the fields of
  list items it documents (listen's certificates, a JWT provider's issuer)
  are names the configuration parser spells out in src/conf*.c.
- docs/design.md's worker command line (-W) has the fields worker.c parses.
- The keys a reload keeps until a restart (master_reload.c's KEEP lines) are
  the ones aigw.yaml(5) and aigw(8) list.
- aigw(8)'s EXAMPLES give the README's recipe without systemd line for line.

- aigw -t checks a keyless Admin API as the pages say (localhost is no loopback).

No aigw process is started but `aigw --keys` and `aigw -t`.
"""

import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import (  # noqa: E402
        AIGW_BIN as AIGW, SRCDIR, TAP, check, check_eq, main, make_tmpdir, write_file)
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

DOCS = ["docs/design.md", "README.md"] + sorted(
    os.path.relpath(p, SRCDIR) for p in glob.glob(os.path.join(SRCDIR, "man", "*.[1-8]")))
# A path of the tree: not preceded by a slash or a word character (/etc/aigw/... is not).
TREE_PATH = re.compile(r"(?<![\w/.~-])((?:src|include|tests|man|packaging|aigwctl|docs|bench|"
                       r"\.ci)/[\w./*-]*[\w*])")
C_FILE = re.compile(r"(?<![\w/.-])([a-z][\w-]*\.[ch])\b")
# Programs the build makes: named in the README's commands, not in a source tree.
BUILT = {"src/aigw", "aigwctl/aigwctl", "tests/mock/aigw-mock"}
C_DIRS = ["src", "include/aigw", "aigwctl", "tests/unit", "tests/mock", "tests/fuzz"]


def read(rel):
    with open(os.path.join(SRCDIR, rel), encoding="utf-8") as f:
        return f.read()


@tap.case("every path of the tree named in docs/design.md, README.md and the man pages exists")
def _(env):
    missing, seen = [], 0
    for doc in DOCS:
        text = read(doc)
        for p in sorted(set(TREE_PATH.findall(text))):
            seen += 1
            if p not in BUILT and not glob.glob(os.path.join(SRCDIR, p)):
                missing.append("%s: %s" % (doc, p))
        for name in sorted(set(C_FILE.findall(text))):
            seen += 1
            if not any(os.path.exists(os.path.join(SRCDIR, d, name)) for d in C_DIRS):
                missing.append("%s: %s" % (doc, name))
    check(seen >= 30, "only %d paths found: the patterns no longer match the documents", seen)
    check(not missing, "named but not in the tree: %s", "; ".join(missing))


def table():
    """conf.c's keys and defaults, as `aigw --keys` prints them."""
    p = subprocess.run([AIGW, "--keys"], capture_output=True, text=True, timeout=30)
    check_eq(p.returncode, 0, "aigw --keys exit status")
    keys = {}
    for line in p.stdout.splitlines():
        # "%-30s %-22s %-24s %s": key, type, default, description
        dflt = line[54:].split(" ", 1)[0]
        keys[line.split()[0]] = "" if dflt == '""' else dflt
    check(len(keys) >= 40, "aigw --keys printed %d keys", len(keys))
    return keys


def man_keys():
    """aigw.yaml(5): {key: the default its entry gives, or None}, and the list items' fields."""
    lines = read("man/aigw.yaml.5").split("\n")
    keys, fields, depth, cur = {}, set(), 0, None
    for i, line in enumerate(lines):
        if line.startswith(".Bl"):
            depth += 1
        elif line.startswith(".El"):
            depth -= 1
        m = re.match(r"\.It Ic ([a-z][\w.]*)", line)
        if m and depth == 1:
            cur = m.group(1)
            keys[cur] = None
        elif m and depth > 1 and cur is not None:
            fields.add((cur, m.group(1)))
        if cur is None or depth != 1 or keys[cur] is not None:
            continue
        if re.match(r"The default(,| is) (an empty (string|list)|none)\b", line):
            keys[cur] = ""
        elif line.startswith("The default is"):
            rest = line[len("The default is"):].strip()
            if not rest:  # .Ql 120s . on the next line
                rest = re.sub(r"^\.(Ql|Cm|Pa) ", "", lines[i + 1])
            keys[cur] = re.sub(r"\\&", "", rest).rstrip(" .")
    return keys, fields


@tap.case("aigw.yaml(5) documents every key of conf.c's table, and no other, with its default")
def _(env):
    t = table()
    m, _fields = man_keys()
    check_eq(sorted(set(m) - set(t)), [], "documented in aigw.yaml(5) but not in aigw --keys")
    check_eq(sorted(set(t) - set(m)), [], "in aigw --keys but not documented in aigw.yaml(5)")
    wrong = []
    for k, dflt in sorted(t.items()):
        doc = m.get(k)
        if doc is None:
            wrong.append("%s: no default given (aigw --keys: %r)" % (k, dflt))
            continue
        doc = doc.split()[0] if doc else ""
        # paths: the page gives the Debian ones, the build its prefix's
        same = doc == dflt or (doc.startswith("/") and dflt.endswith(doc)) or \
            (k == "admin.allow" and dflt.startswith(doc + ","))
        if not same:
            wrong.append("%s: aigw.yaml(5) says %r, aigw --keys %r" % (k, doc, dflt))
    check(not wrong, "%s", "; ".join(wrong))


@tap.case("aigw.yaml(5)'s fields of list items are names the configuration parser knows")
def _(env):
    _keys, fields = man_keys()
    check(len(fields) >= 10, "only %d fields found: %r", len(fields), sorted(fields))
    src = "".join(read(os.path.relpath(p, SRCDIR))
                  for p in glob.glob(os.path.join(SRCDIR, "src", "conf*.c")))
    unknown = ["%s: %s" % kf for kf in sorted(fields) if '"%s"' % kf[1] not in src]
    check(not unknown, "documented fields no src/conf*.c names: %s", ", ".join(unknown))


@tap.case("docs/design.md's worker option -W has the fields worker.c parses")
def _(env):
    m = re.search(r'/\* Parse "([^"]+)" \*/', read("src/worker.c"))
    check(m is not None, "worker.c no longer says what it parses")
    design = read("docs/design.md")
    check("`-W %s`" % m.group(1) in design, "docs/design.md does not give -W as `-W %s`",
          m.group(1))


def keys_listed(page, start, end):
    """The .Ic keys of page between the line that ends with start and the next end."""
    text = read(page)
    i = text.index(start)
    return re.findall(r"^\.Ic ([a-z][\w.]*)", text[i:text.index(end, i)], re.M)


@tap.case("the keys a reload keeps until a restart are the same in master_reload.c, "
          "aigw.yaml(5) and aigw(8)")
def _(env):
    code = sorted(re.findall(r'KEEP(?:_LIST)?\([^"]*"([^"]+)"\);', read("src/master_reload.c")))
    check(len(code) >= 15, "only %d KEEP lines found in master_reload.c: %r", len(code), code)
    yaml5 = keys_listed("man/aigw.yaml.5", "except those that the running master cannot\nchange:",
                        "A change to one of these")
    aigw8 = keys_listed("man/aigw.8", "takes\na restart or a binary upgrade:",
                        "The reload logs a warning")
    known = table()  # not the words of an aside, such as the tls blocks of listeners
    check_eq(sorted(k for k in yaml5 if k in known), code, "aigw.yaml(5)'s restart-only keys")
    check_eq(sorted(k for k in aigw8 if k in known), code, "aigw(8)'s restart-only keys")


@tap.case("aigw -t checks a keyless Admin API as aigw.yaml(5) and aigw-admin(7) say: "
          "refused off loopback even with allow_keyless, localhost included; on 127.0.0.1 "
          "only with allow_keyless, and then with a warning")
def _(env):
    d = make_tmpdir("aigw-docs-")
    base = ('resources: ""\ndata_dir: %s/data\npid_file: ""\ncontrol: {socket: ""}\n'
            "metrics: {listen: []}\n" % d)
    for listen, keyless, rc, says in (
            ("localhost:9180", "true", 1, "localhost:9180 is not a loopback address"),
            ("0.0.0.0:9180", "true", 1, "0.0.0.0:9180 is not a loopback address"),
            ("127.0.0.1:9180", "false", 1, "admin.allow_keyless: true to accept that risk"),
            ("[::1]:9180", "true", 0, "admin.allow_keyless is true: the Admin API on")):
        conf = write_file(os.path.join(d, "aigw.yaml"), base + "admin: {allow_keyless: %s, "
                          "listen: [\"%s\"]}\n" % (keyless, listen))
        p = subprocess.run([AIGW, "-t", "-c", conf], capture_output=True, text=True, timeout=30)
        check(p.returncode == rc and says in p.stderr, "aigw -t, admin.listen %s, allow_keyless "
              "%s: exit %d (want %d), stderr %r", listen, keyless, p.returncode, rc, p.stderr)


@tap.case("aigw(8)'s EXAMPLES give the README's recipe without systemd, line for line")
def _(env):
    m = re.search(r"<!-- recipe: no-systemd start -->\n```sh\n(.*?)```", read("README.md"),
                  re.S)
    check(m is not None, "README.md has no recipe 'no-systemd start'")
    # mdoc's literal display: "# " before each command, \e for a backslash
    page = read("man/aigw.8").replace("\\e", "\\")
    missing = [line for line in m.group(1).splitlines()
               if line.strip() and ("# " + line.lstrip()) not in page and line not in page]
    check(not missing, "aigw(8) lacks these lines of the README's recipe: %r", missing)


if __name__ == "__main__":
    main(tap)
