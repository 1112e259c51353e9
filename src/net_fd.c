#include "xr_setup.h"

#include "net_fd.h"

#include "log.h"
#include "net_conn.h"

#include <sched.h>
#include <string.h>
#include <sys/mman.h>

_Atomic uint64_t xr_fdtab[XR_FD_MAX];

/* Mapped on the first connect or accept, never unmapped (see net_fd.h). */
static _Atomic(struct xr_conn *) xr_pool;
/* Where claims start: at most the lowest free record (records below it
 * are in use, races aside: a record freed while a claim moves the mark past
 * it waits for the next lower free). Claiming the lowest free record, not
 * going round the pool, keeps the pool's resident pages to the most
 * connections open at once: a program making connections one after the
 * other touches one record, not all 7 MiB of them (integration.soak). */
static atomic_uint xr_pool_low;
static atomic_ullong xr_overflows;

static struct xr_conn *xr_pool_get(void)
{
  struct xr_conn *p = atomic_load_explicit(&xr_pool, memory_order_acquire), *none = NULL;
  void *m;

  if (XR_LIKELY(p != NULL))
    return p;
  /* Reserved address space: pages become memory only when a record is
   * first used. */
  m = mmap(NULL, sizeof(struct xr_conn) * XR_CONN_MAX, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  if (!atomic_compare_exchange_strong(&xr_pool, &none, (struct xr_conn *)m)) {
    munmap(m, sizeof(struct xr_conn) * XR_CONN_MAX);
    return none;
  }
  return (struct xr_conn *)m;
}

static uint64_t xr_entry(const struct xr_conn *pool, struct xr_conn *c)
{
  return ((uint64_t)atomic_load(&c->gen) << 32) | (uint64_t)(c - pool + 1);
}

static bool xr_trylock(struct xr_conn *c)
{
  return atomic_exchange_explicit(&c->lock, 1, memory_order_acquire) == 0;
}

/* Finishes and frees c, which the caller holds locked; unlocks it. */
static void xr_free_locked(struct xr_conn *c)
{
  xr_conn_finish(c);
  /* A new generation first: stale table entries stop matching. */
  atomic_fetch_add(&c->gen, 1);
  atomic_store(&c->closing, 0);
  atomic_store_explicit(&c->used, 0, memory_order_release);
  {
    unsigned me = (unsigned)(c - atomic_load(&xr_pool)), low = atomic_load(&xr_pool_low);

    while (me < low && !atomic_compare_exchange_weak(&xr_pool_low, &low, me))
      ;
  }
  atomic_store_explicit(&c->lock, 0, memory_order_release);
}

/* The record an entry names, locked, or NULL (busy, stale). */
static struct xr_conn *xr_lock_entry(uint64_t e)
{
  struct xr_conn *pool = atomic_load_explicit(&xr_pool, memory_order_acquire);
  uint32_t idx = (uint32_t)e;
  struct xr_conn *c;

  if (!pool || idx == 0 || idx > XR_CONN_MAX)
    return NULL;
  c = &pool[idx - 1];
  if (!xr_trylock(c))
    return NULL;
  if (atomic_load(&c->gen) != (uint32_t)(e >> 32) || !atomic_load(&c->used)) {
    atomic_store_explicit(&c->lock, 0, memory_order_release);
    return NULL;
  }
  return c;
}

/* Drops the reference an entry taken out of the table held (an entry in
 * the table always holds one, so the record is live). The last one ends
 * the record: now if it is free, else by its holder when it lets go. */
static void xr_close_entry(uint64_t e)
{
  struct xr_conn *pool = atomic_load_explicit(&xr_pool, memory_order_acquire);
  uint32_t idx = (uint32_t)e;
  struct xr_conn *c;

  if (!pool || idx == 0 || idx > XR_CONN_MAX)
    return;
  c = &pool[idx - 1];
  if (atomic_fetch_sub(&c->nfds, 1) != 1)
    return; /* another descriptor still names the connection */
  /* Announce first, then try: either the holder sees the announcement
   * when it lets go, or this try succeeds (both are seq_cst). */
  atomic_store(&c->closing, (uint32_t)(e >> 32));
  c = xr_lock_entry(e);
  if (c)
    xr_free_locked(c);
}

struct xr_conn *xr_fd_attach(int fd)
{
  struct xr_conn *pool, *c;
  unsigned i, start, idx;
  uint64_t old;

  if ((unsigned)fd >= XR_FD_MAX || !(pool = xr_pool_get()))
    return NULL;
  start = atomic_load(&xr_pool_low);
  for (i = 0; i < XR_CONN_MAX; i++) {
    unsigned zero = 0;
    idx = (start + i) % XR_CONN_MAX;
    c = &pool[idx];
    if (atomic_compare_exchange_strong(&c->used, &zero, 1))
      goto claimed;
  }
  if (atomic_fetch_add(&xr_overflows, 1) == 0)
    xr_warn("more than %d connections at once: the others are not traced "
            "(counted)", XR_CONN_MAX);
  return NULL;
claimed:
  /* start .. idx - 1 were in use: the next claim starts after them (unless
   * a free moved the mark meanwhile). */
  if (idx >= start)
    (void)atomic_compare_exchange_strong(&xr_pool_low, &start, idx + 1);
  /* Only a stale hook can hold the lock of a free record, and only while
   * it finds the generation wrong. */
  while (!xr_trylock(c))
    sched_yield();
  /* Generation 0 would read as "no close pending" (closing == 0). */
  if (atomic_load(&c->gen) == 0)
    atomic_store(&c->gen, 1);
  /* net_conn.c's fields start zeroed, up to its queue (see net_conn.h). */
  memset((char *)c + offsetof(struct xr_conn, fd), 0,
         offsetof(struct xr_conn, q) - offsetof(struct xr_conn, fd));
  c->fd = fd;
  atomic_store(&c->nfds, 1);
  old = atomic_exchange(&xr_fdtab[fd], xr_entry(pool, c));
  if (old)
    xr_close_entry(old);
  return c;
}

struct xr_conn *xr_fd_enter(int fd)
{
  uint64_t e;

  if ((unsigned)fd >= XR_FD_MAX)
    return NULL;
  e = atomic_load_explicit(&xr_fdtab[fd], memory_order_acquire);
  return e ? xr_lock_entry(e) : NULL;
}

void xr_fd_leave(struct xr_conn *c)
{
  uint32_t gen = atomic_load(&c->gen);

  atomic_store(&c->lock, 0);
  if (atomic_load(&c->closing) == gen && xr_trylock(c)) {
    if (atomic_load(&c->gen) == gen && atomic_load(&c->used))
      xr_free_locked(c);
    else
      atomic_store_explicit(&c->lock, 0, memory_order_release);
  }
}

void xr_fd_release(struct xr_conn *c, int fd)
{
  struct xr_conn *pool = atomic_load(&xr_pool);
  uint64_t mine = xr_entry(pool, c);

  /* Whoever takes an entry out of the table drops its reference: when a
   * close already took it, that close does. The last reference frees. */
  if ((unsigned)fd < XR_FD_MAX &&
      atomic_compare_exchange_strong(&xr_fdtab[fd], &mine, 0) &&
      atomic_fetch_sub(&c->nfds, 1) == 1)
    xr_free_locked(c);
  else
    xr_fd_leave(c);
}

void xr_fd_dup(int old, int new)
{
  struct xr_conn *c;
  uint64_t e, prev;
  unsigned n;

  if ((unsigned)new >= XR_FD_MAX || old == new || !(c = xr_fd_enter(old)))
    return;
  e = atomic_load(&xr_fdtab[old]);
  /* A reference only while the connection has one: once its last close
   * dropped it to zero, the record is ending and new must not name it. */
  n = atomic_load(&c->nfds);
  do {
    if (n == 0 || xr_entry(atomic_load(&xr_pool), c) != e) {
      xr_fd_leave(c);
      return;
    }
  } while (!atomic_compare_exchange_weak(&c->nfds, &n, n + 1));
  prev = atomic_exchange(&xr_fdtab[new], e);
  xr_fd_leave(c);
  if (prev)
    xr_close_entry(prev);
}

void xr_fd_detach(int fd)
{
  uint64_t e;

  if ((unsigned)fd >= XR_FD_MAX)
    return;
  e = atomic_exchange(&xr_fdtab[fd], 0);
  if (e)
    xr_close_entry(e);
}

unsigned long long xr_fd_overflows(void)
{
  return atomic_load(&xr_overflows);
}

/* Whether a table entry names c (a scan: only for the rare record a fork
 * caught in someone's hands). */
static bool xr_fd_named(struct xr_conn *pool, struct xr_conn *c)
{
  uint64_t mine = xr_entry(pool, c);
  unsigned fd;

  for (fd = 0; fd < XR_FD_MAX; fd++)
    if (atomic_load_explicit(&xr_fdtab[fd], memory_order_relaxed) == mine)
      return true;
  return false;
}

void xr_fd_fork_child(void)
{
  struct xr_conn *pool = atomic_load(&xr_pool);
  unsigned i;

  if (!pool)
    return;
  /* Only this thread exists now: locks held by the others never open. */
  for (i = 0; i < XR_CONN_MAX; i++) {
    struct xr_conn *c = &pool[i];
    uint32_t gen = atomic_load(&c->gen);
    bool held, closed;

    if (!atomic_load(&c->used))
      continue;
    held = atomic_load(&c->lock) != 0;
    closed = atomic_load(&c->closing) == gen;
    atomic_store(&c->lock, 0);
    xr_conn_fork_child(c);
    /* A close that was waiting for a holder, or an attach interrupted
     * before it published the record: no descriptor names it any more. */
    if (closed || (held && !xr_fd_named(pool, c))) {
      atomic_store(&c->lock, 1);
      xr_free_locked(c);
    }
    atomic_store(&c->closing, 0);
  }
}
