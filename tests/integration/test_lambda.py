#!/usr/bin/python3
"""Integration test: Lambda mode (AWS_LAMBDA_RUNTIME_API set) with real custom runtimes against
a fake Runtime API (tests/integration/lambda_api.py: the one stand-in, Lambda itself cannot run
here), the local httpd.py and a real PostgreSQL.

Runtimes (each runs 6 invocations: Sampled=1 with Lineage, Sampled=0, Sampled=1 whose query
fails and is posted to /error, Root only (no Parent, no Sampled), Sampled=1 whose GET is
refused (connect failure), Sampled=1 after a 200 ms blocking NEXT; each invocation's handler
makes one HTTP GET and one PostgreSQL connection + query):
  c_runtime    <build>/lambda_runtime (examples/lambda/runtime.c: aws-lambda-cpp's libcurl
               usage, one reused easy handle, trace header kept in memory only), with an HTTP
               call in the init phase and one after each posted result;
  c_setenv     the same runtime setting _X_AMZN_TRACE_ID itself after each NEXT, with
               XRAY_AUTO_SAMPLING=all and XRAY_AUTO_SEGMENT=process (irrelevant in Lambda mode);
  layer        <build>/libxray-auto-layer.zip: exact members, files equal to the build's,
               modes, every DT_NEEDED satisfied inside the layer or by glibc, the glibc symbol
               versions (tests/check_glibc_version.sh), and the library loading from /opt/lib;
  bootstrap    the layer's bootstrap (examples/lambda/bootstrap: sh + curl CLI) run from /opt
               (the unzipped layer bind-mounted there in a private mount namespace; without
               unshare permission from the unzipped directory, the reason printed) with
               LD_LIBRARY_PATH=/opt/lib, its init.sh and the example handler.sh (curl + psql
               as child processes that inherit _X_AMZN_TRACE_ID);
  py_runtime   examples/lambda/runtime.py: http.client on plain sockets for the Runtime API,
               urllib and psycopg2 in the handler (skipped, reason printed, without psycopg2);
  py_putenv    the same, setting _X_AMZN_TRACE_ID with os.environ (putenv) after each NEXT.

For each: per Sampled=1 invocation exactly three documents, all "type": "subsegment" with
trace_id = its Root and parent_id = its Parent, times inside the invocation (from the NEXT
response to the result POST): the HTTP call (a fault for the refused one: CURLE_COULDNT_CONNECT,
or ECONNREFUSED on plain sockets), the connect, the query (fields checked); nothing
at all for Sampled=0, Root-only, the init phase and between invocations; no segment document;
no document names the Runtime API; the Runtime API never receives X-Amzn-Trace-Id.  Downstream
header (libcurl and the curl CLI): Root=<Root>;Parent=<the HTTP subsegment's id>;Sampled=1
(+ the Lineage received) when sampled, Root=<Root>;Parent=<16 hex>;Sampled=0 otherwise, none
in the init phase and between invocations; plain sockets never get one (the library adds no
header there).  Every runtime is also run without the preload: same exit status, stdout,
Runtime API conversation (method, path, headers, bodies, in order) and request headers.

Usage: test_lambda.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: PostgreSQL not installed)
"""

import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402
import harness as H  # noqa: E402
from harness import check, get  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
PY = H.PYTHON
HOST = "127.0.0.1"
LINEAGE = "a87bd80c:1|68fd508a:5"
Q_OK = "SELECT ? AS greeting, ? AS answer"
Q_FAIL = "SELECT name FROM xr_lambda_missing_table WHERE id = ?"
ROW = "xr-lambda|42"
LAYER_ZIP = "libxray-auto-layer.zip"
REFUSED_PORT = H.free_port()  # nothing listens there: the "refused" invocation's GET
GLIBC_SONAMES = {"libc.so.6", "libdl.so.2", "libpthread.so.0", "libm.so.6", "librt.so.1",
                 "libresolv.so.2", "libutil.so.1", "ld-linux-x86-64.so.2",
                 "ld-linux-aarch64.so.1"}


def new_root():
    return "1-%08x-%024x" % (int(time.time()), random.getrandbits(96))


def new_parent():
    return "%016x" % random.getrandbits(64)


# ---------------------------------------------------------------------------------------------
# invocations and the fake Runtime API
# ---------------------------------------------------------------------------------------------
class Inv:
    """One invocation: kind "sampled", "unsampled" (Sampled=0), "error" (Sampled=1, the query
    fails, posted to /error), "refused" (Sampled=1, the handler's GET is refused) or
    "root-only" (Root= only)."""

    def __init__(self, label, n, kind, lineage=False, after_ms=0):
        self.id = "%s-%d-%s" % (label, n, os.urandom(3).hex())
        self.kind = kind
        self.root = new_root()
        self.parent = new_parent()
        self.lineage = lineage
        self.after_ms = after_ms
        self.sampled = kind in ("sampled", "error", "refused")
        self.error = kind == "error"
        if kind == "root-only":
            self.trace = "Root=" + self.root
        else:
            self.trace = "Root=%s;Parent=%s;Sampled=%s" % (self.root, self.parent,
                                                           "1" if self.sampled else "0")
        if lineage:
            self.trace += ";Lineage=" + LINEAGE
        if kind == "refused":
            self.path = None  # never reaches httpd
            self.url = "http://%s:%d/refused?inv=%s" % (HOST, REFUSED_PORT, self.id)
        else:
            self.path = "/ok?inv=" + self.id
            self.url = HTTPD.url(self.path)

    def spec(self):
        return {"id": self.id, "trace": self.trace, "after_ms": self.after_ms,
                "payload": {"url": self.url, "error": self.error}}


def invocations(label):
    return [Inv(label, 1, "sampled", lineage=True), Inv(label, 2, "unsampled"),
            Inv(label, 3, "error"), Inv(label, 4, "root-only"), Inv(label, 5, "refused"),
            Inv(label, 6, "sampled", after_ms=200)]


class LambdaApi:
    """tests/integration/lambda_api.py serving `invs`, logging to a file of its own."""

    def __init__(self, session, invs):
        n = len(session.procs)
        self.inv_path = session.path("invocations-%d.json" % n)
        self.log_path = session.path("lambda-api-%d.log.jsonl" % n)
        self.err_path = self.log_path + ".stderr"
        with open(self.inv_path, "w", encoding="utf-8") as f:
            json.dump([i.spec() for i in invs], f)
        self.errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [PY, os.path.join(HERE, "lambda_api.py"), "--invocations", self.inv_path,
             "--log", self.log_path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.errf, preexec_fn=H._die_with_parent)
        session.procs.append(self)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15.0)
        line = self.proc.stdout.readline().decode("ascii", "replace").strip() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise H.HarnessError("lambda_api.py did not print its port (got %r); stderr: %s"
                                 % (line, H._read(self.err_path)))
        self.port = int(line.split()[1])
        self.address = "%s:%d" % (HOST, self.port)

    def log(self):
        return H.read_jsonl(self.log_path)

    def stop(self):
        rc = H._stop_process(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.errf.close()
        return rc


def base_env(api):
    e = {"AWS_LAMBDA_RUNTIME_API": api.address}
    e.update(D.clean_env())
    e.update(INFO.client_env())
    return e


def run(cmd, invs, preload=True, env=None, sampling=None, cwd=None):
    """Runs a runtime against a fresh fake Runtime API serving invs; returns the harness Result
    with .api (the API log) and .api_address."""
    api = LambdaApi(S, invs)
    e = base_env(api)
    e.update(env or {})
    n = 3 * len([i for i in invs if i.sampled])
    res = S.run(cmd, env=e, preload=preload, sampling=sampling, httpd=HTTPD,
                expect_docs=n if preload else None, timeout=60.0, cwd=cwd)
    api.stop()
    res.api = api.log()
    res.api_address = api.address
    return res


# ---------------------------------------------------------------------------------------------
# assertions
# ---------------------------------------------------------------------------------------------
def expected_stdout(invs, runtime):
    """What the C and Python runtimes print (examples/lambda/runtime.c / runtime.py)."""
    lines = ["init: http 200 3"]
    for i in invs:
        http = "http 0 0" if i.kind == "refused" else "http 200 3"
        if i.error:
            lines.append("invocation %s: %s sql error 42P01 -> error 202" % (i.id, http))
        else:
            lines.append("invocation %s: %s sql ok %s -> response 202" % (i.id, http, ROW))
    lines.append("exit: NEXT answered 410 3 times" if runtime == "c" else "exit: NEXT answered 410")
    return "\n".join(lines) + "\n"


def check_api_log(res, invs, label, exhausted, one_connection):
    """The Runtime API conversation: NEXT, result, ... in order, then `exhausted` 410 NEXTs; no
    X-Amzn-Trace-Id ever received; one keep-alive connection if one_connection."""
    log = res.api
    for r in log:
        check(r["trace_header_count"] == 0, "%s: the Runtime API received X-Amzn-Trace-Id on "
              "%s %s (its calls must never be traced)" % (label, r["method"], r["path"]), r)
    want = []
    for i in invs:
        want += [("next", i.id, 200), ("error" if i.error else "response", i.id, 202)]
    want += [("next-exhausted", None, 410)] * exhausted
    got = [(r["kind"], r["invocation"], r["status"]) for r in log]
    check(got == want, "%s: Runtime API conversation %s, expected %s" % (label, got, want),
          [{k: r[k] for k in ("method", "path", "status", "body")} for r in log])
    if one_connection:
        peers = sorted(set(r["peer"] for r in log))
        check(len(peers) == 1, "%s: the runtime must keep one keep-alive connection to the "
              "Runtime API, used %d: %s" % (label, len(peers), peers))


def windows(res, invs):
    """{invocation id: (NEXT answered, result POST received)} from the API log."""
    out = {}
    for i in invs:
        nxt = [r for r in res.api if r["kind"] == "next" and r["invocation"] == i.id]
        post = [r for r in res.api if r["kind"] in ("response", "error")
                and r["invocation"] == i.id]
        if nxt and post:
            out[i.id] = (nxt[0]["answered"], post[0]["time"])
    return out


def check_docs(res, invs, label, plain_sockets):
    """Exactly three subsegment documents per sampled invocation, nothing else."""
    docs = res.docs
    check(res.raw.strip() != "" or not any(i.sampled for i in invs),
          "%s: no document at all arrived (is the Lambda mode there?)" % label)
    segs = [d for d in docs if d.get("type") != "subsegment"]
    check(not segs, "%s: %d documents without \"type\": \"subsegment\": the library must never "
          "send a segment of its own in Lambda mode" % (label, len(segs)), segs or None)
    check(res.api_address not in res.raw and "/2018-06-01/" not in res.raw,
          "%s: a document names the Runtime API (%s)" % (label, res.api_address), res.raw[-4000:])
    ids = [d.get("id") for d in docs]
    check(len(set(ids)) == len(ids), "%s: document ids must be distinct" % label, ids)
    by_root = {i.root: i for i in invs}
    for d in docs:
        i = by_root.get(d.get("trace_id"))
        if i is None:
            check(False, "%s: a document with a trace_id of no invocation (init phase, between "
                  "invocations, or a fresh trace)" % label, d)
        elif not i.sampled:
            check(False, "%s: a document for invocation %s (%s): nothing may be sent for it"
                  % (label, i.id, i.kind), d)
    n_sampled = len([i for i in invs if i.sampled])
    check(len(docs) == 3 * n_sampled, "%s: %d documents, expected %d (3 per sampled invocation)"
          % (label, len(docs), 3 * n_sampled), docs)
    win = windows(res, invs)
    http_ids = {}
    for i in invs:
        if not i.sampled:
            continue
        what = "%s: invocation %s (%s)" % (label, i.id, i.kind)
        mine = sorted([d for d in docs if d.get("trace_id") == i.root],
                      key=lambda d: (d.get("start_time") or 0, d.get("end_time") or 0))
        for d in mine:
            check(d.get("type") == "subsegment", "%s: type %r, expected \"subsegment\""
                  % (what, d.get("type")), d)
            check(d.get("parent_id") == i.parent, "%s: parent_id %r, expected the invocation's "
                  "Parent %s" % (what, d.get("parent_id"), i.parent), d)
            check(isinstance(d.get("id"), str) and H.HEX16.match(d["id"]) is not None
                  and d["id"] != i.parent, "%s: id must be 16 hex, not the Parent" % what, d)
            st, et = d.get("start_time"), d.get("end_time")
            if i.id in win and H._num(st) and H._num(et):
                t0, t1 = win[i.id]
                check(t0 - H.TIME_SLACK <= st <= et <= t1 + H.TIME_SLACK,
                      "%s: times [%.6f, %.6f] outside the invocation [%.6f, %.6f] (from the NEXT "
                      "response to the result POST)" % (what, st, et, t0, t1), d)
        kinds = [get(d, "metadata", "xray_auto", "operation") if "sql" in d else "call"
                 for d in mine]
        if not check(kinds == ["call", "connect", "query"], "%s: documents %s, expected the "
                     "HTTP call, the connect, the query (in that order)" % (what, kinds), mine):
            continue
        recs = H.flatten(mine)
        if i.kind != "refused":
            H.check_subsegment(recs[0], what + " HTTP", "GET", HTTPD.url("/ok"), HOST,
                               status=200, body_bytes=3)
        elif plain_sockets:
            check_refused_socket(mine[0], what + " refused connect")
        else:
            H.check_subsegment(recs[0], what + " HTTP refused", "GET",
                               "http://%s:%d/refused" % (HOST, REFUSED_PORT), HOST,
                               transport_error=True, expect_type="CURLE_COULDNT_CONNECT")
        D.check_sql(recs[1], what + " connect", INFO, HOST, "connect")
        if i.error:
            D.check_sql(recs[2], what + " query", INFO, HOST, "query", query=Q_FAIL,
                        error="42P01", message="relation ? does not exist")
        else:
            D.check_sql(recs[2], what + " query", INFO, HOST, "query", query=Q_OK)
        http_ids[i.id] = mine[0].get("id")
    return http_ids


def check_refused_socket(d, what):
    """A plain-socket connect refused (the sockets layer's contract, see test_net_client.py)."""
    check(d.get("name") == HOST and d.get("namespace") == "remote",
          "%s: name %r namespace %r" % (what, d.get("name"), d.get("namespace")), d)
    check("http" not in d, "%s: a failed connect has no http block" % what, d)
    check(d.get("fault") is True and d.get("error") is not True,
          "%s: a failed connect is a fault" % what, d)
    exc = get(d, "cause", "exceptions", 0) or {}
    check(exc.get("type") == "ECONNREFUSED" and exc.get("message")
          == "connect to %s:%d: Connection refused" % (HOST, REFUSED_PORT),
          "%s: exception %r, expected ECONNREFUSED" % (what, exc), d)


def check_requests(res, invs, label, header, init_calls, idle_calls):
    """httpd's view: init/idle calls without header, one call per invocation with the
    downstream header (header=True: libcurl / curl CLI) or none (plain sockets)."""
    http_ids = res.http_ids
    doc_ids = set(d.get("id") for d in res.docs)
    known = set()
    for phase, n in (("init", init_calls), ("idle", idle_calls)):
        reqs = [r for r in res.requests if r["path"].startswith("/ok?phase=" + phase)]
        known.update(id(r) for r in reqs)
        check(len(reqs) == n, "%s: %d %s-phase requests reached httpd, expected %d"
              % (label, len(reqs), phase, n), res.requests)
        for r in reqs:
            check(r["trace_header_count"] == 0, "%s: X-Amzn-Trace-Id injected into a %s-phase "
                  "call (outside any invocation): %s" % (label, phase, r["trace_headers"]), r)
    for i in invs:
        what = "%s: invocation %s (%s)" % (label, i.id, i.kind)
        if i.path is None:
            continue
        reqs = [r for r in res.requests if r["path"] == i.path]
        known.update(id(r) for r in reqs)
        if not check(len(reqs) == 1, "%s: %d handler requests reached httpd, expected 1"
                     % (what, len(reqs)), res.requests):
            continue
        r = reqs[0]
        if not header:
            check(r["trace_header_count"] == 0, "%s: a plain-socket request got X-Amzn-Trace-Id "
                  "%s (the library never adds one there)" % (what, r["trace_headers"]), r)
            continue
        if not check(r["trace_header_count"] == 1, "%s: %d X-Amzn-Trace-Id headers downstream, "
                     "expected 1" % (what, r["trace_header_count"]), r):
            continue
        v = r["trace_headers"][0]
        if i.sampled:
            want = r"^Root=%s;Parent=([0-9a-f]{16});Sampled=1%s$" % (
                re.escape(i.root), re.escape(";Lineage=" + LINEAGE) if i.lineage else "")
            m = re.match(want, v)
            if check(m is not None, "%s: downstream header %r, expected Root=%s;Parent=<the HTTP "
                     "subsegment>;Sampled=1%s" % (what, v, i.root,
                                                  ";Lineage=" + LINEAGE if i.lineage else ""), r):
                check(http_ids.get(i.id) is not None and m.group(1) == http_ids.get(i.id),
                      "%s: downstream Parent=%s, expected the HTTP subsegment's id %s"
                      % (what, m.group(1), http_ids.get(i.id)), r)
        else:
            m = re.match(r"^Root=%s;Parent=([0-9a-f]{16});Sampled=0$" % re.escape(i.root), v)
            if check(m is not None, "%s: downstream header %r, expected Root=%s;Parent=<16 hex>;"
                     "Sampled=0" % (what, v, i.root), r):
                check(m.group(1) not in doc_ids, "%s: the unsampled Parent names a document"
                      % what, r)
    extra = [r for r in res.requests if id(r) not in known]
    check(not extra, "%s: unexpected requests reached httpd" % label, extra or None)


def check_same_conversation(res, base, label):
    """Scenario (e): without the preload the runtime behaves the same."""
    check(not res.timed_out and not base.timed_out, "%s: a run timed out" % label)
    check(res.returncode == base.returncode, "%s: exit status %s with preload, %s without"
          % (label, res.returncode, base.returncode),
          {"with": res.describe(), "without": base.describe()})
    check(res.stdout == base.stdout, "%s: stdout differs with preload" % label,
          {"with": res.stdout[-3000:], "without": base.stdout[-3000:]})
    for run_ in (res, base):
        for r in run_.api:
            check(r["headers"].get("host") == run_.api_address, "%s: Host %r, expected the "
                  "Runtime API's %s" % (label, r["headers"].get("host"), run_.api_address), r)

    def key(r):  # each run has an API of its own: its port is in Host
        return (r["method"], r["path"], r["kind"], r["status"], r["invocation"], r["body"],
                {k: v for k, v in r["headers"].items() if k != "host"})

    a, b = [key(r) for r in res.api], [key(r) for r in base.api]
    check(a == b, "%s: the Runtime API conversation differs with preload" % label,
          {"with": a, "without": b})
    H.check_same_headers(res.requests, base.requests, label + " (handler requests)")


def verify(res, base, invs, label, runtime, header, init_calls, idle_calls):
    check(res.returncode == 0 and not res.timed_out, "%s: the runtime exited with %s, expected 0"
          % (label, res.returncode), res.describe())
    if runtime in ("c", "py"):
        check(base.stdout == expected_stdout(invs, runtime), "%s: stdout without preload "
              "(sanity)" % label, {"got": base.stdout, "want": expected_stdout(invs, runtime)})
    check_api_log(res, invs, label, 3 if runtime == "c" else 1, runtime in ("c", "py"))
    check_api_log(base, invs, label + " (no preload)", 3 if runtime == "c" else 1,
                  runtime in ("c", "py"))
    res.http_ids = check_docs(res, invs, label, plain_sockets=not header)
    check_requests(res, invs, label, header, init_calls, idle_calls)
    check_same_conversation(res, base, label)


def runtime_env():
    return {"RUNTIME_INIT_URL": HTTPD.url("/ok?phase=init"),
            "RUNTIME_IDLE_URL": HTTPD.url("/ok?phase=idle"),
            "HANDLER_PG_CONNINFO": INFO.conninfo()}


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------
def t_c_runtime():
    invs = invocations("c")
    cmd = [os.path.join(S.build, "lambda_runtime")]
    base = run(cmd, invs, preload=False, env=runtime_env())
    res = run(cmd, invs, env=runtime_env())
    verify(res, base, invs, "c runtime", "c", header=True, init_calls=1, idle_calls=len(invs))


def t_c_setenv():
    invs = invocations("setenv")
    cmd = [os.path.join(S.build, "lambda_runtime"), "--setenv-trace-id"]
    env = runtime_env()
    base = run(cmd, invs, preload=False, env=env)
    env["XRAY_AUTO_SEGMENT"] = "process"
    res = run(cmd, invs, env=env, sampling="all")
    verify(res, base, invs, "c runtime setenv", "c", header=True, init_calls=1,
           idle_calls=len(invs))


def t_py_runtime(putenv=False):
    p = subprocess.run([PY, "-c", "import psycopg2"], capture_output=True)
    if p.returncode != 0:
        print("SKIP (py_runtime): %s cannot import psycopg2 (package python3-psycopg2)" % PY)
        return
    invs = invocations("py-putenv" if putenv else "py")
    cmd = [PY, os.path.join(SRC, "examples", "lambda", "runtime.py")]
    env = runtime_env()
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if putenv:
        env["RUNTIME_SETENV_TRACE_ID"] = "1"
    base = run(cmd, invs, preload=False, env=env)
    res = run(cmd, invs, env=env)
    verify(res, base, invs, "python runtime" + (" putenv" if putenv else ""), "py",
           header=False, init_calls=1, idle_calls=len(invs))


def t_py_putenv():
    t_py_runtime(putenv=True)


def unzip_layer(dest):
    """Extracts the layer zip keeping Unix modes; returns {name: ZipInfo}."""
    members = {}
    with zipfile.ZipFile(os.path.join(S.build, LAYER_ZIP)) as z:
        for zi in z.infolist():
            members[zi.filename] = zi
            if zi.is_dir():
                continue
            path = z.extract(zi, dest)
            mode = (zi.external_attr >> 16) & 0o7777
            if mode:
                os.chmod(path, mode)
    return members


def readelf_needed(path):
    out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def namespace_reason():
    """None if a private mount namespace can bind a directory on /opt here, else why not."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) not found"
    if not os.path.isdir("/opt"):
        return "/opt does not exist"
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                        'mount --bind "$1" /opt', "sh", S.tmp], capture_output=True, text=True)
    if p.returncode != 0:
        return "unshare --mount / mount --bind not permitted here (%s)" % (
            (p.stderr or p.stdout).strip() or "exit %d" % p.returncode)
    return None


def in_opt(argv):
    """argv run with the unzipped layer bind-mounted on /opt (private mount namespace)."""
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
            'mount --bind "$1" /opt && shift && exec "$@"', "sh", LAYER_DIR] + list(argv)


def t_layer():
    global LAYER_DIR, NS_REASON
    LAYER_DIR = S.path("layer")
    members = unzip_layer(LAYER_DIR)
    lib = os.path.join(S.build, "libxray-auto.so")
    extra = sorted(n for n in readelf_needed(lib) if n not in GLIBC_SONAMES)
    # libcjson.so.1 only when cJSON is not compiled in (cmake/cjson.cmake, XR_CJSON_BUILTIN)
    check(set(extra) <= {"libcjson.so.1"}, "layer: libxray-auto.so needs %s besides glibc "
          "(the README's DT_NEEDED contract: libcjson.so.1 at most)" % extra,
          readelf_needed(lib))
    want = {"bootstrap", "lib/libxray-auto.so"} | {"lib/" + n for n in extra}
    got = set(n for n, zi in members.items() if not zi.is_dir())
    check(got == want, "layer: members %s, expected exactly %s" % (sorted(got), sorted(want)))
    dirs = [n for n, zi in members.items() if zi.is_dir()]
    check(set(dirs) <= {"lib/"}, "layer: unexpected directories %s" % dirs)

    def same(a, b):
        with open(a, "rb") as fa, open(b, "rb") as fb:
            return fa.read() == fb.read()

    check(same(os.path.join(LAYER_DIR, "lib", "libxray-auto.so"), lib),
          "layer: lib/libxray-auto.so differs from the build's library (stale zip?)")
    check(same(os.path.join(LAYER_DIR, "bootstrap"),
               os.path.join(SRC, "examples", "lambda", "bootstrap")),
          "layer: bootstrap differs from examples/lambda/bootstrap")
    if "bootstrap" in members:
        mode = (members["bootstrap"].external_attr >> 16) & 0o777
        check(mode == 0o755, "layer: bootstrap mode %o, expected 755" % mode)
    for n in extra:
        p = os.path.join(LAYER_DIR, "lib", n)
        if not check(os.path.isfile(p) and not os.path.islink(p),
                     "layer: lib/%s must be a regular file" % n):
            continue
        soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]",
                           subprocess.run(["readelf", "-d", p], capture_output=True,
                                          text=True).stdout)
        check(soname is not None and soname.group(1) == n,
              "layer: lib/%s has SONAME %s" % (n, soname and soname.group(1)))
    elfs = sorted(os.path.join(LAYER_DIR, n) for n in got if n.startswith("lib/"))
    provided = set(os.path.basename(e) for e in elfs)
    for e in elfs:
        missing = [n for n in readelf_needed(e) if n not in GLIBC_SONAMES and n not in provided]
        check(not missing, "layer: %s needs %s, which the layer does not carry"
              % (os.path.relpath(e, LAYER_DIR), missing))
    script = os.path.join(SRC, "tests", "check_glibc_version.sh")
    if check(os.path.isfile(script), "layer: %s is missing: the glibc symbol versions of the "
             "layer's ELF files (<= 2.26 for provided.al2) cannot be checked" % script):
        for e in elfs:
            p = subprocess.run(["bash", script, e], capture_output=True, text=True)
            check(p.returncode == 0, "layer: check_glibc_version.sh %s exited %d"
                  % (os.path.relpath(e, LAYER_DIR), p.returncode), (p.stdout + p.stderr)[-2000:])

    NS_REASON = namespace_reason()
    if NS_REASON:
        print("note: the layer is not run from /opt: %s" % NS_REASON)
        return
    # Loaded exactly as in Lambda: LD_PRELOAD=/opt/lib/libxray-auto.so, LD_LIBRARY_PATH=/opt/lib.
    env = S.base_env()
    env.update({"LD_PRELOAD": "/opt/lib/libxray-auto.so", "LD_LIBRARY_PATH": "/opt/lib",
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9"})
    p = subprocess.run(in_opt(["/bin/cat", "/proc/self/maps"]), capture_output=True, text=True,
                       env=env)
    maps = set(line.split()[-1] for line in p.stdout.splitlines() if "/" in line)
    for n in ["libxray-auto.so"] + extra:
        check("/opt/lib/" + n in maps, "layer: /opt/lib/%s is not mapped in a process started "
              "with the layer's LD_PRELOAD and LD_LIBRARY_PATH" % n,
              {"exit": p.returncode, "stderr": p.stderr[-2000:], "maps": sorted(maps)})


def t_bootstrap():
    if LAYER_DIR is None or not os.path.isfile(os.path.join(LAYER_DIR, "bootstrap")):
        check(False, "bootstrap: the layer was not unzipped (see the layer scenario)")
        return
    psql = dbservers.pg_bin("psql")
    if not psql or not H.which("curl"):
        print("SKIP (bootstrap): needs the curl CLI and psql (packages curl, postgresql-client)")
        return
    task = S.path("task")
    os.makedirs(task, exist_ok=True)
    shutil.copy2(os.path.join(SRC, "examples", "lambda", "handler.sh"), task)
    with open(os.path.join(task, "init.sh"), "w") as f:
        f.write("#!/bin/sh\nexec curl -sS -o /dev/null '%s'\n" % HTTPD.url("/ok?phase=init"))
    os.chmod(os.path.join(task, "init.sh"), 0o755)
    env = {"LD_PRELOAD": None, "LAMBDA_TASK_ROOT": task, "_HANDLER": "handler.sh",
           "PGHOST": HOST, "PGPORT": str(INFO["port"]), "PGUSER": INFO["user"],
           "PGDATABASE": INFO["database"], "PSQL": psql, "XRAY_AUTO_PRELOAD": None}
    if NS_REASON is None:
        cmd = in_opt(["/opt/bootstrap"])
        env["LD_LIBRARY_PATH"] = "/opt/lib"
        label = "bootstrap from /opt"
    else:
        print("note: bootstrap runs from %s with XRAY_AUTO_PRELOAD (%s)" % (LAYER_DIR, NS_REASON))
        cmd = [os.path.join(LAYER_DIR, "bootstrap")]
        env["LD_LIBRARY_PATH"] = os.path.join(LAYER_DIR, "lib")
        env["XRAY_AUTO_PRELOAD"] = os.path.join(LAYER_DIR, "lib", "libxray-auto.so")
        label = "bootstrap from the unzipped layer"
    invs = invocations("sh")
    # Without preload: the same bootstrap with XRAY_AUTO_PRELOAD="" (it then preloads nothing).
    base = run(cmd, invs, env=dict(env, XRAY_AUTO_PRELOAD=""), preload=False)
    res = run(cmd, invs, env=env)
    want_responses = ['{"http_status":%d,"row":"%s"}\n' % (s, ROW) for s in (0, 200)]
    bodies = set(r["body"] for r in base.api if r["kind"] == "response")
    check(bodies == set(want_responses), "%s: handler responses without preload %s, expected "
          "%s (sanity)" % (label, sorted(bodies), want_responses))
    errors = [r for r in base.api if r["kind"] == "error"]
    check(all(r["headers"].get("lambda-runtime-function-error-type") == "Runtime.ExitError"
              for r in errors) and len(errors) == 1,
          "%s: the failing handler must be posted to /error with Runtime.ExitError (sanity)"
          % label, errors)
    verify(res, base, invs, label, "sh", header=True, init_calls=1, idle_calls=0)


# ---------------------------------------------------------------------------------------------
def main():
    global S, HTTPD, INFO, LAYER_DIR, NS_REASON
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "lambda")
    S.require_build("lambda_runtime", LAYER_ZIP)
    try:
        INFO = dbservers.ensure(S.build, "pg")
    except dbservers.DbServerError as e:
        check(False, "PostgreSQL did not start: %s" % e)
        return H.summary()
    if INFO is None:
        H.skip("PostgreSQL is not installed (every handler queries it; reason above)")
    HTTPD = S.start_httpd()
    LAYER_DIR = NS_REASON = None
    for fn in (t_c_runtime, t_c_setenv, t_layer, t_bootstrap, t_py_runtime, t_py_putenv):
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
