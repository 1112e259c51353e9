/* The library's own HTTP/1.1 requests: see http_client.h. */
#include "xr_setup.h"

#include "http_client.h"

#include "clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Status line and headers together; metadata services send a few hundred
 * bytes. */
#define XR_HTTP_HEAD_MAX 16384

static int64_t xr_mono_ms(void)
{
  return xr_mono_us() / 1000;
}

int xr_http_resolve(const struct xr_endpoint *ep, struct sockaddr_storage *ss,
                    socklen_t *sslen)
{
  struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)ss;
  struct addrinfo hints, *res = NULL;
  char host[XR_HOST_MAX];
  size_t n;
  int rc = -EHOSTUNREACH;

  if (!ep || !ep->host[0] || ep->port == 0)
    return -EINVAL;
  n = strnlen(ep->host, sizeof(ep->host) - 1);
  if (ep->host[0] == '[' && n >= 2 && ep->host[n - 1] == ']') {
    memcpy(host, ep->host + 1, n - 2);
    host[n - 2] = '\0';
  } else {
    memcpy(host, ep->host, n);
    host[n] = '\0';
  }
  memset(ss, 0, sizeof(*ss));
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(ep->port);
    *sslen = sizeof(*v4);
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(ep->port);
    *sslen = sizeof(*v6);
    return 0;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
    return -EHOSTUNREACH;
  if (res->ai_addrlen <= sizeof(*ss) &&
      (res->ai_family == AF_INET || res->ai_family == AF_INET6)) {
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    if (res->ai_family == AF_INET)
      v4->sin_port = htons(ep->port);
    else
      v6->sin6_port = htons(ep->port);
    rc = 0;
  }
  freeaddrinfo(res);
  return rc;
}

/*
 * Our socket among the host's descriptors. The host may close every
 * descriptor it did not open (close_range, a close loop, closefrom) while a
 * request of ours is in flight and open its own on the freed number at
 * once; our hooks do not know these sockets (they are the emitter's
 * business only for its UDP socket). So each system call on the number is
 * preceded by a check that it is still the socket we created (its device
 * and inode, which no other open socket shares): otherwise the request
 * fails with -EBADF and the number is left alone, never read, written or
 * closed. What remains is the check-to-call window of a few instructions,
 * as for the emitter's closes that no hook sees.
 *
 * Fork: a child inherits the sockets of requests in flight on our threads,
 * which do not exist in it. Each one is listed here while it is open, and
 * xr_http_fork_child closes those that are still ours in the child.
 */
struct xr_sock {
  long fd;
  dev_t dev;
  ino_t ino;
};

#define XR_HTTP_INFLIGHT 8
/* fd + 1 of each listed socket, 0 free; dev and ino written before. */
static struct {
  atomic_long fd1;
  dev_t dev;
  ino_t ino;
} xr_inflight[XR_HTTP_INFLIGHT];

/* fstat as a system call: glibc's fstat symbol is GLIBC_2.33 (elf.contract),
 * and the kernel's struct stat is libc's on the 64-bit targets. */
static int xr_fstat(long fd, struct stat *st)
{
#ifdef SYS_fstat
  return (int)syscall(SYS_fstat, fd, st);
#else
  return (int)syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH);
#endif
}

static bool xr_sock_is(long fd, dev_t dev, ino_t ino)
{
  struct stat st;
  return xr_fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

static bool xr_ours(const struct xr_sock *s)
{
  return xr_sock_is(s->fd, s->dev, s->ino);
}

/* A new socket of ours: 0, or -errno (none created). */
static int xr_sock_open(struct xr_sock *s, int family, int *slot)
{
  struct stat st;
  int i;

  *slot = -1;
  s->fd = syscall(SYS_socket, family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0)
    return -errno;
  if (xr_fstat(s->fd, &st) < 0) {
    int rc = -errno;
    (void)syscall(SYS_close, s->fd);
    s->fd = -1;
    return rc;
  }
  s->dev = st.st_dev;
  s->ino = st.st_ino;
  for (i = 0; i < XR_HTTP_INFLIGHT; i++) {
    long expect = 0;
    /* Claimed with a value no fd has, filled, then published. */
    if (atomic_compare_exchange_strong(&xr_inflight[i].fd1, &expect, -1L)) {
      xr_inflight[i].dev = st.st_dev;
      xr_inflight[i].ino = st.st_ino;
      atomic_store(&xr_inflight[i].fd1, s->fd + 1);
      *slot = i;
      break;
    }
  }
  return 0;
}

/* Unlisted first (a fork after that leaves the child a copy to inherit,
 * never a number the host reused), then closed if still ours. */
static void xr_sock_close(struct xr_sock *s, int slot)
{
  if (s->fd < 0)
    return;
  if (slot >= 0)
    atomic_store(&xr_inflight[slot].fd1, 0);
  if (xr_ours(s))
    (void)syscall(SYS_close, s->fd);
  s->fd = -1;
}

void xr_http_fork_child(void)
{
  int i, saved = errno;

  for (i = 0; i < XR_HTTP_INFLIGHT; i++) {
    long fd1 = atomic_load(&xr_inflight[i].fd1);
    if (fd1 > 0 && xr_sock_is(fd1 - 1, xr_inflight[i].dev, xr_inflight[i].ino))
      (void)syscall(SYS_close, fd1 - 1);
    if (fd1 != 0)
      atomic_store(&xr_inflight[i].fd1, 0);
  }
  errno = saved;
}

/* Waits for events on fd until the deadline. 0, -ETIMEDOUT or -errno. */
static int xr_wait(int fd, short events, int64_t deadline_ms)
{
  for (;;) {
    struct pollfd p = {fd, events, 0};
    int64_t left = deadline_ms - xr_mono_ms();
    int n;
    if (left <= 0)
      return -ETIMEDOUT;
    n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return -errno;
  }
}

/* Raw system calls: connect, sendto, recvfrom and close are interposed
 * (by us, maybe by another preload); none of them may see the library's
 * own traffic. */
static int xr_connect(const struct xr_sock *s, const struct sockaddr *addr, socklen_t len,
                      int64_t deadline_ms)
{
  int err = 0, rc, fd = (int)s->fd;
  socklen_t elen = sizeof(err);

  if (!xr_ours(s))
    return -EBADF;
  if (syscall(SYS_connect, fd, addr, len) == 0)
    return 0;
  if (errno != EINPROGRESS && errno != EINTR)
    return -errno;
  if ((rc = xr_wait(fd, POLLOUT, deadline_ms)) < 0)
    return rc;
  if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
    return -errno;
  return err ? -err : 0;
}

static int xr_send_all(const struct xr_sock *s, const char *p, size_t n,
                       int64_t deadline_ms)
{
  int fd = (int)s->fd;

  while (n) {
    long w;
    int rc;
    if (!xr_ours(s))
      return -EBADF;
    w = syscall(SYS_sendto, fd, p, n, MSG_NOSIGNAL, NULL, 0);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR)
      return -errno;
    if ((rc = xr_wait(fd, POLLOUT, deadline_ms)) < 0)
      return rc;
  }
  return 0;
}

/* Reads what is there into buf[*len..cap). 1 read, 0 end of stream,
 * negative errno. */
static int xr_recv_some(const struct xr_sock *s, char *buf, size_t *len, size_t cap,
                        int64_t deadline_ms)
{
  int fd = (int)s->fd;

  for (;;) {
    long r;
    int rc;
    if (!xr_ours(s))
      return -EBADF;
    r = syscall(SYS_recvfrom, fd, buf + *len, cap - *len, 0, NULL, NULL);
    if (r > 0) {
      *len += (size_t)r;
      return 1;
    }
    if (r == 0)
      return 0;
    if (errno != EAGAIN && errno != EINTR)
      return -errno;
    if ((rc = xr_wait(fd, POLLIN, deadline_ms)) < 0)
      return rc;
  }
}

static bool xr_ieq(const char *a, size_t alen, const char *b)
{
  size_t n = strlen(b), i;
  if (alen != n)
    return false;
  for (i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z')
      c = (char)(c + 32);
    if (c != b[i])
      return false;
  }
  return true;
}

struct xr_head {
  int status;
  bool chunked;
  long long length; /* -1: none */
};

/* Parses "HTTP/1.x SSS ...\r\n(Name: value\r\n)*" (len bytes, the blank
 * line excluded). 0 or -EPROTO. */
static int xr_parse_head(const char *p, size_t len, struct xr_head *h)
{
  const char *end = p + len, *eol;

  h->status = 0;
  h->chunked = false;
  h->length = -1;
  if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
      p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9' ||
      p[11] < '0' || p[11] > '9')
    return -EPROTO;
  h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  eol = memchr(p, '\n', len);
  while (eol && eol + 1 < end) {
    const char *line = eol + 1, *colon, *v, *ve;
    eol = memchr(line, '\n', (size_t)(end - line));
    ve = eol ? eol : end;
    if (ve > line && ve[-1] == '\r')
      ve--;
    colon = memchr(line, ':', (size_t)(ve - line));
    if (!colon)
      return -EPROTO;
    for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
      ;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (xr_ieq(line, (size_t)(colon - line), "content-length")) {
      long long n = 0;
      if (v == ve || h->length >= 0)
        return -EPROTO; /* empty, or twice: no guessing which is right */
      for (; v < ve; v++) {
        if (*v < '0' || *v > '9' || n > (1LL << 40))
          return -EPROTO;
        n = n * 10 + (*v - '0');
      }
      h->length = n;
    } else if (xr_ieq(line, (size_t)(colon - line), "transfer-encoding")) {
      /* Only "chunked" as the last coding is readable. */
      if ((size_t)(ve - v) >= 7 && xr_ieq(ve - 7, 7, "chunked"))
        h->chunked = true;
      else
        return -EPROTO;
    }
  }
  return 0;
}

/* Decodes the chunked body in raw[0..n) into out (cap bytes). 1 complete
 * (*outlen set), 0 more needed, -EPROTO, -EMSGSIZE. */
static int xr_dechunk(const char *raw, size_t n, char *out, size_t cap,
                      size_t *outlen)
{
  size_t i = 0, o = 0;

  for (;;) {
    unsigned long long size = 0;
    size_t digits = 0;
    const char *nl;
    while (i < n) {
      char c = raw[i];
      int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0)
        break;
      if (++digits > 8)
        return -EPROTO;
      size = size * 16 + (unsigned)d;
      i++;
    }
    if (i == n)
      return 0;
    if (!digits)
      return -EPROTO;
    /* chunk extensions up to the line's end are ignored */
    nl = memchr(raw + i, '\n', n - i);
    if (!nl)
      return n - i > 1024 ? -EPROTO : 0;
    i = (size_t)(nl - raw) + 1;
    if (size == 0) {
      /* trailers, then the blank line */
      for (;;) {
        const char *e = memchr(raw + i, '\n', n - i);
        if (!e)
          return 0;
        if (e == raw + i || (e == raw + i + 1 && raw[i] == '\r')) {
          *outlen = o;
          return 1;
        }
        i = (size_t)(e - raw) + 1;
      }
    }
    if (size > cap - o)
      return -EMSGSIZE;
    if (n - i < size + 2)
      return 0;
    memcpy(out + o, raw + i, size);
    o += size;
    i += size;
    if (raw[i] == '\r')
      i++;
    if (raw[i] != '\n')
      return -EPROTO;
    i++;
  }
}

static char *xr_build_request(const char *host_header, const struct xr_http_request *rq,
                              size_t *len)
{
  bool with_length = rq->body || (strcmp(rq->method, "GET") != 0 &&
                                  strcmp(rq->method, "HEAD") != 0);
  size_t body_len = rq->body ? rq->body_len : 0;
  size_t cap = strlen(rq->method) + strlen(rq->path) + strlen(host_header) +
               (rq->headers ? strlen(rq->headers) : 0) + body_len + 160;
  char *buf = malloc(cap);
  int n;

  if (!buf)
    return NULL;
  n = snprintf(buf, cap,
               "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " XR_SDK_NAME "/" XRAY_AUTO_VERSION
               "\r\nConnection: close\r\n%s",
               rq->method, rq->path, host_header, rq->headers ? rq->headers : "");
  if (n < 0 || (size_t)n >= cap) {
    free(buf);
    return NULL;
  }
  if (with_length)
    n += snprintf(buf + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
  memcpy(buf + n, "\r\n", 2);
  n += 2;
  if (body_len)
    memcpy(buf + n, rq->body, body_len);
  *len = (size_t)n + body_len;
  return buf;
}

int xr_http_fetch(const struct sockaddr *addr, socklen_t addrlen,
                  const char *host_header, const struct xr_http_request *rq,
                  int timeout_ms, size_t max_body, struct xr_http_response *out)
{
  int64_t deadline = xr_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  char *req = NULL, *raw = NULL, *body = NULL, *sep;
  size_t req_len, n = 0, cap, head_len = 0;
  struct xr_head h = {0, false, -1};
  struct xr_sock sk = {-1, 0, 0};
  int rc, slot = -1;

  memset(out, 0, sizeof(*out));
  if (!addr || !host_header || !rq || !rq->method || !rq->path || rq->path[0] != '/')
    return -EINVAL;
  if (max_body == 0 || max_body > XR_HTTP_BODY_MAX)
    max_body = XR_HTTP_BODY_MAX;
  /* The raw stream: head, plus the body with chunk framing. */
  cap = XR_HTTP_HEAD_MAX + max_body + max_body / 2 + 4096;
  if (!(req = xr_build_request(host_header, rq, &req_len)) || !(raw = malloc(cap + 1))) {
    rc = -ENOMEM;
    goto out;
  }
  if ((rc = xr_sock_open(&sk, addr->sa_family, &slot)) < 0)
    goto out;
  if ((rc = xr_connect(&sk, addr, addrlen, deadline)) < 0 ||
      (rc = xr_send_all(&sk, req, req_len, deadline)) < 0)
    goto out;

  for (;;) { /* the head; 1xx interim responses are skipped */
    sep = memmem(raw, n, "\r\n\r\n", 4);
    if (sep) {
      head_len = (size_t)(sep - raw);
      if ((rc = xr_parse_head(raw, head_len, &h)) < 0)
        goto out;
      if (h.status >= 200 || h.status == 101)
        break;
      memmove(raw, sep + 4, n - head_len - 4);
      n -= head_len + 4;
      continue;
    }
    if (n >= XR_HTTP_HEAD_MAX) {
      rc = -EMSGSIZE;
      goto out;
    }
    rc = xr_recv_some(&sk, raw, &n, XR_HTTP_HEAD_MAX, deadline);
    if (rc <= 0) {
      rc = rc == 0 ? -EPROTO : rc;
      goto out;
    }
  }
  if (h.status == 101) {
    rc = -EPROTO;
    goto out;
  }
  /* The body now starts at raw[0]. */
  memmove(raw, raw + head_len + 4, n - head_len - 4);
  n -= head_len + 4;
  if (!(body = malloc(max_body + 1))) {
    rc = -ENOMEM;
    goto out;
  }
  if (h.status == 204 || h.status == 304) {
    out->body_len = 0;
  } else if (h.chunked) {
    for (;;) {
      rc = xr_dechunk(raw, n, body, max_body, &out->body_len);
      if (rc < 0)
        goto out;
      if (rc == 1)
        break;
      if (n >= cap) {
        rc = -EMSGSIZE;
        goto out;
      }
      rc = xr_recv_some(&sk, raw, &n, cap, deadline);
      if (rc <= 0) {
        rc = rc == 0 ? -EPROTO : rc;
        goto out;
      }
    }
  } else if (h.length >= 0) {
    if ((unsigned long long)h.length > max_body) {
      rc = -EMSGSIZE;
      goto out;
    }
    while (n < (size_t)h.length) {
      rc = xr_recv_some(&sk, raw, &n, (size_t)h.length, deadline);
      if (rc <= 0) {
        rc = rc == 0 ? -EPROTO : rc;
        goto out;
      }
    }
    memcpy(body, raw, (size_t)h.length);
    out->body_len = (size_t)h.length;
  } else {
    for (;;) { /* delimited by the close */
      if (n > max_body) {
        rc = -EMSGSIZE;
        goto out;
      }
      rc = xr_recv_some(&sk, raw, &n, max_body + 1, deadline);
      if (rc < 0)
        goto out;
      if (rc == 0)
        break;
    }
    memcpy(body, raw, n);
    out->body_len = n;
  }
  body[out->body_len] = '\0';
  out->body = body;
  out->status = h.status;
  body = NULL;
  rc = 0;
out:
  xr_sock_close(&sk, slot);
  free(req);
  free(raw);
  free(body);
  if (rc < 0)
    memset(out, 0, sizeof(*out));
  return rc;
}

void xr_http_response_free(struct xr_http_response *r)
{
  if (!r)
    return;
  free(r->body);
  memset(r, 0, sizeof(*r));
}
