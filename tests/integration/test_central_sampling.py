#!/usr/bin/python3
"""Integration test: centralized sampling (XRAY_AUTO_SAMPLING=centralized) through a fake daemon
TCP proxy, deciding which inbound requests of a preloaded Python HTTP server become segments.

The fake daemon (http.server on a loopback port, started here) serves POST /GetSamplingRules and
POST /SamplingTargets and records what the library posts; the program runs with
AWS_XRAY_DAEMON_ADDRESS="tcp:127.0.0.1:<fake> udp:127.0.0.1:<collector>".

  - rules, by priority: health (1, /health*, never), other-svc (2, /d/*, ServiceName
    not-this-*, never: the segment's name must be matched), hosty (3, Host special.example*,
    always), quota (5, /q/*, reservoir 1, rate 0), ttl (6, /t/*, reservoir 1, rate 0), Default
    (10000, rate 1). Before any target arrives: /health never (also with the Host of hosty: the
    priority decides), /d/ always as Default (other-svc does not apply), Host special.example
    always as hosty, /q/ and /t/ borrow one per wall-clock second;
  - targets (Interval 1 s): quota gets ReservoirQuota 3 with a long TTL and FixedRate 0 -> 3 per
    second, no more; ttl gets ReservoirQuota 5 whose TTL ends 3 s after the first target
    answer -> 5 per second while valid, then borrowing (1 per second) and FixedRate 0;
  - every sampled segment carries aws.xray.sampling_rule_name = its rule;
  - a rule change (health becomes health-v2, rate 1) is picked up at once when the targets'
    LastRuleModification says so;
  - the posted statistics (RequestCount, SampledCount + BorrowCount per rule) match the requests
    sent and the documents the collector received; ClientID is 24 hex digits;
  - the daemon's TCP address unreachable: every request served, local rules decide (the default
    rule: at least one sent), nothing logged at the default level, one warning line at warn;
  - exit: a program whose poller waits on a daemon that never answers exits at once;
  - fork: a server that forks after its first request (the poller started) serves on in the
    child, whose own poller fetches the rules again and reports with another ClientID;
  - the host's descriptors: a program that closes every descriptor it did not open while the
    poller waits on a silent daemon, and reuses the numbers at once, keeps its own sockets (the
    poller neither reads nor closes them); a child forked while the poller's request is in
    flight has no socket to the daemon;
  - service_type: with XRAY_AUTO_PLUGINS=beanstalk (environment.conf under
    XRAY_AUTO_PLUGINS_ROOT), once the plugins have published, a rule for ServiceType
    AWS::ElasticBeanstalk::Environment applies and one for AWS::EC2::Instance does not, though
    it comes first.

Usage: test_central_sampling.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import http.client
import http.server
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check, get  # noqa: E402

PY = H.PYTHON
HOST = "127.0.0.1"
SERVICE = "central-it"
S = None

SERVER = r"""
import http.server, os, socket, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
def to_daemon(port):
    # our descriptors that are TCP connections to port (the poller's, to the daemon)
    out = []
    for n in os.listdir("/proc/self/fd"):
        try:
            s = socket.socket(fileno=os.dup(int(n)))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.getpeername()[1] == port:
                out.append(int(n))
        except (OSError, IndexError, TypeError):
            pass
        finally:
            s.close()
    return out
def wait_poller(port):
    # until the poller's request to the silent daemon is in flight (it lasts 2 s)
    t = time.monotonic()
    while not to_daemon(port) and time.monotonic() - t < 10:
        time.sleep(0.01)
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print("PORT %d" % srv.server_address[1], flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "one":
    srv.handle_request()           # one decision (the poller starts), then exit
    sys.exit(0)
if len(sys.argv) > 1 and sys.argv[1] == "fork":
    srv.handle_request()           # a decision in the parent: its poller starts
    time.sleep(0.5)
    if os.fork() == 0:
        srv.serve_forever()        # the child serves from now on
    else:
        while True:
            time.sleep(1)
if len(sys.argv) > 1 and sys.argv[1] == "closer":
    # The poller (started by this request) waits on a silent daemon; meanwhile the program
    # closes every descriptor it did not open and reuses the numbers for its own sockets.
    srv.handle_request()
    wait_poller(int(sys.argv[2]))
    poller = to_daemon(int(sys.argv[2]))
    mine = {0, 1, 2, srv.fileno()}
    closed = [int(n) for n in os.listdir("/proc/self/fd") if int(n) not in mine]
    for n in closed:
        try:
            os.close(n)
        except OSError:
            pass
    pairs = [socket.socketpair() for _ in range(len(closed) + 2)]
    reused = sorted(set(closed) & {s.fileno() for p in pairs for s in p})
    time.sleep(3.0)                # past the poller's 2 s deadline
    bad = []
    for a, b in pairs:
        try:
            a.sendall(b"ping")
            b.settimeout(1)
            if b.recv(16) != b"ping":
                bad.append(a.fileno())
        except OSError as e:
            bad.append("%d/%d: %s" % (a.fileno(), b.fileno(), e))
    print("CLOSER poller=%r reused=%r bad=%r" % (poller, reused, bad), flush=True)
    srv.serve_forever()
if len(sys.argv) > 1 and sys.argv[1] == "forkfd":
    # A fork while the poller waits on a silent daemon: the child must not keep its socket.
    daemon_port = int(sys.argv[2])
    srv.handle_request()
    wait_poller(daemon_port)
    parent = to_daemon(daemon_port)
    pid = os.fork()
    if pid == 0:
        print("CHILD %r" % to_daemon(daemon_port), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("PARENT %r" % parent, flush=True)
    srv.serve_forever()
srv.serve_forever()
"""


def rule(name, prio, rate, reservoir, path="*", host="*", method="*", service="*",
         service_type="*"):
    return {"SamplingRule": {
        "RuleName": name, "RuleARN": "arn:aws:xray:us-east-1:1:sampling-rule/" + name,
        "ResourceARN": "*", "Priority": prio, "FixedRate": rate, "ReservoirSize": reservoir,
        "ServiceName": service, "ServiceType": service_type, "Host": host, "HTTPMethod": method,
        "URLPath": path, "Version": 1, "Attributes": {}},
        "CreatedAt": 1.7e9, "ModifiedAt": 1.7e9}


class FakeDaemon:
    """The daemon's TCP proxy: rules and targets from attributes, everything posted recorded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.targets = lambda: []          # -> list of target documents
        self.last_modification = 0
        self.rule_fetches = []             # (time, body)
        self.stats = []                    # posted SamplingStatisticsDocuments, flattened
        self.target_requests = 0
        self.bad = []
        daemon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                if self.headers.get("Content-Type") != "application/json":
                    daemon.bad.append("Content-Type %r" % self.headers.get("Content-Type"))
                with daemon.lock:
                    if self.path == "/GetSamplingRules":
                        daemon.rule_fetches.append((time.time(), body))
                        out = {"SamplingRuleRecords": list(daemon.rules), "NextToken": None}
                    elif self.path == "/SamplingTargets":
                        daemon.target_requests += 1
                        docs = (body or {}).get("SamplingStatisticsDocuments")
                        if not isinstance(docs, list):
                            daemon.bad.append("statistics body %r" % raw[:200])
                            docs = []
                        daemon.stats.extend(docs)
                        out = {"SamplingTargetDocuments": daemon.targets(),
                               "LastRuleModification": daemon.last_modification,
                               "UnprocessedStatistics": []}
                    else:
                        daemon.bad.append("path %s" % self.path)
                        out = {}
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, what, cond, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if cond():
                    return True
            time.sleep(0.05)
        check(False, "fake daemon: %s within %.0f s" % (what, timeout))
        return False

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def start(daemon_tcp, args=(), log_level=None, extra_env=None):
    """The preloaded server with a collector of its own; returns (server, collector)."""
    col = S.start_collector()
    env = {"LD_PRELOAD": S.lib, "XRAY_AUTO_SAMPLING": "centralized",
           "AWS_XRAY_DAEMON_ADDRESS": "tcp:127.0.0.1:%d udp:%s" % (daemon_tcp, col.address),
           "AWS_XRAY_TRACING_NAME": SERVICE, "PYTHONUNBUFFERED": "1"}
    env.update(extra_env or {})
    if log_level:
        env["XRAY_AUTO_LOG_LEVEL"] = log_level
    script = S.path("server.py")
    with open(script, "w") as f:
        f.write(SERVER)
    srv = H.PreloadedServer(S, [PY, script] + list(args), env=env, preload=False)
    return srv, col


def send(port, path, ua, host=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"User-Agent": ua}
    if host:
        headers["Host"] = host
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def burst(port, path, prefix, n, host=None):
    """n requests; returns the wall-clock seconds they spanned."""
    t0 = time.time()
    for i in range(n):
        check(send(port, path, "%s-%d" % (prefix, i), host) == 200, "%s: 200" % path)
    return int(time.time()) - int(t0) + 1


def docs_of(col):
    docs, bad = col.docs()
    check(not bad, "collector: only valid documents", bad)
    return docs


def agent(d):
    return str(get(d, "http", "request", "user_agent"))


def by_agent(docs, prefix):
    return [d for d in docs if agent(d).startswith(prefix + "-")]


def our_lines(srv):
    return [ln for ln in srv.stderr().splitlines() if ln.startswith("libxray-auto[")]


def t_rules_targets_statistics():
    fd = FakeDaemon()
    try:
        fd.rules = [rule("Default", 10000, 1.0, 0), rule("ttl", 6, 0.0, 1, path="/t/*"),
                    rule("quota", 5, 0.0, 1, path="/q/*"),
                    rule("hosty", 3, 1.0, 0, host="special.example*"),
                    rule("other-svc", 2, 0.0, 0, path="/d/*", service="not-this-*"),
                    rule("health", 1, 0.0, 0, path="/health*")]
        ttl_end = []

        def targets():
            now = time.time()
            if not ttl_end:
                ttl_end.append(int(now) + 3)
            return [{"RuleName": "quota", "FixedRate": 0.0, "ReservoirQuota": 3,
                     "ReservoirQuotaTTL": now + 600, "Interval": 1},
                    {"RuleName": "ttl", "FixedRate": 0.0, "ReservoirQuota": 5,
                     "ReservoirQuotaTTL": ttl_end[0], "Interval": 1},
                    {"RuleName": "Default", "FixedRate": 1.0, "Interval": 1}]
        fd.targets = targets
        srv, col = start(fd.port)
        p = srv.port
        send(p, "/warmup", "warm-0")       # the first decision starts the poller
        fd.wait("the first GetSamplingRules", lambda: fd.rule_fetches, 5)
        time.sleep(0.5)
        check(fd.rule_fetches and fd.rule_fetches[0][1] == {"NextToken": None},
              "GetSamplingRules body {\"NextToken\": null}", fd.rule_fetches[:1])
        # before any target
        burst(p, "/health", "health", 5)
        burst(p, "/health", "healthhost", 3, host="special.example:80")
        burst(p, "/d/x", "dflt", 5)
        burst(p, "/other", "hosty", 3, host="special.example:8080")
        sec_q0 = burst(p, "/q/x", "qborrow", 6)
        sec_t0 = burst(p, "/t/x", "tborrow", 6)
        # targets: the first report comes 10 s (+ up to 0.1 s) after the poller started
        fd.wait("the first SamplingTargets", lambda: fd.target_requests >= 1, 14)
        time.sleep(0.3)
        sec_q = burst(p, "/q/x", "quota", 12)
        sec_t = burst(p, "/t/x", "ttlq", 12)
        wait = ttl_end[0] + 1.2 - time.time() if ttl_end else 0
        if wait > 0:
            time.sleep(wait)
        sec_t2 = burst(p, "/t/x", "ttlexp", 8)
        # rule change: health-v2 replaces health; the next targets answer says so
        n_fetch = len(fd.rule_fetches)
        with fd.lock:
            fd.rules = [r for r in fd.rules if r["SamplingRule"]["RuleName"] != "health"]
            fd.rules.append(rule("health-v2", 1, 1.0, 0, path="/health*"))
            fd.last_modification = int(time.time()) + 1
        time.sleep(1.1)
        fd.wait("a GetSamplingRules after LastRuleModification",
                lambda: len(fd.rule_fetches) > n_fetch, 4)
        time.sleep(0.2)
        burst(p, "/health", "healthv2", 4)
        # the last statistics: the report after the last request
        fd.wait("the report of the last requests",
                lambda: sum(s.get("RequestCount", 0) for s in fd.stats
                            if s.get("RuleName") == "health-v2") >= 4, 5)
        time.sleep(0.3)
        docs = docs_of(col)
        srv.stop()

        def named(ds, name):
            return [d for d in ds if get(d, "aws", "xray", "sampling_rule_name") == name]

        check(not by_agent(docs, "health"), "/health (rule health: rate 0): never sent",
              by_agent(docs, "health"))
        check(not by_agent(docs, "healthhost"), "/health with Host special.example: health "
              "(priority 1) wins over hosty (3)", by_agent(docs, "healthhost"))
        dflt = by_agent(docs, "dflt")
        check(len(dflt) == 5 and len(named(dflt, "Default")) == 5, "/d/x: other-svc does not "
              "apply (ServiceName not-this-*): all 5 sent as Default, got %d (%d named)"
              % (len(dflt), len(named(dflt, "Default"))), dflt[:1])
        hosty = by_agent(docs, "hosty")
        check(len(hosty) == 3 and len(named(hosty, "hosty")) == 3, "Host special.example: "
              "all 3 sent as hosty, got %d" % len(hosty), hosty[:1])
        for prefix, sec, nm in (("qborrow", sec_q0, "quota"), ("tborrow", sec_t0, "ttl")):
            got = by_agent(docs, prefix)
            check(1 <= len(got) <= sec and len(named(got, nm)) == len(got),
                  "%s before any target: borrowing, 1 per second: %d over %d s"
                  % (nm, len(got), sec), got)
        got = by_agent(docs, "quota")
        check(3 <= len(got) <= 3 * sec_q and len(named(got, "quota")) == len(got),
              "quota 3/s, FixedRate 0: %d of 12 over %d s (3 per second, no more)"
              % (len(got), sec_q), got)
        got = by_agent(docs, "ttlq")
        check(5 <= len(got) <= 5 * sec_t, "ttl quota 5/s while its TTL holds: %d of 12 over "
              "%d s" % (len(got), sec_t), got)
        got = by_agent(docs, "ttlexp")
        check(1 <= len(got) <= sec_t2, "ttl after its TTL: borrowing 1 per second, then "
              "FixedRate 0: %d of 8 over %d s" % (len(got), sec_t2), got)
        got = by_agent(docs, "healthv2")
        check(len(got) == 4 and len(named(got, "health-v2")) == 4, "the changed rule "
              "health-v2 (rate 1) in force: 4 of 4 sent with its name, got %d" % len(got), got)
        # statistics against the collector
        stats = {}
        ids = set()
        for s in fd.stats:
            st = stats.setdefault(s.get("RuleName"), [0, 0, 0])
            st[0] += s.get("RequestCount", 0)
            st[1] += s.get("SampledCount", 0)
            st[2] += s.get("BorrowCount", 0)
            ids.add(s.get("ClientID"))
            check(isinstance(s.get("Timestamp"), (int, float)) and
                  abs(s["Timestamp"] - time.time()) < 120, "statistics Timestamp: epoch s", s)
        check(len(ids) == 1 and all(re.fullmatch(r"[0-9a-f]{24}", str(i)) for i in ids),
              "one ClientID of 24 hex digits: %r" % ids)
        sent = {"quota": 6 + 12, "ttl": 6 + 12 + 8, "hosty": 3, "health-v2": 4}
        for nm, n in sent.items():
            st = stats.get(nm, [0, 0, 0])
            check(st[0] == n, "statistics %s: RequestCount %d, requests sent %d"
                  % (nm, st[0], n), fd.stats)
        for nm in ("quota", "ttl", "hosty", "health-v2", "Default"):
            st = stats.get(nm, [0, 0, 0])
            got = len(named(docs, nm))
            check(st[1] + st[2] == got, "statistics %s: SampledCount %d + BorrowCount %d == %d "
                  "documents received" % (nm, st[1], st[2], got))
        check(stats.get("health", [0])[0] == 5 + 3, "statistics health: 8 requests, got %r"
              % stats.get("health"))
        check(not fd.bad, "fake daemon: well-formed requests", fd.bad)
        check(not our_lines(srv), "nothing logged at the default level", our_lines(srv))
    finally:
        fd.close()


def t_unreachable():
    port = H.free_port()
    for level in (None, "warn"):
        srv, col = start(port, log_level=level)
        t0 = time.monotonic()
        for i in range(5):
            check(send(srv.port, "/x", "down-%d" % i) == 200, "daemon down: request served")
        took = time.monotonic() - t0
        check(took < 3.0, "daemon down: 5 requests in %.1f s (no request waits on the poller)"
              % took)
        time.sleep(0.5)
        for i in range(5):
            send(srv.port, "/x", "down2-%d" % i)
        time.sleep(0.5)
        check(srv.alive(), "daemon down: the server runs on")
        docs = docs_of(col)
        srv.stop()
        got = by_agent(docs, "down") + by_agent(docs, "down2")
        check(1 <= len(got) < 10, "daemon down: local default rule (1/s + 5 %%): %d of 10 sent"
              % len(got), got)
        check(all(get(d, "aws", "xray", "sampling_rule_name") is None for d in got),
              "daemon down: no rule name", got)
        lines = our_lines(srv)
        if level is None:
            check(not lines, "daemon down: quiet at the default level", lines)
        else:
            check(len(lines) == 1 and "centralized sampling" in lines[0],
                  "daemon down, XRAY_AUTO_LOG_LEVEL=warn: exactly one line", lines)


def t_exit_not_delayed():
    sink = H.TcpSink(keep=False)       # accepts, reads, never answers: the poller waits
    srv, col = start(sink.port, args=["one"])
    send(srv.port, "/once", "once-0")
    t0 = time.monotonic()
    while srv.alive() and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    took = time.monotonic() - t0
    check(not srv.alive() and took < 1.0, "exit while the poller waits on a silent daemon: "
          "%.2f s (nothing joins it)" % took)
    rc = srv.stop()
    check(rc == 0, "exit status 0, got %r" % rc)
    check(not our_lines(srv), "nothing logged", our_lines(srv))
    sink.close()


EB_TYPE = "AWS::ElasticBeanstalk::Environment"


def t_service_type_is_origin():
    """XRAY_AUTO_PLUGINS=beanstalk: the sampling request's service_type is the plugins' origin
    (AWS::ElasticBeanstalk::Environment) once their thread has published it: a rule for
    AWS::EC2::Instance does not apply although it comes first, the Beanstalk one does."""
    fd = FakeDaemon()
    try:
        root = S.path("eb_root")
        conf = os.path.join(root, "var/elasticbeanstalk/xray/environment.conf")
        os.makedirs(os.path.dirname(conf), exist_ok=True)
        with open(conf, "w") as f:
            json.dump({"deployment_id": 3, "version_label": "v3",
                       "environment_name": "eb-env"}, f)
        fd.rules = [rule("Default", 10000, 0.0, 0),
                    rule("ec2-type", 1, 1.0, 0, path="/st/*", service_type="AWS::EC2::Instance"),
                    rule("eb-type", 2, 1.0, 0, path="/st/*", service_type=EB_TYPE)]
        srv, col = start(fd.port, extra_env={"XRAY_AUTO_PLUGINS": "beanstalk",
                                             "XRAY_AUTO_PLUGINS_ROOT": root})
        send(srv.port, "/warmup", "stwarm-0")
        fd.wait("the first GetSamplingRules", lambda: fd.rule_fetches, 5)
        time.sleep(0.3)
        # The first decisions may precede the plugins' publication (service_type absent then
        # matches any pattern): send until one is sampled by eb-type.
        deadline = time.monotonic() + 10
        first = None
        i = 0
        while first is None and time.monotonic() < deadline:
            send(srv.port, "/st/x", "stwait-%d" % i)
            i += 1
            time.sleep(0.1)
            for d in docs_of(col):
                if get(d, "aws", "xray", "sampling_rule_name") == "eb-type":
                    first = d
        check(first is not None, "a request sampled by the Beanstalk rule within 10 s")
        for i in range(6):
            send(srv.port, "/st/x", "stafter-%d" % i)
        time.sleep(0.5)
        docs = docs_of(col)
        srv.stop()
        after = by_agent(docs, "stafter")
        names = sorted({str(get(d, "aws", "xray", "sampling_rule_name")) for d in after})
        check(len(after) == 6 and names == ["eb-type"], "after publication: all 6 sampled by "
              "eb-type (ServiceType %s), none by ec2-type (priority 1), got %d named %r"
              % (EB_TYPE, len(after), names), after[:1])
        check(all(d.get("origin") == EB_TYPE for d in after), "the segments' origin is %s"
              % EB_TYPE, after[:1])
    finally:
        fd.close()


def wait_line(srv, prefix, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ln in srv.stdout().splitlines():
            if ln.startswith(prefix):
                return ln
        time.sleep(0.05)
    check(False, "a %s line within %.0f s" % (prefix, timeout), srv.stdout())
    return ""


def t_host_closes_our_socket():
    """The program closes every descriptor it did not open while the poller waits on a
    daemon that never answers, and reuses the numbers at once: the poller never touches them
    (it used to close the program's socket at its deadline)."""
    sink = H.TcpSink(keep=False)
    srv, col = start(sink.port, args=["closer", str(sink.port)])
    send(srv.port, "/once", "closer-0")
    ln = wait_line(srv, "CLOSER ", 15)
    m = re.match(r"CLOSER poller=(\[.*\]) reused=(\[.*\]) bad=(\[.*\])$", ln)
    poller, reused = (json.loads(m.group(1)), json.loads(m.group(2))) if m else ([], [])
    check(poller and set(poller) <= set(reused), "the poller's socket was in flight, closed "
          "by the program and its number reused: %s" % ln)
    check(m and m.group(3) == "[]", "the program's sockets on the reused numbers still work "
          "after the poller's deadline: %s" % ln, srv.stderr())
    check(srv.alive(), "the server runs on")
    check(send(srv.port, "/after", "closer-1") == 200, "served after")
    srv.stop()
    sink.close()


def t_fork_child_fd():
    """A fork while the poller's request is in flight: the child does not inherit the
    poller's socket for its whole life (the parent has it)."""
    sink = H.TcpSink(keep=False)
    srv, col = start(sink.port, args=["forkfd", str(sink.port)])
    send(srv.port, "/once", "forkfd-0")
    parent = wait_line(srv, "PARENT ", 15)
    child = wait_line(srv, "CHILD ", 2)
    check(parent != "PARENT []", "the parent had the poller's socket at the fork: %s" % parent)
    check(child == "CHILD []", "the fork child has no socket to the daemon: %s" % child)
    srv.stop()
    sink.close()


def t_fork():
    fd = FakeDaemon()
    try:
        fd.rules = [rule("Default", 10000, 1.0, 0)]
        srv, col = start(fd.port, args=["fork"])
        send(srv.port, "/parent", "parent-0")
        fd.wait("the parent's GetSamplingRules", lambda: len(fd.rule_fetches) >= 1, 5)
        time.sleep(1.0)
        for i in range(3):
            send(srv.port, "/child", "child-%d" % i)
        ok = fd.wait("the child's own GetSamplingRules", lambda: len(fd.rule_fetches) >= 2, 5)
        time.sleep(0.5)
        docs = docs_of(col)
        srv.stop()
        got = by_agent(docs, "child")
        check(len(got) == 3 and all(get(d, "aws", "xray", "sampling_rule_name") == "Default"
                                    for d in got),
              "fork child: its requests sampled by the daemon's Default rule", got)
        check(ok and len(fd.rule_fetches) == 2, "fork: exactly one fetch each from parent and "
              "child, got %d" % len(fd.rule_fetches))
        check(not our_lines(srv), "fork: nothing logged", our_lines(srv))
    finally:
        fd.close()


def main():
    global S
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "central_sampling")
    S.require_build()
    for fn in (t_rules_targets_statistics, t_unreachable, t_exit_not_delayed, t_fork,
               t_host_closes_our_socket, t_fork_child_fd, t_service_type_is_origin):
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
