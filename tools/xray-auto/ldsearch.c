#define _GNU_SOURCE
#include "ldsearch.h"

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A program with more objects than this is reported as capped. */
#define XT_MAX_OBJS 1024u
/* /etc/ld.so.cache is about 100 KiB; anything past this is not one. */
#define XT_MAX_CACHE (64u << 20)

#define XT_CACHE_OLD "ld.so-1.7.0"
#define XT_CACHE_NEW "glibc-ld.so.cache1.1"
#define XT_CACHE_HDR 48u	/* sizeof(struct cache_file_new) */
#define XT_CACHE_ENTRY 24u	/* sizeof(struct file_entry_new) */
#define XT_CACHE_TYPE_MASK 0xff
#define XT_CACHE_ELF 1		/* FLAG_ELF */
#define XT_CACHE_ELF_LIBC6 3	/* FLAG_ELF_LIBC6 */

#define XT_MUSL_DEFAULT_PATH "/lib:/usr/local/lib:/usr/lib"

const char *xt_found_by_name(enum xt_found_by by)
{
	switch (by) {
	case XT_BY_PROGRAM:
		return "the program";
	case XT_BY_PATH:
		return "path in DT_NEEDED";
	case XT_BY_RPATH:
		return "DT_RPATH";
	case XT_BY_LD_LIBRARY_PATH:
		return "LD_LIBRARY_PATH";
	case XT_BY_RUNPATH:
		return "DT_RUNPATH";
	case XT_BY_CACHE:
		return "ld.so.cache";
	case XT_BY_DEFAULT:
		return "default directory";
	case XT_BY_LIBC:
		return "musl loader itself";
	case XT_BY_INTERP:
		return "the program interpreter, already loaded";
	case XT_BY_NOT_FOUND:
		return "not found";
	default:
		return "?";
	}
}

/* ---------------------------------------------------------------------- */
/* /etc/ld.so.cache                                                        */

static uint32_t xt_cache_u32(const struct xt_ldcache *c, size_t off)
{
	uint32_t v;

	memcpy(&v, c->data + off, sizeof(v));
	return v;
}

int xt_ldcache_load(struct xt_ldcache *c, const char *path)
{
	struct stat st;
	size_t got = 0, base = 0;
	int fd, rc = 0;

	memset(c, 0, sizeof(*c));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)XT_MAX_CACHE) {
		close(fd);
		return -EINVAL;
	}
	c->size = (size_t)st.st_size;
	c->data = malloc(c->size ? c->size : 1);
	if (!c->data) {
		close(fd);
		return -ENOMEM;
	}
	while (got < c->size) {
		ssize_t n = read(fd, c->data + got, c->size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EINVAL;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc)
		goto bad;
	/* The old format, if present, comes first; skip its entries. */
	if (c->size >= 16 && memcmp(c->data, XT_CACHE_OLD,
				    sizeof(XT_CACHE_OLD) - 1) == 0) {
		uint32_t nold = xt_cache_u32(c, 12);

		if (nold > (c->size - 16) / 12)
			goto bad;
		base = (16 + (size_t)nold * 12 + 7) & ~(size_t)7;
	}
	if (base > c->size || c->size - base < XT_CACHE_HDR ||
	    memcmp(c->data + base, XT_CACHE_NEW, sizeof(XT_CACHE_NEW) - 1))
		goto bad;
	c->base = base;
	c->nlibs = xt_cache_u32(c, base + 20);
	if (c->nlibs > (c->size - base - XT_CACHE_HDR) / XT_CACHE_ENTRY)
		goto bad;
	c->loaded = true;
	return 0;
bad:
	xt_ldcache_free(c);
	return rc ? rc : -EINVAL;
}

void xt_ldcache_free(struct xt_ldcache *c)
{
	free(c->data);
	memset(c, 0, sizeof(*c));
}

/* A string of the cache at offset off from the header, or NULL. */
static const char *xt_cache_str(const struct xt_ldcache *c, uint32_t off)
{
	size_t at = c->base + off;
	const char *s;

	if (off >= c->size - c->base)
		return NULL;
	s = (const char *)c->data + at;
	return memchr(s, '\0', c->size - at) ? s : NULL;
}

/* ---------------------------------------------------------------------- */
/* path lists                                                              */

static const char *xt_triplet(const struct xt_ldenv *env)
{
	switch (env->machine) {
	case EM_X86_64:
		return env->cls == ELFCLASS64 ? "x86_64-linux-gnu" :
			"x86_64-linux-gnux32";
	case EM_386:
		return "i386-linux-gnu";
	case EM_AARCH64:
		return "aarch64-linux-gnu";
	case EM_ARM:
		return "arm-linux-gnueabihf";
	default:
		return NULL;
	}
}

static const char *xt_platform(const struct xt_ldenv *env)
{
	switch (env->machine) {
	case EM_X86_64:
		return "x86_64";
	case EM_386:
		return "i686";
	case EM_AARCH64:
		return "aarch64";
	default:
		return "";
	}
}

static bool xt_token(const char **p, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(*p, name, n) == 0 && !(isalnum((unsigned char)(*p)[n]) ||
					   (*p)[n] == '_')) {
		*p += n;
		return true;
	}
	if ((*p)[0] == '{' && strncmp(*p + 1, name, n) == 0 &&
	    (*p)[n + 1] == '}') {
		*p += n + 2;
		return true;
	}
	return false;
}

/* One path-list element with $ORIGIN, $LIB, $PLATFORM expanded. */
static char *xt_expand(const char *s, size_t len, const char *origin,
		       const struct xt_ldenv *env)
{
	char lib[64];
	const char *trip = xt_triplet(env);
	char *out = NULL;
	size_t olen = 0;
	FILE *f;
	const char *p = s, *end = s + len;

	snprintf(lib, sizeof(lib), "lib%s%s", trip ? "/" : "",
		 trip ? trip : "");
	f = open_memstream(&out, &olen);
	if (!f)
		return NULL;
	if (len == 0)
		fputc('.', f);
	while (p < end) {
		char *dup;
		const char *q;

		if (*p != '$') {
			fputc(*p++, f);
			continue;
		}
		/* Copy the rest of the element so tokens are NUL-bounded. */
		dup = strndup(p + 1, (size_t)(end - p - 1));
		if (!dup)
			break;
		q = dup;
		if (xt_token(&q, "ORIGIN"))
			fputs(origin, f);
		else if (xt_token(&q, "LIB"))
			fputs(lib, f);
		else if (xt_token(&q, "PLATFORM"))
			fputs(xt_platform(env), f);
		else
			fputc('$', f);
		p += 1 + (size_t)(q - dup);
		free(dup);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---------------------------------------------------------------------- */
/* candidates                                                              */

enum xt_try {
	XT_TRY_NEXT,		/* not there, or another class: search on */
	XT_TRY_FOUND,		/* usable */
	XT_TRY_BROKEN,		/* there, but the loader fails on it */
};

struct xt_hit {
	char *path;
	struct xt_elf *elf;
	char *error;
	struct stat st;
};

static void xt_hit_free(struct xt_hit *h)
{
	if (h->elf) {
		xt_elf_close(h->elf);
		free(h->elf);
	}
	free(h->path);
	free(h->error);
	memset(h, 0, sizeof(*h));
}

static enum xt_try xt_try_path(const struct xt_ldenv *env, const char *path,
			       struct xt_hit *h)
{
	char err[256];
	struct xt_elf *e;
	int rc;

	memset(h, 0, sizeof(*h));
	if (stat(path, &h->st) < 0 || !S_ISREG(h->st.st_mode))
		return XT_TRY_NEXT;
	e = calloc(1, sizeof(*e));
	h->path = strdup(path);
	if (!e || !h->path) {
		free(e);
		xt_hit_free(h);
		return XT_TRY_NEXT;
	}
	rc = xt_elf_open(path, e, err, sizeof(err));
	if (rc == -EACCES || rc == -ENOENT) {
		free(e);
		xt_hit_free(h);
		return XT_TRY_NEXT;
	}
	if (rc) {
		free(e);
		if (asprintf(&h->error, "%s", rc == XT_ELF_NOT_ELF ?
			     "invalid ELF header" : err) < 0)
			h->error = NULL;
		return XT_TRY_BROKEN;
	}
	if (e->cls != env->cls || e->machine != env->machine) {
		xt_elf_close(e);
		free(e);
		xt_hit_free(h);
		return XT_TRY_NEXT;
	}
	h->elf = e;
	return XT_TRY_FOUND;
}

/* Tries name in each directory of list[0, len). */
static enum xt_try xt_try_list(const struct xt_ldenv *env, const char *list,
			       const char *seps, const char *origin,
			       const char *name, struct xt_hit *h)
{
	const char *p = list;

	for (;;) {
		size_t n = strcspn(p, seps);
		char *dir = xt_expand(p, n, origin, env), *path = NULL;
		enum xt_try t = XT_TRY_NEXT;

		if (dir && asprintf(&path, "%s/%s", dir, name) >= 0) {
			t = xt_try_path(env, path, h);
			free(path);
		}
		free(dir);
		if (t != XT_TRY_NEXT)
			return t;
		if (!p[n])
			return XT_TRY_NEXT;
		p += n + 1;
	}
}

static enum xt_try xt_try_cache(const struct xt_ldenv *env, const char *name,
				struct xt_hit *h)
{
	const struct xt_ldcache *c = env->cache;
	uint32_t i;

	if (!c || !c->loaded)
		return XT_TRY_NEXT;
	for (i = 0; i < c->nlibs; i++) {
		size_t at = c->base + XT_CACHE_HDR + (size_t)i * XT_CACHE_ENTRY;
		uint32_t flags = xt_cache_u32(c, at);
		const char *key = xt_cache_str(c, xt_cache_u32(c, at + 4));
		const char *val = xt_cache_str(c, xt_cache_u32(c, at + 8));
		enum xt_try t;

		if (!key || !val || strcmp(key, name) != 0)
			continue;
		if ((flags & XT_CACHE_TYPE_MASK) != XT_CACHE_ELF &&
		    (flags & XT_CACHE_TYPE_MASK) != XT_CACHE_ELF_LIBC6)
			continue;
		t = xt_try_path(env, val, h);
		if (t != XT_TRY_NEXT)
			return t;
	}
	return XT_TRY_NEXT;
}

static const char *xt_base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The directory part of path ("." if none); caller frees. */
static char *xt_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

static char *xt_origin(const struct xt_closure *c, size_t i)
{
	char real[PATH_MAX];
	const char *p = c->objs[i].path;

	if (i == 0 && realpath(p, real))
		p = real;
	return xt_dirname(p);
}

/* ---------------------------------------------------------------------- */
/* the closure                                                             */

static bool xt_is_musl_libc(const char *name)
{
	static const char *const reserved[] = {
		"c", "pthread", "rt", "m", "dl", "util", "xnet",
	};
	size_t i, n;

	if (strncmp(name, "ld-musl-", 8) == 0 ||
	    strncmp(name, "libc.musl-", 10) == 0)
		return true;
	if (strncmp(name, "lib", 3) != 0)
		return false;
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		n = strlen(reserved[i]);
		if (strncmp(name + 3, reserved[i], n) == 0 &&
		    name[3 + n] == '.')
			return true;
	}
	return false;
}

static bool xt_already(const struct xt_closure *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct xt_obj *o = &c->objs[i];

		if (strcmp(o->name, name) == 0 ||
		    (o->path && i && strcmp(o->path, name) == 0) ||
		    (o->elf && o->elf->soname &&
		     strcmp(o->elf->soname, name) == 0))
			return true;
	}
	return false;
}

static bool xt_same_file(const struct xt_closure *c, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->objs[i].path && c->objs[i].dev == st->st_dev &&
		    c->objs[i].ino == st->st_ino)
			return true;
	return false;
}

static int xt_push(struct xt_closure *c, const char *name, size_t parent,
		   enum xt_found_by by, struct xt_hit *h)
{
	struct xt_obj *o;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		struct xt_obj *objs = realloc(c->objs, cap * sizeof(*objs));

		if (!objs)
			return -ENOMEM;
		c->objs = objs;
		c->cap = cap;
	}
	o = &c->objs[c->n];
	memset(o, 0, sizeof(*o));
	o->name = strdup(name);
	if (!o->name)
		return -ENOMEM;
	o->parent = parent;
	o->by = by;
	if (h) {
		o->path = h->path;
		o->elf = h->elf;
		o->own_elf = h->elf != NULL;
		o->error = h->error;
		o->dev = h->st.st_dev;
		o->ino = h->st.st_ino;
		memset(h, 0, sizeof(*h));
	}
	if (!o->path || o->error)
		c->missing++;
	c->n++;
	return 0;
}

static enum xt_try xt_search_glibc(const struct xt_closure *c, size_t from,
				   const char *name,
				   const struct xt_ldenv *env,
				   struct xt_hit *h, enum xt_found_by *by)
{
	static const char *const defaults[] = { "/lib", "/usr/lib" };
	const struct xt_elf *le = c->objs[from].elf;
	const char *trip = xt_triplet(env);
	enum xt_try t = XT_TRY_NEXT;
	char *origin, *prog_origin = xt_origin(c, 0);
	size_t i;

	/* DT_RPATH up the chain, unless the loading object has DT_RUNPATH
	 * (glibc ignores an object's DT_RPATH when it has DT_RUNPATH). */
	if (!le->runpath) {
		for (i = from;; i = c->objs[i].parent) {
			const struct xt_elf *e = c->objs[i].elf;

			if (e && e->rpath && !e->runpath) {
				origin = xt_origin(c, i);
				t = origin ? xt_try_list(env, e->rpath, ":",
							 origin, name, h) :
					XT_TRY_NEXT;
				free(origin);
				*by = XT_BY_RPATH;
				if (t != XT_TRY_NEXT)
					goto out;
			}
			if (i == 0)
				break;
		}
	}
	if (env->ld_library_path && prog_origin) {
		*by = XT_BY_LD_LIBRARY_PATH;
		t = xt_try_list(env, env->ld_library_path, ":;", prog_origin,
				name, h);
		if (t != XT_TRY_NEXT)
			goto out;
	}
	if (le->runpath) {
		origin = xt_origin(c, from);
		*by = XT_BY_RUNPATH;
		t = origin ? xt_try_list(env, le->runpath, ":", origin, name,
					 h) : XT_TRY_NEXT;
		free(origin);
		if (t != XT_TRY_NEXT)
			goto out;
	}
	if (le->flags_1 & DF_1_NODEFLIB)
		goto out;
	*by = XT_BY_CACHE;
	t = xt_try_cache(env, name, h);
	if (t != XT_TRY_NEXT)
		goto out;
	*by = XT_BY_DEFAULT;
	for (i = 0; i < 2 && t == XT_TRY_NEXT; i++) {
		char *path = NULL;

		if (!trip)
			continue;
		if (asprintf(&path, "%s/%s/%s", defaults[i], trip, name) < 0)
			continue;
		t = xt_try_path(env, path, h);
		free(path);
	}
	for (i = 0; i < 2 && t == XT_TRY_NEXT; i++) {
		char *path = NULL;

		if (asprintf(&path, "%s/%s", defaults[i], name) < 0)
			continue;
		t = xt_try_path(env, path, h);
		free(path);
	}
out:
	free(prog_origin);
	return t;
}

/* musl's list of system directories: its path file, else the default. */
static char *xt_musl_sys_path(const struct xt_ldenv *env)
{
	char file[96], *buf = NULL, *p;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(file, sizeof(file), "/etc/ld-musl-%s.path", env->musl_arch);
	f = fopen(file, "re");
	if (!f)
		return strdup(XT_MUSL_DEFAULT_PATH);
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(buf);
		return strdup("");
	}
	for (p = buf; *p; p++)
		if (*p == '\n')
			*p = ':';
	return buf;
}

static enum xt_try xt_search_musl(const struct xt_closure *c, size_t from,
				  const char *name,
				  const struct xt_ldenv *env,
				  struct xt_hit *h, enum xt_found_by *by)
{
	enum xt_try t = XT_TRY_NEXT;
	char *origin, *sys;
	size_t i;

	if (env->ld_library_path) {
		origin = xt_origin(c, 0);
		*by = XT_BY_LD_LIBRARY_PATH;
		t = origin ? xt_try_list(env, env->ld_library_path, ":\n",
					 origin, name, h) : XT_TRY_NEXT;
		free(origin);
		if (t != XT_TRY_NEXT)
			return t;
	}
	for (i = from;; i = c->objs[i].parent) {
		const struct xt_elf *e = c->objs[i].elf;
		const char *rp = e ? (e->runpath ? e->runpath : e->rpath) :
			NULL;

		if (rp) {
			origin = xt_origin(c, i);
			*by = e->runpath ? XT_BY_RUNPATH : XT_BY_RPATH;
			t = origin ? xt_try_list(env, rp, ":", origin, name,
						 h) : XT_TRY_NEXT;
			free(origin);
			if (t != XT_TRY_NEXT)
				return t;
		}
		if (i == 0)
			break;
	}
	sys = xt_musl_sys_path(env);
	*by = XT_BY_DEFAULT;
	if (sys && *sys)
		t = xt_try_list(env, sys, ":", "/", name, h);
	free(sys);
	return t;
}

static int xt_resolve(struct xt_closure *c, size_t from, const char *name,
		      const struct xt_ldenv *env)
{
	enum xt_found_by by = XT_BY_NOT_FOUND;
	struct xt_hit h = { 0 };
	const char *interp;
	enum xt_try t;
	int rc;

	if (xt_already(c, name))
		return 0;
	interp = c->objs[0].elf->interp;
	if (!env->musl && interp && strcmp(xt_base_name(interp), name) == 0) {
		if (!(h.path = strdup(interp)))
			return -ENOMEM;
		if (stat(interp, &h.st) < 0)
			memset(&h.st, 0, sizeof(h.st));
		rc = xt_push(c, name, from, XT_BY_INTERP, &h);
		free(h.path);
		return rc;
	}
	if (env->musl && xt_is_musl_libc(name)) {
		h.path = strdup(c->objs[0].elf->interp ?
				c->objs[0].elf->interp : "libc");
		if (!h.path)
			return -ENOMEM;
		/* Served by the loader: nothing to open, nothing missing. */
		rc = xt_push(c, name, from, XT_BY_LIBC, &h);
		free(h.path);
		return rc;
	}
	if (strchr(name, '/')) {
		char *origin = xt_origin(c, from), *path;

		path = origin ? xt_expand(name, strlen(name), origin, env) :
			NULL;
		free(origin);
		t = path ? xt_try_path(env, path, &h) : XT_TRY_NEXT;
		free(path);
		by = XT_BY_PATH;
	} else if (env->musl) {
		t = xt_search_musl(c, from, name, env, &h, &by);
	} else {
		t = xt_search_glibc(c, from, name, env, &h, &by);
	}
	if (t == XT_TRY_NEXT)
		return xt_push(c, name, from, XT_BY_NOT_FOUND, NULL);
	if (xt_same_file(c, &h.st)) {
		xt_hit_free(&h);
		return 0;
	}
	rc = xt_push(c, name, from, by, &h);
	xt_hit_free(&h);
	return rc;
}

int xt_closure_build(struct xt_closure *c, const char *prog_path,
		     struct xt_elf *prog, const struct xt_ldenv *env)
{
	struct xt_hit h = { 0 };
	size_t i, k;
	int rc;

	memset(c, 0, sizeof(*c));
	if (stat(prog_path, &h.st) < 0)
		memset(&h.st, 0, sizeof(h.st));
	h.path = strdup(prog_path);
	if (!h.path)
		return -ENOMEM;
	h.elf = prog;
	rc = xt_push(c, prog_path, 0, XT_BY_PROGRAM, &h);
	free(h.path);	/* NULL unless xt_push failed */
	if (rc)
		return rc;
	c->objs[0].own_elf = false;
	for (i = 0; i < c->n; i++) {
		const struct xt_elf *e = c->objs[i].elf;

		if (!e || c->objs[i].error)
			continue;
		for (k = 0; k < e->nneeded; k++) {
			if (c->n >= XT_MAX_OBJS) {
				c->capped = true;
				return 0;
			}
			rc = xt_resolve(c, i, e->needed[k], env);
			if (rc)
				return rc;
		}
	}
	return 0;
}

void xt_closure_free(struct xt_closure *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct xt_obj *o = &c->objs[i];

		if (o->own_elf && o->elf) {
			xt_elf_close(o->elf);
			free(o->elf);
		}
		free(o->name);
		free(o->path);
		free(o->error);
	}
	free(c->objs);
	memset(c, 0, sizeof(*c));
}
