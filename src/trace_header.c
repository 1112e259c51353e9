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
