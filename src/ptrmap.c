#include "xr_setup.h"

#include "ptrmap.h"

#include <errno.h>
#include <stdlib.h>

static size_t xr_hash(const void *p, size_t cap)
{
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

size_t xr_ptrmap_home(const struct xr_ptrmap *m, const void *key)
{
  return xr_hash(key, m->cap);
}

int xr_ptrmap_init(struct xr_ptrmap *m, size_t cap)
{
  size_t c = 16;
  while (c < cap)
    c <<= 1;
  m->slots = calloc(c, sizeof(*m->slots));
  if (!m->slots)
    return -ENOMEM;
  pthread_mutex_init(&m->lock, NULL);
  m->cap = c;
  m->used = 0;
  m->limit = c / 4 * 3;
  m->refused = 0;
  return 0;
}

void xr_ptrmap_destroy(struct xr_ptrmap *m)
{
  free(m->slots);
  m->slots = NULL;
  m->cap = m->used = m->limit = 0;
  pthread_mutex_destroy(&m->lock);
}

static size_t xr_find(const struct xr_ptrmap *m, const void *key, bool *found)
{
  size_t i = xr_hash(key, m->cap);
  while (m->slots[i].key) {
    if (m->slots[i].key == key) {
      *found = true;
      return i;
    }
    i = (i + 1) & (m->cap - 1);
  }
  *found = false;
  return i;
}

void *xr_ptrmap_get(struct xr_ptrmap *m, const void *key)
{
  void *v = NULL;
  bool found;
  size_t i;
  if (!key || !m->slots)
    return NULL;
  pthread_mutex_lock(&m->lock);
  i = xr_find(m, key, &found);
  if (found)
    v = m->slots[i].value;
  pthread_mutex_unlock(&m->lock);
  return v;
}

int xr_ptrmap_put(struct xr_ptrmap *m, const void *key, void *value)
{
  bool found;
  size_t i;
  int rc = 0;
  if (!key || !m->slots)
    return -EINVAL;
  pthread_mutex_lock(&m->lock);
  i = xr_find(m, key, &found);
  if (found) {
    rc = -EEXIST;
  } else if (m->used >= m->limit) {
    m->refused++;
    rc = -ENOSPC;
  } else {
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->used++;
  }
  pthread_mutex_unlock(&m->lock);
  return rc;
}

void *xr_ptrmap_remove(struct xr_ptrmap *m, const void *key)
{
  void *v = NULL;
  bool found;
  size_t i, j, mask;
  if (!key || !m->slots)
    return NULL;
  pthread_mutex_lock(&m->lock);
  i = xr_find(m, key, &found);
  if (!found)
    goto out;
  v = m->slots[i].value;
  mask = m->cap - 1;
  /* Backward-shift: pull later entries of the cluster into the hole when
   * their home slot is not between the hole and themselves. */
  j = i;
  for (;;) {
    size_t home;
    j = (j + 1) & mask;
    if (!m->slots[j].key)
      break;
    home = xr_hash(m->slots[j].key, m->cap);
    if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->slots[i].value = NULL;
  m->used--;
out:
  pthread_mutex_unlock(&m->lock);
  return v;
}

void xr_ptrmap_fork_child(struct xr_ptrmap *m)
{
  pthread_mutex_init(&m->lock, NULL);
}
