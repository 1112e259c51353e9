#!/usr/bin/python3
"""Integration test: <build>/mysql_example (examples/mysql_example.c, libmariadb) against a real
MariaDB server (dbservers.py; the CTest fixture db.mariadb, else one started for this script).

Every mode (text, stmt, error, nonblock): one subsegment per connection and per statement sent
(mysql_query calls mysql_real_query through the PLT: still ONE subsegment), sanitized
statements, prepare/execute with sql.preparation "statement", MySQL error types
"<errno> (<sqlstate>)" with literal-free messages, the connection facts (name, sql.url,
database_type/version, driver_version, user), Unix-socket connections (name "xrdb@localhost"),
XRAY_AUTO_SQL=raw/off, failed connections, and the same exit status/stdout/stderr as without
the preload.

Usage: test_mysql_example.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: MariaDB not installed)
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402

PROGRAM = "mysql_example"
HOST = "127.0.0.1"

TEXT_QUERIES = [
    "CREATE TEMPORARY TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, price DOUBLE)",
    "INSERT INTO items (id, name, price) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)",
    "SELECT id, name, price FROM items WHERE name <> ? ORDER BY id",
    "SELECT COUNT(*) AS n, SUM(price) AS total FROM items WHERE price > ?",
    "UPDATE items SET price = price * ? WHERE id = ?",
]
# The statements exactly as examples/mysql_example.c sends them (XRAY_AUTO_SQL=raw).
TEXT_RAW = [
    "CREATE TEMPORARY TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, price DOUBLE)",
    "INSERT INTO items (id, name, price) VALUES (1, 'apple', 1.25), (2, \"pear\", 2.5), "
    "(3, 'it\\'s', 0x1F)",
    "SELECT id, name, price FROM items WHERE name <> 'banana' ORDER BY id",
    "SELECT COUNT(*) AS n, SUM(price) AS total FROM items WHERE price > 1.0",
    "UPDATE items SET price = price * 2 WHERE id = 2",
]
# Literals of the text mode's statements: none may reach the collector when sanitized.
TEXT_LITERALS = ["apple", "pear", "it\\'s", "banana", "1.25", "2.5", "0x1F", "1.0"]
STMT_QUERY = "SELECT ? * ? AS doubled, CONCAT(?, ?) AS label"
NONBLOCK_QUERY = "SELECT ? AS one, ? AS two"


def cmd(mode, host=HOST, port=None, password="-"):
    return [EXE, host, str(INFO["port"] if port is None else port), INFO["user"], password,
            INFO["database"], mode]


def env(**extra):
    """MYSQL_PWD carries the password (the program passes NULL: "-")."""
    e = D.clean_env(INFO.client_env())
    e.update(extra)
    return e


def no_secrets(res, what):
    H.check_secret_absent(res, [INFO["password"]], what)


def t_text():
    res, base = D.run_both(S, cmd("text"), "text", env=env(), expect_docs=6)
    check(base.returncode == 0 and base.stdout.endswith("done\n"),
          "text: mysql_example without preload should succeed (sanity)", base.describe())
    recs = D.call_records(res, PROGRAM, 6, "text")
    if len(recs) != 6:
        return
    D.check_sql(recs[0], "text: connect", INFO, HOST, "connect")
    for i, q in enumerate(TEXT_QUERIES):
        D.check_sql(recs[i + 1], "text: statement %d" % (i + 1), INFO, HOST, "query", query=q)
    # mysql_query -> mysql_real_query (PLT) and mysql_send_query + mysql_read_query_result:
    # exactly one subsegment each, none for the inner call.
    check(D.operations(recs).count("query") == 5,
          "text: 5 statements sent, expected 5 query subsegments", D.queries(recs))
    D.check_literals_absent(recs, TEXT_LITERALS, "text")
    for lit in ("apple", "pear", "banana"):
        check(lit not in res.raw, "text: literal %r reached the collector" % lit, res.raw)
    no_secrets(res, "text")


def t_text_password_argument():
    """The password as mysql_real_connect's argument instead of MYSQL_PWD."""
    e = env(MYSQL_PWD=None)
    res, _ = D.run_both(S, cmd("text", password=INFO["password"]), "text (password argument)",
                        env=e, expect_docs=6)
    recs = D.call_records(res, PROGRAM, 6, "text (password argument)")
    if recs:
        D.check_sql(recs[0], "text (password argument): connect", INFO, HOST, "connect")
    no_secrets(res, "text (password argument)")


def t_stmt():
    res, base = D.run_both(S, cmd("stmt"), "stmt", env=env(), expect_docs=5)
    check(base.returncode == 0 and "execute 3: rows=1" in base.stdout,
          "stmt: mysql_example without preload should succeed (sanity)", base.describe())
    recs = D.call_records(res, PROGRAM, 5, "stmt")
    if len(recs) != 5:
        return
    D.check_sql(recs[0], "stmt: connect", INFO, HOST, "connect")
    D.check_sql(recs[1], "stmt: prepare", INFO, HOST, "prepare", query=STMT_QUERY,
                prepared=True)
    for i in range(3):
        D.check_sql(recs[2 + i], "stmt: execute %d" % (i + 1), INFO, HOST, "execute",
                    query=STMT_QUERY, prepared=True)
    # (bound parameter values never travel in the statement text; "ccc" is checked in the
    # recorded texts only: ids are hex)
    D.check_literals_absent(recs, ["'n'", "2", "ccc"], "stmt")
    check("nbb" not in res.raw, "stmt: a result value reached the collector", res.raw)
    no_secrets(res, "stmt")


def t_error():
    res, base = D.run_both(S, cmd("error"), "error", env=env(), expect_docs=5)
    check(base.returncode == 0 and "errno=1146" in base.stdout and "errno=1062" in base.stdout,
          "error: mysql_example should report 1146 and 1062 (sanity)", base.describe())
    recs = D.call_records(res, PROGRAM, 5, "error")
    if len(recs) != 5:
        return
    D.check_sql(recs[0], "error: connect", INFO, HOST, "connect")
    D.check_sql(recs[1], "error: missing table", INFO, HOST, "query",
                query="SELECT * FROM missing_table", error="1146 (42S02)",
                message="Table ? doesn't exist")
    D.check_sql(recs[2], "error: create", INFO, HOST, "query",
                query="CREATE TEMPORARY TABLE dup (id INT PRIMARY KEY)")
    D.check_sql(recs[3], "error: insert", INFO, HOST, "query", query="INSERT INTO dup VALUES (?)")
    D.check_sql(recs[4], "error: duplicate", INFO, HOST, "query",
                query="INSERT INTO dup VALUES (?)", error="1062 (23000)",
                message="Duplicate entry ?")
    D.check_literals_absent(recs, ["1", "xrdb.missing_table"], "error")
    for lit in ("xrdb.missing_table", "'1'", "'PRIMARY'"):
        check(lit not in res.raw, "error: %r (from the server's messages) reached the collector"
              % lit, res.raw)
    for i in (1, 4):
        D.check_stack_origin(recs[i], "error: statement %d" % i, r"/mysql_example$")
    no_secrets(res, "error")


def t_nonblock():
    res, base = D.run_both(S, cmd("nonblock"), "nonblock", env=env(), expect_docs=2)
    if base.returncode == 77:
        print("note: nonblock: this libmariadb has no non-blocking API; scenario skipped")
        return
    check(base.returncode == 0 and "row: 1|two" in base.stdout,
          "nonblock: mysql_example without preload should succeed (sanity)", base.describe())
    recs = D.call_records(res, PROGRAM, 2, "nonblock")
    if len(recs) != 2:
        return
    D.check_sql(recs[0], "nonblock: connect (start/cont)", INFO, HOST, "connect")
    D.check_sql(recs[1], "nonblock: query (start/cont)", INFO, HOST, "query",
                query=NONBLOCK_QUERY)
    D.check_literals_absent(recs, ["'two'", "1"], "nonblock")
    no_secrets(res, "nonblock")


LOCAL_URL = re.compile(r"^mysql://localhost:\d+/xrdb$")


def t_socket_path():
    """HOST argument a socket path: mysql_real_connect(host NULL, unix_socket PATH)."""
    res, _ = D.run_both(S, cmd("text", host=INFO["socket"], port=0), "socket path", env=env(),
                        expect_docs=6)
    recs = D.call_records(res, PROGRAM, 6, "socket path")
    if len(recs) != 6:
        return
    D.check_sql(recs[0], "socket path: connect", INFO, "localhost", "connect", url=LOCAL_URL)
    for i, q in enumerate(TEXT_QUERIES):
        D.check_sql(recs[i + 1], "socket path: statement %d" % (i + 1), INFO, "localhost",
                    "query", query=q, url=LOCAL_URL)
    check(INFO["socket"] not in res.raw, "socket path: the socket path reached the collector",
          res.raw)
    no_secrets(res, "socket path")


def t_localhost():
    """host "localhost": libmariadb uses the Unix socket (MYSQL_UNIX_PORT)."""
    res, _ = D.run_both(S, cmd("stmt", host="localhost", port=0), "localhost",
                        env=env(MYSQL_UNIX_PORT=INFO["socket"]), expect_docs=5)
    recs = D.call_records(res, PROGRAM, 5, "localhost")
    if len(recs) != 5:
        return
    D.check_sql(recs[0], "localhost: connect", INFO, "localhost", "connect", url=LOCAL_URL)
    D.check_sql(recs[1], "localhost: prepare", INFO, "localhost", "prepare", query=STMT_QUERY,
                prepared=True, url=LOCAL_URL)
    D.check_sql(recs[2], "localhost: execute", INFO, "localhost", "execute", query=STMT_QUERY,
                prepared=True, url=LOCAL_URL)
    no_secrets(res, "localhost")


def t_raw_and_off():
    res = S.run(cmd("text"), env=env(XRAY_AUTO_SQL="raw"), expect_docs=6)
    recs = D.call_records(res, PROGRAM, 6, "XRAY_AUTO_SQL=raw")
    if len(recs) == 6:
        check(D.queries(recs) == [None] + TEXT_RAW,
              "XRAY_AUTO_SQL=raw: sql.sanitized_query must be each statement as given",
              D.queries(recs))
        D.check_sql(recs[0], "raw: connect", INFO, HOST, "connect")
        D.check_sql(recs[2], "raw: insert", INFO, HOST, "query", query=TEXT_RAW[1])
    no_secrets(res, "XRAY_AUTO_SQL=raw")

    res = S.run(cmd("stmt"), env=env(XRAY_AUTO_SQL="raw"), expect_docs=5)
    recs = D.call_records(res, PROGRAM, 5, "stmt XRAY_AUTO_SQL=raw")
    raw_stmt = "SELECT ? * 2 AS doubled, CONCAT('n', ?) AS label"
    if len(recs) == 5:
        check(D.queries(recs) == [None] + [raw_stmt] * 4,
              "stmt XRAY_AUTO_SQL=raw: prepare and executes carry the prepared text",
              D.queries(recs))

    res = S.run(cmd("error"), env=env(XRAY_AUTO_SQL="off"), expect_docs=5)
    recs = D.call_records(res, PROGRAM, 5, "XRAY_AUTO_SQL=off")
    if len(recs) == 5:
        check(D.queries(recs) == [None] * 5,
              "XRAY_AUTO_SQL=off: no sql.sanitized_query at all", D.queries(recs))
        check(D.operations(recs) == ["connect"] + ["query"] * 4,
              "XRAY_AUTO_SQL=off: operations still recorded", D.operations(recs))
        D.check_sql(recs[1], "off: missing table", INFO, HOST, "query", query=None,
                    error="1146 (42S02)", message="Table ? doesn't exist")
    check("missing_table" not in res.raw, "XRAY_AUTO_SQL=off: statement text recorded", res.raw)


def t_connect_failures():
    wrong = "xrWRONGpw" + os.urandom(6).hex()
    res, base = D.run_both(S, cmd("text", password=wrong), "wrong password",
                           env=env(MYSQL_PWD=None), expect_docs=1)
    check(base.returncode == 1 and "1045" in base.stderr,
          "wrong password: mysql_example should fail with 1045 (sanity)", base.describe())
    recs = D.call_records(res, PROGRAM, 1, "wrong password")
    if recs:
        D.check_sql(recs[0], "wrong password: connect", INFO, HOST, "connect",
                    error="1045 (28000)", failed_connect=True)
    H.check_secret_absent(res, [wrong, INFO["password"]], "wrong password")

    port = H.free_port()
    res, base = D.run_both(S, cmd("error", port=port), "refused", env=env(), expect_docs=1)
    check(base.returncode == 1, "refused: mysql_example should fail to connect (sanity)",
          base.describe())
    recs = D.call_records(res, PROGRAM, 1, "refused")
    if recs:
        exc_type = H.get(recs[0]["sub"], "cause", "exceptions", 0, "type") or ""
        # CR_CONNECTION_ERROR (2002) or CR_CONN_HOST_ERROR (2003): the client's own error
        D.check_sql(recs[0], "refused: connect", INFO, HOST, "connect",
                    error=exc_type if re.match(r"^200[23] \(HY000\)$", exc_type) else
                    "2002 (HY000)", remote=False, failed_connect=True,
                    url="mysql://%s:%d/%s" % (HOST, port, INFO["database"]))
    no_secrets(res, "refused")


def t_sdk_disabled():
    """AWS_XRAY_SDK_ENABLED=false: nothing sent, output unchanged."""
    base = S.run(cmd("error"), preload=False, env=env())
    res = S.run(cmd("error"), env=env(AWS_XRAY_SDK_ENABLED="false"), expect_docs=None)
    H.verify_no_trace(res, "SDK disabled", baseline=base)


def t_unsampled():
    """An inherited Sampled=0 trace: every statement unsampled (the hooks then skip the
    connection's table and the text): nothing sent, output unchanged, in every mode."""
    tid = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0"
    for mode in ("text", "stmt", "error", "nonblock"):
        res, _ = D.run_both(S, cmd(mode), "unsampled " + mode,
                            env=env(_X_AMZN_TRACE_ID=tid), sampling=None)
        check(not res.docs, "unsampled %s: no document expected" % mode, res.docs)


def main():
    global S, INFO, EXE
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[-1])
        return 2
    build = sys.argv[1]
    S = H.Session(build, "mysql_example")
    S.require_build(PROGRAM)
    EXE = os.path.join(S.build, PROGRAM)
    try:
        INFO = dbservers.ensure(build, "mariadb")
    except dbservers.DbServerError as e:
        check(False, "MariaDB server did not start: %s" % e)
        return H.summary()
    if INFO is None:
        H.skip("MariaDB server not available (see the reason above)")
    for name, fn in [("text", t_text), ("text, password argument", t_text_password_argument),
                     ("stmt", t_stmt), ("error", t_error), ("nonblock", t_nonblock),
                     ("unix socket path", t_socket_path), ("localhost", t_localhost),
                     ("XRAY_AUTO_SQL raw/off", t_raw_and_off),
                     ("connection failures", t_connect_failures),
                     ("SDK disabled", t_sdk_disabled), ("unsampled", t_unsampled)]:
        H.scenario(name, fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
