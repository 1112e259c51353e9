#!/usr/bin/python3
"""A small ordinary MySQLdb (mysqlclient) program (it knows nothing about tracing).

Usage: db_mysqldb.py [host=H] [port=N] [user=U] [db=D] [password=P] [unix_socket=PATH]
                     [--extra NAME QTY]

Connection parameters come from the arguments, else from the environment: MYSQL_HOST,
MYSQL_TCP_PORT, MYSQL_USER, MYSQL_DATABASE, MYSQL_UNIX_PORT; without a password argument the
client library reads MYSQL_PWD itself.  --extra inserts one more row.

It creates a temporary table, inserts rows with parameters (cursor.execute with %s), selects
them, commits, then runs a statement on a missing table and prints the error class.  The output
is deterministic.  Exit status 0, or 1 if something unexpected failed.
"""

import os
import sys
from decimal import Decimal

import MySQLdb


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
    params = {}
    env = {"host": "MYSQL_HOST", "port": "MYSQL_TCP_PORT", "user": "MYSQL_USER",
           "db": "MYSQL_DATABASE", "unix_socket": "MYSQL_UNIX_PORT"}
    for k, var in env.items():
        if os.environ.get(var):
            params[k] = os.environ[var]
    for a in args:
        k, sep, v = a.partition("=")
        if not sep or k not in ("host", "port", "user", "db", "password", "unix_socket"):
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            return 2
        params["passwd" if k == "password" else k] = v
    if "port" in params:
        params["port"] = int(params["port"])

    conn = MySQLdb.connect(**params)
    cur = conn.cursor()
    cur.execute("CREATE TEMPORARY TABLE xr_items ("
                " id INT PRIMARY KEY,"
                " name VARCHAR(64) NOT NULL,"
                " qty INT NOT NULL,"
                " price DECIMAL(10, 2))")
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
    cur.execute("SELECT COUNT(*), SUM(qty) FROM xr_items")
    n, total = cur.fetchone()
    print("count=%d sum=%d" % (n, total))
    conn.commit()
    print("committed")

    try:
        cur.execute("SELECT name FROM xr_missing_table WHERE id = %s", (42,))
        print("unexpected: no error")
        return 1
    except MySQLdb.Error as e:
        print("error %s.%s code=%d" % (type(e).__module__, type(e).__name__, e.args[0]))
        conn.rollback()
        print("rolled back")

    cur.close()
    conn.close()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
