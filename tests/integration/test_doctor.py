#!/usr/bin/python3
"""Integration test: `xray-auto doctor PROGRAM` on real binaries of this machine (Debian 12) and on
files made here: its verdict line, its details and its exit status (0 the preload sees something,
1 it sees nothing, 2 usage error or unreadable program).  Nothing is run under the preload.

  curl, git-remote-http, git        libcurl / libcurl-gnutls (curl hooks); git through its helper
  psql (real) and /usr/bin/psql     libpq; the Perl pg_wrapper leads to the real psql
  mariadb                           MariaDB client library compiled in: sockets layer only
  ldconfig, fzf                     statically linked; Go (cgo) program
  Go-like programs built here       a .go.buildinfo section: static, libc without / with connect
  passwd, setgid / setcap copies    secure-execution mode
  musl hello, 32-bit ELF            libc flavour and ELF class mismatches; musl build suggested
  python3, #! scripts               dlopen note; interpreter diagnosed
  RUNPATH / RPATH / LD_LIBRARY_PATH resolution order of a program built here; a missing library
  --lib with a missing dependency   every preloaded program would exit 127
  truncated / corrupt / empty       clear message, exit 2, no crash (also 40 random mutations)

A binary that is not installed is reported (note:) and its checks are not run.

Usage: test_doctor.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import atexit
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
TOOL = LIB = TMP = None
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


class Out:
    def __init__(self, cmd, p):
        self.cmd = cmd
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr
        self.lines = p.stdout.splitlines()
        self.verdict = self.lines[0] if self.lines else ""

    def describe(self):
        return "$ %s\nexit %s\n%s%s" % (" ".join(self.cmd), self.rc, self.out,
                                        ("stderr: " + self.err) if self.err else "")

    def has(self, pattern):
        return re.search(pattern, self.out, re.M) is not None


def doctor(*args, env=None, lib=True):
    """Runs `xray-auto doctor [--lib LIB] ARGS`; the environment has no XRAY_AUTO_LIBRARY and no
    LD_LIBRARY_PATH unless env sets them."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("XRAY_AUTO_LIBRARY", "LD_LIBRARY_PATH", "LD_PRELOAD")}
    e["PATH"] = PATH
    e.update(env or {})
    cmd = [TOOL, "doctor"] + (["--lib", LIB] if lib else []) + list(args)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=e,
                       timeout=60)
    return Out(cmd, p)


def installed(path, what=None):
    if os.path.exists(path):
        return True
    print("note: %s not installed (%s); its checks are not run" % (path, what or "-"))
    return False


def expect(o, rc, verdict_re, what):
    """Exit status and a regex the verdict line (first stdout line) must match."""
    ok = check(o.rc == rc, "%s: exit %s, expected %s" % (what, o.rc, rc), o.describe())
    ok &= check(re.search(verdict_re, o.verdict) is not None,
                "%s: verdict %r does not match %r" % (what, o.verdict, verdict_re), o.describe())
    return ok


def detail(o, pattern, what):
    return check(o.has(pattern), "%s: no detail line matching %r" % (what, pattern), o.describe())


def no_detail(o, pattern, what):
    return check(not o.has(pattern), "%s: unexpected line matching %r" % (what, pattern),
                 o.describe())


def gcc(src, out, *flags):
    cc = H.which("gcc") or H.which("cc")
    if not cc:
        return False
    c = os.path.join(TMP, os.path.basename(out) + ".c")
    with open(c, "w") as f:
        f.write(src)
    p = subprocess.run([cc, c, "-o", out] + list(flags), capture_output=True, text=True)
    if p.returncode != 0:
        print("note: cannot compile %s: %s" % (out, p.stderr[-500:]))
    return p.returncode == 0


# ---------------------------------------------------------------------------------------------
def t_curl():
    if not installed("/usr/bin/curl", "curl"):
        return
    o = doctor("/usr/bin/curl")
    expect(o, 0, r"^curl \(/usr/bin/curl\): traced: libcurl\.so\.4 \(curl hooks\), sockets layer$",
           "curl")
    detail(o, r"^  curl: libcurl\.so\.4 => /\S+/libcurl\.so\.4 \(ld\.so\.cache, needed by curl\)$",
           "curl")
    detail(o, r"^    curl hooks fire: curl_easy_perform, curl_multi_add_handle", "curl")
    detail(o, r"^    curl calls .*\bcurl_easy_perform\b", "curl")
    detail(o, r"^  sockets: ", "curl")
    detail(o, r"^  library: %s: glibc build, 64-bit x86-64$" % re.escape(LIB), "curl")
    detail(o, r"^  libraries: \d+ shared objects load at start-up, all found$", "curl")
    # by name, through PATH
    o = doctor("curl")
    expect(o, 0, r"^curl \(/usr/bin/curl\): traced: libcurl\.so\.4 \(curl hooks\)", "curl by name")
    # JSON
    o = doctor("--json", "/usr/bin/curl")
    check(o.rc == 0, "curl --json: exit %s" % o.rc, o.describe())
    try:
        j = json.loads(o.out)
    except ValueError as e:
        check(False, "curl --json: not JSON (%s)" % e, o.describe())
        return
    libs = j.get("client_libraries") or [{}]
    check(j.get("status") == 0 and j.get("traced") is True and j.get("sockets") is True,
          "curl --json: status/traced/sockets", j)
    check(libs[0].get("library") == "libcurl.so.4" and libs[0].get("hooks") == "curl"
          and libs[0].get("linked") == "shared" and libs[0].get("found_by") == "ld.so.cache",
          "curl --json: client library entry", j)
    check(j.get("verdict", "").startswith("traced: libcurl.so.4"), "curl --json: verdict", j)


def t_git():
    helper = "/usr/lib/git-core/git-remote-http"
    if installed(helper, "git"):
        o = doctor(helper)
        expect(o, 0, r"^git-remote-http \(%s\): traced: libcurl-gnutls\.so\.4 \(curl hooks\), "
               r"sockets layer$" % re.escape(helper), "git-remote-http")
        detail(o, r"^    git-remote-http calls .*\bcurl_multi_add_handle\b", "git-remote-http")
    if installed("/usr/bin/git", "git"):
        o = doctor("/usr/bin/git")
        expect(o, 0, r"^git \(/usr/bin/git\): traced: sockets layer; http\(s\) remotes through "
               r"git-remote-http: libcurl-gnutls\.so\.4 \(curl hooks\)", "git")
        detail(o, r"^  helper: git runs /\S+/git-remote-http for http\(s\) remotes", "git")
        detail(o, r"^  helper for http:// and https:// remotes: git-remote-http \(", "git")
        no_detail(o, r"^  curl: ", "git (git itself links no libcurl)")


def pg_psql():
    found = []
    for v in os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql") else []:
        p = "/usr/lib/postgresql/%s/bin/psql" % v
        if os.access(p, os.X_OK):
            found.append((float(v) if re.match(r"^\d+(\.\d+)?$", v) else 0, p))
    return max(found)[1] if found else None


def t_psql():
    real = pg_psql()
    if not real:
        print("note: no /usr/lib/postgresql/*/bin/psql; psql checks are not run")
        return
    o = doctor(real)
    expect(o, 0, r"^psql \(%s\): traced: libpq\.so\.5 \(pq hooks\), sockets layer$"
           % re.escape(real), "psql")
    detail(o, r"^  pq: libpq\.so\.5 => /\S+/libpq\.so\.5 \(ld\.so\.cache, needed by psql\)$", "psql")
    detail(o, r"^    pq hooks fire: PQconnectdb", "psql")
    detail(o, r"^    psql calls .*\bPQsendQuery\b.*\bPQgetResult\b", "psql")
    if not installed("/usr/bin/psql", "postgresql-client-common"):
        return
    o = doctor("/usr/bin/psql")
    expect(o, 0, r"^psql \(/usr/bin/psql\): wrapper script for /usr/bin/perl, runs %s: traced: "
           r"libpq\.so\.5 \(pq hooks\), sockets layer$" % re.escape(real), "psql wrapper")
    detail(o, r"^  script: #!/usr/bin/perl", "psql wrapper")
    detail(o, r"pg_wrapper", "psql wrapper")
    detail(o, r"^  real program: psql \(%s\): traced: libpq\.so\.5" % re.escape(real),
           "psql wrapper")


def t_mariadb():
    if not installed("/usr/bin/mariadb", "mariadb-client"):
        return
    o = doctor("/usr/bin/mariadb")
    expect(o, 0, r"^mariadb \(/usr/bin/mariadb\): traced: sockets layer only \(MariaDB client "
           r"library compiled in: no mysql hooks, no SQL subsegments\)$", "mariadb")
    detail(o, r"^  mysql: MariaDB client library compiled into the program: it defines "
           r"mysql_real_query, mysql_real_connect.*\"MariaDB virtual IO plugin\"", "mariadb")
    no_detail(o, r"mysql hooks fire", "mariadb")
    no_detail(o, r"libmariadb\.so", "mariadb (it links no libmariadb)")
    j = json.loads(doctor("--json", "/usr/bin/mariadb").out)
    check(any(c.get("linked") == "compiled in" and c.get("hooks") == "mysql"
              for c in j.get("client_libraries", [])), "mariadb --json: compiled-in entry", j)


def t_static():
    path = "/sbin/ldconfig"
    if not installed(path, "libc-bin"):
        return
    o = doctor(path)
    expect(o, 1, r"^ldconfig \(/sbin/ldconfig\): not traced: statically linked \(no program "
           r"interpreter\)", "ldconfig")
    detail(o, r"^  file: ELF 64-bit LSB x86-64 static-pie executable, no program interpreter$",
           "ldconfig")
    detail(o, r"^  static: no PT_INTERP", "ldconfig")


def t_go():
    fzf = "/usr/bin/fzf"
    if not installed(fzf, "fzf, a Go program"):
        return
    o = doctor(fzf)
    expect(o, 1, r"^fzf \(/usr/bin/fzf\): not traced: Go program \(go1\.\d+(\.\d+)?, cgo\): Go's "
           r"net package makes raw system calls", "fzf")
    detail(o, r"^  go: Go program go1\.\d+(\.\d+)? \(\.go\.buildinfo section\)", "fzf")
    detail(o, r"^    it links libc \(cgo\)", "fzf")


def has_interp(path):
    """True when the ELF file has a PT_INTERP program header (read here, for the test)."""
    with open(path, "rb") as f:
        d = f.read(65536)
    if d[:4] != b"\x7fELF" or d[4] != 2 or d[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", d, 32)
    phentsize, phnum = struct.unpack_from("<HH", d, 54)
    return any(struct.unpack_from("<I", d, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def t_go_made_here():
    """C programs carrying a Go build-info section (the layout of Go >= 1.18), so that both Go
    branches are checked without a Go toolchain: dynamic with libc (cgo-like) and static."""
    info = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16) + bytes([8]) + b"go1.99.9"
    arr = ", ".join(str(b) for b in info.ljust(64, b"\0"))
    body = ('#include <sys/socket.h>\n__attribute__((section(".go.buildinfo"), aligned(16), used))\n'
            "static const unsigned char xr_buildinfo[64] = { %s };\n" % arr)
    net = body + "int main(int c, char **v) { (void)v; return c > 5 ? connect(-1, 0, 0) : 0; }\n"
    quiet = body + "int main(void) { return 0; }\n"
    dyn, dyn_net, static = (os.path.join(TMP, n) for n in ("go-dyn", "go-dyn-net", "go-static"))
    if not (gcc(quiet, dyn) and gcc(net, dyn_net)):
        print("note: no C compiler; Go-like programs not made")
        return
    o = doctor(dyn)
    expect(o, 1, r"^go-dyn \(.*\): not traced: Go program \(go1\.99\.9, cgo\): Go's net package "
           r"makes raw system calls, which no preload sees$", "Go-like, libc, no socket call")
    detail(o, r"^  go: Go program go1\.99\.9 \(\.go\.buildinfo section\)", "Go-like")
    detail(o, r"it imports no libc socket call", "Go-like")
    o = doctor(dyn_net)
    expect(o, 0, r"^go-dyn-net \(.*\): traced: sockets layer \(libc calls of its C code only, not "
           r"Go's net package\)$", "Go-like, libc, calls connect")
    detail(o, r"^    it links libc \(cgo\): .*; it imports connect$", "Go-like, connect")
    if gcc(quiet, static, "-static"):
        o = doctor(static)
        expect(o, 1, r"^go-static \(.*\): not traced: statically linked Go program go1\.99\.9 "
               r"\(no program interpreter\)", "Go-like, static")
    else:
        print("note: no static libc (libc6-dev libc.a); static Go-like program not made")
    # Real statically linked Go programs, where this machine has one (Google Cloud CLI tools).
    for p in ("/usr/bin/kubectl", "/usr/bin/kpt", "/usr/bin/gke-gcloud-auth-plugin"):
        if os.path.exists(p) and has_interp(p) is False:
            o = doctor(p)
            expect(o, 1, r"^\S+ \(%s\): not traced: statically linked Go program go1\.\d+"
                   % re.escape(p), "static Go " + p)
            break


def t_setuid():
    for p in ("/usr/bin/passwd", "/bin/su", "/usr/bin/su"):
        if os.path.exists(p) and os.stat(p).st_mode & 0o4000:
            o = doctor(p)
            expect(o, 1, r"^\S+ \(%s\): not traced: set-user-ID root: secure-execution mode, "
                   r"the loader ignores LD_PRELOAD$" % re.escape(p), p)
            detail(o, r"^  secure: set-user-ID root: .*AT_SECURE", p)
            break
    else:
        print("note: no set-user-ID passwd/su found; setuid check not run")
    if os.geteuid() != 0 or not os.path.exists("/usr/bin/curl"):
        print("note: not root (or no curl): setgid and setcap copies not made")
        return
    sg = os.path.join(TMP, "curl-setgid")
    shutil.copy("/usr/bin/curl", sg)
    os.chmod(sg, 0o2755)
    o = doctor(sg)
    expect(o, 1, r"^curl-setgid \(%s\): not traced: set-group-ID root: secure-execution mode"
           % re.escape(sg), "setgid copy")
    # Without group execute the bit means mandatory locking, not set-group-ID.
    os.chmod(sg, 0o2744)
    o = doctor(sg)
    expect(o, 0, r"traced: libcurl\.so\.4", "setgid bit without group x")


def t_setcap():
    setcap = H.which("setcap") or ("/usr/sbin/setcap" if os.path.exists("/usr/sbin/setcap")
                                   else "/sbin/setcap")
    if os.geteuid() != 0 or not os.path.exists(setcap) or not os.path.exists("/usr/bin/curl"):
        print("note: setcap check not run (needs root, setcap from libcap2-bin and curl)")
        return
    cp = os.path.join(TMP, "curl-caps")
    shutil.copy("/usr/bin/curl", cp)
    p = subprocess.run([setcap, "cap_net_raw+ep", cp], capture_output=True, text=True)
    if p.returncode != 0:
        print("note: setcap failed (%s); file-capability check not run" % p.stderr.strip())
        return
    o = doctor(cp)
    expect(o, 1, r"^curl-caps \(%s\): not traced: file capabilities cap_net_raw=ep: "
           r"secure-execution mode" % re.escape(cp), "setcap copy")


def musl_build():
    musl = H.which("musl-gcc")
    if not musl:
        print("note: musl-gcc (musl-tools) not installed; musl checks are not run")
        return None, None
    hello = os.path.join(TMP, "hello-musl")
    so = os.path.join(TMP, "musl.so")
    src = os.path.join(TMP, "hello.c")
    with open(src, "w") as f:
        f.write('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    p1 = subprocess.run([musl, src, "-o", hello], capture_output=True, text=True)
    p2 = subprocess.run([musl, "-shared", "-fPIC", src, "-o", so], capture_output=True, text=True)
    if p1.returncode or p2.returncode:
        check(False, "musl-gcc failed: %s %s" % (p1.stderr, p2.stderr))
        return None, None
    return hello, so


def t_musl():
    hello, so = musl_build()
    if not hello:
        return
    o = doctor(hello)
    expect(o, 1, r"^hello-musl \(%s\): not traced: musl program, the library is a glibc build: "
           r"it cannot load" % re.escape(hello), "musl hello, glibc library")
    detail(o, r"^  file: .*interpreter /lib/ld-musl-x86_64\.so\.1 \(musl\)$", "musl hello")
    sibling = os.path.join(os.path.dirname(LIB), "libxray-auto-musl.so")
    if os.path.exists(sibling):
        check(o.verdict.endswith("; use %s" % sibling), "musl hello: the musl build next to the "
              "library is suggested", o.describe())
    # A glibc library with a musl build next to it (a copy in a directory of our own).
    d = os.path.join(TMP, "libs")
    os.mkdir(d)
    shutil.copy(LIB, os.path.join(d, "libxray-auto.so"))
    shutil.copy(so, os.path.join(d, "libxray-auto-musl.so"))
    o = doctor("--lib", os.path.join(d, "libxray-auto.so"), hello, lib=False)
    expect(o, 1, r"not traced: musl program, the library is a glibc build: .*; use %s$"
           % re.escape(os.path.join(d, "libxray-auto-musl.so")), "musl hello, musl build next to it")
    detail(o, r"LD_PRELOAD=%s" % re.escape(os.path.join(d, "libxray-auto-musl.so")),
           "musl hello, musl build next to it")
    # With the musl build: the sockets layer, libc.so served by the musl loader.
    o = doctor("-v", "--lib", os.path.join(d, "libxray-auto-musl.so"), hello, lib=False)
    expect(o, 0, r"^hello-musl \(.*\): traced: sockets layer$", "musl hello, musl library")
    detail(o, r"^  library: .*libxray-auto-musl\.so: musl build, 64-bit x86-64$", "musl library")
    detail(o, r"^    libc\.so => /lib/ld-musl-x86_64\.so\.1 \(musl loader itself\)$",
           "musl hello -v")
    # The other way round: a glibc program and the musl build (XRAY_AUTO_LIBRARY, like `run`).
    if os.path.exists("/usr/bin/curl"):
        o = doctor("/usr/bin/curl", lib=False,
                   env={"XRAY_AUTO_LIBRARY": os.path.join(d, "libxray-auto-musl.so")})
        expect(o, 1, r"not traced: glibc program, the library is a musl build: it cannot load.*; "
               r"use %s$" % re.escape(os.path.join(d, "libxray-auto.so")), "curl, musl library")


def t_python():
    py = "/usr/bin/python3"
    if not installed(py, "python3"):
        return
    o = doctor(py)
    expect(o, 0, r"^python3 \(/usr/bin/python3\): traced: sockets layer, plus client libraries "
           r"its modules load$", "python3")
    detail(o, r"^  dlopen: a language runtime: client libraries its modules load at run time",
           "python3")
    # A script through `env`: the interpreter comes from PATH.
    s = os.path.join(TMP, "script.py")
    with open(s, "w") as f:
        f.write("#!/usr/bin/env python3\nprint('hi')\n")
    os.chmod(s, 0o755)
    o = doctor(s, env={"PATH": "/usr/bin:/bin"})
    expect(o, 0, r"^script\.py \(.*\): script for /usr/bin/python3: traced: sockets layer",
           "env python3 script")
    detail(o, r"^  script: #!/usr/bin/env python3$", "env python3 script")
    detail(o, r"^  interpreter: python3 \(/usr/bin/python3\): traced:", "env python3 script")
    s2 = os.path.join(TMP, "broken.sh")
    with open(s2, "w") as f:
        f.write("#!/nonexistent/xray-interp -x\necho hi\n")
    os.chmod(s2, 0o755)
    o = doctor(s2)
    expect(o, 1, r"not traced: its interpreter /nonexistent/xray-interp does not exist", "bad #!")


def elf32(path):
    """A minimal 32-bit i386 program: PT_INTERP /lib/ld-linux.so.2, DT_NEEDED libc.so.6."""
    interp = b"/lib/ld-linux.so.2\0"
    strtab = b"\0libc.so.6\0"
    ehsz, phsz, nph = 52, 32, 3
    interp_off = ehsz + phsz * nph
    str_off = interp_off + len(interp)
    dyn_off = (str_off + len(strtab) + 3) & ~3
    dyn = (struct.pack("<iI", 1, 1) + struct.pack("<iI", 5, str_off)
           + struct.pack("<iI", 10, len(strtab)) + struct.pack("<iI", 0, 0))
    total = dyn_off + len(dyn)
    eh = (b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
          + struct.pack("<HHIIIIIHHHHHH", 3, 3, 1, 0, ehsz, 0, 0, ehsz, phsz, nph, 40, 0, 0))
    ph = (struct.pack("<8I", 3, interp_off, interp_off, interp_off, len(interp), len(interp), 4, 1)
          + struct.pack("<8I", 1, 0, 0, 0, total, total, 5, 0x1000)
          + struct.pack("<8I", 2, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 6, 4))
    body = eh + ph + interp + strtab
    body += bytes(dyn_off - len(body)) + dyn
    with open(path, "wb") as f:
        f.write(body)
    os.chmod(path, 0o755)


def t_elf32():
    p = os.path.join(TMP, "prog32")
    elf32(p)
    o = doctor(p)
    expect(o, 1, r"^prog32 \(.*\): not traced: 32-bit i386 program, the library is 64-bit x86-64: "
           r"ld\.so refuses to preload it", "32-bit program")
    detail(o, r"^  file: ELF 32-bit LSB i386 PIE executable, interpreter /lib/ld-linux\.so\.2 "
           r"\(glibc\)$", "32-bit program")


def t_corrupt():
    cases = []
    if os.path.exists("/usr/bin/curl"):
        data = open("/usr/bin/curl", "rb").read()
        for n in (10, 100, 4096, 65536, len(data) // 2, len(data) - 100):
            cases.append(("curl cut to %d bytes" % n, data[:n], r"truncated"))
    cases.append(("ELF magic then noise", b"\x7fELF" + bytes(range(7, 250)), r"corrupt|truncated"))
    cases.append(("empty file", b"", r"empty file"))
    cases.append(("text file", b"hello world\n", r"neither an ELF program nor a #! script"))
    cases.append(("#! without interpreter", b"#!\n", r"#! line without an interpreter"))
    for i, (what, body, msg) in enumerate(cases):
        p = os.path.join(TMP, "bad%d" % i)
        with open(p, "wb") as f:
            f.write(body)
        os.chmod(p, 0o755)
        o = doctor(p)
        check(o.rc == 2, "%s: exit %s, expected 2" % (what, o.rc), o.describe())
        check(re.search(r"^xray-auto doctor: %s: error: .*(%s)" % (re.escape(p), msg), o.err)
              is not None, "%s: no clear message matching %r on stderr" % (what, msg),
              o.describe())
        check(o.out == "", "%s: nothing on stdout for an unreadable program" % what, o.describe())
    o = doctor(TMP)
    expect(o, 2, r"^$", "a directory")
    check("not a regular file" in o.err, "a directory: message", o.describe())
    # Random damage to a real program: any verdict, but an exit status, never a crash.
    if os.path.exists("/usr/bin/curl"):
        rnd = random.Random(20240601)
        data = open("/usr/bin/curl", "rb").read()
        crashed = []
        for i in range(40):
            d = bytearray(data)
            for _ in range(rnd.randrange(1, 24)):
                pos = rnd.randrange(4096) if i % 2 else rnd.randrange(len(d))
                d[pos] = rnd.randrange(256)
            if i % 3 == 0:
                d = d[:rnd.randrange(len(d))]
            p = os.path.join(TMP, "mut%d" % i)
            with open(p, "wb") as f:
                f.write(bytes(d))
            o = doctor(p)
            if o.rc not in (0, 1, 2):
                crashed.append((p, o.rc, o.err[-300:]))
            else:
                os.unlink(p)
        check(not crashed, "mutated copies of curl: doctor crashed or exited oddly", crashed)


def t_missing_and_usage():
    o = doctor("/nonexistent/xray-prog")
    check(o.rc == 2 and "/nonexistent/xray-prog: No such file or directory" in o.err,
          "nonexistent path: exit 2 and a message", o.describe())
    o = doctor("xray-no-such-program")
    check(o.rc == 2 and "xray-no-such-program: not found in PATH" in o.err,
          "unknown name: exit 2 and 'not found in PATH'", o.describe())
    o = doctor(lib=False)
    check(o.rc == 2 and "missing PROGRAM" in o.err, "no PROGRAM: exit 2", o.describe())
    o = doctor("--bogus", "/usr/bin/curl")
    check(o.rc == 2 and "unknown option" in o.err, "unknown option: exit 2", o.describe())
    o = doctor("/usr/bin/curl", "/usr/bin/git")
    check(o.rc == 2 and "one PROGRAM only" in o.err, "two programs: exit 2", o.describe())
    o = doctor("--lib", "/etc/hostname", "/usr/bin/curl", lib=False)
    check(o.rc == 2 and "--lib /etc/hostname: not an ELF file" in o.err,
          "--lib of a non-ELF file: exit 2", o.describe())
    o = doctor("--lib", "/nonexistent/lib.so", "/usr/bin/curl", lib=False)
    check(o.rc == 2 and "--lib /nonexistent/lib.so:" in o.err, "--lib missing: exit 2",
          o.describe())
    # Without --lib the library is found like `run` finds it: next to the tool here.
    if os.path.exists("/usr/bin/curl") and os.path.exists(os.path.join(BUILD, "libxray-auto.so")):
        o = doctor("/usr/bin/curl", lib=False)
        detail(o, r"^  library: %s: glibc build" % re.escape(
            os.path.realpath(os.path.join(BUILD, "libxray-auto.so"))), "library located")
    p = subprocess.run([TOOL, "help"], capture_output=True, text=True)
    check("xray-auto doctor" in p.stdout, "help mentions doctor", p.stdout)


def t_search_order():
    """A program built here against a copy of libpq: DT_RUNPATH, DT_RPATH and LD_LIBRARY_PATH
    (glibc's order: RPATH, LD_LIBRARY_PATH, RUNPATH, cache), $ORIGIN, and a missing library."""
    libpq = None
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(d, "libpq.so.5")):
            libpq = os.path.join(d, "libpq.so.5")
            break
    inc = "/usr/include/postgresql"
    if not libpq or not os.path.exists(os.path.join(inc, "libpq-fe.h")):
        print("note: libpq.so.5 or libpq-fe.h missing; search-order checks are not run")
        return
    base = os.path.join(TMP, "rp")
    for sub in ("lib", "lib2"):
        os.makedirs(os.path.join(base, sub))
        shutil.copy(libpq, os.path.join(base, sub, "libpq.so.5"))
    src = ('#include <libpq-fe.h>\nint main(void) { PGconn *c = PQconnectdb("");\n'
           'PQclear(PQexec(c, "select 1")); PQfinish(c); return 0; }\n')
    runp, rp = os.path.join(base, "pq_runpath"), os.path.join(base, "pq_rpath")
    if not (gcc(src, runp, "-I" + inc, "-L" + os.path.join(base, "lib"), "-lpq",
                "-Wl,--enable-new-dtags,-rpath,$ORIGIN/lib")
            and gcc(src, rp, "-I" + inc, "-L" + os.path.join(base, "lib"), "-lpq",
                    "-Wl,--disable-new-dtags,-rpath,$ORIGIN/lib")):
        check(False, "could not build the search-order programs")
        return
    lib1, lib2 = os.path.join(base, "lib", "libpq.so.5"), os.path.join(base, "lib2", "libpq.so.5")
    o = doctor(runp)
    expect(o, 0, r"traced: libpq\.so\.5 \(pq hooks\), sockets layer$", "RUNPATH program")
    detail(o, r"^  pq: libpq\.so\.5 => %s \(DT_RUNPATH, needed by pq_runpath\)$"
           % re.escape(lib1), "RUNPATH $ORIGIN")
    detail(o, r"^    pq_runpath calls PQconnectdb, PQfinish, PQexec$", "RUNPATH program imports")
    o = doctor(runp, env={"LD_LIBRARY_PATH": os.path.join(base, "lib2")})
    detail(o, r"^  pq: libpq\.so\.5 => %s \(LD_LIBRARY_PATH," % re.escape(lib2),
           "LD_LIBRARY_PATH before DT_RUNPATH")
    o = doctor(rp, env={"LD_LIBRARY_PATH": os.path.join(base, "lib2")})
    detail(o, r"^  pq: libpq\.so\.5 => %s \(DT_RPATH," % re.escape(lib1),
           "DT_RPATH before LD_LIBRARY_PATH")
    os.unlink(lib1)
    o = doctor(runp)
    detail(o, r"^  pq: libpq\.so\.5 => /\S+/libpq\.so\.5 \(ld\.so\.cache,", "RUNPATH miss: cache")
    # A library that is nowhere: listed as not found.
    gone = os.path.join(base, "gone")
    os.makedirs(gone)
    so = os.path.join(gone, "libxrgone.so.1")
    prog = os.path.join(base, "needs_gone")
    if (gcc("int xr_gone(void) { return 1; }\n", so, "-shared", "-fPIC",
            "-Wl,-soname,libxrgone.so.1")
            and gcc("int xr_gone(void);\nint main(void) { return xr_gone(); }\n", prog, so)):
        shutil.rmtree(gone)
        o = doctor(prog)
        expect(o, 0, r"traced: sockets layer$", "missing library")
        detail(o, r"^    libxrgone\.so\.1 \(needed by needs_gone\): not found", "missing library")
        no_detail(o, r"all found", "missing library")


def t_library_deps():
    """A library whose own dependency is missing: every preloaded program would exit 127."""
    gone = os.path.join(TMP, "gone-dep")
    os.makedirs(gone)
    dep = os.path.join(gone, "libxrdep.so.1")
    lib = os.path.join(TMP, "libbadpreload.so")
    if not (gcc("int xr_dep(void) { return 1; }\n", dep, "-shared", "-fPIC",
                "-Wl,-soname,libxrdep.so.1")
            and gcc("int xr_dep(void);\nint xr_f(void) { return xr_dep(); }\n", lib, "-shared",
                    "-fPIC", "-Wl,--no-as-needed", dep)):
        print("note: no C compiler; library dependency check not run")
        return
    shutil.rmtree(gone)
    if not os.path.exists("/usr/bin/curl"):
        return
    o = doctor("--lib", lib, "/usr/bin/curl", lib=False)
    expect(o, 1, r"^curl \(/usr/bin/curl\): not traced: the library's own dependencies are "
           r"missing \(libxrdep\.so\.1\): every program started with it preloaded exits 127$",
           "library with a missing dependency")
    detail(o, r"^  library: %s: glibc build, 64-bit x86-64$" % re.escape(lib),
           "library with a missing dependency")


def main():
    global TOOL, LIB, TMP
    if not BUILD:
        print("usage: test_doctor.py BUILD_DIR")
        return 2
    TOOL = os.path.join(BUILD, "xray-auto")
    LIB = os.path.realpath(os.path.join(BUILD, "libxray-auto.so"))
    if not os.access(TOOL, os.X_OK) or not os.path.exists(LIB):
        H.skip("%s or %s not built" % (TOOL, LIB))
    TMP = tempfile.mkdtemp(prefix="xray-doctor-")
    atexit.register(shutil.rmtree, TMP, True)
    for name, fn in (("curl", t_curl), ("git", t_git), ("psql", t_psql),
                     ("mariadb", t_mariadb), ("static ldconfig", t_static), ("Go fzf", t_go),
                     ("Go-like programs made here", t_go_made_here),
                     ("setuid / setgid", t_setuid), ("setcap", t_setcap), ("musl", t_musl),
                     ("python3 and scripts", t_python), ("32-bit", t_elf32),
                     ("corrupt files", t_corrupt), ("missing program, usage", t_missing_and_usage),
                     ("library search order", t_search_order),
                     ("library dependencies", t_library_deps)):
        H.scenario(name, fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
