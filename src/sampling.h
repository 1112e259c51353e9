/*
 * Sampling decisions for traces this library starts (xray-spec.md 4.1).
 * The default rule: a reservoir of 1 trace per second, then 5 % of the rest.
 * Incoming decisions (Sampled=1/0 of a trace header) are honoured by the
 * caller and never reach this module.
 * Contract: lock-free, no allocation, thread-safe.
 */
#ifndef XR_SAMPLING_H
#define XR_SAMPLING_H

#include "xr_setup.h"

#include "config.h"

#define XR_DEFAULT_FIXED_TARGET 1
#define XR_DEFAULT_RATE 0.05

bool xr_sample(enum xr_sampling mode, int64_t now_seconds);

#endif /* XR_SAMPLING_H */
