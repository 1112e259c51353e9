/*
 * Configuration, read once from the environment by the constructor.
 * Every malformed value falls back to its default with one log line; nothing
 * here resolves names, opens files or allocates.
 * Contract: xr_config_load() is pure apart from logging; the getter is
 * injected so unit tests can feed any environment.
 */
#ifndef XR_CONFIG_H
#define XR_CONFIG_H

#include "xr_setup.h"

#include "trace_header.h"

enum xr_segment_mode { XR_SEGMENT_CALL, XR_SEGMENT_PROCESS, XR_SEGMENT_OFF };
enum xr_context_missing {
  XR_CTX_LOG_ERROR,
  XR_CTX_IGNORE_ERROR,
  XR_CTX_RUNTIME_ERROR
};
/* centralized: the daemon's rules (sampling_poller.h), local rules as the
 * fallback; never in Lambda. */
enum xr_sampling { XR_SAMPLING_DEFAULT, XR_SAMPLING_ALL, XR_SAMPLING_CENTRALIZED };
/* What sql.sanitized_query holds: literals replaced (the default), the
 * statement as given, or nothing. */
enum xr_sql_mode { XR_SQL_SANITIZED, XR_SQL_RAW, XR_SQL_OFF };

#define XR_HOOK_CURL 0x1u
#define XR_HOOK_PQ 0x2u
#define XR_HOOK_MYSQL 0x4u
#define XR_HOOK_NET 0x8u
#define XR_HOOK_ALL (XR_HOOK_CURL | XR_HOOK_PQ | XR_HOOK_MYSQL | XR_HOOK_NET)

/* XRAY_AUTO_PROPAGATE: the trace headers passed downstream and read. */
#define XR_PROP_XRAY 0x1u /* X-Amzn-Trace-Id */
#define XR_PROP_W3C 0x2u  /* traceparent */
/* XRAY_AUTO_PLUGINS (plugins.h): where a segment ran. */
#define XR_PLUGIN_EC2 0x1u
#define XR_PLUGIN_ECS 0x2u
#define XR_PLUGIN_EKS 0x4u
#define XR_PLUGIN_BEANSTALK 0x8u

#define XR_HOST_MAX 254
#define XR_RULES_PATH_MAX 4096
struct xr_endpoint {
  char host[XR_HOST_MAX]; /* literal or name, resolved at first use */
  uint16_t port;
};

struct xr_config {
  bool enabled;
  struct xr_endpoint udp; /* documents */
  struct xr_endpoint tcp; /* sampling proxy */
  char service[XR_NAME_MAX_BYTES + 1];
  enum xr_context_missing context_missing;
  enum xr_segment_mode segment_mode;
  enum xr_sampling sampling;
  unsigned hooks;
  enum xr_sql_mode sql_mode;
  int log_level;
  bool has_parent; /* _X_AMZN_TRACE_ID was valid */
  struct xr_trace_header parent;
  struct xr_endpoint lambda_api; /* AWS_LAMBDA_RUNTIME_API, port 0 if unset */
  /* XRAY_AUTO_SAMPLING_RULES: a rules file's path, "" if unset; read by
   * xr_sampling_load, not here. */
  char sampling_rules[XR_RULES_PATH_MAX];
  unsigned propagate; /* XR_PROP_* bits, never 0 (default XR_PROP_XRAY) */
  /* AWS_XRAY_NOOP_ID (default true): unsampled contexts pass the no-op
   * ids downstream (Parent=0000000000000000, and a new trace's Root
   * 1-00000000-000000000000000000000000) instead of random ones. */
  bool noop_id;
  unsigned plugins; /* XR_PLUGIN_* */
  /* XRAY_AUTO_PLUGINS_ROOT: prefix of the files the plugins read
   * (environment.conf, the cgroup and mountinfo files); "" is "/". */
  char plugins_root[256];
  /* ECS_CONTAINER_METADATA_URI_V4 (read only with "ecs"; "" when unset or
   * malformed) and AWS_EC2_METADATA_SERVICE_ENDPOINT (only with "ec2";
   * default http://169.254.169.254). Both http://host[:port][/path]. */
  char ecs_uri[512];
  char imds_uri[512];
};

typedef const char *(*xr_getenv_fn)(const char *name);

/* Fills cfg from the getter; never fails (defaults on bad input).
 * program is the fallback service name (the program's short name). */
void xr_config_load(struct xr_config *cfg, xr_getenv_fn get, const char *program);

/* "host:port" or "tcp:h:p udp:h:p" (either order). 0 or -EINVAL. */
int xr_parse_daemon_address(const char *s, struct xr_endpoint *udp,
                            struct xr_endpoint *tcp) XR_WUR;
/* "host:port" with a numeric port 1..65535. 0 or -EINVAL. */
int xr_parse_host_port(const char *s, size_t len, struct xr_endpoint *out) XR_WUR;
/* Comma-separated families, "all" or "none". 0 or -EINVAL. */
int xr_parse_hooks(const char *s, unsigned *out) XR_WUR;
/* Comma-separated "xray", "w3c" (case-insensitive, spaces and empty
 * items ignored; at least one). 0 or -EINVAL. */
int xr_parse_propagate(const char *s, unsigned *out) XR_WUR;
/* Comma-separated ec2,ecs,eks,beanstalk (case-insensitive; empty items
 * ignored). -EINVAL when a word is unknown: *out then holds the valid
 * ones, and *bad (of *badlen bytes) the first unknown word. */
int xr_parse_plugins(const char *s, unsigned *out, const char **bad,
                     size_t *badlen) XR_WUR;
/* Python's rules: n/no/f/false/off/0 -> false, y/yes/t/true/on/1 -> true. */
int xr_parse_bool(const char *s, bool *out) XR_WUR;

#endif /* XR_CONFIG_H */
