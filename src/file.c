/* Reading a whole small file: see file.h. */
#include "xr_setup.h"

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int xr_file_read(const char *path, size_t max, char **out, size_t *len)
{
  char *buf = NULL;
  size_t got = 0;
  long fd;
  int rc = 0;

  *out = NULL;
  *len = 0;
  fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return -errno;
  if (!(buf = malloc(max + 2))) {
    rc = -ENOMEM;
    goto out;
  }
  while (got <= max) {
    long n = syscall(SYS_read, fd, buf + got, max + 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = -errno;
      goto out;
    }
    if (n == 0)
      break;
    got += (size_t)n;
  }
  buf[got] = '\0';
  *out = buf;
  *len = got;
  buf = NULL;
out:
  free(buf);
  (void)syscall(SYS_close, fd);
  return rc;
}
