#!/usr/bin/env bash
# The built library's contract with the loader (DEVELOPERS.md rules 2, 3):
# DT_NEEDED is the C library and cJSON only, and the dynamic exports are
# exactly the interposed functions and the public xray_* API listed in
# hooks/exports.map.
#
# Usage: check_elf.sh [--no-cjson] LIBRARY EXPORTS_MAP
#          the glibc build: DT_NEEDED within libc.so.6, libcjson.so.1,
#          libdl.so.2, libpthread.so.0, and the last two present when the
#          library calls what glibc before 2.34 keeps there; no GLIBC symbol
#          version above 2.26 (check_glibc_version.sh). --no-cjson: cJSON is
#          compiled in (cmake/cjson.cmake), libcjson.so.1 must not be needed.
#        check_elf.sh --musl=NAME[,NAME...] LIBRARY EXPORTS_MAP
#          the musl build: DT_NEEDED exactly libc.so (cJSON is compiled in),
#          no symbol versions required, exports = the map minus NAMEs (the
#          glibc-only hooks, which must then be absent).
set -u
here=$(cd "$(dirname "$0")" && pwd)
musl=0 absent="" cjson=1
case ${1:-} in
  --musl=*) musl=1 absent=$(echo "${1#--musl=}" | tr ',' '\n' | sort); shift ;;
  --no-cjson) cjson=0; shift ;;
esac
if [ $# -ne 2 ]; then
  echo "usage: $0 [--musl=NAME,...|--no-cjson] LIBRARY EXPORTS_MAP" >&2
  exit 2
fi
lib=$1 map=$2
fail=0 pass=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)
undefined=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' | sort -u)
if [ "$musl" -eq 1 ]; then
  if [ "$needed" != "libc.so" ]; then
    bad "$lib: DT_NEEDED must be exactly musl's libc.so, is: $(echo $needed)"
  else
    ok "DT_NEEDED = $needed"
  fi
  if readelf -V "$lib" | grep -q 'Version needs section'; then
    bad "$lib requires symbol versions (linked against glibc?):"
    readelf -V "$lib" | sed -n 's/.*Name: \([^ ]*\) .*/  \1/p' | sort -u
  else
    ok "no symbol versions required"
  fi
else
  extra=$(echo "$needed" |
    grep -vxE 'libc\.so\.6|libcjson\.so\.1|libdl\.so\.2|libpthread\.so\.0' || true)
  if [ -n "$extra" ]; then
    bad "$lib needs more than libc, libdl, libpthread and cJSON: $extra"
  else
    ok "DT_NEEDED = $(echo $needed)"
  fi
  if [ "$cjson" -eq 0 ]; then
    if echo "$needed" | grep -qx 'libcjson\.so\.1'; then
      bad "$lib needs libcjson.so.1 although cJSON is compiled in (--no-cjson)"
    else
      ok "cJSON compiled in: no libcjson.so.1"
    fi
  fi
  # Before glibc 2.34 these live outside libc.so.6: without the DT_NEEDED
  # the library would not load on Lambda's glibc 2.26 (src/glibc_compat.h).
  for pair in 'libdl.so.2:^dl(open|sym|vsym|addr|addr1|close|error|info|mopen)$' \
              'libpthread.so.0:^(pthread|sem)_'; do
    so=${pair%%:*} re=${pair#*:}
    users=$(echo "$undefined" | grep -E "$re" | tr '\n' ' ' | sed 's/ $//')
    if [ -n "$users" ] && ! echo "$needed" | grep -qx "${so//./\\.}"; then
      bad "$lib calls $users but does not name $so as DT_NEEDED (glibc < 2.34 keeps them there)"
    else
      ok "$so: ${users:+needed by }${users:-not needed}"
    fi
  done
  if out=$(bash "$here/check_glibc_version.sh" "$lib"); then
    ok "${out#ok: }"
  else
    bad "symbol versions too new for glibc 2.26 (AWS Lambda provided.al2):"
    echo "$out" | sed 's/^/  /'
  fi
fi

# initial-exec TLS: no __tls_get_addr (which would pull in the dynamic loader).
if echo "$undefined" | grep -qx '__tls_get_addr'; then
  bad "$lib uses __tls_get_addr (global-dynamic TLS)"
else
  ok "no __tls_get_addr"
fi

listed=$(sed -n '/global:/,/local:/p' "$map" | grep -oE '^[[:space:]]+[A-Za-z_][A-Za-z0-9_]*;' |
  tr -d ' ;\t' | sort)
expected=$listed
if [ -n "$absent" ]; then
  unknown=$(comm -13 <(echo "$listed") <(echo "$absent"))
  if [ -n "$unknown" ]; then
    bad "--musl names that $map does not list: $(echo $unknown)"
  fi
  expected=$(comm -23 <(echo "$listed") <(echo "$absent"))
fi
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort)
if [ "$expected" != "$actual" ]; then
  bad "exports differ from $map${absent:+ minus $(echo $absent)} (< expected, > actual)"
  diff <(echo "$expected") <(echo "$actual") | sed 's/^/  /'
else
  ok "exports = $(echo $actual | wc -w) symbols, exactly the map${absent:+ minus $(echo $absent | wc -w) glibc-only names}"
fi

# A named version node would silently disable interposition.
if readelf --dyn-syms "$lib" | grep -E 'curl_easy_perform@' >/dev/null; then
  bad "hooks carry a symbol version"
else
  ok "hooks are unversioned"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
