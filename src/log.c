#include "xr_setup.h"

#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int xr_log_level = XR_LOG_ERROR;

static const char *const xr_level_names[] = {"off", "error", "warn", "info",
                                             "debug"};

void xr_log(int level, const char *fmt, ...)
{
  char buf[512];
  int saved = errno;
  int n, m;
  va_list ap;

  if (level < XR_LOG_ERROR || level > XR_LOG_DEBUG)
    level = XR_LOG_ERROR;
  n = snprintf(buf, sizeof(buf), "libxray-auto[%ld]: %s: ", (long)getpid(),
               xr_level_names[level]);
  if (n < 0)
    goto out;
  va_start(ap, fmt);
  m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  if (m < 0)
    goto out;
  n += m;
  if ((size_t)n > sizeof(buf) - 2)
    n = (int)sizeof(buf) - 2;
  /* One line whatever the arguments held (a variable's value with a
   * newline or terminal escapes): control bytes become '?'. */
  for (m = 0; m < n; m++)
    if ((unsigned char)buf[m] < 0x20 || buf[m] == 0x7f)
      buf[m] = '?';
  buf[n++] = '\n';
  /* One write: lines of concurrent threads never interleave mid-line. */
  (void)syscall(SYS_write, 2, buf, (size_t)n);
out:
  errno = saved;
}
