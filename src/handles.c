#include "xr_setup.h"

#include "handles.h"

#include "log.h"

#include <errno.h>
#include <stdlib.h>

/* The per-thread caches: slot 0 unused (a table without one). */
#define XR_HANDLES_SLOTS 8
struct xr_handles_hit {
  const void *key;
  void *value;
  unsigned long gone;
};
static XR_TLS struct xr_handles_hit xr_handles_hits[XR_HANDLES_SLOTS];
static atomic_uint xr_handles_nslots = 1;

static bool xr_handles_ready(struct xr_handles *t)
{
  int s = atomic_load_explicit(&t->state, memory_order_acquire);
  if (XR_LIKELY(s != 0))
    return s > 0;
  pthread_mutex_lock(&t->init_lock);
  s = atomic_load_explicit(&t->state, memory_order_relaxed);
  if (s == 0) {
    s = xr_ptrmap_init(&t->map, t->cap) == 0 ? 1 : -1;
    if (s > 0 && t->cached) {
      unsigned slot = atomic_fetch_add_explicit(&xr_handles_nslots, 1, memory_order_relaxed);
      t->slot = slot < XR_HANDLES_SLOTS ? slot : 0;
    }
    atomic_store_explicit(&t->state, s, memory_order_release);
  }
  pthread_mutex_unlock(&t->init_lock);
  return s > 0;
}

/* Remembers what a lookup found, gone being read before that lookup. */
static void xr_handles_note(const struct xr_handles *t, const void *key, void *value,
                            unsigned long gone)
{
  struct xr_handles_hit *h;

  if (!t->slot || !value)
    return;
  h = &xr_handles_hits[t->slot];
  h->key = key;
  h->value = value;
  h->gone = gone;
}

static void *xr_handles_lookup(struct xr_handles *t, const void *key, unsigned long *gone)
{
  const struct xr_handles_hit *h = &xr_handles_hits[t->slot];
  void *v;

  *gone = atomic_load_explicit(&t->gone, memory_order_acquire);
  if (t->slot && h->key == key && h->gone == *gone)
    return h->value;
  v = xr_ptrmap_get(&t->map, key);
  xr_handles_note(t, key, v, *gone);
  return v;
}

void *xr_handles_get(struct xr_handles *t, const void *key)
{
  unsigned long gone;
  return key && xr_handles_ready(t) ? xr_handles_lookup(t, key, &gone) : NULL;
}

void *xr_handles_get_or_add(struct xr_handles *t, const void *key, size_t size,
                            bool *created)
{
  unsigned long gone;
  void *e;
  int rc;

  *created = false;
  if (!key || !xr_handles_ready(t))
    return NULL;
  e = xr_handles_lookup(t, key, &gone);
  if (e)
    return e;
  e = calloc(1, size);
  if (!e)
    return NULL;
  rc = xr_ptrmap_put(&t->map, key, e);
  if (rc == 0) {
    *created = true;
    xr_handles_note(t, key, e, gone);
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
  void *v;

  if (!key || !xr_handles_ready(t))
    return NULL;
  v = xr_ptrmap_remove(&t->map, key);
  if (v && t->slot) {
    /* After the removal: a lookup that read the old count may have found
     * the entry; one that reads the new one cannot. Every cached copy of
     * the entry is stale before the caller frees it. */
    atomic_fetch_add_explicit(&t->gone, 1, memory_order_release);
    xr_handles_hits[t->slot].key = NULL;
  }
  return v;
}

void xr_handles_fork_child(struct xr_handles *t)
{
  pthread_mutex_init(&t->init_lock, NULL);
  if (atomic_load_explicit(&t->state, memory_order_relaxed) > 0)
    xr_ptrmap_fork_child(&t->map);
}
