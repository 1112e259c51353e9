/*
 * Force-included (-include, cmake/glibc-compat.cmake) into every file of
 * the glibc build, ahead of everything else; never #include it.
 *
 * Why: glibc 2.34 moved libdl and most of libpthread into libc.so.6 and
 * gave the moved functions a new default version, GLIBC_2.34. A library
 * linked on 2.34 or later therefore needs dlsym@GLIBC_2.34 and the loader
 * of an older glibc refuses it ("version `GLIBC_2.34' not found"), killing
 * every process that inherits LD_PRELOAD. AWS Lambda provided.al2 has
 * glibc 2.26, provided.al2023 2.34 (preload-craft.md 4.7, E9).
 *
 * How: each reference below is bound to the version the function has had
 * since the architecture's first glibc. Every later glibc keeps that
 * version in libc.so.6 as a compat symbol, so the link succeeds here and
 * the call reaches the same code. Before 2.34 the definitions live in
 * libdl.so.2 and libpthread.so.0: the library names both as DT_NEEDED
 * (cmake/glibc-compat.cmake), and the loader accepts a definition of the
 * right version name from any object in the lookup scope, not only from
 * the file the version requirement names (glibc elf/dl-lookup.c,
 * check_match). On 2.34 and later those two files are empty stubs.
 *
 * Contract: lists exactly the functions the library calls whose default
 * version is above GLIBC_2.26; tests/check_elf.sh (elf.contract) fails and
 * names the symbol when a new one appears. Before adding one, look at its
 * versions (objdump -T /lib/x86_64-linux-gnu/libc.so.6 | grep -w NAME):
 * pin only a function whose old version has the same ABI; pthread_cond_*,
 * for instance, have an older GLIBC_2.2.5 ABI that must not be used.
 * Unreferenced names cost nothing (the assembler emits no symbol for them).
 */
#ifndef XR_GLIBC_COMPAT_H
#define XR_GLIBC_COMPAT_H

/* The oldest symbol version of each architecture Lambda runs on. Elsewhere
 * nothing is pinned: the library then needs the build machine's glibc or
 * newer, and elf.contract says so. */
#if defined(__x86_64__)
#define XR_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define XR_GLIBC_BASE "GLIBC_2.17"
#endif

#ifdef XR_GLIBC_BASE
#define XR_GLIBC_PIN(name) __asm__(".symver " #name "," #name "@" XR_GLIBC_BASE)

/* libdl.so.2 before 2.34 */
XR_GLIBC_PIN(dlopen);
XR_GLIBC_PIN(dlsym);
XR_GLIBC_PIN(dladdr);
XR_GLIBC_PIN(dlclose);
XR_GLIBC_PIN(dlerror);

/* libpthread.so.0 before 2.34 */
XR_GLIBC_PIN(pthread_key_create);
XR_GLIBC_PIN(pthread_setspecific);
XR_GLIBC_PIN(pthread_once);
XR_GLIBC_PIN(pthread_mutex_trylock);
XR_GLIBC_PIN(pthread_create);  /* the emitter's resolver thread */
XR_GLIBC_PIN(pthread_sigmask); /* (GLIBC_2.32 in libc.so.6) */

#undef XR_GLIBC_PIN
#endif /* XR_GLIBC_BASE */

#endif /* XR_GLIBC_COMPAT_H */
