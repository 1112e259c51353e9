/*
 * Fuzz target: the sampling-rules reader and matcher of src/sampling_rules.c.
 *
 * Input: any bytes, used three ways:
 *  - whole, as the contents of an XRAY_AUTO_SAMPLING_RULES file: xr_rules_parse;
 *  - sliced into three request attributes (host, method, path: the first bytes, the middle,
 *    the end, NULs cut), matched against the parsed rules;
 *  - first byte = a pattern length k, the next k bytes a glob pattern, the rest (at most 512
 *    bytes, the sniffer's longest path) its text: xr_glob_match.
 *
 * Oracles:
 *  - a rejection comes with -EINVAL / -E2BIG / -ENOMEM, no result, a one-line reason;
 *  - an accepted file holds version 1 or 2, at most XR_RULES_MAX rules, non-empty patterns of
 *    at most XR_GLOB_MAX bytes, descriptions of at most XR_RULE_DESC_MAX, fixed_target at most
 *    XR_FIXED_TARGET_MAX, rate in [0, 1], a default without patterns;
 *  - round trip: the rules written back as a document (cJSON, "service_name" for version 1)
 *    parse again to exactly the same rules;
 *  - every rule matches its own pattern texts, so matching them picks it or an earlier rule;
 *  - matching agrees with a reference (rules scanned in order, each pattern checked by a
 *    dynamic-programming glob written here), absent (empty) attributes matching anything;
 *  - xr_glob_match agrees with the reference and takes at most one step per text byte
 *    (no backtracking: bounded time whatever the pattern).
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "sampling_rules.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <string.h>

#define TEXT_MAX 512

/* Reference glob: DP over prefixes; '*' any run, '?' one byte, ASCII case folded. */
static unsigned char fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool ref_glob(const char *p, size_t m, const char *t, size_t n)
{
  static bool row[2][TEXT_MAX + 1];
  size_t i, j;
  bool *prev = row[0], *cur = row[1], *tmp;

  XR_FZ_CHECK(n <= TEXT_MAX);
  prev[0] = true;
  for (j = 1; j <= n; j++)
    prev[j] = false;
  for (i = 1; i <= m; i++) {
    unsigned char a = fold((unsigned char)p[i - 1]);
    cur[0] = prev[0] && a == '*';
    for (j = 1; j <= n; j++) {
      if (a == '*')
        cur[j] = prev[j] || cur[j - 1];
      else
        cur[j] = prev[j - 1] && (a == '?' || a == fold((unsigned char)t[j - 1]));
    }
    tmp = prev;
    prev = cur;
    cur = tmp;
  }
  return prev[n];
}

static bool ref_attr(const char *pat, const char *v)
{
  return !v || !*v || ref_glob(pat, strlen(pat), v, strlen(v));
}

static int ref_index(const struct xr_rules *rs, const struct xr_sample_req *q)
{
  unsigned i;
  for (i = 0; i < rs->nrules; i++)
    if (ref_attr(rs->rule[i].host_text, q->host) && ref_attr(rs->rule[i].method_text, q->method) &&
        ref_attr(rs->rule[i].path_text, q->path))
      return (int)i;
  return -1;
}

static void check_glob(const struct xr_glob *g, const char *pat, const char *text)
{
  size_t steps = 0, n = strlen(text);
  bool got = xr_glob_match(g, text, n, &steps);
  XR_FZ_CHECK(steps <= n);
  XR_FZ_CHECK(got == ref_glob(pat, strlen(pat), text, n));
}

static void check_rule(const struct xr_rule *r, bool deflt)
{
  XR_FZ_CHECK(r->fixed_target <= XR_FIXED_TARGET_MAX);
  XR_FZ_CHECK(r->rate >= 0.0 && r->rate <= 1.0);
  if (deflt) {
    XR_FZ_CHECK(!r->host && !r->method && !r->path && !r->host_text && !r->description);
    return;
  }
  XR_FZ_CHECK(r->host && r->method && r->path);
  XR_FZ_CHECK(r->host_text[0] && strlen(r->host_text) <= XR_GLOB_MAX);
  XR_FZ_CHECK(r->method_text[0] && strlen(r->method_text) <= XR_GLOB_MAX);
  XR_FZ_CHECK(r->path_text[0] && strlen(r->path_text) <= XR_GLOB_MAX);
  XR_FZ_CHECK(!r->description || strlen(r->description) <= XR_RULE_DESC_MAX);
  /* A pattern matches its own text ('*' and '?' match themselves). */
  check_glob(r->host, r->host_text, r->host_text);
  check_glob(r->method, r->method_text, r->method_text);
  check_glob(r->path, r->path_text, r->path_text);
}

static cJSON *write_back(const struct xr_rules *rs)
{
  cJSON *doc = cJSON_CreateObject(), *rules = cJSON_CreateArray(), *d = cJSON_CreateObject();
  unsigned i;

  XR_FZ_CHECK(doc && rules && d);
  cJSON_AddNumberToObject(doc, "version", rs->version);
  cJSON_AddNumberToObject(d, "fixed_target", rs->deflt.fixed_target);
  cJSON_AddNumberToObject(d, "rate", rs->deflt.rate);
  cJSON_AddItemToObject(doc, "default", d);
  for (i = 0; i < rs->nrules; i++) {
    const struct xr_rule *r = &rs->rule[i];
    cJSON *o = cJSON_CreateObject();
    XR_FZ_CHECK(o);
    if (r->description)
      cJSON_AddStringToObject(o, "description", r->description);
    cJSON_AddStringToObject(o, rs->version == 1 ? "service_name" : "host", r->host_text);
    cJSON_AddStringToObject(o, "http_method", r->method_text);
    cJSON_AddStringToObject(o, "url_path", r->path_text);
    cJSON_AddNumberToObject(o, "fixed_target", r->fixed_target);
    cJSON_AddNumberToObject(o, "rate", r->rate);
    cJSON_AddItemToArray(rules, o);
  }
  cJSON_AddItemToObject(doc, "rules", rules);
  return doc;
}

static bool same_text(const char *a, const char *b)
{
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_round_trip(const struct xr_rules *rs)
{
  cJSON *doc = write_back(rs);
  char *text = cJSON_PrintUnformatted(doc);
  struct xr_rules *again = NULL;
  char err[160];
  unsigned i;
  int rc;

  XR_FZ_CHECK(text);
  rc = xr_rules_parse(text, strlen(text), &again, err, sizeof(err));
  if (rc != 0)
    fprintf(stderr, "round trip rejected: %s\n%s\n", err, text);
  XR_FZ_CHECK(rc == 0 && again);
  XR_FZ_CHECK(again->version == rs->version && again->nrules == rs->nrules);
  XR_FZ_CHECK(again->deflt.fixed_target == rs->deflt.fixed_target &&
              again->deflt.rate == rs->deflt.rate);
  for (i = 0; i < rs->nrules; i++) {
    const struct xr_rule *a = &rs->rule[i], *b = &again->rule[i];
    XR_FZ_CHECK(same_text(a->host_text, b->host_text));
    XR_FZ_CHECK(same_text(a->method_text, b->method_text));
    XR_FZ_CHECK(same_text(a->path_text, b->path_text));
    XR_FZ_CHECK(same_text(a->description, b->description));
    XR_FZ_CHECK(a->fixed_target == b->fixed_target && a->rate == b->rate);
  }
  free(again);
  cJSON_free(text);
  cJSON_Delete(doc);
}

/* bytes [from, from + n) of data as a NUL-terminated string, cut at a NUL. */
static void slice(char *out, size_t cap, const uint8_t *data, size_t size, size_t from, size_t n)
{
  size_t i;
  if (from > size)
    from = size;
  if (n > size - from)
    n = size - from;
  if (n >= cap)
    n = cap - 1;
  for (i = 0; i < n && data[from + i]; i++)
    out[i] = (char)data[from + i];
  out[i] = '\0';
}

static double half(void)
{
  return 0.5;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* Every byte a literal of its own, at most. */
  static uint64_t gmem[(sizeof(struct xr_glob) +
                        XR_GLOB_MAX * sizeof(uint64_t[XR_GLOB_WORDS])) / 8 + 1];
  struct xr_glob *g = (struct xr_glob *)gmem;
  struct xr_rules *rs = (struct xr_rules *)(uintptr_t)1;
  char err[160], host[256], method[16], path[TEXT_MAX + 1], pat[XR_GLOB_MAX + 1];
  size_t k;
  int rc;

  err[0] = 'x';
  rc = xr_rules_parse((const char *)data, size, &rs, err, sizeof(err));
  if (rc < 0) {
    XR_FZ_CHECK(rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
    XR_FZ_CHECK(rs == NULL);
    XR_FZ_CHECK(err[0] && !strchr(err, '\n') && strlen(err) < sizeof(err));
  } else {
    struct xr_sample_req q;
    unsigned i;
    int idx;

    XR_FZ_CHECK(rc == 0 && rs != NULL);
    XR_FZ_CHECK(rs->version == 1 || rs->version == 2);
    XR_FZ_CHECK(rs->nrules <= XR_RULES_MAX);
    check_rule(&rs->deflt, true);
    for (i = 0; i < rs->nrules; i++) {
      const struct xr_rule *r = &rs->rule[i];
      check_rule(r, false);
      q.host = r->host_text;
      q.method = r->method_text;
      q.path = r->path_text;
      idx = xr_rules_match_index(rs, &q);
      XR_FZ_CHECK(idx >= 0 && idx <= (int)i);
    }
    check_round_trip(rs);

    /* Requests from the input's bytes. */
    slice(host, sizeof(host), data, size, 0, 64);
    slice(method, sizeof(method), data, size, size / 3, 12);
    slice(path, sizeof(path), data, size, size / 2, TEXT_MAX);
    q.host = host;
    q.method = method;
    q.path = path;
    idx = xr_rules_match_index(rs, &q);
    XR_FZ_CHECK(idx == ref_index(rs, &q));
    XR_FZ_CHECK(xr_rules_match(rs, &q) == (idx < 0 ? &rs->deflt : &rs->rule[idx]));
    XR_FZ_CHECK(xr_rules_match_index(rs, NULL) == -1);
    (void)xr_rule_decide(xr_rules_match(rs, &q), 1700000000, half);
    free(rs);
  }

  /* The glob on its own. */
  if (size > 0) {
    k = data[0] % (XR_GLOB_MAX + 1);
    slice(pat, sizeof(pat), data, size, 1, k);
    slice(path, sizeof(path), data, size, 1 + k, TEXT_MAX);
    XR_FZ_CHECK(xr_glob_size(pat, strlen(pat)) <= sizeof(gmem));
    xr_glob_compile(g, pat, strlen(pat));
    check_glob(g, pat, path);
  }
  return 0;
}
