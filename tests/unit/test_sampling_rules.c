/* src/sampling_rules.c and the rules file in src/sampling.c: parsing (v1,
 * v2, every rejection), matching (order, wildcards, case, absent
 * attributes), the glob automaton (pathological patterns in bounded steps,
 * agreement with a reference matcher), reservoir and rate with injected
 * time and randomness, loading a file (one log line per problem), and the
 * tracer's inbound decisions. */
#include "util.h"

#include "../../src/config.h"
#include "../../src/entity.h"
#include "../../src/http_sniff.h"
#include "../../src/log.h"
#include "../../src/sampling.h"
#include "../../src/sampling_rules.h"
#include "../../src/tracer.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 1700000000LL

static char tmpdir[64];

/* ---- helpers ------------------------------------------------------- */

static struct xr_rules *parse_ok(const char *json)
{
  struct xr_rules *rs = NULL;
  char err[160];
  int rc = xr_rules_parse(json, strlen(json), &rs, err, sizeof(err));
  if (rc != 0)
    print_error("unexpected rejection: %s\n  of %s\n", err, json);
  assert_int_equal(rc, 0);
  assert_non_null(rs);
  return rs;
}

/* Rejected with rc, and err holds want. */
static void parse_bad(const char *json, int rc_want, const char *want)
{
  struct xr_rules *rs = (struct xr_rules *)(uintptr_t)1;
  char err[160];
  int rc = xr_rules_parse(json, strlen(json), &rs, err, sizeof(err));
  if (rc != rc_want || !strstr(err, want))
    print_error("rc %d (want %d), err \"%s\" (want \"%s\")\n  for %s\n", rc, rc_want,
                err, want, json);
  assert_int_equal(rc, rc_want);
  assert_null(rs);
  assert_non_null(strstr(err, want));
}

static const char *V2_DOC =
    "{\n"
    "  \"version\": 2,\n"
    "  \"rules\": [\n"
    "    {\n"
    "      \"description\": \"Player moves.\",\n"
    "      \"host\": \"*\",\n"
    "      \"http_method\": \"*\",\n"
    "      \"url_path\": \"/api/move/*\",\n"
    "      \"fixed_target\": 0,\n"
    "      \"rate\": 0.05\n"
    "    }\n"
    "  ],\n"
    "  \"default\": {\n"
    "    \"fixed_target\": 1,\n"
    "    \"rate\": 0.1\n"
    "  }\n"
    "}\n";

static const char *V1_DOC =
    "{\"version\": 1, \"rules\": ["
    " {\"description\": \"Scorekeep\", \"service_name\": \"Scorekeep\","
    "  \"http_method\": \"GET\", \"url_path\": \"/api/*\", \"fixed_target\": 2, \"rate\": 0.5}],"
    " \"default\": {\"fixed_target\": 3, \"rate\": 0.25}}";

static struct xr_sample_req req(const char *host, const char *method, const char *path)
{
  struct xr_sample_req q = {.host = host, .method = method, .path = path};
  return q;
}

/* ---- parsing: accepted ------------------------------------------------ */

static void test_parse_v2(void **state)
{
  struct xr_rules *rs = parse_ok(V2_DOC);
  (void)state;
  assert_int_equal(rs->version, 2);
  assert_int_equal(rs->nrules, 1);
  assert_string_equal(rs->rule[0].host_text, "*");
  assert_string_equal(rs->rule[0].method_text, "*");
  assert_string_equal(rs->rule[0].path_text, "/api/move/*");
  assert_string_equal(rs->rule[0].description, "Player moves.");
  assert_int_equal(rs->rule[0].fixed_target, 0);
  assert_true(rs->rule[0].rate == 0.05);
  assert_null(rs->deflt.host);
  assert_int_equal(rs->deflt.fixed_target, 1);
  assert_true(rs->deflt.rate == 0.1);
  free(rs);
}

/* service_name is the Host pattern of version 1 (Go and Node map it so). */
static void test_parse_v1(void **state)
{
  struct xr_rules *rs = parse_ok(V1_DOC);
  struct xr_sample_req q = req("scorekeep", "get", "/api/x");
  (void)state;
  assert_int_equal(rs->version, 1);
  assert_int_equal(rs->nrules, 1);
  assert_string_equal(rs->rule[0].host_text, "Scorekeep");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q.host = "other";
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  assert_int_equal(rs->deflt.fixed_target, 3);
  free(rs);
}

static void test_parse_minimal_forms(void **state)
{
  struct xr_rules *rs;
  (void)state;
  /* No rules at all, an empty list, 2.0 for 2, rate 0 and 1, no description. */
  rs = parse_ok("{\"version\":2,\"default\":{\"fixed_target\":0,\"rate\":0}}");
  assert_int_equal(rs->nrules, 0);
  free(rs);
  rs = parse_ok("{\"default\":{\"rate\":1,\"fixed_target\":5},\"rules\":[],\"version\":2.0}");
  assert_int_equal(rs->nrules, 0);
  assert_int_equal(rs->version, 2);
  assert_true(rs->deflt.rate == 1.0);
  free(rs);
  rs = parse_ok("{\"version\":2,\"rules\":[{\"host\":\"a\",\"http_method\":\"b\","
                "\"url_path\":\"c\",\"fixed_target\":1e2,\"rate\":1}],"
                "\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  assert_int_equal(rs->rule[0].fixed_target, 100);
  assert_null(rs->rule[0].description);
  free(rs);
}

/* Everything exactly at its limit is accepted. */
static void test_parse_at_limits(void **state)
{
  char *doc = malloc(XR_RULES_FILE_MAX + 1), pat[XR_GLOB_MAX + 1], desc[XR_RULE_DESC_MAX + 1];
  struct xr_rules *rs;
  size_t off;
  int i;
  (void)state;
  memset(pat, 'p', XR_GLOB_MAX);
  pat[XR_GLOB_MAX] = '\0';
  memset(desc, 'd', XR_RULE_DESC_MAX);
  desc[XR_RULE_DESC_MAX] = '\0';
  off = (size_t)sprintf(doc, "{\"version\":2,\"rules\":[");
  for (i = 0; i < XR_RULES_MAX; i++)
    off += (size_t)sprintf(doc + off,
                           "%s{\"host\":\"h%d\",\"http_method\":\"GET\",\"url_path\":\"%s\","
                           "\"fixed_target\":%ld,\"rate\":1%s%s%s}",
                           i ? "," : "", i, i == 0 ? pat : "/x", XR_FIXED_TARGET_MAX,
                           i == 1 ? ",\"description\":\"" : "", i == 1 ? desc : "",
                           i == 1 ? "\"" : "");
  off += (size_t)sprintf(doc + off, "],\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  assert_true(off <= XR_RULES_FILE_MAX);
  rs = parse_ok(doc);
  assert_int_equal(rs->nrules, XR_RULES_MAX);
  assert_int_equal(strlen(rs->rule[0].path_text), XR_GLOB_MAX);
  assert_int_equal(strlen(rs->rule[1].description), XR_RULE_DESC_MAX);
  assert_int_equal(rs->rule[5].fixed_target, XR_FIXED_TARGET_MAX);
  free(rs);
  free(doc);
}

/* ---- parsing: every rejection ----------------------------------------- */

#define RULE(extra) \
  "{\"version\":2,\"rules\":[" extra "],\"default\":{\"fixed_target\":1,\"rate\":0.05}}"
#define GOOD "\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"*\""

static void test_reject_document(void **state)
{
  (void)state;
  parse_bad("", -EINVAL, "not valid JSON (line 1, column 1)");
  parse_bad("{\"version\":2,\n \"default\": {\"fixed_target\":1,\"rate\":0.05}\n", -EINVAL,
            "not valid JSON (line 3");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}} x", -EINVAL,
            "not valid JSON");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},}", -EINVAL,
            "not valid JSON");
  parse_bad("[]", -EINVAL, "not a JSON object");
  parse_bad("2", -EINVAL, "not a JSON object");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},\"rule\":[]}",
            -EINVAL, "top level: unknown key \"rule\"");
  parse_bad("{\"version\":2,\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}}",
            -EINVAL, "top level: key \"version\" given twice");
  parse_bad("{\"default\":{\"fixed_target\":1,\"rate\":0.05}}", -EINVAL, "version missing");
  parse_bad("{\"version\":3,\"default\":{\"fixed_target\":1,\"rate\":0.05}}", -EINVAL,
            "version: not 1 or 2");
  parse_bad("{\"version\":\"2\",\"default\":{\"fixed_target\":1,\"rate\":0.05}}", -EINVAL,
            "version: not 1 or 2");
  parse_bad("{\"version\":1.5,\"default\":{\"fixed_target\":1,\"rate\":0.05}}", -EINVAL,
            "version: not 1 or 2");
  parse_bad("{\"version\":2}", -EINVAL, "default missing");
  parse_bad("{\"version\":2,\"default\":[]}", -EINVAL, "default: not an object");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1}}", -EINVAL,
            "default: needs fixed_target and rate");
  parse_bad("{\"version\":2,\"default\":{\"rate\":1}}", -EINVAL,
            "default: needs fixed_target and rate");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05,\"host\":\"*\"}}",
            -EINVAL, "default: unknown key \"host\"");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":2}}", -EINVAL,
            "default.rate: not from 0 to 1");
  parse_bad("{\"version\":2,\"rules\":{},\"default\":{\"fixed_target\":1,\"rate\":0.05}}",
            -EINVAL, "rules: not an array");
  /* Raw control characters: cJSON takes them, JSON does not. */
  parse_bad("{\"version\":2,\n\"default\":{\"fixed_target\":1,\"rate\":0.05},\"a\nb\":1}",
            -EINVAL, "not valid JSON: a control character (line 2, column 44)");
  parse_bad("{\"version\":2,\x01\"default\":{\"fixed_target\":1,\"rate\":0.05}}", -EINVAL,
            "not valid JSON: a control character (line 1, column 14)");
  free(parse_ok("{\"version\":2,\r\n\t\"default\":{\"fixed_target\":1,\"rate\":0.05},"
                "\"rules\":[{\"description\":\"two\\nlines \\\" \\\\\",\"host\":\"*\","
                "\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,\"rate\":1}]}"));
  /* A key shown in the reason stays one line of printable ASCII. */
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},\"a\\nb\\u00e9\":1}",
            -EINVAL, "top level: unknown key \"a?b??\"");
  parse_bad("{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05},"
            "\"0123456789012345678901234567890123456789_and_more\":1}",
            -EINVAL, "top level: unknown key \"0123456789012345678901234567890123456789~\"");
}

static void test_reject_rules(void **state)
{
  (void)state;
  parse_bad(RULE("3"), -EINVAL, "rules[0]: not an object");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":1,\"name\":\"x\"}"), -EINVAL,
            "rules[0]: unknown key \"name\"");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":1,\"rate\":1}"), -EINVAL,
            "rules[0]: key \"rate\" given twice");
  /* v2 has no service_name, v1 no host. */
  parse_bad(RULE("{\"service_name\":\"*\",\"http_method\":\"*\",\"url_path\":\"*\","
                 "\"fixed_target\":1,\"rate\":1}"),
            -EINVAL, "rules[0]: unknown key \"service_name\"");
  parse_bad("{\"version\":1,\"rules\":[{" GOOD ",\"fixed_target\":1,\"rate\":1}],"
            "\"default\":{\"fixed_target\":1,\"rate\":0.05}}",
            -EINVAL, "rules[0]: unknown key \"host\"");
  parse_bad(RULE("{\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,\"rate\":1}"),
            -EINVAL, "rules[0]: host missing");
  parse_bad(RULE("{\"host\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,\"rate\":1}"),
            -EINVAL, "rules[0]: http_method missing");
  parse_bad(RULE("{\"host\":\"*\",\"http_method\":\"*\",\"fixed_target\":1,\"rate\":1}"),
            -EINVAL, "rules[0]: url_path missing");
  parse_bad(RULE("{" GOOD ",\"rate\":1}"), -EINVAL, "rules[0]: fixed_target missing");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1}"), -EINVAL, "rules[0]: rate missing");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":1},{" GOOD ",\"fixed_target\":1}"),
            -EINVAL, "rules[1]: rate missing");
}

static void test_reject_values(void **state)
{
  char big[XR_GLOB_MAX + 200], doc[4096];
  (void)state;
  parse_bad(RULE("{\"host\":7,\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,"
                 "\"rate\":1}"),
            -EINVAL, "rules[0].host: not a string");
  parse_bad(RULE("{\"host\":\"\",\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,"
                 "\"rate\":1}"),
            -EINVAL, "rules[0].host: empty");
  parse_bad(RULE("{\"host\":\"*\",\"http_method\":null,\"url_path\":\"*\",\"fixed_target\":1,"
                 "\"rate\":1}"),
            -EINVAL, "rules[0].http_method: not a string");
  parse_bad(RULE("{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":[],\"fixed_target\":1,"
                 "\"rate\":1}"),
            -EINVAL, "rules[0].url_path: not a string");
  parse_bad(RULE("{" GOOD ",\"description\":5,\"fixed_target\":1,\"rate\":1}"), -EINVAL,
            "rules[0].description: not a string");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":\"1\",\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not a number");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":true,\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not a number");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":-1,\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not an integer from 0 to 1000000000");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1.5,\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not an integer");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1000000001,\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not an integer");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1e999,\"rate\":1}"), -EINVAL,
            "rules[0].fixed_target: not an integer");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":\"0.5\"}"), -EINVAL,
            "rules[0].rate: not a number");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":-0.1}"), -EINVAL,
            "rules[0].rate: not from 0 to 1");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":1.0000001}"), -EINVAL,
            "rules[0].rate: not from 0 to 1");
  parse_bad(RULE("{" GOOD ",\"fixed_target\":1,\"rate\":false}"), -EINVAL,
            "rules[0].rate: not a number");

  /* The caps, one byte or one rule over. */
  memset(big, 'x', XR_GLOB_MAX + 1);
  big[XR_GLOB_MAX + 1] = '\0';
  snprintf(doc, sizeof(doc),
           RULE("{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"%s\","
                "\"fixed_target\":1,\"rate\":1}"),
           big);
  parse_bad(doc, -E2BIG, "rules[0].url_path: longer than 128 bytes (the limit)");
  snprintf(doc, sizeof(doc),
           RULE("{\"host\":\"%s\",\"http_method\":\"*\",\"url_path\":\"*\","
                "\"fixed_target\":1,\"rate\":1}"),
           big);
  parse_bad(doc, -E2BIG, "rules[0].host: longer than 128 bytes");
}

static void test_reject_caps(void **state)
{
  char *doc = malloc(XR_RULES_FILE_MAX + 4096), desc[XR_RULE_DESC_MAX + 2];
  struct xr_rules *rs = NULL;
  char err[160];
  size_t off;
  int i;
  (void)state;

  off = (size_t)sprintf(doc, "{\"version\":2,\"rules\":[");
  for (i = 0; i <= XR_RULES_MAX; i++)
    off += (size_t)sprintf(doc + off, "%s{" GOOD ",\"fixed_target\":1,\"rate\":1}",
                           i ? "," : "");
  sprintf(doc + off, "],\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  parse_bad(doc, -E2BIG, "rules: more than 128 (the limit)");

  memset(desc, 'd', XR_RULE_DESC_MAX + 1);
  desc[XR_RULE_DESC_MAX + 1] = '\0';
  sprintf(doc, RULE("{" GOOD ",\"description\":\"%s\",\"fixed_target\":1,\"rate\":1}"), desc);
  parse_bad(doc, -E2BIG, "rules[0].description: longer than 1024 bytes");

  /* A file over 64 KiB is refused before any parsing (whitespace pads a
   * valid document). */
  off = (size_t)sprintf(doc, "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  memset(doc + off, ' ', XR_RULES_FILE_MAX + 1 - off);
  assert_int_equal(xr_rules_parse(doc, XR_RULES_FILE_MAX + 1, &rs, err, sizeof(err)), -E2BIG);
  assert_null(rs);
  assert_non_null(strstr(err, "larger than 65536 bytes"));
  assert_int_equal(xr_rules_parse(doc, XR_RULES_FILE_MAX, &rs, err, sizeof(err)), 0);
  free(rs);

  /* A NUL byte is not JSON (and would hide what follows from cJSON). */
  off = (size_t)sprintf(doc, "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  memcpy(doc + off, "\0{", 2);
  assert_int_equal(xr_rules_parse(doc, off + 2, &rs, err, sizeof(err)), -EINVAL);
  assert_non_null(strstr(err, "NUL byte"));
  free(doc);
}

/* The reason names keys and positions, never a value of the file. */
static void test_reject_never_quotes_values(void **state)
{
  static const char *docs[] = {
      RULE("{\"host\":\"s3cr3t-value\",\"http_method\":\"*\",\"url_path\":\"*\","
           "\"fixed_target\":\"s3cr3t-value\",\"rate\":1}"),
      RULE("{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":1,"
           "\"rate\":\"s3cr3t-value\"}"),
      "{\"version\":\"s3cr3t-value\",\"default\":{\"fixed_target\":1,\"rate\":0.05}}",
      "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}, s3cr3t-value}",
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(docs); i++) {
    struct xr_rules *rs = NULL;
    char err[160];
    assert_true(xr_rules_parse(docs[i], strlen(docs[i]), &rs, err, sizeof(err)) < 0);
    assert_null(strstr(err, "s3cr3t"));
  }
}

/* ---- matching ----------------------------------------------------------- */

static void test_match_order_and_default(void **state)
{
  struct xr_rules *rs = parse_ok(
      "{\"version\":2,\"rules\":["
      "{\"host\":\"*\",\"http_method\":\"GET\",\"url_path\":\"/health*\",\"fixed_target\":0,"
      "\"rate\":0},"
      "{\"host\":\"*\",\"http_method\":\"POST\",\"url_path\":\"/api/*\",\"fixed_target\":0,"
      "\"rate\":1},"
      "{\"host\":\"*.example.com\",\"http_method\":\"*\",\"url_path\":\"*\",\"fixed_target\":5,"
      "\"rate\":0.5},"
      "{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"/api/*\",\"fixed_target\":2,"
      "\"rate\":0.25}],"
      "\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  struct xr_sample_req q;
  (void)state;

  q = req("localhost:8080", "GET", "/health");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q = req("localhost:8080", "GET", "/healthz/deep");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q = req("localhost", "POST", "/api/items");
  assert_int_equal(xr_rules_match_index(rs, &q), 1);
  /* First match wins: rule 1 before rule 3 for POST /api. */
  q = req("api.example.com", "POST", "/api/x");
  assert_int_equal(xr_rules_match_index(rs, &q), 1);
  q = req("api.example.com", "PUT", "/api/x");
  assert_int_equal(xr_rules_match_index(rs, &q), 2);
  q = req("localhost", "PUT", "/api/x");
  assert_int_equal(xr_rules_match_index(rs, &q), 3);
  q = req("localhost", "PUT", "/other");
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  assert_ptr_equal(xr_rules_match(rs, &q), &rs->deflt);
  /* The Host header's port is part of it, as in the SDKs. */
  q = req("api.example.com:8443", "PUT", "/other");
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  /* Nothing known: the default, never a rule. */
  assert_int_equal(xr_rules_match_index(rs, NULL), -1);
  assert_ptr_equal(xr_rules_match(rs, NULL), &rs->deflt);
  /* Absent attributes match anything: no method, no path. */
  q = req("localhost", NULL, "");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q = req(NULL, "PUT", "/api/v");
  assert_int_equal(xr_rules_match_index(rs, &q), 2);
  free(rs);
}

static void test_match_case_and_wildcards(void **state)
{
  struct xr_rules *rs = parse_ok(
      "{\"version\":2,\"rules\":["
      "{\"host\":\"ExAmPlE.CoM\",\"http_method\":\"g?t\",\"url_path\":\"/A/?/C\","
      "\"fixed_target\":0,\"rate\":1}],"
      "\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  struct xr_sample_req q;
  (void)state;
  q = req("example.com", "GET", "/a/b/c");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q = req("EXAMPLE.COM", "get", "/A/Z/c");
  assert_int_equal(xr_rules_match_index(rs, &q), 0);
  q = req("example.com", "GET", "/a/bb/c"); /* ? is one byte */
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  q = req("example.com", "GT", "/a/b/c");
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  q = req("example.com.evil", "GET", "/a/b/c"); /* anchored at both ends */
  assert_int_equal(xr_rules_match_index(rs, &q), -1);
  free(rs);
}

/* ---- globs ------------------------------------------------------------- */

static void test_glob_table(void **state)
{
  static const struct {
    const char *pat, *text;
    bool match;
  } cases[] = {
      {"*", "", true},          {"*", "anything", true},   {"", "", true},
      {"", "a", false},         {"?", "", false},          {"?", "a", true},
      {"?", "ab", false},       {"a*", "a", true},         {"a*", "abc", true},
      {"a*", "ba", false},      {"*a", "ba", true},        {"*a", "ab", false},
      {"a*b", "ab", true},      {"a*b", "axxb", true},     {"a*b", "axxbc", false},
      {"a**b", "ab", true},     {"***", "", true},         {"*?*", "", false},
      {"*?*", "x", true},       {"a?c", "abc", true},      {"a?c", "ac", false},
      {"*.example.com", "www.example.com", true},
      {"*.example.com", "example.com", false},
      {"/api/*", "/api/", true}, {"/api/*", "/api", false},
      {"*ab*ab*", "abab", true}, {"*ab*ab*", "aab", false},
      {"*a?b*", "xxacbyy", true}, {"?*?", "ab", true},     {"?*?", "a", false},
      {"A", "a", true},         {"a", "A", true},          {"\xc3\xa9", "\xc3\x89", false},
      {"\xc3\xa9", "\xc3\xa9", true}, {"??", "\xc3\xa9", true},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    bool got = xr_glob_match_text(cases[i].pat, strlen(cases[i].pat), cases[i].text,
                                  strlen(cases[i].text));
    if (got != cases[i].match)
      print_error("glob \"%s\" vs \"%s\": %d\n", cases[i].pat, cases[i].text, got);
    assert_int_equal(got, cases[i].match);
  }
}

/* Reference: dynamic programming over (pattern, text) prefixes. */
static bool ref_match(const char *p, size_t m, const char *t, size_t n)
{
  static bool dp[XR_GLOB_MAX + 1][600];
  size_t i, j;
  assert_true(m <= XR_GLOB_MAX && n < 600);
  dp[0][0] = true;
  for (j = 1; j <= n; j++)
    dp[0][j] = false;
  for (i = 1; i <= m; i++) {
    dp[i][0] = dp[i - 1][0] && p[i - 1] == '*';
    for (j = 1; j <= n; j++) {
      unsigned char a = (unsigned char)p[i - 1], b = (unsigned char)t[j - 1];
      if (a >= 'A' && a <= 'Z')
        a = (unsigned char)(a + 32);
      if (b >= 'A' && b <= 'Z')
        b = (unsigned char)(b + 32);
      if (a == '*')
        dp[i][j] = dp[i - 1][j] || dp[i][j - 1];
      else
        dp[i][j] = dp[i - 1][j - 1] && (a == '?' || a == b);
    }
  }
  return dp[m][n];
}

/* Agreement with the reference over many small random cases from a tiny
 * alphabet (where stars and repeats interact the most), and at the
 * word boundaries of the automaton (patterns of 63..66 and 127..128 bytes). */
static void test_glob_vs_reference(void **state)
{
  static const char alpha[] = "aAb*?";
  uint64_t x = 0x243f6a8885a308d3ULL;
  char p[XR_GLOB_MAX + 1], t[600];
  int k, matches = 0, big_matches = 0;
  (void)state;
  for (k = 0; k < 200000; k++) {
    size_t m, n, i;
    bool big = k % 50 == 0;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    m = big ? 60 + (size_t)(x % 69) : (size_t)(x % 9);
    n = big ? (size_t)((x >> 8) % 300) : (size_t)((x >> 8) % 10);
    for (i = 0; i < m; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      /* Big patterns: mostly literals, so that matches still happen. */
      p[i] = big && x % 4 ? "ab"[x % 2] : alpha[x % 5];
    }
    for (i = 0; i < n; i++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      t[i] = "abAB"[x % 4];
    }
    if (big && k % 100 == 0) { /* make some big cases match: the text from the pattern */
      n = 0;
      for (i = 0; i < m; i++)
        if (p[i] != '*')
          t[n++] = p[i] == '?' ? 'b' : p[i];
    }
    bool want = ref_match(p, m, t, n);
    bool got = xr_glob_match_text(p, m, t, n);
    matches += want;
    big_matches += want && m > 64;
    if (want != got) {
      print_error("glob \"%.*s\" vs \"%.*s\": ref %d, got %d\n", (int)m, p, (int)n, t, want,
                  got);
      fail();
    }
  }
  print_message("  %d of 200000 random cases match, %d with patterns over 64 bytes\n",
                matches, big_matches);
  assert_true(matches > 10000);
  assert_true(big_matches > 100); /* the automaton's second and third words */
}

/* "*a*a*a...*b" against "aaaa...": a backtracking matcher takes time
 * exponential in the stars; the automaton takes one step per text byte. */
static void test_glob_pathological(void **state)
{
  uint64_t mem[1024];
  struct xr_glob *g = (struct xr_glob *)mem;
  /* The longest path the sniffer keeps. */
  char pat[XR_GLOB_MAX + 1], text[XR_HP_TARGET_MAX];
  size_t i, steps = 0;
  (void)state;
  for (i = 0; i + 2 <= XR_GLOB_MAX - 1; i += 2) {
    pat[i] = '*';
    pat[i + 1] = 'a';
  }
  pat[i++] = 'b';
  pat[i] = '\0';
  memset(text, 'a', sizeof(text) - 1);
  text[sizeof(text) - 1] = '\0';
  assert_true(xr_glob_size(pat, strlen(pat)) <= sizeof(mem));
  xr_glob_compile(g, pat, strlen(pat));
  assert_false(xr_glob_match(g, text, strlen(text), &steps));
  assert_int_equal(steps, strlen(text)); /* at most one step per byte */
  text[sizeof(text) - 2] = 'b';
  assert_true(xr_glob_match(g, text, strlen(text), &steps));
  assert_int_equal(steps, strlen(text));

  /* "?" runs and stars: dead states stop the scan early. */
  xr_glob_compile(g, "x*?*?*?*y", 9);
  assert_false(xr_glob_match(g, text, strlen(text), &steps));
  assert_int_equal(steps, 1);
}

/* ---- reservoir and rate ---------------------------------------------- */

static int unit_calls;
static double unit_value;
static double unit_fixed(void)
{
  unit_calls++;
  return unit_value;
}

static uint64_t lcg = 12345;
static double unit_lcg(void)
{
  unit_calls++;
  lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(lcg >> 11) * (1.0 / 9007199254740992.0);
}

static struct xr_rules *one_rule(unsigned ft, const char *rate)
{
  char doc[512];
  snprintf(doc, sizeof(doc),
           RULE("{" GOOD ",\"fixed_target\":%u,\"rate\":%s}"), ft, rate);
  return parse_ok(doc);
}

static void test_reservoir_per_second(void **state)
{
  struct xr_rules *rs = one_rule(3, "0.5");
  struct xr_rule *r = &rs->rule[0];
  int s, i;
  (void)state;
  unit_value = 0.99; /* never under the rate: only the reservoir samples */
  for (s = 0; s < 5; s++) {
    unit_calls = 0;
    for (i = 0; i < 3; i++)
      assert_true(xr_rule_decide(r, T0 + s, unit_fixed));
    assert_int_equal(unit_calls, 0); /* the reservoir needs no coin */
    for (i = 0; i < 10; i++)
      assert_false(xr_rule_decide(r, T0 + s, unit_fixed));
    assert_int_equal(unit_calls, 10);
  }
  /* After the reservoir, the coin: 0.49 < 0.5. */
  unit_value = 0.49;
  assert_true(xr_rule_decide(r, T0 + 4, unit_fixed));
  /* Rules' reservoirs are independent of each other and the default's. */
  unit_value = 0.99;
  assert_true(xr_rule_decide(&rs->deflt, T0 + 4, unit_fixed));
  assert_false(xr_rule_decide(&rs->deflt, T0 + 4, unit_fixed));
  free(rs);
}

static void test_rate_statistics(void **state)
{
  struct xr_rules *rs;
  int i, n = 0;
  (void)state;
  /* rate 0, fixed_target 0: never, and no coin is drawn. */
  rs = one_rule(0, "0");
  unit_calls = 0;
  for (i = 0; i < 1000; i++)
    assert_false(xr_rule_decide(&rs->rule[0], T0 + i, unit_lcg));
  assert_int_equal(unit_calls, 0);
  free(rs);
  /* rate 1: always. */
  rs = one_rule(0, "1");
  for (i = 0; i < 1000; i++)
    assert_true(xr_rule_decide(&rs->rule[0], T0, unit_lcg));
  free(rs);
  /* rate 0.25 over 100000 decisions in one second, reservoir 10: 10 +
   * 25 % of the rest (sd 137). */
  rs = one_rule(10, "0.25");
  for (i = 0; i < 100000; i++)
    n += xr_rule_decide(&rs->rule[0], T0 + 7, unit_lcg);
  print_message("  %d of 100000 sampled at rate 0.25 + 10\n", n);
  assert_in_range(n, 10 + 24450, 10 + 25550);
  free(rs);
}

struct race {
  struct xr_rule *r;
  int taken;
};

static double unit_never(void)
{
  return 1.0;
}

static void *race_thread(void *arg)
{
  struct race *rc = arg;
  int i;
  for (i = 0; i < 20000; i++)
    rc->taken += xr_rule_decide(rc->r, T0 + 99, unit_never);
  return NULL;
}

/* Lock-free: four threads in one second take exactly fixed_target. */
static void test_reservoir_threads(void **state)
{
  struct xr_rules *rs = one_rule(1000, "0");
  struct race rc[4];
  pthread_t th[4];
  int i, total = 0;
  (void)state;
  for (i = 0; i < 4; i++) {
    rc[i].r = &rs->rule[0];
    rc[i].taken = 0;
    assert_int_equal(pthread_create(&th[i], NULL, race_thread, &rc[i]), 0);
  }
  for (i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    total += rc[i].taken;
  }
  assert_int_equal(total, 1000);
  free(rs);
}

/* ---- the file, and the library's decisions ------------------------------ */

static int setup_dir(void **state)
{
  (void)state;
  strcpy(tmpdir, "/tmp/xr-rules-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
  char cmd[128];
  (void)state;
  xr_sampling_unload();
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
  return system(cmd) == 0 ? 0 : -1;
}

#define write_str(name, s) write_file((name), (s), strlen(s))
static const char *write_file(const char *name, const char *content, size_t len)
{
  static char path[128];
  FILE *f;
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(content, 1, len, f), len);
  fclose(f);
  return path;
}

/* xr_sampling_load with stderr caught: its return, the lines in out. */
static int load_caught(const char *path, char *out, size_t cap, int *lines)
{
  int p[2], saved, rc;
  ssize_t n, i;
  size_t got = 0;

  assert_int_equal(pipe(p), 0);
  assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  saved = dup(STDERR_FILENO);
  assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
  xr_log_level = XR_LOG_ERROR;
  rc = xr_sampling_load(path);
  assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
  close(saved);
  close(p[1]);
  *lines = 0;
  while ((n = read(p[0], out + got, cap - 1 - got)) > 0) {
    for (i = 0; i < n; i++)
      *lines += out[got + (size_t)i] == '\n';
    got += (size_t)n;
  }
  out[got] = '\0';
  close(p[0]);
  return rc;
}

static void expect_rejected(const char *path, int rc_want, const char *why)
{
  char out[2048];
  int lines;
  int rc = load_caught(path, out, sizeof(out), &lines);
  if (rc != rc_want || lines != 1 || !strstr(out, path) || !strstr(out, why))
    print_error("rc %d lines %d: %s", rc, lines, out);
  assert_int_equal(rc, rc_want);
  assert_int_equal(lines, 1);
  assert_non_null(strstr(out, path));
  assert_non_null(strstr(out, why));
  assert_non_null(strstr(out, "default rule"));
  assert_null(xr_sampling_rules());
}

static void test_load_file(void **state)
{
  static const char doc[] =
      "{\"version\":2,\"rules\":["
      "{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"/health*\",\"fixed_target\":0,"
      "\"rate\":0},"
      "{\"host\":\"*\",\"http_method\":\"POST\",\"url_path\":\"/api/*\",\"fixed_target\":0,"
      "\"rate\":1}],\"default\":{\"fixed_target\":0,\"rate\":0}}";
  struct xr_sample_req health = req("h", "GET", "/health"), api = req("h", "POST", "/api/v");
  char out[1024];
  int lines, i;
  (void)state;

  xr_sampling_unload();
  assert_int_equal(load_caught(write_file("ok.json", doc, strlen(doc)), out, sizeof(out),
                               &lines),
                   0);
  assert_int_equal(lines, 0); /* info level only */
  assert_non_null(xr_sampling_rules());
  for (i = 0; i < 100; i++) {
    assert_false(xr_sample_request(XR_SAMPLING_DEFAULT, T0 + i, &health));
    assert_true(xr_sample_request(XR_SAMPLING_DEFAULT, T0 + i, &api));
    /* Nothing known: the file's default (0 + 0 %). */
    assert_false(xr_sample(XR_SAMPLING_DEFAULT, T0 + i));
    assert_false(xr_sample_request(XR_SAMPLING_DEFAULT, T0 + i, NULL));
    /* XRAY_AUTO_SAMPLING=all wins over any rule. */
    assert_true(xr_sample_request(XR_SAMPLING_ALL, T0 + i, &health));
  }
  /* A bad file afterwards keeps the rules in force. */
  assert_int_equal(load_caught(write_str("bad.json", "{"), out, sizeof(out), &lines),
                   -EINVAL);
  assert_int_equal(lines, 1);
  assert_non_null(xr_sampling_rules());
  xr_sampling_unload();
  assert_null(xr_sampling_rules());
  /* Back to the built-in default: the first of a second is sampled. */
  assert_true(xr_sample(XR_SAMPLING_DEFAULT, T0 + 500));
}

static void test_load_rejections(void **state)
{
  char path[160], big[XR_RULES_FILE_MAX + 10];
  const char *p;
  (void)state;
  xr_sampling_unload();

  p = write_str("syntax.json", "{\"version\": 2,\n  \"default\": }");
  expect_rejected(p, -EINVAL, "not valid JSON (line 2, column 14)");
  p = write_str("empty.json", "");
  expect_rejected(p, -EINVAL, "not valid JSON");
  p = write_str("v3.json", "{\"version\":3,\"default\":{\"fixed_target\":1,\"rate\":0.05}}");
  expect_rejected(p, -EINVAL, "version: not 1 or 2");

  snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
  expect_rejected(path, -ENOENT, "no such file");
  expect_rejected(tmpdir, -EISDIR, "a directory");
  snprintf(path, sizeof(path), "%s/ok.json/x", tmpdir);
  (void)write_str("ok.json", "{}");
  expect_rejected(path, -ENOTDIR, "not a directory");

  /* Valid documents padded inside (so that a reader stopping at the limit
   * would see broken JSON, not a valid prefix). */
  memset(big, ' ', sizeof(big));
  p = "{\"version\":2,\"default\":{\"fixed_target\":1,\"rate\":0.05}";
  memcpy(big, p, strlen(p));
  big[XR_RULES_FILE_MAX] = '}';
  p = write_file("big.json", big, XR_RULES_FILE_MAX + 1);
  expect_rejected(p, -E2BIG, "larger than 65536 bytes");
  big[XR_RULES_FILE_MAX - 1] = '}';
  p = write_file("exact.json", big, XR_RULES_FILE_MAX);
  {
    char out[512];
    int lines;
    assert_int_equal(load_caught(p, out, sizeof(out), &lines), 0);
    assert_int_equal(lines, 0);
    xr_sampling_unload();
  }

  /* A path with a newline still gives one line. */
  snprintf(path, sizeof(path), "%s/new\nline.json", tmpdir);
  {
    char out[1024];
    int lines;
    assert_int_equal(load_caught(path, out, sizeof(out), &lines), -ENOENT);
    assert_int_equal(lines, 1);
    assert_non_null(strstr(out, "/new?line.json\": no such file"));
  }

  /* A FIFO with no writer: answered at once (O_NONBLOCK), never a hang. */
  snprintf(path, sizeof(path), "%s/fifo", tmpdir);
  assert_int_equal(mkfifo(path, 0600), 0);
  expect_rejected(path, -EINVAL, "not valid JSON");

  /* The values stay out of the log line. */
  p = write_str("secret.json",
                "{\"version\":2,\"default\":{\"fixed_target\":\"hunter2\",\"rate\":0.05}}");
  {
    char out[1024];
    int lines;
    assert_int_equal(load_caught(p, out, sizeof(out), &lines), -EINVAL);
    assert_int_equal(lines, 1);
    assert_null(strstr(out, "hunter2"));
    assert_non_null(strstr(out, "default.fixed_target: not a number"));
  }
}

/* The variable through the configuration and the tracer: inbound requests
 * follow the rules, and the file is read only when it can decide. */
static void test_tracer_inbound(void **state)
{
  static const char doc[] =
      "{\"version\":2,\"rules\":["
      "{\"host\":\"*\",\"http_method\":\"*\",\"url_path\":\"/health*\",\"fixed_target\":0,"
      "\"rate\":0},"
      "{\"host\":\"*\",\"http_method\":\"POST\",\"url_path\":\"/api/*\",\"fixed_target\":0,"
      "\"rate\":1}],\"default\":{\"fixed_target\":0,\"rate\":0}}";
  const char *path = write_file("tracer.json", doc, strlen(doc));
  const char *env_rules[] = {"XRAY_AUTO_SAMPLING", "default", "XRAY_AUTO_SAMPLING_RULES", path,
                             NULL};
  const char *env_all[] = {"XRAY_AUTO_SAMPLING_RULES", path, NULL};
  struct xr_sample_req health = req("h:1", "GET", "/health"), api = req("h:1", "POST", "/api/1");
  int conn, i;
  (void)state;

  ut_tracer_init(env_rules, "svc");
  assert_non_null(xr_sampling_rules());
  for (i = 0; i < 50; i++) {
    struct xr_entity *s1 = xr_inbound_begin_req(NULL, 0, 0, &conn, &health);
    struct xr_entity *s2 = xr_inbound_begin_req(NULL, 0, 0, &conn, &api);
    /* An incoming decision is honoured whatever the rules. */
    static const char hdr[] = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
    struct xr_entity *s3 = xr_inbound_begin_req(hdr, strlen(hdr), 0, &conn, &health);
    assert_non_null(s1);
    assert_non_null(s2);
    assert_non_null(s3);
    assert_false(s1->sampled);
    assert_true(s2->sampled);
    assert_true(s3->sampled);
    xr_inbound_drop(s1);
    xr_inbound_drop(s2);
    xr_inbound_drop(s3);
  }
  /* XRAY_AUTO_SAMPLING=all (ut_tracer_init's own): the file is not read. */
  ut_tracer_init(env_all, "svc");
  assert_null(xr_sampling_rules());
  /* Without the variable: the built-in default, nothing loaded. */
  ut_tracer_init(NULL, "svc");
  assert_null(xr_sampling_rules());
}

static void test_config_variable(void **state)
{
  static char longpath[XR_RULES_PATH_MAX + 10];
  struct xr_config cfg;
  const char *env[] = {"XRAY_AUTO_SAMPLING_RULES", "/etc/xray/rules.json", NULL};
  const char *env_long[] = {"XRAY_AUTO_SAMPLING_RULES", longpath, "XRAY_AUTO_LOG_LEVEL", "off",
                            NULL};
  (void)state;
  ut_env_set(env);
  xr_config_load(&cfg, ut_getenv, "p");
  assert_string_equal(cfg.sampling_rules, "/etc/xray/rules.json");
  ut_env_set(NULL);
  xr_config_load(&cfg, ut_getenv, "p");
  assert_string_equal(cfg.sampling_rules, "");
  memset(longpath, 'a', XR_RULES_PATH_MAX);
  ut_env_set(env_long);
  xr_config_load(&cfg, ut_getenv, "p");
  assert_string_equal(cfg.sampling_rules, "");
  ut_env_set(NULL);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_v2),
      cmocka_unit_test(test_parse_v1),
      cmocka_unit_test(test_parse_minimal_forms),
      cmocka_unit_test(test_parse_at_limits),
      cmocka_unit_test(test_reject_document),
      cmocka_unit_test(test_reject_rules),
      cmocka_unit_test(test_reject_values),
      cmocka_unit_test(test_reject_caps),
      cmocka_unit_test(test_reject_never_quotes_values),
      cmocka_unit_test(test_match_order_and_default),
      cmocka_unit_test(test_match_case_and_wildcards),
      cmocka_unit_test(test_glob_table),
      cmocka_unit_test(test_glob_vs_reference),
      cmocka_unit_test(test_glob_pathological),
      cmocka_unit_test(test_reservoir_per_second),
      cmocka_unit_test(test_rate_statistics),
      cmocka_unit_test(test_reservoir_threads),
      cmocka_unit_test(test_load_file),
      cmocka_unit_test(test_load_rejections),
      cmocka_unit_test(test_tracer_inbound),
      cmocka_unit_test(test_config_variable),
  };
  return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
