#include "../src/xr_setup.h"

#include "libc.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The stand-ins: raw system calls with libc's signatures. */
static int xr_sys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
  return (int)syscall(SYS_connect, fd, sa, len);
}

static int xr_sys_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
  return (int)syscall(SYS_accept4, fd, sa, len, flags);
}

static int xr_sys_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
  return xr_sys_accept4(fd, sa, len, 0);
}

static ssize_t xr_sys_sendto(int fd, const void *buf, size_t len, int flags,
                             const struct sockaddr *sa, socklen_t salen)
{
  return syscall(SYS_sendto, fd, buf, len, flags, sa, salen);
}

static ssize_t xr_sys_send(int fd, const void *buf, size_t len, int flags)
{
  return xr_sys_sendto(fd, buf, len, flags, NULL, 0);
}

static ssize_t xr_sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
  return syscall(SYS_sendmsg, fd, m, flags);
}

static ssize_t xr_sys_write(int fd, const void *buf, size_t len)
{
  return syscall(SYS_write, fd, buf, len);
}

static ssize_t xr_sys_writev(int fd, const struct iovec *iov, int n)
{
  return syscall(SYS_writev, fd, iov, n);
}

static ssize_t xr_sys_recvfrom(int fd, void *buf, size_t len, int flags,
                               struct sockaddr *sa, socklen_t *salen)
{
  return syscall(SYS_recvfrom, fd, buf, len, flags, sa, salen);
}

static ssize_t xr_sys_recv(int fd, void *buf, size_t len, int flags)
{
  return xr_sys_recvfrom(fd, buf, len, flags, NULL, NULL);
}

static ssize_t xr_sys_recvmsg(int fd, struct msghdr *m, int flags)
{
  return syscall(SYS_recvmsg, fd, m, flags);
}

static ssize_t xr_sys_read(int fd, void *buf, size_t len)
{
  return syscall(SYS_read, fd, buf, len);
}

static ssize_t xr_sys_readv(int fd, const struct iovec *iov, int n)
{
  return syscall(SYS_readv, fd, iov, n);
}

#ifdef __GLIBC__
static ssize_t xr_sys_read_chk(int fd, void *buf, size_t len, size_t buflen)
{
  (void)buflen;
  return xr_sys_read(fd, buf, len);
}

static ssize_t xr_sys_recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
  (void)buflen;
  return xr_sys_recv(fd, buf, len, flags);
}

static ssize_t xr_sys_recvfrom_chk(int fd, void *buf, size_t len, size_t buflen,
                                   int flags, struct sockaddr *sa, socklen_t *salen)
{
  (void)buflen;
  return xr_sys_recvfrom(fd, buf, len, flags, sa, salen);
}
#endif

static int xr_sys_close(int fd)
{
  return (int)syscall(SYS_close, fd);
}

static int xr_sys_close_range(unsigned first, unsigned last, int flags)
{
#ifdef SYS_close_range
  return (int)syscall(SYS_close_range, first, last, flags);
#else
  (void)first, (void)last, (void)flags;
  errno = ENOSYS;
  return -1;
#endif
}

#ifdef __GLIBC__
/* Before glibc 2.34 no program links closefrom, but one may find ours with
 * dlsym: close_range, else one close per possible number, as glibc does
 * without /proc. */
static void xr_sys_closefrom(int lowfd)
{
  long n = sysconf(_SC_OPEN_MAX), fd;

  if (lowfd < 0)
    lowfd = 0;
  if (xr_sys_close_range((unsigned)lowfd, ~0U, 0) == 0)
    return;
  for (fd = lowfd; fd < n; fd++)
    (void)syscall(SYS_close, (int)fd);
}
#endif

static int xr_sys_dup(int old)
{
  return (int)syscall(SYS_dup, old);
}

static int xr_sys_fcntl(int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start(ap, cmd);
  arg = va_arg(ap, void *);
  va_end(ap);
  return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

static int xr_sys_dup3(int old, int new, int flags)
{
  return (int)syscall(SYS_dup3, old, new, flags);
}

static int xr_sys_dup2(int old, int new)
{
  /* dup3 refuses old == new; dup2 then only checks old is open. */
  if (old == new)
    return syscall(SYS_fcntl, old, F_GETFD) < 0 ? -1 : new;
  return xr_sys_dup3(old, new, 0);
}

static int xr_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
  return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static ssize_t xr_sys_sendfile(int out, int in, off_t *off, size_t count)
{
  return syscall(SYS_sendfile, out, in, off, count);
}

struct xr_libc xr_libc = {
    .connect = xr_sys_connect,
    .accept = xr_sys_accept,
    .accept4 = xr_sys_accept4,
    .send = xr_sys_send,
    .sendto = xr_sys_sendto,
    .sendmsg = xr_sys_sendmsg,
    .write = xr_sys_write,
    .writev = xr_sys_writev,
    .recv = xr_sys_recv,
    .recvfrom = xr_sys_recvfrom,
    .recvmsg = xr_sys_recvmsg,
    .read = xr_sys_read,
    .readv = xr_sys_readv,
#ifdef __GLIBC__
    .read_chk = xr_sys_read_chk,
    .recv_chk = xr_sys_recv_chk,
    .recvfrom_chk = xr_sys_recvfrom_chk,
#endif
    .close = xr_sys_close,
    .close_range = xr_sys_close_range,
#ifdef __GLIBC__
    .closefrom = xr_sys_closefrom,
#endif
    .dup = xr_sys_dup,
    .dup2 = xr_sys_dup2,
    .dup3 = xr_sys_dup3,
    .fcntl = xr_sys_fcntl,
#ifdef __GLIBC__
    .fcntl64 = xr_sys_fcntl,
#endif
    .getsockopt = xr_sys_getsockopt,
    .sendfile = xr_sys_sendfile,
    .getaddrinfo = NULL,
};

/* Keeps the stand-in when libc lacks the name (close_range before 2.34). */
#define XR_LOOKUP(field, name)                                                 \
  do {                                                                         \
    void *p_ = dlsym(RTLD_NEXT, name);                                         \
    if (p_)                                                                    \
      *(void **)&xr_libc.field = p_;                                           \
  } while (0)

void xr_libc_init(void)
{
  XR_LOOKUP(connect, "connect");
  XR_LOOKUP(accept, "accept");
  XR_LOOKUP(accept4, "accept4");
  XR_LOOKUP(send, "send");
  XR_LOOKUP(sendto, "sendto");
  XR_LOOKUP(sendmsg, "sendmsg");
  XR_LOOKUP(write, "write");
  XR_LOOKUP(writev, "writev");
  XR_LOOKUP(recv, "recv");
  XR_LOOKUP(recvfrom, "recvfrom");
  XR_LOOKUP(recvmsg, "recvmsg");
  XR_LOOKUP(read, "read");
  XR_LOOKUP(readv, "readv");
#ifdef __GLIBC__
  XR_LOOKUP(read_chk, "__read_chk");
  XR_LOOKUP(recv_chk, "__recv_chk");
  XR_LOOKUP(recvfrom_chk, "__recvfrom_chk");
#endif
  XR_LOOKUP(close, "close");
  XR_LOOKUP(close_range, "close_range");
#ifdef __GLIBC__
  XR_LOOKUP(closefrom, "closefrom");
#endif
  XR_LOOKUP(dup, "dup");
  XR_LOOKUP(dup2, "dup2");
  XR_LOOKUP(dup3, "dup3");
  XR_LOOKUP(fcntl, "fcntl");
#ifdef __GLIBC__
  XR_LOOKUP(fcntl64, "fcntl64");
#endif
  XR_LOOKUP(getsockopt, "getsockopt");
  XR_LOOKUP(sendfile, "sendfile");
  /* getaddrinfo: on its first call (xr_libc_getaddrinfo), not here: most
   * processes never call it, and a dlsym costs ~850 instructions of every
   * process's start-up. */
}

int xr_libc_getaddrinfo(const char *node, const char *service,
                        const struct addrinfo *hints, struct addrinfo **res)
{
  /* getaddrinfo is no async-signal-safe function and allocates itself
   * (NSS), so a dlsym here adds nothing a caller could not already meet:
   * the loader lock it takes is one getaddrinfo's own NSS dlopen takes too.
   * Racing first calls store the same pointer. */
  __typeof__(xr_libc.getaddrinfo) f = __atomic_load_n(&xr_libc.getaddrinfo, __ATOMIC_ACQUIRE);

  if (!f) {
    void *p = dlsym(RTLD_NEXT, "getaddrinfo");
    if (!p)
      return EAI_SYSTEM;
    *(void **)&f = p;
    __atomic_store_n(&xr_libc.getaddrinfo, f, __ATOMIC_RELEASE);
  }
  return f(node, service, hints, res);
}
