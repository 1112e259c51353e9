/*
 * URL parsing for recording: scheme, host, port and path, with userinfo,
 * query and fragment identified so that they never reach a document.
 * Contract: pure, no allocation; path and query point into the input.
 */
#ifndef XR_URL_H
#define XR_URL_H

#include "xr_setup.h"

struct xr_url {
  char scheme[16]; /* lower case; "http" when the URL had none (curl's guess) */
  char host[256];  /* lower case; IPv6 without brackets */
  bool ipv6;
  int port;        /* explicit port, or -1 */
  const char *path; /* "" when absent */
  size_t path_len;
  const char *query; /* without '?', NULL when absent */
  size_t query_len;
};

int xr_url_parse(const char *url, struct xr_url *u) XR_WUR;
/* 80 for http, 443 for https, ... ; -1 when unknown. */
int xr_url_default_port(const char *scheme);
/* The port in effect (explicit or default). */
int xr_url_port(const struct xr_url *u);
/* scheme://host[:port unless default]/path: no userinfo, query or
 * fragment. Length written, or -ENOSPC (buf then holds a cut URL). */
int xr_url_clean(const struct xr_url *u, char *buf, size_t len);

#endif /* XR_URL_H */
