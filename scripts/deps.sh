# Sourced by the demo and test scripts: installs the Debian packages named
# in "$@" that are missing (as root with apt-get, as the README promises on
# a fresh Debian 12 machine); otherwise says what is missing and stops.
xr_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Headers only for libcurl, libpq, libmariadb and libunwind: the library
# finds them at run time and never links them (libunwind8 is the run-time
# part the stack capture dlopens).
# musl-tools, dpkg-dev and debian-archive-keyring: the musl build
# (cmake/musl.cmake compiles Debian's cJSON source, fetched with apt-get
# source, into libxray-auto-musl.so). binutils: readelf for the layer zip.
XR_BUILD_PACKAGES=(cmake make gcc pkg-config libcjson-dev libcurl4-openssl-dev
  libpq-dev libmariadb-dev libunwind-dev libunwind8 binutils musl-tools dpkg-dev
  debian-archive-keyring)
# Real database servers and clients for the tests, demo and benchmarks.
XR_DB_PACKAGES=(postgresql postgresql-contrib mariadb-server mariadb-client
  python3-psycopg2 python3-mysqldb)
# HTTP clients and load generator the sockets-layer tests and benchmark run
# under the preload (issue 4): wget, python3-requests, wrk.
XR_NET_PACKAGES=(wget python3-requests wrk)
# Issue 5: real binaries for `xray-auto doctor` (fzf is a Go program,
# setcap gives a copy file capabilities), strace for the start-up test.
XR_DEPLOY_PACKAGES=(fzf libcap2-bin strace file)
# Issue 6: the libFuzzer targets (tests/fuzz, CTest label fuzz) are built with
# clang; libclang-rt-14-dev holds libclang_rt.fuzzer and the ASan/UBSan
# runtimes (dpkg -S libclang_rt.fuzzer-x86_64.a).
XR_BUILD_PACKAGES+=(clang libclang-rt-14-dev)
# Issue 6: the memory checkers. valgrind runs integration.valgrind
# (tests/integration/test_valgrind.py); libasan8 and libubsan1 are gcc's
# ASan/UBSan runtimes for sanitize.unit (cmake/sanitize.cmake; gcc-12 already
# depends on them, named here because the test needs them).
XR_BUILD_PACKAGES+=(valgrind libasan8 libubsan1)
# Issue 6: iproute2's `ip route add unreachable` gives integration.hostile_env
# a daemon address whose every send fails (without it: no route at all);
# curl, strace and libcap2-bin (setcap) also serve hostile_env, no_files and
# secure_exec; unshare and mount come with util-linux (essential).
XR_NET_PACKAGES+=(iproute2)
# Issue 6, behaviour unchanged: CPython's own test modules (test_socket,
# test_httplib, ...) run with and without the preload by
# integration.cpython.*; g++ builds tests/integration/cxx_exceptions.cc for
# integration.cxx_exceptions (both tests skip, saying why, without them).
XR_NET_PACKAGES+=(libpython3.11-testsuite)
XR_BUILD_PACKAGES+=(g++)
