/*
 * libxray-auto public C API.
 *
 * Everything works with no code change; this API is for programs that want
 * to say where a unit of work begins and ends (a job, a request handled
 * without HTTP), so that the calls made inside it become its subsegments,
 * or to read the trace header to pass on by hand.
 *
 * All functions return 0 (or a length) on success and a negative errno on
 * failure; none of them ever aborts the program. They act on the calling
 * thread's context.
 */
#ifndef XRAY_AUTO_H
#define XRAY_AUTO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XRAY_AUTO_API __attribute__((visibility("default")))

/* The library's version, e.g. "0.1.0". */
XRAY_AUTO_API const char *xray_version(void);

/*
 * Opens a segment on the calling thread. name: NULL for the service name
 * (AWS_XRAY_TRACING_NAME or the program's name). trace_header: an incoming
 * X-Amzn-Trace-Id value to join (Root, Parent, Sampled), or NULL for a new
 * trace decided by the sampling rule. -EALREADY if one is open,
 * -ENOTSUP when tracing is disabled, and in a Lambda custom runtime
 * (AWS_LAMBDA_RUNTIME_API set), where the function segment is Lambda's
 * and each invocation's calls become its subsegments.
 */
XRAY_AUTO_API int xray_begin_segment(const char *name, const char *trace_header);

/* Closes and sends the calling thread's segment. -ENOENT if none is open. */
XRAY_AUTO_API int xray_end_segment(void);

/*
 * Writes the X-Amzn-Trace-Id value a downstream call made now would need
 * to join this thread's trace (Parent = the open segment). Returns its
 * length, -ENOENT when there is no segment, -ENOSPC when len is too small.
 */
XRAY_AUTO_API int xray_trace_header(char *buf, size_t len);

struct xray_stats {
  unsigned long long documents_sent;
  unsigned long long send_errors;
  unsigned long long documents_split;
  unsigned long long documents_truncated;
  unsigned long long documents_dropped;
  unsigned long long calls_without_segment; /* XRAY_AUTO_SEGMENT=off */
};

/* Counters of this process's emitter. */
XRAY_AUTO_API int xray_get_stats(struct xray_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* XRAY_AUTO_H */
