/*
 * Turns what was observed of one database operation into a subsegment
 * (xray-spec.md 2.8, the SDKs' conventions of 5.2-5.5): name
 * "<database>@<host>", namespace remote, the sql block, the operation in
 * metadata.xray_auto, and for failures fault + a cause whose type is the
 * engine's error code and whose message is scrubbed of literals.
 * Recording happens in two steps because the statement text belongs to
 * the caller only for the duration of the call that sent it, while the
 * outcome is known later (PQgetResult, mysql_read_query_result):
 * xr_sql_begin when it is sent, xr_sql_fail when an error arrives.
 * Contract: pure apart from allocation (and the stack capture, which may
 * dlopen libunwind once); the caller owns sub.
 */
#ifndef XR_SQL_CALL_H
#define XR_SQL_CALL_H

#include "xr_setup.h"

#include "config.h"
#include "entity.h"
#include "sql_sanitize.h"

enum xr_db_engine { XR_DB_POSTGRES, XR_DB_MYSQL };

#define XR_DB_FIELD_MAX 128

/* What is known of one connection; filled once it is established. */
struct xr_db_info {
  enum xr_db_engine engine;
  char host[XR_DB_FIELD_MAX];     /* as given; "localhost" for Unix sockets */
  unsigned port;                  /* 0: unknown */
  char database[XR_DB_FIELD_MAX];
  char user[XR_DB_FIELD_MAX];
  char server_version[XR_DB_FIELD_MAX]; /* "" until connected */
  char driver[XR_DB_FIELD_MAX];   /* "libpq 15.18", "libmariadb 3.3.8" */
  struct xr_sql_lex lex;
};

enum xr_sql_op {
  XR_SQL_OP_CONNECT, /* establishing the connection */
  XR_SQL_OP_QUERY,   /* statement text sent for execution */
  XR_SQL_OP_PREPARE, /* statement text sent to be prepared */
  XR_SQL_OP_EXECUTE  /* a prepared statement run */
};

/* Sets the host field from what the program gave: NULL, "", a socket
 * path or directory ("/..." or "@abstract") becomes "localhost". */
void xr_db_set_host(struct xr_db_info *db, const char *host);
/* Bounded copy into a field; NULL gives "". */
void xr_db_set(char *field, const char *value);

/* "PostgreSQL", or "MariaDB"/"MySQL" by the server's version string;
 * NULL for a MySQL-protocol server never reached. */
const char *xr_db_type(const struct xr_db_info *db);

/*
 * Fills sub for an operation on db: name, namespace, sql (url, types,
 * versions, user, preparation), metadata.xray_auto.operation, and
 * sanitized_query from q[0..len) per mode (q may be NULL). 0 or -ENOMEM.
 */
int xr_sql_begin(struct xr_entity *sub, const struct xr_db_info *db,
                 enum xr_sql_op op, bool prepared, const char *q, size_t len,
                 enum xr_sql_mode mode) XR_WUR;

/* Like xr_sql_begin with text already processed (a prepared statement's
 * remembered sanitized text). */
int xr_sql_begin_processed(struct xr_entity *sub, const struct xr_db_info *db,
                           enum xr_sql_op op, bool prepared,
                           const char *processed) XR_WUR;

/* The text as it may be recorded (sanitized, raw or nothing per mode),
 * into out; returns its length, 0 when nothing is to be recorded. */
size_t xr_sql_process(const struct xr_db_info *db, const char *q, size_t len,
                      enum xr_sql_mode mode, char *out, size_t cap);

/*
 * Records a failure: fault, and a cause with type (SQLSTATE, "1146
 * (42S02)", ...), the message scrubbed of literals (first line only), and
 * the calling program's stack. Only the first failure of an operation is
 * kept. 0 or -ENOMEM.
 */
int xr_sql_fail(struct xr_entity *sub, const char *type, const char *message,
                bool remote) XR_WUR;

#endif /* XR_SQL_CALL_H */
