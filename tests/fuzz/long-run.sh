#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# long-run.sh: the long run recorded in tests/fuzz/README.md. From a build
# folder configured with CC=clang --enable-fuzzing (after `make fuzzers`):
#   sh ../tests/fuzz/long-run.sh NAME[:SECONDS] ...
# runs each harness in turn (one at a time: one core) until RUNS executions
# (default 10 million) or SECONDS (default 7200), in libFuzzer's fork
# mode, which goes on after a crash, keeping every crash, timeout and OOM in
# long/NAME/crashes/ and its working corpus in long/NAME/corpus/; prints one
# line per harness: executions, time, coverage, crashes found.
src=$(dirname "$0")
for arg in "$@"; do
    n=${arg%%:*}
    s=${arg#"$n"}
    s=${s#:}
    [ -n "$s" ] || s=7200
    case $n in prov_*|jsonraw|messages|responses|resource|converse|import|gsa) d=json ;; uhttp) d=http ;; *) d=$n ;; esac
    dict=
    [ -f "$src/dict/$d.dict" ] && dict="-dict=$src/dict/$d.dict"
    mkdir -p "long/$n/corpus" "long/$n/crashes"
    ./tests/fuzz/${n}_fuzzer -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -timeout=10 -runs="${RUNS:-10000000}" -max_total_time="$s" -artifact_prefix="long/$n/crashes/" $dict \
        "long/$n/corpus" "$src/corpus/$n" >"long/$n.log" 2>&1
    last=$(grep -E '^#[0-9]+: cov:' "long/$n.log" | tail -1)
    runs=$(sed -n 's/^INFO: fuzzed for \([0-9]*\) iterations.*/\1/p' "long/$n.log" | tail -1)
    [ -n "$runs" ] || runs=$(echo "$last" | sed 's/^#\([0-9]*\):.*/\1/')
    echo "$n: $runs executions in $(sed -n 's/^INFO: exiting: .* time: \([0-9]*\)s.*/\1/p' "long/$n.log" | tail -1) s;" \
        "$(echo "$last" | sed 's/.*\(cov: [0-9]*\).*\(corp: [0-9]*\).*/\1 \2/');" \
        "crashes/timeouts/ooms: $(ls "long/$n/crashes" | grep -c '^crash-')/$(ls "long/$n/crashes" | grep -c '^timeout-')/$(ls "long/$n/crashes" | grep -c '^oom-')"
done
