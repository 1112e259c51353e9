/*
 * libxray-auto public C API.
 *
 * Everything works with no code change; this API is for programs that want
 * to say where a unit of work begins and ends (a job, a request handled
 * without HTTP), so that the calls made inside it become its subsegments,
 * to add subsegments, annotations, metadata, the user and errors of their
 * own, or to read the trace header to pass on by hand.
 *
 * Header only by default: a program includes this file and links nothing
 * extra. Each function is a static inline wrapper that looks the library's
 * function up once (dlsym(RTLD_DEFAULT, "xray_...")) and calls it: under
 * LD_PRELOAD=libxray-auto.so the calls work; without the library they do
 * nothing and return -ENOSYS (xray_version: NULL). dlsym is in the C library
 * from glibc 2.34 and in musl; older glibc needs -ldl. A program that
 * references the symbols itself instead (weak references, as in
 * `#pragma weak xray_begin_segment`, or linking -lxray-auto) defines
 * XRAY_AUTO_NO_DLSYM before including this file and gets plain
 * declarations; the library's own build does the same.
 *
 * All functions return 0 (or a length) on success and a negative errno on
 * failure; none of them ever aborts the program, and errno is preserved.
 * They act on the calling thread's context:
 *  - the thread's segment: opened by xray_begin_segment, or by an inbound
 *    HTTP request the library's sockets layer serves on this thread;
 *  - with XRAY_AUTO_SEGMENT=process and no such segment, the process
 *    segment: subsegments attach to it and are sent as they end (the
 *    process segment itself is shared by all threads and written at exit,
 *    so what targets the segment itself, xray_set_user and annotations,
 *    metadata or errors with no subsegment open, returns -ENOENT there);
 *  - in a Lambda function, -ENOTSUP (the function segment is Lambda's).
 * The "current entity" of annotations, metadata and errors is the innermost
 * subsegment this thread opened with xray_begin_subsegment and has not
 * ended, else the thread's segment. -ENOENT when there is no context.
 * -ENOTSUP when tracing is disabled (AWS_XRAY_SDK_ENABLED=false, or it stopped).
 *
 * Arguments are checked before anything else (-EINVAL), whatever the
 * sampling decision, so that a program's results do not depend on it. In
 * an unsampled trace every valid call then returns 0 and records nothing,
 * as the X-Ray SDKs' dummy entities do.
 *
 * Thread-local: nothing here locks, except a call on a segment of an
 * inbound request (the sockets layer's, which another thread may end).
 * A thread that exits with its segment or subsegments still open loses
 * them: they are freed, never sent (end them first).
 * Not async-signal-safe (they allocate): never call them from a signal
 * handler or a vfork child.
 */
#ifndef XRAY_AUTO_H
#define XRAY_AUTO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XRAY_AUTO_API __attribute__((visibility("default")))

/* Bounds (bytes, NUL not counted); beyond them -EINVAL unless noted. */
#define XRAY_NAME_MAX 200            /* subsegment names (longer: cut) */
#define XRAY_KEY_MAX 250             /* annotation / metadata keys, namespaces */
#define XRAY_ANNOTATION_VALUE_MAX 1000
#define XRAY_ANNOTATIONS_MAX 50      /* per segment or subsegment: -E2BIG */
#define XRAY_METADATA_VALUE_MAX 16384 /* JSON text of one value: -E2BIG */
#define XRAY_METADATA_TOTAL_MAX 32768 /* text recorded per entity: -E2BIG */
#define XRAY_USER_MAX 250
#define XRAY_ERROR_TYPE_MAX 250
#define XRAY_ERROR_MESSAGE_MAX 1000  /* longer messages are cut */
#define XRAY_ERRORS_MAX 16           /* exceptions per entity: -E2BIG */
#define XRAY_DEPTH_MAX 32            /* open subsegments per thread: -E2BIG */

/* Flags of xray_add_error (X-Ray's error, throttle and fault fields). */
#define XRAY_ERROR 0x1u    /* a client error (4xx-like): "error": true */
#define XRAY_THROTTLE 0x2u /* throttled (429-like): "throttle": true */
#define XRAY_FAULT 0x4u    /* a server error (5xx-like): "fault": true */
#define XRAY_REMOTE 0x8u   /* the exception came from a downstream call */
/* The flags the SDKs derive from an HTTP status: 429 error + throttle,
 * other 4xx error, 5xx fault, anything else none. */
#define XRAY_STATUS_FLAGS(status)                                              \
  ((status) == 429 ? (XRAY_ERROR | XRAY_THROTTLE)                              \
   : (status) >= 400 && (status) < 500 ? XRAY_ERROR                            \
   : (status) >= 500 && (status) < 600 ? XRAY_FAULT : 0u)

struct xray_stats {
  unsigned long long documents_sent;
  unsigned long long send_errors;
  unsigned long long documents_split;
  unsigned long long documents_truncated;
  unsigned long long documents_dropped;
  unsigned long long calls_without_segment; /* XRAY_AUTO_SEGMENT=off */
};

#if defined(XRAY_AUTO_NO_DLSYM)
#define XRAY_AUTO_FUNC(ret, name, params, args, absent) XRAY_AUTO_API ret name params;
#else
#include <dlfcn.h>
#include <errno.h>
/* RTLD_DEFAULT is ((void *)0) in glibc and musl, and dlfcn.h only defines
 * it with _GNU_SOURCE. */
#define XRAY_AUTO_ABSENT_ ((void *)1)
#define XRAY_AUTO_FUNC(ret, name, params, args, absent)                        \
  static inline ret name params                                                \
  {                                                                            \
    static void *xray_auto_fn_;                                                \
    void *xray_auto_p_ = __atomic_load_n(&xray_auto_fn_, __ATOMIC_RELAXED);    \
    if (!xray_auto_p_) {                                                       \
      int xray_auto_errno_ = errno;                                            \
      xray_auto_p_ = dlsym((void *)0, #name);                                  \
      errno = xray_auto_errno_;                                                \
      if (!xray_auto_p_)                                                       \
        xray_auto_p_ = XRAY_AUTO_ABSENT_;                                      \
      __atomic_store_n(&xray_auto_fn_, xray_auto_p_, __ATOMIC_RELAXED);        \
    }                                                                          \
    if (xray_auto_p_ == XRAY_AUTO_ABSENT_)                                     \
      return absent;                                                           \
    return (__extension__(ret(*) params) xray_auto_p_) args;                   \
  }
#endif

/* The library's version, e.g. "0.1.0". */
XRAY_AUTO_FUNC(const char *, xray_version, (void), (), (const char *)0)

/*
 * Opens a segment on the calling thread. name: NULL for the service name
 * (AWS_XRAY_TRACING_NAME or the program's name). trace_header: an incoming
 * X-Amzn-Trace-Id value to join (Root, Parent, Sampled), or NULL for a new
 * trace decided by the sampling rule. -EALREADY if one is open,
 * -ENOTSUP when tracing is disabled, and in a Lambda custom runtime
 * (AWS_LAMBDA_RUNTIME_API set), where the function segment is Lambda's
 * and each invocation's calls become its subsegments.
 */
XRAY_AUTO_FUNC(int, xray_begin_segment, (const char *name, const char *trace_header),
               (name, trace_header), -ENOSYS)

/* Closes and sends the calling thread's segment. -ENOENT if none is open
 * (an inbound request's segment is the library's to end). Subsegments of
 * xray_begin_subsegment still open are ended first, innermost first, at
 * this time and embedded as if ended by hand. */
XRAY_AUTO_FUNC(int, xray_end_segment, (void), (), -ENOSYS)

/*
 * Writes the X-Amzn-Trace-Id value a downstream call made now would need
 * to join this thread's trace (Parent = the current entity: the innermost
 * open subsegment of xray_begin_subsegment, else the segment). Returns its
 * length, -ENOENT when there is no segment, -ENOSPC when len is too small.
 */
XRAY_AUTO_FUNC(int, xray_trace_header, (char *buf, size_t len), (buf, len), -ENOSYS)

/* Counters of this process's emitter. */
XRAY_AUTO_FUNC(int, xray_get_stats, (struct xray_stats *out), (out), -ENOSYS)

/*
 * Opens a subsegment of the current entity and makes it the current one:
 * the calls the library traces on this thread until it ends (libcurl,
 * libpq, libmariadb, plain-socket HTTP) become its subsegments; their
 * X-Amzn-Trace-Id Parent stays their own subsegment. Nestable, up to
 * XRAY_DEPTH_MAX (-E2BIG). name: required (sanitized like every name).
 * ns: "local" (NULL), "remote" or "aws"; another value is -EINVAL.
 */
XRAY_AUTO_FUNC(int, xray_begin_subsegment, (const char *name, const char *ns), (name, ns),
               -ENOSYS)

/*
 * Ends the innermost open subsegment: it is embedded in its parent, sent
 * with it (or on its own, with the process segment, or when its segment
 * ended meanwhile on another thread). -ENOENT when none is open.
 */
XRAY_AUTO_FUNC(int, xray_end_subsegment, (void), (), -ENOSYS)

/*
 * Annotations (indexed, usable in filter expressions): key 1 to
 * XRAY_KEY_MAX bytes of [A-Za-z0-9_]; a string value up to
 * XRAY_ANNOTATION_VALUE_MAX bytes, a finite number, a boolean (0 false,
 * anything else true). A bad key or value: -EINVAL, nothing recorded.
 * Putting a key again replaces its value; past XRAY_ANNOTATIONS_MAX keys
 * on one entity, -E2BIG (X-Ray indexes 50 per trace).
 */
XRAY_AUTO_FUNC(int, xray_put_annotation_string, (const char *key, const char *value),
               (key, value), -ENOSYS)
XRAY_AUTO_FUNC(int, xray_put_annotation_number, (const char *key, double value),
               (key, value), -ENOSYS)
XRAY_AUTO_FUNC(int, xray_put_annotation_bool, (const char *key, int value), (key, value),
               -ENOSYS)

/*
 * Metadata (not indexed): metadata[ns][key] = the JSON value json (any
 * JSON text: object, array, string, number, true, false, null), parsed and
 * checked (-EINVAL when it is not valid JSON). ns: NULL for "default"; a
 * namespace beginning with "AWS." is reserved (-EINVAL). Key and namespace:
 * 1 to XRAY_KEY_MAX bytes. The text: up to XRAY_METADATA_VALUE_MAX bytes,
 * and up to XRAY_METADATA_TOTAL_MAX bytes recorded per entity (-E2BIG).
 * Putting a key again replaces its value (its bytes still count).
 */
XRAY_AUTO_FUNC(int, xray_put_metadata, (const char *ns, const char *key, const char *json),
               (ns, key, json), -ENOSYS)

/* The segment's "user" (indexed; segments only, whatever subsegment is
 * open): 1 to XRAY_USER_MAX bytes. Setting it again replaces it. */
XRAY_AUTO_FUNC(int, xray_set_user, (const char *user), (user), -ENOSYS)

/*
 * Records an error of the current entity: an exception (type, message:
 * either may be NULL; messages longer than XRAY_ERROR_MESSAGE_MAX are cut)
 * in its cause.exceptions, and the flags: XRAY_ERROR, XRAY_THROTTLE,
 * XRAY_FAULT as given (0: XRAY_FAULT, what the SDKs' add_exception sets;
 * XRAY_STATUS_FLAGS(status) for an HTTP-like status), XRAY_REMOTE for an
 * exception a downstream call caused. Unknown flags: -EINVAL. Past
 * XRAY_ERRORS_MAX exceptions on one entity: -E2BIG, nothing recorded.
 */
XRAY_AUTO_FUNC(int, xray_add_error, (const char *type, const char *message, unsigned flags),
               (type, message, flags), -ENOSYS)

#ifdef __cplusplus
}
#endif

#endif /* XRAY_AUTO_H */
