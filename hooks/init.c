#include "../src/xr_setup.h"

#include "guard.h"

#define XRAY_AUTO_NO_DLSYM
#include "../include/xray-auto.h"
#include "../src/api.h"
#include "../src/config.h"
#include "../src/emitter.h"
#include "../src/http_client.h"
#include "../src/ids.h"
#include "../src/log.h"
#include "../src/sampling.h"
#include "../src/tracer.h"
#include "curl_span.h"
#include "net_glue.h"
#include "mysql_span.h"
#include "pq_span.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/auxv.h>

atomic_int xr_state = XR_STATE_LOADING;
unsigned xr_hooks_enabled;
XR_TLS int xr_depth;


void xr_go_inert(const char *why)
{
  if (atomic_exchange(&xr_state, XR_STATE_INERT) == XR_STATE_READY)
    xr_err("tracing stopped: %s", why);
}

static const char *xr_getenv(const char *name)
{
  return getenv(name);
}

static void xr_atfork_child(void)
{
  xr_ids_fork_child();
  xr_emitter_fork_child();
  xr_tracer_fork_child();
  xr_api_fork_child();
  xr_sampling_fork_child(); /* the centralized poller starts again lazily */
  xr_http_fork_child();     /* the sockets our threads had in flight */
  xr_curl_fork_child();
  xr_pq_fork_child();
  xr_my_fork_child();
  xr_net_fork_child(); /* after the tracer: it lets go of its own refs */
}

/*
 * Runs in every process that inherits LD_PRELOAD (ENV in a Dockerfile
 * loads us into sh, ls, apt): reads the environment and nothing else. No
 * sockets, no DNS, no threads, no files.
 */
__attribute__((constructor)) static void xr_constructor(void)
{
  struct xr_config cfg;
  void *first;

  /* Before anything else, even when we stay inert: the socket hooks call
   * through these whatever the state. */
  xr_net_init();
  if (getauxval(AT_SECURE)) {
    atomic_store(&xr_state, XR_STATE_INERT);
    return;
  }
  /* Two copies preloaded: the first one traces, this one stays passive
   * (its hooks are reached only through the first copy's RTLD_NEXT). */
  first = dlsym(RTLD_DEFAULT, "xray_version");
  if (first && first != (void *)xr_version_local) {
    atomic_store(&xr_state, XR_STATE_INERT);
    return;
  }
  xr_config_load(&cfg, xr_getenv, program_invocation_short_name);
  if (!cfg.enabled) {
    atomic_store(&xr_state, XR_STATE_INERT);
    return;
  }
  xr_tracer_init(&cfg);
  xr_hooks_enabled = cfg.hooks;
  if (pthread_atfork(NULL, NULL, xr_atfork_child) != 0) {
    xr_err("pthread_atfork failed; tracing disabled");
    atomic_store(&xr_state, XR_STATE_INERT);
    return;
  }
  atomic_store_explicit(&xr_state, XR_STATE_READY, memory_order_release);
  xr_debug("ready: service \"%s\", daemon %s:%u, segment mode %d", cfg.service,
           cfg.udp.host, cfg.udp.port, (int)cfg.segment_mode);
}

__attribute__((destructor)) static void xr_destructor(void)
{
  if (atomic_load(&xr_state) != XR_STATE_READY)
    return;
  xr_depth++;
  xr_net_exit();
  xr_tracer_exit();
  xr_depth--;
}
