/*
 * signals: plain-socket HTTP clients whose signal handlers and vfork
 * children use traced and untraced descriptors. For
 * tests/integration/test_signals.py; it knows nothing of the library.
 *
 * Usage: signals MODE HTTP_PORT SINK_PORT [--workers N] [--requests N]
 *                [--us N] [--report FILE]
 *   MODE handlers   SIGALRM (setitimer every --us microseconds, delivered
 *                   to any thread) and SIGUSR1 (sent to the workers one by
 *                   one at the same rate) run a handler, SA_RESTART set
 *   MODE handlers-norestart   the same without SA_RESTART: blocking calls
 *                   return EINTR and are retried by the program
 *   MODE vfork      the main thread vforks 60 children, one after the
 *                   other, that use the inherited descriptors, then _exit
 *                   (every 5th: execve /bin/true)
 *
 * Workers (and in the handler modes the main thread too) make --requests
 * HTTP/1.1 requests each to HTTP_PORT (/ok, /chunked, /notfound, /big in
 * turn): even-numbered workers on one keep-alive connection for the whole
 * run, odd-numbered ones reconnecting every 5 requests. Every call that can
 * be interrupted is retried on EINTR, a connect interrupted is completed
 * with poll and SO_ERROR.
 *
 * The handler writes one byte each to a pipe, a socketpair and a UDP
 * socket (untraced), "\1tick\n" to one of 16 TCP connections to SINK_PORT
 * (traced until their first bytes show they are not HTTP: each one's first
 * bytes come from a handler), and a zero-length write, a zero-length send
 * and a MSG_PEEK recv on the HTTP connection the interrupted thread is
 * using and on every keep-alive one (traced, mid-request: no byte of the
 * HTTP streams changes).
 *
 * A vfork child does, on the inherited descriptors (the workers' HTTP
 * connections, the sink connections, and the library's UDP socket when
 * /proc/self/fd shows one the program did not open): zero-length
 * write/read and a peek, then close() of each, dup2() onto the UDP one,
 * close_range(3, ~0U, 0). Before that it connects a socket of its own to
 * SINK_PORT on the number of a keep-alive HTTP connection (dup2 onto it,
 * then connect: the child's connection has the number the parent's HTTP
 * connection has in the parent). Every 10th child first reads the
 * response to a request the parent sent on a connection of its own
 * ("steal": GET /ok?stolen=<k>) and writes "\1child\n" to a sink
 * connection.
 *
 * Stdout, identical with and without the preload: per thread its requests'
 * statuses and body bytes, and in vfork mode the children's results.
 * --report FILE: signals handled, and the descriptors open at the end that
 * the program did not open ("foreign=<n> udp=<n>"). Exit 0, or 1 with a
 * reason on stderr; a watchdog ends a hung run with 3 after 100 s.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The I/O retried on EINTR and the registry of its own numbers
 * (xr_it_mark_own, xr_it_foreign_fds). */
#include "it_common.h"

extern char **environ;

#define MAX_WORKERS 16
#define N_EVENTS 16
#define RECONNECT_EVERY 5
#define RESP_CAP (256 * 1024)

enum mode { M_HANDLERS, M_NORESTART, M_VFORK };

static enum mode mode;
static struct sockaddr_in http_sa, sink_sa, udp_rx_sa;
static int n_workers = 4, n_requests = 150, period_us = 200;
static FILE *report;
static int pipe_w, sp_w, udp_tx, udp_rx;
static int events[N_EVENTS];
static atomic_uint ev_next;
static atomic_int stable_fd[MAX_WORKERS + 1];
static atomic_int current_fd[MAX_WORKERS + 1];
static atomic_ulong n_signals;
static atomic_bool signals_on, draining = true;
static atomic_int finished;
static pthread_t worker_tid[MAX_WORKERS];
static _Thread_local int my_fd = -1;

static const char *const paths[] = {"/ok", "/chunked", "/notfound", "/big"};

struct result {
  int requests;
  int by_status[6]; /* 1xx..5xx */
  long long body_bytes;
};
static struct result results[MAX_WORKERS + 1];

static void *watchdog(void *arg)
{
  (void)arg;
  sleep(100);
  fprintf(stderr, "signals: watchdog: still running after 100 s\n");
  _exit(3);
}

/* ---- the handler ---------------------------------------------------- */

static void poke_http(int fd)
{
  char c;

  if (fd < 0)
    return;
  (void)write(fd, "", 0);
  (void)send(fd, "", 0, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
}

static void on_signal(int sig)
{
  int e = errno, w;
  unsigned k = atomic_fetch_add(&ev_next, 1);

  (void)sig;
  (void)write(pipe_w, "p", 1);
  (void)send(sp_w, "s", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)sendto(udp_tx, "u", 1, MSG_DONTWAIT, (struct sockaddr *)&udp_rx_sa,
               sizeof(udp_rx_sa));
  (void)write(events[k % N_EVENTS], "\1tick\n", 6);
  poke_http(my_fd);
  for (w = 0; w <= n_workers; w++)
    poke_http(atomic_load(&stable_fd[w]));
  atomic_fetch_add(&n_signals, 1);
  errno = e;
}

/* Sends SIGUSR1 to the workers in turn while signals are on. */
static void *signaller_main(void *arg)
{
  struct timespec ts = {0, (long)period_us * 1000};
  unsigned i = 0;

  (void)arg;
  while (atomic_load(&signals_on)) {
    pthread_kill(worker_tid[i++ % (unsigned)n_workers], SIGUSR1);
    nanosleep(&ts, NULL);
  }
  return NULL;
}

/* ---- I/O retried on EINTR (it_common.h: xr_it_write_all, xr_it_read,
 * xr_it_read_head, xr_it_connect_or_die, which completes a connect a
 * signal interrupted) ------------------------------------------------- */

/* Reads one response (Content-Length or chunked) to a request without a
 * body; sets the status and the body's length. */
static void read_response(int fd, char *buf, int *status, long long *body)
{
  size_t have = xr_it_read_head(fd, buf, RESP_CAP), head;
  char *end, *cl;
  ssize_t k;

  if (have == 0)
    xr_it_die("read response head");
  end = strstr(buf, "\r\n\r\n");
  head = (size_t)(end + 4 - buf);
  *status = atoi(buf + 9);
  cl = strcasestr(buf, "\r\nContent-Length:");
  if (cl && cl < end) {
    long long want = atoll(cl + 17);
    while ((long long)(have - head) < want) {
      k = xr_it_read(fd, buf + have, RESP_CAP - 1 - have);
      if (k <= 0)
        xr_it_die("read response body");
      have += (size_t)k;
    }
    *body = want;
    return;
  }
  /* Chunked: sizes and data until the 0-size chunk and its CRLF. */
  {
    size_t pos = head;
    long long total = 0;
    for (;;) {
      char *nl;
      long long size;
      buf[have] = '\0';
      nl = strstr(buf + pos, "\r\n");
      if (nl) {
        size = strtoll(buf + pos, NULL, 16);
        if (size == 0 && have >= (size_t)(nl + 4 - buf)) {
          *body = total;
          return;
        }
        if (size > 0 && have >= (size_t)(nl + 2 - buf) + (size_t)size + 2) {
          pos = (size_t)(nl + 2 - buf) + (size_t)size + 2;
          total += size;
          continue;
        }
      }
      k = xr_it_read(fd, buf + have, RESP_CAP - 1 - have);
      if (k <= 0)
        xr_it_die("read chunked body");
      have += (size_t)k;
    }
  }
}

static void request(int fd, const char *path, char *buf, struct result *r)
{
  char req[256];
  int n = snprintf(req, sizeof(req),
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: signals\r\n\r\n", path,
                   ntohs(http_sa.sin_port));
  int status = 0;
  long long body = 0;

  xr_it_write_all(fd, req, (size_t)n);
  read_response(fd, buf, &status, &body);
  r->requests++;
  if (status >= 100 && status < 600)
    r->by_status[status / 100]++;
  r->body_bytes += body;
}

static int open_http(int slot)
{
  int fd = xr_it_connect_or_die(&http_sa);

  xr_it_mark_own(fd, true);
  my_fd = fd;
  atomic_store(&current_fd[slot], fd);
  return fd;
}

static void close_http(int slot, int fd)
{
  my_fd = -1;
  atomic_store(&current_fd[slot], -1);
  close(fd);
  xr_it_mark_own(fd, false);
}

/* Worker w's requests; slot n_workers is the main thread. */
static void run_requests(int slot, bool stable)
{
  char *buf = malloc(RESP_CAP);
  int fd = -1, i;

  if (!buf)
    xr_it_die("malloc");
  for (i = 0; i < n_requests; i++) {
    if (fd < 0) {
      fd = open_http(slot);
      if (stable)
        atomic_store(&stable_fd[slot], fd);
    }
    request(fd, paths[i % 4], buf, &results[slot]);
    if (!stable && (i + 1) % RECONNECT_EVERY == 0) {
      close_http(slot, fd);
      fd = -1;
    }
  }
  atomic_fetch_add(&finished, 1);
  if (fd >= 0) {
    if (stable) {
      /* Handlers read stable_fd: closed once they are off. */
      while (atomic_load(&signals_on))
        usleep(1000);
      atomic_store(&stable_fd[slot], -1);
    }
    close_http(slot, fd);
  }
  free(buf);
}

static void *worker_main(void *arg)
{
  int w = (int)(intptr_t)arg;

  run_requests(w, w % 2 == 0);
  return NULL;
}

/* Reads and discards what the handlers write to the untraced descriptors
 * until end of stream (or, for UDP, the stop flag). */
static void *drain_main(void *arg)
{
  int fd = (int)(intptr_t)arg;
  char buf[4096];

  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    ssize_t k;
    if (poll(&p, 1, 100) <= 0)
      continue;
    k = read(fd, buf, sizeof(buf));
    if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
      return NULL;
  }
}

/* The UDP one: until told. */
static void *drain_udp_main(void *arg)
{
  char buf[4096];

  (void)arg;
  while (atomic_load(&draining)) {
    struct pollfd p = {.fd = udp_rx, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 50) > 0)
      (void)recv(udp_rx, buf, sizeof(buf), MSG_DONTWAIT);
  }
  return NULL;
}

/* ---- vfork ------------------------------------------------------------ */

static int udp_foreign(int *fd)
{
  int fds[64], n = xr_it_foreign_fds(fds, 64), i, udp = 0;

  *fd = -1;
  for (i = 0; i < n; i++) {
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM) {
      udp++;
      *fd = fds[i];
    }
  }
  return udp;
}

/* One vfork child; returns its exit status as the parent saw it. Only
 * system-call wrappers run in the child. */
static int vfork_child(int k)
{
  int fds[2 * MAX_WORKERS + N_EVENTS + 4], n = 0, w, emitter, i, status = 0;
  int keep = atomic_load(&stable_fd[k % n_workers & ~1]);
  volatile int steal = -1; /* read by the parent after vfork */
  static char true_path[] = "/bin/true";
  char *argv[] = {true_path, NULL};
  pid_t pid;

  (void)udp_foreign(&emitter);
  for (w = 0; w < n_workers; w++) {
    int fd = atomic_load(&current_fd[w]);
    if (fd >= 0)
      fds[n++] = fd;
  }
  for (i = 0; i < N_EVENTS; i++)
    fds[n++] = events[i];
  if (k % 10 == 0) {
    char req[160];
    int len;
    steal = xr_it_connect_or_die(&http_sa);
    xr_it_mark_own(steal, true);
    len = snprintf(req, sizeof(req),
                   "GET /ok?stolen=%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   "User-Agent: signals\r\n\r\n", k, ntohs(http_sa.sin_port));
    xr_it_write_all(steal, req, (size_t)len);
  }
  pid = vfork();
  if (pid == 0) {
    char c, buf[512];
    int code = 0;
    if (steal >= 0) {
      /* The response to the parent's request: head and "ok\n". */
      size_t have = 0;
      ssize_t got;
      while (have < sizeof(buf) - 1 && (got = read(steal, buf + have, sizeof(buf) - 1 - have)) > 0) {
        have += (size_t)got;
        buf[have] = '\0';
        if (strstr(buf, "\r\n\r\nok\n"))
          break;
      }
      code = strncmp(buf, "HTTP/1.1 200 ", 13) == 0 && strstr(buf, "\r\n\r\nok\n") ? 0 : 10;
      (void)write(events[0], "\1child\n", 7);
    }
    for (i = 0; i < n; i++) {
      (void)write(fds[i], "", 0);
      (void)read(fds[i], &c, 0);
      (void)recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
    }
    if (emitter >= 0) {
      (void)write(emitter, "", 0);
      (void)dup2(0, emitter);
      (void)close(emitter);
    }
    if (keep >= 0) {
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s >= 0 && s != keep && dup2(s, keep) == keep &&
          connect(keep, (struct sockaddr *)&sink_sa, sizeof(sink_sa)) == 0)
        (void)write(keep, "\1child-connect\n", 15);
      if (s >= 0 && s != keep)
        (void)close(s);
    }
    for (i = 0; i < n; i++)
      (void)close(fds[i]);
    if (steal >= 0)
      (void)close(steal);
    (void)close_range(3, ~0U, 0);
    if (k % 5 == 4 && code == 0)
      execve(argv[0], argv, environ);
    _exit(code);
  }
  if (pid < 0)
    xr_it_die("vfork");
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      xr_it_die("waitpid");
  if (steal >= 0) {
    close(steal);
    xr_it_mark_own(steal, false);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- main ------------------------------------------------------------- */

static void set_handlers(void)
{
  struct sigaction act;
  struct itimerval it;

  memset(&act, 0, sizeof(act));
  act.sa_handler = on_signal;
  act.sa_flags = mode == M_HANDLERS ? SA_RESTART : 0;
  sigemptyset(&act.sa_mask);
  if (sigaction(SIGALRM, &act, NULL) < 0 || sigaction(SIGUSR1, &act, NULL) < 0)
    xr_it_die("sigaction");
  it.it_interval.tv_sec = 0;
  it.it_interval.tv_usec = period_us;
  it.it_value = it.it_interval;
  if (setitimer(ITIMER_REAL, &it, NULL) < 0)
    xr_it_die("setitimer");
}

static void stop_handlers(void)
{
  struct itimerval off;

  memset(&off, 0, sizeof(off));
  setitimer(ITIMER_REAL, &off, NULL);
  atomic_store(&signals_on, false);
}

static void print_result(const char *who, int i, const struct result *r)
{
  printf("%s %d requests=%d 2xx=%d 4xx=%d 5xx=%d body_bytes=%lld\n", who, i, r->requests,
         r->by_status[2], r->by_status[4], r->by_status[5], r->body_bytes);
}

int main(int argc, char **argv)
{
  pthread_t wd, sig_thread, drains[3], workers[MAX_WORKERS];
  int pipefd[2], sp[2], i, w, children = 0, bad_children = 0, udp = 0, emitter;
  socklen_t len = sizeof(udp_rx_sa);
  sigset_t block, old;

  if (argc < 4) {
    fprintf(stderr, "usage: signals handlers|handlers-norestart|vfork HTTP_PORT SINK_PORT "
                    "[--workers N] [--requests N] [--us N] [--report FILE]\n");
    return 2;
  }
  if (strcmp(argv[1], "handlers") == 0)
    mode = M_HANDLERS;
  else if (strcmp(argv[1], "handlers-norestart") == 0)
    mode = M_NORESTART;
  else if (strcmp(argv[1], "vfork") == 0)
    mode = M_VFORK;
  else
    return 2;
  for (i = 4; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--workers") == 0)
      n_workers = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--requests") == 0)
      n_requests = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--us") == 0)
      period_us = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--report") == 0 && !(report = fopen(argv[i + 1], "we")))
      xr_it_die("--report");
  }
  if (n_workers < 1 || n_workers > MAX_WORKERS || period_us < 1)
    return 2;
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);
  for (i = 0; i < 3; i++)
    xr_it_mark_own(i, true);
  if (report)
    xr_it_mark_own(fileno(report), true);
  memset(&http_sa, 0, sizeof(http_sa));
  http_sa.sin_family = AF_INET;
  http_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  http_sa.sin_port = htons((uint16_t)atoi(argv[2]));
  sink_sa = http_sa;
  sink_sa.sin_port = htons((uint16_t)atoi(argv[3]));
  for (w = 0; w <= MAX_WORKERS; w++) {
    atomic_store(&stable_fd[w], -1);
    atomic_store(&current_fd[w], -1);
  }

  /* The helper threads never take the signals: workers and main do. */
  sigemptyset(&block);
  sigaddset(&block, SIGALRM);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  pthread_create(&wd, NULL, watchdog, NULL);
  if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
    xr_it_die("pipe/socketpair");
  pipe_w = pipefd[1];
  sp_w = sp[0];
  udp_tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  udp_rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  udp_rx_sa = http_sa;
  udp_rx_sa.sin_port = 0;
  if (udp_tx < 0 || udp_rx < 0 || bind(udp_rx, (struct sockaddr *)&udp_rx_sa, len) < 0 ||
      getsockname(udp_rx, (struct sockaddr *)&udp_rx_sa, &len) < 0)
    xr_it_die("udp");
  for (i = 0; i < 2; i++) {
    xr_it_mark_own(pipefd[i], true);
    xr_it_mark_own(sp[i], true);
  }
  xr_it_mark_own(udp_tx, true);
  xr_it_mark_own(udp_rx, true);
  for (i = 0; i < N_EVENTS; i++) {
    events[i] = xr_it_connect_or_die(&sink_sa);
    if (fcntl(events[i], F_SETFL, O_NONBLOCK) < 0)
      xr_it_die("fcntl");
    xr_it_mark_own(events[i], true);
  }
  pthread_create(&drains[0], NULL, drain_main, (void *)(intptr_t)pipefd[0]);
  pthread_create(&drains[1], NULL, drain_main, (void *)(intptr_t)sp[1]);
  pthread_create(&drains[2], NULL, drain_udp_main, NULL);

  if (mode != M_VFORK) {
    atomic_store(&signals_on, true);
    set_handlers();
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  for (w = 0; w < n_workers; w++)
    pthread_create(&workers[w], NULL, worker_main, (void *)(intptr_t)w);
  for (w = 0; w < n_workers; w++)
    worker_tid[w] = workers[w];
  if (mode != M_VFORK) {
    pthread_sigmask(SIG_BLOCK, &block, &old);
    pthread_create(&sig_thread, NULL, signaller_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    run_requests(n_workers, false);
    /* Until every worker is done: the stable ones wait for this. */
    while (atomic_load(&finished) < n_workers + 1)
      usleep(1000);
    stop_handlers();
    pthread_join(sig_thread, NULL);
  } else {
    /* While the workers make their requests. */
    for (children = 0; children < 60; children++)
      bad_children += vfork_child(children) != 0;
  }
  /* Signals are off: block them, then let the last ones run out. */
  pthread_sigmask(SIG_BLOCK, &block, NULL);
  for (w = 0; w < n_workers; w++)
    pthread_join(workers[w], NULL);
  close(pipefd[1]);
  close(sp[0]);
  xr_it_mark_own(pipefd[1], false);
  xr_it_mark_own(sp[0], false);
  atomic_store(&draining, false);
  for (i = 0; i < 3; i++)
    pthread_join(drains[i], NULL);
  for (i = 0; i < N_EVENTS; i++) {
    /* Each sink connection's first bytes, if no handler's came first. */
    (void)write(events[i], "\1end\n", 5);
    close(events[i]);
    xr_it_mark_own(events[i], false);
  }
  for (w = 0; w < n_workers; w++)
    print_result("worker", w, &results[w]);
  if (mode != M_VFORK)
    print_result("main", 0, &results[n_workers]);
  else
    printf("vfork children=%d failed=%d\n", children, bad_children);
  udp = udp_foreign(&emitter);
  if (report) {
    int fds[64];
    fprintf(report, "signals=%lu children=%d foreign=%d udp=%d\n", atomic_load(&n_signals),
            children, xr_it_foreign_fds(fds, 64), udp);
    fclose(report);
  }
  return 0;
}
