/*
 * The libpq functions we hook or call, resolved per caller (resolve.h).
 * Index 0 is the anchor the resolver requires. Functions newer than the
 * oldest libpq we support (PQpipelineStatus: 14) may be NULL.
 */
#ifndef XR_PQ_API_H
#define XR_PQ_API_H

#include "../src/xr_setup.h"

#include <libpq-fe.h>

#include "resolve.h"

enum xr_pq_fn {
  /* hooked */
  XR_PQ_CONNECTDB,
  XR_PQ_CONNECTDB_PARAMS,
  XR_PQ_SETDB_LOGIN,
  XR_PQ_CONNECT_START,
  XR_PQ_CONNECT_START_PARAMS,
  XR_PQ_CONNECT_POLL,
  XR_PQ_RESET,
  XR_PQ_RESET_START,
  XR_PQ_RESET_POLL,
  XR_PQ_FINISH,
  XR_PQ_EXEC,
  XR_PQ_EXEC_PARAMS,
  XR_PQ_PREPARE,
  XR_PQ_EXEC_PREPARED,
  XR_PQ_SEND_QUERY,
  XR_PQ_SEND_QUERY_PARAMS,
  XR_PQ_SEND_PREPARE,
  XR_PQ_SEND_QUERY_PREPARED,
  XR_PQ_GET_RESULT,
  /* called */
  XR_PQ_STATUS,
  XR_PQ_ERROR_MESSAGE,
  XR_PQ_RESULT_STATUS,
  XR_PQ_RESULT_ERROR_FIELD,
  XR_PQ_HOST,
  XR_PQ_PORT,
  XR_PQ_DB,
  XR_PQ_USER,
  XR_PQ_PARAMETER_STATUS,
  XR_PQ_LIB_VERSION,
  XR_PQ_PIPELINE_STATUS, /* 14+ */
  XR_PQ_NFUNCS
};

typedef PGconn *(*xr_pq_connectdb_fn)(const char *);
typedef PGconn *(*xr_pq_connectdb_params_fn)(const char *const *, const char *const *, int);
typedef PGconn *(*xr_pq_setdb_login_fn)(const char *, const char *, const char *,
                                        const char *, const char *, const char *,
                                        const char *);
typedef PostgresPollingStatusType (*xr_pq_poll_fn)(PGconn *);
typedef void (*xr_pq_conn_void_fn)(PGconn *);
typedef int (*xr_pq_conn_int_fn)(PGconn *);
typedef PGresult *(*xr_pq_exec_fn)(PGconn *, const char *);
typedef PGresult *(*xr_pq_exec_params_fn)(PGconn *, const char *, int, const Oid *,
                                          const char *const *, const int *,
                                          const int *, int);
typedef PGresult *(*xr_pq_prepare_fn)(PGconn *, const char *, const char *, int,
                                      const Oid *);
typedef PGresult *(*xr_pq_exec_prepared_fn)(PGconn *, const char *, int,
                                            const char *const *, const int *,
                                            const int *, int);
typedef int (*xr_pq_send_query_fn)(PGconn *, const char *);
typedef int (*xr_pq_send_query_params_fn)(PGconn *, const char *, int, const Oid *,
                                          const char *const *, const int *,
                                          const int *, int);
typedef int (*xr_pq_send_prepare_fn)(PGconn *, const char *, const char *, int,
                                     const Oid *);
typedef int (*xr_pq_send_query_prepared_fn)(PGconn *, const char *, int,
                                            const char *const *, const int *,
                                            const int *, int);
typedef PGresult *(*xr_pq_get_result_fn)(PGconn *);
typedef ConnStatusType (*xr_pq_status_fn)(const PGconn *);
typedef char *(*xr_pq_conn_str_fn)(const PGconn *);
typedef ExecStatusType (*xr_pq_result_status_fn)(const PGresult *);
typedef char *(*xr_pq_result_error_field_fn)(const PGresult *, int);
typedef const char *(*xr_pq_parameter_status_fn)(const PGconn *, const char *);
typedef int (*xr_pq_lib_version_fn)(void);
typedef int (*xr_pq_pipeline_status_fn)(const PGconn *);

#define XR_PQ(api, idx, type) ((type)(api)[idx])

extern const struct xr_family xr_pq_family;

#endif /* XR_PQ_API_H */
