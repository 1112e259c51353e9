#include "xr_setup.h"

#include "sampling_rules.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- globs ------------------------------------------------------------ */

/*
 * The pattern p[0..m) is an automaton whose state j means "p[0..j) matched
 * the text read so far". A literal or '?' at j moves j to j+1 on a byte it
 * accepts; a '*' at j keeps j on any byte and also means j+1 (it may match
 * nothing). With one bit per state, a byte costs a shift, two ANDs and two
 * ORs per 64 states: no backtracking, so "*a*a*a*...b" against "aaaa..."
 * takes at most as many steps as the text has bytes. Two shortcuts: "*"
 * (the usual host and method) matches without reading, and a pattern
 * without '*' or '?' is a length check and one comparison per byte.
 */

static inline unsigned char xr_fold(unsigned char c)
{
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static inline bool xr_bit(const uint64_t *w, unsigned i)
{
  return (w[i / 64] >> (i % 64)) & 1u;
}

static inline void xr_set_bit(uint64_t *w, unsigned i)
{
  w[i / 64] |= (uint64_t)1 << (i % 64);
}

/* Distinct folded literal bytes of the pattern; their rows in row[] when
 * row is not NULL. */
static unsigned xr_glob_literals(const char *pat, size_t len, uint8_t *row)
{
  uint8_t seen[256] = {0};
  unsigned n = 0;
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char c = xr_fold((unsigned char)pat[i]);
    if (c == '*' || c == '?' || seen[c])
      continue;
    seen[c] = (uint8_t)++n; /* at most XR_GLOB_MAX: fits */
  }
  if (row)
    memcpy(row, seen, sizeof(seen));
  return n;
}

size_t xr_glob_size(const char *pat, size_t len)
{
  return sizeof(struct xr_glob) +
         xr_glob_literals(pat, len, NULL) * sizeof(uint64_t[XR_GLOB_WORDS]);
}

void xr_glob_compile(struct xr_glob *g, const char *pat, size_t len)
{
  unsigned j = 0, stars = 0, ones = 0;
  size_t i;

  if (len > XR_GLOB_MAX)
    len = XR_GLOB_MAX;
  memset(g, 0, sizeof(*g));
  g->nlit = (uint16_t)xr_glob_literals(pat, len, g->row);
  memset(g->lit, 0, g->nlit * sizeof(g->lit[0]));
  for (i = 0; i < len; i++) {
    unsigned char c = xr_fold((unsigned char)pat[i]);
    if (c == '*') {
      /* "**" is "*": one state, so that one closure step suffices. */
      if (j > 0 && xr_bit(g->star, j - 1))
        continue;
      xr_set_bit(g->star, j);
      stars++;
    } else if (c == '?') {
      xr_set_bit(g->any1, j + 1);
      ones++;
    } else {
      xr_set_bit(g->lit[g->row[c] - 1], j + 1);
    }
    j++;
  }
  g->m = (uint16_t)j;
  g->kind = g->m == 1 && stars == 1 ? XR_GLOB_ANY
            : stars == 0 && ones == 0 ? XR_GLOB_LITERAL
                                      : XR_GLOB_AUTOMATON;
}

/* Patterns under 64 states (nearly all): the automaton in one word. */
static bool xr_glob_run1(const struct xr_glob *g, const char *text, size_t len,
                         size_t *steps)
{
  uint64_t d = 1, star = g->star[0], any1 = g->any1[0];
  size_t i;

  d |= (d & star) << 1;
  for (i = 0; i < len; i++) {
    uint8_t r = g->row[xr_fold((unsigned char)text[i])];
    uint64_t adv = any1 | (r ? g->lit[r - 1][0] : 0);
    d = ((d << 1) & adv) | (d & star);
    d |= (d & star) << 1;
    if (!d) {
      *steps = i + 1;
      return false;
    }
  }
  *steps = len;
  return (d >> g->m) & 1;
}

static bool xr_glob_run(const struct xr_glob *g, const char *text, size_t len,
                        size_t *steps)
{
  uint64_t d[XR_GLOB_WORDS] = {0}, n[XR_GLOB_WORDS];
  unsigned nw = (g->m + 64u) / 64u, w;
  size_t i;

  d[0] = 1;
  if (g->star[0] & 1)
    d[0] |= 2;
  for (i = 0; i < len; i++) {
    uint8_t r = g->row[xr_fold((unsigned char)text[i])];
    const uint64_t *lit = r ? g->lit[r - 1] : NULL;
    uint64_t carry = 0, any = 0;

    for (w = 0; w < nw; w++) {
      uint64_t shifted = (d[w] << 1) | carry;
      uint64_t adv = g->any1[w] | (lit ? lit[w] : 0);
      carry = d[w] >> 63;
      n[w] = (shifted & adv) | (d[w] & g->star[w]);
    }
    carry = 0;
    for (w = 0; w < nw; w++) {
      uint64_t st = n[w] & g->star[w];
      uint64_t next_carry = st >> 63;
      n[w] |= (st << 1) | carry;
      carry = next_carry;
      d[w] = n[w];
      any |= n[w];
    }
    if (!any) {
      *steps = i + 1;
      return false;
    }
  }
  *steps = len;
  return xr_bit(d, g->m);
}

bool xr_glob_match(const struct xr_glob *g, const char *text, size_t len,
                   size_t *steps)
{
  size_t dummy, i;

  if (!steps)
    steps = &dummy;
  switch (g->kind) {
  case XR_GLOB_ANY:
    *steps = 0;
    return true;
  case XR_GLOB_LITERAL:
    /* Every state is a literal: the text has the pattern's length and
     * each byte is the one its state accepts. */
    *steps = 0;
    if (len != g->m)
      return false;
    for (i = 0; i < len; i++) {
      uint8_t r = g->row[xr_fold((unsigned char)text[i])];
      ++*steps;
      if (!r || !xr_bit(g->lit[r - 1], (unsigned)i + 1))
        return false;
    }
    return true;
  default:
    return g->m < 64 ? xr_glob_run1(g, text, len, steps)
                     : xr_glob_run(g, text, len, steps);
  }
}

bool xr_glob_match_text(const char *pat, size_t plen, const char *text, size_t tlen)
{
  /* Every byte a literal of its own, at most. */
  uint64_t mem[(sizeof(struct xr_glob) +
                XR_GLOB_MAX * sizeof(uint64_t[XR_GLOB_WORDS])) / sizeof(uint64_t) + 1];
  struct xr_glob *g = (struct xr_glob *)mem;

  if (plen > XR_GLOB_MAX)
    return false;
  xr_glob_compile(g, pat, plen);
  return xr_glob_match(g, text, tlen, NULL);
}

/* ---- matching and deciding --------------------------------------------- */

static bool xr_attr_matches(const struct xr_glob *g, const char *v)
{
  /* Absent: an implicit match (Python's applies, Go's AppliesTo). */
  if (!v || !*v)
    return true;
  return xr_glob_match(g, v, strlen(v), NULL);
}

int xr_rules_match_index(const struct xr_rules *rs, const struct xr_sample_req *req)
{
  unsigned i;

  if (!req)
    return -1;
  for (i = 0; i < rs->nrules; i++) {
    const struct xr_rule *r = &rs->rule[i];
    if (xr_attr_matches(r->host, req->host) && xr_attr_matches(r->method, req->method) &&
        xr_attr_matches(r->path, req->path))
      return (int)i;
  }
  return -1;
}

struct xr_rule *xr_rules_match(struct xr_rules *rs, const struct xr_sample_req *req)
{
  int i = xr_rules_match_index(rs, req);
  return i < 0 ? &rs->deflt : &rs->rule[i];
}

bool xr_rule_decide(struct xr_rule *r, int64_t now_s, double (*unit)(void))
{
  unsigned long long cur = atomic_load_explicit(&r->reservoir, memory_order_relaxed);
  uint32_t sec = (uint32_t)now_s;

  while (r->fixed_target) {
    uint32_t used = (uint32_t)(cur >> 32) == sec ? (uint32_t)cur : 0;
    unsigned long long next;
    if (used >= r->fixed_target)
      break;
    next = ((unsigned long long)sec << 32) | (used + 1);
    if (atomic_compare_exchange_weak_explicit(&r->reservoir, &cur, next,
                                              memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  }
  /* rate 0 never draws; rate 1 always samples (unit() < 1). */
  return r->rate > 0 && unit() < r->rate;
}

/* ---- parsing ------------------------------------------------------------ */

/* Sizing pass (base NULL) then filling pass over the same code, so that
 * the one allocation is exactly what the filling writes. */
struct xr_build {
  char *base;
  size_t glob_off; /* next glob: after the rule array */
  size_t text_off; /* next text: after every glob (known after sizing) */
  char *err;
  size_t errlen;
};

static int xr_fail(struct xr_build *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int xr_fail(struct xr_build *b, int rc, const char *fmt, ...)
{
  va_list ap;

  if (b->errlen) {
    va_start(ap, fmt);
    vsnprintf(b->err, b->errlen, fmt, ap);
    va_end(ap);
  }
  return rc;
}

/* A key as the reason may show it: printable ASCII, at most 40 bytes, so
 * that the reason stays one line whatever the file holds. */
static const char *xr_shown_key(const char *k, char out[44])
{
  size_t i;

  for (i = 0; k && k[i] && i < 40; i++)
    out[i] = k[i] >= 0x20 && k[i] < 0x7f ? k[i] : '?';
  if (k && k[i])
    out[i++] = '~';
  out[i] = '\0';
  return out;
}

/* Keys of obj: each among allowed (bit i for allowed[i]), none twice.
 * Which were seen goes to *seen. */
static int xr_keys(struct xr_build *b, const cJSON *obj, const char *where,
                   const char *const *allowed, unsigned nallowed, unsigned *seen)
{
  const cJSON *c;
  char shown[44];
  unsigned i;

  *seen = 0;
  for (c = obj->child; c; c = c->next) {
    for (i = 0; i < nallowed; i++)
      if (c->string && strcmp(c->string, allowed[i]) == 0)
        break;
    if (i == nallowed)
      /* A key is the author's own word, not a value: quoted, cut short. */
      return xr_fail(b, -EINVAL, "%s: unknown key \"%s\"", where,
                     xr_shown_key(c->string, shown));
    if (*seen & (1u << i))
      return xr_fail(b, -EINVAL, "%s: key \"%s\" given twice", where, allowed[i]);
    *seen |= 1u << i;
  }
  return 0;
}

static int xr_get_target(struct xr_build *b, const cJSON *v, const char *where,
                         uint32_t *out)
{
  double d;

  if (!cJSON_IsNumber(v))
    return xr_fail(b, -EINVAL, "%s.fixed_target: not a number", where);
  d = v->valuedouble;
  if (!(d >= 0 && d <= (double)XR_FIXED_TARGET_MAX) || d != (double)(long)d)
    return xr_fail(b, -EINVAL,
                   "%s.fixed_target: not an integer from 0 to %ld (traces per second)",
                   where, XR_FIXED_TARGET_MAX);
  *out = (uint32_t)d;
  return 0;
}

static int xr_get_rate(struct xr_build *b, const cJSON *v, const char *where, double *out)
{
  if (!cJSON_IsNumber(v))
    return xr_fail(b, -EINVAL, "%s.rate: not a number", where);
  if (!(v->valuedouble >= 0.0 && v->valuedouble <= 1.0))
    return xr_fail(b, -EINVAL, "%s.rate: not from 0 to 1", where);
  *out = v->valuedouble;
  return 0;
}

/* A string member copied into the text area; its length in *len. */
static int xr_get_text(struct xr_build *b, const cJSON *v, const char *where,
                       const char *key, size_t cap, const char **out, size_t *len)
{
  size_t n;

  if (!cJSON_IsString(v) || !v->valuestring)
    return xr_fail(b, -EINVAL, "%s.%s: not a string", where, key);
  n = strlen(v->valuestring);
  if (n == 0 && strcmp(key, "description") != 0)
    return xr_fail(b, -EINVAL, "%s.%s: empty", where, key);
  if (n > cap)
    return xr_fail(b, -E2BIG, "%s.%s: longer than %zu bytes (the limit)", where, key, cap);
  if (b->base) {
    memcpy(b->base + b->text_off, v->valuestring, n + 1);
    *out = b->base + b->text_off;
  }
  b->text_off += n + 1;
  *len = n;
  return 0;
}

static int xr_get_glob(struct xr_build *b, const cJSON *v, const char *where,
                       const char *key, const struct xr_glob **g, const char **text)
{
  size_t n;
  int rc = xr_get_text(b, v, where, key, XR_GLOB_MAX, text, &n);

  if (rc < 0)
    return rc;
  if (b->base) {
    struct xr_glob *gl = (struct xr_glob *)(void *)(b->base + b->glob_off);
    xr_glob_compile(gl, *text, n);
    *g = gl;
  }
  b->glob_off += xr_glob_size(v->valuestring, n);
  return 0;
}

static int xr_build_default(struct xr_build *b, const cJSON *def, struct xr_rule *r)
{
  static const char *const keys[] = {"fixed_target", "rate"};
  unsigned seen;
  int rc;

  if (!cJSON_IsObject(def))
    return xr_fail(b, -EINVAL, "default: not an object");
  if ((rc = xr_keys(b, def, "default", keys, XR_ARRAY_SIZE(keys), &seen)) < 0)
    return rc;
  if (seen != 3)
    return xr_fail(b, -EINVAL, "default: needs fixed_target and rate");
  if ((rc = xr_get_target(b, cJSON_GetObjectItemCaseSensitive(def, "fixed_target"),
                          "default", &r->fixed_target)) < 0 ||
      (rc = xr_get_rate(b, cJSON_GetObjectItemCaseSensitive(def, "rate"), "default",
                        &r->rate)) < 0)
    return rc;
  return 0;
}

static int xr_build_rule(struct xr_build *b, const cJSON *o, int version, unsigned idx,
                         struct xr_rule *r)
{
  /* Version 1 calls the host pattern service_name. */
  const char *const keys[] = {version == 1 ? "service_name" : "host", "http_method",
                              "url_path", "fixed_target", "rate", "description"};
  char where[32];
  unsigned seen, i;
  size_t n;
  int rc;

  snprintf(where, sizeof(where), "rules[%u]", idx);
  if (!cJSON_IsObject(o))
    return xr_fail(b, -EINVAL, "%s: not an object", where);
  if ((rc = xr_keys(b, o, where, keys, XR_ARRAY_SIZE(keys), &seen)) < 0)
    return rc;
  for (i = 0; i < 5; i++)
    if (!(seen & (1u << i)))
      return xr_fail(b, -EINVAL, "%s: %s missing", where, keys[i]);
  if ((rc = xr_get_glob(b, cJSON_GetObjectItemCaseSensitive(o, keys[0]), where, keys[0],
                        &r->host, &r->host_text)) < 0 ||
      (rc = xr_get_glob(b, cJSON_GetObjectItemCaseSensitive(o, "http_method"), where,
                        "http_method", &r->method, &r->method_text)) < 0 ||
      (rc = xr_get_glob(b, cJSON_GetObjectItemCaseSensitive(o, "url_path"), where,
                        "url_path", &r->path, &r->path_text)) < 0 ||
      (rc = xr_get_target(b, cJSON_GetObjectItemCaseSensitive(o, "fixed_target"), where,
                          &r->fixed_target)) < 0 ||
      (rc = xr_get_rate(b, cJSON_GetObjectItemCaseSensitive(o, "rate"), where,
                        &r->rate)) < 0)
    return rc;
  if ((seen & (1u << 5)) &&
      (rc = xr_get_text(b, cJSON_GetObjectItemCaseSensitive(o, "description"), where,
                        "description", XR_RULE_DESC_MAX, &r->description, &n)) < 0)
    return rc;
  return 0;
}

/* One pass: validates (sizing) or fills (b->base set). */
static int xr_build_all(struct xr_build *b, const cJSON *root, struct xr_rules *rs)
{
  static const char *const keys[] = {"version", "rules", "default"};
  struct xr_rules dummy_rs;
  struct xr_rule dummy;
  const cJSON *v, *rules, *c;
  unsigned seen, i = 0;
  int rc, version;

  if (!cJSON_IsObject(root))
    return xr_fail(b, -EINVAL, "not a JSON object");
  if ((rc = xr_keys(b, root, "top level", keys, XR_ARRAY_SIZE(keys), &seen)) < 0)
    return rc;
  v = cJSON_GetObjectItemCaseSensitive(root, "version");
  if (!v)
    return xr_fail(b, -EINVAL, "version missing");
  if (!cJSON_IsNumber(v) || (v->valuedouble != 1.0 && v->valuedouble != 2.0))
    return xr_fail(b, -EINVAL, "version: not 1 or 2");
  version = v->valuedouble == 1.0 ? 1 : 2;
  if (!(seen & 4))
    return xr_fail(b, -EINVAL, "default missing");
  rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
  if (rules && !cJSON_IsArray(rules))
    return xr_fail(b, -EINVAL, "rules: not an array");

  if (!rs) {
    memset(&dummy_rs, 0, sizeof(dummy_rs));
    rs = &dummy_rs;
  }
  rs->version = version;
  if ((rc = xr_build_default(b, cJSON_GetObjectItemCaseSensitive(root, "default"),
                             &rs->deflt)) < 0)
    return rc;
  for (c = rules ? rules->child : NULL; c; c = c->next, i++) {
    if (i >= XR_RULES_MAX)
      return xr_fail(b, -E2BIG, "rules: more than %d (the limit)", XR_RULES_MAX);
    memset(&dummy, 0, sizeof(dummy));
    if ((rc = xr_build_rule(b, c, version, i, b->base ? &rs->rule[i] : &dummy)) < 0)
      return rc;
  }
  rs->nrules = i;
  return 0;
}

/* Line and column (from 1) of byte off. */
static void xr_position(const char *buf, size_t off, unsigned *line, unsigned *col)
{
  size_t i;

  *line = 1;
  *col = 1;
  for (i = 0; i < off; i++) {
    if (buf[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

/* What cJSON lets through but JSON (RFC 8259) and the Python SDK's reader
 * refuse: a raw control character inside a string, or between tokens
 * anything but space, tab, CR and LF. The offset of the first, or -1. */
static long xr_bad_control(const char *buf, size_t len)
{
  bool in_string = false;
  size_t i;

  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)buf[i];
    if (in_string) {
      if (c == '\\')
        i++; /* the escaped byte is cJSON's to judge */
      else if (c == '"')
        in_string = false;
      else if (c < 0x20)
        return (long)i;
    } else if (c == '"') {
      in_string = true;
    } else if (c < 0x20 && c != ' ' && c != '\t' && c != '\r' && c != '\n') {
      return (long)i;
    }
  }
  return -1;
}

int xr_rules_parse(const char *buf, size_t len, struct xr_rules **out, char *err,
                   size_t errlen)
{
  struct xr_build b = {.err = err, .errlen = errlen};
  struct xr_rules *rs = NULL;
  cJSON *root = NULL;
  const char *end = NULL;
  char *copy = NULL;
  size_t rules_bytes, globs_bytes, nrules;
  unsigned i, line, col;
  long bad;
  int rc;

  *out = NULL;
  if (errlen)
    err[0] = '\0';
  if (len > XR_RULES_FILE_MAX)
    return xr_fail(&b, -E2BIG, "larger than %d bytes (the limit)", XR_RULES_FILE_MAX);
  if (memchr(buf, '\0', len))
    return xr_fail(&b, -EINVAL, "holds a NUL byte: not a JSON text");
  if ((bad = xr_bad_control(buf, len)) >= 0) {
    xr_position(buf, (size_t)bad, &line, &col);
    return xr_fail(&b, -EINVAL, "not valid JSON: a control character (line %u, column %u)",
                   line, col);
  }
  /* cJSON wants the terminating NUL inside the length it is given. */
  copy = malloc(len + 1);
  if (!copy)
    return xr_fail(&b, -ENOMEM, "out of memory");
  memcpy(copy, buf, len);
  copy[len] = '\0';
  root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
  if (!root) {
    size_t off = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : len;
    xr_position(copy, off, &line, &col);
    rc = xr_fail(&b, -EINVAL, "not valid JSON (line %u, column %u)", line, col);
    goto out;
  }

  /* Sizing pass: validates everything and counts the bytes. */
  b.glob_off = b.text_off = 0;
  if ((rc = xr_build_all(&b, root, NULL)) < 0)
    goto out;
  {
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(root, "rules");
    nrules = rules ? (size_t)cJSON_GetArraySize(rules) : 0;
  }
  rules_bytes = sizeof(struct xr_rules) + nrules * sizeof(struct xr_rule);
  rules_bytes = (rules_bytes + 7) & ~(size_t)7;
  globs_bytes = b.glob_off;

  rs = calloc(1, rules_bytes + globs_bytes + b.text_off);
  if (!rs) {
    rc = xr_fail(&b, -ENOMEM, "out of memory");
    goto out;
  }
  b.base = (char *)rs;
  b.glob_off = rules_bytes;
  b.text_off = rules_bytes + globs_bytes;
  if ((rc = xr_build_all(&b, root, rs)) < 0) {
    free(rs); /* cannot happen: the sizing pass accepted the same tree */
    rs = NULL;
    goto out;
  }
  atomic_init(&rs->deflt.reservoir, 0);
  for (i = 0; i < rs->nrules; i++)
    atomic_init(&rs->rule[i].reservoir, 0);
  *out = rs;
  rc = 0;
out:
  cJSON_Delete(root);
  free(copy);
  return rc;
}
