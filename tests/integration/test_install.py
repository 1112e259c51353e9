#!/usr/bin/python3
"""Integration test: `cmake --install`, the pkg-config file and the Debian package
(cmake/packaging.cmake).

Scenarios:
  - `cmake --install BUILD --prefix TMP`: exactly the library (mode 0644), the tool, the header,
    xray-auto.pc and the copyright file; the installed `xray-auto run` preloads the library
    installed next to it;
  - `DESTDIR=TMP cmake --install BUILD --prefix /usr`: Debian's multiarch library directory,
    and a pkg-config file that says /usr (not the staging directory);
  - pkg-config (PKG_CONFIG_PATH=TMP/lib/pkgconfig): version, Cflags, the empty Libs, the
    `preload` variable;
  - a C program using the API, compiled with `pkg-config --cflags --libs xray-auto` (weak
    references, no DT_NEEDED): without the preload it runs and says so; under LD_PRELOAD of the
    installed library its xray_begin_segment/xray_end_segment give one segment document at
    the collector (name, ids matching xray_trace_header, an incoming trace header joined,
    the plain-socket GET made inside it as its subsegment), xray_get_stats counts it;
  - the same program linked -lxray-auto (the alternative the .pc describes): under the preload
    exactly one copy is mapped, the preloaded one (also when the preload is another copy of
    the file); without the preload and outside the search path it does not start;
  - `cpack -G DEB`: `dpkg-deb -I` fields (Package, Version, Architecture, Maintainer, Section,
    Depends on libc6 and libcjson1 with versions, Description), `dpkg-deb -c` files and
    modes, the License field of the copyright file, the packaged .pc and tool.

Usage: test_install.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: gcc, pkg-config or
                                     dpkg-deb not installed)
"""

import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as H  # noqa: E402
from harness import check  # noqa: E402

TOP = os.path.dirname(os.path.dirname(HERE))
S = None
CACHE = {}

API_PROG = r'''
#define _GNU_SOURCE
/* Weak references or -lxray-auto: plain declarations (the header-only
 * wrappers are test_api.py's). */
#define XRAY_AUTO_NO_DLSYM
#include <xray-auto.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef XR_LINKED
/* Weak references: the program runs whether or not the library is loaded. */
#pragma weak xray_version
#pragma weak xray_begin_segment
#pragma weak xray_end_segment
#pragma weak xray_trace_header
#pragma weak xray_get_stats
#endif

/* GET /ok over a plain socket: the library's sockets layer traces it. */
static int get_ok(int port)
{
  struct sockaddr_in sa;
  char req[128], buf[4096];
  int fd, n, len = 0, status = -1;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
    return -1;
  n = snprintf(req, sizeof(req), "GET /ok HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Connection: close\r\n\r\n", port);
  if (write(fd, req, (size_t)n) != n)
    return -1;
  while (len < (int)sizeof(buf) - 1 && (n = (int)read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
    len += n;
  buf[len] = '\0';
  close(fd);
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    return -1;
  return status;
}

/* Every distinct file of this process's mappings named libxray-auto. */
static void print_maps(void)
{
  char line[4096], seen[8][1024];
  int nseen = 0, i;
  FILE *f = fopen("/proc/self/maps", "r");

  if (!f)
    return;
  while (fgets(line, sizeof(line), f)) {
    char *p = strchr(line, '/');
    if (!p || !strstr(p, "libxray-auto"))
      continue;
    p[strcspn(p, "\n")] = '\0';
    for (i = 0; i < nseen && strcmp(seen[i], p) != 0; i++)
      ;
    if (i == nseen && nseen < 8) {
      snprintf(seen[nseen++], sizeof(seen[0]), "%s", p);
      printf("mapped %s\n", p);
    }
  }
  fclose(f);
}

int main(int argc, char **argv)
{
  const char *incoming = argc > 2 && argv[2][0] ? argv[2] : NULL;
  int port = argc > 3 ? atoi(argv[3]) : 0;
  char header[256];
  struct xray_stats st;
  int n;

  if (argc < 2)
    return 2;
#ifndef XR_LINKED
  if (!xray_begin_segment) {
    printf("libxray-auto: not loaded\n");
    if (port)
      printf("get %d\n", get_ok(port));
    return 0;
  }
#endif
  printf("version %s\n", xray_version());
  printf("begin %d\n", xray_begin_segment(argv[1], incoming));
  n = xray_trace_header(header, sizeof(header));
  printf("header %d %s\n", n, n > 0 ? header : "-");
  if (port)
    printf("get %d\n", get_ok(port));
  printf("end %d\n", xray_end_segment());
  printf("end_again %d\n", xray_end_segment());
  if (xray_get_stats(&st) == 0)
    printf("sent %llu\n", st.documents_sent);
  print_maps();
  return 0;
}
'''


def sh(cmd, env=None, cwd=None, timeout=180):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace")


def multiarch():
    p = subprocess.run(["gcc", "-print-multiarch"], stdout=subprocess.PIPE)
    return p.stdout.decode().strip()


def read_cache(build):
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        for line in f:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$", line.rstrip("\n"))
            if m:
                CACHE[m.group(1)] = m.group(2)


def files_under(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def install_tree(prefix, destdir=None):
    env = S.base_env()
    if destdir:
        env["DESTDIR"] = destdir
    rc, out = sh(["cmake", "--install", S.build, "--prefix", prefix], env=env)
    check(rc == 0, "cmake --install --prefix %s%s failed (exit %d)"
          % (prefix, " (DESTDIR=%s)" % destdir if destdir else "", rc), out)
    return rc == 0


def expected_files(libdir):
    return {"bin/xray-auto", libdir + "/libxray-auto.so", "include/xray-auto.h",
            libdir + "/pkgconfig/xray-auto.pc", "share/doc/libxray-auto/copyright"}


def pc_vars(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Za-z_.]+)\s*([=:])\s*(.*)$", line.rstrip("\n"))
            if m and not line.startswith("#"):
                out[m.group(1)] = m.group(3)
    return out


def needed(path):
    rc, out = sh(["readelf", "-d", path])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


PREFIX = None
LIBDIR = None


def t_install_prefix():
    global PREFIX, LIBDIR
    prefix = S.path("prefix")
    if not install_tree(prefix):
        return
    libdir = CACHE.get("CMAKE_INSTALL_LIBDIR", "lib")
    got = files_under(prefix)
    check(got == expected_files(libdir), "cmake --install: files %s, expected %s"
          % (sorted(got), sorted(expected_files(libdir))))
    lib = os.path.join(prefix, libdir, "libxray-auto.so")
    if not check(os.path.isfile(lib), "no %s" % lib):
        return
    check(os.stat(lib).st_mode & 0o777 == 0o644, "installed library mode %o, expected 644 "
          "(Debian policy for shared libraries; the loader needs no x bit)"
          % (os.stat(lib).st_mode & 0o777))
    with open(lib, "rb") as a, open(S.lib, "rb") as b:
        check(a.read() == b.read(), "installed library differs from the build's")
    with open(os.path.join(prefix, "include/xray-auto.h")) as a, \
            open(os.path.join(TOP, "include/xray-auto.h")) as b:
        check(a.read() == b.read(), "installed header differs from include/xray-auto.h")
    tool = os.path.join(prefix, "bin/xray-auto")
    check(os.access(tool, os.X_OK), "installed tool is not executable")
    rc, out = sh([tool, "--version"])
    check(rc == 0 and CACHE.get("CMAKE_PROJECT_VERSION", "?") in out,
          "installed xray-auto --version: exit %d, %r" % (rc, out))
    # the installed launcher finds the installed library next to it (../lib)
    rc, out = sh([tool, "run", "--", "sh", "-c", 'grep -F "$0" /proc/$$/maps >/dev/null '
                  '&& echo mapped', lib], env=S.base_env())
    check(rc == 0 and out.strip().endswith("mapped"), "installed `xray-auto run` does not "
          "preload %s: exit %d, %r" % (lib, rc, out))
    PREFIX, LIBDIR = prefix, libdir


def t_install_destdir_usr():
    dest = S.path("destdir")
    if not install_tree("/usr", destdir=dest):
        return
    arch = multiarch()
    default = CACHE.get("CMAKE_INSTALL_LIBDIR", "lib")
    libdir = ("lib/" + arch) if (default == "lib" and arch
                                 and os.path.exists("/etc/debian_version")) else default
    got = files_under(os.path.join(dest, "usr"))
    check(got == expected_files(libdir), "DESTDIR install to /usr: files %s, expected %s"
          % (sorted(got), sorted(expected_files(libdir))))
    pc = os.path.join(dest, "usr", libdir, "pkgconfig", "xray-auto.pc")
    if check(os.path.isfile(pc), "no %s" % pc):
        v = pc_vars(pc)
        check(v.get("prefix") == "/usr" and v.get("libdir") == "${exec_prefix}/" + libdir
              and v.get("includedir") == "${prefix}/include",
              "DESTDIR install: .pc paths must name /usr, not the staging directory", v)


def pkg_config(*args):
    env = S.base_env()
    env["PKG_CONFIG_PATH"] = os.path.join(PREFIX, LIBDIR, "pkgconfig")
    env.pop("PKG_CONFIG_LIBDIR", None)
    p = subprocess.run(["pkg-config"] + list(args) + ["xray-auto"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env)
    check(p.returncode == 0, "pkg-config %s xray-auto: exit %d %s"
          % (" ".join(args), p.returncode, p.stderr.decode()))
    return p.stdout.decode().strip()


def t_pkg_config():
    if not check(PREFIX is not None, "pkg-config: the install scenario failed"):
        return
    check(pkg_config("--modversion") == CACHE.get("CMAKE_PROJECT_VERSION"),
          "pkg-config --modversion %r, expected %r" % (pkg_config("--modversion"),
                                                       CACHE.get("CMAKE_PROJECT_VERSION")))
    check(pkg_config("--cflags") == "-I%s/include" % PREFIX,
          "pkg-config --cflags %r" % pkg_config("--cflags"))
    check(pkg_config("--libs") == "", "pkg-config --libs %r: expected empty (weak references, "
          "see xray-auto.pc)" % pkg_config("--libs"))
    lib = pkg_config("--variable=preload")
    check(lib == os.path.join(PREFIX, LIBDIR, "libxray-auto.so") and os.path.isfile(lib),
          "pkg-config --variable=preload %r" % lib)


def compile_api_prog(name, extra):
    src = S.path("api_prog.c")
    with open(src, "w") as f:
        f.write(API_PROG)
    exe = S.path(name)
    cmd = ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-o", exe, src] + extra
    rc, out = sh(cmd)
    check(rc == 0, "compiling the API program: %s" % " ".join(cmd), out)
    return exe if rc == 0 else None


def api_doc(res, name, what, incoming=None, get_port=None):
    """The one segment document xray_begin_segment/xray_end_segment sent."""
    lines = dict(ln.split(" ", 1) for ln in res.stdout.splitlines() if " " in ln)
    check(lines.get("begin") == "0" and lines.get("end") == "0", "%s: begin/end returned %s/%s"
          % (what, lines.get("begin"), lines.get("end")), res.describe())
    check(lines.get("end_again") == "-2", "%s: a second xray_end_segment must give -ENOENT, "
          "got %s" % (what, lines.get("end_again")), res.describe())
    check(lines.get("version") == CACHE.get("CMAKE_PROJECT_VERSION"), "%s: xray_version %r"
          % (what, lines.get("version")), res.describe())
    check(lines.get("sent") == "1", "%s: xray_get_stats documents_sent %r, expected 1"
          % (what, lines.get("sent")), res.describe())
    hdr = H.parse_trace_header((lines.get("header") or "").split(" ", 1)[-1])
    if not check(len(res.docs) == 1, "%s: %d documents, expected 1" % (what, len(res.docs)),
                 res.raw):
        return
    d = res.docs[0]
    H.check_segment(d, name, res.t0, res.t1, what, nsubs=1 if get_port else None,
                    trace_root=incoming and H.parse_trace_header(incoming)["Root"],
                    parent_id=incoming and H.parse_trace_header(incoming)["Parent"])
    check(hdr.get("Root") == d.get("trace_id") and hdr.get("Parent") == d.get("id")
          and hdr.get("Sampled") == "1", "%s: xray_trace_header %r does not name the segment"
          % (what, lines.get("header")), d)
    if get_port:
        check(lines.get("get") == "200", "%s: the GET returned %s" % (what, lines.get("get")),
              res.describe())
        sub = (d.get("subsegments") or [{}])[0]
        url = "http://127.0.0.1:%d/ok" % get_port
        check(H.get(sub, "http", "request", "url") == url
              and H.get(sub, "http", "request", "method") == "GET"
              and H.get(sub, "http", "response", "status") == 200
              and sub.get("namespace") == "remote",
              "%s: the GET inside the segment must be its subsegment (GET %s -> 200)"
              % (what, url), d)
    else:
        check(not d.get("subsegments"), "%s: no call inside, yet subsegments" % what, d)


def t_api_weak():
    if not check(PREFIX is not None, "API program: the install scenario failed"):
        return
    flags = (pkg_config("--cflags") + " " + pkg_config("--libs")).split()
    exe = compile_api_prog("api_weak", flags)
    if not exe:
        return
    check(not any(n.startswith("libxray-auto") for n in needed(exe)),
          "weak-reference program must not need libxray-auto.so: %s" % needed(exe))
    lib = os.path.join(PREFIX, LIBDIR, "libxray-auto.so")
    srv = S.start_httpd()
    base = S.run([exe, "api-job", "", str(srv.port)], preload=False, httpd=srv)
    check(base.returncode == 0 and base.stdout == "libxray-auto: not loaded\nget 200\n",
          "without the preload the program must run and say so", base.describe())
    res = S.run([exe, "api-job", "", str(srv.port)], env={"LD_PRELOAD": lib},
                httpd=srv, expect_docs=1)
    check(res.returncode == 0 and res.stderr == "", "API program under the preload: exit %s"
          % res.returncode, res.describe())
    check(("mapped %s" % lib) in res.stdout.splitlines(), "the installed library is not mapped",
          res.describe())
    api_doc(res, "api-job", "xray_begin_segment/xray_end_segment", get_port=srv.port)
    inc = H.PROGRAM_TRACE_HEADER
    res = S.run([exe, "api-job-joined", inc], env={"LD_PRELOAD": lib}, expect_docs=1)
    api_doc(res, "api-job-joined", "xray_begin_segment with an incoming header", incoming=inc)


def t_api_linked():
    if not check(PREFIX is not None, "linked API program: the install scenario failed"):
        return
    libdir = os.path.join(PREFIX, LIBDIR)
    exe = compile_api_prog("api_linked", ["-DXR_LINKED", "-I%s/include" % PREFIX,
                                          "-L" + libdir, "-lxray-auto"])
    if not exe:
        return
    check("libxray-auto.so" in needed(exe), "-lxray-auto must add DT_NEEDED libxray-auto.so: %s"
          % needed(exe))
    lib = os.path.join(libdir, "libxray-auto.so")
    for pre, what in ((lib, "preload = the installed file"),
                      (S.lib, "preload = another copy (the build's)")):
        res = S.run([exe, "api-linked"], env={"LD_PRELOAD": pre}, expect_docs=1)
        maps = [ln.split(" ", 1)[1] for ln in res.stdout.splitlines() if ln.startswith("mapped ")]
        check(maps == [pre], "linked program, %s: mapped copies %s, expected only the preloaded "
              "%s (the DT_NEEDED entry matches its SONAME)" % (what, maps, pre), res.describe())
        api_doc(res, "api-linked", "linked program, " + what)
    res = S.run([exe, "api-linked"], preload=False)
    check(res.returncode == 127 and "libxray-auto.so" in res.stderr,
          "linked program without the preload, library outside the search path: expected the "
          "loader's error (exit 127)", res.describe())


def t_deb():
    cfg = os.path.join(S.build, "CPackConfig.cmake")
    out = S.path("deb")
    rc, log = sh(["cpack", "-G", "DEB", "--config", cfg, "-B", out], cwd=S.build,
                 env=S.base_env())
    debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
    if not check(rc == 0 and len(debs) == 1, "cpack -G DEB failed (exit %d)" % rc, log[-3000:]):
        return
    deb = os.path.join(out, debs[0])
    version = CACHE.get("CMAKE_PROJECT_VERSION")
    arch = subprocess.run(["dpkg", "--print-architecture"], stdout=subprocess.PIPE).stdout \
        .decode().strip()
    check(debs[0] == "libxray-auto_%s_%s.deb" % (version, arch), "file name %s" % debs[0])
    rc, info = sh(["dpkg-deb", "-I", deb])
    print(info.rstrip())
    fields, key = {}, None
    for line in info.splitlines():
        m = re.match(r"^ ([A-Z][A-Za-z-]+): ?(.*)$", line)
        if m:
            key = m.group(1)
            fields[key] = m.group(2)
        elif line.startswith("  ") and key:
            fields[key] += "\n" + line[2:]
    check(fields.get("Package") == "libxray-auto", "Package %r" % fields.get("Package"))
    check(fields.get("Version") == version, "Version %r, expected %r"
          % (fields.get("Version"), version))
    check(fields.get("Architecture") == arch, "Architecture %r" % fields.get("Architecture"))
    check(re.match(r"^.+ <[^@\s]+@[^>\s]+>$", fields.get("Maintainer", "")) is not None,
          "Maintainer %r: expected 'Name <address>'" % fields.get("Maintainer"))
    check(fields.get("Section") == "libs", "Section %r" % fields.get("Section"))
    deps = {}
    for d in (fields.get("Depends") or "").split(","):
        m = re.match(r"^\s*([a-z0-9.+-]+)\s*(\(>= [^)]+\))?\s*$", d)
        if check(m is not None, "Depends entry %r" % d):
            deps[m.group(1)] = m.group(2)
    check(set(deps) == {"libc6", "libcjson1"} and all(deps.values()),
          "Depends %r: expected libc6 and libcjson1, each with a minimum version"
          % fields.get("Depends"))
    desc = fields.get("Description", "").split("\n")
    check(len(desc) >= 3 and all(len(ln) <= 80 for ln in desc) and "LD_PRELOAD" in desc[0],
          "Description: a summary line and an extended description of lines <= 80 columns", desc)

    rc, listing = sh(["dpkg-deb", "-c", deb])
    entries = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and not parts[0].startswith("d"):
            entries[parts[5]] = (parts[0], parts[1])
    ma = multiarch()
    want = {"./usr/bin/xray-auto": "-rwxr-xr-x",
            "./usr/include/xray-auto.h": "-rw-r--r--",
            "./usr/lib/%s/libxray-auto.so" % ma: "-rw-r--r--",
            "./usr/lib/%s/pkgconfig/xray-auto.pc" % ma: "-rw-r--r--",
            "./usr/share/doc/libxray-auto/copyright": "-rw-r--r--"}
    check(set(entries) == set(want), "dpkg-deb -c: files %s, expected %s"
          % (sorted(entries), sorted(want)), listing)
    for path, mode in want.items():
        if path in entries:
            check(entries[path] == (mode, "root/root"), "%s: %s %s, expected %s root/root"
                  % (path, entries[path][0], entries[path][1], mode))

    root = S.path("deb-root")
    subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    with open(os.path.join(root, "usr/share/doc/libxray-auto/copyright")) as f:
        text = f.read()
    lic = CACHE.get("XRAY_AUTO_LICENSE")
    check(lic and re.search(r"^License: %s$" % re.escape(lic), text, re.M) is not None,
          "copyright file: no License: %s field" % lic, text)
    check(text.startswith("Format: https://www.debian.org/doc/packaging-manuals/"
                          "copyright-format/1.0/"), "copyright file: machine-readable format",
          text)
    v = pc_vars(os.path.join(root, "usr/lib", ma, "pkgconfig/xray-auto.pc"))
    check(v.get("prefix") == "/usr" and v.get("libdir") == "${exec_prefix}/lib/" + ma,
          "packaged .pc: prefix /usr and the multiarch libdir", v)
    so = os.path.join(root, "usr/lib", ma, "libxray-auto.so")
    rc, dyn = sh(["readelf", "-d", so])
    check("Library soname: [libxray-auto.so]" in dyn, "packaged library SONAME", dyn)
    rc, secs = sh(["readelf", "-S", so])
    check(".debug_info" not in secs and ".symtab" not in secs,
          "packaged library must be stripped (CPACK_STRIP_FILES)")
    # the packaged tool's launcher finds the packaged library: ../lib/<multiarch>/
    tool = os.path.join(root, "usr/bin/xray-auto")
    rc, out = sh([tool, "run", "--", "sh", "-c", 'grep -F "$0" /proc/$$/maps >/dev/null '
                  '&& echo mapped', so], env=S.base_env())
    check(rc == 0 and out.strip().endswith("mapped"), "packaged `xray-auto run` does not "
          "preload the packaged library: exit %d, %r" % (rc, out))


def main():
    global S
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    for prog in ("gcc", "pkg-config", "dpkg-deb", "cpack", "readelf"):
        if not H.which(prog):
            H.skip("%s is not installed" % prog)
    S = H.Session(sys.argv[1], "install")
    S.require_build()
    read_cache(S.build)
    t0 = time.monotonic()
    H.scenario("cmake --install --prefix", t_install_prefix)
    H.scenario("DESTDIR cmake --install --prefix /usr", t_install_destdir_usr)
    H.scenario("pkg-config", t_pkg_config)
    H.scenario("C API program, weak references (pkg-config --cflags --libs)", t_api_weak)
    H.scenario("C API program linked -lxray-auto", t_api_linked)
    H.scenario("Debian package (cpack -G DEB, dpkg-deb -I/-c)", t_deb)
    print("(%.1f s)" % (time.monotonic() - t0))
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
