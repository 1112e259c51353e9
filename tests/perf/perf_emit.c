/*
 * perf_emit - instructions of one document: serializing a representative
 * segment (three HTTP subsegments) and sending it with xr_emit_entity,
 * as the library does at a segment's end. Run by
 * tests/perf/run_callgrind.sh under valgrind --tool=callgrind
 * --instr-atstart=no: only the N emissions are counted (client requests
 * around the loop, after uncounted warm-up ones that create the socket).
 * The daemon stands in as a UDP socket of this process that is never read
 * (a full buffer drops datagrams; sendto still succeeds), so every
 * emission takes the same path.
 * Usage: perf_emit N [plugins]. With "plugins", every segment also carries
 * a published plugins fragment (aws.ec2, ecs, eks, elastic_beanstalk,
 * origin, service: XRAY_AUTO_PLUGINS=ec2,ecs,eks,beanstalk on ECS), for
 * the cost of copying it (issue 8). Exit 0, 1 on a failure, 2 on usage
 * errors.
 */
#define _GNU_SOURCE
#include "../../src/emitter.h"
#include "../../src/entity.h"
#include "../../src/http_call.h"
#include "../bench/bench_plugins.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#define PERF_WARMUP 5

static const char *const perf_urls[] = {
    "http://inventory.internal:8080/v1/items/42",
    "http://pricing.internal:8080/v2/quote",
    "http://users.internal/v1/profile/1234",
};

static struct xr_entity *perf_document(void)
{
  struct xr_entity *seg = xr_entity_new(true, "checkout-service");
  size_t i;

  if (!seg)
    return NULL;
  strcpy(seg->trace_id, "1-5759e988-bd862e3fe1be46a994272793");
  for (i = 0; i < sizeof(perf_urls) / sizeof(perf_urls[0]); i++) {
    struct xr_entity *sub = xr_entity_new(false, NULL);
    struct xr_http_call call;

    if (!sub)
      goto fail;
    memset(&call, 0, sizeof(call));
    call.method = i == 1 ? "POST" : "GET";
    call.url = perf_urls[i];
    call.status = i == 2 ? 404 : 200;
    call.content_length = 1532 + (long long)i;
    if (xr_http_record(sub, &call) < 0) {
      xr_entity_free(sub);
      goto fail;
    }
    memcpy(sub->trace_id, seg->trace_id, sizeof(sub->trace_id));
    sub->end_us = sub->start_us + 1234 + (long long)i;
    seg->end_us = sub->end_us;
    xr_entity_add_child(seg, sub);
  }
  return seg;
fail:
  xr_entity_free(seg);
  return NULL;
}

int main(int argc, char **argv)
{
  struct xr_entity *doc;
  struct xr_endpoint ep;
  struct xr_emit_stats st;
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  char *end = NULL;
  long n, i;
  int sink;

  if (argc < 2 || argc > 3 || (n = strtol(argv[1], &end, 10)) < 1 || *end ||
      (argc == 3 && strcmp(argv[2], "plugins") != 0)) {
    fprintf(stderr, "usage: perf_emit N [plugins]\n");
    return 2;
  }
  if (argc == 3) {
    const struct xr_plugins_doc *pl = xr_bench_plugins("perf_emit");

    if (!pl) {
      fprintf(stderr, "perf_emit: no plugins fragment\n");
      return 1;
    }
    xr_plugins_publish(pl);
  }
  doc = perf_document();
  sink = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!doc || sink < 0 || bind(sink, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
      getsockname(sink, (struct sockaddr *)&sa, &len) < 0) {
    perror("perf_emit: set-up");
    return 1;
  }
  memset(&ep, 0, sizeof(ep));
  snprintf(ep.host, sizeof(ep.host), "127.0.0.1");
  ep.port = ntohs(sa.sin_port);
  xr_emitter_configure(&ep);
  for (i = 0; i < PERF_WARMUP; i++)
    (void)xr_emit_entity(doc, false);
  CALLGRIND_ZERO_STATS;
  CALLGRIND_START_INSTRUMENTATION;
  for (i = 0; i < n; i++)
    (void)xr_emit_entity(doc, false);
  CALLGRIND_STOP_INSTRUMENTATION;
  xr_emitter_stats(&st);
  xr_entity_free(doc);
  close(sink);
  if (st.send_errors != 0) {
    fprintf(stderr, "perf_emit: %llu send errors\n", st.send_errors);
    return 1;
  }
  printf("ok\n");
  return 0;
}
