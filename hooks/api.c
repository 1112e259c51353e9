/* The exported xray_* functions: thin shims over the tracer. */
#include "../src/xr_setup.h"

#include "guard.h"

#include "../include/xray-auto.h"
#include "../src/emitter.h"
#include "../src/tracer.h"

#include <errno.h>
#include <string.h>

XR_EXPORT const char *xray_version(void)
{
  return XRAY_AUTO_VERSION;
}

extern __typeof(xray_version) xr_version_local
    __attribute__((alias("xray_version"), visibility("hidden")));

XR_EXPORT int xray_begin_segment(const char *name, const char *trace_header)
{
  int saved = errno, rc;
  if (atomic_load(&xr_state) != XR_STATE_READY)
    return -ENOTSUP;
  rc = xr_thread_segment_begin(name, trace_header);
  errno = saved;
  return rc;
}

XR_EXPORT int xray_end_segment(void)
{
  int saved = errno, rc;
  if (atomic_load(&xr_state) != XR_STATE_READY)
    return -ENOTSUP;
  xr_depth++;
  rc = xr_thread_segment_end();
  xr_depth--;
  errno = saved;
  return rc;
}

XR_EXPORT int xray_trace_header(char *buf, size_t len)
{
  int saved = errno, rc;
  if (!buf || len == 0)
    return -EINVAL;
  if (atomic_load(&xr_state) != XR_STATE_READY)
    return -ENOTSUP;
  xr_depth++;
  rc = xr_context_header(buf, len);
  xr_depth--;
  errno = saved;
  return rc;
}

XR_EXPORT int xray_get_stats(struct xray_stats *out)
{
  struct xr_emit_stats st;
  if (!out)
    return -EINVAL;
  xr_emitter_stats(&st);
  memset(out, 0, sizeof(*out));
  out->documents_sent = st.sent;
  out->send_errors = st.send_errors;
  out->documents_split = st.split;
  out->documents_truncated = st.truncated;
  out->documents_dropped = st.dropped;
  out->calls_without_segment = xr_tracer_untraced();
  return 0;
}
