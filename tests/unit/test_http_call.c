/* src/http_call.c: one HTTP exchange recorded as a subsegment. */
#include "util.h"

#include "../../src/aws.h"
#include "../../src/entity.h"
#include "../../src/http_call.h"
#include "../../src/ids.h"

#include <errno.h>

#define TRACE "1-5759e988-bd862e3fe1be46a994272793"

struct doc {
  cJSON *root, *req, *resp, *aws;
  char *text;
};

/* Records c on a fresh subsegment; the document as xr_entity_write writes
 * it (what goes on the wire), checked against xr_entity_to_json. */
static struct doc record(const struct xr_http_call *c, int want_rc)
{
  static char buf[65536];
  struct xr_entity *sub = xr_entity_new(false, NULL);
  struct doc d;
  cJSON *tree, *tree_back, *http;
  char *tree_text;
  int n;

  assert_non_null(sub);
  strcpy(sub->trace_id, TRACE);
  strcpy(sub->parent_id, "53995c3f42cd8ad8");
  assert_int_equal(xr_http_record(sub, c), want_rc);
  sub->end_us = sub->start_us + 100;
  n = xr_entity_write(sub, true, false, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  assert_true(n > 0);
  buf[n] = '\0';
  d.root = cJSON_Parse(buf);
  if (!d.root)
    fail_msg("not JSON: %s", buf);
  d.text = strdup(buf);
  tree = xr_entity_to_json(sub, true, false);
  tree_text = cJSON_PrintUnformatted(tree);
  tree_back = cJSON_Parse(tree_text);
  if (!cJSON_Compare(tree_back, d.root, 1))
    fail_msg("write and tree differ:\n%s\n%s", buf, tree_text);
  cJSON_Delete(tree_back);
  cJSON_free(tree_text);
  cJSON_Delete(tree);
  xr_entity_free(sub);
  http = cJSON_GetObjectItemCaseSensitive(d.root, "http");
  d.req = cJSON_GetObjectItemCaseSensitive(http, "request");
  d.resp = cJSON_GetObjectItemCaseSensitive(http, "response");
  d.aws = cJSON_GetObjectItemCaseSensitive(d.root, "aws");
  return d;
}

static void doc_free(struct doc *d)
{
  cJSON_Delete(d->root);
  free(d->text);
}

static struct xr_http_call call(const char *method, const char *url, long status)
{
  struct xr_http_call c;
  memset(&c, 0, sizeof(c));
  c.method = method;
  c.url = url;
  c.status = status;
  c.content_length = -1;
  return c;
}

static void test_status_table(void **state)
{
  static const struct {
    long status;
    bool error, throttle, fault;
  } cases[] = {
      {200, false, false, false},
      {404, true, false, false},
      {429, true, true, false},
      {500, false, false, true},
      {503, false, false, true},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_http_call c = call("GET", "http://example.com/items/1", cases[i].status);
    struct doc d = record(&c, 0);
    print_message("  status %ld\n", cases[i].status);
    assert_string_equal(ut_str(d.root, "name"), "example.com");
    assert_string_equal(ut_str(d.root, "namespace"), "remote");
    assert_string_equal(ut_str(d.req, "method"), "GET");
    assert_string_equal(ut_str(d.req, "url"), "http://example.com/items/1");
    assert_true(ut_num(d.resp, "status") == (double)cases[i].status);
    assert_null(cJSON_GetObjectItemCaseSensitive(d.resp, "content_length"));
    assert_int_equal(ut_is_true(d.root, "error"), cases[i].error);
    assert_int_equal(ut_is_true(d.root, "throttle"), cases[i].throttle);
    assert_int_equal(ut_is_true(d.root, "fault"), cases[i].fault);
    assert_null(cJSON_GetObjectItemCaseSensitive(d.root, "cause"));
    assert_null(d.aws);
    doc_free(&d);
  }
}

static void test_transport_error(void **state)
{
  struct xr_http_call c = call("GET", "http://127.0.0.1:1/", 0);
  struct doc d;
  cJSON *ex;
  (void)state;
  c.error_type = "CURLE_COULDNT_CONNECT";
  c.error_message = "Failed to connect to 127.0.0.1 port 1: Connection refused";
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "name"), "127.0.0.1");
  assert_true(ut_is_true(d.root, "fault"));
  assert_false(ut_is_true(d.root, "error"));
  assert_null(d.resp); /* no response, no content length */
  assert_string_equal(ut_str(d.req, "url"), "http://127.0.0.1:1/");
  ex = cJSON_GetArrayItem(
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d.root, "cause"),
                                       "exceptions"),
      0);
  assert_non_null(ex);
  assert_string_equal(ut_str(ex, "type"), "CURLE_COULDNT_CONNECT");
  assert_string_equal(ut_str(ex, "message"),
                      "Failed to connect to 127.0.0.1 port 1: Connection refused");
  assert_true(xr_is_entity_id(ut_str(ex, "id"), strlen(ut_str(ex, "id"))));
  doc_free(&d);
}

static void test_methods(void **state)
{
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"get", "GET"},   {"post", "POST"},     {"Put", "PUT"},     {"DELETE", "DELETE"},
      {NULL, "GET"},    {"", "GET"},          {"propfind", "PROPFIND"},
      {"m-search", "M-SEARCH"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_http_call c = call(cases[i].in, "http://h/", 200);
    struct doc d = record(&c, 0);
    assert_string_equal(ut_str(d.req, "method"), cases[i].out);
    doc_free(&d);
  }
}

static void test_url_scrubbed(void **state)
{
  static const char *const urls[] = {
      "https://user:hunter2@api.example.com:8443/v1/items?api_key=s3cr3t#frag",
      "https://user:hunter2@api.example.com:8443/v1/items#s3cr3t",
      "HTTPS://hunter2@API.example.com:8443/v1/items?x=s3cr3t",
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(urls); i++) {
    struct xr_http_call c = call("GET", urls[i], 200);
    struct doc d = record(&c, 0);
    assert_string_equal(ut_str(d.root, "name"), "api.example.com");
    assert_string_equal(ut_str(d.req, "url"), "https://api.example.com:8443/v1/items");
    assert_null(strstr(d.text, "hunter2"));
    assert_null(strstr(d.text, "s3cr3t"));
    assert_null(strstr(d.text, "user"));
    doc_free(&d);
  }
}

static void test_unparseable_url(void **state)
{
  struct xr_http_call c = call("GET", "http://[::1/x?secret", 200);
  struct doc d;
  (void)state;
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "name"), "unknown");
  assert_null(cJSON_GetObjectItemCaseSensitive(d.req, "url"));
  assert_null(strstr(d.text, "secret"));
  doc_free(&d);
  c.url = NULL;
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "name"), "unknown");
  doc_free(&d);
}

/* Longer than the recording buffer: cut, never with its query. */
static void test_long_url(void **state)
{
  static char url[6000];
  struct xr_http_call c;
  struct doc d;
  const char *got;
  size_t n;
  (void)state;
  n = (size_t)snprintf(url, sizeof(url), "http://example.com/");
  memset(url + n, 'p', 4000);
  n += 4000;
  snprintf(url + n, sizeof(url) - n, "?secret=1");
  c = call("GET", url, 200);
  d = record(&c, 0);
  got = ut_str(d.req, "url");
  assert_non_null(got);
  assert_true(strlen(got) < 2048);
  assert_memory_equal(got, url, strlen(got));
  assert_null(strstr(d.text, "secret"));
  doc_free(&d);
}

static void test_content_length(void **state)
{
  static const long long lens[] = {-1, 0, 1234, 5000000000LL};
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(lens); i++) {
    struct xr_http_call c = call("GET", "http://h/", 200);
    struct doc d;
    c.content_length = lens[i];
    d = record(&c, 0);
    if (lens[i] < 0)
      assert_null(cJSON_GetObjectItemCaseSensitive(d.resp, "content_length"));
    else
      assert_true(ut_num(d.resp, "content_length") == (double)lens[i]);
    doc_free(&d);
  }
  /* No status but a length: a response object with the length only. */
  {
    struct xr_http_call c = call("GET", "http://h/", 0);
    struct doc d;
    c.content_length = 10;
    d = record(&c, 0);
    assert_non_null(d.resp);
    assert_null(cJSON_GetObjectItemCaseSensitive(d.resp, "status"));
    assert_true(ut_num(d.resp, "content_length") == 10);
    doc_free(&d);
  }
}

static void test_aws_call(void **state)
{
  static const char body[] = "{\"TableName\": \"items\", \"Key\": {\"id\": {\"S\": \"1\"}}}";
  struct xr_aws_call a;
  struct xr_http_call c = call("post", "https://dynamodb.us-east-1.amazonaws.com/", 200);
  struct doc d;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_host("dynamodb.us-east-1.amazonaws.com", &a);
  xr_aws_from_target("DynamoDB_20120810.GetItem", &a);
  xr_aws_from_json(body, strlen(body), &a);
  c.aws = &a;
  c.request_id = "REQ123ABC";
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "namespace"), "aws");
  assert_string_equal(ut_str(d.root, "name"), "dynamodb");
  assert_string_equal(ut_str(d.aws, "operation"), "GetItem");
  assert_string_equal(ut_str(d.aws, "region"), "us-east-1");
  assert_string_equal(ut_str(d.aws, "request_id"), "REQ123ABC");
  assert_string_equal(ut_str(d.aws, "table_name"), "items");
  assert_null(cJSON_GetObjectItemCaseSensitive(d.aws, "queue_url"));
  assert_null(cJSON_GetObjectItemCaseSensitive(d.aws, "id_2"));
  assert_string_equal(ut_str(d.req, "method"), "POST");
  assert_true(ut_num(d.resp, "status") == 200);
  doc_free(&d);
}

static void test_aws_sqs_and_s3(void **state)
{
  static const char q[] =
      "Action=SendMessage&QueueUrl=https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F1%2Fq";
  struct xr_aws_call a;
  struct xr_http_call c = call("POST", "https://sqs.eu-west-1.amazonaws.com/", 200);
  struct doc d;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_host("sqs.eu-west-1.amazonaws.com", &a);
  xr_aws_from_params(q, strlen(q), &a);
  c.aws = &a;
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "name"), "sqs");
  assert_string_equal(ut_str(d.aws, "operation"), "SendMessage");
  assert_string_equal(ut_str(d.aws, "queue_url"), "https://sqs.eu-west-1.amazonaws.com/1/q");
  assert_string_equal(ut_str(d.aws, "region"), "eu-west-1");
  doc_free(&d);

  memset(&a, 0, sizeof(a));
  xr_aws_from_host("bucket.s3.us-west-2.amazonaws.com", &a);
  xr_aws_s3_operation("GET", true, true, &a);
  c = call("GET", "https://bucket.s3.us-west-2.amazonaws.com/key.txt", 404);
  c.aws = &a;
  c.request_id = "R1";
  c.id_2 = "ID2";
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "name"), "s3");
  assert_string_equal(ut_str(d.aws, "operation"), "GetObject");
  assert_string_equal(ut_str(d.aws, "id_2"), "ID2");
  assert_string_equal(ut_str(d.aws, "request_id"), "R1");
  assert_true(ut_is_true(d.root, "error"));
  doc_free(&d);
}

/* An aws struct that is not AWS: a plain remote call. */
static void test_not_aws(void **state)
{
  struct xr_aws_call a;
  struct xr_http_call c = call("GET", "https://example.com/", 200);
  struct doc d;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_host("example.com", &a);
  c.aws = &a;
  c.request_id = "R";
  d = record(&c, 0);
  assert_string_equal(ut_str(d.root, "namespace"), "remote");
  assert_string_equal(ut_str(d.root, "name"), "example.com");
  assert_null(d.aws);
  doc_free(&d);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_table),
      cmocka_unit_test(test_transport_error),
      cmocka_unit_test(test_methods),
      cmocka_unit_test(test_url_scrubbed),
      cmocka_unit_test(test_unparseable_url),
      cmocka_unit_test(test_long_url),
      cmocka_unit_test(test_content_length),
      cmocka_unit_test(test_aws_call),
      cmocka_unit_test(test_aws_sqs_and_s3),
      cmocka_unit_test(test_not_aws),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
