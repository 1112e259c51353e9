/*
 * Diagnostics on stderr, prefixed "libxray-auto[pid]: level: ".
 * Contract: async-signal-safe apart from the vsnprintf formatting of the
 * arguments (no allocation for %s/%d/%u/%ld/%zu), preserves errno, writes
 * with a raw system call so that no write() interposer (ours included) sees
 * it, may run before initialisation (level defaults to error).
 */
#ifndef XR_LOG_H
#define XR_LOG_H

#include "xr_setup.h"

enum xr_log_level {
  XR_LOG_OFF = 0,
  XR_LOG_ERROR = 1,
  XR_LOG_WARN = 2,
  XR_LOG_INFO = 3,
  XR_LOG_DEBUG = 4
};

extern int xr_log_level;

void xr_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define xr_log_at(lvl, ...)                                                    \
  do {                                                                         \
    if (XR_UNLIKELY(xr_log_level >= (lvl)))                                    \
      xr_log((lvl), __VA_ARGS__);                                              \
  } while (0)
#define xr_err(...) xr_log_at(XR_LOG_ERROR, __VA_ARGS__)
#define xr_warn(...) xr_log_at(XR_LOG_WARN, __VA_ARGS__)
#define xr_info(...) xr_log_at(XR_LOG_INFO, __VA_ARGS__)
#define xr_debug(...) xr_log_at(XR_LOG_DEBUG, __VA_ARGS__)

#endif /* XR_LOG_H */
