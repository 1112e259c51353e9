/*
 * Sampling decision cost: ns per decision, one thread and two, for
 *   local-default   the built-in rule (XRAY_AUTO_SAMPLING unset, no rules file)
 *   local-rules     a 3-rule XRAY_AUTO_SAMPLING_RULES file, request matching the default
 *   central         6 daemon rules (sampling_central.c), request matching the last (Default)
 *   central-first   the same, request matching the first rule
 *   central-stale   rules older than an hour: the engine answers "local" (-1)
 * Usage: bench_sampling [N [MODE]]   (N decisions per figure, default 2000000; MODE: one
 * figure, one thread)
 * Instructions per decision: valgrind --tool=callgrind bench_sampling 100000 central, then
 * callgrind_annotate --inclusive=yes: xr_central_decide's count over 100000.
 */
#include "../../src/xr_setup.h"

#include "../../src/ids.h"
#include "../../src/sampling.h"
#include "../../src/sampling_central.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct xr_central C;
static struct xr_rules *L;
static long N = 2000000;
static int64_t now_s;

static const char *LOCAL =
    "{\"version\":2,\"rules\":["
    "{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"/health*\",\"fixed_target\":0,\"rate\":0},"
    "{\"host\":\"*\",\"http_method\":\"POST\",\"url_path\":\"/api/*\",\"fixed_target\":0,\"rate\":1},"
    "{\"host\":\"*.internal*\",\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":0,\"rate\":1}],"
    "\"default\":{\"fixed_target\":1,\"rate\":0.05}}";

static void rule(char *out, const char *name, int prio, double rate, int res, const char *path,
                 const char *host, const char *svc)
{
  sprintf(out + strlen(out),
          "%s{\"SamplingRule\":{\"RuleName\":\"%s\",\"ResourceARN\":\"*\",\"Priority\":%d,"
          "\"FixedRate\":%g,\"ReservoirSize\":%d,\"ServiceName\":\"%s\",\"ServiceType\":\"*\","
          "\"Host\":\"%s\",\"HTTPMethod\":\"*\",\"URLPath\":\"%s\",\"Version\":1}}",
          out[strlen(out) - 1] == '[' ? "" : ",", name, prio, rate, res, svc, host, path);
}

enum mode { LOCAL_DEFAULT, LOCAL_RULES, CENTRAL, CENTRAL_FIRST, CENTRAL_STALE };
static enum mode M;

static void *run(void *arg)
{
  struct xr_sample_req q = {.host = "example.com:8080", .method = "GET",
                            .path = "/orders/12345/items", .service = "orders-api"};
  long i, sampled = 0;
  int64_t t = now_s + (M == CENTRAL_STALE ? 4000 : 0);

  (void)arg;
  if (M == CENTRAL_FIRST)
    q.path = "/health/live";
  for (i = 0; i < N; i++) {
    switch (M) {
    case LOCAL_DEFAULT:
      sampled += xr_sample_decide(XR_SAMPLING_DEFAULT, t, &q, NULL);
      break;
    case LOCAL_RULES:
      sampled += xr_rule_decide(xr_rules_match(L, &q), t, xr_random_unit);
      break;
    default: {
      unsigned r;
      sampled += xr_central_decide(&C, &q, t, xr_random_unit, &r) == 1;
    }
    }
  }
  return (void *)sampled;
}

static double figure(enum mode m, int threads)
{
  pthread_t th[2];
  struct timespec a, b;
  int i;

  M = m;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (i = 0; i < threads; i++)
    pthread_create(&th[i], NULL, run, NULL);
  for (i = 0; i < threads; i++)
    pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
         (double)N; /* per decision of one thread: wall time of each thread's N */
}

int main(int argc, char **argv)
{
  static const char *names[] = {"local-default", "local-rules", "central", "central-first",
                                "central-stale"};
  char doc[8192] = "{\"SamplingRuleRecords\":[";
  struct xr_crules *rs;
  char err[160];
  unsigned skipped;
  int m;

  if (argc > 1)
    N = atol(argv[1]);
  now_s = time(NULL);
  if (xr_rules_parse(LOCAL, strlen(LOCAL), &L, err, sizeof(err)) < 0)
    return 1;
  rule(doc, "health", 1, 0, 0, "/health*", "*", "*");
  rule(doc, "other-svc", 2, 0, 0, "/d/*", "*", "not-this-*");
  rule(doc, "hosty", 3, 1, 0, "*", "special.example*", "*");
  rule(doc, "quota", 5, 0, 1, "/q/*", "*", "*");
  rule(doc, "ttl", 6, 0, 1, "/t/*", "*", "*");
  rule(doc, "Default", 10000, 0.05, 1, "*", "*", "*");
  strcat(doc, "]}");
  xr_central_new_client_id(&C);
  if (xr_central_parse_rules(&C, doc, strlen(doc), &rs, &skipped) < 0 || rs->n != 6 ||
      xr_central_install(&C, rs, now_s) < 0) {
    fprintf(stderr, "bench_sampling: rules not accepted\n");
    return 1;
  }
  printf("%-14s %12s %12s\n", "decision", "ns/1 thread", "ns/2 threads");
  for (m = LOCAL_DEFAULT; m <= CENTRAL_STALE; m++) {
    double one, two;
    if (argc > 2) {
      if (strcmp(argv[2], names[m]) == 0)
        printf("%-14s %12.1f\n", names[m], figure((enum mode)m, 1));
      continue;
    }
    one = figure((enum mode)m, 1);
    two = figure((enum mode)m, 2);
    printf("%-14s %12.1f %12.1f\n", names[m], one, two);
  }
  free(L);
  xr_central_reset(&C);
  return 0;
}
