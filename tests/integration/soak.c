/*
 * soak - a long run of plain-socket operations the sockets layer traces,
 * mixed with the descriptor games real programs play, sampling the
 * process's memory and descriptors at checkpoints. An ordinary program: the
 * C API only through weak references, so it runs the same without the
 * library. tests/integration/test_soak.py runs it with and without the
 * preload.
 *
 *   soak --serve
 *       The peer: an HTTP/1.1 server on 127.0.0.1, a thread per connection,
 *       every request answered "200 ok"; a request with "Connection: close"
 *       gets "Connection: close" and the server closes first (its side keeps
 *       the TIME_WAIT, so that the client's churn never runs out of ports).
 *       Prints "PORT <n>". Run without the preload.
 *   soak --port P --refused-port R [--ops 1000000] [--threads 4]
 *        [--round 10000] [--checkpoints 10] [--batch 25] [--smaps DIR]
 *       ops traced operations in rounds of round operations; a round runs in
 *       threads fresh threads (thread churn), each with a keep-alive
 *       connection of its own, doing round/threads consecutive operations
 *       g; by g % 20:
 *         0, 10   refused: connect to R (nothing listens) -> ECONNREFUSED
 *         5, 15   churn: connect, GET /s/<g> with Connection: close, close
 *                 (descriptor numbers and connection records reused)
 *         3       dup: GET /s/<g> on dup(keep-alive socket), close the dup
 *         13      dup2: the keep-alive socket dup2'ed over a descriptor
 *                 holding a pipe end, GET /s/<g> on it, close it
 *         others  keep-alive: GET /s/<g>
 *       and around each one untraced calls (a byte through a pipe, a
 *       non-socket read). Operations are grouped 'batch' to a segment
 *       (xray_begin_segment "soak"), except every 20th batch, left outside
 *       any segment (XRAY_AUTO_SEGMENT=call: a segment per operation).
 *       After every ops/checkpoints operations (all threads joined) one
 *       stderr line:
 *         soak-checkpoint <k> ops=<n> rss_kb=<VmRSS> heap=<malloc in use>
 *                         fds=<open descriptors> dgram=<datagram sockets among them>
 *       (checkpoint 0 is taken before the first operation); with --smaps, a
 *       copy of /proc/self/smaps as DIR/smaps.<k> (the files are opened
 *       after the fd count).
 *
 * stdout: the operation counts (identical with and without the preload).
 * stderr: the checkpoints and, with the library, "xr-stats soak pid=<pid> sent=..."
 * (xray_get_stats). Exit status 0 when every operation did what it should.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it_common.h"
#include "xray-auto.h"

#pragma weak xray_begin_segment
#pragma weak xray_end_segment

static int sk_port, sk_refused_port;
static long sk_ops = 1000000, sk_round = 10000;
static int sk_threads = 4, sk_checkpoints = 10, sk_batch = 25;
static const char *sk_smaps_dir;

/* ---- client ------------------------------------------------------------ */

enum { SK_KEEPALIVE, SK_REFUSED, SK_CHURN, SK_DUP, SK_DUP2, SK_NKINDS };
static const char *const sk_kind_names[SK_NKINDS] = {"keepalive", "refused", "churn", "dup",
                                                     "dup2"};

static int sk_kind(long g)
{
  switch (g % 20) {
  case 0:
  case 10:
    return SK_REFUSED;
  case 5:
  case 15:
    return SK_CHURN;
  case 3:
    return SK_DUP;
  case 13:
    return SK_DUP2;
  default:
    return SK_KEEPALIVE;
  }
}

/* GET /s/<g> on fd; 0 when the exact response came back. */
static int sk_request(int fd, long g, bool close_it)
{
  char path[32];

  snprintf(path, sizeof(path), "/s/%ld", g);
  return xr_it_request(fd, sk_port, path, close_it);
}

struct sk_worker {
  pthread_t th;
  int idx;
  long first, count; /* operations g = first .. first + count - 1 */
  long done[SK_NKINDS], failed;
};

/* Untraced calls around each operation: a byte through a pipe. */
static int sk_untraced(const int pipefd[2])
{
  char b = 'x';

  return write(pipefd[1], &b, 1) == 1 && read(pipefd[0], &b, 1) == 1 ? 0 : -1;
}

static int sk_op(struct sk_worker *w, int ka, const int pipefd[2], long g)
{
  int kind = sk_kind(g), fd, rc = -1, high = 500 + w->idx;
  struct sockaddr_in sa;

  switch (kind) {
  case SK_REFUSED:
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      break;
    xr_it_addr(&sa, sk_refused_port);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == ECONNREFUSED ? 0 : -1;
    close(fd);
    break;
  case SK_CHURN:
    fd = xr_it_connect(sk_port);
    if (fd < 0)
      break;
    rc = sk_request(fd, g, true);
    close(fd);
    break;
  case SK_DUP:
    fd = dup(ka);
    if (fd < 0)
      break;
    rc = sk_request(fd, g, false);
    close(fd);
    break;
  case SK_DUP2:
    /* The number first holds an untraced descriptor, replaced by dup2. */
    if (dup2(pipefd[0], high) != high || dup2(ka, high) != high)
      break;
    rc = sk_request(high, g, false);
    close(high);
    break;
  default:
    rc = sk_request(ka, g, false);
    break;
  }
  if (rc == 0)
    w->done[kind]++;
  return rc;
}

static void *sk_worker_main(void *arg)
{
  struct sk_worker *w = arg;
  int ka = xr_it_connect(sk_port), pipefd[2] = {-1, -1};
  long g, end = w->first + w->count;
  bool open_seg = false;

  if (ka < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
    w->failed = w->count;
    goto out;
  }
  for (g = w->first; g < end; g++) {
    long batch = g / sk_batch;
    bool in_segment = batch % 20 != 19;

    if (g % sk_batch == 0 && in_segment && xray_begin_segment)
      open_seg = xray_begin_segment("soak", NULL) == 0;
    if (sk_untraced(pipefd) != 0 || sk_op(w, ka, pipefd, g) != 0)
      w->failed++;
    if ((g % sk_batch == sk_batch - 1 || g == end - 1) && open_seg) {
      (void)xray_end_segment();
      open_seg = false;
    }
  }
out:
  if (ka >= 0)
    close(ka);
  if (pipefd[0] >= 0) {
    close(pipefd[0]);
    close(pipefd[1]);
  }
  return NULL;
}

/* ---- measurements ------------------------------------------------------ */

static long sk_rss_kb(void)
{
  char buf[256];
  long size = 0, resident = 0;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return -1;
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  if (sscanf(buf, "%ld %ld", &size, &resident) != 2)
    return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Open descriptors, and how many of them are datagram sockets. */
static int sk_fds(int *dgram)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  *dgram = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL) {
    int fd, type = 0;
    socklen_t len = sizeof(type);

    if (e->d_name[0] == '.')
      continue;
    n++;
    fd = atoi(e->d_name);
    if (fd != dirfd(d) && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
        type == SOCK_DGRAM)
      (*dgram)++;
  }
  closedir(d);
  return n - 1; /* the directory's own descriptor */
}

/* A copy of /proc/self/smaps as DIR/smaps.<k>: which mapping grew. */
static void sk_copy_smaps(int k)
{
  char path[4096], buf[65536];
  int in, out;
  ssize_t n;

  snprintf(path, sizeof(path), "%s/smaps.%d", sk_smaps_dir, k);
  in = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, (size_t)n) != n)
      break;
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
}

static void sk_checkpoint(int k, long ops)
{
  struct mallinfo2 mi = mallinfo2();
  int dgram, fds = sk_fds(&dgram);

  fprintf(stderr, "soak-checkpoint %d ops=%ld rss_kb=%ld heap=%zu fds=%d dgram=%d\n", k, ops,
          sk_rss_kb(), mi.uordblks + mi.hblkhd, fds, dgram);
  fflush(stderr);
  if (sk_smaps_dir)
    sk_copy_smaps(k);
}

static long sk_num(const char *s, long min)
{
  char *end;
  long v = strtol(s, &end, 10);

  if (*end || v < min) {
    fprintf(stderr, "soak: bad number %s\n", s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv)
{
  struct sk_worker *ws;
  long total[SK_NKINDS] = {0}, failed = 0, g = 0, per;
  int i, k, rounds, every;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--serve") == 0)
      return xr_it_serve();
    if (i + 1 >= argc)
      goto usage;
    if (strcmp(a, "--port") == 0)
      sk_port = (int)sk_num(argv[++i], 1);
    else if (strcmp(a, "--refused-port") == 0)
      sk_refused_port = (int)sk_num(argv[++i], 1);
    else if (strcmp(a, "--ops") == 0)
      sk_ops = sk_num(argv[++i], 1);
    else if (strcmp(a, "--threads") == 0)
      sk_threads = (int)sk_num(argv[++i], 1);
    else if (strcmp(a, "--round") == 0)
      sk_round = sk_num(argv[++i], 1);
    else if (strcmp(a, "--checkpoints") == 0)
      sk_checkpoints = (int)sk_num(argv[++i], 1);
    else if (strcmp(a, "--batch") == 0)
      sk_batch = (int)sk_num(argv[++i], 1);
    else if (strcmp(a, "--smaps") == 0)
      sk_smaps_dir = argv[++i];
    else
      goto usage;
  }
  per = sk_round / sk_threads;
  rounds = (int)(sk_ops / sk_round);
  every = rounds / sk_checkpoints;
  if (!sk_port || !sk_refused_port || per * sk_threads != sk_round ||
      (long)rounds * sk_round != sk_ops || every * sk_checkpoints != rounds) {
    fprintf(stderr, "soak: ops must be rounds x round, round threads x n, rounds "
                    "checkpoints x n\n");
    goto usage;
  }
  ws = calloc((size_t)sk_threads, sizeof(*ws));
  if (!ws)
    return 1;
  sk_checkpoint(0, 0);
  for (k = 0; k < rounds; k++) {
    for (i = 0; i < sk_threads; i++) {
      memset(&ws[i], 0, sizeof(ws[i]));
      ws[i].idx = i;
      ws[i].first = g + i * per;
      ws[i].count = per;
      if (pthread_create(&ws[i].th, NULL, sk_worker_main, &ws[i]) != 0) {
        fprintf(stderr, "soak: pthread_create failed\n");
        return 1;
      }
    }
    for (i = 0; i < sk_threads; i++) {
      int j;

      pthread_join(ws[i].th, NULL);
      failed += ws[i].failed;
      for (j = 0; j < SK_NKINDS; j++)
        total[j] += ws[i].done[j];
    }
    g += sk_round;
    if ((k + 1) % every == 0)
      sk_checkpoint((k + 1) / every, g);
  }
  printf("ops %ld failed %ld\n", g, failed);
  for (i = 0; i < SK_NKINDS; i++)
    printf("%s %ld\n", sk_kind_names[i], total[i]);
  fflush(stdout);
  xr_it_report_stats("soak");
  free(ws);
  return failed ? 1 : 0;
usage:
  fprintf(stderr, "usage: soak --serve | soak --port P --refused-port R [--ops N] "
                  "[--threads N] [--round N] [--checkpoints N] [--batch N]\n");
  return 2;
}
