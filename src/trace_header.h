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

/*
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/):
 * "<version>-<trace-id>-<parent-id>-<flags>", all lowercase hex, e.g.
 * "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01". The X-Ray
 * Root "1-5759e988-bd862e3fe1be46a994272793" maps to the trace-id
 * "5759e988bd862e3fe1be46a994272793" both ways (the mapping of
 * OpenTelemetry's AWS X-Ray propagator and ID generator), parent-id is the
 * (sub)segment id, and bit 0 of flags is the sampled decision.
 */
#define XR_TRACEPARENT_LEN 55

/*
 * Parses a traceparent value into X-Ray terms: out->root (mapped),
 * out->parent, out->sampled '1' or '0' (flags bit 0); extra stays "".
 * W3C rules: version "00" is exactly 55 bytes; a later version (01..fe)
 * is read as 00 when its first 55 bytes are and the next byte, if any, is
 * '-'; version ff, upper-case hex, an all-zero trace-id or parent-id, any
 * other length or shape are invalid. Spaces and tabs around the value
 * (HTTP's OWS) are ignored. 0, or -EINVAL (out is then zeroed).
 */
int xr_traceparent_parse(const char *s, size_t len, struct xr_trace_header *out) XR_WUR;
/*
 * Writes "00-<trace-id>-<parent>-<01|00>" and a NUL (buf needs
 * XR_TRACEPARENT_LEN + 1 bytes). root: an X-Ray trace id; parent: 16
 * lowercase hex. Returns XR_TRACEPARENT_LEN, -EINVAL when either is
 * malformed or maps to an all-zero W3C id (the X-Ray no-op ids: W3C
 * forbids them), -ENOSPC.
 */
int xr_traceparent_format(const char *root, const char *parent, bool sampled,
                          char *buf, size_t len) XR_WUR;

#endif /* XR_TRACE_HEADER_H */
