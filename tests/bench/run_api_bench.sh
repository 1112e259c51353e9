#!/bin/bash
# The C API's cost (include/xray-auto.h): bench_api's modes with the preload
# (every trace sampled, documents to a closed local port) and without it,
# in ns per operation, and, when valgrind is installed, in instructions per
# operation (callgrind, the measured loop alone: independent of load).
#
#   run_api_bench.sh BUILD_DIR [N]
#
# N: operations per run (default 1000; metadata stays below its per-entity
# bound up to 1500). ROUNDS (default 5): runs per mode and setting, the ns
# figure is the fastest (a run is a few milliseconds: one preemption on a
# shared machine multiplies it). Prints one line per mode and setting:
#   api.<mode> <preload|none>: <ns> ns/op[, <instructions> Ir/op]
set -u
build=${1:?usage: run_api_bench.sh BUILD_DIR [N]}
n=${2:-1000}
rounds=${ROUNDS:-5}
lib=$build/libxray-auto.so
prog=$build/bench_api
for f in "$lib" "$prog"; do
  [ -e "$f" ] || { echo "FAIL: $f is missing"; exit 2; }
done
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(XRAY_AUTO_|AWS_XRAY_|AWS_LAMBDA_|_X_AMZN_|LD_PRELOAD$)')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have_vg=0
command -v valgrind >/dev/null 2>&1 && have_vg=1
fail=0
for mode in annotation string metadata subsegment nothing; do
  for pre in preload none; do
    vars=(XRAY_AUTO_SAMPLING=all XRAY_AUTO_LOG_LEVEL=off AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:9)
    [ "$pre" = preload ] && vars+=(LD_PRELOAD="$lib")
    ns=
    for ((r = 0; r < rounds; r++)); do
      if ! out=$(env "${vars[@]}" "$prog" "$mode" "$n" 2>&1); then
        echo "FAIL: $mode ($pre): $out"
        fail=1
        continue 2
      fi
      ns=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) ns\/op.*/\1/p' |
           awk -v m="$ns" '{ print (m == "" || $1 + 0 < m + 0) ? $1 : m }')
    done
    line="api.$mode $pre: $ns ns/op"
    if [ "$have_vg" = 1 ]; then
      if env "${vars[@]}" valgrind --tool=callgrind --instr-atstart=no \
          --callgrind-out-file="$tmp/cg.out" "$prog" "$mode" "$n" >"$tmp/cg.log" 2>&1; then
        ir=$(awk -v n="$n" '/^totals:/ { t = $2 } /^summary:/ { s = $2 }
             END { v = (t != "") ? t : s; if (v != "") printf "%.1f", v / n }' "$tmp/cg.out")
        line="$line, $ir Ir/op"
      else
        echo "FAIL: $mode ($pre) under valgrind:"; cat "$tmp/cg.log"; fail=1
      fi
    fi
    echo "$line   [last of $rounds runs: $out]"
  done
done
exit $fail
