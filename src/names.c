#include "xr_setup.h"

#include "names.h"

#include "utf8.h"

#include <string.h>

/* ASCII bytes a name keeps, by byte: letters, digits, space, tab and
 * _ . : / % & # = + \ - @ (one load, not a strchr per byte). */
static const unsigned char xr_name_ascii[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
};

static inline bool xr_ascii_name_char(unsigned char c)
{
  return xr_name_ascii[c & 0x7f] != 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. */
size_t xr_sanitize_name(const char *in, char *out, size_t outlen)
{
  const unsigned char *s = (const unsigned char *)in;
  size_t o = 0, chars = 0;

  if (outlen == 0)
    return 0;
  while (*s && chars < XR_NAME_MAX_CHARS) {
    size_t n;
    if (*s < 0x80) {
      if (xr_ascii_name_char(*s)) {
        if (o + 1 >= outlen)
          break;
        out[o++] = (char)*s;
        chars++;
      }
      s++;
      continue;
    }
    /* Non-ASCII: a valid character counts as a letter (X-Ray allows
     * Unicode letters; we cannot classify them without tables). */
    n = xr_utf8_seq(s);
    if (n == 0) {
      s++;
      continue;
    }
    if (o + n >= outlen)
      break;
    memcpy(out + o, s, n);
    o += n;
    s += n;
    chars++;
  }
  out[o] = '\0';
  return o;
}
