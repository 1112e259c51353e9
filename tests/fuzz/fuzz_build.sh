#!/usr/bin/env bash
# CTest fixture `fuzz.build`: configures and builds tests/fuzz with clang into BIN_DIR.
#   fuzz_build.sh <tests/fuzz source dir> <bin dir>
# Exit 0 built, 1 failed, 77 skipped (clang, or libFuzzer's runtime, not installed): the reason
# is printed and kept in <bin dir>/SKIPPED, which run_fuzzer.sh reads to skip its target too.
set -uo pipefail
src=$1
bin=$2
mkdir -p "$bin"
rm -f "$bin/SKIPPED"

skip() {
  echo "SKIP: $*"
  echo "$*" >"$bin/SKIPPED"
  exit 77
}

cc=${XR_FUZZ_CC:-clang}
command -v "$cc" >/dev/null 2>&1 ||
  skip "$cc not found (Debian: apt-get install clang libclang-rt-14-dev)"

# libFuzzer + ASan + UBSan runtimes: libclang-rt-14-dev on Debian 12.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/probe.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return n > 0 && d[0] == 1; }
EOF
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" \
     >"$probe/log" 2>&1; then
  cat "$probe/log"
  skip "$cc cannot link -fsanitize=fuzzer,address,undefined (libFuzzer runtime missing:" \
       "apt-get install libclang-rt-14-dev)"
fi

cmake -S "$src" -B "$bin" -DCMAKE_C_COMPILER="$cc" >"$bin/configure.log" 2>&1 || {
  cat "$bin/configure.log"
  echo "FAIL: cmake configure of $src"
  exit 1
}
cmake --build "$bin" -j2 || { echo "FAIL: build of the fuzz targets"; exit 1; }
ls "$bin"/fuzz_*
