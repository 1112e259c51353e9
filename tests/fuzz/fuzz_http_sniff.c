/*
 * Fuzz target: the incremental HTTP/1.x parser of the sockets layer (src/http_sniff.c).
 *
 * Input layout (4-byte prefix, then the stream):
 *   [0] bit 0: direction (0 requests, 1 responses); bit 1: call xr_hp_skip() at the end
 *   [1] low 5 bits: number N of split sizes that follow (0: one byte per call)
 *   [2] the requests the responses answer, 2 bits per response BEGIN (first four):
 *       0/1 other, 2 HEAD, 3 CONNECT; later responses answer "other"
 *   [3] bytes for the final xr_hp_skip()
 *   then N split sizes (one byte each, 0 = an empty feed with a NULL buffer), used in turn
 *   and cyclically, then the bytes observed on the socket.
 *
 * Oracle: the header's promise "any split of the same bytes gives the same events and
 * fields". The stream is fed whole, in the fuzzer's splits and (when short) one byte per
 * call, each run calling xr_hp_feed() exactly as the header prescribes; the transcripts
 * (every event, every field at HEAD, body bytes at DONE, the eof and skip results) must be
 * identical. Every call is also held to the contract: bytes consumed, the BEGIN HEAD DONE
 * grammar, sticky ERROR, NUL-terminated fields, status range, idle state, and the body length
 * of a Content-Length response.
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "http_sniff.h"

#include <string.h>

#define PREFIX 4
#define BYTEWISE_MAX 4096

struct transcript {
  char *buf;
  size_t len, cap;
};

struct run {
  struct xr_hp p;
  enum xr_hp_dir dir;
  uint8_t kinds;
  unsigned nbegin;
  enum xr_hp_event last; /* last event other than NONE */
  bool failed;
  bool req_head; /* the request this response answers, as set at BEGIN */
  struct transcript t;
};

static void tr_put(struct transcript *t, const void *s, size_t n)
{
  if (t->len + n + 1 > t->cap) {
    size_t ncap = t->cap ? t->cap : 1024;
    while (ncap < t->len + n + 1)
      ncap *= 2;
    t->buf = realloc(t->buf, ncap);
    XR_FZ_CHECK(t->buf != NULL);
    t->cap = ncap;
  }
  memcpy(t->buf + t->len, s, n);
  t->len += n;
  t->buf[t->len] = '\0';
}

static void tr_str(struct transcript *t, const char *s)
{
  tr_put(t, s, strlen(s));
}

static void tr_fmt(struct transcript *t, const char *fmt, long long a, long long b)
{
  char tmp[96];
  int n = snprintf(tmp, sizeof(tmp), fmt, a, b);
  XR_FZ_CHECK(n > 0 && (size_t)n < sizeof(tmp));
  tr_put(t, tmp, (size_t)n);
}

static void tr_field(struct transcript *t, const char *name, const char *v, size_t cap)
{
  XR_FZ_CHECK(memchr(v, '\0', cap) != NULL);
  tr_str(t, name);
  tr_str(t, "=[");
  tr_str(t, v);
  tr_str(t, "]");
}

static void record_head(struct run *r)
{
  struct transcript *t = &r->t;
  if (r->dir == XR_HP_REQUEST) {
    const struct xr_hp_request *q = &r->p.u.req;
    size_t i;
    XR_FZ_CHECK(memchr(q->method, '\0', sizeof(q->method)) != NULL);
    XR_FZ_CHECK(q->method[0] != '\0');
    for (i = 0; q->method[i]; i++)
      XR_FZ_CHECK((q->method[i] >= 'A' && q->method[i] <= 'Z') || q->method[i] == '-' ||
                  q->method[i] == '_');
    XR_FZ_CHECK(q->version_minor == 0 || q->version_minor == 1);
    /* The query and fragment are never stored. */
    XR_FZ_CHECK(memchr(q->target, '\0', sizeof(q->target)) != NULL);
    XR_FZ_CHECK(!strchr(q->target, '?') && !strchr(q->target, '#'));
    tr_field(t, "H m", q->method, sizeof(q->method));
    tr_field(t, " t", q->target, sizeof(q->target));
    tr_field(t, " h", q->host, sizeof(q->host));
    tr_field(t, " ua", q->user_agent, sizeof(q->user_agent));
    tr_field(t, " xff", q->xff, sizeof(q->xff));
    tr_field(t, " tr", q->trace, sizeof(q->trace));
    tr_fmt(t, " has_trace=%lld cut=%lld", q->has_trace, q->target_cut);
    tr_fmt(t, " tp=%lld tpdup=%lld", q->has_traceparent, q->traceparent_dup);
    XR_FZ_CHECK(q->has_traceparent || !q->traceparent_dup);
    tr_fmt(t, " v=%lld body_bytes=%lld", q->version_minor, r->p.body_bytes);
  } else {
    const struct xr_hp_response *s = &r->p.u.resp;
    XR_FZ_CHECK(s->status == 101 || (s->status >= 200 && s->status <= 999));
    XR_FZ_CHECK(s->version_minor == 0 || s->version_minor == 1);
    XR_FZ_CHECK(s->content_length >= -1);
    tr_fmt(t, "H %lld v=%lld", s->status, s->version_minor);
    tr_fmt(t, " cl=%lld chunked=%lld", s->content_length, s->chunked);
    tr_fmt(t, " close=%lld lt=%lld", s->close, s->has_lambda_trace);
    if (s->has_lambda_trace)
      tr_field(t, " ltv", s->lambda_trace, sizeof(s->lambda_trace));
  }
  tr_fmt(t, " until=%lld upgrade=%lld;", r->p.until_close, r->p.upgrade);
}

static void on_event(struct run *r, enum xr_hp_event ev)
{
  struct xr_hp *p = &r->p;
  XR_FZ_CHECK(p->body_bytes >= 0);
  switch (ev) {
  case XR_HP_EV_NONE:
    return;
  case XR_HP_EV_BEGIN:
    XR_FZ_CHECK(r->last == XR_HP_EV_DONE);
    XR_FZ_CHECK(!xr_hp_idle(p));
    XR_FZ_CHECK(p->body_bytes == 0);
    if (r->dir == XR_HP_RESPONSE) {
      unsigned k = r->nbegin < 4 ? (r->kinds >> (2 * r->nbegin)) & 3 : 0;
      p->req_head = k == 2;
      p->req_connect = k == 3;
      r->req_head = p->req_head;
    }
    r->nbegin++;
    tr_str(&r->t, "B;");
    break;
  case XR_HP_EV_HEAD:
    XR_FZ_CHECK(r->last == XR_HP_EV_BEGIN);
    XR_FZ_CHECK(!xr_hp_idle(p));
    record_head(r);
    break;
  case XR_HP_EV_DONE:
    XR_FZ_CHECK(r->last == XR_HP_EV_HEAD);
    XR_FZ_CHECK(xr_hp_idle(p) == !p->upgrade);
    if (r->dir == XR_HP_RESPONSE && !p->until_close && !p->upgrade && !p->u.resp.chunked &&
        !r->req_head && p->u.resp.status != 204 && p->u.resp.status != 304 &&
        p->u.resp.content_length >= 0)
      XR_FZ_CHECK(p->body_bytes == p->u.resp.content_length);
    tr_fmt(&r->t, "D%lld%c", p->body_bytes, ';');
    break;
  case XR_HP_EV_ERROR:
    XR_FZ_CHECK(!xr_hp_idle(p));
    r->failed = true;
    tr_str(&r->t, "E;");
    break;
  default:
    XR_FZ_CHECK(!"event out of range");
  }
  r->last = ev;
}

/* The calling contract of xr_hp_feed(), as the header writes it. */
static void feed(struct run *r, const char *buf, size_t len)
{
  enum xr_hp_event ev;
  size_t calls = 0, max_calls = 2 * len + 8;

  if (r->failed) {
    /* Sticky: everything is refused whole. */
    XR_FZ_CHECK(xr_hp_feed(&r->p, buf, len, &ev) == len);
    XR_FZ_CHECK(ev == XR_HP_EV_ERROR);
    return;
  }
  do {
    size_t n = xr_hp_feed(&r->p, buf, len, &ev);
    XR_FZ_CHECK(++calls <= max_calls);
    XR_FZ_CHECK(n <= len);
    if (ev == XR_HP_EV_NONE || ev == XR_HP_EV_ERROR)
      XR_FZ_CHECK(n == len);
    else if (ev == XR_HP_EV_DONE)
      XR_FZ_CHECK(n > 0 || r->last == XR_HP_EV_HEAD);
    else
      XR_FZ_CHECK(n > 0);
    on_event(r, ev);
    if (buf)
      buf += n;
    len -= n;
  } while (ev != XR_HP_EV_NONE && ev != XR_HP_EV_ERROR);
}

static void finish(struct run *r, bool do_skip, unsigned skip_n)
{
  enum xr_hp_event ev;
  bool failed_before;

  if (do_skip) {
    enum xr_hp_event before = r->last;
    bool idle = xr_hp_idle(&r->p);
    failed_before = r->failed;
    ev = xr_hp_skip(&r->p, skip_n);
    XR_FZ_CHECK(ev == XR_HP_EV_NONE || ev == XR_HP_EV_DONE || ev == XR_HP_EV_ERROR);
    if (skip_n == 0 && !failed_before)
      XR_FZ_CHECK(ev == XR_HP_EV_NONE && xr_hp_idle(&r->p) == idle);
    if (failed_before || (idle && skip_n > 0))
      XR_FZ_CHECK(ev == XR_HP_EV_ERROR);
    if (ev == XR_HP_EV_DONE) {
      XR_FZ_CHECK(before == XR_HP_EV_HEAD);
      XR_FZ_CHECK(xr_hp_idle(&r->p));
      r->last = ev;
    }
    if (ev == XR_HP_EV_ERROR) {
      XR_FZ_CHECK(!xr_hp_idle(&r->p));
      r->failed = true;
    }
    tr_fmt(&r->t, "skip%lld:%lld;", skip_n, ev);
  }
  failed_before = r->failed;
  ev = xr_hp_eof(&r->p);
  switch (ev) {
  case XR_HP_EV_NONE:
    XR_FZ_CHECK(!failed_before && r->last == XR_HP_EV_DONE);
    XR_FZ_CHECK(xr_hp_idle(&r->p));
    break;
  case XR_HP_EV_DONE:
    XR_FZ_CHECK(!failed_before && r->last == XR_HP_EV_HEAD);
    XR_FZ_CHECK(xr_hp_idle(&r->p) == !r->p.upgrade);
    break;
  case XR_HP_EV_ERROR:
    XR_FZ_CHECK(!xr_hp_idle(&r->p));
    break;
  default:
    XR_FZ_CHECK(!"eof event out of range");
  }
  tr_fmt(&r->t, "eof:%lld body=%lld", ev, ev == XR_HP_EV_DONE ? r->p.body_bytes : 0);
}

static void run_init(struct run *r, enum xr_hp_dir dir, uint8_t kinds)
{
  memset(r, 0, sizeof(*r));
  xr_hp_init(&r->p, dir);
  XR_FZ_CHECK(xr_hp_idle(&r->p));
  r->dir = dir;
  r->kinds = kinds;
  r->last = XR_HP_EV_DONE;
}

static void compare(const struct run *a, const struct run *b, const char *what)
{
  if (a->t.len == b->t.len && memcmp(a->t.buf, b->t.buf, a->t.len) == 0)
    return;
  fprintf(stderr, "whole: %.3000s\n%s: %.3000s\n", a->t.buf, what, b->t.buf);
  XR_FZ_CHECK(!"the same bytes gave different events or fields in another split");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct run whole, split, bytewise;
  const uint8_t *splits;
  const char *s;
  enum xr_hp_dir dir;
  bool do_skip;
  size_t nsplit, len, at, j, zeros;
  uint8_t kinds, skip_n;

  if (size < PREFIX)
    return 0;
  dir = (data[0] & 1) ? XR_HP_RESPONSE : XR_HP_REQUEST;
  do_skip = (data[0] & 2) != 0;
  nsplit = data[1] & 31;
  kinds = data[2];
  skip_n = data[3];
  if (size < PREFIX + nsplit)
    return 0;
  splits = data + PREFIX;
  s = (const char *)data + PREFIX + nsplit;
  len = size - PREFIX - nsplit;

  run_init(&whole, dir, kinds);
  feed(&whole, s, len);
  finish(&whole, do_skip, skip_n);

  /* The fuzzer's splits; n zero-size feeds in a row force one byte of progress. */
  run_init(&split, dir, kinds);
  for (at = 0, j = 0, zeros = 0; at < len; j++) {
    size_t n = nsplit ? splits[j % nsplit] : 1;
    if (n == 0 && ++zeros > nsplit) {
      n = 1;
      zeros = 0;
    }
    if (n > len - at)
      n = len - at;
    if (n == 0) {
      feed(&split, NULL, 0);
      continue;
    }
    zeros = 0;
    feed(&split, s + at, n);
    at += n;
  }
  finish(&split, do_skip, skip_n);
  compare(&whole, &split, "split");

  if (nsplit && len <= BYTEWISE_MAX) {
    run_init(&bytewise, dir, kinds);
    for (at = 0; at < len; at++)
      feed(&bytewise, s + at, 1);
    finish(&bytewise, do_skip, skip_n);
    compare(&whole, &bytewise, "byte by byte");
  }
  free(whole.t.buf);
  free(split.t.buf);
  free(bytewise.t.buf);
  memset(&whole.t, 0, sizeof(whole.t));
  memset(&split.t, 0, sizeof(split.t));
  memset(&bytewise.t, 0, sizeof(bytewise.t));
  return 0;
}
