/* src/entity.c and src/docwrite.c: flags, exceptions, document shapes. */
#include "util.h"

#include "../../src/entity.h"
#include "../../src/ids.h"
#include "../../src/names.h"
#include "../../src/utf8.h"

#include <errno.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

#define TRACE "1-5759e988-bd862e3fe1be46a994272793"

/* Prints the tree and parses it back: what a receiver would see. */
static cJSON *round_trip(const struct xr_entity *e, bool independent, bool with_children,
                         char **text)
{
  cJSON *j = xr_entity_to_json(e, independent, with_children);
  cJSON *back;
  char *s;
  assert_non_null(j);
  s = cJSON_PrintUnformatted(j);
  assert_non_null(s);
  cJSON_Delete(j);
  back = cJSON_Parse(s);
  assert_non_null(back);
  if (text)
    *text = s;
  else
    cJSON_free(s);
  return back;
}

/* xr_entity_write's document, NUL-terminated, parsed back. */
static cJSON *written(const struct xr_entity *e, bool independent, bool with_children,
                      char **text)
{
  static char buf[200000];
  int n = xr_entity_write(e, independent, with_children, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  cJSON *back;
  assert_true(n > 0);
  buf[n] = '\0';
  assert_true(ut_utf8_valid(buf, (size_t)n));
  back = cJSON_Parse(buf);
  if (!back)
    fail_msg("xr_entity_write produced invalid JSON: %.300s", buf);
  if (text)
    *text = buf;
  return back;
}

static struct xr_entity *new_entity(bool segment, const char *name)
{
  struct xr_entity *e = xr_entity_new(segment, name);
  assert_non_null(e);
  return e;
}

static void test_new_defaults(void **state)
{
  struct xr_entity *s = new_entity(true, "svc"), *sub = new_entity(false, "sub");
  int64_t now = 0;
  struct timespec ts;
  (void)state;

  clock_gettime(CLOCK_REALTIME, &ts);
  now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  assert_true(xr_is_entity_id(s->id, strlen(s->id)));
  assert_true(xr_is_entity_id(sub->id, strlen(sub->id)));
  assert_string_not_equal(s->id, sub->id);
  assert_true(s->segment);
  assert_false(sub->segment);
  assert_true(s->sampled);
  assert_string_equal(s->name, "svc");
  assert_string_equal(s->parent_id, "");
  assert_int_equal(s->end_us, 0);
  assert_int_equal(s->flags, 0);
  assert_true(llabs(now - s->start_us) < 5000000);
  assert_null(s->children);
  assert_int_equal(s->nchildren, 0);
  xr_entity_free(s);
  xr_entity_free(sub);
  xr_entity_free(NULL);
}

static void test_set_name(void **state)
{
  struct xr_entity *e = new_entity(false, "a?b(c)");
  (void)state;
  assert_string_equal(e->name, "abc");
  xr_entity_set_name(e, "db@host:5432");
  assert_string_equal(e->name, "db@host:5432");
  xr_entity_set_name(e, "");
  assert_string_equal(e->name, "unknown");
  xr_entity_set_name(e, "???");
  assert_string_equal(e->name, "unknown");
  xr_entity_free(e);
}

static void test_status_flags_table(void **state)
{
  static const struct {
    long status;
    unsigned flags;
  } cases[] = {
      {200, 0},
      {204, 0},
      {301, 0},
      {399, 0},
      {400, XR_FLAG_ERROR},
      {404, XR_FLAG_ERROR},
      {428, XR_FLAG_ERROR},
      {429, XR_FLAG_THROTTLE | XR_FLAG_ERROR},
      {430, XR_FLAG_ERROR},
      {499, XR_FLAG_ERROR},
      {500, XR_FLAG_FAULT},
      {503, XR_FLAG_FAULT},
      {599, XR_FLAG_FAULT},
      {600, 0},
      {0, 0},
      {-1, 0},
      {100, 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_entity *e = new_entity(false, "x");
    cJSON *j;
    print_message("  status %ld\n", cases[i].status);
    e->end_us = e->start_us + 1;
    xr_entity_apply_status(e, cases[i].status);
    assert_int_equal(e->flags, cases[i].flags);
    j = round_trip(e, false, false, NULL);
    assert_int_equal(ut_is_true(j, "error"), !!(cases[i].flags & XR_FLAG_ERROR));
    assert_int_equal(ut_is_true(j, "throttle"), !!(cases[i].flags & XR_FLAG_THROTTLE));
    assert_int_equal(ut_is_true(j, "fault"), !!(cases[i].flags & XR_FLAG_FAULT));
    /* absent, not false */
    if (!(cases[i].flags & XR_FLAG_ERROR))
      assert_null(cJSON_GetObjectItemCaseSensitive(j, "error"));
    if (!(cases[i].flags & XR_FLAG_FAULT))
      assert_null(cJSON_GetObjectItemCaseSensitive(j, "fault"));
    cJSON_Delete(j);
    xr_entity_free(e);
  }
}

static void test_add_exception(void **state)
{
  struct xr_entity *e = new_entity(false, "x");
  cJSON *j, *cause, *list, *ex;
  char cwd[512];
  (void)state;

  e->end_us = e->start_us + 10;
  xr_entity_apply_status(e, 404);
  assert_int_equal(xr_entity_add_exception(e, "CURLE_COULDNT_CONNECT",
                                           "Failed to connect to 127.0.0.1 port 1", false),
                   0);
  assert_true(e->flags & XR_FLAG_FAULT);
  assert_true(e->flags & XR_FLAG_ERROR); /* the status' flag stays */
  assert_int_equal(xr_entity_add_exception(e, "Second", NULL, true), 0);

  j = round_trip(e, false, false, NULL);
  assert_true(ut_is_true(j, "fault"));
  assert_true(ut_is_true(j, "error"));
  cause = cJSON_GetObjectItemCaseSensitive(j, "cause");
  assert_true(cJSON_IsObject(cause));
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_string_equal(ut_str(cause, "working_directory"), cwd);
  list = cJSON_GetObjectItemCaseSensitive(cause, "exceptions");
  assert_true(cJSON_IsArray(list));
  assert_int_equal(cJSON_GetArraySize(list), 2);
  ex = cJSON_GetArrayItem(list, 0);
  assert_non_null(ut_str(ex, "id"));
  assert_true(xr_is_entity_id(ut_str(ex, "id"), strlen(ut_str(ex, "id"))));
  assert_string_equal(ut_str(ex, "type"), "CURLE_COULDNT_CONNECT");
  assert_string_equal(ut_str(ex, "message"), "Failed to connect to 127.0.0.1 port 1");
  assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ex, "remote")));
  ex = cJSON_GetArrayItem(list, 1);
  assert_string_equal(ut_str(ex, "type"), "Second");
  assert_null(cJSON_GetObjectItemCaseSensitive(ex, "message"));
  assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ex, "remote")));
  assert_string_not_equal(ut_str(ex, "id"),
                          ut_str(cJSON_GetArrayItem(list, 0), "id"));
  cJSON_Delete(j);
  xr_entity_free(e);
}

static void check_time(const char *text, const char *key, int64_t us)
{
  char got[64], want[64];
  assert_true(ut_number_text(text, key, got, sizeof(got)));
  ut_assert_time_text(got);
  snprintf(want, sizeof(want), "%lld.%06lld", (long long)(us / 1000000),
           (long long)(us % 1000000));
  assert_string_equal(got, want);
}

static void test_segment_shape(void **state)
{
  struct xr_entity *e = new_entity(true, "my-service");
  cJSON *j, *aws, *xray;
  char *text;
  (void)state;

  strcpy(e->trace_id, TRACE);
  e->end_us = e->start_us + 1234567;
  j = round_trip(e, false, true, &text);
  assert_string_equal(ut_str(j, "name"), "my-service");
  assert_string_equal(ut_str(j, "id"), e->id);
  assert_string_equal(ut_str(j, "trace_id"), TRACE);
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "start_time")));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "end_time")));
  assert_true(ut_num(j, "end_time") >= ut_num(j, "start_time"));
  assert_true(fabs(ut_num(j, "end_time") - ut_num(j, "start_time") - 1.234567) < 1e-5);
  check_time(text, "start_time", e->start_us);
  check_time(text, "end_time", e->end_us);
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "in_progress"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "type"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "parent_id")); /* none set */
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "subsegments"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "namespace"));
  aws = cJSON_GetObjectItemCaseSensitive(j, "aws");
  xray = cJSON_GetObjectItemCaseSensitive(aws, "xray");
  assert_string_equal(ut_str(xray, "sdk"), "libxray-auto");
  assert_non_null(ut_str(xray, "sdk_version"));
  assert_true(ut_is_true(xray, "auto_instrumentation"));
  cJSON_free(text);
  cJSON_Delete(j);

  /* With an upstream parent. */
  strcpy(e->parent_id, "53995c3f42cd8ad8");
  j = round_trip(e, false, true, NULL);
  assert_string_equal(ut_str(j, "parent_id"), "53995c3f42cd8ad8");
  cJSON_Delete(j);
  xr_entity_free(e);
}

/* Microseconds are printed exactly, with six digits. */
static void test_time_text(void **state)
{
  static const int64_t times[] = {1700000000000000LL, 1700000000000001LL,
                                  1700000000999999LL, 1700000000100000LL,
                                  1234567LL, 1LL};
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(times); i++) {
    struct xr_entity *e = new_entity(false, "t");
    char *text, *wtext;
    cJSON *j, *w;
    e->start_us = times[i];
    e->end_us = times[i] + 1;
    j = round_trip(e, true, false, &text);
    check_time(text, "start_time", e->start_us);
    check_time(text, "end_time", e->end_us);
    w = written(e, true, false, &wtext);
    check_time(wtext, "start_time", e->start_us);
    check_time(wtext, "end_time", e->end_us);
    cJSON_free(text);
    cJSON_Delete(j);
    cJSON_Delete(w);
    xr_entity_free(e);
  }
}

static void test_in_progress(void **state)
{
  struct xr_entity *e = new_entity(true, "svc");
  cJSON *j;
  (void)state;
  strcpy(e->trace_id, TRACE);
  j = round_trip(e, false, true, NULL);
  assert_true(ut_is_true(j, "in_progress"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "end_time"));
  cJSON_Delete(j);
  j = written(e, false, true, NULL);
  assert_true(ut_is_true(j, "in_progress"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "end_time"));
  cJSON_Delete(j);
  xr_entity_free(e);
}

/* A segment holding two subsegments, the first holding one more. */
static struct xr_entity *tree(void)
{
  struct xr_entity *seg = new_entity(true, "svc");
  struct xr_entity *a = new_entity(false, "a"), *b = new_entity(false, "b");
  struct xr_entity *a1 = new_entity(false, "a1");

  strcpy(seg->trace_id, TRACE);
  /* What the tracer sets on subsegments; embedded they must not show. */
  strcpy(a->trace_id, TRACE);
  strcpy(a->parent_id, seg->id);
  strcpy(b->trace_id, TRACE);
  strcpy(b->parent_id, seg->id);
  a->ns = "remote";
  a1->end_us = a1->start_us + 1;
  a->end_us = a->start_us + 2;
  b->end_us = b->start_us + 3;
  seg->end_us = seg->start_us + 4;
  xr_entity_add_child(a, a1);
  xr_entity_add_child(seg, a);
  xr_entity_add_child(seg, b);
  return seg;
}

static void check_embedded(const cJSON *sub, const char *name)
{
  assert_string_equal(ut_str(sub, "name"), name);
  assert_non_null(ut_str(sub, "id"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sub, "trace_id"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sub, "type"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sub, "parent_id"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sub, "aws"));
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(sub, "end_time")));
}

static void check_tree_doc(const cJSON *j, const struct xr_entity *seg)
{
  const cJSON *subs = cJSON_GetObjectItemCaseSensitive(j, "subsegments"), *a, *a1;
  assert_string_equal(ut_str(j, "id"), seg->id);
  assert_true(cJSON_IsArray(subs));
  assert_int_equal(cJSON_GetArraySize(subs), 2);
  a = cJSON_GetArrayItem(subs, 0);
  check_embedded(a, "a");
  assert_string_equal(ut_str(a, "namespace"), "remote");
  assert_string_equal(ut_str(a, "id"), seg->children->id);
  check_embedded(cJSON_GetArrayItem(subs, 1), "b");
  a1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(a, "subsegments"), 0);
  check_embedded(a1, "a1");
}

static void test_nested_subsegments(void **state)
{
  struct xr_entity *seg = tree(), *list, *c;
  cJSON *j;
  unsigned n = 0;
  (void)state;

  assert_int_equal(seg->nchildren, 2);
  j = round_trip(seg, false, true, NULL);
  check_tree_doc(j, seg);
  cJSON_Delete(j);
  j = written(seg, false, true, NULL);
  check_tree_doc(j, seg);
  cJSON_Delete(j);

  /* with_children false: none embedded. */
  j = round_trip(seg, false, false, NULL);
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "subsegments"));
  cJSON_Delete(j);

  list = xr_entity_take_children(seg);
  assert_null(seg->children);
  assert_int_equal(seg->nchildren, 0);
  for (c = list; c; c = c->next)
    n++;
  assert_int_equal(n, 2);
  j = round_trip(seg, false, true, NULL);
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "subsegments"));
  cJSON_Delete(j);
  /* The parent accepts children again after a take. */
  xr_entity_add_child(seg, new_entity(false, "c"));
  assert_int_equal(seg->nchildren, 1);
  assert_string_equal(seg->children->name, "c");
  xr_entity_free(list);
  xr_entity_free(seg);
}

static void check_independent(const cJSON *j, const char *parent)
{
  assert_string_equal(ut_str(j, "type"), "subsegment");
  assert_string_equal(ut_str(j, "trace_id"), TRACE);
  assert_string_equal(ut_str(j, "parent_id"), parent);
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "aws"));
}

static void test_independent_subsegment(void **state)
{
  struct xr_entity *e = new_entity(false, "dynamodb");
  cJSON *j;
  (void)state;
  strcpy(e->trace_id, TRACE);
  strcpy(e->parent_id, "53995c3f42cd8ad8");
  e->end_us = e->start_us + 5;
  j = round_trip(e, true, true, NULL);
  check_independent(j, "53995c3f42cd8ad8");
  cJSON_Delete(j);
  j = written(e, true, true, NULL);
  check_independent(j, "53995c3f42cd8ad8");
  cJSON_Delete(j);
  /* Not independent: none of the three. */
  j = round_trip(e, false, true, NULL);
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "type"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "trace_id"));
  assert_null(cJSON_GetObjectItemCaseSensitive(j, "parent_id"));
  cJSON_Delete(j);
  xr_entity_free(e);
}

static void test_json_slot_child(void **state)
{
  cJSON *slot = NULL, *o, *c1, *c2;
  (void)state;
  o = xr_json_slot(&slot);
  assert_non_null(o);
  assert_ptr_equal(o, slot);
  assert_ptr_equal(xr_json_slot(&slot), o);
  c1 = xr_json_child(o, "k");
  assert_true(cJSON_IsObject(c1));
  c2 = xr_json_child(o, "k");
  assert_ptr_equal(c1, c2);
  assert_int_equal(cJSON_GetArraySize(o), 1);
  assert_null(xr_json_child(NULL, "k"));
  cJSON_Delete(slot);
}

/* A segment with every part filled. */
static struct xr_entity *rich(const char *url, const char *message)
{
  struct xr_entity *seg = tree(), *sub = seg->children->next;
  cJSON *ann, *md, *aws;
  struct xr_sql sql;

  strcpy(seg->parent_id, "53995c3f42cd8ad8");
  seg->http.has_request = true;
  strcpy(seg->http.method, "POST");
  seg->http.url = strdup(url);
  seg->http.user_agent = strdup("curl/8.0 \"quoted\" back\\slash");
  seg->http.client_ip = strdup("10.0.0.1");
  seg->http.x_forwarded_for = true;
  seg->http.status = 201;
  seg->http.content_length = 12345;
  aws = xr_json_slot(&seg->aws);
  cJSON_AddStringToObject(aws, "account_id", "123456789012");
  sub->ns = "aws";
  aws = xr_json_slot(&sub->aws);
  cJSON_AddStringToObject(aws, "operation", "GetItem");
  cJSON_AddStringToObject(aws, "table_name", "items");
  sub->http.has_request = true;
  strcpy(sub->http.method, "GET");
  sub->http.status = 429;
  xr_entity_apply_status(sub, 429);
  memset(&sql, 0, sizeof(sql));
  sql.url = "postgresql://db:5432/app";
  sql.user = "app";
  sql.sanitized_query = "SELECT \"x\" FROM t WHERE a = ?\n";
  sql.prepared = true;
  sql.operation = "query";
  assert_int_equal(xr_entity_set_sql(sub, &sql), 0);
  ann = xr_json_slot(&seg->annotations);
  cJSON_AddStringToObject(ann, "customer", "c-1");
  cJSON_AddNumberToObject(ann, "count", 3);
  cJSON_AddBoolToObject(ann, "vip", 1);
  md = xr_json_child(xr_json_slot(&seg->metadata), "default");
  cJSON_AddStringToObject(md, "note", "line1\nline2\ttab \"q\" \x01 ctl");
  cJSON_AddNumberToObject(md, "pi", 3.25);
  assert_int_equal(xr_entity_add_exception(seg, "E", message, true), 0);
  return seg;
}

/* xr_entity_write is the same document as xr_entity_to_json. */
static void test_write_matches_tree(void **state)
{
  struct xr_entity *seg = rich("https://example.com/p?q=1", "boom");
  bool indep;
  (void)state;
  for (indep = false;; indep = true) {
    char *t_text, *w_text;
    cJSON *t = round_trip(seg, indep, true, &t_text);
    cJSON *w = written(seg, indep, true, &w_text);
    if (!cJSON_Compare(t, w, 1))
      fail_msg("documents differ:\n tree:  %s\n write: %s", t_text, w_text);
    cJSON_free(t_text);
    cJSON_Delete(t);
    cJSON_Delete(w);
    t = round_trip(seg->children, indep, false, NULL);
    w = written(seg->children, indep, false, NULL);
    assert_true(cJSON_Compare(t, w, 1));
    cJSON_Delete(t);
    cJSON_Delete(w);
    if (indep)
      break;
  }
  xr_entity_free(seg);
}

/* Byte-identical when no string needs an escape both write differently. */
static void test_write_bytes_match_tree(void **state)
{
  struct xr_entity *seg = tree();
  cJSON *t;
  char *t_text, buf[8192];
  int n;
  (void)state;
  seg->http.has_request = true;
  strcpy(seg->http.method, "GET");
  seg->http.url = strdup("http://h/\"x\"\\y");
  seg->http.status = 200;
  assert_int_equal(xr_entity_add_exception(seg->children, "T", "m \"q\"", false), 0);
  t = xr_entity_to_json(seg, false, true);
  t_text = cJSON_PrintUnformatted(t);
  n = xr_entity_write(seg, false, true, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_string_equal(buf, t_text);
  cJSON_free(t_text);
  cJSON_Delete(t);
  xr_entity_free(seg);
}

/* Too small a buffer: -EMSGSIZE, and nothing written past the
 * XR_WRITE_SLACK scratch bytes the contract reserves after cap. */
static void test_write_cap(void **state)
{
  struct xr_entity *seg = rich("http://example.com/", "boom");
  char buf[8192];
  int full, n;
  size_t cap;
  (void)state;
  full = xr_entity_write(seg, false, true, buf, sizeof(buf) - XR_WRITE_SLACK);
  assert_true(full > 0);
  for (cap = 0; cap < (size_t)full; cap++) {
    memset(buf, 'Z', sizeof(buf));
    n = xr_entity_write(seg, false, true, buf, cap);
    if (n != -EMSGSIZE)
      fail_msg("cap %zu of %d: got %d", cap, full, n);
    assert_int_equal(buf[cap + XR_WRITE_SLACK], 'Z');
  }
  /* The exact size is enough: "no NUL needed, none counted". */
  memset(buf, 'Z', sizeof(buf));
  n = xr_entity_write(seg, false, true, buf, (size_t)full);
  assert_int_equal(n, full);
  assert_int_equal(buf[full + XR_WRITE_SLACK], 'Z');
  xr_entity_free(seg);
}

/* Exactly cap bytes fit, whatever part comes last. Regression (a bug these
 * tests found): src/docwrite.c xr_put_cjson() gave cJSON_PrintPreallocated
 * only the room left up to cap; cJSON needs room for its NUL and a spare
 * byte, so a document ending with a cJSON part (metadata, cause,
 * annotations, ...) got -EMSGSIZE at cap == length, against the contract
 * ("-EMSGSIZE when it does not fit"). Fixed with XR_WRITE_SLACK. */
static void test_write_cap_exact_cjson_last(void **state)
{
  struct xr_entity *e = new_entity(false, "x");
  char buf[4096];
  int full;
  (void)state;
  e->end_us = e->start_us + 1;
  cJSON_AddStringToObject(xr_json_child(xr_json_slot(&e->metadata), "default"), "k", "v");
  full = xr_entity_write(e, true, false, buf, sizeof(buf) - XR_WRITE_SLACK);
  assert_true(full > 0);
  assert_int_equal(buf[full - 1], '}');
  assert_int_equal(xr_entity_write(e, true, false, buf, (size_t)full), full);
  xr_entity_free(e);
}

/* Typed strings are escaped; invalid bytes become U+FFFD. */
static void test_write_escapes(void **state)
{
  struct xr_entity *e = new_entity(false, "x");
  cJSON *w, *req;
  (void)state;
  e->end_us = e->start_us + 1;
  e->http.has_request = true;
  strcpy(e->http.method, "GET");
  e->http.url = strdup("http://h/a\"b\\c\x01" "d\x1f" "e\xff" "f\xc3\xa9g\xe2\x82");
  w = written(e, true, false, NULL);
  req = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(w, "http"), "request");
  assert_string_equal(ut_str(req, "url"),
                      "http://h/a\"b\\c\x01" "d\x1f" "e\xef\xbf\xbd" "f\xc3\xa9g\xef\xbf\xbd\xef\xbf\xbd");
  cJSON_Delete(w);
  xr_entity_free(e);
}

/* Regression (a bug these tests found): src/utf8.h xr_utf8_seq() accepted
 * overlong forms, surrogates and code points above U+10FFFF, so
 * src/docwrite.c xr_put_str() copied them into the document verbatim and
 * the datagram was not valid UTF-8 (its contract: invalid UTF-8 replaced). */
static void test_write_strict_utf8(void **state)
{
  struct xr_entity *e = new_entity(false, "x");
  static char buf[4096];
  int n;
  (void)state;
  e->end_us = e->start_us + 1;
  e->http.has_request = true;
  strcpy(e->http.method, "GET");
  e->http.url = strdup("http://h/\xed\xa0\x80/\xe0\x80\xaf/\xf4\x90\x80\x80");
  n = xr_entity_write(e, true, false, buf, sizeof(buf) - XR_WRITE_SLACK);
  assert_true(n > 0);
  assert_true(ut_utf8_valid(buf, (size_t)n));
  xr_entity_free(e);
}

/* Regression (a bug these tests found): src/docwrite.c writes the
 * free-form parts (cause, annotations, metadata, aws, sql) with
 * cJSON_PrintPreallocated, which copies string bytes as they are: an
 * exception message holding an invalid byte (e.g. a curl error quoting a
 * host name) made the document invalid UTF-8, although docwrite.c promises
 * invalid UTF-8 is replaced. */
static void test_write_cause_utf8(void **state)
{
  struct xr_entity *e = new_entity(false, "x");
  static char buf[4096];
  int n;
  (void)state;
  e->end_us = e->start_us + 1;
  assert_int_equal(xr_entity_add_exception(e, "CURLE_COULDNT_RESOLVE_HOST",
                                           "Could not resolve host: h\xff\xfe", false),
                   0);
  n = xr_entity_write(e, true, false, buf, sizeof(buf) - XR_WRITE_SLACK);
  assert_true(n > 0);
  assert_true(ut_utf8_valid(buf, (size_t)n));
  xr_entity_free(e);
}

/* The escaping writer works 8 bytes at a time (src/docwrite.c): every
 * byte that needs care, at every offset around the chunk boundaries and
 * at the end of strings of every length up to 40, is written as the
 * byte-by-byte reference below writes it. */
static size_t ref_escape(const char *str, char *out)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t o = 0, n;
  out[o++] = '"';
  while (*s) {
    unsigned char c = *s;
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      out[o++] = (char)*s++;
    } else if (c >= 0x80 && (n = xr_utf8_seq(s)) != 0) {
      memcpy(out + o, s, n);
      o += n;
      s += n;
    } else {
      if (c == '"' || c == '\\') {
        out[o++] = '\\';
        out[o++] = (char)c;
      } else if (c < 0x20) {
        memcpy(out + o, "\\u00", 4);
        out[o + 4] = hex[c >> 4];
        out[o + 5] = hex[c & 0xf];
        o += 6;
      } else {
        memcpy(out + o, "\xef\xbf\xbd", 3);
        o += 3;
      }
      s++;
    }
  }
  out[o++] = '"';
  out[o] = '\0';
  return o;
}

static void test_write_escapes_every_offset(void **state)
{
  static const char *const odd[] = {"\"", "\\", "\x01", "\x1f", "\n", "\x7f", "\x80",
                                    "\xff", "\xc3\xa9", "\xe2\x82", "\xf0\x9f\x98\x80",
                                    "\xed\xa0\x80", " "};
  struct xr_entity *e = new_entity(false, "x");
  char url[64], want[512], key[600];
  static char buf[4096];
  size_t len, at, k;
  int n;
  (void)state;
  e->end_us = e->start_us + 1;
  e->http.has_request = true;
  strcpy(e->http.method, "GET");
  e->http.url = url;
  for (len = 0; len <= 40; len++) {
    for (at = 0; at <= len; at++) {
      for (k = 0; k < XR_ARRAY_SIZE(odd); k++) {
        size_t i, ol = strlen(odd[k]);
        for (i = 0; i < len; i++)
          url[i] = (char)('a' + i % 26);
        url[len] = '\0';
        if (at < len) {
          memcpy(url + at, odd[k], ol);
          url[at + ol > len ? at + ol : len] = '\0';
        }
        ref_escape(url, want);
        snprintf(key, sizeof(key), "\"url\":%s", want);
        n = xr_entity_write(e, true, false, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        if (!strstr(buf, key))
          fail_msg("len %zu, %s at %zu: want %s in %s", len, odd[k], at, key, buf);
      }
    }
  }
  e->http.url = NULL;
  xr_entity_free(e);
}

/* Names up to XR_NAME_INLINE - 1 bytes live in the entity, longer ones on
 * the heap: the same sanitized name either way, renaming in both
 * directions, and the document carries it. */
static void test_name_lengths(void **state)
{
  static const size_t lens[] = {0, 1, 94, 95, 96, 97, 150, 199, 200, 201, 400};
  char in[1000], want[XR_NAME_MAX_BYTES + 1];
  struct xr_entity *e = new_entity(true, "first");
  size_t i, j;
  cJSON *w;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(lens); i++) {
    for (j = 0; j < lens[i]; j++)
      in[j] = (char)('a' + j % 26);
    in[lens[i]] = '\0';
    if (xr_sanitize_name(in, want, sizeof(want)) == 0)
      strcpy(want, "unknown");
    xr_entity_set_name(e, in);
    assert_string_equal(e->name, want);
    w = written(e, false, false, NULL);
    assert_string_equal(ut_str(w, "name"), want);
    cJSON_Delete(w);
  }
  /* 200 four-byte characters: 800 bytes, the longest name. */
  for (j = 0; j < 250; j++)
    memcpy(in + 4 * j, "\xf0\x9f\x98\x80", 4);
  in[1000 - 1] = '\0';
  in[4 * 249] = '\0';
  xr_entity_set_name(e, in);
  assert_int_equal(strlen(e->name), XR_NAME_MAX_BYTES);
  /* Its own name again, from the heap and then in place. */
  xr_entity_set_name(e, e->name);
  assert_int_equal(strlen(e->name), XR_NAME_MAX_BYTES);
  assert_memory_equal(e->name, "\xf0\x9f\x98\x80", 4);
  xr_entity_set_name(e, "own name");
  xr_entity_set_name(e, e->name);
  assert_string_equal(e->name, "own name");
  xr_entity_set_name(e, "short \x01" "again");
  assert_string_equal(e->name, "short again");
  xr_entity_set_name(e, "");
  assert_string_equal(e->name, "unknown");
  xr_entity_free(e);
}

/* Times: six decimals, whatever the seconds (formatted once per second per
 * thread and reused), and across a change of second. */
static void test_write_times(void **state)
{
  static const int64_t us[] = {0, 1, 999999, 1000000, 1000001, 1700000000123456LL,
                               1700000000999999LL, 1700000001000000LL, 9999999999000001LL,
                               1700000000000000LL};
  struct xr_entity *e = new_entity(false, "x");
  char want[64], *text;
  size_t i;
  cJSON *w;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(us); i++) {
    e->start_us = us[i];
    e->end_us = us[i] + 1;
    w = written(e, true, false, &text);
    snprintf(want, sizeof(want), "\"start_time\":%lld.%06lld,", (long long)(us[i] / 1000000),
             (long long)(us[i] % 1000000));
    if (!strstr(text, want))
      fail_msg("want %s in %s", want, text);
    snprintf(want, sizeof(want), "\"end_time\":%lld.%06lld}", (long long)((us[i] + 1) / 1000000),
             (long long)((us[i] + 1) % 1000000));
    if (!strstr(text, want))
      fail_msg("want %s in %s", want, text);
    cJSON_Delete(w);
  }
  xr_entity_free(e);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_defaults),
      cmocka_unit_test(test_set_name),
      cmocka_unit_test(test_status_flags_table),
      cmocka_unit_test(test_add_exception),
      cmocka_unit_test(test_segment_shape),
      cmocka_unit_test(test_time_text),
      cmocka_unit_test(test_in_progress),
      cmocka_unit_test(test_nested_subsegments),
      cmocka_unit_test(test_independent_subsegment),
      cmocka_unit_test(test_json_slot_child),
      cmocka_unit_test(test_write_matches_tree),
      cmocka_unit_test(test_write_bytes_match_tree),
      cmocka_unit_test(test_write_cap),
      cmocka_unit_test(test_write_cap_exact_cjson_last),
      cmocka_unit_test(test_write_escapes),
      cmocka_unit_test(test_write_strict_utf8),
      cmocka_unit_test(test_write_cause_utf8),
      cmocka_unit_test(test_write_escapes_every_offset),
      cmocka_unit_test(test_name_lengths),
      cmocka_unit_test(test_write_times),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
