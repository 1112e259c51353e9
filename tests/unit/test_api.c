/* src/api.c (the C API's logic): key rules, bounds, metadata JSON,
 * nesting with spans inside, unsampled no-ops, the process segment, and
 * the documents as the writer sends them. */
#include "util.h"

#include "../../src/api.h"
#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/ids.h"
#include "../../src/tracer.h"

#define XRAY_AUTO_NO_DLSYM
#include "../../include/xray-auto.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define PARENT "53995c3f42cd8ad8"

static int setup(void **state)
{
  (void)state;
  ut_tracer_init(NULL, "api-svc");
  (void)ut_udp_drain(ut_rx);
  return 0;
}

/* A failed test leaves nothing open for the next one. */
static int teardown(void **state)
{
  (void)state;
  if (xr_api_end_segment() < 0) {
    /* none was open */
  }
  (void)ut_udp_drain(ut_rx);
  return 0;
}

static int setup_process(void **state)
{
  static const char *const env[] = {"XRAY_AUTO_SEGMENT", "process", NULL};
  (void)state;
  ut_tracer_init(env, "api-proc");
  (void)ut_udp_drain(ut_rx);
  return 0;
}

/* Ends the thread segment through the API and returns its document. */
static cJSON *end_segment_doc(void)
{
  cJSON *doc;

  assert_int_equal(xr_api_end_segment(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  return doc;
}

static cJSON *item(const cJSON *o, const char *key)
{
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

static cJSON *sub_at(const cJSON *o, int i)
{
  return cJSON_GetArrayItem(item(o, "subsegments"), i);
}

static void test_key_rules(void **state)
{
  char key[XRAY_KEY_MAX + 2];
  (void)state;

  assert_true(xr_api_key_ok("a"));
  assert_true(xr_api_key_ok("Order_ID_42"));
  assert_false(xr_api_key_ok(NULL));
  assert_false(xr_api_key_ok(""));
  assert_false(xr_api_key_ok("order-id"));
  assert_false(xr_api_key_ok("order id"));
  assert_false(xr_api_key_ok("order.id"));
  assert_false(xr_api_key_ok("caf\xc3\xa9"));
  memset(key, 'k', XRAY_KEY_MAX);
  key[XRAY_KEY_MAX] = '\0';
  assert_true(xr_api_key_ok(key));
  key[XRAY_KEY_MAX] = 'k';
  key[XRAY_KEY_MAX + 1] = '\0';
  assert_false(xr_api_key_ok(key));
}

static void test_no_context(void **state)
{
  (void)state;
  /* XRAY_AUTO_SEGMENT=call (the default), no segment on this thread. */
  assert_int_equal(xr_api_begin_subsegment("s", NULL), -ENOENT);
  assert_int_equal(xr_api_end_subsegment(), -ENOENT);
  assert_int_equal(xr_api_annotation_string("k", "v"), -ENOENT);
  assert_int_equal(xr_api_metadata(NULL, "k", "1"), -ENOENT);
  assert_int_equal(xr_api_set_user("u"), -ENOENT);
  assert_int_equal(xr_api_add_error("T", "m", 0), -ENOENT);
  assert_int_equal(xr_api_end_segment(), -ENOENT);
  /* Arguments first, whatever the context. */
  assert_int_equal(xr_api_annotation_string("bad key", "v"), -EINVAL);
  assert_int_equal(xr_api_begin_subsegment(NULL, NULL), -EINVAL);
  ut_expect_silence(ut_rx, 50);
}

static void test_annotations(void **state)
{
  char key[16], big[XRAY_ANNOTATION_VALUE_MAX + 2];
  cJSON *doc, *ann;
  int i;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_annotation_string("s", "text"), 0);
  assert_int_equal(xr_api_annotation_number("n", 2.5), 0);
  assert_int_equal(xr_api_annotation_number("i", 42), 0);
  assert_int_equal(xr_api_annotation_bool("b", true), 0);
  assert_int_equal(xr_api_annotation_bool("f", false), 0);
  /* Refused: nothing recorded. */
  assert_int_equal(xr_api_annotation_string("bad-key", "x"), -EINVAL);
  assert_int_equal(xr_api_annotation_string("k", NULL), -EINVAL);
  assert_int_equal(xr_api_annotation_number("nan", NAN), -EINVAL);
  assert_int_equal(xr_api_annotation_number("inf", INFINITY), -EINVAL);
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(xr_api_annotation_string("big", big), -EINVAL);
  big[XRAY_ANNOTATION_VALUE_MAX] = '\0';
  assert_int_equal(xr_api_annotation_string("max", big), 0);
  /* Again: replaced. */
  assert_int_equal(xr_api_annotation_string("s", "again"), 0);
  /* The bound: 50 keys; a present key is still replaced. */
  for (i = 6; i < XRAY_ANNOTATIONS_MAX; i++) { /* 6 keys so far */
    snprintf(key, sizeof(key), "k%d", i);
    assert_int_equal(xr_api_annotation_number(key, i), 0);
  }
  assert_int_equal(xr_api_annotation_number("one_too_many", 1), -E2BIG);
  assert_int_equal(xr_api_annotation_bool("s", true), 0);

  doc = end_segment_doc();
  ann = item(doc, "annotations");
  assert_int_equal(cJSON_GetArraySize(ann), XRAY_ANNOTATIONS_MAX);
  assert_true(cJSON_IsTrue(item(ann, "s")));
  assert_true(ut_num(ann, "n") == 2.5);
  assert_true(ut_num(ann, "i") == 42);
  assert_true(cJSON_IsTrue(item(ann, "b")));
  assert_true(cJSON_IsFalse(item(ann, "f")));
  assert_int_equal(strlen(ut_str(ann, "max")), XRAY_ANNOTATION_VALUE_MAX);
  assert_null(item(ann, "bad-key"));
  assert_null(item(ann, "nan"));
  assert_null(item(ann, "big"));
  assert_null(item(ann, "one_too_many"));
  cJSON_Delete(doc);
}

static void test_metadata(void **state)
{
  static char big[XRAY_METADATA_VALUE_MAX + 2];
  cJSON *doc, *meta;
  int i;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_metadata(NULL, "obj", "{\"a\":[1,2,{\"b\":null}],\"s\":\"x\"}"), 0);
  assert_int_equal(xr_api_metadata("app", "num", " 12.5 "), 0);
  assert_int_equal(xr_api_metadata("app", "str", "\"text\""), 0);
  assert_int_equal(xr_api_metadata("app", "t", "true"), 0);
  /* Refused. */
  assert_int_equal(xr_api_metadata(NULL, "bad", "{\"a\":"), -EINVAL);
  assert_int_equal(xr_api_metadata(NULL, "bad", "{} trailing"), -EINVAL);
  assert_int_equal(xr_api_metadata(NULL, "bad", ""), -EINVAL);
  assert_int_equal(xr_api_metadata(NULL, "bad", NULL), -EINVAL);
  assert_int_equal(xr_api_metadata(NULL, "", "1"), -EINVAL);
  assert_int_equal(xr_api_metadata("", "k", "1"), -EINVAL);
  assert_int_equal(xr_api_metadata("AWS.", "k", "1"), -EINVAL);
  assert_int_equal(xr_api_metadata("AWS.xray", "k", "1"), -EINVAL);
  /* Only "AWS." is reserved. */
  assert_int_equal(xr_api_metadata("AWS", "k", "1"), 0);
  /* Size: one value, then the entity's total. */
  memset(big, ' ', sizeof(big) - 1);
  big[0] = '1';
  big[sizeof(big) - 1] = '\0';
  assert_int_equal(xr_api_metadata(NULL, "big", big), -E2BIG);
  big[XRAY_METADATA_VALUE_MAX] = '\0';
  for (i = 0; i < XRAY_METADATA_TOTAL_MAX / XRAY_METADATA_VALUE_MAX - 1; i++)
    assert_int_equal(xr_api_metadata("fill", i ? "b" : "a", big), 0);
  assert_int_equal(xr_api_metadata("fill", "c", big), -E2BIG);
  /* Replaced. */
  assert_int_equal(xr_api_metadata("app", "t", "false"), 0);

  doc = end_segment_doc();
  meta = item(doc, "metadata");
  assert_non_null(meta);
  assert_string_equal(ut_str(item(item(meta, "default"), "obj"), "s"), "x");
  assert_true(cJSON_IsNull(item(cJSON_GetArrayItem(item(item(item(meta, "default"), "obj"),
                                                          "a"), 2), "b")));
  assert_true(ut_num(item(meta, "app"), "num") == 12.5);
  assert_string_equal(ut_str(item(meta, "app"), "str"), "text");
  assert_true(cJSON_IsFalse(item(item(meta, "app"), "t")));
  assert_null(item(item(meta, "default"), "bad"));
  assert_null(item(meta, "AWS.xray"));
  assert_non_null(item(meta, "AWS"));
  assert_null(item(item(meta, "fill"), "c"));
  cJSON_Delete(doc);
}

/* Spans (what curl, SQL and the sockets layer use) inside API subsegments. */
static void test_nesting_with_spans(void **state)
{
  char a_id[17], b_id[17], span_id[17], sql_id[17];
  struct xr_span sp, sp2;
  cJSON *doc, *a, *b;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("a", NULL), 0);
  assert_int_equal(xr_api_depth(), 1);
  strcpy(a_id, xr_api_top->id);
  assert_int_equal(xr_api_begin_subsegment("b", "remote"), 0);
  assert_int_equal(xr_api_depth(), 2);
  strcpy(b_id, xr_api_top->id);
  assert_string_equal(xr_api_top->parent_id, a_id);
  {
    /* By hand (xray_trace_header): Parent = the current entity. */
    char ctx[XR_HEADER_MAX];
    assert_true(xr_context_header(ctx, sizeof(ctx)) > 0);
    assert_non_null(strstr(ctx, ";Parent=" ));
    assert_memory_equal(strstr(ctx, ";Parent=") + 8, b_id, 16);
  }

  /* A call with a header: its parent is b; the header's Parent is its own id. */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.sub);
  assert_string_equal(sp.sub->parent_id, b_id);
  strcpy(span_id, sp.sub->id);
  assert_non_null(strstr(sp.header, span_id));
  assert_null(strstr(sp.header, b_id));
  xr_entity_set_name(sp.sub, "example.com");
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 20); /* embedded in b */
  assert_int_equal(xr_api_annotation_string("in_b", "yes"), 0);
  assert_int_equal(xr_api_end_subsegment(), 0);
  /* SQL-like (no header): child of a now. */
  assert_int_equal(xr_span_begin_local(&sp2), 0);
  assert_string_equal(sp2.sub->parent_id, a_id);
  strcpy(sql_id, sp2.sub->id);
  xr_span_end(&sp2);
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_depth(), 0);
  assert_int_equal(xr_api_end_subsegment(), -ENOENT);

  doc = end_segment_doc();
  assert_int_equal(cJSON_GetArraySize(item(doc, "subsegments")), 1);
  a = sub_at(doc, 0);
  assert_string_equal(ut_str(a, "id"), a_id);
  assert_string_equal(ut_str(a, "name"), "a");
  assert_string_equal(ut_str(a, "namespace"), "local");
  assert_true(ut_num(a, "end_time") >= ut_num(a, "start_time"));
  assert_int_equal(cJSON_GetArraySize(item(a, "subsegments")), 2);
  b = sub_at(a, 0);
  assert_string_equal(ut_str(b, "id"), b_id);
  assert_string_equal(ut_str(b, "namespace"), "remote");
  assert_string_equal(ut_str(item(b, "annotations"), "in_b"), "yes");
  assert_string_equal(ut_str(sub_at(b, 0), "id"), span_id);
  assert_string_equal(ut_str(sub_at(b, 0), "name"), "example.com");
  assert_null(item(sub_at(b, 0), "parent_id")); /* embedded */
  assert_string_equal(ut_str(sub_at(a, 1), "id"), sql_id);
  cJSON_Delete(doc);
}

static void test_end_segment_ends_open_subsegments(void **state)
{
  cJSON *doc, *a, *b;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("a", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("b", NULL), 0);
  doc = end_segment_doc();
  assert_int_equal(xr_api_depth(), 0);
  a = sub_at(doc, 0);
  b = sub_at(a, 0);
  assert_string_equal(ut_str(a, "name"), "a");
  assert_string_equal(ut_str(b, "name"), "b");
  assert_null(item(a, "in_progress"));
  assert_true(ut_num(b, "end_time") <= ut_num(a, "end_time"));
  assert_true(ut_num(a, "end_time") <= ut_num(doc, "end_time"));
  cJSON_Delete(doc);
  ut_expect_silence(ut_rx, 50);
}

static void test_user_and_errors(void **state)
{
  char msg[XRAY_ERROR_MESSAGE_MAX + 10];
  cJSON *doc, *a, *exs;
  int i;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_set_user(""), -EINVAL);
  assert_int_equal(xr_api_set_user(NULL), -EINVAL);
  assert_int_equal(xr_api_set_user("bob"), 0);
  assert_int_equal(xr_api_begin_subsegment("a", NULL), 0);
  /* The segment's, even with a subsegment open. */
  assert_int_equal(xr_api_set_user("alice"), 0);
  assert_int_equal(xr_api_add_error("T", "m", 0x100), -EINVAL);
  assert_int_equal(xr_api_add_error("", "m", 0), -EINVAL);
  assert_int_equal(xr_api_add_error("Client", "bad input", XRAY_ERROR), 0);
  /* A message too long is cut on a character boundary. */
  memset(msg, 'x', sizeof(msg));
  memcpy(msg + XRAY_ERROR_MESSAGE_MAX - 1, "\xc3\xa9", 2);
  msg[sizeof(msg) - 1] = '\0';
  assert_int_equal(xr_api_add_error(NULL, msg, XRAY_STATUS_FLAGS(429) | XRAY_REMOTE), 0);
  for (i = 2; i < XRAY_ERRORS_MAX; i++)
    assert_int_equal(xr_api_add_error("More", NULL, XRAY_ERROR), 0);
  assert_int_equal(xr_api_add_error("Fault", NULL, XRAY_FAULT), -E2BIG);
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_add_error("Default", NULL, 0), 0);

  doc = end_segment_doc();
  assert_string_equal(ut_str(doc, "user"), "alice");
  assert_true(ut_is_true(doc, "fault")); /* 0: fault, as the SDKs' add_exception */
  assert_null(item(doc, "error"));
  a = sub_at(doc, 0);
  assert_null(item(a, "user"));
  assert_true(ut_is_true(a, "error"));
  assert_true(ut_is_true(a, "throttle"));
  assert_null(item(a, "fault")); /* the refused one set nothing */
  exs = item(item(a, "cause"), "exceptions");
  assert_int_equal(cJSON_GetArraySize(exs), XRAY_ERRORS_MAX);
  assert_string_equal(ut_str(cJSON_GetArrayItem(exs, 0), "type"), "Client");
  assert_string_equal(ut_str(cJSON_GetArrayItem(exs, 0), "message"), "bad input");
  assert_true(cJSON_IsFalse(item(cJSON_GetArrayItem(exs, 0), "remote")));
  assert_true(cJSON_IsTrue(item(cJSON_GetArrayItem(exs, 1), "remote")));
  assert_null(item(cJSON_GetArrayItem(exs, 1), "type"));
  assert_int_equal(strlen(ut_str(cJSON_GetArrayItem(exs, 1), "message")),
                   XRAY_ERROR_MESSAGE_MAX - 1);
  cJSON_Delete(doc);
}

static void test_unsampled(void **state)
{
  struct xr_span sp;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", "Root=" ROOT ";Parent=" PARENT ";Sampled=0"),
                   0);
  assert_int_equal(xr_api_begin_subsegment("a", NULL), 0);
  assert_int_equal(xr_api_depth(), 0); /* nothing allocated */
  assert_int_equal(xr_api_annotation_string("k", "v"), 0);
  assert_int_equal(xr_api_annotation_number("n", 1), 0);
  assert_int_equal(xr_api_annotation_bool("b", 1), 0);
  assert_int_equal(xr_api_metadata(NULL, "k", "[1]"), 0);
  assert_int_equal(xr_api_set_user("u"), 0);
  assert_int_equal(xr_api_add_error("T", "m", 0), 0);
  /* Argument errors do not depend on the sampling decision. */
  assert_int_equal(xr_api_annotation_string("bad key", "v"), -EINVAL);
  assert_int_equal(xr_api_metadata(NULL, "k", "{"), -EINVAL);
  assert_int_equal(xr_api_metadata("AWS.x", "k", "1"), -EINVAL);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_false(sp.sampled);
  assert_non_null(strstr(sp.header, "Sampled=0"));
  xr_span_end(&sp);
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_end_segment(), 0);
  ut_expect_silence(ut_rx, 100);
}

static void test_depth_bound(void **state)
{
  cJSON *doc, *e;
  int i, depth = 0;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  for (i = 0; i < XRAY_DEPTH_MAX; i++)
    assert_int_equal(xr_api_begin_subsegment("d", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("d", NULL), -E2BIG);
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_begin_subsegment("d", NULL), 0);
  doc = end_segment_doc();
  for (e = sub_at(doc, 0); e; e = sub_at(e, 0))
    depth++;
  assert_int_equal(depth, XRAY_DEPTH_MAX);
  cJSON_Delete(doc);
}

/* Past the threshold an open subsegment streams its finished children. */
static void test_subsegment_streams(void **state)
{
  char a_id[17];
  struct xr_span sp;
  cJSON *doc;
  int i, alone = 0;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("job", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("loop", NULL), 0);
  strcpy(a_id, xr_api_top->id);
  for (i = 0; i < 31; i++) {
    assert_int_equal(xr_span_begin_local(&sp), 0);
    xr_span_end(&sp);
  }
  while ((doc = ut_recv_doc(ut_rx, 500)) != NULL) {
    assert_string_equal(ut_str(doc, "type"), "subsegment");
    assert_string_equal(ut_str(doc, "parent_id"), a_id);
    alone++;
    cJSON_Delete(doc);
  }
  assert_int_equal(alone, 31);
  assert_int_equal(xr_api_end_subsegment(), 0);
  doc = end_segment_doc();
  assert_null(item(sub_at(doc, 0), "subsegments"));
  cJSON_Delete(doc);
}

/* The segment ended behind the API's back: the next call ends the stack,
 * whose subsegments go out on their own. */
static void test_stale_stack(void **state)
{
  char seg_id[17], a_id[17];
  struct xr_span sp;
  cJSON *doc;
  (void)state;

  assert_int_equal(xr_thread_segment_begin("old", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("a", NULL), 0);
  strcpy(a_id, xr_api_top->id);
  strcpy(seg_id, xr_api_top->parent_id);
  assert_int_equal(xr_thread_segment_end(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_null(item(doc, "subsegments"));
  cJSON_Delete(doc);
  assert_int_equal(xr_thread_segment_begin("new", NULL), 0);
  /* Spans ignore the stale stack. */
  assert_int_equal(xr_span_begin_local(&sp), 0);
  assert_string_not_equal(sp.sub->parent_id, a_id);
  xr_span_end(&sp);
  assert_int_equal(xr_api_annotation_string("k", "v"), 0);
  assert_int_equal(xr_api_depth(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), a_id);
  assert_string_equal(ut_str(doc, "type"), "subsegment");
  assert_string_equal(ut_str(doc, "parent_id"), seg_id);
  cJSON_Delete(doc);
  doc = end_segment_doc();
  assert_string_equal(ut_str(doc, "name"), "new");
  assert_string_equal(ut_str(item(doc, "annotations"), "k"), "v");
  cJSON_Delete(doc);
}

/* An inbound request's segment (the sockets layer's): the API changes it
 * under the tracer's lock, and may not end it; a subsegment still open when
 * the request ends goes out on its own. */
static void test_inbound_segment(void **state)
{
  static int conn;
  struct xr_entity *seg;
  char seg_id[17], a_id[17];
  cJSON *doc;
  (void)state;

  seg = xr_inbound_begin(NULL, 0, 0, &conn);
  assert_non_null(seg);
  strcpy(seg_id, seg->id);
  assert_int_equal(xr_api_set_user("carol"), 0);
  assert_int_equal(xr_api_annotation_bool("inbound", true), 0);
  assert_int_equal(xr_api_begin_subsegment("handler", NULL), 0);
  strcpy(a_id, xr_api_top->id);
  assert_int_equal(xr_api_end_segment(), -ENOENT);
  assert_int_equal(xr_api_depth(), 1); /* untouched */
  xr_inbound_end(seg);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  assert_string_equal(ut_str(doc, "user"), "carol");
  assert_true(cJSON_IsTrue(item(item(doc, "annotations"), "inbound")));
  assert_null(item(doc, "subsegments"));
  cJSON_Delete(doc);
  assert_int_equal(xr_api_end_subsegment(), 0);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), a_id);
  assert_string_equal(ut_str(doc, "type"), "subsegment");
  assert_string_equal(ut_str(doc, "parent_id"), seg_id);
  cJSON_Delete(doc);
  assert_int_equal(xr_api_annotation_bool("after", true), -ENOENT);
}

/* A thread that returns with its segment and subsegments open. */
static void *leave_open_thread(void *arg)
{
  (void)arg;
  assert_int_equal(xr_thread_segment_begin("leaver", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("open-1", NULL), 0);
  assert_int_equal(xr_api_begin_subsegment("open-2", "remote"), 0);
  assert_int_equal(xr_api_annotation_string("left", "open"), 0);
  return NULL;
}

/* Serves a request on this thread, then returns while it is still open. */
static void *serve_and_leave_thread(void *arg)
{
  static int conn;
  struct xr_entity **seg = arg;

  *seg = xr_inbound_begin(NULL, 0, 0, &conn);
  assert_non_null(*seg);
  assert_int_equal(xr_api_begin_subsegment("handler", NULL), 0);
  return NULL;
}

/* Thread exit lets go of what the thread held: its own segment and open
 * subsegments are freed, unsent (sanitize.unit's leak check fails without
 * it), and its reference on an inbound segment is dropped, so that the
 * segment is freed when the sockets layer ends it (refs back to 1, the
 * connection's). */
static void test_thread_exit(void **state)
{
  struct xr_entity *seg = NULL;
  char seg_id[17];
  pthread_t t;
  cJSON *doc;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, leave_open_thread, NULL), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_null(ut_recv_doc(ut_rx, 200));
  assert_int_equal(xr_api_depth(), 0); /* this thread's stack is its own */

  assert_int_equal(pthread_create(&t, NULL, serve_and_leave_thread, &seg), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_non_null(seg);
  assert_int_equal(seg->refs, 1);
  strcpy(seg_id, seg->id);
  xr_inbound_end(seg); /* the last reference: sent and freed */
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), seg_id);
  assert_null(item(doc, "subsegments")); /* the open handler was not sent */
  cJSON_Delete(doc);
  assert_null(ut_recv_doc(ut_rx, 200));
}

/* XRAY_AUTO_SEGMENT=process: subsegments of the process segment, sent on
 * their own; the process segment itself is not the API's to change. */
static void test_process_segment(void **state)
{
  char proc_id[17], a_id[17];
  struct xr_span sp;
  cJSON *doc;
  (void)state;

  assert_int_equal(xr_api_begin_subsegment("job", NULL), 0);
  doc = ut_recv_doc(ut_rx, 2000); /* the process segment, in progress */
  assert_non_null(doc);
  assert_true(ut_is_true(doc, "in_progress"));
  strcpy(proc_id, ut_str(doc, "id"));
  cJSON_Delete(doc);
  strcpy(a_id, xr_api_top->id);
  assert_int_equal(xr_api_annotation_string("k", "v"), 0);
  assert_int_equal(xr_api_set_user("u"), -ENOENT);
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_false(sp.process);
  xr_span_end(&sp);
  ut_expect_silence(ut_rx, 20); /* embedded in job */
  assert_int_equal(xr_api_end_subsegment(), 0);
  assert_int_equal(xr_api_annotation_string("k", "v"), -ENOENT);
  doc = ut_recv_doc(ut_rx, 2000);
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "id"), a_id);
  assert_string_equal(ut_str(doc, "type"), "subsegment");
  assert_string_equal(ut_str(doc, "parent_id"), proc_id);
  assert_string_equal(ut_str(item(doc, "annotations"), "k"), "v");
  assert_int_equal(cJSON_GetArraySize(item(doc, "subsegments")), 1);
  cJSON_Delete(doc);
  xr_tracer_exit();
  (void)ut_udp_drain(ut_rx);
}

/* The writer (docwrite.c) and the tree (entity.c) agree on the new field. */
static void test_writer_user(void **state)
{
  struct xr_entity *e = xr_entity_new(true, "seg");
  char buf[4096 + XR_WRITE_SLACK], *tree;
  cJSON *j;
  int n;
  (void)state;

  assert_non_null(e);
  e->user = strdup("al\"ice");
  e->end_us = e->start_us + 1;
  n = xr_entity_write(e, false, true, buf, 4096);
  assert_true(n > 0);
  j = xr_entity_to_json(e, false, true);
  tree = cJSON_PrintUnformatted(j);
  assert_int_equal(strlen(tree), (size_t)n);
  assert_memory_equal(tree, buf, (size_t)n);
  assert_non_null(strstr(tree, ",\"user\":\"al\\\"ice\""));
  cJSON_free(tree);
  cJSON_Delete(j);
  xr_entity_free(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_rules),
      cmocka_unit_test_setup_teardown(test_no_context, setup, teardown),
      cmocka_unit_test_setup_teardown(test_annotations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metadata, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nesting_with_spans, setup, teardown),
      cmocka_unit_test_setup_teardown(test_end_segment_ends_open_subsegments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unsampled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_depth_bound, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subsegment_streams, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stale_stack, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inbound_segment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_thread_exit, setup, teardown),
      cmocka_unit_test_setup(test_process_segment, setup_process),
      cmocka_unit_test(test_writer_user),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
