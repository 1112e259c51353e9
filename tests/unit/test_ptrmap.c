/* src/ptrmap.c: bounded open-addressing map with backward-shift deletion. */
#include "util.h"

#include "../../src/handles.h"
#include "../../src/ptrmap.h"

#include <pthread.h>

#include <errno.h>

/* Keys are never dereferenced: fake addresses are fine. */
#define KEY(i) ((const void *)(uintptr_t)(0x1000 + (uintptr_t)(i) * 16))
#define VAL(i) ((void *)(uintptr_t)(0x900000 + (uintptr_t)(i)))

static void test_put_get_remove(void **state)
{
  struct xr_ptrmap m;
  (void)state;
  assert_int_equal(xr_ptrmap_init(&m, 64), 0);
  assert_int_equal(m.cap, 64);
  assert_null(xr_ptrmap_get(&m, KEY(1)));
  assert_int_equal(xr_ptrmap_put(&m, KEY(1), VAL(1)), 0);
  assert_int_equal(xr_ptrmap_put(&m, KEY(2), VAL(2)), 0);
  assert_ptr_equal(xr_ptrmap_get(&m, KEY(1)), VAL(1));
  assert_ptr_equal(xr_ptrmap_get(&m, KEY(2)), VAL(2));
  assert_int_equal(xr_ptrmap_put(&m, KEY(1), VAL(9)), -EEXIST);
  assert_ptr_equal(xr_ptrmap_get(&m, KEY(1)), VAL(1)); /* unchanged */
  assert_int_equal(m.used, 2);
  assert_ptr_equal(xr_ptrmap_remove(&m, KEY(1)), VAL(1));
  assert_null(xr_ptrmap_get(&m, KEY(1)));
  assert_null(xr_ptrmap_remove(&m, KEY(1)));
  assert_ptr_equal(xr_ptrmap_get(&m, KEY(2)), VAL(2));
  assert_int_equal(m.used, 1);
  /* A NULL value is stored (get cannot tell it from absent, remove can't
   * either; callers store non-NULL state). */
  assert_int_equal(xr_ptrmap_put(&m, KEY(3), NULL), 0);
  assert_int_equal(xr_ptrmap_put(&m, KEY(3), VAL(3)), -EEXIST);
  /* The NULL key is refused. */
  assert_int_equal(xr_ptrmap_put(&m, NULL, VAL(4)), -EINVAL);
  assert_null(xr_ptrmap_get(&m, NULL));
  assert_null(xr_ptrmap_remove(&m, NULL));
  xr_ptrmap_destroy(&m);
  /* Destroyed: every call is refused, nothing crashes. */
  assert_null(xr_ptrmap_get(&m, KEY(2)));
}

static void test_capacity_rounding(void **state)
{
  static const struct {
    size_t ask, cap;
  } cases[] = {{0, 16}, {1, 16}, {16, 16}, {17, 32}, {100, 128}, {1024, 1024}, {1025, 2048}};
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_ptrmap m;
    assert_int_equal(xr_ptrmap_init(&m, cases[i].ask), 0);
    assert_int_equal(m.cap, cases[i].cap);
    assert_int_equal(m.limit, cases[i].cap / 4 * 3);
    xr_ptrmap_destroy(&m);
  }
}

static void test_capacity_limit(void **state)
{
  struct xr_ptrmap m;
  size_t i, limit;
  (void)state;
  assert_int_equal(xr_ptrmap_init(&m, 64), 0);
  limit = m.limit;
  assert_int_equal(limit, 48);
  for (i = 0; i < limit; i++)
    assert_int_equal(xr_ptrmap_put(&m, KEY(i), VAL(i)), 0);
  assert_int_equal(m.refused, 0);
  assert_int_equal(xr_ptrmap_put(&m, KEY(1000), VAL(1000)), -ENOSPC);
  assert_int_equal(xr_ptrmap_put(&m, KEY(1001), VAL(1001)), -ENOSPC);
  assert_int_equal(m.refused, 2);
  /* A key already there is still reported as such. */
  assert_int_equal(xr_ptrmap_put(&m, KEY(0), VAL(0)), -EEXIST);
  for (i = 0; i < limit; i++)
    assert_ptr_equal(xr_ptrmap_get(&m, KEY(i)), VAL(i));
  assert_null(xr_ptrmap_get(&m, KEY(1000)));
  /* Room again after a removal. */
  assert_ptr_equal(xr_ptrmap_remove(&m, KEY(7)), VAL(7));
  assert_int_equal(xr_ptrmap_put(&m, KEY(1000), VAL(1000)), 0);
  assert_int_equal(m.refused, 2);
  xr_ptrmap_destroy(&m);
}

/* Keys whose hashes all collide into one slot range: every removal in
 * the middle of the cluster must keep the others reachable. */
static void test_cluster_removal(void **state)
{
  struct xr_ptrmap m;
  const void *keys[40];
  size_t n = 0, i, j, k;
  (void)state;
  assert_int_equal(xr_ptrmap_init(&m, 64), 0);
  /* Keys homing in slots 60..63 and 0..3: a cluster that wraps. */
  for (i = 1; n < XR_ARRAY_SIZE(keys) && i < 1000000; i++) {
    size_t h = xr_ptrmap_home(&m, KEY(i));
    if (h >= 60 || h <= 3)
      keys[n++] = KEY(i);
  }
  assert_int_equal(n, XR_ARRAY_SIZE(keys));
  for (k = 0; k < 40; k++) {
    /* Fill, remove key k and every third after it, check all. */
    for (i = 0; i < 40; i++)
      assert_int_equal(xr_ptrmap_put(&m, keys[i], VAL(i)), 0);
    for (i = k; i < 40; i += 3)
      assert_ptr_equal(xr_ptrmap_remove(&m, keys[i]), VAL(i));
    for (i = 0; i < 40; i++) {
      bool removed = i >= k && (i - k) % 3 == 0;
      void *v = xr_ptrmap_get(&m, keys[i]);
      if (removed)
        assert_null(v);
      else if (v != VAL(i))
        fail_msg("round %zu: key %zu lost after cluster removals", k, i);
    }
    for (j = 0; j < 40; j++)
      (void)xr_ptrmap_remove(&m, keys[j]);
    assert_int_equal(m.used, 0);
  }
  xr_ptrmap_destroy(&m);
}

/* 10000 random operations against a reference array, keys drawn from a
 * small range so that clusters form and are cut often. */
static void test_random_against_reference(void **state)
{
  enum { NKEYS = 200, OPS = 10000 };
  static bool present[NKEYS];
  struct xr_ptrmap m;
  unsigned seed = 42;
  size_t used = 0;
  int op;
  (void)state;
  memset(present, 0, sizeof(present));
  assert_int_equal(xr_ptrmap_init(&m, 256), 0); /* limit 192 */
  for (op = 0; op < OPS; op++) {
    size_t i, k;
    seed = seed * 1103515245u + 12345u;
    k = (seed >> 16) % NKEYS;
    seed = seed * 1103515245u + 12345u;
    if ((seed >> 16) % 100 < 55) {
      int rc = xr_ptrmap_put(&m, KEY(k), VAL(k));
      if (present[k])
        assert_int_equal(rc, -EEXIST);
      else if (used >= m.limit)
        assert_int_equal(rc, -ENOSPC);
      else {
        assert_int_equal(rc, 0);
        present[k] = true;
        used++;
      }
    } else {
      /* Remove a run of neighbouring keys: deletions in clusters. */
      size_t run = 1 + (seed >> 20) % 4;
      for (i = 0; i < run; i++) {
        size_t kk = (k + i) % NKEYS;
        void *v = xr_ptrmap_remove(&m, KEY(kk));
        if (present[kk]) {
          assert_ptr_equal(v, VAL(kk));
          present[kk] = false;
          used--;
        } else {
          assert_null(v);
        }
      }
    }
    assert_int_equal(m.used, used);
    if (op % 97 == 0 || op == OPS - 1)
      for (i = 0; i < NKEYS; i++) {
        void *v = xr_ptrmap_get(&m, KEY(i));
        if (present[i] ? v != VAL(i) : v != NULL)
          fail_msg("op %d: key %zu %s", op, i, present[i] ? "lost" : "resurrected");
      }
  }
  xr_ptrmap_destroy(&m);
}

/* Near the limit the table is dense: the same check with a small map. */
static void test_random_dense(void **state)
{
  enum { NKEYS = 64, OPS = 20000 };
  static bool present[NKEYS];
  struct xr_ptrmap m;
  unsigned seed = 7;
  size_t used = 0;
  int op;
  (void)state;
  memset(present, 0, sizeof(present));
  assert_int_equal(xr_ptrmap_init(&m, 16), 0); /* limit 12 */
  for (op = 0; op < OPS; op++) {
    size_t i, k;
    seed = seed * 1103515245u + 12345u;
    k = (seed >> 16) % NKEYS;
    if ((seed >> 8) & 1) {
      int rc = xr_ptrmap_put(&m, KEY(k), VAL(k));
      if (rc == 0) {
        assert_false(present[k]);
        present[k] = true;
        used++;
      } else {
        assert_true(rc == -EEXIST ? present[k] : (rc == -ENOSPC && used >= m.limit));
      }
    } else {
      void *v = xr_ptrmap_remove(&m, KEY(k));
      assert_ptr_equal(v, present[k] ? VAL(k) : NULL);
      if (present[k]) {
        present[k] = false;
        used--;
      }
    }
    for (i = 0; i < NKEYS; i++)
      assert_ptr_equal(xr_ptrmap_get(&m, KEY(i)), present[i] ? VAL(i) : NULL);
  }
  xr_ptrmap_destroy(&m);
}

/* src/handles.c's per-thread cache: a removed entry is never returned,
 * and a key re-added (a new handle at a reused address) gives the new
 * entry, on the thread that cached the old one and on others. */
static struct xr_handles cached_tab = XR_HANDLES_INIT_CACHED("test handles", 64);
static void *cached_other_get(void *key)
{
  return xr_handles_get(&cached_tab, key);
}

static void test_handles_cache(void **state)
{
  static int k1, k2;
  bool created;
  void *a, *b, *c, *got;
  pthread_t th;
  (void)state;

  a = xr_handles_get_or_add(&cached_tab, &k1, 32, &created);
  assert_non_null(a);
  assert_true(created);
  assert_ptr_equal(xr_handles_get(&cached_tab, &k1), a);
  assert_ptr_equal(xr_handles_get(&cached_tab, &k1), a); /* a hit */
  b = xr_handles_get_or_add(&cached_tab, &k2, 32, &created);
  assert_true(created);
  assert_ptr_equal(xr_handles_get(&cached_tab, &k1), a);
  assert_ptr_equal(xr_handles_get(&cached_tab, &k2), b);
  /* Another thread caches k2 too. */
  assert_int_equal(pthread_create(&th, NULL, cached_other_get, &k2), 0);
  assert_int_equal(pthread_join(th, &got), 0);
  assert_ptr_equal(got, b);
  /* Removed: gone from every cache, here and there. */
  assert_ptr_equal(xr_handles_remove(&cached_tab, &k2), b);
  free(b);
  assert_null(xr_handles_get(&cached_tab, &k2));
  assert_int_equal(pthread_create(&th, NULL, cached_other_get, &k2), 0);
  assert_int_equal(pthread_join(th, &got), 0);
  assert_null(got);
  /* The same key again (ABA): the new entry. */
  c = xr_handles_get_or_add(&cached_tab, &k2, 32, &created);
  assert_true(created);
  assert_ptr_equal(xr_handles_get(&cached_tab, &k2), c);
  assert_int_equal(pthread_create(&th, NULL, cached_other_get, &k2), 0);
  assert_int_equal(pthread_join(th, &got), 0);
  assert_ptr_equal(got, c);
  /* Removing k1 (cached here earlier) also leaves k2 right. */
  assert_ptr_equal(xr_handles_remove(&cached_tab, &k1), a);
  free(a);
  assert_null(xr_handles_get(&cached_tab, &k1));
  assert_ptr_equal(xr_handles_get(&cached_tab, &k2), c);
  assert_ptr_equal(xr_handles_remove(&cached_tab, &k2), c);
  free(c);
  assert_null(xr_handles_get(&cached_tab, &k2));
  assert_null(xr_handles_get(&cached_tab, NULL));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_remove),
      cmocka_unit_test(test_capacity_rounding),
      cmocka_unit_test(test_capacity_limit),
      cmocka_unit_test(test_cluster_removal),
      cmocka_unit_test(test_random_against_reference),
      cmocka_unit_test(test_random_dense),
      cmocka_unit_test(test_handles_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
