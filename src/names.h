/*
 * Segment and subsegment names (xray-spec.md 2.1, 2.4): at most 200
 * characters of Unicode letters, digits, white space and _ . : / % & # = + \ - @.
 * Other characters are removed (the Python SDK's rule), invalid UTF-8 bytes
 * too; the result is cut at 200 characters on a character boundary.
 * Contract: pure, no allocation.
 */
#ifndef XR_NAMES_H
#define XR_NAMES_H

#include "xr_setup.h"

/* Returns the number of bytes written (excluding NUL); out always
 * NUL-terminated when outlen > 0. */
size_t xr_sanitize_name(const char *in, char *out, size_t outlen);

#endif /* XR_NAMES_H */
