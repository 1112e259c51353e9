#define _GNU_SOURCE
#include "elfinfo.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what a sane file holds; past them the file is called corrupt. */
#define XT_MAX_PHNUM 4096u
#define XT_MAX_NEEDED 1024u
#define XT_GO_MAGIC "\xff Go buildinf:"
#define XT_GO_MAGIC_LEN 14u
#define XT_GO_NOTE_BUILDID 4u

/* Reads an n-byte field at off (caller checked the bounds). */
static uint64_t xt_rd(const struct xt_elf *e, uint64_t off, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | e->data[off + (e->msb ? i : n - 1 - i)];
	return v;
}

/* Field f of structure T (Ehdr, Phdr, Shdr, Dyn, Sym) at base. */
#define XT_GET(e, T, f, base)						\
	((e)->cls == ELFCLASS64 ?					\
	 xt_rd(e, (base) + offsetof(Elf64_##T, f),			\
	       sizeof(((Elf64_##T *)0)->f)) :				\
	 xt_rd(e, (base) + offsetof(Elf32_##T, f),			\
	       sizeof(((Elf32_##T *)0)->f)))
#define XT_SIZE(e, T)							\
	((e)->cls == ELFCLASS64 ? sizeof(Elf64_##T) : sizeof(Elf32_##T))

static bool xt_in(const struct xt_elf *e, uint64_t off, uint64_t len)
{
	return off <= e->size && len <= e->size - off;
}

static int xt_fail(char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int xt_fail(char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void xt_elf_close(struct xt_elf *e)
{
	size_t i;

	if (e->data)
		munmap((void *)(uintptr_t)e->data, e->size);
	free(e->interp);
	for (i = 0; i < e->nneeded; i++)
		free(e->needed[i]);
	free(e->needed);
	free(e->soname);
	free(e->rpath);
	free(e->runpath);
	free(e->loads);
	memset(e, 0, sizeof(*e));
}

/* File offset of a virtual address range, through the PT_LOAD segments. */
static bool xt_vaddr_off(const struct xt_elf *e, uint64_t va, uint64_t len,
			 uint64_t *off)
{
	size_t i;

	for (i = 0; i < e->nloads; i++) {
		const struct xt_elf_seg *s = &e->loads[i];

		if (va < s->vaddr || va - s->vaddr >= s->filesz)
			continue;
		if (len > s->filesz - (va - s->vaddr))
			return false;
		*off = s->offset + (va - s->vaddr);
		return xt_in(e, *off, len);
	}
	return false;
}

/* A NUL-terminated string at off inside [tab, tab+tabsz), or NULL. */
static const char *xt_str(const struct xt_elf *e, uint64_t tab, uint64_t tabsz,
			  uint64_t off)
{
	const char *s;

	if (off >= tabsz || !xt_in(e, tab, tabsz))
		return NULL;
	s = (const char *)e->data + tab + off;
	return memchr(s, '\0', tabsz - off) ? s : NULL;
}

static int xt_parse_phdrs(struct xt_elf *e, uint64_t phoff, size_t phnum,
			  uint64_t *dyn_off, uint64_t *dyn_sz,
			  char *err, size_t errlen)
{
	size_t phsz = XT_SIZE(e, Phdr), i;
	uint64_t interp_off = 0, interp_sz = 0;
	bool have_interp = false;

	if (phnum > XT_MAX_PHNUM)
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: %zu program headers", phnum);
	if (phnum && !xt_in(e, phoff, (uint64_t)phnum * phsz))
		return xt_fail(err, errlen, -EINVAL,
			       "truncated: program headers at %#llx end past "
			       "the end of the file (%zu bytes)",
			       (unsigned long long)phoff, e->size);
	e->loads = calloc(phnum ? phnum : 1, sizeof(*e->loads));
	if (!e->loads)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		uint64_t b = phoff + i * phsz;
		uint32_t type = (uint32_t)XT_GET(e, Phdr, p_type, b);
		uint64_t off = XT_GET(e, Phdr, p_offset, b);
		uint64_t filesz = XT_GET(e, Phdr, p_filesz, b);

		if (type != PT_LOAD && type != PT_INTERP && type != PT_DYNAMIC)
			continue;
		if (!xt_in(e, off, filesz))
			return xt_fail(err, errlen, -EINVAL,
				       "truncated: %s segment %zu ends at "
				       "%#llx, past the end of the file (%zu "
				       "bytes)", type == PT_LOAD ? "PT_LOAD" :
				       type == PT_INTERP ? "PT_INTERP" :
				       "PT_DYNAMIC", i,
				       (unsigned long long)(off + filesz),
				       e->size);
		if (type == PT_LOAD) {
			struct xt_elf_seg *s = &e->loads[e->nloads++];

			s->offset = off;
			s->filesz = filesz;
			s->vaddr = XT_GET(e, Phdr, p_vaddr, b);
			s->memsz = XT_GET(e, Phdr, p_memsz, b);
			s->flags = (uint32_t)XT_GET(e, Phdr, p_flags, b);
		} else if (type == PT_INTERP) {
			have_interp = true;
			interp_off = off;
			interp_sz = filesz;
		} else {
			e->has_dynamic = true;
			*dyn_off = off;
			*dyn_sz = filesz;
		}
	}
	if (have_interp) {
		const char *s = (const char *)e->data + interp_off;

		if (!interp_sz || !memchr(s, '\0', interp_sz) || !*s)
			return xt_fail(err, errlen, -EINVAL,
				       "corrupt: PT_INTERP is not a string");
		if (!(e->interp = strdup(s)))
			return -ENOMEM;
	}
	return 0;
}

static int xt_dup_dynstr(const struct xt_elf *e, uint64_t tab, uint64_t tabsz,
			 uint64_t off, char **out, const char *what,
			 char *err, size_t errlen)
{
	const char *s = xt_str(e, tab, tabsz, off);

	if (!s)
		return xt_fail(err, errlen, -EINVAL, "corrupt: %s string at "
			       "%#llx is outside the dynamic string table",
			       what, (unsigned long long)off);
	if (!(*out = strdup(s)))
		return -ENOMEM;
	return 0;
}

static int xt_parse_dynamic(struct xt_elf *e, uint64_t doff, uint64_t dsz,
			    char *err, size_t errlen)
{
	size_t dynsz = XT_SIZE(e, Dyn), n = (size_t)(dsz / dynsz), i, k = 0;
	uint64_t strtab = 0, strsz = 0, tab, soname = 0, rpath = 0,
		 runpath = 0;
	bool have_strtab = false, have_soname = false, have_rpath = false,
	     have_runpath = false;
	uint64_t *needed = NULL;
	size_t nneeded = 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		uint64_t b = doff + i * dynsz;
		uint64_t tag = XT_GET(e, Dyn, d_tag, b);
		uint64_t val = XT_GET(e, Dyn, d_un, b);

		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_NEEDED:
			nneeded++;
			break;
		case DT_STRTAB:
			have_strtab = true;
			strtab = val;
			break;
		case DT_STRSZ:
			strsz = val;
			break;
		case DT_SONAME:
			have_soname = true;
			soname = val;
			break;
		case DT_RPATH:
			have_rpath = true;
			rpath = val;
			break;
		case DT_RUNPATH:
			have_runpath = true;
			runpath = val;
			break;
		case DT_FLAGS_1:
			e->flags_1 = val;
			break;
		default:
			break;
		}
	}
	if (!nneeded && !have_soname && !have_rpath && !have_runpath)
		return 0;
	if (nneeded > XT_MAX_NEEDED)
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: %zu DT_NEEDED entries", nneeded);
	if (!have_strtab || !strsz || !xt_vaddr_off(e, strtab, strsz, &tab))
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt or truncated: the dynamic string table "
			       "(DT_STRTAB %#llx, %llu bytes) is not in the "
			       "file", (unsigned long long)strtab,
			       (unsigned long long)strsz);
	needed = calloc(nneeded ? nneeded : 1, sizeof(*needed));
	e->needed = calloc(nneeded ? nneeded : 1, sizeof(*e->needed));
	if (!needed || !e->needed) {
		free(needed);
		return -ENOMEM;
	}
	for (i = 0; i < n && k < nneeded; i++) {
		uint64_t b = doff + i * dynsz;
		uint64_t tag = XT_GET(e, Dyn, d_tag, b);

		if (tag == DT_NULL)
			break;
		if (tag == DT_NEEDED)
			needed[k++] = XT_GET(e, Dyn, d_un, b);
	}
	for (i = 0; i < k && !rc; i++) {
		rc = xt_dup_dynstr(e, tab, strsz, needed[i], &e->needed[i],
				   "DT_NEEDED", err, errlen);
		if (!rc)
			e->nneeded++;
	}
	free(needed);
	if (!rc && have_soname)
		rc = xt_dup_dynstr(e, tab, strsz, soname, &e->soname,
				   "DT_SONAME", err, errlen);
	if (!rc && have_rpath)
		rc = xt_dup_dynstr(e, tab, strsz, rpath, &e->rpath,
				   "DT_RPATH", err, errlen);
	if (!rc && have_runpath)
		rc = xt_dup_dynstr(e, tab, strsz, runpath, &e->runpath,
				   "DT_RUNPATH", err, errlen);
	return rc;
}

static int xt_parse_shdrs(struct xt_elf *e, char *err, size_t errlen)
{
	size_t shsz = XT_SIZE(e, Shdr);

	if (!e->shoff) {
		e->shnum = 0;
		return 0;
	}
	if (XT_GET(e, Ehdr, e_shentsize, 0) != shsz)
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: section header size %llu",
			       (unsigned long long)XT_GET(e, Ehdr,
							  e_shentsize, 0));
	if (!xt_in(e, e->shoff, shsz))
		return xt_fail(err, errlen, -EINVAL,
			       "truncated: section headers at %#llx, the "
			       "file has %zu bytes",
			       (unsigned long long)e->shoff, e->size);
	/* Extended numbering: the real counts live in section 0. */
	if (!e->shnum)
		e->shnum = (size_t)XT_GET(e, Shdr, sh_size, e->shoff);
	if (e->shstrndx == SHN_XINDEX)
		e->shstrndx = (size_t)XT_GET(e, Shdr, sh_link, e->shoff);
	if (e->shnum > (e->size - e->shoff) / shsz)
		return xt_fail(err, errlen, -EINVAL,
			       "truncated: %zu section headers at %#llx end "
			       "past the end of the file (%zu bytes)",
			       e->shnum, (unsigned long long)e->shoff,
			       e->size);
	if (e->shstrndx >= e->shnum)
		e->shstrndx = 0;
	return 0;
}

static int xt_parse(struct xt_elf *e, char *err, size_t errlen)
{
	uint64_t phoff, dyn_off = 0, dyn_sz = 0;
	size_t phnum, ehsz;
	unsigned char c = e->data[EI_CLASS], d = e->data[EI_DATA];
	int rc;

	if (c != ELFCLASS32 && c != ELFCLASS64)
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: unknown ELF class %u", c);
	if (d != ELFDATA2LSB && d != ELFDATA2MSB)
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: unknown ELF data encoding %u", d);
	e->cls = c;
	e->msb = d == ELFDATA2MSB;
	ehsz = XT_SIZE(e, Ehdr);
	if (e->size < ehsz)
		return xt_fail(err, errlen, -EINVAL,
			       "truncated: %zu bytes, the ELF header alone "
			       "is %zu", e->size, ehsz);
	e->type = (uint16_t)XT_GET(e, Ehdr, e_type, 0);
	e->machine = (uint16_t)XT_GET(e, Ehdr, e_machine, 0);
	phoff = XT_GET(e, Ehdr, e_phoff, 0);
	phnum = (size_t)XT_GET(e, Ehdr, e_phnum, 0);
	e->shoff = XT_GET(e, Ehdr, e_shoff, 0);
	e->shnum = (size_t)XT_GET(e, Ehdr, e_shnum, 0);
	e->shstrndx = (size_t)XT_GET(e, Ehdr, e_shstrndx, 0);
	if (phnum && XT_GET(e, Ehdr, e_phentsize, 0) != XT_SIZE(e, Phdr))
		return xt_fail(err, errlen, -EINVAL,
			       "corrupt: program header size %llu",
			       (unsigned long long)XT_GET(e, Ehdr,
							  e_phentsize, 0));
	/* Extended numbering: the real count lives in section 0. */
	if (phnum == PN_XNUM && e->shoff &&
	    xt_in(e, e->shoff, XT_SIZE(e, Shdr)))
		phnum = (size_t)XT_GET(e, Shdr, sh_info, e->shoff);
	rc = xt_parse_phdrs(e, phoff, phnum, &dyn_off, &dyn_sz, err, errlen);
	if (rc)
		return rc;
	rc = xt_parse_shdrs(e, err, errlen);
	if (rc)
		return rc;
	if (e->has_dynamic)
		rc = xt_parse_dynamic(e, dyn_off, dyn_sz, err, errlen);
	return rc;
}

int xt_elf_open(const char *path, struct xt_elf *e, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd, rc;

	memset(e, 0, sizeof(*e));
	/* O_NONBLOCK: a FIFO must not block us; it is refused below. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return xt_fail(err, errlen, -errno, "%s", strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return xt_fail(err, errlen, rc, "%s", strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return xt_fail(err, errlen, -EINVAL, "not a regular file");
	}
	if (st.st_size < SELFMAG) {
		close(fd);
		return st.st_size ? XT_ELF_NOT_ELF :
			xt_fail(err, errlen, -EINVAL, "empty file");
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	rc = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return xt_fail(err, errlen, rc, "mmap: %s", strerror(-rc));
	e->data = map;
	e->size = (size_t)st.st_size;
	if (memcmp(e->data, ELFMAG, SELFMAG) != 0) {
		xt_elf_close(e);
		return XT_ELF_NOT_ELF;
	}
	if (e->size < EI_NIDENT) {
		xt_elf_close(e);
		return xt_fail(err, errlen, -EINVAL,
			       "truncated: %zu bytes after the ELF magic",
			       (size_t)st.st_size);
	}
	rc = xt_parse(e, err, errlen);
	if (rc) {
		xt_elf_close(e);
		if (rc == -ENOMEM)
			xt_fail(err, errlen, rc, "out of memory");
	}
	return rc;
}

const char *xt_elf_machine_name(uint16_t machine, char *buf, size_t len)
{
	switch (machine) {
	case EM_X86_64:
		return "x86-64";
	case EM_386:
		return "i386";
	case EM_AARCH64:
		return "AArch64";
	case EM_ARM:
		return "ARM";
	case EM_RISCV:
		return "RISC-V";
	case EM_PPC64:
		return "PowerPC64";
	case EM_S390:
		return "S/390";
	default:
		snprintf(buf, len, "machine %#x", machine);
		return buf;
	}
}

/* Section i's header offset (i < e->shnum, checked at parse time). */
static uint64_t xt_sh(const struct xt_elf *e, size_t i)
{
	return e->shoff + (uint64_t)i * XT_SIZE(e, Shdr);
}

static const char *xt_section_name(const struct xt_elf *e, size_t i)
{
	uint64_t str;

	if (!e->shstrndx)
		return NULL;
	str = xt_sh(e, e->shstrndx);
	return xt_str(e, XT_GET(e, Shdr, sh_offset, str),
		      XT_GET(e, Shdr, sh_size, str),
		      XT_GET(e, Shdr, sh_name, xt_sh(e, i)));
}

/* Index of the named section, 0 if none. */
static size_t xt_find_section(const struct xt_elf *e, const char *name)
{
	size_t i;

	for (i = 1; i < e->shnum; i++) {
		const char *n = xt_section_name(e, i);

		if (n && strcmp(n, name) == 0)
			return i;
	}
	return 0;
}

bool xt_elf_has_section(const struct xt_elf *e, const char *name)
{
	return xt_find_section(e, name) != 0;
}

int xt_elf_symcmp(const char *symname, const char *plain)
{
	size_t n = strcspn(symname, "@");
	size_t m = strlen(plain);

	if (n != m)
		return n < m ? -1 : 1;
	return strncmp(symname, plain, n);
}

int xt_elf_symbols(const struct xt_elf *e, xt_elf_sym_fn fn, void *ctx)
{
	size_t symsz = XT_SIZE(e, Sym), i, j;
	int rc;

	for (i = 1; i < e->shnum; i++) {
		uint64_t sh = xt_sh(e, i), off, size, str, stroff, strsize;
		uint32_t type = (uint32_t)XT_GET(e, Shdr, sh_type, sh);
		size_t link;

		if (type != SHT_SYMTAB && type != SHT_DYNSYM)
			continue;
		off = XT_GET(e, Shdr, sh_offset, sh);
		size = XT_GET(e, Shdr, sh_size, sh);
		link = (size_t)XT_GET(e, Shdr, sh_link, sh);
		if (!xt_in(e, off, size) || !link || link >= e->shnum)
			continue;
		str = xt_sh(e, link);
		stroff = XT_GET(e, Shdr, sh_offset, str);
		strsize = XT_GET(e, Shdr, sh_size, str);
		if (!xt_in(e, stroff, strsize))
			continue;
		for (j = 1; j < size / symsz; j++) {
			uint64_t b = off + j * symsz;
			const char *name = xt_str(e, stroff, strsize,
						  XT_GET(e, Sym, st_name, b));
			unsigned info = (unsigned)XT_GET(e, Sym, st_info, b);
			uint16_t shndx = (uint16_t)XT_GET(e, Sym, st_shndx, b);

			if (!name || !*name)
				continue;
			rc = fn(ctx, name, shndx != SHN_UNDEF,
				ELF64_ST_TYPE(info), type == SHT_DYNSYM);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/*
 * Calls fn on each region holding the program's data: allocated,
 * non-executable PROGBITS sections; without section headers the
 * non-executable PT_LOAD segments.
 */
static int xt_data_regions(const struct xt_elf *e,
			   int (*fn)(const unsigned char *p, size_t n,
				     void *ctx), void *ctx)
{
	size_t i;
	int rc;

	if (e->shnum) {
		for (i = 1; i < e->shnum; i++) {
			uint64_t sh = xt_sh(e, i);
			uint64_t flags = XT_GET(e, Shdr, sh_flags, sh);
			uint64_t off = XT_GET(e, Shdr, sh_offset, sh);
			uint64_t size = XT_GET(e, Shdr, sh_size, sh);

			if (XT_GET(e, Shdr, sh_type, sh) != SHT_PROGBITS ||
			    !(flags & SHF_ALLOC) || (flags & SHF_EXECINSTR) ||
			    !xt_in(e, off, size))
				continue;
			rc = fn(e->data + off, (size_t)size, ctx);
			if (rc)
				return rc;
		}
		return 0;
	}
	for (i = 0; i < e->nloads; i++) {
		const struct xt_elf_seg *s = &e->loads[i];

		if (s->flags & PF_X)
			continue;
		rc = fn(e->data + s->offset, (size_t)s->filesz, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

static int xt_has_string_fn(const unsigned char *p, size_t n, void *ctx)
{
	const char *needle = ctx;

	return memmem(p, n, needle, strlen(needle)) != NULL;
}

bool xt_elf_has_string(const struct xt_elf *e, const char *needle)
{
	return xt_data_regions(e, xt_has_string_fn, (void *)(uintptr_t)needle);
}

struct xt_ending {
	const char *suffix;
	char *out;
	size_t len;
};

static int xt_path_ending_fn(const unsigned char *p, size_t n, void *ctx)
{
	struct xt_ending *w = ctx;
	size_t sl = strlen(w->suffix);
	const unsigned char *at = p, *end = p + n;

	/* Each match must be followed by the NUL that ends its string. */
	while ((at = memmem(at, (size_t)(end - at), w->suffix, sl + 1))) {
		const unsigned char *start = at;

		while (start > p && start[-1] != '\0' && at - start < 4096)
			start--;
		if (*start == '/' && (size_t)(at - start) + sl < w->len) {
			memcpy(w->out, start, (size_t)(at - start) + sl + 1);
			return 1;
		}
		at += sl + 1;
	}
	return 0;
}

bool xt_elf_path_ending(const struct xt_elf *e, const char *suffix,
			char *out, size_t len)
{
	struct xt_ending w = { suffix, out, len };

	return xt_data_regions(e, xt_path_ending_fn, &w) == 1;
}

/* Go >= 1.18: the version is inline after the header, length-prefixed. */
static void xt_go_version(const struct xt_elf *e, uint64_t at, char *out,
			  size_t len)
{
	uint64_t n = 0, p = at + 32;
	unsigned shift = 0;
	size_t i;

	out[0] = '\0';
	if (!xt_in(e, at, 32) || !(e->data[at + XT_GO_MAGIC_LEN + 1] & 2))
		return;
	while (xt_in(e, p, 1) && shift < 35) {
		unsigned char b = e->data[p++];

		n |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	if (!n || !xt_in(e, p, n))
		return;
	/* "go1.23.1 X:nocoverageredesign": experiments follow a space. */
	for (i = 0; i < n && i + 1 < len; i++) {
		unsigned char ch = e->data[p + i];

		if (ch == ' ')
			break;
		if (ch < 0x21 || ch > 0x7e) {
			i = 0;
			break;
		}
		out[i] = (char)ch;
	}
	out[i] = '\0';
}

/* A "Go" note of type GO BUILDID in a PT_NOTE-sized region. */
static bool xt_go_note(const struct xt_elf *e, uint64_t off, uint64_t size)
{
	uint64_t p = off, end = off + size;

	if (!xt_in(e, off, size))
		return false;
	while (p + 12 <= end && xt_in(e, p, 12)) {
		uint64_t namesz = xt_rd(e, p, 4), descsz = xt_rd(e, p + 4, 4);
		uint64_t type = xt_rd(e, p + 8, 4);
		uint64_t name = p + 12;

		if (namesz == 3 && type == XT_GO_NOTE_BUILDID &&
		    xt_in(e, name, 3) && memcmp(e->data + name, "Go", 3) == 0)
			return true;
		p = name + ((namesz + 3) & ~3ull) + ((descsz + 3) & ~3ull);
	}
	return false;
}

static int xt_go_magic_fn(const unsigned char *p, size_t n, void *ctx)
{
	const unsigned char **hit = ctx;

	*hit = memmem(p, n, XT_GO_MAGIC, XT_GO_MAGIC_LEN);
	return *hit != NULL;
}

bool xt_elf_go(const struct xt_elf *e, char *version, size_t vlen,
	       const char **how)
{
	const unsigned char *hit = NULL;
	size_t sec = xt_find_section(e, ".go.buildinfo");
	uint64_t at;
	size_t i;

	version[0] = '\0';
	if (sec) {
		uint64_t sh = xt_sh(e, sec);

		*how = ".go.buildinfo section";
		at = XT_GET(e, Shdr, sh_offset, sh);
		if (xt_in(e, at, XT_GO_MAGIC_LEN) &&
		    memcmp(e->data + at, XT_GO_MAGIC, XT_GO_MAGIC_LEN) == 0)
			xt_go_version(e, at, version, vlen);
		return true;
	}
	if (xt_find_section(e, ".note.go.buildid")) {
		*how = ".note.go.buildid section";
		return true;
	}
	for (i = 1; i < e->shnum; i++) {
		uint64_t sh = xt_sh(e, i);

		if (XT_GET(e, Shdr, sh_type, sh) == SHT_NOTE &&
		    xt_go_note(e, XT_GET(e, Shdr, sh_offset, sh),
			       XT_GET(e, Shdr, sh_size, sh))) {
			*how = "Go build ID note";
			return true;
		}
	}
	if (xt_data_regions(e, xt_go_magic_fn, &hit) == 1) {
		*how = "Go build info";
		xt_go_version(e, (uint64_t)(hit - e->data), version, vlen);
		return true;
	}
	return false;
}
