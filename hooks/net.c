/*
 * Exported socket and descriptor hooks. Each makes the real call first and
 * returns exactly its result with its errno. For a descriptor the sockets
 * layer does not follow (almost every call of almost every program) the
 * only added work is xr_fd_watched: one table load. The rest (which
 * connections to follow, what their bytes mean) is in net_glue.c and
 * src/net_*.c.
 * Contract: the pass-through path of every hook here is async-signal-safe
 * and safe in a vfork child.
 */
#include "../src/xr_setup.h"

#include "libc.h"
#include "net_glue.h"

#include "../src/net_fd.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <unistd.h>

/* glibc's _FORTIFY_SOURCE entry points, and fcntl64 (glibc 2.28), have
 * no public prototypes here. */
int fcntl64(int fd, int cmd, ...);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *sa, socklen_t *salen);

/* The followed-descriptor paths live out of line, so that the hooks'
 * common path keeps no stack frame of its own (no iovec, no canary). */
__attribute__((noinline, cold)) static void xr_out1(int fd, const void *buf, size_t len,
                                                    ssize_t n)
{
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  xr_net_out(fd, &iov, 1, n);
}

__attribute__((noinline, cold)) static void xr_in1(int fd, const void *buf, size_t len,
                                                   ssize_t n, int flags)
{
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  xr_net_in(fd, &iov, 1, n, flags);
}

XR_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
  return xr_net_connect(fd, sa, len, __builtin_return_address(0));
}

XR_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
  int r = xr_libc.accept(fd, sa, len);
  if (r >= 0)
    xr_net_accepted(r, sa, len);
  return r;
}

XR_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
  int r = xr_libc.accept4(fd, sa, len, flags);
  if (r >= 0)
    xr_net_accepted(r, sa, len);
  return r;
}

/* ---- bytes out ------------------------------------------------------- */

XR_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
  ssize_t n = xr_libc.send(fd, buf, len, flags);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_out1(fd, buf, len, n);
  return n;
}

XR_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *sa, socklen_t salen)
{
  ssize_t n = xr_libc.sendto(fd, buf, len, flags, sa, salen);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_out1(fd, buf, len, n);
  return n;
}

XR_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
  ssize_t n = xr_libc.sendmsg(fd, m, flags);
  if (XR_UNLIKELY(xr_fd_watched(fd)) && m)
    xr_net_out(fd, m->msg_iov, (int)m->msg_iovlen, n);
  return n;
}

XR_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
  ssize_t n = xr_libc.write(fd, buf, len);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_out1(fd, buf, len, n);
  return n;
}

XR_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
  ssize_t n = xr_libc.writev(fd, iov, cnt);
  if (XR_UNLIKELY(xr_fd_watched(fd)))
    xr_net_out(fd, iov, cnt, n);
  return n;
}

static ssize_t xr_sendfile(int out, int in, off_t *off, size_t count)
{
  ssize_t n = xr_libc.sendfile(out, in, off, count);
  if (XR_UNLIKELY(xr_fd_watched(out)))
    xr_net_out_opaque(out, n);
  return n;
}

XR_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
  return xr_sendfile(out, in, off, count);
}

/* The same function on LP64 (glibc aliases them). */
XR_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
  return xr_sendfile(out, in, off, count);
}

/* ---- bytes in -------------------------------------------------------- */

XR_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
  ssize_t n = xr_libc.recv(fd, buf, len, flags);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, flags);
  return n;
}

XR_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                           struct sockaddr *sa, socklen_t *salen)
{
  ssize_t n = xr_libc.recvfrom(fd, buf, len, flags, sa, salen);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, flags);
  return n;
}

XR_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
  ssize_t n = xr_libc.recvmsg(fd, m, flags);
  if (XR_UNLIKELY(xr_fd_watched(fd)) && m)
    xr_net_in(fd, m->msg_iov, (int)m->msg_iovlen, n, flags);
  return n;
}

XR_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
  ssize_t n = xr_libc.read(fd, buf, len);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, 0);
  return n;
}

XR_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
  ssize_t n = xr_libc.readv(fd, iov, cnt);
  if (XR_UNLIKELY(xr_fd_watched(fd)))
    xr_net_in(fd, iov, cnt, n, 0);
  return n;
}

/* _FORTIFY_SOURCE builds call these instead of read/recv/recvfrom. */
XR_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
  ssize_t n = xr_libc.read_chk(fd, buf, len, buflen);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, 0);
  return n;
}

XR_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
  ssize_t n = xr_libc.recv_chk(fd, buf, len, buflen, flags);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, flags);
  return n;
}

XR_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
                                 int flags, struct sockaddr *sa, socklen_t *salen)
{
  ssize_t n = xr_libc.recvfrom_chk(fd, buf, len, buflen, flags, sa, salen);
  if (XR_UNLIKELY(xr_fd_watched(fd))) 
    xr_in1(fd, buf, len, n, flags);
  return n;
}

/* ---- descriptors ending ---------------------------------------------- */

XR_EXPORT int close(int fd)
{
  if (XR_UNLIKELY(xr_fd_watched(fd)))
    xr_net_closing(fd);
  return xr_libc.close(fd);
}

/* ---- descriptors copied (the socket lives on under another number) --- */

XR_EXPORT int dup(int old)
{
  int r = xr_libc.dup(old);
  if (XR_UNLIKELY(xr_fd_watched(old)))
    xr_net_dup(old, r);
  return r;
}

XR_EXPORT int dup2(int old, int new)
{
  int r;

  if (XR_UNLIKELY(xr_fd_watched(new)) && old != new)
    xr_net_closing(new);
  r = xr_libc.dup2(old, new);
  if (XR_UNLIKELY(xr_fd_watched(old)) && old != new)
    xr_net_dup(old, r);
  return r;
}

XR_EXPORT int dup3(int old, int new, int flags)
{
  int r;

  if (XR_UNLIKELY(xr_fd_watched(new)) && old != new)
    xr_net_closing(new);
  r = xr_libc.dup3(old, new, flags);
  if (XR_UNLIKELY(xr_fd_watched(old)))
    xr_net_dup(old, r);
  return r;
}

/* fcntl's third argument is an int or a pointer, or absent, depending on
 * cmd; glibc itself forwards it as one void * (LP64 passes both alike). */
static int xr_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
  int r = real(fd, cmd, arg);
  if (XR_UNLIKELY(xr_fd_watched(fd)) && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
    xr_net_dup(fd, r);
  return r;
}

XR_EXPORT int fcntl(int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start(ap, cmd);
  arg = va_arg(ap, void *);
  va_end(ap);
  return xr_fcntl(xr_libc.fcntl, fd, cmd, arg);
}

XR_EXPORT int fcntl64(int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start(ap, cmd);
  arg = va_arg(ap, void *);
  va_end(ap);
  return xr_fcntl(xr_libc.fcntl64, fd, cmd, arg);
}

XR_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
  xr_net_closing_range(first, last, flags);
  return xr_libc.close_range(first, last, flags);
}

/* ---- connection state ------------------------------------------------ */

XR_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
  int r = xr_libc.getsockopt(fd, level, name, val, len);
  if (XR_UNLIKELY(xr_fd_watched(fd)) && r == 0)
    xr_net_sockopt(fd, level, name, val, len);
  return r;
}

XR_EXPORT int getaddrinfo(const char *node, const char *service,
                          const struct addrinfo *hints, struct addrinfo **res)
{
  int r = xr_libc_getaddrinfo(node, service, hints, res);
  if (r == 0)
    xr_net_resolved(node, *res);
  return r;
}
