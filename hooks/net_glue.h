/*
 * What the socket hooks do once the real call has returned on a followed
 * descriptor (or on connect/accept, which decide what is followed). Each
 * entry point saves and restores errno, passes through when tracing is not
 * ready, when the thread is inside another traced operation, and in a
 * vfork child (which shares our memory but not our descriptors), and never
 * waits for a connection record another thread holds.
 */
#ifndef XR_NET_GLUE_H
#define XR_NET_GLUE_H

#include "../src/xr_setup.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Makes the real connect (the only hook whose real call is made here:
 * the failure's timing and name need the call itself). ra: the caller's
 * return address; connections libcurl, libpq or the MySQL client library
 * make are theirs to trace, whichever of their functions makes them. */
int xr_net_connect(int fd, const struct sockaddr *sa, socklen_t len, const void *ra);
void xr_net_accepted(int fd, const struct sockaddr *sa, const socklen_t *len);
void xr_net_out(int fd, const struct iovec *iov, int cnt, ssize_t n);
void xr_net_out_opaque(int fd, ssize_t n);
void xr_net_in(int fd, const struct iovec *iov, int cnt, ssize_t n, int flags);
void xr_net_closing(int fd);
/* new (>= 0) was made a copy of the followed descriptor old. */
void xr_net_dup(int old, int new);
void xr_net_closing_range(unsigned first, unsigned last, int flags);
void xr_net_sockopt(int fd, int level, int name, const void *val, const socklen_t *len);
void xr_net_resolved(const char *node, const struct addrinfo *res);

/* Constructor, fork child, destructor. */
void xr_net_init(void);
void xr_net_fork_child(void);
void xr_net_exit(void);

#endif /* XR_NET_GLUE_H */
