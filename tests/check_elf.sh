#!/usr/bin/env bash
# The built library's contract with the loader (DEVELOPERS.md rules 2, 3):
# DT_NEEDED is libc and cJSON only, and the dynamic exports are exactly the
# interposed functions and the public xray_* API listed in hooks/exports.map.
# Usage: check_elf.sh LIBRARY EXPORTS_MAP
set -u
lib=$1 map=$2
fail=0 pass=0

needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort)
extra=$(echo "$needed" | grep -vxE 'libc\.so\.6|libcjson\.so\.1' || true)
if [ -n "$extra" ]; then
  echo "FAIL: $lib needs more than libc and cJSON: $extra"; fail=$((fail + 1))
else
  echo "ok: DT_NEEDED = $(echo $needed)"; pass=$((pass + 1))
fi

# initial-exec TLS: no __tls_get_addr (which would pull in ld-linux).
if nm -D --undefined-only "$lib" | grep -q '__tls_get_addr'; then
  echo "FAIL: $lib uses __tls_get_addr (global-dynamic TLS)"; fail=$((fail + 1))
else
  echo "ok: no __tls_get_addr"; pass=$((pass + 1))
fi

expected=$(sed -n '/global:/,/local:/p' "$map" | grep -oE '^[[:space:]]+[A-Za-z_][A-Za-z0-9_]*;' |
  tr -d ' ;\t' | sort)
actual=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort)
if [ "$expected" != "$actual" ]; then
  echo "FAIL: exports differ from $map"
  diff <(echo "$expected") <(echo "$actual") | sed 's/^/  /'
  fail=$((fail + 1))
else
  echo "ok: exports = $(echo $actual | wc -w) symbols, exactly the map"; pass=$((pass + 1))
fi

# A named version node would silently disable interposition.
if readelf --dyn-syms "$lib" | grep -E 'curl_easy_perform@' >/dev/null; then
  echo "FAIL: hooks carry a symbol version"; fail=$((fail + 1))
else
  echo "ok: hooks are unversioned"; pass=$((pass + 1))
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
