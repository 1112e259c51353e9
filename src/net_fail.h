/*
 * Connects that fail become fault subsegments: name (the resolved name,
 * else the address), namespace remote, an exception whose type is the
 * errno name. When the address came from a getaddrinfo list that still
 * has addresses after it, the failure is held on the thread: the
 * program's next connect to a later address of the same list means it
 * went on (Python's create_connection trying ::1, then 127.0.0.1), and the
 * held failure is dropped; anything else sends it first (another connect,
 * another lookup, the end of the process on this thread). Its
 * subsegment is opened when the connect fails, in the context of that
 * moment.
 * Contract: allocates; connect/getaddrinfo/I-O hooks only, not for signal
 * handlers.
 */
#ifndef XR_NET_FAIL_H
#define XR_NET_FAIL_H

#include "xr_setup.h"

#include "net_names.h"

struct xr_connect_failure {
  const char *name;        /* the resolved name, or NULL */
  const char *addr;        /* numeric address */
  unsigned port;
  int err;
  int64_t start_us;        /* when connect was called */
  struct xr_name_hit hit;
};

void xr_net_connect_failed(const struct xr_connect_failure *f);
/* The thread calls connect again, to an address found in hit. */
void xr_net_connect_attempt(const struct xr_name_hit *hit);
/* Sends a held failure (a new lookup, process exit). */
void xr_net_fail_flush(void);
/* After fork, in the child: the parent sends what it held. */
void xr_net_fail_fork_child(void);

/* "ECONNREFUSED" for ECONNREFUSED, "errno 123" for the unlisted; buf
 * holds at least 16 bytes. The text is libc-independent English. */
const char *xr_errno_name(int err, char *buf, size_t len);
const char *xr_errno_text(int err);

#endif /* XR_NET_FAIL_H */
