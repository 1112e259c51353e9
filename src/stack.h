/*
 * The calling program's stack for a recorded error (cause.exceptions[].stack),
 * read with libunwind's local unwinder. libunwind is never linked: it is
 * dlopen'ed RTLD_LOCAL at the first capture ("libunwind.so.8"), so its
 * _Unwind_* symbols never shadow libgcc's for the host. When it is absent
 * (or lacks a symbol) captures return 0 frames and one debug line is logged.
 * Contract: allocates on first use (dlopen, a 34 kB label cache), kept for
 * the life of the process; never from a signal handler or a vfork child.
 * Thread-safe. Uses a few kB of the caller's stack (libunwind's cursor and
 * context, its DWARF state).
 */
#ifndef XR_STACK_H
#define XR_STACK_H

#include "xr_setup.h"

#include <cjson/cJSON.h>

#define XR_STACK_FRAMES 32
#define XR_FRAME_LABEL_MAX 128
#define XR_FRAME_PATH_MAX 256

struct xr_frame {
  const void *pc; /* the return address into this frame's function */
  /* The function's name (as in the symbol table: C++ names stay mangled);
   * when no table names it, "0x<pc - module base>" in hex, which for PIE
   * programs and shared objects is the file's address of the return
   * address (addr2line -e path <it - 1>). */
  char label[XR_FRAME_LABEL_MAX];
  /* The module's file: /proc/self/exe for the main program, else dladdr's
   * dli_fname; "" when no module holds pc. */
  char path[XR_FRAME_PATH_MAX];
};

/* Fills f with the calling thread's frames, innermost first, starting with
 * the caller of xr_stack_capture (its own frame is never included). With
 * skip_own, the innermost run of frames that lie in the object holding this
 * code (libxray-auto.so) is left out too, so the first frame is the
 * program's call into the hooked library; frames of ours further out stay.
 * *omitted (may be NULL) counts frames past max, at most 1000; skipped
 * frames are not counted. Returns the number of frames filled, 0 without
 * libunwind. Cost (x86_64, 12 frames): 20-35 us; a first capture from new
 * call sites in objects without dynamic symbols for them ~0.5 ms. */
int xr_stack_capture(struct xr_frame *f, int max, bool skip_own, int *omitted);

/* Adds "stack": [{"path", "label"}...] (no "line": we have none) and,
 * when omitted > 0, "truncated": omitted to the exception object ex.
 * Adds nothing when there are neither frames nor omitted ones. 0, or
 * -ENOMEM with ex unchanged. */
int xr_stack_to_json(cJSON *ex, const struct xr_frame *f, int n, int omitted) XR_WUR;

#endif /* XR_STACK_H */
