#!/usr/bin/python3
"""Integration test: the real curl CLI under libxray-auto.so.

Usage: test_curl_cli.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: curl not installed)
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "curl"


def curl_cmd(*args):
    # -q: ignore any .curlrc (must come first)
    return [CURL, "-q", "-s"] + list(args)


def t_statuses():
    for path in ["/ok", "/notfound", "/throttle", "/error", "/big", "/chunked", "/aws",
                 "/slow?ms=50"]:
        res, _ = H.run_compare(S, curl_cmd(SRV.url(path)), "GET %s" % path, httpd=SRV,
                               expect_docs=1)
        check(len(res.requests) == 1, "GET %s: expected 1 request at the server" % path,
              res.requests)
        H.verify_transfers(res, PROGRAM, SRV.base, label="GET %s" % path)
    # curl -s URL/ok prints exactly "ok"
    res = S.run(curl_cmd(SRV.url("/ok")), httpd=SRV, expect_docs=1)
    check(res.stdout == "ok\n" and res.returncode == 0,
          "curl -s URL/ok must print 'ok' and exit 0 under the preload", res.describe())


def t_serial_reuse():
    urls = [SRV.url(p) for p in ["/ok", "/notfound", "/error", "/ok", "/throttle", "/big"]]
    res, _ = H.run_compare(S, curl_cmd(*urls), "serial", httpd=SRV, expect_docs=len(urls))
    check(len(res.requests) == len(urls), "serial: %d requests, expected %d"
          % (len(res.requests), len(urls)), res.requests)
    H.verify_transfers(res, PROGRAM, SRV.base, label="serial")
    parents = [H.parse_trace_header(r["trace_headers"][0]).get("Parent") for r in res.requests
               if r["trace_headers"]]
    check(len(set(parents)) == len(urls), "serial: Parent ids must be distinct", parents)


def t_refused():
    port = H.free_port()
    url = "http://127.0.0.1:%d/ok" % port
    res, base = H.run_compare(S, curl_cmd(url), "refused", httpd=SRV, expect_docs=1)
    check(base.returncode == 7, "refused: curl without preload should exit 7 (sanity)",
          base.describe())
    H.verify_transfers(res, PROGRAM, SRV.base, unanswered=[(url, "GET", "CURLE_COULDNT_CONNECT")],
                       label="refused")


def t_reset():
    res, base = H.run_compare(S, curl_cmd(SRV.url("/reset")), "reset", httpd=SRV, expect_docs=1)
    check(base.returncode in (52, 56), "reset: curl without preload should exit 52/56 (sanity)",
          base.describe())
    check(len(res.requests) == 1, "reset: expected the request at the server", res.requests)
    H.verify_transfers(res, PROGRAM, SRV.base, label="reset")


def t_userinfo_query():
    url = "http://user:secret@127.0.0.1:%d/ok?token=secret#frag" % SRV.port
    res, _ = H.run_compare(S, curl_cmd(url), "userinfo", httpd=SRV, expect_docs=1)
    H.verify_transfers(res, PROGRAM, SRV.base, label="userinfo")
    H.check_secret_absent(res, ["secret", "frag", H.basic_auth("user", "secret"), "user:"],
                          "userinfo")
    check(len(res.docs) == 1, "userinfo: expected 1 document", res.docs)


def t_methods():
    cases = [
        ("PATCH", ["-X", "PATCH", SRV.url("/ok")]),
        ("HEAD", ["-I", SRV.url("/ok")]),
        ("POST", ["-d", "data", SRV.url("/ok")]),
        ("POST", ["-d", "x=1", SRV.url("/notfound")]),
        ("DELETE", ["-X", "DELETE", SRV.url("/error")]),
    ]
    no_date = lambda s: "\n".join(line for line in s.splitlines()  # noqa: E731
                                  if not line.lower().startswith("date:"))
    for method, args in cases:
        what = "%s %s" % (method, args[-1])
        res, _ = H.run_compare(S, curl_cmd(*args), what, httpd=SRV, normalize=no_date,
                               expect_docs=1)
        if check(len(res.requests) == 1, what + ": expected 1 request", res.requests):
            check(res.requests[0]["method"] == method, what + ": server saw method %r"
                  % res.requests[0]["method"], res.requests[0])
        H.verify_transfers(res, PROGRAM, SRV.base, label=what)
        for r in res.records:
            check(H.get(r["sub"], "http", "request", "method") == method,
                  what + ": method must be upper case %s" % method, r["doc"])


def t_header_passthrough():
    args = ["-H", "X-Custom: value-1", "-H", "Accept: text/x-test", "-H", "X-Empty;",
            "-A", "agent/1.0", "-d", "payload", SRV.url("/ok")]
    res, base = H.run_compare(S, curl_cmd(*args), "extra headers", httpd=SRV, expect_docs=1)
    H.check_same_headers(res.requests, base.requests, "extra headers")
    if res.requests:
        h = res.requests[0]["headers"]
        check(h.get("x-custom") == "value-1" and h.get("user-agent") == "agent/1.0",
              "extra headers: program headers must arrive", res.requests[0])
    H.verify_transfers(res, PROGRAM, SRV.base, label="extra headers")


def t_program_trace_header():
    for name in ["X-Amzn-Trace-Id", "x-amzn-trace-id"]:
        what = "program-set %s" % name
        res, base = H.run_compare(S, curl_cmd("-H", "%s: %s" % (name, H.PROGRAM_TRACE_HEADER),
                                              SRV.url("/ok")), what, httpd=SRV, expect_docs=1)
        if check(len(res.requests) == 1, what + ": expected 1 request", res.requests):
            req = res.requests[0]
            check(req["trace_header_count"] == 1 and
                  req["trace_headers"] == [H.PROGRAM_TRACE_HEADER],
                  what + ": the program's header must arrive once, unchanged", req)
        H.check_same_headers(res.requests, base.requests, what)
        check(len(res.records) <= 1, what + ": at most one subsegment for the transfer",
              res.docs)
        for r in res.records:
            H.check_subsegment(r, what, "GET", SRV.url("/ok"), "127.0.0.1", status=200,
                               body_bytes=3)


def t_parallel():
    paths = ["/slow?ms=300", "/slow?ms=200", "/ok", "/notfound", "/slow?ms=100"]
    res, _ = H.run_compare(S, curl_cmd("-Z", *[SRV.url(p) for p in paths]), "parallel -Z",
                           httpd=SRV, normalize=H.sorted_lines, expect_docs=len(paths))
    check(len(res.requests) == 5, "parallel: 5 requests expected", res.requests)
    check(len(res.docs) == 5, "parallel: 5 documents expected, got %d" % len(res.docs), res.docs)
    parents = set(H.parse_trace_header(r["trace_headers"][0]).get("Parent")
                  for r in res.requests if r["trace_headers"])
    check(len(parents) == 5, "parallel: 5 distinct Parent ids expected", sorted(parents))
    H.verify_transfers(res, PROGRAM, SRV.base, label="parallel")


def t_inherited_sampled():
    env = {"_X_AMZN_TRACE_ID": "Root=%s;Parent=%s;Sampled=1" % (H.INHERITED_ROOT,
                                                                 H.INHERITED_PARENT)}
    res, _ = H.run_compare(S, curl_cmd(SRV.url("/ok"), SRV.url("/notfound")), "inherited",
                           httpd=SRV, env=env, expect_docs=2)
    H.verify_transfers(res, PROGRAM, SRV.base, trace_root=H.INHERITED_ROOT,
                       parent_id=H.INHERITED_PARENT, label="inherited Sampled=1")


def t_inherited_unsampled():
    env = {"_X_AMZN_TRACE_ID": "Root=%s;Parent=%s;Sampled=0" % (H.INHERITED_ROOT,
                                                                 H.INHERITED_PARENT)}
    res, _ = H.run_compare(S, curl_cmd(SRV.url("/ok")), "inherited Sampled=0", httpd=SRV,
                           env=env, expect_docs=0)
    check(len(res.docs) == 0, "inherited Sampled=0: expected no datagram", res.raw)
    if check(len(res.requests) == 1, "inherited Sampled=0: expected 1 request", res.requests):
        req = res.requests[0]
        check(req["trace_header_count"] == 1 and re.match(
            r"^Root=%s;Parent=[0-9a-f]{16};Sampled=0$" % re.escape(H.INHERITED_ROOT),
            req["trace_headers"][0]) is not None,
            "inherited Sampled=0: server must receive Root=<inherited>;Parent=<16hex>;Sampled=0",
            req)


def t_process_mode():
    paths = ["/ok", "/notfound", "/slow?ms=50", "/error"]
    res, _ = H.run_compare(S, curl_cmd(*[SRV.url(p) for p in paths]), "process mode",
                           httpd=SRV, env={"XRAY_AUTO_SEGMENT": "process"},
                           expect_docs=len(paths) + 2)
    H.verify_transfers(res, PROGRAM, SRV.base, mode="process", label="process mode")


def t_off_mode():
    # several transfers: the missing segment is reported once, not once per call
    urls = [SRV.url("/ok"), SRV.url("/notfound"), SRV.url("/ok")]
    res, base = H.run_compare(S, curl_cmd(*urls), "off mode", httpd=SRV,
                              env={"XRAY_AUTO_SEGMENT": "off"}, expect_docs=0)
    H.verify_no_trace(res, "off mode", base)
    H.check_off_mode_stderr(res, base, "off mode")


def t_sampling_default():
    n = 40
    urls = [SRV.url("/ok")] * n
    res = S.run(curl_cmd(*urls), httpd=SRV, sampling=None, grace=1.0)
    check(res.returncode == 0 and res.stdout == "ok\n" * n,
          "sampling: curl output/exit changed", res.describe())
    H.verify_sampling_mix(res, PROGRAM, SRV.base, n)


def t_tracing_name():
    res, _ = H.run_compare(S, curl_cmd(SRV.url("/ok")), "tracing name", httpd=SRV,
                           env={"AWS_XRAY_TRACING_NAME": "my-svc"}, expect_docs=1)
    H.verify_transfers(res, "my-svc", SRV.base, label="AWS_XRAY_TRACING_NAME")


def t_sdk_disabled():
    res, base = H.run_compare(S, curl_cmd(SRV.url("/ok"), SRV.url("/notfound")),
                              "AWS_XRAY_SDK_ENABLED=false", httpd=SRV,
                              env={"AWS_XRAY_SDK_ENABLED": "false"}, expect_docs=0)
    H.verify_no_trace(res, "AWS_XRAY_SDK_ENABLED=false", base)
    check(res.stderr == base.stderr, "AWS_XRAY_SDK_ENABLED=false: stderr differs",
          {"with": res.stderr, "without": base.stderr})


def t_localhost():
    url = "http://localhost:%d/ok?q=1" % SRV.port
    res, _ = H.run_compare(S, curl_cmd("-4", url), "localhost", httpd=SRV, expect_docs=1)
    H.verify_transfers(res, PROGRAM, "http://localhost:%d" % SRV.port, host="localhost",
                       label="localhost")


def t_default_port():
    # The URL names the default port 80; --connect-to sends the connection to httpd.
    args = ["--connect-to", "127.0.0.1:80:127.0.0.1:%d" % SRV.port, "http://127.0.0.1/ok"]
    res, _ = H.run_compare(S, curl_cmd(*args), "default port", httpd=SRV, expect_docs=1)
    H.verify_transfers(res, PROGRAM, "http://127.0.0.1", label="default port")


def t_aws_sigv4():
    # An endpoint override (a local emulator): the SigV4 credential scope
    # makes it an AWS call. The secret parts of Authorization must not leak.
    auth = ("Authorization: AWS4-HMAC-SHA256 Credential=AKIDSECRETKEY/20240101/eu-west-1/"
            "dynamodb/aws4_request, SignedHeaders=host;x-amz-target, Signature=deadbeefsig")
    res = S.run(curl_cmd("-H", auth, "-H", "X-Amz-Target: DynamoDB_20120810.GetItem",
                         "-H", "Content-Type: application/x-amz-json-1.0",
                         "-d", '{"TableName": "items", "Key": {"id": {"S": "1"}}}',
                         SRV.url("/aws")), httpd=SRV, expect_docs=1)
    check(res.returncode == 0 and len(res.records) == 1, "aws: one subsegment", res.describe())
    if res.records:
        sub = res.records[0]["sub"]
        aws = sub.get("aws", {})
        check(sub.get("namespace") == "aws", "aws: namespace must be aws", sub)
        check(sub.get("name") == "dynamodb", "aws: name must be the service", sub)
        check(aws.get("operation") == "GetItem", "aws: operation from X-Amz-Target", sub)
        check(aws.get("region") == "eu-west-1", "aws: region from the credential scope", sub)
        check(aws.get("request_id") == "req-123", "aws: request_id from x-amzn-RequestId", sub)
        check(aws.get("table_name") == "items", "aws: table_name from the JSON body", sub)
        check(H.get(sub, "http", "response", "status") == 200, "aws: status", sub)
    H.check_secret_absent(res, ["AKIDSECRETKEY", "deadbeefsig", "Signature", "Credential"],
                          "aws")


def t_never_traced():
    # The Lambda Runtime API and the daemon's own address are never traced:
    # no document and no injected header.
    host = "127.0.0.1:%d" % SRV.port
    res = S.run(curl_cmd(SRV.url("/ok")), httpd=SRV, expect_docs=0, grace=0.5,
                env={"AWS_LAMBDA_RUNTIME_API": host})
    check(res.returncode == 0 and res.stdout == "ok\n", "runtime api: curl output", res.describe())
    check(not res.docs, "runtime api: no document for the Lambda Runtime API", res.docs)
    check(all(not r["trace_headers"] for r in res.requests),
          "runtime api: no header injected", res.requests)
    # Non-HTTP schemes, also those without a host (file:///path).
    path = S.path("plain.txt")
    with open(path, "w") as f:
        f.write("plain\n")
    res = S.run(curl_cmd("file://" + path), expect_docs=0, grace=0.5)
    check(res.returncode == 0 and res.stdout == "plain\n", "file://: curl output", res.describe())
    check(not res.docs, "file://: no document", res.docs)


def main():
    global S, SRV, CURL
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    CURL = H.which("curl")
    if not CURL:
        H.skip("curl CLI not installed")
    S = H.Session(sys.argv[1], "curl_cli")
    S.require_build()
    SRV = S.start_httpd()
    for fn in [t_statuses, t_serial_reuse, t_refused, t_reset, t_userinfo_query, t_methods,
               t_header_passthrough, t_program_trace_header, t_parallel, t_inherited_sampled,
               t_inherited_unsampled, t_process_mode, t_off_mode, t_sampling_default,
               t_tracing_name, t_sdk_disabled, t_localhost, t_default_port, t_aws_sigv4,
               t_never_traced]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
