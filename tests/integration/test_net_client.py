#!/usr/bin/python3
"""Integration test: HTTP clients on plain sockets under libxray-auto.so (the sockets layer,
client side).

Clients: Python's urllib.request (also through a proxy: absolute-form targets) and http.client
(keep-alive, HEAD), python3-requests (Session keep-alive, localhost), wget (write/read,
recv(MSG_PEEK)), and <build>/net_client (examples/net_client.c: send/recv, writev/readv,
sendmsg/recvmsg, heads split per line or per byte, 1..7-byte reads, non-blocking connect,
pipelining) against httpd.py; a scripted in-process server for close-delimited bodies,
100 Continue and responses cut short; a peer reset; refused ports (blocking, non-blocking via
SO_ERROR and via the first send); a getaddrinfo list whose first address (::1) is refused;
non-HTTP TCP traffic (nothing); XRAY_AUTO_HOOKS without `net` (nothing).

Every HTTP request must give exactly one `remote` subsegment with name, method, url (no query),
status, content_length and the status flags, in a segment of its own named after the program
(XRAY_AUTO_SEGMENT=call, the default) or as an independent subsegment of the process segment
(XRAY_AUTO_SEGMENT=process); the requests the httpd log shows must be the ones the documents
describe, in the same order; nothing is injected into the requests; the program's output and
exit status are the same with and without the preload.

Usage: test_net_client.py BUILD_DIR   (exit 0 pass, 1 fail; no skip: the wget and requests
                                        scenarios print a note and pass when those are missing)
"""

import os
import socket
import socketserver
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

NET_CLIENT = "net_client"
PYTHON_PROGRAM = "python3"  # the segment name of /usr/bin/python3 (its short name)

# Content-Length of httpd.py's /ok body ("ok\n"): what a HEAD response announces.
OK_LENGTH = 3

# Python clients run by the scenarios (written to the session's temp dir).
CLIENTS_PY = r'''
import errno, socket, sys

def err_name(e):
    n = getattr(e, "errno", None)
    return errno.errorcode.get(n, str(n)) if n is not None else type(e).__name__

def split_method(spec):
    # "POST:/ok" -> ("POST", "/ok"); "/ok" -> ("GET", "/ok")
    if ":" in spec and not spec.startswith("/"):
        m, p = spec.split(":", 1)
        return m, p
    return "GET", spec

def do_urllib(base, specs, headers, proxy=None):
    import urllib.request, urllib.error
    handlers = [urllib.request.ProxyHandler({"http": proxy} if proxy else {})]
    opener = urllib.request.build_opener(*handlers)
    rc = 0
    for spec in specs:
        method, path = split_method(spec)
        data = b"name=value&other=1" if method == "POST" else None
        req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
        try:
            with opener.open(req, timeout=30) as r:
                print(spec, r.status, len(r.read()))
        except urllib.error.HTTPError as e:
            body = e.read()
            e.close()
            print(spec, "HTTPError", e.code, len(body))
        except urllib.error.URLError as e:
            print(spec, "URLError", err_name(e.reason))
            rc = 3
    return rc

def do_httpclient(host, port, specs):
    import http.client
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    ports = set()
    for spec in specs:
        method, path = split_method(spec)
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        ports.add(c.sock.getsockname()[1])
        print(spec, r.status, len(body), r.getheader("Content-Length"))
    c.close()
    print("connections", len(ports))
    return 0

def do_requests(base, specs):
    import requests
    s = requests.Session()
    for spec in specs:
        method, path = split_method(spec)
        r = s.request(method, base + path, data=b"payload-bytes" if method == "POST" else None,
                      timeout=30)
        print(spec, r.status_code, len(r.content))
    pool = s.get_adapter(base).poolmanager.connection_from_url(base)
    print("connections", pool.num_connections)
    s.close()
    return 0

def do_rawnull(port, path):
    # getaddrinfo(NULL, port): ::1 (nothing listens there) then 127.0.0.1
    s = socket.create_connection((None, int(port)), timeout=30)
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost:" + port.encode() +
              b"\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(5)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    print(path, head.split(b"\r\n")[0].decode(), len(body))
    return 0

def do_echo(port):
    # non-HTTP exchanges with an echo server, on three connections
    msgs = [[b"\x16\x03\x01\x00\x05hello", b"\x00\x01\x02binary\xff\n"],
            [b"HELO example.org\r\n", b"PING\r\n", b"*1\r\n$4\r\nPING\r\n"],
            [b"GETTING STARTED\r\n\r\n", b"QUIT\r\n"]]
    for conv in msgs:
        s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        for m in conv:
            s.sendall(m)
            got = b""
            while len(got) < len(m):
                chunk = s.recv(3)
                if not chunk:
                    break
                got += chunk
            print(len(m), got == m)
        s.close()
    return 0

def main():
    mode, args = sys.argv[1], sys.argv[2:]
    headers, proxy = {}, None
    while args and args[0] in ("-H", "-P"):
        if args[0] == "-P":
            proxy = args[1]
        else:
            k, v = args[1].split(":", 1)
            headers[k] = v.strip()
        args = args[2:]
    if mode == "urllib":
        return do_urllib(args[0], args[1:], headers, proxy)
    if mode == "httpclient":
        return do_httpclient(args[0], args[1], args[2:])
    if mode == "requests":
        return do_requests(args[0], args[1:])
    if mode == "rawnull":
        return do_rawnull(args[0], args[1])
    if mode == "echo":
        return do_echo(args[0])
    return 2

sys.exit(main())
'''


# ---------------------------------------------------------------------------------------------
# expectations and checks
# ---------------------------------------------------------------------------------------------
def http_call(name, base, req, clen=None):
    """The subsegment expected for one httpd log record: base is "http://<Host header>"."""
    return {"name": name, "method": req["method"], "url": base + H.url_without_query(req["path"]),
            "status": req["status"],
            "clen": req["body_bytes"] if clen is None else clen}


def connect_failure(name, addr, etype="ECONNREFUSED", text="Connection refused"):
    return {"name": name, "connect_error": etype,
            "message": "connect to %s: %s" % (addr, text)}


def request_failure(name, base, path, types, method="GET", statuses=(None,)):
    """A request whose response never completed; statuses: the allowed http.response.status
    values (None: absent), e.g. (None, 200) when the head was complete before the close."""
    return {"name": name, "method": method, "url": base + H.url_without_query(path),
            "failure": types, "statuses": statuses}


def check_requests(res, wanted, what):
    """The httpd log of the run holds exactly the (method, path) requests in `wanted`, in order,
    none of them carrying an X-Amzn-Trace-Id the program did not send."""
    got = [(r["method"], r["path"]) for r in res.requests]
    ok = check(got == list(wanted), "%s: httpd received %s, expected %s" % (what, got, wanted),
               res.describe())
    for r in res.requests:
        check(r["trace_header_count"] == 0, "%s: a trace header was injected into %s %s"
              % (what, r["method"], r["path"]), r)
    return ok


def sorted_records(res):
    return sorted(res.records, key=lambda r: (H.get(r["sub"], "start_time") or 0,
                                              H.get(r["sub"], "end_time") or 0))


def check_one(rec, exp, what):
    sub, doc = rec["sub"], rec["doc"]
    check(isinstance(sub.get("id"), str) and H.HEX16.match(sub["id"]) is not None,
          "%s: subsegment id must be 16 lowercase hex" % what, doc)
    check(sub.get("name") == exp["name"], "%s: name %r, expected %r"
          % (what, sub.get("name"), exp["name"]), doc)
    check(sub.get("namespace") == "remote", "%s: namespace %r, expected \"remote\""
          % (what, sub.get("namespace")), doc)
    st, et = sub.get("start_time"), sub.get("end_time")
    check(H._num(st) and H._num(et) and st <= et,
          "%s: needs numeric start_time <= end_time" % what, doc)
    check(sub.get("in_progress") in (None, False), "%s: subsegment sent in progress" % what, doc)
    parent = rec["parent"]
    if parent is not None and H._num(st) and H._num(et):
        pst, pet = parent.get("start_time"), parent.get("end_time")
        if H._num(pst) and H._num(pet):
            check(pst - 1e-6 <= st and et <= pet + 1e-6,
                  "%s: subsegment times outside its segment's" % what, doc)
    exc = H.get(sub, "cause", "exceptions", 0)

    if "connect_error" in exp:
        check("http" not in sub, "%s: a failed connect must not have an http block" % what, doc)
        check(sub.get("fault") is True, "%s: a failed connect needs fault=true" % what, doc)
        check(sub.get("error") is not True and sub.get("throttle") is not True,
              "%s: a failed connect is a fault, not error/throttle" % what, doc)
        if check(isinstance(exc, dict), "%s: needs cause.exceptions[0]" % what, doc):
            check(exc.get("type") == exp["connect_error"], "%s: exception type %r, expected %r"
                  % (what, exc.get("type"), exp["connect_error"]), doc)
            check(exc.get("message") == exp["message"], "%s: exception message %r, expected %r"
                  % (what, exc.get("message"), exp["message"]), doc)
            check(isinstance(exc.get("id"), str) and H.HEX16.match(exc["id"]) is not None,
                  "%s: exception id must be 16 lowercase hex" % what, doc)
        return

    m = H.get(sub, "http", "request", "method")
    check(m == exp["method"], "%s: http.request.method %r, expected %r"
          % (what, m, exp["method"]), doc)
    u = H.get(sub, "http", "request", "url")
    check(u == exp["url"], "%s: http.request.url %r, expected %r" % (what, u, exp["url"]), doc)

    if "failure" in exp:
        s = H.get(sub, "http", "response", "status")
        check(s in exp.get("statuses", (None,)), "%s: http.response.status %r, expected %s"
              % (what, s, " or ".join("none" if x is None else str(x)
                                      for x in exp.get("statuses", (None,)))), doc)
        check(sub.get("fault") is True, "%s: a request without a response needs fault=true"
              % what, doc)
        if check(isinstance(exc, dict), "%s: needs cause.exceptions[0]" % what, doc):
            check(exc.get("type") in exp["failure"], "%s: exception type %r, expected one of %s"
                  % (what, exc.get("type"), exp["failure"]), doc)
            check(exc.get("remote") is True, "%s: exception needs remote=true" % what, doc)
            check(isinstance(exc.get("message"), str) and exc["message"] != "",
                  "%s: exception message must be non-empty" % what, doc)
        return

    s = H.get(sub, "http", "response", "status")
    check(s == exp["status"], "%s: http.response.status %r, expected %r"
          % (what, s, exp["status"]), doc)
    H.status_flags_ok(sub, exp["status"], what)
    cl = H.get(sub, "http", "response", "content_length")
    check(cl == exp["clen"], "%s: http.response.content_length %r, expected %r"
          % (what, cl, exp["clen"]), doc)
    check("cause" not in sub, "%s: a completed request must not carry a cause" % what, doc)


def _is_connect_failure(sub):
    return "http" not in sub and H.get(sub, "cause", "exceptions", 0) is not None


def verify_net(res, program, expected, what, mode="call"):
    """The documents of one run hold exactly the calls in `expected` (in the order the program
    made them), one subsegment each, wrapped as `mode` says.  Failed connects (no http block)
    and HTTP requests are matched in two separate lists, so that an unexpected connect failure
    is reported as such and does not shift the HTTP comparisons."""
    check(res.preload, what + ": needs a preloaded run")
    recs = sorted_records(res)
    check(len(recs) == len(expected), "%s: %d subsegments, expected %d"
          % (what, len(recs), len(expected)), res.docs)
    for kind, is_fail in (("failed-connect", True), ("HTTP", False)):
        got = [r for r in recs if _is_connect_failure(r["sub"]) == is_fail]
        exp = [e for e in expected if ("connect_error" in e) == is_fail]
        check(len(got) == len(exp), "%s: %d %s subsegments, expected %d"
              % (what, len(got), kind, len(exp)), [r["sub"] for r in got])
        for i, (rec, e) in enumerate(zip(got, exp)):
            label = "%s: %s call #%d (%s)" % (what, kind, i, e.get("url") or e.get("message"))
            check_one(rec, e, label)

    if mode == "call":
        segs = H.segments(res.docs)
        check(len(segs) == len(res.docs), what + ": call mode sends segment documents only",
              res.docs)
        check(len(res.docs) == len(expected), "%s: %d documents, expected one segment per call "
              "(%d)" % (what, len(res.docs), len(expected)), res.docs)
        for d in segs:
            H.check_segment(d, program, res.t0, res.t1, "%s: segment %s" % (what, d.get("id")))
        for rec in recs:
            check(not rec["independent"] and rec["parent"] is rec["doc"],
                  what + ": call mode: the subsegment must sit directly in its segment",
                  rec["doc"])
    elif mode == "process":
        H.verify_process_docs(res, program, [(None, r) for r in recs], what + ": ")


def both(cmd, what, expect_docs, env=None, timeout=60.0):
    """Runs cmd without, then with the preload; the program's exit status and stdout must be the
    same.  Returns (with, without)."""
    res, base = H.run_compare(S, cmd, what, httpd=SRV, expect_docs=expect_docs, env=env,
                              timeout=timeout)
    return res, base


def net_client(*args):
    return [NET_CLIENT_PATH] + list(args)


def py(mode, *args):
    return [H.PYTHON, CLIENTS, mode] + list(args)


# ---------------------------------------------------------------------------------------------
# 1. urllib.request
# ---------------------------------------------------------------------------------------------
def t_urllib():
    specs = ["/ok", "/notfound", "/throttle", "/error", "/chunked", "/ok?token=secret&x=1#frag",
             "POST:/ok", "/big"]
    res, base = both(py("urllib", SRV.base, *specs), "urllib", len(specs))
    check(res.returncode == 0 and res.stdout.splitlines() == [
        "/ok 200 3", "/notfound HTTPError 404 10", "/throttle HTTPError 429 10",
        "/error HTTPError 500 15", "/chunked 200 1035", "/ok?token=secret&x=1#frag 200 3",
        "POST:/ok 200 3", "/big 200 100000"],
        "urllib: unexpected client output (sanity)", res.describe())
    wanted = [("GET", "/ok"), ("GET", "/notfound"), ("GET", "/throttle"), ("GET", "/error"),
              ("GET", "/chunked"), ("GET", "/ok?token=secret&x=1"), ("POST", "/ok"),
              ("GET", "/big")]
    if check_requests(res, wanted, "urllib"):
        check(res.requests[6]["request_body_bytes"] == 18, "urllib: POST body must arrive",
              res.requests[6])
        verify_net(res, PYTHON_PROGRAM, [http_call("127.0.0.1", SRV.base, r)
                                         for r in res.requests], "urllib")
    H.check_secret_absent(res, ["secret", "token", "frag"], "urllib")


def t_urllib_process_mode():
    specs = ["/ok", "/notfound", "/chunked"]
    res, _ = both(py("urllib", SRV.base, *specs), "urllib process mode", len(specs) + 2,
                  env={"XRAY_AUTO_SEGMENT": "process"})
    if check_requests(res, [("GET", p) for p in specs], "urllib process mode"):
        verify_net(res, PYTHON_PROGRAM, [http_call("127.0.0.1", SRV.base, r)
                                         for r in res.requests],
                   "urllib process mode", mode="process")


def t_urllib_program_trace_header():
    # The program's own X-Amzn-Trace-Id arrives once, unchanged; the request is still traced.
    res, _ = both(py("urllib", "-H", "X-Amzn-Trace-Id:" + H.PROGRAM_TRACE_HEADER, SRV.base,
                     "/ok"), "program trace header", 1)
    if check(len(res.requests) == 1, "program trace header: 1 request expected", res.requests):
        req = res.requests[0]
        check(req["trace_headers"] == [H.PROGRAM_TRACE_HEADER],
              "program trace header: must arrive once, unchanged", req)
        check(len(res.records) == 1, "program trace header: 1 subsegment expected", res.docs)
        for r in res.records:
            check_one(r, http_call("127.0.0.1", SRV.base, req), "program trace header")


# ---------------------------------------------------------------------------------------------
# 2. http.client keep-alive
# ---------------------------------------------------------------------------------------------
def t_httpclient_keepalive():
    specs = ["/ok", "HEAD:/ok", "/chunked", "/notfound", "/big"]
    res, _ = both(py("httpclient", "127.0.0.1", str(SRV.port), *specs), "http.client",
                  len(specs))
    check(res.returncode == 0 and res.stdout.splitlines() == [
        "/ok 200 3 3", "HEAD:/ok 200 0 3", "/chunked 200 1035 None", "/notfound 404 10 10",
        "/big 200 100000 100000", "connections 1"],
        "http.client: unexpected client output (sanity: one connection)", res.describe())
    wanted = [("GET", "/ok"), ("HEAD", "/ok"), ("GET", "/chunked"), ("GET", "/notfound"),
              ("GET", "/big")]
    if check_requests(res, wanted, "http.client"):
        exp = [http_call("127.0.0.1", SRV.base, r,
                         clen=OK_LENGTH if r["method"] == "HEAD" else None)
               for r in res.requests]
        verify_net(res, PYTHON_PROGRAM, exp, "http.client")


# ---------------------------------------------------------------------------------------------
# 3. python3-requests
# ---------------------------------------------------------------------------------------------
def t_requests_session():
    if not HAVE_REQUESTS:
        print("note: python3-requests not installed, scenario skipped")
        return
    specs = ["/ok", "/notfound", "POST:/ok", "/chunked", "/throttle", "/error", "/ok?q=secret"]
    res, _ = both(py("requests", SRV.base, *specs), "requests", len(specs))
    check(res.returncode == 0 and res.stdout.splitlines() == [
        "/ok 200 3", "/notfound 404 10", "POST:/ok 200 3", "/chunked 200 1035",
        "/throttle 429 10", "/error 500 15", "/ok?q=secret 200 3", "connections 1"],
        "requests: unexpected client output (sanity: one connection)", res.describe())
    wanted = [("GET", "/ok"), ("GET", "/notfound"), ("POST", "/ok"), ("GET", "/chunked"),
              ("GET", "/throttle"), ("GET", "/error"), ("GET", "/ok?q=secret")]
    if check_requests(res, wanted, "requests"):
        check(res.requests[2]["request_body_bytes"] == 13, "requests: POST body must arrive",
              res.requests[2])
        verify_net(res, PYTHON_PROGRAM, [http_call("127.0.0.1", SRV.base, r)
                                         for r in res.requests], "requests")
    H.check_secret_absent(res, ["secret"], "requests")


def t_requests_localhost():
    if not HAVE_REQUESTS:
        print("note: python3-requests not installed, scenario skipped")
        return
    addrs = [a[4][0] for a in socket.getaddrinfo("localhost", SRV.port, 0, socket.SOCK_STREAM)]
    print("note: localhost resolves to %s%s" % (addrs, "" if addrs[0] != "127.0.0.1" else
                                                " (no refused ::1 attempt on this host)"))
    base = "http://localhost:%d" % SRV.port
    res, _ = both(py("requests", base, "/ok", "/notfound"), "requests localhost", 2)
    if check_requests(res, [("GET", "/ok"), ("GET", "/notfound")], "requests localhost"):
        verify_net(res, PYTHON_PROGRAM, [http_call("localhost", base, r) for r in res.requests],
                   "requests localhost")


# ---------------------------------------------------------------------------------------------
# localhost listing ::1 (refused: httpd binds 127.0.0.1 only) before 127.0.0.1, as Debian's and
# Ubuntu's /etc/hosts do: the failed connect is dropped because the program recovers.  When this
# host's localhost does not list ::1 first, the clients run in a user + mount namespace
# (`unshare -rm`) where /etc/hosts is such a file (bind-mounted).
# ---------------------------------------------------------------------------------------------
def _gai(host, port=80):
    try:
        return [a[4][0] for a in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)]
    except OSError:
        return []


def localhost_v6_prefix():
    """Command prefix under which localhost resolves to ::1 then 127.0.0.1; None if neither
    this host nor an `unshare -rm` namespace gives that."""
    if _gai("localhost")[:2] == ["::1", "127.0.0.1"]:
        return []
    unshare = H.which("unshare")
    if not unshare or not os.path.exists("/bin/sh"):
        return None
    hosts = S.path("hosts-v6-first")
    with open(hosts, "w") as f:
        f.write("::1 localhost\n127.0.0.1 localhost\n")
    prefix = [unshare, "-rm", "/bin/sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"',
              hosts]
    probe = "import socket; print([a[4][0] for a in socket.getaddrinfo('localhost', 80, 0, 1)])"
    try:
        p = subprocess.run(prefix + [H.PYTHON, "-c", probe], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20,
                           env=S.base_env())
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0 or not p.stdout.decode().startswith("['::1', '127.0.0.1'"):
        print("note: unshare -rm is not usable here (%s)" % p.stderr.decode().strip()[:200])
        return None
    return prefix


def t_localhost_v6_first():
    prefix = localhost_v6_prefix()
    if prefix is None:
        print("note: cannot make localhost resolve to ::1 first: scenario skipped")
        return
    if prefix:
        print("note: running the clients with /etc/hosts listing ::1 first (unshare -rm)")
    base = "http://localhost:%d" % SRV.port
    cases = [("urllib", py("urllib", base, "/ok", "/notfound"), PYTHON_PROGRAM),
             ("net_client", net_client("localhost", str(SRV.port), "/ok", "/notfound"),
              NET_CLIENT),
             ("net_client --nonblock", net_client("--nonblock", "localhost", str(SRV.port),
                                                  "/ok", "/notfound"), NET_CLIENT)]
    if HAVE_REQUESTS:
        cases.append(("requests", py("requests", base, "/ok", "/notfound"), PYTHON_PROGRAM))
    for what, cmd, program in cases:
        what = "localhost ::1 first " + what
        res, _ = both(prefix + cmd, what, 2)
        check(res.returncode == 0, what + ": client failed (sanity)", res.describe())
        if check_requests(res, [("GET", "/ok"), ("GET", "/notfound")], what):
            verify_net(res, program, [http_call("localhost", base, r) for r in res.requests],
                       what)


# ---------------------------------------------------------------------------------------------
# getaddrinfo(NULL, port) lists ::1 (refused: httpd binds 127.0.0.1) before 127.0.0.1: the
# program recovers, so the failed connect is dropped; the name comes from the Host header.
# ---------------------------------------------------------------------------------------------
def _loopback_order():
    addrs = [a[4][0] for a in socket.getaddrinfo(None, SRV.port, 0, socket.SOCK_STREAM)]
    if addrs[:1] != ["::1"]:
        print("note: getaddrinfo(NULL) gives %s: the refused ::1 attempt is not exercised"
              % addrs)
    return addrs


def t_fallback_python():
    _loopback_order()
    res, _ = both(py("rawnull", str(SRV.port), "/ok"), "fallback python", 1)
    check(res.stdout == "/ok HTTP/1.1 200 OK 3\n", "fallback python: client output (sanity)",
          res.describe())
    if check_requests(res, [("GET", "/ok")], "fallback python"):
        verify_net(res, PYTHON_PROGRAM, [http_call("localhost", "http://localhost:%d" % SRV.port,
                                                   res.requests[0])], "fallback python")


def t_fallback_c():
    _loopback_order()
    for opts in ([], ["--nonblock"]):
        what = "fallback net_client %s" % " ".join(opts)
        res, _ = both(net_client(*(opts + ["-", str(SRV.port), "/ok", "/notfound"])), what, 2)
        check(res.returncode == 0, what + ": client failed (sanity)", res.describe())
        if check_requests(res, [("GET", "/ok"), ("GET", "/notfound")], what):
            verify_net(res, NET_CLIENT, [http_call("localhost", "http://localhost:%d" % SRV.port,
                                                   r) for r in res.requests], what)


# ---------------------------------------------------------------------------------------------
# 4. wget (write/read, recv(MSG_PEEK))
# ---------------------------------------------------------------------------------------------
def t_wget():
    if not WGET:
        print("note: wget not installed, scenario skipped")
        return
    for paths in (["/ok"], ["/notfound"], ["/ok", "/notfound", "/chunked", "/big"]):
        what = "wget %s" % " ".join(paths)
        cmd = [WGET, "-q", "-O", "-", "--tries=1"] + [SRV.url(p) for p in paths]
        res, base = both(cmd, what, len(paths))
        check(base.returncode == (8 if "/notfound" in paths else 0),
              what + ": wget exit status without preload (sanity)", base.describe())
        if check_requests(res, [("GET", p) for p in paths], what):
            verify_net(res, "wget", [http_call("127.0.0.1", SRV.base, r) for r in res.requests],
                       what)


def t_wget_refused():
    if not WGET:
        print("note: wget not installed, scenario skipped")
        return
    port = H.free_port()
    res, base = both([WGET, "-q", "-O", "-", "--tries=1", "http://127.0.0.1:%d/ok" % port],
                     "wget refused", 1)
    check(base.returncode == 4, "wget refused: exit 4 expected without preload (sanity)",
          base.describe())
    verify_net(res, "wget", [connect_failure("127.0.0.1", "127.0.0.1:%d" % port)],
               "wget refused")


# ---------------------------------------------------------------------------------------------
# 5. net_client (examples/net_client.c)
# ---------------------------------------------------------------------------------------------
ALL_PATHS = ["/ok", "/notfound", "/throttle", "/error", "/chunked", "/big", "/ok?q=secret"]


def _net_case(what, opts, paths, method="GET", clen=None, mode="call", env=None):
    ndocs = len(paths) + (2 if mode == "process" else 0)
    res, _ = both(net_client(*(opts + ["127.0.0.1", str(SRV.port)] + paths)), what, ndocs,
                  env=env)
    check(res.returncode == 0 and len(res.stdout.splitlines()) == len(paths),
          what + ": client failed (sanity)", res.describe())
    if check_requests(res, [(method, p) for p in paths], what):
        verify_net(res, NET_CLIENT, [http_call("127.0.0.1", SRV.base, r, clen=clen)
                                     for r in res.requests], what, mode=mode)
        return res
    return None


def t_c_send_recv():
    res = _net_case("net_client send/recv", [], ALL_PATHS)
    if res is not None:
        H.check_secret_absent(res, ["secret"], "net_client send/recv")


def t_c_bytewise():
    _net_case("net_client bytewise rchunk 1", ["--bytewise", "--rchunk", "1"],
              ["/ok", "/chunked", "/notfound"])


def t_c_writev_readv():
    _net_case("net_client writev/readv", ["--io", "vec"], ALL_PATHS)
    _net_case("net_client writev/readv bytewise", ["--io", "vec", "--bytewise"],
              ["/chunked", "/ok"])


def t_c_sendmsg_recvmsg():
    _net_case("net_client sendmsg/recvmsg", ["--io", "msg"], ALL_PATHS)
    _net_case("net_client sendmsg/recvmsg rchunk 3", ["--io", "msg", "--rchunk", "3"],
              ["/big", "/ok"])


def t_c_methods():
    res = _net_case("net_client POST", ["--data", "some=body&more=1"], ["/ok", "/notfound"],
                    method="POST")
    if res is not None:
        check(all(r["request_body_bytes"] == 16 for r in res.requests),
              "net_client POST: bodies must arrive (sanity)", res.requests)
    # HEAD: no body follows the head; content_length is the announced Content-Length
    _net_case("net_client HEAD", ["--method", "HEAD"], ["/ok", "/ok"], method="HEAD",
              clen=OK_LENGTH)


def t_c_nonblock():
    _net_case("net_client non-blocking connect", ["--nonblock"], ["/ok", "/chunked"])


def t_c_process_mode():
    _net_case("net_client process mode", [], ["/ok", "/throttle", "/error"], mode="process",
              env={"XRAY_AUTO_SEGMENT": "process"})


def t_c_pipeline():
    # all requests are sent before the first response is read
    _net_case("net_client pipelined x4", ["--pipeline"], ["/chunked", "/notfound", "/big", "/ok"])
    _net_case("net_client pipelined x8", ["--pipeline"], ["/ok", "/chunked", "/notfound", "/big",
                                                          "/error", "/throttle", "/ok", "/ok"])
    _net_case("net_client pipelined HEAD", ["--pipeline", "--method", "HEAD"],
              ["/ok", "/ok", "/ok"], method="HEAD", clen=OK_LENGTH)
    # Beyond 8 in flight, requests are paired with their responses but not traced: the first
    # 8 subsegments still carry their own responses (nothing shifts), the rest give nothing.
    what = "net_client pipelined x12"
    paths = ["/ok", "/notfound", "/throttle", "/error", "/chunked", "/big", "/notfound", "/ok",
             "/error", "/ok", "/ok", "/ok"]
    res, _ = both(net_client("--pipeline", "127.0.0.1", str(SRV.port), *paths), what, 8)
    subs = sorted((r["sub"] for r in res.records if r["sub"].get("namespace") == "remote"),
                  key=lambda r: r["start_time"])
    got = [(H.get(r, "http", "request", "url"), H.get(r, "http", "response", "status"))
           for r in subs]
    want = [(SRV.base + p, {"/ok": 200, "/notfound": 404, "/throttle": 429, "/error": 500,
                            "/chunked": 200, "/big": 200}[p]) for p in paths[:8]]
    check(got == want, what + ": the first 8 requests traced with their own responses",
          {"got": got, "want": want})


def t_absolute_form():
    # Proxy-style requests (absolute-form target): the url is the target as given, without
    # userinfo, query and fragment; the name is the host the program connected to (httpd,
    # which routes on the target's path).
    target = "http://user:secret@example.invalid:8080/ok?token=secret"
    what = "net_client absolute-form"
    res, _ = both(net_client("127.0.0.1", str(SRV.port), target, "/notfound"), what, 2)
    check(res.returncode == 0, what + ": client failed (sanity)", res.describe())
    if check_requests(res, [("GET", target), ("GET", "/notfound")], what):
        verify_net(res, NET_CLIENT, [
            {"name": "127.0.0.1", "method": "GET", "url": "http://example.invalid:8080/ok",
             "status": 200, "clen": 3},
            http_call("127.0.0.1", SRV.base, res.requests[1])], what)
    H.check_secret_absent(res, ["secret", "user:"], what)

    # urllib through an explicit proxy (httpd); NO_PROXY=* would bypass it
    what = "urllib via proxy"
    env = {"NO_PROXY": None, "no_proxy": None}
    res, _ = both(py("urllib", "-P", SRV.base, "http://example.invalid", "/ok?x=secret",
                     "/notfound"), what, 2, env=env)
    check(res.returncode == 0, what + ": client failed (sanity)", res.describe())
    if check_requests(res, [("GET", "http://example.invalid/ok?x=secret"),
                            ("GET", "http://example.invalid/notfound")], what):
        verify_net(res, PYTHON_PROGRAM, [
            {"name": "127.0.0.1", "method": "GET", "url": "http://example.invalid/ok",
             "status": 200, "clen": 3},
            {"name": "127.0.0.1", "method": "GET", "url": "http://example.invalid/notfound",
             "status": 404, "clen": 10}], what)
    H.check_secret_absent(res, ["secret"], what)


def t_c_reset():
    # /reset: httpd closes with an RST after reading the request
    what = "net_client reset"
    res, base = both(net_client("127.0.0.1", str(SRV.port), "/ok", "/reset"), what, 2)
    check(base.returncode == 1 and base.stdout == "/ok 200 3\n",
          what + ": client must fail on /reset (sanity)", base.describe())
    if "reset by peer" in res.stderr:
        types = ("ECONNRESET",)
    elif "connection closed" in res.stderr:
        types = ("ConnectionClosed",)
    else:
        types = ("ECONNRESET", "ConnectionClosed")
    if check_requests(res, [("GET", "/ok"), ("GET", "/reset")], what):
        verify_net(res, NET_CLIENT, [
            http_call("127.0.0.1", SRV.base, res.requests[0]),
            request_failure("127.0.0.1", SRV.base, "/reset", types)], what)


# ---------------------------------------------------------------------------------------------
# Responses httpd.py does not give, from a scripted in-process server that answers one request
# per connection and then closes: close-delimited body, interim 100 Continue, a body cut short,
# a head cut short, no response at all.
# ---------------------------------------------------------------------------------------------
RAW_RESPONSES = {
    "/close-delimited": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 5000,
    "/continue": (b"HTTP/1.1 100 Continue\r\n\r\n"
                  b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"),
    "/truncated": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"y" * 10,
    "/cut-head": b"HTTP/1.1 200 OK\r\nContent-Le",
    "/silent": b"",
}


class _Scripted(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
        parts = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        path = parts[1] if len(parts) > 1 else ""
        with self.server.lock:
            self.server.log.append((parts[0], path))
        sock.sendall(RAW_RESPONSES.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0"
                                              b"\r\nConnection: close\r\n\r\n"))
        # FIN (not RST): half-close, then wait for the client to close its side
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(4096):
                pass
        except OSError:
            pass


class _ScriptedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Scripted)
        self.lock = threading.Lock()
        self.log = []


def t_raw_responses():
    srv = _ScriptedServer()
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    port = srv.server_address[1]
    base = "http://127.0.0.1:%d" % port
    closed = ("ConnectionClosed",)
    cases = [
        # (what, command, program, stdout without preload, exit, expected subsegment)
        ("net_client close-delimited", net_client("127.0.0.1", str(port), "/close-delimited"),
         NET_CLIENT, "/close-delimited 200 5000\n", 0,
         {"name": "127.0.0.1", "method": "GET", "url": base + "/close-delimited",
          "status": 200, "clen": 5000}),
        ("urllib close-delimited", py("urllib", base, "/close-delimited"), PYTHON_PROGRAM,
         "/close-delimited 200 5000\n", 0,
         {"name": "127.0.0.1", "method": "GET", "url": base + "/close-delimited",
          "status": 200, "clen": 5000}),
        ("net_client 100 Continue", net_client("127.0.0.1", str(port), "/continue"),
         NET_CLIENT, "/continue 200 2\n", 0,
         {"name": "127.0.0.1", "method": "GET", "url": base + "/continue",
          "status": 200, "clen": 2}),
        ("net_client body cut short", net_client("127.0.0.1", str(port), "/truncated"),
         NET_CLIENT, "", 1,
         request_failure("127.0.0.1", base, "/truncated", closed, statuses=(None, 200))),
        ("net_client head cut short", net_client("127.0.0.1", str(port), "/cut-head"),
         NET_CLIENT, "", 1, request_failure("127.0.0.1", base, "/cut-head", closed)),
        ("net_client no response", net_client("127.0.0.1", str(port), "/silent"),
         NET_CLIENT, "", 1, request_failure("127.0.0.1", base, "/silent", closed)),
    ]
    try:
        for what, cmd, program, out, rc, exp in cases:
            path = exp["url"][len(base):]
            with srv.lock:
                mark = len(srv.log)
            res, b = both(cmd, what, 1)
            check(b.returncode == rc and b.stdout == out, what + ": client without preload "
                  "(sanity)", b.describe())
            with srv.lock:
                got = srv.log[mark:]
            check(got == [("GET", path), ("GET", path)], "%s: server received %s, expected "
                  "one request per run" % (what, got))
            verify_net(res, program, [exp], what)
    finally:
        srv.shutdown()
        srv.server_close()


# ---------------------------------------------------------------------------------------------
# 6. refused ports
# ---------------------------------------------------------------------------------------------
def t_refused():
    port = H.free_port()
    addr = "127.0.0.1:%d" % port
    cases = [
        ("net_client blocking", net_client("127.0.0.1", str(port), "/ok"), NET_CLIENT,
         "net_client: connect 127.0.0.1 port %d: Connection refused" % port),
        ("net_client non-blocking (SO_ERROR)",
         net_client("--nonblock", "127.0.0.1", str(port), "/ok"), NET_CLIENT,
         "net_client: connect 127.0.0.1 port %d: Connection refused" % port),
        ("net_client non-blocking (first send)",
         net_client("--nonblock", "--no-soerror", "127.0.0.1", str(port), "/ok"), NET_CLIENT,
         "net_client: send /ok: Connection refused"),
        ("urllib", py("urllib", "http://" + addr, "/ok"), PYTHON_PROGRAM, None),
    ]
    for what, cmd, program, stderr in cases:
        what = "refused " + what
        res, base = both(cmd, what, 1)
        if stderr is not None:
            check(base.returncode == 1 and base.stderr.strip() == stderr,
                  what + ": client without preload (sanity)", base.describe())
            check(res.stderr == base.stderr, what + ": stderr differs with preload",
                  {"with": res.stderr, "without": base.stderr})
        else:
            check(base.returncode == 3 and base.stdout == "/ok URLError ECONNREFUSED\n",
                  what + ": client without preload (sanity)", base.describe())
        verify_net(res, program, [connect_failure("127.0.0.1", addr)], what)


# ---------------------------------------------------------------------------------------------
# 7. non-HTTP TCP traffic
# ---------------------------------------------------------------------------------------------
class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def t_non_http():
    srv = _EchoServer(("127.0.0.1", 0), _Echo)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    try:
        port = srv.server_address[1]
        res, base = both(py("echo", str(port)), "non-HTTP", 0)
        check(base.returncode == 0 and base.stdout.count("True") == 7
              and "False" not in base.stdout, "non-HTTP: echo client (sanity)", base.describe())
        H.verify_no_trace(res, "non-HTTP TCP traffic")
    finally:
        srv.shutdown()
        srv.server_close()


# ---------------------------------------------------------------------------------------------
# 8. XRAY_AUTO_HOOKS without net
# ---------------------------------------------------------------------------------------------
def t_net_disabled():
    env = {"XRAY_AUTO_HOOKS": "curl,pq,mysql"}
    port = H.free_port()
    for what, cmd in [
            ("urllib", py("urllib", SRV.base, "/ok", "/notfound", "/chunked")),
            ("urllib refused", py("urllib", "http://127.0.0.1:%d" % port, "/ok")),
            ("net_client", net_client("127.0.0.1", str(SRV.port), "/ok", "/error")),
            ("net_client refused", net_client("--nonblock", "127.0.0.1", str(port), "/ok"))]:
        what = "XRAY_AUTO_HOOKS=curl,pq,mysql " + what
        res, base = both(cmd, what, 0, env=env)
        H.verify_no_trace(res, what, base)


def main():
    global S, SRV, CLIENTS, NET_CLIENT_PATH, WGET, HAVE_REQUESTS
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "net_client")
    S.require_build(NET_CLIENT)
    NET_CLIENT_PATH = os.path.join(S.build, NET_CLIENT)
    WGET = H.which("wget")
    try:
        import requests  # noqa: F401
        HAVE_REQUESTS = True
    except ImportError:
        HAVE_REQUESTS = False
    CLIENTS = S.path("clients.py")
    with open(CLIENTS, "w") as f:
        f.write(CLIENTS_PY)
    SRV = S.start_httpd()
    for fn in [t_urllib, t_urllib_process_mode, t_urllib_program_trace_header,
               t_httpclient_keepalive, t_requests_session, t_requests_localhost,
               t_localhost_v6_first, t_fallback_python, t_fallback_c, t_wget, t_wget_refused,
               t_c_send_recv, t_c_bytewise, t_c_writev_readv, t_c_sendmsg_recvmsg, t_c_methods,
               t_c_nonblock, t_c_process_mode, t_c_pipeline, t_absolute_form, t_c_reset,
               t_raw_responses, t_refused, t_non_http, t_net_disabled]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
