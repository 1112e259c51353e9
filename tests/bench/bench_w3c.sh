#!/bin/bash
# The cost of W3C trace context on a traced libcurl transfer (issue 8), in
# instructions (valgrind --tool=callgrind: user space only, independent of
# load): bench_curl's keep-alive GETs to bench_httpd, call mode, under the
# preload, for XRAY_AUTO_PROPAGATE unset (the default), xray,w3c and w3c.
#
#   bench_w3c.sh BUILD_DIR
#
# Each figure is a whole process of N2 transfers minus one of N1, / (N2 - N1)
# (start-up and exit cancel out): the library's work per transfer and
# libcurl's own (a second header line costs libcurl more than it costs us).
# Also printed: the instructions of xr_curl_begin per transfer (the hook that
# formats and injects the headers), inclusive. A second table: unsampled
# transfers (a rules file that samples nothing), the instructions of
# xr_span_open per transfer (the trace's ids and the header), for
# AWS_XRAY_NOOP_ID unset (no-op ids: no random draw), false, and with w3c.
# N1, N2: environment (defaults 100, 300); UNSAMPLED=0 skips the second
# table, W3C_ALONE=0 the w3c row of the first (tests/bench/run's QUICK=1). Exit 77 when valgrind is absent, 2 when
# a run fails.
set -u
build=${1:?usage: bench_w3c.sh BUILD_DIR}
command -v valgrind >/dev/null 2>&1 || { echo "SKIP: valgrind is not installed"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
# cg_scrub_env, cg, cg_fn_ir, cg_udp_sink: shared with tests/perf/run_callgrind.sh.
# shellcheck source=SCRIPTDIR/../perf/callgrind_lib.sh
. "$here/../perf/callgrind_lib.sh"
cg_scrub_env
n1=${N1:-100}
n2=${N2:-300}
unsampled=${UNSAMPLED:-1}
props=("" "xray,w3c" "w3c")
[ "${W3C_ALONE:-1}" = 1 ] || props=("" "xray,w3c")
lib=$build/libxray-auto.so
for f in "$lib" "$build/bench_curl" "$build/bench_httpd"; do
  [ -x "$f" ] || [ -f "$f" ] || { echo "FAIL: $f is missing"; exit 2; }
done
tmp=$(mktemp -d)
srv_pid='' sink_pid=''
trap '[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

"$build/bench_httpd" >"$tmp/httpd.port" &
srv_pid=$!
cg_udp_sink "$tmp/sink.port" || { echo "FAIL: the UDP sink did not start"; exit 2; }
for _ in $(seq 50); do
  [ -s "$tmp/httpd.port" ] && break
  sleep 0.1
done
port=$(sed -n 's/^PORT //p' "$tmp/httpd.port")
sink=$(cat "$tmp/sink.port")
[ -n "$port" ] || { echo "FAIL: bench_httpd did not start"; exit 2; }

# A whole bench_curl process of n transfers, every one sampled unless VARS
# say otherwise; its callgrind file is OUT, its total in OUT.total.
run() { # out n VAR=VALUE...
  local out=$1 n=$2
  shift 2
  cg "bench_curl $n ($*)" "$out.log" "$out" LD_PRELOAD="$lib" XRAY_AUTO_SAMPLING=all \
    XRAY_AUTO_LOG_LEVEL=off AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:"$sink" "$@" -- \
    "$build/bench_curl" "http://127.0.0.1:$port/" "$n" >"$out.total" || exit 2
}
total() { cat "$1.total"; }

printf '%-28s %16s %16s\n' "XRAY_AUTO_PROPAGATE" "Ir/transfer" "xr_curl_begin"
for prop in "${props[@]}"; do
  vars=()
  [ -n "$prop" ] && vars=(XRAY_AUTO_PROPAGATE="$prop")
  run "$tmp/a" "$n1" "${vars[@]}"
  run "$tmp/b" "$n2" "${vars[@]}"
  a=$(total "$tmp/a") b=$(total "$tmp/b")
  ba=$(cg_fn_ir "$tmp/a" xr_curl_begin) bb=$(cg_fn_ir "$tmp/b" xr_curl_begin)
  printf '%-28s %16d %16d\n' "${prop:-(unset: xray)}" $(( (b - a) / (n2 - n1) )) \
    $(( (${bb:-0} - ${ba:-0}) / (n2 - n1) ))
done

[ "$unsampled" = 1 ] || exit 0
echo '{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0}}' >"$tmp/never.json"
echo
printf '%-40s %16s\n' "unsampled transfers" "xr_span_open"
for v in "" "AWS_XRAY_NOOP_ID=false" "XRAY_AUTO_PROPAGATE=xray,w3c"; do
  vars=(XRAY_AUTO_SAMPLING=default XRAY_AUTO_SAMPLING_RULES="$tmp/never.json")
  [ -n "$v" ] && vars+=("$v")
  run "$tmp/a" "$n1" "${vars[@]}"
  run "$tmp/b" "$n2" "${vars[@]}"
  ba=$(cg_fn_ir "$tmp/a" xr_span_open) bb=$(cg_fn_ir "$tmp/b" xr_span_open)
  printf '%-40s %16d\n' "${v:-(defaults: no-op ids)}" $(( (${bb:-0} - ${ba:-0}) / (n2 - n1) ))
done
