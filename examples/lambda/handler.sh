#!/bin/sh
# Example handler for the libxray-auto layer's bootstrap (examples/lambda/bootstrap):
# the event (JSON) is $1, the response goes to stdout, a non-zero exit is a function error.
#
# It makes one HTTP call with curl (the event's "url", else $HANDLER_URL) and, when a database
# is configured (PGDATABASE, with PGHOST, PGPORT, PGUSER, PGPASSWORD), one query with psql
# ($PSQL, default psql).  An event with "error": true queries a missing table: the handler
# fails.  Preloaded by the bootstrap, curl's call and psql's connection and query become
# subsegments of the invocation (curl's request carries the X-Amzn-Trace-Id header).

EVENT=$1
PSQL=${PSQL:-psql}

url=$(printf '%s' "$EVENT" | sed -n 's/.*"url"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$url" ] || url=${HANDLER_URL:-}

status=0
if [ -n "$url" ]; then
  status=$(curl -sS -o /dev/null -w '%{http_code}' "$url") || status=0
fi

row=
if [ -n "${PGDATABASE:-}" ]; then
  if printf '%s' "$EVENT" | grep -q '"error"[[:space:]]*:[[:space:]]*true'; then
    "$PSQL" -X -A -t -q -c "SELECT name FROM xr_lambda_missing_table WHERE id = 7" || exit 3
  fi
  row=$("$PSQL" -X -A -t -q -c "SELECT 'xr-lambda' AS greeting, 42 AS answer") || exit 4
fi

printf '{"http_status":%s,"row":"%s"}\n' "$status" "$row"
