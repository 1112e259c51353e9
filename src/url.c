#include "xr_setup.h"

#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static char xr_lower(char c)
{
  return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

static bool xr_scheme_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '-' || c == '.';
}

/* One pass over each part, no strcspn and no clearing of the whole
 * struct: it runs for every traced HTTP call (issue 7). On failure no
 * field is meaningful. */
int xr_url_parse(const char *url, struct xr_url *u)
{
  const char *p = url, *auth, *auth_end, *at = NULL, *h, *hend, *colon = NULL;
  size_t i, n;

  u->scheme[0] = '\0';
  u->host[0] = '\0';
  u->ipv6 = false;
  u->port = -1;
  u->path = "";
  u->path_len = 0;
  u->query = NULL;
  u->query_len = 0;
  if (!url)
    return -EINVAL;
  while (*p == ' ' || *p == '\t')
    p++;
  /* scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) "://" */
  for (i = 0; xr_scheme_char(p[i]); i++)
    ;
  if (i > 0 && p[i] == ':' && p[i + 1] == '/' && p[i + 2] == '/') {
    if (i >= sizeof(u->scheme))
      return -EINVAL;
    for (n = 0; n < i; n++)
      u->scheme[n] = xr_lower(p[n]);
    u->scheme[i] = '\0';
    p += i + 3;
  } else {
    memcpy(u->scheme, "http", sizeof("http"));
  }
  /* The authority ends at '/', '?' or '#'; userinfo runs up to its last
   * '@' and is never kept. */
  auth = p;
  for (auth_end = p; *auth_end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#';
       auth_end++)
    if (*auth_end == '@')
      at = auth_end;
  h = at ? at + 1 : auth;
  if (h < auth_end && *h == '[') {
    const char *rb = memchr(h, ']', (size_t)(auth_end - h));
    if (!rb)
      return -EINVAL;
    u->ipv6 = true;
    hend = rb;
    h++;
    if (rb + 1 < auth_end && rb[1] == ':')
      colon = rb + 1;
  } else {
    for (hend = h; hend < auth_end && *hend != ':'; hend++)
      ;
    if (hend < auth_end)
      colon = hend;
  }
  n = (size_t)(hend - h);
  if (n == 0 || n >= sizeof(u->host))
    return -EINVAL;
  for (i = 0; i < n; i++)
    u->host[i] = xr_lower(h[i]);
  u->host[n] = '\0';
  if (colon && colon + 1 < auth_end) {
    long port = 0;
    for (h = colon + 1; h < auth_end; h++) {
      if (*h < '0' || *h > '9' || port > 65535)
        return -EINVAL;
      port = port * 10 + (*h - '0');
    }
    if (port > 65535)
      return -EINVAL;
    u->port = (int)port;
  }
  p = auth_end;
  if (*p == '/') {
    for (n = 1; p[n] && p[n] != '?' && p[n] != '#'; n++)
      ;
    u->path = p;
    u->path_len = n;
    p += n;
  }
  if (*p == '?') {
    for (n = 0; p[1 + n] && p[1 + n] != '#'; n++)
      ;
    u->query = p + 1;
    u->query_len = n;
  }
  return 0;
}

int xr_url_default_port(const char *scheme)
{
  static const struct {
    const char *scheme;
    int port;
  } ports[] = {{"http", 80}, {"https", 443}, {"ws", 80}, {"wss", 443},
               {"ftp", 21}};
  size_t i;
  for (i = 0; i < XR_ARRAY_SIZE(ports); i++)
    if (strcmp(scheme, ports[i].scheme) == 0)
      return ports[i].port;
  return -1;
}

int xr_url_port(const struct xr_url *u)
{
  return u->port >= 0 ? u->port : xr_url_default_port(u->scheme);
}

/* Appends n bytes; false (and a cut, NUL-terminated buffer) when full. */
static bool xr_append(char *buf, size_t len, size_t *at, const char *s, size_t n)
{
  bool fits = *at + n < len;
  if (!fits)
    n = len - 1 - *at;
  memcpy(buf + *at, s, n);
  *at += n;
  buf[*at] = '\0';
  return fits;
}

int xr_url_clean(const struct xr_url *u, char *buf, size_t len)
{
  char port[8];
  size_t at = 0, pl = 0, sl, hl, total;
  bool ok;

  if (len == 0)
    return -ENOSPC;
  if (u->port >= 0 && u->port != xr_url_default_port(u->scheme)) {
    int p = u->port, i;
    char digits[6];
    int nd = 0;
    do {
      digits[nd++] = (char)('0' + p % 10);
      p /= 10;
    } while (p && nd < 5);
    port[pl++] = ':';
    for (i = nd - 1; i >= 0; i--)
      port[pl++] = digits[i];
  }
  sl = strlen(u->scheme);
  hl = strlen(u->host);
  total = sl + 3 + (u->ipv6 ? 2 : 0) + hl + pl + (u->path_len ? u->path_len : 1);
  if (total < len) {
    /* All of it fits (the common case): no cut to handle part by part. */
    char *o = buf;

    memcpy(o, u->scheme, sl);
    o += sl;
    memcpy(o, "://", 3);
    o += 3;
    if (u->ipv6)
      *o++ = '[';
    memcpy(o, u->host, hl);
    o += hl;
    if (u->ipv6)
      *o++ = ']';
    memcpy(o, port, pl);
    o += pl;
    if (u->path_len) {
      memcpy(o, u->path, u->path_len);
      o += u->path_len;
    } else {
      *o++ = '/';
    }
    *o = '\0';
    return (int)total;
  }
  ok = xr_append(buf, len, &at, u->scheme, sl) &&
       xr_append(buf, len, &at, "://", 3) &&
       (!u->ipv6 || xr_append(buf, len, &at, "[", 1)) &&
       xr_append(buf, len, &at, u->host, hl) &&
       (!u->ipv6 || xr_append(buf, len, &at, "]", 1)) &&
       xr_append(buf, len, &at, port, pl) &&
       (u->path_len ? xr_append(buf, len, &at, u->path, u->path_len)
                    : xr_append(buf, len, &at, "/", 1));
  return ok ? (int)at : -ENOSPC;
}
