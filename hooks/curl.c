/*
 * Exported libcurl hooks: each resolves the real function for its caller,
 * passes straight through unless tracing is ready and this is the
 * outermost traced operation of the thread, and keeps errno and the
 * result exactly as libcurl returned them. The logic is in curl_span.c.
 *
 * Spans: curl_easy_perform owns the whole transfer (the curl_multi_* calls
 * it makes through the PLT see xr_depth > 0); with the multi API a span
 * starts at curl_multi_add_handle and ends at curl_multi_info_read's
 * CURLMSG_DONE, or at curl_multi_remove_handle / curl_easy_cleanup if the
 * program never reads it.
 */
#include "../src/xr_setup.h"

#include "curl_api.h"
#include "curl_span.h"
#include "guard.h"

#include "../src/config.h"

#include <errno.h>
#include <stdarg.h>

#define XR_RA __builtin_return_address(0)

static const char *const xr_curl_names[XR_CURL_NFUNCS] = {
    [XR_CURL_EASY_PERFORM] = "curl_easy_perform",
    [XR_CURL_EASY_SETOPT] = "curl_easy_setopt",
    [XR_CURL_EASY_DUPHANDLE] = "curl_easy_duphandle",
    [XR_CURL_EASY_RESET] = "curl_easy_reset",
    [XR_CURL_EASY_CLEANUP] = "curl_easy_cleanup",
    [XR_CURL_MULTI_ADD_HANDLE] = "curl_multi_add_handle",
    [XR_CURL_MULTI_REMOVE_HANDLE] = "curl_multi_remove_handle",
    [XR_CURL_MULTI_INFO_READ] = "curl_multi_info_read",
    [XR_CURL_EASY_GETINFO] = "curl_easy_getinfo",
    [XR_CURL_EASY_STRERROR] = "curl_easy_strerror",
    [XR_CURL_EASY_HEADER] = "curl_easy_header",
    [XR_CURL_URL_GET] = "curl_url_get",
    [XR_CURL_FREE] = "curl_free",
};

static const char *const xr_curl_sonames[] = {
    "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4", "libcurl.so.3", NULL};

static const void *const xr_curl_own[XR_CURL_NFUNCS] = {
    [XR_CURL_EASY_PERFORM] = (const void *)curl_easy_perform,
    [XR_CURL_EASY_SETOPT] = (const void *)curl_easy_setopt,
    [XR_CURL_EASY_DUPHANDLE] = (const void *)curl_easy_duphandle,
    [XR_CURL_EASY_RESET] = (const void *)curl_easy_reset,
    [XR_CURL_EASY_CLEANUP] = (const void *)curl_easy_cleanup,
    [XR_CURL_MULTI_ADD_HANDLE] = (const void *)curl_multi_add_handle,
    [XR_CURL_MULTI_REMOVE_HANDLE] = (const void *)curl_multi_remove_handle,
    [XR_CURL_MULTI_INFO_READ] = (const void *)curl_multi_info_read,
};

static struct xr_family_state xr_curl_state;

const struct xr_family xr_curl_family = {
    .label = "libcurl",
    .names = xr_curl_names,
    .count = XR_CURL_NFUNCS,
    .sonames = xr_curl_sonames,
    .own = xr_curl_own,
    .st = &xr_curl_state,
};

XR_EXPORT CURLcode curl_easy_perform(CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  int saved = errno;
  struct xr_curl_handle *traced = NULL;
  bool ready;
  CURLcode rc;

  if (!api)
    return CURLE_FAILED_INIT;
  ready = xr_ready(XR_HOOK_CURL) && xr_depth == 0;
  if (ready) {
    xr_depth++;
    traced = xr_curl_begin(api, h);
    errno = saved;
  }
  rc = XR_CURL(api, XR_CURL_EASY_PERFORM, xr_curl_perform_fn)(h);
  if (ready) {
    saved = errno;
    if (traced)
      xr_curl_end_st(traced, h, rc, false);
    xr_depth--;
    errno = saved;
  }
  return rc;
}

XR_EXPORT CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  xr_curl_setopt_fn real;
  union xr_optarg arg;
  va_list ap;
  CURLcode rc;
  int saved;

  /* Exactly one argument follows, its type given by the option's range
   * (libcurl's own rule in curl_easy_setopt). */
  va_start(ap, opt);
  if (opt < CURLOPTTYPE_OBJECTPOINT)
    arg.l = va_arg(ap, long);
  else if (opt < CURLOPTTYPE_OFF_T)
    arg.p = va_arg(ap, void *); /* object and function pointers */
  else if (opt < CURLOPTTYPE_BLOB)
    arg.o = va_arg(ap, curl_off_t);
  else
    arg.p = va_arg(ap, void *);
  va_end(ap);
  if (!api)
    return CURLE_FAILED_INIT;
  real = XR_CURL(api, XR_CURL_EASY_SETOPT, xr_curl_setopt_fn);
  if (opt < CURLOPTTYPE_OBJECTPOINT)
    rc = real(h, opt, arg.l);
  else if (opt < CURLOPTTYPE_OFF_T || opt >= CURLOPTTYPE_BLOB)
    rc = real(h, opt, arg.p);
  else
    rc = real(h, opt, arg.o);
  if (rc == CURLE_OK && xr_ready(XR_HOOK_CURL)) {
    saved = errno;
    xr_curl_note_option(api, h, opt, &arg);
    errno = saved;
  }
  return rc;
}

XR_EXPORT CURL *curl_easy_duphandle(CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  CURL *copy;
  int saved;

  if (!api)
    return NULL;
  copy = XR_CURL(api, XR_CURL_EASY_DUPHANDLE, xr_curl_duphandle_fn)(h);
  if (copy && xr_ready(XR_HOOK_CURL)) {
    saved = errno;
    xr_curl_dup(api, h, copy);
    errno = saved;
  }
  return copy;
}

XR_EXPORT void curl_easy_reset(CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  int saved;

  if (!api)
    return;
  XR_CURL(api, XR_CURL_EASY_RESET, xr_curl_handle_fn)(h);
  if (xr_ready(XR_HOOK_CURL)) {
    saved = errno;
    xr_curl_reset(h);
    errno = saved;
  }
}

XR_EXPORT void curl_easy_cleanup(CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  bool ready = xr_ready(XR_HOOK_CURL);
  int saved = errno;

  if (!api)
    return;
  if (ready) {
    /* A transfer never reported done: record what is known while the
     * handle can still answer getinfo. */
    xr_depth++;
    xr_curl_end(h, CURLE_OK, true);
    xr_depth--;
    errno = saved;
  }
  XR_CURL(api, XR_CURL_EASY_CLEANUP, xr_curl_handle_fn)(h);
  if (ready) {
    saved = errno;
    xr_curl_forget(h);
    errno = saved;
  }
}

XR_EXPORT CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  bool traced = false;
  int saved = errno;
  CURLMcode rc;

  if (!api)
    return CURLM_INTERNAL_ERROR;
  if (xr_ready(XR_HOOK_CURL) && xr_depth == 0) {
    xr_depth++;
    traced = xr_curl_begin(api, h) != NULL;
    xr_depth--;
    errno = saved;
  }
  rc = XR_CURL(api, XR_CURL_MULTI_ADD_HANDLE, xr_curl_multi_handle_fn)(m, h);
  if (traced && rc != CURLM_OK) {
    saved = errno;
    xr_curl_cancel(h);
    errno = saved;
  }
  return rc;
}

XR_EXPORT CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  CURLMcode rc;
  int saved;

  if (!api)
    return CURLM_INTERNAL_ERROR;
  rc = XR_CURL(api, XR_CURL_MULTI_REMOVE_HANDLE, xr_curl_multi_handle_fn)(m, h);
  if (xr_ready(XR_HOOK_CURL) && xr_depth == 0) {
    saved = errno;
    xr_depth++;
    xr_curl_end(h, CURLE_OK, true);
    xr_depth--;
    errno = saved;
  }
  return rc;
}

XR_EXPORT CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
  void *const *api = xr_resolve(&xr_curl_family, XR_RA);
  CURLMsg *msg;
  int saved;

  if (!api) {
    if (left)
      *left = 0;
    return NULL;
  }
  msg = XR_CURL(api, XR_CURL_MULTI_INFO_READ, xr_curl_info_read_fn)(m, left);
  if (msg && msg->msg == CURLMSG_DONE && xr_ready(XR_HOOK_CURL) && xr_depth == 0) {
    saved = errno;
    xr_depth++;
    xr_curl_end(msg->easy_handle, msg->data.result, false);
    xr_depth--;
    errno = saved;
  }
  return msg;
}
