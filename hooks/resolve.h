/*
 * Finding the real functions behind our hooks for libraries found at run
 * time (libcurl today; libpq and libmariadb next).
 *
 * The library a call must go to is the one the *caller* linked: a process
 * may hold libcurl.so.4 in the global scope and libcurl-gnutls.so.4 loaded
 * RTLD_LOCAL by a plugin, and a handle of one must never reach the other.
 * So resolution is per calling object (found from the return address with
 * dl_iterate_phdr): dlsym on a NOLOAD handle of the caller searches exactly
 * its dependency tree; the main program and objects without the library in
 * their tree use dlsym(RTLD_NEXT); then the known SONAMEs. All of a
 * family's functions for one caller come from one library. A result equal
 * to one of our own hooks is rejected; NULL is never cached.
 *
 * Contract: the fast path (a caller seen before) is a lock-free scan of at
 * most XR_RESOLVE_CALLERS entries. The slow path takes a mutex and calls
 * into the loader, which allocates: never from a signal handler, a vfork
 * child, or libc-level hooks. The NOLOAD handles are kept so that neither
 * the caller nor the library can be unloaded under a cached pointer.
 */
#ifndef XR_RESOLVE_H
#define XR_RESOLVE_H

#include "../src/xr_setup.h"

#include <pthread.h>
#include <stdatomic.h>

#define XR_RESOLVE_CALLERS 32
#define XR_RESOLVE_FUNCS 32

struct xr_caller {
  uintptr_t lo, hi; /* address range of the caller's loaded segments */
  void *fns[XR_RESOLVE_FUNCS];
};

/* What a family learns at run time. Zero-initialised (.bss, so that the
 * 9 KB of each never cost a page of the file or a fault at start-up: every
 * process of a container image loads us); zero is PTHREAD_MUTEX_INITIALIZER
 * on glibc and musl. */
struct xr_family_state {
  pthread_mutex_t lock;
  atomic_size_t ncallers;
  struct xr_caller callers[XR_RESOLVE_CALLERS];
  void *next[XR_RESOLVE_FUNCS];      /* the RTLD_NEXT table, once resolved */
  atomic_int next_state;             /* 0 unknown, 1 resolved, -1 absent */
  const void *global[XR_RESOLVE_FUNCS]; /* the global scope's own[i] names */
  atomic_int global_state;           /* 0 unknown, 1 resolved */
};

/* What a family is (read-only after relocation). */
struct xr_family {
  const char *label;                 /* "libcurl", for logs */
  const char *const *names;          /* names[0] is the anchor symbol */
  size_t count;
  const char *const *sonames;        /* NULL-terminated */
  /* Our hooks, parallel to names (NULL ok): this copy's own addresses
   * (the library links with -Bsymbolic-functions, so these are RELATIVE
   * relocations, no symbol lookup at start-up). What the global scope gives
   * for those names (another copy of the library preloaded first) is
   * rejected too: st->global, looked up on the first slow path. */
  const void *const *own;
  struct xr_family_state *st;
};

/* The function table for a call made from return address ra, or NULL
 * when the family's library cannot be found (the hook then fails the call
 * the way the library would without being initialised). */
void *const *xr_resolve(const struct xr_family *fam, const void *ra);

/* After fork: the lock may have been held by a thread that is gone. */
void xr_resolve_fork_child(const struct xr_family *fam);

#endif /* XR_RESOLVE_H */
