/*
 * What the issue 6 programs fork_storm.c and soak.c share: their HTTP/1.1 peer, the
 * plain-socket client calls that make the traced requests, and the per-process counter
 * line. Header only (static functions), libc + pthreads; the C API is reached through a
 * weak reference, so that the programs run the same without the library.
 *
 * The peer (xr_it_serve, run without the preload) listens on 127.0.0.1, prints
 * "PORT <n>", and serves each connection on a thread of its own: every bodiless request
 * head is answered XR_IT_OK ("200", body "ok"); a head holding "Connection: close" is
 * answered XR_IT_OK_CLOSE and the server closes first (its side keeps the TIME_WAIT, so
 * that a client's connection churn never runs out of ports).
 *
 * Also the I/O of fd_hygiene.c and signals.c: writes and reads retried on EINTR, a connect
 * that completes one a signal interrupted, an HTTP head reader, and the registry of the
 * descriptor numbers a program opened itself (to find the ones it did not: the library's).
 * Those programs end with 1 and a reason on stderr at any error, so the helpers made for
 * them (xr_it_connect_or_die, xr_it_write_all, xr_it_read_head, xr_it_foreign_fds) do that
 * themselves (xr_it_die) instead of returning it.
 */
#ifndef XR_IT_COMMON_H
#define XR_IT_COMMON_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Weak references below: plain declarations, not the header-only wrappers. */
#ifndef XRAY_AUTO_NO_DLSYM
#define XRAY_AUTO_NO_DLSYM
#endif
#include "xray-auto.h"

#pragma weak xray_get_stats

static const char xr_it_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static const char xr_it_ok_close[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/* One connection of the peer; arg is the descriptor. */
static inline void *xr_it_serve_conn(void *arg)
{
  int c = (int)(intptr_t)arg;
  char buf[8192];
  size_t have = 0;

  for (;;) {
    ssize_t n = recv(c, buf + have, sizeof(buf) - 1 - have, 0);
    char *end;

    if (n <= 0)
      break;
    have += (size_t)n;
    buf[have] = '\0';
    /* Bodiless requests: one response per complete head. */
    while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
      size_t used = (size_t)(end + 4 - buf);

      *end = '\0';
      if (strstr(buf, "\r\nConnection: close") != NULL) {
        (void)!send(c, xr_it_ok_close, sizeof(xr_it_ok_close) - 1, MSG_NOSIGNAL);
        goto out;
      }
      if (send(c, xr_it_ok, sizeof(xr_it_ok) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(xr_it_ok) - 1)
        goto out;
      memmove(buf, buf + used, have - used + 1);
      have -= used;
    }
    if (have >= sizeof(buf) - 1)
      break;
  }
out:
  close(c);
  return NULL;
}

/* The peer: returns 1 when it cannot listen, otherwise never. */
static inline int xr_it_serve(void)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  pthread_attr_t attr;
  int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (s < 0)
    return 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 512) < 0 ||
      getsockname(s, (struct sockaddr *)&sa, &len) < 0)
    return 1;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  printf("PORT %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  for (;;) {
    pthread_t th;
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);

    if (c < 0)
      continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (pthread_create(&th, &attr, xr_it_serve_conn, (void *)(intptr_t)c) != 0)
      close(c);
  }
}

/* 127.0.0.1:port. */
static inline void xr_it_addr(struct sockaddr_in *sa, int port)
{
  memset(sa, 0, sizeof(*sa));
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)port);
  sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* "<program>: <what>: <strerror(errno)>" on stderr, then exit(1). */
static inline void xr_it_die(const char *what)
{
  fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, strerror(errno));
  exit(1);
}

/* A TCP connection to sa, or -errno (errno set too). A connect a signal interrupted
 * (EINTR: the connection goes on in the kernel) is completed with poll and SO_ERROR, so that
 * a program whose handlers run without SA_RESTART connects all the same. */
static inline int xr_it_connect_sa(const struct sockaddr_in *sa)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), err = 0, e;
  socklen_t len = sizeof(err);

  if (fd < 0)
    return -errno;
  if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
    return fd;
  if (errno != EINTR)
    goto fail;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
    int r = poll(&p, 1, 10000);
    if (r > 0)
      break;
    if (r == 0)
      errno = ETIMEDOUT;
    if (r == 0 || errno != EINTR)
      goto fail;
  }
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    goto fail;
  if (err != 0) {
    errno = err;
    goto fail;
  }
  return fd;
fail:
  e = errno;
  close(fd);
  errno = e;
  return -e;
}

/* A TCP connection to 127.0.0.1:port (TCP_NODELAY), or -errno. */
static inline int xr_it_connect(int port)
{
  struct sockaddr_in sa;
  int one = 1, fd;

  xr_it_addr(&sa, port);
  fd = xr_it_connect_sa(&sa);
  if (fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

/* xr_it_connect_sa, dying when it fails. */
static inline int xr_it_connect_or_die(const struct sockaddr_in *sa)
{
  int fd = xr_it_connect_sa(sa);

  if (fd < 0)
    xr_it_die("connect");
  return fd;
}

/* All n bytes with write(2), retried on EINTR; dies on an error (or a write of 0 bytes). */
static inline void xr_it_write_all(int fd, const void *p, size_t n)
{
  const char *c = p;

  while (n) {
    ssize_t k = write(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      xr_it_die("write");
    c += k;
    n -= (size_t)k;
  }
}

/* read(2) retried on EINTR: its result otherwise. */
static inline ssize_t xr_it_read(int fd, void *buf, size_t cap)
{
  for (;;) {
    ssize_t k = read(fd, buf, cap);
    if (k >= 0 || errno != EINTR)
      return k;
  }
}

/* Reads into buf (NUL-terminated) until it holds a whole HTTP message head: returns the bytes
 * read (the head and whatever followed it in the same reads), 0 at end of stream; dies on an
 * error or when cap - 1 bytes hold no head (EMSGSIZE). */
static inline size_t xr_it_read_head(int fd, char *buf, size_t cap)
{
  size_t have = 0;

  for (;;) {
    ssize_t k;
    if (have >= cap - 1) {
      errno = EMSGSIZE;
      xr_it_die("read head");
    }
    k = xr_it_read(fd, buf + have, cap - 1 - have);
    if (k < 0)
      xr_it_die("read");
    if (k == 0)
      return 0;
    have += (size_t)k;
    buf[have] = '\0';
    if (strstr(buf, "\r\n\r\n"))
      return have;
  }
}

/* The descriptor numbers the program opened itself (0-2 included once marked), so that
 * xr_it_foreign_fds finds the others: the library's. */
#define XR_IT_MAX_FD 65536
static atomic_bool xr_it_own[XR_IT_MAX_FD];

static inline void xr_it_mark_own(int fd, bool yes)
{
  if (fd >= 0 && fd < XR_IT_MAX_FD)
    atomic_store(&xr_it_own[fd], yes);
}

static inline bool xr_it_is_own(int fd)
{
  return fd >= 0 && fd < XR_IT_MAX_FD && atomic_load(&xr_it_own[fd]);
}

/* The numbers listed in /proc/self/fd that are not marked own (the directory's own
 * descriptor aside), at most cap of them into out: how many; dies when it cannot list. */
static inline int xr_it_foreign_fds(int *out, int cap)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0, dfd;

  if (!d)
    xr_it_die("opendir /proc/self/fd");
  dfd = dirfd(d);
  while ((e = readdir(d))) {
    int fd;
    if (e->d_name[0] == '.')
      continue;
    fd = atoi(e->d_name);
    if (fd != dfd && !xr_it_is_own(fd) && n < cap)
      out[n++] = fd;
  }
  closedir(d);
  return n;
}

/* GET path on fd (Host 127.0.0.1:port; with close_it, "Connection: close"): 0 when the
 * peer's exact response came back, -1 otherwise. Reads no further than that response. */
static inline int xr_it_request(int fd, int port, const char *path, bool close_it)
{
  const char *want = close_it ? xr_it_ok_close : xr_it_ok;
  size_t want_len = strlen(want), got = 0;
  char req[256], resp[sizeof(xr_it_ok_close)];
  int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", path,
                   port, close_it ? "Connection: close\r\n" : "");

  if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
    return -1;
  while (got < want_len) {
    ssize_t r = recv(fd, resp + got, want_len - got, 0);
    if (r <= 0)
      return -1;
    got += (size_t)r;
  }
  return memcmp(resp, want, want_len) == 0 ? 0 : -1;
}

/* GET path on a new connection to 127.0.0.1:port with "Connection: close", any server:
 * the response's status, or -1 (no connection, no status line). */
static inline int xr_it_get_status(int port, const char *path)
{
  char req[256], buf[4096];
  int fd = xr_it_connect(port), n, status = -1;
  size_t len = 0;
  ssize_t r;

  if (fd < 0)
    return -1;
  n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Connection: close\r\n\r\n", path, port);
  if (n < 0 || (size_t)n >= sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
    goto out;
  while (len < sizeof(buf) - 1 && (r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
    len += (size_t)r;
  buf[len] = '\0';
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    status = -1;
out:
  close(fd);
  return status;
}

/* With the library: one stderr line "xr-stats <who> pid=<pid> sent=... untraced=..." with
 * this process's counters (xray_get_stats); without it, nothing. One write(2) and no stdio,
 * so that a fork child may call it (another thread may have held a stdio lock at fork). */
static inline void xr_it_report_stats(const char *who)
{
  struct xray_stats st;
  char line[320];
  int n;

  if (!xray_get_stats || xray_get_stats(&st) != 0)
    return;
  n = snprintf(line, sizeof(line),
               "xr-stats %s pid=%ld sent=%llu errors=%llu split=%llu truncated=%llu "
               "dropped=%llu untraced=%llu\n",
               who, (long)getpid(), st.documents_sent, st.send_errors, st.documents_split,
               st.documents_truncated, st.documents_dropped, st.calls_without_segment);
  if (n > 0)
    (void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

#endif /* XR_IT_COMMON_H */
