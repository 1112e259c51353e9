#!/usr/bin/python3
"""Integration test: ordinary Python DB-API programs (examples/db_psycopg2.py,
examples/db_mysqldb.py) run by /usr/bin/python3 under libxray-auto.so.

psycopg2 and MySQLdb load libpq / libmariadb as DT_NEEDED of their extension modules, which
Python dlopen()s with RTLD_LOCAL: the scripts must be traced without any change.  Both drivers
interpolate the %s parameters client-side, so the literals travel inside the SQL text and must
become '?'.  Checked: every statement the driver really sends (psycopg2's own BEGIN / COMMIT /
ROLLBACK, MySQLdb's SET autocommit / COMMIT / ROLLBACK) is one subsegment, sanitized, with the
connection facts; the missing-table error is recorded; the output is the same as without the
preload.  A half whose server (or driver module) is absent is skipped with the reason printed.

Usage: test_python_db.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: neither server available)
"""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = H.PYTHON
PROGRAM = "python3"  # the segment name: the program's short name
HOST = "127.0.0.1"

# What psycopg2 2.9 sends for db_psycopg2.py (default isolation, autocommit off): it opens a
# transaction with BEGIN before the first statement and after COMMIT / ROLLBACK.
PG_STATEMENTS = [
    ("connect", None),
    ("query", "BEGIN"),
    ("query", "CREATE TEMP TABLE xr_items ( id integer PRIMARY KEY, name text NOT NULL,"
              " qty integer NOT NULL, price numeric(?, ?))"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, NULL)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),  # --extra
    ("query", "SELECT id, name, qty, price FROM xr_items WHERE qty >= ? ORDER BY id"),
    ("query", "SELECT count(*), sum(qty) FROM xr_items"),
    ("query", "COMMIT"),
    ("query", "BEGIN"),
    ("query", "SELECT name FROM xr_missing_table WHERE id = ?"),
    ("query", "ROLLBACK"),
]
PG_ERROR_AT = 11  # index in PG_STATEMENTS

# What MySQLdb 1.4 sends for db_mysqldb.py: Connection() turns autocommit off (PEP 249) with
# mysql_autocommit(), which libmariadb implements as the statement "SET autocommit=0";
# commit()/rollback() are mysql_commit()/mysql_rollback(): "COMMIT" / "ROLLBACK".
MY_STATEMENTS = [
    ("connect", None),
    ("query", "SET autocommit=?"),
    ("query", "CREATE TEMPORARY TABLE xr_items ( id INT PRIMARY KEY, name VARCHAR(?) NOT NULL,"
              " qty INT NOT NULL, price DECIMAL(?, ?))"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, NULL)"),
    ("query", "INSERT INTO xr_items (id, name, qty, price) VALUES (?, ?, ?, ?)"),  # --extra
    ("query", "SELECT id, name, qty, price FROM xr_items WHERE qty >= ? ORDER BY id"),
    ("query", "SELECT COUNT(*), SUM(qty) FROM xr_items"),
    ("query", "COMMIT"),
    ("query", "SELECT name FROM xr_missing_table WHERE id = ?"),
    ("query", "ROLLBACK"),
]
MY_ERROR_AT = 10

# Values the scripts pass as %s parameters (and --extra): none may be recorded.
PARAM_LITERALS = ["apple", "pear", "cherry", "0.50", "1.25", "9.99", "42"]
EXTRA_NAME = "xrextra" + os.urandom(4).hex()
EXTRA_QTY = "73519"

EXPECTED_OUTPUT = """inserted 4 rows
row 1 'apple' qty=3 price=0.50
row 2 "it's a pear" qty=7 price=1.25
row 3 'cherry' qty=100 price=None
row 4 '%s' qty=%s price=9.99
count=4 sum=%d
committed
error %s
rolled back
done
"""


def module_missing(mod):
    """Why /usr/bin/python3 cannot import mod, or None."""
    p = subprocess.run([PY, "-c", "import " + mod], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode == 0:
        return None
    return "%s cannot import %s: %s" % (PY, mod, p.stdout.decode("utf-8", "replace").strip()
                                        .splitlines()[-1:])


def without_extra(statements):
    """The statements of a run without --extra (one INSERT less)."""
    out = list(statements)
    out.pop(6)
    return out


def verify(res, info, statements, error_at, error_type, error_msg, stack_re, what, host=HOST,
           url=None, extra=True):
    if not extra:
        statements = without_extra(statements)
        error_at -= 1
    recs = D.call_records(res, PROGRAM, len(statements), what)
    got = list(zip(D.operations(recs), D.queries(recs)))
    check(got == statements, "%s: the statements the driver sent, in order" % what,
          {"got": got, "expected": statements})
    if len(recs) != len(statements):
        return recs
    for i, (rec, (op, q)) in enumerate(zip(recs, statements)):
        label = "%s: #%d %s" % (what, i, q or op)
        if i == error_at:
            D.check_sql(rec, label, info, host, op, query=q, error=error_type,
                        message=error_msg, url=url)
            D.check_stack_origin(rec, label, stack_re)
        else:
            D.check_sql(rec, label, info, host, op, query=q, url=url)
    D.check_literals_absent(recs, PARAM_LITERALS + [EXTRA_NAME, EXTRA_QTY, "xr_missing_table\""],
                            what)
    for lit in ("apple", "pear", "cherry", EXTRA_NAME):
        check(lit not in res.raw, "%s: parameter %r reached the collector" % (what, lit), res.raw)
    H.check_secret_absent(res, [info["password"]], what)
    return recs


def t_psycopg2(info):
    script = os.path.join(SRC, "examples", "db_psycopg2.py")
    env = D.clean_env(info.client_env())  # PGPASSWORD
    cmd = [PY, script, info.conninfo(), "--extra", EXTRA_NAME, EXTRA_QTY]
    res, base = D.run_both(S, cmd, "psycopg2", env=env, expect_docs=len(PG_STATEMENTS))
    want = EXPECTED_OUTPUT % (EXTRA_NAME, EXTRA_QTY, 110 + int(EXTRA_QTY),
                              "psycopg2.errors.UndefinedTable pgcode=42P01")
    check(base.returncode == 0 and base.stdout == want,
          "psycopg2: the script's output without preload (sanity)",
          {"got": base.describe(), "expected": want})
    verify(res, info, PG_STATEMENTS, PG_ERROR_AT, "42P01", "relation ? does not exist",
           r"/psycopg2/_psycopg[^/]*\.so$", "psycopg2")

    # The connection string with the password in it (psycopg2.connect(dsn) -> PQconnectdb).
    cmd = [PY, script, info.conninfo(password=True)]
    res, _ = D.run_both(S, cmd, "psycopg2 (password in the DSN)", env=D.clean_env(),
                        expect_docs=len(PG_STATEMENTS) - 1)
    verify(res, info, PG_STATEMENTS, PG_ERROR_AT, "42P01", "relation ? does not exist",
           r"/psycopg2/_psycopg[^/]*\.so$", "psycopg2 (password in the DSN)", extra=False)

    # Unix socket: host is the socket directory; libpq's PQhost() names it -> "localhost".
    cmd = [PY, script, info.conninfo(host=info["socket"]), "--extra", EXTRA_NAME, EXTRA_QTY]
    res, _ = D.run_both(S, cmd, "psycopg2 (Unix socket)", env=env,
                        expect_docs=len(PG_STATEMENTS))
    verify(res, info, PG_STATEMENTS, PG_ERROR_AT, "42P01", "relation ? does not exist",
           r"/psycopg2/_psycopg[^/]*\.so$", "psycopg2 (Unix socket)", host="localhost")
    check(info["socket"] not in res.raw, "psycopg2 (Unix socket): the socket directory was "
          "recorded", res.raw)


def t_mysqldb(info):
    script = os.path.join(SRC, "examples", "db_mysqldb.py")
    env = D.clean_env(info.client_env())  # MYSQL_PWD, read by libmariadb itself
    cmd = [PY, script, "host=" + HOST, "port=%d" % info["port"], "user=" + info["user"],
           "db=" + info["database"], "--extra", EXTRA_NAME, EXTRA_QTY]
    res, base = D.run_both(S, cmd, "MySQLdb", env=env, expect_docs=len(MY_STATEMENTS))
    want = EXPECTED_OUTPUT % (EXTRA_NAME, EXTRA_QTY, 110 + int(EXTRA_QTY),
                              "MySQLdb._exceptions.ProgrammingError code=1146")
    check(base.returncode == 0 and base.stdout == want,
          "MySQLdb: the script's output without preload (sanity)",
          {"got": base.describe(), "expected": want})
    verify(res, info, MY_STATEMENTS, MY_ERROR_AT, "1146 (42S02)", "Table ? doesn't exist",
           r"/MySQLdb/_mysql[^/]*\.so$", "MySQLdb")

    # password= keyword (MySQLdb.connect(passwd=...)) instead of MYSQL_PWD.
    cmd = [PY, script, "host=" + HOST, "port=%d" % info["port"], "user=" + info["user"],
           "db=" + info["database"], "password=" + info["password"]]
    res, _ = D.run_both(S, cmd, "MySQLdb (password argument)", env=D.clean_env(),
                        expect_docs=len(MY_STATEMENTS) - 1)
    verify(res, info, MY_STATEMENTS, MY_ERROR_AT, "1146 (42S02)", "Table ? doesn't exist",
           r"/MySQLdb/_mysql[^/]*\.so$", "MySQLdb (password argument)", extra=False)

    # Unix socket: host "localhost" + unix_socket.
    cmd = [PY, script, "host=localhost", "unix_socket=" + info["socket"],
           "user=" + info["user"], "db=" + info["database"], "--extra", EXTRA_NAME, EXTRA_QTY]
    res, _ = D.run_both(S, cmd, "MySQLdb (Unix socket)", env=env,
                        expect_docs=len(MY_STATEMENTS))
    verify(res, info, MY_STATEMENTS, MY_ERROR_AT, "1146 (42S02)", "Table ? doesn't exist",
           r"/MySQLdb/_mysql[^/]*\.so$", "MySQLdb (Unix socket)", host="localhost",
           url=re.compile(r"^mysql://localhost:\d+/xrdb$"))


def server(engine, module):
    why = module_missing(module)
    if why:
        print("SKIP (%s half): %s" % (engine, why))
        return None
    try:
        info = dbservers.ensure(S.build, engine)
    except dbservers.DbServerError as e:
        check(False, "%s server did not start: %s" % (engine, e))
        return None
    if info is None:
        print("SKIP (%s half): the server is not available (reason above)" % engine)
    return info


def main():
    global S
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    S = H.Session(sys.argv[1], "python_db")
    S.require_build()
    ran = 0
    for engine, module, name, fn in [("pg", "psycopg2", "psycopg2", t_psycopg2),
                                     ("mariadb", "MySQLdb", "MySQLdb", t_mysqldb)]:
        info = server(engine, module)
        if info is not None:
            ran += 1
            H.scenario(name, fn, info)
    _, failed = H.counts()
    if ran == 0 and failed == 0:
        H.skip("neither PostgreSQL + psycopg2 nor MariaDB + MySQLdb is available")
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
