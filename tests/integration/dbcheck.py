"""Assertions on database subsegments (issue 3 output contract), shared by the SQL tests.

    import dbcheck as D
    res, base = D.run_both(S, cmd, "text", env=..., expect_docs=6)   # same exit/stdout/stderr
    recs = D.call_records(res, "mysql_example", 6, "text")           # segments, in order
    D.check_sql(recs[0], "text connect", info, host="127.0.0.1", op="connect")
    D.check_sql(recs[1], "text create", info, host="127.0.0.1", op="query", query="CREATE ...")

Standard library only; built on harness.py.
"""

import re

import harness as H
from harness import check

HEX16 = H.HEX16
_NOTSET = object()

ENGINE_TYPE = {"pg": "PostgreSQL", "mariadb": "MariaDB"}
DRIVER_PREFIX = {"pg": "libpq ", "mariadb": "libmariadb "}

# Literal-looking text that must never be in a sanitized error message: a quote (other than
# an apostrophe inside a word: doesn't) or a number (words such as utf8mb4 are fine).
_MSG_LITERAL = re.compile(r"[\"`]|(?<![A-Za-z])'|'(?![A-Za-z])"
                          r"|(?<![A-Za-z0-9_])\d+(?:\.\d+)?(?![A-Za-z0-9_])")


def clean_env(extra=None):
    """Variables that would redirect libpq / libmariadb removed (value None, as
    harness.Session.run understands), then `extra` applied."""
    import os
    env = {k: None for k in os.environ
           if k.startswith(("PG", "MYSQL", "MARIADB"))}
    env.update(extra or {})
    return env


def run_both(S, cmd, what, env=None, expect_docs=None, timeout=60.0, **kw):
    """Runs cmd without, then with the preload; asserts the same exit status, stdout and
    stderr.  Returns (with_preload, without_preload)."""
    base = S.run(cmd, preload=False, env=env, timeout=timeout)
    res = S.run(cmd, env=env, expect_docs=expect_docs, timeout=timeout, **kw)
    same_output(res, base, what)
    return res, base


def same_output(res, base, what):
    check(res.returncode == base.returncode, "%s: exit status %s with preload, %s without"
          % (what, res.returncode, base.returncode),
          {"with": res.describe(), "without": base.describe()})
    check(res.stdout == base.stdout, "%s: stdout differs with preload" % what,
          {"with": res.stdout[-3000:], "without": base.stdout[-3000:]})
    check(res.stderr == base.stderr, "%s: stderr differs with preload" % what,
          {"with": res.stderr[-3000:], "without": base.stderr[-3000:]})


def call_records(res, program, n, what):
    """Mode "call": exactly n segment documents named `program`, each holding one subsegment.
    Returns the subsegment records ordered by start_time (the order the program ran them)."""
    segs = H.segments(res.docs)
    check(len(res.docs) == n, "%s: %d documents, expected %d (one per connection and per "
          "statement sent)" % (what, len(res.docs), n), res.docs)
    check(len(segs) == len(res.docs), "%s: call mode must send segment documents only" % what,
          res.docs)
    for d in segs:
        H.check_segment(d, program, res.t0, res.t1, "%s: segment %s" % (what, d.get("id")))
    recs = [r for r in res.records if not r["independent"]]
    check(len(recs) == len(res.records), "%s: no independent subsegment expected" % what,
          res.docs)
    ids = [r["sub"].get("id") for r in recs]
    check(len(set(ids)) == len(ids), "%s: subsegment ids must be distinct" % what, ids)
    return sorted(recs, key=lambda r: (r["sub"].get("start_time") or 0,
                                       r["sub"].get("end_time") or 0))


def verify_calls(res, program, info, what, expected, host="127.0.0.1"):
    """Call mode: one segment per expected subsegment, in start_time order, each checked
    against the contract (check_sql with the keys of its `expected` dict: op, and optionally
    host, query, prepared, error, ...); the password never appears. Returns the records."""
    recs = call_records(res, program, len(expected), what)
    check(len(recs) == len(expected), "%s: %d subsegments, expected %d: %s"
          % (what, len(recs), len(expected), list(zip(operations(recs), queries(recs)))),
          res.raw[-3000:] or None)
    for i, (rec, e) in enumerate(zip(recs, expected)):
        e = dict(e)
        check_sql(rec, "%s: #%d %s" % (what, i, e["op"]), info, e.pop("host", host),
                  e.pop("op"), **e)
    H.check_secret_absent(res, [info["password"]], what)
    return recs


def operations(recs):
    return [H.get(r["sub"], "metadata", "xray_auto", "operation") for r in recs]


def queries(recs):
    return [H.get(r["sub"], "sql", "sanitized_query") for r in recs]


def sql_texts(recs):
    """Every statement and exception message recorded in recs (for literal checks: numbers
    would also match times and versions elsewhere in the documents)."""
    out = []
    for r in recs:
        q = H.get(r["sub"], "sql", "sanitized_query")
        if q is not None:
            out.append(q)
        for e in H.get(r["sub"], "cause", "exceptions") or []:
            if isinstance(e, dict) and e.get("message") is not None:
                out.append(e["message"])
    return out


def check_literals_absent(recs, literals, what):
    texts = sql_texts(recs)
    for lit in literals:
        hits = [t for t in texts if lit in t]
        check(not hits, "%s: literal %r was recorded" % (what, lit), hits)


def check_sql(rec, what, info, host, op, query=_NOTSET, prepared=False, error=None,
              message=None, remote=True, database=None, user=None, url=None, failed_connect=False):
    """One database subsegment.

    host:     the host as the program gave it (name "<db>@<host>", sql.url's host)
    op:       "connect" | "query" | "prepare" | "execute"
    query:    expected sql.sanitized_query (None: must be absent); not checked if not given
              (a connection never has one)
    prepared: sql.preparation must be "statement" (else absent)
    error:    expected cause.exceptions[0].type (None: no error expected)
    message:  expected exception message (string), or None to only check it is non-empty
              and holds no quoted run nor number
    url:      expected sql.url (string or compiled regex); default scheme://host:port/db
    failed_connect: the connection failed (no server version is known)"""
    sub = rec["sub"]
    engine = info["engine"]
    database = info["database"] if database is None else database
    user = info["user"] if user is None else user
    check(isinstance(sub.get("id"), str) and HEX16.match(sub["id"]) is not None,
          "%s: subsegment id must be 16 lowercase hex" % what, sub)
    name = "%s@%s" % (database, host) if database else host
    check(sub.get("name") == name, "%s: name %r, expected %r" % (what, sub.get("name"), name),
          sub)
    check(sub.get("namespace") == "remote", "%s: namespace must be \"remote\"" % what, sub)
    st, et = sub.get("start_time"), sub.get("end_time")
    check(H._num(st) and H._num(et) and st <= et,
          "%s: needs numeric start_time <= end_time" % what, sub)
    par = rec.get("parent")
    if par is not None and H._num(st) and H._num(et) and H._num(par.get("start_time")) \
            and H._num(par.get("end_time")):
        check(par["start_time"] - 1e-6 <= st and et <= par["end_time"] + 1e-6,
              "%s: subsegment times outside its segment's" % what, rec["doc"])
    check("in_progress" not in sub or sub["in_progress"] is False,
          "%s: complete subsegment with in_progress" % what, sub)
    for k in ("http", "aws"):
        check(k not in sub, "%s: a database subsegment has no %r" % (what, k), sub)

    sql = sub.get("sql")
    if not check(isinstance(sql, dict), "%s: needs an sql object" % what, sub):
        return
    want_url = url if url is not None else info.url(host=host, database=database)
    got_url = sql.get("url")
    if isinstance(want_url, str):
        check(got_url == want_url, "%s: sql.url %r, expected %r" % (what, got_url, want_url),
              sub)
    else:
        check(isinstance(got_url, str) and want_url.match(got_url) is not None,
              "%s: sql.url %r does not match %s" % (what, got_url, want_url.pattern), sub)
    if failed_connect:
        # No version string: the type is the driver family's guess at most.
        check(sql.get("database_type") in (None, ENGINE_TYPE[engine], "MySQL"),
              "%s: sql.database_type %r" % (what, sql.get("database_type")), sub)
        check(sql.get("database_version") in (None, info["server_version"]),
              "%s: sql.database_version %r" % (what, sql.get("database_version")), sub)
    else:
        check(sql.get("database_type") == ENGINE_TYPE[engine], "%s: sql.database_type %r, "
              "expected %r" % (what, sql.get("database_type"), ENGINE_TYPE[engine]), sub)
        check(sql.get("database_version") == info["server_version"],
              "%s: sql.database_version %r, expected the server's %r"
              % (what, sql.get("database_version"), info["server_version"]), sub)
    drv = sql.get("driver_version")
    check(isinstance(drv, str) and drv.startswith(DRIVER_PREFIX[engine])
          and len(drv) > len(DRIVER_PREFIX[engine]),
          "%s: sql.driver_version %r, expected %r + version" % (what, drv, DRIVER_PREFIX[engine]),
          sub)
    check(sql.get("user") == user, "%s: sql.user %r, expected %r" % (what, sql.get("user"), user),
          sub)
    if prepared:
        check(sql.get("preparation") == "statement",
              "%s: sql.preparation %r, expected \"statement\"" % (what, sql.get("preparation")),
              sub)
    else:
        check("preparation" not in sql, "%s: sql.preparation must be absent" % what, sub)
    if op == "connect":
        check("sanitized_query" not in sql,
              "%s: a connection has no sql.sanitized_query" % what, sub)
    elif query is None:
        check("sanitized_query" not in sql, "%s: sql.sanitized_query must be absent" % what, sub)
    elif query is not _NOTSET:
        check(sql.get("sanitized_query") == query, "%s: sql.sanitized_query %r, expected %r"
              % (what, sql.get("sanitized_query"), query), sub)
    got_op = H.get(sub, "metadata", "xray_auto", "operation")
    check(got_op == op, "%s: metadata.xray_auto.operation %r, expected %r" % (what, got_op, op),
          sub)

    if error is None:
        for k in ("fault", "error", "throttle", "cause"):
            check(k not in sub, "%s: a successful operation has no %r" % (what, k), sub)
        return
    check(sub.get("fault") is True, "%s: a failed operation needs fault=true" % what, sub)
    check(sub.get("error") is not True and sub.get("throttle") is not True,
          "%s: a database failure is a fault, not error/throttle" % what, sub)
    exc = H.get(sub, "cause", "exceptions", 0)
    if not check(isinstance(exc, dict), "%s: needs cause.exceptions[0]" % what, sub):
        return
    check(isinstance(exc.get("id"), str) and HEX16.match(exc["id"]) is not None,
          "%s: exception id must be 16 lowercase hex" % what, sub)
    check(exc.get("type") == error, "%s: exception type %r, expected %r"
          % (what, exc.get("type"), error), sub)
    check(exc.get("remote") is remote, "%s: exception remote %r, expected %r"
          % (what, exc.get("remote"), remote), sub)
    msg = exc.get("message")
    if message is not None:
        check(msg == message, "%s: exception message %r, expected %r" % (what, msg, message),
              sub)
    else:
        check(isinstance(msg, str) and msg != "" and "\n" not in msg,
              "%s: exception message must be one non-empty line" % what, sub)
        if isinstance(msg, str):
            check(_MSG_LITERAL.search(msg) is None,
                  "%s: exception message %r holds a quoted run or a number" % (what, msg), sub)
    q = sql.get("sanitized_query")
    if isinstance(msg, str) and isinstance(q, str) and len(q) > 12:
        check(q not in msg, "%s: the message must not carry the statement" % what, sub)
    stack = exc.get("stack")
    if stack is not None:
        check(isinstance(stack, list) and len(stack) > 0
              and all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in stack),
              "%s: exception stack must be a non-empty list of {path, label}" % what, sub)


def check_stack_origin(rec, what, path_re):
    """When a stack is recorded, its innermost frame is the program's code that called the
    client library (e.g. psycopg2's extension module), whose path matches path_re."""
    stack = H.get(rec["sub"], "cause", "exceptions", 0, "stack")
    if not stack:
        print("note: %s: no stack recorded (libunwind not installed?)" % what)
        return
    top = stack[0].get("path") if isinstance(stack[0], dict) else None
    check(isinstance(top, str) and re.search(path_re, top) is not None,
          "%s: innermost stack frame %r, expected the caller matching %r"
          % (what, top, path_re), stack)
