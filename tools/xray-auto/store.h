/*
 * Trace store of the collector: documents grouped by trace_id until the
 * trace is finished (complete segment + quiet period) or the collector
 * stops, then printed with xt_print_trace() and forgotten.
 */
#ifndef XRAY_AUTO_TOOL_STORE_H
#define XRAY_AUTO_TOOL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

/* Bounds on memory for a long-running collector fed arbitrary input. */
#define XT_MAX_LIVE_TRACES 10000u
#define XT_MAX_DOCS_PER_TRACE 10000u

struct xt_store;

struct xt_store *xt_store_new(void);
void xt_store_free(struct xt_store *s);

/*
 * Adds a validated document (trace_id and id present and well-formed).
 * Always takes ownership of doc, also on failure. A later document with the
 * id of an earlier one replaces it (in-progress then complete), except that
 * an in-progress document never replaces a complete one. now is a
 * monotonic time in seconds. Returns 0 or -ENOMEM.
 */
int xt_store_add(struct xt_store *s, cJSON *doc, double now);

/*
 * Prints to out (NULL: print nothing) and forgets every trace that has a
 * complete segment document and no new document for quiet_s seconds, or
 * every trace when all is set, oldest first; then evicts the least recently
 * active traces beyond XT_MAX_LIVE_TRACES. Returns how many were forgotten.
 */
size_t xt_store_flush(struct xt_store *s, double now, double quiet_s, bool all,
		      FILE *out);

#endif
