#include "xr_setup.h"

#include "entity.h"
#include "sampling.h"

#include "clock.h"
#include "ids.h"
#include "names.h"
#include "plugins.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

cJSON *xr_json_slot(cJSON **slot)
{
  if (!*slot)
    *slot = cJSON_CreateObject();
  return *slot;
}

cJSON *xr_json_child(cJSON *obj, const char *key)
{
  cJSON *c;
  if (!obj)
    return NULL;
  c = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (c)
    return c;
  return cJSON_AddObjectToObject(obj, key);
}

struct xr_entity *xr_entity_new(bool segment, const char *name)
{
  return xr_entity_new_at(segment, name, xr_now_us());
}

static struct xr_entity *xr_entity_alloc(bool segment, const char *name, int64_t start_us,
                                         size_t room)
{
  /* Not calloc: glibc's calloc bypasses the per-thread cache that makes
   * this allocation a few instructions (and a memset of the whole struct
   * would be turned back into calloc by the compiler). */
  struct xr_entity *e = malloc(sizeof(*e) + room);
  if (!e)
    return NULL;
  memset(e, 0, offsetof(struct xr_entity, name_buf));
  e->name_buf[0] = '\0';
  e->name = e->name_buf;
  e->segment = segment;
  e->sampled = true;
  e->tail = &e->children;
  xr_new_entity_id(e->id);
  e->start_us = start_us;
  e->http.content_length = -1;
  e->room = (unsigned)room;
  if (name)
    xr_entity_set_name(e, name);
  return e;
}

struct xr_entity *xr_entity_new_at(bool segment, const char *name, int64_t start_us)
{
  return xr_entity_alloc(segment, name, start_us, 0);
}

struct xr_entity *xr_entity_new_room(size_t room)
{
  _Static_assert(sizeof(struct xr_entity) + XR_ENTITY_SQL_ROOM <= 1032,
                 "an SQL subsegment stays in the per-thread cache");
  return xr_entity_alloc(false, NULL, xr_now_us(), room);
}

void xr_entity_free(struct xr_entity *e)
{
  while (e) {
    struct xr_entity *next = e->next;
    /* Most parts are absent: tested here, not in a call each. */
    if (e->children)
      xr_entity_free(e->children);
    if (e->http.url)
      free(e->http.url);
    if (e->http.user_agent)
      free(e->http.user_agent);
    if (e->http.client_ip)
      free(e->http.client_ip);
    if (e->aws)
      cJSON_Delete(e->aws);
    if (e->sql.block && e->sql.block != e->spare)
      free(e->sql.block);
    if (e->cause)
      cJSON_Delete(e->cause);
    if (e->annotations)
      cJSON_Delete(e->annotations);
    if (e->metadata)
      cJSON_Delete(e->metadata);
    if (e->header_extra)
      free(e->header_extra);
    if (e->user)
      free(e->user);
    if (e->name != e->name_buf)
      free(e->name);
    free(e);
    e = next;
  }
}

void xr_entity_set_name(struct xr_entity *e, const char *name)
{
  char buf[XR_NAME_MAX_BYTES + 1], *heap = NULL;
  char *old = e->name != e->name_buf ? e->name : NULL;
  size_t n;

  /* Sanitizing only drops bytes: a short name fits in place (in place
   * also when it is e's own). The old heap copy is freed last: name may
   * be it. */
  if (strnlen(name, XR_NAME_INLINE) < XR_NAME_INLINE) {
    n = xr_sanitize_name(name, e->name_buf, sizeof(e->name_buf));
  } else {
    n = xr_sanitize_name(name, buf, sizeof(buf));
    if (n < XR_NAME_INLINE)
      memcpy(e->name_buf, buf, n + 1);
    else if ((heap = malloc(n + 1)) != NULL)
      memcpy(heap, buf, n + 1);
    else /* out of memory: cut to what fits, on a character boundary */
      n = xr_sanitize_name(buf, e->name_buf, sizeof(e->name_buf));
  }
  e->name = heap ? heap : e->name_buf;
  if (old)
    free(old);
  if (n == 0)
    strcpy(e->name_buf, "unknown");
}

void xr_entity_apply_status(struct xr_entity *e, long status)
{
  if (status == 429)
    e->flags |= XR_FLAG_THROTTLE | XR_FLAG_ERROR;
  else if (status >= 400 && status < 500)
    e->flags |= XR_FLAG_ERROR;
  else if (status >= 500 && status < 600)
    e->flags |= XR_FLAG_FAULT;
}

int xr_entity_add_exception(struct xr_entity *e, const char *type,
                            const char *message, bool remote)
{
  return xr_entity_add_error(e, type, message, XR_FLAG_FAULT, remote, 0);
}

int xr_entity_add_error(struct xr_entity *e, const char *type, const char *message,
                        unsigned flags, bool remote, int max)
{
  cJSON *cause, *list, *ex;
  char id[XR_ID_LEN + 1];
  char cwd[512];

  list = e->cause ? cJSON_GetObjectItemCaseSensitive(e->cause, "exceptions") : NULL;
  if (max > 0 && list && cJSON_GetArraySize(list) >= max)
    return -E2BIG;
  e->flags |= flags;
  cause = xr_json_slot(&e->cause);
  if (!cause)
    return -ENOMEM;
  if (!cJSON_GetObjectItemCaseSensitive(cause, "working_directory") &&
      getcwd(cwd, sizeof(cwd)))
    (void)cJSON_AddStringToObject(cause, "working_directory", cwd);
  list = cJSON_GetObjectItemCaseSensitive(cause, "exceptions");
  if (!list)
    list = cJSON_AddArrayToObject(cause, "exceptions");
  ex = cJSON_CreateObject();
  if (!list || !ex) {
    cJSON_Delete(ex);
    return -ENOMEM;
  }
  xr_new_entity_id(id);
  cJSON_AddStringToObject(ex, "id", id);
  if (message)
    cJSON_AddStringToObject(ex, "message", message);
  if (type)
    cJSON_AddStringToObject(ex, "type", type);
  cJSON_AddBoolToObject(ex, "remote", remote);
  cJSON_AddItemToArray(list, ex);
  return 0;
}

int xr_entity_set_sql(struct xr_entity *e, const struct xr_sql *src)
{
  const char *const in[] = {src->url, src->database_type, src->database_version,
                            src->driver_version, src->user, src->sanitized_query};
  const char **out[] = {&e->sql.url, &e->sql.database_type, &e->sql.database_version,
                        &e->sql.driver_version, &e->sql.user, &e->sql.sanitized_query};
  size_t len[XR_ARRAY_SIZE(in)], total = 0, i;
  char *p;

  for (i = 0; i < XR_ARRAY_SIZE(in); i++) {
    len[i] = in[i] ? strlen(in[i]) : 0;
    total += len[i] ? len[i] + 1 : 0;
  }
  p = malloc(total ? total : 1);
  if (!p)
    return -ENOMEM;
  if (e->sql.block != e->spare)
    free(e->sql.block);
  e->sql.block = p;
  for (i = 0; i < XR_ARRAY_SIZE(in); i++) {
    *out[i] = NULL;
    if (!len[i])
      continue;
    memcpy(p, in[i], len[i] + 1);
    *out[i] = p;
    p += len[i] + 1;
  }
  e->sql.prepared = src->prepared;
  e->sql.operation = NULL;
  e->sql.json = NULL; /* the strings changed: escaped again at writing */
  e->sql.json_len = 0;
  if (src->operation && e->metadata) {
    cJSON *ours = xr_json_child(e->metadata, "xray_auto");
    if (!ours || !cJSON_AddStringToObject(ours, "operation", src->operation))
      return -ENOMEM;
  } else {
    e->sql.operation = src->operation;
  }
  return 0;
}

void xr_entity_add_child(struct xr_entity *parent, struct xr_entity *child)
{
  child->next = NULL;
  *parent->tail = child;
  parent->tail = &child->next;
  parent->nchildren++;
}

struct xr_entity *xr_entity_take_children(struct xr_entity *parent)
{
  struct xr_entity *list = parent->children;
  parent->children = NULL;
  parent->tail = &parent->children;
  parent->nchildren = 0;
  return list;
}

/* Seconds with exactly six decimals: cJSON's %.17g would print float noise. */
static bool xr_add_time(cJSON *obj, const char *key, int64_t us)
{
  char buf[32];
  snprintf(buf, sizeof(buf), "%lld.%06lld", (long long)(us / 1000000),
           (long long)(us % 1000000));
  return cJSON_AddRawToObject(obj, key, buf) != NULL;
}

static void xr_add_ref(cJSON *obj, const char *key, cJSON *item)
{
  if (item)
    (void)cJSON_AddItemReferenceToObject(obj, key, item);
}

cJSON *xr_entity_to_json(const struct xr_entity *e, bool independent,
                         bool with_children)
{
  cJSON *o = cJSON_CreateObject();
  const struct xr_entity *c;

  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "name", e->name);
  cJSON_AddStringToObject(o, "id", e->id);
  if (e->segment || independent)
    cJSON_AddStringToObject(o, "trace_id", e->trace_id);
  if (e->parent_id[0] && (e->segment || independent))
    cJSON_AddStringToObject(o, "parent_id", e->parent_id);
  if (!e->segment && independent)
    cJSON_AddStringToObject(o, "type", "subsegment");
  xr_add_time(o, "start_time", e->start_us);
  if (e->end_us)
    xr_add_time(o, "end_time", e->end_us);
  else
    cJSON_AddTrueToObject(o, "in_progress");
  if (e->ns)
    cJSON_AddStringToObject(o, "namespace", e->ns);
  if (e->user)
    cJSON_AddStringToObject(o, "user", e->user);
  if (e->http.has_request || e->http.status > 0 || e->http.content_length >= 0) {
    cJSON *http = cJSON_AddObjectToObject(o, "http");
    if (!http)
      goto fail;
    if (e->http.has_request) {
      cJSON *req = cJSON_AddObjectToObject(http, "request");
      if (!req)
        goto fail;
      cJSON_AddStringToObject(req, "method", e->http.method);
      if (e->http.url)
        cJSON_AddStringToObject(req, "url", e->http.url);
      if (e->http.user_agent)
        cJSON_AddStringToObject(req, "user_agent", e->http.user_agent);
      if (e->http.client_ip)
        cJSON_AddStringToObject(req, "client_ip", e->http.client_ip);
      if (e->http.x_forwarded_for)
        cJSON_AddTrueToObject(req, "x_forwarded_for");
    }
    if (e->http.status > 0 || e->http.content_length >= 0) {
      cJSON *resp = cJSON_AddObjectToObject(http, "response");
      if (!resp)
        goto fail;
      if (e->http.status > 0)
        cJSON_AddNumberToObject(resp, "status", (double)e->http.status);
      if (e->http.content_length >= 0)
        cJSON_AddNumberToObject(resp, "content_length", (double)e->http.content_length);
    }
  }
  if (e->segment) {
    const struct xr_plugins_doc *pl = xr_plugins_doc();
    const cJSON *pm = pl ? cJSON_GetObjectItemCaseSensitive(pl->tree, "aws") : NULL;
    cJSON *aws = e->aws ? cJSON_Duplicate(e->aws, 1) : cJSON_CreateObject();
    cJSON *xray;
    for (pm = pm ? pm->child : NULL; pm && aws; pm = pm->next) {
      cJSON *dup = cJSON_Duplicate(pm, 1);
      if (!dup || !cJSON_AddItemToObject(aws, pm->string, dup)) {
        cJSON_Delete(dup);
        cJSON_Delete(aws);
        goto fail;
      }
    }
    xray = aws ? cJSON_AddObjectToObject(aws, "xray") : NULL;
    if (!xray) {
      cJSON_Delete(aws);
      goto fail;
    }
    cJSON_AddStringToObject(xray, "sdk", XR_SDK_NAME);
    cJSON_AddStringToObject(xray, "sdk_version", XRAY_AUTO_VERSION);
    cJSON_AddTrueToObject(xray, "auto_instrumentation");
    if (e->sampling_rule && xr_sampling_rule_name(e->sampling_rule))
      cJSON_AddStringToObject(xray, "sampling_rule_name",
                              xr_sampling_rule_name(e->sampling_rule));
    cJSON_AddItemToObject(o, "aws", aws);
    /* origin and service, as xr_entity_write puts them. */
    for (pm = pl ? pl->tree->child : NULL; pm; pm = pm->next) {
      cJSON *dup;
      if (strcmp(pm->string, "aws") == 0)
        continue;
      dup = cJSON_Duplicate(pm, 1);
      if (!dup || !cJSON_AddItemToObject(o, pm->string, dup)) {
        cJSON_Delete(dup);
        goto fail;
      }
    }
  } else {
    xr_add_ref(o, "aws", e->aws);
  }
  if (e->sql.block) {
    cJSON *sql = cJSON_AddObjectToObject(o, "sql");
    const char *const keys[] = {"url", "database_type", "database_version",
                                "driver_version", "user"};
    const char *const vals[] = {e->sql.url, e->sql.database_type, e->sql.database_version,
                                e->sql.driver_version, e->sql.user};
    size_t i;
    if (!sql)
      goto fail;
    for (i = 0; i < XR_ARRAY_SIZE(keys); i++)
      if (vals[i])
        cJSON_AddStringToObject(sql, keys[i], vals[i]);
    if (e->sql.prepared)
      cJSON_AddStringToObject(sql, "preparation", "statement");
    if (e->sql.sanitized_query)
      cJSON_AddStringToObject(sql, "sanitized_query", e->sql.sanitized_query);
  }
  if (e->flags & XR_FLAG_ERROR)
    cJSON_AddTrueToObject(o, "error");
  if (e->flags & XR_FLAG_THROTTLE)
    cJSON_AddTrueToObject(o, "throttle");
  if (e->flags & XR_FLAG_FAULT)
    cJSON_AddTrueToObject(o, "fault");
  xr_add_ref(o, "cause", e->cause);
  xr_add_ref(o, "annotations", e->annotations);
  if (e->metadata) {
    xr_add_ref(o, "metadata", e->metadata);
  } else if (e->sql.operation) {
    cJSON *ours = xr_json_child(xr_json_child(o, "metadata"), "xray_auto");
    if (!ours || !cJSON_AddStringToObject(ours, "operation", e->sql.operation))
      goto fail;
  }
  if (with_children && e->children) {
    cJSON *arr = cJSON_AddArrayToObject(o, "subsegments");
    for (c = e->children; c && arr; c = c->next) {
      cJSON *cj = xr_entity_to_json(c, false, true);
      if (!cj || !cJSON_AddItemToArray(arr, cj)) {
        cJSON_Delete(cj);
        goto fail;
      }
    }
  }
  return o;
fail:
  cJSON_Delete(o);
  return NULL;
}
