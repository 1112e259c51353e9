#!/usr/bin/env bash
# Will these ELF files load on glibc 2.26 (AWS Lambda provided.al2)?
# The loader refuses an object that requires a symbol version its glibc
# lacks ("version `GLIBC_2.34' not found", preload-craft.md 4.7), so the
# answer is the highest GLIBC_x.y[.z] in each file's version requirements
# (.gnu.version_r: what the loader checks, whichever glibc library it names:
# libc.so.6, libm.so.6, libpthread.so.0 ...). GLIBC_PRIVATE counts as too
# new: it ties the file to one glibc build.
#
# Usage: check_glibc_version.sh FILE...
#   XR_GLIBC_MAX=X.Y overrides the ceiling (default 2.26).
# Prints one line per file: its highest requirement, and for a file above the
# ceiling the symbols that need the offending versions.
# Exit: 0 all files within the ceiling (a file with no GLIBC requirement,
# e.g. a musl build, is within it), 1 some file above it, 2 usage error or a
# file that is not a readable ELF object (whatever the other files gave).
set -u
max=${XR_GLIBC_MAX:-2.26}

if [ $# -eq 0 ]; then
  echo "usage: $0 FILE..." >&2
  exit 2
fi

# True when version $1 is above version $2 (dotted numbers).
above() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}

status=0
for f in "$@"; do
  if ! head -c 4 "$f" 2>/dev/null | grep -q $'^\x7fELF'; then
    echo "ERROR: $f: not a readable ELF file"
    status=2
    continue
  fi
  # Lines "  0x0010:   Name: GLIBC_2.25  Flags: none  Version: 8".
  versions=$(LC_ALL=C readelf -V -W "$f" |
    sed -n 's/^ *0x[0-9a-f]*: *Name: \(GLIBC_[A-Z0-9_.]*\) .*/\1/p' | sort -u)
  if [ -z "$versions" ]; then
    echo "ok: $f: no GLIBC version required"
    continue
  fi
  numbered=$(echo "$versions" | sed -n 's/^GLIBC_\([0-9][0-9.]*\)$/\1/p' | sort -V)
  highest=$(echo "$numbered" | tail -n 1)
  bad=""
  for v in $numbered; do
    if above "$v" "$max"; then
      bad="$bad GLIBC_$v"
    fi
  done
  if echo "$versions" | grep -qx 'GLIBC_PRIVATE'; then
    bad="$bad GLIBC_PRIVATE"
  fi
  if [ -z "$bad" ]; then
    echo "ok: $f: highest GLIBC version required ${highest:-none} (<= $max)"
    continue
  fi
  echo "FAIL: $f: requires${bad} (above GLIBC_$max), highest ${highest:-none}"
  # Dynamic symbols print as "name@GLIBC_2.34 (3)" when undefined.
  for v in $bad; do
    syms=$(LC_ALL=C readelf --dyn-syms -W "$f" |
      awk -v ver="$v" '$7 == "UND" { n = split($8, p, "@"); if (n > 1 && p[n] == ver) print p[1] }' |
      sort -u | tr '\n' ' ')
    echo "  $v: ${syms:-(no symbol; a version requirement only)}"
  done
  [ "$status" -eq 0 ] && status=1
done
exit $status
