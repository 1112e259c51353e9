#!/usr/bin/python3
"""Integration test: XRAY_AUTO_PLUGINS (ec2, ecs, eks, beanstalk) put where a segment ran into
every segment's `aws` object and `origin`, and the `service` block names the runtime.

The traced program is `<build>/plugins_probe N GAP_MS [fork-after K]` (segments through the C
API, each begin+end pair timed) under LD_PRELOAD. The AWS side is faked on loopback (the real
ones are AWS services): an ECS container metadata endpoint v4 (ECS_CONTAINER_METADATA_URI_V4,
`${uri}` and `${uri}/task`), an IMDSv2 endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT) that answers
the identity document only with the token of a `PUT /latest/api/token` carrying
X-aws-ec2-metadata-token-ttl-seconds (401 otherwise), one that never answers, one that answers
garbage; files under XRAY_AUTO_PLUGINS_ROOT (environment.conf, proc/self/cgroup or mountinfo).

  - all four: the segments after the answers carry aws.ec2 / ecs / eks / elastic_beanstalk field
    by field, origin AWS::ElasticBeanstalk::Environment, service.runtime "plugins_probe"; one
    token PUT and one document GET for the whole process; subsegments get nothing;
  - origin precedence: ecs+ec2 -> ECS; ec2 alone -> EC2; eks (cgroup v2 mountinfo) + ecs -> EKS;
  - a hanging IMDS: no begin/end pair takes more than 400 ms (the timeout is 1 s), the ECS
    block arrives anyway, and a one-segment run exits at once (the blocked thread does not
    hold the exit);
  - garbage, 404 and refused endpoints, hostile fixture files: no block, no origin, one info
    line per failed plugin naming it (XRAY_AUTO_LOG_LEVEL=info), the program unchanged;
  - no XRAY_AUTO_PLUGINS: the service block alone, and IMDS never asked (EC2 is opt-in);
  - fork: a child forked after the answers inherits them without asking again; a child forked
    while IMDS is still answering (each request 600 ms late) asks again and its later segments carry ec2;
  - XRAY_AUTO_PLUGINS="ecs,bogus": one log line naming the variable, ecs still in force.

Usage: test_plugins.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check, get  # noqa: E402

S = None
PROBE = None
HOSTNAME = socket.gethostname()
ID64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
ID64_V2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
TOKEN = "AQAEAGh0dHBzOi8vdGVzdC10b2tlbi0xMjM0NTY3ODk="

ECS_CONTAINER = {
    "DockerId": "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66",
    "Name": "web", "DockerName": "ecs-web-1-web-a1b2c3",
    "Labels": {"com.amazonaws.ecs.cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/prod",
               "com.amazonaws.ecs.task-arn":
                   "arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c",
               "com.amazonaws.ecs.task-definition-family": "web"},
    "ContainerARN": "arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6",
    "Networks": [{"NetworkMode": "awsvpc", "IPv4Addresses": ["10.0.2.106"]}],
}
ECS_TASK = {
    "Cluster": "arn:aws:ecs:us-west-2:111122223333:cluster/prod",
    "TaskARN": "arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c",
    "Family": "web", "Revision": "26", "LaunchType": "FARGATE",
    "AvailabilityZone": "us-west-2d", "Containers": [ECS_CONTAINER],
}
IDENTITY = {
    "accountId": "123456789012", "architecture": "x86_64", "availabilityZone": "us-east-1a",
    "imageId": "ami-0abcdef1234567890", "instanceId": "i-1234567890abcdef0",
    "instanceType": "t3.micro", "privateIp": "10.0.0.12", "region": "us-east-1",
}
BEANSTALK = {"deployment_id": 23, "version_label": "app-v7", "environment_name": "prod-env"}


class Fake:
    """A loopback HTTP server; behaviour(handler) answers each request, all are recorded."""

    def __init__(self, behaviour):
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with fake.lock:
                    fake.requests.append((self.command, self.path, dict(self.headers), body))
                behaviour(self)

            do_GET = do_PUT = do_POST = _any

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def seen(self):
        with self.lock:
            return list(self.requests)

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def reply(h, status, body, ctype="application/json"):
    data = body if isinstance(body, bytes) else body.encode()
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(data)))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(data)


def ecs_behaviour(h):
    if h.path == "/v4/abc":
        reply(h, 200, json.dumps(ECS_CONTAINER))
    elif h.path == "/v4/abc/task":
        reply(h, 200, json.dumps(ECS_TASK))
    else:
        reply(h, 404, "not found", "text/plain")


def imds_behaviour(delay=0.0, identity=None):
    def b(h):
        if delay:
            time.sleep(delay)
        if h.command == "PUT" and h.path == "/latest/api/token":
            if h.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                reply(h, 200, TOKEN, "text/plain")
            else:
                reply(h, 400, "missing ttl", "text/plain")
        elif h.command == "GET" and h.path == "/latest/dynamic/instance-identity/document":
            if h.headers.get("X-aws-ec2-metadata-token") == TOKEN:
                reply(h, 200, identity if identity is not None else json.dumps(IDENTITY, indent=2),
                      "text/plain")
            else:
                reply(h, 401, "", "text/plain")
        else:
            reply(h, 404, "", "text/plain")
    return b


def hang_behaviour(h):
    time.sleep(30)


def root_with(name, files):
    """A fixture root: {relative path: content}."""
    root = S.path(name)
    for rel, content in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(content)
    return root


BEANSTALK_FILE = "var/elasticbeanstalk/xray/environment.conf"
CGROUP_V1 = ("12:pids:/kubepods/besteffort/pod5e7a2/%s\n11:memory:/kubepods/besteffort/pod5e7a2/%s\n"
             % (ID64, ID64))
MOUNTINFO_V2 = ("736 702 0:61 / / rw,relatime - overlay overlay rw\n"
                "746 736 259:1 /var/lib/docker/containers/%s/hostname /etc/hostname rw - ext4 "
                "/dev/root rw\n" % ID64_V2)


def run(plugins, n, gap_ms, extra=None, fork_after=None, level=None, timeout=30):
    env = {"XRAY_AUTO_PLUGINS": plugins}
    if level:
        env["XRAY_AUTO_LOG_LEVEL"] = level
    env.update(extra or {})
    cmd = [PROBE, str(n), str(gap_ms)]
    nseg = n
    if fork_after is not None:
        cmd += ["fork-after", str(fork_after)]
        nseg = n + (n - fork_after - 1)
    res = S.run(cmd, env=env, expect_docs=nseg, timeout=timeout)
    check(res.returncode == 0, "plugins_probe exits 0", res.describe())
    return res


def by_name(res):
    return {d.get("name"): d for d in H.segments(res.docs)}


def check_service(seg, what):
    check(get(seg, "service", "runtime") == "plugins_probe",
          "%s: service.runtime is the executable's name" % what, seg)
    check(get(seg, "service", "runtime_version") is None,
          "%s: no runtime_version for a native program" % what, seg)


def check_ec2(seg, what):
    ec2 = get(seg, "aws", "ec2")
    check(ec2 == {"instance_id": "i-1234567890abcdef0", "availability_zone": "us-east-1a",
                  "instance_type": "t3.micro", "ami_id": "ami-0abcdef1234567890"},
          "%s: aws.ec2 field by field" % what, seg)


def check_ecs(seg, what):
    ecs = get(seg, "aws", "ecs")
    want = {"container": HOSTNAME, "container_id": ECS_CONTAINER["DockerId"],
            "container_arn": ECS_CONTAINER["ContainerARN"], "task_arn": ECS_TASK["TaskARN"],
            "task_family": "web", "cluster_arn": ECS_TASK["Cluster"],
            "launch_type": "FARGATE", "availability_zone": "us-west-2d"}
    check(ecs == want, "%s: aws.ecs field by field" % what, {"got": ecs, "want": want})


def ecs_env(fake):
    return {"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:%d/v4/abc" % fake.port}


def imds_env(fake):
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % fake.port}


def t_all_four():
    ecs, imds = Fake(ecs_behaviour), Fake(imds_behaviour())
    root = root_with("all", {BEANSTALK_FILE: json.dumps(BEANSTALK),
                             "proc/self/cgroup": CGROUP_V1})
    env = dict(ecs_env(ecs), **imds_env(imds))
    env["XRAY_AUTO_PLUGINS_ROOT"] = root
    res = run("ec2,ecs,eks,beanstalk", 4, 700, env)
    segs = by_name(res)
    check(len(segs) == 4, "4 segments", sorted(segs))
    last = segs.get("probe-3", {})
    check_ec2(last, "all four")
    check_ecs(last, "all four")
    check(get(last, "aws", "eks") == {"container_id": ID64, "pod": HOSTNAME},
          "all four: aws.eks container_id from cgroup v1, pod = hostname, no cluster_name",
          last)
    check(get(last, "aws", "elastic_beanstalk") == BEANSTALK,
          "all four: aws.elastic_beanstalk as the file gives it (deployment_id a number)", last)
    check(isinstance(get(last, "aws", "elastic_beanstalk", "deployment_id"), int),
          "all four: deployment_id is a JSON number", last)
    check(last.get("origin") == "AWS::ElasticBeanstalk::Environment",
          "all four: the most specific origin wins (Beanstalk)", last)
    check(get(last, "aws", "xray", "sdk") == "libxray-auto", "all four: aws.xray kept", last)
    check_service(last, "all four")
    for name, seg in segs.items():
        check_service(seg, name)
        for sub in seg.get("subsegments") or []:
            check("origin" not in sub and "service" not in sub, "subsegments get nothing", sub)
    reqs = imds.seen()
    check([(r[0], r[1]) for r in reqs] == [("PUT", "/latest/api/token"),
                                          ("GET", "/latest/dynamic/instance-identity/document")],
          "IMDSv2: one token PUT, then one document GET, for the whole process (cached)",
          [(r[0], r[1]) for r in reqs])
    if reqs:
        check(reqs[0][2].get("X-aws-ec2-metadata-token-ttl-seconds") == "60",
              "the PUT asks for a 60 s token", reqs[0][2])
    check(len([r for r in ecs.seen() if r[1] == "/v4/abc"]) == 1 and
          len([r for r in ecs.seen() if r[1] == "/v4/abc/task"]) == 1,
          "ECS: the container and the task document, once each", [r[1] for r in ecs.seen()])
    check(res.stderr == "", "no log line at the default level", res.stderr)
    ecs.stop()
    imds.stop()


def t_origin_precedence():
    ecs, imds = Fake(ecs_behaviour), Fake(imds_behaviour())
    env = dict(ecs_env(ecs), **imds_env(imds))
    env["XRAY_AUTO_PLUGINS_ROOT"] = root_with("prec", {"proc/self/cgroup": "0::/\n",
                                                       "proc/self/mountinfo": MOUNTINFO_V2})
    for plugins, origin, blocks in (("ecs,ec2", "AWS::ECS::Container", {"ecs", "ec2"}),
                                    ("ec2", "AWS::EC2::Instance", {"ec2"}),
                                    ("ecs,eks", "AWS::EKS::Container", {"ecs", "eks"})):
        res = run(plugins, 3, 600, env)
        last = by_name(res).get("probe-2", {})
        check(last.get("origin") == origin, "%s: origin %s" % (plugins, origin), last)
        check(set(get(last, "aws") or {}) - {"xray"} == blocks,
              "%s: aws holds %s" % (plugins, sorted(blocks)), get(last, "aws"))
        if "eks" in blocks:
            check(get(last, "aws", "eks", "container_id") == ID64_V2,
                  "eks: the container id from cgroup v2 mountinfo", get(last, "aws", "eks"))
    ecs.stop()
    imds.stop()


def t_hanging_imds():
    ecs, imds = Fake(ecs_behaviour), Fake(hang_behaviour)
    env = dict(ecs_env(ecs), **imds_env(imds))
    res = run("ec2,ecs", 6, 300, env)
    line = res.stdout.strip().split()
    worst = int(line[0].split("=")[1]) if line else 10 ** 9
    print("  slowest begin+end pair with IMDS hanging: %d us" % worst)
    check(worst < 400000, "no segment call waits for the 1 s metadata timeout (slowest pair %d us)"
          % worst)
    segs = by_name(res)
    last = segs.get("probe-5", {})
    check_ecs(last, "hanging IMDS")
    check(get(last, "aws", "ec2") is None, "hanging IMDS: no aws.ec2", last)
    check(last.get("origin") == "AWS::ECS::Container", "hanging IMDS: origin ECS", last)
    # one segment and out: the thread blocked in IMDS does not hold the exit
    res = run("ec2", 1, 0, imds_env(imds))
    dt = res.t1 - res.t0
    print("  one-segment run with IMDS hanging: %.3f s" % dt)
    check(dt < 0.9, "the process exits without waiting for IMDS (%.3f s)" % dt)
    check(get(by_name(res).get("probe-0", {}), "aws", "ec2") is None, "no ec2 block", res.docs)
    ecs.stop()
    imds.stop()


def t_failures():
    bad_ecs = Fake(lambda h: reply(h, 200, "<html>not json</html>", "text/html"))
    bad_imds = Fake(imds_behaviour(identity="{\"instanceId\": 12, garbage"))
    nf = Fake(lambda h: reply(h, 404, "no", "text/plain"))
    root = root_with("bad", {BEANSTALK_FILE: "deployment_id=23\n\x00\xff",
                             "proc/self/cgroup": "12:devices:/docker/%s0\n:::\n" % ID64,
                             "proc/self/mountinfo": "garbage /hostname\n"})
    cases = (("garbage", dict(ecs_env(bad_ecs), **imds_env(bad_imds))),
             ("404", dict(ecs_env(nf), **imds_env(nf))),
             ("refused", {"ECS_CONTAINER_METADATA_URI_V4": "http://127.0.0.1:%d/v4/abc"
                          % H.free_port(),
                          "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d"
                          % H.free_port()}))
    for what, env in cases:
        env["XRAY_AUTO_PLUGINS_ROOT"] = root
        base = S.run([PROBE, "3", "300"], preload=False)
        res = run("ec2,ecs,eks,beanstalk", 3, 300, env, level="info")
        last = by_name(res).get("probe-2", {})
        check(set(get(last, "aws") or {}) == {"xray"}, "%s: no plugin block" % what, last)
        check("origin" not in last, "%s: no origin" % what, last)
        check_service(last, what)
        lines = [ln for ln in res.stderr.splitlines() if "plugin " in ln]
        for p in ("ec2", "ecs", "eks", "beanstalk"):
            n = len([ln for ln in lines if ("plugin %s:" % p) in ln])
            check(n == 1, "%s: one info line for plugin %s (got %d)" % (what, p, n), res.stderr)
        check(res.returncode == base.returncode, "%s: the program's exit is unchanged" % what)
    for f in (bad_ecs, bad_imds, nf):
        f.stop()


def t_not_listed():
    imds = Fake(imds_behaviour())
    env = imds_env(imds)
    env["XRAY_AUTO_PLUGINS"] = None
    res = S.run([PROBE, "2", "500"], env=env, expect_docs=2)
    for name, seg in by_name(res).items():
        check(set(get(seg, "aws") or {}) == {"xray"}, "%s: aws.xray alone" % name, seg)
        check("origin" not in seg, "%s: no origin" % name, seg)
        check_service(seg, name)
    check(imds.seen() == [], "EC2 is opt-in: IMDS never asked", imds.seen())
    imds.stop()


def t_fork():
    imds = Fake(imds_behaviour())
    # after the answers: the child inherits them and asks nothing
    res = run("ec2", 4, 500, imds_env(imds), fork_after=1)
    segs = by_name(res)
    for name in ("child-2", "child-3", "probe-3"):
        check_ec2(segs.get(name, {}), "fork after the answer: %s" % name)
    puts = [r for r in imds.seen() if r[0] == "PUT"]
    check(len(puts) == 1, "fork after the answer: one token PUT in all (got %d)" % len(puts))
    imds.stop()
    # mid-fetch: IMDS answers each request 600 ms late; the child forked at once asks again
    slow = Fake(imds_behaviour(delay=0.6))
    res = run("ec2", 5, 800, imds_env(slow), fork_after=0)
    segs = by_name(res)
    check_ec2(segs.get("child-4", {}), "fork mid-fetch: the child's last segment")
    check_ec2(segs.get("probe-4", {}), "fork mid-fetch: the parent's last segment")
    puts = [r for r in slow.seen() if r[0] == "PUT"]
    check(len(puts) == 2, "fork mid-fetch: parent and child each ask (got %d PUTs)" % len(puts))
    slow.stop()


def t_malformed_list():
    ecs = Fake(ecs_behaviour)
    res = run("ecs,bogus", 3, 400, ecs_env(ecs))
    ours = [ln for ln in res.stderr.splitlines() if ln.startswith("libxray-auto[")]
    check(len(ours) == 1 and "XRAY_AUTO_PLUGINS" in ours[0] and "bogus" in ours[0],
          "one log line naming the variable and the word", res.stderr)
    check_ecs(by_name(res).get("probe-2", {}), "ecs,bogus: ecs kept")
    ecs.stop()


def main():
    global S, PROBE
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "plugins")
    S.require_build("plugins_probe")
    PROBE = os.path.join(S.build, "plugins_probe")
    for fn in (t_all_four, t_origin_precedence, t_hanging_imds, t_failures, t_not_listed,
               t_fork, t_malformed_list):
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
