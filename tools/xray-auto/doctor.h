/*
 * Private to `xray-auto doctor`: the report its parts build and the calls
 * between them.
 *
 *   doctor.c         command line; a file is a #! script or an ELF program
 *   doctor_report.c  the report: notes, verdict, client libraries; text and
 *                    JSON output
 *   doctor_libs.c    what the hooks know (client libraries, hooked and
 *                    network functions), the symbols and the dependency
 *                    walk of a program and of the preloaded library
 *   doctor_checks.c  the checks of an ELF program, first blocker wins
 *   doctor_script.c  scripts: their interpreter, Debian's pg_wrapper
 *
 * Allocation failures exit (XT_ERROR): no function here returns them.
 */
#ifndef XRAY_AUTO_TOOL_DOCTOR_H
#define XRAY_AUTO_TOOL_DOCTOR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "elfinfo.h"
#include "ldsearch.h"

#define XT_DOC_PREFIX "xray-auto doctor: "
#define XT_MUSL_LIB "libxray-auto-musl.so"
#define XT_GLIBC_LIB "libxray-auto.so"

/* Also the exit status of the command. */
enum xt_status {
	XT_TRACED = 0,		/* the preload sees something */
	XT_BLIND = 1,		/* it sees nothing */
	XT_ERROR = 2,		/* usage error, unreadable program */
};

enum xt_libc {
	XT_LIBC_UNKNOWN,
	XT_LIBC_GLIBC,
	XT_LIBC_MUSL,
};

/* ---------------------------------------------------------------------- */
/* what the hooks know (hooks/exports.map, hooks/{curl,pq,mysql}.c)         */

enum xt_fam { XT_FAM_CURL, XT_FAM_PQ, XT_FAM_MYSQL, XT_NFAM };

struct xt_mark {
	const char *needle;	/* a read-only string of the library ... */
	const char *what;	/* ... and the library it identifies */
};

struct xt_family {
	const char *key;		/* XRAY_AUTO_HOOKS name */
	const char *what;		/* for messages */
	const char *const *prefixes;	/* file names of the library */
	const char *const *known;	/* sonames the hooks look up */
	const char *const *hooked;	/* hook functions (<= 64) */
	const char *const *defines;	/* defined in a program: compiled in */
	const struct xt_mark *marks;	/* strings: compiled in */
	const char *fires;		/* what the hooks record */
};

extern const struct xt_family xt_families[XT_NFAM];
/* libc calls that only network code makes (the socket hooks have more). */
extern const char *const xt_net_calls[];

/* What one object imports and defines of the lists above. */
struct xt_syms {
	uint64_t imports[XT_NFAM];	/* bit i: family hooked[i] imported */
	uint64_t defines[XT_NFAM];	/* bit i: family defines[i] defined */
	uint32_t net;			/* bit i: xt_net_calls[i] imported */
	bool dlopen;
	bool getaddrinfo;
};

/* ---------------------------------------------------------------------- */
/* the report                                                              */

struct xt_note {
	char *topic;		/* "" continues the previous note */
	char *text;
};

struct xt_client {
	enum xt_fam fam;
	char *name;		/* soname / DT_NEEDED, or what is compiled in */
	char *path;		/* NULL when compiled in */
	const char *by;
	char *needed_by;
	bool compiled_in;
};

struct xt_report {
	char *name, *path;
	enum xt_status status;
	char *verdict;
	struct xt_note *notes;
	size_t nnotes;
	struct xt_client *clients;
	size_t nclients;
	bool sockets;		/* the sockets layer applies */
	bool dlopen;		/* libraries arrive later */
	const char *role;	/* of an inner report */
	struct xt_report *inner;
};

/* One run of the command: its options and the library it would preload. */
struct xt_doctor {
	bool json, verbose;
	char lib_path[PATH_MAX];
	bool have_lib;
	struct xt_elf lib;
	enum xt_libc lib_libc;
	char *lib_problem;	/* found but unusable: why */
	char *lib_missing;	/* its own dependencies not found */
	char *musl_sibling, *glibc_sibling;
	struct xt_ldcache cache;
	int cache_rc;
};

/* ---------------------------------------------------------------------- */
/* doctor_report.c                                                         */

void xt_oom(void) __attribute__((noreturn));
/* strdup(); NULL gives "". */
char *xt_strdup(const char *s);
char *xt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* open_memstream() and fclose() of it; the text is in *buf after close. */
FILE *xt_memstream(char **buf, size_t *len);
void xt_memstream_close(FILE *f);

struct xt_report *xt_report_new(const char *name, const char *path);
/* Frees r and its inner reports. */
void xt_report_free(struct xt_report *r);
/* A topic of "" continues the previous note. */
void xt_note(struct xt_report *r, const char *topic, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replaces the verdict and the status. */
void xt_verdict(struct xt_report *r, enum xt_status st, const char *fmt,
		...) __attribute__((format(printf, 3, 4)));
/* A client library with only fam and name set. */
struct xt_client *xt_add_client(struct xt_report *r, enum xt_fam fam,
				const char *name);
void xt_report_print(const struct xt_report *r, int indent, FILE *out);
struct cJSON *xt_report_json(const struct xt_report *r);

/* ---------------------------------------------------------------------- */
/* doctor_libs.c                                                           */

/*
 * The loader's view for object e of that libc flavour: LD_LIBRARY_PATH of
 * this process, /etc/ld.so.cache as d loaded it, musl's arch name.
 */
void xt_ldenv_for(const struct xt_doctor *d, const struct xt_elf *e,
		  enum xt_libc libc, struct xt_ldenv *env);
/*
 * Opens the library to preload (--lib opt, else found like `run` finds
 * it) into d with its libc flavour, siblings and missing dependencies.
 * Returns 0, or XT_ERROR when --lib names something unusable; without
 * --lib a library that is not found or not ELF only leaves have_lib false.
 */
int xt_setup_library(struct xt_doctor *d, const char *opt);

/* The symbols of e in s (cleared first). */
void xt_scan_symbols(const struct xt_elf *e, struct xt_syms *s);
/*
 * xt_scan_symbols() of every object of c, indexed like c->objs (zero for
 * an object not read). Sets *dlopen when the program or a language
 * runtime library imports dlopen, *runtime when such a library is loaded;
 * leaves them alone otherwise.
 */
struct xt_syms *xt_closure_syms(const struct xt_closure *c, bool *dlopen,
				bool *runtime);
/* "a, b, c" of the names of list whose bit is set; the caller frees it. */
char *xt_bits(const char *const *list, uint64_t bits);

/*
 * Reports the client libraries of the closure and who calls their hooked
 * functions; sets linked[f] to whether family f is among them.
 */
void xt_note_clients(struct xt_report *r, const struct xt_closure *c,
		     const struct xt_syms *syms, bool verbose,
		     bool linked[XT_NFAM]);
/* Reports a client library compiled into the program e (symbols s0). */
void xt_note_compiled_in(struct xt_report *r, const struct xt_elf *e,
			 const struct xt_syms *s0, const bool linked[XT_NFAM]);
/* The objects loaded at start-up: the missing ones, all of them with -v. */
void xt_note_deps(struct xt_report *r, const struct xt_closure *c,
		  bool verbose);

/* ---------------------------------------------------------------------- */
/* doctor_checks.c, doctor_script.c, doctor.c                              */

/* The libc flavour an object was linked against, from DT_NEEDED. */
enum xt_libc xt_needed_libc(const struct xt_elf *e);
/* Diagnoses the ELF program e opened from r->path into r; at depth 0 a
 * git also gets its http helper as r->inner. */
void xt_diagnose_elf(struct xt_doctor *d, struct xt_report *r,
		     struct xt_elf *e, int depth);
/* Diagnoses the script whose #! line (NUL-terminated) is line into r. */
void xt_diagnose_script(struct xt_doctor *d, struct xt_report *r,
			const char *line, int depth);

/* The report on the file at path, a program or a script; depth: nesting. */
struct xt_report *xt_diagnose(struct xt_doctor *d, const char *name,
			      const char *path, int depth);
/* xt_diagnose() of path one level down, as r->inner in that role. */
struct xt_report *xt_diagnose_inner(struct xt_doctor *d, struct xt_report *r,
				    const char *path, const char *role,
				    int depth);
/* Looks name up in $PATH like execvp(3). out: PATH_MAX bytes. */
bool xt_which(const char *name, char *out);

/* ---------------------------------------------------------------------- */

static inline const char *xt_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static inline bool xt_in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

static inline bool xt_prefixed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strncmp(s, *list, strlen(*list)) == 0)
			return true;
	return false;
}

#endif
