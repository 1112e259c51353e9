/*
 * pq_example - an ordinary libpq program used by the integration tests and
 * the demo.  It knows nothing about libxray-auto.so.
 *
 * Usage:
 *   pq_example CONNINFO MODE
 *
 *   CONNINFO  a libpq connection string ("host=... port=... dbname=...
 *             user=..." or a postgresql:// URI); the password may come from
 *             PGPASSWORD.
 *   MODE      sync           PQexec: CREATE TEMP TABLE, INSERT with literals,
 *                            UPDATE, SELECT (4 statements)
 *             params         PQexecParams: CREATE, 2 INSERTs, SELECT (4)
 *             prepared       PQprepare + 3 x PQexecPrepared (4)
 *             async          PQsendQuery (two statements in one string),
 *                            PQsendQueryParams, PQsendPrepare,
 *                            PQsendQueryPrepared, each drained with
 *                            PQconsumeInput/PQisBusy/PQgetResult (4 sends)
 *             pipeline       pipeline mode: 3 PQsendQueryParams, one
 *                            PQpipelineSync (3 statements)
 *             error          PQexec on a missing table, then a bad cast of
 *                            a literal (2 statements, both fail)
 *             async-connect  PQconnectStart + PQconnectPoll driven by
 *                            poll(), then one PQexec (1 statement)
 *
 * Output (stdout, deterministic): "mode MODE", then one line per result:
 *   <label>: <PGRES_*> [tag=<command tag>] [rows=N cols=M]
 *   <label>: PGRES_FATAL_ERROR sqlstate=<SQLSTATE> message=<primary message>
 * followed by "  row: v1|v2|..." lines (NULL printed as NULL), and "done".
 *
 * Exit status: 0 when the mode ran (failed statements are reported on
 * stdout and are not an error: mode "error" exits 0), 1 when the connection
 * failed or the connection broke, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define POLL_TIMEOUT_MS 30000

static void usage(void)
{
    fprintf(stderr,
            "usage: pq_example CONNINFO "
            "sync|params|prepared|async|pipeline|error|async-connect\n");
}

static void print_result(const char *label, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    printf("%s: %s", label, PQresStatus(st));
    switch (st) {
    case PGRES_FATAL_ERROR:
    case PGRES_NONFATAL_ERROR: {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        printf(" sqlstate=%s message=%s\n", state ? state : "(none)", msg ? msg : "(none)");
        return;
    }
    case PGRES_TUPLES_OK:
    case PGRES_SINGLE_TUPLE:
        printf(" tag=%s rows=%d cols=%d\n", PQcmdStatus(res),
               PQntuples(res), PQnfields(res));
        break;
    case PGRES_COMMAND_OK:
        printf(" tag=%s\n", PQcmdStatus(res));
        return;
    default:
        printf("\n");
        return;
    }
    printf("  columns:");
    for (int c = 0; c < PQnfields(res); c++)
        printf("%s%s", c ? "|" : " ", PQfname(res, c));
    printf("\n");
    for (int r = 0; r < PQntuples(res); r++) {
        printf("  row:");
        for (int c = 0; c < PQnfields(res); c++)
            printf("%s%s", c ? "|" : " ", PQgetisnull(res, r, c) ? "NULL" : PQgetvalue(res, r, c));
        printf("\n");
    }
}

/* Prints and frees one synchronous result. */
static void show(const char *label, PGresult *res)
{
    if (res == NULL) {
        printf("%s: no result (%s)\n", label, "out of memory or connection lost");
        return;
    }
    print_result(label, res);
    PQclear(res);
}

static int connection_broken(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_BAD) {
        fprintf(stderr, "pq_example: connection lost: %s", PQerrorMessage(conn));
        return 1;
    }
    return 0;
}

static int wait_socket(PGconn *conn, short events)
{
    struct pollfd p;
    int n;

    p.fd = PQsocket(conn);
    p.events = events;
    p.revents = 0;
    if (p.fd < 0) {
        fprintf(stderr, "pq_example: no socket\n");
        return -1;
    }
    do
        n = poll(&p, 1, POLL_TIMEOUT_MS);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        fprintf(stderr, "pq_example: poll %s\n", n == 0 ? "timed out" : strerror(errno));
        return -1;
    }
    return 0;
}

/* The asynchronous way of reading: wait for input, PQconsumeInput until
 * PQisBusy says a result is complete, PQgetResult until NULL. */
static int drain(PGconn *conn, const char *label)
{
    for (;;) {
        PGresult *res;

        while (PQisBusy(conn)) {
            if (wait_socket(conn, POLLIN) < 0)
                return -1;
            if (!PQconsumeInput(conn)) {
                fprintf(stderr, "pq_example: PQconsumeInput: %s", PQerrorMessage(conn));
                return -1;
            }
        }
        res = PQgetResult(conn);
        if (res == NULL)
            return 0;
        print_result(label, res);
        PQclear(res);
    }
}

static int sent(PGconn *conn, int ok, const char *label)
{
    if (!ok) {
        fprintf(stderr, "pq_example: %s: send failed: %s", label, PQerrorMessage(conn));
        return -1;
    }
    return drain(conn, label);
}

static int mode_sync(PGconn *conn)
{
    show("create", PQexec(conn, "CREATE TEMP TABLE items (id integer PRIMARY KEY, "
                                "name text NOT NULL, price numeric)"));
    show("insert", PQexec(conn, "INSERT INTO items (id, name, price) VALUES "
                                "(1, 'apple', 1.25), (2, 'O''Brien pear', 2.5)"));
    show("update", PQexec(conn, "UPDATE items SET price = price * 2 WHERE id = 2"));
    show("select", PQexec(conn, "SELECT id, name, price FROM items "
                                "WHERE price > 1.0 AND name <> 'banana' ORDER BY id"));
    return connection_broken(conn);
}

static int mode_params(PGconn *conn)
{
    const char *const row1[] = {"1", "apple"};
    const char *const row2[] = {"2", "pear"};
    const char *const min_id[] = {"1"};
    const char *insert = "INSERT INTO items (id, name) VALUES ($1, $2)";

    show("create", PQexecParams(conn, "CREATE TEMP TABLE items (id integer PRIMARY KEY, "
                                      "name text)", 0, NULL, NULL, NULL, NULL, 0));
    show("insert 1", PQexecParams(conn, insert, 2, NULL, row1, NULL, NULL, 0));
    show("insert 2", PQexecParams(conn, insert, 2, NULL, row2, NULL, NULL, 0));
    show("select", PQexecParams(conn, "SELECT id, name FROM items WHERE id >= $1 ORDER BY id",
                                1, NULL, min_id, NULL, NULL, 0));
    return connection_broken(conn);
}

static int mode_prepared(PGconn *conn)
{
    static const char *const values[] = {"1", "20", "300"};

    show("prepare", PQprepare(conn, "add_one", "SELECT $1::integer + 1 AS next", 1, NULL));
    for (int i = 0; i < 3; i++) {
        char label[32];
        const char *const params[] = {values[i]};

        snprintf(label, sizeof label, "execute %d", i + 1);
        show(label, PQexecPrepared(conn, "add_one", 1, params, NULL, NULL, 0));
    }
    return connection_broken(conn);
}

static int mode_async(PGconn *conn)
{
    const char *const echo[] = {"hello"};
    const char *const num[] = {"21"};

    if (sent(conn, PQsendQuery(conn, "SELECT 1 AS one; SELECT 'two' AS two"), "send query") < 0)
        return 1;
    if (sent(conn, PQsendQueryParams(conn, "SELECT $1::text AS echo", 1, NULL, echo, NULL,
                                     NULL, 0),
             "send query params") < 0)
        return 1;
    if (sent(conn, PQsendPrepare(conn, "double_it", "SELECT $1::integer * 2 AS doubled", 1,
                                 NULL),
             "send prepare") < 0)
        return 1;
    if (sent(conn, PQsendQueryPrepared(conn, "double_it", 1, num, NULL, NULL, 0),
             "send query prepared") < 0)
        return 1;
    return connection_broken(conn);
}

static int mode_pipeline(PGconn *conn)
{
    const char *const a[] = {"1"};
    const char *const b[] = {"two"};
    const char *const c[] = {"3"};
    int queries = 0, syncs = 0;

    if (!PQenterPipelineMode(conn)) {
        fprintf(stderr, "pq_example: PQenterPipelineMode: %s", PQerrorMessage(conn));
        return 1;
    }
    if (!PQsendQueryParams(conn, "SELECT $1::integer AS a", 1, NULL, a, NULL, NULL, 0) ||
        !PQsendQueryParams(conn, "SELECT $1::text AS b", 1, NULL, b, NULL, NULL, 0) ||
        !PQsendQueryParams(conn, "SELECT $1::integer + 1 AS c", 1, NULL, c, NULL, NULL, 0) ||
        !PQpipelineSync(conn)) {
        fprintf(stderr, "pq_example: pipeline send: %s", PQerrorMessage(conn));
        return 1;
    }
    printf("pipeline: 3 queries and a sync sent\n");
    /* Per query: its result(s), then NULL; then the PGRES_PIPELINE_SYNC. */
    while (!syncs) {
        char label[32];
        PGresult *res;

        while (PQisBusy(conn)) {
            if (wait_socket(conn, POLLIN) < 0 || !PQconsumeInput(conn)) {
                fprintf(stderr, "pq_example: pipeline read: %s", PQerrorMessage(conn));
                return 1;
            }
        }
        res = PQgetResult(conn);
        if (res == NULL) {
            printf("query %d: end of results\n", ++queries);
            continue;
        }
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            syncs++;
            snprintf(label, sizeof label, "sync");
        } else {
            snprintf(label, sizeof label, "query %d", queries + 1);
        }
        print_result(label, res);
        PQclear(res);
    }
    if (!PQexitPipelineMode(conn)) {
        fprintf(stderr, "pq_example: PQexitPipelineMode: %s", PQerrorMessage(conn));
        return 1;
    }
    printf("pipeline: exited\n");
    return connection_broken(conn);
}

static int mode_error(PGconn *conn)
{
    show("missing table", PQexec(conn, "SELECT * FROM missing_table"));
    show("bad cast", PQexec(conn, "SELECT 'not-a-number'::integer"));
    return connection_broken(conn);
}

static PGconn *connect_async(const char *conninfo)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    PGconn *conn = PQconnectStart(conninfo);

    if (conn == NULL) {
        fprintf(stderr, "pq_example: PQconnectStart: out of memory\n");
        return NULL;
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        fprintf(stderr, "pq_example: connection failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    /* As the documentation says: start as if PQconnectPoll had returned
     * PGRES_POLLING_WRITING; the socket may change between calls. */
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        if (wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN : POLLOUT) < 0) {
            PQfinish(conn);
            return NULL;
        }
        st = PQconnectPoll(conn);
    }
    if (st == PGRES_POLLING_FAILED) {
        fprintf(stderr, "pq_example: connection failed: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    printf("connected (PQconnectStart/PQconnectPoll)\n");
    return conn;
}

int main(int argc, char **argv)
{
    const char *mode;
    PGconn *conn;
    int rc;

    if (argc != 3) {
        usage();
        return EXIT_USAGE;
    }
    mode = argv[2];
    if (strcmp(mode, "sync") && strcmp(mode, "params") && strcmp(mode, "prepared") &&
        strcmp(mode, "async") && strcmp(mode, "pipeline") && strcmp(mode, "error") &&
        strcmp(mode, "async-connect")) {
        usage();
        return EXIT_USAGE;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("mode %s\n", mode);
    if (strcmp(mode, "async-connect") == 0) {
        conn = connect_async(argv[1]);
        if (conn == NULL)
            return 1;
        show("select", PQexec(conn, "SELECT 1 AS one"));
        rc = connection_broken(conn);
    } else {
        conn = PQconnectdb(argv[1]);
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
            fprintf(stderr, "pq_example: connection failed: %s",
                    conn ? PQerrorMessage(conn) : "out of memory\n");
            PQfinish(conn);
            return 1;
        }
        if (strcmp(mode, "sync") == 0)
            rc = mode_sync(conn);
        else if (strcmp(mode, "params") == 0)
            rc = mode_params(conn);
        else if (strcmp(mode, "prepared") == 0)
            rc = mode_prepared(conn);
        else if (strcmp(mode, "async") == 0)
            rc = mode_async(conn);
        else if (strcmp(mode, "pipeline") == 0)
            rc = mode_pipeline(conn);
        else
            rc = mode_error(conn);
    }
    PQfinish(conn);
    if (rc == 0)
        printf("done\n");
    return rc ? 1 : 0;
}
