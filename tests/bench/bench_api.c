/*
 * bench_api - the cost of the C API (include/xray-auto.h, header-only),
 * one operation kind per run:
 *
 *   bench_api MODE N
 *
 * MODE, each repeated N times inside one segment (xray_begin_segment; the
 * measured loop alone is bracketed for callgrind --instr-atstart=no when
 * <valgrind/callgrind.h> was there at build time):
 *   annotation    xray_put_annotation_number("count", i): a present key
 *                 replaced (the first call adds it)
 *   string        xray_put_annotation_string("state", "running") likewise
 *   metadata      xray_put_metadata("app", "progress", "{\"done\":i}"):
 *                 parse + replace, until the per-entity text bound, then
 *                 the -E2BIG path (N <= 1500 stays below it)
 *   subsegment    xray_begin_subsegment("step", NULL) + xray_end_subsegment():
 *                 a subsegment opened and embedded; every 31st ends with
 *                 the 31 finished ones streamed (serialized and sent, as a
 *                 segment's are), which this figure includes
 *   nothing       a call of the same shape that the library refuses at once
 *                 (a bad key: the wrapper, the shim, the key check)
 * Prints "MODE: N ops, X ns/op, rc R" (R: the last call's result). Without
 * the preload every call returns -ENOSYS and the figure is the header's
 * wrapper alone. Run by tests/bench/run_api_bench.sh.
 */
#define _GNU_SOURCE
#include <xray-auto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef XR_HAVE_CALLGRIND_H
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
  const char *mode = argc > 2 ? argv[1] : "";
  long n = argc > 2 ? atol(argv[2]) : 0, i;
  char json[64];
  double t0, t1;
  int rc = 0;

  if (n <= 0 || (strcmp(mode, "annotation") && strcmp(mode, "string") &&
                 strcmp(mode, "metadata") && strcmp(mode, "subsegment") &&
                 strcmp(mode, "nothing"))) {
    fprintf(stderr, "usage: bench_api annotation|string|metadata|subsegment|nothing N\n");
    return 2;
  }
  (void)xray_begin_segment("bench-api", NULL);
  /* Warm-up: the wrapper's lookup, lazy binding, first allocations. */
  (void)xray_put_annotation_number("count", 0);
  (void)xray_put_annotation_string("state", "start");
  (void)xray_put_metadata("app", "progress", "{\"done\":0}");
  (void)xray_begin_subsegment("warm", NULL);
  (void)xray_end_subsegment();
  (void)xray_put_annotation_number("bad-key", 0);

  t0 = now_ns();
  CALLGRIND_ZERO_STATS;
  CALLGRIND_START_INSTRUMENTATION;
  if (strcmp(mode, "annotation") == 0) {
    for (i = 0; i < n; i++)
      rc = xray_put_annotation_number("count", (double)i);
  } else if (strcmp(mode, "string") == 0) {
    for (i = 0; i < n; i++)
      rc = xray_put_annotation_string("state", "running");
  } else if (strcmp(mode, "metadata") == 0) {
    for (i = 0; i < n; i++) {
      snprintf(json, sizeof(json), "{\"done\":%ld}", i);
      rc = xray_put_metadata("app", "progress", json);
    }
  } else if (strcmp(mode, "subsegment") == 0) {
    for (i = 0; i < n; i++) {
      rc = xray_begin_subsegment("step", NULL);
      rc |= xray_end_subsegment();
    }
  } else {
    for (i = 0; i < n; i++)
      rc = xray_put_annotation_number("bad-key", (double)i);
  }
  CALLGRIND_STOP_INSTRUMENTATION;
  t1 = now_ns();
  (void)xray_end_segment();
  printf("%s: %ld ops, %.1f ns/op, rc %d\n", mode, n, (t1 - t0) / (double)n, rc);
  return 0;
}
