#!/usr/bin/python3
"""Integration test: the example program curl_client (libcurl easy / reuse / multi) under
libxray-auto.so.

curl_client [--multi] [--reuse] [--header "N: v"]... [--post DATA] [--method M] URL...
prints `<url> <CURLcode> <status> <bytes>` per URL; exits 0 if all transfers succeeded,
1 if some failed, 3 if its own header list was modified.

Usage: test_curl_example.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "curl_client"
MODES = {"easy": [], "reuse": ["--reuse"], "multi": ["--multi"]}


def client(mode, *args):
    return [CLIENT] + MODES[mode] + list(args)


def run(mode, args, what, expect_docs, **kw):
    """Runs with and without the preload; the output lines may come in any order (multi)."""
    return H.run_compare(S, client(mode, *args), what, httpd=SRV, normalize=H.sorted_lines,
                         expect_docs=expect_docs, **kw)


def t_mix(mode):
    refused = "http://127.0.0.1:%d/ok" % H.free_port()
    paths = ["/ok", "/notfound", "/throttle", "/error", "/big", "/chunked", "/aws",
             "/slow?ms=100", "/reset"]
    urls = [SRV.url(p) for p in paths] + [refused]
    what = "%s mix" % mode
    res, _ = run(mode, urls, what, expect_docs=len(urls))
    check(res.returncode == 1, "%s: a failed transfer (refused, reset) must give exit 1, got %s"
          % (what, res.returncode), res.describe())
    check(len(res.stdout.splitlines()) == len(urls), "%s: one output line per URL expected"
          % what, res.stdout)
    # (a reused connection reset by /reset is retried once by libcurl: one transfer)
    n = len(H.transfers(res.requests))
    check(n == len(paths), "%s: %d transfers reached the server, expected %d"
          % (what, n, len(paths)), res.requests)
    H.verify_transfers(res, PROGRAM, SRV.base, label=what,
                       unanswered=[(refused, "GET", "CURLE_COULDNT_CONNECT")])


def t_all_ok(mode):
    paths = ["/ok", "/ok?a=1", "/aws", "/big", "/chunked", "/ok"]
    what = "%s all transfers complete" % mode
    res, _ = run(mode, [SRV.url(p) for p in paths], what, expect_docs=len(paths))
    check(res.returncode == 0, "%s: exit %s, expected 0" % (what, res.returncode), res.describe())
    H.verify_transfers(res, PROGRAM, SRV.base, label=what)
    parents = [H.parse_trace_header(r["trace_headers"][0]).get("Parent") for r in res.requests
               if r["trace_headers"]]
    check(len(set(parents)) == len(paths), "%s: Parent ids must be distinct" % what, parents)


def t_headers(mode):
    what = "%s program headers" % mode
    args = ["--header", "X-Custom: value-1", "--header", "Accept: text/x-test",
            SRV.url("/ok"), SRV.url("/big")]
    res, base = run(mode, args, what, expect_docs=2)
    check(res.returncode == 0, "%s: exit %s (3 = the program's header list was modified)"
          % (what, res.returncode), res.describe())
    H.check_same_headers(res.requests, base.requests, what)
    for r in res.requests:
        check(r["headers"].get("x-custom") == "value-1", what + ": X-Custom must arrive", r)
    H.verify_transfers(res, PROGRAM, SRV.base, label=what)


def t_program_trace_header(mode):
    what = "%s program-set X-Amzn-Trace-Id" % mode
    args = ["--header", "X-Amzn-Trace-Id: " + H.PROGRAM_TRACE_HEADER, "--header", "X-Other: 1",
            SRV.url("/ok"), SRV.url("/chunked")]
    res, base = run(mode, args, what, expect_docs=2)
    check(res.returncode == 0, "%s: exit %s (3 = the program's header list was modified)"
          % (what, res.returncode), res.describe())
    check(len(res.requests) == 2, what + ": expected 2 requests", res.requests)
    for req in res.requests:
        check(req["trace_headers"] == [H.PROGRAM_TRACE_HEADER],
              what + ": the program's header must arrive once, unchanged", req)
    H.check_same_headers(res.requests, base.requests, what)
    ids = H.records_by_id(res.records)
    check(all(len(v) == 1 for v in ids.values()) and len(res.records) <= 2,
          what + ": at most one subsegment per transfer", res.docs)


def t_methods(mode):
    cases = [
        ("POST", ["--post", "hello=world"], 11),
        ("PURGE", ["--method", "PURGE"], 0),
        ("PUT", ["--method", "PUT", "--post", "body"], 4),
        ("DELETE", ["--method", "DELETE"], 0),
    ]
    for method, args, body in cases:
        what = "%s %s" % (mode, method)
        res, _ = run(mode, args + [SRV.url("/ok"), SRV.url("/aws")], what, expect_docs=2)
        check(res.returncode == 0, "%s: exit %s, expected 0" % (what, res.returncode),
              res.describe())
        for req in res.requests:
            check(req["method"] == method and req["request_body_bytes"] == body,
                  what + ": server saw %s with %d body bytes" % (req["method"],
                                                                 req["request_body_bytes"]), req)
        H.verify_transfers(res, PROGRAM, SRV.base, label=what)


def t_inherited():
    env = {"_X_AMZN_TRACE_ID": "Root=%s;Parent=%s;Sampled=1" % (H.INHERITED_ROOT,
                                                                 H.INHERITED_PARENT)}
    res, _ = run("multi", [SRV.url("/ok"), SRV.url("/throttle")], "inherited Sampled=1",
                 expect_docs=2, env=env)
    H.verify_transfers(res, PROGRAM, SRV.base, trace_root=H.INHERITED_ROOT,
                       parent_id=H.INHERITED_PARENT, label="inherited Sampled=1")

    env = {"_X_AMZN_TRACE_ID": "Root=%s;Parent=%s;Sampled=0" % (H.INHERITED_ROOT,
                                                                 H.INHERITED_PARENT)}
    for mode in ("easy", "multi"):
        what = "%s inherited Sampled=0" % mode
        res, _ = run(mode, [SRV.url("/ok"), SRV.url("/notfound")], what, expect_docs=0, env=env)
        check(len(res.docs) == 0, what + ": expected no datagram", res.raw)
        check(len(res.requests) == 2, what + ": expected 2 requests", res.requests)
        for req in res.requests:
            check(req["trace_header_count"] == 1 and re.match(
                r"^Root=%s;Parent=[0-9a-f]{16};Sampled=0$" % re.escape(H.INHERITED_ROOT),
                req["trace_headers"][0]) is not None,
                what + ": expected Root=<inherited>;Parent=<16hex>;Sampled=0", req)


def t_process_mode():
    for mode in ("reuse", "multi"):
        what = "%s process mode" % mode
        paths = ["/ok", "/slow?ms=100", "/notfound", "/big"]
        res, _ = run(mode, [SRV.url(p) for p in paths], what, expect_docs=len(paths) + 2,
                     env={"XRAY_AUTO_SEGMENT": "process"})
        H.verify_transfers(res, PROGRAM, SRV.base, mode="process", label=what)


def t_off_mode():
    # several transfers: the missing segment is reported once, not once per call
    res, base = run("easy", [SRV.url("/ok"), SRV.url("/big"), SRV.url("/ok")], "off mode",
                    expect_docs=0, env={"XRAY_AUTO_SEGMENT": "off"})
    H.verify_no_trace(res, "off mode", base)
    check(res.returncode == 0, "off mode: exit %s" % res.returncode, res.describe())
    H.check_off_mode_stderr(res, base, "off mode")


def t_sampling_default():
    n = 40
    res = S.run(client("reuse", *([SRV.url("/ok")] * n)), httpd=SRV, sampling=None, grace=1.0)
    check(res.returncode == 0, "sampling: exit %s" % res.returncode, res.describe())
    H.verify_sampling_mix(res, PROGRAM, SRV.base, n)


def t_sdk_disabled():
    for mode in ("easy", "multi"):
        what = "%s AWS_XRAY_SDK_ENABLED=false" % mode
        res, base = run(mode, [SRV.url("/ok"), SRV.url("/error")], what, expect_docs=0,
                        env={"AWS_XRAY_SDK_ENABLED": "false"})
        H.verify_no_trace(res, what, base, normalize=H.sorted_lines)


def t_tracing_name():
    res, _ = run("multi", [SRV.url("/ok")], "tracing name", expect_docs=1,
                 env={"AWS_XRAY_TRACING_NAME": "my-svc"})
    H.verify_transfers(res, "my-svc", SRV.base, label="AWS_XRAY_TRACING_NAME")


def main():
    global S, SRV, CLIENT
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "curl_example")
    S.require_build("curl_client")
    CLIENT = os.path.join(S.build, "curl_client")
    SRV = S.start_httpd()
    for mode in MODES:
        H.scenario("%s mix" % mode, t_mix, mode)
        H.scenario("%s all ok" % mode, t_all_ok, mode)
        H.scenario("%s headers" % mode, t_headers, mode)
        H.scenario("%s program trace header" % mode, t_program_trace_header, mode)
        H.scenario("%s methods" % mode, t_methods, mode)
    for fn in [t_inherited, t_process_mode, t_off_mode, t_sampling_default, t_sdk_disabled,
               t_tracing_name]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
