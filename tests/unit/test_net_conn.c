/*
 * src/net_conn.c with net_fail.c, net_names.c and the tracer's inbound
 * segments: the documents a followed connection produces. Each test drives
 * the xr_conn_* events the socket hooks would deliver on a record it owns
 * (no interposition) and reads what the "daemon" (a loopback UDP receiver)
 * gets. Call mode, every trace sampled.
 */
#include "util.h"

#include "../../src/clock.h"
#include "../../src/net_conn.h"
#include "../../src/net_fail.h"
#include "../../src/net_names.h"
#include "../../src/tracer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define SVC "unit-svc"
#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define PARENT "53995c3f42cd8ad8"
/* Long enough for a datagram the emitter sends on loopback to be queued;
 * a late one would still show up at the next check of the same test. */
#define SILENCE_MS 30
#define DOC_MS 2000

/* ---- helpers --------------------------------------------------------- */

/* iovec bases are not const; the bytes are never written through them. */
static void *unconst(const void *p)
{
  return (void *)(uintptr_t)p;
}

union addr {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  struct sockaddr_storage ss;
};

static union addr mkaddr(const char *ip, uint16_t port)
{
  union addr a;

  memset(&a, 0, sizeof(a));
  if (strchr(ip, ':')) {
    a.in6.sin6_family = AF_INET6;
    a.in6.sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &a.in6.sin6_addr), 1);
  } else {
    a.in.sin_family = AF_INET;
    a.in.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &a.in.sin_addr), 1);
  }
  return a;
}

/* The names memory keeps the thread's last XR_NAMES_LISTS lookups: four
 * lookups of an address no test uses push out what earlier tests left. */
static void forget_names(void)
{
  union addr a = mkaddr("203.0.113.254", 1);
  struct addrinfo ai;
  int i;

  memset(&ai, 0, sizeof(ai));
  ai.ai_family = AF_INET;
  ai.ai_socktype = SOCK_STREAM;
  ai.ai_addr = &a.sa;
  ai.ai_addrlen = sizeof(a.in);
  for (i = 0; i < XR_NAMES_LISTS; i++)
    xr_names_remember("forgotten.invalid", &ai);
}

/* A getaddrinfo result for node (NULL: the local host's addresses): every
 * address listed twice (stream and datagram), as getaddrinfo does without
 * hints. */
static void remember(const char *node, const char *const *ips, int n)
{
  union addr a[8];
  struct addrinfo ai[16];
  int i;

  assert_true(n <= 8);
  memset(ai, 0, sizeof(ai));
  for (i = 0; i < n; i++) {
    a[i] = mkaddr(ips[i], 0);
    ai[2 * i].ai_family = a[i].sa.sa_family;
    ai[2 * i].ai_socktype = SOCK_STREAM;
    ai[2 * i].ai_addr = &a[i].sa;
    ai[2 * i].ai_addrlen =
        a[i].sa.sa_family == AF_INET ? sizeof(a[i].in) : sizeof(a[i].in6);
    ai[2 * i + 1] = ai[2 * i];
    ai[2 * i + 1].ai_socktype = SOCK_DGRAM;
    ai[2 * i].ai_next = &ai[2 * i + 1];
    if (i + 1 < n)
      ai[2 * i + 1].ai_next = &ai[2 * i + 2];
  }
  xr_names_remember(node, ai);
}

static struct xr_conn *conn_alloc(void)
{
  struct xr_conn *c = calloc(1, sizeof(*c));

  assert_non_null(c);
  /* No descriptor: the server side's getsockname must not find one. */
  c->fd = -1;
  return c;
}

static struct xr_conn *client_at(const char *ip, uint16_t port, bool connecting,
                                 int64_t connect_us)
{
  struct xr_conn *c = conn_alloc();
  union addr a = mkaddr(ip, port);

  xr_conn_client_init(c, &a.sa, connecting, connect_us);
  return c;
}

static struct xr_conn *client(const char *ip, uint16_t port)
{
  return client_at(ip, port, false, xr_now_us());
}

static struct xr_conn *server(const char *peer, uint16_t port)
{
  struct xr_conn *c = conn_alloc();
  union addr a = mkaddr(peer, port);

  xr_conn_server_init(c, &a.sa);
  return c;
}

/* What the hooks do at close, then the record's memory goes. */
static void conn_close(struct xr_conn *c)
{
  xr_conn_finish(c);
  free(c);
}

/* Bytes that went out (send/write) or came in (recv/read), whole. */
static void out(struct xr_conn *c, const char *s)
{
  struct iovec iov = {unconst(s), strlen(s)};

  xr_conn_sent(c, &iov, 1, iov.iov_len);
}

static void in(struct xr_conn *c, const char *s)
{
  struct iovec iov = {unconst(s), strlen(s)};

  xr_conn_received(c, &iov, 1, iov.iov_len);
}

/* Binary first bytes (NULs allowed). */
static void out_bytes(struct xr_conn *c, const char *s, size_t n)
{
  struct iovec iov = {unconst(s), n};

  xr_conn_sent(c, &iov, 1, n);
}

static void in_bytes(struct xr_conn *c, const char *s, size_t n)
{
  struct iovec iov = {unconst(s), n};

  xr_conn_received(c, &iov, 1, n);
}

static cJSON *doc(void)
{
  cJSON *d = ut_recv_doc(ut_rx, DOC_MS);

  if (!d)
    fail_msg("no document arrived");
  return d;
}

static void no_doc(void)
{
  ut_expect_silence(ut_rx, SILENCE_MS);
}

static const cJSON *get(const cJSON *o, const char *key)
{
  return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A call-mode document: the service's segment holding exactly one
 * subsegment, which it spans. */
static const cJSON *only_sub(const cJSON *d)
{
  const cJSON *subs = get(d, "subsegments"), *sub;

  assert_string_equal(ut_str(d, "name"), SVC);
  assert_null(get(d, "type"));
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  sub = cJSON_GetArrayItem(subs, 0);
  assert_true(ut_num(d, "start_time") == ut_num(sub, "start_time"));
  assert_true(ut_num(d, "end_time") == ut_num(sub, "end_time"));
  assert_true(ut_num(sub, "end_time") >= ut_num(sub, "start_time"));
  return sub;
}

static void check_flags(const cJSON *e, bool error, bool throttle, bool fault)
{
  if (ut_is_true(e, "error") != error || ut_is_true(e, "throttle") != throttle ||
      ut_is_true(e, "fault") != fault) {
    char *s = cJSON_PrintUnformatted(e);
    fail_msg("flags: want error=%d throttle=%d fault=%d in %s", error, throttle,
             fault, s);
  }
  /* A flag is only ever printed true. */
  if (get(e, "error"))
    assert_true(ut_is_true(e, "error"));
}

/* http.request method/url and http.response status (0: none) /
 * content_length (-1: none) of a client subsegment. */
static void check_http(const cJSON *e, const char *method, const char *url, long status,
                       long long length)
{
  const cJSON *http = get(e, "http"), *req = get(http, "request"),
              *resp = get(http, "response");
  bool ok = req && ut_str(req, "method") && strcmp(ut_str(req, "method"), method) == 0 &&
            ut_str(req, "url") && strcmp(ut_str(req, "url"), url) == 0;

  if (status == 0 && length < 0) {
    ok = ok && !resp;
  } else {
    ok = ok && resp;
    if (ok && status)
      ok = ut_num(resp, "status") == (double)status;
    else if (ok)
      ok = !get(resp, "status");
    if (ok && length >= 0)
      ok = ut_num(resp, "content_length") == (double)length;
    else if (ok)
      ok = !get(resp, "content_length");
  }
  if (!ok) {
    char *s = cJSON_PrintUnformatted(e);
    fail_msg("want %s %s status %ld length %lld in %s", method, url, status, length, s);
  }
}

/* The first (only) exception of the cause. message NULL: not checked. */
static void check_cause(const cJSON *e, const char *type, const char *message,
                        bool remote)
{
  const cJSON *ex = cJSON_GetArrayItem(get(get(e, "cause"), "exceptions"), 0);

  assert_true(ut_is_true(e, "fault"));
  assert_non_null(ex);
  assert_int_equal(cJSON_GetArraySize(get(get(e, "cause"), "exceptions")), 1);
  assert_string_equal(ut_str(ex, "type"), type);
  if (message)
    assert_string_equal(ut_str(ex, "message"), message);
  assert_true(cJSON_IsBool(get(ex, "remote")));
  assert_int_equal(cJSON_IsTrue(get(ex, "remote")), remote);
}

static void check_remote_sub(const cJSON *sub, const char *name)
{
  assert_string_equal(ut_str(sub, "name"), name);
  assert_string_equal(ut_str(sub, "namespace"), "remote");
}

static int setup(void **state)
{
  (void)state;
  ut_tracer_init(NULL, SVC);
  forget_names();
  xr_net_fail_flush(); /* a failure an earlier test left held */
  (void)ut_udp_drain(ut_rx);
  return 0;
}

/* ---- client: one exchange -------------------------------------------- */

static const char GET_ITEMS[] = "GET /v1/items?id=7&token=s3cret#frag HTTP/1.1\r\n"
                                "Host: api.example.com:8080\r\n"
                                "User-Agent: unit/1\r\n"
                                "Accept: */*\r\n\r\n";
static const char OK_HELLO[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 5\r\n\r\n"
                               "hello";

/* The name the program resolved names the call, over the Host header. */
static void test_client_get_resolved_name(void **state)
{
  static const char *const ips[] = {"192.0.2.10"};
  struct xr_conn *c;
  const cJSON *sub;
  cJSON *d;
  char *text;
  (void)state;

  remember("svc.internal", ips, 1);
  c = client("192.0.2.10", 8080);
  assert_string_equal(c->name, "svc.internal");
  out(c, GET_ITEMS);
  no_doc(); /* nothing before the response */
  in(c, OK_HELLO);
  d = doc();
  sub = only_sub(d);
  check_remote_sub(sub, "svc.internal");
  check_http(sub, "GET", "http://api.example.com:8080/v1/items", 200, 5);
  check_flags(sub, false, false, false);
  assert_null(get(sub, "cause"));
  /* Neither the query nor the fragment is recorded anywhere. */
  text = cJSON_PrintUnformatted(d);
  assert_null(strstr(text, "s3cret"));
  assert_null(strstr(text, "frag"));
  free(text);
  cJSON_Delete(d);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* Not resolved by the program: the Host header without its port. */
static void test_client_name_from_host(void **state)
{
  struct xr_conn *c;
  cJSON *d;
  const cJSON *sub;
  (void)state;

  c = client("192.0.2.11", 8080);
  assert_string_equal(c->name, "");
  out(c, "GET /p HTTP/1.1\r\nHost: www.example.org:8080\r\n\r\n");
  in(c, "HTTP/1.1 204 No Content\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_remote_sub(sub, "www.example.org");
  check_http(sub, "GET", "http://www.example.org:8080/p", 204, 0); /* no body */
  check_flags(sub, false, false, false);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

/* No resolved name and no Host (HTTP/1.0): the numeric address, with the
 * port in the URL unless it is 80, IPv6 bracketed. */
static void test_client_name_numeric(void **state)
{
  static const struct {
    const char *ip;
    uint16_t port;
    const char *name, *url;
  } cases[] = {
      {"198.51.100.7", 8080, "198.51.100.7", "http://198.51.100.7:8080/x"},
      {"198.51.100.7", 80, "198.51.100.7", "http://198.51.100.7/x"},
      {"2001:db8::1", 8080, "2001:db8::1", "http://[2001:db8::1]:8080/x"},
  };
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_conn *c = client(cases[i].ip, cases[i].port);
    const cJSON *sub;
    cJSON *d;

    out(c, "POST /x?debug=1 HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    in(c, "HTTP/1.0 201 Created\r\nContent-Length: 0\r\n\r\n");
    d = doc();
    sub = only_sub(d);
    check_remote_sub(sub, cases[i].name);
    check_http(sub, "POST", cases[i].url, 201, 0);
    cJSON_Delete(d);
    conn_close(c);
  }
  no_doc();
}

/* Resolved but no Host header: the name (and port) make the URL. */
static void test_client_name_resolved_no_host(void **state)
{
  static const char *const ips[] = {"2001:db8::2"};
  struct xr_conn *c;
  const cJSON *sub;
  cJSON *d;
  (void)state;

  remember("v6.example", ips, 1);
  c = client("2001:db8::2", 8443);
  out(c, "GET /y HTTP/1.0\r\n\r\n");
  in(c, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nz");
  d = doc();
  sub = only_sub(d);
  check_remote_sub(sub, "v6.example");
  check_http(sub, "GET", "http://v6.example:8443/y", 200, 1);
  cJSON_Delete(d);
  conn_close(c);
}

/* 4xx error, 429 throttle too, 5xx fault; the method as sent. */
static void test_client_status_flags(void **state)
{
  static const struct {
    const char *method;
    int status;
    bool error, throttle, fault;
  } cases[] = {
      {"GET", 200, false, false, false},    {"DELETE", 301, false, false, false},
      {"PUT", 404, true, false, false},     {"GET", 429, true, true, false},
      {"PATCH", 500, false, false, true},   {"GET", 503, false, false, true},
      {"OPTIONS", 400, true, false, false},
  };
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    struct xr_conn *c = client("192.0.2.12", 80);
    char req[128], resp[128];
    const cJSON *sub;
    cJSON *d;

    snprintf(req, sizeof(req), "%s /s HTTP/1.1\r\nHost: flags.example\r\n\r\n",
             cases[i].method);
    snprintf(resp, sizeof(resp), "HTTP/1.1 %d Whatever\r\nContent-Length: 2\r\n\r\n..",
             cases[i].status);
    out(c, req);
    in(c, resp);
    d = doc();
    sub = only_sub(d);
    check_remote_sub(sub, "flags.example");
    check_http(sub, cases[i].method, "http://flags.example/s", cases[i].status, 2);
    check_flags(sub, cases[i].error, cases[i].throttle, cases[i].fault);
    assert_null(get(sub, "cause"));
    cJSON_Delete(d);
    conn_close(c);
  }
  no_doc();
}

/* ---- the same bytes in any pieces --------------------------------------- */

enum split { WHOLE, BYTES, RANDOM, IOVECS };

static uint64_t rng_state;

static uint64_t rng(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Bytes a partial write left in the buffer: never part of the stream. */
static const char NOT_SENT[] = "\x16\x03\x01 not sent \r\n\r\n";

/* One call carrying p[0..k) of the avail bytes at p: whole, or (IOVECS)
 * scattered over several buffers, an empty one among them, as a partial
 * write/read: the buffers hold more than the k bytes the call reports (the
 * rest of the stream, which the next call carries again, then bytes never
 * sent). */
static void deliver(struct xr_conn *c, bool outgoing, const char *p, size_t k,
                    size_t avail, enum split how)
{
  struct iovec iov[5];
  int cnt = 0;

  if (how == IOVECS) {
    size_t a = k / 3, b = k / 4, more = avail - k < 7 ? avail - k : 7;
    iov[cnt++] = (struct iovec){unconst(p), a};
    iov[cnt++] = (struct iovec){unconst(p + a), 0};
    iov[cnt++] = (struct iovec){unconst(p + a), b};
    iov[cnt++] = (struct iovec){unconst(p + a + b), k - a - b + more};
    iov[cnt++] = (struct iovec){unconst(NOT_SENT), sizeof(NOT_SENT) - 1};
  } else {
    iov[cnt++] = (struct iovec){unconst(p), k};
  }
  if (outgoing)
    xr_conn_sent(c, iov, cnt, k);
  else
    xr_conn_received(c, iov, cnt, k);
}

static void feed(struct xr_conn *c, bool outgoing, const char *s, enum split how)
{
  size_t len = strlen(s), off = 0;

  while (off < len) {
    size_t k = len - off;
    if (how == BYTES)
      k = 1;
    else if (how == RANDOM || how == IOVECS)
      k = 1 + (size_t)(rng() % (k < 48 ? k : 48));
    deliver(c, outgoing, s + off, k, len - off, how);
    off += k;
  }
}

/* 'o' out, 'i' in, 'e' end of stream, 'r' connection reset; the record is
 * closed (finished) after the last step. */
struct step {
  char kind;
  const char *text;
};

struct scenario {
  const char *label;
  bool server;
  int ndocs;
  struct step steps[8];
};

static const struct scenario scenarios[] = {
    {"get", false, 1, {{'o', GET_ITEMS}, {'i', OK_HELLO}, {0, NULL}}},
    {"keep-alive",
     false,
     3,
     {{'o', "GET /1 HTTP/1.1\r\nHost: ka.example\r\n\r\n"},
      {'i', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"},
      {'o', "GET /2 HTTP/1.1\r\nHost: ka.example\r\n\r\n"},
      {'i', "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"},
      {'o', "POST /3?x=y HTTP/1.1\r\nHost: ka.example\r\nContent-Length: 11\r\n\r\n"
            "hello world"},
      {'i', "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nsomething broke"},
      {'e', NULL},
      {0, NULL}}},
    {"pipelined",
     false,
     3,
     {{'o', "HEAD /h HTTP/1.1\r\nHost: p.example\r\n\r\n"
            "GET /g HTTP/1.1\r\nHost: p.example\r\n\r\n"
            "GET /x?q=1 HTTP/1.1\r\nHost: p.example\r\n\r\n"},
      {'i', "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
            "HTTP/1.1 429 Slow Down\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\nno\r\n0\r\n\r\n"},
      {0, NULL}}},
    {"continue",
     false,
     1,
     {{'o', "PUT /up HTTP/1.1\r\nHost: c.example\r\nExpect: 100-continue\r\n"
            "Content-Length: 4\r\n\r\n"},
      {'i', "HTTP/1.1 100 Continue\r\n\r\n"},
      {'o', "data"},
      {'i', "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {0, NULL}}},
    {"cut", false, 1,
     {{'o', "GET /c HTTP/1.1\r\nHost: cut.example\r\n\r\n"},
      {'i', "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
      {'e', NULL},
      {0, NULL}}},
    {"reset", false, 2,
     {{'o', "GET /a HTTP/1.1\r\nHost: r.example\r\n\r\n"
            "GET /b HTTP/1.1\r\nHost: r.example\r\n\r\n"},
      {'i', "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
      {'r', NULL},
      {0, NULL}}},
    {"server", true, 2,
     {{'i', "GET /orders/1?secret=1 HTTP/1.1\r\nHost: shop.example\r\n"
            "User-Agent: ua/1\r\nX-Forwarded-For: 198.51.100.1, 10.0.0.1\r\n"
            "X-Amzn-Trace-Id: Root=" ROOT ";Parent=" PARENT ";Sampled=1\r\n\r\n"},
      {'o', "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n"},
      {'i', "POST /orders HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 2\r\n\r\n"
            "{}"},
      {'o', "HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"},
      {0, NULL}}},
};

/* Drops what differs from run to run: ids, times. */
static void strip_volatile(cJSON *o)
{
  static const char *const keys[] = {"id", "trace_id", "parent_id", "start_time",
                                     "end_time"};
  cJSON *c;
  size_t i;

  if (cJSON_IsObject(o))
    for (i = 0; i < XR_ARRAY_SIZE(keys); i++)
      cJSON_DeleteItemFromObjectCaseSensitive(o, keys[i]);
  for (c = o->child; c; c = c->next)
    strip_volatile(c);
}

/* Runs the scenario, returns its documents (stripped) as one string. */
static char *run_scenario(const struct scenario *sc, enum split how, uint64_t seed)
{
  struct xr_conn *c = sc->server ? server("203.0.113.5", 40000) : client("192.0.2.30", 80);
  size_t cap = 65536, len = 0;
  char *all = calloc(1, cap);
  const struct step *st;
  int i;

  assert_non_null(all);
  rng_state = seed;
  for (st = sc->steps; st->kind; st++) {
    switch (st->kind) {
    case 'o':
      feed(c, true, st->text, how);
      break;
    case 'i':
      feed(c, false, st->text, how);
      break;
    case 'e':
      xr_conn_eof(c);
      break;
    case 'r':
      xr_conn_error(c, ECONNRESET);
      break;
    default:
      fail_msg("bad step");
    }
  }
  conn_close(c);
  for (i = 0; i < sc->ndocs; i++) {
    cJSON *d = ut_recv_doc(ut_rx, DOC_MS);
    char *s;

    if (!d)
      fail_msg("%s (split %d, seed %llu): document %d of %d missing", sc->label, how,
               (unsigned long long)seed, i + 1, sc->ndocs);
    strip_volatile(d);
    s = cJSON_PrintUnformatted(d);
    assert_true(len + strlen(s) + 2 < cap);
    len += (size_t)sprintf(all + len, "%s\n", s);
    free(s);
    cJSON_Delete(d);
  }
  no_doc();
  return all;
}

static void test_client_splits_identical(void **state)
{
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(scenarios); i++) {
    const struct scenario *sc = &scenarios[i];
    char *whole = run_scenario(sc, WHOLE, 1);
    char *s;
    uint64_t seed;

    s = run_scenario(sc, BYTES, 1);
    if (strcmp(whole, s) != 0)
      fail_msg("%s: byte by byte differs:\n%s---- whole:\n%s", sc->label, s, whole);
    free(s);
    for (seed = 1; seed <= 12; seed++) {
      s = run_scenario(sc, seed % 2 ? RANDOM : IOVECS, seed * 0x9E3779B97F4A7C15ULL);
      if (strcmp(whole, s) != 0)
        fail_msg("%s: split %s seed %llu differs:\n%s---- whole:\n%s", sc->label,
                 seed % 2 ? "random" : "iovecs", (unsigned long long)seed, s, whole);
      free(s);
    }
    free(whole);
  }
}

/* The scenarios above compare runs with each other; this pins what the
 * whole-buffer run of the busiest ones says. */
static void test_client_scenario_contents(void **state)
{
  cJSON *d;
  const cJSON *sub;
  struct xr_conn *c;
  size_t i;
  (void)state;

  /* keep-alive */
  c = client("192.0.2.30", 80);
  for (i = 0; i < 5; i++) {
    const struct step *st = &scenarios[1].steps[i];
    if (st->kind == 'o')
      out(c, st->text);
    else
      in(c, st->text);
  }
  d = doc();
  sub = only_sub(d);
  check_remote_sub(sub, "ka.example");
  check_http(sub, "GET", "http://ka.example/1", 200, 12); /* decoded chunks */
  check_flags(sub, false, false, false);
  cJSON_Delete(d);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://ka.example/2", 404, 9);
  check_flags(sub, true, false, false);
  cJSON_Delete(d);
  in(c, "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\nsomething broke");
  no_doc(); /* close-delimited: not complete before the end of the stream */
  xr_conn_eof(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "POST", "http://ka.example/3", 500, 15);
  check_flags(sub, false, false, true);
  assert_null(get(sub, "cause"));
  cJSON_Delete(d);
  assert_false(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* ---- keep-alive, pipelining ------------------------------------------- */

static void test_client_keepalive_three(void **state)
{
  static const char *const paths[] = {"/one", "/two", "/three"};
  struct xr_conn *c = client("192.0.2.31", 8000);
  char ids[3][XR_ID_LEN + 1];
  size_t i;
  (void)state;

  for (i = 0; i < 3; i++) {
    char req[128], resp[128];
    const cJSON *sub;
    cJSON *d;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: ka.example:8000\r\n\r\n",
             paths[i]);
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(paths[i]), paths[i]);
    out(c, req);
    no_doc();
    in(c, resp);
    d = doc();
    sub = only_sub(d);
    {
      char url[64];
      snprintf(url, sizeof(url), "http://ka.example:8000%s", paths[i]);
      check_http(sub, "GET", url, 200, (long long)strlen(paths[i]));
    }
    snprintf(ids[i], sizeof(ids[i]), "%s", ut_str(sub, "id"));
    cJSON_Delete(d);
  }
  /* Three subsegments, three traces (call mode). */
  assert_string_not_equal(ids[0], ids[1]);
  assert_string_not_equal(ids[1], ids[2]);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* The program read the head, not the body, and sent its next request:
 * the first exchange ends then, with the Content-Length of the header. */
static void test_client_keepalive_unread_body(void **state)
{
  struct xr_conn *c = client("192.0.2.32", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /big HTTP/1.1\r\nHost: u.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  no_doc();
  out(c, "GET /next HTTP/1.1\r\nHost: u.example\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://u.example/big", 200, 100);
  check_flags(sub, false, false, false);
  assert_null(get(sub, "cause"));
  cJSON_Delete(d);
  no_doc(); /* /next is open */
  /* The program closes without reading on: /next saw no response. */
  conn_close(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://u.example/next", 0, -1);
  check_cause(sub, "NoResponse", NULL, false);
  cJSON_Delete(d);
  no_doc();
}

/* As above, but the program then reads the rest of the first body and the
 * second response: the second exchange must get the second response. */
static void test_client_keepalive_unread_body_read_later(void **state)
{
  struct xr_conn *c;
  const cJSON *sub;
  cJSON *d;
  char rest[91];
  (void)state;

  c = client("192.0.2.33", 80);
  out(c, "GET /big HTTP/1.1\r\nHost: u.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  out(c, "GET /next HTTP/1.1\r\nHost: u.example\r\n\r\n");
  d = doc();
  check_http(only_sub(d), "GET", "http://u.example/big", 200, 100);
  cJSON_Delete(d);
  memset(rest, 'x', 90);
  rest[90] = '\0';
  in(c, rest); /* the end of /big's body */
  no_doc();    /* /next is still waiting for its response */
  in(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://u.example/next", 404, 0);
  check_flags(sub, true, false, false);
  cJSON_Delete(d);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

static void test_client_pipelining(void **state)
{
  struct xr_conn *c = client("192.0.2.34", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /a HTTP/1.1\r\nHost: p.example\r\n\r\n");
  out(c, "GET /b HTTP/1.1\r\nHost: p.example\r\n\r\n");
  no_doc();
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://p.example/a", 200, 2);
  cJSON_Delete(d);
  no_doc();
  in(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://p.example/b", 404, 0);
  check_flags(sub, true, false, false);
  cJSON_Delete(d);

  /* Both responses in one read. */
  out(c, "GET /c HTTP/1.1\r\nHost: p.example\r\n\r\nGET /d HTTP/1.1\r\nHost: p.example\r\n\r\n");
  in(c, "HTTP/1.1 500 E\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 201 C\r\nContent-Length: 1\r\n\r\ny");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://p.example/c", 500, 1);
  check_flags(sub, false, false, true);
  cJSON_Delete(d);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://p.example/d", 201, 1);
  check_flags(sub, false, false, false);
  cJSON_Delete(d);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* A HEAD's response has a Content-Length and no body; the GET after it
 * gets the next bytes. */
static void test_client_pipelining_head(void **state)
{
  struct xr_conn *c = client("192.0.2.35", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "HEAD /h HTTP/1.1\r\nHost: p.example\r\n\r\n"
         "GET /g HTTP/1.1\r\nHost: p.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "HEAD", "http://p.example/h", 200, 1234);
  cJSON_Delete(d);
  no_doc();
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://p.example/g", 200, 3);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

/* Pipelining deeper than a record traces: the first XR_CONN_PIPELINE
 * requests in flight are traced, up to XR_CONN_OVERFLOW more are only
 * paired with their responses (counted), so that the traced ones still
 * get the right response; beyond that the record stops following the
 * connection, ending what it traced without a response (not a fault). */
static void test_client_pipeline_overflow(void **state)
{
  struct xr_conn *c = client("192.0.2.36", 80);
  unsigned long long before = xr_conn_overflows();
  char req[96], resp[96], url[64];
  cJSON *d;
  int i;
  (void)state;

  for (i = 0; i < XR_CONN_PIPELINE + 3; i++) {
    snprintf(req, sizeof(req), "GET /q%d HTTP/1.1\r\nHost: p.example\r\n\r\n", i);
    out(c, req);
  }
  assert_int_equal(xr_conn_overflows() - before, 3);
  no_doc();
  for (i = 0; i < XR_CONN_PIPELINE + 3; i++) {
    /* The status tells which response a document got (4xx: all may have
     * a body). */
    snprintf(resp, sizeof(resp), "HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n%.*s",
             400 + i, i % 3, i % 3, "xyz");
    in(c, resp);
    if (i >= XR_CONN_PIPELINE)
      continue;
    d = doc();
    snprintf(url, sizeof(url), "http://p.example/q%d", i);
    check_http(only_sub(d), "GET", url, 400 + i, i % 3);
    cJSON_Delete(d);
  }
  no_doc(); /* the untraced three */
  assert_true(xr_conn_active(c));

  /* While an untraced request is in flight, later ones queue behind it,
   * untraced too (traced, one would take its response); once the queue
   * drains, requests are traced again. */
  for (i = 0; i < XR_CONN_PIPELINE + 1; i++)
    out(c, "GET /r HTTP/1.1\r\nHost: p.example\r\n\r\n");
  assert_int_equal(xr_conn_overflows() - before, 4);
  for (i = 0; i < XR_CONN_PIPELINE; i++) {
    in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    d = doc();
    check_http(only_sub(d), "GET", "http://p.example/r", 200, 0);
    cJSON_Delete(d);
  }
  out(c, "GET /s HTTP/1.1\r\nHost: p.example\r\n\r\n");
  assert_int_equal(xr_conn_overflows() - before, 5);
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); /* the last /r's */
  in(c, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"); /* /s's */
  no_doc();
  out(c, "GET /t HTTP/1.1\r\nHost: p.example\r\n\r\n");
  in(c, "HTTP/1.1 404 No\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  check_http(only_sub(d), "GET", "http://p.example/t", 404, 0);
  cJSON_Delete(d);
  assert_int_equal(xr_conn_overflows() - before, 5);

  /* One more than both hold. */
  for (i = 0; i < XR_CONN_PIPELINE + XR_CONN_OVERFLOW; i++)
    out(c, "GET /u HTTP/1.1\r\nHost: p.example\r\n\r\n");
  assert_true(xr_conn_active(c));
  no_doc();
  out(c, "GET /u HTTP/1.1\r\nHost: p.example\r\n\r\n");
  assert_false(xr_conn_active(c));
  for (i = 0; i < XR_CONN_PIPELINE; i++) {
    const cJSON *sub;
    d = doc();
    sub = only_sub(d);
    check_http(sub, "GET", "http://p.example/u", 0, -1);
    assert_null(get(sub, "cause"));
    cJSON_Delete(d);
  }
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  conn_close(c);
  no_doc();
}

/* ---- how responses end ------------------------------------------------ */

static void test_client_chunked(void **state)
{
  struct xr_conn *c = client("192.0.2.37", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /chunks HTTP/1.1\r\nHost: ch.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  in(c, "a\r\n0123456789\r\n");
  in(c, "1F;name=\"v\"\r\n0123456789012345678901234567890\r\n");
  no_doc();
  in(c, "0\r\nTrailer-A: 1\r\n\r\n");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://ch.example/chunks", 200, 41);
  cJSON_Delete(d);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

static void test_client_close_delimited(void **state)
{
  struct xr_conn *c = client("192.0.2.38", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /stream HTTP/1.0\r\nHost: cd.example\r\n\r\n");
  in(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabcd");
  in(c, "efgh");
  no_doc();
  xr_conn_eof(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://cd.example/stream", 200, 8);
  check_flags(sub, false, false, false);
  assert_null(get(sub, "cause"));
  cJSON_Delete(d);
  assert_false(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* The server closed in the middle of the head, or before any response. */
static void test_client_eof_before_response(void **state)
{
  static const char *const partial[] = {"", "HTTP/1.1 200 O",
                                        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"};
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(partial); i++) {
    struct xr_conn *c = client("192.0.2.39", 80);
    const cJSON *sub;
    cJSON *d;

    out(c, "GET /e HTTP/1.1\r\nHost: eof.example\r\n\r\n");
    if (*partial[i])
      in(c, partial[i]);
    xr_conn_eof(c);
    d = doc();
    sub = only_sub(d);
    check_http(sub, "GET", "http://eof.example/e", 0, -1);
    check_cause(sub, "ConnectionClosed", NULL, true);
    cJSON_Delete(d);
    assert_false(xr_conn_active(c));
    conn_close(c);
    no_doc();
  }
}

/* The contract: "the peer reset/closed before the response was complete ->
 * fault + cause exception (ConnectionClosed for EOF)". Here the head came
 * and the body was cut short. */
static void test_client_eof_in_body(void **state)
{
  struct xr_conn *c;
  const cJSON *sub;
  cJSON *d;
  (void)state;

  c = client("192.0.2.40", 80);
  out(c, "GET /cut HTTP/1.1\r\nHost: eof.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
  xr_conn_eof(c);
  d = doc();
  sub = only_sub(d);
  assert_string_equal(ut_str(get(get(sub, "http"), "request"), "url"),
                      "http://eof.example/cut");
  check_cause(sub, "ConnectionClosed", NULL, true);
  cJSON_Delete(d);
  conn_close(c);

  c = client("192.0.2.40", 80);
  out(c, "GET /cut HTTP/1.1\r\nHost: eof.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc");
  xr_conn_error(c, ECONNRESET);
  d = doc();
  check_cause(only_sub(d), "ECONNRESET", "Connection reset by peer", true);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

static void test_client_reset(void **state)
{
  struct xr_conn *c = client("192.0.2.41", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /r HTTP/1.1\r\nHost: rst.example\r\n\r\n");
  xr_conn_error(c, ECONNRESET);
  d = doc();
  sub = only_sub(d);
  check_remote_sub(sub, "rst.example");
  check_http(sub, "GET", "http://rst.example/r", 0, -1);
  check_cause(sub, "ECONNRESET", "Connection reset by peer", true);
  cJSON_Delete(d);
  assert_false(xr_conn_active(c));
  /* Nothing more comes of the connection. */
  out(c, "GET /r2 HTTP/1.1\r\nHost: rst.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  conn_close(c);
  no_doc();

  /* A write that fails with EPIPE after a request went out. */
  c = client("192.0.2.41", 80);
  out(c, "GET /p HTTP/1.1\r\nHost: rst.example\r\n\r\n");
  xr_conn_error(c, EPIPE);
  d = doc();
  check_cause(only_sub(d), "EPIPE", "Broken pipe", true);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

static void test_client_finish(void **state)
{
  struct xr_conn *c = client("192.0.2.42", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  /* Closed with no response. */
  out(c, "GET /n HTTP/1.1\r\nHost: fin.example\r\n\r\n");
  no_doc();
  conn_close(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://fin.example/n", 0, -1);
  check_cause(sub, "NoResponse", NULL, false);
  cJSON_Delete(d);
  no_doc();

  /* Closed after the head: what the program saw is the response. */
  c = client("192.0.2.42", 80);
  out(c, "GET /h HTTP/1.1\r\nHost: fin.example\r\n\r\n");
  in(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 50\r\n\r\nabc");
  no_doc();
  conn_close(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://fin.example/h", 404, 50);
  check_flags(sub, true, false, false);
  assert_null(get(sub, "cause"));
  cJSON_Delete(d);

  /* A close-delimited body: the program's close ends it (net_conn.c:
   * "what it saw is the response"), with the bytes it read. */
  c = client("192.0.2.42", 80);
  out(c, "GET /s HTTP/1.1\r\nHost: fin.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc");
  conn_close(c);
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://fin.example/s", 200, 3);
  assert_null(get(sub, "cause"));
  cJSON_Delete(d);

  /* An idle connection closes silently. */
  c = client("192.0.2.42", 80);
  conn_close(c);
  no_doc();
}

/* A 101 ends HTTP on the connection: the exchange is recorded, the
 * WebSocket frames after it are not looked at. */
static void test_client_upgrade(void **state)
{
  struct xr_conn *c = client("192.0.2.43", 80);
  const cJSON *sub;
  cJSON *d;
  (void)state;

  out(c, "GET /ws HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\n\r\n");
  in(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n\r\n\x81\x05hello");
  d = doc();
  sub = only_sub(d);
  check_http(sub, "GET", "http://ws.example/ws", 101, 0);
  check_flags(sub, false, false, false);
  cJSON_Delete(d);
  assert_false(xr_conn_active(c));
  out(c, "GET /later HTTP/1.1\r\nHost: ws.example\r\n\r\n");
  conn_close(c);
  no_doc();
}

/* Other protocols produce nothing and turn the record passive at once. */
static void test_client_not_http(void **state)
{
  /* A TLS ClientHello's record and handshake headers. */
  static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
  static const struct {
    const char *bytes;
    size_t len;
  } firsts[] = {
      {tls, sizeof(tls) - 1},
      {"*1\r\n$4\r\nPING\r\n", 14},           /* Redis */
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24}, /* HTTP/2 preface */
      {"SSH-2.0-OpenSSH_9.6\r\n", 21},
      {"\x00\x00\x00\x08\x04\xd2\x16\x2f", 8},  /* PostgreSQL SSLRequest */
  };
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(firsts); i++) {
    struct xr_conn *c = client("192.0.2.44", 6379);
    assert_true(xr_conn_active(c));
    out_bytes(c, firsts[i].bytes, firsts[i].len);
    if (xr_conn_active(c))
      fail_msg("still active after first bytes #%zu", i);
    /* HTTP-looking bytes later change nothing. */
    out(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    xr_conn_eof(c);
    conn_close(c);
  }
  /* A server that speaks first (SMTP, MySQL greeting). */
  {
    struct xr_conn *c = client("192.0.2.44", 25);
    in(c, "220 mail.example ESMTP\r\n");
    assert_false(xr_conn_active(c));
    out(c, "EHLO me\r\n");
    conn_close(c);
  }
  no_doc();
}

/* ---- connect failures ------------------------------------------------- */

/* 2023-11-14T22:13:20.123456Z: the subsegment starts when connect did. */
#define CONNECT_US 1700000000123456LL

static void check_connect_failure(const cJSON *d, const char *name, const char *type,
                                  const char *message)
{
  const cJSON *sub = only_sub(d);
  char text[64];
  char *json = cJSON_PrintUnformatted(sub);

  check_remote_sub(sub, name);
  assert_null(get(sub, "http"));
  check_cause(sub, type, message, true);
  assert_false(ut_is_true(sub, "error"));
  assert_false(ut_is_true(sub, "throttle"));
  assert_true(ut_number_text(json, "start_time", text, sizeof(text)));
  assert_string_equal(text, "1700000000.123456");
  free(json);
}

static void test_connect_refused(void **state)
{
  struct xr_conn *c;
  cJSON *d;
  (void)state;

  c = client_at("192.0.2.50", 9, true, CONNECT_US);
  assert_true(c->connecting);
  no_doc();
  xr_conn_so_error(c, ECONNREFUSED);
  d = doc();
  check_connect_failure(d, "192.0.2.50", "ECONNREFUSED",
                        "connect to 192.0.2.50:9: Connection refused");
  cJSON_Delete(d);
  assert_false(xr_conn_active(c));
  conn_close(c);
  no_doc();

  /* Resolved: named by the name; the message keeps the address. */
  {
    static const char *const ips[] = {"192.0.2.51"};
    remember("down.example", ips, 1);
  }
  c = client_at("192.0.2.51", 8080, true, CONNECT_US);
  xr_conn_so_error(c, ETIMEDOUT);
  d = doc();
  check_connect_failure(d, "down.example", "ETIMEDOUT",
                        "connect to 192.0.2.51:8080: Connection timed out");
  cJSON_Delete(d);
  conn_close(c);

  /* The failure shows at the first I/O instead of SO_ERROR. */
  c = client_at("192.0.2.52", 80, true, CONNECT_US);
  xr_conn_error(c, EHOSTUNREACH);
  d = doc();
  check_connect_failure(d, "192.0.2.52", "EHOSTUNREACH",
                        "connect to 192.0.2.52:80: No route to host");
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

/* SO_ERROR 0: connected; HTTP then works as usual and a later SO_ERROR
 * query changes nothing. */
static void test_connect_nonblocking_success(void **state)
{
  struct xr_conn *c = client_at("192.0.2.53", 80, true, CONNECT_US);
  cJSON *d;
  (void)state;

  xr_conn_so_error(c, 0);
  assert_false(c->connecting);
  xr_conn_so_error(c, ECONNREFUSED); /* not connecting any more: ignored */
  assert_true(xr_conn_active(c));
  no_doc();
  out(c, "GET / HTTP/1.1\r\nHost: nb.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  check_http(only_sub(d), "GET", "http://nb.example/", 200, 0);
  cJSON_Delete(d);
  /* A reset on a connected socket is not a connect failure. */
  xr_conn_error(c, ECONNRESET);
  conn_close(c);
  no_doc();
}

/* A lookup that gave two addresses: the program tries the first, it fails,
 * it tries the second (Python's create_connection). */
static const char *const DUAL[] = {"2001:db8::5", "192.0.2.5"};

static struct xr_conn *fail_on(const char *ip)
{
  struct xr_conn *c = client_at(ip, 8080, true, CONNECT_US);

  xr_conn_so_error(c, ECONNREFUSED);
  return c;
}

/* What the connect hook does before connecting to ip. */
static void attempt(const char *ip)
{
  union addr a = mkaddr(ip, 8080);
  struct xr_name_hit hit;
  char name[8];

  (void)xr_names_find(&a.sa, name, sizeof(name), &hit);
  xr_net_connect_attempt(&hit);
}

static void test_connect_held_failure(void **state)
{
  struct xr_conn *c1, *c2;
  union addr a;
  struct xr_name_hit hit;
  char name[64];
  cJSON *d;
  (void)state;

  remember("dual.example", DUAL, 2);
  a = mkaddr(DUAL[1], 8080);
  assert_int_equal(xr_names_find(&a.sa, name, sizeof(name), &hit), 0);
  assert_string_equal(name, "dual.example");
  assert_int_equal(hit.index, 1);
  assert_int_equal(hit.count, 2); /* one per address, not per socket type */

  /* The first fails, the second is tried and works: nothing is sent. */
  c1 = fail_on(DUAL[0]);
  no_doc(); /* held */
  attempt(DUAL[1]);
  c2 = client_at(DUAL[1], 8080, true, CONNECT_US);
  xr_conn_so_error(c2, 0);
  xr_net_fail_flush();
  no_doc();
  conn_close(c1);
  conn_close(c2);
  no_doc();

  /* Both fail: the last one's failure is sent, the first is dropped. */
  c1 = fail_on(DUAL[0]);
  attempt(DUAL[1]);
  no_doc();
  c2 = fail_on(DUAL[1]);
  d = doc();
  check_connect_failure(d, "dual.example", "ECONNREFUSED",
                        "connect to 192.0.2.5:8080: Connection refused");
  cJSON_Delete(d);
  no_doc();
  conn_close(c1);
  conn_close(c2);

  /* The program gives up after the first: a flush (next lookup, exit)
   * sends it. */
  c1 = fail_on(DUAL[0]);
  no_doc();
  xr_net_fail_flush();
  d = doc();
  check_connect_failure(d, "dual.example", "ECONNREFUSED",
                        "connect to [2001:db8::5]:8080: Connection refused");
  cJSON_Delete(d);
  xr_net_fail_flush(); /* sent once */
  conn_close(c1);
  no_doc();

  /* The next connect goes elsewhere, or to the same address again: the
   * held failure is sent first. */
  c1 = fail_on(DUAL[0]);
  attempt("192.0.2.99");
  d = doc();
  check_connect_failure(d, "dual.example", "ECONNREFUSED", NULL);
  cJSON_Delete(d);
  conn_close(c1);
  c1 = fail_on(DUAL[0]);
  attempt(DUAL[0]);
  d = doc();
  check_connect_failure(d, "dual.example", "ECONNREFUSED", NULL);
  cJSON_Delete(d);
  conn_close(c1);

  /* A failure on another list while one is held sends the held one. */
  c1 = fail_on(DUAL[0]);
  c2 = fail_on("192.0.2.98"); /* not resolved: sent at once */
  d = doc();
  check_connect_failure(d, "dual.example", "ECONNREFUSED",
                        "connect to [2001:db8::5]:8080: Connection refused");
  cJSON_Delete(d);
  d = doc();
  check_connect_failure(d, "192.0.2.98", "ECONNREFUSED",
                        "connect to 192.0.2.98:8080: Connection refused");
  cJSON_Delete(d);
  conn_close(c1);
  conn_close(c2);
  no_doc();

  /* A lookup without a node names nothing, but its list still tells the
   * next address from a new attempt. */
  remember(NULL, DUAL, 2);
  c1 = fail_on(DUAL[0]);
  assert_string_equal(c1->name, "");
  no_doc();
  attempt(DUAL[1]);
  c2 = fail_on(DUAL[1]);
  d = doc();
  check_connect_failure(d, "192.0.2.5", "ECONNREFUSED",
                        "connect to 192.0.2.5:8080: Connection refused");
  cJSON_Delete(d);
  conn_close(c1);
  conn_close(c2);
  no_doc();
}

static void *remember_on_thread(void *arg)
{
  (void)arg;
  remember("dual.example", DUAL, 2);
  return NULL;
}

/* Names are per thread: another thread's lookup does not name this
 * thread's connection (nor hold its failure). */
static void test_connect_names_per_thread(void **state)
{
  pthread_t t;
  struct xr_conn *c;
  cJSON *d;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, remember_on_thread, NULL), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  c = client(DUAL[0], 8080);
  assert_string_equal(c->name, "");
  conn_close(c);
  c = fail_on(DUAL[0]);
  d = doc(); /* not resolved on this thread: sent at once, by address */
  check_connect_failure(d, "2001:db8::5", "ECONNREFUSED",
                        "connect to [2001:db8::5]:8080: Connection refused");
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

static void *fail_first_then_exit(void *arg)
{
  struct xr_conn *c;

  (void)arg;
  remember("dual.example", DUAL, 2);
  c = fail_on(DUAL[0]);
  conn_close(c);
  /* The thread gives up and ends: nothing tried the next address. */
  return NULL;
}

/* net_fail.h: a held failure is sent on "anything else" than the next
 * address of its list being tried, "the end of the process on this
 * thread" included. A thread that ends holding one must not lose it. */
static void test_connect_held_failure_thread_exit(void **state)
{
  pthread_t t;
  cJSON *d;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, fail_first_then_exit, NULL), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  d = ut_recv_doc(ut_rx, DOC_MS);
  if (!d)
    fail_msg("the held connect failure was lost when its thread ended");
  check_connect_failure(d, "dual.example", "ECONNREFUSED",
                        "connect to [2001:db8::5]:8080: Connection refused");
  cJSON_Delete(d);
  no_doc();
}

/* ---- server ----------------------------------------------------------- */

static void check_segment(const cJSON *d, const char *name, const char *method,
                          const char *url, const char *ua, const char *client_ip,
                          bool xff, long status, long long length)
{
  const cJSON *http = get(d, "http"), *req = get(http, "request"),
              *resp = get(http, "response");

  assert_string_equal(ut_str(d, "name"), name);
  assert_null(get(d, "type"));
  assert_null(get(d, "namespace"));
  assert_true(ut_num(d, "end_time") >= ut_num(d, "start_time"));
  assert_non_null(req);
  assert_string_equal(ut_str(req, "method"), method);
  assert_string_equal(ut_str(req, "url"), url);
  if (ua)
    assert_string_equal(ut_str(req, "user_agent"), ua);
  else
    assert_null(get(req, "user_agent"));
  assert_string_equal(ut_str(req, "client_ip"), client_ip);
  assert_int_equal(ut_is_true(req, "x_forwarded_for"), xff);
  if (!xff)
    assert_null(get(req, "x_forwarded_for"));
  if (status) {
    assert_non_null(resp);
    assert_true(ut_num(resp, "status") == (double)status);
  }
  if (length >= 0)
    assert_true(ut_num(resp, "content_length") == (double)length);
  else if (resp)
    assert_null(get(resp, "content_length"));
}

static void test_server_basic(void **state)
{
  static const char *const env[] = {"AWS_XRAY_TRACING_NAME", "shop-api", NULL};
  struct xr_conn *c;
  cJSON *d;
  char *text;
  (void)state;

  ut_tracer_init(env, SVC);
  c = server("203.0.113.9", 51000);
  in(c, "GET /orders/42?token=s3cret HTTP/1.1\r\nHost: shop.example:8080\r\n"
        "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n");
  no_doc(); /* sent when the response is complete */
  out(c, "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  d = doc();
  check_segment(d, "shop-api", "GET", "http://shop.example:8080/orders/42", "curl/8.0",
                "203.0.113.9", false, 201, 2);
  check_flags(d, false, false, false);
  assert_null(get(d, "parent_id"));
  assert_null(get(d, "subsegments"));
  assert_null(get(d, "cause"));
  assert_true(ut_is_lower_hex(ut_str(d, "id"), XR_ID_LEN));
  assert_string_equal(ut_str(get(get(d, "aws"), "xray"), "sdk"), "libxray-auto");
  text = cJSON_PrintUnformatted(d);
  assert_null(strstr(text, "s3cret"));
  free(text);
  cJSON_Delete(d);
  assert_true(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

static void test_server_flags_and_keepalive(void **state)
{
  static const struct {
    int status;
    bool error, throttle, fault;
  } cases[] = {{200, false, false, false},
               {404, true, false, false},
               {429, true, true, false},
               {500, false, false, true},
               {302, false, false, false}};
  struct xr_conn *c = server("203.0.113.10", 51001);
  char prev[XR_ID_LEN + 1] = "";
  size_t i;
  (void)state;

  /* Keep-alive: one segment per request. */
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    char resp[128];
    cJSON *d;

    in(c, "DELETE /item HTTP/1.1\r\nHost: s.example\r\n\r\n");
    snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\nContent-Length: 3\r\n\r\nabc",
             cases[i].status);
    out(c, resp);
    d = doc();
    check_segment(d, SVC, "DELETE", "http://s.example/item", NULL, "203.0.113.10",
                  false, cases[i].status, 3);
    check_flags(d, cases[i].error, cases[i].throttle, cases[i].fault);
    assert_string_not_equal(ut_str(d, "id"), prev);
    snprintf(prev, sizeof(prev), "%s", ut_str(d, "id"));
    cJSON_Delete(d);
  }
  conn_close(c);
  no_doc();
}

static void test_server_forwarded_for(void **state)
{
  struct xr_conn *c = server("10.0.0.2", 51002);
  cJSON *d;
  (void)state;

  in(c, "POST /api HTTP/1.1\r\nHost: lb.example\r\n"
        "X-Forwarded-For:  198.51.100.77 , 10.0.0.1\r\n"
        "Content-Length: 4\r\n\r\nbody");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  check_segment(d, SVC, "POST", "http://lb.example/api", NULL, "198.51.100.77", true,
                200, 0);
  cJSON_Delete(d);
  conn_close(c);

  /* IPv6 peer, no forwarding. */
  c = server("2001:db8::77", 51003);
  in(c, "GET / HTTP/1.1\r\nHost: v6.example\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  check_segment(d, SVC, "GET", "http://v6.example/", NULL, "2001:db8::77", false, 200,
                0);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

/* No Host header: the URL names the accepted socket's local address. */
static void test_server_no_host(void **state)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int lfd, cfd, afd;
  struct xr_conn *c;
  char url[64];
  cJSON *d;
  (void)state;

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(lfd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  assert_int_equal(listen(lfd, 1), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
  cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(cfd >= 0);
  assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  afd = accept(lfd, NULL, NULL);
  assert_true(afd >= 0);

  c = server("127.0.0.1", 40001);
  c->fd = afd;
  in(c, "GET /plain?q=1 HTTP/1.0\r\n\r\n");
  out(c, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n!");
  d = doc();
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/plain", ntohs(sa.sin_port));
  check_segment(d, SVC, "GET", url, NULL, "127.0.0.1", false, 200, 1);
  cJSON_Delete(d);
  conn_close(c);
  close(afd);
  close(cfd);
  close(lfd);
  no_doc();
}

static void test_server_trace_header(void **state)
{
  struct xr_conn *c = server("203.0.113.11", 51004);
  struct xr_span sp;
  cJSON *d;
  (void)state;

  in(c, "GET /t HTTP/1.1\r\nHost: t.example\r\n"
        "X-Amzn-Trace-Id: Root=" ROOT ";Parent=" PARENT ";Sampled=1\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_equal(ut_str(d, "trace_id"), ROOT);
  assert_string_equal(ut_str(d, "parent_id"), PARENT);
  check_segment(d, SVC, "GET", "http://t.example/t", NULL, "203.0.113.11", false, 200, 0);
  cJSON_Delete(d);

  /* Sampled=0: nothing is sent, neither the segment nor what the thread
   * calls meanwhile, and downstream learns the decision. */
  in(c, "GET /u HTTP/1.1\r\nHost: t.example\r\n"
        "X-Amzn-Trace-Id: Root=" ROOT ";Parent=" PARENT ";Sampled=0\r\n\r\n");
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.sub);
  assert_non_null(strstr(sp.header, "Root=" ROOT));
  assert_non_null(strstr(sp.header, ";Sampled=0"));
  xr_span_end(&sp);
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  no_doc();

  /* Without a header (or a malformed one): a new trace, sampled by the
   * rule (all). */
  in(c, "GET /v HTTP/1.1\r\nHost: t.example\r\nX-Amzn-Trace-Id: Root=junk\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_not_equal(ut_str(d, "trace_id"), ROOT);
  assert_null(get(d, "parent_id"));
  cJSON_Delete(d);

  /* The thread serves nothing now: its calls are segments of their own. */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.seg);
  xr_span_discard(&sp);
  conn_close(c);
  no_doc();
}

/* W3C traceparent in place of X-Amzn-Trace-Id (XRAY_AUTO_PROPAGATE=w3c):
 * joined when it is the only one and valid; ignored otherwise, and
 * always without w3c. */
static void test_server_traceparent(void **state)
{
  static const char *const env_w3c[] = {"XRAY_AUTO_PROPAGATE", "xray,w3c", NULL};
#define TP_TID "5759e988bd862e3fe1be46a994272793"
  static const char *const bad[] = {
      "00-" TP_TID "-0000000000000000-01",              /* zero parent-id */
      "00-00000000000000000000000000000000-" PARENT "-01", /* zero trace-id */
      "00-5759E988BD862E3FE1BE46A994272793-" PARENT "-01", /* upper case */
      "ff-" TP_TID "-" PARENT "-01",                    /* version ff */
      "00-" TP_TID "-" PARENT "-01-x",                  /* 00 with more */
      "00-" TP_TID "-" PARENT,                          /* short */
  };
  struct xr_conn *c;
  struct xr_span sp;
  char tp[XR_TRACEPARENT_LEN + 1];
  cJSON *d;
  size_t i;
  (void)state;

  /* Default (xray only): a traceparent is not read. */
  c = server("203.0.113.14", 51010);
  in(c, "GET /w HTTP/1.1\r\nHost: t.example\r\ntraceparent: 00-" TP_TID "-" PARENT "-01\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_not_equal(ut_str(d, "trace_id"), ROOT);
  assert_null(get(d, "parent_id"));
  cJSON_Delete(d);
  conn_close(c);

  ut_tracer_init(env_w3c, SVC);
  c = server("203.0.113.14", 51011);
  /* Alone: its trace is joined, parent_id = its parent-id. */
  in(c, "GET /w HTTP/1.1\r\nHost: t.example\r\ntraceparent: 00-" TP_TID "-" PARENT "-01\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_equal(ut_str(d, "trace_id"), ROOT);
  assert_string_equal(ut_str(d, "parent_id"), PARENT);
  check_segment(d, SVC, "GET", "http://t.example/w", NULL, "203.0.113.14", false, 200, 0);
  cJSON_Delete(d);

  /* Flags 00: the trace joined unsampled; downstream learns the decision. */
  in(c, "GET /w HTTP/1.1\r\nHost: t.example\r\ntraceparent: 00-" TP_TID "-" PARENT "-00\r\n\r\n");
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.sub);
  assert_string_equal(sp.header, "Root=" ROOT ";Parent=0000000000000000;Sampled=0");
  assert_int_equal(xr_span_traceparent(&sp, tp, sizeof(tp)), XR_TRACEPARENT_LEN);
  assert_memory_equal(tp, "00-" TP_TID "-", 36);
  assert_string_equal(tp + 52, "-00");
  xr_span_end(&sp);
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  no_doc();

  /* Both: X-Amzn-Trace-Id wins (even a malformed one). */
  in(c, "GET /w HTTP/1.1\r\nHost: t.example\r\ntraceparent: 00-" TP_TID "-" PARENT "-01\r\n"
        "X-Amzn-Trace-Id: Root=1-11111111-222222222222222222222222;Parent=3333333333333333;"
        "Sampled=1\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_equal(ut_str(d, "trace_id"), "1-11111111-222222222222222222222222");
  assert_string_equal(ut_str(d, "parent_id"), "3333333333333333");
  cJSON_Delete(d);
  in(c, "GET /w HTTP/1.1\r\nHost: t.example\r\nX-Amzn-Trace-Id: junk\r\n"
        "traceparent: 00-" TP_TID "-" PARENT "-01\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  assert_string_not_equal(ut_str(d, "trace_id"), ROOT);
  assert_null(get(d, "parent_id"));
  cJSON_Delete(d);

  /* Invalid, or twice: a new trace, sampled by the rule. */
  for (i = 0; i <= XR_ARRAY_SIZE(bad); i++) {
    char req[512];
    if (i < XR_ARRAY_SIZE(bad))
      snprintf(req, sizeof(req), "GET /w HTTP/1.1\r\nHost: t.example\r\ntraceparent: %s\r\n\r\n",
               bad[i]);
    else
      snprintf(req, sizeof(req),
               "GET /w HTTP/1.1\r\ntraceparent: 00-%s-%s-01\r\ntraceparent: 00-%s-%s-01\r\n\r\n",
               TP_TID, PARENT, TP_TID, PARENT);
    print_message("  bad traceparent case %zu\n", i);
    in(c, req);
    out(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    d = doc();
    assert_string_not_equal(ut_str(d, "trace_id"), ROOT);
    assert_null(get(d, "parent_id"));
    cJSON_Delete(d);
  }
  conn_close(c);
  no_doc();
#undef TP_TID
}

/* Calls the serving thread makes while the request is open are embedded:
 * a span of a library hook, and a plain-socket client exchange. */
static void test_server_embeds_calls(void **state)
{
  struct xr_conn *s = server("203.0.113.12", 51005), *c;
  struct xr_span sp;
  char seg_trace[XR_TRACE_ID_LEN + 1], sub_id[XR_ID_LEN + 1];
  const cJSON *subs, *sub;
  cJSON *d;
  (void)state;

  in(s, "GET /front HTTP/1.1\r\nHost: front.example\r\n"
        "X-Amzn-Trace-Id: Root=" ROOT ";Parent=" PARENT ";Sampled=1\r\n\r\n");
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_null(sp.seg); /* no segment of its own */
  assert_non_null(sp.sub);
  assert_string_equal(sp.sub->trace_id, ROOT);
  snprintf(sub_id, sizeof(sub_id), "%s", sp.sub->id);
  snprintf(seg_trace, sizeof(seg_trace), "%s", sp.sub->trace_id);
  xr_entity_set_name(sp.sub, "db.example");
  xr_span_end(&sp);
  no_doc();

  c = client("192.0.2.60", 80);
  out(c, "GET /backend?k=v HTTP/1.1\r\nHost: backend.example\r\n\r\n");
  in(c, "HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
  no_doc(); /* embedded */
  conn_close(c);

  out(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
  d = doc();
  check_segment(d, SVC, "GET", "http://front.example/front", NULL, "203.0.113.12",
                false, 502, 0);
  check_flags(d, false, false, true);
  assert_string_equal(ut_str(d, "trace_id"), seg_trace);
  subs = get(d, "subsegments");
  assert_int_equal(cJSON_GetArraySize(subs), 2);
  sub = cJSON_GetArrayItem(subs, 0);
  assert_string_equal(ut_str(sub, "id"), sub_id);
  assert_string_equal(ut_str(sub, "name"), "db.example");
  assert_null(get(sub, "trace_id")); /* embedded, not independent */
  sub = cJSON_GetArrayItem(subs, 1);
  check_remote_sub(sub, "backend.example");
  check_http(sub, "GET", "http://backend.example/backend", 503, 4);
  check_flags(sub, false, false, true);
  assert_true(ut_num(sub, "start_time") >= ut_num(d, "start_time"));
  assert_true(ut_num(sub, "end_time") <= ut_num(d, "end_time"));
  cJSON_Delete(d);

  /* The request is over: the next call is a segment of its own. */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.seg);
  assert_string_not_equal(sp.sub->trace_id, ROOT);
  xr_span_discard(&sp);
  conn_close(s);
  no_doc();
}

/* Responses to HEAD, close-delimited responses, a 100 Continue before the
 * final response, a close before any response. */
static void test_server_response_shapes(void **state)
{
  struct xr_conn *c = server("203.0.113.13", 51006);
  cJSON *d;
  (void)state;

  in(c, "HEAD /h HTTP/1.1\r\nHost: s.example\r\n\r\n");
  out(c, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
  d = doc();
  check_segment(d, SVC, "HEAD", "http://s.example/h", NULL, "203.0.113.13", false, 200,
                4096);
  cJSON_Delete(d);

  in(c, "PUT /c HTTP/1.1\r\nHost: s.example\r\nExpect: 100-continue\r\n"
        "Content-Length: 2\r\n\r\n");
  out(c, "HTTP/1.1 100 Continue\r\n\r\n");
  in(c, "{}");
  no_doc();
  out(c, "HTTP/1.1 204 No Content\r\n\r\n");
  d = doc();
  check_segment(d, SVC, "PUT", "http://s.example/c", NULL, "203.0.113.13", false, 204,
                0);
  cJSON_Delete(d);

  in(c, "GET /old HTTP/1.0\r\nHost: s.example\r\n\r\n");
  out(c, "HTTP/1.0 200 OK\r\n\r\n");
  out(c, "0123456789");
  no_doc(); /* the body runs until the close */
  conn_close(c);
  d = doc();
  check_segment(d, SVC, "GET", "http://s.example/old", NULL, "203.0.113.13", false, 200,
                10);
  assert_null(get(d, "cause"));
  cJSON_Delete(d);

  /* The client gives up (EOF) and the server closes without answering. */
  c = server("203.0.113.13", 51007);
  in(c, "GET /slow HTTP/1.1\r\nHost: s.example\r\n\r\n");
  xr_conn_eof(c);
  no_doc(); /* the response may still be written after a half-close */
  conn_close(c);
  d = doc();
  check_segment(d, SVC, "GET", "http://s.example/slow", NULL, "203.0.113.13", false, 0,
                -1);
  check_cause(d, "ConnectionClosed", NULL, false);
  cJSON_Delete(d);

  /* Not HTTP: nothing, passive. */
  c = server("203.0.113.13", 51008);
  {
    static const char hello[] = "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03";
    in_bytes(c, hello, sizeof(hello) - 1);
  }
  assert_false(xr_conn_active(c));
  conn_close(c);
  no_doc();
}

/* An event loop: requests open at once on one thread. Each gets its
 * segment; an outbound call made meanwhile belongs to none of them and
 * goes out as a segment of its own, also when a third request arrives
 * after the first two. Runs on a thread of its own: the thread stays
 * marked as multiplexing. */
#define LOOP_DOCS 4

static void *event_loop_thread(void *arg)
{
  struct xr_conn *a = server("203.0.113.20", 52000), *b = server("203.0.113.21", 52001);
  struct xr_conn *x = server("203.0.113.22", 52002), *c;
  char **docs = arg;
  int i;

  in(a, "GET /a HTTP/1.1\r\nHost: loop.example\r\n\r\n");
  in(b, "GET /b HTTP/1.1\r\nHost: loop.example\r\n\r\n");
  in(x, "GET /x HTTP/1.1\r\nHost: loop.example\r\n\r\n");
  c = client("192.0.2.61", 80);
  out(c, "GET /call HTTP/1.1\r\nHost: called.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  out(b, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb");
  out(a, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
  out(x, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
  conn_close(a);
  conn_close(b);
  conn_close(x);
  conn_close(c);
  for (i = 0; i < LOOP_DOCS; i++) {
    static char buf[UT_DGRAM_CAP];
    ssize_t n = ut_udp_recv(ut_rx, buf, sizeof(buf), DOC_MS);
    docs[i] = n < 0 ? NULL : strdup(buf);
  }
  return NULL;
}

static void test_server_event_loop(void **state)
{
  char *docs[LOOP_DOCS] = {NULL};
  cJSON *d;
  pthread_t t;
  int i;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, event_loop_thread, docs), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  for (i = 0; i < LOOP_DOCS; i++)
    if (!docs[i])
      fail_msg("document %d missing", i + 1);
  /* The call ended first. */
  d = ut_datagram_json(docs[0], strlen(docs[0]));
  {
    const cJSON *sub = only_sub(d);
    check_remote_sub(sub, "called.example");
    check_http(sub, "GET", "http://called.example/call", 200, 0);
  }
  cJSON_Delete(d);
  d = ut_datagram_json(docs[1], strlen(docs[1]));
  check_segment(d, SVC, "GET", "http://loop.example/b", NULL, "203.0.113.21", false, 200,
                1);
  assert_null(get(d, "subsegments"));
  cJSON_Delete(d);
  d = ut_datagram_json(docs[2], strlen(docs[2]));
  check_segment(d, SVC, "GET", "http://loop.example/a", NULL, "203.0.113.20", false, 200,
                1);
  assert_null(get(d, "subsegments"));
  cJSON_Delete(d);
  d = ut_datagram_json(docs[3], strlen(docs[3]));
  check_segment(d, SVC, "GET", "http://loop.example/x", NULL, "203.0.113.22", false, 200,
                1);
  assert_null(get(d, "subsegments"));
  cJSON_Delete(d);
  for (i = 0; i < LOOP_DOCS; i++)
    free(docs[i]);
  no_doc();
}

/* Two requests pipelined on one connection are not an event loop: the
 * first keeps its calls, the second (read while the first is open) gets
 * none, and the thread's next request, on another connection, gets its
 * call again. On a thread of its own, like the event loop above. */
#define PIPE_DOCS 3

static void *pipelined_thread(void *arg)
{
  struct xr_conn *a = server("203.0.113.30", 53000), *b, *c;
  char **docs = arg;
  int i;

  in(a, "GET /one HTTP/1.1\r\nHost: p.example\r\n\r\n"
        "GET /two HTTP/1.1\r\nHost: p.example\r\n\r\n");
  c = client("192.0.2.71", 80);
  out(c, "GET /first-call HTTP/1.1\r\nHost: called.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  out(a, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"
         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2");
  conn_close(a);
  b = server("203.0.113.31", 53001);
  in(b, "GET /three HTTP/1.1\r\nHost: p.example\r\n\r\n");
  out(c, "GET /second-call HTTP/1.1\r\nHost: called.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  out(b, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3");
  conn_close(b);
  conn_close(c);
  for (i = 0; i < PIPE_DOCS; i++) {
    static char buf[UT_DGRAM_CAP];
    ssize_t n = ut_udp_recv(ut_rx, buf, sizeof(buf), DOC_MS);
    docs[i] = n < 0 ? NULL : strdup(buf);
  }
  return NULL;
}

static void test_server_pipelined_not_multiplexed(void **state)
{
  char *docs[PIPE_DOCS] = {NULL};
  const cJSON *subs;
  cJSON *d;
  pthread_t t;
  int i;
  (void)state;

  assert_int_equal(pthread_create(&t, NULL, pipelined_thread, docs), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  for (i = 0; i < PIPE_DOCS; i++)
    if (!docs[i])
      fail_msg("document %d missing", i + 1);
  d = ut_datagram_json(docs[0], strlen(docs[0]));
  check_segment(d, SVC, "GET", "http://p.example/one", NULL, "203.0.113.30", false, 200, 1);
  subs = get(d, "subsegments");
  assert_non_null(subs);
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  check_http(cJSON_GetArrayItem(subs, 0), "GET", "http://called.example/first-call", 200, 0);
  cJSON_Delete(d);
  d = ut_datagram_json(docs[1], strlen(docs[1]));
  check_segment(d, SVC, "GET", "http://p.example/two", NULL, "203.0.113.30", false, 200, 1);
  assert_null(get(d, "subsegments"));
  cJSON_Delete(d);
  d = ut_datagram_json(docs[2], strlen(docs[2]));
  check_segment(d, SVC, "GET", "http://p.example/three", NULL, "203.0.113.31", false, 200,
                1);
  subs = get(d, "subsegments");
  assert_non_null(subs);
  assert_int_equal(cJSON_GetArraySize(subs), 1);
  check_http(cJSON_GetArrayItem(subs, 0), "GET", "http://called.example/second-call", 200, 0);
  cJSON_Delete(d);
  for (i = 0; i < PIPE_DOCS; i++)
    free(docs[i]);
  no_doc();
}

struct respond_arg {
  struct xr_conn *c;
};

static void *respond_thread(void *arg)
{
  struct respond_arg *r = arg;

  out(r->c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  return NULL;
}

/* The request read on this thread is answered (its segment ended) by
 * another thread while it is still installed here. A span this thread had
 * open then goes out on its own; its next span is a segment of its own. */
static void test_server_ended_elsewhere(void **state)
{
  struct xr_conn *c = server("203.0.113.30", 53000);
  struct respond_arg r = {c};
  struct xr_span open_span, sp;
  char seg_id[XR_ID_LEN + 1], open_id[XR_ID_LEN + 1];
  pthread_t t;
  cJSON *d;
  (void)state;

  in(c, "GET /x HTTP/1.1\r\nHost: mt.example\r\n\r\n");
  assert_int_equal(xr_span_begin(&open_span), 0);
  assert_null(open_span.seg);
  snprintf(open_id, sizeof(open_id), "%s", open_span.sub->id);
  snprintf(seg_id, sizeof(seg_id), "%s", open_span.sub->parent_id);

  assert_int_equal(pthread_create(&t, NULL, respond_thread, &r), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  d = doc();
  assert_string_equal(ut_str(d, "id"), seg_id);
  check_segment(d, SVC, "GET", "http://mt.example/x", NULL, "203.0.113.30", false, 200,
                2);
  assert_null(get(d, "subsegments"));
  cJSON_Delete(d);

  /* Begun inside, ended after: sent alone, pointing at the segment. */
  xr_span_end(&open_span);
  d = doc();
  assert_string_equal(ut_str(d, "type"), "subsegment");
  assert_string_equal(ut_str(d, "id"), open_id);
  assert_string_equal(ut_str(d, "parent_id"), seg_id);
  cJSON_Delete(d);

  /* Begun after: the thread let go of the ended segment. */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.seg);
  xr_entity_set_name(sp.sub, "after.example");
  xr_span_end(&sp);
  d = doc();
  check_remote_sub(only_sub(d), "after.example");
  assert_string_not_equal(ut_str(d, "id"), seg_id);
  cJSON_Delete(d);
  conn_close(c);
  no_doc();
}

/* ---- fork ------------------------------------------------------------- */

/* A fork child lets go of its copies of what was in flight (the parent
 * sends those); idle connections stay followed. */
static void test_fork_child(void **state)
{
  struct xr_conn *c = client("192.0.2.70", 80), *s, *idle;
  struct xr_span sp;
  (void)state;

  out(c, "GET /a HTTP/1.1\r\nHost: f.example\r\n\r\nGET /b HTTP/1.1\r\nHost: f.example\r\n\r\n");
  in(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01");
  xr_conn_fork_child(c);
  assert_int_equal(c->nq, 0);
  assert_false(xr_conn_active(c));
  in(c, "23456789");
  xr_conn_eof(c);
  conn_close(c);
  no_doc();

  /* A forking server's child: the request's segment is the connection's
   * and, being served on this thread, the thread's. The child's tracer lets
   * go of its thread reference first (hooks/init.c order), then the
   * connection of its own; nothing is sent, nothing leaks. */
  s = server("203.0.113.40", 54000);
  in(s, "GET /s HTTP/1.1\r\nHost: f.example\r\n\r\n");
  xr_tracer_fork_child();
  xr_conn_fork_child(s);
  assert_false(xr_conn_active(s));
  out(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  conn_close(s);
  no_doc();
  /* The dropped segment is no longer this thread's. */
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.seg);
  xr_span_discard(&sp);

  /* The connection alone (its segment still installed on the thread). */
  s = server("203.0.113.40", 54001);
  in(s, "GET /s2 HTTP/1.1\r\nHost: f.example\r\n\r\n");
  xr_conn_fork_child(s);
  conn_close(s);
  no_doc();
  assert_int_equal(xr_span_begin(&sp), 0);
  assert_non_null(sp.seg);
  xr_span_discard(&sp);

  idle = client("192.0.2.71", 80);
  xr_conn_fork_child(idle);
  assert_true(xr_conn_active(idle));
  out(idle, "GET /i HTTP/1.1\r\nHost: f.example\r\n\r\n");
  in(idle, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  {
    cJSON *d = doc();
    check_http(only_sub(d), "GET", "http://f.example/i", 200, 0);
    cJSON_Delete(d);
  }
  conn_close(idle);
  no_doc();
}

/* xr_sockaddr_text formats addresses by hand (issue 7): the same text as
 * inet_ntop, IPv6 zero runs of every shape and the dotted-quad forms
 * included, and the port. */
static void test_sockaddr_text(void **state)
{
  static const uint16_t values[] = {0x1, 0xffff, 0xabc, 0x2001, 0x10};
  char got[XR_ADDR_MAX], want[INET6_ADDRSTRLEN];
  uint16_t port;
  unsigned mask, v, i;
  union addr a;

  (void)state;
  for (mask = 0; mask < 256; mask++) {
    for (v = 0; v < XR_ARRAY_SIZE(values); v++) {
      memset(&a, 0, sizeof(a));
      a.in6.sin6_family = AF_INET6;
      a.in6.sin6_port = htons((uint16_t)(mask * 251 + v));
      for (i = 0; i < 8; i++) {
        uint16_t w = (mask >> i) & 1 ? values[(v + i) % XR_ARRAY_SIZE(values)] : 0;
        a.in6.sin6_addr.s6_addr[2 * i] = (uint8_t)(w >> 8);
        a.in6.sin6_addr.s6_addr[2 * i + 1] = (uint8_t)w;
      }
      if (v == 1) /* ::ffff:a.b.c.d when groups 0-4 are zero */
        a.in6.sin6_addr.s6_addr[10] = a.in6.sin6_addr.s6_addr[11] = 0xff;
      xr_sockaddr_text(&a.sa, got, &port);
      assert_non_null(inet_ntop(AF_INET6, &a.in6.sin6_addr, want, sizeof(want)));
      assert_string_equal(got, want);
      assert_int_equal(port, mask * 251 + v);
    }
  }
  for (v = 0; v < 1000; v++) {
    uint32_t ip = v * 2654435761u;
    a = mkaddr("0.0.0.0", (uint16_t)v);
    a.in.sin_addr.s_addr = v % 4 ? ip : ip & 0x00ff00ffu;
    xr_sockaddr_text(&a.sa, got, &port);
    assert_non_null(inet_ntop(AF_INET, &a.in.sin_addr, want, sizeof(want)));
    assert_string_equal(got, want);
    assert_int_equal(port, v);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sockaddr_text),
      cmocka_unit_test_setup(test_client_get_resolved_name, setup),
      cmocka_unit_test_setup(test_client_name_from_host, setup),
      cmocka_unit_test_setup(test_client_name_numeric, setup),
      cmocka_unit_test_setup(test_client_name_resolved_no_host, setup),
      cmocka_unit_test_setup(test_client_status_flags, setup),
      cmocka_unit_test_setup(test_client_splits_identical, setup),
      cmocka_unit_test_setup(test_client_scenario_contents, setup),
      cmocka_unit_test_setup(test_client_keepalive_three, setup),
      cmocka_unit_test_setup(test_client_keepalive_unread_body, setup),
      cmocka_unit_test_setup(test_client_keepalive_unread_body_read_later, setup),
      cmocka_unit_test_setup(test_client_pipelining, setup),
      cmocka_unit_test_setup(test_client_pipelining_head, setup),
      cmocka_unit_test_setup(test_client_pipeline_overflow, setup),
      cmocka_unit_test_setup(test_client_chunked, setup),
      cmocka_unit_test_setup(test_client_close_delimited, setup),
      cmocka_unit_test_setup(test_client_eof_before_response, setup),
      cmocka_unit_test_setup(test_client_eof_in_body, setup),
      cmocka_unit_test_setup(test_client_reset, setup),
      cmocka_unit_test_setup(test_client_finish, setup),
      cmocka_unit_test_setup(test_client_upgrade, setup),
      cmocka_unit_test_setup(test_client_not_http, setup),
      cmocka_unit_test_setup(test_connect_refused, setup),
      cmocka_unit_test_setup(test_connect_nonblocking_success, setup),
      cmocka_unit_test_setup(test_connect_held_failure, setup),
      cmocka_unit_test_setup(test_connect_names_per_thread, setup),
      cmocka_unit_test_setup(test_connect_held_failure_thread_exit, setup),
      cmocka_unit_test_setup(test_server_basic, setup),
      cmocka_unit_test_setup(test_server_flags_and_keepalive, setup),
      cmocka_unit_test_setup(test_server_forwarded_for, setup),
      cmocka_unit_test_setup(test_server_no_host, setup),
      cmocka_unit_test_setup(test_server_trace_header, setup),
      cmocka_unit_test_setup(test_server_traceparent, setup),
      cmocka_unit_test_setup(test_server_embeds_calls, setup),
      cmocka_unit_test_setup(test_server_response_shapes, setup),
      cmocka_unit_test_setup(test_server_event_loop, setup),
      cmocka_unit_test_setup(test_server_pipelined_not_multiplexed, setup),
      cmocka_unit_test_setup(test_server_ended_elsewhere, setup),
      cmocka_unit_test_setup(test_fork_child, setup),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
