/* Centralized sampling engine (src/sampling_central.c): parsing the
 * daemon's rules, order and matching, quota / borrow / rate decisions with
 * an injected clock and random source, targets, statistics, fallback. */
#include "util.h"

#include "../../src/ids.h"
#include "../../src/sampling_central.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000LL

static struct xr_central C;
static double next_unit = 0.5;
static unsigned unit_calls;

static double fake_unit(void)
{
  unit_calls++;
  return next_unit;
}

static int setup(void **state)
{
  (void)state;
  xr_central_reset(&C);
  xr_central_new_client_id(&C);
  next_unit = 0.5;
  unit_calls = 0;
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  xr_central_reset(&C);
  return 0;
}

/* One record; extra (e.g. ",\"Attributes\":null") replaces the
 * ",\"Attributes\":{}" that ends SamplingRule. */
static void rec(char *buf, size_t cap, const char *name, int prio, double rate, int reservoir,
                const char *host, const char *method, const char *path, const char *svc,
                const char *svc_type, const char *extra)
{
  snprintf(buf, cap,
           "{\"SamplingRule\":{\"RuleName\":\"%s\",\"RuleARN\":\"arn:x\",\"ResourceARN\":\"*\","
           "\"Priority\":%d,\"FixedRate\":%g,\"ReservoirSize\":%d,\"ServiceName\":\"%s\","
           "\"ServiceType\":\"%s\",\"Host\":\"%s\",\"HTTPMethod\":\"%s\",\"URLPath\":\"%s\","
           "\"Version\":1%s},\"CreatedAt\":1.0,\"ModifiedAt\":2.0}",
           name, prio, rate, reservoir, svc, svc_type, host, method, path,
           extra ? extra : ",\"Attributes\":{}");
}

static int load(const char *records, int64_t now, unsigned *skipped)
{
  char *doc = malloc(strlen(records) + 64);
  struct xr_crules *rs = NULL;
  unsigned sk = 0;
  int rc;

  sprintf(doc, "{\"SamplingRuleRecords\":[%s],\"NextToken\":null}", records);
  rc = xr_central_parse_rules(&C, doc, strlen(doc), &rs, &sk);
  free(doc);
  if (skipped)
    *skipped = sk;
  if (rc < 0)
    return rc;
  return xr_central_install(&C, rs, now);
}

/* The standard set: Default (10000, reservoir 1, rate 0.05) and two. */
static void load_std(int64_t now)
{
  char a[1024], b[1024], d[1024], all[4096];
  rec(a, sizeof(a), "api", 10, 0, 1, "*", "POST", "/api/*", "*", "*", NULL);
  rec(b, sizeof(b), "health", 5, 0, 0, "*", "*", "/health*", "*", "*", NULL);
  rec(d, sizeof(d), "Default", 10000, 0.05, 1, "*", "*", "*", "*", "*", NULL);
  snprintf(all, sizeof(all), "%s,%s,%s", d, a, b);
  assert_int_equal(load(all, now, NULL), 0);
}

static int decide(const char *method, const char *path, int64_t now, const char **name)
{
  struct xr_sample_req q = {.host = "h", .method = method, .path = path, .service = "svc"};
  unsigned r = 0;
  int d = xr_central_decide(&C, &q, now, fake_unit, &r);
  if (name)
    *name = xr_central_rule_name(&C, r);
  return d;
}

static struct xr_cslot *slot(const char *name)
{
  unsigned i;
  for (i = 0; i < C.nslots; i++)
    if (strcmp(C.slot[i].name, name) == 0)
      return &C.slot[i];
  return NULL;
}

static void targets(const char *docs, double lrm, int *interval, bool *refetch)
{
  char buf[4096];
  int iv;
  bool rf;
  snprintf(buf, sizeof(buf),
           "{\"SamplingTargetDocuments\":[%s],\"LastRuleModification\":%.0f,"
           "\"UnprocessedStatistics\":[]}",
           docs, lrm);
  assert_int_equal(xr_central_apply_targets(&C, buf, strlen(buf), &iv, &rf), 0);
  if (interval)
    *interval = iv;
  if (refetch)
    *refetch = rf;
}

static void test_no_rules_is_local(void **state)
{
  (void)state;
  assert_int_equal(decide("GET", "/", T0, NULL), -1);
}

static void test_parse_filters(void **state)
{
  char r[12][1024], all[16384];
  struct xr_crules *rs;
  unsigned skipped, i;

  (void)state;
  rec(r[0], 1024, "ok", 1, 0.5, 1, "*", "*", "*", "*", "*", NULL);
  rec(r[1], 1024, "v2", 1, 0.5, 1, "*", "*", "*", "*", "*", NULL);
  /* Version 2: replace "Version":1 */
  *strstr(r[1], "\"Version\":1") = '\0';
  strcat(r[1], "\"Version\":2}}");
  rec(r[2], 1024, "arn", 1, 0.5, 1, "*", "*", "*", "*", "*", NULL);
  memcpy(strstr(r[2], "\"ResourceARN\":\"*\""), "\"ResourceARN\":\"x\"", 17);
  rec(r[3], 1024, "attrs", 1, 0.5, 1, "*", "*", "*", "*", "*", ",\"Attributes\":{\"a\":\"b\"}");
  rec(r[4], 1024, "notype", 1, 0.5, 1, "*", "*", "*", "*", "", NULL);
  rec(r[5], 1024, "a-name-that-is-longer-than-32-bytes", 1, 0.5, 1, "*", "*", "*", "*", "*",
      NULL);
  rec(r[6], 1024, "rate2", 1, 2, 1, "*", "*", "*", "*", "*", NULL);
  rec(r[7], 1024, "ok", 2, 0.1, 1, "*", "*", "*", "*", "*", NULL); /* duplicate name */
  rec(r[8], 1024, "negres", 1, 0.5, -1, "*", "*", "*", "*", "*", NULL);
  snprintf(r[9], 1024, "{\"SamplingRule\":{\"RuleName\":\"nohost\",\"ResourceARN\":\"*\","
                       "\"Priority\":1,\"FixedRate\":0.1,\"ReservoirSize\":1,\"ServiceName\":\"*\","
                       "\"ServiceType\":\"*\",\"HTTPMethod\":\"*\",\"URLPath\":\"*\",\"Version\":1}}");
  strcpy(r[10], "42");
  strcpy(r[11], "{\"SamplingRule\":[]}");
  all[0] = '\0';
  for (i = 0; i < 12; i++) {
    if (i)
      strcat(all, ",");
    strcat(all, r[i]);
  }
  assert_int_equal(load(all, T0, &skipped), 0);
  assert_int_equal(skipped, 11);
  rs = atomic_load(&C.active);
  assert_int_equal(rs->n, 1);
  assert_string_equal(rs->rule[0].slot->name, "ok");
  /* Attributes null is as good as absent or {}. */
  rec(r[0], 1024, "nullattrs", 1, 0.5, 1, "*", "*", "*", "*", "*", ",\"Attributes\":null");
  assert_int_equal(load(r[0], T0, &skipped), 0);
  assert_int_equal(skipped, 0);
  /* Absent too. */
  rec(r[0], 1024, "noattrs", 1, 0.5, 1, "*", "*", "*", "*", "*", "");
  assert_int_equal(load(r[0], T0, &skipped), 0);
  assert_int_equal(skipped, 0);
}

static void test_parse_rejects(void **state)
{
  static const char *bad[] = {"", "[]", "{", "{\"SamplingRuleRecords\":{}}", "{}",
                              "{\"SamplingRuleRecords\":[]} x", "null", "\"s\""};
  struct xr_crules *rs;
  unsigned skipped, i;
  char *big;

  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(bad); i++) {
    rs = (void *)1;
    assert_int_equal(xr_central_parse_rules(&C, bad[i], strlen(bad[i]), &rs, &skipped),
                     -EINVAL);
    assert_null(rs);
  }
  /* A NUL inside. */
  assert_int_equal(xr_central_parse_rules(&C, "{\"SamplingRuleRecords\":[]}\0x", 28, &rs,
                                          &skipped),
                   -EINVAL);
  big = calloc(1, XR_CRESPONSE_MAX + 2);
  memset(big, ' ', XR_CRESPONSE_MAX + 1);
  assert_int_equal(xr_central_parse_rules(&C, big, XR_CRESPONSE_MAX + 1, &rs, &skipped),
                   -E2BIG);
  free(big);
  /* An empty list is fine: no rule, so local rules decide. */
  assert_int_equal(load("", T0, NULL), 0);
  assert_int_equal(decide("GET", "/", T0, NULL), -1);
}

static void test_priority_and_match(void **state)
{
  char a[1024], b[1024], c[1024], d[1024], e[1024], all[8192];
  const char *name;
  struct xr_crules *rs;

  (void)state;
  rec(a, sizeof(a), "b-second", 5, 1, 0, "*", "POST", "*", "*", "*", NULL);
  rec(b, sizeof(b), "a-first", 5, 1, 0, "*", "GET", "*", "*", "*", NULL);
  rec(c, sizeof(c), "svc", 1, 1, 0, "*", "*", "*", "other*", "*", NULL);
  rec(d, sizeof(d), "typed", 2, 1, 0, "*", "*", "*", "*", "AWS::EC2::Instance", NULL);
  rec(e, sizeof(e), "Default", 10000, 0, 0, "*", "*", "*", "*", "*", NULL);
  snprintf(all, sizeof(all), "%s,%s,%s,%s,%s", e, a, b, c, d);
  assert_int_equal(load(all, T0, NULL), 0);
  rs = atomic_load(&C.active);
  assert_string_equal(rs->rule[0].slot->name, "svc");
  assert_string_equal(rs->rule[1].slot->name, "typed");
  assert_string_equal(rs->rule[2].slot->name, "a-first");
  assert_string_equal(rs->rule[3].slot->name, "b-second");
  assert_string_equal(rs->rule[4].slot->name, "Default");
  /* service_type absent: "typed" (priority 2) applies to anything. */
  assert_int_equal(decide("GET", "/", T0, &name), 1);
  assert_string_equal(name, "typed");
  {
    struct xr_sample_req q = {.method = "GET", .service = "svc", .service_type = "AWS::ECS::Container"};
    unsigned r = 0;
    assert_int_equal(xr_central_decide(&C, &q, T0, fake_unit, &r), 1);
    assert_string_equal(xr_central_rule_name(&C, r), "a-first");
    q.method = "POST";
    assert_int_equal(xr_central_decide(&C, &q, T0, fake_unit, &r), 1);
    assert_string_equal(xr_central_rule_name(&C, r), "b-second");
    q.service = "OtherService"; /* case-insensitive glob */
    assert_int_equal(xr_central_decide(&C, &q, T0, fake_unit, &r), 1);
    assert_string_equal(xr_central_rule_name(&C, r), "svc");
    /* Unsampled: no name. */
    q.service = "svc";
    q.service_type = "x";
    q.method = "PUT";
    r = 77;
    assert_int_equal(xr_central_decide(&C, &q, T0, fake_unit, &r), 0);
    assert_int_equal(r, 77);
  }
  assert_null(xr_central_rule_name(&C, 0));
  assert_null(xr_central_rule_name(&C, XR_CSLOTS_MAX + 1));
}

/* "Default" is the SDKs' catch-all: last whatever its priority, and it
 * applies whatever its patterns (the service never sends other ones; a
 * daemon that does must not send requests back to local rules). */
static void test_default_catches_all(void **state)
{
  char a[1024], d[1024], all[4096];
  const char *name;

  (void)state;
  rec(a, sizeof(a), "api", 5, 1, 0, "*", "*", "/api/*", "*", "*", NULL);
  rec(d, sizeof(d), "Default", 1, 1, 0, "*", "*", "/nothing", "*", "AWS::EC2::Instance", NULL);
  snprintf(all, sizeof(all), "%s,%s", d, a);
  assert_int_equal(load(all, T0, NULL), 0);
  assert_int_equal(decide("GET", "/api/x", T0, &name), 1);
  assert_string_equal(name, "api");
  assert_int_equal(decide("GET", "/other", T0, &name), 1);
  assert_string_equal(name, "Default");
}

static void test_borrow_then_rate(void **state)
{
  const char *name;
  int i, n;

  (void)state;
  load_std(T0);
  /* No quota yet, reservoir > 0: one borrowed per second, then the rate. */
  next_unit = 0.5; /* > 0.05: the rate says no */
  assert_int_equal(decide("GET", "/x", T0, &name), 1);
  assert_string_equal(name, "Default");
  for (i = 0; i < 10; i++)
    assert_int_equal(decide("GET", "/x", T0, NULL), 0);
  assert_int_equal(decide("GET", "/x", T0 + 1, NULL), 1);
  next_unit = 0.01;
  assert_int_equal(decide("GET", "/x", T0 + 1, NULL), 1); /* rate */
  assert_int_equal(atomic_load(&slot("Default")->borrowed), 2);
  assert_int_equal(atomic_load(&slot("Default")->sampled), 1);
  assert_int_equal(atomic_load(&slot("Default")->requests), 13);
  /* Reservoir 0 (health): never borrows; rate 0 never draws. */
  unit_calls = 0;
  for (n = 0, i = 0; i < 5; i++)
    n += decide("GET", "/health", T0 + 2 + i, NULL);
  assert_int_equal(n, 0);
  assert_int_equal(unit_calls, 0);
}

static void test_quota_and_ttl(void **state)
{
  int i, n, interval;
  bool refetch;

  (void)state;
  load_std(T0);
  next_unit = 0.99;
  targets("{\"RuleName\":\"Default\",\"FixedRate\":0,\"ReservoirQuota\":3,"
          "\"ReservoirQuotaTTL\":1700000010,\"Interval\":1},"
          "{\"RuleName\":\"unknown\",\"FixedRate\":1,\"ReservoirQuota\":3,"
          "\"ReservoirQuotaTTL\":1700000010,\"Interval\":1}",
          (double)T0 - 100, &interval, &refetch);
  assert_int_equal(interval, 1);
  assert_false(refetch);
  /* Quota 3 per second, rate 0: exactly 3 per second, no borrowing. */
  for (n = 0, i = 0; i < 20; i++)
    n += decide("GET", "/x", T0 + 5, NULL);
  assert_int_equal(n, 3);
  for (n = 0, i = 0; i < 20; i++)
    n += decide("GET", "/x", T0 + 6, NULL);
  assert_int_equal(n, 3);
  assert_int_equal(atomic_load(&slot("Default")->borrowed), 0);
  /* TTL reached (>= now still counts), then passed: borrow 1/s, then rate 0. */
  for (n = 0, i = 0; i < 20; i++)
    n += decide("GET", "/x", T0 + 10, NULL);
  assert_int_equal(n, 3);
  for (n = 0, i = 0; i < 20; i++)
    n += decide("GET", "/x", T0 + 11, NULL);
  assert_int_equal(n, 1);
  assert_int_equal(atomic_load(&slot("Default")->borrowed), 1);
  /* Quota 0 while valid: no borrowing, the rate alone. */
  targets("{\"RuleName\":\"Default\",\"FixedRate\":1,\"ReservoirQuota\":0,"
          "\"ReservoirQuotaTTL\":1700000100}",
          0, &interval, NULL);
  assert_int_equal(interval, 0);
  for (n = 0, i = 0; i < 20; i++)
    n += decide("GET", "/x", T0 + 12, NULL);
  assert_int_equal(n, 20);
  assert_int_equal(atomic_load(&slot("Default")->borrowed), 1);
}

static void test_targets_malformed_and_refetch(void **state)
{
  static const char *bad[] = {"", "[]", "{\"SamplingTargetDocuments\":5}", "{"};
  unsigned i;
  int iv;
  bool rf;

  (void)state;
  load_std(T0);
  for (i = 0; i < XR_ARRAY_SIZE(bad); i++)
    assert_int_equal(xr_central_apply_targets(&C, bad[i], strlen(bad[i]), &iv, &rf), -EINVAL);
  /* Malformed members are ignored one by one. */
  targets("{\"RuleName\":\"Default\",\"FixedRate\":7,\"ReservoirQuota\":-1,"
          "\"ReservoirQuotaTTL\":\"x\",\"Interval\":0},5,null,{\"RuleName\":9}",
          (double)T0 + 1, &iv, &rf);
  assert_int_equal(iv, 0);
  assert_true(rf); /* modified after the install at T0 */
  assert_int_equal(atomic_load(&slot("Default")->quota), -1);
  targets("", (double)T0, &iv, &rf);
  assert_false(rf);
  /* Interval: the smallest, clamped. */
  targets("{\"RuleName\":\"Default\",\"Interval\":99999},{\"RuleName\":\"api\",\"Interval\":7}",
          0, &iv, &rf);
  assert_int_equal(iv, 7);
  targets("{\"RuleName\":\"Default\",\"Interval\":99999}", 0, &iv, &rf);
  assert_int_equal(iv, XR_CINTERVAL_MAX);
}

static void test_statistics(void **state)
{
  char *out = NULL;
  cJSON *root, *arr, *d;
  int i;

  (void)state;
  load_std(T0);
  assert_int_equal(xr_central_statistics(&C, T0, &out), 0);
  assert_null(out); /* nothing to report */
  next_unit = 0.99;
  for (i = 0; i < 5; i++)
    (void)decide("GET", "/x", T0, NULL); /* Default: 1 borrowed, 4 not */
  next_unit = 0.0;
  for (i = 0; i < 3; i++)
    (void)decide("GET", "/health", T0, NULL); /* health: rate 0 */
  assert_int_equal(xr_central_statistics(&C, T0 + 3, &out), 0);
  assert_non_null(out);
  root = cJSON_Parse(out);
  free(out);
  arr = cJSON_GetObjectItem(root, "SamplingStatisticsDocuments");
  assert_int_equal(cJSON_GetArraySize(arr), 2);
  d = cJSON_GetArrayItem(arr, 0); /* rule order: health (5) first */
  assert_string_equal(cJSON_GetObjectItem(d, "RuleName")->valuestring, "health");
  assert_int_equal(cJSON_GetObjectItem(d, "RequestCount")->valueint, 3);
  assert_int_equal(cJSON_GetObjectItem(d, "SampledCount")->valueint, 0);
  d = cJSON_GetArrayItem(arr, 1);
  assert_string_equal(cJSON_GetObjectItem(d, "RuleName")->valuestring, "Default");
  assert_int_equal(cJSON_GetObjectItem(d, "RequestCount")->valueint, 5);
  assert_int_equal(cJSON_GetObjectItem(d, "SampledCount")->valueint, 0);
  assert_int_equal(cJSON_GetObjectItem(d, "BorrowCount")->valueint, 1);
  assert_int_equal((long long)cJSON_GetObjectItem(d, "Timestamp")->valuedouble, T0 + 3);
  assert_string_equal(cJSON_GetObjectItem(d, "ClientID")->valuestring, C.client_id);
  assert_int_equal(strlen(C.client_id), 24);
  assert_int_equal(strspn(C.client_id, "0123456789abcdef"), 24);
  cJSON_Delete(root);
  /* Reset by the report. */
  assert_int_equal(xr_central_statistics(&C, T0 + 4, &out), 0);
  assert_null(out);
}

/* The counters as concurrent decisions can leave them between two
 * reports: outcomes counted whose requests come after the requests' swap
 * (each decision counts its request, then its outcome). Every report has
 * SampledCount + BorrowCount <= RequestCount (each request has at most one
 * outcome), and over reports nothing is lost or counted twice. */
static void test_statistics_consistent(void **state)
{
  struct xr_cslot *s;
  char *out = NULL;
  cJSON *root, *d;
  int pass;
  long long req = 0, smp = 0, bor = 0;

  (void)state;
  load_std(T0);
  s = slot("Default");
  atomic_store(&s->requests, 1);
  atomic_store(&s->sampled, 2);
  atomic_store(&s->borrowed, 1);
  for (pass = 0; pass < 2; pass++) {
    long long r, sm, b;
    if (pass == 1)
      atomic_fetch_add(&s->requests, 2); /* the requests of those outcomes */
    assert_int_equal(xr_central_statistics(&C, T0 + pass, &out), 0);
    assert_non_null(out);
    root = cJSON_Parse(out);
    free(out);
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "SamplingStatisticsDocuments"), 0);
    r = (long long)cJSON_GetObjectItem(d, "RequestCount")->valuedouble;
    sm = (long long)cJSON_GetObjectItem(d, "SampledCount")->valuedouble;
    b = (long long)cJSON_GetObjectItem(d, "BorrowCount")->valuedouble;
    assert_true(sm + b <= r);
    req += r;
    smp += sm;
    bor += b;
    cJSON_Delete(root);
  }
  assert_int_equal(req, 3);
  assert_int_equal(smp, 2);
  assert_int_equal(bor, 1);
  assert_int_equal(atomic_load(&s->sampled) + atomic_load(&s->borrowed), 0);
}

static void test_rule_change_keeps_state(void **state)
{
  char a[1024], d[1024], all[4096];
  struct xr_cslot *s;
  const char *name;
  int i, n;

  (void)state;
  load_std(T0);
  targets("{\"RuleName\":\"Default\",\"FixedRate\":0,\"ReservoirQuota\":2,"
          "\"ReservoirQuotaTTL\":1700001000}",
          0, NULL, NULL);
  for (i = 0; i < 4; i++)
    (void)decide("GET", "/x", T0, NULL);
  s = slot("Default");
  /* New rules: "api" gone, "new" in, Default kept (new rate 0). */
  rec(a, sizeof(a), "new", 1, 1, 0, "*", "DELETE", "*", "*", "*", NULL);
  rec(d, sizeof(d), "Default", 10000, 0, 1, "*", "*", "*", "*", "*", NULL);
  snprintf(all, sizeof(all), "%s,%s", a, d);
  assert_int_equal(load(all, T0 + 1, NULL), 0);
  assert_ptr_equal(slot("Default"), s);
  assert_int_equal(atomic_load(&s->requests), 4);
  /* The quota survives: 2 per second. */
  for (n = 0, i = 0; i < 10; i++)
    n += decide("GET", "/x", T0 + 2, NULL);
  assert_int_equal(n, 2);
  assert_int_equal(decide("DELETE", "/x", T0 + 2, &name), 1);
  assert_string_equal(name, "new");
  /* POST /api/ now goes to Default. */
  assert_int_equal(decide("POST", "/api/x", T0 + 2, &name), 0);
  /* Both replaced sets were freed (no decision running). */
  assert_null(C.retired);
}

static void test_retired_wait_for_readers(void **state)
{
  int i;

  (void)state;
  load_std(T0);
  /* A decision in flight in the current epoch: the set it may use waits. */
  atomic_store(&C.readers[atomic_load(&C.epoch) & 1], 1);
  load_std(T0);
  assert_non_null(C.retired);
  for (i = 0; i < 3; i++) {
    char r[1024];
    rec(r, sizeof(r), "x", 1, 1, 0, "*", "*", "*", "*", "*", NULL);
    assert_int_equal(load(r, T0, NULL), -EBUSY);
  }
  assert_int_equal(decide("GET", "/health", T0, NULL), 0); /* the set in force stays */
  /* New decisions enter the other count: they do not hold it back. */
  assert_int_equal(atomic_load(&C.readers[atomic_load(&C.epoch) & 1]), 0);
  assert_int_equal(xr_central_reclaim(&C, 1000), 1);
  atomic_store(&C.readers[C.grace], 0);
  assert_int_equal(xr_central_reclaim(&C, 1), 0);
  load_std(T0);
  assert_null(C.retired);
}

static atomic_int stop_deciders;

static void *decider(void *arg)
{
  struct xr_sample_req q = {.method = "GET", .path = "/x", .service = "svc"};
  unsigned long n = 0;

  (void)arg;
  while (!atomic_load(&stop_deciders)) {
    unsigned r = 0;
    int d = xr_central_decide(&C, &q, T0, xr_random_unit, &r);
    if (d == 1 && !xr_central_rule_name(&C, r))
      return (void *)-1L;
    n++;
  }
  return (void *)n;
}

/* Rule sets replaced while two threads decide without pause: every
 * replaced set is freed at some point (ASan: no decision touches a freed
 * one), and decisions keep answering. */
static void test_concurrent_install(void **state)
{
  pthread_t t[2];
  void *ret;
  int i;

  (void)state;
  load_std(T0);
  atomic_store(&stop_deciders, 0);
  for (i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, decider, NULL), 0);
  for (i = 0; i < 300; i++) {
    load_std(T0); /* asserts 0: the set before was freed in time */
    assert_int_equal(xr_central_reclaim(&C, 100000000), 0);
  }
  atomic_store(&stop_deciders, 1);
  for (i = 0; i < 2; i++) {
    assert_int_equal(pthread_join(t[i], &ret), 0);
    assert_true((long)ret > 0);
  }
  assert_int_equal(xr_central_reclaim(&C, 1), 0);
}

/* The seam of xr_central_decide (sampling_central.h): a decision armed
 * here stops after reading the epoch, before counting itself in. */
static atomic_int stall_armed;
static sem_t stall_entered, stall_release, draw_entered, draw_release;

void xr_central_stall_hook(struct xr_central *c)
{
  (void)c;
  if (atomic_exchange(&stall_armed, 0)) {
    sem_post(&stall_entered);
    sem_wait(&stall_release);
  }
}

/* FixedRate's draw, held until the test lets it go: the decision is
 * inside the rule set it loaded. */
static double held_unit(void)
{
  sem_post(&draw_entered);
  sem_wait(&draw_release);
  return 0.0;
}

static void *stale_reader(void *arg)
{
  struct xr_sample_req q = {.method = "GET", .path = "/x", .service = "svc"};
  unsigned r = 0;

  (void)arg;
  return (void *)(long)xr_central_decide(&C, &q, T0, held_unit, &r);
}

/* A decision that read the epoch before an install and counted itself in
 * after it: the set it then uses must not be freed by the next install
 * (it was, when the count it entered was the stale epoch's: a use after
 * free in a hooked call). */
static void test_stale_epoch_reader(void **state)
{
  char r[1024];
  pthread_t t;
  void *ret;

  (void)state;
  assert_int_equal(sem_init(&stall_entered, 0, 0), 0);
  assert_int_equal(sem_init(&stall_release, 0, 0), 0);
  assert_int_equal(sem_init(&draw_entered, 0, 0), 0);
  assert_int_equal(sem_init(&draw_release, 0, 0), 0);
  rec(r, sizeof(r), "all", 1, 1, 0, "*", "*", "*", "*", "*", NULL);
  assert_int_equal(load(r, T0, NULL), 0);
  atomic_store(&stall_armed, 1);
  assert_int_equal(pthread_create(&t, NULL, stale_reader, NULL), 0);
  sem_wait(&stall_entered);            /* epoch read, not counted yet */
  assert_int_equal(load(r, T0, NULL), 0); /* install 1: nothing counted, old set freed */
  assert_null(C.retired);
  sem_post(&stall_release);
  sem_wait(&draw_entered);             /* the decision is inside a set */
  assert_int_equal(load(r, T0, NULL), 0); /* install 2 retires that set */
  assert_non_null(C.retired);          /* ... and keeps it while the decision runs */
  assert_int_equal(xr_central_reclaim(&C, 1000), 1);
  sem_post(&draw_release);
  assert_int_equal(pthread_join(t, &ret), 0);
  assert_int_equal((long)ret, 1);
  assert_int_equal(xr_central_reclaim(&C, 1000), 0);
  sem_destroy(&stall_entered);
  sem_destroy(&stall_release);
  sem_destroy(&draw_entered);
  sem_destroy(&draw_release);
}

static atomic_int cancel_sent;

/* A thread whose first random draw is a decision's, with a cancel pending:
 * it must not be cancelled inside the decision (glibc's getrandom() is a
 * cancellation point; the count it entered would stay raised for good,
 * and no replaced rule set would ever be freed again). */
static void *cancelled_decider(void *arg)
{
  struct xr_sample_req q = {.method = "GET", .path = "/x", .service = "svc"};
  unsigned r = 0;
  int old;

  (void)arg;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  while (!atomic_load(&cancel_sent))
    ;
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  (void)xr_central_decide(&C, &q, T0, xr_random_unit, &r);
  pthread_testcancel();
  return NULL;
}

static void test_cancel_in_decision(void **state)
{
  char r[1024];
  pthread_t t;
  void *ret;

  (void)state;
  rec(r, sizeof(r), "all", 1, 0.5, 0, "*", "*", "*", "*", "*", NULL); /* draws */
  assert_int_equal(load(r, T0, NULL), 0);
  atomic_store(&cancel_sent, 0);
  assert_int_equal(pthread_create(&t, NULL, cancelled_decider, NULL), 0);
  assert_int_equal(pthread_cancel(t), 0);
  atomic_store(&cancel_sent, 1);
  assert_int_equal(pthread_join(t, &ret), 0);
  assert_ptr_equal(ret, PTHREAD_CANCELED);
  assert_int_equal(atomic_load(&C.readers[0]) + atomic_load(&C.readers[1]), 0);
  /* Replaced sets are still freed. */
  assert_int_equal(load(r, T0, NULL), 0);
  assert_int_equal(load(r, T0, NULL), 0);
  assert_null(C.retired);
}

static void test_hour_fallback(void **state)
{
  (void)state;
  load_std(T0);
  next_unit = 0.0;
  assert_int_equal(decide("GET", "/health", T0 + 3600, NULL), 0);
  assert_int_equal(decide("GET", "/health", T0 + 3601, NULL), -1);
  /* A refresh brings it back. */
  load_std(T0 + 4000);
  assert_int_equal(decide("GET", "/health", T0 + 4001, NULL), 0);
}

static void test_fork_child(void **state)
{
  char id[XR_CLIENT_ID_LEN + 1];

  (void)state;
  load_std(T0);
  (void)decide("GET", "/x", T0, NULL);
  memcpy(id, C.client_id, sizeof(id));
  xr_central_fork_child(&C);
  assert_string_not_equal(id, C.client_id);
  assert_int_equal(atomic_load(&slot("Default")->requests), 0);
  assert_int_equal(atomic_load(&C.readers[0]) + atomic_load(&C.readers[1]), 0);
  /* Rules stay in force in the child. */
  assert_int_equal(decide("GET", "/health", T0, NULL), 0);
}

/* A fork while a replaced set waits for a decision of a thread the child
 * does not have: the child's poller installs again and frees it. */
static void test_fork_child_retired(void **state)
{
  (void)state;
  load_std(T0);
  atomic_store(&C.readers[atomic_load(&C.epoch) & 1], 1);
  load_std(T0);
  assert_non_null(C.retired);
  assert_int_equal(xr_central_reclaim(&C, 10), 1);
  xr_central_fork_child(&C);
  load_std(T0 + 1);
  assert_null(C.retired);
  assert_int_equal(decide("GET", "/health", T0 + 1, NULL), 0);
}

static void test_slots_bounded(void **state)
{
  char r[1024];
  unsigned i, skipped;

  (void)state;
  for (i = 0; i < XR_CSLOTS_MAX + 10; i++) {
    char name[16];
    snprintf(name, sizeof(name), "r%u", i);
    rec(r, sizeof(r), name, 1, 1, 0, "*", "*", "*", "*", "*", NULL);
    assert_int_equal(load(r, T0, &skipped), 0);
    assert_int_equal(skipped, i < XR_CSLOTS_MAX ? 0 : 1);
  }
  assert_int_equal(C.nslots, XR_CSLOTS_MAX);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_no_rules_is_local, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parse_filters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_parse_rejects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_priority_and_match, setup, teardown),
      cmocka_unit_test_setup_teardown(test_default_catches_all, setup, teardown),
      cmocka_unit_test_setup_teardown(test_borrow_then_rate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_quota_and_ttl, setup, teardown),
      cmocka_unit_test_setup_teardown(test_targets_malformed_and_refetch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_statistics, setup, teardown),
      cmocka_unit_test_setup_teardown(test_statistics_consistent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rule_change_keeps_state, setup, teardown),
      cmocka_unit_test_setup_teardown(test_retired_wait_for_readers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_install, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_epoch_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_in_decision, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hour_fallback, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fork_child, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fork_child_retired, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slots_bounded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
