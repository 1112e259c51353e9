#!/usr/bin/python3
"""Integration test: signal handlers that write on sockets, and vfork children that read,
write and close inherited traced sockets, under the preload.

<build>/signals (tests/integration/signals.c) makes plain-socket HTTP/1.1 requests to httpd.py
from 4 worker threads (two on one keep-alive connection each, two reconnecting every 5
requests) and, in the handler modes, from the main thread too:
  - handlers: SIGALRM from setitimer every 200 us (any thread) and SIGUSR1 sent to the workers
    in turn at the same rate, SA_RESTART set; the handler writes to a pipe, a socketpair and a
    UDP socket (untraced), "\\1tick\\n" to one of 16 TCP connections to a sink (traced until
    their first bytes, which a handler writes, show they are not HTTP), and does a zero-length
    write, a zero-length send and a MSG_PEEK recv on the HTTP connection the interrupted
    thread is using and on every keep-alive one, mid-request;
  - handlers-norestart: the same without SA_RESTART (every blocking call sees EINTR and is
    retried; an interrupted connect is completed with poll and SO_ERROR);
  - vfork: the main thread vforks 60 children while the workers run; each does zero-length
    writes/reads and a peek on the inherited HTTP and sink connections and on the library's
    UDP socket (found in /proc/self/fd), dup2 onto it, close() of all of them,
    close_range(3, ~0U, 0), then _exit (every 5th execs /bin/true); every 10th child first
    reads the response to a request its parent sent ("GET /ok?stolen=<k>") and writes to a
    sink connection.
Checked for each mode, against a run without the preload:
  - no deadlock, no crash: exit 0 within the timeout (the program's watchdog exits 3);
    stdout identical (per thread: requests, statuses, body bytes; the children's results);
  - every datagram is a valid document, and the documents are exactly the requests httpd
    logged: one `remote` subsegment each with the url, status and content length; the stolen
    requests (whose response only the child read) as NoResponse faults: the child changed
    nothing in its parent's records; nothing for the sink connections;
  - at the end the one descriptor the program did not open is the library's UDP socket (a
    vfork child's close of it did not make the parent forget it and open another);
  - the handlers ran thousands of times (printed).

Usage: test_signals.py BUILD_DIR [MODE...]   (exit 0 pass, 1 fail; default: every mode)
"""

import os
import re
import sys

os.environ.setdefault("XRAY_IT_TIME_BUDGET", "150")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "signals"
WORKERS = 4



def read_report(path):
    try:
        with open(path) as f:
            m = re.search(r"signals=(\d+) children=(\d+) foreign=(\d+) udp=(\d+)", f.read())
    except FileNotFoundError:
        m = None
    return {k: int(v) for k, v in zip(("signals", "children", "foreign", "udp"),
                                      m.groups())} if m else {}


def check_documents(res, what):
    """The documents are exactly httpd's requests of this run: one subsegment each (url,
    status, content length; the stolen ones a NoResponse fault), one segment each."""
    base = SRV.base
    want = {}
    for r in res.requests:
        path = H.url_without_query(r["path"])
        if "stolen=" in r["path"]:
            key = ("NoResponse", base + path)
        else:
            key = (r["status"], base + path, r["body_bytes"])
        want[key] = want.get(key, 0) + 1
    got = {}
    for rec in res.records:
        sub = rec["sub"]
        url = H.get(sub, "http", "request", "url")
        if H.get(sub, "cause", "exceptions", 0, "type") == "NoResponse":
            key = ("NoResponse", url)
            check(sub.get("fault") is True and H.get(sub, "http", "response", "status") is None,
                  "%s: a stolen request's subsegment needs fault and no response" % what,
                  rec["doc"])
        else:
            key = (H.get(sub, "http", "response", "status"), url,
                   H.get(sub, "http", "response", "content_length"))
        got[key] = got.get(key, 0) + 1
        check(sub.get("namespace") == "remote" and sub.get("name") == "127.0.0.1",
              "%s: subsegment name/namespace" % what, rec["doc"])
        check(H.get(sub, "http", "request", "method") == "GET", "%s: method" % what, rec["doc"])
    diff = {k: (want.get(k, 0), got.get(k, 0)) for k in set(want) | set(got)
            if want.get(k, 0) != got.get(k, 0)}
    check(not diff, "%s: documents differ from httpd's requests ((status, url, length): "
          "(requests, subsegments)): %s" % (what, sorted(diff.items(), key=str)[:12]))
    segs = H.segments(res.docs)
    check(len(segs) == len(res.docs) == len(res.requests),
          "%s: %d documents (%d segments) for %d requests" % (what, len(res.docs), len(segs),
                                                              len(res.requests)))
    for d in segs[:50]:
        H.check_segment(d, PROGRAM, res.t0, res.t1, "%s: segment" % what)


def run_mode(mode):
    what = mode
    sink = H.TcpSink(keep=False)
    reports = [S.path("report-%s-%d.txt" % (mode, i)) for i in (0, 1)]
    cmds = [[PROG, mode, str(SRV.port), str(sink.port), "--workers", str(WORKERS),
             "--requests", "120", "--us", "200", "--report", rep] for rep in reports]
    base = S.run(cmds[0], preload=False, httpd=SRV, timeout=110.0)
    check(base.returncode == 0, "%s: the program failed without the preload (sanity)" % what,
          base.describe())
    res = S.run(cmds[1], httpd=SRV, timeout=110.0, expect_docs=lambda reqs: len(reqs),
                doc_timeout=10.0)
    sink.close()
    check(res.returncode == 0 and not res.timed_out, "%s: exit %s with the preload (3: the "
          "program's watchdog found it hung; negative: killed by a signal)"
          % (what, res.returncode), res.describe())
    check(res.stdout == base.stdout, "%s: stdout differs with the preload" % what,
          {"with": res.stdout[-1500:], "without": base.stdout[-1500:]})
    check(len(res.requests) == len(base.requests), "%s: %d requests reached httpd with the "
          "preload, %d without" % (what, len(res.requests), len(base.requests)))
    check_documents(res, what)
    rb, rp = read_report(reports[0]), read_report(reports[1])
    check(rb.get("foreign") == 0, "%s: without the preload the program found descriptors it "
          "did not open at the end" % what, rb)
    check(rp.get("foreign") == 1 and rp.get("udp") == 1, "%s: at the end the program found "
          "%s descriptors it did not open (%s UDP); expected one, the library's socket"
          % (what, rp.get("foreign"), rp.get("udp")), rp)
    if mode.startswith("handlers"):
        check(rp.get("signals", 0) > 1000, "%s: only %s signals handled" % (what,
                                                                          rp.get("signals")), rp)
    stolen = sum(1 for r in res.requests if "stolen=" in r["path"])
    print("%s: %d requests, %d documents, %s signals handled, %s vfork children (%d stolen "
          "responses), %.1f s with the preload, %.1f s without"
          % (what, len(res.requests), len(res.docs), rp.get("signals"), rp.get("children"),
             stolen, res.t1 - res.t0, base.t1 - base.t0))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    S = H.Session(sys.argv[1], "signals")
    S.require_build(PROGRAM)
    PROG = os.path.join(S.build, PROGRAM)
    SRV = S.start_httpd()
    for m in sys.argv[2:] or ("handlers", "handlers-norestart", "vfork"):
        H.scenario(m, run_mode, m)
    sys.exit(H.summary())
