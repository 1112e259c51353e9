#!/usr/bin/env bash
# Overhead benchmark for libxray-auto.so.
#
# usage: run_curl_bench.sh BUILD_DIR [N]
#
#   BUILD_DIR  directory holding libxray-auto.so and bench_curl
#   N          keep-alive transfers per run (default 2000)
#
# Environment (optional): ROUNDS (default 5), NOOP_N (default 1000000),
#   SEGMENT_CALLS=K (default 0): every transfer run (without / traced /
#   disabled) is `bench_curl --segment K`: each K transfers inside one
#   xray_begin_segment .. xray_end_segment, like a request handler making K
#   calls; traced, they are the subsegments of that segment, sent in its one
#   document when it ends (without the preload the same transfers, no API);
#   the added figure then includes the segment's document and send, shared by
#   its K transfers.  XRAY_AUTO_SEGMENT (inherited by every run) picks what a
#   transfer outside any segment becomes: call (default: a segment of its own),
#   process (a subsegment of the process's one segment, sent as it ends).
#   BENCH_PIN (default 1): with taskset and >= 2 usable CPUs, pin the HTTP
#   server and bench_curl to one CPU and the UDP sinks to another.  On small
#   VMs this cuts run-to-run noise from ~+-50% to a few %.  Because bench_curl
#   (and any thread the library starts) shares its CPU with the server, the
#   "added" column then measures the library's CPU cost per transfer, not
#   latency hidden by other cores.  BENCH_PIN=0 disables pinning.
#   W3C_ROW (default 1): each round also runs the traced transfers with
#   XRAY_AUTO_PROPAGATE=xray,w3c (a traceparent header next to
#   X-Amzn-Trace-Id: the cost of the second header); 0 leaves it out.
#
# Starts tests/bench/bench_server.py (keep-alive HTTP/1.1 on 127.0.0.1) and
# two UDP sinks that stand in for the X-Ray daemon and just count datagrams,
# then runs ROUNDS interleaved rounds of:
#   bench_curl URL N            without the preload
#   bench_curl URL N            LD_PRELOAD, XRAY_AUTO_SAMPLING=all (every
#                               transfer traced; daemon = traced sink)
#   bench_curl URL N            the same with XRAY_AUTO_PROPAGATE=xray,w3c
#                               (W3C_ROW=1; daemon = traced sink)
#   bench_curl URL N            LD_PRELOAD, AWS_XRAY_SDK_ENABLED=false
#                               (daemon = other sink)
#   bench_curl --noop NOOP_N    without the preload
#   bench_curl --noop NOOP_N    LD_PRELOAD, XRAY_AUTO_SAMPLING=all
#                               (daemon = other sink)
# and prints the medians as a table, plus the datagram counts and their check
# (documents expected per traced run: N segments (call), N subsegments + the
# process segment's in-progress and final documents (process), or ceil(N / K)
# segments (SEGMENT_CALLS=K)).
# All traffic stays on 127.0.0.1.
set -euo pipefail

PY=/usr/bin/python3
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "run_curl_bench.sh: $*" >&2
    exit 1
}

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 BUILD_DIR [N]" >&2
    exit 2
fi
[[ -d $1 ]] || die "BUILD_DIR '$1' is not a directory"
BUILD_DIR=$(cd "$1" && pwd)
N=${2:-2000}
ROUNDS=${ROUNDS:-5}
NOOP_N=${NOOP_N:-1000000}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer (got '$N')"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
[[ $NOOP_N =~ ^[1-9][0-9]*$ ]] || die "NOOP_N must be a positive integer"
SEGMENT_CALLS=${SEGMENT_CALLS:-0}
[[ $SEGMENT_CALLS =~ ^[0-9]+$ ]] || die "SEGMENT_CALLS must be a non-negative integer"
SEG_ARGS=()
[[ $SEGMENT_CALLS -eq 0 ]] || SEG_ARGS=(--segment "$SEGMENT_CALLS")
SEG_MODE=${XRAY_AUTO_SEGMENT:-call}
W3C_ROW=${W3C_ROW:-1}
[[ $W3C_ROW == [01] ]] || die "W3C_ROW must be 0 or 1"

LIB=$BUILD_DIR/libxray-auto.so
BENCH=$BUILD_DIR/bench_curl
# The C responder keeps the server's share of each round trip small and
# steady; the Python one is the fallback when it was not built.
if [[ -x $BUILD_DIR/bench_httpd ]]; then
    SERVER_CMD=("$BUILD_DIR/bench_httpd")
    SERVER=$BUILD_DIR/bench_httpd
else
    SERVER=$SCRIPT_DIR/bench_server.py
    SERVER_CMD=("$PY" "$SERVER")
fi
[[ -f $LIB ]] || die "$LIB does not exist (build the library first)"
[[ -x $BENCH ]] || die "$BENCH does not exist or is not executable"
[[ -f $SERVER ]] || die "$SERVER not found"
[[ -x $PY ]] || die "$PY not found"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/xr-bench.XXXXXX")
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# UDP sink: binds an ephemeral port on 127.0.0.1, prints "PORT <n>", counts
# datagrams (and those starting with the X-Ray daemon header line), writes
# "<datagrams> <with_header>" to argv[1] when terminated.
SINK_PY='
import signal, socket, sys
out = sys.argv[1]
count = 0
with_header = 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
except OSError:
    pass
s.bind(("127.0.0.1", 0))
def stop(*_):
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print("PORT %d" % s.getsockname()[1], flush=True)
try:
    while True:
        data = s.recv(65536)
        count += 1
        if data.startswith(b"{") and b"\"format\"" in data.split(b"\n", 1)[0]:
            with_header += 1
finally:
    with open(out, "w") as f:
        f.write("%d %d\n" % (count, with_header))
'

# start_bg NAME CMD... : starts CMD with stdout to $TMP/NAME.out, waits for its
# "PORT <n>" line and sets the global PORT_OUT.
start_bg() {
    local name=$1 pid i line
    shift
    "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
        line=$(head -n 1 "$TMP/$name.out" 2>/dev/null || true)
        if [[ $line =~ ^PORT\ ([0-9]+)$ ]]; then
            PORT_OUT=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$TMP/$name.err" >&2 || true
    die "$name did not start"
}

PIN_BENCH=()
PIN_SINK=()
PIN_NOTE="no CPU pinning"
if [[ ${BENCH_PIN:-1} != 0 ]] && command -v taskset >/dev/null 2>&1; then
    read -r -a CPUS <<<"$("$PY" -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')"
    if [[ ${#CPUS[@]} -ge 2 ]]; then
        PIN_BENCH=(taskset -c "${CPUS[0]}")
        PIN_SINK=(taskset -c "${CPUS[1]}")
        PIN_NOTE="server + bench_curl pinned to CPU ${CPUS[0]}, UDP sinks to CPU ${CPUS[1]}"
    fi
fi

start_bg server env -u LD_PRELOAD "${PIN_BENCH[@]}" "${SERVER_CMD[@]}"
HTTP_PORT=$PORT_OUT
start_bg sink_traced env -u LD_PRELOAD "${PIN_SINK[@]}" "$PY" -c "$SINK_PY" "$TMP/sink_traced.count"
SINK_TRACED_PID=${PIDS[-1]}
SINK_TRACED_PORT=$PORT_OUT
start_bg sink_other env -u LD_PRELOAD "${PIN_SINK[@]}" "$PY" -c "$SINK_PY" "$TMP/sink_other.count"
SINK_OTHER_PID=${PIDS[-1]}
SINK_OTHER_PORT=$PORT_OUT

URL="http://127.0.0.1:$HTTP_PORT/bench"

# run_bench LABEL KEY -- [VAR=value...] CMD... : runs CMD (bench_curl) with
# LD_PRELOAD removed from the inherited environment, then the given variables
# added, pinned like the server; prints the value of KEY=... from its output
# (and, for the transfer runs, appends their segments=... to $TMP/segments).
run_bench() {
    local label=$1 key=$2 out val seg rc=0
    shift 3
    out=$(env -u LD_PRELOAD "${PIN_BENCH[@]}" env "$@" 2>&1) || rc=$?
    if [[ $rc -ne 0 ]]; then
        [[ -z $out ]] || echo "$out" >&2
        if [[ $rc -gt 128 ]]; then
            die "bench_curl killed by signal $((rc - 128)): $label"
        fi
        die "bench_curl exited with status $rc: $label"
    fi
    val=$(sed -n "s/.*$key=\([0-9.]*\).*/\1/p" <<<"$out" | tail -n 1)
    [[ -n $val ]] || die "no $key in output of $label: $out"
    seg=$(sed -n 's/.*segments=\([0-9]*\).*/\1/p' <<<"$out" | tail -n 1)
    [[ -z $seg ]] || echo "$label $seg" >>"$TMP/segments"
    echo "$val"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
        END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

WITH_TRACED=(LD_PRELOAD="$LIB" AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$SINK_TRACED_PORT"
             XRAY_AUTO_SAMPLING=all)
WITH_DISABLED=(LD_PRELOAD="$LIB" AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$SINK_OTHER_PORT"
               XRAY_AUTO_SAMPLING=all AWS_XRAY_SDK_ENABLED=false)
WITH_NOOP=(LD_PRELOAD="$LIB" AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$SINK_OTHER_PORT"
           XRAY_AUTO_SAMPLING=all)

echo "bench: $ROUNDS rounds, $N transfers per run, $NOOP_N no-op calls per run"
echo "bench: server $URL, library $LIB"
echo "bench: $PIN_NOTE"
if [[ $SEGMENT_CALLS -gt 0 ]]; then
    SEG_NOTE="in request segments of $SEGMENT_CALLS transfers (bench_curl --segment $SEGMENT_CALLS)"
elif [[ $SEG_MODE == process ]]; then
    SEG_NOTE="in the process segment (XRAY_AUTO_SEGMENT=process), each subsegment sent as it ends"
else
    SEG_NOTE="outside any segment (XRAY_AUTO_SEGMENT=$SEG_MODE)"
fi
echo "bench: traced transfers $SEG_NOTE"

# Warm-up (not measured): server threads, page cache, CPU frequency.
run_bench "warm-up" per_transfer_us -- "$BENCH" "${SEG_ARGS[@]}" "$URL" "$N" >/dev/null

T_WITHOUT=() T_TRACED=() T_W3C=() T_DISABLED=() C_WITHOUT=() C_WITH=()
for ((r = 1; r <= ROUNDS; r++)); do
    T_WITHOUT+=("$(run_bench "transfer without preload" per_transfer_us -- \
        "$BENCH" "${SEG_ARGS[@]}" "$URL" "$N")")
    T_TRACED+=("$(run_bench "transfer with preload (traced)" per_transfer_us -- \
        "${WITH_TRACED[@]}" "$BENCH" "${SEG_ARGS[@]}" "$URL" "$N")")
    [[ $W3C_ROW -eq 0 ]] || T_W3C+=("$(run_bench "transfer with preload, xray,w3c (traced)" per_transfer_us -- \
        "${WITH_TRACED[@]}" XRAY_AUTO_PROPAGATE=xray,w3c "$BENCH" "${SEG_ARGS[@]}" "$URL" "$N")")
    T_DISABLED+=("$(run_bench "transfer with preload (disabled)" per_transfer_us -- \
        "${WITH_DISABLED[@]}" "$BENCH" "${SEG_ARGS[@]}" "$URL" "$N")")
    C_WITHOUT+=("$(run_bench "noop without preload" per_call_ns -- "$BENCH" --noop "$NOOP_N")")
    C_WITH+=("$(run_bench "noop with preload" per_call_ns -- \
        "${WITH_NOOP[@]}" "$BENCH" --noop "$NOOP_N")")
    echo "round $r/$ROUNDS: transfer ${T_WITHOUT[-1]} / ${T_TRACED[-1]} / ${T_DISABLED[-1]} us" \
         "(without / traced / disabled)$([[ $W3C_ROW -eq 0 ]] || echo ", ${T_W3C[-1]} us traced xray,w3c")," \
         "call ${C_WITHOUT[-1]} / ${C_WITH[-1]} ns (without / with)"
done

# Let the last datagrams arrive, then stop the sinks so they write their counts.
sleep 0.5
for pid in "$SINK_TRACED_PID" "$SINK_OTHER_PID"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
read -r TRACED_DGRAMS TRACED_HDR <"$TMP/sink_traced.count" || die "traced sink wrote no count"
read -r OTHER_DGRAMS _ <"$TMP/sink_other.count" || die "other sink wrote no count"

row() {
    # row LABEL WITHOUT WITH
    awk -v l="$1" -v a="$2" -v b="$3" 'BEGIN {
        ratio = (a > 0) ? sprintf("%.3fx", b / a) : "n/a"
        printf "%-38s | %10.2f | %10.2f | %+10.2f | %8s\n", l, a, b, b - a, ratio
    }'
}

M_T_WITHOUT=$(median "${T_WITHOUT[@]}")
M_T_TRACED=$(median "${T_TRACED[@]}")
M_T_DISABLED=$(median "${T_DISABLED[@]}")
M_C_WITHOUT=$(median "${C_WITHOUT[@]}")
M_C_WITH=$(median "${C_WITH[@]}")

echo
echo "medians of $ROUNDS rounds"
printf "%-38s | %10s | %10s | %10s | %8s\n" workload without with added ratio
printf '%s\n' "---------------------------------------+------------+------------+------------+---------"
row "traced transfer (us)" "$M_T_WITHOUT" "$M_T_TRACED"
[[ $W3C_ROW -eq 0 ]] || row "traced transfer, xray,w3c (us)" "$M_T_WITHOUT" "$(median "${T_W3C[@]}")"
row "transfer, library disabled (us)" "$M_T_WITHOUT" "$M_T_DISABLED"
row "pass-through untraced call (ns)" "$M_C_WITHOUT" "$M_C_WITH"

# Documents per traced run, by where the traced transfers are (see SEG_NOTE).
OK=1
if [[ $SEGMENT_CALLS -gt 0 ]]; then
    PER_RUN=$(((N + SEGMENT_CALLS - 1) / SEGMENT_CALLS))
    WHY="$PER_RUN segment documents of up to $SEGMENT_CALLS transfers each"
    # Every traced run opened its segments, no other run any.
    bad=$(awk -v want="$PER_RUN" '{ got = $NF; $NF = ""
        if ($0 ~ /\(traced\) $/ ? got != want : got != 0) print $0 got }' "$TMP/segments")
    if [[ -n $bad ]]; then
        echo "segments opened: MISMATCH (traced runs: $PER_RUN each, others 0): $bad"
        OK=0
    fi
elif [[ $SEG_MODE == process ]]; then
    PER_RUN=$((N + 2))
    WHY="$N subsegments + the process segment's in-progress and final documents"
else
    PER_RUN=$N
    WHY="a segment per transfer"
fi
EXPECTED=$(((1 + W3C_ROW) * ROUNDS * PER_RUN))
echo
echo "datagrams: traced sink received $TRACED_DGRAMS ($TRACED_HDR with daemon header)" \
     "for $EXPECTED expected ($(((1 + W3C_ROW) * ROUNDS)) runs x $PER_RUN: $WHY)"
echo "datagrams: other sink (disabled + no-op runs) received $OTHER_DGRAMS (expected 0)"
if [[ $OK -eq 1 && $TRACED_DGRAMS -eq $EXPECTED && $TRACED_HDR -eq $EXPECTED && $OTHER_DGRAMS -eq 0 ]]; then
    echo "datagram check: OK"
else
    echo "datagram check: MISMATCH"
fi
