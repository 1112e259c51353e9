/* src/tracer.c, XRAY_AUTO_SEGMENT=process: one segment for the process,
 * sent in progress at the first call and complete at exit; subsegments
 * sent on their own. Its own executable: the process segment is global. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/ids.h"
#include "../../src/tracer.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define PARENT "53995c3f42cd8ad8"

static void init_tracer(const char *const *extra)
{
  static const char *env[32];
  size_t n = 0, i;
  for (i = 0; extra && extra[i] && n < 28; i++)
    env[n++] = extra[i];
  env[n++] = "XRAY_AUTO_SEGMENT";
  env[n++] = "process";
  env[n] = NULL;
  ut_tracer_init(env, "proc-svc");
}

static void test_process_segment(void **state)
{
  char ctx[XR_HEADER_MAX], seg_id[17], trace[36];
  struct xr_span sp;
  cJSON *doc;
  double start;
  int i;
  (void)state;

  init_tracer(NULL);
  ut_expect_silence(ut_rx, 20); /* nothing before the first call */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_true(sp.process);
  assert_null(sp.seg);

  /* The in-progress segment, at once. */
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "proc-svc");
  assert_true(ut_is_true(doc, "in_progress"));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "end_time"));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "parent_id"));
  assert_non_null(ut_str(doc, "id"));
  strcpy(seg_id, ut_str(doc, "id"));
  strcpy(trace, ut_str(doc, "trace_id"));
  assert_true(xr_is_trace_id(trace, strlen(trace)));
  start = ut_num(doc, "start_time");
  assert_true(start > 1e9 && start <= (double)time(NULL) + 1);
  cJSON_Delete(doc);

  /* Header: this trace, Parent = the call's subsegment. */
  assert_memory_equal(sp.header, "Root=", 5);
  assert_memory_equal(sp.header + 5, trace, 35);
  assert_memory_equal(sp.header + 48, sp.sub->id, 16);
  assert_string_equal(sp.header + 64, ";Sampled=1");
  assert_string_equal(sp.sub->parent_id, seg_id);

  /* The context is the process segment. */
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_memory_equal(ctx + 48, seg_id, 16);

  /* Each subsegment goes on its own when it ends. */
  for (i = 0; i < 3; i++) {
    char sub_id[17];
    if (i > 0)
      assert_int_equal(xr_span_begin(&sp), 0);
    strcpy(sub_id, sp.sub->id);
    xr_entity_set_name(sp.sub, "example.com");
    xr_span_end(&sp);
    doc = ut_recv_doc(ut_rx, 2000);
    assert_non_null(doc);
    assert_string_equal(ut_str(doc, "id"), sub_id);
    assert_string_equal(ut_str(doc, "type"), "subsegment");
    assert_string_equal(ut_str(doc, "parent_id"), seg_id);
    assert_string_equal(ut_str(doc, "trace_id"), trace);
    assert_string_equal(ut_str(doc, "name"), "example.com");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "end_time")));
    cJSON_Delete(doc);
  }
  ut_expect_silence(ut_rx, 50); /* no second in-progress segment */

  /* The complete segment at exit. */
  xr_tracer_exit();
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  assert_string_equal(ut_str(doc, "trace_id"), trace);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "in_progress"));
  assert_true(ut_num(doc, "start_time") == start);
  assert_true(ut_num(doc, "end_time") >= start);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"));
  cJSON_Delete(doc);
  ut_expect_silence(ut_rx, 50);
}

/* The process segment joins an inherited trace. */
static void test_process_inherited(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=1;Lineage=ab:1", NULL};
  struct xr_span sp;
  cJSON *doc;
  (void)state;
  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), ROOT);
  assert_string_equal(ut_str(doc, "parent_id"), PARENT);
  assert_true(ut_is_true(doc, "in_progress"));
  cJSON_Delete(doc);
  assert_non_null(strstr(sp.header, "Root=" ROOT ";Parent="));
  assert_non_null(strstr(sp.header, ";Sampled=1;Lineage=ab:1"));
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), ROOT);
  cJSON_Delete(doc);
  xr_tracer_exit();
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "parent_id"), PARENT);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "in_progress"));
  cJSON_Delete(doc);
}

/* Unsampled upstream: nothing is ever sent, headers carry Sampled=0. */
static void test_process_unsampled(void **state)
{
  static const char *const env[] = {"_X_AMZN_TRACE_ID", "Root=" ROOT ";Sampled=0", NULL};
  struct xr_span sp;
  int i;
  (void)state;
  init_tracer(env);
  for (i = 0; i < 3; i++) {
    assert_int_equal(xr_span_begin(&sp), 0);
    assert_null(sp.sub);
    assert_non_null(strstr(sp.header, "Root=" ROOT));
    assert_non_null(strstr(sp.header, ";Sampled=0"));
    xr_span_end(&sp);
  }
  xr_tracer_exit();
  ut_expect_silence(ut_rx, 100);
}

/* A thread segment takes precedence over the process segment. */
static void test_thread_segment_wins(void **state)
{
  struct xr_span sp;
  cJSON *doc;
  (void)state;
  init_tracer(NULL);
  assert_int_equal(xr_thread_segment_begin("req", NULL), 0);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_false(sp.process);
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 50); /* no process segment was started */
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "req");
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "subsegments")), 1);
  cJSON_Delete(doc);
  xr_tracer_exit();
  ut_expect_silence(ut_rx, 50);
}

/* xr_context_header alone starts the process segment too. */
static void test_context_header_starts_segment(void **state)
{
  char ctx[XR_HEADER_MAX];
  cJSON *doc;
  (void)state;
  init_tracer(NULL);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_true(ut_is_true(doc, "in_progress"));
  assert_memory_equal(ctx + 48, ut_str(doc, "id"), 16);
  cJSON_Delete(doc);
  xr_tracer_exit();
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "in_progress"));
  cJSON_Delete(doc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_process_segment, ut_rx_drain),
      cmocka_unit_test_setup(test_process_inherited, ut_rx_drain),
      cmocka_unit_test_setup(test_process_unsampled, ut_rx_drain),
      cmocka_unit_test_setup(test_thread_segment_wins, ut_rx_drain),
      cmocka_unit_test_setup(test_context_header_starts_segment, ut_rx_drain),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
