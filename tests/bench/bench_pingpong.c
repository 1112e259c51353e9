/*
 * bench_pingpong - cost of the sockets layer's hooks on untraced descriptors.
 *
 *   bench_pingpong run [N_LOOP [N_PINGPONG [PAIRS]]]
 *       Moves 1-byte messages through descriptors the library must leave
 *       alone (a pipe, an AF_UNIX socketpair, and a TCP loopback pair that
 *       this program connects itself: a candidate client connection on one
 *       end and an accepted one on the other, both dropped by the library
 *       at their first byte, '\0', which is not HTTP) and prints one line
 *       per variant:
 *           variant=NAME calls=C ns_per_call=X hook_ns=H
 *       Variants (write/read and send/recv each; a pipe only write/read):
 *         loop.*       one thread writes 1 byte on one end and at once reads
 *                      it back from the other end: two calls per iteration,
 *                      no blocking, no context switch, so the time is the
 *                      system call plus the hook and nothing else.  The
 *                      primary, least noisy figures.  N_LOOP (default 200000)
 *                      iterations per variant, a quarter of that over TCP.
 *         loop.badfd.* the same calls on a descriptor that is not open
 *                      (EBADF): the untracked-descriptor lookup plus the
 *                      cheapest system call, the floor of the hook path.
 *         pingpong.*   two threads bounce 1 byte: 4 calls per round trip
 *                      (write+read on each side); dominated by the thread
 *                      wake-ups, so much noisier.  N_PINGPONG (default 4000)
 *                      round trips per variant.
 *       ns_per_call: median time per call through the C library (what the
 *       preload hooks); hook_ns: median, over PAIRS (default 100) pairs of
 *       alternating batches, of the time per call through the C library
 *       minus the time per call of the same system call made raw with
 *       syscall(2), which no hook sees (see "measuring" below).
 *
 *   bench_pingpong sink FILE
 *       A UDP sink standing in for the X-Ray daemon: binds 127.0.0.1:0,
 *       prints "PORT <n>", counts datagrams (recvmmsg, cheap enough not to
 *       steal the CPU a benchmark needs) and those starting with the daemon
 *       header; writes "<datagrams> <with header>" to FILE when it gets
 *       SIGTERM/SIGINT, then exits.
 *
 *   bench_pingpong http PORT_OFF PORT_TRACED PATH keepalive|close PAIRS BATCH
 *       GET http://127.0.0.1:PORT/PATH from two servers, the same program
 *       without and with the preload, one request at a time, in PAIRS pairs
 *       of alternating batches of BATCH requests (ABBA order): keep-alive
 *       (HTTP/1.1, one connection per server) or a connection per request
 *       (HTTP/1.0, read to EOF).  Prints
 *           http a_us=A b_us=B added_us=D ratio=R requests_a=N requests_b=M
 *       A, B: medians of the time per request (us) off / traced; D and R:
 *       medians over the pairs of B-A and of A/B (throughput traced/off).
 *       Every response must be a 200.
 *
 * Exit 0 on success, 1 when an I/O call fails or moves the wrong byte count,
 * 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PP_DEFAULT_LOOP 200000L
#define PP_DEFAULT_PINGPONG 4000L
#define PP_DEFAULT_PAIRS 100L

enum pp_io { PP_RW, PP_SENDRECV };

static int64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static int parse_count(const char *s, long *out)
{
  char *end = NULL;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 1)
    return -1;
  *out = v;
  return 0;
}

static void fail(const char *what)
{
  fprintf(stderr, "bench_pingpong: %s: %s\n", what, strerror(errno));
  exit(1);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double median(double *v, long n)
{
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * One byte out / in, through the C library (write/read/send/recv: what the
 * preload hooks) or raw (syscall(2): what no hook sees).  Anything but
 * exactly one byte is a failure.  The byte is '\0' in "libc" batches and
 * '\1' in raw ones (neither looks like HTTP): the echo thread of the
 * ping-pong answers in the mode the byte names.
 */
static inline void put1(int fd, enum pp_io io, int raw)
{
  char c = (char)raw;
  ssize_t n;

  if (raw)
    n = io == PP_RW ? syscall(SYS_write, fd, &c, 1)
                    : syscall(SYS_sendto, fd, &c, 1, 0, NULL, 0);
  else
    n = io == PP_RW ? write(fd, &c, 1) : send(fd, &c, 1, 0);
  if (n != 1) {
    if (n >= 0)
      errno = EIO;
    fail(io == PP_RW ? "write" : "send");
  }
}

static inline int get1(int fd, enum pp_io io, int raw)
{
  char c;
  ssize_t n;

  if (raw)
    n = io == PP_RW ? syscall(SYS_read, fd, &c, 1)
                    : syscall(SYS_recvfrom, fd, &c, 1, 0, NULL, NULL);
  else
    n = io == PP_RW ? read(fd, &c, 1) : recv(fd, &c, 1, 0);
  if (n != 1) {
    if (n >= 0)
      errno = n == 0 ? EPIPE : EIO;
    fail(io == PP_RW ? "read" : "recv");
  }
  return c;
}

/* --- descriptor pairs ---------------------------------------------------- */

struct pp_pair {
  int a, b;
};

static struct pp_pair make_pipe(void)
{
  int fds[2];

  if (pipe2(fds, O_CLOEXEC) < 0)
    fail("pipe2");
  return (struct pp_pair){ fds[1], fds[0] }; /* a writes, b reads */
}

static struct pp_pair make_unix(void)
{
  int fds[2];

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    fail("socketpair");
  return (struct pp_pair){ fds[0], fds[1] };
}

/* The program connects a to a listener of its own and accepts b: to the
 * library a is a client connection and b an inbound one, both candidates
 * until their first byte. */
static struct pp_pair make_tcp(void)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int one = 1;
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct pp_pair p;

  if (l < 0)
    fail("socket");
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
      getsockname(l, (struct sockaddr *)&sa, &len) < 0)
    fail("listen on 127.0.0.1");
  p.a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (p.a < 0)
    fail("socket");
  if (connect(p.a, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    fail("connect");
  p.b = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (p.b < 0)
    fail("accept4");
  close(l);
  /* 1-byte messages: no Nagle, no delayed-ACK stalls. */
  setsockopt(p.a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(p.b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return p;
}

static void close_pair(struct pp_pair p)
{
  close(p.a);
  close(p.b);
}

/* --- measuring ----------------------------------------------------------------
 *
 * This VM's speed drifts by 10-30% from one process (and one second) to the
 * next, far more than the few ns a hook costs, so two separate runs (with and
 * without the preload) cannot resolve it by their absolute times alone.  Each
 * variant therefore alternates, in the same process, batches of the calls
 * through the C library ("libc": hooked under the preload) with batches of
 * the same system calls made raw through syscall(2) (never hooked), in
 * ABBA order, each batch ~1-5 ms.  Per pair of batches,
 *   diff = (libc batch - raw batch) / calls
 * and the variant reports the median of those diffs (hook_ns) besides the
 * median of the libc batches (ns_per_call).  Without the preload hook_ns is
 * the C library wrapper's own cost against syscall(2)'s (a few ns); with it,
 * that plus the hook: the driver script's "added" is the difference of the
 * two medians, which the drift of the machine barely touches.
 */
struct pp_stats {
  double ns_per_call, hook_ns;
};

typedef double (*pp_batch_fn)(struct pp_pair p, enum pp_io io, int raw, long iters);

static struct pp_stats measure(pp_batch_fn fn, struct pp_pair p, enum pp_io io, long iters,
                               long pairs, int calls_per_iter)
{
  double *libc = calloc((size_t)pairs, sizeof(double));
  double *diff = calloc((size_t)pairs, sizeof(double));
  struct pp_stats st;
  long i;

  if (libc == NULL || diff == NULL)
    fail("calloc");
  fn(p, io, 0, iters); /* warm-up: the first-byte drop, caches, frequency */
  fn(p, io, 1, iters);
  for (i = 0; i < pairs; i++) {
    double a, b;
    if (i % 2 == 0) {
      a = fn(p, io, 0, iters);
      b = fn(p, io, 1, iters);
    } else {
      b = fn(p, io, 1, iters);
      a = fn(p, io, 0, iters);
    }
    libc[i] = a / (double)(calls_per_iter * iters);
    diff[i] = (a - b) / (double)(calls_per_iter * iters);
  }
  st.ns_per_call = median(libc, pairs);
  st.hook_ns = median(diff, pairs);
  free(libc);
  free(diff);
  return st;
}

static void report(const char *name, struct pp_stats st, long calls)
{
  printf("variant=%s calls=%ld ns_per_call=%.2f hook_ns=%.2f\n", name, calls, st.ns_per_call,
         st.hook_ns);
  fflush(stdout);
}

/* Single thread: write one end, read the other at once. */
static double loop_batch(struct pp_pair p, enum pp_io io, int raw, long iters)
{
  int64_t t0 = now_ns();
  long i;

  for (i = 0; i < iters; i++) {
    put1(p.a, io, raw);
    get1(p.b, io, raw);
  }
  return (double)(now_ns() - t0);
}

/* A descriptor that is not open: the hook's lookup for an untracked
 * descriptor plus the cheapest system call there is (EBADF at once). */
static double badfd_batch(struct pp_pair p, enum pp_io io, int raw, long iters)
{
  char c = 0;
  int64_t t0 = now_ns();
  long i, bad = 0;

  for (i = 0; i < iters; i++) {
    if (raw) {
      bad += (io == PP_RW ? syscall(SYS_write, p.a, &c, 1)
                          : syscall(SYS_sendto, p.a, &c, 1, 0, NULL, 0)) < 0 && errno == EBADF;
      bad += (io == PP_RW ? syscall(SYS_read, p.a, &c, 1)
                          : syscall(SYS_recvfrom, p.a, &c, 1, 0, NULL, NULL)) < 0 &&
             errno == EBADF;
    } else {
      bad += (io == PP_RW ? write(p.a, &c, 1) : send(p.a, &c, 1, 0)) < 0 && errno == EBADF;
      bad += (io == PP_RW ? read(p.a, &c, 1) : recv(p.a, &c, 1, 0)) < 0 && errno == EBADF;
    }
  }
  if (bad != 2 * iters) {
    errno = EINVAL;
    fail("a call on a closed descriptor did not fail with EBADF");
  }
  return (double)(now_ns() - t0);
}

static void run_loop(const char *name, struct pp_pair p, enum pp_io io, long iters,
                     long pairs)
{
  report(name, measure(loop_batch, p, io, iters, pairs, 2), 2 * iters * 2 * pairs);
}

/* Two threads: the echo thread reads a byte and writes it back, in the mode
 * the byte names; a '\2' ends it. */
struct pp_echo {
  int fd;
  enum pp_io io;
};

static void *echo_thread(void *arg)
{
  struct pp_echo *e = arg;
  int mode = 0;

  for (;;) {
    int c = get1(e->fd, e->io, mode);
    if (c == 2)
      return NULL;
    mode = c;
    put1(e->fd, e->io, mode);
  }
}

static double pingpong_batch(struct pp_pair p, enum pp_io io, int raw, long iters)
{
  int64_t t0 = now_ns();
  long i;

  for (i = 0; i < iters; i++) {
    put1(p.a, io, raw);
    get1(p.a, io, raw);
  }
  return (double)(now_ns() - t0);
}

static void run_pingpong(const char *name, struct pp_pair p, enum pp_io io, long iters,
                         long pairs)
{
  struct pp_echo e = { p.b, io };
  struct pp_stats st;
  pthread_t t;
  char stop = 2;
  int rc;

  rc = pthread_create(&t, NULL, echo_thread, &e);
  if (rc != 0) {
    errno = rc;
    fail("pthread_create");
  }
  st = measure(pingpong_batch, p, io, iters, pairs, 4);
  if (write(p.a, &stop, 1) != 1)
    fail("write");
  pthread_join(t, NULL);
  report(name, st, 4 * iters * 2 * pairs);
}

static int cmd_run(long n_loop, long n_pp, long pairs)
{
  /* A TCP loopback call costs ~4x a pipe's: a quarter of the iterations
   * keeps the batches alike in time. */
  long loop_iters = n_loop / pairs / 2 > 0 ? n_loop / pairs / 2 : 1;
  long tcp_iters = loop_iters / 4 > 0 ? loop_iters / 4 : 1;
  long pp_iters = n_pp / pairs / 2 > 0 ? n_pp / pairs / 2 : 1;
  struct pp_pair p;

  /* Each variant on fresh descriptors, so that a tracked-then-dropped state
   * of one never colours another. */
  p = make_pipe();
  run_loop("loop.pipe.write_read", p, PP_RW, loop_iters, pairs);
  close_pair(p);
  p = make_unix();
  run_loop("loop.unix.write_read", p, PP_RW, loop_iters, pairs);
  close_pair(p);
  p = make_unix();
  run_loop("loop.unix.send_recv", p, PP_SENDRECV, loop_iters, pairs);
  close_pair(p);
  p = make_tcp();
  close_pair(p); /* now p.a is a descriptor number nobody uses */
  report("loop.badfd.write_read", measure(badfd_batch, p, PP_RW, loop_iters, pairs, 2),
         2 * loop_iters * 2 * pairs);
  report("loop.badfd.send_recv", measure(badfd_batch, p, PP_SENDRECV, loop_iters, pairs, 2),
         2 * loop_iters * 2 * pairs);
  p = make_tcp();
  run_loop("loop.tcp.write_read", p, PP_RW, tcp_iters, pairs);
  close_pair(p);
  p = make_tcp();
  run_loop("loop.tcp.send_recv", p, PP_SENDRECV, tcp_iters, pairs);
  close_pair(p);
  p = make_unix();
  run_pingpong("pingpong.unix.write_read", p, PP_RW, pp_iters, pairs);
  close_pair(p);
  p = make_unix();
  run_pingpong("pingpong.unix.send_recv", p, PP_SENDRECV, pp_iters, pairs);
  close_pair(p);
  p = make_tcp();
  run_pingpong("pingpong.tcp.write_read", p, PP_RW, pp_iters, pairs);
  close_pair(p);
  p = make_tcp();
  run_pingpong("pingpong.tcp.send_recv", p, PP_SENDRECV, pp_iters, pairs);
  close_pair(p);
  return 0;
}

/* --- UDP sink ---------------------------------------------------------------- */

static volatile sig_atomic_t sink_stop;

static void on_stop(int sig)
{
  (void)sig;
  sink_stop = 1;
}

static void sink_write(const char *path, unsigned long long n, unsigned long long hdr)
{
  char tmp[4096];
  FILE *f;

  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  f = fopen(tmp, "w");
  if (f == NULL)
    return;
  fprintf(f, "%llu %llu\n", n, hdr);
  if (fclose(f) == 0)
    rename(tmp, path);
}

static int cmd_sink(const char *path)
{
  enum { VLEN = 64, BUFSZ = 65536 };
  static char bufs[VLEN][BUFSZ];
  static const char header[] = "{\"format\"";
  struct mmsghdr msgs[VLEN];
  struct iovec iov[VLEN];
  struct sockaddr_in sa;
  struct sigaction sact;
  socklen_t len = sizeof(sa);
  unsigned long long count = 0, with_header = 0;
  int size = 16 << 20;
  int s, i;

  memset(&sact, 0, sizeof(sact));
  sact.sa_handler = on_stop; /* no SA_RESTART: recvmmsg returns EINTR */
  sigaction(SIGTERM, &sact, NULL);
  sigaction(SIGINT, &sact, NULL);
  s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    fail("socket");
  /* SO_RCVBUFFORCE (root), else SO_RCVBUF capped by rmem_max. */
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      getsockname(s, (struct sockaddr *)&sa, &len) < 0)
    fail("bind 127.0.0.1:0");
  printf("PORT %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  while (!sink_stop) {
    int n;

    for (i = 0; i < VLEN; i++) {
      iov[i].iov_base = bufs[i];
      iov[i].iov_len = BUFSZ;
      memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    n = recvmmsg(s, msgs, VLEN, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("recvmmsg");
    }
    for (i = 0; i < n; i++) {
      count++;
      if (msgs[i].msg_len >= sizeof(header) - 1 &&
          memcmp(bufs[i], header, sizeof(header) - 1) == 0)
        with_header++;
    }
  }
  /* What is already queued belongs to the run being stopped. */
  for (;;) {
    int n = recvmmsg(s, msgs, VLEN, MSG_DONTWAIT, NULL);
    if (n <= 0)
      break;
    for (i = 0; i < n; i++) {
      count++;
      if (msgs[i].msg_len >= sizeof(header) - 1 &&
          memcmp(bufs[i], header, sizeof(header) - 1) == 0)
        with_header++;
    }
  }
  sink_write(path, count, with_header);
  return 0;
}

/* --- paired HTTP client ------------------------------------------------------ */

struct pp_http {
  int port;
  int fd; /* keep-alive connection, -1 when none */
  char req[512];
  size_t req_len;
  long requests;
};

static int tcp_connect(int port)
{
  struct sockaddr_in sa;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    fail("socket");
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
    fail("connect to the HTTP server");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      fail("write to the HTTP server");
    buf += n;
    len -= (size_t)n;
  }
}

/* One response: the head, then Content-Length body bytes, or (without one)
 * everything up to EOF.  Fails unless the status is 200. */
static void read_response(int fd, int until_eof)
{
  char buf[8192];
  size_t have = 0;
  char *end = NULL;
  long long clen = -1, body;
  const char *cl;

  while (end == NULL) {
    ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      errno = n == 0 ? EPIPE : errno;
      fail("read the response head");
    }
    have += (size_t)n;
    buf[have] = '\0';
    end = strstr(buf, "\r\n\r\n");
    if (end == NULL && have == sizeof(buf) - 1) {
      errno = E2BIG;
      fail("response head");
    }
  }
  if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0) {
    errno = EPROTO;
    fail("response status is not 200");
  }
  cl = strcasestr(buf, "\r\ncontent-length:");
  if (cl != NULL && cl < end)
    clen = strtoll(cl + 17, NULL, 10);
  body = (long long)(have - (size_t)(end + 4 - buf));
  while (until_eof || body < clen) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      fail("read the response body");
    if (n == 0) {
      if (clen >= 0 && body < clen) {
        errno = EPIPE;
        fail("response body cut short");
      }
      break;
    }
    body += n;
  }
}

static double http_batch(struct pp_http *h, int keepalive, long n)
{
  int64_t t0 = now_ns();
  long i;

  for (i = 0; i < n; i++) {
    if (!keepalive || h->fd < 0)
      h->fd = tcp_connect(h->port);
    send_all(h->fd, h->req, h->req_len);
    read_response(h->fd, !keepalive);
    if (!keepalive) {
      close(h->fd);
      h->fd = -1;
    }
    h->requests++;
  }
  return (double)(now_ns() - t0) / (double)n;
}

/*
 * Requests to two servers in alternating batches (ABBA), one request at a
 * time: A is the server without the preload, B the same server with it.
 * Batches of a few ms side by side see the same machine, so the median over
 * the pairs of tB/tA and tB-tA resolves a few % where separate runs of a
 * load generator (wrk) drift by 10-30% on this VM.
 */
static int cmd_http(int port_a, int port_b, const char *path, int keepalive, long pairs,
                    long batch)
{
  struct pp_http h[2] = { { port_a, -1, "", 0, 0 }, { port_b, -1, "", 0, 0 } };
  double *ta = calloc((size_t)pairs, sizeof(double));
  double *tb = calloc((size_t)pairs, sizeof(double));
  double *ratio = calloc((size_t)pairs, sizeof(double));
  double *added = calloc((size_t)pairs, sizeof(double));
  long i;
  int k;

  if (ta == NULL || tb == NULL || ratio == NULL || added == NULL)
    fail("calloc");
  for (k = 0; k < 2; k++) {
    int n = snprintf(h[k].req, sizeof(h[k].req),
                     "GET %s HTTP/1.%d\r\nHost: 127.0.0.1:%d\r\n"
                     "User-Agent: bench_pingpong\r\nAccept: */*\r\n\r\n",
                     path, keepalive ? 1 : 0, h[k].port);
    if (n < 0 || (size_t)n >= sizeof(h[k].req)) {
      errno = E2BIG;
      fail("request");
    }
    h[k].req_len = (size_t)n;
    http_batch(&h[k], keepalive, batch); /* warm-up */
  }
  for (i = 0; i < pairs; i++) {
    if (i % 2 == 0) {
      ta[i] = http_batch(&h[0], keepalive, batch);
      tb[i] = http_batch(&h[1], keepalive, batch);
    } else {
      tb[i] = http_batch(&h[1], keepalive, batch);
      ta[i] = http_batch(&h[0], keepalive, batch);
    }
    ratio[i] = ta[i] / tb[i]; /* throughput traced / off */
    added[i] = (tb[i] - ta[i]) / 1000.0;
  }
  printf("http a_us=%.2f b_us=%.2f added_us=%.2f ratio=%.4f requests_a=%ld requests_b=%ld\n",
         median(ta, pairs) / 1000.0, median(tb, pairs) / 1000.0, median(added, pairs),
         median(ratio, pairs), h[0].requests, h[1].requests);
  return 0;
}

static void usage(void)
{
  fprintf(stderr, "usage: bench_pingpong run [N_LOOP [N_PINGPONG [PAIRS]]]\n"
                  "       bench_pingpong sink FILE\n"
                  "       bench_pingpong http PORT_OFF PORT_TRACED PATH keepalive|close PAIRS "
                  "BATCH\n");
  exit(2);
}

int main(int argc, char **argv)
{
  long n_loop = PP_DEFAULT_LOOP, n_pp = PP_DEFAULT_PINGPONG, pairs = PP_DEFAULT_PAIRS;

  if (argc >= 2 && strcmp(argv[1], "sink") == 0) {
    if (argc != 3)
      usage();
    return cmd_sink(argv[2]);
  }
  if (argc >= 2 && strcmp(argv[1], "http") == 0) {
    long pa, pb, batch;
    if (argc != 8 || parse_count(argv[2], &pa) < 0 || parse_count(argv[3], &pb) < 0 ||
        pa > 65535 || pb > 65535 || argv[4][0] != '/' ||
        (strcmp(argv[5], "keepalive") != 0 && strcmp(argv[5], "close") != 0) ||
        parse_count(argv[6], &pairs) < 0 || parse_count(argv[7], &batch) < 0)
      usage();
    signal(SIGPIPE, SIG_IGN);
    return cmd_http((int)pa, (int)pb, argv[4], strcmp(argv[5], "keepalive") == 0, pairs,
                    batch);
  }
  if (argc < 2 || argc > 5 || strcmp(argv[1], "run") != 0)
    usage();
  if ((argc > 2 && parse_count(argv[2], &n_loop) < 0) ||
      (argc > 3 && parse_count(argv[3], &n_pp) < 0) ||
      (argc > 4 && parse_count(argv[4], &pairs) < 0))
    usage();
  signal(SIGPIPE, SIG_IGN);
  return cmd_run(n_loop, n_pp, pairs);
}
