/*
 * The shared objects a program will load at start-up, found the way its
 * dynamic loader finds them, without running anything:
 *
 *   glibc ld.so: a name with a slash as is; else DT_RPATH of the loading
 *   object and of the objects that loaded it (only when the loading object
 *   has no DT_RUNPATH), LD_LIBRARY_PATH, the loading object's DT_RUNPATH,
 *   /etc/ld.so.cache, then the default directories (the last two skipped
 *   for DF_1_NODEFLIB).
 *   musl: libc names are the loader itself; LD_LIBRARY_PATH, DT_RUNPATH
 *   (else DT_RPATH) of the loading chain, /etc/ld-musl-ARCH.path or
 *   /lib:/usr/local/lib:/usr/lib.
 *
 * $ORIGIN, $LIB and $PLATFORM are expanded; candidates of another ELF
 * class or machine are skipped like the loaders skip them.
 */
#ifndef XRAY_AUTO_TOOL_LDSEARCH_H
#define XRAY_AUTO_TOOL_LDSEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfinfo.h"

enum xt_found_by {
	XT_BY_PROGRAM,		/* object 0, the program itself */
	XT_BY_PATH,		/* the DT_NEEDED entry holds a slash */
	XT_BY_RPATH,
	XT_BY_LD_LIBRARY_PATH,
	XT_BY_RUNPATH,
	XT_BY_CACHE,		/* /etc/ld.so.cache */
	XT_BY_DEFAULT,		/* default directories (musl: its path) */
	XT_BY_LIBC,		/* musl: a libc name served by the loader */
	XT_BY_INTERP,		/* the program interpreter's own name */
	XT_BY_NOT_FOUND,
};

/* Parsed /etc/ld.so.cache ("glibc-ld.so.cache1.1" format). */
struct xt_ldcache {
	unsigned char *data;
	size_t size;
	size_t base;		/* offset of the new-format header */
	uint32_t nlibs;
	bool loaded;
};

struct xt_ldenv {
	bool musl;			/* musl's rules instead of glibc's */
	char musl_arch[32];		/* "x86_64" from ld-musl-x86_64.so.1 */
	const char *ld_library_path;	/* NULL: unset */
	unsigned char cls;		/* the program's ELF class ... */
	uint16_t machine;		/* ... and machine */
	const struct xt_ldcache *cache;	/* NULL or not loaded: skipped */
};

struct xt_obj {
	char *name;		/* the DT_NEEDED entry (object 0: the path) */
	char *path;		/* where it was found; NULL if not */
	enum xt_found_by by;
	size_t parent;		/* the object that needed it first */
	struct xt_elf *elf;	/* NULL if not found or unreadable */
	bool own_elf;
	char *error;		/* why a found file cannot be used */
	dev_t dev;
	ino_t ino;
};

struct xt_closure {
	struct xt_obj *objs;	/* objs[0] is the program */
	size_t n, cap;
	size_t missing;		/* objects not found or unreadable */
	bool capped;		/* stopped at the size limit */
};

/* Loads path (normally /etc/ld.so.cache). Returns 0 or a negative errno;
 * -EINVAL for a format it does not know. */
int xt_ldcache_load(struct xt_ldcache *c, const char *path);
void xt_ldcache_free(struct xt_ldcache *c);

/*
 * Resolves the DT_NEEDED closure of prog (opened from prog_path, which
 * stays owned by the caller) breadth-first, the loader's order. Returns 0
 * or -ENOMEM; objects not found are in the closure with path NULL.
 */
int xt_closure_build(struct xt_closure *c, const char *prog_path,
		     struct xt_elf *prog, const struct xt_ldenv *env);
void xt_closure_free(struct xt_closure *c);

/* "ld.so.cache", "DT_RUNPATH", ... for messages. */
const char *xt_found_by_name(enum xt_found_by by);

#endif
