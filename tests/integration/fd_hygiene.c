/*
 * fd_hygiene: a program that closes every descriptor it did not open and
 * at once reuses the numbers for TCP connections of its own, while its
 * threads make HTTP requests to its own server thread (traced under the
 * preload: documents are being sent during the closes). For
 * tests/integration/test_fd_hygiene.py; it knows nothing of the library.
 *
 * Usage: fd_hygiene SINK_PORT MODES ROUNDS [--workers N] [--pace-us N]
 *                   [--frames N] [--conns N] [--report FILE]
 *   MODES: comma-separated, each run ROUNDS times:
 *     range      close_range(first, ~0U, 0) over what is not its own
 *     loop       close() on every number up to the rlimit (at most 65536)
 *     procfd     close() on every number listed in /proc/self/fd
 *     dup2       dup2() a new connection onto numbers listed in /proc/self/fd
 *     rawrange   syscall(SYS_close_range, ...): no libc entry point at all
 *     closefrom  glibc's closefrom(), which calls close_range inside libc
 *                (hooked for that reason)
 *
 * Its own descriptors: 0-2, a listening socket, and per worker a
 * keep-alive connection and the server thread's end of it, all opened
 * before any request; later the sink connections and the marked requests
 * of the main thread while they are open. Anything else is not its own.
 *
 * Each round: (report) the numbers not its own; the close; then --conns
 * connections to SINK_PORT (the lowest free numbers: the ones just
 * closed), on which it writes "HELLO <id>\n" and --frames lines
 * "<id> <i> <fnv1a-32 of "<id>:<i>" in hex>\n", --pace-us apart, then
 * closes them; then one request GET /mark/<mode>/<round> on a new
 * connection to its own server. Stdout: "sink <id> <bytes>" per sink
 * connection and "mark <mode> <round> <status>" per marked request,
 * identical with and without the preload. --report FILE gets, per round,
 * "<mode> <round> foreign=<n> udp=<n> stream=<n> other=<n> sent=<n>": what
 * was open and not its own before the close, and the documents the
 * library had sent by then (-1 without it); at the end its counters
 * ("stats sent=<n> errors=<n>"). Exit 0, or 1 with a reason on stderr; a
 * watchdog ends a hung run with 3 after 100 s, saying where it was.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Its I/O helpers and the registry of its own numbers (xr_it_mark_own,
 * xr_it_foreign_fds); the library's counters (xray_get_stats, weak: absent
 * without it) are for the report only. */
#include "it_common.h"

#define MAX_WORKERS 16
#define MAX_CONNS 64

static atomic_bool stop;
static struct sockaddr_in srv_sa, sink_sa;
static int n_workers = 3, pace_us = 500, frames = 20, n_conns = 4;
static FILE *report;
/* Where the main thread is, for the watchdog's message. */
static char stage[96] = "setup";

static void *watchdog(void *arg)
{
  (void)arg;
  sleep(100);
  fprintf(stderr, "fd_hygiene: watchdog: still running after 100 s, at %s\n", stage);
  _exit(3);
}

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

/* The server end of one worker's keep-alive connection. xr_it_read_head
 * reads one head at a time: keep-alive peers send nothing after it that
 * belongs to the next message before this one is answered. */
static void *server_main(void *arg)
{
  int fd = (int)(intptr_t)arg;
  char buf[1024];

  while (xr_it_read_head(fd, buf, sizeof(buf)) > 0)
    xr_it_write_all(fd, response, sizeof(response) - 1);
  return NULL;
}

/* Reads a response of ours (head + "ok\n"): true when it is 200. */
static bool read_response(int fd)
{
  char buf[1024];
  size_t have = xr_it_read_head(fd, buf, sizeof(buf));
  char *body;

  if (have == 0) {
    errno = ECONNRESET;
    xr_it_die("response");
  }
  body = strstr(buf, "\r\n\r\n") + 4;
  while ((size_t)(body - buf) + 3 > have) {
    ssize_t k = read(fd, buf + have, sizeof(buf) - 1 - have);
    if (k <= 0)
      xr_it_die("read body");
    have += (size_t)k;
  }
  return strncmp(buf, "HTTP/1.1 200 ", 13) == 0;
}

static void *worker_main(void *arg)
{
  int fd = (int)(intptr_t)arg;
  char req[128];
  unsigned i = 0;

  while (!atomic_load(&stop)) {
    int n = snprintf(req, sizeof(req), "GET /work/%d/%u HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                     fd, i++);
    xr_it_write_all(fd, req, (size_t)n);
    if (!read_response(fd)) {
      fprintf(stderr, "fd_hygiene: worker: not a 200\n");
      exit(1);
    }
    if (pace_us)
      usleep((useconds_t)pace_us);
  }
  close(fd);
  return NULL;
}

/* Serves the marked requests: one at a time, Connection: close. */
static void *acceptor_main(void *arg)
{
  static const char closing[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                "Connection: close\r\n\r\nok\n";
  int l = (int)(intptr_t)arg;
  char buf[1024];

  for (;;) {
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      xr_it_die("accept");
    }
    if (xr_it_read_head(c, buf, sizeof(buf)) > 0)
      xr_it_write_all(c, closing, sizeof(closing) - 1);
    close(c);
  }
  return NULL;
}

static void marked_request(const char *mode, int round)
{
  char req[160], buf[1024];
  size_t have = 0;
  int s = xr_it_connect_or_die(&srv_sa), n;
  ssize_t k;

  xr_it_mark_own(s, true);
  n = snprintf(req, sizeof(req),
               "GET /mark/%s/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
               mode, round);
  xr_it_write_all(s, req, (size_t)n);
  /* To the end of the stream: the server's end is closed by then. */
  while ((k = read(s, buf + have, sizeof(buf) - 1 - have)) > 0)
    have += (size_t)k;
  buf[have] = '\0';
  close(s);
  xr_it_mark_own(s, false);
  printf("mark %s %d %.3s\n", mode, round, have > 12 ? buf + 9 : "---");
}

static uint32_t fnv1a(const char *s)
{
  uint32_t h = 2166136261u;

  while (*s)
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static void report_round(const char *mode, int round)
{
  int fds[256], n = xr_it_foreign_fds(fds, 256), i, udp = 0, stream = 0, other = 0;

  for (i = 0; i < n; i++) {
    int type = 0;
    socklen_t len = sizeof(type);
    /* SO_TYPE through libc: a getsockopt, as any program would. */
    if (getsockopt(fds[i], SOL_SOCKET, SO_TYPE, &type, &len) < 0)
      other++;
    else if (type == SOCK_DGRAM)
      udp++;
    else if (type == SOCK_STREAM)
      stream++;
    else
      other++;
  }
  if (report) {
    struct xray_stats st;
    long long sent = -1;
    if (xray_get_stats && xray_get_stats(&st) == 0)
      sent = (long long)st.documents_sent;
    fprintf(report, "%s %d foreign=%d udp=%d stream=%d other=%d sent=%lld\n", mode, round, n,
            udp, stream, other, sent);
    fflush(report);
  }
}

/* The highest number it owns: everything above is not its own. */
static int own_max(void)
{
  int fd;

  for (fd = XR_IT_MAX_FD - 1; fd > 2; fd--)
    if (xr_it_is_own(fd))
      return fd;
  return 2;
}

static void close_not_own(const char *mode)
{
  int top = own_max(), fd;

  if (strcmp(mode, "range") == 0) {
    /* The gaps between its own numbers, then everything above them. */
    int from = 3;
    for (fd = 3; fd <= top + 1; fd++) {
      if (fd <= top && !xr_it_is_own(fd))
        continue;
      if (fd > from && close_range((unsigned)from, (unsigned)fd - 1, 0) < 0)
        xr_it_die("close_range");
      from = fd + 1;
    }
    if (close_range((unsigned)top + 1, ~0U, 0) < 0)
      xr_it_die("close_range");
  } else if (strcmp(mode, "loop") == 0) {
    struct rlimit rl;
    int limit = XR_IT_MAX_FD;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)XR_IT_MAX_FD)
      limit = (int)rl.rlim_cur;
    for (fd = 3; fd < limit; fd++)
      if (!xr_it_is_own(fd))
        (void)close(fd);
  } else if (strcmp(mode, "procfd") == 0) {
    int fds[256], n = xr_it_foreign_fds(fds, 256), i;
    for (i = 0; i < n; i++)
      (void)close(fds[i]);
  } else if (strcmp(mode, "rawrange") == 0) {
    if (syscall(SYS_close_range, (unsigned)top + 1, ~0U, 0) < 0)
      xr_it_die("SYS_close_range");
  } else if (strcmp(mode, "closefrom") == 0) {
    closefrom(top + 1);
  } else if (strcmp(mode, "dup2") != 0) {
    fprintf(stderr, "fd_hygiene: unknown mode %s\n", mode);
    exit(2);
  }
}

static void sink_round(const char *mode, int round)
{
  int conns[MAX_CONNS], foreign[256], nforeign = 0, k, i;
  char id[64], line[128];
  size_t bytes[MAX_CONNS];

  if (strcmp(mode, "dup2") == 0)
    nforeign = xr_it_foreign_fds(foreign, 256);
  /* The lowest free numbers: those the close just freed. */
  for (k = 0; k < n_conns; k++) {
    conns[k] = xr_it_connect_or_die(&sink_sa);
    if (k < nforeign) {
      /* dup2 mode: the connection takes the number over, no close first. */
      int r;
      /* EBUSY (Linux): the number is being allocated right now. */
      while ((r = dup2(conns[k], foreign[k])) < 0 && errno == EBUSY)
        sched_yield();
      if (r != foreign[k])
        xr_it_die("dup2");
      close(conns[k]);
      conns[k] = foreign[k];
    }
    xr_it_mark_own(conns[k], true);
    bytes[k] = 0;
  }
  for (k = 0; k < n_conns; k++) {
    int n = snprintf(line, sizeof(line), "HELLO %s.%d.%d\n", mode, round, k);
    xr_it_write_all(conns[k], line, (size_t)n);
    bytes[k] += (size_t)n;
  }
  for (i = 0; i < frames; i++) {
    for (k = 0; k < n_conns; k++) {
      char key[96];
      int n;
      snprintf(id, sizeof(id), "%s.%d.%d", mode, round, k);
      snprintf(key, sizeof(key), "%s:%d", id, i);
      n = snprintf(line, sizeof(line), "%s %d %08x\n", id, i, fnv1a(key));
      xr_it_write_all(conns[k], line, (size_t)n);
      bytes[k] += (size_t)n;
    }
    if (pace_us)
      usleep((useconds_t)pace_us);
  }
  for (k = 0; k < n_conns; k++) {
    close(conns[k]);
    xr_it_mark_own(conns[k], false);
    printf("sink %s.%d.%d %zu\n", mode, round, k, bytes[k]);
  }
}

int main(int argc, char **argv)
{
  pthread_t wd, acc, workers[MAX_WORKERS], servers[MAX_WORKERS];
  socklen_t len = sizeof(srv_sa);
  char *modes, *mode, *save = NULL;
  int rounds, l, w, i, round;

  if (argc < 4) {
    fprintf(stderr, "usage: fd_hygiene SINK_PORT MODES ROUNDS [--workers N] [--pace-us N] "
                    "[--frames N] [--conns N] [--report FILE]\n");
    return 2;
  }
  for (i = 4; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--workers") == 0)
      n_workers = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--pace-us") == 0)
      pace_us = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--frames") == 0)
      frames = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--conns") == 0)
      n_conns = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--report") == 0 && !(report = fopen(argv[i + 1], "we")))
      xr_it_die("--report");
  }
  if (n_workers < 1 || n_workers > MAX_WORKERS || n_conns < 1 || n_conns > MAX_CONNS)
    return 2;
  rounds = atoi(argv[3]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  memset(&sink_sa, 0, sizeof(sink_sa));
  sink_sa.sin_family = AF_INET;
  sink_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sink_sa.sin_port = htons((uint16_t)atoi(argv[1]));
  pthread_create(&wd, NULL, watchdog, NULL);

  /* Its own numbers first: 0-2 (and the report file), the listener, each
   * worker's connection and the server's end of it. */
  for (i = 0; i < 3; i++)
    xr_it_mark_own(i, true);
  if (report)
    xr_it_mark_own(fileno(report), true);
  l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&srv_sa, 0, sizeof(srv_sa));
  srv_sa.sin_family = AF_INET;
  srv_sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (l < 0 || bind(l, (struct sockaddr *)&srv_sa, sizeof(srv_sa)) < 0 ||
      getsockname(l, (struct sockaddr *)&srv_sa, &len) < 0 || listen(l, 64) < 0)
    xr_it_die("listen");
  xr_it_mark_own(l, true);
  for (w = 0; w < n_workers; w++) {
    int c = xr_it_connect_or_die(&srv_sa), s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
      xr_it_die("accept");
    xr_it_mark_own(c, true);
    xr_it_mark_own(s, true);
    pthread_create(&servers[w], NULL, server_main, (void *)(intptr_t)s);
    pthread_create(&workers[w], NULL, worker_main, (void *)(intptr_t)c);
  }
  pthread_create(&acc, NULL, acceptor_main, (void *)(intptr_t)l);
  /* Some traced work before the first close. */
  marked_request("start", 0);

  modes = strdup(argv[2]);
  for (mode = strtok_r(modes, ",", &save); mode; mode = strtok_r(NULL, ",", &save)) {
    for (round = 0; round < rounds; round++) {
      snprintf(stage, sizeof(stage), "%s round %d: close", mode, round);
      report_round(mode, round);
      close_not_own(mode);
      snprintf(stage, sizeof(stage), "%s round %d: sink", mode, round);
      sink_round(mode, round);
      snprintf(stage, sizeof(stage), "%s round %d: marked request", mode, round);
      marked_request(mode, round);
    }
  }
  atomic_store(&stop, true);
  for (w = 0; w < n_workers; w++) {
    pthread_join(workers[w], NULL);
    pthread_join(servers[w], NULL);
  }
  marked_request("end", 0);
  if (report && xray_get_stats) {
    struct xray_stats st;
    if (xray_get_stats(&st) == 0)
      fprintf(report, "stats sent=%llu errors=%llu\n", st.documents_sent, st.send_errors);
  }
  free(modes);
  printf("done\n");
  return 0;
}
