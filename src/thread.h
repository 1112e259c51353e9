/*
 * The library's own threads (the daemon-name resolver, the centralized
 * sampling poller, the plugins' gatherer).
 * Contract: xr_thread_spawn starts fn(arg) detached (nothing ever joins it,
 * so exit is never delayed) with every signal blocked, so that none of the
 * host's process-directed signals is ever delivered to a thread of ours
 * and no handler of the host runs on one; the caller's mask is restored
 * before it returns. Allocates (pthread_create): not for signal handlers
 * or vfork children. 0 or a negative errno.
 */
#ifndef XR_THREAD_H
#define XR_THREAD_H

#include "xr_setup.h"

int xr_thread_spawn(void *(*fn)(void *), void *arg) XR_WUR;

#endif /* XR_THREAD_H */
