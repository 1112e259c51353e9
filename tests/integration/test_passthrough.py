#!/usr/bin/python3
"""Integration test: programs that make no traced call, and curl with the SDK disabled, behave
exactly as without libxray-auto.so (same stdout, stderr and exit code) and send no datagram.

Usage: test_passthrough.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

DISABLED = {"AWS_XRAY_SDK_ENABLED": "false"}


def same(cmd, what, env=None, httpd=None):
    base = S.run(cmd, preload=False, env=env, httpd=httpd)
    res = S.run(cmd, env=env, httpd=httpd, expect_docs=0)
    check(res.returncode == base.returncode, "%s: exit %s with preload, %s without"
          % (what, res.returncode, base.returncode), res.describe())
    check(res.stdout == base.stdout, "%s: stdout differs" % what,
          {"with": res.stdout[-2000:], "without": base.stdout[-2000:]})
    check(res.stderr == base.stderr, "%s: stderr differs" % what,
          {"with": res.stderr[-2000:], "without": base.stderr[-2000:]})
    H.verify_no_trace(res, what)
    return res, base


def t_shell():
    for env, tag in ((None, "enabled"), (DISABLED, "SDK disabled")):
        res, _ = same(["/bin/sh", "-c", "echo hi; echo oops >&2; exit 3"], "sh (%s)" % tag, env)
        check(res.returncode == 3 and res.stdout == "hi\n" and res.stderr == "oops\n",
              "sh (%s): expected exit 3, stdout 'hi', stderr 'oops'" % tag, res.describe())
        same(["/bin/sh", "-c", "echo hi; exit 3"], "sh echo hi; exit 3 (%s)" % tag, env)


def t_ls():
    for env, tag in ((None, "enabled"), (DISABLED, "SDK disabled")):
        res, _ = same(["ls", "/"], "ls / (%s)" % tag, env)
        check(res.returncode == 0 and "usr" in res.stdout.split(), "ls / (%s): output" % tag,
              res.describe())
        same(["ls", "/nonexistent-xray-it"], "ls missing file (%s)" % tag, env)


def t_curl_disabled():
    curl = H.which("curl")
    if not curl:
        print("note: curl not installed; curl passthrough case not run")
        return
    srv = S.start_httpd()
    for path in ("/ok", "/notfound", "/chunked"):
        res, _ = same([curl, "-q", "-s", srv.url(path)], "curl %s (SDK disabled)" % path,
                      DISABLED, httpd=srv)
        if path == "/ok":
            check(res.stdout == "ok\n" and res.returncode == 0,
                  "curl -s URL/ok must print ok", res.describe())
        check(len(res.requests) == 1 and res.requests[0]["trace_header_count"] == 0,
              "curl %s (SDK disabled): one request without trace header" % path, res.requests)
    port = H.free_port()
    same([curl, "-q", "-s", "http://127.0.0.1:%d/ok" % port], "curl refused (SDK disabled)",
         DISABLED)


def main():
    global S
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "passthrough")
    S.require_build()
    H.scenario("sh", t_shell)
    H.scenario("ls", t_ls)
    H.scenario("curl with AWS_XRAY_SDK_ENABLED=false", t_curl_disabled)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
