/*
 * Sampling decisions for traces this library starts (xray-spec.md 4.1).
 * The default rule: a reservoir of 1 trace per second, then 5 % of the rest.
 * XRAY_AUTO_SAMPLING_RULES names a local rules file (sampling_rules.h) that
 * replaces it: read once by xr_sampling_load at initialisation; a file that
 * cannot be used leaves the default rule, with one error line.
 * Incoming decisions (Sampled=1/0 of a trace header) are honoured by the
 * caller and never reach this module. XRAY_AUTO_SAMPLING=all samples
 * everything, rules or not; =centralized asks the daemon's rules first
 * (xr_sample_decide).
 * Contract: decisions are lock-free, allocate nothing, thread-safe.
 */
#ifndef XR_SAMPLING_H
#define XR_SAMPLING_H

#include "xr_setup.h"

#include "config.h"
#include "sampling_rules.h"

#define XR_DEFAULT_FIXED_TARGET 1
#define XR_DEFAULT_RATE 0.05

/* A trace started with nothing known of a request: the rules file's
 * default rule when one is loaded, else the built-in one. */
bool xr_sample(enum xr_sampling mode, int64_t now_seconds);
/* A trace started for a request (an inbound HTTP request): the first rule
 * of the file that matches it, else its default. req NULL: xr_sample. */
bool xr_sample_request(enum xr_sampling mode, int64_t now_seconds,
                       const struct xr_sample_req *req);
/*
 * The same, and with XR_SAMPLING_CENTRALIZED the daemon's rules first
 * (sampling_poller.h; the first such decision starts the poller): when
 * one of them decides, local rules are not consulted, and a sampled
 * decision sets *rule (when not NULL; else it is set to 0) to the rule's
 * number (xr_sampling_rule_name, at most 65535). Local rules see only
 * host, method and path: a req with none of them is "nothing known of the
 * request" (the default rule, as with req NULL).
 */
bool xr_sample_decide(enum xr_sampling mode, int64_t now_seconds,
                      const struct xr_sample_req *req, unsigned *rule);
/* The name of a rule xr_sample_decide reported (lives as long as the
 * process), NULL for 0 or an unknown number. */
const char *xr_sampling_rule_name(unsigned rule);
/* pthread_atfork child handler (the centralized poller). */
void xr_sampling_fork_child(void);

/*
 * Reads and activates the rules file at path. Call once, at
 * initialisation, before the host has threads of its own (the
 * constructor): the file is read with raw system calls (no interposer
 * sees them), non-blocking (a FIFO or a device cannot hang the host), at
 * most XR_RULES_FILE_MAX bytes. Any problem logs exactly one error line
 * naming the file and the problem (never the file's values) and keeps the
 * rules in force before. 0 or a negative errno.
 */
int xr_sampling_load(const char *path);
/* The rules in force, NULL for the built-in default. */
struct xr_rules *xr_sampling_rules(void);
/* Tests: back to the built-in default; frees the rules (no decision may
 * be running). */
void xr_sampling_unload(void);

#endif /* XR_SAMPLING_H */
