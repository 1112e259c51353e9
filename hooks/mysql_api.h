/*
 * The MySQL client functions we hook or call, resolved per caller
 * (resolve.h), from libmariadb.so.3 or libmysqlclient.so.21/.20/.18.
 * Index 0 is the anchor the resolver requires. The MariaDB non-blocking
 * API and mariadb_get_infov are NULL with libmysqlclient.
 */
#ifndef XR_MYSQL_API_H
#define XR_MYSQL_API_H

#include "../src/xr_setup.h"

#include <mysql.h>

#include "resolve.h"

enum xr_my_fn {
  /* hooked */
  XR_MY_REAL_CONNECT,
  XR_MY_CLOSE,
  XR_MY_QUERY,
  XR_MY_REAL_QUERY,
  XR_MY_SEND_QUERY,
  XR_MY_READ_QUERY_RESULT,
  XR_MY_STMT_INIT,
  XR_MY_STMT_PREPARE,
  XR_MY_STMT_EXECUTE,
  XR_MY_STMT_CLOSE,
  XR_MY_REAL_CONNECT_START, /* MariaDB non-blocking API */
  XR_MY_REAL_CONNECT_CONT,
  XR_MY_REAL_QUERY_START,
  XR_MY_REAL_QUERY_CONT,
  XR_MY_QUERY_START,
  XR_MY_QUERY_CONT,
  XR_MY_STMT_PREPARE_START,
  XR_MY_STMT_PREPARE_CONT,
  XR_MY_STMT_EXECUTE_START,
  XR_MY_STMT_EXECUTE_CONT,
  /* called */
  XR_MY_ERRNO,
  XR_MY_ERROR,
  XR_MY_SQLSTATE,
  XR_MY_STMT_ERRNO,
  XR_MY_STMT_ERROR,
  XR_MY_STMT_SQLSTATE,
  XR_MY_GET_SERVER_INFO,
  XR_MY_GET_CLIENT_INFO,
  XR_MY_GET_INFOV, /* mariadb_get_infov */
  XR_MY_NFUNCS
};

typedef MYSQL *(*xr_my_real_connect_fn)(MYSQL *, const char *, const char *,
                                        const char *, const char *, unsigned int,
                                        const char *, unsigned long);
typedef void (*xr_my_close_fn)(MYSQL *);
typedef int (*xr_my_query_fn)(MYSQL *, const char *);
typedef int (*xr_my_real_query_fn)(MYSQL *, const char *, unsigned long);
typedef my_bool (*xr_my_read_query_result_fn)(MYSQL *);
typedef MYSQL_STMT *(*xr_my_stmt_init_fn)(MYSQL *);
typedef int (*xr_my_stmt_prepare_fn)(MYSQL_STMT *, const char *, unsigned long);
typedef int (*xr_my_stmt_execute_fn)(MYSQL_STMT *);
typedef my_bool (*xr_my_stmt_close_fn)(MYSQL_STMT *);
typedef int (*xr_my_real_connect_start_fn)(MYSQL **, MYSQL *, const char *,
                                           const char *, const char *, const char *,
                                           unsigned int, const char *, unsigned long);
typedef int (*xr_my_real_connect_cont_fn)(MYSQL **, MYSQL *, int);
typedef int (*xr_my_real_query_start_fn)(int *, MYSQL *, const char *, unsigned long);
typedef int (*xr_my_query_start_fn)(int *, MYSQL *, const char *);
typedef int (*xr_my_int_cont_fn)(int *, MYSQL *, int);
typedef int (*xr_my_stmt_prepare_start_fn)(int *, MYSQL_STMT *, const char *,
                                           unsigned long);
typedef int (*xr_my_stmt_execute_start_fn)(int *, MYSQL_STMT *);
typedef int (*xr_my_stmt_cont_fn)(int *, MYSQL_STMT *, int);
typedef unsigned int (*xr_my_errno_fn)(MYSQL *);
typedef const char *(*xr_my_error_fn)(MYSQL *);
typedef unsigned int (*xr_my_stmt_errno_fn)(MYSQL_STMT *);
typedef const char *(*xr_my_stmt_error_fn)(MYSQL_STMT *);
typedef const char *(*xr_my_server_info_fn)(MYSQL *);
typedef const char *(*xr_my_client_info_fn)(void);
typedef my_bool (*xr_my_get_infov_fn)(MYSQL *, enum mariadb_value, void *, ...);

#define XR_MY(api, idx, type) ((type)(api)[idx])

extern const struct xr_family xr_my_family;

#endif /* XR_MYSQL_API_H */
