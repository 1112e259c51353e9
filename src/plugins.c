/*
 * The gathering half of the plugins (plugins.h): once per process, off
 * the hot path. Threads: xr_plugins_start runs on a host thread (inside a
 * hooked call or xray_begin_segment) and only does non-blocking work
 * there, never a loader call (xr_plugins_init, in the constructor, looks
 * up what the service block needs); the files and the network are read
 * by xr_plugins_main on a detached thread of ours with every signal
 * blocked: the network through raw system calls (http_client.c), the
 * files with plain libc (our read and close hooks pass a descriptor that
 * is not a tracked socket straight through, and this thread has no
 * segment to record into).
 */
#include "xr_setup.h"

#include "plugins.h"

#include "file.h"
#include "http_client.h"
#include "log.h"
#include "thread.h"
#include "url.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Files and metadata documents above this size are not ours to read. */
#define XR_PLUGIN_FILE_MAX (64u * 1024)
#define XR_PLUGIN_BODY_MAX (64u * 1024)
/* One second per request, as the SDKs' EC2 plugin; ECS is local too. */
#define XR_PLUGIN_TIMEOUT_MS 1000

enum { XR_PL_IDLE, XR_PL_RUNNING, XR_PL_DONE };

_Atomic(const struct xr_plugins_doc *) xr_plugins_published;
static atomic_int xr_pl_state;
static unsigned xr_pl_mask;
static char xr_pl_root[256];
static struct xr_url xr_pl_ecs, xr_pl_imds;
static bool xr_pl_have_ecs, xr_pl_have_imds;
static char xr_pl_ecs_uri[512], xr_pl_imds_uri[512];
/* The service block, computed at the first start (host thread), read by
 * the gathering thread after it. */
static char xr_pl_runtime[64], xr_pl_runtime_version[32];
/* CPython's Py_GetVersion, looked up by xr_plugins_init (constructor). */
static const char *(*xr_pl_py_version)(void);

/* Superseded publications: a writer may still be copying one, so they
 * are never freed; kept here so that they stay reachable (leak checkers).
 * At most three a process (service, local, EC2), a few more down a chain
 * of children forked mid-fetch; past the array they are just dropped. */
static const struct xr_plugins_doc *volatile xr_pl_kept[8]; /* never read */
static atomic_uint xr_pl_nkept;

void xr_plugins_publish(const struct xr_plugins_doc *d)
{
  const struct xr_plugins_doc *old =
      atomic_exchange_explicit(&xr_plugins_published, d, memory_order_acq_rel);
  unsigned i;

  if (old && (i = atomic_fetch_add(&xr_pl_nkept, 1)) < XR_ARRAY_SIZE(xr_pl_kept))
    xr_pl_kept[i] = old;
}

/* dl_iterate_phdr's callback: an object whose path names libpython. */
static int xr_libpython_seen(struct dl_phdr_info *info, size_t size, void *data)
{
  (void)size;
  (void)data;
  return info->dlpi_name && strstr(info->dlpi_name, "libpython") != NULL;
}

/* Py_GetVersion when the process is a CPython interpreter (its executable
 * is python*, or it linked libpython), else NULL without a lookup.
 * Constructor time: not at the first segment, which may be created inside
 * a hooked recv or read where a loader call must not run: dlsym takes the
 * loader's lock (a host thread inside dlopen whose constructor waits for
 * that one would deadlock) and allocates on a miss (preload-craft E7).
 * Here the lookup is a hit or is not made: no allocation, no system call
 * (integration.startup). dl_iterate_phdr only reads the loaded objects. */
static void xr_python_lookup(void)
{
  const char *exe = program_invocation_short_name;

  xr_pl_py_version = NULL;
  if ((exe && strncmp(exe, "python", 6) == 0) || dl_iterate_phdr(xr_libpython_seen, NULL))
    *(void **)&xr_pl_py_version = dlsym(RTLD_DEFAULT, "Py_GetVersion");
}

void xr_plugins_init(const struct xr_config *cfg)
{
  xr_pl_mask = cfg->plugins;
  memcpy(xr_pl_root, cfg->plugins_root, sizeof(xr_pl_root));
  memcpy(xr_pl_ecs_uri, cfg->ecs_uri, sizeof(xr_pl_ecs_uri));
  memcpy(xr_pl_imds_uri, cfg->imds_uri, sizeof(xr_pl_imds_uri));
  /* config.c validated both; xr_url points into these copies. */
  xr_pl_have_ecs = xr_pl_ecs_uri[0] && xr_url_parse(xr_pl_ecs_uri, &xr_pl_ecs) == 0;
  xr_pl_have_imds = xr_pl_imds_uri[0] && xr_url_parse(xr_pl_imds_uri, &xr_pl_imds) == 0;
  xr_python_lookup();
  /* A re-initialisation (unit tests) starts afresh; published documents
   * are never freed (a writer may hold one). */
  atomic_store(&xr_pl_state, XR_PL_IDLE);
  xr_plugins_publish(NULL);
}

bool xr_plugins_excluded(const char *host, int port)
{
  const struct xr_url *u[2] = {xr_pl_have_ecs ? &xr_pl_ecs : NULL,
                               xr_pl_have_imds ? &xr_pl_imds : NULL};
  size_t i;

  /* The ECS task metadata and credentials endpoint. */
  if (strcmp(host, "169.254.170.2") == 0)
    return true;
  for (i = 0; i < XR_ARRAY_SIZE(u); i++)
    if (u[i] && xr_url_port(u[i]) == port && strcasecmp(u[i]->host, host) == 0)
      return true;
  return false;
}

/* ---- the service block ------------------------------------------------ */

/* What a preloaded library can tell for sure: CPython and its version
 * when the interpreter's Py_GetVersion is in the global scope (it returns
 * a static string, needs no GIL), else the executable's name as started
 * (node, java, curl), without a version it cannot know. */
static void xr_runtime_detect(void)
{
  const char *v;
  size_t n = 0;

  if (xr_pl_py_version && (v = xr_pl_py_version()) != NULL) {
    /* "3.11.2 (main, ...) [GCC ...]": the first word, digits and dots
     * (and a+/rc suffix letters). */
    while (n < sizeof(xr_pl_runtime_version) - 1 &&
           ((v[n] >= '0' && v[n] <= '9') || v[n] == '.' || v[n] == '+' ||
            (v[n] >= 'a' && v[n] <= 'z')))
      n++;
    if (n > 0 && v[0] >= '0' && v[0] <= '9' && (v[n] == ' ' || v[n] == '\0')) {
      memcpy(xr_pl_runtime_version, v, n);
      xr_pl_runtime_version[n] = '\0';
      strcpy(xr_pl_runtime, "CPython");
      return;
    }
  }
  snprintf(xr_pl_runtime, sizeof(xr_pl_runtime), "%s",
           program_invocation_short_name ? program_invocation_short_name : "");
}

/* ---- files ---------------------------------------------------------- */

/* The whole file root + path, its first XR_PLUGIN_FILE_MAX bytes (what
 * the parsers look at; a longer mountinfo is cut, as before), NUL
 * terminated, malloc'ed. 0 or a negative errno. */
static int xr_read_file(const char *path, char **out, size_t *len)
{
  char full[512];
  int rc;

  *out = NULL;
  *len = 0;
  if ((size_t)snprintf(full, sizeof(full), "%s%s", xr_pl_root, path) >= sizeof(full))
    return -ENAMETOOLONG;
  if ((rc = xr_file_read(full, XR_PLUGIN_FILE_MAX, out, len)) < 0)
    return rc;
  if (*len > XR_PLUGIN_FILE_MAX)
    (*out)[*len = XR_PLUGIN_FILE_MAX] = '\0';
  return 0;
}

static cJSON *xr_gather_beanstalk(void)
{
  static const char path[] = "/var/elasticbeanstalk/xray/environment.conf";
  char *text;
  size_t len;
  cJSON *o = NULL;
  int rc = xr_read_file(path, &text, &len);

  if (rc == 0)
    o = xr_beanstalk_parse(text, len);
  if (!o)
    xr_info("plugin beanstalk: %s%s: %s", xr_pl_root, path,
            rc < 0 ? strerror(-rc) : "no environment_name, version_label or deployment_id");
  free(text);
  return o;
}

static cJSON *xr_gather_eks(void)
{
  char id[65], host[256];
  char *text = NULL;
  size_t len;
  int rc;

  rc = xr_read_file("/proc/self/cgroup", &text, &len);
  if (rc == 0)
    rc = xr_cgroup_container_id(text, len, id);
  free(text);
  text = NULL;
  if (rc < 0) {
    rc = xr_read_file("/proc/self/mountinfo", &text, &len);
    if (rc == 0)
      rc = xr_mountinfo_container_id(text, len, id);
    free(text);
  }
  if (rc < 0) {
    xr_info("plugin eks: no container id in %s/proc/self/cgroup or mountinfo", xr_pl_root);
    return NULL;
  }
  if (gethostname(host, sizeof(host)) < 0)
    host[0] = '\0';
  host[sizeof(host) - 1] = '\0';
  /* cluster_name needs the Kubernetes API (TLS, the service account's
   * token), which this library does not speak: left out. */
  return xr_eks_make(id, host, NULL);
}

/* ---- network -------------------------------------------------------- */

/* GET/PUT on the endpoint u with path (which may hold a query). 0 with
 * *out filled for a 200, else a negative errno (-ENOENT for other
 * statuses). */
static int xr_fetch(const struct xr_url *u, const char *method, const char *path,
                    const char *headers, struct xr_http_response *out)
{
  struct xr_endpoint ep;
  struct sockaddr_storage ss;
  socklen_t sslen;
  char host_header[XR_HOST_MAX + 16];
  struct xr_http_request rq = {method, path, headers, NULL, 0};
  int rc, port = xr_url_port(u);

  memset(out, 0, sizeof(*out));
  if (strlen(u->host) >= sizeof(ep.host) || port <= 0)
    return -EINVAL;
  strcpy(ep.host, u->host);
  ep.port = (uint16_t)port;
  rc = xr_http_resolve(&ep, &ss, &sslen);
  if (rc < 0)
    return rc;
  snprintf(host_header, sizeof(host_header), u->ipv6 ? "[%s]:%d" : "%s:%d", u->host, port);
  if (strcmp(method, "PUT") == 0)
    rq.body = ""; /* Content-Length: 0 */
  rc = xr_http_fetch((const struct sockaddr *)&ss, sslen, host_header, &rq,
                     XR_PLUGIN_TIMEOUT_MS, XR_PLUGIN_BODY_MAX, out);
  if (rc < 0)
    return rc;
  if (out->status != 200) {
    xr_http_response_free(out);
    return -ENOENT;
  }
  return 0;
}

/* The endpoint's path, without a trailing slash, + suffix. */
static void xr_join(char *buf, size_t cap, const struct xr_url *u, const char *suffix)
{
  size_t n = u->path_len;
  while (n > 0 && u->path[n - 1] == '/')
    n--;
  snprintf(buf, cap, "%.*s%s", (int)n, u->path, suffix);
  if (buf[0] != '/')
    snprintf(buf, cap, "/%s", suffix[0] == '/' ? suffix + 1 : suffix);
}

static cJSON *xr_gather_ecs(void)
{
  struct xr_http_response c, t;
  char path[600], host[256];
  cJSON *o = NULL;
  int rc;

  if (!xr_pl_have_ecs) {
    xr_info("plugin ecs: ECS_CONTAINER_METADATA_URI_V4 is not set");
    return NULL;
  }
  xr_join(path, sizeof(path), &xr_pl_ecs, "");
  rc = xr_fetch(&xr_pl_ecs, "GET", path, NULL, &c);
  if (rc < 0) {
    xr_info("plugin ecs: container metadata: %s", strerror(-rc));
    return NULL;
  }
  xr_join(path, sizeof(path), &xr_pl_ecs, "/task");
  if (xr_fetch(&xr_pl_ecs, "GET", path, NULL, &t) < 0)
    memset(&t, 0, sizeof(t));
  if (gethostname(host, sizeof(host)) < 0)
    host[0] = '\0';
  host[sizeof(host) - 1] = '\0';
  o = xr_ecs_parse(c.body, c.body_len, t.body, t.body_len, host);
  if (!o)
    xr_info("plugin ecs: the container metadata is not a JSON object");
  xr_http_response_free(&c);
  xr_http_response_free(&t);
  return o;
}

/* IMDSv2 only: a token (PUT), then the identity document with it. No
 * IMDSv1 fallback: an instance that requires tokens answers 401 to it,
 * and one that allows v1 answers the PUT too. */
static cJSON *xr_gather_ec2(void)
{
  struct xr_http_response tok, doc;
  char headers[200], path[600];
  cJSON *o = NULL;
  size_t n;
  int rc;

  if (!xr_pl_have_imds)
    return NULL;
  xr_join(path, sizeof(path), &xr_pl_imds, "/latest/api/token");
  rc = xr_fetch(&xr_pl_imds, "PUT", path, "X-aws-ec2-metadata-token-ttl-seconds: 60\r\n",
                &tok);
  if (rc < 0) {
    xr_info("plugin ec2: IMDSv2 token: %s", strerror(-rc));
    return NULL;
  }
  /* A token is printable ASCII; anything else would inject headers. */
  for (n = 0; n < tok.body_len; n++)
    if ((unsigned char)tok.body[n] <= 0x20 || (unsigned char)tok.body[n] >= 0x7f)
      break;
  if (n == 0 || n != tok.body_len || n > 128) {
    xr_info("plugin ec2: IMDSv2 token is not a printable token of at most 128 bytes");
    xr_http_response_free(&tok);
    return NULL;
  }
  snprintf(headers, sizeof(headers), "X-aws-ec2-metadata-token: %s\r\n", tok.body);
  xr_http_response_free(&tok);
  xr_join(path, sizeof(path), &xr_pl_imds, "/latest/dynamic/instance-identity/document");
  rc = xr_fetch(&xr_pl_imds, "GET", path, headers, &doc);
  if (rc < 0) {
    xr_info("plugin ec2: instance identity document: %s", strerror(-rc));
    return NULL;
  }
  o = xr_ec2_parse(doc.body, doc.body_len);
  if (!o)
    xr_info("plugin ec2: the instance identity document has no instanceId");
  xr_http_response_free(&doc);
  return o;
}

/* Renders and publishes copies of what is known so far (the published
 * document owns its trees, and is never freed). */
static void xr_publish_found(const cJSON *ec2, const cJSON *ecs, const cJSON *eks,
                             const cJSON *eb)
{
  struct xr_plugins_doc *d = xr_plugins_render(
      ec2 ? cJSON_Duplicate(ec2, 1) : NULL, ecs ? cJSON_Duplicate(ecs, 1) : NULL,
      eks ? cJSON_Duplicate(eks, 1) : NULL, eb ? cJSON_Duplicate(eb, 1) : NULL,
      xr_pl_runtime, xr_pl_runtime_version);
  if (d)
    xr_plugins_publish(d);
}

static void *xr_plugins_main(void *arg)
{
  cJSON *ec2 = NULL, *ecs = NULL, *eks = NULL, *eb = NULL;

  (void)arg;
  if (xr_pl_mask & XR_PLUGIN_BEANSTALK)
    eb = xr_gather_beanstalk();
  if (xr_pl_mask & XR_PLUGIN_EKS)
    eks = xr_gather_eks();
  if (xr_pl_mask & XR_PLUGIN_ECS)
    ecs = xr_gather_ecs();
  if (eb || eks || ecs)
    xr_publish_found(NULL, ecs, eks, eb);
  if (xr_pl_mask & XR_PLUGIN_EC2) {
    ec2 = xr_gather_ec2();
    if (ec2)
      xr_publish_found(ec2, ecs, eks, eb);
  }
  xr_debug("plugins: ec2 %s, ecs %s, eks %s, beanstalk %s", ec2 ? "found" : "-",
           ecs ? "found" : "-", eks ? "found" : "-", eb ? "found" : "-");
  cJSON_Delete(ec2);
  cJSON_Delete(ecs);
  cJSON_Delete(eks);
  cJSON_Delete(eb);
  atomic_store(&xr_pl_state, XR_PL_DONE);
  return NULL;
}

void xr_plugins_start(void)
{
  int idle = XR_PL_IDLE;
  int rc;

  if (XR_LIKELY(atomic_load_explicit(&xr_pl_state, memory_order_relaxed) != XR_PL_IDLE))
    return;
  if (!atomic_compare_exchange_strong(&xr_pl_state, &idle, XR_PL_RUNNING))
    return;
  /* The service block first, so that this very segment carries it. A
   * fork child restarting keeps what it inherited. */
  if (!xr_pl_runtime[0]) {
    xr_runtime_detect();
    if (!xr_plugins_doc())
      xr_publish_found(NULL, NULL, NULL, NULL);
  }
  if (!xr_pl_mask) {
    atomic_store(&xr_pl_state, XR_PL_DONE);
    return;
  }
  rc = -xr_thread_spawn(xr_plugins_main, NULL);
  if (rc) {
    xr_info("plugins: no thread (%s); segments carry no aws blocks", strerror(rc));
    atomic_store(&xr_pl_state, XR_PL_DONE);
  }
}

void xr_plugins_fork_child(void)
{
  /* The gathering thread is not in the child: start it again. */
  if (atomic_load(&xr_pl_state) == XR_PL_RUNNING)
    atomic_store(&xr_pl_state, XR_PL_IDLE);
}
