#!/usr/bin/python3
"""Integration test: <build>/pq_example (examples/pq_example.c) in every mode.

Usage: test_pq_example.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: PostgreSQL not installed)

One subsegment per connection and per statement sent (a prepare counts; a PQexec is not also
counted as the PQsendQuery libpq runs inside it), preparation "statement" for the
parameterised and prepared calls, an execute carrying the text given at prepare time, the
SQLSTATE of failed statements, and the program's output unchanged by the preload.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "pq_example"


def conn(**kw):
    return dict(op="connect", **kw)


def q(text, **kw):
    return dict(op="query", query=text, **kw)


def qp(text, **kw):
    """A statement sent with parameters (PQexecParams / PQsendQueryParams)."""
    return dict(op="query", query=text, prepared=True, **kw)


def prep(text):
    return dict(op="prepare", query=text, prepared=True)


def exe(text):
    return dict(op="execute", query=text, prepared=True)


# What each mode sends (see examples/pq_example.c), after the connection.
MODES = {
    "sync": [
        q("CREATE TEMP TABLE items (id integer PRIMARY KEY, name text NOT NULL, price numeric)"),
        q("INSERT INTO items (id, name, price) VALUES (?, ?, ?), (?, ?, ?)"),
        q("UPDATE items SET price = price * ? WHERE id = ?"),
        q("SELECT id, name, price FROM items WHERE price > ? AND name <> ? ORDER BY id"),
    ],
    "params": [
        qp("CREATE TEMP TABLE items (id integer PRIMARY KEY, name text)"),
        qp("INSERT INTO items (id, name) VALUES ($1, $2)"),
        qp("INSERT INTO items (id, name) VALUES ($1, $2)"),
        qp("SELECT id, name FROM items WHERE id >= $1 ORDER BY id"),
    ],
    "prepared": [
        prep("SELECT $1::integer + ? AS next"),
        exe("SELECT $1::integer + ? AS next"),
        exe("SELECT $1::integer + ? AS next"),
        exe("SELECT $1::integer + ? AS next"),
    ],
    "async": [
        q("SELECT ? AS one; SELECT ? AS two"),
        qp("SELECT $1::text AS echo"),
        prep("SELECT $1::integer * ? AS doubled"),
        exe("SELECT $1::integer * ? AS doubled"),
    ],
    "pipeline": [
        qp("SELECT $1::integer AS a"),
        qp("SELECT $1::text AS b"),
        qp("SELECT $1::integer + ? AS c"),
    ],
    "error": [
        q("SELECT * FROM missing_table", error="42P01", message="relation ? does not exist"),
        q("SELECT ?::integer", error="22P02", message="invalid input syntax for type integer: ?"),
    ],
    "async-connect": [
        q("SELECT ? AS one"),
    ],
}

# The start of a line the program must print (a sanity check of the run without preload).
SANITY = {
    "sync": "  row: 2|O'Brien pear|5.0",
    "params": "  row: 2|pear",
    "prepared": "  row: 301",
    "async": "  row: 42",
    "pipeline": "sync: PGRES_PIPELINE_SYNC",
    "error": "bad cast: PGRES_FATAL_ERROR sqlstate=22P02",
    "async-connect": "connected (PQconnectStart/PQconnectPoll)",
}


def verify(res, what, expected, host="127.0.0.1"):
    return D.verify_calls(res, PROGRAM, INFO, what, expected, host)


def t_mode(mode):
    expected = [conn()] + MODES[mode]
    res, base = D.run_both(S, [EXAMPLE, INFO.conninfo(), mode], mode, env=ENV,
                           expect_docs=len(expected))
    check(base.returncode == 0
          and any(line.startswith(SANITY[mode]) for line in base.stdout.splitlines())
          and base.stdout.endswith("done\n"),
          "%s: pq_example without preload must print %r and exit 0 (sanity)"
          % (mode, SANITY[mode]), base.describe())
    verify(res, mode, expected)
    if mode == "error":
        H.check_secret_absent(res, ["not-a-number"], mode)


def t_async_connect_socket():
    res, _ = D.run_both(S, [EXAMPLE, INFO.conninfo(host=INFO["socket"]), "async-connect"],
                        "async-connect socket", env=ENV, expect_docs=2)
    verify(res, "async-connect socket", [conn(), q("SELECT ? AS one")], host="localhost")


def t_async_connect_refused():
    port = H.free_port()
    res, base = D.run_both(S, [EXAMPLE, INFO.conninfo(port=port), "async-connect"],
                           "async-connect refused", env=ENV, expect_docs=1)
    check(base.returncode == 1, "async-connect refused: exit 1 without preload (sanity)",
          base.describe())
    verify(res, "async-connect refused", [conn(error="CONNECTION_BAD", remote=False,
                                               failed_connect=True, url=INFO.url(port=port))])


def t_uri_with_password():
    # The password in a postgresql:// URI (no PGPASSWORD): never in a datagram.
    env = dict(ENV, PGPASSWORD=None)
    res, _ = D.run_both(S, [EXAMPLE, INFO.uri(password=True), "sync"], "uri", env=env,
                        expect_docs=5)
    verify(res, "uri", [conn()] + MODES["sync"])


def t_unsampled():
    # An inherited Sampled=0 trace: every statement unsampled (the default rule's common
    # case, which skips the connection's table and the text): nothing is sent, and the
    # program's output is unchanged, pipeline and prepared statements included.
    env = dict(ENV, _X_AMZN_TRACE_ID="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0")
    for mode in ("sync", "prepared", "async", "pipeline", "error"):
        res, _ = D.run_both(S, [EXAMPLE, INFO.conninfo(), mode], "unsampled " + mode,
                            env=env, sampling=None)
        check(not res.docs, "unsampled %s: no document expected" % mode, res.docs)


def t_mixed_sampling():
    # Half of the traces sampled at random: an execution may be sampled when its prepare
    # was not; it still records the text given at prepare time, and every document sent is
    # complete. (Which statements are sampled varies from run to run.)
    rules = os.path.join(S.tmp, "half.json")
    with open(rules, "w") as f:
        f.write('{"version": 2, "rules": [], "default": {"fixed_target": 0, "rate": 0.5}}')
    env = dict(ENV, XRAY_AUTO_SAMPLING_RULES=rules)
    base = S.run([EXAMPLE, INFO.conninfo(), "prepared"], preload=False, env=env)
    want = {("connect", None): conn()}
    for e in MODES["prepared"]:
        want[(e["op"], e["query"])] = e
    for i in range(6):
        what = "mixed sampling run %d" % i
        res = S.run([EXAMPLE, INFO.conninfo(), "prepared"], env=env, sampling=None,
                    grace=0.3)
        D.same_output(res, base, what)
        check(len(res.records) <= 5, "%s: at most 5 subsegments" % what, res.docs)
        for rec in res.records:
            key = (H.get(rec["sub"], "metadata", "xray_auto", "operation"),
                   H.get(rec["sub"], "sql", "sanitized_query"))
            check(key in want, "%s: unexpected subsegment %r" % (what, key), rec["sub"])
            if key in want:
                e = dict(want[key])
                D.check_sql(rec, "%s: %s" % (what, key[0]), INFO, "127.0.0.1", e.pop("op"), **e)


def main():
    global S, INFO, EXAMPLE, ENV
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    S = H.Session(sys.argv[1], "pq_example")
    S.require_build("pq_example")
    EXAMPLE = os.path.join(S.build, "pq_example")
    INFO = dbservers.ensure(sys.argv[1], "pg")
    if INFO is None:
        H.skip("PostgreSQL not installed")
    ENV = INFO.client_env()
    for mode in MODES:
        H.scenario(mode, t_mode, mode)
    H.scenario("async-connect socket", t_async_connect_socket)
    H.scenario("async-connect refused", t_async_connect_refused)
    H.scenario("uri with password", t_uri_with_password)
    H.scenario("unsampled", t_unsampled)
    H.scenario("mixed sampling", t_mixed_sampling)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
