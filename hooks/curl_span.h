/*
 * What we remember per CURL easy handle, and the begin/end of the span of
 * one transfer. The options the program sets (URL, header list, method,
 * body, error buffer) are recorded as they pass through curl_easy_setopt,
 * because libcurl offers no way to read them back before a transfer.
 *
 * Header injection: our X-Amzn-Trace-Id line (and traceparent line, per
 * XRAY_AUTO_PROPAGATE) is a curl_slist node we own, placed in front of the
 * program's own list for the transfer (so the program's list is never
 * modified or copied) and the program's list is set back when the transfer
 * ends. A program that sets a propagated trace header itself is left
 * alone.
 *
 * Contract: a CURL handle is used by one thread at a time (libcurl's rule),
 * so a handle's state needs no lock of its own; the table has a mutex.
 */
#ifndef XR_CURL_SPAN_H
#define XR_CURL_SPAN_H

#include "curl_api.h"

#include "../src/aws.h"
#include "../src/tracer.h"

union xr_optarg {
  long l;
  void *p;
  curl_off_t o;
};

void xr_curl_note_option(void *const *api, CURL *h, CURLoption opt,
                         const union xr_optarg *arg);
struct xr_curl_handle;

/* Starts the span of a transfer of h: h's state, or NULL when it is not
 * traced. The state stays valid until curl_easy_cleanup(h) (which libcurl
 * forbids during h's own transfer), so curl_easy_perform may hand it to
 * xr_curl_end_st instead of looking h up again. */
struct xr_curl_handle *xr_curl_begin(void *const *api, CURL *h);
/* Ends h's open span, if any. aborted: the transfer never completed
 * (removed from its multi handle or cleaned up first). */
void xr_curl_end(CURL *h, CURLcode result, bool aborted);
/* xr_curl_end with st = xr_curl_begin(api, h) of this transfer. */
void xr_curl_end_st(struct xr_curl_handle *st, CURL *h, CURLcode result,
                    bool aborted);
bool xr_curl_span_open(CURL *h);
/* The transfer of h will not happen after all: drop the span unsent and
 * put the program's headers back. */
void xr_curl_cancel(CURL *h);
void xr_curl_forget(CURL *h);  /* curl_easy_cleanup, after the real call */
void xr_curl_reset(CURL *h);   /* curl_easy_reset, after the real call */
void xr_curl_dup(void *const *api, CURL *from, CURL *to);
void xr_curl_fork_child(void);

#endif /* XR_CURL_SPAN_H */
