#include "xr_setup.h"

#include "http_call.h"

#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void xr_upper(char *dst, size_t cap, const char *src)
{
  size_t i;
  for (i = 0; src[i] && i + 1 < cap; i++)
    dst[i] = (src[i] >= 'a' && src[i] <= 'z') ? (char)(src[i] - 32) : src[i];
  dst[i] = '\0';
}

static int xr_add_aws(struct xr_entity *sub, const struct xr_aws_call *a,
                      const struct xr_http_call *c)
{
  cJSON *aws = xr_json_slot(&sub->aws);
  if (!aws)
    return -ENOMEM;
  sub->ns = "aws";
  if (a->service[0])
    xr_entity_set_name(sub, a->service);
  if (a->operation[0])
    cJSON_AddStringToObject(aws, "operation", a->operation);
  if (a->region[0])
    cJSON_AddStringToObject(aws, "region", a->region);
  if (c->request_id && *c->request_id)
    cJSON_AddStringToObject(aws, "request_id", c->request_id);
  if (c->id_2 && *c->id_2)
    cJSON_AddStringToObject(aws, "id_2", c->id_2);
  if (a->table_name[0])
    cJSON_AddStringToObject(aws, "table_name", a->table_name);
  if (a->queue_url[0])
    cJSON_AddStringToObject(aws, "queue_url", a->queue_url);
  return 0;
}

int xr_http_record(struct xr_entity *sub, const struct xr_http_call *c)
{
  char url[XR_URL_RECORD_MAX];
  struct xr_url parsed;
  const struct xr_url *u = c->parsed;
  bool have_url;
  struct xr_http *h = &sub->http;

  if (!u && c->url && xr_url_parse(c->url, &parsed) == 0)
    u = &parsed;
  have_url = u != NULL;

  xr_upper(h->method, sizeof(h->method), c->method && *c->method ? c->method : "GET");
  h->has_request = true;
  xr_entity_set_name(sub, have_url ? u->host : "unknown");
  sub->ns = "remote";
  free(h->url);
  h->url = NULL;
  if (have_url) {
    /* A URL too long for the buffer is recorded cut, never with its query. */
    const char *clean = url;
    if (c->clean_url && u == c->parsed)
      clean = c->clean_url;
    else
      (void)xr_url_clean(u, url, sizeof(url));
    h->url = strdup(clean);
    if (!h->url)
      return -ENOMEM;
  }
  h->status = c->status > 0 ? c->status : 0;
  h->content_length = c->content_length >= 0 ? c->content_length : -1;
  xr_entity_apply_status(sub, c->status);
  if (c->error_type &&
      xr_entity_add_exception(sub, c->error_type, c->error_message, false) < 0)
    return -ENOMEM;
  if (c->aws && c->aws->is_aws)
    return xr_add_aws(sub, c->aws, c);
  return 0;
}
