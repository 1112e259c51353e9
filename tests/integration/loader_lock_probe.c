/*
 * integration.api's loader-lock probe: the first segment of the process is opened by a thread
 * while another thread is inside dlopen, running the constructor of a library
 * (libloader_lock_ctor.so) that waits for that segment. Nothing the library does when it
 * creates a segment (which it may do inside a hooked recv or read) may need the loader's
 * lock: if it did, the segment would wait for dlopen and dlopen for the segment.
 *
 *   loader_lock_probe LIBRARY
 *
 * Prints "segment <rc> <rc>" (begin, end) and exits 0; "deadlock" and exit 3 when the
 * segment has not been opened and ended 5 s after the constructor asked for it. The C API
 * is reached through weak references bound at load time (-z now), not through dlsym, which
 * would itself wait for the loader.
 */
#define _GNU_SOURCE
#define XRAY_AUTO_NO_DLSYM
#include <xray-auto.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#pragma weak xray_begin_segment
#pragma weak xray_end_segment

static sem_t go, done;
static int begin_rc = -ENOSYS, end_rc = -ENOSYS;

static void *worker(void *arg)
{
  (void)arg;
  while (sem_wait(&go) != 0)
    ;
  if (xray_begin_segment) {
    begin_rc = xray_begin_segment("in-ctor", NULL);
    end_rc = xray_end_segment();
  }
  sem_post(&done);
  return NULL;
}

/* Called by libloader_lock_ctor.so's constructor: the loader's lock is held. */
void loader_lock_probe_ctor(void);
void loader_lock_probe_ctor(void)
{
  struct timespec t;

  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += 5;
  sem_post(&go);
  while (sem_timedwait(&done, &t) != 0) {
    if (errno == ETIMEDOUT) {
      printf("deadlock\n");
      fflush(stdout);
      _exit(3);
    }
  }
}

int main(int argc, char **argv)
{
  pthread_t t;
  void *h;

  if (argc != 2) {
    fprintf(stderr, "usage: loader_lock_probe LIBRARY\n");
    return 2;
  }
  sem_init(&go, 0, 0);
  sem_init(&done, 0, 0);
  if (pthread_create(&t, NULL, worker, NULL) != 0)
    return 1;
  h = dlopen(argv[1], RTLD_NOW);
  if (!h) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  pthread_join(t, NULL);
  printf("segment %d %d\n", begin_rc, end_rc);
  dlclose(h);
  return 0;
}
