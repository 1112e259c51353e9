/*
 * mysql_example - an ordinary MariaDB Connector/C (libmariadb) program used
 * by the integration tests and the demo.  It knows nothing about
 * libxray-auto.so.
 *
 * Usage:
 *   mysql_example HOST PORT USER PASSWORD DB MODE
 *
 *   HOST      a host name or address; a path starting with "/" is a Unix
 *             socket (the library's host is then NULL, i.e. "localhost")
 *   PASSWORD  "-" passes NULL: libmariadb then takes MYSQL_PWD
 *   MODE      text      mysql_query: CREATE TEMPORARY TABLE, INSERT with
 *                       literals, SELECT; mysql_real_query: SELECT;
 *                       mysql_send_query + mysql_read_query_result: UPDATE
 *                       (5 statements; results read with mysql_store_result)
 *             stmt      mysql_stmt_init/prepare/bind_param, then 3 x
 *                       execute + store_result + fetch (1 prepare, 3 executes)
 *             error     a missing table, then a duplicate key
 *                       (4 statements, 2 fail)
 *             nonblock  MYSQL_OPT_NONBLOCK: mysql_real_connect_start/_cont,
 *                       mysql_real_query_start/_cont, mysql_store_result_start/
 *                       _cont, driven by poll() (1 statement)
 *
 * Output (stdout, deterministic): "mode MODE", then one line per statement:
 *   <label>: ok affected=N                    (no result set)
 *   <label>: rows=N cols=M                    followed by "  row: v1|v2|..."
 *   <label>: error errno=N sqlstate=S message=...
 * and "done".
 *
 * Exit status: 0 when the mode ran (failed statements are reported on
 * stdout: mode "error" exits 0), 1 when connecting failed, 2 on usage
 * errors, 77 for "nonblock" when the library has no non-blocking API.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_UNSUPPORTED 77

#if defined(LIBMARIADB) || defined(MARIADB_PACKAGE_VERSION_ID)
#define HAVE_NONBLOCK 1
#else
#define HAVE_NONBLOCK 0
#endif

struct target {
    const char *host;
    const char *socket;
    unsigned int port;
    const char *user;
    const char *password;
    const char *db;
};

static void usage(void)
{
    fprintf(stderr, "usage: mysql_example HOST|/SOCKET PORT USER PASSWORD|- DB "
                    "text|stmt|error|nonblock\n");
}

static void print_error(const char *label, MYSQL *m)
{
    printf("%s: error errno=%u sqlstate=%s message=%s\n", label, mysql_errno(m),
           mysql_sqlstate(m), mysql_error(m));
}

static void print_rows(const char *label, MYSQL_RES *res)
{
    unsigned int n = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    MYSQL_ROW row;

    printf("%s: rows=%llu cols=%u\n", label, (unsigned long long)mysql_num_rows(res), n);
    printf("  columns:");
    for (unsigned int c = 0; c < n; c++)
        printf("%s%s", c ? "|" : " ", fields[c].name);
    printf("\n");
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(res);

        printf("  row:");
        for (unsigned int c = 0; c < n; c++) {
            printf("%s", c ? "|" : " ");
            if (row[c] == NULL)
                printf("NULL");
            else
                fwrite(row[c], 1, len[c], stdout);
        }
        printf("\n");
    }
}

/* After a statement was sent and its result read: print it. */
static void finish(const char *label, MYSQL *m, int failed)
{
    MYSQL_RES *res;

    if (failed) {
        print_error(label, m);
        return;
    }
    res = mysql_store_result(m);
    if (res != NULL) {
        print_rows(label, res);
        mysql_free_result(res);
    } else if (mysql_field_count(m) == 0) {
        printf("%s: ok affected=%llu\n", label, (unsigned long long)mysql_affected_rows(m));
    } else {
        print_error(label, m);
    }
}

static void query(MYSQL *m, const char *label, const char *sql)
{
    finish(label, m, mysql_query(m, sql) != 0);
}

static MYSQL *connect_blocking(const struct target *t)
{
    MYSQL *m = mysql_init(NULL);

    if (m == NULL) {
        fprintf(stderr, "mysql_example: mysql_init failed\n");
        return NULL;
    }
    if (mysql_real_connect(m, t->host, t->user, t->password, t->db, t->port, t->socket, 0) ==
        NULL) {
        fprintf(stderr, "mysql_example: connection failed: %u (%s) %s\n", mysql_errno(m),
                mysql_sqlstate(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

static int mode_text(MYSQL *m)
{
    const char *count = "SELECT COUNT(*) AS n, SUM(price) AS total FROM items WHERE price > 1.0";

    query(m, "create", "CREATE TEMPORARY TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, "
                       "price DOUBLE)");
    query(m, "insert", "INSERT INTO items (id, name, price) VALUES (1, 'apple', 1.25), "
                       "(2, \"pear\", 2.5), (3, 'it\\'s', 0x1F)");
    query(m, "select", "SELECT id, name, price FROM items WHERE name <> 'banana' ORDER BY id");
    finish("real query", m, mysql_real_query(m, count, (unsigned long)strlen(count)) != 0);
    {
        const char *upd = "UPDATE items SET price = price * 2 WHERE id = 2";
        int failed = mysql_send_query(m, upd, (unsigned long)strlen(upd)) != 0;

        if (!failed)
            failed = mysql_read_query_result(m) != 0;
        finish("send query", m, failed);
    }
    return 0;
}

static int mode_stmt(MYSQL *m)
{
    static const char *sql = "SELECT ? * 2 AS doubled, CONCAT('n', ?) AS label";
    static const char *const labels[] = {"a", "bb", "ccc"};
    MYSQL_STMT *st = mysql_stmt_init(m);
    MYSQL_BIND param[2], result[2];
    long long number = 0, doubled = 0;
    char text[16], out[32];
    unsigned long text_len = 0, out_len = 0;
    my_bool null_out[2] = {0, 0};

    if (st == NULL) {
        print_error("stmt init", m);
        return 0;
    }
    if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql)) != 0) {
        printf("prepare: error errno=%u sqlstate=%s message=%s\n", mysql_stmt_errno(st),
               mysql_stmt_sqlstate(st), mysql_stmt_error(st));
        mysql_stmt_close(st);
        return 0;
    }
    printf("prepare: ok params=%lu fields=%u\n", mysql_stmt_param_count(st),
           mysql_stmt_field_count(st));
    memset(param, 0, sizeof param);
    param[0].buffer_type = MYSQL_TYPE_LONGLONG;
    param[0].buffer = &number;
    param[1].buffer_type = MYSQL_TYPE_STRING;
    param[1].buffer = text;
    param[1].buffer_length = sizeof text;
    param[1].length = &text_len;
    memset(result, 0, sizeof result);
    result[0].buffer_type = MYSQL_TYPE_LONGLONG;
    result[0].buffer = &doubled;
    result[0].is_null = &null_out[0];
    result[1].buffer_type = MYSQL_TYPE_STRING;
    result[1].buffer = out;
    result[1].buffer_length = sizeof out;
    result[1].length = &out_len;
    result[1].is_null = &null_out[1];
    if (mysql_stmt_bind_param(st, param) != 0) {
        printf("bind: error %s\n", mysql_stmt_error(st));
        mysql_stmt_close(st);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        int fetched;

        number = i + 1;
        snprintf(text, sizeof text, "%s", labels[i]);
        text_len = (unsigned long)strlen(text);
        if (mysql_stmt_execute(st) != 0 || mysql_stmt_bind_result(st, result) != 0 ||
            mysql_stmt_store_result(st) != 0) {
            printf("execute %d: error errno=%u sqlstate=%s message=%s\n", i + 1,
                   mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
            continue;
        }
        printf("execute %d: rows=%llu\n", i + 1, (unsigned long long)mysql_stmt_num_rows(st));
        while ((fetched = mysql_stmt_fetch(st)) == 0 || fetched == MYSQL_DATA_TRUNCATED) {
            int n = (int)(out_len < sizeof out ? out_len : sizeof out);

            printf("  row: %lld|%.*s\n", doubled, n, out);
        }
        mysql_stmt_free_result(st);
    }
    mysql_stmt_close(st);
    return 0;
}

static int mode_error(MYSQL *m)
{
    query(m, "missing table", "SELECT * FROM missing_table");
    query(m, "create", "CREATE TEMPORARY TABLE dup (id INT PRIMARY KEY)");
    query(m, "insert", "INSERT INTO dup VALUES (1)");
    query(m, "duplicate", "INSERT INTO dup VALUES (1)");
    return 0;
}

#if HAVE_NONBLOCK
/* Waits for what the library asked (MYSQL_WAIT_*); returns what happened. */
static int wait_for(MYSQL *m, int status)
{
    struct pollfd p;
    int timeout = -1, n, out = 0;

    p.fd = mysql_get_socket(m);
    p.events = (short)((status & MYSQL_WAIT_READ ? POLLIN : 0) |
                       (status & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
                       (status & MYSQL_WAIT_EXCEPT ? POLLPRI : 0));
    p.revents = 0;
    if (status & MYSQL_WAIT_TIMEOUT)
        timeout = (int)mysql_get_timeout_value_ms(m);
    do
        n = poll(&p, 1, timeout);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return MYSQL_WAIT_TIMEOUT;
    if (n < 0)
        return MYSQL_WAIT_TIMEOUT;
    if (p.revents & (POLLIN | POLLERR | POLLHUP))
        out |= MYSQL_WAIT_READ;
    if (p.revents & POLLOUT)
        out |= MYSQL_WAIT_WRITE;
    if (p.revents & POLLPRI)
        out |= MYSQL_WAIT_EXCEPT;
    return out;
}

static int mode_nonblock(const struct target *t)
{
    MYSQL *m = mysql_init(NULL), *ret = NULL;
    MYSQL_RES *res = NULL;
    const char *sql = "SELECT 1 AS one, 'two' AS two";
    int status, err = 0;

    if (m == NULL || mysql_options(m, MYSQL_OPT_NONBLOCK, 0) != 0) {
        fprintf(stderr, "mysql_example: MYSQL_OPT_NONBLOCK failed\n");
        return 1;
    }
    status = mysql_real_connect_start(&ret, m, t->host, t->user, t->password, t->db, t->port,
                                      t->socket, 0);
    while (status)
        status = mysql_real_connect_cont(&ret, m, wait_for(m, status));
    if (ret == NULL) {
        fprintf(stderr, "mysql_example: connection failed: %u (%s) %s\n", mysql_errno(m),
                mysql_sqlstate(m), mysql_error(m));
        mysql_close(m);
        return 1;
    }
    printf("connected (mysql_real_connect_start/_cont)\n");
    status = mysql_real_query_start(&err, m, sql, (unsigned long)strlen(sql));
    while (status)
        status = mysql_real_query_cont(&err, m, wait_for(m, status));
    if (err) {
        print_error("select", m);
    } else {
        status = mysql_store_result_start(&res, m);
        while (status)
            status = mysql_store_result_cont(&res, m, wait_for(m, status));
        if (res != NULL) {
            print_rows("select", res);
            mysql_free_result(res);
        } else {
            print_error("select", m);
        }
    }
    mysql_close(m);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    struct target t;
    const char *mode;
    char *end;
    unsigned long port;
    MYSQL *m;
    int rc;

    if (argc != 7) {
        usage();
        return EXIT_USAGE;
    }
    mode = argv[6];
    if (strcmp(mode, "text") && strcmp(mode, "stmt") && strcmp(mode, "error") &&
        strcmp(mode, "nonblock")) {
        usage();
        return EXIT_USAGE;
    }
    errno = 0;
    port = strtoul(argv[2], &end, 10);
    if (errno || *end || port > 65535) {
        usage();
        return EXIT_USAGE;
    }
    t.host = argv[1][0] == '/' ? NULL : argv[1];
    t.socket = argv[1][0] == '/' ? argv[1] : NULL;
    t.port = (unsigned int)port;
    t.user = argv[3];
    t.password = strcmp(argv[4], "-") == 0 ? NULL : argv[4];
    t.db = argv[5];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "mysql_example: mysql_library_init failed\n");
        return 1;
    }
    printf("mode %s\n", mode);
    if (strcmp(mode, "nonblock") == 0) {
#if HAVE_NONBLOCK
        rc = mode_nonblock(&t);
#else
        fprintf(stderr, "mysql_example: this client library has no non-blocking API\n");
        rc = EXIT_UNSUPPORTED;
#endif
    } else {
        m = connect_blocking(&t);
        if (m == NULL) {
            mysql_library_end();
            return 1;
        }
        if (strcmp(mode, "text") == 0)
            rc = mode_text(m);
        else if (strcmp(mode, "stmt") == 0)
            rc = mode_stmt(m);
        else
            rc = mode_error(m);
        mysql_close(m);
    }
    mysql_library_end();
    if (rc == 0)
        printf("done\n");
    return rc;
}
