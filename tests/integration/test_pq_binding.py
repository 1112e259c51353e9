#!/usr/bin/python3
"""libpq bound two ways gives the same subsegments.

On Debian, libpq's PQexec, PQprepare, ... call PQsendQuery/PQgetResult through the PLT, so the
preloaded hooks see those inner calls too; on Ubuntu (-Bsymbolic-functions) they bind inside
libpq and are invisible. pq_bind_host reproduces both on this machine (RTLD_GLOBAL vs
RTLD_DEEPBIND); LD_DEBUG=bindings proves which one each run really had. The documents must be
the same: one subsegment per statement, never two.

usage: test_pq_binding.py BUILD_DIR
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dbservers  # noqa: E402
import harness as H  # noqa: E402

EXPECTED = [  # (operation, sanitized_query, preparation, error type)
    ("connect", None, None, None),
    ("query", "SELECT ? + ?", None, None),
    ("query", "SELECT * FROM no_such_table_xr", None, "42P01"),
    ("prepare", "SELECT $1::int + ?", "statement", None),
    ("execute", "SELECT $1::int + ?", "statement", None),
    ("query", "SELECT $1::int * ?", "statement", None),
]
INNER = re.compile(r"binding file \S*libpq\.so\.5 \[0\] to \S*libxray-auto\.so \[0\]: "
                   r"normal symbol `(PQsendQuery|PQsendQueryParams|PQsendPrepare|"
                   r"PQsendQueryPrepared|PQgetResult)'")


def shape(res):
    out = []
    for rec in res.records:
        sub = rec["sub"]
        sql = sub.get("sql", {})
        exc = (sub.get("cause") or {}).get("exceptions") or [{}]
        out.append((H.get(sub, "metadata", "xray_auto", "operation"), sql.get("sanitized_query"),
                    sql.get("preparation"), exc[0].get("type")))
    return out


def run_mode(s, info, mode):
    conninfo = info.conninfo(password=True)
    res = s.run([os.path.join(s.build, "pq_bind_host"), mode, conninfo], expect_docs=6,
                env={"LD_DEBUG": "bindings"})
    H.check(res.returncode == 0, "%s: pq_bind_host exits 0" % mode, res.describe())
    inner = set(INNER.findall(res.stderr))
    if mode == "global":
        H.check({"PQsendQuery", "PQgetResult"} <= inner,
                "global: libpq's inner calls reach the hooks through the PLT (Debian)", sorted(inner))
    else:
        H.check(not inner, "deepbind: libpq's inner calls bind inside libpq (Ubuntu)",
                sorted(inner))
    got = shape(res)
    H.check(got == EXPECTED, "%s: one subsegment per statement, as expected" % mode,
            "\n".join(map(str, got)))
    for rec in res.records:
        sub = rec["sub"]
        H.check(sub.get("name") == "xrdb@127.0.0.1", "%s: name" % mode, sub)
        H.check(H.get(sub, "sql", "url") == info.url(), "%s: sql.url" % mode, sub)
    base = s.run([os.path.join(s.build, "pq_bind_host"), mode, conninfo], preload=False)
    H.check(base.stdout == res.stdout and base.returncode == res.returncode,
            "%s: output unchanged by the preload" % mode, (base.stdout, res.stdout))
    return got


def main():
    s = H.Session(sys.argv[1], "pq_binding")
    s.require_build("pq_bind_host")
    info = dbservers.ensure(s.build, "pg")
    if info is None:
        H.skip("PostgreSQL is not installed")
    results = {}
    for mode in ("global", "deepbind"):
        H.scenario(mode, lambda m=mode: results.__setitem__(m, run_mode(s, info, m)))
    if len(results) == 2:
        H.check(results["global"] == results["deepbind"],
                "Debian-style and Ubuntu-style binding give the same subsegments")
    sys.exit(H.summary())


if __name__ == "__main__":
    main()
