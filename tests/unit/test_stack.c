/* src/stack.c: stacks through a dlopen'ed, RTLD_LOCAL libunwind. */
#include "util.h"

#include "../../src/stack.h"

#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

/* Set in main() before anything could have loaded libunwind. */
static void *ut_unwind_bt_before;
static bool ut_have_libunwind;
static char ut_no_libunwind_why[256];
static char ut_exe[XR_FRAME_PATH_MAX];

struct ut_cap {
  struct xr_frame f[XR_STACK_FRAMES];
  int max, n, omitted;
  bool skip_own;
};

/* Without libunwind every test says why and is skipped, never passed. */
#define UT_NEED_LIBUNWIND()                                                    \
  do {                                                                         \
    if (!ut_have_libunwind) {                                                  \
      print_message("libunwind.so.8 not loadable (%s): skipped\n",             \
                    ut_no_libunwind_why);                                      \
      skip();                                                                  \
    }                                                                          \
  } while (0)

/* A chain the unwinder must see frame by frame: not static (libunwind
 * names them from the symbol table), not inlined, no tail calls (work after
 * each call). */
int ut_stack_c3(struct ut_cap *c);
int ut_stack_c2(struct ut_cap *c);
int ut_stack_c1(struct ut_cap *c);
int ut_stack_capture_via_chain(struct ut_cap *c);
int ut_stack_recurse(struct ut_cap *c, int depth);

__attribute__((noinline)) int ut_stack_c3(struct ut_cap *c)
{
  c->n = xr_stack_capture(c->f, c->max, c->skip_own, &c->omitted);
  __asm__ volatile("" ::: "memory");
  return c->n;
}

__attribute__((noinline)) int ut_stack_c2(struct ut_cap *c)
{
  int r = ut_stack_c3(c);
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

__attribute__((noinline)) int ut_stack_c1(struct ut_cap *c)
{
  int r = ut_stack_c2(c);
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

/* One call site for every capture, so that the frames outside the chain
 * (cmocka, main, libc) have the same pcs from one capture to the next. */
__attribute__((noinline)) int ut_stack_capture_via_chain(struct ut_cap *c)
{
  int r = ut_stack_c1(c);
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

__attribute__((noinline)) int ut_stack_recurse(struct ut_cap *c, int depth)
{
  int r = depth > 0 ? ut_stack_recurse(c, depth - 1) : ut_stack_c3(c);
  __asm__ volatile("" ::: "memory");
  return r + 1;
}

__attribute__((noinline)) static void ut_cap_run(struct ut_cap *c, int max,
                                                bool skip_own)
{
  memset(c, 0, sizeof(*c));
  c->max = max;
  c->skip_own = skip_own;
  c->omitted = -1;
  (void)ut_stack_capture_via_chain(c);
  __asm__ volatile("" ::: "memory"); /* no tail call: keep this frame */
}

static void ut_assert_frame_sane(const struct xr_frame *fr)
{
  assert_non_null(fr->pc);
  assert_true(strnlen(fr->label, sizeof(fr->label)) < sizeof(fr->label));
  assert_true(strnlen(fr->path, sizeof(fr->path)) < sizeof(fr->path));
  assert_true(fr->label[0] != '\0');
}

static void test_chain_innermost_first(void **state)
{
  struct ut_cap c;
  int i;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&c, XR_STACK_FRAMES, false);
  assert_true(c.n >= 5);
  assert_int_equal(c.omitted, 0);
  /* The frame of xr_stack_capture itself is never reported. */
  assert_string_equal(c.f[0].label, "ut_stack_c3");
  assert_string_equal(c.f[1].label, "ut_stack_c2");
  assert_string_equal(c.f[2].label, "ut_stack_c1");
  assert_string_equal(c.f[3].label, "ut_stack_capture_via_chain");
  assert_string_equal(c.f[4].label, "ut_cap_run"); /* static: symtab */
  for (i = 0; i < 5; i++)
    assert_string_equal(c.f[i].path, ut_exe);
  for (i = 0; i < c.n; i++) {
    ut_assert_frame_sane(&c.f[i]);
    print_message("  #%d %s  %s\n", i, c.f[i].label, c.f[i].path);
  }
  /* The walk reaches main and the C library. */
  for (i = 0; i < c.n; i++)
    if (strcmp(c.f[i].label, "main") == 0)
      break;
  assert_true(i < c.n);
  for (i = 0; i < c.n; i++)
    if (strstr(c.f[i].path, "/libc.so"))
      break;
  assert_true(i < c.n);
}

static void test_max_and_omitted(void **state)
{
  struct ut_cap all, some, none;
  int i;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&all, XR_STACK_FRAMES, false);
  assert_int_equal(all.omitted, 0);
  ut_cap_run(&some, 2, false);
  assert_int_equal(some.n, 2);
  assert_true(some.omitted > 0);
  assert_int_equal(some.n + some.omitted, all.n);
  for (i = 0; i < some.n; i++) {
    assert_ptr_equal(some.f[i].pc, all.f[i].pc);
    assert_string_equal(some.f[i].label, all.f[i].label);
  }
  /* max 0: nothing filled (f may be NULL), everything counted. */
  none.omitted = -1;
  assert_int_equal(xr_stack_capture(NULL, 0, false, &none.omitted), 0);
  assert_true(none.omitted > 0);
  /* omitted may be NULL. */
  ut_cap_run(&some, 2, false);
  assert_int_equal(xr_stack_capture(some.f, 2, false, NULL), 2);
}

static void test_deep_stack_truncated(void **state)
{
  struct ut_cap c;
  int i;
  (void)state;
  UT_NEED_LIBUNWIND();
  memset(&c, 0, sizeof(c));
  c.max = XR_STACK_FRAMES;
  (void)ut_stack_recurse(&c, 100);
  assert_int_equal(c.n, XR_STACK_FRAMES);
  /* 100 more recursion frames, then the test's own and the runtime's. */
  assert_true(c.omitted > 100 - XR_STACK_FRAMES);
  assert_string_equal(c.f[0].label, "ut_stack_c3");
  for (i = 1; i < c.n; i++)
    assert_string_equal(c.f[i].label, "ut_stack_recurse");
}

/* In this executable the test and src/stack.c are one object, so skip_own
 * drops every frame up to the first one elsewhere (libcmocka, which calls
 * the test) and keeps everything from there on. */
static void test_skip_own(void **state)
{
  struct ut_cap all, own;
  int k, i;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&all, XR_STACK_FRAMES, false);
  ut_cap_run(&own, XR_STACK_FRAMES, true);
  for (k = 0; k < all.n; k++)
    if (strcmp(all.f[k].path, ut_exe) != 0)
      break;
  assert_true(k >= 6); /* the chain, ut_cap_run, this test */
  assert_true(k < all.n);
  print_message("  skip_own: first kept frame %s in %s\n", all.f[k].label,
                all.f[k].path);
  assert_int_equal(own.n, all.n - k);
  assert_int_equal(own.omitted, 0);
  for (i = 0; i < own.n; i++) {
    assert_ptr_equal(own.f[i].pc, all.f[k + i].pc);
    assert_string_equal(own.f[i].label, all.f[k + i].label);
    assert_string_equal(own.f[i].path, all.f[k + i].path);
  }
  /* Only the innermost run is skipped: main is ours and still there. */
  for (i = 0; i < own.n; i++)
    if (strcmp(own.f[i].label, "main") == 0)
      break;
  assert_true(i < own.n);
  assert_string_equal(own.f[i].path, ut_exe);
  /* Skipped frames are not counted as omitted; a small max counts the
   * rest after the skipped ones. */
  ut_cap_run(&own, 1, true);
  assert_int_equal(own.n, 1);
  assert_int_equal(own.omitted, all.n - k - 1);
}

__attribute__((noinline)) static void *ut_thread_capture(void *arg)
{
  ut_cap_run(arg, XR_STACK_FRAMES, false);
  __asm__ volatile("" ::: "memory");
  return NULL;
}

static void test_other_thread(void **state)
{
  struct ut_cap c;
  pthread_t t;
  (void)state;
  UT_NEED_LIBUNWIND();
  assert_int_equal(pthread_create(&t, NULL, ut_thread_capture, &c), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_true(c.n >= 6);
  assert_string_equal(c.f[0].label, "ut_stack_c3");
  assert_string_equal(c.f[5].label, "ut_thread_capture");
  assert_int_equal(c.omitted, 0);
}

static void test_to_json(void **state)
{
  struct ut_cap c;
  cJSON *ex, *stack, *fr;
  int i;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&c, 4, false);
  assert_int_equal(c.n, 4);

  ex = cJSON_CreateObject();
  assert_non_null(ex);
  assert_int_equal(xr_stack_to_json(ex, c.f, c.n, c.omitted), 0);
  stack = cJSON_GetObjectItemCaseSensitive(ex, "stack");
  assert_true(cJSON_IsArray(stack));
  assert_int_equal(cJSON_GetArraySize(stack), 4);
  for (i = 0; i < 4; i++) {
    fr = cJSON_GetArrayItem(stack, i);
    assert_true(cJSON_IsObject(fr));
    assert_int_equal(cJSON_GetArraySize(fr), 2); /* no "line" */
    assert_string_equal(ut_str(fr, "path"), c.f[i].path);
    assert_string_equal(ut_str(fr, "label"), c.f[i].label);
  }
  assert_true(c.omitted > 0);
  assert_true(ut_num(ex, "truncated") == (double)c.omitted);
  cJSON_Delete(ex);

  /* Nothing omitted: no "truncated". */
  ex = cJSON_CreateObject();
  assert_non_null(ex);
  assert_int_equal(xr_stack_to_json(ex, c.f, 2, 0), 0);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ex, "stack")), 2);
  assert_null(cJSON_GetObjectItemCaseSensitive(ex, "truncated"));
  cJSON_Delete(ex);

  /* No frames at all (no libunwind): the exception is left as it was. */
  ex = cJSON_CreateObject();
  assert_non_null(ex);
  assert_int_equal(xr_stack_to_json(ex, NULL, 0, 0), 0);
  assert_null(ex->child);
  cJSON_Delete(ex);
}

/* The shape does not depend on libunwind: runs without it too. */
static void test_to_json_fixed_frames(void **state)
{
  struct xr_frame f[2];
  cJSON *ex;
  char *text;
  (void)state;
  memset(f, 0, sizeof(f));
  strcpy(f[0].label, "query");
  strcpy(f[0].path, "/usr/lib/libpq.so.5");
  strcpy(f[1].label, "0x1a2b");
  strcpy(f[1].path, "/usr/bin/app");
  ex = cJSON_CreateObject();
  assert_non_null(ex);
  assert_int_equal(xr_stack_to_json(ex, f, 2, 7), 0);
  text = cJSON_PrintUnformatted(ex);
  assert_non_null(text);
  assert_string_equal(text, "{\"truncated\":7,\"stack\":["
                            "{\"path\":\"/usr/lib/libpq.so.5\",\"label\":\"query\"},"
                            "{\"path\":\"/usr/bin/app\",\"label\":\"0x1a2b\"}]}");
  free(text);
  cJSON_Delete(ex);
}

/* libunwind defines _Unwind_Backtrace and friends too: loaded RTLD_LOCAL it
 * must not change what the program resolves. */
static void test_global_scope_untouched(void **state)
{
  struct ut_cap c;
  void *after;
  Dl_info info;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&c, XR_STACK_FRAMES, false);
  assert_true(c.n > 0);
  after = dlsym(RTLD_DEFAULT, "_Unwind_Backtrace");
  assert_ptr_equal(after, ut_unwind_bt_before);
  if (after && dladdr(after, &info) && info.dli_fname) {
    print_message("  _Unwind_Backtrace from %s\n", info.dli_fname);
    assert_null(strstr(info.dli_fname, "libunwind"));
  } else {
    print_message("  _Unwind_Backtrace not in the global scope\n");
  }
}

static int64_t ut_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Cost of one capture of a ~10-frame stack (reported, not asserted). */
static void test_capture_cost(void **state)
{
  enum { ROUNDS = 2000 };
  struct ut_cap c;
  int64_t t0, full, walk;
  int i, frames;
  (void)state;
  UT_NEED_LIBUNWIND();
  ut_cap_run(&c, XR_STACK_FRAMES, false); /* warm: dlopen, caches */
  frames = c.n;
  t0 = ut_now_ns();
  for (i = 0; i < ROUNDS; i++)
    ut_cap_run(&c, XR_STACK_FRAMES, false);
  full = ut_now_ns() - t0;
  t0 = ut_now_ns();
  for (i = 0; i < ROUNDS; i++)
    ut_cap_run(&c, 0, false);
  walk = ut_now_ns() - t0;
  assert_int_equal(c.omitted, frames);
  printf("stack capture: %d frames: %lld ns/capture with names, "
         "%lld ns/capture walk only (max 0)\n",
         frames, (long long)(full / ROUNDS), (long long)(walk / ROUNDS));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_global_scope_untouched),
      cmocka_unit_test(test_chain_innermost_first),
      cmocka_unit_test(test_max_and_omitted),
      cmocka_unit_test(test_deep_stack_truncated),
      cmocka_unit_test(test_skip_own),
      cmocka_unit_test(test_other_thread),
      cmocka_unit_test(test_to_json),
      cmocka_unit_test(test_to_json_fixed_frames),
      cmocka_unit_test(test_capture_cost),
  };
  void *h;
  ssize_t len;

  /* Before any probe or capture. */
  ut_unwind_bt_before = dlsym(RTLD_DEFAULT, "_Unwind_Backtrace");
  len = readlink("/proc/self/exe", ut_exe, sizeof(ut_exe) - 1);
  if (len > 0)
    ut_exe[len] = '\0';
  /* RTLD_LOCAL, as the library does, so that the probe itself cannot put
   * libunwind in the global scope either. */
  h = dlopen("libunwind.so.8", RTLD_LAZY | RTLD_LOCAL);
  if (h) {
    ut_have_libunwind = true;
    dlclose(h);
  } else {
    const char *why = dlerror();
    snprintf(ut_no_libunwind_why, sizeof(ut_no_libunwind_why), "%s",
             why ? why : "?");
  }
  return cmocka_run_group_tests(tests, NULL, NULL);
}
