/*
 * The C API's logic (include/xray-auto.h; hooks/api.c holds the exported
 * shims): subsegments a thread opens by hand, annotations, metadata, the
 * segment's user and errors of its current entity.
 *
 * Per thread, the open subsegments form a stack, innermost on top, linked
 * through their next member (an open subsegment is in no child list);
 * each has an api_serial so that a span ending later can tell it is still
 * open. The stack belongs to one context (xr_api_key, tracer.h's key):
 * when the thread's context changed under it (an inbound segment ended on
 * another thread, a new one began), spans no longer use it, the next API
 * call other than xr_api_end_subsegment ends all of it, and each of its
 * subsegments goes out on its own (xr_api_end_subsegment still ends just
 * the innermost, which also goes out on its own).
 * A thread that exits with subsegments open leaves them unsent, as a
 * segment left open is; the tracer's thread-exit release frees both
 * (xr_tracer_thread_hold, xr_api_thread_exit).
 * Contract: the calling thread's state only, no lock (but the inbound lock
 * the tracer takes for a shared segment); allocates: not for signal
 * handlers or vfork children. Functions return 0 or a negative errno.
 */
#ifndef XR_API_H
#define XR_API_H

#include "xr_setup.h"

#include "entity.h"

/* Read by the tracer's span hot path: one TLS load when nothing is open. */
extern XR_TLS struct xr_entity *xr_api_top;
extern XR_TLS unsigned long xr_api_key;

int xr_api_begin_subsegment(const char *name, const char *ns) XR_WUR;
int xr_api_end_subsegment(void) XR_WUR;
/* Ends the open subsegments, then the thread segment (xr_thread_segment_end). */
int xr_api_end_segment(void) XR_WUR;
int xr_api_annotation_string(const char *key, const char *value) XR_WUR;
int xr_api_annotation_number(const char *key, double value) XR_WUR;
int xr_api_annotation_bool(const char *key, bool value) XR_WUR;
int xr_api_metadata(const char *ns, const char *key, const char *json) XR_WUR;
int xr_api_set_user(const char *user) XR_WUR;
/* flags: XRAY_ERROR | XRAY_THROTTLE | XRAY_FAULT | XRAY_REMOTE values. */
int xr_api_add_error(const char *type, const char *message, unsigned flags) XR_WUR;

/* Key rules of annotations: 1..XRAY_KEY_MAX bytes of [A-Za-z0-9_]. */
bool xr_api_key_ok(const char *key);

/* The span side: embeds sub in owner when owner is still open on this
 * thread with this serial (streaming its children past the threshold);
 * false otherwise (the caller sends sub on its own). */
bool xr_api_adopt(struct xr_entity *owner, unsigned serial, struct xr_entity *sub);

/* Depth of the calling thread's stack (tests). */
unsigned xr_api_depth(void);
/* Fork child: the copies of the forking thread's open subsegments belong
 * to the parent; dropped unsent. */
void xr_api_fork_child(void);
/* Thread exit (the tracer's key destructor, on the exiting thread): frees
 * the open subsegments, unsent. */
void xr_api_thread_exit(void);

#endif /* XR_API_H */
