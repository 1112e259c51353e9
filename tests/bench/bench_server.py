#!/usr/bin/python3
"""Minimal keep-alive HTTP/1.1 server for the benchmark and the tests.

Standard library only.  Binds 127.0.0.1 on an ephemeral port (or the port
given as argv[1]), prints "PORT <n>" as its first stdout line, flushes, and
serves until killed.  Logs nothing.

Every request gets 200 with a small body and a Content-Length, except:
  /status/<code>   replies with that status code (body still sent unless
                   the code forbids one, e.g. 204/304, or the method is HEAD)
The request's X-Amzn-Trace-Id header (if any) is echoed back in an
X-Echo-Trace-Id response header.
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"ok\n" * 8  # 24 bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body go out as separate writes

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        status = 200
        if self.path.startswith("/status/"):
            try:
                status = int(self.path[len("/status/"):].split("?", 1)[0])
            except ValueError:
                status = 400
            if not 100 <= status <= 599:
                status = 400
        body = b"" if status in (204, 304) or 100 <= status < 200 else BODY
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        trace = self.headers.get("X-Amzn-Trace-Id")
        if trace is not None:
            self.send_header("X-Echo-Trace-Id", trace)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _reply
    do_OPTIONS = _reply


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = Server(("127.0.0.1", port), Handler)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
