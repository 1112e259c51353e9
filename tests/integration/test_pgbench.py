#!/usr/bin/python3
"""Integration test: pgbench under libxray-auto.so against a local PostgreSQL.

Usage: test_pgbench.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: PostgreSQL not installed)

pgbench -i -s 1 (PQexec for DDL, COPY ... FROM STDIN fed by PQputline/PQendcopy, VACUUM),
then pgbench -n -t 3 -c 1 in each query mode:
    simple    PQsendQuery with the values written into the text
    extended  PQsendQueryParams ($1 ...)
    prepared  PQprepare once per script statement and connection, then PQsendQueryPrepared
Every statement of the built-in TPC-B-like script must be recorded once per transaction.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbcheck as D  # noqa: E402
import dbservers  # noqa: E402
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "pgbench"
TRANSACTIONS = 3
TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"]

# The built-in "tpcb-like" script, as extended/prepared mode sends it.
SCRIPT = [
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "END;",
]

# Lines of pgbench's output that hold timings.
_TIMING = re.compile(r"^(latency |initial connection time|tps = |done in |\d+ of \d+ tuples"
                     r"|.*elapsed [\d.]+ s)")


def normalize(text):
    return "\n".join(line for line in text.splitlines() if not _TIMING.match(line))


def key(q):
    """A sanitized statement made comparable: trailing ';' and whitespace dropped; in simple
    mode a negative value may be sanitized as "-?" or as "?"."""
    if not isinstance(q, str):
        return q
    q = q.strip()
    if q.endswith(";"):
        q = q[:-1].rstrip()
    return re.sub(r"-\s*\?", "?", q)


def simple_form(stmt):
    """The script statement as simple mode sends it, sanitized: every $n a literal -> ?."""
    return key(re.sub(r"\$\d+", "?", stmt))


def drop_tables():
    INFO.admin_sql("DROP TABLE IF EXISTS %s" % ", ".join(TABLES))


def compare(cmd, what, expect_docs=None, before=None):
    """Without, then with the preload; same exit status, and the same stdout and stderr once
    timing lines are removed."""
    if before:
        before()
    base = S.run(cmd, preload=False, env=ENV, timeout=90)
    if before:
        before()
    res = S.run(cmd, env=ENV, expect_docs=expect_docs, timeout=90, grace=0.5)
    D.same_output(_Normalized(res), _Normalized(base), what)
    return res, base


class _Normalized:
    def __init__(self, r):
        self.returncode = r.returncode
        self.stdout = normalize(r.stdout)
        self.stderr = normalize(r.stderr)
        self.describe = r.describe


def records(res, what):
    recs = [r for r in res.records if isinstance(r["sub"].get("sql"), dict)]
    check(len(recs) == len(res.records), "%s: every subsegment is an SQL one" % what,
          res.raw[-2000:])
    return sorted(recs, key=lambda r: r["sub"].get("start_time") or 0)


def listing(recs):
    return list(zip(D.operations(recs), D.queries(recs)))


def pgbench(*args):
    return [PGBENCH, "-h", INFO["host"], "-p", str(INFO["port"]), "-U", INFO["user"]] + \
        list(args) + [INFO["database"]]


def t_init():
    res, base = compare(pgbench("-i", "-s", "1"), "pgbench -i", expect_docs=28,
                        before=drop_tables)
    check(base.returncode == 0, "pgbench -i without preload must succeed (sanity)",
          base.describe())
    recs = records(res, "init")
    ops = D.operations(recs)
    qs = [key(q) for q in D.queries(recs)]
    check(ops.count("connect") == 1, "init: one connection, got %d" % ops.count("connect"),
          listing(recs))
    check(all(op in ("connect", "query") for op in ops),
          "init: PQexec statements are operation query", listing(recs))
    # COPY is one statement: the 100000 PQputline/PQputCopyData calls are not statements.
    copies = [q for q in qs if isinstance(q, str) and q.lower().startswith("copy ")]
    check(copies == ["copy pgbench_accounts from stdin with (freeze on)"],
          "init: exactly one COPY subsegment, got %r" % copies, listing(recs))
    tellers = [q for q in qs if q == "insert into pgbench_tellers(tid,bid,tbalance) "
               "values (?,?,?)"]
    check(len(tellers) == 10, "init: 10 teller inserts (scale 1), got %d" % len(tellers),
          listing(recs))
    for stmt, n in [("drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, "
                     "pgbench_tellers", 1),
                    ("insert into pgbench_branches(bid,bbalance) values(?,?)", 1),
                    ("begin", 1), ("commit", 1),
                    ("alter table pgbench_accounts add primary key (aid)", 1)]:
        check(qs.count(stmt) == n, "init: %r recorded %d times, expected %d"
              % (stmt, qs.count(stmt), n), listing(recs))
    check(sum(1 for q in qs if isinstance(q, str) and q.startswith("vacuum analyze ")) == 4,
          "init: 4 vacuum statements", listing(recs))
    check(len(recs) == 28, "init: %d subsegments, expected 28 (1 connect + 27 statements of "
          "pgbench 15's dtgvp steps)" % len(recs), listing(recs))
    for i, rec in enumerate(recs):
        if ops[i] == "connect":
            D.check_sql(rec, "init #%d connect" % i, INFO, INFO["host"], "connect")
        else:
            D.check_sql(rec, "init #%d" % i, INFO, INFO["host"], "query")
            check(re.search(r"(?<![A-Za-z_])\d", qs[i] or "") is None,
                  "init #%d: numbers must be sanitized: %r" % (i, qs[i]), rec["doc"])
    for d in res.docs:
        H.check_segment(d, PROGRAM, res.t0, res.t1, "init: segment %s" % d.get("id"))
    H.check_secret_absent(res, [INFO["password"]], "init")


def run_mode(mode):
    what = "-M %s" % mode
    prepares = len(SCRIPT) if mode == "prepared" else 0
    n = 2 + 2 + len(SCRIPT) * TRANSACTIONS + prepares  # 2 connections, 2 setup queries
    res, base = compare(pgbench("-n", "-t", str(TRANSACTIONS), "-c", "1", "-M", mode), what,
                        expect_docs=n)
    check(base.returncode == 0 and "number of transactions actually processed: %d/%d"
          % (TRANSACTIONS, TRANSACTIONS) in base.stdout,
          "%s: pgbench without preload must run (sanity)" % what, base.describe())
    recs = records(res, what)
    ops = D.operations(recs)
    qs = D.queries(recs)
    check(ops.count("connect") == 2, "%s: 2 connections (scale check + client), got %d"
          % (what, ops.count("connect")), listing(recs))
    for stmt in SCRIPT:
        want = simple_form(stmt) if mode == "simple" else key(stmt)
        runs = [r for r, op, q in zip(recs, ops, qs) if key(q) == want and op != "prepare"]
        check(len(runs) == TRANSACTIONS, "%s: %r recorded %d times, expected %d (once per "
              "transaction)" % (what, want, len(runs), TRANSACTIONS), listing(recs))
        for r in runs:
            op = "execute" if mode == "prepared" else "query"
            D.check_sql(r, "%s %s" % (what, want[:30]), INFO, INFO["host"], op,
                        prepared=mode != "simple")
        if mode == "prepared":
            preps = [r for r, op, q in zip(recs, ops, qs) if key(q) == want and op == "prepare"]
            check(len(preps) == 1, "%s: %r prepared %d times, expected once per connection"
                  % (what, want, len(preps)), listing(recs))
            for r in preps:
                D.check_sql(r, "%s prepare %s" % (what, want[:30]), INFO, INFO["host"],
                            "prepare", prepared=True)
    check(ops.count("prepare") == prepares, "%s: %d prepare subsegments, expected %d"
          % (what, ops.count("prepare"), prepares), listing(recs))
    check(ops.count("execute") == (len(SCRIPT) * TRANSACTIONS if mode == "prepared" else 0),
          "%s: %d execute subsegments, expected %d" % (what, ops.count("execute"),
                                                       len(SCRIPT) * TRANSACTIONS
                                                       if mode == "prepared" else 0),
          listing(recs))
    for q in qs:
        if q is None:
            continue
        if mode == "simple":
            check("$" not in q and re.search(r"(?<![A-Za-z_])\d", q) is None,
                  "%s: simple mode sends values in the text: they must be '?': %r" % (what, q))
    if mode != "simple":
        check(any("$1" in (q or "") for q in qs), "%s: placeholders $1 kept" % what,
              listing(recs))
    others = [(op, q) for op, q in zip(ops, qs)
              if op != "connect" and key(q) not in
              {simple_form(s) if mode == "simple" else key(s) for s in SCRIPT}]
    check(len(others) == 2 and all(op == "query" for op, _ in others),
          "%s: besides the script, only pgbench's 2 setup queries (scale, partitions): %r"
          % (what, others))
    check(len(res.docs) == n, "%s: %d documents, expected %d" % (what, len(res.docs), n),
          listing(recs))
    for d in res.docs:
        H.check_segment(d, PROGRAM, res.t0, res.t1, "%s: segment %s" % (what, d.get("id")))
    H.check_secret_absent(res, [INFO["password"]], what)


def main():
    global S, INFO, PGBENCH, ENV
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    PGBENCH = dbservers.pg_bin("pgbench")
    if not PGBENCH:
        H.skip("pgbench not installed")
    S = H.Session(sys.argv[1], "pgbench")
    S.require_build()
    INFO = dbservers.ensure(sys.argv[1], "pg")
    if INFO is None:
        H.skip("PostgreSQL not installed")
    ENV = INFO.client_env()
    H.scenario("init", t_init)
    for mode in ("simple", "extended", "prepared"):
        H.scenario("mode " + mode, run_mode, mode)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
