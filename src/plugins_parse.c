/*
 * The pure half of the plugins: metadata documents and files into the
 * aws.* objects, and those into the pre-rendered fragment. Input is
 * untrusted (a metadata endpoint, a file): lengths are given, cJSON
 * validates the JSON, only strings of at most XR_PLUGIN_VALUE_MAX bytes
 * (scrubbed to UTF-8) and finite numbers are copied.
 */
#include "xr_setup.h"

#include "plugins.h"

#include "utf8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* o[key] = a scrubbed copy of the string s (NUL-terminated). */
static bool xr_add_text(cJSON *o, const char *key, const char *s)
{
  char buf[XR_PLUGIN_VALUE_MAX + 1];
  size_t n;

  if (!s || !*s || (n = strnlen(s, sizeof(buf))) > XR_PLUGIN_VALUE_MAX)
    return false;
  memcpy(buf, s, n);
  buf[n] = '\0';
  xr_utf8_scrub(buf, n);
  return cJSON_AddStringToObject(o, key, buf) != NULL;
}

/* o[key] = v when v is a usable string. */
static bool xr_add_str(cJSON *o, const char *key, const cJSON *v)
{
  return cJSON_IsString(v) && xr_add_text(o, key, v->valuestring);
}

/* o[key] = v when v is a usable string or a finite number, as given. */
static bool xr_add_scalar(cJSON *o, const char *key, const cJSON *v)
{
  if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
    return cJSON_AddNumberToObject(o, key, v->valuedouble) != NULL;
  return xr_add_str(o, key, v);
}

static const cJSON *xr_member(const cJSON *o, const char *key)
{
  return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static cJSON *xr_parse_object(const char *s, size_t len)
{
  cJSON *j;

  if (!s || len == 0)
    return NULL;
  j = cJSON_ParseWithLength(s, len);
  if (j && !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    j = NULL;
  }
  return j;
}

/* An object with members, else NULL (freed). */
static cJSON *xr_nonempty(cJSON *o)
{
  if (o && !o->child) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}

cJSON *xr_ecs_parse(const char *container, size_t clen, const char *task,
                    size_t tlen, const char *hostname)
{
  cJSON *c = xr_parse_object(container, clen), *t = xr_parse_object(task, tlen);
  cJSON *o = NULL;
  const cJSON *labels, *cluster;

  if (!c)
    goto out;
  o = cJSON_CreateObject();
  if (!o)
    goto out;
  labels = xr_member(c, "Labels");
  (void)xr_add_text(o, "container", hostname);
  (void)xr_add_str(o, "container_id", xr_member(c, "DockerId"));
  (void)xr_add_str(o, "container_arn", xr_member(c, "ContainerARN"));
  if (!xr_add_str(o, "task_arn", xr_member(t, "TaskARN")))
    (void)xr_add_str(o, "task_arn", xr_member(labels, "com.amazonaws.ecs.task-arn"));
  if (!xr_add_str(o, "task_family", xr_member(t, "Family")))
    (void)xr_add_str(o, "task_family",
                     xr_member(labels, "com.amazonaws.ecs.task-definition-family"));
  cluster = xr_member(t, "Cluster");
  if (!cJSON_IsString(cluster))
    cluster = xr_member(labels, "com.amazonaws.ecs.cluster");
  /* The endpoint gives the ARN or, on some agents, the bare name. */
  if (cJSON_IsString(cluster))
    (void)xr_add_str(o, strncmp(cluster->valuestring, "arn:", 4) == 0 ? "cluster_arn"
                                                                        : "cluster",
                     cluster);
  (void)xr_add_str(o, "launch_type", xr_member(t, "LaunchType"));
  (void)xr_add_str(o, "availability_zone", xr_member(t, "AvailabilityZone"));
  o = xr_nonempty(o);
out:
  cJSON_Delete(c);
  cJSON_Delete(t);
  return o;
}

cJSON *xr_ec2_parse(const char *doc, size_t len)
{
  cJSON *d = xr_parse_object(doc, len), *o = NULL;

  if (!d || !cJSON_IsString(xr_member(d, "instanceId")))
    goto out;
  o = cJSON_CreateObject();
  if (!o)
    goto out;
  if (!xr_add_str(o, "instance_id", xr_member(d, "instanceId"))) {
    cJSON_Delete(o);
    o = NULL;
    goto out;
  }
  (void)xr_add_str(o, "availability_zone", xr_member(d, "availabilityZone"));
  (void)xr_add_str(o, "instance_type", xr_member(d, "instanceType"));
  (void)xr_add_str(o, "ami_id", xr_member(d, "imageId"));
out:
  cJSON_Delete(d);
  return o;
}

cJSON *xr_beanstalk_parse(const char *text, size_t len)
{
  static const char *const keys[] = {"environment_name", "version_label", "deployment_id"};
  cJSON *d = xr_parse_object(text, len), *o = NULL;
  size_t i;

  if (!d || !(o = cJSON_CreateObject()))
    goto out;
  for (i = 0; i < XR_ARRAY_SIZE(keys); i++)
    (void)xr_add_scalar(o, keys[i], xr_member(d, keys[i]));
  o = xr_nonempty(o);
out:
  cJSON_Delete(d);
  return o;
}

static bool xr_is_hex64(const char *s, size_t n)
{
  size_t i;
  if (n != 64)
    return false;
  for (i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* The id in a path's last component: <id>, docker-<id>.scope,
 * cri-containerd-<id>.scope, crio-<id>, <prefix>:<id> (64 hex). */
static bool xr_id_of_component(const char *s, size_t n, char out[65])
{
  if (n > 6 && memcmp(s + n - 6, ".scope", 6) == 0)
    n -= 6;
  if (n < 64)
    return false;
  if (n > 64 && s[n - 65] != '-' && s[n - 65] != ':')
    return false;
  if (!xr_is_hex64(s + n - 64, 64))
    return false;
  memcpy(out, s + n - 64, 64);
  out[64] = '\0';
  return true;
}

int xr_cgroup_container_id(const char *text, size_t len, char out[65])
{
  const char *p = text, *end = text + len;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end, *c1, *c2, *slash;

    /* hierarchy-ID:controllers:path; the path may hold colons. */
    c1 = memchr(p, ':', (size_t)(eol - p));
    c2 = c1 ? memchr(c1 + 1, ':', (size_t)(eol - c1 - 1)) : NULL;
    if (c2) {
      const char *path = c2 + 1;
      for (slash = eol; slash > path && slash[-1] != '/'; slash--)
        ;
      if (xr_id_of_component(slash, (size_t)(eol - slash), out))
        return 0;
    }
    p = eol + 1;
  }
  return -ENOENT;
}

int xr_mountinfo_container_id(const char *text, size_t len, char out[65])
{
  const char *p = text, *end = text + len;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end, *f = p, *root = NULL, *rend = NULL;
    int field;

    /* id parent major:minor root mount-point ...: the 4th field. */
    for (field = 0; field < 4 && f < eol; field++) {
      const char *sp;
      while (f < eol && *f == ' ')
        f++;
      sp = memchr(f, ' ', (size_t)(eol - f));
      if (!sp)
        sp = eol;
      if (field == 3) {
        root = f;
        rend = sp;
      }
      f = sp;
    }
    /* .../containers/<id>/hostname (docker), .../sandboxes/<id>/hostname
     * (containerd): the last 64-hex component before "hostname". */
    if (root && rend - root > 9 && memcmp(rend - 9, "/hostname", 9) == 0) {
      const char *e = rend - 9, *s;
      while (e > root) {
        for (s = e; s > root && s[-1] != '/'; s--)
          ;
        if (xr_is_hex64(s, (size_t)(e - s))) {
          memcpy(out, s, 64);
          out[64] = '\0';
          return 0;
        }
        e = s > root ? s - 1 : root;
      }
    }
    p = eol + 1;
  }
  return -ENOENT;
}

cJSON *xr_eks_make(const char *container_id, const char *pod, const char *cluster)
{
  cJSON *o;

  if (!container_id || !*container_id || !(o = cJSON_CreateObject()))
    return NULL;
  (void)xr_add_text(o, "cluster_name", cluster);
  (void)xr_add_text(o, "container_id", container_id);
  (void)xr_add_text(o, "pod", pod);
  return o;
}

const char *xr_plugins_origin(bool beanstalk, bool eks, bool ecs, bool ec2)
{
  if (beanstalk)
    return XR_ORIGIN_BEANSTALK;
  if (eks)
    return XR_ORIGIN_EKS;
  if (ecs)
    return XR_ORIGIN_ECS;
  if (ec2)
    return XR_ORIGIN_EC2;
  return NULL;
}

/* Appends n bytes to a malloc'ed buffer. */
struct xr_sbuf {
  char *p;
  size_t len, cap;
  bool oom;
};

static void xr_sb_put(struct xr_sbuf *b, const char *s, size_t n)
{
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *q = realloc(b->p, cap);
    if (!q) {
      b->oom = true;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void xr_sb_puts(struct xr_sbuf *b, const char *s)
{
  xr_sb_put(b, s, strlen(s));
}

/* ,"key": then the value as cJSON prints it (the writer's printer). */
static void xr_sb_json(struct xr_sbuf *b, const char *pre, const cJSON *v)
{
  char *s = cJSON_PrintUnformatted(v);
  if (!s) {
    b->oom = true;
    return;
  }
  xr_sb_puts(b, pre);
  xr_sb_puts(b, s);
  cJSON_free(s);
}

struct xr_plugins_doc *xr_plugins_render(cJSON *ec2, cJSON *ecs, cJSON *eks,
                                         cJSON *beanstalk, const char *runtime,
                                         const char *runtime_version)
{
  struct {
    const char *key;
    cJSON *v;
  } m[] = {{"ec2", ec2}, {"ecs", ecs}, {"eks", eks}, {"elastic_beanstalk", beanstalk}};
  struct xr_plugins_doc *d = calloc(1, sizeof(*d));
  struct xr_sbuf aws = {0}, tail = {0};
  cJSON *tree = cJSON_CreateObject(), *a = NULL, *svc = NULL;
  const char *origin = xr_plugins_origin(beanstalk, eks, ecs, ec2);
  size_t i;

  if (!d || !tree)
    goto fail;
  for (i = 0; i < XR_ARRAY_SIZE(m); i++) {
    char pre[32];
    if (!m[i].v)
      continue;
    if (!a && !(a = cJSON_AddObjectToObject(tree, "aws")))
      goto fail;
    snprintf(pre, sizeof(pre), "\"%s\":", m[i].key);
    xr_sb_json(&aws, pre, m[i].v);
    xr_sb_put(&aws, ",", 1);
    cJSON_AddItemToObject(a, m[i].key, m[i].v);
    m[i].v = NULL; /* the tree owns it */
  }
  if (origin) {
    if (!cJSON_AddStringToObject(tree, "origin", origin))
      goto fail;
    xr_sb_puts(&tail, ",\"origin\":\"");
    xr_sb_puts(&tail, origin);
    xr_sb_puts(&tail, "\"");
  }
  if (runtime && *runtime) {
    if (!(svc = cJSON_AddObjectToObject(tree, "service")))
      goto fail;
    (void)xr_add_text(svc, "runtime", runtime);
    (void)xr_add_text(svc, "runtime_version", runtime_version);
    xr_sb_json(&tail, ",\"service\":", svc);
  }
  if (aws.oom || tail.oom)
    goto fail;
  d->aws = aws.p ? aws.p : "";
  d->aws_len = aws.len;
  d->tail = tail.p ? tail.p : "";
  d->tail_len = tail.len;
  d->tree = tree;
  d->origin = origin;
  return d;
fail:
  for (i = 0; i < XR_ARRAY_SIZE(m); i++)
    cJSON_Delete(m[i].v);
  cJSON_Delete(tree);
  free(aws.p);
  free(tail.p);
  free(d);
  return NULL;
}

void xr_plugins_doc_free(struct xr_plugins_doc *d)
{
  if (!d)
    return;
  if (d->aws_len)
    free((char *)(uintptr_t)d->aws);
  if (d->tail_len)
    free((char *)(uintptr_t)d->tail);
  cJSON_Delete(d->tree);
  free(d);
}
