/* src/plugins_parse.c, the fragment in documents (docwrite.c, entity.c) and
 * the XRAY_AUTO_PLUGINS configuration. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/plugins.h"

#include <errno.h>
#include <string.h>

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID64B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

#define LEN(s) (sizeof(s) - 1)
/* A literal and its length. */
#define J(s) s, LEN(s)

static const char *str_of(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_member(const cJSON *o, const char *key, const char *want)
{
  const char *got = str_of(o, key);
  if (!got || strcmp(got, want) != 0)
    fail_msg("%s: got \"%s\", want \"%s\"", key, got ? got : "(absent)", want);
}

static void assert_absent(const cJSON *o, const char *key)
{
  if (cJSON_GetObjectItemCaseSensitive(o, key))
    fail_msg("%s: present, want absent", key);
}

static const char ecs_container[] =
    "{\"DockerId\":\"ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66\","
    "\"Name\":\"curl\",\"DockerName\":\"ecs-curltest-24-curl-cca48e8dcadd97805600\","
    "\"Labels\":{\"com.amazonaws.ecs.cluster\":\"arn:aws:ecs:us-west-2:111122223333:cluster/default\","
    "\"com.amazonaws.ecs.task-arn\":\"arn:aws:ecs:us-west-2:111122223333:task/default/8f03e41243824aea923aca126495f665\","
    "\"com.amazonaws.ecs.task-definition-family\":\"curltest\"},"
    "\"ContainerARN\":\"arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9\","
    "\"Networks\":[{\"NetworkMode\":\"awsvpc\",\"IPv4Addresses\":[\"10.0.2.106\"]}]}";
static const char ecs_task[] =
    "{\"Cluster\":\"arn:aws:ecs:us-west-2:111122223333:cluster/prod\","
    "\"TaskARN\":\"arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c\","
    "\"Family\":\"web\",\"Revision\":\"26\",\"DesiredStatus\":\"RUNNING\","
    "\"LaunchType\":\"FARGATE\",\"AvailabilityZone\":\"us-west-2d\",\"Containers\":[]}";

static void test_ecs(void **state)
{
  cJSON *o;
  (void)state;

  o = xr_ecs_parse(ecs_container, LEN(ecs_container), ecs_task, LEN(ecs_task), "ip-10-0-2-106");
  assert_non_null(o);
  assert_member(o, "container", "ip-10-0-2-106");
  assert_member(o, "container_id",
                "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66");
  assert_member(o, "container_arn",
                "arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab-86c6-a0ba208a70a9");
  /* The task document wins over the labels. */
  assert_member(o, "task_arn",
                "arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c");
  assert_member(o, "task_family", "web");
  assert_member(o, "cluster_arn", "arn:aws:ecs:us-west-2:111122223333:cluster/prod");
  assert_absent(o, "cluster");
  assert_member(o, "launch_type", "FARGATE");
  assert_member(o, "availability_zone", "us-west-2d");
  cJSON_Delete(o);

  /* No task document: the labels. */
  o = xr_ecs_parse(ecs_container, LEN(ecs_container), NULL, 0, "");
  assert_non_null(o);
  assert_absent(o, "container");
  assert_member(o, "task_family", "curltest");
  assert_member(o, "cluster_arn", "arn:aws:ecs:us-west-2:111122223333:cluster/default");
  assert_absent(o, "launch_type");
  cJSON_Delete(o);

  /* A bare cluster name; a garbage task document is as none. */
  o = xr_ecs_parse(J("{\"DockerId\":\"abc\"}"), J("{\"Cluster\":\"default\"}"), "h");
  assert_non_null(o);
  assert_member(o, "cluster", "default");
  assert_absent(o, "cluster_arn");
  cJSON_Delete(o);
  o = xr_ecs_parse(J("{\"DockerId\":\"abc\"}"), J("{\"Cluster\":"), "h");
  assert_non_null(o);
  assert_member(o, "container_id", "abc");
  cJSON_Delete(o);
}

static void test_ecs_hostile(void **state)
{
  char big[1200];
  cJSON *o;
  (void)state;

  assert_null(xr_ecs_parse(J(""), NULL, 0, "h"));
  assert_null(xr_ecs_parse(J("not json"), NULL, 0, "h"));
  assert_null(xr_ecs_parse(J("[1,2]"), NULL, 0, "h"));
  assert_null(xr_ecs_parse(J("\"str\""), NULL, 0, "h"));
  /* Length honoured: the valid prefix is not the document. */
  assert_null(xr_ecs_parse("{\"DockerId\":\"abc\"}", 10, NULL, 0, "h"));
  /* Wrong types, an overlong value, bytes that are not UTF-8. */
  memset(big, 'a', sizeof(big));
  memcpy(big, J("{\"DockerId\":\""));
  memcpy(big + sizeof(big) - 3, "\"}", 3); /* with its NUL */
  {
    static const char task[] = "{\"TaskARN\":7,\"Family\":null,\"LaunchType\":[\"EC2\"],"
                               "\"AvailabilityZone\":\"a\\u0000b\",\"Cluster\":\"\xff\xfe\"}";
    o = xr_ecs_parse(big, strlen(big), task, LEN(task), "");
    assert_non_null(o);
    assert_absent(o, "container_id");
    assert_absent(o, "task_arn");
    assert_absent(o, "task_family");
    assert_absent(o, "launch_type");
    assert_member(o, "availability_zone", "a"); /* cJSON's strings end at NUL */
    assert_member(o, "cluster", "??");          /* scrubbed to UTF-8 */
    cJSON_Delete(o);
  }
  o = xr_ecs_parse(J("{\"DockerId\":\"x\xc3\x28y\"}"), NULL, 0, "");
  assert_non_null(o);
  assert_member(o, "container_id", "x?(y");
  cJSON_Delete(o);
}

static const char identity[] =
    "{\n  \"accountId\" : \"123456789012\",\n  \"architecture\" : \"x86_64\",\n"
    "  \"availabilityZone\" : \"us-east-1a\",\n  \"imageId\" : \"ami-0abcdef1234567890\",\n"
    "  \"instanceId\" : \"i-1234567890abcdef0\",\n  \"instanceType\" : \"t3.micro\",\n"
    "  \"privateIp\" : \"10.0.0.12\",\n  \"region\" : \"us-east-1\",\n"
    "  \"version\" : \"2017-09-30\"\n}";

static void test_ec2(void **state)
{
  cJSON *o;
  (void)state;

  o = xr_ec2_parse(identity, LEN(identity));
  assert_non_null(o);
  assert_member(o, "instance_id", "i-1234567890abcdef0");
  assert_member(o, "availability_zone", "us-east-1a");
  assert_member(o, "instance_type", "t3.micro");
  assert_member(o, "ami_id", "ami-0abcdef1234567890");
  assert_absent(o, "accountId");
  assert_absent(o, "privateIp");
  cJSON_Delete(o);
  o = xr_ec2_parse(J("{\"instanceId\":\"i-1\"}"));
  assert_non_null(o);
  assert_absent(o, "ami_id");
  cJSON_Delete(o);
  assert_null(xr_ec2_parse(J("{\"instanceId\":12}")));
  assert_null(xr_ec2_parse(J("{\"instanceId\":\"\"}")));
  assert_null(xr_ec2_parse(J("{\"imageId\":\"ami-1\"}")));
  assert_null(xr_ec2_parse(identity, LEN(identity) - 2));
  assert_null(xr_ec2_parse(J("<html>404</html>")));
  assert_null(xr_ec2_parse(NULL, 0));
}

static void test_beanstalk(void **state)
{
  static const char conf[] =
      "{\"deployment_id\":23,\"version_label\":\"env-version\",\"environment_name\":\"env-name\"}";
  cJSON *o;
  const cJSON *d;
  (void)state;

  o = xr_beanstalk_parse(conf, LEN(conf));
  assert_non_null(o);
  assert_member(o, "environment_name", "env-name");
  assert_member(o, "version_label", "env-version");
  d = cJSON_GetObjectItemCaseSensitive(o, "deployment_id");
  assert_true(cJSON_IsNumber(d));
  assert_int_equal(d->valueint, 23);
  cJSON_Delete(o);
  /* As the file gives it: a string stays a string; a version label that
   * is a number stays a number. */
  o = xr_beanstalk_parse(J("{\"deployment_id\":\"7\",\"version_label\":3}"));
  assert_non_null(o);
  assert_member(o, "deployment_id", "7");
  assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "version_label")));
  assert_absent(o, "environment_name");
  cJSON_Delete(o);
  assert_null(xr_beanstalk_parse(J("{}")));
  assert_null(xr_beanstalk_parse(J("{\"other\":1}")));
  assert_null(xr_beanstalk_parse(J("{\"deployment_id\":true,\"environment_name\":{}}")));
  assert_null(xr_beanstalk_parse(J("deployment_id=23")));
  assert_null(xr_beanstalk_parse(J("")));
}

static void cg_ok(const char *text, const char *want)
{
  char id[65];
  memset(id, 'Z', sizeof(id));
  if (xr_cgroup_container_id(text, strlen(text), id) != 0)
    fail_msg("no id in: %s", text);
  assert_string_equal(id, want);
}

static void cg_none(const char *text)
{
  char id[65];
  if (xr_cgroup_container_id(text, strlen(text), id) != -ENOENT)
    fail_msg("an id in: %s", text);
}

static void test_cgroup_v1(void **state)
{
  char big[100000];
  (void)state;

  cg_ok("12:devices:/docker/" ID64 "\n", ID64);
  cg_ok("11:memory:/kubepods/besteffort/pod5e7a2-11/" ID64 "\n", ID64);
  cg_ok("1:name=systemd:/kubepods.slice/kubepods-burstable.slice/"
        "kubepods-burstable-pod1_2.slice/cri-containerd-" ID64 ".scope\n", ID64);
  cg_ok("0::/system.slice/docker-" ID64 ".scope", ID64); /* no final newline */
  cg_ok("9:cpuset:/ecs/8f03e41243824aea923aca126495f665/" ID64 "\n", ID64);
  cg_ok("1:cpu:/crio-" ID64 "\n", ID64);
  /* The first line with one wins; lines without are skipped. */
  cg_ok("13:rdma:/\n12:pids:/user.slice\n5:cpu:/docker/" ID64B "\n4:mem:/docker/" ID64 "\n",
        ID64B);
  cg_none("");
  cg_none("0::/\n");
  cg_none("0::/init.scope\n");
  cg_none("12:devices:/docker/" ID64 "0\n");               /* 65 hex */
  cg_none("12:devices:/docker/x" ID64 "\n");               /* glued to a letter */
  cg_none("12:devices:/docker/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n");
  cg_none("12:devices:/docker/" "0123456789abcdef\n");      /* short */
  cg_none("no colons /docker/" ID64 "\n");                /* not a cgroup line */
  cg_none(":::::::\n\n\n:");
  cg_none("12:devices:/docker/" ID64 "/\n"); /* a directory below it */
  /* A huge line with no id, then one with. */
  memset(big, 'a', sizeof(big));
  memcpy(big, J("1:x:/"));
  strcpy(big + sizeof(big) - 100, "\n2:y:/d/" ID64);
  cg_ok(big, ID64);
}

static void mi_ok(const char *text, const char *want)
{
  char id[65];
  if (xr_mountinfo_container_id(text, strlen(text), id) != 0)
    fail_msg("no id in: %s", text);
  assert_string_equal(id, want);
}

static void mi_none(const char *text)
{
  char id[65];
  if (xr_mountinfo_container_id(text, strlen(text), id) != -ENOENT)
    fail_msg("an id in: %s", text);
}

static void test_cgroup_v2(void **state)
{
  (void)state;

  mi_ok("736 702 0:61 / / rw,relatime master:183 - overlay overlay rw\n"
        "745 736 259:1 /var/lib/docker/containers/" ID64 "/resolv.conf /etc/resolv.conf rw - ext4 /dev/root rw\n"
        "746 736 259:1 /var/lib/docker/containers/" ID64 "/hostname /etc/hostname rw - ext4 /dev/root rw\n",
        ID64);
  mi_ok("1 0 0:1 /var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" ID64B
        "/hostname /etc/hostname rw - ext4 /dev/x rw", ID64B);
  mi_none("");
  mi_none("746 736 259:1 /etc/hostname /etc/hostname rw - ext4 /dev/root rw\n");
  mi_none("746 736 259:1 /var/lib/docker/containers/" ID64 "/resolv.conf /etc/resolv.conf rw\n");
  mi_none("746 736 259:1 /var/lib/docker/containers/short/hostname /etc/hostname rw\n");
  mi_none("746 736\n259:1 /x/" ID64 "/hostname\n");
  mi_none("/hostname\n/" ID64 "/hostname\n    \n");
  /* The id must be in the root field, not the mount point. */
  mi_none("1 2 0:1 /etc/hostname /x/" ID64 "/hostname rw\n");
}

static void test_origin(void **state)
{
  (void)state;
  assert_string_equal(xr_plugins_origin(true, true, true, true), XR_ORIGIN_BEANSTALK);
  assert_string_equal(xr_plugins_origin(false, true, true, true), XR_ORIGIN_EKS);
  assert_string_equal(xr_plugins_origin(false, false, true, true), XR_ORIGIN_ECS);
  assert_string_equal(xr_plugins_origin(false, false, false, true), XR_ORIGIN_EC2);
  assert_string_equal(xr_plugins_origin(true, false, false, true), XR_ORIGIN_BEANSTALK);
  assert_null(xr_plugins_origin(false, false, false, false));
}

static struct xr_plugins_doc *sample_doc(void)
{
  struct xr_plugins_doc *d = xr_plugins_render(
      xr_ec2_parse(identity, LEN(identity)),
      xr_ecs_parse(ecs_container, LEN(ecs_container), ecs_task, LEN(ecs_task), "host\"1"),
      xr_eks_make(ID64, "pod-1", NULL),
      NULL, "CPython", "3.11.2");
  assert_non_null(d);
  return d;
}

static void test_render(void **state)
{
  struct xr_plugins_doc *d;
  char text[4096];
  cJSON *j;
  (void)state;

  d = sample_doc();
  /* Members each followed by a comma; the tail starts with one. */
  assert_true(d->aws_len > 0 && d->aws[d->aws_len - 1] == ',');
  assert_int_equal(strncmp(d->aws, J("\"ec2\":{\"instance_id\":\"i-1234567890abcdef0\"")), 0);
  assert_non_null(strstr(d->aws, "\"container\":\"host\\\"1\""));
  assert_string_equal(d->tail, ",\"origin\":\"AWS::EKS::Container\","
                               "\"service\":{\"runtime\":\"CPython\",\"runtime_version\":\"3.11.2\"}");
  /* It is JSON once braced. */
  snprintf(text, sizeof(text), "{%.*s\"z\":0%.*s}", (int)d->aws_len, d->aws,
           (int)d->tail_len, d->tail);
  j = cJSON_Parse(text);
  assert_non_null(j);
  assert_member(cJSON_GetObjectItemCaseSensitive(j, "eks"), "pod", "pod-1");
  assert_member(cJSON_GetObjectItemCaseSensitive(j, "eks"), "container_id", ID64);
  assert_absent(cJSON_GetObjectItemCaseSensitive(j, "eks"), "cluster_name");
  cJSON_Delete(j);
  xr_plugins_doc_free(d);

  /* Nothing found: no aws members, no origin, the service alone. */
  d = xr_plugins_render(NULL, NULL, NULL, NULL, "node", "");
  assert_non_null(d);
  assert_int_equal(d->aws_len, 0);
  assert_string_equal(d->tail, ",\"service\":{\"runtime\":\"node\"}");
  xr_plugins_doc_free(d);
  d = xr_plugins_render(NULL, NULL, NULL, xr_beanstalk_parse(J("{\"deployment_id\":1}")),
                        NULL, NULL);
  assert_non_null(d);
  assert_string_equal(d->aws, "\"elastic_beanstalk\":{\"deployment_id\":1},");
  assert_string_equal(d->tail, ",\"origin\":\"AWS::ElasticBeanstalk::Environment\"");
  xr_plugins_doc_free(d);
}

/* In documents: segments only, the same bytes through both writers. */
static void test_in_documents(void **state)
{
  struct xr_plugins_doc *d = sample_doc();
  struct xr_entity *seg = xr_entity_new(true, "svc"), *sub = xr_entity_new(false, "sub");
  static char buf[65536];
  cJSON *t, *back;
  char *t_text;
  const cJSON *aws;
  int n;
  (void)state;

  assert_non_null(seg);
  assert_non_null(sub);
  xr_entity_add_child(seg, sub);
  assert_non_null(cJSON_AddStringToObject(xr_json_child(xr_json_slot(&seg->aws), "ecs"),
                                          "x", "own"));
  xr_plugins_publish(d);
  t = xr_entity_to_json(seg, false, true);
  t_text = cJSON_PrintUnformatted(t);
  n = xr_entity_write(seg, false, true, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_string_equal(buf, t_text);
  back = cJSON_Parse(buf);
  assert_non_null(back);
  aws = cJSON_GetObjectItemCaseSensitive(back, "aws");
  assert_member(cJSON_GetObjectItemCaseSensitive(aws, "ec2"), "ami_id", "ami-0abcdef1234567890");
  assert_member(cJSON_GetObjectItemCaseSensitive(aws, "xray"), "sdk", "libxray-auto");
  assert_member(back, "origin", XR_ORIGIN_EKS);
  assert_member(cJSON_GetObjectItemCaseSensitive(back, "service"), "runtime", "CPython");
  /* The embedded subsegment: nothing of it. */
  {
    const cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(back, "subsegments"), 0);
    assert_non_null(s0);
    assert_absent(s0, "origin");
    assert_absent(s0, "service");
    assert_absent(s0, "aws");
  }
  cJSON_Delete(back);
  /* A subsegment sent on its own: nothing either. */
  n = xr_entity_write(sub, true, false, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_null(strstr(buf, "origin"));
  assert_null(strstr(buf, "service"));
  cJSON_free(t_text);
  cJSON_Delete(t);
  xr_entity_free(seg);
  xr_plugins_publish(NULL);
  xr_plugins_doc_free(d);
}

static void test_parse_plugins(void **state)
{
  unsigned bits = 99;
  const char *bad = NULL;
  size_t badlen = 0;
  (void)state;

  assert_int_equal(xr_parse_plugins("ec2,ecs,eks,beanstalk", &bits, &bad, &badlen), 0);
  assert_int_equal(bits, XR_PLUGIN_EC2 | XR_PLUGIN_ECS | XR_PLUGIN_EKS | XR_PLUGIN_BEANSTALK);
  assert_int_equal(xr_parse_plugins(" EC2 , ,elastic_beanstalk,", &bits, &bad, &badlen), 0);
  assert_int_equal(bits, XR_PLUGIN_EC2 | XR_PLUGIN_BEANSTALK);
  assert_int_equal(xr_parse_plugins("", &bits, &bad, &badlen), 0);
  assert_int_equal(bits, 0);
  /* The valid ones are kept; the first bad word is named. */
  assert_int_equal(xr_parse_plugins("ecs,ec3,eks,x", &bits, &bad, &badlen), -EINVAL);
  assert_int_equal(bits, XR_PLUGIN_ECS | XR_PLUGIN_EKS);
  assert_int_equal(badlen, 3);
  assert_int_equal(strncmp(bad, J("ec3")), 0);
  assert_int_equal(xr_parse_plugins("ec2;ecs", &bits, &bad, &badlen), -EINVAL);
  assert_int_equal(bits, 0);
}

static const char *const *fake_env;

static const char *fake_get(const char *name)
{
  size_t i;
  for (i = 0; fake_env[i]; i += 2)
    if (strcmp(fake_env[i], name) == 0)
      return fake_env[i + 1];
  return NULL;
}

static void test_config(void **state)
{
  struct xr_config cfg;
  static const char *const env1[] = {
      "XRAY_AUTO_PLUGINS", "ecs,ec2", "ECS_CONTAINER_METADATA_URI_V4",
      "http://169.254.170.2/v4/abc", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
      "http://127.0.0.1:8111", "XRAY_AUTO_PLUGINS_ROOT", "/tmp/fixture", NULL};
  static const char *const env2[] = {
      "XRAY_AUTO_PLUGINS", "ecs,ec2,bogus", "ECS_CONTAINER_METADATA_URI_V4",
      "http://h/v4 x", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "https://a",
      "XRAY_AUTO_PLUGINS_ROOT", "relative", NULL};
  static const char *const env3[] = {"ECS_CONTAINER_METADATA_URI_V4", "http://h/v4", NULL};
  (void)state;

  fake_env = env1;
  xr_config_load(&cfg, fake_get, "prog");
  assert_int_equal(cfg.plugins, XR_PLUGIN_ECS | XR_PLUGIN_EC2);
  assert_string_equal(cfg.ecs_uri, "http://169.254.170.2/v4/abc");
  assert_string_equal(cfg.imds_uri, "http://127.0.0.1:8111");
  assert_string_equal(cfg.plugins_root, "/tmp/fixture");
  fake_env = env2;
  xr_config_load(&cfg, fake_get, "prog");
  assert_int_equal(cfg.plugins, XR_PLUGIN_ECS | XR_PLUGIN_EC2);
  assert_string_equal(cfg.ecs_uri, "");
  assert_string_equal(cfg.imds_uri, "http://169.254.169.254");
  assert_string_equal(cfg.plugins_root, "");
  /* Not listed: the endpoint is not even read. */
  fake_env = env3;
  xr_config_load(&cfg, fake_get, "prog");
  assert_int_equal(cfg.plugins, 0);
  assert_string_equal(cfg.ecs_uri, "");
  assert_string_equal(cfg.imds_uri, "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ecs),          cmocka_unit_test(test_ecs_hostile),
      cmocka_unit_test(test_ec2),          cmocka_unit_test(test_beanstalk),
      cmocka_unit_test(test_cgroup_v1),    cmocka_unit_test(test_cgroup_v2),
      cmocka_unit_test(test_origin),       cmocka_unit_test(test_render),
      cmocka_unit_test(test_in_documents), cmocka_unit_test(test_parse_plugins),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
