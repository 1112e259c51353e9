/*
 * api_example - a batch "job" instrumented with libxray-auto's C API
 * (include/xray-auto.h), header only: it links nothing but libc.
 *
 *   api_example [PORT [TRACE_HEADER]]
 *
 * The job opens a segment, names its user, annotates it (a string, a
 * number, a boolean), attaches metadata (JSON text, two namespaces), then:
 *   fetch     a "remote" subsegment around GET http://127.0.0.1:PORT/ok on a
 *             plain socket (the library traces the GET: it becomes fetch's
 *             subsegment), annotated with the status it got;
 *   process   a subsegment holding a nested "validate" one, where an item
 *             fails validation (an error, 4xx-like) and a downstream
 *             throttle is recorded (XRAY_STATUS_FLAGS(429), remote);
 * and ends the segment. Calls the API refuses (a key with a dash, JSON that
 * does not parse, the reserved "AWS." namespace) show what they return.
 *
 * Every call's result is printed as "<call> <result>". Without the library
 * (no LD_PRELOAD=libxray-auto.so) the calls do nothing and return -ENOSYS:
 * the program says tracing is off and does its work all the same. Exit 0
 * unless the GET fails.
 */
#define _GNU_SOURCE
#include <xray-auto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int report(const char *what, int rc)
{
  printf("%s %d\n", what, rc);
  return rc;
}

/* GET /ok on 127.0.0.1:port over a plain socket: the HTTP status, or -1. */
static int get_ok(int port)
{
  struct sockaddr_in sa;
  char req[128], buf[4096];
  int fd, n, len = 0, status = -1;

  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
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

int main(int argc, char **argv)
{
  int port = argc > 1 ? atoi(argv[1]) : 0;
  const char *incoming = argc > 2 && argv[2][0] ? argv[2] : NULL;
  const char *version = xray_version();
  int status = 0, rc = 0;

  if (version)
    printf("tracing on: libxray-auto %s\n", version);
  else
    printf("tracing off: libxray-auto.so is not loaded\n");

  report("begin_segment", xray_begin_segment("api-example-job", incoming));
  report("set_user", xray_set_user("alice"));
  report("annotation_string", xray_put_annotation_string("job_id", "job-42"));
  report("annotation_number", xray_put_annotation_number("items", 3));
  report("annotation_bool", xray_put_annotation_bool("dry_run", 0));
  report("metadata_default", xray_put_metadata(NULL, "config",
                                               "{\"batch\":3,\"mode\":\"fast\",\"tags\":[\"a\",\"b\"]}"));
  report("metadata_app", xray_put_metadata("app", "input", "[1,2,3]"));

  /* Refused: nothing is recorded. */
  report("bad_key", xray_put_annotation_string("job-id", "x"));
  report("bad_json", xray_put_metadata(NULL, "broken", "{\"a\":"));
  report("reserved_namespace", xray_put_metadata("AWS.internal", "k", "1"));

  report("begin_fetch", xray_begin_subsegment("fetch", "remote"));
  if (port) {
    status = get_ok(port);
    printf("get %d\n", status);
    report("annotation_status", xray_put_annotation_number("status_code", status));
  }
  report("end_fetch", xray_end_subsegment());

  report("begin_process", xray_begin_subsegment("process", NULL));
  report("begin_validate", xray_begin_subsegment("validate", NULL));
  report("error_validate", xray_add_error("ValidationError", "item 3: missing field \"sku\"",
                                          XRAY_ERROR));
  report("end_validate", xray_end_subsegment());
  report("error_throttle", xray_add_error("Throttled", "downstream said 429",
                                          XRAY_STATUS_FLAGS(429) | XRAY_REMOTE));
  report("end_process", xray_end_subsegment());
  report("end_segment", xray_end_segment());

  if (port && status != 200)
    rc = 1;
  return rc;
}
