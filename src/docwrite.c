/*
 * The hot path of serialization: an entity written straight into the
 * datagram buffer, byte for byte the document xr_entity_to_json() builds,
 * without building a tree. cJSON prints only the free-form parts, in place.
 * Contract: no allocation, no locks; output is valid JSON (strings escaped,
 * invalid UTF-8 replaced by U+FFFD) or -EMSGSIZE.
 */
#include "xr_setup.h"

#include "entity.h"

#include <errno.h>
#include "utf8.h"

#include <string.h>

struct xr_out {
  char *p;
  size_t len, cap; /* cap: the document's limit; the buffer has
                    * XR_WRITE_SLACK more bytes for cJSON's NUL */
  bool full;
};

static void xr_put(struct xr_out *o, const char *s, size_t n)
{
  if (o->full || n > o->cap - o->len) {
    o->full = true;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

#define XR_PUTS(o, lit) xr_put((o), (lit), sizeof(lit) - 1)

static void xr_put_str(struct xr_out *o, const char *str)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  const unsigned char *run = s;

  XR_PUTS(o, "\"");
  while (*s) {
    unsigned char c = *s;
    char esc[6];
    size_t n;
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      s++;
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
  xr_put(o, (const char *)run, (size_t)(s - run));
  XR_PUTS(o, "\"");
}

static void xr_put_key(struct xr_out *o, const char *key)
{
  XR_PUTS(o, ",\"");
  xr_put(o, key, strlen(key));
  XR_PUTS(o, "\":");
}

static void xr_put_kstr(struct xr_out *o, const char *key, const char *v)
{
  xr_put_key(o, key);
  xr_put_str(o, v);
}

static void xr_put_int(struct xr_out *o, long long v)
{
  char buf[24];
  size_t i = sizeof(buf);
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    buf[--i] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    buf[--i] = '-';
  xr_put(o, buf + i, sizeof(buf) - i);
}

/* Epoch seconds with exactly six decimals. */
static void xr_put_time(struct xr_out *o, const char *key, int64_t us)
{
  char frac[7];
  int64_t f = us % 1000000;
  int i;
  xr_put_key(o, key);
  xr_put_int(o, us / 1000000);
  for (i = 5; i >= 0; i--) {
    frac[1 + i] = (char)('0' + f % 10);
    f /= 10;
  }
  frac[0] = '.';
  xr_put(o, frac, 7);
}

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
    o->full = true;
    return;
  }
  n = strnlen(o->p + o->len, room);
  if (n > o->cap - o->len) {
    o->full = true;
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

/* sql members in a fixed order; a comma before all but the first. */
static void xr_put_sql(struct xr_out *o, const struct xr_sql *q)
{
  const char *const keys[] = {"url", "database_type", "database_version",
                              "driver_version", "user", "preparation",
                              "sanitized_query"};
  const char *const vals[] = {q->url, q->database_type, q->database_version,
                              q->driver_version, q->user,
                              q->prepared ? "statement" : NULL, q->sanitized_query};
  bool first = true;
  size_t i;

  XR_PUTS(o, ",\"sql\":{");
  for (i = 0; i < XR_ARRAY_SIZE(keys); i++) {
    if (!vals[i])
      continue;
    if (first)
      XR_PUTS(o, "\"");
    else
      XR_PUTS(o, ",\"");
    first = false;
    xr_put(o, keys[i], strlen(keys[i]));
    XR_PUTS(o, "\":");
    xr_put_str(o, vals[i]);
  }
  XR_PUTS(o, "}");
}

static void xr_put_segment_aws(struct xr_out *o, const cJSON *aws)
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
  XR_PUTS(o, "\"xray\":{\"sdk\":\"" XR_SDK_NAME "\",\"sdk_version\":\"" XRAY_AUTO_VERSION
             "\",\"auto_instrumentation\":true}}");
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
  xr_put_http(o, &e->http);
  if (e->segment)
    xr_put_segment_aws(o, e->aws);
  else if (e->aws) {
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
