/*
 * Segments and subsegments (xray-spec.md 2). Fixed fields live in the
 * struct; the optional objects (http, aws, sql, cause, annotations,
 * metadata) are cJSON trees owned by the entity, so that serialization can
 * reference them without copying.
 * Contract: an entity is owned by one thread at a time; nothing here locks.
 * Allocation happens (malloc through cJSON), so never call these from a
 * signal handler or a vfork child.
 */
#ifndef XR_ENTITY_H
#define XR_ENTITY_H

#include "xr_setup.h"

#include <cjson/cJSON.h>

/* Names up to this many bytes (NUL included) live in the entity. */
#define XR_NAME_INLINE 96

#define XR_FLAG_ERROR 0x1u
#define XR_FLAG_THROTTLE 0x2u
#define XR_FLAG_FAULT 0x4u

/* http.request / http.response, typed: the common case needs no cJSON. */
struct xr_http {
  bool has_request;
  char method[16];
  char *url;             /* owned; scrubbed */
  char *user_agent;      /* owned; segments */
  char *client_ip;       /* owned; segments */
  bool x_forwarded_for;
  long status;           /* 0: no response */
  long long content_length; /* -1: unknown */
};

/* sql, typed like http: one allocation holds every string. */
struct xr_sql {
  char *block;                 /* owned; the strings point into it */
  const char *url, *database_type, *database_version, *driver_version, *user,
      *sanitized_query;        /* NULL: absent */
  bool prepared;               /* "preparation": "statement" */
  const char *operation;       /* static; metadata.xray_auto.operation */
  /* NULL, or url..user as the document writer writes them (xr_sql_json
   * of these same strings, json_len bytes; in block): written as they
   * are instead of escaping five strings per document. Whoever changes
   * one of the five strings clears it (xr_entity_set_sql does). */
  const char *json;
  size_t json_len;
};

struct xr_entity {
  struct xr_entity *next;      /* sibling in the parent's list */
  struct xr_entity *children;  /* finished, embedded subsegments */
  struct xr_entity **tail;
  unsigned nchildren;
  bool segment;
  bool sampled;
  char id[XR_ID_LEN + 1];
  char trace_id[XR_TRACE_ID_LEN + 1];
  char parent_id[XR_ID_LEN + 1]; /* "" when none */
  /* These two fill the padding after the ids: the struct stays within
   * the allocator's per-thread cache with an SQL block (entity.c). */
  uint16_t flags;                /* XR_FLAG_* */
  /* Segments: the centralized sampling rule that sampled it, 0 none
   * (xr_sampling_rule_name; a number, not a pointer). */
  uint16_t sampling_rule;
  /* Sanitized (names.h), at most XR_NAME_MAX_BYTES: name_buf, or a heap
   * copy (owned) when longer, so that the struct stays small enough for
   * the allocator's per-thread cache (glibc's tcache: requests up to 1032
   * bytes). Never NULL; "" until set. */
  char *name;
  const char *ns;                /* static "remote"/"aws"/"local" or NULL */
  int64_t start_us;
  int64_t end_us;                /* 0 while in progress */
  char *header_extra;            /* segments: Lineage etc. to pass on */
  /* Inbound-request segments (tracer.c): shared between the connection
   * that owns them and the thread they are installed on; guarded by the
   * tracer's inbound lock. */
  bool inbound;
  bool closed;                   /* ended: children go out on their own */
  /* The C API: bytes of metadata text recorded (bounded by
   * XR_API_META_TOTAL, which fits; here: fills padding). */
  unsigned short api_meta_bytes;
  unsigned refs;
  struct xr_http http;
  struct xr_sql sql;             /* block NULL: no sql */
  /* Free-form parts; on segments, aws holds members besides aws.xray,
   * which serialization adds. */
  cJSON *aws, *cause, *annotations, *metadata;
  char *user;                    /* owned; segments: "user" (the C API) */
  unsigned room;                 /* bytes of spare (xr_entity_new_room) */
  /* The C API (src/api.c): which open subsegment of a thread this is
   * (0: not one). */
  unsigned api_serial;
  char name_buf[XR_NAME_INLINE]; /* not zeroed past its first byte */
  /* room bytes, never zeroed: sql.block when it fits (one allocation and
   * one free less per statement); sql.block == spare is not freed. */
  char spare[];
};

/* A new entity with a fresh id and start time = now; NULL on ENOMEM.
 * Segments get the aws.xray block naming this library, and in their
 * documents the plugins' fragment (plugins.h: aws members, origin, service). */
struct xr_entity *xr_entity_new(bool segment, const char *name);
/* The same with start time = start_us (a clock reading the caller has). */
struct xr_entity *xr_entity_new_at(bool segment, const char *name, int64_t start_us);
/* A subsegment with room spare bytes after it, for its sql block (SQL
 * spans); start time = now. */
struct xr_entity *xr_entity_new_room(size_t room);
/* Room for a statement's sql block that keeps entity + room within
 * glibc's per-thread cache (requests up to 1032 bytes). */
#define XR_ENTITY_SQL_ROOM 576
void xr_entity_free(struct xr_entity *e); /* children too; NULL ok */
void xr_entity_set_name(struct xr_entity *e, const char *name);
/* 4xx error, 429 throttle+error, 5xx fault (the SDKs' rule). */
void xr_entity_apply_status(struct xr_entity *e, long status);
/* Records an exception: sets fault and a cause object. 0 or -ENOMEM. */
int xr_entity_add_exception(struct xr_entity *e, const char *type,
                            const char *message, bool remote) XR_WUR;
/* The same with the flags to set (XR_FLAG_*) instead of fault; max > 0:
 * -E2BIG, nothing changed, when cause.exceptions already holds max. */
int xr_entity_add_error(struct xr_entity *e, const char *type, const char *message,
                        unsigned flags, bool remote, int max) XR_WUR;
/* Sets e->sql from src's strings (NULL or "": absent), copied into one
 * block; src->block is ignored. The operation goes to
 * metadata.xray_auto.operation: typed while e has no metadata tree, into
 * the tree when it has one (so that the writer never needs to merge).
 * 0 or -ENOMEM. */
int xr_entity_set_sql(struct xr_entity *e, const struct xr_sql *src) XR_WUR;
void xr_entity_add_child(struct xr_entity *parent, struct xr_entity *child);
/* Returns the child list and leaves the parent with none. */
struct xr_entity *xr_entity_take_children(struct xr_entity *parent);
/* The object at *slot, created empty when absent; NULL on ENOMEM. */
cJSON *xr_json_slot(cJSON **slot);
/* obj[key] as an object, created when absent; NULL on ENOMEM. */
cJSON *xr_json_child(cJSON *obj, const char *key);

/*
 * Writes the document for e into buf (no NUL needed, none counted).
 * Returns its length, or -EMSGSIZE when it does not fit in cap. buf must
 * hold cap + XR_WRITE_SLACK bytes (scratch for cJSON's terminator). The
 * hot path: no allocation, no tree.
 */
#define XR_WRITE_SLACK 8
int xr_entity_write(const struct xr_entity *e, bool independent,
                    bool with_children, char *buf, size_t cap) XR_WUR;

/*
 * The members url, database_type, database_version, driver_version and
 * user of q (the present ones, comma-separated, no braces) exactly as
 * xr_entity_write writes them inside "sql":{...}: the pre-escaped
 * fragment struct xr_sql's json holds. Length, or -EMSGSIZE when it does
 * not fit in cap. No allocation.
 */
int xr_sql_json(const struct xr_sql *q, char *buf, size_t cap) XR_WUR;

/*
 * The same document as a cJSON tree (the rare truncation path, tests). independent: a subsegment sent on its own gets type,
 * trace_id and parent_id. with_children: embed the finished children.
 * References e's cJSON objects (no copy): delete the result before e.
 */
cJSON *xr_entity_to_json(const struct xr_entity *e, bool independent,
                         bool with_children);

#endif /* XR_ENTITY_H */
