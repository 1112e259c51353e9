/*
 * fork_storm - many threads making plain-socket HTTP/1.1 requests while
 * they fork, vfork+exec, posix_spawn and system() children that make
 * requests of their own. An ordinary program: it reaches the C API only
 * through weak references, so it runs the same without the library.
 * tests/integration/test_fork_storm.py runs it with and without the
 * preload and checks the documents.
 *
 *   fork_storm --serve
 *       The peer: an HTTP/1.1 keep-alive server on 127.0.0.1 (a thread per
 *       connection, every request answered "200 ok"); prints "PORT <n>".
 *       Run without the preload.
 *   fork_storm --port P [--threads 64] [--ops 10000] [--batch 25]
 *              [--spawn-every 1000] [--child-ops 10]
 *       The storm. Thread t opens a segment named "t-<t>" (xray_begin_segment)
 *       for every batch of its ops, each op being one keep-alive request
 *       GET /t/<t>/<i>. Every spawn-every ops (at the middle of the interval)
 *       it starts one child, the kind rotating over
 *         f  fork, the child returns with _exit
 *         x  fork, the child returns with exit (atexit, destructors)
 *         v  vfork + execve of this program
 *         p  posix_spawn of this program
 *         s  system("this program ...") (through /bin/sh)
 *       and waits for it. The child n of thread t opens one segment
 *       "<kind>-<t>-<n>" and makes child-ops requests GET /<kind>/<t>/<n>/<i>
 *       on a connection of its own; a fork child first closes the
 *       forking thread's connection (inherited, followed by the library).
 *   fork_storm --child KIND T N --port P --child-ops C
 *       What the exec'd children (v, p, s) run.
 *
 * stdout: counts only (requests made and answered, children started and
 * exited 0): identical with and without the preload. stderr: with the
 * library, one line per process "xr-stats <who> pid=<pid> sent=... " from
 * xray_get_stats, written with one write(2) (fork children must not take
 * stdio locks another thread may have held at fork time).
 * Exit status: 0 when every request was answered and every child exited 0.
 * Every child arms alarm(60): a child that deadlocks dies of SIGALRM and is
 * counted as failed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "it_common.h"
#include "xray-auto.h"

#pragma weak xray_begin_segment
#pragma weak xray_end_segment

extern char **environ;

#define FS_KINDS "fxvps"
#define FS_NKINDS 5
#define FS_CHILD_ALARM 60

static int fs_port;
static int fs_threads = 64, fs_ops = 10000, fs_batch = 25, fs_spawn_every = 1000,
           fs_child_ops = 10;
static char fs_self[PATH_MAX];

/* A child's work: one segment, child-ops requests on its own connection.
 * Returns the exit status. */
static int fs_child_work(char kind, int t, int n)
{
  char name[64], path[96];
  int fd, i, bad = 0;

  snprintf(name, sizeof(name), "%c-%d-%d", kind, t, n);
  if (xray_begin_segment && xray_begin_segment(name, NULL) != 0)
    bad++;
  fd = xr_it_connect(fs_port);
  if (fd < 0) {
    bad++;
  } else {
    for (i = 0; i < fs_child_ops; i++) {
      snprintf(path, sizeof(path), "/%c/%d/%d/%d", kind, t, n, i);
      if (xr_it_request(fd, fs_port, path, false) != 0)
        bad++;
    }
    close(fd);
  }
  if (xray_end_segment && xray_end_segment() != 0)
    bad++;
  xr_it_report_stats(name);
  return bad ? 1 : 0;
}

struct fs_thread {
  pthread_t th;
  int id;
  int fd;
  long ok, failed;             /* requests */
  int started[FS_NKINDS];      /* children started, by kind */
  int exited0[FS_NKINDS];      /* children that exited 0, by kind */
};

static void fs_note(struct fs_thread *t, int k, int status, pid_t pid)
{
  char line[160];
  int n;

  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    t->exited0[k]++;
    return;
  }
  n = snprintf(line, sizeof(line), "fork_storm: child %c of thread %d (pid %ld): %s %d\n",
               FS_KINDS[k], t->id, (long)pid,
               WIFSIGNALED(status) ? "killed by signal" : "exit status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
  (void)!write(2, line, (size_t)n);
}

/* vfork's child may only exec or _exit; kept out of line so that nothing
 * of the caller's frame is live across it. */
__attribute__((noinline)) static pid_t fs_vfork_exec(char **argv)
{
  pid_t pid = vfork();

  if (pid == 0) {
    execve(fs_self, argv, environ);
    _exit(127);
  }
  return pid;
}

static void fs_spawn(struct fs_thread *t, int k, int n)
{
  char kind = FS_KINDS[k], tbuf[16], nbuf[16], pbuf[16], cbuf[16], kbuf[2] = {kind, 0};
  char opt_child[] = "--child", opt_port[] = "--port", opt_ops[] = "--child-ops";
  char *argv[] = {fs_self, opt_child, kbuf, tbuf, nbuf, opt_port, pbuf, opt_ops, cbuf, NULL};
  char cmd[PATH_MAX + 128];
  pid_t pid = -1;
  int status = 0;

  snprintf(tbuf, sizeof(tbuf), "%d", t->id);
  snprintf(nbuf, sizeof(nbuf), "%d", n);
  snprintf(pbuf, sizeof(pbuf), "%d", fs_port);
  snprintf(cbuf, sizeof(cbuf), "%d", fs_child_ops);
  t->started[k]++;
  switch (kind) {
  case 'f':
  case 'x':
    pid = fork();
    if (pid == 0) {
      int rc;

      alarm(FS_CHILD_ALARM);
      /* The connection this thread keeps alive is the parent's. */
      close(t->fd);
      rc = fs_child_work(kind, t->id, n);
      if (kind == 'x')
        exit(rc);
      _exit(rc);
    }
    break;
  case 'v':
    pid = fs_vfork_exec(argv);
    break;
  case 'p':
    if (posix_spawn(&pid, fs_self, NULL, NULL, argv, environ) != 0)
      pid = -1;
    break;
  case 's':
    snprintf(cmd, sizeof(cmd), "'%s' --child s %d %d --port %d --child-ops %d", fs_self,
             t->id, n, fs_port, fs_child_ops);
    status = system(cmd);
    fs_note(t, k, status, 0);
    return;
  default:
    return;
  }
  if (pid < 0) {
    fs_note(t, k, 255 << 8, pid);
    return;
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      status = 255 << 8;
      break;
    }
  }
  fs_note(t, k, status, pid);
}

static void *fs_thread_main(void *arg)
{
  struct fs_thread *t = arg;
  char name[32], path[64];
  int i, spawned = 0;

  t->fd = xr_it_connect(fs_port);
  if (t->fd < 0) {
    t->failed = fs_ops;
    return NULL;
  }
  snprintf(name, sizeof(name), "t-%d", t->id);
  for (i = 0; i < fs_ops; i++) {
    if (i % fs_batch == 0 && xray_begin_segment)
      (void)xray_begin_segment(name, NULL);
    snprintf(path, sizeof(path), "/t/%d/%d", t->id, i);
    if (xr_it_request(t->fd, fs_port, path, false) == 0)
      t->ok++;
    else
      t->failed++;
    if ((i % fs_batch == fs_batch - 1 || i == fs_ops - 1) && xray_end_segment)
      (void)xray_end_segment();
    /* Mid-interval, and while a segment is open: the fork child inherits
     * an open segment with subsegments in it. */
    if (fs_spawn_every > 0 && i % fs_spawn_every == fs_spawn_every / 2) {
      fs_spawn(t, (t->id + spawned) % FS_NKINDS, spawned);
      spawned++;
    }
  }
  close(t->fd);
  return NULL;
}

static int fs_int_arg(const char *s, int min)
{
  char *end;
  long v = strtol(s, &end, 10);

  if (*end || v < min || v > 1000000000L) {
    fprintf(stderr, "fork_storm: bad number %s\n", s);
    exit(2);
  }
  return (int)v;
}

static int fs_storm(void)
{
  struct fs_thread *ts = calloc((size_t)fs_threads, sizeof(*ts));
  long ok = 0, failed = 0;
  int started[FS_NKINDS] = {0}, exited0[FS_NKINDS] = {0}, i, k, bad = 0;

  if (!ts)
    return 1;
  for (i = 0; i < fs_threads; i++) {
    ts[i].id = i;
    if (pthread_create(&ts[i].th, NULL, fs_thread_main, &ts[i]) != 0) {
      fprintf(stderr, "fork_storm: pthread_create failed\n");
      return 1;
    }
  }
  for (i = 0; i < fs_threads; i++) {
    pthread_join(ts[i].th, NULL);
    ok += ts[i].ok;
    failed += ts[i].failed;
    for (k = 0; k < FS_NKINDS; k++) {
      started[k] += ts[i].started[k];
      exited0[k] += ts[i].exited0[k];
    }
  }
  printf("threads %d ops %d batch %d\n", fs_threads, fs_ops, fs_batch);
  printf("requests %ld answered %ld failed %ld\n", ok + failed, ok, failed);
  for (k = 0; k < FS_NKINDS; k++) {
    printf("children %c started %d exited0 %d\n", FS_KINDS[k], started[k], exited0[k]);
    bad |= started[k] != exited0[k];
  }
  fflush(stdout);
  xr_it_report_stats("main");
  free(ts);
  return failed || bad ? 1 : 0;
}

int main(int argc, char **argv)
{
  char child_kind = 0;
  int child_t = 0, child_n = 0, i;
  ssize_t len;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp(a, "--serve") == 0)
      return xr_it_serve();
    if (strcmp(a, "--child") == 0 && i + 3 < argc) {
      child_kind = argv[i + 1][0];
      child_t = fs_int_arg(argv[i + 2], 0);
      child_n = fs_int_arg(argv[i + 3], 0);
      i += 3;
    } else if (i + 1 < argc && strcmp(a, "--port") == 0) {
      fs_port = fs_int_arg(argv[++i], 1);
    } else if (i + 1 < argc && strcmp(a, "--threads") == 0) {
      fs_threads = fs_int_arg(argv[++i], 1);
    } else if (i + 1 < argc && strcmp(a, "--ops") == 0) {
      fs_ops = fs_int_arg(argv[++i], 1);
    } else if (i + 1 < argc && strcmp(a, "--batch") == 0) {
      fs_batch = fs_int_arg(argv[++i], 1);
    } else if (i + 1 < argc && strcmp(a, "--spawn-every") == 0) {
      fs_spawn_every = fs_int_arg(argv[++i], 0);
    } else if (i + 1 < argc && strcmp(a, "--child-ops") == 0) {
      fs_child_ops = fs_int_arg(argv[++i], 0);
    } else {
      fprintf(stderr, "usage: fork_storm --serve | --port P [--threads N] [--ops N] "
                      "[--batch N] [--spawn-every N] [--child-ops N]\n");
      return 2;
    }
  }
  if (!fs_port) {
    fprintf(stderr, "fork_storm: --port is required\n");
    return 2;
  }
  if (child_kind) {
    alarm(FS_CHILD_ALARM);
    return fs_child_work(child_kind, child_t, child_n);
  }
  len = readlink("/proc/self/exe", fs_self, sizeof(fs_self) - 1);
  if (len <= 0) {
    fprintf(stderr, "fork_storm: /proc/self/exe: %s\n", strerror(errno));
    return 1;
  }
  fs_self[len] = '\0';
  return fs_storm();
}
