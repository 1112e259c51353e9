/* src/ids.c: formats, uniqueness (also across fork), validators. */
#include "util.h"

#include "../../src/ids.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_UNIQUE 100000
#define N_FORK 20000

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t id_value(const char *id)
{
  return strtoull(id, NULL, 16);
}

static void test_entity_id_format(void **state)
{
  int i;
  (void)state;
  for (i = 0; i < 10000; i++) {
    char id[XR_ID_LEN + 1];
    memset(id, 'X', sizeof(id));
    xr_new_entity_id(id);
    assert_int_equal(strlen(id), XR_ID_LEN);
    assert_true(ut_is_lower_hex(id, XR_ID_LEN));
    assert_string_not_equal(id, "0000000000000000");
    assert_true(xr_is_entity_id(id, strlen(id)));
  }
}

static void test_trace_id_format(void **state)
{
  static const struct {
    int64_t epoch;
    const char *hex;
  } cases[] = {
      {0x5759e988, "5759e988"},
      {1700000000, "6553f100"},
      {0, "00000000"},
      {0xffffffffLL, "ffffffff"},
      {1, "00000001"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    char t[XR_TRACE_ID_LEN + 1];
    memset(t, 'X', sizeof(t));
    xr_new_trace_id(t, cases[i].epoch);
    assert_int_equal(strlen(t), XR_TRACE_ID_LEN);
    assert_memory_equal(t, "1-", 2);
    assert_memory_equal(t + 2, cases[i].hex, 8);
    assert_int_equal(t[10], '-');
    assert_true(ut_is_lower_hex(t + 11, 24));
    assert_true(xr_is_trace_id(t, strlen(t)));
  }
}

static void test_trace_ids_differ(void **state)
{
  char a[XR_TRACE_ID_LEN + 1], b[XR_TRACE_ID_LEN + 1];
  int i;
  (void)state;
  for (i = 0; i < 1000; i++) {
    xr_new_trace_id(a, 1700000000);
    xr_new_trace_id(b, 1700000000);
    assert_string_not_equal(a, b);
    assert_memory_not_equal(a + 11, b + 11, 24);
  }
}

static void test_entity_ids_unique(void **state)
{
  uint64_t *v = malloc(N_UNIQUE * sizeof(*v));
  size_t i;
  (void)state;
  assert_non_null(v);
  for (i = 0; i < N_UNIQUE; i++) {
    char id[XR_ID_LEN + 1];
    xr_new_entity_id(id);
    v[i] = id_value(id);
    assert_true(v[i] != 0);
  }
  qsort(v, N_UNIQUE, sizeof(*v), cmp_u64);
  for (i = 1; i < N_UNIQUE; i++)
    if (v[i] == v[i - 1])
      fail_msg("duplicate entity id %016llx", (unsigned long long)v[i]);
  free(v);
}

static void test_random_unit(void **state)
{
  double sum = 0;
  int i;
  (void)state;
  for (i = 0; i < 100000; i++) {
    double d = xr_random_unit();
    assert_true(d >= 0.0 && d < 1.0);
    sum += d;
  }
  /* The mean of 1e5 uniforms is 0.5 +- 0.001 (one sigma). */
  assert_true(sum / 100000 > 0.49 && sum / 100000 < 0.51);
}

static void read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  while (len) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    assert_true(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* The parent has drawn ids (its generator state is inherited by the
 * child); the child runs the atfork handler, then both draw N_FORK ids:
 * no id may appear in both. */
static void test_unique_across_fork(void **state)
{
  uint64_t *mine = malloc(N_FORK * sizeof(uint64_t));
  uint64_t *theirs = malloc(N_FORK * sizeof(uint64_t));
  char id[XR_ID_LEN + 1];
  int pfd[2], status;
  size_t i, j;
  pid_t pid;
  (void)state;

  assert_non_null(mine);
  assert_non_null(theirs);
  xr_new_entity_id(id); /* this thread's generator is seeded */
  assert_int_equal(pipe(pfd), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    xr_ids_fork_child();
    for (i = 0; i < N_FORK; i++) {
      xr_new_entity_id(id);
      theirs[i] = id_value(id);
    }
    for (i = 0; i < N_FORK * sizeof(uint64_t);) {
      ssize_t n = write(pfd[1], (char *)theirs + i, N_FORK * sizeof(uint64_t) - i);
      if (n <= 0)
        _exit(1);
      i += (size_t)n;
    }
    _exit(0);
  }
  close(pfd[1]);
  for (i = 0; i < N_FORK; i++) {
    xr_new_entity_id(id);
    mine[i] = id_value(id);
  }
  read_all(pfd[0], theirs, N_FORK * sizeof(uint64_t));
  close(pfd[0]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  qsort(mine, N_FORK, sizeof(uint64_t), cmp_u64);
  qsort(theirs, N_FORK, sizeof(uint64_t), cmp_u64);
  for (i = 0, j = 0; i < N_FORK && j < N_FORK;) {
    if (mine[i] == theirs[j])
      fail_msg("parent and child both drew %016llx", (unsigned long long)mine[i]);
    if (mine[i] < theirs[j])
      i++;
    else
      j++;
  }
  free(mine);
  free(theirs);
}

static void test_is_entity_id_table(void **state)
{
  static const struct {
    const char *s;
    bool ok;
  } cases[] = {
      {"53995c3f42cd8ad8", true},
      {"0123456789abcdef", true},
      {"0000000000000000", true}, /* well formed (the no-op id) */
      {"53995C3F42CD8AD8", false},
      {"53995c3f42cd8ad", false},
      {"53995c3f42cd8ad80", false},
      {"53995c3f42cd8adg", false},
      {"53995c3f-2cd8ad8", false},
      {" 3995c3f42cd8ad8", false},
      {"", false},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    print_message("  \"%s\"\n", cases[i].s);
    assert_int_equal(xr_is_entity_id(cases[i].s, strlen(cases[i].s)), cases[i].ok);
  }
  /* len is honoured: a valid prefix of a longer string. */
  assert_true(xr_is_entity_id("53995c3f42cd8ad8zz", 16));
  assert_false(xr_is_entity_id("53995c3f42cd8ad8", 15));
}

static void test_is_trace_id_table(void **state)
{
  static const struct {
    const char *s;
    bool ok;
  } cases[] = {
      {"1-5759e988-bd862e3fe1be46a994272793", true},
      {"1-00000000-000000000000000000000000", true},
      {"1-5759E988-bd862e3fe1be46a994272793", false},
      {"1-5759e988-BD862E3FE1BE46A994272793", false},
      {"2-5759e988-bd862e3fe1be46a994272793", false},
      {"1_5759e988-bd862e3fe1be46a994272793", false},
      {"1-5759e988_bd862e3fe1be46a994272793", false},
      {"1-5759e98-8bd862e3fe1be46a994272793", false},
      {"1-5759e988-bd862e3fe1be46a99427279", false},
      {"1-5759e988-bd862e3fe1be46a9942727930", false},
      {"1-5759e988-bd862e3fe1be46a99427279g", false},
      {"1-5759g988-bd862e3fe1be46a994272793", false},
      {"", false},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    print_message("  \"%s\"\n", cases[i].s);
    assert_int_equal(xr_is_trace_id(cases[i].s, strlen(cases[i].s)), cases[i].ok);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_entity_id_format),
      cmocka_unit_test(test_trace_id_format),
      cmocka_unit_test(test_trace_ids_differ),
      cmocka_unit_test(test_entity_ids_unique),
      cmocka_unit_test(test_random_unit),
      cmocka_unit_test(test_unique_across_fork),
      cmocka_unit_test(test_is_entity_id_table),
      cmocka_unit_test(test_is_trace_id_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
