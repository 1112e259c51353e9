/*
 * `xray-auto doctor PROGRAM`: what libxray-auto.so will and will not see
 * in PROGRAM, found by reading its files (elfinfo.c, ldsearch.c), never by
 * running it. Verdicts, first blocker wins (preload-craft.md 1, 4.5-4.7):
 *
 *   no PT_INTERP             static: no ld.so runs, LD_PRELOAD is unread
 *   ELF class / machine      ld.so skips the library ("wrong ELF class")
 *   setuid, setgid, caps     secure-execution mode: preload ignored (and
 *                            the library stays inert under AT_SECURE)
 *   musl vs glibc            the library cannot load (exit 127)
 *   library deps missing     every program fails to start (exit 127)
 *   Go                       its net package makes raw system calls
 *
 * else the hooks of each client library in the DT_NEEDED closure fire
 * (libcurl, libpq, libmariadb / libmysqlclient), and the sockets layer
 * sees every libc socket call. A client library compiled into the
 * program leaves it to the sockets layer. Scripts are diagnosed through
 * their interpreter (Debian's pg_wrapper through the program it runs),
 * git through its git-remote-http helper too.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "doctor.h"

/* The kernel reads at most this much of a #! line (BINPRM_BUF_SIZE). */
#define XT_SHEBANG_MAX 256u
/* Script -> interpreter -> ... nesting the kernel allows. */
#define XT_MAX_DEPTH 4

bool xt_which(const char *name, char *out)
{
	const char *path = getenv("PATH"), *p;

	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;;) {
		size_t n = strcspn(p, ":");
		struct stat st;

		if (snprintf(out, PATH_MAX, "%.*s%s%s", (int)n, p,
			     n ? "/" : "", name) < PATH_MAX &&
		    stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(out, X_OK) == 0)
			return true;
		if (!p[n])
			return false;
		p += n + 1;
	}
}

/* The verdict for a file that cannot be read, from errno. */
static struct xt_report *xt_unreadable(struct xt_report *r)
{
	xt_verdict(r, XT_ERROR, "error: cannot read it: %s", strerror(errno));
	return r;
}

struct xt_report *xt_diagnose(struct xt_doctor *d, const char *name,
			      const char *path, int depth)
{
	struct xt_report *r = xt_report_new(name, path);
	char head[XT_SHEBANG_MAX + 1], err[256];
	struct xt_elf e;
	struct stat st;
	ssize_t n = 0;
	int fd, rc;

	if (depth > XT_MAX_DEPTH) {
		xt_verdict(r, XT_BLIND, "not traced: more than %d levels of "
			   "#! interpreters (the kernel refuses)",
			   XT_MAX_DEPTH);
		return r;
	}
	if (stat(path, &st) < 0)
		return xt_unreadable(r);
	if (!S_ISREG(st.st_mode)) {
		xt_verdict(r, XT_ERROR, "error: not a regular file");
		return r;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return xt_unreadable(r);
	do
		n = read(fd, head, XT_SHEBANG_MAX);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return xt_unreadable(r);
	head[n] = '\0';
	if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
		xt_note(r, "mode", "not executable (no x permission): "
			"diagnosed as if it were");
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		head[strcspn(head, "\r\n")] = '\0';
		xt_diagnose_script(d, r, head, depth);
		return r;
	}
	rc = xt_elf_open(path, &e, err, sizeof(err));
	if (rc == XT_ELF_NOT_ELF) {
		xt_verdict(r, XT_ERROR, "error: neither an ELF program nor a "
			   "#! script");
		return r;
	}
	if (rc) {
		xt_verdict(r, XT_ERROR, "error: unreadable ELF file: %s", err);
		return r;
	}
	xt_diagnose_elf(d, r, &e, depth);
	xt_elf_close(&e);
	return r;
}

struct xt_report *xt_diagnose_inner(struct xt_doctor *d, struct xt_report *r,
				    const char *path, const char *role,
				    int depth)
{
	struct xt_report *in = xt_diagnose(d, xt_base(path), path, depth + 1);

	in->role = role;
	r->inner = in;
	return in;
}

/* ---------------------------------------------------------------------- */
/* command line                                                            */

static int xt_doctor_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, XT_DOC_PREFIX "%s%s%s\n", what, arg ? " " : "",
		arg ? arg : "");
	xt_usage(stderr);
	return XT_EXIT_USAGE;
}

int xt_cmd_doctor(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lib", required_argument, NULL, 'l' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xt_doctor d;
	struct xt_report *r;
	const char *lib = NULL, *prog;
	char path[PATH_MAX];
	int opt, status;

	memset(&d, 0, sizeof(d));
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "l:jvh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			lib = optarg;
			break;
		case 'j':
			d.json = true;
			break;
		case 'v':
			d.verbose = true;
			break;
		case 'h':
			xt_usage(stdout);
			return 0;
		default:
			return xt_doctor_usage_error(
				"unknown option or missing argument",
				argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return xt_doctor_usage_error("missing PROGRAM", NULL);
	if (optind + 1 < argc)
		return xt_doctor_usage_error("one PROGRAM only, got also",
					     argv[optind + 1]);
	prog = argv[optind];
	if (!*prog)
		return xt_doctor_usage_error("empty PROGRAM", NULL);
	if (strchr(prog, '/')) {
		snprintf(path, sizeof(path), "%s", prog);
	} else if (!xt_which(prog, path)) {
		fprintf(stderr, XT_DOC_PREFIX "%s: not found in PATH\n", prog);
		return XT_ERROR;
	}
	if (access(path, F_OK) != 0) {
		fprintf(stderr, XT_DOC_PREFIX "%s: %s\n", path,
			strerror(errno));
		return XT_ERROR;
	}
	if (xt_setup_library(&d, lib))
		return XT_ERROR;
	d.cache_rc = xt_ldcache_load(&d.cache, "/etc/ld.so.cache");
	r = xt_diagnose(&d, xt_base(prog), path, 0);
	if (d.cache_rc && r->status != XT_ERROR)
		xt_note(r, "note", "/etc/ld.so.cache unreadable (%s): searched "
			"the default directories only", strerror(-d.cache_rc));
	if (d.json) {
		cJSON *o = xt_report_json(r);
		char *s = cJSON_Print(o);

		if (!s)
			xt_oom();
		puts(s);
		free(s);
		cJSON_Delete(o);
	} else if (r->status == XT_ERROR && !r->inner) {
		fprintf(stderr, XT_DOC_PREFIX "%s: %s\n", path, r->verdict);
	} else {
		xt_report_print(r, 0, stdout);
	}
	status = r->status;
	xt_report_free(r);
	xt_ldcache_free(&d.cache);
	if (d.have_lib)
		xt_elf_close(&d.lib);
	free(d.lib_problem);
	free(d.lib_missing);
	free(d.musl_sibling);
	free(d.glibc_sibling);
	if (fflush(stdout) == EOF)
		return XT_ERROR;
	return status;
}
