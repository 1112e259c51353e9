#!/bin/bash
# The cost of one document (the "emit" part of tests/bench/run): bench_emit's
# wall figures (serialization, emission with the send, serialization with and
# without XRAY_AUTO_PLUGINS' fragment), then, when valgrind and perf_emit are
# there, the instructions of one emission of tests/perf's document (a segment
# with three HTTP subsegments: serialize + send) without and with the
# fragment (perf_emit N [plugins]: the measured loop alone), independent of
# the machine's load.
#
#   run_emit_bench.sh BUILD_DIR [N]
#
# N: bench_emit's documents (default 100000); N_EMIT: perf_emit's (default
# 2000). Prints bench_emit's lines, then
#   emit_ir=<Ir per document> plugins_ir=<Ir per document with the fragment>
# Exit 1 when a program fails.
set -u
build=${1:?usage: run_emit_bench.sh BUILD_DIR [N]}
n=${2:-100000}
n_emit=${N_EMIT:-2000}
here=$(cd "$(dirname "$0")" && pwd)
# cg_scrub_env, cg: shared with tests/perf/run_callgrind.sh.
# shellcheck source=SCRIPTDIR/../perf/callgrind_lib.sh
. "$here/../perf/callgrind_lib.sh"
cg_scrub_env

"$build/bench_emit" "$n" || exit 1
if ! command -v valgrind >/dev/null 2>&1 || [ ! -x "$build/perf_emit" ]; then
  echo "emit_ir: not measured (needs valgrind and perf_emit, built with <valgrind/callgrind.h>)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
a=$(cg "perf_emit $n_emit" "$tmp/a.log" "$tmp/a.out" XRAY_AUTO_LOG_LEVEL=off -- \
  --instr-atstart=no "$build/perf_emit" "$n_emit")
b=$(cg "perf_emit $n_emit plugins" "$tmp/b.log" "$tmp/b.out" XRAY_AUTO_LOG_LEVEL=off -- \
  --instr-atstart=no "$build/perf_emit" "$n_emit" plugins)
if [ -z "$a" ] || [ -z "$b" ]; then echo "FAIL: perf_emit: no instruction count"; exit 1; fi
awk -v a="$a" -v b="$b" -v n="$n_emit" \
  'BEGIN { printf "emit_ir=%.1f plugins_ir=%.1f\n", a / n, b / n }'
