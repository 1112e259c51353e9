#!/bin/bash
# Deterministic performance gates (issue 7): instruction counts under
# valgrind --tool=callgrind, which counts user-space instructions only (a
# system call costs ~0) and does not depend on wall time or machine load.
#
#   run_callgrind.sh BUILD_DIR [BUDGETS_FILE]
#
# Measures, with the drivers of tests/perf (each counts only its measured
# loop, bracketed with callgrind client requests; --instr-atstart=no):
#   hook.untraced      instructions the preload adds per untraced call:
#                      perf_io pipe (1-byte write + read on a pipe), with
#                      minus without LD_PRELOAD, / (2 N)
#   traced.subsegment  instructions the preload adds per traced HTTP
#                      request end to end (a segment opened with
#                      xray_begin_segment around connect + GET + response +
#                      close to an in-process server, the segment's
#                      serialization and UDP send): perf_io http, with
#                      minus without LD_PRELOAD, / N
#   emit.document      instructions of one xr_emit_entity of a segment with
#                      three HTTP subsegments (serialize + send): perf_emit / N
#   startup.process    instructions the preload adds to starting a process
#                      that makes no traced call: `/bin/sh -c true` counted
#                      whole (loader, constructors, exit), with minus without
#                      LD_PRELOAD, with the AWS_XRAY_* values of
#                      tests/bench/bench_startup.sh (a host-name daemon
#                      address, the Lambda Runtime API)
#   sql.traced         instructions the preload adds per traced libpq query
#                      inside a segment (XRAY_AUTO_SEGMENT=process: the
#                      subsegment built, serialized and sent as it ends):
#                      bench_sql pg (PQexec "SELECT 1" + PQclear) against the
#                      PostgreSQL of the ctest fixture db.pg, to a UDP sink;
#                      whole runs (--instr-atstart=yes) of N_SQL and
#                      N_SQL + 1000 queries, with minus without LD_PRELOAD,
#                      / 1000. Only with XR_PERF_SQL=1 (test perf.callgrind_sql,
#                      which requires the fixture); else reported as skipped.
# prints a table (name, measured, budget, % of budget) and exits 1 when a
# figure exceeds its budget in BUDGETS_FILE (default: budgets.txt next to
# this script), 77 when valgrind is absent, 2 when a driver fails.
# RUNS=k repeats every measurement k times and prints each figure (to check
# stability); the gate uses the largest.
# N_PIPE, N_HTTP, N_EMIT, N_SQL: iterations (defaults 20000, 200, 2000, 200).
# ONLY="name..." measures those figures alone (the others are not printed).
set -u
build=${1:?usage: run_callgrind.sh BUILD_DIR [BUDGETS_FILE]}
if ! command -v valgrind >/dev/null 2>&1; then
  echo "SKIP: valgrind is not installed (package valgrind)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
budgets=${2:-$here/budgets.txt}
runs=${RUNS:-1}
n_pipe=${N_PIPE:-20000}
n_http=${N_HTTP:-200}
n_emit=${N_EMIT:-2000}
n_sql=${N_SQL:-200}
only=${ONLY:-}
lib=$build/libxray-auto.so

# cg_scrub_env, cg, cg_udp_sink: shared with tests/bench/bench_w3c.sh.
# shellcheck source=SCRIPTDIR/callgrind_lib.sh
. "$here/callgrind_lib.sh"
# The library's settings come from this script alone.
cg_scrub_env
for f in "$lib" "$build/perf_io" "$build/perf_emit" "$budgets"; do
  [ -e "$f" ] || { echo "FAIL: $f is missing"; exit 2; }
done
tmp=$(mktemp -d)
trap '[ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# The measured loop of a tests/perf driver alone (--instr-atstart=no: the
# driver brackets it with callgrind client requests).
count() { # name preload(0|1) driver args...
  local name=$1 pre=$2 ld=
  shift 2
  [ "$pre" = 1 ] && ld=$lib
  cg "$name (preload=$pre)" "$tmp/$name.$pre.log" "$tmp/$name.$pre.out" \
    ${ld:+LD_PRELOAD=$ld} XRAY_AUTO_SAMPLING=all XRAY_AUTO_LOG_LEVEL=off \
    AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:9 -- --instr-atstart=no "$@"
}

# A whole process counted from its first instruction, as
# tests/bench/bench_startup.sh sets it up. The loader's work grows with the
# length of the preload's path (~20 instructions a character): a copy at a
# path of fixed length (mktemp's) keeps the figure independent of where the
# build directory is.
count_start() { # preload(0|1) command args...
  local pre=$1 ld=
  shift
  if [ "$pre" = 1 ]; then
    ld=$tmp/libxray-auto.so
    [ -e "$ld" ] || cp "$lib" "$ld" || exit 2
  fi
  cg "startup (preload=$pre)" "$tmp/startup.$pre.log" "$tmp/startup.$pre.out" \
    ${ld:+LD_PRELOAD=$ld} AWS_XRAY_DAEMON_ADDRESS=xray-daemon:2000 \
    AWS_XRAY_TRACING_NAME=app AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 AWS_REGION=us-east-1 \
    -- "$@"
}

# sql.traced: the fixture's server, a UDP sink (cg_udp_sink).
sql_info() { # key: a value of the db.pg fixture's info.json
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$build/dbstate/pg/info.json" "$1"
}
sink_pid=
sql_sink() {
  [ -n "$sink_pid" ] && return 0
  cg_udp_sink "$tmp/sink.port" ||
    { echo "FAIL: sql.traced: the UDP sink did not start" >&2; exit 2; }
}
count_sql() { # preload(0|1) queries
  local pre=$1 n=$2 ld=
  [ "$pre" = 1 ] && ld=$lib
  cg "sql.traced (preload=$pre)" "$tmp/sql.$pre.log" "$tmp/sql.$pre.$n.out" \
    ${ld:+LD_PRELOAD=$ld} XRAY_AUTO_SAMPLING=all XRAY_AUTO_SEGMENT=process \
    XRAY_AUTO_LOG_LEVEL=off AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$(cat "$tmp/sink.port")" \
    PGPASSWORD="$(sql_info password)" -- --instr-atstart=yes \
    "$build/bench_sql" pg "$(sql_info host)" "$(sql_info port)" "$(sql_info user)" \
    "$(sql_info database)" "$n" 0
}

declare -A measured
measure() { # name
  local a b v
  case $1 in
  sql.traced)
    if [ "${XR_PERF_SQL:-0}" != 1 ]; then
      echo "SKIP XR_PERF_SQL unset (test perf.callgrind_sql)"; return 0
    fi
    if [ ! -x "$build/bench_sql" ] || [ ! -f "$build/dbstate/pg/info.json" ] ||
        ! sql_info port >/dev/null 2>&1; then
      echo "SKIP no bench_sql or no PostgreSQL fixture"; return 0
    fi
    sql_sink
    local a1 a2 b1 b2
    a1=$(count_sql 0 "$n_sql") a2=$(count_sql 0 $((n_sql + 1000)))
    b1=$(count_sql 1 "$n_sql") b2=$(count_sql 1 $((n_sql + 1000)))
    [ -n "$a1" ] && [ -n "$a2" ] && [ -n "$b1" ] && [ -n "$b2" ] ||
      { echo "FAIL: sql.traced: no instruction count" >&2; exit 2; }
    a=$((a2 - a1)) b=$((b2 - b1))
    v="$((b - a)) 1000" ;;
  hook.untraced)
    a=$(count pipe 0 "$build/perf_io" pipe "$n_pipe")
    b=$(count pipe 1 "$build/perf_io" pipe "$n_pipe")
    v="$((b - a)) $((2 * n_pipe))" ;;
  traced.subsegment)
    a=$(count http 0 "$build/perf_io" http "$n_http")
    b=$(count http 1 "$build/perf_io" http "$n_http")
    v="$((b - a)) $n_http" ;;
  emit.document)
    a=0
    b=$(count emit 0 "$build/perf_emit" "$n_emit")
    v="$b $n_emit" ;;
  startup.process)
    a=$(count_start 0 /bin/sh -c true)
    b=$(count_start 1 /bin/sh -c true)
    v="$((b - a)) 1" ;;
  *)
    echo "FAIL: $1: unknown figure (tests/perf/budgets.txt)" >&2
    exit 2 ;;
  esac
  [ -n "$a" ] && [ -n "$b" ] || { echo "FAIL: $1: no instruction count" >&2; exit 2; }
  echo "$v"
}

# The gate compares totals (instructions over the whole loop against
# budget x iterations): a per-call figure rounded down would hide up to one
# instruction per call.
fmt() { awk -v n="$1" -v d="$2" 'BEGIN { printf "%.1f", n / d }'; }

fail=0
printf '%-20s %12s %12s %8s\n' name measured budget '%budget'
while read -r name budget _; do
  case $name in ''|'#'*) continue ;; esac
  if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
  worst=-1 den=1 all=
  for ((r = 0; r < runs; r++)); do
    v=$(measure "$name") || exit 2
    if [[ $v == SKIP* ]]; then
      break
    fi
    read -r num den <<<"$v"
    all="$all $(fmt "$num" "$den")"
    (( num > worst )) && worst=$num
  done
  if [[ $v == SKIP* ]]; then
    printf '%-20s %12s %12d %8s skipped: %s\n' "$name" - "$budget" - "${v#SKIP }"
    continue
  fi
  pct=$(( worst * 100 / (budget * den) ))
  status=ok
  if (( worst > budget * den )); then status=OVER; fail=1; fi
  printf '%-20s %12s %12d %7d%% %s%s\n' "$name" "$(fmt "$worst" "$den")" "$budget" "$pct" \
    "$status" "$( ((runs > 1)) && echo "  runs:$all")"
done <"$budgets"
if ((fail)); then
  echo "FAIL: a figure exceeds its budget in $budgets (instructions; see its comments)"
  exit 1
fi
echo "PASS: every figure within its budget"
