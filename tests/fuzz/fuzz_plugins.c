/*
 * Fuzz target: the metadata parsers of src/plugins_parse.c, fed what a metadata endpoint or
 * a planted file could hold.
 *
 * Input: any bytes, split at the first NUL (when there is one) into two documents A and B
 * (no terminators: (pointer, length) pairs, as the HTTP client and the file reader pass
 * them). xr_ecs_parse(A, B), xr_ec2_parse(A), xr_beanstalk_parse(A), the cgroup v1 and
 * mountinfo container ids of the whole input, and the fragment rendered from all of them.
 *
 * Oracles: a container id is 64 lowercase hex digits and appears in the input; every string
 * the objects hold is valid UTF-8 of at most 250 bytes; the fragment's aws members and tail,
 * braced, parse as one JSON object whose members are the objects given, the tail's origin
 * is the most specific of those present, and printing the rendered tree gives the same
 * bytes as the fragment (the two writers' contract).
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "plugins.h"

#include <errno.h>
#include <string.h>

static void check_strings(const cJSON *o)
{
  const cJSON *c;
  for (c = o ? o->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c)) {
      size_t n = strlen(c->valuestring);
      XR_FZ_CHECK(n >= 1 && n <= XR_PLUGIN_VALUE_MAX);
      XR_FZ_CHECK(xr_fz_utf8_ok((const unsigned char *)c->valuestring, n));
    } else {
      XR_FZ_CHECK(cJSON_IsNumber(c));
    }
  }
}

static void check_id(int rc, const char *id, const uint8_t *data, size_t size)
{
  size_t i;
  if (rc != 0)
    return;
  XR_FZ_CHECK(strlen(id) == 64);
  for (i = 0; i < 64; i++)
    XR_FZ_CHECK((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
  XR_FZ_CHECK(memmem(data, size, id, 64) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *a = (const char *)data, *b = NULL;
  const uint8_t *nul = memchr(data, 0, size);
  size_t alen = size, blen = 0;
  char id1[65], id2[65], *text, *want;
  size_t cap;
  cJSON *ecs, *ec2, *eb, *eks = NULL, *back;
  struct xr_plugins_doc *d;
  int rc1, rc2;

  if (nul) {
    alen = (size_t)(nul - data);
    b = (const char *)nul + 1;
    blen = size - alen - 1;
  }
  ecs = xr_ecs_parse(a, alen, b, blen, "host");
  ec2 = xr_ec2_parse(a, alen);
  eb = xr_beanstalk_parse(a, alen);
  rc1 = xr_cgroup_container_id((const char *)data, size, id1);
  rc2 = xr_mountinfo_container_id((const char *)data, size, id2);
  XR_FZ_CHECK(rc1 == 0 || rc1 == -ENOENT);
  XR_FZ_CHECK(rc2 == 0 || rc2 == -ENOENT);
  check_id(rc1, id1, data, size);
  check_id(rc2, id2, data, size);
  if (rc1 == 0 || rc2 == 0)
    eks = xr_eks_make(rc1 == 0 ? id1 : id2, "pod", NULL);
  check_strings(ecs);
  check_strings(ec2);
  check_strings(eb);
  check_strings(eks);
  {
    bool has_eb = eb, has_eks = eks, has_ecs = ecs, has_ec2 = ec2;
    const char *origin = xr_plugins_origin(has_eb, has_eks, has_ecs, has_ec2);
    d = xr_plugins_render(ec2, ecs, eks, eb, "fuzz", NULL);
    if (!d)
      return 0; /* ENOMEM */
    cap = d->aws_len + d->tail_len + 32;
    text = malloc(cap);
    want = malloc(cap);
    XR_FZ_CHECK(text && want);
    snprintf(text, cap, "{%.*s\"xray\":0%.*s}", (int)d->aws_len, d->aws,
             (int)d->tail_len, d->tail);
    back = cJSON_Parse(text);
    XR_FZ_CHECK(back != NULL);
    XR_FZ_CHECK(!cJSON_GetObjectItemCaseSensitive(back, "ecs") == !has_ecs);
    XR_FZ_CHECK(!cJSON_GetObjectItemCaseSensitive(back, "ec2") == !has_ec2);
    XR_FZ_CHECK(!cJSON_GetObjectItemCaseSensitive(back, "eks") == !has_eks);
    XR_FZ_CHECK(!cJSON_GetObjectItemCaseSensitive(back, "elastic_beanstalk") == !has_eb);
    {
      const cJSON *o = cJSON_GetObjectItemCaseSensitive(back, "origin");
      XR_FZ_CHECK(origin ? (cJSON_IsString(o) && strcmp(o->valuestring, origin) == 0) : !o);
    }
    cJSON_Delete(back);
    /* The tree prints as the fragment: {"aws":{members},"origin":..,"service":..}. */
    {
      char *t = cJSON_PrintUnformatted(d->tree);
      XR_FZ_CHECK(t != NULL);
      if (d->aws_len)
        snprintf(want, cap, "{\"aws\":{%.*s}%.*s}", (int)d->aws_len - 1, d->aws,
                 (int)d->tail_len, d->tail);
      else
        snprintf(want, cap, "{%.*s}", (int)d->tail_len - 1, d->tail + 1);
      XR_FZ_CHECK(strcmp(t, want) == 0);
      cJSON_free(t);
    }
    free(text);
    free(want);
    xr_plugins_doc_free(d);
  }
  return 0;
}
