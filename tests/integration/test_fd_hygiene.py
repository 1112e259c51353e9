#!/usr/bin/python3
"""Integration test: a program that closes every descriptor it did not open and reuses the
numbers at once for its own TCP connections gets not one byte of ours in its streams.

<build>/fd_hygiene (tests/integration/fd_hygiene.c) keeps worker threads making keep-alive HTTP
requests to its own server thread (under the preload every request is traced: documents are
being sent all the time, from several threads), and in rounds closes everything it did not open
and immediately connects to a sink server of this script, on the numbers just freed, writing
framed lines ("HELLO <id>", then "<id> <i> <fnv1a hash>"); each round ends with a marked request
GET /mark/<mode>/<round>.  Ways of closing (modes): close_range; a close() loop up to the rlimit;
close() of what /proc/self/fd lists; dup2 of a new connection onto those numbers (no close in
between); glibc's closefrom (hooked: inside libc it calls close_range past the close_range
hook); and one that no hook sees: syscall(SYS_close_range) (the cookie check before each send
is what protects it).

Checked, for every mode:
  - the sink received exactly the program's own bytes on every connection: each stream is the
    expected frames and nothing else (a datagram of ours in a stream shows as foreign bytes);
  - the program's stdout and exit status are identical without the preload;
  - before each close the only descriptor the program did not open is one UDP socket (ours):
    the closes really hit it, and no socket of ours is ever leaked or duplicated; without the
    preload there is none;
  - tracing resumed: each round's marked request and the final one have their documents (the
    client's and the server's), and every datagram the collector got is a valid document.
A stress scenario repeats the modes the hooks see, with the workers sending as fast as they
can, to exercise the race between a send that checked the number and the close that frees it.

Usage: test_fd_hygiene.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "fd_hygiene"
ALL_MODES = ["range", "loop", "procfd", "dup2", "rawrange", "closefrom"]
HOOKED_MODES = ["range", "loop", "procfd", "dup2", "closefrom"]



def fnv1a(text):
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def expected_stream(conn_id, frames):
    out = ["HELLO %s\n" % conn_id]
    for i in range(frames):
        out.append("%s %d %08x\n" % (conn_id, i, fnv1a("%s:%d" % (conn_id, i))))
    return "".join(out).encode()


HELLO_RE = re.compile(rb"HELLO ([a-z0-9]+\.\d+\.\d+)\n")


def verify_sink(streams, stdout, frames, what):
    """Every stream is exactly the frames of the connection it names, and every connection
    the program reported arrived once."""
    reported = {}
    for line in stdout.splitlines():
        m = re.match(r"^sink (\S+) (\d+)$", line)
        if m:
            reported[m.group(1)] = int(m.group(2))
    check(len(reported) > 0, "%s: the program reported no sink connection" % what, stdout[-2000:])
    seen = {}
    bad = 0
    for s in streams:
        # the HELLO line comes first, unless something came before it
        m = HELLO_RE.search(s)
        cid = m.group(1).decode() if m else None
        seen[cid] = seen.get(cid, 0) + 1
        exp = expected_stream(cid, frames) if cid else b""
        if s == exp:
            continue
        bad += 1
        if bad <= 5:
            # show where the stream departs from the expected frames
            k = next((i for i in range(min(len(s), len(exp))) if s[i] != exp[i]),
                     min(len(s), len(exp)))
            check(False, "%s: connection %s received %d bytes, expected exactly its %d bytes "
                  "of frames%s; from byte %d:" % (what, cid, len(s), len(exp),
                                                 " (a document of ours: {\"format\" inside)"
                                                 if b'{"format"' in s else "", k),
                  s[k:k + 600].decode("utf-8", "replace"))
    check(bad == 0, "%s: %d of %d sink connections received foreign bytes"
          % (what, bad, len(streams)))
    for cid, nbytes in reported.items():
        check(seen.get(cid) == 1, "%s: connection %s arrived %s times, expected once"
              % (what, cid, seen.get(cid, 0)))
        check(nbytes == len(expected_stream(cid, frames)), "%s: connection %s: the program "
              "wrote %d bytes, expected %d" % (what, cid, nbytes,
                                               len(expected_stream(cid, frames))))
    check(len(streams) == len(reported), "%s: %d connections reached the sink, the program "
          "made %d" % (what, len(streams), len(reported)))
    return len(streams)


def read_report(path):
    """(rows, stats): rows (mode, round, foreign, udp, stream, other, sent) per round;
    stats {"sent", "errors"} from the end line (empty without the library)."""
    rows, stats = [], {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"^(\S+) (\d+) foreign=(\d+) udp=(\d+) stream=(\d+) other=(\d+) "
                             r"sent=(-?\d+)$", line.strip())
                if m:
                    rows.append((m.group(1), int(m.group(2))) + tuple(int(x) for x in
                                                                       m.groups()[2:]))
                m = re.match(r"^stats sent=(\d+) errors=(\d+)$", line.strip())
                if m:
                    stats = {"sent": int(m.group(1)), "errors": int(m.group(2))}
    except FileNotFoundError:
        pass
    return rows, stats


class UdpDrain:
    """Stands in for the daemon when the documents come too fast for the collector: reads
    every datagram it can, checks each starts with the protocol header and ends its JSON
    object, keeps those of the marked requests."""

    HEADER = b'{"format":"json","version":1}\n'

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.count = 0
        self.bad = []
        self.marks = []
        self.sock.settimeout(0.5)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.running = True
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.count += 1
            if not d.startswith(self.HEADER) or not d.rstrip().endswith(b"}"):
                if len(self.bad) < 5:
                    self.bad.append(d[:300])
            elif b"/mark/" in d:
                self.marks.append(d)

    def close(self):
        time.sleep(0.5)
        self.running = False
        self.thread.join(2.0)
        self.sock.close()


def run(modes, rounds, what, preload, pace_us=500, frames=20, conns=4, workers=3, daemon=None):
    sink = H.TcpSink()
    report = S.path("report-%s-%d.txt" % (what.replace(" ", "_"), int(preload)))
    cmd = [PROG, str(sink.port), ",".join(modes), str(rounds), "--pace-us", str(pace_us),
           "--frames", str(frames), "--conns", str(conns), "--workers", str(workers),
           "--report", report]
    # Documents arrive while it runs: none is waited for by count, the grace covers the
    # collector's queue (the datagrams were all sent before the program exited).
    env = {"AWS_XRAY_DAEMON_ADDRESS": daemon} if daemon and preload else None
    res = S.run(cmd, preload=preload, timeout=110.0, grace=1.5, env=env)
    n_conns = len([ln for ln in res.stdout.splitlines() if ln.startswith("sink ")])
    streams = sink.close(n_conns)
    rows, stats = read_report(report)
    return res, streams, rows, stats


def check_report(rows, stats, modes, rounds, preload, what):
    """Before each close exactly one descriptor the program did not open, the library's UDP
    socket (none without the preload); the documents sent grow from round to round, and
    after the last (tracing resumed after every close)."""
    exp = [(m, r) for m in modes for r in range(rounds)]
    check([(r[0], r[1]) for r in rows] == exp, "%s: the report lists %d rounds, expected %d"
          % (what, len(rows), len(exp)), rows[:20])
    if preload:
        sent = [r[6] for r in rows] + [stats.get("sent", -1)]
        stuck = [(rows[i][0], rows[i][1]) for i in range(len(rows))
                 if not sent[i + 1] > sent[i]]
        check(len(rows) > 0 and not stuck, "%s: no document sent after the close of %s"
              % (what, stuck[:10]), sent[:50])
    for mode, rnd, foreign, udp, stream, other, _ in rows:
        if preload:
            check(foreign == 1 and udp == 1, "%s: before %s round %d the program found %d "
                  "descriptors it did not open (udp %d, stream %d, other %d); expected exactly "
                  "one, the library's UDP socket" % (what, mode, rnd, foreign, udp, stream,
                                                     other))
        else:
            check(foreign == 0, "%s: without the preload the program found %d descriptors it "
                  "did not open before %s round %d" % (what, foreign, mode, rnd))


def check_marks(res, modes, rounds, what):
    """Each marked request (start, every round, end) has its documents: the client's
    subsegment and the server's segment, whose urls end with the marked path."""
    urls = {}
    for d in res.docs:
        u = H.get(d, "http", "request", "url")
        if isinstance(u, str):
            urls.setdefault(u, []).append(d)
    for rec in res.records:
        u = H.get(rec["sub"], "http", "request", "url")
        if isinstance(u, str):
            urls.setdefault(u, []).append(rec["sub"])
    marks = [("start", 0)] + [(m, r) for m in modes for r in range(rounds)] + [("end", 0)]
    missing = []
    for m, r in marks:
        path = "/mark/%s/%d" % (m, r)
        got = [u for u in urls if u.endswith(path)]
        n = sum(len(urls[u]) for u in got)
        if n != 2:
            missing.append((path, n))
    check(not missing, "%s: marked requests without their 2 documents (client subsegment and "
          "server segment): %s" % (what, missing[:10]))
    work = sum(1 for u in urls if "/work/" in u)
    check(work > 0, "%s: no document for the workers' requests" % what)
    return work


def scenario(modes, rounds, what, drain=False, **kw):
    """Runs the program without, then with the preload: same output, every sink stream
    exactly the program's own bytes, the report's findings, the marked documents (through
    the collector; with drain=True through a UdpDrain, where only the counters are checked:
    the workers then send faster than the collector reads)."""
    base, base_streams, base_rows, _ = run(modes, rounds, what, False, **kw)
    check(base.returncode == 0, "%s: the program failed without the preload (sanity)" % what,
          base.describe())
    frames = kw.get("frames", 20)
    verify_sink(base_streams, base.stdout, frames, what + " (without preload)")
    check_report(base_rows, {}, modes, rounds, False, what + " (without preload)")
    udp = UdpDrain() if drain else None
    res, streams, rows, stats = run(modes, rounds, what, True,
                                    daemon=udp.address if udp else None, **kw)
    if udp:
        udp.close()
    check(res.returncode == base.returncode, "%s: exit %s with the preload, %s without"
          % (what, res.returncode, base.returncode), res.describe())
    check(res.stdout == base.stdout, "%s: stdout differs with the preload" % what,
          {"with": res.stdout[-1500:], "without": base.stdout[-1500:]})
    n = verify_sink(streams, res.stdout, frames, what)
    check_report(rows, stats, modes, rounds, True, what)
    if udp:
        check(not udp.bad, "%s: datagrams that are not a protocol header and a JSON object"
              % what, [b.decode("utf-8", "replace") for b in udp.bad])
        check(udp.count > 0, "%s: no datagram reached the stand-in daemon" % what)
        print("%s: %d sink connections, %d documents sent (%s send errors), %d received by "
              "the stand-in daemon (%d of marked requests)"
              % (what, n, stats.get("sent", -1), stats.get("errors", "?"), udp.count,
                 len(udp.marks)))
    else:
        work = check_marks(res, modes, rounds, what)
        print("%s: %d sink connections, %d documents sent (%s send errors), %d received (%d "
              "for worker requests)" % (what, n, stats.get("sent", -1), stats.get("errors", "?"),
                                        len(res.docs), work))


def t_every_mode():
    scenario(ALL_MODES, 12, "every mode")


def t_stress_hooked():
    # workers without pause: about 100 000 documents a second, more than the collector
    # reads; fewer frames per connection, more rounds
    scenario(HOOKED_MODES, 150, "stress", drain=True, pace_us=0, frames=5, conns=2)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    S = H.Session(sys.argv[1], "fd_hygiene")
    S.require_build(PROGRAM)
    PROG = os.path.join(S.build, PROGRAM)
    H.scenario("every mode, paced workers", t_every_mode)
    H.scenario("hooked modes, workers at full speed", t_stress_hooked)
    sys.exit(H.summary())
