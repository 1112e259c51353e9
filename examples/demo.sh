#!/usr/bin/env bash
# The demo: builds libxray-auto.so and the xray-auto tool, starts a local
# HTTP server, and runs the real curl CLI and the example libcurl program
# (easy and multi API) under the preload with the embedded collector, which
# prints the traces as trees; then starts a throw-away PostgreSQL server and
# runs psql and pgbench under the preload (SQL subsegments). Nothing leaves
# 127.0.0.1.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
. "$top/scripts/deps.sh"
xr_install_missing "${XR_BUILD_PACKAGES[@]}" curl python3 postgresql postgresql-contrib

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target xray-auto-lib xray-auto curl_client >/dev/null

tmp=$(mktemp -d)
dbs="$top/tests/integration/dbservers.py"
trap 'kill "$httpd" 2>/dev/null || true; /usr/bin/python3 "$dbs" stop pg "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
/usr/bin/python3 "$top/tests/integration/httpd.py" --log "$tmp/requests.jsonl" >"$tmp/port" &
httpd=$!
for _ in $(seq 50); do grep -q PORT "$tmp/port" 2>/dev/null && break; sleep 0.1; done
port=$(awk '/PORT/{print $2}' "$tmp/port")
url=http://127.0.0.1:$port

echo "== curl CLI and examples/curl_client under LD_PRELOAD=$build/libxray-auto.so"
echo "== (XRAY_AUTO_SAMPLING=all: every call is traced, for the demo)"
XRAY_AUTO_SAMPLING=all AWS_XRAY_TRACING_NAME=demo \
  "$build/xray-auto" run --collect -- bash -c "
    curl -s -o /dev/null -w 'curl GET /ok -> %{http_code}\n' '$url/ok?token=not-recorded'
    curl -s -o /dev/null -w 'curl GET /notfound -> %{http_code}\n' '$url/notfound'
    curl -s -o /dev/null -w 'curl POST /error -> %{http_code}\n' -d x=1 '$url/error'
    curl -s -o /dev/null -Z -w 'curl -Z %{url} -> %{http_code}\n' '$url/ok' '$url/throttle'
    curl -s -o /dev/null -w 'curl refused port -> %{http_code}\n' http://127.0.0.1:9/ || true
    '$build/curl_client' --multi '$url/ok' '$url/chunked' '$url/big'
  "
echo "== what the server received (the injected X-Amzn-Trace-Id headers)"
/usr/bin/python3 - "$tmp/requests.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"{r['method']:5} {r['path'][:28]:28} X-Amzn-Trace-Id: {r['headers'].get('x-amzn-trace-id', '-')}")
PY

echo "== PostgreSQL: psql and pgbench under the preload (a throw-away server on 127.0.0.1)"
/usr/bin/python3 "$dbs" start pg "$tmp/pg" >/dev/null
eval "$(/usr/bin/python3 - "$tmp/pg/info.json" <<'PY'
import json, shlex, sys
i = json.load(open(sys.argv[1]))
print("pgport=%d pgpass=%s pgbin=%s" % (i["port"], shlex.quote(i["password"]), shlex.quote(i["bin_dir"])))
PY
)"
export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=xrapp PGDATABASE=xrdb PGPASSWORD=$pgpass
"$pgbin/pgbench" -q -i -s 1 >/dev/null 2>&1
XRAY_AUTO_SAMPLING=all AWS_XRAY_TRACING_NAME=demo-sql \
  "$build/xray-auto" run --collect -- bash -c "
    '$pgbin/psql' -X -q -c \"SELECT aid, abalance FROM pgbench_accounts WHERE aid = 42 AND filler <> 'not-recorded'\"
    '$pgbin/psql' -X -q -c 'SELECT * FROM no_such_table' 2>&1 || true
    '$pgbin/pgbench' -n -t 1 -M prepared 2>&1 | grep 'transactions actually'
  "
