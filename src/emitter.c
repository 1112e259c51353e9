#include "xr_setup.h"

#include "emitter.h"

#include "clock.h"
#include "log.h"
#include "thread.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
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
/* How long the sends of a process's first resolution may wait for it: a
 * name in /etc/hosts or a nearby DNS server answers well within it, so
 * short-lived programs keep their documents; a dead or blackholed DNS
 * server (5 s per attempt) costs the host this once, never more. */
#define XR_RESOLVE_WAIT_US 50000
#define XR_TRUNCATE_MARK "...[truncated]"
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static struct xr_endpoint xr_dest_cfg;
static pthread_mutex_t xr_emit_lock = PTHREAD_MUTEX_INITIALIZER;
/* Our socket's number, -1 when we have none (emitter.h: the close hooks
 * read it). Published after xr_fd_port and xr_fd_cookie. */
atomic_int xr_emit_fd = -1;
/* Identity of our socket, written under the lock before xr_emit_fd
 * publishes it, read without the lock by the send fast path. */
static atomic_uint xr_fd_port;     /* our bound port, network order */
static atomic_ullong xr_fd_cookie; /* SO_COOKIE of our socket, 0 if unsupported */
/* Sends between their check of the number and the end of their sendto,
 * counted under the parity of the phase they saw (see "Our number and
 * the program's closes" below); each word on a cache line of its own. */
static struct {
  _Alignas(64) atomic_uint phase;
  _Alignas(64) atomic_uint inflight[2];
} xr_win;
/* The process whose descriptor table xr_emit_fd describes: a vfork child
 * runs the close hooks on our memory with a table of its own. */
static atomic_int xr_emit_pid;
static struct sockaddr_in xr_dest;
static atomic_int xr_dest_ok;          /* 1 once xr_dest is valid */
static time_t xr_dest_retry_at;        /* under xr_emit_lock */
/* A host name is resolved on a thread of ours (getaddrinfo can block for
 * seconds on the host's thread). xr_resolving: that thread runs;
 * xr_resolve_gen: bumped by configure and fork, so that the answer of a
 * thread started for another configuration or process is dropped;
 * xr_resolve_until_us: monotonic deadline until which senders wait for the
 * first resolution (0: do not wait). All under xr_emit_lock, xr_resolving
 * also read without it by the waiting senders. */
static atomic_int xr_resolving;
static unsigned xr_resolve_gen;
static int64_t xr_resolve_until_us;
static bool xr_resolve_started;

static atomic_ullong xr_n_sent, xr_n_errors, xr_n_split, xr_n_truncated,
    xr_n_dropped;
static atomic_int xr_logged_send_error, xr_logged_resolve_error;

void xr_emitter_configure(const struct xr_endpoint *udp)
{
  pthread_mutex_lock(&xr_emit_lock);
  xr_dest_cfg = *udp;
  /* Resolved again at the next send. */
  atomic_store(&xr_dest_ok, 0);
  xr_dest_retry_at = 0;
  xr_resolve_gen++;
  atomic_store(&xr_resolving, 0);
  xr_resolve_started = false;
  atomic_store(&xr_emit_pid, (int)syscall(SYS_getpid));
  pthread_mutex_unlock(&xr_emit_lock);
}

const struct xr_endpoint *xr_emitter_endpoint(void)
{
  return &xr_dest_cfg;
}

void xr_emitter_fork_child(void)
{
  pthread_mutex_init(&xr_emit_lock, NULL);
  /* The table is the child's copy, and the sends that were in flight
   * belong to threads the child does not have. */
  atomic_store(&xr_emit_pid, (int)syscall(SYS_getpid));
  atomic_store(&xr_win.inflight[0], 0);
  atomic_store(&xr_win.inflight[1], 0);
  /* The counters are this process's (xray_get_stats, the exit line): the
   * parent's sends are not the child's. */
  atomic_store(&xr_n_sent, 0);
  atomic_store(&xr_n_errors, 0);
  atomic_store(&xr_n_split, 0);
  atomic_store(&xr_n_truncated, 0);
  atomic_store(&xr_n_dropped, 0);
  /* The resolver thread did not come along: the child starts its own at
   * its next send, without waiting for it. */
  if (atomic_load(&xr_resolving)) {
    xr_resolve_gen++;
    atomic_store(&xr_resolving, 0);
    xr_dest_retry_at = 0;
  }
  xr_resolve_until_us = 0;
}

void xr_emitter_stats(struct xr_emit_stats *out)
{
  out->sent = atomic_load(&xr_n_sent);
  out->send_errors = atomic_load(&xr_n_errors);
  out->split = atomic_load(&xr_n_split);
  out->truncated = atomic_load(&xr_n_truncated);
  out->dropped = atomic_load(&xr_n_dropped);
}

/* Called with the lock held: a failed resolution is retried after
 * XR_RESOLVE_RETRY_S; one line per process says so, whatever the count. */
static void xr_resolve_failed_locked(const char *host, const char *why)
{
  xr_dest_retry_at = time(NULL) + XR_RESOLVE_RETRY_S;
  if (!atomic_exchange(&xr_logged_resolve_error, 1))
    xr_err("cannot resolve daemon host \"%s\": %s; documents are dropped (retried every %d s, "
           "not logged again)", host, why, XR_RESOLVE_RETRY_S);
}

/* The resolver thread: one getaddrinfo, its answer published under the
 * lock unless the configuration or the process changed meanwhile. */
static void *xr_resolver_main(void *arg)
{
  unsigned gen = (unsigned)(uintptr_t)arg;
  char host[XR_HOST_MAX];
  struct addrinfo hints, *res = NULL;
  struct in_addr addr = {0};
  bool ok = false;
  int rc;

  pthread_mutex_lock(&xr_emit_lock);
  memcpy(host, xr_dest_cfg.host, sizeof(host));
  pthread_mutex_unlock(&xr_emit_lock);
  host[sizeof(host) - 1] = '\0';
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc == 0 && res) {
    addr = ((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr;
    ok = true;
  }
  if (rc == 0 && res)
    freeaddrinfo(res);
  pthread_mutex_lock(&xr_emit_lock);
  if (gen == xr_resolve_gen) {
    if (ok) {
      xr_dest.sin_addr = addr;
      atomic_store(&xr_dest_ok, 1);
      xr_debug("daemon host \"%s\" resolved", host);
    } else {
      xr_resolve_failed_locked(host, rc ? gai_strerror(rc) : "no address");
    }
    atomic_store(&xr_resolving, 0);
  }
  pthread_mutex_unlock(&xr_emit_lock);
  return NULL;
}

/* Starts the resolver thread, detached, with every signal blocked so that
 * none of the host's process-directed signals is ever delivered to it.
 * Called with the lock held. 0 or a negative errno. */
static int xr_resolver_start_locked(void)
{
  int rc;

  atomic_store(&xr_resolving, 1);
  rc = xr_thread_spawn(xr_resolver_main, (void *)(uintptr_t)xr_resolve_gen);
  if (rc)
    atomic_store(&xr_resolving, 0);
  return rc;
}

/* Makes xr_dest valid; called under xr_emit_lock. Never blocks: a
 * literal is converted here, a host name is handed to the resolver thread
 * (-EAGAIN while it runs, -EHOSTUNREACH after it failed, until the next
 * retry). */
static int xr_resolve_locked(void)
{
  if (atomic_load(&xr_dest_ok))
    return 0;
  if (atomic_load(&xr_resolving))
    return -EAGAIN;
  if (time(NULL) < xr_dest_retry_at)
    return -EHOSTUNREACH;
  memset(&xr_dest, 0, sizeof(xr_dest));
  xr_dest.sin_family = AF_INET;
  xr_dest.sin_port = htons(xr_dest_cfg.port);
  if (inet_pton(AF_INET, xr_dest_cfg.host, &xr_dest.sin_addr) == 1) {
    atomic_store(&xr_dest_ok, 1);
    return 0;
  }
  if (xr_resolver_start_locked() < 0) {
    xr_resolve_failed_locked(xr_dest_cfg.host, "no thread to resolve it");
    return -EHOSTUNREACH;
  }
  if (!xr_resolve_started) {
    xr_resolve_started = true;
    xr_resolve_until_us = xr_mono_us() + XR_RESOLVE_WAIT_US;
  }
  return -EAGAIN;
}

/* While the process's first resolution is young, a sender waits for it
 * (without the lock) until its deadline; later ones never wait. */
static void xr_resolve_wait(void)
{
  int64_t until, now;
  long step_ns = 100000;

  pthread_mutex_lock(&xr_emit_lock);
  until = xr_resolve_until_us;
  pthread_mutex_unlock(&xr_emit_lock);
  while (atomic_load(&xr_resolving) && (now = xr_mono_us()) < until) {
    struct timespec ts = {0, step_ns};
    if ((until - now) * 1000 < step_ns)
      ts.tv_nsec = (long)((until - now) * 1000);
    nanosleep(&ts, NULL);
    if (step_ns < 2000000)
      step_ns *= 2;
  }
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

/* ---- Our number and the program's closes ---------------------------
 *
 * Programs close descriptors they did not open (a loop up to the rlimit,
 * close_range, a walk of /proc/self/fd, dup2 onto a number they think
 * free) and reuse the numbers at once. A sendto on a number that now names
 * a connected TCP socket ignores the address and puts the datagram into
 * that stream. So a number is only used inside a window:
 *
 *   a send:     block signals; inflight[phase & 1]++; fd = xr_emit_fd;
 *               check fd's cookie; sendto(fd); inflight[same]--; restore
 *               signals.
 *   close hooks (close, close_range, dup2, dup3): before the real call on
 *               xr_emit_fd, take the number away (xr_emit_fd = -1), then
 *               see each of the two counts at 0 once.
 *
 * Each side writes, then reads the other's word (all seq_cst): a send
 * either loads -1, or was counted before the hook reads the counts, and a
 * count it is in cannot be 0 before it leaves. The hook advances the phase
 * before each wait, so that sends starting meanwhile count in the other
 * word and the one waited for only drains, however busy the senders. A
 * send waited for is two non-blocking system calls (getsockopt, a
 * MSG_DONTWAIT sendto): nothing else happens in the window.
 * Signals are blocked there with a raw rt_sigprocmask (glibc's own
 * cancellation signal included), so a signal handler never runs on a
 * thread inside its window: a close from a handler never waits for its
 * own thread, and no thread is cancelled holding a count. The wait spins,
 * then sleeps (nanosleep, async-signal-safe); it gives up after ten
 * seconds, which only a sender frozen in its window (a debugger) can
 * cause, and says so in one line after one.
 * Why a mask (two system calls per send, about 0.3 us) and not a
 * thread-local "in my window" mark that the drain would skip for its own
 * thread (issue 7 measured and rejected it): the mark would remove the
 * deadlock, but (1) a handler that interrupts a send between its cookie
 * check and its sendto, closes our number and connects a stream socket on
 * it (what test_close_from_signal_handler does) would have that send's
 * datagram land in the stream when it returns: the check and the sendto
 * cannot be made one step without blocking the handler (or restartable
 * sequences); (2) a handler that leaves by siglongjmp, or a cancellation
 * acting inside the window, would leave the count raised for good, and
 * every later close of our number would wait the full ten seconds.
 * A vfork child has its own table and our memory: its closes change
 * nothing here. A fork child starts with no send in flight.
 *
 * After the real call, the hook looks again (xr_emitter_closed): a send
 * may have created and published a socket while the call ran. If the call
 * closed it, its cookie no longer matches: it is taken away and waited
 * for, as above; a socket created after the call freed the number stays.
 * A failed dup2/dup3/close_range leaves our socket where it was: taken
 * back.
 *
 * What remains. Closes that bypass the hooks (syscall(SYS_close) or
 * syscall(SYS_close_range), fclose of a FILE opened on our number; glibc's
 * closefrom calls close_range inside libc, so it has a hook of its own)
 * are caught by the
 * cookie check alone: a number closed and reused for a connected TCP
 * socket between a send's check and its sendto (about a microsecond,
 * unless the sender is preempted right there) receives that one datagram.
 * Through the hooks, that window remains only for a close that runs while
 * our socket is being created, closes it, and whose number a third thread
 * connects before the close hook has returned.
 */

#define XR_DRAIN_SPINS 256
#define XR_DRAIN_SLEEP_MIN_NS 10000L
#define XR_DRAIN_SLEEP_MAX_NS 1000000L
#define XR_DRAIN_SLOW_NS 1000000000LL
#define XR_DRAIN_GIVE_UP_NS 10000000000LL

static atomic_int xr_logged_slow_drain;

static bool xr_emit_owner(void)
{
  return (int)syscall(SYS_getpid) == atomic_load(&xr_emit_pid);
}

/* Returns the count the send is in. */
static unsigned xr_window_open(sigset_t *saved)
{
  sigset_t all;
  unsigned p;

  memset(&all, 0xff, sizeof(all));
  (void)syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, (size_t)(_NSIG / 8));
  p = atomic_load(&xr_win.phase) & 1;
  atomic_fetch_add(&xr_win.inflight[p], 1);
  return p;
}

static void xr_window_close(unsigned p, const sigset_t *saved)
{
  atomic_fetch_sub(&xr_win.inflight[p], 1);
  (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, saved, NULL, (size_t)(_NSIG / 8));
}

static inline void xr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Returns once every send that was in its window when called has left
 * it, or after ten seconds. A sender running on another CPU leaves in
 * microseconds (spin); one that is not running needs this CPU or another
 * (sleep, never sched_yield, which on a busy machine hands the CPU to
 * anything for a whole time slice). Past a second, one line says so. */
static void xr_emit_drain(void)
{
  bool seen[2] = {false, false};
  long long slept = 0;
  long step = XR_DRAIN_SLEEP_MIN_NS;
  unsigned spins = 0, p;

  while (!seen[0] || !seen[1]) {
    p = atomic_fetch_add(&xr_win.phase, 1) & 1;
    while (atomic_load(&xr_win.inflight[p]) != 0) {
      struct timespec ts = {0, step};
      if (spins++ < XR_DRAIN_SPINS) {
        xr_cpu_relax();
        continue;
      }
      if (slept >= XR_DRAIN_GIVE_UP_NS)
        return;
      if (slept >= XR_DRAIN_SLOW_NS && !atomic_exchange(&xr_logged_slow_drain, 1))
        xr_warn("a close of the daemon socket's number waits for a send that has "
                "not finished for a second (a thread stopped by a debugger?); it "
                "goes ahead after ten");
      (void)syscall(SYS_nanosleep, &ts, NULL);
      slept += step;
      if (step < XR_DRAIN_SLEEP_MAX_NS)
        step *= 2;
    }
    seen[p] = true;
  }
}

void xr_emitter_closing(int fd)
{
  int err = errno, expect = fd;

  if (fd < 0 || !xr_emit_owner())
    return;
  (void)atomic_compare_exchange_strong(&xr_emit_fd, &expect, -1);
  /* Also when another close took it first: ours may be the one that
   * frees the number. */
  xr_emit_drain();
  errno = err;
}

void xr_emitter_closed(int fd)
{
  int err = errno, cur, none = -1;

  if (fd < 0 || !xr_emit_owner())
    return;
  cur = atomic_load(&xr_emit_fd);
  if (cur == fd) {
    if (!xr_fd_is_ours(fd)) {
      (void)atomic_compare_exchange_strong(&xr_emit_fd, &cur, -1);
      xr_emit_drain();
    }
  } else if (cur == -1 && xr_fd_is_ours(fd)) {
    (void)atomic_compare_exchange_strong(&xr_emit_fd, &none, fd);
  }
  errno = err;
}

/* Creates our socket and publishes its number; under xr_emit_lock. The
 * number is the program's to close from the moment socket() returns it:
 * what is found there when we ask for its identity may already be a
 * socket of the program's, and a stream socket there is never adopted
 * (nor closed). */
static int xr_socket_create_locked(void)
{
  struct sockaddr_in any;
  socklen_t slen = sizeof(any), clen = sizeof(uint64_t), tlen = sizeof(int);
  uint64_t cookie = 0;
  int fd, type = 0;

  fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (xr_sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen) < 0)
    cookie = 0;
  memset(&any, 0, sizeof(any));
  any.sin_family = AF_INET;
  /* No cookie (Linux before 4.12): the bound port identifies it. */
  if (!cookie && (bind(fd, (struct sockaddr *)&any, sizeof(any)) < 0 ||
                  getsockname(fd, (struct sockaddr *)&any, &slen) < 0)) {
    int e = errno;
    xr_sys_close(fd);
    return -e;
  }
  if (xr_sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_DGRAM)
    return -EBADF;
  atomic_store(&xr_fd_port, any.sin_port);
  atomic_store(&xr_fd_cookie, cookie);
  atomic_store(&xr_emit_fd, fd);
  return fd;
}

/* The slow path: the destination resolved (waiting for the process's
 * first resolution while it is young) and a socket published. */
static int xr_prepare(void)
{
  int rc, fd;

  pthread_mutex_lock(&xr_emit_lock);
  rc = xr_resolve_locked();
  if (rc == -EAGAIN) {
    pthread_mutex_unlock(&xr_emit_lock);
    xr_resolve_wait();
    pthread_mutex_lock(&xr_emit_lock);
    rc = atomic_load(&xr_dest_ok) ? 0 : -EAGAIN;
  }
  if (rc == 0 && atomic_load(&xr_emit_fd) < 0 && (fd = xr_socket_create_locked()) < 0)
    rc = fd;
  pthread_mutex_unlock(&xr_emit_lock);
  return rc;
}

/* buf holds the header and body already; len is the whole datagram. */
static int xr_send_datagram(const char *buf, size_t len)
{
  sigset_t saved;
  int fd, rc = 0, err = 0, tries;
  unsigned p;
  ssize_t n;

  for (tries = 0; tries < 2; tries++) {
    /* The lock only guards resolving and creating. */
    if (XR_UNLIKELY(!atomic_load(&xr_dest_ok) || atomic_load(&xr_emit_fd) < 0) &&
        (rc = xr_prepare()) < 0)
      goto fail;
    p = xr_window_open(&saved);
    fd = atomic_load(&xr_emit_fd);
    if (XR_LIKELY(fd >= 0 && xr_fd_is_ours(fd))) {
      n = syscall(SYS_sendto, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                  (const struct sockaddr *)&xr_dest, sizeof(xr_dest));
      err = errno;
      xr_window_close(p, &saved);
      if (n < 0) {
        rc = -err;
        goto fail;
      }
      atomic_fetch_add(&xr_n_sent, 1);
      return 0;
    }
    xr_window_close(p, &saved);
    /* Closed where no hook saw it, maybe reused: forget the number (never
     * close it) and make another socket. */
    if (fd >= 0)
      (void)atomic_compare_exchange_strong(&xr_emit_fd, &fd, -1);
  }
  rc = -EBADF;
fail:
  atomic_fetch_add(&xr_n_errors, 1);
  if (rc != -EHOSTUNREACH && rc != -EAGAIN && !atomic_exchange(&xr_logged_send_error, 1))
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
