#!/usr/bin/python3
"""Integration test: C++ exceptions are unchanged under the preload, and libunwind never takes
the place of libgcc_s's `_Unwind_*`.

<build>/cxx_exceptions (tests/integration/cxx_exceptions.cc, linked with libpq) throws and
catches exceptions through 4 frames with destructors, rethrows, nested handlers,
throw_with_nested, a non-class exception, exception_ptr across threads and a pthread_cancel
forced unwind, on 1 + THREADS threads, while libpq connects to a refused port fail all along
(also from a destructor run by the unwinding). Under the preload every failed connect is a
fault subsegment whose stack libxray-auto.so reads with libunwind, which it dlopens
RTLD_LOCAL at the first one, i.e. before the program's first throw. Asserted:

- stdout, stderr and the exit status (0: the program's own count checks held) are identical
  without the preload, with it (call mode) and with it in process mode; no crash;
- one document per failed connect, each a CONNECTION_BAD fault with a stack of the program's
  frames; among them stacks taken on the worker threads and from the destructor inside the
  unwinding (Guard::~Guard below level3's landing pad): libunwind was in use;
- /proc/<pid>/maps (copied by the program at its end): libunwind.so.8 mapped with the preload,
  not without;
- LD_DEBUG=bindings of a preloaded run: every `_Unwind_*` reference of every object but
  libunwind itself is bound to libgcc_s.so.1, libstdc++'s `_Unwind_RaiseException` among
  them, never to libunwind.

Usage: test_cxx_exceptions.py BUILD_DIR
Exit 0 pass, 1 fail, 77 skip (no C++ compiler when configured: <build>/cxx_exceptions.skip;
libunwind8 not installed: the library reads no stacks, nothing to prove).
XRAY_IT_CXX_PERTURB=/path/x.so is appended to LD_PRELOAD in the preloaded runs, to show that
the checks fail (e.g. /usr/lib/x86_64-linux-gnu/libunwind.so.8 itself: see the report).
"""

import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "cxx_exceptions"
ITERATIONS = 200
THREADS = 3
LIBUNWIND = "libunwind.so.8"
LIBGCC = "libgcc_s.so.1"
# 'binding file A [0] to B [0]: normal symbol `name' [VERSION]'
BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: \S+ symbol `([^']+)'")


def libunwind_installed():
    for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu",
              "/lib/aarch64-linux-gnu", "/usr/lib", "/lib"):
        if os.path.exists(os.path.join(d, LIBUNWIND)):
            return True
    return False


def count(stdout, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), stdout, re.M)
    return int(m.group(1)) if m else None


def run(S, preload, tag, extra_env=None, expect_docs=None):
    maps = S.path("maps-%s.txt" % tag)
    env = dict(extra_env or {})
    cmd = [os.path.join(S.build, PROGRAM), S.conninfo, str(ITERATIONS), str(THREADS),
           "--maps", maps]
    if preload and os.environ.get("XRAY_IT_CXX_PERTURB"):
        env["LD_PRELOAD"] = S.lib + ":" + os.environ["XRAY_IT_CXX_PERTURB"]
    res = S.run(cmd, preload=preload, env=env, expect_docs=expect_docs, timeout=60.0)
    try:
        with open(maps) as f:
            res.maps = f.read()
    except FileNotFoundError:
        res.maps = ""
    return res


def same_behaviour(res, base, what):
    check(res.returncode == base.returncode and res.returncode is not None
          and res.returncode >= 0, "%s: exit status %s, without the preload %s"
          % (what, res.returncode, base.returncode), res.describe())
    check(res.stdout == base.stdout, "%s: stdout differs from the run without the preload"
          % what, {"with": res.stdout, "without": base.stdout})
    check(res.stderr == base.stderr, "%s: stderr differs from the run without the preload"
          % what, {"with": res.stderr[-2000:], "without": base.stderr[-2000:]})


def frames_of(doc):
    out = []
    for rec in H.flatten([doc]):
        for ex in H.get(rec["sub"], "cause", "exceptions") or []:
            if isinstance(ex, dict) and isinstance(ex.get("stack"), list):
                out.append(ex["stack"])
    return out


def check_docs(res, attempts, exe, what):
    check(len(res.docs) == attempts, "%s: %d documents for %d failed connects (one each)"
          % (what, len(res.docs), attempts), res.raw[-3000:])
    stacks = []
    for d in res.docs:
        recs = [r for r in H.flatten([d]) if H.get(r["sub"], "sql", "url")]
        if not check(len(recs) == 1, "%s: a document without exactly one sql subsegment"
                     % what, d):
            continue
        sub = recs[0]["sub"]
        ex = H.get(sub, "cause", "exceptions", 0) or {}
        check(sub.get("fault") is True and ex.get("type") == "CONNECTION_BAD",
              "%s: the failed connect must be a CONNECTION_BAD fault" % what, d)
        st = frames_of(d)
        if check(len(st) == 1 and len(st[0]) >= 3, "%s: a fault without a stack (libunwind "
                 "not used?)" % what, d):
            stacks.append(st[0])
    in_exe = [s for s in stacks if any(f.get("path") == exe for f in s)]
    check(len(in_exe) == len(stacks) and stacks, "%s: every stack must hold the program's "
          "frames (%d of %d)" % (what, len(in_exe), len(stacks)), stacks[:2])
    labels = [" ".join(str(f.get("label")) for f in s) for s in stacks]
    unwinding = [lb for lb in labels if "GuardD" in lb and "level3" in lb]
    threaded = [lb for lb in labels if "worker" in lb or "execute_native_thread_routine" in lb]
    check(len(unwinding) >= 1, "%s: no stack taken in a destructor during unwinding "
          "(Guard::~Guard under level3)" % what, labels[:5])
    check(len(threaded) >= 1, "%s: no stack taken on a worker thread" % what, labels[:5])
    print("%s: %d documents, %d stacks (%d taken during unwinding, %d on worker threads)"
          % (what, len(res.docs), len(stacks), len(unwinding), len(threaded)))


def check_bindings(files, what):
    lines = []
    for path in files:
        with open(path, "r", errors="replace") as f:
            lines.extend(f.read().splitlines())
    unw, bad, raise_ok = 0, [], False
    libunwind_seen = None
    first_raise = None
    for i, line in enumerate(lines):
        m = BINDING.search(line)
        if not m:
            continue
        src, dst, sym = m.group(1), m.group(2), m.group(3)
        if libunwind_seen is None and (LIBUNWIND in src or LIBUNWIND in dst):
            libunwind_seen = i
        if not sym.startswith("_Unwind_") or os.path.basename(src).startswith("libunwind"):
            continue
        unw += 1
        if os.path.basename(dst) != LIBGCC:
            bad.append(line.strip())
        if sym == "_Unwind_RaiseException" and "libstdc++" in src:
            raise_ok = os.path.basename(dst) == LIBGCC
            if first_raise is None:
                first_raise = i
    check(libunwind_seen is not None, "%s: libunwind.so.8 never appears in the bindings: it "
          "was not loaded, the check proves nothing" % what)
    check(not bad, "%s: %d _Unwind_* binding(s) not to %s" % (what, len(bad), LIBGCC),
          "\n".join(bad[:20]))
    check(raise_ok, "%s: no binding of libstdc++'s _Unwind_RaiseException to %s"
          % (what, LIBGCC))
    after = (libunwind_seen is not None and first_raise is not None
             and libunwind_seen < first_raise)
    print("%s: %d _Unwind_* bindings, %d of them to %s; libstdc++'s _Unwind_RaiseException "
          "bound %s libunwind was loaded" % (what, unw, unw - len(bad), LIBGCC,
                                              "after" if after else "before"))


def main():
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "cxx_exceptions")
    skipfile = os.path.join(S.build, PROGRAM + ".skip")
    if os.path.exists(skipfile):
        with open(skipfile) as f:
            H.skip(f.read().strip())
    if not libunwind_installed():
        H.skip("%s not installed (Debian libunwind8): the library captures no stacks, so "
               "libunwind is never loaded" % LIBUNWIND)
    S.require_build(PROGRAM)
    exe = os.path.join(S.build, PROGRAM)
    S.conninfo = ("host=127.0.0.1 port=%d dbname=xrdb user=xr connect_timeout=5"
                  % H.free_port())

    base = run(S, False, "without")
    attempts = count(base.stdout, "connect_attempts")
    check(base.returncode == 0 and base.stdout.rstrip().endswith("OK") and attempts,
          "without the preload: the program's own checks failed", base.describe())
    check(LIBUNWIND not in base.maps and "libxray-auto" not in base.maps and base.maps,
          "without the preload: maps missing, or libunwind/the library mapped", base.maps)
    if not attempts:
        return H.summary()
    print("program: %d rounds on %d threads, %d failed connects"
          % (count(base.stdout, "rounds") or 0, THREADS + 1, attempts))

    H._scenario = "call mode"
    res = run(S, True, "call", expect_docs=attempts)
    same_behaviour(res, base, "call mode")
    check(LIBUNWIND in res.maps and "libxray-auto" in res.maps,
          "call mode: libunwind.so.8 (or the library) not mapped in the preloaded process",
          res.maps)
    check_docs(res, attempts, exe, "call mode")

    H._scenario = "process mode"
    res = run(S, True, "process", extra_env={"XRAY_AUTO_SEGMENT": "process"},
              expect_docs=attempts + 2)
    same_behaviour(res, base, "process mode")
    check(LIBUNWIND in res.maps, "process mode: libunwind.so.8 not mapped", res.maps)
    subs = [r for r in res.records if H.get(r["sub"], "cause", "exceptions", 0, "stack")]
    check(len(subs) == attempts, "process mode: %d subsegments with a stack for %d failed "
          "connects" % (len(subs), attempts), res.raw[-2000:])

    H._scenario = "LD_DEBUG=bindings"
    ld_dir = S.path("ld")
    os.mkdir(ld_dir)
    res = run(S, True, "bindings", expect_docs=attempts,
              extra_env={"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": os.path.join(ld_dir, "ld")})
    same_behaviour(res, base, "LD_DEBUG=bindings")
    files = glob.glob(os.path.join(ld_dir, "ld.*"))
    if check(len(files) >= 1, "LD_DEBUG=bindings wrote no output file"):
        check_bindings(files, "LD_DEBUG=bindings")
    H._scenario = ""
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
