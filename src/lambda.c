#include "xr_setup.h"

#include "lambda.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#define XR_LAMBDA_ENV_MAX 512

static pthread_mutex_t xr_lambda_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xr_trace_header xr_lambda_ctx;
static bool xr_lambda_active;
/* _X_AMZN_TRACE_ID as last seen: only a change of it is news. */
static char xr_lambda_env_seen[XR_LAMBDA_ENV_MAX];
static bool xr_lambda_env_set;

/* Called with the lock held. */
static void xr_lambda_adopt(const char *header, size_t len, const char *what)
{
  if (xr_trace_header_parse(header, len, &xr_lambda_ctx) == 0) {
    xr_lambda_active = true;
    return;
  }
  xr_lambda_active = false;
  xr_warn("%s is not a valid trace header; calls are not traced until the "
          "next invocation", what);
}

/* Called with the lock held: records env, and whether it changed. */
static bool xr_lambda_env_changed(const char *env)
{
  size_t n;

  if (!env || !*env) {
    if (!xr_lambda_env_set)
      return false;
    xr_lambda_env_set = false;
    return true;
  }
  n = strnlen(env, XR_LAMBDA_ENV_MAX - 1);
  if (xr_lambda_env_set && strncmp(xr_lambda_env_seen, env, n) == 0 &&
      xr_lambda_env_seen[n] == '\0')
    return false;
  memcpy(xr_lambda_env_seen, env, n);
  xr_lambda_env_seen[n] = '\0';
  xr_lambda_env_set = true;
  return true;
}

void xr_lambda_init(const char *env)
{
  pthread_mutex_lock(&xr_lambda_lock);
  xr_lambda_active = false;
  xr_lambda_env_set = false;
  if (xr_lambda_env_changed(env))
    xr_lambda_adopt(env, strlen(env), "_X_AMZN_TRACE_ID");
  pthread_mutex_unlock(&xr_lambda_lock);
}

void xr_lambda_next(const char *header, size_t len)
{
  pthread_mutex_lock(&xr_lambda_lock);
  xr_lambda_adopt(header, len, "Lambda-Runtime-Trace-Id");
  pthread_mutex_unlock(&xr_lambda_lock);
}

void xr_lambda_end(void)
{
  pthread_mutex_lock(&xr_lambda_lock);
  xr_lambda_active = false;
  pthread_mutex_unlock(&xr_lambda_lock);
}

int xr_lambda_current(const char *env, struct xr_trace_header *out)
{
  int rc = -ENOENT;

  pthread_mutex_lock(&xr_lambda_lock);
  if (xr_lambda_env_changed(env)) {
    if (xr_lambda_env_set)
      xr_lambda_adopt(xr_lambda_env_seen, strlen(xr_lambda_env_seen),
                      "_X_AMZN_TRACE_ID");
    else
      xr_lambda_active = false; /* unset: the invocation is over */
  }
  if (xr_lambda_active) {
    *out = xr_lambda_ctx;
    rc = 0;
  }
  pthread_mutex_unlock(&xr_lambda_lock);
  return rc;
}

static bool xr_ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum xr_lambda_request xr_lambda_classify(const char *method, const char *target)
{
  static const char inv[] = "/runtime/invocation/";
  const char *p = strstr(target, inv);

  /* Origin form, or absolute form through a proxy; any API version. */
  if (!p)
    return XR_LAMBDA_OTHER;
  p += sizeof(inv) - 1;
  if (strcmp(method, "GET") == 0 && strcmp(p, "next") == 0)
    return XR_LAMBDA_NEXT;
  if (strcmp(method, "POST") == 0 &&
      (xr_ends_with(p, "/response") || xr_ends_with(p, "/error")))
    return XR_LAMBDA_DONE;
  return XR_LAMBDA_OTHER;
}

bool xr_lambda_is_api(const struct xr_endpoint *api, const char *addr,
                      const char *name, uint16_t port)
{
  if (!api->port || api->port != port)
    return false;
  return strcasecmp(api->host, addr) == 0 || (name[0] && strcasecmp(api->host, name) == 0);
}

void xr_lambda_fork_child(void)
{
  pthread_mutex_init(&xr_lambda_lock, NULL);
}
