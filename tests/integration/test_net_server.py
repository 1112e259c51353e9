#!/usr/bin/python3
"""Integration test: inbound HTTP requests on accepted sockets become segments (issue 4, the
server side of the sockets layer), for servers that know nothing about tracing:

  - `python3 -m http.server` (HTTP/1.0, one connection per request): files, a missing file,
    a query string, HEAD, a directory listing, no User-Agent, X-Forwarded-For, incoming
    X-Amzn-Trace-Id (Sampled=1 / Sampled=0 / no Sampled), a new trace per request,
    AWS_XRAY_TRACING_NAME, default sampling;
  - examples/net_app.py (ThreadingHTTPServer, HTTP/1.1 keep-alive): /work calls httpd.py with
    urllib and runs a psycopg2 query; its segment must hold both, and nothing else, also with
    four keep-alive clients at once; Sampled=0 sends nothing, its calls included; 100-continue
    (these scenarios need PostgreSQL + psycopg2, else they are skipped with the reason printed);
  - <build>/net_server (examples/net_server.c, C): thread per connection with recv/send and
    read/writev, --fork process per connection with recvmsg/sendmsg; concurrent keep-alive
    clients; /call's plain-socket downstream GET embedded in exactly its own request's segment;
    HEAD, 204, 304, chunked, 100000-byte and close-delimited responses; heads split across
    sends and 7-byte reads; pipelining; HTTP/1.0; request bodies; non-HTTP bytes (nothing);
  - an asyncio server with two requests open at once on its one thread: each gets its segment,
    a call made meanwhile belongs to neither (a call-mode segment of its own).

Every request is told apart by a unique User-Agent; each must give exactly one top-level
segment document (none for Sampled=0), with every field of the contract: name, id, trace_id,
parent_id, times inside the request's window, aws.xray.sdk, http.request method / url (no
query) / user_agent / client_ip / x_forwarded_for, http.response status / content_length,
error / throttle / fault, and exactly the subsegments the request caused.

Usage: test_net_server.py BUILD_DIR   (exit 0 pass, 1 fail; without PostgreSQL or psycopg2 the
       net_app scenarios are skipped, the reason printed)
"""

import http.client
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check, get  # noqa: E402
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = H.PYTHON
HOST = "127.0.0.1"
SQL_QUERY = "SELECT count(*) FROM pg_namespace WHERE nspname <> ?"
# `python3 -m http.server` prints this line (needs unbuffered stdout).
HTTP_SERVER_READY = r"Serving HTTP on \S+ port (\d+)"

SMALL = b"small file for the sockets layer test\n"
BIG_SIZE = 100000


# ---------------------------------------------------------------------------------------------
# requests from the test process (never preloaded)
# ---------------------------------------------------------------------------------------------
def new_root():
    return "1-%08x-%024x" % (int(time.time()), random.getrandbits(96))


def new_parent():
    return "%016x" % random.getrandbits(64)


class Req:
    """One request sent and what its segment must say."""

    def __init__(self, port, method, path, ua, headers=None, body=None, want_status=None):
        self.port, self.method, self.path, self.ua = port, method, path, ua
        self.headers = dict(headers or {})
        if ua is not None:
            self.headers["User-Agent"] = ua
        self.body = body
        self.want_status = want_status
        self.url = "http://%s:%d%s" % (HOST, port, H.url_without_query(path))
        self.client_ip, self.xff = HOST, False
        self.root = self.parent = None
        self.sampled = True
        self.subs = []          # expected subsegments: ("http", url, status, bytes) / ("sql", op, q)
        self.status = None
        self.resp_body = None
        self.resp_length = None  # the Content-Length header the client got
        self.local = None        # the client's (address, port): tells connections apart
        self.t0 = self.t1 = None

    def trace(self, root, parent=None, sampled="1"):
        parts = ["Root=" + root]
        if parent:
            parts.append("Parent=" + parent)
        if sampled is not None:
            parts.append("Sampled=" + sampled)
        self.headers["X-Amzn-Trace-Id"] = ";".join(parts)
        self.root, self.parent, self.sampled = root, parent, sampled != "0"
        return self

    def forwarded(self, value, first):
        self.headers["X-Forwarded-For"] = value
        self.client_ip, self.xff = first, True
        return self

    def what(self):
        return "%s %s (%s)" % (self.method, self.path, self.ua)

    def send(self, conn=None):
        """Sends the request on conn (an http.client.HTTPConnection), or on a connection of its
        own; reads the whole response."""
        own = conn is None
        if own:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        try:
            self.t0 = time.time()
            conn.request(self.method, self.path, body=self.body, headers=self.headers)
            r = conn.getresponse()
            self.resp_body = r.read()
            self.t1 = time.time()
            self.status = r.status
            cl = r.getheader("Content-Length")
            self.resp_length = int(cl) if cl is not None else None
            if conn.sock is not None:
                self.local = conn.sock.getsockname()
        finally:
            if own:
                conn.close()
        if self.want_status is not None:
            check(self.status == self.want_status, "%s: the server answered %s, expected %s "
                  "(test sanity)" % (self.what(), self.status, self.want_status),
                  self.resp_body[:300])
        return self


def raw_exchange(port, chunks, n_responses):
    """Sends `chunks` (bytes, each with its own send) on one TCP connection, then reads until
    the server closes; returns the raw responses split into n_responses (status, body)."""
    s = socket.create_connection((HOST, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for c in chunks:
            s.sendall(c)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    out = []
    while data and len(out) < n_responses:
        head, _, rest = data.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        lm = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if not m:
            break
        n = int(lm.group(1)) if lm else len(rest)  # no Content-Length: up to the close
        out.append((int(m.group(1)), rest[:n]))
        data = rest[n:]
    check(len(out) == n_responses and not data, "raw exchange: %d responses (expected %d), %d "
          "bytes left over (test sanity)" % (len(out), n_responses, len(data)))
    return out


# ---------------------------------------------------------------------------------------------
# assertions
# ---------------------------------------------------------------------------------------------
def verify(docs, reqs, program, label):
    """docs: every document of the phase; reqs: the Req objects sent.  Each sampled request
    has exactly one segment document (found by its User-Agent, or its URL without one), every
    field checked; unsampled requests have none; no other document.  Returns {ua: doc}.

    Time window of a segment: from before the client sent the request to now (the documents
    are in).  Not up to the client's receipt of the response: the library can only take the
    end time after the server's last write returned, and a busy machine may preempt the server
    right there while the client already has the response."""
    seen = time.time()
    found = {}
    used = set()
    for d in docs:
        check(d.get("type") != "subsegment", "%s: every document must be a top-level segment "
              "(no independent subsegment)" % label, d)
    for rq in reqs:
        what = "%s: %s" % (label, rq.what())
        if rq.ua is not None:
            cands = [d for d in docs if get(d, "http", "request", "user_agent") == rq.ua]
        else:
            cands = [d for d in docs if get(d, "http", "request", "user_agent") is None
                     and get(d, "http", "request", "url") == rq.url]
        if not rq.sampled:
            check(not cands, "%s: an unsampled request (Sampled=0) must send nothing" % what,
                  cands)
            continue
        if not check(len(cands) == 1, "%s: %d segment documents, expected exactly 1"
                     % (what, len(cands)), cands or docs):
            continue
        d = cands[0]
        used.add(id(d))
        found[rq.ua] = d
        check_request_segment(d, rq, program, what, seen)
    extra = [d for d in docs if id(d) not in used and d.get("type") != "subsegment"]
    check(not extra, "%s: %d documents that belong to no request (duplicates or extras)"
          % (label, len(extra)), extra)
    n_sampled = len([r for r in reqs if r.sampled])
    check(len(docs) == n_sampled, "%s: %d documents for %d sampled requests"
          % (label, len(docs), n_sampled), docs if len(docs) != n_sampled else None)
    tids = [found[r.ua].get("trace_id") for r in reqs if r.ua in found and r.root is None]
    check(len(set(tids)) == len(tids), "%s: a request without a trace header must start a "
          "new trace (distinct trace_ids)" % label, tids)
    ids = [d.get("id") for d in docs]
    check(len(set(ids)) == len(ids), "%s: segment ids must be distinct" % label, ids)
    return found


def check_request_segment(d, rq, program, what, seen):
    H.check_segment(d, program, rq.t0, seen, what, trace_root=rq.root,
                    parent_id=rq.parent, nsubs=None)
    req = get(d, "http", "request") or {}
    check(req.get("method") == rq.method, "%s: http.request.method %r, expected %r"
          % (what, req.get("method"), rq.method), d)
    check(req.get("url") == rq.url, "%s: http.request.url %r, expected %r"
          % (what, req.get("url"), rq.url), d)
    if rq.ua is None:
        check("user_agent" not in req, "%s: no User-Agent was sent: user_agent must be absent"
              % what, d)
    else:
        check(req.get("user_agent") == rq.ua, "%s: http.request.user_agent %r"
              % (what, req.get("user_agent")), d)
    check(req.get("client_ip") == rq.client_ip, "%s: http.request.client_ip %r, expected %r"
          % (what, req.get("client_ip"), rq.client_ip), d)
    if rq.xff:
        check(req.get("x_forwarded_for") is True, "%s: client_ip from X-Forwarded-For needs "
              "x_forwarded_for: true" % what, d)
    else:
        check(req.get("x_forwarded_for") in (None, False), "%s: x_forwarded_for must not be "
              "set without X-Forwarded-For" % what, d)
    status = get(d, "http", "response", "status")
    check(status == rq.status, "%s: http.response.status %r, expected %r"
          % (what, status, rq.status), d)
    H.status_flags_ok(d, rq.status, what)
    cl = get(d, "http", "response", "content_length")
    if rq.method == "HEAD" or rq.status == 304:
        # No body follows; the Content-Length header describes the GET's body.
        check(cl in (rq.resp_length, None), "%s: http.response.content_length %r, expected "
              "the Content-Length header %r or none" % (what, cl, rq.resp_length), d)
    elif rq.status == 204 or (rq.status < 200 and rq.status >= 100):
        check(cl in (0, None), "%s: http.response.content_length %r, expected 0 or none "
              "(no body)" % (what, cl), d)
    else:
        check(cl == len(rq.resp_body), "%s: http.response.content_length %r, expected %d"
              % (what, cl, len(rq.resp_body)), d)
    check_subsegments(d, rq, what)


def check_subsegments(d, rq, what):
    subs = d.get("subsegments") or []
    check(len(subs) == len(rq.subs), "%s: %d subsegments, expected %d (exactly what this request "
          "caused)" % (what, len(subs), len(rq.subs)), d)
    if len(subs) != len(rq.subs):
        return
    ids = [s.get("id") for s in subs]
    check(len(set(ids)) == len(ids) and d.get("id") not in ids,
          "%s: subsegment ids must be distinct and differ from the segment's" % what, d)
    for s in subs:
        check(s.get("parent_id") in (None, d.get("id")), "%s: embedded subsegment parent_id %r, "
              "expected none or the segment id %r" % (what, s.get("parent_id"), d.get("id")), d)
        check(s.get("trace_id") in (None, d.get("trace_id")), "%s: embedded subsegment trace_id "
              "%r differs from the segment's" % (what, s.get("trace_id")), d)
        check(s.get("type") in (None, "subsegment"), "%s: subsegment type %r"
              % (what, s.get("type")), d)
        check(not s.get("subsegments"), "%s: nothing is nested below an outbound call" % what, d)
    recs = sorted(H.flatten([d]), key=lambda r: (r["sub"].get("start_time") or 0,
                                                 r["sub"].get("end_time") or 0))
    for k, (rec, exp) in enumerate(zip(recs, rq.subs)):
        w = "%s: subsegment #%d (%s)" % (what, k, exp[0])
        if exp[0] == "http":
            _, url, status, nbytes = exp
            check("sql" not in rec["sub"], "%s: expected the HTTP call here (subsegments in the "
                  "order the handler made the calls)" % w, d)
            H.check_subsegment(rec, w, "GET", url, HOST, status=status, body_bytes=nbytes)
        else:
            _, op, query = exp
            check("http" not in rec["sub"], "%s: expected an SQL call here" % w, d)
            if op == "connect":
                D.check_sql(rec, w, INFO, HOST, "connect")
            else:
                D.check_sql(rec, w, INFO, HOST, op, query=query)


def check_clean(srv, what, expect_rc=0):
    rc = srv.stop()
    check(rc == expect_rc, "%s: the server exited with %s, expected %s" % (what, rc, expect_rc),
          srv.stderr()[-3000:])
    err = srv.stderr()
    check("libxray-auto" not in err, "%s: the library logged on the server's stderr" % what,
          err[-3000:])


def same_connection(reqs, what):
    locs = set(r.local for r in reqs)
    check(len(locs) == 1 and None not in locs, "%s: the requests must share one keep-alive "
          "connection (test sanity), client ends %s" % (what, sorted(map(str, locs))))


# ---------------------------------------------------------------------------------------------
# 1. python3 -m http.server
# ---------------------------------------------------------------------------------------------
def http_server(env=None, sampling="all"):
    e = {"PYTHONUNBUFFERED": "1"}
    e.update(env or {})
    return H.PreloadedServer(S, [PY, "-m", "http.server", "0", "--bind", HOST,
                                 "--directory", WWW], ready=HTTP_SERVER_READY, env=e,
                             sampling=sampling)


def t_http_server():
    srv = http_server()
    p = srv.port
    unsampled_root = new_root()
    reqs = [
        Req(p, "GET", "/small.txt", "it/get-small", want_status=200),
        Req(p, "GET", "/big.bin", "it/get-big", want_status=200),
        Req(p, "GET", "/nope.txt", "it/missing", want_status=404),
        Req(p, "GET", "/small.txt?token=qs-secret-81&x=1", "it/query", want_status=200),
        Req(p, "HEAD", "/small.txt", "it/head", want_status=200),
        Req(p, "GET", "/sub/", "it/listing", want_status=200),
        Req(p, "GET", "/noagent.txt", None, want_status=200),
        Req(p, "GET", "/small.txt", "it/xff", want_status=200)
        .forwarded("203.0.113.7, 10.0.0.1", "203.0.113.7"),
        Req(p, "GET", "/small.txt", "it/unsampled", want_status=200)
        .trace(unsampled_root, new_parent(), "0"),
        Req(p, "GET", "/small.txt", "it/traced", want_status=200)
        .trace(new_root(), new_parent(), "1"),
        Req(p, "GET", "/nope.txt", "it/traced-404", want_status=404)
        .trace(new_root(), new_parent(), "1"),
        Req(p, "GET", "/small.txt", "it/root-only", want_status=200).trace(new_root(), None, None),
        Req(p, "POST", "/small.txt", "it/post", body=b"x=1", want_status=501),
    ]
    mark = srv.mark()
    for rq in reqs:
        rq.send()
    check(reqs[1].resp_length == BIG_SIZE and len(reqs[1].resp_body) == BIG_SIZE,
          "GET /big.bin: %d bytes (test sanity)" % len(reqs[1].resp_body))
    docs = srv.wait_docs(len([r for r in reqs if r.sampled]), since=mark)
    verify(docs, reqs, "python3", "http.server")
    check(unsampled_root not in srv.collector.raw(), "http.server: the Sampled=0 trace id "
          "reached the collector", srv.collector.raw()[-3000:])
    check("qs-secret-81" not in srv.collector.raw(), "http.server: the query string reached the "
          "collector", srv.collector.raw()[-3000:])
    check_clean(srv, "http.server", expect_rc=-signal.SIGTERM)


def t_tracing_name():
    srv = http_server(env={"AWS_XRAY_TRACING_NAME": "myweb"})
    mark = srv.mark()
    reqs = [Req(srv.port, "GET", "/small.txt", "it/named", want_status=200).send(),
            Req(srv.port, "GET", "/nope.txt", "it/named-404", want_status=404).send()]
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "myweb", "AWS_XRAY_TRACING_NAME=myweb")
    check_clean(srv, "AWS_XRAY_TRACING_NAME", expect_rc=-signal.SIGTERM)


def t_default_sampling():
    """XRAY_AUTO_SAMPLING unset: the default rule (1/s reservoir + 5%) decides requests without
    a trace header; an incoming Sampled=1 is always sent."""
    srv = http_server(sampling=None)
    n = 20
    mark = srv.mark()
    plain = [Req(srv.port, "GET", "/small.txt", "it/default-%d" % i, want_status=200).send()
             for i in range(n)]
    docs = srv.wait_docs(1, since=mark, grace=1.0)
    got = [d for d in docs if str(get(d, "http", "request", "user_agent")).startswith("it/def")]
    check(1 <= len(got) < n and len(got) == len(docs), "default sampling: %d of %d requests "
          "without a header sampled; the default rule needs >= 1 and < %d" % (len(got), n, n),
          docs)
    sampled = [rq for rq in plain if any(get(d, "http", "request", "user_agent") == rq.ua
                                         for d in got)]
    verify(got, sampled, "python3", "default sampling (the sampled ones)")

    mark = srv.mark()
    forced = [Req(srv.port, "GET", "/small.txt", "it/forced-%d" % i, want_status=200)
              .trace(new_root(), new_parent(), "1").send() for i in range(6)]
    docs = srv.wait_docs(len(forced), since=mark)
    verify(docs, forced, "python3", "default sampling, incoming Sampled=1")
    check_clean(srv, "default sampling", expect_rc=-signal.SIGTERM)


# ---------------------------------------------------------------------------------------------
# 2. examples/net_app.py: urllib + psycopg2 inside the request
# ---------------------------------------------------------------------------------------------
def start_net_app():
    env = D.clean_env(INFO.client_env())  # PGPASSWORD, nothing else of PG*
    cmd = [PY, os.path.join(SRC, "examples", "net_app.py"), "--downstream", HTTPD.url("/ok"),
           "--conninfo", INFO.conninfo()]
    return H.PreloadedServer(S, cmd, env=env)


def work_req(port, ua):
    rq = Req(port, "GET", "/work", ua, want_status=200)
    rq.subs = [("http", HTTPD.url("/ok"), 200, 3), ("sql", "connect", None),
               ("sql", "query", SQL_QUERY)]
    return rq


def t_net_app_work():
    srv = start_net_app()
    p = srv.port
    mark, hmark = srv.mark(), HTTPD.mark()
    reqs = [work_req(p, "app/work").send(),
            work_req(p, "app/work-traced").trace(new_root(), new_parent(), "1").send()]
    for rq in reqs:
        check(re.match(rb"^work 200 \d+\n$", rq.resp_body or b"") is not None,
              "net_app: %s answered %r (test sanity)" % (rq.what(), rq.resp_body))
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "python3", "net_app /work")
    got = HTTPD.requests(hmark)
    check(len(got) == 2 and all(r["path"] == "/ok" for r in got),
          "net_app: httpd.py received %d requests, expected 2 GET /ok" % len(got), got)
    H.check_secret_absent(_raw(srv), [INFO["password"]], "net_app")

    # Sampled=0: neither the request nor the calls it makes send anything.
    mark = srv.mark()
    unsampled_root = new_root()
    un = work_req(p, "app/work-unsampled").trace(unsampled_root, new_parent(), "0").send()
    after = Req(p, "GET", "/hello", "app/after-unsampled", want_status=200).send()
    docs = srv.wait_docs(1, since=mark, grace=0.5)
    verify(docs, [un, after], "python3", "net_app Sampled=0")
    check(unsampled_root not in srv.collector.raw(), "net_app: the Sampled=0 trace id reached "
          "the collector", srv.collector.raw()[-3000:])
    check_clean(srv, "net_app")


def _raw(srv):
    r = H.Result()
    r.raw = srv.collector.raw()
    return r


def t_net_app_keepalive():
    srv = start_net_app()
    p = srv.port
    mark = srv.mark()
    conn = http.client.HTTPConnection(HOST, p, timeout=30)
    try:
        reqs = [Req(p, "GET", "/hello", "ka/hello", want_status=200).send(conn),
                work_req(p, "ka/work").send(conn),
                Req(p, "GET", "/fail?why=test", "ka/fail", want_status=500).send(conn),
                Req(p, "POST", "/hello", "ka/post", body=b"a=1&b=2",
                    headers={"Content-Type": "application/x-www-form-urlencoded",
                             "Expect": "100-continue"},  # http.server answers 100 first
                    want_status=200).send(conn),
                Req(p, "GET", "/elsewhere", "ka/404", want_status=404).send(conn)]
    finally:
        conn.close()
    same_connection(reqs, "net_app keep-alive")
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "python3", "net_app keep-alive")
    check_clean(srv, "net_app keep-alive")


def t_net_app_concurrent():
    """Four keep-alive clients at once: each /work segment holds exactly its own three calls,
    nothing leaks into the /hello and /fail segments served meanwhile."""
    srv = start_net_app()
    p = srv.port
    plans = []
    for c in range(4):
        plans.append([work_req(p, "cc%d/work-1" % c),
                      Req(p, "GET", "/hello", "cc%d/hello" % c, want_status=200),
                      work_req(p, "cc%d/work-2" % c),
                      Req(p, "GET", "/fail", "cc%d/fail" % c, want_status=500)])
    mark, hmark = srv.mark(), HTTPD.mark()
    run_clients(p, plans, "net_app concurrent")
    reqs = [rq for plan in plans for rq in plan]
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "python3", "net_app concurrent")
    check(len(HTTPD.requests(hmark)) == 8, "net_app concurrent: httpd.py received %d requests, "
          "expected 8" % len(HTTPD.requests(hmark)))
    check_clean(srv, "net_app concurrent")


def run_clients(port, plans, label):
    """One thread per plan, each sending its requests on one keep-alive connection; they start
    together.  Asserts each plan used a single connection."""
    errors = []
    barrier = threading.Barrier(len(plans))

    def client(plan):
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            barrier.wait(10)
            for rq in plan:
                rq.send(conn)
        except Exception as e:  # noqa: BLE001
            errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "%s: client errors: %s" % (label, errors))
    for plan in plans:
        same_connection(plan, label)


# ---------------------------------------------------------------------------------------------
# 3./4. examples/net_server.c: thread per connection, process per connection
# ---------------------------------------------------------------------------------------------
ROUTES = [  # path, status, downstream path (for /call)
    ("/hello", 200, None),
    ("/missing", 404, None),
    ("/boom", 500, None),
    ("/call", 200, "/ok"),
    ("/call?to=/notfound", 200, "/notfound"),
    ("/call?to=/error", 200, "/error"),
    ("/call?to=/throttle", 200, "/throttle"),
    ("/nothing/here", 404, None),
    ("/big", 200, None),
    ("/chunked", 200, None),
    ("/nocontent", 204, None),
    ("/notmodified", 304, None),
]
DOWN_BYTES = {"/ok": 3, "/notfound": 10, "/error": 15, "/throttle": 10}
DOWN_STATUS = {"/ok": 200, "/notfound": 404, "/error": 500, "/throttle": 429}


def start_net_server(fork=False, env=None, io="recv"):
    cmd = [os.path.join(S.build, "net_server"), "--downstream", "%s:%d" % (HOST, HTTPD.port),
           "--io", io]
    if fork:
        cmd.append("--fork")
    return H.PreloadedServer(S, cmd, env=env)


def server_req(port, path, status, down, ua, method="GET"):
    rq = Req(port, method, path, ua, want_status=status)
    if down:
        rq.subs = [("http", HTTPD.url(down), DOWN_STATUS[down], DOWN_BYTES[down])]
    return rq


def check_call_body(rq, label):
    """/call answers "downstream <status> <bytes>": what this very request's call got."""
    for kind, url, status, nbytes in [s for s in rq.subs if s[0] == "http"]:
        want = ("downstream %d %d\n" % (status, nbytes)).encode()
        check(rq.resp_body == want, "%s: %s answered %r, expected %r (test sanity)"
              % (label, rq.what(), rq.resp_body, want))


def concurrent_clients(fork, io):
    label = "net_server%s --io %s" % (" --fork" if fork else "", io)
    srv = start_net_server(fork, io=io)
    p = srv.port
    n_clients, per_client = 4, len(ROUTES)
    plans = []
    for c in range(n_clients):
        plan = []
        for j in range(per_client):
            path, status, down = ROUTES[(c + j) % len(ROUTES)]
            plan.append(server_req(p, path, status, down, "c%d/r%d" % (c, j)))
        plan.append(server_req(p, "/hello", 200, None, "c%d/head" % c, method="HEAD"))
        plan.append(server_req(p, "/call?to=/ok", 200, "/ok", "c%d/post" % c, method="POST"))
        plan[-1].body = b"x" * 300
        plans.append(plan)
    mark, hmark = srv.mark(), HTTPD.mark()
    run_clients(p, plans, label)
    reqs = [rq for plan in plans for rq in plan]
    for rq in reqs:
        check_call_body(rq, label)
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "net_server", label)
    n_calls = len([rq for rq in reqs if rq.subs])
    got = HTTPD.requests(hmark)
    check(len(got) == n_calls, "%s: httpd.py received %d requests, expected %d"
          % (label, len(got), n_calls), got)
    check_clean(srv, label)


def t_net_server_threads():
    concurrent_clients(fork=False, io="recv")


def t_net_server_threads_rw():
    concurrent_clients(fork=False, io="read")


def t_net_server_fork():
    concurrent_clients(fork=True, io="msg")


def t_net_server_raw():
    """Heads split across many sends (and the server's 7-byte recvs), pipelined requests on
    one connection, HTTP/1.0, an incoming trace header and X-Forwarded-For on /call, a request
    body, an unsampled request followed by a sampled one on the same connection, a response
    delimited by the close, bytes that are not HTTP/1.x (no document)."""
    srv = start_net_server()
    p = srv.port
    hostline = "Host: %s:%d\r\n" % (HOST, p)
    root, parent = new_root(), new_parent()

    def head(method, path, ua, extra="", version="1.1"):
        return ("%s %s HTTP/%s\r\n%sUser-Agent: %s\r\n%s\r\n"
                % (method, path, version, hostline, ua, extra)).encode()

    mark = srv.mark()
    # 1. one request, sent 3 bytes at a time
    r1 = server_req(p, "/call?to=/notfound", 200, "/notfound", "raw/split")
    data = head("GET", r1.path, r1.ua, "Connection: close\r\n")
    r1.t0 = time.time()
    (st, body), = raw_exchange(p, [data[i:i + 3] for i in range(0, len(data), 3)], 1)
    r1.t1 = time.time()
    r1.status, r1.resp_body = st, body

    # 2. three pipelined requests in one send; the last one closes
    pipe = [server_req(p, "/hello", 200, None, "raw/pipe-1"),
            server_req(p, "/call", 200, "/ok", "raw/pipe-2"),
            server_req(p, "/missing", 404, None, "raw/pipe-3")]
    data = b"".join(head("GET", rq.path, rq.ua, "Connection: close\r\n" if k == 2 else "")
                    for k, rq in enumerate(pipe))
    t0 = time.time()
    out = raw_exchange(p, [data], 3)
    t1 = time.time()
    for rq, (st, body) in zip(pipe, out):
        rq.t0, rq.t1, rq.status, rq.resp_body = t0, t1, st, body

    # 3. HTTP/1.0 without keep-alive, with a trace header and X-Forwarded-For
    r3 = server_req(p, "/call?to=/error", 200, "/error", "raw/http10")
    r3.trace(root, parent, "1").forwarded("198.51.100.23", "198.51.100.23")
    data = head("GET", r3.path, r3.ua, "X-Amzn-Trace-Id: %s\r\nX-Forwarded-For: %s\r\n"
                % (r3.headers["X-Amzn-Trace-Id"], r3.headers["X-Forwarded-For"]),
                version="1.0")
    r3.t0 = time.time()
    (st, body), = raw_exchange(p, [data[:5], data[5:40], data[40:]], 1)
    r3.t1 = time.time()
    r3.status, r3.resp_body = st, body

    # 4. a request with a body sent in pieces, then a second request on the same connection
    r4 = server_req(p, "/boom", 500, None, "raw/body")
    r5 = server_req(p, "/hello", 200, None, "raw/after-body")
    payload = b"0123456789" * 50
    d4 = head("PUT", r4.path, r4.ua, "Content-Length: %d\r\nContent-Type: text/plain\r\n"
              % len(payload)) + payload
    r4.method = "PUT"
    d5 = head("GET", r5.path, r5.ua, "Connection: close\r\n")
    t0 = time.time()
    out = raw_exchange(p, [d4[:60], d4[60:-100], d4[-100:], d5], 2)
    t1 = time.time()
    for rq, (st, body) in zip([r4, r5], out):
        rq.t0, rq.t1, rq.status, rq.resp_body = t0, t1, st, body

    # 5. an unsampled /call (nothing at all is sent for it, its downstream call included),
    #    then a sampled /call on the same connection
    r6 = server_req(p, "/call?to=/notfound", 200, "/notfound", "raw/unsampled")
    r6.trace(new_root(), new_parent(), "0")
    r7 = server_req(p, "/call", 200, "/ok", "raw/after-unsampled")
    d6 = head("GET", r6.path, r6.ua, "X-Amzn-Trace-Id: %s\r\n" % r6.headers["X-Amzn-Trace-Id"])
    d7 = head("GET", r7.path, r7.ua, "Connection: close\r\n")
    t0 = time.time()
    out = raw_exchange(p, [d6, d7], 2)
    t1 = time.time()
    for rq, (st, body) in zip([r6, r7], out):
        rq.t0, rq.t1, rq.status, rq.resp_body = t0, t1, st, body

    # 6. a response delimited by the server's close (no Content-Length)
    r8 = server_req(p, "/eof", 200, None, "raw/eof")
    r8.t0 = time.time()
    (st, body), = raw_exchange(p, [head("GET", r8.path, r8.ua)], 1)
    r8.t1 = time.time()
    r8.status, r8.resp_body = st, body
    check(body == b"until the end\n", "GET /eof: body %r (test sanity)" % body)

    # 7. bytes that are not HTTP/1.x (a TLS ClientHello's start, HTTP/2's preface): the server
    #    answers 400 and closes; nothing may be recorded for them
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
                 b"PRI * HTTP/2.0\r\n\r\n"):  # (the preface's "SM" part would be unread)
        (st, _), = raw_exchange(p, [junk], 1)
        check(st == 400, "junk %r: the server answered %s, expected 400 (test sanity)"
              % (junk[:16], st))

    reqs = [r1] + pipe + [r3, r4, r5, r6, r7, r8]
    for rq in reqs:
        check(rq.status == rq.want_status, "%s: status %s, expected %s (test sanity)"
              % (rq.what(), rq.status, rq.want_status))
        check_call_body(rq, "net_server raw")
    docs = srv.wait_docs(len([rq for rq in reqs if rq.sampled]), since=mark)
    verify(docs, reqs, "net_server", "net_server raw")
    check(r6.root not in srv.collector.raw(), "net_server raw: the Sampled=0 trace id reached "
          "the collector", srv.collector.raw()[-3000:])
    check_clean(srv, "net_server raw")


def t_net_server_fork_name():
    """--fork with AWS_XRAY_TRACING_NAME and one connection per request."""
    srv = start_net_server(fork=True, env={"AWS_XRAY_TRACING_NAME": "forked-svc"})
    p = srv.port
    mark = srv.mark()
    reqs = [server_req(p, path, status, down, "fk/%d" % k).send()
            for k, (path, status, down) in enumerate(ROUTES)]
    for rq in reqs:
        check_call_body(rq, "net_server --fork (named)")
    docs = srv.wait_docs(len(reqs), since=mark)
    verify(docs, reqs, "forked-svc", "net_server --fork (named)")
    check_clean(srv, "net_server --fork (named)")


# ---------------------------------------------------------------------------------------------
# an event-loop server: several requests open at once on one thread
# ---------------------------------------------------------------------------------------------
AIO_SERVER = r'''
import asyncio, sys, urllib.request
DOWN = sys.argv[1]

async def handle(reader, writer, gate):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b"\r\n", 1)[0].split()[1].decode()
            if path == "/wait":
                print("WAITING", flush=True)
                await gate.wait()   # open until /release arrives on another connection
            elif path == "/release":
                with urllib.request.urlopen(DOWN) as r:  # blocking, with /wait still open
                    r.read()
                gate.set()
            body = ("%s done\n" % path).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()

async def main():
    gate = asyncio.Event()
    srv = await asyncio.start_server(lambda r, w: handle(r, w, gate), "127.0.0.1", 0)
    print("PORT %d" % srv.sockets[0].getsockname()[1], flush=True)
    await srv.serve_forever()

asyncio.run(main())
'''


def t_event_loop():
    """asyncio (one thread): /wait stays open while /release, on another connection, makes a
    blocking urllib call.  Each request gets its segment; the call, made while two requests
    were open on the thread, belongs to neither: it is a call-mode segment of its own."""
    script = S.path("aio_server.py")
    with open(script, "w") as f:
        f.write(AIO_SERVER)
    srv = H.PreloadedServer(S, [PY, script, HTTPD.url("/ok")])
    p = srv.port
    mark, hmark = srv.mark(), HTTPD.mark()
    w = Req(p, "GET", "/wait", "loop/wait", want_status=200)
    errors = []

    def waiter():
        try:
            w.send()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + 15
    while "WAITING" not in srv.stdout() and time.monotonic() < deadline and t.is_alive():
        time.sleep(0.02)
    check("WAITING" in srv.stdout(), "event loop: the server never read /wait (test sanity)",
          srv.stderr()[-2000:])
    rel = Req(p, "GET", "/release", "loop/release", want_status=200).send()
    t.join(30)
    check(not errors and w.status == 200, "event loop: /wait failed: %s (test sanity)" % errors)
    docs = srv.wait_docs(3, since=mark)
    calls = [d for d in docs if get(d, "http", "request", "user_agent") is None]
    verify([d for d in docs if d not in calls], [w, rel], "python3", "event loop")
    check(len(calls) == 1, "event loop: the downstream call must be exactly 1 document of its "
          "own, got %d" % len(calls), docs)
    if len(calls) == 1:
        d = calls[0]
        H.check_segment(d, "python3", rel.t0, rel.t1, "event loop: the call's segment", nsubs=1)
        recs = H.flatten([d])
        if len(recs) == 1:
            H.check_subsegment(recs[0], "event loop: the call", "GET", HTTPD.url("/ok"), HOST,
                               status=200, body_bytes=3)
    check(len(HTTPD.requests(hmark)) == 1, "event loop: httpd.py received %d requests, "
          "expected 1" % len(HTTPD.requests(hmark)))
    check_clean(srv, "event loop", expect_rc=-signal.SIGTERM)


# ---------------------------------------------------------------------------------------------
def setup_www():
    os.makedirs(os.path.join(WWW, "sub"))
    with open(os.path.join(WWW, "small.txt"), "wb") as f:
        f.write(SMALL)
    with open(os.path.join(WWW, "noagent.txt"), "wb") as f:
        f.write(b"no user agent\n")
    with open(os.path.join(WWW, "big.bin"), "wb") as f:
        f.write((b"0123456789abcdef" * (BIG_SIZE // 16 + 1))[:BIG_SIZE])
    for name in ("a.txt", "b.txt"):
        with open(os.path.join(WWW, "sub", name), "wb") as f:
            f.write(b"x\n")


def pg_server():
    """PostgreSQL + psycopg2 for net_app, or None (reason printed)."""
    p = subprocess.run([PY, "-c", "import psycopg2"], capture_output=True)
    if p.returncode != 0:
        print("SKIP (net_app scenarios): %s cannot import psycopg2" % PY)
        return None
    try:
        info = dbservers.ensure(S.build, "pg")
    except dbservers.DbServerError as e:
        check(False, "PostgreSQL did not start: %s" % e)
        return None
    if info is None:
        print("SKIP (net_app scenarios): PostgreSQL is not installed (reason above)")
    return info


def main():
    global S, WWW, HTTPD, INFO
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "net_server")
    S.require_build("net_server")
    WWW = S.path("www")
    setup_www()
    HTTPD = S.start_httpd()
    scenarios = [t_http_server, t_tracing_name, t_default_sampling]
    INFO = pg_server()
    if INFO is not None:
        scenarios += [t_net_app_work, t_net_app_keepalive, t_net_app_concurrent]
    scenarios += [t_net_server_threads, t_net_server_threads_rw, t_net_server_raw,
                  t_net_server_fork, t_net_server_fork_name, t_event_loop]
    for fn in scenarios:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
