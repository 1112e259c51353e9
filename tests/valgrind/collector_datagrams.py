#!/usr/bin/python3
"""The xray-auto tool as a process, for the memory checkers: `collect` fed valid, malformed,
truncated and oversized datagrams, `run --collect` around a traced program, and `doctor` on
good and broken files.  Standard library only (and tests/integration/harness.py).

    collector_datagrams.py XRAY_AUTO [--wrap CMD...]        exit 0 pass, 1 fail

Run by sanitize.collector (cmake/sanitize.cmake: the ASan/UBSan build of the tool, whose
reports the sanitize.unit driver collects) and imported by tests/integration/test_valgrind.py
(the tool under valgrind: `exercise(tool, wrap=[valgrind, ...])`).

What it asserts: one JSONL line per datagram (a document for each valid one, {"invalid": ...}
for every other), the valid ones byte-for-byte the documents sent, trees printed for the
finished traces, exit 0 and the summary line after SIGTERM; `run --collect` keeps the
program's exit status and collects its document; `doctor` exits 0/1/2 as documented and is
never killed by a signal.  `run` needs a normal build's libxray-auto.so and curl_client:
the directory in $XR_MAIN_BUILD (sanitize.unit sets it) or --main-build DIR; without them that
part is left out (printed).
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "integration"))
from harness import _read, free_port  # noqa: E402

HDR = b'{"format":"json","version":1}\n'
LISTEN_RE = re.compile(r"listening on udp [0-9.]+:(\d+)")


def _tid(n):
    return "1-%08x-%024x" % (int(time.time()), n)


def _id(n):
    return "%016x" % n


def valid_documents():
    """(label, document) pairs the collector must accept as they are."""
    now = time.time()
    t1, t2, t3 = _tid(0xa1), _tid(0xb2), _tid(0xc3)
    seg_a = {"name": "svc-a", "id": _id(1), "trace_id": t1, "start_time": now - 1,
             "end_time": now, "http": {"request": {"method": "GET", "url": "http://x/"},
                                       "response": {"status": 200}},
             "subsegments": [{"name": "db@h", "id": _id(2), "start_time": now - 0.9,
                              "end_time": now - 0.5, "namespace": "remote",
                              "sql": {"sanitized_query": "SELECT ?"},
                              "subsegments": [{"name": "inner", "id": _id(3),
                                               "start_time": now - 0.8,
                                               "end_time": now - 0.7}]}]}
    seg_b_open = {"name": "svc-b", "id": _id(4), "trace_id": t2, "start_time": now - 2,
                  "in_progress": True}
    sub_b = {"type": "subsegment", "name": "remote-b", "id": _id(5), "trace_id": t2,
             "parent_id": _id(4), "start_time": now - 1.5, "end_time": now - 1.4,
             "fault": True, "cause": {"exceptions": [{"id": _id(6), "type": "CURLE_X",
                                                      "message": "m",
                                                      "stack": [{"path": "/p", "label": "f"}]}]}}
    seg_b = dict(seg_b_open, end_time=now)
    del seg_b["in_progress"]
    # Near the 64 kB warning threshold: valid, counted as large.
    big = {"name": "svc-big", "id": _id(7), "trace_id": t3, "start_time": now - 1,
           "end_time": now, "metadata": {"pad": {"x": "y" * 64500}}}
    unicode_doc = {"name": "caf\u00e9 \u00fc\u00df", "id": _id(8), "trace_id": _tid(0xd4),
                   "start_time": now - 1, "end_time": now,
                   "annotations": {"k": "\u2603 snow \U0001f600"}}
    docs = [("segment with nested subsegments", seg_a), ("in-progress segment", seg_b_open),
            ("independent subsegment", sub_b), ("completed segment", seg_b),
            ("large document", big), ("UTF-8 names", unicode_doc)]
    return [(lbl, _microseconds(d)) for lbl, d in docs]


def _microseconds(v):
    """Times to whole microseconds, as X-Ray documents carry them. The collector prints
    numbers with cJSON, which writes 15 significant digits whenever they read back within
    DBL_EPSILON of the value: a time like now - 0.9 (17 digits) then comes back one unit
    of its last digit off, about one run in 13. A time of 6 decimals either has 15
    digits or differs from its 15-digit form by 1e-6 or more, so it is written exactly."""
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _microseconds(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_microseconds(x) for x in v]
    return v


def invalid_datagrams():
    """(label, bytes) pairs the collector must reject (one {"invalid": ...} line each)."""
    good = HDR + json.dumps(valid_documents()[0][1]).encode()
    rnd = random.Random(1234)
    out = [
        ("empty", b""),
        ("header only", HDR),
        ("no newline", b'{"format":"json","version":1}'),
        ("header not JSON", b'{"format":json\n{}'),
        ("wrong header", b'{"format":"xml","version":1}\n{}'),
        ("body not JSON", HDR + b"not json"),
        ("truncated document", good[:len(good) // 2]),
        ("truncated header", good[:10]),
        ("trailing garbage", good + b"}}]]"),
        ("two documents", good + b"\n" + good[len(HDR):]),
        ("NUL byte", HDR + b'{"name":"a\x00b"}'),
        ("invalid UTF-8", HDR + b'{"name":"\xc3\x28","id":"0000000000000001"}'),
        ("overlong UTF-8", HDR + b'{"name":"\xc0\xaf"}'),
        ("surrogate escape", HDR + b'{"name":"\\ud800","id":"0000000000000001"}'),
        ("raw control character", HDR + b'{"name":"a\x01b"}'),
        ("missing fields", HDR + b'{"name":"x"}'),
        ("bad ids", HDR + json.dumps({"name": "x", "id": "XYZ", "trace_id": "1-2-3",
                                      "start_time": 1, "end_time": 2}).encode()),
        ("huge number", HDR + b'{"name":"x","id":"0000000000000001","trace_id":"'
         + _tid(1).encode() + b'","start_time":1e999,"end_time":2}'),
        ("deep nesting", HDR + b"[" * 20000 + b"]" * 20000),
        ("deep objects", HDR + b'{"a":' * 5000 + b"1" + b"}" * 5000),
        ("array body", HDR + b"[1,2,3]"),
        ("subsegment without parent", HDR + json.dumps(
            {"type": "subsegment", "name": "s", "id": _id(9), "trace_id": _tid(9),
             "start_time": 1, "end_time": 2}).encode()),
        ("BOM", b"\xef\xbb\xbf" + good),
        ("oversized garbage", bytes(rnd.getrandbits(8) for _ in range(65507))),
        ("oversized document", (HDR + json.dumps(
            {"name": "x", "id": _id(10), "trace_id": _tid(10), "start_time": 1,
             "end_time": 2, "metadata": {"p": "z" * 65600}}).encode())[:65507]),
    ]
    for i in range(20):
        n = rnd.randrange(1, 600)
        out.append(("random bytes #%d" % i, HDR + bytes(rnd.getrandbits(8) for _ in range(n))))
    for i in range(10):  # a valid datagram cut at a random point
        out.append(("random cut #%d" % i, good[:rnd.randrange(1, len(good) - 1)]))
    return out


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, cond, msg):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: %s" % msg)
            sys.stdout.flush()
        return cond


def _lines(path):
    return [ln for ln in _read(path).split("\n") if ln.strip()]


def _wait(cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _env():
    e = {k: v for k, v in os.environ.items()
         if k != "LD_PRELOAD" and not k.startswith(("AWS_XRAY_", "XRAY_AUTO_", "_X_AMZN"))}
    e["LC_ALL"] = "C"
    return e


def exercise_collect(check, tool, wrap, tmp, timeout):
    """Returns the collector's wrapped pid's exit status (None when it did not start)."""
    jsonl = os.path.join(tmp, "collect.jsonl")
    err = os.path.join(tmp, "collect.stderr")
    out = os.path.join(tmp, "collect.stdout")
    with open(err, "wb") as ef, open(out, "wb") as of:
        p = subprocess.Popen(wrap + [tool, "collect", "--listen", "127.0.0.1:0", "--jsonl", jsonl],
                             stdin=subprocess.DEVNULL, stdout=of, stderr=ef, env=_env())
    try:
        if not check(_wait(lambda: LISTEN_RE.search(_read(err)) or p.poll() is not None,
                           timeout) and LISTEN_RE.search(_read(err)),
                     "collect: no 'listening on' line (exit %s): %s" % (p.poll(), _read(err))):
            return None
        port = int(LISTEN_RE.search(_read(err)).group(1))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        valid = valid_documents()
        invalid = invalid_datagrams()
        sent = []  # (label, kind, document or None)
        # Interleaved, one at a time: a slow (instrumented) receiver must not lose any to a
        # full socket buffer (two 64 kB datagrams already fill much of it).
        plan = [(lbl, "valid", HDR + json.dumps(d).encode(), d) for lbl, d in valid]
        plan += [(lbl, "invalid", b, None) for lbl, b in invalid]
        random.Random(7).shuffle(plan)
        for lbl, kind, data, doc in plan:
            try:
                sock.sendto(data, ("127.0.0.1", port))
            except OSError as e:
                check(False, "collect: sending %s (%d bytes) failed: %s" % (lbl, len(data), e))
                continue
            sent.append((lbl, kind, doc))
            n = len(sent)
            _wait(lambda: len(_lines(jsonl)) >= n, timeout)
        sock.close()
        check(_wait(lambda: len(_lines(jsonl)) >= len(sent), timeout),
              "collect: %d JSONL lines for %d datagrams" % (len(_lines(jsonl)), len(sent)))
        lines = _lines(jsonl)
        records = []
        for ln in lines:
            try:
                records.append(json.loads(ln))
            except ValueError:
                check(False, "collect: JSONL line is not JSON: %r" % ln[:200])
        got_valid = [r for r in records if "invalid" not in r]
        got_invalid = [r for r in records if "invalid" in r]
        want_valid = [d for _, k, d in sent if k == "valid"]
        check(len(got_invalid) == len(sent) - len(want_valid),
              "collect: %d datagrams rejected, expected %d"
              % (len(got_invalid), len(sent) - len(want_valid)))
        key = lambda d: json.dumps(d, sort_keys=True)  # noqa: E731
        check(sorted(map(key, got_valid)) == sorted(map(key, want_valid)),
              "collect: the accepted documents differ from the valid ones sent "
              "(%d accepted, %d sent)" % (len(got_valid), len(want_valid)))
        for r in got_invalid:
            check(isinstance(r.get("invalid"), str) and r["invalid"]
                  and isinstance(r.get("bytes"), int), "collect: malformed rejection line %r" % r)
        # Trees: trace A is complete at once, trace B once its segment completed.
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
            check(False, "collect: still running %ss after SIGTERM" % timeout)
        check(rc == 0, "collect: exit %s after SIGTERM; stderr: %s" % (rc, _read(err)[-2000:]))
        m = re.search(r"(\d+) datagrams, (\d+) valid, (\d+) invalid", _read(err))
        check(m is not None and int(m.group(1)) == len(sent)
              and int(m.group(2)) == len(want_valid),
              "collect: summary line says %r, sent %d (%d valid)"
              % (m.group(0) if m else None, len(sent), len(want_valid)))
        trees = _read(out)
        for name in ("svc-a", "svc-b", "db@h", "remote-b"):
            check(name in trees, "collect: the printed trees lack %r:\n%s" % (name, trees[-2000:]))
        print("collect: %d datagrams (%d valid, %d invalid), exit %s"
              % (len(sent), len(want_valid), len(sent) - len(want_valid), rc))
        return rc
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def exercise_run(check, tool, wrap, tmp, main_build, timeout):
    lib = os.path.join(main_build or "", "libxray-auto.so")
    client = os.path.join(main_build or "", "curl_client")
    if not main_build or not (os.path.exists(lib) and os.access(client, os.X_OK)):
        print("run --collect: left out (no libxray-auto.so and curl_client: set XR_MAIN_BUILD "
              "or --main-build)")
        return
    url = "http://127.0.0.1:%d/refused" % free_port()
    base = subprocess.run([client, url], stdin=subprocess.DEVNULL, capture_output=True,
                          env=_env(), timeout=timeout)
    jsonl = os.path.join(tmp, "run.jsonl")
    env = dict(_env(), XRAY_AUTO_LIBRARY=lib, XRAY_AUTO_SAMPLING="all")
    res = subprocess.run(wrap + [tool, "run", "--collect", "--quiet", "--jsonl", jsonl, "--",
                                 client, url], stdin=subprocess.DEVNULL, capture_output=True,
                         env=env, timeout=timeout)
    check(res.returncode == base.returncode,
          "run --collect: exit %s, the program alone exits %s; stderr: %s"
          % (res.returncode, base.returncode, res.stderr[-2000:]))
    check(res.stdout == base.stdout, "run --collect: stdout %r differs from %r"
          % (res.stdout, base.stdout))
    docs = [json.loads(ln) for ln in _lines(jsonl)]
    check(len(docs) == 1 and "invalid" not in docs[0]
          and (docs[0].get("subsegments") or [{}])[0].get("fault") is True,
          "run --collect: expected one document with the refused transfer's fault, got %r"
          % docs)
    print("run --collect: exit %s, %d document(s)" % (res.returncode, len(docs)))


def exercise_doctor(check, tool, wrap, tmp, main_build, timeout):
    true = shutil.which("true") or "/bin/true"
    trunc = os.path.join(tmp, "truncated")
    with open(true, "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[:3000])
    corrupt = os.path.join(tmp, "corrupt")
    rnd = random.Random(99)
    blob = bytearray(data)
    for _ in range(200):  # flip bytes in the headers and tables
        blob[rnd.randrange(0, min(len(blob), 8192))] = rnd.getrandbits(8)
    blob[:4] = b"\x7fELF"
    with open(corrupt, "wb") as f:
        f.write(bytes(blob))
    script = os.path.join(tmp, "script.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o755)
    lib = os.path.join(main_build or "", "libxray-auto.so")
    libargs = ["--lib", lib] if main_build and os.path.exists(lib) else []
    cases = [([true], {0, 1}), (["--json", "-v", true], {0, 1}), ([trunc], {2}),
             ([corrupt], {0, 1, 2}), ([script], {0, 1}), ([os.path.join(tmp, "absent")], {2})]
    curl = shutil.which("curl")
    if curl:
        cases.append((["-v", curl], {0}))
    for args, ok in cases:
        res = subprocess.run(wrap + [tool, "doctor"] + libargs + args, stdin=subprocess.DEVNULL,
                             capture_output=True, env=_env(), timeout=timeout)
        check(res.returncode in ok, "doctor %s: exit %s, expected one of %s; stderr: %s"
              % (" ".join(args), res.returncode, sorted(ok), res.stderr[-1500:]))
    print("doctor: %d files" % len(cases))


def exercise(tool, wrap=None, main_build=None, timeout=30.0):
    """Runs every part; returns (passed, failed)."""
    check = Checker()
    wrap = list(wrap or [])
    tmp = tempfile.mkdtemp(prefix="xray-collector-")
    try:
        exercise_collect(check, tool, wrap, tmp, timeout)
        exercise_run(check, tool, wrap, tmp, main_build, timeout * 2)
        exercise_doctor(check, tool, wrap, tmp, main_build, timeout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.passed, check.failed


def main(argv):
    args = list(argv[1:])
    main_build = os.environ.get("XR_MAIN_BUILD")
    wrap = []
    if "--main-build" in args:
        i = args.index("--main-build")
        main_build = args[i + 1]
        del args[i:i + 2]
    if "--wrap" in args:
        i = args.index("--wrap")
        wrap = args[i + 1:]
        del args[i:]
    if len(args) != 1:
        print(__doc__.split("\n\n")[1])
        return 2
    passed, failed = exercise(os.path.abspath(args[0]), wrap, main_build)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
