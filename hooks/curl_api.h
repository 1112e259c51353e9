/*
 * The libcurl functions we call or forward to, resolved per caller
 * (resolve.h). Index 0 is the anchor the resolver requires.
 */
#ifndef XR_CURL_API_H
#define XR_CURL_API_H

#include "../src/xr_setup.h"

#define CURL_DISABLE_TYPECHECK
#define CURL_DISABLE_DEPRECATION
#include <curl/curl.h>

#include "resolve.h"

enum xr_curl_fn {
  XR_CURL_EASY_PERFORM,
  XR_CURL_EASY_SETOPT,
  XR_CURL_EASY_DUPHANDLE,
  XR_CURL_EASY_RESET,
  XR_CURL_EASY_CLEANUP,
  XR_CURL_MULTI_ADD_HANDLE,
  XR_CURL_MULTI_REMOVE_HANDLE,
  XR_CURL_MULTI_INFO_READ,
  XR_CURL_EASY_GETINFO,
  XR_CURL_EASY_STRERROR,
  XR_CURL_EASY_HEADER, /* 7.83+, may be NULL */
  XR_CURL_URL_GET,     /* 7.62+, may be NULL */
  XR_CURL_FREE,
  XR_CURL_NFUNCS
};

typedef CURLcode (*xr_curl_perform_fn)(CURL *);
typedef CURLcode (*xr_curl_setopt_fn)(CURL *, CURLoption, ...);
typedef CURL *(*xr_curl_duphandle_fn)(CURL *);
typedef void (*xr_curl_handle_fn)(CURL *);
typedef CURLMcode (*xr_curl_multi_handle_fn)(CURLM *, CURL *);
typedef CURLMsg *(*xr_curl_info_read_fn)(CURLM *, int *);
typedef CURLcode (*xr_curl_getinfo_fn)(CURL *, CURLINFO, ...);
typedef const char *(*xr_curl_strerror_fn)(CURLcode);
typedef CURLHcode (*xr_curl_header_fn)(CURL *, const char *, size_t,
                                       unsigned int, int, struct curl_header **);
typedef CURLUcode (*xr_curl_url_get_fn)(const CURLU *, CURLUPart, char **,
                                        unsigned int);
typedef void (*xr_curl_free_fn)(void *);

/* A typed function from a resolved table. */
#define XR_CURL(api, idx, type) ((type)(api)[idx])

extern const struct xr_family xr_curl_family;

#endif /* XR_CURL_API_H */
