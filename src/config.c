#include "xr_setup.h"

#include "config.h"

#include "log.h"
#include "names.h"
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XR_DEFAULT_DAEMON_HOST "127.0.0.1"
#define XR_DEFAULT_DAEMON_PORT 2000

static const char *xr_true_words[] = {"y", "yes", "t", "true", "on", "1"};
static const char *xr_false_words[] = {"n", "no", "f", "false", "off", "0"};

int xr_parse_bool(const char *s, bool *out)
{
  size_t i;
  for (i = 0; i < XR_ARRAY_SIZE(xr_true_words); i++)
    if (strcasecmp(s, xr_true_words[i]) == 0) {
      *out = true;
      return 0;
    }
  for (i = 0; i < XR_ARRAY_SIZE(xr_false_words); i++)
    if (strcasecmp(s, xr_false_words[i]) == 0) {
      *out = false;
      return 0;
    }
  return -EINVAL;
}

static bool xr_host_char_ok(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

int xr_parse_host_port(const char *s, size_t len, struct xr_endpoint *out)
{
  const char *colon = NULL;
  size_t i, hlen;
  unsigned long port = 0;

  for (i = 0; i < len; i++)
    if (s[i] == ':')
      colon = s + i; /* last colon */
  if (!colon)
    return -EINVAL;
  hlen = (size_t)(colon - s);
  if (hlen == 0 || hlen >= sizeof(out->host))
    return -EINVAL;
  for (i = 0; i < hlen; i++)
    if (!xr_host_char_ok(s[i]))
      return -EINVAL; /* also rejects IPv6 literals: not an SDK form */
  if (colon + 1 == s + len || (size_t)(s + len - colon - 1) > 5)
    return -EINVAL;
  for (i = (size_t)(colon - s) + 1; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -EINVAL;
    port = port * 10 + (unsigned long)(s[i] - '0');
  }
  if (port == 0 || port > 65535)
    return -EINVAL;
  memcpy(out->host, s, hlen);
  out->host[hlen] = '\0';
  out->port = (uint16_t)port;
  return 0;
}

int xr_parse_daemon_address(const char *s, struct xr_endpoint *udp,
                            struct xr_endpoint *tcp)
{
  const char *sp = strchr(s, ' ');
  struct xr_endpoint u, t;
  bool have_u = false, have_t = false;
  int pass;

  if (!sp) {
    if (xr_parse_host_port(s, strlen(s), &u) < 0)
      return -EINVAL;
    *udp = u;
    *tcp = u;
    return 0;
  }
  /* Exactly two tokens separated by one space, both prefixes required. */
  if (strchr(sp + 1, ' '))
    return -EINVAL;
  for (pass = 0; pass < 2; pass++) {
    const char *tok = pass ? sp + 1 : s;
    size_t n = pass ? strlen(sp + 1) : (size_t)(sp - s);
    struct xr_endpoint *dst;
    if (n > 4 && strncasecmp(tok, "udp:", 4) == 0 && !have_u) {
      dst = &u;
      have_u = true;
    } else if (n > 4 && strncasecmp(tok, "tcp:", 4) == 0 && !have_t) {
      dst = &t;
      have_t = true;
    } else {
      return -EINVAL;
    }
    if (xr_parse_host_port(tok + 4, n - 4, dst) < 0)
      return -EINVAL;
  }
  *udp = u;
  *tcp = t;
  return 0;
}

struct xr_word_bit {
  const char *name;
  unsigned bit;
};

static const struct xr_word_bit xr_hook_names[] = {
    {"curl", XR_HOOK_CURL}, {"pq", XR_HOOK_PQ}, {"mysql", XR_HOOK_MYSQL}, {"net", XR_HOOK_NET}};
static const struct xr_word_bit xr_prop_names[] = {{"xray", XR_PROP_XRAY},
                                                   {"w3c", XR_PROP_W3C}};
static const struct xr_word_bit xr_plugin_names[] = {{"ec2", XR_PLUGIN_EC2},
                                                     {"ecs", XR_PLUGIN_ECS},
                                                     {"eks", XR_PLUGIN_EKS},
                                                     {"beanstalk", XR_PLUGIN_BEANSTALK},
                                                     {"elastic_beanstalk", XR_PLUGIN_BEANSTALK}};

/* A comma-separated list of the words of tab (case-insensitive; spaces and
 * tabs around a word and empty items ignored: "curl,,pq" and "curl,"
 * alike) into *out, the bits of the words known. -EINVAL when a word is
 * unknown, *bad (of *badlen bytes) then the first such word. */
static int xr_parse_words(const char *s, const struct xr_word_bit *tab, size_t ntab,
                          unsigned *out, const char **bad, size_t *badlen)
{
  unsigned bits = 0;
  const char *p = s;
  int rc = 0;

  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    size_t i;
    bool found = false;
    while (n && (*p == ' ' || *p == '\t')) {
      p++;
      n--;
    }
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
      n--;
    for (i = 0; n && i < ntab; i++)
      if (strlen(tab[i].name) == n && strncasecmp(p, tab[i].name, n) == 0) {
        bits |= tab[i].bit;
        found = true;
      }
    if (n && !found && rc == 0) {
      rc = -EINVAL;
      *bad = p;
      *badlen = n;
    }
    if (!comma)
      break;
    p = comma + 1;
  }
  *out = bits;
  return rc;
}

int xr_parse_hooks(const char *s, unsigned *out)
{
  const char *bad;
  size_t badlen;
  unsigned bits;

  if (strcasecmp(s, "all") == 0) {
    *out = XR_HOOK_ALL;
    return 0;
  }
  if (strcasecmp(s, "none") == 0) {
    *out = 0;
    return 0;
  }
  if (xr_parse_words(s, xr_hook_names, XR_ARRAY_SIZE(xr_hook_names), &bits, &bad,
                     &badlen) < 0)
    return -EINVAL;
  *out = bits;
  return 0;
}

int xr_parse_propagate(const char *s, unsigned *out)
{
  const char *bad;
  size_t badlen;
  unsigned bits;

  if (xr_parse_words(s, xr_prop_names, XR_ARRAY_SIZE(xr_prop_names), &bits, &bad,
                     &badlen) < 0 ||
      !bits) /* ",": propagating nothing is not a choice offered */
    return -EINVAL;
  *out = bits;
  return 0;
}

int xr_parse_plugins(const char *s, unsigned *out, const char **bad, size_t *badlen)
{
  return xr_parse_words(s, xr_plugin_names, XR_ARRAY_SIZE(xr_plugin_names), out, bad,
                        badlen);
}

/* An http:// URL with a host (a metadata endpoint): stored in dst, or ""
 * and one log line naming var. */
static void xr_parse_metadata_uri(const char *var, const char *v, char *dst, size_t cap)
{
  struct xr_url u;
  const char *c;
  bool printable = true;

  dst[0] = '\0';
  if (!v || !*v)
    return;
  /* It becomes a request line: no spaces, controls or 8-bit bytes. */
  for (c = v; *c; c++)
    if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
      printable = false;
  if (!printable || strlen(v) >= cap || strncasecmp(v, "http://", 7) != 0 ||
      xr_url_parse(v, &u) < 0 || !u.host[0] || strcmp(u.scheme, "http") != 0 ||
      u.port == 0 || u.port > 65535) {
    xr_err("%s=\"%.64s\" is not an http://host[:port][/path] URL; ignored", var, v);
    return;
  }
  strcpy(dst, v);
}

struct xr_enum_word {
  const char *word;
  int value;
};

/* Looks s up in words; on no match logs one line and returns dflt. */
static int xr_parse_enum(const char *var, const char *s,
                         const struct xr_enum_word *words, size_t n, int dflt,
                         const char *dflt_name)
{
  size_t i;
  if (!s || !*s)
    return dflt; /* empty is unset (ENV X= in a Dockerfile), silently */
  for (i = 0; i < n; i++)
    if (strcasecmp(s, words[i].word) == 0)
      return words[i].value;
  xr_err("%s=\"%.64s\" is not valid; using %s", var, s, dflt_name);
  return dflt;
}

void xr_config_load(struct xr_config *cfg, xr_getenv_fn get, const char *program)
{
  static const struct xr_enum_word levels[] = {
      {"off", XR_LOG_OFF},     {"none", XR_LOG_OFF},   {"error", XR_LOG_ERROR},
      {"warn", XR_LOG_WARN},   {"warning", XR_LOG_WARN}, {"info", XR_LOG_INFO},
      {"debug", XR_LOG_DEBUG}};
  static const struct xr_enum_word modes[] = {{"call", XR_SEGMENT_CALL},
                                              {"process", XR_SEGMENT_PROCESS},
                                              {"off", XR_SEGMENT_OFF}};
  static const struct xr_enum_word missing[] = {
      {"LOG_ERROR", XR_CTX_LOG_ERROR},
      {"IGNORE_ERROR", XR_CTX_IGNORE_ERROR},
      {"RUNTIME_ERROR", XR_CTX_RUNTIME_ERROR}};
  static const struct xr_enum_word sampling[] = {
      {"default", XR_SAMPLING_DEFAULT},
      {"all", XR_SAMPLING_ALL},
      {"centralized", XR_SAMPLING_CENTRALIZED}};
  static const struct xr_enum_word sql[] = {{"sanitized", XR_SQL_SANITIZED},
                                            {"raw", XR_SQL_RAW},
                                            {"off", XR_SQL_OFF}};
  const char *v;

  memset(cfg, 0, sizeof(*cfg));
  cfg->enabled = true;
  strcpy(cfg->udp.host, XR_DEFAULT_DAEMON_HOST);
  cfg->udp.port = XR_DEFAULT_DAEMON_PORT;
  cfg->tcp = cfg->udp;
  cfg->hooks = XR_HOOK_ALL;

  /* The level first, so that the other variables' complaints obey it. */
  cfg->log_level = xr_parse_enum("XRAY_AUTO_LOG_LEVEL", get("XRAY_AUTO_LOG_LEVEL"),
                                 levels, XR_ARRAY_SIZE(levels), XR_LOG_ERROR,
                                 "error");
  xr_log_level = cfg->log_level;

  v = get("AWS_XRAY_SDK_ENABLED");
  if (v && *v && xr_parse_bool(v, &cfg->enabled) < 0) {
    cfg->enabled = true;
    xr_err("AWS_XRAY_SDK_ENABLED=\"%.64s\" is not a boolean; tracing stays enabled", v);
  }

  v = get("AWS_XRAY_DAEMON_ADDRESS");
  if (v && *v && xr_parse_daemon_address(v, &cfg->udp, &cfg->tcp) < 0) {
    strcpy(cfg->udp.host, XR_DEFAULT_DAEMON_HOST);
    cfg->udp.port = XR_DEFAULT_DAEMON_PORT;
    cfg->tcp = cfg->udp;
    xr_err("AWS_XRAY_DAEMON_ADDRESS=\"%.64s\" is not host:port or \"tcp:h:p udp:h:p\"; using 127.0.0.1:2000",
           v);
  }

  v = get("AWS_XRAY_TRACING_NAME");
  if (!v || !*v || xr_sanitize_name(v, cfg->service, sizeof(cfg->service)) == 0)
    (void)xr_sanitize_name(program && *program ? program : "unknown",
                           cfg->service, sizeof(cfg->service));
  if (!cfg->service[0])
    strcpy(cfg->service, "unknown");

  cfg->context_missing = (enum xr_context_missing)xr_parse_enum(
      "AWS_XRAY_CONTEXT_MISSING", get("AWS_XRAY_CONTEXT_MISSING"), missing,
      XR_ARRAY_SIZE(missing), XR_CTX_LOG_ERROR, "LOG_ERROR");
  cfg->segment_mode = (enum xr_segment_mode)xr_parse_enum(
      "XRAY_AUTO_SEGMENT", get("XRAY_AUTO_SEGMENT"), modes,
      XR_ARRAY_SIZE(modes), XR_SEGMENT_CALL, "call");
  cfg->sampling = (enum xr_sampling)xr_parse_enum(
      "XRAY_AUTO_SAMPLING", get("XRAY_AUTO_SAMPLING"), sampling,
      XR_ARRAY_SIZE(sampling), XR_SAMPLING_DEFAULT, "default");

  /* Only the path: the file is read by the tracer's initialisation. */
  v = get("XRAY_AUTO_SAMPLING_RULES");
  if (v && *v) {
    if (strlen(v) < sizeof(cfg->sampling_rules))
      strcpy(cfg->sampling_rules, v);
    else
      xr_err("XRAY_AUTO_SAMPLING_RULES is longer than %zu bytes; using the default rule",
             sizeof(cfg->sampling_rules) - 1);
  }

  v = get("XRAY_AUTO_HOOKS");
  if (v && *v && xr_parse_hooks(v, &cfg->hooks) < 0) {
    cfg->hooks = XR_HOOK_ALL;
    xr_err("XRAY_AUTO_HOOKS=\"%.64s\" is not a list of curl,pq,mysql,net; hooking all", v);
  }

  /* XRAY_AUTO_SQL decides whenever it is set, even to garbage; the Node
   * and Java SDKs' switch only when it is not. Empty counts as unset. */
  cfg->sql_mode = XR_SQL_SANITIZED;
  v = get("XRAY_AUTO_SQL");
  if (v && *v) {
    cfg->sql_mode = (enum xr_sql_mode)xr_parse_enum(
        "XRAY_AUTO_SQL", v, sql, XR_ARRAY_SIZE(sql), XR_SQL_SANITIZED, "sanitized");
  } else {
    bool collect = false;
    v = get("AWS_XRAY_COLLECT_SQL_QUERIES");
    if (v && *v && xr_parse_bool(v, &collect) < 0) {
      collect = false;
      xr_err("AWS_XRAY_COLLECT_SQL_QUERIES=\"%.64s\" is not a boolean; queries stay sanitized",
             v);
    }
    if (collect)
      cfg->sql_mode = XR_SQL_RAW;
  }

  v = get("_X_AMZN_TRACE_ID");
  if (v && *v) {
    if (xr_trace_header_parse(v, strlen(v), &cfg->parent) == 0)
      cfg->has_parent = true;
    else
      xr_warn("_X_AMZN_TRACE_ID is not a valid trace header; ignored");
  }

  cfg->propagate = XR_PROP_XRAY;
  v = get("XRAY_AUTO_PROPAGATE");
  if (v && *v && xr_parse_propagate(v, &cfg->propagate) < 0) {
    cfg->propagate = XR_PROP_XRAY;
    xr_err("XRAY_AUTO_PROPAGATE=\"%.64s\" is not a list of xray,w3c; using xray", v);
  }
  cfg->noop_id = true;
  v = get("AWS_XRAY_NOOP_ID");
  if (v && *v && xr_parse_bool(v, &cfg->noop_id) < 0) {
    cfg->noop_id = true;
    xr_err("AWS_XRAY_NOOP_ID=\"%.64s\" is not a boolean; unsampled calls pass no-op ids", v);
  }
  v = get("XRAY_AUTO_PLUGINS");
  if (v && *v) {
    const char *bad = NULL;
    size_t badlen = 0;
    /* The valid names are kept: each plugin stands alone, and a typo in
     * one should not silently drop the others. */
    if (xr_parse_plugins(v, &cfg->plugins, &bad, &badlen) < 0)
      xr_err("XRAY_AUTO_PLUGINS: \"%.*s\" is not one of ec2,ecs,eks,beanstalk; ignored",
             (int)(badlen > 32 ? 32 : badlen), bad);
  }
  v = get("XRAY_AUTO_PLUGINS_ROOT");
  if (v && *v) {
    if (v[0] != '/' || strlen(v) >= sizeof(cfg->plugins_root) || strchr(v, '\n'))
      xr_err("XRAY_AUTO_PLUGINS_ROOT=\"%.64s\" is not an absolute path under %zu bytes; using /",
             v, sizeof(cfg->plugins_root));
    else
      strcpy(cfg->plugins_root, v);
  }
  if (cfg->plugins & XR_PLUGIN_ECS)
    xr_parse_metadata_uri("ECS_CONTAINER_METADATA_URI_V4",
                          get("ECS_CONTAINER_METADATA_URI_V4"), cfg->ecs_uri,
                          sizeof(cfg->ecs_uri));
  if (cfg->plugins & XR_PLUGIN_EC2) {
    xr_parse_metadata_uri("AWS_EC2_METADATA_SERVICE_ENDPOINT",
                          get("AWS_EC2_METADATA_SERVICE_ENDPOINT"), cfg->imds_uri,
                          sizeof(cfg->imds_uri));
    if (!cfg->imds_uri[0])
      strcpy(cfg->imds_uri, "http://169.254.169.254");
  }

  v = get("AWS_LAMBDA_RUNTIME_API");
  if (v && *v && xr_parse_host_port(v, strlen(v), &cfg->lambda_api) < 0) {
    memset(&cfg->lambda_api, 0, sizeof(cfg->lambda_api));
    xr_warn("AWS_LAMBDA_RUNTIME_API=\"%.64s\" is not host:port; ignored", v);
  }
}
