#!/usr/bin/python3
"""A small ordinary psycopg2 program (it knows nothing about tracing).

Usage: db_psycopg2.py [CONNINFO] [--extra NAME QTY]

CONNINFO is a libpq connection string ("host=... port=... dbname=... user=...") or URI
(postgresql://user@host:port/db); without it libpq uses the PG* environment variables
(PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD).  --extra inserts one more row.

It creates a temporary table, inserts rows with parameters (cursor.execute with %s), selects
them, commits, then runs a statement on a missing table and prints the error class.  The output
is deterministic.  Exit status 0, or 1 if something unexpected failed.
"""

import sys
from decimal import Decimal

import psycopg2


def main(argv):
    args = argv[1:]
    extra = None
    if "--extra" in args:
        i = args.index("--extra")
        if len(args) < i + 3:
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            return 2
        extra = (args[i + 1], int(args[i + 2]))
        del args[i:i + 3]
    dsn = args[0] if args else ""

    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE xr_items ("
                " id integer PRIMARY KEY,"
                " name text NOT NULL,"
                " qty integer NOT NULL,"
                " price numeric(10, 2))")
    rows = [(1, "apple", 3, Decimal("0.50")), (2, "it's a pear", 7, Decimal("1.25")),
            (3, "cherry", 100, None)]
    if extra is not None:
        rows.append((4, extra[0], extra[1], Decimal("9.99")))
    for row in rows:
        cur.execute("INSERT INTO xr_items (id, name, qty, price) VALUES (%s, %s, %s, %s)", row)
    print("inserted %d rows" % len(rows))

    cur.execute("SELECT id, name, qty, price FROM xr_items WHERE qty >= %s ORDER BY id", (3,))
    for r in cur.fetchall():
        print("row %d %r qty=%d price=%s" % (r[0], r[1], r[2], r[3]))
    cur.execute("SELECT count(*), sum(qty) FROM xr_items")
    print("count=%d sum=%d" % cur.fetchone())
    conn.commit()
    print("committed")

    try:
        cur.execute("SELECT name FROM xr_missing_table WHERE id = %s", (42,))
        print("unexpected: no error")
        return 1
    except psycopg2.Error as e:
        print("error %s.%s pgcode=%s" % (type(e).__module__, type(e).__name__, e.pgcode))
        conn.rollback()
        print("rolled back")

    cur.close()
    conn.close()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
