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
