/*
 * The cost of one document: writing a typical call-mode document (a
 * segment holding one HTTP subsegment) into a buffer, and emitting it
 * (write + socket check + sendto) to a UDP sink on loopback that a child
 * process drains. Then the write again with XRAY_AUTO_PLUGINS' fragment
 * published (all four blocks, origin, service: what a segment on
 * Beanstalk/EKS/ECS/EC2 carries): "plugins_bytes=B plugins_ns=T".
 * Prints figures; asserts nothing about time.
 * Usage: bench_emit [N]
 */
#define _GNU_SOURCE
#include "../../src/emitter.h"
#include "../../src/entity.h"
#include "../../src/http_call.h"
#include "../../src/plugins.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static struct xr_entity *typical_document(void)
{
  struct xr_entity *seg = xr_entity_new(true, "checkout-service");
  struct xr_entity *sub = xr_entity_new(false, NULL);
  struct xr_http_call call;

  memset(&call, 0, sizeof(call));
  call.method = "GET";
  call.url = "http://inventory.internal:8080/v1/items/42?fields=all";
  call.status = 200;
  call.content_length = 1532;
  if (!seg || !sub || xr_http_record(sub, &call) < 0)
    exit(1);
  strcpy(seg->trace_id, "1-5759e988-bd862e3fe1be46a994272793");
  memcpy(sub->trace_id, seg->trace_id, sizeof(sub->trace_id));
  sub->end_us = sub->start_us + 1234;
  seg->end_us = sub->end_us;
  xr_entity_add_child(seg, sub);
  return seg;
}

int main(int argc, char **argv)
{
  long n = argc > 1 ? atol(argv[1]) : 100000, i;
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  struct xr_endpoint ep;
  struct xr_emit_stats st;
  struct xr_entity *doc = typical_document();
  char buf[4096];
  int sink, bytes = 0, bufsz = 8 << 20;
  double t0, t1;
  pid_t child;

  t0 = now_ns();
  for (i = 0; i < n; i++)
    bytes = xr_entity_write(doc, false, true, buf, sizeof(buf) - XR_WRITE_SLACK);
  t1 = now_ns();
  printf("document_bytes=%d write_ns=%.1f\n", bytes, (t1 - t0) / (double)n);

  sink = socket(AF_INET, SOCK_DGRAM, 0);
  setsockopt(sink, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(sink, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      getsockname(sink, (struct sockaddr *)&sa, &len) < 0)
    return 1;
  child = fork();
  if (child == 0) {
    for (;;)
      if (recv(sink, buf, sizeof(buf), 0) < 0)
        _exit(0);
  }
  close(sink);
  snprintf(ep.host, sizeof(ep.host), "127.0.0.1");
  ep.port = ntohs(sa.sin_port);
  xr_emitter_configure(&ep);
  (void)xr_emit_entity(doc, false); /* socket creation outside the timing */
  t0 = now_ns();
  for (i = 0; i < n; i++)
    (void)xr_emit_entity(doc, false);
  t1 = now_ns();
  xr_emitter_stats(&st);
  printf("documents=%ld emit_us=%.2f send_errors=%llu\n", n, (t1 - t0) / (double)n / 1000.0,
         st.send_errors);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
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
    const struct xr_plugins_doc *pl = xr_plugins_render(
        xr_ec2_parse(ec2, sizeof(ec2) - 1),
        xr_ecs_parse(ecs_c, sizeof(ecs_c) - 1, ecs_t, sizeof(ecs_t) - 1, "ip-10-0-2-106"),
        xr_eks_make("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                    "web-7d9f8-x2x4z", NULL),
        xr_beanstalk_parse(eb, sizeof(eb) - 1), "bench_emit", NULL);
    if (pl) {
      xr_plugins_publish(pl);
      t0 = now_ns();
      for (i = 0; i < n; i++)
        bytes = xr_entity_write(doc, false, true, buf, sizeof(buf) - XR_WRITE_SLACK);
      t1 = now_ns();
      printf("plugins_bytes=%d plugins_ns=%.1f\n", bytes, (t1 - t0) / (double)n);
    }
  }
  xr_entity_free(doc);
  return st.send_errors == 0 ? 0 : 1;
}
