/* The exported xray_* functions: thin shims over the tracer. */
#include "../src/xr_setup.h"

#include "guard.h"

/* Plain declarations: these are the definitions. */
#define XRAY_AUTO_NO_DLSYM
#include "../include/xray-auto.h"
#include "../src/api.h"
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

/* The body of a shim: ready or -ENOTSUP; our own sends (the emitter's
 * sendto) pass through the hooks; errno preserved. */
#define XR_API_CALL(call)                                                      \
  do {                                                                         \
    int saved_ = errno, rc_;                                                   \
    if (atomic_load(&xr_state) != XR_STATE_READY)                              \
      return -ENOTSUP;                                                         \
    xr_depth++;                                                                \
    rc_ = (call);                                                              \
    xr_depth--;                                                                \
    errno = saved_;                                                            \
    return rc_;                                                                \
  } while (0)

XR_EXPORT int xray_end_segment(void)
{
  XR_API_CALL(xr_api_end_segment());
}

XR_EXPORT int xray_begin_subsegment(const char *name, const char *ns)
{
  XR_API_CALL(xr_api_begin_subsegment(name, ns));
}

XR_EXPORT int xray_end_subsegment(void)
{
  XR_API_CALL(xr_api_end_subsegment());
}

XR_EXPORT int xray_put_annotation_string(const char *key, const char *value)
{
  XR_API_CALL(xr_api_annotation_string(key, value));
}

XR_EXPORT int xray_put_annotation_number(const char *key, double value)
{
  XR_API_CALL(xr_api_annotation_number(key, value));
}

XR_EXPORT int xray_put_annotation_bool(const char *key, int value)
{
  XR_API_CALL(xr_api_annotation_bool(key, value != 0));
}

XR_EXPORT int xray_put_metadata(const char *ns, const char *key, const char *json)
{
  XR_API_CALL(xr_api_metadata(ns, key, json));
}

XR_EXPORT int xray_set_user(const char *user)
{
  XR_API_CALL(xr_api_set_user(user));
}

XR_EXPORT int xray_add_error(const char *type, const char *message, unsigned flags)
{
  XR_API_CALL(xr_api_add_error(type, message, flags));
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
