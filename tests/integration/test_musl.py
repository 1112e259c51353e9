#!/usr/bin/python3
"""Integration test: libxray-auto-musl.so in a musl-linked program.

<build>/musl_client (tests/integration/musl_client.c, built with musl-gcc by cmake/musl.cmake:
getaddrinfo, connect, one send or write per request, 7-byte recv or read calls) runs under
LD_PRELOAD=<build>/libxray-auto-musl.so against httpd.py:
  - send/recv and write/read: each request gives one segment named musl_client holding one
    `remote` subsegment with the URL, method, status, content length and status flags;
  - a host name resolved through getaddrinfo names its subsegment (`localhost`);
  - a refused connect gives a fault subsegment with ECONNREFUSED and musl's message text;
  - XRAY_AUTO_SEGMENT=process: independent subsegments, the process segment sent in progress
    and complete at exit (the destructor runs under musl's loader too);
  - XRAY_AUTO_HOOKS without `net`: nothing is sent;
  - the program's output and exit status are the same with and without the preload, and
    nothing is injected into its requests;
  - why a musl build exists: the glibc build preloaded into the same program stops it before
    main (musl's loader cannot relocate it), so the musl artifact is not interchangeable.
No libcurl scenario: Debian has no musl-built libcurl (nor libpq, libmariadb) to load.

Usage: test_musl.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: the musl library was not built
because musl-gcc or cJSON's source was missing at configure time (reason in
<build>/libxray-auto-musl.skip), or no musl loader is installed to run the program)
"""

import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "musl_client"
MUSL_LIB = "libxray-auto-musl.so"
PATHS = ["/ok", "/notfound", "/throttle", "/error", "/big", "/chunked", "/ok?token=secret"]


def check_http_sub(rec, req, host, base, what):
    """One `remote` subsegment describing the httpd log record req."""
    sub, doc = rec["sub"], rec["doc"]
    check(isinstance(sub.get("id"), str) and H.HEX16.match(sub["id"]) is not None,
          "%s: subsegment id must be 16 lowercase hex" % what, doc)
    check(sub.get("name") == host, "%s: name %r, expected %r" % (what, sub.get("name"), host),
          doc)
    check(sub.get("namespace") == "remote", "%s: namespace must be \"remote\"" % what, doc)
    st, et = sub.get("start_time"), sub.get("end_time")
    check(H._num(st) and H._num(et) and st <= et, "%s: needs start_time <= end_time" % what,
          doc)
    m = H.get(sub, "http", "request", "method")
    check(m == req["method"], "%s: method %r, expected %r" % (what, m, req["method"]), doc)
    url = base + H.url_without_query(req["path"])
    u = H.get(sub, "http", "request", "url")
    check(u == url, "%s: url %r, expected %r" % (what, u, url), doc)
    s = H.get(sub, "http", "response", "status")
    check(s == req["status"], "%s: status %r, expected %r" % (what, s, req["status"]), doc)
    H.status_flags_ok(sub, req["status"], what)
    cl = H.get(sub, "http", "response", "content_length")
    check(cl == req["body_bytes"], "%s: content_length %r, expected %r"
          % (what, cl, req["body_bytes"]), doc)
    check("cause" not in sub, "%s: a completed request must not carry a cause" % what, doc)


def run_both(host, paths, what, ndocs, opts=(), env=None):
    """musl_client OPTS HOST PORT PATHS without, then with the preload: same exit status and
    stdout (harness.run_compare)."""
    cmd = [CLIENT] + list(opts) + [host, str(SRV.port)] + list(paths)
    res, base = H.run_compare(S, cmd, what, httpd=SRV, expect_docs=ndocs, env=env)
    check(base.returncode == 0 and len(base.stdout.splitlines()) == len(paths),
          "%s: the client failed without the preload (sanity)" % what, base.describe())
    return res, base


def verify_requests(res, what, host, base, mode="call"):
    """The documents describe exactly the requests httpd logged, one subsegment each, and no
    request carries a trace header (the sockets layer only observes)."""
    reqs = res.requests
    for r in reqs:
        check(r["trace_header_count"] == 0, "%s: trace header injected into %s"
              % (what, r["path"]), r)
    recs = sorted(res.records, key=lambda r: r["sub"].get("start_time") or 0)
    if not check(len(recs) == len(reqs), "%s: %d subsegments for %d requests"
                 % (what, len(recs), len(reqs)), res.docs):
        return
    for i, (rec, req) in enumerate(zip(recs, reqs)):
        check_http_sub(rec, req, host, base, "%s: request #%d %s" % (what, i, req["path"]))
    if mode == "call":
        segs = H.segments(res.docs)
        check(len(segs) == len(res.docs) == len(reqs),
              "%s: %d documents, expected one segment per request (%d)"
              % (what, len(res.docs), len(reqs)), res.docs)
        for d in segs:
            H.check_segment(d, PROGRAM, res.t0, res.t1, "%s: segment %s" % (what, d.get("id")))
        for rec in recs:
            check(not rec["independent"] and rec["parent"] is rec["doc"],
                  "%s: the subsegment must sit directly in its segment" % what, rec["doc"])
    else:
        H.verify_process_docs(res, PROGRAM, [(None, r) for r in recs], what + ": ")


# ---------------------------------------------------------------------------------------------
def t_send_recv():
    what = "send/recv"
    res, _ = run_both("127.0.0.1", PATHS, what, len(PATHS))
    got = [(r["method"], r["path"]) for r in res.requests]
    check(got == [("GET", p) for p in PATHS], "%s: httpd received %s" % (what, got),
          res.describe())
    verify_requests(res, what, "127.0.0.1", SRV.base)
    H.check_secret_absent(res, ["secret"], what)


def t_write_read_localhost():
    what = "write/read, localhost"
    paths = ["/ok", "/notfound", "/big"]
    res, _ = run_both("localhost", paths, what, len(paths), opts=("--io", "write", "-4"))
    verify_requests(res, what, "localhost", "http://localhost:%d" % SRV.port)


def t_refused():
    what = "refused"
    port = H.free_port()
    res, base = H.run_compare(S, [CLIENT, "127.0.0.1", str(port), "/ok"], what, expect_docs=1)
    check(base.returncode == 1 and "Connection refused" in base.stdout,
          "%s: the client must report the refused connect (sanity)" % what, base.describe())
    recs = res.records
    if not check(len(res.docs) == 1 and len(recs) == 1, "%s: expected 1 document with 1 "
                 "subsegment" % what, res.docs):
        return
    sub, doc = recs[0]["sub"], recs[0]["doc"]
    H.check_segment(doc, PROGRAM, res.t0, res.t1, what)
    check(sub.get("name") == "127.0.0.1" and "http" not in sub,
          "%s: a failed connect: name 127.0.0.1, no http block" % what, doc)
    check(sub.get("fault") is True, "%s: a failed connect needs fault=true" % what, doc)
    exc = H.get(sub, "cause", "exceptions", 0) or {}
    check(exc.get("type") == "ECONNREFUSED", "%s: exception type %r" % (what, exc.get("type")),
          doc)
    msg = "connect to 127.0.0.1:%d: Connection refused" % port
    check(exc.get("message") == msg, "%s: exception message %r, expected %r"
          % (what, exc.get("message"), msg), doc)


def t_process_mode():
    what = "process mode"
    paths = ["/ok", "/error", "/chunked"]
    res, _ = run_both("127.0.0.1", paths, what, len(paths) + 2,
                      env={"XRAY_AUTO_SEGMENT": "process"})
    verify_requests(res, what, "127.0.0.1", SRV.base, mode="process")


def t_net_hooks_off():
    what = "XRAY_AUTO_HOOKS=curl,pq,mysql"
    res, base = run_both("127.0.0.1", ["/ok", "/error"], what, 0,
                         env={"XRAY_AUTO_HOOKS": "curl,pq,mysql"})
    H.verify_no_trace(res, what, base)


def t_glibc_build_refused():
    what = "glibc build in a musl program"
    glibc_lib = os.path.join(S.build, "libxray-auto.so")
    mark = SRV.mark()
    res = S.run([CLIENT, "127.0.0.1", str(SRV.port), "/ok"], env={"LD_PRELOAD": glibc_lib},
                expect_docs=0, grace=0.1)
    check(res.returncode != 0 and res.stdout == "" and "libxray-auto.so" in res.stderr,
          "%s: expected the musl loader to stop the program before main, naming the library "
          "(if this now works, the reasons for a separate musl build have changed)" % what,
          res.describe())
    check(SRV.requests(mark) == [], "%s: no request can have been made" % what, res.describe())


def main():
    global S, SRV, CLIENT
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    build = os.path.abspath(sys.argv[1])
    skip_file = os.path.join(build, "libxray-auto-musl.skip")
    if os.path.exists(skip_file):
        with open(skip_file, encoding="utf-8", errors="replace") as f:
            H.skip("%s was not built: %s" % (MUSL_LIB, f.read().strip()))
    if not glob.glob("/lib/ld-musl-*.so.1"):
        H.skip("no musl dynamic loader (/lib/ld-musl-*.so.1) to run %s (Debian: musl)" % PROGRAM)
    S = H.Session(build, "musl")
    S.require_build(MUSL_LIB, PROGRAM)
    S.lib = os.path.join(S.build, MUSL_LIB)
    CLIENT = os.path.join(S.build, PROGRAM)
    SRV = S.start_httpd()
    for fn in [t_send_recv, t_write_read_localhost, t_refused, t_process_mode, t_net_hooks_off,
               t_glibc_build_refused]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
