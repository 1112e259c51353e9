#!/usr/bin/python3
"""Integration test: what loading libxray-auto.so costs a process that makes no traced call,
in system calls.

With `ENV LD_PRELOAD` in a container image every process loads the library (sh, ls, apt), so
its constructor may only read the environment and resolve libc symbols: no socket, no DNS,
no thread, no file.  Each command runs under `strace -f` twice without and twice with the
preload (LD_PRELOAD given to the traced command only, `strace -E`), with the same AWS_XRAY_*
variables (typical values: a host-name daemon address that would need DNS, the Lambda
Runtime API, a trace header, process segments, debug logging ...).  A system call the
preload adds (counted in both runs with it, beyond the larger count of the two runs without)
fails the test, except the loader's own work for the libraries it maps: opening
libxray-auto.so at the preload path, its DT_NEEDED libraries (libcjson.so.1, and the
libdl.so.2/libpthread.so.0 stubs of old-glibc builds) wherever the search finds them, and the
fstat of each opened file.  Traced: network calls, process creation (clone, clone3, fork,
vfork, execve), every call naming a file (open, stat, access, readlink, mkdir, unlink ...),
and getrandom, rt_sigaction, prctl, pipes, eventfd/timerfd/signalfd/inotify/epoll/io_uring
and timer set-up.  Output and exit status must not change either.

Usage: test_startup.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: strace not installed or
                                     ptrace not permitted)
"""

import collections
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

S = None
TRACE = ("%network,%process,%file,getrandom,rt_sigaction,prctl,pipe,pipe2,memfd_create,"
         "eventfd2,timerfd_create,signalfd4,inotify_init1,epoll_create1,io_uring_setup,"
         "setitimer,timer_create,arch_prctl,personality,sched_setaffinity,seccomp,unshare")
OPEN_CALLS = {"open", "openat", "openat2", "creat"}
FSTAT_CALLS = {"newfstatat", "fstat", "statx", "fstatat64"}
# The loader's own opens for the libraries it maps: the preload itself (exact path) and its
# DT_NEEDED entries, found anywhere along the search (ENOENT attempts included).
NEEDED_LIBS = re.compile(r"^(libcjson\.so\.1|libdl\.so\.2|libpthread\.so\.0)$")

ENVS = [
    ("typical", {"AWS_XRAY_DAEMON_ADDRESS": "xray-daemon:2000",
                 "AWS_XRAY_TRACING_NAME": "app",
                 "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
                 "AWS_REGION": "us-east-1"}),
    ("lambda", {"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
                "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
                "AWS_LAMBDA_FUNCTION_NAME": "fn",
                "LAMBDA_TASK_ROOT": "/var/task",
                "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;"
                                    "Parent=53995c3f42cd8ad8;Sampled=1",
                "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR"}),
    ("everything on", {"AWS_XRAY_DAEMON_ADDRESS": "tcp:xray-daemon:2000 udp:xray-daemon:2000",
                       "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
                       "XRAY_AUTO_SEGMENT": "process",
                       "XRAY_AUTO_SAMPLING": "all",
                       "XRAY_AUTO_HOOKS": "all",
                       "XRAY_AUTO_SQL": "raw",
                       "XRAY_AUTO_LOG_LEVEL": "debug"}),
]

STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
LINE = re.compile(r"^(\d+)\s+(.*)$")
CALL = re.compile(r"^([a-z_0-9]+)\((.*)$")


RESUMED = re.compile(r"^<\.\.\. ([a-z_0-9]+) resumed>(.*)$")


def parse_trace(path):
    """Counter of (syscall, quoted strings, result class) for every traced call.  A call that
    strace printed in two halves (another process ran in between) is joined first."""
    calls = collections.Counter()
    pending = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            pid, body = (m.group(1), m.group(2)) if m else ("", raw.rstrip("\n"))
            if body.startswith(("---", "+++")):
                continue  # signals and exits
            r = RESUMED.match(body)
            if r:
                if pid not in pending:
                    continue
                name, head = pending.pop(pid)
                body = "%s(%s%s" % (name, head, r.group(2))
            c = CALL.match(body)
            if not c:
                continue
            name, rest = c.group(1), c.group(2)
            if rest.endswith("<unfinished ...>"):
                pending[pid] = (name, rest[:-len("<unfinished ...>")])
                continue
            args, _, ret = rest.rpartition(" = ")
            result = "ok"
            e = re.match(r"^-1 (E[A-Z0-9]+)", ret.strip())
            if e:
                result = e.group(1)
            strings = tuple(re.sub(r"/proc/\d+", "/proc/N", s) for s in STRING.findall(args))
            if name == "execve":
                strings = strings[:1]  # the program; its argv and environment differ anyway
            elif name == "getrandom":
                strings = ()  # the bytes are random: two runs agreeing on them (1 in 256 for a
                # one-byte read) must not make a call the program makes anyway look "added"
            if name not in OPEN_CALLS and name not in FSTAT_CALLS:
                result = ""  # return values of the rest (pids, fds) are not compared
            calls[(name, strings, result)] += 1
    for pid, (name, head) in pending.items():  # never resumed (exit_group, execve)
        calls[(name, tuple(STRING.findall(head))[:1] if name == "execve"
               else tuple(STRING.findall(head)), "")] += 1
    return calls


def strace(cmd, env, preload, tag):
    out = S.path("trace-%s.txt" % tag)
    st = ["strace", "-f", "-qq", "-s", "4096", "-o", out, "-e", "trace=" + TRACE]
    for k, v in sorted(env.items()):
        st += ["-E", "%s=%s" % (k, v)]
    if preload:
        st += ["-E", "LD_PRELOAD=" + S.lib]
    e = S.base_env()
    p = subprocess.run(st + ["--"] + cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, cwd=S.tmp, timeout=120)
    return p, parse_trace(out)


def loader_open(key):
    name, strings, result = key
    if name not in OPEN_CALLS or not strings:
        return False
    path = strings[0]
    return path == S.lib or NEEDED_LIBS.match(os.path.basename(path)) is not None


def check_command(label, cmd, envname, env):
    what = "%s [%s]" % (label, envname)
    runs = {}
    for preload in (False, True):
        for i in (1, 2):
            tag = "%s-%s-%s-%d" % (re.sub(r"\W+", "_", label), envname.replace(" ", "_"),
                                   "with" if preload else "without", i)
            runs[(preload, i)] = strace(cmd, env, preload, tag)
    (p0, base1), (_, base2) = runs[(False, 1)], runs[(False, 2)]
    (p1, with1), (_, with2) = runs[(True, 1)], runs[(True, 2)]
    check(p0.returncode == p1.returncode, "%s: exit %d with the preload, %d without"
          % (what, p1.returncode, p0.returncode))
    check(p0.stdout == p1.stdout, "%s: stdout differs with the preload" % what,
          {"with": p1.stdout.decode(errors="replace")[-2000:],
           "without": p0.stdout.decode(errors="replace")[-2000:]})
    if env.get("XRAY_AUTO_LOG_LEVEL") != "debug":
        check(p0.stderr == p1.stderr, "%s: stderr differs with the preload" % what,
              {"with": p1.stderr.decode(errors="replace")[-2000:],
               "without": p0.stderr.decode(errors="replace")[-2000:]})
    # the runs really are what they claim (the check below cannot pass vacuously)
    lib_open = ("openat", (S.lib,), "ok")
    check(with1[lib_open] >= 1 and with2[lib_open] >= 1 and base1[lib_open] == 0,
          "%s: strace does not show the loader opening %s in the runs with the preload only"
          % (what, S.lib))
    check(sum(base1.values()) > 0, "%s: empty trace" % what)

    keys = set(with1) | set(with2)
    extra = {}
    for k in keys:
        n = min(with1[k], with2[k]) - max(base1[k], base2[k])
        if n > 0:
            extra[k] = n
    opened = sum(n for k, n in extra.items() if loader_open(k) and k[2] == "ok")
    fstat_fd = sum(n for k, n in extra.items() if k[0] in FSTAT_CALLS and k[1] == ("",))
    bad = {k: n for k, n in extra.items()
           if not loader_open(k) and not (k[0] in FSTAT_CALLS and k[1] == ("",))}
    check(fstat_fd <= opened, "%s: %d fstat calls added for %d library files opened"
          % (what, fstat_fd, opened))
    allowed = sorted("%s %s %s x%d" % (k[0], k[1][0] if k[1] else "", k[2], n)
                     for k, n in extra.items() if loader_open(k))
    print("%s: added by the preload: %s" % (what, "; ".join(allowed) or "nothing"))
    if bad:
        lines = sorted("%s(%s) %s  x%d" % (k[0], ", ".join('"%s"' % s for s in k[1]), k[2], n)
                       for k, n in bad.items())
        check(False, "%s: the preload adds system calls beyond mapping its libraries:\n      %s"
              % (what, "\n      ".join(lines)))
        evidence = [ln.rstrip("\n") for ln in open(S.path("trace-%s.txt" % (
            "%s-%s-with-1" % (re.sub(r"\W+", "_", label), envname.replace(" ", "_")))),
            encoding="utf-8", errors="replace")
            if any(re.search(r"\b%s\(" % re.escape(k[0]), ln) for k in bad)]
        print("      strace (first run with the preload):\n        "
              + "\n        ".join(evidence[:40]))
    else:
        check(True, "")


def main():
    global S
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    if not H.which("strace"):
        H.skip("strace is not installed (apt-get install strace)")
    S = H.Session(sys.argv[1], "startup")
    S.require_build()
    p = subprocess.run(["strace", "-qq", "-o", os.devnull, "-e", "trace=execve", "--", "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        H.skip("strace cannot trace here (ptrace not permitted?): %s"
               % p.stdout.decode(errors="replace").strip())
    commands = [("sh -c true", ["/bin/sh", "-c", "true"]),
                ("/bin/true", ["/bin/true"]),
                ("ls /", ["ls", "/"]),
                ("sh with a pipeline and children",
                 ["/bin/sh", "-c", "ls / | cat >/dev/null; echo x | sed s/x/y/; exit 3"]),
                ("python3 -c pass", [H.PYTHON, "-c", "pass"])]
    curl = H.which("curl")
    if curl:
        commands.append(("curl -V", [curl, "-V"]))
    else:
        print("note: curl not installed; `curl -V` (libcurl loaded, no transfer) not run")
    for label, cmd in commands:
        envs = ENVS if label in ("sh -c true", "python3 -c pass", "curl -V") else ENVS[:1]
        for envname, env in envs:
            H.scenario("%s [%s]" % (label, envname), check_command, label, cmd, envname, env)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
