/* src/stack.c: the calling thread's stack through a dlopen'ed libunwind. */
#include "xr_setup.h"

#include "stack.h"

#include "log.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
#ifdef __aarch64__
#include <ucontext.h>
#endif

/* The header gives the types, the register numbers and, through its name
 * macros, the exported symbol names for this architecture. Nothing of it is
 * called directly: that would make libunwind a link-time dependency. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* Bounds of one walk, whatever the unwinder believes (a corrupt stack can
 * loop): steps in all, and frames only counted into *omitted. */
#define XR_STACK_WALK_MAX 2048
#define XR_STACK_OMIT_MAX 1000

#define XR_STR2(x) #x
#define XR_STR(x) XR_STR2(x)

typedef int xr_unw_getcontext_fn(unw_context_t *);
typedef int xr_unw_init_local_fn(unw_cursor_t *, unw_context_t *);
typedef int xr_unw_step_fn(unw_cursor_t *);
typedef int xr_unw_get_reg_fn(unw_cursor_t *, unw_regnum_t, unw_word_t *);
typedef int xr_unw_get_proc_name_fn(unw_cursor_t *, char *, size_t,
                                    unw_word_t *);
typedef int xr_unw_get_proc_info_fn(unw_cursor_t *, unw_proc_info_t *);

/* Written once under xr_unw_once, read-only afterwards. */
static struct {
  bool ok;
  xr_unw_getcontext_fn *getcontext; /* NULL on aarch64: glibc's is used */
  xr_unw_init_local_fn *init_local;
  xr_unw_step_fn *step;
  xr_unw_get_reg_fn *get_reg;
  xr_unw_get_proc_name_fn *get_proc_name;
  xr_unw_get_proc_info_fn *get_proc_info;
  const void *own_base; /* dli_fbase of the object holding this file */
  const void *exe_base; /* dli_fbase of the main program */
  char exe_path[XR_FRAME_PATH_MAX];
} xr_unw;
static pthread_once_t xr_unw_once = PTHREAD_ONCE_INIT;

/*
 * Labels by pc. A name that dladdr lacks costs libunwind ~50-100 us (it
 * reads /proc/self/maps and maps the file every time), and errors tend to
 * repeat from the same call sites. Direct-mapped, allocated with the first
 * capture, never freed. The lock is only ever tried: a busy lock (or one a
 * fork child inherited locked) means no cache, never a wait. A library
 * unloaded and another mapped at the same address could inherit a stale
 * label; programs that dlclose code are rare and the cost is one wrong
 * label.
 */
#define XR_LABEL_CACHE 256 /* power of two */
struct xr_label_slot {
  uintptr_t pc; /* 0: empty */
  char label[XR_FRAME_LABEL_MAX];
};
static struct xr_label_slot *xr_labels;
static pthread_mutex_t xr_labels_lock = PTHREAD_MUTEX_INITIALIZER;

static struct xr_label_slot *xr_label_slot(uintptr_t pc)
{
  /* Return addresses are dense in the low bits; fold the high ones in. */
  uintptr_t h = pc ^ (pc >> 9) ^ (pc >> 17);
  return &xr_labels[h & (XR_LABEL_CACHE - 1)];
}

static bool xr_label_get(uintptr_t pc, char *label)
{
  struct xr_label_slot *s;
  bool hit = false;

  if (!xr_labels || pthread_mutex_trylock(&xr_labels_lock) != 0)
    return false;
  s = xr_label_slot(pc);
  if (s->pc == pc) {
    memcpy(label, s->label, sizeof(s->label));
    hit = true;
  }
  pthread_mutex_unlock(&xr_labels_lock);
  return hit;
}

static void xr_label_put(uintptr_t pc, const char *label)
{
  struct xr_label_slot *s;

  if (!xr_labels || pthread_mutex_trylock(&xr_labels_lock) != 0)
    return;
  s = xr_label_slot(pc);
  s->pc = pc;
  memcpy(s->label, label, sizeof(s->label));
  pthread_mutex_unlock(&xr_labels_lock);
}

/* Bounded copy, always NUL-terminated (cap > 0). */
static void xr_copy(char *dst, size_t cap, const char *src)
{
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* dlsym that remembers the first name it could not find. */
static void *xr_unw_sym(void *h, const char *name, const char **missing)
{
  void *p = dlsym(h, name);
  if (!p && !*missing)
    *missing = name;
  return p;
}

static void xr_stack_resolve(void)
{
  void *h;
  const char *missing = NULL;
  Dl_info info;
  const void *phdr;
  ssize_t len;

  /* Our own object: a static function cannot resolve to another object's
   * copy or PLT entry, so its dladdr base is ours. */
  if (dladdr((const void *)(uintptr_t)xr_stack_resolve, &info) && info.dli_fbase)
    xr_unw.own_base = info.dli_fbase;
  /* The main program: glibc's dladdr names it by argv[0], which may be a
   * bare name; /proc/self/exe is the file. AT_PHDR lies in its mapping. */
  phdr = (const void *)(uintptr_t)getauxval(AT_PHDR);
  if (phdr && dladdr(phdr, &info) && info.dli_fbase) {
    len = readlink("/proc/self/exe", xr_unw.exe_path,
                   sizeof(xr_unw.exe_path) - 1);
    if (len > 0) {
      xr_unw.exe_path[len] = '\0';
      xr_unw.exe_base = info.dli_fbase;
    }
  }

  /* RTLD_LOCAL: libunwind's _Unwind_* must never take the place of
   * libgcc's for the program (C++ exceptions, pthread_cancel). The handle
   * is kept for the life of the process; its frames may be cached. */
  h = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    xr_debug("stack: no libunwind.so.8 (%s), no stacks", why ? why : "?");
    return;
  }
#ifdef __aarch64__
  /* Older headers make unw_getcontext inline asm, newer ones a function:
   * take the function when exported, else glibc's getcontext, which fills
   * the same ucontext_t (what libunwind's own header once used). */
  xr_unw.getcontext = (xr_unw_getcontext_fn *)(uintptr_t)dlsym(
      h, XR_STR(UNW_ARCH_OBJ(getcontext)));
#else
  xr_unw.getcontext = (xr_unw_getcontext_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(UNW_ARCH_OBJ(getcontext)), &missing);
#endif
  xr_unw.init_local = (xr_unw_init_local_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(unw_init_local), &missing);
  xr_unw.step = (xr_unw_step_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(unw_step), &missing);
  xr_unw.get_reg = (xr_unw_get_reg_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(unw_get_reg), &missing);
  xr_unw.get_proc_name = (xr_unw_get_proc_name_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(unw_get_proc_name), &missing);
  xr_unw.get_proc_info = (xr_unw_get_proc_info_fn *)(uintptr_t)xr_unw_sym(
      h, XR_STR(unw_get_proc_info), &missing);
  /* On failure the handle stays open too: dlclose of a library that may
   * have registered anything is not worth the risk for a few kB. */
  if (missing)
    xr_debug("stack: %s not in libunwind.so.8, no stacks", missing);
  xr_unw.ok = !missing;
  /* Without it every label is looked up afresh: slower, still right. */
  if (xr_unw.ok)
    xr_labels = calloc(XR_LABEL_CACHE, sizeof(*xr_labels));
}

/*
 * The function's name from libunwind, which reads the object's own symbol
 * table (static functions of unstripped objects too). It answers with the
 * nearest symbol below ip, which in a stripped object is often another
 * function: the name is kept only when that symbol starts where the unwind
 * info (FDE) says the function does. Costly (it reads /proc/self/maps and
 * maps the file), hence after dladdr.
 */
static bool xr_unw_name(unw_cursor_t *cur, unw_word_t ip, char *buf,
                        size_t cap)
{
  unw_proc_info_t pi;
  unw_word_t off = 0;
  int rc;

  buf[0] = '\0';
  if (xr_unw.get_proc_info(cur, &pi) != 0 || pi.start_ip == 0)
    return false;
  /* -UNW_ENOMEM is a name cut at cap: still usable. */
  rc = xr_unw.get_proc_name(cur, buf, cap, &off);
  buf[cap - 1] = '\0';
  if ((rc != 0 && rc != -UNW_ENOMEM) || off > ip || ip - off != pi.start_ip) {
    buf[0] = '\0';
    return false;
  }
  return buf[0] != '\0';
}

/* Fills fr for the cursor's current frame at ip; info is the dladdr result
 * for it, or NULL when dladdr knew no object. */
static void xr_frame_fill(struct xr_frame *fr, unw_cursor_t *cur,
                          unw_word_t ip, const Dl_info *info)
{
  fr->pc = (const void *)(uintptr_t)ip;
  fr->path[0] = '\0';
  if (info && xr_unw.exe_base && info->dli_fbase == xr_unw.exe_base)
    xr_copy(fr->path, sizeof(fr->path), xr_unw.exe_path);
  else if (info && info->dli_fname)
    xr_copy(fr->path, sizeof(fr->path), info->dli_fname);

  /* glibc's dladdr checks the symbol's size, so a dynamic symbol it names
   * is the function; it is also cheap. */
  if (info && info->dli_sname && info->dli_sname[0]) {
    xr_copy(fr->label, sizeof(fr->label), info->dli_sname);
    return;
  }
  if (xr_label_get((uintptr_t)ip, fr->label))
    return;
  if (!xr_unw_name(cur, ip, fr->label, sizeof(fr->label)))
    snprintf(fr->label, sizeof(fr->label), "0x%" PRIxPTR,
             (uintptr_t)ip - (info ? (uintptr_t)info->dli_fbase : 0));
  xr_label_put((uintptr_t)ip, fr->label);
}

int xr_stack_capture(struct xr_frame *f, int max, bool skip_own, int *omitted)
{
  unw_context_t uc;
  unw_cursor_t cur;
  unw_word_t ip;
  Dl_info info;
  bool skipping = skip_own, have;
  int n = 0, extra = 0, steps, rc;

  if (omitted)
    *omitted = 0;
  if (max < 0 || (max > 0 && !f))
    max = 0;
  (void)pthread_once(&xr_unw_once, xr_stack_resolve);
  if (!xr_unw.ok)
    return 0;
  /* The context must be taken in this very function (not a helper, which
   * would have returned before the walk) and the walk stays in this frame,
   * which keeps uc valid; the cursor starts in this function. */
#ifdef __aarch64__
  rc = xr_unw.getcontext ? xr_unw.getcontext(&uc) : getcontext(&uc);
#else
  rc = xr_unw.getcontext(&uc);
#endif
  if (rc != 0 || xr_unw.init_local(&cur, &uc) != 0)
    return 0;

  /* Step first: the frame of xr_stack_capture itself is never reported. */
  for (steps = 0; steps < XR_STACK_WALK_MAX; steps++) {
    if (xr_unw.step(&cur) <= 0)
      break;
    if (xr_unw.get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
      break;
    if (n >= max && !skipping) {
      /* Only counted: no lookups. */
      if (++extra >= XR_STACK_OMIT_MAX)
        break;
      continue;
    }
    /* A return address may be one past the end of its function (a call
     * to a noreturn function as the last instruction): look up ip - 1. */
    have = dladdr((const void *)(uintptr_t)(ip - 1), &info) != 0;
    if (skipping) {
      if (have && info.dli_fbase && info.dli_fbase == xr_unw.own_base)
        continue;
      skipping = false;
      if (n >= max) {
        extra++;
        continue;
      }
    }
    xr_frame_fill(&f[n++], &cur, ip, have ? &info : NULL);
  }
  if (omitted)
    *omitted = extra;
  return n;
}

int xr_stack_to_json(cJSON *ex, const struct xr_frame *f, int n, int omitted)
{
  cJSON *stack, *fr;
  int i, rc = -ENOMEM;

  if (n <= 0 && omitted <= 0)
    return 0;
  stack = cJSON_CreateArray();
  if (!stack)
    return -ENOMEM;
  for (i = 0; i < n; i++) {
    fr = cJSON_CreateObject();
    if (!fr || !cJSON_AddItemToArray(stack, fr)) {
      cJSON_Delete(fr);
      goto out;
    }
    /* No "line": we have no line numbers, and 0 would be a wrong one. */
    if (!cJSON_AddStringToObject(fr, "path", f[i].path) ||
        !cJSON_AddStringToObject(fr, "label", f[i].label))
      goto out;
  }
  if (omitted > 0 && !cJSON_AddNumberToObject(ex, "truncated", omitted))
    goto out;
  if (!cJSON_AddItemToObject(ex, "stack", stack)) {
    if (omitted > 0)
      cJSON_DeleteItemFromObjectCaseSensitive(ex, "truncated");
    goto out;
  }
  stack = NULL;
  rc = 0;
out:
  cJSON_Delete(stack);
  return rc;
}
