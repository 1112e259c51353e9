/*
 * Fuzz target: the X-Amzn-Trace-Id parser and formatter (src/trace_header.c).
 *
 * Input: the header value, any bytes (the parser takes a length, so NUL and a missing
 * terminator are both fair game).
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct xr_trace_header h, back;
  struct model m;
  char buf[XR_HEADER_MAX];
  int rc, n;
  size_t cap;

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
