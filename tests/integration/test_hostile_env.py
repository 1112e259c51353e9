#!/usr/bin/python3
"""Integration test: a hostile environment never changes what the host does.

Real traced workloads (the curl CLI, `<build>/net_client` on plain sockets, Python urllib),
against httpd.py, run without and with the preload under each condition:

  daemon       nothing listening on the daemon's loopback port (every datagram draws an
               ICMP port unreachable); a TEST-NET address behind an `unreachable` route
               (EHOSTUNREACH at each sendto); a name the DNS server says does not exist
               (NXDOMAIN); a name whose DNS server never answers (glibc: 2 x 5 s); a name
               answered only after 300 ms (later documents must arrive);
  variables    every variable the library reads (found in src/ and hooks/: a variable the
               test does not know fails it) set at once to each class of bad value: empty,
               garbage, ~100 KiB (execve caps one string at 128 KiB, so 1 MiB cannot reach a
               constructor through the environment; it is set in-process below), non-UTF-8
               bytes, newlines and terminal escapes, negative / overflowing numbers, ports
               0 / 65536 / -1, trailing garbage, a lone colon, IPv6 forms, a FIFO as the rules
               file;
  in-process   Lambda mode with _X_AMZN_TRACE_ID changed before every call to garbage, 1 MiB,
               non-UTF-8 bytes, empty, unset (read by the library at each call).

For every run: exit status, stdout and stderr without our lines identical to the run without
the preload; the library's lines counted.  "One log line at most" means: at the default level,
a process logs at most one line per malformed variable (in its constructor, naming it; an
empty value is unset and silent), and at most one line for the daemon in its whole life
(however many documents are dropped); a value cannot make a line break.  Timing: the median
wall time of 3 runs with the preload against 3 without, interleaved; the figures are printed,
the assertion only catches stalls (with - without < 0.5 s: a resolution on the host's thread
costs 10 s).

The script re-runs itself in private user, mount and network namespaces (`unshare -rmn`):
its own loopback, where a DNS server of the script's (127.0.0.1:53, bind-mounted
/etc/resolv.conf) answers NXDOMAIN, late, or never, and nothing else uses 127.0.0.1:2000 (the
default address bad values fall back to); 198.51.100.0/24 gets an `unreachable` route there.
Without namespaces the DNS conditions are replaced by the system resolver's answer for
nonexistent.invalid (printed), TEST-NET goes wherever the machine routes it, and the documents
of the bad-value runs go to the machine's 127.0.0.1:2000.

Usage: test_hostile_env.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: curl not installed)
       XRAY_IT_HOSTILE_ONLY=TEXT runs only the scenarios whose name contains TEXT.
"""

import glob
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

NS_MARK = "XRAY_IT_HOSTILE_NS"
OURS = re.compile(rb"^libxray-auto\[(\d+)\]: (error|warn|info|debug): (.*)$")
RUNS = 3
STALL_S = 0.5

# Every variable the library reads, and the kind of value it takes (for the classes below).
VARIABLES = {
    "AWS_XRAY_DAEMON_ADDRESS": "address",
    "AWS_XRAY_TRACING_NAME": "name",
    "AWS_XRAY_SDK_ENABLED": "bool",
    "AWS_XRAY_CONTEXT_MISSING": "word",
    "AWS_XRAY_COLLECT_SQL_QUERIES": "bool",
    "_X_AMZN_TRACE_ID": "header",
    "AWS_LAMBDA_RUNTIME_API": "address",
    "XRAY_AUTO_HOOKS": "word",
    "XRAY_AUTO_SEGMENT": "word",
    "XRAY_AUTO_SAMPLING": "word",
    "XRAY_AUTO_SAMPLING_RULES": "path",
    "XRAY_AUTO_SQL": "word",
    "XRAY_AUTO_LOG_LEVEL": "word",
    "XRAY_AUTO_PROPAGATE": "word",
    "AWS_XRAY_NOOP_ID": "bool",
    "XRAY_AUTO_PLUGINS": "word",
    "XRAY_AUTO_PLUGINS_ROOT": "path",
    # read only when XRAY_AUTO_PLUGINS lists ecs / ec2: t_plugin_variables
    "ECS_CONTAINER_METADATA_URI_V4": "address",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT": "address",
}
# The variables read only with plugins listed (t_plugin_variables lists them all).
PLUGIN_VARIABLES = ("XRAY_AUTO_PLUGINS_ROOT", "ECS_CONTAINER_METADATA_URI_V4",
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT")
HUGE = 100 * 1024

S = None
SRV = None
IN_NS = False
FIGURES = []


def b2s(b):
    return os.fsdecode(b)  # surrogateescape: subprocess passes the bytes through unchanged


def value_classes(fifo):
    """{class name: {variable: value}}: every variable gets a bad value of that class."""
    def per_kind(address, other, bool_=None, path=None, header=None):
        out = {}
        for var, kind in VARIABLES.items():
            if kind == "address":
                out[var] = address
            elif kind == "bool" and bool_ is not None:
                out[var] = bool_
            elif kind == "path" and path is not None:
                out[var] = path
            elif kind == "header" and header is not None:
                out[var] = header
            else:
                out[var] = other
        return out
    return {
        "empty": per_kind("", ""),
        "garbage": per_kind("garbage", "!@#garbage%s*", path="/nonexistent/rules.json",
                            header="Root=garbage"),
        "huge ~100 KiB": per_kind("a" * HUGE + ":2000", "x" * HUGE, path="/" + "p" * HUGE,
                                  header="Root=" + "1" * HUGE),
        "non-UTF-8": per_kind(b2s(b"\xff\xfe:2000"), b2s(b"call\xc3\x28\xa0\xa1\xff"),
                              path=b2s(b"/tmp/\xff\xfe.json")),
        "newlines and escapes": per_kind("127.0.0.1:2000\nlibxray-auto[1]: error: injected",
                                         "call\r\n\x1b[2J\x1b]0;title\x07x",
                                         path="/tmp/a\nb"),
        "negative and overflow": per_kind("127.0.0.1:-1", "-1", bool_="99999999999999999999",
                                          path="-1", header="Root=-1;Sampled=-1"),
        "ports 0": per_kind("127.0.0.1:0", "0x0", bool_="00", path="0"),
        "ports 65536": per_kind("127.0.0.1:65536", "65536"),
        "ports 99999999999999999999": per_kind("127.0.0.1:99999999999999999999",
                                               "99999999999999999999"),
        "trailing garbage": per_kind("127.0.0.1:2000x", "call;", bool_="truex",
                                     path="/dev/null/x", header="Root=1-5759e988-bd862e3fe1"
                                     "be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\x01"),
        "lone colon": per_kind(":", ":"),
        "IPv6 forms": per_kind("[::1]:2000", "::1", path="[::1]"),
        "a FIFO as the rules file": per_kind("udp:[::1]:2000 tcp:[::1]:2000", "fe80::1%lo",
                                             path=fifo),
    }


# ---------------------------------------------------------------------------------------------
# the workloads
# ---------------------------------------------------------------------------------------------
URLLIB = r"""
import sys, urllib.error, urllib.request
for u in sys.argv[1:]:
    try:
        with urllib.request.urlopen(u, timeout=30) as r:
            print(u.rsplit("/", 1)[1], r.status, len(r.read()))
    except urllib.error.HTTPError as e:
        print(u.rsplit("/", 1)[1], "HTTPError", e.code)
"""

LAMBDA_ENV = r"""
import os, sys, urllib.error, urllib.request
values = [b"garbage", b"Root=" + b"1" * (1 << 20), b"\xff\xfe\x80;Root=\xff", b"",
          b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\n",
          None, b"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0;" + b"x=" * 300000]
for v in values:
    if v is None:
        os.environb.pop(b"_X_AMZN_TRACE_ID", None)
    else:
        os.environb[b"_X_AMZN_TRACE_ID"] = v
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=30) as r:
            print(r.status, len(r.read()))
    except urllib.error.HTTPError as e:
        print("HTTPError", e.code)
"""


def workloads():
    paths = ["/ok", "/notfound", "/chunked"]
    out = [("curl", [H.which("curl"), "-sS"] + [SRV.url(p) for p in paths], len(paths)),
           ("net_client", [os.path.join(S.build, "net_client"), "127.0.0.1", str(SRV.port)]
            + paths, len(paths)),
           ("urllib", [H.PYTHON, "-c", URLLIB] + [SRV.url(p) for p in paths], len(paths))]
    return out


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
class Run:
    pass


def run(cmd, env, preload):
    e = S.base_env()
    e.update(env)
    if preload:
        e["LD_PRELOAD"] = S.lib
    r = Run()
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd=S.tmp, timeout=60)
        r.rc, r.out, r.err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as ex:
        r.rc, r.out, r.err = "timeout", ex.stdout or b"", ex.stderr or b""
    r.dt = time.monotonic() - t0
    r.ours, host = [], []
    for line in r.err.split(b"\n"):
        (r.ours if OURS.match(line) else host).append(line)
    r.host_err = b"\n".join(host)
    return r


def show(b, n=600):
    return b[-n:].decode("utf-8", "replace")


def compare(what, cmd, env, max_lines, names=None, runs=RUNS):
    """Runs cmd `runs` times without and with the preload (interleaved); checks output, exit
    status and log lines of every run with the preload; returns the runs with it."""
    base, withp = [], []
    for _ in range(runs):
        base.append(run(cmd, env, False))
        withp.append(run(cmd, env, True))
    b0 = base[0]
    check(b0.rc == 0, "%s: the workload fails without the preload (exit %s): %s"
          % (what, b0.rc, show(b0.err)))
    for i, r in enumerate(withp):
        w = "%s (run %d)" % (what, i + 1)
        check(r.rc == b0.rc, "%s: exit %s with the preload, %s without" % (w, r.rc, b0.rc),
              show(r.err))
        check(r.out == b0.out, "%s: stdout differs with the preload" % w,
              {"with": show(r.out), "without": show(b0.out)})
        check(r.host_err == b0.host_err, "%s: stderr (our lines removed) differs" % w,
              {"with": show(r.err), "without": show(b0.err)})
        check(len(r.ours) <= max_lines, "%s: %d log lines, at most %d allowed"
              % (w, len(r.ours), max_lines), show(b"\n".join(r.ours), 3000))
        if names is not None:
            seen = []
            for line in r.ours:
                # the longest name found as a whole word (XRAY_AUTO_SAMPLING_RULES is not
                # XRAY_AUTO_SAMPLING)
                named = sorted((v for v in names
                                if re.search(rb"(?<![A-Z_])" + v.encode() + rb"(?![A-Z_])",
                                             line)), key=len, reverse=True)
                check(len(named) >= 1, "%s: a log line names no malformed variable" % w,
                      show(line))
                seen.extend(named[:1])
            check(len(seen) == len(set(seen)), "%s: a variable is logged twice: %s"
                  % (w, sorted(seen)), show(b"\n".join(r.ours), 3000))
    mb = statistics.median(r.dt for r in base)
    mw = statistics.median(r.dt for r in withp)
    lines = sorted(set(len(r.ours) for r in withp))
    FIGURES.append((what, mb, mw, lines))
    print("  %-58s without %6.1f ms  with %6.1f ms  (%+6.1f ms)  log lines %s"
          % (what, mb * 1000, mw * 1000, (mw - mb) * 1000, lines))
    # A stall of ours is in every run; the machine's load is not: even the fastest run with
    # the preload must be late for this to fail.
    fastest = min(r.dt for r in withp)
    check(fastest - mb < STALL_S, "%s: the fastest run with the preload took %.3f s, the "
          "median without %.3f s: the host was held up" % (what, fastest, mb))
    return withp


# ---------------------------------------------------------------------------------------------
# the namespace's DNS server
# ---------------------------------------------------------------------------------------------
class Dns(threading.Thread):
    """127.0.0.1:53: names starting with "blackhole" are never answered, "late" ones get
    127.0.0.1 after 300 ms, any other name NXDOMAIN at once."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.queries = []

    @staticmethod
    def _qname(q):
        labels, i = [], 12
        while i < len(q) and q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
            i += 1 + q[i]
        return ".".join(labels), i + 5  # end of the question (name, type, class)

    def _answer(self, q, addr, name, qend):
        qtype = struct.unpack("!H", q[qend - 4:qend - 2])[0]
        flags = 0x8180 | (q[2] & 0x01) << 8
        if name.startswith("late") and qtype == 1:
            head = struct.pack("!HHHHHH", struct.unpack("!H", q[:2])[0], flags, 1, 1, 0, 0)
            rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("127.0.0.1")
            msg = head + q[12:qend] + rr
        else:
            rcode = 0 if name.startswith("late") else 3
            head = struct.pack("!HHHHHH", struct.unpack("!H", q[:2])[0], flags | rcode, 1, 0,
                               0, 0)
            msg = head + q[12:qend]
        try:
            self.sock.sendto(msg, addr)
        except OSError:
            pass

    def run(self):
        while True:
            try:
                q, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(q) < 17:
                continue
            name, qend = self._qname(q)
            self.queries.append(name)
            if name.startswith("blackhole"):
                continue
            if name.startswith("late"):
                threading.Timer(0.3, self._answer, (q, addr, name, qend)).start()
            else:
                self._answer(q, addr, name, qend)


def loopback_up():
    import fcntl
    s = socket.socket()
    try:
        ifr = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS
    finally:
        s.close()


def setup_namespace():
    """Inside unshare -rmn: loopback up, our DNS server, resolv.conf naming it, and an
    `unreachable` route for TEST-NET-2.  Returns the Dns thread or None."""
    loopback_up()
    dns = Dns()
    dns.start()
    conf = S.path("resolv.conf")
    with open(conf, "w") as f:
        f.write("nameserver 127.0.0.1\n")
    subprocess.run(["mount", "--bind", conf, "/etc/resolv.conf"], check=True)
    p = subprocess.run(["ip", "route", "add", "unreachable", "198.51.100.0/24"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        print("note: ip route add unreachable failed (%s): the EHOSTUNREACH condition uses "
              "no route at all (ENETUNREACH)" % p.stdout.decode(errors="replace").strip())
    return dns


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------
def t_sources_list_variables():
    """The variables above are all the library reads: a new one must be added here."""
    found = set()
    for path in glob.glob(os.path.join(TOP, "src", "*.c")) + \
            glob.glob(os.path.join(TOP, "hooks", "*.c")):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        found.update(re.findall(r'\bget(?:env)?\s*\(\s*"([A-Za-z_][A-Za-z0-9_]*)"\s*\)', text))
    check(found, "no getenv/get(\"...\") call found in src/ and hooks/ (the test's parser is "
          "out of date)")
    missing = sorted(found - set(VARIABLES))
    check(not missing, "the library reads variables this test does not cover: %s" % missing)
    print("  the library reads: %s" % ", ".join(sorted(found)))


def t_daemon(label, address, max_lines, log_level=None):
    env = {"AWS_XRAY_DAEMON_ADDRESS": address, "XRAY_AUTO_SAMPLING": "all"}
    if log_level:
        env["XRAY_AUTO_LOG_LEVEL"] = log_level
    for name, cmd, _ in workloads():
        compare("%s: %s" % (label, name), cmd, env, max_lines)


def t_late_dns():
    """The daemon's name is answered after 300 ms: the host is not held up, and the
    documents of calls made once the answer came do arrive."""
    coll = S.start_collector()
    env = {"AWS_XRAY_DAEMON_ADDRESS": "late.example:%d" % coll.port,
           "XRAY_AUTO_SAMPLING": "all"}
    urls = [SRV.url("/slow?ms=250") for _ in range(4)]
    for name, cmd in (("curl", [H.which("curl"), "-sS"] + urls),
                      ("urllib", [H.PYTHON, "-c", URLLIB] + urls)):
        before = coll.lines()
        compare("name answered after 300 ms: %s" % name, cmd, env, 1, runs=1)
        got = coll.wait_lines(before + 2, 3.0) - before
        check(2 <= got <= 4, "name answered after 300 ms: %s: %d documents arrived, expected "
              "the 2-3 sent after the answer (4 calls of 250 ms)" % (name, got), coll.raw())
    coll.stop()


def t_variables(fifo):
    for cls, values in value_classes(fifo).items():
        env = dict(values)
        bad = [v for v, x in values.items() if x != ""]
        for name, cmd, _ in workloads():
            compare("every variable %s: %s" % (cls, name), cmd, env, len(bad), names=bad,
                    runs=2)


def t_plugin_variables(fifo):
    """XRAY_AUTO_PLUGINS=ec2,ecs,eks,beanstalk with each bad value in the endpoints and the
    files' root: the plugins' thread fails quietly (IMDS is the default address then:
    unreachable in the namespace), one line per malformed variable."""
    for cls, values in value_classes(fifo).items():
        env = {v: values[v] for v in PLUGIN_VARIABLES}
        env["XRAY_AUTO_PLUGINS"] = "ec2,ecs,eks,beanstalk"
        env["XRAY_AUTO_SAMPLING"] = "all"
        bad = [v for v in PLUGIN_VARIABLES if values[v] != ""]
        for name, cmd, _ in workloads():
            compare("plugins, endpoints %s: %s" % (cls, name), cmd, env, len(bad), names=bad,
                    runs=2)


def t_lambda_env_in_process():
    """Lambda mode reads _X_AMZN_TRACE_ID at every call: the program changes it to hostile
    values (1 MiB, non-UTF-8, a newline ...) between calls."""
    cmd = [H.PYTHON, "-c", LAMBDA_ENV, SRV.url("/ok")]
    free = H.free_port()
    for level, limit in ((None, 0), ("warn", 7)):
        env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % free,
               "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:%d" % H.free_port()}
        if level:
            env["XRAY_AUTO_LOG_LEVEL"] = level
        compare("Lambda, _X_AMZN_TRACE_ID set in-process to hostile values (level %s)"
                % (level or "default"), cmd, env, limit)


def scenario(name, fn, *args):
    """H.scenario, limited to the names containing XRAY_IT_HOSTILE_ONLY when it is set."""
    only = os.environ.get("XRAY_IT_HOSTILE_ONLY")
    if only and only not in name:
        return
    H.scenario(name, fn, *args)


def inner(build):
    global S, SRV
    S = H.Session(build, "hostile_env")
    S.require_build("net_client")
    if not H.which("curl"):
        H.skip("curl is not installed (apt-get install curl)")
    dns = setup_namespace() if IN_NS else None
    SRV = S.start_httpd()
    fifo = S.path("rules.fifo")
    os.mkfifo(fifo)
    scenario("the variables the library reads", t_sources_list_variables)
    scenario("daemon down", t_daemon, "daemon down (ICMP port unreachable)",
             "127.0.0.1:%d" % H.free_port(), 0)
    scenario("daemon unreachable", t_daemon, "daemon TEST-NET 198.51.100.7 (level warn)",
             "198.51.100.7:2000", 1, "warn")
    if dns:
        scenario("daemon NXDOMAIN", t_daemon, "daemon name NXDOMAIN",
                 "nonexistent.invalid:2000", 1)
        scenario("daemon DNS never answers", t_daemon, "daemon name, DNS never answers",
                 "blackhole.example:2000", 1)
        scenario("daemon DNS answers late", t_late_dns)
        check(any(q.startswith("blackhole") for q in dns.queries)
              or os.environ.get("XRAY_IT_HOSTILE_ONLY"),
              "the DNS server saw no query for the blackholed name: the condition was not "
              "exercised", dns.queries[-20:])
    else:
        print("note: no private namespaces: the DNS conditions are not run; unresolvable "
              "through the system's resolver instead")
        scenario("daemon unresolvable", t_daemon, "daemon name unresolvable",
                 "nonexistent.invalid:2000", 1)
    scenario("bad values in every variable", t_variables, fifo)
    scenario("bad values in the plugins' variables", t_plugin_variables, fifo)
    scenario("Lambda in-process environment", t_lambda_env_in_process)
    print("figures (median of %d runs, without / with the preload; 2 for the variables):" % RUNS)
    for what, mb, mw, lines in FIGURES:
        print("  %-70s %6.1f / %6.1f ms  lines %s" % (what, mb * 1000, mw * 1000, lines))
    return H.summary()


def main():
    global IN_NS
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    build = os.path.abspath(sys.argv[1])
    outer_ns = os.environ.get(NS_MARK)
    if outer_ns:
        # re-run inside the namespaces: only when they really are new ones (the resolv.conf
        # and port 53 of the machine itself are never touched)
        IN_NS = outer_ns != os.readlink("/proc/self/ns/net")
        return inner(build)
    unshare = H.which("unshare")
    if unshare:
        p = subprocess.run([unshare, "-rmn", "true"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if p.returncode == 0:
            os.environ[NS_MARK] = os.readlink("/proc/self/ns/net")
            os.execv(unshare, [unshare, "-rmn", H.PYTHON, os.path.abspath(__file__), build])
        print("note: unshare -rmn is not permitted here: %s"
              % p.stdout.decode(errors="replace").strip())
    return inner(build)


if __name__ == "__main__":
    sys.exit(main())
