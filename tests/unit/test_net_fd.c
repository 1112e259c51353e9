/*
 * src/net_fd.c: the descriptor table and the record pool. Descriptor
 * numbers here are made up (the pool never looks at the descriptor); a
 * record "finished" by a close is observed through the document its
 * in-flight request becomes (call mode, sent to a loopback receiver), and
 * a test leaving a record behind is caught by the teardown, which counts
 * the free records of the pool.
 */
#include "util.h"

#include "../../src/clock.h"
#include "../../src/emitter.h"
#include "../../src/net_conn.h"
#include "../../src/net_fd.h"
#include "../../src/tracer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SVC "unit-svc"
#define SILENCE_MS 30
#define DOC_MS 2000

/* Descriptor ranges of the tests, apart so that none sees another's. */
#define FD_BASIC 100
#define FD_POOL 30000 /* .. + XR_CONN_MAX + 5 */
#define FD_STRESS 40000
#define FD_COUNT 50000 /* .. + XR_CONN_MAX: pool_free's probes */

static void *unconst(const void *p)
{
  return (void *)(uintptr_t)p;
}

/* The bytes of a record that xr_fd_attach must hand out zeroed: net_conn.c's
 * part up to its queue, whose entries are cleared as they are pushed
 * (net_conn.h). */
static bool conn_part_zero(const struct xr_conn *c)
{
  static const unsigned char zero[sizeof(struct xr_conn)];
  size_t off = offsetof(struct xr_conn, role);

  return memcmp((const char *)c + off, zero, offsetof(struct xr_conn, q) - off) == 0;
}

/* Free records in the pool: attaches probes until the pool is full, then
 * detaches them. Every probe is finished with nothing in flight. */
static int pool_free(void)
{
  int n = 0, i;

  while (n < XR_CONN_MAX) {
    struct xr_conn *c = xr_fd_attach(FD_COUNT + n);
    if (!c)
      break;
    xr_fd_leave(c);
    n++;
  }
  for (i = 0; i < n; i++)
    xr_fd_detach(FD_COUNT + i);
  return n;
}

/* The record of a client connection to 192.0.2.1:80 (what the connect hook
 * does), still locked. */
static struct xr_conn *attach_client(int fd)
{
  struct xr_conn *c = xr_fd_attach(fd);
  struct sockaddr_in sa;

  assert_non_null(c);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons(80);
  sa.sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
  xr_conn_client_init(c, (struct sockaddr *)&sa, false, xr_now_us());
  return c;
}

/* A request goes out on c: finishing c sends it (NoResponse). */
static void request(struct xr_conn *c, const char *path)
{
  char buf[128];
  struct iovec iov;

  snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: fd.example\r\n\r\n", path);
  iov.iov_base = unconst(buf);
  iov.iov_len = strlen(buf);
  xr_conn_sent(c, &iov, 1, iov.iov_len);
  assert_int_equal(c->nq, 1);
}

/* The document of a request whose record was finished unanswered. */
static void expect_finished(const char *path)
{
  cJSON *d = ut_recv_doc(ut_rx, DOC_MS);
  const cJSON *sub, *ex;
  char url[128];

  if (!d)
    fail_msg("no document for %s: the record was not finished", path);
  sub = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(d, "subsegments"), 0);
  snprintf(url, sizeof(url), "http://fd.example%s", path);
  assert_string_equal(
      ut_str(cJSON_GetObjectItemCaseSensitive(
                 cJSON_GetObjectItemCaseSensitive(sub, "http"), "request"),
             "url"),
      url);
  ex = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(sub, "cause"), "exceptions"),
                          0);
  assert_string_equal(ut_str(ex, "type"), "NoResponse");
  cJSON_Delete(d);
}

static void no_doc(void)
{
  ut_expect_silence(ut_rx, SILENCE_MS);
}

static int setup(void **state)
{
  (void)state;
  ut_tracer_init(NULL, SVC);
  (void)ut_udp_drain(ut_rx);
  return 0;
}

/* Every test gives back every record and leaves no descriptor followed. */
static int teardown(void **state)
{
  int fd;
  (void)state;

  for (fd = 0; fd < XR_FD_MAX; fd++)
    if (xr_fd_watched(fd)) {
      print_error("descriptor %d still followed\n", fd);
      return -1;
    }
  if (pool_free() != XR_CONN_MAX) {
    print_error("the pool has records in use after the test\n");
    return -1;
  }
  return 0;
}

/* ---- basics ----------------------------------------------------------- */

static void test_attach_enter_leave(void **state)
{
  struct xr_conn *c, *e;
  (void)state;

  assert_false(xr_fd_watched(FD_BASIC));
  assert_null(xr_fd_enter(FD_BASIC));
  c = xr_fd_attach(FD_BASIC);
  assert_non_null(c);
  assert_int_equal(c->fd, FD_BASIC);
  assert_true(conn_part_zero(c));
  assert_true(xr_fd_watched(FD_BASIC));
  /* attach hands it out locked: busy for everyone else. */
  assert_null(xr_fd_enter(FD_BASIC));
  xr_fd_leave(c);

  e = xr_fd_enter(FD_BASIC);
  assert_ptr_equal(e, c);
  assert_null(xr_fd_enter(FD_BASIC)); /* busy: skipped, never waited for */
  xr_fd_leave(e);
  e = xr_fd_enter(FD_BASIC);
  assert_ptr_equal(e, c);
  xr_fd_leave(e);
  /* Other descriptors are not affected. */
  assert_false(xr_fd_watched(FD_BASIC + 1));
  assert_null(xr_fd_enter(FD_BASIC + 1));

  xr_fd_detach(FD_BASIC);
  assert_false(xr_fd_watched(FD_BASIC));
  assert_null(xr_fd_enter(FD_BASIC));
  xr_fd_detach(FD_BASIC); /* twice: nothing */
  xr_fd_detach(FD_BASIC + 1);
  no_doc();
}

/* Records come back zeroed however the last user left them: every slot of
 * the pool is taken, scribbled on and given back, more than once. */
static void test_attach_zeroes_reused_records(void **state)
{
  int i;
  (void)state;

  for (i = 0; i < 2 * XR_CONN_MAX + 3; i++) {
    int fd = FD_BASIC + (i % 3);
    struct xr_conn *c = xr_fd_attach(fd);

    assert_non_null(c);
    if (!conn_part_zero(c))
      fail_msg("attach %d: record not zeroed", i);
    assert_int_equal(c->fd, fd);
    /* What a passive record can hold when it is given back. */
    c->role = XR_CONN_CLIENT;
    c->passive = true;
    c->connecting = true;
    c->connect_us = c->begin_us = -1;
    c->list_id = c->list_index = c->list_count = 7;
    c->port = 9;
    memset(c->addr, 'a', sizeof(c->addr) - 1);
    memset(c->name, 'n', sizeof(c->name) - 1);
    memset(&c->out, 0x5a, sizeof(c->out));
    memset(&c->in, 0xa5, sizeof(c->in));
    /* The queue may keep old entries; its count may not. */
    memset(c->q, 0x3c, sizeof(c->q));
    switch (i % 3) {
    case 0: /* what the hooks do with a passive record */
      xr_fd_release(c, fd);
      assert_false(xr_fd_watched(fd));
      break;
    case 1:
      xr_fd_leave(c);
      xr_fd_detach(fd);
      break;
    default: /* replaced by the next attach of the descriptor */
      xr_fd_leave(c);
      break;
    }
  }
  xr_fd_detach(FD_BASIC + 2);
  no_doc();
}

static void test_detach_finishes(void **state)
{
  struct xr_conn *c;
  (void)state;

  c = attach_client(FD_BASIC);
  request(c, "/detach");
  xr_fd_leave(c);
  no_doc(); /* in flight */
  xr_fd_detach(FD_BASIC);
  assert_false(xr_fd_watched(FD_BASIC));
  expect_finished("/detach");
  no_doc();

  /* Given back by its holder while still attached: finished too. */
  c = attach_client(FD_BASIC);
  request(c, "/release");
  xr_fd_release(c, FD_BASIC);
  assert_false(xr_fd_watched(FD_BASIC));
  expect_finished("/release");
  xr_fd_detach(FD_BASIC); /* the close that follows: nothing more */
  no_doc();
}

static void test_out_of_range(void **state)
{
  static const int bad[] = {XR_FD_MAX, XR_FD_MAX + 1, 1 << 30, -1, -2};
  struct xr_conn *c;
  size_t i;
  (void)state;

  for (i = 0; i < XR_ARRAY_SIZE(bad); i++) {
    assert_false(xr_fd_watched(bad[i]));
    assert_null(xr_fd_attach(bad[i]));
    assert_null(xr_fd_enter(bad[i]));
    xr_fd_detach(bad[i]);
  }
  /* The last one that is followed. */
  c = xr_fd_attach(XR_FD_MAX - 1);
  assert_non_null(c);
  xr_fd_leave(c);
  assert_true(xr_fd_watched(XR_FD_MAX - 1));
  assert_ptr_equal(xr_fd_enter(XR_FD_MAX - 1), c);
  xr_fd_leave(c);
  xr_fd_detach(XR_FD_MAX - 1);
  assert_false(xr_fd_watched(XR_FD_MAX - 1));
}

/* A descriptor number reused without a close we saw (fclose, a close in a
 * vfork child): the new attach finishes the old record. */
static void test_attach_replaces(void **state)
{
  struct xr_conn *old, *c, *e;
  (void)state;

  old = attach_client(FD_BASIC);
  request(old, "/old");
  xr_fd_leave(old);
  c = xr_fd_attach(FD_BASIC);
  assert_non_null(c);
  assert_ptr_not_equal(c, old);
  assert_true(conn_part_zero(c));
  expect_finished("/old");
  xr_fd_leave(c);
  e = xr_fd_enter(FD_BASIC);
  assert_ptr_equal(e, c);
  xr_fd_leave(e);

  /* The old record is busy (this thread holds it): its holder's leave
   * finishes it, and the new one is untouched. */
  xr_fd_detach(FD_BASIC);
  old = attach_client(FD_BASIC);
  request(old, "/held");
  xr_fd_leave(old);
  e = xr_fd_enter(FD_BASIC);
  assert_ptr_equal(e, old);
  c = xr_fd_attach(FD_BASIC);
  assert_non_null(c);
  xr_fd_leave(c);
  no_doc();
  xr_fd_leave(old);
  expect_finished("/held");
  assert_ptr_equal(xr_fd_enter(FD_BASIC), c);
  xr_fd_leave(c);
  xr_fd_detach(FD_BASIC);
  no_doc();
}

static void *detach_thread(void *arg)
{
  xr_fd_detach(*(int *)arg);
  return NULL;
}

struct reattach {
  int fd;
  struct xr_conn *c;
};

static void *detach_reattach_thread(void *arg)
{
  struct reattach *r = arg;

  xr_fd_detach(r->fd);
  r->c = attach_client(r->fd);
  request(r->c, "/new");
  xr_fd_leave(r->c);
  return NULL;
}

/* A close while another thread is inside a hook on the descriptor: the
 * close does not wait; the holder finishes the record when it lets go. */
static void test_detach_while_held(void **state)
{
  int fd = FD_BASIC;
  struct xr_conn *c, *held;
  struct reattach r;
  pthread_t t;
  (void)state;

  c = attach_client(fd);
  request(c, "/a");
  xr_fd_leave(c);
  held = xr_fd_enter(fd);
  assert_ptr_equal(held, c);
  assert_int_equal(pthread_create(&t, NULL, detach_thread, &fd), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_false(xr_fd_watched(fd));
  assert_null(xr_fd_enter(fd));
  no_doc(); /* held: not finished yet */
  xr_fd_leave(held);
  expect_finished("/a");
  no_doc();

  /* The holder gives the record back instead (it turned passive): still
   * finished exactly once. */
  c = attach_client(fd);
  request(c, "/b");
  xr_fd_leave(c);
  held = xr_fd_enter(fd);
  assert_int_equal(pthread_create(&t, NULL, detach_thread, &fd), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  no_doc();
  xr_fd_release(held, fd);
  expect_finished("/b");
  no_doc();

  /* Closed and the number reused by a new connection while the old record
   * is held: the holder's leave finishes the old one only. */
  c = attach_client(fd);
  request(c, "/old");
  xr_fd_leave(c);
  held = xr_fd_enter(fd);
  r.fd = fd;
  assert_int_equal(pthread_create(&t, NULL, detach_reattach_thread, &r), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_ptr_not_equal(r.c, held);
  no_doc();
  xr_fd_leave(held);
  expect_finished("/old");
  no_doc();
  c = xr_fd_enter(fd);
  assert_ptr_equal(c, r.c);
  assert_int_equal(c->nq, 1); /* /new is untouched */
  xr_fd_leave(c);
  xr_fd_detach(fd);
  expect_finished("/new");
  no_doc();
}

/* ---- dup -------------------------------------------------------------- */

/* A dup names the same connection: it is followed until its last
 * descriptor closes, and finished then, once. */
static void test_dup(void **state)
{
  const int a = FD_BASIC, b = FD_BASIC + 1, d = FD_BASIC + 2;
  struct xr_conn *c, *e;
  (void)state;

  c = attach_client(a);
  request(c, "/dup");
  xr_fd_leave(c);
  xr_fd_dup(a, b);
  assert_true(xr_fd_watched(b));
  e = xr_fd_enter(b);
  assert_ptr_equal(e, c);
  assert_null(xr_fd_enter(a)); /* one record: busy through either name */
  xr_fd_leave(e);
  xr_fd_dup(b, d); /* a dup of the dup */
  assert_ptr_equal(xr_fd_enter(d), c);
  xr_fd_leave(c);

  xr_fd_detach(a); /* the descriptor it was made for goes first */
  assert_false(xr_fd_watched(a));
  xr_fd_detach(d);
  no_doc();
  e = xr_fd_enter(b);
  assert_ptr_equal(e, c);
  assert_int_equal(e->nq, 1); /* still in flight */
  xr_fd_leave(e);
  xr_fd_detach(b); /* the last */
  expect_finished("/dup");
  no_doc();
}

static void test_dup_edges(void **state)
{
  const int a = FD_BASIC, b = FD_BASIC + 1;
  struct xr_conn *c, *old, *held;
  (void)state;

  /* Nothing to copy, nowhere to copy to, onto itself. */
  xr_fd_dup(a, b);
  assert_false(xr_fd_watched(b));
  c = attach_client(a);
  request(c, "/a");
  xr_fd_leave(c);
  xr_fd_dup(a, XR_FD_MAX);
  xr_fd_dup(a, -1);
  xr_fd_dup(a, a);
  xr_fd_detach(a);
  expect_finished("/a"); /* the self-dup took no second reference */
  no_doc();

  /* Onto a followed descriptor: its connection ends (dup2 closes it). */
  old = attach_client(b);
  request(old, "/replaced");
  xr_fd_leave(old);
  c = attach_client(a);
  request(c, "/kept");
  xr_fd_leave(c);
  xr_fd_dup(a, b);
  expect_finished("/replaced");
  assert_ptr_equal(xr_fd_enter(b), c);
  xr_fd_leave(c);
  xr_fd_detach(b);
  no_doc();
  xr_fd_detach(a);
  expect_finished("/kept");

  /* old's record busy: the copy is not followed (skipped, not waited). */
  c = attach_client(a);
  xr_fd_leave(c);
  held = xr_fd_enter(a);
  xr_fd_dup(a, b);
  assert_false(xr_fd_watched(b));
  xr_fd_leave(held);
  xr_fd_detach(a);

  /* A passive record given back through one name lives on under the
   * other; given back through the last, it is free. */
  c = attach_client(a);
  xr_fd_leave(c);
  xr_fd_dup(a, b);
  c = xr_fd_enter(a);
  xr_fd_release(c, a);
  assert_false(xr_fd_watched(a));
  assert_true(xr_fd_watched(b));
  c = xr_fd_enter(b);
  assert_non_null(c);
  xr_fd_release(c, b);
  assert_false(xr_fd_watched(b));
  no_doc();
}

/* Closes of every name while the record is held: the last close leaves
 * the finishing to the holder. */
static void test_dup_close_while_held(void **state)
{
  int a = FD_BASIC, b = FD_BASIC + 1;
  struct xr_conn *c, *held;
  pthread_t t;
  (void)state;

  c = attach_client(a);
  request(c, "/held");
  xr_fd_leave(c);
  xr_fd_dup(a, b);
  held = xr_fd_enter(b);
  assert_ptr_equal(held, c);
  assert_int_equal(pthread_create(&t, NULL, detach_thread, &a), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(pthread_create(&t, NULL, detach_thread, &b), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_false(xr_fd_watched(a));
  assert_false(xr_fd_watched(b));
  no_doc();
  xr_fd_leave(held);
  expect_finished("/held");
  no_doc();
}

/* ---- pool ------------------------------------------------------------- */

static void test_pool_exhaustion(void **state)
{
  unsigned long long before = xr_fd_overflows();
  struct xr_conn *c;
  int i;
  (void)state;

  for (i = 0; i < XR_CONN_MAX + 5; i++) {
    c = xr_fd_attach(FD_POOL + i);
    if (i < XR_CONN_MAX) {
      if (!c)
        fail_msg("attach %d of %d failed", i + 1, XR_CONN_MAX);
      xr_fd_leave(c);
      assert_true(xr_fd_watched(FD_POOL + i));
    } else {
      assert_null(c);
      assert_false(xr_fd_watched(FD_POOL + i));
    }
  }
  assert_int_equal(xr_fd_overflows() - before, 5);

  /* A close makes room. */
  xr_fd_detach(FD_POOL + 3);
  c = xr_fd_attach(FD_POOL + XR_CONN_MAX);
  assert_non_null(c);
  xr_fd_leave(c);
  assert_null(xr_fd_attach(FD_POOL + XR_CONN_MAX + 1));
  assert_int_equal(xr_fd_overflows() - before, 6);

  /* So does a passive record given back. */
  c = xr_fd_enter(FD_POOL + 7);
  assert_non_null(c);
  xr_fd_release(c, FD_POOL + 7);
  assert_false(xr_fd_watched(FD_POOL + 7));
  c = xr_fd_attach(FD_POOL + XR_CONN_MAX + 1);
  assert_non_null(c);
  xr_fd_leave(c);
  assert_int_equal(xr_fd_overflows() - before, 6);

  for (i = 0; i < XR_CONN_MAX + 5; i++)
    xr_fd_detach(FD_POOL + i);
  no_doc();
}

/* A record's slot comes back with a new generation, so that a hook still
 * holding the old table entry (it loaded it just before a close) finds the
 * record stale instead of working on the new connection. The table's entry
 * format is net_fd.h's. */
static void test_generation(void **state)
{
  uint64_t stale, fresh;
  struct xr_conn *c;
  int i;
  (void)state;

  /* The pool full, then one slot freed: the next attach must reuse it. */
  for (i = 0; i < XR_CONN_MAX; i++) {
    c = xr_fd_attach(FD_POOL + i);
    assert_non_null(c);
    xr_fd_leave(c);
  }
  stale = atomic_load(&xr_fdtab[FD_POOL + 5]);
  xr_fd_detach(FD_POOL + 5);
  c = xr_fd_attach(FD_BASIC);
  assert_non_null(c);
  xr_fd_leave(c);
  fresh = atomic_load(&xr_fdtab[FD_BASIC]);
  assert_int_equal((uint32_t)fresh, (uint32_t)stale); /* the same record */
  assert_true(fresh >> 32 != stale >> 32);
  /* What a hook that loaded the stale entry gets: nothing. */
  atomic_store(&xr_fdtab[FD_BASIC + 1], stale);
  assert_null(xr_fd_enter(FD_BASIC + 1));
  atomic_store(&xr_fdtab[FD_BASIC + 1], 0);
  assert_ptr_equal(xr_fd_enter(FD_BASIC), c);
  xr_fd_leave(c);

  xr_fd_detach(FD_BASIC);
  for (i = 0; i < XR_CONN_MAX; i++)
    xr_fd_detach(FD_POOL + i);
}

/* ---- stress ----------------------------------------------------------- */

#define STRESS_THREADS 4
#define STRESS_OPS 25000 /* per thread */
#define STRESS_FDS 8

struct stress {
  int id;
  uint64_t rng;
  unsigned long attaches, requests, enters, busy, releases, detaches, dups;
  char failure[160];
};

static uint64_t stress_rng(struct stress *s)
{
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 0x2545F4914F6CDD1DULL;
}

#define STRESS_CHECK(s, cond)                                                  \
  do {                                                                         \
    if (!(cond)) {                                                             \
      snprintf((s)->failure, sizeof((s)->failure), "thread %d: %s (line %d)",  \
               (s)->id, #cond, __LINE__);                                      \
      return false;                                                            \
    }                                                                          \
  } while (0)

/* While this thread holds c, reached through fd: nobody else gets it. The
 * token lives in a field net_conn.c only reads on a connect failure, which
 * never happens here. */
static bool stress_hold(struct stress *s, struct xr_conn *c, int fd, int64_t token)
{
  struct xr_conn *again;

  /* A record of ours (fd may be a dup of the descriptor it was made for). */
  STRESS_CHECK(s, c->fd >= FD_STRESS && c->fd < FD_STRESS + STRESS_FDS);
  c->connect_us = token;
  again = xr_fd_enter(fd);
  /* Busy for this thread too; or fd was closed and reattached meanwhile. */
  STRESS_CHECK(s, again != c);
  if (again)
    xr_fd_leave(again);
  STRESS_CHECK(s, c->connect_us == token);
  return true;
}

static bool stress_op(struct stress *s, int64_t token)
{
  uint64_t r = stress_rng(s);
  int fd = FD_STRESS + (int)(r % STRESS_FDS);
  unsigned what = (unsigned)((r >> 8) % 100);
  bool give_back = ((r >> 16) % 10) == 0;
  struct xr_conn *c;

  if (what < 25) {
    c = xr_fd_attach(fd);
    STRESS_CHECK(s, c != NULL); /* 8 descriptors never fill the pool */
    STRESS_CHECK(s, c->fd == fd);
    s->attaches++;
    STRESS_CHECK(s, conn_part_zero(c));
    if (((r >> 24) % 8) == 0) {
      struct sockaddr_in sa;
      static const char req[] = "GET /stress HTTP/1.1\r\nHost: fd.example\r\n\r\n";
      struct iovec iov = {unconst(req), sizeof(req) - 1};

      memset(&sa, 0, sizeof(sa));
      sa.sin_family = AF_INET;
      sa.sin_port = htons(80);
      sa.sin_addr.s_addr = htonl(0xc0000201);
      xr_conn_client_init(c, (struct sockaddr *)&sa, false, xr_now_us());
      xr_conn_sent(c, &iov, 1, iov.iov_len);
      STRESS_CHECK(s, c->nq == 1);
      s->requests++;
    }
    if (!stress_hold(s, c, fd, token))
      return false;
  } else if (what < 80) {
    c = xr_fd_enter(fd);
    if (!c) {
      s->busy++;
      return true;
    }
    s->enters++;
    if (!stress_hold(s, c, fd, token))
      return false;
  } else if (what < 90) {
    xr_fd_detach(fd);
    s->detaches++;
    return true;
  } else {
    /* Another descriptor comes to name fd's connection (dup2). */
    int to = FD_STRESS + (int)((r >> 32) % STRESS_FDS);
    xr_fd_dup(fd, to);
    s->dups++;
    return true;
  }
  if (give_back) {
    xr_fd_release(c, fd);
    s->releases++;
  } else {
    xr_fd_leave(c);
  }
  return true;
}

static void *stress_thread(void *arg)
{
  struct stress *s = arg;
  int i;

  for (i = 0; i < STRESS_OPS; i++)
    if (!stress_op(s, ((int64_t)s->id << 32) | i))
      break;
  return NULL;
}

static unsigned long long emitted(void)
{
  struct xr_emit_stats st;

  xr_emitter_stats(&st);
  return st.sent + st.send_errors + st.dropped;
}

/* Threads attach, enter, leave, give back, duplicate and close a few
 * descriptors at random. No two ever hold one record, every record is finished exactly
 * once (each request in flight becomes exactly one document), and when all
 * is closed the pool is whole again (the teardown counts it). */
static void test_stress(void **state)
{
  struct stress st[STRESS_THREADS];
  pthread_t t[STRESS_THREADS];
  unsigned long requests = 0, ops = 0, busy = 0, releases = 0;
  unsigned long long before = emitted(), overflows = xr_fd_overflows();
  int i;
  (void)state;

  memset(st, 0, sizeof(st));
  for (i = 0; i < STRESS_THREADS; i++) {
    st[i].id = i;
    st[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    assert_int_equal(pthread_create(&t[i], NULL, stress_thread, &st[i]), 0);
  }
  for (i = 0; i < STRESS_THREADS; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  for (i = 0; i < STRESS_THREADS; i++)
    if (st[i].failure[0])
      fail_msg("%s", st[i].failure);
  for (i = 0; i < STRESS_FDS; i++)
    xr_fd_detach(FD_STRESS + i);
  for (i = 0; i < STRESS_THREADS; i++) {
    requests += st[i].requests;
    ops += st[i].attaches + st[i].enters + st[i].busy + st[i].detaches + st[i].dups;
    busy += st[i].busy;
    releases += st[i].releases;
  }
  print_message("stress: %lu operations, %lu requests in flight at attach, %lu "
                "enters finding no record or a busy one, %lu given back\n",
                ops, requests, busy, releases);
  assert_int_equal(ops, (unsigned long)STRESS_THREADS * STRESS_OPS);
  assert_true(requests > 100); /* the check below means something */
  assert_int_equal(emitted() - before, requests);
  assert_int_equal(xr_fd_overflows(), overflows);
  for (i = 0; i < STRESS_FDS; i++)
    assert_false(xr_fd_watched(FD_STRESS + i));
  (void)ut_udp_drain(ut_rx);
}

/* ---- fork ------------------------------------------------------------- */

/* In a fork child the threads that held records are gone: their locks
 * open, and the copies of what was in flight go unsent (the parent sends
 * those). Idle connections stay followed: the child of a forking server
 * serves them. */
static void test_fork_child(void **state)
{
  struct xr_conn *held, *idle, *busy, *c;
  (void)state;

  held = attach_client(FD_BASIC); /* held by "another thread" throughout */
  request(held, "/held");
  idle = attach_client(FD_BASIC + 1);
  xr_fd_leave(idle);
  busy = attach_client(FD_BASIC + 2);
  request(busy, "/busy");
  xr_fd_leave(busy);

  xr_fd_fork_child();
  no_doc();

  c = xr_fd_enter(FD_BASIC);
  assert_ptr_equal(c, held); /* unlocked */
  assert_int_equal(c->nq, 0);
  assert_false(xr_conn_active(c));
  xr_fd_release(c, FD_BASIC); /* passive: what the hooks do */
  assert_false(xr_fd_watched(FD_BASIC));

  c = xr_fd_enter(FD_BASIC + 2);
  assert_ptr_equal(c, busy);
  assert_int_equal(c->nq, 0);
  assert_false(xr_conn_active(c));
  xr_fd_leave(c);
  xr_fd_detach(FD_BASIC + 2);
  no_doc();

  c = xr_fd_enter(FD_BASIC + 1);
  assert_ptr_equal(c, idle);
  assert_true(xr_conn_active(c));
  request(c, "/child");
  xr_fd_leave(c);
  xr_fd_detach(FD_BASIC + 1);
  expect_finished("/child");
  no_doc();
}

/* A close that found its record busy, and then a fork before the holder
 * let go: in the child nobody will ever let go, so the record must not
 * stay in use forever. */
static void test_fork_child_pending_close(void **state)
{
  int fd = FD_BASIC;
  struct xr_conn *c, *held;
  pthread_t t;
  (void)state;

  c = attach_client(fd);
  request(c, "/pending");
  xr_fd_leave(c);
  held = xr_fd_enter(fd);
  assert_non_null(held);
  assert_int_equal(pthread_create(&t, NULL, detach_thread, &fd), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  xr_fd_fork_child();
  no_doc();
  assert_int_equal(pool_free(), XR_CONN_MAX);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_attach_enter_leave, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attach_zeroes_reused_records, setup, teardown),
      cmocka_unit_test_setup_teardown(test_detach_finishes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
      cmocka_unit_test_setup_teardown(test_attach_replaces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_detach_while_held, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dup, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dup_edges, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dup_close_while_held, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pool_exhaustion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stress, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fork_child, setup, teardown),
      /* Last: when it runs and fails it leaves a record in use. */
      cmocka_unit_test_setup_teardown(test_fork_child_pending_close, setup, teardown),
  };
  return cmocka_run_group_tests(tests, ut_rx_group_setup, ut_rx_group_teardown);
}
