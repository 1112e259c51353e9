#!/usr/bin/python3
"""An AWS Lambda custom runtime in plain Python (standard library + psycopg2), speaking to the
Runtime API over plain sockets with http.client.  It knows nothing about libxray-auto.so:
preloaded, the library watches the Runtime API bytes on the socket and traces the handler's
calls per invocation.

Usage: runtime.py

Runtime API client: one http.client.HTTPConnection (keep-alive) for every call; NEXT is a
GET of /2018-06-01/runtime/invocation/next; the result is POSTed to .../<id>/response, or
.../<id>/error (header Lambda-Runtime-Function-Error-Type) when the handler raised.  The
trace header stays in memory (no _X_AMZN_TRACE_ID).  A failed NEXT (a connection error or a
non-200 status) ends the runtime: exit 0 after an HTTP error status, 1 when the API could not
be reached.  With RUNTIME_SETENV_TRACE_ID=1 it also sets _X_AMZN_TRACE_ID (os.environ, that is
putenv) to the trace header after each NEXT, as the managed Python runtime does.

Environment:
  AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (required)
  RUNTIME_INIT_URL         init phase: one GET (urllib) before the first NEXT
  RUNTIME_IDLE_URL         one GET after each posted result, before the next NEXT
  RUNTIME_SETENV_TRACE_ID  "1": put the trace header in _X_AMZN_TRACE_ID after each NEXT
  HANDLER_URL              the handler's GET when the event has no "url"
  HANDLER_PG_CONNINFO      psycopg2 connection string of the handler's query (password from
                           PGPASSWORD); unset: no query

Handler, per invocation (event: a JSON object): GET event.url (else HANDLER_URL) with
urllib.request; psycopg2.connect(HANDLER_PG_CONNINFO) in autocommit mode and one
  SELECT 'xr-lambda' AS greeting, 42 AS answer
(a SELECT on a missing table when event.error is true: the handler raises, the runtime posts
to /error); returns {"request_id", "http_status", "http_bytes", "row"}.

Output (stdout, deterministic): "init: ...", then one line per invocation
  invocation <id>: http <status> <bytes> sql <ok <row>|error <SQLSTATE>|off>
      -> <response|error> <API status>
(one line), and "exit: ..." at the end.
"""

import http.client
import json
import os
import sys
import urllib.error
import urllib.request

API_PREFIX = "/2018-06-01/runtime"
QUERY_OK = "SELECT 'xr-lambda' AS greeting, 42 AS answer"
QUERY_FAIL = "SELECT name FROM xr_lambda_missing_table WHERE id = 7"
USER_AGENT = "libxray-auto-example-python-runtime/1"


class QueryFailed(Exception):
    def __init__(self, sqlstate):
        super().__init__("the query failed")
        self.sqlstate = sqlstate


class RuntimeClient:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=None)

    def _call(self, method, path, body=None, headers=None):
        h = {"User-Agent": USER_AGENT}
        h.update(headers or {})
        self.conn.request(method, API_PREFIX + path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def next(self):
        return self._call("GET", "/invocation/next")

    def post(self, path, obj, error_type=None):
        headers = {"Content-Type": "application/json"}
        if error_type:
            headers["Lambda-Runtime-Function-Error-Type"] = error_type
        status, _, _ = self._call("POST", path, json.dumps(obj).encode(), headers)
        return status


def fetch(url):
    """(status, body bytes) of a GET; (0, 0) when no response came (refused, reset...)."""
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, len(r.read())
    except urllib.error.HTTPError as e:
        return e.code, len(e.read())
    except (urllib.error.URLError, OSError) as e:
        sys.stderr.write("runtime.py: GET %s: %s\n" % (url, e))
        return 0, 0


def query(fail):
    conninfo = os.environ.get("HANDLER_PG_CONNINFO")
    if not conninfo:
        return None
    import psycopg2
    conn = psycopg2.connect(conninfo)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            try:
                cur.execute(QUERY_FAIL if fail else QUERY_OK)
            except psycopg2.Error as e:
                raise QueryFailed(e.pgcode) from None
            row = cur.fetchone()
            return "%s|%s" % row
    finally:
        conn.close()


def handler(event, request_id):
    url = event.get("url") or os.environ.get("HANDLER_URL")
    status, nbytes = fetch(url) if url else (0, 0)
    line = "invocation %s: http %d %d sql " % (request_id, status, nbytes)
    try:
        row = query(bool(event.get("error")))
    except QueryFailed as e:
        e.line = line + "error %s" % e.sqlstate
        raise
    line += "off" if row is None else "ok " + row
    return line, {"request_id": request_id, "http_status": status, "http_bytes": nbytes,
                  "row": row or ""}


def main():
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("runtime.py: AWS_LAMBDA_RUNTIME_API is not set\n")
        return 2
    rt = RuntimeClient(address)

    init_url = os.environ.get("RUNTIME_INIT_URL")
    if init_url:
        try:
            status, nbytes = fetch(init_url)
        except OSError as e:
            rt.post("/init/error", {"errorMessage": str(e), "errorType": "Runtime.InitError"},
                    "Runtime.InitError")
            print("init: fetch failed")
            return 1
        print("init: http %d %d" % (status, nbytes))
    else:
        print("init: no fetch")
    sys.stdout.flush()

    idle_url = os.environ.get("RUNTIME_IDLE_URL")
    set_trace_env = os.environ.get("RUNTIME_SETENV_TRACE_ID") == "1"
    while True:
        try:
            status, headers, body = rt.next()
        except (OSError, http.client.HTTPException) as e:
            print("exit: Runtime API not reachable (%s)" % type(e).__name__)
            return 1
        if status != 200:
            print("exit: NEXT answered %d" % status)
            return 0
        request_id = headers["lambda-runtime-aws-request-id"]
        if set_trace_env:
            # os.environ's assignment calls putenv(): the library sees the change
            if "lambda-runtime-trace-id" in headers:
                os.environ["_X_AMZN_TRACE_ID"] = headers["lambda-runtime-trace-id"]
            else:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
        event = json.loads(body or b"{}")
        try:
            line, result = handler(event, request_id)
            api = rt.post("/invocation/%s/response" % request_id, result)
            print("%s -> response %d" % (line, api))
        except QueryFailed as e:
            api = rt.post("/invocation/%s/error" % request_id,
                          {"errorMessage": str(e), "errorType": e.sqlstate}, "QueryFailed")
            print("%s -> error %d" % (e.line, api))
        sys.stdout.flush()
        if idle_url:
            fetch(idle_url)


if __name__ == "__main__":
    sys.exit(main())
