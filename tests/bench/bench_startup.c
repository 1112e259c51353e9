/*
 * bench_startup: what preloading libxray-auto.so adds to starting a process.
 *
 *   bench_startup RUNS ROUNDS LIBRARY [REFERENCE] -- /ABS/PROGRAM [ARGS...]
 *
 * Spawns PROGRAM (stdout and stderr to /dev/null) RUNS times in a row with
 * posix_spawn + wait4, in these modes: without the library; with
 * LD_PRELOAD=LIBRARY; with it but AWS_XRAY_SDK_ENABLED=false (the constructor
 * returns after reading that variable: what is left is the loader's work of
 * mapping and relocating the library and its DT_NEEDED libraries); and, when
 * REFERENCE is given (an empty shared object), with LD_PRELOAD=REFERENCE: the
 * floor any preloaded library costs on this machine.  The modes take turns
 * within each of ROUNDS rounds, the first mode rotating from round to round,
 * so that a slow phase of a shared machine hits them alike.  Every other
 * variable comes from this program's environment, the same in all modes.
 *
 * Prints, per mode, the median over the rounds of the wall-clock microseconds
 * per run (spawn to reaped) and of the child's CPU time (user + system, from
 * wait4: less disturbed by other load on a shared machine), for the preload
 * modes the median over the rounds of the difference to the run without the
 * library in the same round (added us) and the ratio of the medians, and the
 * child's minor page faults per run.  Exits 1 only when a spawn fails or
 * PROGRAM does not exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum { MODE_OFF, MODE_ON, MODE_DISABLED, MODE_REF, NMODES };

static const char *const mode_name[NMODES] = {
  "without the library", "with the library", "with AWS_XRAY_SDK_ENABLED=false",
  "with an empty library (floor)"};

static char **mode_env[NMODES];

static double now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* environ without LD_PRELOAD and AWS_XRAY_SDK_ENABLED, plus the extras. */
static char **make_env(char *extra1, char *extra2)
{
  size_t n = 0, k = 0, i;
  char **env;

  while (environ[n])
    n++;
  env = calloc(n + 3, sizeof(*env));
  if (!env)
    return NULL;
  for (i = 0; i < n; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
        strncmp(environ[i], "AWS_XRAY_SDK_ENABLED=", 21) != 0)
      env[k++] = environ[i];
  if (extra1)
    env[k++] = extra1;
  if (extra2)
    env[k++] = extra2;
  env[k] = NULL;
  return env;
}

static int spawn_runs(char *const argv[], char **env, long runs,
                      const posix_spawn_file_actions_t *fa, double *us_per_run,
                      double *cpu_us_per_run, double *faults_per_run)
{
  double t0 = now_us(), cpu = 0, faults = 0;
  long i;

  for (i = 0; i < runs; i++) {
    pid_t pid;
    struct rusage ru;
    int status, rc;

    rc = posix_spawn(&pid, argv[0], fa, NULL, argv, env);
    if (rc != 0) {
      fprintf(stderr, "bench_startup: posix_spawn %s: %s\n", argv[0], strerror(rc));
      return -1;
    }
    while (wait4(pid, &status, 0, &ru) < 0)
      if (errno != EINTR) {
        perror("bench_startup: wait4");
        return -1;
      }
    cpu += (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    faults += (double)ru.ru_minflt;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "bench_startup: %s did not exit 0 (status 0x%x)\n", argv[0], status);
      return -1;
    }
  }
  *us_per_run = (now_us() - t0) / (double)runs;
  *cpu_us_per_run = cpu / (double)runs;
  *faults_per_run = faults / (double)runs;
  return 0;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

/* Median of v[0..n), v left as it was. */
static double median(const double *v, long n)
{
  double *c = malloc((size_t)n * sizeof(*c)), m;

  if (!c)
    return 0;
  memcpy(c, v, (size_t)n * sizeof(*c));
  qsort(c, (size_t)n, sizeof(*c), cmp_double);
  m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
  free(c);
  return m;
}

/* Median over the rounds of a[r] - b[r]. */
static double median_delta(const double *a, const double *b, long n)
{
  double *d = malloc((size_t)n * sizeof(*d)), m;
  long r;

  if (!d)
    return 0;
  for (r = 0; r < n; r++)
    d[r] = a[r] - b[r];
  m = median(d, n);
  free(d);
  return m;
}

int main(int argc, char **argv)
{
  static char disabled[] = "AWS_XRAY_SDK_ENABLED=false";
  posix_spawn_file_actions_t fa;
  char *preload, *reference = NULL, **cmd;
  double *wall[NMODES], *cpu[NMODES], *flt[NMODES], mw[NMODES], mc[NMODES];
  long runs, rounds, r;
  int m, k, nmodes = MODE_REF, dash = 4;

  if (argc > 5 && strcmp(argv[5], "--") == 0)
    dash = 5;
  if (argc < dash + 2 || strcmp(argv[dash], "--") != 0 || argv[dash + 1][0] != '/') {
    fprintf(stderr, "usage: bench_startup RUNS ROUNDS LIBRARY [REFERENCE] -- "
                    "/ABS/PROGRAM [ARGS...]\n");
    return 2;
  }
  runs = strtol(argv[1], NULL, 10);
  rounds = strtol(argv[2], NULL, 10);
  if (runs < 1 || rounds < 1 || argv[3][0] != '/' || (dash == 5 && argv[4][0] != '/')) {
    fprintf(stderr, "bench_startup: RUNS and ROUNDS >= 1, libraries as absolute paths\n");
    return 2;
  }
  cmd = argv + dash + 1;
  if (asprintf(&preload, "LD_PRELOAD=%s", argv[3]) < 0)
    return 1;
  if (dash == 5) {
    if (asprintf(&reference, "LD_PRELOAD=%s", argv[4]) < 0)
      return 1;
    nmodes = NMODES;
  }
  mode_env[MODE_OFF] = make_env(NULL, NULL);
  mode_env[MODE_ON] = make_env(preload, NULL);
  mode_env[MODE_DISABLED] = make_env(preload, disabled);
  mode_env[MODE_REF] = make_env(reference, NULL);
  for (m = 0; m < nmodes; m++) {
    wall[m] = calloc((size_t)rounds, sizeof(*wall[m]));
    cpu[m] = calloc((size_t)rounds, sizeof(*cpu[m]));
    flt[m] = calloc((size_t)rounds, sizeof(*flt[m]));
    if (!wall[m] || !cpu[m] || !flt[m] || !mode_env[m])
      return 1;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

  /* warm-up: page cache, the CPU's frequency */
  for (m = 0; m < nmodes; m++) {
    double w, c, f;
    if (spawn_runs(cmd, mode_env[m], runs / 10 + 1, &fa, &w, &c, &f) < 0)
      return 1;
  }
  for (r = 0; r < rounds; r++)
    for (k = 0; k < nmodes; k++) {
      m = (int)((r + k) % nmodes);
      if (spawn_runs(cmd, mode_env[m], runs, &fa, &wall[m][r], &cpu[m][r], &flt[m][r]) < 0)
        return 1;
    }

  printf("startup: %s", cmd[0]);
  for (k = 1; cmd[k]; k++)
    printf(" %s", cmd[k]);
  printf(": %ld rounds x %ld runs, modes interleaved, medians of the rounds\n", rounds, runs);
  printf("startup:   %-32s %11s %20s %11s %17s %7s\n", "", "wall us/run", "added (ratio)",
         "CPU us/run", "added (ratio)", "faults");
  for (m = 0; m < nmodes; m++) {
    mw[m] = median(wall[m], rounds);
    mc[m] = median(cpu[m], rounds);
  }
  for (m = 0; m < nmodes; m++) {
    printf("startup:   %-32s %11.1f", mode_name[m], mw[m]);
    if (m != MODE_OFF)
      printf(" %+10.1f (x%.3f)", median_delta(wall[m], wall[MODE_OFF], rounds),
             mw[m] / mw[MODE_OFF]);
    else
      printf(" %20s", "");
    printf(" %11.1f", mc[m]);
    if (m != MODE_OFF)
      printf(" %+7.1f (x%.3f)", median_delta(cpu[m], cpu[MODE_OFF], rounds),
             mc[m] / mc[MODE_OFF]);
    else
      printf(" %17s", "");
    printf(" %7.1f\n", median(flt[m], rounds));
  }
  printf("added_us=%.1f\n", median_delta(wall[MODE_ON], wall[MODE_OFF], rounds));
  printf("added_cpu_us=%.1f\n", median_delta(cpu[MODE_ON], cpu[MODE_OFF], rounds));
  if (reference)
    printf("floor_cpu_us=%.1f\n", median_delta(cpu[MODE_REF], cpu[MODE_OFF], rounds));
  return 0;
}
