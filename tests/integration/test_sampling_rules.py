#!/usr/bin/python3
"""Integration test: local sampling rules (XRAY_AUTO_SAMPLING_RULES, the SDKs' rules file) decide
which inbound requests of `python3 -m http.server`, preloaded, become segments.

  - a version 2 file, in order: `/health*` (any host and method) fixed_target 0 rate 0, POST
    `/api/*` rate 1, Host `*.internal*` rate 1, default fixed_target 1 rate 0:
      * GET /health, /healthz/deep, /HEALTH (case-insensitive) never send anything, also with
        the Host the third rule wants (the first match wins);
      * every POST /api/... is sent (501 from http.server: still a segment, a fault);
      * every GET with Host api.internal:8080 is sent;
      * plain GETs follow the default's reservoir alone: exactly one per wall-clock second
        (rate 0), at least one;
      * an incoming X-Amzn-Trace-Id with Sampled=1 on /health is honoured (sent);
      * no log line at the default level;
  - a version 1 file (`service_name` is the Host pattern): GET /small* never, the rest always;
  - a malformed file, a missing file, and a directory: the default rule exactly as without the
    variable (at least one and not every one of 20 plain /health requests sent: the /health
    rule is not in force), and exactly one `libxray-auto[pid]` line on stderr naming the file
    and the problem.

Usage: test_sampling_rules.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import http.client
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check, get  # noqa: E402

PY = H.PYTHON
HOST = "127.0.0.1"
HTTP_SERVER_READY = r"Serving HTTP on \S+ port (\d+)"
S = None
WWW = None

RULES_V2 = {
    "version": 2,
    "rules": [
        {"description": "health checks: never", "host": "*", "http_method": "*",
         "url_path": "/health*", "fixed_target": 0, "rate": 0},
        {"description": "API writes: always", "host": "*", "http_method": "POST",
         "url_path": "/api/*", "fixed_target": 0, "rate": 1},
        {"host": "*.internal*", "http_method": "*", "url_path": "*", "fixed_target": 0,
         "rate": 1},
    ],
    "default": {"fixed_target": 1, "rate": 0},
}

RULES_V1 = {
    "version": 1,
    "rules": [
        {"service_name": "127.0.0.1*", "http_method": "GET", "url_path": "/small*",
         "fixed_target": 0, "rate": 0},
    ],
    "default": {"fixed_target": 0, "rate": 1},
}


def write_rules(name, content):
    path = S.path(name)
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content, indent=2))
    return path


def server(rules_path):
    """python3 -m http.server preloaded with the rules file; XRAY_AUTO_SAMPLING unset."""
    return H.PreloadedServer(S, [PY, "-m", "http.server", "0", "--bind", HOST,
                                 "--directory", WWW], ready=HTTP_SERVER_READY,
                             env={"PYTHONUNBUFFERED": "1",
                                  "XRAY_AUTO_SAMPLING_RULES": rules_path},
                             sampling=None)


def send(port, method, path, ua, host=None, trace=None):
    """One request on a connection of its own; returns the status."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"User-Agent": ua}
    if host is not None:
        headers["Host"] = host
    if trace is not None:
        headers["X-Amzn-Trace-Id"] = trace
    try:
        conn.request(method, path, body=b"x=1" if method == "POST" else None, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def by_agent(docs, prefix):
    return [d for d in docs if str(get(d, "http", "request", "user_agent")).startswith(prefix)]


def our_log_lines(srv):
    return [ln for ln in srv.stderr().splitlines() if ln.startswith("libxray-auto[")]


def t_rules_v2():
    path = write_rules("rules-v2.json", RULES_V2)
    srv = server(path)
    p = srv.port
    mark = srv.mark()
    for i in range(10):
        check(send(p, "GET", "/health", "it/health-%d" % i) == 404, "GET /health: 404 "
              "(test sanity)")
        send(p, "GET", "/healthz/deep?x=1", "it/healthz-%d" % i)
        send(p, "GET", "/HEALTH", "it/health-upper-%d" % i)
        send(p, "GET", "/health", "it/health-internal-%d" % i, host="api.internal:8080")
    n_api = 15
    for i in range(n_api):
        check(send(p, "POST", "/api/items/%d" % i, "it/api-%d" % i) == 501, "POST /api: 501 "
              "from http.server (test sanity)")
    n_int = 10
    for i in range(n_int):
        send(p, "GET", "/small.txt", "it/internal-%d" % i, host="api.internal:8080")
    traced_root = "1-%08x-%024x" % (int(time.time()), 0xabc123)
    send(p, "GET", "/health", "it/health-traced",
         trace="Root=%s;Parent=53995c3f42cd8ad8;Sampled=1" % traced_root)
    n_plain = 40
    t0 = time.time()
    for i in range(n_plain):
        send(p, "GET", "/small.txt", "it/plain-%d" % i)
    t1 = time.time()
    seconds = int(t1) - int(t0) + 1
    docs = srv.wait_docs(n_api + n_int + 1 + 1, since=mark, grace=1.0)

    health = by_agent(docs, "it/health")
    check(len(health) == 1 and get(health[0], "http", "request", "user_agent")
          == "it/health-traced", "/health*: only the request with Sampled=1 may be sent, got "
          "%d documents" % len(health), health)
    if health:
        check(health[0].get("trace_id") == traced_root, "/health with Sampled=1: its trace id",
              health[0])
    check(not by_agent(docs, "it/healthz"), "/healthz/deep matches /health*: never sent")
    api = by_agent(docs, "it/api-")
    check(len(api) == n_api, "POST /api/*: %d of %d sent, rate 1 needs all" % (len(api), n_api))
    for d in api:
        check(get(d, "http", "request", "method") == "POST" and d.get("fault") is True,
              "POST /api/*: method POST, fault (501)", d)
    internal = by_agent(docs, "it/internal-")
    check(len(internal) == n_int, "Host api.internal:8080: %d of %d sent, rate 1 needs all"
          % (len(internal), n_int))
    plain = by_agent(docs, "it/plain-")
    check(1 <= len(plain) <= seconds, "default (fixed_target 1, rate 0): %d of %d plain GETs "
          "sent over %d wall-clock second(s); the reservoir alone allows 1 per second, at least "
          "1" % (len(plain), n_plain, seconds), plain)
    rest = [d for d in docs if d not in health + api + internal + plain]
    check(not rest, "no other document", rest)
    check(srv.alive(), "http.server is still running")
    srv.stop()
    check(not our_log_lines(srv), "a valid rules file logs nothing at the default level",
          our_log_lines(srv))


def t_rules_v1():
    path = write_rules("rules-v1.json", RULES_V1)
    srv = server(path)
    p = srv.port
    mark = srv.mark()
    for i in range(10):
        send(p, "GET", "/small.txt", "it/v1-small-%d" % i)
        send(p, "GET", "/sub/a.txt", "it/v1-sub-%d" % i)
    docs = srv.wait_docs(10, since=mark, grace=1.0)
    check(not by_agent(docs, "it/v1-small"), "v1 service_name 127.0.0.1* + /small*: never "
          "sent", by_agent(docs, "it/v1-small"))
    check(len(by_agent(docs, "it/v1-sub")) == 10, "v1 default rate 1: all 10 /sub/a.txt sent, "
          "got %d" % len(by_agent(docs, "it/v1-sub")))
    srv.stop()
    check(not our_log_lines(srv), "a valid v1 file logs nothing", our_log_lines(srv))


def default_behaviour(rules_path, problem, label):
    srv = server(rules_path)
    p = srv.port
    mark = srv.mark()
    n = 20
    for i in range(n):
        send(p, "GET", "/health", "it/%s-%d" % (label, i))
    docs = srv.wait_docs(1, since=mark, grace=1.0)
    got = by_agent(docs, "it/%s-" % label)
    check(1 <= len(got) < n, "%s: %d of %d requests sent; the built-in default rule (1 per "
          "second + 5 %%) needs >= 1 and < %d (a /health rule would allow none)"
          % (label, len(got), n, n), docs)
    srv.stop()
    lines = our_log_lines(srv)
    check(len(lines) == 1, "%s: exactly one log line, got %d" % (label, len(lines)), lines)
    if lines:
        check(rules_path in lines[0] and problem in lines[0] and "default rule" in lines[0],
              "%s: the line names the file (%s) and the problem (%s)"
              % (label, rules_path, problem), lines[0])
        check("s3cr3t" not in lines[0], "%s: the line never quotes the file's values" % label,
              lines[0])


def t_malformed():
    bad = json.dumps(RULES_V2)[:-5]  # cut short
    default_behaviour(write_rules("malformed.json", bad), "not valid JSON", "malformed")


def t_invalid_value():
    doc = json.loads(json.dumps(RULES_V2))
    doc["rules"][1]["rate"] = "s3cr3t"
    default_behaviour(write_rules("invalid.json", doc), "rules[1].rate: not a number", "invalid")


def t_missing():
    default_behaviour(S.path("no-such-rules.json"), "no such file", "missing")


def t_directory():
    default_behaviour(S.tmp, "a directory", "directory")


def main():
    global S, WWW
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "sampling_rules")
    S.require_build()
    WWW = S.path("www")
    os.makedirs(os.path.join(WWW, "sub"))
    for name in ("small.txt", os.path.join("sub", "a.txt")):
        with open(os.path.join(WWW, name), "wb") as f:
            f.write(b"sampling rules\n")
    for fn in (t_rules_v2, t_rules_v1, t_malformed, t_invalid_value, t_missing, t_directory):
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
