#!/usr/bin/python3
"""Integration test: the library writes no files and opens no listening sockets.

`strace -f` over traced workloads of every family, twice without the preload and once with it
(LD_PRELOAD given to the traced command only, `strace -E`), with debug logging on and
XRAY_AUTO_SAMPLING=all, documents going to a collector:

  curl         the curl CLI, three transfers (libcurl hooks)
  net_client   `<build>/net_client`, three requests on plain sockets
  net_server   `<build>/net_server --fork --downstream`: a server that itself binds and
               listens, one process per connection, each /call making a downstream request
               (inbound segments, fork, outbound sockets); stopped with SIGTERM
  pq_example   `<build>/pq_example` sync and async (libpq)             [PostgreSQL]
  mysql        `<build>/mysql_example` text and stmt (libmariadb)      [MariaDB]
  lambda       `<build>/lambda_runtime` against lambda_api.py, two invocations (Lambda mode)

A system call the preload adds fails the test when it writes to the file system or listens:
open/openat/openat2 with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND, creat, mkdir, mknod,
unlink, rmdir, rename, link, symlink, truncate, ftruncate, fallocate, chmod, chown, utimensat
(any path, whatever the result), bind to anything but an ephemeral port (port 0 of AF_INET or
AF_INET6; a named or abstract AF_UNIX address counts), listen.  "Adds" = more calls with that
key (system call, path / address) in the run with the preload than in either run without: the
server's own bind and listen are in both.  What the preload does add is printed (its UDP
socket and its bind to port 0).  The runs are checked to be real: the library file is opened
in the run with it, documents arrive, and the output is the same.

Usage: test_no_files.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: strace missing or ptrace not
                                      permitted; a database part is skipped, printed, without
                                      its server)
"""

import collections
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402
import harness as H  # noqa: E402
from harness import check  # noqa: E402

S = None
SRV = None
TRACE = "%file,%network,ftruncate,fallocate"
LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
OPEN_CALLS = {"open", "openat", "openat2"}
WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"}
MUTATING = {"creat", "mkdir", "mkdirat", "mknod", "mknodat", "unlink", "unlinkat", "rmdir",
            "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
            "truncate", "ftruncate", "fallocate", "chmod", "fchmod", "fchmodat", "chown",
            "fchown", "lchown", "fchownat", "utimensat", "utime", "utimes", "futimesat"}
FIGURES = []


def classify(name, args):
    """(key, bad) for one call, or None when it is not of interest."""
    strings = tuple(re.sub(r"/proc/\d+", "/proc/N", s) for s in STRING.findall(args))
    if name in OPEN_CALLS:
        flags = set(re.findall(r"\bO_[A-Z]+\b", args))
        if flags & WRITE_FLAGS:
            return ("%s for writing" % name, strings[:1]), True
        return None
    if name in MUTATING:
        return (name, strings), True
    if name == "bind":
        fam = re.search(r"sa_family=(AF_[A-Z0-9]+)", args)
        fam = fam.group(1) if fam else "?"
        if fam in ("AF_INET", "AF_INET6"):
            port = re.search(r"sin6?_port=htons\((\d+)\)", args)
            port = int(port.group(1)) if port else -1
            if port == 0:
                return ("bind", (fam, "ephemeral port")), False
            return ("bind", (fam, "port %d" % port)), True
        if fam == "AF_UNIX":
            return ("bind", (fam,) + strings), True
        return ("bind", (fam,)), False
    if name == "listen":
        return ("listen", ()), True
    if name == "socket":
        return ("socket", tuple(re.findall(r"\b(?:AF|SOCK)_[A-Z0-9]+\b", args)[:2])), False
    return None


def parse(path):
    """Counter of (key, bad) over the calls of an strace -f output file."""
    calls = collections.Counter()
    pending = {}

    def add(name, args):
        c = classify(name, args)
        if c is not None:
            calls[c] += 1

    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            pid, body = (m.group(1), m.group(2)) if m else ("", raw.rstrip("\n"))
            if body.startswith(("---", "+++")):
                continue
            r = RESUMED.match(body)
            if r:
                if pid in pending:
                    name, head = pending.pop(pid)
                    add(name, head + r.group(2))
                continue
            c = CALL.match(body)
            if not c:
                continue
            if c.group(2).endswith("<unfinished ...>"):
                pending[pid] = (c.group(1), c.group(2)[:-len("<unfinished ...>")])
                continue
            add(c.group(1), c.group(2))
    for name, head in pending.values():
        add(name, head)
    return calls


class Traced:
    """One program under strace -f; start(), then finish() (optionally with a signal)."""

    def __init__(self, cmd, env, preload, tag):
        self.out = S.path("strace-%s.txt" % tag)
        st = ["strace", "-f", "-qq", "-s", "256", "-o", self.out, "-e", "trace=" + TRACE]
        for k, v in sorted(env.items()):
            if v is not None:
                st += ["-E", "%s=%s" % (k, v)]
        if preload:
            st += ["-E", "LD_PRELOAD=" + S.lib]
        e = S.base_env()
        for k, v in env.items():
            if v is None:
                e.pop(k, None)
        self.p = subprocess.Popen(st + ["--"] + cmd, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e,
                                  cwd=S.tmp, start_new_session=True)

    def child_pid(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.p.pid, self.p.pid)) as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None

    def finish(self, sig=None, timeout=90):
        if sig is not None:
            pid = self.child_pid()
            if pid:
                os.kill(pid, sig)
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            out, err = self.p.communicate()
            check(False, "strace run timed out: %s" % self.out)
        self.rc, self.stdout, self.stderr = self.p.returncode, out, err
        self.calls = parse(self.out)
        return self


def compare(label, runs):
    """runs: {(preload, i): Traced}, i in 1, 2 without and 1 with."""
    base1, base2 = runs[(False, 1)].calls, runs[(False, 2)].calls
    with1 = runs[(True, 1)].calls
    check(sum(base1.values()) > 0 and sum(with1.values()) > 0, "%s: empty trace" % label)
    lib_open = [k for k in with1 if k[0][0] in OPEN_CALLS and k[0][1][:1] == (S.lib,)]
    opened = any(S.lib in ln for ln in open(runs[(True, 1)].out, errors="replace")
                 if re.search(r"\bopen(at2?)?\(", ln))
    check(opened or lib_open, "%s: the run with the preload does not open %s: it proves nothing"
          % (label, S.lib))
    bad, added = [], []
    for k in set(with1):
        n = with1[k] - max(base1[k], base2[k])
        if n > 0:
            (bad if k[1] else added).append((k[0], n))
    for (name, what), n in sorted(added):
        FIGURES.append("%s: %s %s x%d" % (label, name, " ".join(what), n))
    if added:
        print("  %s: the preload adds %s" % (label, "; ".join(
            "%s %s x%d" % (name, " ".join(what), n) for (name, what), n in sorted(added))))
    check(not bad, "%s: the preload writes to the file system or listens:\n      %s"
          % (label, "\n      ".join("%s %s x%d" % (name, " ".join(what), n)
                                    for (name, what), n in sorted(bad))))


def run_simple(label, cmd, env, expect_docs=1):
    """A program that exits by itself: 2 runs without, 1 with (collector for the latter)."""
    runs = {}
    for preload, i in ((False, 1), (True, 1), (False, 2)):
        e = dict(env)
        coll = None
        if preload:
            coll = S.start_collector()
            e.update({"AWS_XRAY_DAEMON_ADDRESS": coll.address, "XRAY_AUTO_SAMPLING": "all",
                      "XRAY_AUTO_LOG_LEVEL": "debug"})
        tag = "%s-%s-%d" % (re.sub(r"\W+", "_", label), "with" if preload else "without", i)
        runs[(preload, i)] = Traced(cmd, e, preload, tag).finish()
        if coll is not None:
            got = coll.wait_lines(expect_docs, 5.0)
            coll.stop()
            check(got >= expect_docs, "%s: %d documents, expected at least %d (is it traced?)"
                  % (label, got, expect_docs), coll.raw()[-2000:])
    b, w = runs[(False, 1)], runs[(True, 1)]
    check(w.rc == b.rc and w.stdout == b.stdout, "%s: exit %s / stdout differ with the preload"
          % (label, (w.rc, b.rc)), {"with": w.stdout[-1000:].decode(errors="replace"),
                                    "without": b.stdout[-1000:].decode(errors="replace"),
                                    "stderr": w.stderr[-1000:].decode(errors="replace")})
    compare(label, runs)


# ---------------------------------------------------------------------------------------------
# workloads
# ---------------------------------------------------------------------------------------------
def t_curl():
    run_simple("curl", [H.which("curl"), "-sS"] + [SRV.url(p) for p in ("/ok", "/notfound",
                                                                         "/chunked")], {}, 3)


def t_net_client():
    run_simple("net_client", [os.path.join(S.build, "net_client"), "127.0.0.1", str(SRV.port),
                              "/ok", "/notfound", "/chunked"], {}, 3)


def t_net_server():
    runs = {}
    cmd = [os.path.join(S.build, "net_server"), "--fork", "--downstream",
           "127.0.0.1:%d" % SRV.port]
    for preload, i in ((False, 1), (True, 1), (False, 2)):
        coll = None
        env = {}
        if preload:
            coll = S.start_collector()
            env = {"AWS_XRAY_DAEMON_ADDRESS": coll.address, "XRAY_AUTO_SAMPLING": "all",
                   "XRAY_AUTO_LOG_LEVEL": "debug"}
        t = Traced(cmd, env, preload, "net_server-%s-%d" % ("with" if preload else "without", i))
        line = t.p.stdout.readline().decode(errors="replace")
        m = re.match(r"^PORT (\d+)", line)
        if not check(m is not None, "net_server did not print its port: %r" % line):
            t.finish(signal.SIGKILL)
            return
        base = "http://127.0.0.1:%s" % m.group(1)
        for path in ("/hello", "/missing", "/call?to=/ok"):
            try:
                with urllib.request.urlopen(base + path, timeout=30) as r:
                    r.read()
            except urllib.error.HTTPError:
                pass
        time.sleep(0.3)
        runs[(preload, i)] = t.finish(signal.SIGTERM)
        if coll is not None:
            got = coll.wait_lines(3, 5.0)
            coll.stop()
            check(got >= 3, "net_server: %d documents, expected at least 3" % got, coll.raw())
    # the parser sees a server's own bind and listen (so it would see ours)
    base = runs[(False, 1)].calls
    check(base[(("listen", ()), True)] >= 1 and sum(n for (k, _), n in base.items()
                                                    if k[0] == "bind") >= 1,
          "net_server: no bind/listen found in the run without the preload: the trace parser "
          "is broken", dict((repr(k), n) for k, n in base.items()))
    check(runs[(True, 1)].rc == runs[(False, 1)].rc, "net_server: exit %s with the preload, "
          "%s without" % (runs[(True, 1)].rc, runs[(False, 1)].rc))
    compare("net_server --fork", runs)


def t_pq(info):
    env = dict(D.clean_env(info.client_env()))
    for mode in ("sync", "async"):
        run_simple("pq_example %s" % mode, [os.path.join(S.build, "pq_example"),
                                            info.conninfo(), mode], env, 2)


def t_mysql(info):
    env = dict(D.clean_env(info.client_env()))
    for mode in ("text", "stmt"):
        run_simple("mysql_example %s" % mode,
                   [os.path.join(S.build, "mysql_example"), "127.0.0.1", str(info["port"]),
                    info["user"], "-", info["database"], mode], env, 2)


def t_lambda():
    import json
    import select
    invs = S.path("invocations.json")
    with open(invs, "w") as f:
        json.dump([{"id": "inv-%d" % n, "payload": {"url": SRV.url("/ok?inv=%d" % n)},
                    "trace": "Root=1-5759e988-bd862e3fe1be46a99427279%d;Parent=53995c3f42cd8ad"
                             "%d;Sampled=1" % (n, n)} for n in (1, 2)], f)
    runs = {}
    for preload, i in ((False, 1), (True, 1), (False, 2)):
        log = S.path("lambda-api-%s-%d.jsonl" % (preload, i))
        api = subprocess.Popen([H.PYTHON, os.path.join(HERE, "lambda_api.py"), "--invocations",
                                invs, "--log", log], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            ready, _, _ = select.select([api.stdout], [], [], 15.0)
            line = api.stdout.readline().decode() if ready else ""
            if not check(line.startswith("PORT "), "lambda_api.py did not start: %r" % line):
                return
            env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%s" % line.split()[1]}
            env.update(D.clean_env())
            coll = None
            if preload:
                coll = S.start_collector()
                env.update({"AWS_XRAY_DAEMON_ADDRESS": coll.address,
                            "XRAY_AUTO_LOG_LEVEL": "debug"})
            runs[(preload, i)] = Traced([os.path.join(S.build, "lambda_runtime")], env, preload,
                                        "lambda-%s-%d" % ("with" if preload else "without",
                                                          i)).finish()
            if coll is not None:
                got = coll.wait_lines(2, 5.0)
                coll.stop()
                check(got >= 2, "lambda: %d documents, expected the 2 invocations' calls" % got,
                      coll.raw())
        finally:
            H._stop_process(api)
            api.stdout.close()
    check(runs[(True, 1)].rc == runs[(False, 1)].rc, "lambda: exit status differs")
    compare("lambda_runtime", runs)


def main():
    global S, SRV
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    if not H.which("strace"):
        H.skip("strace is not installed (apt-get install strace)")
    S = H.Session(sys.argv[1], "no_files")
    S.require_build("net_client", "net_server", "pq_example", "mysql_example", "lambda_runtime")
    p = subprocess.run(["strace", "-qq", "-o", os.devnull, "-e", "trace=execve", "--", "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        H.skip("strace cannot trace here (ptrace not permitted?): %s"
               % p.stdout.decode(errors="replace").strip())
    SRV = S.start_httpd()
    if H.which("curl"):
        H.scenario("curl", t_curl)
    else:
        print("note: curl not installed: the curl workload is not run")
    H.scenario("net_client", t_net_client)
    H.scenario("net_server --fork", t_net_server)
    H.scenario("lambda_runtime", t_lambda)
    for engine, fn in (("pg", t_pq), ("mariadb", t_mysql)):
        try:
            info = dbservers.ensure(S.build, engine)
        except dbservers.DbServerError as e:
            check(False, "%s server did not start: %s" % (engine, e))
            continue
        if info is None:
            print("SKIP (%s): the server is not installed" % engine)
            continue
        H.scenario(fn.__name__, fn, info)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
