/*
 * Exported MySQL / MariaDB client hooks (libmariadb.so.3,
 * libmysqlclient.so.21/.20/.18): each resolves the real function for its
 * caller, passes straight through unless tracing is ready and this is the
 * outermost traced operation of the thread, and returns exactly what the
 * library returned with errno as it left it. The logic is in
 * mysql_span.c. The password given to mysql_real_connect is passed on and
 * never looked at.
 */
#include "../src/xr_setup.h"

#include "mysql_api.h"
#include "mysql_span.h"

#include <string.h>

#define XR_RA __builtin_return_address(0)

static const char *const xr_my_names[XR_MY_NFUNCS] = {
    [XR_MY_REAL_CONNECT] = "mysql_real_connect",
    [XR_MY_CLOSE] = "mysql_close",
    [XR_MY_QUERY] = "mysql_query",
    [XR_MY_REAL_QUERY] = "mysql_real_query",
    [XR_MY_SEND_QUERY] = "mysql_send_query",
    [XR_MY_READ_QUERY_RESULT] = "mysql_read_query_result",
    [XR_MY_STMT_INIT] = "mysql_stmt_init",
    [XR_MY_STMT_PREPARE] = "mysql_stmt_prepare",
    [XR_MY_STMT_EXECUTE] = "mysql_stmt_execute",
    [XR_MY_STMT_CLOSE] = "mysql_stmt_close",
    [XR_MY_REAL_CONNECT_START] = "mysql_real_connect_start",
    [XR_MY_REAL_CONNECT_CONT] = "mysql_real_connect_cont",
    [XR_MY_REAL_QUERY_START] = "mysql_real_query_start",
    [XR_MY_REAL_QUERY_CONT] = "mysql_real_query_cont",
    [XR_MY_QUERY_START] = "mysql_query_start",
    [XR_MY_QUERY_CONT] = "mysql_query_cont",
    [XR_MY_STMT_PREPARE_START] = "mysql_stmt_prepare_start",
    [XR_MY_STMT_PREPARE_CONT] = "mysql_stmt_prepare_cont",
    [XR_MY_STMT_EXECUTE_START] = "mysql_stmt_execute_start",
    [XR_MY_STMT_EXECUTE_CONT] = "mysql_stmt_execute_cont",
    [XR_MY_ERRNO] = "mysql_errno",
    [XR_MY_ERROR] = "mysql_error",
    [XR_MY_SQLSTATE] = "mysql_sqlstate",
    [XR_MY_STMT_ERRNO] = "mysql_stmt_errno",
    [XR_MY_STMT_ERROR] = "mysql_stmt_error",
    [XR_MY_STMT_SQLSTATE] = "mysql_stmt_sqlstate",
    [XR_MY_GET_SERVER_INFO] = "mysql_get_server_info",
    [XR_MY_GET_CLIENT_INFO] = "mysql_get_client_info",
    [XR_MY_GET_INFOV] = "mariadb_get_infov",
};

static const char *const xr_my_sonames[] = {"libmariadb.so.3", "libmysqlclient.so.21",
                                            "libmysqlclient.so.20",
                                            "libmysqlclient.so.18", NULL};

static const void *const xr_my_own[XR_MY_NFUNCS] = {
    [XR_MY_REAL_CONNECT] = (const void *)mysql_real_connect,
    [XR_MY_CLOSE] = (const void *)mysql_close,
    [XR_MY_QUERY] = (const void *)mysql_query,
    [XR_MY_REAL_QUERY] = (const void *)mysql_real_query,
    [XR_MY_SEND_QUERY] = (const void *)mysql_send_query,
    [XR_MY_READ_QUERY_RESULT] = (const void *)mysql_read_query_result,
    [XR_MY_STMT_INIT] = (const void *)mysql_stmt_init,
    [XR_MY_STMT_PREPARE] = (const void *)mysql_stmt_prepare,
    [XR_MY_STMT_EXECUTE] = (const void *)mysql_stmt_execute,
    [XR_MY_STMT_CLOSE] = (const void *)mysql_stmt_close,
    [XR_MY_REAL_CONNECT_START] = (const void *)mysql_real_connect_start,
    [XR_MY_REAL_CONNECT_CONT] = (const void *)mysql_real_connect_cont,
    [XR_MY_REAL_QUERY_START] = (const void *)mysql_real_query_start,
    [XR_MY_REAL_QUERY_CONT] = (const void *)mysql_real_query_cont,
    [XR_MY_QUERY_START] = (const void *)mysql_query_start,
    [XR_MY_QUERY_CONT] = (const void *)mysql_query_cont,
    [XR_MY_STMT_PREPARE_START] = (const void *)mysql_stmt_prepare_start,
    [XR_MY_STMT_PREPARE_CONT] = (const void *)mysql_stmt_prepare_cont,
    [XR_MY_STMT_EXECUTE_START] = (const void *)mysql_stmt_execute_start,
    [XR_MY_STMT_EXECUTE_CONT] = (const void *)mysql_stmt_execute_cont,
};

static struct xr_family_state xr_my_state;

const struct xr_family xr_my_family = {
    .label = "the MySQL client library",
    .names = xr_my_names,
    .count = XR_MY_NFUNCS,
    .sonames = xr_my_sonames,
    .own = xr_my_own,
    .st = &xr_my_state,
};

/* The caller's table and the real function idx, or the library's own
 * failure value when it cannot be found (the non-blocking API exists in
 * libmariadb only). */
#define XR_MY_API(idx, type, fail)                              \
  void *const *api = xr_resolve(&xr_my_family, XR_RA);          \
  type real = api ? XR_MY(api, idx, type) : NULL;               \
  struct xr_db_op op;                                           \
  if (!real)                                                    \
    return fail

/* A non-blocking call resumed: the coroutine runs the blocking function
 * inside, which must pass through; status 0 means it finished. */
static int xr_my_query_cont(void *const *api, xr_my_int_cont_fn real, int *ret, MYSQL *m,
                            int ready)
{
  struct xr_db_op op;
  int status;
  xr_db_hold(&op, XR_HOOK_MYSQL);
  status = real(ret, m, ready);
  xr_db_release(&op);
  if (status == 0)
    xr_my_conn_done(api, m, ret && *ret == 0);
  return status;
}

static int xr_my_stmt_cont(void *const *api, xr_my_stmt_cont_fn real, int *ret,
                           MYSQL_STMT *s, int ready)
{
  struct xr_db_op op;
  int status;
  xr_db_hold(&op, XR_HOOK_MYSQL);
  status = real(ret, s, ready);
  xr_db_release(&op);
  if (status == 0)
    xr_my_stmt_done(api, s, ret && *ret == 0);
  return status;
}

/* ---- connections ---------------------------------------------------- */

XR_EXPORT MYSQL *mysql_real_connect(MYSQL *m, const char *host, const char *user,
                                    const char *passwd, const char *db, unsigned int port,
                                    const char *sock, unsigned long flags)
{
  XR_MY_API(XR_MY_REAL_CONNECT, xr_my_real_connect_fn, NULL);
  struct xr_my_target t = {host, user, db, sock, port};
  MYSQL *ret;
  xr_my_connect_enter(&op);
  ret = real(m, host, user, passwd, db, port, sock, flags);
  xr_my_connect_leave(&op, api, m, ret != NULL, &t);
  return ret;
}

XR_EXPORT int mysql_real_connect_start(MYSQL **ret, MYSQL *m, const char *host,
                                       const char *user, const char *passwd,
                                       const char *db, unsigned int port,
                                       const char *sock, unsigned long flags)
{
  XR_MY_API(XR_MY_REAL_CONNECT_START, xr_my_real_connect_start_fn, 0);
  struct xr_my_target t = {host, user, db, sock, port};
  int status;
  xr_my_connect_enter(&op);
  status = real(ret, m, host, user, passwd, db, port, sock, flags);
  xr_my_connect_start_leave(&op, api, m, status, status == 0 && ret && *ret, &t);
  return status;
}

XR_EXPORT int mysql_real_connect_cont(MYSQL **ret, MYSQL *m, int ready)
{
  XR_MY_API(XR_MY_REAL_CONNECT_CONT, xr_my_real_connect_cont_fn, 0);
  int status;
  xr_db_hold(&op, XR_HOOK_MYSQL);
  status = real(ret, m, ready);
  xr_db_release(&op);
  if (status == 0)
    xr_my_conn_done(api, m, ret && *ret);
  return status;
}

XR_EXPORT void mysql_close(MYSQL *m)
{
  XR_MY_API(XR_MY_CLOSE, xr_my_close_fn, );
  (void)op;
  xr_my_forget(m);
  real(m);
}

/* ---- text statements ------------------------------------------------- */

XR_EXPORT int mysql_query(MYSQL *m, const char *q)
{
  XR_MY_API(XR_MY_QUERY, xr_my_query_fn, 1);
  int rc;
  xr_my_query_enter(&op, api, m, q, q ? strlen(q) : 0);
  rc = real(m, q);
  xr_my_query_leave(&op, api, m, rc == 0);
  return rc;
}

XR_EXPORT int mysql_real_query(MYSQL *m, const char *q, unsigned long len)
{
  XR_MY_API(XR_MY_REAL_QUERY, xr_my_real_query_fn, 1);
  int rc;
  xr_my_query_enter(&op, api, m, q, len);
  rc = real(m, q, len);
  xr_my_query_leave(&op, api, m, rc == 0);
  return rc;
}

XR_EXPORT int mysql_send_query(MYSQL *m, const char *q, unsigned long len)
{
  XR_MY_API(XR_MY_SEND_QUERY, xr_my_real_query_fn, 1);
  int rc;
  xr_my_query_enter(&op, api, m, q, len);
  rc = real(m, q, len);
  xr_my_query_sent(&op, api, m, false, rc == 0);
  return rc;
}

XR_EXPORT my_bool mysql_read_query_result(MYSQL *m)
{
  XR_MY_API(XR_MY_READ_QUERY_RESULT, xr_my_read_query_result_fn, 1);
  my_bool rc;
  xr_db_hold(&op, XR_HOOK_MYSQL);
  rc = real(m);
  xr_db_release(&op);
  xr_my_conn_done(api, m, rc == 0);
  return rc;
}

XR_EXPORT int mysql_real_query_start(int *ret, MYSQL *m, const char *q, unsigned long len)
{
  XR_MY_API(XR_MY_REAL_QUERY_START, xr_my_real_query_start_fn, 0);
  int status;
  xr_my_query_enter(&op, api, m, q, len);
  status = real(ret, m, q, len);
  xr_my_query_sent(&op, api, m, status == 0, status != 0 || (ret && *ret == 0));
  return status;
}

XR_EXPORT int mysql_real_query_cont(int *ret, MYSQL *m, int ready)
{
  XR_MY_API(XR_MY_REAL_QUERY_CONT, xr_my_int_cont_fn, 0);
  (void)op;
  return xr_my_query_cont(api, real, ret, m, ready);
}

XR_EXPORT int mysql_query_start(int *ret, MYSQL *m, const char *q)
{
  XR_MY_API(XR_MY_QUERY_START, xr_my_query_start_fn, 0);
  int status;
  xr_my_query_enter(&op, api, m, q, q ? strlen(q) : 0);
  status = real(ret, m, q);
  xr_my_query_sent(&op, api, m, status == 0, status != 0 || (ret && *ret == 0));
  return status;
}

XR_EXPORT int mysql_query_cont(int *ret, MYSQL *m, int ready)
{
  XR_MY_API(XR_MY_QUERY_CONT, xr_my_int_cont_fn, 0);
  (void)op;
  return xr_my_query_cont(api, real, ret, m, ready);
}

/* ---- prepared statements -------------------------------------------- */

XR_EXPORT MYSQL_STMT *mysql_stmt_init(MYSQL *m)
{
  XR_MY_API(XR_MY_STMT_INIT, xr_my_stmt_init_fn, NULL);
  MYSQL_STMT *s;
  (void)op;
  s = real(m);
  xr_my_stmt_bind(s, m);
  return s;
}

XR_EXPORT int mysql_stmt_prepare(MYSQL_STMT *s, const char *q, unsigned long len)
{
  XR_MY_API(XR_MY_STMT_PREPARE, xr_my_stmt_prepare_fn, 1);
  int rc;
  xr_my_stmt_enter(&op, api, s, XR_SQL_OP_PREPARE, q, len);
  rc = real(s, q, len);
  xr_my_stmt_leave(&op, api, s, true, rc == 0);
  return rc;
}

XR_EXPORT int mysql_stmt_execute(MYSQL_STMT *s)
{
  XR_MY_API(XR_MY_STMT_EXECUTE, xr_my_stmt_execute_fn, 1);
  int rc;
  xr_my_stmt_enter(&op, api, s, XR_SQL_OP_EXECUTE, NULL, 0);
  rc = real(s);
  xr_my_stmt_leave(&op, api, s, true, rc == 0);
  return rc;
}

XR_EXPORT my_bool mysql_stmt_close(MYSQL_STMT *s)
{
  XR_MY_API(XR_MY_STMT_CLOSE, xr_my_stmt_close_fn, 1);
  (void)op;
  xr_my_stmt_forget(s);
  return real(s);
}

XR_EXPORT int mysql_stmt_prepare_start(int *ret, MYSQL_STMT *s, const char *q,
                                       unsigned long len)
{
  XR_MY_API(XR_MY_STMT_PREPARE_START, xr_my_stmt_prepare_start_fn, 0);
  int status;
  xr_my_stmt_enter(&op, api, s, XR_SQL_OP_PREPARE, q, len);
  status = real(ret, s, q, len);
  xr_my_stmt_leave(&op, api, s, status == 0, status != 0 || (ret && *ret == 0));
  return status;
}

XR_EXPORT int mysql_stmt_prepare_cont(int *ret, MYSQL_STMT *s, int ready)
{
  XR_MY_API(XR_MY_STMT_PREPARE_CONT, xr_my_stmt_cont_fn, 0);
  (void)op;
  return xr_my_stmt_cont(api, real, ret, s, ready);
}

XR_EXPORT int mysql_stmt_execute_start(int *ret, MYSQL_STMT *s)
{
  XR_MY_API(XR_MY_STMT_EXECUTE_START, xr_my_stmt_execute_start_fn, 0);
  int status;
  xr_my_stmt_enter(&op, api, s, XR_SQL_OP_EXECUTE, NULL, 0);
  status = real(ret, s);
  xr_my_stmt_leave(&op, api, s, status == 0, status != 0 || (ret && *ret == 0));
  return status;
}

XR_EXPORT int mysql_stmt_execute_cont(int *ret, MYSQL_STMT *s, int ready)
{
  XR_MY_API(XR_MY_STMT_EXECUTE_CONT, xr_my_stmt_cont_fn, 0);
  (void)op;
  return xr_my_stmt_cont(api, real, ret, s, ready);
}
