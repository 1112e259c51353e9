#!/usr/bin/python3
"""Integration test: CPython's own test modules behave identically with and without the preload.

One module of Debian's libpython3.11-testsuite (test_socket, test_httplib,
test_urllib2_localnet, test_subprocess, test_signal, test_selectors) is run by regrtest
(`/usr/bin/python3 -m test -v --fail-env-changed <module>`) twice, at the same time: once
without the library, once under LD_PRELOAD with a collector, XRAY_AUTO_SAMPLING=all and
XRAY_AUTO_SEGMENT=process (every traced call is sent as it ends, the process segment at the
first call and at exit: the largest share of the library's work); the two HTTP modules, which
take seconds, are compared once more in the default call mode. regrtest runs in a small
driver that records every unittest result (per test id, subtests included: ok, skipped + the
reason, expected failure, unexpected success, FAIL, ERROR) as one JSON line, so the outcome of
each test id is read from the runner itself, not parsed out of output that the tests' own
prints may interleave. Asserted:

- the same test ids ran, each with the same outcome(s), and regrtest's verdict
  ("Tests result: ...", exit status, environment changes) is the same;
- the preloaded run really had the library mapped (its /proc/self/maps) and the run without
  did not; every collector line is a valid document; for the modules that do HTTP over real
  sockets (test_httplib, test_urllib2_localnet: local servers and clients in one process)
  `remote` subsegments and inbound-request segments were received.

The machine is a loaded 2-core VM and these suites have timing-sensitive tests: a difference
counts only if it reproduces. Each differing test id is run again on its own (regrtest
`-m <id>`; a subtest by its test, a class fixture by its class), RETRIES times each way, and is
a real difference only when the outcomes with the preload and without never coincide; the
output lists every id that was retried, its outcomes and the verdict. A difference of the whole
module (exit status, verdict, environment) must show again in a second pair of full runs.

Excluded: test_socket's ThreadedVSOCKSocketStreamTest. On this VM (a /dev/vsock guest whose
own CID refuses the connection) its client thread fails and the server side waits in accept()
forever, without the preload too (a CPython test bug: the test has no timeout); it also binds
the fixed VSOCK port 1234, which two concurrent runs cannot share.

Figures printed: wall time of each run both ways, its 3 slowest tests, tests compared, outcome
counts, documents.

Usage: test_cpython.py BUILD_DIR MODULE
Exit 0 pass, 1 fail, 77 skip (libpython3.11-testsuite not installed, or another Python).
XRAY_IT_CPYTHON_BUDGET (default 270 s) bounds the script below ctest's TIMEOUT of 300 s.
XRAY_IT_CPYTHON_PERTURB=/path/shim.so is appended to LD_PRELOAD in the preloaded runs: a
deliberately perturbing shim shows that the comparison fails (see the closing report).
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

MODULES = ("test_socket", "test_httplib", "test_urllib2_localnet", "test_subprocess",
           "test_signal", "test_selectors")
# Modules whose tests run local HTTP servers and clients over real sockets in one process.
HTTP_MODULES = ("test_httplib", "test_urllib2_localnet")
# regrtest --ignore patterns, per module (why: see the docstring).
IGNORE = {"test_socket": ["ThreadedVSOCKSocketStreamTest"]}
TESTSUITE_DIR = "/usr/lib/python3.11/test"
RETRIES = 3
# Up to this many differing test ids are rerun one process per id; more in one process.
SEPARATE_MAX = 6
BUDGET = float(os.environ.get("XRAY_IT_CPYTHON_BUDGET", "270"))
T0 = time.monotonic()

# Runs regrtest in this process after patching unittest's base TestResult to append one JSON
# line per result to argv[1] (opened and closed per line: no descriptor stays open for the
# tests to see). Only the first process writes: a test that forks a child running unittest
# code does not add lines.
DRIVER = r'''
import json, os, sys, time, unittest.result

_path = sys.argv.pop(1)
_pid = os.getpid()
_open, _write, _close, _now = os.open, os.write, os.close, time.monotonic

def _emit(rec):
    if os.getpid() != _pid:
        return
    rec["pid"] = _pid
    rec["t"] = _now()
    data = (json.dumps(rec) + "\n").encode("utf-8", "backslashreplace")
    fd = _open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        _write(fd, data)
    finally:
        _close(fd)

def _tid(test):
    try:
        return test.id()
    except Exception:
        return str(test)

def _err(err):
    try:
        return "%s: %s" % (err[0].__name__, str(err[1])[:300])
    except Exception:
        return "?"

def _wrap(name, make):
    orig = getattr(unittest.result.TestResult, name)
    def method(self, test, *args):
        try:
            rec = make(test, *args)
            if rec is not None:
                _emit(rec)
        except Exception:
            pass
        return orig(self, test, *args)
    setattr(unittest.result.TestResult, name, method)

_wrap("startTest", lambda t: {"ev": "start", "id": _tid(t)})
_wrap("addSuccess", lambda t: {"ev": "ok", "id": _tid(t)})
_wrap("addFailure", lambda t, e: {"ev": "FAIL", "id": _tid(t), "why": _err(e)})
_wrap("addError", lambda t, e: {"ev": "ERROR", "id": _tid(t), "why": _err(e)})
_wrap("addSkip", lambda t, r: {"ev": "skipped", "id": _tid(t), "why": str(r)})
_wrap("addExpectedFailure", lambda t, e: {"ev": "expected failure", "id": _tid(t)})
_wrap("addUnexpectedSuccess", lambda t: {"ev": "unexpected success", "id": _tid(t)})

def _sub(test, subtest, err):
    if err is None:
        ev = "ok"
    elif issubclass(err[0], test.failureException):
        ev = "FAIL"
    else:
        ev = "ERROR"
    return {"ev": ev, "id": _tid(subtest), "parent": _tid(test),
            "why": _err(err) if err is not None else ""}
_wrap("addSubTest", _sub)

try:
    with open("/proc/self/maps") as f:
        _maps = f.read()
except OSError:
    _maps = ""
_emit({"ev": "maps", "preloaded": "libxray-auto" in _maps})

from test.libregrtest import main
main()
'''

HEX = re.compile(r"0x[0-9a-fA-F]+")
PIDNAME = re.compile(r"(test_python_|@test_)\d+")


class Run:
    """One regrtest process (with or without the preload), started at once; finish() waits."""

    def __init__(self, S, label, preload, module, patterns, timeout):
        self.label = label
        self.preload = preload
        self.dir = tempfile.mkdtemp(prefix=label + "-", dir=S.tmp)
        # The tests' temporary files: a short path, so that test_socket's AF_UNIX tests fit
        # in sun_path (108 bytes) and run instead of skipping. Removed at exit.
        self.tmpdir = tempfile.mkdtemp(prefix="xrc", dir="/tmp")
        atexit.register(shutil.rmtree, self.tmpdir, True)
        self.events = os.path.join(self.dir, "events.jsonl")
        self.out_path = os.path.join(self.dir, "output.txt")
        self.collector = None
        env = S.base_env()
        env["TMPDIR"] = self.tmpdir
        if preload:
            self.collector = S.start_collector()
            env["LD_PRELOAD"] = S.lib
            shim = os.environ.get("XRAY_IT_CPYTHON_PERTURB")
            if shim:
                env["LD_PRELOAD"] += ":" + shim
            env["AWS_XRAY_DAEMON_ADDRESS"] = self.collector.address
            env["XRAY_AUTO_SAMPLING"] = "all"
            env["XRAY_AUTO_SEGMENT"] = S.mode
        args = ["-v", "--fail-env-changed", "--timeout", str(int(max(10, timeout - 5)))]
        for pat in IGNORE.get(module, []):
            args += ["-i", pat]
        for pat in patterns or []:
            args += ["-m", pat]
        self.cmd = [H.PYTHON, S.driver, self.events] + args + [module]
        self.timeout = timeout
        self.outf = open(self.out_path, "wb")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=self.outf,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                                     start_new_session=True, preexec_fn=H._die_with_parent)
        self.wall = None
        self.rc = None
        self.timed_out = False

    def finish(self):
        """Waits (at most the run's timeout from its start); reads the results."""
        left = max(0.0, self.timeout - (time.monotonic() - self.t0))
        try:
            self.rc = self.proc.wait(left)
        except subprocess.TimeoutExpired:
            self.timed_out = True
            self.proc.kill()
            self.rc = self.proc.wait()
        self.wall = time.monotonic() - self.t0
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything a test left behind
        except (ProcessLookupError, PermissionError):
            pass
        self.outf.close()
        with open(self.out_path, "r", encoding="utf-8", errors="replace") as f:
            self.output = f.read()
        self.docs, self.bad = [], []
        if self.collector is not None:
            time.sleep(0.5)  # the last datagrams of the exiting processes
            self.collector.stop()
            self.docs, self.bad = self.collector.docs()
        self._read_events()
        return self

    def _norm(self, text):
        """Ids and skip reasons without what differs from run to run: addresses, the run's
        directories, regrtest's per-process names (test_python_<pid>, @test_<pid>_tmp)."""
        text = text.replace(self.tmpdir, "<tmp>").replace(self.dir, "<rundir>")
        return PIDNAME.sub(r"\1<pid>", HEX.sub("0x?", text))

    def _read_events(self):
        self.outcomes = {}   # id -> list of outcome strings
        self.pattern = {}    # id -> regrtest -m pattern that reruns it
        self.why = {}        # id -> first failure/error text
        self.maps_preloaded = None
        self.seconds = {}    # test id -> seconds from its start to its last result
        started = {}
        for rec in read_events(self.events):
            ev = rec.get("ev")
            if ev == "maps":
                self.maps_preloaded = rec.get("preloaded")
                continue
            tid = self._norm(rec.get("id", "?"))
            if "parent" not in rec and "t" in rec:
                if ev == "start":
                    started[tid] = rec["t"]
                elif tid in started:
                    self.seconds[tid] = rec["t"] - started[tid]
            if ev == "start":
                self.outcomes.setdefault(tid, [])
                self.pattern.setdefault(tid, rerun_pattern(rec.get("id", "?")))
                continue
            outcome = ev
            if ev == "skipped":
                outcome = "skipped: " + self._norm(rec.get("why", ""))
            self.outcomes.setdefault(tid, []).append(outcome)
            self.pattern.setdefault(tid, rerun_pattern(rec.get("parent") or rec.get("id", "?")))
            if ev in ("FAIL", "ERROR") and tid not in self.why:
                self.why[tid] = self._norm(rec.get("why", ""))

    def outcome(self, tid):
        """The outcome(s) of one id as a comparable string ("absent": not run at all)."""
        if tid not in self.outcomes:
            return "absent"
        return " + ".join(self.outcomes[tid]) or "no result"

    def verdict(self):
        """regrtest's verdict of the module: exit status, "Tests result" line, env changes."""
        m = re.findall(r"Tests result: ([A-Z_ ,]+)", self.output)
        env = "env changed" if re.search(r"failed \(env changed\)", self.output) else ""
        rc = "timeout" if self.timed_out else self.rc
        return "exit %s, result %s%s" % (rc, m[-1].strip() if m else "none",
                                         ", " + env if env else "")

    def slowest(self, n=3):
        top = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:n]
        return ", ".join("%s %.1f s" % (t.rsplit(".", 2)[-2] + "." + t.rsplit(".", 1)[-1]
                                         if t.count(".") >= 2 else t, sec) for t, sec in top)

    def tally(self):
        t = {}
        for tid in self.outcomes:
            k = self.outcome(tid).split(":")[0]
            t[k] = t.get(k, 0) + 1
        return ", ".join("%d %s" % (n, k) for k, n in sorted(t.items()))


def read_events(path):
    """The driver's JSON lines; a line cut short by a killed run is left out."""
    out = []
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


def rerun_pattern(tid):
    """regrtest -m pattern running the test that produced this id: a test method's full id is
    matched exactly; "setUpClass (test.test_x.Cls)" needs its class; a module fixture the
    whole module (None)."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.+)\)$", tid)
    if m:
        return m.group(2) + ".*"
    if re.match(r"^(setUpModule|tearDownModule) \(", tid):
        return None
    return tid.split(" ", 1)[0]


def left():
    return BUDGET - (time.monotonic() - T0)


def run_pair(S, module, tag, patterns=None, timeout=None):
    """Runs the module (or the patterns) without and with the preload at the same time."""
    timeout = timeout if timeout is not None else max(10.0, left() - 5)
    base = Run(S, "%s-without" % tag, False, module, patterns, timeout)
    pre = Run(S, "%s-with" % tag, True, module, patterns, timeout)
    base.finish()
    pre.finish()
    return base, pre


def differing(base, pre):
    ids = sorted(set(base.outcomes) | set(pre.outcomes))
    return [t for t in ids if base.outcome(t) != pre.outcome(t)]


def check_docs(module, pre):
    """The collector saw the traced work: valid documents; HTTP modules: both directions."""
    for line in pre.bad:
        check(False, "%s: collector line is not a valid document" % module, line)
    recs = H.flatten(pre.docs)
    remote = [r for r in recs if r["sub"].get("namespace") == "remote"
              and H.get(r["sub"], "http", "request", "url")]
    inbound = [d for d in H.segments(pre.docs) if H.get(d, "http", "request", "method")]
    print("documents with the preload: %d (%d remote HTTP subsegments, %d inbound-request "
          "segments)" % (len(pre.docs), len(remote), len(inbound)))
    if module in HTTP_MODULES:
        check(len(remote) >= 1, "%s: no remote HTTP subsegment received: the comparison would "
              "prove nothing about the sockets layer" % module)
        check(len(inbound) >= 1, "%s: no inbound-request segment received: the comparison "
              "would prove nothing about the server side" % module)


def show_diff(base, pre, ids, limit=40):
    for t in ids[:limit]:
        print("  %s\n      without: %s%s\n      with:    %s%s"
              % (t, base.outcome(t), (" (" + base.why[t] + ")") if t in base.why else "",
                 pre.outcome(t), (" (" + pre.why[t] + ")") if t in pre.why else ""))
    if len(ids) > limit:
        print("  ... and %d more" % (len(ids) - limit))


def retry_ids(S, module, ids, first_base, first_pre):
    """Reruns each id RETRIES times both ways; returns the ids whose outcomes with and without
    the preload never coincide (real differences) and those not retried (no time)."""
    groups = {}
    for t in ids:
        pat = first_pre.pattern.get(t) or first_base.pattern.get(t)
        groups.setdefault(pat, []).append(t)
    if None in groups:
        # a module fixture: only a whole-module run can repeat it
        print("retry: %s need the whole module" % ", ".join(groups[None]))
    seen = {t: ([], []) for t in ids}  # id -> (outcomes without, outcomes with)
    batches = [[p] for p in groups] if len(groups) <= SEPARATE_MAX else [list(groups)]
    not_retried = []
    for rep in range(RETRIES):
        for batch in batches:
            pats = [p for p in batch if p is not None]
            est = 60.0 if not pats else 30.0
            if left() < est:
                not_retried.extend(t for p in batch for t in groups[p])
                continue
            b, p = run_pair(S, module, "retry%d" % rep, pats or None,
                            timeout=min(left() - 5, 200.0))
            for pat in batch:
                for t in groups[pat]:
                    seen[t][0].append(b.outcome(t))
                    seen[t][1].append(p.outcome(t))
    real = []
    for t in ids:
        wo, wi = seen[t]
        if not wo or not wi:
            continue
        same = set(wo) & set(wi)
        verdict = "not reproduced (flaky)" if same else "REPRODUCED"
        print("retried %s\n      first run: without %s | with %s\n      reruns without: %s\n"
              "      reruns with:    %s\n      -> %s"
              % (t, first_base.outcome(t), first_pre.outcome(t), "; ".join(wo), "; ".join(wi),
                 verdict))
        if not same:
            real.append(t)
    not_retried = sorted(set(t for t in not_retried if not seen[t][0] or not seen[t][1]))
    return real, not_retried


def compare(S, module):
    """One comparison of the module without and with the preload, in the mode S.mode."""
    H._scenario = "%s mode" % S.mode  # names the mode in every failure line
    print("== %s: without and with the preload (XRAY_AUTO_SEGMENT=%s, sampling all)"
          % (module, S.mode))
    sys.stdout.flush()
    base, pre = run_pair(S, module, "full", timeout=min(200.0, left() - 20))
    print("wall time: without %.1f s, with %.1f s (run at the same time)"
          % (base.wall, pre.wall))
    print("without: %s; %d test ids: %s" % (base.verdict(), len(base.outcomes), base.tally()))
    print("with:    %s; %d test ids: %s" % (pre.verdict(), len(pre.outcomes), pre.tally()))
    print("slowest without: %s\nslowest with:    %s" % (base.slowest(), pre.slowest()))
    check(base.maps_preloaded is False, "%s: the run without the preload did not start or had "
          "the library mapped" % module, base.output[-3000:])
    check(pre.maps_preloaded is True, "%s: the preloaded run did not have libxray-auto.so "
          "mapped" % module, pre.output[-3000:])
    check(not base.timed_out and len(base.outcomes) > 0, "%s: the run without the preload "
          "ran no test or timed out (%s)" % (module, base.verdict()), base.output[-3000:])
    check_docs(module, pre)

    diff = differing(base, pre)
    module_diff = base.verdict() != pre.verdict()
    # a verdict that differs only because of differing tests is judged by those tests
    only_tests = module_diff and diff and not base.timed_out and not pre.timed_out \
        and (base.rc in (0, 2)) and (pre.rc in (0, 2)) \
        and "env changed" not in base.verdict() + pre.verdict()
    if not diff and not module_diff:
        check(True, "")
        print("identical: %d test ids, same outcomes, same verdict" % len(base.outcomes))
    if module_diff and not only_tests:
        print("module verdict differs: without [%s], with [%s]; running the module again both "
              "ways" % (base.verdict(), pre.verdict()))
        if left() < 60:
            check(False, "%s: verdict differs (without [%s], with [%s]) and no time is left to "
                  "see whether it reproduces" % (module, base.verdict(), pre.verdict()),
                  pre.output[-3000:])
        else:
            b2, p2 = run_pair(S, module, "full2", timeout=min(200.0, left() - 10))
            print("second pair: without [%s], with [%s]" % (b2.verdict(), p2.verdict()))
            check(b2.verdict() == p2.verdict(), "%s: the module's verdict differs with the "
                  "preload, twice: without [%s] / [%s], with [%s] / [%s]"
                  % (module, base.verdict(), b2.verdict(), pre.verdict(), p2.verdict()),
                  {"with": pre.output[-3000:], "without": base.output[-1500:]})
            diff = [t for t in diff if b2.outcome(t) != p2.outcome(t)]
            print("%d test id(s) still differ in the second pair" % len(diff))
    if diff:
        print("%d test id(s) differ in the first run:" % len(diff))
        show_diff(base, pre, diff)
        real, not_retried = retry_ids(S, module, diff, base, pre)
        for t in real:
            check(False, "%s: %s differs with the preload in every rerun (without: %s, with: "
                  "%s)" % (module, t, base.outcome(t), pre.outcome(t)))
        for t in not_retried:
            check(False, "%s: %s differs (without: %s, with: %s) and could not be rerun "
                  "within the time budget" % (module, t, base.outcome(t), pre.outcome(t)))
        if not real and not not_retried:
            check(True, "")
            print("no difference reproduced: %d id(s) retried, all flaky" % len(diff))
    print("compared: %d test ids; wall time without %.1f s, with %.1f s; script %.1f s"
          % (len(base.outcomes), base.wall, pre.wall, time.monotonic() - T0))


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in MODULES:
        print("usage: %s BUILD_DIR {%s}" % (sys.argv[0], "|".join(MODULES)))
        return 2
    module = sys.argv[2]
    if not os.path.isfile(os.path.join(TESTSUITE_DIR, module + ".py")) \
            or not os.path.isfile(os.path.join(TESTSUITE_DIR, "libregrtest", "main.py")):
        H.skip("%s/%s.py is missing: install Debian's libpython3.11-testsuite "
               "(scripts/deps.sh, XR_NET_PACKAGES)" % (TESTSUITE_DIR, module))
    ver = subprocess.run([H.PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    if ver != "3.11":
        H.skip("%s is Python %s; the installed testsuite is 3.11's" % (H.PYTHON, ver))
    S = H.Session(sys.argv[1], "cpython-" + module)
    S.require_build()
    S.driver = os.path.join(S.tmp, "driver", "regrtest_driver.py")
    os.mkdir(os.path.dirname(S.driver))
    with open(S.driver, "w") as f:
        f.write(DRIVER)

    # process mode everywhere (the most work per call); the HTTP modules, quick, also in the
    # default call mode
    for mode in ["process"] + (["call"] if module in HTTP_MODULES else []):
        S.mode = mode
        compare(S, module)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
