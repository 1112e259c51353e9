#!/usr/bin/python3
"""Integration test (issue 6): a 1 000 000-operation soak under libxray-auto.so.

<build>/soak (tests/integration/soak.c) makes 1 000 000 operations the sockets layer traces,
in 100 rounds of 4 fresh threads (thread churn), against its own server (`soak --serve`, never
preloaded): 70 % keep-alive GETs, 10 % refused connects (a port this script holds bound but not
listening), 10 % connect + GET with Connection: close + close (descriptor numbers and
connection records reused), 5 % GETs on a dup() of the keep-alive socket, 5 % on a dup2() of it
over a descriptor that held a pipe end; each around untraced pipe I/O. Operations are grouped
25 to a segment (xray_begin_segment), every 20th batch outside any segment (a segment per
operation, XRAY_AUTO_SEGMENT=call). After every 100 000 operations, with every worker joined,
it prints its resident set (statm), the heap in use (mallinfo2: every arena) and its open
descriptors (/proc/self/fd).

Checks, with the run without the preload as the reference:
- exit 0 and the same stdout (operation counts) with and without the preload;
- descriptors flat: with the preload the count at every checkpoint from 1 on is the count
  without it plus exactly one, a datagram socket (the daemon socket, opened at the first
  send), and at checkpoint 0 the same;
- memory flat once warm (checkpoint 1 = 100 000 operations: thread stacks, malloc arenas, the
  connection records, names caches touched): from checkpoint 2 to the end (800 000 operations)
  the resident set grows by at most 1 MiB (a leak of 2 bytes per operation would show; the
  run without the preload does not move by a page) and the heap in use by at most 64 KiB;
  on failure, the mappings that grew are printed (smaps of each checkpoint);
- what the preload adds to the resident set at the end: reported, and at most 1 MiB
  (issue 7's budget);
- nothing vacuous: the datagrams are captured on the daemon address (SO_RCVBUFFORCE) and all
  of them arrive (= documents_sent of xray_get_stats); they hold exactly the 1 000 000
  operations: each GET's URL once, 100 000 ECONNREFUSED faults; 38 000 segments of 25 and
  50 000 of one; the counters show no send error, split, truncation or drop; a sample of
  4 000 datagrams (first and last 2 000) is replayed into `xray-auto collect`, which counts
  them all valid.
Prints the figures: time and operations per second with and without the preload, RSS, heap,
descriptors at each checkpoint.

Environment: XRAY_IT_SOAK_OPS (default 1000000; a multiple of 100 000) for quick runs.
Usage: test_soak.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402
from test_fork_storm import Capture, Tally, replay, SUMMARY_RE  # noqa: E402

PROGRAM = "soak"
OPS = int(os.environ.get("XRAY_IT_SOAK_OPS", "1000000"))
THREADS = 4
ROUND = 10000
CHECKPOINTS = 10
BATCH = 25
RUN_TIMEOUT = 150.0

RSS_GROWTH_MAX_KB = 1024    # checkpoint 2 -> end, with the preload
HEAP_GROWTH_MAX = 64 * 1024  # bytes in use, checkpoint 2 -> end
RSS_ADDED_MAX_KB = 1024     # issue 7: what the preload adds
SAMPLE = 2000               # datagrams replayed into the collector from each end

CP_RE = re.compile(r"^soak-checkpoint (\d+) ops=(\d+) rss_kb=(-?\d+) heap=(\d+) fds=(-?\d+) "
                   r"dgram=(\d+)$")
STATS_RE = re.compile(r"^xr-stats soak pid=\d+ sent=(\d+) errors=(\d+) split=(\d+) "
                      r"truncated=(\d+) dropped=(\d+) untraced=(\d+)$")


def kind(g):
    r = g % 20
    if r in (0, 10):
        return "refused"
    if r in (5, 15):
        return "churn"
    if r == 3:
        return "dup"
    if r == 13:
        return "dup2"
    return "keepalive"


def expected_stdout():
    counts = {k: 0 for k in ("keepalive", "refused", "churn", "dup", "dup2")}
    for r in range(20):
        counts[kind(r)] += OPS // 20
    return "ops %d failed 0\n" % OPS + "".join("%s %d\n" % (k, counts[k]) for k in
                                               ("keepalive", "refused", "churn", "dup", "dup2"))


def expected_docs():
    """(segment documents of 25 operations, segment documents of 1)."""
    batches = OPS // BATCH
    outside = sum(1 for b in range(batches) if b % 20 == 19)
    return batches - outside, outside * BATCH


def checkpoints(stderr, what):
    cps = []
    for line in stderr.splitlines():
        m = CP_RE.match(line)
        if m:
            cps.append(tuple(int(x) for x in m.groups()))
    check([c[0] for c in cps] == list(range(CHECKPOINTS + 1)),
          "%s: checkpoints 0..%d expected, got %s" % (what, CHECKPOINTS, [c[0] for c in cps]),
          stderr[-3000:])
    return cps


def smaps_growth(d, a, b):
    """Mappings whose Rss grew between DIR/smaps.<a> and DIR/smaps.<b>."""
    def parse(path):
        maps, cur = {}, None
        try:
            with open(path) as f:
                for line in f:
                    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                        parts = line.split()
                        cur = "%s %s" % (parts[0], parts[5] if len(parts) > 5 else "[anon]")
                        maps[cur] = 0
                    elif line.startswith("Rss:") and cur:
                        maps[cur] = int(line.split()[1])
        except OSError:
            pass
        return maps
    A, B = parse(os.path.join(d, "smaps.%d" % a)), parse(os.path.join(d, "smaps.%d" % b))
    return ["%s: %d -> %d kB" % (k, A.get(k, 0), B.get(k, 0))
            for k in sorted(set(A) | set(B)) if B.get(k, 0) > A.get(k, 0)]


def check_datagrams(datagrams, port):
    """Every operation exactly once in the documents."""
    t = Tally()
    base = "http://127.0.0.1:%d/s/" % port
    seen = bytearray(OPS)
    ids = set()
    n25 = n1 = refused = http = 0
    for raw in datagrams:
        try:
            head, body = raw.split(b"\n", 1)
            doc = json.loads(body)
        except ValueError:
            t.fail("datagram is not header + JSON", raw[:300].decode("utf-8", "replace"))
            continue
        if head != b'{"format":"json","version":1}':
            t.fail("protocol header", raw[:300].decode("utf-8", "replace"))
        if doc.get("type") == "subsegment" or doc.get("name") != "soak":
            t.fail("a segment named soak expected", doc)
            continue
        if not (H.TRACE_ID.match(doc.get("trace_id") or "") and H.HEX16.match(doc.get("id") or "")):
            t.fail("segment ids malformed", doc)
        subs = doc.get("subsegments") or []
        if len(subs) == BATCH:
            n25 += 1
        elif len(subs) == 1:
            n1 += 1
        else:
            t.fail("segment with %d subsegments" % len(subs), doc)
        for s in [doc] + subs:
            if s.get("id") in ids:
                t.fail("duplicate id", doc)
            ids.add(s.get("id"))
        for s in subs:
            url = H.get(s, "http", "request", "url")
            exc = H.get(s, "cause", "exceptions", 0, "type")
            if url is None:
                if exc == "ECONNREFUSED" and s.get("fault") is True:
                    refused += 1
                else:
                    t.fail("subsegment neither a GET nor a refused connect", s)
                continue
            g = url[len(base):] if url.startswith(base) else ""
            if not g.isdigit() or int(g) >= OPS or kind(int(g)) == "refused":
                t.fail("unexpected url %r" % url, s)
                continue
            if seen[int(g)]:
                t.fail("operation recorded twice", s)
            seen[int(g)] = 1
            http += 1
            if (H.get(s, "http", "response", "status") != 200 or "fault" in s or "error" in s
                    or H.get(s, "http", "response", "content_length") != 2):
                t.fail("GET subsegment: status 200, content_length 2, no flags", s)
    t.report("documents")
    want25, want1 = expected_docs()
    n_refused = sum(1 for r in range(20) if kind(r) == "refused") * (OPS // 20)
    print("figures: %d segments of %d, %d of 1; %d GETs, %d refused connects recorded"
          % (n25, BATCH, n1, http, refused))
    check(n25 == want25 and n1 == want1, "%d segments of %d and %d of 1, expected %d and %d"
          % (n25, BATCH, n1, want25, want1))
    check(http == OPS - n_refused and refused == n_refused,
          "%d GETs and %d refused connects recorded, expected %d and %d"
          % (http, refused, OPS - n_refused, n_refused))


def soak(S):
    srv = H.PreloadedServer(S, [S.prog, "--serve"], preload=False)
    # Bound, never listening: connects are refused, and nobody else can take the port.
    refuser = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refuser.bind(("127.0.0.1", 0))
    cmd = [S.prog, "--port", str(srv.port), "--refused-port", str(refuser.getsockname()[1]),
           "--ops", str(OPS), "--threads", str(THREADS), "--round", str(ROUND),
           "--checkpoints", str(CHECKPOINTS), "--batch", str(BATCH)]

    base = S.run(cmd, preload=False, timeout=RUN_TIMEOUT)
    t_base = base.t1 - base.t0
    check(not base.timed_out and base.returncode == 0, "without preload: exit %s"
          % base.returncode, base.describe())
    check(base.stdout == expected_stdout(), "without preload: unexpected output",
          {"got": base.stdout, "expected": expected_stdout()})
    cb = checkpoints(base.stderr, "without preload")

    smaps = S.path("smaps")
    os.mkdir(smaps)
    cap = Capture()
    # The preload sends to the capture socket (the collector S.run starts stays idle).
    pre = S.run(cmd + ["--smaps", smaps], env={"AWS_XRAY_DAEMON_ADDRESS": cap.address},
                timeout=RUN_TIMEOUT, grace=0)
    drops = cap.stop()
    rc, out, err, timed_out, t0, t1 = (pre.returncode, pre.stdout, pre.stderr, pre.timed_out,
                                       pre.t0, pre.t1)
    refuser.close()
    t_pre = t1 - t0
    check(not timed_out, "with preload: no end after %.0f s" % RUN_TIMEOUT, err[-2000:])
    check(rc == 0, "with preload: exit status %s" % rc, err[-3000:])
    check(out == base.stdout, "stdout differs with the preload", {"with": out,
                                                                  "without": base.stdout})
    cp = checkpoints(err, "with preload")
    print("figures: %d operations: without preload %.1f s (%.0f/s), with preload %.1f s (%.0f/s)"
          % (OPS, t_base, OPS / t_base, t_pre, OPS / t_pre))
    for a, b in zip(cb, cp):
        print("figures: checkpoint %2d ops %7d  rss %6d kB / %6d kB  heap %8d / %8d B  "
              "fds %d / %d (datagram %d)  (without / with)"
              % (b[0], b[1], a[2], b[2], a[3], b[3], a[4], b[4], b[5]))
    if len(cp) == CHECKPOINTS + 1 and len(cb) == CHECKPOINTS + 1:
        check(all(c[4] == cb[0][4] for c in cb),
              "without preload: descriptor count moved: %s" % [c[4] for c in cb])
        check(cp[0][4] == cb[0][4], "checkpoint 0: %d descriptors with the preload, %d without"
              % (cp[0][4], cb[0][4]))
        check(all(c[4] == cb[0][4] + 1 and c[5] == 1 for c in cp[1:]),
              "with preload the descriptor count must be the reference + 1, a datagram socket "
              "(the daemon socket), at every checkpoint from 1 on: %s, datagram sockets %s, "
              "reference %d" % ([c[4] for c in cp], [c[5] for c in cp], cb[0][4]))
        check(all(c[5] == 0 for c in cb) and cp[0][5] == 0,
              "no datagram socket without the preload, nor before the first operation")
        grow = cp[-1][2] - cp[2][2]
        check(grow <= RSS_GROWTH_MAX_KB,
              "resident set grew by %d kB from checkpoint 2 to the end (%d operations), "
              "at most %d kB; grown mappings: %s"
              % (grow, cp[-1][1] - cp[2][1], RSS_GROWTH_MAX_KB,
                 smaps_growth(smaps, 2, CHECKPOINTS)))
        hgrow = cp[-1][3] - cp[2][3]
        check(hgrow <= HEAP_GROWTH_MAX, "heap in use grew by %d bytes from checkpoint 2 to the "
              "end, at most %d" % (hgrow, HEAP_GROWTH_MAX))
        added = cp[-1][2] - cb[-1][2]
        print("figures: RSS added by the preload at the end: %d kB (heap in use %+d bytes); "
              "growth from checkpoint 2: %+d kB with, %+d kB without"
              % (added, cp[-1][3] - cb[-1][3], grow, cb[-1][2] - cb[2][2]))
        check(added <= RSS_ADDED_MAX_KB, "the preload adds %d kB of resident set, at most %d "
              "(issue 7); at the end, mappings larger than at checkpoint 0: %s"
              % (added, RSS_ADDED_MAX_KB, smaps_growth(smaps, 0, CHECKPOINTS)))

    stats = [STATS_RE.match(line) for line in err.splitlines() if line.startswith("xr-stats")]
    other = [line for line in err.splitlines()
             if line.strip() and not CP_RE.match(line) and not line.startswith("xr-stats")]
    check(not other, "stderr holds lines besides checkpoints and counters", "\n".join(other[:20]))
    sent = None
    if check(len(stats) == 1 and stats[0] is not None, "one counter line expected", err[-2000:]):
        sent, errors, split, truncated, dropped, untraced = (int(x) for x in stats[0].groups())
        want25, want1 = expected_docs()
        check(sent == want25 + want1, "documents_sent %d, expected %d" % (sent, want25 + want1))
        check(errors == split == truncated == dropped == untraced == 0,
              "send_errors %d, split %d, truncated %d, dropped %d, calls_without_segment %d: "
              "all must be 0" % (errors, split, truncated, dropped, untraced))
    got = cap.datagrams
    print("figures: %d datagrams (%.1f MB) captured, %s sent, kernel drops %s (buffer forced: %s)"
          % (len(got), sum(len(d) for d in got) / 1e6, sent, drops, cap.forced))
    check(sent is not None and (len(got) == sent or (not cap.forced and len(got) >= 0.9 * sent)),
          "%d datagrams captured, %s sent" % (len(got), sent))
    check_datagrams(got, srv.port)

    sample = got[:SAMPLE] + got[max(SAMPLE, len(got) - SAMPLE):]
    col, col_err = replay(S, sample)
    m = SUMMARY_RE.search(col_err)
    check(m is not None and int(m.group(1)) == int(m.group(2)) == len(sample)
          and int(m.group(3)) == 0,
          "collector: %d datagrams replayed, all must be counted valid" % len(sample),
          col_err[-2000:])
    srv.stop()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if OPS % (ROUND * CHECKPOINTS):
        print("XRAY_IT_SOAK_OPS must be a multiple of %d" % (ROUND * CHECKPOINTS))
        return 2
    S = H.Session(sys.argv[1], "soak")
    S.require_build(PROGRAM)
    S.prog = os.path.join(S.build, PROGRAM)
    H.scenario("soak", soak, S)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
