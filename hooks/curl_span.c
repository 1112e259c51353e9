#include "../src/xr_setup.h"

#include "curl_span.h"

#include "curl_codes.h"

#include "../src/http_call.h"
#include "../src/log.h"
#include "../src/handles.h"
#include "../src/url.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define XR_CURL_HANDLES 4096 /* table slots; 3/4 of them usable */
#define XR_URL_COPY_MAX 8192
#define XR_BODY_SCAN_MAX 4096
#define XR_SLIST_SCAN_MAX 1000

enum xr_method_hint { XR_M_GET, XR_M_HEAD, XR_M_POST, XR_M_PUT };
static const char *const xr_hint_names[] = {"GET", "HEAD", "POST", "PUT"};

struct xr_curl_handle {
  /* What the program set. */
  char *url;
  CURLU *curlu;
  struct curl_slist *headers;
  char method[32];
  enum xr_method_hint hint;
  const char *postfields; /* the program's; valid until its transfer */
  char *postcopy;         /* our copy of COPYPOSTFIELDS (bounded) */
  size_t postcopy_len;
  curl_off_t postsize;    /* -1 when not set */
  char *errbuf;
  /* The transfer in flight. */
  bool active;
  bool injected;
  bool s3_bucket, s3_key;
  void *const *api;
  char *span_url;         /* URL read from CURLU at begin */
  /* The URL of the transfer (st->url or span_url) parsed at begin, valid
   * while begin_url is that string and unchanged: the effective URL is
   * most often the same, and is then not parsed again at the end. When it
   * is st->url, the parse is kept for the handle's next transfers (a
   * keep-alive loop reuses the URL): xr_forget_url drops it whenever st->url
   * or the CURLU changes. clean_url: xr_url_clean of that parse, made at
   * the first record, or NULL. */
  const char *begin_url;
  struct xr_url begin_parsed;
  char *clean_url;
  struct xr_span span;
  struct xr_aws_call aws;
  struct curl_slist node; /* our header line, in front of the program's */
  char line[XR_HEADER_MAX + 32];
  struct curl_slist tp_node; /* traceparent (XRAY_AUTO_PROPAGATE=w3c) */
  char tp_line[sizeof("traceparent: ") + XR_TRACEPARENT_LEN];
};

static struct xr_handles xr_handles = XR_HANDLES_INIT("CURL handles", XR_CURL_HANDLES);

static struct xr_curl_handle *xr_lookup(CURL *h)
{
  return xr_handles_get(&xr_handles, h);
}

static struct xr_curl_handle *xr_lookup_or_create(CURL *h)
{
  bool created;
  struct xr_curl_handle *st = xr_handles_get_or_add(&xr_handles, h, sizeof(*st), &created);
  if (st && created)
    st->postsize = -1;
  return st;
}

/* The cached parse (and its clean form) no longer describes the URL. */
static void xr_forget_url(struct xr_curl_handle *st)
{
  st->begin_url = NULL;
  free(st->clean_url);
  st->clean_url = NULL;
}

static void xr_set_string(char **dst, const char *src, size_t max)
{
  free(*dst);
  *dst = src ? strndup(src, max) : NULL;
}

void xr_curl_note_option(void *const *api, CURL *h, CURLoption opt,
                         const union xr_optarg *arg)
{
  struct xr_curl_handle *st;

  (void)api;
  switch (opt) {
  case CURLOPT_URL:
  case CURLOPT_CURLU:
  case CURLOPT_HTTPHEADER:
  case CURLOPT_CUSTOMREQUEST:
  case CURLOPT_POSTFIELDS:
  case CURLOPT_COPYPOSTFIELDS:
  case CURLOPT_POSTFIELDSIZE:
  case CURLOPT_POSTFIELDSIZE_LARGE:
  case CURLOPT_NOBODY:
  case CURLOPT_POST:
  case CURLOPT_UPLOAD:
  case CURLOPT_HTTPGET:
  case CURLOPT_MIMEPOST:
  case CURLOPT_HTTPPOST:
  case CURLOPT_ERRORBUFFER:
    break;
  default:
    return; /* the common case: no table lookup */
  }
  st = xr_lookup_or_create(h);
  if (!st)
    return;
  switch (opt) {
  case CURLOPT_URL:
    /* Programs often set the same URL before each transfer: keep the
     * copy and its parse then (strndup would copy exactly st->url). */
    if (arg->p && st->url && strncmp(st->url, arg->p, XR_URL_COPY_MAX) == 0)
      break;
    xr_forget_url(st); /* begin_url may be the string freed here */
    xr_set_string(&st->url, arg->p, XR_URL_COPY_MAX);
    break;
  case CURLOPT_CURLU:
    xr_forget_url(st);
    st->curlu = arg->p;
    break;
  case CURLOPT_HTTPHEADER:
    st->headers = arg->p;
    st->injected = false; /* the program's list replaced ours */
    break;
  case CURLOPT_CUSTOMREQUEST:
    snprintf(st->method, sizeof(st->method), "%s", arg->p ? (const char *)arg->p : "");
    break;
  case CURLOPT_POSTFIELDS:
    st->postfields = arg->p;
    free(st->postcopy);
    st->postcopy = NULL;
    st->hint = XR_M_POST;
    break;
  case CURLOPT_COPYPOSTFIELDS: {
    /* The program may free its buffer now: keep a bounded copy. curl
     * reads postsize bytes if set, else up to the NUL. */
    size_t n = st->postsize >= 0 ? (size_t)st->postsize : 0;
    const char *p = arg->p;
    free(st->postcopy);
    st->postcopy = NULL;
    st->postfields = NULL;
    if (p) {
      if (st->postsize < 0)
        n = strnlen(p, XR_BODY_SCAN_MAX);
      if (n > XR_BODY_SCAN_MAX)
        n = XR_BODY_SCAN_MAX;
      st->postcopy = malloc(n + 1);
      if (st->postcopy) {
        memcpy(st->postcopy, p, n);
        st->postcopy[n] = '\0';
        st->postcopy_len = n;
      }
    }
    st->hint = XR_M_POST;
    break;
  }
  case CURLOPT_POSTFIELDSIZE:
    st->postsize = arg->l;
    break;
  case CURLOPT_POSTFIELDSIZE_LARGE:
    st->postsize = arg->o;
    break;
  case CURLOPT_NOBODY:
    if (arg->l)
      st->hint = XR_M_HEAD;
    else if (st->hint == XR_M_HEAD)
      st->hint = XR_M_GET;
    break;
  case CURLOPT_UPLOAD:
    if (arg->l)
      st->hint = XR_M_PUT;
    else if (st->hint == XR_M_PUT)
      st->hint = XR_M_GET;
    break;
  case CURLOPT_POST:
    st->hint = arg->l ? XR_M_POST : XR_M_GET;
    break;
  case CURLOPT_HTTPGET:
    if (arg->l)
      st->hint = XR_M_GET;
    break;
  case CURLOPT_MIMEPOST:
  case CURLOPT_HTTPPOST:
    if (arg->p)
      st->hint = XR_M_POST;
    break;
  case CURLOPT_ERRORBUFFER:
    st->errbuf = arg->p;
    break;
  default:
    break;
  }
}

/* The value of header name in the program's list, or NULL. present is set
 * when the name appears at all (also in curl's "Name;" and "Name:" forms
 * that send an empty header or remove one). */
static const char *xr_find_header(const struct curl_slist *l, const char *name,
                                  bool *present)
{
  size_t n = strlen(name);
  int guard = 0;
  for (; l && guard < XR_SLIST_SCAN_MAX; l = l->next, guard++) {
    const char *d = l->data;
    if (!d || strncasecmp(d, name, n) != 0)
      continue;
    d += n;
    while (*d == ' ' || *d == '\t')
      d++;
    if (*d != ':' && *d != ';')
      continue;
    if (present)
      *present = true;
    if (*d == ';')
      return "";
    d++;
    while (*d == ' ' || *d == '\t')
      d++;
    return d;
  }
  return NULL;
}

static bool xr_is_http(const char *scheme)
{
  return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
}

/* A URL that names a scheme other than HTTP(S) (the parser wants a host,
 * which file:// and some others lack). */
static bool xr_has_other_scheme(const char *url)
{
  const char *sep = strstr(url, "://");
  size_t n = sep ? (size_t)(sep - url) : 0;

  if (!sep)
    return false;
  return !((n == 4 && strncasecmp(url, "http", 4) == 0) ||
           (n == 5 && strncasecmp(url, "https", 5) == 0));
}

/* What AWS needs to know before the body may go away. */
static void xr_collect_aws(struct xr_curl_handle *st, const struct xr_url *u)
{
  const char *v;

  v = xr_find_header(st->headers, "Authorization", NULL);
  if (v)
    xr_aws_from_authorization(v, &st->aws);
  if (!st->aws.is_aws)
    return;
  v = xr_find_header(st->headers, "X-Amz-Target", NULL);
  if (v)
    xr_aws_from_target(v, &st->aws);
  if (u && u->query)
    xr_aws_from_params(u->query, u->query_len, &st->aws);
  {
    const char *body = st->postcopy ? st->postcopy : st->postfields;
    size_t len = st->postcopy ? st->postcopy_len
                 : st->postsize >= 0 ? (size_t)st->postsize
                 : body ? strnlen(body, XR_BODY_SCAN_MAX) : 0;
    if (body && len) {
      const char *p = body;
      if (len > XR_BODY_SCAN_MAX)
        len = XR_BODY_SCAN_MAX;
      while (p < body + len && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
      if (p < body + len && *p == '{')
        xr_aws_from_json(body, len, &st->aws);
      else
        xr_aws_from_params(body, len, &st->aws);
    }
  }
  if (u && strcmp(st->aws.service, "s3") == 0) {
    /* Virtual-hosted style names the bucket in the host. */
    bool virt = strncmp(u->host, "s3.", 3) != 0 && strncmp(u->host, "s3-", 3) != 0;
    const char *p = u->path_len ? u->path + 1 : "";
    size_t left = u->path_len ? u->path_len - 1 : 0;
    const char *slash = memchr(p, '/', left);
    if (virt) {
      st->s3_bucket = true;
      st->s3_key = left > 0;
    } else {
      st->s3_bucket = left > 0;
      st->s3_key = slash && (size_t)(slash - p) + 1 < left;
    }
  }
}

struct xr_curl_handle *xr_curl_begin(void *const *api, CURL *h)
{
  struct xr_curl_handle *st = xr_lookup_or_create(h);
  const char *url;
  struct xr_url *u;
  bool have_url = false, present = false;
  unsigned prop;

  if (!st || st->active)
    return NULL;
  u = &st->begin_parsed;
  url = st->url;
  if (!st->curlu && url && st->begin_url == url) {
    have_url = true; /* the same string as the last transfer: parsed then */
    if (!xr_is_http(u->scheme) || xr_tracer_excluded(u->host, xr_url_port(u)))
      return NULL;
    goto parsed;
  }
  xr_forget_url(st);
  free(st->span_url);
  st->span_url = NULL;
  if (st->curlu && api[XR_CURL_URL_GET]) {
    char *s = NULL;
    if (XR_CURL(api, XR_CURL_URL_GET, xr_curl_url_get_fn)(st->curlu, CURLUPART_URL,
                                                          &s, 0) == CURLUE_OK && s) {
      st->span_url = strndup(s, XR_URL_COPY_MAX);
      url = st->span_url;
      if (api[XR_CURL_FREE])
        XR_CURL(api, XR_CURL_FREE, xr_curl_free_fn)(s);
    }
  }
  if (url && xr_url_parse(url, u) == 0) {
    have_url = true;
    if (!xr_is_http(u->scheme) || xr_tracer_excluded(u->host, xr_url_port(u)))
      return NULL;
  } else if (url && xr_has_other_scheme(url)) {
    return NULL; /* file:///etc/hostname: no host to parse, still not HTTP */
  }
parsed:
  xr_aws_clear(&st->aws);
  st->s3_bucket = st->s3_key = false;
  if (have_url)
    xr_aws_from_host(u->host, &st->aws);
  xr_collect_aws(st, have_url ? u : NULL);

  if (xr_span_begin(&st->span) < 0)
    return NULL;
  if (have_url)
    st->begin_url = url; /* begin_parsed holds its parse */
  st->api = api;
  st->active = true;
  st->injected = false;
  prop = xr_tracer_config()->propagate;
  /* A program that sets a trace header propagates its own context: with
   * w3c propagated, its X-Amzn-Trace-Id or traceparent means we add
   * neither (ours would name another trace next to it). */
  (void)xr_find_header(st->headers, "X-Amzn-Trace-Id", &present);
  if (prop & XR_PROP_W3C)
    (void)xr_find_header(st->headers, "traceparent", &present);
  if (!present) {
    static const char name[] = "X-Amzn-Trace-Id: ", tp_name[] = "traceparent: ";
    struct curl_slist *first = st->headers;
    size_t hl = strnlen(st->span.header, sizeof(st->span.header));

    /* Order on the wire: X-Amzn-Trace-Id, traceparent, the program's. */
    if ((prop & XR_PROP_W3C) &&
        xr_span_traceparent(&st->span, st->tp_line + sizeof(tp_name) - 1,
                            sizeof(st->tp_line) - (sizeof(tp_name) - 1)) > 0) {
      memcpy(st->tp_line, tp_name, sizeof(tp_name) - 1);
      st->tp_node.data = st->tp_line;
      st->tp_node.next = first;
      first = &st->tp_node;
    }
    if ((prop & XR_PROP_XRAY) && sizeof(name) - 1 + hl < sizeof(st->line)) {
      memcpy(st->line, name, sizeof(name) - 1);
      memcpy(st->line + sizeof(name) - 1, st->span.header, hl + 1);
      st->node.data = st->line;
      st->node.next = first;
      first = &st->node;
    }
    if (first != st->headers)
      st->injected = XR_CURL(api, XR_CURL_EASY_SETOPT, xr_curl_setopt_fn)(
                         h, CURLOPT_HTTPHEADER, first) == CURLE_OK;
  }
  return st;
}

static void xr_restore_headers(struct xr_curl_handle *st, CURL *h)
{
  if (!st->injected)
    return;
  st->injected = false;
  (void)XR_CURL(st->api, XR_CURL_EASY_SETOPT, xr_curl_setopt_fn)(
      h, CURLOPT_HTTPHEADER, st->headers);
}

static const char *xr_response_header(void *const *api, CURL *h, const char *name)
{
  struct curl_header *hd = NULL;
  if (!api[XR_CURL_EASY_HEADER])
    return NULL;
  if (XR_CURL(api, XR_CURL_EASY_HEADER, xr_curl_header_fn)(h, name, 0, CURLH_HEADER,
                                                            -1, &hd) != CURLHE_OK || !hd)
    return NULL;
  return hd->value;
}

static void xr_record(struct xr_curl_handle *st, CURL *h, CURLcode result,
                      bool aborted)
{
  void *const *api = st->api;
  xr_curl_getinfo_fn getinfo = XR_CURL(api, XR_CURL_EASY_GETINFO, xr_curl_getinfo_fn);
  struct xr_http_call call;
  char *eurl = NULL, *emethod = NULL;
  long status = 0;
  curl_off_t clen = -1, size = -1;
  char codebuf[32], errtext[CURL_ERROR_SIZE];

  memset(&call, 0, sizeof(call));
  if (getinfo) {
    (void)getinfo(h, CURLINFO_EFFECTIVE_URL, &eurl);
    (void)getinfo(h, CURLINFO_EFFECTIVE_METHOD, &emethod); /* 7.72+ */
    (void)getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    (void)getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    if (clen < 0 && status > 0) /* the only case that reads it */
      (void)getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &size);
  }
  call.method = emethod && *emethod ? emethod
                : st->method[0]     ? st->method
                                    : xr_hint_names[st->hint];
  call.url = eurl && *eurl ? eurl : st->span_url ? st->span_url : st->url;
  if (call.url && st->begin_url && strcmp(call.url, st->begin_url) == 0) {
    call.parsed = &st->begin_parsed;
    /* Kept only for st->url: a CURLU's URL is read and parsed anew at each
     * begin, so caching its clean form would only add an allocation. */
    if (!st->clean_url && st->begin_url == st->url) {
      char clean[XR_URL_RECORD_MAX];
      (void)xr_url_clean(&st->begin_parsed, clean, sizeof(clean));
      st->clean_url = strdup(clean); /* NULL: cleaned again next time */
    }
    call.clean_url = st->clean_url;
  }
  call.status = status;
  /* The Content-Length header when there was one, else the body size. */
  call.content_length = clen >= 0 ? (long long)clen
                        : status > 0 && size >= 0 ? (long long)size
                                                  : -1;
  /* CURLE_HTTP_RETURNED_ERROR (--fail) is the status, already a flag. */
  if (!aborted && result != CURLE_OK && result != CURLE_HTTP_RETURNED_ERROR) {
    call.error_type = xr_curl_code_name((int)result, codebuf, sizeof(codebuf));
    if (st->errbuf && st->errbuf[0]) {
      snprintf(errtext, sizeof(errtext), "%s", st->errbuf);
      call.error_message = errtext;
    } else if (api[XR_CURL_EASY_STRERROR]) {
      call.error_message = XR_CURL(api, XR_CURL_EASY_STRERROR, xr_curl_strerror_fn)(result);
    }
  }
  if (st->aws.is_aws) {
    call.aws = &st->aws;
    call.request_id = xr_response_header(api, h, "x-amzn-RequestId");
    if (!call.request_id)
      call.request_id = xr_response_header(api, h, "x-amz-request-id");
    call.id_2 = xr_response_header(api, h, "x-amz-id-2");
    if (strcmp(st->aws.service, "s3") == 0)
      xr_aws_s3_operation(call.method, st->s3_key, st->s3_bucket, &st->aws);
  }
  if (xr_http_record(st->span.sub, &call) < 0)
    xr_debug("out of memory recording a transfer");
}

void xr_curl_end(CURL *h, CURLcode result, bool aborted)
{
  xr_curl_end_st(xr_lookup(h), h, result, aborted);
}

void xr_curl_end_st(struct xr_curl_handle *st, CURL *h, CURLcode result,
                    bool aborted)
{
  if (!st || !st->active)
    return;
  if (st->span.sub)
    xr_record(st, h, result, aborted);
  xr_restore_headers(st, h);
  xr_span_end(&st->span);
  st->active = false;
}

bool xr_curl_span_open(CURL *h)
{
  struct xr_curl_handle *st = xr_lookup(h);
  return st && st->active;
}

void xr_curl_cancel(CURL *h)
{
  struct xr_curl_handle *st = xr_lookup(h);
  if (!st || !st->active)
    return;
  xr_restore_headers(st, h);
  xr_span_discard(&st->span);
  st->active = false;
}

static void xr_handle_free(struct xr_curl_handle *st)
{
  if (st->active)
    xr_span_discard(&st->span);
  free(st->url);
  free(st->postcopy);
  free(st->span_url);
  free(st->clean_url);
  free(st);
}

void xr_curl_forget(CURL *h)
{
  struct xr_curl_handle *st = xr_handles_remove(&xr_handles, h);
  if (st)
    xr_handle_free(st);
}

void xr_curl_reset(CURL *h)
{
  struct xr_curl_handle *st = xr_lookup(h);
  if (!st)
    return;
  if (st->active)
    xr_span_discard(&st->span);
  free(st->url);
  free(st->postcopy);
  free(st->span_url);
  free(st->clean_url);
  memset(st, 0, sizeof(*st));
  st->postsize = -1;
}

void xr_curl_dup(void *const *api, CURL *from, CURL *to)
{
  struct xr_curl_handle *src = xr_lookup(from), *dst;

  if (!src)
    return;
  /* The copy carries our node if `from` was mid-transfer: give it the
   * program's own list back. */
  if (src->injected)
    (void)XR_CURL(api, XR_CURL_EASY_SETOPT, xr_curl_setopt_fn)(to, CURLOPT_HTTPHEADER,
                                                              src->headers);
  dst = xr_lookup_or_create(to);
  if (!dst)
    return;
  dst->url = src->url ? strdup(src->url) : NULL;
  dst->headers = src->headers;
  memcpy(dst->method, src->method, sizeof(dst->method));
  dst->hint = src->hint;
  dst->postfields = src->postfields;
  dst->postsize = src->postsize;
  if (src->postcopy && (dst->postcopy = malloc(src->postcopy_len + 1))) {
    memcpy(dst->postcopy, src->postcopy, src->postcopy_len + 1);
    dst->postcopy_len = src->postcopy_len;
  }
  dst->errbuf = NULL; /* curl does not copy the error buffer either */
  xr_forget_url(dst);
}

void xr_curl_fork_child(void)
{
  xr_resolve_fork_child(&xr_curl_family);
  xr_handles_fork_child(&xr_handles);
}
