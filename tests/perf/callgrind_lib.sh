# shellcheck shell=bash
# Shell functions shared by the scripts that count instructions with
# valgrind --tool=callgrind: tests/perf/run_callgrind.sh (the CI gate
# perf.callgrind) and tests/bench/bench_w3c.sh. Sourced, never run; defines
# functions only (no side effect when sourced).

# Unsets every variable the library reads (and LD_PRELOAD): the library's
# settings must come from the calling script alone (an inherited
# XRAY_AUTO_SEGMENT, a Lambda variable, an LD_PRELOAD would change the paths
# measured).
cg_scrub_env() {
  local v
  while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(XRAY_AUTO_|AWS_XRAY_|AWS_LAMBDA_|_X_AMZN_|LD_PRELOAD$)')
}

# Runs `env VARS... valgrind --tool=callgrind --callgrind-out-file=OUT ARGS...`
# and prints the instructions it counted: the "totals:" (else "summary:")
# line of OUT, which valgrind writes at exit. A failed run prints its log to
# stderr and ends the script (exit 2; in a command substitution, the
# subshell: the caller then sees an empty count).
cg() { # label log out VARS... -- valgrind-args... command args...
  local label=$1 log=$2 out=$3 vars=()
  shift 3
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  if ! env "${vars[@]}" valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
      >"$log" 2>&1; then
    echo "FAIL: $label: $* failed:" >&2
    cat "$log" >&2
    exit 2
  fi
  awk '/^totals:/ { t = $2 } /^summary:/ { s = $2 }
       END { if (t != "") print t; else if (s != "") print s; else print "" }' "$out"
}

# The inclusive instructions of FUNCTION in a callgrind output file (empty
# when it does not appear).
cg_fn_ir() { # out function
  callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
    awk -v f="$2" '$0 ~ (":" f " ") { gsub(",", "", $1); print $1; exit }'
}

# Starts a UDP sink on 127.0.0.1 standing in for the daemon (a closed port
# would make ECONNREFUSED, a path of its own, come and go with ICMP timing):
# it reads and drops datagrams, writes its port to PORTFILE, and exits within
# a second once the shell that started it (the script, or the subshell of a
# $(...)) is gone. Sets sink_pid; 0 once the port is written, 1 when it was
# not within 5 s.
cg_udp_sink() { # portfile
  rm -f "$1"
  python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(1.0)
parent = os.getppid()
while os.getppid() == parent:
    try:
        s.recv(65536)
    except socket.timeout:
        pass
' >"$1" &
  # shellcheck disable=SC2034  # the caller's, to kill at exit
  sink_pid=$!
  for _ in $(seq 50); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}
