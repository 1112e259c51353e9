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
 * dlopen libunwind once) and db's cache; the caller owns sub and db (a
 * connection's db is used by one thread at a time, like the connection).
 */
#ifndef XR_SQL_CALL_H
#define XR_SQL_CALL_H

#include "xr_setup.h"

#include "config.h"
#include "entity.h"
#include "sql_sanitize.h"

enum xr_db_engine { XR_DB_POSTGRES, XR_DB_MYSQL };

#define XR_DB_FIELD_MAX 128
#define XR_SQL_URL_MAX 512

/* The per-connection parts of a statement's subsegment, built at the
 * first statement after a change (xr_db_changed) instead of at every one:
 * the sanitized name, and the sql strings url, database_type,
 * database_version, driver_version, user, each NUL-terminated in tmpl at
 * off[i] (XR_DB_ABSENT: absent), followed by their members as the
 * document has them (xr_sql_json: escaped, json_len bytes at json_off;
 * XR_DB_ABSENT when they need more than the room left, at least
 * XR_DB_JSON_MAX bytes: the writer then escapes the strings itself). */
#define XR_DB_ABSENT 0xffffu
#define XR_DB_NSTR 5
#define XR_DB_JSON_MAX 1024
struct xr_db_cache {
  bool valid;
  size_t name_len;
  size_t len; /* bytes of tmpl in use */
  unsigned short off[XR_DB_NSTR];
  unsigned short json_off;
  unsigned short json_len;
  char name[XR_NAME_MAX_BYTES + 1];
  char tmpl[XR_SQL_URL_MAX + 4 * XR_DB_FIELD_MAX + XR_DB_JSON_MAX];
};

/* What is known of one connection; filled once it is established.
 * Whoever writes a field other than lex directly calls xr_db_changed
 * afterwards (xr_db_set_host and xr_db_update do it themselves). A zeroed
 * struct is a valid one. */
struct xr_db_info {
  enum xr_db_engine engine;
  char host[XR_DB_FIELD_MAX];     /* as given; "localhost" for Unix sockets */
  unsigned port;                  /* 0: unknown */
  char database[XR_DB_FIELD_MAX];
  char user[XR_DB_FIELD_MAX];
  char server_version[XR_DB_FIELD_MAX]; /* "" until connected */
  char driver[XR_DB_FIELD_MAX];   /* "libpq 15.18", "libmariadb 3.3.8" */
  struct xr_sql_lex lex;
  struct xr_db_cache cache;       /* sql_call.c's own */
};

enum xr_sql_op {
  XR_SQL_OP_CONNECT, /* establishing the connection */
  XR_SQL_OP_QUERY,   /* statement text sent for execution */
  XR_SQL_OP_PREPARE, /* statement text sent to be prepared */
  XR_SQL_OP_EXECUTE  /* a prepared statement run */
};

/* Sets the host field from what the program gave: NULL, "", a socket
 * path or directory ("/..." or "@abstract") becomes "localhost".
 * Invalidates the cache. */
void xr_db_set_host(struct xr_db_info *db, const char *host);
/* Bounded copy into a field; NULL gives "". Leaves the cache alone. */
void xr_db_set(char *field, const char *value);
/* xr_db_set into one of db's fields, invalidating the cache only when the
 * value differs (MySQL's schema, read back at every statement). */
void xr_db_update(struct xr_db_info *db, char *field, const char *value);
/* Drops the cached per-connection strings. */
static inline void xr_db_changed(struct xr_db_info *db)
{
  db->cache.valid = false;
}

/* "PostgreSQL", or "MariaDB"/"MySQL" by the server's version string;
 * NULL for a MySQL-protocol server never reached. */
const char *xr_db_type(const struct xr_db_info *db);

/*
 * Fills sub for an operation on db: name, namespace, sql (url, types,
 * versions, user, preparation), metadata.xray_auto.operation, and
 * sanitized_query from q[0..len) per mode (q may be NULL). 0 or -ENOMEM.
 */
int xr_sql_begin(struct xr_entity *sub, struct xr_db_info *db,
                 enum xr_sql_op op, bool prepared, const char *q, size_t len,
                 enum xr_sql_mode mode) XR_WUR;

/* Like xr_sql_begin with text already processed (xr_sql_process's
 * output, a prepared statement's remembered text). The per-connection
 * strings come from db's cache, built here when invalid: per statement
 * this is one allocation and a few copies. */
int xr_sql_begin_processed(struct xr_entity *sub, struct xr_db_info *db,
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
