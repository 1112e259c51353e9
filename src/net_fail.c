#include "xr_setup.h"

#include "net_fail.h"

#include "clock.h"
#include "entity.h"
#include "tracer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failure whose subsegment is already open: it belongs to the context
 * of the moment it happened (a Lambda invocation, an inbound request),
 * not to the one current when it is finally sent. */
struct xr_held {
  bool set;
  struct xr_name_hit hit;
  struct xr_span span;
};

/* One held failure per thread, in the thread's net memory. */
static XR_TLS struct xr_held *xr_theld;

static const struct {
  int err;
  const char *name, *text;
} xr_errnos[] = {
    {ECONNREFUSED, "ECONNREFUSED", "Connection refused"},
    {ETIMEDOUT, "ETIMEDOUT", "Connection timed out"},
    {EHOSTUNREACH, "EHOSTUNREACH", "No route to host"},
    {ENETUNREACH, "ENETUNREACH", "Network is unreachable"},
    {ECONNRESET, "ECONNRESET", "Connection reset by peer"},
    {ECONNABORTED, "ECONNABORTED", "Software caused connection abort"},
    {EPIPE, "EPIPE", "Broken pipe"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL", "Cannot assign requested address"},
    {EACCES, "EACCES", "Permission denied"},
    {EPERM, "EPERM", "Operation not permitted"},
    {ENETDOWN, "ENETDOWN", "Network is down"},
    {EHOSTDOWN, "EHOSTDOWN", "Host is down"},
    {ENOTCONN, "ENOTCONN", "Transport endpoint is not connected"},
    {EAFNOSUPPORT, "EAFNOSUPPORT", "Address family not supported by protocol"},
};

const char *xr_errno_name(int err, char *buf, size_t len)
{
  size_t i;

  for (i = 0; i < XR_ARRAY_SIZE(xr_errnos); i++)
    if (xr_errnos[i].err == err)
      return xr_errnos[i].name;
  snprintf(buf, len, "errno %d", err);
  return buf;
}

const char *xr_errno_text(int err)
{
  size_t i;

  for (i = 0; i < XR_ARRAY_SIZE(xr_errnos); i++)
    if (xr_errnos[i].err == err)
      return xr_errnos[i].text;
  return "connection failed";
}

/* Opens the failure's span in the current context: 0, or -1 when it is
 * not traced. */
static int xr_failure_span(const struct xr_connect_failure *f, int64_t end_us,
                           struct xr_span *out)
{
  struct xr_span sp;
  char type[24], msg[128];
  const char *name = f->name && *f->name ? f->name : f->addr;

  if (xr_span_begin(&sp) < 0)
    return -1;
  if (sp.sub) {
    bool v6 = strchr(f->addr, ':') != NULL;

    snprintf(msg, sizeof(msg), "connect to %s%s%s:%u: %s", v6 ? "[" : "", f->addr,
             v6 ? "]" : "", f->port, xr_errno_text(f->err));
    xr_entity_set_name(sp.sub, name);
    sp.sub->ns = "remote";
    sp.sub->start_us = f->start_us;
    sp.sub->end_us = end_us;
    if (xr_entity_add_exception(sp.sub, xr_errno_name(f->err, type, sizeof(type)),
                                msg, true) < 0) {
      xr_span_discard(&sp);
      return -1;
    }
  }
  *out = sp;
  return 0;
}

static void xr_send_failure(const struct xr_connect_failure *f, int64_t end_us)
{
  struct xr_span sp;

  if (xr_failure_span(f, end_us, &sp) == 0)
    xr_span_end(&sp);
}

void xr_net_fail_flush(void)
{
  struct xr_held *h = xr_theld;

  if (h && h->set) {
    h->set = false;
    xr_span_end(&h->span);
  }
}

void xr_net_fail_fork_child(void)
{
  struct xr_held *h = xr_theld;

  if (h && h->set) {
    h->set = false;
    xr_span_discard(&h->span);
  }
}

/* The thread exits: what it held is final. */
static void xr_held_fini(void *p)
{
  struct xr_held *h = p;

  xr_theld = NULL;
  if (h->set) {
    h->set = false;
    xr_span_end(&h->span);
  }
}

void xr_net_connect_attempt(const struct xr_name_hit *hit)
{
  struct xr_held *h = xr_theld;

  if (!h || !h->set)
    return;
  if (hit->list_id && hit->list_id == h->hit.list_id && hit->index > h->hit.index) {
    h->set = false; /* the program went on to the next address */
    xr_span_discard(&h->span);
    return;
  }
  xr_net_fail_flush();
}

void xr_net_connect_failed(const struct xr_connect_failure *f)
{
  struct xr_held *h;
  int64_t now = xr_now_us();

  xr_net_fail_flush();
  if (!f->hit.list_id || f->hit.index + 1 >= f->hit.count) {
    xr_send_failure(f, now);
    return;
  }
  if (!xr_theld)
    xr_theld = xr_names_aux(sizeof(*xr_theld), xr_held_fini);
  if (!(h = xr_theld)) {
    xr_send_failure(f, now);
    return;
  }
  if (xr_failure_span(f, now, &h->span) < 0)
    return;
  h->hit = f->hit;
  h->set = true;
}
