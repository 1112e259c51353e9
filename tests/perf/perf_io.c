/*
 * perf_io - fixed workloads whose instruction counts callgrind measures
 * (tests/perf/run_callgrind.sh). The same binary runs with and without
 * LD_PRELOAD=libxray-auto.so; the difference, divided by the iteration
 * count, is what the library adds.
 *
 *   perf_io pipe N
 *       N times: write 1 byte into a pipe, read it back (2 calls through
 *       the C library on descriptors the library must leave alone).
 *   perf_io http N
 *       N times: open a segment (xray_begin_segment when the preload
 *       provides it), connect to an in-process HTTP server on loopback,
 *       send one HTTP/1.1 GET, read the whole response, close, end the
 *       segment (which serializes and sends it). The server thread uses
 *       raw syscall(2) only, so the library sees the client side alone:
 *       one traced remote subsegment and its segment per iteration.
 *       Under the preload, fails unless exactly N documents were sent
 *       without error during the loop (the traced path was the one
 *       measured; needs XRAY_AUTO_SAMPLING=all).
 *
 * Only the N iterations are counted: the program runs under
 * valgrind --tool=callgrind --instr-atstart=no and brackets them with
 * CALLGRIND_ZERO_STATS / START / STOP_INSTRUMENTATION, after a few
 * uncounted warm-up iterations (lazy binding, the library's first-use
 * set-up, the emitter's socket). Prints "ok" and exits 0; 1 when an I/O
 * call fails or moves the wrong byte count, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include "../../include/xray-auto.h"

#define PERF_WARMUP 5

static const char perf_request[] = "GET /v1/items/42 HTTP/1.1\r\n"
                                   "Host: 127.0.0.1\r\n"
                                   "User-Agent: perf_io\r\n"
                                   "Accept: */*\r\n\r\n";
static const char perf_response[] = "HTTP/1.1 200 OK\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: 12\r\n\r\n"
                                    "hello world\n";

static void fail(const char *what)
{
  fprintf(stderr, "perf_io: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void pipe_once(const int p[2])
{
  char c = 'x';

  if (write(p[1], &c, 1) != 1)
    fail("write");
  if (read(p[0], &c, 1) != 1)
    fail("read");
}

static int run_pipe(long n)
{
  int p[2];
  long i;

  if (pipe(p) < 0)
    fail("pipe");
  for (i = 0; i < PERF_WARMUP; i++)
    pipe_once(p);
  CALLGRIND_ZERO_STATS;
  CALLGRIND_START_INSTRUMENTATION;
  for (i = 0; i < n; i++)
    pipe_once(p);
  CALLGRIND_STOP_INSTRUMENTATION;
  close(p[0]);
  close(p[1]);
  return 0;
}

/* Server: raw system calls only (no hook sees them). Answers one request
 * per connection; the listening socket is shut down to stop it. */
static void *server_main(void *arg)
{
  int lfd = (int)(long)arg;
  char buf[1024];

  for (;;) {
    long cfd = syscall(SYS_accept4, lfd, NULL, NULL, 0);
    size_t got = 0;

    if (cfd < 0)
      return NULL;
    while (got < sizeof(perf_request) - 1) {
      long r = syscall(SYS_read, (int)cfd, buf + got, sizeof(buf) - got);

      if (r <= 0)
        break;
      got += (size_t)r;
    }
    if (got == sizeof(perf_request) - 1)
      (void)syscall(SYS_write, (int)cfd, perf_response, sizeof(perf_response) - 1);
    syscall(SYS_close, (int)cfd);
  }
}

typedef int (*perf_begin_fn)(const char *, const char *);
typedef int (*perf_end_fn)(void);
typedef int (*perf_stats_fn)(struct xray_stats *);

static void http_once(const struct sockaddr_in *sa, perf_begin_fn begin, perf_end_fn end)
{
  char buf[1024];
  size_t got = 0;
  int fd;

  if (begin && begin("perf-io", NULL) < 0)
    fail("xray_begin_segment");
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    fail("socket");
  if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
    fail("connect");
  if (write(fd, perf_request, sizeof(perf_request) - 1) != (ssize_t)sizeof(perf_request) - 1)
    fail("write request");
  while (got < sizeof(perf_response) - 1) {
    ssize_t r = read(fd, buf + got, sizeof(buf) - got);

    if (r <= 0) {
      if (r == 0)
        errno = EPIPE;
      fail("read response");
    }
    got += (size_t)r;
  }
  close(fd);
  if (end && end() < 0)
    fail("xray_end_segment");
}

static int run_http(long n)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  perf_begin_fn begin;
  perf_end_fn end;
  perf_stats_fn stats;
  struct xray_stats st0, st1;
  pthread_t t;
  long i;
  int lfd;

  /* Present only when the preload is: the same binary runs both ways. */
  *(void **)&begin = dlsym(RTLD_DEFAULT, "xray_begin_segment");
  *(void **)&end = dlsym(RTLD_DEFAULT, "xray_end_segment");
  *(void **)&stats = dlsym(RTLD_DEFAULT, "xray_get_stats");
  if (!begin || !end || !stats)
    begin = NULL, end = NULL, stats = NULL;
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
      getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
    fail("listen");
  if ((errno = pthread_create(&t, NULL, server_main, (void *)(long)lfd)) != 0)
    fail("pthread_create");
  for (i = 0; i < PERF_WARMUP; i++)
    http_once(&sa, begin, end);
  if (stats && stats(&st0) < 0)
    fail("xray_get_stats");
  CALLGRIND_ZERO_STATS;
  CALLGRIND_START_INSTRUMENTATION;
  for (i = 0; i < n; i++)
    http_once(&sa, begin, end);
  CALLGRIND_STOP_INSTRUMENTATION;
  /* A figure is only worth gating when the path measured is the traced
   * one: every iteration must have sent its segment. */
  if (stats && (stats(&st1) < 0 || st1.documents_sent - st0.documents_sent != (unsigned long long)n ||
                st1.send_errors != st0.send_errors)) {
    fprintf(stderr, "perf_io: %llu documents sent (%llu send errors) for %ld traced requests\n",
            st1.documents_sent - st0.documents_sent, st1.send_errors - st0.send_errors, n);
    exit(1);
  }
  shutdown(lfd, SHUT_RDWR);
  pthread_join(t, NULL);
  close(lfd);
  return 0;
}

int main(int argc, char **argv)
{
  char *endp = NULL;
  long n;
  int rc;

  if (argc != 3)
    goto usage;
  n = strtol(argv[2], &endp, 10);
  if (!endp || *endp || n < 1)
    goto usage;
  if (strcmp(argv[1], "pipe") == 0)
    rc = run_pipe(n);
  else if (strcmp(argv[1], "http") == 0)
    rc = run_http(n);
  else
    goto usage;
  printf("ok\n");
  return rc;
usage:
  fprintf(stderr, "usage: perf_io pipe|http N\n");
  return 2;
}
