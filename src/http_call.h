/*
 * Turns what was observed of one HTTP exchange into a subsegment: name,
 * namespace, http.request (method upper case; URL scrubbed of userinfo,
 * query and fragment), http.response, flags from the status, a cause for
 * transport failures, and the aws block for AWS API calls.
 * Contract: pure apart from allocation; the caller owns sub.
 */
#ifndef XR_HTTP_CALL_H
#define XR_HTTP_CALL_H

#include "xr_setup.h"

#include "aws.h"
#include "entity.h"
#include "url.h"

struct xr_http_call {
  const char *method;         /* as issued; NULL means GET */
  const char *url;            /* as the program gave it (may hold secrets) */
  const struct xr_url *parsed; /* url already parsed (xr_url_parse returned
                                  0 for this very string), or NULL */
  const char *clean_url;      /* xr_url_clean of parsed (buffer of
                                 XR_URL_RECORD_MAX), or NULL */
  long status;                /* 0: no response */
  long long content_length;   /* -1: unknown */
  const char *error_type;     /* transport failure, e.g. "CURLE_COULDNT_CONNECT" */
  const char *error_message;
  const struct xr_aws_call *aws; /* NULL or is_aws false: plain remote call */
  const char *request_id;     /* x-amzn-RequestId / x-amz-request-id */
  const char *id_2;           /* x-amz-id-2 (S3) */
};

/* The buffer xr_url_clean is given for the recorded URL. */
#define XR_URL_RECORD_MAX 2048

int xr_http_record(struct xr_entity *sub, const struct xr_http_call *c) XR_WUR;

#endif /* XR_HTTP_CALL_H */
