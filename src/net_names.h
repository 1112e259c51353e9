/*
 * The host names the program resolved, remembered per thread, so that a
 * connection to an address can be named by the name the program asked for
 * (the SDKs name HTTP subsegments by host name). The last XR_NAMES_LISTS
 * getaddrinfo results of the thread are kept, XR_NAMES_ADDRS addresses
 * each; each list has a process-unique id so that a later connect can tell
 * that it tries the next address of the same list (net_fail.c).
 * Contract: allocates (once per thread, freed at thread exit); for the
 * getaddrinfo and connect hooks only, never from a signal handler.
 */
#ifndef XR_NET_NAMES_H
#define XR_NET_NAMES_H

#include "xr_setup.h"

#include <netdb.h>
#include <sys/socket.h>

#define XR_NAMES_LISTS 4
#define XR_NAMES_ADDRS 8

struct xr_name_hit {
  int list_id;   /* 0 when the address was not resolved by this thread */
  int index;     /* position of the address in its list */
  int count;     /* addresses in the list (capped at XR_NAMES_ADDRS) */
};

/* node as the program passed it (NULL: remembered without a name); res
 * its result list. */
void xr_names_remember(const char *node, const struct addrinfo *res);

/* The name the thread resolved to sa's address (most recent first),
 * copied into name (cap bytes; "" for a NULL node). 0, or -ENOENT with
 * name "" and hit zeroed. */
int xr_names_find(const struct sockaddr *sa, char *name, size_t cap,
                  struct xr_name_hit *hit);

/* A zeroed per-thread block of size bytes (the same size on every call),
 * freed with the thread's names at thread exit, after fini (NULL ok) ran
 * on it there; NULL on ENOMEM. */
void *xr_names_aux(size_t size, void (*fini)(void *));

#endif /* XR_NET_NAMES_H */
