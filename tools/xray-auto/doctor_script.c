/*
 * A #! script is diagnosed through the program the kernel runs for it:
 * its interpreter, the NAME of `#!/usr/bin/env NAME` as found in PATH,
 * and for Debian's pg_wrapper the real client it execs.
 */
#define _GNU_SOURCE
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"

/* Newest /usr/lib/postgresql/VERSION/bin/NAME (Debian's pg_wrapper). */
static char *xt_pg_real(const char *name)
{
	char *pat = xt_fmt("/usr/lib/postgresql/*/bin/%s", name), *best = NULL;
	double best_v = -1;
	glob_t g;
	size_t i;

	if (glob(pat, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			double v = strtod(g.gl_pathv[i] +
					  strlen("/usr/lib/postgresql/"), NULL);

			if (v > best_v && access(g.gl_pathv[i], X_OK) == 0) {
				best_v = v;
				free(best);
				best = xt_strdup(g.gl_pathv[i]);
			}
		}
		globfree(&g);
	}
	free(pat);
	return best;
}

void xt_diagnose_script(struct xt_doctor *d, struct xt_report *r,
			const char *line, int depth)
{
	char interp[PATH_MAX], found[PATH_MAX], real[PATH_MAX];
	const char *p = line + 2, *arg;
	const char *use;
	size_t n;
	char *pg = NULL;
	struct xt_report *in;

	p += strspn(p, " \t");
	n = strcspn(p, " \t");
	if (!n || n >= sizeof(interp)) {
		xt_verdict(r, XT_ERROR, "error: #! line without an "
			   "interpreter");
		return;
	}
	memcpy(interp, p, n);
	interp[n] = '\0';
	arg = p + n;
	arg += strspn(arg, " \t");
	xt_note(r, "script", "#!%s%s%s", interp, *arg ? " " : "", arg);
	use = interp;
	/* #!/usr/bin/env [-S] [VAR=value...] NAME: NAME comes from PATH. */
	if (strcmp(xt_base(interp), "env") == 0 && *arg) {
		const char *w = arg;
		char word[NAME_MAX + 1];

		for (;;) {
			size_t wl = strcspn(w, " \t");

			if (!wl)
				break;
			if (w[0] != '-' && !memchr(w, '=', wl)) {
				snprintf(word, sizeof(word), "%.*s", (int)wl,
					 w);
				if (strchr(word, '/'))
					snprintf(found, sizeof(found), "%s",
						 word);
				else if (!xt_which(word, found)) {
					xt_verdict(r, XT_BLIND, "not traced: "
						   "its interpreter %s is not "
						   "in PATH (the script "
						   "cannot run)", word);
					return;
				}
				xt_note(r, "", "env runs %s: %s", word, found);
				use = found;
				break;
			}
			w += wl;
			w += strspn(w, " \t");
		}
	}
	if (realpath(r->path, real) && strcmp(xt_base(real), "pg_wrapper") == 0)
		pg = xt_pg_real(xt_base(r->path));
	if (pg) {
		xt_note(r, "", "Debian's pg_wrapper: it picks the PostgreSQL "
			"version per cluster (PGCLUSTER, ~/.postgresqlrc, "
			"user_clusters) and execs /usr/lib/postgresql/"
			"VERSION/bin/%s, newest here %s", xt_base(r->path), pg);
		in = xt_diagnose_inner(d, r, pg, "real program", depth);
		xt_verdict(r, in->status, "wrapper script for %s, runs %s: %s",
			   interp, pg, in->verdict);
		free(pg);
		return;
	}
	if (access(use, F_OK) != 0) {
		xt_verdict(r, XT_BLIND, "not traced: its interpreter %s does "
			   "not exist (the script cannot run)", use);
		return;
	}
	in = xt_diagnose_inner(d, r, use, "interpreter", depth);
	xt_note(r, "", "the interpreter runs the script: what it sees is "
		"the interpreter's; programs the script starts inherit "
		"LD_PRELOAD unless it clears the environment: diagnose "
		"those too");
	xt_verdict(r, in->status, "script for %s: %s", use, in->verdict);
}
