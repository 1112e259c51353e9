/* src/sampling.c: the default rule, 1 trace per second then 5 %. */
#include "util.h"

#include "../../src/sampling.h"

#define T0 1700000000LL
#define N 100000

static void test_all(void **state)
{
  int i;
  (void)state;
  for (i = 0; i < 10000; i++)
    assert_true(xr_sample(XR_SAMPLING_ALL, T0 + i % 3));
}

/* The first call of a second is sampled (reservoir), then about 5 %. */
static void test_default_rate(void **state)
{
  int i, n = 0;
  (void)state;
  assert_true(xr_sample(XR_SAMPLING_DEFAULT, T0 + 10));
  for (i = 0; i < N; i++)
    n += xr_sample(XR_SAMPLING_DEFAULT, T0 + 10);
  print_message("  %d of %d sampled after the reservoir\n", n, N);
  /* 5 % of 1e5 is 5000 with a standard deviation of 69. */
  assert_in_range(n, N * 4 / 100, N * 6 / 100);
}

/* Each new second gives the reservoir back. */
static void test_reservoir_refills(void **state)
{
  int s, second = 0;
  (void)state;
  for (s = 0; s < 2000; s++) {
    int64_t now = T0 + 100 + s;
    assert_true(xr_sample(XR_SAMPLING_DEFAULT, now));
    second += xr_sample(XR_SAMPLING_DEFAULT, now);
  }
  /* The second call of a second is only the 5 %: about 100 of 2000. */
  assert_in_range(second, 40, 200);
}

/* ALL does not use up the reservoir of DEFAULT. */
static void test_all_keeps_reservoir(void **state)
{
  int i;
  (void)state;
  for (i = 0; i < 100; i++)
    assert_true(xr_sample(XR_SAMPLING_ALL, T0 + 5000));
  assert_true(xr_sample(XR_SAMPLING_DEFAULT, T0 + 5000));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_all),
      cmocka_unit_test(test_default_rate),
      cmocka_unit_test(test_reservoir_refills),
      cmocka_unit_test(test_all_keeps_reservoir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
