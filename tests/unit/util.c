#include "util.h"

#include "../../src/config.h"
#include "../../src/tracer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const *ut_env;

void ut_env_set(const char *const *pairs)
{
  ut_env = pairs;
}

const char *ut_getenv(const char *name)
{
  size_t i;
  if (!ut_env)
    return NULL;
  for (i = 0; ut_env[i]; i += 2)
    if (strcmp(ut_env[i], name) == 0)
      return ut_env[i + 1];
  return NULL;
}

int ut_udp_open(uint16_t *port)
{
  struct sockaddr_in sa;
  socklen_t slen = sizeof(sa);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int size = 4 << 20;

  assert_true(fd >= 0);
  /* Root may exceed rmem_max; otherwise the ordinary option. */
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

int ut_udp_rcvbuf(int fd)
{
  int size = 0;
  socklen_t len = sizeof(size);
  assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, &len), 0);
  return size;
}

ssize_t ut_udp_recv(int fd, char *buf, size_t cap, int timeout_ms)
{
  struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
  ssize_t n;
  int rc;

  do
    rc = poll(&p, 1, timeout_ms);
  while (rc < 0 && errno == EINTR);
  if (rc <= 0)
    return -1;
  n = recv(fd, buf, cap - 1, MSG_DONTWAIT);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return n;
}

int ut_udp_drain(int fd)
{
  static char buf[UT_DGRAM_CAP];
  int n = 0;
  while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
    n++;
  return n;
}

cJSON *ut_datagram_json(const char *buf, size_t len)
{
  const char *body = buf + XR_PROTOCOL_HEADER_LEN;
  const char *end = NULL;
  cJSON *doc;

  assert_true(len <= XR_DATAGRAM_MAX);
  assert_true(len > XR_PROTOCOL_HEADER_LEN);
  assert_memory_equal(buf, XR_PROTOCOL_HEADER, XR_PROTOCOL_HEADER_LEN);
  assert_int_equal(strlen(buf), len); /* no NUL inside */
  assert_null(memchr(body, '\n', len - XR_PROTOCOL_HEADER_LEN));
  assert_true(ut_utf8_valid(body, len - XR_PROTOCOL_HEADER_LEN));
  doc = cJSON_ParseWithOpts(body, &end, 1);
  if (!doc)
    fail_msg("datagram body is not JSON: %.200s", body);
  assert_true(cJSON_IsObject(doc));
  return doc;
}

cJSON *ut_recv_doc(int fd, int timeout_ms)
{
  static char buf[UT_DGRAM_CAP];
  ssize_t n = ut_udp_recv(fd, buf, sizeof(buf), timeout_ms);
  if (n < 0)
    return NULL;
  return ut_datagram_json(buf, (size_t)n);
}

void ut_expect_silence(int fd, int timeout_ms)
{
  char buf[512];
  ssize_t n = ut_udp_recv(fd, buf, sizeof(buf), timeout_ms);
  if (n >= 0)
    fail_msg("unexpected datagram: %.300s", buf);
}

static void *ut_collect_main(void *arg)
{
  struct ut_collector *c = arg;
  static char buf[UT_DGRAM_CAP];
  while (c->got < c->want) {
    ssize_t n = ut_udp_recv(c->fd, buf, sizeof(buf), 2000);
    if (n < 0)
      break;
    c->bufs[c->got] = malloc((size_t)n + 1);
    if (!c->bufs[c->got])
      break;
    memcpy(c->bufs[c->got], buf, (size_t)n + 1);
    c->lens[c->got++] = (size_t)n;
  }
  return NULL;
}

void ut_collect_start(struct ut_collector *c, int fd, int want)
{
  c->fd = fd;
  c->want = want;
  c->got = 0;
  c->bufs = calloc((size_t)want, sizeof(*c->bufs));
  c->lens = calloc((size_t)want, sizeof(*c->lens));
  assert_non_null(c->bufs);
  assert_non_null(c->lens);
  assert_int_equal(pthread_create(&c->thread, NULL, ut_collect_main, c), 0);
}

int ut_collect_join(struct ut_collector *c)
{
  assert_int_equal(pthread_join(c->thread, NULL), 0);
  return c->got;
}

void ut_collect_free(struct ut_collector *c)
{
  int i;
  for (i = 0; i < c->got; i++)
    free(c->bufs[i]);
  free(c->bufs);
  free(c->lens);
  c->bufs = NULL;
  c->lens = NULL;
}

bool ut_utf8_valid(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;

  while (i < n) {
    unsigned char c = s[i];
    size_t len, k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n)
      return false;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

size_t ut_utf8_chars(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      n++;
  return n;
}

bool ut_is_lower_hex(const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

const char *ut_str(const cJSON *obj, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool ut_is_true(const cJSON *obj, const char *key)
{
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

double ut_num(const cJSON *obj, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

bool ut_number_text(const char *json, const char *key, char *out, size_t cap)
{
  char pat[64];
  const char *p;
  size_t n = 0;

  snprintf(pat, sizeof(pat), "\"%s\":", key);
  p = strstr(json, pat);
  if (!p)
    return false;
  p += strlen(pat);
  while (p[n] && strchr("0123456789.-+eE", p[n]) && n + 1 < cap) {
    out[n] = p[n];
    n++;
  }
  out[n] = '\0';
  return n > 0;
}

void ut_assert_time_text(const char *text)
{
  const char *dot;
  size_t i;

  assert_non_null(text);
  dot = strchr(text, '.');
  if (!dot || dot == text || strlen(dot + 1) != 6)
    fail_msg("time \"%s\" is not <seconds>.<6 digits>", text);
  for (i = 0; text[i]; i++)
    if (text + i != dot && (text[i] < '0' || text[i] > '9'))
      fail_msg("time \"%s\" is not <seconds>.<6 digits>", text);
}

int ut_rx = -1;
uint16_t ut_rx_port;
static char ut_daemon_addr[64];

int ut_rx_group_setup(void **state)
{
  (void)state;
  ut_rx = ut_udp_open(&ut_rx_port);
  snprintf(ut_daemon_addr, sizeof(ut_daemon_addr), "127.0.0.1:%u", ut_rx_port);
  return 0;
}

int ut_rx_group_teardown(void **state)
{
  (void)state;
  close(ut_rx);
  return 0;
}

int ut_rx_drain(void **state)
{
  (void)state;
  (void)ut_udp_drain(ut_rx);
  return 0;
}

void ut_tracer_init(const char *const *extra, const char *program)
{
  static const char *env[64];
  static struct xr_config cfg;
  size_t n = 0, i;
  for (i = 0; extra && extra[i] && n < 56; i++)
    env[n++] = extra[i];
  env[n++] = "AWS_XRAY_DAEMON_ADDRESS";
  env[n++] = ut_daemon_addr;
  env[n++] = "XRAY_AUTO_LOG_LEVEL";
  env[n++] = "off";
  env[n++] = "XRAY_AUTO_SAMPLING";
  env[n++] = "all";
  env[n] = NULL;
  ut_env_set(env);
  xr_config_load(&cfg, ut_getenv, program);
  ut_env_set(NULL);
  xr_tracer_init(&cfg);
}
