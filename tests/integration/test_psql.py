#!/usr/bin/python3
"""Integration test: the real psql under libxray-auto.so against a local PostgreSQL.

Usage: test_psql.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: PostgreSQL not installed)

The server is the CTest fixture's (fixture.pg.start) or one this script starts
(dbservers.ensure).  The password always comes from PGPASSWORD.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbservers  # noqa: E402
import harness as H  # noqa: E402
import dbcheck as D  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "psql"


def psql(*args, conninfo=None):
    return [PSQL, "-X", conninfo or INFO.conninfo()] + list(args)


def run(cmd, what, n_docs):
    return D.run_both(S, cmd, what, env=ENV, expect_docs=n_docs)


def conn(**kw):
    return dict(op="connect", **kw)


def q(text, **kw):
    return dict(op="query", query=text, **kw)


def verify(res, what, expected, host="127.0.0.1"):
    return D.verify_calls(res, PROGRAM, INFO, what, expected, host)


def t_one_statement():
    res, base = run(psql("-c", "select 1"), "select 1", 2)
    check(base.returncode == 0 and "(1 row)" in base.stdout,
          "select 1: psql without preload must succeed (sanity)", base.describe())
    verify(res, "select 1", [conn(), q("select ?")])


def t_two_statements_one_send():
    # psql sends the whole -c string at once (PQsendQuery): one subsegment for both.
    res, _ = run(psql("-c", "select 1; select 2"), "select 1; select 2", 2)
    verify(res, "one send", [conn(), q("select ?; select ?")])


def t_two_c_options():
    res, _ = run(psql("-c", "select 1", "-c", "select 'two'"), "two -c", 3)
    verify(res, "two -c", [conn(), q("select ?"), q("select ?")])


def t_literals():
    sql = ("SELECT /* c-secret-comment */ 'xr-literal-secret' AS s,\n"
           "       987654321 AS n,   3.5e3 AS f, E'it\\'s-xr-escaped' AS e,\n"
           "       x'1F' AS b, $tag$xr-dollar-body$tag$ AS d -- xr-trailing-comment\n")
    res, _ = run(psql("-c", sql), "literals", 2)
    verify(res, "literals", [conn(),
                             q("SELECT ? AS s, ? AS n, ? AS f, ? AS e, ? AS b, ? AS d")])
    H.check_secret_absent(res, ["xr-literal-secret", "987654321", "c-secret-comment",
                                "xr-escaped", "xr-dollar-body", "xr-trailing-comment"],
                          "literals")


def t_error():
    res, base = run(psql("-c", "select * from missing_table"), "missing table", 2)
    check(base.returncode == 1 and "missing_table" in base.stderr,
          "missing table: psql without preload must fail with exit 1 (sanity)", base.describe())
    verify(res, "missing table", [
        conn(),
        q("select * from missing_table", error="42P01", message="relation ? does not exist"),
    ])
    res, _ = run(psql("-c", "select 'xr-bad-literal'::integer"), "bad cast", 2)
    verify(res, "bad cast", [
        conn(),
        q("select ?::integer", error="22P02", message="invalid input syntax for type integer: ?"),
    ])
    H.check_secret_absent(res, ["xr-bad-literal"], "bad cast")


def t_meta_command():
    # \dt: psql builds one catalog query and runs it with PQexec, which libpq implements
    # with PQsendQuery: exactly one subsegment for the statement, never two.
    res, _ = run(psql("-c", "\\dt"), "\\dt", 2)

    recs = verify(res, "\\dt", [conn(), dict(op="query")])
    queries = [x for x in D.queries(recs)[1:]]
    check(len(queries) == 1, "\\dt: %d statement subsegments, expected exactly 1 (PQexec and "
          "the PQsendQuery inside it are one statement)" % len(queries), queries)
    for x in queries:
        check(isinstance(x, str) and x.startswith('SELECT n.nspname as "Schema", c.relname as')
              and "'" not in x and "\n" not in x and "  " not in x and "ORDER BY ?,?" in x,
              "\\dt: sanitized catalog query not as expected: %r" % (x,), res.raw[-3000:])


def t_connect_fields():
    res, _ = run(psql("-c", "select 1"), "connect fields", 2)
    recs = D.call_records(res, PROGRAM, 2, "connect fields")
    conns = [r for r, op in zip(recs, D.operations(recs)) if op == "connect"]
    if not check(len(conns) == 1, "connect fields: exactly one connect subsegment, got %d"
                 % len(conns), res.raw[-3000:] or None):
        return
    rec = conns[0]
    sub, doc = rec["sub"], rec["doc"]
    sql = sub.get("sql", {})
    what = "connect fields"
    check(sub.get("name") == "xrdb@127.0.0.1", "%s: name %r" % (what, sub.get("name")), doc)
    check(sub.get("namespace") == "remote", "%s: namespace %r" % (what, sub.get("namespace")),
          doc)
    url = "postgresql://127.0.0.1:%d/xrdb" % INFO["port"]
    check(sql.get("url") == url, "%s: sql.url %r, expected %r" % (what, sql.get("url"), url),
          doc)
    check(sql.get("database_type") == "PostgreSQL", "%s: sql.database_type %r"
          % (what, sql.get("database_type")), doc)
    check(sql.get("database_version") == VERSION, "%s: sql.database_version %r, expected "
          "SHOW server_version = %r" % (what, sql.get("database_version"), VERSION), doc)
    dv = sql.get("driver_version")
    check(isinstance(dv, str) and dv.startswith("libpq "), "%s: sql.driver_version %r"
          % (what, dv), doc)
    check(sql.get("user") == "xrapp", "%s: sql.user %r" % (what, sql.get("user")), doc)
    check("sanitized_query" not in sql, "%s: no sanitized_query on a connection" % what, doc)
    check("preparation" not in sql, "%s: no preparation on a connection" % what, doc)
    op = H.get(sub, "metadata", "xray_auto", "operation")
    check(op == "connect", "%s: metadata.xray_auto.operation %r" % (what, op), doc)
    check("fault" not in sub and "cause" not in sub, "%s: no fault" % what, doc)
    check(doc.get("name") == PROGRAM, "%s: segment name %r" % (what, doc.get("name")), doc)
    H.check_secret_absent(res, [INFO["password"]], what)


def t_script_file():
    # psql -f sends statement by statement; COPY FROM STDIN data comes from the file
    # (PQputCopyData/PQputCopyEnd), COPY TO STDOUT goes through PQgetCopyData.
    script = S.path("script.sql")
    with open(script, "w") as f:
        f.write("CREATE TEMP TABLE xr_copy (id integer, name text);\n"
                "INSERT INTO xr_copy VALUES (1, 'one'), (2, 'two');\n"
                "COPY xr_copy FROM STDIN;\n"
                "3\txr-copy-row-three\n"
                "4\txr-copy-row-four\n"
                "\\.\n"
                "COPY xr_copy TO STDOUT;\n"
                "SELECT count(*) FROM xr_copy;\n")
    res, base = run(psql("-f", script), "script", 6)
    check(base.returncode == 0 and "xr-copy-row-four" in base.stdout,
          "script: psql without preload must run the script (sanity)", base.describe())
    verify(res, "script", [
        conn(),
        q("CREATE TEMP TABLE xr_copy (id integer, name text);"),
        q("INSERT INTO xr_copy VALUES (?, ?), (?, ?);"),
        q("COPY xr_copy FROM STDIN;"),
        q("COPY xr_copy TO STDOUT;"),
        q("SELECT count(*) FROM xr_copy;"),
    ])
    H.check_secret_absent(res, ["xr-copy-row"], "script")


def t_unix_socket():
    conninfo = INFO.conninfo(host=INFO["socket"])
    res, _ = run(psql("-c", "select 1", conninfo=conninfo), "unix socket", 2)
    verify(res, "unix socket", [conn(), q("select ?")], host="localhost")


def t_failed_connect():
    port = H.free_port()
    conninfo = INFO.conninfo(port=port)
    res, base = run(psql("-c", "select 1", conninfo=conninfo), "refused", 1)
    check(base.returncode == 2, "refused: psql without preload must exit 2 (sanity)",
          base.describe())
    recs = verify(res, "refused", [conn(error="CONNECTION_BAD", remote=False, failed_connect=True,
                                         url=INFO.url(port=port))])
    for r in recs:
        msg = H.get(r["sub"], "cause", "exceptions", 0, "message") or ""
        check(str(port) not in msg, "refused: the port number must be scrubbed from the "
              "message", r["doc"])


def main():
    global S, INFO, PSQL, ENV, VERSION
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    PSQL = dbservers.pg_bin("psql")
    if not PSQL:
        H.skip("psql not installed")
    S = H.Session(sys.argv[1], "psql")
    S.require_build()
    INFO = dbservers.ensure(sys.argv[1], "pg")
    if INFO is None:
        H.skip("PostgreSQL not installed")
    ENV = INFO.client_env()
    v = S.run(psql("-A", "-t", "-c", "SHOW server_version"), preload=False, env=ENV)
    if v.returncode != 0:
        check(False, "psql cannot connect to the test server", v.describe())
        return H.summary()
    VERSION = v.stdout.strip()
    for fn in [t_one_statement, t_two_statements_one_send, t_two_c_options, t_literals,
               t_error, t_meta_command, t_connect_fields, t_script_file, t_unix_socket,
               t_failed_connect]:
        H.scenario(fn.__name__[2:], fn)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
