#include "xr_setup.h"

#include "sampling_poller.h"

#include "clock.h"
#include "http_client.h"
#include "ids.h"
#include "log.h"
#include "sampling_central.h"
#include "thread.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XR_RULES_PERIOD_S 300
#define XR_RULES_JITTER_S 5.0
#define XR_TARGETS_PERIOD_S 10
#define XR_TARGETS_JITTER_S 0.1
#define XR_POLL_TIMEOUT_MS 2000

static struct xr_central xr_engine;
static struct xr_endpoint xr_tcp;
/* 0: not started; 1: started (or starting); 2: could not start (no
 * retry: local rules). */
static atomic_int xr_started;

void xr_poller_configure(const struct xr_endpoint *tcp)
{
  xr_tcp = *tcp;
}

static double xr_mono(void)
{
  return (double)xr_mono_us() / 1e6;
}

/* Sleeps until the monotonic time t (our thread; signals are blocked). */
static void xr_sleep_until(double t)
{
  struct timespec ts;
  ts.tv_sec = (time_t)t;
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  if (ts.tv_nsec >= 1000000000L)
    ts.tv_nsec = 999999999L;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

struct xr_daemon {
  struct sockaddr_storage ss;
  socklen_t sslen;
  char host[XR_HOST_MAX + 16];
  bool down; /* an outage was logged */
};

/* POST path with body; 0 and *out (status 200) or a negative errno. */
static int xr_post(struct xr_daemon *d, const char *path, const char *body,
                   struct xr_http_response *out)
{
  struct xr_http_request rq = {
      .method = "POST",
      .path = path,
      .headers = "Content-Type: application/json\r\n",
      .body = body,
      .body_len = strlen(body),
  };
  int rc = xr_http_fetch((const struct sockaddr *)&d->ss, d->sslen, d->host, &rq,
                         XR_POLL_TIMEOUT_MS, XR_CRESPONSE_MAX, out);
  if (rc == 0 && out->status != 200) {
    xr_http_response_free(out);
    rc = -EPROTO;
  }
  return rc;
}

static void xr_outage(struct xr_daemon *d, const char *what, int rc)
{
  if (d->down)
    return;
  d->down = true;
  xr_warn("centralized sampling: %s from the daemon at %s failed (%s); local sampling "
          "rules stay in force, retrying quietly",
          what, d->host, rc == -EPROTO ? "unexpected answer" : strerror(-rc));
}

static void xr_recovered(struct xr_daemon *d)
{
  if (d->down)
    xr_info("centralized sampling: the daemon at %s answers again", d->host);
  d->down = false;
}

static int xr_fetch_rules(struct xr_daemon *d)
{
  struct xr_http_response r;
  struct xr_crules *rs;
  unsigned skipped, i;
  int rc;

  rc = xr_post(d, "/GetSamplingRules", "{\"NextToken\":null}", &r);
  if (rc < 0)
    goto fail;
  rc = xr_central_parse_rules(&xr_engine, r.body, r.body_len, &rs, &skipped);
  xr_http_response_free(&r);
  if (rc < 0)
    goto fail;
  rc = xr_central_install(&xr_engine, rs, time(NULL));
  if (rc < 0)
    goto fail;
  /* The replaced set goes once the decisions that could see it are done
   * (microseconds); a thread stopped mid-decision makes us wait, up to
   * ~100 ms here, then until the next install. */
  for (i = 0; i < 100 && xr_central_reclaim(&xr_engine, 10000); i++)
    xr_sleep_until(xr_mono() + 0.001);
  xr_recovered(d);
  xr_debug("centralized sampling: %u rules from the daemon (%u records skipped)", rs->n,
           skipped);
  return 0;
fail:
  xr_outage(d, "GetSamplingRules", rc);
  return rc;
}

/* 1 answered (*interval, *refetch set), 0 nothing to report, or a
 * negative errno. */
static int xr_report(struct xr_daemon *d, int *interval, bool *refetch)
{
  struct xr_http_response r;
  char *body = NULL;
  int rc;

  *interval = 0;
  *refetch = false;
  rc = xr_central_statistics(&xr_engine, time(NULL), &body);
  if (rc < 0 || !body)
    return rc; /* nothing to report (0): no request, no targets needed */
  rc = xr_post(d, "/SamplingTargets", body, &r);
  free(body);
  if (rc < 0)
    goto fail;
  rc = xr_central_apply_targets(&xr_engine, r.body, r.body_len, interval, refetch);
  xr_http_response_free(&r);
  if (rc < 0)
    goto fail;
  xr_recovered(d);
  return 1;
fail:
  xr_outage(d, "SamplingTargets", rc);
  return rc;
}

static void *xr_poller_main(void *arg)
{
  struct xr_daemon d;
  double now, next_rules, next_targets, targets_period = XR_TARGETS_PERIOD_S;
  int rc;

  (void)arg;
  memset(&d, 0, sizeof(d));
  snprintf(d.host, sizeof(d.host), strchr(xr_tcp.host, ':') ? "[%s]:%u" : "%s:%u",
           xr_tcp.host, (unsigned)xr_tcp.port);
  /* A name resolves once (getaddrinfo may block: this thread only). */
  rc = xr_http_resolve(&xr_tcp, &d.ss, &d.sslen);
  if (rc < 0) {
    xr_warn("centralized sampling: the daemon's TCP address %s does not resolve; local "
            "sampling rules stay in force",
            d.host);
    return NULL;
  }
  now = xr_mono();
  next_rules = now;
  next_targets = now + XR_TARGETS_PERIOD_S + xr_random_unit() * XR_TARGETS_JITTER_S;
  for (;;) {
    now = xr_mono();
    if (now >= next_rules) {
      (void)xr_fetch_rules(&d);
      next_rules = now + XR_RULES_PERIOD_S + xr_random_unit() * XR_RULES_JITTER_S;
    }
    if (now >= next_targets) {
      int interval;
      bool refetch;
      rc = xr_report(&d, &interval, &refetch);
      if (rc < 0) {
        /* Down: back off, up to the rules' period. */
        targets_period = targets_period * 2 > XR_RULES_PERIOD_S ? XR_RULES_PERIOD_S
                                                                : targets_period * 2;
      } else if (rc > 0) {
        /* Answered: the daemon's Interval, else the SDKs' period. Nothing
         * to report (rc 0) keeps the period. */
        targets_period = interval ? interval : XR_TARGETS_PERIOD_S;
        if (refetch)
          next_rules = now;
      }
      next_targets = now + targets_period + xr_random_unit() * XR_TARGETS_JITTER_S;
    }
    xr_sleep_until(next_rules < next_targets ? next_rules : next_targets);
  }
  return NULL;
}

/* The one start; the caller won the 0 -> 1 transition. */
static void xr_poller_start(void)
{
  int rc;

  if (!xr_engine.client_id[0])
    xr_central_new_client_id(&xr_engine);
  rc = -xr_thread_spawn(xr_poller_main, NULL);
  if (rc) {
    atomic_store(&xr_started, 2);
    xr_warn("centralized sampling: cannot start the poller thread (%s); local sampling "
            "rules stay in force",
            strerror(rc));
  }
}

int xr_poller_sample(int64_t now_s, const struct xr_sample_req *req,
                     unsigned *rule)
{
  int expect = 0;

  if (XR_UNLIKELY(atomic_load_explicit(&xr_started, memory_order_relaxed) == 0) &&
      atomic_compare_exchange_strong(&xr_started, &expect, 1))
    xr_poller_start();
  return xr_central_decide(&xr_engine, req, now_s, xr_random_unit, rule);
}

const char *xr_poller_rule_name(unsigned rule)
{
  return xr_central_rule_name(&xr_engine, rule);
}

void xr_poller_fork_child(void)
{
  if (atomic_load(&xr_started) != 1)
    return;
  atomic_store(&xr_started, 0);
  xr_central_fork_child(&xr_engine);
}
