/*
 * Where the work of a traced call goes. A span is one downstream call (an
 * HTTP transfer, later a query). When it begins, the tracer picks its
 * context, in this order:
 *   1. the segment the calling thread has open (xray_begin_segment, or an
 *      inbound request in the sockets layer): the subsegment is embedded in
 *      it when the span ends on that thread while it is still open, else
 *      sent on its own;
 *   2. XRAY_AUTO_SEGMENT=process: the process segment, created at the first
 *      call (sent once in progress then, complete at exit); subsegments are
 *      sent on their own as they finish;
 *   3. XRAY_AUTO_SEGMENT=call (default): a segment of its own, named by the
 *      service, holding just this call's subsegment, sent when it ends;
 *   4. XRAY_AUTO_SEGMENT=off: no context; AWS_XRAY_CONTEXT_MISSING decides
 *      what is logged and the call is not traced (no header either).
 * Segments the library starts join the trace of an inherited
 * _X_AMZN_TRACE_ID (Root, Parent as parent_id, Sampled) when there is one.
 * Unsampled contexts record nothing but still give a downstream header with
 * Sampled=0 and the same Root; its Parent is the no-op id 0000000000000000
 * (AWS_XRAY_NOOP_ID=false: a random one), and a trace started here
 * unsampled has the no-op Root 1-00000000-000000000000000000000000 unless
 * AWS_XRAY_NOOP_ID=false or traceparent is propagated too.
 * Contract: allocates; not for signal handlers or vfork children; a span
 * must be ended or discarded exactly once, on any thread.
 */
#ifndef XR_TRACER_H
#define XR_TRACER_H

#include "xr_setup.h"

#include "config.h"
#include "entity.h"
#include "sampling_rules.h"
#include "trace_header.h"

struct xr_span {
  struct xr_entity *sub;    /* the subsegment; NULL when unsampled */
  struct xr_entity *seg;    /* call mode: the segment this call owns */
  struct xr_entity *owner;  /* thread segment to embed into, if still open */
  unsigned long owner_serial;
  bool process;             /* send sub on its own (process segment) */
  bool owner_api;           /* owner: an open subsegment of the C API */
  bool sampled;
  char header[XR_HEADER_MAX]; /* downstream X-Amzn-Trace-Id value */
};

/* Must be called once before any span (the constructor does it). */
void xr_tracer_init(const struct xr_config *cfg);
const struct xr_config *xr_tracer_config(void);

/* 0: span open (sampled or not), header set. -ENOENT: no context (call
 * untraced, no header). -ENOMEM: untraced. */
int xr_span_begin(struct xr_span *sp) XR_WUR;
/* The traceparent value of a span begun with xr_span_begin (a NUL-ended
 * XR_TRACEPARENT_LEN bytes; len at least XR_TRACEPARENT_LEN + 1): the
 * header's trace, parent-id = the subsegment id, flags 01; unsampled:
 * flags 00 and the header's Parent, or a random id in place of the no-op
 * one (W3C forbids all-zero ids; not a signal handler's). Length, or
 * -EINVAL when the trace has no W3C form (an upstream's no-op Root). */
int xr_span_traceparent(const struct xr_span *sp, char *buf, size_t len) XR_WUR;
/* The same for a call that passes no header downstream (SQL): header
 * stays "", and an unsampled span costs its sampling decision alone (no
 * trace or subsegment id is drawn). Same results otherwise. */
int xr_span_begin_local(struct xr_span *sp) XR_WUR;
/* Stamps the end time and sends or embeds the subsegment. */
void xr_span_end(struct xr_span *sp);
/* Drops the span without sending anything. */
void xr_span_discard(struct xr_span *sp);

/* Thread segments (the C API, inbound requests). header may be NULL. */
int xr_thread_segment_begin(const char *name, const char *header) XR_WUR;
int xr_thread_segment_end(void) XR_WUR;
/*
 * Inbound requests (the sockets layer's server side). A segment begins
 * when a request head has been read, joining the trace of its
 * X-Amzn-Trace-Id (header may be NULL; a malformed one is ignored) or
 * sampled by the rule otherwise. The connection owns it; it is also
 * installed as the calling thread's segment, so that the thread's
 * outbound calls embed in it, unless the thread already serves another
 * open request of another connection (conn, an opaque key): then the
 * thread multiplexes connections (an event loop) and from then on none of
 * its requests gets its outbound calls. A request pipelined on the
 * connection being served is not attributed, and changes nothing else.
 * xr_inbound_end may run on any thread: a thread still holding the ended
 * segment sends its later subsegments on their own and lets go of it at
 * its next call. The caller fills seg->http between begin and end.
 * Contract: allocates; not for signal handlers or vfork children.
 */
struct xr_entity *xr_inbound_begin(const char *header, size_t header_len,
                                   int64_t start_us, const void *conn);
/* The same, sampled by the local rule matching req (Host, method, path of
 * the request; NULL: nothing known, the default rule). */
struct xr_entity *xr_inbound_begin_req(const char *header, size_t header_len,
                                       int64_t start_us, const void *conn,
                                       const struct xr_sample_req *req);
/* Stamps the end, sends the segment when sampled, lets go of it. */
void xr_inbound_end(struct xr_entity *seg);
/* Lets go of it without sending (a fork child's copy). */
void xr_inbound_drop(struct xr_entity *seg);

/* The header a downstream call of this thread's context would carry, with
 * Parent = the segment itself, or the innermost subsegment the C API has
 * open in it. Length, or a negative errno. */
int xr_context_header(char *buf, size_t len) XR_WUR;

/*
 * The C API's side (src/api.c). Its context: the calling thread's segment
 * (*key = its serial, never 0) or, with XRAY_AUTO_SEGMENT=process, the
 * process segment (*key = 0). -ENOENT: none; -ENOTSUP: Lambda (the
 * function segment is Lambda's); -ENOMEM.
 */
int xr_tracer_api_context(struct xr_entity **seg, unsigned long *key) XR_WUR;
/* Embeds the ended subsegment sub in the thread segment of key when it is
 * still this thread's and open, else sends sub on its own; sub is the
 * tracer's afterwards. */
void xr_tracer_api_attach(struct xr_entity *sub, unsigned long key);
/* Brackets a change of seg's own fields by the C API: false (nothing
 * held) when seg, an inbound segment, was ended meanwhile. */
bool xr_tracer_seg_acquire(struct xr_entity *seg) XR_WUR;
void xr_tracer_seg_release(struct xr_entity *seg);

/* Never traced: the daemon (UDP and TCP addresses), the Lambda Runtime
 * API, the instance metadata service. */
bool xr_tracer_excluded(const char *host, int port);

/* Calls left untraced because no segment was open. */
unsigned long long xr_tracer_untraced(void);

/* Destructor: sends the process segment, logs the counters. */
void xr_tracer_exit(void);
void xr_tracer_fork_child(void);
/* The calling thread holds something of the tracer's or the C API's
 * (its segment, open subsegments): arms its thread-exit release (a
 * pthread key's destructor frees them, unsent, when the thread exits).
 * Cheap after the first call on a thread (one TLS load). Allocates the
 * first time: not for signal handlers or vfork children. */
void xr_tracer_thread_hold(void);

#endif /* XR_TRACER_H */
