/*
 * Sends documents to the daemon: UDP, one document per datagram, each
 * prefixed with {"format":"json","version":1}\n and never over
 * XR_DATAGRAM_MAX bytes (xray-spec.md 1.1, 1.2).
 * A segment too large to carry its subsegments sends them first as
 * independent documents; a single document still too large is truncated
 * (longest strings first) and marked with metadata.xray_auto.truncated;
 * both are counted. Never blocks on the network (non-blocking socket,
 * MSG_DONTWAIT); a daemon host name is resolved once, at the first send.
 * The socket is validated before each send because programs close
 * descriptors they do not own and the number may be reused.
 * Contract: thread-safe; allocates; never from a signal handler or a vfork
 * child; errors are counted, never reported to the host.
 */
#ifndef XR_EMITTER_H
#define XR_EMITTER_H

#include "xr_setup.h"

#include "config.h"
#include "entity.h"

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
 * reinitialise the lock. */
void xr_emitter_fork_child(void);
/* The daemon's address as configured (for excluding our own traffic). */
const struct xr_endpoint *xr_emitter_endpoint(void);

/* Exposed for unit tests: fits json into at most max bytes of body,
 * truncating strings and marking it when needed. Returns the body length
 * written to buf (NUL-terminated) or a negative errno; *truncated set. */
int xr_serialize_fit(cJSON *json, char *buf, size_t max, bool *truncated) XR_WUR;

#endif /* XR_EMITTER_H */
