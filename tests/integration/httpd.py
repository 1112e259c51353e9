#!/usr/bin/python3
"""Local HTTP/1.1 test server for the libxray-auto integration tests.

Usage: httpd.py [--port N] [--log FILE] [--static DIR]

Binds 127.0.0.1 (port 0 = any free port unless --port is given) and prints
"PORT <n>" as its first stdout line.  Keep-alive, any request method.

Routes (query strings are ignored for routing):
  /ok          200 "ok\\n"
  /notfound    404
  /throttle    429
  /error       500
  /reset       no response: the connection is closed with an RST
  /slow?ms=N   sleeps N ms (default 200), then 200
  /big         200 with 100000 bytes
  /chunked     200 with Transfer-Encoding: chunked
  /aws         200, header x-amzn-RequestId: req-123, JSON body
  /preset/NAME a response the test chose: PUT stores it (204) from the request's headers
               X-Preset-Status (default 200), X-Preset-Reason (the reason phrase),
               X-Preset-Header "Name: value" (repeatable) and X-Preset-Body; any other
               method answers the stored one (404 if none), a CONNECT the one named
               "connect" when there is one.  So a response can carry a secret (an error's
               reason phrase and body, Set-Cookie, a Location) that no request holds.
  anything else: a file under --static DIR, else 404.

For every request one JSON line is appended to --log FILE (flushed) before the
response is sent, so a client that has seen its response can read its line:
  {"method", "path" (with query), "headers" {lower-cased name: value},
   "trace_header_count", "trace_headers" [values], "status" (null for /reset),
   "body_bytes" (response body size; 0 for HEAD), "request_body_bytes", "time"}
Repeated header names are joined with ", " in "headers".
"""

import argparse
import json
import os
import posixpath
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TRACE_HEADER = "x-amzn-trace-id"
BIG_SIZE = 100000
CHUNKS = [b"chunk-one\n", b"chunk-two-is-longer\n", b"x" * 1000 + b"\n", b"end\n"]
AWS_BODY = b'{"TableNames":["t1","t2"],"ok":true}\n'

# Fixed bodies so that tests can predict content lengths.
FIXED = {
    "/ok": (200, b"ok\n", "text/plain"),
    "/notfound": (404, b"not found\n", "text/plain"),
    "/throttle": (429, b"slow down\n", "text/plain"),
    "/error": (500, b"internal error\n", "text/plain"),
}


class LogWriter:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", encoding="utf-8") if path else None

    def write(self, rec):
        if not self.f:
            return
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.lock:
            self.f.write(line)
            self.f.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xray-it-httpd/1"
    sys_version = ""

    # Every do_<METHOD> lookup (GET, POST, PATCH, custom methods...) lands here.
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # keep stderr quiet
        if self.server.verbose:
            sys.stderr.write("httpd: " + (fmt % args) + "\n")

    # -- request body -------------------------------------------------------
    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    self.close_connection = True
                    return total
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until an empty line
                    while True:
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return total
                data = self.rfile.read(size)
                total += len(data)
                self.rfile.readline(65537)  # CRLF after chunk
        n = self.headers.get("Content-Length")
        if n:
            try:
                n = int(n)
            except ValueError:
                self.close_connection = True
                return 0
            remaining = n
            while remaining > 0:
                data = self.rfile.read(min(remaining, 65536))
                if not data:
                    self.close_connection = True
                    break
                remaining -= len(data)
            return n - remaining
        return 0

    # -- routing ------------------------------------------------------------
    def _route(self, route, query):
        """Returns (status, body, headers, chunks) or None for /reset."""
        self._reason = None
        presets = getattr(self.server, "presets", {})
        if self.command == "CONNECT" and "connect" in presets:
            route = "/preset/connect"
        if route.startswith("/preset/") and self.command == "PUT":
            presets[route[8:]] = (
                int(self.headers.get("X-Preset-Status") or 200),
                self.headers.get("X-Preset-Reason"),
                [tuple(x.strip() for x in h.split(":", 1))
                 for h in self.headers.get_all("X-Preset-Header") or [] if ":" in h],
                (self.headers.get("X-Preset-Body") or "").encode("utf-8"))
            return 204, b"", [], None
        if route.startswith("/preset/"):
            if route[8:] not in presets:
                return 404, b"no such preset\n", [("Content-Type", "text/plain")], None
            status, self._reason, hdrs, body = presets[route[8:]]
            return status, body, list(hdrs), None
        if route in FIXED:
            status, body, ctype = FIXED[route]
            hdrs = [("Content-Type", ctype)]
            if status == 429:
                hdrs.append(("Retry-After", "1"))
            return status, body, hdrs, None
        if route == "/reset":
            return None
        if route == "/slow":
            try:
                ms = int(urllib.parse.parse_qs(query).get("ms", ["200"])[0])
            except ValueError:
                ms = 200
            time.sleep(max(0, min(ms, 60000)) / 1000.0)
            return 200, b"slow\n", [("Content-Type", "text/plain")], None
        if route == "/big":
            body = (b"0123456789abcdef" * (BIG_SIZE // 16 + 1))[:BIG_SIZE]
            return 200, body, [("Content-Type", "application/octet-stream")], None
        if route == "/chunked":
            return 200, b"".join(CHUNKS), [("Content-Type", "text/plain")], CHUNKS
        if route == "/aws":
            return 200, AWS_BODY, [("Content-Type", "application/x-amz-json-1.0"),
                                   ("x-amzn-RequestId", "req-123")], None
        static = self.server.static_dir
        if static:
            rel = posixpath.normpath(urllib.parse.unquote(route)).lstrip("/")
            if rel and not rel.startswith("..") and "\0" not in rel:
                full = os.path.join(static, *rel.split("/"))
                if os.path.isfile(full):
                    with open(full, "rb") as f:
                        body = f.read()
                    return 200, body, [("Content-Type", "application/octet-stream")], None
        return 404, b"not found\n", [("Content-Type", "text/plain")], None

    def _handle(self):
        req_body = self._read_body()
        split = urllib.parse.urlsplit(self.path)
        route = split.path or "/"
        # absolute-form request targets ("GET http://host/x"): route on the path
        if not route.startswith("/"):
            route = "/" + route
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        traces = self.headers.get_all(TRACE_HEADER) or []

        res = self._route(route, split.query)
        head = self.command == "HEAD"
        rec = {
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "trace_header_count": len(traces),
            "trace_headers": list(traces),
            "status": None if res is None else res[0],
            "body_bytes": 0 if (res is None or head) else len(res[1]),
            "request_body_bytes": req_body,
            "time": time.time(),
        }
        self.server.log.write(rec)

        if res is None:
            self._reset()
            return
        status, body, hdrs, chunks = res
        self.send_response(status, self._reason)
        for k, v in hdrs:
            self.send_header(k, v)
        if chunks is not None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if chunks is not None:
            for c in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()

    def _reset(self):
        """Abort the connection: SO_LINGER{1,0} + close sends an RST."""
        self.close_connection = True
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile/wfile hold references to the socket, so socket.close() would
        # not release the descriptor; detach it and close it for real.
        try:
            fd = sock.detach()
            os.close(fd)
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass


def serve_announced(srv):
    """Prints "PORT n" (what the harness waits for), serves until SIGTERM or SIGINT, closes.
    Shared with lambda_api.py. Returns the exit status."""
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


class QuietServer(ThreadingHTTPServer):
    """Threaded, reusable address; client hang-ups and our own resets are expected, so they
    are not printed unless srv.verbose. Shared with lambda_api.py."""
    daemon_threads = True
    allow_reuse_address = True
    verbose = False

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)) and not self.verbose:
            return
        super().handle_error(request, client_address)


class Server(QuietServer):
    request_queue_size = 128

    def shutdown_request(self, request):
        try:
            super().shutdown_request(request)
        except OSError:
            pass


def main(argv=None):
    ap = argparse.ArgumentParser(description="libxray-auto integration test HTTP server")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append one JSON line per request")
    ap.add_argument("--static", default=None, help="serve files from this directory")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.log = LogWriter(args.log)
    srv.static_dir = os.path.abspath(args.static) if args.static else None
    srv.presets = {}
    srv.verbose = args.verbose

    return serve_announced(srv)


if __name__ == "__main__":
    sys.exit(main())
