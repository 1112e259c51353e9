/*
 * The daemon-compatible collector: receives X-Ray datagrams, validates
 * them, appends them to a JSONL file and prints one tree per trace.
 */
#ifndef XRAY_AUTO_TOOL_COLLECT_H
#define XRAY_AUTO_TOOL_COLLECT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>

/* A trace is printed once its complete segment has been quiet this long. */
#define XT_TRACE_QUIET_S 1.0
#define XT_TICK_MS 200

struct xt_collect_opts {
	FILE *jsonl;		/* NULL: no JSONL output; not closed here */
	bool quiet;		/* no trees on stdout */
	double idle_exit_s;	/* > 0: stop after that long without datagrams */
	int stop_fd;		/* >= 0: stop once readable (EOF or data) */
	bool sigint_stops;	/* false: SIGINT is ignored (run's child) */
};

/*
 * Runs the receive loop on the bound socket sock until SIGTERM, SIGINT (if
 * sigint_stops), stop_fd or the idle timeout; then drains the socket,
 * prints every remaining trace and the summary line on stderr. Blocks
 * SIGTERM/SIGINT for its whole duration and ignores SIGPIPE. Does not
 * close sock. Returns 0 or a negative errno for setup failures.
 */
int xt_collect_loop(int sock, const struct xt_collect_opts *o);

/*
 * Opens a JSONL output file ("-" is stdout), close-on-exec, truncated.
 * Returns NULL with errno set on failure.
 */
FILE *xt_jsonl_open(const char *path);

/* Prints "xray-auto collect: listening on udp ADDR" on stderr. */
void xt_collect_announce(const struct sockaddr_in *bound);

/* `xray-auto collect ...`: argv[0] is "collect". Returns the exit status. */
int xt_cmd_collect(int argc, char **argv);

#endif
