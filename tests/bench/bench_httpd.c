/*
 * A minimal HTTP/1.1 keep-alive responder for benchmarks: its own cost per
 * request is a read and a write, so that a benchmark of the client measures
 * the client. Serves one connection at a time on 127.0.0.1; prints
 * "PORT <n>" first; runs until killed. Not a general server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char xr_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                  "Content-Type: text/plain\r\n\r\nok\n";

static void serve(int c)
{
  char buf[16384];
  size_t have = 0;

  for (;;) {
    ssize_t n = read(c, buf + have, sizeof(buf) - 1 - have);
    char *end;
    if (n <= 0)
      return;
    have += (size_t)n;
    buf[have] = '\0';
    /* Requests have no body (GET); answer each complete head. */
    while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
      size_t used = (size_t)(end + 4 - buf);
      if (write(c, xr_response, sizeof(xr_response) - 1) < 0)
        return;
      memmove(buf, buf + used, have - used + 1);
      have -= used;
    }
    if (have >= sizeof(buf) - 1)
      return;
  }
}

int main(void)
{
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int one = 1;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (s < 0)
    return 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 16) < 0 ||
      getsockname(s, (struct sockaddr *)&sa, &len) < 0)
    return 1;
  printf("PORT %d\n", ntohs(sa.sin_port));
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0)
      continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    serve(c);
    close(c);
  }
}
