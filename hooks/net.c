/*
 * Exported socket and descriptor hooks. Each returns exactly the real
 * call's result with its errno. For a descriptor the sockets layer does not
 * follow (almost every call of almost every program) the only added work
 * is xr_fd_maybe_watched: one table load before a tail call (6 instructions
 * in all, issue 7). The rest (which
 * connections to follow, what their bytes mean) is in net_glue.c and
 * src/net_*.c.
 * Contract: the pass-through path of every hook here is async-signal-safe
 * and safe in a vfork child.
 */
#include "../src/xr_setup.h"

#include "libc.h"
#include "net_glue.h"

#include "../src/emitter.h"
#include "../src/net_fd.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <unistd.h>

#ifdef __GLIBC__
/* glibc's _FORTIFY_SOURCE entry points, and fcntl64 (glibc 2.28), have
 * no public prototypes here. musl has none of them (fortified musl builds
 * check in inline header code) and spells sendfile64 as a macro for
 * sendfile: the musl build exports none of these (cmake/musl.cmake). */
int fcntl64(int fd, int cmd, ...);
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *sa, socklen_t *salen);
#else
/* musl does not declare the system call's wrapper (Linux 5.9). */
int close_range(unsigned first, unsigned last, int flags);
void closefrom(int lowfd);
#endif

/*
 * Every byte-carrying hook asks first whether the descriptor is followed;
 * if not (almost always), it tail-calls the real function: no frame, no
 * saved registers, one table load (the descriptor masked into the table,
 * no range test: an out-of-range one may read a followed entry, and the
 * out-of-line path, which checks the range again, then passes it through
 * as well). Only connect and accept make a
 * descriptor followed, and they create it, so asking before the call
 * cannot miss one. The followed path, out of line, makes the real call and
 * hands the result over.
 */
#define XR_COLD __attribute__((noinline, cold))

XR_COLD static ssize_t xr_out1(ssize_t n, int fd, const void *buf, size_t len)
{
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  xr_net_out(fd, &iov, 1, n);
  return n;
}

XR_COLD static ssize_t xr_in1(ssize_t n, int fd, const void *buf, size_t len, int flags)
{
  struct iovec iov = {(void *)(uintptr_t)buf, len};
  xr_net_in(fd, &iov, 1, n, flags);
  return n;
}

XR_COLD static ssize_t xr_send_w(int fd, const void *buf, size_t len, int flags)
{
  return xr_out1(xr_libc.send(fd, buf, len, flags), fd, buf, len);
}

XR_COLD static ssize_t xr_sendto_w(int fd, const void *buf, size_t len, int flags,
                                   const struct sockaddr *sa, socklen_t salen)
{
  return xr_out1(xr_libc.sendto(fd, buf, len, flags, sa, salen), fd, buf, len);
}

XR_COLD static ssize_t xr_sendmsg_w(int fd, const struct msghdr *m, int flags)
{
  ssize_t n = xr_libc.sendmsg(fd, m, flags);
  if (m)
    xr_net_out(fd, m->msg_iov, (int)m->msg_iovlen, n);
  return n;
}

XR_COLD static ssize_t xr_write_w(int fd, const void *buf, size_t len)
{
  return xr_out1(xr_libc.write(fd, buf, len), fd, buf, len);
}

XR_COLD static ssize_t xr_writev_w(int fd, const struct iovec *iov, int cnt)
{
  ssize_t n = xr_libc.writev(fd, iov, cnt);
  xr_net_out(fd, iov, cnt, n);
  return n;
}

XR_COLD static ssize_t xr_sendfile_w(int out, int in, off_t *off, size_t count)
{
  ssize_t n = xr_libc.sendfile(out, in, off, count);
  xr_net_out_opaque(out, n);
  return n;
}

XR_COLD static ssize_t xr_recv_w(int fd, void *buf, size_t len, int flags)
{
  return xr_in1(xr_libc.recv(fd, buf, len, flags), fd, buf, len, flags);
}

XR_COLD static ssize_t xr_recvfrom_w(int fd, void *buf, size_t len, int flags,
                                     struct sockaddr *sa, socklen_t *salen)
{
  return xr_in1(xr_libc.recvfrom(fd, buf, len, flags, sa, salen), fd, buf, len, flags);
}

XR_COLD static ssize_t xr_recvmsg_w(int fd, struct msghdr *m, int flags)
{
  ssize_t n = xr_libc.recvmsg(fd, m, flags);
  if (m)
    xr_net_in(fd, m->msg_iov, (int)m->msg_iovlen, n, flags);
  return n;
}

XR_COLD static ssize_t xr_read_w(int fd, void *buf, size_t len)
{
  return xr_in1(xr_libc.read(fd, buf, len), fd, buf, len, 0);
}

XR_COLD static ssize_t xr_readv_w(int fd, const struct iovec *iov, int cnt)
{
  ssize_t n = xr_libc.readv(fd, iov, cnt);
  xr_net_in(fd, iov, cnt, n, 0);
  return n;
}

#ifdef __GLIBC__
XR_COLD static ssize_t xr_read_chk_w(int fd, void *buf, size_t len, size_t buflen)
{
  return xr_in1(xr_libc.read_chk(fd, buf, len, buflen), fd, buf, len, 0);
}

XR_COLD static ssize_t xr_recv_chk_w(int fd, void *buf, size_t len, size_t buflen,
                                     int flags)
{
  return xr_in1(xr_libc.recv_chk(fd, buf, len, buflen, flags), fd, buf, len, flags);
}

XR_COLD static ssize_t xr_recvfrom_chk_w(int fd, void *buf, size_t len, size_t buflen,
                                         int flags, struct sockaddr *sa, socklen_t *salen)
{
  return xr_in1(xr_libc.recvfrom_chk(fd, buf, len, buflen, flags, sa, salen), fd, buf,
                len, flags);
}
#endif

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
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.send(fd, buf, len, flags);
  return xr_send_w(fd, buf, len, flags);
}

XR_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *sa, socklen_t salen)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.sendto(fd, buf, len, flags, sa, salen);
  return xr_sendto_w(fd, buf, len, flags, sa, salen);
}

XR_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.sendmsg(fd, m, flags);
  return xr_sendmsg_w(fd, m, flags);
}

XR_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.write(fd, buf, len);
  return xr_write_w(fd, buf, len);
}

XR_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.writev(fd, iov, cnt);
  return xr_writev_w(fd, iov, cnt);
}

XR_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(out)))
    return xr_libc.sendfile(out, in, off, count);
  return xr_sendfile_w(out, in, off, count);
}

#ifdef __GLIBC__
/* The same function on LP64 (glibc aliases them). */
XR_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(out)))
    return xr_libc.sendfile(out, in, off, count);
  return xr_sendfile_w(out, in, off, count);
}
#endif

/* ---- bytes in -------------------------------------------------------- */

XR_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.recv(fd, buf, len, flags);
  return xr_recv_w(fd, buf, len, flags);
}

XR_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
                           struct sockaddr *sa, socklen_t *salen)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.recvfrom(fd, buf, len, flags, sa, salen);
  return xr_recvfrom_w(fd, buf, len, flags, sa, salen);
}

XR_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.recvmsg(fd, m, flags);
  return xr_recvmsg_w(fd, m, flags);
}

XR_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.read(fd, buf, len);
  return xr_read_w(fd, buf, len);
}

XR_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.readv(fd, iov, cnt);
  return xr_readv_w(fd, iov, cnt);
}

#ifdef __GLIBC__
/* _FORTIFY_SOURCE builds call these instead of read/recv/recvfrom. */
XR_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.read_chk(fd, buf, len, buflen);
  return xr_read_chk_w(fd, buf, len, buflen);
}

XR_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.recv_chk(fd, buf, len, buflen, flags);
  return xr_recv_chk_w(fd, buf, len, buflen, flags);
}

XR_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
                                 int flags, struct sockaddr *sa, socklen_t *salen)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.recvfrom_chk(fd, buf, len, buflen, flags, sa, salen);
  return xr_recvfrom_chk_w(fd, buf, len, buflen, flags, sa, salen);
}
#endif

/* ---- descriptors ending ---------------------------------------------- */

/*
 * A call that closes a descriptor may close the emitter's socket: a
 * program closing every number it did not open and reusing them for its
 * own connections. The emitter is told before the real call, so that no
 * datagram can go out on the number once the call frees it, and after it
 * (a socket the emitter created meanwhile, a failed call). Both checks are
 * one load on other numbers (emitter.h).
 */
XR_EXPORT int close(int fd)
{
  bool ours = xr_emitter_fd_is(fd);
  int r;

  if (XR_UNLIKELY(xr_fd_maybe_watched(fd)))
    xr_net_closing(fd);
  if (XR_UNLIKELY(ours))
    xr_emitter_closing(fd);
  r = xr_libc.close(fd);
  if (XR_UNLIKELY(ours || xr_emitter_fd_is(fd)))
    xr_emitter_closed(fd);
  return r;
}

/* ---- descriptors copied (the socket lives on under another number) --- */

XR_COLD static int xr_dup_w(int old)
{
  int r = xr_libc.dup(old);
  xr_net_dup(old, r);
  return r;
}

XR_EXPORT int dup(int old)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(old)))
    return xr_libc.dup(old);
  return xr_dup_w(old);
}

/* dup2 and dup3 close new first (see close). */
XR_EXPORT int dup2(int old, int new)
{
  bool ours = old != new && xr_emitter_fd_is(new);
  int r;

  if (XR_UNLIKELY(xr_fd_watched(new)) && old != new)
    xr_net_closing(new);
  if (XR_UNLIKELY(ours))
    xr_emitter_closing(new);
  r = xr_libc.dup2(old, new);
  if (XR_UNLIKELY(xr_fd_watched(old)) && old != new)
    xr_net_dup(old, r);
  if (XR_UNLIKELY(ours || (old != new && xr_emitter_fd_is(new))))
    xr_emitter_closed(new);
  return r;
}

XR_EXPORT int dup3(int old, int new, int flags)
{
  bool ours = old != new && xr_emitter_fd_is(new);
  int r;

  if (XR_UNLIKELY(xr_fd_watched(new)) && old != new)
    xr_net_closing(new);
  if (XR_UNLIKELY(ours))
    xr_emitter_closing(new);
  r = xr_libc.dup3(old, new, flags);
  if (XR_UNLIKELY(xr_fd_watched(old)))
    xr_net_dup(old, r);
  if (XR_UNLIKELY(ours || (old != new && xr_emitter_fd_is(new))))
    xr_emitter_closed(new);
  return r;
}

/* fcntl's third argument is an int or a pointer, or absent, depending on
 * cmd; glibc itself forwards it as one void * (LP64 passes both alike).
 * Programs call fcntl all the time (O_NONBLOCK): only a copy of a followed
 * descriptor does more than a tail call. */
XR_COLD static int xr_fcntl_dup(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
  int r = real(fd, cmd, arg);
  xr_net_dup(fd, r);
  return r;
}

static inline int xr_fcntl(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
  if (XR_LIKELY(cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) || !xr_fd_watched(fd))
    return real(fd, cmd, arg);
  return xr_fcntl_dup(real, fd, cmd, arg);
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

#ifdef __GLIBC__
XR_EXPORT int fcntl64(int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start(ap, cmd);
  arg = va_arg(ap, void *);
  va_end(ap);
  return xr_fcntl(xr_libc.fcntl64, fd, cmd, arg);
}
#endif

/* Around a real call closing [first, last] (see close); returns our
 * socket's number when it lies in the range. CLOSE_RANGE_CLOEXEC closes
 * nothing now (our socket is close-on-exec). */
static inline int xr_range_closing(unsigned first, unsigned last, int flags)
{
  int ours = flags & CLOSE_RANGE_CLOEXEC ? -1 : xr_emitter_fd_in(first, last);

  xr_net_closing_range(first, last, flags);
  if (XR_UNLIKELY(ours >= 0))
    xr_emitter_closing(ours);
  return ours;
}

static inline void xr_range_closed(unsigned first, unsigned last, int flags, int ours)
{
  int now;

  if (XR_UNLIKELY(ours >= 0))
    xr_emitter_closed(ours);
  if (XR_UNLIKELY(!(flags & CLOSE_RANGE_CLOEXEC) &&
                  (now = xr_emitter_fd_in(first, last)) >= 0 && now != ours))
    xr_emitter_closed(now);
}

XR_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
  int ours = xr_range_closing(first, last, flags), r;

  r = xr_libc.close_range(first, last, flags);
  xr_range_closed(first, last, flags, ours);
  return r;
}

#ifdef __GLIBC__
/* glibc's closefrom (2.34) calls close_range inside libc, past the hook
 * above: a program closing every descriptor it did not open this way would
 * otherwise leave our socket's number to the cookie check alone. */
XR_EXPORT void closefrom(int lowfd)
{
  unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
  int ours = xr_range_closing(first, ~0U, 0);

  xr_libc.closefrom(lowfd);
  xr_range_closed(first, ~0U, 0, ours);
}
#endif

/* ---- connection state ------------------------------------------------ */

XR_COLD static int xr_getsockopt_w(int fd, int level, int name, void *val,
                                   socklen_t *len)
{
  int r = xr_libc.getsockopt(fd, level, name, val, len);
  if (r == 0)
    xr_net_sockopt(fd, level, name, val, len);
  return r;
}

XR_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
  if (XR_LIKELY(!xr_fd_maybe_watched(fd)))
    return xr_libc.getsockopt(fd, level, name, val, len);
  return xr_getsockopt_w(fd, level, name, val, len);
}

XR_EXPORT int getaddrinfo(const char *node, const char *service,
                          const struct addrinfo *hints, struct addrinfo **res)
{
  int r = xr_libc_getaddrinfo(node, service, hints, res);
  if (r == 0)
    xr_net_resolved(node, *res);
  return r;
}
