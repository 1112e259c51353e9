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
#include "it_common.h" /* the C API as plain declarations (XRAY_AUTO_NO_DLSYM) */

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
  statuses[0] = xr_it_get_status(port, "/ok");
  CALL("worker_begin_inner", xray_begin_subsegment, "inner", NULL);
  statuses[1] = xr_it_get_status(port, "/ok");
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
