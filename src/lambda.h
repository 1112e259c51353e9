/*
 * The Lambda invocation context of a custom runtime (xray-spec.md 7).
 * Lambda sends the function segment itself; everything traced during an
 * invocation is a subsegment of it, sent on its own with trace_id = Root
 * and parent_id = Parent of the invocation's trace header. Custom runtimes
 * never get _X_AMZN_TRACE_ID from Lambda, so the header comes from:
 *   - the Runtime API's answer to NEXT (Lambda-Runtime-Trace-Id), which the
 *     sockets layer reads off the runtime's own connection (libcurl's or
 *     plain sockets) and hands to xr_lambda_next();
 *   - _X_AMZN_TRACE_ID, as the process inherited it or as it later sets it
 *     (setenv, putenv): a change seen at the start of a traced call.
 * The most recent of the two wins. Sending NEXT, or an invocation's
 * response or error, ends the context (xr_lambda_end): calls between
 * invocations, and before the first, belong to none.
 * Contract: thread-safe (one mutex, held for a copy, never across a call
 * into the host); no allocation; not for signal handlers or vfork
 * children.
 */
#ifndef XR_LAMBDA_H
#define XR_LAMBDA_H

#include "xr_setup.h"

#include "config.h"
#include "trace_header.h"

/* What a request to the Runtime API means for the context. */
enum xr_lambda_request {
  XR_LAMBDA_OTHER = 0, /* init error, anything else */
  XR_LAMBDA_NEXT,      /* GET /2018-06-01/runtime/invocation/next */
  XR_LAMBDA_DONE       /* POST .../invocation/<id>/response or /error */
};

/* env: _X_AMZN_TRACE_ID at start (NULL when unset); a valid one is the
 * first context (a handler process the runtime started). */
void xr_lambda_init(const char *env);

/* The Runtime API answered a NEXT with this Lambda-Runtime-Trace-Id. */
void xr_lambda_next(const char *header, size_t len);
/* The current invocation ended (or the runtime asks for the next one). */
void xr_lambda_end(void);

/* The context of a call starting now, given _X_AMZN_TRACE_ID's current
 * value (NULL when unset): 0 and *out, or -ENOENT outside an invocation. */
int xr_lambda_current(const char *env, struct xr_trace_header *out) XR_WUR;

enum xr_lambda_request xr_lambda_classify(const char *method, const char *target);

/* Whether a peer (numeric address, the name the program resolved for it
 * or "", port) is the Runtime API endpoint api. */
bool xr_lambda_is_api(const struct xr_endpoint *api, const char *addr,
                      const char *name, uint16_t port);

void xr_lambda_fork_child(void);

#endif /* XR_LAMBDA_H */
