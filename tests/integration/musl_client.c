/*
 * musl_client - a small HTTP/1.1 client on plain sockets, compiled with
 * musl-gcc (cmake/musl.cmake) so that test_musl.py can run a musl-linked
 * program under libxray-auto-musl.so. It knows nothing about the library
 * and links nothing but musl's libc.
 *
 * Usage: musl_client [--io send|write] [-4] HOST PORT PATH...
 *
 * One connection per PATH: getaddrinfo(HOST, PORT) (AF_INET with -4, else
 * AF_UNSPEC), connect to the first address that accepts, the request
 * ("GET PATH", Host: HOST:PORT, Connection: close) in one call, then the
 * response read until the peer closes, 7 bytes per call (so that a
 * response takes many calls, as with a real client's buffered reads).
 * --io send: send/recv (default); --io write: write/read.
 *
 * Output: one line per PATH on stdout, "<path> <status> <body bytes>", or
 * "<path> failed: <what>: <strerror>" for a connect or I/O failure.
 * Exit status: 0 every response read, 1 some failure, 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define RESPONSE_MAX (1 << 20)
#define READ_CHUNK 7

static int use_write;

static ssize_t out(int fd, const void *buf, size_t len)
{
  return use_write ? write(fd, buf, len) : send(fd, buf, len, 0);
}

static ssize_t in(int fd, void *buf, size_t len)
{
  return use_write ? read(fd, buf, len) : recv(fd, buf, len, 0);
}

/* The connected socket, or -1 with errno and *what set. */
static int dial(const char *host, const char *port, int family, const char **what)
{
  struct addrinfo hints, *res, *ai;
  int fd = -1, err = 0, rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    *what = gai_strerror(rc);
    errno = 0;
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
    *what = "connect";
    errno = err;
  }
  return fd;
}

static int fetch(const char *host, const char *port, int family, const char *path,
                 char *resp)
{
  char req[1024];
  const char *what = NULL, *body;
  size_t got = 0, sent = 0;
  ssize_t n;
  int fd, len, status = 0;

  fd = dial(host, port, family, &what);
  if (fd < 0) {
    printf("%s failed: %s: %s\n", path, what, errno ? strerror(errno) : "-");
    return 1;
  }
  len = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: musl_client\r\n"
                 "Connection: close\r\n\r\n",
                 path, host, port);
  if (len < 0 || (size_t)len >= sizeof(req)) {
    close(fd);
    printf("%s failed: request too long: -\n", path);
    return 1;
  }
  while (sent < (size_t)len) {
    n = out(fd, req + sent, (size_t)len - sent);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      printf("%s failed: send: %s\n", path, strerror(errno));
      close(fd);
      return 1;
    }
    sent += (size_t)n;
  }
  for (;;) {
    size_t want = RESPONSE_MAX - 1 - got;
    if (want == 0)
      break;
    n = in(fd, resp + got, want < READ_CHUNK ? want : READ_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      printf("%s failed: recv: %s\n", path, strerror(errno));
      close(fd);
      return 1;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  resp[got] = '\0';
  body = strstr(resp, "\r\n\r\n");
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1 || !body) {
    printf("%s failed: malformed response: -\n", path);
    return 1;
  }
  printf("%s %d %zu\n", path, status, got - (size_t)(body + 4 - resp));
  return 0;
}

static int usage(const char *argv0)
{
  fprintf(stderr, "usage: %s [--io send|write] [-4] HOST PORT PATH...\n", argv0);
  return 2;
}

int main(int argc, char **argv)
{
  int family = AF_UNSPEC, rc = 0, i;
  char *resp;

  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "-4") == 0)
      family = AF_INET;
    else if (strcmp(argv[i], "--io") == 0 && i + 1 < argc &&
             (strcmp(argv[i + 1], "send") == 0 || strcmp(argv[i + 1], "write") == 0))
      use_write = strcmp(argv[++i], "write") == 0;
    else
      return usage(argv[0]);
  }
  if (argc - i < 3)
    return usage(argv[0]);
  resp = malloc(RESPONSE_MAX);
  if (!resp)
    return 1;
  for (int p = i + 2; p < argc; p++)
    rc |= fetch(argv[i], argv[i + 1], family, argv[p], resp);
  free(resp);
  return rc;
}
