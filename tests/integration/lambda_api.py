#!/usr/bin/python3
"""A fake AWS Lambda Runtime API (the one stand-in the tests allow: Lambda itself cannot run
here).  Python 3 standard library only; never run under the preload.

Usage: lambda_api.py --invocations FILE [--port N] [--log FILE] [--next-timeout S]

Binds 127.0.0.1 (port 0 = any free port) and prints "PORT <n>" as its first stdout line.
HTTP/1.1 with keep-alive (every response has a Content-Length), one thread per connection, so
a runtime reusing one libcurl easy handle keeps one connection for all its calls.

--invocations FILE: a JSON list, served in order, of
    {"id": "<request id>",                 Lambda-Runtime-Aws-Request-Id
     "payload": <any JSON value>,          the body of the NEXT response (serialised JSON;
                                           a string is sent as is)
     "trace": "Root=..;Parent=..;Sampled=1" | null   Lambda-Runtime-Trace-Id (absent if null)
     "after_ms": N}                        optional: NEXT for it blocks N ms first (an idle
                                           function waiting for its next event)

Endpoints (version prefix /2018-06-01):
  GET  /runtime/invocation/next        blocks until the next invocation is due, then 200 with
                                       the payload and the headers Lambda-Runtime-Aws-Request-Id,
                                       Lambda-Runtime-Deadline-Ms (now + 30 s, epoch ms),
                                       Lambda-Runtime-Invoked-Function-Arn and
                                       Lambda-Runtime-Trace-Id.  Once every invocation was
                                       served: 410 Gone, {"errorType": "NoMoreInvocations"}: the
                                       runtimes under test exit on it (a real Lambda would
                                       freeze the process instead).
  POST /runtime/invocation/<id>/response   202 {"status":"OK"}
  POST /runtime/invocation/<id>/error      202 {"status":"OK"}
  POST /runtime/init/error                 202 {"status":"OK"}
  a POST for an unknown or already answered id: 400 (InvalidRequestID); anything else: 404.

--log FILE: one JSON line per request, appended and flushed before the response is sent (so a
client that has seen its response finds its line):
  {"seq": n, "method", "path", "headers": {lower-cased name: value}, "trace_header_count",
   "trace_headers": [X-Amzn-Trace-Id values received: there must be none],
   "body": request body (text), "status": the status answered,
   "kind": "next" | "next-exhausted" | "response" | "error" | "init-error" | "bad",
   "invocation": the request id concerned (null if none), "peer": "ip:port" of the client
   (one connection per peer port), "time": when the request head had been read,
   "answered": when the response was about to be written (the start of an invocation)}
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from httpd import QuietServer, serve_announced  # same directory: the harness's HTTP server

PREFIX = "/2018-06-01"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:xray-auto-test"
DEADLINE_S = 30


class State:
    def __init__(self, invocations, next_timeout):
        self.lock = threading.Lock()
        self.invocations = invocations
        self.next_index = 0
        self.open = {}          # id -> invocation served by NEXT, not answered yet
        self.answered = set()
        self.next_timeout = next_timeout
        self.seq = 0
        self.log_f = None

    def log(self, rec):
        with self.lock:
            rec["seq"] = self.seq
            self.seq += 1
            if self.log_f:
                self.log_f.write(json.dumps(rec, sort_keys=True) + "\n")
                self.log_f.flush()

    def take_next(self):
        """The next invocation (after its after_ms), or None when all were served."""
        with self.lock:
            if self.next_index >= len(self.invocations):
                return None
            inv = self.invocations[self.next_index]
            self.next_index += 1
            self.open[inv["id"]] = inv
        delay = float(inv.get("after_ms") or 0) / 1000.0
        if delay > 0:
            time.sleep(min(delay, self.next_timeout))
        return inv

    def answer(self, req_id):
        with self.lock:
            if req_id in self.open:
                del self.open[req_id]
                self.answered.add(req_id)
                return True
            return False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-lambda-runtime-api/1"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("lambda_api: " + (fmt % args) + "\n")

    def _read_body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                out = b""
                while True:
                    size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline(65537)
            return b""
        try:
            return self.rfile.read(int(n))
        except ValueError:
            self.close_connection = True
            return b""

    def _reply(self, rec, status, body, headers=()):
        rec["status"] = status
        rec["answered"] = time.time()
        self.server.state.log(rec)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _record(self, body):
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        traces = self.headers.get_all("X-Amzn-Trace-Id") or []
        return {"method": self.command, "path": self.path, "headers": headers,
                "trace_header_count": len(traces), "trace_headers": list(traces),
                "body": body.decode("utf-8", "replace"), "kind": "bad", "invocation": None,
                "peer": "%s:%d" % self.client_address[:2], "time": self.t_head}

    def parse_request(self):
        self.t_head = time.time()
        return super().parse_request()

    def do_GET(self):
        body = self._read_body()
        rec = self._record(body)
        if self.path != PREFIX + "/runtime/invocation/next":
            return self._reply(rec, 404, {"errorType": "NotFound"})
        inv = self.server.state.take_next()
        if inv is None:
            rec["kind"] = "next-exhausted"
            return self._reply(rec, 410, {"errorType": "NoMoreInvocations",
                                          "errorMessage": "every invocation was served"})
        rec["kind"] = "next"
        rec["invocation"] = inv["id"]
        payload = inv.get("payload", {})
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        hdrs = [("Lambda-Runtime-Aws-Request-Id", inv["id"]),
                ("Lambda-Runtime-Deadline-Ms", str(int((time.time() + DEADLINE_S) * 1000))),
                ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)]
        if inv.get("trace") is not None:
            hdrs.append(("Lambda-Runtime-Trace-Id", inv["trace"]))
        return self._reply(rec, 200, data, hdrs)

    def do_POST(self):
        body = self._read_body()
        rec = self._record(body)
        inv_prefix = PREFIX + "/runtime/invocation/"
        if self.path == PREFIX + "/runtime/init/error":
            rec["kind"] = "init-error"
            return self._reply(rec, 202, {"status": "OK"})
        if self.path.startswith(inv_prefix):
            rest = self.path[len(inv_prefix):]
            req_id, _, what = rest.rpartition("/")
            if what in ("response", "error") and req_id:
                rec["kind"] = what
                rec["invocation"] = req_id
                if not self.server.state.answer(req_id):
                    return self._reply(rec, 400, {"errorType": "InvalidRequestID",
                                                  "errorMessage": "unknown or answered id"})
                return self._reply(rec, 202, {"status": "OK"})
        return self._reply(rec, 404, {"errorType": "NotFound"})

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass


class Server(QuietServer):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake AWS Lambda Runtime API")
    ap.add_argument("--invocations", required=True, help="JSON list of invocations")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append one JSON line per request")
    ap.add_argument("--next-timeout", type=float, default=30.0,
                    help="longest after_ms wait (seconds)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    with open(args.invocations, "r", encoding="utf-8") as f:
        invocations = json.load(f)
    ids = [inv["id"] for inv in invocations]
    if len(set(ids)) != len(ids) or any("/" in i or not i for i in ids):
        ap.error("invocation ids must be distinct, non-empty and hold no '/'")

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(invocations, args.next_timeout)
    srv.state.log_f = open(args.log, "a", encoding="utf-8") if args.log else None
    srv.verbose = args.verbose

    return serve_announced(srv)


if __name__ == "__main__":
    sys.exit(main())
