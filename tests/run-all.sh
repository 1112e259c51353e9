#!/usr/bin/env bash
# Builds everything and runs every test through CTest (unit, ELF contract,
# integration against real local servers, the benchmark in report mode).
# On a fresh Debian 12 machine run it as root: it installs what it needs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
. "$top/scripts/deps.sh"
xr_install_missing "${XR_BUILD_PACKAGES[@]}" "${XR_DB_PACKAGES[@]}" "${XR_NET_PACKAGES[@]}" \
  "${XR_DEPLOY_PACKAGES[@]}" libcmocka-dev curl git python3 \
  binutils util-linux valgrind

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON
cmake --build "$build" -j"$(nproc)"
cd "$build"
rc=0
ctest --output-on-failure -j2 "$@" || rc=$?
# The benchmarks' figures (they never fail on a timing).
echo "== benchmark figures"
# The reliability figures: CPython comparisons, fork storm and soak, valgrind, fuzz runs.
sed -n '/^medians of/,/^datagram check/p; /^document_bytes=/p; /^documents=/p; /^startup:/p
  /^identical: /p; /^figures: /p; /^valgrind totals: /p; /^fuzz_[a-z_]*: /p
  /^ *name  *measured  *budget/p; /^ *hook.untraced /p; /^ *traced.subsegment /p; /^ *emit.document /p' \
  Testing/Temporary/LastTest.log || true
exit $rc
