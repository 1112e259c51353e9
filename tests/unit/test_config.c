/* src/config.c: every variable, every bad value falling back to its default. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"

/* Loads the configuration from a NULL-terminated name/value list. */
static void load(struct xr_config *cfg, const char *const *env, const char *program)
{
  ut_env_set(env);
  xr_config_load(cfg, ut_getenv, program);
  ut_env_set(NULL);
}

static void assert_endpoint(const struct xr_endpoint *e, const char *host, unsigned port)
{
  assert_string_equal(e->host, host);
  assert_int_equal(e->port, port);
}

static int restore_log_level(void **state)
{
  (void)state;
  xr_log_level = XR_LOG_ERROR;
  return 0;
}

static void test_defaults(void **state)
{
  static const char *const env[] = {NULL};
  struct xr_config cfg;
  (void)state;

  load(&cfg, env, "myprog");
  assert_true(cfg.enabled);
  assert_endpoint(&cfg.udp, "127.0.0.1", 2000);
  assert_endpoint(&cfg.tcp, "127.0.0.1", 2000);
  assert_string_equal(cfg.service, "myprog");
  assert_int_equal(cfg.context_missing, XR_CTX_LOG_ERROR);
  assert_int_equal(cfg.segment_mode, XR_SEGMENT_CALL);
  assert_int_equal(cfg.sampling, XR_SAMPLING_DEFAULT);
  assert_int_equal(cfg.hooks, XR_HOOK_ALL);
  assert_int_equal(cfg.sql_mode, XR_SQL_SANITIZED);
  assert_int_equal(cfg.log_level, XR_LOG_ERROR);
  assert_false(cfg.has_parent);
  assert_string_equal(cfg.parent.root, "");
  assert_int_equal(cfg.lambda_api.port, 0);
  assert_int_equal(cfg.propagate, XR_PROP_XRAY);
  assert_true(cfg.noop_id);
}

/* ------------------------------------------------------------------ */
/* AWS_XRAY_DAEMON_ADDRESS                                             */

struct addr_case {
  const char *value;
  bool ok;
  const char *udp_host;
  unsigned udp_port;
  const char *tcp_host;
  unsigned tcp_port;
};

static char long_host_ok[300];  /* 253 characters + ":2000" */
static char long_host_bad[300]; /* 254 characters + ":2000" */

static const struct addr_case addr_cases[] = {
    {"127.0.0.1:3000", true, "127.0.0.1", 3000, "127.0.0.1", 3000},
    {"10.1.2.3:1", true, "10.1.2.3", 1, "10.1.2.3", 1},
    {"10.1.2.3:65535", true, "10.1.2.3", 65535, "10.1.2.3", 65535},
    {"xray-daemon:2000", true, "xray-daemon", 2000, "xray-daemon", 2000},
    {"daemon_1.svc.cluster.local:2001", true, "daemon_1.svc.cluster.local", 2001,
     "daemon_1.svc.cluster.local", 2001},
    {"localhost:02000", true, "localhost", 2000, "localhost", 2000},
    {"tcp:127.0.0.1:2001 udp:127.0.0.2:2002", true, "127.0.0.2", 2002, "127.0.0.1", 2001},
    {"udp:127.0.0.2:2002 tcp:127.0.0.1:2001", true, "127.0.0.2", 2002, "127.0.0.1", 2001},
    {"tcp:xray:3000 udp:xray:3001", true, "xray", 3001, "xray", 3000},
    /* missing port */
    {"127.0.0.1", false, NULL, 0, NULL, 0},
    {"127.0.0.1:", false, NULL, 0, NULL, 0},
    {"localhost", false, NULL, 0, NULL, 0},
    /* missing host */
    {":2000", false, NULL, 0, NULL, 0},
    /* bad ports */
    {"127.0.0.1:0", false, NULL, 0, NULL, 0},
    {"127.0.0.1:65536", false, NULL, 0, NULL, 0},
    {"127.0.0.1:99999", false, NULL, 0, NULL, 0},
    {"127.0.0.1:123456", false, NULL, 0, NULL, 0},
    {"127.0.0.1:abc", false, NULL, 0, NULL, 0},
    {"127.0.0.1:20a0", false, NULL, 0, NULL, 0},
    {"127.0.0.1:-1", false, NULL, 0, NULL, 0},
    {"127.0.0.1:+80", false, NULL, 0, NULL, 0},
    {"127.0.0.1:2000:3000", false, NULL, 0, NULL, 0},
    /* three tokens */
    {"tcp:127.0.0.1:2000 udp:127.0.0.1:2000 udp:127.0.0.1:2001", false, NULL, 0, NULL, 0},
    {"127.0.0.1:2000 127.0.0.1:2001 127.0.0.1:2002", false, NULL, 0, NULL, 0},
    /* one prefixed token, or the same prefix twice */
    {"udp:127.0.0.1:2000", false, NULL, 0, NULL, 0},
    {"tcp:127.0.0.1:2000", false, NULL, 0, NULL, 0},
    {"udp:127.0.0.1:2000 udp:127.0.0.1:2001", false, NULL, 0, NULL, 0},
    {"tcp:127.0.0.1:2000 tcp:127.0.0.1:2001", false, NULL, 0, NULL, 0},
    {"udp:127.0.0.1:2000 127.0.0.1:2001", false, NULL, 0, NULL, 0},
    {"udp:127.0.0.1:2000 tcp:", false, NULL, 0, NULL, 0},
    {"udp: tcp:", false, NULL, 0, NULL, 0},
    {"udp:127.0.0.1:2000 tcp:127.0.0.1:0", false, NULL, 0, NULL, 0},
    {"udp:127.0.0.1:2000  tcp:127.0.0.1:2001", false, NULL, 0, NULL, 0},
    /* IPv6 literals are not an SDK form */
    {"[::1]:2000", false, NULL, 0, NULL, 0},
    {"::1:2000", false, NULL, 0, NULL, 0},
    {"fe80::1:2000", false, NULL, 0, NULL, 0},
    {"tcp:[::1]:2000 udp:[::1]:2000", false, NULL, 0, NULL, 0},
    /* not a host name */
    {"http://127.0.0.1:2000", false, NULL, 0, NULL, 0},
    {"host/x:2000", false, NULL, 0, NULL, 0},
    {"ho st:2000", false, NULL, 0, NULL, 0},
};

static int setup_long_hosts(void **state)
{
  (void)state;
  memset(long_host_ok, 'a', 253);
  strcpy(long_host_ok + 253, ":2000");
  memset(long_host_bad, 'a', 254);
  strcpy(long_host_bad + 254, ":2000");
  return 0;
}

static void check_addr(const char *value, bool ok, const char *uh, unsigned up,
                       const char *th, unsigned tp)
{
  struct xr_endpoint udp, tcp;
  struct xr_config cfg;
  const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "AWS_XRAY_DAEMON_ADDRESS", value, NULL};
  int rc;

  memset(&udp, 0, sizeof(udp));
  memset(&tcp, 0, sizeof(tcp));
  rc = xr_parse_daemon_address(value, &udp, &tcp);
  if (rc != (ok ? 0 : -EINVAL))
    fail_msg("xr_parse_daemon_address(\"%.80s\") = %d, want %d", value, rc, ok ? 0 : -EINVAL);
  load(&cfg, env, "prog");
  if (ok) {
    assert_endpoint(&udp, uh, up);
    assert_endpoint(&tcp, th, tp);
    assert_endpoint(&cfg.udp, uh, up);
    assert_endpoint(&cfg.tcp, th, tp);
  } else {
    /* Falls back to the default, for both. */
    assert_endpoint(&cfg.udp, "127.0.0.1", 2000);
    assert_endpoint(&cfg.tcp, "127.0.0.1", 2000);
  }
}

static void test_daemon_address_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(addr_cases); i++) {
    const struct addr_case *c = &addr_cases[i];
    print_message("  AWS_XRAY_DAEMON_ADDRESS=\"%s\"\n", c->value);
    check_addr(c->value, c->ok, c->udp_host, c->udp_port, c->tcp_host, c->tcp_port);
  }
}

static void test_daemon_address_host_length(void **state)
{
  char want[260];
  (void)state;
  memcpy(want, long_host_ok, 253);
  want[253] = '\0';
  check_addr(long_host_ok, true, want, 2000, want, 2000);
  check_addr(long_host_bad, false, NULL, 0, NULL, 0);
}

static void test_daemon_address_empty(void **state)
{
  static const char *const env[] = {"AWS_XRAY_DAEMON_ADDRESS", "", NULL};
  struct xr_config cfg;
  (void)state;
  load(&cfg, env, "prog");
  assert_endpoint(&cfg.udp, "127.0.0.1", 2000);
  assert_endpoint(&cfg.tcp, "127.0.0.1", 2000);
}

static void test_parse_host_port_uses_len(void **state)
{
  struct xr_endpoint e;
  const char *s = "127.0.0.1:2000xyz";
  (void)state;
  assert_int_equal(xr_parse_host_port(s, 14, &e), 0);
  assert_endpoint(&e, "127.0.0.1", 2000);
  assert_int_equal(xr_parse_host_port(s, 17, &e), -EINVAL);
  assert_int_equal(xr_parse_host_port(s, 10, &e), -EINVAL); /* "127.0.0.1:" */
  assert_int_equal(xr_parse_host_port(s, 0, &e), -EINVAL);
  assert_int_equal(xr_parse_host_port("h:8", 3, &e), 0);
  assert_endpoint(&e, "h", 8);
}

/* ------------------------------------------------------------------ */
/* AWS_XRAY_SDK_ENABLED                                                */

struct bool_case {
  const char *value;
  int rc;
  bool value_out;
};

static const struct bool_case bool_cases[] = {
    {"y", 0, true},       {"yes", 0, true},     {"t", 0, true},
    {"true", 0, true},    {"on", 0, true},      {"1", 0, true},
    {"TRUE", 0, true},    {"Yes", 0, true},     {"ON", 0, true},
    {"n", 0, false},      {"no", 0, false},     {"f", 0, false},
    {"false", 0, false},  {"off", 0, false},    {"0", 0, false},
    {"FALSE", 0, false},  {"No", 0, false},     {"OFF", 0, false},
    {"", -EINVAL, true},  {"maybe", -EINVAL, true}, {"2", -EINVAL, true},
    {"truee", -EINVAL, true}, {" true", -EINVAL, true}, {"false ", -EINVAL, true},
    {"00", -EINVAL, true}, {"disabled", -EINVAL, true},
};

static void test_sdk_enabled_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(bool_cases); i++) {
    const struct bool_case *c = &bool_cases[i];
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "AWS_XRAY_SDK_ENABLED", c->value, NULL};
    struct xr_config cfg;
    bool b = !c->value_out;
    int rc = xr_parse_bool(c->value, &b);

    print_message("  AWS_XRAY_SDK_ENABLED=\"%s\"\n", c->value);
    assert_int_equal(rc, c->rc);
    if (rc == 0)
      assert_int_equal(b, c->value_out);
    load(&cfg, env, "prog");
    /* Garbage keeps tracing enabled. */
    assert_int_equal(cfg.enabled, c->value_out);
  }
}

/* ------------------------------------------------------------------ */
/* AWS_XRAY_TRACING_NAME                                               */

static void check_service(const char *value, const char *program, const char *want)
{
  const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "AWS_XRAY_TRACING_NAME", value, NULL};
  struct xr_config cfg;
  load(&cfg, value ? env : env + 4 /* none set */, program);
  assert_string_equal(cfg.service, want);
}

static void test_tracing_name(void **state)
{
  char long_name[400], want[201];
  (void)state;
  check_service("orders-api", "prog", "orders-api");
  check_service("my service_1.v2:x/y%z&#=+\\-@", "prog", "my service_1.v2:x/y%z&#=+\\-@");
  check_service("svc?;*()!$~^<>name", "prog", "svcname");
  check_service("", "prog", "prog");
  check_service("?;*()!$~^<>", "prog", "prog");   /* nothing left: program */
  check_service(NULL, "prog", "prog");
  check_service(NULL, "a?b(c)", "abc");           /* the program is sanitized too */
  check_service("", "", "unknown");
  check_service("", NULL, "unknown");
  check_service("???", "!!!", "unknown");
  memset(long_name, 'n', 300);
  long_name[300] = '\0';
  memset(want, 'n', 200);
  want[200] = '\0';
  check_service(long_name, "prog", want);
}

/* ------------------------------------------------------------------ */
/* Enumerations                                                        */

struct enum_case {
  const char *var;
  const char *value;
  int want;
};

static const struct enum_case enum_cases[] = {
    {"AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR", XR_CTX_LOG_ERROR},
    {"AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR", XR_CTX_IGNORE_ERROR},
    {"AWS_XRAY_CONTEXT_MISSING", "RUNTIME_ERROR", XR_CTX_RUNTIME_ERROR},
    {"AWS_XRAY_CONTEXT_MISSING", "", XR_CTX_LOG_ERROR},
    {"AWS_XRAY_CONTEXT_MISSING", "PANIC", XR_CTX_LOG_ERROR},
    {"AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR ", XR_CTX_LOG_ERROR},
    {"XRAY_AUTO_SEGMENT", "call", XR_SEGMENT_CALL},
    {"XRAY_AUTO_SEGMENT", "process", XR_SEGMENT_PROCESS},
    {"XRAY_AUTO_SEGMENT", "off", XR_SEGMENT_OFF},
    {"XRAY_AUTO_SEGMENT", "", XR_SEGMENT_CALL},
    {"XRAY_AUTO_SEGMENT", "thread", XR_SEGMENT_CALL},
    {"XRAY_AUTO_SEGMENT", "processes", XR_SEGMENT_CALL},
    {"XRAY_AUTO_SAMPLING", "default", XR_SAMPLING_DEFAULT},
    {"XRAY_AUTO_SAMPLING", "all", XR_SAMPLING_ALL},
    {"XRAY_AUTO_SAMPLING", "centralized", XR_SAMPLING_CENTRALIZED},
    {"XRAY_AUTO_SAMPLING", "CENTRALIZED", XR_SAMPLING_CENTRALIZED},
    {"XRAY_AUTO_SAMPLING", "central", XR_SAMPLING_DEFAULT},
    {"XRAY_AUTO_SAMPLING", "", XR_SAMPLING_DEFAULT},
    {"XRAY_AUTO_SAMPLING", "100%", XR_SAMPLING_DEFAULT},
    {"XRAY_AUTO_SAMPLING", "al", XR_SAMPLING_DEFAULT},
    {"XRAY_AUTO_LOG_LEVEL", "off", XR_LOG_OFF},
    {"XRAY_AUTO_LOG_LEVEL", "none", XR_LOG_OFF},
    {"XRAY_AUTO_LOG_LEVEL", "error", XR_LOG_ERROR},
    {"XRAY_AUTO_LOG_LEVEL", "warn", XR_LOG_WARN},
    {"XRAY_AUTO_LOG_LEVEL", "warning", XR_LOG_WARN},
    {"XRAY_AUTO_LOG_LEVEL", "info", XR_LOG_INFO},
    {"XRAY_AUTO_LOG_LEVEL", "debug", XR_LOG_DEBUG},
    {"XRAY_AUTO_LOG_LEVEL", "", XR_LOG_ERROR},
    {"XRAY_AUTO_LOG_LEVEL", "verbose", XR_LOG_ERROR},
    {"XRAY_AUTO_LOG_LEVEL", "5", XR_LOG_ERROR},
};

static void test_enums_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(enum_cases); i++) {
    const struct enum_case *c = &enum_cases[i];
    /* The level is read first, so a garbage level cannot be silenced here;
     * the other variables are loaded with logging off. */
    bool is_level = strcmp(c->var, "XRAY_AUTO_LOG_LEVEL") == 0;
    const char *env[] = {c->var, c->value, is_level ? NULL : "XRAY_AUTO_LOG_LEVEL", "off", NULL};
    struct xr_config cfg;
    int got;

    print_message("  %s=\"%s\"\n", c->var, c->value);
    load(&cfg, env, "prog");
    if (strcmp(c->var, "AWS_XRAY_CONTEXT_MISSING") == 0)
      got = (int)cfg.context_missing;
    else if (strcmp(c->var, "XRAY_AUTO_SEGMENT") == 0)
      got = (int)cfg.segment_mode;
    else if (strcmp(c->var, "XRAY_AUTO_SAMPLING") == 0)
      got = (int)cfg.sampling;
    else
      got = cfg.log_level;
    assert_int_equal(got, c->want);
    if (is_level)
      assert_int_equal(xr_log_level, c->want); /* applied at once */
  }
}

/* ------------------------------------------------------------------ */
/* XRAY_AUTO_HOOKS                                                     */

struct hooks_case {
  const char *value;
  int rc;
  unsigned want; /* the configured set (all on a bad value) */
};

static const struct hooks_case hooks_cases[] = {
    {"all", 0, XR_HOOK_ALL},
    {"none", 0, 0},
    {"curl", 0, XR_HOOK_CURL},
    {"pq", 0, XR_HOOK_PQ},
    {"mysql", 0, XR_HOOK_MYSQL},
    {"net", 0, XR_HOOK_NET},
    {"curl,pq", 0, XR_HOOK_CURL | XR_HOOK_PQ},
    {"mysql,net,curl", 0, XR_HOOK_MYSQL | XR_HOOK_NET | XR_HOOK_CURL},
    {"curl,pq,mysql,net", 0, XR_HOOK_ALL},
    {" curl , mysql ", 0, XR_HOOK_CURL | XR_HOOK_MYSQL},
    {"curl,  pq", 0, XR_HOOK_CURL | XR_HOOK_PQ},
    {"curl,curl", 0, XR_HOOK_CURL},
    {"curl,bogus", -EINVAL, XR_HOOK_ALL},
    {"bogus", -EINVAL, XR_HOOK_ALL},
    {"curl;pq", -EINVAL, XR_HOOK_ALL},
    {"curl pq", -EINVAL, XR_HOOK_ALL},
    {"curl,,pq", 0, XR_HOOK_CURL | XR_HOOK_PQ}, /* empty tokens skipped */
    {"curls", -EINVAL, XR_HOOK_ALL},
    {"all,curl", -EINVAL, XR_HOOK_ALL},
};

static void test_hooks_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(hooks_cases); i++) {
    const struct hooks_case *c = &hooks_cases[i];
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "XRAY_AUTO_HOOKS", c->value, NULL};
    struct xr_config cfg;
    unsigned bits = 0xdead;
    int rc = xr_parse_hooks(c->value, &bits);

    print_message("  XRAY_AUTO_HOOKS=\"%s\"\n", c->value);
    assert_int_equal(rc, c->rc);
    if (rc == 0)
      assert_int_equal(bits, c->want);
    load(&cfg, env, "prog");
    assert_int_equal(cfg.hooks, c->want);
  }
}

/* ------------------------------------------------------------------ */
/* XRAY_AUTO_SQL, AWS_XRAY_COLLECT_SQL_QUERIES                         */

/* load() with stderr caught: how many log lines it wrote. */
static int load_count_logs(struct xr_config *cfg, const char *const *env)
{
  char buf[4096];
  int p[2], saved, lines = 0;
  ssize_t n, i;

  assert_int_equal(pipe(p), 0);
  assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  saved = dup(STDERR_FILENO);
  assert_true(saved >= 0);
  assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
  load(cfg, env, "prog");
  assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(p[1]);
  while ((n = read(p[0], buf, sizeof(buf))) > 0)
    for (i = 0; i < n; i++)
      lines += buf[i] == '\n';
  close(p[0]);
  return lines;
}

struct sql_mode_case {
  const char *sql;     /* XRAY_AUTO_SQL, NULL: unset */
  const char *collect; /* AWS_XRAY_COLLECT_SQL_QUERIES, NULL: unset */
  enum xr_sql_mode want;
  int logs;
};

static const struct sql_mode_case sql_mode_cases[] = {
    {NULL, NULL, XR_SQL_SANITIZED, 0},
    {"sanitized", NULL, XR_SQL_SANITIZED, 0},
    {"raw", NULL, XR_SQL_RAW, 0},
    {"off", NULL, XR_SQL_OFF, 0},
    {"RAW", NULL, XR_SQL_RAW, 0},
    {"Off", NULL, XR_SQL_OFF, 0},
    {"SANITIZED", NULL, XR_SQL_SANITIZED, 0},
    {"verbatim", NULL, XR_SQL_SANITIZED, 1},
    {"raw ", NULL, XR_SQL_SANITIZED, 1},
    {"true", NULL, XR_SQL_SANITIZED, 1},
    {"", NULL, XR_SQL_SANITIZED, 0}, /* empty is unset */
    {NULL, "true", XR_SQL_RAW, 0},
    {NULL, "1", XR_SQL_RAW, 0},
    {NULL, "YES", XR_SQL_RAW, 0},
    {NULL, "on", XR_SQL_RAW, 0},
    {NULL, "false", XR_SQL_SANITIZED, 0},
    {NULL, "0", XR_SQL_SANITIZED, 0},
    {NULL, "no", XR_SQL_SANITIZED, 0},
    {NULL, "", XR_SQL_SANITIZED, 0},
    {NULL, "maybe", XR_SQL_SANITIZED, 1},
    {NULL, "2", XR_SQL_SANITIZED, 1},
    {"", "true", XR_SQL_RAW, 0},
    /* XRAY_AUTO_SQL wins, even when its value is bad. */
    {"off", "true", XR_SQL_OFF, 0},
    {"sanitized", "true", XR_SQL_SANITIZED, 0},
    {"raw", "false", XR_SQL_RAW, 0},
    {"raw", "maybe", XR_SQL_RAW, 0},
    {"bogus", "true", XR_SQL_SANITIZED, 1},
};

static void test_sql_mode_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(sql_mode_cases); i++) {
    const struct sql_mode_case *c = &sql_mode_cases[i];
    const char *env[8];
    size_t k = 0;
    struct xr_config cfg;

    env[k++] = "XRAY_AUTO_LOG_LEVEL";
    env[k++] = "error";
    if (c->sql) {
      env[k++] = "XRAY_AUTO_SQL";
      env[k++] = c->sql;
    }
    if (c->collect) {
      env[k++] = "AWS_XRAY_COLLECT_SQL_QUERIES";
      env[k++] = c->collect;
    }
    env[k] = NULL;
    print_message("  XRAY_AUTO_SQL=%s AWS_XRAY_COLLECT_SQL_QUERIES=%s\n",
                  c->sql ? c->sql : "(unset)", c->collect ? c->collect : "(unset)");
    assert_int_equal(load_count_logs(&cfg, env), c->logs);
    assert_int_equal(cfg.sql_mode, c->want);
  }
}

/* One line per malformed variable, whatever its value holds (a newline
 * or an escape cannot start a second line); an empty value is unset and
 * silent, like XRAY_AUTO_SQL's. */
static void test_log_lines_per_variable(void **state)
{
  static const struct {
    const char *var, *value;
    int logs;
  } cases[] = {
      {"XRAY_AUTO_SEGMENT", "", 0},
      {"AWS_XRAY_CONTEXT_MISSING", "", 0},
      {"XRAY_AUTO_SAMPLING", "", 0},
      {"XRAY_AUTO_LOG_LEVEL", "", 0},
      {"AWS_XRAY_SDK_ENABLED", "", 0},
      {"AWS_XRAY_DAEMON_ADDRESS", "", 0},
      {"XRAY_AUTO_HOOKS", "", 0},
      {"XRAY_AUTO_SEGMENT", "call\nlibxray-auto[1]: error: injected", 1},
      {"AWS_XRAY_DAEMON_ADDRESS", "a\nb\r\nc:2000", 1},
      {"XRAY_AUTO_HOOKS", "\n\n\n", 1},
      {"AWS_XRAY_SDK_ENABLED", "\xff\xfe\n", 1},
      {"XRAY_AUTO_LOG_LEVEL", "\x1b[2J\n", 1},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const char *env[] = {cases[i].var, cases[i].value, NULL};
    struct xr_config cfg;
    print_message("  %s (case %zu)\n", cases[i].var, i);
    xr_log_level = XR_LOG_ERROR;
    assert_int_equal(load_count_logs(&cfg, env), cases[i].logs);
  }
}

/* ------------------------------------------------------------------ */
/* _X_AMZN_TRACE_ID                                                    */

static void test_trace_id_env_valid(void **state)
{
  static const char *const env[] = {
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5",
      NULL};
  struct xr_config cfg;
  (void)state;
  load(&cfg, env, "prog");
  assert_true(cfg.has_parent);
  assert_string_equal(cfg.parent.root, ROOT);
  assert_string_equal(cfg.parent.parent, "53995c3f42cd8ad8");
  assert_int_equal(cfg.parent.sampled, '1');
  assert_string_equal(cfg.parent.extra, "Lineage=a87bd80c:1|68fd508a:5");
}

static void test_trace_id_env_bad(void **state)
{
  static const char *const bad[] = {
      "",
      "garbage",
      "Parent=53995c3f42cd8ad8;Sampled=1",
      "Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1",
      "Root=" ROOT ";Sampled",
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(bad); i++) {
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "_X_AMZN_TRACE_ID", bad[i], NULL};
    struct xr_config cfg;
    print_message("  _X_AMZN_TRACE_ID=\"%s\"\n", bad[i]);
    load(&cfg, env, "prog");
    assert_false(cfg.has_parent);
    assert_string_equal(cfg.parent.root, "");
    assert_string_equal(cfg.parent.extra, "");
  }
}

/* ------------------------------------------------------------------ */
/* AWS_LAMBDA_RUNTIME_API                                              */

static void test_lambda_api(void **state)
{
  static const struct {
    const char *value;
    const char *host;
    unsigned port;
  } cases[] = {
      {"127.0.0.1:9001", "127.0.0.1", 9001},
      {"localhost:9001", "localhost", 9001},
      {"169.254.100.1:9001", "169.254.100.1", 9001},
      {"", "", 0},
      {"127.0.0.1", "", 0},
      {"127.0.0.1:0", "", 0},
      {"127.0.0.1:70000", "", 0},
      {"[::1]:9001", "", 0},
      {"http://127.0.0.1:9001", "", 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "off", "AWS_LAMBDA_RUNTIME_API", cases[i].value, NULL};
    struct xr_config cfg;
    print_message("  AWS_LAMBDA_RUNTIME_API=\"%s\"\n", cases[i].value);
    load(&cfg, env, "prog");
    assert_endpoint(&cfg.lambda_api, cases[i].host, cases[i].port);
  }
}

/* Every variable at once, every one valid. */
static void test_everything_set(void **state)
{
  static const char *const env[] = {
      "AWS_XRAY_DAEMON_ADDRESS", "udp:10.0.0.1:3000 tcp:10.0.0.2:3001",
      "AWS_XRAY_SDK_ENABLED", "false",
      "AWS_XRAY_TRACING_NAME", "billing",
      "AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR",
      "XRAY_AUTO_SEGMENT", "process",
      "XRAY_AUTO_SAMPLING", "all",
      "XRAY_AUTO_HOOKS", "curl,net",
      "XRAY_AUTO_SQL", "off",
      "AWS_XRAY_COLLECT_SQL_QUERIES", "true",
      "XRAY_AUTO_LOG_LEVEL", "warn",
      "_X_AMZN_TRACE_ID", "Root=" ROOT ";Sampled=0",
      "AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001",
      NULL};
  struct xr_config cfg;
  (void)state;
  load(&cfg, env, "prog");
  assert_false(cfg.enabled);
  assert_endpoint(&cfg.udp, "10.0.0.1", 3000);
  assert_endpoint(&cfg.tcp, "10.0.0.2", 3001);
  assert_string_equal(cfg.service, "billing");
  assert_int_equal(cfg.context_missing, XR_CTX_IGNORE_ERROR);
  assert_int_equal(cfg.segment_mode, XR_SEGMENT_PROCESS);
  assert_int_equal(cfg.sampling, XR_SAMPLING_ALL);
  assert_int_equal(cfg.hooks, XR_HOOK_CURL | XR_HOOK_NET);
  assert_int_equal(cfg.sql_mode, XR_SQL_OFF);
  assert_int_equal(cfg.log_level, XR_LOG_WARN);
  assert_true(cfg.has_parent);
  assert_string_equal(cfg.parent.root, ROOT);
  assert_int_equal(cfg.parent.sampled, '0');
  assert_endpoint(&cfg.lambda_api, "127.0.0.1", 9001);
}

/* Every variable at once, every one bad: all defaults. */
static void test_everything_bad(void **state)
{
  static const char *const env[] = {
      "XRAY_AUTO_LOG_LEVEL", "off",
      "AWS_XRAY_DAEMON_ADDRESS", "udp:10.0.0.1:3000",
      "AWS_XRAY_SDK_ENABLED", "nope",
      "AWS_XRAY_TRACING_NAME", "()",
      "AWS_XRAY_CONTEXT_MISSING", "explode",
      "XRAY_AUTO_SEGMENT", "sometimes",
      "XRAY_AUTO_SAMPLING", "half",
      "XRAY_AUTO_HOOKS", "curl,ftp",
      "XRAY_AUTO_SQL", "verbatim",
      "AWS_XRAY_COLLECT_SQL_QUERIES", "true",
      "_X_AMZN_TRACE_ID", "Root=1-xyz",
      "AWS_LAMBDA_RUNTIME_API", "localhost",
      NULL};
  struct xr_config cfg;
  (void)state;
  load(&cfg, env, "prog");
  assert_true(cfg.enabled);
  assert_endpoint(&cfg.udp, "127.0.0.1", 2000);
  assert_endpoint(&cfg.tcp, "127.0.0.1", 2000);
  assert_string_equal(cfg.service, "prog");
  assert_int_equal(cfg.context_missing, XR_CTX_LOG_ERROR);
  assert_int_equal(cfg.segment_mode, XR_SEGMENT_CALL);
  assert_int_equal(cfg.sampling, XR_SAMPLING_DEFAULT);
  assert_int_equal(cfg.hooks, XR_HOOK_ALL);
  assert_int_equal(cfg.sql_mode, XR_SQL_SANITIZED);
  assert_false(cfg.has_parent);
  assert_int_equal(cfg.lambda_api.port, 0);
}

/* ------------------------------------------------------------------ */
/* XRAY_AUTO_PROPAGATE, AWS_XRAY_NOOP_ID                               */

static void test_propagate_table(void **state)
{
  static const struct {
    const char *value; /* NULL: unset */
    unsigned want;
    int logs;
  } cases[] = {
      {NULL, XR_PROP_XRAY, 0},
      {"", XR_PROP_XRAY, 0}, /* empty is unset */
      {"xray", XR_PROP_XRAY, 0},
      {"w3c", XR_PROP_W3C, 0},
      {"xray,w3c", XR_PROP_XRAY | XR_PROP_W3C, 0},
      {"w3c,xray", XR_PROP_XRAY | XR_PROP_W3C, 0},
      {" W3C , XRay ", XR_PROP_XRAY | XR_PROP_W3C, 0},
      {"xray,,w3c,", XR_PROP_XRAY | XR_PROP_W3C, 0},
      {"w3c,w3c", XR_PROP_W3C, 0},
      {"\tw3c\t", XR_PROP_W3C, 0},
      {",", XR_PROP_XRAY, 1},
      {" ", XR_PROP_XRAY, 1},
      {"b3", XR_PROP_XRAY, 1},
      {"w3c,b3", XR_PROP_XRAY, 1},
      {"tracecontext", XR_PROP_XRAY, 1},
      {"xray;w3c", XR_PROP_XRAY, 1},
      {"w3c\nlibxray-auto[1]: error: injected", XR_PROP_XRAY, 1},
      {"xray w3c", XR_PROP_XRAY, 1},
      {"none", XR_PROP_XRAY, 1},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "error", "XRAY_AUTO_PROPAGATE", cases[i].value,
                         NULL};
    struct xr_config cfg;
    unsigned bits = 0xdead;

    print_message("  XRAY_AUTO_PROPAGATE=\"%s\"\n", cases[i].value ? cases[i].value : "(unset)");
    if (cases[i].value && cases[i].value[0]) {
      int rc = xr_parse_propagate(cases[i].value, &bits);
      assert_int_equal(rc, cases[i].logs ? -EINVAL : 0);
      if (rc == 0)
        assert_int_equal(bits, cases[i].want);
      else
        assert_int_equal(bits, 0xdead); /* untouched when refused */
    } else if (!cases[i].value) {
      env[2] = NULL;
    }
    assert_int_equal(load_count_logs(&cfg, env), cases[i].logs);
    assert_int_equal(cfg.propagate, cases[i].want);
  }
}

static void test_noop_id_table(void **state)
{
  static const struct {
    const char *value; /* NULL: unset */
    bool want;
    int logs;
  } cases[] = {
      {NULL, true, 0},  {"", true, 0},       {"true", true, 0},  {"True", true, 0},
      {"1", true, 0},   {"yes", true, 0},    {"false", false, 0}, {"FALSE", false, 0},
      {"False", false, 0}, {"0", false, 0},  {"no", false, 0},   {"off", false, 0},
      {"n", false, 0},  {"maybe", true, 1},  {"2", true, 1},     {" false", true, 1},
      {"false\n", true, 1},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const char *env[] = {"XRAY_AUTO_LOG_LEVEL", "error", "AWS_XRAY_NOOP_ID", cases[i].value,
                         NULL};
    struct xr_config cfg;

    print_message("  AWS_XRAY_NOOP_ID=\"%s\"\n", cases[i].value ? cases[i].value : "(unset)");
    if (!cases[i].value)
      env[2] = NULL;
    assert_int_equal(load_count_logs(&cfg, env), cases[i].logs);
    assert_int_equal(cfg.noop_id, cases[i].want);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_defaults, restore_log_level),
      cmocka_unit_test_teardown(test_daemon_address_table, restore_log_level),
      cmocka_unit_test_teardown(test_daemon_address_host_length, restore_log_level),
      cmocka_unit_test_teardown(test_daemon_address_empty, restore_log_level),
      cmocka_unit_test(test_parse_host_port_uses_len),
      cmocka_unit_test_teardown(test_sdk_enabled_table, restore_log_level),
      cmocka_unit_test_teardown(test_tracing_name, restore_log_level),
      cmocka_unit_test_teardown(test_enums_table, restore_log_level),
      cmocka_unit_test_teardown(test_hooks_table, restore_log_level),
      cmocka_unit_test_teardown(test_sql_mode_table, restore_log_level),
      cmocka_unit_test_teardown(test_log_lines_per_variable, restore_log_level),
      cmocka_unit_test_teardown(test_trace_id_env_valid, restore_log_level),
      cmocka_unit_test_teardown(test_trace_id_env_bad, restore_log_level),
      cmocka_unit_test_teardown(test_lambda_api, restore_log_level),
      cmocka_unit_test_teardown(test_everything_set, restore_log_level),
      cmocka_unit_test_teardown(test_everything_bad, restore_log_level),
      cmocka_unit_test_teardown(test_propagate_table, restore_log_level),
      cmocka_unit_test_teardown(test_noop_id_table, restore_log_level),
  };
  return cmocka_run_group_tests(tests, setup_long_hosts, NULL);
}
