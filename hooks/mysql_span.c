#include "../src/xr_setup.h"

#include "mysql_span.h"

#include "../src/handles.h"
#include "../src/log.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XR_MY_CONNS 4096
#define XR_MY_STMTS 8192
#define XR_MY_CR_MIN_ERROR 2000 /* client-side errors start here (errmsg.h) */

/* A span waiting for its outcome: send/read, a non-blocking call. */
struct xr_my_pending {
  bool open;
  bool connect;
  struct xr_span span;
};

struct xr_my_conn {
  struct xr_db_info db;
  bool known;
  struct xr_my_pending pending;
};

struct xr_my_stmt {
  MYSQL *conn;
  char *text; /* the prepared text, processed per XRAY_AUTO_SQL */
  struct xr_my_pending pending;
};

static struct xr_handles xr_my_conns = XR_HANDLES_INIT_CACHED("MYSQL connections", XR_MY_CONNS);
static struct xr_handles xr_my_stmts = XR_HANDLES_INIT_CACHED("MYSQL_STMT statements", XR_MY_STMTS);

static enum xr_sql_mode xr_mode(void)
{
  return xr_tracer_config()->sql_mode;
}

static struct xr_my_conn *xr_conn(MYSQL *m)
{
  bool created;
  struct xr_my_conn *st = xr_handles_get_or_add(&xr_my_conns, m, sizeof(*st), &created);
  if (st && created) {
    st->db.engine = XR_DB_MYSQL;
    st->db.lex.dialect = XR_SQL_MYSQL;
    st->db.lex.backslash_escapes = true;
  }
  return st;
}

/* "libmariadb 3.3.20": the file the functions came from, and its version. */
static void xr_driver(void *const *api, struct xr_db_info *db)
{
  const char *ver = XR_MY(api, XR_MY_GET_CLIENT_INFO, xr_my_client_info_fn)
                        ? XR_MY(api, XR_MY_GET_CLIENT_INFO, xr_my_client_info_fn)()
                        : NULL;
  const char *name = "libmysqlclient", *base, *dot;
  char lib[64];
  Dl_info info;

  if (dladdr(api[XR_MY_REAL_CONNECT], &info) && info.dli_fname) {
    base = strrchr(info.dli_fname, '/');
    base = base ? base + 1 : info.dli_fname;
    dot = strstr(base, ".so");
    snprintf(lib, sizeof(lib), "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
    name = lib;
  }
  snprintf(db->driver, sizeof(db->driver), "%s%s%s", name, ver ? " " : "", ver ? ver : "");
  xr_db_changed(db);
}

/* Connection facts the library keeps (MariaDB's mariadb_get_infov); the
 * schema follows USE and mysql_select_db, and sql_mode may turn
 * NO_BACKSLASH_ESCAPES on, so both are read per statement. */
static void xr_refresh(void *const *api, MYSQL *m, struct xr_my_conn *st)
{
  xr_my_get_infov_fn get = XR_MY(api, XR_MY_GET_INFOV, xr_my_get_infov_fn);
  const char *s = NULL;
  unsigned int status = 0;

  if (!get)
    return;
  if (get(m, MARIADB_CONNECTION_SCHEMA, &s) == 0)
    xr_db_update(&st->db, st->db.database, s);
  if (get(m, MARIADB_CONNECTION_SERVER_STATUS, &status) == 0)
    st->db.lex.backslash_escapes = !(status & SERVER_STATUS_NO_BACKSLASH_ESCAPES);
}

static void xr_fill(void *const *api, MYSQL *m, struct xr_my_conn *st)
{
  xr_my_get_infov_fn get = XR_MY(api, XR_MY_GET_INFOV, xr_my_get_infov_fn);
  const char *s = NULL, *sock = NULL;
  unsigned int port = 0;

  xr_db_changed(&st->db);
  if (get) {
    if (get(m, MARIADB_CONNECTION_HOST, &s) == 0 && s) {
      (void)get(m, MARIADB_CONNECTION_UNIX_SOCKET, &sock);
      xr_db_set_host(&st->db, sock && *sock ? NULL : s);
    }
    if (get(m, MARIADB_CONNECTION_PORT, &port) == 0 && port)
      st->db.port = port;
    s = NULL;
    if (get(m, MARIADB_CONNECTION_USER, &s) == 0 && s)
      xr_db_set(st->db.user, s);
  }
  xr_refresh(api, m, st);
  s = XR_MY(api, XR_MY_GET_SERVER_INFO, xr_my_server_info_fn)(m);
  xr_db_set(st->db.server_version, s);
  xr_driver(api, &st->db);
  st->known = st->db.server_version[0] != '\0';
}

static void xr_target(struct xr_my_conn *st, const struct xr_my_target *t)
{
  /* libmariadb and libmysqlclient: no host or "localhost" is the socket. */
  xr_db_set_host(&st->db, t->host && strcmp(t->host, "localhost") != 0 ? t->host : NULL);
  st->db.port = t->port ? t->port : 3306;
  xr_db_set(st->db.user, t->user);
  xr_db_set(st->db.database, t->db);
  st->db.server_version[0] = '\0';
  st->known = false;
  xr_db_changed(&st->db);
}

static void xr_fail(struct xr_entity *sub, unsigned no, const char *state, const char *msg)
{
  char type[48];
  if (!sub)
    return;
  snprintf(type, sizeof(type), "%u (%s)", no, state && *state ? state : "HY000");
  if (xr_sql_fail(sub, type, msg, no < XR_MY_CR_MIN_ERROR) < 0)
    xr_debug("out of memory recording a MySQL error");
}

static void xr_fail_conn(void *const *api, MYSQL *m, struct xr_entity *sub)
{
  xr_fail(sub, XR_MY(api, XR_MY_ERRNO, xr_my_errno_fn)(m),
          XR_MY(api, XR_MY_SQLSTATE, xr_my_error_fn)(m),
          XR_MY(api, XR_MY_ERROR, xr_my_error_fn)(m));
}

static void xr_fail_stmt(void *const *api, MYSQL_STMT *s, struct xr_entity *sub)
{
  xr_fail(sub, XR_MY(api, XR_MY_STMT_ERRNO, xr_my_stmt_errno_fn)(s),
          XR_MY(api, XR_MY_STMT_SQLSTATE, xr_my_stmt_error_fn)(s),
          XR_MY(api, XR_MY_STMT_ERROR, xr_my_stmt_error_fn)(s));
}

static void xr_connect_done(void *const *api, MYSQL *m, struct xr_my_conn *st,
                            struct xr_span *sp, bool ok)
{
  if (ok)
    xr_fill(api, m, st);
  else
    xr_driver(api, &st->db);
  if (sp->sub) {
    if (xr_sql_begin(sp->sub, &st->db, XR_SQL_OP_CONNECT, false, NULL, 0, xr_mode()) < 0)
      xr_debug("out of memory recording a connection");
    if (!ok)
      xr_fail_conn(api, m, sp->sub);
  }
  xr_span_end(sp);
}

/* Ends a span left open (a send never read, a non-blocking call
 * abandoned): its outcome is unknown, so nothing is claimed. */
static void xr_drop_pending(struct xr_my_pending *p)
{
  if (p->open)
    xr_span_end(&p->span);
  p->open = false;
}

void xr_my_connect_enter(struct xr_db_op *op)
{
  if (!xr_db_enter(op, XR_HOOK_MYSQL))
    return;
  op->traced = xr_span_begin_local(&op->span) == 0;
  errno = op->saved_errno;
}

void xr_my_connect_start_leave(struct xr_db_op *op, void *const *api, MYSQL *m,
                               int status, bool ok, const struct xr_my_target *t)
{
  struct xr_my_conn *st;

  if (!xr_db_resume(op))
    return;
  if (op->traced) {
    st = m ? xr_conn(m) : NULL;
    if (!st) {
      xr_span_discard(&op->span);
    } else {
      xr_drop_pending(&st->pending);
      xr_target(st, t);
      if (status == 0) {
        xr_connect_done(api, m, st, &op->span, ok);
      } else {
        st->pending.span = op->span;
        st->pending.open = true;
        st->pending.connect = true;
      }
    }
  }
  xr_db_leave(op);
}

void xr_my_connect_leave(struct xr_db_op *op, void *const *api, MYSQL *m, bool ok,
                         const struct xr_my_target *t)
{
  xr_my_connect_start_leave(op, api, m, 0, ok, t);
}

void xr_my_query_enter(struct xr_db_op *op, void *const *api, MYSQL *m,
                       const char *q, size_t len)
{
  struct xr_my_conn *st;

  if (!xr_db_enter(op, XR_HOOK_MYSQL))
    return;
  if (!m || xr_span_begin_local(&op->span) < 0)
    goto out;
  op->traced = true;
  /* Unsampled: the connection's entry, facts and text are not needed
   * (xr_my_query_sent looks the entry up itself when it keeps the span
   * open). */
  if (!op->span.sub)
    goto out;
  st = xr_conn(m);
  if (!st) {
    xr_span_discard(&op->span);
    op->traced = false;
    goto out;
  }
  if (!st->known)
    xr_fill(api, m, st);
  else
    xr_refresh(api, m, st);
  if (xr_sql_begin(op->span.sub, &st->db, XR_SQL_OP_QUERY, false, q, len, xr_mode()) < 0)
    xr_debug("out of memory recording a statement");
out:
  errno = op->saved_errno;
}

void xr_my_query_leave(struct xr_db_op *op, void *const *api, MYSQL *m, bool ok)
{
  xr_my_query_sent(op, api, m, true, ok);
}

void xr_my_query_sent(struct xr_db_op *op, void *const *api, MYSQL *m, bool done,
                      bool ok)
{
  struct xr_my_conn *st;

  if (!xr_db_resume(op))
    return;
  if (!op->traced)
    goto out;
  if (done || !ok) {
    if (!ok && op->span.sub)
      xr_fail_conn(api, m, op->span.sub);
    xr_span_end(&op->span);
    goto out;
  }
  st = xr_handles_get(&xr_my_conns, m);
  if (!st) {
    xr_span_discard(&op->span);
    goto out;
  }
  xr_drop_pending(&st->pending);
  st->pending.span = op->span;
  st->pending.open = true;
  st->pending.connect = false;
out:
  xr_db_leave(op);
}

void xr_my_conn_done(void *const *api, MYSQL *m, bool ok)
{
  struct xr_my_conn *st;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_get(&xr_my_conns, m);
  if (st && st->pending.open) {
    st->pending.open = false;
    if (st->pending.connect) {
      xr_connect_done(api, m, st, &st->pending.span, ok);
    } else {
      if (!ok && st->pending.span.sub)
        xr_fail_conn(api, m, st->pending.span.sub);
      xr_span_end(&st->pending.span);
    }
  }
  xr_db_leave(&op);
}

void xr_my_stmt_bind(MYSQL_STMT *s, MYSQL *m)
{
  struct xr_my_stmt *st;
  struct xr_db_op op;
  bool created;

  if (!s || !xr_db_enter(&op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_get_or_add(&xr_my_stmts, s, sizeof(*st), &created);
  if (st) {
    /* A new statement at the address of one closed unseen. */
    xr_drop_pending(&st->pending);
    free(st->text);
    st->text = NULL;
    st->conn = m;
  }
  xr_db_leave(&op);
}

void xr_my_stmt_enter(struct xr_db_op *op, void *const *api, MYSQL_STMT *s,
                      enum xr_sql_op kind, const char *q, size_t len)
{
  struct xr_my_stmt *st;
  struct xr_my_conn *conn;
  struct xr_entity *sub;
  char text[XR_SQL_QUERY_MAX + 1];

  if (!xr_db_enter(op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_get(&xr_my_stmts, s);
  conn = st ? xr_handles_get(&xr_my_conns, st->conn) : NULL;
  if (!conn)
    goto out; /* a statement of a connection we never saw */
  op->traced = xr_span_begin_local(&op->span) == 0;
  sub = op->traced ? op->span.sub : NULL;
  /* Unsampled: nothing to read or build, except the prepared text that a
   * sampled execution records later. */
  if (!sub && kind != XR_SQL_OP_PREPARE)
    goto out;
  if (!conn->known)
    xr_fill(api, st->conn, conn);
  else
    xr_refresh(api, st->conn, conn);
  if (kind == XR_SQL_OP_PREPARE) {
    (void)xr_sql_process(&conn->db, q, len, xr_mode(), text, sizeof(text));
    free(st->text);
    st->text = strdup(text);
  }
  if (sub && xr_sql_begin_processed(sub, &conn->db, kind, true, st->text) < 0)
    xr_debug("out of memory recording a statement");
out:
  errno = op->saved_errno;
}

void xr_my_stmt_leave(struct xr_db_op *op, void *const *api, MYSQL_STMT *s, bool done,
                      bool ok)
{
  struct xr_my_stmt *st;

  if (!xr_db_resume(op))
    return;
  if (!op->traced)
    goto out;
  st = done ? NULL : xr_handles_get(&xr_my_stmts, s);
  if (!st) {
    if (!ok && op->span.sub)
      xr_fail_stmt(api, s, op->span.sub);
    xr_span_end(&op->span);
    goto out;
  }
  xr_drop_pending(&st->pending);
  st->pending.span = op->span;
  st->pending.open = true;
out:
  xr_db_leave(op);
}

void xr_my_stmt_done(void *const *api, MYSQL_STMT *s, bool ok)
{
  struct xr_my_stmt *st;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_get(&xr_my_stmts, s);
  if (st && st->pending.open) {
    st->pending.open = false;
    if (!ok && st->pending.span.sub)
      xr_fail_stmt(api, s, st->pending.span.sub);
    xr_span_end(&st->pending.span);
  }
  xr_db_leave(&op);
}

void xr_my_stmt_forget(MYSQL_STMT *s)
{
  struct xr_my_stmt *st;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_remove(&xr_my_stmts, s);
  if (st) {
    xr_drop_pending(&st->pending);
    free(st->text);
    free(st);
  }
  xr_db_leave(&op);
}

void xr_my_forget(MYSQL *m)
{
  struct xr_my_conn *st;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_MYSQL))
    return;
  st = xr_handles_remove(&xr_my_conns, m);
  if (st) {
    xr_drop_pending(&st->pending);
    free(st);
  }
  xr_db_leave(&op);
}

void xr_my_fork_child(void)
{
  xr_resolve_fork_child(&xr_my_family);
  xr_handles_fork_child(&xr_my_conns);
  xr_handles_fork_child(&xr_my_stmts);
}
