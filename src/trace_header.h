/*
 * The X-Amzn-Trace-Id header (xray-spec.md 3): "Root=..;Parent=..;Sampled=..".
 * Keys Root, Parent and Sampled are matched case-insensitively and trimmed
 * (Node's rules, the most lenient); Self= is dropped; every other key
 * (Lineage, ...) is kept verbatim, in order, and re-emitted downstream.
 * A header without a valid Root, or with a part that has no '=', is
 * malformed and ignored as a whole (the Python SDK's rule).
 * Contract: pure functions, no allocation, safe on any bytes.
 */
#ifndef XR_TRACE_HEADER_H
#define XR_TRACE_HEADER_H

#include "xr_setup.h"

#define XR_HEADER_EXTRA_MAX 256
/* Root + Parent + Sampled + extras, with separators. */
#define XR_HEADER_MAX (64 + XR_TRACE_ID_LEN + XR_ID_LEN + XR_HEADER_EXTRA_MAX)

struct xr_trace_header {
  char root[XR_TRACE_ID_LEN + 1];  /* always valid when parsed */
  char parent[XR_ID_LEN + 1];      /* "" when absent */
  char sampled;                    /* '1', '0', '?', or 0 when absent/invalid */
  char extra[XR_HEADER_EXTRA_MAX]; /* "Lineage=..;Key=v" or "" */
};

/* 0, or -EINVAL when malformed (out is then zeroed). */
int xr_trace_header_parse(const char *s, size_t len, struct xr_trace_header *out) XR_WUR;
/* Writes "Root=..;Parent=..;Sampled=..[;extra]" (Parent/Sampled omitted when
 * empty). Returns the length, or -ENOSPC. */
int xr_trace_header_format(const struct xr_trace_header *h, char *buf, size_t len) XR_WUR;

#endif /* XR_TRACE_HEADER_H */
