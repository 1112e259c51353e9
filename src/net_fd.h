/*
 * Which descriptors the sockets layer follows, and the connection record of
 * each. Every send/recv/read/write/close of the process asks xr_fd_watched()
 * first: one load from a flat table indexed by the descriptor, no lock, no
 * allocation, no system call. Descriptors at or above XR_FD_MAX, and
 * connections beyond XR_CONN_MAX at once, are not followed (counted).
 *
 * A record is named by as many table entries as the program has
 * descriptors for the socket (dup), and ends with the last of them.
 * Records live in a pool that is never unmapped, so a pointer a hook took
 * from the table stays valid memory even when another thread closes the
 * descriptor meanwhile: each record carries a generation that the table
 * entry repeats, and a hook works on a record only after taking its
 * try-lock and finding the generation it expects. A record that is busy
 * (another thread, or a signal handler interrupting this one) is skipped,
 * never waited for. A close that finds its record busy leaves the finishing
 * to the holder, which does it when it lets go.
 *
 * Contract: xr_fd_watched, xr_fd_enter, xr_fd_leave and xr_fd_detach are
 * lock-free and allocation-free, async-signal-safe apart from the finish
 * callback (xr_conn_finish) they may run, which emits documents.
 * xr_fd_attach maps the pool on first use (mmap) and is for connect and
 * accept hooks only.
 */
#ifndef XR_NET_FD_H
#define XR_NET_FD_H

#include "xr_setup.h"

#include <stdatomic.h>

#define XR_FD_MAX 65536
#define XR_CONN_MAX 1024

struct xr_conn;

/* 0: not followed; else (generation << 32) | (record index + 1). */
/* Hidden: addressed relative to the instruction pointer, no GOT load. */
extern _Atomic uint64_t xr_fdtab[XR_FD_MAX] __attribute__((visibility("hidden")));

static inline bool xr_fd_watched(int fd)
{
  return (unsigned)fd < XR_FD_MAX &&
         atomic_load_explicit(&xr_fdtab[fd], memory_order_relaxed) != 0;
}

_Static_assert((XR_FD_MAX & (XR_FD_MAX - 1)) == 0, "XR_FD_MAX: a power of two");

/* The byte-carrying hooks' test (issue 7): false means fd is not followed.
 * True may be a false positive: a descriptor outside the table (negative,
 * or XR_FD_MAX and above) reads the entry of fd modulo XR_FD_MAX, so what
 * runs on true (xr_fd_enter, xr_fd_dup, xr_fd_release) checks the range
 * again. The mask, not a range test, keeps the pass-through path at a
 * zero-extension, one load and test, and two jumps. */
static inline bool xr_fd_maybe_watched(int fd)
{
  return atomic_load_explicit(&xr_fdtab[(unsigned)fd & (XR_FD_MAX - 1)],
                              memory_order_relaxed) != 0;
}

/* A fresh, zeroed, locked record for fd, which replaces (and finishes) any
 * record fd had. NULL when fd is out of range or the pool is full. */
struct xr_conn *xr_fd_attach(int fd);

/* fd's record, locked; NULL when fd is not followed or the record is busy. */
struct xr_conn *xr_fd_enter(int fd);
/* Unlocks; finishes and frees the record when a close came meanwhile. */
void xr_fd_leave(struct xr_conn *c);
/* Stops following descriptor fd, through which the caller entered c,
 * and lets go of c, which the caller must not touch again (a passive
 * connection gives its record back once no descriptor names it). */
void xr_fd_release(struct xr_conn *c, int fd);

/* new now names old's connection too (dup, dup2, dup3, F_DUPFD): both
 * are followed until both are closed. Skipped when old's record is busy. */
void xr_fd_dup(int old, int new);

/* fd is being closed (close, dup2 onto it, close_range): stops following
 * it and finishes its record, now or when its holder lets go. */
void xr_fd_detach(int fd);

/* In a fork child: opens the records other threads held and lets go of
 * the copies of what was in flight (the parent sends those). */
void xr_fd_fork_child(void);

/* Connections not followed because the pool was full. */
unsigned long long xr_fd_overflows(void);

#endif /* XR_NET_FD_H */
