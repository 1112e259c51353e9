#include "xr_setup.h"

#include "http_sniff.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>

/*
 * One byte at a time through the framing (start line, headers, chunk-size
 * lines, trailers); body octets whose count is known are skipped in bulk.
 * Every line ends in LF, optionally preceded by CR: a CR anywhere in
 * framing must be followed by LF, and the pair then counts as that LF, so
 * that no state needs to know about CR. Work per byte is bounded by the
 * number of known header names. Runs of bytes that change nothing but a
 * field (a header name or value, the target, a line that is skipped) are
 * taken in one pass (xr_hp_run), the way xr_hp_byte would take them one by
 * one (issue 7: the per-byte dispatch was most of a traced request's cost).
 */

enum {
  XR_S_IDLE = 0,     /* between messages (requests: empty lines skipped) */
  XR_S_METHOD,
  XR_S_TARGET,       /* sub: a target byte was seen */
  XR_S_QUERY,        /* after '?' or '#': validated, not stored */
  XR_S_VERSION,      /* sub: bytes of "HTTP/1." matched, 7: digit, 8: SP */
  XR_S_REQ_EOL,
  XR_S_STATUS,       /* sub: status digits seen */
  XR_S_REASON,
  XR_S_HLINE,        /* start of a header line, or of the empty line */
  XR_S_HNAME,
  XR_S_HOWS,         /* OWS before a value */
  XR_S_HVALUE,
  XR_S_FOLD,         /* obs-fold line: ignored */
  XR_S_DONE_PENDING, /* HEAD reported for a message without body */
  XR_S_BODY_CL,
  XR_S_BODY_CLOSE,
  XR_S_CHUNK_SIZE,   /* sub: 0x80 a digit seen, low bits significant ones */
  XR_S_CHUNK_WS,
  XR_S_CHUNK_EXT,
  XR_S_CHUNK_DATA,
  XR_S_CHUNK_END,    /* the CRLF after chunk data */
  XR_S_TRAILER,      /* start of a trailer line, or of the empty line */
  XR_S_TRAILER_LINE,
  XR_S_ERROR
};

/* Headers recorded; bit (id - 1) of name_mask while a name is read. */
enum {
  XR_H_NONE = 0,
  XR_H_HOST,
  XR_H_UA,
  XR_H_XFF,
  XR_H_TRACE,
  XR_H_CL,
  XR_H_TE,
  XR_H_CONN,
  XR_H_LAMBDA_TRACE,
  XR_H_TRACEPARENT
};

static const struct {
  const char *name; /* lower case */
  uint8_t len;
} xr_hp_names[] = {
    {"host", 4},           {"user-agent", 10},     {"x-forwarded-for", 15},
    {"x-amzn-trace-id", 15}, {"content-length", 14}, {"transfer-encoding", 17},
    {"connection", 10},    {"lambda-runtime-trace-id", 23}, {"traceparent", 11},
};
_Static_assert(XR_ARRAY_SIZE(xr_hp_names) <= 16, "name_mask holds a bit per name");

/* Tokens of Transfer-Encoding and Connection lists; bit k: xr_hp_toks[k]. */
static const struct {
  const char *tok;
  uint8_t len;
} xr_hp_toks[] = {{"chunked", 7}, {"close", 5}, {"keep-alive", 10}};
#define XR_TOK_CHUNKED 0x01u
#define XR_TOK_CLOSE 0x02u
#define XR_TOK_KEEP 0x04u

/* flags: per message, cleared at BEGIN (and after an interim response). */
#define XR_F_CR 0x0001u      /* a CR was read: LF must follow */
#define XR_F_CL 0x0002u      /* a Content-Length was accepted */
#define XR_F_TE 0x0004u      /* a Transfer-Encoding header was present */
#define XR_F_CHUNKED 0x0008u /* its last coding so far is chunked */
#define XR_F_CLOSE 0x0010u   /* Connection: close */
#define XR_F_KEEP 0x0020u    /* Connection: keep-alive */
#define XR_F_HOST 0x0040u    /* first Host seen: later ones ignored */
#define XR_F_UA 0x0080u
#define XR_F_XFF 0x0100u
#define XR_F_XFF_END 0x0200u /* the first X-Forwarded-For entry ended */
#define XR_F_CL_WS 0x0400u   /* OWS after the Content-Length digits */

static bool xr_hp_ows(unsigned char c)
{
  return c == ' ' || c == '\t';
}

static bool xr_hp_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static unsigned char xr_hp_lower(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* Method bytes: upper-case letters, '-', '_' (real methods, and what
 * rejects lower-case and binary protocols at their first byte). */
static bool xr_hp_mchar(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

/* RFC 9110 5.6.2 tchar: ALPHA, DIGIT and !#$%&'*+-.^_`|~. A table: it
 * runs for every byte of every header name. */
static bool xr_hp_tchar(unsigned char c)
{
  static const uint8_t tchar[256] = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
      0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20 */
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
      0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50 */
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 0x70 */
      /* 0x80..0xff: none */
  };
  return tchar[c] != 0;
}

static int xr_hp_hex(unsigned char c)
{
  if (xr_hp_digit(c))
    return c - '0';
  c = xr_hp_lower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* body_bytes saturates: skip() takes any 64-bit count. */
static void xr_hp_count(struct xr_hp *p, unsigned long long n)
{
  unsigned long long room = (unsigned long long)(LLONG_MAX - p->body_bytes);
  p->body_bytes = n > room ? LLONG_MAX : p->body_bytes + (long long)n;
}

static enum xr_hp_event xr_hp_fail(struct xr_hp *p)
{
  p->state = XR_S_ERROR;
  return XR_HP_EV_ERROR;
}

static void xr_hp_to_idle(struct xr_hp *p)
{
  p->state = XR_S_IDLE;
  p->flags = 0;
  p->head_bytes = 0;
  p->remaining = 0;
}

/* An upgraded connection (101, CONNECT 2xx) carries no more HTTP. */
static enum xr_hp_event xr_hp_done(struct xr_hp *p)
{
  if (p->upgrade)
    p->state = XR_S_ERROR;
  else
    xr_hp_to_idle(p);
  return XR_HP_EV_DONE;
}

/* Forgets the message head read so far (a new message, or the final
 * response after an interim one). */
static void xr_hp_reset_head(struct xr_hp *p)
{
  p->flags = 0;
  p->cl = 0;
  p->num = 0;
  p->remaining = 0;
  p->value_len = 0;
  p->value_trim = 0;
  if (p->dir == XR_HP_REQUEST) {
    memset(&p->u.req, 0, sizeof(p->u.req));
  } else {
    /* The Lambda header's buffer is only cleared at its first byte: the
     * responses of every other connection never use it. */
    memset(&p->u.resp, 0, offsetof(struct xr_hp_response, lambda_trace));
    p->u.resp.lambda_trace[0] = '\0';
    p->u.resp.content_length = -1;
  }
}

static void xr_hp_begin(struct xr_hp *p)
{
  xr_hp_reset_head(p);
  p->body_bytes = 0;
  p->until_close = false;
  p->upgrade = false;
}

/* The destination of a captured request header, NULL for the others. */
static char *xr_hp_field(struct xr_hp *p, size_t *cap)
{
  switch (p->which) {
  case XR_H_HOST:
    *cap = sizeof(p->u.req.host);
    return p->u.req.host;
  case XR_H_UA:
    *cap = sizeof(p->u.req.user_agent);
    return p->u.req.user_agent;
  case XR_H_XFF:
    *cap = sizeof(p->u.req.xff);
    return p->u.req.xff;
  case XR_H_TRACE:
  case XR_H_TRACEPARENT: /* xr_hp_name_end decides which one it holds */
    *cap = sizeof(p->u.req.trace);
    return p->u.req.trace;
  case XR_H_LAMBDA_TRACE:
    *cap = sizeof(p->u.resp.lambda_trace);
    return p->u.resp.lambda_trace;
  default:
    *cap = 0;
    return NULL;
  }
}

static void xr_hp_tok_reset(struct xr_hp *p)
{
  p->tok_st = 0;
  p->tok_pos = 0;
  p->tok_mask = p->which == XR_H_TE ? XR_TOK_CHUNKED : (XR_TOK_CLOSE | XR_TOK_KEEP);
}

/* End of one list element (at ',' or at the end of the value). Empty
 * elements do not count (RFC 9110 5.6.1). */
static void xr_hp_tok_end(struct xr_hp *p)
{
  if (p->tok_st != 0) {
    unsigned m = 0;
    size_t k;
    for (k = 0; k < XR_ARRAY_SIZE(xr_hp_toks); k++)
      if ((p->tok_mask & (1u << k)) && xr_hp_toks[k].len == p->tok_pos)
        m |= 1u << k;
    if (p->which == XR_H_TE) {
      if (m & XR_TOK_CHUNKED)
        p->flags |= XR_F_CHUNKED;
      else
        p->flags &= (uint16_t)~XR_F_CHUNKED;
    } else {
      if (m & XR_TOK_CLOSE)
        p->flags |= XR_F_CLOSE;
      if (m & XR_TOK_KEEP)
        p->flags |= XR_F_KEEP;
    }
  }
  xr_hp_tok_reset(p);
}

/* Element states: 0 nothing yet, 1 in the token, 2 OWS after it,
 * 3 parameters or junk up to the next ','. Parameters are skipped without
 * regard to quoted strings: no coding in use has any. */
static void xr_hp_tok_byte(struct xr_hp *p, unsigned char c)
{
  size_t k;
  if (c == ',') {
    xr_hp_tok_end(p);
    return;
  }
  switch (p->tok_st) {
  case 0:
    if (xr_hp_ows(c))
      return;
    p->tok_st = 1;
    break;
  case 1:
    break;
  case 2:
    if (xr_hp_ows(c))
      return;
    if (c != ';')
      p->tok_mask = 0; /* "chunked x": not a token */
    p->tok_st = 3;
    return;
  default:
    return;
  }
  if (xr_hp_ows(c)) {
    p->tok_st = 2;
    return;
  }
  if (c == ';') {
    p->tok_st = 3;
    return;
  }
  c = xr_hp_lower(c);
  for (k = 0; k < XR_ARRAY_SIZE(xr_hp_toks); k++)
    if ((p->tok_mask & (1u << k)) &&
        (p->tok_pos >= xr_hp_toks[k].len || (unsigned char)xr_hp_toks[k].tok[p->tok_pos] != c))
      p->tok_mask &= (uint8_t) ~(1u << k);
  if (p->tok_pos < UINT8_MAX)
    p->tok_pos++;
}

/* Only the names still matching are looked at: after the first byte at
 * most two ("content-length"/"connection", the two "x-"). */
static void xr_hp_name_byte(struct xr_hp *p, unsigned char c)
{
  unsigned m = p->name_mask;

  c = xr_hp_lower(c);
  while (m) {
    unsigned k = (unsigned)__builtin_ctz(m);
    m &= m - 1;
    if (p->name_len >= xr_hp_names[k].len ||
        (unsigned char)xr_hp_names[k].name[p->name_len] != c)
      p->name_mask &= (uint16_t) ~(1u << k);
  }
  if (p->name_len < UINT16_MAX)
    p->name_len++;
}

/* xr_hp_name_byte for the n name bytes at s (tchars), name by name: a
 * name still matching stays so when all of them do. The names hold lower-
 * case letters and '-': for a tchar c, c | 0x20 equals such a byte only
 * when xr_hp_lower(c) does (0x0d, the other byte that ORs to '-', is no
 * tchar). */
static void xr_hp_name_bytes(struct xr_hp *p, const unsigned char *s, size_t n)
{
  unsigned m = p->name_mask;
  size_t at = p->name_len, len;

  while (m) {
    unsigned k = (unsigned)__builtin_ctz(m);
    const char *name = xr_hp_names[k].name;
    size_t t;

    m &= m - 1;
    if (at + n > xr_hp_names[k].len) {
      p->name_mask &= (uint16_t) ~(1u << k);
      continue;
    }
    for (t = 0; t < n; t++)
      if ((s[t] | 0x20) != (unsigned char)name[at + t]) {
        p->name_mask &= (uint16_t) ~(1u << k);
        break;
      }
  }
  len = at + n;
  p->name_len = (uint16_t)(len < UINT16_MAX ? len : UINT16_MAX);
}

/* The first byte of a header name (a tchar): the names it may begin, by
 * their first letter (a switch: this runs for every header line). Lists
 * the initial of every name of xr_hp_names. */
static void xr_hp_name_start(struct xr_hp *p, unsigned char c)
{
#define XR_HP_BIT(h) (1u << ((h) - 1))
  switch (xr_hp_lower(c)) {
  case 'h':
    p->name_mask = XR_HP_BIT(XR_H_HOST);
    break;
  case 'u':
    p->name_mask = XR_HP_BIT(XR_H_UA);
    break;
  case 'x':
    p->name_mask = XR_HP_BIT(XR_H_XFF) | XR_HP_BIT(XR_H_TRACE);
    break;
  case 'c':
    p->name_mask = XR_HP_BIT(XR_H_CL) | XR_HP_BIT(XR_H_CONN);
    break;
  case 't':
    p->name_mask = XR_HP_BIT(XR_H_TE) | XR_HP_BIT(XR_H_TRACEPARENT);
    break;
  case 'l':
    p->name_mask = XR_HP_BIT(XR_H_LAMBDA_TRACE);
    break;
  default:
    p->name_mask = 0;
    break;
  }
#undef XR_HP_BIT
  p->name_len = 1;
  p->state = XR_S_HNAME;
}

/* The ':' ended the name: decide what its value is read for. */
static void xr_hp_name_end(struct xr_hp *p)
{
  uint16_t seen = 0;
  unsigned m = p->name_mask;
  p->which = XR_H_NONE;
  while (m) {
    unsigned k = (unsigned)__builtin_ctz(m);
    m &= m - 1;
    if (xr_hp_names[k].len == p->name_len)
      p->which = (uint8_t)(k + 1);
  }
  p->value_len = 0;
  p->value_trim = 0;
  switch (p->which) {
  case XR_H_HOST:
    seen = XR_F_HOST;
    break;
  case XR_H_UA:
    seen = XR_F_UA;
    break;
  case XR_H_XFF:
    seen = XR_F_XFF;
    p->flags &= (uint16_t)~XR_F_XFF_END;
    break;
  case XR_H_TRACE:
  case XR_H_LAMBDA_TRACE: {
    /* X-Amzn-Trace-Id of a request, Lambda-Runtime-Trace-Id of a
     * response: the first one wins. */
    bool req = p->which == XR_H_TRACE;
    bool *has;

    if (p->dir != (req ? XR_HP_REQUEST : XR_HP_RESPONSE)) {
      p->which = XR_H_NONE;
      return;
    }
    has = req ? &p->u.req.has_trace : &p->u.resp.has_lambda_trace;
    if (*has)
      p->which = XR_H_NONE;
    *has = true;
    return;
  }
  case XR_H_TRACEPARENT:
    /* Requests only. The first is kept in trace unless an X-Amzn-Trace-Id
     * came first (one coming later overwrites it); a second one marks the
     * request (W3C: several traceparent headers make it invalid). */
    if (p->dir != XR_HP_REQUEST) {
      p->which = XR_H_NONE;
      return;
    }
    if (p->u.req.has_traceparent)
      p->u.req.traceparent_dup = true;
    if (p->u.req.has_traceparent || p->u.req.has_trace)
      p->which = XR_H_NONE;
    p->u.req.has_traceparent = true;
    return;
  case XR_H_CL:
    p->num = 0;
    p->flags &= (uint16_t)~XR_F_CL_WS;
    return;
  case XR_H_TE:
    p->flags |= XR_F_TE;
    xr_hp_tok_reset(p);
    return;
  case XR_H_CONN:
    xr_hp_tok_reset(p);
    return;
  default:
    return;
  }
  /* Host, User-Agent, X-Forwarded-For: requests only, first one wins. */
  if (p->dir != XR_HP_REQUEST || (p->flags & seen))
    p->which = XR_H_NONE;
  else
    p->flags |= seen;
}

static enum xr_hp_event xr_hp_value_byte(struct xr_hp *p, unsigned char c)
{
  char *dst;
  size_t cap;
  switch (p->which) {
  case XR_H_CL:
    if (xr_hp_digit(c) && !(p->flags & XR_F_CL_WS)) {
      unsigned d = c - '0';
      if (p->num > ((unsigned long long)LLONG_MAX - d) / 10)
        return xr_hp_fail(p);
      p->num = p->num * 10 + d;
      return XR_HP_EV_NONE;
    }
    if (!xr_hp_ows(c)) /* also "5, 5": lists are refused */
      return xr_hp_fail(p);
    p->flags |= XR_F_CL_WS;
    return XR_HP_EV_NONE;
  case XR_H_TE:
  case XR_H_CONN:
    xr_hp_tok_byte(p, c);
    return XR_HP_EV_NONE;
  case XR_H_XFF:
    if (c == ',')
      p->flags |= XR_F_XFF_END;
    if (p->flags & XR_F_XFF_END)
      return XR_HP_EV_NONE;
    break;
  default:
    break;
  }
  dst = xr_hp_field(p, &cap);
  if (!dst)
    return XR_HP_EV_NONE;
  if (p->value_len < cap - 1)
    dst[p->value_len++] = (char)c;
  /* A cut value keeps everything up to the cut: non-OWS follows it. */
  if (!xr_hp_ows(c))
    p->value_trim = p->value_len;
  return XR_HP_EV_NONE;
}

/* End of a header line; empty: nothing but OWS after the ':'. */
static enum xr_hp_event xr_hp_value_end(struct xr_hp *p, bool empty)
{
  char *dst;
  size_t cap;
  switch (p->which) {
  case XR_H_CL:
    if (empty)
      return xr_hp_fail(p);
    if ((p->flags & XR_F_CL) && p->cl != p->num)
      return xr_hp_fail(p);
    p->cl = p->num;
    p->flags |= XR_F_CL;
    break;
  case XR_H_TE:
  case XR_H_CONN:
    xr_hp_tok_end(p);
    break;
  default:
    dst = xr_hp_field(p, &cap);
    if (dst)
      dst[p->value_trim] = '\0';
    break;
  }
  p->which = XR_H_NONE;
  p->state = XR_S_HLINE;
  return XR_HP_EV_NONE;
}

static void xr_hp_chunked(struct xr_hp *p)
{
  p->state = XR_S_CHUNK_SIZE;
  p->sub = 0;
  p->remaining = 0;
  p->head_bytes = 0;
}

/* The empty line ended the head (RFC 9112 6.3 decides the body). */
static enum xr_hp_event xr_hp_head_end(struct xr_hp *p)
{
  bool te = (p->flags & XR_F_TE) != 0;
  bool chunked = te && (p->flags & XR_F_CHUNKED);
  bool cl = (p->flags & XR_F_CL) != 0;
  struct xr_hp_response *r = &p->u.resp;
  int status;

  if (p->dir == XR_HP_REQUEST) {
    if (te && !chunked)
      return xr_hp_fail(p); /* no way to find the end: 6.3 item 4 */
    if (chunked) {
      xr_hp_chunked(p);
    } else if (cl && p->cl > 0) {
      p->remaining = p->cl;
      p->state = XR_S_BODY_CL;
    } else {
      p->state = XR_S_DONE_PENDING;
    }
    return XR_HP_EV_HEAD;
  }

  status = r->status;
  if (status < 200 && status != 101) {
    /* Interim: its head is dropped, the final status line follows. */
    xr_hp_reset_head(p);
    p->state = XR_S_VERSION;
    p->sub = 0;
    p->head_bytes = 0;
    return XR_HP_EV_NONE;
  }
  r->content_length = cl ? (long long)p->cl : -1;
  r->chunked = chunked;
  r->close = (p->flags & XR_F_CLOSE) || (r->version_minor == 0 && !(p->flags & XR_F_KEEP));
  if (status == 101 || (p->req_connect && status >= 200 && status < 300)) {
    p->upgrade = true;
    p->state = XR_S_DONE_PENDING;
  } else if (p->req_head || status == 204 || status == 304) {
    p->state = XR_S_DONE_PENDING;
  } else if (chunked) {
    xr_hp_chunked(p);
  } else if (te) {
    p->until_close = true;
    p->state = XR_S_BODY_CLOSE;
  } else if (cl) {
    p->remaining = p->cl;
    p->state = p->cl > 0 ? XR_S_BODY_CL : XR_S_DONE_PENDING;
  } else {
    p->until_close = true;
    p->state = XR_S_BODY_CLOSE;
  }
  return XR_HP_EV_HEAD;
}

static enum xr_hp_event xr_hp_chunk_line_end(struct xr_hp *p)
{
  if (p->remaining == 0) {
    p->state = XR_S_TRAILER;
    p->head_bytes = 0;
  } else {
    p->state = XR_S_CHUNK_DATA;
  }
  return XR_HP_EV_NONE;
}

/* One framing byte (every state but the bulk body states). */
static enum xr_hp_event xr_hp_byte(struct xr_hp *p, unsigned char c)
{
  static const char xr_hp_http[] = "HTTP/1.";
  int h;

  if (++p->head_bytes > XR_HP_HEAD_MAX)
    return xr_hp_fail(p);
  if (p->flags & XR_F_CR) {
    if (c != '\n')
      return xr_hp_fail(p);
    p->flags &= (uint16_t)~XR_F_CR;
  } else if (c == '\r') {
    if (p->state == XR_S_IDLE && p->dir == XR_HP_RESPONSE)
      return xr_hp_fail(p);
    p->flags |= XR_F_CR;
    return XR_HP_EV_NONE;
  }

  switch (p->state) {
  case XR_S_IDLE:
    if (p->dir == XR_HP_REQUEST) {
      if (c == '\n')
        return XR_HP_EV_NONE; /* RFC 9112 2.2: empty lines before a request */
      if (!xr_hp_mchar(c))
        return xr_hp_fail(p);
      xr_hp_begin(p);
      p->u.req.method[0] = (char)c;
      p->sub = 1;
      p->state = XR_S_METHOD;
      return XR_HP_EV_BEGIN;
    }
    if (c != 'H')
      return xr_hp_fail(p);
    xr_hp_begin(p);
    p->sub = 1;
    p->state = XR_S_VERSION;
    return XR_HP_EV_BEGIN;

  case XR_S_METHOD:
    if (c == ' ') {
      p->sub = 0;
      p->value_len = 0;
      p->state = XR_S_TARGET;
      return XR_HP_EV_NONE;
    }
    if (!xr_hp_mchar(c) || p->sub >= XR_HP_METHOD_MAX - 1)
      return xr_hp_fail(p);
    p->u.req.method[p->sub++] = (char)c;
    return XR_HP_EV_NONE;

  case XR_S_TARGET:
  case XR_S_QUERY:
    if (c == ' ') {
      if (!p->sub)
        return xr_hp_fail(p);
      p->sub = 0;
      p->state = XR_S_VERSION;
      return XR_HP_EV_NONE;
    }
    if (c <= 0x20 || c == 0x7f)
      return xr_hp_fail(p);
    p->sub = 1;
    if (p->state == XR_S_QUERY)
      return XR_HP_EV_NONE;
    if (c == '?' || c == '#') {
      p->state = XR_S_QUERY;
      return XR_HP_EV_NONE;
    }
    if (p->value_len < XR_HP_TARGET_MAX - 1)
      p->u.req.target[p->value_len++] = (char)c;
    else
      p->u.req.target_cut = true;
    return XR_HP_EV_NONE;

  case XR_S_VERSION:
    if (p->sub < sizeof(xr_hp_http) - 1) {
      if (c != (unsigned char)xr_hp_http[p->sub])
        return xr_hp_fail(p);
      p->sub++;
      return XR_HP_EV_NONE;
    }
    if (p->sub == sizeof(xr_hp_http) - 1) {
      /* HTTP/1.2 and up would be 1.x compatible: read as 1.1. */
      if (!xr_hp_digit(c))
        return xr_hp_fail(p);
      if (p->dir == XR_HP_REQUEST) {
        p->u.req.version_minor = c == '0' ? 0 : 1;
        p->state = XR_S_REQ_EOL;
      } else {
        p->u.resp.version_minor = c == '0' ? 0 : 1;
        p->sub++;
      }
      return XR_HP_EV_NONE;
    }
    if (c != ' ')
      return xr_hp_fail(p);
    p->sub = 0;
    p->state = XR_S_STATUS;
    return XR_HP_EV_NONE;

  case XR_S_REQ_EOL:
    if (c != '\n')
      return xr_hp_fail(p);
    p->state = XR_S_HLINE;
    return XR_HP_EV_NONE;

  case XR_S_STATUS:
    if (p->sub < 3) {
      if (!xr_hp_digit(c) || (p->sub == 0 && c == '0'))
        return xr_hp_fail(p);
      p->u.resp.status = p->u.resp.status * 10 + (c - '0');
      p->sub++;
      return XR_HP_EV_NONE;
    }
    if (c == ' ') {
      p->state = XR_S_REASON;
      return XR_HP_EV_NONE;
    }
    if (c != '\n')
      return xr_hp_fail(p);
    p->state = XR_S_HLINE;
    return XR_HP_EV_NONE;

  case XR_S_REASON:
    if (c == '\n')
      p->state = XR_S_HLINE;
    return XR_HP_EV_NONE;

  case XR_S_HLINE:
    if (c == '\n')
      return xr_hp_head_end(p);
    if (xr_hp_ows(c)) {
      p->state = XR_S_FOLD;
      return XR_HP_EV_NONE;
    }
    if (!xr_hp_tchar(c))
      return xr_hp_fail(p);
    xr_hp_name_start(p, c);
    return XR_HP_EV_NONE;

  case XR_S_HNAME:
    if (c == ':') {
      xr_hp_name_end(p);
      p->state = XR_S_HOWS;
      return XR_HP_EV_NONE;
    }
    if (!xr_hp_tchar(c))
      return xr_hp_fail(p); /* no ':' in the line, or SP before it */
    xr_hp_name_byte(p, c);
    return XR_HP_EV_NONE;

  case XR_S_HOWS:
    if (xr_hp_ows(c))
      return XR_HP_EV_NONE;
    if (c == '\n')
      return xr_hp_value_end(p, true);
    p->state = XR_S_HVALUE;
    return xr_hp_value_byte(p, c);

  case XR_S_HVALUE:
    if (c == '\n')
      return xr_hp_value_end(p, false);
    return xr_hp_value_byte(p, c);

  case XR_S_FOLD:
    if (c == '\n')
      p->state = XR_S_HLINE;
    return XR_HP_EV_NONE;

  case XR_S_CHUNK_SIZE:
    h = xr_hp_hex(c);
    if (h >= 0) {
      p->sub |= 0x80;
      if (p->remaining == 0 && h == 0)
        return XR_HP_EV_NONE; /* leading zeros are not counted */
      if ((p->sub & 0x7f) >= 15)
        return xr_hp_fail(p);
      p->remaining = p->remaining * 16 + (unsigned)h;
      p->sub++;
      return XR_HP_EV_NONE;
    }
    if (!(p->sub & 0x80))
      return xr_hp_fail(p);
    /* fall through */
  case XR_S_CHUNK_WS:
    if (xr_hp_ows(c)) {
      p->state = XR_S_CHUNK_WS; /* BWS before ';' (RFC 9112 7.1.1) */
      return XR_HP_EV_NONE;
    }
    if (c == ';') {
      p->state = XR_S_CHUNK_EXT;
      return XR_HP_EV_NONE;
    }
    if (c != '\n')
      return xr_hp_fail(p);
    return xr_hp_chunk_line_end(p);

  case XR_S_CHUNK_EXT:
    if (c == '\n')
      return xr_hp_chunk_line_end(p);
    return XR_HP_EV_NONE;

  case XR_S_CHUNK_END:
    if (c != '\n')
      return xr_hp_fail(p);
    xr_hp_chunked(p);
    return XR_HP_EV_NONE;

  case XR_S_TRAILER:
    if (c == '\n')
      return xr_hp_done(p);
    p->state = XR_S_TRAILER_LINE;
    return XR_HP_EV_NONE;

  case XR_S_TRAILER_LINE:
    if (c == '\n')
      p->state = XR_S_TRAILER;
    return XR_HP_EV_NONE;

  default:
    return xr_hp_fail(p);
  }
}

/* Whether the value of the header being read is only stored (Host,
 * User-Agent, the trace headers) or ignored: then xr_hp_value_byte takes
 * any byte but CR and LF without failing, and xr_hp_value_end never fails.
 * The values read for their meaning (Content-Length, the lists,
 * X-Forwarded-For) take the byte path. */
static bool xr_hp_value_fast(const struct xr_hp *p)
{
  switch (p->which) {
  case XR_H_CL:
  case XR_H_TE:
  case XR_H_CONN:
  case XR_H_XFF:
    return false;
  default:
    return true;
  }
}

/* A fast value's run (xr_hp_value_fast): its bytes up to CR or LF. */
static size_t xr_hp_value_run(struct xr_hp *p, const unsigned char *s, size_t n)
{
  size_t i = 0, cap;
  char *dst = xr_hp_field(p, &cap);

  if (!dst) {
    while (i < n && s[i] != '\r' && s[i] != '\n')
      i++;
    return i;
  }
  for (; i < n && s[i] != '\r' && s[i] != '\n'; i++) {
    if (p->value_len < cap - 1)
      dst[p->value_len++] = (char)s[i];
    if (!xr_hp_ows(s[i]))
      p->value_trim = p->value_len;
  }
  return i;
}

/* The line that s[i] (a CR or LF, no CR pending) ends, as xr_hp_byte
 * would take it: returns the bytes of the line end (CRLF or LF), 0 when
 * they are not all in the n bytes or a CR is not followed by LF (left to
 * xr_hp_byte, which knows what to do then). */
static size_t xr_hp_eol(const unsigned char *s, size_t i, size_t n)
{
  if (s[i] == '\n')
    return 1;
  return s[i] == '\r' && i + 1 < n && s[i + 1] == '\n' ? 2 : 0;
}

/*
 * How many of the n bytes at s xr_hp_byte would take, one after the other,
 * without reporting an event; takes them with the same effect on the
 * parser. Within a head it goes from state to state over the common cases
 * (a header line: name, ':', OWS, value, line end; a reason phrase) and
 * stops before any byte it does not handle exactly as xr_hp_byte does: the
 * empty line, errors, the values read for their meaning (Content-Length,
 * the lists, X-Forwarded-For), a CR whose LF is not in the buffer. So any
 * split of the input gives the same result. The caller has checked that no
 * CR is pending and keeps n within the head budget left (xr_hp_byte counts
 * and refuses the byte past it). 0: nothing taken here.
 */
static size_t xr_hp_run(struct xr_hp *p, const unsigned char *s, size_t n)
{
  static const char xr_hp_http[] = "HTTP/1.";
  size_t i = 0, j, k;

  while (i < n) {
    switch (p->state) {
    case XR_S_HLINE:
      if (!xr_hp_tchar(s[i]))
        return i; /* the empty line, obs-fold, or an error */
      xr_hp_name_start(p, s[i++]);
      break;
    case XR_S_HNAME:
      for (j = i; i < n && xr_hp_tchar(s[i]); i++)
        ;
      if (i > j)
        xr_hp_name_bytes(p, s + j, i - j);
      if (i == n || s[i] != ':')
        return i;
      i++;
      xr_hp_name_end(p);
      p->state = XR_S_HOWS;
      break;
    case XR_S_HOWS:
      while (i < n && xr_hp_ows(s[i]))
        i++;
      if (i == n || s[i] == '\r' || s[i] == '\n' || !xr_hp_value_fast(p))
        return i;
      p->state = XR_S_HVALUE;
      break;
    case XR_S_HVALUE:
      if (!xr_hp_value_fast(p))
        return i;
      i += xr_hp_value_run(p, s + i, n - i);
      if (i == n || !(k = xr_hp_eol(s, i, n)))
        return i;
      i += k;
      (void)xr_hp_value_end(p, false); /* no failure: not Content-Length */
      break;
    case XR_S_REASON:
      while (i < n && s[i] != '\r' && s[i] != '\n')
        i++;
      if (i == n || !(k = xr_hp_eol(s, i, n)))
        return i;
      i += k;
      p->state = XR_S_HLINE;
      break;
    case XR_S_METHOD:
      for (; i < n && xr_hp_mchar(s[i]) && p->sub < XR_HP_METHOD_MAX - 1; i++)
        p->u.req.method[p->sub++] = (char)s[i];
      return i;
    case XR_S_TARGET:
      for (j = i; i < n; i++) {
        unsigned char c = s[i];
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
          break;
        if (p->value_len < XR_HP_TARGET_MAX - 1)
          p->u.req.target[p->value_len++] = (char)c;
        else
          p->u.req.target_cut = true;
      }
      if (i > j)
        p->sub = 1;
      return i;
    case XR_S_QUERY:
      for (j = i; i < n && s[i] > 0x20 && s[i] != 0x7f; i++)
        ;
      if (i > j)
        p->sub = 1;
      return i;
    case XR_S_VERSION:
      while (i < n && p->sub < sizeof(xr_hp_http) - 1 &&
             s[i] == (unsigned char)xr_hp_http[p->sub]) {
        p->sub++;
        i++;
      }
      return i;
    case XR_S_FOLD:
    case XR_S_CHUNK_EXT:
    case XR_S_TRAILER_LINE:
      while (i < n && s[i] != '\r' && s[i] != '\n')
        i++;
      return i;
    default:
      return i;
    }
  }
  return i;
}

void xr_hp_init_zeroed(struct xr_hp *p, enum xr_hp_dir dir)
{
  p->dir = (uint8_t)dir;
  p->state = XR_S_IDLE;
  if (dir == XR_HP_RESPONSE)
    p->u.resp.content_length = -1;
}

void xr_hp_init(struct xr_hp *p, enum xr_hp_dir dir)
{
  memset(p, 0, sizeof(*p));
  xr_hp_init_zeroed(p, dir);
}

size_t xr_hp_feed(struct xr_hp *p, const char *buf, size_t len, enum xr_hp_event *ev)
{
  size_t i = 0;

  if (p->state == XR_S_ERROR) {
    *ev = XR_HP_EV_ERROR;
    return len;
  }
  if (p->state == XR_S_DONE_PENDING) {
    *ev = xr_hp_done(p);
    return 0;
  }
  *ev = XR_HP_EV_NONE;
  while (i < len) {
    enum xr_hp_event e;
    size_t n = len - i;
    switch (p->state) {
    case XR_S_BODY_CL:
      if (n > p->remaining)
        n = (size_t)p->remaining;
      p->remaining -= n;
      xr_hp_count(p, n);
      i += n;
      if (p->remaining == 0) {
        *ev = xr_hp_done(p);
        return i;
      }
      continue;
    case XR_S_BODY_CLOSE:
      xr_hp_count(p, n);
      return len;
    case XR_S_CHUNK_DATA:
      if (n > p->remaining)
        n = (size_t)p->remaining;
      p->remaining -= n;
      xr_hp_count(p, n);
      i += n;
      if (p->remaining == 0) {
        p->state = XR_S_CHUNK_END;
        p->head_bytes = 0;
      }
      continue;
    default:
      break;
    }
    if (!(p->flags & XR_F_CR)) {
      size_t room = p->head_bytes < XR_HP_HEAD_MAX ? XR_HP_HEAD_MAX - p->head_bytes : 0;
      size_t k = xr_hp_run(p, (const unsigned char *)buf + i, n < room ? n : room);

      /* The run stopped at a byte for xr_hp_byte, or at the end. */
      p->head_bytes += (uint32_t)k;
      i += k;
      if (i == len)
        break;
    }
    e = xr_hp_byte(p, (unsigned char)buf[i++]);
    if (e == XR_HP_EV_ERROR) {
      *ev = e;
      return len;
    }
    if (e != XR_HP_EV_NONE) {
      *ev = e;
      return i;
    }
  }
  return len;
}

enum xr_hp_event xr_hp_eof(struct xr_hp *p)
{
  switch (p->state) {
  case XR_S_IDLE:
    xr_hp_to_idle(p);
    return XR_HP_EV_NONE;
  case XR_S_BODY_CLOSE:
  case XR_S_DONE_PENDING:
    return xr_hp_done(p);
  default:
    return xr_hp_fail(p);
  }
}

bool xr_hp_idle(const struct xr_hp *p)
{
  return p->state == XR_S_IDLE;
}

enum xr_hp_event xr_hp_skip(struct xr_hp *p, unsigned long long n)
{
  if (p->state == XR_S_ERROR)
    return XR_HP_EV_ERROR;
  if (n == 0)
    return XR_HP_EV_NONE;
  switch (p->state) {
  case XR_S_BODY_CL:
    if (n > p->remaining)
      return xr_hp_fail(p);
    p->remaining -= n;
    xr_hp_count(p, n);
    return p->remaining == 0 ? xr_hp_done(p) : XR_HP_EV_NONE;
  case XR_S_BODY_CLOSE:
    xr_hp_count(p, n);
    return XR_HP_EV_NONE;
  default:
    return xr_hp_fail(p);
  }
}
