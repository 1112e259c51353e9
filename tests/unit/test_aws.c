/* src/aws.c: recognising AWS API calls. */
#include "util.h"

#include "../../src/aws.h"

struct host_case {
  const char *host;
  bool is_aws;
  const char *service;
  const char *region;
};

static void check_host(const struct host_case *c)
{
  struct xr_aws_call a;
  memset(&a, 0, sizeof(a));
  print_message("  %s\n", c->host);
  xr_aws_from_host(c->host, &a);
  assert_int_equal(a.is_aws, c->is_aws);
  if (!c->is_aws) {
    assert_string_equal(a.service, "");
    assert_string_equal(a.region, "");
    return;
  }
  assert_string_equal(a.service, c->service);
  assert_string_equal(a.region, c->region);
}

static void test_hosts(void **state)
{
  static const struct host_case cases[] = {
      {"dynamodb.us-east-1.amazonaws.com", true, "dynamodb", "us-east-1"},
      {"sqs.eu-west-1.amazonaws.com", true, "sqs", "eu-west-1"},
      {"s3.amazonaws.com", true, "s3", "us-east-1"},
      {"bucket.s3.amazonaws.com", true, "s3", "us-east-1"},
      {"bucket.s3.us-west-2.amazonaws.com", true, "s3", "us-west-2"},
      {"my.dotted.bucket.s3.eu-central-1.amazonaws.com", true, "s3", "eu-central-1"},
      {"ab-cd-9.s3.us-west-2.amazonaws.com", true, "s3", "us-west-2"},
      {"s3.dualstack.ap-south-1.amazonaws.com", true, "s3", "ap-south-1"},
      {"dynamodb-fips.us-gov-west-1.amazonaws.com", true, "dynamodb", "us-gov-west-1"},
      {"sts.amazonaws.com", true, "sts", "us-east-1"},
      {"iam.amazonaws.com", true, "iam", "us-east-1"},
      {"sts.ap-southeast-2.amazonaws.com", true, "sts", "ap-southeast-2"},
      {"lambda.cn-north-1.amazonaws.com.cn", true, "lambda", "cn-north-1"},
      {"example.com", false, NULL, NULL},
      {"evil-amazonaws.com", false, NULL, NULL},
      {"amazonaws.com", false, NULL, NULL},
      {"dynamodb.us-east-1.amazonaws.com.evil.com", false, NULL, NULL},
      {"amazonaws.com.cn", false, NULL, NULL},
      {"localhost", false, NULL, NULL},
      {"", false, NULL, NULL},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_aws_call a;
    if (cases[i].service) {
      check_host(&cases[i]);
      continue;
    }
    memset(&a, 0, sizeof(a));
    print_message("  %s\n", cases[i].host);
    xr_aws_from_host(cases[i].host, &a);
    assert_int_equal(a.is_aws, cases[i].is_aws);
    if (!cases[i].is_aws) {
      assert_string_equal(a.service, "");
      assert_string_equal(a.region, "");
    }
  }
}

/* Regression (a bug these tests found): src/aws.c xr_is_region() accepted
 * any label with a dash at index 2 ending in "-<digit>", so the legacy
 * endpoint label "s3-us-west-2" itself was taken as the region (region
 * "s3-us-west-2", service "") instead of s3 in us-west-2; the same for a
 * bucket named like "my-bucket-1" in virtual-hosted style and for
 * s3-external-1 (the legacy us-east-1 endpoint). */
static void test_hosts_region_like_labels(void **state)
{
  static const struct host_case cases[] = {
      {"s3-us-west-2.amazonaws.com", true, "s3", "us-west-2"},
      {"s3-eu-west-1.amazonaws.com", true, "s3", "eu-west-1"},
      {"my-bucket-1.s3.amazonaws.com", true, "s3", "us-east-1"},
      {"s3-external-1.amazonaws.com", true, "s3", "us-east-1"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++)
    check_host(&cases[i]);
}

#define SIGV4 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-west-2/dynamodb/aws4_request, " \
              "SignedHeaders=host;x-amz-date, Signature=abc0123456789secret"

static void assert_no_secret(const struct xr_aws_call *a)
{
  const char *fields[] = {a->service, a->region, a->operation, a->table_name, a->queue_url};
  size_t i;
  for (i = 0; i < XR_ARRAY_SIZE(fields); i++) {
    assert_null(strstr(fields[i], "AKID"));
    assert_null(strstr(fields[i], "secret"));
    assert_null(strstr(fields[i], "abc0123"));
    assert_null(strstr(fields[i], "Signature"));
    assert_null(strstr(fields[i], "20240101"));
  }
}

static void test_authorization(void **state)
{
  struct xr_aws_call a;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_authorization(SIGV4, &a);
  assert_true(a.is_aws);
  assert_string_equal(a.service, "dynamodb");
  assert_string_equal(a.region, "us-west-2");
  assert_string_equal(a.operation, "");
  assert_no_secret(&a);
  /* Scanning the whole struct: the secret bytes are nowhere. */
  assert_null(memmem(&a, sizeof(a), "AKIDEXAMPLE", 11));
  assert_null(memmem(&a, sizeof(a), "abc0123456789secret", 19));

  memset(&a, 0, sizeof(a));
  xr_aws_from_authorization("AWS4-HMAC-SHA256 Credential=K/20240101/eu-central-1/s3/aws4_request,"
                            "SignedHeaders=host,Signature=ff",
                            &a);
  assert_true(a.is_aws);
  assert_string_equal(a.service, "s3");
  assert_string_equal(a.region, "eu-central-1");
}

static void test_authorization_rejects(void **state)
{
  static const char *const bad[] = {
      NULL,
      "",
      "Basic dXNlcjpwYXNz",
      "Bearer AKID/20240101/us-west-2/dynamodb/aws4_request",
      "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc",
      "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/dynamodb, Signature=abc",
      "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-west-2/dynamodb/aws4_requesx, Signature=abc",
      "AWS4-HMAC-SHA256 Credential=AKID, Signature=a/b/c/d/aws4_request",
      "AWS AKID:signature",
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(bad); i++) {
    struct xr_aws_call a;
    memset(&a, 0, sizeof(a));
    print_message("  %s\n", bad[i] ? bad[i] : "(null)");
    xr_aws_from_authorization(bad[i], &a);
    assert_false(a.is_aws);
    assert_string_equal(a.service, "");
    assert_string_equal(a.region, "");
  }
}

static void test_target(void **state)
{
  static const struct {
    const char *in, *op;
  } cases[] = {
      {"DynamoDB_20120810.GetItem", "GetItem"},
      {"AmazonSQS.SendMessage", "SendMessage"},
      {"Kinesis_20131202.PutRecord", "PutRecord"},
      {"com.amazonaws.x.v1.Service.DoThing", "DoThing"},
      {"NoDot", "NoDot"},
      {"DynamoDB_20120810.Query\r\n", "Query"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_aws_call a;
    memset(&a, 0, sizeof(a));
    xr_aws_from_target(cases[i].in, &a);
    assert_string_equal(a.operation, cases[i].op);
  }
  {
    struct xr_aws_call a;
    memset(&a, 0, sizeof(a));
    xr_aws_from_target(NULL, &a);
    assert_string_equal(a.operation, "");
  }
}

static void test_params(void **state)
{
  static const char q[] =
      "Action=SendMessage&QueueUrl=https%3A%2F%2Fsqs.us-east-1.amazonaws.com%2F123456789012%2Fq"
      "&MessageBody=hello+world&Version=2012-11-05";
  struct xr_aws_call a;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_params(q, strlen(q), &a);
  assert_string_equal(a.operation, "SendMessage");
  assert_string_equal(a.queue_url, "https://sqs.us-east-1.amazonaws.com/123456789012/q");
  assert_string_equal(a.table_name, "");

  memset(&a, 0, sizeof(a));
  xr_aws_from_params("TableName=my%20table&Action=Scan", 32, &a);
  assert_string_equal(a.table_name, "my table");
  assert_string_equal(a.operation, "Scan");

  /* Keys are exact; a bad escape is kept literally; len is honoured. */
  memset(&a, 0, sizeof(a));
  xr_aws_from_params("XAction=Evil&Actions=Bad&Action=Get%zzObj%4", 43, &a);
  assert_string_equal(a.operation, "Get%zzObj%4");
  memset(&a, 0, sizeof(a));
  xr_aws_from_params("Action=ListQueues&Action=ignored", 17, &a);
  assert_string_equal(a.operation, "ListQueues");
  memset(&a, 0, sizeof(a));
  xr_aws_from_params("Action", 6, &a);
  xr_aws_from_params(NULL, 10, &a);
  assert_string_equal(a.operation, "");
}

/* Long values are cut to the field, never overflow. */
static void test_params_bounded(void **state)
{
  static char q[20000];
  struct xr_aws_call a;
  size_t n;
  (void)state;
  n = (size_t)snprintf(q, sizeof(q), "Action=");
  memset(q + n, 'A', 1000);
  n += 1000;
  n += (size_t)snprintf(q + n, sizeof(q) - n, "&QueueUrl=");
  memset(q + n, 'q', 5000);
  n += 5000;
  q[n] = '\0';
  memset(&a, 0x55, sizeof(a));
  a.operation[0] = a.queue_url[0] = '\0';
  xr_aws_from_params(q, n, &a);
  assert_int_equal(strlen(a.operation), sizeof(a.operation) - 1);
  assert_int_equal(strlen(a.queue_url), sizeof(a.queue_url) - 1);
}

static void test_json_body(void **state)
{
  static const char body[] =
      "{\"TableName\": \"items\", \"Key\": {\"id\": {\"S\": \"1\"}},\n"
      "  \"QueueUrl\" :\t\"https://sqs.eu-west-1.amazonaws.com/1/q\"}";
  struct xr_aws_call a;
  (void)state;
  memset(&a, 0, sizeof(a));
  xr_aws_from_json(body, strlen(body), &a);
  assert_string_equal(a.table_name, "items");
  assert_string_equal(a.queue_url, "https://sqs.eu-west-1.amazonaws.com/1/q");

  /* Already known (from params): kept. */
  memset(&a, 0, sizeof(a));
  strcpy(a.table_name, "from-params");
  xr_aws_from_json(body, strlen(body), &a);
  assert_string_equal(a.table_name, "from-params");

  /* Not a string, escaped, cut by len, or absent: nothing. */
  memset(&a, 0, sizeof(a));
  xr_aws_from_json("{\"TableName\": 5}", 16, &a);
  assert_string_equal(a.table_name, "");
  xr_aws_from_json("{\"TableName\": \"a\\\"b\"}", 21, &a);
  assert_string_equal(a.table_name, "");
  xr_aws_from_json("{\"TableName\": \"items\"}", 18, &a);
  assert_string_equal(a.table_name, "");
  xr_aws_from_json("{\"Table\": \"items\"}", 18, &a);
  assert_string_equal(a.table_name, "");
  xr_aws_from_json(NULL, 5, &a);
  assert_string_equal(a.table_name, "");
}

static void test_s3_operation(void **state)
{
  static const struct {
    const char *method;
    bool key, bucket;
    const char *op;
  } cases[] = {
      {"GET", false, false, "ListBuckets"},
      {"GET", false, true, "ListObjects"},
      {"PUT", false, true, "CreateBucket"},
      {"DELETE", false, true, "DeleteBucket"},
      {"HEAD", false, true, "HeadBucket"},
      {"GET", true, true, "GetObject"},
      {"get", true, true, "GetObject"},
      {"PUT", true, true, "PutObject"},
      {"DELETE", true, true, "DeleteObject"},
      {"HEAD", true, true, "HeadObject"},
      {"POST", true, true, ""},
      {"PUT", false, false, ""},
      {NULL, true, true, ""},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_aws_call a;
    memset(&a, 0, sizeof(a));
    xr_aws_s3_operation(cases[i].method, cases[i].key, cases[i].bucket, &a);
    assert_string_equal(a.operation, cases[i].op);
  }
  {
    /* A known operation is kept. */
    struct xr_aws_call a;
    memset(&a, 0, sizeof(a));
    strcpy(a.operation, "PutObjectTagging");
    xr_aws_s3_operation("PUT", true, true, &a);
    assert_string_equal(a.operation, "PutObjectTagging");
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hosts),
      cmocka_unit_test(test_hosts_region_like_labels),
      cmocka_unit_test(test_authorization),
      cmocka_unit_test(test_authorization_rejects),
      cmocka_unit_test(test_target),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_params_bounded),
      cmocka_unit_test(test_json_body),
      cmocka_unit_test(test_s3_operation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
