/*
 * Read-only ELF inspection for `xray-auto doctor`: what the dynamic loader
 * will read of a file (program headers, dynamic section) and what the
 * doctor looks for besides (symbols, read-only strings, Go build info).
 * The file is mapped, never run. Every offset read from the file is
 * bounds-checked: a truncated or corrupt file gives an error message, not
 * a crash. Both classes and both byte orders are read.
 */
#ifndef XRAY_AUTO_TOOL_ELFINFO_H
#define XRAY_AUTO_TOOL_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* xt_elf_open(): the file does not start with the ELF magic. */
#define XT_ELF_NOT_ELF 1

struct xt_elf_seg {
	uint64_t offset, filesz, vaddr, memsz;
	uint32_t flags;			/* PF_R | PF_W | PF_X */
};

struct xt_elf {
	const unsigned char *data;	/* the whole file, mapped read-only */
	size_t size;
	unsigned char cls;		/* ELFCLASS32 or ELFCLASS64 */
	bool msb;			/* big-endian */
	uint16_t type;			/* ET_EXEC, ET_DYN, ... */
	uint16_t machine;		/* EM_X86_64, ... */
	char *interp;			/* PT_INTERP, NULL without one */
	bool has_dynamic;		/* PT_DYNAMIC present */
	char **needed;			/* DT_NEEDED, in order */
	size_t nneeded;
	char *soname, *rpath, *runpath;	/* NULL when absent */
	uint64_t flags_1;		/* DT_FLAGS_1 */
	struct xt_elf_seg *loads;	/* PT_LOAD segments */
	size_t nloads;
	uint64_t shoff;			/* 0: no section headers */
	size_t shnum, shstrndx;
};

/*
 * Maps path and parses its headers and dynamic section. Returns 0,
 * XT_ELF_NOT_ELF (nothing else done, e is empty), or a negative errno
 * with a human-readable reason in err ("truncated: ..."). On failure e
 * needs no xt_elf_close().
 */
int xt_elf_open(const char *path, struct xt_elf *e, char *err, size_t errlen);
void xt_elf_close(struct xt_elf *e);

/* "x86-64", "i386", "AArch64", ... or "machine 0x1234" (buf: 24 bytes). */
const char *xt_elf_machine_name(uint16_t machine, char *buf, size_t len);

/* True when a section of that name exists. */
bool xt_elf_has_section(const struct xt_elf *e, const char *name);

/*
 * Calls fn for every symbol of .dynsym and .symtab whose name is a
 * NUL-terminated string inside its table. A name's "@VERSION" suffix
 * (.symtab of linked programs) is left on; xt_elf_symcmp() ignores it.
 * Stops early when fn returns non-zero and returns that value.
 */
typedef int (*xt_elf_sym_fn)(void *ctx, const char *name, bool defined,
			     unsigned type, bool dynamic);
int xt_elf_symbols(const struct xt_elf *e, xt_elf_sym_fn fn, void *ctx);

/* strcmp() of a symbol name (up to any '@') with a plain name. */
int xt_elf_symcmp(const char *symname, const char *plain);

/*
 * True when needle occurs in the file's read-only or data contents:
 * allocated, non-executable PROGBITS sections, else (no section headers)
 * non-executable PT_LOAD segments.
 */
bool xt_elf_has_string(const struct xt_elf *e, const char *needle);

/*
 * The first NUL-terminated string of those contents that ends with suffix
 * and starts with '/', copied into out. Returns false if none fits.
 */
bool xt_elf_path_ending(const struct xt_elf *e, const char *suffix,
			char *out, size_t len);

/*
 * Go detection: true for a Go program. how receives the evidence
 * (".go.buildinfo", ".note.go.buildid", "Go build ID note", "Go build
 * info"), version the toolchain version ("go1.19.8") or "" when it cannot
 * be read.
 */
bool xt_elf_go(const struct xt_elf *e, char *version, size_t vlen,
	       const char **how);

#endif
