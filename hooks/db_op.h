/*
 * One database operation seen by a hook (libpq, MySQL): whether this is
 * the outermost traced operation of the thread, and its span.
 * xr_db_enter raises xr_depth so that everything the library does inside
 * (PQexec calling PQsendQuery through the PLT, mysql_query calling
 * mysql_real_query, the non-blocking API's coroutine) and our own
 * emission pass straight through; xr_db_leave lowers it and puts errno
 * back as the real call left it.
 * Contract: enter and leave pair up on one thread around one real call.
 */
#ifndef XR_DB_OP_H
#define XR_DB_OP_H

#include "../src/xr_setup.h"

#include "guard.h"

#include "../src/tracer.h"

#include <errno.h>

struct xr_db_op {
  bool ready;  /* outermost operation of the thread: depth raised */
  bool traced; /* span open */
  int saved_errno;
  void *state; /* the handle's entry, when enter looked it up (NULL: not) */
  struct xr_span span;
};

static inline bool xr_db_enter(struct xr_db_op *op, unsigned family)
{
  op->traced = false;
  op->state = NULL;
  op->ready = xr_ready(family) && xr_depth == 0;
  if (!op->ready)
    return false;
  op->saved_errno = errno;
  xr_depth++;
  return true;
}

/* After the real call: keeps its errno for xr_db_leave. */
static inline bool xr_db_resume(struct xr_db_op *op)
{
  if (!op->ready)
    return false;
  op->saved_errno = errno;
  return true;
}

static inline void xr_db_leave(struct xr_db_op *op)
{
  xr_depth--;
  errno = op->saved_errno;
}

/*
 * Around a real call that records nothing itself but may run hooked
 * functions of the same library inside (the non-blocking API's *_cont
 * resumes a coroutine that is in the middle of mysql_real_query;
 * PQresetPoll calls PQconnectPoll): they must pass through. errno is left
 * as the real call set it. Pair with xr_db_release on the same thread.
 */
static inline void xr_db_hold(struct xr_db_op *op, unsigned family)
{
  op->traced = false;
  op->ready = xr_ready(family) && xr_depth == 0;
  if (op->ready)
    xr_depth++;
}

static inline void xr_db_release(struct xr_db_op *op)
{
  if (op->ready)
    xr_depth--;
}

#endif /* XR_DB_OP_H */
