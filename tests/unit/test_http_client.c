/* The library's own HTTP client against a real loopback server (a thread
 * of this test) that answers with scripted bytes. */
#include "../../src/xr_setup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../src/http_client.h"

/* A one-connection server: reads the request head (and a body by its
 * Content-Length), then writes each part with a short pause between. */
struct server {
  int lfd;
  uint16_t port;
  const char *parts[8];
  bool hang;            /* answer nothing, hold the connection */
  char request[8192];
  size_t request_len;
  pthread_t thread;
};

static void *server_main(void *arg)
{
  struct server *s = arg;
  int fd = accept(s->lfd, NULL, NULL);
  size_t want = 0;
  int i;

  if (fd < 0)
    return NULL;
  for (;;) {
    char *sep, *cl;
    ssize_t r = read(fd, s->request + s->request_len,
                     sizeof(s->request) - 1 - s->request_len);
    if (r <= 0)
      break;
    s->request_len += (size_t)r;
    s->request[s->request_len] = '\0';
    sep = strstr(s->request, "\r\n\r\n");
    if (!sep)
      continue;
    cl = strstr(s->request, "Content-Length: ");
    want = (size_t)(sep + 4 - s->request) + (cl && cl < sep ? strtoul(cl + 16, NULL, 10) : 0);
    if (s->request_len >= want)
      break;
  }
  if (s->hang) {
    struct timespec ts = {0, 600 * 1000000L};
    nanosleep(&ts, NULL);
  }
  for (i = 0; i < 8 && s->parts[i]; i++) {
    struct timespec ts = {0, 5 * 1000000L};
    if (write(fd, s->parts[i], strlen(s->parts[i])) < 0)
      break;
    nanosleep(&ts, NULL);
  }
  close(fd);
  return NULL;
}

static void server_start(struct server *s)
{
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  s->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(s->lfd >= 0);
  assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(listen(s->lfd, 4), 0);
  assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &len), 0);
  s->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static int fetch(struct server *s, const struct xr_http_request *rq, int timeout_ms,
                 size_t max_body, struct xr_http_response *out)
{
  struct xr_endpoint ep = {"127.0.0.1", 0};
  struct sockaddr_storage ss;
  socklen_t sl;
  int rc;

  ep.port = s->port;
  assert_int_equal(xr_http_resolve(&ep, &ss, &sl), 0);
  rc = xr_http_fetch((struct sockaddr *)&ss, sl, "127.0.0.1:2000", rq, timeout_ms,
                     max_body, out);
  pthread_join(s->thread, NULL);
  close(s->lfd);
  return rc;
}

static const struct xr_http_request get_rq = {"GET", "/v4/abc/task", NULL, NULL, 0};

static void test_content_length(void **state)
{
  struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 9\r\n\r\n{\"a\":",
                               "\"b\"}", "trailing junk"}};
  struct xr_http_request rq = {"POST", "/SamplingTargets",
                               "Content-Type: application/json\r\n", "{\"x\":1}", 7};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &rq, 5000, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 9);
  assert_string_equal(r.body, "{\"a\":\"b\"}");
  assert_non_null(strstr(s.request, "POST /SamplingTargets HTTP/1.1\r\nHost: 127.0.0.1:2000\r\n"));
  assert_non_null(strstr(s.request, "\r\nConnection: close\r\n"));
  assert_non_null(strstr(s.request, "\r\nContent-Type: application/json\r\n"));
  assert_non_null(strstr(s.request, "\r\nContent-Length: 7\r\n\r\n{\"x\":1}"));
  xr_http_response_free(&r);
  assert_null(r.body);
}

static void test_get_has_no_length(void **state)
{
  struct server s = {.parts = {"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"}};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 5000, 0, &r), 0);
  assert_int_equal(r.status, 404);
  assert_int_equal(r.body_len, 0);
  assert_string_equal(r.body, "");
  assert_null(strstr(s.request, "Content-Length"));
  xr_http_response_free(&r);
}

static void test_put_without_body_has_length(void **state)
{
  struct server s = {.parts = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\ntoken"}};
  struct xr_http_request rq = {"PUT", "/latest/api/token",
                               "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n", NULL, 0};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &rq, 5000, 0, &r), 0);
  assert_string_equal(r.body, "token");
  assert_non_null(strstr(s.request, "\r\nContent-Length: 0\r\n\r\n"));
  xr_http_response_free(&r);
}

static void test_chunked(void **state)
{
  struct server s = {.parts = {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\nabcd\r",
                               "\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n",
                               "\r\n"}};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 5000, 0, &r), 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "abcdabcdefghijklmnopqrstuvwxyz");
  xr_http_response_free(&r);
}

static void test_close_delimited(void **state)
{
  struct server s = {.parts = {"HTTP/1.0 200 OK\r\n\r\nfirst ", "second"}};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 5000, 0, &r), 0);
  assert_string_equal(r.body, "first second");
  xr_http_response_free(&r);
}

static void expect_error(const char *const *parts, size_t max_body, int want)
{
  struct server s = {0};
  struct xr_http_response r;
  int i;
  for (i = 0; parts[i]; i++)
    s.parts[i] = parts[i];
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 5000, max_body, &r), want);
  assert_null(r.body);
  assert_int_equal(r.status, 0);
}

static void test_malformed(void **state)
{
  static const char *const a[] = {"HTTP/2 200 OK\r\n\r\n", NULL};
  static const char *const b[] = {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                  "Content-Length: 2\r\n\r\nab", NULL};
  static const char *const c[] = {"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nab", NULL};
  static const char *const d[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nab", NULL};
  static const char *const e[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "zz\r\nab\r\n0\r\n\r\n", NULL};
  static const char *const f[] = {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", NULL};
  static const char *const g[] = {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", NULL};
  static const char *const h[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "3\r\nabcX0\r\n\r\n", NULL};
  static const char *const i[] = {"", NULL};
  (void)state;
  expect_error(a, 0, -EPROTO);
  expect_error(b, 0, -EPROTO);
  expect_error(c, 0, -EPROTO);
  expect_error(d, 0, -EPROTO);
  expect_error(e, 0, -EPROTO);
  expect_error(f, 0, -EPROTO);
  expect_error(g, 0, -EPROTO); /* closed before the whole body */
  expect_error(h, 0, -EPROTO);
  expect_error(i, 0, -EPROTO); /* closed without a word */
}

static void test_too_big(void **state)
{
  static const char *const a[] = {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a",
                                  NULL};
  static const char *const b[] = {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "6\r\n012345\r\n6\r\n6789ab\r\n0\r\n\r\n", NULL};
  static const char *const c[] = {"HTTP/1.0 200 OK\r\n\r\n0123456789a", NULL};
  static const char *const ok[] = {"HTTP/1.0 200 OK\r\n\r\n0123456789", NULL};
  static char head[20000];
  static const char *d[] = {head, NULL};
  struct server s = {0};
  struct xr_http_response r;
  (void)state;
  expect_error(a, 10, -EMSGSIZE);
  expect_error(b, 10, -EMSGSIZE);
  expect_error(c, 10, -EMSGSIZE);
  s.parts[0] = ok[0];
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 5000, 10, &r), 0);
  assert_int_equal(r.body_len, 10);
  xr_http_response_free(&r);
  memcpy(head, "HTTP/1.1 200 OK\r\nX: ", 20);
  memset(head + 20, 'a', sizeof(head) - 21);
  expect_error(d, 0, -EMSGSIZE);
}

static void test_timeout(void **state)
{
  struct server s = {.hang = true, .parts = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
  struct xr_http_response r;
  (void)state;
  server_start(&s);
  assert_int_equal(fetch(&s, &get_rq, 200, 0, &r), -ETIMEDOUT);
  assert_null(r.body);
}

static void test_refused(void **state)
{
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  struct xr_http_response r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  (void)state;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd); /* a port nobody listens on */
  assert_int_equal(xr_http_fetch((struct sockaddr *)&a, len, "x", &get_rq, 2000, 0, &r),
                   -ECONNREFUSED);
  assert_int_equal(xr_http_fetch((struct sockaddr *)&a, len, "x",
                                 &(struct xr_http_request){"GET", "no-slash", NULL, NULL, 0},
                                 2000, 0, &r),
                   -EINVAL);
}

static void test_resolve(void **state)
{
  struct xr_endpoint v4 = {"127.0.0.1", 2000}, v6 = {"::1", 80}, br = {"[::1]", 80},
                     name = {"localhost", 2000}, bad = {"no-such-host.invalid", 1},
                     noport = {"127.0.0.1", 0};
  struct sockaddr_storage ss;
  socklen_t sl;
  (void)state;
  assert_int_equal(xr_http_resolve(&v4, &ss, &sl), 0);
  assert_int_equal(ss.ss_family, AF_INET);
  assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 2000);
  assert_int_equal(xr_http_resolve(&v6, &ss, &sl), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
  assert_int_equal(xr_http_resolve(&br, &ss, &sl), 0);
  assert_int_equal(ss.ss_family, AF_INET6);
  assert_int_equal(xr_http_resolve(&name, &ss, &sl), 0);
  assert_int_equal(xr_http_resolve(&bad, &ss, &sl), -EHOSTUNREACH);
  assert_int_equal(xr_http_resolve(&noport, &ss, &sl), -EINVAL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_content_length), cmocka_unit_test(test_get_has_no_length),
      cmocka_unit_test(test_put_without_body_has_length), cmocka_unit_test(test_chunked),
      cmocka_unit_test(test_close_delimited), cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_too_big), cmocka_unit_test(test_timeout),
      cmocka_unit_test(test_refused), cmocka_unit_test(test_resolve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
