/*
 * Sends documents to the daemon: UDP, one document per datagram, each
 * prefixed with {"format":"json","version":1}\n and never over
 * XR_DATAGRAM_MAX bytes (xray-spec.md 1.1, 1.2).
 * A segment too large to carry its subsegments sends them first as
 * independent documents; a single document still too large is truncated
 * (longest strings first) and marked with metadata.xray_auto.truncated;
 * both are counted. Never blocks on the network (non-blocking socket,
 * MSG_DONTWAIT); a daemon host name is resolved at the first send, on a
 * thread of ours (signals blocked, detached), never on the sender's: the
 * sends of the process's first resolution wait for it at most 50 ms, later
 * ones not at all, and documents are dropped (counted) until it answers; a
 * failure is retried every 10 s and logged once per process.
 * The socket is validated before each send because programs close
 * descriptors they do not own and the number may be reused; the close
 * hooks take the number away first (emitter.c, "Our number and the
 * program's closes").
 * Contract: thread-safe; allocates; never from a signal handler or a vfork
 * child, except xr_emitter_fd_is/_in, xr_emitter_closing and
 * xr_emitter_closed, which the close hooks call from any context; errors
 * are counted, never reported to the host.
 */
#ifndef XR_EMITTER_H
#define XR_EMITTER_H

#include "xr_setup.h"

#include "config.h"
#include "entity.h"

#include <stdatomic.h>

struct xr_emit_stats {
  unsigned long long sent;        /* datagrams handed to the kernel */
  unsigned long long send_errors; /* sendto failures, unresolved daemon */
  unsigned long long split;       /* segments whose children went alone */
  unsigned long long truncated;   /* documents cut to fit */
  unsigned long long dropped;     /* could not be built (out of memory) */
};

void xr_emitter_configure(const struct xr_endpoint *udp);
/* Sends e (children embedded when they fit). independent: e is a
 * subsegment sent on its own. 0 or a negative errno (already counted). */
int xr_emit_entity(const struct xr_entity *e, bool independent);
/* Sends one pre-serialized document body. */
int xr_emit_body(const char *body, size_t len);
void xr_emitter_stats(struct xr_emit_stats *out);
/* Child after fork: keep the inherited socket (datagrams are atomic) but
 * reinitialise the lock; the counters start from zero (per process). */
void xr_emitter_fork_child(void);
/* The daemon's address as configured (for excluding our own traffic). */
const struct xr_endpoint *xr_emitter_endpoint(void);

/* Our socket's number, -1 when there is none. */
extern atomic_int xr_emit_fd;

/* Whether fd is our socket's number: the close hooks' one load. */
static inline bool xr_emitter_fd_is(int fd)
{
  return fd >= 0 && fd == atomic_load_explicit(&xr_emit_fd, memory_order_relaxed);
}

/* Our number when it lies in [first, last], else -1 (close_range). */
static inline int xr_emitter_fd_in(unsigned first, unsigned last)
{
  int fd = atomic_load_explicit(&xr_emit_fd, memory_order_relaxed);
  return fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last ? fd : -1;
}

/* Around a real call that closes fd (close, close_range, dup2 or dup3
 * onto it): xr_emitter_closing before it when xr_emitter_fd_is(fd) takes
 * the number away from later sends and waits for the sends already using
 * it (bounded: each is two non-blocking system calls); xr_emitter_closed
 * after it, when closing ran or xr_emitter_fd_is(fd) holds now, deals
 * with a socket created meanwhile and takes our socket back when the call
 * failed. Lock-free, allocation-free, async-signal-safe, errno kept; they
 * do nothing in a vfork child. */
void xr_emitter_closing(int fd);
void xr_emitter_closed(int fd);

/* Exposed for unit tests: fits json into at most max bytes of body,
 * truncating strings and marking it when needed. Returns the body length
 * written to buf (NUL-terminated) or a negative errno; *truncated set. */
int xr_serialize_fit(cJSON *json, char *buf, size_t max, bool *truncated) XR_WUR;

#endif /* XR_EMITTER_H */
