/*
 * The checks of an ELF program, in the order of doctor.c's table: the
 * first blocker (static, ELF class, secure execution, libc flavour, the
 * library's own dependencies) decides the verdict; Go is noted before
 * them. A program that passes them all gets what its client libraries and
 * the sockets layer will see (doctor_libs.c), and git its http helper.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "doctor.h"

/* By bit number, as linux/capability.h numbers them. */
static const char *const xt_cap_names[] = {
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid",
	"kill", "setgid", "setuid", "setpcap", "linux_immutable",
	"net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot",
	"sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
	"sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
	"audit_write", "audit_control", "setfcap", "mac_override",
	"mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read",
	"perfmon", "bpf", "checkpoint_restore",
};

/* ---------------------------------------------------------------------- */
/* what the file is                                                        */

static const char *xt_libc_name(enum xt_libc l)
{
	switch (l) {
	case XT_LIBC_GLIBC:
		return "glibc";
	case XT_LIBC_MUSL:
		return "musl";
	case XT_LIBC_UNKNOWN:
	default:
		return "unknown libc";
	}
}

enum xt_libc xt_needed_libc(const struct xt_elf *e)
{
	size_t i;

	for (i = 0; i < e->nneeded; i++) {
		const char *n = e->needed[i];

		if (strcmp(n, "libc.so.6") == 0)
			return XT_LIBC_GLIBC;
		if (strcmp(n, "libc.so") == 0 ||
		    strncmp(n, "libc.musl-", 10) == 0)
			return XT_LIBC_MUSL;
	}
	return XT_LIBC_UNKNOWN;
}

/* The program interpreter tells first: it is what loads the library. */
static enum xt_libc xt_program_libc(const struct xt_elf *e)
{
	if (e->interp && strstr(xt_base(e->interp), "ld-musl-"))
		return XT_LIBC_MUSL;
	if (e->interp && strstr(xt_base(e->interp), "ld-linux"))
		return XT_LIBC_GLIBC;
	return xt_needed_libc(e);
}

static int xt_class_bits(unsigned char cls)
{
	return cls == ELFCLASS64 ? 64 : 32;
}

/* "64-bit x86-64" into buf (32 bytes hold any). */
static const char *xt_class_machine(unsigned char cls, uint16_t machine,
				    char *buf, size_t len)
{
	char m[24];

	snprintf(buf, len, "%d-bit %s", xt_class_bits(cls),
		 xt_elf_machine_name(machine, m, sizeof(m)));
	return buf;
}

static char *xt_describe_elf(const struct xt_elf *e)
{
	char mbuf[24];
	const char *kind;

	switch (e->type) {
	case ET_EXEC:
		kind = "executable";
		break;
	case ET_DYN:
		kind = e->interp ? "PIE executable" :
			(e->soname || e->nneeded) ? "shared library" :
			"static-pie executable";
		break;
	default:
		kind = "object";
		break;
	}
	return xt_fmt("ELF %d-bit %s %s %s", xt_class_bits(e->cls),
		      e->msb ? "MSB" : "LSB",
		      xt_elf_machine_name(e->machine, mbuf, sizeof(mbuf)),
		      kind);
}

/* ---------------------------------------------------------------------- */
/* blockers                                                                */

/* "set-user-ID NAME", the number when the ID has no name. */
static void xt_setid(char *why, size_t len, const char *which,
		     const char *name, const char *idkind, unsigned id)
{
	if (name)
		snprintf(why, len, "set-%s-ID %s", which, name);
	else
		snprintf(why, len, "set-%s-ID %s %u", which, idkind, id);
}

/* Secure-execution triggers: set-user/group-ID bits, file capabilities. */
static void xt_check_secure(const char *path, char *why, size_t len)
{
	unsigned char cap[24];
	struct stat st;
	ssize_t n;

	why[0] = '\0';
	if (stat(path, &st) == 0 && (st.st_mode & S_ISUID)) {
		struct passwd *pw = getpwuid(st.st_uid);

		xt_setid(why, len, "user", pw ? pw->pw_name : NULL, "uid",
			 (unsigned)st.st_uid);
		return;
	}
	/* Without group execute, S_ISGID means mandatory locking. */
	if (stat(path, &st) == 0 && (st.st_mode & S_ISGID) &&
	    (st.st_mode & S_IXGRP)) {
		struct group *gr = getgrgid(st.st_gid);

		xt_setid(why, len, "group", gr ? gr->gr_name : NULL, "gid",
			 (unsigned)st.st_gid);
		return;
	}
	n = getxattr(path, "security.capability", cap, sizeof(cap));
	if (n >= 12) {
		uint32_t magic = (uint32_t)cap[0] | (uint32_t)cap[1] << 8 |
				 (uint32_t)cap[2] << 16 |
				 (uint32_t)cap[3] << 24;
		uint64_t perm = 0, inh = 0;
		size_t off = 0, i;
		int words = n >= 20 ? 2 : 1;
		int k;

		for (k = 0; k < words; k++) {
			uint32_t p = 0, q = 0;
			int b;

			for (b = 3; b >= 0; b--) {
				p = p << 8 | cap[4 + 8 * k + b];
				q = q << 8 | cap[8 + 8 * k + b];
			}
			perm |= (uint64_t)p << (32 * k);
			inh |= (uint64_t)q << (32 * k);
		}
		off = (size_t)snprintf(why, len, "file capabilities ");
		for (i = 0; i < 64 && off < len; i++) {
			const char *sep = why[off - 1] == ' ' ? "" : ",";

			if (!((perm | inh) >> i & 1))
				continue;
			if (i < sizeof(xt_cap_names) / sizeof(xt_cap_names[0]))
				off += (size_t)snprintf(why + off, len - off,
					"%scap_%s", sep, xt_cap_names[i]);
			else
				off += (size_t)snprintf(why + off, len - off,
					"%scap_%zu", sep, i);
		}
		if (off < len)
			snprintf(why + off, len - off, "=%s%s%s",
				 (magic & 1) ? "e" : "", inh ? "i" : "",
				 perm ? "p" : "");
	}
}

static void xt_note_library(struct xt_doctor *d, struct xt_report *r)
{
	char cm[32];

	if (!d->have_lib) {
		xt_note(r, "library", "%s: libc flavour and ELF class not "
			"checked (--lib PATH or XRAY_AUTO_LIBRARY)",
			d->lib_problem ? d->lib_problem : "not found");
		return;
	}
	xt_note(r, "library", "%s: %s, %s", d->lib_path,
		d->lib_libc == XT_LIBC_GLIBC ? "glibc build" :
		d->lib_libc == XT_LIBC_MUSL ? "musl build" :
		"libc flavour unknown (no libc in DT_NEEDED)",
		xt_class_machine(d->lib.cls, d->lib.machine, cm, sizeof(cm)));
}

/* The first reason the preload cannot work; false if there is none. */
static bool xt_blockers(struct xt_doctor *d, struct xt_report *r,
			const struct xt_elf *e, enum xt_libc libc,
			const char *go_ver, bool go)
{
	char why[512], cm1[32], cm2[32];
	unsigned char cls = ELFCLASS64;
	uint16_t mach = EM_X86_64;
	bool blocked = false;

	if (!e->interp) {
		xt_verdict(r, XT_BLIND, "not traced: statically linked%s%s%s "
			   "(no program interpreter): no dynamic loader runs, "
			   "so nothing reads LD_PRELOAD", go ? " Go program"
			   : "", go && *go_ver ? " " : "", go ? go_ver : "");
		xt_note(r, "static", "no PT_INTERP: the kernel starts the "
			"program directly, LD_PRELOAD is never read");
		return true;
	}
	/* Without the library, this tool's own class stands in for it. */
#if defined(__i386__)
	cls = ELFCLASS32;
	mach = EM_386;
#elif defined(__aarch64__)
	mach = EM_AARCH64;
#endif
	if (d->have_lib) {
		cls = d->lib.cls;
		mach = d->lib.machine;
	}
	if (e->cls != cls || e->machine != mach) {
		snprintf(why, sizeof(why), "%s program, the library is %s",
			 xt_class_machine(e->cls, e->machine, cm1, sizeof(cm1)),
			 xt_class_machine(cls, mach, cm2, sizeof(cm2)));
		xt_verdict(r, XT_BLIND, "not traced: %s: ld.so refuses to "
			   "preload it (\"wrong ELF class\") and runs the "
			   "program without it", why);
		xt_note(r, "class", "%s%s", why, d->have_lib ? "" :
			" (this tool's own)");
		return true;
	}
	xt_check_secure(r->path, why, sizeof(why));
	if (why[0]) {
		xt_verdict(r, XT_BLIND, "not traced: %s: secure-execution "
			   "mode, the loader ignores LD_PRELOAD", why);
		xt_note(r, "secure", "%s: for users it raises privileges for, "
			"the kernel sets AT_SECURE; ld.so then ignores "
			"LD_PRELOAD entries with a slash (and "
			"libxray-auto.so stays inert under AT_SECURE "
			"anyway)", why);
		xt_note(r, "", "run by a user with those privileges already "
			"(its owner, root) there is no secure mode");
		blocked = true;
	}
	if (d->have_lib && libc != XT_LIBC_UNKNOWN &&
	    d->lib_libc != XT_LIBC_UNKNOWN && libc != d->lib_libc) {
		const char *alt = libc == XT_LIBC_MUSL ? d->musl_sibling :
			d->glibc_sibling;

		if (!blocked)
			xt_verdict(r, XT_BLIND, "not traced: %s program, the "
				   "library is a %s build: it cannot load "
				   "(the program exits 127 before main)%s%s",
				   xt_libc_name(libc),
				   xt_libc_name(d->lib_libc),
				   alt ? "; use " : "", alt ? alt : "");
		xt_note(r, "libc", "%s program (%s), %s library: loading a "
			"library of the other libc fails before main "
			"(preload-craft E8b)", xt_libc_name(libc),
			e->interp, xt_libc_name(d->lib_libc));
		if (alt)
			xt_note(r, "", "the %s build sits next to it: "
				"LD_PRELOAD=%s, or XRAY_AUTO_LIBRARY=%s "
				"xray-auto run", xt_libc_name(libc), alt, alt);
		else if (libc == XT_LIBC_MUSL)
			xt_note(r, "", "build the musl library (" XT_MUSL_LIB
				") for it");
		blocked = true;
	}
	if (!blocked && d->have_lib && d->lib_missing) {
		xt_verdict(r, XT_BLIND, "not traced: the library's own "
			   "dependencies are missing (%s): every program "
			   "started with it preloaded exits 127",
			   d->lib_missing);
		xt_note(r, "library", "needs %s, not found like ld.so would "
			"look for it", d->lib_missing);
		blocked = true;
	}
	return blocked;
}

/* ---------------------------------------------------------------------- */
/* the program                                                             */

static void xt_note_go(struct xt_report *r, const struct xt_elf *e,
		       enum xt_libc libc, const char *ver, const char *how)
{
	struct xt_syms s;
	char *calls;

	xt_note(r, "go", "Go program%s%s (%s): Go's net package calls the "
		"kernel directly (raw syscalls, not libc), its connections "
		"are invisible to any preload", *ver ? " " : "", ver, how);
	if (!e->interp)
		return;
	if (libc == XT_LIBC_UNKNOWN) {
		xt_note(r, "", "it links no libc: nothing in it calls the "
			"hooks");
		return;
	}
	xt_scan_symbols(e, &s);
	calls = xt_bits(xt_net_calls, s.net);
	xt_note(r, "", "it links libc (cgo): the preload loads, and C code "
		"calling libc is seen%s%s%s", *calls ? "; it imports " :
		" (it imports no libc socket call", calls, *calls ? "" : ")");
	if (s.getaddrinfo)
		xt_note(r, "", "getaddrinfo (the cgo resolver) is hooked, but "
			"it only names connections, which Go makes itself");
	free(calls);
}

/* A language runtime by its name (or the name it links to). */
static bool xt_runtime_name(const char *path)
{
	static const char *const names[] = {
		"python", "perl", "ruby", "php", "node", "lua", "luajit",
		"java", "tclsh", NULL,
	};
	char real[PATH_MAX];

	return xt_prefixed(names, xt_base(path)) ||
	       (realpath(path, real) && xt_prefixed(names, xt_base(real)));
}

/*
 * The verdict of a program no blocker stopped: what the hooks and the
 * sockets layer will see, else why nothing is.
 */
static void xt_seen_verdict(struct xt_report *r, const bool linked[XT_NFAM],
			    bool runtime, enum xt_libc libc, bool go,
			    const char *go_ver)
{
	char *parts = NULL;
	size_t i, plen = 0;
	FILE *f = xt_memstream(&parts, &plen);

	for (i = 0; i < r->nclients; i++)
		if (!r->clients[i].compiled_in)
			fprintf(f, "%s%s (%s hooks)", ftell(f) ? ", " : "",
				r->clients[i].name,
				xt_families[r->clients[i].fam].key);
	if (r->sockets)
		fprintf(f, "%ssockets layer%s", ftell(f) ? ", " : "",
			go ? " (libc calls of its C code only, not Go's net "
			"package)" : "");
	for (i = 0; i < r->nclients; i++)
		if (r->clients[i].compiled_in && !linked[r->clients[i].fam])
			fprintf(f, "%s(%s compiled in: no %s hooks%s)",
				ftell(f) ? " only " : "", r->clients[i].name,
				xt_families[r->clients[i].fam].key,
				r->clients[i].fam != XT_FAM_CURL ?
				", no SQL subsegments" : "");
	if (r->dlopen && runtime)
		fprintf(f, "%sclient libraries its modules load",
			ftell(f) ? ", plus " : "");
	xt_memstream_close(f);
	if (plen)
		xt_verdict(r, XT_TRACED, "traced: %s", parts);
	else if (go)
		xt_verdict(r, XT_BLIND, "not traced: Go program (%s%s%s): Go's "
			   "net package makes raw system calls, which no "
			   "preload sees", go_ver, *go_ver ? ", " : "",
			   libc != XT_LIBC_UNKNOWN ? "cgo" : "no libc");
	else
		xt_verdict(r, XT_BLIND, "not traced: it links no libc and no "
			   "client library");
	free(parts);
}

/* git reaches http(s) remotes through a helper program of its own. */
static void xt_helper(struct xt_doctor *d, struct xt_report *r,
		      const struct xt_elf *e, int depth)
{
	char dir[PATH_MAX], *helper;
	struct xt_report *in;

	if (strcmp(xt_base(r->path), "git") != 0 ||
	    !xt_elf_path_ending(e, "/git-core", dir, sizeof(dir)))
		return;
	helper = xt_fmt("%s/git-remote-http", dir);
	if (access(helper, F_OK) != 0) {
		free(helper);
		return;
	}
	in = xt_diagnose_inner(d, r, helper,
			       "helper for http:// and https:// remotes",
			       depth);
	xt_note(r, "helper", "git runs %s for http(s) remotes (the preload "
		"is inherited)", helper);
	if (in->status == XT_TRACED && r->status == XT_TRACED) {
		const char *iv = in->verdict;
		char *v;

		if (strncmp(iv, "traced: ", 8) == 0)
			iv += 8;
		v = xt_fmt("%s; http(s) remotes through git-remote-http: %s",
			   r->verdict, iv);

		free(r->verdict);
		r->verdict = v;
	}
	free(helper);
}

void xt_diagnose_elf(struct xt_doctor *d, struct xt_report *r,
		     struct xt_elf *e, int depth)
{
	char go_ver[64] = "", real[PATH_MAX];
	const char *go_how = NULL;
	enum xt_libc libc = xt_program_libc(e);
	bool go, runtime, linked[XT_NFAM];
	struct xt_closure c;
	struct xt_syms *syms;
	struct xt_ldenv env;
	struct stat st;
	char *desc;

	desc = xt_describe_elf(e);
	if (e->interp)
		xt_note(r, "file", "%s, interpreter %s (%s)%s", desc,
			e->interp, xt_libc_name(libc),
			access(e->interp, F_OK) == 0 ? "" :
			": not on this machine, the program cannot start here");
	else
		xt_note(r, "file", "%s, no program interpreter", desc);
	free(desc);
	/* A symbolic link on the way (not just a relative path). */
	if (realpath(r->path, real) && strcmp(real, r->path) != 0 &&
	    (r->path[0] == '/' || (lstat(r->path, &st) == 0 &&
				   S_ISLNK(st.st_mode))))
		xt_note(r, "", "%s resolves to %s", r->path, real);
	if (e->type != ET_EXEC && e->type != ET_DYN) {
		xt_verdict(r, XT_ERROR, "error: not a program (ELF type %u)",
			   e->type);
		return;
	}
	if (!e->interp && e->soname &&
	    (strncmp(e->soname, "ld-linux", 8) == 0 ||
	     strncmp(e->soname, "ld-musl", 7) == 0)) {
		xt_verdict(r, XT_ERROR, "error: the dynamic loader %s itself: "
			   "run as `%s PROGRAM` it honours LD_PRELOAD for "
			   "PROGRAM: diagnose PROGRAM", e->soname,
			   xt_base(r->path));
		return;
	}
	if (!e->interp && (e->soname || e->nneeded)) {
		xt_verdict(r, XT_ERROR, "error: a shared library%s%s, not a "
			   "program: diagnose a program that loads it",
			   e->soname ? " " : "", e->soname ? e->soname : "");
		return;
	}
	go = xt_elf_go(e, go_ver, sizeof(go_ver), &go_how);
	xt_note_library(d, r);
	if (go)
		xt_note_go(r, e, libc, go_ver, go_how);
	if (xt_blockers(d, r, e, libc, go_ver, go))
		return;

	xt_ldenv_for(d, e, libc, &env);
	if (xt_closure_build(&c, r->path, e, &env))
		xt_oom();
	runtime = xt_runtime_name(r->path);
	syms = xt_closure_syms(&c, &r->dlopen, &runtime);
	xt_note_clients(r, &c, syms, d->verbose, linked);
	xt_note_compiled_in(r, e, &syms[0], linked);
	r->sockets = !go && (libc != XT_LIBC_UNKNOWN || c.n > 1);
	if (go)
		r->sockets = libc != XT_LIBC_UNKNOWN && syms[0].net != 0;
	if (r->sockets)
		xt_note(r, "sockets", "connect / accept / send / recv / read / "
			"write ... through libc: HTTP/1.x over plain sockets "
			"becomes subsegments, inbound HTTP requests of a "
			"server become segments; TLS and other protocols "
			"pass through");
	if (r->dlopen && runtime)
		xt_note(r, "dlopen", "a language runtime: client libraries "
			"its modules load at run time (a Python, Ruby, PHP or "
			"Perl module linking libpq, libcurl or libmariadb) are "
			"hooked too, even RTLD_LOCAL; this static view cannot "
			"list them");
	else if (r->dlopen)
		xt_note(r, "dlopen", "it imports dlopen: a client library it "
			"loads at run time is hooked too, even RTLD_LOCAL; "
			"this static view cannot list it");
	xt_note_deps(r, &c, d->verbose);
	if (r->status == XT_TRACED && !r->verdict)
		xt_seen_verdict(r, linked, runtime, libc, go, go_ver);
	free(syms);
	xt_closure_free(&c);
	if (depth == 0)
		xt_helper(d, r, e, depth);
}
