#!/usr/bin/python3
"""Integration test: the real collector (`<build>/xray-auto collect`) survives malformed,
truncated and oversized datagrams, and keeps collecting valid ones.

Bad datagrams, one at a time (each answered by one JSONL `{"invalid": reason, "bytes": n}` line
before the next is sent): empty, header only (with and without its newline), no header line,
wrong headers, truncated JSON (cut at many points of a real document), binary garbage, NUL and
raw control bytes, invalid UTF-8 (overlong, surrogate, stray continuation, cut sequence), a
byte order mark, \\u0000, deeply nested JSON, huge and malformed numbers, schema violations
(bad ids, end before start, duplicate ids, trace_id mismatch), trailing data, a 65507-byte
garbage datagram and a 65507-byte almost-valid one. Every bad datagram carries a canary that
must appear nowhere in the collector's output (reasons never echo input). Then a burst of 3000
bad datagrams, then valid documents (segments, in-progress/complete pairs, subsegment
documents, 200-level nesting, a valid 65 kB document flagged as large): each is collected
exactly as sent, its trace tree printed, the process is alive throughout, its RSS stays
bounded, and on SIGTERM it exits 0 with a summary whose counts match what it wrote.

Usage: test_collector_robust.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

HEADER = b'{"format":"json","version":1}\n'
CANARY = "XRCANARY7f3a9"
MAX_UDP = 65507  # largest IPv4 UDP payload
SUMMARY_RE = re.compile(r"(\d+) datagrams, (\d+) valid, (\d+) invalid, (\d+) traces")

rng = random.Random(6)


def hexid(n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def trace_id():
    return "1-%08x-%s" % (int(time.time()), hexid(24))


def segment(tid=None, **extra):
    # Microseconds, as SDKs write them: the collector re-prints documents with cJSON, whose
    # shortest-form printing may drop digits below that (a relative 2e-16).
    now = round(time.time(), 6)
    doc = {"name": "robust", "id": hexid(16), "trace_id": tid or trace_id(),
           "start_time": round(now - 0.01, 6), "end_time": now}
    doc.update(extra)
    return doc


def dumps(doc):
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def padded(header, doc, total=MAX_UDP):
    """header + doc, doc["annotations"]["pad"] grown so that the datagram is total bytes."""
    doc["annotations"]["pad"] += "p" * (total - len(header) - len(dumps(doc)))
    return header + dumps(doc)


class RobustCollector:
    """`xray-auto collect --listen 127.0.0.1:0 --jsonl F`, trees on stdout (not --quiet)."""

    LISTEN_RE = re.compile(r"listening on udp [0-9.]+:(\d+)")

    def __init__(self, session):
        self.jsonl = session.path("robust.jsonl")
        self.out_path = session.path("robust.stdout")
        self.err_path = session.path("robust.stderr")
        self.outf = open(self.out_path, "wb")
        self.errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [session.tool, "collect", "--listen", "127.0.0.1:0", "--jsonl", self.jsonl],
            stdin=subprocess.DEVNULL, stdout=self.outf, stderr=self.errf,
            env=session.base_env(), preexec_fn=H._die_with_parent)
        session.procs.append(self)
        self.returncode = None
        deadline = time.monotonic() + 10
        while True:
            m = self.LISTEN_RE.search(self.stderr())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise H.HarnessError("collector did not start: %s" % self.stderr())
            time.sleep(0.02)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    def send(self, data):
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def lines(self):
        return H.count_lines(self.jsonl)

    def wait_line(self, n, timeout=5.0):
        """Waits for n JSONL lines; gives up early when the process is gone."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.lines()
            if c >= n or not self.alive() or time.monotonic() >= deadline:
                return c
            time.sleep(0.005)

    def records(self):
        out = []
        with open(self.jsonl, "rb") as f:
            for raw in f.read().split(b"\n")[:-1]:
                out.append(json.loads(raw))
        return out

    def stderr(self):
        return H._read(self.err_path)

    def stdout(self):
        return H._read(self.out_path)

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return -1

    def stop(self):
        if self.returncode is None:
            self.returncode = H._stop_process(self.proc, timeout=15)
            self.outf.close()
            self.errf.close()
            self.sock.close()
        return self.returncode


def bad_datagrams():
    """(label, bytes, expected reason regex) for one datagram each."""
    c = CANARY
    real = dumps(segment(annotations={"note": c}, http={"request": {"method": "GET",
                 "url": "http://127.0.0.1/%s" % c}, "response": {"status": 200}}))
    good_header_body = HEADER + real
    cases = [
        ("empty", b"", r"empty datagram"),
        ("header only, no newline", HEADER[:-1], r"missing newline"),
        ("header only", HEADER, r"empty body"),
        ("header and blank body", HEADER + b"  \r\n\t ", r"empty body"),
        ("no header line", real, r"missing newline"),
        ("document then newline", real + b"\n", r"header"),
        ("header not JSON", b"format json version 1 " + c.encode() + b"\n" + real, r"header: not valid JSON"),
        ("wrong format", b'{"format":"xml","version":1}\n' + real, r'"format" is not "json"'),
        ("wrong version", b'{"format":"json","version":2}\n' + real, r'"version" is not 1'),
        ("header array", b'["%s"]\n' % c.encode() + real, r"header: not a JSON object"),
        ("two documents", good_header_body + b"\n" + real, r"trailing data|not valid JSON"),
        ("body not an object", HEADER + b'["%s"]' % c.encode(), r"not a JSON object"),
        ("trailing garbage", good_header_body + b" " + c.encode(), r"trailing data|malformed number|not valid JSON"),
        ("NUL byte", good_header_body[:-2] + b"\x00" + good_header_body[-2:], r"NUL byte"),
        ("raw control byte in string", HEADER + real.replace(c.encode(), c.encode() + b"\x07"),
         r"control character"),
        ("\\u0000 in string", HEADER + real.replace(c.encode(), c.encode() + b"\\u0000"), r"\\u0000"),
        ("byte order mark", HEADER + b"\xef\xbb\xbf" + real, r"byte order mark"),
        ("overlong UTF-8", HEADER + real.replace(c.encode(), c.encode() + b"\xc0\xaf"), r"invalid UTF-8"),
        ("UTF-16 surrogate as UTF-8", HEADER + real.replace(c.encode(), c.encode() + b"\xed\xa0\x80"),
         r"invalid UTF-8"),
        ("stray continuation byte", HEADER + real.replace(c.encode(), c.encode() + b"\x80"), r"invalid UTF-8"),
        ("UTF-8 cut at the end", good_header_body + b"\xe2\x82", r"invalid UTF-8"),
        ("Latin-1 name", HEADER + real.replace(b'"robust"', b'"caf\xe9 ' + c.encode() + b'"'), r"invalid UTF-8"),
        ("deeply nested arrays", HEADER + b'{"a":' + b"[" * 30000 + c.encode() + b"]" * 30000 + b"}",
         r"not valid JSON"),
        ("deeply nested objects", HEADER + b'{"a":' * 10000 + b"1" + b"}" * 10000, r"not valid JSON"),
        ("number 1e400", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":1e400'), r"out of range"),
        ("number -1e400 start_time", HEADER + dumps(segment(start_time=1)).replace(
            b'"start_time":1', b'"start_time":-1e400'), r"out of range"),
        ("400-digit number", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":' + b"9" * 400),
         r"out of range|not valid JSON"),
        ("number 01", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":01'), r"malformed number"),
        ("number +1", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":+1'), r"malformed number"),
        ("number 1.", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":1.'), r"malformed number"),
        ("NaN", HEADER + dumps(segment(x=1)).replace(b'"x":1', b'"x":NaN'), r"not valid JSON"),
        ("id not hex", HEADER + dumps(segment(id="XYZ" + c)), r'"id"'),
        ("trace_id malformed", HEADER + dumps(segment(tid="1-" + c)), r'"trace_id"'),
        ("end before start", HEADER + dumps(segment(start_time=2e9, end_time=1e9, note=c)), r"before"),
        ("no end_time, not in progress", HEADER + dumps({"name": c, "id": hexid(16), "trace_id": trace_id(),
                                                         "start_time": 1.0}), r"in_progress"),
        ("empty name", HEADER + dumps(segment(name="")), r'"name" is empty'),
        ("201-character name", HEADER + dumps(segment(name="n" * 201)), r"longer than 200"),
        ("subsegment without parent_id", HEADER + dumps(segment(type="subsegment", note=c)), r"parent_id"),
        ("duplicate ids", HEADER + dumps(segment(id="00000000000000aa", subsegments=[
            {"name": c, "id": "00000000000000aa", "start_time": 1.0, "end_time": 2.0}])), r"duplicate id"),
        ("nested trace_id differs", HEADER + dumps(segment(subsegments=[
            {"name": c, "id": hexid(16), "trace_id": trace_id(), "start_time": 1.0, "end_time": 2.0}])),
         r"differs"),
        ("subsegments not an array", HEADER + dumps(segment(subsegments={"a": c})), r"not an array"),
        ("error not a boolean", HEADER + dumps(segment(error="yes " + c)), r"not a boolean"),
        ("65507 bytes of garbage", ((c.encode() + bytes(rng.randrange(256) for _ in range(987)))
                                    * 70)[:MAX_UDP], r"."),
        ("65507 bytes, invalid at the end", padded(HEADER, segment(annotations={"pad": c}))[:-1]
         + b"\x01", r"control character"),
    ]
    for cut in (1, 2, 10, 31, 40, 60, len(good_header_body) // 2, len(good_header_body) - 1):
        cases.append(("truncated at %d bytes" % cut, good_header_body[:cut],
                      r"missing newline|not valid JSON|empty body|header"))
    for i in range(5):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1500)))
        cases.append(("binary garbage %d" % i, blob + c.encode(), r"."))
    return cases


def t_bad_one_by_one():
    col = C
    rss0 = col.rss_kb()
    for label, data, want in bad_datagrams():
        check(len(data) <= MAX_UDP, "%s: test datagram too long (%d)" % (label, len(data)))
        n = col.lines()
        col.send(data)
        got = col.wait_line(n + 1)
        if not col.alive():
            check(False, "collector died at datagram %r (exit %s); stderr: %s"
                  % (label, col.proc.returncode, col.stderr()[-1500:]))
            return
        if not check(got == n + 1, "%s: no JSONL line for it" % label):
            continue
        rec = col.records()[n]
        if not check(set(rec) == {"invalid", "bytes"}, "%s: accepted, or not an invalid record" % label,
                     rec):
            continue
        STATS["invalid"] += 1
        check(rec["bytes"] == len(data), "%s: bytes %s, sent %d" % (label, rec["bytes"], len(data)), rec)
        check(re.search(want, rec["invalid"]) is not None,
              "%s: reason %r does not match %r" % (label, rec["invalid"], want), rec)
        check(all(0x20 <= ord(ch) < 0x7f for ch in rec["invalid"]) and rec["invalid"],
              "%s: reason is not printable ASCII" % label, rec)
    check(col.alive(), "collector died during the bad datagrams: %s" % col.stderr()[-2000:])
    out = H._read(col.jsonl) + col.stderr() + col.stdout()
    check(CANARY not in out, "a reason echoes raw input (canary %s found in the output)" % CANARY,
          [ln for ln in out.splitlines() if CANARY in ln][:5])
    rss1 = col.rss_kb()
    print("note: RSS %d kB before, %d kB after %d bad datagrams" % (rss0, rss1, STATS["invalid"]))
    check(rss1 < rss0 + 32 * 1024, "RSS grew by more than 32 MB (%d -> %d kB)" % (rss0, rss1))


def t_burst():
    col = C
    n0 = col.lines()
    rss0 = col.rss_kb()
    blobs = []
    for i in range(3000):
        kind = i % 4
        if kind == 0:
            blobs.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
        elif kind == 1:
            blobs.append(HEADER + b'{"name":"burst","id":"%d"' % i)
        elif kind == 2:
            blobs.append(b'{"format":"json","version":1}')
        else:
            blobs.append(HEADER + b"[" * 2000)
    t0 = time.monotonic()
    for b in blobs:
        col.send(b)
    sent_s = time.monotonic() - t0
    # Everything the kernel queued is handled; wait until the count stops moving.
    last, stable_since = -1, time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cur = col.lines()
        if cur != last:
            last, stable_since = cur, time.monotonic()
        elif time.monotonic() - stable_since > 1.0:
            break
        time.sleep(0.05)
    got = last - n0
    print("note: burst of %d bad datagrams sent in %.2f s; %d reached the collector "
          "(the kernel drops what its socket buffer cannot hold)" % (len(blobs), sent_s, got))
    check(col.alive(), "collector died during the burst: %s" % col.stderr()[-2000:])
    check(got > 0, "no datagram of the burst was handled")
    recs = col.records()[n0:]
    check(all(set(r) == {"invalid", "bytes"} for r in recs), "a burst datagram was accepted",
          [r for r in recs if set(r) != {"invalid", "bytes"}][:3])
    STATS["invalid"] += len(recs)
    rss1 = col.rss_kb()
    print("note: RSS %d kB before the burst, %d kB after" % (rss0, rss1))
    check(rss1 < rss0 + 32 * 1024, "RSS grew by more than 32 MB in the burst (%d -> %d kB)"
          % (rss0, rss1))


def nested(depth, tid):
    root = segment(tid=tid, name="deep")
    cur = root
    for i in range(depth):
        sub = {"name": "level-%d" % i, "id": hexid(16), "start_time": root["start_time"],
               "end_time": root["end_time"]}
        cur["subsegments"] = [sub]
        cur = sub
    return root


def t_valid_after():
    col = C
    n0 = col.lines()
    docs = []
    tid = trace_id()
    seg = segment(tid=tid, name="after-bad", http={"request": {"method": "GET", "url": "http://x/"},
                                                   "response": {"status": 200}})
    inprog = dict(seg)
    del inprog["end_time"]
    inprog["in_progress"] = True
    sub = {"name": "downstream", "id": hexid(16), "trace_id": tid, "parent_id": seg["id"],
           "type": "subsegment", "namespace": "remote", "start_time": seg["start_time"],
           "end_time": seg["end_time"]}
    docs += [inprog, sub, seg]
    for _ in range(20):
        docs.append(segment(name="plain", fault=False, error=True))
    docs.append(nested(200, trace_id()))
    big = segment(name="large", annotations={"pad": ""})
    padded(HEADER, big)
    docs.append(big)
    sent = []
    for d in docs:
        data = HEADER + dumps(d)
        check(len(data) <= MAX_UDP, "valid document too long: %d" % len(data))
        col.send(data)
        sent.append(d)
        time.sleep(0.002)
    got = H.wait_lines(col.jsonl, n0 + len(sent), timeout=10)
    check(got == n0 + len(sent), "valid documents after the bad ones: %d of %d collected"
          % (got - n0, len(sent)))
    recs = col.records()[n0:]
    for d, r in zip(sent, recs):
        check(r == d, "document %s (%s) not collected as sent" % (d["id"], d["name"]),
              {"sent": str(d)[:300], "got": str(r)[:300]})
    STATS["valid"] += len(recs)
    STATS["traces"] = len({d["trace_id"] for d in sent})
    STATS["valid_ids"] = [d["id"] for d in sent]
    STATS["tids"] = sorted({d["trace_id"] for d in sent})
    check(col.alive(), "collector died after the valid documents")


def t_stop_and_summary():
    col = C
    rc = col.stop()
    check(rc == 0, "collector exit status %s after SIGTERM" % rc, col.stderr()[-3000:])
    err = col.stderr()
    m = SUMMARY_RE.search(err)
    if not check(m is not None, "no summary line on stderr", err[-3000:]):
        return
    total, valid, invalid, traces = map(int, m.groups())
    recs = col.records()
    n_invalid = sum(1 for r in recs if set(r) == {"invalid", "bytes"})
    check(valid == STATS["valid"] and valid == len(recs) - n_invalid,
          "summary says %d valid, %d collected" % (valid, STATS["valid"]), m.group(0))
    check(invalid == n_invalid and invalid == STATS["invalid"],
          "summary says %d invalid, JSONL has %d, test counted %d"
          % (invalid, n_invalid, STATS["invalid"]), m.group(0))
    check(total == valid + invalid, "summary: %d datagrams != %d + %d" % (total, valid, invalid))
    check(traces == STATS["traces"], "summary says %d traces, %d were sent" % (traces, STATS["traces"]),
          m.group(0))
    check("1 valid datagrams over 64000 bytes" in err, "the 65 kB valid document is not flagged",
          err[-2000:])
    per_line = [ln for ln in err.splitlines() if "invalid datagram" in ln]
    check(len(per_line) == invalid, "%d 'invalid datagram' stderr lines for %d invalid"
          % (len(per_line), invalid))
    out = col.stdout()
    for tid in STATS["tids"]:
        check(("trace %s" % tid) in out, "no tree printed for trace %s" % tid)
    check("[depth 200]" in out, "the 200-level tree is not printed to its depth", out[-1500:])
    check(out.count("  [segment]") >= 22, "trees: fewer segment lines than segments sent")


def main():
    global C, S, STATS
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "collector_robust")
    S.require_build()
    STATS = {"invalid": 0, "valid": 0, "traces": 0}
    C = RobustCollector(S)
    H.scenario("bad datagrams, one at a time", t_bad_one_by_one)
    H.scenario("burst of bad datagrams", t_burst)
    H.scenario("valid documents afterwards", t_valid_after)
    H.scenario("stop: exit status, summary, trees", t_stop_and_summary)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
