#include "xr_setup.h"

#include "sql_call.h"

#include "stack.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define XR_SQL_URL_MAX 512

void xr_db_set(char *field, const char *value)
{
  snprintf(field, XR_DB_FIELD_MAX, "%s", value ? value : "");
}

void xr_db_set_host(struct xr_db_info *db, const char *host)
{
  if (!host || !*host || host[0] == '/' || host[0] == '@')
    host = "localhost";
  xr_db_set(db->host, host);
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

int xr_sql_begin_processed(struct xr_entity *sub, const struct xr_db_info *db,
                           enum xr_sql_op op, bool prepared, const char *processed)
{
  char name[2 * XR_DB_FIELD_MAX + 2];
  char url[XR_SQL_URL_MAX];
  struct xr_sql q;

  if (db->database[0])
    snprintf(name, sizeof(name), "%s@%s", db->database, db->host);
  else
    snprintf(name, sizeof(name), "%s", db->host);
  xr_entity_set_name(sub, name);
  sub->ns = "remote";
  xr_db_url(db, url, sizeof(url));
  memset(&q, 0, sizeof(q));
  q.url = url;
  q.database_type = xr_db_type(db);
  q.database_version = db->server_version;
  q.driver_version = db->driver;
  q.user = db->user;
  q.prepared = prepared;
  q.sanitized_query = processed;
  q.operation = xr_op_names[op];
  return xr_entity_set_sql(sub, &q);
}

int xr_sql_begin(struct xr_entity *sub, const struct xr_db_info *db,
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
