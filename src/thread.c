/* The library's own threads: see thread.h. */
#include "xr_setup.h"

#include "thread.h"

#include <pthread.h>
#include <signal.h>

int xr_thread_spawn(void *(*fn)(void *), void *arg)
{
  pthread_attr_t attr;
  sigset_t all, old;
  pthread_t t;
  int rc;

  rc = pthread_attr_init(&attr);
  if (rc)
    return -rc;
  rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (rc == 0) {
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  pthread_attr_destroy(&attr);
  return -rc;
}
