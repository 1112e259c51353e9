/*
 * bench_startup: what preloading libxray-auto.so adds to starting a process.
 *
 *   bench_startup RUNS ROUNDS LIBRARY [REFERENCE] -- /ABS/PROGRAM [ARGS...]
 *
 * Spawns PROGRAM (stdout and stderr to /dev/null) with posix_spawn + wait4
 * in these modes: without the library; with LD_PRELOAD=LIBRARY; with it but
 * AWS_XRAY_SDK_ENABLED=false (the constructor returns after reading that
 * variable: what is left is the loader's work of mapping and relocating the
 * library and its DT_NEEDED libraries); and, when REFERENCE is given (an empty
 * shared object), with LD_PRELOAD=REFERENCE: the floor any preloaded library
 * costs on this machine.  Every other variable comes from this program's
 * environment, the same in all modes.
 *
 * RUNS x ROUNDS cycles; each cycle spawns every mode once, back to back, the
 * first mode rotating from cycle to cycle, so that a slow phase of a shared
 * machine (another job's burst lasts milliseconds to seconds) hits the runs
 * being compared alike.  (Timing blocks of RUNS runs per mode instead let such
 * phases land on one mode's block: the medians of the block means moved by
 * 2x from one invocation to the next on a shared 2-CPU VM.)
 *
 * Records each run's wall-clock time (spawn to reaped), CPU time (the child's
 * user + system time from wait4: less disturbed by other load) and minor page
 * faults, and prints per mode the median over the runs of each, for the
 * preload modes the added us as the median of the per-cycle differences to
 * the run without the library in the same cycle, and the ratio of the
 * medians; then the tenth percentile of the runs without and with the
 * library (wall and CPU) and their difference: the cost in the machine's
 * quiet phases, steadier between invocations than the medians, which move
 * with the share of busy phases (see below).  Then the lines added_us=,
 * added_cpu_us= (with the library, medians of the paired differences),
 * added_quiet_us= (the tenth-percentile difference, wall) and floor_cpu_us=
 * (the empty library, when given) that the scripts parse.
 * Exits 1 only when a spawn fails or PROGRAM does not exit 0.
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

/* One run of argv: spawn to reaped.  Stores its wall-clock and CPU (user +
 * system, from wait4) microseconds and its minor page faults. */
static int spawn_one(char *const argv[], char **env, const posix_spawn_file_actions_t *fa,
                     double *wall_us, double *cpu_us, double *faults)
{
  struct rusage ru;
  double t0 = now_us();
  pid_t pid;
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
  *wall_us = now_us() - t0;
  *cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
            (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  *faults = (double)ru.ru_minflt;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_startup: %s did not exit 0 (status 0x%x)\n", argv[0], status);
    return -1;
  }
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

/* The tenth percentile of v[0..n) (the value below which a tenth of the runs
 * are), v left as it was. */
static double tenth(const double *v, long n)
{
  double *c = malloc((size_t)n * sizeof(*c)), m;

  if (!c)
    return 0;
  memcpy(c, v, (size_t)n * sizeof(*c));
  qsort(c, (size_t)n, sizeof(*c), cmp_double);
  m = c[(n - 1) / 10];
  free(c);
  return m;
}

/* Median over the cycles of a[i] - b[i] (the paired differences). */
static double median_delta(const double *a, const double *b, long n)
{
  double *d = malloc((size_t)n * sizeof(*d)), m;
  long i;

  if (!d)
    return 0;
  for (i = 0; i < n; i++)
    d[i] = a[i] - b[i];
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
  long runs, rounds, cycles, i;
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
  if (runs < 1 || rounds < 1 || runs > 1000000 || rounds > 1000 || argv[3][0] != '/' ||
      (dash == 5 && argv[4][0] != '/')) {
    fprintf(stderr, "bench_startup: 1 <= RUNS <= 1000000, 1 <= ROUNDS <= 1000, libraries "
                    "as absolute paths\n");
    return 2;
  }
  cycles = runs * rounds;
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
    wall[m] = calloc((size_t)cycles, sizeof(*wall[m]));
    cpu[m] = calloc((size_t)cycles, sizeof(*cpu[m]));
    flt[m] = calloc((size_t)cycles, sizeof(*flt[m]));
    if (!wall[m] || !cpu[m] || !flt[m] || !mode_env[m])
      return 1;
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);

  /* warm-up (page cache, the CPU's frequency), interleaved like the measured cycles */
  for (i = 0; i < runs / 10 + 1; i++)
    for (m = 0; m < nmodes; m++) {
      double w, c, f;
      if (spawn_one(cmd, mode_env[m], &fa, &w, &c, &f) < 0)
        return 1;
    }
  /* Cycle i runs every mode once, back to back, the first mode rotating from cycle to
   * cycle: a slow phase of a shared machine (another job's burst, a migration) then hits
   * the runs being compared alike, and each mode follows each other mode as often. */
  for (i = 0; i < cycles; i++)
    for (k = 0; k < nmodes; k++) {
      m = (int)((i + k) % nmodes);
      if (spawn_one(cmd, mode_env[m], &fa, &wall[m][i], &cpu[m][i], &flt[m][i]) < 0)
        return 1;
    }

  printf("startup: %s", cmd[0]);
  for (k = 1; cmd[k]; k++)
    printf(" %s", cmd[k]);
  printf(": %ld cycles (%ld rounds x %ld runs), modes interleaved run by run, medians of "
         "the runs; added = median of the per-cycle differences\n", cycles, rounds, runs);
  printf("startup:   %-32s %11s %20s %11s %17s %7s\n", "", "wall us/run", "added (ratio)",
         "CPU us/run", "added (ratio)", "faults");
  for (m = 0; m < nmodes; m++) {
    mw[m] = median(wall[m], cycles);
    mc[m] = median(cpu[m], cycles);
  }
  for (m = 0; m < nmodes; m++) {
    printf("startup:   %-32s %11.1f", mode_name[m], mw[m]);
    if (m != MODE_OFF)
      printf(" %+10.1f (x%.3f)", median_delta(wall[m], wall[MODE_OFF], cycles),
             mw[m] / mw[MODE_OFF]);
    else
      printf(" %20s", "");
    printf(" %11.1f", mc[m]);
    if (m != MODE_OFF)
      printf(" %+7.1f (x%.3f)", median_delta(cpu[m], cpu[MODE_OFF], cycles),
             mc[m] / mc[MODE_OFF]);
    else
      printf(" %17s", "");
    printf(" %7.1f\n", median(flt[m], cycles));
  }
  /* A shared machine alternates quiet and busy phases of seconds (other jobs on the
   * same cores); in a busy one every run is slower by a factor (1.5x seen on a 2-CPU VM),
   * the added time too, which no pairing removes: the medians then move with the share of
   * busy phases in the invocation.  The fastest tenth of each mode's runs comes from the
   * quiet phases: its difference is the figure to compare between invocations. */
  printf("startup:   fastest tenth of the runs (quiet phases), without / with the library: "
         "wall %.1f / %.1f us (%+.1f), CPU %.1f / %.1f us (%+.1f)\n",
         tenth(wall[MODE_OFF], cycles), tenth(wall[MODE_ON], cycles),
         tenth(wall[MODE_ON], cycles) - tenth(wall[MODE_OFF], cycles),
         tenth(cpu[MODE_OFF], cycles), tenth(cpu[MODE_ON], cycles),
         tenth(cpu[MODE_ON], cycles) - tenth(cpu[MODE_OFF], cycles));
  printf("added_us=%.1f\n", median_delta(wall[MODE_ON], wall[MODE_OFF], cycles));
  printf("added_cpu_us=%.1f\n", median_delta(cpu[MODE_ON], cpu[MODE_OFF], cycles));
  printf("added_quiet_us=%.1f\n", tenth(wall[MODE_ON], cycles) - tenth(wall[MODE_OFF], cycles));
  if (reference)
    printf("floor_cpu_us=%.1f\n", median_delta(cpu[MODE_REF], cpu[MODE_OFF], cycles));
  return 0;
}
