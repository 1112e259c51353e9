#!/usr/bin/python3
"""Integration test: libcurl loaded with dlopen(RTLD_LOCAL) by a library the program itself
dlopen()s (rtld_local_host + libxr_fetch.so) is still traced under libxray-auto.so.

rtld_local_host LIB URL [COUNT]: dlopens LIB (RTLD_LOCAL) and has it fetch URL with libcurl.

Usage: test_rtld_local.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "rtld_local_host"


def t_fetch(path):
    host = os.path.join(S.build, "rtld_local_host")
    lib = os.path.join(S.build, "libxr_fetch.so")
    what = "rtld_local %s" % path
    res, _ = H.run_compare(S, [host, lib, SRV.url(path)], what, httpd=SRV, expect_docs=1)
    check(res.returncode == 0, "%s: exit %s, expected 0" % (what, res.returncode),
          res.describe())
    check(len(res.requests) == 1, "%s: expected 1 request at the server, got %d"
          % (what, len(res.requests)), res.requests)
    check(len(res.docs) == 1, "%s: expected 1 document, got %d" % (what, len(res.docs)),
          res.raw)
    H.verify_transfers(res, PROGRAM, SRV.base, label=what)


def t_fetch_count():
    """COUNT=3: three xr_fetch calls through the locally loaded libcurl, three documents."""
    host = os.path.join(S.build, "rtld_local_host")
    lib = os.path.join(S.build, "libxr_fetch.so")
    res, _ = H.run_compare(S, [host, lib, SRV.url("/notfound"), "3"], "rtld_local x3",
                           httpd=SRV, expect_docs=3)
    check(res.returncode == 0, "rtld_local x3: exit %s, expected 0" % res.returncode,
          res.describe())
    check(len(res.requests) == 3, "rtld_local x3: expected 3 requests, got %d"
          % len(res.requests), res.requests)
    H.verify_transfers(res, PROGRAM, SRV.base, label="rtld_local x3")


def main():
    global S, SRV
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "rtld_local")
    S.require_build("rtld_local_host", "libxr_fetch.so")
    SRV = S.start_httpd()
    H.scenario("fetch /ok", t_fetch, "/ok")
    H.scenario("fetch /ok?x=1", t_fetch, "/ok?x=1")
    H.scenario("fetch x3", t_fetch_count)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
