/*
 * The calling program's stack for a recorded error (cause.exceptions[].stack),
 * read with libunwind's local unwinder. libunwind is never linked: it is
 * dlopen'ed RTLD_LOCAL at the first capture ("libunwind.so.8"), so its
 * _Unwind_* symbols never shadow libgcc's for the host. When it is absent
 * (or fails) captures return 0 frames and one debug line is logged.
 * Contract: allocates on first use (dlopen); never from a signal handler or
 * a vfork child. Thread-safe.
 */
#ifndef XR_STACK_H
#define XR_STACK_H

#include "xr_setup.h"

#include <cjson/cJSON.h>

#define XR_STACK_FRAMES 32
#define XR_FRAME_LABEL_MAX 128
#define XR_FRAME_PATH_MAX 256

struct xr_frame {
  const void *pc;
  char label[XR_FRAME_LABEL_MAX]; /* function name; "0x<offset>" if unknown */
  char path[XR_FRAME_PATH_MAX];   /* the module's path (dladdr) */
};

/* Fills f with the calling thread's frames, innermost first. With
 * skip_own, the innermost frames that lie in the object holding this code
 * (libxray-auto.so) are left out, so the first frame is the program's
 * call into the hooked library. *omitted counts frames past max (bounded).
 * Returns the number of frames filled, 0 without libunwind. */
int xr_stack_capture(struct xr_frame *f, int max, bool skip_own, int *omitted);

/* Adds "stack": [{"path", "label"}...] and, when omitted > 0,
 * "truncated": omitted to the exception object ex. 0 or -ENOMEM. */
int xr_stack_to_json(cJSON *ex, const struct xr_frame *f, int n, int omitted) XR_WUR;

#endif /* XR_STACK_H */
