/* Shared command-line plumbing of the xray-auto tool. */
#ifndef XRAY_AUTO_TOOL_CLI_H
#define XRAY_AUTO_TOOL_CLI_H

#include <stdio.h>

#ifndef XRAY_AUTO_VERSION
#define XRAY_AUTO_VERSION "0.0.0"
#endif

/* Exit status for bad command lines, as most Unix tools. */
#define XT_EXIT_USAGE 2

/* Full usage text (all subcommands). */
void xt_usage(FILE *out);

/* `xray-auto run ...`: argv[0] is "run". Returns the exit status unless
 * it execs. */
int xt_cmd_run(int argc, char **argv);

/* `xray-auto doctor ...`: argv[0] is "doctor". Returns the exit status. */
int xt_cmd_doctor(int argc, char **argv);

/*
 * Locates libxray-auto.so like `run` does: $XRAY_AUTO_LIBRARY, else next
 * to this executable, else ../lib or ../lib/<multiarch> relative to it.
 * out must hold PATH_MAX bytes; on success it is absolute and resolved.
 * Returns 0 or a negative errno after explaining on stderr, each line
 * starting with prefix.
 */
int xt_find_library(char *out, const char *prefix);

#endif
