/*
 * Reading a whole small file the library itself needs (the sampling rules
 * file, the plugins' environment.conf and /proc files).
 * Contract: raw system calls (no interposer, ours included, sees them);
 * O_NONBLOCK, so a FIFO or a terminal planted at the path answers at once
 * instead of hanging the caller; allocates; not for signal handlers or vfork
 * children.
 */
#ifndef XR_FILE_H
#define XR_FILE_H

#include "xr_setup.h"

/*
 * The file at path, at most max + 1 bytes (one more than the limit tells
 * "too large", *len == max + 1, from "exactly full"), NUL-terminated, in a
 * malloc'ed *out; *len its length. 0 or a negative errno (*out NULL).
 */
int xr_file_read(const char *path, size_t max, char **out, size_t *len) XR_WUR;

#endif /* XR_FILE_H */
