#!/usr/bin/python3
"""Integration test: W3C trace context (XRAY_AUTO_PROPAGATE) and AWS_XRAY_NOOP_ID (issue 8).

Outgoing, with <build>/curl_client (libcurl easy and multi) under the preload against httpd.py,
which records every header it received:
  - XRAY_AUTO_PROPAGATE=xray,w3c: each transfer carries X-Amzn-Trace-Id and traceparent, and
    they agree with each other and with the documents: trace-id = the Root without its dashes
    (= the document's trace_id), parent-id = Parent = the transfer's subsegment id, flags 01;
  - XRAY_AUTO_PROPAGATE=w3c: traceparent alone, the same consistency with the documents;
  - the default, and a malformed value (one log line): X-Amzn-Trace-Id alone, as before;
  - a program that sets traceparent or X-Amzn-Trace-Id itself: its header arrives once,
    unchanged, and we add neither;
  - unsampled contexts: an inherited Sampled=0 passes Root=<inherited>;
    Parent=0000000000000000;Sampled=0 (AWS_XRAY_NOOP_ID default) and a traceparent with the
    same trace, a random non-zero parent-id and flags 00; with AWS_XRAY_NOOP_ID=false a random
    Parent, the same in both headers; a trace started here unsampled (a rules file sampling
    nothing) passes the no-op Root 1-00000000-000000000000000000000000 and no traceparent by
    default, a real Root (in both headers) with w3c or AWS_XRAY_NOOP_ID=false; no documents.
Inbound, with <build>/net_server (plain sockets) under the preload:
  - traceparent alone (w3c on): the segment joins its trace, parent_id = its parent-id;
    flags 00: no document; with X-Amzn-Trace-Id too: X-Amzn-Trace-Id wins; a malformed
    traceparent, or two of them: a new trace without parent_id; without w3c: ignored.

Usage: test_w3c.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import http.client
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "curl_client"
HOST = "127.0.0.1"
NOOP_ROOT = "1-00000000-000000000000000000000000"
NOOP_ID = "0000000000000000"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
OURS = re.compile(r"^libxray-auto\[\d+\]: ", re.M)


def new_root():
    return "1-%08x-%024x" % (int(time.time()), random.getrandbits(96))


def new_parent():
    return "%016x" % (random.getrandbits(64) | 1)


def w3c_tid(root):
    """X-Ray Root -> W3C trace-id (OpenTelemetry's AWS X-Ray propagator mapping)."""
    return root[2:10] + root[11:]


def client(mode, *args):
    return [CLIENT] + (["--multi"] if mode == "multi" else []) + list(args)


def tp_of(req, what):
    """The one traceparent a request carried, split, or None (a failed check)."""
    v = req["headers"].get("traceparent")
    if not check(v is not None and TP_RE.match(v), "%s: traceparent %r, expected exactly one "
                 "00-<32 hex>-<16 hex>-<2 hex>" % (what, v), req):
        return None
    tid, pid, flags = TP_RE.match(v).groups()
    check(tid != "0" * 32 and pid != NOOP_ID, "%s: W3C forbids all-zero ids: %r" % (what, v), req)
    return tid, pid, flags


def check_sampled_pairs(res, what, with_xray):
    """Every transfer's traceparent names its subsegment and trace; X-Amzn-Trace-Id (when
    expected) says the same."""
    by_id = H.records_by_id(res.records)
    reqs = H.transfers(res.requests)
    check(len(reqs) >= 1 and len(res.docs) == len(reqs), "%s: %d documents for %d transfers"
          % (what, len(res.docs), len(reqs)), res.docs)
    seen = set()
    for i, req in enumerate(reqs):
        w = "%s: request #%d %s" % (what, i, req["path"])
        tp = tp_of(req, w)
        if tp is None:
            continue
        tid, pid, flags = tp
        check(flags == "01", "%s: flags %s, expected 01 (sampled)" % (w, flags), req)
        recs = by_id.get(pid, [])
        if not check(len(recs) == 1, "%s: parent-id %s names %d subsegments, expected 1"
                     % (w, pid, len(recs)), res.docs):
            continue
        check(pid not in seen, "%s: parent-id %s used twice" % (w, pid))
        seen.add(pid)
        doc_root = recs[0]["doc"].get("trace_id", "")
        check(w3c_tid(doc_root) == tid, "%s: trace-id %s is not the document's trace_id %s "
              "mapped" % (w, tid, doc_root), recs[0]["doc"])
        H.check_subsegment(recs[0], w, req["method"], SRV.base + H.url_without_query(req["path"]),
                           HOST, status=req["status"], body_bytes=req["body_bytes"])
        if with_xray:
            check(req["trace_header_count"] == 1, "%s: %d X-Amzn-Trace-Id headers, expected 1"
                  % (w, req["trace_header_count"]), req)
            h = H.parse_trace_header((req["trace_headers"] or [""])[0])
            check(h.get("Root") == doc_root and h.get("Parent") == pid and h.get("Sampled") == "1",
                  "%s: X-Amzn-Trace-Id %r disagrees with traceparent %r"
                  % (w, req["trace_headers"], req["headers"].get("traceparent")), req)
        else:
            check(req["trace_header_count"] == 0, "%s: X-Amzn-Trace-Id sent with "
                  "XRAY_AUTO_PROPAGATE=w3c" % w, req)


# ---------------------------------------------------------------------------------------------
# outgoing (libcurl)
# ---------------------------------------------------------------------------------------------
def t_xray_and_w3c():
    for mode in ("easy", "multi"):
        what = "%s xray,w3c" % mode
        urls = [SRV.url("/ok"), SRV.url("/notfound"), SRV.url("/chunked")]
        res, base = H.run_compare(S, client(mode, *urls), what, httpd=SRV,
                                  normalize=H.sorted_lines, expect_docs=len(urls),
                                  env={"XRAY_AUTO_PROPAGATE": "xray,w3c"})
        check(res.returncode == 0, "%s: exit %s" % (what, res.returncode), res.describe())
        H.verify_transfers(res, PROGRAM, SRV.base, label=what)
        check_sampled_pairs(res, what, with_xray=True)
        # nothing but the two trace headers differs from the run without the preload
        strip = ("x-amzn-trace-id", "traceparent")
        got = sorted(sorted((k, v) for k, v in r["headers"].items() if k not in strip)
                     for r in res.requests)
        want = sorted(sorted((k, v) for k, v in r["headers"].items() if k not in strip)
                      for r in base.requests)
        check(got == want, what + ": the program's other headers must arrive unchanged",
              [got, want])


def t_w3c_only():
    for mode in ("easy", "multi"):
        what = "%s w3c only" % mode
        urls = [SRV.url("/ok"), SRV.url("/error")]
        res = S.run(client(mode, *urls), httpd=SRV, expect_docs=len(urls),
                    env={"XRAY_AUTO_PROPAGATE": "w3c"})
        check(res.returncode == 0, "%s: exit %s" % (what, res.returncode), res.describe())
        check_sampled_pairs(res, what, with_xray=False)


def t_default_and_malformed():
    for env, logs in (({}, 0), ({"XRAY_AUTO_PROPAGATE": "b3,w3c"}, 1),
                      ({"XRAY_AUTO_PROPAGATE": "xray"}, 0)):
        what = "XRAY_AUTO_PROPAGATE=%s" % env.get("XRAY_AUTO_PROPAGATE", "(unset)")
        urls = [SRV.url("/ok"), SRV.url("/big")]
        res = S.run(client("easy", *urls), httpd=SRV, expect_docs=len(urls), env=env)
        check(res.returncode == 0, "%s: exit %s" % (what, res.returncode), res.describe())
        H.verify_transfers(res, PROGRAM, SRV.base, label=what)
        for r in res.requests:
            check("traceparent" not in r["headers"], what + ": traceparent must not be sent", r)
        lines = OURS.findall(res.stderr)
        check(len(lines) == logs and (not logs or "XRAY_AUTO_PROPAGATE" in res.stderr),
              "%s: %d log lines, expected %d naming the variable" % (what, len(lines), logs),
              res.stderr)


def t_program_headers():
    own_tp = "00-%s-%s-01" % ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    for name, value in (("traceparent", own_tp), ("X-Amzn-Trace-Id", H.PROGRAM_TRACE_HEADER)):
        for prop in ("xray,w3c", "w3c"):
            what = "program-set %s, XRAY_AUTO_PROPAGATE=%s" % (name, prop)
            res = S.run(client("easy", "--header", "%s: %s" % (name, value), SRV.url("/ok"),
                               SRV.url("/chunked")),
                        httpd=SRV, expect_docs=2, env={"XRAY_AUTO_PROPAGATE": prop})
            check(res.returncode == 0, "%s: exit %s (3 = the program's list was modified)"
                  % (what, res.returncode), res.describe())
            check(len(res.requests) == 2, what + ": expected 2 requests", res.requests)
            for r in res.requests:
                check(r["headers"].get(name.lower()) == value,
                      what + ": the program's header must arrive once, unchanged", r)
                other = "x-amzn-trace-id" if name == "traceparent" else "traceparent"
                check(other not in r["headers"], what + ": %s must not be added" % other, r)
            check(len(H.segments(res.docs)) == 2, what + ": the transfers are still traced",
                  res.docs)


def rules_never():
    path = S.path("never.json")
    with open(path, "w") as f:
        f.write('{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0}}')
    return path


def t_unsampled():
    root, parent = new_root(), new_parent()
    inherited = {"_X_AMZN_TRACE_ID": "Root=%s;Parent=%s;Sampled=0" % (root, parent)}
    never = {"XRAY_AUTO_SAMPLING": "default", "XRAY_AUTO_SAMPLING_RULES": rules_never()}
    cases = [
        # (label, env, want Root (None: a real new one), no-op Parent?, traceparent expected)
        ("inherited Sampled=0", dict(inherited, XRAY_AUTO_PROPAGATE="xray,w3c"), root, True,
         True),
        ("inherited Sampled=0, xray only", inherited, root, True, False),
        ("inherited Sampled=0, NOOP_ID=false",
         dict(inherited, XRAY_AUTO_PROPAGATE="xray,w3c", AWS_XRAY_NOOP_ID="false"), root, False,
         True),
        ("new unsampled trace", never, NOOP_ROOT, True, False),
        ("new unsampled trace, w3c", dict(never, XRAY_AUTO_PROPAGATE="xray,w3c"), None, True,
         True),
        ("new unsampled trace, NOOP_ID=false", dict(never, AWS_XRAY_NOOP_ID="FALSE"), None,
         False, False),
    ]
    for label, env, want_root, noop_parent, want_tp in cases:
        for mode in ("easy", "multi"):
            what = "%s %s" % (mode, label)
            res = S.run(client(mode, SRV.url("/ok"), SRV.url("/notfound")), httpd=SRV,
                        expect_docs=0, env=env, sampling=None if "XRAY_AUTO_SAMPLING" in env
                        else "all")
            check(res.returncode == 0, "%s: exit %s" % (what, res.returncode), res.describe())
            check(len(res.docs) == 0, what + ": unsampled: no document expected", res.docs)
            check(len(res.requests) == 2, what + ": expected 2 requests", res.requests)
            parents = set()
            for r in res.requests:
                v = (r["trace_headers"] or [""])[0]
                m = re.match(r"^Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});"
                             r"Sampled=0$", v)
                if not check(r["trace_header_count"] == 1 and m, "%s: X-Amzn-Trace-Id %r, "
                             "expected Root=..;Parent=<16 hex>;Sampled=0" % (what, v), r):
                    continue
                got_root, got_parent = m.groups()
                if want_root is not None:
                    check(got_root == want_root, "%s: Root %s, expected %s"
                          % (what, got_root, want_root), r)
                else:
                    check(got_root != NOOP_ROOT and abs(int(got_root[2:10], 16) - time.time())
                          < 600, "%s: Root %s, expected a real new trace id" % (what, got_root),
                          r)
                if noop_parent:
                    check(got_parent == NOOP_ID, "%s: Parent %s, expected the no-op id"
                          % (what, got_parent), r)
                else:
                    check(got_parent not in (NOOP_ID, parent) and got_parent not in parents,
                          "%s: Parent %s, expected a fresh random id" % (what, got_parent), r)
                parents.add(got_parent)
                if not want_tp:
                    check("traceparent" not in r["headers"], what + ": no traceparent expected",
                          r)
                    continue
                tp = tp_of(r, what)
                if tp is None:
                    continue
                tid, pid, flags = tp
                check(flags == "00", "%s: flags %s, expected 00" % (what, flags), r)
                check(tid == w3c_tid(got_root), "%s: trace-id %s is not Root %s mapped"
                      % (what, tid, got_root), r)
                if not noop_parent:
                    check(pid == got_parent, "%s: parent-id %s differs from Parent %s"
                          % (what, pid, got_parent), r)


# ---------------------------------------------------------------------------------------------
# inbound (net_server, plain sockets)
# ---------------------------------------------------------------------------------------------
def send(port, path, ua, headers):
    h = dict(headers)
    h["User-Agent"] = ua
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        conn.request("GET", path, headers=h)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def start_net_server(env):
    return H.PreloadedServer(S, [os.path.join(S.build, "net_server")], env=env)


def seg_of(docs, ua, what):
    segs = [d for d in H.segments(docs) if H.get(d, "http", "request", "user_agent") == ua]
    if check(len(segs) == 1, "%s: %d segments for the request, expected 1" % (what, len(segs)),
             docs):
        return segs[0]
    return None


def t_inbound():
    root, parent = new_root(), new_parent()
    tp = "00-%s-%s-01" % (w3c_tid(root), parent)
    xr_root, xr_parent = new_root(), new_parent()
    srv = start_net_server({"XRAY_AUTO_PROPAGATE": "xray,w3c"})
    plain = start_net_server({})
    try:
        # traceparent alone: joined
        cases = [
            ("traceparent alone", srv, {"traceparent": tp}, root, parent),
            ("traceparent, future version", srv,
             {"traceparent": "cc-%s-%s-01-more" % (w3c_tid(root), parent)}, root, parent),
            ("both headers", srv, {"traceparent": tp, "X-Amzn-Trace-Id":
                                   "Root=%s;Parent=%s;Sampled=1" % (xr_root, xr_parent)},
             xr_root, xr_parent),
            ("malformed traceparent (upper case)", srv,
             {"traceparent": "00-%s-%s-01" % (w3c_tid(root).upper(), parent)}, None, None),
            ("malformed traceparent (zero parent-id)", srv,
             {"traceparent": "00-%s-%s-01" % (w3c_tid(root), NOOP_ID)}, None, None),
            ("malformed traceparent (version 00 with more)", srv,
             {"traceparent": tp + "-x"}, None, None),
            ("traceparent without w3c", plain, {"traceparent": tp}, None, None),
        ]
        for i, (what, s, headers, want_root, want_parent) in enumerate(cases):
            ua = "w3c-inbound-%d-%d" % (os.getpid(), i)
            mark = s.mark()
            check(send(s.port, "/hello", ua, headers) == 200, what + ": status (test sanity)")
            d = seg_of(s.wait_docs(1, since=mark), ua, what)
            if d is None:
                continue
            if want_root:
                check(d.get("trace_id") == want_root and d.get("parent_id") == want_parent,
                      "%s: trace_id %s parent_id %s, expected %s %s"
                      % (what, d.get("trace_id"), d.get("parent_id"), want_root, want_parent), d)
            else:
                check(d.get("trace_id") not in (root, NOOP_ROOT) and "parent_id" not in d,
                      "%s: expected a new trace without parent_id" % what, d)

        # two traceparent headers: invalid (W3C), a new trace
        what, ua = "two traceparent headers", "w3c-inbound-dup-%d" % os.getpid()
        mark = srv.mark()
        raw = ("GET /hello HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: %s\r\ntraceparent: %s\r\n"
               "traceparent: %s\r\nConnection: close\r\n\r\n" % (HOST, srv.port, ua, tp, tp))
        import socket
        with socket.create_connection((HOST, srv.port), timeout=30) as c:
            c.sendall(raw.encode())
            while c.recv(65536):
                pass
        d = seg_of(srv.wait_docs(1, since=mark), ua, what)
        if d is not None:
            check(d.get("trace_id") != root and "parent_id" not in d,
                  what + ": expected a new trace without parent_id", d)

        # flags 00: joined unsampled, nothing sent
        what, ua = "traceparent flags 00", "w3c-inbound-unsampled-%d" % os.getpid()
        mark = srv.mark()
        check(send(srv.port, "/hello", ua, {"traceparent": "00-%s-%s-00"
                                            % (w3c_tid(root), parent)}) == 200,
              what + ": status (test sanity)")
        time.sleep(1.0)  # a document would be sent as the response ends
        docs = srv.docs(mark)
        check(not [d for d in docs if H.get(d, "http", "request", "user_agent") == ua],
              what + ": no document expected", docs)
    finally:
        for s in (srv, plain):
            rc = s.stop()
            check(rc == 0, "net_server exit %s" % rc, s.stderr()[-2000:])
            check(not OURS.search(s.stderr()), "net_server: library log lines", s.stderr())


def main():
    global S, SRV, CLIENT
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "w3c")
    S.require_build("curl_client", "net_server")
    CLIENT = os.path.join(S.build, "curl_client")
    SRV = S.start_httpd()
    for fn in [t_xray_and_w3c, t_w3c_only, t_default_and_malformed, t_program_headers,
               t_unsampled, t_inbound]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
