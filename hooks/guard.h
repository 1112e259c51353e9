/*
 * The state every hook consults first.
 *   xr_ready(fam): the constructor finished, tracing is enabled, this copy
 *     is the active one, and family fam is hooked. False before our
 *     constructor ran (glibc runs the program's DT_NEEDED constructors
 *     first), when disabled, in secure-execution processes, after an
 *     internal failure. Then every hook passes straight through.
 *   xr_depth: per-thread nesting of traced operations. The outermost hook
 *     owns the span; inner hooks (curl_easy_perform calling curl_multi_*
 *     through the PLT, our own emission) pass through.
 * Contract: async-signal-safe (an atomic load and initial-exec TLS).
 */
#ifndef XR_GUARD_H
#define XR_GUARD_H

#include "../src/xr_setup.h"

#include <stdatomic.h>

enum xr_state { XR_STATE_LOADING = 0, XR_STATE_READY = 1, XR_STATE_INERT = 2 };

extern atomic_int xr_state;
extern unsigned xr_hooks_enabled;
extern XR_TLS int xr_depth;

static inline bool xr_ready(unsigned family)
{
  return atomic_load_explicit(&xr_state, memory_order_acquire) == XR_STATE_READY &&
         (xr_hooks_enabled & family);
}

/* A hidden alias of xray_version (api.c): its address is this copy's even
 * when a second copy of the library is loaded, where the exported name
 * resolves to the first copy. */
const char *xr_version_local(void);

/* Stops all tracing for good (internal failure); the host runs on. */
void xr_go_inert(const char *why);

#endif /* XR_GUARD_H */
