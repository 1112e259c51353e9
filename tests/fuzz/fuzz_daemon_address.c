/*
 * Fuzz target: the daemon address parsers of src/config.c (xr_parse_daemon_address,
 * xr_parse_host_port) and, through xr_config_load, every environment variable the library
 * reads.
 *
 * Input: any bytes. Used three ways:
 *  - up to the first NUL, as AWS_XRAY_DAEMON_ADDRESS would arrive: xr_parse_daemon_address;
 *  - whole (NULs included, no terminator) as a (pointer, length) pair: xr_parse_host_port;
 *  - split at NULs into the values of the variables xr_config_load reads, in a fixed order
 *    (the log level is forced to "off" so that nothing is printed).
 *
 * Oracles: results are 0 or -EINVAL; an accepted endpoint has a non-empty host of
 * [A-Za-z0-9._-] only, NUL-terminated inside its array, a port 1..65535, and both host and
 * port appear in the input; formatting an accepted address back ("h:p", or "udp:h:p tcp:h:p")
 * and parsing it again gives the same endpoints; one token means udp == tcp. After
 * xr_config_load, whatever the variables hold: valid endpoints (parsed or the default
 * 127.0.0.1:2000), a non-empty NUL-terminated service name, known enum values, hooks within
 * XR_HOOK_ALL, a Lambda endpoint that is either unset (port 0) or valid.
 */
#include "xr_setup.h"

#include "config.h"
#include "fuzz_common.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool host_ok(const struct xr_endpoint *e)
{
  const char *nul = memchr(e->host, '\0', sizeof(e->host));
  size_t i;
  if (!nul || nul == e->host)
    return false;
  for (i = 0; e->host[i]; i++) {
    char c = e->host[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '-' || c == '_'))
      return false;
  }
  return true;
}

static void check_endpoint(const struct xr_endpoint *e, const char *in, size_t len)
{
  char port[8];
  XR_FZ_CHECK(host_ok(e));
  XR_FZ_CHECK(e->port >= 1);
  snprintf(port, sizeof(port), "%u", e->port);
  if (in) {
    XR_FZ_CHECK(memmem(in, len, e->host, strlen(e->host)) != NULL);
    /* "02000" is port 2000: the digits (without leading zeros) are in the input. */
    XR_FZ_CHECK(memmem(in, len, port, strlen(port)) != NULL);
  }
}

static bool same(const struct xr_endpoint *a, const struct xr_endpoint *b)
{
  return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static const char *const vars[] = {
    "AWS_XRAY_DAEMON_ADDRESS", "AWS_LAMBDA_RUNTIME_API", "AWS_XRAY_TRACING_NAME",
    "_X_AMZN_TRACE_ID", "XRAY_AUTO_HOOKS", "AWS_XRAY_SDK_ENABLED", "XRAY_AUTO_SEGMENT",
    "AWS_XRAY_CONTEXT_MISSING", "XRAY_AUTO_SAMPLING", "XRAY_AUTO_SQL",
    "AWS_XRAY_COLLECT_SQL_QUERIES", "XRAY_AUTO_PLUGINS", "XRAY_AUTO_PLUGINS_ROOT",
    "ECS_CONTAINER_METADATA_URI_V4", "AWS_EC2_METADATA_SERVICE_ENDPOINT"};
static const char *values[XR_ARRAY_SIZE(vars)];

static const char *fuzz_getenv(const char *name)
{
  size_t i;
  if (strcmp(name, "XRAY_AUTO_LOG_LEVEL") == 0)
    return "off";
  for (i = 0; i < XR_ARRAY_SIZE(vars); i++)
    if (strcmp(name, vars[i]) == 0)
      return values[i];
  return NULL;
}

static void check_config(const char *buf, size_t len)
{
  static struct xr_config cfg;
  static const struct xr_endpoint dflt = {"127.0.0.1", 2000};
  const char *p = buf, *end = buf + len;
  size_t i;

  for (i = 0; i < XR_ARRAY_SIZE(vars); i++) {
    values[i] = p < end ? p : NULL;
    if (p < end)
      p += strlen(p) + 1;
  }
  xr_config_load(&cfg, fuzz_getenv, "fuzz");
  check_endpoint(&cfg.udp, NULL, 0);
  check_endpoint(&cfg.tcp, NULL, 0);
  if (values[0] && *values[0]) {
    struct xr_endpoint u, t;
    if (xr_parse_daemon_address(values[0], &u, &t) == 0)
      XR_FZ_CHECK(same(&u, &cfg.udp) && same(&t, &cfg.tcp));
    else
      XR_FZ_CHECK(same(&dflt, &cfg.udp) && same(&dflt, &cfg.tcp));
  }
  XR_FZ_CHECK(memchr(cfg.service, '\0', sizeof(cfg.service)) && cfg.service[0]);
  XR_FZ_CHECK(xr_fz_utf8_ok((const unsigned char *)cfg.service, strlen(cfg.service)));
  XR_FZ_CHECK(cfg.segment_mode <= XR_SEGMENT_OFF && cfg.sampling <= XR_SAMPLING_ALL &&
              cfg.sql_mode <= XR_SQL_OFF && cfg.context_missing <= XR_CTX_RUNTIME_ERROR);
  XR_FZ_CHECK((cfg.hooks & ~XR_HOOK_ALL) == 0);
  XR_FZ_CHECK(cfg.log_level == 0);
  if (cfg.lambda_api.port)
    check_endpoint(&cfg.lambda_api, NULL, 0);
  else
    XR_FZ_CHECK(cfg.lambda_api.host[0] == '\0');
  /* Plugins: known bits; the endpoints "" or a printable http:// URL, the
   * root "" or absolute, all NUL-terminated in their arrays. */
  XR_FZ_CHECK((cfg.plugins & ~0xfu) == 0);
  XR_FZ_CHECK(memchr(cfg.ecs_uri, '\0', sizeof(cfg.ecs_uri)) &&
              memchr(cfg.imds_uri, '\0', sizeof(cfg.imds_uri)) &&
              memchr(cfg.plugins_root, '\0', sizeof(cfg.plugins_root)));
  XR_FZ_CHECK(!cfg.ecs_uri[0] || strncasecmp(cfg.ecs_uri, "http://", 7) == 0);
  XR_FZ_CHECK(!cfg.imds_uri[0] || strncasecmp(cfg.imds_uri, "http://", 7) == 0);
  XR_FZ_CHECK(!cfg.ecs_uri[0] || (cfg.plugins & XR_PLUGIN_ECS));
  XR_FZ_CHECK(!cfg.imds_uri[0] == !(cfg.plugins & XR_PLUGIN_EC2));
  XR_FZ_CHECK(!cfg.plugins_root[0] || cfg.plugins_root[0] == '/');
  for (i = 0; cfg.ecs_uri[i]; i++)
    XR_FZ_CHECK((unsigned char)cfg.ecs_uri[i] > 0x20 && (unsigned char)cfg.ecs_uri[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct xr_endpoint u, t, u2, t2, e, e2;
  char *s, back[2 * (XR_HOST_MAX + 16)];
  int rc;

  s = malloc(size + 1);
  XR_FZ_CHECK(s != NULL);
  memcpy(s, data, size);
  s[size] = '\0';

  /* ---- the variable's value, as a C string ---- */
  rc = xr_parse_daemon_address(s, &u, &t);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL);
  if (rc == 0) {
    check_endpoint(&u, s, strlen(s));
    check_endpoint(&t, s, strlen(s));
    if (!strchr(s, ' ')) {
      XR_FZ_CHECK(same(&u, &t));
      snprintf(back, sizeof(back), "%s:%u", u.host, u.port);
    } else {
      snprintf(back, sizeof(back), "udp:%s:%u tcp:%s:%u", u.host, u.port, t.host, t.port);
    }
    XR_FZ_CHECK(xr_parse_daemon_address(back, &u2, &t2) == 0);
    XR_FZ_CHECK(same(&u, &u2) && same(&t, &t2));
  }

  /* ---- (pointer, length), any bytes ---- */
  rc = xr_parse_host_port((const char *)data, size, &e);
  XR_FZ_CHECK(rc == 0 || rc == -EINVAL);
  if (rc == 0) {
    check_endpoint(&e, (const char *)data, size);
    snprintf(back, sizeof(back), "%s:%u", e.host, e.port);
    XR_FZ_CHECK(xr_parse_host_port(back, strlen(back), &e2) == 0 && same(&e, &e2));
  }

  /* ---- every variable at once ---- */
  check_config(s, size);
  free(s);
  return 0;
}
