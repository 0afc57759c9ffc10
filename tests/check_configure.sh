#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# configure asks only for what aigw and aigwctl link: run it where
# pkg-config sees every .pc file of this machine but check.pc (a folder of
# links as PKG_CONFIG_LIBDIR), in a temporary build folder. It must succeed
# with a warning naming the package, and make check there must stop with a
# clear message instead of building the unit tests. Nothing is installed
# or removed. TAP output.
set -u

srcdir=${AIGW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() {
    n=$((n + 1))
    fails=$((fails + 1))
    echo "not ok $n - $1"
    shift
    for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}

echo "1..4"
if [ -f "$srcdir/config.status" ]; then
    # A second configure of a source folder configured in place is refused.
    for i in 1 2 3 4; do echo "ok $i # SKIP $srcdir is configured in place"; done
    exit 0
fi
if ! command -v pkg-config >/dev/null || ! pkg-config --exists check; then
    for i in 1 2 3 4; do echo "ok $i # SKIP no pkg-config, or check.pc not installed"; done
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aigw-configure-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pc" "$tmp/b"
# every folder pkg-config would search, PKG_CONFIG_PATH's first
dirs="${PKG_CONFIG_PATH:-}:$(pkg-config --variable pc_path pkg-config)"
old_ifs=$IFS
IFS=:
for d in $dirs; do
    [ -d "$d" ] || continue
    for f in "$d"/*.pc; do
        b=$(basename "$f")
        [ -f "$f" ] && [ "$b" != check.pc ] && [ ! -e "$tmp/pc/$b" ] && ln -s "$f" "$tmp/pc/$b"
    done
done
IFS=$old_ifs

# 1: the folder hides Check and nothing else configure asks for
if PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH= pkg-config --exists check; then
    notok "check.pc is hidden" "pkg-config still finds check"
elif ! PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH= pkg-config --exists libevent json-c libcurl; then
    notok "check.pc alone is hidden" "pkg-config lost other packages too"
else
    ok "PKG_CONFIG_LIBDIR with every .pc file but check.pc"
fi

# 2: configure succeeds and warns
if (cd "$tmp/b" && PKG_CONFIG_LIBDIR="$tmp/pc" PKG_CONFIG_PATH= "$srcdir/configure" \
        >"$tmp/configure.out" 2>&1); then
    ok "configure succeeds without Check"
else
    notok "configure succeeds without Check" "$(tail -3 "$tmp/configure.out")"
fi

# 3: ... and says what make check will need
if grep -q "WARNING: check >= 0.15 not found: aigw builds, but make check needs it: install the Debian package check" \
        "$tmp/configure.out"; then
    ok "configure warns that make check needs the Debian package check"
else
    notok "configure warns that make check needs the Debian package check" \
        "$(grep -i check "$tmp/configure.out" | tail -3)"
fi

# 4: make check stops with that message (make -n check: the plan, without
# building aigw; make need-check: the step itself fails)
msg="make check: the unit tests need the Check library"
if [ ! -f "$tmp/b/Makefile" ]; then
    notok "make check fails with a clear message" "no Makefile"
elif ! (cd "$tmp/b" && ${MAKE:-make} -n check 2>&1) | grep -q "$msg"; then
    notok "make check fails with a clear message" "make -n check does not run need-check"
elif (cd "$tmp/b" && ${MAKE:-make} need-check >"$tmp/make.out" 2>&1); then
    notok "make check fails with a clear message" "make need-check succeeded"
elif ! grep -q "$msg.*apt-get install check" "$tmp/make.out"; then
    notok "make check fails with a clear message" "$(cat "$tmp/make.out")"
else
    ok "make check fails with a clear message"
fi
[ "$fails" -eq 0 ]
