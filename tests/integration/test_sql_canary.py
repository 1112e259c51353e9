#!/usr/bin/python3
"""Integration test: secrets never leave in a datagram (canaries), PostgreSQL and MariaDB.

Distinctive random tokens are used as
  - the password of a dedicated role / user (created through the admin connection), given in a
    libpq conninfo string (psql "host=... password=SECRET", psycopg2's DSN), in the URL form
    (postgresql://user:SECRET@host/db), in PGPASSWORD, in MYSQL_PWD, as mysql_example's
    password argument and as MySQLdb's passwd=;
  - a wrong password (failed connections);
  - a string literal and a numeric literal in statements (psql -c, the Python scripts);
  - a value the server echoes in its error text (PostgreSQL: invalid input syntax "SECRET",
    a duplicate key's DETAIL; MariaDB: Duplicate entry 'SECRET', Incorrect integer value
    'SECRET', a syntax error near 'SECRET ...').
Every datagram is captured raw on a UDP socket of this script (AWS_XRAY_DAEMON_ADDRESS), every
run logs at the most verbose level with its stderr captured, and both are searched for every
secret in every encoded form (canary.py, shared with test_canary.py): with XRAY_AUTO_SQL unset
(default sanitized), =sanitized and =off no secret may appear; with XRAY_AUTO_SQL=raw the
statement literals DO appear (so the test can fail) while passwords still never do and error
messages stay scrubbed.

Usage: test_sql_canary.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: neither server available)

"""

import atexit
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402
import dbservers  # noqa: E402
import canary as C  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = H.PYTHON


token = C.token


PG_PW = token("PW")       # password of the dedicated PostgreSQL role
MY_PW = token("PW")       # password of the dedicated MariaDB user
WRONG_PW = token("PW")    # a wrong password
STR = token("STR")        # string literal in statements
NUM = str(random.randint(1_900_000_000, 2_140_000_000))  # numeric literal (fits an INT)
ECHO = token("ECHO")      # values the server echoes in its error text
ECHO2 = token("ECHO")
ECHO3 = token("ECHO")
PASSWORDS = [PG_PW, MY_PW, WRONG_PW]
ALL_SECRETS = PASSWORDS + [STR, NUM, ECHO, ECHO2, ECHO3]
SUFFIX = os.urandom(4).hex()
PG_USER = "xrcanary_" + SUFFIX
MY_USER = "xrcanary_" + SUFFIX

# A MySQLdb program whose statements make MariaDB echo values in its error messages.
MY_ECHO_SCRIPT = r"""
import sys, MySQLdb
host, port, user, db, dup, badint, near = sys.argv[1:8]
conn = MySQLdb.connect(host=host, port=int(port), user=user, db=db)
cur = conn.cursor()
cur.execute("CREATE TEMPORARY TABLE xr_canary (k VARCHAR(96) PRIMARY KEY, n INT)")
for sql, args in [("INSERT INTO xr_canary (k, n) VALUES (%s, 1)", (dup,)),
                  ("INSERT INTO xr_canary (k, n) VALUES (%s, 2)", (dup,)),
                  ("INSERT INTO xr_canary (k, n) VALUES ('x', %s)", (badint,)),
                  ("SELECT FROM WHERE k = %s", (near,))]:
    try:
        cur.execute(sql, args)
        print("ok")
    except MySQLdb.Error as e:
        print("error", type(e).__name__, e.args[0])
conn.close()
"""


# ---------------------------------------------------------------------------------------------
# running a program with the preload, capturing the raw datagrams and our log lines (canary.py)
# ---------------------------------------------------------------------------------------------
def run(cmd, env_extra, sql_mode, what):
    """Runs cmd under the preload with XRAY_AUTO_SQL=sql_mode (None: unset), the most verbose
    log level and stderr captured; the caller's PG*/MYSQL*/MARIADB* variables are dropped."""
    env = dict(env_extra)
    env["XRAY_AUTO_SQL"] = sql_mode
    r = C.run(S, SINK, cmd, env, what, scrub=("PG", "MYSQL", "MARIADB"))
    C.check_logged(r)
    return r


def secrets_absent(r, secrets, mode):
    C.check_absent(r, secrets, "%s [XRAY_AUTO_SQL=%s]" % (r.what, mode))


def messages(r):
    return [H.get(x["sub"], "cause", "exceptions", 0, "message") for x in r.records
            if H.get(x["sub"], "cause", "exceptions", 0) is not None]


# ---------------------------------------------------------------------------------------------
# one case = a program run in every XRAY_AUTO_SQL mode
# ---------------------------------------------------------------------------------------------
def case(what, cmd, env, ops, literals=(), echoed=(), errors=(), user=None, rc=None,
         modes=(None, "sanitized", "raw")):
    """ops:      expected metadata.xray_auto.operation of every subsegment, in order
    literals: secrets written as literals in the statements (must show in raw mode only)
    echoed:   secrets the server repeats in an error message (never in a message; in raw mode
              they show in the statement)
    errors:   expected exception types, in order
    user:     expected sql.user of every subsegment"""
    for mode in modes:
        label = mode or "unset"
        r = run(cmd, env, mode, what)
        if rc is not None:
            check(r.returncode == rc, "%s [%s]: exit status %s, expected %s"
                  % (what, label, r.returncode, rc),
                  {"stdout": r.stdout.decode("utf-8", "replace")[-1500:],
                   "stderr": r.stderr.decode("utf-8", "replace")[-1500:]})
        got_ops = [H.get(x["sub"], "metadata", "xray_auto", "operation") for x in r.records]
        # the canary is only meaningful if the program was traced at all
        check(got_ops == list(ops), "%s [%s]: operations %s, expected %s"
              % (what, label, got_ops, list(ops)), r.docs)
        check(len(r.docs) == len(r.records) == len(r.datagrams),
              "%s [%s]: one subsegment per datagram (call mode)" % (what, label), r.docs)
        if user is not None:
            users = set(H.get(x["sub"], "sql", "user") for x in r.records)
            check(users == {user}, "%s [%s]: sql.user %s, expected %r"
                  % (what, label, sorted(map(str, users)), user), r.docs)
        types = [H.get(x["sub"], "cause", "exceptions", 0, "type") for x in r.records
                 if H.get(x["sub"], "cause") is not None]
        check(types == list(errors), "%s [%s]: exception types %s, expected %s"
              % (what, label, types, list(errors)), r.docs)
        queries = [q for q in (H.get(x["sub"], "sql", "sanitized_query") for x in r.records)
                   if q is not None]
        if mode == "raw":
            secrets_absent(r, PASSWORDS, mode)
            for s in list(literals) + list(echoed):
                check(any(s in q for q in queries),
                      "%s [raw]: the literal %r must be recorded as given (else this test "
                      "could not catch a leak)" % (what, s), queries)
            for s in echoed:
                check(not any(m and s in m for m in messages(r)),
                      "%s [raw]: the server's echo of %r must still be scrubbed from the "
                      "exception message" % (what, s), messages(r))
        else:
            secrets_absent(r, ALL_SECRETS, mode)
            if mode == "off":
                check(not queries, "%s [off]: no sql.sanitized_query expected" % what, queries)
            else:
                check(len(queries) == got_ops.count("query") + got_ops.count("prepare")
                      + got_ops.count("execute"),
                      "%s [%s]: every statement has its sanitized_query" % (what, label),
                      queries)


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------
def pg_setup(info):
    info.admin_sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (PG_USER, PG_PW))
    atexit.register(lambda: _quiet(info.admin_sql, "DROP ROLE IF EXISTS %s" % PG_USER))


def _quiet(fn, *args):
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - best-effort cleanup
        pass


def t_pg(info):
    psql = dbservers.pg_bin("psql")
    port = str(info["port"])
    conninfo = "host=127.0.0.1 port=%s dbname=%s user=%s" % (port, info["database"], PG_USER)
    select_lits = "SELECT '%s' AS s, %s AS n" % (STR, NUM)

    case("psql conninfo password=", [psql, "-X", "-w", conninfo + " password=" + PG_PW,
                                     "-c", select_lits],
         {}, ["connect", "query"], literals=[STR, NUM], user=PG_USER, rc=0)
    case("psql URL user:password@",
         [psql, "-X", "-w", "postgresql://%s:%s@127.0.0.1:%s/%s"
          % (PG_USER, PG_PW, port, info["database"]),
          "-c", "SELECT %s + 1 AS n, upper('%s') AS s" % (NUM, STR)],
         {}, ["connect", "query"], literals=[STR, NUM], user=PG_USER, rc=0)
    case("psql PGPASSWORD, Unix socket",
         [psql, "-X", "-w", "-h", info["socket"], "-p", port, "-U", PG_USER,
          "-d", info["database"], "-c", select_lits],
         {"PGPASSWORD": PG_PW}, ["connect", "query"], literals=[STR, NUM], user=PG_USER, rc=0)
    # Errors whose text repeats a literal: 22P02 quotes the value in the primary message,
    # 23505 in its DETAIL (never recorded).
    case("psql PGPASSWORD, server echoes",
         [psql, "-X", "-w", "-h", "127.0.0.1", "-p", port, "-U", PG_USER, "-d", info["database"],
          "-c", "CREATE TEMP TABLE xr_canary (k text PRIMARY KEY, n bigint)",
          "-c", "INSERT INTO xr_canary VALUES ('%s', %s)" % (ECHO, NUM),
          "-c", "INSERT INTO xr_canary VALUES ('%s', %s)" % (ECHO, NUM),
          "-c", "SELECT '%s'::int" % ECHO2,
          "-c", "SELECT * FROM xr_canary WHERE k = 'x' OR n = %s::numeric / 0" % NUM],
         {"PGPASSWORD": PG_PW}, ["connect"] + ["query"] * 5, literals=[NUM],
         echoed=[ECHO, ECHO2], errors=["23505", "22P02", "22012"], user=PG_USER,
         modes=(None, "sanitized", "raw", "off"))
    case("psql wrong password (PGPASSWORD)",
         [psql, "-X", "-w", "-h", "127.0.0.1", "-p", port, "-U", PG_USER, "-d", info["database"],
          "-c", "SELECT 1"],
         {"PGPASSWORD": WRONG_PW}, ["connect"], errors=["CONNECTION_BAD"], user=PG_USER, rc=2,
         modes=(None, "raw"))
    case("psql wrong password in the URL",
         [psql, "-X", "-w", "postgresql://%s:%s@127.0.0.1:%s/%s"
          % (PG_USER, WRONG_PW, port, info["database"]), "-c", "SELECT 1"],
         {}, ["connect"], errors=["CONNECTION_BAD"], user=PG_USER, rc=2, modes=(None, "raw"))
    # libpq quotes the whole malformed URI (password included) in its error message.
    case("psql malformed URL with a password",
         [psql, "-X", "-w", "postgresql://%s:%s@[::1/%s" % (PG_USER, PG_PW, info["database"]),
          "-c", "SELECT 1"],
         {}, ["connect"], errors=["CONNECTION_BAD"], rc=2, modes=(None, "raw"))
    case("psql URL ?password= and a bad parameter",
         [psql, "-X", "-w", "postgresql://%s@127.0.0.1:%s/%s?password=%s&xr_bogus=%s"
          % (PG_USER, port, info["database"], PG_PW, WRONG_PW), "-c", "SELECT 1"],
         {}, ["connect"], errors=["CONNECTION_BAD"], rc=2, modes=(None, "raw"))
    case("psycopg2 DSN password=, parameters",
         [PY, os.path.join(SRC, "examples", "db_psycopg2.py"),
          conninfo + " password=" + PG_PW, "--extra", STR, NUM],
         {}, ["connect"] + ["query"] * 12, literals=[STR, NUM], errors=["42P01"],
         user=PG_USER, rc=0)


# ---------------------------------------------------------------------------------------------
# MariaDB
# ---------------------------------------------------------------------------------------------
def my_setup(info):
    sql = []
    for h in ("127.0.0.1", "localhost"):
        sql.append("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (MY_USER, h, MY_PW))
        sql.append("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s'" % (info["database"], MY_USER, h))
    info.admin_sql(";\n".join(sql))
    atexit.register(lambda: _quiet(info.admin_sql, "DROP USER IF EXISTS '%s'@'127.0.0.1', "
                                   "'%s'@'localhost'" % (MY_USER, MY_USER)))


def t_mariadb(info):
    exe = os.path.join(S.build, "mysql_example")
    port = str(info["port"])
    db = info["database"]

    case("mysql_example password argument",
         [exe, "127.0.0.1", port, MY_USER, MY_PW, db, "text"], {},
         ["connect"] + ["query"] * 5, user=MY_USER, rc=0, modes=(None, "raw"))
    case("mysql_example MYSQL_PWD",
         [exe, "127.0.0.1", port, MY_USER, "-", db, "error"], {"MYSQL_PWD": MY_PW},
         ["connect"] + ["query"] * 4, errors=["1146 (42S02)", "1062 (23000)"], user=MY_USER,
         rc=0, modes=(None, "raw"))
    case("mysql_example MYSQL_PWD, Unix socket, prepared",
         [exe, info["socket"], "0", MY_USER, "-", db, "stmt"], {"MYSQL_PWD": MY_PW},
         ["connect", "prepare"] + ["execute"] * 3, user=MY_USER, rc=0, modes=(None, "raw"))
    case("mysql_example wrong password argument",
         [exe, "127.0.0.1", port, MY_USER, WRONG_PW, db, "text"], {},
         ["connect"], errors=["1045 (28000)"], user=MY_USER, rc=1, modes=(None, "raw"))
    case("MySQLdb passwd=, parameters",
         [PY, os.path.join(SRC, "examples", "db_mysqldb.py"), "host=127.0.0.1", "port=" + port,
          "user=" + MY_USER, "db=" + db, "password=" + MY_PW, "--extra", STR, NUM],
         {}, ["connect"] + ["query"] * 11, literals=[STR, NUM], errors=["1146 (42S02)"],
         user=MY_USER, rc=0)
    # Duplicate entry 'ECHO', Incorrect integer value: 'ECHO2', syntax error near 'ECHO3 ...'
    case("MySQLdb MYSQL_PWD, server echoes",
         [PY, "-c", MY_ECHO_SCRIPT, "127.0.0.1", port, MY_USER, db, ECHO, ECHO2, ECHO3],
         {"MYSQL_PWD": MY_PW}, ["connect"] + ["query"] * 6, echoed=[ECHO, ECHO2, ECHO3],
         errors=["1062 (23000)", "1366 (22007)", "1064 (42000)"], user=MY_USER, rc=0,
         modes=(None, "sanitized", "raw", "off"))


def t_echoed_quotes(pg, my):
    """A server-echoed value holding a quote followed by a non-word character: the message
    scrubber closes the quoted run there and keeps the rest of the value."""
    tail = token("TAIL")
    if pg is not None:
        r = run([dbservers.pg_bin("psql"), "-X", "-w", "-h", "127.0.0.1", "-p", str(pg["port"]),
                 "-U", PG_USER, "-d", pg["database"], "-c", "SELECT 'x\" %s'::int" % tail],
                {"PGPASSWORD": PG_PW}, None, "psql: invalid input syntax, value with a quote")
        check(len(r.records) == 2, "%s: expected 2 subsegments" % r.what, r.docs)
        secrets_absent(r, [tail], "unset")
    if my is not None:
        r = run([PY, "-c", MY_ECHO_SCRIPT, "127.0.0.1", str(my["port"]), MY_USER,
                 my["database"], "x' " + tail, "1", "1"], {"MYSQL_PWD": MY_PW}, None,
                "MySQLdb: duplicate entry, value with a quote")
        check(len(r.records) == 7, "%s: expected 7 subsegments" % r.what, r.docs)
        secrets_absent(r, [tail], "unset")


def main():
    global S, SINK
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-2])
        return 2
    S = H.Session(sys.argv[1], "sql_canary")
    S.require_build("mysql_example")
    SINK = C.Sink()
    servers = {}
    for engine in ("pg", "mariadb"):
        try:
            servers[engine] = dbservers.ensure(S.build, engine)
        except dbservers.DbServerError as e:
            check(False, "%s server did not start: %s" % (engine, e))
            servers[engine] = None
            continue
        if servers[engine] is None:
            print("SKIP (%s half): the server is not available (reason above)" % engine)
    pg, my = servers["pg"], servers["mariadb"]
    if pg is not None:
        H.scenario("PostgreSQL role with a canary password", pg_setup, pg)
        H.scenario("PostgreSQL canaries", t_pg, pg)
    if my is not None:
        H.scenario("MariaDB user with a canary password", my_setup, my)
        H.scenario("MariaDB canaries", t_mariadb, my)
    H.scenario("echoed values holding quotes", t_echoed_quotes, pg, my)
    _, failed = H.counts()
    if pg is None and my is None and failed == 0:
        H.skip("neither PostgreSQL nor MariaDB is available")
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
