/*
 * The library's own HTTP/1.1 requests (the daemon's sampling proxy,
 * container and instance metadata): one request per connection
 * ("Connection: close"), over raw system calls that no interposer sees
 * (ours included), bounded by one deadline for connect, send and receive.
 * Responses with Content-Length, chunked, or delimited by the close are
 * read; anything else is -EPROTO.
 * Contract: blocks up to timeout_ms, so only on the library's own threads,
 * never inside a hooked call; allocates (the response body); thread-safe;
 * not for signal handlers or vfork children. The peer is not trusted: every
 * size is bounded, every wait times out.
 * The host's descriptors: the socket is CLOEXEC, closed on every path, and
 * each system call on it first checks that the number still names it (the
 * host may close every descriptor it did not open and reuse the number):
 * a request whose socket was taken fails with -EBADF without touching the
 * host's descriptor (http_client.c).
 */
#ifndef XR_HTTP_CLIENT_H
#define XR_HTTP_CLIENT_H

#include "xr_setup.h"

#include <sys/socket.h>

#include "config.h"

struct xr_http_request {
  const char *method;  /* "GET", "PUT", "POST" */
  const char *path;    /* from '/', query allowed */
  const char *headers; /* extra "Name: value\r\n" lines, or NULL */
  const char *body;    /* NULL: none (no Content-Length for GET) */
  size_t body_len;
};

struct xr_http_response {
  int status;     /* 100..599 */
  char *body;     /* malloc'ed, NUL-terminated (never NULL on success); free() it */
  size_t body_len;
};

/* Requests at most this much body unless told less. */
#define XR_HTTP_BODY_MAX (1u << 20)

/*
 * Resolves ep (an IPv4/IPv6 literal, or a name through getaddrinfo, which
 * may block: own threads only) into *ss. 0, -EINVAL, or -EHOSTUNREACH when
 * the name does not resolve.
 */
int xr_http_resolve(const struct xr_endpoint *ep, struct sockaddr_storage *ss,
                    socklen_t *sslen) XR_WUR;

/*
 * Sends rq to the address (Host header: host_header, e.g. "169.254.170.2"
 * or "127.0.0.1:2000") and reads the response, at most max_body body bytes
 * (0: XR_HTTP_BODY_MAX). Returns 0 with *out filled for any status,
 * -ETIMEDOUT when the deadline passes, a negative errno of socket/connect
 * (-ECONNREFUSED ...), -EPROTO for a malformed response, -EMSGSIZE when the
 * body or the head is too long, -ENOMEM. out is zeroed on failure.
 */
int xr_http_fetch(const struct sockaddr *addr, socklen_t addrlen,
                  const char *host_header, const struct xr_http_request *rq,
                  int timeout_ms, size_t max_body,
                  struct xr_http_response *out) XR_WUR;

void xr_http_response_free(struct xr_http_response *r);

/* Fork child handler (one thread, async-signal-safe): closes the sockets
 * of the requests that were in flight on other threads at the fork, so
 * that the child does not keep them open for its whole life. */
void xr_http_fork_child(void);

#endif /* XR_HTTP_CLIENT_H */
