#include "xr_setup.h"

#include "trace_header.h"

#include "ids.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool xr_is_space(char c)
{
  return c == ' ' || c == '\t';
}

static void xr_trim(const char **s, size_t *n)
{
  while (*n && xr_is_space(**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n && xr_is_space((*s)[*n - 1]))
    (*n)--;
}

static bool xr_key_is(const char *k, size_t n, const char *want)
{
  return strlen(want) == n && strncasecmp(k, want, n) == 0;
}

static void xr_lower_copy(char *dst, const char *src, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    dst[i] = (src[i] >= 'A' && src[i] <= 'F') ? (char)(src[i] + 32) : src[i];
  dst[n] = '\0';
}

static int xr_add_extra(struct xr_trace_header *h, const char *part, size_t n)
{
  size_t used = strlen(h->extra);
  size_t need = n + (used ? 1 : 0);

  /* Bounded: extras beyond the budget are dropped whole, never cut. */
  if (used + need >= sizeof(h->extra))
    return 0;
  if (used)
    h->extra[used++] = ';';
  memcpy(h->extra + used, part, n);
  h->extra[used + n] = '\0';
  return 0;
}

int xr_trace_header_parse(const char *s, size_t len, struct xr_trace_header *out)
{
  const char *end;
  bool have_root = false;

  memset(out, 0, sizeof(*out));
  if (!s)
    return -EINVAL;
  end = s + len;
  while (s < end) {
    const char *semi = memchr(s, ';', (size_t)(end - s));
    const char *pend = semi ? semi : end;
    const char *part = s, *eq, *key, *val;
    size_t plen = (size_t)(pend - s), klen, vlen;

    s = semi ? semi + 1 : end;
    xr_trim(&part, &plen);
    if (plen == 0)
      continue;
    eq = memchr(part, '=', plen);
    if (!eq)
      goto bad;
    key = part;
    klen = (size_t)(eq - part);
    val = eq + 1;
    vlen = plen - klen - 1;
    xr_trim(&key, &klen);
    xr_trim(&val, &vlen);
    if (klen == 0)
      goto bad;
    if (xr_key_is(key, klen, "Root")) {
      char tmp[XR_TRACE_ID_LEN + 1];
      if (vlen != XR_TRACE_ID_LEN)
        goto bad;
      xr_lower_copy(tmp, val, vlen);
      if (!xr_is_trace_id(tmp, vlen))
        goto bad;
      memcpy(out->root, tmp, sizeof(tmp));
      have_root = true;
    } else if (xr_key_is(key, klen, "Parent")) {
      char tmp[XR_ID_LEN + 1];
      if (vlen != XR_ID_LEN)
        goto bad;
      xr_lower_copy(tmp, val, vlen);
      if (!xr_is_entity_id(tmp, vlen))
        goto bad;
      memcpy(out->parent, tmp, sizeof(tmp));
    } else if (xr_key_is(key, klen, "Sampled")) {
      /* Anything but 1/0/? means "not decided" (Go's Unknown). */
      out->sampled = (vlen == 1 && (val[0] == '1' || val[0] == '0' ||
                                    val[0] == '?'))
                         ? val[0]
                         : 0;
    } else if (xr_key_is(key, klen, "Self")) {
      continue;
    } else {
      bool printable = true;
      size_t i;
      for (i = 0; i < plen; i++)
        if ((unsigned char)part[i] < 0x20 || (unsigned char)part[i] >= 0x7f)
          printable = false;
      /* Control bytes must never be echoed into a downstream header. */
      if (printable)
        (void)xr_add_extra(out, part, plen);
    }
  }
  if (!have_root)
    goto bad;
  return 0;
bad:
  memset(out, 0, sizeof(*out));
  return -EINVAL;
}

static bool xr_cat(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
  if (*at + n >= len)
    return false;
  memcpy(buf + *at, s, n);
  *at += n;
  return true;
}

int xr_trace_header_format(const struct xr_trace_header *h, char *buf, size_t len)
{
  size_t at = 0;
  char sampled[2] = {h->sampled, '\0'};
  bool ok = xr_cat(buf, len, &at, "Root=", 5) &&
            xr_cat(buf, len, &at, h->root, strlen(h->root)) &&
            (!h->parent[0] || (xr_cat(buf, len, &at, ";Parent=", 8) &&
                               xr_cat(buf, len, &at, h->parent, strlen(h->parent)))) &&
            (!h->sampled || (xr_cat(buf, len, &at, ";Sampled=", 9) &&
                             xr_cat(buf, len, &at, sampled, 1))) &&
            (!h->extra[0] || (xr_cat(buf, len, &at, ";", 1) &&
                              xr_cat(buf, len, &at, h->extra, strlen(h->extra))));
  if (!ok || len == 0)
    return -ENOSPC;
  buf[at] = '\0';
  return (int)at;
}

/* W3C's HEXDIGLC, by byte: 2 for '0', 3 for the other lower-case hex
 * digits, 0 for anything else (NUL included). Over a run, the AND of the
 * values keeps bit 1 when every byte is a digit and the OR has bit 0 when
 * one is not '0': no branch per byte (traceparent is formatted for every
 * transfer). */
static const uint8_t xr_lhex_tab[256] = {
    ['0'] = 2, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3, ['6'] = 3,
    ['7'] = 3, ['8'] = 3, ['9'] = 3, ['a'] = 3, ['b'] = 3, ['c'] = 3, ['d'] = 3,
    ['e'] = 3, ['f'] = 3,
};
#define XR_LHEX_BAD 4u     /* a byte is not a lower-case hex digit */
#define XR_LHEX_NONZERO 1u /* a digit is not '0' */

static unsigned xr_lhex_scan(const char *s, size_t n)
{
  unsigned all = 2, any = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned t = xr_lhex_tab[(unsigned char)s[i]];
    all &= t;
    any |= t;
  }
  return (all ? 0 : XR_LHEX_BAD) | (any & XR_LHEX_NONZERO);
}

/* A run of n lower-case hex digits, not all zero (W3C's ids). */
static bool xr_w3c_id(const char *s, size_t n)
{
  return xr_lhex_scan(s, n) == XR_LHEX_NONZERO;
}

int xr_traceparent_parse(const char *s, size_t len, struct xr_trace_header *out)
{
  memset(out, 0, sizeof(*out));
  if (!s)
    return -EINVAL;
  xr_trim(&s, &len);
  if (len < XR_TRACEPARENT_LEN)
    return -EINVAL;
  /* version: 2 lower hex, never ff; 00 has exactly four fields, a later
   * version may append fields after a '-' (read leniently as 00). */
  if ((xr_lhex_scan(s, 2) & XR_LHEX_BAD) || (s[0] == 'f' && s[1] == 'f'))
    goto bad;
  if (s[0] == '0' && s[1] == '0' ? len != XR_TRACEPARENT_LEN
                                 : len > XR_TRACEPARENT_LEN && s[XR_TRACEPARENT_LEN] != '-')
    goto bad;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-')
    goto bad;
  if (!xr_w3c_id(s + 3, 32) || !xr_w3c_id(s + 36, 16) || (xr_lhex_scan(s + 53, 2) & XR_LHEX_BAD))
    goto bad;
  out->root[0] = '1';
  out->root[1] = '-';
  memcpy(out->root + 2, s + 3, 8);
  out->root[10] = '-';
  memcpy(out->root + 11, s + 11, 24);
  out->root[XR_TRACE_ID_LEN] = '\0';
  memcpy(out->parent, s + 36, XR_ID_LEN);
  out->parent[XR_ID_LEN] = '\0';
  /* Bit 0 of the flags byte: its low hex digit is odd. */
  out->sampled = ((s[54] >= 'a' ? s[54] - 'a' + 10 : s[54] - '0') & 1) ? '1' : '0';
  return 0;
bad:
  memset(out, 0, sizeof(*out));
  return -EINVAL;
}

int xr_traceparent_format(const char *root, const char *parent, bool sampled,
                          char *buf, size_t len)
{
  /* strnlen first: the scans below then stay inside both strings. */
  if (!root || !parent || strnlen(root, XR_TRACE_ID_LEN + 1) != XR_TRACE_ID_LEN ||
      strnlen(parent, XR_ID_LEN + 1) != XR_ID_LEN || root[0] != '1' || root[1] != '-' ||
      root[10] != '-' || !xr_w3c_id(parent, XR_ID_LEN) ||
      (xr_lhex_scan(root + 2, 8) | xr_lhex_scan(root + 11, 24)) != XR_LHEX_NONZERO)
    return -EINVAL;
  if (len < XR_TRACEPARENT_LEN + 1)
    return -ENOSPC;
  memcpy(buf, "00-", 3);
  memcpy(buf + 3, root + 2, 8);
  memcpy(buf + 11, root + 11, 24);
  buf[35] = '-';
  memcpy(buf + 36, parent, XR_ID_LEN);
  memcpy(buf + 52, sampled ? "-01" : "-00", 4);
  return XR_TRACEPARENT_LEN;
}
