#include "xr_setup.h"

#include "emitter.h"

#include "log.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Our own socket traffic goes around libc's exported entry points, which
 * the sockets layer interposes: the daemon's datagrams must never reach a
 * hook, whatever the calling thread's depth. */
static int xr_sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
  return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}

static void xr_sys_close(int fd)
{
  (void)syscall(SYS_close, fd);
}

#define XR_BODY_MAX (XR_DATAGRAM_MAX - XR_PROTOCOL_HEADER_LEN)
#define XR_SMALL_BUF 4096
#define XR_RESOLVE_RETRY_S 10
#define XR_TRUNCATE_MARK "...[truncated]"
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static struct xr_endpoint xr_dest_cfg;
static pthread_mutex_t xr_emit_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int xr_fd = -1;
/* Identity of our socket, written under the lock before xr_fd publishes
 * it, read without the lock by the send fast path. */
static atomic_uint xr_fd_port;     /* our bound port, network order */
static atomic_ullong xr_fd_cookie; /* SO_COOKIE of our socket, 0 if unsupported */
static struct sockaddr_in xr_dest;
static atomic_int xr_dest_ok;          /* 1 once xr_dest is valid */
static time_t xr_dest_retry_at;        /* under xr_emit_lock */

static atomic_ullong xr_n_sent, xr_n_errors, xr_n_split, xr_n_truncated,
    xr_n_dropped;
static atomic_int xr_logged_send_error;

void xr_emitter_configure(const struct xr_endpoint *udp)
{
  pthread_mutex_lock(&xr_emit_lock);
  xr_dest_cfg = *udp;
  /* Resolved again at the next send. */
  atomic_store(&xr_dest_ok, 0);
  xr_dest_retry_at = 0;
  pthread_mutex_unlock(&xr_emit_lock);
}

const struct xr_endpoint *xr_emitter_endpoint(void)
{
  return &xr_dest_cfg;
}

void xr_emitter_fork_child(void)
{
  pthread_mutex_init(&xr_emit_lock, NULL);
}

void xr_emitter_stats(struct xr_emit_stats *out)
{
  out->sent = atomic_load(&xr_n_sent);
  out->send_errors = atomic_load(&xr_n_errors);
  out->split = atomic_load(&xr_n_split);
  out->truncated = atomic_load(&xr_n_truncated);
  out->dropped = atomic_load(&xr_n_dropped);
}

/* Resolves the daemon address; called under xr_emit_lock. Blocks on DNS
 * only when a host name (not a literal) is configured, once. */
static int xr_resolve_locked(void)
{
  struct addrinfo hints, *res = NULL;
  time_t now = time(NULL);
  int rc;

  if (atomic_load(&xr_dest_ok))
    return 0;
  if (now < xr_dest_retry_at)
    return -EAGAIN;
  memset(&xr_dest, 0, sizeof(xr_dest));
  xr_dest.sin_family = AF_INET;
  xr_dest.sin_port = htons(xr_dest_cfg.port);
  if (inet_pton(AF_INET, xr_dest_cfg.host, &xr_dest.sin_addr) == 1) {
    atomic_store(&xr_dest_ok, 1);
    return 0;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  rc = getaddrinfo(xr_dest_cfg.host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    xr_dest_retry_at = now + XR_RESOLVE_RETRY_S;
    xr_err("cannot resolve daemon host \"%s\": %s; documents are dropped",
           xr_dest_cfg.host, gai_strerror(rc));
    return -EHOSTUNREACH;
  }
  xr_dest.sin_addr = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  atomic_store(&xr_dest_ok, 1);
  return 0;
}

/* True when fd is still the UDP socket we created: same type and bound
 * port. A program may have closed it and reused the number for a stream. */
static bool xr_fd_is_ours(int fd)
{
  struct sockaddr_in sa;
  socklen_t slen = sizeof(sa);
  int type = 0;
  socklen_t tlen = sizeof(type);
  uint64_t cookie = 0, ours = atomic_load(&xr_fd_cookie);
  socklen_t clen = sizeof(cookie);

  /* One system call: a socket cookie is unique for the life of the boot. */
  if (ours)
    return xr_sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen) == 0 &&
           cookie == ours;

  if (xr_sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
      type != SOCK_DGRAM)
    return false;
  if (getsockname(fd, (struct sockaddr *)&sa, &slen) < 0 ||
      sa.sin_family != AF_INET)
    return false;
  return sa.sin_port == atomic_load(&xr_fd_port);
}

static int xr_socket_locked(void)
{
  struct sockaddr_in any;
  socklen_t slen = sizeof(any);
  int fd = atomic_load(&xr_fd);

  if (fd >= 0 && xr_fd_is_ours(fd))
    return fd;
  /* Never close a number that is no longer ours: forget it. */
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  memset(&any, 0, sizeof(any));
  any.sin_family = AF_INET;
  if (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0 ||
      getsockname(fd, (struct sockaddr *)&any, &slen) < 0) {
    int e = errno;
    xr_sys_close(fd);
    return -e;
  }
  atomic_store(&xr_fd_port, any.sin_port);
  {
    uint64_t cookie = 0;
    socklen_t clen = sizeof(cookie);
    atomic_store(&xr_fd_cookie,
                 xr_sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen) == 0 ? cookie : 0);
  }
  atomic_store(&xr_fd, fd);
  return fd;
}

/* buf holds the header and body already; len is the whole datagram. */
static int xr_send_datagram(const char *buf, size_t len)
{
  int fd = atomic_load(&xr_fd), rc = 0;
  ssize_t n;

  /* Fast path, no lock: destination resolved and the socket still ours
   * (one getsockopt). The lock only guards creating and resolving. */
  if (!atomic_load(&xr_dest_ok) || fd < 0 || !xr_fd_is_ours(fd)) {
    pthread_mutex_lock(&xr_emit_lock);
    rc = xr_resolve_locked();
    if (rc == 0) {
      fd = xr_socket_locked();
      if (fd < 0)
        rc = fd;
    }
    pthread_mutex_unlock(&xr_emit_lock);
    if (rc < 0)
      goto fail;
  }
  n = syscall(SYS_sendto, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
              (const struct sockaddr *)&xr_dest, sizeof(xr_dest));
  if (n < 0) {
    rc = -errno;
    goto fail;
  }
  atomic_fetch_add(&xr_n_sent, 1);
  return 0;
fail:
  atomic_fetch_add(&xr_n_errors, 1);
  if (rc != -EHOSTUNREACH && !atomic_exchange(&xr_logged_send_error, 1))
    xr_warn("sending to the daemon failed: %s (counted, not retried)",
            strerror(-rc));
  return rc;
}

int xr_emit_body(const char *body, size_t len)
{
  char small[XR_SMALL_BUF];
  char *buf = small;
  int rc;

  if (len > XR_BODY_MAX)
    return -EMSGSIZE;
  if (len + XR_PROTOCOL_HEADER_LEN > sizeof(small)) {
    buf = malloc(len + XR_PROTOCOL_HEADER_LEN);
    if (!buf)
      return -ENOMEM;
  }
  memcpy(buf, XR_PROTOCOL_HEADER, XR_PROTOCOL_HEADER_LEN);
  memcpy(buf + XR_PROTOCOL_HEADER_LEN, body, len);
  rc = xr_send_datagram(buf, len + XR_PROTOCOL_HEADER_LEN);
  if (buf != small)
    free(buf);
  return rc;
}

/* Longest string value in the tree (keys excluded), or NULL. */
static cJSON *xr_longest_string(cJSON *node, size_t *best_len, cJSON *best)
{
  cJSON *c;
  for (c = node ? node->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c) && c->valuestring) {
      size_t n = strlen(c->valuestring);
      if (n > *best_len) {
        *best_len = n;
        best = c;
      }
    } else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
      best = xr_longest_string(c, best_len, best);
    }
  }
  return best;
}

static bool xr_print_into(cJSON *json, char *buf, size_t max)
{
  /* cJSON may need a few spare bytes to succeed (its documentation). */
  return cJSON_PrintPreallocated(json, buf, (int)max - 5, 0) && strlen(buf) <= max;
}

int xr_serialize_fit(cJSON *json, char *buf, size_t max, bool *truncated)
{
  cJSON *copy = NULL, *meta, *mark;
  char *whole = NULL;
  size_t original = 0;
  int rounds, rc = -EMSGSIZE;

  *truncated = false;
  if (xr_print_into(json, buf, max + 5)) {
    xr_utf8_scrub(buf, strlen(buf));
    return (int)strlen(buf);
  }
  /* Rare path: shrink a private deep copy (references resolved). */
  copy = cJSON_Duplicate(json, 1);
  whole = cJSON_PrintUnformatted(json);
  if (!copy || !whole) {
    rc = -ENOMEM;
    goto out;
  }
  original = strlen(whole);
  meta = cJSON_GetObjectItemCaseSensitive(copy, "metadata");
  if (!meta)
    meta = cJSON_AddObjectToObject(copy, "metadata");
  mark = meta ? cJSON_AddObjectToObject(meta, "xray_auto") : NULL;
  if (!mark) {
    rc = -ENOMEM;
    goto out;
  }
  cJSON_AddTrueToObject(mark, "truncated");
  cJSON_AddNumberToObject(mark, "original_bytes", (double)original);
  for (rounds = 0; rounds < 256; rounds++) {
    size_t len = 0, keep;
    cJSON *s;
    char *cut;
    if (xr_print_into(copy, buf, max + 5)) {
      *truncated = true;
      rc = (int)strlen(buf);
      xr_utf8_scrub(buf, (size_t)rc);
      goto out;
    }
    s = xr_longest_string(copy, &len, NULL);
    if (!s || len <= 64)
      break;
    keep = len / 2;
    cut = malloc(keep + sizeof(XR_TRUNCATE_MARK));
    if (!cut) {
      rc = -ENOMEM;
      goto out;
    }
    /* Never split a UTF-8 sequence: back off to a lead byte. */
    while (keep && ((unsigned char)s->valuestring[keep] & 0xc0) == 0x80)
      keep--;
    memcpy(cut, s->valuestring, keep);
    memcpy(cut + keep, XR_TRUNCATE_MARK, sizeof(XR_TRUNCATE_MARK));
    cJSON_free(s->valuestring);
    s->valuestring = cut;
  }
  /* Still too big (thousands of small values): keep the skeleton only. */
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "annotations");
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "cause");
  cJSON_DeleteItemFromObjectCaseSensitive(copy, "sql");
  meta = cJSON_GetObjectItemCaseSensitive(copy, "metadata");
  if (meta) {
    cJSON *c = meta->child;
    while (c) {
      cJSON *next = c->next;
      if (strcmp(c->string, "xray_auto") != 0)
        cJSON_DeleteItemFromObjectCaseSensitive(meta, c->string);
      c = next;
    }
  }
  if (xr_print_into(copy, buf, max + 5)) {
    *truncated = true;
    rc = (int)strlen(buf);
    xr_utf8_scrub(buf, (size_t)rc);
  }
out:
  cJSON_Delete(copy);
  cJSON_free(whole);
  return rc;
}

/* The rare path: a document that does not fit even alone, cut to size. */
static int xr_emit_truncated(const struct xr_entity *e, bool independent, char *buf)
{
  cJSON *json = xr_entity_to_json(e, independent, false);
  bool truncated = false;
  int n;

  if (!json) {
    atomic_fetch_add(&xr_n_dropped, 1);
    return -ENOMEM;
  }
  n = xr_serialize_fit(json, buf + XR_PROTOCOL_HEADER_LEN, XR_BODY_MAX, &truncated);
  cJSON_Delete(json);
  if (n < 0) {
    atomic_fetch_add(&xr_n_dropped, 1);
    return n;
  }
  if (truncated) {
    atomic_fetch_add(&xr_n_truncated, 1);
    xr_warn("a document over %d bytes was truncated to fit one datagram",
            XR_DATAGRAM_MAX);
  }
  return xr_send_datagram(buf, (size_t)n + XR_PROTOCOL_HEADER_LEN);
}

int xr_emit_entity(const struct xr_entity *e, bool independent)
{
  char small[XR_SMALL_BUF];
  char *buf = small;
  const struct xr_entity *c;
  int n, rc;

  memcpy(small, XR_PROTOCOL_HEADER, XR_PROTOCOL_HEADER_LEN);
  /* Common case: a few hundred bytes, written on the stack. */
  n = xr_entity_write(e, independent, true, small + XR_PROTOCOL_HEADER_LEN,
                      sizeof(small) - XR_PROTOCOL_HEADER_LEN - XR_WRITE_SLACK);
  if (n >= 0)
    return xr_send_datagram(small, (size_t)n + XR_PROTOCOL_HEADER_LEN);
  buf = malloc(XR_DATAGRAM_MAX + XR_WRITE_SLACK);
  if (!buf) {
    atomic_fetch_add(&xr_n_dropped, 1);
    return -ENOMEM;
  }
  memcpy(buf, XR_PROTOCOL_HEADER, XR_PROTOCOL_HEADER_LEN);
  n = xr_entity_write(e, independent, true, buf + XR_PROTOCOL_HEADER_LEN, XR_BODY_MAX);
  if (n >= 0) {
    rc = xr_send_datagram(buf, (size_t)n + XR_PROTOCOL_HEADER_LEN);
    goto out;
  }
  if (e->children) {
    /* Too big with its children: each child (a finished subtree) goes as
     * an independent subsegment of e, then e alone. */
    atomic_fetch_add(&xr_n_split, 1);
    for (c = e->children; c; c = c->next) {
      struct xr_entity tmp = *c;
      memcpy(tmp.trace_id, e->trace_id, sizeof(tmp.trace_id));
      memcpy(tmp.parent_id, e->id, sizeof(tmp.parent_id));
      (void)xr_emit_entity(&tmp, true);
    }
    n = xr_entity_write(e, independent, false, buf + XR_PROTOCOL_HEADER_LEN, XR_BODY_MAX);
    if (n >= 0) {
      rc = xr_send_datagram(buf, (size_t)n + XR_PROTOCOL_HEADER_LEN);
      goto out;
    }
  }
  rc = xr_emit_truncated(e, independent, buf);
out:
  free(buf);
  return rc;
}
