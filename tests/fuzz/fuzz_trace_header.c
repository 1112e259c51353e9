/*
 * Fuzz target: the X-Amzn-Trace-Id parser and formatter (src/trace_header.c).
 *
 * Input: the header value, any bytes (the parser takes a length, so NUL and a missing
 * terminator are both fair game).
 *
 * The same bytes also go through the W3C traceparent parser and formatter (issue 8), checked
 * against a model of the W3C rules as trace_header.h states them (version 00 exactly 55
 * bytes, later versions read as 00 when followed by '-' or nothing, ff and upper case
 * invalid, all-zero ids invalid, OWS trimmed), and formatted back byte for byte.
 *
 * Oracles, beyond "no crash, no leak, no UB":
 *  - a reference model written from trace_header.h decides accept/reject and every field
 *    (Root/Parent/Sampled, last one wins; extras kept verbatim, trimmed, in order, printable
 *    only, dropped whole past the budget; Self dropped);
 *  - a rejected header leaves the output zeroed;
 *  - format() of an accepted header fits XR_HEADER_MAX, and parsing it back gives the same
 *    struct; format() into every smaller buffer (exact-size heap blocks, so ASan sees any
 *    overrun) returns -ENOSPC.
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "trace_header.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

struct model {
  bool ok;
  char root[XR_TRACE_ID_LEN + 1];
  char parent[XR_ID_LEN + 1];
  char sampled;
  char extra[XR_HEADER_EXTRA_MAX];
};

static void trim(const char **s, size_t *n)
{
  while (*n && (**s == ' ' || **s == '\t')) {
    (*s)++;
    (*n)--;
  }
  while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
    (*n)--;
}

static bool key_is(const char *k, size_t n, const char *want)
{
  return strlen(want) == n && strncasecmp(k, want, n) == 0;
}

/* Lowercases A-F only (what the header allows), then checks the shape. */
static bool id_value(const char *v, size_t n, size_t want, char *out)
{
  size_t i;
  if (n != want)
    return false;
  for (i = 0; i < n; i++)
    out[i] = (v[i] >= 'A' && v[i] <= 'F') ? (char)(v[i] + 32) : v[i];
  out[n] = '\0';
  if (want == XR_ID_LEN)
    return xr_fz_lower_hex(out, n);
  return out[0] == '1' && out[1] == '-' && out[10] == '-' && xr_fz_lower_hex(out + 2, 8) &&
         xr_fz_lower_hex(out + 11, 24);
}

static void model_parse(const char *s, size_t len, struct model *m)
{
  const char *end = s + len;
  bool have_root = false;
  size_t used = 0;

  memset(m, 0, sizeof(*m));
  while (s < end) {
    const char *semi = memchr(s, ';', (size_t)(end - s));
    const char *part = s, *eq, *key, *val;
    size_t plen = (size_t)((semi ? semi : end) - s), klen, vlen, i;
    bool printable = true;

    s = semi ? semi + 1 : end;
    trim(&part, &plen);
    if (!plen)
      continue;
    eq = memchr(part, '=', plen);
    if (!eq)
      return;
    key = part;
    klen = (size_t)(eq - part);
    val = eq + 1;
    vlen = plen - klen - 1;
    trim(&key, &klen);
    trim(&val, &vlen);
    if (!klen)
      return;
    if (key_is(key, klen, "root")) {
      if (!id_value(val, vlen, XR_TRACE_ID_LEN, m->root))
        return;
      have_root = true;
    } else if (key_is(key, klen, "parent")) {
      if (!id_value(val, vlen, XR_ID_LEN, m->parent))
        return;
    } else if (key_is(key, klen, "sampled")) {
      m->sampled = (vlen == 1 && strchr("10?", val[0])) ? val[0] : 0;
    } else if (!key_is(key, klen, "self")) {
      for (i = 0; i < plen; i++)
        if ((unsigned char)part[i] < 0x20 || (unsigned char)part[i] > 0x7e)
          printable = false;
      if (printable && used + plen + (used ? 1 : 0) < sizeof(m->extra)) {
        if (used)
          m->extra[used++] = ';';
        memcpy(m->extra + used, part, plen);
        used += plen;
        m->extra[used] = '\0';
      }
    }
  }
  m->ok = have_root;
}

static bool all_zero(const void *p, size_t n)
{
  const unsigned char *b = p;
  size_t i;
  for (i = 0; i < n; i++)
    if (b[i])
      return false;
  return true;
}

static void check_same(const struct xr_trace_header *a, const struct xr_trace_header *b)
{
  XR_FZ_CHECK(strcmp(a->root, b->root) == 0);
  XR_FZ_CHECK(strcmp(a->parent, b->parent) == 0);
  XR_FZ_CHECK(a->sampled == b->sampled);
  XR_FZ_CHECK(strcmp(a->extra, b->extra) == 0);
}

/* ---- traceparent ---- */

static bool lhex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* n lower-case hex digits, at least one not '0'. */
static bool w3c_id(const char *s, size_t n)
{
  size_t i;
  bool nonzero = false;
  for (i = 0; i < n; i++) {
    if (!lhex(s[i]))
      return false;
    nonzero |= s[i] != '0';
  }
  return nonzero;
}

struct tp_model {
  bool ok;
  char root[XR_TRACE_ID_LEN + 1];
  char parent[XR_ID_LEN + 1];
  char sampled;
};

static void tp_model_parse(const char *s, size_t n, struct tp_model *m)
{
  memset(m, 0, sizeof(*m));
  trim(&s, &n);
  if (n < 55 || !lhex(s[0]) || !lhex(s[1]) || (s[0] == 'f' && s[1] == 'f'))
    return;
  if (s[0] == '0' && s[1] == '0') {
    if (n != 55)
      return;
  } else if (n > 55 && s[55] != '-') {
    return;
  }
  if (s[2] != '-' || s[35] != '-' || s[52] != '-' || !w3c_id(s + 3, 32) ||
      !w3c_id(s + 36, 16) || !lhex(s[53]) || !lhex(s[54]))
    return;
  snprintf(m->root, sizeof(m->root), "1-%.8s-%.24s", s + 3, s + 11);
  memcpy(m->parent, s + 36, 16);
  m->parent[16] = '\0';
  m->sampled = strchr("13579bdf", s[54]) ? '1' : '0';
  m->ok = true;
}

static void check_traceparent(const char *data, size_t size)
{
  struct tp_model m;
  struct xr_trace_header h, back;
  char buf[XR_TRACEPARENT_LEN + 1], want[XR_TRACEPARENT_LEN + 1];
  int rc;

  tp_model_parse(data, size, &m);
  memset(&h, 0x5a, sizeof(h));
  rc = xr_traceparent_parse(data, size, &h);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL);
  XR_FZ_CHECK((rc == 0) == m.ok);
  if (rc != 0) {
    XR_FZ_CHECK(all_zero(&h, sizeof(h)));
    return;
  }
  XR_FZ_CHECK(strcmp(h.root, m.root) == 0 && strcmp(h.parent, m.parent) == 0);
  XR_FZ_CHECK(h.sampled == m.sampled && h.extra[0] == '\0');
  /* Back to W3C: version 00, the same ids, flags 01 or 00; and parsed again, the same. */
  XR_FZ_CHECK(xr_traceparent_format(h.root, h.parent, h.sampled == '1', buf, sizeof(buf)) ==
              XR_TRACEPARENT_LEN);
  snprintf(want, sizeof(want), "00-%.8s%.24s-%s-0%c", m.root + 2, m.root + 11, m.parent,
           m.sampled);
  XR_FZ_CHECK(strcmp(buf, want) == 0);
  XR_FZ_CHECK(xr_traceparent_parse(buf, strlen(buf), &back) == 0);
  XR_FZ_CHECK(memcmp(&h, &back, sizeof(h)) == 0);
  XR_FZ_CHECK(xr_traceparent_format(h.root, h.parent, true, buf, XR_TRACEPARENT_LEN) == -ENOSPC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct xr_trace_header h, back;
  struct model m;
  char buf[XR_HEADER_MAX];
  int rc, n;
  size_t cap;

  check_traceparent((const char *)data, size);
  model_parse((const char *)data, size, &m);
  memset(&h, 0x5a, sizeof(h));
  rc = xr_trace_header_parse((const char *)data, size, &h);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL);
  XR_FZ_CHECK((rc == 0) == m.ok);
  if (rc != 0) {
    XR_FZ_CHECK(all_zero(&h, sizeof(h)));
    return 0;
  }
  XR_FZ_CHECK(memchr(h.root, '\0', sizeof(h.root)) && memchr(h.parent, '\0', sizeof(h.parent)) &&
              memchr(h.extra, '\0', sizeof(h.extra)));
  XR_FZ_CHECK(strcmp(h.root, m.root) == 0);
  XR_FZ_CHECK(strcmp(h.parent, m.parent) == 0);
  XR_FZ_CHECK(h.sampled == m.sampled);
  XR_FZ_CHECK(strcmp(h.extra, m.extra) == 0);

  n = xr_trace_header_format(&h, buf, sizeof(buf));
  XR_FZ_CHECK(n > 0 && (size_t)n < sizeof(buf) && strlen(buf) == (size_t)n);
  XR_FZ_CHECK(strncmp(buf, "Root=", 5) == 0);
  XR_FZ_CHECK(xr_trace_header_parse(buf, (size_t)n, &back) == 0);
  check_same(&h, &back);

  /* Too small: refused, and nothing written past the end (exact-size heap blocks). */
  for (cap = 0; cap <= (size_t)n + 1; cap++) {
    char *small = malloc(cap ? cap : 1);
    int r;
    XR_FZ_CHECK(small != NULL);
    r = xr_trace_header_format(&h, small, cap);
    if (cap <= (size_t)n)
      XR_FZ_CHECK(r == -ENOSPC);
    else
      XR_FZ_CHECK(r == n && memcmp(small, buf, (size_t)n + 1) == 0);
    free(small);
  }
  return 0;
}
