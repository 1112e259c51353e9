/*
 * Included first by every file of the library: feature macros, attribute
 * shorthands and the build-wide constants. Nothing here allocates or runs.
 */
#ifndef XR_SETUP_H
#define XR_SETUP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef XRAY_AUTO_VERSION
#define XRAY_AUTO_VERSION "0.0.0"
#endif

/* The build uses -fvisibility=hidden; only hooks and xray_* carry this. */
#define XR_EXPORT __attribute__((visibility("default")))
#define XR_WUR __attribute__((warn_unused_result))
#define XR_LIKELY(x) __builtin_expect(!!(x), 1)
#define XR_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* initial-exec: no __tls_get_addr, no allocation, async-signal-safe. */
#define XR_TLS __thread __attribute__((tls_model("initial-exec")))

#define XR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* X-Ray limits (xray-spec.md 1.2, 2.1). */
#define XR_ID_LEN 16          /* entity id: 16 lowercase hex */
#define XR_TRACE_ID_LEN 35    /* 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx */
#define XR_NAME_MAX_CHARS 200 /* characters, not bytes */
#define XR_NAME_MAX_BYTES (XR_NAME_MAX_CHARS * 4)
/* Whole datagram, header included. 64 kB as the service documents it, which
 * also stays below the IPv4 UDP payload limit of 65,507 bytes. */
#define XR_DATAGRAM_MAX 64000
#define XR_PROTOCOL_HEADER "{\"format\":\"json\",\"version\":1}\n"
#define XR_PROTOCOL_HEADER_LEN (sizeof(XR_PROTOCOL_HEADER) - 1)
#define XR_SDK_NAME "libxray-auto"

#endif /* XR_SETUP_H */
