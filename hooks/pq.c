/*
 * Exported libpq hooks: each resolves the real function for its caller,
 * passes straight through unless tracing is ready and this is the
 * outermost traced operation of the thread, and returns exactly what libpq
 * returned with errno as libpq left it. The logic is in pq_span.c.
 */
#include "../src/xr_setup.h"

#include "pq_api.h"
#include "pq_span.h"

#define XR_RA __builtin_return_address(0)

static const char *const xr_pq_names[XR_PQ_NFUNCS] = {
    [XR_PQ_CONNECTDB] = "PQconnectdb",
    [XR_PQ_CONNECTDB_PARAMS] = "PQconnectdbParams",
    [XR_PQ_SETDB_LOGIN] = "PQsetdbLogin",
    [XR_PQ_CONNECT_START] = "PQconnectStart",
    [XR_PQ_CONNECT_START_PARAMS] = "PQconnectStartParams",
    [XR_PQ_CONNECT_POLL] = "PQconnectPoll",
    [XR_PQ_RESET] = "PQreset",
    [XR_PQ_RESET_START] = "PQresetStart",
    [XR_PQ_RESET_POLL] = "PQresetPoll",
    [XR_PQ_FINISH] = "PQfinish",
    [XR_PQ_EXEC] = "PQexec",
    [XR_PQ_EXEC_PARAMS] = "PQexecParams",
    [XR_PQ_PREPARE] = "PQprepare",
    [XR_PQ_EXEC_PREPARED] = "PQexecPrepared",
    [XR_PQ_SEND_QUERY] = "PQsendQuery",
    [XR_PQ_SEND_QUERY_PARAMS] = "PQsendQueryParams",
    [XR_PQ_SEND_PREPARE] = "PQsendPrepare",
    [XR_PQ_SEND_QUERY_PREPARED] = "PQsendQueryPrepared",
    [XR_PQ_GET_RESULT] = "PQgetResult",
    [XR_PQ_STATUS] = "PQstatus",
    [XR_PQ_ERROR_MESSAGE] = "PQerrorMessage",
    [XR_PQ_RESULT_STATUS] = "PQresultStatus",
    [XR_PQ_RESULT_ERROR_FIELD] = "PQresultErrorField",
    [XR_PQ_HOST] = "PQhost",
    [XR_PQ_PORT] = "PQport",
    [XR_PQ_DB] = "PQdb",
    [XR_PQ_USER] = "PQuser",
    [XR_PQ_PARAMETER_STATUS] = "PQparameterStatus",
    [XR_PQ_LIB_VERSION] = "PQlibVersion",
    [XR_PQ_PIPELINE_STATUS] = "PQpipelineStatus",
};

static const char *const xr_pq_sonames[] = {"libpq.so.5", NULL};

static const void *const xr_pq_own[XR_PQ_NFUNCS] = {
    [XR_PQ_CONNECTDB] = (const void *)PQconnectdb,
    [XR_PQ_CONNECTDB_PARAMS] = (const void *)PQconnectdbParams,
    [XR_PQ_SETDB_LOGIN] = (const void *)PQsetdbLogin,
    [XR_PQ_CONNECT_START] = (const void *)PQconnectStart,
    [XR_PQ_CONNECT_START_PARAMS] = (const void *)PQconnectStartParams,
    [XR_PQ_CONNECT_POLL] = (const void *)PQconnectPoll,
    [XR_PQ_RESET] = (const void *)PQreset,
    [XR_PQ_RESET_START] = (const void *)PQresetStart,
    [XR_PQ_RESET_POLL] = (const void *)PQresetPoll,
    [XR_PQ_FINISH] = (const void *)PQfinish,
    [XR_PQ_EXEC] = (const void *)PQexec,
    [XR_PQ_EXEC_PARAMS] = (const void *)PQexecParams,
    [XR_PQ_PREPARE] = (const void *)PQprepare,
    [XR_PQ_EXEC_PREPARED] = (const void *)PQexecPrepared,
    [XR_PQ_SEND_QUERY] = (const void *)PQsendQuery,
    [XR_PQ_SEND_QUERY_PARAMS] = (const void *)PQsendQueryParams,
    [XR_PQ_SEND_PREPARE] = (const void *)PQsendPrepare,
    [XR_PQ_SEND_QUERY_PREPARED] = (const void *)PQsendQueryPrepared,
    [XR_PQ_GET_RESULT] = (const void *)PQgetResult,
};

static struct xr_family_state xr_pq_state;

const struct xr_family xr_pq_family = {
    .label = "libpq",
    .names = xr_pq_names,
    .count = XR_PQ_NFUNCS,
    .sonames = xr_pq_sonames,
    .own = xr_pq_own,
    .st = &xr_pq_state,
};

/* The hook's prologue: the caller's table, or the library's own failure
 * value when libpq cannot be found at all. */
#define XR_PQ_API(fail)                                          \
  void *const *api = xr_resolve(&xr_pq_family, XR_RA);           \
  struct xr_db_op op;                                            \
  if (!api)                                                      \
    return fail

/* PQconnectPoll, PQresetPoll: PQresetPoll calls PQconnectPoll through the
 * PLT, which must pass through; OK or FAILED closes the connect span. */
static PostgresPollingStatusType xr_pq_poll(void *const *api, xr_pq_poll_fn real,
                                            PGconn *conn)
{
  PostgresPollingStatusType st;
  struct xr_db_op op;
  xr_db_hold(&op, XR_HOOK_PQ);
  st = real(conn);
  xr_db_release(&op);
  xr_pq_connect_polled(api, conn, st);
  return st;
}

/* ---- connections ---------------------------------------------------- */

XR_EXPORT PGconn *PQconnectdb(const char *conninfo)
{
  XR_PQ_API(NULL);
  PGconn *conn;
  xr_pq_connect_enter(&op);
  conn = XR_PQ(api, XR_PQ_CONNECTDB, xr_pq_connectdb_fn)(conninfo);
  xr_pq_connect_leave(&op, api, conn);
  return conn;
}

XR_EXPORT PGconn *PQconnectdbParams(const char *const *keywords,
                                    const char *const *values, int expand_dbname)
{
  XR_PQ_API(NULL);
  PGconn *conn;
  xr_pq_connect_enter(&op);
  conn = XR_PQ(api, XR_PQ_CONNECTDB_PARAMS, xr_pq_connectdb_params_fn)(keywords, values,
                                                                       expand_dbname);
  xr_pq_connect_leave(&op, api, conn);
  return conn;
}

XR_EXPORT PGconn *PQsetdbLogin(const char *host, const char *port, const char *options,
                               const char *tty, const char *db, const char *user,
                               const char *pwd)
{
  XR_PQ_API(NULL);
  PGconn *conn;
  xr_pq_connect_enter(&op);
  conn = XR_PQ(api, XR_PQ_SETDB_LOGIN, xr_pq_setdb_login_fn)(host, port, options, tty,
                                                             db, user, pwd);
  xr_pq_connect_leave(&op, api, conn);
  return conn;
}

XR_EXPORT PGconn *PQconnectStart(const char *conninfo)
{
  XR_PQ_API(NULL);
  PGconn *conn;
  xr_pq_connect_enter(&op);
  conn = XR_PQ(api, XR_PQ_CONNECT_START, xr_pq_connectdb_fn)(conninfo);
  xr_pq_connect_start_leave(&op, api, conn, conn != NULL);
  return conn;
}

XR_EXPORT PGconn *PQconnectStartParams(const char *const *keywords,
                                       const char *const *values, int expand_dbname)
{
  XR_PQ_API(NULL);
  PGconn *conn;
  xr_pq_connect_enter(&op);
  conn = XR_PQ(api, XR_PQ_CONNECT_START_PARAMS, xr_pq_connectdb_params_fn)(
      keywords, values, expand_dbname);
  xr_pq_connect_start_leave(&op, api, conn, conn != NULL);
  return conn;
}

XR_EXPORT PostgresPollingStatusType PQconnectPoll(PGconn *conn)
{
  XR_PQ_API(PGRES_POLLING_FAILED);
  (void)op;
  return xr_pq_poll(api, XR_PQ(api, XR_PQ_CONNECT_POLL, xr_pq_poll_fn), conn);
}

XR_EXPORT void PQreset(PGconn *conn)
{
  XR_PQ_API();
  xr_pq_connect_enter(&op);
  XR_PQ(api, XR_PQ_RESET, xr_pq_conn_void_fn)(conn);
  xr_pq_connect_leave(&op, api, conn);
}

XR_EXPORT int PQresetStart(PGconn *conn)
{
  XR_PQ_API(0);
  int ok;
  xr_pq_connect_enter(&op);
  ok = XR_PQ(api, XR_PQ_RESET_START, xr_pq_conn_int_fn)(conn);
  xr_pq_connect_start_leave(&op, api, conn, ok != 0);
  return ok;
}

XR_EXPORT PostgresPollingStatusType PQresetPoll(PGconn *conn)
{
  XR_PQ_API(PGRES_POLLING_FAILED);
  (void)op;
  return xr_pq_poll(api, XR_PQ(api, XR_PQ_RESET_POLL, xr_pq_poll_fn), conn);
}

XR_EXPORT void PQfinish(PGconn *conn)
{
  XR_PQ_API();
  (void)op;
  xr_pq_forget(api, conn);
  XR_PQ(api, XR_PQ_FINISH, xr_pq_conn_void_fn)(conn);
}

/* ---- synchronous statements ------------------------------------------ */

XR_EXPORT PGresult *PQexec(PGconn *conn, const char *query)
{
  XR_PQ_API(NULL);
  PGresult *res;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_QUERY, false, query, NULL, true);
  res = XR_PQ(api, XR_PQ_EXEC, xr_pq_exec_fn)(conn, query);
  xr_pq_stmt_leave_sync(&op, api, conn, res);
  return res;
}

XR_EXPORT PGresult *PQexecParams(PGconn *conn, const char *command, int n,
                                 const Oid *types, const char *const *values,
                                 const int *lengths, const int *formats, int rformat)
{
  XR_PQ_API(NULL);
  PGresult *res;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_QUERY, true, command, NULL, true);
  res = XR_PQ(api, XR_PQ_EXEC_PARAMS, xr_pq_exec_params_fn)(conn, command, n, types, values,
                                                            lengths, formats, rformat);
  xr_pq_stmt_leave_sync(&op, api, conn, res);
  return res;
}

XR_EXPORT PGresult *PQprepare(PGconn *conn, const char *name, const char *query, int n,
                              const Oid *types)
{
  XR_PQ_API(NULL);
  PGresult *res;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_PREPARE, true, query, name, true);
  res = XR_PQ(api, XR_PQ_PREPARE, xr_pq_prepare_fn)(conn, name, query, n, types);
  xr_pq_stmt_leave_sync(&op, api, conn, res);
  return res;
}

XR_EXPORT PGresult *PQexecPrepared(PGconn *conn, const char *name, int n,
                                   const char *const *values, const int *lengths,
                                   const int *formats, int rformat)
{
  XR_PQ_API(NULL);
  PGresult *res;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_EXECUTE, true, NULL, name, true);
  res = XR_PQ(api, XR_PQ_EXEC_PREPARED, xr_pq_exec_prepared_fn)(conn, name, n, values,
                                                                lengths, formats, rformat);
  xr_pq_stmt_leave_sync(&op, api, conn, res);
  return res;
}

/* ---- asynchronous statements ----------------------------------------- */

XR_EXPORT int PQsendQuery(PGconn *conn, const char *query)
{
  XR_PQ_API(0);
  int ok;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_QUERY, false, query, NULL, false);
  ok = XR_PQ(api, XR_PQ_SEND_QUERY, xr_pq_send_query_fn)(conn, query);
  xr_pq_stmt_leave_sent(&op, api, conn, ok);
  return ok;
}

XR_EXPORT int PQsendQueryParams(PGconn *conn, const char *command, int n,
                                const Oid *types, const char *const *values,
                                const int *lengths, const int *formats, int rformat)
{
  XR_PQ_API(0);
  int ok;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_QUERY, true, command, NULL, false);
  ok = XR_PQ(api, XR_PQ_SEND_QUERY_PARAMS, xr_pq_send_query_params_fn)(
      conn, command, n, types, values, lengths, formats, rformat);
  xr_pq_stmt_leave_sent(&op, api, conn, ok);
  return ok;
}

XR_EXPORT int PQsendPrepare(PGconn *conn, const char *name, const char *query, int n,
                            const Oid *types)
{
  XR_PQ_API(0);
  int ok;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_PREPARE, true, query, name, false);
  ok = XR_PQ(api, XR_PQ_SEND_PREPARE, xr_pq_send_prepare_fn)(conn, name, query, n, types);
  xr_pq_stmt_leave_sent(&op, api, conn, ok);
  return ok;
}

XR_EXPORT int PQsendQueryPrepared(PGconn *conn, const char *name, int n,
                                  const char *const *values, const int *lengths,
                                  const int *formats, int rformat)
{
  XR_PQ_API(0);
  int ok;
  xr_pq_stmt_enter(&op, api, conn, XR_SQL_OP_EXECUTE, true, NULL, name, false);
  ok = XR_PQ(api, XR_PQ_SEND_QUERY_PREPARED, xr_pq_send_query_prepared_fn)(
      conn, name, n, values, lengths, formats, rformat);
  xr_pq_stmt_leave_sent(&op, api, conn, ok);
  return ok;
}

XR_EXPORT PGresult *PQgetResult(PGconn *conn)
{
  XR_PQ_API(NULL);
  PGresult *res;
  (void)op;
  res = XR_PQ(api, XR_PQ_GET_RESULT, xr_pq_get_result_fn)(conn);
  xr_pq_result(api, conn, res);
  return res;
}
