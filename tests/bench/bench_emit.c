/*
 * The cost of one document: writing a typical call-mode document (a
 * segment holding one HTTP subsegment) into a buffer, and emitting it
 * (write + socket check + sendto) to a UDP sink on loopback that a child
 * process drains. Then the write again with XRAY_AUTO_PLUGINS' fragment
 * published (all four blocks, origin, service: what a segment on
 * Beanstalk/EKS/ECS/EC2 carries) and without it, in alternating rounds:
 * "plugins_bytes=B plugins_ns=T plugins_off_ns=T0" (the fastest round of
 * each).
 * Prints figures; asserts nothing about time.
 * Usage: bench_emit [N]
 */
#define _GNU_SOURCE
#include "../../src/emitter.h"
#include "../../src/entity.h"
#include "../../src/http_call.h"
#include "bench_plugins.h"

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

#define PLUGIN_ROUNDS 15

/* ns per write of doc as a call-mode document, over n writes; *bytes: its
 * length. */
static double time_writes(const struct xr_entity *doc, long n, int *bytes)
{
  char buf[4096];
  double t0 = now_ns();
  long i;

  for (i = 0; i < n; i++)
    *bytes = xr_entity_write(doc, false, true, buf, sizeof(buf) - XR_WRITE_SLACK);
  return (now_ns() - t0) / (double)n;
}

static double fastest(const double *v, int k)
{
  double m = v[0];
  int i;

  for (i = 1; i < k; i++)
    if (v[i] < m)
      m = v[i];
  return m;
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
  const struct xr_plugins_doc *pl;
  char buf[4096];
  int sink, bytes = 0, bufsz = 8 << 20;
  double t0, t1;
  pid_t child;

  t0 = time_writes(doc, n, &bytes);
  printf("document_bytes=%d write_ns=%.1f\n", bytes, t0);

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
  if ((pl = xr_bench_plugins("bench_emit")) != NULL) {
    /* Short rounds alternating without and with the fragment published;
     * the fastest round of each: a loop of pure computation runs at its
     * own speed in the rounds the machine's other load leaves it alone. */
    long per = n / PLUGIN_ROUNDS > 0 ? n / PLUGIN_ROUNDS : 1;
    double off[PLUGIN_ROUNDS], on[PLUGIN_ROUNDS];
    int r;

    for (r = 0; r < PLUGIN_ROUNDS; r++) {
      xr_plugins_publish(NULL);
      off[r] = time_writes(doc, per, &bytes);
      xr_plugins_publish(pl);
      on[r] = time_writes(doc, per, &bytes);
    }
    printf("plugins_bytes=%d plugins_ns=%.1f plugins_off_ns=%.1f\n", bytes,
           fastest(on, PLUGIN_ROUNDS), fastest(off, PLUGIN_ROUNDS));
  }
  xr_entity_free(doc);
  return st.send_errors == 0 ? 0 : 1;
}
