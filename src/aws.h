/*
 * Recognising AWS API calls in HTTP requests (xray-spec.md 2.7, 5.2): the
 * service and region from the endpoint host (*.amazonaws.com[.cn]) or from
 * a SigV4 Authorization header's credential scope (endpoint overrides, local
 * emulators), the operation from X-Amz-Target or Action=, and the resource
 * names X-Ray records (table_name, queue_url).
 * Contract: pure, no allocation, bounded scans of untrusted input. The
 * Authorization value is read only for its scope; no secret is copied.
 */
#ifndef XR_AWS_H
#define XR_AWS_H

#include "xr_setup.h"

struct xr_aws_call {
  bool is_aws;
  char service[64];
  char region[32];
  char operation[128];
  char table_name[256];
  char queue_url[512];
};

/* Empties a (as a memset would for every reader: the fields are only ever
 * written and read as NUL-terminated strings), without writing its ~1 KiB
 * for each transfer. */
static inline void xr_aws_clear(struct xr_aws_call *a)
{
  a->is_aws = false;
  a->service[0] = a->region[0] = a->operation[0] = '\0';
  a->table_name[0] = a->queue_url[0] = '\0';
}

void xr_aws_from_host(const char *host, struct xr_aws_call *a);
void xr_aws_from_authorization(const char *value, struct xr_aws_call *a);
void xr_aws_from_target(const char *value, struct xr_aws_call *a);
/* application/x-www-form-urlencoded text (a query string or a body). */
void xr_aws_from_params(const char *s, size_t len, struct xr_aws_call *a);
/* A JSON body: top-level "TableName" and "QueueUrl" strings. */
void xr_aws_from_json(const char *s, size_t len, struct xr_aws_call *a);
/* S3's REST operations have no name on the wire: derive the common ones
 * from the method and whether the path names a key. */
void xr_aws_s3_operation(const char *method, bool has_key, bool has_bucket,
                         struct xr_aws_call *a);

#endif /* XR_AWS_H */
