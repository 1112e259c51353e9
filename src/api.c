#include "xr_setup.h"

#include "api.h"

#include "clock.h"
#include "emitter.h"
#include "tracer.h"

#define XRAY_AUTO_NO_DLSYM
#include "../include/xray-auto.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* An open subsegment streams its finished children past this many, like
 * a thread segment (tracer.c): bounds a long loop of calls inside one. */
#define XR_API_STREAM_THRESHOLD 30

_Static_assert(XRAY_METADATA_TOTAL_MAX + XRAY_METADATA_VALUE_MAX <= 0xffff,
               "api_meta_bytes (unsigned short) holds the bound");

XR_TLS struct xr_entity *xr_api_top;
XR_TLS unsigned long xr_api_key;
static XR_TLS unsigned xr_api_n;
static atomic_uint xr_api_serials;

unsigned xr_api_depth(void)
{
  return xr_api_n;
}

bool xr_api_key_ok(const char *key)
{
  size_t i;

  if (!key || !key[0])
    return false;
  for (i = 0; key[i]; i++) {
    unsigned char c = (unsigned char)key[i];
    if (i >= XRAY_KEY_MAX ||
        !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_'))
      return false;
  }
  return true;
}

/* 1..max bytes. */
static bool xr_api_len_ok(const char *s, size_t max)
{
  return s && s[0] && strnlen(s, max + 1) <= max;
}

static void xr_api_stream(struct xr_entity *e)
{
  struct xr_entity *list = xr_entity_take_children(e), *c;

  for (c = list; c; c = c->next)
    (void)xr_emit_entity(c, true);
  xr_entity_free(list);
}

/* Ends the innermost open subsegment (now, unless already stamped) and
 * hands it to its parent: the enclosing open one, else the segment of
 * the stack's context (or its own document when that is gone). */
static void xr_api_pop(void)
{
  struct xr_entity *sub = xr_api_top, *parent = sub->next;

  xr_api_top = parent;
  xr_api_n--;
  sub->next = NULL;
  sub->api_serial = 0;
  if (!sub->end_us)
    sub->end_us = xr_now_us();
  if (parent) {
    xr_entity_add_child(parent, sub);
    if (parent->nchildren > XR_API_STREAM_THRESHOLD)
      xr_api_stream(parent);
  } else {
    xr_tracer_api_attach(sub, xr_api_key);
  }
}

static void xr_api_unwind(void)
{
  while (xr_api_top)
    xr_api_pop();
}

/* The calling thread's context; a stack left from another context is
 * ended first (its subsegments go out on their own). */
static int xr_api_context(struct xr_entity **seg, unsigned long *key)
{
  int rc = xr_tracer_api_context(seg, key);

  if (XR_UNLIKELY(xr_api_top != NULL) && (rc < 0 || xr_api_key != *key))
    xr_api_unwind();
  return rc;
}

bool xr_api_adopt(struct xr_entity *owner, unsigned serial, struct xr_entity *sub)
{
  struct xr_entity *e;

  for (e = xr_api_top; e; e = e->next) {
    if (e != owner)
      continue;
    if (e->api_serial != serial)
      return false;
    xr_entity_add_child(e, sub);
    if (e->nchildren > XR_API_STREAM_THRESHOLD)
      xr_api_stream(e);
    return true;
  }
  return false;
}

int xr_api_begin_subsegment(const char *name, const char *ns)
{
  struct xr_entity *seg, *sub;
  unsigned long key;
  const char *nsv;
  unsigned serial;
  int rc;

  if (!name || !name[0])
    return -EINVAL;
  if (!ns || strcmp(ns, "local") == 0)
    nsv = "local";
  else if (strcmp(ns, "remote") == 0)
    nsv = "remote";
  else if (strcmp(ns, "aws") == 0)
    nsv = "aws";
  else
    return -EINVAL;
  if ((rc = xr_api_context(&seg, &key)) < 0)
    return rc;
  if (!seg->sampled)
    return 0;
  if (xr_api_n >= XRAY_DEPTH_MAX)
    return -E2BIG;
  sub = xr_entity_new(false, name);
  if (!sub)
    return -ENOMEM;
  sub->ns = nsv;
  memcpy(sub->trace_id, seg->trace_id, sizeof(sub->trace_id));
  memcpy(sub->parent_id, xr_api_top ? xr_api_top->id : seg->id, sizeof(sub->parent_id));
  do
    serial = atomic_fetch_add_explicit(&xr_api_serials, 1, memory_order_relaxed) + 1;
  while (serial == 0);
  sub->api_serial = serial;
  xr_tracer_thread_hold(); /* freed if the thread exits with it open */
  sub->next = xr_api_top;
  xr_api_top = sub;
  xr_api_key = key;
  xr_api_n++;
  return 0;
}

int xr_api_end_subsegment(void)
{
  struct xr_entity *seg;
  unsigned long key;
  int rc;

  /* Pairs with its begin even when the context changed meanwhile: the
   * subsegment then goes out on its own (xr_api_pop). */
  if (xr_api_top) {
    xr_api_pop();
    return 0;
  }
  if ((rc = xr_tracer_api_context(&seg, &key)) < 0)
    return rc;
  return seg->sampled ? -ENOENT : 0;
}

int xr_api_end_segment(void)
{
  struct xr_entity *seg;
  unsigned long key;

  /* Only a segment the caller may end: an inbound request's is not. The
   * context is looked up only when a subsegment is open (the common
   * segment's end costs one TLS load more). */
  if (xr_api_top && xr_api_context(&seg, &key) == 0 && key != 0 && !seg->inbound)
    xr_api_unwind();
  return xr_thread_segment_end();
}

/* What a recording call changes: the innermost open subsegment, else the
 * segment (segment_only: always the segment). *held: the segment's lock
 * is held (release with xr_api_release). 1: unsampled, record nothing. */
static int xr_api_target(bool segment_only, struct xr_entity **target,
                         struct xr_entity **seg)
{
  unsigned long key;
  int rc = xr_api_context(seg, &key);

  if (rc < 0)
    return rc;
  if (!(*seg)->sampled)
    return 1;
  if (!segment_only && xr_api_top) {
    *target = xr_api_top;
    return 0;
  }
  /* The process segment is every thread's and written at exit. */
  if (key == 0 || !xr_tracer_seg_acquire(*seg))
    return -ENOENT;
  *target = *seg;
  return 0;
}

static void xr_api_release(struct xr_entity *target, struct xr_entity *seg)
{
  if (target == seg)
    xr_tracer_seg_release(seg);
}

/* Sets annotations[key] = item (taken in every case). */
static int xr_api_annotation(const char *key, cJSON *item)
{
  struct xr_entity *e, *seg;
  cJSON *obj;
  int rc;

  if (!item)
    return -ENOMEM;
  if ((rc = xr_api_target(false, &e, &seg)) != 0) {
    cJSON_Delete(item);
    return rc > 0 ? 0 : rc;
  }
  obj = xr_json_slot(&e->annotations);
  if (!obj) {
    rc = -ENOMEM;
  } else if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
    rc = cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item) ? 0 : -ENOMEM;
    item = rc == 0 ? NULL : item;
  } else if (cJSON_GetArraySize(obj) >= XRAY_ANNOTATIONS_MAX) {
    rc = -E2BIG;
  } else {
    rc = cJSON_AddItemToObject(obj, key, item) ? 0 : -ENOMEM;
    item = rc == 0 ? NULL : item;
  }
  xr_api_release(e, seg);
  cJSON_Delete(item);
  return rc;
}

int xr_api_annotation_string(const char *key, const char *value)
{
  if (!xr_api_key_ok(key) || !value || strnlen(value, XRAY_ANNOTATION_VALUE_MAX + 1) >
                                           XRAY_ANNOTATION_VALUE_MAX)
    return -EINVAL;
  return xr_api_annotation(key, cJSON_CreateString(value));
}

int xr_api_annotation_number(const char *key, double value)
{
  if (!xr_api_key_ok(key) || !isfinite(value))
    return -EINVAL;
  return xr_api_annotation(key, cJSON_CreateNumber(value));
}

int xr_api_annotation_bool(const char *key, bool value)
{
  if (!xr_api_key_ok(key))
    return -EINVAL;
  return xr_api_annotation(key, cJSON_CreateBool(value));
}

int xr_api_metadata(const char *ns, const char *key, const char *json)
{
  struct xr_entity *e, *seg;
  cJSON *value, *space;
  size_t len;
  int rc;

  if (!ns)
    ns = "default";
  if (!xr_api_len_ok(ns, XRAY_KEY_MAX) || strncmp(ns, "AWS.", 4) == 0 ||
      !xr_api_len_ok(key, XRAY_KEY_MAX) || !json)
    return -EINVAL;
  len = strnlen(json, XRAY_METADATA_VALUE_MAX + 1);
  if (len > XRAY_METADATA_VALUE_MAX)
    return -E2BIG;
  /* Parsed whatever the sampling decision: a program's results do not
   * depend on it. cJSON bounds nesting (CJSON_NESTING_LIMIT). */
  value = cJSON_ParseWithLengthOpts(json, len + 1, NULL, true);
  if (!value)
    return -EINVAL;
  if ((rc = xr_api_target(false, &e, &seg)) != 0) {
    cJSON_Delete(value);
    return rc > 0 ? 0 : rc;
  }
  if (e->api_meta_bytes + len > XRAY_METADATA_TOTAL_MAX) {
    rc = -E2BIG;
  } else if (!(space = xr_json_child(xr_json_slot(&e->metadata), ns))) {
    rc = -ENOMEM;
  } else if (cJSON_GetObjectItemCaseSensitive(space, key)) {
    rc = cJSON_ReplaceItemInObjectCaseSensitive(space, key, value) ? 0 : -ENOMEM;
  } else {
    rc = cJSON_AddItemToObject(space, key, value) ? 0 : -ENOMEM;
  }
  if (rc == 0) {
    value = NULL;
    e->api_meta_bytes = (unsigned short)(e->api_meta_bytes + len);
  }
  xr_api_release(e, seg);
  cJSON_Delete(value);
  return rc;
}

int xr_api_set_user(const char *user)
{
  struct xr_entity *e, *seg;
  char *copy;
  int rc;

  if (!xr_api_len_ok(user, XRAY_USER_MAX))
    return -EINVAL;
  if ((rc = xr_api_target(true, &e, &seg)) != 0)
    return rc > 0 ? 0 : rc;
  copy = strdup(user);
  if (copy) {
    free(e->user);
    e->user = copy;
  }
  xr_api_release(e, seg);
  return copy ? 0 : -ENOMEM;
}

int xr_api_add_error(const char *type, const char *message, unsigned flags)
{
  unsigned bits = 0;
  struct xr_entity *e, *seg;
  char cut[XRAY_ERROR_MESSAGE_MAX + 1];
  size_t n;
  int rc;

  if (flags & ~(XRAY_ERROR | XRAY_THROTTLE | XRAY_FAULT | XRAY_REMOTE))
    return -EINVAL;
  if (type && !xr_api_len_ok(type, XRAY_ERROR_TYPE_MAX))
    return -EINVAL;
  bits |= flags & XRAY_ERROR ? XR_FLAG_ERROR : 0;
  bits |= flags & XRAY_THROTTLE ? XR_FLAG_THROTTLE : 0;
  bits |= flags & XRAY_FAULT ? XR_FLAG_FAULT : 0;
  if (!bits)
    bits = XR_FLAG_FAULT;
  if (message && (n = strnlen(message, XRAY_ERROR_MESSAGE_MAX + 1)) > XRAY_ERROR_MESSAGE_MAX) {
    /* Cut on a character boundary: back over continuation bytes. */
    n = XRAY_ERROR_MESSAGE_MAX;
    while (n > 0 && ((unsigned char)message[n] & 0xc0) == 0x80)
      n--;
    memcpy(cut, message, n);
    cut[n] = '\0';
    message = cut;
  }
  if ((rc = xr_api_target(false, &e, &seg)) != 0)
    return rc > 0 ? 0 : rc;
  rc = xr_entity_add_error(e, type, message, bits, (flags & XRAY_REMOTE) != 0,
                           XRAY_ERRORS_MAX);
  xr_api_release(e, seg);
  return rc;
}

void xr_api_thread_exit(void)
{
  xr_api_fork_child();
}

void xr_api_fork_child(void)
{
  /* next links the stack: one call frees every open subsegment. */
  xr_entity_free(xr_api_top);
  xr_api_top = NULL;
  xr_api_n = 0;
}
