#include "../src/xr_setup.h"

#include "pq_span.h"


#include "../src/handles.h"
#include "../src/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XR_PQ_CONNS 4096   /* table slots; 3/4 of them usable */
#define XR_PQ_PREPARED 32  /* statement texts remembered per connection */

struct xr_pq_pending {
  struct xr_pq_pending *next;
  struct xr_span span;
};

struct xr_pq_prepared {
  char *name;
  char *text; /* processed per XRAY_AUTO_SQL; "" when not recorded */
};

struct xr_pq_conn {
  struct xr_db_info db;
  bool known;      /* server_version read: the connection was up */
  bool connecting; /* connect holds an open span */
  bool lost;       /* a pipeline entry was dropped: spans no longer line up */
  struct xr_span connect;
  struct xr_pq_pending *head, **tail;
  struct xr_pq_prepared prep[XR_PQ_PREPARED];
  unsigned prep_next;
};

/* Cached per thread (handles.h): xr_pq_forget removes an entry before the
 * real PQfinish, the connection's last use. */
static struct xr_handles xr_pq_conns =
    XR_HANDLES_INIT_CACHED("PGconn connections", XR_PQ_CONNS);

/* Spans queued on all connections, and connections marked lost. While
 * both are 0 and a connection is not in pipeline mode, an unsampled
 * statement changes nothing of its state, and a result ends no span: the
 * hooks then skip the table. Relaxed is enough: a connection is used by
 * one thread at a time, so whatever was queued on it happened before the
 * next use, and counts of other connections never make its own non-zero
 * count read as 0. */
static atomic_uint xr_pq_queued;
static atomic_uint xr_pq_lost;

static bool xr_pq_quiet(void)
{
  return atomic_load_explicit(&xr_pq_queued, memory_order_relaxed) == 0 &&
         atomic_load_explicit(&xr_pq_lost, memory_order_relaxed) == 0;
}

static void xr_set_lost(struct xr_pq_conn *st, bool lost)
{
  if (st->lost == lost)
    return;
  st->lost = lost;
  if (lost)
    atomic_fetch_add_explicit(&xr_pq_lost, 1, memory_order_relaxed);
  else
    atomic_fetch_sub_explicit(&xr_pq_lost, 1, memory_order_relaxed);
}

/* The entry of conn, or NULL. */
static struct xr_pq_conn *xr_find(PGconn *conn)
{
  return xr_handles_get(&xr_pq_conns, conn);
}

/* The entry of conn, created when absent; NULL when the table is full. */
static struct xr_pq_conn *xr_conn(PGconn *conn)
{
  bool created;
  struct xr_pq_conn *st = xr_handles_get_or_add(&xr_pq_conns, conn, sizeof(*st), &created);

  if (st && created) {
    st->tail = &st->head;
    st->db.engine = XR_DB_POSTGRES;
  }
  return st;
}

static enum xr_sql_mode xr_mode(void)
{
  return xr_tracer_config()->sql_mode;
}

static bool xr_pipeline_on(void *const *api, PGconn *conn)
{
  return api[XR_PQ_PIPELINE_STATUS] &&
         XR_PQ(api, XR_PQ_PIPELINE_STATUS, xr_pq_pipeline_status_fn)(conn) != 0;
}

/* What the connection says of itself. Everything read here is plain
 * state of the PGconn: no I/O, nothing the program could observe. */
static void xr_fill(void *const *api, PGconn *conn, struct xr_pq_conn *st)
{
  const char *v;
  int lib;

  xr_db_changed(&st->db);
  xr_db_set_host(&st->db, XR_PQ(api, XR_PQ_HOST, xr_pq_conn_str_fn)(conn));
  v = XR_PQ(api, XR_PQ_PORT, xr_pq_conn_str_fn)(conn);
  st->db.port = v && *v ? (unsigned)strtoul(v, NULL, 10) : 5432;
  xr_db_set(st->db.database, XR_PQ(api, XR_PQ_DB, xr_pq_conn_str_fn)(conn));
  xr_db_set(st->db.user, XR_PQ(api, XR_PQ_USER, xr_pq_conn_str_fn)(conn));
  lib = XR_PQ(api, XR_PQ_LIB_VERSION, xr_pq_lib_version_fn)();
  /* 10 and later: major * 10000 + minor; before: major * 10000 + minor * 100 + patch. */
  if (lib >= 100000)
    snprintf(st->db.driver, sizeof(st->db.driver), "libpq %d.%d", lib / 10000, lib % 10000);
  else
    snprintf(st->db.driver, sizeof(st->db.driver), "libpq %d.%d.%d", lib / 10000,
             lib / 100 % 100, lib % 100);
  st->db.lex.dialect = XR_SQL_POSTGRES;
  if (XR_PQ(api, XR_PQ_STATUS, xr_pq_status_fn)(conn) != CONNECTION_OK)
    return;
  xr_pq_parameter_status_fn param = XR_PQ(api, XR_PQ_PARAMETER_STATUS, xr_pq_parameter_status_fn);
  xr_db_set(st->db.server_version, param(conn, "server_version"));
  v = param(conn, "standard_conforming_strings");
  st->db.lex.backslash_escapes = v && strcmp(v, "off") == 0;
  st->known = true;
}

/* The connection's own failure: no SQLSTATE, the message from libpq. */
static void xr_fail_conn(void *const *api, PGconn *conn, struct xr_entity *sub)
{
  bool bad = XR_PQ(api, XR_PQ_STATUS, xr_pq_status_fn)(conn) != CONNECTION_OK;
  if (xr_sql_fail(sub, bad ? "CONNECTION_BAD" : "PGRES_FATAL_ERROR",
                  XR_PQ(api, XR_PQ_ERROR_MESSAGE, xr_pq_conn_str_fn)(conn), false) < 0)
    xr_debug("out of memory recording a libpq error");
}

/* Records res's failure into sub, if it is one. */
static void xr_note_result(void *const *api, PGconn *conn, struct xr_entity *sub,
                           const PGresult *res)
{
  xr_pq_result_error_field_fn field;
  const char *state, *msg;
  int rc = 0;

  if (!sub)
    return;
  if (!res) {
    xr_fail_conn(api, conn, sub);
    return;
  }
  switch (XR_PQ(api, XR_PQ_RESULT_STATUS, xr_pq_result_status_fn)(res)) {
  case PGRES_FATAL_ERROR:
  case PGRES_BAD_RESPONSE:
    field = XR_PQ(api, XR_PQ_RESULT_ERROR_FIELD, xr_pq_result_error_field_fn);
    state = field(res, PG_DIAG_SQLSTATE);
    msg = field(res, PG_DIAG_MESSAGE_PRIMARY);
    if (!state) {
      xr_fail_conn(api, conn, sub);
      return;
    }
    rc = xr_sql_fail(sub, state, msg, true);
    break;
  case PGRES_PIPELINE_ABORTED:
    rc = xr_sql_fail(sub, "PGRES_PIPELINE_ABORTED",
                     "not executed: an earlier statement of the pipeline failed", false);
    break;
  default:
    return;
  }
  if (rc < 0)
    xr_debug("out of memory recording a libpq error");
}

/* Ends every queued span: their results were consumed where we could not
 * see them (PQexec drains what the program left), or will never come. */
static void xr_flush(struct xr_pq_conn *st)
{
  while (st->head) {
    struct xr_pq_pending *p = st->head;
    st->head = p->next;
    atomic_fetch_sub_explicit(&xr_pq_queued, 1, memory_order_relaxed);
    xr_span_end(&p->span);
    free(p);
  }
  st->tail = &st->head;
}

static void xr_forget_prepared(struct xr_pq_conn *st)
{
  unsigned i;
  for (i = 0; i < XR_PQ_PREPARED; i++) {
    free(st->prep[i].name);
    free(st->prep[i].text);
    st->prep[i].name = st->prep[i].text = NULL;
  }
}

static void xr_remember(struct xr_pq_conn *st, const char *name, const char *text)
{
  struct xr_pq_prepared *slot = NULL;
  unsigned i;

  if (!name)
    name = "";
  for (i = 0; i < XR_PQ_PREPARED && !slot; i++)
    if (st->prep[i].name && strcmp(st->prep[i].name, name) == 0)
      slot = &st->prep[i];
  if (!slot) {
    slot = &st->prep[st->prep_next++ % XR_PQ_PREPARED];
    free(slot->name);
    slot->name = strdup(name);
  }
  free(slot->text);
  slot->text = strdup(text);
}

static const char *xr_recall(const struct xr_pq_conn *st, const char *name)
{
  unsigned i;
  if (!name)
    name = "";
  for (i = 0; i < XR_PQ_PREPARED; i++)
    if (st->prep[i].name && strcmp(st->prep[i].name, name) == 0)
      return st->prep[i].text;
  return NULL;
}

static void xr_connect_done(void *const *api, PGconn *conn, struct xr_pq_conn *st,
                            struct xr_span *sp)
{
  xr_fill(api, conn, st);
  if (sp->sub) {
    if (xr_sql_begin(sp->sub, &st->db, XR_SQL_OP_CONNECT, false, NULL, 0, xr_mode()) < 0)
      xr_debug("out of memory recording a connection");
    if (XR_PQ(api, XR_PQ_STATUS, xr_pq_status_fn)(conn) != CONNECTION_OK)
      xr_fail_conn(api, conn, sp->sub);
  }
  xr_span_end(sp);
}

void xr_pq_connect_enter(struct xr_db_op *op)
{
  if (!xr_db_enter(op, XR_HOOK_PQ))
    return;
  op->traced = xr_span_begin_local(&op->span) == 0;
  errno = op->saved_errno;
}

void xr_pq_connect_leave(struct xr_db_op *op, void *const *api, PGconn *conn)
{
  struct xr_pq_conn *st;

  if (!xr_db_resume(op))
    return;
  if (op->traced) {
    st = conn ? xr_conn(conn) : NULL;
    if (st) {
      /* PQreset: a new session; the old one's statements are gone. */
      xr_flush(st);
      xr_forget_prepared(st);
      st->known = false;
      xr_connect_done(api, conn, st, &op->span);
    } else {
      xr_span_discard(&op->span);
    }
  }
  xr_db_leave(op);
}

void xr_pq_connect_start_leave(struct xr_db_op *op, void *const *api, PGconn *conn,
                               bool started)
{
  struct xr_pq_conn *st;

  if (!xr_db_resume(op))
    return;
  if (op->traced) {
    st = conn ? xr_conn(conn) : NULL;
    if (!st) {
      xr_span_discard(&op->span);
    } else {
      xr_flush(st);
      xr_forget_prepared(st);
      st->known = false;
      if (st->connecting) /* a start without a poll to the end */
        xr_span_discard(&st->connect);
      st->connecting = false;
      if (!started ||
          XR_PQ(api, XR_PQ_STATUS, xr_pq_status_fn)(conn) == CONNECTION_BAD) {
        xr_connect_done(api, conn, st, &op->span);
      } else {
        st->connect = op->span;
        st->connecting = true;
      }
    }
  }
  xr_db_leave(op);
}

void xr_pq_connect_polled(void *const *api, PGconn *conn, PostgresPollingStatusType ps)
{
  struct xr_pq_conn *st;
  struct xr_db_op op;

  if (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED)
    return;
  if (!xr_db_enter(&op, XR_HOOK_PQ))
    return;
  st = xr_find(conn);
  if (st && st->connecting) {
    st->connecting = false;
    xr_connect_done(api, conn, st, &st->connect);
  }
  xr_db_leave(&op);
}

void xr_pq_stmt_enter(struct xr_db_op *op, void *const *api, PGconn *conn,
                      enum xr_sql_op kind, bool prepared, const char *text,
                      const char *name, bool sync)
{
  char processed[XR_SQL_QUERY_MAX + 1];
  const char *recorded = NULL;
  struct xr_pq_conn *st = NULL;
  struct xr_entity *sub;
  bool pipeline;

  if (!xr_db_enter(op, XR_HOOK_PQ))
    return;
  if (!conn)
    goto out;
  pipeline = xr_pipeline_on(api, conn);
  if (pipeline || !xr_pq_quiet()) {
    st = xr_conn(conn);
    if (!st)
      goto out;
    /* A synchronous call first drains whatever the program left unread. */
    if (sync && !pipeline)
      xr_flush(st);
  }
  op->state = st;
  op->traced = xr_span_begin_local(&op->span) == 0;
  sub = op->traced ? op->span.sub : NULL;
  /* Unsampled (the default rule's common case): nothing is recorded, so
   * nothing is looked up, read or built, except a prepared statement's
   * text, which a sampled execution may name later. */
  if (!sub && kind != XR_SQL_OP_PREPARE)
    goto out;
  if (!st) {
    op->state = st = xr_conn(conn);
    if (!st) {
      if (op->traced)
        xr_span_discard(&op->span);
      op->traced = false;
      goto out;
    }
  }
  if (!st->known)
    xr_fill(api, conn, st);
  if (kind == XR_SQL_OP_EXECUTE) {
    recorded = xr_recall(st, name);
  } else {
    (void)xr_sql_process(&st->db, text, text ? strlen(text) : 0, xr_mode(), processed,
                         sizeof(processed));
    recorded = processed;
    if (kind == XR_SQL_OP_PREPARE)
      xr_remember(st, name, processed);
  }
  if (sub && xr_sql_begin_processed(sub, &st->db, kind, prepared, recorded) < 0)
    xr_debug("out of memory recording a statement");
out:
  errno = op->saved_errno;
}

void xr_pq_stmt_leave_sync(struct xr_db_op *op, void *const *api, PGconn *conn,
                           const PGresult *res)
{
  if (!xr_db_resume(op))
    return;
  if (op->traced) {
    xr_note_result(api, conn, op->span.sub, res);
    xr_span_end(&op->span);
  }
  xr_db_leave(op);
}

void xr_pq_stmt_leave_sent(struct xr_db_op *op, void *const *api, PGconn *conn,
                           int sent)
{
  struct xr_pq_conn *st;
  struct xr_pq_pending *p;
  bool pipeline;

  if (!xr_db_resume(op))
    return;
  if (!op->traced)
    goto out;
  if (!sent) {
    if (op->span.sub)
      xr_fail_conn(api, conn, op->span.sub);
    xr_span_end(&op->span);
    goto out;
  }
  pipeline = xr_pipeline_on(api, conn);
  /* The entry enter looked up (the call in between cannot free it);
   * none: enter found nothing queued and no pipeline, and the span is
   * unsampled, so there is nothing to end, reset or queue. */
  st = op->state;
  if (!st && pipeline)
    st = xr_find(conn);
  if (st && !pipeline) {
    /* libpq accepted a new statement, so it was idle: anything queued
     * has ended unseen. */
    xr_flush(st);
    xr_set_lost(st, false);
  }
  /* Out of pipeline mode the queue holds this statement alone: an
   * unsampled one has nothing to wait for. In pipeline mode it keeps its
   * place, so that each NULL result ends the right statement. */
  if (!op->span.sub && !pipeline) {
    xr_span_discard(&op->span);
    goto out;
  }
  p = st && !st->lost ? malloc(sizeof(*p)) : NULL;
  if (!p) {
    if (st && !st->lost) {
      xr_flush(st);
      xr_set_lost(st, pipeline);
    }
    xr_span_discard(&op->span);
    goto out;
  }
  p->next = NULL;
  p->span = op->span;
  *st->tail = p;
  st->tail = &p->next;
  atomic_fetch_add_explicit(&xr_pq_queued, 1, memory_order_relaxed);
out:
  xr_db_leave(op);
}

void xr_pq_result(void *const *api, PGconn *conn, const PGresult *res)
{
  struct xr_pq_conn *st;
  struct xr_pq_pending *p;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_PQ))
    return;
  if (atomic_load_explicit(&xr_pq_queued, memory_order_relaxed) == 0)
    goto out; /* no span waits for a result on any connection */
  st = xr_find(conn);
  if (!st || !st->head)
    goto out;
  p = st->head;
  if (res) {
    xr_note_result(api, conn, p->span.sub, res);
    goto out;
  }
  st->head = p->next;
  if (!st->head)
    st->tail = &st->head;
  atomic_fetch_sub_explicit(&xr_pq_queued, 1, memory_order_relaxed);
  xr_span_end(&p->span);
  free(p);
out:
  xr_db_leave(&op);
}

void xr_pq_forget(void *const *api, PGconn *conn)
{
  struct xr_pq_conn *st;
  struct xr_db_op op;

  if (!xr_db_enter(&op, XR_HOOK_PQ))
    return;
  st = xr_handles_remove(&xr_pq_conns, conn);
  if (st) {
    if (st->connecting && st->connect.sub) {
      xr_fill(api, conn, st);
      if (xr_sql_begin(st->connect.sub, &st->db, XR_SQL_OP_CONNECT, false, NULL, 0,
                       xr_mode()) < 0 ||
          xr_sql_fail(st->connect.sub, "CONNECTION_BAD",
                      "closed before the connection was established", false) < 0)
        xr_debug("out of memory recording a connection");
    }
    if (st->connecting)
      xr_span_end(&st->connect);
    xr_flush(st);
    xr_set_lost(st, false);
    xr_forget_prepared(st);
    free(st);
  }
  xr_db_leave(&op);
}

void xr_pq_fork_child(void)
{
  xr_resolve_fork_child(&xr_pq_family);
  xr_handles_fork_child(&xr_pq_conns);
}
