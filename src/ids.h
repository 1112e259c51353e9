/*
 * Trace ids and entity ids (xray-spec.md 2.1, 2.3).
 * A per-thread xoshiro256** generator seeded from getrandom(); a forked child
 * reseeds on its next draw (xr_ids_fork_child() bumps a generation), so
 * parent and child never produce the same ids.
 * Contract: no locks, no allocation; the first draw on a thread makes one
 * getrandom system call. Not for signal handlers (state is not re-entrant).
 */
#ifndef XR_IDS_H
#define XR_IDS_H

#include "xr_setup.h"

/* 16 lowercase hex digits + NUL; never the all-zero (no-op) id. */
void xr_new_entity_id(char out[XR_ID_LEN + 1]);
/* "1-<8 hex epoch seconds>-<24 hex random>" + NUL. */
void xr_new_trace_id(char out[XR_TRACE_ID_LEN + 1], int64_t epoch_seconds);
/* Uniform double in [0, 1). */
double xr_random_unit(void);
/* pthread_atfork child handler: every thread of the child reseeds. */
void xr_ids_fork_child(void);

bool xr_is_entity_id(const char *s, size_t len);
bool xr_is_trace_id(const char *s, size_t len);

#endif /* XR_IDS_H */
