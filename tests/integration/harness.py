"""Shared helpers for the libxray-auto integration tests (Python 3 standard library only).

A test script does:

    import harness as H
    s = H.Session(build_dir, "curl_cli")       # temp dir, cleanup at exit
    srv = s.start_httpd()                      # tests/integration/httpd.py
    res = s.run(["curl", "-s", srv.url("/ok")], expect_docs=1)
    H.verify_transfers(res, program="curl", url_prefix=srv.base)
    sys.exit(H.summary())

`Session.run` starts a fresh collector (`xray-auto collect`) for the command,
runs the command under LD_PRELOAD, waits for the expected number of JSONL lines,
stops the collector and returns a `Result` with the documents, the flattened
subsegment records and the httpd requests that arrived during the run.

Everything a helper starts is stopped by `Session.close()` (registered with
atexit, also run on SIGTERM/SIGINT); the temp directory is removed then.
"""

import atexit
import base64
import ctypes
import json
import os
import re
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
SKIP = 77

HEX16 = re.compile(r"^[0-9a-f]{16}$")
TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
SDK_NAME = "libxray-auto"

# A program-set trace header and an inherited (Lambda-style) context used by several tests.
PROGRAM_TRACE_HEADER = "Root=1-00000000-000000000000000000000001;Parent=0000000000000001;Sampled=1"
INHERITED_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
INHERITED_PARENT = "53995c3f42cd8ad8"

# Time tolerance (seconds) for comparing document times with the test's wall clock.
TIME_SLACK = 0.05

# ctest kills a script after 120 s (TIMEOUT in CMakeLists.txt); scenarios not started within
# this budget are reported as failed so that the script still prints its summary line.
TIME_BUDGET = float(os.environ.get("XRAY_IT_TIME_BUDGET", "95"))
_T_START = time.monotonic()


class HarnessError(Exception):
    """The harness itself could not do its job (e.g. the collector did not start)."""


# ---------------------------------------------------------------------------------------------
# check() and the summary line
# ---------------------------------------------------------------------------------------------
_passed = 0
_failed = 0
_scenario = ""


def _fmt_doc(doc):
    if isinstance(doc, str):
        return doc.rstrip("\n").replace("\n", "\n                ")
    try:
        return json.dumps(doc, sort_keys=True)
    except (TypeError, ValueError):
        return repr(doc)


def check(cond, msg, doc=None):
    """Counts one assertion; prints it (and the document it concerns) when it fails."""
    global _passed, _failed
    if cond:
        _passed += 1
        return True
    _failed += 1
    prefix = "[%s] " % _scenario if _scenario else ""
    print("FAIL: %s%s" % (prefix, msg))
    if doc is not None:
        text = _fmt_doc(doc)
        if len(text) > 4000:
            text = text[:4000] + "...(truncated)"
        print("      document: %s" % text)
    sys.stdout.flush()
    return False


def scenario(name, fn, *args, **kwargs):
    """Runs one scenario; an exception counts as one failed assertion, the script goes on."""
    global _scenario
    _scenario = name
    print("== %s" % name)
    sys.stdout.flush()
    try:
        if time.monotonic() - _T_START > TIME_BUDGET:
            check(False, "not run: the script's time budget (%.0f s) is used up" % TIME_BUDGET)
            return
        fn(*args, **kwargs)
    except HarnessError as e:
        check(False, "harness: %s" % e)
    except Exception as e:  # noqa: BLE001 - report and continue with the next scenario
        check(False, "scenario raised %s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))
    finally:
        _scenario = ""


def summary():
    """Prints `N passed, M failed` and returns the process exit code (0 or 1)."""
    print("%d passed, %d failed" % (_passed, _failed))
    sys.stdout.flush()
    return 0 if _failed == 0 and _passed > 0 else 1


def skip(reason):
    print("SKIP: %s" % reason)
    sys.stdout.flush()
    sys.exit(SKIP)


def counts():
    return _passed, _failed


# ---------------------------------------------------------------------------------------------
# process helpers
# ---------------------------------------------------------------------------------------------
def _die_with_parent():
    """preexec_fn: the helper process gets SIGTERM if the test script dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


def _stop_process(p, sig=signal.SIGTERM, timeout=5.0, group=False):
    if p is None or p.poll() is not None:
        return p.returncode if p is not None else None
    try:
        if group:
            os.killpg(p.pid, sig)
        else:
            p.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            if group:
                os.killpg(p.pid, signal.SIGKILL)
            else:
                p.kill()
        except (ProcessLookupError, PermissionError):
            pass
        return p.wait()


def free_port():
    """A TCP port on 127.0.0.1 with nothing listening (bound, then closed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def which(prog):
    return shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/bin:/bin")


def enter_namespaces(mark, kinds, why_root, needs=None):
    """Runs this script (sys.argv) inside new namespaces of `kinds` (unshare options, e.g.
    ["--mount", "--net"]) with private mount propagation.  Outside them (the variable `mark`
    is not "1"): skips (77) when not root (the reason printed is "needs root: " + why_root),
    without unshare, or when this kernel or container does not permit them; then calls
    needs() (which skips when something else the script needs is missing), and replaces
    this process with the script run by PYTHON under unshare, `mark` set to "1".  Inside:
    returns at once."""
    if os.environ.get(mark) == "1":
        return
    if os.geteuid() != 0:
        skip("needs root: " + why_root)
    unshare = which("unshare")
    if not unshare:
        skip("unshare (util-linux) is not installed")
    ns = [unshare] + list(kinds) + ["--propagation", "private"]
    p = subprocess.run(ns + ["true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        skip("unshare %s is not permitted here: %s"
             % (" ".join(kinds), p.stdout.decode(errors="replace").strip()))
    if needs is not None:
        needs()
    sys.stdout.flush()
    os.environ[mark] = "1"
    os.execv(unshare, ns + [PYTHON, os.path.abspath(sys.argv[0])] + sys.argv[1:])


def count_lines(path):
    """Number of complete (newline-terminated) lines in a file; 0 if it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_lines(path, n, timeout=5.0, interval=0.05):
    """Waits until `path` has at least n lines or the timeout elapses; returns the line count."""
    deadline = time.monotonic() + timeout
    while True:
        c = count_lines(path)
        if c >= n or time.monotonic() >= deadline:
            return c
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------
def _as_document(obj):
    """A collector JSONL line is the document body itself; tolerate a wrapper object or the raw
    datagram text (`<header JSON>\\n<document JSON>`) in case the collector records those."""
    if isinstance(obj, str):
        text = obj
        if "\n" in text:
            text = text.split("\n", 1)[1]
        try:
            return _as_document(json.loads(text))
        except ValueError:
            return None
    if not isinstance(obj, dict):
        return None
    if "id" in obj or "trace_id" in obj or "name" in obj:
        return obj
    for key in ("doc", "document", "segment", "body", "data", "payload"):
        if key in obj:
            return _as_document(obj[key])
    return None


def read_docs(path):
    """Returns (docs, bad_lines): parsed documents of a collector JSONL file."""
    docs, bad = [], []
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return [], []
    for line in lines:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        # the collector writes {"invalid": reason, "bytes": n} for a datagram it rejected
        d = None if (isinstance(obj, dict) and "invalid" in obj) else _as_document(obj)
        if d is None:
            bad.append(line)
        else:
            docs.append(d)
    return docs, bad


def flatten(docs):
    """All subsegments in the documents, as records:
    {"sub": subsegment, "doc": top-level document holding it (itself for an independent
     subsegment), "parent": the enclosing entity (None if independent), "independent": bool}."""
    recs = []

    def walk(entity, top):
        for s in entity.get("subsegments") or []:
            if isinstance(s, dict):
                recs.append({"sub": s, "doc": top, "parent": entity, "independent": False})
                walk(s, top)

    for d in docs:
        if d.get("type") == "subsegment":
            recs.append({"sub": d, "doc": d, "parent": None, "independent": True})
        walk(d, d)
    return recs


def segments(docs):
    return [d for d in docs if d.get("type") != "subsegment"]


def read_jsonl(path):
    out = []
    try:
        with open(path, "r", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def parse_trace_header(value):
    """'Root=..;Parent=..;Sampled=1' -> dict (keys as written)."""
    out = {}
    for part in (value or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def get(d, *path):
    """Nested lookup: get(doc, "http", "response", "status") -> value or None."""
    for k in path:
        if isinstance(d, dict) and k in d:
            d = d[k]
        elif isinstance(d, list) and isinstance(k, int) and -len(d) <= k < len(d):
            d = d[k]
        else:
            return None
    return d


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---------------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------------
class TcpSink:
    """A TCP server on 127.0.0.1 (ephemeral port: .port) for a program's non-HTTP connections:
    one thread and a selector, so that it keeps accepting however loaded the machine is (a
    thread per connection could fail to start).  With keep, every connection's bytes are kept
    and close() returns them, one bytes object per ended connection; without, they are read
    and discarded."""

    def __init__(self, keep=True):
        self.keep = keep
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.streams = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ, None)
        while self.running:
            for key, _ in sel.select(0.1):
                if key.data is None:
                    try:
                        c, _ = self.lsock.accept()
                    except OSError:
                        continue
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, [])
                    continue
                try:
                    b = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    b = b""
                if b:
                    if self.keep:
                        key.data.append(b)
                    continue
                sel.unregister(key.fileobj)
                key.fileobj.close()
                if self.keep:
                    with self.lock:
                        self.streams.append(b"".join(key.data))
        sel.close()

    def close(self, n_expected=0, timeout=10.0):
        """Waits until n_expected connections ended (or the timeout), stops, returns the kept
        streams."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.streams) >= n_expected:
                    break
            time.sleep(0.02)
        self.running = False
        self.thread.join(2.0)
        self.lsock.close()
        with self.lock:
            return list(self.streams)


class Httpd:
    def __init__(self, session, static=None, name="httpd"):
        self.session = session
        self.log_path = session.path("%s-%d.log.jsonl" % (name, len(session.procs)))
        self.err_path = self.log_path + ".stderr"
        cmd = [PYTHON, os.path.join(HERE, "httpd.py"), "--log", self.log_path]
        if static:
            cmd += ["--static", static]
        self.errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.errf, preexec_fn=_die_with_parent)
        session.procs.append(self)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15.0)
        line = self.proc.stdout.readline().decode("ascii", "replace").strip() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise HarnessError("httpd.py did not print its port (got %r); stderr: %s"
                               % (line, _read(self.err_path)))
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def url(self, path="/ok"):
        return self.base + path

    def mark(self):
        return count_lines(self.log_path)

    def requests(self, since=0):
        """httpd log records (see httpd.py), from line `since` on."""
        return read_jsonl(self.log_path)[since:]

    def stop(self):
        rc = _stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.errf.close()
        return rc


class Collector:
    """`xray-auto collect --listen 127.0.0.1:0 --jsonl FILE --quiet`."""

    LISTEN_RE = re.compile(r"listening on udp [0-9.]+:(\d+)")

    def __init__(self, session, timeout=10.0):
        self.session = session
        n = len(session.procs)
        self.jsonl = session.path("collector-%d.jsonl" % n)
        self.err_path = session.path("collector-%d.stderr" % n)
        if not os.access(session.tool, os.X_OK):
            raise HarnessError("collector tool missing: %s (build the project first)"
                               % session.tool)
        self.errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [session.tool, "collect", "--listen", "127.0.0.1:0", "--jsonl", self.jsonl, "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.errf,
            env=session.base_env(), preexec_fn=_die_with_parent)
        session.procs.append(self)
        self.returncode = None
        deadline = time.monotonic() + timeout
        while True:
            m = self.LISTEN_RE.search(_read(self.err_path))
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise HarnessError("collector did not report its port (exit %s); stderr: %s"
                                   % (self.proc.returncode, _read(self.err_path)))
            time.sleep(0.02)
        self.address = "127.0.0.1:%d" % self.port

    def wait_lines(self, n, timeout=5.0):
        return wait_lines(self.jsonl, n, timeout)

    def lines(self):
        return count_lines(self.jsonl)

    def raw(self):
        return _read(self.jsonl)

    def docs(self):
        return read_docs(self.jsonl)

    def stop(self):
        if self.returncode is None:
            self.returncode = _stop_process(self.proc)
            self.errf.close()
        return self.returncode


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------------
# running the program under test
# ---------------------------------------------------------------------------------------------
class Result:
    def __init__(self):
        self.cmd = None
        self.returncode = None
        self.stdout = ""
        self.stderr = ""
        self.timed_out = False
        self.t0 = self.t1 = 0.0
        self.preload = False
        self.docs = []
        self.bad_lines = []
        self.raw = ""
        self.records = []
        self.requests = []
        self.collector_rc = None

    def describe(self):
        return {"cmd": self.cmd, "exit": self.returncode, "stdout": self.stdout[-2000:],
                "stderr": self.stderr[-2000:], "timed_out": self.timed_out}


# Environment variables that would change what the program under test does.
_SCRUB_EXACT = {"LD_PRELOAD", "LD_AUDIT", "_X_AMZN_TRACE_ID", "CURL_HOME", "SSLKEYLOGFILE",
                "GIT_TRACE", "GIT_CURL_VERBOSE", "GIT_TRACE_CURL", "GIT_DIR", "GIT_WORK_TREE",
                "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_SSL_NO_VERIFY"}
_SCRUB_PREFIXES = ("AWS_XRAY_", "XRAY_AUTO_", "_AWS_XRAY_")


class Session:
    def __init__(self, build_dir, name):
        self.build = os.path.abspath(build_dir)
        self.lib = os.path.join(self.build, "libxray-auto.so")
        self.tool = os.path.join(self.build, "xray-auto")
        self.procs = []
        self.doc_timeout = 5.0
        self.tmp = tempfile.mkdtemp(prefix="xray-it-%s-" % name)
        self.home = self.path("home")
        os.mkdir(self.home)
        self._closed = False
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _exit_on_signal)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def close(self):
        if self._closed:
            return
        self._closed = True
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- prerequisites ----------------------------------------------------------------------
    def require_build(self, *names):
        """Fails (exit 1, not a skip) with a clear message when build outputs are missing: the
        product and its examples are not optional dependencies."""
        missing = [n for n in ("libxray-auto.so", "xray-auto") + names
                   if not os.path.exists(os.path.join(self.build, n))]
        if missing:
            for n in missing:
                check(False, "build output missing: %s (build the project first)"
                      % os.path.join(self.build, n))
            sys.exit(summary())

    # -- processes --------------------------------------------------------------------------
    def start_httpd(self, static=None):
        return Httpd(self, static=static)

    def start_collector(self):
        return Collector(self)

    def base_env(self):
        env = {k: v for k, v in os.environ.items()
               if k not in _SCRUB_EXACT and not k.startswith(_SCRUB_PREFIXES)
               and "proxy" not in k.lower()}
        env["HOME"] = self.home
        env["NO_PROXY"] = env["no_proxy"] = "*"
        env["LC_ALL"] = "C"
        return env

    def run(self, cmd, env=None, preload=True, sampling="all", expect_docs=None,
            httpd=None, timeout=60.0, cwd=None, doc_timeout=None, grace=None):
        """Runs cmd and returns a Result.

        preload:     run under LD_PRELOAD with a fresh collector as AWS_XRAY_DAEMON_ADDRESS.
        sampling:    XRAY_AUTO_SAMPLING value, None to leave it unset.
        env:         extra variables (value None removes one).
        expect_docs: how many collector lines to wait for: an int, a function of the httpd
                     requests of this run, or None (just wait `grace`).
        httpd:       an Httpd (or list) whose requests during the run go to Result.requests.
        """
        res = Result()
        res.cmd = list(cmd)
        res.preload = preload
        servers = [] if httpd is None else (httpd if isinstance(httpd, list) else [httpd])
        marks = [s.mark() for s in servers]
        collector = None
        e = self.base_env()
        try:
            if preload:
                collector = self.start_collector()
                e["LD_PRELOAD"] = self.lib
                e["AWS_XRAY_DAEMON_ADDRESS"] = collector.address
                if sampling is not None:
                    e["XRAY_AUTO_SAMPLING"] = sampling
            for k, v in (env or {}).items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
            res.t0 = time.time()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=e, cwd=cwd or self.tmp,
                                 start_new_session=True)
            try:
                out, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                res.timed_out = True
                _stop_process(p, signal.SIGKILL, group=True)
                out, err = p.communicate()
            finally:
                if p.poll() is None:
                    _stop_process(p, signal.SIGKILL, group=True)
            res.t1 = time.time()
            res.returncode = p.returncode
            res.stdout = out.decode("utf-8", "replace")
            res.stderr = err.decode("utf-8", "replace")
            for s, m in zip(servers, marks):
                res.requests.extend(s.requests(m))
            if collector is not None:
                n = expect_docs(res.requests) if callable(expect_docs) else expect_docs
                if n:
                    got = collector.wait_lines(n, doc_timeout or self.doc_timeout)
                    if got < n and self.doc_timeout > 1.0:
                        # documents are sent before the program exits; once they failed to
                        # come, shorter waits keep the script within its ctest timeout
                        print("note: %d of %d documents arrived; waiting at most 1 s from now on"
                              % (got, n))
                        self.doc_timeout = 1.0
                    # extra documents (duplicates) would arrive right behind the expected ones
                    time.sleep(0.25 if grace is None else grace)
                else:
                    time.sleep(0.5 if grace is None else grace)
                res.collector_rc = collector.stop()
                res.raw = collector.raw()
                res.docs, res.bad_lines = collector.docs()
                res.records = flatten(res.docs)
        finally:
            if collector is not None:
                collector.stop()
        if res.timed_out:
            check(False, "command timed out after %ss: %s" % (timeout, " ".join(cmd)),
                  res.describe())
        for line in res.bad_lines:
            check(False, "collector JSONL line is not a valid document (invalid datagram?)", line)
        return res


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------
# assertions on documents
# ---------------------------------------------------------------------------------------------
def url_without_query(path):
    return path.split("?", 1)[0].split("#", 1)[0]


def http_returned_error(sub):
    """The subsegment records CURLE_HTTP_RETURNED_ERROR (CURLOPT_FAILONERROR and status >= 400)."""
    return get(sub, "cause", "exceptions", 0, "type") == "CURLE_HTTP_RETURNED_ERROR"


def status_flags_ok(sub, status, what):
    """404 -> error; 429 -> throttle+error; 5xx -> fault; 2xx/3xx -> none of the three keys."""
    ok = True
    err, thr, fault = sub.get("error"), sub.get("throttle"), sub.get("fault")
    if status is None:
        return True
    if http_returned_error(sub) and status >= 400:
        # CURLOPT_FAILONERROR (e.g. git): the transfer failed with CURLE_HTTP_RETURNED_ERROR;
        # recording that error may add fault=true (SDKs set fault with every exception).
        if status < 500:
            ok &= check(err is True, "%s: %d needs error=true" % (what, status), sub)
        if status == 429:
            ok &= check(thr is True, "%s: 429 needs throttle=true" % what, sub)
        elif status >= 500:
            ok &= check(fault is True, "%s: %d needs fault=true" % (what, status), sub)
        return ok
    if 200 <= status < 400:
        ok &= check("error" not in sub and "throttle" not in sub and "fault" not in sub,
                    "%s: status %d must carry none of error/throttle/fault" % (what, status), sub)
    elif status == 429:
        ok &= check(thr is True and err is True, "%s: 429 needs throttle=true and error=true"
                    % what, sub)
        ok &= check(fault is not True, "%s: 429 must not be a fault" % what, sub)
    elif 400 <= status < 500:
        ok &= check(err is True, "%s: %d needs error=true" % (what, status), sub)
        ok &= check(thr is not True and fault is not True,
                    "%s: %d must not be throttle/fault" % (what, status), sub)
    elif status >= 500:
        ok &= check(fault is True, "%s: %d needs fault=true" % (what, status), sub)
        ok &= check(thr is not True and err is not True,
                    "%s: %d must not be error/throttle" % (what, status), sub)
    return ok


def check_transport_error(sub, what, expect_type=None):
    """No response status; fault=true; cause.exceptions[0] {type: CURLE_*, message: non-empty}."""
    check(get(sub, "http", "response", "status") is None,
          "%s: transport failure must not have http.response.status" % what, sub)
    check(sub.get("fault") is True, "%s: transport failure needs fault=true" % what, sub)
    exc = get(sub, "cause", "exceptions", 0)
    check(isinstance(exc, dict), "%s: transport failure needs cause.exceptions[0]" % what, sub)
    if isinstance(exc, dict):
        t = exc.get("type")
        check(isinstance(t, str) and t.startswith("CURLE_"),
              "%s: cause.exceptions[0].type must be a CURLcode name, got %r" % (what, t), sub)
        if expect_type:
            check(t == expect_type, "%s: exception type %r, expected %s" % (what, t, expect_type),
                  sub)
        check(isinstance(exc.get("message"), str) and exc.get("message") != "",
              "%s: cause.exceptions[0].message must be non-empty" % what, sub)


def check_segment(doc, program, t0, t1, what, trace_root=None, parent_id=None, nsubs=1):
    """A complete segment document of the call mode (or the process segment if nsubs is None)."""
    check(doc.get("name") == program, "%s: segment name %r, expected %r"
          % (what, doc.get("name"), program), doc)
    check(isinstance(doc.get("id"), str) and HEX16.match(doc["id"]) is not None,
          "%s: segment id must be 16 lowercase hex" % what, doc)
    tid = doc.get("trace_id")
    check(isinstance(tid, str) and TRACE_ID.match(tid) is not None,
          "%s: trace_id must be 1-<8hex>-<24hex>" % what, doc)
    if trace_root is not None:
        check(tid == trace_root, "%s: trace_id %r, expected inherited %s" % (what, tid, trace_root),
              doc)
    elif isinstance(tid, str) and TRACE_ID.match(tid) and _num(doc.get("start_time")):
        check(abs(int(tid[2:10], 16) - doc["start_time"]) < 120,
              "%s: trace_id epoch part must be the current time" % what, doc)
    if parent_id is not None:
        check(doc.get("parent_id") == parent_id, "%s: parent_id %r, expected %s"
              % (what, doc.get("parent_id"), parent_id), doc)
    else:
        check("parent_id" not in doc, "%s: a root segment must not have parent_id" % what, doc)
    st, et = doc.get("start_time"), doc.get("end_time")
    check(_num(st) and _num(et) and st <= et, "%s: need numeric start_time <= end_time" % what, doc)
    if _num(st) and _num(et):
        check(st >= t0 - TIME_SLACK and et <= t1 + TIME_SLACK,
              "%s: segment times [%.6f, %.6f] outside the run [%.6f, %.6f]"
              % (what, st, et, t0, t1), doc)
    check(doc.get("in_progress") in (None, False), "%s: complete segment with in_progress" % what,
          doc)
    check(get(doc, "aws", "xray", "sdk") == SDK_NAME, "%s: aws.xray.sdk must be %r"
          % (what, SDK_NAME), doc)
    if nsubs is not None:
        subs = doc.get("subsegments")
        check(isinstance(subs, list) and len(subs) == nsubs,
              "%s: segment must hold exactly %d subsegment(s)" % (what, nsubs), doc)


def check_subsegment(rec, what, method, url, host, status=None, body_bytes=None,
                     transport_error=False, expect_type=None, lenient_length=False):
    """lenient_length: the program may abort reading a body (CURLOPT_FAILONERROR), so
    content_length may be absent or 0 instead of the size httpd sent."""
    sub, doc = rec["sub"], rec["doc"]
    check(isinstance(sub.get("id"), str) and HEX16.match(sub["id"]) is not None,
          "%s: subsegment id must be 16 lowercase hex" % what, doc)
    check(sub.get("name") == host, "%s: subsegment name %r, expected %r"
          % (what, sub.get("name"), host), doc)
    check(sub.get("namespace") == "remote", "%s: namespace must be \"remote\"" % what, doc)
    st, et = sub.get("start_time"), sub.get("end_time")
    check(_num(st) and _num(et) and st <= et,
          "%s: subsegment needs numeric start_time <= end_time" % what, doc)
    container = rec["parent"] if not rec["independent"] else None
    if container is not None and _num(st) and _num(et):
        cst, cet = container.get("start_time"), container.get("end_time")
        if _num(cst) and _num(cet):
            check(cst - 1e-6 <= st and et <= cet + 1e-6,
                  "%s: subsegment times outside its segment's" % what, doc)
    m = get(sub, "http", "request", "method")
    check(m == method, "%s: http.request.method %r, expected %r" % (what, m, method), doc)
    u = get(sub, "http", "request", "url")
    check(u == url, "%s: http.request.url %r, expected %r" % (what, u, url), doc)
    if transport_error:
        check_transport_error(sub, what, expect_type)
        return
    s = get(sub, "http", "response", "status")
    check(s == status, "%s: http.response.status %r, expected %r" % (what, s, status), doc)
    status_flags_ok(sub, status, what)
    if body_bytes and not http_returned_error(sub):
        # with CURLOPT_FAILONERROR libcurl stops before the body: no content_length check
        cl = get(sub, "http", "response", "content_length")
        check(cl == body_bytes or (lenient_length and status >= 400 and cl in (None, 0)),
              "%s: http.response.content_length %r, expected %d"
              % (what, cl, body_bytes), doc)


def records_by_id(records):
    out = {}
    for r in records:
        out.setdefault(r["sub"].get("id"), []).append(r)
    return out


def transfers(requests):
    """The httpd requests of a run grouped into transfers.  libcurl resends a request once on a
    fresh connection when a reused connection died before any response ("Connection died,
    retrying a fresh connect"), with the very same headers: a request that got no response,
    followed by the same method, path and trace header, is one transfer.  Returns the last
    attempt of each transfer, in order."""
    out = []
    for req in requests:
        key = (req["method"], req["path"], tuple(req["trace_headers"]))
        for k, prev in enumerate(out):
            if (prev["status"] is None and req["trace_header_count"] == 1
                    and (prev["method"], prev["path"], tuple(prev["trace_headers"])) == key):
                out[k] = req
                break
        else:
            out.append(req)
    return out


def verify_transfers(res, program, url_prefix, host="127.0.0.1", mode="call",
                     unanswered=(), trace_root=None, parent_id=None, url_of=None, label="",
                     lenient_length=False):
    """Asserts the output contract for all transfers of one run.

    Every httpd request of the run must carry exactly one header
    `Root=<trace_id>;Parent=<subsegment id>;Sampled=1` naming exactly one subsegment,
    and every subsegment must be such a request or one of `unanswered`, a list of
    (url, method, expected CURLcode name or None) for transfers that never reached httpd.
    mode "call": one segment document per transfer holding its subsegment;
    mode "process": independent subsegment documents + the process segment (in progress and
    complete).  url_of(path) gives the expected http.request.url (default url_prefix + path
    without query).  Returns a list of (request, record)."""
    pre = (label + ": ") if label else ""
    check(res.preload, pre + "verify_transfers needs a preloaded run")
    recs = res.records
    by_id = records_by_id(recs)
    used = set()
    pairs = []
    url_of = url_of or (lambda path: url_prefix + url_without_query(path))

    reqs = transfers(res.requests)
    for i, req in enumerate(reqs):
        what = "%srequest #%d %s %s" % (pre, i, req["method"], req["path"])
        ok = check(req["trace_header_count"] == 1, "%s: received %d X-Amzn-Trace-Id headers, "
                   "expected exactly 1" % (what, req["trace_header_count"]), req)
        if not ok:
            continue
        value = req["trace_headers"][0]
        h = parse_trace_header(value)
        ok = check(re.match(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=1$",
                            value) is not None,
                   "%s: header %r is not Root=..;Parent=<16hex>;Sampled=1" % (what, value), req)
        parent = h.get("Parent")
        matches = by_id.get(parent, [])
        if not check(len(matches) == 1, "%s: header Parent=%s names %d subsegments in the "
                     "collector output, expected exactly 1 (all docs: %s)"
                     % (what, parent, len(matches), _fmt_doc(res.docs)[:3000]), req):
            continue
        rec = matches[0]
        if not check(parent not in used, "%s: another transfer carried the same Parent=%s"
                     % (what, parent), req):
            continue
        used.add(parent)
        pairs.append((req, rec))
        check(h.get("Root") == rec["doc"].get("trace_id"),
              "%s: header Root %s differs from the document's trace_id" % (what, h.get("Root")),
              rec["doc"])
        if req["status"] is None:  # /reset: no response
            check_subsegment(rec, what, req["method"], url_of(req["path"]), host,
                             transport_error=True)
        else:
            check_subsegment(rec, what, req["method"], url_of(req["path"]), host,
                             status=req["status"], body_bytes=req["body_bytes"],
                             lenient_length=lenient_length)

    # transfers that never reached the server (connection refused ...)
    for j, (url, method, etype) in enumerate(unanswered):
        what = "%sunanswered transfer %s %s" % (pre, method, url)
        cands = [r for r in recs if r["sub"].get("id") not in used
                 and get(r["sub"], "http", "request", "url") == url]
        if check(len(cands) == 1, "%s: expected exactly 1 subsegment with this url, found %d"
                 % (what, len(cands)), res.docs):
            used.add(cands[0]["sub"].get("id"))
            pairs.append((None, cands[0]))
            check_subsegment(cands[0], what, method, url, host, transport_error=True,
                             expect_type=etype)

    for r in recs:
        if r["sub"].get("id") not in used:
            check(False, "%ssubsegment without a matching request (extra/duplicate document)"
                  % pre, r["doc"])

    if mode == "call":
        segs = segments(res.docs)
        check(len(segs) == len(res.docs), pre + "call mode must send segment documents only",
              res.docs)
        for d in segs:
            check_segment(d, program, res.t0, res.t1, pre + "segment %s" % d.get("id"),
                          trace_root=trace_root, parent_id=parent_id)
        for _, rec in pairs:
            check(not rec["independent"], pre + "call mode: subsegment must be embedded in "
                  "its segment", rec["doc"])
        check(len(res.docs) == len(reqs) + len(unanswered),
              "%s%d documents for %d transfers" % (pre, len(res.docs),
                                                   len(reqs) + len(unanswered)), res.docs)
    elif mode == "process":
        verify_process_docs(res, program, pairs, pre, trace_root=trace_root, parent_id=parent_id)
    return pairs


def verify_process_docs(res, program, pairs, pre="", trace_root=None, parent_id=None):
    segs = segments(res.docs)
    in_prog = [d for d in segs if d.get("in_progress") is True]
    complete = [d for d in segs if d.get("in_progress") is not True]
    check(len(in_prog) == 1, pre + "expected 1 in_progress segment document, got %d"
          % len(in_prog), segs)
    check(len(complete) == 1, pre + "expected 1 complete segment document, got %d"
          % len(complete), segs)
    ids = set(d.get("id") for d in segs)
    check(len(ids) == 1, pre + "process segment documents must share one id", segs)
    tids = set(d.get("trace_id") for d in res.docs)
    check(len(tids) == 1, pre + "all documents must share one trace_id", res.docs)
    if complete:
        check_segment(complete[0], program, res.t0, res.t1, pre + "process segment",
                      trace_root=trace_root, parent_id=parent_id, nsubs=None)
    for d in in_prog:
        check(d.get("name") == program, pre + "in_progress segment name %r" % d.get("name"), d)
        check("end_time" not in d, pre + "in_progress segment must not have end_time", d)
        check(_num(d.get("start_time")), pre + "in_progress segment needs start_time", d)
        if complete:
            check(d.get("start_time") == complete[0].get("start_time"),
                  pre + "in_progress and complete segment start_time differ", [d, complete[0]])
    seg_id = next(iter(ids)) if len(ids) == 1 else None
    for _, rec in pairs:
        sub = rec["sub"]
        check(rec["independent"], pre + "subsegment must be an independent "
              "document", rec["doc"])
        check(sub.get("type") == "subsegment", pre + "independent subsegment needs "
              "type=subsegment", sub)
        check(sub.get("parent_id") == seg_id and seg_id is not None,
              pre + "independent subsegment parent_id %r, expected the process segment id %r"
              % (sub.get("parent_id"), seg_id), sub)
        check(isinstance(sub.get("trace_id"), str) and sub.get("trace_id") in tids,
              pre + "independent subsegment needs the process trace_id", sub)
        if complete and _num(sub.get("start_time")) and _num(complete[0].get("start_time")):
            check(complete[0]["start_time"] - 1e-6 <= sub["start_time"]
                  and sub.get("end_time", 0) <= complete[0].get("end_time", 0) + 1e-6,
                  pre + "subsegment times outside the process segment's", [sub, complete[0]])
    check(len(res.docs) == len(pairs) + 2, pre + "%d documents, expected %d "
          "subsegments + 2 segment documents" % (len(res.docs), len(pairs)), res.docs)


def verify_no_trace(res, what, baseline=None, normalize=None):
    """No datagram and no injected header; with a baseline run also the same stdout and exit."""
    check(len(res.docs) == 0 and res.raw.strip() == "",
          "%s: expected no datagram, collector got %d" % (what, len(res.docs)), res.raw)
    for req in res.requests:
        check(req["trace_header_count"] == 0, "%s: header injected into %s %s"
              % (what, req["method"], req["path"]), req)
    if baseline is not None:
        check(res.returncode == baseline.returncode, "%s: exit %s with preload, %s without"
              % (what, res.returncode, baseline.returncode), res.describe())
        norm = normalize or (lambda t: t)
        check(norm(res.stdout) == norm(baseline.stdout),
              "%s: stdout differs from the run without preload"
              % what, {"with": res.stdout[-2000:], "without": baseline.stdout[-2000:]})


def check_off_mode_stderr(res, base, what):
    """XRAY_AUTO_SEGMENT=off: besides what the program prints itself, stderr has at most one
    line (about the missing segment), however many calls went untraced."""
    extra = [line for line in res.stderr.splitlines() if line not in base.stderr.splitlines()]
    check(len(extra) <= 1, "%s: at most one stderr line about the missing segment, got %d"
          % (what, len(extra)), res.stderr)


def headers_without_trace(req):
    return {k: v for k, v in req["headers"].items() if k != "x-amzn-trace-id"}


def check_same_headers(with_reqs, without_reqs, what):
    """The program's own headers arrive unchanged (compared with a run without preload)."""
    if not check(len(with_reqs) == len(without_reqs), "%s: %d requests with preload, %d without"
                 % (what, len(with_reqs), len(without_reqs)), with_reqs):
        return
    key = lambda r: (r["path"], r["method"])  # noqa: E731
    for a, b in zip(sorted(with_reqs, key=key), sorted(without_reqs, key=key)):
        check(headers_without_trace(a) == headers_without_trace(b),
              "%s: request headers changed by the preload (besides X-Amzn-Trace-Id)" % what,
              {"with": a["headers"], "without": b["headers"]})
        check(a["request_body_bytes"] == b["request_body_bytes"],
              "%s: request body size changed by the preload" % what, a)


def check_headers_subset(with_reqs, without_reqs, what):
    """Weaker form of check_same_headers for programs whose headers vary from run to run
    (git sets Accept-Encoding on some handles only): every header the traced program sent,
    besides X-Amzn-Trace-Id, was also sent with that value in the run without preload."""
    seen = {}
    for r in without_reqs:
        for k, v in headers_without_trace(r).items():
            seen.setdefault(k, set()).add(v)
    for r in with_reqs:
        extra = {k: v for k, v in headers_without_trace(r).items() if v not in seen.get(k, ())}
        check(not extra, "%s: %s %s carries headers the program did not send without preload: %s"
              % (what, r["method"], r["path"], extra), r)


def check_secret_absent(res, secrets, what):
    for s in secrets:
        check(s not in res.raw, "%s: %r appears in the collector output" % (what, s), res.raw)


def basic_auth(user, password):
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def sorted_lines(text):
    return sorted(text.splitlines())


def run_compare(session, cmd, what, httpd=None, normalize=None, **kw):
    """Runs cmd without, then with the preload; asserts equal exit code and stdout.
    Returns (with_preload, without_preload)."""
    base = session.run(cmd, preload=False, httpd=httpd, env=kw.get("env"),
                       timeout=kw.get("timeout", 60.0))
    res = session.run(cmd, httpd=httpd, **kw)
    norm = normalize or (lambda s: s)
    check(res.returncode == base.returncode, "%s: exit code %s with preload, %s without"
          % (what, res.returncode, base.returncode),
          {"with": res.describe(), "without": base.describe()})
    check(norm(res.stdout) == norm(base.stdout), "%s: stdout differs with preload" % what,
          {"with": res.stdout[-2000:], "without": base.stdout[-2000:]})
    return res, base


def verify_sampling_mix(res, program, url_prefix, n_requests, label="sampling"):
    """Default sampling: some but not all transfers sampled; every request carries a header
    whose Sampled flag says whether a document exists for its Parent."""
    ids = set(records_by_id(res.records))
    check(len(res.requests) == n_requests, "%s: %d requests reached the server, expected %d"
          % (label, len(res.requests), n_requests), res.describe())
    sampled = []
    for i, req in enumerate(res.requests):
        what = "%s: request #%d %s" % (label, i, req["path"])
        if not check(req["trace_header_count"] == 1, "%s: %d trace headers, expected 1"
                     % (what, req["trace_header_count"]), req):
            continue
        v = req["trace_headers"][0]
        m = re.match(r"^Root=(1-[0-9a-f]{8}-[0-9a-f]{24});Parent=([0-9a-f]{16});Sampled=([01])$", v)
        if not check(m is not None, "%s: malformed header %r" % (what, v), req):
            continue
        has_doc = m.group(2) in ids
        check((m.group(3) == "1") == has_doc, "%s: header says Sampled=%s but a document %s"
              % (what, m.group(3), "exists" if has_doc else "does not exist"), req)
        if m.group(3) == "1":
            sampled.append(req)
    n = len(res.docs)
    check(1 <= n < n_requests, "%s: %d of %d transfers sampled; the default rule (1/s + 5%%) "
          "needs >= 1 and < %d" % (label, n, n_requests, n_requests), res.raw[-3000:])
    sub = Result()
    sub.__dict__.update(res.__dict__)
    sub.requests = sampled
    verify_transfers(sub, program, url_prefix, label=label)


# ---------------------------------------------------------------------------------------------
# server programs under the preload
# ---------------------------------------------------------------------------------------------
class PreloadedServer:
    """A long-running server program started under LD_PRELOAD, with a collector of its own.

        srv = H.PreloadedServer(S, [prog, "--port", "0"])          # waits for "PORT <n>"
        mark = srv.mark()
        ... send requests to srv.url("/path") ...
        docs = srv.wait_docs(3, since=mark)                       # documents after the mark
        rc = srv.stop()                                           # SIGTERM, exit status

    ready:    a regex searched in each stdout line until it matches; its group 1 is the port
              (default "PORT <n>"; `python3 -m http.server` needs PYTHONUNBUFFERED=1 in env).
    env:      extra variables (value None removes one), applied after the preload variables.
    sampling: XRAY_AUTO_SAMPLING value, None to leave it unset.
    preload:  False runs the server without the library (and without a collector).
    The process runs in a session of its own (a forking server's children are killed with it
    if SIGTERM does not end them); stdout after the ready line is kept (stdout()), stderr goes
    to a file (stderr()).  Stopped by Session.close() too."""

    def __init__(self, session, cmd, ready=r"^PORT (\d+)$", env=None, preload=True,
                 sampling="all", timeout=15.0, cwd=None):
        import threading
        self.session = session
        self.cmd = list(cmd)
        self.collector = session.start_collector() if preload else None
        n = len(session.procs)
        self.err_path = session.path("server-%d.stderr" % n)
        e = session.base_env()
        if preload:
            e["LD_PRELOAD"] = session.lib
            e["AWS_XRAY_DAEMON_ADDRESS"] = self.collector.address
            if sampling is not None:
                e["XRAY_AUTO_SAMPLING"] = sampling
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        self.returncode = None
        self._out = []
        self._drain = None
        self._errf = open(self.err_path, "wb")
        self.t0 = time.time()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._errf, env=e, cwd=cwd or session.tmp,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        session.procs.append(self)
        pat = re.compile(ready)
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        pending = b""
        self.port = None
        while self.port is None:
            if b"\n" not in pending:
                r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                data = os.read(fd, 4096) if r else b""
                if not data:
                    self._out.append(pending)
                    self.stop()
                    raise HarnessError("%s did not print a line matching %r (exit %s); "
                                       "stdout: %r; stderr: %s"
                                       % (self.cmd[0], ready, self.returncode, self.stdout(),
                                          self.stderr()[-2000:]))
                pending += data
                continue
            line, pending = pending.split(b"\n", 1)
            self._out.append(line + b"\n")
            m = pat.search(line.decode("utf-8", "replace").rstrip("\r"))
            if m:
                self.port = int(m.group(1))
        self._out.append(pending)
        self.base = "http://127.0.0.1:%d" % self.port
        self._drain = threading.Thread(target=self._read_rest, args=(fd,), daemon=True)
        self._drain.start()

    def _read_rest(self, fd):
        try:
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                self._out.append(data)
        except (OSError, ValueError):
            pass

    def url(self, path="/"):
        return self.base + path

    def stdout(self):
        return b"".join(self._out).decode("utf-8", "replace")

    def stderr(self):
        return _read(self.err_path)

    def alive(self):
        return self.proc.poll() is None

    def mark(self):
        """The collector's line count now: pass it as `since` to docs()/wait_docs()."""
        return self.collector.lines() if self.collector else 0

    def docs(self, since=0):
        """Documents that arrived after line `since`; an invalid line is a failed check."""
        if self.collector is None:
            return []
        text = _read(self.collector.jsonl)
        text = text[:text.rfind("\n") + 1]  # complete lines only
        lines = [ln for ln in text.split("\n")[since:] if ln.strip()]
        docs = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            d = None if (isinstance(obj, dict) and "invalid" in obj) else _as_document(obj)
            if check(d is not None, "collector JSONL line is not a valid document "
                     "(invalid datagram?)", line):
                docs.append(d)
        return docs

    def wait_docs(self, n, since=0, timeout=None, grace=0.3):
        """Waits until n documents arrived after `since` (at most `timeout`, default the
        session's doc_timeout), then `grace` seconds more for extra (duplicate) ones; returns
        the documents after `since`."""
        if self.collector is not None:
            got = wait_lines(self.collector.jsonl, since + n,
                             self.session.doc_timeout if timeout is None else timeout)
            if got < since + n and self.session.doc_timeout > 1.0:
                print("note: %d of %d documents arrived; waiting at most 1 s from now on"
                      % (got - since, n))
                self.session.doc_timeout = 1.0
            time.sleep(grace)
        return self.docs(since)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the server (default SIGTERM) and waits; SIGKILLs its process group after
        `timeout`.  Returns the exit status (negative: killed by that signal)."""
        if self.returncode is None:
            p = self.proc
            if p.poll() is None:
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(p.pid, signal.SIGKILL)  # leftovers (children of a forking server)
            except (ProcessLookupError, PermissionError):
                pass
            self.returncode = p.wait()
            if self._drain is not None:
                self._drain.join(2.0)
            try:
                p.stdout.close()
            except OSError:
                pass
            self._errf.close()
        if self.collector is not None:
            self.collector.stop()
        return self.returncode
