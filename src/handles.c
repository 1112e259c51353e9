#include "xr_setup.h"

#include "handles.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>

static bool xr_handles_ready(struct xr_handles *t)
{
  int s = atomic_load_explicit(&t->state, memory_order_acquire);
  if (XR_LIKELY(s != 0))
    return s > 0;
  pthread_mutex_lock(&t->init_lock);
  s = atomic_load_explicit(&t->state, memory_order_relaxed);
  if (s == 0) {
    s = xr_ptrmap_init(&t->map, t->cap) == 0 ? 1 : -1;
    atomic_store_explicit(&t->state, s, memory_order_release);
  }
  pthread_mutex_unlock(&t->init_lock);
  return s > 0;
}

void *xr_handles_get(struct xr_handles *t, const void *key)
{
  return key && xr_handles_ready(t) ? xr_ptrmap_get(&t->map, key) : NULL;
}

void *xr_handles_get_or_add(struct xr_handles *t, const void *key, size_t size,
                            bool *created)
{
  void *e = xr_handles_get(t, key);
  int rc;

  *created = false;
  if (e || !key || atomic_load_explicit(&t->state, memory_order_relaxed) <= 0)
    return e;
  e = calloc(1, size);
  if (!e)
    return NULL;
  rc = xr_ptrmap_put(&t->map, key, e);
  if (rc == 0) {
    *created = true;
    return e;
  }
  free(e);
  if (rc == -EEXIST) /* another thread added it meanwhile */
    return xr_ptrmap_get(&t->map, key);
  if (!atomic_exchange_explicit(&t->logged_full, 1, memory_order_relaxed))
    xr_warn("more than %zu live %s: the others are not traced", t->cap / 4 * 3,
            t->what);
  return NULL;
}

void *xr_handles_remove(struct xr_handles *t, const void *key)
{
  return key && xr_handles_ready(t) ? xr_ptrmap_remove(&t->map, key) : NULL;
}

void xr_handles_fork_child(struct xr_handles *t)
{
  pthread_mutex_init(&t->init_lock, NULL);
  if (atomic_load_explicit(&t->state, memory_order_relaxed) > 0)
    xr_ptrmap_fork_child(&t->map);
}
