#!/usr/bin/python3
"""Integration test: loader edge cases -- RTLD_DEEPBIND, and the library preloaded twice.

RTLD_DEEPBIND.  A library opened with it looks its references up in its own scope (itself and
its dependencies: libcurl, and libc too) before the global one, so none of them reaches the
preload's interposers: what it does is not traced, and no header is added.  The program must
run exactly as without the preload (documented as invisible, never a crash):
  - `rtld_local_host --deepbind libxr_fetch.so URL 3` (a plugin linking libcurl), against the
    same without --deepbind (traced: three documents) as the control;
  - Python: ctypes loads libxr_fetch.so with RTLD_LOCAL|RTLD_DEEPBIND and libcurl.so.4 itself
    with RTLD_DEEPBIND and fetches through both, then fetches with urllib (plain sockets) and
    through libxr_fetch.so opened without DEEPBIND by another path: only those two are traced.

Two copies.  LD_PRELOAD naming the library twice: a copy under another name in another
directory (either order), the same path twice, and a symbolic link to it.  The program works,
`cat /proc/self/maps` shows two files mapped for two files (one for the same file), and exactly
one copy traces: one document per transfer, one X-Amzn-Trace-Id per request at httpd, one
"ready" line per process with debug logging and no line twice: the curl CLI, `net_client`
(sockets layer), and `python3 -m http.server` (inbound segments).

Usage: test_loader.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: curl not installed)
"""

import os
import re
import shutil
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

S = None
SRV = None
OURS = re.compile(r"^libxray-auto\[(\d+)\]: (error|warn|info|debug): (.*)$")

CTYPES = r"""
import ctypes, sys, urllib.request
fetch_so, url = sys.argv[1], sys.argv[2]
status = ctypes.c_long(0)

# 1. a plugin linking libcurl, RTLD_LOCAL | RTLD_DEEPBIND
deep = ctypes.CDLL(fetch_so, mode=ctypes.RTLD_LOCAL | 0x8)
rc = deep.xr_fetch((url + "/ok?via=deepbind-plugin").encode(), ctypes.byref(status))
print("deepbind plugin", rc, status.value)

# 2. libcurl itself, RTLD_DEEPBIND
curl = ctypes.CDLL("libcurl.so.4", mode=ctypes.RTLD_LOCAL | 0x8)
curl.curl_easy_init.restype = ctypes.c_void_p
curl.curl_easy_setopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
curl.curl_easy_perform.argtypes = [ctypes.c_void_p]
curl.curl_easy_getinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
curl.curl_easy_cleanup.argtypes = [ctypes.c_void_p]
WRITE = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t,
                         ctypes.c_void_p)
sink = WRITE(lambda p, size, n, u: size * n)
h = curl.curl_easy_init()
u = ctypes.c_char_p((url + "/notfound?via=deepbind-libcurl").encode())
curl.curl_easy_setopt(h, 10002, ctypes.cast(u, ctypes.c_void_p))                # URL
curl.curl_easy_setopt(h, 20011, ctypes.cast(sink, ctypes.c_void_p))             # WRITEFUNCTION
curl.curl_easy_setopt(h, 99, ctypes.c_void_p(1))                                 # NOSIGNAL
rc = curl.curl_easy_perform(h)
curl.curl_easy_getinfo(h, 0x200002, ctypes.byref(status))                       # RESPONSE_CODE
curl.curl_easy_cleanup(h)
print("deepbind libcurl", rc, status.value)

# 3. plain sockets, and the plugin by another path without DEEPBIND: traced
with urllib.request.urlopen(url + "/ok?via=urllib", timeout=30) as r:
    print("urllib", r.status, len(r.read()))
plain = ctypes.CDLL(sys.argv[3], mode=ctypes.RTLD_LOCAL)
rc = plain.xr_fetch((url + "/chunked?via=plain-plugin").encode(), ctypes.byref(status))
print("plain plugin", rc, status.value)
"""


def our_lines(stderr):
    return [ln for ln in stderr.splitlines() if OURS.match(ln)]


# ---------------------------------------------------------------------------------------------
# RTLD_DEEPBIND
# ---------------------------------------------------------------------------------------------
def t_deepbind_host():
    host = os.path.join(S.build, "rtld_local_host")
    lib = os.path.join(S.build, "libxr_fetch.so")
    for deep in (True, False):
        what = "rtld_local_host%s" % (" --deepbind" if deep else " (control)")
        cmd = [host] + (["--deepbind"] if deep else []) + [lib, SRV.url("/ok"), "3"]
        res, base = H.run_compare(S, cmd, what, httpd=SRV, expect_docs=0 if deep else 3)
        check(res.returncode == 0 and res.stdout == "status 200 rc 0\n" * 3,
              "%s: the fetches failed" % what, res.describe())
        check(len(res.requests) == 3, "%s: %d requests reached httpd, expected 3"
              % (what, len(res.requests)), res.requests)
        check(res.stderr == base.stderr, "%s: stderr differs" % what,
              {"with": res.stderr, "without": base.stderr})
        if deep:
            H.verify_no_trace(res, what, baseline=base)
        else:
            check(len(res.docs) == 3, "%s: %d documents, expected 3 (the control must be "
                  "traced)" % (what, len(res.docs)), res.raw)
            H.verify_transfers(res, "rtld_local_host", SRV.base, label=what)


def t_deepbind_python():
    lib = os.path.join(S.build, "libxr_fetch.so")
    # the same file by another path: without DEEPBIND, ld.so would hand back the DEEPBIND
    # handle of the first dlopen (same inode) and not map it again
    other = S.path("plugin-copy")
    os.mkdir(other)
    plain = os.path.join(other, "libxr_fetch_plain.so")
    shutil.copy(lib, plain)
    cmd = [H.PYTHON, "-c", CTYPES, lib, SRV.base, plain]
    res, base = H.run_compare(S, cmd, "python ctypes DEEPBIND", httpd=SRV, expect_docs=2,
                              env={"XRAY_AUTO_LOG_LEVEL": "error"})
    want = ("deepbind plugin 0 200\ndeepbind libcurl 0 404\nurllib 200 3\n"
            "plain plugin 0 200\n")
    check(res.returncode == 0 and res.stdout == want, "python ctypes DEEPBIND: unexpected "
          "output", res.describe())
    check(res.stderr == base.stderr, "python ctypes DEEPBIND: stderr differs",
          {"with": res.stderr, "without": base.stderr})
    by_via = {r["path"].split("via=", 1)[-1]: r for r in res.requests}
    check(sorted(by_via) == ["deepbind-libcurl", "deepbind-plugin", "plain-plugin", "urllib"],
          "python ctypes DEEPBIND: requests at httpd %s" % sorted(by_via), res.requests)
    for via in ("deepbind-plugin", "deepbind-libcurl", "urllib"):
        if via in by_via:
            check(by_via[via]["trace_header_count"] == 0, "python ctypes DEEPBIND: %s "
                  "carried a trace header" % via, by_via[via])
    if "plain-plugin" in by_via:
        check(by_via["plain-plugin"]["trace_header_count"] == 1, "python ctypes DEEPBIND: the "
              "plugin opened without DEEPBIND got no trace header", by_via["plain-plugin"])
    urls = sorted(H.get(r["sub"], "http", "request", "url") or "" for r in res.records)
    check(urls == [SRV.url("/chunked"), SRV.url("/ok")], "python ctypes DEEPBIND: traced %s, "
          "expected exactly urllib's /ok and the plain plugin's /chunked" % urls, res.raw)


# ---------------------------------------------------------------------------------------------
# two copies preloaded
# ---------------------------------------------------------------------------------------------
def two_copy_layouts():
    d = S.path("second")
    os.mkdir(d)
    copy = os.path.join(d, "libxray-auto-second.so")
    shutil.copy(S.lib, copy)
    link = os.path.join(d, "libxray-auto-link.so")
    os.symlink(S.lib, link)
    real = os.path.realpath(S.lib)
    return [("a copy, listed second", "%s %s" % (S.lib, copy), {real, copy}),
            ("a copy, listed first", "%s:%s" % (copy, S.lib), {real, copy}),
            ("the same path twice", "%s %s" % (S.lib, S.lib), {real}),
            ("a symbolic link and the path", "%s %s" % (link, S.lib), {real})]


def check_log(res, what):
    ours = our_lines(res.stderr)
    ready = [ln for ln in ours if ": debug: ready:" in ln]
    check(len(ready) == 1, "%s: %d \"ready\" lines, expected 1 (one copy active)"
          % (what, len(ready)), res.stderr)
    dup = sorted(set(ln for ln in ours if ours.count(ln) > 1))
    check(not dup, "%s: log lines printed twice: %s" % (what, dup), res.stderr)


def t_two_copies(label, preload, files):
    env = {"LD_PRELOAD": preload, "XRAY_AUTO_LOG_LEVEL": "debug"}
    # which files the loader maps
    maps = S.run(["cat", "/proc/self/maps"], env=env)
    mapped = set(ln.split()[-1] for ln in maps.stdout.splitlines()
                 if "libxray-auto" in ln and ln.split()[-1].startswith("/"))
    check(mapped == files, "%s: mapped %s, expected %s" % (label, sorted(mapped), sorted(files)),
          maps.stdout)
    check(maps.returncode == 0, "%s: cat failed" % label, maps.describe())

    urls = [SRV.url(p) for p in ("/ok", "/notfound", "/chunked")]
    what = "%s: curl" % label
    res, base = H.run_compare(S, [H.which("curl"), "-sS"] + urls, what, httpd=SRV,
                              expect_docs=3, env=env)
    check(len(res.docs) == 3, "%s: %d documents for 3 transfers" % (what, len(res.docs)),
          res.raw)
    H.verify_transfers(res, "curl", SRV.base, label=what)
    check_log(res, what)

    what = "%s: net_client" % label
    cmd = [os.path.join(S.build, "net_client"), "127.0.0.1", str(SRV.port), "/ok", "/notfound",
           "/chunked"]
    res, base = H.run_compare(S, cmd, what, httpd=SRV, expect_docs=3, env=env)
    urls = sorted(H.get(r["sub"], "http", "request", "url") or "" for r in res.records)
    check(len(res.docs) == 3 and urls == sorted(SRV.url(p) for p in
                                                ("/ok", "/notfound", "/chunked")),
          "%s: %d documents (%s), expected one per request" % (what, len(res.docs), urls),
          res.raw)
    check_log(res, what)

    what = "%s: python3 -m http.server" % label
    www = S.path("www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "a.txt"), "w") as f:
        f.write("hello\n")
    srv = H.PreloadedServer(S, [H.PYTHON, "-m", "http.server", "--bind", "127.0.0.1", "0"],
                            ready=r"port (\d+)", cwd=www,
                            env=dict(env, PYTHONUNBUFFERED="1"))
    mark = srv.mark()
    for _ in range(3):
        with urllib.request.urlopen(srv.url("/a.txt"), timeout=30) as r:
            check(r.read() == b"hello\n", "%s: wrong body" % what)
    docs = srv.wait_docs(3, since=mark)
    rc = srv.stop()
    segs = [d for d in docs if d.get("type") != "subsegment"]
    check(len(docs) == 3 and len(segs) == 3, "%s: %d documents, expected 3 segments"
          % (what, len(docs)), docs)
    check(rc in (0, -15, 143), "%s: server exit %s" % (what, rc), srv.stderr())
    ours = our_lines(srv.stderr())
    ready = [ln for ln in ours if ": debug: ready:" in ln]
    check(len(ready) == 1, "%s: %d \"ready\" lines, expected 1" % (what, len(ready)),
          srv.stderr())


def main():
    global S, SRV
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "loader")
    S.require_build("rtld_local_host", "libxr_fetch.so", "net_client")
    if not H.which("curl"):
        H.skip("curl is not installed (apt-get install curl)")
    SRV = S.start_httpd()
    H.scenario("RTLD_DEEPBIND plugin (rtld_local_host)", t_deepbind_host)
    H.scenario("RTLD_DEEPBIND in Python (ctypes)", t_deepbind_python)
    for label, preload, files in two_copy_layouts():
        H.scenario("two copies: " + label, t_two_copies, label, preload, files)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
