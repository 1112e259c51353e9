#include "xr_setup.h"

#include "net_conn.h"

#include "clock.h"
#include "log.h"
#include "entity.h"
#include "http_call.h"
#include "lambda.h"
#include "net_fail.h"
#include "net_names.h"
#include "url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XR_NET_URL_MAX (8 + XR_HP_HOST_MAX + XR_HP_TARGET_MAX)

/* ---- addresses ----------------------------------------------------- */

/* Decimal digits of v (no leading zeros) at p; returns the end. */
static char *xr_put_dec(char *p, unsigned v)
{
  char d[10];
  int n = 0;

  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    *p++ = d[--n];
  return p;
}

static char *xr_put_ipv4(char *p, const unsigned char b[4])
{
  int i;

  for (i = 0; i < 4; i++) {
    unsigned v = b[i];

    if (i)
      *p++ = '.';
    if (v >= 100) {
      *p++ = (char)('0' + v / 100);
      v %= 100;
      *p++ = (char)('0' + v / 10);
    } else if (v >= 10) {
      *p++ = (char)('0' + v / 10);
    }
    *p++ = (char)('0' + v % 10);
  }
  return p;
}

#ifdef __GLIBC__
/* glibc's inet_ntop6 (RFC 5952 style, BIND's algorithm), byte for byte:
 * lower-case hex without leading zeros; the longest run of two or more zero
 * groups, the first of equals, becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d
 * end in dotted quad. */
static char *xr_put_ipv6(char *p, const unsigned char b[16])
{
  static const char hex[] = "0123456789abcdef";
  unsigned w[8];
  int i, base = -1, len = 0, cur = -1, curlen = 0;

  for (i = 0; i < 8; i++)
    w[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
  for (i = 0; i <= 8; i++) {
    if (i < 8 && w[i] == 0) {
      if (cur < 0)
        cur = i, curlen = 0;
      curlen++;
    } else if (cur >= 0) {
      if (base < 0 || curlen > len)
        base = cur, len = curlen;
      cur = -1;
    }
  }
  if (len < 2)
    base = -1;
  for (i = 0; i < 8; i++) {
    int sh;

    if (base >= 0 && i >= base && i < base + len) {
      if (i == base)
        *p++ = ':';
      continue;
    }
    if (i)
      *p++ = ':';
    if (i == 6 && base == 0 && (len == 6 || (len == 5 && w[5] == 0xffff)))
      return xr_put_ipv4(p, b + 12);
    for (sh = 12; sh > 0 && !(w[i] >> sh); sh -= 4)
      ;
    for (; sh >= 0; sh -= 4)
      *p++ = hex[(w[i] >> sh) & 0xf];
  }
  if (base >= 0 && base + len == 8)
    *p++ = ':';
  return p;
}
#endif

/* By hand rather than inet_ntop, whose sprintf was a tenth of a traced
 * request's instructions (issue 7); the same text as glibc's inet_ntop
 * (musl's differs for some IPv6 forms: it is used there). */
void xr_sockaddr_text(const struct sockaddr *sa, char addr[XR_ADDR_MAX],
                      uint16_t *port)
{
  addr[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    *xr_put_ipv4(addr, (const unsigned char *)&in->sin_addr) = '\0';
    *port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
#ifdef __GLIBC__
    *xr_put_ipv6(addr, in6->sin6_addr.s6_addr) = '\0';
#else
    (void)inet_ntop(AF_INET6, &in6->sin6_addr, addr, XR_ADDR_MAX);
#endif
    *port = ntohs(in6->sin6_port);
  }
}

void xr_conn_client_init(struct xr_conn *c, const struct sockaddr *sa,
                         bool connecting, int64_t connect_us)
{
  struct xr_name_hit hit;

  c->role = XR_CONN_CLIENT;
  c->connecting = connecting;
  c->connect_us = connect_us;
  xr_sockaddr_text(sa, c->addr, &c->port);
  (void)xr_names_find(sa, c->name, sizeof(c->name), &hit);
  c->list_id = hit.list_id;
  c->list_index = hit.index;
  c->list_count = hit.count;
  xr_hp_init_zeroed(&c->out, XR_HP_REQUEST);
  xr_hp_init_zeroed(&c->in, XR_HP_RESPONSE);
}

void xr_conn_runtime_init(struct xr_conn *c, const struct sockaddr *sa)
{
  c->role = XR_CONN_RUNTIME;
  xr_sockaddr_text(sa, c->addr, &c->port);
  xr_hp_init_zeroed(&c->out, XR_HP_REQUEST);
  xr_hp_init_zeroed(&c->in, XR_HP_RESPONSE);
}

void xr_conn_server_init(struct xr_conn *c, const struct sockaddr *sa)
{
  c->role = XR_CONN_SERVER;
  xr_sockaddr_text(sa, c->addr, &c->port);
  xr_hp_init_zeroed(&c->in, XR_HP_REQUEST);
  xr_hp_init_zeroed(&c->out, XR_HP_RESPONSE);
}

/* Appends s to url (cap bytes) at *at, cut (and NUL-terminated) when it
 * does not fit: snprintf's result, without its cost (issue 7). */
static void xr_url_put(char *url, size_t cap, size_t *at, const char *s)
{
  size_t n = strlen(s);

  if (*at + 1 >= cap)
    return;
  if (n > cap - 1 - *at)
    n = cap - 1 - *at;
  memcpy(url + *at, s, n);
  *at += n;
  url[*at] = '\0';
}

/* "http://" + host (bracketed when IPv6) + ":port" unless 80 + the target
 * when it is a path, else "/". */
static void xr_addr_url(const char *host, uint16_t port, const char *target,
                        char *url, size_t cap)
{
  bool v6 = strchr(host, ':') != NULL;
  char portbuf[8] = "";
  size_t at = 0;

  if (port != 80) {
    portbuf[0] = ':';
    *xr_put_dec(portbuf + 1, port) = '\0';
  }
  url[0] = '\0';
  xr_url_put(url, cap, &at, "http://");
  if (v6)
    xr_url_put(url, cap, &at, "[");
  xr_url_put(url, cap, &at, host);
  if (v6)
    xr_url_put(url, cap, &at, "]");
  xr_url_put(url, cap, &at, portbuf);
  xr_url_put(url, cap, &at, target[0] == '/' ? target : "/");
}

/* "http://" + authority + path, the authority being the Host header, else
 * the name or address (bracketed IPv6) with a port other than 80. */
static void xr_request_url(const struct xr_conn *c, const struct xr_hp_request *r,
                           const char *fallback_host, uint16_t port, char *url,
                           size_t cap)
{
  size_t at = 0;

  url[0] = '\0';
  if (strncmp(r->target, "http://", 7) == 0 || strncmp(r->target, "https://", 8) == 0) {
    xr_url_put(url, cap, &at, r->target);
  } else if (r->host[0]) {
    xr_url_put(url, cap, &at, "http://");
    xr_url_put(url, cap, &at, r->host);
    xr_url_put(url, cap, &at, r->target[0] == '/' ? r->target : "/");
  } else {
    xr_addr_url(fallback_host, port, r->target, url, cap);
  }
  (void)c;
}

/* ---- the exchange queue -------------------------------------------- */

static atomic_ullong xr_overflow_count;

unsigned long long xr_conn_overflows(void)
{
  return atomic_load(&xr_overflow_count);
}

/* Not HTTP, or no longer followable: end what is open, ignore the rest. */
static void xr_go_passive(struct xr_conn *c);

/* Queues a request: a traced exchange, or NULL when it only joins the
 * untraced overflow (or the connection turned passive). */
static struct xr_exchange *xr_push(struct xr_conn *c, const char *method)
{
  bool head = strcmp(method, "HEAD") == 0, connect = strcmp(method, "CONNECT") == 0;
  struct xr_exchange *x;

  if (!c->novf && c->nq < XR_CONN_PIPELINE) {
    x = &c->q[c->nq++];
    memset(x, 0, sizeof(*x));
    x->is_head = head;
    x->is_connect = connect;
    return x;
  }
  if (c->novf == XR_CONN_OVERFLOW) {
    xr_go_passive(c);
    return NULL;
  }
  if (atomic_fetch_add(&xr_overflow_count, 1) == 0)
    xr_info("more than %d HTTP requests in flight on one connection: the "
            "others are not traced (counted)", XR_CONN_PIPELINE);
  c->ovf_head |= (uint64_t)head << c->novf;
  c->ovf_connect |= (uint64_t)connect << c->novf;
  c->novf++;
  return NULL;
}

/* The oldest request in flight (what the response being read answers):
 * false when there is none. */
static bool xr_front(const struct xr_conn *c, bool *head, bool *connect)
{
  if (c->nq) {
    *head = c->q[0].is_head;
    *connect = c->q[0].is_connect;
    return true;
  }
  *head = c->ovf_head & 1;
  *connect = c->ovf_connect & 1;
  return c->novf > 0;
}

static bool xr_front_answered(const struct xr_conn *c)
{
  return c->nq ? c->q[0].got_head : c->novf && c->ovf_got_head;
}

static void xr_front_got_head(struct xr_conn *c)
{
  if (c->nq)
    c->q[0].got_head = true;
  else if (c->novf)
    c->ovf_got_head = true;
}

static void xr_pop_overflow(struct xr_conn *c)
{
  c->ovf_head >>= 1;
  c->ovf_connect >>= 1;
  c->novf--;
  c->ovf_got_head = false;
}

static void xr_pop(struct xr_conn *c)
{
  memmove(&c->q[0], &c->q[1], sizeof(c->q[0]) * (c->nq - 1));
  c->nq--;
}

/* Response fields of the message in progress on p, when its head was
 * seen for q[0]. complete: the body was delimited. */
static void xr_response_of(const struct xr_hp *p, bool complete, long *status,
                           long long *length)
{
  *status = p->u.resp.status;
  if (p->u.resp.content_length >= 0)
    *length = p->u.resp.content_length;
  else
    *length = complete ? p->body_bytes : -1;
}

/* Ends the oldest exchange. resp: the parser holding its response (NULL:
 * none seen); fault: exception type or NULL. */
static void xr_end_oldest(struct xr_conn *c, const struct xr_hp *resp, bool complete,
                          const char *fault, const char *message, bool remote)
{
  struct xr_exchange *x = &c->q[0];
  struct xr_entity *e = c->role == XR_CONN_CLIENT ? x->span.sub : x->seg;

  if (e) {
    if (resp && x->got_head) {
      xr_response_of(resp, complete, &e->http.status, &e->http.content_length);
      xr_entity_apply_status(e, e->http.status);
    }
    /* Out of memory: the document goes without its cause. */
    if (fault && xr_entity_add_exception(e, fault, message, remote) < 0)
      e->flags |= XR_FLAG_FAULT;
  }
  if (c->role == XR_CONN_CLIENT)
    xr_span_end(&x->span);
  else if (x->seg)
    xr_inbound_end(x->seg);
  xr_pop(c);
}

/* Ends the oldest request in flight, traced or not. */
static void xr_end_front(struct xr_conn *c, const struct xr_hp *resp, bool complete,
                         const char *fault, const char *message, bool remote)
{
  if (c->nq)
    xr_end_oldest(c, resp, complete, fault, message, remote);
  else if (c->novf)
    xr_pop_overflow(c);
}

/* Ends everything in flight: the oldest with its response as far as it
 * was seen, the others with no response at all. fault applies to each,
 * but to an answered one only when cut_short (the stream broke in its
 * body, rather than the program letting go of it). */
static void xr_end_all(struct xr_conn *c, const char *fault, const char *message,
                       bool remote, bool cut_short)
{
  struct xr_hp *resp = c->role == XR_CONN_CLIENT ? &c->in : &c->out;

  while (c->nq) {
    bool answered = c->q[0].got_head;
    xr_end_oldest(c, resp, false, answered && !cut_short ? NULL : fault, message,
                  remote);
  }
  c->novf = 0;
  c->ovf_head = c->ovf_connect = 0;
  c->ovf_got_head = false;
}

static void xr_go_passive(struct xr_conn *c)
{
  c->passive = true;
  xr_end_all(c, NULL, NULL, false, false);
}

/* ---- client side ----------------------------------------------------- */

static void xr_client_request(struct xr_conn *c)
{
  const struct xr_hp_request *r = &c->out.u.req;
  struct xr_exchange *x;
  char url[XR_NET_URL_MAX];
  struct xr_http_call call;

  /* Keep-alive after a response the program did not read to its end: its
   * rest, if it ever comes, belongs to no request. */
  while (xr_front_answered(c)) {
    xr_end_front(c, &c->in, false, NULL, NULL, false);
    c->in_orphan = !xr_hp_idle(&c->in);
  }
  if (!(x = xr_push(c, r->method)))
    return;
  if (xr_span_begin(&x->span) < 0 || !x->span.sub)
    return; /* untraced, but still paired with its response */
  xr_request_url(c, r, c->name[0] ? c->name : c->addr, c->port, url, sizeof(url));
  memset(&call, 0, sizeof(call));
  call.method = r->method;
  call.url = url;
  call.content_length = -1;
  if (xr_http_record(x->span.sub, &call) < 0) {
    xr_span_discard(&x->span);
    return;
  }
  /* The name the program resolved wins over the Host header. */
  if (c->name[0])
    xr_entity_set_name(x->span.sub, c->name);
  else if (!r->host[0])
    xr_entity_set_name(x->span.sub, c->addr);
  x->span.sub->start_us = c->begin_us;
}

/* ---- server side ----------------------------------------------------- */

/* What a local sampling rule matches of an inbound request, as the SDKs'
 * middlewares give it: the Host header as received (port included), else
 * the authority of an absolute-form target; the method; the path without
 * the query (an absolute-form target's path; none for "*" or a CONNECT
 * authority: absent matches any pattern). host holds XR_HP_HOST_MAX. */
static void xr_sample_req_of(const struct xr_hp_request *r, struct xr_sample_req *q,
                             char *host)
{
  const char *t = r->target, *auth, *slash;
  size_t n;

  q->method = r->method;
  q->host = r->host;
  q->service = NULL; /* the tracer's: the segment's name */
  q->service_type = NULL;
  q->path = t[0] == '/' ? t : NULL;
  auth = strncmp(t, "http://", 7) == 0 ? t + 7 : strncmp(t, "https://", 8) == 0 ? t + 8 : NULL;
  if (!auth)
    return;
  slash = strchr(auth, '/');
  q->path = slash ? slash : "/";
  if (!r->host[0]) {
    n = slash ? (size_t)(slash - auth) : strlen(auth);
    if (n >= XR_HP_HOST_MAX)
      n = XR_HP_HOST_MAX - 1;
    memcpy(host, auth, n);
    host[n] = '\0';
    q->host = host;
  }
}

/* An inbound request's url as recorded. The Host header and an absolute-form
 * target are the client's bytes and may carry userinfo ("u:pw@host"), so the
 * url goes through the cleaning a client call's gets (src/url.c: no userinfo,
 * query or fragment); when they are not host[:port] at all, the local
 * address stands in for them. */
static void xr_server_url(const struct xr_conn *c, const struct xr_hp_request *r,
                          char *url, size_t cap)
{
  char raw[XR_NET_URL_MAX], local[XR_ADDR_MAX] = "";
  uint16_t local_port = 80;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  struct xr_url u;

  if (r->host[0] || strncmp(r->target, "http://", 7) == 0 ||
      strncmp(r->target, "https://", 8) == 0) {
    xr_request_url(c, r, "", 0, raw, sizeof(raw));
    if (xr_url_parse(raw, &u) == 0 && xr_url_clean(&u, url, cap) >= 0)
      return;
  }
  if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
    xr_sockaddr_text((struct sockaddr *)&ss, local, &local_port);
  xr_addr_url(local[0] ? local : "localhost", local_port, r->target, url, cap);
}

/* The first X-Forwarded-For entry stands for the client only when it is an
 * IP address: anything else is arbitrary client bytes (garbage, a token),
 * which are not recorded; the peer address is then the client. */
static bool xr_xff_usable(const char *xff)
{
  unsigned char a[sizeof(struct in6_addr)];

  return xff[0] && (inet_pton(AF_INET, xff, a) == 1 || inet_pton(AF_INET6, xff, a) == 1);
}

/* The trace header an inbound request joins: its X-Amzn-Trace-Id when it
 * has one (valid or not: it wins), else, with XRAY_AUTO_PROPAGATE naming
 * w3c, its traceparent in X-Ray terms (written to buf); NULL otherwise,
 * and for an invalid traceparent (W3C: several of them are invalid too):
 * a new trace, sampled by the rules. */
static const char *xr_inbound_trace(const struct xr_hp_request *r, char *buf,
                                    size_t cap, size_t *len)
{
  struct xr_trace_header h;
  int n;

  if (r->has_trace) {
    *len = strlen(r->trace);
    return r->trace;
  }
  if (XR_LIKELY(!r->has_traceparent) || r->traceparent_dup ||
      !(xr_tracer_config()->propagate & XR_PROP_W3C) ||
      xr_traceparent_parse(r->trace, strnlen(r->trace, sizeof(r->trace)), &h) < 0 ||
      (n = xr_trace_header_format(&h, buf, cap)) < 0)
    return NULL;
  *len = (size_t)n;
  return buf;
}

static void xr_server_request(struct xr_conn *c)
{
  const struct xr_hp_request *r = &c->in.u.req;
  struct xr_exchange *x;
  struct xr_entity *seg;
  char url[XR_NET_URL_MAX];
  size_t i;
  struct xr_sample_req q;
  char q_host[XR_HP_HOST_MAX];
  char th_buf[XR_HEADER_MAX];
  const char *th;
  size_t th_len = 0;

  if (!(x = xr_push(c, r->method)))
    return;
  xr_sample_req_of(r, &q, q_host);
  th = xr_inbound_trace(r, th_buf, sizeof(th_buf), &th_len);
  seg = xr_inbound_begin_req(th, th ? th_len : 0, c->begin_us, c, &q);
  if (!seg)
    return;
  x->seg = seg;
  xr_server_url(c, r, url, sizeof(url));
  seg->http.has_request = true;
  for (i = 0; r->method[i] && i + 1 < sizeof(seg->http.method); i++)
    seg->http.method[i] = r->method[i];
  seg->http.url = strndup(url, sizeof(url));
  if (r->user_agent[0])
    seg->http.user_agent = strndup(r->user_agent, sizeof(r->user_agent));
  if (xr_xff_usable(r->xff)) {
    seg->http.client_ip = strndup(r->xff, sizeof(r->xff));
    seg->http.x_forwarded_for = true;
  } else if (c->addr[0]) {
    seg->http.client_ip = strndup(c->addr, sizeof(c->addr));
  }
}



/* ---- the Lambda Runtime API ----------------------------------------- */

/* Asking for the next invocation, or answering the current one, ends the
 * current one's context; the answer to NEXT starts the next. */
/* What the runtime sends. */
static void xr_runtime_out(struct xr_conn *c, enum xr_hp_event ev)
{
  const struct xr_hp_request *r = &c->out.u.req;

  if (ev == XR_HP_EV_ERROR)
    c->passive = true;
  else if (ev == XR_HP_EV_HEAD &&
           xr_lambda_classify(r->method, r->target) != XR_LAMBDA_OTHER)
    xr_lambda_end();
}

/* What the Runtime API answers. */
static void xr_runtime_in(struct xr_conn *c, enum xr_hp_event ev)
{
  struct xr_hp *p = &c->in;

  if (ev == XR_HP_EV_ERROR)
    c->passive = true;
  else if (ev == XR_HP_EV_BEGIN)
    p->req_head = p->req_connect = false;
  else if (ev == XR_HP_EV_HEAD && p->u.resp.status == 200 && p->u.resp.has_lambda_trace)
    xr_lambda_next(p->u.resp.lambda_trace, strlen(p->u.resp.lambda_trace));
}

/* ---- parser events ----------------------------------------------------- */

/* The request stream: the program's on the client side, its peer's on the
 * server side. */
static void xr_request_event(struct xr_conn *c, enum xr_hp_event ev)
{
  switch (ev) {
  case XR_HP_EV_BEGIN:
    c->begin_us = xr_now_us();
    break;
  case XR_HP_EV_HEAD:
    if (c->role == XR_CONN_CLIENT)
      xr_client_request(c);
    else
      xr_server_request(c);
    break;
  case XR_HP_EV_ERROR:
    xr_go_passive(c);
    break;
  default:
    break;
  }
}

/* The response stream. A response to nothing we saw (a 408 or 400 for
 * bytes not taken as a request, say) ends the following. */
static void xr_response_event(struct xr_conn *c, enum xr_hp_event ev)
{
  struct xr_hp *p = c->role == XR_CONN_CLIENT ? &c->in : &c->out;

  switch (ev) {
  case XR_HP_EV_BEGIN:
    if (!xr_front(c, &p->req_head, &p->req_connect))
      xr_go_passive(c);
    break;
  case XR_HP_EV_HEAD:
    xr_front_got_head(c);
    break;
  case XR_HP_EV_DONE:
    if (c->in_orphan)
      c->in_orphan = false;
    else
      xr_end_front(c, p, true, NULL, NULL, false);
    if (p->upgrade)
      xr_go_passive(c);
    break;
  case XR_HP_EV_ERROR:
    xr_go_passive(c);
    break;
  default:
    break;
  }
}

/* ---- feeding --------------------------------------------------------- */

typedef void (*xr_on_event)(struct xr_conn *c, enum xr_hp_event ev);

static void xr_feed(struct xr_conn *c, struct xr_hp *p, xr_on_event on,
                    const struct iovec *iov, int iovcnt, size_t n)
{
  int i;

  for (i = 0; i < iovcnt && n && !c->passive; i++) {
    const char *buf = iov[i].iov_base;
    size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
    enum xr_hp_event ev;

    n -= len;
    /* Until the parser has used every byte and has nothing waiting (a
     * bodiless message's DONE comes from a 0-byte call after its HEAD). */
    do {
      size_t k = xr_hp_feed(p, buf, len, &ev);
      buf += k;
      len -= k;
      if (ev != XR_HP_EV_NONE)
        on(c, ev);
    } while (ev != XR_HP_EV_NONE && ev != XR_HP_EV_ERROR && !c->passive);
  }
}

static void xr_connected(struct xr_conn *c)
{
  c->connecting = false;
}

/* The handler of what the program sends (out) or receives. */
static xr_on_event xr_handler(const struct xr_conn *c, bool out)
{
  switch (c->role) {
  case XR_CONN_SERVER:
    return out ? xr_response_event : xr_request_event;
  case XR_CONN_RUNTIME:
    return out ? xr_runtime_out : xr_runtime_in;
  default:
    return out ? xr_request_event : xr_response_event;
  }
}

void xr_conn_sent(struct xr_conn *c, const struct iovec *iov, int iovcnt, size_t n)
{
  xr_connected(c);
  xr_feed(c, &c->out, xr_handler(c, true), iov, iovcnt, n);
}

void xr_conn_received(struct xr_conn *c, const struct iovec *iov, int iovcnt,
                      size_t n)
{
  xr_connected(c);
  xr_feed(c, &c->in, xr_handler(c, false), iov, iovcnt, n);
}

void xr_conn_sent_opaque(struct xr_conn *c, size_t n)
{
  enum xr_hp_event ev = xr_hp_skip(&c->out, n);

  if (ev != XR_HP_EV_NONE)
    xr_handler(c, true)(c, ev);
}

static void xr_connect_failed(struct xr_conn *c, int err)
{
  struct xr_connect_failure f;

  memset(&f, 0, sizeof(f));
  f.name = c->name;
  f.addr = c->addr;
  f.port = c->port;
  f.err = err;
  f.start_us = c->connect_us;
  f.hit.list_id = c->list_id;
  f.hit.index = c->list_index;
  f.hit.count = c->list_count;
  c->connecting = false;
  c->passive = true;
  xr_net_connect_failed(&f);
}

void xr_conn_eof(struct xr_conn *c)
{
  if (c->role == XR_CONN_RUNTIME) {
    c->passive = true;
    return;
  }
  if (c->role == XR_CONN_SERVER) {
    /* The client closed its side; the response may still be written. */
    return;
  }
  xr_connected(c);
  if (xr_hp_eof(&c->in) == XR_HP_EV_DONE && !c->in_orphan)
    xr_end_front(c, &c->in, true, NULL, NULL, false);
  xr_end_all(c, "ConnectionClosed",
             "the server closed the connection before the response was complete",
             true, true);
  c->passive = true;
}

void xr_conn_error(struct xr_conn *c, int err)
{
  char buf[24];

  if (c->role == XR_CONN_RUNTIME) {
    c->passive = true; /* the Runtime API is never traced, failures included */
    return;
  }
  if (c->connecting) {
    xr_connect_failed(c, err);
    return;
  }
  xr_end_all(c, xr_errno_name(err, buf, sizeof(buf)), xr_errno_text(err), true, true);
  c->passive = true;
}

void xr_conn_so_error(struct xr_conn *c, int err)
{
  if (!c->connecting)
    return;
  if (c->role == XR_CONN_RUNTIME) {
    c->connecting = false;
    c->passive = err != 0;
    return;
  }
  if (err == 0)
    xr_connected(c);
  else
    xr_connect_failed(c, err);
}

void xr_conn_finish(struct xr_conn *c)
{
  if (c->role == XR_CONN_RUNTIME || (c->passive && !c->nq))
    return;
  if (c->role == XR_CONN_CLIENT) {
    /* The program stopped reading: what it saw is the response. */
    if (xr_front_answered(c) && !c->in_orphan)
      xr_end_front(c, &c->in, xr_hp_eof(&c->in) == XR_HP_EV_DONE, NULL, NULL, false);
    xr_end_all(c, "NoResponse",
               "the program closed the connection before a response arrived", false,
               false);
  } else {
    if (xr_front_answered(c))
      xr_end_front(c, &c->out, xr_hp_eof(&c->out) == XR_HP_EV_DONE, NULL, NULL, false);
    xr_end_all(c, "ConnectionClosed",
               "the connection closed before a response was sent", false, false);
  }
  c->passive = true;
}

void xr_conn_fork_child(struct xr_conn *c)
{
  unsigned i;

  /* An idle connection stays followed: the child of a forking server
   * serves it (process per connection). */
  if (!c->nq)
    return;
  for (i = 0; i < c->nq; i++) {
    if (c->role == XR_CONN_CLIENT)
      xr_span_discard(&c->q[i].span);
    else if (c->q[i].seg)
      xr_inbound_drop(c->q[i].seg);
  }
  c->nq = 0;
  c->novf = 0;
  c->passive = true;
}
