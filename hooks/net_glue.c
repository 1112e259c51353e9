#include "../src/xr_setup.h"

#include "net_glue.h"

#include "guard.h"
#include "libc.h"

#include "../src/clock.h"
#include "../src/lambda.h"
#include "../src/net_conn.h"
#include "../src/net_fail.h"
#include "../src/net_fd.h"
#include "../src/net_names.h"
#include "../src/tracer.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The process the records belong to. A vfork child (posix_spawn, Python's
 * subprocess) runs our hooks on our memory with descriptors of its own: it
 * must change nothing. */
static pid_t xr_net_pid;

static bool xr_net_ok(void)
{
  return xr_depth == 0 && xr_ready(XR_HOOK_NET) &&
         (pid_t)syscall(SYS_getpid) == xr_net_pid;
}

/* The Lambda Runtime API connection is read at any depth (libcurl's own
 * calls inside curl_easy_perform) and whatever XRAY_AUTO_HOOKS says: it
 * carries the invocation context. Reading it only parses and copies. */
static bool xr_runtime_ok(void)
{
  return atomic_load_explicit(&xr_state, memory_order_acquire) == XR_STATE_READY &&
         xr_tracer_config()->lambda_api.port &&
         (pid_t)syscall(SYS_getpid) == xr_net_pid;
}

/* Errors that end a connection (the rest, EAGAIN or EINTR among them, say
 * nothing about it). */
static bool xr_conn_errno(int err)
{
  switch (err) {
  case ECONNREFUSED:
  case ECONNRESET:
  case ECONNABORTED:
  case EPIPE:
  case ETIMEDOUT:
  case EHOSTUNREACH:
  case ENETUNREACH:
  case ENETDOWN:
  case EHOSTDOWN:
    return true;
  default:
    return false;
  }
}

static bool xr_connect_errno(int err)
{
  return err == ECONNREFUSED || err == ETIMEDOUT || err == EHOSTUNREACH ||
         err == ENETUNREACH;
}

/* Lets go of a record: a passive one gives its slot back. */
static void xr_net_leave(struct xr_conn *c, int fd)
{
  if (c->passive)
    xr_fd_release(c, fd);
  else
    xr_fd_leave(c);
}

/* A record reached through fd: the descriptor the program uses now (the
 * one it was created for may be closed, the socket living on as a dup). */
static struct xr_conn *xr_net_enter(int fd)
{
  struct xr_conn *c = xr_fd_enter(fd);

  if (c)
    c->fd = fd;
  return c;
}

static bool xr_inet(const struct sockaddr *sa, socklen_t len)
{
  return sa && ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
                (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)));
}

/* A TCP connection the program makes itself to something we may trace. */
static bool xr_client_candidate(int fd, const struct sockaddr *sa, socklen_t len)
{
  int type = 0;
  socklen_t tlen = sizeof(type);
  char host[XR_ADDR_MAX];
  uint16_t port;

  if (!xr_inet(sa, len))
    return false;
  if (xr_libc.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
      type != SOCK_STREAM)
    return false;
  xr_sockaddr_text(sa, host, &port);
  return !xr_tracer_excluded(host, (int)port);
}

/* A connection, by anyone, to the Lambda Runtime API. */
static bool xr_runtime_candidate(const struct sockaddr *sa, socklen_t len)
{
  char addr[XR_ADDR_MAX], name[XR_HP_HOST_MAX];
  struct xr_name_hit hit;
  uint16_t port;

  if (!xr_inet(sa, len))
    return false;
  xr_sockaddr_text(sa, addr, &port);
  if (port != xr_tracer_config()->lambda_api.port || !xr_runtime_ok())
    return false;
  name[0] = '\0';
  (void)xr_names_find(sa, name, sizeof(name), &hit);
  return xr_lambda_is_api(&xr_tracer_config()->lambda_api, addr, name, port);
}

static void xr_report_connect_failure(const struct sockaddr *sa, int err,
                                      int64_t start_us)
{
  struct xr_connect_failure f;
  char name[XR_HP_HOST_MAX], addr[XR_ADDR_MAX];
  uint16_t port;

  memset(&f, 0, sizeof(f));
  (void)xr_names_find(sa, name, sizeof(name), &f.hit);
  xr_sockaddr_text(sa, addr, &port);
  f.name = name;
  f.addr = addr;
  f.port = port;
  f.err = err;
  f.start_us = start_us;
  xr_net_connect_failed(&f);
}

/* Whether the code at ra belongs to a client library whose calls the
 * library-level hooks trace: libcurl drives its transfers from functions
 * we do not hook (curl_multi_perform, curl_multi_socket_action), so the
 * depth guard alone would let its sockets be traced twice. dladdr does not
 * allocate (preload-craft.md E7). */
static bool xr_library_connect(const void *ra)
{
  static const struct {
    const char *prefix;
    unsigned family;
  } libs[] = {
      {"libcurl", XR_HOOK_CURL},
      {"libpq.so", XR_HOOK_PQ},
      {"libmariadb", XR_HOOK_MYSQL},
      {"libmysqlclient", XR_HOOK_MYSQL},
  };
  Dl_info info;
  const char *base;
  size_t i;

  if (!ra || !dladdr(ra, &info) || !info.dli_fname)
    return false;
  base = strrchr(info.dli_fname, '/');
  base = base ? base + 1 : info.dli_fname;
  for (i = 0; i < XR_ARRAY_SIZE(libs); i++)
    if (strncmp(base, libs[i].prefix, strlen(libs[i].prefix)) == 0)
      return (xr_hooks_enabled & libs[i].family) != 0;
  return false;
}

int xr_net_connect(int fd, const struct sockaddr *sa, socklen_t len, const void *ra)
{
  bool candidate, runtime = false;
  int64_t start = 0;
  int r, err, saved = errno;

  /* A record left by a close we did not see (fclose) must not describe
   * the new connection, whoever makes it. */
  if (XR_UNLIKELY(xr_fd_watched(fd)))
    xr_net_closing(fd);
  /* xr_net_ok: a vfork child's connect must not attach a record to our
   * table (it would replace the parent's record of that number). */
  candidate = xr_net_ok() && xr_client_candidate(fd, sa, len) && !xr_library_connect(ra);
  if (!candidate && XR_UNLIKELY(xr_tracer_config()->lambda_api.port)) {
    xr_depth++;
    runtime = xr_runtime_candidate(sa, len);
    xr_depth--;
  }
  if (candidate) {
    struct xr_name_hit hit;
    char name[8];

    xr_depth++;
    (void)xr_names_find(sa, name, sizeof(name), &hit);
    xr_net_connect_attempt(&hit);
    xr_depth--;
    start = xr_now_us();
  }
  /* The real call sees (and on success leaves) the caller's errno. */
  errno = saved;
  r = xr_libc.connect(fd, sa, len);
  if (!candidate && !runtime)
    return r;
  err = errno;
  xr_depth++;
  if (runtime) {
    if (r == 0 || err == EINPROGRESS || err == EINTR) {
      struct xr_conn *c = xr_fd_attach(fd);
      if (c) {
        xr_conn_runtime_init(c, sa);
        xr_fd_leave(c);
      }
    }
    goto out;
  }
  if (r == 0 || err == EINPROGRESS || err == EINTR) {
    struct xr_conn *c = xr_fd_attach(fd);
    if (c) {
      xr_conn_client_init(c, sa, r != 0, start);
      xr_fd_leave(c);
    }
  } else if (xr_connect_errno(err)) {
    xr_report_connect_failure(sa, err, start);
  }
out:
  xr_depth--;
  errno = err;
  return r;
}

void xr_net_accepted(int fd, const struct sockaddr *sa, const socklen_t *len)
{
  struct sockaddr_storage ss;
  socklen_t sslen = sizeof(ss);
  struct xr_conn *c;
  int saved = errno;

  if (XR_UNLIKELY(xr_fd_watched(fd)))
    xr_net_closing(fd); /* see xr_net_connect */
  if (!xr_net_ok())
    goto out;
  if (!sa || !len || !xr_inet(sa, *len)) {
    /* accept(fd, NULL, NULL) is common: ask the kernel. */
    if (getpeername(fd, (struct sockaddr *)&ss, &sslen) < 0 ||
        !xr_inet((struct sockaddr *)&ss, sslen))
      goto out;
    sa = (struct sockaddr *)&ss;
  }
  xr_depth++;
  c = xr_fd_attach(fd);
  if (c) {
    xr_conn_server_init(c, sa);
    xr_fd_leave(c);
  }
  xr_depth--;
out:
  errno = saved;
}

/* A byte-carrying call on followed fd returned n: bytes of iov went out
 * (out) or came in. */
static void xr_net_io(int fd, const struct iovec *iov, int cnt, ssize_t n, bool out,
                      int flags)
{
  int err = errno;
  struct xr_conn *c;
  size_t asked = 0;
  bool runtime_only = false;
  int i;

  /* Peeked bytes come again; a failure that says nothing is skipped. */
  if ((flags & MSG_PEEK) || (n < 0 && !xr_conn_errno(err)))
    goto out;
  if (!xr_net_ok()) {
    if (!xr_runtime_ok())
      goto out;
    runtime_only = true;
  }
  if (n == 0) {
    /* Only a read of something that returns nothing ends the stream. */
    for (i = 0; i < cnt && !asked; i++)
      asked += iov[i].iov_len;
    if (out || asked == 0)
      goto out;
  }
  if (!(c = xr_net_enter(fd)))
    goto out;
  if (runtime_only && c->role != XR_CONN_RUNTIME) {
    xr_fd_leave(c);
    goto out;
  }
  xr_depth++;
  if (n > 0)
    (out ? xr_conn_sent : xr_conn_received)(c, iov, cnt, (size_t)n);
  else if (n == 0)
    xr_conn_eof(c);
  else
    xr_conn_error(c, err);
  xr_depth--;
  xr_net_leave(c, fd);
out:
  errno = err;
}

void xr_net_out(int fd, const struct iovec *iov, int cnt, ssize_t n)
{
  xr_net_io(fd, iov, cnt, n, true, 0);
}

void xr_net_in(int fd, const struct iovec *iov, int cnt, ssize_t n, int flags)
{
  xr_net_io(fd, iov, cnt, n, false, flags);
}

void xr_net_out_opaque(int fd, ssize_t n)
{
  int err = errno;
  struct xr_conn *c;

  if (n <= 0 || !xr_net_ok() || !(c = xr_net_enter(fd)))
    goto out;
  xr_depth++;
  xr_conn_sent_opaque(c, (size_t)n);
  xr_depth--;
  xr_net_leave(c, fd);
out:
  errno = err;
}

void xr_net_closing(int fd)
{
  int err = errno;

  /* Not ready (inert) still detaches: the table must not outlive the
   * descriptor. Only a vfork child keeps its hands off. */
  if ((pid_t)syscall(SYS_getpid) != xr_net_pid)
    return;
  xr_depth++;
  xr_fd_detach(fd);
  xr_depth--;
  errno = err;
}

void xr_net_dup(int old, int new)
{
  int err = errno;

  if (new < 0 || (pid_t)syscall(SYS_getpid) != xr_net_pid)
    return;
  xr_depth++;
  xr_fd_dup(old, new);
  xr_depth--;
  errno = err;
}

void xr_net_closing_range(unsigned first, unsigned last, int flags)
{
  unsigned fd;

  if (flags & CLOSE_RANGE_CLOEXEC)
    return;
  for (fd = first; fd <= last && fd < XR_FD_MAX; fd++)
    if (XR_UNLIKELY(xr_fd_watched((int)fd)))
      xr_net_closing((int)fd);
}

void xr_net_sockopt(int fd, int level, int name, const void *val, const socklen_t *len)
{
  int err = errno, so_error;
  struct xr_conn *c;

  if (level != SOL_SOCKET || name != SO_ERROR || !val || !len ||
      *len < (socklen_t)sizeof(int) || !xr_net_ok())
    goto out;
  memcpy(&so_error, val, sizeof(so_error));
  if (so_error != 0 && !xr_connect_errno(so_error))
    goto out;
  if (!(c = xr_net_enter(fd)))
    goto out;
  xr_depth++;
  xr_conn_so_error(c, so_error);
  xr_depth--;
  xr_net_leave(c, fd);
out:
  errno = err;
}

void xr_net_resolved(const char *node, const struct addrinfo *res)
{
  int err = errno;

  if (xr_depth != 0 || !xr_ready(XR_HOOK_NET))
    return;
  xr_depth++;
  xr_net_fail_flush();
  xr_names_remember(node, res);
  xr_depth--;
  errno = err;
}

void xr_net_init(void)
{
  xr_net_pid = (pid_t)syscall(SYS_getpid);
  xr_libc_init();
}

void xr_net_fork_child(void)
{
  xr_net_pid = (pid_t)syscall(SYS_getpid);
  xr_fd_fork_child();
  xr_net_fail_fork_child();
}

void xr_net_exit(void)
{
  xr_net_fail_flush();
}
