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
  /* Per-thread last hit (XR_HANDLES_INIT_CACHED): slot in the thread's
   * cache, 0 for none; gone counts entries removed so far. */
  bool cached;
  unsigned slot;
  atomic_ulong gone;
  struct xr_ptrmap map;
};

#define XR_HANDLES_INIT(what_, cap_) \
  { .what = (what_), .cap = (cap_), .init_lock = PTHREAD_MUTEX_INITIALIZER }
/*
 * The same with a per-thread cache of the last entry found, in front of
 * the map (whose lookups take its mutex, for which threads that each run
 * their own handle would contend at every call). A hit needs the key
 * and the count of removals to be the ones of the lookup that found the
 * entry, that count read before that lookup. Sound under this contract,
 * which the caller must keep: a handle is used by one thread at a time,
 * and xr_handles_remove runs while the handle is still valid, as the
 * first step of its last use (before the real close/free, so that its
 * address cannot be reused by a new handle until after the removal count
 * has grown). Then any use of a handle at a reused address comes after
 * that growth (through the program's own synchronisation), and an entry
 * is freed only after the removal that made every cached copy of it
 * stale: no use after free, and no ABA (a 64-bit count never wraps).
 */
#define XR_HANDLES_INIT_CACHED(what_, cap_) \
  { .what = (what_), .cap = (cap_), .init_lock = PTHREAD_MUTEX_INITIALIZER, .cached = true }

void *xr_handles_get(struct xr_handles *t, const void *key);
/* The entry for key, or a new zeroed one of size bytes (*created set).
 * NULL on a full table, ENOMEM, or a NULL key. */
void *xr_handles_get_or_add(struct xr_handles *t, const void *key, size_t size,
                            bool *created);
/* Removes and returns the entry (the caller frees it), or NULL. A cached
 * table: call it before the handle's real close (see above). */
void *xr_handles_remove(struct xr_handles *t, const void *key);
void xr_handles_fork_child(struct xr_handles *t);

#endif /* XR_HANDLES_H */
