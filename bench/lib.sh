# SPDX-License-Identifier: Apache-2.0
# bench/lib.sh: shell helpers shared by the bench/ scripts (sourced, not run).
#
# bench/run, bench/traffic and bench/providers source it after setting BENCH_NAME (the prefix
# of their messages). It only defines functions and a few variables; nothing
# runs at source time. What the functions expect from the sourcing script:
# AIGW, MOCK, TMP, KEY (the default API key of mk_lua), WRK, SLICES and SLICE
# (after bench_slices), MOCK_PID (after start_mock), the associative array URL
# (path -> URL) and a function gw_pids PATH (the server processes whose CPU
# is charged to that path).
#
# Processes are stopped by PID only (stop), never by name; a master's
# children are recorded at start (KIDS) and killed only if they are still the
# same processes (PID and start time).

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

# bench_slices: check BENCH_DURATION (DUR) and BENCH_SLICES (SLICES); each path
# gets DUR seconds of wrk per workload, as SLICES interleaved slices of SLICE s.
bench_slices() {
    case $DUR in '' | *[!0-9]*) die "BENCH_DURATION must be whole seconds" ;; esac
    case $SLICES in '' | *[!0-9]* | 0) die "BENCH_SLICES must be a positive number" ;; esac
    [ "$DUR" -ge 1 ] || die "BENCH_DURATION must be at least 1"
    [ "$SLICES" -gt "$DUR" ] && SLICES=$DUR
    SLICE=$((DUR / SLICES))
    DUR=$((SLICE * SLICES))
}

# --------------------------------------------------------------------------
# Tools: bench_tools CMD=PACKAGE... installs the packages of the missing
# commands, without starting Debian's nginx service. Sets WRK.
# --------------------------------------------------------------------------
POLICY_RC=""
bench_tools() {
    local w c rc
    local -a need=()
    for w in "$@"; do
        c=${w%%=*}
        command -v "$c" >/dev/null 2>&1 && continue
        [ "$c" = nginx ] && [ -x /usr/sbin/nginx ] && continue
        need+=("${w#*=}")
    done
    if [ ${#need[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing ${need[*]}; run as root or install them"
        log "installing ${need[*]}"
        # policy-rc.d exit 101 tells invoke-rc.d/deb-systemd-invoke not to start
        # services: the nginx package's own service stays stopped. Only if none
        # exists already, and removed right after.
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\n# temporary, from aigw %s\nexit 101\n' "$BENCH_NAME" >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            POLICY_RC=/usr/sbin/policy-rc.d
        fi
        export DEBIAN_FRONTEND=noninteractive
        timeout 600 apt-get install -y --no-install-recommends "${need[@]}" ||
            { timeout 300 apt-get update && timeout 600 apt-get install -y --no-install-recommends "${need[@]}"; }
        rc=$?
        [ -n "$POLICY_RC" ] && rm -f "$POLICY_RC" && POLICY_RC=""
        [ $rc = 0 ] || die "apt-get install ${need[*]} failed"
    fi
    WRK=$(command -v wrk)
}

# --------------------------------------------------------------------------
# Processes we start, and their cleanup (by PID only).
# --------------------------------------------------------------------------
declare -A KIDS=() # master PID -> "pid:starttime" of its children (recorded at start)

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'; }
starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
# "pid:starttime" of each child of PID
kids_of() { local k out=""; for k in $(children "$1"); do out+="$k:$(starttime "$k") "; done; echo "${out% }"; }
# is "pid:starttime" still that same process? (guards against PID reuse)
ours() { local pid=${1%%:*}; alive "$pid" && [ "$(starttime "$pid")" = "${1#*:}" ]; }

# stop PID: SIGTERM, wait up to 8 s, then SIGKILL it and its recorded children.
stop() {
    local pid=$1 i k kids
    [ -n "$pid" ] || return 0
    kids="${KIDS[$pid]:-} $(kids_of "$pid")"
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 80; i++)); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    for k in $kids; do ours "$k" && kill -KILL "${k%%:*}" 2>/dev/null; done
    return 0
}

# A free 127.0.0.1 TCP port (random, checked with ss; bounded tries).
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
    done
    return 1
}

# wait_http URL: up to 10 s for a 2xx (GET).
wait_http() {
    local i
    for ((i = 0; i < 100; i++)); do
        curl -fs -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    return 1
}

# start_mock [CPUS]: the mock upstream on a port of its choosing -> MOCK_PID,
# MOCK_PORT; pinned with taskset -c CPUS if given.
# MOCK_EXTRA: more options for the mock (an array; bench/providers: -g PUBKEY).
MOCK_EXTRA=()
start_mock() {
    local i
    local -a pin=()
    [ -n "${1:-}" ] && pin=(taskset -c "$1")
    "${pin[@]}" "$MOCK" -l 127.0.0.1:0 -p "$TMP/mock.port" "${MOCK_EXTRA[@]}" >"$TMP/mock.log" 2>&1 &
    MOCK_PID=$!
    for ((i = 0; i < 100; i++)); do [ -s "$TMP/mock.port" ] && break; alive "$MOCK_PID" || break; sleep 0.05; done
    [ -s "$TMP/mock.port" ] || { cat "$TMP/mock.log" >&2; die "the mock did not start"; }
    MOCK_PORT=$(tr -d '\n' <"$TMP/mock.port")
    log "mock pid $MOCK_PID on 127.0.0.1:$MOCK_PORT"
}

# start_aigw NAME LOGLEVEL [WORKERS [CPUS]]: an aigw with WORKERS (default 2)
# workers serving $TMP/resources.yaml -> REPLY_PID, REPLY_PORT (3 port tries).
# At level warn the access log is off (like nginx's here); at info each
# request's JSON line goes to stderr. CPUS (a taskset list): the master runs
# under taskset -c CPUS, so its workers inherit that affinity. AIGW_EXTRA:
# more aigw.yaml lines (top-level keys other than admin), e.g. limits;
# AIGW_ADMIN: the value of admin (default {listen: []}); AIGW_CONTROL: the
# control socket's path (default "": none); AIGW_RESOURCES: the resources file
# (default $TMP/resources.yaml).
start_aigw() {
    local name=$1 level=$2 workers=${3:-2} cpus=${4:-} try port pid access='""'
    local admin=${AIGW_ADMIN:-'{listen: []}'} control=${AIGW_CONTROL:-'""'}
    local -a pin=()
    [ -n "$cpus" ] && pin=(taskset -c "$cpus")
    [ "$level" = warn ] && access=off
    for ((try = 0; try < 3; try++)); do
        port=$(free_port) || die "no free port"
        mkdir -p "$TMP/$name-data"
        cat >"$TMP/$name.yaml" <<EOF
listen:
  - 127.0.0.1:$port
workers: $workers
log_level: $level
access_log: $access
admin: $admin
metrics:
  listen: []
control:
  socket: $control
pid_file: ""
data_dir: $TMP/$name-data
resources: ${AIGW_RESOURCES:-$TMP/resources.yaml}
timeouts:
  drain: 2s
${AIGW_EXTRA:-}
EOF
        "$AIGW" -t -c "$TMP/$name.yaml" >"$TMP/$name.check" 2>&1 ||
            { cat "$TMP/$name.check" >&2; die "aigw -t rejected the configuration"; }
        "${pin[@]}" "$AIGW" -d -c "$TMP/$name.yaml" >>"$TMP/$name.log" 2>&1 &
        pid=$!
        if wait_http "http://127.0.0.1:$port/healthz" && alive "$pid"; then
            sleep 0.3 # let every worker come up
            REPLY_PID=$pid REPLY_PORT=$port
            KIDS[$pid]=$(kids_of "$pid")
            return 0
        fi
        stop "$pid"
    done
    tail -20 "$TMP/$name.log" >&2
    die "aigw ($name) did not start"
}

# mk_lua FILE BODY [KEY]: a wrk script that POSTs BODY with KEY (default $KEY);
# its done() prints one summary line and appends the latency histogram to $BENCH_HIST.
mk_lua() {
    cat >"$1" <<EOF
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${3:-$KEY}"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d bytes=%d p50=%d p90=%d p99=%d mean=%.1f max=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
  -- the whole latency histogram ("µs count" per line), merged across slices by wrk_finish
  local path = os.getenv("BENCH_HIST")
  if path then
    local f = io.open(path, "a")
    for i = 1, #latency do
      local v, c = latency(i)
      f:write(string.format("%d %d\n", v, c))
    end
    f:close()
  end
end
EOF
}

# --------------------------------------------------------------------------
# Measurements: interleaved wrk slices, CPU from /proc.
# --------------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
# cpu_ticks PID...: utime+stime of those processes, in clock ticks.
cpu_ticks() {
    local t=0 p v
    for p in "$@"; do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# busy CPU of the whole machine (user+nice+system), in ticks
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4; exit }' /proc/stat; }
# CPU of this shell and its reaped children (wrk, curl, ...), in ticks
self_ticks() {
    times | awk -v hz="$CLK" '{ for (i = 1; i <= NF; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } }
        END { printf "%.0f", t * hz }'
}
NPROC=$(nproc)

declare -A R # R[tag.path.field]
addR() { R[$1]=$((${R[$1]:-0} + $2)); }

# wrk_slice TAG PATH LUA THREADS CONNS SECONDS: one wrk run; adds its counts to
# R[TAG.PATH.*] and appends its latency histogram to $TMP/hist-TAG-PATH.
# "@PATH@" in LUA is replaced by PATH (one wrk script per path).
wrk_slice() {
    local tag=$1 p=$2 lua=${3//@PATH@/$2} t=$4 c=$5 d=$6 out line kv k v i c0 c1 m0 m1 gw b0 b1 s0 s1 t0 t1 mine n2
    local -a w0=() w1=()
    addR "$tag.$p.slices" 1
    out=$TMP/wrk-$tag-$p-${R[$tag.$p.slices]}.txt
    gw=$(gw_pids "$p")
    for k in $gw; do w0+=("$(cpu_ticks "$k")"); done
    c0=$(cpu_ticks $gw) m0=$(cpu_ticks "$MOCK_PID") b0=$(busy_ticks) s0=$(self_ticks) t0=$(date +%s%N)
    BENCH_HIST=$TMP/hist-$tag-$p timeout $((d + 20)) "$WRK" -t"$t" -c"$c" -d"${d}s" --timeout 5s --latency \
        -s "$lua" "${URL[$p]}" >"$out" 2>&1
    c1=$(cpu_ticks $gw) m1=$(cpu_ticks "$MOCK_PID") b1=$(busy_ticks) s1=$(self_ticks) t1=$(date +%s%N)
    for k in $gw; do w1+=("$(cpu_ticks "$k")"); done
    # our own CPU: the gateway's workers, the mock, this shell and wrk
    mine=$((c1 - c0 + s1 - s0))
    [ "$p" != direct ] && mine=$((mine + m1 - m0))
    addR "$tag.$p.gwticks" $((c1 - c0))
    addR "$tag.$p.mockticks" $((m1 - m0))
    addR "$tag.$p.busy" $((b1 - b0))
    addR "$tag.$p.mine" "$mine"
    addR "$tag.$p.ns" $((t1 - t0))
    for ((i = 0; i < ${#w0[@]}; i++)); do addR "$tag.$p.w$i" $((w1[i] - w0[i])); done
    R[$tag.$p.nw]=${#w0[@]}
    line=$(grep '^BENCH ' "$out" | tail -1)
    if [ -z "$line" ]; then
        log "wrk $tag $p produced no summary:"; cat "$out" >&2
        line="BENCH requests=0 duration_us=0 bytes=0 max=0 connect=0 read=0 write=0 status=0 timeout=0"
    fi
    for kv in ${line#BENCH }; do
        k=${kv%%=*} v=${kv#*=}
        case $k in
        requests | duration_us | bytes | connect | read | write | status | timeout) addR "$tag.$p.$k" "$v" ;;
        max) [ "$v" -gt "${R[$tag.$p.max]:-0}" ] && R[$tag.$p.max]=$v ;;
        esac
    done
    n2=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$out" | tail -1)
    addR "$tag.$p.non2xx" "${n2:-0}"
}

# wrk_finish TAG PATH: turn the sums of the slices into the reported figures.
wrk_finish() {
    local tag=$1 p=$2 k=$1.$2 q i
    R[$k.rps]=$(awk -v n="${R[$k.requests]:-0}" -v d="${R[$k.duration_us]:-0}" 'BEGIN { if (d > 0) printf "%.0f", n / (d / 1e6); else print 0 }')
    R[$k.errors]=$((${R[$k.connect]:-0} + ${R[$k.read]:-0} + ${R[$k.write]:-0} + ${R[$k.timeout]:-0}))
    # percentiles of the merged histogram ("latency_us count" lines), nearest rank
    q=$(sort -n "$TMP/hist-$tag-$p" 2>/dev/null | awk '{ v[NR] = $1; c[NR] = $2; n += $2 }
        END {
            if (n == 0) { print "n/a n/a n/a"; exit }
            split("50 90 99", ps, " "); t = 0; j = 1
            for (i = 1; i <= NR && j <= 3; i++) {
                t += c[i]
                while (j <= 3 && t >= n * ps[j] / 100) { out = out (j > 1 ? " " : "") v[i]; j++ }
            }
            print out }')
    read -r R[$k.p50] R[$k.p90] R[$k.p99] <<<"$q"
    R[$k.cpu]=$(awk -v t="${R[$k.gwticks]:-0}" -v hz="$CLK" -v n="${R[$k.requests]:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')
    R[$k.mockcpu]=$(awk -v t="${R[$k.mockticks]:-0}" -v hz="$CLK" -v n="${R[$k.requests]:-0}" \
        'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a" }')
    # CPU used by processes that are not part of this benchmark, % of the machine
    R[$k.other]=$(awk -v b="${R[$k.busy]:-0}" -v m="${R[$k.mine]:-0}" -v ns="${R[$k.ns]:-0}" -v hz="$CLK" -v n="$NPROC" \
        'BEGIN { if (ns <= 0) { print 0; exit } o = (b - m) / (ns / 1e9 * hz * n) * 100; if (o < 0) o = 0; printf "%.0f", o }')
    # how the work was split between the gateway's workers (share of their CPU)
    local wl=""
    for ((i = 0; i < ${R[$k.nw]:-0}; i++)); do wl+="${R[$k.w$i]:-0} "; done
    R[$k.split]=$(awk -v w="$wl" 'BEGIN {
        n = split(w, x, " "); t = 0
        for (i = 1; i <= n; i++) t += x[i]
        for (i = 1; i <= n; i++) printf "%s%.0f %%", (i > 1 ? " / " : ""), (t > 0 ? 100 * x[i] / t : 0) }')
    log "$tag $p: ${R[$k.rps]} req/s p50 ${R[$k.p50]} us p99 ${R[$k.p99]} us non2xx ${R[$k.non2xx]} errors ${R[$k.errors]} (other processes: ${R[$k.other]} % CPU)"
    OTHER_MAX=$(awk -v a="${OTHER_MAX:-0}" -v b="${R[$k.other]}" 'BEGIN { print (b + 0 > a + 0) ? b : a }')
}

# run_workload TAG LUA THREADS CONNS PATH...: SLICES rounds; in each round one
# SLICE-second wrk run per path, the order rotated from round to round, so that
# drift of this shared machine falls on every path alike.
run_workload() {
    local tag=$1 lua=$2 t=$3 c=$4 r j p
    shift 4
    local -a ps=("$@")
    local n=${#ps[@]}
    for ((r = 0; r < SLICES; r++)); do
        for ((j = 0; j < n; j++)); do
            wrk_slice "$tag" "${ps[(r + j) % n]}" "$lua" "$t" "$c" "$SLICE"
        done
    done
    for p in "${ps[@]}"; do wrk_finish "$tag" "$p"; done
}


# --------------------------------------------------------------------------
# nginx: our own master, prefix and config; never the system service.
# --------------------------------------------------------------------------
# start_nginx WORKERS [CPU]: nginx as a plain reverse proxy to the mock
# (upstream keepalive 64, HTTP/1.1, proxy_buffering off, access_log off) ->
# REPLY_PID, REPLY_PORT. CPU: the master runs under taskset -c CPU and each
# worker gets worker_cpu_affinity on that one CPU. NGINX_CONNS: its
# worker_connections (default 4096); worker_rlimit_nofile: NGINX_NOFILE, or
# twice that plus 256.
start_nginx() {
    local workers=$1 cpu=${2:-} try port pid aff="" conns=${NGINX_CONNS:-4096} m i
    local -a pin=()
    if [ -n "$cpu" ]; then
        pin=(taskset -c "$cpu")
        m=1 # a bit mask with only bit CPU set, once per worker
        for ((i = 0; i < cpu; i++)); do m+=0; done
        aff="worker_cpu_affinity"
        for ((i = 0; i < workers; i++)); do aff+=" $m"; done
        aff+=";"
    fi
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
    for ((try = 0; try < 3; try++)); do
        port=$(free_port) || die "no free port"
        cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $workers;
$aff
worker_rlimit_nofile ${NGINX_NOFILE:-$((conns * 2 + 256))};
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events {
    worker_connections $conns;
}
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    keepalive_requests 1000000;
    upstream mock {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 600s;
        }
    }
}
EOF
        "$NGINX" -t -q -e "$TMP/nginx/logs/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" ||
            die "nginx -t rejected the configuration"
        "${pin[@]}" "$NGINX" -e "$TMP/nginx/logs/error.log" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" \
            -g 'daemon off; master_process on;' >"$TMP/nginx/stdout.log" 2>&1 &
        pid=$!
        if wait_http "http://127.0.0.1:$port/mock/stats" && alive "$pid"; then
            sleep 0.2
            REPLY_PID=$pid REPLY_PORT=$port
            KIDS[$pid]=$(kids_of "$pid")
            return 0
        fi
        stop "$pid"
    done
    tail -20 "$TMP/nginx/logs/error.log" >&2
    die "nginx did not start"
}

# mk_wrk_pinned CPU: a wrapper that runs wrk under taskset -c CPU -> WRK.
mk_wrk_pinned() {
    printf '#!/bin/sh\nexec taskset -c %s %s "$@"\n' "$1" "$WRK" >"$TMP/wrk-pinned"
    chmod 755 "$TMP/wrk-pinned"
    WRK=$TMP/wrk-pinned
}

# write_section HEAD FILE: replace the section of bench/RESULTS.md that begins
# with the line HEAD (up to the next "## " heading) by FILE, or append FILE.
write_section() {
    local head=$1 sec=$2 res=$here/RESULTS.md
    if [ -f "$res" ] && grep -qxF "$head" "$res"; then
        awk -v head="$head" -v sec="$sec" '
            $0 == head { while ((getline l < sec) > 0) print l; skip = 1; next }
            skip && /^## / { skip = 0; print "" }
            !skip' "$res" >"$res.tmp.$$"
    else
        { [ -f "$res" ] && cat "$res" && echo; cat "$sec"; } >"$res.tmp.$$"
    fi
    mv -f "$res.tmp.$$" "$res"
    log "wrote the section to $res"
}
