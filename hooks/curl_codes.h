/* CURLcode names for exception types ("CURLE_COULDNT_CONNECT"). */
#ifndef XR_CURL_CODES_H
#define XR_CURL_CODES_H

#include "../src/xr_setup.h"

/* A static name, or "CURLE_<n>" written into buf for codes this build's
 * table does not know (a newer libcurl at run time). */
const char *xr_curl_code_name(int code, char *buf, size_t len);

#endif /* XR_CURL_CODES_H */
