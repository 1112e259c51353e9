#include "../src/xr_setup.h"

#include "resolve.h"

#include "../src/log.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

struct xr_find {
  uintptr_t ra;
  uintptr_t lo, hi;
  const char *name;
  bool found;
  bool is_main;
};

static int xr_find_object(struct dl_phdr_info *info, size_t size, void *data)
{
  struct xr_find *f = data;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  bool inside = false;
  int i;

  (void)size;
  for (i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start, end;
    if (ph->p_type != PT_LOAD)
      continue;
    start = info->dlpi_addr + ph->p_vaddr;
    end = start + ph->p_memsz;
    if (start < lo)
      lo = start;
    if (end > hi)
      hi = end;
    if (f->ra >= start && f->ra < end)
      inside = true;
  }
  if (!inside)
    return 0;
  f->found = true;
  f->lo = lo;
  f->hi = hi;
  f->name = info->dlpi_name;
  /* The main program is reported first and with an empty name. */
  f->is_main = !info->dlpi_name || !info->dlpi_name[0];
  return 1;
}

/* A copy of this library preloaded before us: its hooks are what the
 * global scope gives for our hooks' names (dlsym(RTLD_DEFAULT), the lookup
 * a relocation against our own exported name would make). Accepting one
 * would send this copy's pass-through into that copy and back, forever.
 * Looked up once per family on the slow path, loader calls without our
 * lock held (resolve.h); a hit does not allocate, and each name is one of
 * ours, so it cannot miss. */
static void xr_own_global(const struct xr_family *fam)
{
  const void *g[XR_RESOLVE_FUNCS];
  size_t i;

  if (!fam->own ||
      atomic_load_explicit(&fam->st->global_state, memory_order_acquire) == 1)
    return;
  memset(g, 0, sizeof(g));
  for (i = 0; i < fam->count; i++)
    if (fam->own[i])
      g[i] = dlsym(RTLD_DEFAULT, fam->names[i]);
  pthread_mutex_lock(&fam->st->lock);
  if (atomic_load_explicit(&fam->st->global_state, memory_order_relaxed) != 1) {
    memcpy(fam->st->global, g, sizeof(fam->st->global));
    atomic_store_explicit(&fam->st->global_state, 1, memory_order_release);
  }
  pthread_mutex_unlock(&fam->st->lock);
}

/* Called after xr_own_global in the same thread. */
static bool xr_is_own(const struct xr_family *fam, size_t i, const void *p)
{
  return fam->own && fam->own[i] && (fam->own[i] == p || fam->st->global[i] == p);
}

/* Fills fns from handle h (RTLD_NEXT when h is that). True when the anchor
 * resolved to something that is not ours. */
static bool xr_fill(const struct xr_family *fam, void *h, void **fns)
{
  size_t i;
  for (i = 0; i < fam->count; i++) {
    void *p = dlsym(h, fam->names[i]);
    fns[i] = xr_is_own(fam, i, p) ? NULL : p;
  }
  return fns[0] != NULL;
}

/* RTLD_NEXT's table, into fns. Loader calls happen without our lock held:
 * a library constructor may call a hook while the loader lock is taken. */
static bool xr_fill_next(const struct xr_family *fam, void **fns)
{
  if (atomic_load_explicit(&fam->st->next_state, memory_order_acquire) == 1) {
    memcpy(fns, fam->st->next, sizeof(fam->st->next));
    return true;
  }
  if (!xr_fill(fam, RTLD_NEXT, fns))
    return false;
  pthread_mutex_lock(&fam->st->lock);
  if (atomic_load_explicit(&fam->st->next_state, memory_order_relaxed) != 1) {
    memcpy(fam->st->next, fns, sizeof(fam->st->next));
    atomic_store_explicit(&fam->st->next_state, 1, memory_order_release);
  }
  pthread_mutex_unlock(&fam->st->lock);
  return true;
}

static bool xr_fill_sonames(const struct xr_family *fam, void **fns)
{
  size_t i;
  for (i = 0; fam->sonames[i]; i++) {
    void *h = dlopen(fam->sonames[i], RTLD_NOLOAD | RTLD_LAZY);
    if (!h)
      continue;
    if (xr_fill(fam, h, fns))
      return true; /* handle kept on purpose */
    dlclose(h);
  }
  return false;
}

static void *const *xr_resolve_slow(const struct xr_family *fam, const void *ra)
{
  struct xr_find f;
  struct xr_caller c;
  size_t n;
  bool ok = false;

  xr_own_global(fam);
  memset(&f, 0, sizeof(f));
  memset(&c, 0, sizeof(c));
  f.ra = (uintptr_t)ra;
  dl_iterate_phdr(xr_find_object, &f);
  if (f.found && !f.is_main) {
    void *h = dlopen(f.name, RTLD_NOLOAD | RTLD_LAZY);
    if (h) {
      ok = xr_fill(fam, h, c.fns);
      if (!ok)
        dlclose(h);
    }
  }
  if (!ok)
    ok = xr_fill_next(fam, c.fns);
  if (!ok)
    ok = xr_fill_sonames(fam, c.fns);
  if (!ok) {
    xr_err("%s is called but cannot be found; the call fails", fam->label);
    return NULL;
  }
  if (!f.found)
    goto uncached; /* unknown caller (JIT code, ...) */
  c.lo = f.lo;
  c.hi = f.hi;
  pthread_mutex_lock(&fam->st->lock);
  n = atomic_load_explicit(&fam->st->ncallers, memory_order_relaxed);
  if (n < XR_RESOLVE_CALLERS) {
    size_t i;
    /* Another thread may have added it meanwhile. */
    for (i = 0; i < n; i++)
      if (fam->st->callers[i].lo == c.lo && fam->st->callers[i].hi == c.hi)
        break;
    if (i == n) {
      fam->st->callers[n] = c;
      atomic_store_explicit(&fam->st->ncallers, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&fam->st->lock);
    return fam->st->callers[i].fns;
  }
  pthread_mutex_unlock(&fam->st->lock);
  xr_debug("%s: caller table full; resolving per call", fam->label);
uncached:
  /* Correct but uncached: this thread's copy, valid until its next call. */
  {
    static XR_TLS void *spill[XR_RESOLVE_FUNCS];
    memcpy(spill, c.fns, sizeof(spill));
    return spill;
  }
}

void xr_resolve_fork_child(const struct xr_family *fam)
{
  pthread_mutex_init(&fam->st->lock, NULL);
}

void *const *xr_resolve(const struct xr_family *fam, const void *ra)
{
  size_t n = atomic_load_explicit(&fam->st->ncallers, memory_order_acquire);
  uintptr_t a = (uintptr_t)ra;
  size_t i;

  for (i = 0; i < n; i++)
    if (a >= fam->st->callers[i].lo && a < fam->st->callers[i].hi)
      return fam->st->callers[i].fns;
  return xr_resolve_slow(fam, ra);
}
