#!/usr/bin/python3
"""Throw-away PostgreSQL and MariaDB servers for the integration tests (standard library only).

Command line (what the CTest fixtures fixture.pg.start/stop and fixture.mariadb.start/stop run):

    dbservers.py start  pg|mariadb STATE_DIR        exit 0: running, STATE_DIR/info.json written
                                                    exit 77: server not installed,
                                                             info.json is {"skip": reason}
                                                    exit 1: failed (reason and server
                                                            log tail printed)
    dbservers.py stop   pg|mariadb STATE_DIR        stops the server, kills leftovers, removes the
                                                    data; idempotent (exit 0 when nothing runs)
    dbservers.py status pg|mariadb STATE_DIR        exit 0 and prints info.json if it runs, else 3
    dbservers.py sql    pg|mariadb STATE_DIR SQL    runs SQL as the admin and prints the output

`start` wipes STATE_DIR first (a stale one from a killed run included: a server still running
there is stopped), runs initdb / mariadb-install-db into it and starts the server on a free
loopback TCP port plus a Unix socket inside STATE_DIR (or in a short /tmp directory when the
socket path would be too long, or STATE_DIR is not reachable by the server's OS user).
As root the servers run as an unprivileged OS user: PostgreSQL as `postgres` (it refuses root),
MariaDB with --user=root.

What a started server has:
    PostgreSQL: superuser `postgres` (pg_hba: Unix socket, trust), application role `xrapp`
                with a random password owning database `xrdb`; pg_hba asks xrapp for the
                password (scram-sha-256) on the socket and on 127.0.0.1/32.
    MariaDB:    admin = the OS user (root) through the Unix socket (unix_socket plugin);
                `xrapp`@`127.0.0.1`, @`localhost` and @`%` with a random password and all
                privileges on database `xrdb`.
    Both:       fsync off, small buffers; the server log is STATE_DIR/server.log (kept by stop).

info.json (an `Info`, a dict, in Python):
    engine    "pg" | "mariadb"
    host      "127.0.0.1"                     port     the TCP port (int)
    socket    PostgreSQL: the socket directory (libpq host=DIR); MariaDB: the socket file
    user      "xrapp"                         password the random password of xrapp
    database  "xrdb"
    admin_env environment for admin clients (PGHOST/PGPORT/PGUSER/PGDATABASE; MYSQL_UNIX_PORT)
    admin_cmd argv of an admin SQL shell (psql / mariadb) connected to xrdb, add -c/-e SQL
    and also: server_version (SHOW server_version / SELECT VERSION()), admin_user, pid,
    state_dir, runtime_dir, data_dir, log, bin_dir, owner ("fixture" or "process").

In a test script:

    import dbservers
    info = dbservers.ensure(build_dir, "pg")   # the fixture's server (<build>/dbstate/pg) if it
    if info is None:                           # runs, else one owned by this process (stopped at
        H.skip("PostgreSQL not installed")     # exit); None (reason printed): not installed
    info.conninfo()            # "host=127.0.0.1 port=N dbname=xrdb user=xrapp" (no password)
    info.conninfo(host=info["socket"], port=H.free_port(), password=True)
    info.uri(password=True)    # "postgresql://xrapp:PW@127.0.0.1:N/xrdb" (mysql://... for MariaDB)
    info.url(host="localhost") # "postgresql://localhost:N/xrdb": what sql.url must say
    info.client_env()          # {"PGPASSWORD": pw, "PGHOST": None, ...} for Session.run(env=)
                               # ({"MYSQL_PWD": pw, ...} for MariaDB); password=False removes it
    info.admin_sql("SHOW server_version")   # -> "15.18 (Debian ...)" (output, stripped)
    info["server_version"]     # the same, read at start
    info.connect_kwargs()      # MariaDB: dict(host, port, user, passwd, db) for MySQLdb.connect
    dbservers.pg_bin("psql")   # the real psql (not the postgresql-common wrapper)
    dbservers.mariadb_bin("mariadb")

Also public: start(engine, dir, owned=False) -> Info, stop(engine, dir), load(dir) -> Info,
running(info), absent_reason(engine), fixture_dir(build, engine); errors: DbServerError and
its subclass Absent (not installed).

Environment: XRAY_IT_DB_TIMEOUT (seconds, default 60) bounds the server's start;
XRAY_IT_DB_SKIP="pg mariadb" makes the named engines count as not installed (to exercise the
skip path); XR_PG_BINDIR picks the PostgreSQL server programs' directory.
"""

import atexit
import ctypes
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ENGINES = ("pg", "mariadb")
SKIP = 77
APP_USER = "xrapp"
APP_DB = "xrdb"
HOST = "127.0.0.1"
START_TIMEOUT = float(os.environ.get("XRAY_IT_DB_TIMEOUT", "60"))
# sun_path is 108 bytes with the NUL; PostgreSQL appends "/.s.PGSQL.NNNNN" (+ ".lock").
_SUN_PATH_MAX = 107
_PG_SOCK_SUFFIX = len("/.s.PGSQL.65535.lock")
_MY_SOCK_NAME = "mysqld.sock"
_LOG_TAIL = 40

# Variables of the caller's environment that would redirect the servers or the admin clients.
_ENV_DROP_PREFIXES = ("PG", "MYSQL", "MARIADB", "LD_PRELOAD", "LD_AUDIT", "XRAY_AUTO_",
                      "AWS_XRAY_", "_X_AMZN_TRACE_ID")


class DbServerError(Exception):
    """The server could not be set up or started; the message says why (with the log tail)."""


class Absent(DbServerError):
    """The server software is not installed: the test should be skipped (exit 77)."""


# ---------------------------------------------------------------------------------------------
# finding the programs
# ---------------------------------------------------------------------------------------------
def _version_key(path):
    m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/", path)
    return (int(m.group(1)), int(m.group(2) or 0)) if m else (0, 0)


def pg_bindir():
    """Directory holding the PostgreSQL server programs (newest Debian version first, then
    XR_PG_BINDIR, then PATH), or None."""
    env = os.environ.get("XR_PG_BINDIR")
    if env and os.access(os.path.join(env, "postgres"), os.X_OK):
        return env
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key,
                   reverse=True)
    cands += glob.glob("/usr/pgsql-*/bin/postgres") + glob.glob("/usr/local/pgsql/bin/postgres")
    for c in cands:
        if os.access(c, os.X_OK) and os.access(os.path.join(os.path.dirname(c), "initdb"),
                                               os.X_OK):
            return os.path.dirname(c)
    p = shutil.which("postgres")
    if p and shutil.which("initdb", path=os.path.dirname(p)):
        return os.path.dirname(os.path.realpath(p))
    return None


def pg_bin(name):
    """Path of a PostgreSQL program (psql, pgbench, pg_isready, ...): the one next to the server
    (so /usr/lib/postgresql/15/bin/psql, not the postgresql-common Perl wrapper), else PATH."""
    d = pg_bindir()
    if d and os.access(os.path.join(d, name), os.X_OK):
        return os.path.join(d, name)
    return shutil.which(name)


def mariadb_bin(name):
    """Path of a MariaDB program; `name` may be "mariadbd", "mariadb", "mariadb-install-db",
    "mariadb-admin" (the mysql* aliases are tried too)."""
    alias = {"mariadbd": ["mariadbd", "mysqld"], "mariadb": ["mariadb", "mysql"],
             "mariadb-install-db": ["mariadb-install-db", "mysql_install_db"],
             "mariadb-admin": ["mariadb-admin", "mysqladmin"]}.get(name, [name])
    path = os.environ.get("PATH", "") + ":/usr/sbin:/usr/libexec:/usr/bin:/sbin:/bin"
    for n in alias:
        p = shutil.which(n, path=path)
        if p:
            return p
    return None


def _server_os_user(engine):
    """(name, uid, gid) the server runs as; None = as ourselves."""
    if os.geteuid() != 0 or engine == "mariadb":
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            continue
        return (name, pw.pw_uid, pw.pw_gid)
    raise Absent("running as root and no `postgres` OS user to run PostgreSQL as")


def absent_reason(engine):
    """Why the server for `engine` cannot run here (not installed), or None."""
    if engine in os.environ.get("XRAY_IT_DB_SKIP", "").replace(",", " ").split():
        return "%s disabled by XRAY_IT_DB_SKIP" % engine
    if engine == "pg":
        d = pg_bindir()
        if d is None:
            return ("PostgreSQL server not installed (no postgres + initdb in "
                    "/usr/lib/postgresql/*/bin or PATH; package postgresql)")
        for n in ("psql", "pg_isready"):
            if not pg_bin(n):
                return "PostgreSQL client program %s not found" % n
        if os.geteuid() == 0:
            try:
                _server_os_user(engine)
            except Absent as e:
                return str(e)
        return None
    if engine == "mariadb":
        for n in ("mariadbd", "mariadb-install-db", "mariadb"):
            if not mariadb_bin(n):
                return "MariaDB %s not installed (package mariadb-server / mariadb-client)" % n
        try:
            v = subprocess.run([mariadb_bin("mariadbd"), "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30).stdout.decode("utf-8",
                                                                                   "replace")
        except (OSError, subprocess.SubprocessError) as e:
            return "cannot run mariadbd --version: %s" % e
        if "mariadb" not in v.lower():
            return "the installed mysqld is not MariaDB (%s)" % v.strip()
        return None
    raise ValueError("unknown engine %r (pg or mariadb)" % engine)


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------
def _stat(pid):
    """(state, ppid, starttime) of a process, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    try:
        return rest[0], int(rest[1]), int(rest[19])
    except (IndexError, ValueError):
        return None


def _alive(pid, starttime=None):
    st = _stat(pid) if pid else None
    if st is None or st[0] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _all_pids():
    out = []
    for n in os.listdir("/proc"):
        if n.isdigit():
            out.append(int(n))
    return out


def _descendants(pid):
    """(pid, starttime) of every process below pid."""
    kids = {}
    for p in _all_pids():
        st = _stat(p)
        if st is not None:
            kids.setdefault(st[1], []).append((p, st[2]))
    out, todo = [], [pid]
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c[0])
    return out


_SERVER_PROGRAMS = {"postgres", "postmaster", "initdb", "pg_ctl", "mariadbd", "mysqld",
                    "mariadbd-safe", "mysqld_safe", "mariadb-install-db", "mysql_install_db"}


def _mentions(pid, dirs):
    """Is pid a database server program started with one of our directories?"""
    args = _cmdline(pid)
    try:
        exe = os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        exe = ""
    # (mariadb-install-db is a shell script: its name is the shell's first argument)
    if exe not in _SERVER_PROGRAMS and not any(os.path.basename(a) in _SERVER_PROGRAMS
                                               for a in args[:2]):
        return False
    for a in args:
        for d in dirs:
            if a == d or d + "/" in a:
                return True
    return False


def _kill(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass


def _wait_gone(procs, timeout):
    deadline = time.monotonic() + timeout
    while True:
        for p, _ in procs:
            _reap(p)
        left = [(p, s) for p, s in procs if _alive(p, s)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _preexec(os_user=None, deathsig=None, new_session=False):
    """Runs in the child before exec: own session, drop to the server's OS user, and (for a
    server owned by a test process) die with the parent."""
    libc = _libc()

    def fn():
        if new_session:
            os.setsid()
        if os_user is not None:
            _, uid, gid = os_user
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        if deathsig and libc is not None:
            libc.prctl(1, int(deathsig))  # PR_SET_PDEATHSIG, after the uid change
    return fn


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_ENV_DROP_PREFIXES)}
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    env.pop("LANGUAGE", None)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _run(cmd, log_path=None, os_user=None, env=None, cwd=None, timeout=120, input_text=None):
    """Runs a setup command; returns (rc, output).  Output also goes to log_path."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           input=input_text.encode() if input_text is not None else None,
                           stdin=None if input_text is not None else subprocess.DEVNULL,
                           env=_clean_env(env), cwd=cwd, timeout=timeout,
                           preexec_fn=_preexec(os_user))
        out = p.stdout.decode("utf-8", "replace")
        rc = p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out after %ss)" % timeout
        rc = -1
    except OSError as e:
        out, rc = "cannot run %s: %s" % (cmd[0], e), -1
    if log_path:
        with open(log_path, "a", encoding="utf-8") as f:
            f.write("$ %s\n%s\n" % (" ".join(cmd), out))
    return rc, out


def _tail(path, n=_LOG_TAIL):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return "(no log at %s)" % path
    return "\n".join(lines[-n:])


def _fail(msg, log_path):
    return DbServerError("%s\n--- last lines of %s ---\n%s\n--- end of log ---"
                         % (msg, log_path, _tail(log_path)))


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _tcp_ok(port, timeout=0.5):
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def _mariadb_handshake(port, timeout=1.0):
    """True when the server on port sends a MySQL protocol-10 greeting (not an error packet
    such as 'Host is blocked' or a not-yet-ready server)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while len(data) < 5:
                chunk = s.recv(256)
                if not chunk:
                    return False
                data += chunk
            return data[4] == 10
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# STATE_DIR
# ---------------------------------------------------------------------------------------------
def _paths(state_dir):
    return {"info": os.path.join(state_dir, "info.json"),
            "pid": os.path.join(state_dir, "server.json"),
            "log": os.path.join(state_dir, "server.log"),
            "setup_log": os.path.join(state_dir, "setup.log")}


def _write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o600)  # holds the password
    os.replace(tmp, path)


def _read_json(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _reachable_by(os_user, path):
    """Can the server's OS user create files in path?"""
    if os_user is None:
        return True
    rc, _ = _run(["/bin/sh", "-c", 'test -d "$0" && test -w "$0" && test -x "$0"', path],
                 os_user=os_user, timeout=30)
    return rc == 0


def _runtime_dir(state_dir, engine, os_user, need):
    """Where data and socket live: STATE_DIR itself, or a short private /tmp directory when the
    socket path would not fit in sun_path or the server's user cannot reach STATE_DIR."""
    rt = state_dir
    if len(os.path.join(rt, "run")) + need <= _SUN_PATH_MAX:
        if os_user is None:
            return rt, False
        os.chown(rt, os_user[1], os_user[2])
        if _reachable_by(os_user, rt):
            return rt, False
    rt = tempfile.mkdtemp(prefix="xrdb-%s-" % engine)
    os.chmod(rt, 0o755)
    if os_user is not None:
        os.chown(rt, os_user[1], os_user[2])
        if not _reachable_by(os_user, rt):
            shutil.rmtree(rt, ignore_errors=True)
            raise DbServerError("the %s OS user cannot write to %s nor to a /tmp directory"
                                % (os_user[0], state_dir))
    return rt, True


# ---------------------------------------------------------------------------------------------
# Info
# ---------------------------------------------------------------------------------------------
_PG_CLIENT_VARS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD",
                   "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE",
                   "PGREQUIRESSL", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS", "PGAPPNAME")
_MY_CLIENT_VARS = ("MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_UNIX_PORT", "MYSQL_PWD", "MYSQL_HOME",
                   "MARIADB_HOME")


class Info(dict):
    """info.json of a running server, with helpers.  A plain dict otherwise."""

    @property
    def engine(self):
        return self["engine"]

    def conninfo(self, host=None, port=None, password=False, database=None, user=None,
                 **extra):
        """PostgreSQL keyword/value conninfo for xrapp on xrdb: host defaults to 127.0.0.1
        (pass info["socket"] for the Unix socket), port/database/user to the server's;
        password=True puts the password in (else give it with client_env()).
        extra: more keywords (application_name=..., connect_timeout=...)."""
        parts = [("host", host or self["host"]), ("port", str(port or self["port"])),
                 ("dbname", database or self["database"]), ("user", user or self["user"])]
        if password:
            parts.append(("password", self["password"]))
        parts += [(k, str(v)) for k, v in extra.items()]
        return " ".join("%s=%s" % (k, _conn_quote(v)) for k, v in parts)

    def uri(self, host=None, port=None, password=False):
        """postgresql://xrapp[:password]@127.0.0.1:N/xrdb (or mysql://...)."""
        scheme = "postgresql" if self.engine == "pg" else "mysql"
        cred = self["user"] + (":" + self["password"] if password else "")
        return "%s://%s@%s:%d/%s" % (scheme, cred, host or self["host"], port or self["port"],
                                     self["database"])

    def url(self, host=None, port=None, database=None):
        """What the subsegment's sql.url must be: scheme://host:port/db, no user, no password."""
        scheme = "postgresql" if self.engine == "pg" else "mysql"
        return "%s://%s:%d/%s" % (scheme, host or self["host"], port or self["port"],
                                  self["database"] if database is None else database)

    def client_env(self, password=True):
        """Environment for a client connecting as xrapp, in harness.Session.run's form (value
        None removes a variable): the password variable (PGPASSWORD or MYSQL_PWD) with
        password=True, else removed; the caller's PGHOST/PGPORT/... (MYSQL_HOST/...) removed
        so that only what the test passes counts."""
        if self.engine == "pg":
            env = {k: None for k in _PG_CLIENT_VARS}
            env["PGPASSWORD"] = self["password"] if password else None
        else:
            env = {k: None for k in _MY_CLIENT_VARS}
            env["MYSQL_PWD"] = self["password"] if password else None
        return env

    def connect_kwargs(self, host=None):
        """MariaDB: keyword arguments for MySQLdb.connect() as xrapp on xrdb over TCP."""
        return {"host": host or self["host"], "port": self["port"], "user": self["user"],
                "passwd": self["password"], "db": self["database"]}

    def admin_sql(self, sql, timeout=60):
        """Runs SQL as the admin (superuser / root) in xrdb; returns its output stripped
        (unaligned, no headers: one row per line, columns tab-separated)."""
        if self.engine == "pg":
            cmd = self["admin_cmd"] + ["-q", "-A", "-t", "-F", "\t", "-c", sql]
        else:
            cmd = self["admin_cmd"] + ["-N", "-B", "-e", sql]
        rc, out = _run(cmd, env=self["admin_env"], timeout=timeout)
        if rc != 0:
            raise DbServerError("admin SQL failed (exit %s): %s\n%s" % (rc, sql, out))
        return out.strip()

    def server_version(self):
        """PostgreSQL: SHOW server_version; MariaDB: SELECT VERSION()."""
        return self.admin_sql("SHOW server_version" if self.engine == "pg" else
                              "SELECT VERSION()")

    def running(self):
        return running(self)


def _conn_quote(v):
    if v and not re.search(r"[\s'\\]", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


def load(state_dir):
    """The Info of STATE_DIR/info.json ({"skip": ...} included), or None."""
    d = _read_json(_paths(state_dir)["info"])
    return Info(d) if isinstance(d, dict) else None


def running(info):
    """Is the server described by info (an Info or the dict of info.json) up?"""
    if not info or "skip" in info or "pid" not in info:
        return False
    if not _alive(info["pid"], info.get("pid_starttime")):
        return False
    if info.get("engine") == "mariadb":
        return _mariadb_handshake(info["port"])
    return _tcp_ok(info["port"])


# ---------------------------------------------------------------------------------------------
# start / stop
# ---------------------------------------------------------------------------------------------
def stop(engine, state_dir, quiet=False):
    """Stops the server of STATE_DIR (and whatever else still runs from it), removes the data
    and info.json; keeps server.log.  Safe to call when nothing runs."""
    state_dir = os.path.abspath(state_dir)
    p = _paths(state_dir)
    rec = _read_json(p["pid"]) or {}
    dirs = [d for d in {state_dir, rec.get("runtime_dir")} if d]
    victims = []
    pid, start_t = rec.get("pid"), rec.get("pid_starttime")
    if pid and _alive(pid, start_t):
        victims = [(pid, start_t)] + _descendants(pid)
        # PostgreSQL: SIGINT = fast shutdown (SIGTERM would wait for clients); MariaDB: SIGTERM.
        _kill(pid, signal.SIGINT if engine == "pg" else signal.SIGTERM)
        left = _wait_gone([(pid, start_t)], 20.0)
        if left and not quiet:
            print("dbservers: %s server pid %d did not stop in 20 s: SIGKILL" % (engine, pid))
    # leftovers: the server's children, anything started from our directories (bootstrap
    # servers of an interrupted initdb / install-db, a server started by hand)
    for q in _all_pids():
        if q != os.getpid() and _mentions(q, dirs):
            st = _stat(q)
            if st is not None:
                victims.append((q, st[2]))
    for q, s in victims:
        if _alive(q, s):
            _kill(q, signal.SIGKILL)
    left = _wait_gone(victims, 10.0)
    if left and not quiet:
        print("dbservers: processes still alive after SIGKILL: %s" % [q for q, _ in left])
    rt = rec.get("runtime_dir")
    if rt and os.path.abspath(rt) != state_dir and os.path.basename(rt).startswith("xrdb-"):
        shutil.rmtree(rt, ignore_errors=True)
    for name in ("data", "run", "tmp"):
        shutil.rmtree(os.path.join(state_dir, name), ignore_errors=True)
    for f in (p["info"], p["pid"], p["info"] + ".tmp"):
        try:
            os.unlink(f)
        except OSError:
            pass
    return not left


def _wipe(engine, state_dir):
    """A fresh STATE_DIR: whatever a previous (possibly killed) run left is stopped and removed."""
    if os.path.isdir(state_dir):
        stop(engine, state_dir, quiet=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        if os.path.exists(state_dir):
            # something we cannot remove (a mount?): empty what we can
            for n in os.listdir(state_dir):
                q = os.path.join(state_dir, n)
                shutil.rmtree(q, ignore_errors=True) if os.path.isdir(q) else os.unlink(q)
    os.makedirs(state_dir, exist_ok=True)
    os.chmod(state_dir, 0o755)


def start(engine, state_dir, owned=False, timeout=None):
    """Creates and starts a server in STATE_DIR; returns its Info (also written to info.json).

    owned=False: the server is a daemon (its own session) that outlives this process (the
    CTest fixture); owned=True: it is a child of this process and dies with it (PDEATHSIG).
    Raises Absent when the software is not installed, DbServerError on failure (the server is
    stopped and the message holds the log tail)."""
    if engine not in ENGINES:
        raise ValueError("unknown engine %r (pg or mariadb)" % engine)
    state_dir = os.path.abspath(state_dir)
    why = absent_reason(engine)
    if why:
        raise Absent(why)
    timeout = START_TIMEOUT if timeout is None else timeout
    _wipe(engine, state_dir)
    last = None
    for attempt in range(3):
        try:
            if engine == "pg":
                info = _start_pg(state_dir, owned, timeout)
            else:
                info = _start_mariadb(state_dir, owned, timeout)
            info["owner"] = "process" if owned else "fixture"
            _write_json(_paths(state_dir)["info"], dict(info))
            return info
        except _PortTaken as e:
            # another process took the free port between probe and bind: try another one
            last = e
            stop(engine, state_dir, quiet=True)
            _wipe(engine, state_dir)
        except BaseException:
            stop(engine, state_dir, quiet=True)
            raise
    raise DbServerError("could not bind a free port in 3 attempts: %s" % last)


class _PortTaken(DbServerError):
    pass


def _spawn(cmd, state_dir, log_path, rt, owned, os_user, deathsig, env=None):
    logf = open(log_path, "ab")
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                cwd=rt, env=_clean_env(env), close_fds=True,
                                preexec_fn=_preexec(os_user, deathsig if owned else None,
                                                    new_session=True))
    finally:
        logf.close()
    st = _stat(proc.pid)
    rec = {"pid": proc.pid, "pid_starttime": st[2] if st else None, "runtime_dir": rt,
           "cmd": cmd}
    _write_json(_paths(state_dir)["pid"], rec)
    if owned:
        _OWNED_PROCS.append(proc)  # keep the Popen: reaped at stop, no zombie
    return proc, rec


_OWNED_PROCS = []


def _wait_ready(proc, what, log_path, timeout, ready):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = _tail(log_path)
            if re.search(r"[Aa]ddress already in use|Can't start server: Bind", text):
                raise _PortTaken("%s: port in use" % what)
            raise _fail("%s exited with status %s before it was ready" % (what, proc.returncode),
                        log_path)
        if ready():
            return
        if time.monotonic() >= deadline:
            raise _fail("%s was not ready within %.0f s (XRAY_IT_DB_TIMEOUT)" % (what, timeout),
                        log_path)
        time.sleep(0.05)


def _pg_ready_file(data_dir):
    """postmaster.pid's status line says "ready" once connections are accepted."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid"), "r") as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _start_pg(state_dir, owned, timeout):
    paths = _paths(state_dir)
    bindir = pg_bindir()
    os_user = _server_os_user("pg")
    rt, _ = _runtime_dir(state_dir, "pg", os_user, _PG_SOCK_SUFFIX)
    data, run = os.path.join(rt, "data"), os.path.join(rt, "run")
    for d in (data, run):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o700 if d == data else 0o755)
        if os_user is not None:
            os.chown(d, os_user[1], os_user[2])
    for f in (paths["log"], paths["setup_log"]):
        open(f, "w").close()
        if os_user is not None:
            os.chown(f, os_user[1], os_user[2])
    admin = "postgres"
    rc, out = _run([os.path.join(bindir, "initdb"), "-D", data, "-U", admin, "-E", "UTF8",
                    "--locale=C", "-A", "trust", "--no-sync", "--no-instructions"],
                   log_path=paths["setup_log"], os_user=os_user, env={"HOME": rt}, cwd=rt)
    if rc != 0:
        raise _fail("initdb failed (exit %s)" % rc, paths["setup_log"])
    with open(os.path.join(data, "pg_hba.conf"), "w") as f:
        f.write("# written by tests/integration/dbservers.py\n"
                "local  all  %s                 trust\n"
                "local  all  all                 scram-sha-256\n"
                "host   all  all  127.0.0.1/32   scram-sha-256\n" % admin)
    conf = {
        "listen_addresses": "'%s'" % HOST,
        "unix_socket_directories": "'%s'" % run.replace("'", "''"),
        "unix_socket_permissions": "0777",
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "wal_level": "minimal", "max_wal_senders": "0",
        "shared_buffers": "16MB", "max_connections": "50",
        "dynamic_shared_memory_type": "mmap",  # in the data dir: wiped with it
        "password_encryption": "'scram-sha-256'",
        "logging_collector": "off", "log_destination": "'stderr'",
        "log_min_messages": "warning",
    }
    with open(os.path.join(data, "postgresql.conf"), "a") as f:
        f.write("\n# tests/integration/dbservers.py\n")
        for k, v in conf.items():
            f.write("%s = %s\n" % (k, v))
    port = _free_port()
    proc, rec = _spawn([os.path.join(bindir, "postgres"), "-D", data, "-p", str(port)],
                       state_dir, paths["log"], rt, owned, os_user, signal.SIGINT,
                       env={"HOME": rt})
    isready = pg_bin("pg_isready")

    def ready():
        if not _pg_ready_file(data) or not _tcp_ok(port):
            return False
        return subprocess.run([isready, "-q", "-h", run, "-p", str(port), "-t", "2"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=_clean_env()).returncode == 0

    _wait_ready(proc, "PostgreSQL (postgres -D %s -p %d)" % (data, port), paths["log"],
                timeout, ready)
    password = "xrpw" + secrets.token_hex(12)
    psql = pg_bin("psql")
    admin_env = {"PGHOST": run, "PGPORT": str(port), "PGUSER": admin, "PGDATABASE": APP_DB}
    base = [psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", run, "-p", str(port), "-U", admin]
    rc, out = _run(base + ["-d", "postgres", "-q",
                           "-c", "CREATE ROLE %s LOGIN PASSWORD '%s'" % (APP_USER, password),
                           "-c", "CREATE DATABASE %s OWNER %s" % (APP_DB, APP_USER)],
                   log_path=None, env={"PGPASSWORD": None})
    if rc != 0:
        raise _fail("creating role %s / database %s failed: %s" % (APP_USER, APP_DB, out),
                    paths["log"])
    info = Info({
        "engine": "pg", "host": HOST, "port": port, "socket": run, "user": APP_USER,
        "password": password, "database": APP_DB,
        "admin_env": admin_env, "admin_cmd": base + ["-d", APP_DB],
        "admin_user": admin, "pid": rec["pid"], "pid_starttime": rec["pid_starttime"],
        "state_dir": state_dir, "runtime_dir": rt, "data_dir": data, "log": paths["log"],
        "bin_dir": bindir,
    })
    info["server_version"] = info.server_version()
    return info


def _start_mariadb(state_dir, owned, timeout):
    paths = _paths(state_dir)
    root = os.geteuid() == 0
    rt, _ = _runtime_dir(state_dir, "mariadb", None, len("/" + _MY_SOCK_NAME))
    data, run, tmp = (os.path.join(rt, n) for n in ("data", "run", "tmp"))
    for d in (data, run, tmp):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755 if d == run else 0o700)
    for f in (paths["log"], paths["setup_log"]):
        open(f, "w").close()
    sock = os.path.join(run, _MY_SOCK_NAME)
    user_opt = ["--user=root"] if root else []
    admin = "root" if root else pwd.getpwuid(os.geteuid()).pw_name
    common = ["--skip-name-resolve", "--innodb-buffer-pool-size=16M",
              "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=0",
              "--innodb-doublewrite=0", "--innodb-use-native-aio=0", "--tmpdir=" + tmp,
              "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"]
    rc, out = _run([mariadb_bin("mariadb-install-db"), "--no-defaults", "--datadir=" + data,
                    "--auth-root-authentication-method=socket", "--skip-test-db"]
                   + user_opt + common,
                   log_path=paths["setup_log"], env={"HOME": rt}, cwd=rt, timeout=180)
    if rc != 0:
        raise _fail("mariadb-install-db failed (exit %s)" % rc, paths["setup_log"])
    port = _free_port()
    cmd = [mariadb_bin("mariadbd"), "--no-defaults", "--datadir=" + data, "--socket=" + sock,
           "--port=%d" % port, "--bind-address=" + HOST,
           "--pid-file=" + os.path.join(rt, "mariadbd.pid"),
           "--log-error=" + paths["log"], "--max-connections=100", "--skip-log-bin",
           "--performance-schema=OFF", "--loose-skip-feedback"] + user_opt + common
    proc, rec = _spawn(cmd, state_dir, paths["log"], rt, owned, None, signal.SIGTERM,
                       env={"HOME": rt})

    client = mariadb_bin("mariadb")
    base = [client, "--no-defaults", "--socket=" + sock, "--user=" + admin]

    def ready():
        # TCP answers "Host '127.0.0.1' is not allowed" until xrapp exists: ask the socket
        if not os.path.exists(sock) or "ready for connections" not in _tail(paths["log"], 200):
            return False
        return subprocess.run(base + ["-N", "-B", "-e", "SELECT 1"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=_clean_env(), timeout=30).returncode == 0

    _wait_ready(proc, "MariaDB (mariadbd --port=%d)" % port, paths["log"], timeout, ready)
    password = "xrpw" + secrets.token_hex(12)
    hosts = ["127.0.0.1", "localhost", "%"]
    sql = ["DELETE FROM mysql.global_priv WHERE User = ''",  # anonymous accounts, if any
           "FLUSH PRIVILEGES",
           "CREATE DATABASE %s" % APP_DB]
    for h in hosts:
        sql.append("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (APP_USER, h, password))
        sql.append("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s'" % (APP_DB, APP_USER, h))
    rc, out = _run(base + ["-e", ";\n".join(sql)], env={"MYSQL_PWD": None})
    if rc != 0:
        raise _fail("creating user %s / database %s failed: %s" % (APP_USER, APP_DB, out),
                    paths["log"])
    deadline = time.monotonic() + 10
    while not _mariadb_handshake(port):
        if time.monotonic() > deadline:
            raise _fail("MariaDB does not greet on %s:%d" % (HOST, port), paths["log"])
        time.sleep(0.1)
    info = Info({
        "engine": "mariadb", "host": HOST, "port": port, "socket": sock, "user": APP_USER,
        "password": password, "database": APP_DB,
        "admin_env": {"MYSQL_UNIX_PORT": sock, "MYSQL_TCP_PORT": str(port)},
        "admin_cmd": base + [APP_DB],
        "admin_user": admin, "pid": rec["pid"], "pid_starttime": rec["pid_starttime"],
        "state_dir": state_dir, "runtime_dir": rt, "data_dir": data, "log": paths["log"],
        "bin_dir": os.path.dirname(mariadb_bin("mariadbd")),
    })
    info["server_version"] = info.server_version()
    return info


# ---------------------------------------------------------------------------------------------
# ensure(): for test scripts
# ---------------------------------------------------------------------------------------------
_ENSURED = {}


def fixture_dir(build_dir, engine):
    """STATE_DIR of the CTest fixture: <build>/dbstate/<engine>."""
    return os.path.join(os.path.abspath(build_dir), "dbstate", engine)


def ensure(build_dir, engine):
    """The server a test uses: the CTest fixture's (<build>/dbstate/<engine>) when it runs, else
    one started now in a temp directory, owned by this process and stopped at exit (also on
    SIGTERM/SIGINT, and by PDEATHSIG if the process is killed).  Returns its Info, or None
    after printing why when the server software is not installed (the test then exits 77).
    Raises DbServerError when the server is installed but does not start."""
    if engine in _ENSURED:
        return _ENSURED[engine]
    info = load(fixture_dir(build_dir, engine))
    if info is not None and "skip" not in info and running(info):
        print("dbservers: using the fixture's %s server on port %d" % (engine, info["port"]))
        _ENSURED[engine] = info
        return info
    why = absent_reason(engine)
    if why:
        print("dbservers: %s" % why)
        return None
    _sweep_own_dirs()
    tmp = tempfile.mkdtemp(prefix="xrdb-own-%s-" % engine)
    os.chmod(tmp, 0o755)

    def cleanup():
        stop(engine, tmp, quiet=True)
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
            signal.signal(sig, _exit_on_signal)
    t0 = time.monotonic()
    info = start(engine, tmp, owned=True)
    print("dbservers: started a %s server for this process on port %d (%.1f s)"
          % (engine, info["port"], time.monotonic() - t0))
    _ENSURED[engine] = info
    return info


def _sweep_own_dirs(min_age=120.0):
    """Removes the temp STATE_DIRs of ensure() calls in processes that were killed (SIGKILL
    leaves them behind; their servers died with them by PDEATHSIG)."""
    now = time.time()
    for d in glob.glob(os.path.join(tempfile.gettempdir(), "xrdb-own-*")):
        rec = _read_json(os.path.join(d, "server.json"))
        try:
            old = now - os.stat(d).st_mtime > min_age
        except OSError:
            continue
        if old and rec and not _alive(rec.get("pid"), rec.get("pid_starttime")):
            engine = "pg" if os.path.basename(d).startswith("xrdb-own-pg-") else "mariadb"
            stop(engine, d, quiet=True)
            shutil.rmtree(d, ignore_errors=True)


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(argv):
    if len(argv) < 4 or argv[1] not in ("start", "stop", "status", "sql") \
            or argv[2] not in ENGINES or (argv[1] == "sql") != (len(argv) == 5):
        print("\n\n".join(__doc__.split("\n\n")[1:3]))
        return 2
    cmd, engine, state_dir = argv[1], argv[2], os.path.abspath(argv[3])
    if cmd == "start":
        t0 = time.monotonic()
        try:
            info = start(engine, state_dir)
        except Absent as e:
            os.makedirs(state_dir, exist_ok=True)
            _write_json(_paths(state_dir)["info"], {"skip": str(e)})
            print("SKIP: %s" % e)
            return SKIP
        except DbServerError as e:
            print("dbservers: starting %s in %s failed: %s" % (engine, state_dir, e))
            return 1
        print("dbservers: %s %s ready on %s:%d, socket %s (%.1f s); info: %s"
              % (engine, info["server_version"], info["host"], info["port"], info["socket"],
                 time.monotonic() - t0, _paths(state_dir)["info"]))
        return 0
    if cmd == "stop":
        ok = stop(engine, state_dir)
        print("dbservers: %s in %s stopped" % (engine, state_dir))
        return 0 if ok else 1
    info = load(state_dir)
    if cmd == "status":
        if info is not None and running(info):
            print(json.dumps({k: v for k, v in info.items() if k != "password"}, indent=1,
                             sort_keys=True))
            return 0
        print("dbservers: no %s server running in %s" % (engine, state_dir))
        return 3
    if info is None or not running(info):
        print("dbservers: no %s server running in %s" % (engine, state_dir))
        return 3
    try:
        print(info.admin_sql(argv[4]))
    except DbServerError as e:
        print(e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
