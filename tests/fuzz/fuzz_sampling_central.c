/*
 * Fuzz target: the centralized sampling engine of src/sampling_central.c, which reads what the
 * daemon's TCP proxy answers.
 *
 * Input: any bytes, used whole as a GetSamplingRules response (xr_central_parse_rules, then
 * xr_central_install), then as a SamplingTargets response (xr_central_apply_targets), with
 * decisions for request attributes sliced from the input in between, and a statistics report.
 *
 * Oracles:
 *  - a rejection is -EINVAL / -E2BIG / -ENOMEM with no result;
 *  - an accepted set holds at most XR_CRULES_MAX rules ordered by (priority, name), names of
 *    1..XR_CRULE_NAME_MAX bytes, distinct, each with its own slot;
 *  - a decision is -1, 0 or 1, names a rule of the set when 1;
 *  - the statistics document is valid JSON whose request counts add up to the decisions that
 *    matched a rule, and a second report right after is empty.
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "sampling_central.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000LL

static struct xr_central C;

static double half(void)
{
  return 0.5;
}

static void slice(const uint8_t *data, size_t size, size_t part, char out[64])
{
  size_t from = size * part / 5, n = size / 5;
  if (n > 63)
    n = 63;
  memcpy(out, data + from, n);
  out[n] = '\0'; /* a NUL inside cuts it: fine */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct xr_crules *rs = NULL;
  char attr[5][64];
  struct xr_sample_req q;
  unsigned skipped, i, matched = 0;
  unsigned long long total = 0;
  char *stats = NULL;
  int rc, iv;
  bool refetch;

  xr_central_reset(&C);
  xr_central_new_client_id(&C);
  rc = xr_central_parse_rules(&C, (const char *)data, size, &rs, &skipped);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
  XR_FZ_CHECK((rc == 0) == (rs != NULL));
  if (rs) {
    XR_FZ_CHECK(rs->n <= XR_CRULES_MAX);
    for (i = 0; i < rs->n; i++) {
      size_t n = strlen(rs->rule[i].slot->name);
      XR_FZ_CHECK(n >= 1 && n <= XR_CRULE_NAME_MAX);
      XR_FZ_CHECK(rs->rule[i].reservoir_size >= 0);
      XR_FZ_CHECK(rs->rule[i].is_default == (strcmp(rs->rule[i].slot->name, "Default") == 0));
      /* (Priority, RuleName), "Default" last whatever its priority. */
      XR_FZ_CHECK(!rs->rule[i].is_default || i + 1 == rs->n);
      if (i && !rs->rule[i].is_default) {
        const struct xr_crule *a = &rs->rule[i - 1], *b = &rs->rule[i];
        XR_FZ_CHECK(a->priority < b->priority ||
                    (a->priority == b->priority && strcmp(a->slot->name, b->slot->name) < 0));
      }
    }
    XR_FZ_CHECK(xr_central_install(&C, rs, NOW) == 0);
  }
  for (i = 0; i < 5; i++)
    slice(data, size, i, attr[i]);
  q.host = attr[0];
  q.method = attr[1];
  q.path = attr[2];
  q.service = attr[3];
  q.service_type = attr[4];
  for (i = 0; i < 4; i++) {
    unsigned r = 0;
    int d = xr_central_decide(&C, i & 1 ? &q : NULL, NOW + i, half, &r);
    XR_FZ_CHECK(d >= -1 && d <= 1);
    if (d >= 0)
      matched++;
    if (d == 1)
      XR_FZ_CHECK(xr_central_rule_name(&C, r) != NULL);
  }
  rc = xr_central_apply_targets(&C, (const char *)data, size, &iv, &refetch);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
  XR_FZ_CHECK(iv >= 0 && iv <= XR_CINTERVAL_MAX);
  (void)xr_central_decide(&C, &q, NOW + 9, half, NULL);
  if (xr_central_statistics(&C, NOW + 10, &stats) == 0 && stats) {
    cJSON *root = cJSON_Parse(stats), *d;
    XR_FZ_CHECK(root != NULL);
    cJSON_ArrayForEach(d, cJSON_GetObjectItem(root, "SamplingStatisticsDocuments"))
      total += (unsigned long long)cJSON_GetObjectItem(d, "RequestCount")->valuedouble;
    XR_FZ_CHECK(total >= matched && total <= matched + 1);
    cJSON_Delete(root);
    free(stats);
    stats = NULL;
    XR_FZ_CHECK(xr_central_statistics(&C, NOW + 11, &stats) == 0 && stats == NULL);
  }
  xr_central_reset(&C);
  return 0;
}
