#include "xr_setup.h"

#include "tracer.h"

#include "api.h"
#include "clock.h"
#include "emitter.h"
#include "ids.h"
#include "lambda.h"
#include "log.h"
#include "plugins.h"
#include "sampling.h"
#include "sampling_poller.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Past this many embedded subsegments a thread segment streams them
 * (the Python SDK's threshold), bounding its memory. */
#define XR_STREAM_THRESHOLD 30

static struct xr_config xr_cfg;
static int64_t xr_process_start_us;

static XR_TLS struct xr_entity *xr_tseg;
static XR_TLS unsigned long xr_tseg_serial;
static atomic_ulong xr_serials;

static pthread_mutex_t xr_proc_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct xr_entity *) xr_proc_seg;

static atomic_ullong xr_missing_count;
/* Lambda: calls made outside any invocation. */
static atomic_ullong xr_outside_count;

/* Guards every inbound segment's children, closed flag and refs (lock
 * order: this lock, then the emitter's). Held for one append or one
 * emission, never across a call into the host. */
static pthread_mutex_t xr_inbound_lock = PTHREAD_MUTEX_INITIALIZER;
/* This thread read a request while serving another: it multiplexes. */
static XR_TLS bool xr_tmultiplexed;
/* The connection of the inbound segment installed on this thread. */
static XR_TLS const void *xr_tseg_conn;

/* Thread exit: a thread that ends with a segment (its own, or its ref on
 * an inbound one) or C API subsegments still open would leak them (and
 * an inbound segment's children with it): the key's destructor lets go
 * of them, unsent, on the exiting thread (TLS is still valid there). The
 * key is set once per thread, the first time the thread holds something. */
static pthread_key_t xr_exit_key;
static pthread_once_t xr_exit_once = PTHREAD_ONCE_INIT;
static bool xr_exit_key_ok;
static XR_TLS bool xr_exit_armed;

/* Identity of a trace context before any allocation. */
struct xr_identity {
  char trace_id[XR_TRACE_ID_LEN + 1];
  char parent_id[XR_ID_LEN + 1];
  bool sampled;
  const char *extra;
  int64_t now_us; /* xr_identity_init's clock reading, 0 when none */
  unsigned rule; /* the centralized rule that sampled it, 0 none */
};

void xr_tracer_init(const struct xr_config *cfg)
{
  xr_cfg = *cfg;
  xr_process_start_us = xr_now_us();
  xr_emitter_configure(&xr_cfg.udp);
  xr_plugins_init(&xr_cfg);
  if (xr_cfg.lambda_api.port)
    xr_lambda_init(getenv("_X_AMZN_TRACE_ID"));
  /* Read here, in the constructor, only when named and when it can decide
   * anything (not with XRAY_AUTO_SAMPLING=all, not in Lambda, which never
   * samples): before the host runs, drops privileges or chroots, and once
   * for a forking server's children (README, Sampling). */
  xr_sampling_unload(); /* a re-initialisation (tests) starts afresh */
  if (xr_cfg.sampling == XR_SAMPLING_CENTRALIZED && xr_cfg.lambda_api.port) {
    /* The SDKs' rule: Lambda decides, centralized sampling stays off. */
    xr_cfg.sampling = XR_SAMPLING_DEFAULT;
    xr_info("XRAY_AUTO_SAMPLING=centralized has no effect in Lambda");
  }
  if (xr_cfg.sampling == XR_SAMPLING_CENTRALIZED)
    xr_poller_configure(&xr_cfg.tcp); /* started by the first decision */
  if (xr_cfg.sampling_rules[0] && xr_cfg.sampling != XR_SAMPLING_ALL &&
      !xr_cfg.lambda_api.port)
    (void)xr_sampling_load(xr_cfg.sampling_rules);
}

static bool xr_lambda_mode(void)
{
  return xr_cfg.lambda_api.port != 0;
}

/* Lambda: the invocation's header, or -ENOENT (counted) outside one. */
static int xr_lambda_context(struct xr_trace_header *h)
{
  /* getenv races with a setenv on another thread like any library's
   * getenv does; the SDKs read the variable the same way. */
  if (xr_lambda_current(getenv("_X_AMZN_TRACE_ID"), h) == 0)
    return 0;
  if (atomic_fetch_add(&xr_outside_count, 1) == 0)
    xr_info("Lambda: a call outside any invocation (initialisation, or between "
            "invocations) is not traced; further ones are counted");
  return -ENOENT;
}

/* An invocation records only with its whole header (Root-only is
 * Lambda's PassThrough: downstream learns the Root, unsampled). */
static void xr_identity_of_invocation(struct xr_identity *id,
                                      const struct xr_trace_header *h)
{
  memset(id, 0, sizeof(*id));
  memcpy(id->trace_id, h->root, sizeof(id->trace_id));
  memcpy(id->parent_id, h->parent, sizeof(id->parent_id));
  id->sampled = h->sampled == '1' && h->parent[0];
  id->extra = h->extra[0] ? h->extra : NULL;
}

const struct xr_config *xr_tracer_config(void)
{
  return &xr_cfg;
}

/* The no-op ids of the SDKs (Python's NoOpTraceId, Go's noop ids). */
static const char xr_noop_root[XR_TRACE_ID_LEN + 1] = "1-00000000-000000000000000000000000";
static const char xr_noop_id[XR_ID_LEN + 1] = "0000000000000000";

/* A trace started here unsampled passes a real Root downstream only with
 * AWS_XRAY_NOOP_ID=false, or when traceparent is passed too: W3C forbids
 * an all-zero trace-id, and both headers should name the same trace. By
 * default it is the no-op Root (the Python and Go SDKs' choice: nothing
 * is recorded under it, and no random draw is spent on it). */
static bool xr_unsampled_real_root(void)
{
  return !xr_cfg.noop_id || (xr_cfg.propagate & XR_PROP_W3C);
}

/* The decision for a trace we start. Centralized rules also match the
 * segment's name (req->service, else the configured service). */
static bool xr_decide(struct xr_identity *id, int64_t now_s,
                      const struct xr_sample_req *req)
{
  struct xr_sample_req q;

  if (XR_LIKELY(xr_cfg.sampling != XR_SAMPLING_CENTRALIZED))
    return xr_sample_request(xr_cfg.sampling, now_s, req);
  if (req)
    q = *req;
  else
    memset(&q, 0, sizeof(q));
  if (!q.service)
    q.service = xr_cfg.service;
  if (!q.service_type) {
    /* The plugins' origin, once gathered (until then: absent, which
     * every ServiceType pattern matches, as in the SDKs). */
    const struct xr_plugins_doc *pl = xr_plugins_doc();
    q.service_type = pl ? pl->origin : NULL;
  }
  return xr_sample_decide(xr_cfg.sampling, now_s, &q, &id->rule);
}

/* A new trace, or the one of header h (Root, Parent, Sampled honoured;
 * Sampled=? or absent means we decide, by the rule matching req, the
 * request the trace starts with: NULL for the segments the library starts
 * on its own, which get the default rule as in the Python SDK). */
static void xr_identity_init_ids(struct xr_identity *id,
                                 const struct xr_trace_header *h,
                                 const struct xr_sample_req *req, bool ids)
{
  int64_t now_us = xr_now_us(), now_s = now_us / 1000000;

  memset(id, 0, sizeof(*id));
  /* The segment that follows starts at this reading (one clock read). */
  id->now_us = now_us;
  if (h && h->root[0]) {
    memcpy(id->trace_id, h->root, sizeof(id->trace_id));
    memcpy(id->parent_id, h->parent, sizeof(id->parent_id));
    if (h->sampled == '1' || h->sampled == '0')
      id->sampled = h->sampled == '1';
    else
      id->sampled = xr_decide(id, now_s, req);
    id->extra = h->extra[0] ? h->extra : NULL;
  } else {
    /* Decided first: an unsampled context that passes nothing on (ids
     * false) needs no trace id. */
    id->sampled = xr_decide(id, now_s, req);
    if (id->sampled || (ids && xr_unsampled_real_root()))
      xr_new_trace_id(id->trace_id, now_s);
    else if (ids)
      memcpy(id->trace_id, xr_noop_root, sizeof(id->trace_id));
  }
}

static void xr_identity_init(struct xr_identity *id,
                             const struct xr_trace_header *h,
                             const struct xr_sample_req *req)
{
  xr_identity_init_ids(id, h, req, true);
}

/* The identity of an open segment, for the subsegments it holds. */
static void xr_identity_of(struct xr_identity *id, const struct xr_entity *seg)
{
  memset(id, 0, sizeof(*id));
  memcpy(id->trace_id, seg->trace_id, sizeof(id->trace_id));
  id->sampled = seg->sampled;
  id->extra = seg->header_extra;
}

static struct xr_entity *xr_segment_new(const char *name,
                                        const struct xr_identity *id)
{
  struct xr_entity *seg;

  /* Once per process: the service block, and the plugins' thread. */
  xr_plugins_start();
  seg = id->now_us ? xr_entity_new_at(true, name, id->now_us) : xr_entity_new(true, name);
  if (!seg)
    return NULL;
  memcpy(seg->trace_id, id->trace_id, sizeof(seg->trace_id));
  memcpy(seg->parent_id, id->parent_id, sizeof(seg->parent_id));
  seg->sampled = id->sampled;
  seg->sampling_rule = (uint16_t)(id->sampled ? id->rule : 0);
  if (id->extra && !(seg->header_extra = strdup(id->extra))) {
    xr_entity_free(seg);
    return NULL;
  }
  return seg;
}

static const struct xr_trace_header *xr_inherited(void)
{
  return xr_cfg.has_parent ? &xr_cfg.parent : NULL;
}

/* Called with xr_inbound_lock held. */
static void xr_inbound_unref(struct xr_entity *seg)
{
  if (--seg->refs == 0)
    xr_entity_free(seg);
}

static void xr_thread_exit(void *unused)
{
  struct xr_entity *seg = xr_tseg;

  (void)unused;
  xr_exit_armed = false; /* a later destructor holding again arms again */
  xr_api_thread_exit();
  xr_tseg = NULL;
  if (seg && seg->inbound) {
    pthread_mutex_lock(&xr_inbound_lock);
    xr_inbound_unref(seg); /* the connection still holds its own ref */
    pthread_mutex_unlock(&xr_inbound_lock);
  } else {
    xr_entity_free(seg);
  }
}

static void xr_exit_key_init(void)
{
  xr_exit_key_ok = pthread_key_create(&xr_exit_key, xr_thread_exit) == 0;
}

void xr_tracer_thread_hold(void)
{
  if (XR_LIKELY(xr_exit_armed))
    return;
  (void)pthread_once(&xr_exit_once, xr_exit_key_init);
  /* Any non-NULL value: the destructor reads the thread's TLS. */
  xr_exit_armed = xr_exit_key_ok && pthread_setspecific(xr_exit_key, &xr_exit_armed) == 0;
}

/* The thread's segment, after letting go of an inbound one that another
 * thread ended. */
static struct xr_entity *xr_tseg_current(void)
{
  struct xr_entity *seg = xr_tseg;

  if (seg && seg->inbound) {
    pthread_mutex_lock(&xr_inbound_lock);
    if (seg->closed) {
      xr_tseg = NULL;
      xr_inbound_unref(seg);
      seg = NULL;
    }
    pthread_mutex_unlock(&xr_inbound_lock);
  }
  return seg;
}

static struct xr_entity *xr_process_segment(void)
{
  struct xr_entity *seg = atomic_load_explicit(&xr_proc_seg, memory_order_acquire);
  struct xr_identity id;

  if (XR_LIKELY(seg != NULL))
    return seg;
  /* Its first call may start a thread: not under our lock. */
  xr_plugins_start();
  pthread_mutex_lock(&xr_proc_lock);
  seg = atomic_load_explicit(&xr_proc_seg, memory_order_relaxed);
  if (!seg) {
    xr_identity_init(&id, xr_inherited(), NULL);
    seg = xr_segment_new(xr_cfg.service, &id);
    if (seg) {
      seg->start_us = xr_process_start_us;
      /* Visible even if the process dies before exit (kill -9, _exit). */
      if (seg->sampled)
        (void)xr_emit_entity(seg, false);
      atomic_store_explicit(&xr_proc_seg, seg, memory_order_release);
    }
  }
  pthread_mutex_unlock(&xr_proc_lock);
  return seg;
}

static void xr_context_missing(void)
{
  unsigned long long n = atomic_fetch_add(&xr_missing_count, 1);

  if (xr_cfg.context_missing == XR_CTX_IGNORE_ERROR)
    return;
  /* RUNTIME_ERROR cannot raise in C; it logs every time instead. */
  if (xr_cfg.context_missing == XR_CTX_RUNTIME_ERROR || n == 0)
    xr_err("no segment is open (XRAY_AUTO_SEGMENT=off): call not traced%s",
           xr_cfg.context_missing == XR_CTX_LOG_ERROR
               ? "; further occurrences are counted, not logged"
               : "");
}

static void xr_copy_extra(char dst[XR_HEADER_EXTRA_MAX], const char *src)
{
  size_t n = strnlen(src, XR_HEADER_EXTRA_MAX - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* The header xr_trace_header_format writes for these parts, written in
 * place (no struct to clear and fill: this runs for every span).
 * XR_HEADER_MAX holds the longest (extra cut as xr_copy_extra cuts it). */
static int xr_format_header(struct xr_span *sp, const char *trace_id,
                            const char *parent, bool sampled, const char *extra)
{
  size_t rl = strnlen(trace_id, XR_TRACE_ID_LEN), pl = strnlen(parent, XR_ID_LEN);
  size_t el = extra ? strnlen(extra, XR_HEADER_EXTRA_MAX - 1) : 0;
  char *p = sp->header;

  _Static_assert(sizeof(sp->header) > sizeof("Root=;Parent=;Sampled=1;") +
                                          XR_TRACE_ID_LEN + XR_ID_LEN +
                                          XR_HEADER_EXTRA_MAX,
                 "the longest header fits");
  memcpy(p, "Root=", 5);
  memcpy(p + 5, trace_id, rl);
  p += 5 + rl;
  if (pl) {
    memcpy(p, ";Parent=", 8);
    memcpy(p + 8, parent, pl);
    p += 8 + pl;
  }
  memcpy(p, ";Sampled=", 9);
  p[9] = sampled ? '1' : '0';
  p += 10;
  if (el) {
    *p++ = ';';
    memcpy(p, extra, el);
    p += el;
  }
  *p = '\0';
  return 0;
}

/* The innermost open subsegment of the C API, when this thread has one in
 * the context of key, becomes the span's parent and owner. One TLS load
 * when the API is not used. */
static inline void xr_span_api_owner(struct xr_span *sp, unsigned long key,
                                     const char **parent_of_sub)
{
  struct xr_entity *top = xr_api_top;

  if (XR_LIKELY(top == NULL) || xr_api_key != key)
    return;
  *parent_of_sub = top->id;
  sp->owner = top;
  sp->owner_serial = top->api_serial;
  sp->owner_api = true;
  sp->process = false;
}

/* header: the call passes a header downstream (sp->header). Without
 * one, an unsampled span is only its decision: no ids, no header text. */
static int xr_span_open(struct xr_span *sp, bool header)
{
  struct xr_identity id;
  struct xr_trace_header inv;
  char sub_id[XR_ID_LEN + 1];
  const char *parent_of_sub;
  struct xr_entity *seg;
  int rc;

  sp->sub = sp->seg = sp->owner = NULL;
  sp->process = false;
  sp->owner_api = false;
  sp->header[0] = '\0';

  if ((seg = xr_tseg_current()) != NULL) {
    if (!header && !seg->sampled)
      goto unsampled;
    xr_identity_of(&id, seg);
    parent_of_sub = seg->id;
    sp->owner = seg;
    sp->owner_serial = xr_tseg_serial;
    xr_span_api_owner(sp, xr_tseg_serial, &parent_of_sub);
  } else if (xr_lambda_mode()) {
    /* Lambda sends the function segment: subsegments go on their own. */
    if (xr_lambda_context(&inv) < 0)
      return -ENOENT;
    xr_identity_of_invocation(&id, &inv);
    parent_of_sub = id.parent_id;
    sp->process = true;
  } else if (xr_cfg.segment_mode == XR_SEGMENT_PROCESS) {
    seg = xr_process_segment();
    if (!seg)
      return -ENOMEM;
    if (!header && !seg->sampled)
      goto unsampled;
    xr_identity_of(&id, seg);
    parent_of_sub = seg->id;
    sp->process = true;
    xr_span_api_owner(sp, 0, &parent_of_sub);
  } else if (xr_cfg.segment_mode == XR_SEGMENT_CALL) {
    xr_identity_init_ids(&id, xr_inherited(), NULL, header);
    parent_of_sub = NULL;
    if (id.sampled) {
      sp->seg = xr_segment_new(xr_cfg.service, &id);
      if (!sp->seg)
        return -ENOMEM;
      parent_of_sub = sp->seg->id;
    }
  } else {
    xr_context_missing();
    return -ENOENT;
  }

  sp->sampled = id.sampled;
  if (id.sampled) {
    /* SQL (no header): room for the statement's sql block. */
    sp->sub = header ? xr_entity_new(false, NULL) : xr_entity_new_room(XR_ENTITY_SQL_ROOM);
    if (!sp->sub) {
      rc = -ENOMEM;
      goto fail;
    }
    sp->sub->ns = "remote";
    memcpy(sp->sub->trace_id, id.trace_id, sizeof(id.trace_id));
    memcpy(sp->sub->parent_id, parent_of_sub, XR_ID_LEN + 1);
    if (!header)
      return 0;
    memcpy(sub_id, sp->sub->id, sizeof(sub_id));
  } else {
    if (!header)
      return 0;
    /* Unsampled: nothing is recorded, but downstream still learns the
     * Root and the decision (Go's behaviour): Parent is the no-op id
     * (AWS_XRAY_NOOP_ID, default true: no random draw), else a random id
     * that names nothing recorded (Node's). */
    if (xr_cfg.noop_id)
      memcpy(sub_id, xr_noop_id, sizeof(sub_id));
    else
      xr_new_entity_id(sub_id);
  }
  rc = xr_format_header(sp, id.trace_id, sub_id, id.sampled, id.extra);
  if (rc < 0)
    goto fail;
  return 0;
fail:
  xr_span_discard(sp);
  return rc;
unsampled:
  sp->sampled = false;
  return 0;
}

int xr_span_traceparent(const struct xr_span *sp, char *buf, size_t len)
{
  const char *h = sp->header;
  char root[XR_TRACE_ID_LEN + 1], parent[XR_ID_LEN + 1];

  if (sp->sub)
    return xr_traceparent_format(sp->sub->trace_id, sp->sub->id, true, buf, len);
  /* Unsampled: the ids xr_format_header wrote ("Root=<35>;Parent=<16>"). */
  if (strnlen(h, 5 + XR_TRACE_ID_LEN + 8 + XR_ID_LEN) < 5 + XR_TRACE_ID_LEN + 8 + XR_ID_LEN ||
      memcmp(h, "Root=", 5) != 0 || memcmp(h + 5 + XR_TRACE_ID_LEN, ";Parent=", 8) != 0)
    return -EINVAL;
  memcpy(root, h + 5, XR_TRACE_ID_LEN);
  root[XR_TRACE_ID_LEN] = '\0';
  memcpy(parent, h + 5 + XR_TRACE_ID_LEN + 8, XR_ID_LEN);
  parent[XR_ID_LEN] = '\0';
  /* W3C forbids the all-zero parent-id: the no-op Parent becomes a random
   * id that names nothing recorded (what an OpenTelemetry SDK's unsampled
   * span passes). A no-op Root (an upstream's) has no W3C form at all:
   * -EINVAL, and X-Amzn-Trace-Id alone carries the decision. */
  if (strcmp(parent, xr_noop_id) == 0)
    xr_new_entity_id(parent);
  return xr_traceparent_format(root, parent, false, buf, len);
}

int xr_span_begin(struct xr_span *sp)
{
  return xr_span_open(sp, true);
}

int xr_span_begin_local(struct xr_span *sp)
{
  return xr_span_open(sp, false);
}

void xr_span_discard(struct xr_span *sp)
{
  xr_entity_free(sp->sub);
  xr_entity_free(sp->seg);
  sp->sub = sp->seg = sp->owner = NULL;
}

static void xr_stream_children(struct xr_entity *seg)
{
  struct xr_entity *list = xr_entity_take_children(seg), *c;
  for (c = list; c; c = c->next)
    (void)xr_emit_entity(c, true);
  xr_entity_free(list);
}

void xr_span_end(struct xr_span *sp)
{
  struct xr_entity *sub = sp->sub;

  if (!sub) {
    xr_span_discard(sp);
    return;
  }
  if (!sub->end_us)
    sub->end_us = xr_now_us();
  if (sp->seg) {
    sp->seg->start_us = sub->start_us;
    sp->seg->end_us = sub->end_us;
    xr_entity_add_child(sp->seg, sub);
    (void)xr_emit_entity(sp->seg, false);
    xr_entity_free(sp->seg); /* frees sub too */
  } else if (sp->owner_api) {
    /* Still open on this thread: embedded; else its own document. */
    if (!xr_api_adopt(sp->owner, (unsigned)sp->owner_serial, sub)) {
      (void)xr_emit_entity(sub, true);
      xr_entity_free(sub);
    }
  } else if (sp->owner && sp->owner == xr_tseg &&
             sp->owner_serial == xr_tseg_serial) {
    struct xr_entity *owner = xr_tseg;
    bool shared = owner->inbound;

    bool embedded = true;

    if (shared) {
      pthread_mutex_lock(&xr_inbound_lock);
      embedded = !owner->closed;
      if (embedded)
        xr_entity_add_child(owner, sub);
      pthread_mutex_unlock(&xr_inbound_lock);
    } else {
      xr_entity_add_child(owner, sub);
    }
    if (!embedded) {
      (void)xr_emit_entity(sub, true);
      xr_entity_free(sub);
    } else if (owner->nchildren > XR_STREAM_THRESHOLD) {
      /* Only this thread appends; an ender running meanwhile would send
       * the children too, so inbound segments stream under the lock. */
      if (shared)
        pthread_mutex_lock(&xr_inbound_lock);
      if (!owner->closed)
        xr_stream_children(owner);
      if (shared)
        pthread_mutex_unlock(&xr_inbound_lock);
    }
  } else {
    (void)xr_emit_entity(sub, true);
    xr_entity_free(sub);
  }
  sp->sub = sp->seg = sp->owner = NULL;
}

int xr_thread_segment_begin(const char *name, const char *header)
{
  struct xr_trace_header h;
  const struct xr_trace_header *hp = NULL;
  struct xr_identity id;
  struct xr_entity *seg;

  if (xr_lambda_mode())
    return -ENOTSUP; /* the function segment is Lambda's */
  if (xr_tseg_current())
    return -EALREADY;
  if (header && xr_trace_header_parse(header, strlen(header), &h) == 0)
    hp = &h;
  {
    struct xr_sample_req q = {.service = name && *name ? name : NULL};
    xr_identity_init(&id, hp, &q);
  }
  seg = xr_segment_new(name && *name ? name : xr_cfg.service, &id);
  if (!seg)
    return -ENOMEM;
  xr_tseg = seg;
  xr_tseg_serial = atomic_fetch_add(&xr_serials, 1) + 1;
  xr_tracer_thread_hold();
  return 0;
}

int xr_thread_segment_end(void)
{
  struct xr_entity *seg = xr_tseg;

  /* An inbound request's segment is not the caller's to end. */
  if (!seg || seg->inbound)
    return -ENOENT;
  xr_tseg = NULL;
  seg->end_us = xr_now_us();
  if (seg->sampled)
    (void)xr_emit_entity(seg, false);
  xr_entity_free(seg);
  return 0;
}

int xr_tracer_api_context(struct xr_entity **seg, unsigned long *key)
{
  struct xr_entity *s;

  if (xr_lambda_mode())
    return -ENOTSUP;
  if ((s = xr_tseg_current()) != NULL) {
    *seg = s;
    *key = xr_tseg_serial;
    return 0;
  }
  if (xr_cfg.segment_mode != XR_SEGMENT_PROCESS)
    return -ENOENT;
  if ((s = xr_process_segment()) == NULL)
    return -ENOMEM;
  *seg = s;
  *key = 0;
  return 0;
}

void xr_tracer_api_attach(struct xr_entity *sub, unsigned long key)
{
  struct xr_entity *owner = xr_tseg;
  bool embedded = false;

  if (key && owner && key == xr_tseg_serial) {
    if (owner->inbound)
      pthread_mutex_lock(&xr_inbound_lock);
    if (!owner->closed) {
      xr_entity_add_child(owner, sub);
      embedded = true;
      if (owner->nchildren > XR_STREAM_THRESHOLD)
        xr_stream_children(owner);
    }
    if (owner->inbound)
      pthread_mutex_unlock(&xr_inbound_lock);
  }
  if (!embedded) {
    (void)xr_emit_entity(sub, true);
    xr_entity_free(sub);
  }
}

bool xr_tracer_seg_acquire(struct xr_entity *seg)
{
  if (!seg->inbound)
    return true;
  pthread_mutex_lock(&xr_inbound_lock);
  if (!seg->closed)
    return true;
  pthread_mutex_unlock(&xr_inbound_lock);
  return false;
}

void xr_tracer_seg_release(struct xr_entity *seg)
{
  if (seg->inbound)
    pthread_mutex_unlock(&xr_inbound_lock);
}

int xr_context_header(char *buf, size_t len)
{
  struct xr_entity *ctx = xr_tseg_current();
  struct xr_trace_header h;
  unsigned long key = xr_tseg_serial;

  if (!ctx && xr_lambda_mode()) {
    /* Parent = the function segment, as Lambda gave it. */
    if (xr_lambda_context(&h) < 0)
      return -ENOENT;
    if (!h.parent[0] || h.sampled != '1') {
      h.sampled = '0';
      /* Go's facade header and Python's Lambda Sampled=0 one: the no-op
       * Parent, as the invocation's spans pass. */
      if (xr_cfg.noop_id)
        memcpy(h.parent, xr_noop_id, sizeof(h.parent));
    }
    return xr_trace_header_format(&h, buf, len);
  }
  if (!ctx && xr_cfg.segment_mode == XR_SEGMENT_PROCESS) {
    ctx = xr_process_segment();
    key = 0;
  }
  if (!ctx)
    return -ENOENT;
  memset(&h, 0, sizeof(h));
  memcpy(h.root, ctx->trace_id, sizeof(h.root));
  /* Parent: the innermost open subsegment of the C API, else the segment.
   * An unsampled segment is recorded nowhere: its id is the no-op one
   * downstream, as a span's is. */
  memcpy(h.parent, !ctx->sampled && xr_cfg.noop_id ? xr_noop_id
                   : xr_api_top && xr_api_key == key ? xr_api_top->id
                   : ctx->id,
         sizeof(h.parent));
  h.sampled = ctx->sampled ? '1' : '0';
  if (ctx->header_extra)
    xr_copy_extra(h.extra, ctx->header_extra);
  return xr_trace_header_format(&h, buf, len);
}

void xr_tracer_exit(void)
{
  struct xr_entity *seg = atomic_exchange(&xr_proc_seg, NULL);
  struct xr_emit_stats st;
  unsigned long long missing = atomic_load(&xr_missing_count);

  if (seg) {
    seg->end_us = xr_now_us();
    if (seg->sampled)
      (void)xr_emit_entity(seg, false);
    xr_entity_free(seg);
  }
  xr_emitter_stats(&st);
  if (st.truncated || st.dropped || st.send_errors)
    xr_warn("documents: %llu sent, %llu truncated, %llu split, %llu dropped, "
            "%llu send errors",
            st.sent, st.truncated, st.split, st.dropped, st.send_errors);
  else
    xr_info("documents: %llu sent, %llu split", st.sent, st.split);
  if (missing > 1)
    xr_debug("%llu calls were not traced: no segment was open", missing);
  if (atomic_load(&xr_outside_count) > 1)
    xr_debug("Lambda: %llu calls outside any invocation were not traced",
             atomic_load(&xr_outside_count));
}

unsigned long long xr_tracer_untraced(void)
{
  return atomic_load(&xr_missing_count);
}

void xr_tracer_fork_child(void)
{
  struct xr_entity *seg = atomic_exchange(&xr_proc_seg, NULL);

  /* The copies belong to the parent, which sends them; the child starts
   * its own process segment and owns no thread segment. */
  xr_entity_free(seg);
  /* An inbound segment is also the connection's, whose copy the child
   * inherits; the connection lets go of it. */
  if (xr_tseg && xr_tseg->inbound)
    xr_inbound_unref(xr_tseg);
  else
    xr_entity_free(xr_tseg);
  xr_tseg = NULL;
  pthread_mutex_init(&xr_proc_lock, NULL);
  pthread_mutex_init(&xr_inbound_lock, NULL);
  xr_lambda_fork_child();
  xr_plugins_fork_child();
  xr_process_start_us = xr_now_us();
}

bool xr_tracer_excluded(const char *host, int port)
{
  const struct xr_endpoint *eps[3] = {&xr_cfg.udp, &xr_cfg.tcp, &xr_cfg.lambda_api};
  size_t i;

  /* The instance metadata service (IPv4 and IPv6). */
  if (strcmp(host, "169.254.169.254") == 0 || strcmp(host, "fd00:ec2::254") == 0)
    return true;
  for (i = 0; i < XR_ARRAY_SIZE(eps); i++)
    if (eps[i]->port && eps[i]->port == port && strcasecmp(eps[i]->host, host) == 0)
      return true;
  return xr_plugins_excluded(host, port);
}

struct xr_entity *xr_inbound_begin(const char *header, size_t header_len,
                                   int64_t start_us, const void *conn)
{
  return xr_inbound_begin_req(header, header_len, start_us, conn, NULL);
}

struct xr_entity *xr_inbound_begin_req(const char *header, size_t header_len,
                                       int64_t start_us, const void *conn,
                                       const struct xr_sample_req *req)
{
  struct xr_trace_header h;
  const struct xr_trace_header *hp = NULL;
  struct xr_identity id;
  struct xr_entity *seg, *cur;

  /* In Lambda the library never sends a segment of its own; the
   * requests' outbound calls belong to the invocation. */
  if (xr_lambda_mode())
    return NULL;
  if (header && xr_trace_header_parse(header, header_len, &h) == 0)
    hp = &h;
  xr_identity_init(&id, hp, req);
  seg = xr_segment_new(xr_cfg.service, &id);
  if (!seg)
    return NULL;
  seg->inbound = true;
  seg->refs = 1;
  if (start_us)
    seg->start_us = start_us;

  cur = xr_tseg_current();
  if (cur && cur->inbound && xr_tseg_conn == conn) {
    /* Pipelined on the connection being served: this thread still serves
     * one connection; the new request waits its turn, unattributed. */
  } else if (cur && cur->inbound) {
    /* A second open request on this thread: which one an outbound call
     * serves cannot be known, so neither gets them. */
    pthread_mutex_lock(&xr_inbound_lock);
    xr_tseg = NULL;
    xr_inbound_unref(cur);
    pthread_mutex_unlock(&xr_inbound_lock);
    xr_tmultiplexed = true;
  } else if (!cur && !xr_tmultiplexed) {
    pthread_mutex_lock(&xr_inbound_lock);
    seg->refs++;
    pthread_mutex_unlock(&xr_inbound_lock);
    xr_tseg = seg;
    xr_tseg_serial = atomic_fetch_add(&xr_serials, 1) + 1;
    xr_tseg_conn = conn;
    xr_tracer_thread_hold();
  }
  return seg;
}

static void xr_inbound_release(struct xr_entity *seg, bool send)
{
  pthread_mutex_lock(&xr_inbound_lock);
  seg->closed = true;
  if (xr_tseg == seg) {
    xr_tseg = NULL;
    seg->refs--; /* the connection still holds one */
  }
  pthread_mutex_unlock(&xr_inbound_lock);
  /* Closed: nobody appends any more, and the fields others read (ids,
   * sampled) never change, so the document is written unlocked. */
  if (send && seg->sampled) {
    seg->end_us = xr_now_us();
    (void)xr_emit_entity(seg, false);
  }
  pthread_mutex_lock(&xr_inbound_lock);
  xr_inbound_unref(seg);
  pthread_mutex_unlock(&xr_inbound_lock);
}

void xr_inbound_end(struct xr_entity *seg)
{
  xr_inbound_release(seg, true);
}

void xr_inbound_drop(struct xr_entity *seg)
{
  xr_inbound_release(seg, false);
}
