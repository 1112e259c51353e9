/* UTF-8 validation shared by name sanitizing and JSON writing. */
#ifndef XR_UTF8_H
#define XR_UTF8_H

#include "xr_setup.h"

/* Length (2..4) of the valid multi-byte UTF-8 sequence at s, 0 if s does
 * not start one. Reads at most 4 bytes and stops at a NUL. */
static inline size_t xr_utf8_seq(const unsigned char *s)
{
  size_t n, i;
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    n = 3;
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    n = 4;
  else
    return 0;
  for (i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

#endif /* XR_UTF8_H */
