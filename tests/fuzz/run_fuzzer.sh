#!/usr/bin/env bash
# Runs one fuzz target for a bounded time over a COPY of its seed corpus (the repository is
# never written) and fails on any crash, leak, timeout, out-of-memory or sanitizer report.
#   run_fuzzer.sh <fuzz bin dir> <name> <tests/fuzz source dir> [seconds] [libFuzzer flags...]
# Extra flags go to libFuzzer (e.g. -jobs=1 for a long run). XR_FUZZ_SECONDS overrides seconds;
# XR_FUZZ_KEEP=DIR keeps the work directory (grown corpus, logs, artifacts) in DIR.
# Exit 0 pass, 1 fail (artifacts are hex-dumped), 77 skip (fuzz.build was skipped).
set -uo pipefail
bin=$1
name=$2
src=$3
secs=${XR_FUZZ_SECONDS:-${4:-15}}
shift $(( $# >= 4 ? 4 : $# ))

exe="$bin/fuzz_$name"
if [ ! -x "$exe" ]; then
  if [ -f "$bin/SKIPPED" ]; then
    echo "SKIP: fuzz.build was skipped: $(cat "$bin/SKIPPED")"
    exit 77
  fi
  echo "FAIL: $exe missing (fuzz.build failed?)"
  exit 1
fi
seeds="$src/corpus/$name"
if [ ! -d "$seeds" ] || [ -z "$(ls -A "$seeds")" ]; then
  echo "FAIL: no seed corpus in $seeds"
  exit 1
fi

if [ -n "${XR_FUZZ_KEEP:-}" ]; then
  work=$XR_FUZZ_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/xr-fuzz-$name.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/corpus" "$work/artifacts"
cp -r "$seeds"/. "$work/corpus/"
nseeds=$(ls "$work/corpus" | wc -l)

dict=()
[ -f "$src/dict/$name.dict" ] && dict=(-dict="$src/dict/$name.dict")

# rss_limit: ASan's shadow makes the steady state ~100-300 MB; a target that grows past the
# limit is a leak or an unbounded allocation. max_len: beyond XR_HP_HEAD_MAX (65536), so the
# head-size limit and 64 KiB datagrams are reachable.
log="$work/fuzz.log"
cd "$work" || exit 1
"$exe" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -max_len=70000 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$@" \
  "$work/corpus" >"$log" 2>&1
rc=$?
# With -jobs=N the workers write fuzz-<i>.log, which libFuzzer copies into its own output.

stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" | tr '\n' ' ')
ncorpus=$(ls "$work/corpus" | wc -l)
echo "fuzz_$name: ${secs}s, seeds $nseeds, corpus now $ncorpus, exit $rc; $stats"

bad=0
[ "$rc" -ne 0 ] && bad=1
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: |oracle failed' "$log"; then
  bad=1
fi
if ! grep -q '^stat::number_of_executed_units' "$log"; then
  echo "no final stats: the fuzzer did not run to the end"
  bad=1
fi
if [ "$bad" -ne 0 ]; then
  echo "FAIL: fuzz_$name reported a problem; log tail:"
  tail -n 60 "$log"
  for a in "$work"/artifacts/*; do
    [ -f "$a" ] || continue
    echo "---- artifact $(basename "$a") ($(stat -c %s "$a") bytes):"
    head -c 2048 "$a" | od -A d -c | head -n 40
  done
  exit 1
fi
echo "PASS"
exit 0
