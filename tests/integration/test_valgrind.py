#!/usr/bin/python3
"""Integration test: valgrind memcheck over real clients under LD_PRELOAD=<build>/libxray-auto.so.

Each case runs a program of the build under

    valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
             --show-leak-kinds=definite --track-fds=yes
             --suppressions=tests/valgrind/libunwind.supp

with the library preloaded (valgrind prepends its own preloads to LD_PRELOAD) and a collector,
and asserts: no memcheck error (invalid reads/writes, uninitialised values reaching a branch or
a syscall, bad frees) and no definitely lost byte in any process; no descriptor the library's
own code opened left open at exit besides the emitter's UDP socket (kept by design); the
program's exit status and stdout the same as without valgrind and the preload; and exactly the
documents the traced work must produce (a run that emits nothing would prove nothing).

Cases: curl_client easy, --reuse --post, --multi (libcurl hooks: statuses, a refused connect);
net_client --io send / vec --pipeline / msg --nonblock (sockets layer, client side);
net_server under valgrind serving plain-socket requests, /call's downstream GET included, until
SIGTERM (server side); pq_example sync / async / pipeline / error and mysql_example text / stmt
/ error (the error modes record the program's stack through the dlopened libunwind: the
documents must carry it); lambda_runtime serving test_lambda.py's six invocations (Lambda
mode); the xray-auto tool itself (tests/valgrind/collector_datagrams.py: valid, malformed,
truncated and oversized datagrams, `run --collect`, `doctor`); the C API: api_example (the
header's dlsym wrappers, annotations, metadata, errors, nested subsegments around a traced GET)
and api_threads (a thread exiting with its segment and subsegments open: freed at thread exit;
a segment ended with two subsegments open); the plugins: plugins_probe with ec2, ecs, eks and
beanstalk against test_plugins.py's fake ECS and IMDSv2 endpoints and fixture files (the
gathering thread, its HTTP client and parsers, the published document on every segment).

One suppression, for a third-party false positive (libunwind's address probe; the file says
why). Prints per case the valgrind errors (and suppressed ones) and the definitely lost bytes,
then the totals.

Usage: test_valgrind.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: valgrind not installed;
the database cases are left out, reason printed, when their server is not installed)
"""

import glob
import http.client
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402
import harness as H  # noqa: E402
from harness import check  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUPP = os.path.join(SRC, "tests", "valgrind", "libunwind.supp")
sys.path.insert(0, os.path.join(SRC, "tests", "valgrind"))
VG_ERROR_EXIT = 99
# valgrind runs each program 10-50 times slower: the whole script takes about a minute here,
# the budget leaves room for a loaded machine (ctest TIMEOUT 400).
H.TIME_BUDGET = float(os.environ.get("XRAY_IT_TIME_BUDGET", "330"))
RUN_TIMEOUT = 150.0

TOTALS = {"runs": 0, "processes": 0, "errors": 0, "suppressed": 0, "definite": 0,
          "our_fds": 0}


# ---------------------------------------------------------------------------------------------
# valgrind and its logs
# ---------------------------------------------------------------------------------------------
def vg(label):
    """The valgrind command prefix for one case; its logs go to <tmp>/vg-<label>.<pid>.log."""
    return [VALGRIND, "--tool=memcheck", "--error-exitcode=%d" % VG_ERROR_EXIT,
            "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite", "--track-fds=yes", "--num-callers=40",
            "--child-silent-after-fork=yes", "--gen-suppressions=all",
            "--suppressions=" + SUPP, "--log-file=" + S.path("vg-%s.%%p.log" % label)]


ERR_RE = re.compile(r"ERROR SUMMARY: ([\d,]+) errors from [\d,]+ contexts "
                    r"\(suppressed: ([\d,]+) from")
DEF_RE = re.compile(r"definitely lost: ([\d,]+) bytes in ([\d,]+) blocks")
PID_RE = re.compile(r"^==(\d+)==", re.M)


def _int(s):
    return int(s.replace(",", ""))


def our_open_fds(text):
    """Descriptors open at exit that the library's own code created (the first frame above
    the system call is an xr_ function), except the emitter's UDP socket."""
    out = []
    blocks = re.split(r"\n==\d+== \n", text)
    for b in blocks:
        if not re.search(r"Open (file descriptor|AF_\w+ socket|\w+ socket) ", b):
            continue
        frames = re.findall(r"(?:at|by) 0x[0-9A-F]+: (\S+)", b)
        if len(frames) < 2:
            continue  # <inherited from parent>
        creator = frames[1]
        if creator.startswith("xr_") and "emitter.c" not in b:
            out.append(b.strip())
    return out


def vg_check(label, rc=None):
    """Reads the case's logs, asserts and prints its figures; returns the figures."""
    logs = sorted(glob.glob(S.path("vg-%s.*.log" % label)))
    fig = {"processes": 0, "errors": 0, "suppressed": 0, "definite": 0, "our_fds": 0}
    check(logs, "%s: no valgrind log was written" % label)
    for path in logs:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
        fig["processes"] += 1
        m = ERR_RE.search(text)
        if not check(m is not None, "%s: %s has no ERROR SUMMARY (the process was killed?)"
                     % (label, os.path.basename(path)), text[-3000:]):
            continue
        errors, suppressed = _int(m.group(1)), _int(m.group(2))
        d = DEF_RE.search(text)
        definite = _int(d.group(1)) if d else 0
        fds = our_open_fds(text)
        fig["errors"] += errors
        fig["suppressed"] += suppressed
        fig["definite"] += definite
        fig["our_fds"] += len(fds)
        check(errors == 0, "%s: valgrind reports %d errors (%s)" % (label, errors, path),
              text[-12000:])
        check(definite == 0, "%s: %d bytes definitely lost (%s)" % (label, definite, path),
              text[-12000:])
        check(not fds, "%s: descriptors opened by the library still open at exit" % label,
              "\n\n".join(fds))
    if rc is not None:
        check(rc != VG_ERROR_EXIT, "%s: valgrind's error exit status %d" % (label, rc))
    print("valgrind: %-28s %d process(es), errors %d (suppressed %d), definitely lost %d "
          "bytes, library fds left open %d" % (label, fig["processes"], fig["errors"],
                                              fig["suppressed"], fig["definite"],
                                              fig["our_fds"]))
    TOTALS["runs"] += 1
    for k in fig:
        TOTALS[k] += fig[k]
    return fig


def run_case(label, cmd, n_docs, env=None, expect_rc=0, normalize=None):
    """cmd without valgrind and the preload (the baseline), then under both; asserts the same
    exit status and stdout (normalize(stdout) when given), the valgrind figures and exactly
    n_docs valid documents."""
    norm = normalize or (lambda text: text)
    base = S.run(cmd, preload=False, env=env, timeout=RUN_TIMEOUT)
    check(base.returncode == expect_rc, "%s: exit %s without preload, expected %s (sanity)"
          % (label, base.returncode, expect_rc), base.describe())
    res = S.run(vg(label) + cmd, env=env, expect_docs=n_docs, timeout=RUN_TIMEOUT,
                doc_timeout=30.0)
    check(res.returncode == base.returncode, "%s: exit %s under valgrind with the preload, %s "
          "without" % (label, res.returncode, base.returncode),
          {"with": res.describe(), "without": base.describe()})
    check(norm(res.stdout) == norm(base.stdout),
          "%s: stdout differs under valgrind with the preload" % label,
          {"with": res.stdout[-2000:], "without": base.stdout[-2000:]})
    check(len(res.docs) == n_docs, "%s: %d documents, expected %d (the traced work)"
          % (label, len(res.docs), n_docs), res.raw[-4000:])
    vg_check(label, rc=res.returncode)
    return res


def stacks(res):
    """The recorded stacks (cause.exceptions[].stack) of a run's subsegments."""
    out = []
    for rec in res.records:
        for exc in H.get(rec["sub"], "cause", "exceptions") or []:
            if isinstance(exc, dict) and exc.get("stack"):
                out.append(exc["stack"])
    return out


def check_stack_recorded(res, label):
    if not os.path.exists(LIBUNWIND):
        print("note: %s: %s not installed, no stack to record" % (label, LIBUNWIND))
        return
    check(stacks(res), "%s: no document carries a stack: the libunwind path did not run"
          % label, res.raw[-4000:])


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------
def t_curl():
    client = os.path.join(S.build, "curl_client")
    refused = "http://127.0.0.1:%d/refused" % H.free_port()
    urls = [HTTPD.url("/ok"), HTTPD.url("/notfound"), HTTPD.url("/error"),
            HTTPD.url("/chunked"), refused]
    for label, opts in (("curl_client easy", []),
                        ("curl_client reuse post", ["--reuse", "--post", "a=b"]),
                        ("curl_client multi", ["--multi"])):
        # --multi prints the transfers in the order they complete
        run_case(label.replace(" ", "-"), [client] + opts + urls, len(urls), expect_rc=1,
                 normalize=H.sorted_lines)


def t_net_client():
    client = os.path.join(S.build, "net_client")
    for label, opts, paths in (
            ("net_client send", ["--io", "send"], ["/ok", "/notfound", "/chunked"]),
            ("net_client vec pipeline", ["--io", "vec", "--pipeline"], ["/ok", "/big", "/error"]),
            ("net_client msg nonblock", ["--io", "msg", "--nonblock"], ["/ok", "/throttle"])):
        run_case(label.replace(" ", "-"),
                 [client] + opts + ["127.0.0.1", str(HTTPD.port)] + paths, len(paths))


def t_net_server():
    label = "net_server"
    cmd = vg(label) + [os.path.join(S.build, "net_server"), "--downstream",
                       "127.0.0.1:%d" % HTTPD.port]
    srv = H.PreloadedServer(S, cmd, timeout=60.0)
    reqs = [("GET", "/hello", 200), ("GET", "/missing", 404), ("GET", "/boom", 500),
            ("GET", "/call", 200), ("POST", "/call?to=/notfound", 200),
            ("GET", "/chunked", 200), ("GET", "/big", 200), ("HEAD", "/hello", 200)]
    mark = srv.mark()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        for method, path, status in reqs:
            conn.request(method, path, body=b"x" * 100 if method == "POST" else None)
            r = conn.getresponse()
            r.read()
            check(r.status == status, "%s: %s %s answered %d, expected %d"
                  % (label, method, path, r.status, status))
    finally:
        conn.close()
    docs = srv.wait_docs(len(reqs), since=mark, timeout=30.0)
    rc = srv.stop(timeout=60.0)
    check(rc == 0, "%s: exit %s after SIGTERM, expected 0; stderr: %s"
          % (label, rc, srv.stderr()[-2000:]))
    check(len(docs) == len(reqs), "%s: %d documents, expected one segment per request (%d)"
          % (label, len(docs), len(reqs)), docs)
    subs = [r for r in H.flatten(docs) if not r["independent"]]
    check(len(subs) == 2, "%s: %d subsegments, expected the two /call downstream GETs"
          % (label, len(subs)), docs)
    vg_check(label, rc=rc)


PQ_MODES = {"sync": 5, "async": 5, "pipeline": 4, "error": 3}
MYSQL_MODES = {"text": 6, "stmt": 5, "error": 5}


def t_pq():
    exe = os.path.join(S.build, "pq_example")
    env = PG.client_env()
    for mode, n in PQ_MODES.items():
        res = run_case("pq_example-" + mode, [exe, PG.conninfo(), mode], n, env=env)
        if mode == "error":
            check_stack_recorded(res, "pq_example-error")


def t_mysql():
    exe = os.path.join(S.build, "mysql_example")
    env = D.clean_env(MY.client_env())
    for mode, n in MYSQL_MODES.items():
        cmd = [exe, "127.0.0.1", str(MY["port"]), MY["user"], "-", MY["database"], mode]
        res = run_case("mysql_example-" + mode, cmd, n, env=env)
        if mode == "error":
            check_stack_recorded(res, "mysql_example-error")


def t_lambda():
    import test_lambda as L
    L.S, L.HTTPD, L.INFO = S, HTTPD, PG
    label = "lambda_runtime"
    invs = L.invocations("vg")
    api = L.LambdaApi(S, invs)
    env = L.base_env(api)
    env.update(L.runtime_env())
    n = 3 * len([i for i in invs if i.sampled])
    res = S.run(vg(label) + [os.path.join(S.build, "lambda_runtime")], env=env,
                sampling=None, httpd=HTTPD, expect_docs=n, timeout=RUN_TIMEOUT, doc_timeout=30.0)
    api.stop()
    check(res.returncode == 0, "%s: exit %s, expected 0" % (label, res.returncode),
          res.describe())
    check(res.stdout == L.expected_stdout(invs, "c"), "%s: stdout differs from the runtime's "
          "expected output" % label, res.stdout)
    check(len(res.docs) == n, "%s: %d documents, expected %d (3 per sampled invocation)"
          % (label, len(res.docs), n), res.raw[-4000:])
    check_stack_recorded(res, label)
    vg_check(label, rc=res.returncode)


def t_api():
    # Without the library every call returns -ENOSYS: only the GETs' lines compare.
    def gets(text):
        return [line for line in text.splitlines() if line.startswith("get ")]
    for prog, last in (("api_example", "end_segment 0"), ("api_threads", "worker_end_segment 0")):
        res = run_case(prog, [os.path.join(S.build, prog), str(HTTPD.port)], 1, normalize=gets)
        check(last in res.stdout.splitlines(), "%s: the API calls succeeded under valgrind"
              % prog, res.describe())


def t_plugins():
    import json
    import test_plugins as P
    P.S = S
    ecs, imds = P.Fake(P.ecs_behaviour), P.Fake(P.imds_behaviour())
    env = dict(P.ecs_env(ecs), **P.imds_env(imds))
    env["XRAY_AUTO_PLUGINS"] = "ec2,ecs,eks,beanstalk"
    env["XRAY_AUTO_PLUGINS_ROOT"] = P.root_with("vg-plugins", {
        P.BEANSTALK_FILE: json.dumps(P.BEANSTALK), "proc/self/cgroup": P.CGROUP_V1})
    try:
        # Segments 1.5 s apart: under valgrind the gathering takes a while; the last ones
        # carry what it found.
        res = run_case("plugins_probe", [os.path.join(S.build, "plugins_probe"), "4", "1500"],
                       4, env=env, normalize=lambda text: "")
        last = max(H.segments(res.docs), key=lambda d: d.get("start_time", 0), default={})
        check(H.get(last, "aws", "ecs", "container_id") == P.ECS_CONTAINER["DockerId"]
              and H.get(last, "aws", "elastic_beanstalk") == P.BEANSTALK
              and H.get(last, "service", "runtime") == "plugins_probe",
              "plugins_probe: the last segment carries the plugins' blocks", last)
    finally:
        ecs.stop()
        imds.stop()


def t_collector():
    import collector_datagrams as C
    label = "xray-auto"
    passed, failed = C.exercise(S.tool, wrap=vg(label), main_build=S.build, timeout=60.0)
    check(failed == 0 and passed > 0, "%s: %d of the tool's checks failed (printed above)"
          % (label, failed))
    vg_check(label)


# ---------------------------------------------------------------------------------------------
def main():
    global S, HTTPD, PG, MY, VALGRIND, LIBUNWIND
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    VALGRIND = shutil.which("valgrind")
    if not VALGRIND:
        H.skip("valgrind is not installed (apt-get install valgrind)")
    S = H.Session(sys.argv[1], "valgrind")
    S.require_build("curl_client", "net_client", "net_server", "pq_example", "mysql_example",
                    "lambda_runtime", "api_example", "api_threads", "plugins_probe")
    LIBUNWIND = "/usr/lib/x86_64-linux-gnu/libunwind.so.8"
    for p in glob.glob("/usr/lib/*/libunwind.so.8"):
        LIBUNWIND = p
    HTTPD = S.start_httpd()
    scenarios = [("curl_client", t_curl), ("net_client", t_net_client),
                 ("net_server", t_net_server), ("xray-auto tool", t_collector),
                 ("C API", t_api), ("plugins", t_plugins)]
    try:
        PG = dbservers.ensure(S.build, "pg")
    except dbservers.DbServerError as e:
        PG = None
        check(False, "PostgreSQL did not start: %s" % e)
    try:
        MY = dbservers.ensure(S.build, "mariadb")
    except dbservers.DbServerError as e:
        MY = None
        check(False, "MariaDB did not start: %s" % e)
    if PG is not None:
        scenarios += [("pq_example", t_pq), ("lambda_runtime", t_lambda)]
    else:
        print("note: PostgreSQL not installed: pq_example and lambda_runtime left out")
    if MY is not None:
        scenarios.append(("mysql_example", t_mysql))
    else:
        print("note: MariaDB not installed: mysql_example left out")
    for name, fn in scenarios:
        H.scenario(name, fn)
    print("valgrind totals: %(runs)d runs, %(processes)d processes, %(errors)d errors "
          "(%(suppressed)d suppressed: libunwind's probe), %(definite)d bytes definitely lost, "
          "%(our_fds)d library descriptors left open" % TOTALS)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
