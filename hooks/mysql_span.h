/*
 * What the MySQL/MariaDB client hooks record (mysql.c holds the shims).
 * One subsegment per connection established and per statement sent:
 *   - blocking calls own their span (mysql_query's inner mysql_real_query
 *     passes through at xr_depth > 0);
 *   - mysql_send_query opens a span that mysql_read_query_result closes;
 *   - the MariaDB non-blocking API opens it at *_start and closes it when
 *     *_start or *_cont returns 0 (done). Its coroutine runs the blocking
 *     function inside the start/cont call, at xr_depth > 0.
 * Prepared statements: mysql_stmt_init ties a MYSQL_STMT to its
 * connection, mysql_stmt_prepare is a "prepare" subsegment whose text is
 * kept for the "execute" subsegments of mysql_stmt_execute.
 * Contract: a MYSQL and its statements are used by one thread at a time
 * (the client library's rule).
 */
#ifndef XR_MYSQL_SPAN_H
#define XR_MYSQL_SPAN_H

#include "db_op.h"
#include "mysql_api.h"

#include "../src/sql_call.h"

/* What the program asked to connect to (the password is never kept). */
struct xr_my_target {
  const char *host, *user, *db, *socket;
  unsigned port;
};

void xr_my_connect_enter(struct xr_db_op *op);
/* Blocking connect (or a non-blocking one that finished at once). */
void xr_my_connect_leave(struct xr_db_op *op, void *const *api, MYSQL *m, bool ok,
                         const struct xr_my_target *t);
/* mysql_real_connect_start: status 0 means done (ok tells how). */
void xr_my_connect_start_leave(struct xr_db_op *op, void *const *api, MYSQL *m,
                               int status, bool ok, const struct xr_my_target *t);

/* Text statements on a connection. */
void xr_my_query_enter(struct xr_db_op *op, void *const *api, MYSQL *m,
                       const char *q, size_t len);
void xr_my_query_leave(struct xr_db_op *op, void *const *api, MYSQL *m, bool ok);
/* mysql_send_query / *_start: the span stays open on m unless done (a
 * failed send, or status 0 of a non-blocking call). */
void xr_my_query_sent(struct xr_db_op *op, void *const *api, MYSQL *m, bool done,
                      bool ok);
/* mysql_read_query_result, *_cont with status 0: closes m's open span.
 * connect: the open span is a connection's. */
void xr_my_conn_done(void *const *api, MYSQL *m, bool ok);

/* Prepared statements. */
void xr_my_stmt_bind(MYSQL_STMT *s, MYSQL *m);
void xr_my_stmt_enter(struct xr_db_op *op, void *const *api, MYSQL_STMT *s,
                      enum xr_sql_op kind, const char *q, size_t len);
void xr_my_stmt_leave(struct xr_db_op *op, void *const *api, MYSQL_STMT *s,
                      bool done, bool ok);
void xr_my_stmt_done(void *const *api, MYSQL_STMT *s, bool ok);
void xr_my_stmt_forget(MYSQL_STMT *s);

/* mysql_close, before the real call. */
void xr_my_forget(MYSQL *m);

void xr_my_fork_child(void);

#endif /* XR_MYSQL_SPAN_H */
