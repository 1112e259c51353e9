/*
 * integration.plugins' traced program: opens and ends segments through the C API (found
 * with dlsym, so that it runs the same without the library) and times each pair.
 *
 *   plugins_probe N GAP_MS [fork-after K]
 *
 * Segment i is named "probe-<i>" and opened GAP_MS after the previous one ended. With
 * "fork-after K", after segment K the process forks; the child continues the loop with
 * segments named "child-<i>" and the parent waits for it. Prints
 * "max_call_us=<slowest begin+end pair> total_us=<whole loop>" (the child prints its own
 * line with the prefix "child ").
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
  int (*begin)(const char *, const char *);
  int (*end)(void);
  long n, gap, fork_after = -1, i;
  long long t0, worst = 0;
  const char *prefix = "probe";
  pid_t child = 0;

  if (argc != 3 && !(argc == 5 && strcmp(argv[3], "fork-after") == 0)) {
    fprintf(stderr, "usage: plugins_probe N GAP_MS [fork-after K]\n");
    return 2;
  }
  n = atol(argv[1]);
  gap = atol(argv[2]);
  if (argc == 5)
    fork_after = atol(argv[4]);
  *(void **)&begin = dlsym(RTLD_DEFAULT, "xray_begin_segment");
  *(void **)&end = dlsym(RTLD_DEFAULT, "xray_end_segment");
  t0 = now_us();
  for (i = 0; i < n; i++) {
    char name[64];
    long long a, b;
    if (i > 0 && gap > 0)
      usleep((useconds_t)gap * 1000);
    snprintf(name, sizeof(name), "%s-%ld", prefix, i);
    a = now_us();
    if (begin && begin(name, NULL) == 0 && end)
      end();
    b = now_us();
    if (b - a > worst)
      worst = b - a;
    if (i == fork_after) {
      child = fork();
      if (child < 0) {
        perror("fork");
        return 1;
      }
      if (child == 0)
        prefix = "child";
    }
  }
  printf("%smax_call_us=%lld total_us=%lld\n", child == 0 && fork_after >= 0 ? "child " : "",
         worst, now_us() - t0);
  fflush(stdout);
  if (child > 0) {
    int st;
    if (waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return 1;
  }
  return 0;
}
