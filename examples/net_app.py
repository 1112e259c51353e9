#!/usr/bin/python3
"""A small ordinary Python web application (it knows nothing about tracing).

Usage: net_app.py [--port N] [--downstream URL] [--conninfo CONNINFO]

Serves HTTP/1.1 with keep-alive on 127.0.0.1 (port 0, the default, picks a free port) with
http.server's ThreadingHTTPServer (one thread per connection) and prints "PORT <n>" first.
URL and CONNINFO default to the environment variables NET_APP_DOWNSTREAM and NET_APP_PG; the
PostgreSQL password comes from PGPASSWORD (libpq reads it itself).

Routes (the query string is ignored):
  /work    GET URL with urllib.request, then a query with psycopg2 on a connection opened for
           this request (autocommit); 200 "work <downstream status> <namespaces>\\n", or 502
           "work failed: <error>\\n" when either failed
  /hello   200 "hello\\n"
  /fail    500 "fail\\n"
  other    404 "not found\\n"
Every response carries Content-Length.  SIGTERM or SIGINT: exit 0.
"""

import argparse
import os
import signal
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "net_app/1"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def _answer(self, status, body):
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _drop_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)

    def _work(self):
        try:
            try:
                with urllib.request.urlopen(self.server.downstream, timeout=30) as r:
                    r.read()
                    status = r.status
            except urllib.error.HTTPError as e:
                e.read()
                status = e.code
            conn = psycopg2.connect(self.server.conninfo)
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname <> %s",
                                ("xr_no_such_schema",))
                    count = cur.fetchone()[0]
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001 - the client gets the reason
            return 502, "work failed: %s: %s\n" % (type(e).__name__, e)
        return 200, "work %d %d\n" % (status, count)

    def _handle(self):
        self._drop_body()
        path = self.path.split("?", 1)[0]
        if path == "/work":
            status, body = self._work()
        elif path == "/hello":
            status, body = 200, "hello\n"
        elif path == "/fail":
            status, body = 500, "fail\n"
        else:
            status, body = 404, "not found\n"
        self._answer(status, body)

    do_GET = do_POST = do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main(argv=None):
    ap = argparse.ArgumentParser(description="small http.server application")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--downstream", default=os.environ.get("NET_APP_DOWNSTREAM", ""))
    ap.add_argument("--conninfo", default=os.environ.get("NET_APP_PG", ""))
    args = ap.parse_args(argv)

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.downstream = args.downstream
    srv.conninfo = args.conninfo

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.1)
    except SystemExit:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
