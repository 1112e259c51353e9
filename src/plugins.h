/*
 * Where a segment ran (XRAY_AUTO_PLUGINS, xray-spec.md 6.2) and what runs
 * it (the "service" block): the members every segment document carries
 * besides its own, gathered once per process and published as an
 * immutable, pre-rendered fragment that the document writer copies.
 *
 * Gathering: xr_plugins_start(), called at every segment's creation, does
 * its work once: the service block on the calling thread (a call to the
 * interpreter's Py_GetVersion, which xr_plugins_init looked up in the
 * constructor, and a few string copies: no loader call, never blocks), then, when plugins are listed, a
 * thread of ours (detached, every signal blocked) reads the files
 * (environment.conf, cgroup, mountinfo), asks the ECS endpoint, then IMDS
 * (1 s per request), publishing after the local part and again after
 * EC2. Segments finished before an answer lack its block; a failed plugin
 * contributes nothing (one info line). At load time, xr_plugins_init
 * looks Py_GetVersion up in a CPython process only, and nothing else.
 * Fork: the child inherits what is published; a child forked while the
 * thread ran starts it again at its next segment.
 * Contract: xr_plugins_doc() is one atomic load (any thread, no lock, no
 * allocation); what it returns is never freed or changed.
 */
#ifndef XR_PLUGINS_H
#define XR_PLUGINS_H

#include "xr_setup.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>

#include "config.h"

struct xr_plugins_doc {
  /* "\"ec2\":{...}," ...: the aws members, each followed by a comma, to
   * go before aws.xray; aws_len 0 when none. */
  const char *aws;
  size_t aws_len;
  /* ",\"origin\":\"...\",\"service\":{...}": after the aws object. */
  const char *tail;
  size_t tail_len;
  /* The origin (a static XR_ORIGIN_* string), NULL when none: the
   * sampling request's service_type. */
  const char *origin;
  /* The same as a tree, for xr_entity_to_json: {"aws":{members},
   * "origin":..., "service":{...}} (members absent when empty). */
  cJSON *tree;
};

/* Origins, most specific first (xray-spec.md 2.1). */
#define XR_ORIGIN_BEANSTALK "AWS::ElasticBeanstalk::Environment"
#define XR_ORIGIN_EKS "AWS::EKS::Container"
#define XR_ORIGIN_ECS "AWS::ECS::Container"
#define XR_ORIGIN_EC2 "AWS::EC2::Instance"

/* Constructor (no I/O): keeps what the plugins need from cfg. */
void xr_plugins_init(const struct xr_config *cfg);
/* First call: gathers (see above); later calls: one relaxed load. Host
 * threads, never a signal handler or vfork child. */
void xr_plugins_start(void);
/* What segments carry now (see below), or NULL. */
static inline const struct xr_plugins_doc *xr_plugins_doc(void);
void xr_plugins_fork_child(void);
/* The configured metadata endpoints (ECS, IMDS): never traced. */
bool xr_plugins_excluded(const char *host, int port);

/* ---- pure parts (plugins_parse.c; unit-tested) ------------------------ */

/* Values longer than this many bytes are dropped (X-Ray's 250). */
#define XR_PLUGIN_VALUE_MAX 250

/* aws.ecs from the container document (${uri}) and the task document
 * (${uri}/task, may be NULL); hostname: "container". NULL when the
 * container document is not a JSON object or on ENOMEM. */
cJSON *xr_ecs_parse(const char *container, size_t clen, const char *task,
                    size_t tlen, const char *hostname);
/* aws.ec2 from the instance identity document; NULL without instanceId. */
cJSON *xr_ec2_parse(const char *doc, size_t len);
/* aws.elastic_beanstalk from environment.conf; NULL when it holds none of
 * the three members. */
cJSON *xr_beanstalk_parse(const char *text, size_t len);
/* The 64-hex container id of /proc/self/cgroup (v1) or
 * /proc/self/mountinfo (v2) text. 0 or -ENOENT. */
int xr_cgroup_container_id(const char *text, size_t len, char out[65]);
int xr_mountinfo_container_id(const char *text, size_t len, char out[65]);
/* aws.eks: container_id (required), pod, cluster_name (either may be
 * NULL or ""). */
cJSON *xr_eks_make(const char *container_id, const char *pod, const char *cluster);
/* The most specific origin of those present, or NULL. */
const char *xr_plugins_origin(bool beanstalk, bool eks, bool ecs, bool ec2);
/* Renders the fragment; takes ownership of the four objects (any NULL).
 * runtime NULL: no service block. NULL on ENOMEM. Free with
 * xr_plugins_doc_free (tests; published ones are never freed). */
struct xr_plugins_doc *xr_plugins_render(cJSON *ec2, cJSON *ecs, cJSON *eks,
                                         cJSON *beanstalk, const char *runtime,
                                         const char *runtime_version);
void xr_plugins_doc_free(struct xr_plugins_doc *d);

/* ---- the published pointer -------------------------------------------- */
extern _Atomic(const struct xr_plugins_doc *) xr_plugins_published;

static inline const struct xr_plugins_doc *xr_plugins_doc(void)
{
  return atomic_load_explicit(&xr_plugins_published, memory_order_acquire);
}

/* Tests: publishes d (NULL: nothing) as if gathered. */
void xr_plugins_publish(const struct xr_plugins_doc *d);

#endif /* XR_PLUGINS_H */
