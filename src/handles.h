/*
 * Per-handle state of a hooked library (CURL*, PGconn*, MYSQL*,
 * MYSQL_STMT*): a bounded pointer map created at its first use, so that a
 * process that never calls the library never allocates it. Entries are
 * calloc'ed blocks owned by the caller once removed.
 * Contract: thread-safe; allocates (never from a signal handler or a vfork
 * child). A full table refuses new handles (logged once): those are not
 * traced, the program is unaffected.
 */
#ifndef XR_HANDLES_H
#define XR_HANDLES_H

#include "xr_setup.h"

#include "ptrmap.h"

#include <stdatomic.h>

struct xr_handles {
  const char *what;  /* "CURL handles", for the log line */
  size_t cap;        /* slots; 3/4 of them usable */
  atomic_int state;  /* 0 not yet, 1 ready, -1 could not be allocated */
  pthread_mutex_t init_lock;
  atomic_int logged_full;
  struct xr_ptrmap map;
};

#define XR_HANDLES_INIT(what_, cap_) \
  { .what = (what_), .cap = (cap_), .init_lock = PTHREAD_MUTEX_INITIALIZER }

void *xr_handles_get(struct xr_handles *t, const void *key);
/* The entry for key, or a new zeroed one of size bytes (*created set).
 * NULL on a full table, ENOMEM, or a NULL key. */
void *xr_handles_get_or_add(struct xr_handles *t, const void *key, size_t size,
                            bool *created);
/* Removes and returns the entry (the caller frees it), or NULL. */
void *xr_handles_remove(struct xr_handles *t, const void *key);
void xr_handles_fork_child(struct xr_handles *t);

#endif /* XR_HANDLES_H */
