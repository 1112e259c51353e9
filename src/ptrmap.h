/*
 * A bounded map from pointers (CURL*, later PGconn*, MYSQL*) to the state
 * we keep for them. Open addressing, linear probing, backward-shift
 * deletion (no tombstones), fixed capacity: when full, inserts fail and the
 * caller leaves that object untraced (counted), so memory stays bounded
 * whatever the program does.
 * Contract: every function takes the map's mutex; values are owned by the
 * caller. Not for signal handlers.
 */
#ifndef XR_PTRMAP_H
#define XR_PTRMAP_H

#include "xr_setup.h"

#include <pthread.h>

struct xr_ptrmap_slot {
  const void *key;
  void *value;
};

struct xr_ptrmap {
  pthread_mutex_t lock;
  size_t cap;  /* power of two */
  size_t used;
  size_t limit; /* at most cap * 3/4 entries */
  unsigned long long refused;
  struct xr_ptrmap_slot *slots;
};

/* cap rounded up to a power of two; 0 or -ENOMEM. */
int xr_ptrmap_init(struct xr_ptrmap *m, size_t cap) XR_WUR;
void xr_ptrmap_destroy(struct xr_ptrmap *m);
void *xr_ptrmap_get(struct xr_ptrmap *m, const void *key);
/* 0, -EEXIST, or -ENOSPC when full (counted in refused). */
int xr_ptrmap_put(struct xr_ptrmap *m, const void *key, void *value) XR_WUR;
/* The removed value, or NULL. */
void *xr_ptrmap_remove(struct xr_ptrmap *m, const void *key);
/* The slot a key hashes to (its home): the probing sequence starts there.
 * Exposed so tests can build colliding clusters from the real hash. */
size_t xr_ptrmap_home(const struct xr_ptrmap *m, const void *key);
/* After fork the child may inherit a locked mutex: reinitialise it. */
void xr_ptrmap_fork_child(struct xr_ptrmap *m);

#endif /* XR_PTRMAP_H */
