/*
 * What the libpq hooks record (pq.c holds the exported shims).
 *
 * One subsegment per connection established and per statement sent:
 *   - synchronous calls (PQexec, PQexecParams, PQprepare, PQexecPrepared,
 *     PQconnectdb*, PQsetdbLogin, PQreset) own their whole span; the libpq
 *     functions they call through the PLT on Debian run at xr_depth > 0
 *     and pass through, and where those inner calls are invisible
 *     (-Bsymbolic builds) nothing changes;
 *   - PQsend* queue a span on the connection; each NULL from PQgetResult
 *     ends the oldest one, which gives one span per queued statement in
 *     pipeline mode too (libpq ends each statement's results with NULL,
 *     and the PGRES_PIPELINE_SYNC result without one);
 *   - PQconnectStart* / PQresetStart open a connect span that
 *     PQconnectPoll / PQresetPoll close on OK or FAILED.
 * Contract: called only from the outermost traced operation of a thread
 * (xr_depth raised by the op helpers below); a PGconn is used by one
 * thread at a time (libpq's own rule), so its state needs no lock beyond
 * the table's.
 */
#ifndef XR_PQ_SPAN_H
#define XR_PQ_SPAN_H

#include "db_op.h"
#include "pq_api.h"

#include "../src/sql_call.h"
#include "../src/tracer.h"


/* Connections. enter opens the span; leave records and closes it (sync
 * forms) or hands it to the connection (start forms). */
void xr_pq_connect_enter(struct xr_db_op *op);
void xr_pq_connect_leave(struct xr_db_op *op, void *const *api, PGconn *conn);
void xr_pq_connect_start_leave(struct xr_db_op *op, void *const *api, PGconn *conn,
                               bool started);
void xr_pq_connect_polled(void *const *api, PGconn *conn,
                          PostgresPollingStatusType st);

/* Statements. name: the prepared statement's name (PREPARE, EXECUTE). */
void xr_pq_stmt_enter(struct xr_db_op *op, void *const *api, PGconn *conn,
                      enum xr_sql_op kind, bool prepared, const char *text,
                      const char *name, bool sync);
void xr_pq_stmt_leave_sync(struct xr_db_op *op, void *const *api, PGconn *conn,
                           const PGresult *res);
void xr_pq_stmt_leave_sent(struct xr_db_op *op, void *const *api, PGconn *conn,
                           int sent);

/* PQgetResult's result, at depth 0. */
void xr_pq_result(void *const *api, PGconn *conn, const PGresult *res);
/* PQfinish, before the real call: ends what is open, forgets conn. */
void xr_pq_forget(void *const *api, PGconn *conn);

void xr_pq_fork_child(void);

#endif /* XR_PQ_SPAN_H */
