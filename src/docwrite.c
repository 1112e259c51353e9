/*
 * The hot path of serialization: an entity written straight into the
 * datagram buffer, byte for byte the document xr_entity_to_json() builds,
 * without building a tree. cJSON prints only the free-form parts, in place.
 * Contract: no allocation, no locks; output is valid JSON (strings escaped,
 * invalid UTF-8 replaced by U+FFFD) or -EMSGSIZE.
 */
#include "xr_setup.h"

#include "entity.h"
#include "plugins.h"
#include "sampling.h"

#include <errno.h>
#include "utf8.h"

#include <string.h>

struct xr_out {
  char *p;
  size_t len, cap; /* cap: the document's limit; the buffer has
                    * XR_WRITE_SLACK more bytes for cJSON's NUL */
  bool full;
};

/* The last whole seconds this thread wrote, as text: times nearly all fall
 * in the second of the previous one, so their digits are formatted about
 * once a second. Thread-local (initial-exec: one load); the writer never
 * runs in a signal handler, so nothing interrupts an update. */
struct xr_sec_cache {
  uint64_t sec_plus1;  /* seconds + 1; 0: empty */
  unsigned char len;
  char text[24];       /* the digits, the first len bytes; copied whole */
};
static XR_TLS struct xr_sec_cache xr_sec_cache;

/* The document no longer fits: it fails as a whole. cap = len makes
 * every later write of n > 0 bytes fail its one bounds check too, so the
 * writers below need not test full first. */
static void xr_full(struct xr_out *o)
{
  o->full = true;
  o->cap = o->len;
}

static inline void xr_put(struct xr_out *o, const char *s, size_t n)
{
  if (XR_UNLIKELY(n > o->cap - o->len)) {
    xr_full(o);
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

#define XR_PUTS(o, lit) xr_put((o), (lit), sizeof(lit) - 1)

/* Bytes of x that a JSON string cannot carry as they are: below 0x20,
 * '"', '\\', or 0x80 and up (UTF-8, validated byte by byte). Nonzero when
 * x holds at least one; a false positive only sends a chunk down the
 * byte-by-byte path (the classic SWAR "has zero / has less" tests). */
#define XR_ONES 0x0101010101010101ULL
#define XR_HIGHS 0x8080808080808080ULL
static inline uint64_t xr_special8(uint64_t x)
{
  uint64_t q = x ^ (XR_ONES * '"'), b = x ^ (XR_ONES * '\\');
  return (x | ((x - XR_ONES * 0x20) & ~x) | ((q - XR_ONES) & ~q) |
          ((b - XR_ONES) & ~b)) & XR_HIGHS;
}

static inline bool xr_plain_byte(unsigned char c)
{
  return c >= 0x20 && c != '"' && c != '\\' && c < 0x80;
}

/* Length of the leading part of s[0..len) that needs no escaping: 8 bytes
 * at a time; the last 1..7 with one more load of the last 8 (overlapping
 * bytes already known plain) when len >= 8, else byte by byte. */
static inline size_t xr_plain_prefix(const unsigned char *s, size_t len)
{
  size_t i = 0;
  uint64_t x;

  while (len - i >= 8) {
    memcpy(&x, s + i, 8);
    if (xr_special8(x))
      goto bytes;
    i += 8;
  }
  if (i == len)
    return len;
  if (len >= 8) {
    memcpy(&x, s + len - 8, 8);
    if (!xr_special8(x))
      return len;
  }
bytes:
  while (i < len && xr_plain_byte(s[i]))
    i++;
  return i;
}

/* The rest of a string from s, its first byte that may need escaping (all
 * of str before it is plain, written from run = str), and the closing
 * quote. The opening part is written. Byte by byte around each byte that
 * needs escaping, 8 bytes at a time between them. */
static void xr_put_str_slow(struct xr_out *o, const unsigned char *run,
                            const unsigned char *s, const unsigned char *end)
{
  static const char hex[] = "0123456789abcdef";

  while (s < end) {
    unsigned char c = *s;
    char esc[6];
    size_t n;
    if (xr_plain_byte(c)) {
      s += 1 + xr_plain_prefix(s + 1, (size_t)(end - s - 1));
      continue;
    }
    if (c >= 0x80 && (n = xr_utf8_seq(s)) != 0) {
      s += n;
      continue;
    }
    xr_put(o, (const char *)run, (size_t)(s - run));
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      xr_put(o, esc, 2);
    } else if (c < 0x20) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xf];
      xr_put(o, esc, 6);
    } else {
      XR_PUTS(o, "\xef\xbf\xbd"); /* invalid UTF-8 byte */
    }
    run = ++s;
  }
  xr_put(o, (const char *)run, (size_t)(end - run));
  XR_PUTS(o, "\"");
}

/* pre (a literal ending in an opening quote), the string escaped, and its
 * closing quote. Common case (nothing to escape): one bounds check, three
 * copies. Same output as a byte-by-byte scan. */
static inline __attribute__((always_inline)) void
xr_put_qstr(struct xr_out *o, const char *pre, size_t prelen, const char *str)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t len = strlen(str), plain = xr_plain_prefix(s, len);
  char *p;

  if (XR_UNLIKELY(plain != len)) {
    xr_put(o, pre, prelen);
    xr_put_str_slow(o, s, s + plain, s + len);
    return;
  }
  if (XR_UNLIKELY(prelen + len + 1 > o->cap - o->len)) {
    xr_full(o);
    return;
  }
  p = o->p + o->len;
  memcpy(p, pre, prelen);
  memcpy(p + prelen, str, len);
  p[prelen + len] = '"';
  o->len += prelen + len + 1;
}

#define xr_put_str(o, str) xr_put_qstr((o), "\"", 1, (str))

/* ,"key": with the key a string literal (one copy of a constant). */
#define XR_KEY(k) ",\"" k "\":"
#define xr_put_key(o, k) XR_PUTS((o), XR_KEY(k))
#define xr_put_kstr(o, k, v) xr_put_qstr((o), XR_KEY(k) "\"", sizeof(XR_KEY(k)), (v))

static const char xr_digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Decimal digits of u, right-aligned to end (two at a time); returns the
 * first. */
static inline char *xr_fmt_u64(char *end, unsigned long long u)
{
  while (u >= 100) {
    unsigned d = (unsigned)(u % 100) * 2;
    u /= 100;
    end -= 2;
    end[0] = xr_digits2[d];
    end[1] = xr_digits2[d + 1];
  }
  if (u >= 10) {
    end -= 2;
    end[0] = xr_digits2[u * 2];
    end[1] = xr_digits2[u * 2 + 1];
  } else {
    *--end = (char)('0' + u);
  }
  return end;
}

/* Where n more bytes go, or NULL when the document is full or might
 * overflow (the caller then takes the checked path). */
static inline char *xr_room(struct xr_out *o, size_t n)
{
  return o->cap - o->len >= n ? o->p + o->len : NULL;
}

static void xr_put_int(struct xr_out *o, long long v)
{
  char buf[24], *p;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  size_t n = 1;
  unsigned long long t;

  if (v >= 0 && (p = xr_room(o, sizeof(buf)))) {
    /* Formatted in place. */
    for (t = 10; n < 20 && u >= t; t *= 10)
      n++;
    xr_fmt_u64(p + n, u);
    o->len += n;
    return;
  }
  p = xr_fmt_u64(buf + sizeof(buf), u);
  if (v < 0)
    *--p = '-';
  xr_put(o, p, (size_t)(buf + sizeof(buf) - p));
}

/* Epoch seconds with exactly six decimals. */
static void xr_put_time_value(struct xr_out *o, int64_t us)
{
  struct xr_sec_cache *c = &xr_sec_cache;
  char buf[sizeof(c->text) + 7], *p, *dst;
  unsigned f;
  int64_t sec;

  if (XR_UNLIKELY(us < 0)) {
    /* Never produced by the clock; kept as the generic writer printed it. */
    char frac[7];
    int64_t g = us % 1000000;
    int i;
    xr_put_int(o, us / 1000000);
    for (i = 5; i >= 0; i--) {
      frac[1 + i] = (char)('0' + g % 10);
      g /= 10;
    }
    frac[0] = '.';
    xr_put(o, frac, 7);
    return;
  }
  sec = us / 1000000;
  f = (unsigned)(us % 1000000);
  if ((uint64_t)sec + 1 != c->sec_plus1) {
    char tmp[sizeof(c->text)];
    p = xr_fmt_u64(tmp + sizeof(tmp), (unsigned long long)sec);
    c->len = (unsigned char)(tmp + sizeof(tmp) - p);
    memcpy(c->text, p, c->len);
    c->sec_plus1 = (uint64_t)sec + 1;
  }
  /* In place when there is room for the whole cache (a copy of constant
   * size), else through buf. */
  dst = xr_room(o, sizeof(buf));
  p = dst ? dst : buf;
  memcpy(p, c->text, sizeof(c->text));
  p += c->len;
  *p++ = '.';
  memcpy(p, xr_digits2 + (f / 10000) * 2, 2);
  memcpy(p + 2, xr_digits2 + (f / 100 % 100) * 2, 2);
  memcpy(p + 4, xr_digits2 + (f % 100) * 2, 2);
  if (dst)
    o->len += (size_t)c->len + 7;
  else
    xr_put(o, buf, (size_t)c->len + 7);
}

#define xr_put_time(o, k, us)                                                  \
  do {                                                                         \
    xr_put_key((o), k);                                                        \
    xr_put_time_value((o), (us));                                              \
  } while (0)

/* A cJSON value printed in place. */
static void xr_put_cjson(struct xr_out *o, const cJSON *item)
{
  size_t room, n;
  if (o->full)
    return;
  /* cJSON needs its NUL and a few spare bytes (its documentation): those
   * come from the slack past cap, never counted in the document. */
  room = o->cap - o->len + XR_WRITE_SLACK;
  if (room > 0x7fffffff ||
      !cJSON_PrintPreallocated((cJSON *)(uintptr_t)item, o->p + o->len, (int)room, 0)) {
    xr_full(o);
    return;
  }
  n = strnlen(o->p + o->len, room);
  if (n > o->cap - o->len) {
    xr_full(o);
    return;
  }
  /* cJSON copies string bytes as they are; the document must be UTF-8. */
  xr_utf8_scrub(o->p + o->len, n);
  o->len += n;
}

static void xr_put_http(struct xr_out *o, const struct xr_http *h)
{
  bool resp = h->status > 0 || h->content_length >= 0;
  if (!h->has_request && !resp)
    return;
  xr_put_key(o, "http");
  XR_PUTS(o, "{");
  if (h->has_request) {
    XR_PUTS(o, "\"request\":{\"method\":");
    xr_put_str(o, h->method);
    if (h->url)
      xr_put_kstr(o, "url", h->url);
    if (h->user_agent)
      xr_put_kstr(o, "user_agent", h->user_agent);
    if (h->client_ip)
      xr_put_kstr(o, "client_ip", h->client_ip);
    if (h->x_forwarded_for)
      XR_PUTS(o, ",\"x_forwarded_for\":true");
    XR_PUTS(o, "}");
  }
  if (resp) {
    if (h->has_request)
      XR_PUTS(o, ",");
    XR_PUTS(o, "\"response\":{");
    if (h->status > 0) {
      XR_PUTS(o, "\"status\":");
      xr_put_int(o, h->status);
    }
    if (h->content_length >= 0) {
      if (h->status > 0)
        XR_PUTS(o, ",");
      XR_PUTS(o, "\"content_length\":");
      xr_put_int(o, h->content_length);
    }
    XR_PUTS(o, "}");
  }
  XR_PUTS(o, "}");
}

/* sql members in a fixed order, each key as the literal that opens it
 * (comma, key, colon, opening quote); the first member present goes
 * without the comma. */
#define XR_SQL_KEY(k) {",\"" k "\":\"", sizeof(",\"" k "\":\"") - 1}
static const struct {
  const char *pre;
  size_t len;
} xr_sql_keys[] = {
    XR_SQL_KEY("url"),          XR_SQL_KEY("database_type"),
    XR_SQL_KEY("database_version"), XR_SQL_KEY("driver_version"),
    XR_SQL_KEY("user"),         XR_SQL_KEY("preparation"),
    XR_SQL_KEY("sanitized_query"),
};
/* The first XR_SQL_CONN members: the per-connection ones (xr_sql_json). */
#define XR_SQL_CONN 5

/* Members [from, to) of q; first: none written before. Returns first. */
static bool xr_put_sql_members(struct xr_out *o, const struct xr_sql *q,
                               size_t from, size_t to, bool first)
{
  const char *const vals[] = {q->url, q->database_type, q->database_version,
                              q->driver_version, q->user,
                              q->prepared ? "statement" : NULL, q->sanitized_query};
  size_t i;

  _Static_assert(XR_ARRAY_SIZE(vals) == XR_ARRAY_SIZE(xr_sql_keys), "one key a value");
  for (i = from; i < to; i++) {
    if (!vals[i])
      continue;
    xr_put_qstr(o, xr_sql_keys[i].pre + first, xr_sql_keys[i].len - first, vals[i]);
    first = false;
  }
  return first;
}

static void xr_put_sql(struct xr_out *o, const struct xr_sql *q)
{
  bool first = true;

  XR_PUTS(o, ",\"sql\":{");
  if (q->json) {
    /* The same bytes xr_put_sql_members writes for them (xr_sql_json). */
    xr_put(o, q->json, q->json_len);
    first = q->json_len == 0;
  } else {
    first = xr_put_sql_members(o, q, 0, XR_SQL_CONN, first);
  }
  (void)xr_put_sql_members(o, q, XR_SQL_CONN, XR_ARRAY_SIZE(xr_sql_keys), first);
  XR_PUTS(o, "}");
}

int xr_sql_json(const struct xr_sql *q, char *buf, size_t cap)
{
  struct xr_out o = {buf, 0, cap, false};

  (void)xr_put_sql_members(&o, q, 0, XR_SQL_CONN, true);
  return o.full ? -EMSGSIZE : (int)o.len;
}

/* pl: the plugins' members (xr_plugins_doc), or NULL. sampling_rule: the
 * centralized rule that sampled the segment, 0 none. */
static void xr_put_segment_aws(struct xr_out *o, const cJSON *aws,
                               const struct xr_plugins_doc *pl, unsigned sampling_rule)
{
  const cJSON *c;
  xr_put_key(o, "aws");
  XR_PUTS(o, "{");
  for (c = aws ? aws->child : NULL; c; c = c->next) {
    if (!c->string || strcmp(c->string, "xray") == 0)
      continue;
    xr_put_str(o, c->string);
    XR_PUTS(o, ":");
    xr_put_cjson(o, c);
    XR_PUTS(o, ",");
  }
  if (pl)
    xr_put(o, pl->aws, pl->aws_len);
  XR_PUTS(o, "\"xray\":{\"sdk\":\"" XR_SDK_NAME "\",\"sdk_version\":\"" XRAY_AUTO_VERSION
             "\",\"auto_instrumentation\":true");
  if (sampling_rule && xr_sampling_rule_name(sampling_rule))
    xr_put_kstr(o, "sampling_rule_name", xr_sampling_rule_name(sampling_rule));
  XR_PUTS(o, "}}");
}

static void xr_put_entity(struct xr_out *o, const struct xr_entity *e,
                          bool independent, bool with_children)
{
  const struct xr_entity *c;

  XR_PUTS(o, "{\"name\":");
  xr_put_str(o, e->name);
  xr_put_kstr(o, "id", e->id);
  if (e->segment || independent)
    xr_put_kstr(o, "trace_id", e->trace_id);
  if (e->parent_id[0] && (e->segment || independent))
    xr_put_kstr(o, "parent_id", e->parent_id);
  if (!e->segment && independent)
    XR_PUTS(o, ",\"type\":\"subsegment\"");
  xr_put_time(o, "start_time", e->start_us);
  if (e->end_us)
    xr_put_time(o, "end_time", e->end_us);
  else
    XR_PUTS(o, ",\"in_progress\":true");
  if (e->ns)
    xr_put_kstr(o, "namespace", e->ns);
  if (e->user)
    xr_put_kstr(o, "user", e->user);
  xr_put_http(o, &e->http);
  if (e->segment) {
    /* One load: the aws members and the tail of the same publication. */
    const struct xr_plugins_doc *pl = xr_plugins_doc();
    xr_put_segment_aws(o, e->aws, pl, e->sampling_rule);
    if (pl)
      xr_put(o, pl->tail, pl->tail_len); /* origin, service */
  } else if (e->aws) {
    xr_put_key(o, "aws");
    xr_put_cjson(o, e->aws);
  }
  if (e->sql.block)
    xr_put_sql(o, &e->sql);
  if (e->flags & XR_FLAG_ERROR)
    XR_PUTS(o, ",\"error\":true");
  if (e->flags & XR_FLAG_THROTTLE)
    XR_PUTS(o, ",\"throttle\":true");
  if (e->flags & XR_FLAG_FAULT)
    XR_PUTS(o, ",\"fault\":true");
  if (e->cause) {
    xr_put_key(o, "cause");
    xr_put_cjson(o, e->cause);
  }
  if (e->annotations) {
    xr_put_key(o, "annotations");
    xr_put_cjson(o, e->annotations);
  }
  if (e->metadata) {
    xr_put_key(o, "metadata");
    xr_put_cjson(o, e->metadata);
  } else if (e->sql.operation) {
    XR_PUTS(o, ",\"metadata\":{\"xray_auto\":{\"operation\":");
    xr_put_str(o, e->sql.operation);
    XR_PUTS(o, "}}");
  }
  if (with_children && e->children) {
    xr_put_key(o, "subsegments");
    XR_PUTS(o, "[");
    for (c = e->children; c && !o->full; c = c->next) {
      if (c != e->children)
        XR_PUTS(o, ",");
      xr_put_entity(o, c, false, true);
    }
    XR_PUTS(o, "]");
  }
  XR_PUTS(o, "}");
}

int xr_entity_write(const struct xr_entity *e, bool independent,
                    bool with_children, char *buf, size_t cap)
{
  struct xr_out o = {buf, 0, cap, false};
  xr_put_entity(&o, e, independent, with_children);
  return o.full ? -EMSGSIZE : (int)o.len;
}
