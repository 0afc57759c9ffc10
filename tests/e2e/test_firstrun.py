# SPDX-License-Identifier: Apache-2.0
"""End-to-end: the README's first-run commands in any order.

`./quickstart` and "Building by hand" build out of tree (`_build/`), and
`.ci/run` builds out of tree (`_ci/`); but a source folder once configured
in place (an older README's `./configure`) makes autoconf refuse every
out-of-tree build ("source directory already configured"). `.ci/run` runs
`.ci/intree-clean` first; these cases prove, on a copy of the tree, that an
in-place configure followed by that step lets the out-of-tree configure of
`.ci/run` succeed, and that the quickstart's configure leaves the source
folder unconfigured. Configure only: a full build is too slow for the suite.

Needs the git checkout (`.ci/` is not in the release tarball): skipped there.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from harness import SLOW, SRCDIR, TAP, check, main, make_tmpdir  # noqa: E402
except Exception as exc:  # noqa: BLE001 - the TAP driver must see it
    print("Bail out! cannot import the harness: %r" % (exc,))
    sys.exit(1)

tap = TAP()

STEP_TIMEOUT = 300 * SLOW


def run(cmd, cwd, what):
    """Run a shell command in cwd; fail the case with its output if it fails."""
    p = subprocess.run(cmd, cwd=cwd, shell=True, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=STEP_TIMEOUT)
    out = p.stdout.decode("utf-8", "replace")
    check(p.returncode == 0, "%s (%s) exited %d:\n%s", what, cmd, p.returncode, out[-3000:])
    return out


def copy_tree():
    """A copy of the source tree's tracked and new files, autoreconf'ed."""
    dst = os.path.join(make_tmpdir("aigw-firstrun-"), "src")
    os.mkdir(dst)
    files = subprocess.run(
        ["git", "-C", SRCDIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        stdout=subprocess.PIPE, check=True, timeout=60).stdout
    names = [n for n in files.split(b"\0") if n and os.path.lexists(os.path.join(SRCDIR.encode(), n))]
    tar = subprocess.run(["tar", "-C", SRCDIR, "--null", "-T", "-", "-cf", "-"],
                         input=b"\0".join(names), stdout=subprocess.PIPE, check=True,
                         timeout=120).stdout
    subprocess.run(["tar", "-C", dst, "-xf", "-"], input=tar, check=True, timeout=120)
    run("autoreconf -fi >/dev/null 2>&1", dst, "autoreconf")
    return dst


def usable():
    """Why the cases cannot run here, or None."""
    if not os.path.isdir(os.path.join(SRCDIR, ".git")) and \
            not os.path.isfile(os.path.join(SRCDIR, ".git")):
        return "not a git checkout (the release tarball has no .ci/)"
    for tool in ("git", "autoreconf", "tar"):
        if subprocess.run(["sh", "-c", "command -v " + tool], stdout=subprocess.DEVNULL).returncode:
            return tool + " is missing"
    return None


@tap.case("an in-place configure, then .ci/run's steps: its out-of-tree configure succeeds")
def _(env):
    src = copy_tree()
    run("./configure -q", src, "in-place configure (an older 'Building by hand')")
    check(os.path.exists(os.path.join(src, "config.status")), "in-place configure left no config.status")
    # What .ci/run does before its builds, then one of its builds' configure.
    out = run("sh .ci/intree-clean", src, ".ci/intree-clean")
    check(not os.path.exists(os.path.join(src, "config.status")),
          "config.status still in the source folder after .ci/intree-clean: %s", out)
    os.makedirs(os.path.join(src, "_ci", "plain"))
    run('"%s/configure" -q --enable-werror' % src, os.path.join(src, "_ci", "plain"),
        ".ci/run's out-of-tree configure")
    check(os.path.exists(os.path.join(src, "_ci", "plain", "config.status")),
          "the out-of-tree configure left no config.status")
    grep = subprocess.run(["grep", "-q", "sh .ci/intree-clean", os.path.join(src, ".ci", "run")])
    check(grep.returncode == 0, ".ci/run does not call .ci/intree-clean before its builds")


@tap.case("./quickstart and 'Building by hand' configure in _build/: the source folder stays unconfigured")
def _(env):
    src = copy_tree()
    # The quickstart's build lines, without `.ci/deps` (apt) and make.
    qs = open(os.path.join(src, "quickstart")).read()
    check("(cd _build && { [ -f Makefile ] || ../configure -q; }" in qs,
          "./quickstart does not configure in _build/")
    run("sh .ci/intree-clean && mkdir -p _build && cd _build && ../configure -q", src,
        "the quickstart's configure")
    check(not os.path.exists(os.path.join(src, "config.status")),
          "the quickstart configured the source folder in place")
    readme = open(os.path.join(src, "README.md")).read()
    check("mkdir -p _build && cd _build" in readme and "\nautoreconf -fi && ./configure" not in readme,
          "README's 'Building by hand' does not build out of tree")
    # Then .ci/run's out-of-tree configure, beside the quickstart's.
    run("sh .ci/intree-clean", src, ".ci/intree-clean")
    os.makedirs(os.path.join(src, "_ci", "plain"))
    run('"%s/configure" -q' % src, os.path.join(src, "_ci", "plain"), ".ci/run's configure")


if __name__ == "__main__":
    why = usable()
    if why:
        print("1..0 # SKIP " + why)
        sys.exit(0)
    main(tap)
