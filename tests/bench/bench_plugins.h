/*
 * The plugins fragment of the document benchmarks (tests/bench/bench_emit.c,
 * tests/perf/perf_emit.c): what XRAY_AUTO_PLUGINS=ec2,ecs,eks,beanstalk
 * gathers on ECS (all four aws blocks, the origin, the service block),
 * rendered from fixed documents, for the driver to publish as if the
 * gatherer had run. Header-only: each driver is one file linked against
 * xr_core.
 */
#ifndef XR_BENCH_PLUGINS_H
#define XR_BENCH_PLUGINS_H

#include "../../src/plugins.h"

/* The fragment with `runtime` as the service block's runtime, rendered
 * (not published: xr_plugins_publish makes every segment written afterwards
 * carry it, NULL takes it away), or NULL on ENOMEM. Never freed (as in the
 * library: a segment being written may hold it). */
static inline const struct xr_plugins_doc *xr_bench_plugins(const char *runtime)
{
  static const char ecs_c[] =
      "{\"DockerId\":\"ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66\","
      "\"ContainerARN\":\"arn:aws:ecs:us-west-2:111122223333:container/0206b271-b33f-47ab\"}";
  static const char ecs_t[] =
      "{\"Cluster\":\"arn:aws:ecs:us-west-2:111122223333:cluster/prod\",\"TaskARN\":"
      "\"arn:aws:ecs:us-west-2:111122223333:task/prod/158d1c8083dd49d6b527399fd6414f5c\","
      "\"Family\":\"web\",\"LaunchType\":\"FARGATE\",\"AvailabilityZone\":\"us-west-2d\"}";
  static const char ec2[] =
      "{\"availabilityZone\":\"us-west-2d\",\"imageId\":\"ami-0abcdef1234567890\","
      "\"instanceId\":\"i-1234567890abcdef0\",\"instanceType\":\"t3.micro\"}";
  static const char eb[] =
      "{\"deployment_id\":23,\"version_label\":\"app-v7\",\"environment_name\":\"prod\"}";

  return xr_plugins_render(
      xr_ec2_parse(ec2, sizeof(ec2) - 1),
      xr_ecs_parse(ecs_c, sizeof(ecs_c) - 1, ecs_t, sizeof(ecs_t) - 1, "ip-10-0-2-106"),
      xr_eks_make("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                  "web-7d9f8-x2x4z", NULL),
      xr_beanstalk_parse(eb, sizeof(eb) - 1), runtime, NULL);
}

#endif /* XR_BENCH_PLUGINS_H */
