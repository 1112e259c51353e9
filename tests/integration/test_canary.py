#!/usr/bin/python3
"""Integration test: secrets never leave in a datagram or a log line (canaries), HTTP side.

Distinctive random tokens (canary.py) are put where secrets are:
  - libcurl (the curl CLI and <build>/curl_client): the password in URL userinfo, `-u`
    (CURLOPT_USERPWD), query strings and fragments, Authorization / Cookie / X-Amz-Security-Token
    headers, `-b`, proxy credentials (`-x http://u:SECRET@...`, `-U` = CURLOPT_PROXYUSERPWD, and
    http_proxy / ALL_PROXY / https_proxy with userinfo), a redirect whose Location carries a
    secret query or userinfo (`-L`), responses carrying a secret in their reason phrase, body,
    Set-Cookie and other headers (httpd.py's /preset routes; `--fail` too), a proxy refusing a
    CONNECT with such a response, refused connections with userinfo, AWS calls (an
    *.amazonaws.com endpoint and a SigV4-signed local one) with a secret in the query, in
    X-Amz-Security-Token, in the Authorization header's Credential (access key id) and
    Signature, in the body, and `curl --aws-sigv4 -u AKID:SECRETKEY`;
  - the sockets layer, client side (urllib, http.client, <build>/net_client): the same headers
    and query strings, Basic auth through urllib's handlers (preemptive and after a 401
    challenge), Proxy-Authorization and proxies with userinfo (explicit and from http_proxy),
    absolute-form targets with userinfo, request bodies, error responses;
  - the sockets layer, server side (`python3 -m http.server` and <build>/net_server preloaded):
    requests with Authorization / Cookie headers, query strings, absolute-form targets and Host
    headers with userinfo, bodies, X-Forwarded-For garbage, X-Amzn-Trace-Id values carrying
    junk (valid Root + extra keys, a Root that is not one, nothing valid at all), a downstream
    call answered with a secret error text;
  - the environment of every run: AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_ACCESS_KEY_ID,
    PGPASSWORD, MYSQL_PWD, DATABASE_URL with a password, http_proxy / https_proxy with userinfo
    (bypassed by no_proxy=* except where a case uses them).
Every run is under the preload with XRAY_AUTO_LOG_LEVEL=debug and its stderr captured; every
datagram is captured raw on this script's UDP socket.  Each of them, and each log line of the
library, is searched for every canary of the whole script in every encoded form (raw, case,
JSON, URL, base64 at any alignment, hex, the random part and its halves).  And each case
asserts that the call WAS traced, with the expected name and the stripped url (no userinfo,
query or fragment), so that a case where nothing was recorded cannot pass.

Usage: test_canary.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: curl not installed)
"""

import base64
import json
import os
import socket
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402
import canary as C  # noqa: E402

PY = H.PYTHON
SECRETS = []
ANY = object()  # an expected value that is not checked


def secret(kind):
    s = C.token(kind)
    SECRETS.append(s)
    return s


def b64(text):
    return base64.b64encode(text.encode()).decode()


# The environment of every run: variables the library must never copy.
ENV = {
    "AWS_ACCESS_KEY_ID": secret("ENVAKID"),
    "AWS_SECRET_ACCESS_KEY": secret("ENVSK"),
    "AWS_SESSION_TOKEN": secret("ENVTOK"),
    "PGPASSWORD": secret("ENVPG"),
    "MYSQL_PWD": secret("ENVMY"),
    "DATABASE_URL": "postgres://app:%s@db.invalid:5432/app" % secret("ENVDB"),
    # the base environment's no_proxy=* bypasses these (cases that use a proxy replace them)
    "http_proxy": "http://pu:%s@127.0.0.1:9/" % secret("ENVPX"),
    "https_proxy": "http://pu:%s@127.0.0.1:9/" % secret("ENVPXS"),
}

# A python3 program: one mode per run, one line per request on stdout.
CLIENT = r"""
import base64, http.client, sys, urllib.request, urllib.error
mode, base = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

def show(opener, req):
    try:
        with opener.open(req, timeout=30) as r:
            print(r.status, len(r.read()))
    except urllib.error.HTTPError as e:
        body = e.read()
        e.close()
        print("HTTPError", e.code, len(body))

if mode == "urllib":            # args: path, bearer, cookie, error path
    op = urllib.request.build_opener()
    show(op, urllib.request.Request(base + args[0], headers={
        "Authorization": "Bearer " + args[1], "Cookie": "c=" + args[2]}))
    show(op, urllib.request.Request(base + args[3]))
elif mode == "basic":           # args: user, password (preemptive), password (challenged), 401 path
    mgr = urllib.request.HTTPPasswordMgrWithPriorAuth()
    mgr.add_password(None, base, args[0], args[1], is_authenticated=True)
    show(urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(mgr)),
         urllib.request.Request(base + "/ok"))
    mgr2 = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr2.add_password(None, base, args[0], args[2])
    show(urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(mgr2)),
         urllib.request.Request(base + args[3]))
elif mode == "proxy":           # args: proxy URL ("" = from the environment), target URL
    handlers = [urllib.request.ProxyHandler({"http": args[0]})] if args[0] else []
    show(urllib.request.build_opener(*handlers), urllib.request.Request(args[1]))
elif mode == "httpclient":      # args: port, query secret, password, cookie, body, absolute URL,
                                # Host header
    c = http.client.HTTPConnection("127.0.0.1", int(args[0]), timeout=30)
    auth = "Basic " + base64.b64encode(("u:" + args[2]).encode()).decode()
    for method, target, headers, body in [
            ("GET", "/ok?session=" + args[1], {"Authorization": auth, "Cookie": args[3],
                                               "Proxy-Authorization": auth}, None),
            ("POST", "/ok", {"Content-Type": "text/plain"}, args[4].encode()),
            ("GET", args[5], {}, None),
            ("GET", "/ok", {"Host": args[6]}, None)]:
        c.request(method, target, body=body, headers=headers)
        r = c.getresponse()
        print(r.status, len(r.read()))
    c.close()
"""


# ---------------------------------------------------------------------------------------------
# running and checking
# ---------------------------------------------------------------------------------------------
def run(cmd, what, expect, env=None, **kw):
    """cmd under the preload with ENV + env; every check that applies to every run."""
    e = dict(ENV)
    e.update(env or {})
    r = C.run(S, SINK, cmd, e, what, expect=expect, **kw)
    C.check_logged(r)
    C.check_absent(r, SECRETS)
    return r


def calls(r, program, exp, rc=0):
    """r holds exactly the calls in exp, in start order; each a dict: name, url, method
    (GET), status (None: no response), etype (exception type, None: no cause), ns (remote),
    aws (a dict the subsegment's aws block must contain).  Call mode: each subsegment in a
    segment of its own named `program`."""
    what = r.what
    if rc is not None:
        check(r.returncode == rc, "%s: exit status %s, expected %s" % (what, r.returncode, rc),
              r.text())
    check(len(r.records) == len(exp) and len(r.docs) == len(exp),
          "%s: %d subsegments in %d documents, expected %d traced calls (a canary case that "
          "traced nothing proves nothing)" % (what, len(r.records), len(r.docs), len(exp)),
          r.docs or r.text())
    for i, (rec, x) in enumerate(zip(r.records, exp)):
        sub, w = rec["sub"], "%s: call #%d" % (what, i)
        check(rec["doc"].get("name") == program, "%s: segment name %r, expected %r"
              % (w, rec["doc"].get("name"), program), rec["doc"])
        for key, path, want in [("name", ("name",), x["name"]),
                                ("url", ("http", "request", "url"), x["url"]),
                                ("method", ("http", "request", "method"), x.get("method", "GET")),
                                ("namespace", ("namespace",), x.get("ns", "remote")),
                                ("status", ("http", "response", "status"), x.get("status")),
                                ("exception type", ("cause", "exceptions", 0, "type"),
                                 x.get("etype"))]:
            got = H.get(sub, *path)
            check(want is ANY or got == want, "%s: %s %r, expected %r" % (w, key, got, want), sub)
        for k, v in (x.get("aws") or {}).items():
            check(H.get(sub, "aws", k) == v, "%s: aws.%s %r, expected %r"
                  % (w, k, H.get(sub, "aws", k), v), sub)
        if x.get("etype"):
            msg = H.get(sub, "cause", "exceptions", 0, "message")
            check(isinstance(msg, str) and msg != "", "%s: the exception needs its message" % w,
                  sub)


def received(reqs, what, n, header=None, value=None, path=None):
    """httpd got n requests; with header/value, the last one carried it (the secret was really
    sent, so its absence from the documents means something)."""
    if not check(len(reqs) == n, "%s: httpd got %d requests, expected %d" % (what, len(reqs), n),
                 reqs):
        return
    if header is not None:
        got = reqs[-1]["headers"].get(header.lower())
        check(got is not None and value in got, "%s: httpd got %s %r, expected it to hold %r"
              % (what, header, got, value), reqs[-1])
    if path is not None:
        check(reqs[-1]["path"] == path, "%s: httpd got path %r, expected %r"
              % (what, reqs[-1]["path"], path), reqs[-1])


def preset(name, status, reason=None, headers=(), body=""):
    """Stores httpd's answer for /preset/<name> (from this script: never traced)."""
    h = [("X-Preset-Status", str(status))]
    if reason is not None:
        h.append(("X-Preset-Reason", reason))
    h += [("X-Preset-Header", "%s: %s" % kv) for kv in headers]
    if body:
        h.append(("X-Preset-Body", body))
    lines = "".join("%s: %s\r\n" % kv for kv in h)
    resp = raw_exchange(HTTPD.port, ("PUT /preset/%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 0"
                                     "\r\nConnection: close\r\n\r\n" % (name, lines)).encode())
    if not resp.startswith(b"HTTP/1.1 204"):
        raise H.HarnessError("httpd.py did not store preset %s: %r" % (name, resp[:200]))


def raw_exchange(port, data):
    """Sends data on a new connection, reads until the peer closes; the bytes received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# libcurl: the curl CLI
# ---------------------------------------------------------------------------------------------
def curl(*args):
    return ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n"] + list(args)


def t_curl_credentials():
    b, host = HTTPD.base, "127.0.0.1"
    ok = {"name": host, "url": b + "/ok", "status": 200}

    pw = secret("URLPW")
    m = HTTPD.mark()
    r = run(curl("http://cu:%s@127.0.0.1:%d/ok" % (pw, HTTPD.port)), "curl URL userinfo", 1)
    calls(r, "curl", [ok])
    received(HTTPD.requests(m), r.what, 1, "Authorization", "Basic " + b64("cu:" + pw))

    pw = secret("USERPW")
    m = HTTPD.mark()
    r = run(curl("-u", "cu:" + pw, b + "/ok"), "curl -u (CURLOPT_USERPWD)", 1)
    calls(r, "curl", [ok])
    received(HTTPD.requests(m), r.what, 1, "Authorization", "Basic " + b64("cu:" + pw))

    q, f = secret("QUERY"), secret("FRAG")
    m = HTTPD.mark()
    r = run(curl("%s/ok?token=%s&x=1#%s" % (b, q, f)), "curl query and fragment", 1)
    calls(r, "curl", [ok])
    received(HTTPD.requests(m), r.what, 1, path="/ok?token=%s&x=1" % q)

    bearer, cookie, cookie2, tok = (secret("BEARER"), secret("COOKIE"), secret("COOKIEB"),
                                    secret("AMZTOK"))
    cmd = curl("-H", "Authorization: Bearer " + bearer, "-H", "Cookie: s=" + cookie,
               "-H", "X-Amz-Security-Token: " + tok, b + "/ok", b + "/ok")
    m = HTTPD.mark()
    r = run(cmd, "curl Authorization, Cookie, X-Amz-Security-Token headers", 2)
    calls(r, "curl", [ok, ok])
    received(HTTPD.requests(m), r.what, 2, "Authorization", bearer)
    received(HTTPD.requests(m), r.what, 2, "Cookie", cookie)
    # -b (curl drops it when -H sets Cookie), in process mode (an in_progress segment,
    # independent subsegments), verbose: curl's own stderr then shows the headers, which is
    # not ours to judge
    cmd = curl("-v", "-H", "Authorization: Bearer " + bearer, "-b", "k=" + cookie2,
               b + "/ok", b + "/ok")
    m = HTTPD.mark()
    r = run(cmd, "curl -b, process mode, curl -v", 4, env={"XRAY_AUTO_SEGMENT": "process"})
    received(HTTPD.requests(m), r.what, 2, "Cookie", cookie2)
    check(len(r.records) == 2 and all(x["independent"] for x in r.records)
          and all(H.get(x["sub"], "http", "request", "url") == b + "/ok" for x in r.records)
          and len(r.docs) == 4, "%s: 2 independent subsegments + 2 segment documents" % r.what,
          r.docs)
    check(bearer.encode() in r.stderr, "%s: curl -v prints the header itself (the program's "
          "stderr is not searched, only our log lines)" % r.what, r.text())


def t_curl_proxies():
    p = HTTPD.port
    direct = {"NO_PROXY": None, "no_proxy": None}  # the base environment bypasses every proxy
    origin = {"name": "origin.invalid", "url": "http://origin.invalid/ok", "status": 200}

    px, q = secret("PROXYPW"), secret("QUERY")
    m = HTTPD.mark()
    r = run(curl("-x", "http://pu:%s@127.0.0.1:%d" % (px, p), "http://origin.invalid/ok?t=" + q),
            "curl -x with userinfo", 1, env=direct)
    calls(r, "curl", [origin])
    received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px),
             path="http://origin.invalid/ok?t=" + q)

    px = secret("PROXYUSERPW")
    m = HTTPD.mark()
    r = run(curl("-x", "127.0.0.1:%d" % p, "-U", "pu:" + px, "http://origin.invalid/ok"),
            "curl -U (CURLOPT_PROXYUSERPWD)", 1, env=direct)
    calls(r, "curl", [origin])
    received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px))

    for var in ("http_proxy", "ALL_PROXY"):
        px = secret("ENVPROXY")
        env = {"NO_PROXY": None, "no_proxy": None, "http_proxy": None, "https_proxy": None,
               var: "http://pu:%s@127.0.0.1:%d/" % (px, p)}
        m = HTTPD.mark()
        r = run(curl("http://origin.invalid/ok"), "curl %s with userinfo" % var, 1, env=env)
        calls(r, "curl", [origin])
        received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px))

    # https_proxy: the proxy refuses the CONNECT with a response full of secrets
    px = secret("PROXYPW")
    preset("connect", 407, "Proxy says " + secret("REASON"),
           [("Proxy-Authenticate", 'Basic realm="%s"' % secret("REALM")),
            ("X-Detail", secret("HEADER"))], "denied: " + secret("BODY"))
    env = {"NO_PROXY": None, "no_proxy": None, "http_proxy": None,
           "https_proxy": "http://pu:%s@127.0.0.1:%d/" % (px, p)}
    m = HTTPD.mark()
    r = run(curl("https://origin.invalid/ok"), "curl https_proxy, CONNECT refused", 1, env=env)
    calls(r, "curl", [{"name": "origin.invalid", "url": "https://origin.invalid/ok",
                       "etype": "CURLE_RECV_ERROR", "status": ANY}], rc=56)
    received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px))

    px = secret("PROXYPW")
    r = run(curl("-x", "http://pu:%s@127.0.0.1:%d" % (px, DEAD_PORT),
                 "http://origin.invalid/ok?t=" + secret("QUERY")), "curl proxy refused", 1,
            env=direct)
    calls(r, "curl", [{"name": "origin.invalid", "url": "http://origin.invalid/ok",
                       "etype": "CURLE_COULDNT_CONNECT"}], rc=7)


def t_curl_responses():
    b, p = HTTPD.base, HTTPD.port
    ok = {"name": "127.0.0.1", "url": b + "/ok", "status": 200}

    q, f = secret("LOCQUERY"), secret("LOCFRAG")
    preset("redir", 302, "Found " + secret("REASON"), [("Location", "/ok?next=%s#%s" % (q, f))])
    m = HTTPD.mark()
    r = run(curl("-L", b + "/preset/redir"), "curl -L, Location with a query", 1)
    calls(r, "curl", [ok])
    received(HTTPD.requests(m), r.what, 2, path="/ok?next=" + q)

    pw = secret("LOCPW")
    preset("redir-userinfo", 301, None, [("Location", "http://ru:%s@127.0.0.1:%d/ok" % (pw, p))])
    m = HTTPD.mark()
    r = run(curl("-L", b + "/preset/redir-userinfo"), "curl -L, Location with userinfo", 1)
    calls(r, "curl", [ok])
    received(HTTPD.requests(m), r.what, 2, "Authorization", "Basic " + b64("ru:" + pw))

    err = {"name": "127.0.0.1", "url": b + "/preset/err500", "status": 500}
    m = HTTPD.mark()
    r = run(curl(b + "/preset/err500"), "curl 500 with secret reason, body, headers", 1)
    calls(r, "curl", [err])
    check(all(x["sub"].get("fault") is True for x in r.records), "%s: 500 is a fault" % r.what,
          r.docs)
    received(HTTPD.requests(m), r.what, 1)
    r = run(curl("--fail", b + "/preset/err500"), "curl --fail on the same 500", 1)
    calls(r, "curl", [err], rc=22)
    r = run(curl("--fail-with-body", b + "/preset/err404"), "curl --fail-with-body on a 404", 1)
    calls(r, "curl", [{"name": "127.0.0.1", "url": b + "/preset/err404", "status": 404}], rc=22)

    jar = S.path("cookies.txt")
    r = run(curl("-c", jar, "-b", jar, b + "/preset/setcookie", b + "/ok"),
            "curl Set-Cookie stored and sent back", 2)
    calls(r, "curl", [{"name": "127.0.0.1", "url": b + "/preset/setcookie", "status": 200}, ok])
    with open(jar) as fh:
        check(SETCOOKIE in fh.read(), "%s: curl stored the cookie (sanity)" % r.what)


def t_curl_aws():
    p = HTTPD.port
    akid, sig, tok, qtok, qsig = (secret("AKID"), secret("SIG"), secret("AMZTOK"),
                                  secret("QTOK"), secret("QSIG"))
    host = "dynamodb.us-east-1.amazonaws.com"
    cmd = curl("--resolve", "%s:%d:127.0.0.1" % (host, p),
               "-H", "X-Amz-Target: DynamoDB_20120810.ListTables",
               "-H", "X-Amz-Security-Token: " + tok,
               "-H", "Authorization: AWS4-HMAC-SHA256 Credential=%s/20240101/us-east-1/dynamodb/"
               "aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=%s"
               % (akid, sig),
               "-H", "Content-Type: application/x-amz-json-1.0", "-d", '{"Limit": 1}',
               "http://%s:%d/aws?X-Amz-Security-Token=%s&X-Amz-Signature=%s"
               % (host, p, qtok, qsig))
    m = HTTPD.mark()
    r = run(cmd, "curl DynamoDB endpoint, secrets in query, token, signature", 1)
    calls(r, "curl", [{"name": "dynamodb", "ns": "aws", "method": "POST", "status": 200,
                       "url": "http://%s:%d/aws" % (host, p),
                       "aws": {"operation": "ListTables", "region": "us-east-1",
                               "request_id": "req-123"}}])
    received(HTTPD.requests(m), r.what, 1, "Authorization", sig)

    akid, sig, body = secret("AKID"), secret("SIG"), secret("MSGBODY")
    cmd = curl("-H", "Authorization: AWS4-HMAC-SHA256 Credential=%s/20240101/eu-west-1/sqs/"
               "aws4_request, SignedHeaders=host, Signature=%s" % (akid, sig),
               "-d", "Action=SendMessage&QueueUrl=http%%3A%%2F%%2F127.0.0.1%%2Fq&MessageBody=%s"
               % body, "%s/aws?X-Amz-Security-Token=%s" % (HTTPD.base, secret("QTOK")))
    r = run(cmd, "curl SigV4-signed local SQS endpoint, secret body", 1)
    calls(r, "curl", [{"name": "sqs", "ns": "aws", "method": "POST", "status": 200,
                       "url": HTTPD.base + "/aws",
                       "aws": {"operation": "SendMessage", "region": "eu-west-1",
                               "queue_url": "http://127.0.0.1/q"}}])

    akid, sk = secret("AKID"), secret("SECRETKEY")
    host = "bucket.s3.us-east-1.amazonaws.com"
    m = HTTPD.mark()
    r = run(curl("--aws-sigv4", "aws:amz:us-east-1:s3", "-u", "%s:%s" % (akid, sk),
                 "--resolve", "%s:%d:127.0.0.1" % (host, p), "http://%s:%d/aws" % (host, p)),
            "curl --aws-sigv4 -u AKID:SECRETKEY on S3", 1)
    calls(r, "curl", [{"name": "s3", "ns": "aws", "status": 200,
                       "url": "http://%s:%d/aws" % (host, p),
                       "aws": {"operation": "GetObject", "region": "us-east-1"}}])
    received(HTTPD.requests(m), r.what, 1, "Authorization", akid)


# ---------------------------------------------------------------------------------------------
# libcurl: <build>/curl_client (CURLOPT_URL, CURLOPT_HTTPHEADER, CURLOPT_ERRORBUFFER)
# ---------------------------------------------------------------------------------------------
def t_curl_client():
    exe, b, p = os.path.join(S.build, "curl_client"), HTTPD.base, HTTPD.port
    for multi in ([], ["--multi"]):
        pw, q, f = secret("URLPW"), secret("QUERY"), secret("FRAG")
        cmd = [exe] + multi + ["--header", "Authorization: Bearer " + secret("BEARER"),
                               "--header", "Cookie: a=" + secret("COOKIE"),
                               "http://cu:%s@127.0.0.1:%d/ok?token=%s#%s" % (pw, p, q, f),
                               b + "/preset/err500"]
        m = HTTPD.mark()
        r = run(cmd, "curl_client %s userinfo, query, headers" % (multi or ["easy"])[0], 2)
        got = sorted(r.records, key=lambda x: H.get(x["sub"], "http", "request", "url") or "")
        r.records = got
        calls(r, "curl_client", [{"name": "127.0.0.1", "url": b + "/ok", "status": 200},
                                 {"name": "127.0.0.1", "url": b + "/preset/err500",
                                  "status": 500}])
        received(HTTPD.requests(m), r.what, 2)
    pw = secret("URLPW")
    url = "http://cu:%s@127.0.0.1:%d/x?token=%s" % (pw, DEAD_PORT, secret("QUERY"))
    r = run([exe, url], "curl_client refused, error buffer", 1)
    calls(r, "curl_client", [{"name": "127.0.0.1", "url": "http://127.0.0.1:%d/x" % DEAD_PORT,
                              "etype": "CURLE_COULDNT_CONNECT"}], rc=1)
    # URLs libcurl refuses (CURLE_URL_MALFORMAT), a password in each: a port out of range and
    # an unclosed IPv6 literal give no host to record ("unknown"); an unencoded '@' in the
    # password leaves the host after the last '@'
    at = secret("ATPW")
    at = at[:len(at) // 2] + "@" + at[len(at) // 2:]
    for url, name, rec in [
            ("http://cu:%s@127.0.0.1:99999/x?q=%s" % (secret("URLPW"), secret("QUERY")),
             "unknown", None),
            ("http://cu:%s@[::1/x" % secret("URLPW"), "unknown", None),
            ("http://cu:%s@127.0.0.1:%d/x?q=%s" % (at, DEAD_PORT, secret("QUERY")), "127.0.0.1",
             "http://127.0.0.1:%d/x" % DEAD_PORT)]:
        r = run([exe, url], "curl_client malformed URL %s" % name, 1)
        calls(r, "curl_client", [{"name": name, "url": rec, "etype": "CURLE_URL_MALFORMAT"}],
              rc=1)


# ---------------------------------------------------------------------------------------------
# sockets layer, client side
# ---------------------------------------------------------------------------------------------
def client(mode, *args):
    return [PY, "-c", CLIENT, mode, HTTPD.base] + list(args)


def t_python_clients():
    b, p = HTTPD.base, HTTPD.port
    ok = {"name": "127.0.0.1", "url": b + "/ok", "status": 200}
    err = {"name": "127.0.0.1", "url": b + "/preset/err500", "status": 500}

    bearer, cookie = secret("BEARER"), secret("COOKIE")
    m = HTTPD.mark()
    r = run(client("urllib", "/ok?token=%s#%s" % (secret("QUERY"), secret("FRAG")), bearer,
                   cookie, "/preset/err500"), "urllib headers, query, fragment, 500", 2)
    calls(r, "python3", [ok, err])
    received(HTTPD.requests(m)[:1], r.what, 1, "Authorization", bearer)

    pw, pw2 = secret("BASICPW"), secret("BASICPW")
    m = HTTPD.mark()
    r = run(client("basic", "bu", pw, pw2, "/preset/auth401"),
            "urllib Basic auth (preemptive, then a 401 challenge)", 3)
    a401 = {"name": "127.0.0.1", "url": b + "/preset/auth401", "status": 401}
    calls(r, "python3", [ok, a401, a401])
    reqs = HTTPD.requests(m)
    received(reqs[:1], r.what, 1, "Authorization", "Basic " + b64("bu:" + pw))
    received(reqs, r.what, 3, "Authorization", "Basic " + b64("bu:" + pw2))

    origin = {"name": "127.0.0.1", "url": "http://origin.invalid/ok", "status": 200}
    px = secret("PROXYPW")
    target = "http://origin.invalid/ok?token=" + secret("QUERY")
    m = HTTPD.mark()
    r = run(client("proxy", "http://pu:%s@127.0.0.1:%d" % (px, p), target),
            "urllib ProxyHandler with userinfo", 1, env={"NO_PROXY": None, "no_proxy": None})
    calls(r, "python3", [origin])
    received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px),
             path=target)
    px = secret("ENVPROXY")
    m = HTTPD.mark()
    r = run(client("proxy", "", target), "urllib http_proxy with userinfo", 1,
            env={"NO_PROXY": None, "no_proxy": None,
                 "http_proxy": "http://pu:%s@127.0.0.1:%d" % (px, p)})
    calls(r, "python3", [origin])
    received(HTTPD.requests(m), r.what, 1, "Proxy-Authorization", "Basic " + b64("pu:" + px))

    pw, body = secret("ABSPW"), secret("REQBODY")
    absolute = "http://u:%s@127.0.0.1:%d/ok?x=%s" % (pw, p, secret("QUERY"))
    m = HTTPD.mark()
    host = "u:%s@127.0.0.1:%d" % (secret("HOSTPW"), p)
    r = run(client("httpclient", str(p), secret("QUERY"), secret("BASICPW"), secret("COOKIE"),
                   body, absolute, host),
            "http.client keep-alive: auth, cookie, body, absolute-form, Host with userinfo", 4)
    calls(r, "python3", [ok, dict(ok, method="POST"), ok, ok])
    reqs = HTTPD.requests(m)
    received(reqs[:3], r.what, 3, path=absolute)
    received(reqs, r.what, 4, "Host", host)


def t_net_client():
    exe, b, p = os.path.join(S.build, "net_client"), HTTPD.base, HTTPD.port
    absolute = "http://u:%s@127.0.0.1:%d/ok?x=%s" % (secret("ABSPW"), p, secret("QUERY"))
    paths = ["/ok?token=" + secret("QUERY"), "/ok#" + secret("FRAG"), absolute,
             "/preset/err500"]
    m = HTTPD.mark()
    r = run([exe, "127.0.0.1", str(p)] + paths, "net_client query, fragment, absolute-form", 4)
    ok = {"name": "127.0.0.1", "url": b + "/ok", "status": 200}
    calls(r, "net_client", [ok, ok, ok, {"name": "127.0.0.1", "url": b + "/preset/err500",
                                         "status": 500}])
    received(HTTPD.requests(m), r.what, 4)


# ---------------------------------------------------------------------------------------------
# sockets layer, server side
# ---------------------------------------------------------------------------------------------
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


def server_run(srv, what, n):
    """The datagrams of the n requests just served, and the server's log lines so far."""
    r = C.Run(what)
    return C.parse(r, SINK.wait(n, timeout=5.0), srv.stderr().encode())


def serve_checks(r, exp):
    """exp: per request (in order) a dict: url, status, client_ip, xff (bool), trace_id,
    parent_id (None: none), method."""
    C.check_absent(r, SECRETS)
    segs = sorted([d for d in r.docs if d.get("type") != "subsegment"],
                  key=lambda d: d.get("start_time") or 0)
    if not check(len(segs) == len(exp) == len(r.docs), "%s: %d segment documents (of %d), "
                 "expected %d (one per request)" % (r.what, len(segs), len(r.docs), len(exp)),
                 r.docs):
        return segs
    for i, (d, x) in enumerate(zip(segs, exp)):
        w = "%s: request #%d" % (r.what, i)
        for key, path, want in [("url", ("http", "request", "url"), x["url"]),
                                ("method", ("http", "request", "method"), x.get("method", "GET")),
                                ("status", ("http", "response", "status"), x["status"]),
                                ("client_ip", ("http", "request", "client_ip"),
                                 x.get("client_ip", "127.0.0.1")),
                                ("x_forwarded_for", ("http", "request", "x_forwarded_for"),
                                 x.get("xff")),
                                ("parent_id", ("parent_id",), x.get("parent_id"))]:
            got = H.get(d, *path)
            check(want is ANY or got == want, "%s: %s %r, expected %r" % (w, key, got, want), d)
        tid = d.get("trace_id")
        if x.get("trace_id") is ANY:
            pass
        elif x.get("trace_id"):
            check(tid == x["trace_id"], "%s: trace_id %r, expected %r" % (w, tid, x["trace_id"]),
                  d)
        else:
            check(isinstance(tid, str) and H.TRACE_ID.match(tid) is not None and tid != ROOT,
                  "%s: a new valid trace_id expected, got %r" % (w, tid), d)
    return segs


def head(method, target, host, extra=()):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: " + host, "User-Agent: canary-test"]
    lines += ["%s: %s" % kv for kv in extra] + ["Connection: close", "", ""]
    return "\r\n".join(lines).encode()


def t_http_server():
    global POSTBODY
    POSTBODY = ("password=%s&card=%s" % (secret("BODY"), secret("BODY"))).encode()
    www = S.path("www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "small.txt"), "wb") as fh:
        fh.write(b"small\n")
    srv = H.PreloadedServer(S, [PY, "-m", "http.server", "0", "--bind", "127.0.0.1",
                                "--directory", www], ready=r"Serving HTTP on \S+ port (\d+)",
                            preload=False,
                            env=C.preload_env(S, SINK, dict(ENV, PYTHONUNBUFFERED="1")))
    p = srv.port
    hp = "127.0.0.1:%d" % p
    base = "http://" + hp
    SINK.drain(0)
    sent = [
        (head("GET", "/small.txt?token=" + secret("QUERY"), hp,
              [("Authorization", "Bearer " + secret("BEARER")),
               ("Cookie", "sid=" + secret("COOKIE"))]),
         {"url": base + "/small.txt", "status": 200}),
        (head("GET", "/nothere?password=%s#%s" % (secret("QUERY"), secret("FRAG")), hp,
              [("Authorization", "Basic " + b64("u:" + secret("BASICPW")))]),
         {"url": base + "/nothere", "status": 404}),
        (head("GET", "/small.txt", hp, [("X-Forwarded-For", "%s, 10.0.0.1" % secret("XFF"))]),
         {"url": base + "/small.txt", "status": 200}),
        (head("GET", "/small.txt", hp, [("X-Forwarded-For", "203.0.113.9, " + secret("XFF"))]),
         {"url": base + "/small.txt", "status": 200, "client_ip": "203.0.113.9", "xff": True}),
        (head("GET", "/small.txt", hp, [("X-Amzn-Trace-Id", "Root=%s;Parent=%s;Sampled=1;Junk=%s"
                                         ";Self=1-00000000-%s" % (ROOT, PARENT,
                                                                 secret("TRACEJUNK"),
                                                                 secret("TRACESELF")))]),
         {"url": base + "/small.txt", "status": 200, "trace_id": ROOT, "parent_id": PARENT}),
        (head("GET", "/small.txt", hp, [("X-Amzn-Trace-Id", "Root=%s;Parent=%s;Sampled=1;%s=%s"
                                         % (ROOT, PARENT, "k" * 700, secret("TRACELONG")))]),
         {"url": base + "/small.txt", "status": 200, "trace_id": ANY, "parent_id": ANY}),
        (head("GET", "/small.txt", hp, [("X-Amzn-Trace-Id", "Root=1-%s;Parent=%s;Sampled=1"
                                         % (secret("TRACEROOT"), PARENT))]),
         {"url": base + "/small.txt", "status": 200}),
        (head("GET", "/small.txt", hp, [("X-Amzn-Trace-Id", secret("TRACEJUNK"))]),
         {"url": base + "/small.txt", "status": 200}),
        (head("GET", "http://u:%s@%s/small.txt?q=%s" % (secret("ABSPW"), hp, secret("QUERY")),
              hp), {"url": base + "/small.txt", "status": 404}),
        (head("GET", "/small.txt", "u:%s@%s" % (secret("HOSTPW"), hp)),
         {"url": base + "/small.txt", "status": 200}),
        (head("POST", "/small.txt?k=" + secret("QUERY"), hp,
              [("Content-Length", str(len(POSTBODY)))]) + POSTBODY,
         {"url": base + "/small.txt", "status": 501, "method": "POST"}),
    ]
    for data, _ in sent:
        resp = raw_exchange(p, data)
        check(resp.startswith(b"HTTP/1."), "http.server: no response to %r (sanity)" % data[:60],
              resp[:200])
    r = server_run(srv, "python3 -m http.server", len(sent))
    serve_checks(r, [x for _, x in sent])
    rc = srv.stop()
    r = C.parse(C.Run("python3 -m http.server, after exit"), SINK.drain(), srv.stderr().encode())
    C.check_logged(r)
    C.check_absent(r, SECRETS)
    check(rc in (0, -15), "http.server: exit status %s after SIGTERM" % rc, srv.stderr())


def t_net_server():
    exe = os.path.join(S.build, "net_server")
    srv = H.PreloadedServer(S, [exe, "--port", "0", "--downstream", "127.0.0.1:%d" % HTTPD.port],
                            preload=False, env=C.preload_env(S, SINK, ENV))
    hp = "127.0.0.1:%d" % srv.port
    SINK.drain(0)
    junk = secret("TRACEJUNK")
    q = secret("QUERY")
    m = HTTPD.mark()
    resp = raw_exchange(srv.port, head(
        "GET", "/call?to=/preset/err500?token=%s&k=%s" % (q, secret("QUERY")), hp,
        [("Authorization", "Bearer " + secret("BEARER")), ("Cookie", "s=" + secret("COOKIE")),
         ("X-Amzn-Trace-Id", "Root=%s;Parent=%s;Sampled=1;Lineage=%s" % (ROOT, PARENT, junk))]))
    check(resp.startswith(b"HTTP/1.1 200") and b"downstream 500" in resp,
          "net_server: /call answered 'downstream 500' (sanity)", resp[:300])
    received(HTTPD.requests(m), "net_server downstream", 1, path="/preset/err500?token=" + q)
    r = server_run(srv, "net_server /call, downstream 500 with secret texts", 1)
    segs = serve_checks(r, [{"url": "http://%s/call" % hp, "status": 200, "trace_id": ROOT,
                             "parent_id": PARENT, "client_ip": "127.0.0.1"}])
    subs = H.flatten(segs)
    if check(len(subs) == 1, "%s: one downstream subsegment" % r.what, r.docs):
        s = subs[0]["sub"]
        check(H.get(s, "http", "request", "url") == HTTPD.base + "/preset/err500"
              and H.get(s, "http", "response", "status") == 500 and s.get("fault") is True,
              "%s: downstream subsegment url/status/fault" % r.what, s)
    srv.stop()
    r = C.parse(C.Run("net_server, after exit"), SINK.drain(), srv.stderr().encode())
    C.check_logged(r)
    C.check_absent(r, SECRETS)


# ---------------------------------------------------------------------------------------------
def t_search_self_check():
    """The search finds a secret in each re-encoding a leak could take (so that a clean run
    means something): inside Basic credentials at every base64 alignment, JSON-escaped next to
    a quote, URL-encoded, lower-cased, hex, cut short."""
    s = C.token("SELF")
    samples = [("Basic " + b64(u + ":" + s)).encode() for u in ("u", "us", "use")]
    samples += [base64.urlsafe_b64encode(("x:" + s).encode()),
                json.dumps({"k": '"' + s + '\\'}).encode(),
                urllib.parse.quote("/a?t=" + s, safe="").encode(), ("http://" + s.lower()).encode(),
                ("v=" + s.encode().hex()).encode(), ("cut=" + s[:-6]).encode()]
    for blob in samples:
        check(C.find(s, [blob])[0] == [0], "search self-check: %r not found in %r" % (s, blob))
    check(C.find(s, [C.token("SELF").encode(), b"CANARYSELF-"])[0] == [],
          "search self-check: another canary must not match")


def setup_presets():
    global SETCOOKIE
    err = [("Set-Cookie", "sid=%s; Path=/; HttpOnly" % secret("SETCOOKIE")),
           ("WWW-Authenticate", 'Bearer error="invalid_token", error_description="%s"'
            % secret("WWWAUTH")),
           ("X-Error-Detail", secret("HEADER")), ("Content-Type", "text/plain")]
    preset("err500", 500, "Internal " + secret("REASON"), err,
           "Traceback: password=%s at line 1" % secret("ERRBODY"))
    preset("err404", 404, "Gone " + secret("REASON"), err, "no such user " + secret("ERRBODY"))
    preset("auth401", 401, "Unauthorized " + secret("REASON"),
           [("WWW-Authenticate", 'Basic realm="canary"')], "who are you " + secret("ERRBODY"))
    SETCOOKIE = secret("SETCOOKIE")
    preset("setcookie", 200, None, [("Set-Cookie", "session=%s; Path=/" % SETCOOKIE)], "ok\n")


def main():
    global S, SINK, HTTPD, DEAD_PORT
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "canary")
    S.require_build("curl_client", "net_client", "net_server")
    if not H.which("curl"):
        H.skip("curl is not installed")
    SINK = C.Sink()
    HTTPD = S.start_httpd()
    DEAD_PORT = H.free_port()
    H.scenario("search self-check", t_search_self_check)
    H.scenario("presets", setup_presets)
    H.scenario("curl: credentials, query, headers", t_curl_credentials)
    H.scenario("curl: proxies", t_curl_proxies)
    H.scenario("curl: redirects and server error texts", t_curl_responses)
    H.scenario("curl: AWS", t_curl_aws)
    H.scenario("curl_client", t_curl_client)
    H.scenario("sockets client: urllib, http.client", t_python_clients)
    H.scenario("sockets client: net_client", t_net_client)
    H.scenario("sockets server: python3 -m http.server", t_http_server)
    H.scenario("sockets server: net_server", t_net_server)
    print("%d canaries" % len(SECRETS))
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
