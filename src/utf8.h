/* UTF-8 validation shared by name sanitizing and JSON writing. */
#ifndef XR_UTF8_H
#define XR_UTF8_H

#include "xr_setup.h"

/*
 * Length (2..4) of the well-formed multi-byte UTF-8 sequence at s, 0 if s
 * does not start one: overlong forms, UTF-16 surrogates and code points
 * above U+10FFFF are rejected (Unicode table 3-7). Reads at most 4 bytes
 * and stops at a NUL (never a continuation byte).
 */
static inline size_t xr_utf8_seq(const unsigned char *s)
{
  unsigned char lo = 0x80, hi = 0xbf;
  size_t n, i;

  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4;
  else
    return 0;
  if (s[0] == 0xe0)
    lo = 0xa0;
  else if (s[0] == 0xed)
    hi = 0x9f;
  else if (s[0] == 0xf0)
    lo = 0x90;
  else if (s[0] == 0xf4)
    hi = 0x8f;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

/* Replaces every byte of buf[0..len) that is not part of well-formed UTF-8
 * with '?'. Keeps the length, so JSON printed by cJSON stays valid JSON
 * (its structure is ASCII; only string contents change). */
static inline void xr_utf8_scrub(char *buf, size_t len)
{
  unsigned char *s = (unsigned char *)buf, *end = s + len;
  while (s < end) {
    size_t n;
    if (*s < 0x80) {
      s++;
      continue;
    }
    n = (size_t)(end - s) >= 4 ? xr_utf8_seq(s) : 0;
    if (n == 0 && (size_t)(end - s) < 4) {
      /* Near the end: validate on a NUL-padded copy. */
      unsigned char tmp[4] = {0, 0, 0, 0};
      size_t k;
      for (k = 0; k < (size_t)(end - s); k++)
        tmp[k] = s[k];
      n = xr_utf8_seq(tmp);
    }
    if (n == 0) {
      *s++ = '?';
      continue;
    }
    s += n;
  }
}

#endif /* XR_UTF8_H */
