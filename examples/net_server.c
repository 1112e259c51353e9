/*
 * net_server - a small HTTP/1.1 server written on plain sockets, used by the
 * integration tests of the sockets layer and as a demo.  It knows nothing
 * about libxray-auto.so: under LD_PRELOAD each request it serves becomes a
 * segment, and the outbound call of /call becomes a subsegment of it.
 *
 * Usage:
 *   net_server [--port N] [--fork] [--chunk N] [--io recv|read|msg]
 *              [--downstream HOST:PORT]
 *
 *   --port N        listen on 127.0.0.1:N (default 0: an ephemeral port)
 *   --fork          one process per connection (fork after accept; the child
 *                   serves the connection and _exit()s); default: one thread
 *                   per connection
 *   --chunk N       read requests with reads of at most N bytes (default 7),
 *                   so that request heads arrive split across many reads
 *   --io MODE       the calls that carry the bytes, for the served connections
 *                   and /call's: recv  recv(), and send() for the head then the
 *                   body (default); read  read(), and one writev() of head +
 *                   body; msg  recvmsg(), and one sendmsg() of head + body
 *   --downstream H:P  where /call sends its GET (host name or address, port)
 *
 * Prints "PORT <n>" on stdout once listening.  SIGTERM or SIGINT: stop
 * accepting, end the open connections (threads are joined, children are
 * signalled and reaped) and exit 0.
 *
 * Routes (any method; HEAD gets the head only; the query is ignored except
 * for /call's to=):
 *   /hello          200 "hello\n"
 *   /missing        404 "missing\n"
 *   /boom           500 "boom\n"
 *   /big            200 with 100000 bytes
 *   /chunked        200 "Transfer-Encoding: chunked", 3 chunks, each written
 *                   on its own (the decoded body is 35 bytes)
 *   /nocontent      204, no body, no Content-Length
 *   /notmodified    304 with "Content-Length: 6" (the GET's size), no body
 *   /eof            200 "until the end\n" without Content-Length, delimited by
 *                   closing the connection
 *   /call?to=PATH   GET http://HOST:PORT/PATH (default /ok) on a new
 *                   connection (getaddrinfo, connect, send, recv until the
 *                   peer closes); answers 200 "downstream <status> <bytes>\n",
 *                   or 502 when the call failed
 *   anything else   404 "not found\n"
 *
 * Connections are HTTP/1.1 keep-alive (HTTP/1.0: close unless the client
 * asks for keep-alive; "Connection: close" is honoured); request bodies are
 * read by Content-Length and dropped; pipelined requests are answered in
 * order.  Responses carry Content-Length except /chunked, /nocontent and /eof.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 2 on usage errors, 1 on setup errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define HEAD_MAX 16384
#define DOWNSTREAM_MAX 65536
#define BIG_SIZE 100000

enum io_mode { IO_RECV, IO_READ, IO_MSG };

struct options {
  int port;
  bool fork_mode;
  size_t chunk;
  enum io_mode io;
  char down_host[256];
  char down_port[16];
};

static struct options opt = {0, false, 7, IO_RECV, "", ""};

/* How a response is framed. */
enum framing {
  FRAME_LENGTH,      /* Content-Length + body */
  FRAME_CHUNKED,     /* Transfer-Encoding: chunked */
  FRAME_NONE,        /* neither header, no body (204) */
  FRAME_LENGTH_ONLY, /* Content-Length of the body, but no body (304) */
  FRAME_EOF          /* body up to the connection's close */
};

static const char *const chunks[] = {"first chunk\n", "second\n", "the third chunk\n"};

/* Self-pipe: the signal handler writes a byte, the accept loop polls it. */
static int stop_pipe[2] = {-1, -1};

/* Thread mode: the connections being served, so that shutdown can end them. */
struct conn {
  pthread_t tid;
  int fd; /* -1 once the thread closed it */
  atomic_bool done;
  struct conn *next;
};
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn *conns;

/* Fork mode: the children serving connections. */
static pid_t *children;
static size_t n_children, cap_children;

struct request {
  char method[16];
  char path[1024];  /* without the query */
  char query[1024]; /* without the '?' */
  int minor;        /* HTTP/1.<minor> */
  long long content_length;
  bool close;      /* Connection: close */
  bool keep_alive; /* Connection: keep-alive */
  bool chunked;    /* Transfer-Encoding: chunked (not supported: 501) */
};

static void on_stop(int sig)
{
  int saved = errno;
  char c = (char)sig;
  ssize_t r = write(stop_pipe[1], &c, 1);
  (void)r;
  errno = saved;
}

/* One read with the call of --io. */
static ssize_t io_in(int fd, void *buf, size_t n)
{
  switch (opt.io) {
  case IO_READ:
    return read(fd, buf, n);
  case IO_MSG: {
    struct iovec iov;
    struct msghdr m;
    iov.iov_base = buf;
    iov.iov_len = n;
    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return recvmsg(fd, &m, 0);
  }
  case IO_RECV:
  default:
    return recv(fd, buf, n, 0);
  }
}

/* Writes a then b completely with the call(s) of --io: send() each (two
 * calls), or one writev()/sendmsg() of both (more after a partial write). */
static int io_out(int fd, const char *a, size_t an, const char *b, size_t bn)
{
  struct iovec iov[2];
  int cnt = 0;

  if (an > 0) {
    iov[cnt].iov_base = (void *)(uintptr_t)a;
    iov[cnt++].iov_len = an;
  }
  if (bn > 0) {
    iov[cnt].iov_base = (void *)(uintptr_t)b;
    iov[cnt++].iov_len = bn;
  }
  for (int i = 0; i < cnt;) {
    ssize_t w;
    if (opt.io == IO_RECV) {
      w = send(fd, iov[i].iov_base, iov[i].iov_len, MSG_NOSIGNAL);
    } else if (opt.io == IO_READ) {
      w = writev(fd, iov + i, cnt - i);
    } else {
      struct msghdr m;
      memset(&m, 0, sizeof(m));
      m.msg_iov = iov + i;
      m.msg_iovlen = (size_t)(cnt - i);
      w = sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    while (i < cnt && (size_t)w >= iov[i].iov_len) {
      w -= (ssize_t)iov[i].iov_len;
      i++;
    }
    if (i < cnt) {
      iov[i].iov_base = (char *)iov[i].iov_base + w;
      iov[i].iov_len -= (size_t)w;
    }
  }
  return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
  return io_out(fd, p, n, NULL, 0);
}

/* Finds the end of a head ("\r\n\r\n"); returns its length or 0. */
static size_t head_length(const char *buf, size_t len)
{
  for (size_t i = 3; i < len; i++)
    if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
      return i + 1;
  return 0;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t n)
{
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static bool has_token(const char *v, size_t n, const char *token)
{
  size_t t = strlen(token);
  for (size_t i = 0; i + t <= n; i++)
    if (strncasecmp(v + i, token, t) == 0)
      return true;
  return false;
}

/* Parses a head of `len` bytes (ending with an empty line); -1 if malformed. */
static int parse_head(const char *buf, size_t len, struct request *rq)
{
  const char *end = buf + len;
  const char *line_end = memchr(buf, '\r', len);
  const char *sp1, *sp2, *q;

  memset(rq, 0, sizeof(*rq));
  if (!line_end)
    return -1;
  sp1 = memchr(buf, ' ', (size_t)(line_end - buf));
  if (!sp1 || sp1 == buf)
    return -1;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1));
  if (!sp2 || sp2 == sp1 + 1)
    return -1;
  if (line_end - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
    return -1;
  rq->minor = sp2[8] - '0';
  if (rq->minor < 0 || rq->minor > 9)
    return -1;
  copy_field(rq->method, sizeof(rq->method), buf, (size_t)(sp1 - buf));
  q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
  if (q) {
    copy_field(rq->path, sizeof(rq->path), sp1 + 1, (size_t)(q - sp1 - 1));
    copy_field(rq->query, sizeof(rq->query), q + 1, (size_t)(sp2 - q - 1));
  } else {
    copy_field(rq->path, sizeof(rq->path), sp1 + 1, (size_t)(sp2 - sp1 - 1));
  }

  for (const char *p = line_end + 2; p < end;) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    const char *colon, *v;
    size_t name_len, vlen;
    if (!eol || eol == p)
      break; /* the empty line */
    colon = memchr(p, ':', (size_t)(eol - p));
    if (!colon)
      return -1;
    name_len = (size_t)(colon - p);
    v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t'))
      v++;
    vlen = (size_t)(eol - v);
    if (name_len == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
      char num[32];
      char *stop;
      copy_field(num, sizeof(num), v, vlen);
      rq->content_length = strtoll(num, &stop, 10);
      if (stop == num || rq->content_length < 0)
        return -1;
    } else if (name_len == 10 && strncasecmp(p, "Connection", 10) == 0) {
      if (has_token(v, vlen, "close"))
        rq->close = true;
      if (has_token(v, vlen, "keep-alive"))
        rq->keep_alive = true;
    } else if (name_len == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
      if (has_token(v, vlen, "chunked"))
        rq->chunked = true;
    }
    p = eol + 2;
  }
  return 0;
}

/* The value of `name` in a query string "a=1&b=2", or NULL. */
static const char *query_param(const char *query, const char *name, char *out, size_t cap)
{
  size_t n = strlen(name);
  for (const char *p = query; *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      copy_field(out, cap, p + n + 1, len - n - 1);
      return out;
    }
    if (!amp)
      break;
    p = amp + 1;
  }
  return NULL;
}

/* GET http://<downstream><path> on a new connection, read until the peer
 * closes. Returns the status (and the body size in *body), or -1 with errno. */
static int downstream_get(const char *path, size_t *body)
{
  struct addrinfo hints, *res = NULL, *ai;
  char req[1536];
  char *buf;
  size_t have = 0, head;
  int fd = -1, rc, status = -1, err = 0;

  *body = 0;
  if (!opt.down_host[0]) {
    errno = EDESTADDRREQ;
    return -1;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(opt.down_host, opt.down_port, &hints, &res);
  if (rc != 0) {
    errno = EHOSTUNREACH;
    return -1;
  }
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
      break;
    err = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    errno = err ? err : ECONNREFUSED;
    return -1;
  }

  rc = snprintf(req, sizeof(req),
                "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: net_server/1\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n",
                path, opt.down_host, opt.down_port);
  if (rc < 0 || (size_t)rc >= sizeof(req) || send_all(fd, req, (size_t)rc) < 0) {
    err = rc < 0 || (size_t)rc >= sizeof(req) ? ENAMETOOLONG : errno;
    close(fd);
    errno = err;
    return -1;
  }
  buf = malloc(DOWNSTREAM_MAX);
  if (!buf) {
    close(fd);
    errno = ENOMEM;
    return -1;
  }
  for (;;) {
    char tmp[4096];
    ssize_t n = io_in(fd, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0)
      break;
    if (have < DOWNSTREAM_MAX) {
      size_t take = (size_t)n < DOWNSTREAM_MAX - have ? (size_t)n : DOWNSTREAM_MAX - have;
      memcpy(buf + have, tmp, take);
    }
    have += (size_t)n;
  }
  close(fd);
  head = head_length(buf, have < DOWNSTREAM_MAX ? have : DOWNSTREAM_MAX);
  if (head >= 12 && strncmp(buf, "HTTP/1.", 7) == 0 && buf[8] == ' ') {
    status = atoi(buf + 9);
    *body = have - head;
  } else {
    err = err ? err : EPROTO;
  }
  free(buf);
  if (status < 0)
    errno = err;
  return status;
}

static const char *reason(int status)
{
  switch (status) {
  case 200:
    return "OK";
  case 204:
    return "No Content";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  default:
    return "Unknown";
  }
}

/* Sends one response: head and body (see io_out), or for /chunked the head
 * and each chunk with calls of their own. */
static int respond(int fd, int status, enum framing framing, const char *body, size_t blen,
                   bool head_only, bool close_conn)
{
  char head[512];
  char length[64] = "";
  int n;

  if (framing == FRAME_LENGTH || framing == FRAME_LENGTH_ONLY)
    snprintf(length, sizeof(length), "Content-Length: %zu\r\n", blen);
  else if (framing == FRAME_CHUNKED)
    snprintf(length, sizeof(length), "Transfer-Encoding: chunked\r\n");
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 %d %s\r\nServer: net_server/1\r\nContent-Type: text/plain\r\n"
               "%s%s\r\n",
               status, reason(status), length, close_conn ? "Connection: close\r\n" : "");
  if (n < 0 || (size_t)n >= sizeof(head))
    return -1;
  if (head_only || framing == FRAME_NONE || framing == FRAME_LENGTH_ONLY)
    return send_all(fd, head, (size_t)n);
  if (framing == FRAME_LENGTH || framing == FRAME_EOF)
    return io_out(fd, head, (size_t)n, body, blen);
  if (send_all(fd, head, (size_t)n) < 0)
    return -1;
  for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
    char piece[128];
    int m = snprintf(piece, sizeof(piece), "%zx\r\n%s\r\n", strlen(chunks[i]), chunks[i]);
    if (m < 0 || (size_t)m >= sizeof(piece) || send_all(fd, piece, (size_t)m) < 0)
      return -1;
  }
  return send_all(fd, "0\r\n\r\n", 5);
}

/* An error answer that closes the connection. */
static int respond_text(int fd, int status, const char *text)
{
  return respond(fd, status, FRAME_LENGTH, text, strlen(text), false, true);
}

struct answer {
  int status;
  enum framing framing;
  const char *body; /* text, or big_body */
  size_t blen;
  char text[1024];
};

static char big_body[BIG_SIZE];

static void route(const struct request *rq, struct answer *a)
{
  a->framing = FRAME_LENGTH;
  a->body = a->text;
  if (strcmp(rq->path, "/hello") == 0) {
    a->status = 200;
    snprintf(a->text, sizeof(a->text), "hello\n");
  } else if (strcmp(rq->path, "/missing") == 0) {
    a->status = 404;
    snprintf(a->text, sizeof(a->text), "missing\n");
  } else if (strcmp(rq->path, "/boom") == 0) {
    a->status = 500;
    snprintf(a->text, sizeof(a->text), "boom\n");
  } else if (strcmp(rq->path, "/big") == 0) {
    a->status = 200;
    a->body = big_body;
    a->blen = sizeof(big_body);
    return;
  } else if (strcmp(rq->path, "/chunked") == 0) {
    a->status = 200;
    a->framing = FRAME_CHUNKED;
    a->text[0] = '\0';
  } else if (strcmp(rq->path, "/nocontent") == 0) {
    a->status = 204;
    a->framing = FRAME_NONE;
    a->text[0] = '\0';
  } else if (strcmp(rq->path, "/notmodified") == 0) {
    a->status = 304;
    a->framing = FRAME_LENGTH_ONLY;
    snprintf(a->text, sizeof(a->text), "hello\n");
  } else if (strcmp(rq->path, "/eof") == 0) {
    a->status = 200;
    a->framing = FRAME_EOF;
    snprintf(a->text, sizeof(a->text), "until the end\n");
  } else if (strcmp(rq->path, "/call") == 0) {
    char to[512];
    size_t got;
    int st;
    if (!query_param(rq->query, "to", to, sizeof(to)) || to[0] != '/')
      snprintf(to, sizeof(to), "/ok");
    st = downstream_get(to, &got);
    if (st < 0) {
      a->status = 502;
      snprintf(a->text, sizeof(a->text), "downstream failed: %s\n", strerror(errno));
    } else {
      a->status = 200;
      snprintf(a->text, sizeof(a->text), "downstream %d %zu\n", st, got);
    }
  } else {
    a->status = 404;
    snprintf(a->text, sizeof(a->text), "not found\n");
  }
  a->blen = strlen(a->text);
}

/* Serves one connection until the peer closes, an error, or Connection: close. */
static void serve(int fd)
{
  char *buf = malloc(HEAD_MAX);
  size_t have = 0;

  if (!buf)
    return;
  for (;;) {
    struct request rq;
    struct answer ans;
    size_t head = head_length(buf, have);
    bool close_conn;

    if (head == 0) {
      size_t room = HEAD_MAX - have;
      ssize_t n;
      if (room == 0) {
        (void)respond_text(fd, 431, "head too large\n");
        break;
      }
      n = io_in(fd, buf + have, room < opt.chunk ? room : opt.chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      have += (size_t)n;
      continue;
    }
    if (parse_head(buf, head, &rq) < 0) {
      (void)respond_text(fd, 400, "bad request\n");
      break;
    }
    if (rq.chunked) {
      (void)respond_text(fd, 501, "chunked request bodies are not supported\n");
      break;
    }
    /* Drop the request body: first what is buffered, then the rest. */
    memmove(buf, buf + head, have - head);
    have -= head;
    {
      unsigned long long left = (unsigned long long)rq.content_length;
      size_t from_buf = have < left ? have : (size_t)left;
      memmove(buf, buf + from_buf, have - from_buf);
      have -= from_buf;
      left -= from_buf;
      while (left > 0) {
        char sink[4096];
        ssize_t n = io_in(fd, sink, left < sizeof(sink) ? (size_t)left : sizeof(sink));
        if (n < 0 && errno == EINTR)
          continue;
        if (n <= 0)
          goto out;
        left -= (unsigned long long)n;
      }
    }
    close_conn = rq.close || (rq.minor == 0 && !rq.keep_alive);
    route(&rq, &ans);
    if (ans.framing == FRAME_EOF)
      close_conn = true;
    if (respond(fd, ans.status, ans.framing, ans.body, ans.blen, strcmp(rq.method, "HEAD") == 0,
                close_conn) < 0 ||
        close_conn)
      break;
  }
out:
  free(buf);
}

/* ---- thread per connection ---------------------------------------------- */

static void *conn_main(void *arg)
{
  struct conn *c = arg;
  int fd;

  serve(c->fd);
  pthread_mutex_lock(&conns_lock);
  fd = c->fd;
  c->fd = -1;
  pthread_mutex_unlock(&conns_lock);
  close(fd);
  atomic_store(&c->done, true);
  return NULL;
}

/* Joins the threads that finished (all of them with `all`). */
static void reap_threads(bool all)
{
  struct conn **pp = &conns;
  for (;;) {
    struct conn *c;
    pthread_mutex_lock(&conns_lock);
    while (*pp && !all && !atomic_load(&(*pp)->done))
      pp = &(*pp)->next;
    c = *pp;
    if (c)
      *pp = c->next;
    pthread_mutex_unlock(&conns_lock);
    if (!c)
      return;
    pthread_join(c->tid, NULL);
    free(c);
  }
}

static int start_thread(int fd)
{
  struct conn *c = calloc(1, sizeof(*c));
  sigset_t block, old;
  int rc;

  if (!c)
    return -1;
  c->fd = fd;
  atomic_init(&c->done, false);
  /* Workers never take SIGTERM/SIGINT: the accept loop does. */
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  pthread_mutex_lock(&conns_lock);
  rc = pthread_create(&c->tid, NULL, conn_main, c);
  if (rc == 0) {
    c->next = conns;
    conns = c;
  }
  pthread_mutex_unlock(&conns_lock);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    free(c);
    errno = rc;
    return -1;
  }
  return 0;
}

static void end_threads(void)
{
  pthread_mutex_lock(&conns_lock);
  for (struct conn *c = conns; c; c = c->next)
    if (c->fd >= 0)
      shutdown(c->fd, SHUT_RDWR);
  pthread_mutex_unlock(&conns_lock);
  reap_threads(true);
}

/* ---- process per connection --------------------------------------------- */

static void reap_children(bool all)
{
  size_t i = 0;
  while (i < n_children) {
    int st;
    pid_t r = waitpid(children[i], &st, all ? 0 : WNOHANG);
    if (r == children[i] || (r < 0 && errno == ECHILD)) {
      children[i] = children[--n_children];
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    i++;
  }
}

static int start_child(int lfd, int fd)
{
  pid_t pid;

  if (n_children == cap_children) {
    size_t cap = cap_children ? cap_children * 2 : 16;
    pid_t *p = realloc(children, cap * sizeof(*p));
    if (!p)
      return -1;
    children = p;
    cap_children = cap;
  }
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(lfd);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    serve(fd);
    close(fd);
    _exit(0);
  }
  children[n_children++] = pid;
  return 0;
}

static void end_children(void)
{
  for (size_t i = 0; i < n_children; i++)
    kill(children[i], SIGTERM);
  reap_children(true);
}

/* ---- main ----------------------------------------------------------------- */

static int usage(void)
{
  fprintf(stderr,
          "usage: net_server [--port N] [--fork] [--chunk N] [--io recv|read|msg]\n"
          "                  [--downstream HOST:PORT]\n");
  return 2;
}

static int parse_args(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char *end;
    if (strcmp(a, "--fork") == 0) {
      opt.fork_mode = true;
    } else if (strcmp(a, "--port") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 0 || v > 65535)
        return -1;
      opt.port = (int)v;
    } else if (strcmp(a, "--chunk") == 0 && i + 1 < argc) {
      long v = strtol(argv[++i], &end, 10);
      if (*end || v < 1 || v > HEAD_MAX)
        return -1;
      opt.chunk = (size_t)v;
    } else if (strcmp(a, "--io") == 0 && i + 1 < argc) {
      const char *m = argv[++i];
      if (strcmp(m, "recv") == 0)
        opt.io = IO_RECV;
      else if (strcmp(m, "read") == 0)
        opt.io = IO_READ;
      else if (strcmp(m, "msg") == 0)
        opt.io = IO_MSG;
      else
        return -1;
    } else if (strcmp(a, "--downstream") == 0 && i + 1 < argc) {
      const char *hp = argv[++i];
      const char *colon = strrchr(hp, ':');
      if (!colon || colon == hp || !colon[1] || (size_t)(colon - hp) >= sizeof(opt.down_host) ||
          strlen(colon + 1) >= sizeof(opt.down_port))
        return -1;
      copy_field(opt.down_host, sizeof(opt.down_host), hp, (size_t)(colon - hp));
      copy_field(opt.down_port, sizeof(opt.down_port), colon + 1, strlen(colon + 1));
    } else {
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv)
{
  struct sockaddr_in addr;
  socklen_t alen = sizeof(addr);
  struct sigaction sa;
  int lfd, one = 1;

  if (parse_args(argc, argv) < 0)
    return usage();
  for (size_t i = 0; i < sizeof(big_body); i++)
    big_body[i] = "0123456789abcdef"[i % 16];

  if (pipe(stop_pipe) < 0) {
    perror("net_server: pipe");
    return 1;
  }
  for (int i = 0; i < 2; i++) {
    fcntl(stop_pipe[i], F_SETFD, FD_CLOEXEC);
    fcntl(stop_pipe[i], F_SETFL, O_NONBLOCK);
  }
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) {
    perror("net_server: socket");
    return 1;
  }
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)opt.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(lfd, 128) < 0 ||
      getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
    perror("net_server: bind/listen");
    return 1;
  }
  printf("PORT %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  for (;;) {
    struct pollfd pfd[2] = {{lfd, POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
    struct sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    int fd;

    if (poll(pfd, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      perror("net_server: poll");
      break;
    }
    if (pfd[1].revents)
      break;
    if (!(pfd[0].revents & POLLIN))
      continue;
    /* accept4 for threads (no descriptor leaks), plain accept before fork. */
    if (opt.fork_mode)
      fd = accept(lfd, (struct sockaddr *)&peer, &plen);
    else
      fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
        perror("net_server: accept");
      continue;
    }
    if (opt.fork_mode) {
      if (start_child(lfd, fd) < 0)
        perror("net_server: fork");
      close(fd);
      reap_children(false);
    } else {
      if (start_thread(fd) < 0) {
        perror("net_server: pthread_create");
        close(fd);
      }
      reap_threads(false);
    }
  }

  close(lfd);
  if (opt.fork_mode)
    end_children();
  else
    end_threads();
  free(children);
  return 0;
}
