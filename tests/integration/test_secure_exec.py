#!/usr/bin/python3
"""Integration test: in a secure-execution process (AT_SECURE: setuid, setgid, file
capabilities) the library is loaded but inert.

glibc ignores LD_PRELOAD paths with a slash in secure mode, but always honours
/etc/ld.so.preload.  So the script re-runs itself in a private mount namespace (`unshare
--mount`, as root), starts httpd.py and the collector, then mounts an overlay over /etc whose
upper layer holds an ld.so.preload naming a copy of the library (the host's /etc is not
touched: the mount is private and its upper layer is the script's temp directory).  From then
on every program the script starts loads the library.  Copies of the curl CLI, run as nobody
(uid, gid and groups dropped by the child before execve, no helper program in between):

  curl-plain    0755                          control: AT_SECURE 0, traced
  curl-setuid   root 4755                     AT_SECURE 1
  curl-setgid   root 2755                     AT_SECURE 1
  curl-caps     0755 + cap_net_raw+ep         AT_SECURE 1

Each one fetches httpd's /slow?ms=300 and prints its own /proc/self/maps (curl file://),
with XRAY_AUTO_LOG_LEVEL=debug and XRAY_AUTO_SAMPLING=all; meanwhile the script (root) reads
the process's /proc/PID/auxv.
Asserted: AT_SECURE is what the row says (so the condition really holds), the library file is
mapped in every run (it was loaded), and in the secure runs nothing happened: no datagram at
the collector, no X-Amzn-Trace-Id at httpd, not one libxray-auto line on stderr; the control
run is traced (one document, one header, the debug "ready" line) -- the same check that the
secure runs must fail.

Usage: test_secure_exec.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: not root, no private
                                         mount namespace or overlayfs, curl or setcap missing)
"""

import atexit
import os
import pwd
import grp
import shutil
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

NS_MARK = "XRAY_IT_SECURE_EXEC_NS"
AT_SECURE = 23
S = None


def run_as_nobody(cmd, env, exe):
    """Runs cmd as nobody:nogroup with no supplementary groups.  While it runs, reads its
    /proc/PID/auxv as root (the process itself may not: setgid and capability processes are
    not dumpable, their /proc files belong to root) once /proc/PID/exe is `exe`.
    Returns (returncode, stdout, stderr, auxv bytes or None)."""
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd="/",
                         user=pwd.getpwnam("nobody").pw_uid,
                         group=grp.getgrnam("nogroup").gr_gid, extra_groups=[])
    auxv = None
    deadline = time.monotonic() + 5
    while auxv is None and p.poll() is None and time.monotonic() < deadline:
        try:
            if os.readlink("/proc/%d/exe" % p.pid) == exe:
                with open("/proc/%d/auxv" % p.pid, "rb") as f:
                    auxv = f.read()
                break
        except OSError:
            pass
        time.sleep(0.005)
    out, err = p.communicate(timeout=60)
    return p.returncode, out, err, auxv


def auxv_secure(data):
    for i in range(0, len(data) - 15, 16):
        t, v = struct.unpack("<QQ", data[i:i + 16])
        if t == AT_SECURE:
            return v
        if t == 0:
            break
    return None


def mount(*args):
    p = subprocess.run(["mount"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode(errors="replace").strip()


def prepare():
    """The copies of curl and of the library (before /etc/ld.so.preload exists), then the
    overlay.  Returns (library copy, {name: (path, secure expected)}) or skips."""
    os.chmod(S.tmp, 0o711)  # nobody must reach the files below
    bindir = S.path("bin")
    os.mkdir(bindir)
    os.chmod(bindir, 0o755)
    lib = os.path.join(bindir, "libxray-auto.so")
    shutil.copy(S.lib, lib)
    os.chmod(lib, 0o644)
    curl = H.which("curl")
    progs = {}
    for name, mode, secure in (("curl-plain", 0o755, 0), ("curl-setuid", 0o4755, 1),
                               ("curl-setgid", 0o2755, 1), ("curl-caps", 0o755, 1)):
        path = os.path.join(bindir, name)
        shutil.copy(curl, path)
        os.chown(path, 0, 0)
        os.chmod(path, mode)
        progs[name] = (path, secure)
    p = subprocess.run(["setcap", "cap_net_raw+ep", progs["curl-caps"][0]],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        print("note: setcap failed here (%s): no file-capability case"
              % p.stdout.decode(errors="replace").strip())
        del progs["curl-caps"]
    upper, work = S.path("etc-upper"), S.path("etc-work")
    os.mkdir(upper)
    os.mkdir(work)
    with open(os.path.join(upper, "ld.so.preload"), "w") as f:
        f.write(lib + "\n")
    rc, out = mount("-t", "overlay", "overlay", "-o",
                    "lowerdir=/etc,upperdir=%s,workdir=%s" % (upper, work), "/etc")
    if rc != 0:
        H.skip("cannot mount an overlay over /etc in a private mount namespace: %s" % out)
    # before Session.close (atexit runs in reverse) removes the upper layer
    atexit.register(subprocess.run, ["umount", "-l", "/etc"], stderr=subprocess.DEVNULL)
    with open("/etc/ld.so.preload") as f:
        check(f.read().strip() == lib, "/etc/ld.so.preload does not name the library copy")
    if os.path.exists("/proc/1/root/etc"):
        check(not os.path.exists("/proc/1/root/etc/ld.so.preload")
              or open("/proc/1/root/etc/ld.so.preload").read().strip() != lib,
              "the host's /etc/ld.so.preload names our library: the test must not touch it")
    return lib, progs


def t_program(name, path, secure, lib, srv, coll):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C",
           "AWS_XRAY_DAEMON_ADDRESS": coll.address, "XRAY_AUTO_SAMPLING": "all",
           "XRAY_AUTO_LOG_LEVEL": "debug", "NO_PROXY": "*"}
    mark, before = srv.mark(), coll.lines()
    # /slow: the process lives long enough for its auxv to be read
    rc, out, err, auxv = run_as_nobody([path, "-sS", srv.url("/slow?ms=300"),
                                        "file:///proc/self/maps"], env, path)
    sec = auxv_secure(auxv) if auxv else None
    check(sec == secure, "%s: AT_SECURE is %s, expected %d" % (name, sec, secure))
    text = out.decode("utf-8", "replace")
    check(rc == 0 and text.startswith("slow\n"), "%s: exit %d, stdout %r"
          % (name, rc, text[:200]), err.decode(errors="replace"))
    mapped = any(ln.split()[-1] == lib for ln in text.splitlines()[1:] if ln.strip())
    check(mapped, "%s: %s is not mapped: /etc/ld.so.preload did not load it, the run proves "
          "nothing" % (name, lib), text[-3000:])
    reqs = srv.requests(mark)
    check(len(reqs) == 1, "%s: %d requests at httpd, expected 1" % (name, len(reqs)), reqs)
    ours = [ln for ln in err.decode("utf-8", "replace").splitlines()
            if ln.startswith("libxray-auto[")]
    if secure:
        time.sleep(0.5)  # a datagram would be there by now
        got = coll.lines() - before
        check(got == 0, "%s: %d datagrams reached the collector from a secure-execution "
              "process" % (name, got), coll.raw()[-2000:])
        check(all(r["trace_header_count"] == 0 for r in reqs), "%s: a trace header was "
              "injected in a secure-execution process" % name, reqs)
        check(not ours, "%s: the library logged in a secure-execution process" % name, ours)
    else:
        got = coll.wait_lines(before + 1, 5.0) - before
        check(got == 1, "%s: %d documents, expected 1 (the control must be traced)"
              % (name, got), coll.raw()[-2000:])
        check(all(r["trace_header_count"] == 1 for r in reqs), "%s: the control's request "
              "carries no trace header" % name, reqs)
        check(any(": debug: ready:" in ln for ln in ours), "%s: no debug \"ready\" line from "
              "the control" % name, ours)
    print("  %-12s AT_SECURE=%s mapped=%s documents=%d headers=%s log lines=%d"
          % (name, sec, mapped, got, [r["trace_header_count"] for r in reqs], len(ours)))


def requirements():
    """Skips when a program or account the scenarios need is missing."""
    for prog, pkg in (("curl", "curl"), ("setcap", "libcap2-bin")):
        if not H.which(prog) and not os.path.exists("/usr/sbin/" + prog):
            H.skip("%s is not installed (apt-get install %s)" % (prog, pkg))
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        H.skip("no user nobody / group nogroup to run the programs as")


def main():
    global S
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    H.enter_namespaces(NS_MARK, ["--mount"], "setuid-root and setcap copies of curl, and an "
                       "overlay over /etc in a private mount namespace (to make glibc load the "
                       "library through /etc/ld.so.preload, the one preload it honours in "
                       "secure mode)", requirements)
    os.environ["PATH"] = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    S = H.Session(sys.argv[1], "secure_exec")
    S.require_build()
    # the helpers first: after the overlay every program started loads the library
    srv = S.start_httpd()
    coll = S.start_collector()
    lib, progs = prepare()
    for name, (path, secure) in progs.items():
        H.scenario(name, t_program, name, path, secure, lib, srv, coll)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
