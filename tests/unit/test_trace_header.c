/* src/trace_header.c: parsing and formatting X-Amzn-Trace-Id. */
#include "util.h"

#include "../../src/ids.h"
#include "../../src/trace_header.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROOT "1-5759e988-bd862e3fe1be46a994272793"
#define ROOT_UC "1-5759E988-BD862E3FE1BE46A994272793"
#define PARENT "53995c3f42cd8ad8"
#define PARENT_UC "53995C3F42CD8AD8"

struct hdr_case {
  const char *in;
  int rc;
  const char *root;   /* expected fields when rc == 0 */
  const char *parent;
  char sampled;
  const char *extra;
  const char *formatted; /* expected re-emitted header; NULL: not checked */
};

static const struct hdr_case cases[] = {
    /* canonical and order variations */
    {"Root=" ROOT ";Parent=" PARENT ";Sampled=1", 0, ROOT, PARENT, '1', "",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=1"},
    {"Parent=" PARENT ";Sampled=1;Root=" ROOT, 0, ROOT, PARENT, '1', "",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=1"},
    {"Sampled=0;Root=" ROOT ";Parent=" PARENT, 0, ROOT, PARENT, '0', "",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=0"},
    {"Root=" ROOT, 0, ROOT, "", 0, "", "Root=" ROOT},
    {"Root=" ROOT ";Sampled=?", 0, ROOT, "", '?', "", "Root=" ROOT ";Sampled=?"},
    {"Root=" ROOT ";Parent=" PARENT, 0, ROOT, PARENT, 0, "", "Root=" ROOT ";Parent=" PARENT},
    /* spaces around parts, keys and values; tabs */
    {" Root = " ROOT " ; Parent= " PARENT " ;Sampled =1 ", 0, ROOT, PARENT, '1', "",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=1"},
    {"\tRoot=" ROOT ";\tSampled=1\t", 0, ROOT, "", '1', "", NULL},
    /* keys are case-insensitive */
    {"root=" ROOT ";parent=" PARENT ";sampled=1", 0, ROOT, PARENT, '1', "", NULL},
    {"ROOT=" ROOT ";PARENT=" PARENT ";SAMPLED=0", 0, ROOT, PARENT, '0', "", NULL},
    /* upper-case hex accepted and lowered */
    {"Root=" ROOT_UC ";Parent=" PARENT_UC ";Sampled=1", 0, ROOT, PARENT, '1', "",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=1"},
    /* Sampled values */
    {"Root=" ROOT ";Sampled=2", 0, ROOT, "", 0, "", "Root=" ROOT},
    {"Root=" ROOT ";Sampled=true", 0, ROOT, "", 0, "", NULL},
    {"Root=" ROOT ";Sampled=", 0, ROOT, "", 0, "", NULL},
    {"Root=" ROOT ";Sampled=11", 0, ROOT, "", 0, "", NULL},
    {"Root=" ROOT ";Sampled=x", 0, ROOT, "", 0, "", NULL},
    /* Self= dropped; Lineage and unknown keys kept, in order */
    {"Self=1-67891234-12456789abcdef012345678;Root=" ROOT ";Sampled=1", 0, ROOT, "", '1', "",
     "Root=" ROOT ";Sampled=1"},
    {"Root=" ROOT ";self=abc;Parent=" PARENT, 0, ROOT, PARENT, 0, "", NULL},
    {"Root=" ROOT ";Parent=" PARENT ";Sampled=1;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2", 0,
     ROOT, PARENT, '1', "Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2",
     "Root=" ROOT ";Parent=" PARENT ";Sampled=1;Lineage=a87bd80c:1|68fd508a:5|c512fbe3:2"},
    {"Foo=bar;Root=" ROOT ";Lineage=10:1234abcd:3;Sampled=1;Zed=z", 0, ROOT, "", '1',
     "Foo=bar;Lineage=10:1234abcd:3;Zed=z", "Root=" ROOT ";Sampled=1;Foo=bar;Lineage=10:1234abcd:3;Zed=z"},
    {"Root=" ROOT ";  Lineage = 10:1234abcd:3 ", 0, ROOT, "", 0, NULL, NULL},
    {"Root=" ROOT ";Key=a=b", 0, ROOT, "", 0, "Key=a=b", NULL},
    /* empty parts are skipped */
    {";;Root=" ROOT ";;Sampled=1;", 0, ROOT, "", '1', "", "Root=" ROOT ";Sampled=1"},
    {"Root=" ROOT "; ;Parent=" PARENT, 0, ROOT, PARENT, 0, "", NULL},
    /* control bytes (and non-ASCII) in unknown values are never echoed */
    {"Root=" ROOT ";Evil=a\r\nX-Injected: 1;Sampled=1", 0, ROOT, "", '1', "", NULL},
    {"Root=" ROOT ";Bell=\a;Lineage=ok", 0, ROOT, "", 0, "Lineage=ok", NULL},
    {"Root=" ROOT ";Del=\x7f;Utf=\xc3\xa9", 0, ROOT, "", 0, "", NULL},
    /* malformed: the whole header is ignored */
    {"", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {";;;", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Parent=" PARENT ";Sampled=1", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=;Sampled=1", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=1-5759e988-bd862e3fe1be46a9942727930", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=1-5759e988-bd862e3fe1be46a99427279z", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=1-5759g988-bd862e3fe1be46a994272793", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=2-5759e988-bd862e3fe1be46a994272793", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=1_5759e988_bd862e3fe1be46a994272793", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=" ROOT ";Sampled", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=" ROOT ";garbage;Sampled=1", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root " ROOT, -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Root=" ROOT ";=value", -EINVAL, NULL, NULL, 0, NULL, NULL},
    {"Roots=" ROOT, -EINVAL, NULL, NULL, 0, NULL, NULL},
};

static void test_parse_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const struct hdr_case *c = &cases[i];
    struct xr_trace_header h;
    char buf[XR_HEADER_MAX];
    int rc;

    print_message("  [%zu] \"%s\"\n", i, c->in);
    memset(&h, 0x55, sizeof(h));
    rc = xr_trace_header_parse(c->in, strlen(c->in), &h);
    assert_int_equal(rc, c->rc);
    if (rc != 0) {
      /* out is zeroed */
      assert_string_equal(h.root, "");
      assert_string_equal(h.parent, "");
      assert_int_equal(h.sampled, 0);
      assert_string_equal(h.extra, "");
      continue;
    }
    assert_string_equal(h.root, c->root);
    assert_string_equal(h.parent, c->parent);
    assert_int_equal(h.sampled, c->sampled);
    if (c->extra)
      assert_string_equal(h.extra, c->extra);
    if (c->formatted) {
      rc = xr_trace_header_format(&h, buf, sizeof(buf));
      assert_int_equal(rc, (int)strlen(c->formatted));
      assert_string_equal(buf, c->formatted);
    }
  }
}

/* Keys and values are trimmed; an extra is kept as its trimmed part. */
static void test_extra_trimmed(void **state)
{
  struct xr_trace_header h;
  const char *s = "Root=" ROOT ";  Lineage=10:1234abcd:3 ";
  (void)state;
  assert_int_equal(xr_trace_header_parse(s, strlen(s), &h), 0);
  assert_string_equal(h.extra, "Lineage=10:1234abcd:3");
}

/* Control bytes anywhere in an unknown part: that part is dropped, the
 * others survive, and no control byte ever reaches the formatted header. */
static void test_control_bytes_never_formatted(void **state)
{
  struct xr_trace_header h;
  char buf[XR_HEADER_MAX];
  unsigned c;
  (void)state;
  for (c = 1; c < 0x20; c++) {
    char in[200];
    int n = snprintf(in, sizeof(in), "Root=%s;A=x%cy;Lineage=l:1", ROOT, (char)c);
    size_t i;
    assert_int_equal(xr_trace_header_parse(in, (size_t)n, &h), 0);
    assert_int_equal(xr_trace_header_format(&h, buf, sizeof(buf)) > 0, 1);
    for (i = 0; buf[i]; i++)
      assert_true((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f);
    assert_non_null(strstr(buf, "Lineage=l:1"));
    assert_null(strstr(buf, "A=x"));
  }
}

/* len is honoured: nothing past it is read, no NUL needed. */
static void test_len_honoured(void **state)
{
  struct xr_trace_header h;
  char in[128];
  size_t n;
  (void)state;
  n = (size_t)snprintf(in, sizeof(in), "Root=%s;Sampled=1", ROOT);
  in[n] = 'X'; /* no terminator right after */
  assert_int_equal(xr_trace_header_parse(in, n, &h), 0);
  assert_int_equal(h.sampled, '1');
  /* Cut inside the Root value: invalid. */
  assert_int_equal(xr_trace_header_parse(in, 20, &h), -EINVAL);
  /* Cut right after the Root: valid, without Sampled. */
  assert_int_equal(xr_trace_header_parse(in, 5 + XR_TRACE_ID_LEN, &h), 0);
  assert_int_equal(h.sampled, 0);
  assert_int_equal(xr_trace_header_parse(in, 0, &h), -EINVAL);
  assert_int_equal(xr_trace_header_parse(NULL, 10, &h), -EINVAL);
}

/* Extras are bounded: what does not fit is dropped whole, never cut, and
 * nothing overflows. */
static void test_long_extras_bounded(void **state)
{
  struct xr_trace_header h;
  char buf[XR_HEADER_MAX];
  char *in = malloc(20000);
  char big[1000];
  size_t n, i;
  int rc;
  (void)state;

  assert_non_null(in);
  /* One huge unknown value: dropped. */
  memset(big, 'v', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  n = (size_t)snprintf(in, 20000, "Root=%s;Huge=%s;Lineage=a:1;Sampled=1", ROOT, big);
  assert_int_equal(xr_trace_header_parse(in, n, &h), 0);
  assert_string_equal(h.extra, "Lineage=a:1");
  assert_int_equal(h.sampled, '1');

  /* Many small extras: kept until the budget, each one whole. */
  n = (size_t)snprintf(in, 20000, "Root=%s", ROOT);
  for (i = 0; i < 500; i++)
    n += (size_t)snprintf(in + n, 20000 - n, ";K%03zu=value%03zu", i, i);
  assert_int_equal(xr_trace_header_parse(in, n, &h), 0);
  assert_true(strlen(h.extra) < sizeof(h.extra));
  assert_true(strlen(h.extra) > sizeof(h.extra) - 20); /* filled */
  assert_memory_equal(h.extra, "K000=value000;K001=value001", 27);
  /* Every kept part is complete: "Knnn=valuennn". */
  {
    const char *p = h.extra;
    size_t k = 0;
    while (*p) {
      char want[32];
      size_t len = strcspn(p, ";");
      snprintf(want, sizeof(want), "K%03zu=value%03zu", k, k);
      assert_int_equal(len, strlen(want));
      assert_memory_equal(p, want, len);
      p += len;
      if (*p == ';')
        p++;
      k++;
    }
  }
  rc = xr_trace_header_format(&h, buf, sizeof(buf));
  assert_true(rc > 0 && (size_t)rc < sizeof(buf));

  /* A Root after many extras is still found. */
  n = 0;
  for (i = 0; i < 500; i++)
    n += (size_t)snprintf(in + n, 20000 - n, "K%03zu=v;", i);
  n += (size_t)snprintf(in + n, 20000 - n, "Root=%s;Parent=%s", ROOT, PARENT);
  assert_int_equal(xr_trace_header_parse(in, n, &h), 0);
  assert_string_equal(h.root, ROOT);
  assert_string_equal(h.parent, PARENT);
  free(in);
}

/* Any byte string parses without crashing, and a success is formattable. */
static void test_arbitrary_bytes(void **state)
{
  static const char alphabet[] = "=;; Aa1\x01\xff-Lineage=Parent=Sampled=Self=";
  unsigned seed = 12345;
  char in[300];
  int round;
  (void)state;
  for (round = 0; round < 20000; round++) {
    struct xr_trace_header h;
    char buf[XR_HEADER_MAX];
    size_t n, i;
    seed = seed * 1103515245u + 12345u;
    n = (seed >> 16) % sizeof(in);
    i = 0;
    if (round % 2) /* half of them start with a valid Root */
      i = (size_t)snprintf(in, sizeof(in), "Root=%s;", ROOT);
    for (; i < n; i++) {
      seed = seed * 1103515245u + 12345u;
      in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
    }
    if (n < i)
      n = i;
    if (xr_trace_header_parse(in, n, &h) == 0) {
      assert_true(xr_trace_header_format(&h, buf, sizeof(buf)) > 0);
      assert_int_equal(strlen(h.root), XR_TRACE_ID_LEN);
    }
  }
}

static void test_format_round_trip(void **state)
{
  static const char *const headers[] = {
      "Root=" ROOT ";Parent=" PARENT ";Sampled=1",
      "Root=" ROOT ";Sampled=0",
      "Root=" ROOT ";Parent=" PARENT ";Sampled=?;Lineage=a87bd80c:1|68fd508a:5;Foo=bar",
      "Root=" ROOT,
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(headers); i++) {
    struct xr_trace_header h, h2;
    char buf[XR_HEADER_MAX];
    int n = 0;
    assert_int_equal(xr_trace_header_parse(headers[i], strlen(headers[i]), &h), 0);
    n = xr_trace_header_format(&h, buf, sizeof(buf));
    assert_int_equal(n, (int)strlen(headers[i]));
    assert_string_equal(buf, headers[i]);
    assert_int_equal(xr_trace_header_parse(buf, (size_t)n, &h2), 0);
    assert_memory_equal(&h, &h2, sizeof(h));
  }
}

static void test_format_too_small(void **state)
{
  const char *s = "Root=" ROOT ";Parent=" PARENT ";Sampled=1;Lineage=a:1";
  struct xr_trace_header h;
  char buf[XR_HEADER_MAX];
  size_t len = strlen(s), cap;
  (void)state;
  assert_int_equal(xr_trace_header_parse(s, len, &h), 0);
  for (cap = 0; cap <= len; cap++) {
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(xr_trace_header_format(&h, buf, cap), -ENOSPC);
    assert_int_equal(buf[cap], 'Z'); /* nothing written past cap */
  }
  assert_int_equal(xr_trace_header_format(&h, buf, len + 1), (int)len);
  assert_string_equal(buf, s);
}

/* The largest header parse can produce fits XR_HEADER_MAX. */
static void test_format_max_fits(void **state)
{
  struct xr_trace_header h;
  char buf[XR_HEADER_MAX];
  (void)state;
  memset(&h, 0, sizeof(h));
  strcpy(h.root, ROOT);
  strcpy(h.parent, PARENT);
  h.sampled = '?';
  memset(h.extra, 'e', sizeof(h.extra) - 1);
  h.extra[sizeof(h.extra) - 1] = '\0';
  assert_true(xr_trace_header_format(&h, buf, sizeof(buf)) > 0);
}

/* ------------------------------------------------------------------ */
/* W3C traceparent                                                     */

#define TID "5759e988bd862e3fe1be46a994272793"
#define TP "00-" TID "-" PARENT "-01"

struct tp_case {
  const char *in;
  size_t len;     /* 0: strlen(in) */
  int rc;
  const char *root; /* when rc == 0 */
  const char *parent;
  char sampled;
};

static const struct tp_case tp_cases[] = {
    {TP, 0, 0, ROOT, PARENT, '1'},
    {"00-" TID "-" PARENT "-00", 0, 0, ROOT, PARENT, '0'},
    /* only bit 0 of the flags decides; the other bits are not ours */
    {"00-" TID "-" PARENT "-03", 0, 0, ROOT, PARENT, '1'},
    {"00-" TID "-" PARENT "-02", 0, 0, ROOT, PARENT, '0'},
    {"00-" TID "-" PARENT "-ff", 0, 0, ROOT, PARENT, '1'},
    {"00-" TID "-" PARENT "-fe", 0, 0, ROOT, PARENT, '0'},
    {"00-" TID "-" PARENT "-09", 0, 0, ROOT, PARENT, '1'},
    /* OWS around the value */
    {"  " TP "\t ", 0, 0, ROOT, PARENT, '1'},
    /* future versions: read as 00 when they begin like it */
    {"01-" TID "-" PARENT "-01", 0, 0, ROOT, PARENT, '1'},
    {"cc-" TID "-" PARENT "-01-what-the-future-will-be-like", 0, 0, ROOT, PARENT, '1'},
    {"fe-" TID "-" PARENT "-00-", 0, 0, ROOT, PARENT, '0'},
    {"cc-" TID "-" PARENT "-01.what", 0, -EINVAL, NULL, NULL, 0},
    {"cc-" TID "-" PARENT "-01x", 0, -EINVAL, NULL, NULL, 0},
    /* version ff and non-hex versions are invalid */
    {"ff-" TID "-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"0g-" TID "-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"0A-" TID "-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    /* version 00 is exactly 55 bytes */
    {TP "-", 0, -EINVAL, NULL, NULL, 0},
    {TP "-extra", 0, -EINVAL, NULL, NULL, 0},
    {TP "x", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT "-1", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT, 0, -EINVAL, NULL, NULL, 0},
    {"", 0, -EINVAL, NULL, NULL, 0},
    {"00", 0, -EINVAL, NULL, NULL, 0},
    /* all-zero ids are invalid */
    {"00-00000000000000000000000000000000-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-0000000000000000-01", 0, -EINVAL, NULL, NULL, 0},
    /* upper-case hex is invalid (HEXDIGLC), anywhere */
    {"00-5759E988BD862E3FE1BE46A994272793-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-53995C3F42CD8AD8-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT "-0A", 0, -EINVAL, NULL, NULL, 0},
    /* wrong separators, lengths, characters */
    {"00_" TID "-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "_" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT "_01", 0, -EINVAL, NULL, NULL, 0},
    {"00-5759e988bd862e3fe1be46a99427279-" PARENT "0-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-5759e988bd862e3fe1be46a99427279g-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-53995c3f42cd8ad -01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT "-0\x01", 0, -EINVAL, NULL, NULL, 0},
    {"00-" TID "-" PARENT "-01,00-" TID "-" PARENT "-01", 0, -EINVAL, NULL, NULL, 0},
    /* an X-Ray header is not a traceparent */
    {"Root=" ROOT ";Parent=" PARENT ";Sampled=1", 0, -EINVAL, NULL, NULL, 0},
    /* len is honoured: a NUL inside, a valid value past len */
    {TP, 54, -EINVAL, NULL, NULL, 0},
    {"00-" TID "\0" PARENT "-01", 55, -EINVAL, NULL, NULL, 0},
};

static void test_traceparent_parse_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(tp_cases); i++) {
    const struct tp_case *c = &tp_cases[i];
    size_t len = c->len ? c->len : strlen(c->in);
    char *in = malloc(len ? len : 1); /* exact size: ASan sees any overread */
    struct xr_trace_header h;
    int rc;

    print_message("  case %zu: %s\n", i, c->in);
    assert_non_null(in);
    memcpy(in, c->in, len);
    memset(&h, 0x5a, sizeof(h));
    rc = xr_traceparent_parse(in, len, &h);
    free(in);
    assert_int_equal(rc, c->rc);
    if (rc == 0) {
      assert_string_equal(h.root, c->root);
      assert_string_equal(h.parent, c->parent);
      assert_int_equal(h.sampled, c->sampled);
      assert_string_equal(h.extra, "");
    } else {
      static const struct xr_trace_header zero;
      assert_memory_equal(&h, &zero, sizeof(h));
    }
  }
  {
    struct xr_trace_header h;
    assert_int_equal(xr_traceparent_parse(NULL, 55, &h), -EINVAL);
  }
}

static void test_traceparent_format(void **state)
{
  char buf[XR_TRACEPARENT_LEN + 1];
  size_t cap;
  (void)state;

  assert_int_equal(xr_traceparent_format(ROOT, PARENT, true, buf, sizeof(buf)),
                   XR_TRACEPARENT_LEN);
  assert_string_equal(buf, TP);
  assert_int_equal(xr_traceparent_format(ROOT, PARENT, false, buf, sizeof(buf)),
                   XR_TRACEPARENT_LEN);
  assert_string_equal(buf, "00-" TID "-" PARENT "-00");
  /* Too small: refused, nothing written past the end. */
  for (cap = 0; cap <= XR_TRACEPARENT_LEN; cap++) {
    char small[XR_TRACEPARENT_LEN + 8];
    memset(small, 'Z', sizeof(small));
    assert_int_equal(xr_traceparent_format(ROOT, PARENT, true, small, cap), -ENOSPC);
    assert_int_equal(small[cap], 'Z');
  }
  /* The X-Ray no-op ids have no W3C form; nor has anything malformed. */
  assert_int_equal(xr_traceparent_format("1-00000000-000000000000000000000000", PARENT, false,
                                         buf, sizeof(buf)),
                   -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT, "0000000000000000", false, buf, sizeof(buf)),
                   -EINVAL);
  /* Half-zero ids are fine (only all-zero ones are forbidden). */
  assert_int_equal(xr_traceparent_format("1-00000000-000000000000000000000001", PARENT, true,
                                         buf, sizeof(buf)),
                   XR_TRACEPARENT_LEN);
  assert_int_equal(xr_traceparent_format(ROOT_UC, PARENT, true, buf, sizeof(buf)), -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT, PARENT_UC, true, buf, sizeof(buf)), -EINVAL);
  assert_int_equal(xr_traceparent_format("1-5759e988-bd862e3fe1be46a99427279", PARENT, true, buf,
                                         sizeof(buf)),
                   -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT "0", PARENT, true, buf, sizeof(buf)), -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT, PARENT "0", true, buf, sizeof(buf)), -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT, "53995c3f42cd8ad", true, buf, sizeof(buf)),
                   -EINVAL);
  assert_int_equal(xr_traceparent_format(NULL, PARENT, true, buf, sizeof(buf)), -EINVAL);
  assert_int_equal(xr_traceparent_format(ROOT, NULL, true, buf, sizeof(buf)), -EINVAL);
}

/* format then parse gives the ids back, X-Ray to W3C and back. */
static void test_traceparent_round_trip(void **state)
{
  unsigned seed = 777;
  int round;
  (void)state;
  for (round = 0; round < 2000; round++) {
    static const char hex[] = "0123456789abcdef";
    char root[XR_TRACE_ID_LEN + 1] = "1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx", parent[XR_ID_LEN + 1];
    char buf[XR_TRACEPARENT_LEN + 1];
    struct xr_trace_header h;
    size_t i;
    for (i = 0; i < XR_TRACE_ID_LEN; i++)
      if (root[i] == 'x') {
        seed = seed * 1103515245u + 12345u;
        root[i] = hex[(seed >> 16) & 15];
      }
    for (i = 0; i < XR_ID_LEN; i++) {
      seed = seed * 1103515245u + 12345u;
      parent[i] = hex[(seed >> 16) & 15];
    }
    parent[XR_ID_LEN] = '\0';
    assert_int_equal(xr_traceparent_format(root, parent, round & 1, buf, sizeof(buf)),
                     XR_TRACEPARENT_LEN);
    assert_int_equal(xr_traceparent_parse(buf, strlen(buf), &h), 0);
    assert_string_equal(h.root, root);
    assert_string_equal(h.parent, parent);
    assert_int_equal(h.sampled, round & 1 ? '1' : '0');
  }
}

/* Hostile input: any bytes, any length, near-valid mutations of a valid
 * value; a success always yields ids that format back. */
static void test_traceparent_arbitrary_bytes(void **state)
{
  static const char alphabet[] = "0123456789abcdefABF-\x00\xff \t,";
  unsigned seed = 4242;
  int round;
  (void)state;
  for (round = 0; round < 50000; round++) {
    char in[80];
    size_t n, i;
    struct xr_trace_header h;
    char buf[XR_TRACEPARENT_LEN + 1];
    seed = seed * 1103515245u + 12345u;
    if (round % 2) {
      /* a valid value with one to three bytes changed, maybe cut or grown */
      memcpy(in, TP, XR_TRACEPARENT_LEN);
      n = XR_TRACEPARENT_LEN - 3 + (seed >> 16) % 7;
      for (i = XR_TRACEPARENT_LEN; i < n; i++)
        in[i] = '-';
      for (i = 0; i < 1 + (seed >> 20) % 3; i++) {
        seed = seed * 1103515245u + 12345u;
        in[(seed >> 16) % n] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
      }
    } else {
      n = (seed >> 16) % sizeof(in);
      for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
      }
    }
    if (xr_traceparent_parse(in, n, &h) == 0) {
      assert_true(xr_is_trace_id(h.root, strlen(h.root)));
      assert_true(xr_is_entity_id(h.parent, strlen(h.parent)));
      assert_true(h.sampled == '1' || h.sampled == '0');
      assert_int_equal(xr_traceparent_format(h.root, h.parent, h.sampled == '1', buf,
                                             sizeof(buf)),
                       XR_TRACEPARENT_LEN);
      /* The ids are the input's, and the input (OWS aside) held 55 bytes
       * or more. */
      for (i = 0; i < n && (in[i] == ' ' || in[i] == '\t'); i++)
        ;
      assert_true(n - i >= XR_TRACEPARENT_LEN);
      assert_memory_equal(buf + 3, in + i + 3, 50);
    }
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_extra_trimmed),
      cmocka_unit_test(test_control_bytes_never_formatted),
      cmocka_unit_test(test_len_honoured),
      cmocka_unit_test(test_long_extras_bounded),
      cmocka_unit_test(test_arbitrary_bytes),
      cmocka_unit_test(test_format_round_trip),
      cmocka_unit_test(test_format_too_small),
      cmocka_unit_test(test_format_max_fits),
      cmocka_unit_test(test_traceparent_parse_table),
      cmocka_unit_test(test_traceparent_format),
      cmocka_unit_test(test_traceparent_round_trip),
      cmocka_unit_test(test_traceparent_arbitrary_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
