#!/usr/bin/python3
"""Integration test: examples/Dockerfile and examples/ecs-task-definition.json, without docker.

There is no Docker daemon here, so the final image is reproduced in private namespaces:
the script re-runs itself under `unshare --mount --net` (as root), builds the .deb with cpack
into its temp directory, extracts it, and mounts an overlay over /usr whose upper layer is
the extracted package, which puts the library at exactly the absolute path the Dockerfile's
`ENV LD_PRELOAD` names; the host's /usr is not touched (checked through /proc/1/root).  The
private network namespace has its own loopback, where the collector can be the task
definition's `xray-daemon:2000` (an /etc/hosts entry, as a bridge-mode link writes one).

Scenarios:
  - the Dockerfile: a build stage running cmake + cpack, a final stage installing the .deb,
    `ENV LD_PRELOAD=<absolute path>` after that install, EXPOSE/CMD;
  - the task definition: it parses; an application container and the X-Ray daemon sidecar;
    AWS_XRAY_DAEMON_ADDRESS points at the daemon (a link in bridge mode, localhost in
    awsvpc mode) on a UDP port the daemon maps, the application's port is the EXPOSEd one;
  - the package: the file at the preload path, Depends satisfied by what is installed here
    (what apt-get resolves in the final stage);
  - ordinary commands with the image's environment (sh -c true, ls, cat, sed, pipelines, exit
    statuses, python3 and its child, curl to the harness's httpd): stdout, stderr and exit
    status identical with and without the library, every process maps the library, and the
    curl call gives one document at the collector (AWS_XRAY_DAEMON_ADDRESS overridden to it);
  - the same commands with the image's environment as it is (xray-daemon does not resolve:
    an image run without its sidecar): same output as without the library;
  - the task definition's wiring: the image's CMD started with the Dockerfile's ENV plus the
    application container's environment and the link; a request to it gives a segment named
    by the task definition, received on the daemon's address.

Usage: test_container.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: not root, or namespaces,
                                       overlayfs or curl not available)
"""

import atexit
import fcntl
import json
import os
import re
import shlex
import socket
import struct
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

TOP = os.path.dirname(os.path.dirname(HERE))
DOCKERFILE = os.path.join(TOP, "examples", "Dockerfile")
TASKDEF = os.path.join(TOP, "examples", "ecs-task-definition.json")
# debian:12's own ENV (docker inspect debian:12): the only variable the base image sets.
BASE_IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
NS_MARK = "XRAY_IT_CONTAINER_NS"
DIAG = re.compile(r"^libxray-auto\[\d+\]: ")
DAEMON_IMAGE = re.compile(r"^(public\.ecr\.aws/xray/aws-xray-daemon|amazon/aws-xray-daemon)"
                          r"([:@].*)?$")

S = None
IMG = {}        # what the Dockerfile's final stage says: env, cmd, expose, preload
DEB = {}        # the package built by cpack: path, root (extracted), fields
TASK = {}       # the task definition's application container: env, daemon host/port


# ---------------------------------------------------------------------------------------------
# the Dockerfile
# ---------------------------------------------------------------------------------------------
def dockerfile_instructions(text):
    """[(KEYWORD, arguments)]: comments and blank lines dropped, continuations joined."""
    out, cur = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") or (not s and cur is None):
            continue  # a comment line inside a continuation is dropped by docker as well
        cur = (cur + " " if cur is not None else "") + s
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        parts = cur.split(None, 1)
        out.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
        cur = None
    return out


def parse_env(args):
    """ENV k=v [k=v ...] (quoted values allowed) or the legacy ENV k v."""
    toks = shlex.split(args)
    if toks and "=" not in toks[0]:
        return {toks[0]: args.split(None, 1)[1].strip()}
    env = {}
    for t in toks:
        k, sep, v = t.partition("=")
        if not sep:
            raise ValueError("ENV %r: expected key=value" % args)
        env[k] = v
    return env


def t_dockerfile():
    with open(DOCKERFILE) as f:
        instrs = dockerfile_instructions(f.read())
    froms = [i for i, (k, _) in enumerate(instrs) if k == "FROM"]
    if not check(len(froms) >= 2, "Dockerfile: expected a build stage and a final stage "
                 "(%d FROM lines)" % len(froms), instrs):
        return
    build = instrs[froms[-2] + 1:froms[-1]]
    final_from = instrs[froms[-1]][1]
    final = instrs[froms[-1] + 1:]
    stage = instrs[froms[-2]][1].split()
    stage_name = stage[2] if len(stage) == 3 and stage[1].upper() == "AS" else None
    check(stage_name is not None, "Dockerfile: the build stage needs a name (FROM ... AS build)",
          instrs[froms[-2]])
    check(final_from.split()[0] == "debian:12",
          "Dockerfile: final stage FROM %r, expected debian:12 (this host's release, which the "
          "test reproduces)" % final_from)
    with open("/etc/os-release") as f:
        osr = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    check(osr.get("ID") == "debian" and osr.get("VERSION_ID", "").strip('"') == "12",
          "this host is not Debian 12 (%s %s): the reproduction of a debian:12 image is not "
          "faithful" % (osr.get("ID"), osr.get("VERSION_ID")))
    runs = " ".join(a for k, a in build if k == "RUN")
    check("cmake -S" in runs and "cmake --build" in runs and ("cpack" in runs or "deb" in runs),
          "Dockerfile: the build stage must configure, build and package (cmake, cpack / the "
          "deb target)", runs)

    env = dict(BASE_IMAGE_ENV)
    install_at = None
    preload_at = None
    for idx, (k, a) in enumerate(final):
        if k == "ENV":
            try:
                kv = parse_env(a)
            except ValueError as e:
                check(False, "Dockerfile: %s" % e)
                continue
            for key, v in kv.items():
                check("$" not in v, "Dockerfile: ENV %s=%s uses a substitution this test does "
                      "not reproduce" % (key, v))
                env[key] = v
                if key == "LD_PRELOAD" and preload_at is None:
                    preload_at = idx
        elif k == "COPY" and "--from=" in a:
            check(stage_name is not None and "--from=%s" % stage_name in a and ".deb" in a,
                  "Dockerfile: the final stage copies the .deb from the build stage", a)
        elif k == "RUN" and ".deb" in a and ("apt-get install" in a or "dpkg -i" in a):
            install_at = idx if install_at is None else install_at
        elif k == "EXPOSE":
            IMG["expose"] = int(a.split()[0].split("/")[0])
        elif k == "CMD":
            try:
                IMG["cmd"] = json.loads(a)
            except ValueError:
                check(False, "Dockerfile: CMD must be in JSON (exec) form", a)
    preload = env.get("LD_PRELOAD")
    check(install_at is not None, "Dockerfile: the final stage must install the .deb (RUN "
          "apt-get install /tmp/....deb or dpkg -i)", final)
    if not check(preload is not None, "Dockerfile: no ENV LD_PRELOAD in the final stage", final):
        return
    check(os.path.isabs(preload) and " " not in preload and ":" not in preload,
          "Dockerfile: LD_PRELOAD=%r must be one absolute path (children resolve a bare name "
          "through the search rules and a relative one against their own cwd)" % preload)
    check(install_at is None or preload_at > install_at,
          "Dockerfile: ENV LD_PRELOAD must come after the RUN that installs the library "
          "(otherwise every process of that RUN warns that it cannot be preloaded)")
    check("AWS_XRAY_DAEMON_ADDRESS" in env, "Dockerfile: the image should name the daemon "
          "(ENV AWS_XRAY_DAEMON_ADDRESS)", env)
    check("cmd" in IMG and "expose" in IMG, "Dockerfile: needs EXPOSE and CMD", final)
    IMG["env"] = env
    IMG["preload"] = preload
    print("image: LD_PRELOAD=%s, env %s, CMD %s" % (preload, sorted(env), IMG.get("cmd")))


# ---------------------------------------------------------------------------------------------
# the ECS task definition
# ---------------------------------------------------------------------------------------------
def t_taskdef():
    with open(TASKDEF) as f:
        td = json.load(f)  # a parse error fails the scenario
    mode = td.get("networkMode")
    check(mode in ("bridge", "awsvpc"), "task definition: networkMode %r, expected bridge "
          "(links) or awsvpc (localhost)" % mode, td)
    conts = td.get("containerDefinitions") or []
    names = [c.get("name") for c in conts]
    check(len(set(names)) == len(names) and all(names), "task definition: containers need "
          "distinct names", names)
    daemons = [c for c in conts if DAEMON_IMAGE.match(c.get("image", ""))]
    apps = [c for c in conts if c not in daemons]
    if not (check(len(daemons) == 1, "task definition: expected one X-Ray daemon container "
                  "(public.ecr.aws/xray/aws-xray-daemon or amazon/aws-xray-daemon)", conts)
            and check(len(apps) >= 1, "task definition: no application container", conts)):
        return
    daemon, app = daemons[0], apps[0]
    check(app.get("essential") is True, "task definition: the application container should be "
          "essential", app)
    udp_ports = [p.get("containerPort") for p in daemon.get("portMappings") or []
                 if p.get("protocol") == "udp"]
    check(udp_ports, "task definition: the daemon maps no UDP port", daemon)
    env = {}
    for e in app.get("environment") or []:
        env[e["name"]] = e["value"]
    addr = env.get("AWS_XRAY_DAEMON_ADDRESS")
    if not check(addr is not None and re.match(r"^[A-Za-z0-9.-]+:\d+$", addr),
                 "task definition: the application container must set AWS_XRAY_DAEMON_ADDRESS "
                 "to host:port (got %r)" % addr, app):
        return
    host, port = addr.rsplit(":", 1)
    check(int(port) in udp_ports, "task definition: AWS_XRAY_DAEMON_ADDRESS port %s is not a "
          "UDP port of the daemon container %s" % (port, udp_ports), td)
    if mode == "bridge":
        aliases = {}
        for link in app.get("links") or []:
            name, _, alias = link.partition(":")
            aliases[alias or name] = name
        check(aliases.get(host) == daemon.get("name"), "task definition (bridge): %s must be "
              "a link to the daemon container %r (links: %s)"
              % (host, daemon.get("name"), app.get("links")), app)
    else:
        check(host in ("127.0.0.1", "localhost"), "task definition (awsvpc): the containers "
              "share localhost; AWS_XRAY_DAEMON_ADDRESS host %r" % host, app)
    ports = [p.get("containerPort") for p in app.get("portMappings") or []]
    if "expose" in IMG:
        check(IMG["expose"] in ports, "task definition: the application container does not map "
              "the image's port %s (%s)" % (IMG["expose"], ports), app)
    TASK.update(env=env, host=host, port=int(port), app=app.get("name"))
    print("task definition: %s -> %s (%s mode)" % (app.get("name"), addr, mode))


# ---------------------------------------------------------------------------------------------
# the package
# ---------------------------------------------------------------------------------------------
def dpkg_fields(deb):
    out = subprocess.run(["dpkg-deb", "-f", deb], stdout=subprocess.PIPE, check=True).stdout
    fields, key = {}, None
    for line in out.decode().splitlines():
        if line.startswith(" ") and key:
            fields[key] += "\n" + line
        else:
            key, _, v = line.partition(":")
            fields[key] = v.strip()
    return fields


def depends_satisfied(depends):
    """Each `pkg (op version)` of a Depends line against what dpkg has installed here."""
    for dep in [d.strip() for d in depends.split(",") if d.strip()]:
        m = re.match(r"^([a-z0-9.+-]+)(?::\w+)?\s*(?:\((<<|<=|=|>=|>>)\s*([^)]+)\))?$", dep)
        if not check(m is not None, "package: cannot read dependency %r" % dep):
            continue
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", m.group(1)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        have = q.stdout.decode().strip()
        if not check(q.returncode == 0 and have, "package: dependency %s is not installed here: "
                     "the final stage's apt-get would install it, this reproduction cannot"
                     % m.group(1)):
            continue
        if m.group(2):
            ops = {"<<": "lt", "<=": "le", "=": "eq", ">=": "ge", ">>": "gt"}
            ok = subprocess.run(["dpkg", "--compare-versions", have, ops[m.group(2)],
                                 m.group(3).strip()]).returncode == 0
            check(ok, "package: %s %s installed, the package needs %s" % (m.group(1), have, dep))


def t_package():
    cfg = os.path.join(S.build, "CPackConfig.cmake")
    if not check(os.path.exists(cfg), "no %s (the build was configured without "
                 "cmake/packaging.cmake?)" % cfg):
        return
    out = S.path("deb")
    p = subprocess.run(["cpack", "-G", "DEB", "--config", cfg, "-B", out],
                       cwd=S.build, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=S.base_env(), timeout=150)
    debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
    if not check(p.returncode == 0 and len(debs) == 1, "cpack -G DEB failed (exit %d)"
                 % p.returncode, p.stdout.decode(errors="replace")[-3000:]):
        return
    deb = os.path.join(out, debs[0])
    fields = dpkg_fields(deb)
    check(fields.get("Package") == "libxray-auto", "package name %r" % fields.get("Package"),
          fields)
    depends_satisfied(fields.get("Depends", ""))
    root = S.path("image-root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    if not check(os.path.isfile(root + IMG["preload"]), "the package has no file at the "
                 "Dockerfile's LD_PRELOAD path %s" % IMG["preload"],
                 subprocess.run(["dpkg-deb", "-c", deb], stdout=subprocess.PIPE).stdout.decode()):
        return
    DEB.update(path=deb, root=root, fields=fields)


# ---------------------------------------------------------------------------------------------
# the namespaces: overlay over /usr, loopback, /etc/hosts
# ---------------------------------------------------------------------------------------------
def mount(*args):
    p = subprocess.run(["mount"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode(errors="replace").strip()


def loopback_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))  # SIOCGIFFLAGS
        flags = struct.unpack("16sH22x", ifr)[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 0x1))  # SIOCSIFFLAGS, UP
    finally:
        s.close()


def setup_image_layout():
    """Returns None when done, else the reason it is not possible here (a skip)."""
    preload = IMG["preload"]
    on_host_before = os.path.exists(preload)
    loopback_up()
    rc, out = mount("-t", "overlay", "overlay", "-o",
                    "lowerdir=%s:/usr" % os.path.join(DEB["root"], "usr"), "/usr")
    if rc != 0:
        return "cannot mount an overlay over /usr in a private mount namespace: %s" % out
    # before Session.close (atexit runs in reverse) removes the lower layer's directory
    atexit.register(subprocess.run, ["umount", "-l", "/usr"], stderr=subprocess.DEVNULL)
    check(os.path.isfile(preload), "after the overlay, %s does not exist" % preload)
    with open(preload, "rb") as a, open(DEB["root"] + preload, "rb") as b:
        check(a.read() == b.read(), "%s is not the packaged file" % preload)
    host_view = "/proc/1/root" + preload
    if os.path.exists("/proc/1/root/usr") and not on_host_before:
        check(not os.path.exists(host_view), "the host's %s exists: the test must not touch "
              "the host's /usr" % preload)
    return None


def bind_hosts(extra):
    path = S.path("hosts")
    with open("/etc/hosts") as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n" + extra)
    rc, out = mount("--bind", path, "/etc/hosts")
    if rc == 0:
        atexit.register(subprocess.run, ["umount", "-l", "/etc/hosts"], stderr=subprocess.DEVNULL)
    return check(rc == 0, "bind-mounting a hosts file over /etc/hosts: %s" % out)


# ---------------------------------------------------------------------------------------------
# running processes of the image
# ---------------------------------------------------------------------------------------------
SCRIPT = r'''sh -c true; echo "sh -c true: $?"
ls /; echo "ls /: $?"
ls -ld /usr/lib; echo "ls -ld: $?"
ls /nonexistent-xray-auto; echo "ls missing: $?"
cat /etc/os-release | sed -n 's/^VERSION_ID=//p'
seq 1 5000 | sort -rn | head -n 3 | tr '\n' ' '; echo "pipeline: $?"
printf 'alpha\nbeta\ngamma\n' | grep -n a | sed 's/:/ = /'
sh -c 'echo to-stderr >&2; exit 7'; echo "exit 7: $?"
python3 -c 'import json, sys; print(json.dumps({"argv": sys.argv[1:], "sum": sum(range(100))}))' a b
python3 -c 'import subprocess; print("child", subprocess.run(["sh", "-c", "echo from-child; exit 5"]).returncode)'
curl -s -S -w ' %{http_code}\n' "$XR_URL/ok"; echo "curl: $?"
'''

# Prints, for each kind of process, whether the library is mapped in it (exact path).
MAPS_SCRIPT = r'''grep -qF "$XR_LIB" /proc/$$/maps && echo "sh yes" || echo "sh no"
cat /proc/self/maps | grep -qF "$XR_LIB" && echo "cat yes" || echo "cat no"
sed -n "\|$XR_LIB|p" /proc/self/maps | grep -q . && echo "sed yes" || echo "sed no"
python3 -c 'import sys; print("python3", "yes" if sys.argv[1] in open("/proc/self/maps").read() else "no")' "$XR_LIB"
python3 -c 'import subprocess, sys; subprocess.run(["sh", "-c", "grep -qF \"$0\" /proc/$$/maps && echo child yes || echo child no", sys.argv[1]])' "$XR_LIB"
curl -s file:///proc/self/maps | grep -qF "$XR_LIB" && echo "curl yes" || echo "curl no"
'''
MAPS_KINDS = ("sh", "cat", "sed", "python3", "child", "curl")


def image_run(cmd, env, preload, httpd=None, collector=None, expect_docs=0, cwd=None):
    """Runs cmd with the image's environment (+ env), with or without LD_PRELOAD."""
    e = dict(IMG["env"])
    e.update(env)
    if not preload:
        e["LD_PRELOAD"] = None
    res = S.run(cmd, env=e, preload=False, httpd=httpd, cwd=cwd)
    res.preload = preload
    if collector is not None:
        if expect_docs:
            collector.wait_lines(expect_docs, S.doc_timeout)
            time.sleep(0.3)
        else:
            time.sleep(0.5)
        res.collector_rc = collector.stop()
        res.raw = collector.raw()
        res.docs, res.bad_lines = collector.docs()
        res.records = H.flatten(res.docs)
        for line in res.bad_lines:
            check(False, "collector JSONL line is not a valid document", line)
    return res


def same_output(res, base, what):
    check(res.returncode == base.returncode, "%s: exit %s with the library, %s without"
          % (what, res.returncode, base.returncode), {"with": res.describe(),
                                                      "without": base.describe()})
    check(res.stdout == base.stdout, "%s: stdout differs with the library" % what,
          {"with": res.stdout[-3000:], "without": base.stdout[-3000:]})
    check(res.stderr == base.stderr, "%s: stderr differs with the library" % what,
          {"with": res.stderr[-3000:], "without": base.stderr[-3000:]})


def check_baseline(base, what):
    """The script did what it says without the library (so that equality means something)."""
    for line in ("sh -c true: 0", "ls /: 0", "ls missing: 2", "pipeline: 0", "exit 7: 7",
                 "child 5", "ok\n 200", "curl: 0", "5000 4999 4998"):
        check(line in base.stdout, "%s: the run without the library lacks %r" % (what, line),
              base.describe())
    check("to-stderr" in base.stderr and "nonexistent-xray-auto" in base.stderr,
          "%s: the run without the library lacks its stderr lines" % what, base.describe())


def t_commands():
    srv = S.start_httpd()
    script = S.path("commands.sh")
    with open(script, "w") as f:
        f.write(SCRIPT)
    env = {"XR_URL": srv.base}
    base = image_run(["sh", script], env, preload=False, httpd=srv)
    check_baseline(base, "commands")
    check(all(r["trace_header_count"] == 0 for r in base.requests),
          "commands without the library: a trace header arrived", base.requests)
    col = S.start_collector()
    env["AWS_XRAY_DAEMON_ADDRESS"] = col.address
    res = image_run(["sh", script], env, preload=True, httpd=srv, collector=col, expect_docs=1)
    same_output(res, base, "commands (daemon address: the collector)")
    check(len(res.requests) == 1, "commands: %d requests reached httpd, expected the one curl "
          "call" % len(res.requests), res.requests)
    name = IMG["env"].get("AWS_XRAY_TRACING_NAME", "curl")
    H.verify_transfers(res, program=name, url_prefix=srv.base, label="commands: curl")


def t_every_process_maps_it():
    script = S.path("maps.sh")
    with open(script, "w") as f:
        f.write(MAPS_SCRIPT)
    env = {"XR_LIB": IMG["preload"]}
    for preload in (False, True):
        col = S.start_collector() if preload else None
        if col:
            env["AWS_XRAY_DAEMON_ADDRESS"] = col.address
        res = image_run(["sh", script], env, preload=preload, collector=col)
        want = "yes" if preload else "no"
        what = "with" if preload else "without"
        check(res.returncode == 0 and res.stderr == "", "maps script %s the library: exit %s"
              % (what, res.returncode), res.describe())
        for kind in MAPS_KINDS:
            check("%s %s\n" % (kind, want) in res.stdout, "%s the library: %s %s %s mapped"
                  % (what, kind, "does not have" if preload else "has", IMG["preload"]),
                  res.describe())
        if preload:
            # curl's file:// transfer is not HTTP: never traced (README)
            check(len(res.docs) == 0, "maps script: no HTTP call (curl file://), yet %d "
                  "documents" % len(res.docs), res.docs)


def t_image_env_as_is():
    """The image's own AWS_XRAY_DAEMON_ADDRESS (xray-daemon:2000) does not resolve here: an
    image started without its sidecar.  Nothing may change for the programs."""
    srv = S.start_httpd()
    script = S.path("commands.sh")
    env = {"XR_URL": srv.base}
    base = image_run(["sh", script], env, preload=False, httpd=srv)
    res = image_run(["sh", script], env, preload=True, httpd=srv)
    check_baseline(base, "image env as is")
    what = "image env as is (daemon %s unresolvable)" % IMG["env"].get("AWS_XRAY_DAEMON_ADDRESS")
    # The library's diagnostic (XRAY_AUTO_LOG_LEVEL=error, the default) about the unresolvable
    # daemon is the one difference allowed: one line, from the one traced process (curl).
    ours = [ln for ln in res.stderr.splitlines(True) if DIAG.match(ln)]
    rest = "".join(ln for ln in res.stderr.splitlines(True) if not DIAG.match(ln))
    for ln in ours:
        print("note: %s: the library logged %r" % (what, ln.rstrip("\n")))
    check(len(ours) <= 1, "%s: %d diagnostic lines, expected at most one (the curl process)"
          % (what, len(ours)), res.stderr)
    res.stderr = rest
    same_output(res, base, what)


class DaemonCollector(H.Collector):
    """The harness's collector on a fixed address (the task definition's daemon port)."""

    def __init__(self, session, listen, timeout=10.0):
        self.session = session
        n = len(session.procs)
        self.jsonl = session.path("daemon-%d.jsonl" % n)
        self.err_path = session.path("daemon-%d.stderr" % n)
        self.errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [session.tool, "collect", "--listen", listen, "--jsonl", self.jsonl, "--quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.errf,
            env=session.base_env(), preexec_fn=H._die_with_parent)
        session.procs.append(self)
        self.returncode = None
        self.address = listen
        deadline = time.monotonic() + timeout
        while not self.LISTEN_RE.search(H._read(self.err_path)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise H.HarnessError("collector on %s did not start: %s"
                                     % (listen, H._read(self.err_path)))
            time.sleep(0.02)


def wait_port(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def t_task_wiring():
    """The image's CMD with the Dockerfile's ENV + the application container's environment,
    the daemon reached as the task definition names it (the link: an /etc/hosts entry)."""
    if not TASK or "cmd" not in IMG:
        check(False, "task wiring: the task definition or the Dockerfile scenario failed")
        return
    host = TASK["host"]
    if host not in ("127.0.0.1", "localhost"):
        # what docker writes for a link: the linked container's address and its alias
        if not bind_hosts("127.0.0.1\t%s\n" % host):
            return
    col = DaemonCollector(S, "127.0.0.1:%d" % TASK["port"])
    www = S.path("www")
    os.mkdir(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<p>xray-auto example</p>\n")
    env = S.base_env()
    env.update(IMG["env"])
    env.update(TASK["env"])
    errf = open(S.path("app.stderr"), "wb")
    t0 = time.time()
    app = subprocess.Popen(IMG["cmd"], cwd=www, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=errf, start_new_session=True,
                           preexec_fn=H._die_with_parent)
    try:
        if not check(wait_port(IMG["expose"], app), "the image's CMD %s did not listen on port "
                     "%d (exit %s): %s" % (IMG["cmd"], IMG["expose"], app.poll(),
                                           H._read(S.path("app.stderr"))[-2000:])):
            return
        with urllib.request.urlopen("http://127.0.0.1:%d/" % IMG["expose"], timeout=30) as r:
            body = r.read()
            check(r.status == 200 and b"xray-auto example" in body, "GET / on the app: %s %r"
                  % (r.status, body[:200]))
        col.wait_lines(1, S.doc_timeout)
        time.sleep(0.3)
    finally:
        H._stop_process(app, group=True)
        errf.close()
    t1 = time.time()
    col.stop()
    docs, bad = col.docs()
    check(not bad, "daemon address: invalid datagrams", bad)
    name = TASK["env"].get("AWS_XRAY_TRACING_NAME", IMG["env"].get("AWS_XRAY_TRACING_NAME"))
    if not check(len(docs) == 1, "%s: %d documents at %s:%d (the task definition's "
                 "AWS_XRAY_DAEMON_ADDRESS), expected the one inbound request's segment"
                 % (TASK["app"], len(docs), host, TASK["port"]), docs):
        return
    d = docs[0]
    check(d.get("name") == name, "segment name %r, expected the task definition's "
          "AWS_XRAY_TRACING_NAME %r" % (d.get("name"), name), d)
    check(H.get(d, "http", "request", "method") == "GET"
          and H.get(d, "http", "request", "url") == "http://127.0.0.1:%d/" % IMG["expose"]
          and H.get(d, "http", "response", "status") == 200,
          "inbound segment: expected GET http://127.0.0.1:%d/ -> 200" % IMG["expose"], d)
    check(H.TRACE_ID.match(d.get("trace_id", "")) is not None
          and t0 - 1 <= d.get("start_time", 0) <= t1 + 1, "inbound segment ids/times", d)
    check(H.get(d, "aws", "xray", "sdk") == H.SDK_NAME, "aws.xray.sdk", d)


# ---------------------------------------------------------------------------------------------
def requirements():
    """Skips when a program the commands under test need is missing."""
    for prog in ("curl", "cpack", "dpkg-deb"):
        if not H.which(prog):
            H.skip("%s is not installed (the commands under test need it)" % prog)


def main():
    global S
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    H.enter_namespaces(NS_MARK, ["--mount", "--net"], "the image is reproduced with unshare "
                       "--mount --net and an overlay mount (no Docker daemon here)",
                       requirements)
    S = H.Session(sys.argv[1], "container")
    S.require_build()
    H.scenario("Dockerfile", t_dockerfile)
    H.scenario("ECS task definition", t_taskdef)
    if not IMG.get("preload"):
        check(False, "no LD_PRELOAD path from the Dockerfile: the image cannot be reproduced")
        return H.summary()
    H.scenario("package (cpack -G DEB)", t_package)
    if not DEB:
        check(False, "no package: the image cannot be reproduced")
        return H.summary()
    why = setup_image_layout()
    if why:
        H.skip(why)
    print("image layout: %s from the package, over /usr in a private mount namespace"
          % IMG["preload"])
    H.scenario("ordinary commands with the image's ENV", t_commands)
    H.scenario("every process maps the library", t_every_process_maps_it)
    H.scenario("the image's ENV as it is (no daemon)", t_image_env_as_is)
    H.scenario("ECS task definition wiring (CMD, environment, link)", t_task_wiring)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
