/*
 * Trace tree printer.
 *
 * Independent subsegment documents hang under whichever entity (segment or
 * nested subsegment, in any document of the trace) has their parent_id as
 * id; segments whose parent_id names an entity of the same trace (a traced
 * downstream process) hang there too. Subsegment documents whose parent is
 * missing are listed last as orphans. Siblings are ordered by start_time.
 */
#ifndef XRAY_AUTO_TOOL_TREE_H
#define XRAY_AUTO_TOOL_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

/*
 * Prints one trace tree from validated documents. dropped is the number of
 * documents that were not kept; unfinished marks the header line. Returns
 * 0, -ENOMEM (a one-line notice replaces the tree) or -EIO if out failed.
 */
int xt_print_trace(FILE *out, const char *trace_id, cJSON *const *docs,
		   size_t ndocs, size_t dropped, bool unfinished);

#endif
