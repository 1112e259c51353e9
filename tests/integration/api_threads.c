/*
 * The C API across threads (integration.api, and the valgrind test's memcheck):
 *
 *   api_threads PORT
 *
 * 1. a thread opens a segment, two nested subsegments and an annotation, and returns with all
 *    of them open: nothing is sent, and the library frees them when the thread exits;
 * 2. a thread opens segment "worker", subsegment "outer" around GET /ok on 127.0.0.1:PORT, a
 *    nested "inner" around a second GET, and ends the segment with both still open: one
 *    document, outer[GET, inner[GET]].
 * Prints each call's result ("<call> <rc>") and exits 0 when both GETs answered 200. The C
 * API through weak references bound at load time: without the library every call prints -38.
 */
#define _GNU_SOURCE
#define XRAY_AUTO_NO_DLSYM
#include <xray-auto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#pragma weak xray_begin_segment
#pragma weak xray_end_segment
#pragma weak xray_begin_subsegment
#pragma weak xray_put_annotation_string

static int port;
static int statuses[2];

#define CALL(what, f, ...) report(what, (f) ? f(__VA_ARGS__) : -ENOSYS)

static void report(const char *what, int rc)
{
  printf("%s %d\n", what, rc);
}

/* GET /ok over a plain socket: the HTTP status, or -1. */
static int get_ok(void)
{
  struct sockaddr_in sa;
  char req[128], buf[4096];
  int fd, n, len = 0, status = -1;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
    goto out;
  n = snprintf(req, sizeof(req),
               "GET /ok HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", port);
  if (write(fd, req, (size_t)n) != n)
    goto out;
  while (len < (int)sizeof(buf) - 1 &&
         (n = (int)read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
    len += n;
  buf[len] = '\0';
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
    status = -1;
out:
  close(fd);
  return status;
}

static void *leaver(void *arg)
{
  (void)arg;
  CALL("leaver_begin_segment", xray_begin_segment, "leaver", NULL);
  CALL("leaver_begin_open1", xray_begin_subsegment, "open-1", NULL);
  CALL("leaver_begin_open2", xray_begin_subsegment, "open-2", "remote");
  CALL("leaver_annotation", xray_put_annotation_string, "left", "open");
  return NULL;
}

static void *worker(void *arg)
{
  (void)arg;
  CALL("worker_begin_segment", xray_begin_segment, "worker", NULL);
  CALL("worker_begin_outer", xray_begin_subsegment, "outer", NULL);
  statuses[0] = get_ok();
  CALL("worker_begin_inner", xray_begin_subsegment, "inner", NULL);
  statuses[1] = get_ok();
  report("worker_end_segment", xray_end_segment ? xray_end_segment() : -ENOSYS);
  return NULL;
}

int main(int argc, char **argv)
{
  pthread_t t;

  if (argc != 2 || (port = atoi(argv[1])) <= 0) {
    fprintf(stderr, "usage: api_threads PORT\n");
    return 2;
  }
  if (pthread_create(&t, NULL, leaver, NULL) != 0 || pthread_join(t, NULL) != 0)
    return 1;
  if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
    return 1;
  printf("get %d %d\n", statuses[0], statuses[1]);
  return statuses[0] == 200 && statuses[1] == 200 ? 0 : 1;
}
