/* Wall-clock time for documents, and monotonic time. vDSO clock_gettime: no system call,
 * async-signal-safe, preserves errno on success. */
#ifndef XR_CLOCK_H
#define XR_CLOCK_H

#include "xr_setup.h"

#include <time.h>

static inline int64_t xr_now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic time (deadlines, intervals): same properties. */
static inline int64_t xr_mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif /* XR_CLOCK_H */
