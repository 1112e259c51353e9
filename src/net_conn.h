/*
 * One followed TCP connection and what its bytes mean.
 *   Client side (the program connected): each HTTP/1.x request the program
 *   sends becomes a remote subsegment, ended by its response (pipelined
 *   requests wait in order), by the next request after its response head,
 *   by an I/O error or by the end of the stream. A connect that fails is a
 *   fault subsegment (net_fail.c).
 *   Server side (accepted): each request read becomes a segment
 *   (tracer.h, xr_inbound_*), ended when the program's response to it is
 *   complete.
 * The first bytes that are not HTTP/1.x turn the record passive: the
 * hooks skip it until the descriptor closes.
 *
 * Contract: called with the record locked (net_fd.h); allocates when a
 * request begins or ends, so not for signal handlers: the sockets layer
 * accepts that a signal handler doing HTTP on a socket the program
 * connected itself would reach malloc (see README, "Sockets").
 */
#ifndef XR_NET_CONN_H
#define XR_NET_CONN_H

#include "xr_setup.h"

#include "http_sniff.h"
#include "tracer.h"

#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Requests in flight (pipelining) that are traced; up to
 * XR_CONN_OVERFLOW more are only paired with their responses, untraced
 * (counted); beyond that the connection turns passive. */
#define XR_CONN_PIPELINE 8
#define XR_CONN_OVERFLOW 64
#define XR_ADDR_MAX 48 /* an IPv6 literal with brackets, NUL */

/* RUNTIME: the Lambda Runtime API connection of a custom runtime, never
 * traced, read only for the invocation context (lambda.h). */
enum xr_conn_role { XR_CONN_CLIENT = 1, XR_CONN_SERVER = 2, XR_CONN_RUNTIME = 3 };

struct xr_exchange {
  struct xr_span span;           /* client: the subsegment (sub NULL: untraced) */
  struct xr_entity *seg;         /* server: the inbound segment */
  bool is_head, is_connect;      /* the request's method */
  bool got_head;                 /* its response head was seen */
};

struct xr_conn {
  /* net_fd.c's */
  atomic_uint lock;
  _Atomic uint32_t gen;
  _Atomic uint32_t closing;      /* gen of a last close that found it busy */
  atomic_uint used;
  atomic_uint nfds;              /* table entries naming it (dup) */
  int fd;

  /* net_conn.c's */
  uint8_t role;
  bool passive;                  /* not HTTP, or lost: ignored until close */
  bool connecting;               /* non-blocking connect not yet resolved */
  int64_t connect_us;            /* when connect was called */
  int64_t begin_us;              /* first byte of the message in progress */
  int list_id, list_index, list_count; /* getaddrinfo list of the address */
  uint16_t port;                 /* peer port */
  char addr[XR_ADDR_MAX];        /* peer address, numeric */
  char name[XR_HP_HOST_MAX];     /* the name the program resolved, or "" */
  struct xr_hp out, in;          /* what the program sends / receives */
  /* Untraced requests queued after q's (bit i: the i-th one's method). */
  unsigned novf;
  uint64_t ovf_head, ovf_connect;
  bool ovf_got_head;
  bool in_orphan;                /* the response being read was ended early */
  unsigned nq;
  /* Last, and not cleared by xr_fd_attach (an entry is when pushed): its
   * pages stay untouched until pipelining uses them. */
  struct xr_exchange q[XR_CONN_PIPELINE];
};

/* Requests not traced because too many were in flight at once. */
unsigned long long xr_conn_overflows(void);

/* sa's numeric address and port (host order); "" and 0 for a family
 * other than AF_INET/AF_INET6. */
void xr_sockaddr_text(const struct sockaddr *sa, char addr[XR_ADDR_MAX],
                      uint16_t *port);

/* The three set-ups take a record whose net_conn.c fields are all zero,
 * as xr_fd_attach hands it out (the parsers are not cleared again). */

/* Record set up for a socket the program connected to sa (0 or
 * EINPROGRESS). */
void xr_conn_client_init(struct xr_conn *c, const struct sockaddr *sa,
                         bool connecting, int64_t connect_us);
/* Record set up for the program's (or its libcurl's) connection to the
 * Lambda Runtime API at sa. */
void xr_conn_runtime_init(struct xr_conn *c, const struct sockaddr *sa);
/* Record set up for a descriptor accept returned, peer sa. */
void xr_conn_server_init(struct xr_conn *c, const struct sockaddr *sa);

/* n > 0 bytes of iov (iovcnt buffers) went out / came in. */
void xr_conn_sent(struct xr_conn *c, const struct iovec *iov, int iovcnt, size_t n);
void xr_conn_received(struct xr_conn *c, const struct iovec *iov, int iovcnt,
                      size_t n);
/* Bytes the program sent that we could not see (sendfile). */
void xr_conn_sent_opaque(struct xr_conn *c, size_t n);
/* recv/read returned 0. */
void xr_conn_eof(struct xr_conn *c);
/* An I/O call failed with err (not EAGAIN/EINTR). */
void xr_conn_error(struct xr_conn *c, int err);
/* getsockopt(SO_ERROR) reported err (0: connected). */
void xr_conn_so_error(struct xr_conn *c, int err);

/* The descriptor is closing: ends what is open. Never frees c. */
void xr_conn_finish(struct xr_conn *c);
/* After fork, in the child: lets go of copies without sending them. */
void xr_conn_fork_child(struct xr_conn *c);

/* Whether the record still needs its bytes (not passive). */
static inline bool xr_conn_active(const struct xr_conn *c)
{
  return !c->passive;
}

#endif /* XR_NET_CONN_H */
