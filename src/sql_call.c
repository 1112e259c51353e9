#include "xr_setup.h"

#include "sql_call.h"

#include "stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xr_db_set(char *field, const char *value)
{
  snprintf(field, XR_DB_FIELD_MAX, "%s", value ? value : "");
}

void xr_db_set_host(struct xr_db_info *db, const char *host)
{
  if (!host || !*host || host[0] == '/' || host[0] == '@')
    host = "localhost";
  xr_db_set(db->host, host);
  xr_db_changed(db);
}

void xr_db_update(struct xr_db_info *db, char *field, const char *value)
{
  /* A value longer than the field never compares equal to its cut copy:
   * it is copied again each time, which is only slower. */
  if (strcmp(field, value ? value : "") == 0)
    return;
  xr_db_set(field, value);
  xr_db_changed(db);
}

const char *xr_db_type(const struct xr_db_info *db)
{
  if (db->engine == XR_DB_POSTGRES)
    return "PostgreSQL";
  if (!db->server_version[0])
    return NULL; /* never connected: MariaDB and MySQL look alike */
  return strstr(db->server_version, "MariaDB") ? "MariaDB" : "MySQL";
}

/* Percent-encodes what RFC 3986 does not allow in a path segment. */
static size_t xr_put_segment(char *out, size_t cap, size_t at, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  for (; *s && at + 4 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-._~!$&'()*+,;=:@", c)) {
      out[at++] = (char)c;
    } else {
      out[at++] = '%';
      out[at++] = hex[c >> 4];
      out[at++] = hex[c & 15];
    }
  }
  out[at] = '\0';
  return at;
}

/* scheme://host:port/database: never the user's password, never options. */
static void xr_db_url(const struct xr_db_info *db, char *out, size_t cap)
{
  bool v6 = strchr(db->host, ':') != NULL;
  int n = snprintf(out, cap, "%s://%s%s%s", db->engine == XR_DB_POSTGRES ? "postgresql" : "mysql",
                   v6 ? "[" : "", db->host, v6 ? "]" : "");
  size_t at;

  if (n < 0 || (size_t)n >= cap)
    return;
  at = (size_t)n;
  if (db->port) {
    n = snprintf(out + at, cap - at, ":%u", db->port);
    if (n < 0 || (size_t)n >= cap - at)
      return;
    at += (size_t)n;
  }
  if (at + 1 < cap) {
    out[at++] = '/';
    out[at] = '\0';
    (void)xr_put_segment(out, cap, at, db->database);
  }
}

static const char *const xr_op_names[] = {
    [XR_SQL_OP_CONNECT] = "connect",
    [XR_SQL_OP_QUERY] = "query",
    [XR_SQL_OP_PREPARE] = "prepare",
    [XR_SQL_OP_EXECUTE] = "execute",
};

size_t xr_sql_process(const struct xr_db_info *db, const char *q, size_t len,
                      enum xr_sql_mode mode, char *out, size_t cap)
{
  if (!q || cap == 0 || mode == XR_SQL_OFF) {
    if (cap)
      out[0] = '\0';
    return 0;
  }
  if (mode == XR_SQL_RAW)
    return xr_sql_raw(q, len, out, cap);
  return xr_sql_sanitize(q, len, &db->lex, out, cap);
}

static const char *xr_cached(const char *base, unsigned short off)
{
  return off == XR_DB_ABSENT ? NULL : base + off;
}

/* q zeroed, with the connection's constant members from the cache. */
static void xr_db_cache_fields(const struct xr_db_cache *c, struct xr_sql *q)
{
  memset(q, 0, sizeof(*q));
  q->url = xr_cached(c->tmpl, c->off[0]);
  q->database_type = xr_cached(c->tmpl, c->off[1]);
  q->database_version = xr_cached(c->tmpl, c->off[2]);
  q->driver_version = xr_cached(c->tmpl, c->off[3]);
  q->user = xr_cached(c->tmpl, c->off[4]);
}

/* Fills db's cache: what every statement of the connection records the
 * same way until a field changes. The name goes through
 * xr_entity_set_name on sub, the entity's own rule, and is kept as it
 * came out. */
static void xr_db_cache_build(struct xr_db_info *db, struct xr_entity *sub)
{
  struct xr_db_cache *c = &db->cache;
  char name[2 * XR_DB_FIELD_MAX + 2];
  char url[XR_SQL_URL_MAX];
  const char *in[XR_DB_NSTR];
  struct xr_sql q;
  size_t at = 0, i;
  int n;

  _Static_assert(sizeof(c->tmpl) - (XR_SQL_URL_MAX + 4 * XR_DB_FIELD_MAX) >= XR_DB_JSON_MAX &&
                     sizeof(c->tmpl) < XR_DB_ABSENT,
                 "offsets fit an unsigned short, the fragment its room");

  if (db->database[0])
    snprintf(name, sizeof(name), "%s@%s", db->database, db->host);
  else
    snprintf(name, sizeof(name), "%s", db->host);
  xr_entity_set_name(sub, name);
  c->name_len = strlen(sub->name);
  memcpy(c->name, sub->name, c->name_len + 1);

  xr_db_url(db, url, sizeof(url));
  in[0] = url;
  in[1] = xr_db_type(db);
  in[2] = db->server_version;
  in[3] = db->driver;
  in[4] = db->user;
  /* Fits: url < XR_SQL_URL_MAX, the type is a short constant, the other
   * three are fields < XR_DB_FIELD_MAX. */
  for (i = 0; i < XR_DB_NSTR; i++) {
    size_t len = in[i] ? strlen(in[i]) : 0;
    if (!len || at + len + 1 > sizeof(c->tmpl)) {
      c->off[i] = XR_DB_ABSENT;
      continue;
    }
    memcpy(c->tmpl + at, in[i], len + 1);
    c->off[i] = (unsigned short)at;
    at += len + 1;
  }
  /* The same strings escaped once here rather than in every document,
   * in the room left (at least XR_DB_JSON_MAX bytes; escaping can take 6
   * per byte: when it does not fit, each document escapes them). */
  xr_db_cache_fields(c, &q);
  n = xr_sql_json(&q, c->tmpl + at, sizeof(c->tmpl) - at);
  c->json_off = XR_DB_ABSENT;
  c->json_len = 0;
  if (n >= 0) {
    c->json_off = (unsigned short)at;
    c->json_len = (unsigned short)n;
    at += (size_t)n;
  }
  c->len = at;
  c->valid = true;
}

int xr_sql_begin_processed(struct xr_entity *sub, struct xr_db_info *db,
                           enum xr_sql_op op, bool prepared, const char *processed)
{
  const struct xr_db_cache *c = &db->cache;
  size_t qlen = processed ? strlen(processed) : 0;
  struct xr_sql q;
  char *p;

  if (!c->valid)
    xr_db_cache_build(db, sub);
  else if (c->name_len < XR_NAME_INLINE && sub->name == sub->name_buf)
    memcpy(sub->name_buf, c->name, c->name_len + 1);
  else /* longer than the entity holds inline: its own heap copy (the
        * name is sanitized already, and sanitizes to itself) */
    xr_entity_set_name(sub, c->name);
  sub->ns = "remote";
  if (sub->sql.block || sub->metadata) {
    /* Not a fresh subsegment: xr_entity_set_sql knows how to replace a
     * block and merge the operation into a metadata tree. */
    xr_db_cache_fields(c, &q);
    q.prepared = prepared;
    q.sanitized_query = processed;
    q.operation = xr_op_names[op];
    return xr_entity_set_sql(sub, &q);
  }
  /* The block xr_entity_set_sql would build (every present string once,
   * NUL-terminated, the strings pointing into it), from the template. */
  p = c->len + qlen + 1 <= sub->room ? sub->spare : malloc(c->len + qlen + 1);
  if (!p)
    return -ENOMEM;
  memcpy(p, c->tmpl, c->len);
  sub->sql.block = p;
  sub->sql.url = xr_cached(p, c->off[0]);
  sub->sql.database_type = xr_cached(p, c->off[1]);
  sub->sql.database_version = xr_cached(p, c->off[2]);
  sub->sql.driver_version = xr_cached(p, c->off[3]);
  sub->sql.user = xr_cached(p, c->off[4]);
  sub->sql.sanitized_query = NULL;
  if (qlen) {
    memcpy(p + c->len, processed, qlen + 1);
    sub->sql.sanitized_query = p + c->len;
  }
  sub->sql.json = xr_cached(p, c->json_off);
  sub->sql.json_len = c->json_len;
  sub->sql.prepared = prepared;
  sub->sql.operation = xr_op_names[op];
  return 0;
}

int xr_sql_begin(struct xr_entity *sub, struct xr_db_info *db,
                 enum xr_sql_op op, bool prepared, const char *q, size_t len,
                 enum xr_sql_mode mode)
{
  char text[XR_SQL_QUERY_MAX + 1];

  (void)xr_sql_process(db, q, len, mode, text, sizeof(text));
  return xr_sql_begin_processed(sub, db, op, prepared, text);
}

int xr_sql_fail(struct xr_entity *sub, const char *type, const char *message,
                bool remote)
{
  struct xr_frame frames[XR_STACK_FRAMES];
  char scrubbed[1024];
  cJSON *list, *ex;
  int n, omitted = 0;

  if (sub->cause)
    return 0; /* the first failure is the cause; later ones follow from it */
  if (message)
    (void)xr_sql_scrub_message(message, scrubbed, sizeof(scrubbed));
  if (xr_entity_add_exception(sub, type, message && scrubbed[0] ? scrubbed : NULL,
                              remote) < 0)
    return -ENOMEM;
  list = cJSON_GetObjectItemCaseSensitive(sub->cause, "exceptions");
  ex = list ? cJSON_GetArrayItem(list, cJSON_GetArraySize(list) - 1) : NULL;
  if (!ex)
    return -ENOMEM;
  n = xr_stack_capture(frames, XR_STACK_FRAMES, true, &omitted);
  if (n > 0)
    return xr_stack_to_json(ex, frames, n, omitted);
  return 0;
}
