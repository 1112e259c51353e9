/* src/lambda.c and the tracer's Lambda mode: the invocation context from
 * the Runtime API (read off its connection by net_conn.c) and from
 * _X_AMZN_TRACE_ID; subsegments sent on their own under Lambda's function
 * segment; nothing outside an invocation. Its own executable: the mode is
 * process-wide. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/http_sniff.h"
#include "../../src/ids.h"
#include "../../src/lambda.h"
#include "../../src/net_conn.h"
#include "../../src/net_fail.h"
#include "../../src/tracer.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#define ROOT1 "1-5759e988-bd862e3fe1be46a994272793"
#define ROOT2 "1-6759e988-0d862e3fe1be46a994272794"
#define ROOT3 "1-7759e988-1d862e3fe1be46a994272795"
#define PARENT1 "53995c3f42cd8ad8"
#define PARENT2 "63995c3f42cd8ad9"
#define PARENT3 "73995c3f42cd8ada"
#define LINEAGE "Lineage=a87bd80c:1|68fd508a:5"

static void init_lambda(void)
{
  static const char *const env[] = {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001",
                                    "XRAY_AUTO_SEGMENT", "process", NULL};
  ut_tracer_init(env, "bootstrap");
}

static int setup(void **state)
{
  (void)state;
  unsetenv("_X_AMZN_TRACE_ID");
  init_lambda();
  (void)ut_udp_drain(ut_rx);
  return 0;
}

static void next(const char *header)
{
  xr_lambda_next(header, strlen(header));
}

/* One call: begins, ends, returns its downstream header; the document it
 * sent (or NULL when none came). */
static cJSON *one_call(char header[XR_HEADER_MAX])
{
  struct xr_span sp;

  assert_int_equal(xr_span_begin(&sp), 0);
  strcpy(header, sp.header);
  xr_span_end(&sp);
  return ut_recv_doc(ut_rx, 300);
}

static void assert_subsegment_of(const cJSON *doc, const char *root,
                                  const char *parent)
{
  assert_non_null(doc);
  assert_string_equal(ut_str(doc, "type"), "subsegment");
  assert_string_equal(ut_str(doc, "trace_id"), root);
  assert_string_equal(ut_str(doc, "parent_id"), parent);
  assert_true(xr_is_entity_id(ut_str(doc, "id"), 16));
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "in_progress"));
}

static void test_classify(void **state)
{
  (void)state;
  assert_int_equal(xr_lambda_classify("GET", "/2018-06-01/runtime/invocation/next"),
                   XR_LAMBDA_NEXT);
  assert_int_equal(xr_lambda_classify("GET", "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"),
                   XR_LAMBDA_NEXT);
  assert_int_equal(xr_lambda_classify("POST", "/2018-06-01/runtime/invocation/8476a536/response"),
                   XR_LAMBDA_DONE);
  assert_int_equal(xr_lambda_classify("POST", "/2018-06-01/runtime/invocation/8476a536/error"),
                   XR_LAMBDA_DONE);
  assert_int_equal(xr_lambda_classify("POST", "/2018-06-01/runtime/init/error"),
                   XR_LAMBDA_OTHER);
  assert_int_equal(xr_lambda_classify("POST", "/2018-06-01/runtime/invocation/next"),
                   XR_LAMBDA_OTHER);
  assert_int_equal(xr_lambda_classify("GET", "/2018-06-01/runtime/invocation/nextx"),
                   XR_LAMBDA_OTHER);
  assert_int_equal(xr_lambda_classify("GET", "/"), XR_LAMBDA_OTHER);
}

static void test_is_api(void **state)
{
  struct xr_endpoint api = {"127.0.0.1", 9001}, named = {"LocalHost", 9001};
  (void)state;
  assert_true(xr_lambda_is_api(&api, "127.0.0.1", "", 9001));
  assert_false(xr_lambda_is_api(&api, "127.0.0.1", "", 9002));
  assert_false(xr_lambda_is_api(&api, "127.0.0.2", "", 9001));
  assert_true(xr_lambda_is_api(&named, "::1", "localhost", 9001));
  assert_false(xr_lambda_is_api(&named, "::1", "", 9001));
}

/* Before the first NEXT answer nothing is traced and no header goes out. */
static void test_outside_invocation(void **state)
{
  struct xr_span sp;
  char buf[XR_HEADER_MAX];
  (void)state;

  assert_int_equal(xr_span_begin(&sp), -ENOENT);
  assert_int_equal(xr_context_header(buf, sizeof(buf)), -ENOENT);
  /* The C API's segments belong to Lambda there; so do inbound ones. */
  assert_int_equal(xr_thread_segment_begin(NULL, NULL), -ENOTSUP);
  assert_null(xr_inbound_begin(NULL, 0, 0, &sp));
  ut_expect_silence(ut_rx, 100);
}

static void test_invocations(void **state)
{
  char header[XR_HEADER_MAX], expect[XR_HEADER_MAX], buf[XR_HEADER_MAX];
  struct xr_span late;
  cJSON *doc;
  (void)state;

  next("Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1;" LINEAGE);
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT1, PARENT1);
  /* Downstream: the subsegment is the parent; Lineage passes through. */
  snprintf(expect, sizeof(expect), "Root=%s;Parent=%s;Sampled=1;%s", ROOT1,
           ut_str(doc, "id"), LINEAGE);
  assert_string_equal(header, expect);
  cJSON_Delete(doc);
  ut_expect_silence(ut_rx, 50); /* no segment of our own, ever */

  /* The C API's header names the function segment as Parent. */
  assert_true(xr_context_header(buf, sizeof(buf)) > 0);
  assert_string_equal(buf, "Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1;" LINEAGE);

  /* A call open when the invocation ends keeps its invocation. */
  assert_int_equal(xr_span_begin(&late), 0);
  xr_lambda_end();
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);
  next("Root=" ROOT2 ";Parent=" PARENT2 ";Sampled=1");
  xr_span_end(&late);
  doc = ut_recv_doc(ut_rx, 300);
  assert_subsegment_of(doc, ROOT1, PARENT1);
  cJSON_Delete(doc);

  doc = one_call(header);
  assert_subsegment_of(doc, ROOT2, PARENT2);
  cJSON_Delete(doc);
  xr_lambda_end();
}

static void test_unsampled_and_passthrough(void **state)
{
  char header[XR_HEADER_MAX];
  cJSON *doc;
  (void)state;

  next("Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=0");
  doc = one_call(header);
  assert_null(doc);
  assert_memory_equal(header, "Root=" ROOT1 ";Parent=", 5 + 35 + 8);
  assert_string_equal(header + strlen(header) - 10, ";Sampled=0");

  /* Root only (PassThrough): downstream keeps the Root, unsampled. */
  next("Root=" ROOT2);
  doc = one_call(header);
  assert_null(doc);
  assert_memory_equal(header, "Root=" ROOT2 ";Parent=", 5 + 35 + 8);
  assert_string_equal(header + strlen(header) - 10, ";Sampled=0");

  /* A malformed header: no context at all. */
  next("garbage");
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);
  ut_expect_silence(ut_rx, 50);
}

/* A runtime that exports _X_AMZN_TRACE_ID itself: a change wins over an
 * older NEXT answer, a NEXT answer over an unchanged variable. */
static void test_environment(void **state)
{
  char header[XR_HEADER_MAX];
  cJSON *doc;
  (void)state;

  setenv("_X_AMZN_TRACE_ID", "Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1", 1);
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT1, PARENT1);
  cJSON_Delete(doc);

  next("Root=" ROOT2 ";Parent=" PARENT2 ";Sampled=1");
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT2, PARENT2);
  cJSON_Delete(doc);

  setenv("_X_AMZN_TRACE_ID", "Root=" ROOT3 ";Parent=" PARENT3 ";Sampled=1", 1);
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT3, PARENT3);
  cJSON_Delete(doc);

  /* The invocation ended; the stale variable does not revive it. */
  xr_lambda_end();
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);

  /* Unsetting it ends an invocation it started. */
  setenv("_X_AMZN_TRACE_ID", "Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1", 1);
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT1, PARENT1);
  cJSON_Delete(doc);
  unsetenv("_X_AMZN_TRACE_ID");
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);
}

/* A handler process started with the variable: its first context. */
static void test_inherited(void **state)
{
  char header[XR_HEADER_MAX];
  cJSON *doc;
  (void)state;

  setenv("_X_AMZN_TRACE_ID", "Root=" ROOT3 ";Parent=" PARENT3 ";Sampled=1", 1);
  init_lambda();
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT3, PARENT3);
  cJSON_Delete(doc);
  unsetenv("_X_AMZN_TRACE_ID");
}

/* A connect failure held (later addresses of its lookup remain) keeps the
 * invocation it happened in, whenever it is sent. */
static void test_held_failure(void **state)
{
  struct xr_connect_failure f = {.name = "db.internal", .addr = "10.0.0.1",
                                 .port = 5432, .err = ECONNREFUSED,
                                 .hit = {.list_id = 7, .index = 0, .count = 2}};
  cJSON *doc;
  (void)state;

  next("Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1");
  f.start_us = 1;
  xr_net_connect_failed(&f);
  ut_expect_silence(ut_rx, 50); /* held: the program may try the next address */
  xr_lambda_end();
  next("Root=" ROOT2 ";Parent=" PARENT2 ";Sampled=1");
  xr_net_fail_flush();
  doc = ut_recv_doc(ut_rx, 300);
  assert_subsegment_of(doc, ROOT1, PARENT1);
  assert_string_equal(ut_str(doc, "name"), "db.internal");
  cJSON_Delete(doc);
  xr_lambda_end();
}

/* ---- the Runtime API connection, as the sockets layer feeds it -------- */

static void feed(struct xr_conn *c, bool out, const char *bytes, bool bytewise)
{
  size_t n = strlen(bytes), i;
  char *copy = strdup(bytes);
  struct iovec iov;

  assert_non_null(copy);
  for (i = 0; i < n; i += bytewise ? 1 : n) {
    iov.iov_base = copy + i;
    iov.iov_len = bytewise ? 1 : n;
    (out ? xr_conn_sent : xr_conn_received)(c, &iov, 1, iov.iov_len);
  }
  free(copy);
}

static void runtime_exchange(bool bytewise)
{
  static const char next_req[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n"
                                 "Host: 127.0.0.1:9001\r\nAccept: */*\r\n\r\n";
  static const char next_resp[] =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
      "Lambda-Runtime-Aws-Request-Id: 8476a536\r\n"
      "lambda-runtime-trace-id:  Root=" ROOT2 ";Parent=" PARENT2 ";Sampled=1 \r\n"
      "Content-Length: 2\r\n\r\n{}";
  static const char done_req[] =
      "POST /2018-06-01/runtime/invocation/8476a536/response HTTP/1.1\r\n"
      "Host: 127.0.0.1:9001\r\nContent-Length: 2\r\n\r\nok";
  static const char done_resp[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(9001),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct xr_conn *c = calloc(1, sizeof(*c));
  char header[XR_HEADER_MAX];
  cJSON *doc;

  assert_non_null(c);
  xr_conn_runtime_init(c, (struct sockaddr *)&sa);
  next("Root=" ROOT1 ";Parent=" PARENT1 ";Sampled=1"); /* the previous one */
  feed(c, true, next_req, bytewise);
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);
  feed(c, false, next_resp, bytewise);
  doc = one_call(header);
  assert_subsegment_of(doc, ROOT2, PARENT2);
  cJSON_Delete(doc);
  feed(c, true, done_req, bytewise);
  assert_int_equal(xr_span_begin(&(struct xr_span){0}), -ENOENT);
  feed(c, false, done_resp, bytewise);
  assert_true(xr_conn_active(c));
  /* The Runtime API itself is never a document, even when it breaks. */
  feed(c, true, next_req, bytewise);
  xr_conn_error(c, ECONNRESET);
  xr_conn_finish(c);
  ut_expect_silence(ut_rx, 100);
  free(c);
}

static void test_runtime_connection(void **state)
{
  (void)state;
  runtime_exchange(false);
  runtime_exchange(true);
}

/* The SDKs' rule: no centralized sampling in Lambda (no poller, ever). */
static void test_no_centralized_sampling(void **state)
{
  static const char *const lambda[] = {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001",
                                       "XRAY_AUTO_SAMPLING", "centralized", NULL};
  static const char *const host[] = {"XRAY_AUTO_SAMPLING", "centralized", NULL};

  (void)state;
  ut_tracer_init(host, "server");
  assert_int_equal(xr_tracer_config()->sampling, XR_SAMPLING_CENTRALIZED);
  ut_tracer_init(lambda, "bootstrap");
  assert_int_equal(xr_tracer_config()->sampling, XR_SAMPLING_DEFAULT);
  init_lambda();
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify),
      cmocka_unit_test(test_is_api),
      cmocka_unit_test_setup(test_outside_invocation, setup),
      cmocka_unit_test_setup(test_invocations, setup),
      cmocka_unit_test_setup(test_unsampled_and_passthrough, setup),
      cmocka_unit_test_setup(test_environment, setup),
      cmocka_unit_test_setup(test_inherited, setup),
      cmocka_unit_test_setup(test_held_failure, setup),
      cmocka_unit_test_setup(test_runtime_connection, setup),
      cmocka_unit_test_setup(test_no_centralized_sampling, setup),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
