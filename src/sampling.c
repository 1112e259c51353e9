#include "xr_setup.h"

#include "sampling.h"

#include "ids.h"

#include <stdatomic.h>

/* High 32 bits: the second; low 32 bits: traces taken in it. */
static atomic_ullong xr_reservoir;

static bool xr_reservoir_take(int64_t now_seconds)
{
  unsigned long long cur = atomic_load_explicit(&xr_reservoir, memory_order_relaxed);
  uint32_t sec = (uint32_t)now_seconds;

  for (;;) {
    uint32_t used = (uint32_t)(cur >> 32) == sec ? (uint32_t)cur : 0;
    unsigned long long next;
    if (used >= XR_DEFAULT_FIXED_TARGET)
      return false;
    next = ((unsigned long long)sec << 32) | (used + 1);
    if (atomic_compare_exchange_weak_explicit(&xr_reservoir, &cur, next,
                                              memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  }
}

bool xr_sample(enum xr_sampling mode, int64_t now_seconds)
{
  if (mode == XR_SAMPLING_ALL)
    return true;
  if (xr_reservoir_take(now_seconds))
    return true;
  return xr_random_unit() < XR_DEFAULT_RATE;
}
