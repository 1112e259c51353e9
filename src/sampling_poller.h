/*
 * Centralized sampling: the process's engine (sampling_central.h) and the
 * thread that feeds it from the daemon's TCP proxy (xray-spec.md 1.5).
 *
 * The poller is one detached thread of ours, created with every signal
 * blocked, lazily: by the first decision made while centralized sampling
 * is configured (never at load). It fetches the rules at once, then every
 * 300 s + up to 5 s of jitter (or at once when the targets say the rules
 * changed); it reports statistics and fetches targets every 10 s + up to
 * 0.1 s (or the smallest Interval the daemon gave). Requests go through
 * http_client.h (raw system calls: our own hooks never see them).
 *
 * When the daemon's TCP address cannot be reached (or answers nonsense)
 * the poller logs one warning line per outage (invisible at the default
 * log level), keeps the local rules in force (no rules yet, or rules older
 * than an hour) and retries the rules every 300 s and the targets with a
 * doubling interval up to 300 s: the host never notices.
 *
 * Fork: the child handler marks the poller not started (the next decision
 * in the child starts its own), zeroes the counters and draws a new
 * ClientID; the socket of a request the parent's poller had in flight is
 * closed by http_client's own child handler (xr_http_fork_child). Exit:
 * nothing joins the thread; it dies with the process (nothing of the
 * engine is freed at exit, so it never runs on freed rule sets).
 */
#ifndef XR_SAMPLING_POLLER_H
#define XR_SAMPLING_POLLER_H

#include "xr_setup.h"

#include "config.h"
#include "sampling_rules.h"

/* Tracer initialisation (one thread): the daemon's TCP address; enables
 * centralized decisions. */
void xr_poller_configure(const struct xr_endpoint *tcp);

/*
 * The centralized decision (sampling_central.h's xr_central_decide on the
 * process's engine): 1, 0, or -1 for "use local rules". Starts the poller
 * on first use: one pthread_create, once per process (and per fork
 * child); otherwise reads the published state only. Never blocks.
 */
int xr_poller_sample(int64_t now_s, const struct xr_sample_req *req,
                     unsigned *rule);
/* xr_central_rule_name on the process's engine. */
const char *xr_poller_rule_name(unsigned rule);

/* pthread_atfork child handler. */
void xr_poller_fork_child(void);

#endif /* XR_SAMPLING_POLLER_H */
