/*
 * xray-auto: companion tool of libxray-auto.so.
 *
 * Usage:
 *   xray-auto collect [--listen ADDR] [--jsonl FILE] [--quiet]
 *                     [--exit-after-idle SECONDS]
 *       Daemon-compatible UDP collector (default 127.0.0.1:2000; ADDR is
 *       host:port or a bare port, port 0 picks a free one). Validates every
 *       datagram, appends each document (or {"invalid":..,"bytes":N}) to
 *       FILE as one JSON line, prints one tree per finished trace on stdout
 *       and a summary on stderr at SIGINT/SIGTERM or after SECONDS idle.
 *
 *   xray-auto run [--collect [--jsonl FILE] [--quiet]] [--listen ADDR]
 *                 [--] CMD [ARGS...]
 *       Runs CMD with libxray-auto.so prepended to LD_PRELOAD. The library
 *       is $XRAY_AUTO_LIBRARY, else next to this executable, else in
 *       ../lib or ../lib/<multiarch> relative to it. With --collect, a
 *       collector bound before CMD starts (on ADDR, default a free
 *       127.0.0.1 port) receives CMD's documents through
 *       AWS_XRAY_DAEMON_ADDRESS and prints the trees after CMD exits.
 *       Without --collect, --listen only sets AWS_XRAY_DAEMON_ADDRESS.
 *       Exit status: CMD's (128+N if killed by signal N), 127 if the
 *       library or CMD cannot be found, 2 on bad usage.
 *
 *   xray-auto doctor [--lib PATH] [--json] [-v] PROGRAM
 *       Explains, without running PROGRAM (a path or a name looked up in
 *       PATH), what the preload will and will not see in it: a verdict
 *       line, then details. Reads the ELF files only: statically linked,
 *       Go, setuid/setgid/file capabilities, libc flavour or ELF class
 *       different from the library's (--lib PATH, else found like `run`),
 *       the client libraries in its DT_NEEDED closure (resolved like
 *       ld.so) and the hooks that fire for them, a client library
 *       compiled into the program, dlopen; #! scripts through their
 *       interpreter. -v lists every shared object, --json prints the same
 *       as JSON. Exit status: 0 the preload sees something, 1 it sees
 *       nothing, 2 bad usage or an unreadable PROGRAM.
 *
 *   xray-auto --version | help
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "collect.h"

void xt_usage(FILE *out)
{
	fputs("usage: xray-auto collect [--listen ADDR] [--jsonl FILE] [--quiet]\n"
	      "                         [--exit-after-idle SECONDS]\n"
	      "       xray-auto run [--collect [--jsonl FILE] [--quiet]] "
	      "[--listen ADDR] [--] CMD [ARGS...]\n"
	      "       xray-auto doctor [--lib PATH] [--json] [-v] PROGRAM\n"
	      "       xray-auto --version\n"
	      "       xray-auto help\n"
	      "\n"
	      "collect  receive X-Ray datagrams like the X-Ray daemon (default\n"
	      "         ADDR 127.0.0.1:2000; host:port or port), validate them,\n"
	      "         write them to FILE as JSON lines and print trace trees\n"
	      "run      run CMD with libxray-auto.so preloaded (library from\n"
	      "         $XRAY_AUTO_LIBRARY or next to this tool); --collect also\n"
	      "         collects and prints what CMD sends\n"
	      "doctor   explain, without running PROGRAM, what the preload\n"
	      "         will and will not see in it (static, Go, setuid,\n"
	      "         libc flavour, client libraries and their hooks);\n"
	      "         exit 0 traced, 1 not traced, 2 error\n",
	      out);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		xt_usage(stderr);
		return XT_EXIT_USAGE;
	}
	if (strcmp(cmd, "collect") == 0)
		return xt_cmd_collect(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return xt_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "doctor") == 0)
		return xt_cmd_doctor(argc - 1, argv + 1);
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("xray-auto %s\n", XRAY_AUTO_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		xt_usage(stdout);
		return 0;
	}
	fprintf(stderr, "xray-auto: unknown command '%s'\n", cmd);
	xt_usage(stderr);
	return XT_EXIT_USAGE;
}
