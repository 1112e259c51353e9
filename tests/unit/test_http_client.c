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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
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
  int drip_ms;          /* > 0: a head that never ends, a byte per drip_ms */
  _Atomic bool got_request;
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
  atomic_store(&s->got_request, true);
  if (s->hang) {
    struct timespec ts = {0, 600 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (s->drip_ms > 0) {
    struct timespec ts = {0, s->drip_ms * 1000000L};
    const char *head = "HTTP/1.1 200 OK\r\nX-Slow: ";
    for (i = 0; i < 3000 / s->drip_ms; i++) {
      const char *b = head[i] ? head + i : "a";
      if (send(fd, b, 1, MSG_NOSIGNAL) != 1)
        break;
      nanosleep(&ts, NULL);
    }
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

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A peer that answers a byte at a time, forever: the one deadline covers
 * the whole exchange, however steadily bytes arrive. */
static void test_slow_drip(void **state)
{
  struct server s = {.drip_ms = 20};
  struct xr_http_response r;
  int64_t t0;
  (void)state;
  server_start(&s);
  t0 = mono_ms();
  assert_int_equal(fetch(&s, &get_rq, 300, 0, &r), -ETIMEDOUT);
  /* fetch joined the server (3 s of drip, cut short by our close). */
  assert_true(mono_ms() - t0 < 3000);
  assert_null(r.body);
}

struct taken {
  struct server *s;
  int rc;
};

static void *fetch_thread(void *arg)
{
  struct taken *t = arg;
  struct xr_http_response r;
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(t->s->port);
  t->rc = xr_http_fetch((struct sockaddr *)&a, sizeof(a), "127.0.0.1", &get_rq, 400, 0, &r);
  return NULL;
}

/* Our side of the connection to s: the socket whose peer is s. */
static int client_fd(const struct server *s)
{
  int fd;
  for (fd = 3; fd < 1024; fd++) {
    struct sockaddr_in pa, la;
    socklen_t pl = sizeof(pa), ll = sizeof(la);
    if (getpeername(fd, (struct sockaddr *)&pa, &pl) == 0 && pa.sin_family == AF_INET &&
        ntohs(pa.sin_port) == s->port && getsockname(fd, (struct sockaddr *)&la, &ll) == 0 &&
        ntohs(la.sin_port) != s->port)
      return fd;
  }
  return -1;
}

/* The host closes our socket's number while a request waits (closing
 * every descriptor it did not open) and puts its own descriptor there: the
 * request fails, and the host's descriptor is neither read nor closed (it
 * was closed at the request's deadline). */
static void test_number_taken_by_host(void **state)
{
  struct server s = {.hang = true};
  struct taken t = {&s, 0};
  pthread_t th;
  int p[2], n, i;
  (void)state;
  server_start(&s);
  assert_int_equal(pipe(p), 0);
  assert_int_equal(pthread_create(&th, NULL, fetch_thread, &t), 0);
  for (i = 0; i < 200 && !atomic_load(&s.got_request); i++)
    usleep(5000);
  assert_true(atomic_load(&s.got_request));
  usleep(50000); /* the request waits for the answer */
  n = client_fd(&s);
  assert_true(n >= 0);
  assert_int_equal(dup2(p[1], n), n); /* closes our socket, the host's pipe there */
  pthread_join(th, NULL);
  assert_true(t.rc == -EBADF || t.rc == -ETIMEDOUT);
  assert_int_not_equal(fcntl(n, F_GETFD), -1); /* still the host's */
  assert_int_equal(write(n, "x", 1), 1);
  close(n);
  close(p[0]);
  close(p[1]);
  pthread_join(s.thread, NULL);
  close(s.lfd);
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
      cmocka_unit_test(test_slow_drip), cmocka_unit_test(test_number_taken_by_host),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
