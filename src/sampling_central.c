#include "xr_setup.h"

#include "sampling_central.h"

#include "ids.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- slots ---------------------------------------------------------------- */

static double xr_bits_double(unsigned long long b)
{
  double d;
  memcpy(&d, &b, sizeof(d));
  return d;
}

static unsigned long long xr_double_bits(double d)
{
  unsigned long long b;
  memcpy(&b, &d, sizeof(b));
  return b;
}

static struct xr_cslot *xr_slot_find(struct xr_central *c, const char *name)
{
  unsigned i;
  for (i = 0; i < c->nslots; i++)
    if (strcmp(c->slot[i].name, name) == 0)
      return &c->slot[i];
  return NULL;
}

/* Poller thread: a new slot is filled before any rule set that names it
 * is published (xr_central_install's release). */
static struct xr_cslot *xr_slot_intern(struct xr_central *c, const char *name)
{
  struct xr_cslot *s = xr_slot_find(c, name);

  if (s || c->nslots >= XR_CSLOTS_MAX)
    return s;
  s = &c->slot[c->nslots++];
  strcpy(s->name, name); /* length checked by the caller */
  atomic_store_explicit(&s->quota, -1, memory_order_relaxed);
  return s;
}

void xr_central_new_client_id(struct xr_central *c)
{
  char a[XR_ID_LEN + 1], b[XR_ID_LEN + 1];

  xr_new_entity_id(a);
  xr_new_entity_id(b);
  memcpy(c->client_id, a, 16);
  memcpy(c->client_id + 16, b, XR_CLIENT_ID_LEN - 16);
  c->client_id[XR_CLIENT_ID_LEN] = '\0';
}

/* ---- parsing the rules ------------------------------------------------ */

static cJSON *xr_parse_json(const char *buf, size_t len, int *rc)
{
  char *copy;
  cJSON *root;

  *rc = 0;
  if (len > XR_CRESPONSE_MAX) {
    *rc = -E2BIG;
    return NULL;
  }
  copy = malloc(len + 1);
  if (!copy) {
    *rc = -ENOMEM;
    return NULL;
  }
  memcpy(copy, buf, len);
  copy[len] = '\0';
  /* A NUL inside makes cJSON stop early: the trailing check rejects it. */
  root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
  free(copy);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    *rc = -EINVAL;
    return NULL;
  }
  return root;
}

static bool xr_num(const cJSON *v, double lo, double hi, double *out)
{
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < lo ||
      v->valuedouble > hi)
    return false;
  *out = v->valuedouble;
  return true;
}

static bool xr_int(const cJSON *v, double lo, double hi, long long *out)
{
  double d;
  if (!xr_num(v, lo, hi, &d) || d != floor(d))
    return false;
  *out = (long long)d;
  return true;
}

/* A pattern string: present, non-empty, at most XR_GLOB_MAX bytes, no NUL. */
static bool xr_pattern(const cJSON *rule, const char *key, const char **out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, key);
  size_t n;

  if (!cJSON_IsString(v) || !v->valuestring)
    return false;
  n = strlen(v->valuestring);
  if (n == 0 || n > XR_GLOB_MAX)
    return false;
  *out = v->valuestring;
  return true;
}

/* One record's usable content; strings point into the cJSON tree. */
struct xr_crec {
  const char *name, *pat[5];
  double rate;
  long long reservoir, priority;
};

static bool xr_record(const cJSON *rec, struct xr_crec *r)
{
  static const char *const keys[5] = {"Host", "HTTPMethod", "URLPath", "ServiceName",
                                      "ServiceType"};
  const cJSON *rule = cJSON_GetObjectItemCaseSensitive(rec, "SamplingRule");
  const cJSON *v;
  long long version;
  size_t n;
  int i;

  if (!cJSON_IsObject(rule))
    return false;
  v = cJSON_GetObjectItemCaseSensitive(rule, "RuleName");
  if (!cJSON_IsString(v) || !v->valuestring)
    return false;
  n = strlen(v->valuestring);
  if (n == 0 || n > XR_CRULE_NAME_MAX)
    return false;
  r->name = v->valuestring;
  if (!xr_int(cJSON_GetObjectItemCaseSensitive(rule, "Version"), 1, 1, &version))
    return false;
  v = cJSON_GetObjectItemCaseSensitive(rule, "ResourceARN");
  if (!cJSON_IsString(v) || !v->valuestring || strcmp(v->valuestring, "*") != 0)
    return false;
  /* Attributes: absent, null or {} (the SDKs cannot match any other). */
  v = cJSON_GetObjectItemCaseSensitive(rule, "Attributes");
  if (v && !cJSON_IsNull(v) && !(cJSON_IsObject(v) && !v->child))
    return false;
  for (i = 0; i < 5; i++)
    if (!xr_pattern(rule, keys[i], &r->pat[i]))
      return false;
  if (!xr_num(cJSON_GetObjectItemCaseSensitive(rule, "FixedRate"), 0, 1, &r->rate))
    return false;
  if (!xr_int(cJSON_GetObjectItemCaseSensitive(rule, "ReservoirSize"), 0, XR_CQUOTA_MAX,
              &r->reservoir))
    return false;
  if (!xr_int(cJSON_GetObjectItemCaseSensitive(rule, "Priority"), 0, 1e9, &r->priority))
    return false;
  return true;
}

/* The SDKs' reserved name: the rule that catches every request no other
 * rule applies to (Go keeps it apart from the others and falls back to it
 * whatever its priority and patterns; Python takes it when nothing before
 * it matched). The service gives it priority 10000 and "*" patterns; a
 * daemon that says otherwise does not make requests fall through to the
 * local rules nor the Default go first. */
static bool xr_is_default(const char *name)
{
  return strcmp(name, "Default") == 0;
}

static int xr_rec_cmp(const void *a, const void *b)
{
  const struct xr_crec *x = a, *y = b;
  bool dx = xr_is_default(x->name), dy = xr_is_default(y->name);
  if (dx != dy)
    return dx ? 1 : -1;
  if (x->priority != y->priority)
    return x->priority < y->priority ? -1 : 1;
  return strcmp(x->name, y->name);
}

int xr_central_parse_rules(struct xr_central *c, const char *buf, size_t len,
                           struct xr_crules **out, unsigned *skipped)
{
  struct xr_crec *recs = NULL;
  struct xr_crules *rs = NULL;
  const cJSON *arr, *rec;
  cJSON *root;
  unsigned n = 0, seen = 0, i, j, k;
  size_t size;
  char *g;
  int rc;

  *out = NULL;
  *skipped = 0;
  root = xr_parse_json(buf, len, &rc);
  if (!root)
    return rc;
  arr = cJSON_GetObjectItemCaseSensitive(root, "SamplingRuleRecords");
  if (!cJSON_IsArray(arr)) {
    rc = -EINVAL;
    goto out;
  }
  recs = calloc(XR_CRULES_MAX, sizeof(*recs));
  if (!recs) {
    rc = -ENOMEM;
    goto out;
  }
  cJSON_ArrayForEach(rec, arr) {
    bool dup = false;
    if (++seen > XR_CRECORDS_MAX) {
      rc = -E2BIG;
      goto out;
    }
    if (n == XR_CRULES_MAX || !cJSON_IsObject(rec) || !xr_record(rec, &recs[n])) {
      (*skipped)++;
      continue;
    }
    /* A name twice: the first record stands (names are X-Ray's keys). */
    for (j = 0; j < n && !dup; j++)
      dup = strcmp(recs[j].name, recs[n].name) == 0;
    if (dup || !xr_slot_intern(c, recs[n].name)) {
      (*skipped)++;
      continue;
    }
    n++;
  }
  qsort(recs, n, sizeof(*recs), xr_rec_cmp);

  size = sizeof(*rs) + n * sizeof(rs->rule[0]);
  size = (size + 7) & ~(size_t)7;
  for (i = 0; i < n; i++)
    for (k = 0; k < 5; k++)
      size += xr_glob_size(recs[i].pat[k], strlen(recs[i].pat[k]));
  rs = malloc(size);
  if (!rs) {
    rc = -ENOMEM;
    goto out;
  }
  rs->n = n;
  g = (char *)rs + ((sizeof(*rs) + n * sizeof(rs->rule[0]) + 7) & ~(size_t)7);
  for (i = 0; i < n; i++) {
    struct xr_crule *r = &rs->rule[i];
    const struct xr_glob **dst[5] = {&r->host, &r->method, &r->path, &r->service,
                                     &r->service_type};
    for (k = 0; k < 5; k++) {
      size_t plen = strlen(recs[i].pat[k]);
      xr_glob_compile((struct xr_glob *)(void *)g, recs[i].pat[k], plen);
      *dst[k] = (const struct xr_glob *)(void *)g;
      g += xr_glob_size(recs[i].pat[k], plen);
    }
    r->slot = xr_slot_find(c, recs[i].name);
    r->is_default = xr_is_default(recs[i].name);
    r->fixed_rate = recs[i].rate;
    r->reservoir_size = recs[i].reservoir;
    r->priority = recs[i].priority;
  }
  *out = rs;
  rc = 0;
out:
  free(recs);
  cJSON_Delete(root);
  return rc;
}

/* ---- publication ------------------------------------------------------ */

static void xr_reclaim(struct xr_central *c)
{
  if (c->retired && atomic_load(&c->readers[c->grace]) == 0) {
    free(c->retired);
    c->retired = NULL;
  }
}

unsigned xr_central_reclaim(struct xr_central *c, unsigned spins)
{
  /* The old epoch's count only drains: a decision's time, unless a
   * thread was stopped in the middle of one. */
  while (c->retired && spins--)
    xr_reclaim(c);
  return c->retired ? 1 : 0;
}

int xr_central_install(struct xr_central *c, struct xr_crules *rs, int64_t now_s)
{
  struct xr_crules *old;
  unsigned i, e;

  xr_reclaim(c);
  if (c->retired) {
    free(rs);
    return -EBUSY;
  }
  for (i = 0; i < rs->n; i++)
    atomic_store_explicit(&rs->rule[i].slot->rate_bits,
                          xr_double_bits(rs->rule[i].fixed_rate), memory_order_relaxed);
  /* seq_cst, all three: ordered against the decisions' epoch load, add
   * and pointer load (sampling_central.h). */
  old = atomic_exchange(&c->active, rs);
  atomic_store(&c->refreshed, now_s);
  e = atomic_load(&c->epoch);
  atomic_store(&c->epoch, e ^ 1u);
  if (old) {
    c->retired = old;
    c->grace = e & 1u;
  }
  xr_reclaim(c);
  return 0;
}

/* ---- deciding ---------------------------------------------------------- */

static bool xr_cattr(const struct xr_glob *g, const char *v)
{
  /* Absent: an implicit match (Python's applies, Go's AppliesTo). "*"
   * (most patterns of most rules): no need to measure the text. */
  if (!v || !*v || g->kind == XR_GLOB_ANY)
    return true;
  return xr_glob_match(g, v, strlen(v), NULL);
}

static bool xr_crule_applies(const struct xr_crule *r, const struct xr_sample_req *q)
{
  return r->is_default ||
         (xr_cattr(r->host, q->host) && xr_cattr(r->method, q->method) &&
          xr_cattr(r->path, q->path) && xr_cattr(r->service, q->service) &&
          xr_cattr(r->service_type, q->service_type));
}

/* One of quota per second of now_s. */
static bool xr_take(struct xr_cslot *s, long long quota, int64_t now_s)
{
  unsigned long long cur = atomic_load_explicit(&s->taken, memory_order_relaxed);
  uint32_t sec = (uint32_t)now_s;

  for (;;) {
    uint32_t used = (uint32_t)(cur >> 32) == sec ? (uint32_t)cur : 0;
    if ((long long)used >= quota)
      return false;
    if (atomic_compare_exchange_weak_explicit(
            &s->taken, &cur, ((unsigned long long)sec << 32) | (used + 1),
            memory_order_relaxed, memory_order_relaxed))
      return true;
  }
}

/* One per second. */
static bool xr_borrow(struct xr_cslot *s, int64_t now_s)
{
  long long last = atomic_load_explicit(&s->borrow_sec, memory_order_relaxed);

  while (last != now_s)
    if (atomic_compare_exchange_weak_explicit(&s->borrow_sec, &last, now_s,
                                              memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  return false;
}

static bool xr_cslot_decide(const struct xr_crule *r, int64_t now_s, double (*unit)(void))
{
  struct xr_cslot *s = r->slot;
  long long quota = atomic_load_explicit(&s->quota, memory_order_relaxed);
  double rate;

  /* Counted before the outcome's counter (xr_central_statistics). */
  atomic_fetch_add(&s->requests, 1);
  if (quota >= 0 && atomic_load_explicit(&s->quota_ttl, memory_order_relaxed) >= now_s) {
    if (xr_take(s, quota, now_s))
      goto sampled;
  } else if (r->reservoir_size > 0 && xr_borrow(s, now_s)) {
    atomic_fetch_add(&s->borrowed, 1);
    return true;
  }
  rate = xr_bits_double(atomic_load_explicit(&s->rate_bits, memory_order_relaxed));
  /* rate 0 never draws; rate 1 always samples (unit() < 1). */
  if (rate > 0 && unit() < rate)
    goto sampled;
  return false;
sampled:
  atomic_fetch_add(&s->sampled, 1);
  return true;
}

int xr_central_decide(struct xr_central *c, const struct xr_sample_req *req,
                      int64_t now_s, double (*unit)(void), unsigned *rule)
{
  static const struct xr_sample_req none;
  const struct xr_crules *rs;
  int d = -1;
  unsigned i, e;

  if (!req)
    req = &none;
  /* No rules, or stale ones (the daemon unreachable): local rules, without
   * touching the shared reader counts. */
  if (!atomic_load_explicit(&c->active, memory_order_relaxed) ||
      now_s - atomic_load_explicit(&c->refreshed, memory_order_relaxed) > XR_CENTRAL_TTL)
    return -1;
  /* seq_cst epoch load, add, epoch load again, then pointer load: see
   * xr_central_install. The second look makes the count we entered the
   * current epoch's: a thread stopped between the first load and the add
   * (preempted, or a signal handler) while the poller installed a set
   * would otherwise count itself in a stale epoch's readers, load a set
   * that a later install retires against the other count, and use it
   * after it is freed. An install flips the epoch at most once per
   * decision's time (it waits for the old count to drain), so this loop
   * ends at once. */
  for (;;) {
    e = atomic_load(&c->epoch) & 1u;
    if (XR_UNLIKELY(xr_central_stall_hook != NULL))
      xr_central_stall_hook(c); /* tests only: stop here */
    atomic_fetch_add(&c->readers[e], 1);
    if (XR_LIKELY((atomic_load(&c->epoch) & 1u) == e))
      break;
    atomic_fetch_sub(&c->readers[e], 1);
  }
  rs = atomic_load(&c->active);
  if (!rs || now_s - atomic_load_explicit(&c->refreshed, memory_order_relaxed) >
                 XR_CENTRAL_TTL)
    goto out;
  for (i = 0; i < rs->n; i++) {
    const struct xr_crule *r = &rs->rule[i];
    if (!xr_crule_applies(r, req))
      continue;
    d = xr_cslot_decide(r, now_s, unit);
    if (d && rule)
      *rule = (unsigned)(r->slot - c->slot) + 1;
    break;
  }
out:
  atomic_fetch_sub(&c->readers[e], 1);
  return d;
}

const char *xr_central_rule_name(struct xr_central *c, unsigned rule)
{
  /* Slots below nslots were filled before any decision could name them. */
  if (rule == 0 || rule > XR_CSLOTS_MAX || !c->slot[rule - 1].name[0])
    return NULL;
  return c->slot[rule - 1].name;
}

/* ---- targets ----------------------------------------------------------- */

int xr_central_apply_targets(struct xr_central *c, const char *buf, size_t len,
                             int *interval, bool *refetch)
{
  const cJSON *arr, *doc;
  cJSON *root;
  double lrm;
  unsigned seen = 0;
  int rc;

  *interval = 0;
  *refetch = false;
  root = xr_parse_json(buf, len, &rc);
  if (!root)
    return rc;
  arr = cJSON_GetObjectItemCaseSensitive(root, "SamplingTargetDocuments");
  if (arr && !cJSON_IsArray(arr) && !cJSON_IsNull(arr)) {
    rc = -EINVAL;
    goto out;
  }
  if (!cJSON_IsArray(arr))
    arr = NULL;
  cJSON_ArrayForEach(doc, arr) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "RuleName");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(doc, "ReservoirQuota");
    const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(doc, "ReservoirQuotaTTL");
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(doc, "Interval");
    struct xr_cslot *s;
    long long quota, secs;
    double rate, t;

    if (++seen > XR_CRECORDS_MAX)
      break;
    if (!cJSON_IsString(name) || !name->valuestring ||
        strlen(name->valuestring) > XR_CRULE_NAME_MAX ||
        !(s = xr_slot_find(c, name->valuestring)))
      continue;
    /* Each member on its own: a malformed one is ignored, the rest apply
     * (the SDKs apply what they can read). */
    if (xr_num(cJSON_GetObjectItemCaseSensitive(doc, "FixedRate"), 0, 1, &rate))
      atomic_store_explicit(&s->rate_bits, xr_double_bits(rate), memory_order_relaxed);
    if (xr_int(q, 0, XR_CQUOTA_MAX, &quota) && xr_num(ttl, 0, 1e12, &t)) {
      /* TTL before quota: a decision between the two stores sees the old
       * quota with the new TTL, which is no worse than either. */
      atomic_store_explicit(&s->quota_ttl, (long long)t, memory_order_relaxed);
      atomic_store_explicit(&s->quota, quota, memory_order_relaxed);
    }
    if (xr_int(iv, 1, 1e9, &secs)) {
      int v = secs > XR_CINTERVAL_MAX ? XR_CINTERVAL_MAX : (int)secs;
      atomic_store_explicit(&s->interval, v, memory_order_relaxed);
      if (!*interval || v < *interval)
        *interval = v;
    }
  }
  if (xr_num(cJSON_GetObjectItemCaseSensitive(root, "LastRuleModification"), 0, 1e12,
             &lrm) &&
      (long long)lrm > atomic_load(&c->refreshed))
    *refetch = true;
  rc = 0;
out:
  cJSON_Delete(root);
  return rc;
}

/* ---- statistics -------------------------------------------------------- */

int xr_central_statistics(struct xr_central *c, int64_t now_s, char **out)
{
  struct xr_crules *rs = atomic_load(&c->active);
  cJSON *root = NULL, *arr;
  unsigned i, n = 0;
  int rc = -ENOMEM;

  *out = NULL;
  if (!rs)
    return 0;
  root = cJSON_CreateObject();
  arr = root ? cJSON_AddArrayToObject(root, "SamplingStatisticsDocuments") : NULL;
  if (!arr)
    goto out;
  for (i = 0; i < rs->n; i++) {
    struct xr_cslot *s = rs->rule[i].slot;
    unsigned long long sampled, borrowed, requests;
    cJSON *d;

    if (!atomic_load_explicit(&s->requests, memory_order_relaxed))
      continue;
    /* Three counters are not swapped at one instant: a decision between
     * two swaps has its request in one report and its outcome in the
     * other, whatever the order. Requests first, then the outcomes, which
     * are never more than the requests: an outcome counted here whose
     * request came after the first swap goes back to the counters, into
     * the report that has its request (the next one). Every report is
     * consistent and nothing is lost or counted twice. */
    requests = atomic_exchange(&s->requests, 0);
    sampled = atomic_exchange(&s->sampled, 0);
    borrowed = atomic_exchange(&s->borrowed, 0);
    if (sampled + borrowed > requests) {
      unsigned long long extra = sampled + borrowed - requests;
      unsigned long long back = extra < sampled ? extra : sampled;
      atomic_fetch_add(&s->sampled, back);
      sampled -= back;
      atomic_fetch_add(&s->borrowed, extra - back);
      borrowed -= extra - back;
    }
    d = cJSON_CreateObject();
    if (!d)
      goto out;
    cJSON_AddItemToArray(arr, d);
    if (!cJSON_AddStringToObject(d, "RuleName", s->name) ||
        !cJSON_AddStringToObject(d, "ClientID", c->client_id) ||
        !cJSON_AddNumberToObject(d, "RequestCount", (double)requests) ||
        !cJSON_AddNumberToObject(d, "SampledCount", (double)sampled) ||
        !cJSON_AddNumberToObject(d, "BorrowCount", (double)borrowed) ||
        !cJSON_AddNumberToObject(d, "Timestamp", (double)now_s))
      goto out;
    n++;
  }
  rc = 0;
  if (n && !(*out = cJSON_PrintUnformatted(root)))
    rc = -ENOMEM;
out:
  cJSON_Delete(root);
  return rc;
}

/* ---- process life ------------------------------------------------------ */

void xr_central_fork_child(struct xr_central *c)
{
  unsigned i;

  /* The forking thread was not deciding; the others are gone. */
  atomic_store(&c->readers[0], 0);
  atomic_store(&c->readers[1], 0);
  for (i = 0; i < c->nslots; i++) {
    atomic_store(&c->slot[i].requests, 0);
    atomic_store(&c->slot[i].sampled, 0);
    atomic_store(&c->slot[i].borrowed, 0);
  }
  xr_central_new_client_id(c);
}

void xr_central_reset(struct xr_central *c)
{
  free(atomic_exchange(&c->active, NULL));
  free(c->retired);
  memset(c, 0, sizeof(*c));
}
