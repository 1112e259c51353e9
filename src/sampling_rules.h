/*
 * Local sampling rules: the SDKs' rules file (xray-spec.md 4.1), version 2
 *   {"version": 2,
 *    "rules": [{"description": "...", "host": "*", "http_method": "GET",
 *               "url_path": "/api*", "fixed_target": 1, "rate": 0.05}, ...],
 *    "default": {"fixed_target": 1, "rate": 0.05}}
 * or version 1, whose rules name the same field "service_name" instead of
 * "host" (the Go and Node SDKs match it against the Host header too).
 *
 * Strict: the file is accepted whole or not at all. Accepted is what every
 * SDK accepts (the Node SDK is the strictest): an object with "version" 1
 * or 2, "default" (exactly fixed_target and rate), optionally "rules" (an
 * array of objects with exactly the three patterns, fixed_target, rate, and
 * optionally a string "description"); no other key anywhere, no key twice,
 * patterns non-empty strings, fixed_target an integer >= 0, rate a number
 * in [0, 1]; strict JSON (no raw control character, no NUL, no trailing
 * text, no byte-order mark). Limits below; a file over any of them is
 * rejected too.
 *
 * Matching: rules in file order, the first whose three patterns match wins,
 * else the default. A request attribute that is absent (NULL or "") matches
 * any pattern (the SDKs' rule). Patterns are globs: '*' any run of bytes,
 * '?' one byte, ASCII letters case-insensitive, other bytes exact. The
 * matcher is a bit-parallel automaton: one pass over the text, a fixed
 * number of word operations per byte (one word under 64 pattern bytes,
 * three at the limit), whatever the pattern.
 *
 * Decision: a reservoir of fixed_target traces per wall-clock second per
 * rule (lock-free), then a coin of probability rate.
 *
 * Contract: xr_rules_parse allocates the result in one block (a few KB for
 * a few rules, about 1.3 MB for a file at every limit) besides temporary
 * memory (a NUL-terminated copy of the input, cJSON's tree) freed before
 * it returns; the result is immutable apart from the reservoirs' atomics,
 * so any number of threads may match and decide concurrently. Nothing here
 * logs: errors come back as text.
 */
#ifndef XR_SAMPLING_RULES_H
#define XR_SAMPLING_RULES_H

#include "xr_setup.h"

#include <stdatomic.h>

#define XR_RULES_FILE_MAX 65536 /* bytes of a rules file */
#define XR_RULES_MAX 128        /* rules besides the default */
#define XR_GLOB_MAX 128         /* bytes of one pattern (X-Ray's own URLPath limit) */
#define XR_RULE_DESC_MAX 1024   /* bytes of a description */
#define XR_FIXED_TARGET_MAX 1000000000L

/* Automaton states 0..XR_GLOB_MAX, one bit each. */
#define XR_GLOB_WORDS ((XR_GLOB_MAX + 1 + 63) / 64)

/* "*" matches everything; a pattern without '*' or '?' is compared. */
enum { XR_GLOB_AUTOMATON, XR_GLOB_ANY, XR_GLOB_LITERAL };

struct xr_glob {
  uint16_t m;                      /* pattern length, runs of '*' merged */
  uint16_t nlit;                   /* distinct literal bytes (folded) */
  uint8_t kind;                    /* XR_GLOB_ANY, _LITERAL or _AUTOMATON */
  uint8_t row[256];                /* per folded byte: 1 + its row in lit, 0 none */
  uint64_t star[XR_GLOB_WORDS];    /* states at a '*' */
  uint64_t any1[XR_GLOB_WORDS];    /* j+1 for every '?' at j */
  uint64_t lit[][XR_GLOB_WORDS];   /* per literal byte: j+1 for every j
                                      holding it */
};

struct xr_rule {
  /* NULL for the default rule. */
  const struct xr_glob *host, *method, *path;
  const char *host_text, *method_text, *path_text, *description;
  uint32_t fixed_target;
  double rate;
  /* High 32 bits: the second; low 32 bits: traces taken in it. */
  atomic_ullong reservoir;
};

struct xr_rules {
  int version;         /* 1 or 2, as the file said */
  unsigned nrules;     /* excluding the default */
  struct xr_rule deflt;
  struct xr_rule rule[]; /* nrules, then the patterns and texts */
};

/* What a decision knows of the request; NULL or "" members are absent.
 * Local rules match host, method and path; centralized rules
 * (sampling_central.h) all five. */
struct xr_sample_req {
  const char *host;   /* Host header as received (port included) */
  const char *method;
  const char *path;   /* without query or fragment */
  const char *service;      /* the segment's name */
  const char *service_type; /* the segment's origin (plugins) */
};

/*
 * Parses a rules document of len bytes (need not be NUL-terminated).
 * 0 and *out (free() it), or -EINVAL / -E2BIG / -ENOMEM with a one-line
 * reason in err (which never quotes the file's values, only key names and
 * positions).
 */
int xr_rules_parse(const char *buf, size_t len, struct xr_rules **out, char *err,
                   size_t errlen) XR_WUR;

/* The first rule that applies, else the default; never NULL. req may be
 * NULL (nothing known: the default, like the Python SDK without a
 * sampling request). */
struct xr_rule *xr_rules_match(struct xr_rules *rs, const struct xr_sample_req *req);
/* Index of the rule xr_rules_match picks, -1 for the default. */
int xr_rules_match_index(const struct xr_rules *rs, const struct xr_sample_req *req);

/* Takes one from the rule's reservoir for now_s, else draws unit() (a
 * number in [0, 1)) against rate. unit is called only when needed. */
bool xr_rule_decide(struct xr_rule *r, int64_t now_s, double (*unit)(void));

/* Glob matching on its own (tests, the fuzzer). The compiled size of a
 * pattern, whether text matches a compiled one (steps, when not NULL,
 * receives the automaton steps taken: at most len), and a one-shot form
 * that compiles onto the stack (pattern at most XR_GLOB_MAX bytes, else
 * false). */
size_t xr_glob_size(const char *pat, size_t len);
void xr_glob_compile(struct xr_glob *g, const char *pat, size_t len);
bool xr_glob_match(const struct xr_glob *g, const char *text, size_t len,
                   size_t *steps);
bool xr_glob_match_text(const char *pat, size_t plen, const char *text, size_t tlen);

#endif /* XR_SAMPLING_RULES_H */
