/* src/tracer.c: call mode, thread segments, off mode, exclusions. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/ids.h"
#include "../../src/log.h"
#include "../../src/tracer.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define PARENT "53995c3f42cd8ad8"
#define LINEAGE "Lineage=a87bd80c:1|68fd508a:5"

static void init_tracer(const char *const *extra)
{
  ut_tracer_init(extra, "unit-svc");
}

static int setup(void **state)
{
  (void)state;
  init_tracer(NULL);
  (void)ut_udp_drain(ut_rx);
  return 0;
}

/* Splits "Root=..;Parent=..;Sampled=x[;extra]" checking its shape. */
static void parse_header(const char *h, char root[36], char parent[17], char *sampled,
                         const char **extra)
{
  size_t n = strlen(h);
  assert_true(n >= 5 + 35 + 8 + 16 + 9 + 1);
  assert_memory_equal(h, "Root=", 5);
  memcpy(root, h + 5, 35);
  root[35] = '\0';
  assert_true(xr_is_trace_id(root, 35));
  assert_memory_equal(h + 40, ";Parent=", 8);
  memcpy(parent, h + 48, 16);
  parent[16] = '\0';
  assert_true(xr_is_entity_id(parent, 16));
  assert_memory_equal(h + 64, ";Sampled=", 9);
  *sampled = h[73];
  assert_true(*sampled == '0' || *sampled == '1');
  *extra = h + 74;
  assert_true(**extra == '\0' || **extra == ';');
  if (**extra)
    (*extra)++;
}

static void test_call_mode(void **state)
{
  struct xr_span sp;
  char root[36], parent[17], sampled;
  const char *extra;
  cJSON *doc, *subs, *sub;
  (void)state;

  assert_int_equal(xr_span_begin(&sp), 0);
  assert_true(sp.sampled);
  assert_non_null(sp.sub);
  assert_non_null(sp.seg);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(parent, sp.sub->id);
  assert_int_equal(sampled, '1');
  assert_string_equal(extra, "");
  assert_string_equal(root, sp.sub->trace_id);
  /* The trace id's epoch is now. */
  {
    long epoch = strtol(root + 2, NULL, 16);
    assert_true(labs(epoch - (long)time(NULL)) < 10);
  }
  xr_entity_set_name(sp.sub, "example.com");
  ut_expect_silence(ut_rx, 20); /* nothing before the end */
  xr_span_end(&sp);
  assert_null(sp.sub);
  assert_null(sp.seg);

  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "unit-svc");
  assert_string_equal(ut_str(doc, "trace_id"), root);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "parent_id"));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "type"));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "in_progress"));
  assert_true(ut_num(doc, "end_time") >= ut_num(doc, "start_time"));
  subs = cJSON_GetObjectItemCaseSensitive(doc, "subsegments");
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  sub = cJSON_GetArrayItem(subs, 0);
  assert_string_equal(ut_str(sub, "id"), parent);
  assert_string_equal(ut_str(sub, "name"), "example.com");
  assert_string_equal(ut_str(sub, "namespace"), "remote");
  /* The segment spans its call. */
  assert_true(ut_num(doc, "start_time") == ut_num(sub, "start_time"));
  assert_true(ut_num(doc, "end_time") == ut_num(sub, "end_time"));
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(doc, "aws"), "xray"),
                             "sdk"),
                      "libxray-auto");
  cJSON_Delete(doc);
  ut_expect_silence(ut_rx, 50);
}

/* Each call is a trace of its own. */
static void test_call_mode_new_trace_each_call(void **state)
{
  struct xr_span a, b;
  (void)state;
  assert_int_equal(xr_span_begin(&a), 0);
  assert_int_equal(xr_span_begin(&b), 0);
  assert_string_not_equal(a.sub->trace_id, b.sub->trace_id);
  assert_string_not_equal(a.seg->id, b.seg->id);
  xr_span_discard(&a);
  xr_span_discard(&b);
  ut_expect_silence(ut_rx, 50);
}

static void test_call_mode_inherited(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=1;" LINEAGE, NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled;
  const char *extra;
  cJSON *doc;
  (void)state;

  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(root, ROOT);
  assert_string_equal(parent, sp.sub->id);
  assert_int_equal(sampled, '1');
  assert_string_equal(extra, LINEAGE);
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), ROOT);
  assert_string_equal(ut_str(doc, "parent_id"), PARENT);
  assert_string_equal(ut_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"), 0), "id"),
                      parent);
  cJSON_Delete(doc);
}

static void test_call_mode_unsampled(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=0;" LINEAGE, NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled;
  const char *extra;
  (void)state;

  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_false(sp.sampled);
  assert_null(sp.sub);
  assert_null(sp.seg);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(root, ROOT);
  assert_int_equal(sampled, '0');
  assert_string_not_equal(parent, PARENT);
  assert_string_equal(extra, LINEAGE);
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 100);
}

/* Sampled=? (or absent) in the inherited header: we decide (all here). */
static void test_call_mode_inherited_undecided(void **state)
{
  static const char *const env[] = {"_X_AMZN_TRACE_ID", "Root=" ROOT ";Sampled=?", NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled;
  const char *extra;
  cJSON *doc;
  (void)state;
  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(root, ROOT);
  assert_int_equal(sampled, '1');
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), ROOT);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "parent_id"));
  cJSON_Delete(doc);
}

static void test_discard_sends_nothing(void **state)
{
  struct xr_span sp;
  (void)state;
  assert_int_equal(xr_span_begin(&sp), 0);
  xr_span_discard(&sp);
  assert_null(sp.sub);
  assert_null(sp.seg);
  ut_expect_silence(ut_rx, 100);
}

static void test_off_mode(void **state)
{
  static const char *const modes[] = {"LOG_ERROR", "IGNORE_ERROR", "RUNTIME_ERROR"};
  size_t i;
  char buf[XR_HEADER_MAX];
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(modes); i++) {
    const char *env[] = {"XRAY_AUTO_SEGMENT", "off", "AWS_XRAY_CONTEXT_MISSING", modes[i], NULL};
    struct xr_span sp;
    init_tracer(env);
    memset(&sp, 0x55, sizeof(sp));
    assert_int_equal(xr_span_begin(&sp), -ENOENT);
    assert_null(sp.sub);
    assert_null(sp.seg);
    assert_string_equal(sp.header, "");
    assert_int_equal(xr_context_header(buf, sizeof(buf)), -ENOENT);
  }
  ut_expect_silence(ut_rx, 50);
}

/* In call mode there is no context outside a span. */
static void test_context_header_call_mode(void **state)
{
  char buf[XR_HEADER_MAX];
  (void)state;
  assert_int_equal(xr_context_header(buf, sizeof(buf)), -ENOENT);
}

/* ------------------------------------------------------------------ */
/* Thread segments                                                     */

static void test_thread_segment(void **state)
{
  char ctx[XR_HEADER_MAX], root[36], seg_id[17], parent[17], sampled;
  const char *extra;
  struct xr_span sp;
  cJSON *doc, *subs;
  int n;
  (void)state;

  assert_int_equal(xr_thread_segment_end(), -ENOENT);
  assert_int_equal(xr_thread_segment_begin("handler", NULL), 0);
  assert_int_equal(xr_thread_segment_begin("again", NULL), -EALREADY);
  n = xr_context_header(ctx, sizeof(ctx));
  assert_int_equal(n, (int)strlen(ctx));
  parse_header(ctx, root, seg_id, &sampled, &extra);
  assert_int_equal(sampled, '1');

  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.seg); /* no segment of its own */
  assert_string_equal(sp.sub->parent_id, seg_id);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(parent, sp.sub->id);
  {
    char sub_id[17];
    strcpy(sub_id, sp.sub->id);
    xr_entity_set_name(sp.sub, "db");
    xr_span_end(&sp);
    ut_expect_silence(ut_rx, 50); /* embedded, not sent */
    assert_int_equal(xr_thread_segment_end(), 0);
    doc = ut_recv_doc(ut_rx, 2000);
    assert_non_null(doc);
    assert_string_equal(ut_str(doc, "name"), "handler");
    assert_string_equal(ut_str(doc, "id"), seg_id);
    assert_string_equal(ut_str(doc, "trace_id"), root);
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(doc, "end_time")));
    subs = cJSON_GetObjectItemCaseSensitive(doc, "subsegments");
    assert_int_equal(cJSON_GetArraySize(subs), 1);
    assert_string_equal(ut_str(cJSON_GetArrayItem(subs, 0), "id"), sub_id);
    assert_string_equal(ut_str(cJSON_GetArrayItem(subs, 0), "name"), "db");
    cJSON_Delete(doc);
  }
  assert_int_equal(xr_thread_segment_end(), -ENOENT);
  ut_expect_silence(ut_rx, 50);
}

static void test_thread_segment_default_name(void **state)
{
  cJSON *doc;
  (void)state;
  assert_int_equal(xr_thread_segment_begin(NULL, NULL), 0);
  assert_int_equal(xr_thread_segment_end(), 0);
  assert_int_equal(xr_thread_segment_begin("", NULL), 0);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "unit-svc");
  cJSON_Delete(doc);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "unit-svc");
  cJSON_Delete(doc);
}

static void test_thread_segment_with_header(void **state)
{
  char ctx[XR_HEADER_MAX];
  cJSON *doc;
  struct xr_span sp;
  (void)state;
  assert_int_equal(
      xr_thread_segment_begin("in", "Root=" ROOT ";Parent=" PARENT ";Sampled=1;" LINEAGE), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_memory_equal(ctx, "Root=" ROOT ";Parent=", 48);
  assert_string_equal(ctx + 64, ";Sampled=1;" LINEAGE);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(strstr(sp.header, ";Sampled=1;" LINEAGE));
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), ROOT);
  assert_string_equal(ut_str(doc, "parent_id"), PARENT);
  cJSON_Delete(doc);

  /* Unsampled upstream: nothing recorded, headers keep Root and Sampled=0. */
  assert_int_equal(xr_thread_segment_begin("in", "Root=" ROOT ";Parent=" PARENT ";Sampled=0"), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_non_null(strstr(ctx, "Root=" ROOT));
  assert_non_null(strstr(ctx, ";Sampled=0"));
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.sub);
  assert_non_null(strstr(sp.header, "Root=" ROOT));
  assert_non_null(strstr(sp.header, ";Sampled=0"));
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_end(), 0);
  ut_expect_silence(ut_rx, 100);

  /* A malformed header: a new trace. */
  assert_int_equal(xr_thread_segment_begin("in", "Root=garbage"), 0);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_not_equal(ut_str(doc, "trace_id"), ROOT);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "parent_id"));
  cJSON_Delete(doc);
}

/* The thread segment wins over the configured mode, off included. */
static void test_thread_segment_in_off_mode(void **state)
{
  static const char *const env[] = {"XRAY_AUTO_SEGMENT", "off", NULL};
  struct xr_span sp;
  cJSON *doc;
  (void)state;
  init_tracer(env);
  assert_int_equal(xr_thread_segment_begin("api", NULL), 0);
  assert_int_equal(xr_span_begin(&sp), 0);
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "subsegments")), 1);
  cJSON_Delete(doc);
  assert_int_equal(xr_span_begin(&sp), -ENOENT);
}

/* Past 30 embedded subsegments the thread segment streams them. */
static void test_thread_segment_streams(void **state)
{
  char ctx[XR_HEADER_MAX], seg_id[17];
  int i;
  cJSON *doc;
  (void)state;
  assert_int_equal(xr_thread_segment_begin("busy", NULL), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  memcpy(seg_id, ctx + 48, 16);
  seg_id[16] = '\0';
  for (i = 0; i < 31; i++) {
    struct xr_span sp;
    assert_int_equal(xr_span_begin(&sp), 0);
    xr_span_end(&sp);
  }
  for (i = 0; i < 31; i++) {
    doc = ut_recv_doc(ut_rx, 2000);
    if (!doc)
      fail_msg("streamed subsegment %d missing", i);
    assert_string_equal(ut_str(doc, "type"), "subsegment");
    assert_string_equal(ut_str(doc, "parent_id"), seg_id);
    cJSON_Delete(doc);
  }
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"));
  cJSON_Delete(doc);
}

static void *end_span_thread(void *arg)
{
  xr_span_end(arg);
  return NULL;
}

/* A span ended on another thread, or after its segment closed, is sent on
 * its own with parent_id = the segment. */
static void test_span_outlives_owner(void **state)
{
  char ctx[XR_HEADER_MAX], seg_id[17], sub_id[17];
  struct xr_span sp;
  pthread_t t;
  cJSON *doc;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("owner", NULL), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  memcpy(seg_id, ctx + 48, 16);
  seg_id[16] = '\0';
  assert_int_equal(xr_span_begin(&sp), 0);
  strcpy(sub_id, sp.sub->id);
  assert_int_equal(pthread_create(&t, NULL, end_span_thread, &sp), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), sub_id);
  assert_string_equal(ut_str(doc, "type"), "subsegment");
  assert_string_equal(ut_str(doc, "parent_id"), seg_id);
  cJSON_Delete(doc);

  /* Begun in one segment, ended in the next one of the same thread. */
  assert_int_equal(xr_span_begin(&sp), 0);
  strcpy(sub_id, sp.sub->id);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000); /* the segment, without the open span */
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"));
  cJSON_Delete(doc);
  assert_int_equal(xr_thread_segment_begin("next", NULL), 0);
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), sub_id);
  assert_string_equal(ut_str(doc, "parent_id"), seg_id);
  cJSON_Delete(doc);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "name"), "next");
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "subsegments"));
  cJSON_Delete(doc);
}

static void test_context_header_too_small(void **state)
{
  char buf[XR_HEADER_MAX];
  (void)state;
  assert_int_equal(xr_thread_segment_begin("s", NULL), 0);
  assert_int_equal(xr_context_header(buf, 20), -ENOSPC);
  assert_int_equal(xr_context_header(buf, sizeof(buf)), 5 + 35 + 8 + 16 + 10);
  assert_int_equal(xr_thread_segment_end(), 0);
}

/* ------------------------------------------------------------------ */

static void test_excluded(void **state)
{
  char env_addr[96];
  const char *env[] = {"AWS_XRAY_DAEMON_ADDRESS", env_addr, "AWS_LAMBDA_RUNTIME_API",
                       "127.0.0.1:9001", NULL};
  (void)state;
  snprintf(env_addr, sizeof(env_addr), "tcp:127.0.0.1:2001 udp:127.0.0.1:%u", ut_rx_port);
  init_tracer(env);
  assert_true(xr_tracer_excluded("127.0.0.1", ut_rx_port));
  assert_true(xr_tracer_excluded("127.0.0.1", 2001));
  assert_true(xr_tracer_excluded("127.0.0.1", 9001));
  assert_true(xr_tracer_excluded("169.254.169.254", 80));
  assert_true(xr_tracer_excluded("169.254.169.254", 443));
  assert_true(xr_tracer_excluded("fd00:ec2::254", 80));
  assert_false(xr_tracer_excluded("127.0.0.1", 9002));
  assert_false(xr_tracer_excluded("127.0.0.1", 80));
  assert_false(xr_tracer_excluded("example.com", 80));
  assert_false(xr_tracer_excluded("169.254.169.253", 80));
  assert_false(xr_tracer_excluded("10.0.0.1", ut_rx_port));

  /* Host names compare case-insensitively. */
  {
    const char *env2[] = {"AWS_XRAY_DAEMON_ADDRESS", "xray-daemon:2000", NULL};
    init_tracer(env2);
    assert_true(xr_tracer_excluded("xray-daemon", 2000));
    assert_true(xr_tracer_excluded("XRAY-DAEMON", 2000));
    assert_false(xr_tracer_excluded("xray-daemon", 2001));
    /* No Lambda API configured: port 0 matches nothing. */
    assert_false(xr_tracer_excluded("", 0));
  }
  init_tracer(NULL);
}

/* xr_span_begin_local (SQL: no header downstream): unsampled, only the
 * decision (no ids, no header); sampled, the same subsegment as
 * xr_span_begin's, in call mode and inside a thread segment. */
static void test_local_spans(void **state)
{
  static const char *const unsampled[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=0;" LINEAGE, NULL};
  struct xr_span sp;
  cJSON *doc, *subs;
  char seg_id[17];
  (void)state;

  init_tracer(unsampled);
  assert_int_equal(xr_span_begin_local(&sp), 0);
  assert_false(sp.sampled);
  assert_null(sp.sub);
  assert_null(sp.seg);
  assert_string_equal(sp.header, "");
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 50);

  init_tracer(NULL); /* XRAY_AUTO_SAMPLING=all: sampled */
  assert_int_equal(xr_span_begin_local(&sp), 0);
  assert_true(sp.sampled);
  assert_non_null(sp.sub);
  assert_non_null(sp.seg);
  assert_string_equal(sp.header, "");
  assert_true(xr_is_trace_id(sp.sub->trace_id, strlen(sp.sub->trace_id)));
  assert_string_equal(sp.sub->trace_id, sp.seg->trace_id);
  assert_string_equal(sp.sub->parent_id, sp.seg->id);
  assert_true(sp.sub->room >= XR_ENTITY_SQL_ROOM);
  xr_entity_set_name(sp.sub, "db");
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  subs = cJSON_GetObjectItemCaseSensitive(doc, "subsegments");
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  assert_string_equal(ut_str(cJSON_GetArrayItem(subs, 0), "name"), "db");
  cJSON_Delete(doc);

  /* Inside an unsampled thread segment: nothing; a sampled one: embedded. */
  assert_int_equal(xr_thread_segment_begin("h", "Root=" ROOT ";Parent=" PARENT ";Sampled=0"), 0);
  assert_int_equal(xr_span_begin_local(&sp), 0);
  assert_null(sp.sub);
  assert_false(sp.sampled);
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_end(), 0);
  ut_expect_silence(ut_rx, 50);
  assert_int_equal(xr_thread_segment_begin("h", NULL), 0);
  assert_int_equal(xr_span_begin_local(&sp), 0);
  assert_non_null(sp.sub);
  assert_null(sp.seg);
  assert_string_equal(sp.header, "");
  strcpy(seg_id, sp.sub->parent_id);
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  subs = cJSON_GetObjectItemCaseSensitive(doc, "subsegments");
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  cJSON_Delete(doc);
}

/* ------------------------------------------------------------------ */
/* AWS_XRAY_NOOP_ID and traceparent (XRAY_AUTO_PROPAGATE)              */

#define NOOP_ROOT "1-00000000-000000000000000000000000"
#define NOOP_ID "0000000000000000"
#define TID "5759e988bd862e3fe1be46a994272793"

/* A rules file that samples nothing: every trace started here is
 * unsampled. Its path (static storage). */
static const char *never_rules(void)
{
  static char path[64];
  static const char doc[] = "{\"version\":2,\"rules\":[],"
                            "\"default\":{\"fixed_target\":0,\"rate\":0}}";
  int fd;

  if (path[0])
    return path;
  strcpy(path, "/tmp/xr-unit-never-XXXXXX");
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, doc, sizeof(doc) - 1), (ssize_t)sizeof(doc) - 1);
  close(fd);
  return path;
}

static int teardown_never_rules(void **state)
{
  (void)state;
  if (never_rules()[0])
    unlink(never_rules());
  return 0;
}

/* tp is "00-<32>-<16>-<2>": its parts. */
static void split_tp(const char *tp, char tid[33], char pid[17], char flags[3])
{
  assert_int_equal(strlen(tp), 55);
  assert_memory_equal(tp, "00-", 3);
  memcpy(tid, tp + 3, 32);
  tid[32] = '\0';
  assert_int_equal(tp[35], '-');
  memcpy(pid, tp + 36, 16);
  pid[16] = '\0';
  assert_true(xr_is_entity_id(pid, 16));
  assert_string_not_equal(pid, NOOP_ID);
  assert_int_equal(tp[52], '-');
  memcpy(flags, tp + 53, 2);
  flags[2] = '\0';
}

/* Default: an unsampled context passes the incoming Root, the no-op
 * Parent and Sampled=0 (Go's header); traceparent needs a real parent-id. */
static void test_noop_id_default(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=0;" LINEAGE, NULL};
  struct xr_span sp;
  char tp[XR_TRACEPARENT_LEN + 1], tp2[XR_TRACEPARENT_LEN + 1], tid[33], pid[17], flags[3];
  (void)state;

  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.sub);
  assert_string_equal(sp.header, "Root=" ROOT ";Parent=" NOOP_ID ";Sampled=0;" LINEAGE);
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), XR_TRACEPARENT_LEN);
  split_tp(tp, tid, pid, flags);
  assert_string_equal(tid, TID);
  assert_string_equal(flags, "00");
  /* A random id each time: it names nothing recorded. */
  assert_int_equal(xr_span_traceparent(&sp, tp2, sizeof(tp2)), XR_TRACEPARENT_LEN);
  assert_string_not_equal(tp, tp2);
  assert_int_equal(xr_span_traceparent(&sp, tp2, XR_TRACEPARENT_LEN), -ENOSPC);
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 100);
}

/* AWS_XRAY_NOOP_ID=false: a random Parent, the same in both headers. */
static void test_noop_id_false(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=" PARENT ";Sampled=0", "AWS_XRAY_NOOP_ID",
      "false", NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled, tp[XR_TRACEPARENT_LEN + 1], tid[33], pid[17], flags[3];
  const char *extra;
  (void)state;

  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_equal(root, ROOT);
  assert_string_not_equal(parent, NOOP_ID);
  assert_string_not_equal(parent, PARENT);
  assert_int_equal(sampled, '0');
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), XR_TRACEPARENT_LEN);
  split_tp(tp, tid, pid, flags);
  assert_string_equal(tid, TID);
  assert_string_equal(pid, parent);
  assert_string_equal(flags, "00");
  xr_span_end(&sp);
}

/* A trace started here unsampled: the no-op Root by default (Python's and
 * Go's), a real one with AWS_XRAY_NOOP_ID=false or with w3c propagated. */
static void test_noop_new_trace(void **state)
{
  const char *env_noop[] = {"XRAY_AUTO_SAMPLING", "default", "XRAY_AUTO_SAMPLING_RULES",
                            never_rules(), NULL};
  const char *env_real[] = {"XRAY_AUTO_SAMPLING", "default", "XRAY_AUTO_SAMPLING_RULES",
                            never_rules(), "AWS_XRAY_NOOP_ID", "0", NULL};
  const char *env_w3c[] = {"XRAY_AUTO_SAMPLING", "default", "XRAY_AUTO_SAMPLING_RULES",
                           never_rules(), "XRAY_AUTO_PROPAGATE", "xray,w3c", NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled, tp[XR_TRACEPARENT_LEN + 1], tid[33], pid[17], flags[3];
  char ctx[XR_HEADER_MAX];
  const char *extra;
  (void)state;

  init_tracer(env_noop);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_false(sp.sampled);
  assert_string_equal(sp.header, "Root=" NOOP_ROOT ";Parent=" NOOP_ID ";Sampled=0");
  /* No W3C form for the no-op Root: no traceparent. */
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), -EINVAL);
  xr_span_end(&sp);
  /* The same for a thread segment's context. */
  assert_int_equal(xr_thread_segment_begin("t", NULL), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_string_equal(ctx, "Root=" NOOP_ROOT ";Parent=" NOOP_ID ";Sampled=0");
  assert_int_equal(xr_thread_segment_end(), 0);

  init_tracer(env_real);
  assert_int_equal(xr_span_begin(&sp), 0);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_not_equal(root, NOOP_ROOT);
  assert_true(labs(strtol(root + 2, NULL, 16) - (long)time(NULL)) < 10);
  assert_string_not_equal(parent, NOOP_ID);
  assert_int_equal(sampled, '0');
  xr_span_end(&sp);
  assert_int_equal(xr_thread_segment_begin("t", NULL), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  parse_header(ctx, root, parent, &sampled, &extra);
  assert_string_not_equal(root, NOOP_ROOT);
  assert_string_not_equal(parent, NOOP_ID);
  assert_int_equal(xr_thread_segment_end(), 0);

  init_tracer(env_w3c);
  assert_int_equal(xr_span_begin(&sp), 0);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_string_not_equal(root, NOOP_ROOT);
  assert_string_equal(parent, NOOP_ID);
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), XR_TRACEPARENT_LEN);
  split_tp(tp, tid, pid, flags);
  assert_memory_equal(tid, root + 2, 8);
  assert_memory_equal(tid + 8, root + 11, 24);
  assert_string_equal(flags, "00");
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 100);
}

/* A sampled span: trace-id = the Root mapped, parent-id = the subsegment
 * id, flags 01; the X-Ray header is unchanged by w3c. */
static void test_traceparent_sampled(void **state)
{
  static const char *const env[] = {"XRAY_AUTO_PROPAGATE", "xray,w3c", NULL};
  struct xr_span sp;
  char root[36], parent[17], sampled, tp[XR_TRACEPARENT_LEN + 1], tid[33], pid[17], flags[3];
  const char *extra;
  cJSON *doc;
  (void)state;

  init_tracer(env);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.sub);
  parse_header(sp.header, root, parent, &sampled, &extra);
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), XR_TRACEPARENT_LEN);
  split_tp(tp, tid, pid, flags);
  assert_memory_equal(tid, sp.sub->trace_id + 2, 8);
  assert_memory_equal(tid + 8, sp.sub->trace_id + 11, 24);
  assert_string_equal(pid, sp.sub->id);
  assert_string_equal(pid, parent);
  assert_string_equal(flags, "01");
  xr_entity_set_name(sp.sub, "example.com");
  xr_span_end(&sp);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "trace_id"), root);
  cJSON_Delete(doc);
}

/* The context of an unsampled thread segment passes the no-op Parent by
 * default, the segment's own id with AWS_XRAY_NOOP_ID=false. */
static void test_noop_context_header(void **state)
{
  static const char *const env[] = {"AWS_XRAY_NOOP_ID", "false", NULL};
  char ctx[XR_HEADER_MAX];
  (void)state;

  assert_int_equal(xr_thread_segment_begin("in", "Root=" ROOT ";Parent=" PARENT ";Sampled=0"), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_string_equal(ctx, "Root=" ROOT ";Parent=" NOOP_ID ";Sampled=0");
  assert_int_equal(xr_thread_segment_end(), 0);
  /* Sampled: the segment's id, as ever. */
  assert_int_equal(xr_thread_segment_begin("in", "Root=" ROOT ";Parent=" PARENT ";Sampled=1"), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_string_not_equal(ctx + 48, NOOP_ID ";Sampled=1");
  assert_memory_equal(ctx + 64, ";Sampled=1", 10);
  assert_int_equal(xr_thread_segment_end(), 0);
  cJSON_Delete(ut_recv_doc(ut_rx, 2000));

  init_tracer(env);
  assert_int_equal(xr_thread_segment_begin("in", "Root=" ROOT ";Parent=" PARENT ";Sampled=0"), 0);
  assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
  assert_memory_equal(ctx, "Root=" ROOT ";Parent=", 48);
  assert_memory_not_equal(ctx + 48, NOOP_ID, 16);
  assert_memory_not_equal(ctx + 48, PARENT, 16);
  assert_int_equal(xr_thread_segment_end(), 0);
  ut_expect_silence(ut_rx, 100);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_call_mode, setup),
      cmocka_unit_test_setup(test_call_mode_new_trace_each_call, setup),
      cmocka_unit_test_setup(test_call_mode_inherited, setup),
      cmocka_unit_test_setup(test_call_mode_unsampled, setup),
      cmocka_unit_test_setup(test_call_mode_inherited_undecided, setup),
      cmocka_unit_test_setup(test_discard_sends_nothing, setup),
      cmocka_unit_test_setup(test_off_mode, setup),
      cmocka_unit_test_setup(test_context_header_call_mode, setup),
      cmocka_unit_test_setup(test_thread_segment, setup),
      cmocka_unit_test_setup(test_thread_segment_default_name, setup),
      cmocka_unit_test_setup(test_thread_segment_with_header, setup),
      cmocka_unit_test_setup(test_thread_segment_in_off_mode, setup),
      cmocka_unit_test_setup(test_thread_segment_streams, setup),
      cmocka_unit_test_setup(test_span_outlives_owner, setup),
      cmocka_unit_test_setup(test_context_header_too_small, setup),
      cmocka_unit_test_setup(test_excluded, setup),
      cmocka_unit_test_setup(test_local_spans, setup),
      cmocka_unit_test_setup(test_noop_id_default, setup),
      cmocka_unit_test_setup(test_noop_id_false, setup),
      cmocka_unit_test_setup_teardown(test_noop_new_trace, setup, teardown_never_rules),
      cmocka_unit_test_setup(test_traceparent_sampled, setup),
      cmocka_unit_test_setup(test_noop_context_header, setup),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
