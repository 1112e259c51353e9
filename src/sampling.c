#include "xr_setup.h"

#include "sampling.h"

#include "file.h"

#include "ids.h"
#include "log.h"
#include "sampling_poller.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* High 32 bits: the second; low 32 bits: traces taken in it. */
static atomic_ullong xr_reservoir;

/* Set once at initialisation; read by every decision. */
static _Atomic(struct xr_rules *) xr_active;

static bool xr_reservoir_take(int64_t now_seconds)
{
  unsigned long long cur = atomic_load_explicit(&xr_reservoir, memory_order_relaxed);
  uint32_t sec = (uint32_t)now_seconds;

  for (;;) {
    uint32_t used = (uint32_t)(cur >> 32) == sec ? (uint32_t)cur : 0;
    unsigned long long next;
    if (used >= XR_DEFAULT_FIXED_TARGET)
      return false;
    next = ((unsigned long long)sec << 32) | (used + 1);
    if (atomic_compare_exchange_weak_explicit(&xr_reservoir, &cur, next,
                                              memory_order_relaxed,
                                              memory_order_relaxed))
      return true;
  }
}

bool xr_sample_decide(enum xr_sampling mode, int64_t now_seconds,
                      const struct xr_sample_req *req, unsigned *rule)
{
  struct xr_rules *rs;

  if (rule)
    *rule = 0;
  if (mode == XR_SAMPLING_ALL)
    return true;
  if (XR_UNLIKELY(mode == XR_SAMPLING_CENTRALIZED)) {
    int d = xr_poller_sample(now_seconds, req, rule);
    if (d >= 0)
      return d != 0;
  }
  if (req && !(req->host && *req->host) && !(req->method && *req->method) &&
      !(req->path && *req->path))
    req = NULL;
  rs = atomic_load_explicit(&xr_active, memory_order_acquire);
  if (rs)
    return xr_rule_decide(xr_rules_match(rs, req), now_seconds, xr_random_unit);
  if (xr_reservoir_take(now_seconds))
    return true;
  return xr_random_unit() < XR_DEFAULT_RATE;
}

bool xr_sample_request(enum xr_sampling mode, int64_t now_seconds,
                       const struct xr_sample_req *req)
{
  return xr_sample_decide(mode, now_seconds, req, NULL);
}

const char *xr_sampling_rule_name(unsigned rule)
{
  return xr_poller_rule_name(rule);
}

void xr_sampling_fork_child(void)
{
  xr_poller_fork_child();
}

bool xr_sample(enum xr_sampling mode, int64_t now_seconds)
{
  return xr_sample_request(mode, now_seconds, NULL);
}

struct xr_rules *xr_sampling_rules(void)
{
  return atomic_load_explicit(&xr_active, memory_order_acquire);
}

void xr_sampling_unload(void)
{
  free(atomic_exchange(&xr_active, NULL));
}

static const char *xr_file_error(int err)
{
  switch (err) {
  case ENOENT:
    return "no such file";
  case EACCES:
  case EPERM:
    return "permission denied";
  case EISDIR:
    return "a directory";
  case ENOTDIR:
    return "a path component is not a directory";
  case ELOOP:
    return "too many symbolic links";
  case ENAMETOOLONG:
    return "path too long";
  case EAGAIN:
  case ENXIO:
    return "not a regular file (would block)";
  default:
    return "cannot be read";
  }
}

int xr_sampling_load(const char *path)
{
  struct xr_rules *rs = NULL, *old;
  char why[160];
  char *buf = NULL;
  size_t len = 0;
  int saved = errno, err, rc;

  if ((err = -xr_file_read(path, XR_RULES_FILE_MAX, &buf, &len)) > 0) {
    /* xr_log keeps it one line whatever the path holds. */
    xr_err("XRAY_AUTO_SAMPLING_RULES \"%.200s\": %s; using the default rule "
           "(1 per second, then 5 %%)",
           path, xr_file_error(err));
    rc = -err;
    goto out;
  }
  /* A file over the limit was read one byte past it: the parser says so. */
  rc = xr_rules_parse(buf, len, &rs, why, sizeof(why));
  free(buf);
  if (rc < 0) {
    xr_err("XRAY_AUTO_SAMPLING_RULES \"%.200s\": %s; the file is ignored, using the "
           "default rule (1 per second, then 5 %%)",
           path, why);
    goto out;
  }
  old = atomic_exchange_explicit(&xr_active, rs, memory_order_acq_rel);
  free(old);
  xr_info("sampling rules from \"%.200s\": %u rules and the default (version %d)",
          path, rs->nrules, rs->version);
out:
  errno = saved; /* the host's, even in the constructor */
  return rc;
}
