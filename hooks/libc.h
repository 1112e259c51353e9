/*
 * The real libc functions behind the sockets layer's hooks. Until the
 * constructor has looked them up (glibc runs the program's own library
 * constructors first, and those may already do I/O), each entry is a
 * stand-in that makes the system call directly, so a hook never calls
 * dlsym: the loader allocates on a miss (preload-craft.md E7), and these
 * hooks may run in signal handlers and vfork children.
 * Contract: xr_libc_init runs once, from the constructor; every entry is
 * callable at any time from any context.
 */
#ifndef XR_LIBC_H
#define XR_LIBC_H

#include "../src/xr_setup.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct xr_libc {
  int (*connect)(int, const struct sockaddr *, socklen_t);
  int (*accept)(int, struct sockaddr *, socklen_t *);
  int (*accept4)(int, struct sockaddr *, socklen_t *, int);
  ssize_t (*send)(int, const void *, size_t, int);
  ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
  ssize_t (*sendmsg)(int, const struct msghdr *, int);
  ssize_t (*write)(int, const void *, size_t);
  ssize_t (*writev)(int, const struct iovec *, int);
  ssize_t (*recv)(int, void *, size_t, int);
  ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
  ssize_t (*recvmsg)(int, struct msghdr *, int);
  ssize_t (*read)(int, void *, size_t);
  ssize_t (*readv)(int, const struct iovec *, int);
#ifdef __GLIBC__ /* _FORTIFY_SOURCE entry points: glibc only */
  ssize_t (*read_chk)(int, void *, size_t, size_t);
  ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
  ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int, struct sockaddr *,
                          socklen_t *);
#endif
  int (*close)(int);
  int (*close_range)(unsigned, unsigned, int);
#ifdef __GLIBC__
  void (*closefrom)(int);
#endif
  int (*dup)(int);
  int (*dup2)(int, int);
  int (*dup3)(int, int, int);
  int (*fcntl)(int, int, ...);
#ifdef __GLIBC__
  int (*fcntl64)(int, int, ...);
#endif
  int (*getsockopt)(int, int, int, void *, socklen_t *);
  ssize_t (*sendfile)(int, int, off_t *, size_t);
  int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                     struct addrinfo **);
};

/* Hidden: every hook reaches the real function with one rip-relative
 * indirect jump, not through a GOT entry. */
extern struct xr_libc xr_libc __attribute__((visibility("hidden")));

void xr_libc_init(void);

/* getaddrinfo has no system call to stand in: looked up on first use. */
int xr_libc_getaddrinfo(const char *node, const char *service,
                        const struct addrinfo *hints, struct addrinfo **res);

#endif /* XR_LIBC_H */
