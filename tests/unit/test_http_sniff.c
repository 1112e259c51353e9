/* src/http_sniff.c: HTTP/1.x framing of observed byte streams. A table of
 * streams with the exact events and fields expected, each fed whole, one
 * byte at a time and in random pieces; xr_hp_skip / xr_hp_eof / the 0-byte
 * DONE rule; random and mutated input for robustness. */
#include "util.h"

#include "../../src/http_sniff.h"

#include <limits.h>
#include <string.h>

/* Fields longer than this print as <len:first4..last4>. */
#define LONG_FIELD 80
#define TRANSCRIPT_CAP 4096
#define INPUT_CAP 70000

/* ---- PRNG (xorshift64*), seeds printed on failure ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1DULL;
}

static void rng_seed(uint64_t seed)
{
  rng_state = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

/* What is being run, printed when a check fails. */
static char g_ctx[256];

#define HP_CHECK(cond)                                                         \
  do {                                                                         \
    if (!(cond)) {                                                             \
      print_error("%s: check failed: %s (%s:%d)\n", g_ctx, #cond, __FILE__,   \
                  __LINE__);                                                   \
      fail();                                                                  \
    }                                                                          \
  } while (0)

/* ---- transcript ---- */

struct tr {
  char buf[TRANSCRIPT_CAP];
  size_t len;
};

static void tr_add(struct tr *t, const char *s)
{
  size_t n = strlen(s);
  HP_CHECK(t->len + n < sizeof(t->buf));
  memcpy(t->buf + t->len, s, n + 1);
  t->len += n;
}

static void tr_field(struct tr *t, const char *prefix, const char *v)
{
  char tmp[64];
  size_t n = strlen(v);
  tr_add(t, prefix);
  if (n <= LONG_FIELD) {
    tr_add(t, v);
    return;
  }
  snprintf(tmp, sizeof(tmp), "<%zu:%.4s..%s>", n, v, v + n - 4);
  tr_add(t, tmp);
}

static void tr_head(struct tr *t, const struct xr_hp *p, enum xr_hp_dir dir)
{
  char tmp[64];
  if (dir == XR_HP_REQUEST) {
    const struct xr_hp_request *r = &p->u.req;
    tr_field(t, "H[", r->method);
    tr_field(t, " ", r->target);
    if (r->host[0])
      tr_field(t, " h=", r->host);
    if (r->user_agent[0])
      tr_field(t, " ua=", r->user_agent);
    if (r->xff[0])
      tr_field(t, " xff=", r->xff);
    if (r->has_trace)
      tr_field(t, " t=", r->trace);
    if (r->has_traceparent && !r->has_trace)
      tr_field(t, " tp=", r->trace);
    else if (r->has_traceparent)
      tr_add(t, " tp");
    if (r->traceparent_dup)
      tr_add(t, " tpdup");
    if (r->target_cut)
      tr_add(t, " cut");
    if (r->version_minor == 0)
      tr_add(t, " 1.0");
  } else {
    const struct xr_hp_response *r = &p->u.resp;
    snprintf(tmp, sizeof(tmp), "H[%d", r->status);
    tr_add(t, tmp);
    if (r->version_minor == 0)
      tr_add(t, " 1.0");
    if (r->content_length >= 0) {
      snprintf(tmp, sizeof(tmp), " cl=%lld", r->content_length);
      tr_add(t, tmp);
    }
    if (r->chunked)
      tr_add(t, " chunked");
    if (r->close)
      tr_add(t, " close");
    if (p->until_close)
      tr_add(t, " until");
    if (p->upgrade)
      tr_add(t, " upgrade");
  }
  tr_add(t, "] ");
}

static void tr_done(struct tr *t, const char *prefix, const struct xr_hp *p)
{
  char tmp[48];
  snprintf(tmp, sizeof(tmp), "%sD%lld", prefix, p->body_bytes);
  tr_add(t, tmp);
}

/* ---- invariants, checked after every call ---- */

static bool has_nul(const char *s, size_t cap)
{
  return memchr(s, '\0', cap) != NULL;
}

static void check_fields(const struct xr_hp *p, enum xr_hp_dir dir)
{
  HP_CHECK(p->body_bytes >= 0);
  if (dir == XR_HP_REQUEST) {
    const struct xr_hp_request *r = &p->u.req;
    HP_CHECK(has_nul(r->method, sizeof(r->method)));
    HP_CHECK(has_nul(r->target, sizeof(r->target)));
    HP_CHECK(has_nul(r->host, sizeof(r->host)));
    HP_CHECK(has_nul(r->user_agent, sizeof(r->user_agent)));
    HP_CHECK(has_nul(r->xff, sizeof(r->xff)));
    HP_CHECK(has_nul(r->trace, sizeof(r->trace)));
    HP_CHECK(r->has_traceparent || !r->traceparent_dup);
    HP_CHECK(r->version_minor == 0 || r->version_minor == 1);
  } else {
    const struct xr_hp_response *r = &p->u.resp;
    HP_CHECK(r->status >= 0 && r->status <= 999);
    HP_CHECK(r->content_length >= -1);
    HP_CHECK(r->version_minor == 0 || r->version_minor == 1);
  }
}

/* The event grammar: (BEGIN HEAD DONE)* with ERROR possible anywhere. */
struct run {
  struct xr_hp p;
  enum xr_hp_dir dir;
  const char *reqs; /* responses: 'G' other, 'H' HEAD, 'C' CONNECT, by BEGIN */
  size_t nbegin;
  enum xr_hp_event last; /* last event other than NONE; NONE at start */
  bool req_head, req_connect;
  bool failed;
  struct tr *t;           /* NULL: not recorded */
};

/* Events seen by the random test: proof that it gets past the first byte. */
static unsigned long g_counts[XR_HP_EV_ERROR + 1];

static void run_init(struct run *r, enum xr_hp_dir dir, const char *reqs, struct tr *t)
{
  memset(r, 0, sizeof(*r));
  xr_hp_init(&r->p, dir);
  r->dir = dir;
  r->reqs = reqs;
  r->t = t;
  r->last = XR_HP_EV_DONE;
  if (t) {
    t->len = 0;
    t->buf[0] = '\0';
  }
  HP_CHECK(xr_hp_idle(&r->p));
}

static void on_event(struct run *r, enum xr_hp_event ev)
{
  struct xr_hp *p = &r->p;
  switch (ev) {
  case XR_HP_EV_NONE:
    return;
  case XR_HP_EV_BEGIN:
    HP_CHECK(r->last == XR_HP_EV_DONE);
    HP_CHECK(!xr_hp_idle(p));
    HP_CHECK(p->body_bytes == 0);
    if (r->t)
      tr_add(r->t, "B ");
    if (r->dir == XR_HP_RESPONSE) {
      char k = 'G';
      if (r->reqs && r->reqs[r->nbegin])
        k = r->reqs[r->nbegin];
      r->req_head = k == 'H';
      r->req_connect = k == 'C';
      p->req_head = r->req_head;
      p->req_connect = r->req_connect;
    }
    r->nbegin++;
    break;
  case XR_HP_EV_HEAD:
    HP_CHECK(r->last == XR_HP_EV_BEGIN);
    HP_CHECK(!xr_hp_idle(p));
    if (r->dir == XR_HP_REQUEST) {
      size_t i;
      HP_CHECK(p->u.req.method[0] != '\0');
      for (i = 0; p->u.req.method[i]; i++)
        HP_CHECK((p->u.req.method[i] >= 'A' && p->u.req.method[i] <= 'Z') ||
                 p->u.req.method[i] == '-' || p->u.req.method[i] == '_');
    } else {
      HP_CHECK(p->u.resp.status >= 200 || p->u.resp.status == 101);
    }
    if (r->t)
      tr_head(r->t, p, r->dir);
    break;
  case XR_HP_EV_DONE:
    HP_CHECK(r->last == XR_HP_EV_HEAD);
    HP_CHECK(xr_hp_idle(p) == !p->upgrade);
    if (r->dir == XR_HP_RESPONSE && !p->until_close && !p->upgrade && !p->u.resp.chunked &&
        !r->req_head && p->u.resp.status != 204 && p->u.resp.status != 304 &&
        p->u.resp.content_length >= 0)
      HP_CHECK(p->body_bytes == p->u.resp.content_length);
    if (r->t) {
      tr_done(r->t, "", p);
      tr_add(r->t, " ");
    }
    break;
  case XR_HP_EV_ERROR:
    HP_CHECK(!xr_hp_idle(p));
    if (r->t)
      tr_add(r->t, "E ");
    r->failed = true;
    break;
  default:
    HP_CHECK(!"event out of range");
  }
  g_counts[ev]++;
  r->last = ev;
}

/* The calling contract of xr_hp_feed(), word for word: call again with
 * what is left until NONE or ERROR. Returns false after ERROR. */
static bool feed(struct run *r, const char *buf, size_t len)
{
  enum xr_hp_event ev;
  size_t calls = 0, max_calls = 2 * len + 8;
  if (r->failed)
    return false;
  do {
    size_t n = xr_hp_feed(&r->p, buf, len, &ev);
    HP_CHECK(++calls <= max_calls);
    HP_CHECK(n <= len);
    if (ev == XR_HP_EV_NONE || ev == XR_HP_EV_ERROR)
      HP_CHECK(n == len);
    else if (ev == XR_HP_EV_DONE)
      HP_CHECK(n > 0 || r->last == XR_HP_EV_HEAD);
    else
      HP_CHECK(n > 0);
    check_fields(&r->p, r->dir);
    on_event(r, ev);
    buf += n;
    len -= n;
  } while (ev != XR_HP_EV_NONE && ev != XR_HP_EV_ERROR);
  if (ev == XR_HP_EV_ERROR) {
    /* Sticky: more bytes are refused whole, even a valid message. */
    static const char ok[] = "GET / HTTP/1.1\r\n\r\n";
    HP_CHECK(xr_hp_feed(&r->p, ok, sizeof(ok) - 1, &ev) == sizeof(ok) - 1);
    HP_CHECK(ev == XR_HP_EV_ERROR);
    HP_CHECK(xr_hp_feed(&r->p, NULL, 0, &ev) == 0);
    HP_CHECK(ev == XR_HP_EV_ERROR);
    HP_CHECK(!xr_hp_idle(&r->p));
    return false;
  }
  return true;
}

static void finish(struct run *r)
{
  enum xr_hp_event ev = xr_hp_eof(&r->p);
  bool was_failed = r->failed;
  check_fields(&r->p, r->dir);
  switch (ev) {
  case XR_HP_EV_NONE:
    HP_CHECK(r->last == XR_HP_EV_DONE && !was_failed);
    HP_CHECK(xr_hp_idle(&r->p));
    if (r->t)
      tr_add(r->t, "eof:N");
    break;
  case XR_HP_EV_DONE:
    HP_CHECK(r->last == XR_HP_EV_HEAD && !was_failed);
    HP_CHECK(xr_hp_idle(&r->p) == !r->p.upgrade);
    if (r->t)
      tr_done(r->t, "eof:", &r->p);
    break;
  case XR_HP_EV_ERROR:
    HP_CHECK(!xr_hp_idle(&r->p));
    if (r->t)
      tr_add(r->t, "eof:E");
    break;
  default:
    HP_CHECK(!"eof event out of range");
  }
}

/* ---- the table ---- */

struct hp_case {
  enum xr_hp_dir dir;
  const char *reqs; /* see struct run */
  const char *in;
  size_t len;       /* 0: strlen(in) */
  size_t (*build)(char *buf, size_t cap); /* when in is NULL */
  const char *want;
};

#define RQ(in, want) {XR_HP_REQUEST, NULL, in, 0, NULL, want}
#define RQ_BIN(in, want) {XR_HP_REQUEST, NULL, in, sizeof(in) - 1, NULL, want}
#define RQ_BUILD(fn, want) {XR_HP_REQUEST, NULL, NULL, 0, fn, want}
#define RS(in, want) {XR_HP_RESPONSE, NULL, in, 0, NULL, want}
#define RS_BIN(in, want) {XR_HP_RESPONSE, NULL, in, sizeof(in) - 1, NULL, want}
#define RS_FOR(reqs, in, want) {XR_HP_RESPONSE, reqs, in, 0, NULL, want}

/* 'a' + i % 26: first and last bytes of a cut value tell where it was cut. */
static size_t put_pattern(char *buf, size_t at, size_t n, char base, unsigned mod)
{
  size_t i;
  for (i = 0; i < n; i++)
    buf[at + i] = (char)(base + (char)(i % mod));
  return at + n;
}

static size_t put(char *buf, size_t at, const char *s)
{
  size_t n = strlen(s);
  memcpy(buf + at, s, n);
  return at + n;
}

/* "/" then digits: a target of n bytes before the query. */
static size_t build_target(char *buf, size_t n)
{
  size_t at = put(buf, 0, "GET /");
  at = put_pattern(buf, at, n - 1, '0', 10);
  return put(buf, at, "?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
}

static size_t build_target_600(char *buf, size_t cap)
{
  (void)cap;
  return build_target(buf, 600);
}

static size_t build_target_511(char *buf, size_t cap)
{
  (void)cap;
  return build_target(buf, XR_HP_TARGET_MAX - 1);
}

static size_t build_target_512(char *buf, size_t cap)
{
  (void)cap;
  return build_target(buf, XR_HP_TARGET_MAX);
}

static size_t build_long_values(char *buf, size_t cap)
{
  size_t at = put(buf, 0, "GET / HTTP/1.1\r\nHost: ");
  (void)cap;
  at = put_pattern(buf, at, 300, 'a', 26);
  at = put(buf, at, "\r\nUser-Agent: ");
  at = put_pattern(buf, at, 300, 'a', 26);
  at = put(buf, at, "   \r\nX-Forwarded-For: ");
  at = put_pattern(buf, at, 100, 'a', 26);
  at = put(buf, at, ", 10.0.0.1\r\nX-Amzn-Trace-Id: ");
  at = put_pattern(buf, at, 700, 'a', 26);
  return put(buf, at, "\r\n\r\n");
}

/* A request head of exactly n bytes (request line, one padding header,
 * the empty line). */
static size_t build_head(char *buf, size_t n)
{
  size_t at = put(buf, 0, "GET / HTTP/1.1\r\nX-Pad: ");
  at = put_pattern(buf, at, n - 27, 'a', 26);
  return put(buf, at, "\r\n\r\n");
}

static size_t build_head_max(char *buf, size_t cap)
{
  (void)cap;
  return build_head(buf, XR_HP_HEAD_MAX);
}

static size_t build_head_over(char *buf, size_t cap)
{
  (void)cap;
  return build_head(buf, XR_HP_HEAD_MAX + 1);
}

/* Leading empty lines count toward the head. */
static size_t build_head_over_lf(char *buf, size_t cap)
{
  (void)cap;
  buf[0] = '\n';
  return 1 + build_head(buf + 1, XR_HP_HEAD_MAX);
}

static size_t build_response_head_over(char *buf, size_t cap)
{
  size_t at = put(buf, 0, "HTTP/1.1 200 OK\r\nX-Pad: ");
  (void)cap;
  at = put_pattern(buf, at, XR_HP_HEAD_MAX, 'a', 26);
  return put(buf, at, "\r\nContent-Length: 0\r\n\r\n");
}

#define TRACE_VAL "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
#define TP_VAL "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"

static const struct hp_case cases[] = {
    /* ---- requests ---- */
    RQ("GET /api/users?id=5&token=secret HTTP/1.1\r\nHost: example.com\r\n"
       "User-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"
       "X-Amzn-Trace-Id: " TRACE_VAL "\r\n\r\n",
       "B H[GET /api/users h=example.com ua=curl/8.5.0 xff=203.0.113.7 t=" TRACE_VAL
       "] D0 eof:N"),
    /* names case-insensitive, OWS trimmed, empty trace still present */
    RQ("GET / HTTP/1.1\r\nhOsT:   a.example:8080  \t\r\nuser-agent:\tUA 1 \r\n"
       "x-forwarded-for:  198.51.100.1  \r\nx-amzn-trace-id: \r\n\r\n",
       "B H[GET / h=a.example:8080 ua=UA 1 xff=198.51.100.1 t=] D0 eof:N"),
    /* W3C traceparent: captured trimmed, case-insensitive; a second one
     * marks the request; lookalike names are not it; TE still is TE */
    RQ("GET / HTTP/1.1\r\ntraceparent:  " TP_VAL " \t\r\n\r\n",
       "B H[GET / tp=" TP_VAL "] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\nTraceParent: " TP_VAL "\r\nX-Amzn-Trace-Id: " TRACE_VAL "\r\n"
       "TRACEPARENT: 00-other\r\n\r\n",
       "B H[GET / t=" TRACE_VAL " tp tpdup] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\nX-Amzn-Trace-Id: " TRACE_VAL "\r\nTraceParent: " TP_VAL "\r\n\r\n",
       "B H[GET / t=" TRACE_VAL " tp] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\nTraceParent: " TP_VAL "\r\nX-Amzn-Trace-Id: Root=x\r\n\r\n",
       "B H[GET / t=Root=x tp] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\ntraceparentx: a\r\ntraceparen: b\r\ntracestate: k=v\r\n"
       "TE: trailers\r\ntrace: c\r\n\r\n",
       "B H[GET /] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\ntraceparent:\r\n\r\n", "B H[GET / tp=] D0 eof:N"),
    RQ("POST / HTTP/1.1\r\ntraceparent: " TP_VAL "\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\n\r\nGET /2 HTTP/1.1\r\n\r\n",
       "B H[POST / tp=" TP_VAL "] D3 B H[GET /2] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\ntraceparent: " TP_VAL "-0123456789abcdefghijklmnopqrstuvwxyz\r\n\r\n",
       "B H[GET / tp=<92:00-5..wxyz>] D0 eof:N"),
    RS("HTTP/1.1 200 OK\r\ntraceparent: " TP_VAL "\r\nContent-Length: 2\r\n\r\nok",
       "B H[200 cl=2] D2 eof:N"),
    RQ("GET /p#frag?x HTTP/1.1\r\n\r\n", "B H[GET /p] D0 eof:N"),
    RQ("GET /?only-query HTTP/1.1\r\n\r\n", "B H[GET /] D0 eof:N"),
    RQ("GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
       "B H[GET http://example.com:8080/a/b h=example.com:8080] D0 eof:N"),
    RQ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "B H[OPTIONS * h=x] D0 eof:N"),
    RQ("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
       "B H[CONNECT example.com:443 h=example.com:443] D0 eof:N"),
    RQ("M-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\n", "B H[M-SEARCH *] D0 eof:N"),
    RQ("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n", "B H[ABCDEFGHIJKLMNO /] D0 eof:N"),
    RQ_BUILD(build_target_600, "B H[GET <511:/012..6789> h=h cut] D0 eof:N"),
    RQ_BUILD(build_target_511, "B H[GET <511:/012..6789> h=h] D0 eof:N"),
    RQ_BUILD(build_target_512, "B H[GET <511:/012..6789> h=h cut] D0 eof:N"),
    RQ_BUILD(build_long_values,
             "B H[GET / h=<255:abcd..rstu> ua=<255:abcd..rstu> "
             "xff=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk "
             "t=<511:abcd..nopq>] D0 eof:N"),
    RQ("POST /submit HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
       "B H[POST /submit h=h] D11 eof:N"),
    RQ("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
       "B H[POST /up] D11 eof:N"),
    /* chunked wins over Content-Length */
    RQ("POST /x HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, Chunked \r\n\r\n"
       "3\r\nabc\r\n0\r\n\r\n",
       "B H[POST /x] D3 eof:N"),
    /* same Content-Length twice: accepted */
    RQ("PUT /d HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\nhello",
       "B H[PUT /d] D5 eof:N"),
    /* pipelined, with empty lines between messages and a 1.0 request */
    RQ("GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
       "\r\nGET /c?x HTTP/1.0\r\n\r\n",
       "B H[GET /a h=h] D0 B H[POST /b] D3 B H[GET /c 1.0] D0 eof:N"),
    RQ("\r\n\r\n\nGET / HTTP/1.1\r\n\r\n\r\n", "B H[GET /] D0 eof:N"),
    RQ("GET /lf HTTP/1.1\nHost: lf\nContent-Length: 2\n\nok", "B H[GET /lf h=lf] D2 eof:N"),
    RQ("GET /v HTTP/1.9\r\n\r\n", "B H[GET /v] D0 eof:N"),
    /* the first Host / X-Forwarded-For / trace header wins */
    RQ("GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\nX-Amzn-Trace-Id: Root=a\r\n"
       "X-Amzn-Trace-Id: Root=b\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n",
       "B H[GET / h=one xff=1.1.1.1 t=Root=a] D0 eof:N"),
    /* obs-fold ignored; names that merely start like known ones */
    RQ("GET / HTTP/1.1\r\nUser-Agent: first\r\n  continued\r\n\tmore\r\nHost: h\r\n"
       "Hostname: no\r\nContent-Lengthy: 7\r\nX-Forwarded-For-X: 9.9.9.9\r\n\r\n",
       "B H[GET / h=h ua=first] D0 eof:N"),
    RQ("GET / HTTP/1.1\r\nX-Forwarded-For: ,1.2.3.4\r\nHost:\r\n\r\n", "B H[GET /] D0 eof:N"),
    RQ("GET /partial HTTP/1.1\r\nHost: h", "B eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", "B H[POST /] eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\nabc", "B H[POST /] eof:E"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
       "00000000000000000000003\r\nabc\r\n000\r\nX-T: 1\r\n\r\n",
       "B H[POST /] D3 eof:N"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\nab",
       "B H[POST /] eof:E"),
    RQ_BUILD(build_head_max, "B H[GET /] D0 eof:N"),
    /* ---- requests: not HTTP/1.x, or unframeable ---- */
    RQ_BIN("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "E eof:E"), /* TLS ClientHello */
    RQ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "B E eof:E"),
    RQ("GET / HTTP/2\r\n\r\n", "B E eof:E"),
    RQ("get / HTTP/1.1\r\n\r\n", "E eof:E"),
    RQ("GET / http/1.1\r\n\r\n", "B E eof:E"),
    RQ_BIN("\x00\x00\x00\x08\x04\xd2\x16\x2f", "E eof:E"), /* Postgres SSLRequest */
    RQ_BIN("\x00\x00\x00\x25\x00\x03\x00\x00user\x00postgres\x00"
           "database\x00postgres\x00\x00",
           "E eof:E"), /* Postgres StartupMessage */
    RQ("EHLO mail.example.com\r\n", "B E eof:E"),
    RQ("*1\r\n$4\r\nPING\r\n", "E eof:E"),
    RQ("GET / HTTP/1.1\r\nHost example.com\r\n\r\n", "B E eof:E"),
    RQ("GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", "B E eof:E"),
    RQ("GET / HTTP/1.1\r\n: empty-name\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\nhello", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length:  \r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 9223372036854775808\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "B E eof:E"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
       "B H[POST /] E eof:E"),
    RQ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "B H[POST /] E eof:E"),
    RQ_BUILD(build_head_over, "B E eof:E"),
    RQ_BUILD(build_head_over_lf, "B E eof:E"),
    RQ("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n", "B E eof:E"),
    RQ("GET  / HTTP/1.1\r\n\r\n", "B E eof:E"),
    RQ("GET /a b HTTP/1.1\r\n\r\n", "B E eof:E"),
    RQ("GET /\r\n", "B E eof:E"), /* HTTP/0.9 */
    RQ("GET / HTTP/1.1 \r\n\r\n", "B E eof:E"),
    RQ("GET / HTTP/1.1\rHost: x\r\n\r\n", "B E eof:E"),
    RQ("\r\rGET / HTTP/1.1\r\n\r\n", "E eof:E"),
    /* ---- responses ---- */
    RS("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
       "B H[200 cl=5] D5 eof:N"),
    RS("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "B H[404 cl=0] D0 eof:N"),
    RS("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", "B H[200 cl=0] D0 eof:N"),
    RS("HTTP/1.1 999 \r\ncontent-length:1\r\n\r\n!", "B H[999 cl=1] D1 eof:N"),
    RS("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       "B H[204 cl=5] D0 B H[200 cl=0] D0 eof:N"),
    RS("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\nETag: \"x\"\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nX",
       "B H[304 cl=1234] D0 B H[200 cl=1] D1 eof:N"),
    RS_FOR("HG",
           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
           "B H[200 cl=100] D0 B H[200 cl=2] D2 eof:N"),
    RS_FOR("H", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
           "B H[200 chunked] D0 eof:N"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "4;name=val\r\nWiki\r\n5 ; x=\"y\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
       "0;last\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n",
       "B H[200 chunked] D23 eof:N"),
    RS("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n", "B H[200 chunked] D3 eof:N"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip ,  Chunked  \r\nContent-Length: 9\r\n\r\n"
       "2\r\nab\r\n0\r\n\r\n",
       "B H[200 cl=9 chunked] D2 eof:N"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "B H[200 chunked] eof:E"),
    RS("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
       "B H[200 cl=2] D2 eof:N"),
    /* interim heads are dropped, Content-Length included */
    RS("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\nContent-Length: 9\r\n\r\n"
       "HTTP/1.1 100 Continue\r\n\r\n"
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       "B H[200 chunked] D0 eof:N"),
    RS_BIN("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
           "\x81\x05hello",
           "B H[101 upgrade] D0 E eof:E"),
    RS_FOR("C", "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
           "B H[200 upgrade] D0 E eof:E"),
    RS_FOR("C", "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nabc",
           "B H[407 cl=3] D3 eof:N"),
    RS("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>body</html>",
       "B H[200 until] eof:D17"),
    RS("HTTP/1.1 200 OK\r\n\r\n", "B H[200 until] eof:D0"),
    RS("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "B H[200 close until] eof:D0"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef",
       "B H[200 cl=3 until] eof:D6"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
       "B H[200 until] eof:D5"),
    RS("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", "B H[200 1.0 cl=2 close] D2 eof:N"),
    RS("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi",
       "B H[200 1.0 cl=2] D2 eof:N"),
    RS("HTTP/1.1 200 OK\r\nConnection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n",
       "B H[200 cl=0 close] D0 eof:N"),
    RS("HTTP/1.1 200 OK\r\nConnection: closed, keep-alive-x\r\nContent-Length: 0\r\n\r\n",
       "B H[200 cl=0] D0 eof:N"),
    RS("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
       "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
       "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
       "B H[200 cl=3] D3 B H[201 chunked] D2 B H[404 cl=0] D0 eof:N"),
    RS("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "B H[200 cl=10] eof:E"),
    /* ---- responses: errors ---- */
    RS("SSH-2.0-OpenSSH_9.6\r\n", "E eof:E"),
    RS("\r\nHTTP/1.1 200 OK\r\n\r\n", "E eof:E"),
    RS("http/1.1 200 OK\r\n\r\n", "E eof:E"),
    RS("HtTP/1.1 200 OK\r\n\r\n", "B E eof:E"),
    RS("HTTP/2 200\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1 20 OK\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1 099 Low\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1 200OK\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1  200 OK\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello", "B E eof:E"),
    RS("HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "B E eof:E"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
       "B H[200 chunked] E eof:E"),
    RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
       "B H[200 chunked] E eof:E"),
    RS("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\r\n", "B H[200 cl=0] D0 E eof:E"),
    {XR_HP_RESPONSE, NULL, NULL, 0, build_response_head_over, "B E eof:E"},
};

static char g_input[INPUT_CAP];

static const char *case_input(const struct hp_case *c, size_t *len)
{
  if (c->in) {
    *len = c->len ? c->len : strlen(c->in);
    return c->in;
  }
  *len = c->build(g_input, sizeof(g_input));
  assert_true(*len <= sizeof(g_input));
  return g_input;
}

enum split_mode { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

/* Next piece: random pieces include empty ones and the whole rest. */
static size_t next_piece(enum split_mode mode, size_t left)
{
  size_t n;
  if (mode == SPLIT_WHOLE)
    return left;
  if (mode == SPLIT_BYTES)
    return left ? 1 : 0;
  switch (rng() % 5) {
  case 0:
    return 0;
  case 1:
    return left ? 1 : 0;
  case 2:
    n = (size_t)(rng() % 8);
    break;
  case 3:
    return (size_t)(rng() % (left + 1));
  default:
    n = (size_t)(rng() % 40);
    break;
  }
  return n > left ? left : n;
}

static void run_split(enum xr_hp_dir dir, const char *reqs, const char *in, size_t len,
                      enum split_mode mode, struct tr *t)
{
  struct run r;
  size_t at = 0;
  run_init(&r, dir, reqs, t);
  while (at < len) {
    size_t n = next_piece(mode, len - at);
    if (!feed(&r, in + at, n))
      break;
    at += n;
  }
  feed(&r, NULL, 0);
  finish(&r);
}

static void test_table(void **state)
{
  static struct tr got;
  size_t i;
  int k;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const struct hp_case *c = &cases[i];
    size_t len;
    const char *in = case_input(c, &len);

    snprintf(g_ctx, sizeof(g_ctx), "case %zu (%s), whole", i, c->want);
    run_split(c->dir, c->reqs, in, len, SPLIT_WHOLE, &got);
    if (strcmp(got.buf, c->want) != 0) {
      print_error("%s\n got: %s\nwant: %s\n", g_ctx, got.buf, c->want);
      fail();
    }
    snprintf(g_ctx, sizeof(g_ctx), "case %zu (%s), byte by byte", i, c->want);
    run_split(c->dir, c->reqs, in, len, SPLIT_BYTES, &got);
    if (strcmp(got.buf, c->want) != 0) {
      print_error("%s\n got: %s\nwant: %s\n", g_ctx, got.buf, c->want);
      fail();
    }
    for (k = 0; k < 200; k++) {
      uint64_t seed = 0x5EED0000ULL + (uint64_t)i * 1000 + (uint64_t)k;
      rng_seed(seed);
      snprintf(g_ctx, sizeof(g_ctx), "case %zu (%s), random split seed %llu", i, c->want,
               (unsigned long long)seed);
      run_split(c->dir, c->reqs, in, len, SPLIT_RANDOM, &got);
      if (strcmp(got.buf, c->want) != 0) {
        print_error("%s\n got: %s\nwant: %s\n", g_ctx, got.buf, c->want);
        fail();
      }
    }
  }
  assert_true(XR_ARRAY_SIZE(cases) >= 40);
}

/* ---- the calling contract, call by call ---- */

static void test_done_after_head(void **state)
{
  static const char get[] = "GET / HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
  static const char post[] = "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n";
  struct xr_hp p;
  enum xr_hp_event ev;
  (void)state;
  snprintf(g_ctx, sizeof(g_ctx), "done after head");

  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(xr_hp_feed(&p, get, sizeof(get) - 1, &ev), 1);
  assert_int_equal(ev, XR_HP_EV_BEGIN);
  assert_int_equal(xr_hp_feed(&p, get + 1, sizeof(get) - 2, &ev), 17);
  assert_int_equal(ev, XR_HP_EV_HEAD);
  assert_false(xr_hp_idle(&p));
  /* The 0-byte DONE, with bytes of the next message waiting... */
  assert_int_equal(xr_hp_feed(&p, get + 18, sizeof(get) - 19, &ev), 0);
  assert_int_equal(ev, XR_HP_EV_DONE);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(xr_hp_feed(&p, get + 18, sizeof(get) - 19, &ev), 1);
  assert_int_equal(ev, XR_HP_EV_BEGIN);
  assert_int_equal(xr_hp_feed(&p, get + 19, sizeof(get) - 20, &ev), sizeof(get) - 20);
  assert_int_equal(ev, XR_HP_EV_HEAD);
  assert_string_equal(p.u.req.target, "/2");
  /* ...and without: len 0, buf NULL. */
  assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ev, XR_HP_EV_DONE);
  assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ev, XR_HP_EV_NONE);
  assert_true(xr_hp_idle(&p));

  /* A body follows the head: nothing pending. */
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(xr_hp_feed(&p, post, 1, &ev), 1);
  assert_int_equal(ev, XR_HP_EV_BEGIN);
  assert_int_equal(xr_hp_feed(&p, post + 1, sizeof(post) - 2, &ev), sizeof(post) - 2);
  assert_int_equal(ev, XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
  assert_int_equal(ev, XR_HP_EV_NONE);
  assert_int_equal(xr_hp_feed(&p, "ab", 2, &ev), 2);
  assert_int_equal(ev, XR_HP_EV_DONE);
  assert_int_equal(p.body_bytes, 2);
  assert_true(xr_hp_idle(&p));

  /* Upgrade: DONE (0 bytes), then ERROR even with nothing more to feed. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  {
    static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    assert_int_equal(xr_hp_feed(&p, up, sizeof(up) - 1, &ev), 1);
    assert_int_equal(ev, XR_HP_EV_BEGIN);
    assert_int_equal(xr_hp_feed(&p, up + 1, sizeof(up) - 2, &ev), sizeof(up) - 2);
    assert_int_equal(ev, XR_HP_EV_HEAD);
    assert_true(p.upgrade);
    assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
    assert_int_equal(ev, XR_HP_EV_DONE);
    assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
    assert_int_equal(ev, XR_HP_EV_ERROR);
    assert_int_equal(xr_hp_feed(&p, "x", 1, &ev), 1);
    assert_int_equal(ev, XR_HP_EV_ERROR);
  }

  /* req_head is read when the head ends, not at BEGIN. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  {
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    assert_int_equal(xr_hp_feed(&p, r, 20, &ev), 1);
    assert_int_equal(ev, XR_HP_EV_BEGIN);
    assert_int_equal(xr_hp_feed(&p, r + 1, 19, &ev), 19);
    assert_int_equal(ev, XR_HP_EV_NONE);
    p.req_head = true;
    assert_int_equal(xr_hp_feed(&p, r + 20, sizeof(r) - 21, &ev), sizeof(r) - 21);
    assert_int_equal(ev, XR_HP_EV_HEAD);
    assert_int_equal(p.u.resp.content_length, 4);
    assert_int_equal(xr_hp_feed(&p, NULL, 0, &ev), 0);
    assert_int_equal(ev, XR_HP_EV_DONE);
    assert_int_equal(p.body_bytes, 0);
    assert_true(p.req_head); /* the caller's to reset */
  }
}

/* ---- xr_hp_skip ---- */

static enum xr_hp_event feed_all(struct xr_hp *p, const char *s)
{
  enum xr_hp_event ev, last = XR_HP_EV_NONE;
  size_t len = strlen(s);
  do {
    size_t n = xr_hp_feed(p, s, len, &ev);
    s += n;
    len -= n;
    if (ev != XR_HP_EV_NONE)
      last = ev;
  } while (ev != XR_HP_EV_NONE && ev != XR_HP_EV_ERROR);
  return last;
}

static void test_skip(void **state)
{
  struct xr_hp p;
  (void)state;

  /* Content-Length body: skipped and fed bytes both count. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_skip(&p, 4), XR_HP_EV_NONE);
  assert_int_equal(p.body_bytes, 4);
  assert_int_equal(xr_hp_skip(&p, 0), XR_HP_EV_NONE);
  assert_int_equal(feed_all(&p, "abc"), XR_HP_EV_NONE);
  assert_int_equal(p.body_bytes, 7);
  assert_int_equal(xr_hp_skip(&p, 3), XR_HP_EV_DONE);
  assert_int_equal(p.body_bytes, 10);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(feed_all(&p, "HTTP/1.1 204 No Content\r\n\r\n"), XR_HP_EV_DONE);

  /* More than is left: lost. */
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"), XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_skip(&p, 4), XR_HP_EV_ERROR);
  assert_int_equal(feed_all(&p, "GET / HTTP/1.1\r\n\r\n"), XR_HP_EV_ERROR);
  assert_int_equal(xr_hp_skip(&p, 1), XR_HP_EV_ERROR);
  assert_int_equal(xr_hp_skip(&p, 0), XR_HP_EV_ERROR);

  /* A whole request body sent with sendfile. */
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "PUT /f HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n"),
                   XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_skip(&p, 1048576), XR_HP_EV_DONE);
  assert_int_equal(p.body_bytes, 1048576);
  assert_int_equal(feed_all(&p, "GET / HTTP/1.1\r\n\r\n"), XR_HP_EV_DONE);

  /* Close-delimited body: any amount, saturating. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\n\r\nxy"), XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_skip(&p, 1000), XR_HP_EV_NONE);
  assert_int_equal(p.body_bytes, 1002);
  assert_int_equal(xr_hp_skip(&p, ULLONG_MAX), XR_HP_EV_NONE);
  assert_int_equal(p.body_bytes, LLONG_MAX);
  assert_int_equal(feed_all(&p, "more"), XR_HP_EV_NONE);
  assert_int_equal(p.body_bytes, LLONG_MAX);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_DONE);
  assert_true(xr_hp_idle(&p));

  /* Not in a counted body: in a head, idle, chunked, pending DONE. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(xr_hp_skip(&p, 1), XR_HP_EV_ERROR);
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "GET / HT"), XR_HP_EV_BEGIN);
  assert_int_equal(xr_hp_skip(&p, 1), XR_HP_EV_ERROR);
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"),
                   XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_skip(&p, 5), XR_HP_EV_ERROR);
  xr_hp_init(&p, XR_HP_REQUEST);
  {
    enum xr_hp_event ev;
    static const char g[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(xr_hp_feed(&p, g, 1, &ev), 1);
    assert_int_equal(xr_hp_feed(&p, g + 1, sizeof(g) - 2, &ev), sizeof(g) - 2);
    assert_int_equal(ev, XR_HP_EV_HEAD);
    assert_int_equal(xr_hp_skip(&p, 1), XR_HP_EV_ERROR);
  }
  /* Between messages (after DONE). */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"), XR_HP_EV_DONE);
  assert_int_equal(xr_hp_skip(&p, 1), XR_HP_EV_ERROR);
}

/* ---- xr_hp_eof and xr_hp_idle ---- */

static void test_eof(void **state)
{
  struct xr_hp p;
  enum xr_hp_event ev;
  (void)state;

  xr_hp_init(&p, XR_HP_REQUEST);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_NONE);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_NONE);

  /* Empty lines are not a message. */
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "\r\n\r"), XR_HP_EV_NONE);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_NONE);

  /* Cut in the start line, in headers, in a counted and a chunked body. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "H"), XR_HP_EV_BEGIN);
  assert_false(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_ERROR);
  assert_false(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_ERROR);
  assert_int_equal(xr_hp_feed(&p, "HTTP", 4, &ev), 4);
  assert_int_equal(ev, XR_HP_EV_ERROR);

  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nContent-Le"), XR_HP_EV_BEGIN);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_ERROR);

  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab"), XR_HP_EV_HEAD);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_ERROR);

  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "2\r\nab\r\n0\r\n"),
                   XR_HP_EV_HEAD);
  assert_int_equal(p.body_bytes, 2);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_ERROR);

  /* A close-delimited body ends with the stream, even an empty one. */
  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(feed_all(&p, "HTTP/1.0 200 OK\r\n\r\n"), XR_HP_EV_HEAD);
  assert_true(p.until_close);
  assert_true(p.u.resp.close);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_DONE);
  assert_int_equal(p.body_bytes, 0);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_NONE);

  /* A 0-byte DONE still pending (the caller broke the loop early). */
  xr_hp_init(&p, XR_HP_RESPONSE);
  {
    static const char r[] = "HTTP/1.1 204 No Content\r\n\r\n";
    assert_int_equal(xr_hp_feed(&p, r, 1, &ev), 1);
    assert_int_equal(xr_hp_feed(&p, r + 1, sizeof(r) - 2, &ev), sizeof(r) - 2);
    assert_int_equal(ev, XR_HP_EV_HEAD);
    assert_int_equal(xr_hp_eof(&p), XR_HP_EV_DONE);
    assert_true(xr_hp_idle(&p));
  }

  /* Idle after a complete message, then not once a byte is seen. */
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "GET / HTTP/1.1\r\n\r\n"), XR_HP_EV_DONE);
  assert_true(xr_hp_idle(&p));
  assert_int_equal(feed_all(&p, "G"), XR_HP_EV_BEGIN);
  assert_false(xr_hp_idle(&p));
}

/* A caller-reset per response: fields and counters start over at BEGIN. */
static void test_fields_reset(void **state)
{
  struct xr_hp p;
  (void)state;
  xr_hp_init(&p, XR_HP_REQUEST);
  assert_int_equal(feed_all(&p, "GET /one HTTP/1.0\r\nHost: a\r\nUser-Agent: u\r\n"
                                "X-Amzn-Trace-Id: Root=x\r\nContent-Length: 2\r\n\r\nzz"),
                   XR_HP_EV_DONE);
  assert_int_equal(p.body_bytes, 2);
  assert_int_equal(feed_all(&p, "P"), XR_HP_EV_BEGIN);
  assert_int_equal(p.body_bytes, 0);
  assert_string_equal(p.u.req.host, "");
  assert_false(p.u.req.has_trace);
  assert_int_equal(feed_all(&p, "UT /two HTTP/1.1\r\n\r\n"), XR_HP_EV_DONE);
  assert_string_equal(p.u.req.method, "PUT");
  assert_string_equal(p.u.req.target, "/two");
  assert_string_equal(p.u.req.user_agent, "");
  assert_int_equal(p.u.req.version_minor, 1);

  xr_hp_init(&p, XR_HP_RESPONSE);
  assert_int_equal(p.u.resp.content_length, -1);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\n\r\nbody"), XR_HP_EV_HEAD);
  assert_true(p.until_close);
  assert_int_equal(xr_hp_eof(&p), XR_HP_EV_DONE);
  assert_int_equal(feed_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"),
                   XR_HP_EV_HEAD);
  assert_false(p.until_close);
  assert_true(p.u.resp.close);
  assert_int_equal(p.body_bytes, 0);
}

static void test_size(void **state)
{
  (void)state;
  print_message("sizeof(struct xr_hp) = %zu\n", sizeof(struct xr_hp));
  assert_true(sizeof(struct xr_hp) <= 2200);
}

/* ---- robustness ---- */

static const char *const frags[] = {
    "GET ", "POST ", "HEAD ", "PRI ", "/", "/a?b#c ", "*", " ", "  ", "HTTP/1.1", "HTTP/1.0",
    "HTTP/1.", "HTTP/2", "HTTP/1.1 ", "200", "101", "100", "204", "304", " OK", "\r\n", "\n",
    "\r", "\r\n\r\n", "Host: ", "User-Agent: ", "X-Forwarded-For: ", "X-Amzn-Trace-Id: ",
    "Content-Length: ", "Transfer-Encoding: ", "Connection: ", "chunked", "close",
    "keep-alive", "gzip, ", ",", ";", ":", "0", "1", "5", "9", "fff", "ffffffffffffffff",
    "99999999999999999999", "\t", "x", "abc", "\x00", "\xff", "\x16\x03\x01",
    "0\r\n\r\n", "3\r\nabc\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
};

static size_t gen_frags(char *buf, size_t cap)
{
  size_t len = 0, n = rng() % 48, i;
  for (i = 0; i < n; i++) {
    const char *f = frags[rng() % XR_ARRAY_SIZE(frags)];
    size_t fl = f[0] ? strlen(f) : 1; /* "\x00" is one NUL byte */
    if (len + fl > cap)
      break;
    memcpy(buf + len, f, fl);
    len += fl;
  }
  return len;
}

static size_t gen_random(char *buf, size_t cap)
{
  static const char alpha[] = "GETPOSHTP/1.0 \r\n:;,\tabcxyz-_?#*09fF";
  size_t len = rng() % 600, i;
  bool http = rng() % 2;
  if (len > cap)
    len = cap;
  for (i = 0; i < len; i++)
    buf[i] = http ? alpha[rng() % (sizeof(alpha) - 1)] : (char)(rng() & 0xff);
  return len;
}

static size_t mutate(char *buf, size_t len, size_t cap, size_t nmut)
{
  size_t i;
  for (i = 0; i < nmut && len > 0; i++) {
    size_t at = (size_t)(rng() % len), n;
    switch (rng() % 6) {
    case 0: /* flip a byte */
      buf[at] = (char)(rng() & 0xff);
      break;
    case 1: /* insert a byte */
      if (len < cap) {
        memmove(buf + at + 1, buf + at, len - at);
        buf[at] = (char)(rng() & 0xff);
        len++;
      }
      break;
    case 2: /* delete a run */
      n = 1 + (size_t)(rng() % 8);
      if (n > len - at)
        n = len - at;
      memmove(buf + at, buf + at + n, len - at - n);
      len -= n;
      break;
    case 3: /* truncate */
      len = at;
      break;
    case 4: /* duplicate a run */
      n = 1 + (size_t)(rng() % 64);
      if (n > len - at)
        n = len - at;
      if (len + n <= cap) {
        memmove(buf + at + n, buf + at, len - at);
        len += n;
      }
      break;
    default: /* a CRLF or a digit somewhere */
      buf[at] = "\r\n09:, "[rng() % 7];
      break;
    }
  }
  return len;
}

static size_t gen_mutated(char *buf, size_t cap, enum xr_hp_dir *dir)
{
  const struct hp_case *c = &cases[rng() % XR_ARRAY_SIZE(cases)];
  size_t len;
  const char *in = case_input(c, &len);
  if (len > cap / 2)
    len = cap / 2;
  memmove(buf, in, len);
  *dir = c->dir;
  return mutate(buf, len, cap, rng() % 4);
}

#define PICK(a) (a)[rng() % XR_ARRAY_SIZE(a)]

static size_t add(char *buf, size_t at, size_t cap, const char *s)
{
  size_t n = strlen(s);
  if (at + n > cap)
    return at;
  memcpy(buf + at, s, n);
  return at + n;
}

/* Plausible messages (one to four), sometimes slightly broken. */
static size_t gen_messages(char *buf, size_t cap, enum xr_hp_dir dir)
{
  static const char *const methods[] = {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ",
                                        "OPTIONS ", "M-SEARCH ", "CONNECT "};
  static const char *const targets[] = {"/", "/a/b?c=d", "http://h:81/x#f", "*", "/x?",
                                        "h:443", "/%20/~"};
  static const char *const versions[] = {"HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/1.9"};
  static const char *const statuses[] = {"100", "101", "103", "200", "200", "204", "206",
                                         "301", "304", "404", "500", "999"};
  static const char *const headers[] = {
      "Host: example.com", "User-Agent: x/1", "X-Forwarded-For: 1.2.3.4, 5.6.7.8",
      "X-Amzn-Trace-Id: Root=1-abc", "Connection: close", "Connection: keep-alive",
      "Accept: */*", " folded", "Content-Type: text/plain", "X-Empty:", "ETag: \"x\""};
  static const char *const eols[] = {"\r\n", "\r\n", "\r\n", "\n"};
  size_t at = 0, m, nmsg = 1 + rng() % 4;
  for (m = 0; m < nmsg; m++) {
    const char *eol = PICK(eols);
    size_t h, nh = rng() % 6, i;
    char num[32];
    if (dir == XR_HP_REQUEST) {
      at = add(buf, at, cap, PICK(methods));
      at = add(buf, at, cap, PICK(targets));
      at = add(buf, at, cap, " ");
      at = add(buf, at, cap, PICK(versions));
    } else {
      at = add(buf, at, cap, PICK(versions));
      at = add(buf, at, cap, " ");
      at = add(buf, at, cap, PICK(statuses));
      if (rng() & 1)
        at = add(buf, at, cap, " Reason");
    }
    at = add(buf, at, cap, eol);
    for (h = 0; h < nh; h++) {
      at = add(buf, at, cap, PICK(headers));
      at = add(buf, at, cap, eol);
    }
    switch (rng() % 3) {
    case 0: { /* Content-Length */
      size_t n = rng() % 40;
      snprintf(num, sizeof(num), "Content-Length: %zu", n);
      at = add(buf, at, cap, num);
      at = add(buf, at, cap, eol);
      at = add(buf, at, cap, eol);
      for (i = 0; i < n && at < cap; i++)
        buf[at++] = (char)(rng() & 0xff);
      break;
    }
    case 1: { /* chunked */
      size_t nc = rng() % 4, k;
      at = add(buf, at, cap, "Transfer-Encoding: chunked");
      at = add(buf, at, cap, eol);
      at = add(buf, at, cap, eol);
      for (k = 0; k <= nc; k++) {
        size_t n = k == nc ? 0 : 1 + rng() % 20;
        snprintf(num, sizeof(num), "%zx%s", n, (rng() & 3) ? "" : ";e=1");
        at = add(buf, at, cap, num);
        at = add(buf, at, cap, eol);
        for (i = 0; i < n && at < cap; i++)
          buf[at++] = (char)(rng() & 0xff);
        if (n)
          at = add(buf, at, cap, eol);
      }
      if (rng() & 1) {
        at = add(buf, at, cap, "X-Trailer: 1");
        at = add(buf, at, cap, eol);
      }
      at = add(buf, at, cap, eol);
      break;
    }
    default:
      at = add(buf, at, cap, eol);
      break;
    }
  }
  if (rng() % 4 == 0)
    at = mutate(buf, at, cap, 1);
  return at;
}

static void test_random(void **state)
{
  static char buf[INPUT_CAP];
  uint64_t base = 0xF00DF00DULL;
  int iter;
  (void)state;
  memset(g_counts, 0, sizeof(g_counts));
  for (iter = 0; iter < 20000; iter++) {
    uint64_t seed = base + (uint64_t)iter;
    struct run r;
    size_t len, at = 0;
    enum xr_hp_dir dir;
    char reqs[8];
    int k;
    rng_seed(seed);
    snprintf(g_ctx, sizeof(g_ctx), "random input, seed %llu", (unsigned long long)seed);
    dir = (rng() & 1) ? XR_HP_RESPONSE : XR_HP_REQUEST;
    switch (iter % 4) {
    case 0:
      len = gen_random(buf, sizeof(buf));
      break;
    case 1:
      len = gen_frags(buf, sizeof(buf));
      break;
    case 2:
      len = gen_mutated(buf, sizeof(buf), &dir);
      break;
    default:
      len = gen_messages(buf, sizeof(buf), dir);
      break;
    }
    for (k = 0; k < 7; k++)
      reqs[k] = "GGGHC"[rng() % 5];
    reqs[7] = '\0';
    run_init(&r, dir, reqs, NULL);
    while (at < len) {
      size_t n = next_piece(SPLIT_RANDOM, len - at);
      if (!feed(&r, buf + at, n))
        break;
      at += n;
      if (rng() % 16 == 0) {
        /* A sendfile in between: any outcome, but a consistent one. */
        enum xr_hp_event ev = xr_hp_skip(&r.p, rng() % 6);
        check_fields(&r.p, dir);
        if (ev == XR_HP_EV_DONE) {
          HP_CHECK(r.last == XR_HP_EV_HEAD);
          r.last = XR_HP_EV_DONE;
          HP_CHECK(xr_hp_idle(&r.p));
        } else if (ev == XR_HP_EV_ERROR) {
          r.failed = true;
          HP_CHECK(!xr_hp_idle(&r.p));
          break;
        } else {
          HP_CHECK(ev == XR_HP_EV_NONE);
        }
      }
    }
    feed(&r, NULL, 0);
    finish(&r);
  }
  print_message("random: %lu BEGIN, %lu HEAD, %lu DONE, %lu ERROR\n",
                g_counts[XR_HP_EV_BEGIN], g_counts[XR_HP_EV_HEAD], g_counts[XR_HP_EV_DONE],
                g_counts[XR_HP_EV_ERROR]);
  assert_true(g_counts[XR_HP_EV_HEAD] > 2000);
  assert_true(g_counts[XR_HP_EV_DONE] > 2000);
  assert_true(g_counts[XR_HP_EV_ERROR] > 2000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_done_after_head),
      cmocka_unit_test(test_skip),
      cmocka_unit_test(test_eof),
      cmocka_unit_test(test_fields_reset),
      cmocka_unit_test(test_size),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
