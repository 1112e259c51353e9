/*
 * Centralized sampling: the engine (xray-spec.md 1.5, 4.2). Pure: no
 * thread, no socket, no clock of its own; the poller (sampling_poller.c)
 * feeds it the daemon's answers and the time, decisions pass the time and
 * a random source, so unit tests drive it with an injected clock.
 *
 * Rules come from a GetSamplingRules response; only what the SDKs keep is
 * kept (Version 1, ResourceARN "*", no Attributes, non-empty ServiceType)
 * and a record that is malformed in any way is skipped. Rules are ordered
 * by (Priority, RuleName); the first whose five globs (Host, HTTPMethod,
 * URLPath, ServiceName, ServiceType) match the request wins, an absent
 * attribute matching any pattern (as in local rules). The rule named
 * "Default" comes last and applies to every request, as in the SDKs.
 *
 * Decision (per request, on the matched rule): request_count++, then
 *  1. a quota whose ReservoirQuotaTTL >= now: take one of ReservoirQuota
 *     per second (sampled++), else 3.;
 *  2. no valid quota and ReservoirSize > 0: borrow at most 1 per second
 *     (borrow++), else 3.;
 *  3. FixedRate (sampled++ when drawn).
 *
 * Per-rule state (counters, quota, rate) lives in a slot per rule NAME:
 * slots are never freed nor reused (at most XR_CSLOTS_MAX names per
 * process; X-Ray allows 25 rules per account), so a rule that keeps its
 * name across a refresh keeps its counters and quota, and a sampled
 * segment may keep a pointer to its slot's name for as long as it lives.
 *
 * Reclamation of replaced rule sets: two reader counts and an epoch bit
 * (a two-phase grace period, as in userspace RCU). A decision reads the
 * epoch, counts itself in readers[epoch] (one atomic add and sub,
 * lock-free, no allocation) around its use of the published set.
 * xr_central_install swaps the pointer, flips the epoch and retires the
 * old set against the old epoch's count: decisions that could still see
 * the old set are all counted there, and no new one enters it, so it
 * drains to zero within one decision's time even under constant load
 * (one global count would rarely be seen at zero on a busy server); then
 * the old set is freed. A decision that entered the old count late sees
 * the new pointer (seq_cst: its add follows the installer's zero read,
 * which follows the swap). A decision reads the epoch again after its
 * add and starts over when it changed: without that, one that read the
 * epoch before an install and added after it could count itself in the
 * count no retired set waits on and load the next set, which the install
 * after retires against the other count. Until that grace period ends a
 * further install is refused (-EBUSY, the rules in force stay): only a
 * thread stopped in the middle of a decision can make it last. A decision
 * that never ends (left by a signal handler's siglongjmp, asynchronous
 * cancellation, or one a handler interrupted to fork: the child's reset
 * count then goes below zero when it returns) holds its count for good:
 * the rules in force stay until they are an hour old, then the local
 * rules decide. Slower sampling updates, never a freed set in use. (A
 * decision itself has no cancellation point: ids.c seeds with the raw
 * getrandom system call.) The counts cost about what
 * the rule's own request counter costs, which every decision increments
 * anyway; per-thread epochs would avoid the shared lines but need
 * per-thread registration (TLS destructors, fork) for a set that changes
 * a few times a day.
 *
 * Threads: decisions from any thread, any number at once. Parsing,
 * installing, targets and statistics from one thread at a time (the
 * poller). Nothing here logs.
 */
#ifndef XR_SAMPLING_CENTRAL_H
#define XR_SAMPLING_CENTRAL_H

#include "xr_setup.h"

#include <stdatomic.h>

#include "sampling_rules.h"

#define XR_CRULE_NAME_MAX 32      /* bytes of a RuleName (X-Ray's limit) */
#define XR_CRULES_MAX 128         /* rules kept from one response */
#define XR_CRECORDS_MAX 4096      /* records looked at in one response */
#define XR_CSLOTS_MAX 256         /* distinct rule names per process */
#define XR_CRESPONSE_MAX (1u << 20) /* bytes of a daemon response */
#define XR_CENTRAL_TTL 3600       /* s without a rules refresh -> local rules */
#define XR_CQUOTA_MAX 1000000000LL
#define XR_CINTERVAL_MAX 3600     /* s; a larger Interval is clamped */
#define XR_CLIENT_ID_LEN 24

/* Per rule name; never freed, never reused for another name. */
struct xr_cslot {
  char name[XR_CRULE_NAME_MAX + 1]; /* written before publication */
  atomic_ullong requests, sampled, borrowed;
  atomic_ullong taken;       /* high 32 bits: second; low: quota taken */
  atomic_llong borrow_sec;   /* the last second a borrow happened */
  atomic_llong quota;        /* -1: none */
  atomic_llong quota_ttl;    /* epoch s */
  atomic_ullong rate_bits;   /* FixedRate (double), the rule's or the target's */
  atomic_int interval;       /* s, from the targets; 0 none */
};

struct xr_crule {
  struct xr_cslot *slot;
  const struct xr_glob *host, *method, *path, *service, *service_type;
  double fixed_rate;         /* as the rules said; targets change the slot's */
  long long reservoir_size;
  long long priority;
  bool is_default;           /* "Default": last, applies to every request */
};

struct xr_crules {
  unsigned n;
  struct xr_crule rule[]; /* n, then the compiled globs */
};

struct xr_central {
  _Atomic(struct xr_crules *) active;
  atomic_llong refreshed;    /* epoch s of the last install; 0 never */
  atomic_uint epoch;         /* bit 0: which count decisions enter */
  atomic_uint readers[2];    /* decisions running, per epoch */
  /* The poller's alone: */
  struct xr_crules *retired; /* replaced, awaiting readers[grace] == 0 */
  unsigned grace;
  unsigned nslots;
  char client_id[XR_CLIENT_ID_LEN + 1];
  struct xr_cslot slot[XR_CSLOTS_MAX];
};

/* A zeroed struct xr_central is an empty engine (no rules: every decision
 * is -1). client_id from 12 random bytes (24 lowercase hex). */
void xr_central_new_client_id(struct xr_central *c);

/*
 * Parses a GetSamplingRules response of len bytes (need not be
 * NUL-terminated, at most XR_CRESPONSE_MAX). Interns rule names into c's
 * slots (poller thread). 0 and *out (sorted; possibly with n == 0 when no
 * record is usable), *skipped = records left out; or -EINVAL (not the
 * response's shape), -E2BIG, -ENOMEM, -ENOSPC (no slot left for a name:
 * that record is skipped instead, never this). Never crashes on any input.
 */
int xr_central_parse_rules(struct xr_central *c, const char *buf, size_t len,
                           struct xr_crules **out, unsigned *skipped) XR_WUR;

/*
 * Publishes rs (taken over, even on failure) as the rules in force from
 * now_s: each rule's slot gets the rule's FixedRate; then frees the
 * replaced set when no decision can still use it. 0, or -EBUSY (rs freed,
 * the old set stays) while the set replaced before still waits.
 */
int xr_central_install(struct xr_central *c, struct xr_crules *rs, int64_t now_s);

/* Frees the replaced set if, in up to spins looks, no decision can still
 * use it. Returns how many still wait (0 or 1). Poller thread. */
unsigned xr_central_reclaim(struct xr_central *c, unsigned spins);

/*
 * The decision for req at now_s: 1 sampled, 0 not, -1 no centralized
 * decision (no rules, rules older than XR_CENTRAL_TTL, or no rule
 * matches): the caller uses local rules. On 1, *rule (when rule is not
 * NULL) is the matched rule's number: 1 + its slot. Lock-free, no
 * allocation, any thread.
 */
int xr_central_decide(struct xr_central *c, const struct xr_sample_req *req,
                      int64_t now_s, double (*unit)(void), unsigned *rule);
/* The name of rule number rule (valid as long as c), NULL when none. */
const char *xr_central_rule_name(struct xr_central *c, unsigned rule);

/*
 * Applies a SamplingTargets response: FixedRate, ReservoirQuota,
 * ReservoirQuotaTTL, Interval of each named rule (unknown names and
 * malformed documents are skipped). *interval: the smallest Interval
 * (s) seen, 0 when none. *refetch: LastRuleModification is newer than the
 * last install. 0 or -EINVAL (not the response's shape) / -E2BIG /
 * -ENOMEM.
 */
int xr_central_apply_targets(struct xr_central *c, const char *buf, size_t len,
                             int *interval, bool *refetch) XR_WUR;

/*
 * The SamplingTargets request body for the rules in force that had
 * requests since the last report; their counters are swapped to zero.
 * 0 and *out (malloc'ed, NUL-terminated; free() it), *out NULL when there
 * is nothing to report; or -ENOMEM (those counts are lost).
 */
int xr_central_statistics(struct xr_central *c, int64_t now_s, char **out) XR_WUR;

/* Tests only: when a program defines it, every decision calls it between
 * reading the epoch and counting itself in (a seam to stop a decision
 * there). Hidden and weak: in the library it is absent, the address NULL. */
extern void xr_central_stall_hook(struct xr_central *c)
    __attribute__((weak, visibility("hidden")));

/* Fork child (one thread): counters to zero, no reader running, a new
 * ClientID. */
void xr_central_fork_child(struct xr_central *c);

/* Tests: frees the rule sets and clears everything (no decision may be
 * running). */
void xr_central_reset(struct xr_central *c);

#endif /* XR_SAMPLING_CENTRAL_H */
