#include "xr_setup.h"

#include "aws.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define XR_SCAN_MAX 8192

static void xr_copy(char *dst, size_t cap, const char *src, size_t n)
{
  if (n >= cap)
    n = cap - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

/* <2 letters>[-gov|-iso|-isob|-isoe|-isof]-<direction>-<digits>, e.g.
 * us-east-1, us-gov-west-1, ap-southeast-4, cn-northwest-1. */
static bool xr_is_region(const char *s, size_t n)
{
  static const char *const partitions[] = {"gov", "iso", "isob", "isoe", "isof"};
  static const char *const directions[] = {
      "north", "south", "east", "west", "central",
      "northeast", "northwest", "southeast", "southwest"};
  const char *p = s, *end = s + n, *dash;
  size_t i, len;
  bool ok = false;

  if (n < 9 || !(p[0] >= 'a' && p[0] <= 'z' && p[1] >= 'a' && p[1] <= 'z') || p[2] != '-')
    return false;
  p += 3;
  dash = memchr(p, '-', (size_t)(end - p));
  if (!dash)
    return false;
  len = (size_t)(dash - p);
  for (i = 0; i < XR_ARRAY_SIZE(partitions); i++)
    if (strlen(partitions[i]) == len && strncmp(p, partitions[i], len) == 0) {
      p = dash + 1;
      dash = memchr(p, '-', (size_t)(end - p));
      if (!dash)
        return false;
      len = (size_t)(dash - p);
      break;
    }
  for (i = 0; i < XR_ARRAY_SIZE(directions); i++)
    if (strlen(directions[i]) == len && strncmp(p, directions[i], len) == 0)
      ok = true;
  if (!ok || dash + 1 >= end)
    return false;
  for (p = dash + 1; p < end; p++)
    if (*p < '0' || *p > '9')
      return false;
  return true;
}

static bool xr_ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

void xr_aws_from_host(const char *host, struct xr_aws_call *a)
{
  const char *labels[16];
  size_t lens[16], n = 0, i, end;
  const char *p = host;
  int region_at = -1;

  if (xr_ends_with(host, ".amazonaws.com"))
    end = strlen(host) - strlen(".amazonaws.com");
  else if (xr_ends_with(host, ".amazonaws.com.cn"))
    end = strlen(host) - strlen(".amazonaws.com.cn");
  else
    return;
  while (p < host + end && n < XR_ARRAY_SIZE(labels)) {
    const char *dot = memchr(p, '.', (size_t)(host + end - p));
    size_t len = dot ? (size_t)(dot - p) : (size_t)(host + end - p);
    labels[n] = p;
    lens[n++] = len;
    p += len + 1;
  }
  if (n == 0)
    return;
  a->is_aws = true;
  for (i = 0; i < n; i++)
    if (xr_is_region(labels[i], lens[i]))
      region_at = (int)i;
  if (region_at >= 0) {
    int s = region_at - 1;
    xr_copy(a->region, sizeof(a->region), labels[region_at], lens[region_at]);
    /* s3.dualstack.us-east-1, dynamodb-fips? keep the service label */
    while (s >= 0 && (lens[s] == 9 && strncmp(labels[s], "dualstack", 9) == 0))
      s--;
    if (s >= 0)
      xr_copy(a->service, sizeof(a->service), labels[s], lens[s]);
  } else {
    /* Global endpoints: sts.amazonaws.com, bucket.s3.amazonaws.com,
     * legacy s3-us-west-2.amazonaws.com. */
    const char *last = labels[n - 1];
    size_t len = lens[n - 1];
    const char *dash = memchr(last, '-', len);
    if (len == 13 && strncmp(last, "s3-external-1", 13) == 0) {
      strcpy(a->region, "us-east-1"); /* the legacy us-east-1 endpoint */
      len = 2;
    } else if (dash && xr_is_region(dash + 1, len - (size_t)(dash + 1 - last))) {
      xr_copy(a->region, sizeof(a->region), dash + 1,
              len - (size_t)(dash + 1 - last));
      len = (size_t)(dash - last);
    } else {
      strcpy(a->region, "us-east-1");
    }
    xr_copy(a->service, sizeof(a->service), last, len);
  }
  /* dynamodb-fips -> dynamodb */
  {
    char *f = strstr(a->service, "-fips");
    if (f && f[5] == '\0')
      *f = '\0';
  }
}

void xr_aws_from_authorization(const char *v, struct xr_aws_call *a)
{
  const char *cred, *parts[5];
  size_t i;

  if (!v || strncmp(v, "AWS4-HMAC-SHA256", 16) != 0)
    return;
  cred = strstr(v, "Credential=");
  if (!cred)
    return;
  cred += strlen("Credential=");
  /* AKID/date/region/service/aws4_request */
  parts[0] = cred;
  for (i = 1; i < 5; i++) {
    const char *slash = strpbrk(parts[i - 1], "/,");
    if (!slash || *slash != '/')
      return;
    parts[i] = slash + 1;
  }
  if (strncmp(parts[4], "aws4_request", 12) != 0)
    return;
  a->is_aws = true;
  xr_copy(a->region, sizeof(a->region), parts[2], (size_t)(parts[3] - parts[2] - 1));
  xr_copy(a->service, sizeof(a->service), parts[3], (size_t)(parts[4] - parts[3] - 1));
}

void xr_aws_from_target(const char *v, struct xr_aws_call *a)
{
  const char *dot;
  if (!v)
    return;
  dot = strrchr(v, '.');
  xr_copy(a->operation, sizeof(a->operation), dot ? dot + 1 : v,
          strcspn(dot ? dot + 1 : v, " \r\n"));
}

static int xr_hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static void xr_url_decode(char *dst, size_t cap, const char *s, size_t n)
{
  size_t o = 0, i;
  for (i = 0; i < n && o + 1 < cap; i++) {
    if (s[i] == '%' && i + 2 < n && xr_hexval(s[i + 1]) >= 0 &&
        xr_hexval(s[i + 2]) >= 0) {
      dst[o++] = (char)(xr_hexval(s[i + 1]) * 16 + xr_hexval(s[i + 2]));
      i += 2;
    } else {
      dst[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  dst[o] = '\0';
}

void xr_aws_from_params(const char *s, size_t len, struct xr_aws_call *a)
{
  const char *end;
  if (!s)
    return;
  if (len > XR_SCAN_MAX)
    len = XR_SCAN_MAX;
  end = s + len;
  while (s < end) {
    const char *amp = memchr(s, '&', (size_t)(end - s));
    const char *pend = amp ? amp : end;
    const char *eq = memchr(s, '=', (size_t)(pend - s));
    if (eq) {
      size_t klen = (size_t)(eq - s), vlen = (size_t)(pend - eq - 1);
      if (klen == 6 && strncmp(s, "Action", 6) == 0)
        xr_url_decode(a->operation, sizeof(a->operation), eq + 1, vlen);
      else if (klen == 9 && strncmp(s, "TableName", 9) == 0)
        xr_url_decode(a->table_name, sizeof(a->table_name), eq + 1, vlen);
      else if (klen == 8 && strncmp(s, "QueueUrl", 8) == 0)
        xr_url_decode(a->queue_url, sizeof(a->queue_url), eq + 1, vlen);
    }
    s = amp ? amp + 1 : end;
  }
}

/* Finds "key" : "value" in the first XR_SCAN_MAX bytes; plain strings only
 * (an escaped value is skipped rather than decoded). */
static void xr_json_string(const char *s, size_t len, const char *key,
                           char *dst, size_t cap)
{
  size_t klen = strlen(key), i;
  if (len > XR_SCAN_MAX)
    len = XR_SCAN_MAX;
  for (i = 0; i + klen + 2 < len; i++) {
    size_t j, start;
    if (s[i] != '"' || strncmp(s + i + 1, key, klen) != 0 || s[i + 1 + klen] != '"')
      continue;
    j = i + klen + 2;
    while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
      j++;
    if (j >= len || s[j] != ':')
      continue;
    j++;
    while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
      j++;
    if (j >= len || s[j] != '"')
      continue;
    start = ++j;
    while (j < len && s[j] != '"' && s[j] != '\\')
      j++;
    if (j < len && s[j] == '"')
      xr_copy(dst, cap, s + start, j - start);
    return;
  }
}

void xr_aws_from_json(const char *s, size_t len, struct xr_aws_call *a)
{
  if (!s)
    return;
  if (!a->table_name[0])
    xr_json_string(s, len, "TableName", a->table_name, sizeof(a->table_name));
  if (!a->queue_url[0])
    xr_json_string(s, len, "QueueUrl", a->queue_url, sizeof(a->queue_url));
}

void xr_aws_s3_operation(const char *method, bool has_key, bool has_bucket,
                         struct xr_aws_call *a)
{
  const char *op = NULL;
  if (a->operation[0] || !method)
    return;
  if (!has_bucket)
    op = strcasecmp(method, "GET") == 0 ? "ListBuckets" : NULL;
  else if (!has_key)
    op = strcasecmp(method, "GET") == 0      ? "ListObjects"
         : strcasecmp(method, "PUT") == 0    ? "CreateBucket"
         : strcasecmp(method, "DELETE") == 0 ? "DeleteBucket"
         : strcasecmp(method, "HEAD") == 0   ? "HeadBucket"
                                             : NULL;
  else
    op = strcasecmp(method, "GET") == 0      ? "GetObject"
         : strcasecmp(method, "PUT") == 0    ? "PutObject"
         : strcasecmp(method, "DELETE") == 0 ? "DeleteObject"
         : strcasecmp(method, "HEAD") == 0   ? "HeadObject"
                                             : NULL;
  if (op)
    snprintf(a->operation, sizeof(a->operation), "%s", op);
}
