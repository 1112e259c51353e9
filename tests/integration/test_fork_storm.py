#!/usr/bin/python3
"""Integration test (issue 6): a fork storm under libxray-auto.so.

<build>/fork_storm (tests/integration/fork_storm.c) runs 64 threads x 10 000 plain-socket
HTTP/1.1 keep-alive requests to its own server (`fork_storm --serve`, never preloaded), each
thread opening a segment (xray_begin_segment) per 25 requests, and every 1 000 requests
starting a child (fork + _exit, fork + exit, vfork + execve, posix_spawn, system()) that opens
a segment of its own and makes 10 requests on a connection of its own; 640 children in all.

Checks:
- no crash, no deadlock: exit status 0 with and without the preload, every child exited 0
  (each arms alarm(60)), the run ends within its watchdog; stdout identical with and without
  the preload; stderr holds nothing but the program's per-process counter lines;
- every datagram valid: the datagrams are captured on the daemon address by this script (a
  socket with SO_RCVBUFFORCE, so that a starved receiver loses nothing on a loaded 2-core
  machine), then replayed, paced, into `xray-auto collect`, which validates each one: the
  collector must count every replayed datagram valid and none invalid;
- nothing lost, so that the checks cannot pass vacuously: the datagrams captured equal the
  sum of the `documents_sent` counters every process reports (xray_get_stats, printed on
  stderr), and every one of the 646 400 requests is found exactly once; the counters
  explained: send_errors, split, truncated, dropped and calls_without_segment are 0, the main
  process sent one document per segment, each child exactly 1 (the counters are per process,
  also in a fork child);
- ids: every segment and subsegment id (16 hex) is unique across all processes, every
  trace_id is well formed, current and unique per segment; each document holds only its own
  process's requests (segment "t-<t>": 25 consecutive requests of thread t; child
  "<kind>-<t>-<n>": that child's 10 requests), so a child sending a copy of its parent's
  in-flight segment or request is seen as a duplicate id or a foreign request;
- every subsegment: name 127.0.0.1, namespace remote, GET, the URL of its request, status 200,
  content_length 2, no error/fault flags, times inside its segment's.

Prints the figures: requests per second with and without the preload, datagrams, bytes.
Environment: XRAY_IT_STORM_THREADS, XRAY_IT_STORM_OPS (defaults 64, 10000) for quick runs.

Usage: test_fork_storm.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "fork_storm"
THREADS = int(os.environ.get("XRAY_IT_STORM_THREADS", "64"))
OPS = int(os.environ.get("XRAY_IT_STORM_OPS", "10000"))
BATCH = 25          # requests per thread segment (below the library's streaming threshold, 30)
SPAWN_EVERY = 1000  # requests between two children of a thread
CHILD_OPS = 10      # requests per child
KINDS = "fxvps"     # fork+_exit, fork+exit, vfork+exec, posix_spawn, system()
RUN_TIMEOUT = 120.0  # the watchdog: a deadlocked storm fails here

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
CAPTURE_BUF = 1 << 30  # bytes: holds every datagram of the run even if nobody reads

STATS_RE = re.compile(r"^xr-stats (\S+) pid=(\d+) sent=(\d+) errors=(\d+) split=(\d+) "
                      r"truncated=(\d+) dropped=(\d+) untraced=(\d+)$")
SUMMARY_RE = re.compile(r"(\d+) datagrams, (\d+) valid, (\d+) invalid")


class Tally:
    """Failures of one kind, counted; the first few are printed with their document."""

    def __init__(self):
        self.fails = {}

    def fail(self, what, doc=None):
        n, ex = self.fails.get(what, (0, []))
        if len(ex) < 3 and doc is not None:
            ex.append(doc)
        self.fails[what] = (n + 1, ex)

    def report(self, label):
        for what, (n, ex) in sorted(self.fails.items()):
            check(False, "%s: %s (%d times)" % (label, what, n), ex[0] if ex else None)
        check(True, "%s: tallied" % label)


# ---------------------------------------------------------------------------------------------
# the plan: what the program must do
# ---------------------------------------------------------------------------------------------
def plan():
    spawn_points = [i for i in range(OPS) if i % SPAWN_EVERY == SPAWN_EVERY // 2]
    children = {}
    for t in range(THREADS):
        for n in range(len(spawn_points)):
            kind = KINDS[(t + n) % len(KINDS)]
            children["%s-%d-%d" % (kind, t, n)] = kind
    started = {k: sum(1 for v in children.values() if v == k) for k in KINDS}
    out = ["threads %d ops %d batch %d" % (THREADS, OPS, BATCH),
           "requests %d answered %d failed 0" % (THREADS * OPS, THREADS * OPS)]
    out += ["children %s started %d exited0 %d" % (k, started[k], started[k]) for k in KINDS]
    return children, "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# capture on the daemon address, replay into the collector
# ---------------------------------------------------------------------------------------------
class Capture:
    """A UDP socket on 127.0.0.1 standing in for the daemon during the run; a thread keeps
    every datagram (bytes) it receives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.forced = True
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_BUF)
        except OSError:
            self.forced = False  # not root: the rmem_max-capped buffer, read concurrently
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CAPTURE_BUF)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.datagrams = []
        self.truncated = 0
        self._stop = False
        self._th = threading.Thread(target=self._run, daemon=True)
        self._th.start()

    def _run(self):
        while True:
            try:
                data, _ = self.sock.recvfrom(70000)
            except socket.timeout:
                if self._stop:
                    return
                continue
            except OSError:
                return
            if len(data) >= 70000:
                self.truncated += 1
            self.datagrams.append(data)

    def kernel_drops(self):
        """The socket's drop counter in /proc/net/udp (None if not found)."""
        port = "%04X" % self.sock.getsockname()[1]
        try:
            with open("/proc/net/udp") as f:
                for line in f.readlines()[1:]:
                    cols = line.split()
                    if cols[1].endswith(":" + port):
                        return int(cols[-1])
        except OSError:
            pass
        return None

    def stop(self):
        """Waits until nothing came for 0.5 s, then stops the reader."""
        last, n = time.monotonic(), len(self.datagrams)
        while time.monotonic() - last < 0.5:
            time.sleep(0.1)
            if len(self.datagrams) != n:
                last, n = time.monotonic(), len(self.datagrams)
        self._stop = True
        self._th.join(5.0)
        drops = self.kernel_drops()
        self.sock.close()
        return drops


class LineCounter:
    """Counts the complete lines of a growing file without rereading it."""

    def __init__(self, path):
        self.path, self.pos, self.n = path, 0, 0

    def count(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return 0
        self.n += data.count(b"\n")
        self.pos += len(data)
        return self.n


def replay(S, datagrams, chunk=500, wait=20.0):
    """Sends the datagrams to a fresh collector, each chunk once the previous one is written
    (its 8 MiB receive queue never overflows). Returns (collector, collector stderr)."""
    col = S.start_collector()
    host, port = col.address.split(":")
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lines = LineCounter(col.jsonl)
    sent = 0
    try:
        for i in range(0, len(datagrams), chunk):
            for d in datagrams[i:i + chunk]:
                out.sendto(d, (host, int(port)))
                sent += 1
            deadline = time.monotonic() + wait
            while lines.count() < sent and time.monotonic() < deadline:
                time.sleep(0.005)
            if lines.count() < sent:
                break  # the collector stalls: the counts below fail
    finally:
        out.close()
        col.stop()
    return col, H._read(col.err_path)


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------
def check_stats(stderr, children):
    """The per-process counter lines; returns the sum of documents_sent."""
    stats, other = {}, []
    for line in stderr.splitlines():
        m = STATS_RE.match(line)
        if m:
            stats.setdefault(m.group(1), []).append(tuple(int(x) for x in m.groups()[1:]))
        elif line.strip():
            other.append(line)
    check(not other, "stderr holds lines besides the counters (library log lines, failed "
          "children): %d" % len(other), "\n".join(other[:20]))
    check(set(stats) == set(children) | {"main"},
          "counter lines from %d processes, expected %d (main + children); missing: %s, extra: %s"
          % (len(stats), len(children) + 1, sorted(set(children) | {"main"} - set(stats))[:10],
             sorted(set(stats) - set(children) - {"main"})[:10]))
    pids = [v[0] for vs in stats.values() for v in vs]
    check(len(pids) == len(set(pids)) == len(stats),
          "each process reports once, with a pid of its own (%d lines, %d pids)"
          % (len(pids), len(set(pids))))
    t = Tally()
    total = 0
    for who, vs in stats.items():
        for pid, sent, errors, split, truncated, dropped, untraced in vs:
            total += sent
            if errors or split or truncated or dropped or untraced:
                t.fail("send_errors/split/truncated/dropped/calls_without_segment not all 0",
                       {"who": who, "pid": pid, "errors": errors, "split": split,
                        "truncated": truncated, "dropped": dropped, "untraced": untraced})
            want = THREADS * -(-OPS // BATCH) if who == "main" else 1
            if sent != want:
                t.fail("documents_sent is not the process's own documents (main: one per "
                       "segment, a child: 1)", {"who": who, "sent": sent, "expected": want})
    t.report("counters")
    return total


def check_docs(col, port, children, t_run0, t_run1):
    """Streams the collector's JSONL (the documents are too many to keep as objects)."""
    t = Tally()
    ids, traces = set(), set()
    seen_ops = set()
    n_docs = n_subs = 0
    seg_names = {}
    base = "http://127.0.0.1:%d" % port
    thread_re = re.compile(r"^t-(\d+)$")
    child_re = re.compile(r"^([%s])-(\d+)-(\d+)$" % KINDS)
    with open(col.jsonl, "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            n_docs += 1
            try:
                doc = json.loads(line)
            except ValueError:
                t.fail("collector line is not JSON", line[:500])
                continue
            if not isinstance(doc, dict) or "invalid" in doc:
                t.fail("invalid datagram", line[:500])
                continue
            if doc.get("type") == "subsegment":
                t.fail("independent subsegment document (no split expected)", doc)
                continue
            name, sid, tid = doc.get("name"), doc.get("id"), doc.get("trace_id")
            seg_names[name] = seg_names.get(name, 0) + 1
            if not (isinstance(sid, str) and H.HEX16.match(sid)):
                t.fail("segment id is not 16 lowercase hex", doc)
            elif sid in ids:
                t.fail("duplicate id (segment)", doc)
            ids.add(sid)
            if not (isinstance(tid, str) and H.TRACE_ID.match(tid)):
                t.fail("trace_id is not 1-<8hex>-<24hex>", doc)
            else:
                if abs(int(tid[2:10], 16) - t_run0) > 120:
                    t.fail("trace_id epoch is not the run's time", doc)
                if tid in traces:
                    t.fail("duplicate trace_id (every segment starts a trace)", doc)
                traces.add(tid)
            if "parent_id" in doc:
                t.fail("a segment of xray_begin_segment(name, NULL) has a parent_id", doc)
            st, et = doc.get("start_time"), doc.get("end_time")
            if not (H._num(st) and H._num(et) and t_run0 - 1 <= st <= et <= t_run1 + 1):
                t.fail("segment times missing or outside the run", doc)
            if doc.get("in_progress") or H.get(doc, "aws", "xray", "sdk") != H.SDK_NAME:
                t.fail("segment in_progress or without aws.xray.sdk", doc)
            m, mc = thread_re.match(name or ""), child_re.match(name or "")
            if m:
                prefix, want = "/t/%s/" % m.group(1), BATCH
            elif mc and name in children:
                prefix, want = "/%s/%s/%s/" % mc.groups(), CHILD_OPS
            else:
                t.fail("segment name of no process of the run", doc)
                continue
            subs = doc.get("subsegments") or []
            if len(subs) != want:
                t.fail("segment holds %s subsegments, expected %d" % (len(subs), want), doc)
            idx = []
            for sub in subs:
                n_subs += 1
                xid = sub.get("id")
                if not (isinstance(xid, str) and H.HEX16.match(xid)):
                    t.fail("subsegment id is not 16 lowercase hex", doc)
                elif xid in ids:
                    t.fail("duplicate id (subsegment)", doc)
                ids.add(xid)
                url = H.get(sub, "http", "request", "url") or ""
                if not url.startswith(base + prefix):
                    t.fail("subsegment of another process or thread",
                           {"url": url, "segment": name, "id": sid})
                    continue
                i = url[len(base + prefix):]
                if not i.isdigit():
                    t.fail("subsegment url not of this run", {"url": url})
                    continue
                idx.append(int(i))
                key = (name, int(i))
                if key in seen_ops:
                    t.fail("request recorded twice", doc)
                seen_ops.add(key)
                if (sub.get("name") != "127.0.0.1" or sub.get("namespace") != "remote"
                        or H.get(sub, "http", "request", "method") != "GET"
                        or H.get(sub, "http", "response", "status") != 200
                        or H.get(sub, "http", "response", "content_length") != 2
                        or "error" in sub or "fault" in sub or "throttle" in sub):
                    t.fail("subsegment fields (name, namespace, method, status, "
                           "content_length, flags)", sub)
                sst, set_ = sub.get("start_time"), sub.get("end_time")
                if not (H._num(sst) and H._num(set_) and H._num(st) and H._num(et)
                        and st - 1e-6 <= sst <= set_ <= et + 1e-6):
                    t.fail("subsegment times outside its segment's", doc)
            if m and idx:
                lo = min(idx)
                if lo % BATCH or sorted(idx) != list(range(lo, lo + len(idx))):
                    t.fail("a thread segment's requests are not one batch", doc)
    t.report("documents")
    return n_docs, n_subs, seen_ops, seg_names


def storm(S, children, expected_out):
    srv = H.PreloadedServer(S, [S.prog, "--serve"], preload=False)
    cmd = [S.prog, "--port", str(srv.port), "--threads", str(THREADS), "--ops", str(OPS),
           "--batch", str(BATCH), "--spawn-every", str(SPAWN_EVERY),
           "--child-ops", str(CHILD_OPS)]
    n_ops = THREADS * OPS + len(children) * CHILD_OPS

    base = S.run(cmd, preload=False, timeout=RUN_TIMEOUT)
    check(not base.timed_out and base.returncode == 0,
          "without preload: exit %s (timed out: %s)" % (base.returncode, base.timed_out),
          base.describe())
    check(base.stdout == expected_out, "without preload: unexpected output",
          {"got": base.stdout, "expected": expected_out})
    t_base = base.t1 - base.t0

    cap = Capture()
    # The preload sends to the capture socket (the collector S.run starts stays idle).
    pre = S.run(cmd, env={"AWS_XRAY_DAEMON_ADDRESS": cap.address}, timeout=RUN_TIMEOUT, grace=0)
    drops = cap.stop()
    out, err, t0, t1 = pre.stdout, pre.stderr, pre.t0, pre.t1
    check(not pre.timed_out, "with preload: no end after %.0f s (deadlock?); stderr: %s"
          % (RUN_TIMEOUT, err[-2000:]))
    check(pre.returncode == 0, "with preload: exit status %s" % pre.returncode, err[-3000:])
    check(out == base.stdout, "stdout differs with the preload",
          {"with": out, "without": base.stdout})
    t_pre = t1 - t0
    print("figures: %d requests (%d threads x %d + %d children x %d), %d children"
          % (n_ops, THREADS, OPS, len(children), CHILD_OPS, len(children)))
    print("figures: without preload %.1f s (%.0f requests/s), with preload %.1f s "
          "(%.0f requests/s)" % (t_base, n_ops / t_base, t_pre, n_ops / t_pre))

    sent = check_stats(err, children)
    got = cap.datagrams
    nbytes = sum(len(d) for d in got)
    print("figures: %d datagrams (%.1f MB) captured, %d sent by the processes, kernel drops "
          "on the capture socket: %s (receive buffer forced: %s)"
          % (len(got), nbytes / 1e6, sent, drops, cap.forced))
    check(cap.truncated == 0, "%d datagrams over 70 000 bytes" % cap.truncated)
    # Nothing may be lost with a forced buffer; without root, a large fraction at least.
    need = sent if cap.forced else int(sent * 0.9)
    check(need <= len(got) <= sent and sent > 0,
          "%d datagrams captured, the processes sent %d (kernel drops %s)"
          % (len(got), sent, drops))

    t_r = time.monotonic()
    col, col_err = replay(S, got)
    m = SUMMARY_RE.search(col_err)
    print("figures: collector: %s (replay %.1f s)"
          % (m.group(0) if m else "no summary", time.monotonic() - t_r))
    check(m is not None and int(m.group(1)) == len(got) and int(m.group(2)) == len(got)
          and int(m.group(3)) == 0,
          "the collector must count every datagram (%d) valid and none invalid" % len(got),
          col_err[-3000:])
    check(col.returncode == 0, "collector exit status %s" % col.returncode, col_err[-2000:])

    n_docs, n_subs, seen, seg_names = check_docs(col, srv.port, children, t0, t1)
    n_segs = THREADS * -(-OPS // BATCH) + len(children)
    print("figures: %d documents, %d subsegments, %d distinct requests recorded of %d made"
          % (n_docs, n_subs, len(seen), n_ops))
    check(n_docs == len(got), "%d documents in the collector output, %d datagrams replayed"
          % (n_docs, len(got)))
    if cap.forced:
        check(n_docs == n_segs, "%d segment documents, expected %d" % (n_docs, n_segs))
        check(len(seen) == n_ops, "%d of %d requests recorded" % (len(seen), n_ops))
        missing = [c for c in children if seg_names.get(c, 0) != 1]
        check(not missing, "children without exactly one segment document: %s" % missing[:10])
    else:
        check(len(seen) >= 0.9 * n_ops, "only %d of %d requests recorded" % (len(seen), n_ops))
    rc = srv.stop()
    check(rc is not None, "server stopped")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    S = H.Session(sys.argv[1], "fork-storm")
    S.require_build(PROGRAM)
    S.prog = os.path.join(S.build, PROGRAM)
    children, expected_out = plan()
    H.scenario("fork storm", storm, S, children, expected_out)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
