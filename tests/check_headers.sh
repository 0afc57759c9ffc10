#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The rule of include/aigw/README.md, where a header goes:
#   include/aigw/X.h  libaigw's interface to the programs other than aigw
#                     (aigwctl; the mock uses none): each one is included by
#                     one of them, directly or through another, and includes
#                     no private header;
#   src/X.h           aigw's own modules: no other program includes them
#                     (tests may include any header);
# and one spelling: "aigw/X.h" for the first, "X.h" for the second, never a
# relative path. TAP output, one case per rule with the offenders.
set -u

top=${AIGW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1
n=0
fails=0
case_() { # case_ DESCRIPTION OFFENDERS
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        fails=$((fails + 1))
        echo "not ok $n - $1"
        printf '%s\n' "$2" | sed 's/^/# /'
    fi
}
# The quoted includes of files: "file: name" lines.
quoted() {
    for f in "$@"; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
            sed "s|^|$f: |"
    done
}
others="aigwctl/*.c aigwctl/*.h tests/mock/*.c tests/mock/*.h"
everything="src/*.c src/*.h include/aigw/*.h aigwctl/*.c aigwctl/*.h tests/unit/*.c
    tests/unit/*.h tests/fuzz/*.c tests/fuzz/*.h tests/mock/*.c tests/mock/*.h"

echo "1..5"

# 1: include/aigw/ is what another program includes: the closure of their
# "aigw/X.h" includes through include/aigw/ itself.
# shellcheck disable=SC2086
reach=$(quoted $others | sed -n 's|^[^:]*: aigw/||p' | sort -u)
while :; do
    more=$(for h in $reach; do quoted "include/aigw/$h"; done | sed -n 's|^[^:]*: aigw/||p')
    next=$(printf '%s\n%s\n' "$reach" "$more" | sed '/^$/d' | sort -u)
    [ "$next" = "$reach" ] && break
    reach=$next
done
bad=
for f in include/aigw/*.h; do
    b=$(basename "$f")
    printf '%s\n' "$reach" | grep -qx "$b" ||
        bad="$bad$f: no program but aigw includes it: it belongs in src/
"
done
case_ "every header of include/aigw/ is included by a program other than aigw (aigwctl)" \
    "$(printf %s "$bad" | sed '/^$/d')"

# 2: include/aigw/ headers include only "aigw/..." ones
bad=$(quoted include/aigw/*.h | grep -v ': aigw/[^/]*\.h$')
case_ "include/aigw/ headers include no private header" "$bad"

# 3: no other program includes a src/ header (it could not: no -I src)
bad=
for f in src/*.h; do
    b=$(basename "$f")
    # shellcheck disable=SC2086
    bad="$bad$(quoted $others | grep -E ": (.*/)?$b\$")"
done
case_ "no program but aigw includes a header of src/" "$bad"

# 4: one spelling, no relative paths; each named header exists where its
# spelling says
bad=
# shellcheck disable=SC2086
for line in $(quoted $everything | tr -d ' '); do
    f=${line%%:*}
    h=${line#*:}
    d=$(dirname "$f")
    case $h in
    config.h) ;;
    */../* | ../*) bad="$bad$f: \"$h\": a relative path
" ;;
    aigw/*) [ -f "include/$h" ] || bad="$bad$f: \"$h\": no include/$h
" ;;
    */*) bad="$bad$f: \"$h\": a folder other than aigw/
" ;;
    *)
        if [ -f "include/aigw/$h" ]; then
            bad="$bad$f: \"$h\": write \"aigw/$h\"
"
        elif [ ! -f "src/$h" ] && [ ! -f "$d/$h" ] &&
            ! { [ "$d" = tests/fuzz ] && [ -f "aigwctl/$h" ]; }; then
            # (a fuzz harness of aigwctl's code names aigwctl's header bare)
            bad="$bad$f: \"$h\": neither in src/ nor in $d/
"
        fi
        ;;
    esac
done
case_ "includes are spelled \"aigw/X.h\" (include/aigw/) or \"X.h\" (src/, or the file's own folder)" \
    "$(printf %s "$bad" | sed '/^$/d')"

# 5: no name in both places
bad=
for f in include/aigw/*.h; do
    b=$(basename "$f")
    [ -f "src/$b" ] && bad="${bad}include/aigw/$b and src/$b
"
done
case_ "no header name is both in include/aigw/ and in src/" "$(printf %s "$bad" | sed '/^$/d')"
[ "$fails" -eq 0 ]
