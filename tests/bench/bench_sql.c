/*
 * bench_sql - per-statement cost of libxray-auto.so on a real database
 * client library (an ordinary libpq / libmariadb program that knows
 * nothing about the preload).
 *
 *   bench_sql [--segment K] pg      HOST PORT USER DATABASE N [WARMUP]
 *   bench_sql [--segment K] pgasync HOST PORT USER DATABASE N [WARMUP]
 *   bench_sql [--segment K] mysql   HOST PORT USER DATABASE N [WARMUP]
 *
 * Connects once over TCP (give 127.0.0.1 as HOST), runs WARMUP (default
 * 200) untimed statements, then N timed `SELECT 1`:
 *   pg:      PQexec + PQclear
 *   pgasync: pgbench's way: PQsendQuery of "SELECT abalance FROM
 *            pgbench_accounts WHERE aid = <i>;"-like text (a literal that
 *            changes, here against a VALUES list), then PQgetResult until
 *            NULL (the path of pgbench -S; no pgbench tables needed)
 *   mysql: mysql_query + mysql_store_result + mysql_free_result
 * and checks every result (one row whose value is "1").  The password
 * comes from the environment: PGPASSWORD (libpq reads it itself) or
 * MYSQL_PWD (read here and handed to mysql_real_connect), so that it never
 * appears on a command line.
 *
 * With --segment K, every K statements of the warm-up and of the timed run
 * (the last group of each may be shorter) run between xray_begin_segment and
 * xray_end_segment, like a request handler making K queries: with the
 * preload each statement is then a subsegment of that segment, sent in its
 * document when the segment ends (the timed figure includes opening, closing
 * and sending the segments).  The two functions are looked up at run time
 * (dlsym(RTLD_DEFAULT)): without the preload they are absent and the same
 * statements run alone.  The connection is made before any segment.
 *
 * Prints one line:
 *   "engine=E statements=S queries=N total_us=T ns_per_query=X segments=G"
 * where S = WARMUP + N is the number of statements sent on the connection
 * and G the number of segments opened (0 without --segment, without the
 * preload or with tracing disabled).  With the preload and every call
 * traced, one connection document plus S statement documents are emitted
 * without --segment, one connection document plus G segment documents with
 * it.
 *
 * Timing uses clock_gettime(CLOCK_MONOTONIC).  Exit 0 on success, 1 if the
 * connection or any statement failed or returned something else than 1,
 * 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUERY "SELECT 1"

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static int parse_count(const char *s, long min, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* --- segments (include/xray-auto.h's API, when libxray-auto.so is loaded) */

static int (*seg_begin)(const char *name, const char *trace_header);
static int (*seg_end)(void);
static long seg_every; /* K: statements per segment; 0: no segments */
static long seg_opened;

static void seg_init(long every)
{
    seg_every = every;
    if (every <= 0)
        return;
    *(void **)&seg_begin = dlsym(RTLD_DEFAULT, "xray_begin_segment");
    *(void **)&seg_end = dlsym(RTLD_DEFAULT, "xray_end_segment");
    if (seg_begin == NULL || seg_end == NULL)
        seg_begin = NULL, seg_end = NULL;
}

/* Before statement i of a run of n: opens a segment at the start of each group of K. */
static void seg_before(long i)
{
    if (seg_begin != NULL && i % seg_every == 0 && seg_begin(NULL, NULL) == 0)
        seg_opened++;
}

/* After statement i of n: closes and sends the group's segment
 * after its last statement. */
static void seg_after(long i, long n)
{
    if (seg_end != NULL && (i % seg_every == seg_every - 1 || i == n - 1))
        (void)seg_end(); /* -ENOENT when the begin failed (tracing disabled) */
}

/* --- PostgreSQL (libpq) ----------------------------------------------- */

static int pg_one(PGconn *c, long i)
{
    PGresult *r = PQexec(c, QUERY);
    int ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             PQnfields(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "1") == 0;

    if (!ok) {
        fprintf(stderr, "bench_sql: pg statement %ld failed: %s\n", i,
                r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(c));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* pgbench -S's statement shape (a literal that differs every time) without
 * its tables: one row whose value is "1". */
static int pg_async_one(PGconn *c, long i)
{
    char q[128];
    PGresult *r;
    int ok = 0, results = 0;

    snprintf(q, sizeof(q),
             "SELECT abalance FROM (VALUES (1, %ld)) AS pgbench_accounts (abalance, aid) "
             "WHERE aid = %ld;", i, i);
    if (!PQsendQuery(c, q)) {
        fprintf(stderr, "bench_sql: pg statement %ld not sent: %s\n", i, PQerrorMessage(c));
        return -1;
    }
    while ((r = PQgetResult(c)) != NULL) {
        results++;
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             strcmp(PQgetvalue(r, 0, 0), "1") == 0;
        if (!ok)
            fprintf(stderr, "bench_sql: pg statement %ld failed: %s\n", i,
                    PQresultErrorMessage(r));
        PQclear(r);
    }
    return ok && results == 1 ? 0 : -1;
}

static int bench_pg(const char *host, const char *port, const char *user, const char *db,
                    long n, long warmup, int64_t *elapsed, int (*one)(PGconn *, long))
{
    const char *keys[] = {"host", "port", "user", "dbname", "connect_timeout", NULL};
    const char *vals[] = {host, port, user, db, "30", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 0);
    int64_t t0, t1;
    long i;

    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bench_sql: pg connection failed: %s",
                c != NULL ? PQerrorMessage(c) : "out of memory\n");
        PQfinish(c);
        return 1;
    }
    for (i = 0; i < warmup; i++) {
        seg_before(i);
        if (one(c, -1 - i) != 0) {
            PQfinish(c);
            return 1;
        }
        seg_after(i, warmup);
    }
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        seg_before(i);
        if (one(c, i) != 0) {
            PQfinish(c);
            return 1;
        }
        seg_after(i, n);
    }
    t1 = now_ns();
    PQfinish(c);
    *elapsed = t1 - t0;
    return 0;
}

/* --- MariaDB / MySQL (libmariadb) ------------------------------------- */

static int my_one(MYSQL *m, long i)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int ok;

    if (mysql_query(m, QUERY) != 0) {
        fprintf(stderr, "bench_sql: mysql statement %ld failed: %s\n", i, mysql_error(m));
        return -1;
    }
    res = mysql_store_result(m);
    if (res == NULL) {
        fprintf(stderr, "bench_sql: mysql statement %ld: no result: %s\n", i, mysql_error(m));
        return -1;
    }
    row = mysql_fetch_row(res);
    ok = mysql_num_rows(res) == 1 && mysql_num_fields(res) == 1 && row != NULL &&
         row[0] != NULL && strcmp(row[0], "1") == 0;
    mysql_free_result(res);
    if (!ok) {
        fprintf(stderr, "bench_sql: mysql statement %ld: unexpected result\n", i);
        return -1;
    }
    return 0;
}

static int bench_mysql(const char *host, const char *port, const char *user, const char *db,
                       long n, long warmup, int64_t *elapsed)
{
    const char *pw = getenv("MYSQL_PWD");
    unsigned int timeout = 30;
    long portnum = 0;
    int64_t t0, t1;
    MYSQL *m;
    long i;

    if (parse_count(port, 1, &portnum) != 0 || portnum > 65535) {
        fprintf(stderr, "bench_sql: bad port '%s'\n", port);
        return 2;
    }
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "bench_sql: mysql_library_init failed\n");
        return 1;
    }
    m = mysql_init(NULL);
    if (m == NULL) {
        fprintf(stderr, "bench_sql: mysql_init failed\n");
        return 1;
    }
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, host, user, pw, db, (unsigned int)portnum, NULL, 0) == NULL) {
        fprintf(stderr, "bench_sql: mysql connection failed: %s\n", mysql_error(m));
        mysql_close(m);
        return 1;
    }
    for (i = 0; i < warmup; i++) {
        seg_before(i);
        if (my_one(m, -1 - i) != 0) {
            mysql_close(m);
            return 1;
        }
        seg_after(i, warmup);
    }
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        seg_before(i);
        if (my_one(m, i) != 0) {
            mysql_close(m);
            return 1;
        }
        seg_after(i, n);
    }
    t1 = now_ns();
    mysql_close(m);
    mysql_library_end();
    *elapsed = t1 - t0;
    return 0;
}

int main(int argc, char **argv)
{
    long n = 0, warmup = 200, every = 0;
    int64_t elapsed = 0;
    int ret, bad = 0;

    if (argc >= 3 && strcmp(argv[1], "--segment") == 0) {
        bad = parse_count(argv[2], 1, &every) != 0;
        argc -= 2;
        argv += 2;
    }
    if (bad || (argc != 7 && argc != 8) || parse_count(argv[6], 1, &n) != 0 ||
        (argc == 8 && parse_count(argv[7], 0, &warmup) != 0) ||
        (strcmp(argv[1], "pg") != 0 && strcmp(argv[1], "pgasync") != 0 &&
         strcmp(argv[1], "mysql") != 0)) {
        fprintf(stderr, "usage: bench_sql [--segment K] pg|pgasync|mysql HOST PORT USER DATABASE N "
                        "[WARMUP]\n"
                        "       (password from PGPASSWORD / MYSQL_PWD)\n");
        return 2;
    }
    seg_init(every);
    if (strcmp(argv[1], "pg") == 0)
        ret = bench_pg(argv[2], argv[3], argv[4], argv[5], n, warmup, &elapsed, pg_one);
    else if (strcmp(argv[1], "pgasync") == 0)
        ret = bench_pg(argv[2], argv[3], argv[4], argv[5], n, warmup, &elapsed, pg_async_one);
    else
        ret = bench_mysql(argv[2], argv[3], argv[4], argv[5], n, warmup, &elapsed);
    if (ret != 0)
        return ret;
    printf("engine=%s statements=%ld queries=%ld total_us=%lld ns_per_query=%.0f segments=%ld\n",
           argv[1], warmup + n, n, (long long)(elapsed / 1000), (double)elapsed / (double)n,
           seg_opened);
    return 0;
}
